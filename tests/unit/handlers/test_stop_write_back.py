"""At the operator's stop (kopf's cleanup, once this replica left the peering and a standby may
act), the MLflow write-back tries no write any more; what is left is logged: the live
resources' writes (submitted again by the next process from their statuses) apart from the
deleted resources' (lost, named)."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from tests.unit.services.test_writeback import SCOPE, Clock, Mlflow, alias, client, role

from uplift_operator.handlers import lifecycle
from uplift_operator.services.writeback import WriteBack

OWNER, GONE = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "gone")


def _stop(queue: WriteBack) -> None:
    stop: Any = lifecycle.stop_passes  # kopf passes the rest
    stop(memo=kopf.Memo(uplift_dependencies=SimpleNamespace(write_back=queue)))


def test_a_backed_off_write_is_not_tried_at_stop(caplog: pytest.LogCaptureFixture) -> None:
    """Before, the stop drained the queue for 5 s, its backoff skipped: this replica's promotion
    alias landed after the standby (acting once this one left the peering) had rolled back."""
    mlflow, clock = Mlflow("tok"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.valid.clear()
    queue.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    for _ in range(8):  # backed off: its next try minutes away
        queue.run_due()
        clock.now += 1.0
    mlflow.valid.add("tok")
    calls = mlflow.calls
    queue.start()
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger=lifecycle.__name__):
        _stop(queue)
    assert time.monotonic() - started < 1.0
    clock.now += 3600.0
    assert queue.run_due() is None
    time.sleep(0.2)
    assert mlflow.calls == calls and mlflow.aliases == {} and queue.pending() == 1
    assert "1 writes of live resources left unwritten" in caplog.text
    assert "RegistryWrittenBack condition is not True" in caplog.text
    assert "deleted resources" not in caplog.text


def test_the_deleted_resources_writes_left_are_counted_and_named_apart(
        caplog: pytest.LogCaptureFixture) -> None:
    mlflow, clock = Mlflow("tok"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.valid.clear()  # refused until the end
    queue.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    queue.submit(GONE, client(mlflow, "tok"), SCOPE, "old-model",
                 [role("4", "retired"), role("5", "retired")])
    queue.forget(GONE)  # deleted: its retirement's tags have no status to come back from
    _stop(queue)
    assert "1 writes of live resources left unwritten" in caplog.text
    assert ("2 writes of deleted resources lost (no status is left to submit them again "
            "from): old-model (role 4 = 'retired', at http://mlflow); old-model (role 5 = "
            "'retired', at http://mlflow)") in caplog.text


def test_nothing_pending_at_stop_is_said(caplog: pytest.LogCaptureFixture) -> None:
    queue = WriteBack(clock=Clock())
    with caplog.at_level(logging.INFO, logger=lifecycle.__name__):
        _stop(queue)
    assert "no write was pending" in caplog.text and queue.stopped()
