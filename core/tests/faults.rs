//! Fault injection beyond spec_rules.rs: flushes that never finish on the final release and
//! on close, every kind of failing callback at once under threads, and a Support that panics.
//! Whatever breaks, no message is lost, every store is released once it drains, and nothing
//! the library was given is leaked. (docs/reliability.md lists every fault test per language.)

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use common::{Recorder, spooler_with};
use mapi_logoff::{
    Error, Event, EventKind, FlushFlags, LogoffFlags, Mode, Result, SpoolerOptions, Store, Support,
    Transport,
};

/// A transport whose flush blocks until the test lets it go: a flush that never finishes.
struct Stuck {
    release: Mutex<Receiver<()>>,
    calls: AtomicU32,
}

fn stuck() -> (Arc<Stuck>, Sender<()>) {
    let (tx, rx) = channel();
    let t = Arc::new(Stuck {
        release: Mutex::new(rx),
        calls: AtomicU32::new(0),
    });
    (t, tx)
}

impl Transport for Stuck {
    fn flush_queues(&self, _: &str, _: FlushFlags) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Blocks until the sender is dropped (or sends).
        let _ = self.release.lock().unwrap().recv();
        Ok(())
    }
}

/// Waits until nothing but `weak` remains of an Arc the library was given: the library let
/// go of it. The bound only turns a leak into a failure instead of a hang; no timing is
/// asserted.
fn let_go<T: ?Sized>(weak: &Weak<T>) -> bool {
    eventually(|| weak.strong_count() == 0)
}

/// The panics these tests cause on purpose say "exploded": keep them off the test output
/// (every other panic still goes to the default hook).
fn quiet_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !text.contains("exploded") {
                default(info);
            }
        }));
    });
}

/// Polls `done` until it holds; false if it never does within a bound that only turns a hang
/// into a failure (no timing is asserted).
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let bound = Instant::now() + Duration::from_secs(30);
    while !done() {
        if Instant::now() > bound {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

fn deadline(ms: u64) -> SpoolerOptions {
    SpoolerOptions {
        purge_deadline: Duration::from_millis(ms),
        ..Default::default()
    }
}

#[test]
fn a_final_release_purge_whose_flush_never_finishes_returns_and_releases_once_drained() {
    let sp = spooler_with(deadline(50));
    let events = Recorder::on(&sp);
    let (transport, unblock) = stuck();
    let weak = Arc::downgrade(&transport);
    sp.add_transport(transport);
    let store = sp.open_store("s").unwrap();
    sp.submit("s").unwrap();
    sp.begin_send("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    store.logoff(&mut f).unwrap();
    // The final release waits for the PURGE, which cannot finish: it returns at the deadline.
    assert_eq!(store.release(), 0);
    assert_eq!(events.count(EventKind::TimedOut), 1);
    let s = sp.stats("s").unwrap();
    assert_eq!(
        s.pending,
        Some(Mode::NoWait),
        "the logoff goes on as NO_WAIT"
    );
    assert!(!s.released);
    sp.end_receive("s").unwrap();
    assert!(
        !sp.stats("s").unwrap().released,
        "a send is still in flight"
    );
    sp.end_send("s", true).unwrap();
    let s = sp.stats("s").unwrap();
    assert!(s.released, "released once the transfers ended");
    assert_eq!(
        (s.submitted, s.sent, s.receptions, s.received),
        (1, 1, 1, 1)
    );
    assert_eq!(events.count(EventKind::Released), 1);
    // The stuck flush ends; the library lets go of the transport with the spooler (which
    // the Rust handle of the released store still names).
    drop(unblock);
    drop((sp, store));
    assert!(let_go(&weak), "the transport leaked");
}

#[test]
fn close_is_not_held_by_a_flush_that_never_finishes() {
    let sp = spooler_with(SpoolerOptions {
        purge_deadline: Duration::from_millis(20),
        close_deadline: Duration::from_millis(20),
        ..Default::default()
    });
    let events = Recorder::on(&sp);
    let (transport, unblock) = stuck();
    let weak = Arc::downgrade(&transport);
    sp.add_transport(transport.clone());
    let store = sp.open_store("s").unwrap();
    sp.begin_receive("s").unwrap();
    let mut f = LogoffFlags::PURGE.bits();
    assert_eq!(store.logoff_transports(&mut f), Err(Error::Timeout));
    assert!(
        eventually(|| transport.calls.load(Ordering::SeqCst) == 1),
        "the flush thread may start late, but it starts"
    );
    drop(transport);
    // The flush thread is still blocked; close still returns, and reports what did not drain.
    let report = sp.close().unwrap();
    assert_eq!(
        report.undrained,
        vec![("s".to_owned(), mapi_logoff::Activity::INBOUND)]
    );
    assert_eq!(events.count(EventKind::Undrained), 1);
    let s = sp.stats("s").unwrap();
    assert_eq!(s.receptions, s.receiving + s.received, "nothing lost");
    drop(unblock);
    drop((sp, store));
    assert!(let_go(&weak), "the transport leaked");
}

/// A Support whose first StoreLogoffTransports panics (a bug in a provider's own support),
/// then answers COMPLETE.
#[derive(Default)]
struct PanicsOnce {
    calls: AtomicU32,
}

impl Support for PanicsOnce {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("support exploded");
        }
        *flags = LogoffFlags::COMPLETE.bits();
        Ok(())
    }
}

#[test]
fn a_support_that_panics_leaves_the_handle_usable_and_the_final_call_happens() {
    quiet_expected_panics();
    let support = Arc::new(PanicsOnce::default());
    let store = Store::new(support.clone());
    let mut f = LogoffFlags::ORDERLY.bits();
    let panicked = catch_unwind(AssertUnwindSafe(|| store.logoff_transports(&mut f)));
    assert!(panicked.is_err(), "the panic reaches the caller");
    // The handle is not stuck in that call: it still logs off, and its final release still
    // calls StoreLogoffTransports exactly once.
    assert!(store.is_valid());
    let mut f = LogoffFlags::QUIET.bits();
    assert_eq!(store.logoff(&mut f), Ok(()));
    assert_eq!(store.release(), 0);
    assert_eq!(
        support.calls.load(Ordering::SeqCst),
        2,
        "the final release called the support"
    );
}

/// A Support whose first StoreLogoffTransports waits for the test, then panics.
struct PanicsWhenTold {
    entered: Mutex<Option<Sender<()>>>,
    go: Mutex<Receiver<()>>,
    calls: AtomicU32,
    last_flags: AtomicU32,
}

impl Support for PanicsWhenTold {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        self.last_flags.store(*flags, Ordering::SeqCst);
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            drop(self.entered.lock().unwrap().take());
            let _ = self.go.lock().unwrap().recv();
            panic!("support exploded");
        }
        *flags = LogoffFlags::COMPLETE.bits();
        Ok(())
    }
}

#[test]
fn a_final_release_during_a_panicking_call_is_still_made() {
    quiet_expected_panics();
    let (entered_tx, entered) = channel();
    let (go, go_rx) = channel::<()>();
    let support = Arc::new(PanicsWhenTold {
        entered: Mutex::new(Some(entered_tx)),
        go: Mutex::new(go_rx),
        calls: AtomicU32::new(0),
        last_flags: AtomicU32::new(0),
    });
    let store = Store::new(support.clone());
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff(&mut f).unwrap();
    let caller = {
        let store = store.clone();
        thread::spawn(move || {
            let mut f = LogoffFlags::ORDERLY.bits();
            catch_unwind(AssertUnwindSafe(|| store.logoff_transports(&mut f))).is_err()
        })
    };
    let _ = entered.recv(); // the support is inside the first call
    // The last reference goes while that call runs: its caller makes the final call.
    assert_eq!(store.release(), 0);
    drop(go);
    assert!(caller.join().unwrap(), "the panic reached the caller");
    assert_eq!(
        support.calls.load(Ordering::SeqCst),
        2,
        "the final call was made"
    );
    assert_eq!(
        support.last_flags.load(Ordering::SeqCst),
        LogoffFlags::QUIET.bits(),
        "with the saved mode"
    );
}

/// Every kind of failing callback at once: a transport that fails, one that panics, one
/// whose flush never finishes, one that calls back into the spooler, a subscriber that
/// panics, while threads open, log off (PURGE among them), release and report activity.
#[test]
fn every_fault_at_once_loses_no_message_and_releases_every_store() {
    quiet_expected_panics();
    let sp = spooler_with(deadline(1));
    let events = Recorder::on(&sp);
    sp.add_transport(Arc::new(|_: &str, _: FlushFlags| Err(Error::NoSupport)));
    sp.add_transport(Arc::new(|_: &str, _: FlushFlags| -> Result<()> {
        panic!("transport exploded")
    }));
    let (transport, unblock) = stuck();
    let stuck_weak = Arc::downgrade(&transport);
    sp.add_transport(transport);
    let reader = sp.clone();
    let reader_id = sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
        reader.stats(id).map(|_| ())
    }));
    let panics = Arc::new(AtomicU32::new(0));
    let counted = panics.clone();
    sp.subscribe(Arc::new(move |_: &Event| {
        counted.fetch_add(1, Ordering::Relaxed);
        panic!("observer exploded")
    }));

    const THREADS: usize = 4;
    const OPS: u64 = 1_500;
    let ids: Arc<Vec<String>> = Arc::new((0..8).map(|i| format!("s{i}")).collect());
    let barrier = Arc::new(Barrier::new(THREADS));
    let opens = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let workers: Vec<_> = (0..THREADS as u64)
        .map(|t| {
            let (sp, ids, barrier, opens) =
                (sp.clone(), ids.clone(), barrier.clone(), opens.clone());
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                let mut next = move |n: u64| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % n
                };
                let mut held: Vec<Store> = Vec::new();
                barrier.wait();
                for _ in 0..OPS {
                    let id = &ids[next(ids.len() as u64) as usize];
                    let r = match next(20) {
                        0 | 1 => sp.open_store(id).map(|s| {
                            *opens.lock().unwrap().entry(id.clone()).or_default() += 1;
                            held.push(s);
                        }),
                        2 | 3 if !held.is_empty() => {
                            let s = held.swap_remove(next(held.len() as u64) as usize);
                            let mut f = Mode::ALL[next(5) as usize].flag().bits();
                            let _ = s.logoff(&mut f);
                            assert_eq!(s.release(), 0);
                            Ok(())
                        }
                        4 if !held.is_empty() => {
                            let s = &held[next(held.len() as u64) as usize];
                            let mut f = Mode::ALL[next(5) as usize].flag().bits();
                            s.logoff_transports(&mut f)
                        }
                        5..=8 => sp.submit(id),
                        9..=11 => sp.begin_send(id),
                        12..=14 => sp.end_send(id, next(8) != 0),
                        15 | 16 => sp.begin_receive(id),
                        _ => sp.end_receive(id),
                    };
                    match r {
                        Ok(()) => {}
                        Err(
                            Error::NoAccess
                            | Error::NotFound
                            | Error::InvalidObject
                            | Error::Timeout,
                        ) => {}
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                for s in held {
                    assert_eq!(s.release(), 0);
                }
            })
        })
        .collect();
    for w in workers {
        w.join()
            .expect("a worker panicked: a fault escaped the library");
    }
    assert!(
        panics.load(Ordering::Relaxed) > 0,
        "the observer ran (and panicked)"
    );
    // The stuck flushes end; each PURGE's failures are reported once all its transports returned.
    drop(unblock);
    assert!(
        eventually(|| events.count(EventKind::FlushFailed) > 0),
        "the failing transports were reported"
    );

    // Drain: end every transfer, then send what pending logoffs wait for.
    for id in ids.iter() {
        let s = sp.stats(id).unwrap();
        for _ in 0..s.sending {
            sp.end_send(id, true).unwrap();
        }
        for _ in 0..s.receiving {
            sp.end_receive(id).unwrap();
        }
        while sp.stats(id).unwrap().pending.is_some() {
            sp.begin_send(id).unwrap();
            sp.end_send(id, true).unwrap();
        }
    }
    let opens = opens.lock().unwrap();
    for id in ids.iter() {
        let s = sp.stats(id).unwrap();
        assert_eq!(
            s.submitted,
            s.queued + s.sent,
            "{id}: lost a message: {s:?}"
        );
        assert_eq!(s.receptions, s.received, "{id}: lost a reception: {s:?}");
        assert_eq!(
            (s.clients, s.pending),
            (0, None),
            "{id}: a store leaked: {s:?}"
        );
        let released = events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.kind == EventKind::Released && &*e.store_id == id)
            .count() as u64;
        assert_eq!(
            released,
            opens.get(id).copied().unwrap_or(0),
            "{id}: one release per open"
        );
    }
    // The reader holds the spooler: removing it breaks that cycle (the test's, not the library's).
    assert!(sp.remove_transport(reader_id));
    drop(sp);
    assert!(let_go(&stuck_weak), "the stuck transport leaked");
}
