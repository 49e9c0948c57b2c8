"""Fault injection through the Python binding: a transport whose flush never finishes (PURGE
raises MapiTimeoutError at the deadline, the store is released once its transfers end),
raising transports and subscribers under threads (nothing lost, every store released), and a
process killed with SIGKILL in the middle of a PURGE while it holds stores in a shared profile.
docs/reliability.md lists every fault test per language."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import mapi_logoff as ml
from conftest import PATIENCE, Recorder, accounted, make_activity, unique

F = ml.LogoffFlags


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


class StuckTransport:
    """A transport whose flush blocks until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()
        self.returned = threading.Event()

    def flush_queues(self, store_id: str, flags: ml.FlushFlags) -> None:
        self.entered.set()
        self.go.wait(PATIENCE)
        self.returned.set()


def test_a_flush_that_never_finishes_times_out_and_the_store_is_released_once_drained():
    spooler = ml.Spooler(unique("faults"), cross_process=False, purge_deadline=0.05)
    recorder = Recorder()
    spooler.subscribe(recorder)
    stuck = StuckTransport()
    spooler.add_transport(stuck)
    try:
        store = spooler.open_store("box")
        make_activity(spooler, "box", F.OUTBOUND | F.INBOUND)
        with pytest.raises(ml.MapiTimeoutError) as info:
            store.logoff_transports(F.PURGE)
        assert info.value.out_flags == F.COMPLETE | F.OUTBOUND | F.INBOUND
        assert stuck.entered.wait(PATIENCE)  # the flush thread may start late
        assert not stuck.returned.is_set()
        stats = spooler.stats("box")
        assert (stats.released, stats.pending, stats.allowed) == (False, F.NO_WAIT, F.OUTBOUND)
        # The transfers end while the flush is still stuck: the store is released.
        spooler.end_receive("box")
        spooler.end_send("box")
        stats = spooler.stats("box")
        assert (stats.released, stats.clients, stats.pending) == (True, 0, None)
        assert accounted(stats)
        assert (stats.sent, stats.received) == (1, 1)
        assert recorder.kinds("box").count("timed_out") == 1
        assert recorder.kinds("box").count("released") == 1
    finally:
        stuck.go.set()
    assert stuck.returned.wait(PATIENCE)
    spooler.close(0)


def test_a_final_release_purge_with_a_stuck_flush_returns_and_releases_once_drained():
    spooler = ml.Spooler(unique("faults"), cross_process=False, purge_deadline=0.02)
    recorder = Recorder()
    spooler.subscribe(recorder)
    stuck = StuckTransport()
    spooler.add_transport(stuck)
    try:
        store = spooler.open_store("box")
        make_activity(spooler, "box", F.INBOUND)
        store.logoff(F.PURGE)
        assert store.release() == 0  # returns at the deadline: nothing to raise it in
        recorder.wait_for(lambda events: any(e.kind == "timed_out" for e in events))
        assert spooler.stats("box").pending == F.NO_WAIT
        spooler.end_receive("box")
        assert spooler.stats("box").released
    finally:
        stuck.go.set()
    assert stuck.returned.wait(PATIENCE)
    spooler.close(0)


def test_failing_and_stuck_transports_together_stop_nothing(unraisable):
    spooler = ml.Spooler(unique("faults"), cross_process=False, purge_deadline=0.02)
    recorder = Recorder()
    spooler.subscribe(recorder)
    calls: list[str] = []

    def raising(store_id: str, flags: ml.FlushFlags) -> None:
        calls.append("raising")
        raise RuntimeError("transport on fire")

    def refusing(store_id: str, flags: ml.FlushFlags) -> None:
        calls.append("refusing")
        raise ml.NoSupportError()

    stuck = StuckTransport()
    spooler.add_transport(raising)
    spooler.add_transport(stuck)
    spooler.add_transport(refusing)
    try:
        store = spooler.open_store("idle")
        # An idle store is released at once; the PURGE still reports the flush it could not
        # wait for.
        with pytest.raises(ml.MapiTimeoutError) as info:
            store.logoff_transports(F.PURGE)
        assert info.value.out_flags == F.COMPLETE
        assert spooler.stats("idle").released
        assert stuck.entered.wait(PATIENCE)
        assert calls == ["raising"]  # the third waits behind the stuck one
    finally:
        stuck.go.set()
    recorder.wait_for(lambda events: sum(e.kind == "flush_failed" for e in events) == 2)
    assert calls == ["raising", "refusing"]
    details = [e.detail for e in recorder.of("flush_failed")]
    assert any("MAPI_E_CALL_FAILED" in (d or "") for d in details), details
    assert any("MAPI_E_NO_SUPPORT" in (d or "") for d in details), details
    assert [type(u.exc_value) for u in unraisable] == [RuntimeError]  # the bug is shown
    spooler.close(0)


def test_raising_callbacks_under_threads_lose_nothing_and_release_every_store(unraisable):
    spooler = ml.Spooler(unique("faults"), cross_process=False, purge_deadline=0.001)
    recorder = Recorder()
    spooler.subscribe(recorder)

    def raising_subscriber(event: ml.Event) -> None:
        raise RuntimeError("observer on fire")

    def raising_transport(store_id: str, flags: ml.FlushFlags) -> None:
        raise ValueError("transport on fire")

    spooler.subscribe(raising_subscriber)
    spooler.add_transport(raising_transport)
    spooler.add_transport(lambda store_id, flags: spooler.stats(store_id))  # re-enters
    ids = [f"s{i}" for i in range(6)]
    opens = {i: 0 for i in ids}
    lock = threading.Lock()
    expected = (ml.NoAccessError, ml.NotFoundError, ml.InvalidObjectError, ml.MapiTimeoutError)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        held: list[ml.Store] = []
        try:
            for _ in range(400):
                sid = rng.choice(ids)
                pick = rng.randrange(20)
                try:
                    if pick < 2:
                        held.append(spooler.open_store(sid))
                        with lock:
                            opens[sid] += 1
                    elif pick < 4 and held:
                        s = held.pop(rng.randrange(len(held)))
                        s.logoff(rng.choice(list(F)[:5]))
                        assert s.release() == 0
                    elif pick < 5 and held:
                        held[rng.randrange(len(held))].logoff_transports(rng.choice(list(F)[:5]))
                    elif pick < 9:
                        spooler.submit(sid)
                    elif pick < 12:
                        spooler.begin_send(sid)
                    elif pick < 15:
                        spooler.end_send(sid, rng.randrange(8) != 0)
                    elif pick < 17:
                        spooler.begin_receive(sid)
                    else:
                        spooler.end_receive(sid)
                except expected:
                    pass
            for s in held:
                assert s.release() == 0
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(PATIENCE)
    assert errors == []
    # Drain: end every transfer, then send what the pending logoffs wait for.
    for sid in ids:
        stats = spooler.stats(sid)
        for _ in range(stats.sending):
            spooler.end_send(sid)
        for _ in range(stats.receiving):
            spooler.end_receive(sid)
        while spooler.stats(sid).pending is not None:
            spooler.begin_send(sid)
            spooler.end_send(sid)
    for sid in ids:
        stats = spooler.stats(sid)
        assert accounted(stats), stats
        assert (stats.clients, stats.pending, stats.sending, stats.receiving) == (0, None, 0, 0), (
            stats
        )
        assert recorder.kinds(sid).count("released") == opens[sid], sid
    assert any(isinstance(u.exc_value, RuntimeError) for u in unraisable), "the subscriber raised"
    spooler.close(0)


CHILD = textwrap.dedent(
    """
    import sys, threading, mapi_logoff as ml
    F = ml.LogoffFlags
    spooler = ml.Spooler("profile", runtime_dir=sys.argv[1], purge_deadline=3600)
    spooler.add_transport(lambda store_id, flags: threading.Event().wait())  # never returns
    calm = spooler.open_store("calm")
    busy = spooler.open_store("busy")
    spooler.begin_receive("busy")
    print("open", flush=True)
    busy.logoff_transports(F.PURGE)  # waits (an hour) until it is killed
    """
)


def test_a_process_killed_inside_a_purge_no_longer_shares_its_stores(tmp_path: Path):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "open\n"
        with ml.Spooler("profile", runtime_dir=tmp_path) as spooler:
            for sid in ("calm", "busy"):
                store = spooler.open_store(sid)
                make_activity(spooler, sid, F.INBOUND)
                assert store.logoff_transports(F.QUIET) == F.COMPLETE, sid  # shared
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(PATIENCE) == -signal.SIGKILL
            for sid in ("calm", "busy"):
                store = spooler.open_store(sid)
                assert store.logoff_transports(F.QUIET) == F.INBOUND, sid  # alone: refused
                spooler.end_receive(sid)
                assert store.release() == 0
                assert spooler.stats(sid).released, sid
    finally:
        child.kill()
        child.wait(PATIENCE)
