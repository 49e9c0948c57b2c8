// Shared test helpers: paths, spoolers that never meet other test runs, error checks
// and an event recorder.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const require = createRequire(import.meta.url)
export const mapi = require('mapi-logoff')
export const native = require('../index.js')

export const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..')
export const REPO_DIR = join(PACKAGE_DIR, '..')

export function readFixture() {
  return JSON.parse(readFileSync(join(REPO_DIR, 'tests/fixtures/decision_table.json'), 'utf8'))
}

let profiles = 0
/** A spooler of a fresh profile, in-process only unless options say otherwise. */
export function newSpooler(options = {}) {
  profiles += 1
  return new mapi.Spooler(`node-test-${process.pid}-${profiles}`, { crossProcess: false, ...options })
}

/** A fresh directory for the machine registry. */
export function runtimeDir() {
  return mkdtempSync(join(tmpdir(), 'mapi-logoff-node-'))
}

/** Asserts that `fn()` throws a MapiError with `code`; returns the error. */
export function throwsMapi(fn, code) {
  let caught
  assert.throws(fn, (err) => {
    caught = err
    return true
  })
  assertMapi(caught, code)
  return caught
}

export async function rejectsMapi(promise, code) {
  let caught
  await assert.rejects(promise, (err) => {
    caught = err
    return true
  })
  assertMapi(caught, code)
  return caught
}

export function assertMapi(err, code) {
  assert.ok(err instanceof mapi.MapiError, `expected a MapiError, got ${err}`)
  assert.ok(err instanceof Error)
  assert.equal(err.code, code)
  assert.equal(err.hresult, mapi.HResult[code])
  assert.match(err.message, new RegExp(`^${code}`))
}

const subscriptions = []

/** Subscribes `fn`, to be ended by `unsubscribeAll()`: a subscription keeps the process alive. */
export function subscribe(spooler, fn) {
  const id = spooler.subscribe(fn)
  subscriptions.push([spooler, id])
  return id
}

/** Ends every subscription made through `subscribe` or `recordEvents` (use in `after`). */
export function unsubscribeAll() {
  for (const [spooler, id] of subscriptions.splice(0)) spooler.unsubscribe(id)
}

/** Records a spooler's events; `next(pred)` resolves with the first match (past or future). */
export function recordEvents(spooler) {
  const events = []
  const waiters = []
  subscribe(spooler, (e) => {
    events.push(e)
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(e)
      }
    }
  })
  return {
    events,
    next(pred) {
      const seen = events.find(pred)
      if (seen) return Promise.resolve(seen)
      return new Promise((resolve) => waiters.push({ pred, resolve }))
    },
    kinds(storeId) {
      return events.filter((e) => storeId === undefined || e.storeId === storeId).map((e) => e.kind)
    },
  }
}

/** Collects process warnings of this library while the test runs. */
export function recordWarnings(t) {
  const warnings = []
  const listener = (w) => {
    if (w.code === 'MAPI_LOGOFF_CALLBACK_FAILED') warnings.push(w)
  }
  process.on('warning', listener)
  t.after(() => process.off('warning', listener))
  return warnings
}

/** Resolves after the event loop has turned `n` times through setImmediate. */
export async function turns(n = 1) {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
}
