"""Type stubs of the native module (bindings-python/src). Public names are re-exported by
``mapi_logoff``; import them from there."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Protocol, SupportsIndex, final

from typing_extensions import TypeAlias

from ._types import CloseReport, Decision, Event, FlushFlags, LogoffFlags, StoreStats

__version__: str

_Flags: TypeAlias = SupportsIndex
"""An int or an ``IntFlag`` that fits in 32 unsigned bits (not a ``bool``)."""
_Seconds: TypeAlias = float | int | datetime.timedelta
"""A deadline: seconds, or a timedelta. Not negative."""

class _TransportObject(Protocol):
    def flush_queues(self, store_id: str, flags: FlushFlags, /) -> object: ...

class _CancellableTransportObject(Protocol):
    def flush_queues(self, store_id: str, flags: FlushFlags, /) -> object: ...
    def cancel(self, store_id: str, /) -> object:
        """Cancel this transport's transfers of ``store_id`` in flight, each reported before
        returning: ``spooler.end_send(store_id, False)`` for a send (back in the queue),
        ``spooler.cancel_receive(store_id)`` for a reception (left at the server). Runs on a
        worker thread while the ABORT's caller waits, up to the spooler's PURGE deadline;
        raising, or not returning in time, makes the ABORT refuse if a transfer is still in
        flight."""

_Transport: TypeAlias = (
    _TransportObject | _CancellableTransportObject | Callable[[str, FlushFlags], object]
)
"""An object with ``flush_queues(store_id, flags)`` (and optionally ``cancel(store_id)``),
or such a callable. Raising a ``MapiError`` fails with its HRESULT, anything else with
``MAPI_E_CALL_FAILED``; a failed flush is a ``"flush_failed"`` event and the logoff goes on,
a failed cancel makes an ABORT with a transfer still in flight refuse."""

class _Support(Protocol):
    """A caller-supplied Support (``IMAPISupport``). ``activity()`` is optional."""

    def store_logoff_transports(self, flags: LogoffFlags, /) -> int: ...

def decide(
    flags: _Flags,
    activity: _Flags = 0,
    *,
    shared: bool = False,
    strict: bool = False,
    cancellable: bool = False,
) -> Decision:
    """The decision table. Validation is lenient unless ``strict``. Raises
    ``UnknownFlagsError`` or ``InvalidParameterError`` for a rejected call."""

def decide_bits(flags: _Flags, activity: _Flags, context: _Flags) -> Decision:
    """``decide`` on the C call's words; context is SHARED 0x1 | STRICT 0x2 |
    CANCELLABLE 0x4."""

def _constants() -> dict[str, int]: ...

@final
class Store:
    """A client's handle on a message store, reference counted like a COM object."""

    def __init__(self, support: _Support, *, strict: bool = False) -> None:
        """A handle with reference count 1 on a caller-supplied support."""

    def logoff(self, flags: _Flags) -> LogoffFlags:
        """StoreLogoff: saves the mode, returns the mode with the store's activity.
        Performs no logoff."""

    def logoff_transports(self, flags: _Flags) -> LogoffFlags:
        """StoreLogoffTransports now: returns the out_flags. PURGE waits (GIL released);
        past the deadline it raises ``MapiTimeoutError`` with ``out_flags``."""

    def add_ref(self) -> int: ...
    def release(self) -> int:
        """The new count; the final release logs off with the saved mode (ABORT if none)."""

    @property
    def ref_count(self) -> int: ...
    @property
    def is_valid(self) -> bool: ...
    @property
    def store_id(self) -> str | None: ...
    @property
    def saved_mode(self) -> LogoffFlags | None: ...
    def set_strict(self, strict: bool) -> None: ...
    @property
    def strict(self) -> bool: ...
    def __enter__(self) -> Store: ...
    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        """Releases the reference the ``with`` statement held."""
    async def release_async(self) -> int:
        """``release()`` as a coroutine, run in a worker thread. Cancelling the awaiting task
        does not stop the release."""
    async def logoff_transports_async(self, flags: _Flags) -> LogoffFlags:
        """``logoff_transports(flags)`` as a coroutine, run in a worker thread. Cancelling the
        awaiting task does not stop the logoff."""

@final
class Spooler:
    """The MAPI spooler of one profile."""

    def __init__(
        self,
        profile: str,
        *,
        purge_deadline: _Seconds = 30.0,
        close_deadline: _Seconds = 30.0,
        strict: bool = False,
        cross_process: bool = True,
        runtime_dir: str | os.PathLike[str] | None = None,
    ) -> None: ...
    @property
    def profile(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def purge_deadline(self) -> float: ...
    def set_purge_deadline(self, deadline: _Seconds) -> None: ...
    def open_store(self, store_id: str) -> Store: ...
    def submit(self, store_id: str) -> None: ...
    def begin_send(self, store_id: str) -> None: ...
    def end_send(self, store_id: str, sent: bool = True) -> None: ...
    def begin_receive(self, store_id: str) -> None: ...
    def end_receive(self, store_id: str) -> None: ...
    def cancel_receive(self, store_id: str) -> None: ...
    def activity(self, store_id: str) -> LogoffFlags: ...
    def stats(self, store_id: str) -> StoreStats: ...
    def store_ids(self) -> list[str]: ...
    def add_transport(self, transport: _Transport) -> int: ...
    def remove_transport(self, id: int) -> bool: ...
    def subscribe(self, callback: Callable[[Event], object]) -> int: ...
    def unsubscribe(self, id: int) -> bool: ...
    def close(self, deadline: _Seconds | None = None) -> CloseReport: ...
    def __enter__(self) -> Spooler: ...
    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        """Closes the spooler unless it is closed already."""
    async def close_async(self, deadline: _Seconds | None = None) -> CloseReport:
        """``close(deadline)`` as a coroutine, run in a worker thread. Cancelling the awaiting
        task does not stop the close."""
