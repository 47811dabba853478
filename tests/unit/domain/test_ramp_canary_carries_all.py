"""A canary at 100 % whose own predictor serves carries every request: a stable that stops
serving then (its pods evicted, its node drained) takes no request down. Before, the model went
Degraded with a ``StableNotServing`` Warning, and the last step was held for good waiting for
the serving graph to be ready (the stable's pods), though the promotion changes no route."""

from __future__ import annotations

from tests.unit.domain.test_ramp import Sim, make_spec, ready, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain.ramp import Reason, TrafficSplit

GATES = [{"name": "lat", "type": "latency", "max": 0.5}]


def _at_one_hundred() -> Sim:
    sim = with_canary(make_spec(steps=((50, "5m"), (100, "10m")), gates=GATES))
    sim.passing(5)
    sim.passing(1)
    assert (sim.status.current_step, sim.status.canary_weight) == (1, 100)
    return sim


def test_a_stable_down_under_a_canary_at_all_the_traffic_does_not_degrade_the_model() -> None:
    sim = _at_one_hundred()
    sim.stable_ready, sim.canary_ready = False, False  # the graph is not ready: 1's pods gone
    sim.ready_versions = frozenset({"2"})
    d = sim.passing(2)
    assert d.status.phase is Phase.PROGRESSING
    assert Reason.STABLE_NOT_SERVING not in sim.reasons()
    assert "does not serve any more" not in d.status.message
    assert "the serving graph is not ready" not in d.status.message
    assert ready(d.status) == ("False", "WaitingForServing")  # the stable does not serve


def test_the_last_step_completes_while_the_stable_carrying_nothing_is_down() -> None:
    sim = _at_one_hundred()
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    for _ in range(5):
        d = sim.passing(2)
    s = d.status
    assert (s.stable_version, s.canary_version, s.previous_stable_version) == ("2", None, "1")
    assert d.traffic == TrafficSplit("2", None, 0)
    assert Reason.PROMOTED in sim.reasons()


def test_a_stable_down_under_a_canary_below_all_the_traffic_still_degrades_the_model() -> None:
    sim = with_canary(make_spec(steps=((50, "5m"), (100, "10m")), gates=GATES))
    sim.passing(1)
    assert sim.status.canary_weight == 50
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    d = sim.passing(2)
    assert d.status.phase is Phase.DEGRADED and Reason.STABLE_NOT_SERVING in sim.reasons()
