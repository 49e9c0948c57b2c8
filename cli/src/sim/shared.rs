//! What the simulator's steps share: the per-link and per-store state, the timeline, the
//! samples and the violations found; and the spooler's events turned into timeline lines.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mapi_logoff::{Activity, Event, EventKind, Mode, Release, Runtime, Spooler, VirtualRuntime};

use super::{CountSample, Record};
use crate::scenario::TransportSpec;
use crate::spec::{activity_names, logoff_names};

/// One transport's link to one store: its sender's and receiver's state.
#[derive(Default)]
pub(super) struct Link {
    /// Arrivals waiting at the remote server.
    pub(super) at_server: AtomicU64,
    /// The last reception attempt was refused (for one timeline marker per closing).
    pub(super) refusing: AtomicBool,
    /// A send or a reception is under way (its end is scheduled).
    pub(super) sending: AtomicBool,
    pub(super) receiving: AtomicBool,
    /// Bumped by every wake-up: a scheduled poll of an older generation does nothing.
    pub(super) send_generation: AtomicU64,
    pub(super) receive_generation: AtomicU64,
    /// Bumped by every start and every cancel: a scheduled end of a transfer that was
    /// cancelled does nothing.
    pub(super) send_token: AtomicU64,
    pub(super) receive_token: AtomicU64,
    /// Whether a sent message fails, drawn from the run's seed.
    pub(super) rng: Mutex<Option<fastrand::Rng>>,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) accepted: AtomicU64,
    pub(super) refused_submissions: AtomicU64,
    pub(super) arrivals: AtomicU64,
    pub(super) failed_sends: AtomicU64,
    pub(super) cancelled_sends: AtomicU64,
    pub(super) submit_refusing: AtomicBool,
}

/// What the steps share (not the spooler: the spooler holds the transports, which hold
/// this).
pub(super) struct Shared {
    pub(super) rt: VirtualRuntime,
    pub(super) spooler: Mutex<Option<Spooler>>,
    pub(super) specs: Vec<TransportSpec>,
    pub(super) stop: AtomicBool,
    pub(super) timeline: Mutex<Vec<Record>>,
    pub(super) samples: Mutex<Vec<CountSample>>,
    /// Store id → index in the scenario.
    pub(super) store_index: HashMap<String, usize>,
    pub(super) counters: HashMap<String, Counters>,
    /// By (transport index, store).
    pub(super) links: HashMap<(usize, String), Link>,
    pub(super) transport_names: Mutex<HashMap<u64, String>>,
    pub(super) purge_deadline_ms: u64,
    /// Client tasks still running their script; load deliveries still to come.
    pub(super) clients_left: AtomicU64,
    pub(super) load_left: AtomicU64,
    /// Invariants found broken (by `--seeds`), with the virtual time.
    pub(super) violations: Mutex<Vec<String>>,
}

thread_local! {
    /// StoreLogoffTransports calls (decided and refused events) made on this thread: a
    /// client task's own calls, since the spooler reports a decision on the caller's thread.
    pub(super) static DECISIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl Shared {
    pub(super) fn now_ms(&self) -> u64 {
        self.rt.now().as_millis() as u64
    }

    pub(super) fn spooler(&self) -> Spooler {
        self.spooler
            .lock()
            .unwrap()
            .clone()
            .expect("set before the run")
    }

    pub(super) fn record(&self, store: &str, event: &'static str, detail: String) {
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

    pub(super) fn violation(&self, what: String) {
        let at = self.now_ms();
        self.violations
            .lock()
            .unwrap()
            .push(format!("at {at} ms: {what}"));
    }

    /// Records `store`'s counts after a transfer report changed them.
    pub(super) fn sample(&self, spooler: &Spooler, store: &str) {
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

    pub(super) fn stopped(&self) -> bool {
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
    pub(super) fn on_event(&self, e: &Event) {
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
