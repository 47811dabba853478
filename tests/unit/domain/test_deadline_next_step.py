"""A step past its ``progressDeadline`` says what on-call can do (``StepPass.deadline_next_step``):
which gates must pass, and the commands the project documents to promote or abort — in the
Warning event, the history entry and the phase message, for both kinds."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import INC, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, decide

PROMOTE = ("promote if the evidence suffices (`kubectl uplift promote {target}`, or annotate "
           "--overwrite uplift.dev/promote=step:$(date +%s); `--full` or full:$(date +%s) "
           "completes the ramp)")
ABORT = ("abort (`kubectl uplift abort {target}`, or annotate --overwrite "
         "uplift.dev/abort=$(date +%s): the canary's traffic goes back to stable)")


def _past_deadline(gates: list[dict[str, object]] | None = None) -> tuple[str, str, str]:
    """A canary held Inconclusive past its 10m deadline: the event's, the history's and the
    phase's message."""
    sim = with_canary(make_spec(progressDeadline="10m", gates=gates))
    inconclusive = {g.name: INC for g in sim.spec.rollout.gates}
    sim.tick(15, verdicts=inconclusive)  # the step could end at 5m: the deadline is at 15m
    d = sim.tick(1, verdicts=inconclusive)
    assert d.status.phase is Phase.DEGRADED
    (event,) = [e for e in d.events if e.reason is Reason.PROGRESS_DEADLINE_EXCEEDED]
    entry = d.status.history[-1]
    assert entry.action == "ProgressDeadlineExceeded" and entry.reason == event.message
    return event.message, entry.reason, d.status.message


def test_the_deadline_names_the_gate_and_the_commands_to_run() -> None:
    event, _, phase = _past_deadline([{"name": "latency", "type": "latency"}])
    target = "NAME"  # the pass was not told the resource's name (nor its namespace)
    expected = (f"(gates: latency Inconclusive); next: this gate must pass at this step, or "
                f"{PROMOTE.format(target=target)}, or {ABORT.format(target=target)}; runbook "
                "UpliftProgressDeadlineExceeded")
    assert event.startswith("canary 2 at step 1/3 (10%) could not advance for 10m since "
                            "2026-11-28T12:05:00+00:00, when the step's pause ended (gates: ")
    assert event.endswith(expected)
    assert phase.startswith("ProgressDeadlineExceeded: ") and phase.endswith(expected)


def test_a_dry_run_gate_is_not_named_as_blocking() -> None:
    event, _, _ = _past_deadline([{"name": "latency", "type": "latency"},
                                  {"name": "shadow", "type": "drift", "dryRun": True}])
    assert "(gates: latency Inconclusive, shadow Inconclusive); next: gate latency must pass" \
        in event


def test_the_commands_name_the_resource_when_the_pass_knows_it() -> None:
    sim = with_canary(make_spec(progressDeadline="10m",
                                gates=[{"name": "latency", "type": "latency"}]))
    sim.tick(15, verdicts={"latency": INC})
    sim.now += dt.timedelta(minutes=1)
    observed = ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                             gate_outcomes=None, generation=3, name="churn-uplift",
                             namespace="team-a")
    d = decide(sim.spec, sim.status, observed, sim.now)
    assert d.status.phase is Phase.DEGRADED
    assert PROMOTE.format(target="-n team-a churn-uplift") in d.status.message
    assert ABORT.format(target="-n team-a churn-uplift") in d.status.message


def test_a_canary_that_does_not_serve_is_offered_no_promote() -> None:
    sim = with_canary(make_spec(progressDeadline="10m",
                                gates=[{"name": "latency", "type": "latency"}]))
    sim.tick(14, verdicts={"latency": INC})
    # It stops serving a minute before the deadline (a canary with traffic that does not serve
    # for 5 minutes is rolled back: test_ramp_canary_not_serving).
    sim.canary_ready = False
    sim.tick(1, verdicts={"latency": INC})
    stopped, due = sim.now, sim.now + dt.timedelta(minutes=5)
    d = sim.tick(1, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED
    (event,) = [e for e in d.events if e.reason is Reason.PROGRESS_DEADLINE_EXCEEDED]
    assert event.message.endswith(
        f"(canary is not serving since {stopped.isoformat()}; rolled back at {due.isoformat()} "
        f"unless it serves again); next: {ABORT.format(target='NAME')}, or resolve what "
        "refuses a promote now (canary 2 does not serve: a promote would move traffic off "
        "stable 1, which serves, onto it; annotate again once it serves)")
    assert "kubectl uplift promote" not in event.message


def _deadline_message(sim: Sim) -> str:
    (event,) = [e for e in sim.log[-1].events if e.reason is Reason.PROGRESS_DEADLINE_EXCEEDED]
    assert sim.status.phase is Phase.DEGRADED
    return event.message


def test_a_deadline_that_ran_from_a_resume_says_so() -> None:
    """Paused two hours within the step: the deadline ran from the resume, not the pause's end
    (12:05), and the message says from when and why."""
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.tick(1, verdicts={"latency": INC})
    sim.spec = make_spec(progressDeadline="10m", paused=True)
    sim.tick(1, verdicts={"latency": INC})
    sim.spec = make_spec(progressDeadline="10m")
    sim.tick(120)  # resumed at 14:02
    sim.tick(11, verdicts={"latency": INC})
    assert ("could not advance for 10m since 2026-11-28T14:02:00+00:00, when the ramp resumed "
            "(gates: latency Inconclusive)") in _deadline_message(sim)


def test_a_deadline_that_ran_from_the_online_effect_cohorts_says_so() -> None:
    spec = make_spec(progressDeadline="10m", gates=[
        {"name": "effect", "type": "onlineEffect", "margin": 0.01, "marginType": "absolute"}])
    spec = spec.model_copy(update={"experiment": spec.experiment.model_copy(
        update={"attribution_window": "30m"})})
    sim = with_canary(spec)
    sim.tick(41, verdicts={"effect": INC})
    assert ("could not advance for 10m since 2026-11-28T12:30:00+00:00, when the attribution "
            "window (30m) closed on the step's first decisions (gates: effect Inconclusive)"
            ) in _deadline_message(sim)


def test_a_deadline_of_a_step_without_a_pause_runs_from_its_start() -> None:
    sim = with_canary(make_spec(progressDeadline="10m", steps=[(10, None), (50, "5m")],
                                gates=[{"name": "latency", "type": "latency"}]))
    sim.tick(11, verdicts={"latency": INC})
    assert ("could not advance for 10m since 2026-11-28T12:00:00+00:00, when the step started "
            "(gates: latency Inconclusive)") in _deadline_message(sim)
