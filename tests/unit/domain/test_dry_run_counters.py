"""A ``dryRun`` gate counts nothing: turning ``dryRun`` off enforces from the flip on.

Before, a dry-run gate's Fails, Inconclusives and Errors were counted in its status as an
enforcing gate's are (only ``required_action`` ignored them), and ``dryRun`` is not part of the
settings fingerprint: the pass after ``dryRun: false`` (no new analysis) rolled back at once on
the Fails seen while the gate was only watched, quoting their "dry run: …" message. Now a
dry-run gate's counters stay 0, its verdict, evidence and sequential memory kept: its next Fail
after the flip is its first counted. The same rule (``domain.gates.assess``,
``required_action``) serves the UpliftModel's canary and the Campaign's exposure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from tests.unit.domain.test_exposure import SERVING, SPEC, T0
from tests.unit.domain.test_exposure_budget import budget_outcome, spec_with
from tests.unit.domain.test_exposure_budget import run as budget_run

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateStatus, GateVerdict, Phase
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate, UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import exposure, gates, ramp
from uplift_operator.domain.gates import (
    DRY_RUN_PREFIX,
    GateAction,
    GateOutcome,
    assess,
    evaluate_gate,
    memory_of,
    required_action,
)
from uplift_operator.domain.measurements import (
    DriftMeasurement,
    ErrorRateMeasurement,
    FeatureHistogram,
    QiniEstimate,
    QiniMeasurement,
)
from uplift_operator.domain.steps import Reason

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)
N, PA, RB = GateAction.NONE, GateAction.PAUSE, GateAction.ROLLBACK
DRY, ON = True, False  # the gate's dryRun at a look


def _gate(dry: bool, **fields: Any) -> ModelGate:
    return ModelGate.model_validate({"name": "g", "type": "latency", "dryRun": dry, **fields})


def _outcome(gate: ModelGate, verdict: GateVerdict, at: dt.datetime) -> GateOutcome:
    """As ``evaluate_gate`` words it: a dry-run gate's message begins "dry run: "."""
    words = f"latency said {verdict.value}"
    return GateOutcome(name=gate.name, verdict=verdict, time=at,
                       message=f"{DRY_RUN_PREFIX}{words}" if gate.dry_run else words)


# Each look: (dryRun, verdict), a verdict None being a pass with no analysis (the gate's status
# as it was, read under the gate's settings then); each expectation: (failures, inconclusives,
# consecutive errors, what the gate demands).
Look = tuple[bool, GateVerdict | None]
Seen = tuple[int, int, int, GateAction]
COUNTER_CASES: list[tuple[str, dict[str, Any], list[Look], list[Seen]]] = [
    ("dry Fails are not counted and demand nothing", {},
     [(DRY, F), (DRY, F), (DRY, F)], [(0, 0, 0, N)] * 3),
    ("dryRun turned off after 3 dry Fails: nothing at once", {},
     [(DRY, F), (DRY, F), (DRY, F), (ON, None)], [(0, 0, 0, N)] * 4),
    ("dryRun turned off: the next Fail counts 1 and rolls back (failureLimit 0)", {},
     [(DRY, F), (DRY, F), (DRY, F), (ON, None), (ON, F)], [(0, 0, 0, N)] * 4 + [(1, 0, 0, RB)]),
    ("failureLimit 2 counts from the flip, not from the dry Fails", {"failureLimit": 2},
     [(DRY, F), (DRY, F), (DRY, F), (DRY, F), (DRY, F), (ON, F), (ON, F), (ON, F)],
     [(0, 0, 0, N)] * 5 + [(1, 0, 0, N), (2, 0, 0, N), (3, 0, 0, RB)]),
    ("dry Inconclusives do not pause after the flip", {"inconclusiveLimit": 1},
     [(DRY, INC)] * 3 + [(ON, None), (ON, INC), (ON, INC)],
     [(0, 0, 0, N)] * 4 + [(0, 1, 0, N), (0, 2, 0, PA)]),
    ("a dry Error streak does not roll back after the flip", {"consecutiveErrorLimit": 1},
     [(DRY, E)] * 4 + [(ON, None), (ON, E), (ON, E)],
     [(0, 0, 0, N)] * 5 + [(0, 0, 1, N), (0, 0, 2, RB)]),
    ("made dryRun, a gate stops counting; enforcing again, it counts afresh",
     {"failureLimit": 1},
     [(ON, F), (DRY, None), (DRY, F), (ON, None), (ON, F)],
     [(1, 0, 0, N), (1, 0, 0, N), (0, 0, 0, N), (0, 0, 0, N), (1, 0, 0, N)]),
    ("a dry gate never acts, whatever its limits",
     {"consecutiveErrorLimit": 0, "inconclusiveLimit": 1},
     [(DRY, F), (DRY, E), (DRY, INC), (DRY, INC), (DRY, F)], [(0, 0, 0, N)] * 5),
]


@pytest.mark.parametrize(("fields", "looks", "seen"), [c[1:] for c in COUNTER_CASES],
                         ids=[c[0] for c in COUNTER_CASES])
def test_dry_run_counters(fields: dict[str, Any], looks: list[Look], seen: list[Seen]) -> None:
    status: GateStatus | None = None
    got: list[Seen] = []
    for k, (dry, verdict) in enumerate(looks):
        gate = _gate(dry, **fields)
        if verdict is not None:
            status = assess(gate, status, _outcome(gate, verdict, NOW + dt.timedelta(minutes=k)))
        assert status is not None
        got.append((status.failures, status.inconclusives, status.consecutive_errors,
                    required_action(gate, status)))
    assert got == seen


def test_a_dry_run_status_counted_by_an_older_operator_is_not_acted_on() -> None:
    """An operator before this rule counted a dry-run gate's verdicts in its status: turned
    enforcing before the gate's next analysis, it acts on none of them, and that analysis
    counts from 0."""
    old = GateStatus(name="g", verdict=F, time=NOW, failures=5, inconclusives=2,
                     consecutive_errors=3, message=f"{DRY_RUN_PREFIX}latency said Fail")
    enforcing = _gate(ON, failureLimit=1)
    assert required_action(enforcing, old) is N
    after = assess(enforcing, old, _outcome(enforcing, F, NOW + dt.timedelta(minutes=1)))
    assert (after.failures, after.inconclusives, after.consecutive_errors) == (1, 0, 0)
    assert required_action(enforcing, after) is N  # 1 Fail, within failureLimit 1


# -- the UpliftModel's canary --------------------------------------------------------------------

MINUTE = dt.timedelta(minutes=1)


def _model_spec(dry: bool) -> UpliftModelSpec:
    return UpliftModelSpec.model_validate({
        "model": {"registeredModel": "m", "version": "2"}, "treatments": [{"name": "t"}],
        "rollout": {"steps": [{"weight": 10, "pause": "30m"}], "analysisInterval": "1m",
                    "gates": [{"name": "errors", "type": "errorRate", "dryRun": dry}]}})


def _model_pass(spec: UpliftModelSpec, status: UpliftModelStatus, now: dt.datetime, k: int,
                generation: int, *, analyse: bool = True) -> ramp.Decision:
    """One pass; with ``analyse`` (when due), the canary errs 3× as often as the stable: 6
    errors in 100 requests a minute against 18 in 900, ``k`` minutes of them."""
    outcomes = None
    if analyse and ramp.analysis_due(spec, status, now):
        previous = {g.name: g for g in status.gates}
        measured = ErrorRateMeasurement(6 * k, 100 * k, 18 * k, 900 * k)
        outcomes = [evaluate_gate(g, measured, memory_of(previous.get(g.name), g), now)
                    for g in ramp.gates_to_measure(spec, status)]
    observed = ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                             gate_outcomes=outcomes, generation=generation)
    return ramp.decide(spec, status, observed, now)


def test_turning_a_model_gate_s_dry_run_off_enforces_from_its_next_analysis() -> None:
    dry = _model_spec(True)
    status = ramp.decide(dry, UpliftModelStatus(stable_version="1", desired_version="2"),
                         ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                                       generation=1), NOW).status
    now, events = NOW, list[ramp.Event]()
    for k in range(1, 6):
        now += MINUTE
        d = _model_pass(dry, status, now, k, 1)
        status, events = d.status, [*events, *d.events]
    gate = status.gates[0]
    assert (gate.verdict, gate.failures, status.canary_version) == (F, 0, "2")
    assert gate.message.startswith(DRY_RUN_PREFIX) and gate.sequential_state
    failed = [e.message for e in events if e.reason is Reason.GATE_FAILED]
    assert len(failed) == 1 and "(dry run, not counted, no action)" in failed[0]
    assert "failureLimit" not in failed[0] and Reason.ROLLED_BACK not in [e.reason
                                                                          for e in events]
    enforcing = _model_spec(False)
    flipped = _model_pass(enforcing, status, now + dt.timedelta(seconds=5), 5, 2, analyse=False)
    assert flipped.status.canary_version == "2", flipped.status.message
    assert Reason.ROLLED_BACK not in [e.reason for e in flipped.events]
    assert flipped.status.gates[0].failures == 0
    # The evidence gathered while dry is kept (``dryRun`` is not a tested setting): the next
    # analysis fails at once, and its Fail is the first counted.
    kept = memory_of(flipped.status.gates[0], enforcing.rollout.gates[0])
    assert kept and kept == memory_of(gate)
    d = _model_pass(enforcing, flipped.status, now + MINUTE, 6, 2)
    assert d.status.canary_version is None and d.status.phase is Phase.DEGRADED
    assert d.status.gates[0].failures == 1 and not d.status.gates[0].message.startswith(
        DRY_RUN_PREFIX)
    rolled = [e.message for e in d.events if e.reason is Reason.ROLLED_BACK]
    assert rolled and "(1 failure, failureLimit 0 exceeded)" in rolled[0]
    assert "dry run" not in rolled[0]


# -- the Campaign's exposure ---------------------------------------------------------------------

def _campaign_spec(dry: bool) -> CampaignSpec:
    """The sample campaign with one drift gate and no budget (so no budget gate is implied)."""
    assert SPEC.economics is not None
    gates = [CampaignGate.model_validate({"name": "drift", "type": "drift", "dryRun": dry})]
    return SPEC.model_copy(update={
        "schedule": None,
        "economics": SPEC.economics.model_copy(update={"budget": None}),
        "exposure": SPEC.exposure.model_copy(update={"gates": gates})})


def _campaign_pass(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime,
                   generation: int, verdict: GateVerdict | None) -> exposure.Decision:
    outcomes = None
    if verdict is not None:
        gate = spec.exposure.gates[0]
        words = f"drift said {verdict.value}"
        outcomes = [GateOutcome(name=gate.name, verdict=verdict, time=now,
                                message=f"{DRY_RUN_PREFIX}{words}" if gate.dry_run else words)]
    return exposure.decide(spec, status, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=generation, gate_outcomes=outcomes), now)


def test_turning_a_campaign_gate_s_dry_run_off_enforces_from_its_next_analysis() -> None:
    dry, enforcing = _campaign_spec(True), _campaign_spec(False)
    status = _campaign_pass(dry, CampaignStatus(), T0, 1, None).status
    exposed = status.exposure_percent
    assert exposed and exposed > 0
    for minute in (5, 10, 15):
        d = _campaign_pass(dry, status, T0 + dt.timedelta(minutes=minute), 1, F)
        status = d.status
        assert status.gates[0].failures == 0 and status.exposure_percent == exposed
        assert Reason.ROLLED_BACK not in [e.reason for e in d.events]
    flipped = _campaign_pass(enforcing, status, T0 + dt.timedelta(minutes=16), 2, None)
    assert flipped.status.exposure_percent == exposed, flipped.status.message
    assert Reason.ROLLED_BACK not in [e.reason for e in flipped.events]
    d = _campaign_pass(enforcing, flipped.status, T0 + dt.timedelta(minutes=20), 2, F)
    assert d.status.gates[0].failures == 1
    assert d.status.exposure_percent == 0 and d.status.phase is Phase.DEGRADED
    assert Reason.ROLLED_BACK in [e.reason for e in d.events]


# -- the dry-run mark is the dry-run gate's alone -------------------------------------------------

def _drifted(feature: str, n: int) -> DriftMeasurement:
    """Moderate drift (PSI ≈ 0.39) of ``feature`` on ``n`` live rows."""
    a, b = int(n * 0.55), int(n * 0.15)
    return DriftMeasurement({feature: FeatureHistogram((250,) * 4, (a, b, b, n - a - 2 * b))})


def _drift_spec(feature: str, dry: bool = False) -> UpliftModelSpec:
    return UpliftModelSpec.model_validate({
        "model": {"registeredModel": "m", "version": "2"}, "treatments": [{"name": "t"}],
        "rollout": {"steps": [{"weight": 10, "pause": "30m"}], "analysisInterval": "1m",
                    "gates": [{"name": "drift", "type": "drift", "dryRun": dry,
                               "features": [feature]}]}})


@pytest.mark.parametrize("feature", ["dry run", "dry run: x"])
def test_an_enforcing_drift_gate_on_a_feature_called_dry_run_rolls_back(feature: str) -> None:
    """A drift gate's message begins with its feature's name: one called "dry run" made an
    enforcing gate's Fail read as a dry-run gate's ("dry run: PSI …"), so it was never
    counted nor acted on, and the canary drifting on it was never rolled back. The name is
    quoted now; the prefix is a dry-run gate's alone."""
    spec = _drift_spec(feature)
    status = ramp.decide(spec, UpliftModelStatus(stable_version="1", desired_version="2"),
                         ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                                       generation=1), NOW).status
    now = NOW + MINUTE
    gate = spec.rollout.gates[0]
    outcome = evaluate_gate(gate, _drifted(feature, 1000), None, now)
    assert outcome.verdict is F
    assert outcome.message.startswith(f'"{feature}": PSI '), outcome.message
    d = ramp.decide(spec, status, ramp.Observed(
        desired_version="2", stable_ready=True, canary_ready=True, gate_outcomes=[outcome],
        generation=1), now)
    st = d.status.gates[0]
    assert not st.message.startswith(DRY_RUN_PREFIX) and st.failures == 1
    assert required_action(gate, st) is RB
    assert d.status.canary_version is None and d.status.phase is Phase.DEGRADED
    assert Reason.ROLLED_BACK in [e.reason for e in d.events]
    # Dry, the same gate is marked as such, and counts nothing.
    dry = _drift_spec(feature, dry=True).rollout.gates[0]
    watched = evaluate_gate(dry, _drifted(feature, 1000), None, now)
    assert watched.message.startswith(f'{DRY_RUN_PREFIX}"{feature}": PSI ')
    assert assess(dry, None, watched).failures == 0


def test_an_enforcing_qini_gate_on_a_treatment_called_dry_run_acts() -> None:
    rows = tuple(float(x) for x in np.random.default_rng(1).normal(-0.05, 0.02, 400))
    qini = QiniMeasurement({"dry run": QiniEstimate(-0.05, None, None, 12808, replicates=rows,
                                                    evaluation_set="e1")})
    gate = ModelGate.model_validate({"name": "q", "type": "qini"})
    outcome = evaluate_gate(gate, qini, None, NOW)
    assert outcome.verdict is F and outcome.message.startswith('"dry run": Qini ')
    status = assess(gate, None, outcome)
    assert status.failures == 1 and required_action(gate, status) is RB


def test_no_enforcing_gate_s_message_begins_as_a_dry_run_gate_s(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever an evaluator says, ``evaluate_gate`` never lets an enforcing gate's message
    begin with the dry-run mark: it is then said as the gate's."""
    def judged(*_: object) -> gates._Judged:
        return gates._Judged(F, f"{DRY_RUN_PREFIX}what a user named it")

    monkeypatch.setitem(gates._EVALUATORS, "errorRate", (ErrorRateMeasurement, judged))
    measured = ErrorRateMeasurement(6, 100, 18, 900)
    enforcing, dry = _model_spec(False).rollout.gates[0], _model_spec(True).rollout.gates[0]
    outcome = evaluate_gate(enforcing, measured, None, NOW)
    assert outcome.message == "gate errors: dry run: what a user named it"
    assert required_action(enforcing, assess(enforcing, None, outcome)) is RB
    watched = evaluate_gate(dry, measured, None, NOW)
    assert watched.message == f"{DRY_RUN_PREFIX}{DRY_RUN_PREFIX}what a user named it"


# -- a dry-run gate decides nothing ---------------------------------------------------------------

def test_a_flapping_dry_run_gate_is_told_but_counts_no_decision() -> None:
    """Each change of a dry-run gate's verdict is told, ending "(dry run, not counted, no
    action)", but none is a decision (``uplift_operator_decisions_total``): it decides nothing.
    Before, a dry gate flapping between Pass and Fail added a decision at each Fail."""
    spec = _model_spec(True)
    gate = spec.rollout.gates[0]
    status = ramp.decide(spec, UpliftModelStatus(stable_version="1", desired_version="2"),
                         ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                                       generation=1), NOW).status
    told: list[ramp.Event] = []
    verdicts = [F, P, F, INC, E, P, F]
    for k, verdict in enumerate(verdicts, start=1):
        now = NOW + k * MINUTE
        outcome = GateOutcome(name=gate.name, verdict=verdict, time=now,
                              message=f"{DRY_RUN_PREFIX}errors said {verdict.value}",
                              holds=verdict is E and k == 5)
        d = ramp.decide(spec, status, ramp.Observed(
            desired_version="2", stable_ready=True, canary_ready=True, gate_outcomes=[outcome],
            generation=1), now)
        status, told = d.status, [*told, *d.events]
    about = [e for e in told if e.reason in (Reason.GATE_FAILED, Reason.GATE_ERRORED,
                                             Reason.GATE_INCONCLUSIVE, Reason.GATE_HELD)]
    assert [e.reason for e in about] == [Reason.GATE_FAILED, Reason.GATE_FAILED,
                                         Reason.GATE_INCONCLUSIVE, Reason.GATE_HELD,
                                         Reason.GATE_FAILED]
    assert all("(dry run, not counted, no action)" in e.message for e in about)
    assert [e.decision for e in about] == [False] * len(about)
    assert status.canary_version == "2" and status.gates[0].failures == 0


# -- a dry-run budget gate -----------------------------------------------------------------------

def test_a_dry_run_budget_gate_s_fail_is_told_as_dry_and_acted_on_once_enforcing() -> None:
    """A dry-run budget gate's Fail suspends nothing and is told as any dry-run gate's verdict
    (``GateFailed`` "(dry run, not counted, no action)", no decision): before, a budget Fail was
    left to ``BudgetExhausted``, which a dry gate never says, so it was told nowhere. Turned
    enforcing, the spend it read is acted on in the pass that reads the edit, with no new
    analysis: the spend is money spent, not a verdict to count (docs/lifecycle.md, the budget
    exception)."""
    def budget_spec(dry: bool) -> CampaignSpec:
        return spec_with([{"name": "delivery", "type": "deliveryRate"},
                          {"name": "cap", "type": "budget", "dryRun": dry}],
                         budget=5000, budgetPeriod="1d")

    spend = 10.0

    def judge(gate: CampaignGate, now: dt.datetime) -> GateOutcome:
        out = (budget_outcome(gate.name, now, spend) if gate.type == "budget" else
               GateOutcome(name=gate.name, verdict=P, message="m", time=now))
        return replace(out, message=f"{DRY_RUN_PREFIX}{out.message}" if gate.dry_run
                       else out.message)

    dry = budget_spec(True)
    s = budget_run(dry, CampaignStatus(), T0, judge).status
    s = budget_run(dry, s, T0 + 5 * MINUTE, judge).status
    spend = 6000.0
    d = budget_run(dry, s, T0 + 10 * MINUTE, judge)
    s = d.status
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent) == (
        Phase.PROGRESSING, 5, None)
    cap = next(g for g in s.gates if g.name == "cap")
    assert (cap.verdict, cap.failures) == (F, 0)
    failed = [e for e in d.events if e.reason is Reason.GATE_FAILED]
    assert [e.message.startswith("gate cap failed (dry run, not counted, no action): ")
            for e in failed] == [True]
    assert not failed[0].decision
    assert Reason.BUDGET_EXHAUSTED not in [e.reason for e in d.events]
    # Said when its verdict changes only.
    again = budget_run(dry, s, T0 + 15 * MINUTE, judge)
    assert Reason.GATE_FAILED not in [e.reason for e in again.events]
    # dryRun turned off: the pass that reads the edit (no analysis due) suspends on the
    # spend read while dry.
    flipped = budget_run(budget_spec(False), again.status, T0 + 16 * MINUTE, judge)
    assert (flipped.status.phase, flipped.status.exposure_percent,
            flipped.status.suspended_exposure_percent) == (Phase.SUSPENDED, 0, 5)
    assert [e.reason for e in flipped.events] == [Reason.BUDGET_EXHAUSTED]
