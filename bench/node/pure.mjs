// A pure-JS decision table and store cycle, written for the benchmark only.
//
// This is what a test author without the library would write: SPEC sections 3 and 4 in
// plain JS, returning the same plain object as the package's `decide` ({ outFlags, release,
// flushFlags, allowed, waits }) and throwing an Error with the same `.code` for a rejected
// call. bench.mjs checks it against the shared fixture before timing it. Unlike the package
// it does not check the JS types of its arguments.
//
// PureSpooler is the idle path of the store cycle (open, StoreLogoff, final release): just
// enough of SPEC sections 5 and 6 for that path to do what the library does.

const INPUT_MASK = 0x1f
const OUTPUT_MASK = 0xf0000
const ACTIVITY_MASK = 0xe0000
const INBOUND = 0x20000
const OUTBOUND = 0x40000
const OUTBOUND_QUEUE = 0x80000
const IN_FLIGHT = INBOUND | OUTBOUND
const COMPLETE = 0x10000
const [NO_WAIT, ORDERLY, ABORT, QUIET] = [0x1, 0x2, 0x8, 0x10]
const MOST_CAUTIOUS_FIRST = [QUIET, ABORT, ORDERLY, NO_WAIT, 0x4]
const REFUSED = 0
const NOW = 1
const WHEN_DRAINED = 2

function fail(code) {
  const err = new Error(code)
  err.code = code
  return err
}

export function parseMode(flags, strict) {
  const mode = (flags & ~OUTPUT_MASK) >>> 0
  if (mode & ~INPUT_MASK) throw fail('MAPI_E_UNKNOWN_FLAGS')
  if (mode !== 0 && (mode & (mode - 1)) === 0) return mode
  if (strict) throw fail('MAPI_E_INVALID_PARAMETER')
  if (mode === 0) return ABORT
  return MOST_CAUTIOUS_FIRST.find((m) => mode & m)
}

function decision(outFlags, release, flushFlags, allowed, waits) {
  return { outFlags: outFlags >>> 0, release, flushFlags, allowed, waits }
}

export function decide(flags, activity = 0, options = undefined) {
  const shared = options?.shared ?? false
  const strict = options?.strict ?? false
  const cancellable = options?.cancellable ?? false
  const mode = parseMode(flags, strict)
  if (activity & ~ACTIVITY_MASK) throw fail('MAPI_E_UNKNOWN_FLAGS')
  const a = activity
  if (shared) return decision(COMPLETE, NOW, 0, ACTIVITY_MASK, false)
  switch (mode) {
    case QUIET:
      return a === 0 ? decision(COMPLETE, NOW, 0, 0, false) : decision(a, REFUSED, 0, ACTIVITY_MASK, false)
    case ABORT:
      return (a & IN_FLIGHT) === 0 || cancellable
        ? decision(COMPLETE | (a & OUTBOUND_QUEUE), NOW, 0, 0, false)
        : decision(a, REFUSED, 0, ACTIVITY_MASK, false)
    case ORDERLY:
      return decision(COMPLETE | a, a & IN_FLIGHT ? WHEN_DRAINED : NOW, 0, 0, false)
    case NO_WAIT:
      return decision(COMPLETE | a, a ? WHEN_DRAINED : NOW, 0, OUTBOUND, false)
    default: // PURGE
      return decision(COMPLETE | a, a ? WHEN_DRAINED : NOW, 0x2 | 0x10, OUTBOUND, true)
  }
}

/** `decide` on the C call's words, checking the context bits first. */
export function decideBits(flags, activity, context) {
  if (context & ~7) throw fail('MAPI_E_UNKNOWN_FLAGS')
  return decide(flags, activity, {
    shared: (context & 1) !== 0,
    strict: (context & 2) !== 0,
    cancellable: (context & 4) !== 0,
  })
}

class Entry {
  constructor() {
    this.queued = 0
    this.sending = 0
    this.receiving = 0
    this.clients = 0
    this.allowed = ACTIVITY_MASK
    this.released = false
  }

  activity() {
    return (this.receiving ? INBOUND : 0) | (this.sending ? OUTBOUND : 0) | (this.queued ? OUTBOUND_QUEUE : 0)
  }
}

class PureStore {
  #spooler
  #id
  #refs = 1
  #mode = 0

  constructor(spooler, id) {
    this.#spooler = spooler
    this.#id = id
  }

  logoff(flags) {
    if (this.#refs === 0) throw fail('MAPI_E_INVALID_OBJECT')
    this.#mode = parseMode(flags, false)
    return (this.#mode | this.#spooler.stores.get(this.#id).activity()) >>> 0
  }

  release() {
    if (this.#refs === 0) return 0
    this.#refs -= 1
    if (this.#refs === 0) this.#spooler.logoffTransports(this.#id, this.#mode || ABORT)
    return this.#refs
  }
}

export class PureSpooler {
  stores = new Map()

  openStore(id) {
    if (typeof id !== 'string' || id === '') throw fail('MAPI_E_INVALID_PARAMETER')
    let entry = this.stores.get(id)
    if (entry === undefined) {
      entry = new Entry()
      this.stores.set(id, entry)
    }
    entry.clients += 1
    entry.released = false
    entry.allowed = ACTIVITY_MASK
    return new PureStore(this, id)
  }

  logoffTransports(id, mode) {
    const entry = this.stores.get(id)
    const d = decide(mode, entry.activity(), { shared: entry.clients > 1 })
    if (d.release === NOW) {
      entry.clients -= 1
      if (entry.clients === 0) {
        entry.allowed = 0
        entry.released = true
      }
    } else if (d.release === WHEN_DRAINED) {
      entry.allowed = d.allowed
    }
    return d
  }
}
