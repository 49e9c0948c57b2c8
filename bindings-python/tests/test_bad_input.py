"""Every bad input gives its documented error and changes nothing: wrong types raise
``TypeError``, integers out of range ``OverflowError`` (deadlines ``ValueError``), bad flags
and ids the ``MapiError`` subclass of their HRESULT, a released store or closed spooler
``InvalidObjectError``."""

from __future__ import annotations

import datetime
import enum

import pytest

import mapi_logoff as ml
from conftest import Recorder, make_activity, unique

F = ml.LogoffFlags
WRONG_TYPES = ["4", b"4", 4.0, None, [4], True, object()]
OUT_OF_RANGE = [-1, 2**32, 2**64, -(2**63)]


class Unrelated(enum.IntEnum):
    FOUR = 4


# --- decide --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", WRONG_TYPES, ids=repr)
def test_decide_wrong_types(bad):
    with pytest.raises(TypeError):
        ml.decide(bad)
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, bad)


@pytest.mark.parametrize("bad", [1, 0, "yes", None])
def test_decide_context_must_be_bool(bad):
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, shared=bad)
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, strict=bad)
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, cancellable=bad)


@pytest.mark.parametrize("bad", OUT_OF_RANGE)
def test_decide_out_of_range(bad):
    with pytest.raises(OverflowError):
        ml.decide(bad)
    with pytest.raises(OverflowError):
        ml.decide(F.ORDERLY, bad)


def test_decide_argument_shape():
    with pytest.raises(TypeError):
        ml.decide()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, 0, True)  # type: ignore[misc]  # shared is keyword-only
    with pytest.raises(TypeError):
        ml.decide(F.ORDERLY, context=1)  # type: ignore[call-arg]


def test_decide_accepts_any_int_like():
    assert ml.decide(Unrelated.FOUR) == ml.decide(F.PURGE)


@pytest.mark.parametrize(
    ("flags", "activity", "error"),
    [
        (0, 0, ml.InvalidParameterError),
        (F.ORDERLY | F.QUIET, 0, ml.InvalidParameterError),
        (0x20, 0, ml.UnknownFlagsError),
        (F.ORDERLY, 0x1, ml.UnknownFlagsError),
        (F.ORDERLY, F.COMPLETE, ml.UnknownFlagsError),
    ],
)
def test_decide_bad_flags(flags, activity, error):
    with pytest.raises(error) as info:
        ml.decide(flags, activity, strict=True)
    assert info.value.hresult == error.hresult
    assert info.value.code == error.code


# --- Spooler ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"p", 1, None, ["p"]], ids=repr)
def test_spooler_profile_type(bad):
    with pytest.raises(TypeError):
        ml.Spooler(bad, cross_process=False)


@pytest.mark.parametrize("bad", ["", "\ud800"], ids=repr)
def test_spooler_profile_value(bad):
    with pytest.raises(ml.InvalidParameterError):
        ml.Spooler(bad, cross_process=False)


@pytest.mark.parametrize("option", ["purge_deadline", "close_deadline"])
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (-1, ValueError),
        (-0.5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (1e300, ValueError),
        (datetime.timedelta(seconds=-1), ValueError),
        ("30", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
    ids=repr,
)
def test_spooler_deadlines(option, bad, error):
    with pytest.raises(error):
        ml.Spooler(unique("p"), cross_process=False, **{option: bad})


def test_spooler_options_types():
    with pytest.raises(TypeError):
        ml.Spooler(unique("p"), cross_process=1)
    with pytest.raises(TypeError):
        ml.Spooler(unique("p"), strict="yes")
    with pytest.raises(TypeError):
        ml.Spooler(unique("p"), runtime_dir=5)
    with pytest.raises(TypeError):
        ml.Spooler(unique("p"), 30.0)  # type: ignore[misc]  # options are keyword-only
    with pytest.raises(TypeError):
        ml.Spooler(unique("p"), bogus=1)  # type: ignore[call-arg]


def test_a_runtime_dir_that_is_a_file_is_no_access(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ml.NoAccessError) as raised:
        ml.Spooler(unique("p"), runtime_dir=blocker)
    assert str(blocker) in str(raised.value), "the message names the path"
    assert "MAPI_LOGOFF_RUNTIME_DIR" in str(raised.value), "and the fix"
    assert blocker.read_text() == "not a directory", "and nothing was touched"


def test_a_runtime_dir_open_to_others_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(ml.NoAccessError) as raised:
        ml.Spooler(unique("p"), runtime_dir=shared)
    assert "chmod 700" in str(raised.value)
    assert list(shared.iterdir()) == [], "an unsafe place is never used"


def test_set_purge_deadline_rejects_and_keeps(spooler):
    spooler.set_purge_deadline(5)
    for bad, error in [(-1, ValueError), (float("nan"), ValueError), ("5", TypeError)]:
        with pytest.raises(error):
            spooler.set_purge_deadline(bad)
    assert spooler.purge_deadline == 5.0


STORE_ID_CALLS = [
    "open_store",
    "submit",
    "begin_send",
    "end_send",
    "begin_receive",
    "end_receive",
    "activity",
    "stats",
]


@pytest.mark.parametrize("method", STORE_ID_CALLS)
def test_store_id_errors_change_nothing(spooler, method):
    spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND | F.INBOUND)
    before = spooler.stats("box")
    call = getattr(spooler, method)
    for bad in [None, b"box", 7, ["box"]]:
        with pytest.raises(TypeError):
            call(bad)
    for bad in ["", "\udc80"]:
        with pytest.raises(ml.InvalidParameterError):
            call(bad)
    assert spooler.stats("box") == before
    assert spooler.store_ids() == ["box"]


def test_end_send_sent_must_be_bool(spooler):
    make_activity(spooler, "box", F.OUTBOUND)
    before = spooler.stats("box")
    for bad in [1, 0, "no", None]:
        with pytest.raises(TypeError):
            spooler.end_send("box", bad)
    assert spooler.stats("box") == before


def test_callbacks_must_be_callable(spooler):
    class NotATransport:
        flush_queues = 5

    for bad in [None, 5, "f", object(), NotATransport()]:
        with pytest.raises(TypeError):
            spooler.add_transport(bad)
        with pytest.raises(TypeError):
            spooler.subscribe(bad)


@pytest.mark.parametrize("method", ["remove_transport", "unsubscribe"])
def test_registration_ids(spooler, method):
    call = getattr(spooler, method)
    assert call(12345) is False
    with pytest.raises(OverflowError):
        call(-1)
    with pytest.raises(OverflowError):
        call(2**64)
    with pytest.raises(TypeError):
        call("1")


def test_close_deadline_argument(spooler):
    with pytest.raises(ValueError):  # noqa: PT011
        spooler.close(-1)
    with pytest.raises(TypeError):
        spooler.close("0")
    assert not spooler.closed


def test_a_closed_spooler_is_invalid_object(spooler):
    store = spooler.open_store("box")
    spooler.close(0)
    for method in ["open_store", "submit", "begin_send", "begin_receive"]:
        with pytest.raises(ml.InvalidObjectError):
            getattr(spooler, method)("box")
    with pytest.raises(ml.InvalidObjectError):
        spooler.close()
    # The store was logged off by the close.
    assert spooler.stats("box").released
    with pytest.raises(ml.InvalidObjectError):
        store.logoff_transports(F.ORDERLY)


# --- Store -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["logoff", "logoff_transports"])
def test_store_flags_errors_change_nothing(strict_spooler, method):
    spooler = strict_spooler
    recorder = Recorder()
    spooler.subscribe(recorder)
    store = spooler.open_store("box")
    make_activity(spooler, "box", F.OUTBOUND_QUEUE)
    store.logoff(F.NO_WAIT)
    before = spooler.stats("box")
    call = getattr(store, method)
    for bad in WRONG_TYPES:
        with pytest.raises(TypeError):
            call(bad)
    for bad in OUT_OF_RANGE:
        with pytest.raises(OverflowError):
            call(bad)
    for bad, error in [(0, ml.InvalidParameterError), (0x40, ml.UnknownFlagsError)]:
        with pytest.raises(error):
            call(bad)
    assert store.saved_mode == F.NO_WAIT
    assert (store.ref_count, store.is_valid) == (1, True)
    assert spooler.stats("box") == before
    assert recorder.events == []


def test_set_strict_must_be_bool(spooler):
    store = spooler.open_store("box")
    with pytest.raises(TypeError):
        store.set_strict(1)
    assert store.logoff(0) == F.ABORT  # still lenient
    with pytest.raises(TypeError):
        ml.Store(object(), strict=1)


def test_a_released_store_is_invalid_object(spooler):
    store = spooler.open_store("box")
    store.logoff(F.ORDERLY)
    assert store.release() == 0
    for method in ["logoff", "logoff_transports"]:
        with pytest.raises(ml.InvalidObjectError) as info:
            getattr(store, method)(F.ORDERLY)
        assert info.value.hresult == 0x8004_0108
    with pytest.raises(ml.InvalidObjectError), store:
        pass
    # Type errors are still type errors on a released store.
    with pytest.raises(TypeError):
        store.logoff("x")
    assert store.saved_mode == F.ORDERLY


def test_the_classes_cannot_be_subclassed_or_mutated(spooler):
    with pytest.raises(TypeError):

        class MySpooler(ml.Spooler):  # type: ignore[misc]
            pass

    with pytest.raises(AttributeError):
        spooler.profile = "other"  # type: ignore[misc]
    store = spooler.open_store("box")
    with pytest.raises(AttributeError):
        store.ref_count = 5  # type: ignore[misc]
    assert store.ref_count == 1
