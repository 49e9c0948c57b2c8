//! Golden runs: the simulator's output is a function of the scenario and the seed, so the
//! committed outputs of the default scenario are checked byte for byte against a fresh run:
//! README.md's text between `<!-- simulate-output -->` markers, `cli/tests/golden/default.json`
//! (`simulate --json`) and `docs/timeline.svg` (`simulate --svg`).
//!
//! To regenerate all three after an intended change:
//! `MAPI_LOGOFF_BLESS=1 cargo test -p mapi-logoff-cli --test golden`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn simulate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mapi-logoff"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn bless() -> bool {
    std::env::var_os("MAPI_LOGOFF_BLESS").is_some()
}

const HOW: &str =
    "regenerate with `MAPI_LOGOFF_BLESS=1 cargo test -p mapi-logoff-cli --test golden`";

/// Compares `fresh` with the committed `file`, or writes it when blessing.
fn check(file: &Path, fresh: &str) {
    if bless() {
        std::fs::write(file, fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(file).unwrap();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(fresh.lines().count()));
        panic!(
            "{} differs from a fresh run from line {}: {HOW}\ncommitted: {:?}\nfresh:     {:?}",
            file.display(),
            line + 1,
            committed.lines().nth(line),
            fresh.lines().nth(line)
        );
    }
}

const README_START: &str = "```text\n$ cargo run --release -p mapi-logoff-cli -- simulate\n";

#[test]
fn readme_shows_the_default_run_byte_for_byte() {
    let path = repo().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(README_START)
        .expect("README shows the simulate output")
        + README_START.len();
    let len = readme[start..].find("```\n").expect("the block is closed");
    let fresh = simulate(&[]);
    if bless() {
        let next = format!("{}{fresh}{}", &readme[..start], &readme[start + len..]);
        std::fs::write(&path, next).unwrap();
        return;
    }
    assert!(
        readme[start..start + len] == fresh,
        "README.md's simulate output is not a fresh run's: {HOW}\nREADME:\n{}\nfresh:\n{fresh}",
        &readme[start..start + len]
    );
}

#[test]
fn json_of_the_default_run_byte_for_byte() {
    check(
        &repo().join("cli/tests/golden/default.json"),
        &simulate(&["--json"]),
    );
}

#[test]
fn timeline_svg_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.svg");
    simulate(&["--quiet", "--svg", file.to_str().unwrap()]);
    check(
        &repo().join("docs/timeline.svg"),
        &std::fs::read_to_string(&file).unwrap(),
    );
}

#[test]
fn every_example_gives_the_same_bytes_twice() {
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let p = path.to_str().unwrap();
            for args in [vec![p], vec![p, "--json"], vec![p, "--seed", "12345"]] {
                assert_eq!(simulate(&args), simulate(&args), "{args:?}");
            }
        }
    }
}
