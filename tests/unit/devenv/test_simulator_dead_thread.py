"""A simulator loop that raises is recorded and named, not silent: a negative rate (now refused
by ``--rate``) made ``rng.poisson`` raise in the customers' loop, which ended its thread without
a word, and the demo then waited 180 s for a first scored request that could not come, its
timeout's "last error" empty. The loop's error is kept (``failure``, the tally's
``last_error``) and ``DemoStack.check_alive`` names the dead thread with it at once."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from uplift_operator.devenv.demo import DemoStack
from uplift_operator.devenv.router import WeightedRouter
from uplift_operator.devenv.simulator import CustomerSimulator


class _Router:
    def infer_url(self, namespace: str, name: str, predictor: str) -> str:
        return "http://127.0.0.1:9/infer"

    def reports_url(self, namespace: str, name: str, kind: str) -> str:
        return f"http://127.0.0.1:9/{kind}"


def _customers(path: Path) -> Path:
    """A few Hillstrom-shaped rows, every arm and visit outcome present."""
    header = "recency,history,mens,womens,newbie,zip_code,channel,segment,visit"
    rows = [f"{1 + i % 12},{10.0 * i},{i % 2},{(i // 2) % 2},{i % 3 == 0:d},Urban,Web,"
            f"{('No E-Mail', 'Mens E-Mail', 'Womens E-Mail')[i % 3]},{i % 5 == 0:d}"
            for i in range(60)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _simulator(tmp_path: Path, rate: float) -> CustomerSimulator:
    sim = CustomerSimulator(cast(WeightedRouter, _Router()), "demo", "m",
                            _customers(tmp_path / "customers.csv"), rate=rate)
    sim.paused = False
    return sim


def _until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():  # type: ignore[operator]
        time.sleep(0.02)


def test_a_loop_that_raises_is_recorded_and_named(tmp_path: Path) -> None:
    sim = _simulator(tmp_path, rate=-5).start()  # rng.poisson(-1.25): ValueError
    try:
        _until(lambda: sim.dead_thread() is not None)
        assert sim.dead_thread() == "customers"
        assert sim.failure.startswith("customers: ValueError: lam < 0")
        assert sim.tally.last_error.startswith("customers: ValueError")
    finally:
        sim.stop()
    assert sim.dead_thread() is None  # stopped: its threads end as asked


def test_running_loops_are_not_dead(tmp_path: Path) -> None:
    sim = _simulator(tmp_path, rate=1.0)
    assert sim.dead_thread() is None  # not started yet
    sim.paused = True
    sim.start()
    try:
        time.sleep(0.3)
        assert sim.dead_thread() is None and sim.failure == ""
    finally:
        sim.stop()


def test_check_alive_names_a_dead_simulator_with_its_error(tmp_path: Path) -> None:
    stack = DemoStack(tmp_path, tmp_path / "customers.csv", say=lambda _: None)
    stack.operator = SimpleNamespace(poll=lambda: None)  # type: ignore[assignment]
    stack.plane = SimpleNamespace(check_alive=lambda: None)  # type: ignore[assignment]
    stack.mlflow = stack.prometheus = SimpleNamespace(running=True)  # type: ignore[assignment]
    stack.agent = SimpleNamespace(dead_thread=lambda: None)  # type: ignore[assignment]
    stack.check_alive()  # no simulator yet: nothing to say
    sim = _simulator(tmp_path, rate=-5).start()
    stack.simulator = sim
    try:
        _until(lambda: sim.dead_thread() is not None)
        with pytest.raises(RuntimeError) as raised:
            stack.check_alive()
    finally:
        sim.stop()
    assert ("the customer simulator's thread 'customers' ended: customers: ValueError: lam < 0"
            in str(raised.value))
