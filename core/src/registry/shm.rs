//! The registry file of one profile, mapped in shared memory by every spooler of that
//! profile on the machine. All of the registry's unsafe code is in this file: the mapping,
//! the words read and written through it, and the process-shared robust mutex.
//!
//! Layout (native byte order, every field 8-byte aligned; one file per profile):
//!
//! | offset | field |
//! |---|---|
//! | 0 | magic |
//! | 8 | ABI: format version, pointer width, size of `pthread_mutex_t` |
//! | 16 | the table: `(offset / 4096) << 8 \| log2(capacity)`, switched in one store |
//! | 24 | entries with a key |
//! | 32 | entries with a holder |
//! | 40 | bytes allocated so far |
//! | 64 | the mutex (robust, process-shared) that every access holds |
//! | 256 | 64 spooler slots of 16 bytes: state (0 free, else the owner's pid), nonce |
//! | 4096 | the table: entries of 16 bytes, `key` (a 64-bit hash of the store id, 0 empty) and `holders` (bit `i`: slot `i` holds the store) |
//!
//! A slot's liveness is an OFD byte-range lock at `SLOT_LOCKS + i`, taken by its owner
//! for the slot's lifetime; the kernel drops it when the owner's process dies, even by
//! SIGKILL. Every change is a single aligned store, so a process that dies holding the
//! mutex leaves a table that is consistent (the next locker gets `EOWNERDEAD`, recounts
//! and goes on). The table is rebuilt into a new region, zeroed and filled before one
//! store switches to it, and the old region's pages are then given back (punched).

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::Release};
use std::time::{Duration, Instant};

use memmap2::{MmapOptions, MmapRaw};
use nix::fcntl::{FallocateFlags, FcntlArg, fallocate, fcntl};

const MAGIC: u64 = u64::from_le_bytes(*b"MAPILGR1");
const FORMAT: u64 = 1;
pub(super) const PAGE: u64 = 4096;
/// Spooler slots per profile: live spoolers of one profile on the machine at once.
pub(super) const SLOTS: usize = 64;
const MUTEX_AT: u64 = 64;
const SLOTS_AT: u64 = 256;
const MIN_LOG2: u32 = 8;
/// The mapping is reserved once at this length; the file grows inside it.
const MAP_LEN: u64 = 1 << 32;
/// Byte-range locks live far past any data: the init lock, then one byte per slot.
const INIT_LOCK: i64 = 1 << 40;
const SLOT_LOCKS: i64 = INIT_LOCK + 1;

const F_MAGIC: u64 = 0;
const F_ABI: u64 = 8;
const F_TABLE: u64 = 16;
const F_KEYED: u64 = 24;
const F_HELD: u64 = 32;
const F_LENGTH: u64 = 40;

fn abi() -> u64 {
    FORMAT | (size_of::<usize>() as u64) << 16 | (size_of::<libc::pthread_mutex_t>() as u64) << 32
}

const _: () = assert!(size_of::<libc::pthread_mutex_t>() <= (SLOTS_AT - MUTEX_AT) as usize);
const _: () = assert!(SLOTS_AT + 16 * SLOTS as u64 <= PAGE);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Table {
    off: u64,
    log2: u32,
}

impl Table {
    fn cap(self) -> u64 {
        1 << self.log2
    }
    fn bytes(self) -> u64 {
        self.cap() * 16
    }
    fn end(self) -> u64 {
        self.off + self.bytes()
    }
    fn word(self) -> u64 {
        (self.off / PAGE) << 8 | u64::from(self.log2)
    }
    fn from_word(w: u64) -> Table {
        Table {
            off: (w >> 8) * PAGE,
            log2: (w & 0xff) as u32,
        }
    }
}

/// One profile's registry file, mapped.
pub(super) struct Shm {
    file: File,
    map: MmapRaw,
    /// Bytes of the file known to exist (read from the file itself, not its header).
    known_len: AtomicU64,
}

fn lock_arg(kind: i32, start: i64, len: i64) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = start;
    fl.l_len = len;
    fl
}

impl Shm {
    /// Maps `file`, initialising it when it is new (or left half-initialised by a process
    /// that died), under the file's init lock. `Ok(None)`: the file is not a registry
    /// of this format (written by another build, or damaged); it is left untouched.
    ///
    /// `map_file` is a second open of the same file, used only to map it: the mapping
    /// keeps its open file description alive, so the byte-range locks must live on
    /// another one (`file`), or a forked child that inherits the mapping would keep the
    /// parent's slot alive after the parent died.
    pub(super) fn open(file: File, map_file: File) -> io::Result<Option<Shm>> {
        // Initialising takes microseconds; a holder that keeps the lock for seconds is stuck
        // (stopped, say): give up rather than hang.
        let deadline = Instant::now() + WAIT;
        let init = lock_arg(libc::F_WRLCK, INIT_LOCK, 1);
        loop {
            match fcntl(file.as_fd(), FcntlArg::F_OFD_SETLK(&init)) {
                Ok(_) => break,
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES)
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => {
                    return Err(stuck());
                }
                Err(e) => return Err(e.into()),
            }
        }
        let result = Self::open_locked(file, map_file);
        if let Ok(Some(shm)) = &result {
            // The init lock ends with the descriptor; keep the descriptor, drop the lock.
            let _ = shm.unlock_range(INIT_LOCK, 1);
        }
        result
    }

    fn open_locked(file: File, map_file: File) -> io::Result<Option<Shm>> {
        let len = file.metadata()?.len();
        let map = MmapOptions::new()
            .len(MAP_LEN as usize)
            .map_raw(&map_file)?;
        drop(map_file);
        let shm = Shm {
            file,
            map,
            known_len: AtomicU64::new(len),
        };
        let magic = if len >= PAGE {
            shm.word(F_MAGIC).load(Relaxed)
        } else {
            0
        };
        if magic == 0 {
            // New, or its initialiser died before finishing: nobody else uses it.
            shm.initialise()?;
            return Ok(Some(shm));
        }
        if magic != MAGIC || shm.word(F_ABI).load(Relaxed) != abi() {
            return Ok(None);
        }
        let length = shm.word(F_LENGTH).load(Relaxed);
        let table = Table::from_word(shm.word(F_TABLE).load(Relaxed));
        if length > len || table.end() > length || table.off < PAGE || table.log2 < MIN_LOG2 {
            return Ok(None);
        }
        if !shm.any_slot_locked()? {
            // No live spooler: nothing can be inside the mutex, whatever it says (a file
            // that outlived a reboot keeps a locked mutex with no owner). Start afresh.
            shm.initialise()?;
        }
        Ok(Some(shm))
    }

    fn initialise(&self) -> io::Result<()> {
        let table = Table {
            off: PAGE,
            log2: MIN_LOG2,
        };
        fallocate(
            self.file.as_fd(),
            FallocateFlags::empty(),
            0,
            table.end() as i64,
        )?;
        // SAFETY: the first table.end() bytes exist (fallocate above) and nobody else
        // uses the file while we hold the init lock with no live slot.
        unsafe { std::ptr::write_bytes(self.map.as_mut_ptr(), 0, table.end() as usize) };
        let mutex = self.mutex();
        // SAFETY: attr and mutex are valid for the calls; the mutex memory is ours.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            check(libc::pthread_mutexattr_setrobust(
                &mut attr,
                libc::PTHREAD_MUTEX_ROBUST,
            ))?;
            let rc = libc::pthread_mutex_init(mutex, &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            check(rc)?;
        }
        self.word(F_ABI).store(abi(), Relaxed);
        self.word(F_TABLE).store(table.word(), Relaxed);
        self.word(F_LENGTH).store(table.end(), Relaxed);
        let known = &self.known_len;
        known.store(known.load(Relaxed).max(table.end()), Relaxed);
        self.word(F_MAGIC).store(MAGIC, Release);
        Ok(())
    }

    /// A word of the header page (always mapped and present once the file is open).
    fn word(&self, at: u64) -> &AtomicU64 {
        assert!(at.is_multiple_of(8) && at < PAGE);
        // SAFETY: in the first page, which exists (checked or allocated at open), aligned.
        unsafe { &*(self.map.as_ptr().add(at as usize) as *const AtomicU64) }
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: inside the first page.
        unsafe { self.map.as_mut_ptr().add(MUTEX_AT as usize) as *mut libc::pthread_mutex_t }
    }

    fn unlock_range(&self, start: i64, len: i64) -> io::Result<()> {
        fcntl(
            self.file.as_fd(),
            FcntlArg::F_OFD_SETLK(&lock_arg(libc::F_UNLCK, start, len)),
        )?;
        Ok(())
    }

    fn any_slot_locked(&self) -> io::Result<bool> {
        let mut fl = lock_arg(libc::F_WRLCK, SLOT_LOCKS, SLOTS as i64);
        fcntl(self.file.as_fd(), FcntlArg::F_OFD_GETLK(&mut fl))?;
        Ok(fl.l_type != libc::F_UNLCK as _)
    }

    /// Whether another open file description holds slot `i`'s lock: its owner lives.
    pub(super) fn slot_alive(&self, i: usize) -> io::Result<bool> {
        let mut fl = lock_arg(libc::F_WRLCK, SLOT_LOCKS + i as i64, 1);
        fcntl(self.file.as_fd(), FcntlArg::F_OFD_GETLK(&mut fl))?;
        Ok(fl.l_type != libc::F_UNLCK as _)
    }

    /// Takes slot `i`'s lock for this descriptor; false if another holds it.
    fn take_slot_lock(&self, i: usize) -> io::Result<bool> {
        let fl = lock_arg(libc::F_WRLCK, SLOT_LOCKS + i as i64, 1);
        match fcntl(self.file.as_fd(), FcntlArg::F_OFD_SETLK(&fl)) {
            Ok(_) => Ok(true),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn release_slot_lock(&self, i: usize) {
        let _ = self.unlock_range(SLOT_LOCKS + i as i64, 1);
    }

    /// Holds the mutex. A previous owner that died holding it left the table consistent
    /// (every change is one store); only the counts are recomputed.
    pub(super) fn lock(&self) -> io::Result<Locked<'_>> {
        // SAFETY: the mutex was initialised (magic checked) and lives as long as the map.
        let mut rc = unsafe { libc::pthread_mutex_trylock(self.mutex()) };
        if rc == libc::EBUSY {
            // Held elsewhere: wait, but never without a deadline (a holder may be stopped).
            let mut now = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: a valid timespec to write.
            unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
            now.tv_sec += WAIT.as_secs() as libc::time_t;
            // SAFETY: as above; `now` is a valid absolute time.
            rc = unsafe { libc::pthread_mutex_timedlock(self.mutex(), &now) };
        }
        let recovered = match rc {
            0 => false,
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex now.
                unsafe { libc::pthread_mutex_consistent(self.mutex()) };
                true
            }
            libc::ETIMEDOUT => return Err(stuck()),
            e => return Err(io::Error::from_raw_os_error(e)),
        };
        let mut locked = Locked {
            shm: self,
            table: Table::from_word(self.word(F_TABLE).load(Relaxed)),
        };
        locked.check_table()?;
        if recovered {
            locked.recount();
        }
        Ok(locked)
    }
}

/// How long the registry's locks are waited for before the registry counts as unreadable.
const WAIT: Duration = Duration::from_secs(5);

fn stuck() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "another process has held the registry's lock for more than {} s",
            WAIT.as_secs()
        ),
    )
}

fn check(rc: i32) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// The registry with its mutex held.
pub(super) struct Locked<'a> {
    shm: &'a Shm,
    table: Table,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: we hold the mutex.
        unsafe { libc::pthread_mutex_unlock(self.shm.mutex()) };
    }
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("damaged registry: {what}"),
    )
}

impl Locked<'_> {
    fn check_table(&mut self) -> io::Result<()> {
        let t = self.table;
        let length = self.shm.word(F_LENGTH).load(Relaxed);
        if t.off < PAGE || !t.off.is_multiple_of(PAGE) || t.log2 < MIN_LOG2 || t.end() > length {
            return Err(damaged("the table lies outside the file"));
        }
        if length > MAP_LEN {
            return Err(damaged("the file is longer than the mapping"));
        }
        if length > self.shm.known_len.load(Relaxed) {
            // Grown by another spooler: look at the file itself before touching the pages.
            let len = self.shm.file.metadata()?.len();
            self.shm.known_len.store(len, Relaxed);
            if length > len {
                return Err(damaged("the file is shorter than its header says"));
            }
        }
        Ok(())
    }

    fn entry(&self, i: u64) -> (&AtomicU64, &AtomicU64) {
        let t = self.table;
        assert!(i < t.cap());
        let at = t.off + 16 * i;
        // SAFETY: check_table: the table is inside the file and the mapping; aligned.
        unsafe {
            let p = self.shm.map.as_ptr().add(at as usize) as *const AtomicU64;
            (&*p, &*p.add(1))
        }
    }

    fn slot_state(&self, i: usize) -> &AtomicU64 {
        self.shm.word(SLOTS_AT + 16 * i as u64)
    }

    /// Claims a free slot (reaping the slots of dead spoolers on the way) and takes its
    /// lock. `None`: every slot belongs to a live spooler.
    pub(super) fn claim_slot(&mut self) -> io::Result<Option<usize>> {
        for i in 0..SLOTS {
            if self.slot_state(i).load(Relaxed) != 0 {
                if self.shm.slot_alive(i)? {
                    continue;
                }
                self.reap(i);
            }
            if self.shm.take_slot_lock(i)? {
                self.slot_state(i)
                    .store(u64::from(std::process::id()).max(1), Relaxed);
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Ends every hold of slot `i` and frees it: its owner released it or died.
    pub(super) fn reap(&mut self, i: usize) {
        let bit = 1u64 << i;
        for e in 0..self.table.cap() {
            let (key, holders) = self.entry(e);
            if key.load(Relaxed) != 0 {
                let h = holders.load(Relaxed);
                if h & bit != 0 {
                    holders.store(h & !bit, Relaxed);
                    if h == bit {
                        self.add(F_HELD, -1);
                    }
                }
            }
        }
        self.slot_state(i).store(0, Relaxed);
    }

    /// The slots (as a bit set) that hold `key`, and whether each is marked in use.
    pub(super) fn holders(&self, key: u64) -> u64 {
        self.find(key).map_or(0, |e| self.entry(e).1.load(Relaxed))
    }

    /// Whether slot `i` is marked in use.
    pub(super) fn slot_used(&self, i: usize) -> bool {
        self.slot_state(i).load(Relaxed) != 0
    }

    fn find(&self, key: u64) -> Option<u64> {
        let mask = self.table.cap() - 1;
        let mut e = key & mask;
        for _ in 0..self.table.cap() {
            let k = self.entry(e).0.load(Relaxed);
            if k == key {
                return Some(e);
            }
            if k == 0 {
                return None;
            }
            e = (e + 1) & mask;
        }
        None
    }

    fn add(&self, field: u64, delta: i64) {
        let w = self.shm.word(field);
        w.store(w.load(Relaxed).wrapping_add_signed(delta), Relaxed);
    }

    /// Slot `slot` now holds `key`. Fails (changing nothing) when the table must grow and
    /// the file cannot (a full disk: `StorageFull`).
    pub(super) fn hold(&mut self, key: u64, slot: usize) -> io::Result<()> {
        let bit = 1u64 << slot;
        let e = match self.find(key) {
            Some(e) => e,
            None => {
                let keyed = self.shm.word(F_KEYED).load(Relaxed);
                if (keyed + 1) * 2 > self.table.cap() {
                    let held = self.shm.word(F_HELD).load(Relaxed);
                    self.rebuild(log2_for(held + 1))?;
                }
                self.insert(key)
            }
        };
        let holders = self.entry(e).1;
        let h = holders.load(Relaxed);
        if h == 0 {
            self.add(F_HELD, 1);
        }
        holders.store(h | bit, Relaxed);
        Ok(())
    }

    /// Slot `slot` no longer holds `key`. Gives memory back when the table is mostly empty.
    pub(super) fn unhold(&mut self, key: u64, slot: usize) {
        let bit = 1u64 << slot;
        let Some(e) = self.find(key) else { return };
        let holders = self.entry(e).1;
        let h = holders.load(Relaxed);
        if h & bit == 0 {
            return;
        }
        holders.store(h & !bit, Relaxed);
        if h == bit {
            self.add(F_HELD, -1);
            let held = self.shm.word(F_HELD).load(Relaxed);
            if self.table.log2 > MIN_LOG2 && held * 16 < self.table.cap() {
                // Failing to shrink only keeps the memory a while longer.
                let _ = self.rebuild(log2_for(held));
            }
        }
    }

    fn insert(&self, key: u64) -> u64 {
        let mask = self.table.cap() - 1;
        let mut e = key & mask;
        loop {
            let (k, holders) = self.entry(e);
            if k.load(Relaxed) == 0 {
                holders.store(0, Relaxed);
                k.store(key, Relaxed);
                self.add(F_KEYED, 1);
                return e;
            }
            e = (e + 1) & mask;
        }
    }

    /// Copies the held entries into a fresh table of `2^log2` entries and switches to it
    /// with one store; the old region's pages are punched out.
    fn rebuild(&mut self, log2: u32) -> io::Result<()> {
        let old = self.table;
        let mut new = Table { off: PAGE, log2 };
        if new.end() > old.off {
            new.off = old.end();
        }
        if new.end() > MAP_LEN {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "the registry table is at its largest",
            ));
        }
        let fd = self.shm.file.as_fd();
        fallocate(
            fd,
            FallocateFlags::empty(),
            new.off as i64,
            new.bytes() as i64,
        )?;
        let length = self.shm.word(F_LENGTH);
        let grown = length.load(Relaxed).max(new.end());
        length.store(grown, Relaxed);
        let known = &self.shm.known_len;
        known.store(known.load(Relaxed).max(new.end()), Relaxed);
        // SAFETY: the region exists (fallocate) and lies inside the mapping (MAP_LEN).
        unsafe {
            std::ptr::write_bytes(
                self.shm.map.as_mut_ptr().add(new.off as usize),
                0,
                new.bytes() as usize,
            )
        };
        let entries: Vec<(u64, u64)> = (0..old.cap())
            .map(|e| self.entry(e))
            .map(|(k, h)| (k.load(Relaxed), h.load(Relaxed)))
            .filter(|&(k, h)| k != 0 && h != 0)
            .collect();
        self.table = new;
        for &(k, h) in &entries {
            let e = self.insert(k);
            self.entry(e).1.store(h, Relaxed);
        }
        // `insert` counted into the old counts: set both to what the new table holds.
        let n = entries.len() as u64;
        self.shm.word(F_KEYED).store(n, Relaxed);
        self.shm.word(F_HELD).store(n, Relaxed);
        self.shm.word(F_TABLE).store(new.word(), Release);
        let _ = fallocate(
            fd,
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            old.off as i64,
            old.bytes() as i64,
        );
        Ok(())
    }

    fn recount(&mut self) {
        let (mut keyed, mut held) = (0, 0);
        for e in 0..self.table.cap() {
            let (k, h) = self.entry(e);
            if k.load(Relaxed) != 0 {
                keyed += 1;
                if h.load(Relaxed) != 0 {
                    held += 1;
                }
            }
        }
        self.shm.word(F_KEYED).store(keyed, Relaxed);
        self.shm.word(F_HELD).store(held, Relaxed);
    }
}

/// A capacity for `held` entries: at most a quarter full after a rebuild.
fn log2_for(held: u64) -> u32 {
    (held.max(1) * 4)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_LOG2)
}
