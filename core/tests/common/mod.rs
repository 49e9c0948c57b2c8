#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use mapi_logoff::{Event, EventKind, LogoffFlags, Mode, Spooler, SpoolerOptions, Store};

/// A spooler that sees no other spooler: tests run in parallel and must not share stores
/// through the machine registry.
pub fn spooler() -> Spooler {
    spooler_with(SpoolerOptions::default())
}

pub fn spooler_with(options: SpoolerOptions) -> Spooler {
    Spooler::with_options(
        "test-profile",
        SpoolerOptions {
            cross_process: false,
            ..options
        },
    )
    .unwrap()
}

/// Records every event of a spooler.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Event>>>);

impl Recorder {
    pub fn on(spooler: &Spooler) -> Recorder {
        let r = Recorder::default();
        let sink = r.0.clone();
        spooler.subscribe(Arc::new(move |e: &Event| {
            sink.lock().unwrap().push(e.clone())
        }));
        r
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.0.lock().unwrap().iter().map(|e| e.kind).collect()
    }

    pub fn count(&self, kind: EventKind) -> usize {
        self.kinds().iter().filter(|k| **k == kind).count()
    }
}

/// StoreLogoff with `mode`, then the final release.
pub fn logoff_and_release(store: &Store, mode: Mode) {
    let mut flags = mode.flag().bits();
    store.logoff(&mut flags).unwrap();
    assert_eq!(store.release(), 0);
}

pub fn flags(bits: u32) -> LogoffFlags {
    LogoffFlags::from_bits_retain(bits)
}

/// A temporary directory private to this user (mode 0700), as the machine registry
/// requires of its directory.
pub fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}
