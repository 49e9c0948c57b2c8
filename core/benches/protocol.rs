//! Criterion benchmarks of the protocol's hot calls (issue 8, figure 1).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use mapi_logoff::{FlushFlags, LogoffFlags, Spooler, SpoolerOptions, decide_bits};

fn spooler(cross_process: bool) -> Spooler {
    let dir = std::env::temp_dir().join("mapi-logoff-bench");
    Spooler::with_options(
        "bench",
        SpoolerOptions {
            cross_process,
            runtime_dir: Some(dir),
            ..Default::default()
        },
    )
    .unwrap()
}

fn protocol(c: &mut Criterion) {
    c.bench_function("decide", |b| {
        b.iter(|| decide_bits(black_box(0x4), black_box(0x60000), black_box(0)))
    });

    for (name, cross_process) in [
        ("store_cycle_idle", false),
        ("store_cycle_idle_machine_registry", true),
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

    // PURGE on a store with queued messages; the transport drains them from its
    // flush_queues, on the logging-off thread (its work is library calls too).
    let sp = spooler(false);
    let t = sp.clone();
    sp.add_transport(Arc::new(move |id: &str, _: FlushFlags| {
        while t.begin_send(id).is_ok() {
            t.end_send(id, true)?;
        }
        Ok(())
    }));
    c.bench_function("store_cycle_purge_4_queued", |b| {
        b.iter(|| {
            let store = sp.open_store("outbox").unwrap();
            for _ in 0..4 {
                sp.submit("outbox").unwrap();
            }
            let mut flags = LogoffFlags::PURGE.bits();
            store.logoff_transports(&mut flags).unwrap();
            store.release()
        })
    });
}

criterion_group!(benches, protocol);
criterion_main!(benches);
