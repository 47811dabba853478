"""``spec.serving.resources`` with a request above its limit is refused.

Rendered, such resources reached every predictor, the stable's included: Kubernetes refuses a
Pod whose request exceeds its limit, so Seldon's update of every Deployment failed and the graph
froze as it was (review-render requests_over_limits.py). The CRD refuses it
(``ResourceRequirements``' CEL rules, evaluated here with ``tests.support.cel``); an object
stored before the rule is InvalidSpec (``domain.validation``), so a pass renders the resources
the graph already has, never these."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cel import UnsupportedError, evaluate

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.api.v1alpha1.common import (
    COMPARED_RESOURCES,
    ResourceRequirements,
    quantity_value,
    request_over_limit_rule,
)
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"

#: (requests, limits, whether the API server admits it)
CASES: list[tuple[dict[str, Any], dict[str, Any], bool]] = [
    ({"cpu": "2", "memory": "2Gi"}, {"cpu": "1", "memory": "1Gi"}, False),
    ({"cpu": 2}, {"cpu": 1}, False),                          # integers, as YAML gives them
    ({"cpu": "1001m"}, {"cpu": 1}, False),
    ({"memory": "1Gi"}, {"memory": "1G"}, False),             # 1073741824 > 1000000000
    ({"memory": "1025Mi"}, {"memory": "1Gi"}, False),
    ({"cpu": "500m"}, {"cpu": 1}, True),
    ({"cpu": 2}, {"cpu": "2000m"}, True),                     # equal is allowed
    ({"memory": "1e3"}, {"memory": "1k"}, True),
    ({"memory": "1G"}, {"memory": "1Gi"}, True),
    ({"cpu": "4"}, {"memory": "1Gi"}, True),                  # no cpu limit: nothing to exceed
    ({"cpu": "4", "memory": "512Mi"}, {}, True),
    ({"ephemeral-storage": "2Gi"}, {"ephemeral-storage": "1Gi"}, False),
    ({"ephemeral-storage": 1073741825}, {"ephemeral-storage": "1Gi"}, False),
    ({"ephemeral-storage": "1G"}, {"ephemeral-storage": "1Gi"}, True),
    ({"ephemeral-storage": "4Gi"}, {"memory": "1Gi"}, True),
]


def _crd_resources_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]["serving"]["properties"][
        "resources"]
    return node


def _model(resources: dict[str, Any]) -> UpliftModel:
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    body["spec"].setdefault("serving", {})["resources"] = resources
    return UpliftModel.model_validate(body)


@pytest.mark.parametrize(("quantity", "value"), [
    (2, Fraction(2)), ("500m", Fraction(1, 2)), (".5", Fraction(1, 2)), ("1Ki", Fraction(1024)),
    ("1.5Gi", Fraction(3 * 2**29)), ("1e3", Fraction(1000)), ("1E-2", Fraction(1, 100)),
    ("2k", Fraction(2000)), ("1.5E", Fraction(15 * 10**17)), ("100u", Fraction(1, 10**4)),
])
def test_a_quantity_has_its_kubernetes_value(quantity: int | str, value: Fraction) -> None:
    assert quantity_value(quantity) == value


@pytest.mark.parametrize("quantity", ["1e1.5", "1e65", "9" * 10 + "e" + "9" * 20, "1 Gi"])
def test_a_quantity_past_what_is_computed_has_no_value(quantity: str) -> None:
    assert quantity_value(quantity) is None


def test_the_crd_carries_one_rule_per_resource() -> None:
    rules = _crd_resources_schema()["x-kubernetes-validations"]
    assert rules == [request_over_limit_rule(r) for r in COMPARED_RESOURCES]
    assert [r["fieldPath"] for r in rules] == [".requests.cpu", ".requests.memory",
                                               ".requests['ephemeral-storage']"]
    assert all("quantity(string(" in r["rule"] and ".compareTo(" in r["rule"] for r in rules)


@pytest.mark.parametrize(("requests", "limits", "admitted"), CASES)
def test_the_crd_refuses_a_request_above_its_limit(requests: dict[str, Any],
                                                   limits: dict[str, Any], admitted: bool) -> None:
    value = {"requests": requests, "limits": limits}
    verdicts = [evaluate(r["rule"], value)
                for r in _crd_resources_schema()["x-kubernetes-validations"]]
    assert all(verdicts) is admitted
    for section in ({"requests": requests}, {"limits": limits}, {}):  # one side alone: fine
        assert all(evaluate(r["rule"], section)
                   for r in _crd_resources_schema()["x-kubernetes-validations"])


def test_the_rule_reads_an_integer_as_a_string_first() -> None:
    """``quantity`` has no overload for an int: without ``string()`` an integer ``cpu: 2``
    (what YAML and Helm's toYaml give) would make the API server refuse every such object."""
    bare = "quantity(self.requests.cpu).compareTo(quantity(self.limits.cpu)) <= 0"
    with pytest.raises(UnsupportedError):
        evaluate(bare, {"requests": {"cpu": 2}, "limits": {"cpu": 1}})
    assert evaluate(request_over_limit_rule("cpu")["rule"],
                    {"requests": {"cpu": 1}, "limits": {"cpu": 2}})


@pytest.mark.parametrize(("requests", "limits", "admitted"), CASES)
def test_validation_refuses_what_the_crd_refuses(requests: dict[str, Any],
                                                 limits: dict[str, Any], admitted: bool) -> None:
    spec = _model({"requests": requests, "limits": limits}).spec
    problems = [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
                if p.startswith("spec.serving.resources")]
    assert (problems == []) is admitted, problems


def test_the_problem_names_the_resource_and_both_quantities() -> None:
    spec = _model({"requests": {"cpu": "2", "memory": "256Mi"},
                   "limits": {"cpu": "1", "memory": "1Gi"}}).spec
    [problem] = [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
                 if p.startswith("spec.serving.resources")]
    assert problem.startswith("spec.serving.resources: requests.cpu must not exceed limits.cpu")
    assert problem.endswith("(requests.cpu 2, limits.cpu 1)")


def test_the_problem_names_ephemeral_storage_and_both_quantities() -> None:
    spec = _model({"requests": {"ephemeral-storage": "2Gi"},
                   "limits": {"ephemeral-storage": "1Gi"}}).spec
    [problem] = [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
                 if p.startswith("spec.serving.resources")]
    assert problem.endswith("(requests.ephemeral-storage 2Gi, limits.ephemeral-storage 1Gi)")


def test_the_rule_escapes_a_dashed_name_as_kubernetes_reads_it() -> None:
    """Kubernetes' CEL reads the property ``ephemeral-storage`` as ``ephemeral__dash__storage``
    (``self.requests.ephemeral-storage`` would be a subtraction)."""
    rule = request_over_limit_rule("ephemeral-storage")["rule"]
    assert "self.requests.ephemeral__dash__storage" in rule and "-storage" not in rule


@pytest.mark.parametrize(("section", "quantity"), [
    ("requests", "1e2.5"), ("limits", "1.5e.5"), ("requests", "2E3.")])
def test_a_quantity_kubernetes_does_not_parse_is_named(section: str, quantity: str) -> None:
    """A fractional exponent passed the CRD's pattern before (review-api quantity.py) and was
    rendered into every predictor's pod spec, the stable's included. An object stored before is
    InvalidSpec naming the field, once: it is not compared with its limit (no value to
    compare)."""
    other = "limits" if section == "requests" else "requests"
    spec = _model({section: {"cpu": quantity}, other: {"cpu": "1"}}).spec
    problems = [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
                if p.startswith("spec.serving.resources")]
    assert problems == [
        f"spec.serving.resources.{section}.cpu: {quantity!r} is not a quantity a Pod takes (a "
        "decimal number, then Ki..Ei, n, u, m, k, M..E, or an integer exponent up to e64 such "
        "as e3: Kubernetes refuses a fractional one); rendered, no predictor of the serving "
        "graph, the stable's included, could be updated"]


@pytest.mark.parametrize(("section", "quantity"), [
    ("limits", "1e99"), ("requests", "1e65"), ("limits", "1E-70"), ("requests", "2.5e+100")])
def test_an_exponent_past_e64_is_named_as_such(section: str, quantity: str) -> None:
    """The CRD's pattern took any integer exponent before; the operator computes none past e64,
    and such an object is InvalidSpec. Its problem said "Kubernetes refuses a fractional one"
    of an integer exponent (review-final-api qty): it says what is wrong now."""
    other = "limits" if section == "requests" else "requests"
    spec = _model({section: {"cpu": quantity}, other: {"cpu": "1"}}).spec
    problems = [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
                if p.startswith("spec.serving.resources")]
    assert problems == [
        f"spec.serving.resources.{section}.cpu: {quantity!r} has an exponent outside "
        "e-64..e64, which the operator computes no quantity beyond (no resource is that large "
        "or small; the CRD refuses it since)"]


def test_every_quantity_kubernetes_does_not_parse_is_named() -> None:
    spec = _model({"requests": {"cpu": "1e2.5", "memory": "1e1.5"},
                   "limits": {"memory": "2E3."}}).spec
    named = [p.split(":")[0] for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
             if p.startswith("spec.serving.resources")]
    assert named == ["spec.serving.resources.requests.cpu",
                     "spec.serving.resources.requests.memory",
                     "spec.serving.resources.limits.memory"]


def test_the_model_still_parses_an_object_stored_before_the_rule() -> None:
    """The typed model does not refuse it: a stored object must parse, so that its pass is
    InvalidSpec (an abort still acted on), not an error at every pass."""
    parsed = ResourceRequirements.model_validate({"requests": {"cpu": 2}, "limits": {"cpu": 1}})
    assert parsed.requests_over_limits() == ["cpu"]
