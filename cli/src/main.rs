//! `mapi-logoff`: the simulator and decision-table tool of the mapi-logoff library.

mod assets;
mod picture;
mod report;
mod scenario;
mod seeds;
mod sim;
mod spec;
mod table;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use mapi_logoff::Context;

/// The default scenario: six stores under identical load, one per mode and an ABORT whose
/// transport can cancel.
const DEFAULT_SCENARIO: &str = include_str!("../../examples/default.json");

#[derive(Parser)]
#[command(
    name = "mapi-logoff",
    version,
    about = "Simulate MAPI store logoffs on the real library, and print the decision table",
    after_help = "Exit status: 0 on success; 1 when a simulation loses a message or `decide` \
                  is given a call the protocol rejects; 2 on a usage or scenario error."
)]
struct Cli {
    /// When to colour the output.
    #[arg(long, value_enum, global = true, default_value_t = Color::Auto)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario on the real spooler and stores: a timeline and a per-store summary.
    ///
    /// With no file, runs the embedded default (examples/default.json): six stores under
    /// identical load, each logged off mid-traffic with another mode, the sixth with an
    /// ABORT whose transport can cancel. The file format is described in docs/scenario.md.
    Simulate {
        /// The scenario file (JSON).
        scenario: Option<PathBuf>,
        /// Print the run as JSON.
        #[arg(long)]
        json: bool,
        /// Print the summary only.
        #[arg(long, short)]
        quiet: bool,
        /// Override the scenario's seed (with --seeds: the first seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Run N random variations of the scenario (timings, transport failures, slow and
        /// stuck flushes, modes and call orders, extra clients), checking after every step
        /// that nothing is lost, StoreLogoffTransports runs once per handle, every store is
        /// released once drained and no PURGE overruns its deadline. Prints the first
        /// failing seed; `--seeds 1 --seed S` replays it alone.
        #[arg(long, value_name = "N", conflicts_with = "svg")]
        seeds: Option<u64>,
        /// Also draw the run as an SVG timeline to this file: one lane per store with its
        /// counts over time, the logoff calls, the decision and the release.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Decide one StoreLogoffTransports call with the core's decision table.
    Decide {
        /// The mode: NO_WAIT, ORDERLY, PURGE, ABORT or QUIET (any case, LOGOFF_ prefix
        /// optional), several joined by '|', or the flags as a number (0x4).
        mode: String,
        /// The store's activity: inbound, outbound, queue, joined by ',' (or a number).
        #[arg(long, short, default_value = "none")]
        activity: String,
        /// Another client holds the store open.
        #[arg(long)]
        shared: bool,
        /// Strict validation: exactly one mode. Without it (as real MAPI), no mode means
        /// ABORT and several mean the most cautious.
        #[arg(long)]
        strict: bool,
        /// Every transfer in flight can be cancelled: ABORT cancels them and logs off.
        #[arg(long)]
        cancellable: bool,
        /// Print the decision as JSON (the fields of tests/fixtures/decision_table.json).
        #[arg(long)]
        json: bool,
    },
    /// Print the whole decision table.
    Table {
        /// As a Markdown table (what README shows).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// As JSON: every mode with every activity, not shared and shared.
        #[arg(long)]
        json: bool,
    },
    /// Write the man pages and the shell completions (bash, zsh, fish) into DIR: for
    /// packagers (scripts/dist), hence hidden.
    #[command(hide = true)]
    GenerateAssets {
        /// The directory to write into (man/ and completions/ are made below it).
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.color {
        Color::Auto => {}
        Color::Always => anstream::ColorChoice::Always.write_global(),
        Color::Never => anstream::ColorChoice::Never.write_global(),
    }
    let code = match cli.command {
        Command::Simulate {
            scenario,
            json,
            seed,
            seeds: Some(n),
            ..
        } => simulate_seeds(scenario, json, seed, n),
        Command::Simulate {
            scenario,
            json,
            quiet,
            seed,
            svg,
            seeds: None,
        } => simulate(scenario, json, quiet, seed, svg),
        Command::Decide {
            mode,
            activity,
            shared,
            strict,
            cancellable,
            json,
        } => decide(
            &mode,
            &activity,
            Context {
                shared,
                strict,
                cancellable,
            },
            json,
        ),
        Command::Table { markdown, json } => {
            if json {
                print_json(&table::all_cases());
            } else if markdown {
                print(&table::table_markdown());
            } else {
                print(&table::table_text());
            }
            0
        }
        Command::GenerateAssets { dir } => match assets::generate(Cli::command(), &dir) {
            Ok(()) => 0,
            Err(e) => {
                error(&format!("{}: {e}", dir.display()));
                2
            }
        },
    };
    ExitCode::from(code)
}

fn print(text: &str) {
    let mut out = anstream::stdout();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(text.as_bytes());
}

fn print_json<T: serde::Serialize>(value: &T) {
    let text = serde_json::to_string_pretty(value).expect("serializable");
    print(&(text + "\n"));
}

fn error(message: &str) {
    let style = anstyle::AnsiColor::Red.on_default().bold();
    let _ = writeln!(anstream::stderr(), "{style}error{style:#}: {message}");
}

fn decide(mode: &str, activity: &str, context: Context, json: bool) -> u8 {
    let flags = match spec::parse_mode_spec(mode) {
        Ok(f) => f,
        Err(e) => {
            error(&e);
            return 2;
        }
    };
    let activity = match spec::parse_activity_spec(activity) {
        Ok(a) => a,
        Err(e) => {
            error(&e);
            return 2;
        }
    };
    let case = table::case(flags, activity, context.bits());
    if json {
        print_json(&case);
    } else {
        print(&table::decide_text(&case));
    }
    if case.error.is_some() { 1 } else { 0 }
}

/// Reads and parses the scenario at `path` (the built-in default when none); prints the
/// error and gives the exit status on failure. Also returns the file's text.
fn load_scenario(path: &Option<PathBuf>) -> Result<(scenario::Scenario, String), u8> {
    let (text, label) = match path {
        None => (
            DEFAULT_SCENARIO.to_owned(),
            "examples/default.json (built in)".to_owned(),
        ),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (t, p.display().to_string()),
            Err(e) => {
                error(&format!("cannot read {}: {e}", p.display()));
                return Err(2);
            }
        },
    };
    match scenario::parse(&text, &label) {
        Ok(s) => Ok((s, text)),
        Err(e) => {
            error(&e.to_string());
            Err(2)
        }
    }
}

fn simulate_seeds(path: Option<PathBuf>, json: bool, seed: Option<u64>, n: u64) -> u8 {
    let base = match load_scenario(&path) {
        Ok((s, _)) => s,
        Err(code) => return code,
    };
    let first = seed.unwrap_or(base.seed);
    let file = path
        .as_ref()
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default();
    for i in 0..n {
        let seed = first.wrapping_add(i);
        let outcome = match seeds::run_one(&base, seed) {
            Ok(o) => o,
            Err(e) => {
                error(&format!("the spooler could not start: {e}"));
                return 1;
            }
        };
        if outcome.violations.is_empty() {
            continue;
        }
        if json {
            print_json(&serde_json::json!({
                "seeds_run": i + 1,
                "first_failing_seed": seed,
                "violations": outcome.violations,
                "run": outcome,
            }));
        } else {
            print(&format!(
                "seed {seed} failed (after {} passing):\n{}\n\nreplay it alone: mapi-logoff simulate{file} --seeds 1 --seed {seed}\n\n{}\n{}\n{}",
                i,
                outcome
                    .violations
                    .iter()
                    .map(|v| format!("  {v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                report::header(&outcome),
                report::timeline(&outcome),
                report::summary(&outcome)
            ));
        }
        return 1;
    }
    if json {
        print_json(
            &serde_json::json!({ "seeds_run": n, "first_seed": first, "first_failing_seed": null }),
        );
    } else {
        print(&format!(
            "{n} seeds ({first}..{}) of {}: every invariant held after every step (nothing lost, \
             StoreLogoffTransports once per handle, every store released once drained, no PURGE past its deadline)\n",
            first.wrapping_add(n.saturating_sub(1)),
            base.name.as_deref().unwrap_or("scenario")
        ));
    }
    0
}

fn simulate(
    path: Option<PathBuf>,
    json: bool,
    quiet: bool,
    seed: Option<u64>,
    svg: Option<PathBuf>,
) -> u8 {
    let (scenario, text) = match load_scenario(&path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // Checked by the first pass of scenario::parse: the file is JSON.
    let source: serde_json::Value = serde_json::from_str(&text).expect("a parsed scenario is JSON");
    // Fail before the run, not after it, when the picture cannot be written.
    let svg_file = match &svg {
        None => None,
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                error(&format!("cannot write {}: {e}", p.display()));
                return 2;
            }
        },
    };
    let options = sim::RunOptions { seed, check: false };
    let mut outcome = match sim::run(&scenario, &options) {
        Ok(o) => o,
        Err(e) => {
            error(&format!("the spooler could not start: {e}"));
            if let Some(p) = &svg {
                let _ = std::fs::remove_file(p);
            }
            return 1;
        }
    };
    if let (Some(mut file), Some(p)) = (svg_file, &svg) {
        let drawing = picture::render(&picture::from_run(&outcome, source));
        if let Err(e) = file.write_all(drawing.as_bytes()) {
            error(&format!("cannot write {}: {e}", p.display()));
            return 2;
        }
    }
    if json {
        if quiet {
            outcome.events = None;
        }
        print_json(&outcome);
    } else if quiet {
        print(&report::summary(&outcome));
    } else {
        print(&format!(
            "{}\n{}\n{}",
            report::header(&outcome),
            report::timeline(&outcome),
            report::summary(&outcome)
        ));
    }
    if outcome.lost == 0 { 0 } else { 1 }
}
