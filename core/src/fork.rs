//! fork(2) without `exec`: a child process must hold none of its parent's stores.
//!
//! A handler registered with `pthread_atfork` runs in every child, and does two things
//! that are async-signal-safe: it advances [`generation`], so every spooler created
//! before the fork answers `MAPI_E_INVALID_OBJECT` in the child, and it points every
//! registry file descriptor the child inherited at `/dev/null` (`dup2`), so the child
//! holds no reference to the parent's open file descriptions and their locks end when the
//! parent dies, even if the child lives on.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether the handler is installed (set once, by the first spooler).
static INSTALLED: OnceLock<bool> = OnceLock::new();
/// `/dev/null`, opened once: what inherited registry descriptors are pointed at.
static DEV_NULL: AtomicI32 = AtomicI32::new(-1);
/// The registry descriptors a child must not keep (-1: a free place).
static GUARDED: [AtomicI32; 1024] = [const { AtomicI32::new(-1) }; 1024];

/// How many forks this process has seen since it started (0 in the original process).
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    let null = DEV_NULL.load(Ordering::Acquire);
    for fd in &GUARDED {
        let fd = fd.load(Ordering::Acquire);
        if fd >= 0 && null >= 0 {
            // SAFETY: dup2 is async-signal-safe; both descriptors are open (a guarded one
            // is unguarded before it is closed).
            unsafe { libc::dup2(null, fd) };
        }
    }
}

/// Installs the fork handler (once per process). Every spooler calls it.
pub(crate) fn watch() -> io::Result<()> {
    let installed = INSTALLED.get_or_init(|| {
        // SAFETY: `in_child` only touches atomics and calls dup2.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) == 0 }
    });
    if *installed {
        Ok(())
    } else {
        Err(io::Error::other("pthread_atfork failed"))
    }
}

/// A registry descriptor that a forked child gives up. Unguards on drop, which must come
/// before the descriptor is closed.
pub(crate) struct Guard(usize);

impl Guard {
    pub(crate) fn new(fd: &impl AsRawFd) -> io::Result<Guard> {
        watch()?;
        if DEV_NULL.load(Ordering::Acquire) < 0 {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open("/dev/null")?;
            let raw: RawFd = std::os::fd::IntoRawFd::into_raw_fd(null);
            if DEV_NULL
                .compare_exchange(-1, raw, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: `raw` is ours and was never shared.
                unsafe { libc::close(raw) };
            }
        }
        let fd = fd.as_raw_fd();
        for (i, place) in GUARDED.iter().enumerate() {
            if place
                .compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Ok(Guard(i));
            }
        }
        Err(io::Error::other(
            "more than 1024 cross-process spoolers are open in this process",
        ))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        GUARDED[self.0].store(-1, Ordering::Release);
    }
}
