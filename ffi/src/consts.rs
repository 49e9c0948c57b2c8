//! The constants of the C header. Their values are literals because cbindgen drops a
//! constant defined by another crate's path; each is checked against the core below.
//!
//! The MAPI-named ones carry a never-set cfg that cbindgen turns into `#if !defined(NAME)`
//! (see `cbindgen.toml` `[defines]`), so the header compiles after a MAPI header.

use mapi_logoff::{Context, Error, FlushFlags, LogoffFlags, Release};

/// Input mode: log off without waiting; queued messages are still sent.
#[cfg(not(mapi_logoff_has_logoff_no_wait))]
pub const LOGOFF_NO_WAIT: u32 = 0x0000_0001;
/// Input mode: let in-flight transfers finish, start nothing new.
#[cfg(not(mapi_logoff_has_logoff_orderly))]
pub const LOGOFF_ORDERLY: u32 = 0x0000_0002;
/// Input mode: NO_WAIT plus FlushQueues on every transport; the caller waits.
#[cfg(not(mapi_logoff_has_logoff_purge))]
pub const LOGOFF_PURGE: u32 = 0x0000_0004;
/// Input mode: stop pending work unless a transfer is in flight.
#[cfg(not(mapi_logoff_has_logoff_abort))]
pub const LOGOFF_ABORT: u32 = 0x0000_0008;
/// Input mode: log off only an idle store.
#[cfg(not(mapi_logoff_has_logoff_quiet))]
pub const LOGOFF_QUIET: u32 = 0x0000_0010;
/// Output: the logoff was accepted.
#[cfg(not(mapi_logoff_has_logoff_complete))]
pub const LOGOFF_COMPLETE: u32 = 0x0001_0000;
/// Output and activity: a message is being received into the store.
#[cfg(not(mapi_logoff_has_logoff_inbound))]
pub const LOGOFF_INBOUND: u32 = 0x0002_0000;
/// Output and activity: a message is being sent from the store.
#[cfg(not(mapi_logoff_has_logoff_outbound))]
pub const LOGOFF_OUTBOUND: u32 = 0x0004_0000;
/// Output and activity: messages wait in the store's outbound queue.
#[cfg(not(mapi_logoff_has_logoff_outbound_queue))]
pub const LOGOFF_OUTBOUND_QUEUE: u32 = 0x0008_0000;
/// FlushQueues: flush the outbound queue.
#[cfg(not(mapi_logoff_has_flush_upload))]
pub const FLUSH_UPLOAD: u32 = 0x0000_0002;
/// FlushQueues: flush the inbound queue.
#[cfg(not(mapi_logoff_has_flush_download))]
pub const FLUSH_DOWNLOAD: u32 = 0x0000_0004;
/// FlushQueues: flush even if it takes long.
#[cfg(not(mapi_logoff_has_flush_force))]
pub const FLUSH_FORCE: u32 = 0x0000_0008;
/// FlushQueues: show no user interface.
#[cfg(not(mapi_logoff_has_flush_no_ui))]
pub const FLUSH_NO_UI: u32 = 0x0000_0010;
/// Success.
#[cfg(not(mapi_logoff_has_s_ok))]
pub const S_OK: i32 = 0;
/// 0x80004005: an unexpected failure (a panic inside the library, an unknown failure of a callback).
#[cfg(not(mapi_logoff_has_mapi_e_call_failed))]
pub const MAPI_E_CALL_FAILED: i32 = 0x8000_4005_u32 as i32;
/// 0x8007000E: not enough memory.
#[cfg(not(mapi_logoff_has_mapi_e_not_enough_memory))]
pub const MAPI_E_NOT_ENOUGH_MEMORY: i32 = 0x8007_000E_u32 as i32;
/// 0x80070057: a NULL required pointer, a string that is not UTF-8, an empty id, or an invalid combination of mode flags.
#[cfg(not(mapi_logoff_has_mapi_e_invalid_parameter))]
pub const MAPI_E_INVALID_PARAMETER: i32 = 0x8007_0057_u32 as i32;
/// 0x80070005: the store's logoff forbids starting this transfer.
#[cfg(not(mapi_logoff_has_mapi_e_no_access))]
pub const MAPI_E_NO_ACCESS: i32 = 0x8007_0005_u32 as i32;
/// 0x80040102: not supported.
#[cfg(not(mapi_logoff_has_mapi_e_no_support))]
pub const MAPI_E_NO_SUPPORT: i32 = 0x8004_0102_u32 as i32;
/// 0x80040106: a flag bit the protocol does not define.
#[cfg(not(mapi_logoff_has_mapi_e_unknown_flags))]
pub const MAPI_E_UNKNOWN_FLAGS: i32 = 0x8004_0106_u32 as i32;
/// 0x80040108: the store was logged off by logoff_transports, or the spooler is closed.
#[cfg(not(mapi_logoff_has_mapi_e_invalid_object))]
pub const MAPI_E_INVALID_OBJECT: i32 = 0x8004_0108_u32 as i32;
/// 0x8004010B: another logoff_transports of this handle is under way.
#[cfg(not(mapi_logoff_has_mapi_e_busy))]
pub const MAPI_E_BUSY: i32 = 0x8004_010B_u32 as i32;
/// 0x8004010F: nothing of that kind is queued or in flight (or no such registration).
#[cfg(not(mapi_logoff_has_mapi_e_not_found))]
pub const MAPI_E_NOT_FOUND: i32 = 0x8004_010F_u32 as i32;
/// 0x80040401: the PURGE deadline passed; the logoff goes on as NO_WAIT.
#[cfg(not(mapi_logoff_has_mapi_e_timeout))]
pub const MAPI_E_TIMEOUT: i32 = 0x8004_0401_u32 as i32;

/// Context bit of mapi_logoff_decide: another client has the same store open in the profile.
pub const MAPI_LOGOFF_SHARED: u32 = 0x1;
/// Context bit of mapi_logoff_decide: lenient validation (no mode means ABORT, several mean
/// the most cautious: QUIET > ABORT > ORDERLY > NO_WAIT > PURGE).
pub const MAPI_LOGOFF_LENIENT: u32 = 0x2;

/// Decision release: nothing changes; the activity is reported.
pub const MAPI_LOGOFF_RELEASE_REFUSED: u32 = 0;
/// Decision release: the store is released now.
pub const MAPI_LOGOFF_RELEASE_NOW: u32 = 1;
/// Decision release: the store is released the moment it drains.
pub const MAPI_LOGOFF_RELEASE_WHEN_DRAINED: u32 = 2;

/// Event kind: StoreLogoffTransports answered COMPLETE (`has_decision` is set).
pub const MAPI_LOGOFF_EVENT_DECIDED: u32 = 1;
/// Event kind: StoreLogoffTransports refused; nothing changed (`has_decision` is set).
pub const MAPI_LOGOFF_EVENT_REFUSED: u32 = 2;
/// Event kind: a client's hold on the store ended; `detail` says how.
pub const MAPI_LOGOFF_EVENT_RELEASED: u32 = 3;
/// Event kind: a refused final release; the spooler releases the store once it is idle.
pub const MAPI_LOGOFF_EVENT_RELEASE_DEFERRED: u32 = 4;
/// Event kind: a PURGE passed its deadline; the logoff goes on as NO_WAIT.
pub const MAPI_LOGOFF_EVENT_TIMED_OUT: u32 = 5;
/// Event kind: a transport's flush_queues failed; `detail` says which and how.
pub const MAPI_LOGOFF_EVENT_FLUSH_FAILED: u32 = 6;
/// Event kind: the spooler closed before the store drained; `out_flags` holds its activity.
pub const MAPI_LOGOFF_EVENT_UNDRAINED: u32 = 7;
/// The machine registry could not be read, so the store counted as shared.
pub const MAPI_LOGOFF_EVENT_REGISTRY_UNREADABLE: u32 = 8;

/// `deadline_ms` of mapi_logoff_spooler_close: use the
/// spooler's close deadline (its option, 30 s unless set).
pub const MAPI_LOGOFF_DEADLINE_DEFAULT: u64 = u64::MAX;

/// Major version of the library this header belongs to (also the SONAME's number).
pub const MAPI_LOGOFF_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to.
pub const MAPI_LOGOFF_VERSION_MINOR: u32 = 1;
/// Patch version of the library this header belongs to.
pub const MAPI_LOGOFF_VERSION_PATCH: u32 = 0;
/// The version as one number, `MAJOR << 16 | MINOR << 8 | PATCH`, comparable with `<`; the
/// library's own is `mapi_logoff_version_number()`.
pub const MAPI_LOGOFF_VERSION_NUMBER: u32 = (MAPI_LOGOFF_VERSION_MAJOR << 16)
    | (MAPI_LOGOFF_VERSION_MINOR << 8)
    | MAPI_LOGOFF_VERSION_PATCH;

// The header's values are the core's.
const _: () = assert!(LOGOFF_NO_WAIT == LogoffFlags::NO_WAIT.bits());
const _: () = assert!(LOGOFF_ORDERLY == LogoffFlags::ORDERLY.bits());
const _: () = assert!(LOGOFF_PURGE == LogoffFlags::PURGE.bits());
const _: () = assert!(LOGOFF_ABORT == LogoffFlags::ABORT.bits());
const _: () = assert!(LOGOFF_QUIET == LogoffFlags::QUIET.bits());
const _: () = assert!(LOGOFF_COMPLETE == LogoffFlags::COMPLETE.bits());
const _: () = assert!(LOGOFF_INBOUND == LogoffFlags::INBOUND.bits());
const _: () = assert!(LOGOFF_OUTBOUND == LogoffFlags::OUTBOUND.bits());
const _: () = assert!(LOGOFF_OUTBOUND_QUEUE == LogoffFlags::OUTBOUND_QUEUE.bits());
const _: () = assert!(FLUSH_UPLOAD == FlushFlags::UPLOAD.bits());
const _: () = assert!(FLUSH_DOWNLOAD == FlushFlags::DOWNLOAD.bits());
const _: () = assert!(FLUSH_FORCE == FlushFlags::FORCE.bits());
const _: () = assert!(FLUSH_NO_UI == FlushFlags::NO_UI.bits());
const _: () = assert!(S_OK == mapi_logoff::S_OK);
const _: () = assert!(MAPI_LOGOFF_SHARED == Context::SHARED);
const _: () = assert!(MAPI_LOGOFF_LENIENT == Context::LENIENT);
const _: () = assert!(MAPI_LOGOFF_RELEASE_REFUSED == Release::Refused as u32);
const _: () = assert!(MAPI_LOGOFF_RELEASE_NOW == Release::Now as u32);
const _: () = assert!(MAPI_LOGOFF_RELEASE_WHEN_DRAINED == Release::WhenDrained as u32);
// The version macros are Cargo's version: a bump without regenerating fails to build.
const _: () = assert!(MAPI_LOGOFF_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(MAPI_LOGOFF_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(MAPI_LOGOFF_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
/// One value per failing HRESULT of the core, in the order of `Error::ALL` (checked by a test:
/// `Error::hresult` is not a `const fn`).
pub(crate) const HRESULTS: [(Error, i32); 10] = [
    (Error::CallFailed, MAPI_E_CALL_FAILED),
    (Error::NotEnoughMemory, MAPI_E_NOT_ENOUGH_MEMORY),
    (Error::InvalidParameter, MAPI_E_INVALID_PARAMETER),
    (Error::NoAccess, MAPI_E_NO_ACCESS),
    (Error::NoSupport, MAPI_E_NO_SUPPORT),
    (Error::UnknownFlags, MAPI_E_UNKNOWN_FLAGS),
    (Error::InvalidObject, MAPI_E_INVALID_OBJECT),
    (Error::Busy, MAPI_E_BUSY),
    (Error::NotFound, MAPI_E_NOT_FOUND),
    (Error::Timeout, MAPI_E_TIMEOUT),
];

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hresults_are_the_cores() {
        assert_eq!(HRESULTS.len(), Error::ALL.len());
        for ((error, value), core) in HRESULTS.iter().zip(Error::ALL) {
            assert_eq!(*error, core);
            assert_eq!(*value, core.hresult(), "{}", core.name());
        }
    }
}
