"""A step past its ``progressDeadline`` says what on-call can do (``StepPass.deadline_next_step``):
which gates must pass, and the commands the project documents to promote or abort — in the
Warning event, the history entry and the phase message, for both kinds."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import INC, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, decide

PROMOTE = ("promote if the evidence suffices (`kubectl uplift promote {target}`, or annotate "
           "uplift.dev/promote=step:<token>; `--full` or full:<token> completes the ramp)")
ABORT = ("abort (`kubectl uplift abort {target}`, or annotate uplift.dev/abort=<token>: the "
         "canary's traffic goes back to stable)")


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
    target = "<name>"  # the pass was not told the resource's name
    expected = (f"(gates: latency Inconclusive); next: this gate must pass at this step, or "
                f"{PROMOTE.format(target=target)}, or {ABORT.format(target=target)}; runbook "
                "UpliftProgressDeadlineExceeded")
    assert event.startswith("canary 2 at step 1/3 (10%) could not advance for 10m past its pause ")
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
                             gate_outcomes=None, generation=3, name="churn-uplift")
    d = decide(sim.spec, sim.status, observed, sim.now)
    assert d.status.phase is Phase.DEGRADED
    assert PROMOTE.format(target="churn-uplift") in d.status.message
    assert ABORT.format(target="churn-uplift") in d.status.message


def test_a_canary_that_does_not_serve_is_offered_no_promote() -> None:
    sim = with_canary(make_spec(progressDeadline="10m",
                                gates=[{"name": "latency", "type": "latency"}]))
    sim.canary_ready = False
    sim.tick(15, verdicts={"latency": INC})
    d = sim.tick(1, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED
    (event,) = [e for e in d.events if e.reason is Reason.PROGRESS_DEADLINE_EXCEEDED]
    assert event.message.endswith(
        f"(canary is not serving); next: {ABORT.format(target='<name>')}, or resolve what "
        "refuses a promote now (canary 2 does not serve: a promote would move traffic off "
        "stable 1, which serves, onto it; annotate again once it serves)")
    assert "kubectl uplift promote" not in event.message
