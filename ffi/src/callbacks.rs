//! C callbacks as the core's traits: a caller-supplied Support, transports, subscribers.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use mapi_logoff::{Error, Event, EventKind, FlushFlags, Result, Subscriber, Support, Transport};

use crate::consts::{
    MAPI_LOGOFF_EVENT_CANCELLED, MAPI_LOGOFF_EVENT_DECIDED, MAPI_LOGOFF_EVENT_FLUSH_FAILED,
    MAPI_LOGOFF_EVENT_REFUSED, MAPI_LOGOFF_EVENT_REGISTRY_UNREADABLE,
    MAPI_LOGOFF_EVENT_RELEASE_DEFERRED, MAPI_LOGOFF_EVENT_RELEASED, MAPI_LOGOFF_EVENT_TIMED_OUT,
    MAPI_LOGOFF_EVENT_UNDRAINED,
};
use crate::decide::mapi_logoff_decision;
use crate::types::{mapi_logoff_hresult, mapi_logoff_ulong};

/// IMAPISupport::StoreLogoffTransports of a provider that runs under a real MAPI subsystem
/// (see `mapi_logoff_store_new`).
///
/// `flags` holds one LOGOFF_* mode on entry; write the decision's out_flags into it. Return
/// S_OK (or any success code) for a decided call, refused or not; MAPI_E_TIMEOUT with `flags`
/// written when a PURGE passed its deadline; any other failing HRESULT for a call that was
/// rejected (the library then restores `flags`). Called at most once per call of
/// `mapi_logoff_store_logoff_transports`, and exactly once by the final release unless a
/// logoff_transports already answered LOGOFF_COMPLETE. Runs on the thread of that call.
pub type mapi_logoff_store_logoff_transports_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, flags: *mut mapi_logoff_ulong) -> mapi_logoff_hresult,
>;

/// IXPLogon::FlushQueues of a transport (see `mapi_logoff_spooler_add_transport`): flush the
/// queues of `store_id` (valid until the callback returns) with `flush_flags` (FLUSH_*).
/// Return S_OK, or a failing HRESULT: a failure is reported as a MAPI_LOGOFF_EVENT_FLUSH_FAILED
/// event and does not stop the logoff. Runs on a thread of the library's own while the PURGE
/// caller waits (one deadline bounds both); a call still running when the deadline passes goes
/// on after the PURGE returned MAPI_E_TIMEOUT. It may report activity (for example end a send)
/// and read state.
pub type mapi_logoff_flush_queues_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut c_void,
        store_id: *const c_char,
        flush_flags: mapi_logoff_ulong,
    ) -> mapi_logoff_hresult,
>;

/// IXPLogon::TransportNotify(NOTIFY_CANCEL_MESSAGE) for every transfer of `store_id` (valid
/// until the callback returns) that the transport has in flight (see
/// `mapi_logoff_spooler_add_transport_ex`). Report each cancelled transfer before returning:
/// a send with `mapi_logoff_spooler_end_send(spooler, store_id, false)` (the message goes back
/// to the queue), a reception with `mapi_logoff_spooler_cancel_receive(spooler, store_id)` (the
/// message stays at the server, to be delivered on a later logon); MAPI_E_NOT_FOUND from
/// either means the transfer ended meanwhile. Return S_OK, or a failing HRESULT: a failure,
/// or no answer within the spooler's deadline (the PURGE deadline), leaves what is still in
/// flight counted as not cancellable, and the ABORT refuses. Called by an ABORT of a store
/// with transfers in flight when every registered transport has a cancel callback, on a
/// thread of the library's own while the ABORT's caller waits, with no lock of the library
/// held.
pub type mapi_logoff_cancel_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, store_id: *const c_char) -> mapi_logoff_hresult>;

/// An event subscriber (see `mapi_logoff_spooler_subscribe`). `event` and its strings are
/// valid until the callback returns. Runs on the thread that caused the event, with no lock of
/// the library held: it may call back into the library.
pub type mapi_logoff_event_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, event: *const mapi_logoff_event)>;

/// Frees a callback's `ctx`. Called exactly once, on any thread, when the library holds no
/// more reference to `ctx`: after the registration was removed (or its spooler or store went)
/// and every call of the callback has returned. That can be after the call that removed or
/// freed it has returned (a PURGE's flush thread may hold the spooler a moment longer), so
/// free `ctx` here rather than after that call. It must not call into the library.
pub type mapi_logoff_free_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

/// One event of a spooler, as a subscriber receives it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mapi_logoff_event {
    /// What happened: a MAPI_LOGOFF_EVENT_* value.
    pub kind: u32,
    /// The store (UTF-8, never NULL).
    pub store_id: *const c_char,
    /// The LOGOFF_* input mode of the logoff this event belongs to, or 0.
    pub mode_flag: mapi_logoff_ulong,
    /// The decision's out_flags; the store's activity for MAPI_LOGOFF_EVENT_UNDRAINED.
    pub out_flags: mapi_logoff_ulong,
    /// Whether `decision` is set (MAPI_LOGOFF_EVENT_DECIDED and _REFUSED).
    pub has_decision: bool,
    /// The decision, when `has_decision`; all zero otherwise.
    pub decision: mapi_logoff_decision,
    /// A human-readable detail (how a release came about, a failing transport's error), or
    /// NULL.
    pub detail: *const c_char,
}

/// A caller's `ctx`, freed with its `free` function once the library drops it.
pub(crate) struct Ctx {
    ptr: *mut c_void,
    free: mapi_logoff_free_fn,
}

// SAFETY: the header documents that callbacks, and so their ctx, are used from any thread,
// concurrently; a caller who registers one accepts that.
unsafe impl Send for Ctx {}
// SAFETY: as above.
unsafe impl Sync for Ctx {}

impl Ctx {
    pub(crate) fn new(ptr: *mut c_void, free: mapi_logoff_free_fn) -> Ctx {
        Ctx { ptr, free }
    }

    /// The caller's pointer (a method, so closures capture the whole `Ctx`, not the field).
    fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the caller's function, called once with its own ctx.
            unsafe { free(self.ptr) }
        }
    }
}

/// A C string for a callback; interior NULs (impossible for ids that came from C) become
/// U+FFFD rather than cutting the string short.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{FFFD}")).expect("no NUL left"))
}

/// The core's view of an HRESULT a callback returned.
fn from_callback(hr: mapi_logoff_hresult) -> Result<()> {
    if hr >= 0 {
        Ok(())
    } else {
        Err(Error::from_hresult(hr).unwrap_or(Error::CallFailed))
    }
}

thread_local! {
    /// The failing HRESULT a C support returned that the core has no variant for: the
    /// store's logoff_transports hands it back to its caller unchanged.
    static FOREIGN_HRESULT: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Takes the foreign HRESULT the last support call on this thread left, if any.
pub(crate) fn take_foreign_hresult() -> Option<i32> {
    FOREIGN_HRESULT.with(Cell::take)
}

/// A Support made of a C callback.
pub(crate) struct CSupport {
    pub(crate) callback:
        unsafe extern "C" fn(*mut c_void, *mut mapi_logoff_ulong) -> mapi_logoff_hresult,
    pub(crate) ctx: Ctx,
}

impl Support for CSupport {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        let before = *flags;
        // SAFETY: the caller's function with its own ctx and a valid in/out flags word.
        let hr = unsafe { (self.callback)(self.ctx.ptr(), flags) };
        let result = from_callback(hr);
        match result {
            Ok(()) | Err(Error::Timeout) => {}
            Err(_) => {
                // A rejected call changes nothing, even if the callback wrote the flags.
                *flags = before;
                if Error::from_hresult(hr).is_none() {
                    FOREIGN_HRESULT.with(|f| f.set(Some(hr)));
                }
            }
        }
        result
    }
}

/// A Transport made of C callbacks.
pub(crate) struct CTransport {
    pub(crate) callback:
        unsafe extern "C" fn(*mut c_void, *const c_char, mapi_logoff_ulong) -> mapi_logoff_hresult,
    /// The transport can cancel its transfers in flight.
    pub(crate) cancel:
        Option<unsafe extern "C" fn(*mut c_void, *const c_char) -> mapi_logoff_hresult>,
    pub(crate) ctx: Ctx,
}

impl Transport for CTransport {
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> Result<()> {
        let id = c_string(store_id);
        // SAFETY: the caller's function with its own ctx; `id` outlives the call.
        let hr = unsafe { (self.callback)(self.ctx.ptr(), id.as_ptr(), flags.bits()) };
        from_callback(hr)
    }

    fn can_cancel(&self, _store_id: &str) -> bool {
        self.cancel.is_some()
    }

    fn cancel(&self, store_id: &str) -> Result<()> {
        let cancel = self.cancel.ok_or(Error::NoSupport)?;
        let id = c_string(store_id);
        // SAFETY: the caller's function with its own ctx; `id` outlives the call.
        from_callback(unsafe { cancel(self.ctx.ptr(), id.as_ptr()) })
    }
}

/// The C value of an event kind.
pub(crate) fn event_kind(kind: EventKind) -> u32 {
    match kind {
        EventKind::Decided => MAPI_LOGOFF_EVENT_DECIDED,
        EventKind::Refused => MAPI_LOGOFF_EVENT_REFUSED,
        EventKind::Released => MAPI_LOGOFF_EVENT_RELEASED,
        EventKind::ReleaseDeferred => MAPI_LOGOFF_EVENT_RELEASE_DEFERRED,
        EventKind::TimedOut => MAPI_LOGOFF_EVENT_TIMED_OUT,
        EventKind::FlushFailed => MAPI_LOGOFF_EVENT_FLUSH_FAILED,
        EventKind::Undrained => MAPI_LOGOFF_EVENT_UNDRAINED,
        EventKind::RegistryUnreadable => MAPI_LOGOFF_EVENT_REGISTRY_UNREADABLE,
        EventKind::Cancelled => MAPI_LOGOFF_EVENT_CANCELLED,
    }
}

/// Every event kind, in the order of their C values (1, 2, ...).
pub(crate) const EVENT_KINDS: [EventKind; 9] = [
    EventKind::Decided,
    EventKind::Refused,
    EventKind::Released,
    EventKind::ReleaseDeferred,
    EventKind::TimedOut,
    EventKind::FlushFailed,
    EventKind::Undrained,
    EventKind::RegistryUnreadable,
    EventKind::Cancelled,
];

/// A subscriber made of a C callback.
pub(crate) fn subscriber(
    callback: unsafe extern "C" fn(*mut c_void, *const mapi_logoff_event),
    ctx: Ctx,
) -> Subscriber {
    Arc::new(move |e: &Event| {
        let store_id = c_string(&e.store_id);
        let detail = e.detail.as_deref().map(c_string);
        let event = mapi_logoff_event {
            kind: event_kind(e.kind),
            store_id: store_id.as_ptr(),
            mode_flag: e.mode.map_or(0, |m| m.flag().bits()),
            out_flags: e.out_flags.bits(),
            has_decision: e.decision.is_some(),
            decision: e.decision.map(Into::into).unwrap_or_default(),
            detail: detail.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
        };
        // SAFETY: the caller's function with its own ctx; the strings outlive the call.
        unsafe { callback(ctx.ptr(), &event) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_are_numbered_in_order() {
        for (i, kind) in EVENT_KINDS.iter().enumerate() {
            assert_eq!(event_kind(*kind), i as u32 + 1);
        }
    }

    #[test]
    fn callback_hresults() {
        assert_eq!(from_callback(0), Ok(()));
        assert_eq!(from_callback(1), Ok(()), "S_FALSE is a success");
        assert_eq!(from_callback(Error::Timeout.hresult()), Err(Error::Timeout));
        assert_eq!(
            from_callback(0x8004_0115_u32 as i32),
            Err(Error::CallFailed)
        );
    }

    #[test]
    fn c_string_never_truncates() {
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\u{FFFD}b");
    }
}
