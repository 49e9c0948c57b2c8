// The store cycle's calls pass their arguments through a buffer shared with the native
// module (src/lib.rs, "The store cycle through a shared buffer") when the store id is
// short ASCII, and as arguments otherwise: both paths must behave the same.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { mapi, newSpooler } from './helpers.mjs'

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
})
