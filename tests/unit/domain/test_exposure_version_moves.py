"""The Campaign's model moves to another stable version mid-ramp or after it.

* Under ``rollback.mode: Manual`` a gate whose counts demand a rollback leaves it pending for a
  human: the model promoting a new version starts that gate's tests afresh on the new version
  but keeps its Fails (and Errors in a row), so the rollback stays pending until the human
  aborts or promotes. Before, a promotion dropped a roi gate's Fail and resumed the ramp,
  silently cancelling the rollback the human was paged about (UpliftRollbackPending).
* ``ModelVersionChanged`` says what the move was: a promotion to a later version, or a move
  back to an earlier one (the model's emergency rollback restoring its previous stable
  version), versions compared as numbers. Before, every move read "promoted version …"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import parse_requests
from uplift_operator.domain.steps import Reason
from uplift_operator.stats.results import SequentialState

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
P, E, F = GateVerdict.PASS, GateVerdict.ERROR, GateVerdict.FAIL
GATES: list[dict[str, Any]] = [{"name": "d", "type": "deliveryRate"}, {"name": "roi", "type": "roi"},
         {"name": "drift", "type": "drift", "consecutiveErrorLimit": 1}]


def make_spec(mode: str = "Manual", gates: Sequence[Mapping[str, Any]] = GATES) -> CampaignSpec:
    return CampaignSpec.model_validate({
        "modelRef": {"name": "m"},
        "treatments": [{"name": "t"}],
        "economics": {"valuePerConversion": 10, "costPerTreatment": 1},
        "experiment": {"holdoutFraction": 0.1},
        "rollback": {"mode": mode},
        "exposure": {"analysisInterval": "1m", "gates": list(gates),
                     "steps": [{"percent": 10, "pause": "5m"}, {"percent": 25, "pause": "5m"}]},
    })


def serving(version: str) -> exposure.ModelObservation:
    return exposure.ModelObservation("m", True, version, serving=True,
                                     why=f"UpliftModel 'm' serves version {version}")


class Sim:
    """Drives ``exposure.decide``; a pass run again on its own output must change nothing."""

    def __init__(self, spec: CampaignSpec, version: str = "3") -> None:
        self.spec, self.status, self.now = spec, CampaignStatus(), T0
        self.model = serving(version)
        self.annotations: dict[str, str] = {}

    def tick(self, verdicts: Mapping[str, GateVerdict] | None = None) -> exposure.Decision:
        self.now += dt.timedelta(minutes=1)
        outcomes = None
        if exposure.analysis_due(self.spec, self.status, self.now):
            outcomes = [GateOutcome(name=g.name, verdict=(verdicts or {}).get(g.name, P),
                                    message="m", time=self.now,
                                    memory={"t": SequentialState(looks=2, log_pass=1.5,
                                                                 units=400)})
                        for g in exposure.gates_to_measure(self.spec, self.status)]
        observed = exposure.Observed(model=self.model, gate_outcomes=outcomes,
                                     requests=parse_requests(self.annotations), generation=1,
                                     name="c")
        decision = exposure.decide(self.spec, self.status, observed, self.now)
        again = exposure.decide(self.spec, decision.status, observed, self.now)
        assert again.events == () and again.status == decision.status
        self.status = decision.status
        return decision


def ready(status: CampaignStatus) -> str:
    return next(c.reason for c in status.conditions if c.type == "Ready")


def pending_on_roi() -> Sim:
    sim = Sim(make_spec())
    sim.tick()
    sim.tick()
    d = sim.tick({"roi": F})
    assert (d.status.phase, ready(d.status), d.status.exposure_percent) == (
        Phase.PAUSED, "RollbackPending", 10)
    return sim


def test_a_promotion_keeps_a_pending_manual_rollback_of_a_model_gate() -> None:
    sim = pending_on_roi()
    sim.model = serving("4")
    d = sim.tick({"roi": F})  # measured on version 3's step: dropped
    s = d.status
    assert (s.phase, ready(s), s.exposure_percent, s.model_version) == (
        Phase.PAUSED, "RollbackPending", 10, "4")
    assert s.step_started_at == sim.now
    assert [e.reason for e in d.events] == [Reason.MODEL_VERSION_CHANGED]
    assert d.events[0].message == (
        "UpliftModel 'm' promoted version 4 (was 3); step 1/2 starts over on version 4 at "
        "exposure 10%, gates drift measured afresh; roi's tests start afresh on version 4; "
        "its Fail count stands, so the rollback it demanded stays pending (rollback.mode "
        "Manual)")
    gates = {g.name: g for g in s.gates}
    # roi: its tests afresh on version 4 (no evidence of version 3), its Fail standing.
    assert set(gates) == {"d", "roi"}
    assert (gates["roi"].failures, gates["roi"].verdict, gates["roi"].sequential_state) == (
        1, F, {})
    # A Pass on version 4 does not lift it: only a human does.
    for _ in range(8):
        d = sim.tick()
    assert (d.status.phase, ready(d.status), d.status.current_step) == (
        Phase.PAUSED, "RollbackPending", 0)
    roi = next(g for g in d.status.gates if g.name == "roi")
    assert (roi.verdict, roi.failures) == (P, 1)
    sim.annotations["uplift.dev/abort"] = "a1"
    d = sim.tick()
    assert (d.status.exposure_percent, d.status.phase) == (0, Phase.DEGRADED)
    assert Reason.MANUAL_ABORT in [e.reason for e in d.events]


def test_a_promote_by_hand_still_goes_on_after_the_promotion() -> None:
    sim = pending_on_roi()
    sim.model = serving("4")
    sim.tick()
    sim.annotations["uplift.dev/promote"] = "step:p1"
    d = sim.tick()
    assert (d.status.current_step, d.status.exposure_percent) == (1, 25)
    assert d.status.phase is Phase.PROGRESSING


def test_an_error_streak_past_its_limit_stays_pending_through_a_promotion() -> None:
    sim = Sim(make_spec())
    sim.tick()
    sim.tick({"drift": E})
    d = sim.tick({"drift": E})
    assert ready(d.status) == "RollbackPending"
    sim.model = serving("4")
    d = sim.tick()
    assert ready(d.status) == "RollbackPending"
    drift = next(g for g in d.status.gates if g.name == "drift")
    assert (drift.consecutive_errors, drift.sequential_state) == (2, {})


def test_a_model_gate_within_its_limits_starts_afresh_on_the_new_version() -> None:
    """Only a pending rollback is kept: a Fail under failureLimit belongs to the old version."""
    gates: list[dict[str, Any]] = [{"name": "d", "type": "deliveryRate"},
                                   {"name": "roi", "type": "roi", "failureLimit": 1}]
    sim = Sim(make_spec(gates=gates))
    sim.tick()
    d = sim.tick({"roi": F})
    assert d.status.phase is Phase.PROGRESSING
    sim.model = serving("4")
    d = sim.tick()
    assert [g.name for g in d.status.gates] == ["d"]
    assert d.status.phase is Phase.PROGRESSING


@pytest.mark.parametrize(("old", "new", "said"), [
    ("3", "4", "UpliftModel 'm' promoted version 4 (was 3)"),
    ("9", "10", "UpliftModel 'm' promoted version 10 (was 9)"),  # numbers, not strings
    ("10", "9", "UpliftModel 'm' moved back to version 9 (was 10)"),
    ("4", "3", "UpliftModel 'm' moved back to version 3 (was 4)"),
    ("a", "b", "UpliftModel 'm' moved to version b (was a)"),
])
def test_model_version_changed_says_what_the_move_was(old: str, new: str, said: str) -> None:
    sim = Sim(make_spec(mode="Automatic"), version=old)
    sim.tick()
    sim.model = serving(new)
    d = sim.tick()
    event = next(e for e in d.events if e.reason is Reason.MODEL_VERSION_CHANGED)
    assert event.message.startswith(f"{said}; step 1/2 starts over on version {new}")
    assert d.status.history[-1].reason == event.message


def test_a_completed_ramp_says_its_model_moved_back() -> None:
    sim = Sim(make_spec(mode="Automatic"), version="4")
    for _ in range(14):
        d = sim.tick()
    assert (d.status.current_step, d.status.exposure_percent) == (None, 25)
    sim.model = serving("3")  # the model's emergency rollback restores version 3
    d = sim.tick()
    assert [e.message for e in d.events] == [
        "UpliftModel 'm' moved back to version 3 (was 4); the completed ramp keeps exposure 25%"]
