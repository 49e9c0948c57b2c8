"""The MAPI message-store logoff protocol.

``IMsgStore::StoreLogoff`` (``Store``), ``IMAPISupport::StoreLogoffTransports`` carried out
by a ``Spooler`` with its transports, and the decision table both follow (``decide``).
Every call that can wait has a coroutine form for asyncio: ``Store.release_async``,
``Store.logoff_transports_async`` and ``Spooler.close_async``.
"""

import sys as _sys


def _refuse_subinterpreters() -> None:
    """The native module keeps process-wide state (spoolers, callbacks, cached Python
    objects) that belongs to the interpreter that first imported it: importing it in a
    subinterpreter would break the main interpreter once the subinterpreter is destroyed."""
    for name in ("_interpreters", "_xxsubinterpreters"):
        module = _sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        current, main = module.get_current(), module.get_main()
        # Python 3.13 returns (id, whence) tuples, older versions interpreter ids.
        if isinstance(current, tuple):
            current, main = current[0], main[0]
        if int(current) != int(main):
            raise ImportError(
                "mapi_logoff cannot be imported in a subinterpreter: import it in the main "
                "interpreter only (its native state is shared by the whole process)"
            )
        return


_refuse_subinterpreters()

from . import _asyncio, _signatures  # noqa: E402
from ._errors import (  # noqa: E402 (after the subinterpreter check)
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
from ._native import Spooler, Store, __version__, decide  # noqa: E402
from ._types import CloseReport, Decision, Event, FlushFlags, LogoffFlags, Release, StoreStats  # noqa: E402

_asyncio.install()
_signatures.install()

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
