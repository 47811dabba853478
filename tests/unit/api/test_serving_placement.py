"""``spec.serving`` placement: nodeSelector, tolerations, imagePullSecrets, priorityClassName,
typed as a Pod's and refused by the API server where Kubernetes would refuse the pod (a pod spec
Kubernetes refuses leaves every predictor's Deployment, the stable's included, un-updatable).

Label keys and values, Secret and PriorityClass names are the API server's patterns (RE2; the
model types them as strings, as the other names of ServingSpec), checked here against Kubernetes'
own rules (``IsQualifiedName``, ``IsValidLabelValue``) written in Python; the tolerations' rules
are CEL with a pydantic twin (``_check_toleration``), both checked against Kubernetes'
``ValidateTolerations``. The CEL rules were also run through the real apiextensions validator
(review harness: the CRD validates with its cost estimates; every refusal below is refused with
its message, the samples taken)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from pydantic import ValidationError
from tests.support.cel import evaluate

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.api.v1alpha1.common import SUBDOMAIN_PATTERN
from uplift_operator.api.v1alpha1.upliftmodel import (
    LABEL_KEY_PATTERN,
    LABEL_VALUE_PATTERN,
    NODE_SELECTOR_KEY,
    PLACEMENT_FIELDS,
    TOLERATION_EXISTS_VALUE,
    TOLERATION_NO_KEY,
    TOLERATION_SECONDS_EFFECT,
    ServingSpec,
    Toleration,
)
from uplift_operator.render.seldon import PLACEMENT_KEYS

PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/instance-type": "m5.2xlarge", "pool": "inference"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 60},
        {"operator": "Exists"}],
    "imagePullSecrets": [{"name": "registry-pull"}, {"name": "team.registry"}],
    "priorityClassName": "inference-high",
}


def _serving_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]["serving"]["properties"]
    return node


def _re2(pattern: str, value: str) -> bool:
    """An API server pattern (RE2: ``$`` at the very end only) on ``value``."""
    return re.search(re.sub(r"\$$", r"\\Z", pattern), value) is not None


# Kubernetes' own rules (apimachinery ``validation.IsQualifiedName``, ``IsValidLabelValue``,
# ``IsDNS1123Subdomain``), as written there.
_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _k8s_qualified_name(value: str) -> bool:
    parts = value.split("/")
    if len(parts) == 2:
        prefix, name = parts
        if not prefix or len(prefix) > 253 or not _SUBDOMAIN.fullmatch(prefix):
            return False
    elif len(parts) == 1:
        name = parts[0]
    else:
        return False
    return 0 < len(name) <= 63 and _NAME.fullmatch(name) is not None


def _k8s_label_value(value: str) -> bool:
    return value == "" or (len(value) <= 63 and _NAME.fullmatch(value) is not None)


def _k8s_toleration(t: dict[str, Any]) -> bool:
    """``ValidateTolerations``, for the operators and effects the schema takes."""
    operator = t.get("operator") or "Equal"
    if not t.get("key") and operator != "Exists":
        return False
    if t.get("tolerationSeconds") is not None and t.get("effect") != "NoExecute":
        return False
    return not (operator == "Exists" and t.get("value"))


KEYS = ["pool", "a", "A_b.c-D", "node.kubernetes.io/instance-type", "nvidia.com/gpu",
        "example.com/" + "a" * 63, ("a" * 63 + ".") * 3 + "a" * 61 + "/k", "a" * 63,
        # refused
        "a" * 64, "-pool", "pool-", "_a", "a/b/c", "/a", "a/", "Example.com/a",
        "example.com/" + "a" * 64, ("a" * 63 + ".") * 3 + "a" * 62 + "/k", "a b", "", "é"]
VALUES = ["", "inference", "m5.2xlarge", "A_b-c.D", "a" * 63,
          "a" * 64, "-a", "a-", "a b", "a/b", "é"]


@pytest.mark.parametrize("key", KEYS)
def test_a_label_key_is_taken_as_kubernetes_takes_it(key: str) -> None:
    schema = _serving_schema()
    (rule,) = schema["nodeSelector"]["x-kubernetes-validations"]
    assert rule["message"] == NODE_SELECTOR_KEY
    # The rule is the pattern, the prefix bound and the length (CEL reads the backslashes
    # escaped: unescaped here); tests.support.cel does not read matches().
    patterns = [p.replace("\\\\", "\\") for p in re.findall(r"matches\('([^']*)'\)", rule["rule"])]
    assert patterns[0] == LABEL_KEY_PATTERN and "k.size() <= 317" in rule["rule"]
    admitted = len(key) <= 317 and all(_re2(p, key) for p in patterns)
    assert admitted == _k8s_qualified_name(key)
    # A toleration's key: the same, as a pattern and a CEL rule on the string.
    node = schema["tolerations"]["items"]["properties"]["key"]
    (bound,) = node["x-kubernetes-validations"]
    if key:
        assert (len(key) <= node["maxLength"] and _re2(node["pattern"], key)
                and _re2(bound["rule"].removeprefix("self.matches('").removesuffix("')"), key)
                ) == _k8s_qualified_name(key)


@pytest.mark.parametrize("value", VALUES)
def test_a_label_value_is_taken_as_kubernetes_takes_it(value: str) -> None:
    schema = _serving_schema()
    for node in (schema["nodeSelector"]["additionalProperties"],
                 schema["tolerations"]["items"]["properties"]["value"]):
        assert node["pattern"] == LABEL_VALUE_PATTERN
        assert (len(value) <= node["maxLength"] and _re2(node["pattern"], value)
                ) == _k8s_label_value(value)


def test_the_crd_says_each_fields_shape() -> None:
    schema = _serving_schema()
    selector = schema["nodeSelector"]
    assert selector["type"] == "object" and selector["maxProperties"] == 64
    assert selector["x-kubernetes-map-type"] == "atomic"
    tolerations = schema["tolerations"]
    assert tolerations["maxItems"] == 32 and tolerations["x-kubernetes-list-type"] == "atomic"
    item = tolerations["items"]["properties"]
    assert item["operator"]["enum"] == ["Exists", "Equal"]
    assert item["effect"]["enum"] == ["NoSchedule", "PreferNoSchedule", "NoExecute"]
    assert item["tolerationSeconds"] == {**item["tolerationSeconds"], "type": "integer",
                                         "format": "int64", "minimum": 0}
    secrets = schema["imagePullSecrets"]
    assert secrets["maxItems"] == 16 and secrets["x-kubernetes-list-type"] == "map"
    assert secrets["x-kubernetes-list-map-keys"] == ["name"]
    assert secrets["items"]["properties"]["name"]["pattern"] == SUBDOMAIN_PATTERN
    assert schema["priorityClassName"]["pattern"] == SUBDOMAIN_PATTERN
    assert schema["priorityClassName"]["maxLength"] == 253
    # Not Seldon's pdbSpec (it would cover every pod twice during a canary): the operator's own
    # budget per version (disruptionBudget, tests/unit/render/test_disruption_budgets.py).
    assert "pdbSpec" not in set(schema)


def _tolerations() -> list[dict[str, Any]]:
    """Every combination of the fields' kinds of value."""
    out = []
    for key, operator, value, effect, seconds in itertools.product(
            [None, "dedicated"], [None, "Equal", "Exists"], [None, "", "gpu"],
            [None, "NoSchedule", "PreferNoSchedule", "NoExecute"], [None, 0, 300]):
        fields = {"key": key, "operator": operator, "value": value, "effect": effect,
                  "tolerationSeconds": seconds}
        out.append({k: v for k, v in fields.items() if v is not None})
    return out


def test_the_toleration_rules_are_kubernetes_in_cel_and_in_the_model() -> None:
    rules = _serving_schema()["tolerations"]["items"]["x-kubernetes-validations"]
    assert [r["message"] for r in rules] == [TOLERATION_NO_KEY, TOLERATION_EXISTS_VALUE,
                                             TOLERATION_SECONDS_EFFECT]
    admitted = refused = 0
    for toleration in _tolerations():
        by_cel = all(evaluate(r["rule"], toleration) for r in rules)
        try:
            ServingSpec.model_validate({"tolerations": [toleration]})
            by_model = True
        except ValidationError:
            by_model = False
        assert by_cel == by_model == _k8s_toleration(toleration), toleration
        admitted, refused = admitted + by_cel, refused + (not by_cel)
    assert admitted and refused


@pytest.mark.parametrize(("toleration", "message"), [
    ({"value": "x"}, TOLERATION_NO_KEY),
    ({"operator": "Equal"}, TOLERATION_NO_KEY),
    ({"key": "k", "operator": "Exists", "value": "v"}, TOLERATION_EXISTS_VALUE),
    ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}, TOLERATION_SECONDS_EFFECT),
    ({"key": "k", "tolerationSeconds": 5}, TOLERATION_SECONDS_EFFECT),
])
def test_a_refused_toleration_says_why(toleration: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ServingSpec.model_validate({"tolerations": [toleration]})


@pytest.mark.parametrize("toleration", [
    {"key": "k", "operator": "Lt", "value": "5"}, {"key": "k", "effect": "Evict"},
    {"key": "k", "effect": "NoExecute", "tolerationSeconds": -1}])
def test_an_operator_or_effect_kubernetes_does_not_have_is_refused(
        toleration: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Toleration.model_validate(toleration)


def test_duplicate_pull_secrets_are_refused_by_the_api_server() -> None:
    (rule,) = _serving_schema()["imagePullSecrets"]["x-kubernetes-validations"]
    assert rule["rule"] == "self.all(s, self.filter(t, t.name == s.name).size() == 1)"
    assert rule["message"] == "imagePullSecrets[].name must be unique"


def test_the_placement_is_typed_and_goes_out_as_a_pod_spec_takes_it() -> None:
    serving = ServingSpec.model_validate(PLACEMENT)
    assert serving.node_selector == PLACEMENT["nodeSelector"]
    assert serving.tolerations is not None and serving.tolerations[1].toleration_seconds == 60
    assert serving.priority_class_name == "inference-high"
    assert serving.placement() == PLACEMENT
    assert {k: serving.to_wire()[k] for k in PLACEMENT} == PLACEMENT


def test_unset_placement_is_nothing() -> None:
    assert ServingSpec().placement() == {}
    assert not set(PLACEMENT_FIELDS) & set(ServingSpec().to_wire())
    # Empty values are nothing to render either (a Pod's empty nodeSelector is none).
    empty = ServingSpec.model_validate({"nodeSelector": {}, "tolerations": [],
                                        "imagePullSecrets": []})
    assert empty.placement() == {}


def test_the_placement_fields_are_the_renderers_keys() -> None:
    assert PLACEMENT_FIELDS == PLACEMENT_KEYS


def test_a_model_with_placement_parses_whole() -> None:
    model = UpliftModel.model_validate({
        "metadata": {"name": "m"},
        "spec": {"model": {"registeredModel": "m", "version": "1"},
                 "treatments": [{"name": "t"}],
                 "serving": PLACEMENT,
                 "rollout": {"steps": [{"weight": 10}], "gates": [{"name": "g",
                                                                   "type": "drift"}]}}})
    assert model.spec.serving.placement() == PLACEMENT
