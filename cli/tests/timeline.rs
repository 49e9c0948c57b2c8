//! `mapi-logoff simulate --svg FILE`: the timeline picture, and docs/timeline.svg (shown in
//! README), which must be the default scenario's.
//!
//! The run is deterministic, so tests/golden.rs compares docs/timeline.svg with a fresh run
//! byte for byte. The two tests here say more precisely what is wrong when that fails:
//! - `picture::tests::committed_timeline_is_what_the_drawing_code_draws` (cli/src/picture.rs):
//!   the drawing code, given the picture the file carries, makes exactly the file's bytes.
//!   Any change to what is drawn, or how, fails it.
//! - `committed_timeline_is_the_default_scenarios` below: the file was drawn from
//!   examples/default.json as it is now, and a fresh run of it shows the same story: the
//!   same lanes, modes, decisions and released stores, and per lane the same marks.
//!
//! To regenerate: `cargo run -p mapi-logoff-cli -- simulate --quiet --svg docs/timeline.svg`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use svg::node::element::tag::Type;
use svg::parser::Event;

const REGENERATE: &str =
    "regenerate it with `cargo run -p mapi-logoff-cli -- simulate --quiet --svg docs/timeline.svg`";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mapi-logoff"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The picture an SVG carries.
fn carried(svg: &str) -> Value {
    let open = "<metadata id=\"mapi-logoff-picture\">";
    let start = svg.find(open).expect("the SVG carries its picture") + open.len();
    let len = svg[start..].find("</metadata>").expect("closed metadata");
    serde_json::from_str(&unescape(&svg[start..start + len])).expect("the picture is JSON")
}

/// Runs `simulate ARGS --svg FILE`; returns the output and the SVG.
fn simulate_svg(args: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("timeline.svg");
    let out = bin()
        .arg("simulate")
        .args(args)
        .arg("--svg")
        .arg(&file)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "simulate {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&file).expect("the SVG is written");
    (out, svg)
}

/// What a picture shows, without times and counts: per lane its title and its marks
/// (kind and label), sorted, since marks of different threads at nearly the same moment
/// may come in either order.
fn story(picture: &Value) -> Value {
    let lanes: Vec<Value> = picture["lanes"]
        .as_array()
        .expect("lanes")
        .iter()
        .map(|lane| {
            let mut marks: Vec<(String, String)> = lane["marks"]
                .as_array()
                .expect("marks")
                .iter()
                .map(|m| {
                    (
                        m["kind"].as_str().unwrap().to_owned(),
                        m["label"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            marks.sort();
            serde_json::json!({
                "store": lane["store"],
                "mode": lane["mode"],
                "decision": lane["decision"],
                "timed_out": lane["timed_out"],
                "released": !lane["released_ms"].is_null(),
                "waits": lane["waits"].as_array().expect("waits").len(),
                "marks": marks,
            })
        })
        .collect();
    serde_json::json!({
        "scenario": picture["scenario"],
        "seed": picture["seed"],
        "lanes": lanes,
    })
}

/// The time of a lane's first mark whose label starts with `prefix`.
fn first(lane: &Value, kind: &str, prefix: &str) -> Option<u64> {
    lane["marks"]
        .as_array()?
        .iter()
        .find(|m| m["kind"] == kind && m["label"].as_str().unwrap().starts_with(prefix))
        .map(|m| m["at_ms"].as_u64().unwrap())
}

/// Per lane: marks in time order, counts from 0 ms in time order and never above what
/// the scenario could queue, and a logoff's call, decision and release in that order.
fn assert_consistent(picture: &Value) {
    for lane in picture["lanes"].as_array().unwrap() {
        let times: Vec<u64> = lane["marks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["at_ms"].as_u64().unwrap())
            .collect();
        assert!(times.is_sorted(), "marks in time order: {lane:#}");
        let counts = lane["counts"].as_array().unwrap();
        assert_eq!(counts[0][0], 0, "counts from 0 ms: {lane:#}");
        let at: Vec<u64> = counts.iter().map(|c| c[0].as_u64().unwrap()).collect();
        assert!(at.is_sorted(), "counts in time order: {lane:#}");
        if lane["mode"].is_null() {
            continue;
        }
        let call = first(lane, "call", "StoreLogoff").expect("a StoreLogoff call");
        let decision = first(lane, "decided", "")
            .or_else(|| first(lane, "refused", ""))
            .expect("a decision");
        assert!(call <= decision, "{lane:#}");
        if let Some(released) = lane["released_ms"].as_u64() {
            assert!(decision <= released, "{lane:#}");
        }
    }
}

#[test]
fn committed_timeline_is_the_default_scenarios() {
    let committed = std::fs::read_to_string(repo().join("docs/timeline.svg"))
        .expect("docs/timeline.svg exists");
    let committed = carried(&committed);
    let scenario: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("examples/default.json")).unwrap(),
    )
    .unwrap();
    assert!(
        committed["source"] == scenario,
        "examples/default.json changed since docs/timeline.svg was drawn: {REGENERATE}"
    );
    assert_consistent(&committed);

    let (_, fresh) = simulate_svg(&["--quiet"]);
    let fresh = carried(&fresh);
    assert_eq!(fresh["source"], scenario);
    assert_consistent(&fresh);
    assert!(
        story(&committed) == story(&fresh),
        "docs/timeline.svg shows another story than a run of the default scenario now \
         (left: the file, right: a fresh run); {REGENERATE}\n{:#}\n{:#}",
        story(&committed),
        story(&fresh)
    );
}

/// What an SVG draws, as read back by a parser.
struct Drawn {
    /// The texts, by their `class` (empty when none).
    texts: BTreeMap<String, Vec<String>>,
    /// Every font size set, in px.
    sizes: Vec<f64>,
    /// The root's width.
    width: String,
}

fn drawn(svg: &str) -> Drawn {
    let mut by_class: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut sizes = Vec::new();
    let mut width = String::new();
    let mut class: Option<String> = None;
    for event in svg::read(svg).unwrap() {
        match event {
            Event::Tag(name, kind, attributes) => {
                if let Some(size) = attributes.get("font-size") {
                    sizes.push(size.parse::<f64>().expect("a font size in px"));
                }
                if name == "svg" && kind == Type::Start {
                    width = attributes["width"].to_string();
                }
                class = (name == "text" && kind == Type::Start).then(|| {
                    attributes
                        .get("class")
                        .map(|c| c.to_string())
                        .unwrap_or_default()
                });
            }
            Event::Text(content) => {
                if let Some(c) = class.take() {
                    by_class
                        .entry(c)
                        .or_default()
                        .push(unescape(content.trim()));
                }
            }
            Event::Error(e) => panic!("the SVG does not parse: {e}"),
            _ => {}
        }
    }
    Drawn {
        texts: by_class,
        sizes,
        width,
    }
}

#[test]
fn picture_shows_every_lane_with_its_mode_and_readable_labels() {
    let (_, svg) = simulate_svg(&["--quiet"]);
    let Drawn {
        texts,
        sizes,
        width,
    } = drawn(&svg);
    assert_eq!(width, "900", "README width");
    assert!(!sizes.is_empty());
    assert!(
        sizes.iter().all(|&s| s >= 11.0),
        "every font size is at least 11 px: {sizes:?}"
    );
    let picture = carried(&svg);
    // One lane per store, in the scenario's order, titled with its id and its mode.
    let stores: Vec<&str> = picture["source"]["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(texts["store"], stores);
    let modes = ["NO_WAIT", "ORDERLY", "PURGE", "ABORT", "QUIET"];
    let decisions = [
        "WHEN_DRAINED",
        "WHEN_DRAINED",
        "WHEN_DRAINED",
        "REFUSED",
        "REFUSED",
    ];
    for ((title, mode), decision) in texts["mode"].iter().zip(modes).zip(decisions) {
        assert!(
            title.starts_with(&format!("{mode} → {decision}")),
            "{title}"
        );
    }
    assert!(
        texts["mode"][2].ends_with("the caller waits"),
        "PURGE waits"
    );
    // Every mark's label is drawn, and the time axis is labelled.
    let all: Vec<&String> = texts.values().flatten().collect();
    for lane in picture["lanes"].as_array().unwrap() {
        for m in lane["marks"].as_array().unwrap() {
            let label = m["label"].as_str().unwrap();
            assert!(all.iter().any(|t| *t == label), "{label} is drawn");
        }
    }
    for tick in ["0", "500", "1000", "1500", "2000"] {
        assert!(all.iter().any(|t| *t == tick), "tick {tick}");
    }
    // The marks the issue asks for: the logoff call, the decision, the release, refusals.
    let purge = &picture["lanes"][2];
    for (kind, prefix) in [
        ("call", "StoreLogoff(PURGE)"),
        ("call", "Release()"),
        (
            "decided",
            "PURGE → COMPLETE|INBOUND|OUTBOUND|OUTBOUND_QUEUE, WHEN_DRAINED",
        ),
        ("spooler", "FlushQueues(UPLOAD|NO_UI)"),
        ("gate", "submission refused"),
        ("gate", "reception via net refused"),
        ("released", "released: drained"),
        ("call", "Release() returns"),
    ] {
        assert!(
            first(purge, kind, prefix).is_some(),
            "{kind} {prefix}: {purge:#}"
        );
    }
    let abort = &picture["lanes"][3];
    assert!(
        first(
            abort,
            "refused",
            "ABORT → INBOUND|OUTBOUND|OUTBOUND_QUEUE, REFUSED"
        )
        .is_some()
    );
    // Something was queued, sent and received, and shows in the counts.
    let counts = purge["counts"].as_array().unwrap();
    for (i, what) in [(1, "queued"), (2, "sending"), (3, "receiving")] {
        assert!(
            counts.iter().any(|c| c[i].as_u64().unwrap() > 0),
            "{what} in {counts:?}"
        );
    }
}

#[test]
fn svg_works_with_any_scenario_and_with_quiet_json() {
    let file = repo().join("examples/shared-purge-timeout.json");
    let (out, svg) = simulate_svg(&[file.to_str().unwrap(), "--quiet", "--json"]);
    let run: Value = serde_json::from_slice(&out.stdout).expect("stdout is still the JSON run");
    assert!(
        run.get("events").is_none(),
        "--quiet --json leaves out the events"
    );
    let picture = carried(&svg);
    assert_consistent(&picture);
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(picture["source"], scenario);
    assert_eq!(picture["lanes"][0]["store"], "team");
    assert_eq!(picture["lanes"][1]["store"], "archive");
    let team = &picture["lanes"][0];
    assert_eq!(team["timed_out"], true);
    assert!(
        first(team, "problem", "PURGE deadline passed").is_some(),
        "{team:#}"
    );
    assert!(
        first(team, "problem", "FlushQueues failed").is_some(),
        "{team:#}"
    );
    assert!(
        first(team, "released", "released: this client only").is_some(),
        "{team:#}"
    );
    let archive = &picture["lanes"][1];
    assert_eq!(archive["mode"], "QUIET");
    assert_eq!(archive["decision"], "NOW");
    assert!(first(archive, "call", "StoreLogoffTransports(QUIET)").is_some());

    // The text output is unchanged by --svg.
    let (out, _) = simulate_svg(&[file.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("timed_out") && text.contains("lost = 0"),
        "{text}"
    );
}

#[test]
fn unwritable_svg_path_is_a_usage_error_before_the_run() {
    let out = bin()
        .args(["simulate", "--svg", "/nonexistent/dir/timeline.svg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing simulated");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("cannot write /nonexistent/dir/timeline.svg"),
        "{stderr}"
    );
}

#[test]
fn invalid_scenario_writes_no_picture() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.json");
    std::fs::write(&scenario, "{\"stores\": []}").unwrap();
    let file = dir.path().join("timeline.svg");
    let out = bin()
        .arg("simulate")
        .arg(&scenario)
        .arg("--svg")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!file.exists(), "no picture of a scenario that did not run");
}
