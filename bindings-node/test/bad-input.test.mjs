// Every bad input: a TypeError for a wrong type, a RangeError for a number out of range,
// with a message that names the argument, and nothing changed.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { mapi, newSpooler, recordEvents, turns, unsubscribeAll } from './helpers.mjs'

const { LogoffFlags: F, MapiError, Spooler, Store, decide } = mapi

after(unsubscribeAll)

const NOT_NUMBERS = ['1', null, undefined, true, 1n, {}, [], () => 1, Symbol('s')]
const OUT_OF_RANGE_BITS = [NaN, Infinity, -Infinity, 1.5, -0x80000001, 2 ** 32, Number.MAX_SAFE_INTEGER]
const NOT_STRINGS = [1, null, undefined, true, {}, [], Symbol('s'), new String('s')]
const NOT_OBJECTS = [null, 1, 'x', true, []]

function throwsType(fn, name) {
  assert.throws(fn, (err) => err instanceof TypeError && err.message.includes(name), `TypeError naming ${name}`)
}

function throwsRange(fn, name) {
  assert.throws(fn, (err) => err instanceof RangeError && err.message.includes(name), `RangeError naming ${name}`)
}

describe('bad input', { timeout: 60_000 }, () => {
  test('decide', () => {
    for (const v of NOT_NUMBERS.filter((v) => v !== undefined)) {
      throwsType(() => decide(v), 'flags')
      throwsType(() => decide(F.QUIET, v), 'activity')
    }
    throwsType(() => decide(), 'flags')
    for (const v of OUT_OF_RANGE_BITS) {
      throwsRange(() => decide(v), 'flags')
      throwsRange(() => decide(F.QUIET, v), 'activity')
    }
    for (const v of NOT_OBJECTS) throwsType(() => decide(F.QUIET, 0, v), 'options')
    for (const v of [1, 'true', null, 0]) {
      throwsType(() => decide(F.QUIET, 0, { shared: v }), 'options.shared')
      throwsType(() => decide(F.QUIET, 0, { strict: v }), 'options.strict')
      throwsType(() => decide(F.QUIET, 0, { cancellable: v }), 'options.cancellable')
    }
    throwsType(() => decide(F.QUIET, 0, { Shared: true }), 'Shared')
    // The edges of the accepted range.
    assert.equal(decide(F.QUIET, 0, { shared: undefined }).outFlags, F.COMPLETE)
    assert.throws(() => decide(0xffffffff), { code: 'MAPI_E_UNKNOWN_FLAGS' })
    assert.throws(() => decide(-0x80000000), { code: 'MAPI_E_UNKNOWN_FLAGS' })
    assert.throws(() => decide(F.QUIET, 0xffffffff), { code: 'MAPI_E_UNKNOWN_FLAGS' })
  })

  test('new Spooler', () => {
    for (const v of NOT_STRINGS) throwsType(() => new Spooler(v), 'profile')
    for (const v of NOT_OBJECTS) throwsType(() => new Spooler('p', v), 'options')
    throwsType(() => new Spooler('p', { purgeDeadline: 5 }), 'purgeDeadline')
    for (const key of ['purgeDeadlineMs', 'closeDeadlineMs']) {
      for (const v of ['5', null, true, 5n]) throwsType(() => new Spooler('p', { [key]: v }), key)
      for (const v of [-1, NaN, Infinity, -Infinity]) throwsRange(() => new Spooler('p', { [key]: v }), key)
    }
    for (const key of ['strict', 'crossProcess']) {
      for (const v of [1, 'yes', null]) throwsType(() => new Spooler('p', { [key]: v }), key)
    }
    for (const v of [5, '', null, true]) throwsType(() => new Spooler('p', { runtimeDir: v }), 'runtimeDir')
    assert.throws(() => Spooler('p'), TypeError, 'a class, not a function')
  })

  test('Spooler methods, and nothing changes', async () => {
    const spooler = newSpooler()
    const rec = recordEvents(spooler)
    const store = spooler.openStore('s')
    spooler.submit('s')
    const before = spooler.stats('s')
    const idMethods = ['openStore', 'submit', 'beginSend', 'endSend', 'beginReceive', 'endReceive', 'activity', 'stats']
    for (const method of idMethods) {
      for (const v of NOT_STRINGS) throwsType(() => spooler[method](v), 'storeId')
    }
    for (const v of [1, 'yes', null]) throwsType(() => spooler.endSend('s', v), 'sent')
    for (const v of NOT_NUMBERS) throwsType(() => spooler.setPurgeDeadline(v), 'ms')
    for (const v of [-1, NaN, Infinity]) throwsRange(() => spooler.setPurgeDeadline(v), 'ms')
    for (const v of [null, undefined, 5, 'flush', {}, { flushQueues: 1 }, { flushqueues() {} }, []]) {
      throwsType(() => spooler.addTransport(v), 'transport')
    }
    for (const v of [null, undefined, 5, 'fn', {}, []]) throwsType(() => spooler.subscribe(v), 'subscriber')
    for (const method of ['removeTransport', 'unsubscribe']) {
      for (const v of NOT_NUMBERS) throwsType(() => spooler[method](v), 'id')
      for (const v of [-1, 1.5, NaN, Infinity, 2 ** 53]) throwsRange(() => spooler[method](v), 'id')
    }
    assert.equal(spooler.purgeDeadlineMs, 30_000)
    assert.deepEqual(spooler.stats('s'), before)
    assert.deepEqual(spooler.storeIds(), ['s'])
    assert.equal(store.refCount, 1)
    // No transport or subscriber was registered: a PURGE flushes nothing, and the only
    // events are the recorder's.
    assert.equal(store.logoffTransports(F.QUIET), F.OUTBOUND_QUEUE)
    await rec.next((e) => e.kind === 'refused')
    await turns(2)
    assert.deepEqual(rec.kinds(), ['refused'])
  })

  test('Store methods, and nothing changes', async () => {
    const spooler = newSpooler()
    const store = spooler.openStore('s')
    store.logoff(F.ORDERLY)
    for (const method of ['logoff', 'logoffTransports']) {
      for (const v of NOT_NUMBERS) throwsType(() => store[method](v), 'flags')
      for (const v of OUT_OF_RANGE_BITS) throwsRange(() => store[method](v), 'flags')
    }
    for (const v of ['1', null, 1.5, -0x80000001]) {
      await assert.rejects(store.logoffTransportsAsync(v), (err) => err instanceof (typeof v === 'number' ? RangeError : TypeError))
    }
    for (const v of [1, 'yes', null, undefined]) throwsType(() => store.setStrict(v), 'strict')
    assert.equal(store.savedMode, F.ORDERLY)
    assert.equal(store.valid, true)
    assert.equal(store.refCount, 1)
    assert.equal(spooler.stats('s').released, false)
    assert.throws(() => new Store(), /openStore/)
    assert.throws(() => new Store(Symbol('mapi-logoff internal'), {}), TypeError)
  })

  test('MapiError codes', () => {
    for (const v of ['MAPI_E_NOPE', 'S_OK', 'toString', undefined, 5]) {
      assert.throws(() => new MapiError(v), TypeError)
    }
    const err = new MapiError('MAPI_E_NOT_FOUND')
    assert.equal(err.hresult, 0x8004010f)
    assert.match(err.message, /^MAPI_E_NOT_FOUND: /)
    assert.equal(MapiError.fromHresult(0x8004010f).code, 'MAPI_E_NOT_FOUND')
    assert.equal(MapiError.fromHresult(0x8004010f | 0).code, 'MAPI_E_NOT_FOUND', 'negative HRESULTs too')
    assert.equal(MapiError.fromHresult(0x12345678).code, 'MAPI_E_CALL_FAILED')
  })
})
