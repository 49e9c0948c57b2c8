#!/usr/bin/env python3
"""Turns one scripts/bench run into bench/results.md and a summary on stdout.

    report.py snapshot FILE           record /proc/stat, the load and the time (start/end)
    report.py render DIR OUT [--smoke] read DIR (what the harnesses wrote) and write OUT

DIR holds: criterion/ (criterion's estimates of core/benches/protocol.rs), scale.jsonl,
c.jsonl, python.jsonl, node.jsonl (one JSON object per figure), start.json and end.json
(snapshots) and times.txt (bash `times`: the CPU this run's processes used). A harness that
did not run leaves its file out; its figures are then reported as not measured.

Standard library only: it runs with the system python3.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HZ = os.sysconf("SC_CLK_TCK")


def snapshot(path: str) -> None:
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    Path(path).write_text(
        json.dumps(
            {
                "time": time.time(),
                "cpu": [int(x) for x in cpu],
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    )


def run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def first_line(cmd: list[str]) -> str:
    out = run(cmd)
    return out.splitlines()[0] if out else "not found"


def machine(d: Path) -> list[str]:
    lscpu = {}
    for line in run(["lscpu"]).splitlines():
        k, _, v = line.partition(":")
        lscpu[k.strip()] = v.strip()
    mem = next(
        (
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        ),
        "0",
    )
    lines = [
        f"- CPU: {lscpu.get('Model name', '?')}, {os.cpu_count()} CPUs"
        f" ({lscpu.get('Hypervisor vendor', 'bare metal')}"
        f"{' VM' if 'Hypervisor vendor' in lscpu else ''}), L2 {lscpu.get('L2 cache', '?')},"
        f" L3 {lscpu.get('L3 cache', '?')}; {int(mem) / 1024 / 1024:.1f} GiB RAM",
        f"- OS: {platform.system()} {platform.release()}, transparent huge pages:"
        f" {Path('/sys/kernel/mm/transparent_hugepage/enabled').read_text().strip()}"
        if Path("/sys/kernel/mm/transparent_hugepage/enabled").exists()
        else f"- OS: {platform.system()} {platform.release()}",
        f"- Toolchains: {first_line(['rustc', '--version'])}; {first_line(['gcc', '--version'])};"
        f" Python {first_line(['python3', '-c', 'import sys; print(sys.version.split()[0])'])};"
        f" Node {first_line(['node', '--version'])}",
    ]
    try:
        start = json.loads((d / "start.json").read_text())
        end = json.loads((d / "end.json").read_text())
    except (OSError, ValueError):
        return lines
    secs = end["time"] - start["time"]
    delta = [b - a for a, b in zip(start["cpu"], end["cpu"])]
    # user nice system idle iowait irq softirq steal ...
    busy = sum(delta[i] for i in (0, 1, 2, 5, 6)) / HZ
    steal = (delta[7] if len(delta) > 7 else 0) / HZ
    own = own_cpu(d / "times.txt")
    lines.append(
        f"- Load average (1, 5, 15 min): {' '.join(start['loadavg'])} at the start,"
        f" {' '.join(end['loadavg'])} at the end;"
        f" the run took {int(secs) // 60}m{int(secs) % 60:02d}s"
    )
    if own is not None and secs > 0:
        others = max(0.0, busy - own) / secs
        shared = others > 0.15 or steal / secs > 0.05
        lines.append(
            f"- Other processes used on average {others:.2f} of the {os.cpu_count()} CPUs"
            f" during the run (all CPU time from /proc/stat minus this run's own {own:.0f} s);"
            f" the hypervisor took {steal / secs:.2f} CPUs (steal)."
            + (
                " **The machine was shared**: absolute times are noisy, which is why every"
                " ratio compares two sides measured in alternating rounds of the same run."
                if shared
                else " The machine was otherwise idle."
            )
        )
    return lines


def own_cpu(path: Path) -> float | None:
    """CPU seconds of this run's processes, from bash `times` (second line: children)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    total = 0.0
    for line in lines:
        for m, s in re.findall(r"(\d+)m([\d.]+)s", line):
            total += int(m) * 60 + float(s)
    return total


def jsonl(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line.replace("NaN", "null"))
            out.setdefault(obj["figure"], []).append(obj)
    return out


def criterion(d: Path) -> dict[str, dict]:
    out = {}
    base = d / "criterion"
    if not base.is_dir():
        return out
    for est in base.glob("*/new/estimates.json"):
        e = json.loads(est.read_text())["median"]
        ci = e["confidence_interval"]
        out[est.parent.parent.name] = {
            "ns": e["point_estimate"],
            "lo": ci["lower_bound"],
            "hi": ci["upper_bound"],
        }
    return out


def ns(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x >= 10_000:
        return f"{x / 1000:,.1f} µs"
    if x >= 100:
        return f"{x:,.0f} ns"
    return f"{x:.1f} ns"


def ratio(f: dict, key: str = "ratio") -> str:
    if f.get(key) is None:
        return "n/a"
    q1, q3 = f.get(f"{key}_q1"), f.get(f"{key}_q3")
    spread = f" ({q1:.2f}-{q3:.2f})" if q1 is not None and q3 is not None else ""
    return f"{f[key]:.2f}x{spread}"


# The store cycle of each binding is measured twice in the same rounds, against the same
# floor: in the default configuration (what users get, and what the targets judge) and with
# cross-process sharing switched off, a figure whose name says so.
CONFIGS = (" (default: cross-process on)", " (cross-process off)")


def cycle_figures(runtime: str) -> list[str]:
    """The store cycle's figures of one binding, in the order of CONFIGS."""
    return [f"{runtime}.store_cycle", f"{runtime}.store_cycle_cross_process_off"]


class Summary:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, figure: str, measured: str, target: str, met: bool | None) -> None:
        verdict = "—" if met is None else ("**met**" if met else "**missed**")
        self.rows.append((figure, measured, target, verdict))


def render(d: Path, out: Path, smoke: bool) -> None:
    crit = criterion(d)
    scale = jsonl(d / "scale.jsonl")
    c = jsonl(d / "c.jsonl")
    py = jsonl(d / "python.jsonl")
    node = jsonl(d / "node.jsonl")
    s = Summary()
    md: list[str] = []
    commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "?"
    dirty = run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    md.append("# Benchmark results")
    md.append("")
    md.append(
        f"Written by `scripts/bench{' --smoke' if smoke else ''}` on {when}, at commit {commit}"
        f"{' (with uncommitted changes in the working tree)' if dirty else ''}."
        " How each figure is measured: [bench/README.md](README.md)."
    )
    if smoke:
        md.append("")
        md.append("**Smoke run: tiny sample sizes; these numbers mean nothing.**")
    md.append("")
    md.append("## Machine")
    md.append("")
    md.extend(machine(d))

    # 1. Rust --------------------------------------------------------------------------
    sections: list[str] = [
        "",
        "## 1. Rust (criterion, median with its 95% confidence interval)",
        "",
    ]
    if crit:
        sections.append("| figure | time per op | 95% CI |")
        sections.append("|---|---|---|")
        for name in [
            "decide",
            "store_cycle_idle",
            "store_cycle_idle_cross_process_off",
            "store_cycle_purge_4_queued_wall",
            "store_cycle_purge_4_queued_library",
            "store_cycle_purge_4_queued_transport",
            "thread_spawn_join",
        ]:
            if name in crit:
                e = crit[name]
                sections.append(f"| `{name}` | {ns(e['ns'])} | {ns(e['lo'])} - {ns(e['hi'])} |")
        idle = crit.get("store_cycle_idle", {}).get("ns")
        lib = crit.get("store_cycle_purge_4_queued_library", {}).get("ns")
        spawn = crit.get("thread_spawn_join", {}).get("ns")
        if "decide" in crit:
            s.add("Rust `decide`", ns(crit["decide"]["ns"]), "—", None)
        off = crit.get("store_cycle_idle_cross_process_off", {}).get("ns")
        if idle:
            s.add("Rust store cycle, idle (default: cross-process on)", ns(idle), "—", None)
        if idle and off:
            s.add(
                "Rust store cycle, default / cross-process off",
                f"{idle / off:.2f}x ({ns(idle)} / {ns(off)})",
                "2x",
                idle / off <= 2,
            )
        if idle and lib:
            s.add(
                "Rust store cycle, PURGE with 4 queued (library time)",
                f"{ns(lib)} = {lib / idle:.0f}x the idle cycle"
                + (f"; one thread spawn+join: {ns(spawn)}" if spawn else ""),
                "—",
                None,
            )
    else:
        sections.append("Not measured in this run.")
    md.extend(sections)

    # 2. C ------------------------------------------------------------------------------
    md.extend(["", "## 2. C, through libmapi_logoff.so", ""])
    md.extend(floor_table(c, ["c.decide", *cycle_figures("c")], pure_label=None))
    if "c.decide" in c:
        f = c["c.decide"][0]
        s.add("C `mapi_logoff_decide` / FFI floor", ratio(f), "≤ 3x", f["ratio"] <= 3)
    for fig, config in zip(cycle_figures("c"), CONFIGS):
        if fig in c:
            s.add(f"C store cycle / 3 FFI floors{config}", ratio(c[fig][0]), "—", None)

    # 3. Python -------------------------------------------------------------------------
    md.extend(["", "## 3. Python (abi3 extension, CPython)", ""])
    md.extend(
        floor_table(py, ["python.decide", *cycle_figures("python")], pure_label="pure Python")
    )
    for fig, label, config in [
        ("python.decide", "`decide`", ""),
        *((f, "store cycle", config) for f, config in zip(cycle_figures("python"), CONFIGS)),
    ]:
        if fig in py:
            f = py[fig][0]
            s.add(f"Python {label} / binding floor{config}", ratio(f), "≤ 2x", f["ratio"] <= 2)
            s.add(
                f"Python {label} / pure Python{config}",
                ratio(f, "pure_ratio"),
                "< 1x (faster)",
                f["pure_ratio"] < 1,
            )
    if "python.decide" in py and "result_build_ns" in py["python.decide"][0]:
        f = py["python.decide"][0]
        md.append("")
        md.append(
            f"Of the {ns(f['lib_ns'])} of a Python `decide`, building its return value (a"
            f" frozen `Decision` dataclass holding `LogoffFlags`/`Release`/`FlushFlags` enum"
            f" members) alone takes {ns(f['result_build_ns'])} when done in Python"
            f" (`result_build`, same run)."
        )

    # 4. Node ---------------------------------------------------------------------------
    md.extend(["", "## 4. Node (napi-rs addon)", ""])
    md.extend(floor_table(node, ["node.decide", *cycle_figures("node")], pure_label="pure JS"))
    if "node.decide" in node:
        f = node["node.decide"][0]
        extra = []
        if f.get("addon_ns") is not None:
            extra.append(
                f"the addon's own `decide` called directly (no JS layer) takes"
                f" {ns(f['addon_ns'])}, {ratio(f, 'addon_ratio')} the floor"
            )
        if f.get("bare_ns") is not None:
            extra.append(
                f"the cheapest call (`benchNoop()`, converting no argument) takes"
                f" {ns(f['bare_ns'])}: `decide` is {ratio(f, 'bare_ratio')} that"
            )
        if extra:
            md.extend(["", "In the same rounds, " + "; ".join(extra) + "."])
    for fig, label, config in [
        ("node.decide", "`decide`", ""),
        *((f, "store cycle", config) for f, config in zip(cycle_figures("node"), CONFIGS)),
    ]:
        if fig in node:
            f = node[fig][0]
            # Issue 17: the store cycle's target is 3x the floor (the core's own idle cycle
            # alone is about 2.5x it); `decide` must also beat a hand-written JS table.
            limit = 2 if fig == "node.decide" else 3
            s.add(
                f"Node {label} / napi floor{config}",
                ratio(f),
                f"≤ {limit}x",
                f["ratio"] <= limit,
            )
            if f.get("pure_ratio") is not None:
                pure = ratio(f, "pure_ratio")
                if fig == "node.decide":
                    s.add(f"Node {label} / pure JS", pure, "< 1x (faster)", f["pure_ratio"] < 1)
                else:
                    s.add(f"Node {label} / pure JS{config}", pure, "report", None)

    # 5. Scale --------------------------------------------------------------------------
    md.extend(["", "## 5. Scale, memory and threads (Rust, cross-process off)", ""])
    rows = scale.get("scale_cross_process_off", [])
    th = (scale.get("threads_cross_process_off") or [None])[0]
    if rows or th:
        md.append(
            "Every spooler of this section has cross-process sharing off (no machine"
            " registry): these figures show how the library's own structures behave as the"
            " open stores and the threads grow. The registry's cost in the default"
            " configuration is in the machine registry's section."
        )
        md.append("")
    if rows:
        md.append(
            "Per-operation cost with N open stores, and its ratio to N = 1e3 (median of the"
            " per-round ratios, interquartile range in brackets). *hot*: operations on a fixed"
            " 1,000 of the open stores; *uniform*: on any open store at random."
        )
        md.append("")
        md.append(
            "| open stores | activity, hot | activity, uniform | cycle, hot | cycle, uniform"
            " | heap / store | RSS / store |"
        )
        md.append("|---|---|---|---|---|---|---|")
        for r in rows:
            cells = []
            for m in ["activity_hot", "activity_uniform", "cycle_hot", "cycle_uniform"]:
                cells.append(f"{ns(r[m + '_ns'])}, {ratio(r, m + '_ratio')}")
            md.append(
                f"| {r['open_stores']:,} | "
                + " | ".join(cells)
                + f" | {r['heap_bytes_per_store']:.0f} B | {r['rss_bytes_per_store']:.0f} B |"
            )
        big = max(rows, key=lambda r: r["open_stores"])
        n = f"{big['open_stores']:.0e}".replace("e+0", "e")
        # Hot: 1.5x (issue 8's target); uniform: 2x (issue 17's).
        for m, label, limit in [
            ("activity_hot", "submit/begin_send/end_send, hot", 1.5),
            ("activity_uniform", "submit/begin_send/end_send, uniform", 2),
            ("cycle_hot", "store cycle, hot", 1.5),
            ("cycle_uniform", "store cycle, uniform", 2),
        ]:
            s.add(
                f"Scale (cross-process off): {label}, {n} vs 1e3 open stores",
                ratio(big, m + "_ratio"),
                f"≤ {limit}x",
                big[m + "_ratio"] <= limit,
            )
        s.add(
            f"Memory per open store (cross-process off, {n} stores)",
            f"{big['rss_bytes_per_store']:.0f} B resident"
            f" ({big['heap_bytes_per_store']:.0f} B heap)",
            "< 512 B",
            big["rss_bytes_per_store"] < 512,
        )
    if th:
        md.append("")
        md.append(
            "Two threads against one, each on 1,000 stores of its own, throughput ratio"
            " (2 x t1 / t2, median of the rounds); CPU per op 2v1: CPU time per operation with"
            " two threads over that with one (1.00 = no contention); off-CPU: share of the two"
            " threads' time off the CPU (waiting for a CPU others use, or blocked)."
        )
        md.append("")
        md.append(
            "| variant | throughput 2 threads / 1 | CPU per op 2v1 | off-CPU | 1 thread, ns/op |"
        )
        md.append("|---|---|---|---|---|")
        for v, label in [
            ("library", "library: one spooler, independent stores"),
            ("separate_spoolers", "control: one spooler per thread"),
            ("compute", "control: pure computation (the machine)"),
        ]:
            if f"{v}_ratio" in th:
                cpu = th.get(f"{v}_cpu_per_op_2v1")
                md.append(
                    f"| {label} | {ratio(th, v + '_ratio')} | "
                    f"{'n/a' if cpu is None else f'{cpu:.2f}'} | "
                    f"{th[v + '_off_cpu_share_2']:.0%} | {th[v + '_one_thread_ns']:.1f} |"
                )
        s.add(
            "Threads (cross-process off): 2 threads / 1 on independent stores",
            ratio(th, "library_ratio")
            + f" (machine: {th['compute_ratio']:.2f}x, separate spoolers:"
            f" {th['separate_spoolers_ratio']:.2f}x; CPU per op 2v1:"
            f" {th['library_cpu_per_op_2v1']:.2f})",
            "≥ 1.6x",
            th["library_ratio"] >= 1.6,
        )
        if th["compute_ratio"] < 1.6:
            md.append("")
            md.append(
                f"**During this run the machine itself gave two threads only"
                f" {th['compute_ratio']:.2f}x** (the pure computation): other processes held the"
                " CPUs, so no code could have met the 1.6x target here."
            )
    if not rows and not th:
        md.append("Not measured in this run.")

    # Summary first -------------------------------------------------------------------------
    summary = [
        "",
        "## Summary",
        "",
        "| figure | measured (ratio: median, IQR) | target | |",
        "|---|---|---|---|",
    ]
    summary += [f"| {a} | {b} | {t} | {v} |" for a, b, t, v in s.rows]
    notes = ROOT / "bench" / "notes.md"
    md_out = md[: md.index("## Machine") - 1] + summary + [""] + md[md.index("## Machine") - 1 :]
    if notes.exists() and not smoke:
        md_out += ["", notes.read_text().rstrip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md_out).rstrip() + "\n")

    width = max((len(r[0]) for r in s.rows), default=10)
    print(f"{'figure':<{width}}  {'measured':<44} {'target':<14} verdict")
    for a, b, t, v in s.rows:
        print(f"{a:<{width}}  {b:<44} {t:<14} {v.strip('*')}")
    print(f"wrote {out}")


def floor_table(figs: dict[str, list[dict]], names: list[str], pure_label: str | None) -> list[str]:
    present = [n for n in names if n in figs]
    if not present:
        return ["Not measured in this run."]
    head = "| figure | library | floor | library / floor |"
    sep = "|---|---|---|---|"
    if pure_label:
        head += f" {pure_label} | library / {pure_label} |"
        sep += "---|---|"
    lines = [head, sep]
    for n in present:
        f = figs[n][0]
        row = f"| `{n}` | {ns(f['lib_ns'])} | {ns(f['floor_ns'])} ({f['floor']}) | {ratio(f)} |"
        if pure_label:
            row += (
                f" {ns(f.get('pure_ns'))} | {ratio(f, 'pure_ratio')} |"
                if f.get("pure_ns") is not None
                else " n/a | n/a |"
            )
        lines.append(row)
    rounds = figs[present[0]][0].get("rounds")
    lines.append("")
    lines.append(f"{rounds} alternating rounds; ratios are medians of the per-round ratios.")
    off = [n for n in present if n.endswith(".store_cycle_cross_process_off")]
    if off:
        default = off[0].removesuffix("_cross_process_off")
        lines.append("")
        lines.append(
            f"`{default}` is the default configuration (cross-process sharing on, the machine"
            f" registry in the directory the library picks); `{off[0]}` is the same cycle with"
            " cross-process sharing switched off, measured as another side of the same rounds"
            " against the same floor."
        )
    return lines


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "snapshot":
        snapshot(argv[1])
        return 0
    if len(argv) >= 3 and argv[0] == "render":
        render(Path(argv[1]), Path(argv[2]), "--smoke" in argv[3:])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
