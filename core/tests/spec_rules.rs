//! Each rule of SPEC §3, §5 and §6 as a named test, through the public API.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{Recorder, flags, logoff_and_release, spooler, spooler_with};
use mapi_logoff::{
    Activity, Error, EventKind, FlushFlags, LogoffFlags, Mode, Result, Spooler, SpoolerOptions,
    Store, Support,
};

/// A caller-supplied Support that records every StoreLogoffTransports call.
#[derive(Default)]
struct CountingSupport {
    calls: Mutex<Vec<u32>>,
    answer: u32,
}

impl Support for CountingSupport {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        self.calls.lock().unwrap().push(*flags);
        *flags = self.answer;
        Ok(())
    }
}

fn counting(answer: LogoffFlags) -> Arc<CountingSupport> {
    Arc::new(CountingSupport {
        answer: answer.bits(),
        ..Default::default()
    })
}

// ---- SPEC §3: validating the flags ----

#[test]
fn output_bits_on_input_are_ignored() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    let mut f = (LogoffFlags::ORDERLY | LogoffFlags::COMPLETE | LogoffFlags::INBOUND).bits();
    store.logoff(&mut f).unwrap();
    assert_eq!(store.saved_mode(), Some(Mode::Orderly));
}

#[test]
fn a_rejected_logoff_changes_nothing() {
    let sp = spooler_with(SpoolerOptions {
        strict: true,
        ..Default::default()
    });
    let store = sp.open_store("s").unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff(&mut f).unwrap();
    for (bad, err) in [
        (0x20, Error::UnknownFlags),
        (0x8000_0000, Error::UnknownFlags),
        (0, Error::InvalidParameter),
        (0x3, Error::InvalidParameter),
    ] {
        let mut f = bad;
        assert_eq!(store.logoff(&mut f), Err(err), "flags {bad:#x}");
        assert_eq!(f, bad, "in/out value untouched");
        assert_eq!(
            store.saved_mode(),
            Some(Mode::Quiet),
            "saved mode untouched"
        );
    }
}

#[test]
fn validation_is_lenient_by_default_zero_is_abort_and_several_the_most_cautious() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    assert!(!store.is_strict());
    let mut f = 0;
    store.logoff(&mut f).unwrap();
    assert_eq!(store.saved_mode(), Some(Mode::Abort));
    assert_eq!(
        f,
        LogoffFlags::ABORT.bits(),
        "the mode it took is written back"
    );
    for (several, chosen) in [
        (
            LogoffFlags::PURGE | LogoffFlags::ORDERLY | LogoffFlags::NO_WAIT,
            Mode::Orderly,
        ),
        (LogoffFlags::PURGE | LogoffFlags::NO_WAIT, Mode::NoWait),
        (LogoffFlags::ORDERLY | LogoffFlags::ABORT, Mode::Abort),
        (
            LogoffFlags::ABORT | LogoffFlags::QUIET | LogoffFlags::PURGE,
            Mode::Quiet,
        ),
    ] {
        let mut f = several.bits();
        store.logoff(&mut f).unwrap();
        assert_eq!(store.saved_mode(), Some(chosen), "{several:?}");
    }
    let mut f = 0x20;
    assert_eq!(store.logoff(&mut f), Err(Error::UnknownFlags));
    assert_eq!(f, 0x20);
    // External supports too (Kopano's tests call StoreLogoff(0)).
    let support = counting(LogoffFlags::COMPLETE);
    let external = Store::new(support.clone());
    let mut f = 0;
    assert_eq!(external.logoff(&mut f), Ok(()));
    assert_eq!(f, LogoffFlags::ABORT.bits());
    external.release();
    assert_eq!(
        *support.calls.lock().unwrap(),
        vec![LogoffFlags::ABORT.bits()]
    );
}

#[test]
fn lenient_spooler_takes_zero_as_abort_in_store_logoff_transports() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    let mut f = 0;
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::COMPLETE,
        "0 means ABORT on an idle store"
    );
}

#[test]
fn strict_is_opt_in_per_spooler_per_store_and_per_external_store() {
    let sp = spooler_with(SpoolerOptions {
        strict: true,
        ..Default::default()
    });
    let store = sp.open_store("s").unwrap();
    assert!(store.is_strict());
    let mut f = 0;
    assert_eq!(store.logoff(&mut f), Err(Error::InvalidParameter));
    let mut f = 0x3;
    assert_eq!(
        store.logoff_transports(&mut f),
        Err(Error::InvalidParameter)
    );
    assert_eq!(f, 0x3);
    store.set_strict(false);
    let mut f = 0;
    store.logoff(&mut f).unwrap();
    assert_eq!(store.saved_mode(), Some(Mode::Abort));

    let lenient = spooler();
    let store = lenient.open_store("t").unwrap();
    store.set_strict(true);
    let mut f = LogoffFlags::NO_WAIT.bits() | LogoffFlags::PURGE.bits();
    assert_eq!(store.logoff(&mut f), Err(Error::InvalidParameter));
    assert_eq!(store.saved_mode(), None, "a rejected call saves nothing");

    let support = counting(LogoffFlags::COMPLETE);
    let external = Store::new_with_validation(support.clone(), true);
    assert!(external.is_strict());
    let mut f = 0;
    assert_eq!(external.logoff(&mut f), Err(Error::InvalidParameter));
    assert_eq!(f, 0);
    external.release();
    assert_eq!(
        *support.calls.lock().unwrap(),
        vec![LogoffFlags::ABORT.bits()]
    );
}

#[test]
fn one_variable_reused_across_stores_asks_each_for_the_same_mode() {
    // MFCMAPI: ULONG ulFlags = LOGOFF_NO_WAIT; then StoreLogoff(&ulFlags); Release(); per store.
    let sp = spooler();
    let idle = sp.open_store("idle").unwrap();
    let busy = sp.open_store("busy").unwrap();
    let last = sp.open_store("last").unwrap();
    sp.submit("busy").unwrap();
    sp.submit("last").unwrap();
    let mut ul_flags = LogoffFlags::NO_WAIT.bits();
    for store in [&idle, &busy, &last] {
        store.logoff(&mut ul_flags).unwrap();
        assert_eq!(store.saved_mode(), Some(Mode::NoWait));
        assert_eq!(store.release(), 0);
    }
    assert_eq!(
        flags(ul_flags),
        LogoffFlags::NO_WAIT | LogoffFlags::OUTBOUND_QUEUE,
        "the mode and the last store's activity"
    );
    // NO_WAIT keeps sending the queue: nothing is left unsent.
    for id in ["busy", "last"] {
        assert!(sp.stats(id).unwrap().allowed.contains(Activity::OUTBOUND));
        sp.begin_send(id).unwrap();
        sp.end_send(id, true).unwrap();
        let stats = sp.stats(id).unwrap();
        assert_eq!((stats.queued, stats.sent), (0, 1), "{id}");
        assert!(stats.released, "{id} released once drained");
    }
}

#[test]
fn store_logoff_returns_only_the_codes_mapi_callers_expect() {
    let allowed = [
        Error::UnknownFlags,
        Error::InvalidParameter,
        Error::InvalidObject,
        Error::CallFailed,
    ];
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    let strict = spooler_with(SpoolerOptions {
        strict: true,
        ..Default::default()
    });
    let strict_store = strict.open_store("s").unwrap();
    let gone = sp.open_store("gone").unwrap();
    let mut f = LogoffFlags::ABORT.bits();
    gone.logoff_transports(&mut f).unwrap();
    for bits in [0, 1, 3, 0x1F, 0x20, 0xF0000, 0x8000_0000, u32::MAX] {
        for s in [&store, &strict_store, &gone] {
            let mut f = bits;
            if let Err(e) = s.logoff(&mut f) {
                assert!(allowed.contains(&e), "{bits:#x}: {e:?}");
            }
        }
    }
    let _ = sp.close_within(Duration::from_millis(10));
    let mut f = LogoffFlags::ORDERLY.bits();
    if let Err(e) = store.logoff(&mut f) {
        assert!(allowed.contains(&e), "after close: {e:?}");
    }
}

#[test]
fn the_reference_count_is_wider_than_32_bits() {
    // 2^32 add_refs would take minutes; the count's width is what matters: a u32 count
    // that saturated or wrapped would release early.
    let support = counting(LogoffFlags::COMPLETE);
    let store = Store::new(support.clone());
    let count: u64 = store.ref_count();
    assert_eq!(count, 1);
    for _ in 0..3 {
        store.add_ref();
    }
    assert_eq!(store.ref_count(), 4);
    for _ in 0..3 {
        store.release();
    }
    assert!(support.calls.lock().unwrap().is_empty());
    assert_eq!(store.release(), 0);
    assert_eq!(support.calls.lock().unwrap().len(), 1);
}

#[test]
fn a_rejected_store_logoff_transports_changes_nothing() {
    let sp = spooler_with(SpoolerOptions {
        strict: true,
        ..Default::default()
    });
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    let before = sp.stats("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits() | LogoffFlags::ABORT.bits();
    assert_eq!(
        store.logoff_transports(&mut f),
        Err(Error::InvalidParameter)
    );
    assert_eq!(f, 0xC);
    assert_eq!(sp.stats("s").unwrap(), before);
    assert!(store.is_valid());
}

// ---- SPEC §5: the Store ----

#[test]
fn open_gives_a_count_of_one_and_add_ref_release_count() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    assert_eq!(store.ref_count(), 1);
    assert_eq!(store.add_ref(), 2);
    assert_eq!(store.release(), 1);
    assert!(!sp.stats("s").unwrap().released);
    assert_eq!(store.release(), 0);
    assert!(sp.stats("s").unwrap().released);
    assert_eq!(
        store.add_ref(),
        0,
        "add_ref after the final release does nothing"
    );
    assert_eq!(
        store.release(),
        0,
        "release after the final release does nothing"
    );
}

#[test]
fn logoff_saves_the_mode_reports_activity_and_performs_no_logoff() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::QUIET | LogoffFlags::INBOUND | LogoffFlags::OUTBOUND_QUEUE,
        "the mode with the activity"
    );
    let mut f = LogoffFlags::ORDERLY.bits();
    store.logoff(&mut f).unwrap();
    assert_eq!(
        store.saved_mode(),
        Some(Mode::Orderly),
        "a later call overwrites"
    );
    let stats = sp.stats("s").unwrap();
    assert_eq!(
        stats.allowed,
        Activity::all(),
        "logoff alone closes no gate"
    );
    assert!(!stats.released);
}

#[test]
fn final_release_calls_store_logoff_transports_once_with_the_saved_mode() {
    let support = counting(LogoffFlags::COMPLETE);
    let store = Store::new(support.clone());
    store.add_ref();
    let mut f = LogoffFlags::PURGE.bits();
    store.logoff(&mut f).unwrap();
    assert_eq!(
        f,
        LogoffFlags::PURGE.bits(),
        "an external support reports no activity: just the mode"
    );
    store.release();
    assert!(support.calls.lock().unwrap().is_empty());
    store.release();
    store.release();
    assert_eq!(
        *support.calls.lock().unwrap(),
        vec![LogoffFlags::PURGE.bits()]
    );
}

#[test]
fn final_release_without_logoff_uses_abort() {
    let support = counting(LogoffFlags::COMPLETE);
    Store::new(support.clone()).release();
    assert_eq!(
        *support.calls.lock().unwrap(),
        vec![LogoffFlags::ABORT.bits()]
    );
}

#[test]
fn logoff_transports_complete_invalidates_the_handle() {
    let support = counting(LogoffFlags::COMPLETE);
    let store = Store::new(support.clone());
    let mut f = LogoffFlags::NO_WAIT.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(flags(f), LogoffFlags::COMPLETE);
    assert!(!store.is_valid());
    let mut f = LogoffFlags::NO_WAIT.bits();
    assert_eq!(store.logoff(&mut f), Err(Error::InvalidObject));
    assert_eq!(store.logoff_transports(&mut f), Err(Error::InvalidObject));
    assert_eq!(store.add_ref(), 2, "add_ref still works");
    store.release();
    store.release();
    assert_eq!(support.calls.lock().unwrap().len(), 1, "no second call");
}

#[test]
fn refused_logoff_transports_keeps_the_handle_and_release_calls_again() {
    let support = counting(LogoffFlags::OUTBOUND); // a refusal: no COMPLETE
    let store = Store::new(support.clone());
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff_transports(&mut f).unwrap();
    assert!(store.is_valid());
    store.release();
    assert_eq!(support.calls.lock().unwrap().len(), 2);
}

#[test]
fn refused_final_release_is_deferred_until_idle() {
    let sp = spooler();
    let events = Recorder::on(&sp);
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    logoff_and_release(&store, Mode::Quiet);
    assert_eq!(events.count(EventKind::Refused), 1);
    assert_eq!(events.count(EventKind::ReleaseDeferred), 1);
    let stats = sp.stats("s").unwrap();
    assert!(!stats.released, "the spooler keeps serving the store");
    assert_eq!(stats.allowed, Activity::all(), "unchanged");
    sp.submit("s").unwrap();
    sp.end_send("s", true).unwrap();
    assert!(
        !sp.stats("s").unwrap().released,
        "still a queued message: not idle"
    );
    sp.begin_send("s").unwrap();
    sp.end_send("s", true).unwrap();
    let stats = sp.stats("s").unwrap();
    assert!(stats.released, "released as soon as idle");
    assert_eq!(stats.clients, 0, "nothing leaked");
    assert_eq!(events.count(EventKind::Released), 1);
}

#[test]
fn refused_final_abort_is_released_once_nothing_is_in_flight() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    logoff_and_release(&store, Mode::Abort);
    assert!(!sp.stats("s").unwrap().released);
    sp.end_send("s", true).unwrap();
    let stats = sp.stats("s").unwrap();
    assert!(stats.released);
    assert_eq!(stats.queued, 1, "ABORT leaves the queue in the outbox");
}

#[test]
fn two_opens_are_a_shared_store_and_only_one_client_logs_off() {
    let sp = spooler();
    let a = sp.open_store("s").unwrap();
    let b = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    a.logoff_transports(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::COMPLETE,
        "shared: COMPLETE whatever the activity"
    );
    let stats = sp.stats("s").unwrap();
    assert_eq!(stats.clients, 1);
    assert_eq!(
        stats.allowed,
        Activity::all(),
        "the other client is untouched"
    );
    assert!(b.is_valid());
    let mut f = LogoffFlags::QUIET.bits();
    b.logoff_transports(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::INBOUND,
        "the last client is not shared any more"
    );
}

// ---- SPEC §6: the Spooler ----

#[test]
fn first_mention_serves_the_store_with_all_gates_open() {
    let sp = spooler();
    assert_eq!(
        sp.stats("new").unwrap().allowed,
        Activity::empty(),
        "a read creates nothing"
    );
    sp.begin_receive("new").unwrap();
    assert_eq!(sp.stats("new").unwrap().allowed, Activity::all());
}

#[test]
fn store_ids_must_be_non_empty() {
    let sp = spooler();
    assert_eq!(sp.open_store("").unwrap_err(), Error::InvalidParameter);
    assert_eq!(sp.submit(""), Err(Error::InvalidParameter));
    assert_eq!(sp.activity(""), Err(Error::InvalidParameter));
    assert_eq!(Spooler::new("").unwrap_err(), Error::InvalidParameter);
}

#[test]
fn unmatched_ends_and_sends_are_not_found_and_change_nothing() {
    let sp = spooler();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    let before = sp.stats("s").unwrap();
    assert_eq!(sp.begin_send("s"), Err(Error::NotFound));
    assert_eq!(sp.end_receive("s"), Err(Error::NotFound));
    assert_eq!(sp.stats("s").unwrap(), before);
    sp.end_send("s", true).unwrap();
    assert_eq!(sp.end_send("s", true), Err(Error::NotFound));
}

#[test]
fn a_failed_send_goes_back_to_the_queue() {
    let sp = spooler();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    sp.end_send("s", false).unwrap();
    let s = sp.stats("s").unwrap();
    assert_eq!((s.queued, s.sending, s.sent), (1, 0, 0));
}

#[test]
fn released_store_keeps_its_queue_and_reopen_opens_the_gates() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    logoff_and_release(&store, Mode::Orderly);
    let s = sp.stats("s").unwrap();
    assert!(s.released);
    assert_eq!(s.queued, 1);
    assert_eq!(s.allowed, Activity::empty());
    for start in [Spooler::submit, Spooler::begin_send, Spooler::begin_receive] {
        assert_eq!(start(&sp, "s"), Err(Error::NoAccess));
    }
    assert_eq!(sp.stats("s").unwrap(), s, "a refused start changes nothing");
    let _again = sp.open_store("s").unwrap();
    sp.begin_send("s").unwrap();
    sp.end_send("s", true).unwrap();
    assert_eq!(
        sp.stats("s").unwrap().sent,
        1,
        "the next open serves the queue"
    );
}

#[test]
fn orderly_finishes_in_flight_starts_nothing_and_keeps_the_queue() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::ORDERLY.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::COMPLETE
            | LogoffFlags::INBOUND
            | LogoffFlags::OUTBOUND
            | LogoffFlags::OUTBOUND_QUEUE
    );
    assert_eq!(sp.begin_send("s"), Err(Error::NoAccess));
    assert_eq!(sp.begin_receive("s"), Err(Error::NoAccess));
    assert_eq!(sp.submit("s"), Err(Error::NoAccess));
    sp.end_send("s", true).unwrap();
    assert!(!sp.stats("s").unwrap().released);
    sp.end_receive("s").unwrap();
    let s = sp.stats("s").unwrap();
    assert!(s.released, "released the moment it drained");
    assert_eq!(s.queued, 1, "queued messages stay queued");
}

#[test]
fn no_wait_sends_the_queue_and_closes_reception() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::NO_WAIT.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(sp.submit("s"), Err(Error::NoAccess));
    assert_eq!(sp.begin_receive("s"), Err(Error::NoAccess));
    sp.end_receive("s").unwrap();
    assert!(!sp.stats("s").unwrap().released, "the queue must drain too");
    sp.begin_send("s").unwrap();
    sp.end_send("s", true).unwrap();
    let s = sp.stats("s").unwrap();
    assert!(s.released);
    assert_eq!((s.queued, s.sent, s.received), (0, 1, 1));
}

#[test]
fn abort_with_only_a_queue_logs_off_and_deletes_nothing() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    let mut f = LogoffFlags::ABORT.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(
        flags(f),
        LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE
    );
    let s = sp.stats("s").unwrap();
    assert!(s.released);
    assert_eq!(s.queued, 1);
}

#[test]
fn abort_or_quiet_with_a_transfer_in_flight_changes_nothing() {
    for mode in [Mode::Abort, Mode::Quiet] {
        let sp = spooler();
        let store = sp.open_store("s").unwrap();
        sp.begin_receive("s").unwrap();
        let before = sp.stats("s").unwrap();
        let mut f = mode.flag().bits();
        store.logoff_transports(&mut f).unwrap();
        assert_eq!(flags(f), LogoffFlags::INBOUND, "{mode}");
        assert_eq!(sp.stats("s").unwrap(), before, "{mode}");
        assert!(store.is_valid());
    }
}

#[test]
fn quiet_logs_off_an_idle_store() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(flags(f), LogoffFlags::COMPLETE);
    assert!(sp.stats("s").unwrap().released);
}

#[test]
fn purge_flushes_every_transport_and_waits_for_the_release() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_receive("s").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..2 {
        let seen = seen.clone();
        sp.add_transport(Arc::new(move |id: &str, f: FlushFlags| {
            seen.lock().unwrap().push((id.to_owned(), f));
            Ok(())
        }));
    }
    let drainer = {
        let sp = sp.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            sp.begin_send("s").unwrap();
            sp.end_send("s", true).unwrap();
            sp.end_receive("s").unwrap();
        })
    };
    let mut f = LogoffFlags::PURGE.bits();
    store.logoff_transports(&mut f).unwrap();
    assert!(
        sp.stats("s").unwrap().released,
        "PURGE returned only once released"
    );
    drainer.join().unwrap();
    let expected = FlushFlags::UPLOAD | FlushFlags::NO_UI;
    assert_eq!(*seen.lock().unwrap(), vec![("s".to_owned(), expected); 2]);
}

#[test]
fn callbacks_may_call_back_into_the_spooler() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    let inner = sp.clone();
    sp.add_transport(Arc::new(move |id: &str, _f: FlushFlags| {
        inner.begin_send(id)?;
        inner.activity(id)?;
        inner.end_send(id, true)
    }));
    let reader = sp.clone();
    let reads = Arc::new(AtomicU32::new(0));
    let r = reads.clone();
    sp.subscribe(Arc::new(move |e: &mapi_logoff::Event| {
        reader.stats(&e.store_id).unwrap();
        r.fetch_add(1, Ordering::Relaxed);
    }));
    let mut f = LogoffFlags::PURGE.bits();
    store.logoff_transports(&mut f).unwrap();
    assert!(sp.stats("s").unwrap().released);
    assert!(reads.load(Ordering::Relaxed) >= 2);
}

#[test]
fn purge_past_its_deadline_times_out_and_goes_on_as_no_wait() {
    let sp = spooler_with(SpoolerOptions {
        purge_deadline: Duration::from_millis(50),
        ..Default::default()
    });
    let events = Recorder::on(&sp);
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    assert_eq!(store.logoff_transports(&mut f), Err(Error::Timeout));
    assert_eq!(
        flags(f),
        LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND,
        "out_flags written"
    );
    assert_eq!(events.count(EventKind::TimedOut), 1);
    let s = sp.stats("s").unwrap();
    assert_eq!(s.pending, Some(Mode::NoWait));
    assert_eq!(s.allowed, Activity::OUTBOUND);
    sp.end_send("s", true).unwrap();
    assert!(
        sp.stats("s").unwrap().released,
        "released once the transfers end"
    );
    assert!(
        !store.is_valid(),
        "the timed-out COMPLETE still invalidates the handle"
    );
}

#[test]
fn purge_deadline_defaults_to_30_seconds_and_is_configurable() {
    let sp = spooler();
    assert_eq!(sp.purge_deadline(), Duration::from_secs(30));
    sp.set_purge_deadline(Duration::from_millis(5));
    assert_eq!(sp.purge_deadline(), Duration::from_millis(5));
}

#[test]
fn failing_or_panicking_flush_is_an_event_and_the_logoff_goes_on() {
    let sp = spooler();
    let events = Recorder::on(&sp);
    sp.add_transport(Arc::new(|_: &str, _: FlushFlags| Err(Error::CallFailed)));
    sp.add_transport(Arc::new(|_: &str, _: FlushFlags| -> Result<()> {
        panic!("transport exploded")
    }));
    let store = sp.open_store("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    store.logoff_transports(&mut f).unwrap();
    assert!(sp.stats("s").unwrap().released);
    let failures: Vec<String> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::FlushFailed)
        .map(|e| e.detail.clone().unwrap())
        .collect();
    assert_eq!(failures.len(), 2);
    assert!(failures[1].contains("transport exploded"), "{failures:?}");
}

#[test]
fn a_panicking_subscriber_is_skipped() {
    let sp = spooler();
    sp.subscribe(Arc::new(|_: &mapi_logoff::Event| {
        panic!("observer exploded")
    }));
    let events = Recorder::on(&sp);
    let store = sp.open_store("s").unwrap();
    logoff_and_release(&store, Mode::NoWait);
    assert_eq!(
        events.kinds(),
        vec![EventKind::Decided, EventKind::Released]
    );
}

#[test]
fn every_decision_and_release_is_an_event() {
    let sp = spooler();
    let events = Recorder::on(&sp);
    let store = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    logoff_and_release(&store, Mode::Orderly);
    sp.end_receive("s").unwrap();
    let log = events.0.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].kind, EventKind::Decided);
    assert_eq!(log[0].mode, Some(Mode::Orderly));
    assert_eq!(
        log[0].out_flags,
        LogoffFlags::COMPLETE | LogoffFlags::INBOUND
    );
    assert_eq!(&*log[0].store_id, "s");
    assert_eq!(log[1].kind, EventKind::Released);
}

#[test]
fn close_logs_off_orderly_and_reports_what_did_not_drain() {
    let sp = spooler();
    let events = Recorder::on(&sp);
    let _idle = sp.open_store("idle").unwrap();
    let _busy = sp.open_store("busy").unwrap();
    sp.begin_receive("busy").unwrap();
    let report = sp.close_within(Duration::from_millis(50)).unwrap();
    assert_eq!(report.released, vec!["idle".to_owned()]);
    assert_eq!(
        report.undrained,
        vec![("busy".to_owned(), Activity::INBOUND)]
    );
    assert_eq!(events.count(EventKind::Undrained), 1);
    assert_eq!(
        sp.stats("busy").unwrap().receiving,
        1,
        "reported, not dropped"
    );
    assert!(sp.is_closed());
    assert_eq!(sp.submit("idle"), Err(Error::InvalidObject));
    assert_eq!(sp.open_store("x").unwrap_err(), Error::InvalidObject);
    assert_eq!(sp.close().unwrap_err(), Error::InvalidObject);
}

#[test]
fn close_waits_for_stores_that_drain_in_time() {
    let sp = spooler();
    let _store = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    let ender = {
        let sp = sp.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            sp.end_receive("s").unwrap();
        })
    };
    let report = sp.close_within(Duration::from_secs(20)).unwrap();
    ender.join().unwrap();
    assert_eq!(report.released, vec!["s".to_owned()]);
    assert!(report.undrained.is_empty());
}

#[test]
fn opening_again_ends_a_logoff_that_waits_to_drain() {
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    logoff_and_release(&store, Mode::Orderly);
    assert_eq!(sp.stats("s").unwrap().pending, Some(Mode::Orderly));
    let _again = sp.open_store("s").unwrap();
    let s = sp.stats("s").unwrap();
    assert_eq!(
        (s.pending, s.clients, s.allowed),
        (None, 1, Activity::all())
    );
}

#[test]
fn every_public_type_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Spooler>();
    check::<Store>();
    check::<mapi_logoff::Event>();
    check::<Error>();
}

#[test]
fn a_flush_that_never_returns_cannot_hold_purge_past_its_deadline() {
    let sp = spooler_with(SpoolerOptions {
        purge_deadline: Duration::from_millis(100),
        ..Default::default()
    });
    let events = Recorder::on(&sp);
    // The flush blocks until the test ends: the library must not wait for it.
    let (unblock, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    sp.add_transport(Arc::new(move |_: &str, _: FlushFlags| {
        let _ = blocked.lock().unwrap().recv();
        Ok(())
    }));
    let store = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    assert_eq!(store.logoff_transports(&mut f), Err(Error::Timeout));
    assert_eq!(flags(f), LogoffFlags::COMPLETE | LogoffFlags::INBOUND);
    assert_eq!(events.count(EventKind::TimedOut), 1);
    sp.end_receive("s").unwrap();
    assert!(
        sp.stats("s").unwrap().released,
        "released once the transfer ended"
    );

    // An idle store is released at once, but the PURGE still reports the stuck flush.
    let idle = sp.open_store("idle").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    assert_eq!(idle.logoff_transports(&mut f), Err(Error::Timeout));
    assert!(sp.stats("idle").unwrap().released);
    let detail = events
        .0
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .detail
        .clone()
        .unwrap();
    assert!(detail.contains("flush_queues"), "{detail}");
    drop(unblock);
}
