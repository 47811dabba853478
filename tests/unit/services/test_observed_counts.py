"""The counts the sequential tests read are never more than what the scrapes observed, not
Prometheus's extrapolation: ``increase(c[w])`` extrapolates each series from its first and last
sample towards the range's edges, so a 60 s range at 30 s scrapes reports twice what its samples
counted. The collectors scale every count a test reads by φ = max(0, (⌊w/s⌋ − 1)·s)/w
(``observed_share``), one factor for every series and arm, so split ratios hold."""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services.fakes import FakeRegistry

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


def test_the_observed_share_of_a_range_is_the_span_its_scrapes_cover_at_least() -> None:
    assert observed_share("60s", 30) == 0.5
    assert observed_share("90s", 30) == pytest.approx(2 / 3)
    assert observed_share("120s", 30) == 0.75
    assert observed_share("3600s", 30) == pytest.approx(0.99166, abs=1e-4)
    # Between multiples of the scrape interval: the fewest samples such a range holds
    # (⌊w/s⌋) span (⌊w/s⌋ − 1)·s, never (w − s).
    assert observed_share("80s", 30) == pytest.approx(30 / 80)
    assert observed_share("119s", 30) == pytest.approx(60 / 119)
    # A range shorter than two scrape intervals observed nothing; no range yet, nothing.
    assert observed_share("30s", 30) == 0.0 and observed_share("20s", 30) == 0.0
    assert observed_share("45s", 30) == 0.0 and observed_share("59s", 30) == 0.0
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


@pytest.mark.parametrize("elapsed", [25, 45, 59])
def test_a_range_shorter_than_two_scrape_intervals_is_no_data_and_not_asked(
        elapsed: float) -> None:
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    prom = Extrapolated(_error_counts(1.0, 1))
    assert measurements.collect(gate, _ctx(elapsed, 30), prom, None) is None
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


# --- φ never reads more than the scrapes observed, whatever the range and scrape alignment ---


def _prometheus_increase(samples: Sequence[tuple[float, float]], start: float,
                         end: float) -> float | None:
    """``increase`` as Prometheus computes it (promql ``extrapolatedRate``, a counter without
    resets, not a rate): the samples in (start, end], their delta extrapolated towards the range's
    edges, each side by the gap to the edge when under 1.1 average intervals (else half of one),
    and the start no further than where the counter would have been zero."""
    inside = [(t, v) for t, v in samples if start < t <= end]
    if len(inside) < 2:
        return None
    (first_t, first_v), (last_t, last_v) = inside[0], inside[-1]
    delta = last_v - first_v
    sampled = last_t - first_t
    average = sampled / (len(inside) - 1)
    to_start, to_end = first_t - start, end - last_t
    if delta > 0 and first_v >= 0:
        to_start = min(to_start, sampled * first_v / delta)
    threshold = average * 1.1
    extrapolated = (sampled + (to_start if to_start < threshold else average / 2)
                    + (to_end if to_end < threshold else average / 2))
    return delta * extrapolated / sampled


def _scraped(scrape: float, phase: float, events: Sequence[float], born: float | None,
             until: float) -> list[tuple[float, float]]:
    """A counter's samples every ``scrape`` seconds from ``phase`` (its events' count up to
    each), from before the range (``born`` None) or from its creation at ``born``."""
    first = 0 if born is None else math.ceil((born - phase) / scrape)
    count = int((until - phase) // scrape) + 1
    samples = []
    for k in range(first, count):
        t = phase + k * scrape
        samples.append((t, float(bisect.bisect_right(events, t))))
    return samples


def _worst_overstatement(share: Any, scrape: float, ranges: range) -> tuple[float, Any]:
    """The largest share(w)·increase / what the scrapes counted, over ranges ``(0, w]``, scrape
    phases, bursty or steady traffic, and a series scraped through the range or created at its
    start (a canary's: what it counted is its last sample's value)."""
    rng = random.Random(7)
    horizon = ranges.stop + scrape
    traffics = {
        "steady": [i / 3 for i in range(-int(3 * 20 * scrape), int(3 * horizon))],
        "bursty": sorted(rng.uniform(-20 * scrape, horizon) for _ in range(int(4 * horizon)))}
    worst: tuple[float, Any] = (0.0, None)
    for w in ranges:
        factor = share(f"{w}s", scrape)
        for phase in (scrape * i / 16 for i in range(16)):
            for name, events in traffics.items():
                for born in (None, 0.0):
                    kept = events if born is None else [e for e in events if e > born]
                    samples = _scraped(scrape, phase, kept, born, float(w))
                    increase = _prometheus_increase(samples, 0.0, float(w))
                    if increase is None:
                        continue
                    inside = [v for t, v in samples if 0 < t <= w]
                    counted = inside[-1] - (inside[0] if born is None else 0.0)
                    if counted > 0 and factor * increase / counted > worst[0]:
                        worst = (factor * increase / counted, (w, phase, name, born))
    return worst


@pytest.mark.parametrize("scrape", [10, 15, 30, 60])
def test_the_scaled_increase_is_never_more_than_the_scrapes_counted(scrape: int) -> None:
    """For every range from one to a dozen scrape intervals, every alignment of the scrapes
    with it, steady or bursty traffic, a series there before the range or created at its
    start: φ · increase ≤ what the scrapes in the range counted."""
    worst, at = _worst_overstatement(observed_share, scrape,
                                     range(scrape, 12 * scrape + 1, max(1, scrape // 15)))
    assert worst <= 1 + 1e-9, at


def test_the_expected_share_overstated_a_look_by_up_to_k_over_k_minus_1() -> None:
    """The simulation's teeth: max(0, w − s)/w, right on average over the alignments, read an
    80 s range at 30 s scrapes with two samples in it 5/3 of what they counted."""
    def expected(window: str, scrape: float) -> float:
        seconds = float(window.removesuffix("s"))
        return max(0.0, seconds - scrape) / seconds
    worst, at = _worst_overstatement(expected, 30, range(80, 81))
    assert worst == pytest.approx(5 / 3, rel=0.02), at


def test_eight_errors_in_80_s_of_two_scrapes_stay_inconclusive() -> None:
    """The review's case: two scrapes 30 s apart in an 80 s range counted 8 errors in 60
    canary requests, 0 in 240 stable ones (Inconclusive). Prometheus reports them × 80/30; the
    old φ (50/80) read them × 5/3, a Fail; φ = 30/80 reads what they counted."""
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    observed = m.ErrorRateMeasurement(canary_errors=8, canary_requests=60, stable_errors=0,
                                      stable_requests=240)
    assert gates.evaluate_gate(gate, observed, None, NOW).verdict is GateVerdict.INCONCLUSIVE
    inflated = m.ErrorRateMeasurement(round(8 * 5 / 3), 100, 0, 400)
    assert gates.evaluate_gate(gate, inflated, None, NOW).verdict is GateVerdict.FAIL
    prom = Extrapolated(_error_counts(80 / 30, 8))
    got = measurements.collect(gate, _ctx(80, 30), prom, None)
    assert got == observed
    assert gates.evaluate_gate(gate, got, None, NOW).verdict is GateVerdict.INCONCLUSIVE


# --- every collector's counts are scaled; a range with nothing observed is not asked ---


@dataclass
class Grouped:
    """A Prometheus whose ``increase`` answers ``rows`` (metric → rows of labels and what
    Prometheus would report), whatever the grouping; ``asked``: (metric, range, offset) of
    each increase asked."""

    rows: Mapping[str, Sequence[tuple[Mapping[str, str], float]]]
    asked: list[tuple[str, int, str]] = field(default_factory=list)

    def scalar(self, promql: str, time: Any = None) -> float | None:
        found = self.query(promql, time)
        return sum(row.value for row in found) if found else None

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        found = _INCREASE.search(promql)
        assert found is not None, promql
        offset = re.search(r"\] offset (\d+s)", promql)
        self.asked.append((found.group(1), int(found.group(3)),
                           offset.group(1) if offset else ""))
        return [Sample(dict(labels), value, 0.0) for labels, value in
                self.rows.get(found.group(1), ())]


def _references(path: str, artifact: Any) -> FakeRegistry:
    """An MLflow whose canary run (``run-2``) holds ``artifact`` at ``path``."""
    return FakeRegistry(artifacts={("run-2", path): artifact})


def test_drift_bins_are_scaled() -> None:
    gate = ModelGate.model_validate({"name": "d", "type": "drift"})
    reference = {"features": {"recency": {"counts": [50, 30, 20]}}}
    prom = Grouped({"uplift_feature_bin_total": [
        ({"feature": "recency", "bin": "0"}, 100.0), ({"feature": "recency", "bin": "1"}, 60.0),
        ({"feature": "recency", "bin": "2"}, 40.0)]})
    ctx = _ctx(120, 30, canary_run_id="run-2")  # the canary's 120 s: φ = 0.75
    got = measurements.collect(gate, ctx, prom,
                               _references(measurements.REFERENCE_HISTOGRAMS, reference))
    assert got == m.DriftMeasurement(features={"recency": m.FeatureHistogram(
        reference=(50, 30, 20), live=(75, 45, 30))})
    # Nothing observed yet: not asked.
    prom = Grouped(prom.rows)
    assert measurements.collect(gate, _ctx(45, 30, canary_run_id="run-2"), prom, _references(
        measurements.REFERENCE_HISTOGRAMS, reference)) is None
    assert prom.asked == []


def test_uplift_sanitys_requests_are_scaled_and_its_mean_is_not() -> None:
    gate = ModelGate.model_validate({"name": "u", "type": "upliftSanity"})
    reference = {"treatments": {"email": {"mean": 0.01, "std": 0.02}}}
    per = {"treatment": "email"}
    prom = Grouped({"uplift_predicted_uplift_count": [(per, 400.0)],
                    "uplift_predicted_uplift_positive_total": [(per, 6.0)],
                    "uplift_predicted_uplift_negative_total": [(per, 2.0)]})
    registry = _references(measurements.REFERENCE_UPLIFT, reference)
    got = measurements.collect(gate, _ctx(60, 30, canary_run_id="run-2"), prom, registry)
    assert isinstance(got, m.UpliftSanityMeasurement)
    assert got.requests == 200  # 400 reported over 60 s at 30 s scrapes: φ = 0.5
    assert got.canary_mean_uplift == pytest.approx(4 / 400)  # a ratio: as reported
    prom = Grouped(prom.rows)
    assert measurements.collect(gate, _ctx(45, 30, canary_run_id="run-2"), prom,
                                registry) is None
    assert prom.asked == []


_WINDOW = 3600.0  # the onlineEffect contexts' attribution window


def _cohort_rows(counts: Mapping[tuple[str, str], float]
                 ) -> list[tuple[Mapping[str, str], float]]:
    return [({"version": version, "arm": arm}, value) for (version, arm), value in counts.items()]


def test_online_effect_scales_its_offset_read_by_its_range_not_range_plus_offset() -> None:
    """The units when decided are read a window earlier (``offset``): what the scrapes counted
    is still a ``range``-long span's, so φ is the range's (60 s: 0.5), not that of range +
    offset (nearly 1)."""
    gate = ModelGate.model_validate({"name": "o", "type": "onlineEffect"})
    decided = {("2", "holdout"): 100.0, ("2", "treated"): 900.0,
               ("1", "holdout"): 200.0, ("1", "treated"): 1800.0}
    closed = {key: value * 0.8 for key, value in decided.items()}  # fewer: decided is read
    converted = {("2", "holdout"): 4.0, ("2", "treated"): 90.0,
                 ("1", "holdout"): 8.0, ("1", "treated"): 180.0}
    prom = Grouped({"uplift_windowed_decisions_total": _cohort_rows(decided),
                    "uplift_outcomes_expected_total": _cohort_rows(closed),
                    "uplift_outcomes_converted_total": _cohort_rows(converted)})
    ctx = _ctx(_WINDOW + 60, 30, attribution_window_s=_WINDOW)
    got = measurements.collect(gate, ctx, prom, None)
    assert isinstance(got, m.OnlineEffectMeasurement)
    assert ("uplift_windowed_decisions_total", 60, "3600s") in prom.asked
    assert got.canary == m.VersionArms(holdout=m.ArmCounts(50, 2), treated=m.ArmCounts(450, 45))
    assert got.stable == m.VersionArms(holdout=m.ArmCounts(100, 4),
                                       treated=m.ArmCounts(900, 90))


def test_online_effect_waits_for_two_scrapes_of_its_cohorts_and_says_so() -> None:
    """A cohort range shorter than two scrape intervals observed nothing: not asked, and the
    wait (it ends: the range grows) names the range and the flag, not a missing series."""
    gate = ModelGate.model_validate({"name": "o", "type": "onlineEffect"})
    prom = Grouped({})
    got = measurements.collect(gate, _ctx(_WINDOW + 45, 30, attribution_window_s=_WINDOW),
                               prom, None)
    assert isinstance(got, m.OnlineEffectMeasurement)
    assert prom.asked == []
    assert "45s" in got.pending and "--prometheus-scrape-interval 30s" in got.pending
    assert got.missing == "" and "uplift_windowed_decisions_total" not in got.pending
    verdict = gates.evaluate_gate(gate, got, None, NOW)
    assert verdict.verdict is GateVerdict.INCONCLUSIVE


def test_delivery_rate_asks_nothing_before_two_scrapes_of_its_step() -> None:
    gate = CampaignGate.model_validate({"name": "d", "type": "deliveryRate",
                                        "reportDelay": "30s"})
    prom = Grouped({"uplift_assignments_total": [({}, 50.0)],
                    "uplift_deliveries_total": [({"status": "ok"}, 50.0)]})
    assert measurements.collect_campaign(gate, _campaign(45, 30), prom, None) is None
    assert prom.asked == []


def _cohort_campaign(cohorts_for: float, scrape: float) -> measurements.CampaignGateContext:
    """A campaign deciding on its version since the step started, whose cohorts have closed
    for ``cohorts_for`` seconds."""
    ctx = _campaign(30, scrape)
    started = NOW - dt.timedelta(seconds=ctx.attribution_window_s + cohorts_for)
    return replace(ctx, step_started_at=started, ramp_started_at=started,
                   decisions_since=started)


_ARMS: dict[str, Sequence[tuple[Mapping[str, str], float]]] = {
    "uplift_outcomes_expected_total": [({"arm": "treated"}, 900.0), ({"arm": "holdout"}, 100.0)],
    "uplift_windowed_decisions_total": [({"arm": "treated"}, 1000.0),
                                        ({"arm": "holdout"}, 120.0)],
    "uplift_outcomes_converted_total": [({"arm": "treated"}, 90.0), ({"arm": "holdout"}, 6.0)],
    "uplift_campaign_spend_total": [({}, 200.0)],
    "uplift_assignments_total": [({}, 1000.0)]}


def test_roi_cohorts_are_scaled_and_its_spend_per_decision_is_not() -> None:
    gate = CampaignGate.model_validate({"name": "r", "type": "roi"})
    prom = Grouped(_ARMS)
    got = measurements.collect_campaign(gate, _cohort_campaign(120, 30), prom, None)
    assert isinstance(got, m.RoiMeasurement)
    # The cohorts over 120 s at 30 s scrapes: φ = 0.75, the windowed decisions (read a window
    # earlier, the larger) by their range's too.
    assert got.arms == m.CampaignArms(m.ArmCounts(750, 68), m.ArmCounts(90, 4))
    # Spend per decided unit (200 / 1000, a ratio: as reported) × the treated cohort.
    assert got.spend == pytest.approx(0.2 * 750)


def test_incremental_conversions_read_the_offset_units_by_their_range() -> None:
    gate = CampaignGate.model_validate({"name": "i", "type": "incrementalConversions"})
    prom = Grouped(_ARMS)
    got = measurements.collect_campaign(gate, _cohort_campaign(60, 30), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.arms == m.CampaignArms(m.ArmCounts(500, 45), m.ArmCounts(60, 3))
    assert {(metric, seconds) for metric, seconds, _ in prom.asked} >= {
        ("uplift_windowed_decisions_total", 60), ("uplift_outcomes_expected_total", 60)}


@pytest.mark.parametrize("gate_type", ["incrementalConversions", "roi"])
def test_campaign_cohorts_wait_for_two_scrapes_and_say_so(gate_type: str) -> None:
    gate = CampaignGate.model_validate({"name": "c", "type": gate_type})
    prom = Grouped(_ARMS)
    got = measurements.collect_campaign(gate, _cohort_campaign(45, 30), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement | m.RoiMeasurement)
    assert prom.asked == []
    assert got.pending is not None
    assert "45s" in got.pending and "--prometheus-scrape-interval 30s" in got.pending
