//! The clock-and-executor seam: PURGE's flushes run on a bounded pool, its deadline holds
//! when no worker can be had (none may start, or every one is stuck), and the virtual
//! runtime runs a PURGE deterministically in virtual time.
#![allow(unsafe_code)] // fork, waitpid and _exit in the fork test

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Recorder, spooler_with};
use mapi_logoff::{
    Error, EventKind, FlushFlags, LogoffFlags, Runtime, SpoolerOptions, ThreadPool, VirtualRuntime,
};

const DEADLINE: Duration = Duration::from_millis(100);

/// The tests of this file run one at a time: one of them forks.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn purge_options(runtime: Arc<dyn Runtime>) -> SpoolerOptions {
    SpoolerOptions {
        purge_deadline: DEADLINE,
        runtime: Some(runtime),
        ..SpoolerOptions::default()
    }
}

#[test]
fn no_worker_at_all_skips_the_flushes_and_the_deadline_holds() {
    let _alone = alone();
    let sp = spooler_with(purge_options(ThreadPool::new(0, 8)));
    let rec = Recorder::on(&sp);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    sp.add_transport(Arc::new(move |_: &str, _: FlushFlags| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }));
    let store = sp.open_store("outbox").unwrap();
    sp.submit("outbox").unwrap();
    let mut flags = LogoffFlags::PURGE.bits();
    let t0 = Instant::now();
    assert_eq!(store.logoff_transports(&mut flags), Err(Error::Timeout));
    let took = t0.elapsed();
    assert!(took >= DEADLINE, "returned early: {took:?}");
    assert!(took < DEADLINE * 10, "deadline overrun: {took:?}");
    // Never called on the caller's thread (nor anywhere else).
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let skipped = rec.0.lock().unwrap().iter().any(|e| {
        e.kind == EventKind::FlushFailed
            && e.detail.as_deref().is_some_and(|d| d.contains("skipped"))
    });
    assert!(
        skipped,
        "no event for the skipped flushes: {:?}",
        rec.kinds()
    );
    assert_eq!(rec.count(EventKind::TimedOut), 1);
    // The logoff goes on as NO_WAIT: sending the queued message releases the store.
    sp.begin_send("outbox").unwrap();
    sp.end_send("outbox", true).unwrap();
    assert!(sp.stats("outbox").unwrap().released);
}

#[test]
fn every_worker_stuck_the_deadline_still_holds() {
    let _alone = alone();
    let pool = ThreadPool::new(1, 2);
    let sp = spooler_with(purge_options(pool.clone()));
    let rec = Recorder::on(&sp);
    let (tx, rx) = channel::<()>();
    let rx = Mutex::new(rx);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    sp.add_transport(Arc::new(move |_: &str, _: FlushFlags| {
        // The first flush holds the only worker until the test lets it go.
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = rx.lock().unwrap().recv();
        }
        Ok(())
    }));
    // One flush runs (stuck), two wait in the backlog, the fourth finds it full.
    for store_id in ["a", "b", "c", "d"] {
        let store = sp.open_store(store_id).unwrap();
        sp.submit(store_id).unwrap();
        let mut flags = LogoffFlags::PURGE.bits();
        let t0 = Instant::now();
        assert_eq!(store.logoff_transports(&mut flags), Err(Error::Timeout));
        let took = t0.elapsed();
        assert!(
            took >= DEADLINE && took < DEADLINE * 10,
            "{store_id}: {took:?}"
        );
    }
    assert_eq!(pool.workers(), 1, "a thread was started per call");
    assert_eq!(rec.count(EventKind::TimedOut), 4);
    let skipped: Vec<_> = rec
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::FlushFailed)
        .map(|e| e.store_id.to_string())
        .collect();
    assert_eq!(skipped, ["d"], "only the flush with no room is skipped");
    // Let the stuck flush go: the queued ones run late (not on any caller's thread).
    drop(tx);
    let t0 = Instant::now();
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn purge_on_the_pool_flushes_and_returns_once_released() {
    let _alone = alone();
    let pool = ThreadPool::new(2, 8);
    let sp = spooler_with(purge_options(pool.clone()));
    let t = sp.clone();
    sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
        while t.begin_send(id).is_ok() {
            t.end_send(id, true)?;
        }
        Ok(())
    }));
    for _ in 0..200 {
        let store = sp.open_store("outbox").unwrap();
        for _ in 0..4 {
            sp.submit("outbox").unwrap();
        }
        let mut flags = LogoffFlags::PURGE.bits();
        store.logoff_transports(&mut flags).unwrap();
        assert_eq!(store.release(), 0);
    }
    assert_eq!(sp.stats("outbox").unwrap().sent, 800);
    assert!(pool.workers() <= 2);
}

/// A PURGE on the virtual runtime: the transport's flush takes 30 virtual ms, the release
/// comes when the send ends, and nothing depends on the wall clock.
/// Jobs handed to the pool at every moment of a worker's spin and sleep (a worker that is
/// spinning takes a job without a wake-up; one that stops spinning must still see it): none
/// is ever left waiting.
#[test]
fn every_job_runs_whether_its_worker_spins_or_sleeps() {
    let _alone = alone();
    let pool = ThreadPool::new(2, 8);
    let mut pause = 1u64;
    for i in 0..3_000u64 {
        // Pauses from 0 to about 120 us: around the workers' 50 us spin.
        pause = pause
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_micros((pause >> 33) % 120));
        let done = pool.signal();
        let signal = done.clone();
        let jobs = 1 + (i % 3) as usize;
        let left = Arc::new(AtomicUsize::new(jobs));
        for _ in 0..jobs {
            let (signal, left) = (signal.clone(), left.clone());
            assert!(
                pool.spawn(Box::new(move || {
                    if left.fetch_sub(1, Ordering::SeqCst) == 1 {
                        signal.complete();
                    }
                }))
                .is_ok()
            );
        }
        // A guard against a lost wake-up, not a timing: the jobs take microseconds.
        let deadline = pool.now() + Duration::from_secs(30);
        assert!(done.wait_until(deadline), "job batch {i} never ran");
    }
    assert!(pool.workers() <= 2);
}

#[test]
fn purge_on_the_virtual_runtime_is_exact() {
    let _alone = alone();
    let run = |flush_ms: u64| {
        let rt = VirtualRuntime::new();
        let sp = spooler_with(purge_options(Arc::new(rt.clone())));
        let (t, r) = (sp.clone(), rt.clone());
        sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
            r.sleep(Duration::from_millis(flush_ms));
            while t.begin_send(id).is_ok() {
                t.end_send(id, true)?;
            }
            Ok(())
        }));
        let out = Arc::new(Mutex::new(None));
        let (sp2, r, o) = (sp.clone(), rt.clone(), out.clone());
        rt.start_at(Duration::from_millis(5), move || {
            let store = sp2.open_store("outbox").unwrap();
            sp2.submit("outbox").unwrap();
            let mut flags = LogoffFlags::PURGE.bits();
            let res = store.logoff_transports(&mut flags);
            *o.lock().unwrap() = Some((res, r.now()));
        });
        rt.run_until(Duration::from_secs(10));
        rt.shut_down();
        out.lock().unwrap().take()
    };
    assert_eq!(run(30), Some((Ok(()), Duration::from_millis(35))));
    // A flush longer than the deadline: the caller returns at exactly the deadline.
    assert_eq!(
        run(500),
        Some((Err(Error::Timeout), Duration::from_millis(105)))
    );
}

/// A child forked after the process's pool started gets a pool of its own: its parent's
/// workers do not exist in it, and a PURGE there still flushes.
#[test]
fn a_forked_child_flushes_on_a_pool_of_its_own() {
    let _alone = alone();
    // Start the shared pool's workers in the parent.
    let parent = spooler_with(SpoolerOptions::default());
    parent.add_transport(Arc::new(|_: &str, _: FlushFlags| Ok(())));
    let store = parent.open_store("p").unwrap();
    let mut flags = LogoffFlags::PURGE.bits();
    store.logoff_transports(&mut flags).unwrap();
    // SAFETY: the other tests of this file wait for this one; the child uses the library,
    // then leaves with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let sp = spooler_with(SpoolerOptions {
            purge_deadline: Duration::from_secs(20),
            ..SpoolerOptions::default()
        });
        let t = sp.clone();
        sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
            while t.begin_send(id).is_ok() {
                t.end_send(id, true)?;
            }
            Ok(())
        }));
        let store = sp.open_store("c").unwrap();
        sp.submit("c").unwrap();
        let mut flags = LogoffFlags::PURGE.bits();
        let ok = store.logoff_transports(&mut flags).is_ok() && sp.stats("c").unwrap().sent == 1;
        // SAFETY: leave without running the harness's exit code in the child.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    let t0 = Instant::now();
    loop {
        // SAFETY: waiting for our own child.
        let waited = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if waited == pid {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            // SAFETY: our own child, hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the child's PURGE hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's PURGE did not flush (status {status})"
    );
}
