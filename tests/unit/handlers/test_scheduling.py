"""handlers.scheduling: a pass when due or woken, never on a cadence; a resource's own status
writes wake nothing; a failing pass backs off."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from uplift_operator.handlers import scheduling
from uplift_operator.handlers.scheduling import Signatures, Wakeups, run_passes

KEY = ("UpliftModel", "ns", "um")


def _body(generation: int = 1, annotations: dict[str, str] | None = None,
          status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"generation": generation, "annotations": annotations or {}},
            "status": status or {}}


def test_own_status_writes_wake_nothing_but_spec_annotations_and_foreign_status_do() -> None:
    signatures = Signatures()
    assert signatures.changed(KEY, _body(status={"phase": "Progressing"}))  # first sight
    signatures.produced(KEY, {"phase": "Healthy"})
    assert not signatures.changed(KEY, _body(status={"phase": "Healthy"}))  # our own write
    assert signatures.changed(KEY, _body(generation=2, status={"phase": "Healthy"}))
    assert signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {"phase": "Healthy"}))
    assert not signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {"phase": "Healthy"}))
    assert signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {}))  # status wiped


async def _drive(schedule: list[float | Exception | None], wake_at: list[float],
                 duration: float, resync: float = 100.0) -> list[float]:
    """Run passes returning ``schedule`` (then None) for ``duration`` seconds; the times the
    passes started, relative to the start."""
    loop = asyncio.get_running_loop()
    wakeups, started, start = Wakeups(), [], loop.time()
    answers = iter(schedule)

    async def one_pass() -> float | None:
        started.append(loop.time() - start)
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer

    for at in wake_at:
        loop.call_later(at, wakeups.wake, KEY)
    task = asyncio.create_task(run_passes(KEY, wakeups, one_pass, resync=resync))
    await asyncio.sleep(duration)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(wakeups) == 0  # unregistered when cancelled
    return started


def test_a_pass_runs_when_due_and_when_woken_and_not_otherwise() -> None:
    started = asyncio.run(_drive([0.3, None, None], wake_at=[0.9], duration=1.5))
    # due after 0.3 s; then nothing due until the wake-up (loose: a loaded machine is late)
    assert started == pytest.approx([0.0, 0.3, 0.9], abs=0.2)


def test_nothing_due_sleeps_until_the_resync() -> None:
    started = asyncio.run(_drive([None], wake_at=[], duration=1.0, resync=0.4))
    assert started == pytest.approx([0.0, 0.4, 0.8], abs=0.15)


def test_a_failing_pass_backs_off_doubling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 30.0)
    started = asyncio.run(_drive([RuntimeError("API down"), RuntimeError("API down"), None],
                                 wake_at=[], duration=3.5))
    assert started == pytest.approx([0.0, 1.0, 3.0], abs=0.2)  # 1 s, then 2 s
