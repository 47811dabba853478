"""``spec.serving.resources`` quantities: int or string, as in a Pod, and rendered as strings.

``cpu: 2`` is an integer in YAML and in what Helm's ``toYaml`` emits; a string-only schema
refused it (an Argo CD sync error). The model accepts what the CRD's int-or-string schema
accepts and refuses what it refuses, a bare fraction included (the API server's
int-or-string refuses a JSON number that is not an integer), and the graph always gets
strings.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.common import (
    QUANTITY_PATTERN,
    ResourceRequirements,
    quantity_value,
)
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend, quantities_as_strings
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit


@pytest.mark.parametrize("quantity", [
    1, 2, 0, "500m", "1Gi", "0.5", ".5", "1e3", "1E-2", "2Pi", "1Ei", "3P", "100u", "1.5E",
])
def test_a_kubernetes_quantity_is_accepted(quantity: int | str) -> None:
    parsed = ResourceRequirements.model_validate({"requests": {"cpu": quantity, "memory": quantity}})
    assert parsed.requests is not None and parsed.requests.cpu == quantity


@pytest.mark.parametrize("quantity", [
    "abc", "", "1 Gi", "-1", "+1", "1KiB", "1gi", "1e", -1, True, 0.5, 1.0, [1], {"cpu": 1},
])
def test_what_the_api_server_refuses_is_refused(quantity: Any) -> None:
    with pytest.raises(ValidationError):
        ResourceRequirements.model_validate({"limits": {"cpu": quantity}})


def test_the_schema_is_int_or_string_in_the_structural_form() -> None:
    """The API server refuses a CRD whose int-or-string node also has a ``type`` (or an
    ``anyOf`` other than integer/string); the pattern and length bind strings only."""
    spec = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    resources = spec["properties"]["spec"]["properties"]["serving"]["properties"]["resources"]
    for section in ("requests", "limits"):
        for name in ("cpu", "memory"):
            node = resources["properties"][section]["properties"][name]
            assert node["x-kubernetes-int-or-string"] is True
            assert "type" not in node and "anyOf" not in node
            assert node["pattern"] == QUANTITY_PATTERN and node["minimum"] == 0
            assert node["description"]


@pytest.mark.parametrize(("text", "matches"), [
    ("129e6", True), ("123Mi", True), ("0.1", True), ("5.", True), ("1.5Gi", True),
    ("1m5", False), ("Mi", False), ("1Zi", False),
    # The exponent is an integer (resource.ParseQuantity refuses a fractional one).
    ("1e-3", True), ("2E+3", True), ("1e2.5", False), ("1.5e.5", False), ("2E3.", False),
    ("1e", False),
    # Bounded to e-64..e64, what ``quantity_value`` computes: past it an object the API server
    # took was InvalidSpec, named as a fractional exponent (review-final-api qty).
    ("1e64", True), ("1e-64", True), ("1E+64", True), ("1e59", True), ("1e9", True),
    ("1e0", True), ("1e65", False), ("1e-65", False), ("1e70", False), ("1e100", False),
    ("1e640", False),
    # Leading zeros: Kubernetes and ``quantity_value`` read them (review of 74460df).
    ("1e05", True), ("1e064", True), ("1e-007", True), ("1e0064", True), ("1e065", False),
])
def test_the_pattern_follows_kubernetes_quantity_grammar(text: str, matches: bool) -> None:
    assert bool(re.fullmatch(QUANTITY_PATTERN, text)) is matches


@pytest.mark.parametrize("quantity", ["1e2.5", "1.5e.5", "2E3."])
def test_a_fractional_exponent_stored_before_the_crd_refused_it_is_still_typed(
        quantity: str) -> None:
    """The CRD's pattern refuses it (its model pattern is the earlier, laxer one): an object
    stored before must parse, so that its pass is InvalidSpec naming the field
    (``domain.validation``), an abort still acted on, rather than an untyped spec."""
    spec = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node = spec["properties"]["spec"]["properties"]["serving"]["properties"]["resources"][
        "properties"]["requests"]["properties"]["cpu"]
    assert not re.fullmatch(node["pattern"], quantity)
    parsed = ResourceRequirements.model_validate({"requests": {"cpu": quantity}})
    assert parsed.requests is not None and parsed.requests.cpu == quantity


def test_the_rendered_graph_gets_every_quantity_as_a_string() -> None:
    resources = ResourceRequirements.model_validate(
        {"requests": {"cpu": 1, "memory": "512Mi"}, "limits": {"cpu": 2, "memory": 1073741824}})
    wire = resources.to_wire()
    assert wire["requests"]["cpu"] == 1  # the wire keeps what the user wrote
    runtime = RuntimeSettings(image="runtime:1", registered_model="m", tracking_uri="http://m",
                              resources=wire)
    graph = SeldonV1Backend().render(Owner(name="m", namespace="ns", uid="u"), runtime,
                                     TrafficSplit("3", "4", 10))
    containers = [c for p in graph["spec"]["predictors"]
                  for c in p["componentSpecs"][0]["spec"]["containers"]]
    assert len(containers) == 2
    for container in containers:
        assert container["resources"] == {"requests": {"cpu": "1", "memory": "512Mi"},
                                          "limits": {"cpu": "2", "memory": "1073741824"}}


def test_quoting_a_value_renders_the_same_graph() -> None:
    assert quantities_as_strings({"limits": {"cpu": 2}}) == quantities_as_strings(
        {"limits": {"cpu": "2"}})


@pytest.mark.parametrize("exponent", [*range(-70, 71), 99, 100, 640, 6400])
def test_the_pattern_takes_the_exponents_the_operator_computes(exponent: int) -> None:
    """The CRD takes a quantity exactly when ``quantity_value`` reads it."""
    text = f"1e{exponent:+d}"
    assert bool(re.fullmatch(QUANTITY_PATTERN, text)) is (quantity_value(text) is not None)
    assert bool(re.fullmatch(QUANTITY_PATTERN, text)) is (abs(exponent) <= 64)


def test_an_exponent_past_e64_stored_before_the_crd_refused_it_is_still_typed() -> None:
    parsed = ResourceRequirements.model_validate({"requests": {"cpu": "1e99"}})
    assert parsed.requests is not None and parsed.requests.cpu == "1e99"
