"""``spec.serving.runtimeCredentials``: the serving pods' own MLflow credentials, the same shape
as ``spec.model.credentials`` (a Secret name and its keys, with the same rules), and the CRD that
says so (``kubectl explain``), written without YAML anchors now that the shape is used twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from uplift_operator.api.crdgen import render
from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1.upliftmodel import ServingSpec

CRDS = Path(__file__).resolve().parents[3] / "crds"


def _spec_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]
    return node


def _serving(serving: dict[str, Any]) -> ServingSpec:
    return ServingSpec.model_validate(serving)


def test_the_crd_types_it_as_model_credentials_are_typed() -> None:
    spec = _spec_schema()
    runtime = spec["serving"]["properties"]["runtimeCredentials"]
    model = spec["model"]["properties"]["credentials"]
    strip = ("description",)
    assert ({k: v for k, v in runtime.items() if k not in strip}
            == {k: v for k, v in model.items() if k not in strip})
    assert "READ" in runtime["description"] and "model.credentials" in runtime["description"]


def test_the_model_reads_it_and_leaves_it_unset_by_default() -> None:
    read = _serving({"runtimeCredentials": {"name": "mlflow-reader", "usernameKey": "u",
                                          "passwordKey": "p"}})
    ref = read.runtime_credentials
    assert ref is not None and (ref.name, ref.username_key, ref.password_key) == (
        "mlflow-reader", "u", "p")
    assert _serving({}).runtime_credentials is None


def test_the_crd_carries_model_credentials_rules() -> None:
    """The CEL rules (keys set together, token exclusive, one of them set) come with the
    shape; the operator's pass checks the last of a resource stored before them
    (tests/unit/services/test_runtime_credentials.py)."""
    rules = _spec_schema()["serving"]["properties"]["runtimeCredentials"][
        "x-kubernetes-validations"]
    assert [r["rule"] for r in rules] == [
        "has(self.usernameKey) == has(self.passwordKey)",
        "!(has(self.tokenKey) && has(self.usernameKey))",
        "has(self.tokenKey) || has(self.usernameKey)"]


def test_a_name_that_is_no_secret_name_is_refused() -> None:
    """The name's pattern (a DNS-1123 subdomain, as Kubernetes names Secrets) is the model's
    and the API server's."""
    with pytest.raises(ValidationError):
        _serving({"runtimeCredentials": {"name": "MLflow_Reader", "tokenKey": "t"}})


def test_the_crd_has_no_yaml_anchors() -> None:
    """The shape used twice shares no list in the schema: written out, no ``&id``/``*id``."""
    text = render(UPLIFTMODEL)
    assert "&id0" not in text and "*id0" not in text
    assert "runtimeCredentials:" in (CRDS / "upliftmodels.uplift.dev.yaml").read_text()
