//! `mapi-logoff simulate`: the default scenario and every example run on the real
//! library with nothing lost, and invalid scenario files are reported with their file,
//! line and field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapi-logoff"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `simulate --json` with `args` and returns the parsed run.
fn simulate_json(args: &[&str]) -> Value {
    let out = bin()
        .arg("simulate")
        .args(args)
        .arg("--json")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "simulate {args:?} failed ({}): {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).expect("simulate --json prints JSON")
}

fn store<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|s| s["store"] == id)
        .unwrap_or_else(|| panic!("no store {id} in {run:#}"))
}

fn n(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v:#}"))
}

/// Nothing lost, by the CLI's own count and re-checked here from the raw counters.
fn assert_accounted(run: &Value) {
    assert_eq!(run["lost"], 0, "{run:#}");
    for s in run["stores"].as_array().expect("stores") {
        assert_eq!(s["lost"], 0, "{s:#}");
        assert_eq!(
            n(s, "submitted"),
            n(s, "queued") + n(s, "sending") + n(s, "sent"),
            "{s:#}"
        );
        assert_eq!(
            n(s, "receptions"),
            n(s, "receiving") + n(s, "received") + n(s, "cancelled_receptions"),
            "{s:#}"
        );
        // The run ends only once nothing is in flight.
        assert_eq!(n(s, "sending") + n(s, "receiving"), 0, "{s:#}");
    }
}

fn events<'a>(run: &'a Value, store: &str, event: &str) -> Vec<&'a Value> {
    run["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["store"] == store && e["event"] == event)
        .collect()
}

#[test]
fn default_scenario_compares_the_five_modes_and_loses_nothing() {
    let run = simulate_json(&[]);
    assert_accounted(&run);
    assert_eq!(run["ended"], "quiescent");
    assert_eq!(run["stores"].as_array().unwrap().len(), 6);
    // At 1000 ms every store sends, receives and has a queue: the decisions follow.
    let busy = 0x20000 | 0x40000 | 0x80000;
    for (id, mode, decision, out_flags) in [
        ("no-wait", "NO_WAIT", "WHEN_DRAINED", 0x10000 | busy),
        ("orderly", "ORDERLY", "WHEN_DRAINED", 0x10000 | busy),
        ("purge", "PURGE", "WHEN_DRAINED", 0x10000 | busy),
        ("abort", "ABORT", "REFUSED", busy),
        ("quiet", "QUIET", "REFUSED", busy),
    ] {
        let s = store(&run, id);
        assert_eq!(s["mode"], mode, "{s:#}");
        assert_eq!(s["decision"], decision, "{s:#}");
        assert_eq!(s["out_flags"], out_flags, "{s:#}");
        assert_eq!(s["released"], true, "{s:#}");
        assert_eq!(s["timed_out"], false, "{s:#}");
    }
    // NO_WAIT and PURGE send the queue before the release; ORDERLY leaves it queued.
    assert_eq!(n(store(&run, "no-wait"), "queued"), 0);
    assert_eq!(n(store(&run, "purge"), "queued"), 0);
    assert!(n(store(&run, "orderly"), "queued") > 0);
    // After their logoff, new submissions and receptions were refused at the gate.
    for id in ["no-wait", "orderly", "purge"] {
        let s = store(&run, id);
        assert!(n(s, "refused_submissions") > 0, "{s:#}");
        assert!(n(s, "refused_arrivals") > 0, "{s:#}");
    }
    // A refused final release keeps the store served until it is idle: nothing refused.
    for id in ["abort", "quiet"] {
        let s = store(&run, id);
        assert_eq!(
            n(s, "refused_submissions") + n(s, "refused_arrivals"),
            0,
            "{s:#}"
        );
        assert_eq!(events(&run, id, "release_deferred").len(), 1);
    }
    // Only PURGE flushes the transports, and its Release waits.
    assert_eq!(events(&run, "purge", "flush").len(), 1);
    assert_eq!(events(&run, "no-wait", "flush").len(), 0);
    assert_eq!(events(&run, "purge", "release_returned").len(), 1);

    // ABORT again, but its transport can cancel: the send goes back to the queue, the
    // reception back to the server, and the store is logged off now, after the cancel.
    let s = store(&run, "abort-cancel");
    assert_eq!(s["mode"], "ABORT", "{s:#}");
    assert_eq!(s["decision"], "NOW", "{s:#}");
    assert_eq!(s["out_flags"], 0x10000 | 0x80000, "{s:#}");
    assert_eq!(s["released_after_ms"], 0, "{s:#}");
    assert_eq!(n(s, "cancelled_receptions"), 1, "{s:#}");
    assert_eq!(n(s, "cancelled_sends"), 1, "{s:#}");
    assert_eq!(events(&run, "abort-cancel", "cancel").len(), 1);
    let cancelled = events(&run, "abort-cancel", "cancelled");
    assert_eq!(cancelled.len(), 2);
    let decided = &events(&run, "abort-cancel", "decided")[0];
    // Control returns once the cancellations are done (the transport takes 40 ms).
    assert_eq!(cancelled[1]["at_ms"], decided["at_ms"]);
    assert_eq!(decided["at_ms"], 1040);
    assert_eq!(events(&run, "abort-cancel", "release_returned").len(), 1);
    assert_eq!(events(&run, "abort-cancel", "release_deferred").len(), 0);
}

#[test]
fn shared_store_purge_timeout_example() {
    let file = repo().join("examples/shared-purge-timeout.json");
    let run = simulate_json(&[file.to_str().unwrap()]);
    assert_accounted(&run);
    let team = store(&run, "team");
    assert_eq!(team["mode"], "PURGE");
    assert_eq!(team["decision"], "WHEN_DRAINED");
    assert_eq!(team["timed_out"], true, "{team:#}");
    assert_eq!(team["released"], true);
    assert_eq!(
        n(team, "queued"),
        0,
        "NO_WAIT after the timeout sends the queue"
    );
    // alice's PURGE on the shared store ends her hold only.
    let first = &events(&run, "team", "decided")[0];
    assert_eq!(first["out_flags"], 0x10000, "{first:#}");
    assert!(
        events(&run, "team", "released")[0]["detail"]
            .as_str()
            .unwrap()
            .contains("this client only")
    );
    assert_eq!(events(&run, "team", "flush_failed").len(), 1);
    assert_eq!(events(&run, "team", "timed_out").len(), 1);
    // The provider's own StoreLogoffTransports(QUIET) on the idle archive.
    let archive = store(&run, "archive");
    assert_eq!(archive["mode"], "QUIET");
    assert_eq!(archive["decision"], "NOW");
    assert_eq!(archive["released"], true);
    assert_eq!(
        events(&run, "archive", "decided").len(),
        1,
        "the final release calls nothing"
    );
}

#[test]
fn every_example_runs_with_nothing_lost() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let run = simulate_json(&[path.to_str().unwrap(), "--quiet"]);
            assert_accounted(&run);
            assert!(
                run.get("events").is_none(),
                "--quiet --json leaves out the events"
            );
            count += 1;
        }
    }
    assert!(count >= 2, "examples/ holds at least two scenarios");
}

#[test]
fn text_output_shows_timeline_and_summary_and_quiet_only_the_summary() {
    let file = repo().join("examples/shared-purge-timeout.json");
    let run = |extra: &[&str]| -> String {
        let out: Output = bin()
            .arg("simulate")
            .arg(&file)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\x1b'), "no colour when piped: {text}");
        text
    };
    let full = run(&[]);
    assert!(full.contains("timed_out"), "{full}");
    assert!(full.contains("lost = 0"), "{full}");
    let quiet = run(&["--quiet"]);
    assert!(!quiet.contains("timed_out"), "{quiet}");
    assert!(quiet.starts_with("store"), "{quiet}");
    assert!(quiet.contains("lost = 0"), "{quiet}");
}

/// Runs `simulate` on a file holding `text`; returns its stderr, after checking that
/// it failed with status 2 and printed nothing on stdout.
fn invalid(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, text).unwrap();
    let out = bin().arg("simulate").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    (stderr, path.display().to_string())
}

#[test]
fn invalid_scenarios_name_file_line_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"transports\": [{\"name\": \"t\", \"sendms\": 10, \"receive_ms\": 5}]\n}\n",
            ":3:",
            "transports[0].sendms: unknown field `sendms`",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"script\": [\n    {\"at_ms\": 0, \"store\": \"a\", \"action\": \"open\"},\n    {\"at_ms\": 5, \"store\": \"a\", \"action\": \"logoff\", \"mode\": \"PURG\"}\n  ]\n}\n",
            ":5:",
            "script[1].mode: unknown mode \"PURG\"",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"script\": [\n    {\"at_ms\": 0, \"store\": \"b\", \"action\": \"open\"}\n  ]\n}\n",
            ":4:",
            "script[0].store: unknown store \"b\"",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"transports\": [{\"name\": \"t\", \"send_ms\": 10, \"receive_ms\": 5}],\n  \"load\": [{\"stores\": [\"a\"], \"arrive\": {\"every_ms\": 10, \"until_ms\": 100}}]\n}\n",
            ":4:",
            "load[0].arrive: store \"a\" is not a default inbox",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"transports\": [{\"name\": \"t\", \"send_ms\": 0, \"receive_ms\": 5}]\n}\n",
            ":3:",
            "transports[0].send_ms: invalid value",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"transports\": [{\"name\": \"t\", \"send_ms\": 1, \"receive_ms\": 5,\n    \"failure_rate\": 1.5}]\n}\n",
            ":4:",
            "transports[0].failure_rate: 1.5 is out of range",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n  \"script\": [\n    {\"at_ms\": 0, \"store\": \"a\", \"action\": \"release\"}\n  ]\n}\n",
            ":",
            "script[0]: client \"a\" on store \"a\" has no open handle",
        ),
        (
            "{\n  \"stores\": [\n    {\"id\": \"a\"}\n  ],\n  \"seed\": \"x\"\n}\n",
            ":5:",
            "seed: invalid type: string \"x\"",
        ),
        (
            "{\n  \"stores\": [{\"id\": \"a\"}],\n",
            ":3:",
            "EOF while parsing",
        ),
    ];
    for (text, line, message) in cases {
        let (stderr, path) = invalid(text);
        let expected_start = format!("error: {path}{line}");
        assert!(
            stderr.starts_with(&expected_start),
            "expected {expected_start:?} in {stderr:?}"
        );
        assert!(
            stderr.contains(message),
            "expected {message:?} in {stderr:?}"
        );
    }
}

#[test]
fn unreadable_scenario_file_is_named() {
    let out = bin()
        .args(["simulate", "/nonexistent/scenario.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/nonexistent/scenario.json"), "{stderr}");
}

#[test]
fn seeds_check_the_invariants_and_a_seed_replays_alone() {
    let out = bin()
        .args(["simulate", "--seeds", "40", "--seed", "1000"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("40 seeds (1000..1039)"), "{text}");
    let one = |seed: &str| {
        let out = bin()
            .args(["simulate", "--seeds", "1", "--json", "--seed", seed])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let run: Value = serde_json::from_str(&one("1017")).unwrap();
    assert_eq!(run["seeds_run"], 1);
    assert!(run["first_failing_seed"].is_null());
}
