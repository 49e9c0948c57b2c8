//! `simulate --svg FILE`: a run as a picture. One lane per store, titled with the store id,
//! its mode and its decision: the store's counts over time (sending, receiving and queued,
//! stacked), a glyph for every client call, decision, spooler action, refusal at the gate
//! and release, with their labels in rows under the lane, and a time axis in simulated ms.
//!
//! The drawing is made from a [`Picture`], which the SVG also carries in its `<metadata>`.
//! Rendering the carried picture again gives the same bytes, so a test can tell whether a
//! committed picture is out of date with the drawing code without rerunning threads whose
//! times jitter, and can compare what it shows (lanes, modes, decisions, labelled marks)
//! with a fresh run of the scenario it names (`source`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use svg::node::element::path::Data;
use svg::node::element::{Circle, Element, Group, Line, Path, Polygon, Rectangle, Text, Title};
use svg::{Document, Node};

use crate::sim::{CountSample, Outcome, Record, StoreSummary};
use crate::spec::logoff_names;

/// What the picture shows: everything [`render`] needs, nothing it computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Picture {
    pub scenario: String,
    pub seed: u64,
    /// The scenario file as run (its JSON value), to tell whether a picture is out of date.
    pub source: Value,
    /// Simulated ms until the run ended.
    pub simulated_ms: u64,
    pub lanes: Vec<Lane>,
}

/// One store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    pub store: String,
    /// The input mode of the store's last decision, and that decision's release.
    pub mode: Option<String>,
    pub decision: Option<String>,
    pub timed_out: bool,
    /// When the store was released, if it is released at the end.
    pub released_ms: Option<u64>,
    pub sent: u64,
    pub received: u64,
    /// Still in the outbox at the end.
    pub queued: u64,
    /// Submissions and arrivals the closed gates turned away.
    pub refused: u64,
    /// The counts as steps from 0 ms: `[at_ms, queued, sending, receiving]`.
    pub counts: Vec<[u64; 4]>,
    /// `[from_ms, to_ms]`: a client waited in `Release()` (PURGE).
    pub waits: Vec<[u64; 2]>,
    pub marks: Vec<Mark>,
}

/// A moment of the store's timeline, drawn as a glyph with a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub at_ms: u64,
    pub kind: Kind,
    pub label: String,
}

/// What kind of moment a mark is; each has its glyph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A client's call: open, StoreLogoff, Release, StoreLogoffTransports.
    Call,
    /// A decision that logs the store off (NOW or WHEN_DRAINED).
    Decided,
    /// A refused decision: nothing changes.
    Refused,
    /// The spooler acts: FlushQueues, a deferred release.
    Spooler,
    /// A closed gate turned a submission or a reception away.
    Gate,
    Released,
    /// A PURGE deadline passed, a flush failed, the spooler closed undrained, an error.
    Problem,
}

/// The part of `s` before `sep` (all of it when `sep` is absent).
fn before<'a>(s: &'a str, sep: &str) -> &'a str {
    s.split_once(sep).map_or(s, |(head, _)| head)
}

/// The picture of a run; `source` is the scenario file's JSON.
pub fn from_run(o: &Outcome, source: Value) -> Picture {
    let events = o.events.as_deref().unwrap_or(&[]);
    Picture {
        scenario: o.scenario.clone(),
        seed: o.seed,
        source,
        simulated_ms: o.simulated_ms,
        lanes: o
            .stores
            .iter()
            .enumerate()
            .map(|(i, s)| lane(i, s, events, &o.counts))
            .collect(),
    }
}

fn lane(index: usize, s: &StoreSummary, events: &[Record], counts: &[CountSample]) -> Lane {
    let mut marks = Vec::new();
    let mut waits = Vec::new();
    // Whether the last decision makes its caller wait, and when Release() was called.
    let mut waiting = false;
    // An ABORT cancelling transfers: its caller waits for the cancellations.
    let mut cancelling = false;
    let mut release_call = None;
    let mut released_ms = None;
    for r in events.iter().filter(|r| r.store == s.store) {
        let mode = r.mode.unwrap_or("?");
        let out = logoff_names(r.out_flags.unwrap_or(0));
        let (kind, label) = match r.event {
            "open" | "logoff_transports" => (Kind::Call, r.detail.clone()),
            // The activity written back is the decision's business: its mark shows it.
            "logoff" => (Kind::Call, before(&r.detail, " → ").to_owned()),
            "release" => {
                release_call = Some(r.at_ms);
                (Kind::Call, r.detail.clone())
            }
            "release_returned" => {
                // A Release() that the protocol does not make wait was only slowed down by
                // the machine: not part of the picture.
                if !waiting {
                    continue;
                }
                if let Some(from) = release_call {
                    waits.push([from, r.at_ms]);
                }
                (
                    Kind::Call,
                    format!("{} returns", before(&r.detail, " returned")),
                )
            }
            "decided" => {
                waiting = r.waits || std::mem::take(&mut cancelling);
                let release = r.release.unwrap_or("?");
                (Kind::Decided, format!("{mode} → {out}, {release}"))
            }
            "refused" => {
                waiting = std::mem::take(&mut cancelling);
                (Kind::Refused, format!("{mode} → {out}, REFUSED"))
            }
            "release_deferred" => (
                Kind::Spooler,
                "release deferred until the store is idle".to_owned(),
            ),
            "flush" => (Kind::Spooler, r.detail.clone()),
            "cancel" => {
                cancelling = true;
                (Kind::Spooler, r.detail.clone())
            }
            "cancelled" => (Kind::Spooler, r.detail.clone()),
            "released" => {
                released_ms = Some(r.at_ms);
                (Kind::Released, format!("released: {}", r.detail))
            }
            "submit_refused" | "arrival_refused" => (
                Kind::Gate,
                format!("{} (MAPI_E_NO_ACCESS)", before(&r.detail, ",")),
            ),
            "timed_out" => (
                Kind::Problem,
                "PURGE deadline passed: MAPI_E_TIMEOUT, goes on as NO_WAIT".to_owned(),
            ),
            "flush_failed" => (Kind::Problem, format!("FlushQueues failed: {}", r.detail)),
            _ => (Kind::Problem, r.detail.clone()),
        };
        marks.push(Mark {
            at_ms: r.at_ms,
            kind,
            label,
        });
    }
    let mut steps: Vec<[u64; 4]> = vec![[0, 0, 0, 0]];
    for c in counts.iter().filter(|c| c.store == index) {
        let point = [c.at_ms, c.queued, c.sending, c.receiving];
        let last = steps.last_mut().expect("starts with a point");
        if last[1..] == point[1..] {
            continue;
        }
        if last[0] == point[0] {
            *last = point;
        } else {
            steps.push(point);
        }
    }
    Lane {
        store: s.store.clone(),
        mode: s.mode.map(str::to_owned),
        decision: s.decision.map(str::to_owned),
        timed_out: s.timed_out,
        released_ms: released_ms.filter(|_| s.released),
        sent: s.sent,
        received: s.received,
        queued: s.queued,
        refused: s.refused_submissions + s.refused_arrivals,
        counts: steps,
        waits,
        marks,
    }
}

// The layout, in px. Labels are monospace so that their widths are known.
const WIDTH: f64 = 900.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 16.0;
const PLOT_HEIGHT: f64 = 56.0;
const ROW: f64 = 16.0;
const FONT_SIZE: f64 = 12.0;
/// The advance of one character of a 12 px monospace font (0.6 em, DejaVu Sans Mono's).
const CHAR: f64 = 7.3;
const SANS: &str = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif";
const MONO: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
const INK: &str = "#222";
const GRID: &str = "#d9d9d9";

/// The counts' layers, bottom up: name, colour, index in a count step.
const LAYERS: [(&str, &str, usize); 3] = [
    ("sending", "#2171b5", 2),
    ("receiving", "#fd8d3c", 3),
    ("queued", "#9ecae1", 1),
];

fn colour(kind: Kind) -> &'static str {
    match kind {
        Kind::Call => "#333333",
        Kind::Decided => "#238b45",
        Kind::Refused => "#d94801",
        Kind::Spooler => "#6a51a3",
        Kind::Gate => "#cb181d",
        Kind::Released => "#111111",
        Kind::Problem => "#a50f15",
    }
}

/// One decimal place: enough for a screen, and the same text on every machine.
fn px(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn text(x: f64, y: f64, content: impl Into<String>) -> Text {
    Text::new(content).set("x", px(x)).set("y", px(y))
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) -> Line {
    Line::new()
        .set("x1", px(x1))
        .set("y1", px(y1))
        .set("x2", px(x2))
        .set("y2", px(y2))
        .set("stroke", stroke)
}

/// The glyph of `kind` centred on (x, y), with `tip` as its tooltip.
fn glyph(kind: Kind, x: f64, y: f64, tip: &str) -> Group {
    let fill = colour(kind);
    let g = Group::new().add(Title::new(tip));
    let points = |p: &[(f64, f64)]| {
        p.iter()
            .map(|(dx, dy)| format!("{},{}", px(x + dx), px(y + dy)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match kind {
        Kind::Call => g.add(
            Polygon::new()
                .set(
                    "points",
                    points(&[(0.0, -5.0), (5.0, 0.0), (0.0, 5.0), (-5.0, 0.0)]),
                )
                .set("fill", fill),
        ),
        Kind::Decided | Kind::Refused => g.add(
            Circle::new()
                .set("cx", px(x))
                .set("cy", px(y))
                .set("r", 4.5)
                .set("fill", fill),
        ),
        Kind::Spooler => g.add(
            Polygon::new()
                .set("points", points(&[(-5.0, -4.5), (5.0, -4.5), (0.0, 4.5)]))
                .set("fill", fill),
        ),
        Kind::Gate => g.add(
            Path::new()
                .set(
                    "d",
                    Data::new()
                        .move_to((px(x - 4.0), px(y - 4.0)))
                        .line_to((px(x + 4.0), px(y + 4.0)))
                        .move_to((px(x - 4.0), px(y + 4.0)))
                        .line_to((px(x + 4.0), px(y - 4.0))),
                )
                .set("stroke", fill)
                .set("stroke-width", 2.2),
        ),
        Kind::Released => g.add(
            Rectangle::new()
                .set("x", px(x - 1.5))
                .set("y", px(y - 6.0))
                .set("width", 3)
                .set("height", 12)
                .set("fill", fill),
        ),
        Kind::Problem => g.add(
            Rectangle::new()
                .set("x", px(x - 4.5))
                .set("y", px(y - 4.5))
                .set("width", 9)
                .set("height", 9)
                .set("fill", fill),
        ),
    }
}

/// A tick step that gives at most ten ticks up to `ms`.
fn tick_step(ms: u64) -> u64 {
    let mut decade = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * decade;
            if ms.div_ceil(step) <= 10 {
                return step;
            }
        }
        decade *= 10;
    }
}

/// The labels' rows: each label goes in the first row where it overlaps no other.
/// Returns, per mark, its row and whether its text runs leftwards from the glyph (it would
/// pass the right edge otherwise).
fn label_rows(lane: &Lane, x: &dyn Fn(u64) -> f64) -> Vec<(usize, bool)> {
    let mut rows: Vec<Vec<(f64, f64)>> = Vec::new();
    lane.marks
        .iter()
        .map(|m| {
            let at = x(m.at_ms);
            let width = m.label.chars().count() as f64 * CHAR;
            // Rightwards when it fits, else leftwards when that fits, else cut at the edge.
            let leftwards = at + 10.0 + width > WIDTH - 2.0 && at - 10.0 - width >= 2.0;
            let span = if leftwards {
                (at - 10.0 - width, at + 6.0)
            } else {
                (at - 6.0, at + 10.0 + width)
            };
            let free = |row: &Vec<(f64, f64)>| {
                row.iter()
                    .all(|&(a, b)| span.1 + 8.0 <= a || b + 8.0 <= span.0)
            };
            let row = match rows.iter().position(free) {
                Some(r) => r,
                None => {
                    rows.push(Vec::new());
                    rows.len() - 1
                }
            };
            rows[row].push(span);
            (row, leftwards)
        })
        .collect()
}

/// The SVG of `p`, the picture carried in its metadata.
pub fn render(p: &Picture) -> String {
    let step = tick_step(p.simulated_ms.max(1));
    let end = p.simulated_ms.max(1).div_ceil(step) * step;
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = move |ms: u64| LEFT + ms as f64 / end as f64 * plot_width;
    let most = p
        .lanes
        .iter()
        .flat_map(|l| &l.counts)
        .map(|c| c[1] + c[2] + c[3])
        .max()
        .unwrap_or(0)
        .max(1);

    let mut body = Group::new()
        .set("font-family", SANS)
        .set("font-size", FONT_SIZE)
        .set("fill", INK);
    body = body
        .add(
            text(LEFT, 24.0, p.scenario.clone())
                .set("font-size", 16)
                .set("font-weight", "bold"),
        )
        .add(text(
            LEFT,
            43.0,
            format!(
                "mapi-logoff simulate, seed {}: one lane per store, its messages stacked by \
                 state; time in simulated ms, the run ended at {} ms",
                p.seed, p.simulated_ms
            ),
        ));

    // The legend: the layers, then the glyphs.
    let mut legend = Group::new();
    let mut lx = LEFT;
    let ly = 64.0;
    for (name, fill, _) in LAYERS {
        legend = legend
            .add(
                Rectangle::new()
                    .set("x", px(lx))
                    .set("y", ly - 9.0)
                    .set("width", 12)
                    .set("height", 12)
                    .set("fill", fill),
            )
            .add(text(lx + 16.0, ly + 1.0, name));
        lx += 30.0 + name.len() as f64 * 7.0;
    }
    legend = legend
        .add(
            Rectangle::new()
                .set("x", px(lx))
                .set("y", ly - 9.0)
                .set("width", 12)
                .set("height", 12)
                .set("fill", "#000")
                .set("fill-opacity", 0.07),
        )
        .add(text(lx + 16.0, ly + 1.0, "after the release"));
    lx += 30.0 + 17.0 * 7.0;
    legend = legend
        .add(
            Rectangle::new()
                .set("x", px(lx))
                .set("y", ly - 6.0)
                .set("width", 24)
                .set("height", 5)
                .set("fill", colour(Kind::Spooler))
                .set("fill-opacity", 0.7),
        )
        .add(text(lx + 28.0, ly + 1.0, "a caller waits in Release()"));
    let ly = ly + 20.0;
    let mut lx = LEFT - 6.0;
    for (kind, name) in [
        (Kind::Call, "client call"),
        (Kind::Decided, "logoff decided"),
        (Kind::Refused, "refused"),
        (Kind::Spooler, "spooler"),
        (Kind::Gate, "gate closed"),
        (Kind::Released, "released"),
        (Kind::Problem, "problem"),
    ] {
        lx += 6.0;
        legend = legend
            .add(glyph(kind, lx, ly - 3.0, name))
            .add(text(lx + 9.0, ly + 1.0, name));
        lx += 18.0 + name.len() as f64 * 7.0;
    }
    body = body.add(legend);

    let mut y = 104.0;
    for lane in &p.lanes {
        let (g, height) = render_lane(lane, y, (p.simulated_ms, end), step, most, &x);
        body = body.add(g);
        y += height;
    }
    let height = y + 4.0;

    let mut metadata = Element::new("metadata");
    metadata.assign("id", "mapi-logoff-picture");
    metadata.append(svg::node::Text::new(
        serde_json::to_string(p).expect("a picture serializes"),
    ));
    Document::new()
        .set("width", WIDTH)
        .set("height", px(height))
        .set("viewBox", (0, 0, WIDTH, px(height)))
        .add(Title::new(format!("{}: timeline", p.scenario)))
        .add(metadata)
        .add(
            Rectangle::new()
                .set("width", "100%")
                .set("height", "100%")
                .set("fill", "white"),
        )
        .add(body)
        .to_string()
        + "\n"
}

/// One lane at `top`; returns it and its height.
fn render_lane(
    lane: &Lane,
    top: f64,
    (run_end, end): (u64, u64),
    step: u64,
    most: u64,
    x: &dyn Fn(u64) -> f64,
) -> (Group, f64) {
    let plot_top = top + 26.0;
    let plot_bottom = plot_top + PLOT_HEIGHT;
    let y = |n: u64| plot_bottom - n as f64 / most as f64 * PLOT_HEIGHT;
    let mut g = Group::new().set("id", format!("lane-{}", lane.store));

    // The title: store, mode and decision; the totals on the right.
    let mut title = match (&lane.mode, &lane.decision) {
        (Some(m), Some(d)) => format!("{m} → {d}"),
        _ => "no logoff".to_owned(),
    };
    if !lane.waits.is_empty() {
        title += ", the caller waits";
    }
    if lane.timed_out {
        title += ", timed out";
    }
    g = g
        .add(line(0.0, top, WIDTH, top, "#bdbdbd"))
        .add(
            text(LEFT, top + 18.0, lane.store.clone())
                .set("font-size", 14)
                .set("font-weight", "bold")
                .set("class", "store"),
        )
        .add(
            text(
                LEFT + lane.store.chars().count() as f64 * 9.0 + 14.0,
                top + 18.0,
                title,
            )
            .set("font-size", 14)
            .set("class", "mode"),
        )
        .add(
            text(
                WIDTH - RIGHT,
                top + 18.0,
                format!(
                    "sent {}, received {}, left queued {}, turned away {}",
                    lane.sent, lane.received, lane.queued, lane.refused
                ),
            )
            .set("text-anchor", "end"),
        );

    // Grid, axes and tick labels.
    let mut t = 0;
    while t <= end {
        let anchor = if t == end { "end" } else { "middle" };
        g = g.add(line(x(t), plot_top, x(t), plot_bottom, GRID)).add(
            text(x(t), plot_bottom + 14.0, t.to_string())
                .set("text-anchor", anchor)
                .set("fill", "#555"),
        );
        t += step;
    }
    g = g
        .add(line(x(0), plot_bottom, x(end), plot_bottom, "#888"))
        .add(
            text(LEFT - 6.0, plot_bottom + 4.0, "0")
                .set("text-anchor", "end")
                .set("fill", "#555"),
        )
        .add(
            text(LEFT - 6.0, plot_top + 9.0, most.to_string())
                .set("text-anchor", "end")
                .set("fill", "#555"),
        )
        .add(line(LEFT - 3.0, y(most), x(end), y(most), GRID));

    // The counts, stacked: each layer between the sum of those below and that plus its own.
    let mut below = vec![0u64; lane.counts.len()];
    for (name, fill, index) in LAYERS {
        let above: Vec<u64> = lane
            .counts
            .iter()
            .zip(&below)
            .map(|(c, b)| b + c[index])
            .collect();
        if above != below {
            let mut data = Data::new().move_to((px(x(0)), px(y(above[0]))));
            for (i, c) in lane.counts.iter().enumerate().skip(1) {
                data = data
                    .line_to((px(x(c[0])), px(y(above[i - 1]))))
                    .line_to((px(x(c[0])), px(y(above[i]))));
            }
            let last = lane.counts.len() - 1;
            data = data
                .line_to((px(x(run_end)), px(y(above[last]))))
                .line_to((px(x(run_end)), px(y(below[last]))));
            for i in (1..lane.counts.len()).rev() {
                let at = lane.counts[i][0];
                data = data
                    .line_to((px(x(at)), px(y(below[i]))))
                    .line_to((px(x(at)), px(y(below[i - 1]))));
            }
            data = data.line_to((px(x(0)), px(y(below[0])))).close();
            g = g.add(
                Path::new()
                    .set("d", data)
                    .set("fill", fill)
                    .set("class", name)
                    .add(Title::new(name)),
            );
        }
        below = above;
    }

    // After the release: shaded; while a client waits in Release(): a band at the top.
    if let Some(at) = lane.released_ms {
        g = g.add(
            Rectangle::new()
                .set("x", px(x(at)))
                .set("y", px(plot_top))
                .set("width", px(x(run_end) - x(at)))
                .set("height", PLOT_HEIGHT)
                .set("fill", "#000")
                .set("fill-opacity", 0.07),
        );
    }
    for &[from, to] in &lane.waits {
        g = g.add(
            Rectangle::new()
                .set("x", px(x(from)))
                .set("y", px(plot_top))
                .set("width", px((x(to) - x(from)).max(1.0)))
                .set("height", 5)
                .set("fill", colour(Kind::Spooler))
                .set("fill-opacity", 0.7)
                .add(Title::new(format!(
                    "{from}–{to} ms: the caller waits in Release()"
                ))),
        );
    }

    // The marks: a line through the plot, the glyph on its top edge and in the label row.
    let rows = label_rows(lane, x);
    let first_row = plot_bottom + 30.0;
    let mut labels = Group::new().set("font-family", MONO);
    for (m, &(row, leftwards)) in lane.marks.iter().zip(&rows) {
        let at = x(m.at_ms);
        let tip = format!("{} ms: {}", m.at_ms, m.label);
        let stroke = colour(m.kind);
        let through = line(at, plot_top, at, plot_bottom, stroke);
        g = g.add(if m.kind == Kind::Released {
            through.set("stroke-width", 2)
        } else {
            through
                .set("stroke-dasharray", "3 2")
                .set("stroke-opacity", 0.7)
        });
        g = g.add(glyph(m.kind, at, plot_top, &tip));
        let row_y = first_row + row as f64 * ROW;
        labels = labels.add(glyph(m.kind, at, row_y - 4.0, &tip));
        labels = labels.add(if leftwards {
            text(at - 9.0, row_y, m.label.clone()).set("text-anchor", "end")
        } else {
            text(at + 9.0, row_y, m.label.clone())
        });
    }
    let used_rows = rows.iter().map(|(r, _)| r + 1).max().unwrap_or(0);
    g = g.add(labels);
    let height = (first_row - top) + used_rows as f64 * ROW + 6.0;
    (g, height)
}

/// The picture an SVG made by [`render`] carries.
#[cfg(test)]
pub fn carried(svg: &str) -> Option<Picture> {
    let open = "<metadata id=\"mapi-logoff-picture\">";
    let start = svg.find(open)? + open.len();
    let len = svg[start..].find("</metadata>")?;
    let json = svg[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path)
    }

    /// docs/timeline.svg is what the current drawing code makes of the picture it
    /// carries. (Whether that picture is still the default scenario's is checked by
    /// tests/timeline.rs against a fresh run.)
    #[test]
    fn committed_timeline_is_what_the_drawing_code_draws() {
        let path = repo_file("docs/timeline.svg");
        let committed = std::fs::read_to_string(&path).expect("docs/timeline.svg exists");
        let picture = carried(&committed).expect("docs/timeline.svg carries its picture");
        assert!(
            render(&picture) == committed,
            "docs/timeline.svg is out of date with the drawing code (cli/src/picture.rs); \
             regenerate it with `cargo run -p mapi-logoff-cli -- simulate --quiet --svg \
             docs/timeline.svg`"
        );
    }

    #[test]
    fn render_carries_its_picture_and_escapes_text() {
        let picture = Picture {
            scenario: "a <b> & \"c\"".into(),
            seed: 3,
            source: serde_json::json!({"stores": [{"id": "x<y"}]}),
            simulated_ms: 730,
            lanes: vec![Lane {
                store: "x<y".into(),
                mode: Some("PURGE".into()),
                decision: Some("WHEN_DRAINED".into()),
                timed_out: true,
                released_ms: Some(700),
                sent: 1,
                received: 0,
                queued: 0,
                refused: 2,
                counts: vec![[0, 0, 0, 0], [10, 2, 0, 0], [20, 1, 1, 0], [500, 0, 0, 0]],
                waits: vec![[400, 700]],
                marks: vec![Mark {
                    at_ms: 400,
                    kind: Kind::Decided,
                    label: "PURGE → COMPLETE & <more>".into(),
                }],
            }],
        };
        let svg = render(&picture);
        assert_eq!(carried(&svg), Some(picture.clone()));
        assert!(svg.contains("x&lt;y"), "{svg}");
        assert!(!svg.contains("<more>"), "{svg}");
        assert_eq!(render(&picture), svg, "rendering is deterministic");
    }

    #[test]
    fn tick_steps_give_at_most_ten_ticks() {
        for (ms, step) in [(1, 1), (10, 1), (11, 2), (2565, 500), (60_000, 10_000)] {
            assert_eq!(tick_step(ms), step, "{ms}");
        }
    }
}
