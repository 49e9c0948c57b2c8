//! `Store`: a client's handle on a message store (`IMsgStore` side).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mapi_logoff::{Error, LogoffFlags};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::callbacks::{PySupport, take_support_error};
use crate::convert::{self, Bits};
use crate::errors::{ok, timeout, to_pyerr};

/// Whether a final release with the mode `logoff` wrote back (its flag, without the
/// activity) returns at once: PURGE waits for the transports, and ABORT (also the mode of a
/// store never logged off) may wait for cancellations.
fn returns_at_once(mode_flag: u32) -> bool {
    let at_once = LogoffFlags::NO_WAIT | LogoffFlags::ORDERLY | LogoffFlags::QUIET;
    mode_flag & LogoffFlags::INPUT_MASK & !at_once.bits() == 0
}

/// A client's handle on a message store, reference counted like a COM object.
#[pyclass(frozen, name = "Store", module = "mapi_logoff")]
pub struct PyStore {
    inner: mapi_logoff::Store,
    /// The mode saved by the last accepted `logoff` makes the final release return at
    /// once; false until then. Only `logoff` sets it, with the GIL held, as only it
    /// changes the saved mode: `release` reads it with the GIL held, so it cannot change
    /// between the read and the release.
    releases_at_once: AtomicBool,
}

impl PyStore {
    pub fn from_core(inner: mapi_logoff::Store) -> PyStore {
        PyStore {
            inner,
            releases_at_once: AtomicBool::new(false),
        }
    }
}

#[pymethods]
impl PyStore {
    /// A handle with reference count 1 on a caller-supplied support: an object with
    /// `store_logoff_transports(flags) -> out_flags` and optionally `activity() -> int`.
    /// `strict` opts the handle's `logoff` in to strict validation from the start.
    #[new]
    #[pyo3(signature = (support, *, strict = false), text_signature = "(support, *, strict=False)")]
    fn new(support: &Bound<'_, PyAny>, strict: bool) -> PyResult<PyStore> {
        let support = PySupport::new(support)?;
        Ok(PyStore::from_core(mapi_logoff::Store::new_with_validation(
            Arc::new(support),
            strict,
        )))
    }

    /// StoreLogoff: validates `flags`, saves the mode for the final release and returns
    /// what the C call writes back: the mode's flag with the store's current activity.
    /// Performs no logoff.
    fn logoff<'py>(&self, py: Python<'py>, flags: Bits) -> PyResult<Bound<'py, PyAny>> {
        let mut bits = flags.0;
        ok(py, self.inner.logoff(&mut bits))?;
        // The written-back bits hold the saved mode's flag (and the activity).
        self.releases_at_once
            .store(returns_at_once(bits), Ordering::Relaxed);
        convert::logoff_flags(py, bits)
    }

    /// StoreLogoffTransports now, for the provider: returns the out_flags. A PURGE waits
    /// with the GIL released; past the deadline it raises `MapiTimeoutError` carrying
    /// `out_flags`. An answer with COMPLETE invalidates the handle.
    fn logoff_transports<'py>(&self, py: Python<'py>, flags: Bits) -> PyResult<Bound<'py, PyAny>> {
        let store = self.inner.clone();
        let (result, bits) = py.detach(move || {
            let mut bits = flags.0;
            let result = store.logoff_transports(&mut bits);
            (result, bits)
        });
        // The exception a caller-supplied support raised, as it was raised.
        let support_error = take_support_error();
        match result {
            Ok(()) => convert::logoff_flags(py, bits),
            Err(_) if support_error.is_some() => Err(support_error.expect("checked")),
            Err(Error::Timeout) => Err(timeout(py, bits)),
            Err(e) => Err(to_pyerr(py, e)),
        }
    }

    /// AddRef: the new count, or 0 (and no change) once finally released.
    fn add_ref(&self) -> u64 {
        self.inner.add_ref()
    }

    /// Release: the new count. The final release logs off with the saved mode (ABORT if
    /// none); a saved PURGE waits, with the GIL released.
    fn release(&self, py: Python<'_>) -> u64 {
        // Releasing the GIL and taking it back costs about as much as an empty call, so it
        // is done only where the release may wait for another thread that needs the GIL.
        if self.releases_at_once.load(Ordering::Relaxed) {
            return self.inner.release();
        }
        let store = self.inner.clone();
        py.detach(move || store.release())
    }

    /// The reference count (0 once finally released).
    #[getter]
    fn ref_count(&self) -> u64 {
        self.inner.ref_count()
    }

    /// Whether calls other than add_ref/release are still accepted.
    #[getter]
    fn is_valid(&self) -> bool {
        self.inner.is_valid()
    }

    /// The store id, for a store opened on a Spooler; `None` on a caller-supplied support.
    #[getter]
    fn store_id(&self) -> Option<&str> {
        self.inner.store_id()
    }

    /// The mode saved by the last accepted `logoff`, if any.
    #[getter]
    fn saved_mode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::mode(py, self.inner.saved_mode())
    }

    /// Opts this handle's `logoff` in to (or out of) strict validation.
    fn set_strict(&self, strict: bool) {
        self.inner.set_strict(strict);
    }

    /// Whether this handle's `logoff` validates strictly.
    #[getter]
    fn strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn __enter__(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        if slf.get().inner.ref_count() == 0 {
            return Err(to_pyerr(slf.py(), Error::InvalidObject));
        }
        Ok(slf)
    }

    /// Releases the reference the `with` statement held.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) {
        // None: an exception raised in the block propagates.
        self.release(py);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Store(store_id={}, ref_count={}, valid={})",
            convert::str_repr(py, self.inner.store_id()),
            self.inner.ref_count(),
            if self.inner.is_valid() {
                "True"
            } else {
                "False"
            }
        )
    }
}
