//! Validation of the flags and the decision table of StoreLogoffTransports. This file is the one place the table lives.

use crate::error::{Error, Result};
use crate::flags::{Activity, FlushFlags, LogoffFlags, Mode, Release};

/// What the caller of StoreLogoffTransports knows besides the flags.
///
/// The default is what real MAPI does: not shared, lenient validation, no transfer that
/// can be cancelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Context {
    /// Another client (in this process or another) has the same store open in the profile.
    pub shared: bool,
    /// Strict validation: exactly one mode flag, else `MAPI_E_INVALID_PARAMETER`. Off
    /// (lenient, the default), no flag means ABORT and several mean the most cautious.
    pub strict: bool,
    /// Every transfer in flight for the store is on a transport that can cancel it: ABORT
    /// cancels them and logs off instead of refusing.
    pub cancellable: bool,
}

impl Context {
    /// `MAPI_LOGOFF_DECIDE_SHARED`: the context bit for `shared`.
    pub const SHARED: u32 = 0x1;
    /// `MAPI_LOGOFF_DECIDE_STRICT`: the context bit for `strict`.
    pub const STRICT: u32 = 0x2;
    /// `MAPI_LOGOFF_DECIDE_CANCELLABLE`: the context bit for `cancellable`.
    pub const CANCELLABLE: u32 = 0x4;
    /// Every context bit.
    pub const MASK: u32 = Context::SHARED | Context::STRICT | Context::CANCELLABLE;

    /// The context from its C bits; other bits are `MAPI_E_UNKNOWN_FLAGS`.
    #[inline]
    pub fn from_bits(bits: u32) -> Result<Context> {
        if bits & !Context::MASK != 0 {
            return Err(Error::UnknownFlags);
        }
        Ok(Context {
            shared: bits & Context::SHARED != 0,
            strict: bits & Context::STRICT != 0,
            cancellable: bits & Context::CANCELLABLE != 0,
        })
    }

    /// The context's C bits.
    pub fn bits(self) -> u32 {
        (if self.shared { Context::SHARED } else { 0 })
            | (if self.strict { Context::STRICT } else { 0 })
            | (if self.cancellable {
                Context::CANCELLABLE
            } else {
                0
            })
    }
}

/// The outcome of the decision table for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    /// Written back to the caller's flags.
    pub out_flags: LogoffFlags,
    /// What happens to the store.
    pub release: Release,
    /// Passed to every transport's `flush_queues`; empty means no call.
    pub flush_flags: FlushFlags,
    /// What may still start for the store.
    pub allowed: Activity,
    /// Whether control returns only once the store is released.
    pub waits: bool,
}

/// The mode that `flags` asks for.
///
/// Output bits are ignored; any other bit outside the five modes is
/// `MAPI_E_UNKNOWN_FLAGS`. Lenient (`strict` false, what real MAPI accepts): none means
/// ABORT, several mean the most cautious. Strict: exactly one mode, else
/// `MAPI_E_INVALID_PARAMETER`.
#[inline]
pub fn parse_mode(flags: u32, strict: bool) -> Result<Mode> {
    let input = flags & !LogoffFlags::OUTPUT_MASK;
    if input & !LogoffFlags::INPUT_MASK != 0 {
        return Err(Error::UnknownFlags);
    }
    let requested = LogoffFlags::from_bits_retain(input);
    // Exactly one bit; `is_power_of_two` needs no popcount instruction (the hot path of
    // every binding's decide).
    if input.is_power_of_two() {
        Ok(Mode::MOST_CAUTIOUS_FIRST
            .into_iter()
            .find(|m| requested == m.flag())
            .expect("one of the five input bits"))
    } else if strict {
        Err(Error::InvalidParameter)
    } else if input == 0 {
        Ok(Mode::Abort)
    } else {
        Ok(Mode::MOST_CAUTIOUS_FIRST
            .into_iter()
            .find(|m| requested.contains(m.flag()))
            .expect("at least one input bit"))
    }
}

/// The activity from its bits; bits other than the three activity bits are
/// `MAPI_E_UNKNOWN_FLAGS`.
#[inline]
pub fn parse_activity(bits: u32) -> Result<Activity> {
    Activity::from_bits(bits).ok_or(Error::UnknownFlags)
}

/// The decision table for validated inputs, with no cancellable transfer.
#[inline]
pub fn decide_mode(mode: Mode, activity: Activity, shared: bool) -> Decision {
    decide_mode_in(
        mode,
        activity,
        Context {
            shared,
            ..Context::default()
        },
    )
}

/// The decision table for validated inputs in a whole context (its `strict`
/// only matters to validation and is ignored here).
#[inline]
pub fn decide_mode_in(mode: Mode, activity: Activity, context: Context) -> Decision {
    use Release::{Now, Refused, WhenDrained};
    let a = activity;
    let out_a = a.as_logoff_flags();
    let complete = LogoffFlags::COMPLETE;
    let all = Activity::all();
    let none = Activity::empty();
    let no_flush = FlushFlags::empty();
    let decision = |out_flags, release, flush_flags, allowed, waits| Decision {
        out_flags,
        release,
        flush_flags,
        allowed,
        waits,
    };
    let drained_release = |busy: bool| if busy { WhenDrained } else { Now };

    if context.shared {
        // Only this client logs off; the others keep the store as it is.
        return decision(complete, Now, no_flush, all, false);
    }
    match mode {
        Mode::Quiet if a.is_empty() => decision(complete, Now, no_flush, none, false),
        Mode::Quiet => decision(out_a, Refused, no_flush, all, false),
        // Transfers that can all be cancelled are cancelled first: then nothing is in flight.
        Mode::Abort if !a.in_flight() || context.cancellable => {
            let queued = (a & Activity::OUTBOUND_QUEUE).as_logoff_flags();
            decision(complete | queued, Now, no_flush, none, false)
        }
        Mode::Abort => decision(out_a, Refused, no_flush, all, false),
        Mode::Orderly => decision(
            complete | out_a,
            drained_release(a.in_flight()),
            no_flush,
            none,
            false,
        ),
        Mode::NoWait => decision(
            complete | out_a,
            drained_release(!a.is_empty()),
            no_flush,
            Activity::OUTBOUND,
            false,
        ),
        Mode::Purge => decision(
            complete | out_a,
            drained_release(!a.is_empty()),
            FlushFlags::UPLOAD | FlushFlags::NO_UI,
            Activity::OUTBOUND,
            true,
        ),
    }
}

/// Validates `flags` and decides: validation and the table as one call.
pub fn decide(flags: u32, activity: Activity, context: Context) -> Result<Decision> {
    let mode = parse_mode(flags, context.strict)?;
    Ok(decide_mode_in(mode, activity, context))
}

/// [`decide`] on raw bits, as the C, Python and Node `decide` take them: the context
/// bits are checked first, then the flags, then the activity, each failing with
/// `MAPI_E_UNKNOWN_FLAGS` (or the flags' `MAPI_E_INVALID_PARAMETER`).
#[inline]
pub fn decide_bits(flags: u32, activity: u32, context: u32) -> Result<Decision> {
    let context = Context::from_bits(context)?;
    let mode = parse_mode(flags, context.strict)?;
    let activity = parse_activity(activity)?;
    Ok(decide_mode_in(mode, activity, context))
}

/// Whether a store whose logoff was decided with `mode` has drained:
/// nothing in flight, and for NO_WAIT and PURGE also an empty queue. For a refused
/// QUIET the store must be idle.
pub fn drained(mode: Mode, activity: Activity) -> bool {
    match mode {
        Mode::NoWait | Mode::Purge | Mode::Quiet => activity.is_empty(),
        Mode::Orderly | Mode::Abort => !activity.in_flight(),
    }
}
