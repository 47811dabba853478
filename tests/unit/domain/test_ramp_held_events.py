"""Outcomes that hold the ramp without counting (a sample ratio mismatch, MLflow unreachable):
each hold is said once, under its own reason, when the gate enters it or its words change; a
counted Error or Inconclusive is said only when its counter moved to 1. Before, an SRM with no
Error streak before it was never said, and one after a counted Error was said again at every
analysis as "1 error in a row" (and counted in ``uplift_operator_decisions_total`` each time).
"""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import INC, E, P, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.ramp import Decision, Reason


def _next_look(sim: Sim) -> dt.datetime:
    """When the outcome is measured: at the next tick (``sim.tick(1, ...)``)."""
    return sim.now + dt.timedelta(minutes=1)


def _srm(sim: Sim, share: float) -> list[GateOutcome]:
    """A traffic-split mismatch as ``domain.gates`` words it; its numbers move at each look."""
    return [GateOutcome(
        name="lat", verdict=GateVerdict.ERROR, time=_next_look(sim), holds=True,
        message=(f"sample ratio mismatch in the traffic split (stable, canary): share "
                 f"{share:.4g}, expected 0.1 (always-valid p = {share / 100:.3g}); no verdict "
                 f"until it is checked again on the next {int(share * 10000)} units"))]


def _recheck(sim: Sim, seen: int) -> list[GateOutcome]:
    return [GateOutcome(
        name="lat", verdict=GateVerdict.ERROR, time=_next_look(sim), holds=True,
        message=(f"the traffic split (stable, canary) checked again after a sample ratio "
                 f"mismatch: none in {seen} of the 8000 units it needs; no verdict until then"))]


def _mlflow_down(sim: Sim) -> list[GateOutcome]:
    return [GateOutcome(name="lat", verdict=GateVerdict.INCONCLUSIVE, time=_next_look(sim),
                        holds=True, message="holding: MLflow unavailable (connection refused)")]


def _sim() -> Sim:
    # Pauses of an hour: every look below is at the first step.
    return with_canary(make_spec(steps=((10, "1h"), (25, "1h"), (50, "1h")),
                                 gates=[{"name": "lat", "type": "latency"}]))


def _said(decision: Decision) -> list[tuple[str, Reason, str]]:
    return [(e.type, e.reason, e.message) for e in decision.events
            if e.reason is not Reason.ANALYSIS_PASSED]


def _counted(sims: list[Decision]) -> list[Reason]:
    """What ``uplift_operator_decisions_total`` would count over these passes."""
    return [e.reason for d in sims for e in d.events if e.decision]


def test_a_sample_ratio_mismatch_after_a_pass_is_said_once_as_not_counted() -> None:
    sim = _sim()
    sim.tick(1, verdicts={"lat": P})
    first = sim.tick(1, outcomes=_srm(sim, 0.2139))
    assert _said(first) == [(
        "Warning", Reason.SAMPLE_RATIO_MISMATCH,
        "gate lat Error holds canary 2 at step 1/3 (10%), not counted towards "
        "consecutiveErrorLimit: sample ratio mismatch in the traffic split (stable, canary): "
        "share 0.2139, expected 0.1 (always-valid p = 0.00214); no verdict until it is checked "
        "again on the next 2139 units")]
    assert sim.status.gates[0].consecutive_errors == 0
    # The same hold at the next looks, its numbers moved: nothing more is said or counted.
    later = [sim.tick(1, outcomes=_srm(sim, share)) for share in (0.2201, 0.2302, 0.1999)]
    assert [_said(d) for d in later] == [[], [], []]
    assert _counted([first, *later]) == [Reason.SAMPLE_RATIO_MISMATCH]


def test_a_mismatch_after_one_counted_error_is_not_told_as_another_error() -> None:
    sim = _sim()
    error = sim.tick(1, verdicts={"lat": E})
    assert [r for _, r, _ in _said(error)] == [Reason.GATE_ERRORED]
    holds = [sim.tick(1, outcomes=_srm(sim, share)) for share in (0.21, 0.22, 0.23)]
    assert [[r for _, r, _ in _said(d)] for d in holds] == [[Reason.SAMPLE_RATIO_MISMATCH], [], []]
    assert not any("error in a row" in m for d in holds for _, _, m in _said(d))
    assert sim.status.gates[0].consecutive_errors == 1  # the hold counted nothing
    # A counted Error after the hold is the second in a row: its counter did not move to 1.
    second = sim.tick(1, verdicts={"lat": E})
    assert sim.status.gates[0].consecutive_errors == 2
    assert _said(second) == []
    assert _counted([error, *holds, second]) == [Reason.GATE_ERRORED,
                                                  Reason.SAMPLE_RATIO_MISMATCH]


def test_an_mlflow_hold_after_a_counted_inconclusive_is_said_once_as_held() -> None:
    sim = _sim()
    inconclusive = sim.tick(1, verdicts={"lat": INC})
    assert [r for _, r, _ in _said(inconclusive)] == [Reason.GATE_INCONCLUSIVE]
    holds = [sim.tick(1, outcomes=_mlflow_down(sim)) for _ in range(3)]
    assert [_said(d) for d in holds] == [[(
        "Normal", Reason.GATE_HELD,
        "gate lat Inconclusive holds canary 2 at step 1/3 (10%), not counted towards "
        "inconclusiveLimit: holding: MLflow unavailable (connection refused)")], [], []]
    assert sim.status.gates[0].inconclusives == 1
    again = sim.tick(1, verdicts={"lat": INC})  # the second counted one: not said
    assert sim.status.gates[0].inconclusives == 2 and _said(again) == []


def test_a_hold_is_said_again_when_its_words_change_or_after_it_ended() -> None:
    sim = _sim()
    reasons = []
    for look in (lambda: _srm(sim, 0.21), lambda: _recheck(sim, 100),
                 lambda: _recheck(sim, 900), lambda: _srm(sim, 0.3), None,
                 lambda: _srm(sim, 0.31)):
        # None: a Pass, the hold ended.
        decision = (sim.tick(1, verdicts={"lat": P}) if look is None
                    else sim.tick(1, outcomes=look()))
        reasons.append([r for _, r, _ in _said(decision)])
    srm = [Reason.SAMPLE_RATIO_MISMATCH]
    # The mismatch; its re-check (other words: said); the re-check's units moving (not); a
    # mismatch shown again; a Pass; a new mismatch.
    assert reasons == [srm, srm, [], srm, [], srm]


def test_an_inconclusive_pause_quotes_what_tripped_it_and_passes_after_it_are_not_announced(
) -> None:
    """Past ``inconclusiveLimit`` the step stays paused whatever the gate says next (its count
    only grows): the message keeps the Inconclusive that tripped it, not "lat said Pass", and
    no ``AnalysisPassed`` is said of the paused step."""
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "inconclusiveLimit": 2}]))
    for _ in range(3):
        d = sim.tick(1, verdicts={"lat": INC})
    tripped = ("paused: gate lat inconclusive (3 times, inconclusiveLimit 2 exceeded): lat said "
               "Inconclusive; go on, restart or roll back with `kubectl uplift promote NAME`, "
               "`kubectl uplift retry NAME` or `kubectl uplift abort NAME` (or annotate "
               "--overwrite uplift.dev/promote=step:$(date +%s), uplift.dev/retry=$(date +%s) "
               "or uplift.dev/abort=$(date +%s))")
    assert d.status.message == f"canary 2 at step 1/3 (10%) {tripped}"
    for minutes in (1, 1, 120):
        d = sim.tick(minutes, verdicts={"lat": P})
        assert d.status.message == f"canary 2 at step 1/3 (10%) {tripped}"
        assert Reason.ANALYSIS_PASSED not in sim.reasons()
    assert [e.reason for e in d.status.history if e.action == "Paused"] == [
        "gate lat inconclusive (3 times, inconclusiveLimit 2 exceeded): lat said Inconclusive"]


def test_a_step_held_by_the_spec_s_paused_is_not_announced_passed_until_it_resumes() -> None:
    paused = make_spec(steps=((10, "1h"), (25, "1h"), (50, "1h")),
                       gates=[{"name": "lat", "type": "latency"}], paused=True)
    sim = _sim()
    sim.spec = paused
    d = sim.tick(1, verdicts={"lat": P})
    assert Reason.ANALYSIS_PASSED not in sim.reasons()
    assert d.status.passed_while_held_at == sim.now
    sim.spec = make_spec(steps=((10, "1h"), (25, "1h"), (50, "1h")),
                         gates=[{"name": "lat", "type": "latency"}])
    sim.tick(1)
    assert Reason.ANALYSIS_PASSED in sim.reasons() and Reason.RESUMED in sim.reasons()
    assert sim.status.passed_while_held_at is None
