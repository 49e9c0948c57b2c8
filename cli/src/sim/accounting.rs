//! The accounting: whether a run can still do anything, the invariants `--seeds` checks
//! after every step, and each store's summary from the spooler's counts.

use std::sync::atomic::Ordering;

use mapi_logoff::{Activity, Spooler, StoreStats};

use super::shared::Shared;
use super::{Record, StoreSummary};
use crate::scenario::Scenario;
use crate::spec::logoff_names;

/// Whether nothing can happen any more: nothing in flight, and nothing that a gate
/// lets start.
pub(super) fn quiescent(spooler: &Spooler, scenario: &Scenario, shared: &Shared) -> bool {
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
pub(super) fn check(spooler: &Spooler, scenario: &Scenario, shared: &Shared) {
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

pub(super) fn summarize(
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
