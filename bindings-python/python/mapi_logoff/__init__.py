"""The MAPI message-store logoff protocol.

``IMsgStore::StoreLogoff`` (``Store``), ``IMAPISupport::StoreLogoffTransports`` carried out
by a ``Spooler`` with its transports, and the decision table both follow (``decide``).
See docs/python.md.
"""

from ._errors import (
    BusyError,
    CallFailedError,
    InvalidObjectError,
    InvalidParameterError,
    MapiError,
    MapiTimeoutError,
    NoAccessError,
    NoSupportError,
    NotEnoughMemoryError,
    NotFoundError,
    UnknownFlagsError,
)
from ._native import Spooler, Store, __version__, decide
from ._types import CloseReport, Decision, Event, FlushFlags, LogoffFlags, Release, StoreStats

__all__ = [
    "BusyError",
    "CallFailedError",
    "CloseReport",
    "Decision",
    "Event",
    "FlushFlags",
    "InvalidObjectError",
    "InvalidParameterError",
    "LogoffFlags",
    "MapiError",
    "MapiTimeoutError",
    "NoAccessError",
    "NoSupportError",
    "NotEnoughMemoryError",
    "NotFoundError",
    "Release",
    "Spooler",
    "Store",
    "StoreStats",
    "UnknownFlagsError",
    "__version__",
    "decide",
]
