"""The gates that count since the canary (a Campaign's exposure ramp) started, not since the
step started, are measured however old the canary is (``measurements.lifetime``): drift, its
Campaign form, and upliftSanity. Checked against Prometheus' retention, a canary older than it
held them at every look, for good, whatever the step's length (a Campaign's drift gate past
its first 14-day step at the default 15 days). ``PiecewiseIncreases`` keeps what Prometheus
answered while it held the samples; a step's own range past the retention still holds
(tests/unit/services/test_measurements_retention.py)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_campaign_measurements import NOW, context
from tests.unit.services.test_campaign_measurements import gate as campaign_gate

from uplift_operator.adapters.prometheus import BeyondRetention, Sample, StorageRetention, query_reach
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements

DAY = 86400.0
FIFTEEN_DAYS = StorageRetention(15 * DAY, "15d")
_INCREASE = re.compile(r"^sum by \(([^)]*)\) \(increase\((\w+)\{[^}]*\}\[(\d+)s\]\)\)$")

BINS = [({"feature": "recency", "bin": str(i)}, v) for i, v in enumerate((500.0, 300.0, 200.0))]
SCORES = {"uplift_predicted_uplift_count": [({"treatment": "a"}, 1000.0)],
          "uplift_predicted_uplift_positive_total": [({"treatment": "a"}, 30.0)],
          "uplift_predicted_uplift_negative_total": [({"treatment": "a"}, 10.0)],
          "uplift_predicted_uplift_squares_total": [({"treatment": "a"}, 0.5)]}


@dataclass
class Kept:
    """Counter increases by metric, answered for any range (as ``PiecewiseIncreases`` answers
    a long one from its kept pieces), from a Prometheus that keeps 15 days."""

    rows: dict[str, list[tuple[dict[str, str], float]]]
    asked: list[str] = field(default_factory=list)

    def storage_retention(self) -> StorageRetention | None:
        return FIFTEEN_DAYS

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        self.asked.append(promql)
        found = _INCREASE.match(promql)
        assert found, promql
        by = [b.strip() for b in found.group(1).split(",")]
        return [Sample({k: labels[k] for k in by}, value, 0.0)
                for labels, value in self.rows.get(found.group(2), [])]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        raise AssertionError(f"asked a scalar: {promql}")


HISTOGRAMS = {"features": {"recency": {"counts": [50, 30, 20]}}}
SANITY = {"treatments": {"a": {"mean": 0.02, "std": 0.01}}}


def _references() -> FakeRegistry:
    """The canary's run (``run-4``) and a Campaign's stable's (``run-3``)."""
    return FakeRegistry(artifacts={
        (run, path): artifact for run in ("run-3", "run-4")
        for path, artifact in ((measurements.REFERENCE_HISTOGRAMS, HISTOGRAMS),
                               (measurements.REFERENCE_UPLIFT, SANITY))})


def _model_ctx(canary_days: float) -> measurements.GateContext:
    """An hour into a step of a canary ``canary_days`` old."""
    return measurements.GateContext(
        namespace="shop", name="m", canary_version="4", stable_version="3",
        canary_run_id="run-4", stable_run_id="run-3", step_started_at=NOW - dt.timedelta(hours=1),
        canary_started_at=NOW - dt.timedelta(days=canary_days), now=NOW,
        analysis_interval_s=300, holdout_fraction=0.1, metric_templates=BUILTIN_TEMPLATES,
        treatments=())


def _lifetime_reads(prom: Kept) -> list[float]:
    return [query_reach(q) or 0.0 for q in prom.asked]


def test_drift_of_a_canary_older_than_the_retention_is_measured() -> None:
    prom = Kept({"uplift_feature_bin_total": BINS})
    ctx = _model_ctx(20)
    gate = ModelGate.model_validate({"name": "d", "type": "drift"})
    got = measurements.collect(gate, ctx, measurements.per_analysis(prom, ctx.now), _references())
    assert got == m.DriftMeasurement(features={"recency": m.FeatureHistogram(
        reference=(50, 30, 20), live=(500, 300, 200))})
    assert _lifetime_reads(prom) == [20 * DAY]  # the whole canary, not a window of it


def test_uplift_sanity_of_a_canary_older_than_the_retention_is_measured() -> None:
    prom = Kept(SCORES)
    ctx = _model_ctx(20)
    gate = ModelGate.model_validate({"name": "s", "type": "upliftSanity"})
    got = measurements.collect(gate, ctx, measurements.per_analysis(prom, ctx.now), _references())
    assert isinstance(got, m.UpliftSanityMeasurement), got
    assert got.requests == 1000 and abs(got.canary_mean_uplift - 0.02) < 1e-12
    assert set(_lifetime_reads(prom)) == {20 * DAY}


def test_a_campaigns_drift_past_its_first_steps_is_measured() -> None:
    """The sample Campaign (14-day attribution window, so 14-day steps at least) on the default
    15-day retention: its ramp is 20 days old an hour into its second step."""
    prom = Kept({"uplift_feature_bin_total": BINS})
    ctx = context(ramp_started_at=NOW - dt.timedelta(days=20),
                  step_started_at=NOW - dt.timedelta(hours=1))
    got = measurements.collect_campaign(campaign_gate("drift"), ctx,
                                        measurements.per_analysis(prom, ctx.now), _references())
    assert isinstance(got, m.DriftMeasurement), got
    assert got.features["recency"].live == (500, 300, 200)
    assert _lifetime_reads(prom) == [20 * DAY]


def test_a_steps_own_range_past_the_retention_still_holds() -> None:
    """What ``lifetime`` reads past the retention is the canary's range only: the same
    analysis's step-long query is still not sent."""
    prom = Kept({"uplift_feature_bin_total": BINS})
    analysis = measurements.per_analysis(prom, NOW)
    assert analysis is not None
    with pytest.raises(BeyondRetention):
        analysis.query('sum by (arm) (increase(uplift_assignments_total{model="m"}[1728000s]))')
    assert prom.asked == []
