"""domain.exposure: a rollback ``rollback.mode: Manual`` left pending survives a withdrawal.

A Fail count past ``failureLimit`` under ``rollback.mode: Manual`` holds the Campaign Paused
(Ready ``RollbackPending``) until a human aborts or promotes. The exposure withdrawn meanwhile
(its model briefly not found or not serving, the schedule's start moved later) is no human's
decision: the ramp that starts again when the model serves is held Paused on the same counts,
not restarted at step 1 with the Fail wiped; and nothing "resumed" at 0 %.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import parse_requests

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
M = dt.timedelta(minutes=1)
SERVING = exposure.ModelObservation("m", True, "3", serving=True,
                                    why="UpliftModel 'm' serves version 3")
GONE = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")
DOWN = exposure.ModelObservation("m", True, "3", serving=False,
                                 why="UpliftModel 'm' has nothing serving")


def _spec(mode: str, schedule_start: dt.datetime | None = None) -> CampaignSpec:
    raw = yaml.safe_load(SAMPLE.read_text())["spec"]
    raw["schedule"] = {"start": schedule_start.isoformat()} if schedule_start else None
    raw["exposure"]["gates"] = [{"name": "delivery", "type": "deliveryRate"}]
    raw["economics"].pop("budget")
    raw["economics"].pop("budgetPeriod")
    raw["rollback"]["mode"] = mode
    return Campaign.model_validate({"spec": raw}).spec


def _pass(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime,
          model: exposure.ModelObservation, verdict: GateVerdict | None = None,
          annotations: dict[str, str] | None = None) -> exposure.Decision:
    outcomes = None
    if verdict is not None and exposure.analysis_due(spec, status, now):
        outcomes = [GateOutcome(name=g.name, verdict=verdict, message="delivered 50%", time=now)
                    for g in exposure.gates_to_measure(spec, status)]
    decision = exposure.decide(spec, status, exposure.Observed(
        model=model, gate_outcomes=outcomes, generation=1, name="c", namespace="ns",
        requests=parse_requests(annotations or {})), now)
    # Through the wire, as the status is stored.
    wire = CampaignStatus.model_validate(decision.status.to_wire())
    return exposure.Decision(wire, decision.exposure_percent, decision.events,
                             decision.requeue_after)


def _ready(status: CampaignStatus) -> str:
    found = cond.find(status.conditions, cond.READY)
    assert found is not None
    return found.reason


def _reasons(decision: exposure.Decision) -> list[str]:
    return [event.reason.value for event in decision.events]


def _pending(spec: CampaignSpec) -> CampaignStatus:
    status = _pass(spec, CampaignStatus(), T0, SERVING).status
    status = _pass(spec, status, T0 + 6 * M, SERVING, GateVerdict.FAIL).status
    assert status.phase is Phase.PAUSED and _ready(status) == cond.ROLLBACK_PENDING
    return status


@pytest.mark.parametrize("away", [GONE, DOWN])
def test_a_pending_manual_rollback_stands_through_a_withdrawal(
        away: exposure.ModelObservation) -> None:
    spec = _spec("Manual")
    status = _pending(spec)
    withdrawn = _pass(spec, status, T0 + 8 * M, away)
    assert withdrawn.exposure_percent == 0
    # Nothing resumes at 0 %.
    assert _reasons(withdrawn) == ["ExposureWithdrawn"]
    assert "rollback left pending" in withdrawn.status.message
    assert [(g.name, g.failures) for g in withdrawn.status.gates] == [("delivery", 1)]
    # Passes while withdrawn say nothing new.
    still = _pass(spec, withdrawn.status, T0 + 9 * M, away)
    assert _reasons(still) == []
    back = _pass(spec, still.status, T0 + 10 * M, SERVING)
    assert _reasons(back) == ["ExposureStarted"]
    assert back.status.phase is Phase.PAUSED
    assert _ready(back.status) == cond.ROLLBACK_PENDING
    assert back.status.current_step == 0
    assert [(g.name, g.verdict, g.failures) for g in back.status.gates] == [
        ("delivery", GateVerdict.FAIL, 1)]
    # Held there: a Pass afterwards advances nothing.
    later = _pass(spec, back.status, T0 + 60 * M, SERVING, GateVerdict.PASS)
    assert later.status.phase is Phase.PAUSED and later.status.current_step == 0
    # A human decides: a promote goes on.
    promoted = _pass(spec, later.status, T0 + 61 * M, SERVING,
                     annotations={"uplift.dev/promote": "step"})
    assert promoted.status.current_step == 1


def test_a_pending_manual_rollback_stands_through_a_later_schedule_start() -> None:
    spec = _spec("Manual")
    status = _pending(spec)
    moved = _spec("Manual", schedule_start=T0 + 30 * M)
    withdrawn = _pass(moved, status, T0 + 8 * M, SERVING)
    assert withdrawn.exposure_percent == 0 and "Resumed" not in _reasons(withdrawn)
    back = _pass(moved, withdrawn.status, T0 + 31 * M, SERVING)
    assert _ready(back.status) == cond.ROLLBACK_PENDING
    assert [g.failures for g in back.status.gates] == [1]


def test_an_abort_while_withdrawn_ends_the_pending_rollback_and_a_retry_starts_afresh() -> None:
    spec = _spec("Manual")
    status = _pass(spec, _pending(spec), T0 + 8 * M, GONE).status
    aborted = _pass(spec, status, T0 + 9 * M, SERVING, annotations={"uplift.dev/abort": "1"})
    assert _ready(aborted.status) == cond.ROLLED_BACK and aborted.exposure_percent == 0
    retried = _pass(spec, aborted.status, T0 + 10 * M, SERVING,
                    annotations={"uplift.dev/abort": "1", "uplift.dev/retry": "2"})
    assert _ready(retried.status) == cond.EXPOSING
    assert retried.status.gates == [] and retried.exposure_percent == 5


def test_automatic_mode_stays_rolled_back_through_the_model_going_away() -> None:
    spec = _spec("Automatic")
    status = _pass(spec, CampaignStatus(), T0, SERVING).status
    status = _pass(spec, status, T0 + 6 * M, SERVING, GateVerdict.FAIL).status
    status = _pass(spec, status, T0 + 8 * M, GONE).status
    back = _pass(spec, status, T0 + 9 * M, SERVING)
    assert _ready(back.status) == cond.ROLLED_BACK and back.exposure_percent == 0


def test_a_ramp_withdrawn_without_a_pending_rollback_restarts_afresh() -> None:
    spec = _spec("Manual")
    status = _pass(spec, CampaignStatus(), T0, SERVING).status
    status = _pass(spec, status, T0 + 6 * M, SERVING, GateVerdict.PASS).status
    withdrawn = _pass(spec, status, T0 + 8 * M, GONE)
    assert withdrawn.status.paused_at is None
    back = _pass(spec, withdrawn.status, T0 + 9 * M, SERVING)
    assert _ready(back.status) == cond.EXPOSING and back.status.gates == []
