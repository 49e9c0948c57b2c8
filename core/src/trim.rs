//! Giving freed heap memory back to the system, so that a spooler that forgot many stores
//! shrinks back to its size before them (glibc keeps freed memory in the middle of its
//! heap until asked).

#![allow(unsafe_code)]

/// Returns the free pages of the C heap to the system; a no-op where the C library has no
/// such call.
pub(crate) fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and only releases memory that is free; it
    // takes glibc's arena locks itself, so it is safe from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
