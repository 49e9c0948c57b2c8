//! The pure functions: decide, the texts of HRESULTs and events, the version.

use std::ffi::{CString, c_char};
use std::sync::OnceLock;

use mapi_logoff::{Decision, Error, decide_bits};

use crate::boundary::{arg_out, hresult, value};
use crate::callbacks::{EVENT_KINDS, event_kind};
use crate::consts::HRESULTS;
use crate::types::{mapi_logoff_hresult, mapi_logoff_ulong};

/// The outcome of the decision table for one StoreLogoffTransports call.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct mapi_logoff_decision {
    /// Written back to the caller's flags: LOGOFF_COMPLETE and/or the activity bits.
    pub out_flags: mapi_logoff_ulong,
    /// What happens to the store: MAPI_LOGOFF_RELEASE_REFUSED, _NOW or _WHEN_DRAINED.
    pub release: mapi_logoff_ulong,
    /// FLUSH_* flags passed to every transport's flush_queues; 0 means no call.
    pub flush_flags: mapi_logoff_ulong,
    /// What may still start for the store: LOGOFF_INBOUND (new receptions), LOGOFF_OUTBOUND
    /// (sends of queued messages), LOGOFF_OUTBOUND_QUEUE (new submissions).
    pub allowed: mapi_logoff_ulong,
    /// Whether control returns only once the store is released (PURGE).
    pub waits: bool,
}

impl From<Decision> for mapi_logoff_decision {
    fn from(d: Decision) -> Self {
        mapi_logoff_decision {
            out_flags: d.out_flags.bits(),
            release: d.release.value(),
            flush_flags: d.flush_flags.bits(),
            allowed: d.allowed.bits(),
            waits: d.waits,
        }
    }
}

/// The decision table (validation, then the decision) as a pure function: what
/// StoreLogoffTransports does for `flags` (a LOGOFF_* mode; output bits are ignored) on a store
/// with `activity` (LOGOFF_INBOUND | LOGOFF_OUTBOUND | LOGOFF_OUTBOUND_QUEUE) in `context`
/// (MAPI_LOGOFF_DECIDE_SHARED | MAPI_LOGOFF_DECIDE_STRICT | MAPI_LOGOFF_DECIDE_CANCELLABLE).
///
/// Checks, in this order: context bits (MAPI_E_UNKNOWN_FLAGS), flags (MAPI_E_UNKNOWN_FLAGS for
/// undefined bits; with MAPI_LOGOFF_DECIDE_STRICT, MAPI_E_INVALID_PARAMETER for no mode or
/// several; without it no mode means ABORT and several the most cautious), activity
/// bits (MAPI_E_UNKNOWN_FLAGS). On S_OK writes `*out`; on failure leaves it unchanged.
/// `out` is required. Pure and thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mapi_logoff_decide(
    flags: mapi_logoff_ulong,
    activity: mapi_logoff_ulong,
    context: mapi_logoff_ulong,
    out: *mut mapi_logoff_decision,
) -> mapi_logoff_hresult {
    hresult(|| {
        // SAFETY: the header's pointer contract.
        let out = unsafe { arg_out(out) }?;
        *out = decide_bits(flags, activity, context)?.into();
        Ok(())
    })
}

/// Does nothing and returns S_OK: a call into the library that costs only the call itself,
/// taking the same arguments as mapi_logoff_decide. For benchmarks (scripts/bench), which
/// compare the library's calls with this floor. Never reads or writes `out`. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_noop(
    flags: mapi_logoff_ulong,
    activity: mapi_logoff_ulong,
    context: mapi_logoff_ulong,
    out: *mut mapi_logoff_decision,
) -> mapi_logoff_hresult {
    let _ = (flags, activity, context, out);
    mapi_logoff::S_OK
}

/// NUL-terminated copies of the core's names and messages, made once: the core stays the
/// one source of every text.
struct Texts {
    names: Vec<CString>,
    messages: Vec<CString>,
    event_kinds: Vec<CString>,
}

fn texts() -> &'static Texts {
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    let c = |s: &str| CString::new(s).expect("no NUL in the core's texts");
    TEXTS.get_or_init(|| Texts {
        names: Error::ALL.iter().map(|e| c(e.name())).collect(),
        messages: Error::ALL.iter().map(|e| c(&e.to_string())).collect(),
        event_kinds: EVENT_KINDS.iter().map(|k| c(k.name())).collect(),
    })
}

fn error_index(hresult: mapi_logoff_hresult) -> Option<usize> {
    HRESULTS.iter().position(|(_, v)| *v == hresult)
}

/// The MAPI name of `hresult`: "S_OK", "MAPI_E_INVALID_PARAMETER", ..., or "UNKNOWN" for a code
/// that is not one of the library's. Static: never freed, never NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_error_name(hresult: mapi_logoff_hresult) -> *const c_char {
    value(c"UNKNOWN".as_ptr(), || {
        if hresult == mapi_logoff::S_OK {
            return c"S_OK".as_ptr();
        }
        error_index(hresult).map_or(c"UNKNOWN".as_ptr(), |i| texts().names[i].as_ptr())
    })
}

/// A one-line English message for `hresult` ("MAPI_E_NOT_FOUND: nothing of that kind is
/// queued or in flight"), or "UNKNOWN: not an HRESULT of mapi-logoff". Static: never freed,
/// never NULL. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_error_message(hresult: mapi_logoff_hresult) -> *const c_char {
    const UNKNOWN: &std::ffi::CStr = c"UNKNOWN: not an HRESULT of mapi-logoff";
    value(UNKNOWN.as_ptr(), || {
        if hresult == mapi_logoff::S_OK {
            return c"S_OK: success".as_ptr();
        }
        error_index(hresult).map_or(UNKNOWN.as_ptr(), |i| texts().messages[i].as_ptr())
    })
}

/// The name of a MAPI_LOGOFF_EVENT_* kind: "decided", "refused", "released",
/// "release_deferred", "timed_out", "flush_failed", "undrained", "registry_unreadable",
/// "cancelled"; NULL
/// for any other value.
/// Static. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_event_kind_name(kind: u32) -> *const c_char {
    value(std::ptr::null(), || {
        EVENT_KINDS
            .iter()
            .position(|k| event_kind(*k) == kind)
            .map_or(std::ptr::null(), |i| texts().event_kinds[i].as_ptr())
    })
}

/// The library's version, "MAJOR.MINOR.PATCH" (Cargo's version of the crate). Static.
/// Compare with the header's MAPI_LOGOFF_VERSION_* to detect a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// The library's version as MAJOR << 16 | MINOR << 8 | PATCH, to compare with
/// MAPI_LOGOFF_VERSION_NUMBER.
#[unsafe(no_mangle)]
pub extern "C" fn mapi_logoff_version_number() -> u32 {
    crate::consts::MAPI_LOGOFF_VERSION_NUMBER
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn text(p: *const c_char) -> &'static str {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn names_and_messages_are_the_cores() {
        for e in Error::ALL {
            assert_eq!(text(mapi_logoff_error_name(e.hresult())), e.name());
            assert_eq!(text(mapi_logoff_error_message(e.hresult())), e.to_string());
        }
        assert_eq!(text(mapi_logoff_error_name(0)), "S_OK");
        assert_eq!(text(mapi_logoff_error_name(-1)), "UNKNOWN");
        assert!(text(mapi_logoff_error_message(1)).starts_with("UNKNOWN"));
    }

    #[test]
    fn event_kind_names_are_the_cores() {
        for k in EVENT_KINDS {
            assert_eq!(text(mapi_logoff_event_kind_name(event_kind(k))), k.name());
        }
        assert!(mapi_logoff_event_kind_name(0).is_null());
        assert!(mapi_logoff_event_kind_name(10).is_null());
    }

    #[test]
    fn noop_touches_nothing() {
        let mut d = mapi_logoff_decision {
            out_flags: 7,
            ..Default::default()
        };
        assert_eq!(mapi_logoff_noop(1, 0, 0, &mut d), 0);
        assert_eq!(d.out_flags, 7);
        assert_eq!(mapi_logoff_noop(u32::MAX, 0, 9, std::ptr::null_mut()), 0);
    }

    #[test]
    fn version_is_cargos() {
        assert_eq!(text(mapi_logoff_version()), env!("CARGO_PKG_VERSION"));
    }
}
