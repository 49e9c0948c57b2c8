"""Signatures for the native classes, which ``inspect.signature`` cannot read by itself.

An abi3 extension for Python 3.9 cannot give a class a text signature, so
``inspect.signature(Spooler)`` would fail. Each class gets a ``__signature__`` taken from a
plain function with the constructor's parameters; tests hold it to the stubs and to what the
constructor accepts.
"""

from __future__ import annotations

import inspect

from ._native import Spooler, Store


# Unannotated: the stubs (_native.pyi) carry the types.
def _spooler(  # type: ignore[no-untyped-def]
    profile,
    *,
    purge_deadline=30.0,
    close_deadline=30.0,
    strict=False,
    cross_process=True,
    runtime_dir=None,
):
    pass


def _store(support, *, strict=False):  # type: ignore[no-untyped-def]
    pass


def install() -> None:
    """Sets ``__signature__`` on the native classes."""
    for cls, model in ((Spooler, _spooler), (Store, _store)):
        cls.__signature__ = inspect.signature(model)  # type: ignore[attr-defined]
