//! The callbacks handed to the library and their contexts: transports (`flush_queues`),
//! subscribers (`on_event`), Supports (`support`), and the harness's own subscriber on every
//! spooler (`Sink`), which checks each event's shape and counts them.
//!
//! A context lives in the harness (an Arc) for the whole run; free_ctx only counts, so a wrong
//! second free is seen rather than a double free.

use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::capi::*;

pub(super) struct Gate {
    pub(super) open: Mutex<bool>,
    pub(super) cv: Condvar,
}

impl Gate {
    pub(super) fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
    pub(super) fn release_all(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

pub(super) struct Callback {
    pub(super) kind: u8,
    pub(super) gate: Arc<Gate>,
    pub(super) calls: AtomicU32,
    pub(super) last_flags: AtomicU32,
    pub(super) freed: AtomicU32,
    /// Arguments the library should never have passed.
    pub(super) bad: AtomicU32,
}

impl Callback {
    pub(super) fn new(kind: u8, gate: &Arc<Gate>) -> Arc<Callback> {
        Arc::new(Callback {
            kind,
            gate: gate.clone(),
            calls: AtomicU32::new(0),
            last_flags: AtomicU32::new(0),
            freed: AtomicU32::new(0),
            bad: AtomicU32::new(0),
        })
    }
    pub(super) fn ctx(self: &Arc<Self>) -> *mut c_void {
        Arc::as_ptr(self) as *mut c_void
    }
}

pub(super) unsafe extern "C" fn free_callback(ctx: *mut c_void) {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.freed.fetch_add(1, Ordering::SeqCst);
}

pub(super) fn valid_c_id(p: *const c_char) -> bool {
    !p.is_null()
        && unsafe { CStr::from_ptr(p) }
            .to_str()
            .is_ok_and(|s| !s.is_empty())
}

pub(super) const TRANSPORT_KINDS: u8 = 5;

/// A transport: succeeds, fails with a known or a foreign HRESULT, blocks until the run ends
/// (a flush that never finishes), or calls the library's pure functions and returns S_FALSE.
pub(super) unsafe extern "C" fn flush_queues(
    ctx: *mut c_void,
    store_id: *const c_char,
    flags: u32,
) -> i32 {
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

pub(super) const CANCEL_KINDS: u8 = 4;

/// A transport's cancel (`mapi_logoff_spooler_add_transport_ex`), which an ABORT of a store
/// with transfers in flight calls when every registered transport has one. It never cancels
/// anything (it has no transfer of its own: the harness's reports are not any transport's),
/// so the ABORT still finds the transfers in flight and refuses, as the table says: it
/// answers S_OK, fails with a known or a foreign HRESULT, or blocks until the run ends (no
/// answer within the deadline). Its kind is the high bits of the transport's.
pub(super) unsafe extern "C" fn cancel(ctx: *mut c_void, store_id: *const c_char) -> i32 {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    if !valid_c_id(store_id) {
        cb.bad.fetch_add(1, Ordering::SeqCst);
    }
    match (cb.kind >> 4) % CANCEL_KINDS {
        0 => S_OK,
        1 => E_NO_SUPPORT,
        2 => E_FOREIGN,
        _ => {
            cb.gate.wait();
            S_OK
        }
    }
}

/// A subscriber of the fuzz input's own: ignores the event, or reads it.
pub(super) unsafe extern "C" fn on_event(ctx: *mut c_void, e: *const Event) {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    if cb.kind % 2 == 1 {
        let e = unsafe { &*e };
        if unsafe { mapi_logoff_event_kind_name(e.kind) }.is_null() || !valid_c_id(e.store_id) {
            cb.bad.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pub(super) const SUPPORT_KINDS: u8 = 6;

/// A caller-supplied Support: answers COMPLETE, refuses, times out, fails with a known or a
/// foreign HRESULT (scribbling on the flags first), or answers COMPLETE with S_FALSE.
pub(super) unsafe extern "C" fn support(ctx: *mut c_void, flags: *mut u32) -> i32 {
    let cb = unsafe { &*(ctx as *const Callback) };
    cb.calls.fetch_add(1, Ordering::SeqCst);
    let flags = unsafe { &mut *flags };
    cb.last_flags.store(*flags, Ordering::SeqCst);
    let (hr, out) = support_answer(cb.kind);
    *flags = out;
    hr
}

/// What the support callback of `kind` returns and writes.
pub(super) fn support_answer(kind: u8) -> (i32, u32) {
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
pub(super) fn support_outcome(kind: u8) -> (i32, Option<u32>) {
    match support_answer(kind) {
        (1, out) => (S_OK, Some(out)),
        (hr @ (S_OK | E_TIMEOUT), out) => (hr, Some(out)),
        (hr, _) => (hr, None),
    }
}

/// The harness's own subscriber on every spooler: checks each event's shape and counts them.
#[derive(Default)]
pub(super) struct Sink {
    pub(super) state: Mutex<SinkState>,
    pub(super) freed: AtomicU32,
}

#[derive(Default)]
pub(super) struct SinkState {
    /// (store id, kind) -> events.
    pub(super) counts: BTreeMap<(String, u32), u64>,
    /// store id -> the last decided or refused event (mode, out_flags, kind).
    pub(super) last_decision: BTreeMap<String, (u32, u32, u32)>,
    pub(super) problems: Vec<String>,
}

impl Sink {
    pub(super) fn count(&self, id: &str, kind: u32) -> u64 {
        let s = self.state.lock().unwrap();
        s.counts.get(&(id.to_owned(), kind)).copied().unwrap_or(0)
    }
    pub(super) fn decisions(&self, id: &str) -> u64 {
        self.count(id, EVENT_DECIDED) + self.count(id, EVENT_REFUSED)
    }
    pub(super) fn last_decision(&self, id: &str) -> Option<(u32, u32, u32)> {
        self.state.lock().unwrap().last_decision.get(id).copied()
    }
}

pub(super) unsafe extern "C" fn sink_event(ctx: *mut c_void, e: *const Event) {
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
    if !(1..=EVENT_KINDS).contains(&e.kind) {
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
    if e.kind == EVENT_CANCELLED && e.detail.is_null() {
        problems.push("cancelled without a detail".to_owned());
    }
    let mut s = sink.state.lock().unwrap();
    *s.counts.entry((id.clone(), e.kind)).or_default() += 1;
    if decision_kind {
        s.last_decision
            .insert(id, (e.mode_flag, e.out_flags, e.kind));
    }
    s.problems.extend(problems);
}

pub(super) unsafe extern "C" fn free_sink(ctx: *mut c_void) {
    let sink = unsafe { &*(ctx as *const Sink) };
    sink.freed.fetch_add(1, Ordering::SeqCst);
}
