//! The floors of scripts/bench: empty native functions. Not part of the package's API.

use napi_derive::napi;

/// Does nothing: the cheapest call into the addon (it converts no argument). The floor of
/// the store cycle's calls in scripts/bench.
#[napi]
pub fn bench_noop() {}

/// Does nothing with the three numbers `decide` takes, converted as `decide` converts them:
/// the floor of `decide` in scripts/bench.
#[napi]
pub fn bench_noop_decide_args(flags: u32, activity: u32, context: u32) {
    let _ = (flags, activity, context);
}
