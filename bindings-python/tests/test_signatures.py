"""What tools read from the package: class signatures, stubs that type-check a ``with`` block
that returns, and the refusal to load in a subinterpreter."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mapi_logoff as ml

STUB = Path(ml.__file__).parent / "_native.pyi"


def stub_init_parameters(cls: str) -> list[tuple[str, str, bool]]:
    """(name, kind, has default) of ``cls.__init__`` in the stubs, without ``self``."""
    tree = ast.parse(STUB.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    a = item.args
                    positional = a.posonlyargs + a.args
                    defaults = [False] * (len(positional) - len(a.defaults)) + [True] * len(
                        a.defaults
                    )
                    out = [
                        (p.arg, "POSITIONAL_OR_KEYWORD", d)
                        for p, d in zip(positional, defaults)
                    ][1:]
                    out += [
                        (p.arg, "KEYWORD_ONLY", d is not None)
                        for p, d in zip(a.kwonlyargs, a.kw_defaults)
                    ]
                    return out
    raise AssertionError(f"no {cls}.__init__ in {STUB}")


@pytest.mark.parametrize("cls", [ml.Spooler, ml.Store])
def test_classes_have_the_signature_of_their_stub(cls: type) -> None:
    signature = inspect.signature(cls)
    got = [
        (p.name, p.kind.name, p.default is not inspect.Parameter.empty)
        for p in signature.parameters.values()
    ]
    assert got == stub_init_parameters(cls.__name__)


def test_the_spooler_accepts_every_keyword_of_its_signature() -> None:
    signature = inspect.signature(ml.Spooler)
    defaults = {
        p.name: p.default
        for p in signature.parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    defaults["cross_process"] = False
    spooler = ml.Spooler("signature", **defaults)
    spooler.close()


def test_exit_returns_none_so_exceptions_propagate() -> None:
    spooler = ml.Spooler("exit", cross_process=False)
    store = spooler.open_store("box")
    assert store.__exit__(None, None, None) is None
    assert spooler.__exit__(None, None, None) is None
    with pytest.raises(KeyError), ml.Spooler("exit2", cross_process=False):
        raise KeyError("propagates")


def test_subinterpreter_import_is_refused_and_leaves_the_main_interpreter_working() -> None:
    script = textwrap.dedent(
        """
        try:
            import _interpreters as si
        except ImportError:
            try:
                import _xxsubinterpreters as si
            except ImportError:
                print("NO-SUBINTERPRETERS")
                raise SystemExit(0)
        interp = si.create()
        try:
            out = si.run_string(interp, "import mapi_logoff")
        except Exception as e:  # 3.12 and older raise RunFailedError
            out = e
        si.destroy(interp)
        print("SUB:", out)
        import mapi_logoff as ml
        print("MAIN:", ml.decide(ml.LogoffFlags.ORDERLY).release.name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    if "NO-SUBINTERPRETERS" in done.stdout:
        pytest.skip("this Python has no subinterpreter module")
    assert "cannot be imported in a subinterpreter" in done.stdout, done.stdout
    assert "MAIN: NOW" in done.stdout, done.stdout
