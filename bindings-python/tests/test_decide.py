"""``decide`` against the shared decision-table fixture (tests/fixtures/decision_table.json)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import mapi_logoff as ml
from conftest import FIXTURE, PATIENCE
from mapi_logoff._native import decide_bits

CASES = json.loads(FIXTURE.read_text())["cases"]
# The Python `decide` takes the context as two bools; cases whose context word carries
# unknown bits can only be expressed through `decide_bits` (the C call's words).
EXPRESSIBLE = [c for c in CASES if c["context"] in (0, 1, 2, 3)]


def check(case: dict, call) -> None:
    if case["error"] is not None:
        with pytest.raises(ml.MapiError) as info:
            call()
        err = info.value
        assert err.code == case["error"]
        assert err.hresult == case["hresult"]
        assert type(err) is ml.MapiError.for_hresult(case["hresult"])
        return
    d = call()
    assert isinstance(d, ml.Decision)
    assert (d.out_flags, d.release, d.flush_flags, d.allowed, d.waits) == (
        case["out_flags"],
        case["release"],
        case["flush_flags"],
        case["allowed"],
        case["waits"],
    )
    assert type(d.out_flags) is ml.LogoffFlags
    assert type(d.release) is ml.Release
    assert type(d.flush_flags) is ml.FlushFlags
    assert type(d.allowed) is ml.LogoffFlags
    assert type(d.waits) is bool


def test_fixture_is_substantial() -> None:
    # Guards against a truncated fixture making every parametrized test vacuous.
    assert len(CASES) >= 100
    assert any(c["error"] for c in CASES)
    assert any(c["context"] > 7 for c in CASES)


@pytest.mark.parametrize("case", EXPRESSIBLE, ids=[c["name"] for c in EXPRESSIBLE])
def test_decide(case: dict) -> None:
    assert (case["context"] & 1 == 1) == case["shared"]
    assert (case["context"] & 2 == 2) == case["strict"]
    assert (case["context"] & 4 == 4) == case["cancellable"]
    check(
        case,
        lambda: ml.decide(
            case["flags"],
            case["activity"],
            shared=case["shared"],
            strict=case["strict"],
            cancellable=case["cancellable"],
        ),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decide_bits(case: dict) -> None:
    check(case, lambda: decide_bits(case["flags"], case["activity"], case["context"]))


def test_decide_takes_the_enums_and_defaults() -> None:
    d = ml.decide(ml.LogoffFlags.ORDERLY)
    assert d == ml.decide(2, 0, shared=False, strict=False, cancellable=False)
    assert d.out_flags == ml.LogoffFlags.COMPLETE
    assert d.release is ml.Release.NOW
    d = ml.decide(ml.LogoffFlags.PURGE, ml.LogoffFlags.OUTBOUND_QUEUE)
    assert d.flush_flags == ml.FlushFlags.UPLOAD | ml.FlushFlags.NO_UI
    assert d.waits is True


def test_decision_is_frozen() -> None:
    d = ml.decide(ml.LogoffFlags.QUIET)
    with pytest.raises(AttributeError):
        d.waits = True  # type: ignore[misc]


# --- the binding hands out one shared object per distinct decision ------------------------

ACCEPTED = [c for c in CASES if c["error"] is None]


def fresh(d: ml.Decision) -> ml.Decision:
    """The same decision built anew in Python, as the binding built it before it shared them."""
    return ml.Decision(
        ml.LogoffFlags(int(d.out_flags)),
        ml.Release(int(d.release)),
        ml.FlushFlags(int(d.flush_flags)),
        ml.LogoffFlags(int(d.allowed)),
        d.waits,
    )


def test_same_inputs_return_the_identical_decision() -> None:
    for c in ACCEPTED:
        args = (c["flags"], c["activity"], c["context"])
        assert decide_bits(*args) is decide_bits(*args), c["name"]
    assert ml.decide(ml.LogoffFlags.PURGE, ml.LogoffFlags.INBOUND, shared=True) is ml.decide(
        4, 0x20000, shared=True
    )


def test_one_object_per_distinct_decision() -> None:
    by_value: dict[tuple, set[int]] = {}
    kept = []  # keeps every result alive, so that no id is reused
    for c in ACCEPTED:
        d = decide_bits(c["flags"], c["activity"], c["context"])
        kept.append(d)
        by_value.setdefault(_key(d), set()).add(id(d))
    assert len(by_value) > 1
    assert all(len(ids) == 1 for ids in by_value.values()), by_value


def _key(d: ml.Decision) -> tuple:
    return (int(d.out_flags), int(d.release), int(d.flush_flags), int(d.allowed), d.waits)


def test_shared_decisions_equal_freshly_built_ones() -> None:
    for c in ACCEPTED:
        d = decide_bits(c["flags"], c["activity"], c["context"])
        f = fresh(d)
        assert d == f, c["name"]
        assert hash(d) == hash(f), c["name"]
        assert repr(d) == repr(f), c["name"]
        for field in ("out_flags", "release", "flush_flags", "allowed", "waits"):
            assert type(getattr(d, field)) is type(getattr(f, field))
            # Enum members (and IntFlag combinations) are themselves unique objects.
            assert getattr(d, field) is getattr(f, field), (c["name"], field)


def test_the_first_calls_from_many_threads_share_one_decision() -> None:
    # In a fresh interpreter, so that no slot is filled yet: threads race to build it.
    code = textwrap.dedent(
        """
        import threading
        import mapi_logoff as ml

        barrier = threading.Barrier(8)
        got = []

        def run():
            barrier.wait()
            got.append(ml.decide(ml.LogoffFlags.ORDERLY, ml.LogoffFlags.OUTBOUND))

        threads = [threading.Thread(target=run) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 8
        assert all(d is got[0] for d in got), got
        assert got[0] is ml.decide(2, 0x40000)
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=PATIENCE
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
