//! The spooler's public data: the transport trait, events, a store's counters, options,
//! and what creating and closing a spooler report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Runtime;
use crate::decide::Decision;
use crate::error::{Error, Result};
use crate::flags::{Activity, FlushFlags, LogoffFlags, Mode};

/// A transport provider as the spooler sees it: `IXPLogon::FlushQueues`.
pub trait Transport: Send + Sync {
    /// Flush the queues of `store_id`. An error (or a panic) is reported as a
    /// [`EventKind::FlushFailed`] event and does not stop the logoff.
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> Result<()>;
}

impl<F> Transport for F
where
    F: Fn(&str, FlushFlags) -> Result<()> + Send + Sync,
{
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> Result<()> {
        self(store_id, flags)
    }
}

/// What an [`Event`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// StoreLogoffTransports answered COMPLETE (`decision` is set).
    Decided,
    /// StoreLogoffTransports refused: nothing changed (`decision` is set).
    Refused,
    /// The client's hold on the store ended; `detail` says how.
    Released,
    /// A refused final release: the spooler releases the store once it is idle.
    ReleaseDeferred,
    /// A PURGE passed its deadline; the logoff goes on as NO_WAIT.
    TimedOut,
    /// A transport's `flush_queues` failed or panicked (`detail` says which and how).
    FlushFailed,
    /// The spooler closed before the store drained; its activity is in `out_flags`.
    Undrained,
    /// The machine registry could not be read, so the store counted as shared (`detail`
    /// says why). Nothing was deleted.
    RegistryUnreadable,
}

impl EventKind {
    /// The kind's name: `"decided"`, `"refused"`, `"released"`, `"release_deferred"`,
    /// `"timed_out"`, `"flush_failed"`, `"undrained"`, `"registry_unreadable"`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Decided => "decided",
            EventKind::Refused => "refused",
            EventKind::Released => "released",
            EventKind::ReleaseDeferred => "release_deferred",
            EventKind::TimedOut => "timed_out",
            EventKind::FlushFailed => "flush_failed",
            EventKind::Undrained => "undrained",
            EventKind::RegistryUnreadable => "registry_unreadable",
        }
    }
}

/// One thing that happened to a store, delivered to every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The store.
    pub store_id: Arc<str>,
    /// The input mode of the logoff this event belongs to.
    pub mode: Option<Mode>,
    /// The out_flags of the decision, or the activity for `Undrained`.
    pub out_flags: LogoffFlags,
    /// The decision, for `Decided` and `Refused`.
    pub decision: Option<Decision>,
    /// A human-readable detail (how a release came about, a failing transport's error).
    pub detail: Option<String>,
}

/// A subscriber to events.
pub type Subscriber = Arc<dyn Fn(&Event) + Send + Sync>;

/// A store's counters: its activity, its gates and the accounting of every message.
///
/// At every moment `submitted == queued + sending + sent` and
/// `receptions == receiving + received`: no message is ever dropped.
///
/// The spooler keeps a store's counters while it serves the store. A store released with
/// nothing queued, in flight or pending is kept for a while, as it was, and then forgotten
/// (memory stays bounded by the stores in use): a forgotten store reads as one never
/// mentioned, `StoreStats::default()`, and its next mention serves it afresh, counting from
/// zero. See [`Spooler::stats`](crate::Spooler::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Messages waiting in the outbound queue.
    pub queued: u64,
    /// Sends in flight.
    pub sending: u64,
    /// Receptions in flight.
    pub receiving: u64,
    /// Messages ever submitted.
    pub submitted: u64,
    /// Messages sent.
    pub sent: u64,
    /// Receptions ever begun.
    pub receptions: u64,
    /// Messages received.
    pub received: u64,
    /// What may start: new receptions, sends of queued messages, new submissions.
    pub allowed: Activity,
    /// Clients of this spooler holding the store open.
    pub clients: u32,
    /// Whether the store has been released and not opened again.
    pub released: bool,
    /// The mode of a logoff under way (waiting for the store to drain).
    pub pending: Option<Mode>,
}

impl StoreStats {
    /// The store's activity `A`.
    pub fn activity(&self) -> Activity {
        let mut a = Activity::empty();
        a.set(Activity::INBOUND, self.receiving > 0);
        a.set(Activity::OUTBOUND, self.sending > 0);
        a.set(Activity::OUTBOUND_QUEUE, self.queued > 0);
        a
    }
}

/// Options of a [`Spooler`](crate::Spooler).
#[derive(Clone)]
pub struct SpoolerOptions {
    /// How long a PURGE waits for the store's release (default 30 s).
    pub purge_deadline: Duration,
    /// How long [`Spooler::close`](crate::Spooler::close) waits for open stores to drain (default 30 s).
    pub close_deadline: Duration,
    /// Strict validation of StoreLogoffTransports and of its stores' StoreLogoff (exactly
    /// one mode flag). Off by default: lenient, as real MAPI.
    pub strict: bool,
    /// Share open stores with spoolers of other processes through the machine registry
    /// (default true). When false only clients of this spooler count as shared.
    pub cross_process: bool,
    /// Where the machine registry lives; default `$MAPI_LOGOFF_RUNTIME_DIR`, else
    /// `$XDG_RUNTIME_DIR/mapi-logoff`, else `/run/user/<euid>/mapi-logoff` where that
    /// exists, else `<temp dir>/mapi-logoff-<euid>`. It must be a directory private to
    /// the effective user (created 0700 when missing); anything else fails with
    /// `MAPI_E_NO_ACCESS`.
    pub runtime_dir: Option<PathBuf>,
    /// The clock and the workers: every deadline, every wait and PURGE's flushes go through
    /// it. Default: the system clock and the process's small pool of worker threads
    /// ([`ThreadPool::shared`](crate::ThreadPool::shared)); the simulator passes a [`VirtualRuntime`](crate::VirtualRuntime).
    pub runtime: Option<Arc<dyn Runtime>>,
}

impl std::fmt::Debug for SpoolerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolerOptions")
            .field("purge_deadline", &self.purge_deadline)
            .field("close_deadline", &self.close_deadline)
            .field("strict", &self.strict)
            .field("cross_process", &self.cross_process)
            .field("runtime_dir", &self.runtime_dir)
            .field("runtime", &self.runtime.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for SpoolerOptions {
    fn default() -> Self {
        SpoolerOptions {
            purge_deadline: Duration::from_secs(30),
            close_deadline: Duration::from_secs(30),
            strict: false,
            cross_process: true,
            runtime_dir: None,
            runtime: None,
        }
    }
}

/// Why [`Spooler::create`](crate::Spooler::create) failed: the HRESULT, and a message that names what was wrong
/// (for a refused registry directory: the path and the fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CreateError {
    /// The HRESULT: `MAPI_E_INVALID_PARAMETER` (empty profile), `MAPI_E_NO_ACCESS` (an
    /// unsafe registry directory), `MAPI_E_NOT_ENOUGH_MEMORY` (a full disk),
    /// `MAPI_E_BUSY` (every registry slot of the profile in use) or `MAPI_E_CALL_FAILED`.
    pub error: Error,
    /// What went wrong, for people.
    pub message: String,
}

/// What [`Spooler::close`](crate::Spooler::close) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Stores released by the close.
    pub released: Vec<String>,
    /// Stores that did not drain within the deadline, with their activity. Their
    /// messages are still accounted for in [`Spooler::stats`](crate::Spooler::stats).
    pub undrained: Vec<(String, Activity)>,
}
