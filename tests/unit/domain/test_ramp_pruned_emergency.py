"""An emergency rollback of the stable under a CRD older than ``emergencyRolledBackVersion``:
the API server prunes the field from every status write (docs/install.md "Upgrading the CRDs"),
so each pass reads the status without it. Driven by ``test_ramp.Sim`` with the field dropped
after every pass, as that API server would."""

from __future__ import annotations

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import canary, ramp
from uplift_operator.domain.ramp import Decision, Reason, TrafficSplit

from .test_ramp import Sim, with_canary


def _pruned(status: UpliftModelStatus) -> UpliftModelStatus:
    """What an API server whose CRD lacks the field keeps of a status write."""
    return status.model_copy(update={"emergency_rolled_back_version": None})


def _tick_pruned(sim: Sim, minutes: float = 1) -> Decision:
    decision = sim.tick(minutes)
    sim.status = _pruned(decision.status)
    return decision


def _emergency_rolled_back() -> Sim:
    """Version 2 promoted over 1, then rolled back by an emergency rollback; the spec still
    names 2. Every status from here on is pruned."""
    sim = with_canary(None)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    d = _tick_pruned(sim)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert d.traffic == TrafficSplit("1", "2", 100)
    assert sim.status.emergency_rolled_back_version is None
    return sim


def test_a_pruned_emergency_rollback_keeps_the_replaced_stable_out_of_traffic() -> None:
    """The defect: the next pass saw no rolled-back version, so the spec's version 2 started
    again as a canary (CanaryStarted, then TrafficStarted at 10 %), and the traffic went to 1
    before its predictor was created again."""
    sim = _emergency_rolled_back()
    d = _tick_pruned(sim)
    assert d.status.canary_version is None and d.events == ()
    assert d.traffic == TrafficSplit("1", "2", 100)  # 2 serves until 1 does, as unpruned
    sim.ready_versions = frozenset({"1", "2"})
    d = _tick_pruned(sim)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.traffic is not None and d.traffic.canary_weight == 0
    assert d.status.canary_version is None
    for _ in range(30):
        d = _tick_pruned(sim)
        assert d.status.canary_version is None and d.traffic is not None
        assert d.traffic.canary_weight == 0
        assert not {e.reason for e in d.events} & {Reason.CANARY_STARTED, Reason.TRAFFIC_STARTED}


def test_a_retry_or_a_new_version_still_starts_a_canary_and_ends_the_reading_back() -> None:
    sim = _emergency_rolled_back()
    sim.ready_versions = frozenset({"1", "2"})
    _tick_pruned(sim)
    sim.request(ramp.RETRY_ANNOTATION, "again")
    d = _tick_pruned(sim)
    assert d.status.canary_version == "2"  # a retry is a new attempt, as unpruned
    assert canary.read_pruned_emergency(d.status) is d.status

    sim = _emergency_rolled_back()
    sim.ready_versions = frozenset({"1", "2"})
    _tick_pruned(sim)  # restored: a new version waits for that, as unpruned
    sim.desired = "3"
    d = _tick_pruned(sim)
    assert d.status.canary_version == "3"
    # Once a canary started, the emergency entry is no longer the model's last: nothing is
    # read back, even with the canary gone again (its spec back at the stable).
    sim.desired = "1"
    d = _tick_pruned(sim)
    assert d.status.canary_version is None
    assert canary.read_pruned_emergency(d.status) is d.status


def test_an_unpruned_status_reads_as_it_is() -> None:
    sim = with_canary(None)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    status = sim.tick(1).status
    assert canary.read_pruned_emergency(status) is status
    # A canary rolled back (no emergency restore on record): nothing to read back.
    rolled = with_canary(None)
    rolled.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "canary")
    status = rolled.tick(1).status
    assert status.aborted_version == "2"
    assert canary.read_pruned_emergency(status) is status
