//! The Spooler: the MAPI side of the protocol (`IMAPISupport::StoreLogoffTransports`
//! with the transports behind it).
//!
//! What each mode does to a store is decided by [`decide_mode`](crate::decide_mode). This
//! file keeps each store's activity and gates, serves stores to clients and transports,
//! releases a store the moment it drains, and closes the spooler; `logoff.rs` carries out
//! StoreLogoffTransports (the decision, PURGE's flushes and wait, ABORT's cancellations);
//! `slots.rs` keeps the stores and forgets the released ones.

use scc::ebr::Guard;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::{Runtime, Signal, ThreadPool};

use crate::decide::{decide_mode, drained, parse_mode};
use crate::error::{Error, Result};
use crate::flags::{Activity, FlushFlags, LogoffFlags, Mode, Release};
use crate::fork;
use crate::registry::{Deciding, Held, Registry, default_path};
use crate::store::{Store, Support};

mod logoff;
mod slots;
mod types;

use slots::{Entry, Slot, Slots};

pub use types::{
    CloseReport, CreateError, Event, EventKind, SpoolerOptions, StoreStats, Subscriber, Transport,
};

/// The MAPI spooler of one profile: serves stores, takes activity reports from transports
/// and carries out StoreLogoffTransports. Cloning gives another handle on the same spooler.
#[derive(Clone)]
pub struct Spooler {
    inner: Arc<Inner>,
}

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const CLOSED: u8 = 2;

/// A copy-on-write list of callbacks: callers clone the `Arc` and call without the lock.
type Registered<T> = RwLock<Arc<Vec<(u64, T)>>>;

struct Inner {
    profile: String,
    strict: bool,
    purge_deadline_ns: AtomicU64,
    close_deadline: Duration,
    state: AtomicU8,
    stores: Slots,
    transports: Registered<Arc<dyn Transport>>,
    subscribers: Registered<Subscriber>,
    has_subscribers: AtomicBool,
    /// Whether a transport is registered: an ABORT with none (the idle store cycle's
    /// default release) looks no further for transports that could cancel.
    has_transports: AtomicBool,
    next_id: AtomicU64,
    registry: Option<Registry>,
    runtime: Arc<dyn Runtime>,
    /// The process's fork generation at creation: in a forked child every call fails.
    fork_generation: u64,
}

fn validate_id(store_id: &str) -> Result<()> {
    if store_id.is_empty() {
        Err(Error::InvalidParameter)
    } else {
        Ok(())
    }
}

/// The events of one call, built only when someone subscribes (checked once, when the call
/// starts): with no subscriber a call allocates nothing for events.
struct Events {
    on: bool,
    list: Vec<Event>,
}

impl Events {
    fn push(&mut self, make: impl FnOnce() -> Event) {
        if self.on {
            self.list.push(make());
        }
    }
}

fn event(kind: EventKind, store_id: &Arc<str>, mode: Option<Mode>) -> Event {
    Event {
        kind,
        store_id: store_id.clone(),
        mode,
        out_flags: LogoffFlags::empty(),
        decision: None,
        detail: None,
    }
}

/// The activity reports of transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Submit,
    BeginSend,
    EndSend { sent: bool },
    BeginReceive,
    EndReceive,
    CancelReceive,
}

/// Counts a transport's report into the store's counters; a refused report (a closed gate,
/// nothing to send or end) changes nothing.
fn count(report: Report, s: &mut StoreStats) -> Result<()> {
    let allowed = s.allowed;
    let gate = |g: Activity| {
        if allowed.contains(g) {
            Ok(())
        } else {
            Err(Error::NoAccess)
        }
    };
    match report {
        Report::Submit => {
            gate(Activity::OUTBOUND_QUEUE)?;
            s.queued += 1;
            s.submitted += 1;
        }
        Report::BeginSend => {
            gate(Activity::OUTBOUND)?;
            if s.queued == 0 {
                return Err(Error::NotFound);
            }
            s.queued -= 1;
            s.sending += 1;
        }
        Report::EndSend { sent } => {
            if s.sending == 0 {
                return Err(Error::NotFound);
            }
            s.sending -= 1;
            if sent {
                s.sent += 1;
            } else {
                s.queued += 1;
            }
        }
        Report::BeginReceive => {
            gate(Activity::INBOUND)?;
            s.receiving += 1;
            s.receptions += 1;
        }
        Report::EndReceive => {
            if s.receiving == 0 {
                return Err(Error::NotFound);
            }
            s.receiving -= 1;
            s.received += 1;
        }
        Report::CancelReceive => {
            if s.receiving == 0 {
                return Err(Error::NotFound);
            }
            s.receiving -= 1;
            s.cancelled_receptions += 1;
        }
    }
    Ok(())
}

impl Spooler {
    /// The spooler of `profile` with default options.
    pub fn new(profile: &str) -> Result<Spooler> {
        Spooler::with_options(profile, SpoolerOptions::default())
    }

    /// The spooler of `profile`; see [`create`](Spooler::create) for the errors.
    pub fn with_options(profile: &str, options: SpoolerOptions) -> Result<Spooler> {
        Spooler::create(profile, options).map_err(|e| e.error)
    }

    /// The spooler of `profile`. An empty profile is `MAPI_E_INVALID_PARAMETER`; a
    /// registry directory that is not private to this user is `MAPI_E_NO_ACCESS`, with a
    /// message naming the path and the fix.
    pub fn create(profile: &str, options: SpoolerOptions) -> Result<Spooler, CreateError> {
        if profile.is_empty() {
            return Err(CreateError {
                error: Error::InvalidParameter,
                message: "the profile name is empty".into(),
            });
        }
        fork::watch().map_err(|e| CreateError {
            error: Error::CallFailed,
            message: format!("cannot watch for fork: {e}"),
        })?;
        let fork_generation = fork::generation();
        let registry = if options.cross_process {
            let root = options.runtime_dir.clone().unwrap_or_else(default_path);
            Some(Registry::open(&root, profile).map_err(|e| CreateError {
                error: e.error,
                message: e.message,
            })?)
        } else {
            None
        };
        Ok(Spooler {
            inner: Arc::new(Inner {
                profile: profile.to_owned(),
                strict: options.strict,
                purge_deadline_ns: AtomicU64::new(duration_ns(options.purge_deadline)),
                close_deadline: options.close_deadline,
                state: AtomicU8::new(OPEN),
                stores: Slots::new(),
                transports: RwLock::default(),
                subscribers: RwLock::default(),
                has_subscribers: AtomicBool::new(false),
                has_transports: AtomicBool::new(false),
                next_id: AtomicU64::new(1),
                registry,
                runtime: options
                    .runtime
                    .unwrap_or_else(|| ThreadPool::shared() as Arc<dyn Runtime>),
                fork_generation,
            }),
        })
    }

    /// The profile this spooler serves.
    pub fn profile(&self) -> &str {
        &self.inner.profile
    }

    /// The machine registry's file (one per profile, in the private runtime directory the
    /// spooler checked), or `None` with cross-process sharing off.
    pub fn registry_file(&self) -> Option<&std::path::Path> {
        self.inner.registry.as_ref().map(Registry::path)
    }

    /// Whether [`close`](Spooler::close) has finished.
    pub fn is_closed(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == CLOSED
    }

    /// The PURGE deadline.
    pub fn purge_deadline(&self) -> Duration {
        Duration::from_nanos(self.inner.purge_deadline_ns.load(Ordering::Relaxed))
    }

    /// Sets the PURGE deadline for logoffs that start from now on.
    pub fn set_purge_deadline(&self, deadline: Duration) {
        self.inner
            .purge_deadline_ns
            .store(duration_ns(deadline), Ordering::Relaxed);
    }

    /// In a child forked after this spooler was created, every call fails.
    fn check_fork(&self) -> Result<()> {
        if fork::generation() == self.inner.fork_generation {
            Ok(())
        } else {
            Err(Error::InvalidObject)
        }
    }

    fn check_open(&self, allow_closing: bool) -> Result<()> {
        self.check_fork()?;
        match self.inner.state.load(Ordering::Acquire) {
            OPEN => Ok(()),
            CLOSING if allow_closing => Ok(()),
            _ => Err(Error::InvalidObject),
        }
    }

    /// Opens a client's handle on `store_id` (reference count 1). The store is served
    /// with all gates open; a logoff of another client still waiting for the store to
    /// drain ends now, since the store is in use again. A failed open (the machine
    /// registry cannot record the hold) changes nothing.
    pub fn open_store(&self, store_id: &str) -> Result<Store> {
        validate_id(store_id)?;
        self.check_open(false)?;
        let mut events = self.events();
        let slot = {
            let guard = Guard::new();
            let mut served = self.inner.stores.serve(store_id, &guard);
            // Record the hold first: if that fails, nothing has changed (a store served
            // only for this call is not served after all). A store whose logoff is still
            // pending is held already (its client counts until released).
            if served.entry.stats.clients == 0
                && let Some(registry) = &self.inner.registry
                && let Err(e) = registry.publish(&served.slot.id)
            {
                self.inner.stores.unserve(served);
                return Err(e.error);
            }
            let slot = served.slot.clone();
            let (id, entry) = (&slot.id, &mut *served.entry);
            entry.stats.clients += 1;
            if let Some(mode) = entry.stats.pending {
                self.release_entry(entry, id, &mut events, || Event {
                    detail: Some("the store was opened again before it drained".into()),
                    ..event(EventKind::Released, id, Some(mode))
                });
            }
            entry.stats.released = false;
            entry.stats.allowed = Activity::all();
            self.inner.stores.note(entry);
            slot
        };
        self.dispatch(events);
        let support = SpoolerSupport {
            spooler: self.clone(),
            slot,
        };
        Ok(Store::served(support, self.inner.strict))
    }

    /// Ends one client's hold on the entry: closes the gates, completes the waiters, and
    /// forgets the store when that was its last client and nothing of it is left.
    fn release_entry(
        &self,
        entry: &mut Entry,
        id: &Arc<str>,
        events: &mut Events,
        event: impl FnOnce() -> Event,
    ) {
        self.release_entry_deciding(entry, id, events, event, None);
    }

    /// [`release_entry`](Spooler::release_entry) within a StoreLogoffTransports decision
    /// that holds the registry's lock already.
    fn release_entry_deciding(
        &self,
        entry: &mut Entry,
        id: &Arc<str>,
        events: &mut Events,
        event: impl FnOnce() -> Event,
        deciding: Option<&mut Deciding<'_>>,
    ) {
        entry.stats.clients = entry.stats.clients.saturating_sub(1);
        if entry.stats.clients == 0 {
            entry.stats.allowed = Activity::empty();
            entry.stats.released = true;
            match (deciding, &self.inner.registry) {
                (Some(deciding), _) => deciding.withdraw(),
                (None, Some(registry)) => registry.withdraw(id),
                (None, None) => {}
            }
        }
        entry.stats.pending = None;
        entry.deferred = false;
        if let Some(waiter) = entry.waiter.take() {
            waiter.complete();
        }
        events.push(event);
        self.inner.stores.note(entry);
    }

    fn events(&self) -> Events {
        Events {
            on: self.inner.has_subscribers.load(Ordering::Acquire),
            list: Vec::new(),
        }
    }

    fn report(&self, store_id: &str, report: Report) -> Result<()> {
        validate_id(store_id)?;
        let ending = matches!(
            report,
            Report::EndSend { .. } | Report::EndReceive | Report::CancelReceive
        );
        self.check_open(ending)?;
        let mut events = self.events();
        {
            let guard = Guard::new();
            let mut served = self.inner.stores.serve(store_id, &guard);
            if let Err(e) = count(report, &mut served.entry.stats) {
                // A refused report changes nothing: not even the first mention of an id.
                self.inner.stores.unserve(served);
                return Err(e);
            }
            served.slot.note_activity(&served.entry);
            let (id, entry) = (&served.slot.id, &mut *served.entry);
            let cancelling = entry.cancelling > 0;
            let cancelled = match report {
                Report::CancelReceive => {
                    Some("reception cancelled: the message stays at the server")
                }
                Report::EndSend { sent: false } if cancelling => {
                    Some("send cancelled: the message is back in the queue")
                }
                _ => None,
            };
            if let Some(what) = cancelled {
                events.push(|| Event {
                    detail: Some(what.into()),
                    ..event(EventKind::Cancelled, id, cancelling.then_some(Mode::Abort))
                });
            }
            let s = &entry.stats;
            if ending
                && let Some(mode) = s.pending
                && drained(mode, s.activity())
            {
                self.release_entry(entry, id, &mut events, || Event {
                    detail: Some("drained".into()),
                    ..event(EventKind::Released, id, Some(mode))
                });
            }
            self.inner.stores.note(entry);
        }
        self.dispatch(events);
        self.inner.stores.sweep();
        Ok(())
    }

    /// A transport submitted a message to the store's outbound queue.
    /// `MAPI_E_NO_ACCESS` when new submissions are closed.
    pub fn submit(&self, store_id: &str) -> Result<()> {
        self.report(store_id, Report::Submit)
    }

    /// A transport starts sending a queued message. `MAPI_E_NO_ACCESS` when sends are
    /// closed, `MAPI_E_NOT_FOUND` when the queue is empty.
    pub fn begin_send(&self, store_id: &str) -> Result<()> {
        self.report(store_id, Report::BeginSend)
    }

    /// A send ended: `sent`, or not sent and back in the queue. `MAPI_E_NOT_FOUND` when
    /// no send is in flight.
    pub fn end_send(&self, store_id: &str, sent: bool) -> Result<()> {
        self.report(store_id, Report::EndSend { sent })
    }

    /// A transport starts receiving a message into the store. `MAPI_E_NO_ACCESS` when
    /// receptions are closed.
    pub fn begin_receive(&self, store_id: &str) -> Result<()> {
        self.report(store_id, Report::BeginReceive)
    }

    /// A reception ended; the message is in the store. `MAPI_E_NOT_FOUND` when no
    /// reception is in flight.
    pub fn end_receive(&self, store_id: &str) -> Result<()> {
        self.report(store_id, Report::EndReceive)
    }

    /// A reception in flight was cancelled (a transport's [`cancel`](Transport::cancel), or
    /// its own choice): the message stays at the server, to be delivered on a later logon,
    /// and counts in `cancelled_receptions`. `MAPI_E_NOT_FOUND` when no reception is in
    /// flight (it ended meanwhile).
    pub fn cancel_receive(&self, store_id: &str) -> Result<()> {
        self.report(store_id, Report::CancelReceive)
    }

    /// The store's activity `A` (empty for a store never mentioned).
    pub fn activity(&self, store_id: &str) -> Result<Activity> {
        Ok(self.stats(store_id)?.activity())
    }

    /// The store's counters. A store never mentioned reads all zero, gates closed; so does
    /// a store forgotten: once released with nothing queued, in flight or pending, a store
    /// is kept as it was (gates closed, `released`) until at least 64 other stores, and at
    /// least as many as are in use, came to rest after it, and is then forgotten; its next
    /// mention serves it afresh.
    pub fn stats(&self, store_id: &str) -> Result<StoreStats> {
        validate_id(store_id)?;
        self.check_fork()?;
        Ok(self.inner.stores.stats(store_id))
    }

    /// The ids of every store this spooler serves (forgotten stores left out).
    pub fn store_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .inner
            .stores
            .all()
            .iter()
            .map(|slot| slot.id.to_string())
            .collect();
        ids.sort();
        ids
    }

    /// Registers a transport; PURGE calls its `flush_queues`, and an ABORT its `cancel`
    /// when every registered transport can cancel. Returns its id.
    pub fn add_transport(&self, transport: Arc<dyn Transport>) -> u64 {
        let id = self.register(&self.inner.transports, transport);
        self.inner.has_transports.store(true, Ordering::Release);
        id
    }

    /// Unregisters a transport; false if there was none with that id.
    pub fn remove_transport(&self, id: u64) -> bool {
        match unregister(&self.inner.transports, id) {
            Some(left) => {
                self.inner.has_transports.store(left > 0, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Subscribes to events; returns the subscription's id. Subscribers run on the thread
    /// that caused the event, with no lock held: they may call back into the spooler. A
    /// panicking subscriber is skipped.
    pub fn subscribe(&self, subscriber: Subscriber) -> u64 {
        let id = self.register(&self.inner.subscribers, subscriber);
        self.inner.has_subscribers.store(true, Ordering::Release);
        id
    }

    /// Ends a subscription; false if there was none with that id.
    pub fn unsubscribe(&self, id: u64) -> bool {
        match unregister(&self.inner.subscribers, id) {
            Some(left) => {
                self.inner
                    .has_subscribers
                    .store(left > 0, Ordering::Release);
                true
            }
            None => false,
        }
    }

    fn register<T: Clone>(&self, list: &Registered<T>, item: T) -> u64 {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut list = list.write().unwrap_or_else(|p| p.into_inner());
        let mut next = Vec::clone(&list);
        next.push((id, item));
        *list = Arc::new(next);
        id
    }

    fn dispatch(&self, events: Events) {
        if events.list.is_empty() {
            return;
        }
        let subscribers = snapshot(&self.inner.subscribers);
        for e in &events.list {
            for (_, s) in subscribers.iter() {
                let _ = catch_unwind(AssertUnwindSafe(|| s(e)));
            }
        }
    }

    /// Closes the spooler with the options' close deadline. See
    /// [`close_within`](Spooler::close_within).
    pub fn close(&self) -> Result<CloseReport> {
        self.close_within(self.inner.close_deadline)
    }

    /// Logs off, ORDERLY, every store still open or still draining, and waits up to
    /// `deadline` for them to drain. What does not drain is reported (an `Undrained`
    /// event each and in the report), not dropped. Afterwards every call but the reads
    /// fails with `MAPI_E_INVALID_OBJECT`; `end_send` and `end_receive` are still taken
    /// while the close waits. A second close returns `MAPI_E_INVALID_OBJECT`.
    pub fn close_within(&self, deadline: Duration) -> Result<CloseReport> {
        if self
            .inner
            .state
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::InvalidObject);
        }
        let deadline = self.inner.runtime.now().saturating_add(deadline);
        let mut report = CloseReport::default();
        let mut waiting = Vec::new();
        let mut events = self.events();
        for slot in self.inner.stores.all() {
            {
                let (id, entry) = (&slot.id, &mut *slot.lock());
                if entry.stats.clients == 0 && entry.stats.pending.is_none() {
                    continue;
                }
                // Every client of this spooler goes; a logoff under way keeps its own mode.
                entry.stats.clients = entry.stats.clients.min(1);
                let mode = *entry.stats.pending.get_or_insert(Mode::Orderly);
                if mode == Mode::Orderly {
                    entry.stats.allowed = Activity::empty();
                }
                if drained(mode, entry.stats.activity()) {
                    self.release_entry(entry, id, &mut events, || Event {
                        detail: Some("spooler closed".into()),
                        ..event(EventKind::Released, id, Some(mode))
                    });
                    report.released.push(id.to_string());
                } else {
                    let w = entry.waiter_or(|| self.inner.runtime.signal());
                    waiting.push((id.clone(), w));
                }
            }
        }
        self.dispatch(events);
        let mut events = self.events();
        for (id, waiter) in waiting {
            if waiter.wait_until(deadline) {
                report.released.push(id.to_string());
                continue;
            }
            let activity = self.activity(&id).unwrap_or_default();
            events.push(|| Event {
                out_flags: activity.as_logoff_flags(),
                detail: Some("the spooler closed before the store drained".into()),
                ..event(EventKind::Undrained, &id, Some(Mode::Orderly))
            });
            report.undrained.push((id.to_string(), activity));
        }
        self.inner.state.store(CLOSED, Ordering::Release);
        self.dispatch(events);
        report.released.sort();
        report.undrained.sort();
        Ok(report)
    }
}

impl std::fmt::Debug for Spooler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spooler")
            .field("profile", &self.inner.profile)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Removes `id` from the list; the number left, or `None` if it was not there.
fn unregister<T: Clone>(list: &Registered<T>, id: u64) -> Option<usize> {
    let mut list = list.write().unwrap_or_else(|p| p.into_inner());
    let next: Vec<_> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
    if next.len() == list.len() {
        return None;
    }
    let left = next.len();
    *list = Arc::new(next);
    Some(left)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The callbacks registered now, to call without the lock.
fn snapshot<T>(list: &Registered<T>) -> Arc<Vec<(u64, T)>> {
    list.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A transport's call, caught: `None` when it succeeded, else its error or its panic as text.
fn failure_of(call: impl FnOnce() -> Result<()>) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(panic) => Some(panic_message(&panic)),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("panicked: {text}")
}

/// The Support of one client of a spooler-served store.
pub(crate) struct SpoolerSupport {
    spooler: Spooler,
    /// The store's slot: the handle's calls need no lookup.
    slot: Arc<Slot>,
}

impl Support for SpoolerSupport {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        self.spooler
            .store_logoff_transports(&self.slot.id, &self.slot, flags, false)
    }

    fn final_release(&self, flags: &mut u32) -> Result<()> {
        self.spooler
            .store_logoff_transports(&self.slot.id, &self.slot, flags, true)
    }

    fn activity(&self) -> Activity {
        self.slot.activity()
    }

    fn store_id(&self) -> Option<&str> {
        Some(&self.slot.id)
    }
}
