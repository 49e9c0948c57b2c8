//! `simulate --seeds N`: N random variations of a scenario, each run on the virtual clock
//! with the invariants checked after every step (VOPR-style). Variation `seed` is a pure
//! function of the scenario and the seed, so a failing seed reproduces alone
//! (`--seeds 1 --seed S`).

use std::num::NonZeroU64;

use mapi_logoff::LogoffFlags;

use crate::scenario::{Action, Rate, Scenario, Step};
use crate::sim::{self, Outcome, RunOptions};

const MODES: [LogoffFlags; 5] = [
    LogoffFlags::NO_WAIT,
    LogoffFlags::ORDERLY,
    LogoffFlags::PURGE,
    LogoffFlags::ABORT,
    LogoffFlags::QUIET,
];

fn nz(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v.max(1)).expect("at least 1")
}

/// Variation `seed` of `base`: other timings, transport failures, slow and stuck flushes,
/// transports that can cancel (quickly, slowly, past the deadline, or failing), other modes
/// and call orders, and up to three extra clients on random stores.
pub fn vary(base: &Scenario, seed: u64) -> Scenario {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x005E_ED0F_5EED);
    let mut s = base.clone();
    s.seed = seed;
    s.purge_deadline_ms = rng.u64(20..=3000);
    let deadline = s.purge_deadline_ms;
    for t in &mut s.transports.0 {
        t.send_ms = nz(rng.u64(1..=400));
        t.receive_ms = nz(rng.u64(1..=500));
        t.poll_ms = nz(rng.u64(1..=120));
        t.failure_rate = Rate(if rng.bool() { 0.0 } else { rng.f64() * 0.6 });
        t.flush_ms = match rng.u8(0..10) {
            0..=4 => 0,
            5..=7 => rng.u64(1..=deadline),
            8 => deadline + rng.u64(1..=deadline), // slower than the deadline
            _ => 1_000_000_000,                    // stuck for good
        };
        t.flush_fails = rng.u8(0..4) == 0;
    }
    // Each client's steps move by up to 400 ms, keeping their order; modes change.
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for step in &mut s.script.0 {
        let prev = last.get(&step.client).copied().unwrap_or(0);
        step.at_ms = (step.at_ms + rng.u64(0..=400)).max(prev);
        last.insert(step.client.clone(), step.at_ms);
        if matches!(step.action, Action::Logoff | Action::LogoffTransports) && rng.u8(0..3) == 0 {
            step.flags = MODES[rng.usize(0..MODES.len())].bits();
        }
    }
    for extra in 0..rng.usize(0..=3) {
        let store = s.stores.0[rng.usize(0..s.stores.0.len())].id.clone();
        let client = format!("extra-{extra}");
        let open = rng.u64(0..=2000);
        let step = |at_ms, action, flags| Step {
            at_ms,
            store: store.clone(),
            client: client.clone(),
            action,
            flags,
        };
        s.script.0.push(step(open, Action::Open, 0));
        let mut at = open;
        if rng.bool() {
            at += rng.u64(0..=1000);
            let mode = MODES[rng.usize(0..MODES.len())].bits();
            let action = if rng.u8(0..4) == 0 {
                Action::LogoffTransports
            } else {
                Action::Logoff
            };
            s.script.0.push(step(at, action, mode));
        }
        // Some extra clients never release: the spooler's close logs them off.
        if rng.u8(0..5) != 0 {
            at += rng.u64(0..=1000);
            s.script.0.push(step(at, Action::Release, 0));
        }
    }
    // Drawn last, so that the variations above stay what they were before transports
    // could cancel.
    for t in &mut s.transports.0 {
        if rng.u8(0..3) == 0 {
            t.can_cancel = !t.can_cancel;
        }
        t.cancel_ms = match rng.u8(0..10) {
            0..=5 => 0,
            6..=8 => rng.u64(1..=deadline),
            _ => deadline + rng.u64(1..=deadline), // slower than the deadline
        };
        t.cancel_fails = rng.u8(0..6) == 0;
    }
    s
}

/// Runs variation `seed` with the invariants checked.
pub fn run_one(base: &Scenario, seed: u64) -> Result<Outcome, mapi_logoff::Error> {
    let mut outcome = sim::run(
        &vary(base, seed),
        &RunOptions {
            seed: Some(seed),
            check: true,
        },
    )?;
    if outcome.lost > 0 {
        outcome
            .violations
            .push(format!("at the end: {} messages lost", outcome.lost));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Scenario {
        crate::scenario::parse(include_str!("../../examples/default.json"), "default").unwrap()
    }

    #[test]
    fn a_variation_replays_exactly_and_seeds_differ() {
        let base = default();
        let json = |seed| serde_json::to_string(&run_one(&base, seed).unwrap()).unwrap();
        for seed in [1, 77, 4242] {
            assert_eq!(json(seed), json(seed), "seed {seed} did not replay");
        }
        assert_ne!(json(1), json(2));
    }
}
