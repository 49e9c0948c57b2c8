//! What the store calls find on this JS thread, in one thread-local (`JS`): the
//! spoolers by slot (`Spoolers`), the slab of store handles (`Slab`) and the shared
//! argument buffers of [`crate::cycle`].
//!
//! Store handles live in a slab on the JS thread, not in `napi_wrap`ped objects: the JS
//! `Store` holds a number, and its methods are plain functions taking it (wrapping an
//! object per open and unwrapping it per call cost most of an idle store cycle). A handle
//! is `generation * 2^32 + slot`; the slot is freed, and its generation advanced, by the
//! release that returns 0, so a stale handle never reaches the store that reuses the slot.
//! A stale handle names a finally released store (`TOMBSTONE`). Stores never released
//! are dropped with their spooler's `NativeSpooler` (the JS `Store` keeps its `Spooler`
//! alive), as their wrapped objects were dropped with them.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use mapi_logoff as ml;
use napi::sys;

use crate::cycle::Args;

/// The spoolers of this JS thread, by `NativeSpooler::slot`: `spooler_open_store` finds
/// its spooler here instead of unwrapping a `NativeSpooler`.
pub(crate) struct Spoolers {
    pub(crate) slots: Vec<Option<ml::Spooler>>,
    pub(crate) free: Vec<u32>,
}

impl Spoolers {
    const fn new() -> Spoolers {
        Spoolers {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, spooler: &ml::Spooler) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(spooler.clone());
                i
            }
            None => {
                self.slots.push(Some(spooler.clone()));
                (self.slots.len() - 1) as u32
            }
        }
    }
}

/// What the store calls find on this JS thread, in one thread-local: each access to a
/// thread-local of this shared library is a call to `__tls_get_addr`, and the store cycle's
/// calls now make one each (they made two to seven, about a tenth of the cycle).
pub(crate) struct JsThread {
    pub(crate) spoolers: Spoolers,
    pub(crate) stores: Slab,
    /// The buffer of each JS environment on this thread, with its `napi_env`.
    pub(crate) args: Vec<(sys::napi_env, *mut Args)>,
}

thread_local! {
    pub(crate) static JS: RefCell<JsThread> = const {
        RefCell::new(JsThread {
            spoolers: Spoolers::new(),
            stores: Slab::new(),
            args: Vec::new(),
        })
    };
}

/// Opens a store on the spooler in slot `spooler` and gives it a slot in `stores`: the
/// store's handle. Runs inside the borrow of [`JS`]: opening reaches no JS (events are
/// posted).
pub(crate) fn open_store_in(
    spoolers: &Spoolers,
    stores: &mut Slab,
    spooler: u32,
    store_id: &str,
) -> ml::Result<f64> {
    let store = spoolers
        .slots
        .get(spooler as usize)
        .and_then(Option::as_ref)
        .ok_or(ml::Error::InvalidObject)?
        .open_store(store_id)?;
    Ok(stores.insert(spooler, store))
}

/// Generations stay below this, so a handle is an exact f64; a slot whose generation
/// would reach it is retired instead of reused.
const MAX_GENERATION: u32 = 1 << 21;
const SLOT_RANGE: f64 = 4_294_967_296.0;

pub(crate) struct Slot {
    generation: u32,
    /// The `NativeSpooler::slot` of the spooler that opened the store.
    owner: u32,
    pub(crate) store: Option<ml::Store>,
    /// The mode flag the store's last accepted `logoff` wrote back (0: none yet), which is
    /// the mode the core saved: only `logoff` changes it, and only on this thread.
    pub(crate) mode: Cell<u32>,
}

pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

thread_local! {
    /// What a stale handle names: a store whose count has reached 0, so every call
    /// answers as the core answers for a finally released handle.
    pub(crate) static TOMBSTONE: ml::Store = {
        let store = ml::Store::new(Arc::new(Released));
        store.release();
        store
    };
}

/// The support of [`TOMBSTONE`], whose only logoff is its own final release.
struct Released;

impl ml::Support for Released {
    fn store_logoff_transports(&self, _flags: &mut u32) -> ml::Result<()> {
        Ok(())
    }
}

fn handle_parts(handle: f64) -> Option<(usize, u32)> {
    if !(0.0..SLOT_RANGE * f64::from(MAX_GENERATION)).contains(&handle) {
        return None;
    }
    let h = handle as u64;
    if h as f64 != handle {
        return None;
    }
    Some(((h & 0xFFFF_FFFF) as usize, (h >> 32) as u32))
}

impl Slab {
    const fn new() -> Slab {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, owner: u32, store: ml::Store) -> f64 {
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    owner: 0,
                    store: None,
                    mode: Cell::new(0),
                });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.owner = owner;
        s.store = Some(store);
        s.mode.set(0);
        f64::from(s.generation) * SLOT_RANGE + f64::from(slot)
    }

    /// The slot `handle` names, if it still holds a store.
    pub(crate) fn slot(&self, handle: f64) -> Option<&Slot> {
        let (slot, generation) = handle_parts(handle)?;
        let s = self.slots.get(slot)?;
        (s.generation == generation && s.store.is_some()).then_some(s)
    }

    fn get(&self, handle: f64) -> Option<&ml::Store> {
        self.slot(handle)?.store.as_ref()
    }

    /// Empties the slot of `handle` if it still names a store, and advances its generation.
    pub(crate) fn remove(&mut self, handle: f64) -> Option<ml::Store> {
        let (slot, generation) = handle_parts(handle)?;
        let s = self.slots.get_mut(slot)?;
        if s.generation != generation {
            return None;
        }
        let store = s.store.take()?;
        self.vacate(slot);
        Some(store)
    }

    fn vacate(&mut self, slot: usize) {
        let s = &mut self.slots[slot];
        s.generation += 1;
        if s.generation < MAX_GENERATION {
            self.free.push(slot as u32);
        }
    }

    /// Empties every slot opened by spooler `owner`.
    pub(crate) fn remove_owned(&mut self, owner: u32) -> Vec<ml::Store> {
        let mut stores = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots[i].owner == owner
                && let Some(store) = self.slots[i].store.take()
            {
                stores.push(store);
                self.vacate(i);
            }
        }
        stores
    }
}

/// Calls `f` with the store `handle` names (the tombstone if none). `f` runs inside the
/// slab's borrow: it must not reach JS (no transport, no final release).
pub(crate) fn with_store<T>(handle: f64, f: impl FnOnce(&ml::Store) -> T) -> T {
    JS.with_borrow(|js| match js.stores.get(handle) {
        Some(store) => f(store),
        None => TOMBSTONE.with(f),
    })
}

/// The store `handle` names (the tombstone if none), for a call that may reach JS.
pub(crate) fn store_of(handle: f64) -> ml::Store {
    with_store(handle, ml::Store::clone)
}

/// Frees the slot of `handle` after a release returned 0 (the count stays 0).
pub(crate) fn forget_store(handle: f64) {
    // Dropped outside the borrow: the last clone of a spooler may go with it.
    let store = JS.with_borrow_mut(|js| js.stores.remove(handle));
    drop(store);
}
