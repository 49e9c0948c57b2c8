//! Memory bounded by the stores in use: a store released with nothing queued or in flight
//! is kept as it was for a while, then forgotten (it reads as a store never mentioned); a
//! store released with messages queued is kept with its gates closed; and a spooler that
//! served many stores shrinks back once they are released. One test at a time: the heap counter is process-wide.

mod common;

use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::spooler;
use mapi_logoff::{Activity, Error, LogoffFlags, Mode, StoreStats};

#[path = "common/counting.rs"]
mod counting;

/// The tests of this file measure the heap, so they take turns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens and releases `n` other stores, each idle once released.
fn churn(sp: &mapi_logoff::Spooler, prefix: &str, n: usize) {
    for i in 0..n {
        common::logoff_and_release(
            &sp.open_store(&format!("{prefix}-{i}")).unwrap(),
            Mode::NoWait,
        );
    }
}

#[test]
fn a_released_idle_store_is_kept_as_it_was_then_forgotten_after_many_others() {
    let _alone = alone();
    let sp = spooler();
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    sp.end_send("s", true).unwrap();
    common::logoff_and_release(&store, Mode::Quiet);
    // Kept as it was: a transport racing the logoff is refused, the counters stay.
    let kept = sp.stats("s").unwrap();
    assert_eq!((kept.sent, kept.released), (1, true));
    assert_eq!(kept.allowed, Activity::empty());
    assert_eq!(sp.begin_receive("s"), Err(Error::NoAccess));
    assert!(sp.store_ids().contains(&"s".to_string()));
    // Fewer than 64 other stores going idle forget nothing.
    churn(&sp, "a", 50);
    assert_eq!(sp.stats("s").unwrap(), kept);
    // Two sweeps later (each after at least 64 stores went idle) it is forgotten.
    churn(&sp, "b", 300);
    assert_eq!(sp.stats("s").unwrap(), StoreStats::default(), "forgotten");
    assert!(!sp.store_ids().contains(&"s".to_string()));
    assert!(sp.store_ids().len() < 300, "{}", sp.store_ids().len());
    // The next mention serves it afresh: all gates open, counting from zero.
    let again = sp.open_store("s").unwrap();
    let s = sp.stats("s").unwrap();
    assert_eq!((s.clients, s.released, s.sent), (1, false, 0));
    assert_eq!(s.allowed, Activity::all());
    common::logoff_and_release(&again, Mode::Quiet);
}

#[test]
fn a_store_released_with_messages_queued_is_never_forgotten() {
    let _alone = alone();
    let sp = spooler();
    let store = sp.open_store("outbox").unwrap();
    for _ in 0..3 {
        sp.submit("outbox").unwrap();
    }
    // ABORT leaves the queue in the outbox and logs off.
    common::logoff_and_release(&store, Mode::Abort);
    churn(&sp, "other", 1_000);
    let s = sp.stats("outbox").unwrap();
    assert_eq!((s.queued, s.submitted, s.released), (3, 3, true));
    assert_eq!(s.allowed, Activity::empty());
    assert_eq!(sp.begin_send("outbox"), Err(Error::NoAccess));
    // The next open serves the queue.
    let store = sp.open_store("outbox").unwrap();
    for _ in 0..3 {
        sp.begin_send("outbox").unwrap();
        sp.end_send("outbox", true).unwrap();
    }
    assert_eq!(sp.stats("outbox").unwrap().sent, 3);
    common::logoff_and_release(&store, Mode::NoWait);
}

#[test]
fn a_store_held_by_a_client_or_logging_off_is_never_forgotten() {
    let _alone = alone();
    let sp = spooler();
    let a = sp.open_store("held").unwrap();
    let b = sp.open_store("held").unwrap();
    common::logoff_and_release(&a, Mode::Quiet);
    let draining = sp.open_store("draining").unwrap();
    sp.begin_receive("draining").unwrap();
    common::logoff_and_release(&draining, Mode::Orderly);
    churn(&sp, "other", 1_000);
    let held = sp.stats("held").unwrap();
    assert_eq!((held.clients, held.released), (1, false));
    let d = sp.stats("draining").unwrap();
    assert_eq!((d.receiving, d.pending), (1, Some(Mode::Orderly)));
    sp.end_receive("draining").unwrap();
    assert!(sp.stats("draining").unwrap().released);
    common::logoff_and_release(&b, Mode::Quiet);
}

#[test]
fn a_refused_report_does_not_serve_a_store_never_mentioned() {
    let _alone = alone();
    let sp = spooler();
    assert_eq!(sp.begin_send("nobody"), Err(Error::NotFound));
    assert_eq!(sp.end_receive("nobody"), Err(Error::NotFound));
    assert_eq!(sp.stats("nobody").unwrap(), StoreStats::default());
    assert!(sp.store_ids().is_empty(), "a refused call changes nothing");
    // A report that is taken serves it, all gates open.
    sp.submit("nobody").unwrap();
    assert_eq!(sp.stats("nobody").unwrap().allowed, Activity::all());
}

#[test]
fn a_spooler_that_served_100k_stores_shrinks_back_once_they_are_released() {
    let _alone = alone();
    let sp = spooler();
    let n = 100_000;
    let ids: Vec<String> = (0..n).map(|i| format!("store-{i:06}")).collect();
    // Warm up what the spooler allocates once (thread locals, the index's first table).
    for id in ids.iter().take(1_000) {
        common::logoff_and_release(&sp.open_store(id).unwrap(), Mode::NoWait);
    }
    let empty = counting::live();
    let stores: Vec<_> = ids.iter().map(|id| sp.open_store(id).unwrap()).collect();
    let open = counting::live() - empty;
    assert!(
        open > 100 * n as isize,
        "the counting allocator sees the open stores ({open} bytes)"
    );
    for store in &stores {
        common::logoff_and_release(store, Mode::NoWait);
    }
    drop(stores);
    let left = counting::live() - empty;
    // At most a few hundred idle stores are still remembered.
    assert!(
        left < open / 50,
        "{left} bytes still live after releasing every store ({open} while open)"
    );
    assert!(sp.store_ids().len() < 1_000);
    for id in ids.iter().take(90_000).step_by(997) {
        assert_eq!(sp.stats(id).unwrap(), StoreStats::default(), "{id}");
    }
}

/// One thread churns through distinct stores so that sweeps run all the time, while two
/// others open and release their own few stores over and over, so that sweeps forget them
/// just as they are opened again: an open never lands in a slot being swept away (its
/// client is always the one the spooler counts).
#[test]
fn opens_racing_sweeps_are_never_lost() {
    let _alone = alone();
    let sp = spooler();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(3));
    let churner = {
        let (sp, barrier, stop) = (sp.clone(), barrier.clone(), stop.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let store = sp.open_store(&format!("churn-{}", i % 10_000)).unwrap();
                assert_eq!(store.release(), 0);
                i += 1;
            }
        })
    };
    let openers: Vec<_> = (0..2)
        .map(|t| {
            let (sp, barrier) = (sp.clone(), barrier.clone());
            thread::spawn(move || {
                let ids: Vec<String> = (0..100).map(|i| format!("race-{t}-{i:03}")).collect();
                barrier.wait();
                for _ in 0..300 {
                    for id in &ids {
                        let store = sp.open_store(id).unwrap();
                        assert_eq!(sp.stats(id).unwrap().clients, 1, "{id}: the open was lost");
                        let mut f = LogoffFlags::NO_WAIT.bits();
                        store.logoff(&mut f).unwrap();
                        assert_eq!(store.release(), 0);
                        // Released, or already forgotten.
                        let after = sp.stats(id).unwrap();
                        assert!(after.released || after == StoreStats::default(), "{id}");
                    }
                }
            })
        })
        .collect();
    for t in openers {
        t.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churner.join().unwrap();
    assert!(sp.store_ids().len() < 10_000, "idle stores were forgotten");
}
