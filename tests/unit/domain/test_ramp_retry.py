"""A retry restarts a canary at step 1 only where it is documented to (docs/operator.md,
"kubectl uplift"): a canary rolled back or aborted, one its gates hold for a human (an
``inconclusiveLimit`` pause, a pending Manual rollback), an emergency restore not yet served
(test_ramp_restore). On a canary that goes on it is ignored, as Argo Rollouts' retry acts on an
aborted rollout only and a Campaign's on a rolled-back one: before, it took the canary's traffic
back to 0 % and threw its gates' evidence away."""

from __future__ import annotations

from tests.unit.domain.test_ramp import INC, F, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

STEPS = ((10, "5m"), (25, "5m"), (50, "5m"))


def retried(sim: Sim, token: str = "t1", minutes: float = 0.5) -> ramp.Decision:
    sim.request(ramp.RETRY_ANNOTATION, token)
    return sim.tick(minutes)


def restarted(d: ramp.Decision, gates_kept: bool = False) -> bool:
    s = d.status
    return (s.canary_version, s.current_step, s.canary_weight) == ("2", 0, 0) and (
        bool(s.gates) is gates_kept) and (
        s.history[-1].action, s.history[-1].reason) == ("Retry", "canary restarted at step 1")


def test_a_retry_of_a_canary_that_goes_on_is_ignored_and_said() -> None:
    sim = with_canary(make_spec(steps=STEPS))
    for _ in range(2):
        sim.passing(6)
    before = sim.status
    assert (before.current_step, before.canary_weight, before.phase) == (2, 50, Phase.PROGRESSING)
    d = retried(sim)
    assert (d.status.current_step, d.status.canary_weight) == (2, 50)
    assert d.status.gates == before.gates and d.traffic == TrafficSplit("1", "2", 50)
    [event] = d.events
    assert (event.type, event.reason, event.decision) == ("Warning", Reason.RETRY, False)
    assert event.message == (
        "annotation uplift.dev/retry=t1 ignored: canary 2 at step 3/3 (50%) goes on, not paused "
        "by its gates: a retry restarts a canary rolled back or aborted, or one its gates hold "
        "for a human (an inconclusiveLimit, a pending Manual rollback); stop this one with "
        "`kubectl uplift abort NAME` (or annotate --overwrite uplift.dev/abort=$(date +%s))")
    entry = d.status.history[-1]
    assert (entry.action, entry.actor) == ("RequestIgnored", "annotation uplift.dev/retry=t1")
    # The token is used up: the same annotation is not acted on later, paused or not.
    assert d.status.handled_requests[ramp.RETRY_ANNOTATION] == "t1"
    assert sim.tick(1).events == ()


def test_a_retry_before_any_traffic_or_held_by_the_specs_pause_is_ignored() -> None:
    sim = with_canary(make_spec(steps=STEPS, gates=[{"name": "qini", "type": "qini"}]))
    assert sim.status.canary_weight == 0
    d = retried(sim)
    assert [e.reason for e in d.events] == [Reason.RETRY] and d.events[0].type == "Warning"
    assert d.status.history[-1].action == "RequestIgnored"
    sim = with_canary(make_spec(steps=STEPS))
    sim.passing(6)
    sim.spec = make_spec(steps=STEPS, paused=True)
    assert sim.tick(0.5).status.phase is Phase.PAUSED
    d = retried(sim)
    assert d.status.history[-1].action == "RequestIgnored"
    assert (d.status.current_step, d.status.canary_weight) == (1, 25)


def test_a_retry_restarts_a_canary_paused_past_its_inconclusive_limit() -> None:
    sim = with_canary(make_spec(steps=STEPS, gates=[
        {"name": "latency", "type": "latency", "inconclusiveLimit": 1}]))
    sim.tick(1.5, verdicts={"latency": INC})
    d = sim.tick(1, verdicts={"latency": INC})
    assert d.status.phase is Phase.PAUSED and ramp.RETRY_ANNOTATION in d.status.message
    d = retried(sim)
    # Its gates' evidence is carried (test_ramp_retry_evidence), their counts zeroed.
    assert restarted(d, gates_kept=True) and [g.inconclusives for g in d.status.gates] == [0]
    assert d.status.phase is Phase.PROGRESSING
    assert Reason.RETRY in sim.reasons() and d.traffic == TrafficSplit("1", "2", 0)


def test_a_retry_restarts_a_canary_whose_manual_rollback_is_pending() -> None:
    sim = with_canary(make_spec(steps=STEPS, rollback="Manual"))
    d = sim.tick(1.5, verdicts={"latency": F})
    assert d.status.phase is Phase.PAUSED and d.status.canary_version == "2"
    assert restarted(retried(sim))


def test_a_retry_restarts_a_canary_rolled_back_for_not_serving_with_manual_rollback() -> None:
    """Not held for a human any more (test_ramp_canary_not_serving): rolled back past its
    grace whatever rollback.mode says, and retried as a rolled-back canary."""
    sim = with_canary(make_spec(steps=STEPS, rollback="Manual"))
    sim.canary_ready = False
    sim.tick(1)
    d = sim.tick(5)
    assert d.status.aborted_version == "2" and d.status.canary_version is None
    d = retried(sim)
    assert restarted(d) and d.status.canary_not_serving_since is None
    assert d.traffic == TrafficSplit("1", "2", 0)  # waited for at 0 %, until it serves
    assert "canary is not serving yet" in sim.tick(1).status.message


def test_a_retry_restarts_an_aborted_canary() -> None:
    sim = with_canary(make_spec(steps=STEPS))
    sim.request(ramp.ABORT_ANNOTATION, "a1")
    assert sim.tick(1).status.aborted_version == "2"
    assert restarted(retried(sim))
