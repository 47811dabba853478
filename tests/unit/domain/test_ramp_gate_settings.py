"""A gate whose settings are edited mid-step (an on-call engineer tightens it): its Pass under
the old settings no longer ends the step; the gate must pass again as it is set now."""

from __future__ import annotations

from typing import Any

from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason

from .test_ramp import P, make_spec, with_canary


def _custom(max_: float) -> list[dict[str, Any]]:
    return [{"name": "probe", "type": "custom", "query": "probe_value", "max": max_}]


def test_a_gate_tightened_mid_step_does_not_promote_on_its_old_pass() -> None:
    sim = with_canary(make_spec(steps=((10, "5m"),), gates=_custom(1.0)))
    sim.passing(1)
    assert sim.status.gates[0].verdict is P
    sim.spec = make_spec(steps=((10, "5m"),), gates=_custom(0.1))
    d = sim.tick(4.5)  # the step's pause has run out, its next analysis not due yet
    assert d.status.canary_version == "2" and Reason.PROMOTED not in sim.reasons()
    assert "waiting" in d.status.message
    d = sim.passing(1)  # passed as it is set now
    assert d.status.stable_version == "2" and Reason.PROMOTED in sim.reasons()


def test_an_offline_gate_edited_since_it_passed_is_measured_again_on_the_ramp() -> None:
    gates: list[dict[str, Any]] = [{"name": "qini", "type": "qini", "min": 0.0},
                                   {"name": "lat", "type": "latency"}]
    sim = with_canary(make_spec(gates=gates))
    d = sim.tick(0.1, verdicts={"qini": P})
    assert d.status.canary_weight == 10
    assert [g.name for g in ramp.gates_to_measure(sim.spec, d.status)] == ["lat"]
    edited = make_spec(gates=[{**gates[0], "min": 0.05}, gates[1]])
    assert [g.name for g in ramp.gates_to_measure(edited, d.status)] == ["qini", "lat"]
