//! The stores a spooler serves, by id, and how it forgets the ones it no longer needs.
//!
//! Each store's state sits in a slot of its own, behind its own lock, in a lock-free index
//! (`scc::HashIndex`: lookups write no shared memory, so threads on different stores never
//! meet). Store handles keep their slot and need no lookup at all.
//!
//! **Memory is bounded by the stores in use.** A store whose last client was released,
//! with nothing queued, in flight or pending, is *idle* (at rest, the docs say; a store
//! that transports report on with no client is never idle: it was never released): the
//! spooler keeps it for a while
//! exactly as it was (counters, gates closed, `released`), so a transport racing the
//! logoff is still refused and the next open carries on. Idle stores are forgotten in
//! sweeps, two generations at a time: a sweep runs once the stores that went idle since
//! the last sweep are at least [`REMEMBER_MIN`] and at least as many as the stores in use,
//! and it forgets the stores that were idle already at the last sweep (and have stayed
//! so). So a store is remembered until at least that many other stores went idle after
//! it, the stores remembered idle are never more than twice that, and each costs O(1)
//! amortized. A forgotten store is, to the spooler, a store never mentioned: it reads all
//! zero with its gates closed, and its next mention serves it afresh. After a sweep the
//! index shrinks on its own, and once the slots swept since the last time are at least
//! those left, the freed heap pages go back to the system.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use foldhash::fast::RandomState as IdHasher;
use scc::HashIndex;
use scc::ebr::Guard;

use super::StoreStats;
use crate::clock::Signal;
use crate::flags::Activity;
use crate::trim;

/// A sweep waits until at least this many stores went idle since the last one.
pub(super) const REMEMBER_MIN: usize = 64;

/// One idle store in [`Slots::idle`]'s high half; the low half counts the new ones.
const IDLE_ONE: u64 = 1 << 32;
const IDLE_NEW: u64 = IDLE_ONE - 1;

// Two cache lines a store (the index's entry and the id's bytes aside): the counts of the
// memory figure assume it.
const _: () = assert!(std::mem::size_of::<Slot>() == 128);

/// One store's state, shared by the index and the store's handles. The alignment gives
/// every slot cache lines of its own, so threads working on different stores never write
/// to the same line.
#[repr(align(64))]
pub(super) struct Slot {
    /// The store's id, shared with its events and handles.
    pub(super) id: Arc<str>,
    /// The store's activity (`Activity` bits), written under the lock whenever a report
    /// changes it, so that StoreLogoff reads it without the lock.
    activity: AtomicU32,
    entry: Mutex<Entry>,
}

pub(super) struct Entry {
    pub(super) stats: StoreStats,
    /// The waiters of a logoff under way; completed when the store is released. Boxed: a
    /// thin pointer leaves room in the slot's two cache lines for its activity.
    pub(super) waiter: Option<Box<Arc<dyn Signal>>>,
    /// The pending logoff comes from a refused final release.
    pub(super) deferred: bool,
    /// ABORT cancel jobs running for the store: while one runs, a send that ends not sent
    /// counts as cancelled.
    pub(super) cancelling: u16,
    /// The sweep generation in which the store went idle, while it stays idle.
    idle_since: Option<NonZeroU32>,
    /// Swept out of the index: whoever finds it looks the id up again.
    removed: bool,
}

impl Entry {
    /// A store's state on its first mention: all gates open.
    fn fresh() -> Entry {
        Entry {
            stats: StoreStats {
                allowed: Activity::all(),
                ..StoreStats::default()
            },
            waiter: None,
            deferred: false,
            cancelling: 0,
            idle_since: None,
            removed: false,
        }
    }

    /// The waiters' signal of the logoff under way, made with `make` if there is none yet.
    pub(super) fn waiter_or(&mut self, make: impl FnOnce() -> Arc<dyn Signal>) -> Arc<dyn Signal> {
        Arc::clone(self.waiter.get_or_insert_with(|| Box::new(make())))
    }

    /// Released (its last client gone, not opened again), no logoff under way, nothing
    /// queued or in flight. A store that transports report on without a client is never
    /// idle: it was never released, and forgetting it between two transfers would only
    /// make the next report serve it again.
    fn is_idle(&self) -> bool {
        let s = &self.stats;
        s.released
            && s.clients == 0
            && s.pending.is_none()
            && self.waiter.is_none()
            && self.cancelling == 0
            && s.activity().is_empty()
    }
}

impl Slot {
    /// The store's state, locked. Poison is ignored: no code panics while holding a slot's
    /// lock (callbacks run outside it), so a poisoned lock holds consistent data.
    pub(super) fn lock(&self) -> MutexGuard<'_, Entry> {
        self.entry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store's activity as the last report left it, read without the lock.
    pub(super) fn activity(&self) -> Activity {
        Activity::from_bits_truncate(self.activity.load(Ordering::Acquire))
    }

    /// Publishes the activity of `entry`, this slot's locked state, after a report
    /// changed its counters.
    pub(super) fn note_activity(&self, entry: &Entry) {
        self.activity
            .store(entry.stats.activity().bits(), Ordering::Release);
    }
}

/// A store's slot, locked, as [`Slots::serve`] found it.
pub(super) struct Served<'g> {
    pub(super) slot: &'g Arc<Slot>,
    pub(super) entry: MutexGuard<'g, Entry>,
    /// This call created the slot: the id was not served before.
    created: bool,
}

/// The index of the stores a spooler serves.
pub(super) struct Slots {
    index: HashIndex<Arc<str>, Arc<Slot>, IdHasher>,
    /// Slots in the index.
    count: AtomicUsize,
    /// Slots idle, in all (the high half) and since the last sweep (the low half): one
    /// atomic operation notes a store going idle, or back in use.
    idle: AtomicU64,
    /// The sweep generation: one more at every sweep (never 0; it wraps past `u32::MAX`,
    /// and generations are compared as wrapping differences).
    generation: AtomicU32,
    sweeping: AtomicBool,
    /// Slots swept out since the heap was last given back.
    removed_since_trim: AtomicUsize,
}

impl Slots {
    pub(super) fn new() -> Slots {
        Slots {
            index: HashIndex::with_hasher(IdHasher::default()),
            count: AtomicUsize::new(0),
            idle: AtomicU64::new(0),
            generation: AtomicU32::new(1),
            sweeping: AtomicBool::new(false),
            removed_since_trim: AtomicUsize::new(0),
        }
    }

    /// The slot of `store_id`, locked: created, with all gates open, on the id's first
    /// mention. One hash and no shared write when the store is served already. A call that
    /// then fails gives the slot to [`unserve`](Slots::unserve), and changes nothing.
    pub(super) fn serve<'g>(&self, store_id: &str, guard: &'g Guard) -> Served<'g> {
        let mut created = false;
        loop {
            let Some(slot) = self.index.peek(store_id, guard) else {
                let id: Arc<str> = Arc::from(store_id);
                let slot = Arc::new(Slot {
                    id: id.clone(),
                    activity: AtomicU32::new(0),
                    entry: Mutex::new(Entry::fresh()),
                });
                if self.index.insert(id, slot).is_ok() {
                    self.count.fetch_add(1, Ordering::Relaxed);
                    created = true;
                }
                continue;
            };
            let entry = slot.lock();
            if entry.removed {
                // A sweep took it out and is about to drop it from the index.
                drop(entry);
                std::thread::yield_now();
                continue;
            }
            return Served {
                slot,
                entry,
                created,
            };
        }
    }

    /// Undoes [`serve`](Slots::serve) for a call that failed: a slot the call created
    /// leaves the index, so the id reads as never mentioned again.
    pub(super) fn unserve(&self, mut served: Served<'_>) {
        if !served.created {
            return;
        }
        served.entry.removed = true;
        let slot = served.slot;
        if self
            .index
            .remove_if(&*slot.id, |found| Arc::ptr_eq(found, slot))
        {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The store's counters; a store not served (never mentioned, or forgotten) reads as
    /// `StoreStats::default()`.
    pub(super) fn stats(&self, store_id: &str) -> StoreStats {
        let guard = Guard::new();
        self.index
            .peek(store_id, &guard)
            .map(|slot| slot.lock())
            .filter(|entry| !entry.removed)
            .map_or_else(StoreStats::default, |entry| entry.stats)
    }

    /// Notes whether the store is idle now (it may be forgotten in a later sweep) or in
    /// use again. Call it after every change of a store's clients, logoff or activity
    /// that can make it idle or end its idleness; then [`sweep`](Slots::sweep) once the
    /// lock is let go.
    pub(super) fn note(&self, entry: &mut Entry) {
        match (entry.idle_since, entry.is_idle()) {
            (None, true) => {
                let generation = NonZeroU32::new(self.generation.load(Ordering::Relaxed));
                entry.idle_since = Some(generation.unwrap_or(NonZeroU32::MIN));
                self.idle.fetch_add(IDLE_ONE | 1, Ordering::Relaxed);
            }
            (Some(since), false) => {
                entry.idle_since = None;
                if since.get() == self.generation.load(Ordering::Relaxed) {
                    // Saturating: a sweep may have reset the count since.
                    let _ = self
                        .idle
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                            Some(
                                w.wrapping_sub(IDLE_ONE) & !IDLE_NEW
                                    | (w & IDLE_NEW).saturating_sub(1),
                            )
                        });
                } else {
                    self.idle.fetch_sub(IDLE_ONE, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }

    /// Forgets the stores idle since before the last sweep, once as many stores went idle
    /// since then as [`REMEMBER_MIN`] and as the stores in use; then gives the freed memory
    /// back. Cheap when there is nothing to do; call it with no slot locked.
    pub(super) fn sweep(&self) {
        let idle = self.idle.load(Ordering::Relaxed);
        let idle_new = (idle & IDLE_NEW) as usize;
        if idle_new < REMEMBER_MIN {
            return;
        }
        let in_use = self
            .count
            .load(Ordering::Relaxed)
            .saturating_sub((idle / IDLE_ONE) as usize);
        if idle_new < in_use || self.sweeping.swap(true, Ordering::Acquire) {
            return;
        }
        let generation = self
            .generation
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| {
                Some(g.checked_add(1).unwrap_or(1))
            })
            .unwrap_or(1);
        self.idle.fetch_and(!IDLE_NEW, Ordering::Relaxed);
        let mut removed = 0;
        self.index.retain(|_, slot| {
            // A slot in use right now is not idle: keep it (the lock order is the index's
            // bucket, then the slot, so never wait here).
            let mut entry = match slot.entry.try_lock() {
                Ok(entry) => entry,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return true,
            };
            // Idle since a generation before this sweep's (a wrapping difference: one
            // going idle during the sweep is a generation after it).
            if entry
                .idle_since
                .is_none_or(|since| (generation.wrapping_sub(since.get()) as i32) <= 0)
            {
                return true;
            }
            entry.removed = true;
            removed += 1;
            false
        });
        self.idle
            .fetch_sub(removed as u64 * IDLE_ONE, Ordering::Relaxed);
        self.count.fetch_sub(removed, Ordering::Relaxed);
        self.sweeping.store(false, Ordering::Release);
        if removed > 0 {
            // The removals started shrinking the index, which moves its entries to a
            // smaller array bit by bit on later calls: finish it now (a lookup that finds
            // nothing walks the index and completes the move), so that the old array is
            // retired, then freed.
            let _ = self.index.any_entry(|_, _| false);
            reclaim(8);
            // Give the pages back once what was freed since the last time is at least
            // what is left (and some): a busy spooler does not trim the heap every sweep.
            let freed = self
                .removed_since_trim
                .fetch_add(removed, Ordering::Relaxed)
                + removed;
            if freed >= (4 * REMEMBER_MIN).max(self.count.load(Ordering::Relaxed)) {
                self.removed_since_trim.store(0, Ordering::Relaxed);
                trim::give_back_memory();
            }
        }
    }

    /// Every served store's slot.
    pub(super) fn all(&self) -> Vec<Arc<Slot>> {
        let guard = Guard::new();
        self.index
            .iter(&guard)
            .map(|(_, slot)| slot.clone())
            .collect()
    }
}

/// Lets the index's epoch-based reclamation drop what it retired (swept entries, outgrown
/// bucket arrays) now rather than at some later call: a few epochs pass once no guard of
/// this thread is alive.
fn reclaim(epochs: usize) {
    for _ in 0..epochs {
        let guard = Guard::new();
        guard.accelerate();
        drop(guard);
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.index.clear();
        reclaim(16);
    }
}
