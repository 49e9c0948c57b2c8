"""No Python callback runs once the interpreter began shutting down: a script whose PURGE
timed out while a CPU-bound transport still runs ends normally (the exit waits for the
callback to return, as for a non-daemon thread), and a flush asked for after that is
skipped."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import time
    import mapi_logoff as ml

    spooler = ml.Spooler("exit-test", cross_process=False, purge_deadline=0.05)
    calls = []

    def busy(store_id, flags):
        calls.append(store_id)
        end = time.perf_counter() + 0.5
        n = 0
        while time.perf_counter() < end:  # CPU-bound, holding the GIL by turns
            n += 1
        return None

    spooler.add_transport(busy)
    spooler.subscribe(lambda event: None)
    store = spooler.open_store("outbox")
    spooler.submit("outbox")
    try:
        store.logoff_transports(ml.LogoffFlags.PURGE)
    except ml.MapiTimeoutError:
        print("timed out", flush=True)
    """
)


def test_exit_while_a_transport_still_runs_is_clean() -> None:
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert "Fatal Python error" not in out.stderr
        assert out.stdout == "timed out\n"
