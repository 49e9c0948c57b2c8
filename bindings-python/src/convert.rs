//! Conversions at the Python boundary: arguments in (checked, never guessed), the core's
//! values out as the Python types of `mapi_logoff._types`.

use std::time::{Duration, Instant};

use mapi_logoff::{CloseReport, Decision, Event, Mode, StoreStats};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyList, PyString};

use crate::errors::to_pyerr;

/// A flags or activity argument: an `int` (or `IntFlag`) that fits in 32 unsigned bits.
/// A `bool` is a `TypeError`, not the flag `1`; out of range is pyo3's `OverflowError`.
pub struct Bits(pub u32);

impl FromPyObject<'_, '_> for Bits {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("flags are an int, not a bool"));
        }
        Ok(Bits(obj.extract::<u32>()?))
    }
}

/// A store id or profile: a `str`. One that is not valid UTF-8 (lone surrogates) is
/// `MAPI_E_INVALID_PARAMETER`, as SPEC §6 says of invalid ids; the core rejects empty ones.
pub struct Name(pub String);

impl FromPyObject<'_, '_> for Name {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let s = obj.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a str, not {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        match s.to_cow() {
            Ok(s) => Ok(Name(s.into_owned())),
            Err(_) => Err(to_pyerr(obj.py(), mapi_logoff::Error::InvalidParameter)),
        }
    }
}

/// A deadline: seconds as an `int` or `float`, or a `datetime.timedelta`. Negative, NaN,
/// infinite or too large for the clock is a `ValueError`.
pub struct Seconds(pub Duration);

impl Seconds {
    pub const THIRTY: Seconds = Seconds(Duration::from_secs(30));
}

impl FromPyObject<'_, '_> for Seconds {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        static TIMEDELTA: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
        let py = obj.py();
        let secs: f64 = if obj.is_instance(TIMEDELTA.import(py, "datetime", "timedelta")?)? {
            obj.call_method0("total_seconds")?.extract()?
        } else if obj.is_instance_of::<PyBool>() {
            return Err(PyTypeError::new_err("a deadline is seconds, not a bool"));
        } else {
            obj.extract()?
        };
        let d = Duration::try_from_secs_f64(secs)
            .map_err(|_| PyValueError::new_err(format!("invalid deadline: {secs} seconds")))?;
        if Instant::now().checked_add(d).is_none() {
            return Err(PyValueError::new_err(format!(
                "deadline too large: {secs} seconds"
            )));
        }
        Ok(Seconds(d))
    }
}

macro_rules! py_type {
    ($fn:ident, $name:literal) => {
        fn $fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
            static CELL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
            CELL.import(py, "mapi_logoff._types", $name)
        }
    };
}

py_type!(logoff_flags_type, "LogoffFlags");
py_type!(flush_flags_type, "FlushFlags");
py_type!(release_type, "Release");
py_type!(decision_type, "Decision");
py_type!(event_type, "Event");
py_type!(stats_type, "StoreStats");
py_type!(close_report_type, "CloseReport");

/// `LogoffFlags(bits)`.
pub fn logoff_flags(py: Python<'_>, bits: u32) -> PyResult<Bound<'_, PyAny>> {
    logoff_flags_type(py)?.call1((bits,))
}

/// `FlushFlags(bits)`.
pub fn flush_flags(py: Python<'_>, bits: u32) -> PyResult<Bound<'_, PyAny>> {
    flush_flags_type(py)?.call1((bits,))
}

/// The mode's flag as `LogoffFlags`, or `None`.
pub fn mode(py: Python<'_>, mode: Option<Mode>) -> PyResult<Bound<'_, PyAny>> {
    match mode {
        Some(m) => logoff_flags(py, m.flag().bits()),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A `Decision`.
pub fn decision<'py>(py: Python<'py>, d: &Decision) -> PyResult<Bound<'py, PyAny>> {
    decision_type(py)?.call1((
        logoff_flags(py, d.out_flags.bits())?,
        release_type(py)?.call1((d.release.value(),))?,
        flush_flags(py, d.flush_flags.bits())?,
        logoff_flags(py, d.allowed.bits())?,
        d.waits,
    ))
}

/// An `Event`.
pub fn event<'py>(py: Python<'py>, e: &Event) -> PyResult<Bound<'py, PyAny>> {
    let decision = match &e.decision {
        Some(d) => decision(py, d)?,
        None => py.None().into_bound(py),
    };
    event_type(py)?.call1((
        e.kind.name(),
        &*e.store_id,
        mode(py, e.mode)?,
        logoff_flags(py, e.out_flags.bits())?,
        decision,
        e.detail.as_deref(),
    ))
}

/// A `StoreStats`.
pub fn stats<'py>(py: Python<'py>, s: &StoreStats) -> PyResult<Bound<'py, PyAny>> {
    stats_type(py)?.call1((
        s.queued,
        s.sending,
        s.receiving,
        s.submitted,
        s.sent,
        s.receptions,
        s.received,
        logoff_flags(py, s.allowed.bits())?,
        logoff_flags(py, s.activity().bits())?,
        s.clients,
        s.released,
        mode(py, s.pending)?,
    ))
}

/// A `CloseReport`.
pub fn close_report<'py>(py: Python<'py>, r: &CloseReport) -> PyResult<Bound<'py, PyAny>> {
    let undrained = PyList::empty(py);
    for (id, activity) in &r.undrained {
        undrained.append((id, logoff_flags(py, activity.bits())?))?;
    }
    close_report_type(py)?.call1((&r.released, undrained))
}

/// Python's `repr` of a str (or `None`), for `__repr__`.
pub fn str_repr(py: Python<'_>, s: Option<&str>) -> String {
    match s {
        Some(s) => PyString::new(py, s)
            .repr()
            .map_or_else(|_| format!("{s:?}"), |r| r.to_string()),
        None => "None".to_owned(),
    }
}
