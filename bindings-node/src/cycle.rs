//! The store cycle through a shared buffer.
//!
//! napi-rs does per-call bookkeeping (an allocation and a lock) for a function that takes
//! arguments, and none for one that takes none; on the idle store cycle that was the
//! largest cost after the core's own work. So the cycle's calls also come in a form taking
//! no arguments: `lib/mapi-logoff.js` writes them into an `ArrayBuffer` shared with this
//! module ([`store_args_buffer`], one per JS environment) and calls the `*_args` function
//! at once, which reads them before doing anything that could reach JS. The layout is
//! `Args`; the JS side checks every argument as before (and uses the argument-taking
//! functions for what does not fit: a store id that is not ASCII or is too long). The
//! `*_args` functions are plain Node-API callbacks ([`store_cycle_functions`]), not
//! `#[napi]` ones: napi-rs's wrapper still costs a borrow barrier per call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use mapi_logoff as ml;
use napi::bindgen_prelude::{Env, Status};
use napi::sys;
use napi_derive::napi;

use crate::handles::{JS, JsThread, open_store_in};
use crate::mapi_error;
use crate::store::{count_for_js, logoff_in, releases_at_once, store_release};
#[cfg(doc)]
use crate::store::{spooler_open_store, store_logoff};

/// Bytes of store id the buffer holds.
const ARGS_ID_CAP: usize = 1024;

/// The shared buffer: `handle` at byte 0 (a store handle), `word` at 8 (a spooler handle,
/// or logoff flags), `len` at 12 (the store id's length in bytes), `pending` at 16 (set by
/// JS with the arguments, cleared here when they are read), the id's bytes from 24.
///
/// The functions find their buffer by `pending`: a thread runs one call at a time, and
/// each is read before the call can reach JS, so only the calling environment's buffer is
/// pending.
#[repr(C, align(8))]
pub(crate) struct Args {
    handle: f64,
    word: u32,
    len: u32,
    pending: u32,
    _pad: u32,
    id: [u8; ARGS_ID_CAP],
}

/// Frees a buffer when its environment's `ArrayBuffer` is collected (at its teardown: the
/// package keeps it for its lifetime).
unsafe extern "C" fn free_args(
    _env: sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    let args = data.cast::<Args>();
    let _ = JS.try_with(|js| js.borrow_mut().args.retain(|&(_, p)| p != args));
    // SAFETY: `data` is the `Box<Args>` leaked by `store_args_buffer`, freed only here.
    drop(unsafe { Box::from_raw(args) });
}

/// The `ArrayBuffer` over this environment's [`Args`].
pub struct ArgsBuffer;

impl napi::bindgen_prelude::ToNapiValue for ArgsBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, _: Self) -> napi::Result<sys::napi_value> {
        let args = Box::into_raw(Box::new(Args {
            handle: 0.0,
            word: 0,
            len: 0,
            pending: 0,
            _pad: 0,
            id: [0; ARGS_ID_CAP],
        }));
        let mut value = ptr::null_mut();
        // SAFETY: `args` lives until `free_args`, which V8 calls once the buffer is gone.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(
                env,
                args.cast(),
                std::mem::size_of::<Args>(),
                Some(free_args),
                ptr::null_mut(),
                &mut value,
            )
        };
        if status != sys::Status::napi_ok {
            // SAFETY: not handed to V8.
            drop(unsafe { Box::from_raw(args) });
            return Err(napi::Error::new(
                Status::GenericFailure,
                "no external ArrayBuffer",
            ));
        }
        JS.with_borrow_mut(|js| js.args.push((env, args)));
        Ok(value)
    }
}

/// A new shared buffer for this environment's `*Args` calls (layout: [`Args`]).
#[napi(catch_unwind, ts_return_type = "ArrayBuffer")]
pub fn store_args_buffer() -> ArgsBuffer {
    ArgsBuffer
}

/// The pending arguments among this thread's buffers (`JsThread::args`) and their
/// environment; clears `pending`.
fn take_args(buffers: &[(sys::napi_env, *mut Args)]) -> Option<*mut Args> {
    // SAFETY: a buffer lives while its environment does (then `free_args` removes it from
    // the list); JS writes it only between calls on this thread, and the caller reads it
    // before anything here could call JS.
    let &(_, args) = buffers
        .iter()
        .find(|&&(_, p)| unsafe { (*p).pending } != 0)?;
    unsafe { (*args).pending = 0 };
    Some(args)
}

/// [`spooler_open_store`] with its arguments in the buffer (`word`, `len` and `id`). The
/// store's handle goes back through the buffer (`handle`), not as the call's value: a
/// handle is past V8's small integers, and a number made by Node-API is a heap object
/// allocated the slow way.
fn spooler_open_store_args(_env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    JS.with_borrow_mut(|js| {
        let JsThread {
            spoolers,
            stores,
            args,
        } = js;
        let p = take_args(args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`; nothing writes the buffer while `a` is read.
        let a = unsafe { &*p };
        let id =
            a.id.get(..a.len as usize)
                .ok_or(ml::Error::InvalidParameter)?;
        let id = std::str::from_utf8(id).map_err(|_| ml::Error::InvalidParameter)?;
        let handle = open_store_in(spoolers, stores, a.word, id)?;
        // SAFETY: as above; `a` is no longer used.
        unsafe { (*p).handle = handle };
        Ok(None)
    })
    .map_err(mapi_error)
}

/// [`store_logoff`] with its arguments in the buffer (`handle` and `word`).
fn store_logoff_args(_env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    JS.with_borrow(|js| {
        let p = take_args(&js.args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`.
        let a = unsafe { &*p };
        logoff_in(&js.stores, a.handle, a.word)
    })
    .map(|flags| Some(f64::from(flags)))
    .map_err(mapi_error)
}

/// [`store_release`] with its argument in the buffer (`handle`). A store whose saved mode
/// releases at once is released inside the one borrow; any other goes the general way.
fn store_release_args(env: sys::napi_env) -> napi::Result<Option<f64>, String> {
    let released = JS.with_borrow_mut(|js| {
        let p = take_args(&js.args).ok_or(ml::Error::InvalidObject)?;
        // SAFETY: see `take_args`.
        let handle = unsafe { (*p).handle };
        let Some(slot) = js.stores.slot(handle) else {
            return Ok(Err(handle));
        };
        let mode = slot.mode.get();
        let Some(store) = slot.store.as_ref().filter(|_| releases_at_once(mode)) else {
            return Ok(Err(handle));
        };
        let count = store.release();
        if count > 0 {
            return Ok(Ok((count_for_js(count), None)));
        }
        // Freed with its slot; dropped outside the borrow.
        Ok(Ok((-f64::from(mode), js.stores.remove(handle))))
    });
    match released.map_err(mapi_error)? {
        Ok((result, store)) => {
            drop(store);
            Ok(Some(result))
        }
        Err(handle) => Ok(Some(store_release(Env::from_raw(env), handle))),
    }
}

/// The store cycle's three functions taking no arguments, as plain Node-API callbacks:
/// napi-rs's generated wrapper of a function taking none still keeps a borrow barrier (two
/// thread-locals of napi-rs, entered and left) and converts its result generically, about
/// a tenth of an idle cycle. These do what napi-rs does for a `#[napi(catch_unwind)]`
/// function returning `Result<Option<f64>, String>`: the same result (`undefined` for
/// `None`), the same errors (`code` and message), a panic thrown as napi-rs throws it.
macro_rules! raw_callback {
    ($name:ident, $body:ident) => {
        unsafe extern "C" fn $name(
            env: sys::napi_env,
            _info: sys::napi_callback_info,
        ) -> sys::napi_value {
            let outcome = catch_unwind(AssertUnwindSafe(|| $body(env)));
            let mut value = ptr::null_mut();
            // SAFETY: `env` is the calling environment, on its own thread.
            unsafe {
                match outcome {
                    Ok(Ok(Some(n))) => {
                        sys::napi_create_double(env, n, &mut value);
                    }
                    Ok(Ok(None)) => {
                        sys::napi_get_undefined(env, &mut value);
                    }
                    Ok(Err(e)) => napi::JsError::from(e).throw_into(env),
                    Err(panic) => napi::JsError::from(napi::bindgen_prelude::panic_to_error(panic))
                        .throw_into(env),
                }
            }
            value
        }
    };
}

raw_callback!(open_store_raw, spooler_open_store_args);
raw_callback!(logoff_raw, store_logoff_args);
raw_callback!(release_raw, store_release_args);

/// `{ openStore, logoff, release }`: the store cycle's calls that take their arguments
/// from this environment's buffer ([`store_args_buffer`]).
pub struct CycleFunctions;

impl napi::bindgen_prelude::ToNapiValue for CycleFunctions {
    unsafe fn to_napi_value(env: sys::napi_env, _: Self) -> napi::Result<sys::napi_value> {
        type Raw = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
        let check = |status: sys::napi_status, what: &str| {
            if status == sys::Status::napi_ok {
                Ok(())
            } else {
                Err(napi::Error::new(
                    Status::GenericFailure,
                    format!("cannot create {what}"),
                ))
            }
        };
        let mut object = ptr::null_mut();
        // SAFETY: plain Node-API calls on the calling environment.
        unsafe {
            check(sys::napi_create_object(env, &mut object), "an object")?;
            let functions: [(&std::ffi::CStr, Raw); 3] = [
                (c"openStore", open_store_raw),
                (c"logoff", logoff_raw),
                (c"release", release_raw),
            ];
            for (name, f) in functions {
                let mut function = ptr::null_mut();
                check(
                    sys::napi_create_function(
                        env,
                        name.as_ptr(),
                        name.count_bytes() as isize,
                        Some(f),
                        ptr::null_mut(),
                        &mut function,
                    ),
                    "a function",
                )?;
                check(
                    sys::napi_set_named_property(env, object, name.as_ptr(), function),
                    "a property",
                )?;
            }
        }
        Ok(object)
    }
}

/// The store cycle's calls on the shared buffer, as plain Node-API functions.
#[napi(
    catch_unwind,
    ts_return_type = "{ openStore: () => void, logoff: () => number, release: () => number }"
)]
pub fn store_cycle_functions() -> CycleFunctions {
    CycleFunctions
}
