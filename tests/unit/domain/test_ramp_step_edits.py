"""``spec.rollout.steps`` edited mid-ramp: the current step is served at no less than the weight
the spec now gives it. A weight above the one served is applied in the pass that reads the edit
and the step starts over (``StepRestarted``: its pause and deadline from then, its gates' evidence
in a new stratum, their Fails kept), so the canary is never promoted from below a weight its spec
lists. Before, a canary at 25 % whose steps became [10, 75] stood at "step 2/2 (25%)" and was
promoted from 25 % six minutes later, "all steps passed", never having served 75 %; a weight
raised for the current step waited for the next step."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import INC, F, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

FOUR = ((10, "5m"), (25, "5m"), (50, "5m"), (75, "5m"))
LAT = [{"name": "lat", "type": "latency"}]


def test_steps_cut_to_fewer_bigger_ones_serve_the_last_weight_before_the_promotion() -> None:
    sim = with_canary(make_spec(steps=FOUR, gates=LAT))
    sim.passing(6)
    assert (sim.status.current_step, sim.status.canary_weight) == (1, 25)
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=LAT)
    d = sim.passing(2)
    # Applied in the pass that reads the edit; the step starts over from it.
    assert (d.status.current_step, d.status.canary_weight) == (1, 75)
    assert d.traffic == TrafficSplit("1", "2", 75)
    assert d.status.step_started_at == sim.now
    assert Reason.STEP_RESTARTED in sim.reasons()
    restarted = next(e for e in d.events if e.reason is Reason.STEP_RESTARTED)
    assert restarted.message == (
        "canary 2 at step 2/2 (75%) (spec.rollout.steps edited: this step is at 75% in the "
        "spec, 25% was served; the step starts over)")
    entry = d.status.history[-1]
    assert (entry.action, entry.version, entry.weight, entry.actor) == (
        "StepRestarted", "2", 75, "spec")
    # Its pause runs from the restart: not promoted at the old step's end, nor without an
    # analysis at 75 %.
    d = sim.passing(4)
    assert d.status.canary_version == "2" and "step ends at" in d.status.message
    d = sim.passing(1.5)
    assert d.status.stable_version == "2" and d.status.canary_version is None
    promoted = d.status.history[-1]
    assert promoted.action == "Promoted" and promoted.reason.startswith("all steps passed")
    assert [(e.action, e.weight) for e in d.status.history if e.version == "2"] == [
        ("CanaryStarted", 0), ("TrafficStarted", 10), ("StepAdvanced", 25),
        ("StepRestarted", 75), ("Promoted", 0)]
    # Every split the canary had before its promotion: no promotion from below 75 %.
    weights = [dd.traffic.canary_weight for dd in sim.log if dd.traffic is not None
               and dd.traffic.canary_version == "2"]
    assert max(weights) == 75 and weights[-1] == 75


def test_a_weight_raised_for_the_current_step_is_served_at_once() -> None:
    sim = with_canary(make_spec(gates=LAT))
    sim.passing(1)
    assert sim.status.canary_weight == 10
    sim.spec = make_spec(steps=((20, "5m"), (25, "5m"), (50, "5m")), gates=LAT)
    d = sim.passing(1)
    assert (d.status.current_step, d.status.canary_weight) == (0, 20)
    assert d.traffic == TrafficSplit("1", "2", 20)
    assert sim.reasons() == [Reason.STEP_RESTARTED]


def test_a_weight_lowered_for_the_current_step_is_not_followed() -> None:
    """The ramp never goes backwards: the step served more than it asks now."""
    sim = with_canary(make_spec(gates=LAT))
    sim.passing(5)
    assert sim.status.canary_weight == 25
    sim.spec = make_spec(steps=((10, "5m"), (20, "5m"), (50, "5m")), gates=LAT)
    d = sim.passing(1)
    assert (d.status.current_step, d.status.canary_weight) == (1, 25)
    assert Reason.STEP_RESTARTED not in sim.reasons()


def test_the_pass_s_outcomes_count_at_the_weight_they_were_measured_at() -> None:
    """The edit's pass applies its analysis first: a Fail measured at 25 % still rolls back."""
    sim = with_canary(make_spec(steps=FOUR, gates=LAT))
    sim.passing(6)
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=LAT)
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert Reason.STEP_RESTARTED not in sim.reasons()


def test_the_restart_keeps_the_fails_and_counts_the_inconclusives_afresh() -> None:
    sim = with_canary(make_spec(steps=FOUR, gates=[
        {"name": "lat", "type": "latency", "failureLimit": 1, "inconclusiveLimit": 2}]))
    sim.passing(6)
    sim.tick(1, verdicts={"lat": F})
    sim.tick(1, verdicts={"lat": INC})
    sim.tick(1, verdicts={"lat": INC})
    assert (sim.status.gates[0].failures, sim.status.gates[0].inconclusives) == (1, 2)
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=[
        {"name": "lat", "type": "latency", "failureLimit": 1, "inconclusiveLimit": 2}])
    d = sim.tick(1)
    assert d.status.canary_weight == 75
    assert (d.status.gates[0].failures, d.status.gates[0].inconclusives) == (1, 0)
    # An edit is no evidence against the Fail: the next one is past failureLimit 1.
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version is None and d.status.aborted_version == "2"


def test_a_held_ramp_serves_the_new_weight_once_the_hold_lifts() -> None:
    paused = make_spec(steps=((10, "5m"), (75, "5m")), gates=LAT, paused=True)
    sim = with_canary(make_spec(steps=FOUR, gates=LAT))
    sim.passing(6)
    sim.spec = paused
    d = sim.passing(1)
    assert d.status.phase is Phase.PAUSED and d.status.canary_weight == 25
    assert Reason.STEP_RESTARTED not in sim.reasons()
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=LAT)
    d = sim.passing(1)
    assert d.status.canary_weight == 75 and d.status.step_started_at == sim.now
    assert d.status.phase is Phase.PROGRESSING
    assert set(sim.reasons()) >= {Reason.STEP_RESTARTED, Reason.RESUMED}


def test_a_manual_one_step_promote_from_the_new_last_step_completes_as_asked() -> None:
    """A human's promote is the human's: held at the old weight, it promotes."""
    sim = with_canary(make_spec(steps=FOUR, gates=LAT, rollback="Manual"))
    sim.passing(6)
    sim.tick(1, verdicts={"lat": F})
    assert sim.status.phase is Phase.PAUSED
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=LAT, rollback="Manual")
    d = sim.tick(1)
    assert d.status.canary_weight == 25  # a pending rollback holds the ramp: nothing applied
    sim.request(ramp.PROMOTE_ANNOTATION, "step:t1")
    d = sim.tick(1)
    assert d.status.stable_version == "2"
    assert d.status.history[-1].reason.startswith("promoted by hand")


def test_the_restarted_step_s_deadline_runs_from_the_restart() -> None:
    lat = [{"name": "lat", "type": "latency"}]
    sim = with_canary(make_spec(steps=FOUR, gates=lat, progressDeadline="10m"))
    sim.passing(6)
    sim.tick(9, verdicts={"lat": INC})  # 9 minutes into step 2, its deadline at 5 + 10
    sim.spec = make_spec(steps=((10, "5m"), (75, "5m")), gates=lat, progressDeadline="10m")
    d = sim.tick(1, verdicts={"lat": INC})
    restarted = sim.now
    assert d.status.step_started_at == restarted and d.status.canary_weight == 75
    d = sim.tick(14, verdicts={"lat": INC})
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(2, verdicts={"lat": INC})
    assert d.status.phase is Phase.DEGRADED
    assert (restarted + dt.timedelta(minutes=5)).isoformat() in d.events[0].message
