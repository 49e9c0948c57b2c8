// The shared decision-table fixture (tests/fixtures/decision_table.json) through decide().
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { assertMapi, mapi, native, readFixture } from './helpers.mjs'

const fixture = readFixture()

function expected(c) {
  return {
    outFlags: c.out_flags,
    release: c.release,
    flushFlags: c.flush_flags,
    allowed: c.allowed,
    waits: c.waits,
  }
}

describe('decision table fixture', () => {
  test('has cases of every kind', () => {
    assert.ok(fixture.cases.length > 100)
    assert.ok(fixture.cases.some((c) => c.error === null))
    assert.ok(fixture.cases.some((c) => c.error === 'MAPI_E_INVALID_PARAMETER'))
    assert.ok(fixture.cases.some((c) => c.error === 'MAPI_E_UNKNOWN_FLAGS'))
  })

  test('every case through decide(flags, activity, { shared, strict, cancellable })', () => {
    let checked = 0
    for (const c of fixture.cases) {
      // A context word with unknown bits has no options form: see the next test.
      if (c.context > 7) continue
      assert.equal(c.context, (c.shared ? 1 : 0) | (c.strict ? 2 : 0) | (c.cancellable ? 4 : 0), c.name)
      const options = { shared: c.shared, strict: c.strict, cancellable: c.cancellable }
      const run = () => mapi.decide(c.flags, c.activity, options)
      if (c.error === null) {
        assert.equal(c.hresult, 0, c.name)
        assert.deepEqual({ ...run() }, expected(c), c.name)
      } else {
        let err
        try {
          run()
        } catch (e) {
          err = e
        }
        assert.ok(err, `${c.name}: expected ${c.error}`)
        assertMapi(err, c.error)
        assert.equal(err.hresult, c.hresult, c.name)
      }
      checked += 1
    }
    assert.ok(checked > 300)
  })

  test('every case through the native decide(flags, activity, context)', () => {
    for (const c of fixture.cases) {
      const run = () => native.decide(c.flags, c.activity, c.context)
      if (c.error === null) {
        assert.deepEqual({ ...run() }, expected(c), c.name)
      } else {
        assert.throws(run, (err) => err.code === c.error, c.name)
      }
    }
  })

  test('every case through the native decidePacked(flags, activity, context)', () => {
    // The layout documented at decide_packed in src/decide.rs, decoded here field by field.
    const unpack = (p) => ({
      outFlags: (p & 0x1f) | (((p >>> 16) & 0xf) << 16),
      release: (p >>> 12) & 0x3,
      flushFlags: ((p >>> 5) & 0xf) << 1,
      allowed: ((p >>> 9) & 0x7) << 17,
      waits: Boolean((p >>> 14) & 1),
    })
    for (const c of fixture.cases) {
      const run = () => native.decidePacked(c.flags, c.activity, c.context)
      if (c.error === null) {
        const p = run()
        assert.ok(Number.isInteger(p) && p >= 0 && p < 2 ** 20, `${c.name}: ${p}`)
        assert.equal(p & ~0x000f7fff, 0, `${c.name}: no bit outside the layout`)
        assert.deepEqual(unpack(p), expected(c), c.name)
        // The same decision as the native decide that builds the object itself.
        assert.deepEqual({ ...native.decide(c.flags, c.activity, c.context) }, unpack(p), c.name)
      } else {
        assert.throws(run, (err) => err.code === c.error, c.name)
      }
    }
  })

  test('decide returns a fresh plain object, keys in order, not frozen', () => {
    const { LogoffFlags } = mapi
    const a = mapi.decide(LogoffFlags.PURGE, LogoffFlags.OUTBOUND_QUEUE)
    const b = mapi.decide(LogoffFlags.PURGE, LogoffFlags.OUTBOUND_QUEUE)
    assert.notEqual(a, b)
    assert.equal(Object.getPrototypeOf(a), Object.prototype)
    assert.deepEqual(Object.keys(a), ['outFlags', 'release', 'flushFlags', 'allowed', 'waits'])
    assert.equal(Object.isFrozen(a), false)
    assert.equal(typeof a.waits, 'boolean')
    a.release = -1 // the caller's own object: changing it changes no other result
    assert.notEqual(mapi.decide(LogoffFlags.PURGE, LogoffFlags.OUTBOUND_QUEUE).release, -1)
  })

  test('activity and options default to idle, not shared, lenient, nothing cancellable', () => {
    const { LogoffFlags, Release } = mapi
    assert.deepEqual(mapi.decide(LogoffFlags.PURGE), mapi.decide(LogoffFlags.PURGE, 0, {}))
    assert.equal(mapi.decide(LogoffFlags.QUIET).release, Release.NOW)
    assert.equal(mapi.decide(0).release, Release.NOW) // no mode: ABORT
    assert.throws(() => mapi.decide(0, 0, { strict: true }), { code: 'MAPI_E_INVALID_PARAMETER' })
    assert.equal(mapi.decide(LogoffFlags.ABORT, LogoffFlags.INBOUND).release, Release.REFUSED)
    assert.equal(mapi.decide(LogoffFlags.ABORT, LogoffFlags.INBOUND, { cancellable: true }).release, Release.NOW)
  })
})
