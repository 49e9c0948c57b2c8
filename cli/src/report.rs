//! The text of `simulate`: the timeline and the per-store summary, styled for a
//! terminal (anstream strips the styles when the output is not one).

use anstyle::{AnsiColor, Style};

use crate::sim::{Outcome, StoreSummary};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default();

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

fn event_style(event: &str) -> Style {
    match event {
        "decided" | "released" => GREEN,
        "refused" | "release_deferred" => YELLOW,
        "timed_out" | "flush_failed" | "undrained" | "error" => RED,
        "submit_refused" | "arrival_refused" | "flush" => DIM,
        _ => Style::new(),
    }
}

/// Pads `text` to `width` columns after styling it (styles take no columns).
fn cell(style: Style, text: &str, width: usize, right: bool) -> String {
    let pad = " ".repeat(width.saturating_sub(text.chars().count()));
    if right {
        format!("{pad}{}", paint(style, text))
    } else {
        format!("{}{pad}", paint(style, text))
    }
}

/// The first line: what ran.
pub fn header(o: &Outcome) -> String {
    format!(
        "{} (seed {}): {} simulated ms, ended {}\n",
        paint(BOLD, &o.scenario),
        o.seed,
        o.simulated_ms,
        if o.ended == "limit" {
            "at limit_ms"
        } else {
            "when nothing more could happen"
        }
    )
}

/// One line of the text timeline.
struct Line<'a> {
    at_ms: u64,
    store: &'a str,
    event: &'a str,
    detail: String,
}

/// The timeline's lines: events grouped by store within each 10 ms (so that one store's
/// logoff reads as one block), a StoreLogoff and the Release that follows it on one line,
/// and a marker that every store shares at the same moment (the opens) once, as `*`.
fn lines<'a>(o: &'a Outcome) -> Vec<Line<'a>> {
    let index = |store: &str| o.stores.iter().position(|s| s.store == store);
    let mut records: Vec<_> = o.events.iter().flatten().collect();
    records.sort_by_key(|r| (r.at_ms / 10, index(&r.store), r.at_ms));
    let mut out: Vec<Line> = Vec::new();
    for r in records {
        if let Some(last) = out.last_mut()
            && last.store == r.store
            && last.event == "logoff"
            && r.event == "release"
            && last.at_ms / 10 == r.at_ms / 10
        {
            last.detail += &format!(", then {}", r.detail);
            continue;
        }
        out.push(Line {
            at_ms: r.at_ms,
            store: &r.store,
            event: r.event,
            detail: r.detail.clone(),
        });
    }
    let n = o.stores.len();
    let mut merged: Vec<Line> = Vec::new();
    let mut i = 0;
    while i < out.len() {
        let same = out[i..]
            .iter()
            .take_while(|l| {
                l.at_ms / 10 == out[i].at_ms / 10
                    && l.event == out[i].event
                    && l.detail == out[i].detail
            })
            .count();
        if n > 1 && same == n {
            let first = &out[i];
            merged.push(Line {
                at_ms: first.at_ms,
                store: "*",
                event: first.event,
                detail: format!("{} (every store)", first.detail),
            });
            i += n;
        } else {
            let l = &out[i];
            merged.push(Line {
                at_ms: l.at_ms,
                store: l.store,
                event: l.event,
                detail: l.detail.clone(),
            });
            i += 1;
        }
    }
    merged
}

/// The timeline: one line per event.
pub fn timeline(o: &Outcome) -> String {
    let lines = lines(o);
    let store_w = lines
        .iter()
        .map(|l| l.store.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let event_w = lines
        .iter()
        .map(|l| l.event.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    out += &paint(
        BOLD,
        &format!(
            "{:>6}  {:<store_w$}  {:<event_w$}  detail",
            "ms", "store", "event"
        ),
    );
    out += "\n";
    for l in &lines {
        out += &format!(
            "{:>6}  {}  {}  {}\n",
            l.at_ms,
            cell(CYAN, l.store, store_w, false),
            cell(event_style(l.event), l.event, event_w, false),
            l.detail
        );
    }
    out
}

const COLUMNS: [&str; 11] = [
    "store",
    "mode",
    "decision",
    "released after",
    "sent",
    "recv",
    "queued",
    "refused",
    "cancelled",
    "lost",
    "out_flags",
];

fn row(s: &StoreSummary) -> [String; 11] {
    let decision = match (s.decision, s.timed_out) {
        (Some(d), true) => format!("{d}, timed out"),
        (Some(d), false) => d.to_owned(),
        (None, _) => "-".to_owned(),
    };
    let released = match (s.released, s.released_after_ms, &s.released_how) {
        (true, Some(ms), _) => format!("+{ms} ms"),
        (true, None, Some(how)) if how == "spooler closed" => "at close".to_owned(),
        (true, None, _) => "yes".to_owned(),
        (false, ..) => "no".to_owned(),
    };
    [
        s.store.clone(),
        s.mode.unwrap_or("-").to_owned(),
        decision,
        released,
        s.sent.to_string(),
        s.received.to_string(),
        s.queued.to_string(),
        (s.refused_submissions + s.refused_arrivals).to_string(),
        s.cancelled_receptions.to_string(),
        s.lost.to_string(),
        s.out_flags_names.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// The summary: one row per store, then what the columns mean.
pub fn summary(o: &Outcome) -> String {
    let rows: Vec<[String; 11]> = o.stores.iter().map(row).collect();
    let mut widths = COLUMNS.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let numeric = |i: usize| (4..10).contains(&i);
    let mut out = String::new();
    let head: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, c)| cell(BOLD, c, widths[i], numeric(i)))
        .collect();
    out += head.join("  ").trim_end();
    out += "\n";
    for (r, s) in rows.iter().zip(&o.stores) {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let style = match i {
                    0 => CYAN,
                    2 if s.decision == Some("REFUSED") || s.timed_out => YELLOW,
                    9 if s.lost == 0 => GREEN,
                    9 => RED,
                    _ => Style::new(),
                };
                let width = if i == r.len() - 1 { 0 } else { widths[i] };
                cell(style, c, width, numeric(i))
            })
            .collect();
        out += &cells.join("  ");
        out += "\n";
    }
    let pending: u64 = o.stores.iter().map(|s| s.pending_arrivals).sum();
    if pending > 0 {
        out += &format!(
            "{pending} arrival(s) were still waiting at the server when the run was cut.\n"
        );
    }
    if o.lost == 0 {
        out += &paint(
            GREEN,
            "lost = 0: every message was sent, received, is still queued in its outbox, was \
             refused at the gate (kept by its sender), or was cancelled back to the server.",
        );
    } else {
        out += &paint(
            RED,
            &format!(
                "{} message(s) unaccounted for: this is a bug in mapi-logoff.",
                o.lost
            ),
        );
    }
    out += "\n";
    out
}
