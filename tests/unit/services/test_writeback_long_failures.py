"""A write that fails for days: its backoff stays capped, and it holds no other queue."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.adapters.mlflow_registry import CredentialsRefused
from uplift_operator.services import writeback
from uplift_operator.services.writeback import MAX_BACKOFF_SECONDS, Write, WriteBack

SCOPE = ("http://mlflow", "", "")
A, B = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_write_denied_for_two_thousand_tries_keeps_a_capped_backoff() -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    tries = {"denied": 0, "other": 0}

    def denied(_: Any) -> None:
        tries["denied"] += 1
        raise CredentialsRefused("permission denied (HTTP 403)", status_code=403)

    def other(_: Any) -> None:
        tries["other"] += 1

    queue.submit(A, object(), SCOPE, "modelA",  # type: ignore[arg-type]
                 [Write(("reason", "3"), "", denied, permission="MANAGE")])
    delay = None
    while tries["denied"] < 2000:
        delay = queue.run_due()
        assert delay is not None
        clock.now += delay
    assert delay == MAX_BACKOFF_SECONDS
    queue.submit(B, object(), SCOPE, "modelB",  # type: ignore[arg-type]
                 [Write(("alias", "prod"), "7", other)])
    assert queue.run_due() == MAX_BACKOFF_SECONDS  # the denied one tried once more, due then
    assert tries == {"denied": 2001, "other": 1}
    assert queue.failure(B) is None
    assert not queue.waiting(B)


def test_a_head_whose_outcome_cannot_be_recorded_waits_and_lets_the_others_through(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    queue = WriteBack(clock=clock)
    tries = {"a": 0, "b": 0}

    def write_a(_: Any) -> None:
        tries["a"] += 1

    def write_b(_: Any) -> None:
        tries["b"] += 1

    settle = queue._settle

    def broken(queue_key: tuple[str, ...], pending: Any, error: Exception | None) -> list[Any]:
        if pending.model == "modelA":
            raise RuntimeError("a bug")
        return settle(queue_key, pending, error)

    monkeypatch.setattr(queue, "_settle", broken)
    queue.submit(A, object(), SCOPE, "modelA",  # type: ignore[arg-type]
                 [Write(("role", "1"), "stable", write_a)])
    queue.submit(B, object(), SCOPE, "modelB",  # type: ignore[arg-type]
                 [Write(("role", "2"), "stable", write_b)])
    delay = queue.run_due()  # returns: not a retry of A every round
    assert tries == {"a": 1, "b": 1}
    assert delay == writeback.MAX_BACKOFF_SECONDS
    assert "recording the outcome of a try failed" in caplog.text
    clock.now += 10
    queue.run_due()
    assert tries == {"a": 1, "b": 1}
