// The store cycle's calls pass their arguments through a buffer shared with the native
// module (src/cycle.rs, "The store cycle through a shared buffer") when the store id is
// short ASCII, and as arguments otherwise: both paths must behave the same.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Worker } from 'node:worker_threads'

import { PACKAGE_DIR, mapi, newSpooler, require, turns } from './helpers.mjs'

const { NO_WAIT, ORDERLY } = mapi.LogoffFlags

describe('store calls through the shared buffer', () => {
  test('ids on either path open the same store', () => {
    const sp = newSpooler()
    const ids = ['inbox', 'a\u0000b', 'caf\u00e9', '\u{1F4EC}', 'x'.repeat(1023), 'x'.repeat(1024), 'y'.repeat(5000)]
    for (const id of ids) {
      const a = sp.openStore(id)
      const b = sp.openStore(id)
      assert.equal(a.storeId, id)
      assert.equal(a.refCount, 1)
      assert.equal(sp.stats(id).clients, 2, JSON.stringify(id.slice(0, 8)))
      assert.equal(a.logoff(ORDERLY) & 0x1f, ORDERLY)
      assert.equal(a.release(), 0)
      assert.equal(a.savedMode, ORDERLY)
      assert.equal(b.release(), 0)
      assert.equal(sp.stats(id).clients, 0)
    }
    assert.deepEqual(sp.storeIds(), [...ids].sort())
    // The empty id is the protocol's invalid id on the buffer path too.
    assert.throws(() => sp.openStore(''), (e) => e instanceof mapi.MapiError && e.code === 'MAPI_E_INVALID_PARAMETER')
  })

  test('each call reads its own arguments, also with many stores open', () => {
    const sp = newSpooler()
    const stores = Array.from({ length: 50 }, (_, i) => sp.openStore(`s${i}`))
    stores.forEach((s, i) => assert.equal(s.logoff(i % 2 ? NO_WAIT : ORDERLY) & 0x1f, i % 2 ? NO_WAIT : ORDERLY))
    for (const [i, s] of stores.entries()) {
      assert.equal(s.storeId, `s${i}`)
      assert.equal(sp.stats(`s${i}`).clients, 1)
      assert.equal(s.release(), 0)
      assert.equal(s.savedMode, i % 2 ? NO_WAIT : ORDERLY)
      assert.equal(sp.stats(`s${i}`).clients, 0)
    }
  })

  test('a stale handle and a bad flag fail as before', () => {
    const sp = newSpooler()
    const s = sp.openStore('inbox')
    assert.throws(() => s.logoff(0x100), (e) => e instanceof mapi.MapiError && e.code === 'MAPI_E_UNKNOWN_FLAGS')
    assert.throws(() => s.logoff('1'), TypeError)
    assert.equal(s.release(), 0)
    assert.equal(s.release(), 0)
    assert.throws(() => s.logoff(NO_WAIT), mapi.MapiError)
    // A new store in the freed slot is not reached through the stale one.
    const t = sp.openStore('inbox')
    assert.equal(t.refCount, 1)
    assert.equal(s.release(), 0)
    assert.equal(t.refCount, 1)
    assert.equal(t.release(), 0)
  })

  test('the last accepted logoff decides how the release runs', async () => {
    // A release after NO_WAIT, ORDERLY or QUIET runs at once; one after PURGE, or after no
    // logoff (ABORT), goes the general way, which may wait and call transports.
    const { PURGE, QUIET } = mapi.LogoffFlags
    const sp = newSpooler()
    const flushed = []
    sp.addTransport({ flushQueues: (id) => flushed.push(id) })
    const a = sp.openStore('a')
    assert.equal(a.logoff(NO_WAIT) & 0x1f, NO_WAIT)
    assert.equal(a.logoff(PURGE) & 0x1f, PURGE)
    assert.throws(() => a.logoff(0x100), (e) => e instanceof mapi.MapiError && e.code === 'MAPI_E_UNKNOWN_FLAGS')
    assert.equal(a.release(), 0)
    assert.equal(a.savedMode, PURGE)
    const b = sp.openStore('b')
    assert.equal(b.logoff(PURGE) & 0x1f, PURGE)
    assert.equal(b.logoff(QUIET) & 0x1f, QUIET)
    assert.equal(b.addRef(), 2)
    assert.equal(b.release(), 1)
    assert.equal(b.release(), 0)
    assert.equal(b.savedMode, QUIET)
    assert.equal(b.release(), 0)
    const c = sp.openStore('c')
    assert.equal(c.release(), 0)
    assert.equal(c.savedMode, null)
    assert.equal(sp.stats('a').released && sp.stats('b').released && sp.stats('c').released, true)
    // A synchronous release posts the flush to the event loop: it runs after the call.
    await turns(5)
    assert.deepEqual(flushed, ['a'], 'PURGE flushed the transports; QUIET and ABORT did not')
  })

  test('two loads of the package on one thread each use their own buffer', () => {
    // A second load (as test runners with module registries do) is a second napi
    // environment on this thread, with its own buffer: calls must find the right one.
    const saved = Object.keys(require.cache).filter((k) => k.startsWith(PACKAGE_DIR))
    const cached = saved.map((k) => [k, require.cache[k]])
    for (const k of saved) delete require.cache[k]
    let other
    try {
      other = require(PACKAGE_DIR)
    } finally {
      for (const [k, v] of cached) require.cache[k] = v
    }
    assert.notEqual(other.Spooler, mapi.Spooler)
    const a = newSpooler()
    const b = new other.Spooler(`node-test-${process.pid}-other`, { crossProcess: false })
    for (let i = 0; i < 200; i++) {
      const x = a.openStore(`x${i}`)
      const y = b.openStore(`y${i}`)
      assert.equal(x.logoff(ORDERLY) & 0x1f, ORDERLY)
      assert.equal(y.logoff(NO_WAIT) & 0x1f, NO_WAIT)
      assert.equal(a.stats(`x${i}`).clients, 1)
      assert.equal(b.stats(`y${i}`).clients, 1)
      assert.equal(y.release(), 0)
      assert.equal(x.release(), 0)
      assert.equal(x.savedMode, ORDERLY)
      assert.equal(y.savedMode, NO_WAIT)
      assert.equal(a.stats(`x${i}`).released, true)
      assert.equal(b.stats(`y${i}`).released, true)
    }
    // Each spooler served only its own stores (released idle stores are forgotten after a
    // while, so not all 200 are still listed).
    assert.ok(a.storeIds().length > 0 && a.storeIds().every((id) => id.startsWith('x')))
    assert.ok(b.storeIds().length > 0 && b.storeIds().every((id) => id.startsWith('y')))
  })

  test('a worker thread has its own buffer', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads')
      const mapi = require(${JSON.stringify(PACKAGE_DIR)})
      const sp = new mapi.Spooler('node-test-worker-' + process.pid, { crossProcess: false })
      let ok = 0
      for (let i = 0; i < 2000; i++) {
        const s = sp.openStore('w' + (i % 7))
        if ((s.logoff(mapi.LogoffFlags.ORDERLY) & 0x1f) === mapi.LogoffFlags.ORDERLY && s.release() === 0) ok++
      }
      parentPort.postMessage(ok)
    `
    const worker = new Worker(code, { eval: true })
    const done = new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    const sp = newSpooler()
    let ok = 0
    for (let i = 0; i < 2000; i++) {
      const s = sp.openStore(`m${i % 5}`)
      if ((s.logoff(NO_WAIT) & 0x1f) === NO_WAIT && s.release() === 0) ok++
    }
    assert.equal(ok, 2000)
    assert.equal(await done, 2000)
    assert.deepEqual(sp.storeIds(), ['m0', 'm1', 'm2', 'm3', 'm4'])
  })
})
