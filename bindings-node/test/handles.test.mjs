// Store handles (src/handles.rs): a JS Store names its native store by a slot
// number that is freed and reused after the release that returns 0. A released Store must
// keep answering as a released store, and must never reach the store that reuses its slot.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { mapi, newSpooler, throwsMapi } from './helpers.mjs'

const F = mapi.LogoffFlags

function state(store) {
  return { storeId: store.storeId, refCount: store.refCount, valid: store.valid, savedMode: store.savedMode }
}

describe('store handles', () => {
  it('a released store keeps its id and saved mode and answers as released', () => {
    const spooler = newSpooler()
    const a = spooler.openStore('a')
    a.logoff(F.QUIET)
    assert.equal(a.release(), 0)
    const b = spooler.openStore('b') // reuses a's slot
    b.logoff(F.ORDERLY)
    assert.deepEqual(state(a), { storeId: 'a', refCount: 0, valid: false, savedMode: F.QUIET })
    assert.deepEqual(state(b), { storeId: 'b', refCount: 1, valid: true, savedMode: F.ORDERLY })
    spooler.close()
  })

  it('releasing, add-ref-ing or using a released store never reaches the store reusing its slot', () => {
    const spooler = newSpooler()
    const a = spooler.openStore('a')
    assert.equal(a.release(), 0)
    const b = spooler.openStore('b')
    const events = []
    spooler.subscribe((e) => events.push(e.storeId))
    assert.equal(a.release(), 0)
    assert.equal(a.release(), 0)
    assert.equal(a.addRef(), 0)
    throwsMapi(() => a.logoff(F.NO_WAIT), 'MAPI_E_INVALID_OBJECT')
    throwsMapi(() => a.logoffTransports(F.NO_WAIT), 'MAPI_E_INVALID_OBJECT')
    a.setStrict(true)
    assert.equal(a.savedMode, null)
    assert.deepEqual(state(b), { storeId: 'b', refCount: 1, valid: true, savedMode: null })
    assert.equal(spooler.stats('b').clients, 1)
    assert.equal(b.release(), 0, 'b is released exactly once, by its own release')
    assert.equal(spooler.stats('b').clients, 0)
    spooler.close()
  })

  it('releaseAsync frees the handle like release', async () => {
    const spooler = newSpooler()
    const a = spooler.openStore('a')
    a.logoff(F.NO_WAIT)
    assert.equal(a.addRef(), 2)
    assert.equal(await a.releaseAsync(), 1)
    const [x, y] = await Promise.all([a.releaseAsync(), a.releaseAsync()])
    assert.deepEqual([x, y], [0, 0])
    const b = spooler.openStore('b')
    assert.equal(await a.releaseAsync(), 0)
    assert.deepEqual(state(a), { storeId: 'a', refCount: 0, valid: false, savedMode: F.NO_WAIT })
    assert.deepEqual(state(b), { storeId: 'b', refCount: 1, valid: true, savedMode: null })
    assert.equal(b.release(), 0)
    spooler.close()
  })

  it('many stores open and released in turn each keep their own count', () => {
    const spooler = newSpooler()
    const open = Array.from({ length: 50 }, (_, i) => spooler.openStore(`s${i}`))
    for (let i = 0; i < 50; i += 2) assert.equal(open[i].release(), 0)
    const again = Array.from({ length: 25 }, (_, i) => spooler.openStore(`t${i}`))
    for (let i = 0; i < 50; i++) assert.equal(open[i].refCount, i % 2 ? 1 : 0, `s${i}`)
    for (const s of [...open, ...again]) s.release()
    for (let i = 0; i < 50; i++) assert.equal(spooler.stats(`s${i}`).clients, 0)
    for (let i = 0; i < 25; i++) assert.equal(spooler.stats(`t${i}`).clients, 0)
    spooler.close()
  })
})
