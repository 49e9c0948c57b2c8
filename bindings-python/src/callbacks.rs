//! Python objects as the core's callbacks: transports, subscribers and a caller-supplied
//! Support. Each call attaches to the interpreter for as long as the Python code runs, so
//! the core may call them from any thread, including one that detached to wait.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex};

use mapi_logoff::{Activity, Error, Event, FlushFlags, Subscriber, Support, Transport};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::convert::{self, Bits};
use crate::errors::mapi_error_of;

/// Python callbacks running now, and whether the interpreter began shutting down.
static CALLBACKS: Mutex<(usize, bool)> = Mutex::new((0, false));
static CALLBACKS_DONE: Condvar = Condvar::new();

/// Runs `f` attached to the interpreter, unless the interpreter began shutting down (then
/// `None`: no Python code runs). A callback that started before keeps the interpreter's
/// finalization waiting until it returns ([`shutdown`]), so it never runs, or releases the
/// GIL, while the interpreter is being torn down.
pub fn attach<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> Option<R> {
    {
        let mut c = CALLBACKS.lock().unwrap_or_else(|p| p.into_inner());
        if c.1 {
            return None;
        }
        c.0 += 1;
    }
    let result = Python::try_attach(f);
    let mut c = CALLBACKS.lock().unwrap_or_else(|p| p.into_inner());
    c.0 -= 1;
    if c.0 == 0 {
        CALLBACKS_DONE.notify_all();
    }
    result
}

/// Registered with `atexit` when the module loads: from now on no callback starts (a
/// transport's flush fails with `MAPI_E_CALL_FAILED`, an event reaches no subscriber), and
/// the interpreter's exit waits, without the GIL, for the callbacks still running, as it
/// waits for a non-daemon thread.
pub fn shutdown(py: Python<'_>) {
    py.detach(|| {
        let mut c = CALLBACKS.lock().unwrap_or_else(|p| p.into_inner());
        c.1 = true;
        while c.0 > 0 {
            c = CALLBACKS_DONE.wait(c).unwrap_or_else(|p| p.into_inner());
        }
    });
}

/// The HRESULT for a callback's exception. A `MapiError` is a deliberate failure with its
/// own HRESULT; anything else is a bug in the callback, shown through
/// `sys.unraisablehook` (nobody can catch it) and reported as `MAPI_E_CALL_FAILED`.
fn failure(py: Python<'_>, err: PyErr, callback: &Py<PyAny>) -> Error {
    match mapi_error_of(py, &err) {
        Some(e) => e,
        None => {
            err.write_unraisable(py, Some(callback.bind(py)));
            Error::CallFailed
        }
    }
}

/// A transport: an object's `flush_queues(store_id, flags)` method, or a callable; an
/// object with a `cancel(store_id)` method as well can cancel its transfers in flight.
pub struct PyTransport {
    flush_queues: Py<PyAny>,
    cancel: Option<Py<PyAny>>,
}

impl PyTransport {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<PyTransport> {
        let flush_queues = match obj.getattr_opt("flush_queues")? {
            Some(method) if method.is_callable() => method,
            _ if obj.is_callable() => obj.clone(),
            _ => {
                return Err(PyTypeError::new_err(
                    "a transport is an object with a flush_queues(store_id, flags) method, \
                     or a callable taking (store_id, flags)",
                ));
            }
        };
        let cancel = match obj.getattr_opt("cancel")? {
            Some(method) if method.is_callable() => Some(method.unbind()),
            _ => None,
        };
        Ok(PyTransport {
            flush_queues: flush_queues.unbind(),
            cancel,
        })
    }
}

impl Transport for PyTransport {
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> mapi_logoff::Result<()> {
        attach(|py| {
            let result = convert::flush_flags(py, flags.bits())
                .and_then(|f| self.flush_queues.call1(py, (store_id, f)));
            result
                .map(drop)
                .map_err(|err| failure(py, err, &self.flush_queues))
        })
        // The interpreter is shutting down: no Python code can run.
        .unwrap_or(Err(Error::CallFailed))
    }

    fn can_cancel(&self, _store_id: &str) -> bool {
        self.cancel.is_some()
    }

    fn cancel(&self, store_id: &str) -> mapi_logoff::Result<()> {
        let Some(cancel) = &self.cancel else {
            return Err(Error::NoSupport);
        };
        attach(|py| {
            cancel
                .call1(py, (store_id,))
                .map(drop)
                .map_err(|err| failure(py, err, cancel))
        })
        // The interpreter is shutting down: the transfer counts as not cancellable.
        .unwrap_or(Err(Error::CallFailed))
    }
}

/// A subscriber: any callable, given each `Event`. It cannot fail the spooler: an
/// exception goes to `sys.unraisablehook`.
pub fn subscriber(obj: &Bound<'_, PyAny>) -> PyResult<Subscriber> {
    if !obj.is_callable() {
        return Err(PyTypeError::new_err(
            "a subscriber is a callable taking one Event",
        ));
    }
    let callback = obj.clone().unbind();
    Ok(Arc::new(move |event: &Event| {
        attach(|py| {
            let result = convert::event(py, event).and_then(|e| callback.call1(py, (e,)));
            if let Err(err) = result {
                err.write_unraisable(py, Some(callback.bind(py)));
            }
        });
    }))
}

thread_local! {
    /// The exception of the last failed Support call on this thread, for the caller of
    /// `Store.logoff_transports` to re-raise (the core only carries the HRESULT).
    static SUPPORT_ERROR: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Takes the exception of this thread's last failed Support call.
pub fn take_support_error() -> Option<PyErr> {
    SUPPORT_ERROR.with(|e| e.borrow_mut().take())
}

/// A caller-supplied Support: an object with `store_logoff_transports(flags) -> out_flags`
/// and, optionally, `activity() -> int`.
pub struct PySupport {
    obj: Py<PyAny>,
}

impl PySupport {
    pub fn new(obj: &Bound<'_, PyAny>) -> PyResult<PySupport> {
        match obj.getattr_opt("store_logoff_transports")? {
            Some(method) if method.is_callable() => Ok(PySupport {
                obj: obj.clone().unbind(),
            }),
            _ => Err(PyTypeError::new_err(
                "a support is an object with a store_logoff_transports(flags) method \
                 returning the out_flags",
            )),
        }
    }

    fn call(&self, py: Python<'_>, flags: &mut u32) -> mapi_logoff::Result<()> {
        let result = convert::logoff_flags(py, *flags)
            .and_then(|f| self.obj.call_method1(py, "store_logoff_transports", (f,)))
            .and_then(|out| out.extract::<Bits>(py));
        match result {
            Ok(Bits(out)) => {
                *flags = out;
                Ok(())
            }
            Err(err) => {
                let error = mapi_error_of(py, &err).unwrap_or(Error::CallFailed);
                if error == Error::Timeout {
                    // A timed-out call still writes its out_flags (PURGE).
                    if let Ok(out) = err
                        .value(py)
                        .getattr("out_flags")
                        .and_then(|o| o.extract::<u32>())
                    {
                        *flags = out;
                    }
                }
                SUPPORT_ERROR.with(|e| *e.borrow_mut() = Some(err));
                Err(error)
            }
        }
    }
}

impl Support for PySupport {
    fn store_logoff_transports(&self, flags: &mut u32) -> mapi_logoff::Result<()> {
        attach(|py| self.call(py, flags)).unwrap_or(Err(Error::CallFailed))
    }

    fn final_release(&self, flags: &mut u32) -> mapi_logoff::Result<()> {
        attach(|py| {
            // A final release can run inside Store.logoff_transports: keep that call's error.
            let outer = take_support_error();
            let result = self.call(py, flags);
            if let Some(err) = take_support_error() {
                // Release has no caller to raise to.
                err.write_unraisable(py, Some(self.obj.bind(py)));
            }
            SUPPORT_ERROR.with(|e| *e.borrow_mut() = outer);
            result
        })
        .unwrap_or(Err(Error::CallFailed))
    }

    fn activity(&self) -> Activity {
        attach(|py| {
            let obj = self.obj.bind(py);
            let activity = match obj.getattr_opt("activity") {
                Ok(None) => return Activity::empty(),
                Ok(Some(method)) => {
                    method
                        .call0()
                        .and_then(|a| a.extract::<Bits>())
                        .and_then(|Bits(bits)| {
                            Activity::from_bits(bits)
                                .ok_or_else(|| crate::errors::to_pyerr(py, Error::UnknownFlags))
                        })
                }
                Err(err) => Err(err),
            };
            activity.unwrap_or_else(|err| {
                err.write_unraisable(py, Some(obj));
                Activity::empty()
            })
        })
        .unwrap_or_default()
    }
}
