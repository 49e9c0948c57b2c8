//! The interpreter behind the C-API fuzz target: arbitrary bytes become a sequence of calls
//! of libmapi_logoff's C API on a few spoolers and stores (NULL pointers, bad flags and store
//! ids, activity reports in any order, closes and frees included), and after every call the
//! harness checks what the API documents. A broken invariant panics with a description.
//!
//! Dependency-free on purpose, so that two programs build it:
//! - `fuzz_targets/c_api.rs`, the libFuzzer target, links it to the ffi sources built with
//!   the fuzzing instrumentation (`scripts/fuzz`);
//! - `replay.rs`, a plain program built by `rustc` against the installed libmapi_logoff.so,
//!   which `make -C tests/c check` runs over `fuzz/regressions/` (plain and under valgrind).
//!
//! The harness never passes a dangling pointer: a store handle whose release returned 0 is
//! forgotten, a freed spooler handle is never used again. Everything else is fair game.
//!
//! What is checked (docs/reliability.md lists it too):
//! - every HRESULT is the one the header documents for the inputs and the state before the call
//!   (NULL and non-UTF-8 arguments, empty ids, bad flags, closed spoolers, gates, empty queues);
//! - a rejected call changes nothing: out-parameters, the store's counters and gates, the
//!   handle's count and saved mode;
//! - accepted activity reports change the counters by exactly one message; no counter of
//!   messages submitted, sent, begun or received ever goes down; at every moment
//!   `submitted == queued + sending + sent` and
//!   `receptions == receiving + received + cancelled receptions`;
//! - transports registered with a cancel callback (`add_transport_ex`) that cancels nothing
//!   leave the model as it is: an ABORT with transfers in flight calls them and still refuses;
//! - StoreLogoffTransports (explicit or from the final release) writes the decision that
//!   `mapi_logoff_decide` gives for the store's activity, emits one decision event, and
//!   carries it out (refused: nothing changes; NOW: the client's hold ends; WHEN_DRAINED:
//!   gates narrowed, released the moment it drains); a COMPLETE answer invalidates the handle;
//! - reference counts follow add_ref/release; the final release calls the Support exactly once
//!   with the saved mode (ABORT if none), never after an invalidating COMPLETE;
//! - at the end, once every handle is released and every transfer ended: every store of a
//!   spooler that was not closed has drained and been released, with exactly one `released`
//!   event per open (no store leaks); every callback context is freed exactly once, and none
//!   whose registration failed; every spooler is gone (its registry lock file removed).
//!
//! This file holds the harness's model of what it created (spoolers, store handles, callback
//! contexts), `run` and the op dispatch (`Harness::step`). The rest, by what it does:
//! - `capi`: the C API declared by hand (the header's types, values and functions);
//! - `input`: how the fuzz input's bytes are read (flags, activity, store ids);
//! - `callbacks`: the transports, subscribers and Supports handed to the library, and the
//!   harness's own event sink;
//! - `oracle`: the protocol's rules the calls are checked against (validation, decisions and
//!   how a StoreLogoffTransports carries one out);
//! - `spoolers`, `stores`, `registrations`, `pure`: the ops on each part of the API, each
//!   checking its call;
//! - `invariants`: the checks after every call, and the end of a run (no leaks).
#![allow(unsafe_code, dead_code)]

mod callbacks;
mod capi;
mod input;
mod invariants;
mod oracle;
mod pure;
mod registrations;
mod spoolers;
mod stores;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use callbacks::{Callback, Gate, Sink};
use capi::{Spooler, Stats, Store};
use input::{IdArg, Reader, id_arg, id_from};
use spoolers::Report;

// ---------------------------------------------------------------------------------------------
// The harness's model of what it created.

const SLOTS: usize = 3;
/// Slots 0 and 1 are two spoolers of one profile (shared through the registry when both are
/// cross-process); slot 2 is alone in its profile.
const PROFILES: [&str; SLOTS] = ["shared", "shared", "solo"];

struct SpoolerRec {
    /// NULL once the harness freed its handle.
    ptr: *mut Spooler,
    profile: &'static str,
    cross: bool,
    lenient: bool,
    closed: bool,
    sink: Arc<Sink>,
    sink_id: u64,
    /// Store ids this spooler serves (mentioned by an open or an accepted activity report).
    ids: BTreeSet<String>,
    opens: BTreeMap<String, u64>,
    /// Counters last seen, to check that none goes down.
    last: BTreeMap<String, Stats>,
    transports: Vec<u64>,
    subscribers: Vec<u64>,
}

enum Owner {
    Spooler { rec: usize, id: String },
    External { cb: Arc<Callback> },
}

struct StoreRec {
    ptr: *mut Store,
    refs: u32,
    owner: Owner,
    lenient: bool,
    invalidated: bool,
    saved: Option<u32>,
}

struct Harness {
    dir: PathBuf,
    gate: Arc<Gate>,
    spoolers: Vec<SpoolerRec>,
    slots: [Option<usize>; SLOTS],
    stores: Vec<StoreRec>,
    /// Every callback context handed to the library, and whether the registration succeeded
    /// (then it must be freed exactly once, else never).
    callbacks: Vec<(Arc<Callback>, bool)>,
    /// The current target of activity reports, reads and opens.
    target_slot: usize,
    target: IdArg,
}

/// `MAPI_LOGOFF_FUZZ_TRACE=1` prints each call's number, for reading a failing input.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("MAPI_LOGOFF_FUZZ_TRACE").is_some())
}

/// Most calls a run makes, so that one input stays quick.
const MAX_OPS: usize = 400;

/// Runs one input. Panics, with what went wrong, when an invariant breaks.
pub fn run(data: &[u8]) {
    let mut h = Harness::new();
    let mut r = Reader { data, pos: 0 };
    for _ in 0..MAX_OPS {
        let Some(op) = r.byte() else { break };
        h.step(op, &mut r);
        h.check_all();
    }
    h.finish();
}

impl Harness {
    fn new() -> Harness {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mapi-logoff-fuzz-{}-{}",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary runtime dir");
        // The registry refuses a directory that group or others can reach.
        std::fs::set_permissions(
            &dir,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .expect("a private runtime dir");
        Harness {
            dir,
            gate: Arc::new(Gate {
                open: Mutex::new(false),
                cv: Condvar::new(),
            }),
            spoolers: Vec::new(),
            slots: [None; SLOTS],
            stores: Vec::new(),
            callbacks: Vec::new(),
            target_slot: 0,
            target: id_from(b"s0".to_vec()),
        }
    }

    /// One call. Activity reports, reads and opens act on the current target (a spooler slot
    /// and a store id, chosen by op 0), so that sequences on one store stay dense in the input.
    fn step(&mut self, op: u8, r: &mut Reader) {
        let op = op % 32;
        if trace() {
            eprintln!(
                "op {op} at byte {} (target {} {:?})",
                r.pos - 1,
                self.target_slot,
                self.target.valid
            );
        }
        match op {
            0 => self.select_target(r),
            1 | 2 | 30 => self.report(Report::Submit, true, false, r),
            3 | 31 => self.report(Report::BeginSend, true, false, r),
            4 => self.report(Report::EndSend, true, false, r),
            5 => self.report(Report::EndSend, false, false, r),
            6 | 7 => self.report(Report::BeginReceive, true, false, r),
            8 => self.report(Report::EndReceive, true, false, r),
            9 => {
                let kind = [
                    Report::Submit,
                    Report::BeginSend,
                    Report::EndSend,
                    Report::BeginReceive,
                    Report::EndReceive,
                ][r.pick(5)];
                self.report(kind, true, true, r)
            }
            10 => self.read(false, false, r),
            11 => {
                let null_spooler = r.bit();
                self.read(null_spooler, !null_spooler, r)
            }
            12 | 13 => self.open_store(false, false, r),
            14 => {
                let null_spooler = r.bit();
                self.open_store(null_spooler, !null_spooler, r)
            }
            15 => self.add_ref(r),
            16 => self.release(r),
            17 => self.logoff(r),
            18 => self.logoff_transports(r),
            19 => self.set_lenient(r),
            20 => self.store_new(r),
            21 => self.add_transport(r),
            22 => self.remove_transport(r),
            23 => self.subscribe(r),
            24 => self.unsubscribe(r),
            25 => self.set_purge_deadline(r),
            26 => self.close(r),
            27 => self.free_spooler(r),
            28 => self.null_handle(r),
            _ => self.pure(r),
        }
    }

    fn select_target(&mut self, r: &mut Reader) {
        self.target_slot = r.pick(SLOTS);
        self.target = id_arg(r);
    }

    /// The current target's spooler record (created first if its slot is empty).
    fn target_spooler(&mut self, r: &mut Reader) -> usize {
        self.spooler(self.target_slot, r)
    }
}
