//! StoreLogoffTransports as the spooler carries it out: the decision for one client of a
//! store, the release it leads to, PURGE (flush every transport on a worker, then wait for
//! the store's release, one deadline for both) and ABORT with transports that can cancel
//! (cancel the transfers in flight on a worker, then decide on what is left).

use std::sync::Arc;

use super::*;

impl Spooler {
    fn flush_transports(&self, id: &Arc<str>, mode: Mode, flags: FlushFlags) {
        let transports = snapshot(&self.inner.transports);
        let mut events = self.events();
        for (tid, t) in transports.iter() {
            let Some(failure) = failure_of(|| t.flush_queues(id, flags)) else {
                continue;
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
    pub(super) fn store_logoff_transports(
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
            // The registry's answer and, if the store is released, its withdrawal: one
            // lock of the registry for both.
            let mut registry = self.inner.registry.as_ref().map(|r| r.deciding(id));
            let shared = entry.stats.clients > 1
                || match registry.as_mut().map(Deciding::others_hold) {
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
                            && let Some(registry) = &mut registry
                        {
                            registry.withdraw();
                        }
                        events.push(e);
                        self.inner.stores.note(entry);
                    } else {
                        self.release_entry_deciding(entry, id, &mut events, e, registry.as_mut());
                    }
                }
                Release::WhenDrained => {
                    entry.stats.allowed = decision.allowed;
                    entry.stats.pending = Some(mode);
                    entry.deferred = false;
                    if decision.waits {
                        waiter = Some(entry.waiter_or(|| self.inner.runtime.signal()));
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
                .is_some_and(|w| Arc::ptr_eq(&**w, &waiter))
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
        let transports = snapshot(&self.inner.transports);
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
            // 65,535 ABORTs already cancelling this very store: this one decides as the
            // table says, without cancelling.
            let cancelling = entry.cancelling.checked_add(1)?;
            entry.stats.allowed = Activity::empty();
            entry.cancelling = cancelling;
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
                    if let Some(failure) = failure_of(|| t.cancel(&id)) {
                        lock(&failures).push(format!("transport {tid}: {failure}"));
                    }
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
