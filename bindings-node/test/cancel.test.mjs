// ABORT with transports that can cancel a transfer in flight: every transport cancels, one
// cannot, a cancel that throws, a cancel that hangs past the deadline, and a cancel racing
// an endSend. The same named tests run in Rust, C and Python.
import assert from 'node:assert/strict'
import { after, test } from 'node:test'

import { mapi, newSpooler, recordEvents, recordWarnings, throwsMapi, turns, unsubscribeAll } from './helpers.mjs'

const F = mapi.LogoffFlags
const ID = 'inbox'
const ALL = F.INBOUND | F.OUTBOUND | F.OUTBOUND_QUEUE

after(unsubscribeAll)

/** NOT_FOUND: the transfer ended meanwhile, nothing to cancel. */
function gone(report) {
  try {
    report()
  } catch (err) {
    if (!(err instanceof mapi.MapiError) || err.code !== 'MAPI_E_NOT_FOUND') throw err
  }
}

/** A transport that can cancel: `what` is 'send', 'receive' or 'both'. */
function canceller(spooler, what = 'both') {
  const t = {
    calls: [],
    flushQueues() {},
    cancel(storeId) {
      t.calls.push(storeId)
      if (what !== 'receive') gone(() => spooler.endSend(storeId, false))
      if (what !== 'send') gone(() => spooler.cancelReceive(storeId))
    },
  }
  return t
}

/** A store with two messages submitted, one being sent and one being received. */
function busyStore(spooler) {
  const store = spooler.openStore(ID)
  spooler.submit(ID)
  spooler.submit(ID)
  spooler.beginSend(ID)
  spooler.beginReceive(ID)
  return store
}

function assertAccounted(s) {
  assert.equal(s.submitted, s.queued + s.sending + s.sent)
  assert.equal(s.receptions, s.receiving + s.received + s.cancelledReceptions)
}

test('all transports cancel', async () => {
  const spooler = newSpooler()
  const events = recordEvents(spooler)
  const sender = canceller(spooler, 'send')
  const receiver = canceller(spooler, 'receive')
  spooler.addTransport(sender)
  spooler.addTransport(receiver)
  const store = busyStore(spooler)

  // The cancelled send is back in the queue: ABORT reports it left there.
  assert.equal(await store.logoffTransportsAsync(F.ABORT), F.COMPLETE | F.OUTBOUND_QUEUE)
  assert.deepEqual([sender.calls, receiver.calls], [[ID], [ID]])
  const s = spooler.stats(ID)
  assert.equal(s.released, true)
  assert.equal(s.allowed, 0)
  assert.deepEqual([s.queued, s.sending, s.receiving, s.cancelledReceptions], [2, 0, 0, 1])
  assertAccounted(s)
  // Control returned once the cancellations were done: they come before the decision.
  await events.next((e) => e.kind === 'released')
  assert.deepEqual(events.kinds(), ['cancelled', 'cancelled', 'decided', 'released'])
  assert.match(events.events[0].detail, /send cancelled/)
  assert.match(events.events[1].detail, /reception cancelled/)
  assert.equal(events.events[2].detail, 'the transfers in flight were cancelled')
  assert.equal(store.release(), 0)
  spooler.close()
})

test('all transports cancel on releaseAsync, with a cancel that returns a Promise', async () => {
  const spooler = newSpooler()
  spooler.addTransport({
    flushQueues() {},
    async cancel(storeId) {
      await turns(2)
      spooler.endSend(storeId, false)
      spooler.cancelReceive(storeId)
    },
  })
  const store = busyStore(spooler)
  store.logoff(F.ABORT)
  assert.equal(await store.releaseAsync(), 0)
  const s = spooler.stats(ID)
  assert.equal(s.released, true)
  assert.deepEqual([s.queued, s.cancelledReceptions], [2, 1])
  assertAccounted(s)
  spooler.close()
})

test('a synchronous ABORT on the JS thread cannot wait for a JS cancel: it refuses', async () => {
  const spooler = newSpooler()
  const events = recordEvents(spooler)
  const t = canceller(spooler)
  const tid = spooler.addTransport(t)
  const store = busyStore(spooler)
  assert.equal(store.logoffTransports(F.ABORT), ALL)
  assert.deepEqual(t.calls, [])
  const refused = await events.next((e) => e.kind === 'refused')
  assert.match(refused.detail, new RegExp(`transport ${tid}: MAPI_E_BUSY`))
  assert.equal(spooler.stats(ID).allowed, ALL)
  spooler.close()
})

test('one transport cannot cancel', async () => {
  const spooler = newSpooler()
  const events = recordEvents(spooler)
  const can = canceller(spooler)
  spooler.addTransport(can)
  spooler.addTransport({ flushQueues() {} })
  const store = busyStore(spooler)
  assert.equal(await store.logoffTransportsAsync(F.ABORT), ALL)
  assert.deepEqual(can.calls, []) // nobody is asked: it could not make the ABORT succeed
  await events.next((e) => e.kind === 'refused')
  assert.deepEqual(events.kinds(), ['refused'])
  const s = spooler.stats(ID)
  assert.deepEqual([s.queued, s.sending, s.receiving], [1, 1, 1])
  assert.equal(s.allowed, ALL)
  assert.equal(s.released, false)
  spooler.close()
})

test('a plain function cannot cancel', async () => {
  const spooler = newSpooler()
  spooler.addTransport(() => {})
  const store = busyStore(spooler)
  assert.equal((await store.logoffTransportsAsync(F.ABORT)) & F.COMPLETE, 0)
  spooler.close()
})

/** ABORT over a transport that cancels the send and one whose cancel is `cancel`. */
async function failingCancel(t, cancel, warns) {
  const warnings = recordWarnings(t)
  const spooler = newSpooler()
  const events = recordEvents(spooler)
  spooler.addTransport(canceller(spooler, 'send'))
  let calls = 0
  const tid = spooler.addTransport({
    flushQueues() {},
    cancel() {
      calls += 1
      return cancel()
    },
  })
  const store = busyStore(spooler)
  // The send was cancelled; the reception could not be: ABORT refuses, the gates reopen.
  assert.equal(await store.logoffTransportsAsync(F.ABORT), F.INBOUND | F.OUTBOUND_QUEUE)
  assert.equal(calls, 1)
  const refused = await events.next((e) => e.kind === 'refused')
  assert.match(refused.detail, /^a transfer in flight could not be cancelled: /)
  assert.match(refused.detail, new RegExp(`transport ${tid}: MAPI_E_CALL_FAILED`))
  assert.deepEqual(events.kinds(), ['cancelled', 'refused'])
  const s = spooler.stats(ID)
  assert.deepEqual([s.queued, s.sending, s.receiving], [2, 0, 1])
  assert.equal(s.allowed, ALL)
  assertAccounted(s)
  await turns(2)
  assert.equal(warnings.length, warns ? 1 : 0)
  spooler.endReceive(ID)
  assert.equal(store.release(), 0)
  assert.equal(spooler.stats(ID).released, true)
  spooler.close()
}

test('a cancel callback that throws', (t) =>
  failingCancel(t, () => {
    throw new Error('cable cut')
  }, true))

test('a cancel callback that rejects', (t) =>
  failingCancel(t, async () => {
    throw new Error('cable cut')
  }, true))

test('a cancel callback that throws a MapiError', (t) =>
  failingCancel(t, () => {
    throw new mapi.MapiError('MAPI_E_CALL_FAILED')
  }, false))

test('a cancel callback that hangs past the deadline', async () => {
  const spooler = newSpooler({ purgeDeadlineMs: 100 })
  const events = recordEvents(spooler)
  let letGo
  const hanging = new Promise((resolve) => {
    letGo = resolve
  })
  let calls = 0
  const tid = spooler.addTransport({
    flushQueues() {},
    async cancel(storeId) {
      calls += 1
      await hanging
      spooler.endSend(storeId, false)
      spooler.cancelReceive(storeId)
    },
  })
  const store = busyStore(spooler)
  const t0 = Date.now()
  assert.equal(await store.logoffTransportsAsync(F.ABORT), ALL)
  assert.ok(Date.now() - t0 >= 90)
  const refused = await events.next((e) => e.kind === 'refused')
  assert.match(refused.detail, /could not be cancelled/)
  assert.match(refused.detail, new RegExp(`transport ${tid}: `))
  assert.equal(spooler.stats(ID).allowed, ALL)

  // The late cancel still accounts for every message.
  letGo()
  await turns(3)
  const s = spooler.stats(ID)
  assert.deepEqual([s.queued, s.sending, s.receiving, s.cancelledReceptions], [2, 0, 0, 1])
  assertAccounted(s)
  // Nothing in flight now: the final release's ABORT logs off and cancels nothing more.
  assert.equal(await store.releaseAsync(), 0)
  assert.equal(spooler.stats(ID).released, true)
  assert.equal(calls, 1)
  spooler.close()
})

test('a cancel racing an endSend', async () => {
  for (let round = 0; round < 20; round++) {
    const spooler = newSpooler()
    const events = recordEvents(spooler)
    const results = {}
    const outcome = (report) => {
      try {
        report()
        return 'ok'
      } catch (err) {
        if (err.code !== 'MAPI_E_NOT_FOUND') throw err
        return 'not found'
      }
    }
    spooler.addTransport({
      flushQueues() {},
      async cancel(storeId) {
        await turns(round % 3)
        results.cancel = outcome(() => spooler.endSend(storeId, false))
      },
    })
    const store = spooler.openStore('outbox')
    spooler.submit('outbox')
    spooler.beginSend('outbox')
    const aborting = store.logoffTransportsAsync(F.ABORT)
    // The transfer's own end, on the event loop, against the cancel's.
    await turns(round % 4)
    results.end = outcome(() => spooler.endSend('outbox', true))
    const out = await aborting
    const s = spooler.stats('outbox')
    // The send ended exactly once, whichever came first.
    assert.equal(s.sending, 0)
    assert.equal(s.sent + s.queued, 1)
    assert.equal(s.released, true)
    assertAccounted(s)
    assert.equal(out, F.COMPLETE | (s.queued ? F.OUTBOUND_QUEUE : 0))
    if (results.cancel !== undefined) assert.notEqual(results.cancel, results.end)
    await turns(2)
    assert.equal(events.kinds().filter((k) => k === 'cancelled').length, results.cancel === 'ok' ? 1 : 0)
    spooler.close()
  }
})

test('cancelReceive with nothing in flight is MAPI_E_NOT_FOUND', () => {
  const spooler = newSpooler()
  throwsMapi(() => spooler.cancelReceive(ID), 'MAPI_E_NOT_FOUND')
  spooler.openStore(ID)
  spooler.beginReceive(ID)
  spooler.cancelReceive(ID)
  throwsMapi(() => spooler.cancelReceive(ID), 'MAPI_E_NOT_FOUND')
  throwsMapi(() => spooler.cancelReceive(''), 'MAPI_E_INVALID_PARAMETER')
  const s = spooler.stats(ID)
  assert.deepEqual([s.receptions, s.cancelledReceptions], [1, 1])
  spooler.close()
})
