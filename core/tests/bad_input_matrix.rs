//! The Rust column of the bad-input matrix (tests/fixtures/bad_input_matrix.json, which the
//! C, Python and Node tests read too, and docs/reliability.md shows): one test per cell. Each
//! expects the error its cell names and checks that the rejected call changed nothing; a cell
//! Rust cannot express is n/a in the file, and its test checks that it says so.

mod common;

use std::sync::Arc;

use common::{spooler, spooler_with};
use mapi_logoff::{
    Context, Error, LogoffFlags, Mode, Result, Spooler, SpoolerOptions, Store, StoreStats, Support,
    decide_bits,
};

const MATRIX: &str = include_str!("../../tests/fixtures/bad_input_matrix.json");

/// The classes this file has a test for, in the file's order.
const CLASSES: [&str; 12] = [
    "null",
    "wrong_type",
    "negative",
    "above_u32",
    "unknown_flag_bits",
    "zero_flags",
    "several_flags",
    "unknown_context_bits",
    "bad_store_id",
    "empty_store_id",
    "released_handle",
    "closed_spooler",
];

fn matrix() -> serde_json::Value {
    serde_json::from_str(MATRIX).expect("bad_input_matrix.json parses")
}

/// The error the Rust cell of `class` expects; None when the cell is n/a.
fn expected(class: &str) -> Option<Error> {
    let m = matrix();
    let cell = &m["cells"]["rust"][class];
    assert!(cell.is_object(), "no Rust cell for {class}");
    if let Some(reason) = cell.get("na") {
        assert!(
            reason.as_str().is_some_and(|r| !r.is_empty()),
            "{class}: n/a needs a reason"
        );
        return None;
    }
    let name = cell["error"].as_str().expect("an error name");
    Some(Error::from_name(name).unwrap_or_else(|| panic!("{class}: {name} is not a MAPI_E_* name")))
}

fn expect(class: &str) -> Error {
    expected(class).unwrap_or_else(|| panic!("the matrix says Rust cannot express {class}"))
}

fn expect_na(class: &str) {
    assert_eq!(expected(class), None, "{class}: the matrix should say n/a");
}

/// A spooler with a store opened on it, a queued message and a saved NO_WAIT, and what a
/// rejected call must leave exactly as it was.
struct Scene {
    spooler: Spooler,
    store: Store,
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    stats: StoreStats,
    saved_mode: Option<Mode>,
    ref_count: u64,
    valid: bool,
    store_ids: Vec<String>,
}

impl Scene {
    fn new() -> Scene {
        Scene::on(spooler())
    }

    /// The scene on a spooler with strict validation opted in.
    fn strict() -> Scene {
        Scene::on(spooler_with(SpoolerOptions {
            strict: true,
            ..Default::default()
        }))
    }

    fn on(spooler: Spooler) -> Scene {
        let store = spooler.open_store("box").unwrap();
        spooler.submit("box").unwrap();
        let mut f = LogoffFlags::NO_WAIT.bits();
        store.logoff(&mut f).unwrap();
        Scene { spooler, store }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            stats: self.spooler.stats("box").unwrap(),
            saved_mode: self.store.saved_mode(),
            ref_count: self.store.ref_count(),
            valid: self.store.is_valid(),
            store_ids: self.spooler.store_ids(),
        }
    }

    /// Runs the logoff calls with `flags`: each must fail with `want` and write nothing back.
    fn bad_flags(&self, flags: u32, want: Error) {
        let before = self.snapshot();
        let mut f = flags;
        assert_eq!(self.store.logoff(&mut f), Err(want), "logoff({flags:#x})");
        assert_eq!(f, flags, "logoff wrote the flags back");
        let mut f = flags;
        assert_eq!(
            self.store.logoff_transports(&mut f),
            Err(want),
            "logoff_transports({flags:#x})"
        );
        assert_eq!(f, flags, "logoff_transports wrote the flags back");
        assert_eq!(self.snapshot(), before, "a rejected call changed something");
    }
}

#[test]
fn the_matrix_has_a_rust_cell_for_every_class_and_this_file_a_test() {
    let m = matrix();
    let classes: Vec<&str> = m["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(classes, CLASSES);
    for class in CLASSES {
        expected(class);
    }
}

#[test]
fn null() {
    // No null reference in safe Rust: &str and &mut u32 always point somewhere.
    expect_na("null");
}

#[test]
fn wrong_type() {
    expect_na("wrong_type");
}

#[test]
fn negative() {
    expect_na("negative");
}

#[test]
fn above_u32() {
    expect_na("above_u32");
}

#[test]
fn unknown_flag_bits() {
    let want = expect("unknown_flag_bits");
    let scene = Scene::new();
    scene.bad_flags(LogoffFlags::ORDERLY.bits() | 0x100, want);
    let activity_bit_not_defined = 0x1;
    assert_eq!(
        decide_bits(LogoffFlags::ORDERLY.bits(), activity_bit_not_defined, 0),
        Err(want)
    );
}

/// An external support that answers COMPLETE.
struct Complete;

impl Support for Complete {
    fn store_logoff_transports(&self, flags: &mut u32) -> Result<()> {
        *flags = LogoffFlags::COMPLETE.bits();
        Ok(())
    }
}

#[test]
fn zero_flags() {
    let want = expect("zero_flags");
    Scene::strict().bad_flags(0, want);
    let scene = Scene::new();
    scene.store.set_strict(true);
    let mut f = 0;
    assert_eq!(scene.store.logoff(&mut f), Err(want));
    // The lenient default takes it: ABORT.
    scene.store.set_strict(false);
    scene.store.logoff(&mut f).unwrap();
    assert_eq!(scene.store.saved_mode(), Some(Mode::Abort));
}

#[test]
fn several_flags() {
    let want = expect("several_flags");
    let several = (LogoffFlags::ORDERLY | LogoffFlags::ABORT).bits();
    Scene::strict().bad_flags(several, want);
    let external = Store::new_with_validation(Arc::new(Complete), true);
    let mut f = several;
    assert_eq!(external.logoff(&mut f), Err(want));
    assert_eq!((f, external.saved_mode()), (several, None));
    // The lenient default takes the most cautious.
    let lenient = Scene::new();
    let mut f = several;
    lenient.store.logoff(&mut f).unwrap();
    assert_eq!(lenient.store.saved_mode(), Some(Mode::Abort));
}

#[test]
fn unknown_context_bits() {
    let want = expect("unknown_context_bits");
    assert_eq!(decide_bits(LogoffFlags::ORDERLY.bits(), 0, 0x8), Err(want));
    assert_eq!(Context::from_bits(0x8), Err(want));
}

#[test]
fn bad_store_id() {
    // &str is UTF-8 by construction.
    expect_na("bad_store_id");
}

#[test]
fn empty_store_id() {
    let want = expect("empty_store_id");
    let scene = Scene::new();
    let before = scene.snapshot();
    assert_eq!(scene.spooler.submit("").err(), Some(want));
    assert_eq!(scene.spooler.begin_receive("").err(), Some(want));
    assert_eq!(scene.spooler.open_store("").err(), Some(want));
    assert_eq!(scene.spooler.stats("").err(), Some(want));
    assert_eq!(scene.snapshot(), before);
}

#[test]
fn released_handle() {
    let want = expect("released_handle");
    let scene = Scene::new();
    assert_eq!(scene.store.release(), 0);
    let before = scene.snapshot();
    let mut f = LogoffFlags::ORDERLY.bits();
    assert_eq!(scene.store.logoff(&mut f), Err(want));
    assert_eq!(scene.store.logoff_transports(&mut f), Err(want));
    assert_eq!(f, LogoffFlags::ORDERLY.bits());
    assert_eq!(scene.store.add_ref(), 0, "a released handle stays released");
    assert_eq!(scene.store.release(), 0);
    assert_eq!(scene.snapshot(), before);
}

#[test]
fn closed_spooler() {
    let want = expect("closed_spooler");
    let scene = Scene::new();
    scene
        .spooler
        .close_within(std::time::Duration::ZERO)
        .unwrap();
    let before = scene.snapshot();
    assert_eq!(scene.spooler.open_store("box").err(), Some(want));
    assert_eq!(scene.spooler.submit("box").err(), Some(want));
    assert_eq!(scene.spooler.begin_send("box").err(), Some(want));
    assert_eq!(scene.spooler.close().err(), Some(want), "a second close");
    assert_eq!(scene.snapshot(), before);
}
