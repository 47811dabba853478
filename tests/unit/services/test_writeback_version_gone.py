"""A version deleted from MLflow (retention) has no tag to write: not a failure; an alias is."""

from __future__ import annotations

import logging

import pytest

from uplift_operator.adapters.mlflow_registry import RegistryNotFound
from uplift_operator.services.writeback import WriteBack

from .test_writeback import SCOPE, A, Clock, Mlflow, alias, client, role


def gone(version: str) -> RegistryNotFound:
    return RegistryNotFound(f"Model Version (name=m, version={version}) not found",
                            status_code=404, error_code="RESOURCE_DOES_NOT_EXIST")


def test_a_role_tag_of_a_deleted_version_is_nothing_to_write(
        caplog: pytest.LogCaptureFixture) -> None:
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    told: list[tuple[str, ...]] = []
    queue.on_change.append(lambda owners: told.extend(owners))
    mlflow.refusing["2"] = gone("2")  # rolled back long ago, deleted by retention since
    caplog.set_level(logging.INFO, logger="uplift_operator.services.writeback")
    queue.submit(A, client(mlflow, "token"), SCOPE, "m",
                 [role("2", "rolled-back"), role("3", "stable")], tell_when_written=True)
    assert queue.run_due() is None and queue.pending() == 0
    assert mlflow.tags == {"3": "stable"}
    assert queue.failure(A) is None and told == [A]  # told it went through, nothing failed
    assert "nothing to write, MLflow has no such version" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_promotion_alias_to_a_deleted_version_is_still_a_failure() -> None:
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.refusing["2"] = gone("2")
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [alias("prod", "2")])
    assert queue.run_due() is None and queue.pending() == 0
    shown = queue.failure(A)
    assert shown is not None and "alias prod = '2'" in shown and "dropped" in shown
