"""Objects stored before the CRDs bounded their durations, gate settings and names: each pass
writes InvalidSpec naming the field, and an abort or an emergency rollback still acts (review
"odd input" findings 1, 2 and 4). Before, a duration such as ``1000000000d`` or ``3000000d``
raised at every pass (no status, the abort never applied), and a gate bound the evaluator
refuses was an Error at every analysis, then a rollback. Driven through ``reconcile`` with the
fakes of ``test_upliftmodel.Sim`` and ``test_campaign.Sim``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services import test_campaign, test_upliftmodel
from tests.unit.services.test_upliftmodel import PROBE, Sim, reasons

from uplift_operator.domain import ramp, validation
from uplift_operator.services import upliftmodel

HUGE = ["1000000000d", "3000000d", "99999999999h"]


def _edited(sim: Sim, path: str, value: Any) -> None:
    """A spec edit the API server took before its rule (a new generation)."""
    node = sim.body["spec"]
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[int(leaf) if leaf.isdigit() else leaf] = value
    sim.body["metadata"]["generation"] += 1


def _invalid_says(sim: Sim, *texts: str) -> None:
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True", invalid
    for text in texts:
        assert text in invalid["message"], invalid["message"]
    assert sim.status["phase"] == "Degraded"


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize("path", ["rollout.steps.0.pause", "rollout.analysisInterval",
                                  "rollout.progressDeadline", "model.aliasRefreshInterval",
                                  "rollback.scaleDownDelay"])
def test_a_huge_duration_mid_canary_is_invalid_and_an_abort_still_takes_the_canary_off(
        path: str, value: str) -> None:
    sim = Sim()
    sim.with_canary()
    _edited(sim, path, value)
    sim.tick(61)
    field = "spec." + path.replace(".0.", "[0].")
    _invalid_says(sim, f"{field} must be at most 36600d")
    assert sim.weights() == {"1": 90, "2": 10}  # held where it stood, no gate judged
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    result = sim.tick(1)
    assert "canaryVersion" not in sim.status and sim.status["abortedVersion"] == "2"
    assert sim.weights()["1"] == 100 and sim.weights().get("2", 0) == 0
    assert "ManualAbort" in reasons(result)
    _invalid_says(sim, field)


def test_a_huge_scale_down_delay_keeps_the_aborted_canary_deployed_the_longest_duration() -> None:
    """The delay is read as the longest duration the operator takes (100 years) while the spec
    is invalid: the aborted canary stays at weight 0, and the next pass is not due before it."""
    sim = Sim()
    sim.with_canary()
    _edited(sim, "rollback.scaleDownDelay", "3000000d")
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "now"
    result = sim.tick(1)
    assert sim.weights() == {"1": 100, "2": 0}
    assert "EmergencyRollback" in reasons(result)
    assert result.requeue_after is not None and result.requeue_after > 99 * 366 * 86400
    sim.tick(3600)
    assert sim.weights() == {"1": 100, "2": 0}


def test_a_failing_canary_whose_scale_down_delay_became_huge_is_held_for_a_human() -> None:
    """Before, its rollback raised at every pass (the delay could not be added to a time) and
    the failing canary kept its 10 %: now the spec is InvalidSpec, which holds the ramp as any
    invalid spec does, and an abort takes the canary off."""
    sim = Sim()
    sim.with_canary()
    _edited(sim, "rollback.scaleDownDelay", "3000000d")
    sim.metrics.values[PROBE] = 5.0  # the canary fails its gate, were it judged
    for _ in range(3):
        sim.tick(61)
    _invalid_says(sim, "spec.rollback.scaleDownDelay must be at most 36600d")
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    assert sim.weights() == {"1": 100, "2": 0}


def test_a_spec_with_a_huge_duration_from_its_creation_deploys_nothing() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["steps"][0]["pause"] = "1000000000d"
    sim.tick()
    _invalid_says(sim, "spec.rollout.steps[0].pause must be at most 36600d (100 years, the "
                       "longest the operator takes); got 1000000000d")
    assert test_upliftmodel.SELDON not in sim.cluster.objects


def test_an_alias_refreshed_less_often_than_any_duration_is_not_polled() -> None:
    sim = Sim()
    sim.body["spec"]["model"]["aliasRefreshInterval"] = "1000000000d"
    assert upliftmodel.followed_alias(sim.body, sim.deps) is None
    sim.body["spec"]["model"]["aliasRefreshInterval"] = "36600d"
    followed = upliftmodel.followed_alias(sim.body, sim.deps)
    assert followed is not None and followed[1] == dt.timedelta(days=36600)


@pytest.mark.parametrize(("gate", "field"), [
    ({"name": "errors", "type": "errorRate", "max": 0}, "gates[1] (errors).max"),
    ({"name": "errors", "type": "errorRate", "max": 1}, "gates[1] (errors).max"),
    ({"name": "sanity", "type": "upliftSanity", "min": 0.5, "max": 0.5}, "gates[1] (sanity)"),
])
def test_a_gate_bound_the_evaluator_refuses_is_invalid_not_a_rollback(gate: dict[str, Any],
                                                                     field: str) -> None:
    """Before: an Error at every analysis, a rollback after consecutiveErrorLimit (4)."""
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append(gate)
    sim.body["metadata"]["generation"] += 1
    for _ in range(6):
        sim.tick(61)
    _invalid_says(sim, field)
    assert sim.status["canaryVersion"] == "2" and sim.weights() == {"1": 90, "2": 10}
    assert not any(e["action"] == "RolledBack" for e in sim.status["history"])


@pytest.mark.parametrize("name", ["churn.v2", "1churn", "a" * 64])
def test_an_upliftmodel_whose_name_cannot_serve_is_invalid_and_deploys_nothing(name: str) -> None:
    sim = Sim()
    sim.body["metadata"]["name"] = name
    sim.tick()
    _invalid_says(sim, "metadata.name must be a DNS-1035 label", f"(got {name!r})")
    assert sim.cluster.objects == {}


@pytest.mark.parametrize(("field", "value"), [("unitKey", " "), ("salt", "\t")])
def test_an_upliftmodel_with_blank_holdout_text_is_invalid_and_deploys_nothing(
        field: str, value: str) -> None:
    """Before: served, with a unit key naming no request column (every request refused) or a
    salt of whitespace that is not the default's namespace/name."""
    sim = Sim()
    sim.body["spec"].setdefault("experiment", {})[field] = value
    sim.tick()
    _invalid_says(sim, f"spec.experiment.{field}: {field} must not be blank", f"(got {value!r})")
    assert sim.cluster.objects == {}


def test_an_exception_while_validating_is_invalid_spec_and_an_abort_still_acts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: a value no rule foresaw (an operator defect) raising in validation is
    itself the problem, so the invalid-spec path runs instead of the pass raising forever."""
    sim = Sim()
    sim.with_canary()

    def broken(*args: Any, **kwargs: Any) -> list[str]:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(validation, "validate_upliftmodel", broken)
    sim.tick(61)
    _invalid_says(sim, "spec: the operator could not validate it (OverflowError: date value "
                       "out of range)")
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status


def test_an_exception_acting_on_a_stop_request_still_writes_invalid_spec(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = Sim()
    sim.with_canary()
    _edited(sim, "rollout.steps.0.pause", "1000000000d")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("no rule foresaw this")

    monkeypatch.setattr(ramp, "decide_stopping_requests", broken)
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    _invalid_says(sim, "spec.rollout.steps[0].pause")
    assert sim.weights() == {"1": 90, "2": 10}  # nothing acted on: said, not lost


# -- Campaign ------------------------------------------------------------------------------------

def _treating(**spec_changes: Any) -> test_campaign.Sim:
    sim = test_campaign.Sim(**spec_changes)
    sim.tick()
    sim.annotate("uplift.dev/promote", "step")
    sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["phase"]) == (25, "Progressing")
    return sim


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(("section", "field"), [
    ("exposure", "analysisInterval"), ("exposure", "progressDeadline"),
    ("economics", "budgetPeriod"),
])
@pytest.mark.parametrize("annotation", ["uplift.dev/emergency-rollback", "uplift.dev/abort"])
def test_a_campaign_with_a_huge_duration_is_invalid_and_its_kill_switch_works(
        section: str, field: str, value: str, annotation: str) -> None:
    sim = _treating()
    sim.edit_spec(**{section: {**sim.body["spec"][section], field: value}})
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert f"spec.{section}.{field} must be at most 36600d" in sim.condition("InvalidSpec")[
        "message"]
    sim.annotate(annotation, "t1")
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 0 and sim.status["phase"] == "Degraded"
    assert sim.status["handledRequests"][annotation] == "t1"
    assert reasons(result)[0] in ("EmergencyRollback", "ManualAbort")


def test_a_campaign_step_pause_too_long_is_invalid_and_its_kill_switch_works() -> None:
    sim = _treating()
    steps = [dict(s) for s in sim.body["spec"]["exposure"]["steps"]]
    steps[1]["pause"] = "1000000000d"
    sim.edit_spec(exposure={**sim.body["spec"]["exposure"], "steps": steps})
    sim.annotate("uplift.dev/emergency-rollback", "t1")
    sim.tick(1)
    assert "spec.exposure.steps[1].pause must be at most 36600d" in sim.condition(
        "InvalidSpec")["message"]
    assert sim.status["exposurePercent"] == 0


def test_a_campaign_roi_gate_without_a_value_per_conversion_is_invalid_not_rolled_back() -> None:
    """Before: an Error at every analysis (an ROI needs a value per conversion > 0), then the
    Campaign rolled back (Degraded, exposure 0) with InvalidSpec False."""
    sim = test_campaign.Sim()
    sim.body["spec"]["economics"]["valuePerConversion"] = 0
    sim.tick()
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert "a roi gate needs a value per conversion above 0" in sim.condition("InvalidSpec")[
        "message"]
    assert sim.status["exposurePercent"] == 0 and "currentStep" not in sim.status


@pytest.mark.parametrize(("path", "value", "says"), [
    ("metadata.name", "spring.email", "metadata.name must be a DNS label"),
    ("metadata.name", "a" * 64, "metadata.name must be a DNS label"),
    ("spec.experiment.salt", "  ", "spec.experiment.salt: salt must not be blank"),
    ("spec.experiment.unitKey", "\t", "spec.experiment.unitKey: unitKey must not be blank"),
])
def test_a_campaign_the_runtime_would_refuse_is_invalid_not_reported_exposing(
        path: str, value: str, says: str) -> None:
    """Before: Ready/Exposing at 5 % while the runtime refused the entry (a silent no-op)."""
    sim = test_campaign.Sim()
    section, field = path.split(".", 1)
    node = sim.body[section]
    *parents, leaf = field.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    sim.tick()
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert says in sim.condition("InvalidSpec")["message"]
    assert sim.status["exposurePercent"] == 0


def test_an_exception_while_validating_a_campaign_is_invalid_spec_and_its_kill_switch_works(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = _treating()

    def broken(*args: Any, **kwargs: Any) -> list[str]:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(validation, "validate_campaign", broken)
    sim.annotate("uplift.dev/emergency-rollback", "t1")
    sim.tick(1)
    assert "spec: the operator could not validate it (OverflowError: date value out of range)" \
        in sim.condition("InvalidSpec")["message"]
    assert sim.status["exposurePercent"] == 0
