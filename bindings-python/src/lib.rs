//! `mapi_logoff._native`: the Python binding of the `mapi-logoff` core. Thin: it converts
//! arguments and results, releases the GIL where the core may wait, and runs Python
//! callbacks for the core; the protocol itself lives in the core.
//!
//! The public package is `mapi_logoff` (python/mapi_logoff), which re-exports what is here
//! next to its flag enums and exception classes.

mod callbacks;
mod convert;
mod errors;
mod spooler;
mod store;

use pyo3::prelude::*;

#[pymodule]
mod _native {
    use mapi_logoff::{Context, Error, FlushFlags, LogoffFlags, Release, S_OK, decide_bits};
    use pyo3::prelude::*;
    use pyo3::types::PyDict;

    use crate::convert::{self, Bits};
    use crate::errors::ok;

    #[pymodule_export]
    use crate::spooler::PySpooler;
    #[pymodule_export]
    use crate::store::PyStore;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        // No callback may run once the interpreter began shutting down.
        let py = m.py();
        py.import("atexit")?
            .call_method1("register", (m.getattr("_shutdown")?,))?;
        Ok(())
    }

    /// Called at exit (registered with `atexit`): stops Python callbacks from starting and
    /// waits for those still running.
    #[pyfunction]
    fn _shutdown(py: Python<'_>) {
        crate::callbacks::shutdown(py);
    }

    /// The decision table: validates `flags` (leniently unless `strict`) and
    /// decides for a store with `activity`. Raises the `MapiError` subclass of a rejected
    /// call.
    #[pyfunction]
    #[pyo3(
        signature = (flags, activity = Bits(0), *, shared = false, strict = false, cancellable = false),
        text_signature = "(flags, activity=0, *, shared=False, strict=False, cancellable=False)"
    )]
    fn decide(
        py: Python<'_>,
        flags: Bits,
        activity: Bits,
        shared: bool,
        strict: bool,
        cancellable: bool,
    ) -> PyResult<Bound<'_, PyAny>> {
        let context = Context {
            shared,
            strict,
            cancellable,
        };
        decide_raw(py, flags, activity, Bits(context.bits()))
    }

    /// `decide` on the C call's raw words: `context` is `MAPI_LOGOFF_DECIDE_SHARED 0x1 |
    /// MAPI_LOGOFF_DECIDE_STRICT 0x2 | MAPI_LOGOFF_DECIDE_CANCELLABLE 0x4`; other context
    /// bits are `MAPI_E_UNKNOWN_FLAGS`.
    #[pyfunction]
    #[pyo3(name = "decide_bits")]
    fn decide_raw(
        py: Python<'_>,
        flags: Bits,
        activity: Bits,
        context: Bits,
    ) -> PyResult<Bound<'_, PyAny>> {
        let decision = ok(py, decide_bits(flags.0, activity.0, context.0))?;
        convert::decision(py, &decision)
    }

    /// Does nothing: a call into the native module that costs only the call itself, the
    /// floor scripts/bench compares `decide` and the store calls with. Takes up to two
    /// positional arguments as they are, converting nothing.
    #[pyfunction]
    #[pyo3(signature = (_a = None, _b = None))]
    fn _noop(_a: Option<&Bound<'_, PyAny>>, _b: Option<&Bound<'_, PyAny>>) {}

    /// The core's constants under their MAPI names, for the tests that hold the Python
    /// enums to them.
    #[pyfunction]
    fn _constants(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let d = PyDict::new(py);
        for (name, flag) in LogoffFlags::all().iter_names() {
            d.set_item(format!("LOGOFF_{name}"), flag.bits())?;
        }
        for (name, flag) in FlushFlags::all().iter_names() {
            d.set_item(format!("FLUSH_{name}"), flag.bits())?;
        }
        for r in [Release::Refused, Release::Now, Release::WhenDrained] {
            d.set_item(format!("MAPI_LOGOFF_RELEASE_{}", r.name()), r.value())?;
        }
        for e in Error::ALL {
            d.set_item(e.name(), e.hresult_bits())?;
        }
        d.set_item("MAPI_LOGOFF_DECIDE_SHARED", Context::SHARED)?;
        d.set_item("MAPI_LOGOFF_DECIDE_STRICT", Context::STRICT)?;
        d.set_item("MAPI_LOGOFF_DECIDE_CANCELLABLE", Context::CANCELLABLE)?;
        d.set_item("S_OK", S_OK)?;
        Ok(d)
    }
}
