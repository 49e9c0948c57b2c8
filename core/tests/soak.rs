//! Soak: threads x random operations over many stores, then the accounting check.
//!
//! Defaults to a short run (8 threads x 10,000 operations over 1,000 stores) so that
//! `cargo test` stays quick; `scripts/soak` runs it longer through these variables:
//! `MAPI_LOGOFF_SOAK_THREADS`, `MAPI_LOGOFF_SOAK_OPS` (per thread), `MAPI_LOGOFF_SOAK_STORES`,
//! `MAPI_LOGOFF_SOAK_SECONDS` (repeat rounds until this much time has passed).

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use mapi_logoff::{Error, Mode, Spooler, SpoolerOptions, Store};

#[path = "common/counting.rs"]
mod counting;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: a dependency-free generator, seeded per thread for repeatable runs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Default, Debug)]
struct Tally {
    ops: u64,
    refused: u64,
    timeouts: u64,
}

fn worker(sp: &Spooler, ids: &[String], seed: u64, ops: u64) -> Tally {
    let mut rng = Rng(seed | 1);
    let mut handles: Vec<Store> = Vec::new();
    let mut tally = Tally::default();
    for _ in 0..ops {
        tally.ops += 1;
        let id = &ids[rng.below(ids.len() as u64) as usize];
        let pick = rng.below(100);
        let result = match pick {
            0..=4 if handles.len() < 64 => sp.open_store(id).map(|s| handles.push(s)),
            5..=9 if !handles.is_empty() => {
                let h = rng.below(handles.len() as u64) as usize;
                if handles[h].release() == 0 {
                    handles.swap_remove(h);
                }
                Ok(())
            }
            10..=12 if !handles.is_empty() => {
                let h = &handles[rng.below(handles.len() as u64) as usize];
                h.add_ref();
                Ok(())
            }
            13..=17 if !handles.is_empty() => {
                let h = &handles[rng.below(handles.len() as u64) as usize];
                let mut f = Mode::ALL[rng.below(5) as usize].flag().bits();
                h.logoff(&mut f)
            }
            18..=19 if !handles.is_empty() => {
                let h = &handles[rng.below(handles.len() as u64) as usize];
                let mut f = Mode::ALL[rng.below(5) as usize].flag().bits();
                h.logoff_transports(&mut f)
            }
            20..=39 => sp.submit(id),
            40..=59 => sp.begin_send(id),
            60..=74 => sp.end_send(id, rng.below(10) != 0),
            75..=87 => sp.begin_receive(id),
            _ => sp.end_receive(id),
        };
        match result {
            Ok(()) => {}
            Err(Error::Timeout) => tally.timeouts += 1,
            Err(Error::NoAccess | Error::NotFound | Error::InvalidObject) => tally.refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    for h in handles {
        while h.release() > 0 {}
    }
    tally
}

/// Ends every transfer and sends whatever a pending logoff waits for, so every store can
/// drain; returns how many stores were opened at some point.
fn drain(sp: &Spooler, ids: &[String]) -> usize {
    let mut opened = 0;
    for id in ids {
        let s = sp.stats(id).unwrap();
        if s.released || s.pending.is_some() || s.clients > 0 {
            opened += 1;
        }
        for _ in 0..s.sending {
            sp.end_send(id, true).unwrap();
        }
        for _ in 0..s.receiving {
            sp.end_receive(id).unwrap();
        }
        while sp.stats(id).unwrap().pending.is_some() {
            // What is still pending waits for its queue (NO_WAIT, PURGE, deferred QUIET).
            sp.begin_send(id).unwrap();
            sp.end_send(id, true).unwrap();
        }
    }
    opened
}

fn round(threads: u64, ops: u64, stores: u64, seed: u64) -> (Tally, usize) {
    let sp = Spooler::with_options(
        "soak",
        SpoolerOptions {
            purge_deadline: Duration::from_millis(1),
            cross_process: false,
            ..Default::default()
        },
    )
    .unwrap();
    let ids: Arc<Vec<String>> = Arc::new((0..stores).map(|i| format!("store-{i:05}")).collect());
    let barrier = Arc::new(Barrier::new(threads as usize));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (sp, ids, barrier) = (sp.clone(), ids.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                worker(
                    &sp,
                    &ids,
                    seed.wrapping_add(t).wrapping_mul(0x9E37_79B9),
                    ops,
                )
            })
        })
        .collect();
    let mut total = Tally::default();
    for w in workers {
        let t = w.join().unwrap();
        total.ops += t.ops;
        total.refused += t.refused;
        total.timeouts += t.timeouts;
    }
    assert!(
        counting::live() > 64 * stores as isize,
        "the counting allocator sees the spooler's stores"
    );
    let opened = drain(&sp, &ids);
    for id in ids.iter() {
        let s = sp.stats(id).unwrap();
        assert_eq!(
            s.submitted,
            s.queued + s.sending + s.sent,
            "{id}: lost a message"
        );
        assert_eq!(
            s.receptions,
            s.receiving + s.received,
            "{id}: lost a reception"
        );
        assert_eq!((s.sending, s.receiving), (0, 0), "{id}");
        assert_eq!(s.clients, 0, "{id}: a client hold leaked");
        assert_eq!(s.pending, None, "{id}: drained but never released");
    }
    (total, opened)
}

#[test]
fn soak_accounts_for_every_message_and_returns_memory() {
    let threads = env("MAPI_LOGOFF_SOAK_THREADS", 8);
    let ops = env("MAPI_LOGOFF_SOAK_OPS", 10_000);
    let stores = env("MAPI_LOGOFF_SOAK_STORES", 1_000);
    let seconds = env("MAPI_LOGOFF_SOAK_SECONDS", 0);
    // A first round warms up lazily allocated runtime state (thread locals, std's own
    // caches) so the baseline is taken with it in place.
    round(2, 100, 10, 7);
    let baseline = counting::live();
    let started = Instant::now();
    let mut rounds = 0u64;
    let (mut total_ops, mut refused, mut timeouts, mut opened) = (0, 0, 0, 0);
    loop {
        let (tally, o) = round(threads, ops, stores, 0x5EED + rounds);
        total_ops += tally.ops;
        refused += tally.refused;
        timeouts += tally.timeouts;
        opened += o;
        rounds += 1;
        if started.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
    }
    let after = counting::live();
    println!(
        "soak: {rounds} round(s), {threads} threads, {total_ops} operations over {stores} stores \
         ({refused} refused by the protocol, {timeouts} PURGE timeouts, {opened} stores opened \
         and released); nothing lost; live heap {} bytes from baseline",
        after - baseline
    );
    assert!(
        after - baseline < 16 * 1024,
        "memory did not return to baseline: {} bytes still live",
        after - baseline
    );
}
