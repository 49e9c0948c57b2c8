// decide() answers from the table the package reads from the native module when it loads
// (decide_table in src/decide.rs). Every answer it gives, from the table or not, must be the
// core's: compared here with the addon's own `decide`, which asks the core on every call.
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'

import { mapi, native } from './helpers.mjs'

const ACTIVITY_BITS = [0x20000, 0x40000, 0x80000]
// Every activity word the table covers: each subset of INBOUND | OUTBOUND | OUTBOUND_QUEUE.
const TABLE_ACTIVITIES = Array.from({ length: 8 }, (_, i) => ACTIVITY_BITS.filter((_, b) => i & (1 << b)).reduce((a, b) => a | b, 0))

/** The core's answer (the addon's decide, no table): the plain object, or the error's code. */
function core(flags, activity, context) {
  try {
    return { ...native.decide(flags >>> 0, activity >>> 0, context) }
  } catch (err) {
    return { error: err.code }
  }
}

/** The package's answer in the same form; a rejected input must throw a MapiError. */
function lib(flags, activity, options) {
  try {
    return { ...mapi.decide(flags, activity, options) }
  } catch (err) {
    assert.ok(err instanceof mapi.MapiError, `decide(${flags}, ${activity}) threw ${err}`)
    return { error: err.code }
  }
}

function optionsOf(context) {
  return { shared: (context & 1) !== 0, strict: (context & 2) !== 0, cancellable: (context & 4) !== 0 }
}

// Counts the package's calls into the native decide (it looks the function up on each call).
const realDecidePacked = native.decidePacked
let nativeCalls = 0
function countNativeCalls() {
  nativeCalls = 0
  native.decidePacked = (...args) => {
    nativeCalls += 1
    return realDecidePacked(...args)
  }
}
afterEach(() => {
  native.decidePacked = realDecidePacked
})

describe('decide table', () => {
  test('the native table holds the core answer for each of its 2,048 inputs', () => {
    const table = native.decideTable()
    assert.equal(table.length, 2048)
    for (let i = 0; i < 2048; i++) {
      const flags = i & 0x1f
      const activity = (i << 12) & 0xe0000
      const context = i >> 8
      let want
      try {
        want = realDecidePacked(flags, activity, context)
      } catch {
        want = -1
      }
      assert.equal(table[i], want, `entry ${i} (flags ${flags}, activity ${activity}, context ${context})`)
    }
    assert.ok(table.some((p) => p === -1) && table.some((p) => p >= 0))
  })

  test('every flags/activity/context combination the table covers gives the core answer', () => {
    countNativeCalls()
    let rejected = 0
    const check = (got, want, where) => {
      assert.deepEqual(got, want, where)
      if (want.error) rejected += 1
    }
    for (let context = 0; context < 8; context++) {
      for (let flags = 0; flags <= 0x1f; flags++) {
        for (const activity of TABLE_ACTIVITIES) {
          const want = core(flags, activity, context)
          const where = `decide(${flags}, ${activity}, context ${context})`
          check(lib(flags, activity, optionsOf(context)), want, where)
          if (context !== 0) continue
          check(lib(flags, activity), want, `${where} without options`)
          check(lib(flags, activity, {}), want, `${where} with {}`)
          check(lib(flags, activity, undefined), want, `${where} with undefined`)
          if (activity === 0) check(lib(flags), want, `${where}: activity defaults to 0`)
        }
      }
    }
    // The core rejects some of them (strict, no single mode), and only those asked the
    // native module (for their error); the core's answers above do not count.
    assert.ok(rejected > 0)
    const calls = nativeCalls
    native.decidePacked = realDecidePacked
    assert.equal(calls, rejected)
  })

  test('inputs outside the table go to the native module and give its answers and errors', () => {
    const flagsOutside = [0x20, 0x40, 0x100, 0x10001, 0x10002, 0xf0004, 0x80000001, 0xffffffff, -1, -0x7fffffff, 0x1_0000_0000 - 2]
    const activityOutside = [0x10000, 0x100000, 0x1, 0x20001, 0xfff00000, 0xffffffff, -1, 0x80000000]
    const cases = []
    for (const flags of flagsOutside) for (const activity of [0, 0x20000, 0xe0000]) cases.push([flags, activity])
    for (const activity of activityOutside) for (const flags of [0, 1, 2, 4, 8, 16, 3]) cases.push([flags, activity])
    for (const [flags, activity] of cases) {
      for (let context = 0; context < 8; context++) {
        countNativeCalls()
        const got = lib(flags, activity, optionsOf(context))
        assert.deepEqual(got, core(flags, activity, context), `decide(${flags}, ${activity}, context ${context})`)
        assert.equal(nativeCalls, 1, `decide(${flags}, ${activity}) asked the native module`)
      }
      countNativeCalls()
      assert.deepEqual(lib(flags, activity), core(flags, activity, 0))
      assert.equal(nativeCalls, 1)
    }
  })

  test('bad arguments are still rejected before any table or native call', () => {
    countNativeCalls()
    for (const bad of ['1', 1.5, Number.NaN, null, {}, 2 ** 32, -(2 ** 31) - 1, 1n]) {
      assert.throws(() => mapi.decide(bad), bad === 1.5 || typeof bad === 'number' ? RangeError : TypeError)
      assert.throws(() => mapi.decide(1, bad), typeof bad === 'number' ? RangeError : TypeError)
    }
    const valueOf = { valueOf: () => assert.fail('valueOf called') }
    assert.throws(() => mapi.decide(valueOf), TypeError)
    assert.throws(() => mapi.decide(1, 0, { strict: 1 }), TypeError)
    assert.throws(() => mapi.decide(1, 0, { nope: true }), TypeError)
    assert.throws(() => mapi.decide(1, 0, null), TypeError)
    assert.equal(nativeCalls, 0)
  })

  test('each call returns a fresh, mutable object', () => {
    const a = mapi.decide(1, 0x20000)
    const b = mapi.decide(1, 0x20000)
    assert.notEqual(a, b)
    a.outFlags = 0
    assert.notEqual(mapi.decide(1, 0x20000).outFlags, 0)
  })
})

