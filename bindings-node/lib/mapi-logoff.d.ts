// Types of the public API (lib/mapi-logoff.js). The values below are the MAPI constants;
// test/constants.test.mjs checks that they equal what the library exports at run time.

/** `ulFlags` of StoreLogoff / StoreLogoffTransports: five input modes and four output bits. */
export declare const LogoffFlags: {
  readonly NO_WAIT: 0x1
  readonly ORDERLY: 0x2
  readonly PURGE: 0x4
  readonly ABORT: 0x8
  readonly QUIET: 0x10
  readonly COMPLETE: 0x10000
  readonly INBOUND: 0x20000
  readonly OUTBOUND: 0x40000
  readonly OUTBOUND_QUEUE: 0x80000
}
export type LogoffFlag = (typeof LogoffFlags)[keyof typeof LogoffFlags]

/** `ulFlags` of IXPLogon::FlushQueues. */
export declare const FlushFlags: {
  readonly UPLOAD: 0x2
  readonly DOWNLOAD: 0x4
  readonly FORCE: 0x8
  readonly NO_UI: 0x10
}
export type FlushFlag = (typeof FlushFlags)[keyof typeof FlushFlags]

/** What a decision does to the store. */
export declare const Release: {
  readonly REFUSED: 0
  readonly NOW: 1
  readonly WHEN_DRAINED: 2
}
export type ReleaseValue = (typeof Release)[keyof typeof Release]

/** `S_OK` and the MAPI HRESULTs of the protocol, as unsigned 32-bit numbers. */
export declare const HResult: {
  readonly S_OK: 0
  readonly MAPI_E_CALL_FAILED: 0x80004005
  readonly MAPI_E_NO_SUPPORT: 0x80040102
  readonly MAPI_E_UNKNOWN_FLAGS: 0x80040106
  readonly MAPI_E_INVALID_OBJECT: 0x80040108
  readonly MAPI_E_BUSY: 0x8004010b
  readonly MAPI_E_NOT_FOUND: 0x8004010f
  readonly MAPI_E_TIMEOUT: 0x80040401
  readonly MAPI_E_NO_ACCESS: 0x80070005
  readonly MAPI_E_NOT_ENOUGH_MEMORY: 0x8007000e
  readonly MAPI_E_INVALID_PARAMETER: 0x80070057
}
export type MapiErrorCode = Exclude<keyof typeof HResult, 'S_OK'>

/** A failing MAPI HRESULT. */
export declare class MapiError extends Error {
  constructor(code: MapiErrorCode, message?: string, options?: { cause?: unknown })
  /** The HRESULT's name: `'MAPI_E_INVALID_PARAMETER'`, … */
  readonly code: MapiErrorCode
  /** The HRESULT's 32 bits as an unsigned number: `0x80070057`, … */
  readonly hresult: number
  /** On `MAPI_E_TIMEOUT` from a PURGE: the out flags the call wrote. */
  outFlags?: number
  /** The error for an HRESULT (unsigned or negative); `MAPI_E_CALL_FAILED` if unknown. */
  static fromHresult(hresult: number): MapiError
}

/** One row of the decision table. */
export interface Decision {
  /** Written back to the caller's flags. */
  outFlags: number
  /** `Release.REFUSED`, `NOW` or `WHEN_DRAINED`. */
  release: ReleaseValue
  /** Passed to every transport's flushQueues; 0 means no call. */
  flushFlags: number
  /** What may still start: `LogoffFlags.INBOUND | OUTBOUND | OUTBOUND_QUEUE` bits. */
  allowed: number
  /** Whether control returns only once the store is released. */
  waits: boolean
}

export interface DecideOptions {
  /** Another client has the same store open. */
  shared?: boolean
  /** Strict validation: exactly one mode flag. Without it, no flag means ABORT and several mean the most cautious. */
  strict?: boolean
  /** Every transfer in flight can be cancelled: ABORT cancels them and logs off. */
  cancellable?: boolean
}

/** The decision table: what StoreLogoffTransports decides for `flags` and `activity`. */
export declare function decide(flags: number, activity?: number, options?: DecideOptions): Decision

export interface SpoolerOptions {
  /** How long a PURGE waits for the store's release (default 30000). */
  purgeDeadlineMs?: number
  /** How long close() waits for open stores to drain (default 30000). */
  closeDeadlineMs?: number
  /** Strict validation of the logoff flags (default false: lenient, as real MAPI). */
  strict?: boolean
  /** Share open stores with spoolers of other processes (default true). */
  crossProcess?: boolean
  /** Where the machine registry lives (default `$MAPI_LOGOFF_RUNTIME_DIR`, …). */
  runtimeDir?: string
}

/**
 * A store's counters: `submitted == queued + sending + sent`,
 * `receptions == receiving + received + cancelledReceptions`.
 */
export interface StoreStats {
  queued: number
  sending: number
  receiving: number
  submitted: number
  sent: number
  receptions: number
  received: number
  /** Receptions cancelled in flight by an ABORT: the messages stay at the server. */
  cancelledReceptions: number
  /** What may start: `LogoffFlags.INBOUND | OUTBOUND | OUTBOUND_QUEUE` bits. */
  allowed: number
  /** The activity: `LogoffFlags.INBOUND | OUTBOUND | OUTBOUND_QUEUE` bits. */
  activity: number
  /** Clients of this spooler holding the store open. */
  clients: number
  /** Whether the store has been released and not opened again. */
  released: boolean
  /** The mode flag of a logoff under way (waiting for the store to drain), or null. */
  pending: number | null
}

export type EventKind =
  | 'decided'
  | 'refused'
  | 'released'
  | 'release_deferred'
  | 'timed_out'
  | 'flush_failed'
  | 'undrained'
  | 'registry_unreadable'
  | 'cancelled'

/** One thing that happened to a store. */
export interface LogoffEvent {
  kind: EventKind
  storeId: string
  /** The input mode's flag (`LogoffFlags.PURGE`, …), or null. */
  mode: number | null
  /** The decision's out flags, or the activity for `undrained`. */
  outFlags: number
  /** The decision, for `decided` and `refused`. */
  decision: Decision | null
  /** How a release came about, which transport failed and how, what was cancelled, … */
  detail: string | null
}

/**
 * A transport provider: PURGE calls its flushQueues (IXPLogon::FlushQueues); an ABORT of a
 * store with transfers in flight calls its cancel, if it has one and every transport does
 * (IXPLogon::TransportNotify with NOTIFY_CANCEL_MESSAGE).
 */
export interface Transport {
  /**
   * Flush the queues of `storeId`. Throw (or reject with) a MapiError to fail with its
   * HRESULT; anything else thrown fails with MAPI_E_CALL_FAILED and is also reported
   * as a process warning. Either way the logoff goes on.
   */
  flushQueues(storeId: string, flushFlags: number): void | Promise<void>
  /**
   * Optional: cancel this transport's transfers of `storeId` in flight, reporting each
   * before returning (or before the Promise settles): `spooler.endSend(storeId, false)` for
   * a send (back in the queue), `spooler.cancelReceive(storeId)` for a reception (left at
   * the server). Throwing, rejecting or not settling within the spooler's PURGE deadline
   * makes an ABORT with a transfer still in flight refuse. Runs on the JS thread, so only
   * the *Async forms (logoffTransportsAsync, releaseAsync) can wait for it: a synchronous
   * ABORT on the JS thread refuses (MAPI_E_BUSY in the refusal's detail).
   */
  cancel?(storeId: string): void | Promise<void>
}

export type FlushQueuesFunction = (storeId: string, flushFlags: number) => void | Promise<void>

export interface CloseReport {
  /** Stores released by the close. */
  released: string[]
  /** Stores that did not drain within the deadline, with their activity. */
  undrained: { storeId: string; activity: number }[]
}

/** The MAPI spooler of one profile (the IMAPISupport side). */
export declare class Spooler {
  constructor(profile: string, options?: SpoolerOptions)
  readonly profile: string
  readonly closed: boolean
  readonly purgeDeadlineMs: number
  setPurgeDeadline(ms: number): void
  openStore(storeId: string): Store
  submit(storeId: string): void
  beginSend(storeId: string): void
  endSend(storeId: string, sent?: boolean): void
  beginReceive(storeId: string): void
  endReceive(storeId: string): void
  /** A reception in flight was cancelled: the message stays at the server. */
  cancelReceive(storeId: string): void
  activity(storeId: string): number
  stats(storeId: string): StoreStats
  storeIds(): string[]
  addTransport(transport: Transport | FlushQueuesFunction): number
  removeTransport(id: number): boolean
  subscribe(subscriber: (event: LogoffEvent) => void | Promise<void>): number
  unsubscribe(id: number): boolean
  /** Blocks the event loop while it waits: prefer closeAsync(). */
  close(): CloseReport
  closeAsync(): Promise<CloseReport>
}

/** A client's handle on a message store (the IMsgStore side). */
export declare class Store {
  private constructor()
  readonly storeId: string | null
  readonly refCount: number
  readonly valid: boolean
  readonly savedMode: number | null
  readonly strict: boolean
  setStrict(strict: boolean): void
  /** StoreLogoff: saves the mode, returns the mode with the activity. */
  logoff(flags: number): number
  /** StoreLogoffTransports; a PURGE blocks the event loop while it waits. */
  logoffTransports(flags: number): number
  logoffTransportsAsync(flags: number): Promise<number>
  addRef(): number
  release(): number
  releaseAsync(): Promise<number>
}
