//! The floor of scripts/bench: an empty native function.

use napi_derive::napi;

/// Does nothing: a call into the addon that costs only the call itself, the floor that
/// scripts/bench compares `decide` and the store calls with. It ignores its arguments
/// (converting none of them). Not part of the package's API.
#[napi]
pub fn bench_noop() {}
