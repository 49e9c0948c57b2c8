// Type-checked by `npm run lint` (tsc --noEmit), never run: the typings of the public
// API as a TypeScript user meets them, with isolatedModules on.
import {
  decide,
  FlushFlags,
  HResult,
  type LogoffEvent,
  LogoffFlags,
  MapiError,
  type MapiErrorCode,
  Release,
  type ReleaseValue,
  Spooler,
  type Store,
  type StoreStats,
  type Transport,
} from 'mapi-logoff'

// Flags are literal-typed constants (`as const`), usable as values and as types.
const purge: 0x4 = LogoffFlags.PURGE
const upload: 2 = FlushFlags.UPLOAD
const drained: ReleaseValue = Release.WHEN_DRAINED
const invalid: 0x80070057 = HResult.MAPI_E_INVALID_PARAMETER
// @ts-expect-error: the flag objects are read-only
LogoffFlags.PURGE = 8
// @ts-expect-error: no such flag
void LogoffFlags.FLUSH

const d = decide(LogoffFlags.ORDERLY | LogoffFlags.PURGE, LogoffFlags.INBOUND, { strict: false, cancellable: true })
const release: ReleaseValue = d.release
const waits: boolean = d.waits
const n: number = d.outFlags + d.flushFlags + d.allowed
// @ts-expect-error: options are shared, strict and cancellable only
decide(LogoffFlags.QUIET, 0, { lenient: true })
// @ts-expect-error: flags are numbers
decide('PURGE')

const spooler = new Spooler('profile', { purgeDeadlineMs: 5000, crossProcess: false })
const store: Store = spooler.openStore('inbox')
const transport: Transport = {
  flushQueues(storeId: string, flushFlags: number): void {
    if (flushFlags & FlushFlags.UPLOAD) spooler.endSend(storeId)
  },
}
spooler.addTransport(transport)
const cancelling: Transport = {
  flushQueues(): void {},
  async cancel(storeId: string): Promise<void> {
    spooler.endSend(storeId, false)
    spooler.cancelReceive(storeId)
  },
}
spooler.addTransport(cancelling)
const cancelled: number = spooler.stats('inbox').cancelledReceptions
void cancelled
spooler.addTransport(async (storeId) => {
  spooler.endReceive(storeId)
})
const subscription: number = spooler.subscribe((e: LogoffEvent) => {
  const kind:
    | 'decided'
    | 'refused'
    | 'released'
    | 'release_deferred'
    | 'timed_out'
    | 'flush_failed'
    | 'undrained'
    | 'registry_unreadable'
    | 'cancelled' = e.kind
  const mode: number | null = e.mode
  const detail: string | null = e.detail
  void [kind, mode, detail, e.decision?.release]
})
spooler.unsubscribe(subscription)
const stats: StoreStats = spooler.stats('inbox')
const pending: number | null = stats.pending

async function shutdown(s: Store): Promise<number> {
  const activity: number = s.logoff(LogoffFlags.PURGE)
  try {
    return await s.logoffTransportsAsync(LogoffFlags.PURGE)
  } catch (err) {
    if (err instanceof MapiError) {
      const code: MapiErrorCode = err.code
      const hresult: number = err.hresult
      const out: number | undefined = err.outFlags
      void [code, hresult, out, activity]
    }
    throw err
  } finally {
    await s.releaseAsync()
    const report = await spooler.closeAsync()
    for (const u of report.undrained) void [u.storeId, u.activity]
  }
}

// @ts-expect-error: stores come from openStore
new (store.constructor as typeof Store)()

void [purge, upload, drained, invalid, release, waits, n, pending, shutdown(store)]
