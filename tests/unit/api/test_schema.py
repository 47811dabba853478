"""The generated CRD schemas are structural and self-describing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.cel import evaluate

from uplift_operator.api.crds import CRDS, CrdDefinition
from uplift_operator.api.v1alpha1.common import cel_same_length, cel_seconds

FORBIDDEN = {"$ref", "anyOf", "oneOf", "allOf", "title", "const", "default", "propertyNames", "$defs"}


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


@pytest.fixture(params=CRDS, ids=lambda c: c.kind)
def crd(request: pytest.FixtureRequest) -> CrdDefinition:
    definition: CrdDefinition = request.param
    return definition


def _schema(crd: CrdDefinition) -> dict[str, Any]:
    schema: dict[str, Any] = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_schema_is_structural(crd: CrdDefinition) -> None:
    for path, node in _walk(_schema(crd), crd.kind):
        assert not FORBIDDEN & node.keys(), f"{path} has {FORBIDDEN & node.keys()}"
        if node.get("x-kubernetes-int-or-string"):
            # The structural form of int-or-string: the API server refuses a type beside it.
            assert "type" not in node, f"{path} is int-or-string and has a type"
        else:
            assert "type" in node, f"{path} has no type"
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True and "minimum" in node


def test_every_spec_and_status_field_is_described(crd: CrdDefinition) -> None:
    schema = _schema(crd)
    for root in ("spec", "status"):
        for path, node in _walk(schema["properties"][root], f"{crd.kind}.{root}"):
            if path.endswith(("[]", "{}")) and node["type"] != "object":
                continue  # scalar items and values: kubectl explain shows the list's description
            assert node.get("description"), f"{path} has no description (kubectl explain)"


def test_status_subresource_categories_and_short_names(crd: CrdDefinition) -> None:
    manifest = crd.manifest()
    assert manifest["spec"]["versions"][0]["subresources"] == {"status": {}}
    assert "uplift" in manifest["spec"]["names"]["categories"]
    assert manifest["spec"]["names"]["shortNames"]


def test_rollout_weights_rule_is_attached_to_the_rollout() -> None:
    from uplift_operator.api.crds import UPLIFTMODEL

    rollout = _schema(UPLIFTMODEL)["properties"]["spec"]["properties"]["rollout"]
    rules = [r["rule"] for r in rollout["x-kubernetes-validations"]]
    assert any("isSorted" in r for r in rules)
    assert rollout["properties"]["gates"]["minItems"] == 1


def test_a_campaigns_model_ref_cannot_change() -> None:
    from uplift_operator.api.crds import CAMPAIGN

    model_ref = _schema(CAMPAIGN)["properties"]["spec"]["properties"]["modelRef"]
    rules = model_ref["x-kubernetes-validations"]
    assert [(r["rule"], r["fieldPath"]) for r in rules] == [
        ("self.name == oldSelf.name", ".name")]
    assert "cannot change during the campaign's life" in rules[0]["message"]


def test_a_campaigns_budget_period_cannot_change_while_a_budget_runs() -> None:
    """A new period length starts a new period at once on every replica, forgetting what the
    current one spent (review-campaign finding 5): the API server refuses the edit while a
    budget is set before and after, and takes it when either has none (nothing is counted)."""
    from uplift_operator.api.crds import CAMPAIGN

    economics = _schema(CAMPAIGN)["properties"]["spec"]["properties"]["economics"]
    transitions = [r for r in economics["x-kubernetes-validations"] if "oldSelf" in r["rule"]]
    assert [(r["rule"], r["fieldPath"]) for r in transitions] == [(
        "!has(oldSelf.budget) || !has(self.budget) || "
        "has(self.budgetPeriod) == has(oldSelf.budgetPeriod) && "
        "(!has(self.budgetPeriod) || "
        f"{cel_same_length(cel_seconds('self.budgetPeriod'), cel_seconds('oldSelf.budgetPeriod'))})",
        ".budgetPeriod")]
    rule = transitions[0]["rule"]
    budget = {"valuePerConversion": 1, "costPerTreatment": 1, "budget": 10}
    for old, new, admitted in [
            ({"budgetPeriod": "1d"}, {"budgetPeriod": "24h"}, True),    # one length, written
            ({"budgetPeriod": "7d"}, {"budgetPeriod": "168h"}, True),   # otherwise
            ({"budgetPeriod": "1h30m"}, {"budgetPeriod": "90m"}, True),
            ({"budgetPeriod": "1d"}, {"budgetPeriod": "1d"}, True),
            ({}, {}, True),
            ({"budgetPeriod": "1d"}, {"budgetPeriod": "2d"}, False),
            ({"budgetPeriod": "1d"}, {}, False),
            ({}, {"budgetPeriod": "1d"}, False)]:
        assert evaluate(rule, {**budget, **new}, old_self={**budget, **old}) is admitted, (old,
                                                                                         new)
        unbudgeted = {k: v for k, v in budget.items() if k != "budget"}
        # Without a budget before or after nothing is counted: any change is taken.
        assert evaluate(rule, {**unbudgeted, **new}, old_self={**budget, **old})
        assert evaluate(rule, {**budget, **new}, old_self={**unbudgeted, **old})
    assert transitions[0]["message"].startswith("budgetPeriod cannot change while "
                                                "spec.economics.budget is set")
    described = economics["properties"]["budget"]["description"]
    assert "else one implied (named budget" in described
    assert "status.budgetAnchor" in economics["properties"]["budgetPeriod"]["description"]


def _experiment_transitions() -> list[dict[str, Any]]:
    from uplift_operator.api.crds import CAMPAIGN

    experiment = _schema(CAMPAIGN)["properties"]["spec"]["properties"]["experiment"]
    return [r for r in experiment["x-kubernetes-validations"] if "oldSelf" in r["rule"]]


@pytest.mark.parametrize(("old", "new", "refused"), [
    # The same experiment written otherwise: taken (review-api transition_text.py).
    ({}, {"attributionWindow": "14d"}, []),
    ({}, {"attributionWindow": "336h"}, []),
    ({"attributionWindow": "1d"}, {"attributionWindow": "24h"}, []),
    ({"attributionWindow": "90m"}, {"attributionWindow": "1h30m"}, []),
    ({"attributionWindow": "14d"}, {}, []),
    ({}, {"salt": ""}, []),          # "" is the default salt, as absent is
    ({"salt": ""}, {}, []),
    ({"unitKey": "unit_id"}, {}, []),
    ({"salt": "s"}, {"salt": "s"}, []),
    # Another experiment: refused.
    ({}, {"attributionWindow": "15d"}, [".attributionWindow"]),
    ({"attributionWindow": "1d"}, {"attributionWindow": "25h"}, [".attributionWindow"]),
    ({}, {"salt": "s"}, [".salt"]),
    ({"salt": "s"}, {}, [".salt"]),
    ({"salt": "s"}, {"salt": ""}, [".salt"]),
    ({"salt": "s"}, {"salt": "t"}, [".salt"]),
    ({}, {"unitKey": "customer_id"}, [".unitKey"]),
    ({}, {"holdoutFraction": 0.2}, [".holdoutFraction"]),
])
def test_a_campaigns_experiment_changes_by_meaning_not_text(
        old: dict[str, Any], new: dict[str, Any], refused: list[str]) -> None:
    base = {"holdoutFraction": 0.1}
    said = [r["fieldPath"] for r in _experiment_transitions()
            if not evaluate(r["rule"], {**base, **new}, old_self={**base, **old})]
    assert said == refused


def test_the_attribution_window_rule_compares_seconds_the_default_included() -> None:
    [rule] = [r["rule"] for r in _experiment_transitions()
              if r["fieldPath"] == ".attributionWindow"]
    new, old = ("(has(self.attributionWindow) ? self.attributionWindow : '14d')",
                "(has(oldSelf.attributionWindow) ? oldSelf.attributionWindow : '14d')")
    assert rule == cel_same_length(cel_seconds(new), cel_seconds(old))


def test_an_upliftmodels_registered_model_cannot_change() -> None:
    """Another registered model's versions are numbered apart: a switch would re-render the
    stable from its version of the same number, in place (review finding 5). The rule sits on
    spec.model, written as the Campaign's modelRef rule; trackingUri stays editable (a
    registry's move), which no transition rule on spec.model holds back."""
    from uplift_operator.api.crds import UPLIFTMODEL

    model = _schema(UPLIFTMODEL)["properties"]["spec"]["properties"]["model"]
    transitions = [r for r in model["x-kubernetes-validations"] if "oldSelf" in r["rule"]]
    assert [(r["rule"], r["fieldPath"]) for r in transitions] == [
        ("self.registeredModel == oldSelf.registeredModel", ".registeredModel")]
    message = transitions[0]["message"]
    assert "model.registeredModel cannot change during the UpliftModel's life" in message
    assert "create an UpliftModel under a new name for another registered model" in message
    assert "Immutable" in model["properties"]["registeredModel"]["description"]
    assert "May change, for a move of the same registry" in (
        model["properties"]["trackingUri"]["description"])


def _column(crd: CrdDefinition, name: str) -> dict[str, Any]:
    return next(c for c in crd.printer_columns if c["name"] == name)


def test_the_phase_column_names_every_phase_the_kind_reaches() -> None:
    """A Campaign is also Suspended (before its start, a spent budget) and Completed (past
    its end); an UpliftModel never is (``api.v1alpha1.common.Phase``)."""
    from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL
    from uplift_operator.api.v1alpha1.common import Phase

    campaign_only = {Phase.SUSPENDED, Phase.COMPLETED}
    for crd, reached in ((CAMPAIGN, set(Phase)), (UPLIFTMODEL, set(Phase) - campaign_only)):
        described = _column(crd, "Phase")["description"]
        named = {phase for phase in Phase if phase.value in described}
        assert named == reached, (crd.kind, described)


def test_the_campaign_result_columns_state_the_level_of_their_bounds() -> None:
    """status.incrementalEffect and status.roi carry the gate's confidence sequence, each bound
    one-sided at the gate's alpha (user-set): 1 - 2 alpha together, never a fixed 95 %."""
    from uplift_operator.api.crds import CAMPAIGN

    for name in ("Effect", "ROI"):
        described = _column(CAMPAIGN, name)["description"]
        assert "95" not in described and "1 - 2 alpha" in described, described
    estimate = _schema(CAMPAIGN)["properties"]["status"]["properties"]["roi"]["properties"]
    assert "one-sided at the gate's alpha" in estimate["lower"]["description"]
    assert "1 - 2 alpha" in estimate["lower"]["description"]
