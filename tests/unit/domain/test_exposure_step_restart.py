"""A Campaign step that starts over at the same exposure (the model promotes a new stable
version, a budget period renews) keeps what its carried gates counted against the sender and
drops what belonged to the old step: a deliveryRate gate's Fails and Errors in a row stand (a
pending Manual rollback stays pending, recorded once), and ``passedWhileHeldAt`` is cleared in
that pass, so a pass re-run on its own output changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
HELD = "the campaigns file of UpliftModel 'm' cannot be written (403)"


def _spec(mode: str = "Manual", budget: bool = False) -> CampaignSpec:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = None
    raw["rollback"] = {"mode": mode}
    raw["exposure"]["gates"] = [{"name": "delivery", "type": "deliveryRate", "min": 0.95,
                                 "failureLimit": 0, "consecutiveErrorLimit": 2},
                                *([{"name": "budget", "type": "budget"}] if budget else [])]
    if not budget:
        raw["economics"].pop("budget")
        raw["economics"].pop("budgetPeriod")
    return Campaign.model_validate({"spec": raw}).spec


def _model(version: str) -> exposure.ModelObservation:
    return exposure.ModelObservation("m", True, version, serving=True, why=f"serves {version}")


def _delivery(verdict: GateVerdict, now: dt.datetime) -> GateOutcome:
    return GateOutcome(name="delivery", verdict=verdict, message=f"delivery {verdict.value}",
                       time=now, value=0.5 if verdict is GateVerdict.FAIL else 0.99)


def _ready(status: CampaignStatus) -> str:
    return next(c.reason for c in status.conditions if c.type == "Ready")


def _rerun_changes_nothing(spec: CampaignSpec, decision: exposure.Decision,
                           observed: exposure.Observed, now: dt.datetime) -> None:
    again = exposure.decide(spec, decision.status, observed, now)
    assert again.status == decision.status and again.events == ()


def test_a_promotion_keeps_a_pending_manual_rollback_of_the_delivery_gate() -> None:
    spec = _spec()
    s = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=_model("3"), generation=1), T0).status
    now = T0 + dt.timedelta(minutes=5)
    s = exposure.decide(spec, s, exposure.Observed(
        model=_model("3"), gate_outcomes=[_delivery(GateVerdict.FAIL, now)], generation=1),
        now).status
    assert (s.phase, _ready(s), s.gates[0].failures) == (Phase.PAUSED, "RollbackPending", 1)
    # The gate says Pass since: its Fail count stands, the rollback stays pending.
    now += dt.timedelta(minutes=5)
    s = exposure.decide(spec, s, exposure.Observed(
        model=_model("3"), gate_outcomes=[_delivery(GateVerdict.PASS, now)], generation=1),
        now).status
    assert (s.phase, s.gates[0].verdict, s.gates[0].failures) == (
        Phase.PAUSED, GateVerdict.PASS, 1)
    now += dt.timedelta(minutes=1)
    observed = exposure.Observed(model=_model("4"), generation=1)
    promoted = exposure.decide(spec, s, observed, now)
    p = promoted.status
    # The step starts over on version 4 (a new stratum), the sender's Fail still counted: the
    # promotion neither resumes the ramp nor drops the rollback a human was asked about.
    assert (p.model_version, p.step_started_at) == ("4", now)
    assert (p.phase, _ready(p), p.gates[0].failures) == (Phase.PAUSED, "RollbackPending", 1)
    assert [e.reason.value for e in promoted.events] == ["ModelVersionChanged"]
    assert "gate delivery Fail: " in p.message and "failureLimit 0 exceeded" in p.message
    # The pause is recorded again at the new step under the verdict that tripped it, once.
    assert [(h.action, h.version) for h in p.history[-2:]] == [
        ("ModelVersionChanged", "4"), ("Paused", "4")]
    assert p.history[-1].reason.startswith("gate delivery Fail: ")
    _rerun_changes_nothing(spec, promoted, observed, now)
    later = exposure.decide(spec, p, observed, now + dt.timedelta(minutes=5))
    assert later.status.history == p.history and later.events == ()
    assert later.status.phase is Phase.PAUSED


def test_a_promotion_keeps_the_delivery_gates_errors_in_a_row() -> None:
    spec = _spec(mode="Automatic")
    s = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=_model("3"), generation=1), T0).status
    now = T0
    for _ in range(2):
        now += dt.timedelta(minutes=5)
        s = exposure.decide(spec, s, exposure.Observed(
            model=_model("3"), gate_outcomes=[_delivery(GateVerdict.ERROR, now)],
            generation=1), now).status
    assert (s.phase, s.gates[0].consecutive_errors) == (Phase.PROGRESSING, 2)
    now += dt.timedelta(minutes=1)
    s = exposure.decide(spec, s, exposure.Observed(model=_model("4"), generation=1), now).status
    assert s.gates[0].consecutive_errors == 2 and s.gates[0].inconclusives == 0
    # One more Error on version 4 is the third in a row: past consecutiveErrorLimit 2.
    now += dt.timedelta(minutes=5)
    s = exposure.decide(spec, s, exposure.Observed(
        model=_model("4"), gate_outcomes=[_delivery(GateVerdict.ERROR, now)], generation=1),
        now).status
    assert (s.phase, s.exposure_percent) == (Phase.DEGRADED, 0)


def _passed_while_held(spec: CampaignSpec) -> tuple[CampaignStatus, dt.datetime]:
    s = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=_model("3"), generation=1, budget_anchor=T0), T0).status
    now = T0 + dt.timedelta(minutes=5)
    outcomes = [_delivery(GateVerdict.PASS, now),
                *([GateOutcome(name="budget", verdict=GateVerdict.PASS, message="m", time=now)]
                  if len(spec.exposure.gates) > 1 else [])]
    s = exposure.decide(spec, s, exposure.Observed(
        model=_model("3"), gate_outcomes=outcomes, generation=1, undelivered=HELD,
        budget_anchor=T0), now).status
    assert s.passed_while_held_at == now
    return s, now


def test_a_promotion_clears_the_mark_of_gates_passed_while_held() -> None:
    spec = _spec()
    s, now = _passed_while_held(spec)
    now += dt.timedelta(minutes=1)
    observed = exposure.Observed(model=_model("4"), generation=1, undelivered=HELD,
                                 budget_anchor=T0)
    promoted = exposure.decide(spec, s, observed, now)
    assert promoted.status.step_started_at == now
    assert promoted.status.passed_while_held_at is None
    _rerun_changes_nothing(spec, promoted, observed, now)


def test_a_budget_renewal_clears_the_mark_of_gates_passed_while_held() -> None:
    spec = _spec(budget=True)
    s, now = _passed_while_held(spec)
    now += dt.timedelta(minutes=5)
    spent = [GateOutcome(name="budget", verdict=GateVerdict.FAIL, message="spent", time=now,
                         value=5200.0, threshold=5000.0, suspension=Suspension(None, "spent"))]
    s = exposure.decide(spec, s, exposure.Observed(
        model=_model("3"), gate_outcomes=spent, generation=1, undelivered=HELD,
        budget_anchor=T0), now).status
    assert (s.phase, s.passed_while_held_at) == (Phase.SUSPENDED, None)
    # The budget gate passes again (a raised budget) in an analysis where every gate passes,
    # the file still not written: the step starts over from this pass, whose passes were
    # measured before it.
    now += dt.timedelta(days=3)
    outcomes = [_delivery(GateVerdict.PASS, now),
                GateOutcome(name="budget", verdict=GateVerdict.PASS, message="m", time=now)]
    observed = exposure.Observed(model=_model("3"), gate_outcomes=outcomes, generation=1,
                                 undelivered=HELD, budget_anchor=T0)
    renewed = exposure.decide(spec, s, observed, now)
    assert [e.reason.value for e in renewed.events] == ["BudgetRenewed"]
    assert renewed.status.step_started_at == now
    assert renewed.status.passed_while_held_at is None
    _rerun_changes_nothing(spec, renewed, observed, now)
