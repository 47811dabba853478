"""A retry of a canary its gates hold Paused past their ``inconclusiveLimit`` keeps the
version's sequential evidence, moved to a new stratum as at a step change
(``gates.next_step``): alpha is spent once per version (docs/statistics.md, docs/lifecycle.md).
Before, the retry threw it away, and an inconclusive canary retried k times had k chances at a
false Pass, each at the gate's full alpha. A canary rolled back or aborted, or held for a
pending Manual rollback, is retried afresh — a human's judgement that something changed — and
the Retry event says which."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from tests.unit.domain.test_ramp import INC, F, P, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.ramp import Reason
from uplift_operator.stats.results import SequentialState

STEPS = ((10, "5m"), (25, "5m"), (50, "5m"))
GATES = [{"name": "latency", "type": "latency", "inconclusiveLimit": 1}]


def _look(sim: Sim, verdict: GateVerdict = INC) -> ramp.Decision:
    """An analysis 1.5 minutes on whose test adds a look of evidence towards a Pass to the
    memory the gate's status holds, as ``evaluate_gate`` does."""
    sim.now += dt.timedelta(minutes=1.5)
    held = {g.name: g for g in sim.status.gates}.get("latency")
    state = (SequentialState.from_dict(held.sequential_state["t"].to_wire())
             if held is not None and "t" in held.sequential_state else SequentialState())
    state = replace(state, looks=state.looks + 1, log_pass=state.log_pass + 0.5,
                    info=state.info + 10.0)
    return sim.tick(outcomes=[GateOutcome(name="latency", verdict=verdict,
                                          message=f"latency {verdict.value}", time=sim.now,
                                          memory={"t": state})])


def _paused_inconclusive() -> Sim:
    sim = with_canary(make_spec(steps=STEPS, gates=GATES))
    _look(sim)
    _look(sim)
    assert sim.status.phase is Phase.PAUSED
    assert sim.status.gates[0].sequential_state["t"].log_pass == 1.0
    return sim


def _retried(sim: Sim, token: str = "r1") -> ramp.Decision:
    sim.request(ramp.RETRY_ANNOTATION, token)
    return sim.tick(0.5)


def test_a_retry_of_an_inconclusive_canary_carries_its_evidence_into_a_new_stratum() -> None:
    sim = _paused_inconclusive()
    d = _retried(sim)
    s = d.status
    assert (s.canary_version, s.current_step, s.canary_weight) == ("2", 0, 0)
    [gate] = s.gates
    state = gate.sequential_state["t"]
    assert (state.carried_log_pass, state.carried_info, state.log_pass) == (1.0, 20.0, None)
    assert gate.inconclusives == 0  # the pause lifts: counted afresh
    [retry] = [e for e in d.events if e.reason is Reason.RETRY]
    assert retry.message.endswith("; its gates' sequential evidence carried into a new "
                                  "stratum, as at a step: alpha is spent once per version")
    # Retried again and again, the evidence only grows: no fresh alpha at each retry.
    sim.tick(0.1)
    assert sim.status.canary_weight == 10
    _look(sim)
    _look(sim)
    assert sim.status.phase is Phase.PAUSED
    _retried(sim, "r2")
    state = sim.status.gates[0].sequential_state["t"]
    assert (state.carried_log_pass, state.carried_info) == (2.0, 40.0)


def test_a_gate_whose_settings_changed_is_not_carried() -> None:
    sim = _paused_inconclusive()
    sim.spec = make_spec(steps=STEPS, gates=[{**GATES[0], "alpha": 0.01}])
    d = _retried(sim)
    assert d.status.gates == []
    [retry] = [e for e in d.events if e.reason is Reason.RETRY]
    assert retry.message.endswith("; its gates' settings changed since their evidence was "
                                  "gathered: it starts afresh")


def test_a_retry_after_an_abort_starts_afresh_and_says_so() -> None:
    sim = _paused_inconclusive()
    sim.request(ramp.ABORT_ANNOTATION, "a1")
    assert sim.tick(0.5).status.aborted_version == "2"
    d = _retried(sim)
    assert d.status.canary_version == "2" and d.status.gates == []
    [retry] = [e for e in d.events if e.reason is Reason.RETRY]
    assert ("its gates' sequential evidence starts afresh: retried after a rollback or an "
            "abort") in retry.message


def test_a_retry_over_a_pending_manual_rollback_starts_afresh() -> None:
    sim = with_canary(make_spec(steps=STEPS, rollback="Manual"))
    sim.tick(1.5, verdicts={"latency": F, "shadow": P})
    assert sim.status.phase is Phase.PAUSED
    d = _retried(sim)
    assert d.status.gates == []
    assert any("starts afresh" in e.message for e in d.events if e.reason is Reason.RETRY)
