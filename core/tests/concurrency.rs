//! Exactly-once under threads (SPEC §5) and the shared rule across processes (SPEC §6).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{Recorder, spooler};
use mapi_logoff::{EventKind, LogoffFlags, Mode, Result, Spooler, SpoolerOptions, Store, Support};

struct Counter(AtomicU32);

impl Support for Counter {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        self.0.fetch_add(1, Ordering::SeqCst);
        *flags = LogoffFlags::COMPLETE.bits();
        Ok(())
    }
}

#[test]
fn eight_threads_racing_add_ref_release_and_logoff_call_once() {
    for round in 0..200 {
        let support = Arc::new(Counter(AtomicU32::new(0)));
        let store = Store::new(support.clone());
        // One reference per thread; the handle's own starting reference is released last.
        for _ in 0..8 {
            store.add_ref();
        }
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..20 {
                        store.add_ref();
                        let mut f = Mode::ALL[t % 5].flag().bits();
                        let _ = store.logoff(&mut f);
                        store.release();
                    }
                    if t == 0 && round % 2 == 0 {
                        let mut f = LogoffFlags::NO_WAIT.bits();
                        let _ = store.logoff_transports(&mut f);
                    }
                    store.release();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.ref_count(), 1, "round {round}");
        store.release();
        assert_eq!(
            support.0.load(Ordering::SeqCst),
            1,
            "round {round}: exactly once"
        );
        assert_eq!(store.ref_count(), 0);
    }
}

#[test]
fn eight_threads_releasing_spooler_handles_release_each_store_once() {
    let sp = spooler();
    let events = Recorder::on(&sp);
    for round in 0..50 {
        let id = format!("store-{round}");
        let store = sp.open_store(&id).unwrap();
        for _ in 1..8 {
            store.add_ref();
        }
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, barrier, sp, id) =
                    (store.clone(), barrier.clone(), sp.clone(), id.clone());
                thread::spawn(move || {
                    barrier.wait();
                    let _ = sp.submit(&id);
                    let mut f = LogoffFlags::ORDERLY.bits();
                    let _ = store.logoff(&mut f);
                    store.release();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let stats = sp.stats(&id).unwrap();
        assert!(stats.released, "{id}");
        assert_eq!(stats.clients, 0, "{id}");
        assert_eq!(stats.submitted, stats.queued, "{id}: nothing lost");
    }
    assert_eq!(events.count(EventKind::Decided), 50);
    assert_eq!(events.count(EventKind::Released), 50);
}

/// Runs in the child process: opens the store, says so, then waits to be killed.
#[test]
fn child_holding_a_store() {
    let Ok(dir) = std::env::var("MAPI_LOGOFF_TEST_CHILD_DIR") else {
        return; // only meaningful when spawned by the test below
    };
    let sp = Spooler::with_options(
        "shared-profile",
        SpoolerOptions {
            runtime_dir: Some(dir.into()),
            ..Default::default()
        },
    )
    .unwrap();
    let _store = sp.open_store("shared-store").unwrap();
    println!("MAPI_LOGOFF_CHILD_READY");
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn a_store_held_by_a_killed_process_is_not_shared() {
    let dir = common::private_tempdir();
    let sp = Spooler::with_options(
        "shared-profile",
        SpoolerOptions {
            runtime_dir: Some(dir.path().into()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_holding_a_store",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MAPI_LOGOFF_TEST_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(|l| l.ok())
        .any(|l| l.contains("MAPI_LOGOFF_CHILD_READY"));
    assert!(ready, "the child never opened the store");

    // While the child lives, the store is shared: QUIET logs off this client despite
    // the activity, and leaves the store served.
    let store = sp.open_store("shared-store").unwrap();
    sp.begin_receive("shared-store").unwrap();
    let mut f = LogoffFlags::QUIET.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(
        f,
        LogoffFlags::COMPLETE.bits(),
        "shared with the live child"
    );

    child.kill().unwrap(); // SIGKILL: the child runs no clean-up
    child.wait().unwrap();

    // The kernel drops a dead process's locks when it releases its files, which can come
    // a tick after `wait` returns: ask again for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let f = loop {
        let store = sp.open_store("shared-store").unwrap();
        let mut f = LogoffFlags::QUIET.bits();
        store.logoff_transports(&mut f).unwrap();
        if f != LogoffFlags::COMPLETE.bits() || std::time::Instant::now() > deadline {
            break f;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert_eq!(
        f,
        LogoffFlags::INBOUND.bits(),
        "after kill -9 the store is no longer shared: QUIET is refused"
    );
}

#[test]
fn two_spoolers_of_one_profile_in_one_process_share_stores() {
    let dir = common::private_tempdir();
    let options = || SpoolerOptions {
        runtime_dir: Some(dir.path().into()),
        ..Default::default()
    };
    let a = Spooler::with_options("p", options()).unwrap();
    let b = Spooler::with_options("p", options()).unwrap();
    let other_profile = Spooler::with_options("q", options()).unwrap();
    let _held_by_b = b.open_store("s").unwrap();
    let _held_elsewhere = other_profile.open_store("s").unwrap();
    let store = a.open_store("s").unwrap();
    a.begin_receive("s").unwrap();
    let mut f = LogoffFlags::ABORT.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(f, LogoffFlags::COMPLETE.bits(), "b holds it: shared");
    drop(_held_by_b);
    drop(b); // the spooler goes away; its marker must stop counting
    let store = a.open_store("s").unwrap();
    let mut f = LogoffFlags::ABORT.bits();
    store.logoff_transports(&mut f).unwrap();
    assert_eq!(
        f,
        LogoffFlags::INBOUND.bits(),
        "a different profile never shares"
    );
}
