//! The machine registry: which spoolers of a profile hold which stores, shared by every
//! process of the user on the machine (the shared rule across processes).
//!
//! One file per profile, `<hex(profile)>.registry`, in a private directory
//! ([`dir`]), mapped in shared memory ([`shm`]) in the way of LMDB's lock file:
//! - a table of 64 spooler slots, each owned by one live spooler and marked alive by a
//!   byte-range lock the kernel drops when the owner's process dies (even by SIGKILL);
//! - a hash table of store ids (a 64-bit hash) with, per store, the set of slots that hold
//!   it. A dead slot's holds end with it: the first spooler that finds the slot's lock
//!   free clears its bits and frees the slot.
//!
//! Opening and releasing a store costs a lock of the mapped mutex and a probe of the
//! table: no file is created, renamed or removed per store, and no system call is made
//! unless another slot holds the store (then its liveness is asked of the kernel).
//! Nothing is ever deleted on the strength of a guess: any error while reading counts as
//! "another client holds it" ([`Held::CannotTell`]).

mod dir;
mod shm;

pub(crate) use dir::default_path;

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::fork;
use shm::Shm;

/// Why a registry could not be used: the HRESULT and a message naming the path and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryError {
    pub(crate) error: Error,
    pub(crate) message: String,
}

impl RegistryError {
    fn io(path: &Path, e: io::Error) -> RegistryError {
        RegistryError {
            error: error_of(&e),
            message: format!("mapi-logoff registry {}: {e}", path.display()),
        }
    }
}

fn error_of(e: &io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT | libc::ENOMEM) => Error::NotEnoughMemory,
        _ if e.kind() == io::ErrorKind::StorageFull => Error::NotEnoughMemory,
        _ => Error::CallFailed,
    }
}

/// Whether spoolers other than this one hold a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Held {
    No,
    Yes,
    /// The registry could not be read; the store counts as held (the cautious answer).
    CannotTell(String),
}

enum State {
    Ready {
        // Declared before `shm`: unguarded before the descriptor closes.
        _guard: fork::Guard,
        shm: Shm,
        slot: usize,
    },
    /// The file is not a registry this build can read: every store counts as held.
    Unreadable(String),
}

/// One spooler's handle on its profile's registry: one slot.
pub(crate) struct Registry {
    path: PathBuf,
    state: State,
    fork_generation: u64,
}

/// The key of a store id in the shared table: xxh3, stable across processes and builds.
fn key(store_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(store_id.as_bytes()).max(1)
}

/// A file-name-safe name for a profile: hex for short ones, a 128-bit hash for long ones.
fn file_name(profile: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(profile.len() * 2 + 9);
    if profile.len() <= 100 {
        for b in profile.bytes() {
            let _ = write!(out, "{b:02x}");
        }
    } else {
        let h = xxhash_rust::xxh3::xxh3_128(profile.as_bytes());
        let _ = write!(out, "h{h:032x}");
    }
    out.push_str(".registry");
    out
}

impl Registry {
    /// Opens the registry of `profile` in the directory `root`, after checking that the
    /// directory is private, and claims a slot.
    pub(crate) fn open(root: &Path, profile: &str) -> Result<Registry, RegistryError> {
        let dir = dir::open_private_dir(root)?;
        let name = file_name(profile);
        let path = root.join(&name);
        let file = dir::open_registry_file(&dir, root, &name)?;
        let map_file = dir::open_registry_file(&dir, root, &name)?;
        drop(dir);
        {
            use std::os::unix::fs::MetadataExt;
            let (a, b) = (file.metadata(), map_file.metadata());
            let same =
                matches!((&a, &b), (Ok(a), Ok(b)) if (a.dev(), a.ino()) == (b.dev(), b.ino()));
            if !same {
                return Err(RegistryError {
                    error: Error::NoAccess,
                    message: format!("{} changed while it was being opened", path.display()),
                });
            }
        }
        let guard = fork::Guard::new(&file).map_err(|e| RegistryError::io(&path, e))?;
        let fork_generation = fork::generation();
        let Some(shm) = Shm::open(file, map_file).map_err(|e| RegistryError::io(&path, e))? else {
            return Ok(Registry {
                state: State::Unreadable(format!(
                    "{} is not a registry this build can read (another version, or damaged); \
                     every store counts as shared",
                    path.display()
                )),
                path,
                fork_generation,
            });
        };
        let slot = shm
            .lock()
            .and_then(|mut l| l.claim_slot())
            .map_err(|e| RegistryError::io(&path, e))?
            .ok_or_else(|| RegistryError {
                error: Error::Busy,
                message: format!(
                    "{}: {} spoolers of this profile are already running on this machine",
                    path.display(),
                    shm::SLOTS
                ),
            })?;
        Ok(Registry {
            path,
            state: State::Ready {
                _guard: guard,
                shm,
                slot,
            },
            fork_generation,
        })
    }

    fn ready(&self) -> Option<(&Shm, usize)> {
        if fork::generation() != self.fork_generation {
            return None; // inherited through fork: the parent's, not ours to change
        }
        match &self.state {
            State::Ready { shm, slot, .. } => Some((shm, *slot)),
            State::Unreadable(_) => None,
        }
    }

    /// This spooler now has clients of `store_id`. An error changes nothing.
    pub(crate) fn publish(&self, store_id: &str) -> Result<(), RegistryError> {
        let Some((shm, slot)) = self.ready() else {
            return Ok(());
        };
        shm.lock()
            .and_then(|mut l| l.hold(key(store_id), slot))
            .map_err(|e| RegistryError::io(&self.path, e))
    }

    /// This spooler has no more clients of `store_id`. If the registry cannot be written,
    /// the hold stays until this spooler ends: the store reads as shared a while longer.
    pub(crate) fn withdraw(&self, store_id: &str) {
        self.deciding(store_id).withdraw();
    }

    /// Whether a live spooler other than this one holds `store_id`. The holds of a slot
    /// whose owner is dead (its lock is free: a fact, not a guess) end on the way.
    pub(crate) fn others_hold(&self, store_id: &str) -> Held {
        self.deciding(store_id).others_hold()
    }

    /// The registry's part in one StoreLogoffTransports decision on `store_id`: whether
    /// others hold the store, then, if the store is released, the withdrawal, under one
    /// lock of the registry (taken at the first of the two, let go when this is dropped).
    pub(crate) fn deciding(&self, store_id: &str) -> Deciding<'_> {
        Deciding {
            registry: self,
            key: key(store_id),
            locked: None,
        }
    }

    /// The registry file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// See [`Registry::deciding`].
pub(crate) struct Deciding<'a> {
    registry: &'a Registry,
    key: u64,
    /// The registry's lock, this spooler's slot and the shared memory, once taken.
    locked: Option<(shm::Locked<'a>, usize, &'a Shm)>,
}

impl<'a> Deciding<'a> {
    /// The registry locked, with this spooler's slot and the shared memory; `Err` with why
    /// it cannot be read.
    fn lock(&mut self) -> Result<(&mut shm::Locked<'a>, usize, &'a Shm), String> {
        if self.locked.is_none() {
            let registry = self.registry;
            let (shm, slot) = match (&registry.state, registry.ready()) {
                (State::Unreadable(why), _) => return Err(why.clone()),
                (_, None) => return Err("inherited through fork".into()),
                (_, Some(ready)) => ready,
            };
            let l = shm
                .lock()
                .map_err(|e| format!("{}: {e}", registry.path.display()))?;
            self.locked = Some((l, slot, shm));
        }
        let (l, slot, shm) = self.locked.as_mut().expect("locked above");
        Ok((l, *slot, *shm))
    }

    /// Whether a live spooler other than this one holds the store. The holds of a slot
    /// whose owner is dead (its lock is free: a fact, not a guess) end on the way.
    pub(crate) fn others_hold(&mut self) -> Held {
        let key = self.key;
        let path = &self.registry.path;
        let (l, slot, shm) = match self.lock() {
            Ok(locked) => locked,
            Err(why) => return Held::CannotTell(why),
        };
        let mut others = l.holders(key) & !(1u64 << slot);
        while others != 0 {
            let i = others.trailing_zeros() as usize;
            others &= others - 1;
            if !l.slot_used(i) {
                continue;
            }
            match shm.slot_alive(i) {
                Ok(true) => return Held::Yes,
                Ok(false) => l.reap(i),
                Err(e) => {
                    return Held::CannotTell(format!(
                        "{}: cannot tell whether spooler slot {i} lives: {e}",
                        path.display()
                    ));
                }
            }
        }
        Held::No
    }

    /// This spooler has no more clients of the store. If the registry cannot be written,
    /// the hold stays until this spooler ends: the store reads as shared a while longer.
    pub(crate) fn withdraw(&mut self) {
        let key = self.key;
        if let Ok((l, slot, _)) = self.lock() {
            l.unhold(key, slot);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some((shm, slot)) = self.ready() {
            if let Ok(mut l) = shm.lock() {
                l.reap(slot);
            }
            shm.release_slot_lock(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_dir() -> tempfile::TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn file_names_are_file_names() {
        assert_eq!(file_name("ab"), "6162.registry");
        let long = "x".repeat(500);
        assert!(file_name(&long).len() < 64);
        assert_ne!(file_name(&long), file_name(&"x".repeat(501)));
    }

    #[test]
    fn two_spoolers_see_each_other_and_not_themselves() {
        let root = private_dir();
        let a = Registry::open(root.path(), "p").unwrap();
        let b = Registry::open(root.path(), "p").unwrap();
        a.publish("s").unwrap();
        assert_eq!(a.others_hold("s"), Held::No);
        assert_eq!(b.others_hold("s"), Held::Yes);
        drop(a);
        assert_eq!(
            b.others_hold("s"),
            Held::No,
            "a dropped registry holds nothing"
        );
    }

    #[test]
    fn one_file_per_profile_whatever_the_number_of_stores() {
        let root = private_dir();
        let a = Registry::open(root.path(), "p").unwrap();
        let b = Registry::open(root.path(), "p").unwrap();
        for i in 0..20_000 {
            a.publish(&format!("store-{i}")).unwrap();
        }
        for i in (0..20_000).step_by(997) {
            assert_eq!(b.others_hold(&format!("store-{i}")), Held::Yes);
        }
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
        for i in 0..20_000 {
            a.withdraw(&format!("store-{i}"));
        }
        assert_eq!(b.others_hold("store-5"), Held::No);
        let len = std::fs::metadata(a.path()).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(
            len.blocks() * 512 < 64 * 1024,
            "the table's pages were given back: {} blocks",
            len.blocks()
        );
    }

    #[test]
    fn a_lock_held_too_long_reads_as_shared_and_fails_opens_instead_of_hanging() {
        let root = private_dir();
        let a = Registry::open(root.path(), "p").unwrap();
        let b = Registry::open(root.path(), "p").unwrap();
        let State::Ready { shm, .. } = &a.state else {
            panic!("a readable registry")
        };
        let held = shm.lock().unwrap(); // as a stopped process inside the lock would
        std::thread::scope(|scope| {
            let t = scope.spawn(|| (b.others_hold("s"), b.publish("s")));
            let (answer, publish) = t.join().unwrap();
            assert!(
                matches!(&answer, Held::CannotTell(why) if why.contains("more than")),
                "{answer:?}"
            );
            assert!(publish.is_err());
        });
        drop(held);
        assert_eq!(b.others_hold("s"), Held::No);
    }

    #[test]
    fn a_file_of_another_format_is_left_alone_and_reads_as_shared() {
        let root = private_dir();
        let path = root.path().join(file_name("p"));
        std::fs::write(&path, vec![0xAB; 8192]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let r = Registry::open(root.path(), "p").unwrap();
        assert!(matches!(r.others_hold("s"), Held::CannotTell(_)));
        r.publish("s").unwrap();
        r.withdraw("s");
        drop(r);
        assert_eq!(std::fs::read(&path).unwrap(), vec![0xAB; 8192], "untouched");
    }
}
