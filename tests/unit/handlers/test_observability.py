"""The operator's own metrics: the last-pass gauge (set when a pass completes, to when it began),
a Campaign's results with their bounds; every series dropped on delete."""

from __future__ import annotations

import datetime as dt
import time
from functools import partial
from typing import Any

import pytest

from uplift_operator.handlers import observability


def _last_pass(namespace: str, name: str) -> float | None:
    value = observability.REGISTRY.get_sample_value(
        "uplift_operator_last_pass_timestamp_seconds",
        {"kind": "UpliftModel", "namespace": namespace, "name": name})
    return value


def test_a_completed_pass_records_when_it_began() -> None:
    before = time.time()
    with observability.reconciling("UpliftModel", "ns", "ok-model"):
        began_inside = time.time()
    value = _last_pass("ns", "ok-model")
    assert value is not None and before <= value <= began_inside


def test_a_failed_pass_records_nothing_and_delete_forgets() -> None:
    with pytest.raises(RuntimeError), observability.reconciling("UpliftModel", "ns", "bad-model"):
        raise RuntimeError("boom")
    assert _last_pass("ns", "bad-model") is None
    with observability.reconciling("UpliftModel", "ns", "gone-model"):
        pass
    observability.forget("UpliftModel", "ns", "gone-model")
    assert _last_pass("ns", "gone-model") is None


def _observe_campaign(namespace: str, name: str, status: dict[str, Any]) -> None:
    """A Campaign's results and budget series (none of its gates measured)."""
    observability.observe_campaign(namespace, name, status, measured={})


def _campaign(metric: str, name: str, bound: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        f"uplift_operator_campaign_{metric}", {"namespace": "ns", "name": name, "bound": bound})


def test_a_campaigns_roi_and_incremental_results_are_exported_with_their_bounds() -> None:
    _observe_campaign("ns", "spring", {
        "phase": "Progressing", "treatedUnits": 2000, "holdoutUnits": 500,
        "roi": {"estimate": 0.8, "lower": 0.1, "upper": 1.5, "display": "+0.8 [+0.1, +1.5]"},
        "incrementalEffect": {"estimate": 0.02, "lower": 0.005, "upper": 0.035},
        "incrementalConversions": {"estimate": 24.0, "lower": 6.0, "upper": 42.0}})
    assert [_campaign("roi", "spring", b) for b in ("estimate", "lower", "upper")] == [0.8, 0.1, 1.5]
    assert [_campaign("incremental_effect", "spring", b)
            for b in ("estimate", "lower", "upper")] == [0.02, 0.005, 0.035]
    # The gate's own cohorts' count (1,200 treated-arm decisions here), not the rate times
    # treatedUnits (every version's decisions since the ramp started: 40 [10, 70]).
    assert [_campaign("incremental_conversions", "spring", b)
            for b in ("estimate", "lower", "upper")] == [24.0, 6.0, 42.0]


def test_a_campaign_without_results_or_units_has_no_result_series() -> None:
    _observe_campaign("ns", "fresh", {
        "phase": "Progressing", "roi": {"estimate": -0.2}, "treatedUnits": 5000,
        "incrementalEffect": {"estimate": 0.01, "lower": -0.01, "upper": 0.03}})
    assert _campaign("roi", "fresh", "estimate") == -0.2
    assert _campaign("roi", "fresh", "lower") is None  # a bound the status lacks
    assert _campaign("incremental_effect", "fresh", "estimate") == 0.01
    # No count of the gate's cohorts in status: no conversions, not the rate x treatedUnits.
    assert _campaign("incremental_conversions", "fresh", "estimate") is None
    # Results that leave the status (a new ramp) leave the metrics too.
    _observe_campaign("ns", "fresh", {"phase": "Progressing"})
    assert _campaign("roi", "fresh", "estimate") is None
    assert _campaign("incremental_effect", "fresh", "upper") is None


def _spend(name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_budget_spend", {"namespace": "ns", "name": name})


def test_a_campaigns_budget_spend_is_exported_only_with_a_budget_gate() -> None:
    _observe_campaign("ns", "thrifty", {"phase": "Progressing", "spend": 120.5,
                                                     "budgetRemaining": 79.5})
    assert _spend("thrifty") == 120.5
    _observe_campaign("ns", "thrifty", {"phase": "Progressing", "spend": 0,
                                                     "budgetRemaining": 200})
    assert _spend("thrifty") == 0.0  # a new period: measured at 0, not absent
    # The budget gate removed from the spec: its status fields go, and the series with them.
    _observe_campaign("ns", "thrifty", {"phase": "Progressing", "spend": 0})
    assert _spend("thrifty") is None


def _shared(name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_holdout_shared", {"namespace": "ns", "name": name})


def test_a_campaign_sharing_its_holdout_draw_is_exported_while_its_condition_is_true() -> None:
    def status(shared: str | None) -> dict[str, Any]:
        conditions = [{"type": "Ready", "status": "True", "reason": "Progressing"}]
        if shared is not None:
            conditions.append({"type": "HoldoutShared", "status": shared,
                               "reason": "SaltShared" if shared == "True" else "SaltNotShared"})
        return {"phase": "Progressing", "conditions": conditions}

    _observe_campaign("ns", "twin", status(None))
    assert _shared("twin") == 0.0  # never shared
    _observe_campaign("ns", "twin", status("True"))
    assert _shared("twin") == 1.0
    _observe_campaign("ns", "twin", status("False"))
    assert _shared("twin") == 0.0  # alone again


def test_a_deleted_campaigns_series_are_forgotten() -> None:
    _observe_campaign("ns", "gone", {
        "conditions": [{"type": "HoldoutShared", "status": "True", "reason": "SaltShared"}],
        "phase": "Completed", "treatedUnits": 10, "spend": 3.0, "budgetRemaining": 7.0,
        "roi": {"estimate": 1.0, "lower": 0.5, "upper": 1.5},
        "incrementalEffect": {"estimate": 0.1, "lower": 0.05, "upper": 0.15},
        "incrementalConversions": {"estimate": 1.0, "lower": 0.5, "upper": 1.5}})
    observability.forget("Campaign", "ns", "gone")
    for metric in ("roi", "incremental_effect", "incremental_conversions"):
        for bound in ("estimate", "lower", "upper"):
            assert _campaign(metric, "gone", bound) is None, (metric, bound)
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_budget_exhausted", {"namespace": "ns", "name": "gone"}) is None
    assert _spend("gone") is None
    assert _shared("gone") is None


def _sample(metric: str, labels: dict[str, str]) -> float | None:
    """The value of ``metric``'s one series with ``labels``, whatever its gate's ``type`` (of
    which there is one at most: a type that changed leaves no series behind), or None."""
    found = [s.value for family in observability.REGISTRY.collect() for s in family.samples
             if s.name == metric and {k: v for k, v in s.labels.items() if k != "type"} == labels]
    assert len(found) <= 1, (metric, labels, found)
    return found[0] if found else None


def _gate(name: str, gate: str, what: str, kind: str = "UpliftModel") -> float | None:
    labels = {"kind": kind, "namespace": "ns", "name": name, "gate": gate}
    if what in ("Pass", "Fail", "Inconclusive", "Error"):
        return _sample("uplift_operator_gate_verdict", {**labels, "verdict": what})
    return _sample("uplift_operator_gate_value", {**labels, "bound": what})


def _types(name: str, kind: str = "UpliftModel") -> dict[str, set[str]]:
    """Each per-gate series of the resource as ``metric:gate:type``, by metric."""
    found: dict[str, set[str]] = {}
    for family in observability.REGISTRY.collect():
        for s in family.samples:
            if (s.name.startswith("uplift_operator_gate_") and s.labels.get("kind") == kind
                    and s.labels.get("namespace") == "ns" and s.labels.get("name") == name):
                found.setdefault(s.name, set()).add(f"{s.labels['gate']}:{s.labels['type']}")
    return found


def test_a_models_gate_weight_and_decision_series_leave_with_it() -> None:
    status = {"canaryWeight": 25, "gates": [
        {"name": "errors", "verdict": "Pass", "value": 0.9, "upper": 1.1},
        {"name": "drift", "verdict": "Inconclusive", "value": 0.02, "upper": 0.3}]}
    observability.observe_rollout("ns", "m", status, measured={"errors": "errorRate", "drift": "drift"})
    observability.count_decisions("UpliftModel", "ns", "m", ["StepAdvanced"])
    observability.count_decisions("Campaign", "ns", "m", ["StepAdvanced"])  # same name, other kind
    assert _gate("m", "errors", "Pass") == 1 and _gate("m", "drift", "upper") == 0.3
    # A gate that leaves the spec leaves the metrics; a bound the status no longer has, too.
    observability.observe_rollout("ns", "m", {"canaryWeight": 25, "gates": [
        {"name": "errors", "verdict": "Pass", "value": 0.95}]},
        measured={"errors": "errorRate", "drift": "drift"})
    assert _gate("m", "drift", "Inconclusive") is None and _gate("m", "drift", "upper") is None
    assert _gate("m", "errors", "value") == 0.95 and _gate("m", "errors", "upper") is None
    observability.forget("UpliftModel", "ns", "m")
    assert _gate("m", "errors", "Pass") is None and _gate("m", "errors", "value") is None
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_canary_weight", {"namespace": "ns", "name": "m"}) is None

    def decisions(kind: str) -> float | None:
        return observability.REGISTRY.get_sample_value(
            "uplift_operator_decisions_total",
            {"kind": kind, "namespace": "ns", "name": "m", "action": "StepAdvanced"})

    assert decisions("UpliftModel") is None and decisions("Campaign") == 1
    observability.forget("Campaign", "ns", "m")
    assert decisions("Campaign") is None


#: A Campaign with a roi gate and a budget gate (only the budget gate is measured once its ramp
#: completed).
CAMPAIGN_SPEC: dict[str, Any] = {
    "modelRef": {"name": "m"}, "treatments": [{"name": "t"}],
    "experiment": {"holdoutFraction": 0.1, "unitKey": "u", "salt": "s"},
    "economics": {"valuePerConversion": 1, "costPerTreatment": 0.1, "budget": 500},
    "exposure": {"steps": [{"percent": 5, "pause": "1h"}, {"percent": 100}],
                 "gates": [{"name": "roi", "type": "roi", "min": 0},
                           {"name": "budget", "type": "budget"}]}}


def test_a_campaigns_gates_are_exported_only_while_its_analyses_measure_them() -> None:
    """A ramp completed by hand while a gate was in Error keeps that verdict in status, and no
    analysis measures the gate again: its series leave (UpliftGateErroring clears), the budget
    gate's stay; a ramp ended (rolled back, withdrawn by its schedule) or an invalid spec
    measures none."""
    from uplift_operator.handlers import campaign

    observe: Any = campaign._observe
    gates = [{"name": "roi", "verdict": "Error", "message": "measurement failed: bad query"},
             {"name": "budget", "verdict": "Error", "message": "measurement failed: timeout"}]
    observe("ns", "done", {"phase": "Progressing", "currentStep": 1, "exposurePercent": 25,
                           "gates": gates}, CAMPAIGN_SPEC)
    assert _gate("done", "roi", "Error", kind="Campaign") == 1
    assert _gate("done", "budget", "Error", kind="Campaign") == 1
    completed = {"phase": "Healthy", "exposurePercent": 100, "gates": gates}
    observe("ns", "done", completed, CAMPAIGN_SPEC)
    assert _gate("done", "roi", "Error", kind="Campaign") is None
    assert _gate("done", "budget", "Error", kind="Campaign") == 1  # still measured
    suspended = {"phase": "Suspended", "exposurePercent": 0, "suspendedExposurePercent": 100,
                 "gates": gates}
    observe("ns", "done", suspended, CAMPAIGN_SPEC)  # by its budget: the budget gate measured
    assert _gate("done", "budget", "Error", kind="Campaign") == 1
    assert _gate("done", "roi", "Error", kind="Campaign") is None
    for ended in ({"phase": "Suspended", "exposurePercent": 0, "gates": gates},  # its schedule
                  {"phase": "Degraded", "exposurePercent": 0, "gates": gates},  # a rollback
                  {"phase": "Degraded", "currentStep": 1, "exposurePercent": 25, "gates": gates,
                   "conditions": [{"type": "InvalidSpec", "status": "True"}]}):
        observe("ns", "done", ended, CAMPAIGN_SPEC)
        assert _gate("done", "budget", "Error", kind="Campaign") is None, ended
        assert _gate("done", "roi", "Error", kind="Campaign") is None, ended
    observe("ns", "done", completed, {"exposure": "not a spec"})  # as refused: nothing measured
    assert _gate("done", "budget", "Error", kind="Campaign") is None
    observability.forget("Campaign", "ns", "done")


#: An UpliftModel with an offline gate (qini, judged before traffic) and two online ones.
MODEL_SPEC: dict[str, Any] = {
    "model": {"registeredModel": "hillstrom", "alias": "champion"},
    "treatments": [{"name": "email"}],
    "rollout": {"steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "2m"}],
                "gates": [{"name": "qini", "type": "qini"},
                          {"name": "drift", "type": "drift"},
                          {"name": "latency", "type": "custom", "query": "up", "max": 1.0}]}}
#: The stuck rule's phase (``domain.stuck``): the canary's serving change refused for 5 minutes.
STUCK = {"phase": "Degraded", "message": "ServingApplied False (ApplyFailed) since "
                                         "2024-05-01T10:00:00Z: admission webhook denied"}
T = "2024-05-01T10:00:00Z"


def test_a_models_gates_are_exported_while_its_canary_measures_them_whatever_the_phase() -> None:
    """The gate alerts read "measured" from the gate series alone: a canary still analysed while
    the stuck rule publishes Degraded exports its Error and Fail; a canary rolled back or
    promoted, whose status keeps the last verdicts, exports none; before traffic only the
    offline gates are measured, on the ramp the others and an offline gate not passed."""
    from uplift_operator.handlers import upliftmodel

    observe: Any = upliftmodel._observe
    gates: list[dict[str, Any]] = [{"name": "qini", "verdict": "Pass", "time": T, "value": 0.1},
                                   {"name": "drift", "verdict": "Fail", "time": T, "value": 0.4},
                                   {"name": "latency", "verdict": "Error", "time": T,
                                    "message": "measurement failed: bad query"}]
    canary = {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10, "currentStep": 0}
    observe("ns", "stuck", {**STUCK, **canary, "gates": gates}, MODEL_SPEC)
    assert _gate("stuck", "latency", "Error") == 1
    assert _gate("stuck", "drift", "Fail") == 1
    assert _gate("stuck", "qini", "Pass") is None  # passed before traffic: not measured again
    observe("ns", "stuck", {**STUCK, **canary, "phase": "Progressing", "gates": gates},
            MODEL_SPEC)  # the same canary, its serving change applied: the same series
    assert _gate("stuck", "latency", "Error") == 1 and _gate("stuck", "drift", "Fail") == 1
    earlier = [{**gates[0], "settingsDigest": "0" * 16}, *gates[1:]]  # other qini settings
    observe("ns", "stuck", {**STUCK, **canary, "gates": earlier}, MODEL_SPEC)
    assert _gate("stuck", "qini", "Pass") == 1  # its Pass no longer counts: measured again
    pre_traffic = {**canary, "canaryWeight": 0, "phase": "Progressing",
                   "gates": [{**gates[0], "verdict": "Error"}, gates[2]]}
    observe("ns", "stuck", pre_traffic, MODEL_SPEC)
    assert _gate("stuck", "qini", "Error") == 1
    assert _gate("stuck", "latency", "Error") is None and _gate("stuck", "drift", "Fail") is None
    for ended in ({"phase": "Degraded", "stableVersion": "1", "gates": gates},  # rolled back
                  {"phase": "Healthy", "stableVersion": "2", "gates": gates},  # promoted
                  {**STUCK, **canary, "gates": gates,  # an invalid spec: no gate is judged
                   "conditions": [{"type": "InvalidSpec", "status": "True"}]},
                  {**STUCK, "canaryVersion": "2", "canaryWeight": 10, "gates": gates}):  # no stable
        observe("ns", "stuck", ended, MODEL_SPEC)
        for gate, verdict in (("qini", "Error"), ("drift", "Fail"), ("latency", "Error")):
            assert _gate("stuck", gate, verdict) is None, (ended, gate)
    observe("ns", "stuck", {**STUCK, **canary, "gates": gates}, {"rollout": "not a spec"})
    assert _gate("stuck", "latency", "Error") is None  # as refused: nothing measured
    observability.forget("UpliftModel", "ns", "stuck")


def test_a_campaigns_gates_are_exported_under_its_kind_and_leave_with_it() -> None:
    """Campaign gates (budget, roi, drift, ...) reach the same gate metrics, told apart from an
    UpliftModel of the same name by ``kind``."""
    from uplift_operator.handlers import campaign

    observe: Any = campaign._observe
    observability.observe_rollout("ns", "twin", {"canaryWeight": 10, "gates": [
        {"name": "roi", "verdict": "Pass", "value": 0.4}]}, measured={"roi": "roi"})
    observe("ns", "twin", {"phase": "Progressing", "currentStep": 0, "gates": [
        {"name": "roi", "verdict": "Error", "message": "no data"},
        {"name": "budget", "verdict": "Pass", "value": 120.0, "threshold": 500.0}]},
        CAMPAIGN_SPEC)
    assert _gate("twin", "roi", "Error", kind="Campaign") == 1
    assert _gate("twin", "roi", "Pass", kind="Campaign") is None  # its verdict's series alone
    assert _gate("twin", "roi", "Pass", kind="UpliftModel") == 1
    assert _gate("twin", "budget", "threshold", kind="Campaign") == 500.0
    observe("ns", "twin", {"phase": "Progressing", "currentStep": 0,
                           "gates": [{"name": "budget", "verdict": "Pass"}]}, CAMPAIGN_SPEC)
    assert _gate("twin", "roi", "Error", kind="Campaign") is None
    assert _gate("twin", "budget", "threshold", kind="Campaign") is None
    observability.forget("Campaign", "ns", "twin")
    assert _gate("twin", "budget", "Pass", kind="Campaign") is None
    assert _gate("twin", "roi", "Pass", kind="UpliftModel") == 1  # the other kind's stay
    observability.forget("UpliftModel", "ns", "twin")
    assert _gate("twin", "roi", "Pass", kind="UpliftModel") is None


def _one_pass(name: str, status: dict[str, Any], events: tuple[Any, ...],
              monkeypatch: pytest.MonkeyPatch, observe: Any = None) -> None:
    """One pass of the UpliftModel ``name`` through the pass runner, deciding ``status`` (as
    its body already holds it: nothing to write) with ``events``; ``observe``: the handler's
    status observer (None: none)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import kopf

    from uplift_operator.handlers.common import PassRunner
    from uplift_operator.handlers.scheduling import Wakeups
    from uplift_operator.services.common import PassResult

    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    body = kopf.Body({"metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}"},
                      "status": status})

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster=None)  # type: ignore[arg-type]
            await runner.run_once(("UpliftModel", "ns", name), body,
                                  lambda *_: PassResult(status, events, None),
                                  observe or (lambda *_: None))

    asyncio.run(run())


def _decision_series(name: str) -> dict[str, float]:
    return {s.labels["action"]: s.value for metric in observability.REGISTRY.collect()
            for s in metric.samples
            if s.name == "uplift_operator_decisions_total" and s.labels.get("name") == name}


def test_a_resources_passes_create_no_decision_series_at_zero(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No alert or dashboard reads the decision counter (the rollback alerts read the
    last-rollback time from the status): its three rollback series at 0 per resource, born
    so that ``increase()`` saw a first rollback, were a quarter of /metrics at rest. A series
    is born at its first decision."""
    from uplift_operator.services.common import Event

    _one_pass("zero", {"phase": "Progressing"}, (), monkeypatch)  # nothing decided
    assert _decision_series("zero") == {}
    # A request ignored is told under its own reason, and counted as no decision.
    _one_pass("zero", {"phase": "Progressing"}, (
        Event("Warning", "RolledBack", "gate errors failed", decision=True),
        Event("Warning", "EmergencyRollback", "t2 ignored: no canary", decision=False)),
        monkeypatch)
    assert _decision_series("zero") == {"RolledBack": 1.0}
    observability.forget("UpliftModel", "ns", "zero")
    assert _decision_series("zero") == {}


def test_a_canary_the_spec_withdrew_is_no_rolled_back_decision(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ramp's passes through the pass runner and the UpliftModel handler's observer:
    a canary removed because the spec points back at the stable version (a git revert) is
    told as RolledBack, recorded by the spec in the history, and is no decision (the domain's
    event says so): not counted as a rollback; a gate's rollback of the next canary is, once."""
    from tests.unit.domain.test_ramp import make_spec, outcome, with_canary

    from uplift_operator.api.v1alpha1.common import GateVerdict
    from uplift_operator.domain.steps import Reason
    from uplift_operator.handlers import upliftmodel
    from uplift_operator.services.common import Event

    sim = with_canary(make_spec())
    observe = partial(upliftmodel._observe, spec=sim.spec.to_wire())

    def run(decision: Any) -> None:
        events = tuple(Event(e.type, e.reason.value, e.message, e.decision)
                       for e in decision.events)
        _one_pass("revert", decision.status.to_wire(), events, monkeypatch, observe)

    sim.desired = "1"  # the spec back at the stable version
    withdrawn = sim.tick(1)
    assert [(e.reason, e.decision) for e in withdrawn.events] == [(Reason.ROLLED_BACK, False)]
    assert withdrawn.status.history[-1].actor == observability.SPEC_ACTOR
    run(withdrawn)
    assert _decision_series("revert").get("RolledBack") is None
    assert _last_rollback("UpliftModel", "revert") is None
    # A later pass deciding nothing, the withdrawal still the newest entry: nothing counted.
    run(sim.tick(1))
    sim.desired = "2"
    run(sim.tick(1))  # the canary again
    sim.tick(0.1)
    failed = sim.tick(1, outcomes=[outcome("latency", GateVerdict.FAIL,
                                           sim.now + dt.timedelta(minutes=1))])
    assert [e.reason for e in failed.events if e.decision].count(Reason.ROLLED_BACK) == 1
    run(failed)
    assert _decision_series("revert").get("RolledBack") == 1.0
    assert _last_rollback("UpliftModel", "revert") == failed.status.history[-1].time.timestamp()
    observability.forget("UpliftModel", "ns", "revert")
    assert _decision_series("revert") == {}


def _deadline(kind: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_progress_deadline_exceeded", {"kind": kind, "namespace": "ns", "name": name})


def test_a_ramp_past_its_deadline_is_a_state_for_as_long_as_the_status_says_so() -> None:
    """The decision is counted once per step; the gauge stays 1 on every pass while the status
    says the ramp is stuck (phase and message as the real ramp writes them), also in a new
    process, and 0 once it goes on."""
    from tests.unit.domain.test_ramp import INC, make_spec, with_canary

    from uplift_operator.handlers import upliftmodel

    sim = with_canary(make_spec(progressDeadline="10m"))
    observe = partial(upliftmodel._observe, spec=sim.spec.to_wire())
    observe("ns", "stuck", sim.tick(15, verdicts={"latency": INC}).status.to_wire())
    assert _deadline("UpliftModel", "stuck") == 0
    observe("ns", "stuck", sim.tick(1, verdicts={"latency": INC}).status.to_wire())
    assert _deadline("UpliftModel", "stuck") == 1
    later = sim.tick(60, verdicts={"latency": INC})
    assert later.events == ()  # no new decision to count
    observability.forget("UpliftModel", "ns", "stuck")  # as a restarted operator starts
    observe("ns", "stuck", later.status.to_wire())
    assert _deadline("UpliftModel", "stuck") == 1
    observe("ns", "stuck", sim.passing(1).status.to_wire())
    assert _deadline("UpliftModel", "stuck") == 0
    # Degraded for another reason (invalid spec, a rollback) is not past the deadline.
    observe("ns", "stuck", {"phase": "Degraded", "message": "invalid spec: no steps"})
    assert _deadline("UpliftModel", "stuck") == 0
    observability.forget("UpliftModel", "ns", "stuck")
    assert _deadline("UpliftModel", "stuck") is None


def test_a_campaigns_ramp_past_its_deadline_is_exported_under_its_kind() -> None:
    from uplift_operator.handlers import campaign

    observe: Any = campaign._observe
    observe("ns", "stuck-c", {"phase": "Degraded", "message": "ProgressDeadlineExceeded: step "
                                                             "2/3 (25%) could not advance"},
            CAMPAIGN_SPEC)
    assert _deadline("Campaign", "stuck-c") == 1 and _deadline("UpliftModel", "stuck-c") is None
    observability.forget("Campaign", "ns", "stuck-c")
    assert _deadline("Campaign", "stuck-c") is None


def _past_limit(name: str, gate: str) -> float | None:
    return _sample("uplift_operator_gate_inconclusive_past_limit",
                   {"kind": "UpliftModel", "namespace": "ns", "name": name, "gate": gate})


def test_a_gate_past_its_inconclusive_limit_is_told_from_a_ramp_held_by_its_spec() -> None:
    """Both are Paused with an Inconclusive gate; only the pause the gate caused (past its
    inconclusiveLimit, as the real ramp writes it) counts."""
    from tests.unit.domain.test_ramp import INC, make_spec, with_canary

    from uplift_operator.api.v1alpha1.common import Phase
    from uplift_operator.handlers import upliftmodel

    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "inconclusiveLimit": 2},
                                       {"name": "errs", "type": "errorRate"}]))
    observe = partial(upliftmodel._observe, spec=sim.spec.to_wire())
    for _ in range(2):
        observe("ns", "limit", sim.tick(1, verdicts={"lat": INC, "errs": INC}).status.to_wire())
        assert _past_limit("limit", "lat") is None
    d = sim.tick(1, verdicts={"lat": INC, "errs": INC})
    assert d.status.phase is Phase.PAUSED
    observe("ns", "limit", d.status.to_wire())
    assert _past_limit("limit", "lat") == 1
    assert _past_limit("limit", "errs") is None  # inconclusive too, but not what paused it

    held = with_canary(make_spec())  # on the ramp (weight 10), then held by its spec
    held.spec = make_spec(paused=True)
    d = held.tick(1, verdicts={"latency": INC, "shadow": INC})
    assert d.status.phase is Phase.PAUSED and d.status.gates[0].verdict.value == "Inconclusive"
    upliftmodel._observe("ns", "held", d.status.to_wire(), held.spec.to_wire())
    assert _gate("held", "latency", "Inconclusive") == 1
    assert _past_limit("held", "latency") is None
    for name in ("limit", "held"):
        observability.forget("UpliftModel", "ns", name)
    assert _past_limit("limit", "lat") is None


def _last_rollback(kind: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_last_rollback_timestamp_seconds",
        {"kind": kind, "namespace": "ns", "name": name})


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_the_last_rollback_is_read_from_the_status_history(kind: str) -> None:
    """The rollback alerts read this gauge: set from the status whenever the series is born
    (a rollback in an operator's first pass too), never from a human's abort."""
    history: list[dict[str, Any]] = [
        {"time": "2026-12-01T10:00:00Z", "action": "RolledBack"},
        {"time": "2026-12-01T11:00:00Z", "action": "StepAdvanced"},
        {"time": "2026-12-01T12:00:00Z", "action": "ManualAbort"},
        {"time": "2026-12-01T12:30:00Z", "action": "RolledBack", "actor": "spec"}]  # a revert
    observability.observe_status(kind, "ns", "rb", {"phase": "Healthy", "history": history})
    assert _last_rollback(kind, "rb") == 1796119200.0  # 2026-12-01T10:00:00Z
    history.append({"time": "2026-12-01T13:00:00+00:00", "action": "EmergencyRollback"})
    observability.observe_status(kind, "ns", "rb", {"phase": "Healthy", "history": history})
    assert _last_rollback(kind, "rb") == 1796130000.0
    # A request ignored, as operators before RequestIgnored recorded it: no rollback.
    ignored = {"time": "2026-12-01T13:30:00Z", "action": "EmergencyRollback",
               "reason": "ignored: no canary to roll back"}
    observability.observe_status(kind, "ns", "rb", {"phase": "Healthy",
                                                    "history": [*history, ignored]})
    assert _last_rollback(kind, "rb") == 1796130000.0
    observability.observe_status(kind, "ns", "rb", {"phase": "Healthy", "history": history[1:4]})
    assert _last_rollback(kind, "rb") is None  # evicted from the bounded history: no series
    observability.observe_status(kind, "ns", "rb", {"phase": "Healthy", "history": history})
    observability.forget(kind, "ns", "rb")
    assert _last_rollback(kind, "rb") is None


def test_a_rollback_the_registry_re_states_after_a_restore_is_no_new_rollback() -> None:
    """An UpliftModel re-created or restored without its status reads back from MLflow's role
    tags that its version was rolled back, and its first pass records that rollback again
    (actor ``registry``) at its own time: hours after the rollback, which alerted then. The
    last-rollback time, which UpliftModelRolledBack reads, does not take it as a new one (else
    every such model of a restore alerted at once); the model is Degraded all the same."""
    from tests.unit.services.test_upliftmodel import _recreated, _rolled_back_canary

    from uplift_operator.handlers import upliftmodel as handler

    sim = _rolled_back_canary()

    def observe() -> None:
        handler._observe("ns", "restored", sim.status, sim.body["spec"])

    observe()
    [rolled] = [e for e in sim.status["history"] if e["action"] == "RolledBack"]
    assert _last_rollback("UpliftModel", "restored") == observability._unix(rolled["time"])
    sim.tick(6 * 3600)
    _recreated(sim)  # a new uid, no status: the tags say version 2 was rolled back
    restated = [e for e in sim.status["history"] if e["action"] == "RolledBack"]
    assert [(e["version"], e["actor"]) for e in restated] == [
        ("2", observability.REGISTRY_ACTOR)]
    assert observability._unix(restated[0]["time"]) > observability._unix(rolled["time"]) + 3600
    assert sim.status["phase"] == "Degraded" and sim.status["abortedVersion"] == "2"
    observe()
    assert observability.last_rollback(sim.status) is None
    assert _last_rollback("UpliftModel", "restored") is None  # none of its own: no series
    observability.forget("UpliftModel", "ns", "restored")


def test_a_resource_has_one_phase_series_and_no_created_series() -> None:
    """At ten thousand resources /metrics carried 16 series each (a 0 per phase not held, a
    ``_created`` per counter): 18 MB and 1.4 s of CPU per scrape."""
    from uplift_operator.api.v1alpha1.common import Phase

    observability.observe_phase("UpliftModel", "ns", "one", Phase.PROGRESSING, False)
    observability.observe_phase("UpliftModel", "ns", "one", Phase.HEALTHY, False)
    samples = [s for metric in observability.REGISTRY.collect() for s in metric.samples
               if s.labels.get("name") == "one"]
    assert [(s.labels["phase"], s.value) for s in samples
            if s.name == "uplift_operator_resource_phase"] == [("Healthy", 1.0)]
    assert not [s for s in samples if s.name.endswith("_created")]
    observability.forget("UpliftModel", "ns", "one")


def test_the_graph_roll_gauges_read_the_rolls_at_each_scrape() -> None:
    import datetime as dt

    from uplift_operator.services.rolls import Rolls

    rolls, at = Rolls(limit=1), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    observability.observe_rolls(rolls)

    def sample(metric: str) -> float | None:
        return observability.REGISTRY.get_sample_value(metric)

    assert rolls.admit(("UpliftModel", "ns", "a"), at).admitted
    assert not rolls.admit(("UpliftModel", "ns", "b"), at).admitted
    assert sample("uplift_operator_graph_rolls") == 1
    assert sample("uplift_operator_graph_rolls_waiting") == 1
    assert sample("uplift_operator_graph_roll_limit") == 1
    before = sample("uplift_operator_graph_rolls_timed_out_total") or 0.0
    observability.graph_roll_timed_out()
    assert sample("uplift_operator_graph_rolls_timed_out_total") == before + 1


def test_a_gate_has_its_current_verdict_s_series_alone_and_a_change_leaves_none_behind() -> None:
    """One series per gate, at 1 (the three other verdicts at 0 were over half of a Campaign's
    series at rest); an Error that turns Pass must leave UpliftGateErroring nothing to read,
    and a pause past the inconclusiveLimit that ends must leave no series at 1 either."""
    def exported(name: str) -> list[str]:
        return sorted(f"{s.name}:{s.labels.get('gate')}:{s.labels.get('verdict', '')}:{s.value}"
                      for family in observability.REGISTRY.collect()
                      if family.name in ("uplift_operator_gate_verdict",
                                         "uplift_operator_gate_inconclusive_past_limit")
                      for s in family.samples if s.labels.get("name") == name)

    def status(verdict: str, message: str = "") -> dict[str, Any]:
        return {"phase": "Paused" if message else "Progressing", "message": message,
                "gates": [{"name": "roi", "verdict": verdict}]}

    observe = partial(observability.observe_gates, "Campaign", "ns", "flip",
                      measured={"roi": "roi"})
    observe(status("Error"))
    assert exported("flip") == ["uplift_operator_gate_verdict:roi:Error:1.0"]
    paused = "step 1 paused: gate roi inconclusive (3 times, limit 3)"
    observe(status("Inconclusive", paused))
    assert exported("flip") == [
        "uplift_operator_gate_inconclusive_past_limit:roi::1.0",
        "uplift_operator_gate_verdict:roi:Inconclusive:1.0"]
    observe(status("Pass"))
    assert exported("flip") == ["uplift_operator_gate_verdict:roi:Pass:1.0"]
    observe({"phase": "Progressing", "gates": [{"name": "roi"}]})  # no verdict yet: no series
    assert exported("flip") == []
    observability.forget("Campaign", "ns", "flip")


def test_each_gate_series_carries_its_specs_type_whatever_the_gates_name() -> None:
    """The alerts and dashboards find drift gates by ``type="drift"``: a drift gate named
    feature-shift is one, a custom gate named latency is not a latency gate; a Campaign's
    gates have their own kind's types. One series per gate as before: the type adds none."""
    from uplift_operator.handlers import campaign, upliftmodel

    spec = {**MODEL_SPEC, "rollout": {**MODEL_SPEC["rollout"], "gates": [
        {"name": "qini", "type": "qini"}, {"name": "feature-shift", "type": "drift"},
        {"name": "latency", "type": "custom", "query": "up", "max": 1.0}]}}
    gates = [{"name": "feature-shift", "verdict": "Fail", "time": T, "value": 0.4,
              "threshold": 0.2},
             {"name": "latency", "verdict": "Pass", "time": T, "value": 0.1}]
    canary = {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10, "currentStep": 0}
    upliftmodel._observe("ns", "typed", {"phase": "Progressing", **canary, "gates": gates}, spec)
    assert _types("typed") == {
        "uplift_operator_gate_verdict": {"feature-shift:drift", "latency:custom"},
        "uplift_operator_gate_value": {"feature-shift:drift", "latency:custom"}}
    assert observability.REGISTRY.get_sample_value("uplift_operator_gate_verdict", {
        "kind": "UpliftModel", "namespace": "ns", "name": "typed", "gate": "feature-shift",
        "type": "drift", "verdict": "Fail"}) == 1
    series = sum(1 for family in observability.REGISTRY.collect() for s in family.samples
                 if s.name == "uplift_operator_gate_value" and s.labels["name"] == "typed")
    assert series == 3  # feature-shift's value and threshold, latency's value
    campaign._observe("ns", "typed", {"phase": "Progressing", "currentStep": 0, "gates": [
        {"name": "roi", "verdict": "Error"}, {"name": "budget", "verdict": "Pass"}]},
        CAMPAIGN_SPEC)
    assert _types("typed", kind="Campaign") == {
        "uplift_operator_gate_verdict": {"roi:roi", "budget:budget"}}
    observability.forget("UpliftModel", "ns", "typed")
    observability.forget("Campaign", "ns", "typed")
    assert _types("typed") == {} and _types("typed", kind="Campaign") == {}


def test_a_gate_whose_type_changes_leaves_no_series_under_its_old_type() -> None:
    """A spec edited to give a gate another type under the same name changes every label set
    of its series: those of the old type leave (verdict, value and bounds, the inconclusive
    pause), or an old ``type="drift"`` Fail would keep UpliftFeatureDrift firing; and a
    delete after the change leaves none of the new type."""
    paused = "step 1 paused: gate shift inconclusive (3 times, limit 3)"
    status = {"phase": "Paused", "message": paused, "gates": [
        {"name": "shift", "verdict": "Inconclusive", "value": 0.3, "threshold": 0.2},
        {"name": "errors", "verdict": "Pass", "value": 0.01}]}
    observe = partial(observability.observe_gates, "UpliftModel", "ns", "retyped", status)
    observe({"shift": "drift", "errors": "errorRate"})
    everything = {"uplift_operator_gate_verdict", "uplift_operator_gate_value",
                  "uplift_operator_gate_inconclusive_past_limit"}
    assert set(_types("retyped")) == everything
    assert _types("retyped")["uplift_operator_gate_inconclusive_past_limit"] == {"shift:drift"}
    observe({"shift": "custom", "errors": "errorRate"})
    assert _types("retyped") == {
        "uplift_operator_gate_verdict": {"shift:custom", "errors:errorRate"},
        "uplift_operator_gate_value": {"shift:custom", "errors:errorRate"},
        "uplift_operator_gate_inconclusive_past_limit": {"shift:custom"}}
    assert _gate("retyped", "shift", "threshold") == 0.2  # one series, of the new type
    # Through the handler: the spec's edit is what changes the type.
    from uplift_operator.handlers import upliftmodel

    canary = {"stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10, "currentStep": 0}
    live = {"phase": "Progressing", **canary,
            "gates": [{"name": "latency", "verdict": "Fail", "time": T, "value": 2.0}]}
    upliftmodel._observe("ns", "retyped", live, MODEL_SPEC)  # latency: a custom gate
    assert _types("retyped")["uplift_operator_gate_verdict"] == {"latency:custom"}
    edited = {**MODEL_SPEC, "rollout": {**MODEL_SPEC["rollout"], "gates": [
        {"name": "qini", "type": "qini"}, {"name": "drift", "type": "drift"},
        {"name": "latency", "type": "latency", "max": 1.0}]}}
    upliftmodel._observe("ns", "retyped", live, edited)
    assert _types("retyped") == {"uplift_operator_gate_verdict": {"latency:latency"},
                                 "uplift_operator_gate_value": {"latency:latency"}}
    observability.forget("UpliftModel", "ns", "retyped")
    assert _types("retyped") == {}
