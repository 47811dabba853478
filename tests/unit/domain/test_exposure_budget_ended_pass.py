"""domain.exposure: a budget Fail measured in a pass that ends the exposure is kept.

"A budget Fail takes effect in the pass that measured it, whatever else that pass did", and "a
spent budget stays spent through a restart" (docs/lifecycle.md, "Budget"): a pass that withdraws
the exposure (its model gone) or aborts it must keep the Fail its budget gate measured, so the
ramp started again (the model back, a retry) is suspended at once, not treating for a whole
analysisInterval on the Pass from before while the budget is spent.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.requests import parse_requests

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
M = dt.timedelta(minutes=1)
SERVING = exposure.ModelObservation("m", True, "3", serving=True,
                                    why="UpliftModel 'm' serves version 3")
GONE = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")


def _spec() -> CampaignSpec:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = None
    raw["exposure"]["gates"] = [{"name": "delivery", "type": "deliveryRate"}]
    raw["exposure"]["analysisInterval"] = "30m"
    return Campaign.model_validate({"spec": raw}).spec


SPEC = _spec()


def _pass(status: CampaignStatus, now: dt.datetime, model: exposure.ModelObservation,
          spent: bool | None = None,
          annotations: dict[str, str] | None = None) -> exposure.Decision:
    outcomes = None
    if spent is not None and exposure.analysis_due(SPEC, status, now):
        outcomes = []
        for gate in exposure.gates_to_measure(SPEC, status):
            if gate.type == "budget":
                outcomes.append(GateOutcome(
                    name=gate.name, verdict=GateVerdict.FAIL if spent else GateVerdict.PASS,
                    message="spend", time=now, value=6000.0 if spent else 1.0,
                    threshold=5000.0, suspension=Suspension(None, "spent") if spent else None))
            else:
                outcomes.append(GateOutcome(name=gate.name, verdict=GateVerdict.PASS,
                                            message="delivered", time=now))
    decision = exposure.decide(SPEC, status, exposure.Observed(
        model=model, gate_outcomes=outcomes, budget_anchor=T0, generation=1, name="c",
        namespace="ns", requests=parse_requests(annotations or {})), now)
    wire = CampaignStatus.model_validate(decision.status.to_wire())
    return exposure.Decision(wire, decision.exposure_percent, decision.events,
                             decision.requeue_after)


def _budget(status: CampaignStatus) -> GateVerdict:
    return next(g.verdict for g in status.gates if g.name == "budget")


def _exposing_with_budget_passed() -> CampaignStatus:
    status = _pass(CampaignStatus(), T0, SERVING).status
    status = _pass(status, T0 + 31 * M, SERVING, spent=False).status
    assert _budget(status) is GateVerdict.PASS and status.exposure_percent == 5
    return status


def _ready(status: CampaignStatus) -> str:
    found = cond.find(status.conditions, cond.READY)
    assert found is not None
    return found.reason


def test_a_budget_fail_measured_in_the_pass_that_withdraws_suspends_the_restart() -> None:
    status = _exposing_with_budget_passed()
    withdrawn = _pass(status, T0 + 62 * M, GONE, spent=True)
    assert withdrawn.exposure_percent == 0
    assert _budget(withdrawn.status) is GateVerdict.FAIL
    back = _pass(withdrawn.status, T0 + 63 * M, SERVING)
    assert back.exposure_percent == 0
    assert back.status.phase is Phase.SUSPENDED
    assert _ready(back.status) == cond.BUDGET_EXHAUSTED
    assert back.status.suspended_exposure_percent == 5
    assert "BudgetExhausted" in [e.reason.value for e in back.events]


def test_a_budget_fail_measured_in_the_pass_that_aborts_suspends_the_retry() -> None:
    status = _exposing_with_budget_passed()
    aborted = _pass(status, T0 + 62 * M, SERVING, spent=True,
                    annotations={"uplift.dev/abort": "1"})
    assert _ready(aborted.status) == cond.ROLLED_BACK
    assert _budget(aborted.status) is GateVerdict.FAIL
    retried = _pass(aborted.status, T0 + 63 * M, SERVING,
                    annotations={"uplift.dev/abort": "1", "uplift.dev/retry": "2"})
    assert retried.exposure_percent == 0
    assert retried.status.phase is Phase.SUSPENDED
    assert retried.status.suspended_exposure_percent == 5


def test_a_budget_pass_measured_in_the_pass_that_withdraws_is_kept_and_suspends_nothing() -> None:
    status = _exposing_with_budget_passed()
    withdrawn = _pass(status, T0 + 62 * M, GONE, spent=False)
    assert _budget(withdrawn.status) is GateVerdict.PASS
    assert withdrawn.status.last_analysis_at == T0 + 62 * M
    back = _pass(withdrawn.status, T0 + 63 * M, SERVING)
    assert back.exposure_percent == 5 and back.status.phase is Phase.PROGRESSING
