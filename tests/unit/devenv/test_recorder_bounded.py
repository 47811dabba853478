"""The demo's recorder does not grow with the run's length: it used to keep every sample, twice
a second, each with a full copy of the UpliftModel status, the events and the Campaigns
(~17 KiB: 118 MiB an hour of ``--hold``). The live view still gets the latest sample whole; the
report gets slim samples, a run of unchanged ones kept as its first and last, at most
``limit`` of them, and still draws the verdict that decided."""

from __future__ import annotations

import copy
import threading
import tracemalloc
from collections import deque
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.devenv import demo
from uplift_operator.devenv.demo import Recorder
from uplift_operator.devenv.report import judged_samples

GATES = [{"name": n, "verdict": "Pass", "value": 0.01, "lower": 0.0, "upper": 0.02,
          "threshold": 0.25, "samples": 900, "message": "z" * 60}
         for n in ("errors", "drift", "qini", "online-effect")]
STATUS: dict[str, Any] = {
    "phase": "Healthy", "stableVersion": "3", "observedGeneration": 3,
    "message": "serving v3 at 100 %",
    "conditions": [{"type": t, "status": "True", "reason": "Ok", "message": "x" * 60,
                    "lastTransitionTime": "2026-12-07T13:00:00Z"}
                   for t in ("Ready", "Progressing", "Degraded", "Stalled")],
    "history": [{"version": str(i), "action": a, "reason": "y" * 80,
                 "time": "2026-12-07T13:00:00Z"} for i in range(6) for a in ("Started", "Promoted")],
    "gates": GATES}
EVENTS = [{"type": "Normal", "reason": "Promoted", "message": "m" * 120, "time": "13:00:00"}] * 6


class _Stack:
    """What ``Recorder.sample`` reads; ``status`` is handed out as a fresh copy each time, as
    the API client deserialises one."""

    def __init__(self) -> None:
        self.started = 0.0
        self.status: dict[str, Any] = STATUS
        self.weights = {"3": 100}
        self.simulator = SimpleNamespace(tally=SimpleNamespace(rows=0, errors=0, outcomes=0,
                                                                retries=0))
        self.router = SimpleNamespace(served_share=lambda ns, name: ({"3": 1.0}, 10))

    def upliftmodel(self) -> dict[str, Any]:
        return {"status": copy.deepcopy(self.status)}

    def seldon_weights(self) -> dict[str, int]:
        return dict(self.weights)

    def events(self) -> list[dict[str, str]]:
        return copy.deepcopy(EVENTS)

    def campaigns(self) -> list[dict[str, Any]]:
        return [{"metadata": {"name": "spring-email"}, "spec": {"budget": "5"},
                 "status": copy.deepcopy(STATUS)}]


def _recorder(limit: int | None = None) -> tuple[Recorder, _Stack]:
    stack = _Stack()
    recorder = (Recorder(stack) if limit is None  # type: ignore[arg-type]
                else Recorder(stack, limit=limit))  # type: ignore[arg-type]
    return recorder, stack


def test_unchanged_samples_are_kept_as_the_first_and_the_last() -> None:
    recorder, stack = _recorder()
    for i in range(5000):
        stack.simulator.tally.rows = i
        recorder.sample()
    assert len(recorder.samples) == 2
    first, last = recorder.samples
    assert last.rows == 4999  # the time axis ends at the latest
    assert first.status == last.status == {"gates": GATES}  # only what the report draws
    assert first.events == [] and first.campaigns == []
    latest = recorder.latest()  # the live view's: whole
    assert latest is not None and latest.status["history"] and latest.events
    assert latest.campaigns and latest.rows == 4999


def test_memory_does_not_grow_with_the_run() -> None:
    recorder, _ = _recorder()
    tracemalloc.start()
    try:
        recorder.sample()
        before, _ = tracemalloc.get_traced_memory()
        for _ in range(2000):  # 1,000 s of --hold
            recorder.sample()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 256 * 1024  # was ~33 MiB


def test_at_most_limit_samples_the_oldest_going_first() -> None:
    recorder, stack = _recorder(limit=50)
    for i in range(200):
        stack.weights = {"3": 100 - i % 2}  # changes every time
        stack.simulator.tally.rows = i
        recorder.sample()
    assert [s.rows for s in recorder.samples] == list(range(150, 200))


def test_the_report_still_draws_the_decisive_verdict() -> None:
    recorder, stack = _recorder()

    def status(canary: bool, verdict: str, value: float) -> dict[str, Any]:
        gate = {**GATES[3], "verdict": verdict, "value": value}
        return {**STATUS, "canaryVersion": "4" if canary else None,
                "canaryWeight": 30 if canary else 0, "gates": [gate]}

    run = ([status(False, "Pass", 0.0)] * 5 + [status(True, "Inconclusive", -0.01)] * 6
           + [status(True, "Inconclusive", -0.05)] * 6 + [status(False, "Fail", -0.19)] * 10)
    for s in run:
        stack.status = s
        recorder.sample()
    kept = list(recorder.samples)
    verdicts = [(s.status["gates"][0]["verdict"], shown)
                for s, shown in zip(kept, judged_samples(kept), strict=True)]
    assert ("Fail", True) in verdicts  # the sample right after the canary ended
    assert verdicts.count(("Inconclusive", True)) == 4  # each value's first and last
    assert len(kept) == 8



class _SlowDeque(deque):  # type: ignore[type-arg]
    """A deque whose copy lets another thread run midway (as a CPython without the GIL would,
    or any copy that runs Python code): after its first item it says so (``copying``) and
    waits up to ``PAUSE`` for the recorder's thread to have kept a sample (``kept``)."""

    PAUSE = 0.5
    copying = threading.Event()
    kept = threading.Event()

    def __iter__(self) -> Iterator[Any]:
        for i, item in enumerate(super().__iter__()):
            yield item
            if i == 0:
                type(self).copying.set()
                type(self).kept.wait(self.PAUSE)


def test_the_reports_copy_is_whole_while_the_thread_keeps_sampling(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``up._write_report`` copies ``samples`` while the recorder's thread may still keep one
    (``stop`` waits 5 s for it): the copy used to iterate the live deque, and a sample kept
    meanwhile failed it with 'deque mutated during iteration'."""
    monkeypatch.setattr(demo, "deque", _SlowDeque)
    monkeypatch.setattr(_SlowDeque, "copying", threading.Event())
    monkeypatch.setattr(_SlowDeque, "kept", threading.Event())
    recorder, stack = _recorder()
    for i in range(3):
        stack.weights = {"3": 100 - i}  # each kept
        recorder.sample()

    def keep_one_while_copying() -> None:
        assert _SlowDeque.copying.wait(5)
        stack.weights = {"3": 50}
        recorder.sample()
        _SlowDeque.kept.set()

    thread = threading.Thread(target=keep_one_while_copying)
    thread.start()
    try:
        copied = list(recorder.samples)  # as up._write_report takes them
    finally:
        thread.join(timeout=5)
    assert [s.weights for s in copied] == [{"3": 100}, {"3": 99}, {"3": 98}]  # as it was
    assert recorder.samples[-1].weights == {"3": 50}  # kept once the copy was taken
