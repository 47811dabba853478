"""Campaign gate collectors against a fake Prometheus: the queries they send (one campaign's
series, late outcomes never counted as conversions), what they hand the gates, no data."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import promql_parser
import pytest
import yaml

from uplift_operator.adapters.prometheus import MetricsUnavailable, QueryError, Sample
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure, gates
from uplift_operator.domain import measurements as m
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.services.measurements import (
    CampaignGateContext,
    campaign_units,
    collect_campaign,
    per_analysis,
)
from uplift_operator.services.ports import Registry

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
STEP = NOW - dt.timedelta(minutes=10)
ANCHOR = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SEL = 'namespace="shop", model="hillstrom-uplift", campaign="spring-email"'


#: A query summed by one label over a set of its values: ``sum by (arm)(…{…, arm=~"a|b"}…)``.
_GROUPED = re.compile(r'^sum by \((\w+)\)')


@dataclass
class Counters:
    """PromQL → value by metric name and label matchers; an ``or vector(0)`` query reads 0 where
    a series is missing, any other query no data (None). A query summed ``by (label)`` over
    ``label=~"a|b"`` answers a row per value, each as the query of that value alone
    (``label="a"``) reads, none where it has no data: so a table keyed by ``arm="treated"``
    answers the collectors' one query for both arms, each arm its own value."""

    values: dict[tuple[str, str], float] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.asked.append(promql)
        return self._value(promql)

    def _value(self, promql: str) -> float | None:
        for (metric, needle), value in self.values.items():
            if f"{metric}{{" in promql and needle in promql:
                return value
        return 0.0 if promql.endswith("or vector(0)") else None

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        self.asked.append(promql)
        grouped = _GROUPED.match(promql)
        if grouped is None:
            return []
        label = grouped.group(1)
        matcher = re.search(rf'{label}=~"([\w|]+)"', promql)
        assert matcher is not None, f"grouped by {label} over no set of its values: {promql}"
        rows = []
        for value in matcher.group(1).split("|"):
            alone = (f"sum{promql[grouped.end():]}"
                     .replace(matcher.group(0), f'{label}="{value}"'))
            found = self._value(alone)
            if found is not None:
                rows.append(Row({label: value}, found))
        return rows


def context(**changes: Any) -> CampaignGateContext:
    spec = CampaignSpec.model_validate(yaml.safe_load(SAMPLE.read_text())["spec"])
    values: dict[str, Any] = {
        "namespace": "shop", "name": "spring-email", "model": "hillstrom-uplift", "spec": spec,
        "step_started_at": STEP, "ramp_started_at": STEP - dt.timedelta(hours=1), "now": NOW,
        "budget_anchor": ANCHOR, "stable_version": "3", "stable_run_id": "run-3", **changes}
    return CampaignGateContext(**values)


def gate(type_: str, **fields: Any) -> CampaignGate:
    return CampaignGate.model_validate({"name": "g", "type": type_, **fields})


ARMS = {
    # Cohorts: the decisions whose attribution window closed in the step, their conversions.
    ("uplift_outcomes_expected_total", 'arm="treated"'): 9000.0,
    ("uplift_outcomes_expected_total", 'arm="holdout"'): 1000.0,
    ("uplift_outcomes_converted_total", 'arm="treated"'): 1500.0,
    ("uplift_outcomes_converted_total", 'arm="holdout"'): 100.0,
    ("uplift_outcomes_expected_total", ""): 10000.0,
    ("uplift_outcomes_received_total", ""): 9800.0,
    ("uplift_late_outcomes_total", ""): 55.0,
    # Counted when decided / reported: the cohorts' spend per treated decision (0.1, read over
    # their decisions, as many as they count) is what roi takes from them; the conversions
    # reported in the step are not the arms'.
    ("uplift_assignments_total", 'arm="treated"'): 9000.0,
    ("uplift_assignments_total", 'arm="holdout"'): 1000.0,
    ("uplift_conversions_total", 'arm="treated"'): 4000.0,
    ("uplift_conversions_total", 'arm="holdout"'): 3000.0,
    ("uplift_campaign_spend_total", ""): 900.0,
}


def test_delivery_rate_reads_reports_and_the_decisions_old_enough_to_be_reported() -> None:
    prom = Counters({("uplift_assignments_total", "[480s] offset 120s"): 1000.0,
                     ("uplift_assignments_total", "[120s])"): 300.0,
                     ("uplift_deliveries_total", 'status="ok"'): 1270.0,
                     ("uplift_deliveries_total", 'status="failed"'): 15.0})
    got = collect_campaign(gate("deliveryRate", min=0.95, reportDelay="2m"), context(), prom,
                           None)
    assert got == m.DeliveryRateMeasurement(delivered=1270, decided=1000, reported=1285,
                                            recent=300)
    assert all(SEL in q for q in prom.asked)
    decided = [q for q in prom.asked if "uplift_assignments_total" in q]
    # Decisions of the step's first 8 minutes (the last 2 may still be reported), and those
    # of the last 2, which count only once reported.
    assert len(decided) == 2
    assert sum("[480s] offset 120s" in q for q in decided) == 1
    assert sum("[120s])" in q and "offset" not in q for q in decided) == 1
    assert all('arm="treated"' in q and 'treatment!="none"' in q for q in decided)
    # Delivered and failed in one query, by status.
    reports = [q for q in prom.asked if "uplift_deliveries_total" in q]
    assert len(reports) == 1 and "[600s]" in reports[0] and "offset" not in reports[0]
    assert reports[0].startswith("sum by (status)") and 'status=~"ok|failed"' in reports[0]
    # A Fail is judged on the 1000 older decisions, a Pass on all 1300 of the step.
    assert (got.trials, got.pass_trials) == (1285, 1300)


def test_delivery_rate_counts_no_decision_missing_before_the_report_delay() -> None:
    """Within reportDelay of the step's start no decision is missing yet (none counts towards
    a Fail), and none is delivered but those reported: the reports alone no longer pass a
    sender that silently drops a tenth of its deliveries (before: 900/0/900, a Pass)."""
    prom = Counters({("uplift_assignments_total", "[180s])"): 1000.0,
                     ("uplift_deliveries_total", 'status="ok"'): 900.0})
    ctx = context(now=STEP + dt.timedelta(minutes=3))
    g = gate("deliveryRate")  # default reportDelay 5m
    got = collect_campaign(g, ctx, prom, None)
    assert got == m.DeliveryRateMeasurement(delivered=900, decided=0, reported=900,
                                            recent=1000)
    decided = [q for q in prom.asked if "uplift_assignments_total" in q]
    assert len(decided) == 1 and "offset" not in decided[0]  # no older decision to count
    assert isinstance(got, m.DeliveryRateMeasurement)
    out = gates.evaluate_gate(g, got, None, ctx.now)
    assert out.verdict is GateVerdict.INCONCLUSIVE and out.value == pytest.approx(0.9)
    # Every decision reported delivered: a Pass.
    honest = m.DeliveryRateMeasurement(delivered=1000, decided=0, reported=1000, recent=1000)
    assert gates.evaluate_gate(g, honest, None, ctx.now).verdict is GateVerdict.PASS


def test_incremental_conversions_counts_arms_and_completeness() -> None:
    prom = Counters(dict(ARMS))
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    assert got == m.IncrementalConversionsMeasurement(
        arms=m.CampaignArms(m.ArmCounts(9000, 1500), m.ArmCounts(1000, 100)),
        holdout_fraction=0.1,
        completeness=m.OutcomeCompleteness(expected=10000, received=9800, late=55))
    assert all(SEL in q for q in prom.asked)


def test_late_outcomes_never_enter_the_conversions() -> None:
    prom = Counters(dict(ARMS))
    collect_campaign(gate("roi"), context(), prom, None)
    conversions = [q for q in prom.asked if "uplift_outcomes_converted_total" in q]
    assert conversions and not any("late" in q or "outcome_value" in q for q in conversions)
    assert not any("uplift_conversions_total" in q for q in prom.asked)
    # The late counter is read once, for completeness only, and added to nothing.
    late = [q for q in prom.asked if "uplift_late_outcomes_total" in q]
    assert len(late) == 1 and "+" not in late[0]


def test_roi_adds_the_economics_and_the_spend() -> None:
    got = collect_campaign(gate("roi"), context(), Counters(dict(ARMS)), None)
    assert isinstance(got, m.RoiMeasurement)
    # 900 spent on the cohorts' 9,000 treated decisions (read over the range they were
    # decided in): 0.1 each, on the cohorts' 9,000 treated units.
    assert got.value_per_conversion == 110.0 and got.spend == pytest.approx(900.0)
    # No spend series yet: no cost per unit to apply, no data.
    unspent = {k: v for k, v in ARMS.items() if k[0] != "uplift_campaign_spend_total"}
    assert collect_campaign(gate("roi"), context(), Counters(unspent), None) is None
    # None of the cohorts' treated decisions counted where they were decided: no cost per
    # decision to apply, no data.
    quiet = {**ARMS, ("uplift_assignments_total", 'arm="treated"'): 0.0}
    assert collect_campaign(gate("roi"), context(), Counters(quiet), None) is None


def test_roi_of_a_drained_replicas_cohorts_is_measured() -> None:
    """A replica stopped gracefully (runtime ``drain_cohorts``) counts its pending decisions
    into the closing count at once: 4,000 of them on top of the 9,000 closed, while the
    decisions read where they were made, a window back, count the 9,000 (as do the windowed
    decisions). A shortfall of that read against the cohorts' treated units is normal then (and
    while closing counts arrive in slot bursts): the look is measured, costed at the read's
    spend per decision, never Inconclusive blaming Prometheus' retention (06607086 did)."""
    drained = {**ARMS,
               ("uplift_outcomes_expected_total", 'arm="treated"'): 13000.0,
               ("uplift_outcomes_expected_total", ""): 14000.0,
               ("uplift_windowed_decisions_total", 'arm="treated"'): 9000.0,
               ("uplift_windowed_decisions_total", 'arm="holdout"'): 1000.0}
    got = collect_campaign(gate("roi"), context(), Counters(drained), None)
    assert isinstance(got, m.RoiMeasurement), got
    assert got.arms.treated.units == 13000
    assert got.spend == pytest.approx(900.0 / 9000 * 13000)  # 0.1 per decision, 13,000 units
    # So is a read under 90 % of the units for whatever reason (a retention short of the
    # window plus the cohorts' range is not detected: docs/statistics.md, the roi row).
    short = {**ARMS, ("uplift_assignments_total", 'arm="treated"'): 8000.0}
    got = collect_campaign(gate("roi"), context(), Counters(short), None)
    assert isinstance(got, m.RoiMeasurement), got
    assert got.spend == pytest.approx(900.0 / 8000 * 9000)


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_the_conversion_gates_get_whether_a_pass_completes_and_the_split_tolerance(
        type_: str) -> None:
    spec = context().spec
    spec = spec.model_copy(update={"exposure": spec.exposure.model_copy(
        update={"split_tolerance": 0.1})})
    got = collect_campaign(gate(type_), context(spec=spec, completes=True), Counters(dict(ARMS)),
                           None)
    assert isinstance(got, m.IncrementalConversionsMeasurement | m.RoiMeasurement)
    assert got.completes and got.split_tolerance == 0.1
    default = collect_campaign(gate(type_), context(), Counters(dict(ARMS)), None)
    assert isinstance(default, m.IncrementalConversionsMeasurement | m.RoiMeasurement)
    assert not default.completes and default.split_tolerance == 0.04


def test_no_completeness_series_yet_reads_as_no_window_closed() -> None:
    # The runtime exports the cohorts at zero: no window has closed in the step yet.
    values = {k: (0.0 if "outcomes" in k[0] else v) for k, v in ARMS.items() if k[1]}
    got = collect_campaign(gate("incrementalConversions"), context(), Counters(values), None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.completeness == m.OutcomeCompleteness(expected=0, received=0, late=0)


def test_budget_reads_the_spend_since_the_period_started() -> None:
    prom = Counters({("uplift_campaign_spend_total", ""): 5100.0})
    got = collect_campaign(gate("budget"), context(), prom, None)
    start = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)  # 7d periods from 2026-03-01
    # The sample's cheapest treatment: womens-e-mail at the economics' 0.10 (mens at 0.12).
    assert got == m.BudgetMeasurement(spend=5100.0, budget=5000.0, period_start=start,
                                      period_end=start + dt.timedelta(days=7), cheapest=0.10)
    # The runtime exports no period gauges here: the counter's increase since the period began.
    assert "uplift_campaign_period_spend" in prom.asked[0]
    window = re.search(r"\[(\d+)s\]", prom.asked[-1])
    assert window is not None
    assert window.group(1) == str(int((NOW - start).total_seconds()))


@dataclass
class Ledgers:
    """Each ledger's last period spend and period start, as ``last_over_time`` answers them."""

    spend: dict[str, float]
    start: dict[str, float]
    asked: list[str] = field(default_factory=list)

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        self.asked.append(promql)
        values = (self.spend if "uplift_campaign_period_spend{" in promql
                  else self.start if "uplift_campaign_period_start_seconds{" in promql else {})
        return [Sample(labels={"pod": "p", "ledger": ledger}, value=value, timestamp=0.0)
                for ledger, value in values.items()]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.asked.append(promql)
        return 5100.0 if "uplift_campaign_spend_total" in promql else None


def test_budget_sums_each_ledgers_last_spend_in_the_period() -> None:
    start = dt.datetime(2026, 3, 8, tzinfo=dt.UTC)
    this, last = start.timestamp(), start.timestamp() - 7 * 86400
    # r2 restarted: its first ledger is stale but of this period; "old" last reported the
    # previous period's spend (gone before the rollover was scraped): not counted.
    prom = Ledgers(spend={"r1": 1200.0, "r2-first": 800.0, "r2": 300.5, "old": 4000.0},
                   start={"r1": this, "r2-first": this, "r2": this, "old": last})
    got = collect_campaign(gate("budget"), context(), prom, None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 2300.5
    assert len(prom.asked) == 2  # the ledgers answered: no counter fallback
    period = f"[{int((NOW - start).total_seconds())}s]"
    assert prom.asked == [f"last_over_time(uplift_campaign_period_spend{{{SEL}}}{period})",
                          f"last_over_time(uplift_campaign_period_start_seconds{{{SEL}}}{period})"]
    for promql in prom.asked:
        promql_parser.parse(promql)


def test_budget_hands_the_pass_each_ledgers_spend_keyed_by_its_ledger_label() -> None:
    # What the pass merges with status.budgetLedgers: by the runtime's ledger id. The same
    # ledger scraped twice (a second monitor; a job relabelled mid-period, the old series'
    # last value lower) is one spend, its largest, not their sum; a series without the label
    # (not this runtime's) gets a digest of its labels, each its own; the previous period's is
    # left out.
    this, last = dt.datetime(2026, 3, 8, tzinfo=dt.UTC).timestamp(), 0.0

    @dataclass
    class Series(Ledgers):
        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            self.asked.append(promql)
            spend = "uplift_campaign_period_spend{" in promql
            rows = [({"pod": "p1", "ledger": "aa11"}, 100.0, this),
                    ({"pod": "p1", "ledger": "aa11", "job": "other"}, 100.0, this),
                    ({"pod": "p1", "ledger": "aa11", "job": "renamed"}, 96.0, this),
                    ({"pod": "p2", "ledger": "bb22", "job": "renamed"}, 40.0, this),
                    ({"pod": "p2", "ledger": "bb22"}, 38.5, this),
                    ({"pod": "p3"}, 7.0, this),
                    ({"pod": "p5"}, 2.0, this),
                    ({"pod": "p4", "ledger": "cc33"}, 900.0, last)]
            return [Sample(labels=labels, value=value if spend else start, timestamp=0.0)
                    for labels, value, start in rows]

    got = collect_campaign(gate("budget"), context(), Series({}, {}), None)
    assert isinstance(got, m.BudgetMeasurement) and got.ledgers is not None
    unlabelled = {key: spend for key, spend in got.ledgers.items()
                  if key not in ("aa11", "bb22")}
    assert all(key.startswith("series-") for key in unlabelled)
    assert sorted(unlabelled.values()) == [2.0, 7.0]
    assert dict(got.ledgers) == {"aa11": 100.0, "bb22": 40.0, **unlabelled}
    assert got.spend == 149.0


def test_budget_without_the_period_gauges_has_no_ledgers() -> None:
    got = collect_campaign(gate("budget"), context(),
                           Counters({("uplift_campaign_spend_total", ""): 12.0}), None)
    assert isinstance(got, m.BudgetMeasurement)
    assert got.ledgers is None and got.spend == 12.0


def test_budget_of_ledgers_all_from_the_previous_period_is_zero() -> None:
    last = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    prom = Ledgers(spend={"r1": 4000.0}, start={"r1": last})
    got = collect_campaign(gate("budget"), context(), prom, None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 0.0
    assert got.ledgers == {}  # a reading (nothing of this period), not a runtime without them


def test_budget_passes_the_cheapest_treatments_cost_an_override_included() -> None:
    # What a replica must have left to treat at all (review-campaign finding 4): the cheapest
    # of each treatment's cost as the campaigns file gives it to the runtime.
    spec = context().spec
    cheaper = spec.model_copy(update={"treatments": [
        spec.treatments[0], spec.treatments[1].model_copy(update={"cost_per_treatment": 0.04})]})
    prom = Counters({("uplift_campaign_spend_total", ""): 10.0})
    got = collect_campaign(gate("budget"), context(spec=cheaper), prom, None)
    assert isinstance(got, m.BudgetMeasurement) and got.cheapest == 0.04


@pytest.mark.parametrize("type_", ["deliveryRate", "incrementalConversions", "roi", "custom"])
def test_no_data_is_none(type_: str) -> None:
    g = gate(type_, query="x", min=1) if type_ == "custom" else gate(type_)
    assert collect_campaign(g, context(), Counters(), None) is None


@dataclass
class _Down(Counters):
    """A Prometheus that does not answer (``failure``), as the adapter raises it."""

    failure: Exception = field(default_factory=lambda: MetricsUnavailable(
        "Prometheus at http://prom:9090: timed out", unanswered=True))

    def scalar(self, promql: str, time: Any = None) -> float | None:
        raise self.failure

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        raise self.failure


@pytest.mark.parametrize(("prometheus", "words"), [
    (Counters(), "not measured yet (holding: no spend series"),
    (None, "measurement failed: no Prometheus configured"),
    (_Down(), "measurement failed: Prometheus at http://prom:9090: timed out"),
    (_Down(failure=QueryError("execution: too many samples")),
     "measurement failed: bad query: execution: too many samples"),
])
def test_a_spend_prometheus_cannot_give_holds_the_budget_gate(
        prometheus: Counters | None, words: str) -> None:
    # The period's money, not the model's doing: no evidence against the model, so never an
    # Error counted towards consecutiveErrorLimit (a rollback), declared gate or implied one.
    got = collect_campaign(gate("budget"), context(), prometheus, None)
    assert isinstance(got, (m.NotMeasured, m.MeasurementError)) and got.holds, got
    judged = gates.evaluate_gate(gate("budget"), got, None, NOW)
    assert judged.holds and judged.message.startswith(words), judged.message
    assert judged.verdict is (GateVerdict.INCONCLUSIVE if isinstance(got, m.NotMeasured)
                              else GateVerdict.ERROR)
    held = gates.assess(gate("budget"), None, judged)
    assert (held.consecutive_errors, held.inconclusives) == (0, 0)


def test_other_gates_still_count_an_unreachable_prometheus_as_an_error() -> None:
    got = collect_campaign(gate("deliveryRate"), context(), _Down(), None)
    assert isinstance(got, m.MeasurementError) and not got.holds


def test_no_prometheus_is_a_measurement_error() -> None:
    got = collect_campaign(gate("deliveryRate"), context(), None, None)
    assert isinstance(got, m.MeasurementError) and "Prometheus" in got.message


def test_custom_fills_the_campaign_and_the_stable_version() -> None:
    prom = Counters({("q", ""): 0.5})
    got = collect_campaign(gate("custom", query='q{c="{{name}}", v="{{version}}"}', min=0.1),
                           context(), prom, None)
    assert got == m.CustomMeasurement(value=0.5)
    assert prom.asked == ['q{c="spring-email", v="3"}']


def test_custom_with_a_built_in_template_reads_the_models_serving_graph() -> None:
    """The built-in templates describe the serving graph, which carries the UpliftModel's name:
    filled with the Campaign's, every query read a graph that does not exist (no data)."""
    prom = Counters({("model_infer_request_failure_total", 'model="hillstrom-uplift"'): 0.01})
    got = collect_campaign(gate("custom", templateRef="mlserver-error-rate", max=0.05),
                           context(metric_templates=BUILTIN_TEMPLATES), prom, None)
    assert got == m.CustomMeasurement(value=0.01)
    assert prom.asked and all('model="hillstrom-uplift"' in q and "spring-email" not in q
                              for q in prom.asked)


def test_custom_fills_the_model_for_an_inline_query() -> None:
    prom = Counters({("q", ""): 0.5})
    collect_campaign(gate("custom", query='q{m="{{model}}", c="{{name}}"}', min=0.1), context(),
                     prom, None)
    assert prom.asked == ['q{m="hillstrom-uplift", c="spring-email"}']


def test_drift_waits_for_a_stable_version() -> None:
    assert collect_campaign(gate("drift"), context(stable_version=None), Counters(), None) is None


@dataclass
class PerTreatment(Counters):
    """Counters that also answer ``by (treatment)`` queries, one row per treatment."""

    rows: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        if not promql.startswith("sum by (treatment)"):
            return super().query(promql, time)
        self.asked.append(promql)
        for metric, rows in self.rows.items():
            if f"{metric}{{" in promql:
                return [Row({"treatment": k}, v) for k, v in rows]
        return []


@dataclass(frozen=True)
class Row:
    labels: dict[str, str]
    value: float


# The runtime labels its series with the treatment's key, never its spec name
# (``runtime.Runtime._record``: ``treatment=key`` from ``Engine.keys``): "mens-e-mail" is
# exported as "mens_e_mail".
MENS, WOMENS = "mens_e_mail", "womens_e_mail"


def test_a_gate_naming_treatments_counts_only_their_units_on_both_arms() -> None:
    prom = Counters(dict(ARMS))
    collect_campaign(gate("incrementalConversions", treatments=["mens-e-mail"]), context(),
                     prom, None)
    counted = [q for q in prom.asked if q.startswith("sum by (arm)")]  # the arms' counts
    assert counted and all(f'treatment=~"{MENS}"' in q and 'arm=~"treated|holdout"' in q
                           for q in counted)
    assert {"uplift_outcomes_expected_total", "uplift_outcomes_converted_total"} <= {
        metric for q in counted for metric in re.findall(r"uplift_\w+", q)}


def test_a_delivery_gate_naming_treatments_counts_only_their_decisions_and_reports() -> None:
    prom = Counters(dict(ARMS))
    collect_campaign(gate("deliveryRate", treatments=["womens-e-mail"]),
                     context(), prom, None)
    assert all(f'treatment=~"{WOMENS}"' in q for q in prom.asked)


@pytest.mark.parametrize("type_", ["deliveryRate", "incrementalConversions", "roi"])
def test_a_gate_naming_treatments_asks_queries_prometheus_accepts(type_: str) -> None:
    # re.escape("mens-e-mail") wrote "mens\-e\-mail", which Prometheus refuses ("unknown
    # escape sequence"): every analysis of the gate was an Error.
    prom = PerTreatment({**ARMS, ("uplift_deliveries_total", 'status="ok"'): 4400.0},
                        rows={"uplift_assignments_total": [(MENS, 9000.0)]})
    got = collect_campaign(gate(type_, treatments=["womens-e-mail", "mens-e-mail"]), context(),
                           prom, None)
    assert got is not None and not isinstance(got, m.MeasurementError)
    named = [q for q in prom.asked if "treatment=~" in q]
    assert named and all(f'treatment=~"{WOMENS}|{MENS}"' in q for q in named)
    for q in prom.asked:
        promql_parser.parse(q)


def test_roi_of_named_treatments_costs_their_treated_units_at_their_own_cost() -> None:
    # Sample: womens-e-mail at the campaign's 0.10, mens-e-mail at its own 0.12.
    prom = PerTreatment(dict(ARMS), rows={"uplift_assignments_total": [(MENS, 9000.0)]})
    got = collect_campaign(gate("roi", treatments=["mens-e-mail"]), context(), prom, None)
    assert isinstance(got, m.RoiMeasurement)
    assert got.spend == pytest.approx(0.12 * 9000)  # its own cost, on the cohorts' units
    assert not any("uplift_campaign_spend_total" in q for q in prom.asked)


def _valued(womens: float, mens: float) -> CampaignSpec:
    spec = context().spec
    first, second = spec.treatments
    return spec.model_copy(update={"treatments": [
        first.model_copy(update={"value_per_conversion": womens}),
        second.model_copy(update={"value_per_conversion": mens})]})


def _per_treatment(metric: str, counts: Mapping[tuple[str, str], float | None]
                   ) -> list[tuple[str, dict[str, str], float]]:
    return [(metric, {**_BASE, "arm": arm, "treatment": key}, n)
            for (arm, key), n in counts.items() if n is not None]


def test_roi_of_treatments_of_different_values_counts_each_against_its_own_holdout() -> None:
    # Each treatment's cohorts in both arms (a holdout row carries the treatment withheld), at
    # its own value; "none" (the rows given nothing) at the campaign's 110.
    units = {("treated", WOMENS): 6000.0, ("holdout", WOMENS): 700.0,
             ("treated", MENS): 2000.0, ("holdout", MENS): 200.0,
             ("treated", "none"): 1000.0, ("holdout", "none"): 100.0}
    converted = {("treated", WOMENS): 1200.0, ("holdout", WOMENS): 70.0,
                 ("treated", MENS): 300.0, ("holdout", MENS): 20.0,
                 ("treated", "none"): 10.0, ("holdout", "none"): None}
    prom = Series([*_per_treatment("uplift_outcomes_expected_total", units),
                   *_per_treatment("uplift_outcomes_converted_total", converted),
                   *_rows("uplift_assignments_total", treated=9000.0),
                   ("uplift_campaign_spend_total", {k: v for k, v in _BASE.items()
                                                    if k != "treatment"}, 900.0)])
    got = collect_campaign(gate("roi"), context(spec=_valued(100.0, 200.0)), prom, None)
    assert isinstance(got, m.RoiMeasurement)
    assert got.strata == (
        m.RoiStratum(MENS, 200.0, m.ArmCounts(2000, 300), m.ArmCounts(200, 20)),
        m.RoiStratum("none", 110.0, m.ArmCounts(1000, 10), m.ArmCounts(100, 0)),
        m.RoiStratum(WOMENS, 100.0, m.ArmCounts(6000, 1200), m.ArmCounts(700, 70)))
    assert got.arms == m.CampaignArms(m.ArmCounts(9000, 1510), m.ArmCounts(1000, 90))
    # Shown at the mean of the treatments' values, never weighted by what converted.
    assert got.value_per_conversion == pytest.approx(150.0)
    assert got.spend == pytest.approx(0.10 * 9000)
    grouped = [q for q in prom.asked if q.startswith("sum by (arm, treatment)")]
    assert {re.findall(r"uplift_\w+", q)[0] for q in grouped} == {
        "uplift_outcomes_expected_total", "uplift_windowed_decisions_total",
        "uplift_outcomes_converted_total"}
    for q in prom.asked:
        promql_parser.parse(q)
    # One value (the sample's): the arms as before, no strata asked for.
    prom = Series(list(prom.rows))
    one = collect_campaign(gate("roi"), context(spec=_valued(100.0, 100.0)), prom, None)
    assert isinstance(one, m.RoiMeasurement) and one.strata == ()
    assert one.value_per_conversion == 100.0
    assert not any("treatment)" in q for q in prom.asked)


def test_roi_strata_missing_an_arm_are_no_data() -> None:
    units = {("treated", WOMENS): 6000.0, ("treated", MENS): 2000.0}
    prom = Series([*_per_treatment("uplift_outcomes_expected_total", units),
                   *_rows("uplift_assignments_total", treated=9000.0),
                   ("uplift_campaign_spend_total", dict(_BASE), 900.0)])
    assert collect_campaign(gate("roi"), context(spec=_valued(100.0, 200.0)), prom,
                            None) is None


def test_a_campaign_cohort_never_reads_more_conversions_than_units() -> None:
    # Expected and converted are counted on different replicas, scraped apart.
    prom = Counters({**ARMS, ("uplift_outcomes_converted_total", 'arm="holdout"'): 1001.0})
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.arms.holdout == m.ArmCounts(1000, 1000)


# -- whose decisions the conversion gates judge --------------------------------------------------

def _with_window(window: str) -> CampaignSpec:
    spec = context().spec
    return spec.model_copy(update={"experiment": spec.experiment.model_copy(
        update={"attribution_window": window})})


def _ranges(prom: Counters, metric: str) -> list[str]:
    return [re.findall(r"\[(\d+s)\]", q)[0] for q in prom.asked if f"{metric}{{" in q]


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_cohorts_of_another_version_or_ramp_are_never_judged(type_: str) -> None:
    # The model promoted the followed version 5 minutes ago (a 2-minute step restarted then
    # would read decisions of the version promoted away from, made in the window before).
    since = NOW - dt.timedelta(minutes=5)
    prom = Counters(dict(ARMS))
    got = collect_campaign(gate(type_), context(spec=_with_window("10m"), decisions_since=since,
                                                step_started_at=since), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement | m.RoiMeasurement)
    assert got.pending == ("the decisions made on version 3 since 2026-03-10T11:55:00Z are "
                           "judged once their attribution window (10m) closes, from "
                           "2026-03-10T12:05:00Z")
    assert got.arms == m.CampaignArms(m.ArmCounts(0, 0), m.ArmCounts(0, 0))
    assert not any("outcomes" in q for q in prom.asked)


@pytest.mark.parametrize("type_", ["incrementalConversions", "roi"])
def test_cohorts_count_from_a_window_after_the_version_began_or_the_step_whichever_is_later(
        type_: str) -> None:
    spec = _with_window("4m")
    # The ramp started 6 minutes ago, the step 10 minutes ago → cohorts of the last 2 minutes
    # (their decisions made since the ramp started); the cost per unit from the whole step.
    prom = Counters(dict(ARMS))
    got = collect_campaign(gate(type_), context(spec=spec, decisions_since=NOW - dt.timedelta(
        minutes=6)), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement | m.RoiMeasurement)
    assert got.pending is None and got.arms.treated == m.ArmCounts(9000, 1500)
    for metric in ("uplift_outcomes_expected_total", "uplift_outcomes_converted_total",
                   "uplift_outcomes_received_total", "uplift_late_outcomes_total"):
        assert set(_ranges(prom, metric)) == {"120s"}, metric
    # roi's cost per treated unit from the cohorts' own decisions, a window back (not the
    # step's 600 s of later ones).
    for metric in ("uplift_assignments_total", "uplift_campaign_spend_total"):
        asked = [q for q in prom.asked if f"{metric}{{" in q]
        assert all("[120s] offset 240s" in q for q in asked), asked
        assert bool(asked) == (type_ == "roi"), metric
    # Begun on this version long before the step: every cohort that closed in the step.
    prom = Counters(dict(ARMS))
    collect_campaign(gate(type_), context(spec=spec, decisions_since=STEP - dt.timedelta(days=1)),
                     prom, None)
    assert set(_ranges(prom, "uplift_outcomes_expected_total")) == {"600s"}


@pytest.mark.parametrize(("decided", "units"), [
    # A replica stopped with 3,000 treated and 150 holdout decisions pending: not lost.
    ((12000.0, 1150.0), (12000, 1150)),
    # Prometheus no longer keeps the decisions' start: the closing count.
    ((8000.0, 1000.0), (9000, 1000)),
    # Larger in one arm only, smaller in total: one counter for both arms (the holdout share).
    ((9500.0, 400.0), (9000, 1000)),
    (None, (9000, 1000)),  # nothing kept a window back
])
def test_cohort_units_are_the_larger_of_the_closing_count_and_the_decisions_a_window_back(
        decided: tuple[float, float] | None, units: tuple[int, int]) -> None:
    values = dict(ARMS)
    if decided is not None:
        values[("uplift_windowed_decisions_total", 'arm="treated"')] = decided[0]
        values[("uplift_windowed_decisions_total", 'arm="holdout"')] = decided[1]
    prom = Counters(values)
    got = collect_campaign(gate("incrementalConversions"), context(spec=_with_window("1h")),
                           prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.arms == m.CampaignArms(m.ArmCounts(units[0], 1500), m.ArmCounts(units[1], 100))
    windowed = [q for q in prom.asked if "uplift_windowed_decisions_total" in q]
    assert len(windowed) == 1 and "[600s] offset 3600s" in windowed[0]  # both arms at once


# -- whose decisions each gate counts: the followed version's, or every version's --------------

_SERIES = re.compile(r"(\w+)\{([^{}]*)\}")
_MATCHER = re.compile(r'(\w+)(=~|!=|=)"([^"]*)"')


@dataclass
class Series:
    """Labelled counter increases, answering each query by its selector's matchers (summed,
    ``by (…)`` grouped), as Prometheus would: a query without a ``version`` matcher sums every
    version's series."""

    rows: list[tuple[str, dict[str, str], float]]
    asked: list[str] = field(default_factory=list)

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        self.asked.append(promql)
        found = _SERIES.search(promql)
        assert found is not None, promql
        metric, matchers = found.group(1), _MATCHER.findall(found.group(2))
        grouped = re.match(r"sum by \(([\w, ]*)\)", promql)
        by = grouped.group(1).split(", ") if grouped else []
        totals: dict[tuple[str, ...], float] = {}
        for name, labels, value in self.rows:
            if name == metric and all(_matches(labels.get(k, ""), op, v) for k, op, v in matchers):
                key = tuple(labels.get(k, "") for k in by)
                totals[key] = totals.get(key, 0.0) + value
        if not totals and promql.endswith("or vector(0)"):
            totals[()] = 0.0
        return [Row(dict(zip(by, key, strict=True)), v) for key, v in totals.items()]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        rows = self.query(promql, time)
        return rows[0].value if rows else None


def _matches(value: str, op: str, wanted: str) -> bool:
    if op == "=~":
        return re.fullmatch(wanted, value) is not None
    return (value == wanted) == (op == "=")


def _versions() -> Series:
    """The campaign's counters on the stable version 3 (the sample's economics: 0.10 a treated
    unit) and on a canary 4 at 10 % of its decisions whose policy treats at 1.00 a unit and
    whose holdout converts as much as its treated arm."""
    rows: list[tuple[str, dict[str, str], float]] = []
    base = {"namespace": "shop", "model": "hillstrom-uplift", "campaign": "spring-email"}

    def add(metric: str, version: str, value: float, **labels: str) -> None:
        rows.append((metric, {**base, "version": version, "treatment": WOMENS, **labels}, value))

    for version, (treated, holdout, conv_t, conv_h, spend) in {
            "3": (9000.0, 1000.0, 1500.0, 100.0, 900.0),
            "4": (1000.0, 110.0, 100.0, 110.0, 1000.0)}.items():
        for arm, units, conversions in (("treated", treated, conv_t),
                                        ("holdout", holdout, conv_h)):
            add("uplift_outcomes_expected_total", version, units, arm=arm)
            add("uplift_outcomes_received_total", version, units * 0.98, arm=arm)
            add("uplift_outcomes_converted_total", version, conversions, arm=arm)
            add("uplift_late_outcomes_total", version, 5.0, arm=arm)
            add("uplift_assignments_total", version, units, arm=arm)
        rows.append(("uplift_campaign_spend_total", {**base, "version": version}, spend))
        add("uplift_deliveries_total", version, treated * 0.9, arm="treated", status="ok")
        add("uplift_deliveries_total", version, treated * 0.1, arm="treated",
            status="failed")
    return Series(rows)


def test_the_conversion_gates_judge_only_the_followed_versions_decisions() -> None:
    # A canary of the model serves the campaign too: its decisions (labelled 4) are not the
    # followed version's (3), whose effect and ROI the gates judge.
    prom = _versions()
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.arms == m.CampaignArms(m.ArmCounts(9000, 1500), m.ArmCounts(1000, 100))
    assert got.completeness == m.OutcomeCompleteness(expected=10000, received=9800, late=10)
    roi = collect_campaign(gate("roi"), context(), _versions(), None)
    assert isinstance(roi, m.RoiMeasurement)
    assert roi.arms == got.arms
    assert roi.spend == pytest.approx(0.10 * 9000)  # 900 on 9,000 treated, not 1,900 on 10,000
    named = collect_campaign(gate("roi", treatments=["womens-e-mail"]), context(), _versions(),
                             None)
    assert isinstance(named, m.RoiMeasurement) and named.spend == pytest.approx(0.10 * 9000)


def test_the_late_outcomes_said_are_those_of_the_arms_the_cohorts_count() -> None:
    """The gates' "N late outcomes not counted" counted a late conversion outside the exposure
    (``arm="unexposed"``) too, which no cohort counts: it is left out."""
    prom = _versions()
    prom.rows.append(("uplift_late_outcomes_total", {
        "namespace": "shop", "model": "hillstrom-uplift", "campaign": "spring-email",
        "version": "3", "treatment": WOMENS, "arm": "unexposed"}, 7.0))
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert got.completeness is not None and got.completeness.late == 10   # not 17


def test_delivery_and_budget_count_every_versions_decisions() -> None:
    # The sender delivers what any predictor decided; the campaign pays for it all.
    got = collect_campaign(gate("deliveryRate"), context(), _versions(), None)
    assert got == m.DeliveryRateMeasurement(delivered=9000, decided=10000, reported=10000,
                                            recent=10000)
    spent = collect_campaign(gate("budget"), context(), _versions(), None)
    assert isinstance(spent, m.BudgetMeasurement) and spent.spend == pytest.approx(1900.0)


def test_the_conversion_gates_wait_for_a_followed_version() -> None:
    for type_ in ("incrementalConversions", "roi"):
        prom = _versions()
        assert collect_campaign(gate(type_), context(stable_version=None), prom, None) is None
        assert not any("version=" in q for q in prom.asked)


# -- one query per family: both arms (or both report statuses) at once, each row to its own -----

_BASE = {"namespace": "shop", "model": "hillstrom-uplift", "campaign": "spring-email",
         "version": "3", "treatment": WOMENS}
NAN = float("nan")


def _rows(metric: str, **per_value: float | None) -> list[tuple[str, dict[str, str], float]]:
    """``metric``'s series, one per ``label_value=count`` (``arm`` unless it is a status); a
    None count has no series (never scraped yet)."""
    rows = []
    for value, count in per_value.items():
        label = "status" if value in ("ok", "failed") else "arm"
        extra = {"arm": "treated"} if label == "status" else {}
        if count is not None:
            rows.append((metric, {**_BASE, **extra, label: value}, count))
    return rows


@pytest.mark.parametrize(("treated", "holdout", "units"), [
    (700.0, 300.0, m.CampaignUnits(treated=700, holdout=300)),
    (300.0, 700.0, m.CampaignUnits(treated=300, holdout=700)),  # swapped: each its own
    (700.0, None, None),  # the holdout's series not scraped yet: no data, not 0
    (None, 300.0, None),
    (700.0, NAN, None),
])
def test_the_status_units_split_one_query_by_arm(treated: float | None, holdout: float | None,
                                                 units: m.CampaignUnits | None) -> None:
    prom = Series([*_rows("uplift_assignments_total", treated=treated, holdout=holdout),
                   # outside the exposure: in neither arm
                   *_rows("uplift_assignments_total", unexposed=50000.0)])
    assert campaign_units(context(), prom) == units
    assert len(prom.asked) == 1
    assert prom.asked[0].startswith("sum by (arm)(increase(uplift_assignments_total{")
    assert 'arm=~"treated|holdout"' in prom.asked[0]
    promql_parser.parse(prom.asked[0])


@pytest.mark.parametrize(("expected", "converted", "arms"), [
    ((800.0, 200.0), (90.0, 12.0), m.CampaignArms(m.ArmCounts(800, 90), m.ArmCounts(200, 12))),
    ((200.0, 800.0), (12.0, 90.0), m.CampaignArms(m.ArmCounts(200, 12), m.ArmCounts(800, 90))),
    # No conversion series in an arm yet: none converted there (as `or vector(0)` read it).
    ((800.0, 200.0), (90.0, None), m.CampaignArms(m.ArmCounts(800, 90), m.ArmCounts(200, 0))),
    ((800.0, 200.0), (None, 12.0), m.CampaignArms(m.ArmCounts(800, 0), m.ArmCounts(200, 12))),
    ((800.0, 200.0), (90.0, NAN), m.CampaignArms(m.ArmCounts(800, 90), m.ArmCounts(200, 0))),
    # No cohort series in an arm: no data (the gate waits), never an arm of 0 units.
    ((800.0, None), (90.0, 12.0), None),
    ((None, 200.0), (90.0, 12.0), None),
    ((800.0, NAN), (90.0, 12.0), None),
])
def test_the_cohorts_split_one_query_per_count_by_arm(
        expected: tuple[float | None, float | None], converted: tuple[float | None, float | None],
        arms: m.CampaignArms | None) -> None:
    prom = Series([*_rows("uplift_outcomes_expected_total", treated=expected[0],
                          holdout=expected[1]),
                   *_rows("uplift_outcomes_converted_total", treated=converted[0],
                          holdout=converted[1]),
                   *_rows("uplift_outcomes_converted_total", unexposed=5000.0)])
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    if arms is None:
        assert got is None
    else:
        assert isinstance(got, m.IncrementalConversionsMeasurement) and got.arms == arms
    per_arm = [q for q in prom.asked if q.startswith("sum by (arm)")]
    metrics = [re.findall(r"uplift_\w+", q)[0] for q in per_arm]
    # One query per count, both arms in it; the conversions only once both arms have units.
    assert metrics == ["uplift_outcomes_expected_total", "uplift_windowed_decisions_total",
                       *(["uplift_outcomes_converted_total"] if arms is not None else [])]
    assert all('arm=~"treated|holdout"' in q and 'arm="' not in q for q in prom.asked
               if "uplift_outcomes_" in q or "uplift_windowed_" in q
               if "late" not in q and q.startswith("sum by"))


@pytest.mark.parametrize(("decided", "closed", "units"), [
    # The decisions a window back larger in total: both arms from them, each its own.
    ((1200.0, 150.0), (1000.0, 100.0), (1200, 150)),
    ((150.0, 1200.0), (100.0, 1000.0), (150, 1200)),
    # One arm of them not scraped a window back: the closing count for both.
    ((1200.0, None), (1000.0, 100.0), (1000, 100)),
])
def test_the_cohort_units_a_window_back_split_by_arm(
        decided: tuple[float | None, float | None], closed: tuple[float, float],
        units: tuple[int, int]) -> None:
    prom = Series([*_rows("uplift_windowed_decisions_total", treated=decided[0],
                          holdout=decided[1]),
                   *_rows("uplift_outcomes_expected_total", treated=closed[0],
                          holdout=closed[1]),
                   *_rows("uplift_outcomes_converted_total", treated=10.0, holdout=5.0)])
    got = collect_campaign(gate("incrementalConversions"), context(), prom, None)
    assert isinstance(got, m.IncrementalConversionsMeasurement)
    assert (got.arms.treated.units, got.arms.holdout.units) == units
    assert (got.arms.treated.conversions, got.arms.holdout.conversions) == (10, 5)


@pytest.mark.parametrize(("ok", "failed", "reports"), [
    (900.0, 40.0, (900, 940)),
    (40.0, 900.0, (40, 940)),  # swapped: failures are not deliveries
    (900.0, None, (900, 900)),  # no failure series: none failed (as `or vector(0)` read it)
    (None, 40.0, None),  # no delivery series: no data
    (NAN, 40.0, None),
    (900.0, NAN, None),  # a failure count that is no number is no data, not 0
])
def test_the_reports_split_one_query_by_status(ok: float | None, failed: float | None,
                                               reports: tuple[int, int] | None) -> None:
    prom = Series([*_rows("uplift_assignments_total", treated=1000.0, holdout=100.0),
                   *_rows("uplift_deliveries_total", ok=ok, failed=failed)])
    got = collect_campaign(gate("deliveryRate", reportDelay="2m"), context(), prom, None)
    if reports is None:
        assert got is None
    else:
        assert isinstance(got, m.DeliveryRateMeasurement)
        assert (got.delivered, got.reported) == reports
    asked = [q for q in prom.asked if "uplift_deliveries_total" in q]
    assert len(asked) == 1 and asked[0].startswith("sum by (status)(increase(")
    assert 'arm="treated", status=~"ok|failed"' in asked[0]
    promql_parser.parse(asked[0])


def test_a_source_down_is_not_an_empty_answer() -> None:
    """A Prometheus that answers no series: no data (None; the status units stay as they
    were); one that does not answer: the gates' Error, never an arm of no data or of 0."""
    assert campaign_units(context(), Series([])) is None
    assert campaign_units(context(), _Down()) is None
    for type_ in ("deliveryRate", "incrementalConversions", "roi"):
        assert collect_campaign(gate(type_), context(), Series([]), None) is None
        down = collect_campaign(gate(type_), context(), _Down(), None)
        assert isinstance(down, m.MeasurementError) and "timed out" in down.message, type_


#: The label values ``_Counting`` answers a ``by`` label with.
_VALUES = {"arm": ("treated", "holdout"), "status": ("ok", "failed"), "treatment": (WOMENS,),
           "feature": ("recency",), "bin": ("0", "1")}


class _Counting:
    """Answers every query with data (a row per value of its ``by`` labels), counting them."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        self.asked.append(promql)
        grouped = re.match(r"sum by \(([\w, ]*)\)", promql)
        rows: list[dict[str, str]] = [{}]
        for name in (grouped.group(1).split(", ") if grouped else ()):
            rows = [{**row, name: value} for row in rows for value in _VALUES[name]]
        return [Sample(labels=row, value=1000.0, timestamp=0.0) for row in rows]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        self.asked.append(promql)
        return 1000.0


class _Reference:
    def download_artifact_json(self, run_id: str, path: str) -> Any:
        return {"features": {"recency": {"counts": [500, 500]}}}


def test_an_analysis_of_the_sample_campaign_asks_fifteen_queries() -> None:
    """The sample's gates (deliveryRate, incrementalConversions, roi, drift, budget) and the
    status units, through one analysis's source as the pass asks them (``per_analysis``:
    roi's cohorts are incrementalConversions'): 20 queries when each arm and each report
    status was a query of its own, 15 now."""
    ctx = context(step_started_at=NOW - dt.timedelta(hours=2),
                  ramp_started_at=NOW - dt.timedelta(hours=3),
                  decisions_since=NOW - dt.timedelta(days=30))
    prom = _Counting()
    source = per_analysis(prom, NOW)
    asked: dict[str, int] = {}
    for g in ctx.spec.exposure.gates:
        before = len(prom.asked)
        got = collect_campaign(g, ctx, source, cast(Registry, _Reference()))
        assert got is not None and not isinstance(got, m.MeasurementError), (g.type, got)
        asked[g.type] = len(prom.asked) - before
    assert campaign_units(ctx, source) is not None
    asked["units"] = len(prom.asked) - sum(asked.values())
    assert asked == {"deliveryRate": 3, "incrementalConversions": 6, "roi": 2, "drift": 1,
                     "budget": 2, "units": 1}
    assert len(prom.asked) == 15
    # No count is asked per arm or per report status any more.
    assert not any(re.search(r'arm="holdout"|status="(ok|failed)"', q) for q in prom.asked)


# -- roi: the cohorts' own cost per decision, each treatment's own value (review of s49) -------

_DAY = 86400


class _Days:
    """A campaign simulated by the day (``decided[unit, day]``, ``converted[unit, day]``,
    ``spent[unit, day]``), answering each count as Prometheus would from its range and offset:
    a counter counted when decided (assignments, windowed decisions, spend) over the decisions
    made in the range, one counted when the window closes (expected, received, converted) over
    the decisions made a window before it. ``retention_days``: Prometheus keeps no sample older
    than that (a range reaching past it counts only what is kept; none of it: no data)."""

    def __init__(self, now: dt.datetime, window_days: int, holdout: Any, decided: Any,
                 converted: Any, spent: Any, retention_days: int | None = None) -> None:
        self.now, self.window, self.retention = now, window_days, retention_days
        self.holdout, self.decided, self.converted, self.spent = (holdout, decided, converted,
                                                                  spent)

    def _days(self, promql: str) -> tuple[int, int]:
        found = re.search(r"\[(\d+)s\](?: offset (\d+)s)?", promql)
        assert found is not None, promql
        end = (self.now - T0_DAYS).total_seconds() - int(found.group(2) or 0)
        return round((end - int(found.group(1))) / _DAY), round(end / _DAY)

    def _count(self, promql: str, arm: str) -> float | None:
        lo, hi = self._days(promql)
        if any(f"{c}_total{{" in promql for c in ("expected", "received", "converted")):
            lo, hi = lo - self.window, hi - self.window  # closed in the range
        elif self.retention is not None:
            lo = max(lo, round((self.now - T0_DAYS).total_seconds() / _DAY) - self.retention)
            if hi <= lo:
                return None
        rows = self.holdout if arm == "holdout" else ~self.holdout
        days = slice(max(lo, 0), max(hi, 0))
        if "uplift_campaign_spend_total{" in promql:
            return float(self.spent[rows][:, days].sum())
        if "uplift_outcomes_converted_total{" in promql:
            return float(self.converted[rows][:, days].sum())
        return float(self.decided[rows][:, days].sum())

    def query(self, promql: str, time: Any = None) -> Sequence[Any]:
        assert promql.startswith("sum by (arm)"), promql
        return [Row({"arm": arm}, n) for arm in ("treated", "holdout")
                if (n := self._count(promql, arm)) is not None]

    def scalar(self, promql: str, time: Any = None) -> float | None:
        if "uplift_late_outcomes_total{" in promql:
            return 0.0
        if 'arm="treated"' in promql or "uplift_campaign_spend_total{" in promql:
            return self._count(promql, "treated")
        treated, holdout = self._count(promql, "treated"), self._count(promql, "holdout")
        return None if treated is None or holdout is None else treated + holdout


T0_DAYS = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _capped_campaign(days: int, w: int = 14) -> tuple[Any, Any, Any, Any, Any, CampaignGate]:
    """maxTreatmentsPerUnit 1, units decided again every few days (30 % a day), a ``w``-day
    window: (holdout, decided, converted, spent, spec, its roi gate), by the day."""
    rng = np.random.default_rng(7)
    n, h, q = 200_000, 0.1, 0.3
    p0, tau, cost, value = 0.05, 0.02, 3.0, 110.0  # true ROI = 110 × 0.02 / 3 − 1 = −0.27
    holdout = rng.uniform(size=n) < h
    decided = rng.uniform(size=(n, days)) < q
    first = np.where(decided.any(1), decided.argmax(1), days)
    day = np.arange(days)[None, :]
    # The first decision converts at p0 (+τ when sent); decisions within its window report
    # nothing (its reports go to it); from a window after it, each converts at p0 (both arms).
    converted = np.zeros((n, days), dtype=bool)
    converted[np.arange(n), np.minimum(first, days - 1)] = (
        (rng.uniform(size=n) < p0 + tau * ~holdout) & (first < days))
    converted |= decided & (day >= first[:, None] + w) & (rng.uniform(size=(n, days)) < p0)
    spent = np.where((day == first[:, None]) & ~holdout[:, None], cost, 0.0)
    spec = context().spec
    spec = spec.model_copy(update={"economics": spec.economics.model_copy(
        update={"value_per_conversion": value, "cost_per_treatment": cost}), "treatments": [
        t.model_copy(update={"cost_per_treatment": None}) for t in spec.treatments]})
    if w != 14:
        spec = spec.model_copy(update={"experiment": spec.experiment.model_copy(
            update={"attribution_window": f"{w}d"})})
    roi = next(g for g in exposure.with_economics(spec).exposure.gates if g.type == "roi")
    return holdout, decided, converted, spent, spec, roi


def _day_context(spec: Any, today: int) -> CampaignGateContext:
    return CampaignGateContext(
        namespace="shop", name="spring-email", model="hillstrom-uplift", spec=spec,
        step_started_at=T0_DAYS, ramp_started_at=T0_DAYS, now=T0_DAYS + dt.timedelta(days=today),
        budget_anchor=T0_DAYS, stable_version="3", decisions_since=T0_DAYS)


def test_roi_costs_the_cohorts_decisions_not_the_steps_later_cheaper_ones() -> None:
    """maxTreatmentsPerUnit 1 and units decided again every few days: a unit's later decisions
    are capped (cost 0), so the step's cost per treated decision fell far below that of the
    cohorts whose Δ is measured (decided a window earlier, mostly first decisions): ROI read
    +2.09 [+0.49, +3.70], Pass, for a true −0.32. Read over the cohorts' own decisions, c̄ and
    Δ come from the same decisions: the ROI shown is the cohorts' own, and it fails."""
    w, days, value = 14, 21, 110.0
    holdout, decided, converted, spent, spec, roi = _capped_campaign(days, w)
    status = None
    verdicts = []
    for today in range(w + 1, days + 1):
        ctx = _day_context(spec, today)
        got = collect_campaign(roi, ctx, _Days(ctx.now, w, holdout, decided, converted, spent),
                               None)
        assert isinstance(got, m.RoiMeasurement)
        cohort = slice(0, today - w)  # the decisions whose window closed since day 14
        t, c = got.arms.treated, got.arms.holdout
        out = gates.evaluate_gate(roi, got, gates.memory_of(status, roi), ctx.now)
        status = gates.assess(roi, status, out)
        verdicts.append(out.verdict)
        assert out.verdict is not GateVerdict.PASS, (today, out.message)
        assert t.units == int(decided[~holdout][:, cohort].sum())
        own_cost = float(spent[:, cohort].sum())
        assert got.spend == pytest.approx(own_cost)
        own = value * (t.conversions / t.units - c.conversions / c.units) * t.units / own_cost - 1
        if out.value is not None and out.lower is not None:
            assert out.value == pytest.approx(own), (today, out.message)
    assert GateVerdict.FAIL in verdicts, verdicts


@pytest.mark.parametrize(("w", "retention"), [(14, 15), (14, 10)])
def test_roi_on_a_retention_short_of_the_cohorts_decisions_costs_the_kept_ones(
        w: int, retention: int) -> None:
    """Spend and treated decisions are read an attribution window back: a Prometheus that
    keeps 15 days holds only the newest day of a 14-day window's cohorts' decisions a day into
    them, and one that keeps 10 days none. Not detected (a shortfall against the cohorts'
    treated units is normal on a replica's drain or a burst of closing counts): the cost per
    decision is that of the decisions kept, the most recent ones, and with none kept the
    look has no data (docs/statistics.md, the roi row)."""
    days = w + 4
    holdout, decided, converted, spent, spec, roi = _capped_campaign(days, w)
    for today in range(w + 1, days + 1):
        ctx = _day_context(spec, today)
        got = collect_campaign(roi, ctx, _Days(ctx.now, w, holdout, decided, converted, spent,
                                               retention_days=retention), None)
        kept = slice(max(today - retention, 0), today - w)
        if kept.start >= kept.stop:
            assert got is None, (today, got)
            continue
        assert isinstance(got, m.RoiMeasurement), (today, got)
        per_decision = (float(spent[~holdout][:, kept].sum())
                        / float(decided[~holdout][:, kept].sum()))
        assert got.spend == pytest.approx(per_decision * got.arms.treated.units), today


def test_roi_values_each_treatments_own_incremental_conversions() -> None:
    """Two treatments the policy sends to different segments: A (100 a conversion) to one that
    converts at 20 % with or without it (+0.1 pp), B (10) to one at 1 % (+2 pp). One value
    per conversion weighted by the treated arm's conversions (A's baseline ones: 88) times
    the overall Δ read ROI +3.64 [+1.32, +5.95], Pass, for a true −0.25 (−0.70 in this
    sample): each treatment's incremental conversions at its own value are."""
    va, vb, cost = 100.0, 10.0, 0.2
    spec = context().spec
    first, second = spec.treatments
    spec = exposure.with_economics(spec.model_copy(update={"treatments": [
        first.model_copy(update={"value_per_conversion": va, "cost_per_treatment": cost}),
        second.model_copy(update={"value_per_conversion": vb, "cost_per_treatment": cost})]}))
    roi = next(g for g in spec.exposure.gates if g.type == "roi")
    rng = np.random.default_rng(3)
    n, h = 400_000, 0.1
    segment = rng.uniform(size=n) < 0.5  # True: the policy sends A (womens), else B (mens)
    hold = rng.uniform(size=n) < h
    base, lift = np.where(segment, 0.20, 0.01), np.where(segment, 0.001, 0.02)
    y = rng.uniform(size=n) < base + lift * ~hold
    key = np.where(segment, WOMENS, MENS)
    rows: list[tuple[str, dict[str, str], float]] = []
    for arm, mask in (("treated", ~hold), ("holdout", hold)):
        for k in (WOMENS, MENS):
            labels = {**_BASE, "arm": arm, "treatment": k}
            units, conversions = float((mask & (key == k)).sum()), float(
                (y & mask & (key == k)).sum())
            rows += [("uplift_outcomes_expected_total", labels, units),
                     ("uplift_outcomes_received_total", labels, units),
                     ("uplift_windowed_decisions_total", labels, units),
                     ("uplift_outcomes_converted_total", labels, conversions),
                     ("uplift_assignments_total", labels, units)]
    spend = cost * float((~hold).sum())
    rows.append(("uplift_campaign_spend_total", dict(_BASE), spend))
    now = T0_DAYS + dt.timedelta(days=20)
    ctx = CampaignGateContext(
        namespace="shop", name="spring-email", model="hillstrom-uplift", spec=spec,
        step_started_at=T0_DAYS, ramp_started_at=T0_DAYS, now=now, budget_anchor=T0_DAYS,
        stable_version="3", decisions_since=T0_DAYS)
    got = collect_campaign(roi, ctx, Series(rows), None)
    assert isinstance(got, m.RoiMeasurement)
    out = gates.evaluate_gate(roi, got, {}, now)
    truth = sum(v * (y[(key == k) & ~hold].mean() - y[(key == k) & hold].mean())
                * ((key == k) & ~hold).sum() for k, v in ((WOMENS, va), (MENS, vb))) / spend - 1
    assert out.verdict is not GateVerdict.PASS, out.message
    assert out.value == pytest.approx(truth)
    assert out.upper is not None and out.upper < 2.0  # the old read's lower bound was +1.32
