"""A pass whose status write was lost after its apply went through (its replica SIGKILLed in
between): the next pass decides on the very body it decided on, and finds the serving graph a
step ahead of the status, stamped on that body (``Observed.decided_here``). That advance is
its own decision again: it is not stepped back over (CI's failover test saw canary 100 →
stable 10/canary 90 → canary 100, one Promoted), while a refused apply, a graph stamped on an
older body (a hand edit, another controller's revert) and the evidence of the pass itself (a
gate at Error, a rollback) still hold or act as before."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.domain.test_ramp import (
    INC,
    REFUSED,
    E,
    F,
    P,
    Sim,
    assert_idempotent,
    make_spec,
    outcome,
    with_canary,
)

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Decision, Observed, Reason, TrafficSplit, decide

HOLDS = "the serving graph does not carry this step's split"


def on_last_step() -> Sim:
    """Stable 1, canary 2 at its last step (90 %), its pause elapsed at the next analysis."""
    sim = with_canary(make_spec(steps=[(10, "5m"), (90, "5m")]))
    sim.passing(1)
    d = sim.passing(4)
    assert (d.status.current_step, d.traffic) == (1, TrafficSplit("1", "2", 90))
    return sim


def successor(sim: Sim, decided_here: frozenset[tuple[str, int]], *,
              verdict: GateVerdict | None = P, minutes: float = 6,
              split_refused: str | None = None, canary_ready: bool = True,
              **observed: Any) -> Decision:
    """The pass of the replica that took over, on the status the killed one decided on."""
    now = sim.now + dt.timedelta(minutes=minutes)
    outcomes = (None if verdict is None
                else [outcome(g.name, verdict, now) for g in sim.spec.rollout.gates])
    seen = Observed(desired_version="2", stable_ready=True, canary_ready=canary_ready,
                    gate_outcomes=outcomes, requests=ramp.parse_requests({}), generation=3,
                    split_as_status=False, split_refused=split_refused,
                    decided_here=decided_here, **observed)
    decision = decide(sim.spec, sim.status, seen, now)
    assert_idempotent(sim.spec, decision, seen, now)
    return decision


PROMOTED = frozenset({("2", 100)})  # the graph of the promotion: canary 2 alone


def test_a_last_step_found_at_its_promotion_promotes_or_holds_by_the_graph_stamp() -> None:
    """(a) The graph at the promotion, stamped on this very body, passing gates: promoted, and
    the 10/90 split not applied again. (b) The same graph stamped on an older body (a hand
    edit or a revert by another controller: ``decided_here`` empty) holds as before, 10/90
    applied again. (c) A refused apply on record holds as before, whatever the stamp."""
    rows: list[tuple[str, frozenset[tuple[str, int]], str | None, bool]] = [
        ("decided on this body", PROMOTED, None, True),
        ("stamped on an older body", frozenset(), None, False),
        ("refused apply on record", PROMOTED, REFUSED, False),
    ]
    for what, decided_here, refused, promotes in rows:
        sim = on_last_step()
        d = successor(sim, decided_here, split_refused=refused)
        reasons = [e.reason for e in d.events]
        if promotes:
            assert d.status.stable_version == "2" and d.status.canary_version is None, what
            assert d.traffic == TrafficSplit("2", None, 0) and Reason.PROMOTED in reasons, what
            assert HOLDS not in d.status.message, what
            assert d.status.history[-1].reason.startswith("all steps passed"), what
        else:
            assert d.status.stable_version == "1" and d.status.canary_version == "2", what
            assert d.traffic == TrafficSplit("1", "2", 90), what
            assert Reason.PROMOTED not in reasons and HOLDS in d.status.message, what


def test_a_lost_promotion_over_a_pass_that_holds_is_made_unless_its_evidence_is_against_it(
        ) -> None:
    rows: list[tuple[GateVerdict | None, dict[str, Any], bool]] = [
        # Its own analysis not due, or inconclusive: the lost advance is made all the same.
        (None, {}, True),
        (INC, {}, True),
        # Seldon still reconciling the killed pass's apply: the canary's own predictor serves.
        (P, {"canary_ready": False, "ready_versions": frozenset({"1", "2"})}, True),
        # Its own evidence against it: 90/10 applied again, the safe way.
        (E, {}, False),
        (P, {"canary_ready": False, "ready_versions": frozenset({"1"})}, False),
        (P, {"canary_ready": False, "ready_versions": frozenset({"1", "2"}),
             "serving_failure": "every version still serves: SeldonDeployment Failed: x"}, False),
    ]
    for verdict, observed, made in rows:
        what = f"{verdict} {observed}"
        sim = on_last_step()
        d = successor(sim, PROMOTED, verdict=verdict, **observed)
        if made:
            assert d.status.stable_version == "2", what
            assert d.traffic == TrafficSplit("2", None, 0), what
            assert Reason.PROMOTED in [e.reason for e in d.events], what
            assert "whose status write was lost" in d.status.history[-1].reason, what
        else:
            assert d.status.stable_version == "1", what
            assert d.traffic == TrafficSplit("1", "2", 90), what
            assert Reason.PROMOTED not in [e.reason for e in d.events], what


def test_a_lost_step_mid_ramp_is_not_stepped_back_while_the_gates_hold() -> None:
    """Mid-ramp the graph a step ahead never held the advance; a pass whose own analysis was
    inconclusive applied the step's split again over it (25 → 10 → 25). A rollback still wins."""
    sim = with_canary()
    sim.passing(1)
    assert (sim.status.current_step, sim.status.canary_weight) == (0, 10)
    ahead = frozenset({("1", 75), ("2", 25)})
    d = successor(sim, ahead, verdict=INC, minutes=4)
    assert (d.status.current_step, d.traffic) == (1, TrafficSplit("1", "2", 25))
    assert Reason.STEP_ADVANCED in [e.reason for e in d.events]
    assert d.status.split_applied_at is None
    # A graph at any other split (a hand edit that kept the stamp) is the status's again.
    d = successor(sim, frozenset({("1", 50), ("2", 50)}), verdict=INC, minutes=4)
    assert (d.status.current_step, d.traffic) == (0, TrafficSplit("1", "2", 10))
    # A Fail rolls the canary back, the lost advance notwithstanding.
    d = successor(sim, ahead, verdict=F, minutes=4)
    assert d.status.canary_version is None and d.traffic == TrafficSplit("1", None, 0)
