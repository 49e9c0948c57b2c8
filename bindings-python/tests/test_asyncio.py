"""The coroutine forms of the waiting calls: they give the same results as the blocking calls,
never hold up the event loop, and a cancelled one still completes in its worker thread."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Callable

import pytest

import mapi_logoff as ml
from conftest import PATIENCE, Recorder, make_activity, unique

F = ml.LogoffFlags
# Short enough that a coroutine blocking the loop fails in seconds, not minutes: the work that
# lets the wait end runs on the loop, so a blocked loop means the PURGE runs into its deadline.
DEADLINE = 5.0


async def until(predicate: Callable[[], bool]) -> None:
    """Polls on the loop (never blocking it) until the predicate holds."""
    end = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < end, "condition never came"
        await asyncio.sleep(0.001)


def decided(recorder: Recorder, store_id: str) -> Callable[[], bool]:
    return lambda: recorder.of("decided", store_id) != []


def test_they_are_coroutine_functions() -> None:
    for function in (
        ml.Store.release_async,
        ml.Store.logoff_transports_async,
        ml.Spooler.close_async,
    ):
        assert inspect.iscoroutinefunction(function), function
    assert list(inspect.signature(ml.Store.logoff_transports_async).parameters) == [
        "self",
        "flags",
    ]


def test_release_async_waits_for_a_purge_without_blocking_the_loop() -> None:
    async def main() -> None:
        recorder = Recorder()
        with ml.Spooler(unique("arel"), cross_process=False, purge_deadline=DEADLINE) as sp:
            sp.subscribe(recorder)
            store = sp.open_store("box")
            make_activity(sp, "box", F.OUTBOUND_QUEUE)
            store.logoff(F.PURGE)
            releasing = asyncio.ensure_future(store.release_async())
            # Runs on the loop while the release waits for the queue to drain.
            await until(decided(recorder, "box"))
            assert not releasing.done()
            sp.begin_send("box")
            sp.end_send("box")
            assert await releasing == 0
            assert sp.stats("box").released
            assert recorder.of("timed_out") == []

    asyncio.run(main())


def test_logoff_transports_async_gives_the_out_flags_and_times_out_like_the_blocking_call() -> (
    None
):
    async def main() -> None:
        recorder = Recorder()
        with ml.Spooler(unique("alt"), cross_process=False, purge_deadline=DEADLINE) as sp:
            sp.subscribe(recorder)
            store = sp.open_store("box")
            make_activity(sp, "box", F.INBOUND)
            purging = asyncio.ensure_future(store.logoff_transports_async(F.PURGE))
            await until(decided(recorder, "box"))
            sp.end_receive("box")
            assert await purging == F.COMPLETE | F.INBOUND
            assert not store.is_valid

        with ml.Spooler(unique("alt2"), cross_process=False, purge_deadline=0.05) as sp:
            store = sp.open_store("box")
            make_activity(sp, "box", F.INBOUND)
            with pytest.raises(ml.MapiTimeoutError):
                await store.logoff_transports_async(F.PURGE)
            sp.end_receive("box")

    asyncio.run(main())


def test_close_async_waits_without_blocking_the_loop() -> None:
    async def main() -> None:
        sp = ml.Spooler(unique("aclose"), cross_process=False, close_deadline=DEADLINE)
        sp.open_store("box")
        make_activity(sp, "box", F.INBOUND)
        closing = asyncio.ensure_future(sp.close_async())
        await until(lambda: sp.stats("box").pending == F.ORDERLY)
        sp.end_receive("box")
        report = await closing
        assert report.released == ["box"]
        assert report.undrained == []
        assert sp.closed

    asyncio.run(main())


def test_a_cancelled_coroutine_still_completes_its_call() -> None:
    async def main() -> None:
        recorder = Recorder()
        with ml.Spooler(unique("acancel"), cross_process=False, purge_deadline=PATIENCE) as sp:
            sp.subscribe(recorder)
            store = sp.open_store("box")
            make_activity(sp, "box", F.OUTBOUND_QUEUE)
            purging = asyncio.ensure_future(store.logoff_transports_async(F.PURGE))
            await until(decided(recorder, "box"))
            purging.cancel()
            with pytest.raises(asyncio.CancelledError):
                await purging
            # The logoff was decided and goes on: draining the queue releases the store.
            sp.begin_send("box")
            sp.end_send("box")
            # The worker thread invalidates the handle once StoreLogoffTransports answered.
            await until(lambda: not store.is_valid)
            assert sp.stats("box").released
            assert recorder.of("timed_out") == []

    asyncio.run(main())
