"""The reaper of ``devenv.process`` signals only the groups it should: never a group number the
kernel has handed to another process since (a component killed without :func:`process.kill`),
never a forked parent's components when the fork exits, and ``nohup`` keeps its meaning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.support.kube import OperatorProcess
from tests.support.procs import running as _running

from uplift_operator.devenv import process

OPERATOR = Path(__file__).resolve().parents[3] / "operator"
ENV = {**os.environ, "PYTHONPATH": str(OPERATOR)}
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)


def test_an_operator_killed_directly_is_unregistered(tmp_path: Path) -> None:
    """OperatorProcess.kill (20 kills in test_failover) leaves no number to the reaper."""
    operator = OperatorProcess(tmp_path / "kubeconfig", tmp_path)
    operator.proc = process.start(["sleep", "300"], log=tmp_path / "op.log")
    pid = operator.proc.pid
    assert pid in process.REAPER._groups
    operator.kill()
    assert operator.proc is None
    assert pid not in process.REAPER._groups
    assert not _running(pid)


def test_a_component_that_exits_while_starting_is_unregistered(tmp_path: Path) -> None:
    """``wait_until`` reaped it (start() then raises): its number is free for the kernel."""
    proc = process.start(["sh", "-c", "exit 3"], log=tmp_path / "fails.log")
    with pytest.raises(RuntimeError, match="exited with 3"):
        process.wait_until(lambda: False, timeout=10, what="fails", proc=proc)
    assert proc.pid not in process.REAPER._groups


def test_start_time_is_field_22_of_proc_stat() -> None:
    if not Path("/proc/self/stat").exists():
        assert process.start_time(os.getpid()) == ""
        return
    stat = Path(f"/proc/{os.getpid()}/stat").read_text()
    assert process.start_time(os.getpid()) == stat.rsplit(")", 1)[1].split()[19]
    assert process.start_time(2**22 + 7) == ""  # beyond pid_max's default: no such process


# A parent that registers two foreign groups and then dies by SIGKILL: one with its leader's
# true start time (the reaper must stop it), one with another start time, as when the leader
# was killed and reaped without unregistering and the kernel gave its number to an unrelated
# process (which the reaper must leave alone).
REUSED = r"""
import subprocess, sys
from uplift_operator.devenv import process
ours = subprocess.Popen(["sleep", "300"], start_new_session=True)
other = subprocess.Popen(["sleep", "300"], start_new_session=True)
process.REAPER.register(ours.pid)
real = process.start_time
process.start_time = lambda pid: str(int(real(pid)) - 1)
process.REAPER.register(other.pid)
print(ours.pid, other.pid, flush=True)
sys.stdin.read()
"""


@needs_proc
def test_a_reused_group_number_is_not_signalled(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", REUSED], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ENV)
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(word) for word in parent.stdout.readline().split()]
        ours, other = pids
        parent.kill()
        parent.wait(timeout=10)
        assert _wait_gone(ours, 15), "the registered group was not stopped"
        time.sleep(0.5)  # the watcher is done with its TERM round
        assert _running(other), "a group whose leader started at another time was signalled"
    finally:
        for pid in pids:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# A parent with a component forks; the child starts and stops one of its own and exits.
FORK = r"""
import os, sys
from pathlib import Path
from uplift_operator.devenv import process
log = Path(sys.argv[1])
mine = process.start(["sleep", "300"], log=log)
watcher = process.REAPER.watcher_pid
pid = os.fork()
if pid == 0:
    inherited = dict(process.REAPER._groups), process.REAPER._fd
    own = process.start(["sleep", "300"], log=log)
    fresh = process.REAPER.watcher_pid != watcher and set(process.REAPER._groups) == {own.pid}
    process.stop(own, grace=2)
    os._exit(0 if inherited == ({}, None) and fresh else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), mine.pid, flush=True)
sys.stdin.read()
process.stop(mine, grace=2)
"""


@needs_proc
def test_a_fork_does_not_inherit_the_parents_groups(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", FORK, str(tmp_path / "c.log")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    component = 0
    try:
        assert parent.stdout is not None and parent.stdin is not None
        code, component = (int(word) for word in parent.stdout.readline().split())
        assert code == 0, "the fork saw the parent's groups or the parent's pipe"
        time.sleep(1.0)  # the child's watcher (its parent gone) has had time to act
        assert _running(component), "the fork's exit stopped the parent's component"
        parent.kill()  # and the parent's own watcher still sees its death
        parent.wait(timeout=10)
        assert _wait_gone(component, 15), "the parent's component outlived the parent"
    finally:
        if component and _running(component):
            os.kill(component, signal.SIGKILL)
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_sighup_is_not_a_stop_signal_under_nohup() -> None:
    every = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        assert process.stop_signals(every) == (signal.SIGINT, signal.SIGTERM)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        assert process.stop_signals(every) == every
    finally:
        signal.signal(signal.SIGHUP, before)


# `controlplane up` (nothing started) with SIGHUP ignored as nohup leaves it: a SIGHUP does not
# stop it, the SIGTERM sent later does.
NOHUP = r"""
import os, signal, sys, threading, time
from uplift_operator.devenv import controlplane as cp

class Stub:
    def __init__(self, **_): self.server, self.workdir = "https://stub", "/tmp/stub"
    admin_kubeconfig = operator_kubeconfig = "/tmp/stub"; pids = {}; timings = {"total": 0.0}
    def start(self): return self
    def check_alive(self): pass
    def stop(self): pass

cp.ControlPlane = Stub
signal.signal(signal.SIGHUP, signal.SIG_IGN)
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGHUP)).start()
threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
began = time.monotonic()
code = cp.main(["up", "--json"])
print("RESULT", code, round(time.monotonic() - began, 1), flush=True)
"""


def test_controlplane_up_runs_on_after_sighup_under_nohup() -> None:
    out = subprocess.run([sys.executable, "-c", NOHUP], capture_output=True, text=True,
                         env=ENV, timeout=30, check=False).stdout
    result = [line.split() for line in out.splitlines() if line.startswith("RESULT")]
    assert result, out
    _, code, seconds = result[0]
    assert code == "0" and float(seconds) >= 1.8, out
