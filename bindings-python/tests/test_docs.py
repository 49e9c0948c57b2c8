"""The documentation's Python examples run: the README's Python quick start and every
```python block of docs/python.md (in order, sharing one namespace, like a reader would)."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT

README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "python.md"
BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def quickstart(text: str) -> str:
    match = re.search(
        r"<!-- quickstart:python -->\n(.*?)<!-- /quickstart:python -->", text, re.DOTALL
    )
    assert match, "README.md has no <!-- quickstart:python --> section"
    return match.group(1)


def run_blocks(blocks: list[str], origin: str) -> None:
    namespace: dict = {"__name__": f"docs:{origin}"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{origin} python block {i + 1}", "exec"), namespace)


def test_readme_quickstart_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks(quickstart(README.read_text()))
    assert blocks, "the Python quick start has no python block"
    run_blocks(blocks, "README.md")
    out = capsys.readouterr().out
    assert "MAPI_E_NO_ACCESS 0x80070005" in out
    assert "released inbox" in out


def test_guide_examples_run() -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 4
    run_blocks(blocks, "docs/python.md")


def test_block_extraction() -> None:
    text = "a\n```python\nx = 1\n```\n```text\nnot run\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]
