"""A pure-Python decision table and store cycle, written for the benchmark only.

This is what a test author without the library would write: SPEC sections 3 and 4 as plain
Python, returning the same ``Decision`` (with the same flag types) and raising the same
exceptions as ``mapi_logoff.decide``, so both sides of the comparison do the same work.
``bench.py`` checks it against the shared fixture before timing it.

``PureSpooler`` is the idle path of the store cycle (open, StoreLogoff, final release),
just enough of SPEC sections 5 and 6 for that path to do what the library does: count
clients, save the mode, decide on the final release and close the store's gates.
"""

from __future__ import annotations

from mapi_logoff import (
    Decision,
    FlushFlags,
    InvalidObjectError,
    InvalidParameterError,
    LogoffFlags,
    Release,
    UnknownFlagsError,
)

INPUT_MASK = 0x1F
OUTPUT_MASK = 0xF0000
ACTIVITY_MASK = 0xE0000
SHARED, STRICT, CANCELLABLE = 0x1, 0x2, 0x4
INBOUND, OUTBOUND, OUTBOUND_QUEUE = 0x20000, 0x40000, 0x80000
IN_FLIGHT = INBOUND | OUTBOUND
COMPLETE = 0x10000
NO_WAIT, ORDERLY, PURGE, ABORT, QUIET = 0x1, 0x2, 0x4, 0x8, 0x10
MOST_CAUTIOUS_FIRST = (QUIET, ABORT, ORDERLY, NO_WAIT, PURGE)


def parse_mode(flags: int, strict: bool) -> int:
    mode = flags & ~OUTPUT_MASK
    if mode & ~INPUT_MASK:
        raise UnknownFlagsError()
    if mode and mode & (mode - 1) == 0:
        return mode
    if strict:
        raise InvalidParameterError()
    if mode == 0:
        return ABORT
    return next(m for m in MOST_CAUTIOUS_FIRST if mode & m)


def decide(
    flags: int,
    activity: int = 0,
    *,
    shared: bool = False,
    strict: bool = False,
    cancellable: bool = False,
):
    mode = parse_mode(flags, strict)
    if activity & ~ACTIVITY_MASK:
        raise UnknownFlagsError()
    a = activity
    if shared:
        out, release, flush, allowed, waits = COMPLETE, 1, 0, ACTIVITY_MASK, False
    elif mode == QUIET:
        if a == 0:
            out, release, flush, allowed, waits = COMPLETE, 1, 0, 0, False
        else:
            out, release, flush, allowed, waits = a, 0, 0, ACTIVITY_MASK, False
    elif mode == ABORT:
        if a & IN_FLIGHT == 0 or cancellable:
            out, release, flush, allowed, waits = COMPLETE | (a & OUTBOUND_QUEUE), 1, 0, 0, False
        else:
            out, release, flush, allowed, waits = a, 0, 0, ACTIVITY_MASK, False
    elif mode == ORDERLY:
        release = 2 if a & IN_FLIGHT else 1
        out, flush, allowed, waits = COMPLETE | a, 0, 0, False
    elif mode == NO_WAIT:
        out, release, flush, allowed, waits = COMPLETE | a, 2 if a else 1, 0, OUTBOUND, False
    else:  # PURGE
        release = 2 if a else 1
        out, flush, allowed, waits = COMPLETE | a, 0x2 | 0x10, OUTBOUND, True
    return Decision(
        LogoffFlags(out), Release(release), FlushFlags(flush), LogoffFlags(allowed), waits
    )


def decide_bits(flags: int, activity: int, context: int):
    """``decide`` on the C call's words, checking the context bits first."""
    if context & ~(SHARED | STRICT | CANCELLABLE):
        raise UnknownFlagsError()
    return decide(
        flags,
        activity,
        shared=bool(context & SHARED),
        strict=bool(context & STRICT),
        cancellable=bool(context & CANCELLABLE),
    )


class _Entry:
    __slots__ = ("allowed", "clients", "queued", "receiving", "released", "sending")

    def __init__(self) -> None:
        self.queued = self.sending = self.receiving = self.clients = 0
        self.allowed = ACTIVITY_MASK
        self.released = False

    def activity(self) -> int:
        a = 0
        if self.receiving:
            a |= INBOUND
        if self.sending:
            a |= OUTBOUND
        if self.queued:
            a |= OUTBOUND_QUEUE
        return a


class PureStore:
    __slots__ = ("_id", "_mode", "_refs", "_spooler")

    def __init__(self, spooler: PureSpooler, store_id: str) -> None:
        self._spooler, self._id, self._refs, self._mode = spooler, store_id, 1, None

    def logoff(self, flags: int) -> LogoffFlags:
        if self._refs == 0:
            raise InvalidObjectError()
        self._mode = parse_mode(flags, False)
        return LogoffFlags(self._mode | self._spooler._stores[self._id].activity())

    def release(self) -> int:
        if self._refs == 0:
            return 0
        self._refs -= 1
        if self._refs == 0:
            self._spooler._logoff_transports(self._id, self._mode or ABORT)
        return self._refs


class PureSpooler:
    def __init__(self) -> None:
        self._stores: dict[str, _Entry] = {}

    def open_store(self, store_id: str) -> PureStore:
        if not isinstance(store_id, str) or not store_id:
            raise InvalidParameterError()
        entry = self._stores.get(store_id)
        if entry is None:
            entry = self._stores[store_id] = _Entry()
        entry.clients += 1
        entry.released = False
        entry.allowed = ACTIVITY_MASK
        return PureStore(self, store_id)

    def _logoff_transports(self, store_id: str, mode: int) -> Decision:
        entry = self._stores[store_id]
        d = decide(mode, entry.activity(), shared=entry.clients > 1)
        if d.release == Release.NOW:
            entry.clients -= 1
            if entry.clients == 0:
                entry.allowed = 0
                entry.released = True
        elif d.release == Release.WHEN_DRAINED:
            entry.allowed = int(d.allowed)
        return d
