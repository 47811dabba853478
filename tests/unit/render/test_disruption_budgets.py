"""``render.disruption``: one PodDisruptionBudget per served version, selecting exactly that
version's pods of the model's SeldonDeployment, as Seldon Core 1.17.1 labels them
(``createDeploymentWithoutEngine``: ``seldon-deployment-id``, the SeldonDeployment's name or
``seldon-<md5>`` past 63 characters, and the predictor's ``labels`` copied onto its pod
template), named deterministically within 63 characters and owned by the UpliftModel; and
``spec.serving.disruptionBudget``'s exactly-one rule, in CEL and in the model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from tests.support.cel import evaluate

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import (
    BUDGET_EXACTLY_ONE,
    BUDGET_MAX_NO_EVICTION,
    BUDGET_MIN_NO_EVICTION,
    BUDGET_PERCENT_PATTERN,
    ServingSpec,
    UpliftModelSpec,
    no_eviction_problems,
)
from uplift_operator.domain.status import Applied
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.domain.validation import validate_upliftmodel
from uplift_operator.render import naming
from uplift_operator.render.disruption import (
    budget_name,
    desired_budgets,
    pod_selector,
    seldon_deployment_id,
)
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.services.disruption import served_versions

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "upliftmodel.yaml"
OWNER = Owner(name="uplift", namespace="shop", uid="u-1")
BUDGET = {"maxUnavailable": 1}


def _pod_labels(graph: dict[str, Any], version: str) -> dict[str, str]:
    """The labels Seldon Core 1.17.1 gives the pods of ``version``'s predictor in ``graph``:
    ``seldon-deployment-id`` (``GetSeldonDeploymentName``), ``app`` (the Deployment's name),
    ``fluentd``, then the predictor's labels (``createDeploymentWithoutEngine``)."""
    (predictor,) = [p for p in graph["spec"]["predictors"]
                    if p["annotations"]["version"] == version]
    name = graph["metadata"]["name"]
    return {"seldon-deployment-id": seldon_deployment_id(name),
            "app": f"{name}-{predictor['name']}-0-{name}", "fluentd": "true",
            **predictor.get("labels", {})}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_without_a_budget_no_pod_disruption_budget_is_wanted() -> None:
    assert desired_budgets(OWNER, None, ["1", "2"]) == []
    assert desired_budgets(OWNER, {}, ["1"]) == []


def test_one_budget_per_version_selecting_that_versions_pods_alone() -> None:
    runtime = RuntimeSettings(image="runtime:test", registered_model="m", tracking_uri="http://x")
    graph = SeldonV1Backend().render(OWNER, runtime, TrafficSplit("1", "2", 10))
    budgets = desired_budgets(OWNER, BUDGET, served_versions(
        TrafficSplit("1", "2", 10), None, None, SeldonV1Backend()))
    assert [b["metadata"]["name"] for b in budgets] == ["uplift-v1", "uplift-v2"]
    for budget, version, other in ((budgets[0], "1", "2"), (budgets[1], "2", "1")):
        selector = budget["spec"]["selector"]["matchLabels"]
        assert selector == {"seldon-deployment-id": "uplift", "uplift.dev/version": version}
        assert _selects(selector, _pod_labels(graph, version))
        assert not _selects(selector, _pod_labels(graph, other))
        assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]
        assert budget["apiVersion"] == "policy/v1"
        assert budget["kind"] == "PodDisruptionBudget"
        assert budget["metadata"]["namespace"] == "shop"
        assert budget["metadata"]["labels"] == {**naming.labels(OWNER),
                                                "uplift.dev/version": version}
        assert budget["metadata"]["ownerReferences"] == [{
            "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": "uplift",
            "uid": "u-1", "controller": True, "blockOwnerDeletion": True}]


def test_another_models_pods_are_not_selected() -> None:
    """Two models' graphs in one namespace: a version number both serve is told apart by the
    SeldonDeployment's id."""
    other = Owner(name="uplift-2", namespace="shop", uid="u-2")
    runtime = RuntimeSettings(image="runtime:test", registered_model="m", tracking_uri="http://x")
    theirs = SeldonV1Backend().render(other, runtime, TrafficSplit("1"))
    (budget,) = desired_budgets(OWNER, BUDGET, ["1"])
    assert not _selects(budget["spec"]["selector"]["matchLabels"], _pod_labels(theirs, "1"))


def test_the_budget_spec_is_the_fields_given() -> None:
    (budget,) = desired_budgets(OWNER, {"minAvailable": "50%",
                                        "unhealthyPodEvictionPolicy": "AlwaysAllow"}, ["3"])
    assert budget["spec"] == {"minAvailable": "50%", "unhealthyPodEvictionPolicy": "AlwaysAllow",
                              "selector": {"matchLabels": pod_selector("uplift", "3")}}


def test_a_version_that_leaves_the_split_leaves_the_budgets() -> None:
    backend = SeldonV1Backend()
    ramping = desired_budgets(OWNER, BUDGET, served_versions(TrafficSplit("1", "2", 50), None,
                                                             None, backend))
    promoted = desired_budgets(OWNER, BUDGET, served_versions(TrafficSplit("2"), None, None,
                                                              backend))
    assert [b["metadata"]["name"] for b in ramping] == ["uplift-v1", "uplift-v2"]
    assert [b["metadata"]["name"] for b in promoted] == ["uplift-v2"]


def test_a_graph_not_applied_as_decided_keeps_the_budgets_of_the_versions_it_still_runs() -> None:
    backend = SeldonV1Backend()
    runtime = RuntimeSettings(image="runtime:test", registered_model="m", tracking_uri="http://x")
    running = backend.render(OWNER, runtime, TrafficSplit("1", "2", 50))
    refused = Applied("SeldonDeployment uplift", "2 100%", error="403 forbidden")
    through = Applied("SeldonDeployment uplift", "2 100%", changed=True)
    assert served_versions(TrafficSplit("2"), running, refused, backend) == {"1", "2"}
    assert served_versions(TrafficSplit("2"), running, through, backend) == {"2"}
    # A canary rolled back but kept at weight 0 still runs pods: covered.
    assert served_versions(TrafficSplit("1", "2", 0), running, through, backend) == {"1", "2"}


@pytest.mark.parametrize(("model", "version"), [
    ("uplift", "12"), ("a" * 63, "1"), ("a" * 58, "123"), ("m", "1_rc"), ("m", "1.2")])
def test_budget_names_are_deterministic_valid_and_bounded(model: str, version: str) -> None:
    name = budget_name(model, version)
    assert name == budget_name(model, version)
    assert len(name) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert name != budget_name(model, version + "0")


def test_a_short_name_is_the_model_and_its_predictor() -> None:
    assert budget_name("uplift", "7") == "uplift-v7"
    assert budget_name("a" * 60, "7") == "a" * 60 + "-v7"
    long = budget_name("a" * 62, "7")
    assert long != budget_name("a" * 62, "8") and long.startswith("a" * 52 + "-")


def test_the_seldon_deployment_id_is_seldons() -> None:
    assert seldon_deployment_id("uplift") == "uplift"
    assert seldon_deployment_id("a" * 63) == "a" * 63
    # Past 63 characters (no UpliftModel's name is: the CRD refuses it), "seldon-" and the
    # name's md5, as `printf 'x%.0s' $(seq 64) | md5sum` says.
    assert seldon_deployment_id("x" * 64) == "seldon-c1bb4f81d892b2d57947682aeb252456"


# -- the API ---------------------------------------------------------------------------------------

def _budget_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = (schema["properties"]["spec"]["properties"]["serving"]["properties"]
                            ["disruptionBudget"])
    return node


@pytest.mark.parametrize(("budget", "admitted"), [
    ({"maxUnavailable": 1}, True), ({"minAvailable": "50%"}, True),
    ({"maxUnavailable": 2, "unhealthyPodEvictionPolicy": "AlwaysAllow"}, True),
    ({}, False), ({"unhealthyPodEvictionPolicy": "AlwaysAllow"}, False),
    ({"maxUnavailable": 1, "minAvailable": 1}, False)])
def test_exactly_one_of_max_unavailable_and_min_available(budget: dict[str, Any],
                                                          admitted: bool) -> None:
    (rule,) = [r for r in _budget_schema()["x-kubernetes-validations"]
               if r["message"] == BUDGET_EXACTLY_ONE]
    assert evaluate(rule["rule"], budget) is admitted
    try:
        ServingSpec.model_validate({"disruptionBudget": budget})
        by_model = True
    except ValidationError:
        by_model = False
    assert by_model is admitted


@pytest.mark.parametrize(("value", "admitted"), [
    (1, True), (3, True), ("1%", True), ("25%", True), ("100%", True), ("101%", False),
    ("1", False), ("05%", False), ("%", False), (-1, False), (1.5, False)])
def test_a_count_is_an_integer_or_a_percent(value: Any, admitted: bool) -> None:
    schema = _budget_schema()["properties"]["maxUnavailable"]
    assert schema["x-kubernetes-int-or-string"] is True
    assert schema["pattern"] == BUDGET_PERCENT_PATTERN
    if isinstance(value, str):
        by_schema = re.search(schema["pattern"].replace("$", r"\Z"), value) is not None
    else:
        by_schema = isinstance(value, int) and value >= schema["minimum"]
    assert by_schema is admitted
    try:
        ServingSpec.model_validate({"disruptionBudget": {"maxUnavailable": value}})
        by_model = True
    except ValidationError:
        by_model = False
    assert by_model is admitted


#: What the admission policy (manifests/poddisruptionbudgets-policy.yaml) admits of the
#: operator's budgets' counts: maxUnavailable at least 1 or 1%-100%, minAvailable any integer or
#: 0%-99% (its regular expressions, read as Python's).
POLICY_MAX_PERCENT = r"^(100|[1-9][0-9]?)%$"
POLICY_MIN_PERCENT = r"^[1-9]?[0-9]%$"


def _policy_admits(field: str, value: Any) -> bool:
    if isinstance(value, int):
        return value > 0 if field == "maxUnavailable" else value >= 0
    pattern = POLICY_MAX_PERCENT if field == "maxUnavailable" else POLICY_MIN_PERCENT
    return re.fullmatch(pattern.strip("^$"), value) is not None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("maxUnavailable", 0, BUDGET_MAX_NO_EVICTION), ("maxUnavailable", "0%", BUDGET_MAX_NO_EVICTION),
    ("minAvailable", "100%", BUDGET_MIN_NO_EVICTION),
    ("maxUnavailable", 1, None), ("maxUnavailable", "1%", None), ("maxUnavailable", "100%", None),
    ("minAvailable", 0, None), ("minAvailable", 1, None), ("minAvailable", "0%", None),
    ("minAvailable", "99%", None)])
def test_a_budget_that_allows_no_eviction_is_refused(field: str, value: Any,
                                                     message: str | None) -> None:
    """maxUnavailable 0 or "0%" and minAvailable "100%" allow no eviction whatever the replicas
    (every node drain would wait for ever): the CRD refuses them (a CEL rule each); the model
    takes them (an object stored before the rules parses) and the operator's validation
    refuses them in the rules' words (InvalidSpec: no budget applied); what is admitted
    renders a budget the operator's admission policy admits."""
    budget = {field: value}
    rules = _budget_schema()["x-kubernetes-validations"]
    refused_by = [r["message"] for r in rules if not evaluate(r["rule"], budget)]
    assert refused_by == ([message] if message else [])
    serving = ServingSpec.model_validate({"disruptionBudget": budget})
    assert serving.disruption_budget is not None
    assert no_eviction_problems(serving.disruption_budget) == refused_by
    sample = yaml.safe_load(SAMPLE.read_text())
    spec = UpliftModelSpec.model_validate({**sample["spec"], "serving": {
        **sample["spec"].get("serving", {}), "disruptionBudget": budget}})
    said = validate_upliftmodel(spec, BUILTIN_TEMPLATES, name=sample["metadata"]["name"])
    assert said == ([f"spec.serving.{message}"] if message else [])
    assert _policy_admits(field, value) is (message is None)


def test_every_count_the_crd_admits_renders_a_budget_the_policy_admits() -> None:
    """The CRD's counts (its pattern's percents, integers from 0) and its rules: each one the
    CRD admits is one the policy's count rule admits, and each one it refuses the policy
    refuses."""
    rules = _budget_schema()["x-kubernetes-validations"]
    for field in ("maxUnavailable", "minAvailable"):
        for value in [*range(0, 5), *(f"{p}%" for p in range(0, 101))]:
            if isinstance(value, str):
                assert re.fullmatch(BUDGET_PERCENT_PATTERN.strip("^$"), value)
            admitted = all(evaluate(r["rule"], {field: value}) for r in rules)
            assert admitted is _policy_admits(field, value), (field, value)
