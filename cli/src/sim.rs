//! `simulate`: a scenario run on the real library. A core [`Spooler`] serves the stores;
//! clients open, log off and release [`Store`] handles on their own threads; transports
//! are threads that report every transfer to the spooler and respect its refusals; a
//! load thread submits and delivers messages over time. The timeline is the spooler's
//! events plus the simulator's own markers; the summary is the spooler's accounting.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mapi_logoff::{
    Activity, Error, Event, EventKind, FlushFlags, Mode, Release, Spooler, SpoolerOptions, Store,
    StoreStats, Transport,
};
use serde::Serialize;

use crate::scenario::{Action, Scenario, Step, TransportSpec};
use crate::spec::{activity_names, flush_names, logoff_names, mode_label};

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Simulated time runs this many times faster than real time.
    pub speed: f64,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Show a progress line on stderr.
    pub progress: bool,
}

/// One line of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Simulated ms since the start.
    pub at_ms: u64,
    pub store: String,
    /// A spooler event (`decided`, `refused`, `released`, `release_deferred`,
    /// `timed_out`, `flush_failed`, `undrained`) or a simulator marker (`open`, `logoff`,
    /// `logoff_transports`, `release`, `release_returned`, `flush`, `submit_refused`,
    /// `arrival_refused`, `error`).
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
    pub speed: f64,
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
}

#[derive(Clone, Copy)]
struct Clock {
    start: Instant,
    speed: f64,
}

impl Clock {
    fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.speed) as u64
    }

    fn real(&self, sim_ms: u64) -> Duration {
        Duration::from_secs_f64(sim_ms as f64 / 1000.0 / self.speed)
    }

    fn at(&self, sim_ms: u64) -> Instant {
        self.start + self.real(sim_ms)
    }
}

/// A worker's wake-up call: a flush, or the end of the run.
#[derive(Default)]
struct Wake {
    pending: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    fn notify(&self) {
        *self.pending.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Waits until notified or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let pending = self.pending.lock().unwrap();
        let (mut pending, _) = self
            .cv
            .wait_timeout_while(pending, timeout, |p| !*p)
            .unwrap();
        *pending = false;
    }
}

/// One transport's link to one store: its sender and receiver threads.
#[derive(Default)]
struct Link {
    send_wake: Wake,
    receive_wake: Wake,
    /// Arrivals waiting at the remote server.
    at_server: AtomicU64,
    /// The last reception attempt was refused (for one timeline marker per closing).
    refusing: AtomicBool,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused_submissions: AtomicU64,
    arrivals: AtomicU64,
    failed_sends: AtomicU64,
    submit_refusing: AtomicBool,
}

/// What the threads share (not the spooler: the spooler holds the transports, which
/// hold this).
struct Shared {
    clock: Clock,
    stop: AtomicBool,
    stop_wake: Wake,
    timeline: Mutex<Vec<Record>>,
    /// Taken under this lock, so that their times and contents are in the same order.
    samples: Mutex<Vec<CountSample>>,
    /// Store id → index in the scenario.
    store_index: HashMap<String, usize>,
    counters: HashMap<String, Counters>,
    /// By (transport index, store).
    links: HashMap<(usize, String), Link>,
    transport_names: Mutex<HashMap<u64, String>>,
    purge_deadline_ms: u64,
}

impl Shared {
    fn record(&self, store: &str, event: &'static str, detail: String) {
        self.push(Record {
            at_ms: self.clock.now_ms(),
            store: store.to_owned(),
            event,
            detail,
            mode: None,
            out_flags: None,
            release: None,
            waits: false,
        });
    }

    /// Records `store`'s counts after a transfer report of this thread changed them.
    fn sample(&self, spooler: &Spooler, store: &str) {
        let mut samples = self.samples.lock().unwrap();
        let Ok(st) = spooler.stats(store) else {
            return;
        };
        samples.push(CountSample {
            at_ms: self.clock.now_ms(),
            store: self.store_index[store],
            queued: st.queued,
            sending: st.sending,
            receiving: st.receiving,
        });
    }

    fn push(&self, r: Record) {
        self.timeline.lock().unwrap().push(r);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Sleeps until simulated time `at_ms`; false if the run stopped first.
    fn sleep_until(&self, at_ms: u64) -> bool {
        let deadline = self.clock.at(at_ms);
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            self.stop_wake.wait(deadline - now);
        }
    }

    /// The spooler's event as a timeline line.
    fn on_event(&self, e: &Event) {
        let mode = e.mode.map(Mode::name);
        let m = mode.unwrap_or("?");
        let out = logoff_names(e.out_flags.bits());
        let waits = e.decision.is_some_and(|d| d.waits);
        let (event, detail, release) = match e.kind {
            EventKind::Decided => {
                let d = e.decision.expect("a decided event carries its decision");
                let mut detail = format!("{m} → {out}, {}", d.release.name());
                if d.waits && d.release == Release::WhenDrained {
                    detail += ", the caller waits";
                }
                ("decided", detail, Some(d.release.name()))
            }
            EventKind::Refused => (
                "refused",
                format!("{m} → {out}: busy, nothing changes"),
                Some(Release::Refused.name()),
            ),
            EventKind::ReleaseDeferred => (
                "release_deferred",
                "the spooler releases the store once it is idle".to_owned(),
                None,
            ),
            EventKind::Released => (
                "released",
                e.detail.clone().unwrap_or_else(|| "released".into()),
                None,
            ),
            EventKind::TimedOut => (
                "timed_out",
                format!(
                    "PURGE deadline ({} ms) passed: MAPI_E_TIMEOUT, the logoff goes on as NO_WAIT",
                    self.purge_deadline_ms
                ),
                None,
            ),
            EventKind::FlushFailed => {
                let mut detail = e.detail.clone().unwrap_or_default();
                for (id, name) in self.transport_names.lock().unwrap().iter() {
                    if let Some(rest) = detail.strip_prefix(&format!("transport {id}: ")) {
                        detail = format!("{name}: {rest}");
                        break;
                    }
                }
                ("flush_failed", detail, None)
            }
            EventKind::RegistryUnreadable => (
                "registry_unreadable",
                e.detail.clone().unwrap_or_default(),
                None,
            ),
            EventKind::Undrained => (
                "undrained",
                format!(
                    "the spooler closed before the store drained: {}",
                    activity_names(Activity::from_bits_retain(e.out_flags.bits()))
                ),
                None,
            ),
        };
        let decided = matches!(e.kind, EventKind::Decided | EventKind::Refused);
        self.push(Record {
            at_ms: self.clock.now_ms(),
            store: e.store_id.to_string(),
            event,
            detail,
            mode,
            out_flags: decided.then_some(e.out_flags.bits()),
            release,
            waits,
        });
    }
}

/// A simulated transport as the spooler sees it: FlushQueues wakes its threads.
struct SimTransport {
    index: usize,
    spec: TransportSpec,
    shared: Arc<Shared>,
}

impl Transport for SimTransport {
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> mapi_logoff::Result<()> {
        let Some(link) = self.shared.links.get(&(self.index, store_id.to_owned())) else {
            return Ok(()); // it does not serve this store
        };
        let mut detail = format!("FlushQueues({}) on {}", flush_names(flags), self.spec.name);
        if self.spec.flush_ms > 0 {
            detail += &format!(", takes {} ms", self.spec.flush_ms);
        }
        self.shared.record(store_id, "flush", detail);
        if flags.contains(FlushFlags::UPLOAD) {
            link.send_wake.notify();
        }
        if flags.contains(FlushFlags::DOWNLOAD) {
            link.receive_wake.notify();
        }
        if self.spec.flush_ms > 0 {
            thread::sleep(self.shared.clock.real(self.spec.flush_ms));
        }
        if self.spec.flush_fails {
            return Err(Error::CallFailed);
        }
        Ok(())
    }
}

/// A seed for one worker, derived from the run's seed.
fn worker_seed(seed: u64, transport: usize, store: usize, role: u64) -> u64 {
    seed ^ (transport as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (store as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ role.wrapping_mul(0x1656_67B1_9E37_79F9)
}

fn sender(
    spooler: Spooler,
    shared: Arc<Shared>,
    spec: TransportSpec,
    t: usize,
    store: String,
    seed: u64,
) {
    let link = &shared.links[&(t, store.clone())];
    let mut rng = fastrand::Rng::with_seed(seed);
    let poll = shared.clock.real(spec.poll_ms.get());
    while !shared.stopped() {
        match spooler.begin_send(&store) {
            Ok(()) => {
                shared.sample(&spooler, &store);
                // A transfer under way always completes, even when the run stops.
                thread::sleep(shared.clock.real(spec.send_ms.get()));
                let sent = rng.f64() >= spec.failure_rate.0;
                if !sent {
                    shared.counters[&store]
                        .failed_sends
                        .fetch_add(1, Ordering::Relaxed);
                }
                if let Err(e) = spooler.end_send(&store, sent) {
                    shared.record(&store, "error", format!("end_send: {}", e.name()));
                }
                shared.sample(&spooler, &store);
            }
            // Gate closed (the message stays queued) or nothing queued: look again later.
            Err(Error::NoAccess | Error::NotFound) => link.send_wake.wait(poll),
            Err(e) => {
                shared.record(&store, "error", format!("begin_send: {}", e.name()));
                link.send_wake.wait(poll);
            }
        }
    }
}

fn receiver(spooler: Spooler, shared: Arc<Shared>, spec: TransportSpec, t: usize, store: String) {
    let link = &shared.links[&(t, store.clone())];
    let poll = shared.clock.real(spec.poll_ms.get());
    while !shared.stopped() {
        if link.at_server.load(Ordering::Acquire) == 0 {
            link.receive_wake.wait(poll);
            continue;
        }
        match spooler.begin_receive(&store) {
            Ok(()) => {
                shared.sample(&spooler, &store);
                // Taken from the server only once the spooler accepted the reception.
                link.at_server.fetch_sub(1, Ordering::AcqRel);
                link.refusing.store(false, Ordering::Relaxed);
                thread::sleep(shared.clock.real(spec.receive_ms.get()));
                if let Err(e) = spooler.end_receive(&store) {
                    shared.record(&store, "error", format!("end_receive: {}", e.name()));
                }
                shared.sample(&spooler, &store);
            }
            Err(Error::NoAccess) => {
                if !link.refusing.swap(true, Ordering::Relaxed) {
                    shared.record(
                        &store,
                        "arrival_refused",
                        format!(
                            "reception via {} refused, MAPI_E_NO_ACCESS: the message stays at the server",
                            spec.name
                        ),
                    );
                }
                link.receive_wake.wait(poll);
            }
            Err(e) => {
                shared.record(&store, "error", format!("begin_receive: {}", e.name()));
                link.receive_wake.wait(poll);
            }
        }
    }
}

enum Delivery {
    Submit(String),
    Arrive(usize, String),
}

/// The load's messages in time order; jitter drawn from the seed.
fn schedule(scenario: &Scenario, seed: u64) -> Vec<(u64, Delivery)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let transport_index = |name: &str| {
        scenario
            .transports
            .0
            .iter()
            .position(|t| t.name == name)
            .expect("checked when parsed")
    };
    let mut out = Vec::new();
    for load in &scenario.load {
        for (store, via) in &load.targets {
            if let Some(submit) = &load.submit {
                for t in submit.times() {
                    let t = t + rng.u64(0..=submit.jitter_ms);
                    out.push((t, Delivery::Submit(store.clone())));
                }
            }
            if let (Some(arrive), Some(via)) = (&load.arrive, via) {
                let index = transport_index(via);
                for t in arrive.times() {
                    let t = t + rng.u64(0..=arrive.jitter_ms);
                    out.push((t, Delivery::Arrive(index, store.clone())));
                }
            }
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

fn load_thread(spooler: Spooler, shared: Arc<Shared>, schedule: Vec<(u64, Delivery)>) {
    for (at, delivery) in schedule {
        if !shared.sleep_until(at) {
            return;
        }
        match delivery {
            Delivery::Submit(store) => {
                let c = &shared.counters[&store];
                match spooler.submit(&store) {
                    Ok(()) => {
                        shared.sample(&spooler, &store);
                        c.accepted.fetch_add(1, Ordering::Relaxed);
                        c.submit_refusing.store(false, Ordering::Relaxed);
                    }
                    Err(Error::NoAccess) => {
                        c.refused_submissions.fetch_add(1, Ordering::Relaxed);
                        if !c.submit_refusing.swap(true, Ordering::Relaxed) {
                            shared.record(
                                &store,
                                "submit_refused",
                                "submission refused, MAPI_E_NO_ACCESS: the client keeps the message"
                                    .into(),
                            );
                        }
                    }
                    Err(e) => shared.record(&store, "error", format!("submit: {}", e.name())),
                }
            }
            Delivery::Arrive(t, store) => {
                shared.counters[&store]
                    .arrivals
                    .fetch_add(1, Ordering::Relaxed);
                shared.links[&(t, store)]
                    .at_server
                    .fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

fn client_thread(spooler: Spooler, shared: Arc<Shared>, client: String, steps: Vec<Step>) {
    let mut handles: HashMap<String, Store> = HashMap::new();
    for step in steps {
        if !shared.sleep_until(step.at_ms) {
            return;
        }
        let store = step.store.as_str();
        let by = if client == store {
            String::new()
        } else {
            format!(" by {client}")
        };
        let mode = mode_label(step.flags);
        if step.action == Action::Open {
            match spooler.open_store(store) {
                Ok(h) => {
                    handles.insert(store.to_owned(), h);
                    shared.record(store, "open", format!("OpenMsgStore{by}"));
                }
                Err(e) => shared.record(store, "error", format!("OpenMsgStore{by}: {}", e.name())),
            }
            continue;
        }
        let Some(handle) = handles.get(store).cloned() else {
            // The open failed: the step has no handle to act on.
            shared.record(store, "error", format!("{:?}{by}: no handle", step.action));
            continue;
        };
        match step.action {
            Action::Open => unreachable!("handled above"),
            Action::Logoff => {
                let mut flags = step.flags;
                match handle.logoff(&mut flags) {
                    Ok(()) => shared.record(
                        store,
                        "logoff",
                        format!(
                            "StoreLogoff({mode}){by} → activity {}",
                            activity_names(Activity::from_bits_retain(flags))
                        ),
                    ),
                    Err(e) => shared.record(
                        store,
                        "error",
                        format!("StoreLogoff({mode}){by}: {}, nothing changes", e.name()),
                    ),
                }
            }
            Action::LogoffTransports => {
                shared.record(
                    store,
                    "logoff_transports",
                    format!("StoreLogoffTransports({mode}){by}, from the provider"),
                );
                let mut flags = step.flags;
                let result = handle.logoff_transports(&mut flags);
                let hresult = result.err().map_or("S_OK", Error::name);
                shared.record(
                    store,
                    "logoff_transports",
                    format!("returned {hresult}, flags {}", logoff_names(flags)),
                );
            }
            Action::Release => {
                shared.record(store, "release", format!("Release(){by}"));
                let t0 = shared.clock.now_ms();
                let left = handle.release();
                let took = shared.clock.now_ms().saturating_sub(t0);
                if left == 0 {
                    handles.remove(store);
                }
                if took >= 20 {
                    shared.record(
                        store,
                        "release_returned",
                        format!("Release(){by} returned after {took} ms"),
                    );
                }
            }
        }
    }
}

/// Whether nothing can happen any more: nothing in flight, and nothing that a gate
/// lets start.
fn quiescent(spooler: &Spooler, scenario: &Scenario, shared: &Shared) -> bool {
    scenario.stores.0.iter().all(|s| {
        let st = spooler.stats(&s.id).unwrap_or_default();
        if st.sending + st.receiving > 0 {
            return false;
        }
        let served: Vec<usize> = (0..scenario.transports.0.len())
            .filter(|t| shared.links.contains_key(&(*t, s.id.clone())))
            .collect();
        let can_send =
            st.queued > 0 && st.allowed.contains(Activity::OUTBOUND) && !served.is_empty();
        let can_receive = st.allowed.contains(Activity::INBOUND)
            && served.iter().any(|t| {
                shared.links[&(*t, s.id.clone())]
                    .at_server
                    .load(Ordering::Acquire)
                    > 0
            });
        !can_send && !can_receive
    })
}

/// Runs `scenario` and returns what happened.
pub fn run(scenario: &Scenario, options: &RunOptions) -> Result<Outcome, Error> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let clock = Clock {
        start: Instant::now(),
        speed: options.speed,
    };
    let spooler = Spooler::with_options(
        "mapi-logoff-simulate",
        SpoolerOptions {
            purge_deadline: clock.real(scenario.purge_deadline_ms),
            strict: scenario.strict,
            cross_process: false,
            ..SpoolerOptions::default()
        },
    )?;
    let mut links = HashMap::new();
    for (t, spec) in scenario.transports.0.iter().enumerate() {
        for s in &scenario.stores.0 {
            if spec.serves(&s.id) {
                links.insert((t, s.id.clone()), Link::default());
            }
        }
    }
    let shared = Arc::new(Shared {
        clock,
        stop: AtomicBool::new(false),
        stop_wake: Wake::default(),
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

    let mut workers = Vec::new();
    for (t, spec) in scenario.transports.0.iter().enumerate() {
        for (si, s) in scenario.stores.0.iter().enumerate() {
            if !spec.serves(&s.id) {
                continue;
            }
            let (sp, sh, sc, id) = (spooler.clone(), shared.clone(), spec.clone(), s.id.clone());
            let seed = worker_seed(seed, t, si, 1);
            workers.push(thread::spawn(move || sender(sp, sh, sc, t, id, seed)));
            let (sp, sh, sc, id) = (spooler.clone(), shared.clone(), spec.clone(), s.id.clone());
            workers.push(thread::spawn(move || receiver(sp, sh, sc, t, id)));
        }
    }
    let load = {
        let (sp, sh, sched) = (spooler.clone(), shared.clone(), schedule(scenario, seed));
        thread::spawn(move || load_thread(sp, sh, sched))
    };
    let mut by_client: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    for step in &scenario.script.0 {
        by_client
            .entry(step.client.clone())
            .or_default()
            .push(step.clone());
    }
    let clients: Vec<_> = by_client
        .into_iter()
        .map(|(client, mut steps)| {
            steps.sort_by_key(|s| s.at_ms);
            let (sp, sh) = (spooler.clone(), shared.clone());
            thread::spawn(move || client_thread(sp, sh, client, steps))
        })
        .collect();

    let progress = options.progress && std::io::stderr().is_terminal();
    let limit = scenario.limit_ms.get();
    let mut last_progress = Instant::now();
    let ended = loop {
        thread::sleep(Duration::from_millis(5));
        if clock.now_ms() >= limit {
            break "limit";
        }
        if load.is_finished()
            && clients.iter().all(|c| c.is_finished())
            && quiescent(&spooler, scenario, &shared)
        {
            break "quiescent";
        }
        if progress && last_progress.elapsed() >= Duration::from_millis(200) {
            last_progress = Instant::now();
            let released = scenario
                .stores
                .0
                .iter()
                .filter(|s| spooler.stats(&s.id).is_ok_and(|st| st.released))
                .count();
            eprint!(
                "\rsimulating: {:>6} ms, {released}/{} stores released",
                clock.now_ms(),
                scenario.stores.0.len()
            );
            let _ = std::io::stderr().flush();
        }
    };
    let simulated_ms = clock.now_ms();
    if progress {
        eprint!("\r\x1b[2K");
    }

    // Stop: the workers finish the transfer they are in, then the spooler closes,
    // releasing (ORDERLY) what is still open.
    shared.stop.store(true, Ordering::Release);
    shared.stop_wake.notify();
    for link in shared.links.values() {
        link.send_wake.notify();
        link.receive_wake.notify();
    }
    for w in workers {
        let _ = w.join();
    }
    let _ = load.join();
    // A client still blocked in a PURGE at the limit is left to the process's exit.
    for c in clients {
        if c.is_finished() {
            let _ = c.join();
        }
    }
    let _ = spooler.close_within(Duration::ZERO);

    let mut events = std::mem::take(&mut *shared.timeline.lock().unwrap());
    events.sort_by_key(|r| r.at_ms);
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
    Ok(Outcome {
        scenario: scenario.name.clone().unwrap_or_else(|| "scenario".into()),
        description: scenario.description.clone(),
        seed,
        speed: options.speed,
        simulated_ms,
        ended,
        events: Some(events),
        stores,
        lost,
        counts: std::mem::take(&mut *shared.samples.lock().unwrap()),
    })
}

fn summarize(
    id: &str,
    default_inbox: bool,
    st: &StoreStats,
    shared: &Shared,
    events: &[Record],
) -> StoreSummary {
    let c = &shared.counters[id];
    let mine: Vec<&Record> = events.iter().filter(|r| r.store == id).collect();
    let last_release = mine.iter().rposition(|r| r.event == "released");
    let decisions_before = &mine[..last_release.map_or(mine.len(), |i| i + 1)];
    let decision = decisions_before
        .iter()
        .rev()
        .find(|r| r.event == "decided" || r.event == "refused")
        .or_else(|| {
            mine.iter()
                .rev()
                .find(|r| r.event == "decided" || r.event == "refused")
        });
    let released_record = last_release.filter(|_| st.released).map(|i| mine[i]);
    let released_after_ms = match (released_record, decision) {
        (Some(r), Some(d)) if d.at_ms <= r.at_ms => Some(r.at_ms - d.at_ms),
        _ => None,
    };

    let at_server: u64 = shared
        .links
        .iter()
        .filter(|((_, s), _)| s == id)
        .map(|(_, l)| l.at_server.load(Ordering::Acquire))
        .sum();
    let inbound_open = st.allowed.contains(Activity::INBOUND);
    let accepted = c.accepted.load(Ordering::Relaxed);
    let arrivals = c.arrivals.load(Ordering::Relaxed);
    let diff = |a: u64, b: u64| a.abs_diff(b);
    // Every message is queued, in flight, sent or received (the spooler's accounting),
    // the spooler counted every submission it accepted, and every arrival was received
    // or is still at the server.
    let lost = diff(st.submitted, st.queued + st.sending + st.sent)
        + diff(st.receptions, st.receiving + st.received)
        + diff(accepted, st.submitted)
        + diff(arrivals, st.receptions + at_server);
    StoreSummary {
        store: id.to_owned(),
        default_inbox,
        mode: decision.and_then(|d| d.mode),
        out_flags: decision.and_then(|d| d.out_flags),
        out_flags_names: decision.and_then(|d| d.out_flags).map(logoff_names),
        decision: decision.and_then(|d| d.release),
        timed_out: mine.iter().any(|r| r.event == "timed_out"),
        released: st.released,
        released_how: released_record.map(|r| r.detail.clone()),
        released_after_ms,
        submitted: st.submitted,
        sent: st.sent,
        received: st.received,
        queued: st.queued,
        sending: st.sending,
        receiving: st.receiving,
        failed_sends: c.failed_sends.load(Ordering::Relaxed),
        refused_submissions: c.refused_submissions.load(Ordering::Relaxed),
        refused_arrivals: if inbound_open { 0 } else { at_server },
        pending_arrivals: if inbound_open { at_server } else { 0 },
        lost,
    }
}
