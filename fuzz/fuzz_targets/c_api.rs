//! libFuzzer target: each input is a sequence of C-API calls (see `../interp/mod.rs`).
#![no_main]

// The C API (the ffi sources, built with the fuzzing instrumentation) that the
// interpreter's `extern "C"` declarations resolve to.
extern crate mapi_logoff_ffi;

#[path = "../interp/mod.rs"]
mod interp;

libfuzzer_sys::fuzz_target!(|data: &[u8]| interp::run(data));
