"""``{{interval}}`` is the analysis interval, but at least four scrape intervals: a ``rate()``
over fewer than two samples has no value, so an analysisInterval at or below the scrape interval
left a custom gate with no data at every look (review: ``interval.py``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements
from uplift_operator.services.measurements import rate_interval

NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def test_the_interval_is_at_least_four_scrapes() -> None:
    assert rate_interval(30, 30) == "120s"
    assert rate_interval(60, 30) == "120s"
    assert rate_interval(300, 30) == "300s"
    assert rate_interval(5, 1) == "5s"
    assert rate_interval(60, 0) == "60s"  # no scrape interval known: as the spec says


def test_a_custom_gate_at_a_30_s_interval_reads_a_rate_over_four_scrapes() -> None:
    asked: list[str] = []

    class Prom:
        def query(self, promql: str, time: Any = None) -> list[Any]:
            raise AssertionError(promql)

        def scalar(self, promql: str, time: Any = None) -> float | None:
            asked.append(promql)
            return 0.001

    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=NOW - dt.timedelta(minutes=5),
        canary_started_at=NOW - dt.timedelta(minutes=5), now=NOW, analysis_interval_s=30,
        holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES, treatments=(),
        scrape_interval_s=30)
    gate = ModelGate.model_validate({"name": "err", "type": "custom",
                                     "templateRef": "seldon-error-rate", "max": 0.01})
    assert measurements.collect(gate, ctx, Prom(), None) == m.CustomMeasurement(value=0.001)
    assert asked and all("[120s]" in q and "[30s]" not in q for q in asked)


def test_the_query_lag_lengthens_the_interval_by_itself() -> None:
    """A remote-write backend answers a sample only ``--prometheus-query-lag`` after its
    scrape: a range's last L seconds hold nothing answered, so four scrapes need L more."""
    assert rate_interval(30, 30, 90) == "210s"
    assert rate_interval(300, 30, 90) == "300s"  # the analysis interval holds them already
    assert rate_interval(60, 15, 0) == "60s"
    assert rate_interval(60, 15, 30) == "90s"


def test_a_custom_gate_under_a_query_lag_reads_a_rate_over_four_answered_scrapes() -> None:
    asked: list[str] = []

    class Prom:
        def query(self, promql: str, time: Any = None) -> list[Any]:
            raise AssertionError(promql)

        def scalar(self, promql: str, time: Any = None) -> float | None:
            asked.append(promql)
            return 0.001

    ctx = measurements.GateContext(
        namespace="ns", name="m", canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=NOW - dt.timedelta(minutes=5),
        canary_started_at=NOW - dt.timedelta(minutes=5), now=NOW, analysis_interval_s=60,
        holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES, treatments=(),
        scrape_interval_s=30, query_lag_s=60)
    gate = ModelGate.model_validate({"name": "err", "type": "custom",
                                     "templateRef": "seldon-error-rate", "max": 0.01})
    assert measurements.collect(gate, ctx, Prom(), None) == m.CustomMeasurement(value=0.001)
    assert asked and all("[180s]" in q and "[120s]" not in q for q in asked)
