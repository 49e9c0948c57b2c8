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

  test('every case through decide(flags, activity, { shared, lenient })', () => {
    let checked = 0
    for (const c of fixture.cases) {
      // A context word with unknown bits has no { shared, lenient } form: see the next test.
      if (c.context > 3) continue
      assert.equal(c.context, (c.shared ? 1 : 0) | (c.lenient ? 2 : 0), c.name)
      const run = () => mapi.decide(c.flags, c.activity, { shared: c.shared, lenient: c.lenient })
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

  test('activity and options default to idle, not shared, strict', () => {
    const { LogoffFlags, Release } = mapi
    assert.deepEqual(mapi.decide(LogoffFlags.PURGE), mapi.decide(LogoffFlags.PURGE, 0, {}))
    assert.equal(mapi.decide(LogoffFlags.QUIET).release, Release.NOW)
    assert.throws(() => mapi.decide(0), { code: 'MAPI_E_INVALID_PARAMETER' })
    assert.equal(mapi.decide(0, 0, { lenient: true }).release, Release.NOW)
  })
})
