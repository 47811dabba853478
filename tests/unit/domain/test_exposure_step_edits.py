"""``spec.exposure.steps`` edited mid-ramp or after the ramp completed: the Campaign's exposure is
never decided at a percent no gate judged.

Mid-ramp (as ``test_ramp_step_edits`` for an UpliftModel's canary): the current step is served at
no less than the percent the spec now gives it. A higher percent is applied in the pass that
reads the edit and the step starts over (``StepRestarted``: its pause and deadline from then, its
gates' evidence in a new stratum, their Fails kept), so the ramp never completes from below a
percent its spec lists. Before, a campaign at 50 % whose steps became [10, 75] completed a minute
later "at 75% (all steps passed)", no gate having judged 75 %; a percent raised for the current
step waited for the next step.

After completion: a step added above the exposure the ramp completed at reopens the ramp there,
gated as any step. Before, the completed ramp ignored it (Healthy at the old exposure; a promote
found "no ramp to promote", a retry "not rolled back")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.requests import parse_requests
from uplift_operator.domain.steps import Reason

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
P, INC, F = GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.FAIL
FOUR = ((10, "5m"), (25, "5m"), (50, "5m"), (75, "5m"))
DELIVERY = [{"name": "d", "type": "deliveryRate"}]
BUDGET = [*DELIVERY, {"name": "b", "type": "budget"}]


def make_spec(steps: Sequence[tuple[float, str | None]] = FOUR,
              gates: Sequence[Mapping[str, Any]] = DELIVERY, *, rollback: str = "Automatic",
              paused: bool = False, budget: bool = False, **exposure_fields: Any) -> CampaignSpec:
    economics: dict[str, Any] = {"valuePerConversion": 10, "costPerTreatment": 1}
    if budget:
        economics.update(budget=100, budgetPeriod="1d")
    return CampaignSpec.model_validate({
        "modelRef": {"name": "m"},
        "treatments": [{"name": "t"}],
        "economics": economics,
        "experiment": {"holdoutFraction": 0.1},
        "rollback": {"mode": rollback},
        "exposure": {"analysisInterval": "1m", "paused": paused, "gates": list(gates),
                     "steps": [{"percent": p, **({"pause": d} if d else {})} for p, d in steps],
                     **exposure_fields},
    })


def serving(version: str) -> exposure.ModelObservation:
    return exposure.ModelObservation("m", True, version, serving=True,
                                     why=f"UpliftModel 'm' serves version {version}")


class Sim:
    """Drives ``exposure.decide`` through time; each decision run again on its own output must
    change nothing and say nothing."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec, self.status, self.now = spec, CampaignStatus(), T0
        self.model = serving("3")
        self.generation = 1
        self.annotations: dict[str, str] = {}
        self.log: list[exposure.Decision] = []

    def edit(self, spec: CampaignSpec) -> None:
        self.spec, self.generation = spec, self.generation + 1

    def tick(self, minutes: float = 1, verdicts: Mapping[str, GateVerdict] | None = None,
             *, spent: bool = False) -> exposure.Decision:
        self.now += dt.timedelta(minutes=minutes)
        outcomes = None
        if exposure.analysis_due(self.spec, self.status, self.now):
            outcomes = [self.outcome(gate.name, gate.type, verdicts or {}, spent)
                        for gate in exposure.gates_to_measure(self.spec, self.status)]
        observed = exposure.Observed(model=self.model, gate_outcomes=outcomes, budget_anchor=T0,
                                     requests=parse_requests(self.annotations),
                                     generation=self.generation, name="c")
        decision = exposure.decide(self.spec, self.status, observed, self.now)
        again = exposure.decide(self.spec, decision.status, observed, self.now)
        assert again.events == () and again.status == decision.status
        self.status = decision.status
        self.log.append(decision)
        return decision

    def outcome(self, name: str, type_: str, verdicts: Mapping[str, GateVerdict],
                spent: bool) -> GateOutcome:
        if type_ == "budget":
            if spent:
                return GateOutcome(name=name, verdict=F, message="spent", time=self.now,
                                   value=120.0, threshold=100.0,
                                   suspension=Suspension(None, "spent"))
            return GateOutcome(name=name, verdict=P, message="ok", time=self.now, value=1.0,
                               threshold=100.0)
        return GateOutcome(name=name, verdict=verdicts.get(name, P), message="m", time=self.now)

    def passing(self, passes: int) -> exposure.Decision:
        decision = self.tick()
        for _ in range(passes - 1):
            decision = self.tick()
        return decision

    def reasons(self, decision: exposure.Decision | None = None) -> list[Reason]:
        if decision is not None:
            return [e.reason for e in decision.events]
        return [e.reason for d in self.log for e in d.events]

    def at(self) -> tuple[int | None, float]:
        return self.status.current_step, self.status.exposure_percent


def at_step_three() -> Sim:
    """A ramp at step 3/4 (50 %), its gates passing."""
    sim = Sim(make_spec())
    sim.tick(0)
    sim.passing(13)
    assert sim.at() == (2, 50)
    return sim


def completed(steps: Sequence[tuple[float, str | None]] = ((10, "5m"), (25, "5m")),
              gates: Sequence[Mapping[str, Any]] = DELIVERY, **fields: Any) -> Sim:
    sim = Sim(make_spec(steps, gates, **fields))
    sim.tick(0)
    sim.passing(14)
    assert sim.at() == (None, 25) and sim.status.phase is Phase.HEALTHY
    return sim


# -- mid-ramp --------------------------------------------------------------------------------


def test_steps_cut_to_fewer_bigger_ones_serve_the_last_percent_before_completing() -> None:
    sim = at_step_three()
    sim.edit(make_spec(((10, "5m"), (75, "5m"))))
    d = sim.tick()
    # Applied in the pass that reads the edit; the step starts over from it.
    assert sim.at() == (1, 75) and d.exposure_percent == 75
    assert d.status.step_started_at == sim.now
    restarted = next(e for e in d.events if e.reason is Reason.STEP_RESTARTED)
    assert restarted.message == (
        "exposure 75% at step 2/2 (spec.exposure.steps edited: this step is at 75% in the spec, "
        "50% was served; the step starts over)")
    entry = d.status.history[-1]
    assert (entry.action, entry.version, entry.percent, entry.actor) == (
        "StepRestarted", "3", 75, "spec")
    # Its pause runs from the restart: not completed at the old step's end, nor without an
    # analysis at 75 %.
    d = sim.passing(4)
    assert sim.at() == (1, 75) and "step ends at" in d.status.message
    d = sim.tick()
    assert sim.at() == (None, 75) and d.status.phase is Phase.HEALTHY
    assert [(e.action, e.percent) for e in d.status.history] == [
        ("ExposureStarted", 10), ("StepAdvanced", 25), ("StepAdvanced", 50),
        ("StepRestarted", 75), ("RampCompleted", 75)]
    # The gates passed at 75 % before the ramp completed there.
    gates = d.status.gates[0]
    assert gates.time > entry.time


def test_a_percent_raised_for_the_current_step_is_served_at_once() -> None:
    sim = Sim(make_spec())
    sim.tick(0)
    sim.passing(1)
    assert sim.at() == (0, 10)
    sim.edit(make_spec(((20, "5m"), (25, "5m"), (50, "5m"))))
    d = sim.tick()
    assert sim.at() == (0, 20) and d.exposure_percent == 20
    assert sim.reasons(d) == [Reason.STEP_RESTARTED]


def test_a_percent_lowered_for_the_current_step_is_not_followed() -> None:
    """The ramp never goes backwards: the step served more than it asks now."""
    sim = at_step_three()
    sim.edit(make_spec(((10, "5m"), (20, "5m"), (40, "5m"), (75, "5m"))))
    d = sim.tick()
    assert sim.at() == (2, 50)
    assert Reason.STEP_RESTARTED not in sim.reasons(d)


def test_the_pass_s_outcomes_count_at_the_percent_they_were_measured_at() -> None:
    """The edit's pass applies its analysis first: a Fail measured at 50 % still rolls back."""
    sim = at_step_three()
    sim.edit(make_spec(((10, "5m"), (75, "5m"))))
    d = sim.tick(verdicts={"d": F})
    assert sim.at() == (None, 0) and d.status.phase is Phase.DEGRADED
    assert Reason.STEP_RESTARTED not in sim.reasons(d)


def test_the_restart_keeps_the_fails_and_counts_the_inconclusives_afresh() -> None:
    gates = [{"name": "d", "type": "deliveryRate", "failureLimit": 1, "inconclusiveLimit": 2}]
    sim = Sim(make_spec(gates=gates))
    sim.tick(0)
    sim.passing(7)
    assert sim.at() == (1, 25)
    sim.tick(verdicts={"d": F})
    sim.tick(verdicts={"d": INC})
    sim.tick(verdicts={"d": INC})
    assert (sim.status.gates[0].failures, sim.status.gates[0].inconclusives) == (1, 2)
    sim.edit(make_spec(((10, "5m"), (75, "5m")), gates))
    d = sim.tick()
    assert sim.at() == (1, 75)
    assert (d.status.gates[0].failures, d.status.gates[0].inconclusives) == (1, 0)
    # An edit is no evidence against the Fail: the next one is past failureLimit 1.
    d = sim.tick(verdicts={"d": F})
    assert sim.at() == (None, 0) and d.status.phase is Phase.DEGRADED


def test_a_paused_ramp_serves_the_new_percent_once_resumed() -> None:
    sim = at_step_three()
    sim.edit(make_spec(((10, "5m"), (75, "5m")), paused=True))
    d = sim.tick()
    # Its index written back as the last step (2/2), its percent not raised while held.
    assert d.status.phase is Phase.PAUSED and sim.at() == (1, 50)
    assert "exposure 50% at step 2/2 held by spec.exposure.paused" in d.status.message
    assert Reason.STEP_RESTARTED not in sim.reasons(d)
    sim.passing(10)  # held: neither raised nor completed from 50 %
    assert sim.at() == (1, 50)
    sim.edit(make_spec(((10, "5m"), (75, "5m"))))
    d = sim.tick()
    assert sim.at() == (1, 75) and d.status.step_started_at == sim.now
    assert d.status.phase is Phase.PROGRESSING
    assert set(sim.reasons(d)) >= {Reason.STEP_RESTARTED, Reason.RESUMED}


def test_a_budget_suspension_holds_the_new_percent_until_its_renewal() -> None:
    """Suspended by a spent budget, the step is at 0 %: the new percent is served once the
    budget renews (the exposure held given back, then raised, in one pass), and the ramp does
    not complete from the exposure held."""
    sim = Sim(make_spec(gates=BUDGET, budget=True))
    sim.tick(0)
    sim.passing(13)
    assert sim.at() == (2, 50)
    d = sim.tick(spent=True)
    assert d.status.phase is Phase.SUSPENDED and d.status.suspended_exposure_percent == 50
    sim.edit(make_spec(((10, "5m"), (75, "5m")), BUDGET, budget=True))
    for _ in range(10):
        d = sim.tick(spent=True)
        assert Reason.STEP_RESTARTED not in sim.reasons(d)
    assert (d.status.current_step, d.status.exposure_percent,
            d.status.suspended_exposure_percent) == (1, 0, 50)  # the index: the last step
    # The budget gate passes again: renewed at the exposure held, then raised in that pass
    # (a pass run again on its own output changes nothing: ``Sim.tick``).
    d = sim.tick()
    assert sim.at() == (1, 75) and d.status.step_started_at == sim.now
    assert sim.reasons(d) == [Reason.BUDGET_RENEWED, Reason.STEP_RESTARTED]
    d = sim.passing(6)
    assert sim.at() == (None, 75)
    completions = [e for e in d.status.history if e.action == "RampCompleted"]
    assert [e.percent for e in completions] == [75]


def test_the_restarted_step_s_deadline_runs_from_the_restart() -> None:
    sim = Sim(make_spec(progressDeadline="10m"))
    sim.tick(0)
    sim.passing(7)
    assert sim.at() == (1, 25)
    sim.tick(9, verdicts={"d": INC})  # 9 minutes into step 2, its deadline at its start + 10
    sim.edit(make_spec(((10, "5m"), (75, "5m")), progressDeadline="10m"))
    d = sim.tick(1, verdicts={"d": INC})
    restarted = sim.now
    assert d.status.step_started_at == restarted and sim.at() == (1, 75)
    d = sim.tick(14, verdicts={"d": INC})
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(2, verdicts={"d": INC})
    assert d.status.phase is Phase.DEGRADED
    assert (restarted + dt.timedelta(minutes=5)).isoformat() in d.events[0].message


def test_a_manual_one_step_promote_from_the_new_last_step_completes_as_asked() -> None:
    """A human's promote is the human's: held at the old percent, it completes."""
    sim = Sim(make_spec(rollback="Manual"))
    sim.tick(0)
    sim.passing(13)
    sim.tick(verdicts={"d": F})
    assert sim.status.phase is Phase.PAUSED and sim.at() == (2, 50)
    sim.edit(make_spec(((10, "5m"), (75, "5m")), rollback="Manual"))
    d = sim.tick()
    # A pending rollback holds the ramp: nothing applied, the index written back as the last.
    assert sim.at() == (1, 50)
    sim.annotations["uplift.dev/promote"] = "step:t1"
    d = sim.tick()
    assert sim.at() == (None, 75)
    assert d.status.history[-1].reason.startswith("promoted by hand")


# -- after completion ------------------------------------------------------------------------


def test_a_step_added_above_a_completed_ramp_reopens_it_there() -> None:
    sim = completed()
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, "5m"))))
    d = sim.tick()
    assert sim.at() == (2, 100) and d.exposure_percent == 100
    assert d.status.phase is Phase.PROGRESSING and d.status.step_started_at == sim.now
    assert [(e.type, e.reason, e.message) for e in d.events] == [(
        "Normal", Reason.STEP_ADVANCED,
        "exposure 100% at step 3/3 (spec.exposure.steps edited: step 3 is above the 25% the "
        "ramp completed at; the ramp goes on from there)")]
    entry = d.status.history[-1]
    assert (entry.action, entry.percent, entry.actor) == ("StepAdvanced", 100, "spec")
    # Gated as any step: its pause and an analysis at 100 % before it completes.
    sim.passing(4)
    assert sim.at() == (2, 100)
    d = sim.tick()
    assert sim.at() == (None, 100) and d.status.phase is Phase.HEALTHY
    assert [(e.action, e.percent) for e in d.status.history][-2:] == [
        ("StepAdvanced", 100), ("RampCompleted", 100)]


def test_the_reopened_step_is_rolled_back_on_a_fail() -> None:
    sim = completed()
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, "5m"))))
    sim.tick()
    d = sim.tick(verdicts={"d": F})
    assert sim.at() == (None, 0) and d.status.phase is Phase.DEGRADED
    assert Reason.ROLLED_BACK in sim.reasons(d)


def test_the_first_step_above_the_completed_exposure_is_the_one_reopened() -> None:
    """Steps at or below the completed exposure are passed: exposure never goes down."""
    sim = completed()
    sim.edit(make_spec(((5, "5m"), (20, "5m"), (50, "5m"), (100, "5m"))))
    d = sim.tick()
    assert sim.at() == (2, 50)
    assert sim.reasons(d) == [Reason.STEP_ADVANCED]
    d = sim.passing(6)
    assert sim.at() == (3, 100)


def test_steps_at_or_below_the_completed_exposure_change_nothing() -> None:
    sim = completed()
    sim.edit(make_spec(((10, "5m"), (20, "5m"), (25, "5m"))))
    d = sim.passing(5)
    assert sim.at() == (None, 25) and d.status.phase is Phase.HEALTHY
    assert Reason.STEP_ADVANCED not in sim.reasons(d)


def test_a_held_completed_ramp_reopens_once_the_hold_lifts() -> None:
    """The spec's ``paused`` and a spent budget hold a completed ramp where it is."""
    sim = completed(gates=BUDGET, budget=True)
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, "5m")), BUDGET, budget=True,
                       paused=True))
    for _ in range(3):
        sim.tick()
    assert sim.at() == (None, 25)
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, "5m")), BUDGET, budget=True))
    d = sim.tick(spent=True)  # the budget gate, measured every interval, finds it spent
    assert d.status.phase is Phase.SUSPENDED and d.status.current_step is None
    for _ in range(3):
        sim.tick(spent=True)
    assert (sim.status.current_step, sim.status.suspended_exposure_percent) == (None, 25)
    d = sim.tick()  # renewed: the completed ramp's exposure back, then the step above
    assert sim.at() == (2, 100)
    assert sim.reasons(d) == [Reason.BUDGET_RENEWED, Reason.STEP_ADVANCED]


def test_a_reopened_step_judges_the_model_s_current_version_afresh() -> None:
    """A gate judging the model's decisions, last measured before the model's current version,
    does not carry that version's evidence into the reopened step."""
    gates = [*DELIVERY, {"name": "roi", "type": "roi"}]
    sim = completed(gates=gates)
    sim.model = serving("4")
    d = sim.tick()
    assert Reason.MODEL_VERSION_CHANGED in sim.reasons(d)
    assert {g.name for g in d.status.gates} == {"d", "roi"}
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, "5m")), gates))
    d = sim.tick()
    assert sim.at() == (2, 100)
    assert [g.name for g in d.status.gates] == ["d"]


def test_a_reopened_ramp_can_be_promoted_by_hand() -> None:
    sim = completed()
    sim.edit(make_spec(((10, "5m"), (25, "5m"), (100, None))))
    sim.tick()
    assert sim.at() == (2, 100)
    sim.annotations["uplift.dev/promote"] = "step:t1"
    d = sim.tick()
    assert sim.at() == (None, 100) and Reason.MANUAL_PROMOTE in sim.reasons(d)


def test_a_new_model_version_and_a_raised_percent_in_one_pass() -> None:
    """The step starts over on the new version at the spec's percent, in that very pass."""
    sim = at_step_three()
    sim.model = serving("4")
    sim.edit(make_spec(((10, "5m"), (75, "5m"))))
    d = sim.tick()
    assert sim.at() == (1, 75) and d.status.model_version == "4"
    assert sim.reasons(d) == [Reason.MODEL_VERSION_CHANGED, Reason.STEP_RESTARTED]
