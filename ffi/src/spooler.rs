//! The spooler handle (the MAPI side: IMAPISupport with the transports behind it) and its
//! options.

use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mapi_logoff::{Error, Result, Spooler, SpoolerOptions, StoreStats};

use crate::boundary::{ArcHandle, arg_bytes, arg_out, arg_str, hresult, opt_out};
use crate::callbacks::{
    CTransport, Ctx, mapi_logoff_cancel_fn, mapi_logoff_event_fn, mapi_logoff_flush_queues_fn,
    mapi_logoff_free_fn, subscriber,
};
use crate::consts::MAPI_LOGOFF_DEADLINE_DEFAULT;
use crate::store::mapi_logoff_store;
use crate::types::{mapi_logoff_hresult, mapi_logoff_ulong};

/// Options for `mapi_logoff_spooler_new_with_options`: a builder, freed with
/// `mapi_logoff_spooler_options_free`. Setters may be called from any thread.
pub struct mapi_logoff_spooler_options {
    options: Mutex<SpoolerOptions>,
}

impl ArcHandle for mapi_logoff_spooler_options {}

/// The spooler of one profile: serves stores, takes activity reports from transports and
/// carries out StoreLogoffTransports. Freed with `mapi_logoff_spooler_free`; stores opened on
/// it keep the spooler itself alive until they are finally released.
pub struct mapi_logoff_spooler {
    spooler: Spooler,
}

impl ArcHandle for mapi_logoff_spooler {}

/// A store's counters, as `mapi_logoff_spooler_stats` reports them. At every moment
/// `submitted == queued + sending + sent` and `receptions == receiving + received +
/// cancelled receptions` (`mapi_logoff_spooler_cancelled_receptions`; this struct keeps its
/// 0.2 layout).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct mapi_logoff_store_stats {
    /// Messages waiting in the outbound queue.
    pub queued: u64,
    /// Sends in flight.
    pub sending: u64,
    /// Receptions in flight.
    pub receiving: u64,
    /// Messages ever submitted.
    pub submitted: u64,
    /// Messages sent.
    pub sent: u64,
    /// Receptions ever begun.
    pub receptions: u64,
    /// Messages received.
    pub received: u64,
    /// The store's activity: LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE.
    pub activity: mapi_logoff_ulong,
    /// What may start: LOGOFF_INBOUND (receptions), LOGOFF_OUTBOUND (sends of queued
    /// messages), LOGOFF_OUTBOUND_QUEUE (submissions).
    pub allowed: mapi_logoff_ulong,
    /// Clients of this spooler holding the store open.
    pub clients: u32,
    /// The LOGOFF_* mode of a logoff under way (waiting for the store to drain), or 0.
    pub pending_mode: mapi_logoff_ulong,
    /// Whether the store has been released and not opened again.
    pub released: bool,
}

impl From<StoreStats> for mapi_logoff_store_stats {
    fn from(s: StoreStats) -> Self {
        mapi_logoff_store_stats {
            queued: s.queued,
            sending: s.sending,
            receiving: s.receiving,
            submitted: s.submitted,
            sent: s.sent,
            receptions: s.receptions,
            received: s.received,
            activity: s.activity().bits(),
            allowed: s.allowed.bits(),
            clients: s.clients,
            pending_mode: s.pending.map_or(0, |m| m.flag().bits()),
            released: s.released,
        }
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Creates an options builder with the defaults: PURGE deadline 30 s, close deadline 30 s,
/// lenient validation (as real MAPI), cross-process sharing on, registry in $MAPI_LOGOFF_RUNTIME_DIR (else
/// $XDG_RUNTIME_DIR/mapi-logoff, else the temp dir). On S_OK `*out` owns a new builder (free it
/// with mapi_logoff_spooler_options_free); otherwise `*out` is unchanged. `out` is required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_new(
    out: *mut *mut mapi_logoff_spooler_options,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's pointer contract.
        let out = unsafe { arg_out(out) }?;
        *out = mapi_logoff_spooler_options {
            options: Mutex::new(SpoolerOptions::default()),
        }
        .into_c();
        Ok(())
    })
}

/// Frees an options builder. NULL does nothing. Spoolers created from it are not affected.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_free(
    options: *mut mapi_logoff_spooler_options,
) {
    crate::boundary::value((), || {
        // SAFETY: the header's handle contract.
        unsafe { mapi_logoff_spooler_options::give_back(options) }
    })
}

fn set_option(
    options: *const mapi_logoff_spooler_options,
    f: impl FnOnce(&mut SpoolerOptions) -> Result<()>,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's handle contract.
        let options = unsafe { mapi_logoff_spooler_options::borrow(options) }?;
        let mut o = options.options.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut o)
    })
}

/// Sets how long a PURGE waits for the store's release before it returns MAPI_E_TIMEOUT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_set_purge_deadline_ms(
    options: *mut mapi_logoff_spooler_options,
    deadline_ms: u64,
) -> mapi_logoff_hresult {
    set_option(options, |o| {
        o.purge_deadline = millis(deadline_ms);
        Ok(())
    })
}

/// Sets how long mapi_logoff_spooler_close (with MAPI_LOGOFF_DEADLINE_DEFAULT) waits for open
/// stores to drain.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_set_close_deadline_ms(
    options: *mut mapi_logoff_spooler_options,
    deadline_ms: u64,
) -> mapi_logoff_hresult {
    set_option(options, |o| {
        o.close_deadline = millis(deadline_ms);
        Ok(())
    })
}

/// Opts in to strict validation for StoreLogoffTransports and for StoreLogoff of the stores
/// the spooler opens: exactly one mode flag, else MAPI_E_INVALID_PARAMETER. The default is
/// lenient, as real MAPI: no mode means ABORT, several mean the most cautious.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_set_strict(
    options: *mut mapi_logoff_spooler_options,
    strict: bool,
) -> mapi_logoff_hresult {
    set_option(options, |o| {
        o.strict = strict;
        Ok(())
    })
}

/// Turns sharing through the machine registry on (the default) or off. Off: only clients of
/// this spooler make a store shared, and no registry file is touched.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_set_cross_process(
    options: *mut mapi_logoff_spooler_options,
    cross_process: bool,
) -> mapi_logoff_hresult {
    set_option(options, |o| {
        o.cross_process = cross_process;
        Ok(())
    })
}

/// Sets the directory of the machine registry (a path, copied: any bytes but NUL on Unix,
/// UTF-8 elsewhere; empty is MAPI_E_INVALID_PARAMETER). NULL goes
/// back to the default ($MAPI_LOGOFF_RUNTIME_DIR, ...).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_options_set_runtime_dir(
    options: *mut mapi_logoff_spooler_options,
    dir: *const c_char,
) -> mapi_logoff_hresult {
    set_option(options, |o| {
        o.runtime_dir = if dir.is_null() {
            None
        } else {
            // SAFETY: the header's string contract.
            let path = unsafe { arg_bytes(dir) }?;
            if path.is_empty() {
                return Err(Error::InvalidParameter);
            }
            Some(path_from_bytes(path)?)
        };
        Ok(())
    })
}

/// A path from C: any bytes on Unix, UTF-8 elsewhere.
fn path_from_bytes(bytes: &[u8]) -> Result<PathBuf> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        let s = std::str::from_utf8(bytes).map_err(|_| Error::InvalidParameter)?;
        Ok(PathBuf::from(s))
    }
}

fn new_spooler(
    profile: *const c_char,
    options: SpoolerOptions,
    out: *mut *mut mapi_logoff_spooler,
) -> Result<()> {
    // SAFETY: the header's pointer contracts.
    let (profile, out) = unsafe { (arg_str(profile)?, arg_out(out)?) };
    let spooler = Spooler::with_options(profile, options)?;
    *out = mapi_logoff_spooler { spooler }.into_c();
    Ok(())
}

/// Creates the spooler of `profile` (a non-empty UTF-8 name) with the default options (see
/// mapi_logoff_spooler_options_new; cross-process sharing is on). On S_OK `*out` owns the new
/// spooler (free it with mapi_logoff_spooler_free); otherwise `*out` is unchanged.
/// MAPI_E_CALL_FAILED if the registry directory cannot be created.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_new(
    profile: *const c_char,
    out: *mut *mut mapi_logoff_spooler,
) -> mapi_logoff_hresult {
    hresult(|| new_spooler(profile, SpoolerOptions::default(), out))
}

/// As mapi_logoff_spooler_new, with `options` (copied; the builder stays the caller's).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_new_with_options(
    profile: *const c_char,
    options: *const mapi_logoff_spooler_options,
    out: *mut *mut mapi_logoff_spooler,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's handle contract.
        let options = unsafe { mapi_logoff_spooler_options::borrow(options) }?;
        let options = options
            .options
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        new_spooler(profile, options, out)
    })
}

/// Frees the caller's spooler handle. NULL does nothing. It neither closes the spooler nor
/// logs anything off: stores still open on it keep the spooler, its transports and its
/// subscribers alive until their final release (see mapi_logoff_spooler_close). The
/// registrations' free_ctx run when the spooler itself goes, which may be later and on
/// another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_free(spooler: *mut mapi_logoff_spooler) {
    crate::boundary::value((), || {
        // SAFETY: the header's handle contract.
        unsafe { mapi_logoff_spooler::give_back(spooler) }
    })
}

/// Runs `f` on the spooler behind a handle, for one call.
fn with_spooler(
    spooler: *const mapi_logoff_spooler,
    f: impl FnOnce(&Spooler) -> Result<()>,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's handle contract.
        let handle = unsafe { mapi_logoff_spooler::borrow(spooler) }?;
        f(&handle.spooler)
    })
}

/// Runs `f` on the spooler and a store id, for one activity report or read.
fn with_store_id(
    spooler: *const mapi_logoff_spooler,
    store_id: *const c_char,
    f: impl FnOnce(&Spooler, &str) -> Result<()>,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        // SAFETY: the header's string contract.
        let id = unsafe { arg_str(store_id) }?;
        f(sp, id)
    })
}

/// Sets the PURGE deadline (milliseconds) for logoffs that start from now on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_set_purge_deadline(
    spooler: *mut mapi_logoff_spooler,
    deadline_ms: u64,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        sp.set_purge_deadline(millis(deadline_ms));
        Ok(())
    })
}

/// Opens a client's handle on `store_id` (non-empty UTF-8; hex-encode a binary entry id),
/// reference count 1. Two open handles on one store id in one profile make a shared store.
/// On S_OK `*out` owns the handle (give it back with mapi_logoff_store_release); otherwise
/// `*out` is unchanged and nothing was opened. MAPI_E_INVALID_OBJECT once the spooler is
/// closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_open(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
    out: *mut *mut mapi_logoff_store,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| {
        // SAFETY: the header's pointer contract.
        let out = unsafe { arg_out(out) }?;
        let store = sp.open_store(id)?;
        *out = mapi_logoff_store::wrap(store);
        Ok(())
    })
}

/// A transport submitted a message to the store's outbound queue. MAPI_E_NO_ACCESS when new
/// submissions are closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_submit(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.submit(id))
}

/// A transport starts sending a queued message. MAPI_E_NO_ACCESS when sends are closed,
/// MAPI_E_NOT_FOUND when the queue is empty.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_begin_send(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.begin_send(id))
}

/// A send ended: `sent`, or not sent and back in the queue. MAPI_E_NOT_FOUND when no send is
/// in flight. May release a store whose logoff waited for it to drain.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_end_send(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
    sent: bool,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.end_send(id, sent))
}

/// A transport starts receiving a message into the store. MAPI_E_NO_ACCESS when receptions
/// are closed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_begin_receive(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.begin_receive(id))
}

/// A reception ended; the message is in the store. MAPI_E_NOT_FOUND when no reception is in
/// flight. May release a store whose logoff waited for it to drain.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_end_receive(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.end_receive(id))
}

/// An ABORT's cancel (or the transport's own choice) stopped a reception in flight: the
/// message stays at the server, to be delivered on a later logon, and is counted by
/// `mapi_logoff_spooler_cancelled_receptions`. MAPI_E_NOT_FOUND when no reception is in flight
/// (it ended meanwhile). May release a store whose logoff waited for it to drain.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_cancel_receive(
    spooler: *mut mapi_logoff_spooler,
    store_id: *const c_char,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| sp.cancel_receive(id))
}

/// Writes the number of the store's receptions cancelled in flight to `*count` (required); 0
/// for a store never mentioned. With `mapi_logoff_spooler_stats`:
/// `receptions == receiving + received + cancelled receptions`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_cancelled_receptions(
    spooler: *const mapi_logoff_spooler,
    store_id: *const c_char,
    count: *mut u64,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| {
        // SAFETY: the header's pointer contract.
        let count = unsafe { arg_out(count) }?;
        *count = sp.stats(id)?.cancelled_receptions;
        Ok(())
    })
}

/// Writes the store's activity (LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE; 0 for
/// a store never mentioned) to `*activity` (required).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_activity(
    spooler: *const mapi_logoff_spooler,
    store_id: *const c_char,
    activity: *mut mapi_logoff_ulong,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| {
        // SAFETY: the header's pointer contract.
        let activity = unsafe { arg_out(activity) }?;
        *activity = sp.activity(id)?.bits();
        Ok(())
    })
}

/// Writes the store's counters to `*stats` (required); all zero, gates closed, for a store
/// never mentioned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_stats(
    spooler: *const mapi_logoff_spooler,
    store_id: *const c_char,
    stats: *mut mapi_logoff_store_stats,
) -> mapi_logoff_hresult {
    with_store_id(spooler, store_id, |sp, id| {
        // SAFETY: the header's pointer contract.
        let stats = unsafe { arg_out(stats) }?;
        *stats = sp.stats(id)?.into();
        Ok(())
    })
}

/// Registers a transport: every PURGE calls `flush_queues(ctx, store_id, flush_flags)`. `ctx`
/// is the caller's; `free_ctx` (optional) frees it when the library no longer needs it (after
/// mapi_logoff_spooler_remove_transport, or when the spooler itself goes). On S_OK writes the
/// registration's id to `*id` (optional). `flush_queues` is required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_add_transport(
    spooler: *mut mapi_logoff_spooler,
    flush_queues: mapi_logoff_flush_queues_fn,
    ctx: *mut c_void,
    free_ctx: mapi_logoff_free_fn,
    id: *mut u64,
) -> mapi_logoff_hresult {
    // SAFETY: the same contract, with no cancel callback.
    unsafe { mapi_logoff_spooler_add_transport_ex(spooler, flush_queues, None, ctx, free_ctx, id) }
}

/// Registers a transport that may be able to cancel its transfers in flight: as
/// mapi_logoff_spooler_add_transport, plus `cancel` (optional; NULL means the transport cannot
/// cancel). An ABORT of a store with a transfer in flight, which refuses otherwise, calls every
/// transport's `cancel(ctx, store_id)` when every registered transport has one; if nothing is
/// in flight once they returned (within the spooler's deadline), the ABORT logs the store off
/// (out_flags LOGOFF_COMPLETE, with LOGOFF_OUTBOUND_QUEUE when messages wait, cancelled sends
/// among them) and returns. `flush_queues` is required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_add_transport_ex(
    spooler: *mut mapi_logoff_spooler,
    flush_queues: mapi_logoff_flush_queues_fn,
    cancel: mapi_logoff_cancel_fn,
    ctx: *mut c_void,
    free_ctx: mapi_logoff_free_fn,
    id: *mut u64,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        let callback = flush_queues.ok_or(Error::InvalidParameter)?;
        let transport = CTransport {
            callback,
            cancel,
            ctx: Ctx::new(ctx, free_ctx),
        };
        let new_id = sp.add_transport(Arc::new(transport));
        // SAFETY: the header's pointer contract.
        if let Some(id) = unsafe { opt_out(id) } {
            *id = new_id;
        }
        Ok(())
    })
}

/// Unregisters a transport: no new flush_queues call starts (one under way finishes), and its
/// free_ctx runs once none is running. MAPI_E_NOT_FOUND for an unknown id.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_remove_transport(
    spooler: *mut mapi_logoff_spooler,
    id: u64,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        sp.remove_transport(id).then_some(()).ok_or(Error::NotFound)
    })
}

/// Subscribes to the spooler's events: every decision, release, timeout, failed flush and
/// undrained store calls `on_event(ctx, event)`. `free_ctx` (optional) frees `ctx` when the
/// library no longer needs it. On S_OK writes the subscription's id to `*id` (optional).
/// `on_event` is required.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_subscribe(
    spooler: *mut mapi_logoff_spooler,
    on_event: mapi_logoff_event_fn,
    ctx: *mut c_void,
    free_ctx: mapi_logoff_free_fn,
    id: *mut u64,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        let callback = on_event.ok_or(Error::InvalidParameter)?;
        let new_id = sp.subscribe(subscriber(callback, Ctx::new(ctx, free_ctx)));
        // SAFETY: the header's pointer contract.
        if let Some(id) = unsafe { opt_out(id) } {
            *id = new_id;
        }
        Ok(())
    })
}

/// Ends a subscription: no new call starts (one under way finishes), and its free_ctx runs
/// once none is running. MAPI_E_NOT_FOUND for an unknown id.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_unsubscribe(
    spooler: *mut mapi_logoff_spooler,
    id: u64,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        sp.unsubscribe(id).then_some(()).ok_or(Error::NotFound)
    })
}

/// Closes the spooler: logs off, ORDERLY, every store still open or draining, and waits up to
/// `deadline_ms` (MAPI_LOGOFF_DEADLINE_DEFAULT: the spooler's close deadline) for them to
/// drain. What does not drain is reported (a MAPI_LOGOFF_EVENT_UNDRAINED event each), not
/// dropped. Writes the number of stores released and undrained to `*released` and
/// `*undrained` (both optional). While it waits, end_send and end_receive are still taken;
/// afterwards every call but the reads (activity, stats) fails with MAPI_E_INVALID_OBJECT, a
/// second close too. Stores still held are released as usual. The handle still needs
/// mapi_logoff_spooler_free.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_spooler_close(
    spooler: *mut mapi_logoff_spooler,
    deadline_ms: u64,
    released: *mut usize,
    undrained: *mut usize,
) -> mapi_logoff_hresult {
    with_spooler(spooler, |sp| {
        let report = if deadline_ms == MAPI_LOGOFF_DEADLINE_DEFAULT {
            sp.close()?
        } else {
            sp.close_within(millis(deadline_ms))?
        };
        // SAFETY: the header's pointer contract.
        unsafe {
            if let Some(n) = opt_out(released) {
                *n = report.released.len();
            }
            if let Some(n) = opt_out(undrained) {
                *n = report.undrained.len();
            }
        }
        Ok(())
    })
}
