//! The native half of the Node package: napi-rs glue over the `mapi-logoff` core and
//! nothing of its own logic. `lib/mapi-logoff.js` is the public API; it checks argument
//! types, builds the frozen flag objects from [`constants`] and turns the `MAPI_E_*`
//! codes thrown here into `MapiError`s.
//!
//! Threads (docs/node.md, "Callbacks"): the core calls a transport's `flush_queues` on a
//! flush thread of its own while the logoff's caller waits. When that caller is a libuv
//! worker (the `*Async` forms), the JS thread is free: the call is posted to it through a
//! thread-safe function and its answer awaited. When the caller is the JS thread itself,
//! blocked in a synchronous `logoffTransports`, `release` or `close`, waiting for the
//! answer would deadlock: the call is posted without waiting and runs once the
//! synchronous call has returned. (Called on the JS thread itself, which the core does
//! only when it cannot start a thread, the adapter is called directly.) Subscribers are
//! always posted, never called directly. A transport's `cancel` (an ABORT's) goes the same
//! way, except that it is never posted without waiting: while the JS thread is blocked in a
//! synchronous call it cannot run, and the cancel fails at once with `MAPI_E_BUSY` (the
//! ABORT then refuses; the `*Async` forms can cancel).
//!
//! The modules, by what they do:
//!
//! - [`decide`]: the protocol's constants and the decision table (`decide`, its packed
//!   form and the table the package reads when it loads).
//! - [`spooler`]: `NativeSpooler`, its options, counters and close.
//! - [`store`]: the `store*` functions on a store handle (logoff, release, counts).
//! - [`handles`]: what the store calls find on the JS thread, in one thread-local
//!   (`JsThread`): the spoolers' slots and the slab of store handles, with its tombstone.
//! - [`cycle`]: the store cycle through a buffer shared with JS, as plain Node-API
//!   callbacks.
//! - [`callbacks`]: JS transports and subscribers, and how a call reaches the JS thread
//!   (`EnvScope`, the pending flush answers).
//! - [`work`]: work on a libuv worker thread (the `*Async` forms).
//! - [`bench`](mod@bench): the floors of scripts/bench.
//!
//! This file keeps what they share: the mapping of the core's errors to JS and the
//! conversions of numbers.

pub mod bench;
pub mod callbacks;
pub mod cycle;
pub mod decide;
pub mod handles;
pub mod spooler;
pub mod store;
pub mod work;

#[cfg(doc)]
use decide::constants;

use std::time::Duration;

use mapi_logoff as ml;

/// The core's error as a JS `Error` whose `.code` is the HRESULT's name.
fn mapi_error(e: ml::Error) -> napi::Error<String> {
    napi::Error::new(e.name().to_owned(), e.to_string())
}

fn hresult_bits<T>(result: &ml::Result<T>) -> u32 {
    result.as_ref().err().map_or(0, |e| e.hresult_bits())
}

/// Milliseconds from JS (checked there: a finite number >= 0) as a duration.
fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::MAX)
}

fn count(n: u64) -> f64 {
    n as f64
}
