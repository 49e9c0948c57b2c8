"""Transports and subscribers written in Python: called with the protocol's types, allowed
to call back into the spooler, and unable to break a logoff or the interpreter."""

from __future__ import annotations

import sys

import pytest

import mapi_logoff as ml
from conftest import make_activity

F = ml.LogoffFlags
UPLOAD = ml.FlushFlags.UPLOAD | ml.FlushFlags.NO_UI


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


class Transport:
    def __init__(self, action=None) -> None:
        self.calls: list[tuple[str, ml.FlushFlags]] = []
        self.action = action

    def flush_queues(self, store_id: str, flags: ml.FlushFlags) -> None:
        self.calls.append((store_id, flags))
        if self.action:
            self.action(store_id)


def test_transport_is_called_on_purge_only(spooler):
    t = Transport()
    spooler.add_transport(t)
    for i, mode in enumerate([F.NO_WAIT, F.ORDERLY, F.ABORT, F.QUIET]):
        spooler.open_store(f"s{i}").logoff_transports(mode)
    assert t.calls == []
    spooler.open_store("purged").logoff_transports(F.PURGE)
    assert t.calls == [("purged", UPLOAD)]
    assert type(t.calls[0][0]) is str
    assert type(t.calls[0][1]) is ml.FlushFlags


def test_a_plain_callable_is_a_transport_and_can_be_removed(spooler):
    calls = []
    tid = spooler.add_transport(lambda store_id, flags: calls.append((store_id, flags)))
    spooler.open_store("a").logoff_transports(F.PURGE)
    assert spooler.remove_transport(tid)
    assert not spooler.remove_transport(tid)
    spooler.open_store("b").logoff_transports(F.PURGE)
    assert calls == [("a", UPLOAD)]


def test_a_raising_transport_is_an_event_and_the_logoff_goes_on(spooler, recorder, unraisable):
    def broken(store_id, flags):
        raise ValueError("disk on fire")

    after = Transport()
    bad = spooler.add_transport(broken)
    spooler.add_transport(after)
    store = spooler.open_store("box")
    assert store.logoff_transports(F.PURGE) == F.COMPLETE
    assert after.calls == [("box", UPLOAD)]  # the next transport still flushed
    assert spooler.stats("box").released
    (failed,) = recorder.of("flush_failed")
    assert failed.mode == F.PURGE
    assert f"transport {bad}" in failed.detail
    assert "MAPI_E_CALL_FAILED" in failed.detail
    # Not a MapiError: a bug in the transport, shown through sys.unraisablehook.
    assert [type(u.exc_value) for u in unraisable] == [ValueError]
    assert unraisable[0].object is broken


def test_a_transport_failing_with_a_mapi_error_reports_its_hresult(spooler, recorder, unraisable):
    def refuses(store_id, flags):
        raise ml.NoAccessError("offline")

    spooler.add_transport(refuses)
    assert spooler.open_store("box").logoff_transports(F.PURGE) == F.COMPLETE
    (failed,) = recorder.of("flush_failed")
    assert "MAPI_E_NO_ACCESS" in failed.detail
    assert unraisable == []  # a deliberate failure is not a bug


def test_a_transport_may_call_back_into_the_spooler(spooler, recorder):
    seen = []

    def send_everything(store_id: str) -> None:
        seen.append(spooler.stats(store_id).queued)
        while spooler.stats(store_id).queued:
            spooler.begin_send(store_id)
            spooler.end_send(store_id)

    spooler.add_transport(Transport(send_everything))
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND_QUEUE)
    spooler.submit("box")
    # The flush drains the queue, so the PURGE returns without reaching its deadline.
    assert store.logoff_transports(F.PURGE) == F.COMPLETE | F.OUTBOUND_QUEUE
    assert seen == [2]
    stats = spooler.stats("box")
    assert (stats.released, stats.sent, stats.queued) == (True, 2, 0)
    assert recorder.kinds() == ["decided", "released"]


def test_subscriber_gets_events_with_the_protocol_types(spooler):
    events = []
    spooler.subscribe(events.append)
    store = spooler.open_store("box")
    store.logoff(F.ORDERLY)
    store.release()
    decided, released = events
    assert isinstance(decided, ml.Event)
    assert (decided.kind, decided.store_id, decided.mode) == ("decided", "box", F.ORDERLY)
    assert type(decided.mode) is F
    assert decided.out_flags == F.COMPLETE
    assert decided.decision == ml.decide(F.ORDERLY)
    assert decided.detail is None
    assert (released.kind, released.decision, released.detail) == ("released", None, "now")
    with pytest.raises(AttributeError):
        released.kind = "x"  # type: ignore[misc]


def test_a_raising_subscriber_never_stops_the_spooler(spooler, unraisable):
    def broken(event):
        raise RuntimeError(f"subscriber bug on {event.kind}")

    good = []
    spooler.subscribe(broken)
    spooler.subscribe(good.append)
    store = spooler.open_store("box")
    store.release()
    assert [e.kind for e in good] == ["decided", "released"]
    assert spooler.stats("box").released
    assert [str(u.exc_value) for u in unraisable] == [
        "subscriber bug on decided",
        "subscriber bug on released",
    ]
    assert unraisable[0].object is broken


def test_a_subscriber_raising_base_exceptions_is_contained(spooler, unraisable):
    def exits(event):
        raise SystemExit(3)

    spooler.subscribe(exits)
    spooler.open_store("box").release()
    assert spooler.stats("box").released
    assert all(isinstance(u.exc_value, SystemExit) for u in unraisable)


def test_a_subscriber_may_call_back_into_the_spooler(spooler):
    reopened = []

    def reopen(event):
        # On the release, read state, report activity elsewhere and open the store again.
        if event.kind == "released" and not reopened:
            assert spooler.stats(event.store_id).released
            spooler.submit("elsewhere")
            reopened.append(spooler.open_store(event.store_id))

    spooler.subscribe(reopen)
    spooler.open_store("box").release()
    assert len(reopened) == 1
    assert spooler.stats("box").clients == 1
    assert spooler.stats("elsewhere").queued == 1
    reopened[0].release()


def test_unsubscribe_stops_the_events(spooler):
    events = []
    sid = spooler.subscribe(events.append)
    spooler.open_store("a").release()
    assert spooler.unsubscribe(sid)
    spooler.open_store("b").release()
    assert {e.store_id for e in events} == {"a"}


def test_callbacks_are_kept_alive_by_the_spooler(spooler):
    import gc

    events = []

    class Sub:
        def __call__(self, event):
            events.append(event)

    spooler.subscribe(Sub())
    spooler.add_transport(Transport())
    gc.collect()
    spooler.open_store("box").logoff_transports(F.PURGE)
    assert [e.kind for e in events] == ["decided", "released"]
