"""Pins of the canary ramp's decisions that no other test held: each one fails on a small change
to ``domain.steps`` or ``domain.canary`` (a flipped comparison, a dropped condition) that the
rest of the suite let through."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import T0, make_spec, outcome, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

P, INC, F = GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.FAIL
TWO_GATES = [{"name": "latency", "type": "latency"}, {"name": "errors", "type": "errorRate"}]


def test_a_gate_last_measured_when_the_step_started_does_not_pass_the_step() -> None:
    # The step advanced in the pass that applied the analysis at T0+5m: both gates' statuses
    # carry that time, the new step's start. The next analysis measures only one of them; the
    # other's Pass belongs to the previous step and must not end this one.
    sim = with_canary(make_spec(gates=TWO_GATES))
    sim.passing(1)
    d = sim.passing(4)
    assert d.status.current_step == 1 and d.status.step_started_at == sim.now
    later = sim.now + dt.timedelta(minutes=5)
    d = sim.tick(5, outcomes=[outcome("errors", P, later)])
    assert d.status.current_step == 1
    assert "latency Pass" not in d.status.message and "gates: " not in d.status.message
    d = sim.passing(1)  # both measured during the step: it ends
    assert d.status.current_step == 2


def test_a_step_of_offline_gates_only_still_needs_its_own_analysis() -> None:
    # The analysis that advanced the step happened at the new step's start: it is not this
    # step's analysis, so the pause running out alone does not end the step.
    spec = make_spec(gates=[{"name": "qini", "type": "qini"}])
    sim = with_canary(spec)
    sim.tick(0.1, verdicts={"qini": P})
    d = sim.tick(10, outcomes=[])
    assert d.status.current_step == 1
    assert d.status.last_analysis_at == d.status.step_started_at == sim.now
    d = sim.tick(10)  # pause elapsed, no analysis during step 2
    assert d.status.current_step == 1 and "waiting for an analysis" in d.status.message


def test_a_pending_manual_rollback_is_not_also_a_missed_deadline() -> None:
    sim = with_canary(make_spec(rollback="Manual", progressDeadline="10m"))
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.phase is Phase.PAUSED
    d = sim.tick(30)
    assert d.status.phase is Phase.PAUSED
    assert Reason.PROGRESS_DEADLINE_EXCEEDED not in sim.reasons()
    assert all(r.action != "ProgressDeadlineExceeded" for r in d.status.history)


def test_a_step_never_lowers_the_weight_when_the_spec_lowered_its_steps() -> None:
    sim = with_canary()
    sim.passing(5)
    assert sim.status.canary_weight == 25
    sim.spec = make_spec(steps=((5, "5m"), (10, "5m"), (15, "5m")))
    d = sim.passing(5)
    assert d.status.current_step == 2 and d.status.canary_weight == 25
    assert d.traffic == TrafficSplit("1", "2", 25)


def test_a_step_index_beyond_steps_removed_mid_ramp_is_the_last_step() -> None:
    sim = with_canary()
    sim.passing(5)
    sim.passing(5)
    assert sim.status.current_step == 2
    sim.spec = make_spec(steps=((10, "5m"), (25, "5m")))
    d = sim.passing(5)
    assert (d.status.stable_version, d.status.canary_version) == ("2", None)
    assert Reason.PROMOTED in sim.reasons()


def test_an_overdue_pass_requeues_after_the_minimum_not_in_the_past() -> None:
    sim = with_canary()
    d = sim.tick(3)  # the analysis was due at T0+1m; no outcomes in this pass
    assert d.requeue_after == dt.timedelta(seconds=1)


def test_the_deadline_is_reported_again_at_a_later_step() -> None:
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.tick(16, verdicts={"latency": INC})
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in sim.reasons()
    d = sim.passing(1)
    assert d.status.current_step == 1
    d = sim.tick(16, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in sim.reasons()
    assert sum(r.action == "ProgressDeadlineExceeded" for r in d.status.history) == 2


def test_a_dry_run_offline_gate_does_not_hold_the_first_traffic() -> None:
    sim = with_canary(make_spec(gates=[{"name": "qini", "type": "qini", "dryRun": True},
                                       {"name": "latency", "type": "latency"}]))
    assert sim.status.canary_weight == 10
    assert Reason.TRAFFIC_STARTED in sim.reasons()


def test_an_offline_gate_not_passed_yet_is_measured_on_the_ramp() -> None:
    spec = make_spec(gates=[{"name": "qini", "type": "qini"}, {"name": "lat", "type": "latency"}])
    on_ramp = UpliftModelStatus(stable_version="1", canary_version="2", current_step=0,
                                canary_weight=10, step_started_at=T0)
    assert [g.name for g in ramp.gates_to_measure(spec, on_ramp)] == ["qini", "lat"]


def test_pre_traffic_analysis_at_the_canary_start_is_not_the_canary_s() -> None:
    # An analysis stamped at the canary's start (applied to nothing: it measured before) does
    # not make the offline gates wait an interval.
    status = UpliftModelStatus(stable_version="1", canary_version="2", current_step=0,
                               canary_weight=0, step_started_at=T0, last_analysis_at=T0)
    assert ramp.analysis_due(make_spec(), status, T0)


def test_a_second_emergency_rollback_is_ignored_and_keeps_the_rolled_back_version() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert d.status.previous_stable_version is None
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "again")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert [e.reason for e in d.events] == [Reason.EMERGENCY_ROLLBACK]
    assert "ignored" in d.events[0].message


def test_the_spec_back_at_stable_after_a_rollback_is_healthy() -> None:
    sim = with_canary()
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.aborted_version == "2" and d.status.phase is Phase.DEGRADED
    sim.desired = "1"
    d = sim.tick(1)
    assert d.status.phase is Phase.HEALTHY
    assert d.traffic == TrafficSplit("1", None, 0)


def test_a_retry_of_the_stable_version_is_ignored() -> None:
    sim = with_canary()
    sim.tick(1, verdicts={"latency": F, "shadow": P})
    sim.desired = "1"
    sim.tick(1)
    sim.request(ramp.RETRY_ANNOTATION, "now")
    d = sim.tick(1)
    assert d.status.canary_version is None and d.traffic == TrafficSplit("1", None, 0)
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.RETRY)]
    assert "already stable" in d.events[0].message


def test_an_invalid_spec_holds_a_promote_for_later() -> None:
    sim = with_canary()
    requests = ramp.parse_requests({ramp.PROMOTE_ANNOTATION: "full"})
    observed = ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                             requests=requests, generation=3)
    d = ramp.decide_stopping_requests(sim.spec, sim.status, observed, sim.now)
    assert (d.status.stable_version, d.status.canary_version) == ("1", "2")
    assert ramp.PROMOTE_ANNOTATION not in d.status.handled_requests
    assert d.events == ()


def test_a_dry_run_online_effect_gate_does_not_defer_the_deadline() -> None:
    spec = make_spec(progressDeadline="10m", gates=[
        {"name": "latency", "type": "latency"},
        {"name": "effect", "type": "onlineEffect", "dryRun": True}])
    spec = spec.model_copy(update={"experiment": spec.experiment.model_copy(
        update={"attribution_window": "30m"})})
    sim = with_canary(spec)
    d = sim.tick(16, verdicts={"latency": INC, "effect": INC})
    assert d.status.phase is Phase.DEGRADED
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in sim.reasons()


def test_traffic_starts_with_the_offline_gates_counters_at_zero() -> None:
    sim = with_canary(make_spec(gates=[{"name": "qini", "type": "qini", "failureLimit": 1},
                                       {"name": "lat", "type": "latency"}]))
    d = sim.tick(0.1, verdicts={"qini": F})
    assert d.status.canary_weight == 0 and d.status.gates[0].failures == 1
    d = sim.tick(0.1, verdicts={"qini": P})
    assert d.status.canary_weight == 10
    assert d.status.gates[0].failures == 0
