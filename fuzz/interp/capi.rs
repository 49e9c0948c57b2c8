//! The C API of libmapi_logoff, declared by hand (the header's types and values), so that the
//! interpreter needs no bindings crate: the HRESULTs, flags and event kinds it checks for, the
//! `#[repr(C)]` structs it reads, and the functions it calls.

use std::ffi::{c_char, c_void};

pub const S_OK: i32 = 0;
pub(super) const E_INVALID_PARAMETER: i32 = 0x8007_0057_u32 as i32;
pub(super) const E_NO_ACCESS: i32 = 0x8007_0005_u32 as i32;
pub(super) const E_NO_SUPPORT: i32 = 0x8004_0102_u32 as i32;
pub(super) const E_UNKNOWN_FLAGS: i32 = 0x8004_0106_u32 as i32;
pub(super) const E_INVALID_OBJECT: i32 = 0x8004_0108_u32 as i32;
pub(super) const E_NOT_FOUND: i32 = 0x8004_010F_u32 as i32;
pub(super) const E_TIMEOUT: i32 = 0x8004_0401_u32 as i32;
/// MAPI_E_NETWORK_ERROR: a real MAPI code the library has no name for.
pub(super) const E_FOREIGN: i32 = 0x8004_0115_u32 as i32;

pub(super) const NO_WAIT: u32 = 0x1;
pub(super) const ORDERLY: u32 = 0x2;
pub(super) const PURGE: u32 = 0x4;
pub(super) const ABORT: u32 = 0x8;
pub(super) const QUIET: u32 = 0x10;
pub(super) const MODES: [u32; 5] = [NO_WAIT, ORDERLY, PURGE, ABORT, QUIET];
pub(super) const MOST_CAUTIOUS_FIRST: [u32; 5] = [QUIET, ABORT, ORDERLY, NO_WAIT, PURGE];
pub(super) const COMPLETE: u32 = 0x1_0000;
pub(super) const INBOUND: u32 = 0x2_0000;
pub(super) const OUTBOUND: u32 = 0x4_0000;
pub(super) const OUTBOUND_QUEUE: u32 = 0x8_0000;
pub(super) const GATES: u32 = INBOUND | OUTBOUND | OUTBOUND_QUEUE;
pub(super) const OUTPUT_BITS: u32 = COMPLETE | GATES;
pub(super) const CTX_SHARED: u32 = 0x1;
/// `MAPI_LOGOFF_DECIDE_STRICT`: strict validation (lenient is the default).
pub(super) const CTX_STRICT: u32 = 0x2;
pub(super) const CTX_CANCELLABLE: u32 = 0x4;
pub(super) const FLUSH_PURGE: u32 = 0x2 | 0x10; // FLUSH_UPLOAD | FLUSH_NO_UI
pub(super) const REFUSED: u32 = 0;
pub(super) const NOW: u32 = 1;
pub(super) const WHEN_DRAINED: u32 = 2;
pub(super) const EVENT_DECIDED: u32 = 1;
pub(super) const EVENT_REFUSED: u32 = 2;
pub(super) const EVENT_RELEASED: u32 = 3;
pub(super) const EVENT_TIMED_OUT: u32 = 5;
pub(super) const EVENT_FLUSH_FAILED: u32 = 6;
pub(super) const EVENT_CANCELLED: u32 = 9;
/// The last MAPI_LOGOFF_EVENT_* value: the kinds are 1 to this.
pub(super) const EVENT_KINDS: u32 = 9;
pub(super) const DEADLINE_DEFAULT: u64 = u64::MAX;

#[repr(C)]
pub struct Spooler {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Store {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Options {
    _opaque: [u8; 0],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decision {
    pub(super) out_flags: u32,
    pub(super) release: u32,
    pub(super) flush_flags: u32,
    pub(super) allowed: u32,
    pub(super) waits: bool,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub(super) queued: u64,
    pub(super) sending: u64,
    pub(super) receiving: u64,
    pub(super) submitted: u64,
    pub(super) sent: u64,
    pub(super) receptions: u64,
    pub(super) received: u64,
    pub(super) activity: u32,
    pub(super) allowed: u32,
    pub(super) clients: u32,
    pub(super) pending_mode: u32,
    pub(super) released: bool,
}

#[repr(C)]
pub struct Event {
    pub(super) kind: u32,
    pub(super) store_id: *const c_char,
    pub(super) mode_flag: u32,
    pub(super) out_flags: u32,
    pub(super) has_decision: bool,
    pub(super) decision: Decision,
    pub(super) detail: *const c_char,
}

pub(super) type SupportFn = Option<unsafe extern "C" fn(*mut c_void, *mut u32) -> i32>;
pub(super) type FlushFn = Option<unsafe extern "C" fn(*mut c_void, *const c_char, u32) -> i32>;
pub(super) type EventFn = Option<unsafe extern "C" fn(*mut c_void, *const Event)>;
pub(super) type FreeFn = Option<unsafe extern "C" fn(*mut c_void)>;
pub(super) type CancelFn = Option<unsafe extern "C" fn(*mut c_void, *const c_char) -> i32>;

unsafe extern "C" {
    pub(super) fn mapi_logoff_decide(
        flags: u32,
        activity: u32,
        context: u32,
        out: *mut Decision,
    ) -> i32;
    pub(super) fn mapi_logoff_error_name(hresult: i32) -> *const c_char;
    pub(super) fn mapi_logoff_error_message(hresult: i32) -> *const c_char;
    pub(super) fn mapi_logoff_event_kind_name(kind: u32) -> *const c_char;
    pub(super) fn mapi_logoff_spooler_options_new(out: *mut *mut Options) -> i32;
    pub(super) fn mapi_logoff_spooler_options_free(options: *mut Options);
    pub(super) fn mapi_logoff_spooler_options_set_purge_deadline_ms(
        o: *mut Options,
        ms: u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_options_set_close_deadline_ms(
        o: *mut Options,
        ms: u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_options_set_strict(o: *mut Options, strict: bool) -> i32;
    pub(super) fn mapi_logoff_spooler_options_set_cross_process(
        o: *mut Options,
        cross: bool,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_options_set_runtime_dir(
        o: *mut Options,
        dir: *const c_char,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_new(profile: *const c_char, out: *mut *mut Spooler) -> i32;
    pub(super) fn mapi_logoff_spooler_new_with_options(
        profile: *const c_char,
        options: *const Options,
        out: *mut *mut Spooler,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_free(spooler: *mut Spooler);
    pub(super) fn mapi_logoff_spooler_set_purge_deadline(spooler: *mut Spooler, ms: u64) -> i32;
    pub(super) fn mapi_logoff_store_open(
        sp: *mut Spooler,
        id: *const c_char,
        out: *mut *mut Store,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_submit(sp: *mut Spooler, id: *const c_char) -> i32;
    pub(super) fn mapi_logoff_spooler_begin_send(sp: *mut Spooler, id: *const c_char) -> i32;
    pub(super) fn mapi_logoff_spooler_end_send(
        sp: *mut Spooler,
        id: *const c_char,
        sent: bool,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_begin_receive(sp: *mut Spooler, id: *const c_char) -> i32;
    pub(super) fn mapi_logoff_spooler_end_receive(sp: *mut Spooler, id: *const c_char) -> i32;
    pub(super) fn mapi_logoff_spooler_activity(
        sp: *const Spooler,
        id: *const c_char,
        out: *mut u32,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_stats(
        sp: *const Spooler,
        id: *const c_char,
        out: *mut Stats,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_add_transport(
        sp: *mut Spooler,
        flush_queues: FlushFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        id: *mut u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_add_transport_ex(
        sp: *mut Spooler,
        flush_queues: FlushFn,
        cancel: CancelFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        id: *mut u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_cancelled_receptions(
        sp: *const Spooler,
        id: *const c_char,
        count: *mut u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_remove_transport(sp: *mut Spooler, id: u64) -> i32;
    pub(super) fn mapi_logoff_spooler_subscribe(
        sp: *mut Spooler,
        on_event: EventFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        id: *mut u64,
    ) -> i32;
    pub(super) fn mapi_logoff_spooler_unsubscribe(sp: *mut Spooler, id: u64) -> i32;
    pub(super) fn mapi_logoff_spooler_close(
        sp: *mut Spooler,
        deadline_ms: u64,
        released: *mut usize,
        undrained: *mut usize,
    ) -> i32;
    pub(super) fn mapi_logoff_store_new(
        support: SupportFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        store_flags: u32,
        out: *mut *mut Store,
    ) -> i32;
    pub(super) fn mapi_logoff_store_add_ref(store: *mut Store) -> u32;
    pub(super) fn mapi_logoff_store_release(store: *mut Store) -> u32;
    pub(super) fn mapi_logoff_store_logoff(store: *mut Store, flags: *mut u32) -> i32;
    pub(super) fn mapi_logoff_store_logoff_transports(store: *mut Store, flags: *mut u32) -> i32;
    pub(super) fn mapi_logoff_store_set_strict(store: *mut Store, strict: bool) -> i32;
    pub(super) fn mapi_logoff_store_ref_count(store: *const Store) -> u32;
    pub(super) fn mapi_logoff_store_is_valid(store: *const Store) -> bool;
}
