//! The simulated transports: what the spooler calls (FlushQueues, cancel), and each link's
//! sender and receiver, which report every transfer to the spooler, respect its refusals
//! and poll again on the virtual clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mapi_logoff::{Error, FlushFlags, Runtime, Transport};

use super::ms;
use super::shared::Shared;
use crate::scenario::TransportSpec;
use crate::spec::flush_names;

/// A simulated transport as the spooler sees it: FlushQueues wakes its sender (and its
/// receiver, for a download) and takes `flush_ms` of virtual time.
pub(super) struct SimTransport {
    pub(super) index: usize,
    pub(super) spec: TransportSpec,
    pub(super) shared: Arc<Shared>,
}

impl Transport for SimTransport {
    fn flush_queues(&self, store_id: &str, flags: FlushFlags) -> mapi_logoff::Result<()> {
        let key = (self.index, store_id.to_owned());
        if !self.shared.links.contains_key(&key) {
            return Ok(()); // it does not serve this store
        }
        let mut detail = format!("FlushQueues({}) on {}", flush_names(flags), self.spec.name);
        if self.spec.flush_ms > 0 {
            detail += &format!(", takes {} ms", self.spec.flush_ms);
        }
        self.shared.record(store_id, "flush", detail);
        if flags.contains(FlushFlags::UPLOAD) {
            wake_sender(&self.shared, self.index, store_id);
        }
        if flags.contains(FlushFlags::DOWNLOAD) {
            wake_receiver(&self.shared, self.index, store_id);
        }
        if self.spec.flush_ms > 0 {
            self.shared.rt.sleep(ms(self.spec.flush_ms));
        }
        if self.spec.flush_fails {
            return Err(Error::CallFailed);
        }
        Ok(())
    }

    fn can_cancel(&self, store_id: &str) -> bool {
        // A transport that does not serve the store has nothing of it to cancel.
        self.spec.can_cancel || !self.spec.serves(store_id)
    }

    /// Aborts the link's send and reception in flight: the send goes back to the queue
    /// (`end_send(false)`), the reception back to the server (`cancel_receive`).
    fn cancel(&self, store_id: &str) -> mapi_logoff::Result<()> {
        let key = (self.index, store_id.to_owned());
        let Some(link) = self.shared.links.get(&key) else {
            return Ok(()); // it does not serve this store
        };
        let mut detail = format!(
            "TransportNotify(NOTIFY_CANCEL_MESSAGE) on {}",
            self.spec.name
        );
        if self.spec.cancel_ms > 0 {
            detail += &format!(", takes {} ms", self.spec.cancel_ms);
        }
        self.shared.record(store_id, "cancel", detail);
        if self.spec.cancel_ms > 0 {
            self.shared.rt.sleep(ms(self.spec.cancel_ms));
        }
        if self.spec.cancel_fails {
            return Err(Error::CallFailed);
        }
        let spooler = self.shared.spooler();
        if link.sending.swap(false, Ordering::Relaxed) {
            link.send_token.fetch_add(1, Ordering::Relaxed);
            match spooler.end_send(store_id, false) {
                Ok(()) => {
                    self.shared.counters[store_id]
                        .cancelled_sends
                        .fetch_add(1, Ordering::Relaxed);
                }
                // It ended meanwhile: nothing to cancel.
                Err(Error::NotFound) => {}
                Err(e) => self
                    .shared
                    .record(store_id, "error", format!("end_send: {}", e.name())),
            }
            self.shared.sample(&spooler, store_id);
            poll_later(&self.shared, self.index, store_id, true);
        }
        if link.receiving.swap(false, Ordering::Relaxed) {
            link.receive_token.fetch_add(1, Ordering::Relaxed);
            match spooler.cancel_receive(store_id) {
                // Saved and delivered again on a later logon: back at the server.
                Ok(()) => {
                    link.at_server.fetch_add(1, Ordering::Relaxed);
                }
                Err(Error::NotFound) => {}
                Err(e) => {
                    self.shared
                        .record(store_id, "error", format!("cancel_receive: {}", e.name()))
                }
            }
            self.shared.sample(&spooler, store_id);
            poll_later(&self.shared, self.index, store_id, false);
        }
        Ok(())
    }
}

/// A seed for one worker, derived from the run's seed.
pub(super) fn worker_seed(seed: u64, transport: usize, store: usize, role: u64) -> u64 {
    seed ^ (transport as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (store as u64 + 1).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ role.wrapping_mul(0x1656_67B1_9E37_79F9)
}

/// Runs the sender of link (t, store) now, unless a send is under way (its end runs it).
fn wake_sender(shared: &Arc<Shared>, t: usize, store: &str) {
    let link = &shared.links[&(t, store.to_owned())];
    let generation = link.send_generation.fetch_add(1, Ordering::Relaxed) + 1;
    if !link.sending.load(Ordering::Relaxed) {
        let (sh, id) = (shared.clone(), store.to_owned());
        let now = shared.rt.now();
        shared
            .rt
            .call_at(now, move || sender_step(&sh, t, &id, generation));
    }
}

fn wake_receiver(shared: &Arc<Shared>, t: usize, store: &str) {
    let link = &shared.links[&(t, store.to_owned())];
    let generation = link.receive_generation.fetch_add(1, Ordering::Relaxed) + 1;
    if !link.receiving.load(Ordering::Relaxed) {
        let (sh, id) = (shared.clone(), store.to_owned());
        let now = shared.rt.now();
        shared
            .rt
            .call_at(now, move || receiver_step(&sh, t, &id, generation));
    }
}

/// Polls again after the transport's poll interval (a wake-up meanwhile supersedes it).
fn poll_later(shared: &Arc<Shared>, t: usize, store: &str, send: bool) {
    let link = &shared.links[&(t, store.to_owned())];
    let (sh, id) = (shared.clone(), store.to_owned());
    let at = shared.rt.now() + ms(shared.specs[t].poll_ms.get());
    if send {
        let generation = link.send_generation.load(Ordering::Relaxed);
        shared
            .rt
            .call_at(at, move || sender_step(&sh, t, &id, generation));
    } else {
        let generation = link.receive_generation.load(Ordering::Relaxed);
        shared
            .rt
            .call_at(at, move || receiver_step(&sh, t, &id, generation));
    }
}

/// The sender of one link: starts a send when the gate and the queue allow, else looks
/// again later. A send under way always completes, even when the run stops.
pub(super) fn sender_step(shared: &Arc<Shared>, t: usize, store: &str, generation: u64) {
    let link = &shared.links[&(t, store.to_owned())];
    if shared.stopped()
        || link.sending.load(Ordering::Relaxed)
        || link.send_generation.load(Ordering::Relaxed) != generation
    {
        return;
    }
    let spooler = shared.spooler();
    match spooler.begin_send(store) {
        Ok(()) => {
            shared.sample(&spooler, store);
            link.sending.store(true, Ordering::Relaxed);
            let token = link.send_token.fetch_add(1, Ordering::Relaxed) + 1;
            let (sh, id) = (shared.clone(), store.to_owned());
            let at = shared.rt.now() + ms(shared.specs[t].send_ms.get());
            shared.rt.call_at(at, move || {
                let link = &sh.links[&(t, id.clone())];
                if link.send_token.load(Ordering::Relaxed) != token {
                    return; // cancelled
                }
                let failure_rate = sh.specs[t].failure_rate.0;
                let sent = link.rng.lock().unwrap().as_mut().expect("seeded").f64() >= failure_rate;
                if !sent {
                    sh.counters[&id]
                        .failed_sends
                        .fetch_add(1, Ordering::Relaxed);
                }
                let spooler = sh.spooler();
                if let Err(e) = spooler.end_send(&id, sent) {
                    sh.record(&id, "error", format!("end_send: {}", e.name()));
                }
                sh.sample(&spooler, &id);
                link.sending.store(false, Ordering::Relaxed);
                let generation = link.send_generation.load(Ordering::Relaxed);
                sender_step(&sh, t, &id, generation);
            });
        }
        // Gate closed (the message stays queued) or nothing queued: look again later.
        Err(Error::NoAccess | Error::NotFound) => poll_later(shared, t, store, true),
        Err(e) => {
            shared.record(store, "error", format!("begin_send: {}", e.name()));
            poll_later(shared, t, store, true);
        }
    }
}

pub(super) fn receiver_step(shared: &Arc<Shared>, t: usize, store: &str, generation: u64) {
    let link = &shared.links[&(t, store.to_owned())];
    if shared.stopped()
        || link.receiving.load(Ordering::Relaxed)
        || link.receive_generation.load(Ordering::Relaxed) != generation
    {
        return;
    }
    if link.at_server.load(Ordering::Relaxed) == 0 {
        poll_later(shared, t, store, false);
        return;
    }
    let spooler = shared.spooler();
    match spooler.begin_receive(store) {
        Ok(()) => {
            shared.sample(&spooler, store);
            // Taken from the server only once the spooler accepted the reception.
            link.at_server.fetch_sub(1, Ordering::Relaxed);
            link.refusing.store(false, Ordering::Relaxed);
            link.receiving.store(true, Ordering::Relaxed);
            let token = link.receive_token.fetch_add(1, Ordering::Relaxed) + 1;
            let (sh, id) = (shared.clone(), store.to_owned());
            let at = shared.rt.now() + ms(shared.specs[t].receive_ms.get());
            shared.rt.call_at(at, move || {
                let link = &sh.links[&(t, id.clone())];
                if link.receive_token.load(Ordering::Relaxed) != token {
                    return; // cancelled
                }
                let spooler = sh.spooler();
                if let Err(e) = spooler.end_receive(&id) {
                    sh.record(&id, "error", format!("end_receive: {}", e.name()));
                }
                sh.sample(&spooler, &id);
                link.receiving.store(false, Ordering::Relaxed);
                let generation = link.receive_generation.load(Ordering::Relaxed);
                receiver_step(&sh, t, &id, generation);
            });
        }
        Err(Error::NoAccess) => {
            if !link.refusing.swap(true, Ordering::Relaxed) {
                shared.record(
                    store,
                    "arrival_refused",
                    format!(
                        "reception via {} refused, MAPI_E_NO_ACCESS: the message stays at the server",
                        shared.specs[t].name
                    ),
                );
            }
            poll_later(shared, t, store, false);
        }
        Err(e) => {
            shared.record(store, "error", format!("begin_receive: {}", e.name()));
            poll_later(shared, t, store, false);
        }
    }
}
