// Fault injection through the Node binding, beyond async.test.mjs: a flush that never
// finishes (MAPI_E_TIMEOUT at the deadline, the store released once its transfers end),
// throwing transports and subscribers under load (nothing lost, every store released), and a
// process killed with SIGKILL while it holds stores open in a shared profile.
// docs/reliability.md lists every fault test per language.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, describe, test } from 'node:test'

import {
  PACKAGE_DIR,
  mapi,
  newSpooler,
  recordEvents,
  recordWarnings,
  rejectsMapi,
  runtimeDir,
  subscribe,
  turns,
  unsubscribeAll,
} from './helpers.mjs'

const { LogoffFlags: F, MapiError, Spooler } = mapi
const OPTS = { timeout: 120_000 }

after(unsubscribeAll)

function accounted(stats) {
  assert.equal(stats.submitted, stats.queued + stats.sending + stats.sent, 'no message dropped')
  assert.equal(stats.receptions, stats.receiving + stats.received, 'no reception dropped')
}

/** Turns the event loop until `done()` holds; the bound only turns a hang into a failure. */
async function until(done, what) {
  for (let i = 0; i < 100_000 && !done(); i++) await turns(1)
  assert.ok(done(), what)
}

describe('faults', OPTS, () => {
  test('a flush that never finishes: MAPI_E_TIMEOUT at the deadline, released once drained', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 50 })
    const rec = recordEvents(spooler)
    let calls = 0
    spooler.addTransport(() => {
      calls += 1
      return new Promise(() => {}) // never settles
    })
    const store = spooler.openStore('box')
    spooler.submit('box')
    spooler.beginSend('box')
    spooler.beginReceive('box')
    const err = await rejectsMapi(store.logoffTransportsAsync(F.PURGE), 'MAPI_E_TIMEOUT')
    assert.equal(err.outFlags, F.COMPLETE | F.OUTBOUND | F.INBOUND)
    await until(() => calls === 1, 'the transport was called') // it may be called late
    let stats = spooler.stats('box')
    assert.equal(stats.released, false)
    assert.equal(stats.pending, F.NO_WAIT, 'the logoff goes on as NO_WAIT')
    assert.equal(stats.allowed, F.OUTBOUND)
    // The transfers end while the flush still has not: the store is released.
    spooler.endReceive('box')
    assert.equal(spooler.stats('box').released, false, 'a send is still in flight')
    spooler.endSend('box')
    stats = spooler.stats('box')
    assert.equal(stats.released, true)
    assert.equal(stats.clients, 0)
    assert.equal(stats.pending, null)
    accounted(stats)
    assert.deepEqual([stats.sent, stats.received], [1, 1])
    await rec.next((e) => e.kind === 'released')
    await rec.next((e) => e.kind === 'timed_out')
    assert.equal(store.valid, false, 'the timed-out COMPLETE invalidated the handle')
    assert.equal(store.release(), 0)
    spooler.close()
  })

  test('throwing callbacks under load lose nothing and release every store', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler({ purgeDeadlineMs: 1, closeDeadlineMs: 0 })
    const rec = recordEvents(spooler)
    subscribe(spooler, () => {
      throw new Error('observer bug')
    })
    spooler.addTransport(() => {
      throw new Error('transport bug')
    })
    spooler.addTransport(() => {
      throw new MapiError('MAPI_E_NO_SUPPORT')
    })
    spooler.addTransport((storeId) => {
      spooler.stats(storeId) // re-enters
    })
    const ids = ['s0', 's1', 's2', 's3', 's4', 's5']
    const opens = Object.fromEntries(ids.map((id) => [id, 0]))
    const modes = [F.NO_WAIT, F.ORDERLY, F.PURGE, F.ABORT, F.QUIET]
    const expected = new Set(['MAPI_E_NO_ACCESS', 'MAPI_E_NOT_FOUND', 'MAPI_E_INVALID_OBJECT', 'MAPI_E_TIMEOUT'])
    let seed = 0x2545f491
    const next = (n) => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const tolerate = async (fn) => {
      try {
        await fn()
      } catch (err) {
        if (!(err instanceof MapiError) || !expected.has(err.code)) throw err
      }
    }
    const held = []
    for (let i = 0; i < 3000; i++) {
      const id = ids[next(ids.length)]
      const pick = next(20)
      await tolerate(async () => {
        if (pick < 2) {
          held.push(spooler.openStore(id))
          opens[id] += 1
        } else if (pick < 4 && held.length) {
          const store = held.splice(next(held.length), 1)[0]
          store.logoff(modes[next(5)])
          assert.equal(await store.releaseAsync(), 0)
        } else if (pick < 5 && held.length) {
          await held[next(held.length)].logoffTransportsAsync(modes[next(5)])
        } else if (pick < 9) spooler.submit(id)
        else if (pick < 12) spooler.beginSend(id)
        else if (pick < 15) spooler.endSend(id, next(8) !== 0)
        else if (pick < 17) spooler.beginReceive(id)
        else spooler.endReceive(id)
      })
    }
    for (const store of held) assert.equal(await store.releaseAsync(), 0)
    // Drain: end every transfer, then send what the pending logoffs wait for.
    for (const id of ids) {
      const s = spooler.stats(id)
      for (let n = 0; n < s.sending; n++) spooler.endSend(id)
      for (let n = 0; n < s.receiving; n++) spooler.endReceive(id)
      while (spooler.stats(id).pending !== null) {
        spooler.beginSend(id)
        spooler.endSend(id)
      }
    }
    for (const id of ids) {
      const s = spooler.stats(id)
      accounted(s)
      assert.deepEqual([s.clients, s.pending, s.sending, s.receiving], [0, null, 0, 0], id)
      await until(
        () => rec.kinds(id).filter((k) => k === 'released').length === opens[id],
        `${id}: one released event per open (${opens[id]})`,
      )
    }
    assert.ok(rec.kinds().includes('flush_failed'), 'the failing transports ran')
    await until(() => warnings.some((w) => /observer bug/.test(w.message)), 'the observer threw')
    spooler.close()
  })

  test('a store held by a process killed with SIGKILL is no longer shared', async () => {
    const dir = runtimeDir()
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(PACKAGE_DIR)})
         const spooler = new m.Spooler('profile', { runtimeDir: ${JSON.stringify(dir)} })
         globalThis.held = [spooler.openStore('box'), spooler.openStore('other')]
         console.log('open')
         setInterval(() => {}, 1 << 30)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      const [line] = await once(child.stdout, 'data')
      assert.equal(String(line).trim(), 'open')
      const spooler = new Spooler('profile', { runtimeDir: dir, closeDeadlineMs: 0 })
      let store = spooler.openStore('box')
      spooler.beginReceive('box')
      // Shared with the live child: QUIET logs off this client despite the activity.
      assert.equal(store.logoffTransports(F.QUIET), F.COMPLETE)
      const exited = once(child, 'exit')
      child.kill('SIGKILL')
      const [, signal] = await exited
      assert.equal(signal, 'SIGKILL')
      // Alone now: QUIET is refused with the activity, the handle stays valid.
      store = spooler.openStore('box')
      assert.equal(store.logoffTransports(F.QUIET), F.INBOUND)
      assert.equal(store.valid, true)
      spooler.endReceive('box')
      assert.equal(store.release(), 0)
      assert.equal(spooler.stats('box').released, true)
      // Its other store is not shared either: ABORT of an idle store releases it at once.
      const other = spooler.openStore('other')
      assert.equal(other.logoffTransports(F.ABORT), F.COMPLETE)
      assert.equal(spooler.stats('other').released, true)
      spooler.close()
    } finally {
      child.kill('SIGKILL')
    }
  })
})
