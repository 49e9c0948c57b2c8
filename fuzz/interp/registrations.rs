//! The ops that register callbacks on a spooler and withdraw them: transports
//! (add_transport, add_transport_ex with or without a cancel callback, remove_transport) and
//! subscribers (subscribe/unsubscribe), with NULL arguments and unknown ids.

use std::ptr::null_mut;

use super::Harness;
use super::callbacks::{Callback, cancel, flush_queues, free_callback, on_event};
use super::capi::*;
use super::input::Reader;
use super::oracle::expect_hr;

impl Harness {
    /// Registers a transport. Variants 0 to 8 go through `add_transport` (0: NULL spooler,
    /// 1: NULL flush_queues, 2: no id out-parameter); 9 to 15 through `add_transport_ex`, with
    /// a cancel callback that cancels nothing (see `callbacks::cancel`): 9 to 12 plainly, 13
    /// without an id out-parameter, 14 with a NULL cancel (a transport that cannot cancel),
    /// 15 with a NULL spooler or flush_queues.
    pub(super) fn add_transport(&mut self, r: &mut Reader) {
        let kind = r.byte().unwrap_or(0);
        let variant = r.pick(16);
        let rec = self.target_spooler(r);
        let cb = Callback::new(kind, &self.gate);
        let ex = variant >= 9;
        let (null_spooler, null_flush) = match variant {
            0 => (true, false),
            1 => (false, true),
            15 => {
                let s = r.bit();
                (s, !s)
            }
            _ => (false, false),
        };
        let null_id = variant == 2 || variant == 13;
        let sp = if null_spooler {
            null_mut()
        } else {
            self.spoolers[rec].ptr
        };
        let f: FlushFn = if null_flush { None } else { Some(flush_queues) };
        let c: CancelFn = if variant == 14 { None } else { Some(cancel) };
        let mut id = u64::MAX;
        let idp = if null_id {
            null_mut()
        } else {
            &mut id as *mut u64
        };
        let ctx = cb.ctx();
        let hr = unsafe {
            if ex {
                mapi_logoff_spooler_add_transport_ex(sp, f, c, ctx, Some(free_callback), idp)
            } else {
                mapi_logoff_spooler_add_transport(sp, f, ctx, Some(free_callback), idp)
            }
        };
        let ok = !null_spooler && !null_flush;
        let what = if ex {
            "add_transport_ex"
        } else {
            "add_transport"
        };
        expect_hr(what, hr, if ok { S_OK } else { E_INVALID_PARAMETER });
        if ok && !null_id {
            self.spoolers[rec].transports.push(id);
        }
        if !ok {
            assert_eq!(id, u64::MAX, "a failed {what} wrote the id");
        }
        self.callbacks.push((cb, ok));
    }

    pub(super) fn remove_transport(&mut self, r: &mut Reader) {
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

    pub(super) fn subscribe(&mut self, r: &mut Reader) {
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

    pub(super) fn unsubscribe(&mut self, r: &mut Reader) {
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
}
