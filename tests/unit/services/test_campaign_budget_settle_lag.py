"""A Campaign's budget gate first reads a period's spend ``exposure.budget_settle`` after the
period's start: two scrapes of the runtime pods, which a remote-write backend answers only the
query lag (``--prometheus-query-lag``) after them. The Campaign pass waits that lag too, as the
UpliftModels' dependencies give it (review: the lag reached only the counts' scaling)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from tests.unit.services.test_campaign import Sim

from uplift_operator.domain import exposure
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel


@pytest.mark.parametrize(("lag", "settle"), [(0.0, 60), (45.0, 105)])
def test_the_campaign_pass_settles_a_budget_period_over_the_query_lag(
        monkeypatch: pytest.MonkeyPatch, lag: float, settle: int) -> None:
    settles: list[Any] = []
    real = exposure.analysis_due

    def spy(*args: Any, **kwargs: Any) -> bool:
        settles.append(kwargs.get("settle"))
        return real(*args, **kwargs)

    monkeypatch.setattr(exposure, "analysis_due", spy)
    sim = Sim()
    models = upliftmodel.Dependencies(
        cluster=sim.cluster, backend=SeldonV1Backend(), registry_for=lambda *_: None,  # type: ignore[arg-type]
        prometheus=None, metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:test",
        default_tracking_uri="http://mlflow.test", prometheus_scrape_interval=30.0,
        prometheus_query_lag=lag)
    sim.deps = replace(sim.deps, models=models)
    sim.tick()
    sim.tick(5)
    assert settles and set(settles) == {dt.timedelta(seconds=settle)}
