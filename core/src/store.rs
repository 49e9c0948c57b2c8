//! The Store: the provider side of the protocol (`IMsgStore::StoreLogoff`, `AddRef`,
//! `Release`).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::decide::parse_mode;
use crate::error::{Error, Result};
use crate::flags::{Activity, LogoffFlags, Mode};

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
    inner: Arc<StoreInner<dyn Support>>,
}

/// The handle's state and its support, in one allocation (the support last, so that a
/// handle on any support is the same type).
struct StoreInner<S: ?Sized> {
    store_id: Option<Arc<str>>,
    state: Mutex<HandleState>,
    support: S,
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
}

#[derive(Debug, Default)]
struct HandleState {
    /// Wide enough that no program can overflow it: 2^64 add_refs take centuries.
    refs: u64,
    saved_mode: Option<Mode>,
    strict: bool,
    /// An explicit logoff_transports answered COMPLETE: the handle is dead but for
    /// add_ref/release, and the final release calls nothing.
    logged_off: bool,
    /// A StoreLogoffTransports call on this handle is under way.
    in_call: bool,
    /// The count reached 0 while `in_call`: the caller of that call runs the final one.
    final_pending: bool,
    /// The final StoreLogoffTransports has been called (or skipped after logged_off).
    finished: bool,
}

impl Store {
    /// A handle with reference count 1 on a caller-supplied support, with lenient
    /// validation of its StoreLogoff flags (what real MAPI accepts).
    pub fn new(support: Arc<dyn Support>) -> Store {
        Store::holding(support, None, false)
    }

    /// A handle with reference count 1 on a caller-supplied support; `strict` opts in to
    /// strict validation of its StoreLogoff flags from the start.
    pub fn new_with_validation(support: Arc<dyn Support>, strict: bool) -> Store {
        Store::holding(support, None, strict)
    }

    /// A handle with reference count 1 whose support lives in the handle's own allocation.
    pub(crate) fn holding<S: Support + 'static>(
        support: S,
        id: Option<Arc<str>>,
        strict: bool,
    ) -> Store {
        let inner: Arc<StoreInner<dyn Support>> = Arc::new(StoreInner {
            store_id: id,
            state: Mutex::new(HandleState {
                refs: 1,
                strict,
                ..HandleState::default()
            }),
            support,
        });
        Store { inner }
    }

    fn state(&self) -> MutexGuard<'_, HandleState> {
        // No code panics while holding this lock, so poisoning cannot hide a broken state.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store id, for a store opened on a [`Spooler`](crate::Spooler).
    pub fn store_id(&self) -> Option<&str> {
        self.inner.store_id.as_deref()
    }

    /// Opt in to (or out of) strict validation of this handle's `logoff` flags.
    pub fn set_strict(&self, strict: bool) {
        self.state().strict = strict;
    }

    /// Whether this handle validates its `logoff` flags strictly.
    pub fn is_strict(&self) -> bool {
        self.state().strict
    }

    /// The current reference count (0 once finally released).
    pub fn ref_count(&self) -> u64 {
        self.state().refs
    }

    /// The mode saved by the last accepted `logoff`, if any.
    pub fn saved_mode(&self) -> Option<Mode> {
        self.state().saved_mode
    }

    /// Whether calls other than add_ref/release are still accepted.
    pub fn is_valid(&self) -> bool {
        let s = self.state();
        s.refs > 0 && !s.logged_off
    }

    /// `IUnknown::AddRef`: the new count, or 0 (and no change) once finally released.
    pub fn add_ref(&self) -> u64 {
        let mut s = self.state();
        if s.refs == 0 {
            return 0;
        }
        // Cannot overflow in practice (2^64 calls); if it ever did, the handle would stay
        // open for good rather than be released under a holder.
        s.refs = s.refs.saturating_add(1);
        s.refs
    }

    /// `IUnknown::Release`: the new count. The release that brings it to 0 calls
    /// StoreLogoffTransports exactly once (unless an explicit
    /// [`logoff_transports`](Store::logoff_transports) already answered COMPLETE), and may
    /// wait if the saved mode is PURGE. Releasing a finally released handle returns 0
    /// and does nothing.
    pub fn release(&self) -> u64 {
        let mode = {
            let mut s = self.state();
            if s.refs == 0 {
                return 0;
            }
            s.refs -= 1;
            if s.refs > 0 {
                return s.refs;
            }
            if s.in_call {
                // The thread inside logoff_transports makes the final call when it returns.
                s.final_pending = true;
                return 0;
            }
            if s.finished || s.logged_off {
                s.finished = true;
                return 0;
            }
            s.finished = true;
            s.in_call = true;
            s.saved_mode.unwrap_or(Mode::Abort)
        };
        self.final_logoff_transports(mode);
        0
    }

    fn final_logoff_transports(&self, mode: Mode) {
        let mut flags = mode.flag().bits();
        // The outcome reaches subscribers as events; Release has no HRESULT to return it in.
        let _ = self.inner.support.final_release(&mut flags);
        // `in_call` stays set: with the count at 0 and `finished` set, every later call
        // returns before reading it, so clearing it would only take the lock once more.
    }

    fn check_valid(s: &HandleState) -> Result<()> {
        if s.refs == 0 || s.logged_off {
            Err(Error::InvalidObject)
        } else {
            Ok(())
        }
    }

    /// `IMsgStore::StoreLogoff`: validates `flags`, saves the mode for the final
    /// release (a later call overwrites it) and writes back the mode's own flag with the
    /// store's current activity, `mode | A` (just the mode when the support cannot know the
    /// activity). Keeping the mode lets a caller that reuses one variable across stores ask
    /// each of them for the same mode. It performs no logoff. A rejected call changes
    /// nothing.
    pub fn logoff(&self, flags: &mut u32) -> Result<()> {
        let mut s = self.state();
        Store::check_valid(&s)?;
        let mode = parse_mode(*flags, s.strict)?;
        s.saved_mode = Some(mode);
        drop(s);
        *flags = mode.flag().bits() | self.inner.support.activity().bits();
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
        {
            let mut s = self.state();
            Store::check_valid(&s)?;
            if s.in_call {
                return Err(Error::Busy);
            }
            s.in_call = true;
        }
        // A panicking Support must not leave the handle inside this call forever (every later
        // call MAPI_E_BUSY, a final release that came meanwhile never made): finish the call
        // as a failed one, then let the panic go on.
        let before = *flags;
        let (result, panic) = match catch_unwind(AssertUnwindSafe(|| {
            self.inner.support.store_logoff_transports(flags)
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
        let final_mode = {
            let mut s = self.state();
            s.in_call = false;
            if complete {
                s.logged_off = true;
            }
            if s.final_pending && !s.finished {
                s.finished = true;
                if s.logged_off {
                    None
                } else {
                    s.in_call = true;
                    Some(s.saved_mode.unwrap_or(Mode::Abort))
                }
            } else {
                None
            }
        };
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
            .field("store_id", &self.inner.store_id)
            .field("refs", &s.refs)
            .field("saved_mode", &s.saved_mode)
            .field("logged_off", &s.logged_off)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_count_passes_u32_max_without_an_early_final_release() {
        let support = Arc::new(Counting::default());
        let store = Store::new(support.clone());
        // 2^32 add_refs take minutes; start the count where a 32-bit one would saturate.
        store.state().refs = u64::from(u32::MAX);
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
        store.state().refs = 1;
        assert_eq!(store.release(), 0);
        assert_eq!(*support.0.lock().unwrap(), 1);
    }
}
