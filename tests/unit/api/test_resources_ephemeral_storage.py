"""``spec.serving.resources`` takes ``ephemeral-storage`` as a Pod does (review-render C).

``ResourceList`` had ``cpu`` and ``memory`` only: an ``ephemeral-storage`` request or limit was
dropped by the model and pruned by the API server, so the runtime's pods ran without it (MLflow
downloads the model into their ``/tmp`` emptyDir, which then had no bound but the node's
disk). It is a quantity as ``memory`` is (int or string, the same pattern), written back under
its Pod name. A request above its limit is refused as ``memory``'s is (the CRD's CEL rule,
``tests/unit/domain/test_validation_resources.py``; for an object stored before it, the
operator's InvalidSpec through ``requests_over_limits``).
Extended resources (``nvidia.com/gpu``) are still not taken: they would need the list to be a
map, which a structural schema cannot give beside named properties.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.api.v1alpha1.common import (
    QUANTITY_PATTERN,
    RESOURCE_FIELDS,
    ResourceList,
    ResourceRequirements,
)
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def _resources_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]["serving"]["properties"][
        "resources"]
    return node


@pytest.mark.parametrize("quantity", ["2Gi", 1073741824, "1e9", "500M"])
def test_ephemeral_storage_is_taken_and_written_back_under_its_pod_name(
        quantity: int | str) -> None:
    body = {"requests": {"ephemeral-storage": quantity}, "limits": {"ephemeral-storage": quantity,
                                                                    "memory": "1Gi"}}
    parsed = ResourceRequirements.model_validate(body)
    assert parsed.requests is not None and parsed.requests.ephemeral_storage == quantity
    assert parsed.limits is not None and parsed.limits.quantity("ephemeral-storage") == quantity
    assert parsed.to_wire() == body  # what services.upliftmodel renders from


@pytest.mark.parametrize("quantity", ["2GB", "abc", "-1", 0.5, -1, True])
def test_an_ephemeral_storage_the_api_server_refuses_is_refused(quantity: Any) -> None:
    with pytest.raises(ValidationError):
        ResourceRequirements.model_validate({"limits": {"ephemeral-storage": quantity}})


def test_the_crd_declares_ephemeral_storage_as_it_declares_memory() -> None:
    """Undeclared, the API server pruned it from every object it stored."""
    resources = _resources_schema()
    for section in ("requests", "limits"):
        properties = resources["properties"][section]["properties"]
        node, memory = properties["ephemeral-storage"], properties["memory"]
        assert node["x-kubernetes-int-or-string"] is True and "type" not in node
        assert node["pattern"] == QUANTITY_PATTERN == memory["pattern"]
        assert (node["minimum"], node["maxLength"]) == (memory["minimum"], memory["maxLength"])
        assert "nvidia.com/gpu" in node["description"]  # says what is not taken
        assert set(properties) == set(RESOURCE_FIELDS)
        # No map of other resources: beside named properties a structural schema has none.
        assert "additionalProperties" not in resources["properties"][section]


def test_an_extended_resource_is_still_not_taken() -> None:
    parsed = ResourceList.model_validate({"nvidia.com/gpu": 1, "cpu": 1})
    assert parsed.quantity("nvidia.com/gpu") is None
    assert parsed.model_dump(by_alias=True, exclude_none=True) == {"cpu": 1}


@pytest.mark.parametrize(("requests", "limits", "over"), [
    ({"ephemeral-storage": "2Gi"}, {"ephemeral-storage": "1Gi"}, ["ephemeral-storage"]),
    ({"ephemeral-storage": 1073741825}, {"ephemeral-storage": "1Gi"}, ["ephemeral-storage"]),
    ({"ephemeral-storage": "1Gi"}, {"ephemeral-storage": "1Gi"}, []),
    ({"ephemeral-storage": "1G"}, {"ephemeral-storage": "1Gi"}, []),
    ({"ephemeral-storage": "4Gi"}, {"memory": "1Gi"}, []),   # no limit: nothing to exceed
    ({"cpu": 2, "ephemeral-storage": "2Gi"}, {"cpu": 1, "ephemeral-storage": "1Gi"},
     ["cpu", "ephemeral-storage"]),
])
def test_an_ephemeral_storage_request_above_its_limit_is_invalid_spec(
        requests: dict[str, Any], limits: dict[str, Any], over: list[str]) -> None:
    """Kubernetes refuses such a Pod, so every predictor's Deployment, the stable's included,
    could not be updated: the operator calls the spec InvalidSpec and keeps the graph's
    resources (``domain.validation``)."""
    resources = ResourceRequirements.model_validate({"requests": requests, "limits": limits})
    assert resources.requests_over_limits() == over
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    body["spec"].setdefault("serving", {})["resources"] = {"requests": requests, "limits": limits}
    problems = [p for p in validation.validate_upliftmodel(
        UpliftModel.model_validate(body).spec, BUILTIN_TEMPLATES) if "resources" in p]
    assert len(problems) == len(over)
    for problem, resource in zip(problems, over, strict=True):
        assert problem.startswith(f"spec.serving.resources: requests.{resource} must not "
                                  f"exceed limits.{resource}")
