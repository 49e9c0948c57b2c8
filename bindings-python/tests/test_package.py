"""The installed package: its public names (SPEC section 7), version, typing files, and stubs
that describe what the native module really has."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
from pathlib import Path

import mapi_logoff as ml
from mapi_logoff import _native

PACKAGE = Path(ml.__file__).parent
SPEC_NAMES = [
    "LogoffFlags",
    "FlushFlags",
    "Release",
    "decide",
    "Decision",
    "Spooler",
    "Store",
    "MapiError",
]
SPOOLER_METHODS = [
    "open_store",
    "submit",
    "begin_send",
    "end_send",
    "begin_receive",
    "end_receive",
    "activity",
    "stats",
    "add_transport",
    "remove_transport",
    "subscribe",
    "unsubscribe",
    "close",
    "__enter__",
    "__exit__",
]
STORE_METHODS = ["logoff", "logoff_transports", "add_ref", "release", "__enter__", "__exit__"]


def test_public_names() -> None:
    for name in SPEC_NAMES:
        assert hasattr(ml, name), name
    for name in SPOOLER_METHODS:
        assert callable(getattr(ml.Spooler, name)), name
    for name in STORE_METHODS:
        assert callable(getattr(ml.Store, name)), name
    assert sorted(ml.__all__) == sorted(set(ml.__all__))
    for name in ml.__all__:
        assert hasattr(ml, name), name


def test_native_module_is_private_and_classes_are_public() -> None:
    assert _native.__name__ == "mapi_logoff._native"
    assert ml.Spooler.__module__ == "mapi_logoff"
    assert ml.Store.__module__ == "mapi_logoff"
    assert ml.Spooler is _native.Spooler


def test_version() -> None:
    assert ml.__version__ == importlib.metadata.version("mapi-logoff")
    assert ml.__version__.count(".") == 2


def test_typing_files_are_installed() -> None:
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_native.pyi").is_file()


def test_the_extension_is_abi3() -> None:
    suffix = Path(_native.__file__).name
    assert ".abi3." in suffix


def stub_tree() -> ast.Module:
    return ast.parse((PACKAGE / "_native.pyi").read_text())


def stub_members(node: ast.ClassDef | ast.Module) -> set[str]:
    names = set()
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            names.add(item.target.id)
    return names


def runtime_members(obj: object) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_") or n in ("__enter__", "__exit__")}


def test_stubs_match_the_native_module() -> None:
    tree = stub_tree()
    module_stub = {n for n in stub_members(tree) if not n.startswith("_") or n == "__version__"}
    module_stub.discard("__version__")
    runtime = {n for n in dir(_native) if not n.startswith("_")}
    assert module_stub == runtime
    classes = {c.name: c for c in tree.body if isinstance(c, ast.ClassDef)}
    for cls in (ml.Spooler, ml.Store):
        stubbed = {n for n in stub_members(classes[cls.__name__]) if n != "__init__"}
        assert stubbed == runtime_members(cls), cls.__name__


def test_signatures_are_introspectable() -> None:
    sig = inspect.signature(ml.decide)
    assert list(sig.parameters) == ["flags", "activity", "shared", "strict", "cancellable"]
    assert sig.parameters["shared"].kind is inspect.Parameter.KEYWORD_ONLY
    sig = inspect.signature(ml.Spooler)
    assert next(iter(sig.parameters)) == "profile"
    assert sig.parameters["purge_deadline"].default == 30.0
