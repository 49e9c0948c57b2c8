//! The core's `Error` as a Python exception and back. The class for each HRESULT is chosen
//! in one place, `mapi_logoff._errors._from_native`.

use mapi_logoff::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

fn from_native(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static CELL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    CELL.import(py, "mapi_logoff._errors", "_from_native")
}

fn build(py: Python<'_>, error: Error, out_flags: Option<u32>) -> PyErr {
    build_with(py, error, error.to_string(), out_flags)
}

fn build_with(py: Python<'_>, error: Error, message: String, out_flags: Option<u32>) -> PyErr {
    match from_native(py).and_then(|f| f.call1((error.hresult_bits(), message, out_flags))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failure) => failure,
    }
}

/// The `MapiError` subclass for `error`.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    build(py, error, None)
}

/// The `MapiError` subclass for a spooler that could not be created, with the message
/// that says why (for a refused registry directory: the path and the fix).
pub fn create_error(py: Python<'_>, e: mapi_logoff::CreateError) -> PyErr {
    build_with(py, e.error, format!("{}: {}", e.error, e.message), None)
}

/// `MapiTimeoutError` carrying what the call wrote back.
pub fn timeout(py: Python<'_>, out_flags: u32) -> PyErr {
    build(py, Error::Timeout, Some(out_flags))
}

/// A core result as a Python one.
pub fn ok<T>(py: Python<'_>, result: mapi_logoff::Result<T>) -> PyResult<T> {
    result.map_err(|e| to_pyerr(py, e))
}

/// The HRESULT a Python callback's exception stands for: a `MapiError`'s own, anything
/// else `MAPI_E_CALL_FAILED`. `None` when it is not a `MapiError` (a bug in the callback).
pub fn mapi_error_of(py: Python<'_>, err: &PyErr) -> Option<Error> {
    static MAPI_ERROR: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
    let class = MAPI_ERROR
        .import(py, "mapi_logoff._errors", "MapiError")
        .ok()?;
    let value = err.value(py);
    if !value.is_instance(class).unwrap_or(false) {
        return None;
    }
    let hresult = value
        .getattr("hresult")
        .and_then(|h| h.extract::<i64>())
        .ok()
        // Unsigned (0x80070057) or as Windows declares it (negative): the same 32 bits.
        .and_then(|h| Error::from_hresult((h & 0xFFFF_FFFF) as u32 as i32));
    Some(hresult.unwrap_or(Error::CallFailed))
}
