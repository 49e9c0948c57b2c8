//! Scale, memory and thread figures of issue 8 (figure 5), printed as one JSON object per
//! line for `scripts/bench` to tabulate. `--smoke` runs everything tiny.
//!
//! Every spooler here has cross-process sharing switched off (no machine registry), and the
//! figures say so in their names (`scale_cross_process_off`, `threads_cross_process_off`):
//! they measure how the library's own structures (its map of stores, its per-store state,
//! its locks) behave as the number of open stores and of threads grows, with no file-system
//! cost per open and release on top. The registry's own cost in the default configuration
//! (the store cycle against cross-process off, and the memory and registry files of 1e6
//! open stores) is measured by `core/benches/registry.rs`.
//!
//! Scale: four spoolers with 1e3, 1e4, 1e5 and 1e6 open stores live side by side, and every
//! round measures each of them in turn, so the ratios to 1e3 compare runs that saw the same
//! machine. Per spooler, two access patterns:
//! - `hot`: the operations touch a fixed set of 1,000 of the open stores (spread over the
//!   whole map), the others stay open and idle. Same working set at every size: this shows
//!   whether the library's own cost per operation grows with the number of open stores.
//! - `uniform`: every operation picks any of the open stores at random. The working set is
//!   then all the stores, and at 1e5-1e6 it outgrows the CPU caches: this adds the memory
//!   hierarchy's cost (a miss to DRAM per structure touched) to the library's.
//!
//! The activity figure is submit -> begin_send -> end_send on a store (ns per call). The
//! store cycle is open -> StoreLogoff(NO_WAIT) -> final release: `hot` on 1,000 idle stores
//! that are not among the open ones; `uniform` as a second client of a random open store
//! (the shared path: only that client's hold ends).
//!
//! Memory: heap bytes (counted by this binary's allocator) and resident bytes (RSS) that the
//! open stores add, per store, including the caller's handle.
//!
//! Threads: one thread against two, each on stores of its own (1,000 each) of one spooler,
//! in alternating rounds; next to it, as controls measured in the same rounds, the same two
//! threads on two separate spoolers and a pure computation (what the machine gives two
//! threads at that moment). Each thread reads its own CPU time (CLOCK_THREAD_CPUTIME_ID):
//! CPU time per operation with two threads against one shows contention inside the library;
//! a thread's wall time minus its CPU time shows how much of the machine others took.
#![allow(unsafe_code)] // the counting allocator; the library itself forbids unsafe

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::Instant;

use mapi_logoff::{LogoffFlags, Spooler, SpoolerOptions, Store};

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts bytes (while COUNTING is set, so
// the timed loops do not pay for the shared counter).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A spooler with cross-process sharing off: what every figure of this file measures.
fn spooler(profile: &str) -> Spooler {
    Spooler::with_options(
        profile,
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

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
}

/// This thread's CPU time in ns (Linux CLOCK_THREAD_CPUTIME_ID).
fn thread_cpu_ns() -> u64 {
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: a valid out-pointer; the clock id is Linux's.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.sec as u64 * 1_000_000_000 + t.nsec as u64
}

/// A fixed pseudo-random sequence of `len` indexes below `n`.
fn order(n: usize, len: usize, seed: u64) -> Vec<u32> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as u32
        })
        .collect()
}

/// Store ids of one width in one buffer, so that the harness itself adds no pointer chase.
struct Ids {
    buf: String,
    width: usize,
}

impl Ids {
    fn new(prefix: &str, n: usize) -> Ids {
        let width = prefix.len() + 8;
        let mut buf = String::with_capacity(n * width);
        for i in 0..n {
            buf.push_str(&format!("{prefix}{i:08}"));
        }
        Ids { buf, width }
    }
    fn get(&self, i: usize) -> &str {
        &self.buf[i * self.width..(i + 1) * self.width]
    }
}

/// ns per call of submit -> begin_send -> end_send on the stores `visits` names.
fn activity_ns(sp: &Spooler, ids: &Ids, visits: &[u32]) -> f64 {
    let start = Instant::now();
    for &i in visits {
        let id = ids.get(i as usize);
        sp.submit(id).unwrap();
        sp.begin_send(id).unwrap();
        sp.end_send(id, true).unwrap();
    }
    start.elapsed().as_nanos() as f64 / (3 * visits.len()) as f64
}

/// ns per store cycle on the stores `visits` names.
fn cycle_ns(sp: &Spooler, ids: &Ids, visits: &[u32]) -> f64 {
    let start = Instant::now();
    for &i in visits {
        let store = sp.open_store(ids.get(i as usize)).unwrap();
        let mut flags = LogoffFlags::NO_WAIT.bits();
        store.logoff(&mut flags).unwrap();
        black_box(store.release());
    }
    start.elapsed().as_nanos() as f64 / visits.len() as f64
}

struct Population {
    stores: usize,
    sp: Spooler,
    ids: Ids,
    _handles: Vec<Store>,
    heap_per_store: f64,
    rss_per_store: f64,
    hot: Vec<u32>,
    uniform: Vec<u32>,
    idle: Ids,
    idle_visits: Vec<u32>,
    uniform_cycle: Vec<u32>,
}

const HOT: usize = 1000;

impl Population {
    fn new(stores: usize, visits: usize, cycles: usize) -> Population {
        let ids = Ids::new("store-", stores);
        let idle = Ids::new("idle-", HOT);
        let sp = spooler(&format!("bench-scale-{stores}"));
        let mut handles = Vec::with_capacity(stores);
        LIVE.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        let rss_before = rss_bytes();
        // What the open stores add: the spooler's entries, the handles, and the caller's
        // Vec of handles (8 bytes each) that holds them.
        let handles_vec = stores * std::mem::size_of::<Store>();
        for i in 0..stores {
            handles.push(sp.open_store(ids.get(i)).unwrap());
        }
        let heap = LIVE.load(Ordering::SeqCst) as f64 + handles_vec as f64;
        let rss = rss_bytes().saturating_sub(rss_before) as f64;
        COUNTING.store(false, Ordering::SeqCst);
        // Spread the hot set over the whole map: every stores/HOT-th store.
        let step = (stores / HOT).max(1);
        let hot_set: Vec<u32> = (0..HOT.min(stores)).map(|i| (i * step) as u32).collect();
        let hot = order(hot_set.len(), visits, 1)
            .into_iter()
            .map(|k| hot_set[k as usize])
            .collect();
        Population {
            stores,
            uniform: order(stores, visits, 2),
            idle_visits: order(HOT, cycles, 3),
            uniform_cycle: order(stores, cycles, 4),
            hot,
            sp,
            ids,
            idle,
            _handles: handles,
            heap_per_store: heap / stores as f64,
            rss_per_store: rss / stores as f64,
        }
    }

    /// One round: (hot activity, uniform activity, hot cycle, uniform cycle) in ns.
    fn round(&self) -> [f64; 4] {
        [
            activity_ns(&self.sp, &self.ids, &self.hot),
            activity_ns(&self.sp, &self.ids, &self.uniform),
            cycle_ns(&self.sp, &self.idle, &self.idle_visits),
            cycle_ns(&self.sp, &self.ids, &self.uniform_cycle),
        ]
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    let m = median(&mut v);
    let n = v.len();
    (v[n / 4], m, v[(3 * n) / 4])
}

fn scale(sizes: &[usize], visits: usize, cycles: usize, rounds: usize) {
    let pops: Vec<Population> = sizes
        .iter()
        .map(|&n| Population::new(n, visits, cycles))
        .collect();
    for p in &pops {
        p.round(); // warm up: every store and every id touched once
    }
    // results[pop][measure][round]
    let mut results = vec![vec![Vec::new(); 4]; pops.len()];
    for r in 0..rounds {
        for k in 0..pops.len() {
            let p = (k + r) % pops.len();
            for (m, v) in pops[p].round().into_iter().enumerate() {
                results[p][m].push(v);
            }
        }
    }
    let names = [
        "activity_hot",
        "activity_uniform",
        "cycle_hot",
        "cycle_uniform",
    ];
    for (p, pop) in pops.iter().enumerate() {
        let mut line = format!(
            "{{\"figure\":\"scale_cross_process_off\",\"open_stores\":{},\
             \"heap_bytes_per_store\":{:.0},\"rss_bytes_per_store\":{:.0},\"rounds\":{rounds}",
            pop.stores, pop.heap_per_store, pop.rss_per_store
        );
        for (m, name) in names.iter().enumerate() {
            let ns = quartiles(&results[p][m]).1;
            let ratios: Vec<f64> = (0..rounds)
                .map(|r| results[p][m][r] / results[0][m][r])
                .collect();
            let (q1, ratio, q3) = quartiles(&ratios);
            line += &format!(
                ",\"{name}_ns\":{ns:.1},\"{name}_ratio\":{ratio:.3},\
                 \"{name}_ratio_q1\":{q1:.3},\"{name}_ratio_q3\":{q3:.3}"
            );
        }
        println!("{line}}}");
    }
}

/// A computation with no memory traffic, for the machine's own two-thread scaling.
fn compute(ops: usize) -> u64 {
    let mut x = 1u64;
    for _ in 0..ops * 16 {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    black_box(x)
}

#[derive(Default, Clone, Copy)]
struct Run {
    wall_ns: f64,
    cpu_ns: f64,
    off_cpu_ns: f64,
}

/// Runs `work(thread_index)` on `threads` threads at once: the wall time, and summed over the
/// threads their CPU time and their time off the CPU (each thread's own wall time minus its
/// CPU time: waiting for a CPU, or blocked).
fn run_threads(threads: usize, work: &(dyn Fn(usize) + Sync)) -> Run {
    let start = Instant::now();
    let per_thread: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let (t0, c0) = (Instant::now(), thread_cpu_ns());
                    work(t);
                    let cpu = thread_cpu_ns() - c0;
                    (cpu, (t0.elapsed().as_nanos() as u64).saturating_sub(cpu))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    Run {
        wall_ns: start.elapsed().as_nanos() as f64,
        cpu_ns: per_thread.iter().map(|p| p.0 as f64).sum(),
        off_cpu_ns: per_thread.iter().map(|p| p.1 as f64).sum(),
    }
}

fn threads(ops: usize, rounds: usize) {
    let shared = spooler("bench-threads");
    let separate = [spooler("bench-threads-a"), spooler("bench-threads-b")];
    let sets = [Ids::new("a-store-", 1000), Ids::new("b-store-", 1000)];
    let visits = [order(1000, ops, 5), order(1000, ops, 6)];
    let lib = |t: usize| {
        activity_ns(&shared, &sets[t], &visits[t]);
    };
    let sep = |t: usize| {
        activity_ns(&separate[t], &sets[t], &visits[t]);
    };
    let comp = |_: usize| {
        compute(ops);
    };
    let variants: [(&str, &(dyn Fn(usize) + Sync)); 3] = [
        ("library", &lib),
        ("separate_spoolers", &sep),
        ("compute", &comp),
    ];
    for (_, work) in &variants {
        run_threads(2, *work); // warm up, every store touched
    }
    // runs[variant][threads-1][round]
    let mut runs = vec![[Vec::new(), Vec::new()]; variants.len()];
    for r in 0..rounds {
        for k in 0..variants.len() * 2 {
            let i = (k + r) % (variants.len() * 2);
            let (v, t) = (i / 2, i % 2 + 1);
            runs[v][t - 1].push(run_threads(t, variants[v].1));
        }
    }
    let mut line = format!(
        "{{\"figure\":\"threads_cross_process_off\",\"rounds\":{rounds},\"ops_per_thread\":{}",
        3 * ops
    );
    for (v, (name, _)) in variants.iter().enumerate() {
        let [one, two] = &runs[v];
        // Throughput of two threads over one: 2 * t1 / t2 (each thread does the same work).
        let ratios: Vec<f64> = (0..rounds)
            .map(|r| 2.0 * one[r].wall_ns / two[r].wall_ns)
            .collect();
        let (q1, ratio, q3) = quartiles(&ratios);
        // CPU time per unit of work with two threads against one: 1.0 means no contention.
        let cpu: Vec<f64> = (0..rounds)
            .map(|r| two[r].cpu_ns / (2.0 * one[r].cpu_ns).max(1.0))
            .collect();
        let (_, cpu_ratio, _) = quartiles(&cpu);
        // Share of the two threads' time spent off the CPU (others' load, or blocked).
        let off: Vec<f64> = (0..rounds)
            .map(|r| two[r].off_cpu_ns / (two[r].off_cpu_ns + two[r].cpu_ns).max(1.0))
            .collect();
        let (_, off_share, _) = quartiles(&off);
        let one_ns: Vec<f64> = one.iter().map(|x| x.wall_ns / (3 * ops) as f64).collect();
        let (_, one_ns, _) = quartiles(&one_ns);
        line += &format!(
            ",\"{name}_ratio\":{ratio:.3},\"{name}_ratio_q1\":{q1:.3},\"{name}_ratio_q3\":{q3:.3},\
             \"{name}_cpu_per_op_2v1\":{cpu_ratio:.3},\"{name}_off_cpu_share_2\":{off_share:.3},\
             \"{name}_one_thread_ns\":{one_ns:.1}"
        );
    }
    println!("{line}}}");
}

/// `--profile N`: one population of N open stores and 20,000 visits of each access pattern
/// (after 1,000 first touches), for a profiler: `valgrind --tool=callgrind --cache-sim=yes`
/// then the inclusive costs of `profile_hot` and `profile_uniform` (60,000 calls each).
fn profile(stores: usize) {
    let p = Population::new(stores, 20_000, 1);
    for visits in [&p.hot, &p.uniform] {
        activity_ns(&p.sp, &p.ids, &visits[..1_000]);
    }
    let hot = profile_hot(&p);
    let uniform = profile_uniform(&p);
    println!(
        "{{\"figure\":\"profile\",\"open_stores\":{stores},\"hot_ns\":{hot:.1},\
         \"uniform_ns\":{uniform:.1}}}"
    );
}

#[inline(never)]
fn profile_hot(p: &Population) -> f64 {
    activity_ns(&p.sp, &p.ids, &p.hot)
}

#[inline(never)]
fn profile_uniform(p: &Population) -> f64 {
    activity_ns(&p.sp, &p.ids, &p.uniform)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--profile") {
        profile(
            args.get(i + 1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(1_000),
        );
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    if smoke {
        scale(&[1_000, 10_000], 2_000, 500, 3);
        threads(20_000, 3);
    } else {
        scale(&[1_000, 10_000, 100_000, 1_000_000], 20_000, 5_000, 21);
        threads(200_000, 21);
    }
}
