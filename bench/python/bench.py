"""The Python figures of scripts/bench (issue 8, figure 3).

    python bench/python/bench.py [--smoke]

Compares, in alternating rounds of the same run:
- ``mapi_logoff.decide`` with the binding floor (``_native._noop``, an empty PyO3 function
  taking the same positional arguments, converting nothing) and with a pure-Python decision
  table written for the benchmark (``pure.py``; checked against the shared fixture first);
- the store cycle (``open_store`` -> ``logoff(NO_WAIT)`` -> ``release`` on an idle store)
  with three empty calls (the cycle's floor) and with ``pure.PureSpooler``: in the default
  configuration (``python.store_cycle``: cross-process sharing on, the machine registry in
  the directory the library picks) and, as another side of the same rounds against the same
  floor, with cross-process sharing switched off (``python.store_cycle_cross_process_off``).

Each variant runs in every round, the order rotating from round to round, with the garbage
collector off while timing (as ``timeit`` does). A ratio is the median of the per-round
ratios. Prints one JSON object per figure, as bench/report.py reads them.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

import mapi_logoff
import pure
from mapi_logoff import Decision, FlushFlags, LogoffFlags, Release, _native

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "decision_table.json"

MODES = [1, 2, 4, 8, 16]
ACTIVITIES = [0, 0x20000, 0x40000, 0x80000, 0xE0000]
# Every mode with each single activity bit and none (all valid), as a caller varies them.
INPUTS = [(m, a) for a in ACTIVITIES for m in MODES]
# The library's variants in a measurement; the others are its floor, its pure version and
# extras reported as absolute times.
LIBS = ("lib", "lib_off")


def check_pure_against_fixture() -> int:
    """The pure-Python version must be the same decision table, or comparing is moot."""
    cases = json.loads(FIXTURE.read_text())["cases"]
    for c in cases:
        args = (c["flags"], c["activity"], c["context"])
        results = []
        for impl in (_native.decide_bits, pure.decide_bits):
            try:
                d = impl(*args)
                results.append(
                    (int(d.out_flags), int(d.release), int(d.flush_flags), int(d.allowed), d.waits)
                )
            except mapi_logoff.MapiError as e:
                results.append(e.code)
        expected = c["error"] or (
            c["out_flags"],
            c["release"],
            c["flush_flags"],
            c["allowed"],
            c["waits"],
        )
        if results != [expected, expected]:
            sys.exit(f"bench.py: case {c['name']!r}: library/pure gave {results}, want {expected}")
    return len(cases)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def measure(variants: dict, n: int, rounds: int) -> dict[str, list[float]]:
    """ns per iteration of each variant, one value per round."""
    names = list(variants)
    for fn in variants.values():
        fn(max(1, n // 4))  # warm up
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.disable()
    try:
        for r in range(rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                t = time.perf_counter_ns()
                variants[name](n)
                times[name].append((time.perf_counter_ns() - t) / n)
    finally:
        gc.enable()
    return times


def figure(name: str, times: dict[str, list[float]], floor_desc: str, lib_key: str = "lib") -> dict:
    """The figure of the variant ``lib_key`` against the floor (and the pure version)."""
    lib, floor = times[lib_key], times["floor"]
    ratios = [x / f for x, f in zip(lib, floor)]
    q1, ratio, q3 = quartiles(ratios)
    out = {
        "figure": name,
        "lib_ns": round(statistics.median(lib), 1),
        "floor_ns": round(statistics.median(floor), 1),
        "ratio": round(ratio, 3),
        "ratio_q1": round(q1, 3),
        "ratio_q3": round(q3, 3),
        "rounds": len(lib),
        "floor": floor_desc,
    }
    if "pure" in times:
        pure_ratios = [x / p for x, p in zip(lib, times["pure"])]
        p1, pr, p3 = quartiles(pure_ratios)
        out.update(
            pure_ns=round(statistics.median(times["pure"]), 1),
            pure_ratio=round(pr, 3),
            pure_ratio_q1=round(p1, 3),
            pure_ratio_q3=round(p3, 3),
        )
    for extra in times.keys() - {"floor", "pure"} - set(LIBS):
        out[f"{extra}_ns"] = round(statistics.median(times[extra]), 1)
    return out


def decide_variants(batch: list[tuple[int, int]]) -> dict:
    def lib(n, decide=mapi_logoff.decide, batch=batch):
        for _ in range(n // len(batch)):
            for f, a in batch:
                decide(f, a)

    def floor(n, noop=_native._noop, batch=batch):
        for _ in range(n // len(batch)):
            for f, a in batch:
                noop(f, a)

    def pure_(n, decide=pure.decide, batch=batch):
        for _ in range(n // len(batch)):
            for f, a in batch:
                decide(f, a)

    # What the binding spends on its return value alone: the same Decision, built in Python.
    def result(n, batch=batch, D=Decision, LF=LogoffFlags, R=Release, FF=FlushFlags):
        for _ in range(n // len(batch)):
            for f, a in batch:
                D(LF(0x10000 | a), R(1), FF(f & 0x12), LF(0x40000), False)

    return {"lib": lib, "floor": floor, "pure": pure_, "result_build": result}


def cycle_variants() -> dict:
    # The default configuration: no options. The profile is this process's own, so that
    # another run of this harness at the same time shares no store with it.
    sp = mapi_logoff.Spooler(f"bench-python-{os.getpid()}")
    sp_off = mapi_logoff.Spooler("bench-python", cross_process=False)
    psp = pure.PureSpooler()
    no_wait = int(LogoffFlags.NO_WAIT)

    def lib(n, sp=sp, no_wait=no_wait):
        for _ in range(n):
            s = sp.open_store("inbox")
            s.logoff(no_wait)
            s.release()

    def lib_off(n, sp=sp_off, no_wait=no_wait):
        for _ in range(n):
            s = sp.open_store("inbox")
            s.logoff(no_wait)
            s.release()

    def floor(n, m=_native, no_wait=no_wait):
        for _ in range(n):
            m._noop("inbox")
            m._noop(no_wait)
            m._noop()

    def pure_(n, sp=psp, no_wait=no_wait):
        for _ in range(n):
            s = sp.open_store("inbox")
            s.logoff(no_wait)
            s.release()

    for run, spooler in [(lib, sp), (lib_off, sp_off)]:
        run(1)
        stats = spooler.stats("inbox")
        assert stats.released and stats.clients == 0, stats
    return {"lib": lib, "lib_off": lib_off, "floor": floor, "pure": pure_}


def main() -> None:
    smoke = "--smoke" in sys.argv[1:]
    rounds = 5 if smoke else 41
    cases = check_pure_against_fixture()
    batch = INPUTS * 8
    d = figure(
        "python.decide",
        measure(decide_variants(batch), len(batch) * (4 if smoke else 50), rounds),
        "_native._noop(flags, activity)",
    )
    d["fixture_cases_checked"] = cases
    print(json.dumps(d), flush=True)
    times = measure(cycle_variants(), 500 if smoke else 10000, rounds)
    for name, lib_key in [
        ("python.store_cycle", "lib"),
        ("python.store_cycle_cross_process_off", "lib_off"),
    ]:
        c = figure(name, times, "3 x _native._noop(...)", lib_key)
        print(json.dumps(c), flush=True)


if __name__ == "__main__":
    main()
