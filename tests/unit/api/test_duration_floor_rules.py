"""The CRDs refuse what the operator refused though it needs no context: a step's pause shorter
than the analysis interval, an interval (or a duration the runtime counts in whole seconds)
under a second, a budget that pays for no treatment. Accepted by the API server, such an edit
made a live Campaign InvalidSpec, treating no one (review-campaign interval_edit_stops.py).

What the rules accept and refuse is pinned against a real API server
(``tests/integration/operator/test_api_server.py``, ``INVALID`` and ``AT_THE_BOUNDS``); here,
that each is where it must be and reads the defaults the typed models apply, evaluated with
``tests.support.cel`` (which reads ``cel_seconds``' macros), and that ``domain.validation``
still refuses the same of an object stored before the rules."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.cel import evaluate

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
from uplift_operator.api.v1alpha1.campaign import BUDGET_PAYS_NOTHING, Economics, ExposureSpec
from uplift_operator.api.v1alpha1.common import (
    STEP_PAUSE_SHORT,
    at_least_a_second_rule,
    cel_at_least,
    cel_seconds,
    duration_seconds,
    ramp_rules,
    step_pause_short,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference, RolloutSpec


def _spec(crd: Any) -> dict[str, Any]:
    schema: dict[str, Any] = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec: dict[str, Any] = schema["properties"]["spec"]
    return spec


def _rules(node: dict[str, Any]) -> list[dict[str, Any]]:
    return list(node.get("x-kubernetes-validations", []))


@pytest.mark.parametrize(("crd", "ramp", "model"), [(UPLIFTMODEL, "rollout", RolloutSpec),
                                                    (CAMPAIGN, "exposure", ExposureSpec)])
def test_each_ramp_refuses_a_pause_shorter_than_its_interval_default_included(
        crd: Any, ramp: str, model: Any) -> None:
    default = model.model_fields["analysis_interval"].default
    rules = _rules(_spec(crd)["properties"][ramp])
    for rule in ramp_rules(default, crd.kind):
        assert rule in rules
    pause_rule = next(r for r in rules if r["message"] == step_pause_short(default, crd.kind))
    assert pause_rule["fieldPath"] == ".steps"
    # Absent, the interval is the default the operator analyses at, which the CRD does not
    # carry (its schema has no defaults).
    assert (cel_seconds(f"(has(self.analysisInterval) ? self.analysisInterval : '{default}')")
            in pause_rule["rule"])
    assert cel_seconds("s.pause") in pause_rule["rule"]
    steps = [{"percent": 10, "weight": 10, "pause": "10m"}]
    assert evaluate(pause_rule["rule"], {"steps": steps})
    assert evaluate(pause_rule["rule"], {"steps": [{"percent": 10, "weight": 10}]})
    short = {"steps": [*steps, {"percent": 20, "weight": 20, "pause": "30s"}]}
    assert not evaluate(pause_rule["rule"], short)
    assert evaluate(pause_rule["rule"], {**short, "analysisInterval": "30s"})
    assert not evaluate(pause_rule["rule"], {**short, "analysisInterval": "31s"})


@pytest.mark.parametrize(("crd", "default", "says"), [
    (UPLIFTMODEL, "1m", "(analysisInterval defaults to 1m on an UpliftModel)"),
    (CAMPAIGN, "5m", "(analysisInterval defaults to 5m on a Campaign)")])
def test_the_pause_message_says_the_interval_default_it_checks_against(
        crd: Any, default: str, says: str) -> None:
    """With no analysisInterval in the spec the rule checks the pause against the default,
    which the object the user applied does not show (review-api pause_message.py)."""
    ramp = _spec(crd)["properties"]["rollout" if crd is UPLIFTMODEL else "exposure"]
    model = RolloutSpec if crd is UPLIFTMODEL else ExposureSpec
    assert model.model_fields["analysis_interval"].default == default
    message = next(r["message"] for r in _rules(ramp) if r["message"].startswith(
        "steps[].pause"))
    assert message == ("steps[].pause must be at least analysisInterval " + says + ": the step "
                       "would end before its gates are evaluated")
    assert message == STEP_PAUSE_SHORT.format(default=f" {says}")


@pytest.mark.parametrize(("crd", "path", "field"), [
    (UPLIFTMODEL, ("rollout",), "analysisInterval"),
    (UPLIFTMODEL, ("model",), "aliasRefreshInterval"),
    (CAMPAIGN, ("exposure",), "analysisInterval"),
    (CAMPAIGN, ("economics",), "budgetPeriod"),
    (CAMPAIGN, ("experiment",), "attributionWindow"),
    (UPLIFTMODEL, ("experiment",), "attributionWindow"),
])
def test_each_duration_the_operator_needs_of_a_second_at_least_is_refused_under_it(
        crd: Any, path: tuple[str, ...], field: str) -> None:
    node = _spec(crd)
    for name in path:
        node = node["properties"][name]
    assert at_least_a_second_rule(field) in _rules(node)
    assert at_least_a_second_rule(field) == {
        "rule": f"!has(self.{field}) || {cel_at_least(cel_seconds('self.' + field), '1.0')}",
        "message": f"{field} must be at least 1s", "fieldPath": f".{field}"}
    rule = next(r["rule"] for r in _rules(node) if r == at_least_a_second_rule(field))
    assert evaluate(rule, {})  # absent: the default, at least 1s
    for value, admitted in (("1s", True), ("1h", True), ("999ms", False), ("0s", False),
                            ("0.5s", False), ("500ms500ms", True), ("0.1m", True)):
        assert evaluate(rule, {field: value}) is admitted, value


def test_the_defaults_are_within_the_floors() -> None:
    """A field left out passes the rules (``!has``): its default must, too."""
    assert duration_seconds(RolloutSpec.model_fields["analysis_interval"].default) >= 1
    assert duration_seconds(ExposureSpec.model_fields["analysis_interval"].default) >= 1
    assert duration_seconds(ModelReference.model_fields["alias_refresh_interval"].default) >= 1
    assert Economics.model_fields["budget_period"].default is None


def test_a_budget_must_pay_for_the_cheapest_treatment() -> None:
    rule = next(r for r in _rules(_spec(CAMPAIGN)) if r["message"] == BUDGET_PAYS_NOTHING)
    assert rule["fieldPath"] == ".economics.budget"
    # The cost the runtime charges: the treatment's own, else the economics'.
    assert ("(has(t.costPerTreatment) ? t.costPerTreatment : self.economics.costPerTreatment) "
            "<= self.economics.budget") in rule["rule"]
    assert rule["rule"].startswith("!has(self.economics.budget) || ")
