//! The Store: the provider side of the protocol (`IMsgStore::StoreLogoff`, `AddRef`,
//! `Release`).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::decide::parse_mode;
use crate::error::{Error, Result};
use crate::flags::{Activity, LogoffFlags, Mode};
use crate::spooler::SpoolerSupport;

/// `IMAPISupport::StoreLogoffTransports` as a Store sees it: one object per open store.
///
/// The library's [`Spooler`](crate::Spooler) implements it for the stores it opens; a
/// provider that runs under a real MAPI subsystem implements it over that subsystem's
/// support object and builds its handle with [`Store::new`].
pub trait Support: Send + Sync {
    /// StoreLogoffTransports. `flags` holds one mode flag on entry and the decision's
    /// `out_flags` on return.
    ///
    /// `Ok` for a decided call, refused or not (the outcome is in the flags);
    /// `Err(Error::Timeout)` with `flags` written when a PURGE passed its deadline; any
    /// other error rejected the call and left `flags` unchanged.
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()>;

    /// StoreLogoffTransports from the final release: the handle is gone once it returns.
    /// The library's spooler then releases a refused store as soon as it is idle.
    /// The default is [`store_logoff_transports`](Support::store_logoff_transports).
    fn final_release(&self, flags: &mut u32) -> Result<()> {
        self.store_logoff_transports(flags)
    }

    /// The store's current activity, which `StoreLogoff` reports. An external support
    /// that cannot know it reports nothing (the default).
    fn activity(&self) -> Activity {
        Activity::empty()
    }

    /// The store's id, which [`Store::store_id`] reports: the id a spooler served the store
    /// under; `None` by default.
    fn store_id(&self) -> Option<&str> {
        None
    }
}

/// A client's handle on a message store: the `IMsgStore` side of the protocol.
///
/// The handle is reference counted like a COM object: [`open`](crate::Spooler::open_store)
/// or [`Store::new`] gives it a count of 1, [`add_ref`](Store::add_ref) adds one, and the
/// [`release`](Store::release) that brings the count to 0 calls StoreLogoffTransports
/// exactly once, with the mode saved by [`logoff`](Store::logoff) (ABORT if none). Cloning
/// the Rust value does not add a reference; it names the same handle.
#[derive(Clone)]
pub struct Store {
    // triomphe's Arc has no weak count: dropping the last clone is one atomic operation,
    // not two.
    inner: triomphe::Arc<StoreInner>,
}

/// The handle's state and its support, in one allocation.
struct StoreInner {
    /// A [`HandleState`], changed only by compare-and-swap.
    state: AtomicU64,
    support: Supporting,
}

/// A handle's support: the library's spooler, or a caller's.
enum Supporting {
    Spooler(SpoolerSupport),
    Caller(Arc<dyn Support>),
}

impl Supporting {
    fn get(&self) -> &dyn Support {
        match self {
            Supporting::Spooler(s) => s,
            Supporting::Caller(s) => &**s,
        }
    }
}

/// A caller's shared support object serves as a handle's support.
impl<S: Support + ?Sized> Support for Arc<S> {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        (**self).store_logoff_transports(flags)
    }

    fn final_release(&self, flags: &mut u32) -> Result<()> {
        (**self).final_release(flags)
    }

    fn activity(&self) -> Activity {
        (**self).activity()
    }

    fn store_id(&self) -> Option<&str> {
        (**self).store_id()
    }
}

/// The handle's whole state in one word, so that a call reads, checks and changes it with
/// one atomic compare-and-swap (a lock would cost two atomic operations, and every call
/// of the store cycle takes it): the reference count in the low 48 bits, then the flags
/// below, then the saved mode (0 for none, else its place in [`Mode::ALL`] plus one).
#[derive(Clone, Copy, PartialEq, Eq)]
struct HandleState(u64);

impl HandleState {
    /// The count's largest value, where it sticks: reaching it takes 2^48 add_refs (weeks
    /// of nothing else), and a count that had overflowed could release the handle under a
    /// holder, so a handle that gets there stays open for good instead.
    const REFS_MAX: u64 = (1 << 48) - 1;
    /// Strict validation of `logoff` flags.
    const STRICT: u64 = 1 << 48;
    /// An explicit logoff_transports answered COMPLETE: the handle is dead but for
    /// add_ref/release, and the final release calls nothing.
    const LOGGED_OFF: u64 = 1 << 49;
    /// A StoreLogoffTransports call on this handle is under way.
    const IN_CALL: u64 = 1 << 50;
    /// The count reached 0 while `IN_CALL`: the caller of that call runs the final one.
    const FINAL_PENDING: u64 = 1 << 51;
    /// The final StoreLogoffTransports has been called (or skipped after `LOGGED_OFF`).
    const FINISHED: u64 = 1 << 52;
    const MODE_SHIFT: u32 = 56;
    const MODE: u64 = 0b111 << Self::MODE_SHIFT;

    fn new(refs: u64, strict: bool) -> HandleState {
        HandleState(refs).with(Self::STRICT, strict)
    }

    fn refs(self) -> u64 {
        self.0 & Self::REFS_MAX
    }

    fn with_refs(self, refs: u64) -> HandleState {
        HandleState(self.0 & !Self::REFS_MAX | refs.min(Self::REFS_MAX))
    }

    fn has(self, flag: u64) -> bool {
        self.0 & flag != 0
    }

    fn with(self, flag: u64, on: bool) -> HandleState {
        HandleState(if on { self.0 | flag } else { self.0 & !flag })
    }

    fn saved_mode(self) -> Option<Mode> {
        match (self.0 & Self::MODE) >> Self::MODE_SHIFT {
            0 => None,
            i => Mode::ALL.get(i as usize - 1).copied(),
        }
    }

    fn with_mode(self, mode: Mode) -> HandleState {
        let i = Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0) as u64 + 1;
        HandleState(self.0 & !Self::MODE | i << Self::MODE_SHIFT)
    }

    /// Calls other than add_ref/release are accepted.
    fn check_valid(self) -> Result<()> {
        if self.refs() == 0 || self.has(Self::LOGGED_OFF) {
            Err(Error::InvalidObject)
        } else {
            Ok(())
        }
    }
}

impl Store {
    /// A handle with reference count 1 on a caller-supplied support, with lenient
    /// validation of its StoreLogoff flags (what real MAPI accepts).
    pub fn new(support: Arc<dyn Support>) -> Store {
        Store::new_with_validation(support, false)
    }

    /// A handle with reference count 1 on a caller-supplied support; `strict` opts in to
    /// strict validation of its StoreLogoff flags from the start.
    pub fn new_with_validation(support: Arc<dyn Support>, strict: bool) -> Store {
        Store::holding(Supporting::Caller(support), strict)
    }

    /// A handle with reference count 1 on a store its spooler serves.
    pub(crate) fn served(support: SpoolerSupport, strict: bool) -> Store {
        Store::holding(Supporting::Spooler(support), strict)
    }

    fn holding(support: Supporting, strict: bool) -> Store {
        let inner = triomphe::Arc::new(StoreInner {
            state: AtomicU64::new(HandleState::new(1, strict).0),
            support,
        });
        Store { inner }
    }

    fn support(&self) -> &dyn Support {
        self.inner.support.get()
    }

    fn state(&self) -> HandleState {
        HandleState(self.inner.state.load(Ordering::Acquire))
    }

    /// Changes the state atomically: `change` sees the current state and returns the new
    /// one (`None`: change nothing) and what to return. It may run more than once when
    /// another thread changes the state meanwhile.
    fn update<T>(&self, mut change: impl FnMut(HandleState) -> (Option<HandleState>, T)) -> T {
        let mut current = self.state();
        loop {
            let (next, out) = change(current);
            let Some(next) = next.filter(|next| *next != current) else {
                return out;
            };
            match self.inner.state.compare_exchange_weak(
                current.0,
                next.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return out,
                Err(actual) => current = HandleState(actual),
            }
        }
    }

    /// The store id, for a store opened on a [`Spooler`](crate::Spooler) (or whatever a
    /// caller-supplied support names it).
    pub fn store_id(&self) -> Option<&str> {
        self.support().store_id()
    }

    /// Opt in to (or out of) strict validation of this handle's `logoff` flags.
    pub fn set_strict(&self, strict: bool) {
        self.update(|s| (Some(s.with(HandleState::STRICT, strict)), ()));
    }

    /// Whether this handle validates its `logoff` flags strictly.
    pub fn is_strict(&self) -> bool {
        self.state().has(HandleState::STRICT)
    }

    /// The current reference count (0 once finally released).
    pub fn ref_count(&self) -> u64 {
        self.state().refs()
    }

    /// The mode saved by the last accepted `logoff`, if any.
    pub fn saved_mode(&self) -> Option<Mode> {
        self.state().saved_mode()
    }

    /// Whether calls other than add_ref/release are still accepted.
    pub fn is_valid(&self) -> bool {
        self.state().check_valid().is_ok()
    }

    /// `IUnknown::AddRef`: the new count, or 0 (and no change) once finally released. The
    /// count sticks at 2^48 - 1: a handle that gets there stays open for good.
    pub fn add_ref(&self) -> u64 {
        self.update(|s| match s.refs() {
            0 => (None, 0),
            refs => {
                let next = s.with_refs(refs.saturating_add(1));
                (Some(next), next.refs())
            }
        })
    }

    /// `IUnknown::Release`: the new count. The release that brings it to 0 calls
    /// StoreLogoffTransports exactly once (unless an explicit
    /// [`logoff_transports`](Store::logoff_transports) already answered COMPLETE), and may
    /// wait if the saved mode is PURGE. Releasing a finally released handle returns 0
    /// and does nothing.
    pub fn release(&self) -> u64 {
        use HandleState as H;
        let final_mode = self.update(|s| match s.refs() {
            0 => (None, Err(0)),
            H::REFS_MAX => (None, Err(H::REFS_MAX)),
            1 => {
                let s = s.with_refs(0);
                if s.has(H::IN_CALL) {
                    // The thread inside logoff_transports makes the final call when it
                    // returns.
                    (Some(s.with(H::FINAL_PENDING, true)), Err(0))
                } else if s.has(H::FINISHED) || s.has(H::LOGGED_OFF) {
                    (Some(s.with(H::FINISHED, true)), Err(0))
                } else {
                    let mode = s.saved_mode().unwrap_or(Mode::Abort);
                    let s = s.with(H::FINISHED, true).with(H::IN_CALL, true);
                    (Some(s), Ok(mode))
                }
            }
            refs => (Some(s.with_refs(refs - 1)), Err(refs - 1)),
        });
        match final_mode {
            Ok(mode) => {
                self.final_logoff_transports(mode);
                0
            }
            Err(refs) => refs,
        }
    }

    fn final_logoff_transports(&self, mode: Mode) {
        let mut flags = mode.flag().bits();
        // The outcome reaches subscribers as events; Release has no HRESULT to return it in.
        let _ = self.support().final_release(&mut flags);
        // `IN_CALL` stays set: with the count at 0 and `FINISHED` set, every later call
        // returns before reading it, so clearing it would only change the state once more.
    }

    /// `IMsgStore::StoreLogoff`: validates `flags`, saves the mode for the final
    /// release (a later call overwrites it) and writes back the mode's own flag with the
    /// store's current activity, `mode | A` (just the mode when the support cannot know the
    /// activity). Keeping the mode lets a caller that reuses one variable across stores ask
    /// each of them for the same mode. It performs no logoff. A rejected call changes
    /// nothing.
    pub fn logoff(&self, flags: &mut u32) -> Result<()> {
        let requested = *flags;
        let mode = self.update(|s| {
            match s
                .check_valid()
                .and_then(|()| parse_mode(requested, s.has(HandleState::STRICT)))
            {
                Ok(mode) => (Some(s.with_mode(mode)), Ok(mode)),
                Err(e) => (None, Err(e)),
            }
        })?;
        *flags = mode.flag().bits() | self.support().activity().bits();
        Ok(())
    }

    /// Calls StoreLogoffTransports now, on behalf of the provider ("Shutting Down a
    /// Message Store Provider"). `flags` holds one mode on entry (validated by the
    /// support) and the out_flags on return. If the answer is COMPLETE the handle is
    /// invalidated: later calls but add_ref/release fail with `MAPI_E_INVALID_OBJECT`,
    /// and the final release does not call StoreLogoffTransports again. A Support that panics
    /// ends the call as a failed one (flags unchanged, the handle still valid, a final release
    /// that came meanwhile made), then the panic goes on to the caller.
    pub fn logoff_transports(&self, flags: &mut u32) -> Result<()> {
        use HandleState as H;
        self.update(|s| {
            if let Err(e) = s.check_valid() {
                (None, Err(e))
            } else if s.has(H::IN_CALL) {
                (None, Err(Error::Busy))
            } else {
                (Some(s.with(H::IN_CALL, true)), Ok(()))
            }
        })?;
        // A panicking Support must not leave the handle inside this call forever (every later
        // call MAPI_E_BUSY, a final release that came meanwhile never made): finish the call
        // as a failed one, then let the panic go on.
        let before = *flags;
        let (result, panic) = match catch_unwind(AssertUnwindSafe(|| {
            self.support().store_logoff_transports(flags)
        })) {
            Ok(result) => (result, None),
            Err(panic) => {
                *flags = before;
                (Err(Error::CallFailed), Some(panic))
            }
        };
        let complete = match result {
            Ok(()) | Err(Error::Timeout) => *flags & LogoffFlags::COMPLETE.bits() != 0,
            Err(_) => false,
        };
        let final_mode = self.update(|s| {
            let s = s.with(H::IN_CALL, false);
            let s = if complete {
                s.with(H::LOGGED_OFF, true)
            } else {
                s
            };
            if !s.has(H::FINAL_PENDING) || s.has(H::FINISHED) {
                return (Some(s), None);
            }
            let s = s.with(H::FINISHED, true);
            if s.has(H::LOGGED_OFF) {
                (Some(s), None)
            } else {
                let mode = s.saved_mode().unwrap_or(Mode::Abort);
                (Some(s.with(H::IN_CALL, true)), Some(mode))
            }
        });
        if let Some(mode) = final_mode {
            self.final_logoff_transports(mode);
        }
        if let Some(panic) = panic {
            resume_unwind(panic);
        }
        result
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state();
        f.debug_struct("Store")
            .field("store_id", &self.store_id())
            .field("refs", &s.refs())
            .field("saved_mode", &s.saved_mode())
            .field("logged_off", &s.has(HandleState::LOGGED_OFF))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A support that counts its calls.
    #[derive(Default)]
    struct Counting(Mutex<u32>);

    impl Support for Counting {
        fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
            *self.0.lock().unwrap() += 1;
            *flags = LogoffFlags::COMPLETE.bits();
            Ok(())
        }
    }

    fn set_refs(store: &Store, refs: u64) {
        store.update(|s| (Some(s.with_refs(refs)), ()));
    }

    #[test]
    fn the_count_passes_u32_max_without_an_early_final_release() {
        let support = Arc::new(Counting::default());
        let store = Store::new(support.clone());
        // 2^32 add_refs take minutes; start the count where a 32-bit one would saturate.
        set_refs(&store, u64::from(u32::MAX));
        assert_eq!(store.add_ref(), u64::from(u32::MAX) + 1);
        assert_eq!(store.add_ref(), u64::from(u32::MAX) + 2);
        assert_eq!(store.release(), u64::from(u32::MAX) + 1);
        assert_eq!(store.release(), u64::from(u32::MAX));
        assert_eq!(
            *support.0.lock().unwrap(),
            0,
            "no final call while references are held"
        );
        assert!(store.is_valid());
        set_refs(&store, 1);
        assert_eq!(store.release(), 0);
        assert_eq!(*support.0.lock().unwrap(), 1);
    }

    #[test]
    fn a_count_at_its_largest_sticks_and_the_handle_stays_open() {
        let support = Arc::new(Counting::default());
        let store = Store::new_with_validation(support.clone(), true);
        let mut flags = LogoffFlags::ORDERLY.bits();
        store.logoff(&mut flags).unwrap();
        set_refs(&store, HandleState::REFS_MAX - 1);
        assert_eq!(store.add_ref(), HandleState::REFS_MAX);
        assert_eq!(store.add_ref(), HandleState::REFS_MAX);
        assert_eq!(store.release(), HandleState::REFS_MAX);
        assert_eq!(store.ref_count(), HandleState::REFS_MAX);
        assert_eq!(*support.0.lock().unwrap(), 0);
        // The flags and the saved mode beside the count are untouched.
        assert!(store.is_strict());
        assert_eq!(store.saved_mode(), Some(Mode::Orderly));
    }

    #[test]
    fn every_mode_and_flag_round_trips_through_the_state_word() {
        for mode in Mode::ALL {
            for strict in [false, true] {
                let s = HandleState::new(7, strict).with_mode(mode);
                assert_eq!(s.saved_mode(), Some(mode));
                assert_eq!(s.refs(), 7);
                assert_eq!(s.has(HandleState::STRICT), strict);
                let s = s.with(HandleState::IN_CALL, true).with_refs(0);
                assert_eq!(s.saved_mode(), Some(mode));
                assert!(s.has(HandleState::IN_CALL));
                assert_eq!(s.refs(), 0);
            }
        }
        assert_eq!(HandleState::new(1, false).saved_mode(), None);
    }
}
