"""A Campaign step past its ``progressDeadline`` tells on-call what to do: the gates that must
pass and the ``kubectl uplift`` commands (and annotations) to promote or abort this Campaign."""

from __future__ import annotations

from tests.unit.services.test_campaign import NS, Sim


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
              f"(`kubectl uplift promote -n {NS} campaign/spring-email`, or annotate --overwrite "
              "uplift.dev/promote=step:$(date +%s); `--full` or full:$(date +%s) completes the "
              f"ramp), or abort (`kubectl uplift abort -n {NS} campaign/spring-email`, or "
              "annotate --overwrite uplift.dev/abort=$(date +%s): exposure goes to 0%); runbook "
              "UpliftProgressDeadlineExceeded")
    assert event.type == "Warning" and event.message.endswith(advice)
    assert event.message.startswith(
        "exposure 5% at step 1/3 could not advance for 1d since 2026-12-01T13:00:00+00:00, when "
        "the step's pause ended (gates: delivery Inconclusive, incremental ")
    assert s["history"][-1]["reason"] == event.message
    assert s["message"].startswith("ProgressDeadlineExceeded: ") and advice in s["message"]


def test_a_deadline_that_ran_from_the_first_cohorts_close_says_so() -> None:
    """The sample (pause 1h, deadline 1d, window 14d): the deadline runs from the first cohort's
    close on 2026-12-15, not from the pause's end on 2026-12-01; the message said "for 1d past
    its pause" on 2026-12-16, fifteen days after that pause ended."""
    sim = Sim()
    sim.tick()
    sim.tick(5)
    started = sim.status["rampStartedAt"]
    assert started == "2026-12-01T12:00:00Z"
    sim.tick(14 * 24 * 60 + 24 * 60 + 10)  # past the window's close + 1d
    (event,) = [e for e in sim.results[-1].events if e.reason == "ProgressDeadlineExceeded"]
    assert sim.status["phase"] == "Degraded"
    assert event.message.startswith(
        "exposure 5% at step 1/3 could not advance for 1d since 2026-12-15T12:00:00+00:00, when "
        "its first cohort's attribution window (14d) closed (gates: ")
