//! # mapi-logoff
//!
//! The MAPI message-store logoff protocol: `IMsgStore::StoreLogoff` (the [`Store`]),
//! `IMAPISupport::StoreLogoffTransports` (the [`Support`] trait, implemented by the
//! [`Spooler`]) and the decision table that both follow ([`decide`]).
//!
//! ```
//! use mapi_logoff::{decide, Activity, Context, LogoffFlags, Release};
//!
//! let d = decide(LogoffFlags::ORDERLY.bits(), Activity::INBOUND, Context::default()).unwrap();
//! assert_eq!(d.out_flags, LogoffFlags::COMPLETE | LogoffFlags::INBOUND);
//! assert_eq!(d.release, Release::WhenDrained);
//! ```

#![deny(unsafe_code)]

mod clock;
mod decide;
mod error;
mod flags;
mod fork;
mod registry;
mod spooler;
mod store;
mod trim;

pub use clock::{Job, Runtime, Signal, ThreadPool, VirtualRuntime, end_all_waits};
pub use decide::{
    Context, Decision, decide, decide_bits, decide_mode, decide_mode_in, drained, parse_activity,
    parse_mode,
};
pub use error::{Error, Result, S_OK, hresult_of};
pub use flags::{Activity, FlushFlags, LogoffFlags, Mode, Release, flag_names};
pub use spooler::{
    CloseReport, CreateError, Event, EventKind, Spooler, SpoolerOptions, StoreStats, Subscriber,
    Transport,
};
pub use store::{Store, Support};

/// README.md's Rust example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
