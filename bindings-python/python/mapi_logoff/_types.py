"""The protocol's flags and the plain values the native module returns.

The flag values are MAPI's own; tests check them against the C header,
the shared fixture and the Rust core.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "CloseReport",
    "Decision",
    "Event",
    "FlushFlags",
    "LogoffFlags",
    "Release",
    "StoreStats",
]


class LogoffFlags(enum.IntFlag):
    """The in/out ``ulFlags`` of StoreLogoff and StoreLogoffTransports.

    The low bits are the input modes (exactly one per call); the ``0xF0000`` bits are
    written back. ``INBOUND``, ``OUTBOUND`` and ``OUTBOUND_QUEUE`` are also the bits of a
    store's activity and of a decision's ``allowed`` gates.
    """

    NO_WAIT = 0x0000_0001
    ORDERLY = 0x0000_0002
    PURGE = 0x0000_0004
    ABORT = 0x0000_0008
    QUIET = 0x0000_0010
    COMPLETE = 0x0001_0000
    INBOUND = 0x0002_0000
    OUTBOUND = 0x0004_0000
    OUTBOUND_QUEUE = 0x0008_0000


class FlushFlags(enum.IntFlag):
    """The ``ulFlags`` of ``IXPLogon::FlushQueues``."""

    UPLOAD = 0x0000_0002
    DOWNLOAD = 0x0000_0004
    FORCE = 0x0000_0008
    NO_UI = 0x0000_0010


class Release(enum.IntEnum):
    """What a decision does to the store (``MAPI_LOGOFF_RELEASE_*``)."""

    REFUSED = 0
    NOW = 1
    WHEN_DRAINED = 2


@dataclass(frozen=True)
class Decision:
    """The decision table's answer for one StoreLogoffTransports call."""

    out_flags: LogoffFlags
    """Written back to the caller."""
    release: Release
    """What happens to the store."""
    flush_flags: FlushFlags
    """Passed to every transport's ``flush_queues``; 0 means no call."""
    allowed: LogoffFlags
    """What may still start: INBOUND receptions, OUTBOUND sends, OUTBOUND_QUEUE submissions."""
    waits: bool
    """Whether the call returns only once the store is released."""


@dataclass(frozen=True)
class Event:
    """One thing that happened to a store, delivered to every subscriber."""

    kind: str
    """``"decided"``, ``"refused"``, ``"released"``, ``"release_deferred"``,
    ``"timed_out"``, ``"flush_failed"``, ``"undrained"``, ``"registry_unreadable"`` or
    ``"cancelled"`` (an ABORT cancelled a transfer in flight)."""
    store_id: str
    mode: LogoffFlags | None
    """The input mode of the logoff this event belongs to (one mode flag)."""
    out_flags: LogoffFlags
    """The decision's out_flags, or the store's activity for ``"undrained"``."""
    decision: Decision | None
    """The decision, for ``"decided"`` and ``"refused"``."""
    detail: str | None
    """How a release came about, which transport failed and how, or what was cancelled."""


@dataclass(frozen=True)
class StoreStats:
    """A store's counters. Always ``submitted == queued + sending + sent`` and
    ``receptions == receiving + received + cancelled_receptions``: no message is ever
    dropped."""

    queued: int
    sending: int
    receiving: int
    submitted: int
    sent: int
    receptions: int
    received: int
    cancelled_receptions: int
    """Receptions cancelled in flight by an ABORT: the messages stay at the server."""
    allowed: LogoffFlags
    """The open gates: INBOUND receptions, OUTBOUND sends, OUTBOUND_QUEUE submissions."""
    activity: LogoffFlags
    """The store's activity ``A``."""
    clients: int
    """Clients of this spooler holding the store open."""
    released: bool
    """Released and not opened again."""
    pending: LogoffFlags | None
    """The mode of a logoff waiting for the store to drain."""


@dataclass(frozen=True)
class CloseReport:
    """What ``Spooler.close`` found."""

    released: list[str] = field(default_factory=list)
    """Stores released by the close."""
    undrained: list[tuple[str, LogoffFlags]] = field(default_factory=list)
    """Stores that did not drain before the deadline, with their activity."""
