//! `decide` and `table`: the core's decision table, one case or all of them.

use mapi_logoff::{Activity, Context, Decision, Mode, S_OK, decide_bits, parse_mode};
use serde::Serialize;

use crate::spec::{activity_names, flush_names, logoff_names, mode_label};

/// One call of the decision table, in the shape of the cases of
/// `tests/fixtures/decision_table.json` (decision fields `null` when rejected), plus
/// the chosen mode and the names of the bits.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub name: String,
    /// The mode validation chose (`null` when rejected).
    pub mode: Option<&'static str>,
    pub flags: u32,
    pub activity: u32,
    pub context: u32,
    pub shared: bool,
    pub strict: bool,
    pub cancellable: bool,
    /// The HRESULT's bits, 0 for `S_OK`.
    pub hresult: u32,
    pub error: Option<&'static str>,
    pub out_flags: Option<u32>,
    pub release: Option<u32>,
    pub flush_flags: Option<u32>,
    pub allowed: Option<u32>,
    pub waits: Option<bool>,
    /// The decision's bits as names (`null` when rejected).
    pub names: Option<Names>,
}

/// A decision's fields as names.
#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub out_flags: String,
    pub release: &'static str,
    pub flush_flags: String,
    pub allowed: String,
}

/// Decides one call through the core's `decide_bits`.
pub fn case(flags: u32, activity: u32, context: u32) -> Case {
    let shared = context & Context::SHARED != 0;
    let strict = context & Context::STRICT != 0;
    let cancellable = context & Context::CANCELLABLE != 0;
    let result = decide_bits(flags, activity, context);
    let mode = result
        .as_ref()
        .ok()
        .and_then(|_| parse_mode(flags, strict).ok())
        .map(Mode::name);
    let name = format!(
        "{} {} shared={shared} strict={strict} cancellable={cancellable}",
        mode.map_or_else(|| mode_label(flags), str::to_owned),
        Activity::from_bits(activity).map_or_else(|| format!("{activity:#x}"), activity_names),
    );
    let (hresult, error, decision) = match result {
        Ok(d) => (S_OK as u32, None, Some(d)),
        Err(e) => (e.hresult_bits(), Some(e.name()), None),
    };
    Case {
        name,
        mode,
        flags,
        activity,
        context,
        shared,
        strict,
        cancellable,
        hresult,
        error,
        out_flags: decision.map(|d| d.out_flags.bits()),
        release: decision.map(|d| d.release.value()),
        flush_flags: decision.map(|d| d.flush_flags.bits()),
        allowed: decision.map(|d| d.allowed.bits()),
        waits: decision.map(|d| d.waits),
        names: decision.map(|d| names(&d)),
    }
}

fn names(d: &Decision) -> Names {
    Names {
        out_flags: logoff_names(d.out_flags.bits()),
        release: d.release.name(),
        flush_flags: flush_names(d.flush_flags),
        allowed: allowed_names(d.allowed),
    }
}

fn allowed_names(allowed: Activity) -> String {
    if allowed.is_empty() {
        "none".to_owned()
    } else {
        logoff_names(allowed.bits())
    }
}

/// `decide`'s text: the call, then one line per field of the decision.
pub fn decide_text(c: &Case) -> String {
    let mode = match c.mode.and_then(Mode::from_name) {
        Some(m) if m.flag().bits() == c.flags => m.name().to_owned(),
        Some(m) => format!("{}, taken as {m}", mode_label(c.flags)),
        None => mode_label(c.flags),
    };
    let activity = Activity::from_bits(c.activity)
        .map_or_else(|| format!("{:#x}", c.activity), activity_names);
    let mut out = format!(
        "StoreLogoffTransports({mode}), activity {activity}, {}, {}{}\n",
        if c.shared { "shared" } else { "not shared" },
        if c.strict { "strict" } else { "lenient" },
        if c.cancellable { ", cancellable" } else { "" },
    );
    let Some(n) = &c.names else {
        let error = c.error.unwrap_or("?");
        out += &format!(
            "  HRESULT      {error} ({:#010x}): rejected, nothing changes\n",
            c.hresult
        );
        return out;
    };
    let release_note = match n.release {
        "REFUSED" => "nothing changes; the flags report what is busy",
        "NOW" if c.shared => "this client only; the others keep the store",
        "NOW" => "the store is released now",
        _ => "the store is released the moment it drains",
    };
    let waits = c.waits == Some(true);
    out += "  HRESULT      S_OK\n";
    out += &format!(
        "  out_flags    {} ({:#010x})\n",
        n.out_flags,
        c.out_flags.unwrap_or(0)
    );
    out += &format!("  release      {}: {release_note}\n", n.release);
    out += &format!(
        "  flush_flags  {}{}\n",
        n.flush_flags,
        if c.flush_flags.unwrap_or(0) != 0 {
            ": passed to every transport's FlushQueues"
        } else {
            ""
        }
    );
    out += &format!("  allowed      {}: what may still start\n", n.allowed);
    out += &format!(
        "  waits        {}\n",
        if waits {
            "yes: the call returns once the store is released or the PURGE deadline passes"
        } else {
            "no"
        }
    );
    out
}

/// The eight activity sets, in the order of their bits.
fn activities() -> impl Iterator<Item = Activity> {
    (0..8u32).map(|i| Activity::from_bits_retain(i << 17))
}

/// Every validated call: each mode (most cautious first) with
/// each activity, not shared and shared. Strict only changes validation, so it is off, and
/// no transfer can be cancelled (the table as the spooler applies it).
pub fn all_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for context in [0, Context::SHARED] {
        for mode in Mode::MOST_CAUTIOUS_FIRST {
            for a in activities() {
                cases.push(case(mode.flag().bits(), a.bits(), context));
            }
        }
    }
    cases
}

/// The rows of the table: every unshared case, then the shared cases, collapsed into one
/// `any` row when the core decides them all alike.
fn rows() -> Vec<[String; 7]> {
    let cases = all_cases();
    let row = |c: &Case, mode: String, activity: String| {
        let n = c.names.as_ref().expect("validated calls are decided");
        [
            mode,
            activity,
            n.out_flags.clone(),
            n.release.to_owned(),
            n.flush_flags.clone(),
            n.allowed.clone(),
            if c.waits == Some(true) { "yes" } else { "no" }.to_owned(),
        ]
    };
    let label = |c: &Case| activity_names(Activity::from_bits_retain(c.activity));
    let (shared, unshared): (Vec<&Case>, Vec<&Case>) = cases.iter().partition(|c| c.shared);
    let mut rows: Vec<[String; 7]> = unshared
        .iter()
        .map(|c| row(c, c.mode.unwrap_or("?").to_owned(), label(c)))
        .collect();
    let first = shared[0];
    let alike = shared.iter().all(|c| {
        (c.out_flags, c.release, c.flush_flags, c.allowed, c.waits)
            == (
                first.out_flags,
                first.release,
                first.flush_flags,
                first.allowed,
                first.waits,
            )
    });
    if alike {
        rows.push(row(first, "any".into(), "any, shared".into()));
    } else {
        rows.extend(
            shared
                .iter()
                .map(|c| row(c, c.mode.unwrap_or("?").to_owned(), label(c) + ", shared")),
        );
    }
    rows
}

const HEADER: [&str; 7] = [
    "mode",
    "activity",
    "out_flags",
    "release",
    "flush_flags",
    "allowed",
    "waits",
];

/// The whole table as aligned text.
pub fn table_text() -> String {
    let rows = rows();
    let mut widths = HEADER.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[String]| {
        let mut s = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(&HEADER.map(str::to_owned));
    for r in &rows {
        out += &line(r);
    }
    out
}

/// The whole table as Markdown: what README shows between its `decision-table` markers.
pub fn table_markdown() -> String {
    let mut out = format!("| {} |\n", HEADER.join(" | "));
    out += &format!("|{}\n", "---|".repeat(HEADER.len()));
    for r in rows() {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        out += &format!("| {} |\n", cells.join(" | "));
    }
    out += "\nactivity: what the store is doing when the logoff is decided (idle = nothing); \
            allowed: what may still start for the store.\n\
            Generated from the core by `mapi-logoff table --markdown`.\n";
    out
}
