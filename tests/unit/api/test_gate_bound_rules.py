"""The CRDs' rules on gate bounds the evaluators could never judge, read from the generated
CRDs with ``tests.support.cel``: a drift gate's ``max`` (a PSI, never below 0) and a latency
gate's ``max`` (a p95 in seconds, never at or below 0) at or below 0 fail at the first look
(every canary, every exposure rolled back); an incrementalConversions gate's ``min`` (a
difference of two conversion rates, within [-1, 1]) at 1 or beyond can never pass, at -1 or
below never fail. ``domain.validation`` says the same of an object stored before the rules.
And the rule refusing a last step at weight 100 with gates that need the stable's traffic
leaves dry-run gates be: they never hold a step. The API server itself reads these rules in
``tests/integration/operator/test_api_server.py``."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.cel import evaluate

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1.campaign import INCREMENTAL_CONVERSIONS_MIN, CampaignGate
from uplift_operator.api.v1alpha1.upliftmodel import DRIFT_MAX, LATENCY_MAX, ModelGate
from uplift_operator.domain.validation import gate_bound_problems


def _spec(crd: Any) -> dict[str, Any]:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = schema["properties"]["spec"]
    return spec


def _refused(rules: list[dict[str, Any]], value: dict[str, Any]) -> list[str]:
    return [r["message"] for r in rules if not evaluate(r["rule"], value)]


MODEL_GATE_RULES = _spec(UPLIFTMODEL)["properties"]["rollout"]["properties"]["gates"]["items"][
    "x-kubernetes-validations"]
CAMPAIGN_GATE_RULES = _spec(CAMPAIGN)["properties"]["exposure"]["properties"]["gates"]["items"][
    "x-kubernetes-validations"]


@pytest.mark.parametrize(("gate", "message"), [
    ({"type": "drift", "max": 0.0}, DRIFT_MAX), ({"type": "drift", "max": -0.5}, DRIFT_MAX),
    ({"type": "drift", "max": 0.001}, None), ({"type": "drift"}, None),
    ({"type": "latency", "max": 0.0}, LATENCY_MAX), ({"type": "latency", "max": -1.0}, LATENCY_MAX),
    ({"type": "latency", "max": 0.25}, None), ({"type": "latency"}, None),
    ({"type": "custom", "query": "x", "max": -1.0}, None),  # any scalar: its own bounds
    ({"type": "qini", "max": -0.5}, None),
])
def test_a_model_gate_max_that_fails_at_the_first_look_is_refused(
        gate: dict[str, Any], message: str | None) -> None:
    value = {"name": "g", **gate}
    assert _refused(MODEL_GATE_RULES, value) == ([message] if message else [])
    typed = ModelGate.model_validate(value)  # stored before the rule: typed, then refused
    assert gate_bound_problems(typed, "g") == (
        [f"g.max: {message} (got {gate['max']:g})"] if message else [])


@pytest.mark.parametrize(("gate", "message"), [
    ({"type": "drift", "max": 0.0}, DRIFT_MAX), ({"type": "drift", "max": -0.1}, DRIFT_MAX),
    ({"type": "drift", "max": 0.2}, None),
    ({"type": "incrementalConversions", "min": 1.0}, INCREMENTAL_CONVERSIONS_MIN),
    ({"type": "incrementalConversions", "min": 1.5}, INCREMENTAL_CONVERSIONS_MIN),
    ({"type": "incrementalConversions", "min": -1.0}, INCREMENTAL_CONVERSIONS_MIN),
    ({"type": "incrementalConversions", "min": 0.99}, None),
    ({"type": "incrementalConversions", "min": -0.02}, None),
    ({"type": "incrementalConversions", "min": 0.0}, None),
    ({"type": "incrementalConversions"}, None),
    ({"type": "roi", "min": 1.5}, None),  # an ROI may be above 1 (150 % return)
    ({"type": "custom", "query": "x", "min": 5.0}, None),
])
def test_a_campaign_gate_bound_it_could_never_judge_is_refused(
        gate: dict[str, Any], message: str | None) -> None:
    value = {"name": "g", **gate}
    assert _refused(CAMPAIGN_GATE_RULES, value) == ([message] if message else [])
    typed = CampaignGate.model_validate(value)
    field = "max" if gate["type"] == "drift" else "min"
    assert gate_bound_problems(typed, "g") == (
        [f"g.{field}: {message} (got {gate[field]:g})"] if message else [])


@pytest.mark.parametrize(("rules", "gate", "typed"), [
    (MODEL_GATE_RULES, {"type": "drift", "max": 0.0}, ModelGate),
    (MODEL_GATE_RULES, {"type": "latency", "max": -1.0}, ModelGate),
    (CAMPAIGN_GATE_RULES, {"type": "drift", "max": -0.1}, CampaignGate),
    (CAMPAIGN_GATE_RULES, {"type": "incrementalConversions", "min": 1.0}, CampaignGate),
    (CAMPAIGN_GATE_RULES, {"type": "incrementalConversions", "min": -1.5}, CampaignGate),
])
def test_a_dry_run_gate_keeps_a_bound_it_could_never_judge(
        rules: list[dict[str, Any]], gate: dict[str, Any], typed: Any) -> None:
    """A dryRun gate's Fail holds and rolls back nothing: the rules that came later leave it
    be, and one stored before them stays valid (not InvalidSpec: the model's canary judged,
    the Campaign treating), as the weight-100 rule leaves it be. Not dryRun, still refused."""
    value = {"name": "g", **gate, "dryRun": True}
    assert _refused(rules, value) == []
    assert gate_bound_problems(typed.model_validate(value), "g") == []
    acting = {**value, "dryRun": False}
    assert len(_refused(rules, acting)) == 1
    assert len(gate_bound_problems(typed.model_validate(acting), "g")) == 1


FULL_WEIGHT = next(r for r in _spec(UPLIFTMODEL)["properties"]["rollout"][
    "x-kubernetes-validations"] if r["message"].startswith("a last step at weight 100"))


@pytest.mark.parametrize(("gates", "admitted"), [
    ([{"name": "oe", "type": "onlineEffect", "dryRun": True}], True),
    ([{"name": "errors", "type": "errorRate", "dryRun": True}], True),
    ([{"name": "p95", "type": "latency", "dryRun": True}], True),
    ([{"name": "oe", "type": "onlineEffect", "dryRun": False}], False),
    ([{"name": "oe", "type": "onlineEffect"}], False),
    ([{"name": "errors", "type": "errorRate"}], False),
    ([{"name": "errors", "type": "errorRate", "max": 0.02}], True),
    ([{"name": "drift", "type": "drift"}, {"name": "oe", "type": "onlineEffect", "dryRun": True}],
     True),
    ([{"name": "drift", "type": "drift"}, {"name": "p95", "type": "latency"}], False),
])
def test_a_last_step_at_weight_100_takes_dry_run_gates(gates: list[dict[str, Any]],
                                                        admitted: bool) -> None:
    """A dry-run gate is judged and reported, never acted on: one that could never pass at
    weight 100 holds nothing there."""
    assert evaluate(FULL_WEIGHT["rule"], {"steps": [{"weight": 10}, {"weight": 100}],
                                          "gates": gates}) is admitted
    assert evaluate(FULL_WEIGHT["rule"], {"steps": [{"weight": 10}, {"weight": 50}],
                                          "gates": gates})


def test_explain_says_the_experiment_is_locked_while_a_canary_runs() -> None:
    said = _spec(UPLIFTMODEL)["properties"]["experiment"]["description"]
    assert ("Cannot change while a canary runs (status.canaryVersion); change it once the canary "
            "is promoted or rolled back.") in said
