//! ABORT with transports that can cancel a transfer in flight: every transport cancels, one
//! cannot, a cancel that panics, a cancel that hangs past the deadline, a cancel racing an
//! end_send, and the accounting of a cancelled reception.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{Recorder, logoff_and_release, spooler, spooler_with};
use mapi_logoff::{
    Activity, Error, EventKind, FlushFlags, LogoffFlags, Mode, Release, Result, Runtime, Spooler,
    SpoolerOptions, StoreStats, Transport, VirtualRuntime,
};

/// What a test transport does when asked to cancel.
enum OnCancel {
    /// Cancel the store's send in flight (`end_send(false)`).
    Send,
    /// Cancel the store's reception in flight (`cancel_receive`).
    Receive,
    /// Cancel both.
    Both,
    /// Fail with MAPI_E_CALL_FAILED.
    Fail,
    /// Panic.
    Panic,
    /// Block until the test lets it go, then cancel both.
    Hang(Mutex<Receiver<()>>),
}

struct Canceller {
    spooler: Spooler,
    can_cancel: bool,
    on_cancel: OnCancel,
    calls: AtomicU64,
}

impl Canceller {
    fn new(spooler: &Spooler, can_cancel: bool, on_cancel: OnCancel) -> Arc<Canceller> {
        Arc::new(Canceller {
            spooler: spooler.clone(),
            can_cancel,
            on_cancel,
            calls: AtomicU64::new(0),
        })
    }

    fn cancel_send(&self, id: &str) -> Result<()> {
        // NOT_FOUND: the send ended meanwhile, nothing to cancel.
        match self.spooler.end_send(id, false) {
            Ok(()) | Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn cancel_receive(&self, id: &str) -> Result<()> {
        match self.spooler.cancel_receive(id) {
            Ok(()) | Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Transport for Canceller {
    fn flush_queues(&self, _: &str, _: FlushFlags) -> Result<()> {
        Ok(())
    }

    fn can_cancel(&self, _store_id: &str) -> bool {
        self.can_cancel
    }

    fn cancel(&self, id: &str) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.on_cancel {
            OnCancel::Send => self.cancel_send(id),
            OnCancel::Receive => self.cancel_receive(id),
            OnCancel::Both => {
                self.cancel_send(id)?;
                self.cancel_receive(id)
            }
            OnCancel::Fail => Err(Error::CallFailed),
            OnCancel::Panic => panic!("the transport's cancel panicked"),
            OnCancel::Hang(go) => {
                let _ = go.lock().unwrap().recv();
                self.cancel_send(id)?;
                self.cancel_receive(id)
            }
        }
    }
}

/// A store with a message queued, one being sent and one being received.
fn busy_store(spooler: &Spooler, id: &str) -> mapi_logoff::Store {
    let store = spooler.open_store(id).unwrap();
    for _ in 0..2 {
        spooler.submit(id).unwrap();
    }
    spooler.begin_send(id).unwrap();
    spooler.begin_receive(id).unwrap();
    store
}

fn assert_accounted(st: &StoreStats) {
    assert_eq!(st.submitted, st.queued + st.sending + st.sent, "{st:?}");
    assert_eq!(
        st.receptions,
        st.receiving + st.received + st.cancelled_receptions,
        "{st:?}"
    );
}

fn abort(store: &mapi_logoff::Store) -> (Result<()>, LogoffFlags) {
    let mut flags = LogoffFlags::ABORT.bits();
    let r = store.logoff_transports(&mut flags);
    (r, LogoffFlags::from_bits_retain(flags))
}

fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("cancel panicked") {
            default(info);
        }
    }));
}

#[test]
fn all_transports_cancel() {
    let spooler = spooler();
    let events = Recorder::on(&spooler);
    let sender = Canceller::new(&spooler, true, OnCancel::Send);
    let receiver = Canceller::new(&spooler, true, OnCancel::Receive);
    spooler.add_transport(sender.clone());
    spooler.add_transport(receiver.clone());
    let store = busy_store(&spooler, "inbox");

    let (r, out) = abort(&store);
    assert_eq!(r, Ok(()));
    // The cancelled send is back in the queue: ABORT reports it left there.
    assert_eq!(out, LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE);
    assert_eq!(sender.calls.load(Ordering::SeqCst), 1);
    assert_eq!(receiver.calls.load(Ordering::SeqCst), 1);
    let st = spooler.stats("inbox").unwrap();
    assert!(st.released);
    assert_eq!(st.allowed, Activity::empty());
    assert_eq!((st.queued, st.sending, st.receiving), (2, 0, 0));
    assert_eq!((st.cancelled_receptions, st.received), (1, 0));
    assert_accounted(&st);

    // Control returned once the cancellations were done: they come before the decision.
    let kinds = events.kinds();
    assert_eq!(
        kinds,
        vec![
            EventKind::Cancelled,
            EventKind::Cancelled,
            EventKind::Decided,
            EventKind::Released
        ]
    );
    let list = events.0.lock().unwrap();
    assert!(
        list[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("send cancelled")
    );
    assert!(
        list[1]
            .detail
            .as_deref()
            .unwrap()
            .contains("reception cancelled")
    );
    assert_eq!(list[2].decision.unwrap().release, Release::Now);
    assert_eq!(
        list[2].detail.as_deref(),
        Some("the transfers in flight were cancelled")
    );
    drop(list);
    // The handle answered COMPLETE: its final release calls nothing more.
    assert_eq!(store.release(), 0);
    assert_eq!(events.count(EventKind::Decided), 1);
}

#[test]
fn all_transports_cancel_on_the_final_release() {
    let spooler = spooler();
    spooler.add_transport(Canceller::new(&spooler, true, OnCancel::Both));
    let store = busy_store(&spooler, "inbox");
    logoff_and_release(&store, Mode::Abort);
    let st = spooler.stats("inbox").unwrap();
    assert!(st.released);
    assert_eq!((st.queued, st.sending, st.receiving), (2, 0, 0));
    assert_eq!(st.cancelled_receptions, 1);
    assert_accounted(&st);
    // The store opens again with its queue, and the gates open.
    let again = spooler.open_store("inbox").unwrap();
    spooler.begin_send("inbox").unwrap();
    spooler.begin_receive("inbox").unwrap();
    drop(again);
}

#[test]
fn one_transport_cannot_cancel() {
    let spooler = spooler();
    let events = Recorder::on(&spooler);
    let can = Canceller::new(&spooler, true, OnCancel::Both);
    let cannot = Canceller::new(&spooler, false, OnCancel::Both);
    spooler.add_transport(can.clone());
    spooler.add_transport(cannot.clone());
    let store = busy_store(&spooler, "inbox");

    let (r, out) = abort(&store);
    assert_eq!(r, Ok(()));
    assert_eq!(
        out,
        LogoffFlags::INBOUND | LogoffFlags::OUTBOUND | LogoffFlags::OUTBOUND_QUEUE
    );
    // Nobody is asked to cancel: it could not make the ABORT succeed.
    assert_eq!(can.calls.load(Ordering::SeqCst), 0);
    assert_eq!(cannot.calls.load(Ordering::SeqCst), 0);
    assert_eq!(events.kinds(), vec![EventKind::Refused]);
    let st = spooler.stats("inbox").unwrap();
    assert_eq!((st.queued, st.sending, st.receiving), (1, 1, 1));
    assert_eq!(st.allowed, Activity::all());
    assert!(!st.released);
}

#[test]
fn a_closure_transport_cannot_cancel() {
    let spooler = spooler();
    spooler.add_transport(Arc::new(|_: &str, _: FlushFlags| Ok(())));
    let store = busy_store(&spooler, "inbox");
    let (_, out) = abort(&store);
    assert!(!out.contains(LogoffFlags::COMPLETE));
}

#[test]
fn no_transport_means_nothing_to_cancel() {
    let spooler = spooler();
    let store = busy_store(&spooler, "inbox");
    let (_, out) = abort(&store);
    assert!(!out.contains(LogoffFlags::COMPLETE));
}

#[test]
fn a_cancel_callback_that_throws() {
    quiet_expected_panics();
    for on_cancel in [OnCancel::Panic, OnCancel::Fail] {
        let panics = matches!(on_cancel, OnCancel::Panic);
        let spooler = spooler();
        let events = Recorder::on(&spooler);
        // The first transport cancels the send; the second fails: the reception stays.
        spooler.add_transport(Canceller::new(&spooler, true, OnCancel::Send));
        let failing = Canceller::new(&spooler, true, on_cancel);
        let failing_id = spooler.add_transport(failing.clone());
        let store = busy_store(&spooler, "inbox");

        let (r, out) = abort(&store);
        assert_eq!(r, Ok(()));
        assert_eq!(out, LogoffFlags::INBOUND | LogoffFlags::OUTBOUND_QUEUE);
        assert_eq!(failing.calls.load(Ordering::SeqCst), 1);
        let st = spooler.stats("inbox").unwrap();
        assert_eq!((st.queued, st.sending, st.receiving), (2, 0, 1));
        // Refused: the gates are open again and the store is served as before.
        assert_eq!(st.allowed, Activity::all());
        assert!(!st.released);
        assert_accounted(&st);
        assert_eq!(
            events.kinds(),
            vec![EventKind::Cancelled, EventKind::Refused]
        );
        let refused = events.0.lock().unwrap()[1].clone();
        let detail = refused.detail.unwrap();
        assert!(
            detail.starts_with("a transfer in flight could not be cancelled: ")
                && detail.contains(&format!("transport {failing_id}: "))
                && detail.contains(if panics { "panicked" } else { "CALL_FAILED" }),
            "{detail}"
        );
        // The reception ends normally; the store goes on.
        spooler.end_receive("inbox").unwrap();
        spooler.begin_send("inbox").unwrap();
        spooler.end_send("inbox", true).unwrap();
        assert_accounted(&spooler.stats("inbox").unwrap());
    }
}

#[test]
fn a_cancel_callback_that_hangs_past_the_deadline() {
    let spooler = spooler_with(SpoolerOptions {
        purge_deadline: Duration::from_millis(100),
        ..SpoolerOptions::default()
    });
    let events = Recorder::on(&spooler);
    let (go, wait): (Sender<()>, Receiver<()>) = channel();
    let hanging = Canceller::new(&spooler, true, OnCancel::Hang(Mutex::new(wait)));
    let hanging_id = spooler.add_transport(hanging.clone());
    let store = busy_store(&spooler, "inbox");

    let t0 = Instant::now();
    let (r, out) = abort(&store);
    let took = t0.elapsed();
    assert_eq!(r, Ok(()));
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(
        out,
        LogoffFlags::INBOUND | LogoffFlags::OUTBOUND | LogoffFlags::OUTBOUND_QUEUE
    );
    let refused = events.0.lock().unwrap().last().unwrap().clone();
    assert_eq!(refused.kind, EventKind::Refused);
    assert_eq!(
        refused.detail.as_deref(),
        Some(
            format!(
                "a transfer in flight could not be cancelled: transport {hanging_id}: cancel did not answer within 100ms"
            )
            .as_str()
        )
    );
    assert_eq!(spooler.stats("inbox").unwrap().allowed, Activity::all());

    // The late cancel still counts every message: the send is back in the queue and the
    // reception at the server, each with its event.
    go.send(()).unwrap();
    let start = Instant::now();
    while spooler.stats("inbox").unwrap().activity().in_flight() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the late cancel never ran"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let st = spooler.stats("inbox").unwrap();
    assert_eq!((st.queued, st.cancelled_receptions), (2, 1));
    assert_accounted(&st);
    let start = Instant::now();
    while events.count(EventKind::Cancelled) < 2 {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    // Nothing in flight now: the ABORT asked again succeeds, and calls cancel no more.
    let (r, out) = abort(&store);
    assert_eq!(r, Ok(()));
    assert_eq!(out, LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE);
    assert_eq!(hanging.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_cancel_racing_an_end_send() {
    for round in 0..200 {
        let spooler = spooler();
        let barrier = Arc::new(Barrier::new(2));
        let (racer, b) = (spooler.clone(), barrier.clone());
        let finished = Arc::new(Mutex::new(None));
        let f2 = finished.clone();
        // The transport's cancel and the transfer's own end meet at the barrier.
        struct Racing {
            spooler: Spooler,
            barrier: Arc<Barrier>,
            cancelled: Mutex<Option<Result<()>>>,
        }
        impl Transport for Racing {
            fn flush_queues(&self, _: &str, _: FlushFlags) -> Result<()> {
                Ok(())
            }
            fn can_cancel(&self, _store_id: &str) -> bool {
                true
            }
            fn cancel(&self, id: &str) -> Result<()> {
                self.barrier.wait();
                let r = self.spooler.end_send(id, false);
                *self.cancelled.lock().unwrap() = Some(r);
                match r {
                    Ok(()) | Err(Error::NotFound) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
        let transport = Arc::new(Racing {
            spooler: spooler.clone(),
            barrier,
            cancelled: Mutex::new(None),
        });
        spooler.add_transport(transport.clone());
        let events = Recorder::on(&spooler);
        let store = spooler.open_store("outbox").unwrap();
        spooler.submit("outbox").unwrap();
        spooler.begin_send("outbox").unwrap();
        let t = std::thread::spawn(move || {
            b.wait();
            *f2.lock().unwrap() = Some(racer.end_send("outbox", true));
        });
        let (r, out) = abort(&store);
        t.join().unwrap();
        assert_eq!(r, Ok(()));
        let sent = finished.lock().unwrap().unwrap();
        let cancelled = transport.cancelled.lock().unwrap().unwrap();
        // Exactly one of the two ends the send; the other finds nothing in flight.
        assert!(
            matches!(
                (sent, cancelled),
                (Ok(()), Err(Error::NotFound)) | (Err(Error::NotFound), Ok(()))
            ),
            "round {round}: {sent:?} {cancelled:?}"
        );
        let st = spooler.stats("outbox").unwrap();
        assert_eq!(st.sending, 0);
        assert_eq!(st.sent + st.queued, 1, "round {round}: {st:?}");
        assert_accounted(&st);
        // Either way nothing was in flight once the cancel returned: ABORT logged off.
        let queued = if st.queued > 0 {
            LogoffFlags::OUTBOUND_QUEUE
        } else {
            LogoffFlags::empty()
        };
        assert_eq!(out, LogoffFlags::COMPLETE | queued);
        assert!(st.released);
        assert_eq!(
            events.count(EventKind::Cancelled),
            usize::from(cancelled.is_ok())
        );
    }
}

#[test]
fn cancel_receive_with_nothing_in_flight_is_not_found() {
    let spooler = spooler();
    assert_eq!(spooler.cancel_receive("inbox"), Err(Error::NotFound));
    // A refused report changes nothing, not even the first mention.
    assert_eq!(spooler.store_ids(), Vec::<String>::new());
    let _store = spooler.open_store("inbox").unwrap();
    spooler.begin_receive("inbox").unwrap();
    spooler.cancel_receive("inbox").unwrap();
    assert_eq!(spooler.cancel_receive("inbox"), Err(Error::NotFound));
    let st = spooler.stats("inbox").unwrap();
    assert_eq!((st.receptions, st.cancelled_receptions), (1, 1));
    assert_eq!(spooler.cancel_receive(""), Err(Error::InvalidParameter));
}

#[test]
fn a_shared_store_is_not_cancelled() {
    let spooler = spooler();
    let t = Canceller::new(&spooler, true, OnCancel::Both);
    spooler.add_transport(t.clone());
    let store = busy_store(&spooler, "inbox");
    let other = spooler.open_store("inbox").unwrap();
    let (_, out) = abort(&store);
    assert_eq!(out, LogoffFlags::COMPLETE);
    assert_eq!(t.calls.load(Ordering::SeqCst), 0);
    let st = spooler.stats("inbox").unwrap();
    assert_eq!((st.sending, st.receiving), (1, 1));
    assert_eq!(st.allowed, Activity::all());
    drop(other);
}

#[test]
fn nothing_in_flight_calls_no_cancel() {
    let spooler = spooler();
    let t = Canceller::new(&spooler, true, OnCancel::Both);
    spooler.add_transport(t.clone());
    let store = spooler.open_store("inbox").unwrap();
    spooler.submit("inbox").unwrap();
    let (_, out) = abort(&store);
    assert_eq!(out, LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE);
    assert_eq!(t.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn other_modes_never_cancel() {
    for mode in [Mode::Quiet, Mode::Orderly, Mode::NoWait] {
        let spooler = spooler();
        let t = Canceller::new(&spooler, true, OnCancel::Both);
        spooler.add_transport(t.clone());
        let store = busy_store(&spooler, "inbox");
        let mut flags = mode.flag().bits();
        store.logoff_transports(&mut flags).unwrap();
        assert_eq!(t.calls.load(Ordering::SeqCst), 0, "{mode:?}");
    }
}

#[test]
fn cancellation_on_the_virtual_runtime_takes_the_cancels_time() {
    let rt = VirtualRuntime::new();
    let spooler = spooler_with(SpoolerOptions {
        runtime: Some(Arc::new(rt.clone())),
        purge_deadline: Duration::from_millis(500),
        ..SpoolerOptions::default()
    });
    struct Slow {
        spooler: Spooler,
        rt: VirtualRuntime,
    }
    impl Transport for Slow {
        fn flush_queues(&self, _: &str, _: FlushFlags) -> Result<()> {
            Ok(())
        }
        fn can_cancel(&self, _store_id: &str) -> bool {
            true
        }
        fn cancel(&self, id: &str) -> Result<()> {
            self.rt.sleep(Duration::from_millis(30));
            self.spooler.end_send(id, false)
        }
    }
    spooler.add_transport(Arc::new(Slow {
        spooler: spooler.clone(),
        rt: rt.clone(),
    }));
    let store = spooler.open_store("outbox").unwrap();
    spooler.submit("outbox").unwrap();
    spooler.begin_send("outbox").unwrap();
    let result = Arc::new(Mutex::new(None));
    let (r2, rt2) = (result.clone(), rt.clone());
    rt.start_at(Duration::from_millis(10), move || {
        let (r, out) = abort(&store);
        *r2.lock().unwrap() = Some((r, out, rt2.now()));
    });
    rt.run_until(Duration::from_secs(10));
    rt.shut_down();
    let (r, out, at) = result.lock().unwrap().take().unwrap();
    assert_eq!(r, Ok(()));
    assert_eq!(out, LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE);
    assert_eq!(at, Duration::from_millis(40));
}

#[test]
fn a_removed_transport_cancels_nothing() {
    let spooler = spooler();
    let t = Canceller::new(&spooler, true, OnCancel::Both);
    let tid = spooler.add_transport(t.clone());
    assert!(spooler.remove_transport(tid));
    let store = busy_store(&spooler, "inbox");
    let (_, out) = abort(&store);
    assert!(!out.contains(LogoffFlags::COMPLETE));
    assert_eq!(t.calls.load(Ordering::SeqCst), 0);
    // Registered again, it cancels.
    spooler.add_transport(t.clone());
    let (_, out) = abort(&store);
    assert_eq!(out, LogoffFlags::COMPLETE | LogoffFlags::OUTBOUND_QUEUE);
    assert_eq!(t.calls.load(Ordering::SeqCst), 1);
}
