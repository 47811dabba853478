"""A rolled-back version stays in the graph at weight 0 for ``spec.rollback.scaleDownDelay``
only while its own predictor serves.

Seldon Core 1.17.1 rewrites the routes (Istio VirtualService, Ambassador Mapping weights) and
deletes a removed predictor's Deployment only once every predictor's Deployment is available
(readyReplicas > 0, unavailableReplicas == 0). A rolled-back canary whose pods are down, kept
at weight 0, kept Seldon from ever applying the 100/0 split: the broken canary kept its share of
the traffic for the whole delay. Driven by ``test_ramp.Sim`` (every decision checked for
idempotence)."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

from .test_ramp import Sim, make_spec, with_canary

F, P = GateVerdict.FAIL, GateVerdict.PASS


def _delayed(minutes: int = 10) -> UpliftModelSpec:
    spec = make_spec()
    return spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": f"{minutes}m"})})


def _rolled_back_at_step(sim: Sim) -> None:
    sim.passing(5)  # the canary at its first step, then the next
    assert sim.status.canary_weight > 0


def test_a_rolled_back_canary_whose_pods_are_down_leaves_the_graph_at_once() -> None:
    sim = with_canary(_delayed())
    _rolled_back_at_step(sim)
    sim.ready_versions = frozenset({"1"})  # the canary's pods crash: only the stable serves
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.aborted_version == "2" and d.status.canary_version is None
    assert d.traffic == TrafficSplit("1", None, 0)
    # Gone from the graph, it has no pods that could serve: it stays out for the delay.
    assert sim.tick(1).traffic == TrafficSplit("1", None, 0)


def test_a_rolled_back_canary_that_serves_is_kept_until_it_stops_serving() -> None:
    sim = with_canary(_delayed())
    _rolled_back_at_step(sim)
    sim.ready_versions = frozenset({"1", "2"})  # failed a gate, its pods are fine
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(2).traffic == TrafficSplit("1", "2", 0)
    sim.ready_versions = frozenset({"1"})  # its pods go down during the delay
    assert sim.tick(1).traffic == TrafficSplit("1", None, 0)


def test_with_only_the_two_flags_known_a_graph_not_serving_drops_the_kept_version() -> None:
    sim = with_canary(_delayed())
    _rolled_back_at_step(sim)
    sim.canary_ready = False  # the graph is not Available
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.aborted_version == "2"
    assert d.traffic == TrafficSplit("1", None, 0)


def test_an_aborted_canary_that_does_not_serve_is_removed_at_once() -> None:
    sim = with_canary(_delayed())
    sim.ready_versions = frozenset({"1"})
    sim.request(ramp.ABORT_ANNOTATION, "now")
    d = sim.tick(0.5)
    assert d.status.aborted_version == "2"
    assert d.traffic == TrafficSplit("1", None, 0)


def test_an_emergency_rollback_drops_the_replaced_version_once_restored_if_it_is_down() -> None:
    """The replaced version keeps the traffic until the restored one serves (nothing else
    would); from ``StableRestored`` on it is kept at weight 0 only while it serves."""
    sim = with_canary(_delayed())
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset()  # version 2 is down: that is why it is rolled back
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    assert d.traffic == TrafficSplit("1", "2", 100)
    sim.ready_versions = frozenset({"1"})  # the restored version serves, 2 still down
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.traffic == TrafficSplit("1", None, 0)


def test_an_emergency_rollback_keeps_a_replaced_version_that_serves_for_the_delay() -> None:
    sim = with_canary(_delayed())
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    sim.tick(1)
    sim.ready_versions = frozenset({"1", "2"})
    assert sim.tick(0.5).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(5).traffic == TrafficSplit("1", "2", 0)
    sim.now += dt.timedelta(minutes=5)
    assert sim.tick().traffic == TrafficSplit("1", None, 0)  # the delay is over


def _partial_canary() -> Sim:
    sim = Sim(_delayed(30))
    sim.now -= dt.timedelta(seconds=6)
    sim.tick()
    sim.desired = "2"
    sim.tick()
    sim.tick(0.1)
    sim.passing(5)
    assert sim.status.canary_weight > 0
    return sim


def test_a_rolled_back_canary_with_one_pod_down_leaves_the_graph_at_once() -> None:
    """One of the canary's three pods crash-loops: its predictor still serves on the other two,
    but its Deployment is not whole, and Seldon moves no route until it is. Kept at weight 0,
    the canary kept its share of the traffic for the whole delay (30 minutes here) while the
    status said stable 1 serves all of it."""
    sim = _partial_canary()
    sim.ready_versions = frozenset({"1", "2"})
    sim.partial = frozenset({"2"})
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.aborted_version == "2" and d.status.canary_version is None
    assert d.traffic == TrafficSplit("1", None, 0)
    # Out of the graph, its predictor is no longer read as serving: it is not put back.
    sim.ready_versions, sim.partial = frozenset({"1"}), frozenset()
    assert sim.tick(1).traffic == TrafficSplit("1", None, 0)


def test_a_kept_canary_whose_pod_goes_down_during_the_delay_leaves_then() -> None:
    sim = _partial_canary()
    sim.ready_versions = frozenset({"1", "2"})
    assert sim.tick(1, verdicts={"latency": F, "shadow": P}).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(5).traffic == TrafficSplit("1", "2", 0)
    sim.partial = frozenset({"2"})
    assert sim.tick(1).traffic == TrafficSplit("1", None, 0)


def test_a_stable_short_of_pods_does_not_drop_a_whole_kept_canary() -> None:
    """Only the kept version's own Deployment counts: the stable's holds the routes whatever
    is done with the canary."""
    sim = _partial_canary()
    sim.ready_versions = frozenset({"1", "2"})
    sim.partial = frozenset({"1"})
    assert sim.tick(1, verdicts={"latency": F, "shadow": P}).traffic == TrafficSplit("1", "2", 0)


def test_an_emergency_rollbacks_delay_counts_from_stable_restored_not_from_the_rollback(
        ) -> None:
    """The replaced version keeps the traffic until the restored one serves; the delay it is
    then kept at weight 0 runs from ``StableRestored`` (docs/lifecycle.md). Counted from the
    rollback, a restore of 8 minutes left 2 of a 10-minute delay, one of 10 minutes none."""
    sim = with_canary(_delayed(10))
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    assert sim.tick(1).traffic == TrafficSplit("1", "2", 100)
    assert sim.tick(7).traffic == TrafficSplit("1", "2", 100)  # 1's pods still starting
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(1)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.traffic == TrafficSplit("1", "2", 0)
    assert d.requeue_after == dt.timedelta(minutes=10)
    assert sim.tick(9.5).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(0.5).traffic == TrafficSplit("1", None, 0)
