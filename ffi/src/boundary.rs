//! The one boundary every entry point goes through, written once: a panic becomes
//! `MAPI_E_CALL_FAILED`, a NULL pointer or a string that is not UTF-8 becomes
//! `MAPI_E_INVALID_PARAMETER`, and handles are `Arc`s lent to C.
//! (After rustls-ffi `src/panic.rs` and `src/ffi.rs`, hyper `src/ffi/macros.rs`.)

use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use mapi_logoff::{Error, Result, S_OK};

/// Runs the body of an entry point that returns an HRESULT.
#[inline]
pub(crate) fn hresult(body: impl FnOnce() -> Result<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => S_OK,
        Ok(Err(e)) => e.hresult(),
        Err(_) => Error::CallFailed.hresult(),
    }
}

/// Runs the body of an entry point that returns a plain value; `on_panic` if it panics.
#[inline]
pub(crate) fn value<T>(on_panic: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// A required string argument: NULL or not UTF-8 is `MAPI_E_INVALID_PARAMETER`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| Error::InvalidParameter)
}

/// A required string argument taken as raw bytes (a path): NULL is
/// `MAPI_E_INVALID_PARAMETER`.
///
/// # Safety
/// As [`arg_str`].
pub(crate) unsafe fn arg_bytes<'a>(p: *const c_char) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(Error::InvalidParameter);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A required out-parameter: NULL is `MAPI_E_INVALID_PARAMETER`.
///
/// # Safety
/// `p` is NULL or valid for reads and writes of a `T` during `'a`.
pub(crate) unsafe fn arg_out<'a, T>(p: *mut T) -> Result<&'a mut T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_mut() }.ok_or(Error::InvalidParameter)
}

/// An optional out-parameter: NULL means the caller does not want the value.
///
/// # Safety
/// As [`arg_out`].
pub(crate) unsafe fn opt_out<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_mut() }
}

/// A type handed to C as `Arc::into_raw`. Every call on a handle holds its own strong
/// count for as long as it runs, so a `_free` or final release from another thread (or from
/// a callback inside the call) cannot free the object under it.
pub(crate) trait ArcHandle: Sized {
    /// Lends a new object to C.
    fn into_c(self) -> *mut Self {
        Arc::into_raw(Arc::new(self)) as *mut Self
    }

    /// The object behind a handle, for the duration of one call: NULL is
    /// `MAPI_E_INVALID_PARAMETER`.
    ///
    /// # Safety
    /// `p` is NULL or a handle from [`into_c`](ArcHandle::into_c) whose C reference has not
    /// been given back yet.
    unsafe fn borrow(p: *const Self) -> Result<Arc<Self>> {
        if p.is_null() {
            return Err(Error::InvalidParameter);
        }
        // SAFETY: `p` came from Arc::into_raw and C still holds that reference.
        unsafe {
            Arc::increment_strong_count(p);
            Ok(Arc::from_raw(p))
        }
    }

    /// Gives back C's reference (the object goes once no call holds it). NULL does nothing.
    ///
    /// # Safety
    /// `p` is NULL or a handle from [`into_c`](ArcHandle::into_c), given back only once.
    unsafe fn give_back(p: *const Self) {
        if !p.is_null() {
            // SAFETY: the caller's contract.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_call_failed() {
        let hr = hresult(|| panic!("a bug"));
        assert_eq!(hr, Error::CallFailed.hresult());
        assert_eq!(value(7u32, || panic!("a bug")), 7);
    }

    #[test]
    fn errors_and_success_are_hresults() {
        assert_eq!(hresult(|| Ok(())), S_OK);
        assert_eq!(hresult(|| Err(Error::NotFound)), Error::NotFound.hresult());
    }

    #[test]
    fn null_and_non_utf8_are_invalid_parameter() {
        unsafe {
            assert_eq!(arg_str(std::ptr::null()), Err(Error::InvalidParameter));
            assert_eq!(arg_str(c"\xff\xfe".as_ptr()), Err(Error::InvalidParameter));
            assert_eq!(arg_str(c"inbox".as_ptr()), Ok("inbox"));
            assert_eq!(arg_bytes(c"\xff".as_ptr()), Ok(&b"\xff"[..]));
            assert!(arg_out::<u32>(std::ptr::null_mut()).is_err());
        }
    }
}
