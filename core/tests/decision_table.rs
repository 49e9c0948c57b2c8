//! The shared decision-table fixture (`tests/fixtures/decision_table.json`, written by
//! `tests/fixtures/gen_decision_table.py` from SPEC §2–§4 independently of the core)
//! against the core: every case, and every constant.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use mapi_logoff::{
    Activity, Context, Error, FlushFlags, LogoffFlags, Release, S_OK, decide, parse_activity,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Fixture {
    description: String,
    constants: BTreeMap<String, u32>,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    flags: u32,
    activity: u32,
    context: u32,
    shared: bool,
    strict: bool,
    cancellable: bool,
    hresult: u32,
    error: Option<String>,
    out_flags: Option<u32>,
    release: Option<u32>,
    flush_flags: Option<u32>,
    allowed: Option<u32>,
    waits: Option<bool>,
}

/// A case's outcome in the fixture's terms, so that expected and actual compare whole.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    hresult: u32,
    error: Option<String>,
    out_flags: Option<u32>,
    release: Option<u32>,
    flush_flags: Option<u32>,
    allowed: Option<u32>,
    waits: Option<bool>,
}

impl Case {
    fn expected(&self) -> Outcome {
        Outcome {
            hresult: self.hresult,
            error: self.error.clone(),
            out_flags: self.out_flags,
            release: self.release,
            flush_flags: self.flush_flags,
            allowed: self.allowed,
            waits: self.waits,
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

fn load() -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/decision_table.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// The whole call, with the fixture's order of checks: context bits, then the flags,
/// then the activity.
fn run(case: &Case) -> Result<mapi_logoff::Decision, Error> {
    let context = Context::from_bits(case.context)?;
    assert_eq!(
        (context.shared, context.strict, context.cancellable),
        (case.shared, case.strict, case.cancellable),
        "case {:?}: the context word {:#x} disagrees with its shared/strict/cancellable fields",
        case.name,
        case.context
    );
    match parse_activity(case.activity) {
        Ok(activity) => decide(case.flags, activity, context),
        // The flags are checked before the activity: a bad flags word wins.
        Err(activity_error) => {
            decide(case.flags, Activity::empty(), context).and(Err(activity_error))
        }
    }
}

fn outcome(result: Result<mapi_logoff::Decision, Error>) -> Outcome {
    match result {
        Ok(d) => Outcome {
            hresult: S_OK as u32,
            error: None,
            out_flags: Some(d.out_flags.bits()),
            release: Some(d.release.value()),
            flush_flags: Some(d.flush_flags.bits()),
            allowed: Some(d.allowed.bits()),
            waits: Some(d.waits),
        },
        Err(e) => Outcome {
            hresult: e.hresult_bits(),
            error: Some(e.name().to_owned()),
            out_flags: None,
            release: None,
            flush_flags: None,
            allowed: None,
            waits: None,
        },
    }
}

#[test]
fn every_case_matches_the_core() {
    let fixture = load();
    let mut failures = Vec::new();
    for case in &fixture.cases {
        let actual = outcome(run(case));
        let expected = case.expected();
        if actual != expected {
            failures.push(format!(
                "case {:?} (flags {:#x}, activity {:#x}, context {:#x}):\n  expected {expected:?}\n  \
                 actual   {actual:?}",
                case.name, case.flags, case.activity, case.context
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with the core:\n{}",
        failures.len(),
        fixture.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn cases_are_well_formed() {
    let fixture = load();
    assert!(!fixture.description.is_empty());
    let mut names = BTreeSet::new();
    for case in &fixture.cases {
        assert!(
            names.insert(case.name.as_str()),
            "duplicate case name {:?}",
            case.name
        );
        let decided = [
            case.out_flags.is_some(),
            case.release.is_some(),
            case.flush_flags.is_some(),
            case.allowed.is_some(),
            case.waits.is_some(),
        ];
        if case.error.is_some() {
            assert!(
                decided.iter().all(|d| !d),
                "case {:?}: rejected but decided",
                case.name
            );
            assert_ne!(case.hresult, 0, "case {:?}: rejected with S_OK", case.name);
        } else {
            assert!(
                decided.iter().all(|d| *d),
                "case {:?}: decided but incomplete",
                case.name
            );
            assert_eq!(
                case.hresult, 0,
                "case {:?}: decided without S_OK",
                case.name
            );
        }
    }
    // The full table: 5 modes x 8 activities x shared x strict x cancellable.
    let mut full = 0;
    for mode in mapi_logoff::Mode::ALL {
        for activity in 0..8u32 {
            let activity = activity << 17;
            for context in 0..8u32 {
                let present = fixture.cases.iter().any(|c| {
                    c.flags == mode.flag().bits() && c.activity == activity && c.context == context
                });
                assert!(
                    present,
                    "no case for mode {mode}, activity {activity:#x}, context {context}"
                );
                full += 1;
            }
        }
    }
    assert_eq!(full, 320);
    assert!(fixture.cases.len() > 320);
}

#[test]
fn constants_match_the_core() {
    let fixture = load();
    let mut rust = BTreeMap::new();
    for (name, flag) in LogoffFlags::all().iter_names() {
        rust.insert(format!("LOGOFF_{name}"), flag.bits());
    }
    for (name, flag) in FlushFlags::all().iter_names() {
        rust.insert(format!("FLUSH_{name}"), flag.bits());
    }
    for release in [Release::Refused, Release::Now, Release::WhenDrained] {
        rust.insert(
            format!("MAPI_LOGOFF_RELEASE_{}", release.name()),
            release.value(),
        );
    }
    rust.insert("MAPI_LOGOFF_DECIDE_SHARED".to_owned(), Context::SHARED);
    rust.insert("MAPI_LOGOFF_DECIDE_STRICT".to_owned(), Context::STRICT);
    rust.insert(
        "MAPI_LOGOFF_DECIDE_CANCELLABLE".to_owned(),
        Context::CANCELLABLE,
    );
    rust.insert("S_OK".to_owned(), S_OK as u32);
    for error in Error::ALL {
        rust.insert(error.name().to_owned(), error.hresult_bits());
    }
    assert_eq!(
        fixture.constants, rust,
        "the fixture's constants differ from the core's"
    );

    for (name, value) in &fixture.constants {
        if name.starts_with("MAPI_E_") {
            let error = Error::from_name(name)
                .unwrap_or_else(|| panic!("constant {name}: no such Error in the core"));
            assert_eq!(error.hresult_bits(), *value, "constant {name}");
        }
    }
}

#[test]
fn fixture_is_up_to_date() {
    let root = repo_root();
    let result = Command::new("python3")
        .arg("tests/fixtures/gen_decision_table.py")
        .arg("--check")
        .current_dir(&root)
        .output();
    let output = match result {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("skipped: python3 not found, cannot check the decision-table fixture");
            return;
        }
        Err(e) => panic!("cannot run python3: {e}"),
    };
    assert!(
        output.status.success(),
        "tests/fixtures/decision_table.json is stale ({}): run \
         python3 tests/fixtures/gen_decision_table.py\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
