"""An emergency rollback's restore: the replaced stable keeps the traffic until the restored
version serves, whatever else arrives meanwhile (a second rollback, an abort, a new version, a
retry). Driven by ``test_ramp.Sim``, so every decision is checked for idempotence too."""

from __future__ import annotations

import pytest

from uplift_operator.api.v1alpha1.common import DecisionRecord
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

from .test_ramp import Sim, with_canary


def restoring() -> Sim:
    """Version 2 promoted over 1 (whose predictor left), then rolled back in an emergency while
    1's pods start again: 2 keeps all the traffic."""
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "t1")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert d.traffic == TrafficSplit("1", "2", 100)
    # What serves, said as it is: 2 keeps the traffic until 1 serves again.
    assert "version 2 keeps the traffic until it serves" in d.status.message
    assert "stable 1 serves" not in d.status.message
    return sim


@pytest.mark.parametrize("key", [ramp.EMERGENCY_ROLLBACK_ANNOTATION, ramp.ABORT_ANNOTATION])
def test_a_request_ignored_during_a_restore_leaves_the_replaced_version_serving(key: str) -> None:
    sim = restoring()
    sim.request(key, "t2")
    d = sim.tick(0.5)
    assert [(e.type, "ignored" in e.message) for e in d.events] == [("Warning", True)]
    assert d.traffic == TrafficSplit("1", "2", 100)
    entry = d.status.history[-1]
    assert (entry.action, entry.version) == ("RequestIgnored", None)
    assert "emergency rollback requested" not in d.status.message
    assert "ignored" not in d.status.message  # the rollback's own reason, not the request's
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.traffic == TrafficSplit("1", None, 0)  # no scaleDownDelay


def test_an_ignored_request_an_older_operator_recorded_as_a_rollback_is_none() -> None:
    sim = restoring()
    legacy = DecisionRecord.model_validate({
        "time": sim.now, "action": "ManualAbort", "version": None,
        "reason": "ignored: no canary to abort", "actor": "annotation uplift.dev/abort=t2"})
    sim.status = sim.status.model_copy(update={"history": [*sim.status.history, legacy]})
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100)


def test_a_new_version_during_a_restore_waits_for_the_restored_version_to_serve() -> None:
    sim = restoring()
    sim.desired = "3"
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100)
    assert d.status.canary_version is None
    assert d.status.emergency_rolled_back_version == "2"
    assert [(e.type, e.reason) for e in d.events] == [("Normal", Reason.CANARY_HELD)]
    assert d.status.message.startswith("version 3 waits to start as a canary")
    assert sim.tick(0.5).events == ()  # said once
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED, Reason.CANARY_STARTED]
    assert d.traffic == TrafficSplit("1", "3", 0)


def test_a_retry_during_a_restore_is_ignored_and_the_replaced_version_keeps_serving() -> None:
    sim = restoring()
    sim.request(ramp.RETRY_ANNOTATION, "now")
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100) and d.status.canary_version is None
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.RETRY)]
    assert "annotate again once it serves" in d.events[0].message
    assert d.status.history[-1].action == "RequestIgnored"
    sim.ready_versions = frozenset({"1", "2"})
    sim.tick(0.5)
    sim.request(ramp.RETRY_ANNOTATION, "again")
    d = sim.tick(0.5)
    assert d.status.canary_version == "2" and sim.reasons() == [Reason.RETRY]
