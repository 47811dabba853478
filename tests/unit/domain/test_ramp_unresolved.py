"""A canary's ramp while the spec's model reference does not resolve (``desired_version`` None:
MLflow unreachable, a version or alias it does not have, a version not READY, its MLmodel
unreadable, the credentials Secret missing): the spec may no longer name the canary, so no step
advances and it is not promoted, by its gates or by hand, until the reference resolves again;
its gates are still judged, so a Fail still rolls it back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.unit.domain.test_ramp import INC, F, P, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain.ramp import Reason

HELD = "the model reference does not resolve now: no step and no promotion of canary 2"


def pre_traffic() -> Sim:
    """Canary 2 deployed and serving at 0 %, its offline (qini) gate to pass before traffic."""
    return with_canary(make_spec(gates=[{"name": "qini", "type": "qini"},
                                        {"name": "latency", "type": "latency"}]))


def mid_ramp() -> Sim:
    """Canary 2 on its first step of three, the step's pause over."""
    sim = with_canary()
    sim.tick(5)
    return sim


def last_step() -> Sim:
    """Canary 2 on the last of its three steps, the step's pause over."""
    sim = with_canary()
    for _ in range(2):
        sim.passing(6)
        assert Reason.STEP_ADVANCED in sim.reasons()
    assert sim.status.current_step == 2
    sim.tick(5)
    return sim


RAMPS: list[tuple[str, Callable[[], Sim], tuple[Reason, int, int | None, str]]] = [
    # (the situation, its Sim, what every gate passing does when the reference resolves:
    #  the event, then the canary's weight, step and the stable version)
    ("pre-traffic", pre_traffic, (Reason.TRAFFIC_STARTED, 10, 0, "1")),
    ("mid-ramp", mid_ramp, (Reason.STEP_ADVANCED, 25, 1, "1")),
    ("last-step", last_step, (Reason.PROMOTED, 0, None, "2")),
]


@pytest.mark.parametrize(("make", "resolved"), [(make, resolved) for _, make, resolved in RAMPS],
                         ids=[name for name, _, _ in RAMPS])
@pytest.mark.parametrize("desired", [None, "2"], ids=["unresolved", "resolves-to-canary"])
def test_passing_gates_move_a_canary_only_while_the_reference_resolves(
        make: Callable[[], Sim], resolved: tuple[Reason, int, int | None, str],
        desired: str | None) -> None:
    sim = make()
    before = sim.status.model_copy(deep=True)
    sim.desired = desired
    decision = sim.passing(1)
    event, weight, step, stable = resolved
    s = sim.status
    if desired is not None:
        assert event in sim.reasons()
        assert (s.canary_weight, s.current_step, s.stable_version) == (weight, step, stable)
        return
    assert not {Reason.TRAFFIC_STARTED, Reason.STEP_ADVANCED, Reason.PROMOTED} & set(
        sim.reasons())
    assert (s.canary_version, s.canary_weight, s.current_step, s.stable_version) == (
        before.canary_version, before.canary_weight, before.current_step, "1")
    assert decision.traffic is not None and decision.traffic.canary_version == "2"
    assert s.phase is Phase.PROGRESSING and HELD in s.message
    # It resolves to the canary again: the ramp goes on at once, on the evidence it has.
    sim.desired = "2"
    sim.passing(1)
    assert event in sim.reasons()
    assert (s := sim.status).canary_weight == weight and s.stable_version == stable


@pytest.mark.parametrize("value", ["step:1", "full:1"])
@pytest.mark.parametrize("make", [pre_traffic, mid_ramp, last_step],
                         ids=["pre-traffic", "mid-ramp", "last-step"])
def test_a_promote_by_hand_is_refused_while_the_reference_does_not_resolve(
        make: Callable[[], Sim], value: str) -> None:
    sim = make()
    before = sim.status.model_copy(deep=True)
    sim.desired = None
    sim.request("uplift.dev/promote", value)
    decision = sim.tick(0.1)
    refused = [e for e in decision.events if e.reason is Reason.MANUAL_PROMOTE]
    assert [e.type for e in refused] == ["Warning"]
    assert HELD in refused[0].message and "annotate again once it resolves" in refused[0].message
    s = sim.status
    assert (s.canary_version, s.canary_weight, s.current_step, s.stable_version) == (
        before.canary_version, before.canary_weight, before.current_step, "1")
    assert sim.status.handled_requests  # said once: the token is used up


def test_a_failing_gate_still_rolls_back_a_canary_while_the_reference_does_not_resolve() -> None:
    sim = mid_ramp()
    sim.desired = None
    sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert Reason.ROLLED_BACK in sim.reasons()
    assert sim.status.canary_version is None and sim.status.aborted_version == "2"
    assert sim.status.stable_version == "1"


def test_a_held_step_past_its_progress_deadline_says_the_reference_holds_it() -> None:
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.desired = None
    for _ in range(16):
        sim.passing(1)
    s = sim.status
    assert s.phase is Phase.DEGRADED and s.message.startswith("ProgressDeadlineExceeded")
    assert HELD in s.message and s.current_step == 0


@pytest.mark.parametrize("make", [pre_traffic, with_canary], ids=["pre-traffic", "mid-ramp"])
@pytest.mark.parametrize("desired", [None, "2"], ids=["unresolved", "resolves-to-canary"])
def test_analysis_passed_is_not_said_of_a_held_canary(make: Callable[[], Sim],
                                                       desired: str | None) -> None:
    """Every gate due passes while the reference does not resolve: no ``AnalysisPassed`` (the
    step does not move; on-call would read it as advancing), though the gates show their Pass
    and the message the hold. Resolved, the same analysis says it."""
    sim = make()
    sim.desired = desired
    sim.passing(1)
    s = sim.status
    assert s.gates and all(g.verdict is GateVerdict.PASS for g in s.gates)
    assert (Reason.ANALYSIS_PASSED in sim.reasons()) == (desired is not None)
    assert (HELD in s.message) == (desired is None)


def test_a_step_whose_gates_passed_while_held_says_so_when_the_hold_lifts() -> None:
    """The hold lifts with the step's gates passed already: ``AnalysisPassed`` once, in the
    pass where it lifts (none during the hold), then the step's ``StepAdvanced`` when its
    pause ends, naming the gates too."""
    sim = with_canary()
    sim.desired = None
    said = [sim.passing(1)]
    assert sim.status.passed_while_held_at == sim.now
    sim.desired = "2"
    said += [sim.passing(1) for _ in range(4)]  # the step's 5m pause ends at the last
    assert [e.reason for e in said[1].events] == [Reason.ANALYSIS_PASSED]
    events = [e for d in said for e in d.events]
    assert [e.reason for e in events] == [Reason.ANALYSIS_PASSED, Reason.STEP_ADVANCED]
    assert "gates passed" in events[1].message and sim.status.current_step == 1
    assert sim.status.passed_while_held_at is None


@pytest.mark.parametrize("analysis_at_lift", [False, True], ids=["no-analysis", "analysis"])
def test_a_no_pause_step_whose_gates_passed_while_held_says_so_once_the_hold_lifts(
        analysis_at_lift: bool) -> None:
    """A step without a pause waits for a promote: its gates pass while the model reference
    does not resolve (no ``AnalysisPassed`` then), and the pass where it resolves again says
    it, once, whether or not that pass runs an analysis; nothing moves the step, so nothing
    else would say it. Not said again at later analyses, nor after another hold."""
    sim = with_canary(make_spec(steps=[(10, None), (50, "5m")]))
    sim.desired = None
    held = [sim.passing(1), sim.passing(1)]
    assert all(Reason.ANALYSIS_PASSED not in sim.reasons(d) for d in held)
    sim.desired = "2"
    lifted = sim.passing(0.5) if analysis_at_lift else sim.tick(0.5)
    assert sim.reasons(lifted) == [Reason.ANALYSIS_PASSED]
    assert "every gate passed for canary 2 at step 1/2" in lifted.events[0].message
    later = [sim.passing(1) for _ in range(3)]
    sim.desired = None
    later += [sim.passing(1)]
    sim.desired = "2"
    later += [sim.passing(1), sim.tick(0.5)]
    assert all(not d.events for d in later)
    assert sim.status.current_step == 0 and "no pause" in sim.status.message


def test_gates_that_stop_passing_during_the_hold_say_nothing_when_it_lifts() -> None:
    """Passed while held, then a gate Inconclusive before the hold lifts: nothing to tell at
    the lift (the mark is dropped); the next analysis that makes them pass, unheld, says it."""
    sim = with_canary(make_spec(steps=[(10, None), (50, "5m")]))
    sim.desired = None
    sim.passing(1)
    sim.tick(1, verdicts={"latency": INC, "shadow": P})
    assert sim.status.passed_while_held_at is None
    sim.desired = "2"
    assert Reason.ANALYSIS_PASSED not in sim.reasons(sim.tick(0.5))
    assert sim.reasons(sim.passing(1)) == [Reason.ANALYSIS_PASSED]


def test_gates_passed_before_the_hold_are_not_said_again_when_it_lifts() -> None:
    """Said when they passed, unheld; a hold and its lift with the gates still passing say
    nothing more of the step."""
    sim = with_canary(make_spec(steps=[(10, None), (50, "5m")]))
    assert sim.reasons(sim.passing(1)) == [Reason.ANALYSIS_PASSED]
    sim.desired = None
    sim.passing(1)
    sim.desired = "2"
    assert not sim.tick(0.5).events and not sim.passing(1).events
