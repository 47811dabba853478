"""Alias names MLflow reserves (``latest`` in any case, ``v<number>``:
``mlflow/utils/validation.py`` ``_validate_model_alias_name_reserved``) are refused where they
could never work: a ``promotionAlias`` of one was accepted and its write refused for good at
the first promotion, days later; a followed ``alias`` ``v3`` never exists. The typed model (the
operator's reading, for an object stored before the rules) and the CRD's CEL rules (the API
server's: same patterns, read here; the API server itself in
``tests/integration/operator/test_api_server.py``) refuse the same, naming the reserved rule."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.validation import schema_problems


def _model_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    properties: dict[str, Any] = schema["properties"]["spec"]["properties"]["model"]["properties"]
    return properties


def _cel_refuses(field: str, value: str) -> list[str]:
    """The messages of the CRD's rules on ``field`` that refuse ``value`` (each rule is
    ``!self.matches('<pattern>')``)."""
    refused = []
    for rule in _model_schema()[field]["x-kubernetes-validations"]:
        found = re.fullmatch(r"!self\.matches\('(.+)'\)", rule["rule"])
        assert found is not None, rule
        if re.search(found.group(1), value):
            refused.append(rule["message"])
    return refused


def _reference(**fields: str) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": "m", **fields})


@pytest.mark.parametrize(("alias", "rule"), [
    ("latest", "must not be 'latest' (in any case)"), ("Latest", "(in any case)"),
    ("LATEST", "(in any case)"), ("v2", "must not be v<number>"), ("V10", "v<number>")])
def test_a_reserved_promotion_alias_is_refused_naming_the_rule(alias: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _reference(alias="champion", promotionAlias=alias)
    (problem,) = schema_problems(refused.value)
    assert problem.startswith("spec.promotionAlias") and rule in problem
    assert "MLflow reserves" in problem
    (message,) = _cel_refuses("promotionAlias", alias)
    assert rule in message


@pytest.mark.parametrize("alias", ["production", "v2-candidate", "latest_good", "vx", "v"])
def test_other_promotion_aliases_are_taken(alias: str) -> None:
    assert _reference(alias="champion", promotionAlias=alias).promotion_alias == alias
    assert _cel_refuses("promotionAlias", alias) == []


def test_a_followed_alias_named_like_a_version_is_refused_and_latest_followed() -> None:
    with pytest.raises(ValidationError) as refused:
        _reference(alias="v3")
    (problem,) = schema_problems(refused.value)
    assert problem.startswith("spec.alias") and 'set version: "3"' in problem
    assert _cel_refuses("alias", "v3") and _cel_refuses("alias", "V3")
    assert _reference(alias="latest").alias == "latest"  # MLflow answers it: the newest
    assert _cel_refuses("alias", "latest") == []
