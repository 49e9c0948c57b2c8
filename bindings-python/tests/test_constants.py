"""The Python enums and exception classes hold MAPI's values: the same as the C header's
``#define``s, the shared fixture's "constants" and the Rust core's."""

from __future__ import annotations

import pytest

import mapi_logoff as ml
from conftest import HEADER, parse_header_defines
from mapi_logoff import _native


def python_constants() -> dict[str, int]:
    """Every constant the Python package defines, under its MAPI (C) name."""
    names: dict[str, int] = {}
    for f in ml.LogoffFlags:
        names[f"LOGOFF_{f.name}"] = int(f)
    for flush in ml.FlushFlags:
        names[f"FLUSH_{flush.name}"] = int(flush)
    for r in ml.Release:
        names[f"MAPI_LOGOFF_RELEASE_{r.name}"] = int(r)
    for cls in _errors():
        names[cls.code] = cls.hresult
    return names


def _errors() -> list[type[ml.MapiError]]:
    return [
        getattr(ml, n)
        for n in ml.__all__
        if isinstance(getattr(ml, n), type)
        and issubclass(getattr(ml, n), ml.MapiError)
        and getattr(ml, n) is not ml.MapiError
    ]


def test_enum_members_are_exactly_the_spec_flags() -> None:
    assert [f.name for f in ml.LogoffFlags] == [
        "NO_WAIT",
        "ORDERLY",
        "PURGE",
        "ABORT",
        "QUIET",
        "COMPLETE",
        "INBOUND",
        "OUTBOUND",
        "OUTBOUND_QUEUE",
    ]
    assert [f.name for f in ml.FlushFlags] == ["UPLOAD", "DOWNLOAD", "FORCE", "NO_UI"]
    assert [r.name for r in ml.Release] == ["REFUSED", "NOW", "WHEN_DRAINED"]
    assert issubclass(ml.LogoffFlags, __import__("enum").IntFlag)
    assert issubclass(ml.FlushFlags, __import__("enum").IntFlag)
    assert issubclass(ml.Release, __import__("enum").IntEnum)


def test_values_equal_the_fixture_constants(table: dict) -> None:
    fixture = table["constants"]
    mine = python_constants()
    for name, value in mine.items():
        assert fixture[name] == value, name
    # Every fixture constant that Python represents is covered (context bits and S_OK are
    # arguments of decide_bits / the absence of an exception, not Python names).
    context_bits = {
        "MAPI_LOGOFF_DECIDE_SHARED",
        "MAPI_LOGOFF_DECIDE_STRICT",
        "MAPI_LOGOFF_DECIDE_CANCELLABLE",
    }
    missing = set(fixture) - set(mine) - context_bits - {"S_OK"}
    assert not missing


def test_values_equal_the_rust_core(table: dict) -> None:
    core = _native._constants()
    assert core == table["constants"]
    for name, value in python_constants().items():
        assert core[name] == value, name


def test_values_equal_the_c_header() -> None:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is not generated yet")
    defines = parse_header_defines(HEADER.read_text())
    mine = python_constants()
    compared = {name: defines[name] for name in mine if name in defines}
    # The header defines all of them (SPEC section 7: constants with their MAPI names).
    assert set(compared) == set(mine), set(mine) - set(compared)
    for name, value in mine.items():
        assert defines[name] == value, name
    assert defines["MAPI_LOGOFF_DECIDE_SHARED"] == 0x1
    assert defines["MAPI_LOGOFF_DECIDE_STRICT"] == 0x2
    assert defines["MAPI_LOGOFF_DECIDE_CANCELLABLE"] == 0x4
    # Version 1's names clashed with mapix.h's IMAPISession::Logoff flags.
    assert "MAPI_LOGOFF_SHARED" not in defines
    assert "MAPI_LOGOFF_LENIENT" not in defines
    if "MAPI_LOGOFF_VERSION_MAJOR" in defines:
        version = tuple(
            defines[f"MAPI_LOGOFF_VERSION_{part}"] for part in ("MAJOR", "MINOR", "PATCH")
        )
        assert ".".join(map(str, version)) == ml.__version__


def test_header_parser() -> None:
    text = """
    #define LOGOFF_PURGE 0x4
    #  define MAPI_E_TIMEOUT ((int32_t)0x80040401)
    #define MAPI_E_NO_ACCESS 0x80070005u /* comment */
    #define FLUSH_NO_UI (16)
    #define MAPI_LOGOFF_VERSION "0.1.0"
    #define NOT_A_NUMBER (A | B)
    #define MAPI_E_BUSY (int32_t)2147746059u
    #define MAPI_E_NOT_FOUND -2147221233
    """
    assert parse_header_defines(text) == {
        "LOGOFF_PURGE": 4,
        "MAPI_E_TIMEOUT": 0x80040401,
        "MAPI_E_NO_ACCESS": 0x80070005,
        "FLUSH_NO_UI": 16,
        "MAPI_E_BUSY": 0x8004010B,
        "MAPI_E_NOT_FOUND": 0x8004010F,
    }


def test_one_exception_class_per_hresult(table: dict) -> None:
    codes = {n: v for n, v in table["constants"].items() if n.startswith("MAPI_E_")}
    classes = _errors()
    assert sorted(c.code for c in classes) == sorted(codes)
    for cls in classes:
        assert cls.hresult == codes[cls.code]
        assert ml.MapiError.for_hresult(cls.hresult) is cls
        # Windows declares HRESULTs as negative int32; both spellings find the class.
        assert ml.MapiError.for_hresult(cls.hresult - 2**32) is cls
    assert ml.MapiError.for_hresult(0x8000_FFFF) is ml.MapiError


def test_builtin_bases() -> None:
    assert issubclass(ml.MapiTimeoutError, TimeoutError)
    assert issubclass(ml.InvalidParameterError, ValueError)
    assert issubclass(ml.UnknownFlagsError, ValueError)
    for cls in _errors():
        assert issubclass(cls, ml.MapiError)
