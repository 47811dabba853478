"""The history keeps its last ``HISTORY_LIMIT`` entries, but what the ramp reads back from it
(the last rollback, an emergency rollback still restoring its stable) is never pushed out by
routine entries: ignored requests and budget renewals are dropped first."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.common import DecisionRecord
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import HISTORY_LIMIT, Reason, TrafficSplit
from uplift_operator.domain.steps import trimmed_history

from .test_ramp import T0
from .test_ramp_rollback_records import _promoted


def test_ignored_requests_during_a_restore_never_move_traffic_to_a_stable_that_does_not_serve(
        ) -> None:
    """An emergency rollback of stable 2 restores 1; 2 keeps the traffic until 1 serves. The
    wait was read from the EmergencyRollback history entry, so requests ignored meanwhile (an
    abort with no canary, again and again) pushed it out and the traffic went to 1 before it
    served."""
    sim = _promoted()
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    d = sim.tick(1)
    assert d.traffic == TrafficSplit("1", "2", 100)
    for n in range(HISTORY_LIMIT + 5):
        sim.request(ramp.ABORT_ANNOTATION, f"again-{n}")
        d = sim.tick(1)
        assert d.traffic == TrafficSplit("1", "2", 100), n  # 1 does not serve yet
    history = d.status.history
    assert len(history) == HISTORY_LIMIT
    assert any(e.action == Reason.EMERGENCY_ROLLBACK.value for e in history)
    assert history[-1].action == Reason.REQUEST_IGNORED.value  # the newest routine ones kept
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(1)
    assert sim.reasons() == [Reason.STABLE_RESTORED]


def test_unrecognised_requests_during_a_restore_never_move_traffic_to_a_stable_that_does_not_serve(
        ) -> None:
    """As above, with request values that ask for nothing (a script writing
    ``uplift.dev/promote=<timestamp>``): each distinct value is refused and recorded as
    ``UnrecognisedRequest``, which was not routine, so the twentieth pushed the
    EmergencyRollback entry out and all the traffic went to 1, which does not serve."""
    sim = _promoted()
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    d = sim.tick(1)
    assert d.traffic == TrafficSplit("1", "2", 100)
    for n in range(HISTORY_LIMIT + 5):
        sim.request(ramp.PROMOTE_ANNOTATION, f"{1700000000 + n}")
        d = sim.tick(0.1)  # well within the restore's deadline
        assert sim.reasons() == [Reason.UNRECOGNISED_REQUEST], n
        assert d.traffic == TrafficSplit("1", "2", 100), n  # 1 does not serve yet
    history = d.status.history
    assert len(history) == HISTORY_LIMIT
    assert any(e.action == Reason.EMERGENCY_ROLLBACK.value for e in history)
    assert history[-1].action == Reason.UNRECOGNISED_REQUEST.value
    sim.ready_versions = frozenset({"1", "2"})
    sim.tick(1)
    assert sim.reasons() == [Reason.STABLE_RESTORED]



def test_a_routine_entry_arriving_at_a_history_of_decisions_is_the_one_dropped() -> None:
    """Twenty decisions on record: an ignored request's entry does not push out the oldest
    decision (which may be what the ramp reads back); its event says it."""
    def entry(action: Reason, minute: int) -> DecisionRecord:
        return DecisionRecord.model_validate({
            "time": T0 + dt.timedelta(minutes=minute), "action": action.value, "version": "2",
            "reason": f"r{minute}"})

    decisions = [entry(Reason.EMERGENCY_ROLLBACK if m == 0 else Reason.PAUSED, m)
                 for m in range(HISTORY_LIMIT)]
    assert trimmed_history([*decisions, entry(Reason.REQUEST_IGNORED, 99)]) == decisions
    # With a routine entry on record, the oldest routine one goes and the newest is kept.
    older = [entry(Reason.BUDGET_RENEWED, 0), *decisions[1:]]
    kept = trimmed_history([*older, entry(Reason.REQUEST_IGNORED, 99)])
    assert kept == [*decisions[1:], entry(Reason.REQUEST_IGNORED, 99)]
    # A decision arriving pushes out the oldest entry, whatever it is.
    assert trimmed_history([*decisions, entry(Reason.PAUSED, 99)]) == [
        *decisions[1:], entry(Reason.PAUSED, 99)]
