"""The counts the sequential tests read are what the scrapes observed, not Prometheus's
extrapolation: ``increase(c[w])`` extrapolates each series from its first and last sample to the
range's edges, so a 60 s range at 30 s scrapes reports twice what its samples counted. The
collectors scale every count a test reads by φ = max(0, w − s)/w (``observed_share``), one
factor for every series and arm, so split ratios hold."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements
from uplift_operator.services.measurements import observed_share

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
_INCREASE = re.compile(r"increase\(([a-z_]+)\{([^}]*)\}\[(\d+)s\]")


@dataclass
class Extrapolated:
    """A Prometheus whose ``increase`` answers ``counts`` (metric → label value of the query's
    grouping → what Prometheus would report), and whose presence checks (``metric offset``) see
    every version. ``ranges``: the range of each increase asked."""

    counts: Mapping[str, Mapping[str, float]]
    ranges: list[int] = field(default_factory=list)

    def scalar(self, promql: str, time: Any = None) -> float | None:
        rows = self.query(promql, time)
        return rows[0].value if rows else None

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        found = _INCREASE.search(promql)
        if found is None:  # the split's presence check: every version has a sample
            return [Sample({"version": v}, 1.0, 0.0) for v in ("1", "2")]
        self.ranges.append(int(found.group(3)))
        by = re.match(r"sum by \((\w+)", promql)
        rows = self.counts.get(found.group(1), {})
        if by is None:
            return [Sample({}, sum(rows.values()), 0.0)] if rows else []
        return [Sample({by.group(1): key}, value, 0.0) for key, value in rows.items()
                if re.search(rf'{by.group(1)}(=~"[^"]*\b{key}\b[^"]*"|="{key}")',
                             promql) or by.group(1) in ("le", "feature", "treatment")]


def _ctx(elapsed: float, scrape: float, **changes: Any) -> measurements.GateContext:
    values: dict[str, Any] = {
        "namespace": "shop", "name": "uplift", "canary_version": "2", "stable_version": "1",
        "canary_run_id": None, "stable_run_id": None,
        "step_started_at": NOW - dt.timedelta(seconds=elapsed),
        "canary_started_at": NOW - dt.timedelta(seconds=elapsed), "now": NOW,
        "analysis_interval_s": 30, "holdout_fraction": 0.1,
        "metric_templates": BUILTIN_TEMPLATES, "treatments": (), "scrape_interval_s": scrape,
        **changes}
    return measurements.GateContext(**values)


def _error_counts(factor: float, errors: float) -> dict[str, dict[str, float]]:
    """Canary: ``errors`` of 60 requests, stable 0 of 240, as Prometheus extrapolates them by
    ``factor``."""
    return {"uplift_request_errors_total": {"2": errors * factor, "1": 0.0},
            "uplift_request_duration_seconds_count": {"2": (60 - errors) * factor,
                                                      "1": 240 * factor}}


def test_the_observed_share_of_a_range_is_what_its_scrapes_span() -> None:
    assert observed_share("60s", 30) == 0.5
    assert observed_share("90s", 30) == pytest.approx(2 / 3)
    assert observed_share("120s", 30) == 0.75
    assert observed_share("3600s", 30) == pytest.approx(0.99166, abs=1e-4)
    # A range no longer than a scrape interval observed nothing; no range yet, nothing.
    assert observed_share("30s", 30) == 0.0 and observed_share("20s", 30) == 0.0
    assert observed_share(None, 30) == 0.0
    # Without a scrape interval: as Prometheus reports it.
    assert observed_share("60s", 0) == 1.0


def test_a_count_over_a_60_s_range_at_30_s_scrapes_is_halved() -> None:
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    # Two scrapes 30 s apart counted 7 errors of 60 requests; Prometheus reports the 60 s range.
    prom = Extrapolated(_error_counts(2.0, 7))
    got = measurements.collect(gate, _ctx(60, 30), prom, None)
    assert got == m.ErrorRateMeasurement(canary_errors=7, canary_requests=60, stable_errors=0,
                                         stable_requests=240)
    assert set(prom.ranges) == {60}
    # Without a scrape interval the counts are taken as reported (the context's default).
    assert measurements.collect(gate, _ctx(60, 0), Extrapolated(_error_counts(2.0, 7)),
                                None) == m.ErrorRateMeasurement(14, 120, 0, 480)


def test_doubled_early_counts_no_longer_fail_a_canary_its_scrapes_do_not_show_worse() -> None:
    """The review's case: 7 errors in 60 canary requests against 0 in 240 stable ones is
    Inconclusive; the same read doubled (a 60 s range at 30 s scrapes) was a Fail."""
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    observed = m.ErrorRateMeasurement(canary_errors=7, canary_requests=60, stable_errors=0,
                                      stable_requests=240)
    assert gates.evaluate_gate(gate, observed, None, NOW).verdict is GateVerdict.INCONCLUSIVE
    got = measurements.collect(gate, _ctx(60, 30), Extrapolated(_error_counts(2.0, 7)), None)
    assert got == observed
    assert gates.evaluate_gate(gate, got, None, NOW).verdict is GateVerdict.INCONCLUSIVE


def test_the_split_is_scaled_by_one_factor_so_its_shares_hold() -> None:
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    # Step 120 s old, split settled 30 s in: a 90 s range, φ = 2/3.
    prom = Extrapolated({"uplift_request_errors_total": {"2": 0.0, "1": 0.0},
                         "uplift_request_duration_seconds_count": {"2": 300.0, "1": 1200.0}})
    got = measurements.collect(gate, _ctx(120, 30, canary_share=0.2), prom, None)
    assert isinstance(got, m.ErrorRateMeasurement) and got.split is not None
    assert (got.split.stable, got.split.canary) == (800, 200)
    assert got.split.canary / (got.split.stable + got.split.canary) == pytest.approx(0.2)
    assert (got.canary_requests, got.stable_requests) == (225, 900)  # 120 s range: × 0.75


def test_latency_bucket_counts_are_halved_too() -> None:
    gate = ModelGate.model_validate({"name": "l", "type": "latency"})
    buckets = {"0.1": 80.0, "0.5": 110.0, "+Inf": 120.0}

    class Histograms(Extrapolated):
        def scalar(self, promql: str, time: Any = None) -> float | None:
            return 0.2  # the canary's p95 as the template shows it

        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            if "_bucket" in promql and "increase" in promql:
                self.ranges.append(int(_INCREASE.search(promql).group(3)))  # type: ignore[union-attr]
                return [Sample({"le": le}, value, 0.0) for le, value in buckets.items()]
            return super().query(promql, time)

    got = measurements.collect(gate, _ctx(60, 30), Histograms({}), None)
    assert isinstance(got, m.LatencyMeasurement)
    assert got.canary_buckets == (40, 55, 60) and got.stable_buckets == (40, 55, 60)
    assert (got.canary_requests, got.stable_requests) == (60, 60)


def test_a_range_within_one_scrape_interval_is_no_data_and_not_asked() -> None:
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    prom = Extrapolated(_error_counts(1.0, 1))
    assert measurements.collect(gate, _ctx(25, 30), prom, None) is None
    assert prom.ranges == []


def _campaign(elapsed: float, scrape: float) -> measurements.CampaignGateContext:
    spec = CampaignSpec.model_validate(yaml.safe_load(SAMPLE.read_text())["spec"])
    step = NOW - dt.timedelta(seconds=elapsed)
    return measurements.CampaignGateContext(
        namespace="shop", name="spring-email", model="hillstrom-uplift", spec=spec,
        step_started_at=step, ramp_started_at=step, now=NOW, budget_anchor=step,
        stable_version="3", stable_run_id="run-3", scrape_interval_s=scrape)


def test_delivery_counts_of_ranges_of_different_lengths_share_the_step_ranges_factor() -> None:
    """The decisions' two parts (older than reportDelay, and since) and the reports all take
    the step range's φ: each part's own would shrink the decisions more than the reports
    (one scrape interval lost per part) and read the deliveries above what they are."""
    gate = CampaignGate.model_validate({"name": "d", "type": "deliveryRate",
                                        "reportDelay": "2m"})

    class Delivery(Extrapolated):
        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            found = _INCREASE.search(promql)
            assert found is not None
            self.ranges.append(int(found.group(3)))
            if found.group(1) == "uplift_deliveries_total":
                return [Sample({"status": "ok"}, 180.0, 0.0), Sample({"status": "failed"}, 0.0, 0.0)]
            # decisions at 1 a second, as extrapolated: the range's length
            return [Sample({}, float(found.group(3)), 0.0)]

    prom = Delivery({})
    got = measurements.collect_campaign(gate, _campaign(180, 30), prom, None)
    share = 150 / 180
    assert got == m.DeliveryRateMeasurement(delivered=round(180 * share),
                                            decided=round(60 * share),
                                            reported=round(180 * share),
                                            recent=round(120 * share))
    assert isinstance(got, m.DeliveryRateMeasurement)
    assert got.delivered / got.pass_trials == pytest.approx(1.0, abs=0.01)


def test_the_campaign_cohorts_are_scaled() -> None:
    arms = {"uplift_outcomes_expected_total": {"treated": 900.0, "holdout": 100.0},
            "uplift_windowed_decisions_total": {"treated": 900.0, "holdout": 100.0},
            "uplift_outcomes_converted_total": {"treated": 90.0, "holdout": 6.0}}
    ctx = _campaign(30, 30)
    # Deciding on the version since the step started: its cohorts close from a window later,
    # 120 s ago → φ = 0.75.
    started = NOW - dt.timedelta(seconds=ctx.attribution_window_s + 120)
    ctx = replace(ctx, step_started_at=started, ramp_started_at=started, decisions_since=started)
    gate = CampaignGate.model_validate({"name": "i", "type": "incrementalConversions"})
    got = measurements.collect_campaign(gate, ctx, Extrapolated(arms), None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.arms == m.CampaignArms(m.ArmCounts(675, 68), m.ArmCounts(75, 4))


def test_the_budgets_spend_is_an_exact_figure_never_scaled() -> None:
    class Spend(Extrapolated):
        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            if promql.startswith("last_over_time"):
                return []  # no ledger gauges: the spend counter's increase
            return super().query(promql, time)

    gate = CampaignGate.model_validate({"name": "b", "type": "budget"})
    spec = CampaignSpec.model_validate(yaml.safe_load(SAMPLE.read_text())["spec"])
    assert spec.economics.budget is not None
    got = measurements.collect_campaign(
        gate, _campaign(60, 30), Spend({"uplift_campaign_spend_total": {"": 45.0}}), None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 45.0
