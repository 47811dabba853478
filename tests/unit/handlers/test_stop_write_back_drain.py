"""At the operator's stop (kopf's cleanup), the MLflow writes queued get a bounded time to go
through, and what is left unwritten is logged."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from tests.unit.services.test_writeback import SCOPE, Clock, Mlflow, alias, client

from uplift_operator.handlers import lifecycle
from uplift_operator.services.writeback import WriteBack

OWNER = ("UpliftModel", "ns", "a")


def _stop(queue: WriteBack) -> None:
    stop: Any = lifecycle.stop_passes  # kopf passes the rest
    stop(memo=kopf.Memo(uplift_dependencies=SimpleNamespace(write_back=queue)))


def test_the_queued_writes_go_through_at_stop(caplog: pytest.LogCaptureFixture) -> None:
    mlflow, clock = Mlflow("tok"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.valid.clear()
    queue.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    for _ in range(8):  # backed off: its next try minutes away
        queue.run_due()
        clock.now += 1.0
    mlflow.valid.add("tok")
    queue.start()
    with caplog.at_level(logging.INFO, logger=lifecycle.__name__):
        _stop(queue)
    assert mlflow.aliases == {"prod": "2"} and queue.pending() == 0
    assert "the 1 queued writes went through" in caplog.text


def test_what_is_left_unwritten_at_stop_is_logged(caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "WRITE_BACK_DRAIN_SECONDS", 0.3)
    mlflow, clock = Mlflow("tok"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.valid.clear()  # refused until the end
    queue.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    queue.start()
    started = time.monotonic()
    _stop(queue)
    assert time.monotonic() - started < 2.0
    assert "1 of 1 queued writes left unwritten" in caplog.text
