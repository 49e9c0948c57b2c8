"""SPEC section 3 (validation) and section 5 (the Store) through ``Store``."""

from __future__ import annotations

import sys
import threading

import pytest

import mapi_logoff as ml
from conftest import ALL_GATES, MODES, NO_GATES, PATIENCE, Recorder, make_activity, unique

F = ml.LogoffFlags


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list:
    """Exceptions that reached ``sys.unraisablehook``."""
    seen: list = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


# --- reference counting ------------------------------------------------------------------


def test_open_gives_count_one_and_release_to_zero_logs_off(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    assert store.ref_count == 1
    assert store.store_id == "inbox"
    assert store.is_valid
    assert store.add_ref() == 2
    assert store.release() == 1
    assert recorder.events == []
    assert not spooler.stats("inbox").released
    assert store.release() == 0
    assert recorder.kinds() == ["decided", "released"]
    assert spooler.stats("inbox").released
    # A finally released handle: add_ref and release return 0 and do nothing.
    assert store.add_ref() == 0
    assert store.release() == 0
    assert store.ref_count == 0
    assert not store.is_valid
    assert recorder.kinds() == ["decided", "released"]


# --- StoreLogoff -------------------------------------------------------------------------


def test_logoff_saves_the_mode_and_returns_the_activity_without_logging_off(
    spooler, recorder
) -> None:
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", F.INBOUND | F.OUTBOUND_QUEUE)
    written = store.logoff(F.ORDERLY)
    assert written == F.ORDERLY | F.INBOUND | F.OUTBOUND_QUEUE
    assert type(written) is F
    # The binding shares one member per value (as the enum itself does).
    assert written is F(0x2 | 0x20000 | 0x80000)
    assert store.logoff(F.ORDERLY) is written
    assert store.saved_mode == F.ORDERLY
    stats = spooler.stats("inbox")
    assert (stats.released, stats.pending, stats.allowed) == (False, None, ALL_GATES)
    assert recorder.events == []
    # A later call overwrites the saved mode.
    assert store.logoff(F.QUIET) == F.QUIET | F.INBOUND | F.OUTBOUND_QUEUE
    assert store.saved_mode == F.QUIET


def test_logoff_ignores_output_bits_on_input(spooler) -> None:
    store = spooler.open_store("inbox")
    reused = F.COMPLETE | F.INBOUND | F.OUTBOUND | F.OUTBOUND_QUEUE
    assert store.logoff(F.PURGE | reused) == F.PURGE
    assert store.saved_mode == F.PURGE


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (0, ml.InvalidParameterError),
        (F.ORDERLY | F.PURGE, ml.InvalidParameterError),
        (0x1F, ml.InvalidParameterError),
        (0x20, ml.UnknownFlagsError),
        (F.PURGE | 0x100, ml.UnknownFlagsError),
        (0x8000_0000, ml.UnknownFlagsError),
        (0xFFFF_FFFF, ml.UnknownFlagsError),
    ],
)
def test_rejected_logoff_changes_nothing(strict_spooler, flags, error) -> None:
    spooler = strict_spooler
    recorder = Recorder()
    spooler.subscribe(recorder)
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", F.OUTBOUND_QUEUE)
    store.logoff(F.ORDERLY)
    before = spooler.stats("inbox")
    with pytest.raises(error):
        store.logoff(flags)
    with pytest.raises(error):
        store.logoff_transports(flags)
    assert store.saved_mode == F.ORDERLY
    assert spooler.stats("inbox") == before
    assert store.is_valid
    assert store.ref_count == 1
    assert recorder.events == []


@pytest.mark.parametrize(
    ("flags", "mode"),
    [
        (0, F.ABORT),
        (F.PURGE | F.NO_WAIT, F.NO_WAIT),
        (F.PURGE | F.NO_WAIT | F.ORDERLY, F.ORDERLY),
        (F.ORDERLY | F.ABORT, F.ABORT),
        (0x1F, F.QUIET),
        (F.COMPLETE, F.ABORT),
    ],
)
def test_lenient_by_default_picks_the_most_cautious(flags, mode) -> None:
    with ml.Spooler(unique("lenient"), cross_process=False) as s:
        store = s.open_store("inbox")
        assert not store.strict
        assert store.logoff(flags) == mode  # the mode it took, and no activity
        assert store.saved_mode == mode
        with pytest.raises(ml.UnknownFlagsError):
            store.logoff(flags | 0x20)  # leniency never accepts unknown bits
        # StoreLogoffTransports of a lenient spooler is lenient too.
        assert store.logoff_transports(flags) == F.COMPLETE
    # Strict, opted in per spooler, then out again per store.
    with ml.Spooler(unique("strict"), strict=True, cross_process=False) as s:
        store = s.open_store("inbox")
        assert store.strict
        if bin(flags & 0x1F).count("1") != 1:
            with pytest.raises(ml.InvalidParameterError):
                store.logoff(flags)
            assert store.saved_mode is None
        store.set_strict(False)
        store.logoff(flags)
        assert store.saved_mode == mode
        store.set_strict(True)
        store.logoff(F.NO_WAIT)
        assert store.saved_mode == F.NO_WAIT


def test_one_variable_reused_across_stores_logs_each_off_with_its_mode() -> None:
    # MFCMAPI: ulFlags = LOGOFF_NO_WAIT once, then StoreLogoff(&ulFlags) and Release per store.
    with ml.Spooler(unique("mfcmapi"), cross_process=False) as s:
        stores = [s.open_store(name) for name in ("a", "b", "c")]
        s.submit("b")
        flags = F.NO_WAIT
        for store in stores:
            flags = store.logoff(flags)
            assert store.saved_mode == F.NO_WAIT
            store.release()
        assert flags == F.NO_WAIT  # the last store was idle
        # NO_WAIT still sends b's queued message.
        s.begin_send("b")
        s.end_send("b")
        assert s.stats("b").sent == 1
        assert s.stats("b").released


# --- the final release -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_final_release_calls_store_logoff_transports_once_with_the_saved_mode(
    spooler, recorder, mode
) -> None:
    store = spooler.open_store("inbox")
    store.add_ref()
    store.logoff(mode)
    assert store.release() == 1
    assert recorder.events == []
    assert store.release() == 0
    decided = recorder.of("decided")
    assert len(decided) == 1
    assert decided[0].mode == mode
    assert decided[0].decision == ml.decide(mode)
    assert recorder.kinds() == ["decided", "released"]


def test_final_release_without_logoff_is_abort_and_keeps_the_queue(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    spooler.submit("inbox")
    store.release()
    (decided,) = recorder.of("decided")
    assert decided.mode == F.ABORT
    assert decided.out_flags == F.COMPLETE | F.OUTBOUND_QUEUE
    stats = spooler.stats("inbox")
    assert stats.released
    assert stats.queued == 1  # queued messages stay in the outbox
    assert stats.allowed == NO_GATES


def test_logoff_transports_complete_invalidates_the_handle(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    store.add_ref()
    assert store.logoff_transports(F.ORDERLY) == F.COMPLETE
    assert not store.is_valid
    with pytest.raises(ml.InvalidObjectError):
        store.logoff(F.ORDERLY)
    with pytest.raises(ml.InvalidObjectError):
        store.logoff_transports(F.ORDERLY)
    # add_ref and release still work, and the final release calls nothing again.
    assert store.add_ref() == 3
    assert store.release() == 2
    assert store.release() == 1
    assert store.release() == 0
    assert len(recorder.of("decided")) == 1


def test_refused_logoff_transports_keeps_the_handle(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", F.INBOUND)
    assert store.logoff_transports(F.QUIET) == F.INBOUND
    assert store.is_valid
    assert recorder.kinds() == ["refused"]
    assert spooler.stats("inbox").allowed == ALL_GATES


@pytest.mark.parametrize(
    ("mode", "activity", "end"),
    [
        (F.QUIET, F.INBOUND, "end_receive"),
        (F.QUIET, F.OUTBOUND, "end_send"),
        (F.ABORT, F.OUTBOUND, "end_send"),
        (F.ABORT, F.INBOUND | F.OUTBOUND_QUEUE, "end_receive"),
    ],
)
def test_refused_final_release_leaks_nothing(spooler, recorder, mode, activity, end) -> None:
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", activity)
    store.logoff(mode)
    assert store.release() == 0
    assert recorder.kinds() == ["refused", "release_deferred"]
    stats = spooler.stats("inbox")
    # The spooler keeps serving the store unchanged...
    assert (stats.released, stats.allowed, stats.pending) == (False, ALL_GATES, mode)
    # ...and releases it, with an event, once it is idle.
    getattr(spooler, end)("inbox")
    assert recorder.kinds()[-1] == "released"
    assert spooler.stats("inbox").released


def test_refused_quiet_release_waits_for_an_empty_queue_too(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", F.OUTBOUND | F.OUTBOUND_QUEUE)
    store.logoff(F.QUIET)
    store.release()
    spooler.end_send("inbox")
    assert not spooler.stats("inbox").released
    spooler.begin_send("inbox")
    spooler.end_send("inbox")
    assert spooler.stats("inbox").released


def test_exactly_once_under_concurrent_add_ref_release_and_logoff(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    threads = 8
    for _ in range(threads - 1):
        store.add_ref()
    barrier = threading.Barrier(threads)
    counts: list[int] = []

    def client(i: int) -> None:
        barrier.wait()
        for _ in range(200):
            if store.add_ref():
                store.logoff(MODES[i % 2])  # NO_WAIT or ORDERLY: never waits
                store.release()
        counts.append(store.release())

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(PATIENCE)
        assert not w.is_alive()
    assert sorted(counts)[0] == 0
    assert counts.count(0) == 1
    assert len(recorder.of("decided")) == 1
    assert len(recorder.of("released")) == 1


def test_exactly_once_when_logoff_transports_races_the_final_release(spooler, recorder) -> None:
    store = spooler.open_store("inbox")
    make_activity(spooler, "inbox", F.INBOUND)  # QUIET is refused: the handle stays valid
    for _ in range(3):
        store.add_ref()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def logoff() -> None:
        barrier.wait()
        for _ in range(100):
            try:
                store.logoff_transports(F.QUIET)
            except (ml.BusyError, ml.InvalidObjectError):
                pass
            except BaseException as e:
                errors.append(e)

    def release() -> None:
        barrier.wait()
        store.release()

    workers = [threading.Thread(target=logoff) for _ in range(4)]
    workers += [threading.Thread(target=release) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(PATIENCE)
        assert not w.is_alive()
    assert errors == []
    assert store.ref_count == 0
    assert len(recorder.of("release_deferred")) == 1
    spooler.end_receive("inbox")
    assert len(recorder.of("released")) == 1


# --- with ----------------------------------------------------------------------------------


def test_with_releases_on_exit(spooler, recorder) -> None:
    with spooler.open_store("inbox") as store:
        assert store.ref_count == 1
        store.logoff(F.NO_WAIT)
    assert store.ref_count == 0
    assert spooler.stats("inbox").released
    assert recorder.of("decided")[0].mode == F.NO_WAIT


def test_with_releases_when_the_body_raises(spooler) -> None:
    with pytest.raises(KeyError), spooler.open_store("inbox") as store:
        raise KeyError("boom")
    assert store.ref_count == 0
    assert spooler.stats("inbox").released


def test_with_releases_one_reference(spooler) -> None:
    store = spooler.open_store("inbox")
    with store:
        store.add_ref()
    assert store.ref_count == 1
    assert not spooler.stats("inbox").released
    store.release()


def test_a_released_store_raises_invalid_object(spooler) -> None:
    store = spooler.open_store("inbox")
    store.release()
    with pytest.raises(ml.InvalidObjectError):
        store.logoff(F.NO_WAIT)
    with pytest.raises(ml.InvalidObjectError):
        store.logoff_transports(F.NO_WAIT)
    with pytest.raises(ml.InvalidObjectError), store:
        pass
    assert store.saved_mode is None


# --- a caller-supplied Support ---------------------------------------------------------------


class Support:
    """A provider's own IMAPISupport: records calls, answers with a fixed out_flags."""

    def __init__(self, answer: object = F.COMPLETE, activity: int | None = None) -> None:
        self.calls: list[ml.LogoffFlags] = []
        self.answer = answer
        if activity is not None:
            self.activity = lambda: activity

    def store_logoff_transports(self, flags: ml.LogoffFlags) -> int:
        self.calls.append(flags)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer  # type: ignore[return-value]  # wrong on purpose in one test


def test_external_support_gets_the_final_call_once() -> None:
    support = Support()
    store = ml.Store(support)
    assert store.store_id is None
    assert store.logoff(F.PURGE) == F.PURGE  # an external support reports no activity
    store.add_ref()
    assert store.release() == 1
    assert support.calls == []
    assert store.release() == 0
    assert support.calls == [F.PURGE]
    assert type(support.calls[0]) is F


def test_external_support_activity_and_logoff_transports() -> None:
    support = Support(answer=F.OUTBOUND, activity=F.OUTBOUND)
    with ml.Store(support) as store:
        assert store.logoff(F.QUIET) == F.QUIET | F.OUTBOUND
        assert store.logoff_transports(F.QUIET) == F.OUTBOUND  # refused: still valid
        assert store.is_valid
        support.answer = F.COMPLETE
        assert store.logoff_transports(F.QUIET) == F.COMPLETE
        assert not store.is_valid
    # The final release did not call again after COMPLETE.
    assert support.calls == [F.QUIET, F.QUIET]


def test_external_support_exceptions_reach_the_caller_as_raised(unraisable) -> None:
    failure = ml.NoSupportError("no spooler here")
    support = Support(answer=failure)
    store = ml.Store(support)
    with pytest.raises(ml.NoSupportError) as info:
        store.logoff_transports(F.ORDERLY)
    assert info.value is failure
    assert store.is_valid
    support.answer = RuntimeError("provider bug")
    with pytest.raises(RuntimeError, match="provider bug"):
        store.logoff_transports(F.ORDERLY)
    support.answer = "not flags"
    with pytest.raises(TypeError):
        store.logoff_transports(F.ORDERLY)
    assert store.is_valid
    assert unraisable == []
    # The final release has nobody to raise to: the exception goes to sys.unraisablehook.
    support.answer = RuntimeError("at release")
    assert store.release() == 0
    assert [str(u.exc_value) for u in unraisable] == ["at release"]
    assert len(support.calls) == 4


def test_external_support_timeout_carries_out_flags() -> None:
    support = Support(answer=ml.MapiTimeoutError("slow", out_flags=F.COMPLETE | F.OUTBOUND))
    store = ml.Store(support)
    with pytest.raises(ml.MapiTimeoutError) as info:
        store.logoff_transports(F.PURGE)
    assert info.value.out_flags == F.COMPLETE | F.OUTBOUND
    # The answer was COMPLETE: the handle is logged off.
    assert not store.is_valid
    store.release()
    assert len(support.calls) == 1


def test_external_support_bad_activity_reports_nothing(unraisable) -> None:
    store = ml.Store(Support(activity=0x20))
    assert store.logoff(F.ORDERLY) == F.ORDERLY
    assert len(unraisable) == 1
    assert isinstance(unraisable[0].exc_value, ml.UnknownFlagsError)
    store.release()


def test_store_rejects_a_non_support() -> None:
    with pytest.raises(TypeError):
        ml.Store(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ml.Store()  # type: ignore[call-arg]
