//! The ops on spoolers: creating one (its options and the harness's subscriber), reading a
//! store's counters, the purge deadline, close and free; and the activity reports (submit,
//! begin/end send and receive), each checked against the counters before and after.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{CString, c_void};
use std::ptr::null_mut;
use std::sync::Arc;

use super::callbacks::{Sink, free_sink, sink_event};
use super::capi::*;
use super::input::Reader;
use super::oracle::{activity_of, drained, expect_hr};
use super::{Harness, PROFILES, SpoolerRec};

impl Harness {
    /// The record of the spooler in `slot`, created first if the slot is empty.
    pub(super) fn spooler(&mut self, slot: usize, r: &mut Reader) -> usize {
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

    pub(super) fn stats(&self, rec: usize, id: &str) -> Option<Stats> {
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

    /// The store's receptions cancelled in flight (not in `Stats`, which keeps its 0.2 layout).
    pub(super) fn cancelled_receptions(&self, rec: usize, id: &str) -> u64 {
        let c = CString::new(id).unwrap();
        let mut n = u64::MAX;
        expect_hr(
            "cancelled_receptions",
            unsafe {
                mapi_logoff_spooler_cancelled_receptions(self.spoolers[rec].ptr, c.as_ptr(), &mut n)
            },
            S_OK,
        );
        n
    }

    /// Whether another client holds `id`: a second client of this spooler, or a client of
    /// another live spooler of the profile (through the registry). None when the harness cannot
    /// tell (another spooler of the profile whose handle it freed may still be alive).
    pub(super) fn shared(&self, rec: usize, id: &str, stats: &Stats) -> Option<bool> {
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

    pub(super) fn set_purge_deadline(&mut self, r: &mut Reader) {
        if r.rarely(16) {
            let hr = unsafe { mapi_logoff_spooler_set_purge_deadline(null_mut(), 1) };
            return expect_hr("set_purge_deadline(NULL)", hr, E_INVALID_PARAMETER);
        }
        let rec = self.target_spooler(r);
        let ms = r.pick(3) as u64;
        let hr = unsafe { mapi_logoff_spooler_set_purge_deadline(self.spoolers[rec].ptr, ms) };
        expect_hr("set_purge_deadline", hr, S_OK);
    }

    pub(super) fn close(&mut self, r: &mut Reader) {
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

    pub(super) fn free_spooler(&mut self, r: &mut Reader) {
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

    pub(super) fn report(&mut self, kind: Report, sent: bool, null_spooler: bool, r: &mut Reader) {
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

    pub(super) fn read(&mut self, null_spooler: bool, null_out: bool, r: &mut Reader) {
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
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Report {
    Submit,
    BeginSend,
    EndSend,
    BeginReceive,
    EndReceive,
}
