//! The oracle: the protocol's rules (SPEC §3, §4), small enough to state here, that every
//! call is checked against. Validation (`mode_of`, `decide_error`), what drained means, the
//! shape of every decision, and whether a StoreLogoffTransports carried out the decision
//! `mapi_logoff_decide` gives (`carried_out`); plus the HRESULT assertion helpers.

use std::ffi::CStr;

use super::capi::*;

/// The mode `flags` asks for, or the HRESULT that rejects them.
pub(super) fn mode_of(flags: u32, lenient: bool) -> Result<u32, i32> {
    let input = flags & !OUTPUT_BITS;
    if input & !0x1F != 0 {
        return Err(E_UNKNOWN_FLAGS);
    }
    match input.count_ones() {
        1 => Ok(input),
        0 if lenient => Ok(ABORT),
        _ if lenient => Ok(*MOST_CAUTIOUS_FIRST
            .iter()
            .find(|m| input & **m != 0)
            .unwrap()),
        _ => Err(E_INVALID_PARAMETER),
    }
}

/// What `mapi_logoff_decide` must answer for bad inputs: context, then flags, then activity.
pub(super) fn decide_error(flags: u32, activity: u32, context: u32) -> Option<i32> {
    if context & !(CTX_SHARED | CTX_STRICT | CTX_CANCELLABLE) != 0 {
        return Some(E_UNKNOWN_FLAGS);
    }
    if let Err(hr) = mode_of(flags, context & CTX_STRICT == 0) {
        return Some(hr);
    }
    (activity & !GATES != 0).then_some(E_UNKNOWN_FLAGS)
}

/// SPEC §4: drained means nothing in flight, and for NO_WAIT, PURGE (and a deferred QUIET)
/// an empty queue too.
pub(super) fn drained(mode: u32, activity: u32) -> bool {
    match mode {
        NO_WAIT | PURGE | QUIET => activity == 0,
        _ => activity & (INBOUND | OUTBOUND) == 0,
    }
}

pub(super) fn decide(mode: u32, activity: u32, shared: bool) -> Decision {
    let mut d = Decision::default();
    let hr =
        unsafe { mapi_logoff_decide(mode, activity, if shared { CTX_SHARED } else { 0 }, &mut d) };
    assert_eq!(
        hr, S_OK,
        "decide({mode:#x}, {activity:#x}, shared={shared}) failed"
    );
    d
}

pub(super) fn hr_name(hr: i32) -> String {
    let p = unsafe { mapi_logoff_error_name(hr) };
    assert!(!p.is_null(), "mapi_logoff_error_name({hr:#x}) is NULL");
    let name = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    format!("{name} ({:#010x})", hr as u32)
}

#[track_caller]
pub(super) fn expect_hr(what: &str, got: i32, want: i32) {
    if got != want {
        panic!("{what}: got {}, want {}", hr_name(got), hr_name(want));
    }
}

/// What a StoreLogoffTransports did, as the harness saw it.
pub(super) struct Outcome {
    pub(super) mode: u32,
    pub(super) hr: i32,
    pub(super) out: u32,
    pub(super) ev_kind: u32,
    pub(super) released: u64,
    pub(super) final_release: bool,
    pub(super) explicit: bool,
}

/// Whether `o` carried out decision `d` (taken with `shared`) on a store that went from
/// `before` to `after`; Err says how it did not.
pub(super) fn carried_out(
    o: &Outcome,
    shared: bool,
    d: &Decision,
    before: &Stats,
    after: &Stats,
) -> Result<(), String> {
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("shared={shared}: {what}"))
        }
    };
    check(
        d.out_flags == o.out,
        "wrote other out_flags than the table's",
    )?;
    check(
        (o.ev_kind == EVENT_REFUSED) == (d.release == REFUSED),
        "the event's kind",
    )?;
    check(o.hr != E_TIMEOUT || d.waits, "timed out without waiting")?;
    let counters = |s: &Stats| {
        (
            s.queued,
            s.sending,
            s.receiving,
            s.submitted,
            s.sent,
            s.receptions,
            s.received,
        )
    };
    check(counters(after) == counters(before), "moved messages")?;
    match d.release {
        REFUSED if !o.final_release => check(after == before, "a refusal changed the store"),
        REFUSED => {
            check(
                after.pending_mode == o.mode,
                "a refused final release is deferred",
            )?;
            check(
                after.allowed == before.allowed,
                "a deferred release changed the gates",
            )
        }
        NOW => {
            check(
                after.clients == before.clients.saturating_sub(1),
                "NOW ends this client's hold",
            )?;
            check(o.released == 1, "NOW is one released event")?;
            if shared {
                check(
                    after.allowed == before.allowed,
                    "shared: the others keep their gates",
                )
            } else {
                check(after.pending_mode == 0, "NOW leaves nothing pending")?;
                check(
                    after.clients > 0 || (after.released && after.allowed == 0),
                    "released: gates closed",
                )
            }
        }
        _ => {
            check(o.released == 0, "released before draining")?;
            check(after.allowed == d.allowed, "the gates of the decision")?;
            let pending = if d.waits { NO_WAIT } else { o.mode };
            check(
                after.pending_mode == pending,
                "the logoff waits for the store to drain",
            )?;
            // Nobody ends a transfer while the harness waits: the deadline passes.
            check(
                !(d.waits && o.explicit) || o.hr == E_TIMEOUT,
                "a PURGE of a busy store returned before its deadline",
            )
        }
    }
}

pub(super) struct PreLogoff {
    pub(super) stats: Option<Stats>,
    pub(super) shared: Option<bool>,
    pub(super) decisions: u64,
    pub(super) released: u64,
    pub(super) timeouts: u64,
}

pub(super) fn activity_of(s: &Stats) -> u32 {
    let mut a = 0;
    if s.receiving > 0 {
        a |= INBOUND;
    }
    if s.sending > 0 {
        a |= OUTBOUND;
    }
    if s.queued > 0 {
        a |= OUTBOUND_QUEUE;
    }
    a
}

/// The shape every decision has (SPEC §4), whatever the mode.
pub(super) fn check_decision(what: &str, d: Decision, activity: u32, shared: bool) {
    assert!(d.release <= WHEN_DRAINED, "{what}: release {}", d.release);
    assert_eq!(
        d.release == REFUSED,
        d.out_flags & COMPLETE == 0,
        "{what}: refused iff not COMPLETE: {d:?}"
    );
    assert_eq!(
        d.out_flags & !COMPLETE & !activity,
        0,
        "{what}: reports activity it does not have: {d:?}"
    );
    assert!(
        d.flush_flags == 0 || d.flush_flags == FLUSH_PURGE,
        "{what}: flush flags {d:?}"
    );
    assert_eq!(
        d.waits,
        d.flush_flags != 0,
        "{what}: only PURGE flushes and waits: {d:?}"
    );
    assert_eq!(d.allowed & !GATES, 0, "{what}: allowed {d:?}");
    if d.release == REFUSED {
        assert_eq!(d.allowed, GATES, "{what}: a refusal closes nothing: {d:?}");
    }
    if shared {
        let only_this_client = Decision {
            out_flags: COMPLETE,
            release: NOW,
            flush_flags: 0,
            allowed: GATES,
            waits: false,
        };
        assert_eq!(d, only_this_client, "{what}: shared");
    }
}
