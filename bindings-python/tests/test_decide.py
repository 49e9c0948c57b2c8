"""``decide`` against the shared decision-table fixture (tests/fixtures/decision_table.json)."""

from __future__ import annotations

import json

import pytest

import mapi_logoff as ml
from conftest import FIXTURE
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
    assert any(c["context"] > 3 for c in CASES)


@pytest.mark.parametrize("case", EXPRESSIBLE, ids=[c["name"] for c in EXPRESSIBLE])
def test_decide(case: dict) -> None:
    assert (case["context"] & 1 == 1) == case["shared"]
    assert (case["context"] & 2 == 2) == case["lenient"]
    check(
        case,
        lambda: ml.decide(
            case["flags"], case["activity"], shared=case["shared"], lenient=case["lenient"]
        ),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_decide_bits(case: dict) -> None:
    check(case, lambda: decide_bits(case["flags"], case["activity"], case["context"]))


def test_decide_takes_the_enums_and_defaults() -> None:
    d = ml.decide(ml.LogoffFlags.ORDERLY)
    assert d == ml.decide(2, 0, shared=False, lenient=False)
    assert d.out_flags == ml.LogoffFlags.COMPLETE
    assert d.release is ml.Release.NOW
    d = ml.decide(ml.LogoffFlags.PURGE, ml.LogoffFlags.OUTBOUND_QUEUE)
    assert d.flush_flags == ml.FlushFlags.UPLOAD | ml.FlushFlags.NO_UI
    assert d.waits is True


def test_decision_is_frozen() -> None:
    d = ml.decide(ml.LogoffFlags.QUIET)
    with pytest.raises(AttributeError):
        d.waits = True  # type: ignore[misc]
