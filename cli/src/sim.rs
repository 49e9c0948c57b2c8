//! `simulate`: a scenario run on the real library, on a virtual clock. A core [`Spooler`]
//! serves the stores; clients open, log off and release [`Store`] handles; transports report
//! every transfer to the spooler and respect its refusals; a load submits and delivers
//! messages over time. Everything runs on a [`VirtualRuntime`]: the spooler's deadlines and
//! PURGE's flushes as well as the transports and clients, one step at a time in virtual
//! time, so a scenario and a seed give the same run, byte for byte, on any machine and
//! under any load. The timeline is the spooler's events plus the simulator's own markers;
//! the summary is the spooler's accounting.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mapi_logoff::{
    Activity, Error, Event, EventKind, FlushFlags, LogoffFlags, Mode, Release, Runtime, Spooler,
    SpoolerOptions, Store, StoreStats, Transport, VirtualRuntime,
};
use serde::Serialize;

use crate::scenario::{Action, Scenario, Step, TransportSpec};
use crate::spec::{activity_names, flush_names, logoff_names, mode_label};

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

fn ms(d: u64) -> Duration {
    Duration::from_millis(d)
}

/// One transport's link to one store: its sender's and receiver's state.
#[derive(Default)]
struct Link {
    /// Arrivals waiting at the remote server.
    at_server: AtomicU64,
    /// The last reception attempt was refused (for one timeline marker per closing).
    refusing: AtomicBool,
    /// A send or a reception is under way (its end is scheduled).
    sending: AtomicBool,
    receiving: AtomicBool,
    /// Bumped by every wake-up: a scheduled poll of an older generation does nothing.
    send_generation: AtomicU64,
    receive_generation: AtomicU64,
    /// Bumped by every start and every cancel: a scheduled end of a transfer that was
    /// cancelled does nothing.
    send_token: AtomicU64,
    receive_token: AtomicU64,
    /// Whether a sent message fails, drawn from the run's seed.
    rng: Mutex<Option<fastrand::Rng>>,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused_submissions: AtomicU64,
    arrivals: AtomicU64,
    failed_sends: AtomicU64,
    cancelled_sends: AtomicU64,
    submit_refusing: AtomicBool,
}

/// What the steps share (not the spooler: the spooler holds the transports, which hold
/// this).
struct Shared {
    rt: VirtualRuntime,
    spooler: Mutex<Option<Spooler>>,
    specs: Vec<TransportSpec>,
    stop: AtomicBool,
    timeline: Mutex<Vec<Record>>,
    samples: Mutex<Vec<CountSample>>,
    /// Store id → index in the scenario.
    store_index: HashMap<String, usize>,
    counters: HashMap<String, Counters>,
    /// By (transport index, store).
    links: HashMap<(usize, String), Link>,
    transport_names: Mutex<HashMap<u64, String>>,
    purge_deadline_ms: u64,
    /// Client tasks still running their script; load deliveries still to come.
    clients_left: AtomicU64,
    load_left: AtomicU64,
    /// Invariants found broken (by `--seeds`), with the virtual time.
    violations: Mutex<Vec<String>>,
}

thread_local! {
    /// StoreLogoffTransports calls (decided and refused events) made on this thread: a
    /// client task's own calls, since the spooler reports a decision on the caller's thread.
    static DECISIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.rt.now().as_millis() as u64
    }

    fn spooler(&self) -> Spooler {
        self.spooler
            .lock()
            .unwrap()
            .clone()
            .expect("set before the run")
    }

    fn record(&self, store: &str, event: &'static str, detail: String) {
        self.push(Record {
            at_ms: self.now_ms(),
            store: store.to_owned(),
            event,
            detail,
            mode: None,
            out_flags: None,
            release: None,
            waits: false,
        });
    }

    fn violation(&self, what: String) {
        let at = self.now_ms();
        self.violations
            .lock()
            .unwrap()
            .push(format!("at {at} ms: {what}"));
    }

    /// Records `store`'s counts after a transfer report changed them.
    fn sample(&self, spooler: &Spooler, store: &str) {
        let Ok(st) = spooler.stats(store) else {
            return;
        };
        self.samples.lock().unwrap().push(CountSample {
            at_ms: self.now_ms(),
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

    /// `detail` with every "transport N" (the spooler's registration id) named as in the
    /// scenario.
    fn transport_name(&self, detail: &str) -> String {
        let names = self.transport_names.lock().unwrap();
        let mut ids: Vec<(&u64, &String)> = names.iter().collect();
        // Longest id first: "transport 12" is not "transport 1" followed by "2".
        ids.sort_by_key(|(id, _)| std::cmp::Reverse(**id));
        let mut out = detail.to_owned();
        for (id, name) in ids {
            out = out.replace(&format!("transport {id}: "), &format!("{name}: "));
        }
        out
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
                if let Some(why) = &e.detail {
                    detail += &format!(": {}", self.transport_name(why));
                }
                ("decided", detail, Some(d.release.name()))
            }
            EventKind::Refused => {
                let mut detail = format!("{m} → {out}: busy, nothing changes");
                if let Some(why) = &e.detail {
                    detail += &format!(" ({})", self.transport_name(why));
                }
                ("refused", detail, Some(Release::Refused.name()))
            }
            EventKind::Cancelled => (
                "cancelled",
                e.detail.clone().unwrap_or_else(|| "cancelled".into()),
                None,
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
            EventKind::FlushFailed => (
                "flush_failed",
                self.transport_name(&e.detail.clone().unwrap_or_default()),
                None,
            ),
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
        if decided {
            DECISIONS.with(|d| d.set(d.get() + 1));
        }
        self.push(Record {
            at_ms: self.now_ms(),
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

/// A simulated transport as the spooler sees it: FlushQueues wakes its sender (and its
/// receiver, for a download) and takes `flush_ms` of virtual time.
struct SimTransport {
    index: usize,
    spec: TransportSpec,
    shared: Arc<Shared>,
}

impl Transport for SimTransport {
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> mapi_logoff::Result<()> {
        let key = (self.index, store_id.to_owned());
        if !self.shared.links.contains_key(&key) {
            return Ok(()); // it does not serve this store
        }
        let mut detail = format!("FlushQueues({}) on {}", flush_names(flags), self.spec.name);
        if self.spec.flush_ms > 0 {
            detail += &format!(", takes {} ms", self.spec.flush_ms);
        }
        self.shared.record(store_id, "flush", detail);
        if flags.contains(FlushFlags::UPLOAD) {
            wake_sender(&self.shared, self.index, store_id);
        }
        if flags.contains(FlushFlags::DOWNLOAD) {
            wake_receiver(&self.shared, self.index, store_id);
        }
        if self.spec.flush_ms > 0 {
            self.shared.rt.sleep(ms(self.spec.flush_ms));
        }
        if self.spec.flush_fails {
            return Err(Error::CallFailed);
        }
        Ok(())
    }

    fn can_cancel(&self, store_id: &str) -> bool {
        // A transport that does not serve the store has nothing of it to cancel.
        self.spec.can_cancel || !self.spec.serves(store_id)
    }

    /// Aborts the link's send and reception in flight: the send goes back to the queue
    /// (`end_send(false)`), the reception back to the server (`cancel_receive`).
    fn cancel(&self, store_id: &str) -> mapi_logoff::Result<()> {
        let key = (self.index, store_id.to_owned());
        let Some(link) = self.shared.links.get(&key) else {
            return Ok(()); // it does not serve this store
        };
        let mut detail = format!(
            "TransportNotify(NOTIFY_CANCEL_MESSAGE) on {}",
            self.spec.name
        );
        if self.spec.cancel_ms > 0 {
            detail += &format!(", takes {} ms", self.spec.cancel_ms);
        }
        self.shared.record(store_id, "cancel", detail);
        if self.spec.cancel_ms > 0 {
            self.shared.rt.sleep(ms(self.spec.cancel_ms));
        }
        if self.spec.cancel_fails {
            return Err(Error::CallFailed);
        }
        let spooler = self.shared.spooler();
        if link.sending.swap(false, Ordering::Relaxed) {
            link.send_token.fetch_add(1, Ordering::Relaxed);
            match spooler.end_send(store_id, false) {
                Ok(()) => {
                    self.shared.counters[store_id]
                        .cancelled_sends
                        .fetch_add(1, Ordering::Relaxed);
                }
                // It ended meanwhile: nothing to cancel.
                Err(Error::NotFound) => {}
                Err(e) => self
                    .shared
                    .record(store_id, "error", format!("end_send: {}", e.name())),
            }
            self.shared.sample(&spooler, store_id);
            poll_later(&self.shared, self.index, store_id, true);
        }
        if link.receiving.swap(false, Ordering::Relaxed) {
            link.receive_token.fetch_add(1, Ordering::Relaxed);
            match spooler.cancel_receive(store_id) {
                // Saved and delivered again on a later logon: back at the server.
                Ok(()) => {
                    link.at_server.fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::NotFound) => {}
                Err(e) => {
                    self.shared
                        .record(store_id, "error", format!("cancel_receive: {}", e.name()))
                }
            }
            self.shared.sample(&spooler, store_id);
            poll_later(&self.shared, self.index, store_id, false);
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

/// Runs the sender of link (t, store) now, unless a send is under way (its end runs it).
fn wake_sender(shared: &Arc<Shared>, t: usize, store: &str) {
    let link = &shared.links[&(t, store.to_owned())];
    let generation = link.send_generation.fetch_add(1, Ordering::Relaxed) + 1;
    if !link.sending.load(Ordering::Relaxed) {
        let (sh, id) = (shared.clone(), store.to_owned());
        let now = shared.rt.now();
        shared
            .rt
            .call_at(now, move || sender_step(&sh, t, &id, generation));
    }
}

fn wake_receiver(shared: &Arc<Shared>, t: usize, store: &str) {
    let link = &shared.links[&(t, store.to_owned())];
    let generation = link.receive_generation.fetch_add(1, Ordering::Relaxed) + 1;
    if !link.receiving.load(Ordering::Relaxed) {
        let (sh, id) = (shared.clone(), store.to_owned());
        let now = shared.rt.now();
        shared
            .rt
            .call_at(now, move || receiver_step(&sh, t, &id, generation));
    }
}

/// Polls again after the transport's poll interval (a wake-up meanwhile supersedes it).
fn poll_later(shared: &Arc<Shared>, t: usize, store: &str, send: bool) {
    let link = &shared.links[&(t, store.to_owned())];
    let (sh, id) = (shared.clone(), store.to_owned());
    let at = shared.rt.now() + ms(shared.specs[t].poll_ms.get());
    if send {
        let generation = link.send_generation.load(Ordering::Relaxed);
        shared
            .rt
            .call_at(at, move || sender_step(&sh, t, &id, generation));
    } else {
        let generation = link.receive_generation.load(Ordering::Relaxed);
        shared
            .rt
            .call_at(at, move || receiver_step(&sh, t, &id, generation));
    }
}

/// The sender of one link: starts a send when the gate and the queue allow, else looks
/// again later. A send under way always completes, even when the run stops.
fn sender_step(shared: &Arc<Shared>, t: usize, store: &str, generation: u64) {
    let link = &shared.links[&(t, store.to_owned())];
    if shared.stopped()
        || link.sending.load(Ordering::Relaxed)
        || link.send_generation.load(Ordering::Relaxed) != generation
    {
        return;
    }
    let spooler = shared.spooler();
    match spooler.begin_send(store) {
        Ok(()) => {
            shared.sample(&spooler, store);
            link.sending.store(true, Ordering::Relaxed);
            let token = link.send_token.fetch_add(1, Ordering::Relaxed) + 1;
            let (sh, id) = (shared.clone(), store.to_owned());
            let at = shared.rt.now() + ms(shared.specs[t].send_ms.get());
            shared.rt.call_at(at, move || {
                let link = &sh.links[&(t, id.clone())];
                if link.send_token.load(Ordering::Relaxed) != token {
                    return; // cancelled
                }
                let failure_rate = sh.specs[t].failure_rate.0;
                let sent = link.rng.lock().unwrap().as_mut().expect("seeded").f64() >= failure_rate;
                if !sent {
                    sh.counters[&id]
                        .failed_sends
                        .fetch_add(1, Ordering::Relaxed);
                }
                let spooler = sh.spooler();
                if let Err(e) = spooler.end_send(&id, sent) {
                    sh.record(&id, "error", format!("end_send: {}", e.name()));
                }
                sh.sample(&spooler, &id);
                link.sending.store(false, Ordering::Relaxed);
                let generation = link.send_generation.load(Ordering::Relaxed);
                sender_step(&sh, t, &id, generation);
            });
        }
        // Gate closed (the message stays queued) or nothing queued: look again later.
        Err(Error::NoAccess | Error::NotFound) => poll_later(shared, t, store, true),
        Err(e) => {
            shared.record(store, "error", format!("begin_send: {}", e.name()));
            poll_later(shared, t, store, true);
        }
    }
}

fn receiver_step(shared: &Arc<Shared>, t: usize, store: &str, generation: u64) {
    let link = &shared.links[&(t, store.to_owned())];
    if shared.stopped()
        || link.receiving.load(Ordering::Relaxed)
        || link.receive_generation.load(Ordering::Relaxed) != generation
    {
        return;
    }
    if link.at_server.load(Ordering::Relaxed) == 0 {
        poll_later(shared, t, store, false);
        return;
    }
    let spooler = shared.spooler();
    match spooler.begin_receive(store) {
        Ok(()) => {
            shared.sample(&spooler, store);
            // Taken from the server only once the spooler accepted the reception.
            link.at_server.fetch_sub(1, Ordering::Relaxed);
            link.refusing.store(false, Ordering::Relaxed);
            link.receiving.store(true, Ordering::Relaxed);
            let token = link.receive_token.fetch_add(1, Ordering::Relaxed) + 1;
            let (sh, id) = (shared.clone(), store.to_owned());
            let at = shared.rt.now() + ms(shared.specs[t].receive_ms.get());
            shared.rt.call_at(at, move || {
                let link = &sh.links[&(t, id.clone())];
                if link.receive_token.load(Ordering::Relaxed) != token {
                    return; // cancelled
                }
                let spooler = sh.spooler();
                if let Err(e) = spooler.end_receive(&id) {
                    sh.record(&id, "error", format!("end_receive: {}", e.name()));
                }
                sh.sample(&spooler, &id);
                link.receiving.store(false, Ordering::Relaxed);
                let generation = link.receive_generation.load(Ordering::Relaxed);
                receiver_step(&sh, t, &id, generation);
            });
        }
        Err(Error::NoAccess) => {
            if !link.refusing.swap(true, Ordering::Relaxed) {
                shared.record(
                    store,
                    "arrival_refused",
                    format!(
                        "reception via {} refused, MAPI_E_NO_ACCESS: the message stays at the server",
                        shared.specs[t].name
                    ),
                );
            }
            poll_later(shared, t, store, false);
        }
        Err(e) => {
            shared.record(store, "error", format!("begin_receive: {}", e.name()));
            poll_later(shared, t, store, false);
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

fn deliver(shared: &Arc<Shared>, delivery: Delivery) {
    shared.load_left.fetch_sub(1, Ordering::Relaxed);
    if shared.stopped() {
        return;
    }
    let spooler = shared.spooler();
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
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One client's script, as a task: it may wait inside a PURGE.
fn client_task(shared: Arc<Shared>, client: String, steps: Vec<Step>) {
    let spooler = shared.spooler();
    let mut handles: HashMap<String, Store> = HashMap::new();
    // Handles whose provider's own StoreLogoffTransports answered COMPLETE.
    let mut logged_off: HashSet<String> = HashSet::new();
    let deadline = shared.purge_deadline_ms;
    for step in steps {
        let now = shared.now_ms();
        if step.at_ms > now {
            shared.rt.sleep(ms(step.at_ms - now));
        }
        if shared.stopped() {
            break;
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
                let t0 = shared.now_ms();
                let result = handle.logoff_transports(&mut flags);
                let took = shared.now_ms() - t0;
                if took > deadline {
                    shared.violation(format!(
                        "StoreLogoffTransports({mode}) of {store} returned after {took} ms, past the {deadline} ms deadline"
                    ));
                }
                // COMPLETE (also with MAPI_E_TIMEOUT) invalidates the handle.
                if matches!(result, Ok(()) | Err(Error::Timeout))
                    && flags & LogoffFlags::COMPLETE.bits() != 0
                {
                    logged_off.insert(store.to_owned());
                }
                let hresult = result.err().map_or("S_OK", Error::name);
                shared.record(
                    store,
                    "logoff_transports",
                    format!("returned {hresult}, flags {}", logoff_names(flags)),
                );
            }
            Action::Release => {
                shared.record(store, "release", format!("Release(){by}"));
                let t0 = shared.now_ms();
                let before = DECISIONS.with(|d| d.get());
                let left = handle.release();
                let took = shared.now_ms() - t0;
                if left == 0 {
                    handles.remove(store);
                    let done_before = logged_off.remove(store);
                    // StoreLogoffTransports exactly once per handle: on its final release,
                    // unless the provider's own call already answered COMPLETE.
                    let calls = DECISIONS.with(|d| d.get()) - before;
                    let want = u64::from(!done_before);
                    if calls != want {
                        shared.violation(format!(
                            "the final Release() of {store}{by} made {calls} StoreLogoffTransports calls, not {want}"
                        ));
                    }
                }
                if took > deadline {
                    shared.violation(format!(
                        "Release() of {store}{by} returned after {took} ms, past the {deadline} ms deadline"
                    ));
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
    shared.clients_left.fetch_sub(1, Ordering::Relaxed);
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
                    .load(Ordering::Relaxed)
                    > 0
            });
        !can_send && !can_receive
    })
}

/// The invariants that hold after every step: nothing lost, and no store left unreleased
/// once drained.
fn check(spooler: &Spooler, scenario: &Scenario, shared: &Shared) {
    for s in &scenario.stores.0 {
        let st = spooler.stats(&s.id).unwrap_or_default();
        let lost = lost(&s.id, &st, shared);
        if lost > 0 {
            shared.violation(format!("{}: {lost} messages unaccounted for", s.id));
        }
        if let Some(mode) = st.pending
            && mapi_logoff::drained(mode, st.activity())
        {
            shared.violation(format!(
                "{}: drained under a pending {} logoff but not released",
                s.id,
                mode.name()
            ));
        }
    }
}

/// Messages of `id` unaccounted for.
fn lost(id: &str, st: &StoreStats, shared: &Shared) -> u64 {
    let c = &shared.counters[id];
    let at_server: u64 = shared
        .links
        .iter()
        .filter(|((_, s), _)| s == id)
        .map(|(_, l)| l.at_server.load(Ordering::Relaxed))
        .sum();
    let accepted = c.accepted.load(Ordering::Relaxed);
    let arrivals = c.arrivals.load(Ordering::Relaxed);
    let diff = |a: u64, b: u64| a.abs_diff(b);
    // Every message is queued, in flight, sent or received (the spooler's accounting; a
    // cancelled reception is back at the server), the spooler counted every submission it
    // accepted, and every arrival was received, is being received, or is at the server.
    diff(st.submitted, st.queued + st.sending + st.sent)
        + diff(
            st.receptions,
            st.receiving + st.received + st.cancelled_receptions,
        )
        + diff(accepted, st.submitted)
        + diff(arrivals, st.receiving + st.received + at_server)
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
        .map(|(_, l)| l.at_server.load(Ordering::Relaxed))
        .sum();
    let inbound_open = st.allowed.contains(Activity::INBOUND);
    let lost = lost(id, st, shared);
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
        receptions: st.receptions,
        cancelled_receptions: st.cancelled_receptions,
        cancelled_sends: c.cancelled_sends.load(Ordering::Relaxed),
        queued: st.queued,
        sending: st.sending,
        receiving: st.receiving,
        failed_sends: c.failed_sends.load(Ordering::Relaxed),
        refused_submissions: c.refused_submissions.load(Ordering::Relaxed),
        // A cancelled reception is back at the server too: it counts as cancelled.
        refused_arrivals: if inbound_open {
            0
        } else {
            at_server.saturating_sub(st.cancelled_receptions)
        },
        pending_arrivals: if inbound_open { at_server } else { 0 },
        lost,
    }
}
