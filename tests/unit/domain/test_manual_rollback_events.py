"""A failing gate under ``rollback.mode: Manual``: the canary is held at its step until a human
decides (abort or promote), and the Fail is said once per row of Fails, not at every analysis.
Before, a day of a held Fail analysed every 10 minutes was 145 Warning ``GateFailed`` events,
each counted in ``uplift_operator_decisions_total``. What the ramp decides is unchanged: only
the events."""

from __future__ import annotations

from collections import Counter

from tests.unit.domain.test_ramp import F, P, Sim, make_spec, ready, with_canary

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
