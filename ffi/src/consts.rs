//! The constants of the C header. Their values are literals because cbindgen drops a
//! constant defined by another crate's path; each is checked against the core below.
//!
//! Every value has a library-prefixed name (`MAPI_LOGOFF_NO_WAIT`, `MAPI_LOGOFF_E_TIMEOUT`)
//! that no MAPI header uses. The MAPI-named ones (`LOGOFF_NO_WAIT`, `MAPI_E_TIMEOUT`) are
//! defined as the prefixed ones and carry a never-set cfg that cbindgen turns into
//! `#if !(defined(MAPI_LOGOFF_NO_MAPI_NAMES) || defined(NAME))` (see `cbindgen.toml`
//! `[defines]`): the header compiles after a MAPI header that defines them, and an includer
//! whose MAPI header declares them as enumerators (OpenChange) leaves them all out.

use mapi_logoff::{Context, Error, FlushFlags, LogoffFlags, Release};

use crate::types::{mapi_logoff_hresult, mapi_logoff_ulong};

// The library-prefixed names: every value under a name that no MAPI header uses.
/// Input mode: log off without waiting; queued messages are still sent. (MAPI: `LOGOFF_NO_WAIT`)
pub const MAPI_LOGOFF_NO_WAIT: mapi_logoff_ulong = 0x0000_0001;
/// Input mode: let in-flight transfers finish, start nothing new. (MAPI: `LOGOFF_ORDERLY`)
pub const MAPI_LOGOFF_ORDERLY: mapi_logoff_ulong = 0x0000_0002;
/// Input mode: NO_WAIT plus FlushQueues on every transport; the caller waits. (MAPI: `LOGOFF_PURGE`)
pub const MAPI_LOGOFF_PURGE: mapi_logoff_ulong = 0x0000_0004;
/// Input mode: stop pending work unless a transfer is in flight. (MAPI: `LOGOFF_ABORT`)
pub const MAPI_LOGOFF_ABORT: mapi_logoff_ulong = 0x0000_0008;
/// Input mode: log off only an idle store. (MAPI: `LOGOFF_QUIET`)
pub const MAPI_LOGOFF_QUIET: mapi_logoff_ulong = 0x0000_0010;
/// Output: the logoff was accepted. (MAPI: `LOGOFF_COMPLETE`)
pub const MAPI_LOGOFF_COMPLETE: mapi_logoff_ulong = 0x0001_0000;
/// Output and activity: a message is being received into the store. (MAPI: `LOGOFF_INBOUND`)
pub const MAPI_LOGOFF_INBOUND: mapi_logoff_ulong = 0x0002_0000;
/// Output and activity: a message is being sent from the store. (MAPI: `LOGOFF_OUTBOUND`)
pub const MAPI_LOGOFF_OUTBOUND: mapi_logoff_ulong = 0x0004_0000;
/// Output and activity: messages wait in the store's outbound queue. (MAPI: `LOGOFF_OUTBOUND_QUEUE`)
pub const MAPI_LOGOFF_OUTBOUND_QUEUE: mapi_logoff_ulong = 0x0008_0000;
/// FlushQueues: flush the outbound queue. (MAPI: `FLUSH_UPLOAD`)
pub const MAPI_LOGOFF_FLUSH_UPLOAD: mapi_logoff_ulong = 0x0000_0002;
/// FlushQueues: flush the inbound queue. (MAPI: `FLUSH_DOWNLOAD`)
pub const MAPI_LOGOFF_FLUSH_DOWNLOAD: mapi_logoff_ulong = 0x0000_0004;
/// FlushQueues: flush even if it takes long. (MAPI: `FLUSH_FORCE`)
pub const MAPI_LOGOFF_FLUSH_FORCE: mapi_logoff_ulong = 0x0000_0008;
/// FlushQueues: show no user interface. (MAPI: `FLUSH_NO_UI`)
pub const MAPI_LOGOFF_FLUSH_NO_UI: mapi_logoff_ulong = 0x0000_0010;
/// Success. (MAPI: `S_OK`)
pub const MAPI_LOGOFF_S_OK: mapi_logoff_hresult = 0;
/// 0x80004005: an unexpected failure (a panic inside the library, an unknown failure of a callback). (MAPI: `MAPI_E_CALL_FAILED`)
pub const MAPI_LOGOFF_E_CALL_FAILED: mapi_logoff_hresult = 0x8000_4005_u32 as mapi_logoff_hresult;
/// 0x8007000E: not enough memory. (MAPI: `MAPI_E_NOT_ENOUGH_MEMORY`)
pub const MAPI_LOGOFF_E_NOT_ENOUGH_MEMORY: mapi_logoff_hresult =
    0x8007_000E_u32 as mapi_logoff_hresult;
/// 0x80070057: a NULL required pointer, a string that is not UTF-8, an empty id, or (strict validation only) no mode flag or several. (MAPI: `MAPI_E_INVALID_PARAMETER`)
pub const MAPI_LOGOFF_E_INVALID_PARAMETER: mapi_logoff_hresult =
    0x8007_0057_u32 as mapi_logoff_hresult;
/// 0x80070005: the store's logoff forbids starting this transfer, or the registry directory is unsafe. (MAPI: `MAPI_E_NO_ACCESS`)
pub const MAPI_LOGOFF_E_NO_ACCESS: mapi_logoff_hresult = 0x8007_0005_u32 as mapi_logoff_hresult;
/// 0x80040102: not supported. (MAPI: `MAPI_E_NO_SUPPORT`)
pub const MAPI_LOGOFF_E_NO_SUPPORT: mapi_logoff_hresult = 0x8004_0102_u32 as mapi_logoff_hresult;
/// 0x80040106: a flag bit the protocol does not define. (MAPI: `MAPI_E_UNKNOWN_FLAGS`)
pub const MAPI_LOGOFF_E_UNKNOWN_FLAGS: mapi_logoff_hresult = 0x8004_0106_u32 as mapi_logoff_hresult;
/// 0x80040108: the store was logged off by logoff_transports, or the spooler is closed. (MAPI: `MAPI_E_INVALID_OBJECT`)
pub const MAPI_LOGOFF_E_INVALID_OBJECT: mapi_logoff_hresult =
    0x8004_0108_u32 as mapi_logoff_hresult;
/// 0x8004010B: another logoff_transports of this handle is under way. (MAPI: `MAPI_E_BUSY`)
pub const MAPI_LOGOFF_E_BUSY: mapi_logoff_hresult = 0x8004_010B_u32 as mapi_logoff_hresult;
/// 0x8004010F: nothing of that kind is queued or in flight (or no such registration). (MAPI: `MAPI_E_NOT_FOUND`)
pub const MAPI_LOGOFF_E_NOT_FOUND: mapi_logoff_hresult = 0x8004_010F_u32 as mapi_logoff_hresult;
/// 0x80040401: the PURGE deadline passed; the logoff goes on as NO_WAIT. (MAPI: `MAPI_E_TIMEOUT`)
pub const MAPI_LOGOFF_E_TIMEOUT: mapi_logoff_hresult = 0x8004_0401_u32 as mapi_logoff_hresult;

// The MAPI names, each left out when a MAPI header defined it first and all of them left
// out under MAPI_LOGOFF_NO_MAPI_NAMES (cbindgen.toml [defines]).
/// `MAPI_LOGOFF_NO_WAIT` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_no_wait)))]
pub const LOGOFF_NO_WAIT: mapi_logoff_ulong = MAPI_LOGOFF_NO_WAIT;
/// `MAPI_LOGOFF_ORDERLY` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_orderly)))]
pub const LOGOFF_ORDERLY: mapi_logoff_ulong = MAPI_LOGOFF_ORDERLY;
/// `MAPI_LOGOFF_PURGE` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_purge)))]
pub const LOGOFF_PURGE: mapi_logoff_ulong = MAPI_LOGOFF_PURGE;
/// `MAPI_LOGOFF_ABORT` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_abort)))]
pub const LOGOFF_ABORT: mapi_logoff_ulong = MAPI_LOGOFF_ABORT;
/// `MAPI_LOGOFF_QUIET` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_quiet)))]
pub const LOGOFF_QUIET: mapi_logoff_ulong = MAPI_LOGOFF_QUIET;
/// `MAPI_LOGOFF_COMPLETE` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_complete)))]
pub const LOGOFF_COMPLETE: mapi_logoff_ulong = MAPI_LOGOFF_COMPLETE;
/// `MAPI_LOGOFF_INBOUND` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_inbound)))]
pub const LOGOFF_INBOUND: mapi_logoff_ulong = MAPI_LOGOFF_INBOUND;
/// `MAPI_LOGOFF_OUTBOUND` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_outbound)))]
pub const LOGOFF_OUTBOUND: mapi_logoff_ulong = MAPI_LOGOFF_OUTBOUND;
/// `MAPI_LOGOFF_OUTBOUND_QUEUE` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_logoff_outbound_queue)))]
pub const LOGOFF_OUTBOUND_QUEUE: mapi_logoff_ulong = MAPI_LOGOFF_OUTBOUND_QUEUE;
/// `MAPI_LOGOFF_FLUSH_UPLOAD` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_flush_upload)))]
pub const FLUSH_UPLOAD: mapi_logoff_ulong = MAPI_LOGOFF_FLUSH_UPLOAD;
/// `MAPI_LOGOFF_FLUSH_DOWNLOAD` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_flush_download)))]
pub const FLUSH_DOWNLOAD: mapi_logoff_ulong = MAPI_LOGOFF_FLUSH_DOWNLOAD;
/// `MAPI_LOGOFF_FLUSH_FORCE` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_flush_force)))]
pub const FLUSH_FORCE: mapi_logoff_ulong = MAPI_LOGOFF_FLUSH_FORCE;
/// `MAPI_LOGOFF_FLUSH_NO_UI` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_flush_no_ui)))]
pub const FLUSH_NO_UI: mapi_logoff_ulong = MAPI_LOGOFF_FLUSH_NO_UI;
/// `MAPI_LOGOFF_S_OK` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_s_ok)))]
pub const S_OK: mapi_logoff_hresult = MAPI_LOGOFF_S_OK;
/// `MAPI_LOGOFF_E_CALL_FAILED` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_call_failed)))]
pub const MAPI_E_CALL_FAILED: mapi_logoff_hresult = MAPI_LOGOFF_E_CALL_FAILED;
/// `MAPI_LOGOFF_E_NOT_ENOUGH_MEMORY` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_not_enough_memory)))]
pub const MAPI_E_NOT_ENOUGH_MEMORY: mapi_logoff_hresult = MAPI_LOGOFF_E_NOT_ENOUGH_MEMORY;
/// `MAPI_LOGOFF_E_INVALID_PARAMETER` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_invalid_parameter)))]
pub const MAPI_E_INVALID_PARAMETER: mapi_logoff_hresult = MAPI_LOGOFF_E_INVALID_PARAMETER;
/// `MAPI_LOGOFF_E_NO_ACCESS` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_no_access)))]
pub const MAPI_E_NO_ACCESS: mapi_logoff_hresult = MAPI_LOGOFF_E_NO_ACCESS;
/// `MAPI_LOGOFF_E_NO_SUPPORT` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_no_support)))]
pub const MAPI_E_NO_SUPPORT: mapi_logoff_hresult = MAPI_LOGOFF_E_NO_SUPPORT;
/// `MAPI_LOGOFF_E_UNKNOWN_FLAGS` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_unknown_flags)))]
pub const MAPI_E_UNKNOWN_FLAGS: mapi_logoff_hresult = MAPI_LOGOFF_E_UNKNOWN_FLAGS;
/// `MAPI_LOGOFF_E_INVALID_OBJECT` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_invalid_object)))]
pub const MAPI_E_INVALID_OBJECT: mapi_logoff_hresult = MAPI_LOGOFF_E_INVALID_OBJECT;
/// `MAPI_LOGOFF_E_BUSY` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_busy)))]
pub const MAPI_E_BUSY: mapi_logoff_hresult = MAPI_LOGOFF_E_BUSY;
/// `MAPI_LOGOFF_E_NOT_FOUND` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_not_found)))]
pub const MAPI_E_NOT_FOUND: mapi_logoff_hresult = MAPI_LOGOFF_E_NOT_FOUND;
/// `MAPI_LOGOFF_E_TIMEOUT` under its MAPI name.
#[cfg(not(any(mapi_logoff_no_mapi_names, mapi_logoff_has_mapi_e_timeout)))]
pub const MAPI_E_TIMEOUT: mapi_logoff_hresult = MAPI_LOGOFF_E_TIMEOUT;

/// Context bit of mapi_logoff_decide: another client has the same store open in the profile.
pub const MAPI_LOGOFF_DECIDE_SHARED: mapi_logoff_ulong = 0x1;
/// Context bit of mapi_logoff_decide: strict validation (exactly one mode flag, else
/// MAPI_E_INVALID_PARAMETER). Without it, no mode means ABORT and several mean the most
/// cautious: QUIET > ABORT > ORDERLY > NO_WAIT > PURGE.
pub const MAPI_LOGOFF_DECIDE_STRICT: mapi_logoff_ulong = 0x2;
/// Context bit of mapi_logoff_decide: every transfer in flight can be cancelled, so ABORT
/// cancels them and logs off instead of refusing.
pub const MAPI_LOGOFF_DECIDE_CANCELLABLE: mapi_logoff_ulong = 0x4;

/// `store_flags` of mapi_logoff_store_new: strict validation of the store's StoreLogoff flags
/// (exactly one mode flag, else MAPI_E_INVALID_PARAMETER) instead of the lenient default.
pub const MAPI_LOGOFF_STORE_STRICT: mapi_logoff_ulong = 0x1;

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
/// Event kind: an ABORT cancelled a transfer in flight; `detail` says which (a send, back in
/// the queue, or a reception, left at the server).
pub const MAPI_LOGOFF_EVENT_CANCELLED: u32 = 9;

/// `deadline_ms` of mapi_logoff_spooler_close: use the
/// spooler's close deadline (its option, 30 s unless set).
pub const MAPI_LOGOFF_DEADLINE_DEFAULT: u64 = u64::MAX;

/// Major version of the library this header belongs to (also the SONAME's number).
pub const MAPI_LOGOFF_VERSION_MAJOR: u32 = 0;
/// Minor version of the library this header belongs to.
pub const MAPI_LOGOFF_VERSION_MINOR: u32 = 2;
/// Patch version of the library this header belongs to.
pub const MAPI_LOGOFF_VERSION_PATCH: u32 = 0;
/// The version as one number, `MAJOR << 16 | MINOR << 8 | PATCH`, comparable with `<`; the
/// library's own is `mapi_logoff_version_number()`.
pub const MAPI_LOGOFF_VERSION_NUMBER: u32 = (MAPI_LOGOFF_VERSION_MAJOR << 16)
    | (MAPI_LOGOFF_VERSION_MINOR << 8)
    | MAPI_LOGOFF_VERSION_PATCH;

// The header's values are the core's.
const _: () = assert!(MAPI_LOGOFF_NO_WAIT == LogoffFlags::NO_WAIT.bits());
const _: () = assert!(MAPI_LOGOFF_ORDERLY == LogoffFlags::ORDERLY.bits());
const _: () = assert!(MAPI_LOGOFF_PURGE == LogoffFlags::PURGE.bits());
const _: () = assert!(MAPI_LOGOFF_ABORT == LogoffFlags::ABORT.bits());
const _: () = assert!(MAPI_LOGOFF_QUIET == LogoffFlags::QUIET.bits());
const _: () = assert!(MAPI_LOGOFF_COMPLETE == LogoffFlags::COMPLETE.bits());
const _: () = assert!(MAPI_LOGOFF_INBOUND == LogoffFlags::INBOUND.bits());
const _: () = assert!(MAPI_LOGOFF_OUTBOUND == LogoffFlags::OUTBOUND.bits());
const _: () = assert!(MAPI_LOGOFF_OUTBOUND_QUEUE == LogoffFlags::OUTBOUND_QUEUE.bits());
const _: () = assert!(MAPI_LOGOFF_FLUSH_UPLOAD == FlushFlags::UPLOAD.bits());
const _: () = assert!(MAPI_LOGOFF_FLUSH_DOWNLOAD == FlushFlags::DOWNLOAD.bits());
const _: () = assert!(MAPI_LOGOFF_FLUSH_FORCE == FlushFlags::FORCE.bits());
const _: () = assert!(MAPI_LOGOFF_FLUSH_NO_UI == FlushFlags::NO_UI.bits());
const _: () = assert!(MAPI_LOGOFF_S_OK == mapi_logoff::S_OK);
const _: () = assert!(MAPI_LOGOFF_DECIDE_SHARED == Context::SHARED);
const _: () = assert!(MAPI_LOGOFF_DECIDE_STRICT == Context::STRICT);
const _: () = assert!(MAPI_LOGOFF_DECIDE_CANCELLABLE == Context::CANCELLABLE);
const _: () = assert!(MAPI_LOGOFF_RELEASE_REFUSED == Release::Refused as u32);
const _: () = assert!(MAPI_LOGOFF_RELEASE_NOW == Release::Now as u32);
const _: () = assert!(MAPI_LOGOFF_RELEASE_WHEN_DRAINED == Release::WhenDrained as u32);
// The version macros are Cargo's version: a bump without regenerating fails to build.
const _: () = assert!(MAPI_LOGOFF_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(MAPI_LOGOFF_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(MAPI_LOGOFF_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")));
/// One value per failing HRESULT of the core, in the order of `Error::ALL` (checked by a test:
/// `Error::hresult` is not a `const fn`).
pub(crate) const HRESULTS: [(Error, mapi_logoff_hresult); 10] = [
    (Error::CallFailed, MAPI_LOGOFF_E_CALL_FAILED),
    (Error::NotEnoughMemory, MAPI_LOGOFF_E_NOT_ENOUGH_MEMORY),
    (Error::InvalidParameter, MAPI_LOGOFF_E_INVALID_PARAMETER),
    (Error::NoAccess, MAPI_LOGOFF_E_NO_ACCESS),
    (Error::NoSupport, MAPI_LOGOFF_E_NO_SUPPORT),
    (Error::UnknownFlags, MAPI_LOGOFF_E_UNKNOWN_FLAGS),
    (Error::InvalidObject, MAPI_LOGOFF_E_INVALID_OBJECT),
    (Error::Busy, MAPI_LOGOFF_E_BUSY),
    (Error::NotFound, MAPI_LOGOFF_E_NOT_FOUND),
    (Error::Timeout, MAPI_LOGOFF_E_TIMEOUT),
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
