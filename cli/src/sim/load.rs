//! The load: the scenario's submissions and arrivals, scheduled in time order with jitter
//! drawn from the seed, and delivered to the spooler (submissions) or to a transport's
//! server (arrivals).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mapi_logoff::Error;

use super::shared::Shared;
use crate::scenario::Scenario;

pub(super) enum Delivery {
    Submit(String),
    Arrive(usize, String),
}

/// The load's messages in time order; jitter drawn from the seed.
pub(super) fn schedule(scenario: &Scenario, seed: u64) -> Vec<(u64, Delivery)> {
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

pub(super) fn deliver(shared: &Arc<Shared>, delivery: Delivery) {
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
