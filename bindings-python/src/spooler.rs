//! `Spooler`: the MAPI side of the protocol for one profile.

use std::path::PathBuf;
use std::sync::Arc;

use mapi_logoff::{Error, SpoolerOptions};
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::callbacks::{PyTransport, subscriber};
use crate::convert::{self, Name, Seconds};
use crate::errors::ok;
use crate::store::PyStore;

/// The MAPI spooler of one profile: serves stores, takes the transports' activity reports
/// and carries out StoreLogoffTransports.
#[pyclass(frozen, name = "Spooler", module = "mapi_logoff")]
pub struct PySpooler {
    inner: mapi_logoff::Spooler,
}

#[pymethods]
impl PySpooler {
    #[new]
    #[pyo3(
        signature = (
            profile,
            *,
            purge_deadline = Seconds::THIRTY,
            close_deadline = Seconds::THIRTY,
            strict = false,
            cross_process = true,
            runtime_dir = None,
        ),
        text_signature = "(profile, *, purge_deadline=30.0, close_deadline=30.0, strict=False, cross_process=True, runtime_dir=None)"
    )]
    fn new(
        py: Python<'_>,
        profile: Name<'_>,
        purge_deadline: Seconds,
        close_deadline: Seconds,
        strict: bool,
        cross_process: bool,
        runtime_dir: Option<PathBuf>,
    ) -> PyResult<PySpooler> {
        let options = SpoolerOptions {
            purge_deadline: purge_deadline.0,
            close_deadline: close_deadline.0,
            strict,
            cross_process,
            runtime_dir,
            ..SpoolerOptions::default()
        };
        let inner = mapi_logoff::Spooler::create(profile.as_str(), options)
            .map_err(|e| crate::errors::create_error(py, e))?;
        Ok(PySpooler { inner })
    }

    /// The profile this spooler serves.
    #[getter]
    fn profile(&self) -> &str {
        self.inner.profile()
    }

    /// Whether `close` has finished.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The PURGE deadline in seconds.
    #[getter]
    fn purge_deadline(&self) -> f64 {
        self.inner.purge_deadline().as_secs_f64()
    }

    /// Sets the PURGE deadline (seconds or a timedelta) for logoffs that start from now on.
    fn set_purge_deadline(&self, deadline: Seconds) {
        self.inner.set_purge_deadline(deadline.0);
    }

    /// Opens a client's handle on `store_id` (reference count 1).
    fn open_store(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<PyStore> {
        Ok(PyStore::from_core(ok(
            py,
            self.inner.open_store(store_id.as_str()),
        )?))
    }

    /// A transport submitted a message to the store's outbound queue.
    fn submit(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<()> {
        ok(py, self.inner.submit(store_id.as_str()))
    }

    /// A transport starts sending a queued message.
    fn begin_send(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<()> {
        ok(py, self.inner.begin_send(store_id.as_str()))
    }

    /// A send ended: `sent`, or not sent and back in the queue.
    #[pyo3(signature = (store_id, sent = true))]
    fn end_send(&self, py: Python<'_>, store_id: Name<'_>, sent: bool) -> PyResult<()> {
        ok(py, self.inner.end_send(store_id.as_str(), sent))
    }

    /// A transport starts receiving a message into the store.
    fn begin_receive(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<()> {
        ok(py, self.inner.begin_receive(store_id.as_str()))
    }

    /// A reception ended; the message is in the store.
    fn end_receive(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<()> {
        ok(py, self.inner.end_receive(store_id.as_str()))
    }

    /// A reception in flight was cancelled (a transport's `cancel`): the message stays at
    /// the server, to be delivered on a later logon. `NotFoundError` when no reception is
    /// in flight.
    fn cancel_receive(&self, py: Python<'_>, store_id: Name<'_>) -> PyResult<()> {
        ok(py, self.inner.cancel_receive(store_id.as_str()))
    }

    /// The store's activity `A` (INBOUND, OUTBOUND, OUTBOUND_QUEUE).
    fn activity<'py>(&self, py: Python<'py>, store_id: Name<'_>) -> PyResult<Bound<'py, PyAny>> {
        let activity = ok(py, self.inner.activity(store_id.as_str()))?;
        convert::logoff_flags(py, activity.bits())
    }

    /// The store's counters, gates and pending logoff.
    fn stats<'py>(&self, py: Python<'py>, store_id: Name<'_>) -> PyResult<Bound<'py, PyAny>> {
        let stats = ok(py, self.inner.stats(store_id.as_str()))?;
        convert::stats(py, &stats)
    }

    /// The ids of every store this spooler has served.
    fn store_ids(&self) -> Vec<String> {
        self.inner.store_ids()
    }

    /// Registers a transport (an object with `flush_queues(store_id, flags)`, or a
    /// callable): PURGE calls it. An object with a `cancel(store_id)` method too can cancel
    /// its transfers in flight: an ABORT calls it when every transport can. Returns its id.
    fn add_transport(&self, transport: &Bound<'_, PyAny>) -> PyResult<u64> {
        let transport = PyTransport::new(transport)?;
        Ok(self.inner.add_transport(Arc::new(transport)))
    }

    /// Unregisters a transport; False if there was none with that id.
    fn remove_transport(&self, id: u64) -> bool {
        self.inner.remove_transport(id)
    }

    /// Subscribes a callable to every `Event`; returns the subscription's id.
    fn subscribe(&self, callback: &Bound<'_, PyAny>) -> PyResult<u64> {
        Ok(self.inner.subscribe(subscriber(callback)?))
    }

    /// Ends a subscription; False if there was none with that id.
    fn unsubscribe(&self, id: u64) -> bool {
        self.inner.unsubscribe(id)
    }

    /// Logs off, ORDERLY, every store still open or draining, and waits (GIL released) up
    /// to `deadline` (default: the spooler's close_deadline) for them to drain.
    #[pyo3(signature = (deadline = None))]
    fn close<'py>(
        &self,
        py: Python<'py>,
        deadline: Option<Seconds>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let spooler = self.inner.clone();
        let report = py.detach(move || match deadline {
            Some(d) => spooler.close_within(d.0),
            None => spooler.close(),
        });
        convert::close_report(py, &ok(py, report)?)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the spooler unless it is closed already.
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyType>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let spooler = self.inner.clone();
        match py.detach(move || spooler.close()) {
            // None: an exception raised in the block propagates.
            Ok(_) | Err(Error::InvalidObject) => Ok(()),
            Err(e) => Err(crate::errors::to_pyerr(py, e)),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Spooler(profile={}, closed={})",
            convert::str_repr(py, Some(self.inner.profile())),
            if self.inner.is_closed() {
                "True"
            } else {
                "False"
            }
        )
    }
}
