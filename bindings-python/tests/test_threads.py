"""Calls that wait release the GIL. Each test has Python threads blocked inside a waiting
call while another Python thread does the work that ends the wait: had a waiting call kept
the GIL, that thread could never run and the wait would end only at its deadline (a
``MapiTimeoutError`` or a report of undrained stores, and the test fails)."""

from __future__ import annotations

import threading
import time

import pytest

import mapi_logoff as ml
from conftest import PATIENCE, Recorder, make_activity, unique

F = ml.LogoffFlags


def run(target, *args) -> tuple[threading.Thread, dict]:
    """Starts ``target`` on a thread; the dict receives its result or exception."""
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["result"] = target(*args)
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=body)
    t.start()
    return t, outcome


def joined(t: threading.Thread, outcome: dict):
    t.join(PATIENCE)
    assert not t.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def test_two_purges_at_once_while_a_third_thread_ends_the_transfers():
    recorder = Recorder()
    flushed = []
    with ml.Spooler(unique("purge"), cross_process=False, purge_deadline=PATIENCE) as spooler:
        spooler.subscribe(recorder)
        # A Python transport runs on each purging thread: it needs the GIL back.
        spooler.add_transport(lambda store_id, flags: flushed.append(store_id))
        stores = {}
        for sid in ("a", "b"):
            stores[sid] = spooler.open_store(sid)
            make_activity(spooler, sid, F.OUTBOUND | F.INBOUND)

        purges = {sid: run(stores[sid].logoff_transports, F.PURGE) for sid in stores}

        def end_transfers() -> None:
            # Both PURGEs are decided and waiting for their store to drain.
            recorder.wait_for(
                lambda evs: {e.store_id for e in evs if e.kind == "decided"} == {"a", "b"}
            )
            for sid in stores:
                assert spooler.stats(sid).pending == F.PURGE
                spooler.end_send(sid)
                spooler.end_receive(sid)

        ender = run(end_transfers)
        joined(*ender)
        for sid, purge in purges.items():
            assert joined(*purge) == F.COMPLETE | F.OUTBOUND | F.INBOUND, sid
            assert spooler.stats(sid).released
        assert sorted(flushed) == ["a", "b"]
        assert recorder.of("timed_out") == []


# A release after NO_WAIT keeps the GIL (it returns at once); the last logoff decides.
@pytest.mark.parametrize(
    "logoffs", [[F.PURGE], [F.NO_WAIT, F.PURGE]], ids=["purge", "no-wait-then-purge"]
)
def test_a_release_that_triggers_a_purge_waits_without_the_gil(logoffs):
    recorder = Recorder()
    with ml.Spooler(unique("release"), cross_process=False, purge_deadline=PATIENCE) as spooler:
        spooler.subscribe(recorder)
        store = spooler.open_store("box")
        make_activity(spooler, "box", F.OUTBOUND_QUEUE)
        for mode in logoffs:
            store.logoff(mode)
        releasing = run(store.release)
        recorder.wait_for(lambda evs: any(e.kind == "decided" for e in evs))
        # This thread runs Python while the release waits: send what is queued.
        spooler.begin_send("box")
        spooler.end_send("box")
        assert joined(*releasing) == 0
        assert spooler.stats("box").released
        assert recorder.of("timed_out") == []


def test_a_no_wait_release_runs_python_callbacks_on_its_own_thread():
    seen = []

    class Support:
        def store_logoff_transports(self, flags):
            seen.append(("support", threading.get_ident(), int(flags)))
            return F.COMPLETE

    store = ml.Store(Support())
    store.logoff(F.NO_WAIT)
    assert store.release() == 0
    assert seen == [("support", threading.get_ident(), int(F.NO_WAIT))]
    with ml.Spooler(unique("events"), cross_process=False) as spooler:
        spooler.subscribe(lambda e: seen.append((e.kind, threading.get_ident())))
        store = spooler.open_store("box")
        store.logoff(F.ORDERLY)
        assert store.release() == 0
        assert ("released", threading.get_ident()) in seen


def test_close_waits_without_the_gil():
    with ml.Spooler(unique("close"), cross_process=False, close_deadline=PATIENCE) as spooler:
        spooler.open_store("box")
        make_activity(spooler, "box", F.INBOUND)
        closing = run(spooler.close)
        # The close marks the store ORDERLY before it waits.
        deadline = time.monotonic() + PATIENCE
        while spooler.stats("box").pending != F.ORDERLY:
            assert time.monotonic() < deadline
            time.sleep(0.001)
        spooler.end_receive("box")
        report = joined(*closing)
        assert report.released == ["box"]
        assert report.undrained == []


def test_many_threads_report_activity_concurrently():
    with ml.Spooler(unique("busy"), cross_process=False) as spooler:
        spooler.open_store("box")

        def transport(n: int) -> None:
            for _ in range(n):
                spooler.submit("box")
                spooler.begin_send("box")
                spooler.end_send("box")
                spooler.begin_receive("box")
                spooler.end_receive("box")

        workers = [run(transport, 300) for _ in range(6)]
        for w in workers:
            joined(*w)
        s = spooler.stats("box")
        assert (s.submitted, s.sent, s.queued, s.sending) == (1800, 1800, 0, 0)
        assert (s.receptions, s.received, s.receiving) == (1800, 1800, 0)
