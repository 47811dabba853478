"""The comparative collectors ask Prometheus once per metric for both versions (``sum by
(version)``), and one analysis asks each distinct query once, whatever the number of gates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services import measurements

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_QUERY = re.compile(
    r"^sum by \(([^)]*)\) \(increase\(([a-z_]+)\{([^}]*)\}\[(\d+)s\](?: offset \d+s)?\)\)$")
_AT_START = re.compile(r"^sum by \(version\) \(([a-z_]+)\{([^}]*)\} offset (\d+)s\)$")


@dataclass
class Series:
    """A tiny Prometheus: counter increases per label set, answering only the batched shape
    ``sum by (...) (increase(metric{matchers}[Ns]))`` and the split's presence check ``sum by
    (version) (metric{matchers} offset Ns)`` — anything else fails the test. ``late`` series
    had no sample at the window's start."""

    increases: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    asked_at: list[Any] = field(default_factory=list)
    late: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def scalar(self, promql: str, time: Any = None) -> float | None:
        raise AssertionError(f"a scalar query per version: {promql}")

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        self.asked.append(promql)
        self.asked_at.append(time)
        at_start = _AT_START.match(promql)
        if at_start:
            metric, matchers = at_start.group(1), _matchers(at_start.group(2))
            versions = {labels["version"] for name, labels, _ in self.increases
                        if name == metric and (name, labels) not in self.late
                        and all(match(labels.get(k, "")) for k, match in matchers.items())}
            return [Sample({"version": v}, 1.0, 0.0) for v in sorted(versions)]
        found = _QUERY.match(promql)
        assert found, promql
        by = [b.strip() for b in found.group(1).split(",")]
        metric, matchers = found.group(2), _matchers(found.group(3))
        sums: dict[tuple[str, ...], float] = {}
        for name, labels, value in self.increases:
            if name == metric and all(match(labels.get(k, "")) for k, match in matchers.items()):
                key = tuple(labels.get(b, "") for b in by)
                sums[key] = sums.get(key, 0.0) + value
        return [Sample(dict(zip(by, key, strict=True)), value, 0.0)
                for key, value in sums.items()]


def _matchers(text: str) -> Mapping[str, Any]:
    out = {}
    for part in re.findall(r'(\w+)(=~|=)"([^"]*)"', text):
        key, op, value = part
        out[key] = (re.compile(f"^(?:{value})$").match if op == "=~"
                    else (lambda v, want=value: v == want))
    return out


def _ctx(share: float | None = 0.5, promotes: bool = False) -> measurements.GateContext:
    return measurements.GateContext(
        namespace="shop", name="uplift", canary_version="2", stable_version="1",
        canary_run_id=None, stable_run_id=None, step_started_at=T0, canary_started_at=T0,
        now=T0 + dt.timedelta(seconds=300), analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=share,
        promotes=promotes)


def _model(version: str, **labels: str) -> dict[str, str]:
    return {"namespace": "shop", "model": "uplift", "version": version, **labels}


def test_error_rate_reads_both_versions_in_one_query_per_metric() -> None:
    prom = Series([
        ("uplift_request_duration_seconds_count", _model("1", endpoint="infer"), 900.0),
        ("uplift_request_duration_seconds_count", _model("2", endpoint="infer"), 97.0),
        ("uplift_request_errors_total", _model("2", endpoint="infer"), 3.0),
        # Another model, a Campaign's own rows and the outcome endpoint are not counted.
        ("uplift_request_duration_seconds_count",
         {**_model("2", endpoint="infer"), "model": "other"}, 5000.0),
        ("uplift_request_errors_total", _model("2", endpoint="infer", campaign="c"), 50.0),
        ("uplift_request_errors_total", _model("1", endpoint="outcomes"), 7.0),
    ])
    gate = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})
    measured = measurements.collect(gate, _ctx(), prom, None)
    assert isinstance(measured, m.ErrorRateMeasurement)
    assert (measured.canary_errors, measured.canary_requests) == (3, 100)
    assert (measured.stable_errors, measured.stable_requests) == (0, 900)  # no series: 0 errors
    assert measured.split == m.SplitCounts(stable=900, canary=100, canary_share=0.5)
    # errors, answered requests, the split's two and its presence at the window's start: not
    # one per version
    assert len(prom.asked) == 5
    # On the last step the split says so: a Pass there promotes, and needs the split shown.
    last = measurements.collect(gate, _ctx(promotes=True), prom, None)
    assert isinstance(last, m.ErrorRateMeasurement) and last.split is not None
    assert last.split.promotes


def test_a_canary_refusing_what_it_gets_is_judged_on_all_its_requests() -> None:
    """The runtime times only the requests it answered: a canary refusing all of them has no
    answered request, one refusing most has fewer answered than refused. Its requests are the
    answered plus the refused, for the rate and for the split, so the gate fails it (not
    'no data yet', not 'errors > requests', not a sample-ratio mismatch)."""
    for answered in (0.0, 400.0):
        rows = [("uplift_request_duration_seconds_count", _model("1", endpoint="infer"), 4990.0),
                ("uplift_request_errors_total", _model("1", endpoint="infer"), 10.0),
                ("uplift_request_errors_total", _model("2", endpoint="infer"), 5000.0 - answered)]
        if answered:
            rows.append(("uplift_request_duration_seconds_count", _model("2", endpoint="infer"),
                         answered))
        gate = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})
        measured = measurements.collect(gate, _ctx(), Series(rows), None)
        assert isinstance(measured, m.ErrorRateMeasurement)
        assert (measured.canary_errors, measured.canary_requests) == (5000 - answered, 5000)
        assert (measured.stable_errors, measured.stable_requests) == (10, 5000)
        assert measured.split is not None
        assert (measured.split.stable, measured.split.canary) == (5000, 5000)
        verdict = gates.evaluate_gate(gate, measured, {}, T0).verdict
        assert verdict is GateVerdict.FAIL, verdict


def test_online_effect_reads_versions_and_arms_in_three_queries_and_waits_for_every_arm() -> None:
    # Cohorts: the decisions whose attribution window closed, and their in-window conversions.
    rows: list[tuple[str, dict[str, str], float]] = [
        ("uplift_windowed_decisions_total", _model(v, arm=arm, campaign=""), units)
        for v, arm, units in (("1", "holdout", 100), ("1", "treated", 900),
                              ("2", "holdout", 10), ("2", "treated", 90))]
    rows += [("uplift_outcomes_converted_total", _model("1", arm="treated", campaign=""), 45.0),
             ("uplift_outcomes_converted_total", _model("2", arm="treated", campaign=""), 9.0)]
    # Units when decided and conversions when reported are not what the gate compares.
    rows += [("uplift_assignments_total", _model("2", arm="treated"), 5000.0),
             ("uplift_conversions_total", _model("2", arm="treated"), 4000.0)]
    gate = ModelGate.model_validate({"name": "effect", "type": "onlineEffect"})
    prom = Series(list(rows))
    measured = measurements.collect(gate, _ctx(share=None), prom, None)
    assert isinstance(measured, m.OnlineEffectMeasurement)
    assert measured.stable == m.VersionArms(holdout=m.ArmCounts(100, 0),
                                            treated=m.ArmCounts(900, 45))
    assert measured.canary == m.VersionArms(holdout=m.ArmCounts(10, 0),
                                            treated=m.ArmCounts(90, 9))
    assert len(prom.asked) == 3 and not measured.pending
    # An arm of one version without a series yet: no cohort counted, and the status says so.
    prom = Series([r for r in rows if r[1] != _model("2", arm="holdout", campaign="")
                   or r[0] != "uplift_windowed_decisions_total"])
    waiting = measurements.collect(gate, _ctx(share=None), prom, None)
    assert isinstance(waiting, m.OnlineEffectMeasurement)
    assert waiting.canary.treated == m.ArmCounts(0, 0)
    # The window closed without counts (it may last): said, but not a wait that holds.
    assert not waiting.pending
    assert waiting.missing == ("no cohort counts yet (uplift_windowed_decisions_total, "
                               "uplift_outcomes_expected_total) for the step's decisions whose "
                               "attribution window (0s) closed since 2026-01-01T00:00:00Z")


def test_online_effect_units_are_the_larger_count_of_the_same_decisions_per_version() -> None:
    """The windowed decisions (a window back) miss a new replica's decisions before its first
    scrape; the closing count, which a stopping replica's preStop drain counts early together
    with the conversions it held, does not. Per version the count with the larger total over
    both arms, so the version's holdout share is one counter's."""
    rows: list[tuple[str, dict[str, str], float]] = [
        ("uplift_windowed_decisions_total", _model(v, arm=arm, campaign=""), units)
        for v, arm, units in (("1", "holdout", 100), ("1", "treated", 900),
                              ("2", "holdout", 10), ("2", "treated", 90))]
    rows += [("uplift_outcomes_expected_total", _model(v, arm=arm, campaign=""), units)
             for v, arm, units in (("1", "holdout", 90), ("1", "treated", 880),
                                   ("2", "holdout", 14), ("2", "treated", 126))]
    rows += [("uplift_outcomes_converted_total", _model(v, arm="treated", campaign=""), 9.0)
             for v in ("1", "2")]
    gate = ModelGate.model_validate({"name": "effect", "type": "onlineEffect"})
    measured = measurements.collect(gate, _ctx(share=None), Series(rows), None)
    assert isinstance(measured, m.OnlineEffectMeasurement) and not measured.pending
    assert measured.stable == m.VersionArms(holdout=m.ArmCounts(100, 0),
                                            treated=m.ArmCounts(900, 9))
    assert measured.canary == m.VersionArms(holdout=m.ArmCounts(14, 0),
                                            treated=m.ArmCounts(126, 9))
    # Without the windowed decisions of one arm, the closing count alone is whole.
    partial = Series([r for r in rows if r[0] != "uplift_windowed_decisions_total"
                      or r[1] != _model("1", arm="holdout", campaign="")])
    measured = measurements.collect(gate, _ctx(share=None), partial, None)
    assert isinstance(measured, m.OnlineEffectMeasurement) and not measured.pending
    assert measured.stable.holdout == m.ArmCounts(90, 0)


def test_online_effect_counts_the_steps_cohorts_from_when_their_window_closed() -> None:
    rows = [(metric, _model(v, arm=arm, campaign=""), 50.0)
            for metric in ("uplift_windowed_decisions_total", "uplift_outcomes_converted_total")
            for v in ("1", "2") for arm in ("holdout", "treated")]
    rows += [("uplift_assignments_total", _model(v, arm=arm), 500.0)
             for v in ("1", "2") for arm in ("holdout", "treated")]
    gate = ModelGate.model_validate({"name": "effect", "type": "onlineEffect"})
    # 300 s into the step with a 2-minute window: the cohorts of the step's decisions closed
    # over the last 180 s; the split of the decisions is checked over the settled 240 s.
    prom = Series(list(rows))
    measured = measurements.collect(gate, replace(_ctx(), attribution_window_s=120), prom, None)
    assert isinstance(measured, m.OnlineEffectMeasurement) and not measured.pending
    ranges = {re.findall(r"increase\(([a-z_]+)\{", q)[0]: re.findall(r"\[(\d+s)\]( offset \d+s)?", q)[0]
              for q in prom.asked if q.startswith("sum by") and "increase" in q}
    # The units when decided, a window earlier (the step's decisions up to 2 minutes ago); the
    # conversions of those decisions, counted as their windows closed (the last 180 s).
    assert ranges == {"uplift_windowed_decisions_total": ("180s", " offset 120s"),
                      "uplift_outcomes_expected_total": ("180s", ""),
                      "uplift_outcomes_converted_total": ("180s", ""),
                      "uplift_assignments_total": ("240s", "")}
    assert measured.split == m.SplitCounts(stable=1000, canary=1000, canary_share=0.5)
    # A window longer than the step so far: no cohort of the step yet. The split is checked
    # all the same, and the status says from when the step's decisions count.
    prom = Series(list(rows))
    waiting = measurements.collect(gate, replace(_ctx(), attribution_window_s=3600), prom, None)
    assert isinstance(waiting, m.OnlineEffectMeasurement)
    assert waiting.pending == ("the step's decisions are compared once their attribution window "
                               "(1h) closes, from 2026-01-01T01:00:00Z")
    assert waiting.canary == waiting.stable == m.VersionArms(m.ArmCounts(0, 0), m.ArmCounts(0, 0))
    assert waiting.split == m.SplitCounts(stable=1000, canary=1000, canary_share=0.5)
    assert not any("outcomes" in q for q in prom.asked)


def test_one_analysis_asks_each_query_once() -> None:
    prom = Series([("uplift_request_duration_seconds_count", _model(v, endpoint="infer"), n)
                   for v, n in (("1", 500.0), ("2", 500.0))])
    shared = measurements.per_analysis(prom)
    assert shared is not None and measurements.per_analysis(None) is None
    gate = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})
    for _ in range(3):
        measured = measurements.collect(gate, _ctx(), shared, None)
        assert isinstance(measured, m.ErrorRateMeasurement)
        assert (measured.canary_requests, measured.stable_requests) == (500, 500)
    assert len(prom.asked) == 5  # the first gate's five queries; the others asked nothing


def test_one_analysis_asks_every_query_at_its_own_instant() -> None:
    # Counts compared with each other (a holdout's arms, the two versions) must come from the
    # same scrapes, and the ranges are computed from the analysis's clock.
    prom = Series([("uplift_assignments_total", _model(v, arm=arm), 100.0)
                   for v in ("1", "2") for arm in ("holdout", "treated")])
    at = T0 + dt.timedelta(minutes=5)
    shared = measurements.per_analysis(prom, at)
    for type_ in ("onlineEffect", "errorRate"):
        gate = ModelGate.model_validate({"name": "g", "type": type_})
        measurements.collect(gate, _ctx(), shared, None)
    assert len(prom.asked) >= 3 and set(prom.asked_at) == {at}


def test_a_version_first_scraped_inside_the_settled_window_is_named() -> None:
    """``increase`` misses what a series served before its first scrape: a canary scraped
    late reads short, and the gate must know (it judges the split on the counts since)."""
    canary = _model("2", endpoint="infer")
    rows = [("uplift_request_duration_seconds_count", _model("1", endpoint="infer"), 452.0),
            ("uplift_request_duration_seconds_count", canary, 123.0)]
    gate = ModelGate.model_validate({"name": "errors", "type": "errorRate", "margin": 0.2})
    on_time = measurements.collect(gate, _ctx(share=0.3), Series(list(rows)), None)
    assert isinstance(on_time, m.ErrorRateMeasurement) and on_time.split is not None
    assert on_time.split.scraped_late == ()
    prom = Series(list(rows), late=[("uplift_request_duration_seconds_count", canary)])
    late = measurements.collect(gate, _ctx(share=0.3), prom, None)
    assert isinstance(late, m.ErrorRateMeasurement) and late.split is not None
    assert late.split.scraped_late == ("canary",)
    assert (late.split.stable, late.split.canary) == (452, 123)
    # The window is the settled one (the step's first interval left out): 300 s − 60 s.
    assert any(q.endswith(" offset 240s)") for q in prom.asked)


def test_a_cohort_never_reads_more_conversions_than_units() -> None:
    # The units (when decided, a window back) and the conversions (when each window closed)
    # are two series: at a range's edge a small arm can read one conversion more than units
    # for a look. The gates would call that invalid data (an Error that counts towards a
    # rollback), so the collector caps it.
    rows = [("uplift_windowed_decisions_total", _model(v, arm=arm, campaign=""), 10.0)
            for v in ("1", "2") for arm in ("holdout", "treated")]
    rows += [("uplift_outcomes_converted_total", _model("2", arm="holdout", campaign=""), 12.0)]
    gate = ModelGate.model_validate({"name": "effect", "type": "onlineEffect"})
    measured = measurements.collect(gate, _ctx(share=None), Series(rows), None)
    assert isinstance(measured, m.OnlineEffectMeasurement)
    assert measured.canary.holdout == m.ArmCounts(10, 10)


class WithP95(Series):
    """``Series`` that also answers the latency template's p95 (one scalar per version)."""

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.asked.append(promql)
        return 0.05


def _seldon(version: str, **labels: str) -> dict[str, str]:
    return {"namespace": "shop", "deployment_name": "uplift", "predictor_name": f"v{version}",
            **labels}


@pytest.mark.parametrize("template", [
    # A native histogram's p95 and a recording rule: no classic histogram's buckets to count.
    'histogram_quantile(0.95, sum(rate(http_server_duration_seconds{version="{{version}}"}'
    '[{{interval}}])))',
    'job:model_latency_seconds:p95{version="{{version}}"}'])
def test_latency_never_judges_another_histogram_than_its_template_reads(template: str) -> None:
    """Before, the runtime's own histogram was judged under the template's p95. Validation
    refuses such a template (InvalidSpec); measured all the same, it is an Error, nothing asked."""
    gate = ModelGate.model_validate({"name": "latency", "type": "latency",
                                     "templateRef": "team-p95", "margin": 0.2})
    ctx = replace(_ctx(), metric_templates={**BUILTIN_TEMPLATES, "team-p95": template})
    prom = WithP95([])
    measured = measurements.collect(gate, ctx, prom, None)
    assert isinstance(measured, m.MeasurementError)
    assert "_bucket series over a range" in measured.message
    assert prom.asked == []


@pytest.mark.parametrize(("template", "inference", "other"), [
    # The runtime times the sender's report batches on the same histogram.
    ("uplift-latency-p95", lambda v, le: _model(v, endpoint="infer", le=le),
     lambda v, le: _model(v, endpoint="outcomes", le=le)),
    # Seldon's executor: inference over REST is service="predictions"; metadata, status and
    # feedback calls are timed on the same histogram.
    ("seldon-latency-p95", lambda v, le: _seldon(v, service="predictions", le=le),
     lambda v, le: _seldon(v, service="metadata", le=le)),
])
def test_latency_judges_inference_requests_only(
        template: str, inference: Callable[[str, str], dict[str, str]],
        other: Callable[[str, str], dict[str, str]]) -> None:
    bucket = ("uplift_request_duration_seconds_bucket" if template.startswith("uplift")
              else "seldon_api_executor_server_requests_seconds_bucket")
    rows = [("uplift_request_duration_seconds_count", _model(v, endpoint="infer"), 1000.0)
            for v in ("1", "2")]
    for v in ("1", "2"):
        rows += [(bucket, inference(v, "0.1"), 900.0), (bucket, inference(v, "+Inf"), 1000.0)]
    # The canary's other requests: 5,000, every one slower than 0.1 s.
    rows += [(bucket, other("2", "0.1"), 0.0), (bucket, other("2", "+Inf"), 5000.0)]
    gate = ModelGate.model_validate({"name": "latency", "type": "latency",
                                     "templateRef": template, "margin": 0.2})
    prom = WithP95(rows)
    measured = measurements.collect(gate, _ctx(), prom, None)
    assert isinstance(measured, m.LatencyMeasurement)
    assert (measured.canary_requests, measured.stable_requests) == (1000, 1000)
    assert measured.canary_buckets == measured.stable_buckets == (900, 1000)
    # The canary's p95 from the template (shown); the stable's from its bucket counts.
    p95 = [q for q in prom.asked if q.startswith("histogram_quantile")]
    assert len(p95) == 1
    assert all(('endpoint="infer"' if template.startswith("uplift") else
                'service="predictions"') in q for q in p95)
