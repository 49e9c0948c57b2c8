//! The interpreter behind the C-API fuzz target: arbitrary bytes become a sequence of calls
//! of libmapi_logoff's C API on a few spoolers and stores (NULL pointers, bad flags and store
//! ids, activity reports in any order, closes and frees included), and after every call the
//! harness checks what the API documents. A broken invariant panics with a description.
//!
//! Dependency-free on purpose, so that two programs build it:
//! - `fuzz_targets/c_api.rs`, the libFuzzer target, links it to the ffi sources built with
//!   the fuzzing instrumentation (`scripts/fuzz`);
//! - `replay.rs`, a plain program built by `rustc` against the installed libmapi_logoff.so,
//!   which `make -C tests/c check` runs over `fuzz/regressions/` (plain and under valgrind).
//!
//! The harness never passes a dangling pointer: a store handle whose release returned 0 is
//! forgotten, a freed spooler handle is never used again. Everything else is fair game.
//!
//! What is checked (docs/reliability.md lists it too):
//! - every HRESULT is the one the header documents for the inputs and the state before the call
//!   (NULL and non-UTF-8 arguments, empty ids, bad flags, closed spoolers, gates, empty queues);
//! - a rejected call changes nothing: out-parameters, the store's counters and gates, the
//!   handle's count and saved mode;
//! - accepted activity reports change the counters by exactly one message; no counter of
//!   messages submitted, sent, begun or received ever goes down; at every moment
//!   `submitted == queued + sending + sent` and `receptions == receiving + received`;
//! - StoreLogoffTransports (explicit or from the final release) writes the decision that
//!   `mapi_logoff_decide` gives for the store's activity, emits one decision event, and
//!   carries it out (refused: nothing changes; NOW: the client's hold ends; WHEN_DRAINED:
//!   gates narrowed, released the moment it drains); a COMPLETE answer invalidates the handle;
//! - reference counts follow add_ref/release; the final release calls the Support exactly once
//!   with the saved mode (ABORT if none), never after an invalidating COMPLETE;
//! - at the end, once every handle is released and every transfer ended: every store of a
//!   spooler that was not closed has drained and been released, with exactly one `released`
//!   event per open (no store leaks); every callback context is freed exactly once, and none
//!   whose registration failed; every spooler is gone (its registry lock file removed).
#![allow(unsafe_code, dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The C API, declared by hand (the header's types and values).

pub const S_OK: i32 = 0;
const E_INVALID_PARAMETER: i32 = 0x8007_0057_u32 as i32;
const E_NO_ACCESS: i32 = 0x8007_0005_u32 as i32;
const E_NO_SUPPORT: i32 = 0x8004_0102_u32 as i32;
const E_UNKNOWN_FLAGS: i32 = 0x8004_0106_u32 as i32;
const E_INVALID_OBJECT: i32 = 0x8004_0108_u32 as i32;
const E_NOT_FOUND: i32 = 0x8004_010F_u32 as i32;
const E_TIMEOUT: i32 = 0x8004_0401_u32 as i32;
/// MAPI_E_NETWORK_ERROR: a real MAPI code the library has no name for.
const E_FOREIGN: i32 = 0x8004_0115_u32 as i32;

const NO_WAIT: u32 = 0x1;
const ORDERLY: u32 = 0x2;
const PURGE: u32 = 0x4;
const ABORT: u32 = 0x8;
const QUIET: u32 = 0x10;
const MODES: [u32; 5] = [NO_WAIT, ORDERLY, PURGE, ABORT, QUIET];
const MOST_CAUTIOUS_FIRST: [u32; 5] = [QUIET, ABORT, ORDERLY, NO_WAIT, PURGE];
const COMPLETE: u32 = 0x1_0000;
const INBOUND: u32 = 0x2_0000;
const OUTBOUND: u32 = 0x4_0000;
const OUTBOUND_QUEUE: u32 = 0x8_0000;
const GATES: u32 = INBOUND | OUTBOUND | OUTBOUND_QUEUE;
const OUTPUT_BITS: u32 = COMPLETE | GATES;
const CTX_SHARED: u32 = 0x1;
/// `MAPI_LOGOFF_DECIDE_STRICT`: strict validation (lenient is the default).
const CTX_STRICT: u32 = 0x2;
const CTX_CANCELLABLE: u32 = 0x4;
const FLUSH_PURGE: u32 = 0x2 | 0x10; // FLUSH_UPLOAD | FLUSH_NO_UI
const REFUSED: u32 = 0;
const NOW: u32 = 1;
const WHEN_DRAINED: u32 = 2;
const EVENT_DECIDED: u32 = 1;
const EVENT_REFUSED: u32 = 2;
const EVENT_RELEASED: u32 = 3;
const EVENT_TIMED_OUT: u32 = 5;
const EVENT_FLUSH_FAILED: u32 = 6;
const DEADLINE_DEFAULT: u64 = u64::MAX;

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
    out_flags: u32,
    release: u32,
    flush_flags: u32,
    allowed: u32,
    waits: bool,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    queued: u64,
    sending: u64,
    receiving: u64,
    submitted: u64,
    sent: u64,
    receptions: u64,
    received: u64,
    activity: u32,
    allowed: u32,
    clients: u32,
    pending_mode: u32,
    released: bool,
}

#[repr(C)]
pub struct Event {
    kind: u32,
    store_id: *const c_char,
    mode_flag: u32,
    out_flags: u32,
    has_decision: bool,
    decision: Decision,
    detail: *const c_char,
}

type SupportFn = Option<unsafe extern "C" fn(*mut c_void, *mut u32) -> i32>;
type FlushFn = Option<unsafe extern "C" fn(*mut c_void, *const c_char, u32) -> i32>;
type EventFn = Option<unsafe extern "C" fn(*mut c_void, *const Event)>;
type FreeFn = Option<unsafe extern "C" fn(*mut c_void)>;

unsafe extern "C" {
    fn mapi_logoff_decide(flags: u32, activity: u32, context: u32, out: *mut Decision) -> i32;
    fn mapi_logoff_error_name(hresult: i32) -> *const c_char;
    fn mapi_logoff_error_message(hresult: i32) -> *const c_char;
    fn mapi_logoff_event_kind_name(kind: u32) -> *const c_char;
    fn mapi_logoff_spooler_options_new(out: *mut *mut Options) -> i32;
    fn mapi_logoff_spooler_options_free(options: *mut Options);
    fn mapi_logoff_spooler_options_set_purge_deadline_ms(o: *mut Options, ms: u64) -> i32;
    fn mapi_logoff_spooler_options_set_close_deadline_ms(o: *mut Options, ms: u64) -> i32;
    fn mapi_logoff_spooler_options_set_strict(o: *mut Options, strict: bool) -> i32;
    fn mapi_logoff_spooler_options_set_cross_process(o: *mut Options, cross: bool) -> i32;
    fn mapi_logoff_spooler_options_set_runtime_dir(o: *mut Options, dir: *const c_char) -> i32;
    fn mapi_logoff_spooler_new(profile: *const c_char, out: *mut *mut Spooler) -> i32;
    fn mapi_logoff_spooler_new_with_options(
        profile: *const c_char,
        options: *const Options,
        out: *mut *mut Spooler,
    ) -> i32;
    fn mapi_logoff_spooler_free(spooler: *mut Spooler);
    fn mapi_logoff_spooler_set_purge_deadline(spooler: *mut Spooler, ms: u64) -> i32;
    fn mapi_logoff_store_open(sp: *mut Spooler, id: *const c_char, out: *mut *mut Store) -> i32;
    fn mapi_logoff_spooler_submit(sp: *mut Spooler, id: *const c_char) -> i32;
    fn mapi_logoff_spooler_begin_send(sp: *mut Spooler, id: *const c_char) -> i32;
    fn mapi_logoff_spooler_end_send(sp: *mut Spooler, id: *const c_char, sent: bool) -> i32;
    fn mapi_logoff_spooler_begin_receive(sp: *mut Spooler, id: *const c_char) -> i32;
    fn mapi_logoff_spooler_end_receive(sp: *mut Spooler, id: *const c_char) -> i32;
    fn mapi_logoff_spooler_activity(sp: *const Spooler, id: *const c_char, out: *mut u32) -> i32;
    fn mapi_logoff_spooler_stats(sp: *const Spooler, id: *const c_char, out: *mut Stats) -> i32;
    fn mapi_logoff_spooler_add_transport(
        sp: *mut Spooler,
        flush_queues: FlushFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        id: *mut u64,
    ) -> i32;
    fn mapi_logoff_spooler_remove_transport(sp: *mut Spooler, id: u64) -> i32;
    fn mapi_logoff_spooler_subscribe(
        sp: *mut Spooler,
        on_event: EventFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        id: *mut u64,
    ) -> i32;
    fn mapi_logoff_spooler_unsubscribe(sp: *mut Spooler, id: u64) -> i32;
    fn mapi_logoff_spooler_close(
        sp: *mut Spooler,
        deadline_ms: u64,
        released: *mut usize,
        undrained: *mut usize,
    ) -> i32;
    fn mapi_logoff_store_new(
        support: SupportFn,
        ctx: *mut c_void,
        free_ctx: FreeFn,
        store_flags: u32,
        out: *mut *mut Store,
    ) -> i32;
    fn mapi_logoff_store_add_ref(store: *mut Store) -> u32;
    fn mapi_logoff_store_release(store: *mut Store) -> u32;
    fn mapi_logoff_store_logoff(store: *mut Store, flags: *mut u32) -> i32;
    fn mapi_logoff_store_logoff_transports(store: *mut Store, flags: *mut u32) -> i32;
    fn mapi_logoff_store_set_strict(store: *mut Store, strict: bool) -> i32;
    fn mapi_logoff_store_ref_count(store: *const Store) -> u32;
    fn mapi_logoff_store_is_valid(store: *const Store) -> bool;
}

// ---------------------------------------------------------------------------------------------
// The protocol's validation rules (SPEC §3), small enough to state here as the oracle.

/// The mode `flags` asks for, or the HRESULT that rejects them.
fn mode_of(flags: u32, lenient: bool) -> Result<u32, i32> {
    let input = flags & !OUTPUT_BITS;
    if input & !0x1F != 0 {
        return Err(E_UNKNOWN_FLAGS);
    }
    match input.count_ones() {
        1 => Ok(input),
        0 if lenient => Ok(ABORT),
        _ if lenient => Ok(*MOST_CAUTIOUS_FIRST
            .iter()
            .find(|m| input & **m != 0)
            .unwrap()),
        _ => Err(E_INVALID_PARAMETER),
    }
}

/// What `mapi_logoff_decide` must answer for bad inputs: context, then flags, then activity.
fn decide_error(flags: u32, activity: u32, context: u32) -> Option<i32> {
    if context & !(CTX_SHARED | CTX_STRICT | CTX_CANCELLABLE) != 0 {
        return Some(E_UNKNOWN_FLAGS);
    }
    if let Err(hr) = mode_of(flags, context & CTX_STRICT == 0) {
        return Some(hr);
    }
    (activity & !GATES != 0).then_some(E_UNKNOWN_FLAGS)
}

/// SPEC §4: drained means nothing in flight, and for NO_WAIT, PURGE (and a deferred QUIET)
/// an empty queue too.
fn drained(mode: u32, activity: u32) -> bool {
    match mode {
        NO_WAIT | PURGE | QUIET => activity == 0,
        _ => activity & (INBOUND | OUTBOUND) == 0,
    }
}

fn decide(mode: u32, activity: u32, shared: bool) -> Decision {
    let mut d = Decision::default();
    let hr =
        unsafe { mapi_logoff_decide(mode, activity, if shared { CTX_SHARED } else { 0 }, &mut d) };
    assert_eq!(
        hr, S_OK,
        "decide({mode:#x}, {activity:#x}, shared={shared}) failed"
    );
    d
}

fn hr_name(hr: i32) -> String {
    let p = unsafe { mapi_logoff_error_name(hr) };
    assert!(!p.is_null(), "mapi_logoff_error_name({hr:#x}) is NULL");
    let name = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    format!("{name} ({:#010x})", hr as u32)
}

#[track_caller]
fn expect_hr(what: &str, got: i32, want: i32) {
    if got != want {
        panic!("{what}: got {}, want {}", hr_name(got), hr_name(want));
    }
}

// ---------------------------------------------------------------------------------------------
// Input.

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = self.data.get(self.pos).copied();
        self.pos += 1;
        b
    }
    /// 0..n (0 once the input is used up).
    fn pick(&mut self, n: usize) -> usize {
        self.byte().map_or(0, |b| b as usize % n)
    }
    fn bit(&mut self) -> bool {
        self.pick(2) == 1
    }
    /// True one time in `n`.
    fn rarely(&mut self, n: usize) -> bool {
        self.byte().is_some_and(|b| (b as usize).is_multiple_of(n))
    }
    fn u32(&mut self) -> u32 {
        (0..4).fold(0, |v, i| v | (self.byte().unwrap_or(0) as u32) << (8 * i))
    }
    fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.pick(max + 1);
        (0..n).filter_map(|_| self.byte()).collect()
    }

    /// Flags as callers get them wrong: mostly one mode, also none, several, output bits on
    /// input, unknown bits and anything at all.
    fn flags(&mut self) -> u32 {
        let mode = MODES[self.pick(5)];
        match self.pick(16) {
            0 => 0,
            1 => mode | MODES[self.pick(5)] | MODES[self.pick(5)],
            2 => mode | (self.u32() & OUTPUT_BITS),
            3 => mode | 1 << (5 + self.pick(27)),
            4 => self.u32(),
            5 => u32::MAX,
            _ => mode,
        }
    }

    fn activity(&mut self) -> u32 {
        match self.pick(8) {
            0 => self.u32(),
            _ => self.u32() & GATES,
        }
    }
}

/// A store id argument: NULL, valid, empty, or raw bytes (possibly not UTF-8).
struct IdArg {
    c: Option<CString>,
    /// The id when the library must accept it.
    valid: Option<String>,
}

impl IdArg {
    fn ptr(&self) -> *const c_char {
        self.c.as_ref().map_or(null(), |c| c.as_ptr())
    }
}

const IDS: [&str; 3] = ["s0", "s1", "s2"];

fn id_arg(r: &mut Reader) -> IdArg {
    let bytes: Vec<u8> = match r.pick(16) {
        12 => {
            return IdArg {
                c: None,
                valid: None,
            };
        }
        13 => Vec::new(),
        14 => r.bytes(6),
        15 => b"\xff\xfe".to_vec(),
        i => IDS[i % 3].as_bytes().to_vec(),
    };
    id_from(bytes)
}

fn id_from(bytes: Vec<u8>) -> IdArg {
    // A C string ends at its first NUL.
    let bytes: Vec<u8> = bytes.into_iter().take_while(|b| *b != 0).collect();
    let valid = std::str::from_utf8(&bytes)
        .ok()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    IdArg {
        c: Some(CString::new(bytes).expect("no NUL")),
        valid,
    }
}

impl Clone for IdArg {
    fn clone(&self) -> IdArg {
        IdArg {
            c: self.c.clone(),
            valid: self.valid.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks and their contexts. A context lives in the harness (an Arc) for the whole run;
// free_ctx only counts, so a wrong second free is seen rather than a double free.

struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
    fn release_all(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

struct Callback {
    kind: u8,
    gate: Arc<Gate>,
    calls: AtomicU32,
    last_flags: AtomicU32,
    freed: AtomicU32,
    /// Arguments the library should never have passed.
    bad: AtomicU32,
}

impl Callback {
    fn new(kind: u8, gate: &Arc<Gate>) -> Arc<Callback> {
        Arc::new(Callback {
            kind,
            gate: gate.clone(),
            calls: AtomicU32::new(0),
            last_flags: AtomicU32::new(0),
            freed: AtomicU32::new(0),
            bad: AtomicU32::new(0),
        })
    }
    fn ctx(self: &Arc<Self>) -> *mut c_void {
        Arc::as_ptr(self) as *mut c_void
    }
}

unsafe extern "C" fn free_callback(ctx: *mut c_void) {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.freed.fetch_add(1, Ordering::SeqCst);
}

fn valid_c_id(p: *const c_char) -> bool {
    !p.is_null()
        && unsafe { CStr::from_ptr(p) }
            .to_str()
            .is_ok_and(|s| !s.is_empty())
}

const TRANSPORT_KINDS: u8 = 5;

/// A transport: succeeds, fails with a known or a foreign HRESULT, blocks until the run ends
/// (a flush that never finishes), or calls the library's pure functions and returns S_FALSE.
unsafe extern "C" fn flush_queues(ctx: *mut c_void, store_id: *const c_char, flags: u32) -> i32 {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    cb.last_flags.store(flags, Ordering::SeqCst);
    if !valid_c_id(store_id) || flags != FLUSH_PURGE {
        cb.bad.fetch_add(1, Ordering::SeqCst);
    }
    match cb.kind % TRANSPORT_KINDS {
        0 => S_OK,
        1 => E_NO_SUPPORT,
        2 => E_FOREIGN,
        3 => {
            cb.gate.wait();
            S_OK
        }
        _ => {
            let mut d = Decision::default();
            let hr = unsafe { mapi_logoff_decide(PURGE, 0, 0, &mut d) };
            if hr != S_OK || unsafe { mapi_logoff_error_name(hr) }.is_null() {
                cb.bad.fetch_add(1, Ordering::SeqCst);
            }
            1
        }
    }
}

/// A subscriber of the fuzz input's own: ignores the event, or reads it.
unsafe extern "C" fn on_event(ctx: *mut c_void, e: *const Event) {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    if cb.kind % 2 == 1 {
        let e = unsafe { &*e };
        if unsafe { mapi_logoff_event_kind_name(e.kind) }.is_null() || !valid_c_id(e.store_id) {
            cb.bad.fetch_add(1, Ordering::SeqCst);
        }
    }
}

const SUPPORT_KINDS: u8 = 6;

/// A caller-supplied Support: answers COMPLETE, refuses, times out, fails with a known or a
/// foreign HRESULT (scribbling on the flags first), or answers COMPLETE with S_FALSE.
unsafe extern "C" fn support(ctx: *mut c_void, flags: *mut u32) -> i32 {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    let flags = unsafe { &mut *flags };
    cb.last_flags.store(*flags, Ordering::SeqCst);
    let (hr, out) = support_answer(cb.kind);
    *flags = out;
    hr
}

/// What the support callback of `kind` returns and writes.
fn support_answer(kind: u8) -> (i32, u32) {
    match kind % SUPPORT_KINDS {
        0 => (S_OK, COMPLETE),
        1 => (S_OK, INBOUND),
        2 => (E_TIMEOUT, COMPLETE | OUTBOUND),
        3 => (E_NO_SUPPORT, 0xDEAD),
        4 => (E_FOREIGN, 0xBEEF),
        _ => (1, COMPLETE),
    }
}

/// What `mapi_logoff_store_logoff_transports` on such a store returns, and the flags after
/// (None: unchanged).
fn support_outcome(kind: u8) -> (i32, Option<u32>) {
    match support_answer(kind) {
        (1, out) => (S_OK, Some(out)),
        (hr @ (S_OK | E_TIMEOUT), out) => (hr, Some(out)),
        (hr, _) => (hr, None),
    }
}

/// The harness's own subscriber on every spooler: checks each event's shape and counts them.
#[derive(Default)]
struct Sink {
    state: Mutex<SinkState>,
    freed: AtomicU32,
}

#[derive(Default)]
struct SinkState {
    /// (store id, kind) -> events.
    counts: BTreeMap<(String, u32), u64>,
    /// store id -> the last decided or refused event (mode, out_flags, kind).
    last_decision: BTreeMap<String, (u32, u32, u32)>,
    problems: Vec<String>,
}

impl Sink {
    fn count(&self, id: &str, kind: u32) -> u64 {
        let s = self.state.lock().unwrap();
        s.counts.get(&(id.to_owned(), kind)).copied().unwrap_or(0)
    }
    fn decisions(&self, id: &str) -> u64 {
        self.count(id, EVENT_DECIDED) + self.count(id, EVENT_REFUSED)
    }
    fn last_decision(&self, id: &str) -> Option<(u32, u32, u32)> {
        self.state.lock().unwrap().last_decision.get(id).copied()
    }
}

unsafe extern "C" fn sink_event(ctx: *mut c_void, e: *const Event) {
    let sink = unsafe { &*(ctx as *const Sink) };
    let e = unsafe { &*e };
    let mut problems = Vec::new();
    let id = if valid_c_id(e.store_id) {
        unsafe { CStr::from_ptr(e.store_id) }
            .to_str()
            .unwrap()
            .to_owned()
    } else {
        problems.push("an event without a valid store id".to_owned());
        String::new()
    };
    if !(1..=7).contains(&e.kind) {
        problems.push(format!(
            "event kind {} is not a MAPI_LOGOFF_EVENT_*",
            e.kind
        ));
    }
    let decision_kind = matches!(e.kind, EVENT_DECIDED | EVENT_REFUSED);
    if e.has_decision != decision_kind {
        problems.push(format!(
            "event kind {}: has_decision {}",
            e.kind, e.has_decision
        ));
    }
    if e.has_decision {
        let d = e.decision;
        if d.release > WHEN_DRAINED || (e.kind == EVENT_REFUSED) != (d.release == REFUSED) {
            problems.push(format!("event kind {} with release {}", e.kind, d.release));
        }
        if d.out_flags != e.out_flags {
            problems.push(format!(
                "event out_flags {:#x} != decision's {:#x}",
                e.out_flags, d.out_flags
            ));
        }
    }
    if e.mode_flag != 0 && !MODES.contains(&e.mode_flag) {
        problems.push(format!("event mode_flag {:#x}", e.mode_flag));
    }
    if !e.detail.is_null() && unsafe { CStr::from_ptr(e.detail) }.to_str().is_err() {
        problems.push("event detail is not UTF-8".to_owned());
    }
    if e.kind == EVENT_FLUSH_FAILED && e.detail.is_null() {
        problems.push("flush_failed without a detail".to_owned());
    }
    let mut s = sink.state.lock().unwrap();
    *s.counts.entry((id.clone(), e.kind)).or_default() += 1;
    if decision_kind {
        s.last_decision
            .insert(id, (e.mode_flag, e.out_flags, e.kind));
    }
    s.problems.extend(problems);
}

unsafe extern "C" fn free_sink(ctx: *mut c_void) {
    let sink = unsafe { &*(ctx as *const Sink) };
    sink.freed.fetch_add(1, Ordering::SeqCst);
}

// ---------------------------------------------------------------------------------------------
// The harness's model of what it created.

const SLOTS: usize = 3;
/// Slots 0 and 1 are two spoolers of one profile (shared through the registry when both are
/// cross-process); slot 2 is alone in its profile.
const PROFILES: [&str; SLOTS] = ["shared", "shared", "solo"];

struct SpoolerRec {
    /// NULL once the harness freed its handle.
    ptr: *mut Spooler,
    profile: &'static str,
    cross: bool,
    lenient: bool,
    closed: bool,
    sink: Arc<Sink>,
    sink_id: u64,
    /// Store ids this spooler serves (mentioned by an open or an accepted activity report).
    ids: BTreeSet<String>,
    opens: BTreeMap<String, u64>,
    /// Counters last seen, to check that none goes down.
    last: BTreeMap<String, Stats>,
    transports: Vec<u64>,
    subscribers: Vec<u64>,
}

enum Owner {
    Spooler { rec: usize, id: String },
    External { cb: Arc<Callback> },
}

struct StoreRec {
    ptr: *mut Store,
    refs: u32,
    owner: Owner,
    lenient: bool,
    invalidated: bool,
    saved: Option<u32>,
}

struct Harness {
    dir: PathBuf,
    gate: Arc<Gate>,
    spoolers: Vec<SpoolerRec>,
    slots: [Option<usize>; SLOTS],
    stores: Vec<StoreRec>,
    /// Every callback context handed to the library, and whether the registration succeeded
    /// (then it must be freed exactly once, else never).
    callbacks: Vec<(Arc<Callback>, bool)>,
    /// The current target of activity reports, reads and opens.
    target_slot: usize,
    target: IdArg,
}

/// `MAPI_LOGOFF_FUZZ_TRACE=1` prints each call's number, for reading a failing input.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("MAPI_LOGOFF_FUZZ_TRACE").is_some())
}

/// Most calls a run makes, so that one input stays quick.
const MAX_OPS: usize = 400;

/// Runs one input. Panics, with what went wrong, when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut h = Harness::new();
    let mut r = Reader { data, pos: 0 };
    for _ in 0..MAX_OPS {
        let Some(op) = r.byte() else { break };
        h.step(op, &mut r);
        h.check_all();
    }
    h.finish();
}

impl Harness {
    fn new() -> Harness {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mapi-logoff-fuzz-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary runtime dir");
        // The registry refuses a directory that group or others can reach.
        std::fs::set_permissions(
            &dir,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .expect("a private runtime dir");
        Harness {
            dir,
            gate: Arc::new(Gate {
                open: Mutex::new(false),
                cv: Condvar::new(),
            }),
            spoolers: Vec::new(),
            slots: [None; SLOTS],
            stores: Vec::new(),
            callbacks: Vec::new(),
            target_slot: 0,
            target: id_from(b"s0".to_vec()),
        }
    }

    /// One call. Activity reports, reads and opens act on the current target (a spooler slot
    /// and a store id, chosen by op 0), so that sequences on one store stay dense in the input.
    fn step(&mut self, op: u8, r: &mut Reader) {
        let op = op % 32;
        if trace() {
            eprintln!(
                "op {op} at byte {} (target {} {:?})",
                r.pos - 1,
                self.target_slot,
                self.target.valid
            );
        }
        match op {
            0 => self.select_target(r),
            1 | 2 | 30 => self.report(Report::Submit, true, false, r),
            3 | 31 => self.report(Report::BeginSend, true, false, r),
            4 => self.report(Report::EndSend, true, false, r),
            5 => self.report(Report::EndSend, false, false, r),
            6 | 7 => self.report(Report::BeginReceive, true, false, r),
            8 => self.report(Report::EndReceive, true, false, r),
            9 => {
                let kind = [
                    Report::Submit,
                    Report::BeginSend,
                    Report::EndSend,
                    Report::BeginReceive,
                    Report::EndReceive,
                ][r.pick(5)];
                self.report(kind, true, true, r)
            }
            10 => self.read(false, false, r),
            11 => {
                let null_spooler = r.bit();
                self.read(null_spooler, !null_spooler, r)
            }
            12 | 13 => self.open_store(false, false, r),
            14 => {
                let null_spooler = r.bit();
                self.open_store(null_spooler, !null_spooler, r)
            }
            15 => self.add_ref(r),
            16 => self.release(r),
            17 => self.logoff(r),
            18 => self.logoff_transports(r),
            19 => self.set_lenient(r),
            20 => self.store_new(r),
            21 => self.add_transport(r),
            22 => self.remove_transport(r),
            23 => self.subscribe(r),
            24 => self.unsubscribe(r),
            25 => self.set_purge_deadline(r),
            26 => self.close(r),
            27 => self.free_spooler(r),
            28 => self.null_handle(r),
            _ => self.pure(r),
        }
    }

    fn select_target(&mut self, r: &mut Reader) {
        self.target_slot = r.pick(SLOTS);
        self.target = id_arg(r);
    }

    /// The current target's spooler record (created first if its slot is empty).
    fn target_spooler(&mut self, r: &mut Reader) -> usize {
        self.spooler(self.target_slot, r)
    }

    // --- spoolers ------------------------------------------------------------------------------

    /// The record of the spooler in `slot`, created first if the slot is empty.
    fn spooler(&mut self, slot: usize, r: &mut Reader) -> usize {
        if let Some(i) = self.slots[slot] {
            return i;
        }
        let cross = slot < 2 && !r.rarely(8);
        let lenient = r.rarely(4);
        let purge_ms = r.pick(3) as u64;
        let close_ms = r.pick(3) as u64;
        let mut o: *mut Options = null_mut();
        unsafe {
            expect_hr("options_new", mapi_logoff_spooler_options_new(&mut o), S_OK);
            expect_hr(
                "set_cross_process",
                mapi_logoff_spooler_options_set_cross_process(o, cross),
                S_OK,
            );
            expect_hr(
                "set_strict",
                mapi_logoff_spooler_options_set_strict(o, !lenient),
                S_OK,
            );
            expect_hr(
                "set_purge_deadline_ms",
                mapi_logoff_spooler_options_set_purge_deadline_ms(o, purge_ms),
                S_OK,
            );
            expect_hr(
                "set_close_deadline_ms",
                mapi_logoff_spooler_options_set_close_deadline_ms(o, close_ms),
                S_OK,
            );
            let dir = CString::new(self.dir.to_str().unwrap()).unwrap();
            expect_hr(
                "set_runtime_dir",
                mapi_logoff_spooler_options_set_runtime_dir(o, dir.as_ptr()),
                S_OK,
            );
        }
        let profile = CString::new(PROFILES[slot]).unwrap();
        let mut sp: *mut Spooler = null_mut();
        let hr = unsafe { mapi_logoff_spooler_new_with_options(profile.as_ptr(), o, &mut sp) };
        unsafe { mapi_logoff_spooler_options_free(o) };
        expect_hr("spooler_new_with_options", hr, S_OK);
        assert!(!sp.is_null());
        let sink = Arc::new(Sink::default());
        let mut sink_id = 0;
        let hr = unsafe {
            mapi_logoff_spooler_subscribe(
                sp,
                Some(sink_event),
                Arc::as_ptr(&sink) as *mut c_void,
                Some(free_sink),
                &mut sink_id,
            )
        };
        expect_hr("subscribe (harness)", hr, S_OK);
        self.spoolers.push(SpoolerRec {
            ptr: sp,
            profile: PROFILES[slot],
            cross,
            lenient,
            closed: false,
            sink,
            sink_id,
            ids: BTreeSet::new(),
            opens: BTreeMap::new(),
            last: BTreeMap::new(),
            transports: Vec::new(),
            subscribers: Vec::new(),
        });
        let i = self.spoolers.len() - 1;
        self.slots[slot] = Some(i);
        i
    }

    fn stats(&self, rec: usize, id: &str) -> Option<Stats> {
        let sp = self.spoolers[rec].ptr;
        if sp.is_null() {
            return None;
        }
        let c = CString::new(id).unwrap();
        let mut s = Stats::default();
        expect_hr(
            "stats",
            unsafe { mapi_logoff_spooler_stats(sp, c.as_ptr(), &mut s) },
            S_OK,
        );
        Some(s)
    }

    /// Whether another client holds `id`: a second client of this spooler, or a client of
    /// another live spooler of the profile (through the registry). None when the harness cannot
    /// tell (another spooler of the profile whose handle it freed may still be alive).
    fn shared(&self, rec: usize, id: &str, stats: &Stats) -> Option<bool> {
        if stats.clients > 1 {
            return Some(true);
        }
        let me = &self.spoolers[rec];
        if !me.cross {
            return Some(false);
        }
        let mut unknown = false;
        for (i, other) in self.spoolers.iter().enumerate() {
            if i == rec || !other.cross || other.profile != me.profile {
                continue;
            }
            match self.stats(i, id) {
                Some(s) if s.clients > 0 => return Some(true),
                Some(_) => {}
                None => unknown = true,
            }
        }
        if unknown { None } else { Some(false) }
    }

    fn set_purge_deadline(&mut self, r: &mut Reader) {
        if r.rarely(16) {
            let hr = unsafe { mapi_logoff_spooler_set_purge_deadline(null_mut(), 1) };
            return expect_hr("set_purge_deadline(NULL)", hr, E_INVALID_PARAMETER);
        }
        let rec = self.target_spooler(r);
        let ms = r.pick(3) as u64;
        let hr = unsafe { mapi_logoff_spooler_set_purge_deadline(self.spoolers[rec].ptr, ms) };
        expect_hr("set_purge_deadline", hr, S_OK);
    }

    fn close(&mut self, r: &mut Reader) {
        if r.rarely(16) {
            let hr = unsafe { mapi_logoff_spooler_close(null_mut(), 0, null_mut(), null_mut()) };
            return expect_hr("close(NULL)", hr, E_INVALID_PARAMETER);
        }
        let rec = self.target_spooler(r);
        let deadline = [0, 1, DEADLINE_DEFAULT][r.pick(3)];
        let want_counts = r.bit();
        let ids: Vec<String> = self.spoolers[rec].ids.iter().cloned().collect();
        let before: Vec<Stats> = ids.iter().map(|id| self.stats(rec, id).unwrap()).collect();
        let (mut released, mut undrained) = (usize::MAX, usize::MAX);
        let (rp, up) = if want_counts {
            (&mut released as *mut usize, &mut undrained as *mut usize)
        } else {
            (null_mut(), null_mut())
        };
        let hr = unsafe { mapi_logoff_spooler_close(self.spoolers[rec].ptr, deadline, rp, up) };
        if self.spoolers[rec].closed {
            expect_hr("second close", hr, E_INVALID_OBJECT);
            assert_eq!(
                (released, undrained),
                (usize::MAX, usize::MAX),
                "a failed close wrote"
            );
            return;
        }
        expect_hr("close", hr, S_OK);
        self.spoolers[rec].closed = true;
        let open: Vec<usize> = (0..ids.len())
            .filter(|i| before[*i].clients > 0 || before[*i].pending_mode != 0)
            .collect();
        let mut still_pending = 0;
        for i in &open {
            let after = self.stats(rec, &ids[*i]).unwrap();
            if after.pending_mode != 0 {
                still_pending += 1;
            } else {
                assert!(
                    after.released && after.allowed == 0,
                    "{}: closed but not released: {after:?}",
                    ids[*i]
                );
            }
        }
        if want_counts {
            assert_eq!(
                released + undrained,
                open.len(),
                "close reported {released}+{undrained} stores"
            );
            assert_eq!(undrained, still_pending, "close's undrained count");
        }
    }

    fn free_spooler(&mut self, r: &mut Reader) {
        if r.rarely(8) {
            unsafe { mapi_logoff_spooler_free(null_mut()) };
            return;
        }
        if let Some(rec) = self.slots[self.target_slot].take() {
            unsafe { mapi_logoff_spooler_free(self.spoolers[rec].ptr) };
            self.spoolers[rec].ptr = null_mut();
        }
    }

    // --- activity reports ----------------------------------------------------------------------

    fn report(&mut self, kind: Report, sent: bool, null_spooler: bool, r: &mut Reader) {
        let rec = self.target_spooler(r);
        let id = self.target.clone();
        let sp = if null_spooler {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let known = id
            .valid
            .as_ref()
            .is_some_and(|i| self.spoolers[rec].ids.contains(i));
        let before = id.valid.as_ref().and_then(|i| self.stats(rec, i));
        let hr = unsafe {
            match kind {
                Report::Submit => mapi_logoff_spooler_submit(sp, id.ptr()),
                Report::BeginSend => mapi_logoff_spooler_begin_send(sp, id.ptr()),
                Report::EndSend => mapi_logoff_spooler_end_send(sp, id.ptr(), sent),
                Report::BeginReceive => mapi_logoff_spooler_begin_receive(sp, id.ptr()),
                Report::EndReceive => mapi_logoff_spooler_end_receive(sp, id.ptr()),
            }
        };
        let what = format!("{kind:?}({:?})", id.valid);
        let Some(valid) = id.valid.clone().filter(|_| !null_spooler) else {
            return expect_hr(&what, hr, E_INVALID_PARAMETER);
        };
        if self.spoolers[rec].closed {
            expect_hr(&what, hr, E_INVALID_OBJECT);
            assert_eq!(
                before,
                self.stats(rec, &valid),
                "{what} on a closed spooler changed the store"
            );
            return;
        }
        let before = before.expect("the harness holds this spooler");
        // The first mention of an id serves the store with all gates open (SPEC §6).
        let gates = if known { before.allowed } else { GATES };
        let gate = |g: u32| if gates & g == g { S_OK } else { E_NO_ACCESS };
        let want = match kind {
            Report::Submit => gate(OUTBOUND_QUEUE),
            Report::BeginSend if gate(OUTBOUND) != S_OK => E_NO_ACCESS,
            Report::BeginSend if before.queued == 0 => E_NOT_FOUND,
            Report::BeginReceive => gate(INBOUND),
            Report::EndSend if before.sending == 0 => E_NOT_FOUND,
            Report::EndReceive if before.receiving == 0 => E_NOT_FOUND,
            _ => S_OK,
        };
        expect_hr(&what, hr, want);
        let after = self.stats(rec, &valid).unwrap();
        if hr != S_OK {
            // A refused report changes nothing: not even the first mention of an id.
            assert_eq!(after, before, "a rejected {what} changed the store");
            return;
        }
        self.spoolers[rec].ids.insert(valid.clone());
        let mut want = before;
        if !known {
            want.allowed = GATES;
        }
        match kind {
            Report::Submit => {
                want.queued += 1;
                want.submitted += 1;
            }
            Report::BeginSend => {
                want.queued -= 1;
                want.sending += 1;
            }
            Report::EndSend => {
                want.sending -= 1;
                if sent {
                    want.sent += 1;
                } else {
                    want.queued += 1;
                }
            }
            Report::BeginReceive => {
                want.receiving += 1;
                want.receptions += 1;
            }
            Report::EndReceive => {
                want.receiving -= 1;
                want.received += 1;
            }
        }
        want.activity = activity_of(&want);
        let ending = matches!(kind, Report::EndSend | Report::EndReceive);
        if ending && want.pending_mode != 0 && drained(want.pending_mode, want.activity) {
            // Released the moment it drains.
            want.pending_mode = 0;
            want.clients = want.clients.saturating_sub(1);
            if want.clients == 0 {
                want.allowed = 0;
                want.released = true;
            }
        }
        assert_eq!(after, want, "{what}: the counters moved wrongly");
    }

    fn read(&mut self, null_spooler: bool, null_out: bool, r: &mut Reader) {
        let rec = self.target_spooler(r);
        let id = self.target.clone();
        let sp = if null_spooler {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let ok = !null_spooler && !null_out && id.valid.is_some();
        let mut a = 0xA5A5_A5A5u32;
        let hr = unsafe {
            mapi_logoff_spooler_activity(sp, id.ptr(), if null_out { null_mut() } else { &mut a })
        };
        expect_hr("activity", hr, if ok { S_OK } else { E_INVALID_PARAMETER });
        let mut s = Stats {
            queued: 77,
            ..Stats::default()
        };
        let copy = s;
        let hr = unsafe {
            mapi_logoff_spooler_stats(sp, id.ptr(), if null_out { null_mut() } else { &mut s })
        };
        expect_hr("stats", hr, if ok { S_OK } else { E_INVALID_PARAMETER });
        if ok {
            assert_eq!(a, s.activity, "activity() and stats() disagree");
            if !self.spoolers[rec].ids.contains(id.valid.as_ref().unwrap()) {
                assert_eq!(s, Stats::default(), "a store never mentioned has counters");
            }
        } else {
            assert_eq!((a, s), (0xA5A5_A5A5, copy), "a rejected read wrote");
        }
    }

    // --- stores --------------------------------------------------------------------------------

    fn open_store(&mut self, null_spooler: bool, null_out: bool, r: &mut Reader) {
        let rec = self.target_spooler(r);
        let id = self.target.clone();
        let sp = if null_spooler {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let before = id.valid.as_ref().and_then(|i| self.stats(rec, i));
        let sentinel = 0x10 as *mut Store;
        let mut out = sentinel;
        let hr = unsafe {
            mapi_logoff_store_open(sp, id.ptr(), if null_out { null_mut() } else { &mut out })
        };
        let what = format!("open_store({:?})", id.valid);
        let Some(valid) = id.valid.clone().filter(|_| !null_spooler && !null_out) else {
            expect_hr(&what, hr, E_INVALID_PARAMETER);
            assert_eq!(out, sentinel, "a failed open wrote *out");
            return;
        };
        if self.spoolers[rec].closed {
            expect_hr(&what, hr, E_INVALID_OBJECT);
            assert_eq!(out, sentinel, "a failed open wrote *out");
            return;
        }
        expect_hr(&what, hr, S_OK);
        assert!(!out.is_null() && out != sentinel);
        let before = before.unwrap();
        let after = self.stats(rec, &valid).unwrap();
        let ended = u32::from(before.pending_mode != 0);
        assert_eq!(
            (
                after.clients,
                after.allowed,
                after.released,
                after.pending_mode
            ),
            (before.clients.saturating_sub(ended) + 1, GATES, false, 0),
            "{what}: {before:?} -> {after:?}"
        );
        let s = &mut self.spoolers[rec];
        s.ids.insert(valid.clone());
        *s.opens.entry(valid.clone()).or_default() += 1;
        let lenient = s.lenient;
        self.stores.push(StoreRec {
            ptr: out,
            refs: 1,
            owner: Owner::Spooler { rec, id: valid },
            lenient,
            invalidated: false,
            saved: None,
        });
    }

    fn store_new(&mut self, r: &mut Reader) {
        let kind = r.byte().unwrap_or(0);
        let cb = Callback::new(kind, &self.gate);
        let variant = r.pick(8);
        let mut out = 0x10 as *mut Store;
        let hr = unsafe {
            match variant {
                0 => mapi_logoff_store_new(None, cb.ctx(), Some(free_callback), 0, &mut out),
                1 => mapi_logoff_store_new(
                    Some(support),
                    cb.ctx(),
                    Some(free_callback),
                    0,
                    null_mut(),
                ),
                _ => mapi_logoff_store_new(Some(support), cb.ctx(), Some(free_callback), 0, &mut out),
            }
        };
        if variant < 2 {
            expect_hr("store_new with a NULL argument", hr, E_INVALID_PARAMETER);
            assert_eq!(out, 0x10 as *mut Store);
            self.callbacks.push((cb, false));
            return;
        }
        expect_hr("store_new", hr, S_OK);
        self.stores.push(StoreRec {
            ptr: out,
            refs: 1,
            owner: Owner::External { cb },
            // store_flags 0: the lenient default.
            lenient: true,
            invalidated: false,
            saved: None,
        });
    }

    /// A live store handle (None when there is none: the call then gets a NULL handle).
    fn pick_store(&self, r: &mut Reader) -> Option<usize> {
        let n = self.stores.len();
        let i = r.pick(n.max(1));
        (i < n).then_some(i)
    }

    /// Every store call with a NULL handle.
    fn null_handle(&mut self, r: &mut Reader) {
        let flags = r.flags();
        let mut f = flags;
        unsafe {
            assert_eq!(mapi_logoff_store_add_ref(null_mut()), 0, "add_ref(NULL)");
            assert_eq!(mapi_logoff_store_release(null_mut()), 0, "release(NULL)");
            assert_eq!(mapi_logoff_store_ref_count(null()), 0, "ref_count(NULL)");
            assert!(!mapi_logoff_store_is_valid(null()), "is_valid(NULL)");
            expect_hr(
                "logoff(NULL)",
                mapi_logoff_store_logoff(null_mut(), &mut f),
                E_INVALID_PARAMETER,
            );
            expect_hr(
                "logoff_transports(NULL)",
                mapi_logoff_store_logoff_transports(null_mut(), &mut f),
                E_INVALID_PARAMETER,
            );
            expect_hr(
                "set_strict(NULL)",
                mapi_logoff_store_set_strict(null_mut(), true),
                E_INVALID_PARAMETER,
            );
        }
        assert_eq!(f, flags, "a call on a NULL handle wrote the flags");
    }

    fn add_ref(&mut self, r: &mut Reader) {
        let Some(i) = self.pick_store(r) else {
            assert_eq!(
                unsafe { mapi_logoff_store_add_ref(null_mut()) },
                0,
                "add_ref(NULL)"
            );
            return;
        };
        let s = &mut self.stores[i];
        let got = unsafe { mapi_logoff_store_add_ref(s.ptr) };
        s.refs += 1;
        assert_eq!(got, s.refs, "add_ref");
    }

    fn release(&mut self, r: &mut Reader) {
        match self.pick_store(r) {
            Some(i) => self.release_one(i),
            None => assert_eq!(
                unsafe { mapi_logoff_store_release(null_mut()) },
                0,
                "release(NULL)"
            ),
        }
    }

    fn release_one(&mut self, i: usize) {
        let s = &self.stores[i];
        if s.refs > 1 {
            let got = unsafe { mapi_logoff_store_release(s.ptr) };
            assert_eq!(got, s.refs - 1, "release");
            self.stores[i].refs -= 1;
            return;
        }
        // The final release: StoreLogoffTransports exactly once with the saved mode (ABORT
        // if none), unless a logoff_transports already answered COMPLETE.
        let mode = s.saved.unwrap_or(ABORT);
        let calls_before = match &s.owner {
            Owner::External { cb } => cb.calls.load(Ordering::SeqCst),
            Owner::Spooler { .. } => 0,
        };
        let pre = match &s.owner {
            Owner::Spooler { rec, id } => Some(self.pre_logoff(*rec, id)),
            Owner::External { .. } => None,
        };
        let got = unsafe { mapi_logoff_store_release(s.ptr) };
        assert_eq!(got, 0, "final release");
        let s = self.stores.swap_remove(i);
        match &s.owner {
            Owner::External { cb } => {
                let calls = cb.calls.load(Ordering::SeqCst) - calls_before;
                assert_eq!(
                    calls,
                    u32::from(!s.invalidated),
                    "final release called the support {calls} times"
                );
                if !s.invalidated {
                    assert_eq!(
                        cb.last_flags.load(Ordering::SeqCst),
                        mode,
                        "the final release's mode"
                    );
                }
                assert_eq!(
                    cb.freed.load(Ordering::SeqCst),
                    1,
                    "the support's ctx after the final release"
                );
            }
            Owner::Spooler { rec, id } => {
                let pre = pre.unwrap();
                if s.invalidated {
                    assert_eq!(
                        self.spoolers[*rec].sink.decisions(id),
                        pre.decisions,
                        "final release after COMPLETE decided again"
                    );
                } else {
                    self.post_logoff(*rec, id, mode, pre, None, true);
                }
            }
        }
    }

    fn logoff(&mut self, r: &mut Reader) {
        let null_flags = r.rarely(16);
        let flags_in = r.flags();
        let Some(i) = self.pick_store(r) else {
            let mut f = flags_in;
            let hr = unsafe { mapi_logoff_store_logoff(null_mut(), &mut f) };
            expect_hr("logoff(NULL)", hr, E_INVALID_PARAMETER);
            assert_eq!(f, flags_in);
            return;
        };
        let (before, rec_id) = match &self.stores[i].owner {
            Owner::Spooler { rec, id } => (self.stats(*rec, id), Some((*rec, id.clone()))),
            Owner::External { .. } => (None, None),
        };
        let s = &self.stores[i];
        let mut f = flags_in;
        let hr = unsafe {
            mapi_logoff_store_logoff(s.ptr, if null_flags { null_mut() } else { &mut f })
        };
        let want = if null_flags {
            Err(E_INVALID_PARAMETER)
        } else if s.invalidated {
            Err(E_INVALID_OBJECT)
        } else {
            mode_of(flags_in, s.lenient)
        };
        let what = format!("logoff({flags_in:#x}, lenient={})", s.lenient);
        match want {
            Err(e) => {
                expect_hr(&what, hr, e);
                assert_eq!(f, flags_in, "{what}: a rejected logoff wrote the flags");
            }
            Ok(mode) => {
                expect_hr(&what, hr, S_OK);
                let activity = before.map_or(0, |b| b.activity);
                if rec_id
                    .as_ref()
                    .is_none_or(|(rec, _)| !self.spoolers[*rec].ptr.is_null())
                {
                    assert_eq!(
                        f,
                        mode | activity,
                        "{what}: StoreLogoff writes back the mode and the activity"
                    );
                }
                self.stores[i].saved = Some(mode);
            }
        }
        // StoreLogoff performs no logoff.
        if let Some((rec, id)) = rec_id {
            assert_eq!(self.stats(rec, &id), before, "{what} changed the store");
        }
        // Validation agrees with mapi_logoff_decide's.
        if !null_flags && !self.stores[i].invalidated {
            let lenient = self.stores[i].lenient;
            let mut d = Decision::default();
            let dh = unsafe {
                mapi_logoff_decide(flags_in, 0, if lenient { 0 } else { CTX_STRICT }, &mut d)
            };
            expect_hr("decide agrees with logoff", dh, hr);
        }
    }

    fn logoff_transports(&mut self, r: &mut Reader) {
        let null_flags = r.rarely(16);
        let flags_in = r.flags();
        let Some(i) = self.pick_store(r) else {
            let mut f = flags_in;
            let hr = unsafe { mapi_logoff_store_logoff_transports(null_mut(), &mut f) };
            expect_hr("logoff_transports(NULL)", hr, E_INVALID_PARAMETER);
            assert_eq!(f, flags_in);
            return;
        };
        let ptr = self.stores[i].ptr;
        let invalidated = self.stores[i].invalidated;
        let mut f = flags_in;
        let fp = if null_flags {
            null_mut()
        } else {
            &mut f as *mut u32
        };
        let what = format!("logoff_transports({flags_in:#x})");
        match &self.stores[i].owner {
            Owner::External { cb } => {
                let cb = cb.clone();
                let calls = cb.calls.load(Ordering::SeqCst);
                let hr = unsafe { mapi_logoff_store_logoff_transports(ptr, fp) };
                if null_flags || invalidated {
                    let want = if null_flags {
                        E_INVALID_PARAMETER
                    } else {
                        E_INVALID_OBJECT
                    };
                    expect_hr(&what, hr, want);
                    assert_eq!((f, cb.calls.load(Ordering::SeqCst)), (flags_in, calls));
                    return;
                }
                // The support validates; the library passes the flags through unchanged.
                assert_eq!(cb.calls.load(Ordering::SeqCst), calls + 1);
                assert_eq!(
                    cb.last_flags.load(Ordering::SeqCst),
                    flags_in,
                    "{what}: flags passed on"
                );
                let (want, out) = support_outcome(cb.kind);
                expect_hr(&what, hr, want);
                assert_eq!(f, out.unwrap_or(flags_in), "{what}: flags after");
                if out.is_some_and(|o| o & COMPLETE != 0) {
                    self.stores[i].invalidated = true;
                }
            }
            Owner::Spooler { rec, id } => {
                let (rec, id) = (*rec, id.clone());
                let lenient = self.spoolers[rec].lenient;
                let pre = self.pre_logoff(rec, &id);
                let hr = unsafe { mapi_logoff_store_logoff_transports(ptr, fp) };
                let rejected = if null_flags {
                    Some(E_INVALID_PARAMETER)
                } else if invalidated {
                    Some(E_INVALID_OBJECT)
                } else {
                    // The spooler validates, with its own lenient option.
                    match mode_of(flags_in, lenient) {
                        Err(e) => Some(e),
                        Ok(_) if self.spoolers[rec].closed => Some(E_INVALID_OBJECT),
                        Ok(_) => None,
                    }
                };
                if let Some(want) = rejected {
                    expect_hr(&what, hr, want);
                    assert_eq!(f, flags_in, "{what}: a rejected call wrote the flags");
                    assert_eq!(
                        self.spoolers[rec].sink.decisions(&id),
                        pre.decisions,
                        "{what}: rejected but decided"
                    );
                    assert_eq!(
                        self.stats(rec, &id),
                        pre.stats,
                        "{what}: rejected but changed the store"
                    );
                    return;
                }
                let mode = mode_of(flags_in, lenient).unwrap();
                if hr != S_OK {
                    expect_hr(&what, hr, E_TIMEOUT);
                }
                self.post_logoff(rec, &id, mode, pre, Some((hr, f)), false);
                if f & COMPLETE != 0 {
                    self.stores[i].invalidated = true;
                }
            }
        }
    }

    /// What a StoreLogoffTransports on a spooler's store is checked against.
    fn pre_logoff(&self, rec: usize, id: &str) -> PreLogoff {
        let stats = self.stats(rec, id);
        let shared = stats.as_ref().and_then(|s| self.shared(rec, id, s));
        let sink = &self.spoolers[rec].sink;
        PreLogoff {
            stats,
            shared,
            decisions: sink.decisions(id),
            released: sink.count(id, EVENT_RELEASED),
            timeouts: sink.count(id, EVENT_TIMED_OUT),
        }
    }

    /// Checks a StoreLogoffTransports with a valid `mode` (explicit: `answer` is its HRESULT
    /// and flags; final: from the final release).
    fn post_logoff(
        &self,
        rec: usize,
        id: &str,
        mode: u32,
        pre: PreLogoff,
        answer: Option<(i32, u32)>,
        final_release: bool,
    ) {
        let sp = &self.spoolers[rec];
        let what = format!("StoreLogoffTransports({mode:#x}) of {id} (final: {final_release})");
        if sp.closed {
            // Only a final release gets here on a closed spooler: it can do nothing.
            assert_eq!(
                sp.sink.decisions(id),
                pre.decisions,
                "{what}: decided on a closed spooler"
            );
            assert_eq!(
                self.stats(rec, id),
                pre.stats,
                "{what}: changed a closed spooler's store"
            );
            return;
        }
        assert_eq!(
            sp.sink.decisions(id),
            pre.decisions + 1,
            "{what}: one decision event"
        );
        let (ev_mode, ev_out, ev_kind) = sp.sink.last_decision(id).unwrap();
        assert_eq!(ev_mode, mode, "{what}: the event's mode");
        let (hr, out) = answer.unwrap_or((S_OK, ev_out));
        assert_eq!(
            out, ev_out,
            "{what}: the event's out_flags are the caller's"
        );
        let timed_out = sp.sink.count(id, EVENT_TIMED_OUT) - pre.timeouts;
        if answer.is_some() {
            assert_eq!(
                timed_out,
                u64::from(hr == E_TIMEOUT),
                "{what}: timed_out events"
            );
        }
        let Some(before) = pre.stats else {
            // The harness freed this spooler's handle: it cannot see the store any more.
            assert!(
                out & COMPLETE != 0 || mode & (QUIET | ABORT) != 0,
                "{what}: refused {out:#x}"
            );
            return;
        };
        let candidates: Vec<(bool, Decision)> = match pre.shared {
            Some(shared) => vec![(shared, decide(mode, before.activity, shared))],
            None => vec![
                (false, decide(mode, before.activity, false)),
                (true, decide(mode, before.activity, true)),
            ],
        };
        let after = self.stats(rec, id).unwrap();
        let released = sp.sink.count(id, EVENT_RELEASED) - pre.released;
        let outcome = Outcome {
            mode,
            hr,
            out,
            ev_kind,
            released,
            final_release,
            explicit: answer.is_some(),
        };
        // Where the harness cannot tell whether the store is shared, either answer may be right.
        let verdicts: Vec<Result<(), String>> = candidates
            .iter()
            .map(|(shared, d)| carried_out(&outcome, *shared, d, &before, &after))
            .collect();
        if !verdicts.iter().any(Result::is_ok) {
            panic!(
                "{what}: {verdicts:?} (activity {:#x}, {before:?} -> {after:?})",
                before.activity
            );
        }
    }

    fn set_lenient(&mut self, r: &mut Reader) {
        let lenient = r.bit();
        let Some(i) = self.pick_store(r) else {
            let hr = unsafe { mapi_logoff_store_set_strict(null_mut(), !lenient) };
            return expect_hr("set_strict(NULL)", hr, E_INVALID_PARAMETER);
        };
        let s = &mut self.stores[i];
        let hr = unsafe { mapi_logoff_store_set_strict(s.ptr, !lenient) };
        if s.invalidated {
            expect_hr("set_strict on an invalidated handle", hr, E_INVALID_OBJECT);
        } else {
            expect_hr("set_strict", hr, S_OK);
            s.lenient = lenient;
        }
    }

    // --- registrations -------------------------------------------------------------------------

    fn add_transport(&mut self, r: &mut Reader) {
        let kind = r.byte().unwrap_or(0);
        let variant = r.pick(16);
        let rec = self.target_spooler(r);
        let cb = Callback::new(kind, &self.gate);
        let sp = if variant == 0 {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let f: FlushFn = if variant == 1 {
            None
        } else {
            Some(flush_queues)
        };
        let mut id = u64::MAX;
        let idp = if variant == 2 {
            null_mut()
        } else {
            &mut id as *mut u64
        };
        let hr =
            unsafe { mapi_logoff_spooler_add_transport(sp, f, cb.ctx(), Some(free_callback), idp) };
        let ok = variant >= 2;
        expect_hr(
            "add_transport",
            hr,
            if ok { S_OK } else { E_INVALID_PARAMETER },
        );
        if ok && variant != 2 {
            self.spoolers[rec].transports.push(id);
        }
        if !ok {
            assert_eq!(id, u64::MAX, "a failed add_transport wrote the id");
        }
        self.callbacks.push((cb, ok));
    }

    fn remove_transport(&mut self, r: &mut Reader) {
        let rec = self.target_spooler(r);
        let list = &self.spoolers[rec].transports;
        let id = if !list.is_empty() && !r.rarely(4) {
            list[r.pick(list.len())]
        } else {
            r.u64()
        };
        if r.rarely(16) {
            let hr = unsafe { mapi_logoff_spooler_remove_transport(null_mut(), id) };
            return expect_hr("remove_transport(NULL)", hr, E_INVALID_PARAMETER);
        }
        let known = self.spoolers[rec].transports.iter().position(|t| *t == id);
        let hr = unsafe { mapi_logoff_spooler_remove_transport(self.spoolers[rec].ptr, id) };
        // An add_transport without an id out-parameter registered an id the harness does not
        // know: an unknown id may still be found.
        match known {
            Some(k) => {
                expect_hr("remove_transport", hr, S_OK);
                self.spoolers[rec].transports.swap_remove(k);
            }
            None if hr == S_OK => {}
            None => expect_hr("remove_transport(unknown)", hr, E_NOT_FOUND),
        }
    }

    fn subscribe(&mut self, r: &mut Reader) {
        let kind = r.byte().unwrap_or(0);
        let variant = r.pick(16);
        let rec = self.target_spooler(r);
        let cb = Callback::new(kind, &self.gate);
        let sp = if variant == 0 {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let f: EventFn = if variant == 1 { None } else { Some(on_event) };
        let mut id = u64::MAX;
        let hr =
            unsafe { mapi_logoff_spooler_subscribe(sp, f, cb.ctx(), Some(free_callback), &mut id) };
        let ok = variant >= 2;
        expect_hr("subscribe", hr, if ok { S_OK } else { E_INVALID_PARAMETER });
        if ok {
            self.spoolers[rec].subscribers.push(id);
        } else {
            assert_eq!(id, u64::MAX, "a failed subscribe wrote the id");
        }
        self.callbacks.push((cb, ok));
    }

    fn unsubscribe(&mut self, r: &mut Reader) {
        let rec = self.target_spooler(r);
        let list = &self.spoolers[rec].subscribers;
        let id = if !list.is_empty() && !r.rarely(4) {
            list[r.pick(list.len())]
        } else {
            r.u64()
        };
        if id == self.spoolers[rec].sink_id {
            return; // the harness's own subscriber stays
        }
        let known = self.spoolers[rec].subscribers.iter().position(|t| *t == id);
        let hr = unsafe { mapi_logoff_spooler_unsubscribe(self.spoolers[rec].ptr, id) };
        match known {
            Some(k) => {
                expect_hr("unsubscribe", hr, S_OK);
                self.spoolers[rec].subscribers.swap_remove(k);
            }
            None => expect_hr("unsubscribe(unknown)", hr, E_NOT_FOUND),
        }
    }

    // --- pure functions and constructors' bad inputs -------------------------------------------

    fn pure(&mut self, r: &mut Reader) {
        match r.pick(4) {
            0 | 1 => {
                let flags = r.flags();
                let activity = r.activity();
                let context = match r.pick(8) {
                    0 => r.u32(),
                    c => c as u32 % 8,
                };
                let null_out = r.rarely(16);
                let mut d = Decision {
                    out_flags: 0xAAAA,
                    ..Decision::default()
                };
                let hr = unsafe {
                    mapi_logoff_decide(
                        flags,
                        activity,
                        context,
                        if null_out { null_mut() } else { &mut d },
                    )
                };
                let what = format!("decide({flags:#x}, {activity:#x}, {context:#x})");
                let want = if null_out {
                    Some(E_INVALID_PARAMETER)
                } else {
                    decide_error(flags, activity, context)
                };
                expect_hr(&what, hr, want.unwrap_or(S_OK));
                if want.is_some() {
                    assert_eq!(d.out_flags, 0xAAAA, "{what}: a rejected decide wrote *out");
                    return;
                }
                check_decision(&what, d, activity, context & CTX_SHARED != 0);
                // Output bits on input are ignored (SPEC §3).
                let mut again = Decision::default();
                let other = flags ^ (r.u32() & OUTPUT_BITS);
                expect_hr(
                    &what,
                    unsafe { mapi_logoff_decide(other, activity, context, &mut again) },
                    S_OK,
                );
                assert_eq!(
                    d, again,
                    "{what}: output bits on input changed the decision"
                );
            }
            2 => {
                let hr = r.u32() as i32;
                for p in unsafe { [mapi_logoff_error_name(hr), mapi_logoff_error_message(hr)] } {
                    assert!(
                        !p.is_null() && unsafe { CStr::from_ptr(p) }.to_str().is_ok(),
                        "error text of {hr:#x}"
                    );
                }
                let kind = r.u32() % 10;
                let name = unsafe { mapi_logoff_event_kind_name(kind) };
                assert_eq!(
                    name.is_null(),
                    !(1..=7).contains(&kind),
                    "event_kind_name({kind})"
                );
            }
            _ => {
                // Constructors and the options builder with bad arguments.
                let id = id_arg(r);
                let mut out = 0x10 as *mut Spooler;
                let mut o: *mut Options = null_mut();
                unsafe {
                    expect_hr(
                        "options_new(NULL)",
                        mapi_logoff_spooler_options_new(null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr("options_new", mapi_logoff_spooler_options_new(&mut o), S_OK);
                    expect_hr(
                        "set_runtime_dir(\"\")",
                        mapi_logoff_spooler_options_set_runtime_dir(o, c"".as_ptr()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_strict(NULL)",
                        mapi_logoff_spooler_options_set_strict(null_mut(), true),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_cross_process(NULL)",
                        mapi_logoff_spooler_options_set_cross_process(null_mut(), true),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_runtime_dir(NULL options)",
                        mapi_logoff_spooler_options_set_runtime_dir(null_mut(), c"/".as_ptr()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_purge_deadline_ms(NULL)",
                        mapi_logoff_spooler_options_set_purge_deadline_ms(null_mut(), 1),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_close_deadline_ms(NULL)",
                        mapi_logoff_spooler_options_set_close_deadline_ms(null_mut(), 1),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "set_cross_process",
                        mapi_logoff_spooler_options_set_cross_process(o, false),
                        S_OK,
                    );
                    if id.valid.is_none() {
                        // A bad profile (NULL, empty, not UTF-8) creates nothing.
                        expect_hr(
                            "spooler_new(bad profile)",
                            mapi_logoff_spooler_new(id.ptr(), &mut out),
                            E_INVALID_PARAMETER,
                        );
                        expect_hr(
                            "spooler_new_with_options(bad profile)",
                            mapi_logoff_spooler_new_with_options(id.ptr(), o, &mut out),
                            E_INVALID_PARAMETER,
                        );
                    }
                    expect_hr(
                        "spooler_new(NULL out)",
                        mapi_logoff_spooler_new(c"p".as_ptr(), null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "spooler_new_with_options(NULL options)",
                        mapi_logoff_spooler_new_with_options(c"p".as_ptr(), null(), &mut out),
                        E_INVALID_PARAMETER,
                    );
                    expect_hr(
                        "spooler_new_with_options(NULL out)",
                        mapi_logoff_spooler_new_with_options(c"p".as_ptr(), o, null_mut()),
                        E_INVALID_PARAMETER,
                    );
                    mapi_logoff_spooler_options_free(o);
                    mapi_logoff_spooler_options_free(null_mut());
                }
                assert_eq!(out, 0x10 as *mut Spooler, "a failed spooler_new wrote *out");
            }
        }
    }

    // --- invariants after every call, and the end of a run -------------------------------------

    fn check_all(&mut self) {
        for rec in 0..self.spoolers.len() {
            {
                let mut st = self.spoolers[rec].sink.state.lock().unwrap();
                if !st.problems.is_empty() {
                    panic!("events: {:?}", std::mem::take(&mut st.problems));
                }
            }
            if self.spoolers[rec].ptr.is_null() {
                continue;
            }
            let ids: Vec<String> = self.spoolers[rec].ids.iter().cloned().collect();
            for id in ids {
                let s = self.stats(rec, &id).unwrap();
                assert_eq!(
                    s.submitted,
                    s.queued + s.sending + s.sent,
                    "{id}: lost a message: {s:?}"
                );
                assert_eq!(
                    s.receptions,
                    s.receiving + s.received,
                    "{id}: lost a reception: {s:?}"
                );
                assert_eq!(
                    s.activity,
                    activity_of(&s),
                    "{id}: activity does not match the counters"
                );
                assert_eq!(s.allowed & !GATES, 0, "{id}: gates");
                assert!(
                    s.pending_mode == 0 || MODES.contains(&s.pending_mode),
                    "{id}: pending {:#x}",
                    s.pending_mode
                );
                if let Some(last) = self.spoolers[rec].last.get(&id) {
                    assert!(
                        s.submitted >= last.submitted
                            && s.sent >= last.sent
                            && s.receptions >= last.receptions
                            && s.received >= last.received,
                        "{id}: a counter went down: {last:?} -> {s:?}"
                    );
                }
                self.spoolers[rec].last.insert(id, s);
            }
        }
        for s in &self.stores {
            assert_eq!(
                unsafe { mapi_logoff_store_ref_count(s.ptr) },
                s.refs,
                "ref_count"
            );
            assert_eq!(
                unsafe { mapi_logoff_store_is_valid(s.ptr) },
                !s.invalidated,
                "is_valid"
            );
        }
        for (cb, registered) in &self.callbacks {
            assert_eq!(
                cb.bad.load(Ordering::SeqCst),
                0,
                "a callback got bad arguments"
            );
            if !registered {
                assert_eq!(
                    cb.freed.load(Ordering::SeqCst),
                    0,
                    "the ctx of a failed registration was freed"
                );
            }
        }
    }

    /// Releases everything, drains every store, frees every spooler, and checks that nothing
    /// leaked.
    fn finish(mut self) {
        self.gate.release_all();
        while !self.stores.is_empty() {
            let last = self.stores.len() - 1;
            self.release_one(last);
        }
        self.check_all();
        for rec in 0..self.spoolers.len() {
            let s = &self.spoolers[rec];
            if s.ptr.is_null() || s.closed {
                continue;
            }
            let ids: Vec<String> = s.ids.iter().cloned().collect();
            for id in &ids {
                self.drain(rec, id);
            }
            let s = &self.spoolers[rec];
            for id in &ids {
                let st = self.stats(rec, id).unwrap();
                assert_eq!(
                    (st.clients, st.pending_mode),
                    (0, 0),
                    "{id}: a store leaked: {st:?}"
                );
                let opens = s.opens.get(id).copied().unwrap_or(0);
                assert_eq!(
                    s.sink.count(id, EVENT_RELEASED),
                    opens,
                    "{id}: {opens} opens, released events"
                );
            }
        }
        for s in &mut self.spoolers {
            if !s.ptr.is_null() {
                unsafe { mapi_logoff_spooler_free(s.ptr) };
                s.ptr = null_mut();
            }
        }
        // Contexts are freed once the library lets go of them, which may be a moment later
        // (a flush thread may still hold its spooler). The bound only turns a leak into a
        // failure instead of a hang.
        let bound = Instant::now() + Duration::from_secs(20);
        let all_freed = |h: &Harness| {
            h.spoolers
                .iter()
                .all(|s| s.sink.freed.load(Ordering::SeqCst) >= 1)
                && h.callbacks
                    .iter()
                    .all(|(cb, reg)| !reg || cb.freed.load(Ordering::SeqCst) >= 1)
        };
        while !all_freed(&self) {
            assert!(
                Instant::now() < bound,
                "a callback context was never freed (a spooler leaked)"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        for s in &self.spoolers {
            assert_eq!(
                s.sink.freed.load(Ordering::SeqCst),
                1,
                "a subscriber ctx freed twice"
            );
        }
        for (cb, registered) in &self.callbacks {
            assert_eq!(
                cb.freed.load(Ordering::SeqCst),
                u32::from(*registered),
                "ctx frees"
            );
        }
        // Every spooler is gone, and with it its registry lock file.
        for profile in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let spoolers = profile.path().join("spoolers");
            loop {
                let left: Vec<_> = std::fs::read_dir(&spoolers)
                    .map(|d| d.flatten().collect())
                    .unwrap_or_default();
                if left.is_empty() {
                    break;
                }
                assert!(Instant::now() < bound, "registry lock files left: {left:?}");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Ends every transfer of a store and sends what a pending logoff waits for.
    fn drain(&self, rec: usize, id: &str) {
        let sp = self.spoolers[rec].ptr;
        let c = CString::new(id).unwrap();
        let st = self.stats(rec, id).unwrap();
        for _ in 0..st.sending {
            expect_hr(
                "drain: end_send",
                unsafe { mapi_logoff_spooler_end_send(sp, c.as_ptr(), true) },
                S_OK,
            );
        }
        for _ in 0..st.receiving {
            expect_hr(
                "drain: end_receive",
                unsafe { mapi_logoff_spooler_end_receive(sp, c.as_ptr()) },
                S_OK,
            );
        }
        while self.stats(rec, id).unwrap().pending_mode != 0 {
            let hr = unsafe { mapi_logoff_spooler_begin_send(sp, c.as_ptr()) };
            if hr != S_OK {
                panic!(
                    "{id} can never drain ({}): {:?}",
                    hr_name(hr),
                    self.stats(rec, id)
                );
            }
            expect_hr(
                "drain: end_send",
                unsafe { mapi_logoff_spooler_end_send(sp, c.as_ptr(), true) },
                S_OK,
            );
        }
    }
}

/// What a StoreLogoffTransports did, as the harness saw it.
struct Outcome {
    mode: u32,
    hr: i32,
    out: u32,
    ev_kind: u32,
    released: u64,
    final_release: bool,
    explicit: bool,
}

/// Whether `o` carried out decision `d` (taken with `shared`) on a store that went from
/// `before` to `after`; Err says how it did not.
fn carried_out(
    o: &Outcome,
    shared: bool,
    d: &Decision,
    before: &Stats,
    after: &Stats,
) -> Result<(), String> {
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("shared={shared}: {what}"))
        }
    };
    check(
        d.out_flags == o.out,
        "wrote other out_flags than the table's",
    )?;
    check(
        (o.ev_kind == EVENT_REFUSED) == (d.release == REFUSED),
        "the event's kind",
    )?;
    check(o.hr != E_TIMEOUT || d.waits, "timed out without waiting")?;
    let counters = |s: &Stats| {
        (
            s.queued,
            s.sending,
            s.receiving,
            s.submitted,
            s.sent,
            s.receptions,
            s.received,
        )
    };
    check(counters(after) == counters(before), "moved messages")?;
    match d.release {
        REFUSED if !o.final_release => check(after == before, "a refusal changed the store"),
        REFUSED => {
            check(
                after.pending_mode == o.mode,
                "a refused final release is deferred",
            )?;
            check(
                after.allowed == before.allowed,
                "a deferred release changed the gates",
            )
        }
        NOW => {
            check(
                after.clients == before.clients.saturating_sub(1),
                "NOW ends this client's hold",
            )?;
            check(o.released == 1, "NOW is one released event")?;
            if shared {
                check(
                    after.allowed == before.allowed,
                    "shared: the others keep their gates",
                )
            } else {
                check(after.pending_mode == 0, "NOW leaves nothing pending")?;
                check(
                    after.clients > 0 || (after.released && after.allowed == 0),
                    "released: gates closed",
                )
            }
        }
        _ => {
            check(o.released == 0, "released before draining")?;
            check(after.allowed == d.allowed, "the gates of the decision")?;
            let pending = if d.waits { NO_WAIT } else { o.mode };
            check(
                after.pending_mode == pending,
                "the logoff waits for the store to drain",
            )?;
            // Nobody ends a transfer while the harness waits: the deadline passes.
            check(
                !(d.waits && o.explicit) || o.hr == E_TIMEOUT,
                "a PURGE of a busy store returned before its deadline",
            )
        }
    }
}

struct PreLogoff {
    stats: Option<Stats>,
    shared: Option<bool>,
    decisions: u64,
    released: u64,
    timeouts: u64,
}

#[derive(Debug, Clone, Copy)]
enum Report {
    Submit,
    BeginSend,
    EndSend,
    BeginReceive,
    EndReceive,
}

fn activity_of(s: &Stats) -> u32 {
    let mut a = 0;
    if s.receiving > 0 {
        a |= INBOUND;
    }
    if s.sending > 0 {
        a |= OUTBOUND;
    }
    if s.queued > 0 {
        a |= OUTBOUND_QUEUE;
    }
    a
}

/// The shape every decision has (SPEC §4), whatever the mode.
fn check_decision(what: &str, d: Decision, activity: u32, shared: bool) {
    assert!(d.release <= WHEN_DRAINED, "{what}: release {}", d.release);
    assert_eq!(
        d.release == REFUSED,
        d.out_flags & COMPLETE == 0,
        "{what}: refused iff not COMPLETE: {d:?}"
    );
    assert_eq!(
        d.out_flags & !COMPLETE & !activity,
        0,
        "{what}: reports activity it does not have: {d:?}"
    );
    assert!(
        d.flush_flags == 0 || d.flush_flags == FLUSH_PURGE,
        "{what}: flush flags {d:?}"
    );
    assert_eq!(
        d.waits,
        d.flush_flags != 0,
        "{what}: only PURGE flushes and waits: {d:?}"
    );
    assert_eq!(d.allowed & !GATES, 0, "{what}: allowed {d:?}");
    if d.release == REFUSED {
        assert_eq!(d.allowed, GATES, "{what}: a refusal closes nothing: {d:?}");
    }
    if shared {
        let only_this_client = Decision {
            out_flags: COMPLETE,
            release: NOW,
            flush_flags: 0,
            allowed: GATES,
            waits: false,
        };
        assert_eq!(d, only_this_client, "{what}: shared");
    }
}
