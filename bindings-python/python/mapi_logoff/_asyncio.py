"""Coroutine forms of the calls that can wait, for asyncio.

Each coroutine runs the blocking call in the running loop's default executor (a worker
thread); the native call releases the GIL while it waits, so neither the event loop nor other
Python threads are held up. The result, or the exception, is the blocking call's.

Cancelling the awaiting task does not cancel the call: a logoff or a close cannot be undone
halfway. The call goes on in its worker thread to its end (the store is released, the spooler
is closed, exactly as without the cancellation) and its result or exception is discarded; the
awaiting task gets ``asyncio.CancelledError`` at once. The waits themselves are bounded by the
spooler's deadlines (``purge_deadline``, ``close_deadline``), never by the cancellation.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ._native import Spooler, Store

if TYPE_CHECKING:
    from ._types import CloseReport, LogoffFlags

_T = TypeVar("_T")


async def _in_worker(call: Callable[..., _T], *args: Any) -> _T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(call, *args))


async def release_async(self: Store) -> int:
    """``release()`` as a coroutine: the new count. A final release with a saved PURGE
    waits in a worker thread, not in the event loop. Cancelling the awaiting task does not
    stop the release; it completes in its worker thread."""
    return await _in_worker(self.release)


async def logoff_transports_async(self: Store, flags: int) -> LogoffFlags:
    """``logoff_transports(flags)`` as a coroutine: the out_flags. A PURGE waits in a
    worker thread, not in the event loop; past the deadline it raises ``MapiTimeoutError``.
    Cancelling the awaiting task does not stop the logoff; it completes in its worker
    thread."""
    return await _in_worker(self.logoff_transports, flags)


async def close_async(self: Spooler, deadline: Any = None) -> CloseReport:
    """``close(deadline)`` as a coroutine: the close report. The close waits in a worker
    thread, not in the event loop. Cancelling the awaiting task does not stop the close; it
    completes in its worker thread."""
    return await _in_worker(self.close, deadline)


def install() -> None:
    """Adds the coroutines to the native classes as methods."""
    for cls, name, function in (
        (Store, "release_async", release_async),
        (Store, "logoff_transports_async", logoff_transports_async),
        (Spooler, "close_async", close_async),
    ):
        function.__qualname__ = f"{cls.__name__}.{name}"
        function.__name__ = name
        setattr(cls, name, function)
