// Every SPEC rule (§3 validation, §4 the modes carried out, §5 the Store, §6 the
// Spooler) through Spooler and Store.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import {
  mapi,
  newSpooler,
  recordEvents,
  rejectsMapi,
  runtimeDir,
  subscribe,
  throwsMapi,
  turns,
  unsubscribeAll,
} from './helpers.mjs'

const { LogoffFlags: F, FlushFlags, Release } = mapi
const ALL_GATES = F.INBOUND | F.OUTBOUND | F.OUTBOUND_QUEUE
const OPTS = { timeout: 60_000 }

after(unsubscribeAll)

/** A spooler with one open store `s` and its event recorder. */
function setup(options) {
  const spooler = newSpooler(options)
  const rec = recordEvents(spooler)
  const store = spooler.openStore('s')
  return { spooler, store, rec }
}

function accounted(stats) {
  assert.equal(stats.submitted, stats.queued + stats.sending + stats.sent, 'no message dropped')
  assert.equal(stats.receptions, stats.receiving + stats.received, 'no reception dropped')
}

describe('SPEC §3: validating the flags', OPTS, () => {
  test('output bits on input are ignored', () => {
    const { store } = setup()
    assert.equal(store.logoff(F.ORDERLY | F.COMPLETE | F.INBOUND | F.OUTBOUND_QUEUE), F.ORDERLY)
    assert.equal(store.savedMode, F.ORDERLY)
    assert.equal(store.logoffTransports(F.QUIET | F.COMPLETE), F.COMPLETE)
  })

  test('any other bit outside 0x1F is MAPI_E_UNKNOWN_FLAGS, strict or lenient', () => {
    const { store } = setup()
    throwsMapi(() => store.logoff(F.ORDERLY | 0x20), 'MAPI_E_UNKNOWN_FLAGS')
    throwsMapi(() => store.logoff(F.ORDERLY | 0x80000000), 'MAPI_E_UNKNOWN_FLAGS') // negative int32
    throwsMapi(() => store.logoff((F.ORDERLY | 0x80000000) >>> 0), 'MAPI_E_UNKNOWN_FLAGS')
    store.setStrict(true)
    throwsMapi(() => store.logoff(0x100), 'MAPI_E_UNKNOWN_FLAGS')
    throwsMapi(() => store.logoffTransports(F.QUIET | 0x100), 'MAPI_E_UNKNOWN_FLAGS')
    assert.equal(store.savedMode, null)
  })

  test('strict: no input flag, or several, is MAPI_E_INVALID_PARAMETER', () => {
    const { store } = setup({ strict: true })
    assert.equal(store.strict, true)
    throwsMapi(() => store.logoff(0), 'MAPI_E_INVALID_PARAMETER')
    throwsMapi(() => store.logoff(F.ORDERLY | F.PURGE), 'MAPI_E_INVALID_PARAMETER')
    throwsMapi(() => store.logoff(F.COMPLETE), 'MAPI_E_INVALID_PARAMETER')
    throwsMapi(() => store.logoffTransports(0), 'MAPI_E_INVALID_PARAMETER')
    throwsMapi(() => store.logoffTransports(F.QUIET | F.ABORT), 'MAPI_E_INVALID_PARAMETER')
  })

  test('lenient by default: none means ABORT, several the most cautious', () => {
    const { store } = setup()
    assert.equal(store.strict, false)
    assert.equal(store.logoff(0), F.ABORT)
    assert.equal(store.savedMode, F.ABORT)
    const cases = [
      [F.NO_WAIT | F.ORDERLY | F.PURGE, F.ORDERLY],
      [F.QUIET | F.ABORT, F.QUIET],
      [F.ABORT | F.ORDERLY, F.ABORT],
      [F.NO_WAIT | F.PURGE, F.NO_WAIT],
      [F.PURGE | F.COMPLETE, F.PURGE],
    ]
    for (const [flags, mode] of cases) {
      store.logoff(flags)
      assert.equal(store.savedMode, mode, `flags 0x${flags.toString(16)}`)
    }
  })

  test('lenient by default applies to StoreLogoffTransports', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    // No flag is ABORT: queued only, so it logs off and reports the queue.
    assert.equal(store.logoffTransports(0), F.COMPLETE | F.OUTBOUND_QUEUE)
    assert.equal(spooler.stats('s').released, true)
  })

  test('strict per store (setStrict), and back to lenient', () => {
    const { store } = setup()
    store.setStrict(true)
    throwsMapi(() => store.logoff(0), 'MAPI_E_INVALID_PARAMETER')
    assert.equal(store.savedMode, null)
    store.setStrict(false)
    store.logoff(0)
    assert.equal(store.savedMode, F.ABORT)
  })

  test('one variable reused across stores (MFCMAPI) logs every store off NO_WAIT', () => {
    const spooler = newSpooler()
    const stores = ['a', 'b', 'c'].map((id) => spooler.openStore(id))
    spooler.submit('b')
    let flags = F.NO_WAIT
    for (const store of stores) {
      flags = store.logoff(flags)
      assert.equal(store.savedMode, F.NO_WAIT)
      store.release()
    }
    spooler.beginSend('b')
    spooler.endSend('b')
    const stats = spooler.stats('b')
    assert.equal(stats.sent, 1, 'the queued message was sent')
    assert.equal(stats.released, true)
    spooler.close()
  })

  test('a rejected call changes nothing', async () => {
    const { spooler, store, rec } = setup({ strict: true })
    spooler.submit('s')
    spooler.beginReceive('s')
    store.logoff(F.QUIET)
    const before = spooler.stats('s')
    for (const flags of [0, F.ORDERLY | F.NO_WAIT, 0x40, 0xffffffff]) {
      assert.throws(() => store.logoff(flags), mapi.MapiError)
      assert.throws(() => store.logoffTransports(flags), mapi.MapiError)
      await assert.rejects(store.logoffTransportsAsync(flags), mapi.MapiError)
    }
    assert.equal(store.savedMode, F.QUIET)
    assert.equal(store.valid, true)
    assert.equal(store.refCount, 1)
    assert.deepEqual(spooler.stats('s'), before)
    // A decided call afterwards is the first event: the rejected ones made none.
    store.logoffTransports(F.QUIET)
    const first = await rec.next(() => true)
    assert.equal(first.kind, 'refused')
  })
})

describe('SPEC §4: the modes carried out', OPTS, () => {
  test('QUIET logs off an idle store', async () => {
    const { spooler, store, rec } = setup()
    assert.equal(store.logoffTransports(F.QUIET), F.COMPLETE)
    const stats = spooler.stats('s')
    assert.equal(stats.released, true)
    assert.equal(stats.allowed, 0)
    assert.equal(store.valid, false)
    const decided = await rec.next((e) => e.kind === 'decided')
    assert.deepEqual(decided.decision, mapi.decide(F.QUIET))
    assert.equal(decided.mode, F.QUIET)
    await rec.next((e) => e.kind === 'released')
  })

  test('QUIET on a busy store changes nothing and reports what is busy', async () => {
    const { spooler, store, rec } = setup()
    spooler.submit('s')
    const before = spooler.stats('s')
    assert.equal(store.logoffTransports(F.QUIET), F.OUTBOUND_QUEUE)
    assert.deepEqual(spooler.stats('s'), before)
    assert.equal(before.allowed, ALL_GATES)
    assert.equal(store.valid, true)
    const refused = await rec.next((e) => e.kind === 'refused')
    assert.equal(refused.decision.release, Release.REFUSED)
    assert.equal(refused.outFlags, F.OUTBOUND_QUEUE)
  })

  test('ABORT stops queued work, keeps the queue, and logs off', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    spooler.submit('s')
    assert.equal(store.logoffTransports(F.ABORT), F.COMPLETE | F.OUTBOUND_QUEUE)
    const stats = spooler.stats('s')
    assert.equal(stats.released, true)
    assert.equal(stats.queued, 2, 'queued messages stay in the outbox')
    throwsMapi(() => spooler.beginSend('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.submit('s'), 'MAPI_E_NO_ACCESS')
    accounted(spooler.stats('s'))
  })

  test('ABORT with a transfer in flight is refused', () => {
    const { spooler, store } = setup()
    spooler.beginReceive('s')
    spooler.submit('s')
    const before = spooler.stats('s')
    assert.equal(store.logoffTransports(F.ABORT), F.INBOUND | F.OUTBOUND_QUEUE)
    assert.deepEqual(spooler.stats('s'), before)
    assert.equal(store.valid, true)
  })

  test('ORDERLY lets in-flight transfers finish, starts nothing, releases when drained', async () => {
    const { spooler, store, rec } = setup()
    spooler.submit('s')
    spooler.submit('s')
    spooler.beginSend('s')
    assert.equal(store.logoffTransports(F.ORDERLY), F.COMPLETE | F.OUTBOUND | F.OUTBOUND_QUEUE)
    let stats = spooler.stats('s')
    assert.equal(stats.released, false)
    assert.equal(stats.pending, F.ORDERLY)
    assert.equal(stats.allowed, 0)
    throwsMapi(() => spooler.beginSend('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.submit('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.beginReceive('s'), 'MAPI_E_NO_ACCESS')
    spooler.endSend('s')
    stats = spooler.stats('s')
    assert.equal(stats.released, true)
    assert.equal(stats.queued, 1, 'queued messages stay queued')
    assert.equal(stats.sent, 1)
    accounted(stats)
    const released = await rec.next((e) => e.kind === 'released')
    assert.equal(released.detail, 'drained')
  })

  test('ORDERLY with only a queue releases now', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    assert.equal(store.logoffTransports(F.ORDERLY), F.COMPLETE | F.OUTBOUND_QUEUE)
    assert.equal(spooler.stats('s').released, true)
  })

  test('NO_WAIT sends what is queued, finishes receptions, then releases', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    spooler.submit('s')
    spooler.beginReceive('s')
    assert.equal(store.logoffTransports(F.NO_WAIT), F.COMPLETE | F.INBOUND | F.OUTBOUND_QUEUE)
    assert.equal(spooler.stats('s').allowed, F.OUTBOUND)
    throwsMapi(() => spooler.submit('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.beginReceive('s'), 'MAPI_E_NO_ACCESS')
    spooler.beginSend('s')
    spooler.endReceive('s')
    spooler.endSend('s', false) // not sent: back in the queue
    assert.equal(spooler.stats('s').queued, 2)
    spooler.beginSend('s')
    spooler.endSend('s')
    spooler.beginSend('s')
    assert.equal(spooler.stats('s').released, false)
    spooler.endSend('s')
    const stats = spooler.stats('s')
    assert.equal(stats.released, true)
    assert.equal(stats.sent, 2)
    assert.equal(stats.received, 1)
    accounted(stats)
  })

  test('NO_WAIT on an idle store releases now', () => {
    const { spooler, store } = setup()
    assert.equal(store.logoffTransports(F.NO_WAIT), F.COMPLETE)
    assert.equal(spooler.stats('s').released, true)
  })

  test('PURGE flushes every transport with FLUSH_UPLOAD | FLUSH_NO_UI', async () => {
    const flags = FlushFlags.UPLOAD | FlushFlags.NO_UI
    for (const form of ['async', 'sync']) {
      const { spooler, store } = setup()
      const calls = []
      spooler.addTransport({ flushQueues: (id, f) => calls.push(['a', id, f]) })
      spooler.addTransport((id, f) => calls.push(['b', id, f]))
      if (form === 'async') {
        assert.equal(await store.logoffTransportsAsync(F.PURGE), F.COMPLETE)
      } else {
        assert.equal(store.logoffTransports(F.PURGE), F.COMPLETE)
        // A synchronous call holds the JS thread: the transports run once it returns.
        while (calls.length < 2) await turns(1)
      }
      assert.deepEqual(calls, [
        ['a', 's', flags],
        ['b', 's', flags],
      ], form)
      assert.equal(spooler.stats('s').released, true)
    }
  })

  test('no other mode flushes', async () => {
    for (const mode of [F.NO_WAIT, F.ORDERLY, F.ABORT, F.QUIET]) {
      const { spooler, store } = setup()
      let calls = 0
      spooler.addTransport(() => {
        calls += 1
      })
      spooler.submit('s')
      await store.logoffTransportsAsync(mode)
      spooler.openStore('t').logoffTransports(mode)
      await turns(3)
      assert.equal(calls, 0, `mode 0x${mode.toString(16)}`)
    }
  })

  test('PURGE waits until the store is released', async () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    spooler.beginSend('s')
    spooler.addTransport({
      flushQueues(id) {
        // Later, on the event loop: the wait must not block it.
        setImmediate(() => {
          spooler.endSend(id)
          spooler.beginSend(id)
          spooler.endSend(id)
        })
      },
    })
    spooler.submit('s')
    const out = await store.logoffTransportsAsync(F.PURGE)
    assert.equal(out, F.COMPLETE | F.OUTBOUND | F.OUTBOUND_QUEUE)
    const stats = spooler.stats('s')
    assert.equal(stats.released, true, 'released before the Promise resolved')
    assert.equal(stats.sent, 2)
    assert.equal(stats.queued, 0)
  })

  test('PURGE past its deadline: MAPI_E_TIMEOUT with outFlags, then goes on as NO_WAIT', async () => {
    const { spooler, store, rec } = setup({ purgeDeadlineMs: 50 })
    spooler.submit('s')
    spooler.submit('s')
    spooler.beginSend('s')
    const err = await rejectsMapi(store.logoffTransportsAsync(F.PURGE), 'MAPI_E_TIMEOUT')
    assert.equal(err.outFlags, F.COMPLETE | F.OUTBOUND | F.OUTBOUND_QUEUE)
    let stats = spooler.stats('s')
    assert.equal(stats.pending, F.NO_WAIT)
    assert.equal(stats.allowed, F.OUTBOUND)
    await rec.next((e) => e.kind === 'timed_out')
    spooler.endSend('s')
    spooler.beginSend('s')
    spooler.endSend('s')
    stats = spooler.stats('s')
    assert.equal(stats.released, true)
    accounted(stats)
  })

  test('a synchronous PURGE times out the same way', () => {
    const { spooler, store } = setup({ purgeDeadlineMs: 20 })
    spooler.beginReceive('s')
    const err = throwsMapi(() => store.logoffTransports(F.PURGE), 'MAPI_E_TIMEOUT')
    assert.equal(err.outFlags, F.COMPLETE | F.INBOUND)
    assert.equal(spooler.stats('s').pending, F.NO_WAIT)
  })

  test('shared: only this client logs off, the others keep the store as it is', async () => {
    const { spooler, store, rec } = setup()
    const other = spooler.openStore('s')
    spooler.submit('s')
    spooler.beginReceive('s')
    assert.equal(store.logoffTransports(F.QUIET), F.COMPLETE)
    const stats = spooler.stats('s')
    assert.equal(stats.clients, 1)
    assert.equal(stats.allowed, ALL_GATES)
    assert.equal(stats.released, false)
    assert.equal(store.valid, false)
    assert.equal(other.valid, true)
    spooler.submit('s')
    const decided = await rec.next((e) => e.kind === 'decided')
    assert.deepEqual(decided.decision, mapi.decide(F.QUIET, F.INBOUND | F.OUTBOUND_QUEUE, { shared: true }))
    // The last client is no longer shared.
    assert.equal(other.logoffTransports(F.QUIET), F.INBOUND | F.OUTBOUND_QUEUE)
  })

  test('shared across spoolers of one profile through the machine registry', () => {
    const dir = runtimeDir()
    const profile = `node-shared-${process.pid}`
    const a = new mapi.Spooler(profile, { runtimeDir: dir })
    const b = new mapi.Spooler(profile, { runtimeDir: dir })
    const storeA = a.openStore('inbox')
    const storeB = b.openStore('inbox')
    a.beginReceive('inbox')
    assert.equal(storeA.logoffTransports(F.ABORT), F.COMPLETE, 'b holds it too: shared')
    assert.equal(storeB.logoffTransports(F.QUIET), F.COMPLETE, 'b is alone and idle')
    const c = new mapi.Spooler(`${profile}-other`, { runtimeDir: dir })
    const storeC = c.openStore('inbox')
    c.beginReceive('inbox')
    assert.equal(storeC.logoffTransports(F.ABORT), F.INBOUND, 'another profile does not share')
    for (const s of [a, b, c]) s.close()
  })
})

describe('SPEC §5: the Store', OPTS, () => {
  test('open gives count 1; addRef and release count', () => {
    const { spooler, store } = setup()
    assert.equal(store.refCount, 1)
    assert.equal(store.storeId, 's')
    assert.equal(store.addRef(), 2)
    assert.equal(store.addRef(), 3)
    assert.equal(store.release(), 2)
    assert.equal(store.release(), 1)
    assert.equal(spooler.stats('s').released, false)
    assert.equal(store.release(), 0)
    assert.equal(spooler.stats('s').released, true)
    assert.equal(store.release(), 0, 'releasing a released handle does nothing')
    assert.equal(store.addRef(), 0, 'no add_ref after the final release')
    throwsMapi(() => store.logoff(F.QUIET), 'MAPI_E_INVALID_OBJECT')
  })

  test('logoff saves the mode, reports the activity and performs no logoff', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    spooler.beginReceive('s')
    assert.equal(store.logoff(F.QUIET), F.QUIET | F.INBOUND | F.OUTBOUND_QUEUE)
    assert.equal(store.logoff(F.NO_WAIT), F.NO_WAIT | F.INBOUND | F.OUTBOUND_QUEUE)
    assert.equal(store.savedMode, F.NO_WAIT, 'a later call overwrites the mode')
    const stats = spooler.stats('s')
    assert.equal(stats.released, false)
    assert.equal(stats.pending, null)
    assert.equal(stats.allowed, ALL_GATES)
  })

  test('the final release logs off with the saved mode', async () => {
    const { spooler, store, rec } = setup()
    spooler.submit('s')
    store.logoff(F.NO_WAIT)
    store.addRef()
    store.release()
    assert.equal(spooler.stats('s').pending, null)
    assert.equal(store.release(), 0)
    assert.equal(spooler.stats('s').pending, F.NO_WAIT)
    assert.equal(spooler.stats('s').allowed, F.OUTBOUND)
    spooler.beginSend('s')
    spooler.endSend('s')
    assert.equal(spooler.stats('s').released, true)
    const decided = await rec.next((e) => e.kind === 'decided')
    assert.equal(decided.mode, F.NO_WAIT)
  })

  test('without logoff the final release uses ABORT', async () => {
    const { spooler, store, rec } = setup()
    spooler.submit('s')
    store.release()
    const decided = await rec.next((e) => e.kind === 'decided')
    assert.equal(decided.mode, F.ABORT)
    assert.equal(decided.outFlags, F.COMPLETE | F.OUTBOUND_QUEUE)
    assert.equal(spooler.stats('s').queued, 1)
  })

  test('logoffTransports answering COMPLETE invalidates the handle', async () => {
    const { spooler, store, rec } = setup()
    assert.equal(store.logoffTransports(F.ORDERLY), F.COMPLETE)
    assert.equal(store.valid, false)
    throwsMapi(() => store.logoff(F.QUIET), 'MAPI_E_INVALID_OBJECT')
    throwsMapi(() => store.logoffTransports(F.QUIET), 'MAPI_E_INVALID_OBJECT')
    await rejectsMapi(store.logoffTransportsAsync(F.QUIET), 'MAPI_E_INVALID_OBJECT')
    assert.equal(store.addRef(), 2)
    assert.equal(store.release(), 1)
    assert.equal(store.release(), 0)
    spooler.submit('other') // an event after everything of 's'
    const other = spooler.openStore('other')
    other.logoffTransports(F.ABORT)
    await rec.next((e) => e.storeId === 'other' && e.kind === 'released')
    assert.deepEqual(rec.kinds('s'), ['decided', 'released'], 'the final release called nothing')
  })

  test('a refused logoffTransports leaves the handle valid', () => {
    const { spooler, store } = setup()
    spooler.beginReceive('s')
    assert.equal(store.logoffTransports(F.QUIET), F.INBOUND)
    assert.equal(store.valid, true)
    spooler.endReceive('s')
    assert.equal(store.logoffTransports(F.QUIET), F.COMPLETE)
  })

  test('a refused final release leaks nothing: released once idle, with an event', async () => {
    const { spooler, store, rec } = setup()
    spooler.beginReceive('s')
    store.logoff(F.ABORT)
    assert.equal(store.release(), 0)
    await rec.next((e) => e.kind === 'release_deferred')
    let stats = spooler.stats('s')
    assert.equal(stats.released, false)
    assert.equal(stats.allowed, ALL_GATES, 'the spooler keeps serving the store unchanged')
    spooler.endReceive('s')
    stats = spooler.stats('s')
    assert.equal(stats.released, true)
    await rec.next((e) => e.kind === 'released')
  })

  test('exactly one StoreLogoffTransports under concurrent releases', async () => {
    const { spooler, store, rec } = setup()
    const n = 40
    for (let i = 0; i < n; i++) store.addRef()
    const counts = await Promise.all(Array.from({ length: n + 1 }, () => store.releaseAsync()))
    assert.deepEqual(
      [...counts].sort((a, b) => a - b),
      Array.from({ length: n + 1 }, (_, i) => i),
    )
    assert.equal(await store.releaseAsync(), 0)
    await rec.next((e) => e.kind === 'released')
    spooler.openStore('later').logoffTransports(F.QUIET)
    await rec.next((e) => e.storeId === 'later' && e.kind === 'released')
    assert.equal(rec.kinds('s').filter((k) => k === 'decided').length, 1)
  })
})

describe('SPEC §6: the Spooler', OPTS, () => {
  test('store ids are non-empty valid text', () => {
    const spooler = newSpooler()
    for (const id of ['', '\uD800', 'a\uDC00b']) {
      throwsMapi(() => spooler.openStore(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.submit(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.beginSend(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.endSend(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.beginReceive(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.endReceive(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.activity(id), 'MAPI_E_INVALID_PARAMETER')
      throwsMapi(() => spooler.stats(id), 'MAPI_E_INVALID_PARAMETER')
    }
    assert.deepEqual(spooler.storeIds(), [])
    // Any other text is an id: hex-encoded entry ids, non-ASCII, surrogate pairs.
    for (const id of ['00ff', 'Postfach ü', '📬', 'a'.repeat(1000)]) {
      spooler.submit(id)
      assert.equal(spooler.activity(id), F.OUTBOUND_QUEUE)
    }
  })

  test('empty profile is MAPI_E_INVALID_PARAMETER', () => {
    throwsMapi(() => new mapi.Spooler(''), 'MAPI_E_INVALID_PARAMETER')
    throwsMapi(() => new mapi.Spooler('\uDFFF'), 'MAPI_E_INVALID_PARAMETER')
  })

  test('the first mention serves a store with all gates open', () => {
    const spooler = newSpooler()
    assert.deepEqual(spooler.stats('never'), {
      queued: 0,
      sending: 0,
      receiving: 0,
      submitted: 0,
      sent: 0,
      receptions: 0,
      received: 0,
      cancelledReceptions: 0,
      allowed: 0,
      activity: 0,
      clients: 0,
      released: false,
      pending: null,
    })
    spooler.beginReceive('fresh')
    assert.equal(spooler.stats('fresh').allowed, ALL_GATES)
    assert.equal(spooler.activity('fresh'), F.INBOUND)
    assert.deepEqual(spooler.storeIds(), ['fresh'])
  })

  test('activity reports move messages; nothing is dropped', () => {
    const spooler = newSpooler()
    spooler.submit('s')
    spooler.submit('s')
    assert.equal(spooler.activity('s'), F.OUTBOUND_QUEUE)
    spooler.beginSend('s')
    assert.equal(spooler.activity('s'), F.OUTBOUND | F.OUTBOUND_QUEUE)
    spooler.endSend('s', false)
    assert.equal(spooler.stats('s').queued, 2)
    spooler.beginSend('s')
    spooler.endSend('s', true)
    spooler.beginReceive('s')
    assert.equal(spooler.activity('s'), F.INBOUND | F.OUTBOUND_QUEUE)
    spooler.endReceive('s')
    const stats = spooler.stats('s')
    assert.deepEqual([stats.queued, stats.sent, stats.received], [1, 1, 1])
    accounted(stats)
  })

  test('a send from an empty queue or an end with nothing in flight is MAPI_E_NOT_FOUND', () => {
    const spooler = newSpooler()
    throwsMapi(() => spooler.beginSend('s'), 'MAPI_E_NOT_FOUND')
    throwsMapi(() => spooler.endSend('s'), 'MAPI_E_NOT_FOUND')
    throwsMapi(() => spooler.endSend('s', false), 'MAPI_E_NOT_FOUND')
    throwsMapi(() => spooler.endReceive('s'), 'MAPI_E_NOT_FOUND')
    spooler.submit('s')
    throwsMapi(() => spooler.endSend('s'), 'MAPI_E_NOT_FOUND')
    accounted(spooler.stats('s'))
    assert.equal(spooler.stats('s').queued, 1)
  })

  test('a released store starts nothing until opened again; its queue survives', () => {
    const { spooler, store } = setup()
    spooler.submit('s')
    store.logoffTransports(F.ABORT)
    throwsMapi(() => spooler.submit('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.beginSend('s'), 'MAPI_E_NO_ACCESS')
    throwsMapi(() => spooler.beginReceive('s'), 'MAPI_E_NO_ACCESS')
    const again = spooler.openStore('s')
    const stats = spooler.stats('s')
    assert.equal(stats.allowed, ALL_GATES)
    assert.equal(stats.released, false)
    assert.equal(stats.queued, 1)
    spooler.beginSend('s')
    spooler.endSend('s')
    assert.equal(again.logoffTransports(F.QUIET), F.COMPLETE)
  })

  test('the PURGE deadline defaults to 30 s and is configurable', () => {
    assert.equal(newSpooler().purgeDeadlineMs, 30_000)
    const spooler = newSpooler({ purgeDeadlineMs: 1500 })
    assert.equal(spooler.purgeDeadlineMs, 1500)
    spooler.setPurgeDeadline(250)
    assert.equal(spooler.purgeDeadlineMs, 250)
  })

  test('every decision and every release is an event', async () => {
    const { spooler, store, rec } = setup()
    spooler.submit('s')
    spooler.beginSend('s')
    store.logoffTransports(F.QUIET) // refused
    store.logoffTransports(F.ORDERLY) // decided, released when drained
    spooler.endSend('s')
    const released = await rec.next((e) => e.kind === 'released')
    assert.deepEqual(rec.kinds('s'), ['refused', 'decided', 'released'])
    for (const e of rec.events) {
      assert.equal(e.storeId, 's')
      assert.equal(typeof e.outFlags, 'number')
    }
    assert.equal(released.mode, F.ORDERLY)
    assert.equal(rec.events[0].decision.release, Release.REFUSED)
    assert.equal(rec.events[1].decision.release, Release.WHEN_DRAINED)
    assert.equal(rec.events[1].detail, null)
  })

  test('unsubscribe ends a subscription', async () => {
    const spooler = newSpooler()
    const seen = []
    const id = subscribe(spooler, (e) => seen.push(e.storeId))
    const rec = recordEvents(spooler)
    spooler.openStore('a').logoffTransports(F.QUIET)
    await rec.next((e) => e.storeId === 'a' && e.kind === 'released')
    assert.equal(spooler.unsubscribe(id), true)
    assert.equal(spooler.unsubscribe(id), false)
    spooler.openStore('b').logoffTransports(F.QUIET)
    await rec.next((e) => e.storeId === 'b' && e.kind === 'released')
    assert.deepEqual(seen, ['a', 'a'])
  })

  test('removeTransport stops its flushes', async () => {
    const spooler = newSpooler()
    let calls = 0
    const id = spooler.addTransport(() => {
      calls += 1
    })
    await spooler.openStore('a').logoffTransportsAsync(F.PURGE)
    assert.equal(spooler.removeTransport(id), true)
    assert.equal(spooler.removeTransport(id), false)
    await spooler.openStore('b').logoffTransportsAsync(F.PURGE)
    assert.equal(calls, 1)
  })

  test('close logs off ORDERLY what is open, reports what does not drain', async () => {
    const spooler = newSpooler({ closeDeadlineMs: 50 })
    const rec = recordEvents(spooler)
    spooler.openStore('idle')
    spooler.openStore('busy')
    spooler.submit('busy')
    spooler.beginReceive('busy')
    spooler.openStore('queued')
    spooler.submit('queued')
    const report = await spooler.closeAsync()
    assert.deepEqual(report, {
      released: ['idle', 'queued'],
      undrained: [{ storeId: 'busy', activity: F.INBOUND | F.OUTBOUND_QUEUE }],
    })
    assert.equal(spooler.closed, true)
    const undrained = await rec.next((e) => e.kind === 'undrained')
    assert.equal(undrained.storeId, 'busy')
    assert.equal(undrained.outFlags, F.INBOUND | F.OUTBOUND_QUEUE)
    // Not dropped: still accounted for, and readable.
    accounted(spooler.stats('busy'))
    assert.equal(spooler.stats('queued').queued, 1)
    // Closed: every call but the reads fails.
    throwsMapi(() => spooler.openStore('x'), 'MAPI_E_INVALID_OBJECT')
    throwsMapi(() => spooler.submit('x'), 'MAPI_E_INVALID_OBJECT')
    throwsMapi(() => spooler.close(), 'MAPI_E_INVALID_OBJECT')
    await rejectsMapi(spooler.closeAsync(), 'MAPI_E_INVALID_OBJECT')
  })

  test('closeAsync waits for stores to drain while transports finish', async () => {
    const spooler = newSpooler()
    spooler.openStore('s')
    spooler.beginReceive('s')
    setImmediate(() => spooler.endReceive('s'))
    const report = await spooler.closeAsync()
    assert.deepEqual(report, { released: ['s'], undrained: [] })
    assert.equal(spooler.stats('s').received, 1)
  })
})
