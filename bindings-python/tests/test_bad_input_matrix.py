"""The Python column of the bad-input matrix (tests/fixtures/bad_input_matrix.json, which the
C, Rust and Node tests read too): one test per cell, expecting the error the matrix names and
checking that the rejected calls changed nothing. Also checks that docs/reliability.md shows
the matrix as the file has it."""

from __future__ import annotations

import builtins
import json
import re
import subprocess
import sys
from typing import Callable

import pytest

import mapi_logoff as ml
from conftest import ROOT, unique

F = ml.LogoffFlags
MATRIX_PATH = ROOT / "tests" / "fixtures" / "bad_input_matrix.json"
MATRIX = json.loads(MATRIX_PATH.read_text(encoding="utf-8"))
CLASSES = [c["id"] for c in MATRIX["classes"]]


def expected_error(name: str) -> type[BaseException]:
    """The class a cell names: a built-in, or one of the package's MapiError subclasses."""
    cls = getattr(ml, name, None) or getattr(builtins, name, None)
    assert isinstance(cls, type), name
    assert issubclass(cls, BaseException), name
    return cls


class Scene:
    """A spooler with a store opened on it, a queued message and a saved NO_WAIT."""

    def __init__(self, *, strict: bool = False) -> None:
        self.spooler = ml.Spooler(unique("matrix"), cross_process=False, strict=strict)
        self.store = self.spooler.open_store("box")
        self.spooler.submit("box")
        self.store.logoff(F.NO_WAIT)

    def snapshot(self) -> tuple:
        return (
            self.spooler.stats("box"),
            self.store.saved_mode,
            self.store.ref_count,
            self.store.is_valid,
            self.spooler.store_ids(),
        )

    def rejects(self, error: type[BaseException], *calls: Callable[[], object]) -> None:
        before = self.snapshot()
        for call in calls:
            with pytest.raises(error) as info:
                call()
            assert type(info.value) is error or not issubclass(error, ml.MapiError), info.value
        assert self.snapshot() == before, "a rejected call changed something"


def cell_null(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.store.logoff(None),  # type: ignore[arg-type]
        lambda: s.spooler.submit(None),  # type: ignore[arg-type]
        lambda: s.spooler.open_store(None),  # type: ignore[arg-type]
    )


def cell_wrong_type(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.store.logoff("4"),  # type: ignore[arg-type]
        lambda: s.store.logoff(4.0),  # type: ignore[arg-type]
        lambda: s.store.logoff(True),
        lambda: s.spooler.submit(b"box"),  # type: ignore[arg-type]
    )


def cell_negative(s: Scene, error: type[BaseException]) -> None:
    s.rejects(error, lambda: s.store.logoff(-1), lambda: s.store.logoff_transports(-1))


def cell_above_u32(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.store.logoff(2**32),
        lambda: s.store.logoff_transports(2**32 | F.ORDERLY),
    )


def cell_unknown_flag_bits(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.store.logoff(F.ORDERLY | 0x100),
        lambda: s.store.logoff_transports(F.ORDERLY | 0x100),
        lambda: ml.decide(F.ORDERLY, 0x1),
    )


def cell_zero_flags(s: Scene, error: type[BaseException]) -> None:
    strict = Scene(strict=True)
    try:
        strict.rejects(
            error,
            lambda: strict.store.logoff(0),
            lambda: strict.store.logoff_transports(0),
            lambda: ml.decide(0, strict=True),
        )
    finally:
        strict.spooler.close(0)
    # The lenient default takes 0 as ABORT.
    assert s.store.logoff(0) == F.ABORT | F.OUTBOUND_QUEUE


def cell_several_flags(s: Scene, error: type[BaseException]) -> None:
    strict = Scene(strict=True)
    try:
        strict.rejects(
            error,
            lambda: strict.store.logoff(F.ORDERLY | F.ABORT),
            lambda: strict.store.logoff_transports(F.ORDERLY | F.ABORT),
            lambda: ml.decide(F.ORDERLY | F.ABORT, strict=True),
        )
    finally:
        strict.spooler.close(0)
    # The lenient default takes the most cautious.
    s.store.logoff(F.ORDERLY | F.ABORT)
    assert s.store.saved_mode == F.ABORT


def cell_bad_store_id(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.spooler.submit("\udc80"),
        lambda: s.spooler.begin_receive("\udc80"),
        lambda: s.spooler.open_store("\ud800"),
    )


def cell_empty_store_id(s: Scene, error: type[BaseException]) -> None:
    s.rejects(
        error,
        lambda: s.spooler.submit(""),
        lambda: s.spooler.begin_receive(""),
        lambda: s.spooler.open_store(""),
    )


def cell_released_handle(s: Scene, error: type[BaseException]) -> None:
    assert s.store.release() == 0
    s.rejects(
        error,
        lambda: s.store.logoff(F.ORDERLY),
        lambda: s.store.logoff_transports(F.ORDERLY),
    )
    assert s.store.add_ref() == 0
    assert s.store.release() == 0


def cell_closed_spooler(s: Scene, error: type[BaseException]) -> None:
    s.spooler.close(0)
    s.rejects(
        error,
        lambda: s.spooler.open_store("box"),
        lambda: s.spooler.submit("box"),
        lambda: s.spooler.begin_receive("box"),
        lambda: s.spooler.close(0),
    )


CELLS: dict[str, Callable[[Scene, type[BaseException]], None]] = {
    name.removeprefix("cell_"): fn
    for name, fn in list(globals().items())
    if name.startswith("cell_")
}


def test_every_class_has_a_python_cell_and_every_cell_a_class() -> None:
    assert sorted(MATRIX["cells"]["python"]) == sorted(CLASSES)
    assert set(CELLS) <= set(CLASSES)


@pytest.mark.parametrize("input_class", CLASSES)
def test_cell(input_class: str) -> None:
    cell = MATRIX["cells"]["python"][input_class]
    if "na" in cell:
        assert input_class not in CELLS, "the matrix says n/a, but this file tests it"
        return
    assert input_class in CELLS, (
        f"the matrix expects {cell['error']}, but there is no cell_{input_class}"
    )
    scene = Scene()
    try:
        CELLS[input_class](scene, expected_error(cell["error"]))
    finally:
        if not scene.spooler.closed:
            scene.spooler.close(0)


def test_the_docs_show_the_matrix() -> None:
    script = ROOT / "tests" / "fixtures" / "bad_input_matrix.py"
    result = subprocess.run(
        [sys.executable, str(script), "doc", "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_fault_table_names_tests_that_exist() -> None:
    """Every `file::test` of docs/reliability.md's fault table is a test in that file."""
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    table = doc.split("## Fault injection", 1)[1].split("\n## ", 1)[0]
    dirs = ["core/tests", "tests/c", "bindings-python/tests", "bindings-node/test"]
    refs = re.findall(r"`([\w./-]+\.(?:rs|c|py|mjs))::([^`]+)`", table)
    assert len(refs) > 30, refs
    for file, name in refs:
        paths = [ROOT / file] if "/" in file else [ROOT / d / file for d in dirs]
        found = [p for p in paths if p.is_file()]
        assert found, f"{file} is not a test file"
        assert name in found[0].read_text(encoding="utf-8"), f"{file} has no test {name!r}"
