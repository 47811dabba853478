"""The canary ramp: every transition with time passed in, and idempotence on every call.

``Sim.tick`` runs ``decide`` and then checks, for every single decision in this file, that
running it again on its own output (and on that output after a JSON round trip, as a restarted
operator would read it) changes nothing and emits nothing.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import ramp
from uplift_operator.domain.gates import GateOutcome, evaluate_gate
from uplift_operator.domain.measurements import LatencyMeasurement
from uplift_operator.domain.ramp import Decision, Observed, Reason, TrafficSplit, decide
from uplift_operator.stats.results import SequentialState

T0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)
GATE_TYPES = ["latency", "errorRate", "drift", "qini", "onlineEffect", "upliftSanity", "custom"]


def make_spec(*, steps: Sequence[tuple[int, str | None]] = ((10, "5m"), (25, "5m"), (50, "5m")),
              gates: Sequence[Mapping[str, Any]] | None = None, rollback: str = "Automatic",
              **rollout: Any) -> UpliftModelSpec:
    if gates is None:
        gates = [{"name": "latency", "type": "latency"},
                 {"name": "shadow", "type": "drift", "dryRun": True}]
    return UpliftModelSpec.model_validate({
        "model": {"registeredModel": "churn", "alias": "champion"},
        "treatments": [{"name": "email"}],
        "rollout": {"steps": [{"weight": w, **({"pause": p} if p else {})} for w, p in steps],
                    "analysisInterval": "1m", "gates": list(gates), **rollout},
        "rollback": {"mode": rollback},
    })


class Sim:
    """Drives ``decide`` through time; every decision is checked for idempotence."""

    def __init__(self, spec: UpliftModelSpec, status: UpliftModelStatus | None = None) -> None:
        self.spec = spec
        self.status = status or UpliftModelStatus()
        self.now = T0
        self.desired: str | None = "1"
        self.annotations: dict[str, str] = {}
        self.stable_ready = True
        self.canary_ready = True
        self.split_as_status = True
        self.split_refused: str | None = None  # ServingApplied False's message, as services says
        self.ready_versions: frozenset[str] | None = None  # None: the two flags say it
        self.name: str | None = None  # metadata.name (None: messages' commands read NAME)
        self.namespace = ""  # metadata.namespace ("": messages' commands name none)
        self.partial: frozenset[str] = frozenset()  # Observed.partial_versions
        self.log: list[Decision] = []

    def tick(self, minutes: float = 0, *, verdicts: Mapping[str, GateVerdict] | None = None,
             outcomes: Sequence[GateOutcome] | None = None) -> Decision:
        self.now += dt.timedelta(minutes=minutes)
        if verdicts is not None:
            outcomes = [outcome(name, v, self.now) for name, v in verdicts.items()]
        observed = Observed(desired_version=self.desired, stable_ready=self.stable_ready,
                            canary_ready=self.canary_ready, gate_outcomes=outcomes,
                            requests=ramp.parse_requests(self.annotations), generation=3,
                            split_as_status=self.split_as_status,
                            split_refused=self.split_refused,
                            ready_versions=self.ready_versions, name=self.name,
                            namespace=self.namespace, partial_versions=self.partial)
        decision = decide(self.spec, self.status, observed, self.now)
        assert_idempotent(self.spec, decision, observed, self.now)
        self.status = decision.status
        self.log.append(decision)
        return decision

    def passing(self, minutes: float = 0) -> Decision:
        return self.tick(minutes, verdicts={g.name: P for g in self.spec.rollout.gates})

    def reasons(self, decision: Decision | None = None) -> list[Reason]:
        return [e.reason for e in (decision or self.log[-1]).events]

    def request(self, key: str, value: str) -> None:
        self.annotations[key] = value


def outcome(name: str, verdict: GateVerdict, now: dt.datetime, **evidence: Any) -> GateOutcome:
    return GateOutcome(name=name, verdict=verdict, message=f"{name} said {verdict.value}",
                       time=now, memory={"t": SequentialState(looks=1)}, **evidence)


def assert_idempotent(spec: UpliftModelSpec, decision: Decision, observed: Observed,
                      now: dt.datetime) -> None:
    again = decide(spec, decision.status, observed, now)
    assert again.status == decision.status
    assert again.events == ()
    assert again.traffic == decision.traffic
    # A restarted operator reads the status back from JSON and must resume at the same place.
    restored = UpliftModelStatus.model_validate(decision.status.to_wire())
    resumed = decide(spec, restored, observed, now)
    assert resumed.status.to_wire() == decision.status.to_wire()
    assert resumed.events == ()


def with_canary(spec: UpliftModelSpec | None = None) -> Sim:
    """Stable version 1 serving, canary version 2 deployed at T0 and, once it serves, at its
    first step from T0 (offline gates, if any, still to judge)."""
    sim = Sim(spec or make_spec())
    sim.now -= dt.timedelta(seconds=6)
    sim.tick()
    sim.desired = "2"
    sim.tick()
    assert sim.status.canary_version == "2" and sim.status.canary_weight == 0
    sim.tick(0.1)  # the canary serves: traffic starts (unless offline gates must pass first)
    return sim


def ready(status: UpliftModelStatus) -> tuple[str, str]:
    c = cond.find(status.conditions, cond.READY)
    assert c is not None
    return c.status, c.reason


# -- first version, canary start -----------------------------------------------------------------

def test_first_version_becomes_stable_without_a_ramp() -> None:
    sim = Sim(make_spec())
    sim.stable_ready = False
    d = sim.tick()
    assert (d.status.stable_version, d.status.canary_version) == ("1", None)
    assert d.status.phase is Phase.PROGRESSING and ready(d.status) == ("False", "WaitingForServing")
    assert d.traffic == TrafficSplit("1", None, 0)
    assert sim.reasons() == [Reason.PROMOTED]
    sim.stable_ready = True
    d = sim.tick(1)
    assert d.status.phase is Phase.HEALTHY and ready(d.status) == ("True", "StableServing")
    assert d.events == () and d.requeue_after is None
    assert d.status.conditions[0].observed_generation == 3


def test_unresolved_reference_serves_nothing_yet() -> None:
    sim = Sim(make_spec())
    sim.desired = None
    d = sim.tick()
    assert d.traffic is None and d.status.phase is Phase.PROGRESSING
    assert ready(d.status) == ("False", "NoVersion")


def test_new_version_starts_a_canary_at_the_first_step() -> None:
    sim = with_canary()
    s = sim.status
    assert (s.current_step, s.canary_weight, s.step_started_at) == (0, 10, T0)
    assert s.phase is Phase.PROGRESSING and sim.reasons() == [Reason.TRAFFIC_STARTED]
    assert sim.log[-1].traffic == TrafficSplit("1", "2", 10)
    # The pass before: deployed at weight 0, no traffic until it serves.
    assert sim.reasons(sim.log[-2]) == [Reason.CANARY_STARTED]
    assert sim.log[-2].traffic == TrafficSplit("1", "2", 0)
    assert s.gates == []  # sequential tests start afresh
    assert s.canary_started_at == T0 - dt.timedelta(seconds=6)  # deployed before it served
    assert sim.log[-1].requeue_after == dt.timedelta(minutes=1)  # the first analysis


# -- the ramp ------------------------------------------------------------------------------------

def test_ramp_through_every_step_to_promotion() -> None:
    sim = with_canary()
    d = sim.passing(1)
    assert sim.reasons() == [Reason.ANALYSIS_PASSED] and d.status.current_step == 0
    assert d.requeue_after == dt.timedelta(minutes=1)
    assert all(g.sequential_state for g in d.status.gates)  # carried to the next look
    d = sim.passing(4)  # T0+5m: pause elapsed, gates passed
    assert (d.status.current_step, d.status.canary_weight) == (1, 25)
    assert d.traffic == TrafficSplit("1", "2", 25) and Reason.STEP_ADVANCED in sim.reasons()
    assert all(g.failures == 0 for g in d.status.gates)
    # New split: each test's evidence moves to a new stratum (α spent once per version).
    assert all(st.looks >= 1 and not st.log_pass
               for g in d.status.gates for st in g.sequential_state.values())
    d = sim.passing(5)
    assert (d.status.current_step, d.status.canary_weight) == (2, 50)
    d = sim.passing(5)
    s = d.status
    assert (s.stable_version, s.canary_version, s.previous_stable_version) == ("2", None, "1")
    assert (s.canary_weight, s.current_step, s.phase) == (0, None, Phase.HEALTHY)
    assert d.traffic == TrafficSplit("2", None, 0) and Reason.PROMOTED in sim.reasons()
    assert [r.action for r in s.history] == [
        "Promoted", "CanaryStarted", "TrafficStarted", "StepAdvanced", "StepAdvanced", "Promoted"]
    assert [r.weight for r in s.history] == [0, 0, 10, 25, 50, 0]
    # Settled: the spec's version is stable, nothing happens any more.
    assert sim.tick(10).events == ()


def test_step_waits_for_its_pause() -> None:
    sim = with_canary()
    sim.passing(1)
    d = sim.passing(2)  # T0+3m < T0+5m
    assert d.status.current_step == 0
    assert d.requeue_after == dt.timedelta(minutes=1)
    assert "step ends at" in d.status.message


def test_pause_end_advances_on_the_last_analysis_without_a_new_one() -> None:
    sim = with_canary()
    sim.passing(1)
    d = sim.tick(4)  # no analysis in this pass; the last one (at this step) passed
    assert d.status.current_step == 1


def test_the_pause_runs_from_the_steps_start_so_a_late_pass_advances_at_once() -> None:
    sim = with_canary()
    for _ in range(7):  # T0+1m … T0+7m: the pause (5m) runs out while the gate is Inconclusive
        d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
        assert d.status.current_step == 0
    d = sim.passing(1)  # the first Pass, past the pause: no second pause after it
    assert (d.status.current_step, d.status.canary_weight) == (1, 25)


def test_a_pass_from_the_previous_step_does_not_count() -> None:
    sim = with_canary()
    sim.passing(5)
    d = sim.tick(6)  # step 2's pause elapsed, but no analysis during step 2
    assert d.status.current_step == 1 and "waiting for an analysis" in d.status.message


def test_dry_run_gate_neither_blocks_nor_rolls_back() -> None:
    sim = with_canary()
    d = sim.tick(5, verdicts={"latency": P, "shadow": F})
    assert d.status.current_step == 1 and d.status.canary_version == "2"
    assert any("dry run" in e.message for e in d.events if e.reason is Reason.GATE_FAILED)
    # Failing on, it acts on nothing: said when its verdict changes, not at every analysis
    d = sim.tick(5, verdicts={"latency": P, "shadow": F})
    assert d.status.current_step == 2 and Reason.GATE_FAILED not in [e.reason for e in d.events]
    sim = with_canary()
    sim.tick(5, verdicts={"latency": P, "shadow": P})
    d = sim.tick(5, verdicts={"latency": P, "shadow": F})
    assert Reason.GATE_FAILED in [e.reason for e in d.events]


def test_step_without_pause_waits_for_a_manual_promote() -> None:
    sim = with_canary(make_spec(steps=[(10, None), (50, "5m")]))
    d = sim.passing(60)
    assert d.status.current_step == 0 and "no pause" in d.status.message
    sim.request(ramp.PROMOTE_ANNOTATION, "step")
    d = sim.tick(1)
    assert (d.status.current_step, d.status.canary_weight) == (1, 50)
    assert sim.reasons() == [Reason.MANUAL_PROMOTE, Reason.STEP_ADVANCED]
    assert d.status.history[-1].actor == "annotation uplift.dev/promote=step"


def test_canary_not_serving_holds_the_step() -> None:
    sim = with_canary()
    sim.canary_ready = False
    d = sim.passing(5)
    assert d.status.current_step == 0 and "canary is not serving" in d.status.message


def test_a_step_found_at_another_split_is_applied_again_and_judged_afresh() -> None:
    # A pass advanced the status to step 2 but its apply failed (or a replica died between its
    # apply and its status write, or someone edited the graph): the graph serves another split.
    sim = with_canary()
    evidence = {"srmTraffic": SequentialState(looks=4, log_fail=2.5, carried_log_fail=1.0),
                "effect": SequentialState(looks=4, log_pass=3.0)}
    sim.tick(1, outcomes=[GateOutcome(name="latency", verdict=P, message="ok", time=sim.now
                                      + dt.timedelta(minutes=1), memory=evidence)])
    sim.split_as_status = False
    d = sim.tick(2)  # inside the step's pause: the step's split is applied again
    assert d.status.current_step == 0 and d.traffic == TrafficSplit("1", "2", 10)
    assert d.status.split_applied_at == sim.now
    [latency] = [g for g in d.status.gates if g.name == "latency"]
    state = latency.sequential_state
    # The split check counts afresh from the re-apply, its evidence so far carried; the other
    # tests go on counting since the step started.
    assert state["srmTraffic"].to_wire().get("carriedLogFail") == 3.5
    assert "logFail" not in state["srmTraffic"].to_wire()
    assert state["effect"].to_wire().get("logPass") == 3.0
    sim.split_as_status = True
    d = sim.tick(2.5)  # the pause elapsed, but no analysis since the split was applied again
    assert d.status.current_step == 0 and "waiting for an analysis" in d.status.message
    d = sim.passing(1)
    assert d.status.current_step == 1 and d.status.canary_weight == 25


def test_a_graph_a_step_ahead_does_not_hold_an_advance_that_is_due() -> None:
    # The previous pass applied step 2 and died before its status write; this pass, deciding
    # from the same status, advances too: no step back, nothing to apply again.
    sim = with_canary()
    sim.passing(1)
    sim.split_as_status = False
    d = sim.tick(4)
    assert d.status.current_step == 1 and d.traffic == TrafficSplit("1", "2", 25)
    assert d.status.split_applied_at is None


REFUSED = "SeldonDeployment m: admission webhook \"quota.example\" denied the request"


def test_a_step_whose_split_is_never_applied_neither_advances_nor_promotes() -> None:
    """Every apply of the ramp's split refused (an admission webhook, a quota, RBAC): the graph
    carries 90/10 while the status moved on. The ramp advanced and promoted all the same, the
    status naming a stable version the traffic never reached."""
    sim = with_canary()
    sim.passing(1)
    d = sim.passing(4)  # the advance to 25 %, whose apply is refused
    assert d.status.current_step == 1
    sim.split_as_status, sim.split_refused = False, REFUSED
    for _ in range(30):
        d = sim.passing(1)
        assert (d.status.current_step, d.status.canary_weight) == (1, 25)
        assert d.status.canary_version == "2" and d.status.stable_version == "1"
        assert not {Reason.STEP_ADVANCED, Reason.PROMOTED, Reason.ANALYSIS_PASSED} & set(
            sim.reasons())
        assert ("the serving graph does not carry this step's split (ServingApplied False: "
                f"{REFUSED})") in d.status.message
    sim.request(ramp.PROMOTE_ANNOTATION, "full:1")
    d = sim.tick(1)
    assert d.status.stable_version == "1" and sim.reasons() == [Reason.MANUAL_PROMOTE]
    assert "does not carry this step's split" in d.events[0].message
    # The apply goes through: the split is checked afresh from then, and the ramp goes on.
    sim.split_as_status, sim.split_refused = True, None
    d = sim.passing(1)
    assert d.status.current_step == 2 and sim.reasons() == [Reason.ANALYSIS_PASSED,
                                                            Reason.STEP_ADVANCED]


def test_a_split_applied_again_that_does_not_stick_holds_the_step_and_is_stamped_once() -> None:
    """The graph goes on not carrying the step's split though each apply goes through
    (another controller reverting it): the step holds, and ``splitAppliedAt`` is not
    rewritten by the passes between analyses (every pass rewrote it, and each analysis said
    AnalysisPassed again)."""
    sim = with_canary()
    sim.split_as_status = False
    d = sim.tick(0.5)
    stamped = d.status.split_applied_at
    assert stamped == sim.now
    for _ in range(5):  # the apply retried between analyses
        d = sim.tick(0.05)
        assert d.status.split_applied_at == stamped
    for _ in range(10):
        d = sim.passing(1)
        assert d.status.current_step == 0 and Reason.ANALYSIS_PASSED not in sim.reasons()
        assert "the serving graph does not carry this step's split" in d.status.message
    sim.split_as_status = True
    d = sim.passing(1)  # measured on the split the graph now carries
    assert d.status.current_step == 1


def test_a_last_step_found_at_another_split_is_not_promoted_in_that_pass() -> None:
    """On the last step a Pass promotes; an analysis taken while the graph does not carry the
    step's split could not check it within tolerance, so the pass applies it again first."""
    sim = with_canary(make_spec(steps=[(10, "5m"), (50, "5m")]))
    sim.passing(1)
    d = sim.passing(4)
    assert d.status.current_step == 1
    sim.split_as_status = False
    d = sim.passing(6)
    assert d.status.canary_version == "2" and Reason.PROMOTED not in sim.reasons()
    assert d.traffic == TrafficSplit("1", "2", 50)
    assert "the serving graph does not carry this step's split" in d.status.message
    sim.split_as_status = True
    sim.passing(1)
    assert sim.status.stable_version == "2" and Reason.PROMOTED in sim.reasons()


def test_a_graph_found_at_another_split_before_traffic_changes_nothing() -> None:
    sim = Sim(make_spec())
    sim.tick()
    sim.desired = "2"
    sim.split_as_status = False
    d = sim.tick()  # the canary just deployed at weight 0: nothing to re-settle
    assert d.status.canary_weight == 0 and d.status.split_applied_at is None


# -- rollback ------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_", GATE_TYPES)
def test_failing_gate_rolls_back(type_: str) -> None:
    name = f"the-{type_.lower()}"
    gate = {"name": name, "type": type_, **({"query": "up", "max": 1} if type_ == "custom" else {})}
    sim = with_canary(make_spec(gates=[gate]))
    failing = outcome(name, F, sim.now + dt.timedelta(minutes=1), value=0.31,
                      threshold=0.12, samples=512)
    d = sim.tick(1, outcomes=[failing])
    s = d.status
    assert (s.stable_version, s.canary_version, s.aborted_version) == ("1", None, "2")
    assert (s.canary_weight, s.current_step, s.phase) == (0, None, Phase.DEGRADED)
    assert d.traffic == TrafficSplit("1", None, 0)
    rolled = [e for e in d.events if e.reason is Reason.ROLLED_BACK]
    assert len(rolled) == 1 and rolled[0].type == "Warning"
    for text in (rolled[0].message, s.history[-1].reason):
        assert all(part in text for part in (
            name, "value 0.31", "threshold 0.12", "samples 512"))
    assert s.history[-1].action == "RolledBack" and s.history[-1].version == "2"
    assert s.gates[0].verdict is F  # kept, so kubectl describe shows why
    # The spec still names version 2: nothing restarts until a retry or a new version.
    d = sim.tick(10)
    assert d.status.canary_version is None and d.status.phase is Phase.DEGRADED
    assert ramp.RETRY_ANNOTATION in d.status.message and d.events == ()


def test_a_rolled_back_model_stays_degraded_while_its_reference_does_not_resolve() -> None:
    """An MLflow blip after a rollback (the reference unresolved for a pass) flips neither the
    phase nor Ready: the last version it resolved to is still the rolled-back one."""
    sim = with_canary()
    sim.tick(1, verdicts={"latency": F})
    assert sim.status.phase is Phase.DEGRADED
    before = ready(sim.status)
    sim.desired = None
    d = sim.tick(1)
    assert d.status.phase is Phase.DEGRADED and ready(d.status) == before
    assert d.status.desired_version == "2" and d.events == ()
    sim.desired = "2"
    d = sim.tick(1)
    assert d.status.phase is Phase.DEGRADED and d.events == ()


def test_rollback_from_real_measurements() -> None:
    sim = with_canary(make_spec(gates=[{"name": "p95", "type": "latency"}]))
    bounds = (0.1, 0.2, 0.5, math.inf)
    slow = LatencyMeasurement(0.3, 800, 0.1, 9000, bucket_bounds=bounds,
                              canary_buckets=(100, 500, 800, 800),
                              stable_buckets=(8600, 9000, 9000, 9000))
    out = evaluate_gate(sim.spec.rollout.gates[0], slow, None, sim.now + dt.timedelta(minutes=1))
    d = sim.tick(1, outcomes=[out])
    assert d.status.aborted_version == "2"
    assert "canary p95 0.3s vs stable 0.1s" in d.status.history[-1].reason
    assert "harm shown" in d.status.history[-1].reason


def test_failure_limit_tolerates_fails_at_a_step() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 1}]))
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version == "2" and sim.reasons() == [Reason.GATE_FAILED]
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version is None and Reason.ROLLED_BACK in sim.reasons()


def gate_failed_messages(decision: Decision) -> list[str]:
    return [e.message for e in decision.events if e.reason is Reason.GATE_FAILED]


def test_a_fail_with_the_default_failure_limit_says_the_limit_was_exceeded() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}]))
    out = outcome("lat", F, sim.now + dt.timedelta(minutes=1), value=0.31, threshold=0.2,
                  samples=800)
    d = sim.tick(1, outcomes=[out])
    assert gate_failed_messages(d) == [
        "gate lat failed (1 failure, failureLimit 0 exceeded): value 0.31, threshold 0.2, "
        "samples 800 — lat said Fail"]
    assert not any("tolerated" in e.message for e in d.events)


def test_fails_within_a_failure_limit_say_so_until_it_is_exceeded() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 1}]))
    d = sim.tick(1, verdicts={"lat": F})
    assert gate_failed_messages(d) == [
        "gate lat failed (1 failure, within failureLimit 1): no value — lat said Fail"]
    d = sim.tick(1, verdicts={"lat": F})
    assert gate_failed_messages(d) == [
        "gate lat failed (2 failures, failureLimit 1 exceeded): no value — lat said Fail"]
    assert d.status.canary_version is None


def gate_errored_messages(decision: Decision) -> list[str]:
    return [e.message for e in decision.events if e.reason is Reason.GATE_ERRORED]


def test_a_first_error_is_read_against_the_consecutive_error_limit() -> None:
    # Filed under GateErrored, not GateFailed: an outage is not a Fail of the model.
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}]))
    d = sim.tick(1, verdicts={"lat": E})
    assert gate_errored_messages(d) == [
        "gate lat could not be measured (1 error in a row, within consecutiveErrorLimit 4): "
        "lat said Error"]
    assert gate_failed_messages(d) == []
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "consecutiveErrorLimit": 0}]))
    d = sim.tick(1, verdicts={"lat": E})
    assert gate_errored_messages(d) == [
        "gate lat could not be measured (1 error in a row, consecutiveErrorLimit 0 exceeded): "
        "lat said Error"]
    assert gate_failed_messages(d) == []


def test_consecutive_errors_roll_back_past_the_limit() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "consecutiveErrorLimit": 2}]))
    sim.tick(1, verdicts={"lat": E})
    sim.tick(1, verdicts={"lat": E})
    sim.tick(1, verdicts={"lat": INC})  # resets the streak
    sim.tick(1, verdicts={"lat": E})
    assert sim.tick(1, verdicts={"lat": E}).status.canary_version == "2"
    assert sim.tick(1, verdicts={"lat": E}).status.canary_version is None


def test_counters_reset_when_a_step_advances() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 1}]))
    sim.tick(1, verdicts={"lat": F})
    sim.tick(1, verdicts={"lat": P})
    assert sim.tick(3).status.current_step == 1
    d = sim.tick(1, verdicts={"lat": F})  # the first Fail at this step is tolerated again
    assert d.status.canary_version == "2" and d.status.gates[0].failures == 1


def test_manual_rollback_mode_pauses_instead() -> None:
    sim = with_canary(make_spec(rollback="Manual"))
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.canary_version == "2" and d.status.phase is Phase.PAUSED
    assert ready(d.status) == ("False", "RollbackPending")
    assert d.traffic == TrafficSplit("1", "2", 10)
    assert Reason.PAUSED in sim.reasons() and ramp.ABORT_ANNOTATION in d.status.message
    d = sim.passing(10)  # still paused: the failure stays counted at this step
    assert d.status.current_step == 0 and d.status.phase is Phase.PAUSED
    sim.request(ramp.ABORT_ANNOTATION, "2026-11-28T12:11")
    d = sim.tick(1)
    assert d.status.aborted_version == "2" and d.status.phase is Phase.DEGRADED
    assert sim.reasons() == [Reason.MANUAL_ABORT]
    assert d.status.history[-1].actor == "annotation uplift.dev/abort=2026-11-28T12:11"


# -- inconclusive, paused, deadline --------------------------------------------------------------

def test_inconclusive_holds_the_step() -> None:
    sim = with_canary()
    d = sim.tick(1, verdicts={"latency": INC})
    assert sim.reasons() == [Reason.GATE_INCONCLUSIVE]
    for _ in range(20):
        d = sim.tick(1, verdicts={"latency": INC})
    assert d.events == () and d.status.current_step == 0
    assert d.status.phase is Phase.PROGRESSING and d.status.gates[0].inconclusives == 21


def test_inconclusive_beyond_the_limit_pauses_until_promoted() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "inconclusiveLimit": 2}]))
    sim.tick(1, verdicts={"lat": INC})
    d = sim.tick(1, verdicts={"lat": INC})
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(1, verdicts={"lat": INC})
    assert d.status.phase is Phase.PAUSED and Reason.PAUSED in sim.reasons()
    assert ("paused: gate lat inconclusive (3 times, inconclusiveLimit 2 exceeded): "
            "lat said Inconclusive;") in d.status.message
    assert ready(d.status) == ("True", "StableServing")
    sim.request(ramp.PROMOTE_ANNOTATION, "step")
    d = sim.tick(1)
    assert d.status.current_step == 1 and d.status.phase is Phase.PROGRESSING
    assert Reason.RESUMED in sim.reasons()


def test_spec_paused_holds_but_a_failing_gate_still_rolls_back() -> None:
    paused = make_spec(paused=True)
    sim = with_canary(paused)
    assert sim.reasons(sim.log[-2]) == [Reason.CANARY_STARTED, Reason.PAUSED]
    d = sim.passing(10)
    # Held before any traffic: a paused rollout does not start the canary's first step.
    assert (d.status.current_step, d.status.canary_weight) == (0, 0)
    assert d.status.phase is Phase.PAUSED
    assert Reason.PAUSED not in sim.reasons()  # only on entering the pause
    sim.spec = make_spec()
    d = sim.tick(1)
    assert d.status.canary_weight == 10 and Reason.RESUMED in sim.reasons()
    sim.spec = paused
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.canary_version is None and d.status.aborted_version == "2"


def test_progress_deadline_degrades_without_rollback() -> None:
    sim = with_canary(make_spec(progressDeadline="10m"))
    d = sim.tick(15, verdicts={"latency": INC})  # could end at 5m; deadline at 15m: not past it
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(1, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED and d.status.canary_version == "2"
    assert d.status.message.startswith("ProgressDeadlineExceeded")
    assert Reason.PROGRESS_DEADLINE_EXCEEDED in sim.reasons()
    assert d.traffic == TrafficSplit("1", "2", 10)
    d = sim.tick(1, verdicts={"latency": INC})
    assert d.events == ()  # reported once per step
    assert sum(r.action == "ProgressDeadlineExceeded" for r in d.status.history) == 1
    d = sim.passing(1)  # the data finally decides: the ramp goes on
    assert d.status.current_step == 1 and d.status.phase is Phase.PROGRESSING


def test_progress_deadline_waits_for_the_online_effect_cohorts() -> None:
    # onlineEffect compares a step's decisions once their attribution window closed: a step
    # cannot be conclusive before, so the deadline runs from the later of that and the pause.
    spec = make_spec(progressDeadline="10m", gates=[
        {"name": "effect", "type": "onlineEffect", "margin": 0.01, "marginType": "absolute"}])
    spec = spec.model_copy(update={"experiment": spec.experiment.model_copy(
        update={"attribution_window": "30m"})})
    sim = with_canary(spec)
    d = sim.tick(39, verdicts={"effect": INC})  # the window closes at 30m: deadline at 40m
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(2, verdicts={"effect": INC})
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message.startswith("ProgressDeadlineExceeded")


def test_time_spent_paused_does_not_count_against_the_deadline() -> None:
    """Paused by hand for two hours, a step is not stuck when it resumes: the deadline runs
    from the resume (status.resumedAt), and still catches a step that stays stuck after it."""
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.tick(1, verdicts={"latency": INC})
    sim.spec = make_spec(progressDeadline="10m", paused=True)
    assert sim.tick(1, verdicts={"latency": INC}).status.phase is Phase.PAUSED
    sim.spec = make_spec(progressDeadline="10m")
    d = sim.tick(120)
    assert d.status.phase is Phase.PROGRESSING and d.status.resumed_at == sim.now
    assert Reason.PROGRESS_DEADLINE_EXCEEDED not in sim.reasons()
    resumed = sim.now
    d = sim.tick(9, verdicts={"latency": INC})
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(2, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED and sim.now > resumed + dt.timedelta(minutes=10)


def test_a_step_stuck_again_after_a_resume_is_said_exceeded_again() -> None:
    """Exceeded, paused by hand and resumed: the deadline runs again from the resume, and a
    step still stuck a deadline after it is a new exceedance, said and recorded once (the
    once-per-step check compared with the step's start, so it said nothing the second time)."""
    sim = with_canary(make_spec(progressDeadline="10m"))
    sim.tick(1, verdicts={"latency": INC})
    d = sim.tick(15, verdicts={"latency": INC})
    assert d.status.phase is Phase.DEGRADED and sim.reasons() == [Reason.PROGRESS_DEADLINE_EXCEEDED]
    sim.spec = make_spec(progressDeadline="10m", paused=True)
    assert sim.tick(1, verdicts={"latency": INC}).status.phase is Phase.PAUSED
    sim.spec = make_spec(progressDeadline="10m")
    d = sim.tick(1)
    resumed = sim.now
    assert d.status.phase is Phase.PROGRESSING and d.status.resumed_at == resumed
    d = sim.tick(9, verdicts={"latency": INC})
    assert d.status.phase is Phase.PROGRESSING
    said = [sim.tick(2, verdicts={"latency": INC}), sim.tick(1, verdicts={"latency": INC})]
    assert said[0].status.phase is Phase.DEGRADED
    assert [e.reason for d in said for e in d.events] == [Reason.PROGRESS_DEADLINE_EXCEEDED]
    assert f"since {resumed.isoformat()}, when the ramp resumed" in said[0].events[0].message
    records = [r for r in said[-1].status.history if r.action == "ProgressDeadlineExceeded"]
    assert len(records) == 2 and records[-1].time == sim.now - dt.timedelta(minutes=1)


def test_deadline_requeue_is_scheduled() -> None:
    sim = with_canary(make_spec(progressDeadline="10m", analysisInterval="30m",
                                steps=[(10, "30m")]))
    assert sim.log[-1].requeue_after == dt.timedelta(minutes=30)


def test_deadline_requeue_counts_from_when_the_gates_can_be_conclusive() -> None:
    """The deadline's pass is due where the deadline runs from (onlineEffect: once its first
    cohorts closed), not at the pause's end, which passed long before."""
    spec = make_spec(progressDeadline="10m", analysisInterval="30m", steps=[(10, "5m")],
                     gates=[{"name": "effect", "type": "onlineEffect", "margin": 0.01,
                             "marginType": "absolute"}])
    spec = spec.model_copy(update={"experiment": spec.experiment.model_copy(
        update={"attribution_window": "1h"})})
    sim = with_canary(spec)
    d = sim.tick(30, verdicts={"effect": INC})
    assert d.requeue_after == dt.timedelta(minutes=30)  # the next analysis; deadline at 70m


@pytest.mark.parametrize("case", ["no pause", "inconclusiveLimit", "paused", "window"])
def test_a_deadline_that_passed_unexceeded_never_requeues_every_second(case: str) -> None:
    """A step past its pause + progressDeadline that is not declared stuck (it waits for a
    promote, is paused, or its gates cannot be conclusive yet) runs its next pass at the next
    analysis, not every second."""
    gates: list[dict[str, Any]] | None = None
    steps: list[tuple[int, str | None]] = [(10, "5m"), (50, "5m")]
    rollout: dict[str, Any] = {}
    verdict = P
    if case == "no pause":
        steps = [(10, None), (50, "5m")]
    elif case == "inconclusiveLimit":
        gates, verdict = [{"name": "latency", "type": "latency", "inconclusiveLimit": 1}], INC
    elif case == "paused":
        rollout = {"paused": True}
    else:
        gates, verdict = [{"name": "latency", "type": "onlineEffect", "margin": 0.01,
                           "marginType": "absolute"}], INC
    sim = with_canary(make_spec(progressDeadline="10m", steps=steps, gates=gates, **rollout))
    sim.tick(1, verdicts={"latency": verdict})
    for minutes in (30, 0.5):
        d = sim.tick(minutes, verdicts={"latency": verdict} if minutes >= 1 else None)
        assert d.status.phase is not Phase.DEGRADED
        assert d.requeue_after is not None and d.requeue_after >= dt.timedelta(seconds=30)


# -- versions changing under the ramp ------------------------------------------------------------

def test_newer_version_replaces_the_canary_and_restarts() -> None:
    sim = with_canary()
    sim.passing(5)
    assert sim.status.canary_weight == 25
    sim.desired = "3"
    d = sim.passing(1)  # outcomes measured version 2: not applied to version 3
    s = d.status
    assert (s.canary_version, s.current_step, s.canary_weight, s.gates) == ("3", 0, 0, [])
    assert sim.reasons() == [Reason.CANARY_REPLACED]
    assert s.history[-1].reason == "replaces canary 2"


def test_spec_back_at_stable_removes_the_canary() -> None:
    sim = with_canary()
    sim.desired = "1"
    d = sim.tick(1)
    assert d.status.canary_version is None and d.status.aborted_version is None
    assert d.status.phase is Phase.HEALTHY and sim.reasons() == [Reason.ROLLED_BACK]


def test_stale_analysis_is_not_applied_twice() -> None:
    sim = with_canary()
    when = sim.now + dt.timedelta(minutes=1)
    sim.tick(1, outcomes=[outcome("latency", F, when - dt.timedelta(minutes=2))])
    assert sim.status.canary_version == "2"  # measured before the canary: ignored
    first = sim.tick(0, outcomes=[outcome("latency", INC, when)])
    assert first.status.gates[0].inconclusives == 1
    again = sim.tick(0, outcomes=[outcome("latency", INC, when)])
    assert again.status.gates[0].inconclusives == 1
    assert again.status == first.status


# -- manual requests -----------------------------------------------------------------------------

def test_promote_full_skips_the_remaining_steps() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.canary_version) == ("2", None)
    assert sim.reasons() == [Reason.MANUAL_PROMOTE, Reason.PROMOTED]
    assert d.status.handled_requests == {ramp.PROMOTE_ANNOTATION: "full"}


def test_a_request_is_acted_on_once_per_token() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "step:a")
    assert sim.tick(1).status.current_step == 1
    assert sim.tick(1).status.current_step == 1  # same token: done already
    sim.request(ramp.PROMOTE_ANNOTATION, "step:b")
    assert sim.tick(1).status.current_step == 2


def test_promote_at_the_last_step_promotes() -> None:
    sim = with_canary(make_spec(steps=[(50, None)]))
    sim.request(ramp.PROMOTE_ANNOTATION, "step")
    assert sim.tick(1).status.stable_version == "2"


def test_a_one_step_promote_before_any_traffic_starts_the_traffic_on_any_ramp() -> None:
    """In the pre-traffic analysis the next step is the first one, also on a one-step ramp:
    the canary is not made stable before it served a request."""
    sim = with_canary(make_spec(steps=[(50, "5m")], gates=[{"name": "qini", "type": "qini"}]))
    assert sim.status.canary_weight == 0
    sim.request(ramp.PROMOTE_ANNOTATION, "step")
    d = sim.tick(0.1)
    assert (d.status.stable_version, d.status.canary_version) == ("1", "2")
    assert d.status.canary_weight == 50
    assert sim.reasons() == [Reason.MANUAL_PROMOTE, Reason.TRAFFIC_STARTED]


def test_traffic_started_by_hand_is_recorded_as_the_humans_with_the_gates_not_passed() -> None:
    """The audit trail of a one-step promote before any traffic names who moved the traffic
    and why: not the operator, nor "offline gates passed" of a gate that had failed."""
    sim = with_canary(make_spec(gates=[{"name": "qini", "type": "qini"},
                                       {"name": "latency", "type": "latency"}],
                                rollback="Manual"))
    sim.tick(1, verdicts={"qini": F})
    assert sim.status.phase is Phase.PAUSED and sim.status.canary_weight == 0
    sim.request(ramp.PROMOTE_ANNOTATION, "step:alice-1")
    d = sim.tick(1)
    assert d.status.canary_weight == 10
    entry = d.status.history[-1]
    why = "promoted by hand before any traffic; offline gates not passed: qini Fail"
    assert (entry.action, entry.version, entry.actor, entry.reason) == (
        "TrafficStarted", "2", "annotation uplift.dev/promote=step:alice-1", why)
    [event] = [e for e in d.events if e.reason is Reason.TRAFFIC_STARTED]
    assert event.message == f"canary 2 at step 1/3 (10%) ({why})"
    # Before its offline gate was judged at all: said so.
    sim = with_canary(make_spec(gates=[{"name": "qini", "type": "qini"}]))
    sim.request(ramp.PROMOTE_ANNOTATION, "step:bob-1")
    d = sim.tick(0.1)
    assert (d.status.history[-1].actor, d.status.history[-1].reason) == (
        "annotation uplift.dev/promote=step:bob-1", "promoted by hand before any traffic; "
        "offline gates not passed: qini not judged yet")
    # Traffic started by the operator says so, as before.
    sim = with_canary(make_spec(gates=[{"name": "qini", "type": "qini"}]))
    d = sim.tick(0.1, verdicts={"qini": P})
    assert (d.status.history[-1].actor, d.status.history[-1].reason) == (
        "operator", "canary serves; offline gates passed before any traffic")


@pytest.mark.parametrize("mode", ["full", "step"])
def test_a_promote_of_a_canary_that_does_not_serve_is_refused(mode: str) -> None:
    """Promoting a canary whose pods do not serve would take traffic off the stable version
    that does: refused with a Warning, the graph as it was; a new token once it serves works."""
    sim = with_canary(make_spec(steps=[(10, "5m")]))
    sim.canary_ready = False
    sim.tick(1)
    sim.request(ramp.PROMOTE_ANNOTATION, f"{mode}:a")
    d = sim.tick(0.1)
    assert (d.status.stable_version, d.status.canary_version) == ("1", "2")
    assert d.traffic == TrafficSplit("1", "2", 10)
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.MANUAL_PROMOTE)]
    assert "does not serve" in d.events[0].message
    sim.canary_ready = True
    sim.request(ramp.PROMOTE_ANNOTATION, f"{mode}:b")
    assert sim.tick(0.1).status.stable_version == "2"


def test_requests_without_a_canary_are_recorded_and_ignored() -> None:
    sim = Sim(make_spec())
    sim.tick()
    sim.request(ramp.PROMOTE_ANNOTATION, "step")
    d = sim.tick(1)
    assert sim.reasons() == [Reason.MANUAL_PROMOTE] and d.events[0].type == "Warning"
    assert "ignored" in d.status.history[-1].reason
    sim.request(ramp.ABORT_ANNOTATION, "x")
    assert sim.tick(1).events[0].reason is Reason.MANUAL_ABORT


def test_several_requests_are_taken_in_one_pass_by_priority() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.request(ramp.ABORT_ANNOTATION, "x")
    d = sim.tick(1)
    assert sim.reasons() == [Reason.MANUAL_ABORT, Reason.MANUAL_PROMOTE]
    assert d.status.stable_version == "1" and d.status.aborted_version == "2"
    # Stopping wins: the promote pending with the abort is superseded by it.
    assert d.status.history[-1].reason.startswith(
        "ignored: superseded by the abort (uplift.dev/abort=x) handled in the same pass")
    assert d.status.handled_requests == {ramp.PROMOTE_ANNOTATION: "full",
                                         ramp.ABORT_ANNOTATION: "x"}


def test_retry_restarts_an_aborted_version_at_step_one() -> None:
    sim = with_canary()
    sim.passing(5)
    sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert sim.status.aborted_version == "2"
    sim.request(ramp.RETRY_ANNOTATION, "1")
    d = sim.tick(30)
    s = d.status
    assert (s.aborted_version, s.canary_version, s.current_step, s.canary_weight) == (
        None, "2", 0, 0)  # redeployed: traffic once it serves
    assert sim.reasons() == [Reason.RETRY] and s.phase is Phase.PROGRESSING
    assert s.history[-1].actor == "annotation uplift.dev/retry=1"


def test_a_new_version_after_a_rollback_starts_without_retry() -> None:
    sim = with_canary()
    sim.tick(1, verdicts={"latency": F, "shadow": P})
    sim.desired = "3"
    d = sim.tick(1)
    assert d.status.canary_version == "3" and d.status.aborted_version is None


def test_emergency_rollback_aborts_a_canary() -> None:
    sim = with_canary()
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert sim.reasons() == [Reason.EMERGENCY_ROLLBACK]


def test_emergency_rollback_restores_the_previous_stable_at_once() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    assert (sim.status.stable_version, sim.status.previous_stable_version) == ("2", "1")
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    s = d.status
    assert (s.stable_version, s.canary_version, s.emergency_rolled_back_version) == (
        "1", None, "2")
    assert s.aborted_version is None  # no canary was rolled back
    assert d.traffic == TrafficSplit("1", None, 0) and s.phase is Phase.DEGRADED
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "again")
    d = sim.tick(1)  # no flipping back to the bad version
    assert d.status.stable_version == "1" and d.events[0].type == "Warning"


def test_an_emergency_rollback_keeps_the_replaced_stable_serving_until_the_restored_one_does(
        ) -> None:
    """The previous stable's predictor left at the promotion: created again, it serves only
    after its pods start. Until then the replaced version keeps the traffic (weight 100 on
    it), then it stays at weight 0 for scaleDownDelay from ``StableRestored``, as a
    rolled-back canary does from its rollback."""
    spec = make_spec()
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = with_canary(spec)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert d.traffic == TrafficSplit("1", "2", 100)
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100) and d.events == ()
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 0)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.status.history[-1].action == "StableRestored"
    sim.ready_versions = frozenset({"2"})  # the restored one flaps: no traffic back to 2
    assert sim.tick(0.5).traffic == TrafficSplit("1", "2", 0)
    # 10 minutes from StableRestored, not from the rollback a minute before it.
    assert sim.tick(9.4).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(0.1).traffic == TrafficSplit("1", None, 0)


def test_unknown_promote_mode_is_an_unrecognised_request() -> None:
    [unknown] = ramp.parse_requests({ramp.PROMOTE_ANNOTATION: "everything"})
    assert unknown.kind is ramp.RequestKind.UNRECOGNISED
    assert unknown.problem.startswith("'everything' is not a promote mode: use step or full")
    found = ramp.parse_requests({ramp.PROMOTE_ANNOTATION: "full:7", ramp.RETRY_ANNOTATION: "2"})
    assert [r.kind for r in found] == [ramp.RequestKind.PROMOTE_FULL, ramp.RequestKind.RETRY]
    [empty] = ramp.parse_requests({ramp.ABORT_ANNOTATION: " "})
    assert empty.kind is ramp.RequestKind.UNRECOGNISED and "empty value" in empty.problem


@pytest.mark.parametrize(("key", "value"), [(ramp.PROMOTE_ANNOTATION, "true"),
                                            (ramp.PROMOTE_ANNOTATION, "yes please"),
                                            (ramp.ABORT_ANNOTATION, "")])
def test_an_unrecognised_request_is_a_warning_and_a_history_entry_once(key: str,
                                                                         value: str) -> None:
    sim = with_canary()
    before = sim.status.model_copy()
    sim.request(key, value)
    d = sim.tick(0.1)
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.UNRECOGNISED_REQUEST)]
    assert f"annotation {key}={value} ignored: " in d.events[0].message
    entry = d.status.history[-1]
    assert (entry.action, entry.actor) == ("UnrecognisedRequest", f"annotation {key}={value}")
    # Nothing else was done: the ramp stands where it stood.
    s = d.status
    assert (s.canary_version, s.canary_weight, s.current_step, s.phase) == (
        before.canary_version, before.canary_weight, before.current_step, before.phase)
    assert s.handled_requests[key] == value
    assert sim.tick(0.1).events == ()  # said once per value


def test_a_long_request_value_is_clipped_in_the_history() -> None:
    sim = with_canary()
    sim.request(ramp.ABORT_ANNOTATION, "x" * 5000)
    d = sim.tick(0.1)
    assert d.status.canary_version is None  # any non-empty token aborts
    assert len(d.status.history[-1].actor) < 100
    sim.request(ramp.PROMOTE_ANNOTATION, "y" * 5000)
    assert sim.tick(0.1).status.history[-1].action == "UnrecognisedRequest"


# -- bookkeeping ---------------------------------------------------------------------------------

def test_history_keeps_the_newest_twenty() -> None:
    sim = with_canary(make_spec(steps=[(10, None)]))
    for k in range(30):
        sim.desired = str(3 + k)
        sim.tick(1)
    history = sim.status.history
    assert len(history) == ramp.HISTORY_LIMIT and history[-1].version == "32"


def test_scale_down_delay_keeps_the_rolled_back_canary_at_weight_zero() -> None:
    spec = make_spec().model_copy(update={"rollback": make_spec().rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = with_canary(spec)
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.traffic == TrafficSplit("1", "2", 0) and d.requeue_after == dt.timedelta(minutes=10)
    assert sim.tick(10).traffic == TrafficSplit("1", None, 0)


@pytest.mark.parametrize(("canary", "step_start", "last", "now_min", "due"), [
    (None, None, None, 5, False),
    ("2", 0, None, 0.5, False),
    ("2", 0, None, 1, True),
    ("2", 0, 3, 3.5, False),
    ("2", 0, 3, 4, True),
    ("2", 5, 3, 5.5, False),  # a new step waits one interval for data at its weight
])
def test_analysis_due(canary: str | None, step_start: float | None, last: float | None,
                      now_min: float, due: bool) -> None:
    def at(m: float | None) -> dt.datetime | None:
        return None if m is None else T0 + dt.timedelta(minutes=m)
    status = UpliftModelStatus(canary_version=canary, step_started_at=at(step_start),
                               last_analysis_at=at(last), canary_weight=10 if canary else 0)
    assert ramp.analysis_due(make_spec(), status, T0 + dt.timedelta(minutes=now_min)) is due


# -- properties ----------------------------------------------------------------------------------

ACTIONS = st.one_of(
    st.tuples(st.just("tick"), st.floats(0, 7),
              st.sampled_from([None, P, P, P, INC, E, F])),
    st.tuples(st.just("request"), st.sampled_from([
        (ramp.PROMOTE_ANNOTATION, "step"), (ramp.PROMOTE_ANNOTATION, "full"),
        (ramp.ABORT_ANNOTATION, ""), (ramp.RETRY_ANNOTATION, ""),
        (ramp.EMERGENCY_ROLLBACK_ANNOTATION, "")]), st.none()),
    st.tuples(st.just("version"), st.sampled_from(["1", "2", "3", "4"]), st.none()),
    st.tuples(st.just("pause"), st.booleans(), st.none()),
)
RESTARTS = {Reason.CANARY_STARTED, Reason.CANARY_REPLACED, Reason.RETRY}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, min_size=1, max_size=25))
def test_weights_never_go_back_or_skip_within_a_ramp(actions: list[Any]) -> None:
    steps = [(5, "2m"), (20, "2m"), (40, None), (70, "2m")]
    gates = [{"name": "lat", "type": "latency", "failureLimit": 1, "inconclusiveLimit": 3}]
    sim = with_canary(make_spec(steps=steps, gates=gates))
    for n, (kind, arg, verdict) in enumerate(actions):
        before = sim.status
        if kind == "tick":
            sim.tick(arg, verdicts=None if verdict is None else {"lat": verdict})
        elif kind == "request":
            key, mode = arg
            sim.request(key, f"{mode}:{n}" if mode else str(n))
            sim.tick(0.5)
        elif kind == "version":
            sim.desired = arg
            sim.tick(0.5)
        else:
            sim.spec = make_spec(steps=steps, gates=gates, paused=arg)
            sim.tick(0.5)
        after, reasons = sim.status, set(sim.reasons())
        if after.canary_version is not None:
            step = after.current_step
            assert step is not None
            # Weight 0 only before the first step's traffic starts.
            assert after.canary_weight in ((0, sim.spec.rollout.steps[0].weight) if step == 0
                                           else (sim.spec.rollout.steps[step].weight,))
        same_ramp = (before.canary_version is not None
                     and after.canary_version == before.canary_version and not reasons & RESTARTS)
        if same_ramp:
            assert before.current_step is not None and after.current_step is not None
            assert after.current_step - before.current_step in (0, 1)
            assert after.canary_weight >= before.canary_weight
        assert len(after.history) <= ramp.HISTORY_LIMIT
        assert cond.find(after.conditions, cond.READY) is not None


# -- offline gates before traffic ------------------------------------------------------------------

def test_a_ramp_whose_only_gates_are_offline_goes_through_its_steps_after_they_passed() -> None:
    """Once the offline gates passed before traffic, an analysis has nothing to measure (the
    operator hands in no outcomes): each step still gets its analysis, and ends after its
    pause, instead of waiting for one forever."""
    spec = make_spec(gates=[{"name": "qini", "type": "qini"}], progressDeadline="30m")
    sim = with_canary(spec)
    d = sim.tick(0.1, verdicts={"qini": P})
    assert d.status.canary_weight == 10
    weights = []
    for _ in range(3):
        due = ramp.analysis_due(spec, sim.status, sim.now + dt.timedelta(minutes=10))
        assert due and ramp.gates_to_measure(spec, sim.status) == []
        d = sim.tick(10, outcomes=[])
        weights.append(d.status.canary_weight)
        assert d.requeue_after is None or d.requeue_after >= dt.timedelta(seconds=30)
    assert weights == [25, 50, 0] and sim.status.stable_version == "2"


def _qini_spec() -> UpliftModelSpec:
    return make_spec(gates=[{"name": "qini", "type": "qini"}, {"name": "lat", "type": "latency"}])


def test_offline_gates_are_judged_before_any_traffic() -> None:
    sim = with_canary(_qini_spec())
    s = sim.status
    assert (s.canary_weight, s.current_step) == (0, 0)
    assert sim.log[-1].traffic == TrafficSplit("1", "2", 0)
    assert ramp.analysis_due(sim.spec, s, sim.now)  # at once, no traffic to wait for
    assert [g.name for g in ramp.gates_to_measure(sim.spec, s)] == ["qini"]
    d = sim.tick(0.1, verdicts={"qini": P})
    assert d.status.canary_weight == 10 and Reason.TRAFFIC_STARTED in sim.reasons()
    assert d.traffic == TrafficSplit("1", "2", 10)
    # On the ramp the passed offline gate is not measured again; the others are.
    assert [g.name for g in ramp.gates_to_measure(sim.spec, d.status)] == ["lat"]


def test_a_failing_offline_gate_never_gets_a_request() -> None:
    sim = with_canary(_qini_spec())
    d = sim.tick(0.1, verdicts={"qini": F})
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert all(entry.weight == 0 for entry in d.status.history if entry.version == "2")
    assert all(dec.traffic is None or dec.traffic.canary_weight == 0 for dec in sim.log)


def test_on_last_step_says_when_the_next_pass_promotes() -> None:
    spec = make_spec()
    steps = len(spec.rollout.steps)
    status = UpliftModelStatus(stable_version="1", canary_version="2", current_step=0)
    assert steps == 3 and not ramp.on_last_step(spec, status)
    last = status.model_copy(update={"current_step": steps - 1})
    assert ramp.on_last_step(spec, last)
    # Steps removed mid-ramp: an index beyond them is the last step, as the ramp clamps it.
    assert ramp.on_last_step(spec, status.model_copy(update={"current_step": steps + 2}))
    assert not ramp.on_last_step(spec, last.model_copy(update={"canary_version": None}))
