//! `mapi-logoff decide` and `table` against the shared decision-table fixture
//! (tests/fixtures/decision_table.json), and README's table against `table --markdown`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapi-logoff"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_cases() -> Vec<Value> {
    let path = repo().join("tests/fixtures/decision_table.json");
    let text = std::fs::read_to_string(&path).expect("the shared fixture exists");
    let fixture: Value = serde_json::from_str(&text).unwrap();
    fixture["cases"].as_array().expect("cases").clone()
}

const OUTCOME: [&str; 7] = [
    "hresult",
    "error",
    "out_flags",
    "release",
    "flush_flags",
    "allowed",
    "waits",
];

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// `decide --json` on the fixture case's raw bits.
fn decide_json(case: &Value) -> (Value, Option<i32>) {
    let context = case["context"].as_u64().unwrap();
    let mut cmd = bin();
    cmd.args([
        "decide",
        &case["flags"].to_string(),
        "--activity",
        &case["activity"].to_string(),
        "--json",
    ]);
    if context & 1 != 0 {
        cmd.arg("--shared");
    }
    if context & 2 != 0 {
        cmd.arg("--strict");
    }
    if context & 4 != 0 {
        cmd.arg("--cancellable");
    }
    let out = cmd.output().unwrap();
    (
        serde_json::from_str(&stdout(&out)).unwrap(),
        out.status.code(),
    )
}

#[test]
fn decide_agrees_with_every_fixture_case() {
    let cases = fixture_cases();
    let mut checked = 0;
    for case in &cases {
        // The CLI has flags for the three defined context bits only.
        if case["context"].as_u64().unwrap() & !7 != 0 {
            continue;
        }
        let (got, code) = decide_json(case);
        for field in OUTCOME {
            assert_eq!(got[field], case[field], "{field} of {}", case["name"]);
        }
        let rejected = !case["error"].is_null();
        assert_eq!(code, Some(if rejected { 1 } else { 0 }), "{}", case["name"]);
        checked += 1;
    }
    assert!(checked >= 200, "only {checked} fixture cases checked");
}

#[test]
fn decide_text_for_known_rows() {
    let run = |args: &[&str]| {
        let out = bin().arg("decide").args(args).output().unwrap();
        (stdout(&out), out.status.code())
    };
    let (text, code) = run(&["PURGE", "--activity", "inbound,queue"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("out_flags    COMPLETE|INBOUND|OUTBOUND_QUEUE"),
        "{text}"
    );
    assert!(text.contains("release      WHEN_DRAINED"), "{text}");
    assert!(text.contains("flush_flags  UPLOAD|NO_UI"), "{text}");
    assert!(text.contains("allowed      OUTBOUND"), "{text}");
    assert!(text.contains("waits        yes"), "{text}");

    let (text, code) = run(&["abort", "--activity", "outbound"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("release      REFUSED"), "{text}");

    let (text, code) = run(&["quiet", "--shared", "--activity", "inbound"]);
    assert_eq!(code, Some(0));
    assert!(
        text.contains("release      NOW: this client only"),
        "{text}"
    );

    let (text, code) = run(&["ORDERLY|PURGE", "--strict"]);
    assert_eq!(code, Some(1));
    assert!(
        text.contains("MAPI_E_INVALID_PARAMETER (0x80070057)"),
        "{text}"
    );

    let (text, code) = run(&["ORDERLY|PURGE"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("taken as ORDERLY"), "{text}");

    let (text, code) = run(&["ABORT", "--activity", "inbound", "--cancellable"]);
    assert_eq!(code, Some(0));
    assert!(text.contains("release      NOW"), "{text}");

    let (text, code) = run(&["0x20"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("MAPI_E_UNKNOWN_FLAGS"), "{text}");

    // A word that is no mode is a usage error, not a decision.
    let out = bin().args(["decide", "PURG"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown mode \"PURG\""));
    let out = bin()
        .args(["decide", "PURGE", "--activity", "sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn table_json_agrees_with_the_fixture() {
    let out = bin().args(["table", "--json"]).output().unwrap();
    assert!(out.status.success());
    let table: Vec<Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(table.len(), 5 * 8 * 2, "every mode × activity × shared");
    let fixture = fixture_cases();
    let key = |c: &Value| {
        (
            c["flags"].clone(),
            c["activity"].clone(),
            c["context"].clone(),
        )
    };
    let mut matched = 0;
    for row in &table {
        assert!(row["error"].is_null(), "{row}");
        if let Some(expected) = fixture.iter().find(|c| key(c) == key(row)) {
            for field in OUTCOME {
                assert_eq!(
                    row[field], expected[field],
                    "{field} of {}",
                    expected["name"]
                );
            }
            matched += 1;
        }
    }
    assert!(matched >= 40, "only {matched} rows found in the fixture");
}

#[test]
fn table_text_holds_known_rows() {
    let out = bin().arg("table").output().unwrap();
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    for expected in [
        vec!["QUIET", "idle", "COMPLETE", "NOW", "0", "none", "no"],
        vec![
            "ABORT",
            "OUTBOUND_QUEUE",
            "COMPLETE|OUTBOUND_QUEUE",
            "NOW",
            "0",
            "none",
            "no",
        ],
        vec![
            "PURGE",
            "INBOUND",
            "COMPLETE|INBOUND",
            "WHEN_DRAINED",
            "UPLOAD|NO_UI",
            "OUTBOUND",
            "yes",
        ],
        vec![
            "any",
            "any, shared",
            "COMPLETE",
            "NOW",
            "0",
            "INBOUND|OUTBOUND|OUTBOUND_QUEUE",
            "no",
        ],
    ] {
        assert!(rows.contains(&expected), "no row {expected:?} in\n{text}");
    }
}

/// The README region between `begin` and `end` markers.
fn readme_region(begin: &str, end: &str) -> String {
    doc_region("README.md", begin, end)
}

/// The region of the document `path` (from the repository root) between two markers.
fn doc_region(path: &str, begin: &str, end: &str) -> String {
    let readme = std::fs::read_to_string(repo().join(path)).unwrap();
    let start = readme.find(begin).expect("begin marker") + begin.len();
    let stop = readme[start..].find(end).expect("end marker") + start;
    readme[start..stop].trim().to_owned()
}

#[test]
fn readme_and_protocol_doc_decision_tables_are_generated_by_table_markdown() {
    let out = bin().args(["table", "--markdown"]).output().unwrap();
    let generated = stdout(&out);
    for doc in ["README.md", "docs/protocol.md"] {
        let region = doc_region(doc, "<!-- decision-table -->", "<!-- /decision-table -->");
        assert!(
            region == generated.trim(),
            "{doc}'s decision table is stale: replace the lines between \
             <!-- decision-table --> and <!-- /decision-table --> with the output of\n  \
             cargo run -p mapi-logoff-cli -- table --markdown\n\n{generated}"
        );
    }
}

#[test]
fn readme_shows_a_simulate_run() {
    let region = readme_region("<!-- simulate-output -->", "<!-- /simulate-output -->");
    assert!(region.contains("```text"), "{region}");
    for store in ["no-wait", "orderly", "purge", "abort", "quiet"] {
        assert!(region.contains(store), "{store} missing from README's run");
    }
    assert!(region.contains("lost = 0"), "{region}");
}
