"""Alias names MLflow reserves (``latest`` in any case, ``v<number>``:
``mlflow/utils/validation.py`` ``_validate_model_alias_name_reserved``) are refused where they
could never work: a ``promotionAlias`` of one was accepted and its write refused for good at
the first promotion, days later; a followed ``alias`` ``v3`` never exists. The CRD's CEL rules
refuse them in an apply (the API server's: same patterns, read here; the API server itself in
``tests/integration/operator/test_api_server.py``); the typed model takes them, so that an
object stored before the rules parses, and ``domain.validation`` reports them in the rules'
words (InvalidSpec: an abort still acted on, ``tests/unit/services/
test_stored_before_the_reserved_rules.py``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference, UpliftModelSpec
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.domain.validation import validate_upliftmodel

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "upliftmodel.yaml"


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


def _problems(**model: str) -> list[str]:
    """What the operator says of the sample UpliftModel with ``model``'s fields in spec.model
    (the version/alias choice replaced)."""
    sample = yaml.safe_load(SAMPLE.read_text())
    reference = {k: v for k, v in sample["spec"]["model"].items() if k not in ("version", "alias")}
    spec = UpliftModelSpec.model_validate({**sample["spec"], "model": {**reference, **model}})
    return validate_upliftmodel(spec, BUILTIN_TEMPLATES, name=sample["metadata"]["name"])


@pytest.mark.parametrize(("alias", "rule"), [
    ("latest", "must not be 'latest' (in any case)"), ("Latest", "(in any case)"),
    ("LATEST", "(in any case)"), ("v2", "must not be v<number>"), ("V10", "v<number>")])
def test_a_reserved_promotion_alias_is_refused_naming_the_rule(alias: str, rule: str) -> None:
    (message,) = _cel_refuses("promotionAlias", alias)
    assert rule in message and "MLflow reserves" in message
    # Stored before the rule: typed, and reported in the rule's words.
    assert _reference(alias="champion", promotionAlias=alias).promotion_alias == alias
    (problem,) = _problems(alias="champion", promotionAlias=alias)
    assert problem == f"spec.{message} (got {alias!r})"
    assert problem.startswith("spec.model.promotionAlias")


@pytest.mark.parametrize("alias", ["production", "v2-candidate", "latest_good", "vx", "v"])
def test_other_promotion_aliases_are_taken(alias: str) -> None:
    assert _reference(alias="champion", promotionAlias=alias).promotion_alias == alias
    assert _cel_refuses("promotionAlias", alias) == []
    assert _problems(alias="champion", promotionAlias=alias) == []


def test_a_followed_alias_named_like_a_version_is_refused_and_latest_followed() -> None:
    assert _cel_refuses("alias", "v3") and _cel_refuses("alias", "V3")
    assert _reference(alias="v3").alias == "v3"  # stored before the rule: typed
    (problem,) = _problems(alias="v3")
    assert problem.startswith("spec.model.alias must not be v<number>")
    assert 'set version: "3"' in problem and "(got 'v3')" in problem
    assert _reference(alias="latest").alias == "latest"  # MLflow answers it: the newest
    assert _cel_refuses("alias", "latest") == []
    assert _problems(alias="latest") == []
