"""Shared fixtures: the repository's files, an isolated spooler and an event recorder."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Callable

import pytest

import mapi_logoff as ml

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "decision_table.json"
HEADER = ROOT / "include" / "mapi_logoff.h"

# Generous bound for anything a test waits for; only reached when the code under test is
# broken (a hang becomes a failure). No test asserts how long anything takes.
PATIENCE = 30.0

MODES = [
    ml.LogoffFlags.NO_WAIT,
    ml.LogoffFlags.ORDERLY,
    ml.LogoffFlags.PURGE,
    ml.LogoffFlags.ABORT,
    ml.LogoffFlags.QUIET,
]
ALL_GATES = ml.LogoffFlags.INBOUND | ml.LogoffFlags.OUTBOUND | ml.LogoffFlags.OUTBOUND_QUEUE
NO_GATES = ml.LogoffFlags(0)


@pytest.fixture(scope="session", autouse=True)
def _private_registry(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Spoolers with cross_process=True (the default, used by the docs' examples) register
    in a directory of this run only, so parallel runs never see each other's stores."""
    os.environ["MAPI_LOGOFF_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def table() -> dict:
    """The shared decision-table fixture every language's tests read."""
    return json.loads(FIXTURE.read_text())


def parse_header_defines(text: str) -> dict[str, int]:
    """``#define NAME value`` lines of a C header whose value is an integer literal,
    possibly in parentheses, cast, or with U/L suffixes."""
    defines = {}
    pattern = re.compile(
        r"^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+"
        r"\(*\s*(?:\(\s*(?:u?int32_t|mapi_logoff_hresult|mapi_logoff_ulong)\s*\)\s*)?\(*\s*"
        r"(-?(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*\s*\)*\s*(?://.*|/\*.*)?$",
        re.MULTILINE,
    )
    for name, value in pattern.findall(text):
        defines[name] = int(value, 0) & 0xFFFF_FFFF
    # A MAPI name defined as its library-prefixed one: #define LOGOFF_PURGE MAPI_LOGOFF_PURGE.
    alias = re.compile(
        r"^\s*#\s*define\s+([A-Z_][A-Z0-9_]*)\s+([A-Z_][A-Z0-9_]*)\s*$", re.MULTILINE
    )
    for name, target in alias.findall(text):
        if target in defines:
            defines[name] = defines[target]
    return defines


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def spooler():
    """A spooler of a profile of its own, not shared with other processes."""
    s = ml.Spooler(unique("profile"), cross_process=False)
    yield s
    if not s.closed:
        s.close(0)


@pytest.fixture
def strict_spooler():
    """As ``spooler``, with strict validation opted in."""
    s = ml.Spooler(unique("strict"), cross_process=False, strict=True)
    yield s
    if not s.closed:
        s.close(0)


class Recorder:
    """A subscriber that keeps every event and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[ml.Event] = []
        self._cv = threading.Condition()

    def __call__(self, event: ml.Event) -> None:
        with self._cv:
            self.events.append(event)
            self._cv.notify_all()

    def kinds(self, store_id: str | None = None) -> list[str]:
        with self._cv:
            return [e.kind for e in self.events if store_id is None or e.store_id == store_id]

    def of(self, kind: str, store_id: str | None = None) -> list[ml.Event]:
        with self._cv:
            return [
                e
                for e in self.events
                if e.kind == kind and (store_id is None or e.store_id == store_id)
            ]

    def wait_for(self, predicate: Callable[[list[ml.Event]], bool]) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: predicate(self.events), timeout=PATIENCE):
                raise AssertionError(f"event never came; got {self.events}")


@pytest.fixture
def recorder(spooler: ml.Spooler) -> Recorder:
    r = Recorder()
    spooler.subscribe(r)
    return r


def make_activity(spooler: ml.Spooler, store_id: str, activity: int) -> None:
    """Reports transfers so that the store's activity is exactly ``activity``."""
    if activity & ml.LogoffFlags.OUTBOUND:
        spooler.submit(store_id)
        spooler.begin_send(store_id)
    if activity & ml.LogoffFlags.OUTBOUND_QUEUE:
        spooler.submit(store_id)
    if activity & ml.LogoffFlags.INBOUND:
        spooler.begin_receive(store_id)
    assert spooler.activity(store_id) == activity


def accounted(stats: ml.StoreStats) -> bool:
    """Every message is queued, in flight, sent or received."""
    return (
        stats.submitted == stats.queued + stats.sending + stats.sent
        and stats.receptions == stats.receiving + stats.received
    )
