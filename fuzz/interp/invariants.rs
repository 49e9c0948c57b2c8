//! The invariants checked after every call (counters, reference counts, callback arguments),
//! and the end of a run: everything released and drained, every callback context freed
//! exactly once, every spooler gone.

use std::ffi::CString;
use std::ptr::null_mut;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Harness;
use super::capi::*;
use super::oracle::{activity_of, expect_hr, hr_name};

impl Harness {
    pub(super) fn check_all(&mut self) {
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
                let cancelled = self.cancelled_receptions(rec, &id);
                assert_eq!(
                    s.submitted,
                    s.queued + s.sending + s.sent,
                    "{id}: lost a message: {s:?}"
                );
                assert_eq!(
                    s.receptions,
                    s.receiving + s.received + cancelled,
                    "{id}: lost a reception: {s:?}, {cancelled} cancelled"
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
    pub(super) fn finish(mut self) {
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
    pub(super) fn drain(&self, rec: usize, id: &str) {
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
