//! The `store*` functions: a JS `Store`'s methods, as plain functions on its handle (see
//! [`crate::handles`]): open, logoff, logoff of the transports, counts and release, with
//! their `*Async` forms.

use std::panic::{AssertUnwindSafe, catch_unwind};

use mapi_logoff as ml;
use napi::bindgen_prelude::{AsyncTask, Env, Status, Task};
use napi_derive::napi;

use crate::callbacks::EnvScope;
use crate::handles::{JS, Slab, TOMBSTONE, forget_store, open_store_in, store_of, with_store};
use crate::work::Work;
use crate::{hresult_bits, mapi_error};

/// The outcome of StoreLogoffTransports: `hresult` 0 or the failure; `outFlags` is
/// written on success and on `MAPI_E_TIMEOUT`.
#[napi(object)]
pub struct LogoffOutcome {
    pub hresult: u32,
    pub out_flags: u32,
}

fn logoff_transports(store: &ml::Store, flags: u32) -> LogoffOutcome {
    let mut out = flags;
    let result = store.logoff_transports(&mut out);
    LogoffOutcome {
        hresult: hresult_bits(&result),
        out_flags: out,
    }
}

/// Opens a store on the spooler `spooler` (a `NativeSpooler`'s `handle`, which its JS
/// `Spooler` keeps alive): the store's handle for the `store*` functions.
#[napi(catch_unwind)]
pub fn spooler_open_store(spooler: u32, store_id: String) -> napi::Result<f64, String> {
    JS.with_borrow_mut(|js| open_store_in(&js.spoolers, &mut js.stores, spooler, &store_id))
        .map_err(mapi_error)
}

/// What `release` gives JS: the new count, or for the release that returns 0 the negated
/// saved mode's flag (0 if none), which the JS `Store` keeps once its slot is freed.
fn release_result(store: &ml::Store, count: u64) -> f64 {
    if count > 0 {
        return count_for_js(count);
    }
    match store.saved_mode() {
        Some(m) => -f64::from(m.flag().bits()),
        None => 0.0,
    }
}

/// The store id, for a store opened on a spooler.
#[napi(catch_unwind)]
pub fn store_id(handle: f64) -> Option<String> {
    with_store(handle, |s| s.store_id().map(str::to_owned))
}

/// A reference count as a JS number: exact up to 2^53, which no program reaches.
pub(crate) fn count_for_js(count: u64) -> f64 {
    count as f64
}

#[napi(catch_unwind)]
pub fn store_ref_count(handle: f64) -> f64 {
    count_for_js(with_store(handle, ml::Store::ref_count))
}

#[napi(catch_unwind)]
pub fn store_valid(handle: f64) -> bool {
    with_store(handle, ml::Store::is_valid)
}

/// The mode flag saved by the last accepted `logoff`, or null.
#[napi(catch_unwind)]
pub fn store_saved_mode(handle: f64) -> Option<u32> {
    with_store(handle, |s| s.saved_mode().map(|m| m.flag().bits()))
}

#[napi(catch_unwind)]
pub fn store_set_strict(handle: f64, strict: bool) {
    with_store(handle, |s| s.set_strict(strict));
}

#[napi(catch_unwind)]
pub fn store_is_strict(handle: f64) -> bool {
    with_store(handle, ml::Store::is_strict)
}

/// StoreLogoff: saves the mode, returns the mode with the activity.
#[napi(catch_unwind)]
pub fn store_logoff(handle: f64, flags: u32) -> napi::Result<u32, String> {
    JS.with_borrow(|js| logoff_in(&js.stores, handle, flags))
        .map_err(mapi_error)
}

/// StoreLogoff on the store `handle` names in `stores` (the tombstone if none), keeping the
/// saved mode's flag in its slot. The core asks the spooler for the activity: no transport,
/// no JS.
pub(crate) fn logoff_in(stores: &Slab, handle: f64, flags: u32) -> ml::Result<u32> {
    let mut f = flags;
    match stores.slot(handle) {
        Some(slot) => {
            slot.store.as_ref().map_or(Ok(()), |s| s.logoff(&mut f))?;
            slot.mode.set(f & ml::LogoffFlags::INPUT_MASK);
        }
        None => TOMBSTONE.with(|s| s.logoff(&mut f))?,
    }
    Ok(f)
}

/// Whether a final release with this saved mode flag returns at once, reaching no JS and
/// waiting for nothing: PURGE waits for the transports (which may be JS on this thread), and
/// ABORT (also the mode of a store never logged off) may wait for cancellations.
pub(crate) fn releases_at_once(mode_flag: u32) -> bool {
    let at_once = ml::LogoffFlags::NO_WAIT | ml::LogoffFlags::ORDERLY | ml::LogoffFlags::QUIET;
    mode_flag != 0 && mode_flag & !at_once.bits() == 0
}

#[napi(catch_unwind)]
pub fn store_logoff_transports(env: Env, handle: f64, flags: u32) -> LogoffOutcome {
    let store = store_of(handle);
    let _scope = EnvScope::enter(&env);
    logoff_transports(&store, flags)
}

#[napi(catch_unwind, ts_return_type = "Promise<LogoffOutcome>")]
pub fn store_logoff_transports_async(handle: f64, flags: u32) -> AsyncTask<Work<LogoffOutcome>> {
    let store = store_of(handle);
    Work::task(move || logoff_transports(&store, flags))
}

#[napi(catch_unwind)]
pub fn store_add_ref(handle: f64) -> f64 {
    count_for_js(with_store(handle, ml::Store::add_ref))
}

/// IUnknown::Release; the result as [`release_result`] gives it.
#[napi(catch_unwind)]
pub fn store_release(env: Env, handle: f64) -> f64 {
    let store = store_of(handle);
    let count = {
        let _scope = EnvScope::enter(&env);
        store.release()
    };
    if count == 0 {
        forget_store(handle);
    }
    release_result(&store, count)
}

/// [`store_release`] on a worker thread; the slot is freed on the JS thread.
#[napi(catch_unwind, ts_return_type = "Promise<number>")]
pub fn store_release_async(handle: f64) -> AsyncTask<ReleaseTask> {
    AsyncTask::new(ReleaseTask {
        store: store_of(handle),
        handle,
    })
}

pub struct ReleaseTask {
    store: ml::Store,
    handle: f64,
}

impl Task for ReleaseTask {
    type Output = u64;
    type JsValue = f64;

    fn compute(&mut self) -> napi::Result<u64> {
        catch_unwind(AssertUnwindSafe(|| self.store.release()))
            .map_err(|_| napi::Error::new(Status::GenericFailure, "panic in a worker thread"))
    }

    fn resolve(&mut self, _env: Env, count: u64) -> napi::Result<f64> {
        if count == 0 {
            forget_store(self.handle);
        }
        Ok(release_result(&self.store, count))
    }
}
