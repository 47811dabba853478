"""``status.conditions`` as Kubernetes API conventions declare metav1.Condition lists: a map
keyed by ``type`` (one condition per type; server-side apply merges by it), in both CRDs; and
``lastTransitionTime`` described as the operator moves it: an UpliftModel's ModelResolved and
ServingApplied and a Campaign's ModelServing move it on a new reason too (``domain.status``,
``domain.exposure``, ``moves_on_reason``; docs/lifecycle.md), which the description denied
("not the reason or message")."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.api.crds import CAMPAIGN, UPLIFTMODEL


def _conditions(crd: Any) -> dict[str, Any]:
    schema = crd.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    conditions: dict[str, Any] = schema["properties"]["status"]["properties"]["conditions"]
    return conditions


@pytest.mark.parametrize("crd", [UPLIFTMODEL, CAMPAIGN])
def test_conditions_are_a_map_keyed_by_type(crd: Any) -> None:
    conditions = _conditions(crd)
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "type" in conditions["items"]["required"]  # a map key must be required


@pytest.mark.parametrize("crd", [UPLIFTMODEL, CAMPAIGN])
def test_last_transition_time_names_the_types_a_new_reason_moves_it_for(crd: Any) -> None:
    """The description is shared (``StatusBase``): it names each kind's types, the Campaign's
    ModelServing too (``domain.exposure``, ``moves_on_reason``), rather than giving a Campaign
    two UpliftModel conditions it does not have."""
    said = _conditions(crd)["items"]["properties"]["lastTransitionTime"]["description"]
    assert "not the reason" not in said
    assert ("also when the reason changed for an UpliftModel's ModelResolved and "
            "ServingApplied and a Campaign's ModelServing") in said
