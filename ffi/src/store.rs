//! The store handle (the provider side: IMsgStore::StoreLogoff, IUnknown::AddRef/Release).

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mapi_logoff::{Error, Result, Store};

use crate::boundary::{ArcHandle, arg_out, hresult, value};
use crate::callbacks::{
    CSupport, Ctx, mapi_logoff_free_fn, mapi_logoff_store_logoff_transports_fn,
    take_foreign_hresult,
};
use crate::consts::MAPI_LOGOFF_STORE_STRICT;
use crate::types::{mapi_logoff_hresult, mapi_logoff_ulong};

/// A client's handle on a message store, reference counted like a COM object: it is created
/// with count 1 (mapi_logoff_store_open, mapi_logoff_store_new), mapi_logoff_store_add_ref adds
/// one, and the mapi_logoff_store_release that brings the count to 0 logs the store off and
/// frees the handle.
pub struct mapi_logoff_store {
    store: Store,
    /// C's reference has been given back: set by the first release that returned 0.
    given_back: AtomicBool,
}

impl ArcHandle for mapi_logoff_store {}

impl mapi_logoff_store {
    pub(crate) fn wrap(store: Store) -> *mut mapi_logoff_store {
        mapi_logoff_store {
            store,
            given_back: AtomicBool::new(false),
        }
        .into_c()
    }
}

/// Runs `f` on the store behind a handle, for one call.
fn with_store(
    store: *const mapi_logoff_store,
    f: impl FnOnce(&Store) -> Result<()>,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's handle contract.
        let handle = unsafe { mapi_logoff_store::borrow(store) }?;
        f(&handle.store)
    })
}

/// Creates a store handle (count 1) on a caller-supplied support: for a provider that runs
/// under a real MAPI subsystem, which owns its own spooler. `store_logoff_transports` (required)
/// is called with `ctx` by mapi_logoff_store_logoff_transports and by the final release;
/// `free_ctx` (optional) frees `ctx` once the handle is gone and no call is running.
/// `store_flags` is 0 (lenient validation of StoreLogoff's flags, as real MAPI) or
/// MAPI_LOGOFF_STORE_STRICT; any other bit is MAPI_E_UNKNOWN_FLAGS. On S_OK `*out` owns the
/// handle; otherwise `*out` is unchanged and `free_ctx` is not called. StoreLogoff on such a
/// store writes back only the mode's flag: the store cannot know the activity.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_new(
    store_logoff_transports: mapi_logoff_store_logoff_transports_fn,
    ctx: *mut c_void,
    free_ctx: mapi_logoff_free_fn,
    store_flags: mapi_logoff_ulong,
    out: *mut *mut mapi_logoff_store,
) -> mapi_logoff_hresult {
    hresult(|| {
        let callback = store_logoff_transports.ok_or(Error::InvalidParameter)?;
        if store_flags & !MAPI_LOGOFF_STORE_STRICT != 0 {
            return Err(Error::UnknownFlags);
        }
        // SAFETY: the header's pointer contract.
        let out = unsafe { arg_out(out) }?;
        let support = CSupport {
            callback,
            ctx: Ctx::new(ctx, free_ctx),
        };
        let strict = store_flags & MAPI_LOGOFF_STORE_STRICT != 0;
        *out = mapi_logoff_store::wrap(Store::new_with_validation(Arc::new(support), strict));
        Ok(())
    })
}

/// A reference count as C sees it: the core's never overflows, C's saturates at UINT32_MAX.
fn ref_count_for_c(refs: u64) -> mapi_logoff_ulong {
    mapi_logoff_ulong::try_from(refs).unwrap_or(mapi_logoff_ulong::MAX)
}

/// IUnknown::AddRef: the new reference count, reported saturated at UINT32_MAX (the count
/// itself is 64 bits wide and never overflows, so a release never comes early). 0 (and no
/// change) for NULL or a handle whose count already reached 0 in a release still under way.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_add_ref(
    store: *mut mapi_logoff_store,
) -> mapi_logoff_ulong {
    value(0, || {
        // SAFETY: the header's handle contract.
        unsafe { mapi_logoff_store::borrow(store) }
            .map_or(0, |h| ref_count_for_c(h.store.add_ref()))
    })
}

/// IUnknown::Release: the new reference count (saturated at UINT32_MAX); 0 for NULL. The release that brings the count
/// to 0 calls StoreLogoffTransports exactly once, under any interleaving of threads, with the
/// mode saved by mapi_logoff_store_logoff (LOGOFF_ABORT if none), unless a logoff_transports
/// already answered LOGOFF_COMPLETE; it waits if that mode is PURGE. The handle is then freed:
/// once a release returned 0, no call may start on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_release(
    store: *mut mapi_logoff_store,
) -> mapi_logoff_ulong {
    value(0, || {
        // SAFETY: the header's handle contract.
        let Ok(handle) = (unsafe { mapi_logoff_store::borrow(store) }) else {
            return 0;
        };
        let left = handle.store.release();
        if left == 0 && !handle.given_back.swap(true, Ordering::AcqRel) {
            // SAFETY: C's one reference, given back once (the swap); `handle` keeps the
            // object alive until this call returns.
            unsafe { mapi_logoff_store::give_back(store) };
        }
        ref_count_for_c(left)
    })
}

/// IMsgStore::StoreLogoff: validates `*flags` (output bits are ignored; lenient by default: no
/// mode means LOGOFF_ABORT, several mean the most cautious; strict: exactly one mode), saves
/// the mode for the final release (a later call overwrites it) and writes back the mode's flag
/// with the store's current activity, `mode | activity` (just the mode on a store from
/// mapi_logoff_store_new), so a caller that reuses one variable across stores asks each for
/// the same mode. It logs nothing off. `flags` is required; on failure it is unchanged.
/// Returns only S_OK, MAPI_E_UNKNOWN_FLAGS, MAPI_E_INVALID_PARAMETER (NULL, or strict
/// validation), MAPI_E_INVALID_OBJECT (after a logoff_transports answered LOGOFF_COMPLETE)
/// or MAPI_E_CALL_FAILED.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_logoff(
    store: *mut mapi_logoff_store,
    flags: *mut mapi_logoff_ulong,
) -> mapi_logoff_hresult {
    with_store(store, |s| {
        // SAFETY: the header's pointer contract.
        let flags = unsafe { arg_out(flags) }?;
        s.logoff(flags)
    })
}

/// Calls StoreLogoffTransports now, on behalf of the provider (the order "Shutting Down a
/// Message Store Provider" describes). `*flags` holds one LOGOFF_* mode on entry and the
/// decision's out_flags on return (also with MAPI_E_TIMEOUT, when a PURGE passed the deadline);
/// on any other failure it is unchanged. A PURGE waits for the release. If the answer is
/// LOGOFF_COMPLETE the handle is invalidated: every later call but add_ref/release fails with
/// MAPI_E_INVALID_OBJECT, and the final release calls nothing. MAPI_E_BUSY while another
/// logoff_transports of the handle is under way. On a store from mapi_logoff_store_new, a
/// failing HRESULT of the callback is returned as it is.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_logoff_transports(
    store: *mut mapi_logoff_store,
    flags: *mut mapi_logoff_ulong,
) -> mapi_logoff_hresult {
    value(Error::CallFailed.hresult(), || {
        take_foreign_hresult();
        let hr = with_store(store, |s| {
            // SAFETY: the header's pointer contract.
            let flags = unsafe { arg_out(flags) }?;
            s.logoff_transports(flags)
        });
        match take_foreign_hresult() {
            Some(foreign) if hr == Error::CallFailed.hresult() => foreign,
            _ => hr,
        }
    })
}

/// Opts this handle in to (or out of) strict validation of its StoreLogoff flags (exactly one
/// mode flag, else MAPI_E_INVALID_PARAMETER). MAPI_E_INVALID_OBJECT after a logoff_transports
/// answered LOGOFF_COMPLETE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_set_strict(
    store: *mut mapi_logoff_store,
    strict: bool,
) -> mapi_logoff_hresult {
    with_store(store, |s| {
        if !s.is_valid() {
            return Err(Error::InvalidObject);
        }
        s.set_strict(strict);
        Ok(())
    })
}

/// The handle's current reference count, saturated at UINT32_MAX (0 for NULL). A snapshot: other threads may change
/// it at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_ref_count(
    store: *const mapi_logoff_store,
) -> mapi_logoff_ulong {
    value(0, || {
        // SAFETY: the header's handle contract.
        unsafe { mapi_logoff_store::borrow(store) }
            .map_or(0, |h| ref_count_for_c(h.store.ref_count()))
    })
}

/// Whether calls other than add_ref/release are still accepted: false for NULL and after a
/// logoff_transports answered LOGOFF_COMPLETE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_store_is_valid(store: *const mapi_logoff_store) -> bool {
    value(false, || {
        // SAFETY: the header's handle contract.
        unsafe { mapi_logoff_store::borrow(store) }.is_ok_and(|h| h.store.is_valid())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_for_c() {
        assert_eq!(ref_count_for_c(0), 0);
        assert_eq!(ref_count_for_c(7), 7);
        assert_eq!(ref_count_for_c(u64::from(u32::MAX)), u32::MAX);
        assert_eq!(ref_count_for_c(u64::from(u32::MAX) + 5), u32::MAX);
        assert_eq!(ref_count_for_c(u64::MAX), u32::MAX);
    }
}
