"""``devenv.process.start``: a stop signal (Ctrl-C, SIGTERM, SIGHUP) that comes between the
child's start and its registration with the reaper waits for the registration. It used to be
handled there at once: the demo's handler raised, ``start`` never registered the child, nobody
knew its pid, and it outlived the demo."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.devenv import process


class _StopError(Exception):
    pass


@contextlib.contextmanager
def _handler(sig: signal.Signals) -> Iterator[list[int]]:
    """``sig``'s handler raises ``_StopError`` (as the demo's does), each call noted."""
    calls: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        calls.append(signum)
        raise _StopError(signal.Signals(signum).name)

    old = signal.signal(sig, stop)
    try:
        yield calls
    finally:
        signal.signal(sig, old)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_right_after_the_start_waits_for_the_registration(
        sig: signal.Signals, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registered: list[int] = []
    monkeypatch.setattr(process, "REAPER", SimpleNamespace(register=registered.append,
                                                           unregister=lambda pid: None))
    real = subprocess.Popen
    started: list[int] = []

    def popen_then_signal(*args: Any, **kwargs: Any) -> Any:
        proc = real(*args, **kwargs)
        started.append(proc.pid)
        os.kill(os.getpid(), sig)  # the signal comes right after the start
        time.sleep(0.05)  # its handler would run here
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_signal)  # what process.start calls
    try:
        with _handler(sig) as calls, pytest.raises(_StopError):
            process.start(["sleep", "30"], log=tmp_path / "sleep.log")
        assert calls == [sig]  # delivered once, after the registration
        assert registered == started  # the reaper knows the child
    finally:
        for pid in started:
            _kill(pid)


def test_a_signal_that_came_in_the_block_is_delivered_once_after_it() -> None:
    held: list[int] = []

    def block() -> None:
        with process.deferred_signals([signal.SIGINT]):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            held.extend(calls)

    with _handler(signal.SIGINT) as calls:
        with pytest.raises(_StopError):
            block()
        assert held == [] and calls == [signal.SIGINT]


def test_an_ignored_signal_stays_ignored() -> None:
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with process.deferred_signals([signal.SIGHUP]):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


def test_outside_the_main_thread_it_changes_nothing() -> None:
    seen: list[Any] = []

    def run() -> None:
        try:
            with process.deferred_signals(process.STOP_SIGNALS):
                seen.append(signal.getsignal(signal.SIGINT))
        except Exception as error:  # signal.signal there: ValueError
            seen.append(error)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]


@pytest.mark.skipif(not Path("/proc/thread-self/status").exists(), reason="reads /proc")
def test_the_child_does_not_start_with_stop_signals_blocked(tmp_path: Path) -> None:
    # A mask (pthread_sigmask) around the start would be inherited: the child's SIGTERM
    # blocked, process.stop's SIGTERM lost until the SIGKILL a grace later.
    def blocked(status: str) -> str:
        return next(line for line in status.splitlines() if line.startswith("SigBlk:"))

    log = tmp_path / "status.log"
    proc = process.start(["cat", "/proc/self/status"], log=log)
    try:
        proc.wait(timeout=10)
    finally:
        process.stop(proc)
    assert blocked(log.read_text()) == blocked(Path("/proc/thread-self/status").read_text())
