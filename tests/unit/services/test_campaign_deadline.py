"""A Campaign step past its ``progressDeadline`` tells on-call what to do: the gates that must
pass and the ``kubectl uplift`` commands (and annotations) to promote or abort this Campaign."""

from __future__ import annotations

from tests.unit.services.test_campaign import Sim


def test_a_campaign_past_its_deadline_names_its_gates_and_its_commands() -> None:
    sim = Sim()
    for gate in sim.body["spec"]["exposure"]["gates"]:
        gate["dryRun"] = gate["type"] in ("incrementalConversions", "roi", "drift")
    sim.tick()
    sim.tick(5)
    result = sim.tick(26 * 60)  # the 1h pause and a day: the delivery gate never passed
    s = sim.status
    assert s["phase"] == "Degraded" and s["exposurePercent"] == 5
    (event,) = [e for e in result.events if e.reason == "ProgressDeadlineExceeded"]
    advice = ("next: gate delivery must pass at this step, or promote if the evidence suffices "
              "(`kubectl uplift promote campaign/spring-email`, or annotate "
              "uplift.dev/promote=step:<token>; `--full` or full:<token> completes the ramp), or "
              "abort (`kubectl uplift abort campaign/spring-email`, or annotate "
              "uplift.dev/abort=<token>: exposure goes to 0%); runbook "
              "UpliftProgressDeadlineExceeded")
    assert event.type == "Warning" and event.message.endswith(advice)
    assert event.message.startswith("exposure 5% at step 1/3 could not advance for 1d past its "
                                    "pause (gates: delivery Inconclusive, incremental ")
    assert s["history"][-1]["reason"] == event.message
    assert s["message"].startswith("ProgressDeadlineExceeded: ") and advice in s["message"]
