"""``DemoStack.stop``: every cleanup runs, whatever one of them raises and however often the
user presses Ctrl-C meanwhile (a second Ctrl-C used to abort the stop before the serving agent
stopped the MLServers, which then ran on in their own sessions)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from uplift_operator.devenv.demo import DemoStack


def _stack(tmp_path: Path, steps: list[tuple[str, object]]) -> tuple[DemoStack, list[str]]:
    stack = DemoStack(tmp_path, tmp_path / "customers.csv", say=lambda _: None)
    done: list[str] = []
    for name, fails in steps:
        def step(name: str = name, fails: object = fails) -> None:
            done.append(name)
            if isinstance(fails, BaseException):
                raise fails
        stack._cleanups.append((name, step))
    return stack, done


def test_every_cleanup_runs_even_when_one_is_interrupted(tmp_path: Path) -> None:
    stack, done = _stack(tmp_path, [("MLflow", None), ("router", RuntimeError("gone")),
                                    ("serving agent", KeyboardInterrupt()), ("recorder", None)])
    with pytest.raises(KeyboardInterrupt):  # raised again, after the last step
        stack.stop()
    assert done == ["recorder", "serving agent", "router", "MLflow"]
    assert not stack._cleanups


def test_a_second_ctrl_c_during_the_stop_is_ignored(tmp_path: Path) -> None:
    def agent_stop() -> None:  # the user presses Ctrl-C again while the agent stops
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        done.append("MLServers stopped")

    stack, done = _stack(tmp_path, [("MLflow", None)])
    stack._cleanups.append(("serving agent", agent_stop))
    before = signal.getsignal(signal.SIGINT)
    stack.stop()
    assert done == ["MLServers stopped", "MLflow"]
    assert signal.getsignal(signal.SIGINT) is before  # Ctrl-C works again afterwards
