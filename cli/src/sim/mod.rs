//! `simulate`: a scenario run on the real library, on a virtual clock. A core [`Spooler`]
//! serves the stores; clients open, log off and release [`Store`](mapi_logoff::Store)
//! handles; transports report every transfer to the spooler and respect its refusals; a
//! load submits and delivers messages over time. Everything runs on a [`VirtualRuntime`]:
//! the spooler's deadlines and PURGE's flushes as well as the transports and clients, one
//! step at a time in virtual time, so a scenario and a seed give the same run, byte for
//! byte, on any machine and under any load. The timeline is the spooler's events plus the
//! simulator's own markers; the summary is the spooler's accounting.
//!
//! The parts, by what they do:
//! - this file: the run's options and outcome (what `report`, `picture` and `seeds`
//!   read), and [`run`], which sets a scenario up, drives the virtual clock and stops;
//! - [`shared`]: the state the steps share, and the spooler's events as timeline lines;
//! - [`transport`]: the simulated transports, their senders and receivers;
//! - [`load`]: the load's submissions and arrivals, scheduled from the seed;
//! - [`client`]: the clients' scripts (open, logoff, release);
//! - [`accounting`]: quiescence, the invariants `--seeds` checks, the per-store summary.

mod accounting;
mod client;
mod load;
mod shared;
mod transport;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mapi_logoff::{Error, Event, Spooler, SpoolerOptions, VirtualRuntime};
use serde::Serialize;

use crate::scenario::{Scenario, Step};
use accounting::{check, quiescent, summarize};
use client::client_task;
use load::{deliver, schedule};
use shared::{Counters, Link, Shared};
use transport::{SimTransport, receiver_step, sender_step, worker_seed};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Check the invariants after every step (`--seeds`); what breaks is in
    /// [`Outcome::violations`].
    pub check: bool,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Simulated ms since the start.
    pub at_ms: u64,
    pub store: String,
    /// A spooler event (`decided`, `refused`, `released`, `release_deferred`,
    /// `timed_out`, `flush_failed`, `undrained`, `cancelled`) or a simulator marker (`open`,
    /// `logoff`, `logoff_transports`, `release`, `release_returned`, `flush`, `cancel`,
    /// `submit_refused`, `arrival_refused`, `error`).
    pub event: &'static str,
    pub detail: String,
    /// The input mode, for decisions and releases.
    pub mode: Option<&'static str>,
    /// The decision's out_flags.
    pub out_flags: Option<u32>,
    /// The decision's release.
    pub release: Option<&'static str>,
    /// The decision makes the caller wait (PURGE); for the picture, not in the JSON.
    #[serde(skip)]
    pub waits: bool,
}

/// A store's counts right after a transfer report changed them (for the picture).
#[derive(Debug, Clone, Copy)]
pub struct CountSample {
    /// Simulated ms since the start.
    pub at_ms: u64,
    /// The store's index in the scenario.
    pub store: usize,
    pub queued: u64,
    pub sending: u64,
    pub receiving: u64,
}

/// What happened to one store, from the spooler's accounting.
#[derive(Debug, Clone, Serialize)]
pub struct StoreSummary {
    pub store: String,
    pub default_inbox: bool,
    /// The input mode of the last decision (the one that led to the release, if any).
    pub mode: Option<&'static str>,
    pub out_flags: Option<u32>,
    pub out_flags_names: Option<String>,
    /// That decision's release: `NOW`, `WHEN_DRAINED` or `REFUSED`.
    pub decision: Option<&'static str>,
    /// A PURGE of this store passed its deadline.
    pub timed_out: bool,
    /// The store is released (no client holds it, gates closed) at the end.
    pub released: bool,
    /// How it was released (`drained`, `now`, `spooler closed`, …).
    pub released_how: Option<String>,
    /// Simulated ms from that decision to the release.
    pub released_after_ms: Option<u64>,
    pub submitted: u64,
    pub sent: u64,
    pub received: u64,
    /// Receptions ever begun: received, in flight, or cancelled.
    pub receptions: u64,
    /// Receptions an ABORT cancelled in flight: the messages went back to the server.
    pub cancelled_receptions: u64,
    /// Sends an ABORT cancelled in flight: the messages went back to the queue.
    pub cancelled_sends: u64,
    /// Still in the outbox at the end (not lost: it is sent when the store is opened again).
    pub queued: u64,
    pub sending: u64,
    pub receiving: u64,
    /// Sends that failed and went back to the queue.
    pub failed_sends: u64,
    /// Submissions the gate refused: the client still has them.
    pub refused_submissions: u64,
    /// Arrivals the gate refused: they are still at the server.
    pub refused_arrivals: u64,
    /// Arrivals still at the server with the gate open (a run cut at its limit).
    pub pending_arrivals: u64,
    /// Messages unaccounted for: must be 0.
    pub lost: u64,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: String,
    pub description: Option<String>,
    pub seed: u64,
    /// Simulated ms until the run ended.
    pub simulated_ms: u64,
    /// `quiescent` (nothing could happen any more) or `limit` (cut at limit_ms).
    pub ended: &'static str,
    /// The timeline (left out by `--quiet --json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Record>>,
    pub stores: Vec<StoreSummary>,
    /// The sum of every store's `lost`.
    pub lost: u64,
    /// Every store's counts over time, in time order (for `--svg`; not in the JSON).
    #[serde(skip)]
    pub counts: Vec<CountSample>,
    /// Invariants found broken when checked (empty otherwise; not in the JSON).
    #[serde(skip)]
    pub violations: Vec<String>,
}

/// `d` milliseconds of virtual time.
fn ms(d: u64) -> Duration {
    Duration::from_millis(d)
}

/// Runs `scenario` and returns what happened.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<Outcome, Error> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let rt = VirtualRuntime::new();
    let spooler = Spooler::with_options(
        "mapi-logoff-simulate",
        SpoolerOptions {
            purge_deadline: ms(scenario.purge_deadline_ms),
            close_deadline: Duration::ZERO,
            strict: scenario.strict,
            cross_process: false,
            runtime: Some(Arc::new(rt.clone())),
            ..SpoolerOptions::default()
        },
    )?;
    let mut links = HashMap::new();
    for (t, spec) in scenario.transports.0.iter().enumerate() {
        for (si, s) in scenario.stores.0.iter().enumerate() {
            if spec.serves(&s.id) {
                let link = Link::default();
                *link.rng.lock().unwrap() =
                    Some(fastrand::Rng::with_seed(worker_seed(seed, t, si, 1)));
                links.insert((t, s.id.clone()), link);
            }
        }
    }
    let mut by_client: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    for step in &scenario.script.0 {
        by_client
            .entry(step.client.clone())
            .or_default()
            .push(step.clone());
    }
    let deliveries = schedule(scenario, seed);
    let shared = Arc::new(Shared {
        rt: rt.clone(),
        spooler: Mutex::new(Some(spooler.clone())),
        specs: scenario.transports.0.clone(),
        stop: AtomicBool::new(false),
        timeline: Mutex::new(Vec::new()),
        samples: Mutex::new(Vec::new()),
        store_index: scenario
            .stores
            .0
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect(),
        counters: scenario
            .stores
            .0
            .iter()
            .map(|s| (s.id.clone(), Counters::default()))
            .collect(),
        links,
        transport_names: Mutex::new(HashMap::new()),
        purge_deadline_ms: scenario.purge_deadline_ms,
        clients_left: AtomicU64::new(by_client.len() as u64),
        load_left: AtomicU64::new(deliveries.len() as u64),
        violations: Mutex::new(Vec::new()),
    });
    {
        let shared = shared.clone();
        spooler.subscribe(Arc::new(move |e: &Event| shared.on_event(e)));
    }
    for (t, spec) in scenario.transports.0.iter().enumerate() {
        let id = spooler.add_transport(Arc::new(SimTransport {
            index: t,
            spec: spec.clone(),
            shared: shared.clone(),
        }));
        shared
            .transport_names
            .lock()
            .unwrap()
            .insert(id, spec.name.clone());
    }

    // Everything is scheduled in a fixed order: ties in virtual time run in that order.
    for (t, _) in scenario.transports.0.iter().enumerate() {
        for s in &scenario.stores.0 {
            if shared.links.contains_key(&(t, s.id.clone())) {
                let (sh, id) = (shared.clone(), s.id.clone());
                rt.call_at(Duration::ZERO, move || sender_step(&sh, t, &id, 0));
                let (sh, id) = (shared.clone(), s.id.clone());
                rt.call_at(Duration::ZERO, move || receiver_step(&sh, t, &id, 0));
            }
        }
    }
    for (at, delivery) in deliveries {
        let sh = shared.clone();
        rt.call_at(ms(at), move || deliver(&sh, delivery));
    }
    for (client, mut steps) in by_client {
        steps.sort_by_key(|s| s.at_ms);
        let sh = shared.clone();
        rt.start_at(Duration::ZERO, move || client_task(sh, client, steps));
    }

    let limit = scenario.limit_ms.get();
    let mut quiet = false;
    rt.run_while(ms(limit), || {
        if options.check {
            check(&spooler, scenario, &shared);
            if !shared.violations.lock().unwrap().is_empty() {
                return false; // the first broken invariant ends the run
            }
        }
        quiet = shared.load_left.load(Ordering::Relaxed) == 0
            && shared.clients_left.load(Ordering::Relaxed) == 0
            && quiescent(&spooler, scenario, &shared);
        !quiet
    });
    let broken = !shared.violations.lock().unwrap().is_empty();
    let (ended, simulated_ms) = if broken {
        ("invariant_broken", shared.now_ms())
    } else if quiet {
        ("quiescent", shared.now_ms())
    } else {
        ("limit", limit)
    };

    // Stop: the transfers under way finish, then the spooler closes, releasing (ORDERLY)
    // what is still open. A client still waiting in a PURGE is left there.
    shared.stop.store(true, Ordering::Release);
    let in_flight = || {
        shared
            .links
            .values()
            .any(|l| l.sending.load(Ordering::Relaxed) || l.receiving.load(Ordering::Relaxed))
    };
    rt.run_while(Duration::MAX, in_flight);
    let closing_from = shared.timeline.lock().unwrap().len();
    let _ = spooler.close_within(Duration::ZERO);
    let mut events = std::mem::take(&mut *shared.timeline.lock().unwrap());
    // The close walks the stores in no particular order: put its events in the scenario's.
    events[closing_from..].sort_by_key(|r| shared.store_index.get(&r.store).copied());
    events.sort_by_key(|r| r.at_ms);
    if options.check && !broken {
        check(&spooler, scenario, &shared);
    }
    let stores: Vec<StoreSummary> = scenario
        .stores
        .0
        .iter()
        .map(|s| {
            let stats = spooler.stats(&s.id).unwrap_or_default();
            summarize(&s.id, s.default_inbox, &stats, &shared, &events)
        })
        .collect();
    let lost = stores.iter().map(|s| s.lost).sum();
    let counts = std::mem::take(&mut *shared.samples.lock().unwrap());
    let violations = std::mem::take(&mut *shared.violations.lock().unwrap());
    // Tasks still waiting (a PURGE past the limit, a stuck flush) end here; then the cycle
    // spooler -> transports -> shared -> spooler is broken.
    rt.shut_down();
    shared.spooler.lock().unwrap().take();
    Ok(Outcome {
        scenario: scenario.name.clone().unwrap_or_else(|| "scenario".into()),
        description: scenario.description.clone(),
        seed,
        simulated_ms,
        ended,
        events: Some(events),
        stores,
        lost,
        counts,
        violations,
    })
}
