//! The MAPI constants of the logoff protocol, with their exact values.

use bitflags::bitflags;
use serde::{Deserialize, Serialize};

bitflags! {
    /// The `ulFlags` in/out value of `StoreLogoff` and `StoreLogoffTransports`.
    ///
    /// The low bits are the input modes (exactly one per call), the `0xF0000` bits are
    /// written back by the call.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct LogoffFlags: u32 {
        /// Log off without waiting; queued messages are still sent.
        const NO_WAIT = 0x0000_0001;
        /// Let in-flight transfers finish, start nothing new.
        const ORDERLY = 0x0000_0002;
        /// Flush every transport and wait for the store to be released.
        const PURGE = 0x0000_0004;
        /// Stop pending work unless a transfer is in flight.
        const ABORT = 0x0000_0008;
        /// Log off only an idle store.
        const QUIET = 0x0000_0010;
        /// Output: the logoff was accepted.
        const COMPLETE = 0x0001_0000;
        /// Output (and activity): a message is being received into the store.
        const INBOUND = 0x0002_0000;
        /// Output (and activity): a message is being sent from the store.
        const OUTBOUND = 0x0004_0000;
        /// Output (and activity): messages wait in the store's outbound queue.
        const OUTBOUND_QUEUE = 0x0008_0000;
    }
}

impl LogoffFlags {
    /// The five input modes.
    pub const INPUT_MASK: u32 = 0x0000_001F;
    /// The bits a call writes back; ignored on input.
    pub const OUTPUT_MASK: u32 = 0x000F_0000;
}

bitflags! {
    /// A store's activity: what is in flight or queued. The same bits as the output
    /// flags `LOGOFF_INBOUND`, `LOGOFF_OUTBOUND`, `LOGOFF_OUTBOUND_QUEUE`.
    ///
    /// Also used for a store's `allowed` gates: `INBOUND` = new receptions may start,
    /// `OUTBOUND` = sends of queued messages may start, `OUTBOUND_QUEUE` = new submissions.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Activity: u32 {
        /// A message is being received into the store.
        const INBOUND = LogoffFlags::INBOUND.bits();
        /// A message is being sent from the store.
        const OUTBOUND = LogoffFlags::OUTBOUND.bits();
        /// Messages wait in the store's outbound queue.
        const OUTBOUND_QUEUE = LogoffFlags::OUTBOUND_QUEUE.bits();
    }
}

impl Activity {
    /// Transfers in flight: `INBOUND | OUTBOUND`.
    pub const IN_FLIGHT: Activity = Activity::INBOUND.union(Activity::OUTBOUND);

    /// The same bits as output flags.
    pub fn as_logoff_flags(self) -> LogoffFlags {
        LogoffFlags::from_bits_retain(self.bits())
    }

    /// Whether a transfer is in flight.
    pub fn in_flight(self) -> bool {
        self.intersects(Activity::IN_FLIGHT)
    }
}

bitflags! {
    /// `ulFlags` of `IXPLogon::FlushQueues`.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct FlushFlags: u32 {
        /// Flush the outbound queue.
        const UPLOAD = 0x0000_0002;
        /// Flush the inbound queue.
        const DOWNLOAD = 0x0000_0004;
        /// Flush even if it takes long.
        const FORCE = 0x0000_0008;
        /// Show no user interface.
        const NO_UI = 0x0000_0010;
    }
}

/// One logoff mode: a validated input flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// `LOGOFF_NO_WAIT`
    NoWait,
    /// `LOGOFF_ORDERLY`
    Orderly,
    /// `LOGOFF_PURGE`
    Purge,
    /// `LOGOFF_ABORT`
    Abort,
    /// `LOGOFF_QUIET`
    Quiet,
}

impl Mode {
    /// All modes, in the order of their flag values.
    pub const ALL: [Mode; 5] = [
        Mode::NoWait,
        Mode::Orderly,
        Mode::Purge,
        Mode::Abort,
        Mode::Quiet,
    ];

    /// The modes from most to least cautious: how lenient validation picks among several.
    pub const MOST_CAUTIOUS_FIRST: [Mode; 5] = [
        Mode::Quiet,
        Mode::Abort,
        Mode::Orderly,
        Mode::NoWait,
        Mode::Purge,
    ];

    /// The input flag of this mode.
    pub fn flag(self) -> LogoffFlags {
        match self {
            Mode::NoWait => LogoffFlags::NO_WAIT,
            Mode::Orderly => LogoffFlags::ORDERLY,
            Mode::Purge => LogoffFlags::PURGE,
            Mode::Abort => LogoffFlags::ABORT,
            Mode::Quiet => LogoffFlags::QUIET,
        }
    }

    /// The mode's MAPI name without the prefix: `"NO_WAIT"`, `"ORDERLY"`, …
    pub fn name(self) -> &'static str {
        match self {
            Mode::NoWait => "NO_WAIT",
            Mode::Orderly => "ORDERLY",
            Mode::Purge => "PURGE",
            Mode::Abort => "ABORT",
            Mode::Quiet => "QUIET",
        }
    }

    /// The mode named `name` (`"PURGE"`, `"purge"`, `"LOGOFF_PURGE"`, `"no-wait"`).
    pub fn from_name(name: &str) -> Option<Mode> {
        let upper = name.trim().to_ascii_uppercase().replace('-', "_");
        let bare = upper.strip_prefix("LOGOFF_").unwrap_or(&upper);
        Mode::ALL.into_iter().find(|m| m.name() == bare)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to the store: the decision's `release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u32)]
pub enum Release {
    /// Nothing changes; the activity is reported.
    Refused = 0,
    /// The store is released now.
    Now = 1,
    /// The store is released the moment it drains.
    WhenDrained = 2,
}

impl Release {
    /// The numeric value (`MAPI_LOGOFF_RELEASE_*`).
    pub fn value(self) -> u32 {
        self as u32
    }

    /// The name: `"REFUSED"`, `"NOW"`, `"WHEN_DRAINED"`.
    pub fn name(self) -> &'static str {
        match self {
            Release::Refused => "REFUSED",
            Release::Now => "NOW",
            Release::WhenDrained => "WHEN_DRAINED",
        }
    }
}

/// Names of the set bits of any of the protocol's flag types (`"COMPLETE|INBOUND"`,
/// `"UPLOAD|NO_UI"`), `"0"` for none, for display.
pub fn flag_names<F: bitflags::Flags>(flags: F) -> String {
    if flags.is_empty() {
        return "0".to_owned();
    }
    flags
        .iter_names()
        .map(|(n, _)| n)
        .collect::<Vec<_>>()
        .join("|")
}
