//! The clients: each one's script as a task on the virtual clock (OpenMsgStore,
//! StoreLogoff, StoreLogoffTransports, Release), with the deadline and once-per-handle
//! checks of `--seeds`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mapi_logoff::{Activity, Error, LogoffFlags, Store};

use super::ms;
use super::shared::{DECISIONS, Shared};
use crate::scenario::{Action, Step};
use crate::spec::{activity_names, logoff_names, mode_label};

/// One client's script, as a task: it may wait inside a PURGE.
pub(super) fn client_task(shared: Arc<Shared>, client: String, steps: Vec<Step>) {
    let spooler = shared.spooler();
    let mut handles: HashMap<String, Store> = HashMap::new();
    // Handles whose provider's own StoreLogoffTransports answered COMPLETE.
    let mut logged_off: HashSet<String> = HashSet::new();
    let deadline = shared.purge_deadline_ms;
    for step in steps {
        let now = shared.now_ms();
        if step.at_ms > now {
            shared.rt.sleep(ms(step.at_ms - now));
        }
        if shared.stopped() {
            break;
        }
        let store = step.store.as_str();
        let by = if client == store {
            String::new()
        } else {
            format!(" by {client}")
        };
        let mode = mode_label(step.flags);
        if step.action == Action::Open {
            match spooler.open_store(store) {
                Ok(h) => {
                    handles.insert(store.to_owned(), h);
                    shared.record(store, "open", format!("OpenMsgStore{by}"));
                }
                Err(e) => shared.record(store, "error", format!("OpenMsgStore{by}: {}", e.name())),
            }
            continue;
        }
        let Some(handle) = handles.get(store).cloned() else {
            // The open failed: the step has no handle to act on.
            shared.record(store, "error", format!("{:?}{by}: no handle", step.action));
            continue;
        };
        match step.action {
            Action::Open => unreachable!("handled above"),
            Action::Logoff => {
                let mut flags = step.flags;
                match handle.logoff(&mut flags) {
                    Ok(()) => shared.record(
                        store,
                        "logoff",
                        format!(
                            "StoreLogoff({mode}){by} → activity {}",
                            activity_names(Activity::from_bits_retain(flags))
                        ),
                    ),
                    Err(e) => shared.record(
                        store,
                        "error",
                        format!("StoreLogoff({mode}){by}: {}, nothing changes", e.name()),
                    ),
                }
            }
            Action::LogoffTransports => {
                shared.record(
                    store,
                    "logoff_transports",
                    format!("StoreLogoffTransports({mode}){by}, from the provider"),
                );
                let mut flags = step.flags;
                let t0 = shared.now_ms();
                let result = handle.logoff_transports(&mut flags);
                let took = shared.now_ms() - t0;
                if took > deadline {
                    shared.violation(format!(
                        "StoreLogoffTransports({mode}) of {store} returned after {took} ms, past the {deadline} ms deadline"
                    ));
                }
                // COMPLETE (also with MAPI_E_TIMEOUT) invalidates the handle.
                if matches!(result, Ok(()) | Err(Error::Timeout))
                    && flags & LogoffFlags::COMPLETE.bits() != 0
                {
                    logged_off.insert(store.to_owned());
                }
                let hresult = result.err().map_or("S_OK", Error::name);
                shared.record(
                    store,
                    "logoff_transports",
                    format!("returned {hresult}, flags {}", logoff_names(flags)),
                );
            }
            Action::Release => {
                shared.record(store, "release", format!("Release(){by}"));
                let t0 = shared.now_ms();
                let before = DECISIONS.with(|d| d.get());
                let left = handle.release();
                let took = shared.now_ms() - t0;
                if left == 0 {
                    handles.remove(store);
                    let done_before = logged_off.remove(store);
                    // StoreLogoffTransports exactly once per handle: on its final release,
                    // unless the provider's own call already answered COMPLETE.
                    let calls = DECISIONS.with(|d| d.get()) - before;
                    let want = u64::from(!done_before);
                    if calls != want {
                        shared.violation(format!(
                            "the final Release() of {store}{by} made {calls} StoreLogoffTransports calls, not {want}"
                        ));
                    }
                }
                if took > deadline {
                    shared.violation(format!(
                        "Release() of {store}{by} returned after {took} ms, past the {deadline} ms deadline"
                    ));
                }
                if took >= 20 {
                    shared.record(
                        store,
                        "release_returned",
                        format!("Release(){by} returned after {took} ms"),
                    );
                }
            }
        }
    }
    shared.clients_left.fetch_sub(1, Ordering::Relaxed);
}
