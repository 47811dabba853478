"""A Campaign's abort or emergency rollback is acted on without first reading its model's
inputs from MLflow (``services.campaign._drift_features``, for a drift gate naming features
when the UpliftModel has no ``spec.features``). That lookup ran before validation and before
the stop, so after an operator restart (nothing cached) with MLflow hanging, the kill switch
waited for the registry request's timeout. While a stop request is pending the lookup is
skipped (the features are not checked in that pass); the next pass reads them again."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.test_campaign_drift_features import _sim


@pytest.mark.parametrize("key", ["uplift.dev/abort", "uplift.dev/emergency-rollback"])
def test_a_pending_stop_is_acted_on_without_asking_mlflow(monkeypatch: pytest.MonkeyPatch,
                                                           key: str) -> None:
    sim = _sim(["recency"], model_features=False)
    sim.tick()
    sim.tick(5)
    assert sim.status["exposurePercent"] > 0
    assert sim.deps.models is not None
    asked: list[Any] = []

    def hanging(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        raise TimeoutError("MLflow does not answer")

    monkeypatch.setattr(sim.deps.models.resolver, "facts", hanging)
    sim.annotate(key, "t1")
    sim.tick(1)
    assert asked == []
    assert sim.status["exposurePercent"] == 0
    assert sim.status["handledRequests"]
    sim.tick(1)  # the stop handled: the drift gate's features are looked up again
    assert asked
