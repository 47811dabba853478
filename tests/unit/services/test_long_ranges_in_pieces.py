"""The collectors' counts over a step weeks old reach Prometheus in pieces: through the
operator's source (``PiecewiseIncreases``), a second analysis asks no range longer than the
rest since the last kept hour. A collector whose count query left the shape the source
recognises would silently ask its whole range again at every analysis: this names it. The
templates' own queries (``rate(…[{{interval}}])``) are short and not counted here."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.adapters.prometheus_ranges import PiecewiseIncreases
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.measurements import MeasurementError
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements
from uplift_operator.services.ports import MetricSource, Registry

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
NOW = dt.datetime(2026, 3, 30, 12, 0, 17, tzinfo=dt.UTC)
RAMP = NOW - dt.timedelta(days=20, minutes=13)
STEP = NOW - dt.timedelta(days=16, hours=3)
_RANGE = re.compile(r"\[(\d+)(ms|s)\]")
_BY = re.compile(r"^sum by \(([^)]*)\)")
REST_AT_MOST = 3600 + 300  # a piece and the ingest delay: what is asked again each time
LABEL_VALUES = {"arm": ("treated", "holdout"), "status": ("ok", "failed"),
                "treatment": ("womens_e_mail",),
                "version": ("3", "4"), "le": ("0.05", "+Inf"), "feature": ("age",),
                "bin": ("0", "1")}


class Everything:
    """Answers every query with data (each ``by`` label over a few values), recording the
    ranges asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        for amount, unit in _RANGE.findall(promql):
            self.asked.append((promql, int(amount) / (1000 if unit == "ms" else 1)))
        grouped = _BY.match(promql)
        labels: list[dict[str, str]] = [{}]
        for name in (grouped.group(1).split(", ") if grouped else ()):
            labels = [{**row, name: value} for row in labels
                      for value in LABEL_VALUES.get(name, ("x",))]
        return [Sample(labels=row, value=1000.0, timestamp=0.0) for row in labels]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.query(promql, time)
        return 1000.0


def context(now: dt.datetime) -> measurements.CampaignGateContext:
    spec = CampaignSpec.model_validate(yaml.safe_load(SAMPLE.read_text())["spec"])
    return measurements.CampaignGateContext(
        namespace="shop", name="spring-email", model="hillstrom-uplift", spec=spec,
        step_started_at=STEP, ramp_started_at=RAMP, now=now, budget_anchor=RAMP,
        stable_version="3", stable_run_id="run-3", decisions_since=RAMP)


def longest_count_range_of_the_second_analysis(
        analyse: Callable[[MetricSource | None, dt.datetime], object]) -> tuple[str, float]:
    """Two analyses 5 minutes apart through one operator source, each at its own instant as
    the passes ask (``per_analysis``): the longest count range the second sent Prometheus."""
    prometheus = Everything()
    source = PiecewiseIncreases(prometheus)
    for minutes in (0, 5):
        now = NOW + dt.timedelta(minutes=minutes)
        prometheus.asked.clear()
        collected = analyse(measurements.per_analysis(source, now), now)
        assert collected is not None and not isinstance(collected, MeasurementError)
    # Counts, and the budget's last values per ledger (gauges, whose ended ledgers count).
    counts = [asked for asked in prometheus.asked
              if "increase(" in asked[0] or "last_over_time(" in asked[0]]
    assert counts, "no count query asked"
    return max(counts, key=lambda asked: asked[1])


@pytest.mark.parametrize("gate", [
    {"type": "deliveryRate", "min": 0.95},
    {"type": "incrementalConversions"},
    {"type": "roi"},
    {"type": "budget"},
])
def test_a_weeks_old_step_is_asked_in_pieces_from_the_second_analysis(gate: dict[str, Any]) -> None:
    spec = CampaignGate.model_validate({"name": "g", **gate})

    def analyse(source: MetricSource | None, now: dt.datetime) -> object:
        measurements.campaign_units(context(now), source)  # the status's units, each pass
        return measurements.collect_campaign(spec, context(now), source, None)

    query, seconds = longest_count_range_of_the_second_analysis(analyse)
    assert seconds <= REST_AT_MOST, query


class References:
    """The trainer's reference artifacts, as MLflow would hand them over."""

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        if path == measurements.REFERENCE_HISTOGRAMS:
            return {"features": {"age": {"counts": [500, 500]}}}
        return {"treatments": {"womens-e-mail": {"mean": 0.01, "std": 0.02}}}


def model_context(now: dt.datetime) -> measurements.GateContext:
    return measurements.GateContext(
        namespace="shop", name="hillstrom-uplift", canary_version="4", stable_version="3",
        canary_run_id="run-4", stable_run_id="run-3", step_started_at=STEP, canary_started_at=RAMP,
        now=now, analysis_interval_s=300, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=0.5,
        attribution_window_s=14 * 86400)


@pytest.mark.parametrize("gate", [
    {"type": "errorRate", "margin": 0.2},
    {"type": "latency", "margin": 0.2},
    {"type": "onlineEffect", "margin": 0.005},
    {"type": "upliftSanity", "min": -0.1, "max": 0.1},
    {"type": "drift", "max": 0.1},
])
def test_a_weeks_old_canary_step_is_asked_in_pieces_from_the_second_analysis(
        gate: dict[str, Any]) -> None:
    spec = ModelGate.model_validate({"name": "g", **gate})
    query, seconds = longest_count_range_of_the_second_analysis(
        lambda source, now: measurements.collect(spec, model_context(now), source,
                                                 cast(Registry, References())))
    assert seconds <= REST_AT_MOST, query
