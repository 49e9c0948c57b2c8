//! Criterion benchmarks of the protocol's hot calls (issue 8, figure 1), run by
//! `scripts/bench`, which reads criterion's estimates back into bench/results.md.
//!
//! - `decide`: `decide_bits` over every mode with each single activity bit (and none),
//!   alone and shared, varied like a caller's inputs.
//! - `store_cycle_idle`: open -> StoreLogoff(NO_WAIT) -> final release on an idle store, in
//!   the default configuration (cross-process sharing on, the registry in the directory the
//!   library picks); `store_cycle_idle_cross_process_off`: the same without the registry.
//! - `store_cycle_purge_4_queued_wall` and `_library`: open, submit 4 messages, then PURGE
//!   through `logoff_transports`. The core calls `flush_queues` on a worker of its pool; the
//!   transport drains the queue from there (begin_send/end_send) and the PURGE returns once
//!   the drained store is released. `_wall` is the caller's whole wait; `_library` is that
//!   minus the time spent inside the transport's `flush_queues` (which runs while the caller
//!   waits, so the two never overlap): what the library itself costs, including the flush
//!   hand-over to the worker and the wake-ups. `_transport` is that time inside `flush_queues`, and
//!   `thread_spawn_join` what starting and joining an empty thread costs, for comparison.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mapi_logoff::{FlushFlags, LogoffFlags, Spooler, SpoolerOptions, decide_bits};

/// A spooler in the default configuration, or with cross-process sharing off.
fn spooler(cross_process: bool) -> Spooler {
    Spooler::create(
        &format!("bench-{}", std::process::id()),
        SpoolerOptions {
            cross_process,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}", e.message))
}

/// (flags, activity, context) triples, all valid: the inputs of the C and Python figures.
fn inputs() -> Vec<(u32, u32, u32)> {
    let modes = [0x1, 0x2, 0x4, 0x8, 0x10];
    let activities = [0, 0x20000, 0x40000, 0x80000, 0xE0000];
    let v: Vec<_> = (0..64)
        .map(|i| (modes[i % 5], activities[(i / 5) % 5], ((i / 25) % 2) as u32))
        .collect();
    assert!(v.iter().all(|&(f, a, c)| decide_bits(f, a, c).is_ok()));
    v
}

fn protocol(c: &mut Criterion) {
    let inputs = inputs();
    let mut i = 0;
    c.bench_function("decide", |b| {
        b.iter(|| {
            let (f, a, ctx) = inputs[i & 63];
            i += 1;
            decide_bits(black_box(f), black_box(a), black_box(ctx))
        })
    });

    for (name, cross_process) in [
        ("store_cycle_idle", true),
        ("store_cycle_idle_cross_process_off", false),
    ] {
        let sp = spooler(cross_process);
        c.bench_function(name, |b| {
            b.iter(|| {
                let store = sp.open_store(black_box("inbox")).unwrap();
                let mut flags = LogoffFlags::NO_WAIT.bits();
                store.logoff(&mut flags).unwrap();
                store.release()
            })
        });
    }

    let sp = spooler(true);
    let in_transport = Arc::new(AtomicU64::new(0));
    let (t, spent) = (sp.clone(), in_transport.clone());
    sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
        let start = Instant::now();
        while t.begin_send(id).is_ok() {
            t.end_send(id, true)?;
        }
        spent.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(())
    }));
    let purge = |sp: &Spooler| {
        let store = sp.open_store("outbox").unwrap();
        for _ in 0..4 {
            sp.submit("outbox").unwrap();
        }
        let mut flags = LogoffFlags::PURGE.bits();
        store.logoff_transports(&mut flags).unwrap();
        assert_eq!(flags, LogoffFlags::COMPLETE.bits() | 0x80000);
        store.release()
    };
    c.bench_function("store_cycle_purge_4_queued_wall", |b| b.iter(|| purge(&sp)));
    c.bench_function("store_cycle_purge_4_queued_library", |b| {
        b.iter_custom(|iters| {
            let before = in_transport.load(Ordering::Relaxed);
            let start = Instant::now();
            for _ in 0..iters {
                black_box(purge(&sp));
            }
            let wall = start.elapsed();
            let transport = in_transport.load(Ordering::Relaxed) - before;
            wall.saturating_sub(Duration::from_nanos(transport))
        })
    });
    // For scale: the least that one thread per PURGE costs (spawn, run nothing, join).
    c.bench_function("thread_spawn_join", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1)).join().unwrap())
    });
    // The transport's share, for the table: its drain of 4 messages per PURGE.
    c.bench_function("store_cycle_purge_4_queued_transport", |b| {
        b.iter_custom(|iters| {
            let before = in_transport.load(Ordering::Relaxed);
            for _ in 0..iters {
                black_box(purge(&sp));
            }
            Duration::from_nanos(in_transport.load(Ordering::Relaxed) - before)
        })
    });
}

criterion_group!(benches, protocol);
criterion_main!(benches);
