// The waiting calls never block the event loop, and callbacks that throw neither crash
// the process nor hang the logoff.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { mapi, newSpooler, recordEvents, recordWarnings, rejectsMapi, subscribe, turns, unsubscribeAll } from './helpers.mjs'

const { LogoffFlags: F, FlushFlags, MapiError } = mapi
const OPTS = { timeout: 60_000 }

after(unsubscribeAll)

/**
 * A transport that ends the store's transfers only after a `setInterval` has ticked
 * `ticks` times: the logoff can only finish if the event loop runs while it waits.
 */
function transportAfterTicks(spooler, ticks) {
  const seen = { flushes: [], ticks: 0 }
  spooler.addTransport({
    flushQueues(storeId, flushFlags) {
      seen.flushes.push([storeId, flushFlags])
      const timer = setInterval(() => {
        seen.ticks += 1
        if (seen.ticks < ticks) return
        clearInterval(timer)
        while (spooler.stats(storeId).sending > 0) spooler.endSend(storeId)
        while (spooler.stats(storeId).receiving > 0) spooler.endReceive(storeId)
        while (spooler.stats(storeId).queued > 0) {
          spooler.beginSend(storeId)
          spooler.endSend(storeId)
        }
      }, 1)
    },
  })
  return seen
}

describe('the event loop keeps running while a call waits', OPTS, () => {
  test('an awaited PURGE, ended by a transport callback', async () => {
    // A deadline far beyond any run: if the loop were blocked the transfers could not
    // end and the PURGE would never resolve (the test would time out).
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    const store = spooler.openStore('outbox')
    spooler.submit('outbox')
    spooler.submit('outbox')
    spooler.beginSend('outbox')
    spooler.beginReceive('outbox')
    const seen = transportAfterTicks(spooler, 5)
    let intervalTicks = 0
    const interval = setInterval(() => {
      intervalTicks += 1
    }, 1)
    try {
      const out = await store.logoffTransportsAsync(F.PURGE)
      assert.equal(out, F.COMPLETE | F.INBOUND | F.OUTBOUND | F.OUTBOUND_QUEUE)
    } finally {
      clearInterval(interval)
    }
    assert.deepEqual(seen.flushes, [['outbox', FlushFlags.UPLOAD | FlushFlags.NO_UI]])
    assert.ok(seen.ticks >= 5)
    assert.ok(intervalTicks > 0, 'the setInterval ticked while the PURGE was awaited')
    const stats = spooler.stats('outbox')
    assert.equal(stats.released, true)
    assert.deepEqual([stats.sent, stats.received, stats.queued], [2, 1, 0])
  })

  test('releaseAsync after a PURGE logoff', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    const store = spooler.openStore('s')
    spooler.submit('s')
    spooler.beginSend('s')
    transportAfterTicks(spooler, 3)
    store.logoff(F.PURGE)
    assert.equal(await store.releaseAsync(), 0)
    assert.equal(spooler.stats('s').released, true)
    assert.equal(spooler.stats('s').sent, 1)
  })

  test('closeAsync waits while transports finish on the loop', async () => {
    const spooler = newSpooler({ closeDeadlineMs: 600_000 })
    spooler.openStore('s')
    spooler.beginReceive('s')
    let ticks = 0
    const timer = setInterval(() => {
      ticks += 1
      if (ticks === 3) {
        clearInterval(timer)
        spooler.endReceive('s')
      }
    }, 1)
    assert.deepEqual(await spooler.closeAsync(), { released: ['s'], undrained: [] })
    assert.equal(ticks, 3)
  })

  test('many PURGEs at once, each ended by its transport', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    transportAfterTicks(spooler, 2)
    const ids = Array.from({ length: 12 }, (_, i) => `store-${i}`)
    const stores = ids.map((id) => {
      const store = spooler.openStore(id)
      spooler.submit(id)
      spooler.beginSend(id)
      return store
    })
    const outs = await Promise.all(stores.map((s) => s.logoffTransportsAsync(F.PURGE)))
    for (const out of outs) assert.equal(out, F.COMPLETE | F.OUTBOUND)
    for (const id of ids) assert.equal(spooler.stats(id).released, true)
  })

  test('a flushQueues returning a Promise is awaited by an async PURGE', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    spooler.beginReceive('s')
    spooler.addTransport({
      async flushQueues(id) {
        await turns(3)
        spooler.endReceive(id)
      },
    })
    assert.equal(await store.logoffTransportsAsync(F.PURGE), F.COMPLETE | F.INBOUND)
    assert.equal(spooler.stats('s').received, 1)
    await rec.next((e) => e.kind === 'released')
    assert.ok(!rec.kinds().includes('flush_failed'))
  })

  test('a synchronous PURGE of a busy store times out; the transport runs after it', async () => {
    // The JS thread is held by the synchronous call, so the transport cannot run while it
    // waits: the call ends at the deadline, without a deadlock, and the logoff goes on
    // as NO_WAIT until the transport, run afterwards, drains the store.
    const spooler = newSpooler({ purgeDeadlineMs: 50 })
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    spooler.submit('s')
    spooler.beginSend('s')
    let flushed = 0
    spooler.addTransport((id) => {
      flushed += 1
      spooler.endSend(id)
      assert.equal(spooler.activity(id), 0, 'callbacks may read state')
    })
    assert.throws(() => store.logoffTransports(F.PURGE), { code: 'MAPI_E_TIMEOUT', outFlags: F.COMPLETE | F.OUTBOUND })
    assert.equal(flushed, 0)
    assert.equal(spooler.stats('s').pending, F.NO_WAIT)
    await rec.next((e) => e.kind === 'released')
    assert.equal(flushed, 1)
    assert.equal(spooler.stats('s').released, true)
  })

  test('a synchronous PURGE of an idle store returns at once', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    let flushed = 0
    spooler.addTransport(() => {
      flushed += 1
    })
    const store = spooler.openStore('s')
    assert.equal(store.logoffTransports(F.PURGE), F.COMPLETE)
    assert.equal(spooler.stats('s').released, true)
    while (flushed === 0) await turns(1)
  })
})

describe('callbacks that throw', OPTS, () => {
  test('a throwing transport is an event and a warning; the PURGE goes on', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    spooler.submit('s')
    let good = 0
    spooler.addTransport({
      flushQueues() {
        throw new Error('transport bug')
      },
    })
    spooler.addTransport((id) => {
      good += 1
      spooler.beginSend(id)
      spooler.endSend(id)
    })
    assert.equal(await store.logoffTransportsAsync(F.PURGE), F.COMPLETE | F.OUTBOUND_QUEUE)
    assert.equal(good, 1, 'the next transport was still flushed')
    assert.equal(spooler.stats('s').released, true)
    const failed = await rec.next((e) => e.kind === 'flush_failed')
    assert.match(failed.detail, /MAPI_E_CALL_FAILED/)
    assert.equal(failed.mode, F.PURGE)
    await turns(2)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0].message, /transport bug/)
    assert.equal(warnings[0].cause.message, 'transport bug')
  })

  test('after a synchronous PURGE a throwing transport is a warning, MapiError or not', async (t) => {
    // Nobody waits for the answer of a transport run after the call returned: no
    // flush_failed event can carry it, so the warning does.
    const warnings = recordWarnings(t)
    const spooler = newSpooler()
    const rec = recordEvents(spooler)
    let good = 0
    spooler.addTransport(() => {
      throw new Error('late bug')
    })
    spooler.addTransport(() => {
      throw new MapiError('MAPI_E_BUSY')
    })
    spooler.addTransport(() => {
      good += 1
    })
    assert.equal(spooler.openStore('s').logoffTransports(F.PURGE), F.COMPLETE)
    while (good === 0 || warnings.length < 2) await turns(1)
    assert.deepEqual(
      warnings.map((w) => w.cause.message),
      ['late bug', 'MAPI_E_BUSY: another logoff of this handle is under way'],
    )
    await rec.next((e) => e.kind === 'released')
    assert.ok(!rec.kinds().includes('flush_failed'))
  })

  test('a transport throwing a MapiError fails with its HRESULT, without a warning', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler()
    const rec = recordEvents(spooler)
    spooler.addTransport(() => {
      throw new MapiError('MAPI_E_BUSY')
    })
    await spooler.openStore('s').logoffTransportsAsync(F.PURGE)
    const failed = await rec.next((e) => e.kind === 'flush_failed')
    assert.match(failed.detail, /MAPI_E_BUSY/)
    await turns(2)
    assert.equal(warnings.length, 0)
  })

  test('a rejected flushQueues Promise is reported the same way', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler()
    const rec = recordEvents(spooler)
    spooler.addTransport(async () => {
      await turns(1)
      throw new TypeError('async transport bug')
    })
    spooler.addTransport(() => Promise.reject(new MapiError('MAPI_E_NO_SUPPORT')))
    assert.equal(await spooler.openStore('s').logoffTransportsAsync(F.PURGE), F.COMPLETE)
    await rec.next((e) => e.kind === 'flush_failed' && /MAPI_E_CALL_FAILED/.test(e.detail))
    await rec.next((e) => e.kind === 'flush_failed' && /MAPI_E_NO_SUPPORT/.test(e.detail))
    await turns(2)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0].message, /async transport bug/)
  })

  test('throwing non-Error values is handled too', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler()
    const rec = recordEvents(spooler)
    for (const value of [undefined, null, 'text', 42]) {
      spooler.addTransport(() => {
        throw value
      })
    }
    await spooler.openStore('s').logoffTransportsAsync(F.PURGE)
    await rec.next((e) => e.kind === 'released')
    while (rec.kinds().filter((k) => k === 'flush_failed').length < 4) await turns(1)
    await turns(2)
    assert.equal(warnings.length, 4)
  })

  test('a flushQueues that never settles cannot hang the PURGE past its deadlines', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 30 })
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    spooler.beginReceive('s')
    spooler.addTransport(() => new Promise(() => {}))
    await rejectsMapi(store.logoffTransportsAsync(F.PURGE), 'MAPI_E_TIMEOUT')
    const failed = await rec.next((e) => e.kind === 'flush_failed')
    assert.match(failed.detail, /MAPI_E_TIMEOUT/)
    spooler.endReceive('s')
    assert.equal(spooler.stats('s').released, true)
  })

  test('a throwing subscriber is a warning; the others still get every event', async (t) => {
    const warnings = recordWarnings(t)
    const spooler = newSpooler()
    subscribe(spooler, () => {
      throw new Error('subscriber bug')
    })
    subscribe(spooler, async () => {
      throw new Error('async subscriber bug')
    })
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    assert.equal(store.logoffTransports(F.QUIET), F.COMPLETE)
    await rec.next((e) => e.kind === 'released')
    assert.deepEqual(rec.kinds(), ['decided', 'released'])
    await turns(3)
    assert.equal(warnings.length, 4)
    assert.equal(warnings.filter((w) => /async subscriber bug/.test(w.message)).length, 2)
  })

  test('callbacks may call back into the library', async () => {
    const spooler = newSpooler({ purgeDeadlineMs: 600_000 })
    const rec = recordEvents(spooler)
    const reads = []
    subscribe(spooler, (e) => reads.push([e.kind, spooler.stats(e.storeId).released]))
    spooler.addTransport((id) => {
      // Another store's logoff from inside a flush, synchronously.
      const inner = spooler.openStore(`${id}-inner`)
      assert.equal(inner.logoffTransports(F.QUIET), F.COMPLETE)
    })
    const store = spooler.openStore('s')
    assert.equal(await store.logoffTransportsAsync(F.PURGE), F.COMPLETE)
    await rec.next((e) => e.storeId === 's' && e.kind === 'released')
    await rec.next((e) => e.storeId === 's-inner' && e.kind === 'released')
    assert.equal(spooler.stats('s-inner').released, true)
    await turns(2)
    assert.equal(reads.length, 4)
    assert.ok(reads.every(([, released]) => released))
  })
})
