"""A gate whose counts reach further back than Prometheus keeps samples holds, not judged on
counts short by what Prometheus deleted (``AnalysisQueries``, ``beyond_retention``): a step
longer than the retention, a Campaign's cohorts read an attribution window back (``roi``,
``incrementalConversions``). The budget's ledgers and the ramp's units read past it still
(the status stands in for what Prometheus lost). The retention read itself:
tests/unit/adapters/test_prometheus_retention.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from tests.unit.services.test_campaign_measurements import ARMS, NOW, Counters, Ledgers, context
from tests.unit.services.test_campaign_measurements import gate as campaign_gate
from tests.unit.services.test_measurements_batched import T0, Series, _ctx, _model

from uplift_operator.adapters.prometheus import Sample, StorageRetention, query_reach
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.services import measurements

DAY = 86400.0
FIFTEEN_DAYS = StorageRetention(15 * DAY, "15d")


@dataclass
class Kept(Series):
    """``Series`` that knows Prometheus' retention (as ``PiecewiseIncreases`` does)."""

    retention: StorageRetention | None = FIFTEEN_DAYS
    retention_reads: int = 0

    def storage_retention(self) -> StorageRetention | None:
        self.retention_reads += 1
        return self.retention


def _traffic() -> list[tuple[str, dict[str, str], float]]:
    return [("uplift_request_duration_seconds_count", _model("1", endpoint="infer"), 900.0),
            ("uplift_request_duration_seconds_count", _model("2", endpoint="infer"), 100.0),
            ("uplift_request_errors_total", _model("2", endpoint="infer"), 3.0)]


ERRORS = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})


def _step_of(days: float) -> measurements.GateContext:
    return replace(_ctx(), now=T0 + dt.timedelta(days=days))


def test_a_step_longer_than_the_retention_holds_without_asking() -> None:
    prom = Kept(_traffic())
    ctx = _step_of(17)
    measured = measurements.collect(ERRORS, ctx, measurements.per_analysis(prom, ctx.now), None)
    assert measured == m.MeasurementError(
        "Prometheus keeps 15d of samples (storageRetention '15d') and this gate's counts start "
        "17d back: those from before its retention are gone, so they are not judged and the "
        "step cannot advance (past progressDeadline: Degraded, not rolled back) — raise "
        "Prometheus' --storage.tsdb.retention.time above the step's length (plus the "
        "attribution window for a Campaign's cohorts; read again within the hour), or promote "
        "or abort by hand (kubectl uplift promote|abort)", holds=True)
    assert prom.asked == []  # no truncated count was read


def test_a_step_within_the_retention_is_measured_and_the_retention_read_once() -> None:
    prom = Kept(_traffic())
    ctx = _step_of(14)
    analysis = measurements.per_analysis(prom, ctx.now)
    measured = measurements.collect(ERRORS, ctx, analysis, None)
    assert isinstance(measured, m.ErrorRateMeasurement)
    assert (measured.canary_errors, measured.canary_requests) == (3, 103)
    latency = ModelGate.model_validate({"name": "latency", "type": "latency", "max": 0.5})
    measurements.collect(latency, ctx, analysis, None)
    assert len(prom.asked) >= 5 and prom.retention_reads == 1  # once per analysis


def test_without_a_known_retention_nothing_is_checked() -> None:
    for prom in (Kept(_traffic(), retention=None), Series(_traffic())):
        ctx = _step_of(400)
        measured = measurements.collect(ERRORS, ctx, measurements.per_analysis(prom, ctx.now),
                                        None)
        assert isinstance(measured, m.ErrorRateMeasurement)


def test_the_check_keeps_a_margin_below_the_retention() -> None:
    within = 15 * DAY - measurements.RETENTION_MARGIN
    assert measurements.beyond_retention(within, FIFTEEN_DAYS) is None
    assert measurements.beyond_retention(within + 1, FIFTEEN_DAYS) is not None
    assert measurements.beyond_retention(400 * DAY, None) is None


def test_the_reach_is_rounded_up_and_never_shown_inside_the_retention() -> None:
    """Rounded down, a reach 599 s past the margin read "keeps 15d … counts start 14d back"."""
    def told(reach: float, retention: StorageRetention = FIFTEEN_DAYS) -> str:
        why = measurements.beyond_retention(reach, retention)
        assert why is not None
        return why.split(": ")[0].split("counts ")[1]

    assert told(15 * DAY - 599) == "start less than 10m inside it"
    assert told(15 * DAY) == "start less than 10m inside it"
    assert told(15 * DAY + 30) == "start less than 1m past it"
    assert told(15 * DAY + 61) == "start 15d2m back"
    assert told(15 * DAY + 2.5 * 3600) == "start 15d3h back"
    assert told(16 * DAY + 1) == "start 17d back"  # up: never under the reach
    assert told(17 * DAY) == "start 17d back"
    assert told(DAY + 5 * 3600, StorageRetention(DAY, "1d")) == "start 1d5h back"
    keeps = measurements.beyond_retention(17 * DAY, StorageRetention(15.5 * DAY, "15d12h"))
    assert keeps is not None and keeps.startswith("Prometheus keeps 15d12h of samples")


@dataclass
class KeptCounters(Counters):
    retention: StorageRetention | None = FIFTEEN_DAYS

    def storage_retention(self) -> StorageRetention | None:
        return self.retention


def test_the_cohorts_read_an_attribution_window_back_hold_past_the_retention() -> None:
    """A 2-day step of the sample's 14-day attribution window reaches 16 days back: its
    cohorts' decisions (and their cost, for roi) before the retention are gone."""
    ctx = context(step_started_at=NOW - dt.timedelta(days=2))
    for type_ in ("roi", "incrementalConversions"):
        prom = KeptCounters(dict(ARMS))
        got = measurements.collect_campaign(campaign_gate(type_), ctx,
                                            measurements.per_analysis(prom, ctx.now), None)
        assert isinstance(got, m.MeasurementError) and got.holds, (type_, got)
        assert "this gate's counts start 16d back" in got.message
        assert all((query_reach(q) or 0) <= 15 * DAY for q in prom.asked)
    # Half a day into the step: 14.5 days back, within the retention: measured.
    near = context(step_started_at=NOW - dt.timedelta(hours=12))
    got = measurements.collect_campaign(campaign_gate("roi"), near, measurements.per_analysis(
        KeptCounters(dict(ARMS)), near.now), None)
    assert isinstance(got, m.RoiMeasurement)


@dataclass
class KeptLedgers(Ledgers):
    asked_units: list[str] = field(default_factory=list)

    def storage_retention(self) -> StorageRetention | None:
        return StorageRetention(DAY, "1d")

    def query(self, promql: str, time: Any = None) -> Any:
        if "uplift_assignments_total" in promql:
            self.asked_units.append(promql)
            return [Sample(labels={"arm": arm}, value=value, timestamp=0.0)
                    for arm, value in (("treated", 90.0), ("holdout", 10.0))]
        return super().query(promql, time)


def test_the_budget_and_the_ramps_units_still_read_past_the_retention() -> None:
    """The budget's ledgers past Prometheus' retention are remembered in the status
    (``domain.budget.remembered``), and the ramp's units keep their larger count: neither is
    held by the check (a 7-day budget period on a 1-day retention)."""
    start = dt.datetime(2026, 3, 8, tzinfo=dt.UTC).timestamp()
    prom = KeptLedgers(spend={"r1": 120.0}, start={"r1": start})
    ctx = context(ramp_started_at=NOW - dt.timedelta(days=5))
    analysis = measurements.per_analysis(prom, ctx.now)
    got = measurements.collect_campaign(campaign_gate("budget"), ctx, analysis, None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 120.0
    assert measurements.campaign_units(ctx, analysis) == m.CampaignUnits(treated=90,
                                                                        holdout=10)
    assert all((query_reach(q) or 0) > DAY for q in [*prom.asked, *prom.asked_units])
