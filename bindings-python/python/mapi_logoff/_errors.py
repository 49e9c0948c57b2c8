"""``MapiError`` and one subclass per HRESULT of the protocol (MAPI's own values).

``_ERRORS`` below is the one place where an HRESULT becomes an exception class; the native
module calls ``_from_native`` for every failing call.
"""

from __future__ import annotations

from ._types import LogoffFlags

__all__ = [
    "BusyError",
    "CallFailedError",
    "InvalidObjectError",
    "InvalidParameterError",
    "MapiError",
    "MapiTimeoutError",
    "NoAccessError",
    "NoSupportError",
    "NotEnoughMemoryError",
    "NotFoundError",
    "UnknownFlagsError",
]


class MapiError(Exception):
    """A failing MAPI HRESULT.

    ``hresult`` is the HRESULT's 32 bits as an unsigned int (``0x80070057``), ``code`` its
    MAPI name (``"MAPI_E_INVALID_PARAMETER"``). Catch a subclass for one code.
    """

    hresult: int = 0x8000_4005
    code: str = "MAPI_E_CALL_FAILED"

    def __init__(
        self, message: str | None = None, *, hresult: int | None = None, code: str | None = None
    ) -> None:
        if hresult is not None:
            self.hresult = hresult
        if code is not None:
            self.code = code
        if message is None:
            message = self.code
        super().__init__(message)

    @staticmethod
    def for_hresult(hresult: int) -> type[MapiError]:
        """The subclass for ``hresult`` (unsigned or negative), or ``MapiError`` itself."""
        return _BY_HRESULT.get(hresult & 0xFFFF_FFFF, MapiError)


class CallFailedError(MapiError):
    """``MAPI_E_CALL_FAILED``: an unexpected failure."""

    hresult = 0x8000_4005
    code = "MAPI_E_CALL_FAILED"


class NotEnoughMemoryError(MapiError):
    """``MAPI_E_NOT_ENOUGH_MEMORY``."""

    hresult = 0x8007_000E
    code = "MAPI_E_NOT_ENOUGH_MEMORY"


class InvalidParameterError(MapiError, ValueError):
    """``MAPI_E_INVALID_PARAMETER``: no mode or several (strict), an empty or invalid id."""

    hresult = 0x8007_0057
    code = "MAPI_E_INVALID_PARAMETER"


class NoAccessError(MapiError):
    """``MAPI_E_NO_ACCESS``: the store's gates forbid starting this transfer."""

    hresult = 0x8007_0005
    code = "MAPI_E_NO_ACCESS"


class NoSupportError(MapiError):
    """``MAPI_E_NO_SUPPORT``."""

    hresult = 0x8004_0102
    code = "MAPI_E_NO_SUPPORT"


class UnknownFlagsError(MapiError, ValueError):
    """``MAPI_E_UNKNOWN_FLAGS``: a flag bit the protocol does not define."""

    hresult = 0x8004_0106
    code = "MAPI_E_UNKNOWN_FLAGS"


class InvalidObjectError(MapiError):
    """``MAPI_E_INVALID_OBJECT``: the store was released or logged off, or the spooler closed."""

    hresult = 0x8004_0108
    code = "MAPI_E_INVALID_OBJECT"


class BusyError(MapiError):
    """``MAPI_E_BUSY``: another logoff of this handle is under way."""

    hresult = 0x8004_010B
    code = "MAPI_E_BUSY"


class NotFoundError(MapiError):
    """``MAPI_E_NOT_FOUND``: nothing of that kind is queued or in flight."""

    hresult = 0x8004_010F
    code = "MAPI_E_NOT_FOUND"


class MapiTimeoutError(MapiError, TimeoutError):
    """``MAPI_E_TIMEOUT``: a PURGE passed the spooler's deadline.

    The logoff goes on as NO_WAIT; ``out_flags`` holds what the call wrote back.
    """

    hresult = 0x8004_0401
    code = "MAPI_E_TIMEOUT"

    def __init__(self, message: str | None = None, *, out_flags: int = 0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.out_flags = LogoffFlags(out_flags)


_ERRORS: tuple[type[MapiError], ...] = (
    CallFailedError,
    NotEnoughMemoryError,
    InvalidParameterError,
    NoAccessError,
    NoSupportError,
    UnknownFlagsError,
    InvalidObjectError,
    BusyError,
    NotFoundError,
    MapiTimeoutError,
)
_BY_HRESULT: dict[int, type[MapiError]] = {cls.hresult: cls for cls in _ERRORS}


def _from_native(hresult: int, message: str, out_flags: int | None = None) -> MapiError:
    """The exception for a failing call of the native module."""
    hresult &= 0xFFFF_FFFF
    cls = MapiError.for_hresult(hresult)
    if cls is MapiTimeoutError:
        return MapiTimeoutError(message, out_flags=out_flags or 0)
    if cls is MapiError:
        return MapiError(message, hresult=hresult, code=f"0x{hresult:08X}")
    return cls(message)
