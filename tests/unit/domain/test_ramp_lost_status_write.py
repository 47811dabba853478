"""A pass whose status write was lost after its apply went through (its replica SIGKILLed in
between): the next pass decides on the very body it decided on, and finds the serving graph a
step ahead of the status, stamped on that body (``Observed.decided_here``). That advance is
its own decision again: it is not stepped back over (CI's failover test saw canary 100 →
stable 10/canary 90 → canary 100, one Promoted), while a refused apply, a graph stamped on an
older body (a hand edit, another controller's revert) and the evidence of the pass itself (a
gate at Error, a rollback) still hold or act as before."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
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

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import conditions as cond
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
              verdicts: Mapping[str, GateVerdict] | None = None, desired: str | None = "2",
              annotations: Mapping[str, str] | None = None, stable_ready: bool = True,
              **observed: Any) -> Decision:
    """The pass of the replica that took over, on the status the killed one decided on: every
    gate says ``verdict`` (None: no analysis due), or each what ``verdicts`` says."""
    now = sim.now + dt.timedelta(minutes=minutes)
    if verdicts is None and verdict is not None:
        verdicts = {g.name: verdict for g in sim.spec.rollout.gates}
    outcomes = (None if verdicts is None
                else [outcome(name, v, now) for name, v in verdicts.items()])
    seen = Observed(desired_version=desired, stable_ready=stable_ready,
                    canary_ready=canary_ready, gate_outcomes=outcomes,
                    requests=ramp.parse_requests(dict(annotations or {})), generation=3,
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


AHEAD = frozenset({("1", 75), ("2", 25)})  # the default ramp's second step, decided on step 1


def on_first_step(**spec: Any) -> Sim:
    """Stable 1, canary 2 at the first of the default steps (10 %), its gates passed once."""
    sim = with_canary(make_spec(**spec))
    sim.passing(1)
    assert (sim.status.current_step, sim.status.canary_weight) == (0, 10)
    return sim


def test_a_failing_dry_run_gate_does_not_keep_a_lost_advance_from_being_made() -> None:
    """A dry-run gate acts on nothing (``gates_passed_at_step`` skips it): the pass that
    decided the advance made it over the dry-run gate's Fail, and the pass after it makes it
    too, rather than stepping the traffic back (the default spec's ``shadow`` is one)."""
    for verdicts in ({"latency": INC, "shadow": F}, {"latency": INC, "shadow": E}):
        sim = on_last_step()
        d = successor(sim, PROMOTED, verdicts=verdicts)
        assert d.status.stable_version == "2" and d.traffic == TrafficSplit("2", None, 0), verdicts
        assert Reason.PROMOTED in [e.reason for e in d.events], verdicts
        sim = on_first_step()
        d = successor(sim, AHEAD, verdicts=verdicts, minutes=4)
        assert (d.status.current_step, d.traffic) == (1, TrafficSplit("1", "2", 25)), verdicts
    # An acting gate's Error still holds it: the step's split applied again.
    sim = on_first_step()
    d = successor(sim, AHEAD, verdicts={"latency": E, "shadow": P}, minutes=4)
    assert (d.status.current_step, d.traffic) == (0, TrafficSplit("1", "2", 10))


def test_a_lost_advance_past_the_progress_deadline_is_made_without_saying_it_exceeded() -> None:
    """The step passed its ``progressDeadline`` in the pass that advances it (its
    predecessor's advance, made again): no ProgressDeadlineExceeded (a Warning, a history
    entry counted as a decision, Degraded) of a step that is over in that very pass."""
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.tick(14, verdicts={"latency": INC})  # the deadline runs out at 15 (pause 5m + 10m)
    d = successor(sim, AHEAD, verdict=INC, minutes=1.5)
    assert (d.status.current_step, d.traffic) == (1, TrafficSplit("1", "2", 25))
    assert Reason.STEP_ADVANCED in [e.reason for e in d.events]
    assert Reason.PROGRESS_DEADLINE_EXCEEDED not in [e.reason for e in d.events]
    assert Reason.PROGRESS_DEADLINE_EXCEEDED.value not in [h.action for h in d.status.history]
    assert d.status.phase is Phase.PROGRESSING
    # Not made (its gate at Error): the deadline is said exceeded as ever.
    d = successor(sim, AHEAD, verdict=E, minutes=1.5)
    assert (d.status.current_step, d.status.phase) == (0, Phase.DEGRADED)
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in [e.reason for e in d.events]


STABLE_ALONE = frozenset({("1", 100)})  # the graph of a rollback: stable 1 alone


def test_a_lost_rollback_is_made_again_not_undone() -> None:
    """A pass rolled the canary back (a gate's Fail past its failureLimit) and its status
    write was lost: the graph carries stable 1 alone, stamped on this very body. The pass
    after it, whose own look does not demand it (the Fail is not in the status it reads), rolls
    back too, as a rollback is recorded (``RolledBack``, ``abortedVersion``), rather than put
    the canary's traffic back; even when it would advance on its own, or the spec is paused."""
    rows: list[tuple[str, GateVerdict | None, float, dict[str, Any]]] = [
        ("inconclusive look", INC, 1, {}),
        ("no analysis due", None, 1, {}),
        ("a look that would advance", P, 5, {}),
        ("spec paused", P, 1, {"paused": True}),
    ]
    for what, verdict, minutes, spec in rows:
        sim = on_first_step()
        sim.spec = make_spec(**spec)
        d = successor(sim, STABLE_ALONE, verdict=verdict, minutes=minutes)
        assert d.status.canary_version is None and d.status.stable_version == "1", what
        assert d.status.aborted_version == "2" and d.traffic == TrafficSplit("1", None, 0), what
        assert d.status.phase is Phase.DEGRADED, what
        assert [e.reason for e in d.events].count(Reason.ROLLED_BACK) == 1, what
        last = d.status.history[-1]
        assert (last.action, last.version, last.actor) == ("RolledBack", "2", "operator"), what
        assert "whose status write was lost" in last.reason, what
    # Stamped on an older body, or an apply refused: the canary's split, as before.
    for decided_here, refused in ((frozenset(), None), (STABLE_ALONE, REFUSED)):
        sim = on_first_step()
        d = successor(sim, decided_here, verdict=INC, minutes=1, split_refused=refused)
        assert d.status.canary_version == "2" and d.traffic == TrafficSplit("1", "2", 10)
    # An abort by hand on this body acts first: it is the human's, recorded once.
    sim = on_first_step()
    d = successor(sim, STABLE_ALONE, verdict=INC, minutes=1,
                  annotations={"uplift.dev/abort": "1"})
    assert d.status.canary_version is None and d.traffic == TrafficSplit("1", None, 0)
    assert [e.reason for e in d.events].count(Reason.ROLLED_BACK) == 0
    assert d.status.history[-1].action == "ManualAbort"
    # The stable does not serve and the canary does: a rollback would wait, so none is made.
    sim = on_first_step()
    d = successor(sim, STABLE_ALONE, verdict=INC, minutes=1, stable_ready=False,
                  ready_versions=frozenset({"2"}))
    assert d.status.canary_version == "2" and d.traffic == TrafficSplit("1", "2", 10)


def test_a_lost_advance_is_not_made_while_the_ramp_is_held() -> None:
    """Each hold keeps the lost advance from being made: this step's split is applied again
    (the safe way). One row per condition of ``adopts_lost_advance``."""
    step_without_pause = [(10, None), (25, "5m"), (50, "5m")]
    limit = [{"name": "latency", "type": "latency", "inconclusiveLimit": 1}]
    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("inconclusiveLimit exceeded", {"gates": limit}, {"verdict": INC}),
        ("model reference unresolved", {}, {"desired": None}),
        ("step without a pause", {"steps": step_without_pause}, {}),
        ("spec paused", {"paused": True}, {}),
        # The spec back at stable 1, which does not serve: the canary's removal is pending.
        ("removal pending", {}, {"desired": "1", "stable_ready": False,
                                 "ready_versions": frozenset({"2"})}),
    ]
    for what, spec, observed in rows:
        sim = with_canary(make_spec(**{k: v for k, v in spec.items() if k != "paused"}))
        sim.tick(2, verdicts={g.name: INC if "gates" in spec else P
                              for g in sim.spec.rollout.gates})
        assert (sim.status.current_step, sim.status.canary_weight) == (0, 10), what
        sim.spec = make_spec(**spec)
        d = successor(sim, AHEAD, minutes=2, **observed)
        assert d.status.current_step == 0 and d.status.canary_version == "2", what
        assert d.traffic == TrafficSplit("1", "2", 10), what
        assert Reason.STEP_ADVANCED not in [e.reason for e in d.events], what
    # A step without a pause whose promote is asked on this body: the human's promote, made.
    sim = with_canary(make_spec(steps=step_without_pause))
    sim.passing(2)
    d = successor(sim, AHEAD, minutes=2, annotations={"uplift.dev/promote": "step:1"})
    assert (d.status.current_step, d.traffic) == (1, TrafficSplit("1", "2", 25))
    assert d.status.history[-1].reason == "promoted by hand"
    assert d.status.history[-1].actor != "operator"


def test_a_graph_at_the_stable_alone_is_not_taken_for_a_rollback_while_unresolved() -> None:
    """The lost decision may be the spec's withdrawal of the canary (the spec back at stable
    1) or its replacement (a new version before traffic: a canary at 0 carries none), which
    leave the graph at stable 1 alone too. A pass that cannot resolve the model reference
    cannot tell them from a rollback: it makes none (no ``abortedVersion``, no ``RolledBack``
    Warning, version 2 not blocked), and the canary's split is applied again, as any lost
    advance is held then; the pass that resolves the reference withdraws or replaces the
    canary as the spec says."""
    for desired, after in (("1", None), ("3", "3")):
        sim = on_first_step()
        d = successor(sim, STABLE_ALONE, verdict=INC, minutes=1, desired=None)
        assert d.status.canary_version == "2" and d.status.aborted_version is None, desired
        assert d.traffic == TrafficSplit("1", "2", 10), desired
        assert Reason.ROLLED_BACK not in [e.reason for e in d.events], desired
        assert "RolledBack" not in [h.action for h in d.status.history], desired
        sim.status = d.status
        sim.now += dt.timedelta(minutes=1)
        d = successor(sim, frozenset(), verdict=None, minutes=1, desired=desired)
        assert d.status.canary_version == after and d.status.aborted_version is None, desired
        assert d.status.history[-1].actor == "spec", desired
        assert d.traffic == TrafficSplit("1", after, 0), desired


def test_a_lost_rollback_ends_what_this_pass_held_for_a_human() -> None:
    """This pass's own look holds the ramp for a human — a Fail under ``rollback.mode``
    Manual (a rollback pending the human's word), an ``inconclusiveLimit`` exceeded (a pause
    asked): the lost rollback is made all the same and that hold ends with it, so the status
    says the rollback (no pause; Ready not ``RollbackPending`` of a canary that is gone), and
    the next pass on it decides the same (``successor`` asserts it)."""
    limit = [{"name": "latency", "type": "latency", "inconclusiveLimit": 1}]
    rows: list[tuple[str, dict[str, Any], GateVerdict, float]] = [
        ("Manual rollback, a Fail", {"rollback": "Manual"}, F, 1),
        ("inconclusiveLimit exceeded", {"gates": limit}, INC, 2),
    ]
    for what, spec, verdict, minutes in rows:
        sim = with_canary(make_spec(**spec))
        sim.tick(2, verdicts={g.name: INC for g in sim.spec.rollout.gates})
        assert (sim.status.current_step, sim.status.canary_weight) == (0, 10), what
        assert sim.status.paused_at is None, what
        d = successor(sim, STABLE_ALONE, verdict=verdict, minutes=minutes)
        assert d.status.canary_version is None and d.status.aborted_version == "2", what
        assert d.traffic == TrafficSplit("1", None, 0), what
        assert d.status.phase is Phase.DEGRADED and d.status.paused_at is None, what
        assert "rolled back" in d.status.message, what
        ready = next(c for c in d.status.conditions if c.type == cond.READY)
        assert (ready.status, ready.reason) == ("True", cond.STABLE_SERVING), what
        last = d.status.history[-1]
        assert (last.action, last.actor) == ("RolledBack", "operator"), what
        assert "whose status write was lost" in last.reason, what
