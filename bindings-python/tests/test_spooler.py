"""SPEC section 4 (the decision table, carried out) and section 6 (the Spooler) through
``Spooler`` and ``Store``, with ``decide`` as the oracle."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mapi_logoff as ml
from conftest import ALL_GATES, MODES, NO_GATES, PATIENCE, Recorder, accounted, make_activity

F = ml.LogoffFlags
ACTIVITIES = [
    F(sum(bits))
    for n in range(4)
    for bits in itertools.combinations([F.INBOUND, F.OUTBOUND, F.OUTBOUND_QUEUE], n)
]


class FlushLog:
    """A transport that records its flush_queues calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ml.FlushFlags]] = []

    def flush_queues(self, store_id: str, flags: ml.FlushFlags) -> None:
        self.calls.append((store_id, flags))


# --- the decision table, carried out -----------------------------------------------------


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "shared"])
@pytest.mark.parametrize("activity", ACTIVITIES, ids=[repr(int(a)) for a in ACTIVITIES])
@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_logoff_transports_carries_out_the_decision(spooler, recorder, mode, activity, shared):
    transport = FlushLog()
    spooler.add_transport(transport)
    store = spooler.open_store("box")
    other = spooler.open_store("box") if shared else None
    make_activity(spooler, "box", activity)
    before = spooler.stats("box")
    expected = ml.decide(mode, activity, shared=shared)

    must_wait = expected.waits and expected.release is ml.Release.WHEN_DRAINED
    # A PURGE that must wait for transfers nobody ends times out at once; one that need not
    # wait gets the time its flush (on a thread of its own) takes to return.
    spooler.set_purge_deadline(0 if must_wait else 30)
    if must_wait:
        with pytest.raises(ml.MapiTimeoutError) as info:
            store.logoff_transports(mode)
        out_flags = info.value.out_flags
    else:
        out_flags = store.logoff_transports(mode)

    assert out_flags == expected.out_flags
    assert store.is_valid == (not out_flags & F.COMPLETE)
    kind = "refused" if expected.release is ml.Release.REFUSED else "decided"
    first = recorder.events[0]
    assert (first.kind, first.mode, first.decision) == (kind, mode, expected)
    if expected.flush_flags:
        # After a timeout the flush may still be on its way: it is not cancelled.
        deadline = time.monotonic() + 10
        while not transport.calls and time.monotonic() < deadline:
            time.sleep(0.001)
        assert transport.calls == [("box", expected.flush_flags)]
    else:
        assert transport.calls == []

    after = spooler.stats("box")
    assert accounted(after)
    # Nothing is dropped: the counters of messages are untouched by a logoff.
    assert (after.queued, after.sending, after.receiving, after.submitted) == (
        before.queued,
        before.sending,
        before.receiving,
        before.submitted,
    )
    if shared:
        # Only this client logs off; the other keeps the store as it was.
        assert (after.allowed, after.clients, after.released) == (ALL_GATES, 1, False)
        assert other is not None
        assert other.is_valid
    elif expected.release is ml.Release.REFUSED:
        assert after == before
    elif expected.release is ml.Release.NOW:
        assert (after.allowed, after.released, after.clients) == (NO_GATES, True, 0)
        assert recorder.kinds()[-1] == "released"
    else:
        assert after.allowed == expected.allowed
        assert not after.released
        # A timed-out PURGE goes on as NO_WAIT.
        assert after.pending == (F.NO_WAIT if must_wait else mode)
        if must_wait:
            assert recorder.kinds()[-1] == "timed_out"


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_the_final_release_follows_the_same_table(spooler, recorder, mode):
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND_QUEUE)
    spooler.set_purge_deadline(0)
    store.logoff(mode)
    assert store.release() == 0
    (first, *_) = recorder.events
    assert first.decision == ml.decide(mode, F.OUTBOUND_QUEUE)


# --- draining --------------------------------------------------------------------------


def test_orderly_lets_in_flight_finish_and_starts_nothing(spooler, recorder):
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND | F.OUTBOUND_QUEUE | F.INBOUND)
    assert store.logoff_transports(F.ORDERLY) == F.COMPLETE | F.OUTBOUND | F.OUTBOUND_QUEUE | (
        F.INBOUND
    )
    before = spooler.stats("box")
    for start in (spooler.submit, spooler.begin_send, spooler.begin_receive):
        with pytest.raises(ml.NoAccessError):
            start("box")
    assert spooler.stats("box") == before
    spooler.end_send("box")
    assert not spooler.stats("box").released
    spooler.end_receive("box")
    stats = spooler.stats("box")
    assert stats.released
    assert stats.queued == 1  # queued messages stay queued
    assert recorder.of("released")[0].detail == "drained"


def test_no_wait_sends_the_queue_and_closes_reception(spooler):
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND_QUEUE | F.INBOUND)
    assert store.logoff_transports(F.NO_WAIT) == F.COMPLETE | F.OUTBOUND_QUEUE | F.INBOUND
    with pytest.raises(ml.NoAccessError):
        spooler.submit("box")
    with pytest.raises(ml.NoAccessError):
        spooler.begin_receive("box")
    spooler.end_receive("box")
    assert not spooler.stats("box").released  # the queue is not empty yet
    spooler.begin_send("box")
    spooler.end_send("box", sent=False)  # not sent: back in the queue
    assert spooler.stats("box").queued == 1
    spooler.begin_send("box")
    spooler.end_send("box")
    stats = spooler.stats("box")
    assert (stats.released, stats.sent, stats.queued) == (True, 1, 0)
    assert accounted(stats)


def test_purge_flushes_and_returns_once_released(spooler, recorder):
    transport = FlushLog()
    spooler.add_transport(transport)
    store = spooler.open_store("box")
    # Idle: released at once, but the transports are still flushed.
    assert store.logoff_transports(F.PURGE) == F.COMPLETE
    assert transport.calls == [("box", ml.FlushFlags.UPLOAD | ml.FlushFlags.NO_UI)]
    assert spooler.stats("box").released


def test_purge_deadline_passes_and_the_logoff_goes_on_as_no_wait(recorder):
    with ml.Spooler("deadline", purge_deadline=0.01, cross_process=False) as spooler:
        spooler.subscribe(recorder)
        assert spooler.purge_deadline == pytest.approx(0.01)
        store = spooler.open_store("box")
        make_activity(spooler, "box", F.OUTBOUND)
        with pytest.raises(ml.MapiTimeoutError) as info:
            store.logoff_transports(F.PURGE)
        assert isinstance(info.value, TimeoutError)
        assert info.value.out_flags == F.COMPLETE | F.OUTBOUND
        assert info.value.hresult == 0x8004_0401
        (timed_out,) = recorder.of("timed_out")
        assert timed_out.mode == F.PURGE
        assert spooler.stats("box").pending == F.NO_WAIT
        spooler.end_send("box")
        assert spooler.stats("box").released
        assert recorder.kinds()[-1] == "released"


def test_the_purge_deadline_is_configurable(spooler):
    assert spooler.purge_deadline == 30.0
    spooler.set_purge_deadline(2.5)
    assert spooler.purge_deadline == 2.5
    import datetime

    spooler.set_purge_deadline(datetime.timedelta(milliseconds=1500))
    assert spooler.purge_deadline == 1.5


def test_shared_store_logs_off_this_client_only(spooler, recorder):
    first = spooler.open_store("box")
    second = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND)
    assert first.logoff_transports(F.ORDERLY) == F.COMPLETE
    stats = spooler.stats("box")
    assert (stats.clients, stats.allowed, stats.pending) == (1, ALL_GATES, None)
    spooler.submit("box")  # the other client's store takes new work
    assert "this client only" in recorder.of("released")[0].detail
    second.logoff(F.ORDERLY)
    second.release()
    spooler.end_send("box")
    assert spooler.stats("box").released


# --- activity reports --------------------------------------------------------------------


def test_first_mention_serves_the_store_with_all_gates_open(spooler):
    never = spooler.stats("never")
    assert (never.allowed, never.submitted, never.released) == (NO_GATES, 0, False)
    assert spooler.activity("never") == 0
    spooler.submit("reported")
    assert spooler.stats("reported").allowed == ALL_GATES
    assert spooler.store_ids() == ["reported"]


def test_not_found(spooler):
    spooler.open_store("box")
    before = spooler.stats("box")
    with pytest.raises(ml.NotFoundError):
        spooler.begin_send("box")
    with pytest.raises(ml.NotFoundError):
        spooler.end_send("box")
    with pytest.raises(ml.NotFoundError):
        spooler.end_send("box", sent=False)
    with pytest.raises(ml.NotFoundError):
        spooler.end_receive("box")
    assert spooler.stats("box") == before


def test_released_store_starts_nothing_until_opened_again(spooler):
    store = spooler.open_store("box")
    spooler.submit("box")
    store.release()  # ABORT: the queued message stays
    for start in (spooler.submit, spooler.begin_send, spooler.begin_receive):
        with pytest.raises(ml.NoAccessError):
            start("box")
    assert spooler.stats("box").queued == 1
    again = spooler.open_store("box")
    assert spooler.stats("box").allowed == ALL_GATES
    spooler.begin_send("box")  # the next open serves the queue
    spooler.end_send("box")
    again.release()
    stats = spooler.stats("box")
    assert (stats.sent, stats.queued, stats.released) == (1, 0, True)


def test_opening_again_ends_a_logoff_still_draining(spooler, recorder):
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND)
    store.logoff(F.ORDERLY)
    store.release()
    assert spooler.stats("box").pending == F.ORDERLY
    spooler.open_store("box")
    stats = spooler.stats("box")
    assert (stats.pending, stats.allowed, stats.clients) == (None, ALL_GATES, 1)
    assert "opened again" in recorder.of("released")[0].detail


def test_stats_account_for_every_message(spooler):
    spooler.open_store("box")
    for _ in range(3):
        spooler.submit("box")
    spooler.begin_send("box")
    spooler.begin_send("box")
    spooler.end_send("box")
    spooler.end_send("box", sent=False)
    spooler.begin_receive("box")
    spooler.begin_receive("box")
    spooler.end_receive("box")
    s = spooler.stats("box")
    assert (s.queued, s.sending, s.sent, s.submitted) == (2, 0, 1, 3)
    assert (s.receiving, s.received, s.receptions) == (1, 1, 2)
    assert s.activity == F.OUTBOUND_QUEUE | F.INBOUND == spooler.activity("box")
    assert accounted(s)


# --- close ---------------------------------------------------------------------------------


def test_close_logs_off_orderly_and_reports_what_did_not_drain(recorder):
    with ml.Spooler("closing", cross_process=False, close_deadline=0) as spooler:
        spooler.subscribe(recorder)
        spooler.open_store("idle")
        spooler.open_store("busy")
        make_activity(spooler, "busy", F.OUTBOUND | F.OUTBOUND_QUEUE)
        report = spooler.close()
        assert spooler.closed
        assert report.released == ["idle"]
        assert report.undrained == [("busy", F.OUTBOUND | F.OUTBOUND_QUEUE)]
        (undrained,) = recorder.of("undrained")
        assert (undrained.store_id, undrained.out_flags) == ("busy", F.OUTBOUND | F.OUTBOUND_QUEUE)
        # Reported, not dropped.
        stats = spooler.stats("busy")
        assert (stats.sending, stats.queued) == (1, 1)
        assert accounted(stats)
        for call in (spooler.open_store, spooler.submit):
            with pytest.raises(ml.InvalidObjectError):
                call("busy")
        with pytest.raises(ml.InvalidObjectError):
            spooler.close()
    # __exit__ of a closed spooler does nothing more.
    assert spooler.closed


def test_with_closes_the_spooler(recorder):
    with ml.Spooler("with", cross_process=False) as spooler:
        spooler.subscribe(recorder)
        spooler.open_store("box")
    assert spooler.closed
    assert recorder.of("released")[0].detail == "spooler closed"


# --- shared across spoolers and processes ---------------------------------------------------


def test_stores_are_shared_between_spoolers_of_a_profile(tmp_path: Path):
    one = ml.Spooler("profile", runtime_dir=tmp_path)
    two = ml.Spooler("profile", runtime_dir=tmp_path)
    other_profile = ml.Spooler("elsewhere", runtime_dir=tmp_path)
    mine = one.open_store("box")
    theirs = two.open_store("box")
    other_profile.open_store("box")
    make_activity(one, "box", F.OUTBOUND)
    # Shared: this client only; the store stays as it is.
    assert mine.logoff_transports(F.ORDERLY) == F.COMPLETE
    assert one.stats("box").allowed == ALL_GATES
    theirs.release()
    # Alone now: the decision is the table's for an unshared store.
    again = one.open_store("box")
    assert again.logoff_transports(F.QUIET) == F.OUTBOUND
    for s in (one, two, other_profile):
        s.close(0)


CHILD = textwrap.dedent(
    """
    import sys, mapi_logoff
    spooler = mapi_logoff.Spooler("profile", runtime_dir=sys.argv[1])
    store = spooler.open_store("box")
    print("open", flush=True)
    sys.stdin.read()
    """
)


def test_a_store_held_by_another_process_is_shared_until_it_dies(tmp_path: Path):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "open\n"
        with ml.Spooler("profile", runtime_dir=tmp_path) as spooler:
            store = spooler.open_store("box")
            make_activity(spooler, "box", F.INBOUND)
            assert store.logoff_transports(F.QUIET) == F.COMPLETE  # shared
            os.kill(child.pid, signal.SIGKILL)
            child.wait(PATIENCE)
            store = spooler.open_store("box")
            assert store.logoff_transports(F.QUIET) == F.INBOUND  # alone: refused
            spooler.end_receive("box")
    finally:
        child.kill()
        child.wait(PATIENCE)


def test_recorder_is_a_plain_callable(spooler):
    r = Recorder()
    sid = spooler.subscribe(r)
    spooler.open_store("box").release()
    assert r.kinds() == ["decided", "released"]
    assert spooler.unsubscribe(sid)
    assert not spooler.unsubscribe(sid)


def test_store_ids_by_value_whatever_the_str_object(spooler):
    # The binding reuses the UTF-8 bytes of the last id object it converted on a thread:
    # equal ids from other objects, str subclasses and a changed id must all be read anew.
    class Id(str):
        pass

    literal = "box-\u00e9"
    built = "".join(["box-", "\u00e9"])
    assert literal == built
    assert literal is not built
    for store_id in (literal, literal, built, Id(literal), "other", literal):
        store = spooler.open_store(store_id)
        assert store.store_id == str(store_id)
        store.logoff(ml.LogoffFlags.NO_WAIT)
        assert store.release() == 0
    assert sorted(spooler.store_ids()) == sorted([literal, "other"])
    with pytest.raises(ml.InvalidParameterError):
        spooler.open_store("bad-\ud800")
    store = spooler.open_store(literal)
    assert store.store_id == literal
    assert store.release() == 0
