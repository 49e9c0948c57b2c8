//! The Spooler: the MAPI side of the protocol (`IMAPISupport::StoreLogoffTransports`
//! with the transports behind it).
//!
//! What each mode does to a store is decided by [`decide_mode`](crate::decide_mode); this
//! file carries the decision out: it keeps each store's activity and gates, releases the
//! store the moment it drains, flushes the transports for PURGE and waits for it, and
//! cancels the transfers in flight for an ABORT when every transport can.

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
use crate::registry::{Held, Registry, default_path};
use crate::store::{Store, Support};

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
        let id = slot.id.clone();
        let support = SpoolerSupport {
            spooler: self.clone(),
            slot,
        };
        Ok(Store::with_id(
            Arc::new(support),
            Some(id),
            self.inner.strict,
        ))
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
        entry.stats.clients = entry.stats.clients.saturating_sub(1);
        if entry.stats.clients == 0 {
            entry.stats.allowed = Activity::empty();
            entry.stats.released = true;
            if let Some(registry) = &self.inner.registry {
                registry.withdraw(id);
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
    /// least as many as are in use, went idle after it, and is then forgotten; its next
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
        let subscribers = self
            .inner
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for e in &events.list {
            for (_, s) in subscribers.iter() {
                let _ = catch_unwind(AssertUnwindSafe(|| s(e)));
            }
        }
    }

    fn flush_transports(&self, id: &Arc<str>, mode: Mode, flags: FlushFlags) {
        let transports = self
            .inner
            .transports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut events = self.events();
        for (tid, t) in transports.iter() {
            let failure = match catch_unwind(AssertUnwindSafe(|| t.flush_queues(id, flags))) {
                Ok(Ok(())) => continue,
                Ok(Err(err)) => err.to_string(),
                Err(panic) => panic_message(&panic),
            };
            events.push(|| Event {
                detail: Some(format!("transport {tid}: {failure}")),
                ..event(EventKind::FlushFailed, id, Some(mode))
            });
        }
        self.dispatch(events);
    }

    /// StoreLogoffTransports for one client of `store_id` `final_release`:
    /// the client's handle is going away, so a refusal defers the release until the
    /// store is idle.
    fn store_logoff_transports(
        &self,
        id: &Arc<str>,
        slot: &Arc<Slot>,
        flags: &mut u32,
        final_release: bool,
    ) -> Result<()> {
        let mode = parse_mode(*flags, self.inner.strict)?;
        self.check_open(false)?;
        // ABORT first cancels what is in flight, if every transport can; then the table
        // decides on the activity as the cancellations left it.
        let cancelled = match mode {
            Mode::Abort => self.cancel_transfers(id, slot),
            _ => None,
        };
        let mut events = self.events();
        let (decision, waiter) = {
            let entry = &mut *slot.lock();
            let shared = entry.stats.clients > 1
                || match self.inner.registry.as_ref().map(|r| r.others_hold(id)) {
                    None | Some(Held::No) => false,
                    Some(Held::Yes) => true,
                    Some(Held::CannotTell(why)) => {
                        // Cannot tell: count it as shared, say so, delete nothing.
                        events.push(|| Event {
                            detail: Some(why),
                            ..event(EventKind::RegistryUnreadable, id, Some(mode))
                        });
                        true
                    }
                };
            let decision = decide_mode(mode, entry.stats.activity(), shared);
            let kind = match decision.release {
                Release::Refused => EventKind::Refused,
                _ => EventKind::Decided,
            };
            let detail = cancelled.as_ref().map(|c| c.detail(decision.release));
            events.push(|| Event {
                out_flags: decision.out_flags,
                decision: Some(decision),
                detail,
                ..event(kind, id, Some(mode))
            });
            if cancelled.is_some()
                && decision.release == Release::Refused
                && entry.stats.pending.is_none()
                && !entry.stats.released
            {
                // The gates were closed while the transports cancelled: a refusal opens
                // them again, as the table says.
                entry.stats.allowed = decision.allowed;
            }
            let mut waiter = None;
            match decision.release {
                Release::Refused if final_release => {
                    entry.stats.pending = Some(mode);
                    entry.deferred = true;
                    events.push(|| Event {
                        out_flags: decision.out_flags,
                        ..event(EventKind::ReleaseDeferred, id, Some(mode))
                    });
                }
                Release::Refused => {}
                Release::Now => {
                    let e = || Event {
                        out_flags: decision.out_flags,
                        detail: Some(if shared {
                            "this client only; the store stays open for the others".into()
                        } else {
                            "now".into()
                        }),
                        ..event(EventKind::Released, id, Some(mode))
                    };
                    if shared {
                        // The others keep their gates: only this client's hold ends.
                        entry.stats.clients = entry.stats.clients.saturating_sub(1);
                        if entry.stats.clients == 0
                            && let Some(registry) = &self.inner.registry
                        {
                            registry.withdraw(id);
                        }
                        events.push(e);
                        self.inner.stores.note(entry);
                    } else {
                        self.release_entry(entry, id, &mut events, e);
                    }
                }
                Release::WhenDrained => {
                    entry.stats.allowed = decision.allowed;
                    entry.stats.pending = Some(mode);
                    entry.deferred = false;
                    if decision.waits {
                        waiter = Some(
                            entry
                                .waiter
                                .get_or_insert_with(|| self.inner.runtime.signal())
                                .clone(),
                        );
                    }
                }
            }
            (decision, waiter)
        };
        *flags = decision.out_flags.bits();
        self.dispatch(events);
        self.inner.stores.sweep();
        if !decision.waits {
            return Ok(());
        }
        // PURGE: one deadline, from now, covers both the flushes and the release, so a
        // transport whose flush never returns cannot hold the caller past it.
        let purge_deadline = self.purge_deadline();
        let deadline = self.inner.runtime.now().saturating_add(purge_deadline);
        let flushed = self
            .start_flush(id, mode, decision.flush_flags)
            .is_none_or(|done| done.wait_until(deadline));
        let released = waiter.as_ref().is_none_or(|w| w.wait_until(deadline));
        if flushed && released {
            return Ok(());
        }
        let mut still_pending = false;
        if let Some(waiter) = waiter.filter(|_| !released) {
            // The logoff goes on as NO_WAIT, with nobody waiting.
            let entry = &mut *slot.lock();
            if entry
                .waiter
                .as_ref()
                .is_some_and(|w| Arc::ptr_eq(w, &waiter))
            {
                entry.waiter = None;
                entry.stats.pending = Some(Mode::NoWait);
                still_pending = true;
            }
        }
        if flushed && !still_pending {
            // Released between the deadline and the lock: not a timeout after all.
            return Ok(());
        }
        let mut events = self.events();
        events.push(|| Event {
            out_flags: decision.out_flags,
            detail: Some(if still_pending {
                format!("PURGE deadline of {purge_deadline:?} passed; continuing as NO_WAIT")
            } else {
                format!("PURGE deadline of {purge_deadline:?} passed before flush_queues returned")
            }),
            ..event(EventKind::TimedOut, id, Some(mode))
        });
        self.dispatch(events);
        Err(Error::Timeout)
    }

    /// Calls every transport's `flush_queues` as one job on a worker of the runtime; `None`
    /// when there is nothing to call or no worker can be had (then the flushes are skipped,
    /// with an event: they never run on the caller's thread), else what completes once
    /// every call has returned. A job queued behind busy workers is not cancelled when its
    /// caller's deadline passes: the flush still helps the logoff that goes on as NO_WAIT.
    fn start_flush(&self, id: &Arc<str>, mode: Mode, flags: FlushFlags) -> Option<Arc<dyn Signal>> {
        if flags.is_empty() || self.inner.transports.read().map_or(true, |t| t.is_empty()) {
            return None;
        }
        let done = self.inner.runtime.signal();
        let (spooler, id2, done2) = (self.clone(), id.clone(), done.clone());
        let job = Box::new(move || {
            spooler.flush_transports(&id2, mode, flags);
            done2.complete();
        });
        match self.inner.runtime.spawn(job) {
            Ok(()) => Some(done),
            Err(_) => {
                self.flush_skipped(id, mode, "no worker could be had");
                None
            }
        }
    }

    /// ABORT of a store with transfers in flight, when every registered transport can
    /// cancel (and there is at least one) and no other client holds the store: closes the
    /// store's gates, calls every transport's `cancel` as one job on a worker of the
    /// runtime, outside every lock, and waits for them up to the spooler's deadline (the
    /// PURGE deadline). `None` when nothing was tried; the caller then decides as usual.
    /// The gates stay closed: the decision that follows opens them again if it refuses.
    fn cancel_transfers(&self, id: &Arc<str>, slot: &Arc<Slot>) -> Option<CancelOutcome> {
        if !self.inner.has_transports.load(Ordering::Acquire) {
            return None;
        }
        let transports = self
            .inner
            .transports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if transports.is_empty() || !transports.iter().all(|(_, t)| t.can_cancel(id)) {
            return None;
        }
        {
            let entry = &mut *slot.lock();
            if !entry.stats.activity().in_flight()
                || entry.stats.clients > 1
                || entry.stats.pending.is_some()
            {
                return None;
            }
            // Another process's client, or a registry that cannot tell: not ours to cancel.
            if let Some(registry) = &self.inner.registry
                && !matches!(registry.others_hold(id), Held::No)
            {
                return None;
            }
            entry.stats.allowed = Activity::empty();
            entry.cancelling += 1;
        }
        let deadline_len = self.purge_deadline();
        let deadline = self.inner.runtime.now().saturating_add(deadline_len);
        let done = self.inner.runtime.signal();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let calling = Arc::new(AtomicU64::new(0));
        let job = {
            let (spooler, id, slot, done) = (self.clone(), id.clone(), slot.clone(), done.clone());
            let (failures, calling) = (failures.clone(), calling.clone());
            Box::new(move || {
                for (tid, t) in transports.iter() {
                    calling.store(*tid, Ordering::Relaxed);
                    let failure = match catch_unwind(AssertUnwindSafe(|| t.cancel(&id))) {
                        Ok(Ok(())) => continue,
                        Ok(Err(err)) => err.to_string(),
                        Err(panic) => panic_message(&panic),
                    };
                    lock(&failures).push(format!("transport {tid}: {failure}"));
                }
                calling.store(0, Ordering::Relaxed);
                spooler.cancel_done(&slot);
                done.complete();
            })
        };
        if self.inner.runtime.spawn(job).is_err() {
            self.cancel_done(slot);
            return Some(CancelOutcome {
                failures: vec!["cancel skipped: no worker could be had".into()],
            });
        }
        let answered = done.wait_until(deadline);
        let mut failures = lock(&failures).clone();
        if !answered {
            let tid = calling.load(Ordering::Relaxed);
            failures.push(format!(
                "transport {tid}: cancel did not answer within {deadline_len:?}"
            ));
        }
        Some(CancelOutcome { failures })
    }

    /// A cancel job ended: `end_send(false)` no longer counts as a cancellation.
    fn cancel_done(&self, slot: &Slot) {
        {
            let entry = &mut *slot.lock();
            entry.cancelling = entry.cancelling.saturating_sub(1);
            self.inner.stores.note(entry);
        }
        self.inner.stores.sweep();
    }

    fn flush_skipped(&self, id: &Arc<str>, mode: Mode, why: &str) {
        let mut events = self.events();
        events.push(|| Event {
            detail: Some(format!("flush_queues skipped: {why}")),
            ..event(EventKind::FlushFailed, id, Some(mode))
        });
        self.dispatch(events);
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
                    let w = entry
                        .waiter
                        .get_or_insert_with(|| self.inner.runtime.signal())
                        .clone();
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

/// What an ABORT's cancellations came to.
struct CancelOutcome {
    /// The transports whose `cancel` failed, panicked or did not answer in time.
    failures: Vec<String>,
}

impl CancelOutcome {
    /// The decision event's detail.
    fn detail(&self, release: Release) -> String {
        let failures = self.failures.join("; ");
        match (release, failures.is_empty()) {
            (Release::Refused, true) => {
                "a transfer is still in flight after every transport cancelled".into()
            }
            (Release::Refused, false) => {
                format!("a transfer in flight could not be cancelled: {failures}")
            }
            (_, true) => "the transfers in flight were cancelled".into(),
            (_, false) => format!("nothing left in flight, though {failures}"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
struct SpoolerSupport {
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
        self.slot.lock().stats.activity()
    }
}
