//! Scale, memory and thread figures of issue 8 (figure 5), printed as one JSON object per
//! line for `scripts/bench` to tabulate. `--smoke` runs everything tiny.
#![allow(unsafe_code)] // the counting allocator; the library itself forbids unsafe

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use mapi_logoff::{LogoffFlags, Spooler, SpoolerOptions, Store};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn spooler() -> Spooler {
    Spooler::with_options(
        "bench-scale",
        SpoolerOptions {
            cross_process: false,
            ..Default::default()
        },
    )
    .unwrap()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// A fixed pseudo-random order of indexes, so every size visits stores the same way.
fn order(n: usize, len: usize) -> Vec<usize> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
        })
        .collect()
}

fn activity_ns(sp: &Spooler, ids: &[String], visits: &[usize]) -> f64 {
    let start = Instant::now();
    for &i in visits {
        let id = &ids[i];
        sp.submit(id).unwrap();
        sp.begin_send(id).unwrap();
        sp.end_send(id, true).unwrap();
    }
    start.elapsed().as_nanos() as f64 / (3 * visits.len()) as f64
}

fn cycle_ns(sp: &Spooler, pool: &[String], visits: &[usize]) -> f64 {
    let start = Instant::now();
    for &i in visits {
        let store = sp.open_store(&pool[i]).unwrap();
        let mut flags = LogoffFlags::NO_WAIT.bits();
        store.logoff(&mut flags).unwrap();
        black_box(store.release());
    }
    start.elapsed().as_nanos() as f64 / visits.len() as f64
}

fn scale(stores: usize, ops: usize) {
    let ids: Vec<String> = (0..stores).map(|i| format!("store-{i:07}")).collect();
    let pool: Vec<String> = (0..1000).map(|i| format!("cycle-{i:04}")).collect();
    let visits = order(stores, ops);
    let pool_visits = order(pool.len(), ops);
    let sp = spooler();
    let heap_before = LIVE.load(Ordering::SeqCst);
    let rss_before = rss_bytes();
    let handles: Vec<Store> = ids.iter().map(|id| sp.open_store(id).unwrap()).collect();
    let heap_per_store = (LIVE.load(Ordering::SeqCst) - heap_before) as f64 / stores as f64;
    let rss_per_store = rss_bytes().saturating_sub(rss_before) as f64 / stores as f64;
    // Warm up, then measure.
    activity_ns(&sp, &ids, &visits[..visits.len() / 10]);
    let activity = activity_ns(&sp, &ids, &visits);
    cycle_ns(&sp, &pool, &pool_visits[..pool_visits.len() / 10]);
    let cycle = cycle_ns(&sp, &pool, &pool_visits);
    println!(
        "{{\"figure\":\"scale\",\"open_stores\":{stores},\"activity_ns\":{activity:.1},\
         \"cycle_ns\":{cycle:.1},\"heap_bytes_per_store\":{heap_per_store:.0},\
         \"rss_bytes_per_store\":{rss_per_store:.0}}}"
    );
    for h in handles {
        h.release();
    }
}

fn threads(ops: usize) {
    let run = |threads: usize| {
        let sp = spooler();
        let sets: Vec<Vec<String>> = (0..threads)
            .map(|t| (0..1000).map(|i| format!("t{t}-store-{i}")).collect())
            .collect();
        let visits = order(1000, ops);
        let start = Instant::now();
        std::thread::scope(|s| {
            for ids in &sets {
                let (sp, visits) = (&sp, &visits);
                s.spawn(move || activity_ns(sp, ids, visits));
            }
        });
        (threads * ops * 3) as f64 / start.elapsed().as_secs_f64()
    };
    run(1); // warm-up
    let one = run(1);
    let two = run(2);
    println!(
        "{{\"figure\":\"threads\",\"one_thread_ops_per_s\":{one:.0},\
         \"two_threads_ops_per_s\":{two:.0},\"ratio\":{:.2}}}",
        two / one
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (sizes, ops): (&[usize], usize) = if smoke {
        (&[1_000, 10_000], 20_000)
    } else {
        (&[1_000, 10_000, 100_000, 1_000_000], 1_000_000)
    };
    for &n in sizes {
        scale(n, ops);
    }
    threads(ops);
}
