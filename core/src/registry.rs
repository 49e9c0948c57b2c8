//! The per-profile registry of open stores that spoolers in this process and in other
//! processes on the machine share (SPEC §6, the shared rule).
//!
//! Layout under `<root>/<hex(profile)>/`:
//! - `spoolers/<spooler>.lock`: one file per live spooler, held with an exclusive `flock`
//!   for the spooler's lifetime. The kernel drops the lock when the process dies, even by
//!   SIGKILL, so a lock that can be taken marks a dead spooler.
//! - `stores/<key(store id)>/<spooler>`: an empty marker while that spooler has clients of
//!   the store. A marker whose spooler is dead is stale and is removed when seen.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) struct Registry {
    profile_dir: PathBuf,
    me: String,
    lock_path: PathBuf,
    _lock: File,
}

/// The default root: `$MAPI_LOGOFF_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/mapi-logoff`, else
/// `<temp>/mapi-logoff-<user>`.
pub(crate) fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("MAPI_LOGOFF_RUNTIME_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR")
        && Path::new(&dir).is_dir()
    {
        return Path::new(&dir).join("mapi-logoff");
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "user".to_owned());
    std::env::temp_dir().join(format!("mapi-logoff-{}", key(&user)))
}

/// A file-name-safe key for any UTF-8 string: hex for short ones, a 128-bit hash for
/// ids too long for a file name.
fn key(s: &str) -> String {
    use std::fmt::Write;
    if s.len() <= 100 {
        let mut out = String::with_capacity(s.len() * 2);
        for b in s.bytes() {
            let _ = write!(out, "{b:02x}");
        }
        return out;
    }
    let fnv = |seed: u64| {
        s.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        })
    };
    format!(
        "h{:016x}{:016x}{:x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142),
        s.len()
    )
}

impl Registry {
    pub(crate) fn open(root: &Path, profile: &str) -> io::Result<Registry> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let profile_dir = root.join(key(profile));
        let spoolers = profile_dir.join("spoolers");
        fs::create_dir_all(&spoolers)?;
        fs::create_dir_all(profile_dir.join("stores"))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let me = format!(
            "{}-{nanos:08x}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Lock under a temporary name, then rename: nobody may see it unlocked and reap it.
        let tmp = spoolers.join(format!(".{me}.tmp"));
        let lock = File::create(&tmp)?;
        lock.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => io::Error::other("fresh lock file is locked"),
        })?;
        let lock_path = spoolers.join(format!("{me}.lock"));
        fs::rename(&tmp, &lock_path)?;
        Ok(Registry {
            profile_dir,
            me,
            lock_path,
            _lock: lock,
        })
    }

    fn store_dir(&self, store_id: &str) -> PathBuf {
        self.profile_dir.join("stores").join(key(store_id))
    }

    /// This spooler now has clients of `store_id`.
    pub(crate) fn publish(&self, store_id: &str) -> io::Result<()> {
        let dir = self.store_dir(store_id);
        fs::create_dir_all(&dir)?;
        File::create(dir.join(&self.me)).map(drop)
    }

    /// This spooler has no more clients of `store_id`.
    pub(crate) fn withdraw(&self, store_id: &str) {
        let dir = self.store_dir(store_id);
        let _ = fs::remove_file(dir.join(&self.me));
        // Succeeds only when no other spooler has a marker there.
        let _ = fs::remove_dir(&dir);
    }

    /// Whether a live spooler other than this one has clients of `store_id`. Markers of
    /// dead spoolers are removed on the way.
    pub(crate) fn others_hold(&self, store_id: &str) -> bool {
        let Ok(entries) = fs::read_dir(self.store_dir(store_id)) else {
            return false;
        };
        let mut held = false;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == self.me {
                continue;
            }
            if self.alive(name) {
                held = true;
            } else {
                let _ = fs::remove_file(entry.path());
            }
        }
        held
    }

    fn alive(&self, spooler: &str) -> bool {
        let path = self
            .profile_dir
            .join("spoolers")
            .join(format!("{spooler}.lock"));
        let Ok(file) = File::open(&path) else {
            return false;
        };
        match file.try_lock() {
            Ok(()) => {
                // Its holder is gone: reap the lock file too.
                let _ = fs::remove_file(&path);
                false
            }
            Err(TryLockError::WouldBlock) => true,
            // Cannot tell: count it as alive, the cautious answer (the store stays shared).
            Err(TryLockError::Error(_)) => true,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Without our lock file every marker of ours reads as stale.
        let _ = fs::remove_file(&self.lock_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_file_names() {
        assert_eq!(key("ab"), "6162");
        let long = "x".repeat(500);
        assert!(key(&long).len() < 64);
        assert_ne!(key(&long), key(&"x".repeat(501)));
    }

    #[test]
    fn two_spoolers_see_each_other_and_not_themselves() {
        let root = tempfile::tempdir().unwrap();
        let a = Registry::open(root.path(), "p").unwrap();
        let b = Registry::open(root.path(), "p").unwrap();
        a.publish("s").unwrap();
        assert!(!a.others_hold("s"));
        assert!(b.others_hold("s"));
        drop(a);
        assert!(
            !b.others_hold("s"),
            "a dropped registry leaves nothing shared"
        );
    }
}
