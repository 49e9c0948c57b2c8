//! The machine registry's cost and scale, in the default configuration (cross-process
//! sharing on, the registry in the directory the library picks) against cross-process
//! off, side by side in one run. Prints a Markdown section for bench/results.md.
//!
//! - Store cycle (open -> StoreLogoff(NO_WAIT) -> final release of an idle store), in
//!   alternating rounds of both configurations: the median of each and their ratio.
//! - 1e6 open stores (1e4 with `--smoke`), each configuration in a fresh child process:
//!   resident memory the open stores add, the files in the registry directory, and the
//!   resident memory once every store is released, against the same empty spooler.

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use mapi_logoff::{LogoffFlags, Spooler, SpoolerOptions, Store};

fn spooler(cross_process: bool, profile: &str) -> Spooler {
    Spooler::create(
        profile,
        SpoolerOptions {
            cross_process,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}", e.message))
}

/// Resident memory, all of it and anonymous only (heap, anonymous mappings, stacks: what
/// the process holds, without the code pages of the binary and its libraries).
fn rss() -> [u64; 2] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
            * 1024
    };
    [field("VmRSS:"), field("RssAnon:")]
}

fn cycle_ns(sp: &Spooler, n: u32) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        let store = sp.open_store(black_box("inbox")).unwrap();
        let mut flags = LogoffFlags::NO_WAIT.bits();
        store.logoff(&mut flags).unwrap();
        black_box(store.release());
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// In a child process: open `n` stores, measure, release them all, measure again.
fn child(cross_process: bool, n: usize) {
    let sp = spooler(cross_process, "bench-registry");
    // The empty spooler has served and forgotten stores already, so the code that does
    // so is paged in before the baseline, as it is after the run.
    for i in 0..10_000 {
        let store = sp.open_store(&format!("warm-{i}")).unwrap();
        let mut flags = LogoffFlags::NO_WAIT.bits();
        store.logoff(&mut flags).unwrap();
        store.release();
    }
    let _warm = cycle_ns(&sp, 1000);
    let dir = sp.registry_file().and_then(|f| f.parent());
    let count = || {
        dir.and_then(|d| std::fs::read_dir(d).ok())
            .map_or(0, |d| d.count())
    };
    let files_before = count();
    let [empty, empty_anon] = rss();
    let stores: Vec<Store> = (0..n)
        .map(|i| sp.open_store(&format!("store-{i:07}")).unwrap())
        .collect();
    let [open, _] = rss();
    let files = count() - files_before;
    // Each handle goes as its final release returns, as a C caller's does.
    for s in stores {
        s.release();
    }
    let [released, released_anon] = rss();
    println!("{empty} {open} {released} {files} {empty_anon} {released_anon}");
}

fn in_child(cross_process: bool, n: usize) -> [u64; 6] {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--child",
            if cross_process { "on" } else { "off" },
            &n.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Vec<u64> = text
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    [v[0], v[1], v[2], v[3], v[4], v[5]]
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1 << 20) as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1] == "on", args[i + 2].parse().unwrap());
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let (rounds, per_round, n) = if smoke {
        (3, 2_000, 10_000)
    } else {
        (21, 50_000, 1_000_000)
    };

    let on = spooler(true, "bench-cycle");
    let off = spooler(false, "bench-cycle");
    let (mut t_on, mut t_off) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        t_on.push(cycle_ns(&on, per_round));
        t_off.push(cycle_ns(&off, per_round));
    }
    let (c_on, c_off) = (median(t_on), median(t_off));

    let [e_off, o_off, r_off, _, ea_off, ra_off] = in_child(false, n);
    let [e_on, o_on, r_on, files, ea_on, ra_on] = in_child(true, n);
    let added_off = o_off.saturating_sub(e_off);
    let added_on = o_on.saturating_sub(e_on);
    let verdict = |met: bool| if met { "**met**" } else { "**missed**" };

    println!("## Machine registry (default configuration against cross-process off)");
    println!();
    println!(
        "`cargo bench -p mapi-logoff --bench registry`{}: {rounds} alternating rounds of \
         {per_round} store cycles; {n} open stores in a fresh process per configuration.",
        if smoke { " -- --smoke" } else { "" }
    );
    println!();
    println!("| figure | default (cross-process on) | cross-process off | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| store cycle, idle (median) | {c_on:.0} ns | {c_off:.0} ns | {:.2}x | 2x: {} |",
        c_on / c_off,
        verdict(c_on / c_off <= 2.0)
    );
    println!(
        "| resident memory added by {n} open stores | {} | {} | {:.2}x | 1.2x: {} |",
        mib(added_on),
        mib(added_off),
        added_on as f64 / added_off.max(1) as f64,
        verdict(added_on as f64 <= 1.2 * added_off as f64)
    );
    println!(
        "| files the {n} open stores added to the registry directory (one file per profile) | {files} | — | — | none: {} |",
        verdict(files == 0)
    );
    let back = |r: u64, e: u64| r as f64 / e as f64;
    println!(
        "| resident memory after every store is released / empty spooler | {:.2}x ({} / {}) | {:.2}x ({} / {}) | — | 1.1x: {} |",
        back(r_on, e_on),
        mib(r_on),
        mib(e_on),
        back(r_off, e_off),
        mib(r_off),
        mib(e_off),
        verdict(back(r_on, e_on) <= 1.1)
    );
    println!(
        "| of which anonymous (heap, no code pages) | {:.2}x ({} / {}) | {:.2}x ({} / {}) | — | — |",
        back(ra_on, ea_on),
        mib(ra_on),
        mib(ea_on),
        back(ra_off, ea_off),
        mib(ra_off),
        mib(ea_off),
    );
    println!();
}
