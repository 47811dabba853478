"""A failing gate under ``rollback.mode: Manual``: the canary is held at its step until a human
decides (abort or promote), and the Fail is said once per row of Fails, not at every analysis.
Before, a day of a held Fail analysed every 10 minutes was 145 Warning ``GateFailed`` events,
each counted in ``uplift_operator_decisions_total``. What the ramp decides is unchanged: only
the events."""

from __future__ import annotations

from collections import Counter

from tests.unit.domain.test_ramp import E, F, P, Sim, make_spec, ready, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain.ramp import TrafficSplit
from uplift_operator.domain.steps import Event, Reason


def gate_failed(sim: Sim) -> list[Event]:
    return [e for d in sim.log for e in d.events if e.reason is Reason.GATE_FAILED]


def test_a_day_of_a_pending_manual_rollback_says_gate_failed_once() -> None:
    sim = with_canary(make_spec(gates=[{"name": "incremental", "type": "latency"}],
                                rollback="Manual", progressDeadline="30m"))
    d = sim.tick(1, verdicts={"incremental": F})
    assert d.status.phase is Phase.PAUSED and ready(d.status) == ("False", "RollbackPending")
    for _ in range(6 * 24):  # a day of analyses, every 10 minutes, the gate still failing
        d = sim.tick(10, verdicts={"incremental": F})
        # The decision is as before: held at its step and weight, the rollback pending.
        assert d.status.phase is Phase.PAUSED and d.traffic == TrafficSplit("1", "2", 10)
        assert ready(d.status) == ("False", "RollbackPending")
    assert d.status.gates[0].failures == 145  # still counted: the evidence is the same
    said = gate_failed(sim)
    assert [(e.type, e.decision) for e in said] == [("Warning", True)]
    assert said[0].message.startswith("gate incremental failed (1 failure, failureLimit 0 "
                                      "exceeded)")
    counts = Counter(e.reason for dd in sim.log for e in dd.events)
    assert counts[Reason.PAUSED] == 1 and counts[Reason.ROLLED_BACK] == 0


def test_a_new_row_of_fails_while_pending_is_said_but_decides_nothing() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual"))
    sim.tick(1, verdicts={"lat": F})
    sim.tick(1, verdicts={"lat": F})
    assert len(gate_failed(sim)) == 1
    d = sim.tick(1, verdicts={"lat": P})  # the rollback stays pending: the Fail is counted
    assert d.status.phase is Phase.PAUSED
    sim.tick(1, verdicts={"lat": F})
    said = gate_failed(sim)
    assert [e.decision for e in said] == [True, False]
    assert "(3 failures, failureLimit 0 exceeded)" in said[-1].message
    sim.tick(1, verdicts={"lat": F})
    assert len(gate_failed(sim)) == 2


def test_each_fail_towards_a_failure_limit_is_said_up_to_the_one_past_it() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 2}],
                                rollback="Manual"))
    for _ in range(6):
        d = sim.tick(1, verdicts={"lat": F})
    assert d.status.phase is Phase.PAUSED and d.status.canary_version == "2"
    said = gate_failed(sim)
    assert [e.message.split(":")[0] for e in said] == [
        "gate lat failed (1 failure, within failureLimit 2)",
        "gate lat failed (2 failures, within failureLimit 2)",
        "gate lat failed (3 failures, failureLimit 2 exceeded)"]
    assert all(e.decision for e in said)


def test_an_automatic_rollback_still_says_its_fails_as_before() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 1}]))
    sim.tick(1, verdicts={"lat": F})
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert [(e.decision, e.message.split(":")[0]) for e in gate_failed(sim)] == [
        (True, "gate lat failed (1 failure, within failureLimit 1)"),
        (True, "gate lat failed (2 failures, failureLimit 1 exceeded)")]


def test_a_pending_rollback_quotes_the_fail_that_tripped_it_and_no_pass_is_announced() -> None:
    """Later analyses that Pass leave the step paused (its failure count only grows): the phase
    message and Ready keep the evidence of the Fail that tripped the pause, recorded once as a
    ``Paused`` history entry, not "gate lat Pass: … — lat said Pass"; and no ``AnalysisPassed``
    is said of a step that does not move."""
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual"))
    d = sim.tick(1, verdicts={"lat": F})
    tripped = ("gate lat Fail: no value (1 failure, failureLimit 0 exceeded) — lat said Fail; "
               "rollback.mode is Manual: roll back or go on with `kubectl uplift abort NAME` or "
               "`kubectl uplift promote NAME` (or annotate --overwrite "
               "uplift.dev/abort=$(date +%s) or uplift.dev/promote=step:$(date +%s))")
    assert d.status.message == f"canary 2 at step 1/3 (10%) paused: {tripped}"
    paused = [e for e in d.status.history if e.action == "Paused"]
    assert [(e.version, e.weight, e.reason) for e in paused] == [
        ("2", 10, "gate lat Fail: no value (1 failure, failureLimit 0 exceeded) — lat said Fail")]
    for _ in range(3):
        d = sim.tick(1, verdicts={"lat": P})
        assert d.status.phase is Phase.PAUSED and ready(d.status) == ("False", "RollbackPending")
        assert d.status.message == f"canary 2 at step 1/3 (10%) paused: {tripped}"
        assert Reason.ANALYSIS_PASSED not in sim.reasons()
    d = sim.tick(1, verdicts={"lat": F})  # a new row of Fails: still the first trip's words
    assert d.status.message == f"canary 2 at step 1/3 (10%) paused: {tripped}"
    assert sum(e.action == "Paused" for e in d.status.history) == 1
    # Promoted by hand, the next step's gates pass and say so.
    sim.request("uplift.dev/promote", "step:t1")
    d = sim.tick(1)
    assert d.status.current_step == 1 and d.status.phase is Phase.PROGRESSING
    d = sim.tick(1, verdicts={"lat": P})
    assert sim.reasons() == [Reason.ANALYSIS_PASSED]


def test_a_pending_rollback_tripped_by_errors_keeps_their_words() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "consecutiveErrorLimit": 1}], rollback="Manual"))
    sim.tick(1, verdicts={"lat": E})
    d = sim.tick(1, verdicts={"lat": E})
    assert d.status.phase is Phase.PAUSED
    words = "gate lat Error: no value (2 errors in a row, consecutiveErrorLimit 1 exceeded)"
    assert words in d.status.message
    d = sim.tick(1, verdicts={"lat": E})
    assert words in d.status.message and "3 errors" not in d.status.message
    # The streak broken, the hold ends; a new streak trips a new pause, said in its own words.
    d = sim.tick(1, verdicts={"lat": P})
    assert d.status.phase is Phase.PROGRESSING
    sim.tick(1, verdicts={"lat": E})
    d = sim.tick(1, verdicts={"lat": E})
    assert d.status.phase is Phase.PAUSED and words in d.status.message
    assert [e.time for e in d.status.history if e.action == "Paused"][-1] == sim.now
    assert sum(e.action == "Paused" for e in d.status.history) == 2
    assert sim.reasons() == [Reason.PAUSED]


def test_a_pending_rollback_whose_entry_is_gone_is_recorded_once_again() -> None:
    """Its ``Paused`` entry left the bounded history (or an operator before it paused the
    step), and the gate said Pass since: the pause is recorded again once, and found by the
    passes after it, not recorded at every pass (``Sim`` checks each pass is idempotent)."""
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual"))
    sim.tick(1, verdicts={"lat": F})
    sim.tick(1, verdicts={"lat": P})
    sim.status = sim.status.model_copy(update={
        "history": [e for e in sim.status.history if e.action != "Paused"]})
    for _ in range(3):
        d = sim.tick(1)
        assert d.status.phase is Phase.PAUSED
        assert sum(e.action == "Paused" for e in d.status.history) == 1
    d = sim.tick(1, verdicts={"lat": P})
    assert sum(e.action == "Paused" for e in d.status.history) == 1
