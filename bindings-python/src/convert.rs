//! Conversions at the Python boundary: arguments in (checked, never guessed), the core's
//! values out as the Python types of `mapi_logoff._types`.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use mapi_logoff::{
    Activity, CloseReport, Decision, Event, FlushFlags, LogoffFlags, Mode, StoreStats,
};
use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyList, PyString, PyTuple};

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
/// `MAPI_E_INVALID_PARAMETER`, as the protocol says of invalid ids; the core rejects empty ones.
/// Held as the `bytes` of its UTF-8 encoding and lent to the core as a `&str`: no copy into a
/// `String` (the core takes `&str`, and copies an id only for a store it has not seen).
pub struct Name<'py>(Bound<'py, PyBytes>);

impl Name<'_> {
    pub fn as_str(&self) -> &str {
        // Python's own UTF-8 encoder wrote these bytes, so this cannot fail; if it did, the
        // empty id would be rejected by the core with the same MAPI_E_INVALID_PARAMETER.
        std::str::from_utf8(self.0.as_bytes()).unwrap_or_default()
    }
}

impl<'py> FromPyObject<'_, 'py> for Name<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let s = obj.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a str, not {}",
                obj.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        let py = obj.py();
        // The same `str` object again (a literal, a variable reused): its bytes as last time.
        let cached = LAST_NAME.with_borrow(|c| {
            c.as_ref()
                .filter(|(id, _)| id.is(&*s))
                .map(|(_, bytes)| bytes.clone_ref(py))
        });
        if let Some(bytes) = cached {
            return Ok(Name(bytes.into_bound(py)));
        }
        let bytes = s
            .encode_utf8()
            .map_err(|_| to_pyerr(py, mapi_logoff::Error::InvalidParameter))?;
        if s.is_exact_instance_of::<PyString>() {
            let entry = (s.to_owned().unbind(), bytes.clone().unbind());
            // The entry it replaces is dropped outside the borrow.
            drop(LAST_NAME.with_borrow_mut(|c| c.replace(entry)));
        }
        Ok(Name(bytes))
    }
}

thread_local! {
    /// The last store id or profile converted on this thread, an exact `str` (immutable, and
    /// no code of a subclass runs when it is dropped), with its UTF-8 bytes.
    static LAST_NAME: RefCell<Option<(Py<PyString>, Py<PyBytes>)>> = const { RefCell::new(None) };
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

/// Python objects built once and handed out again, one per slot of a table indexed by the
/// packed value they stand for. Only immutable values go here (enum members, frozen
/// dataclasses of them), so every caller may share them: nobody can change a shared one, and
/// `==`, `hash` and `repr` are those of a freshly built one. Building a `LogoffFlags(x)` or a
/// `Decision` costs about as much as a few hundred calls into the core (bench/notes.md), and
/// there are few distinct values (80 decisions, a few dozen flag combinations).
///
/// The table is `PyOnceLock`s in a static: it works with the GIL and without it (free-threaded
/// builds), with no lock on the read path. The slots take no memory until a page of them is
/// first written (they are zero bytes, in .bss).
struct Cache<const N: usize>([PyOnceLock<Py<PyAny>>; N]);

impl<const N: usize> Cache<N> {
    const fn new() -> Self {
        Cache([const { PyOnceLock::new() }; N])
    }

    /// The object of slot `index`, built by `build` the first time. A value with no slot
    /// (`None`: bits the table does not cover) is built on every call, as before the cache.
    fn get_or_build<'py>(
        &self,
        py: Python<'py>,
        index: Option<usize>,
        build: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(cell) = index.and_then(|i| self.0.get(i)) else {
            return build();
        };
        if let Some(v) = cell.get(py) {
            return Ok(v.bind(py).clone());
        }
        // Not `get_or_try_init`: `build` runs Python code, which may let another thread (or
        // a re-entrant call from a finalizer) fill the slot meanwhile; blocking on the slot
        // then could deadlock. The first object stored wins, so all callers share one.
        let v = build()?;
        match cell.set(py, v.clone().unbind()) {
            Ok(()) => Ok(v),
            Err(_) => Ok(cell.get(py).expect("the slot is set").bind(py).clone()),
        }
    }
}

const INPUT_BITS: u32 = LogoffFlags::INPUT_MASK.count_ones();
const OUTPUT_BITS: u32 = LogoffFlags::OUTPUT_MASK.count_ones();
const OUTPUT_SHIFT: u32 = LogoffFlags::OUTPUT_MASK.trailing_zeros();
const FLUSH_BITS: u32 = FlushFlags::all().bits().count_ones();
const FLUSH_SHIFT: u32 = FlushFlags::all().bits().trailing_zeros();

/// `LogoffFlags(bits)`: one shared member per combination of the known flags (bits outside
/// them, never written by the core, would be built each time).
pub fn logoff_flags(py: Python<'_>, bits: u32) -> PyResult<Bound<'_, PyAny>> {
    static CACHE: Cache<{ 1 << (INPUT_BITS + OUTPUT_BITS) }> = Cache::new();
    let index = (bits & !(LogoffFlags::INPUT_MASK | LogoffFlags::OUTPUT_MASK) == 0).then_some({
        ((bits & LogoffFlags::INPUT_MASK)
            | (bits & LogoffFlags::OUTPUT_MASK) >> OUTPUT_SHIFT << INPUT_BITS) as usize
    });
    CACHE.get_or_build(py, index, || logoff_flags_type(py)?.call1((bits,)))
}

/// `FlushFlags(bits)`: one shared member per combination of the known flags (others are
/// built each time).
pub fn flush_flags(py: Python<'_>, bits: u32) -> PyResult<Bound<'_, PyAny>> {
    static CACHE: Cache<{ 1 << FLUSH_BITS }> = Cache::new();
    let index = (bits & !FlushFlags::all().bits() == 0).then_some((bits >> FLUSH_SHIFT) as usize);
    CACHE.get_or_build(py, index, || flush_flags_type(py)?.call1((bits,)))
}

/// The mode's flag as `LogoffFlags`, or `None`.
pub fn mode(py: Python<'_>, mode: Option<Mode>) -> PyResult<Bound<'_, PyAny>> {
    match mode {
        Some(m) => logoff_flags(py, m.flag().bits()),
        None => Ok(py.None().into_bound(py)),
    }
}

const ACTIVITY_BITS: u32 = Activity::all().bits().count_ones();
const ACTIVITY_SHIFT: u32 = Activity::all().bits().trailing_zeros();
const RELEASE_BITS: u32 = 2; // REFUSED 0, NOW 1, WHEN_DRAINED 2

/// The slot of a decision in the `Decision` cache: its fields packed, or `None` for bits
/// outside the fields' known flags (built each time).
fn decision_index(d: &Decision) -> Option<usize> {
    let out = d.out_flags.bits();
    let flush = d.flush_flags.bits();
    let allowed = d.allowed.bits();
    let release = d.release.value();
    let known = out & !LogoffFlags::OUTPUT_MASK == 0
        && flush & !FlushFlags::all().bits() == 0
        && allowed & !Activity::all().bits() == 0
        && release < 1 << RELEASE_BITS;
    known.then(|| {
        let mut key = out >> OUTPUT_SHIFT;
        key = key << FLUSH_BITS | flush >> FLUSH_SHIFT;
        key = key << ACTIVITY_BITS | allowed >> ACTIVITY_SHIFT;
        key = key << RELEASE_BITS | release;
        key = key << 1 | u32::from(d.waits);
        key as usize
    })
}

/// A `Decision`: one shared (frozen) object per distinct decision, built on first use.
pub fn decision<'py>(py: Python<'py>, d: &Decision) -> PyResult<Bound<'py, PyAny>> {
    static CACHE: Cache<{ 1 << (OUTPUT_BITS + FLUSH_BITS + ACTIVITY_BITS + RELEASE_BITS + 1) }> =
        Cache::new();
    CACHE.get_or_build(py, decision_index(d), || {
        decision_type(py)?.call1((
            logoff_flags(py, d.out_flags.bits())?,
            release_type(py)?.call1((d.release.value(),))?,
            flush_flags(py, d.flush_flags.bits())?,
            logoff_flags(py, d.allowed.bits())?,
            d.waits,
        ))
    })
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
    // More fields than a Rust tuple converts: the counters as one list of arguments.
    let counters = [
        s.queued,
        s.sending,
        s.receiving,
        s.submitted,
        s.sent,
        s.receptions,
        s.received,
        s.cancelled_receptions,
    ];
    let mut args: Vec<Bound<'py, PyAny>> = counters
        .iter()
        .map(|n| n.into_bound_py_any(py))
        .collect::<PyResult<_>>()?;
    args.push(logoff_flags(py, s.allowed.bits())?);
    args.push(logoff_flags(py, s.activity().bits())?);
    args.push(s.clients.into_bound_py_any(py)?);
    args.push(s.released.into_bound_py_any(py)?);
    args.push(mode(py, s.pending)?);
    stats_type(py)?.call1(PyTuple::new(py, args)?)
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
