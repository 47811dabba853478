"""``devenv.process.start``: a component does not outlive the process that started it, however
that process dies (SIGKILL of a CI job, the terminal's SIGHUP, pytest's unhandled SIGTERM), and
is not stopped when the thread that started it ends (the demo starts MLflow, Prometheus and each
MLServer from short-lived threads)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.procs import running as _running

from uplift_operator.devenv import process

OPERATOR = Path(__file__).resolve().parents[3] / "operator"

# The parent: starts a component from a thread that then ends (a shell with a grandchild in
# its group, as MLflow's CLI runs uvicorn), prints both pids and waits to be killed.
# SIGHUP back to its default first: a suite run under nohup (or any parent ignoring it) passes
# the ignored disposition down, and the parent would then outlive the terminal's SIGHUP.
PARENT = r"""
import signal, sys, threading, time
from pathlib import Path
from uplift_operator.devenv import process

signal.signal(signal.SIGHUP, signal.SIG_DFL)

log = Path(sys.argv[1])
started = []
thread = threading.Thread(target=lambda: started.append(process.start(
    ["sh", "-c", "sleep 300 & echo $!; wait"], log=log)))
thread.start()
thread.join()
while not log.read_text().strip():
    time.sleep(0.05)
print(started[0].pid, log.read_text().strip(), flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM])
def test_a_component_and_its_children_stop_when_the_parent_dies(
        tmp_path: Path, sig: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "component.log")], stdout=subprocess.PIPE,
        text=True, start_new_session=True, env={**os.environ, "PYTHONPATH": str(OPERATOR)})
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(word) for word in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
        time.sleep(0.5)  # the starting thread has ended: the component runs on
        assert all(_running(pid) for pid in pids)

        os.killpg(parent.pid, sig)  # the parent's own group, as a terminal or a CI job does
        parent.wait(timeout=60)   # a loaded CI machine
        deadline = time.monotonic() + 15
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in pids), f"left running: {pids}"
    finally:
        for pid in pids:  # only ours, should the test fail
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_component_stopped_in_time_is_no_longer_the_reapers(tmp_path: Path) -> None:
    """The reaper forgets a group :func:`process.stop` stopped: it never signals a group whose
    number the kernel may have handed to someone else since."""
    proc = process.start(["sleep", "300"], log=tmp_path / "sleep.log")
    assert proc.pid in process.REAPER._groups
    assert proc.poll() is None
    process.stop(proc, grace=5)
    assert proc.returncode is not None
    assert proc.pid not in process.REAPER._groups
