//! The ops on store handles: opening a spooler's store, creating one with a caller-supplied
//! Support, add_ref and release (the final release's implicit StoreLogoffTransports), StoreLogoff,
//! StoreLogoffTransports and set_strict, each checked against the oracle.

use std::ptr::{null, null_mut};
use std::sync::atomic::Ordering;

use super::callbacks::{Callback, free_callback, support, support_outcome};
use super::capi::*;
use super::input::Reader;
use super::oracle::{Outcome, PreLogoff, carried_out, decide, expect_hr, mode_of};
use super::{Harness, Owner, StoreRec};

impl Harness {
    pub(super) fn open_store(&mut self, null_spooler: bool, null_out: bool, r: &mut Reader) {
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

    pub(super) fn store_new(&mut self, r: &mut Reader) {
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
                _ => {
                    mapi_logoff_store_new(Some(support), cb.ctx(), Some(free_callback), 0, &mut out)
                }
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
    pub(super) fn pick_store(&self, r: &mut Reader) -> Option<usize> {
        let n = self.stores.len();
        let i = r.pick(n.max(1));
        (i < n).then_some(i)
    }

    /// Every store call with a NULL handle.
    pub(super) fn null_handle(&mut self, r: &mut Reader) {
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

    pub(super) fn add_ref(&mut self, r: &mut Reader) {
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

    pub(super) fn release(&mut self, r: &mut Reader) {
        match self.pick_store(r) {
            Some(i) => self.release_one(i),
            None => assert_eq!(
                unsafe { mapi_logoff_store_release(null_mut()) },
                0,
                "release(NULL)"
            ),
        }
    }

    pub(super) fn release_one(&mut self, i: usize) {
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

    pub(super) fn logoff(&mut self, r: &mut Reader) {
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

    pub(super) fn logoff_transports(&mut self, r: &mut Reader) {
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
    pub(super) fn pre_logoff(&self, rec: usize, id: &str) -> PreLogoff {
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
    pub(super) fn post_logoff(
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

    pub(super) fn set_lenient(&mut self, r: &mut Reader) {
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
}
