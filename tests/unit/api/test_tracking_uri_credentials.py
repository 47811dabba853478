"""spec.model.trackingUri never carries credentials: it is shown in the status, the operator's
logs and the serving pods' environment (``MLFLOW_TRACKING_URI``). The typed model (the
operator's reading) and the CRD (the API server's) refuse the same, and the status' problem
does not quote the URL."""

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


def _reference(**fields: str) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": "m", "version": "1", **fields})


@pytest.mark.parametrize("uri", ["http://reader:s3cret@mlflow:5000", "https://s3cret@mlflow/x"])
def test_a_tracking_uri_with_credentials_is_refused_without_quoting_them(uri: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _reference(trackingUri=uri)
    problems = schema_problems(refused.value)
    assert [p.split(":")[0] for p in problems] == ["spec.trackingUri"]
    assert "s3cret" not in "; ".join(problems)  # what the status says
    crd = _model_schema()["trackingUri"]
    assert not re.search(crd["pattern"], uri)
    (rule,) = crd["x-kubernetes-validations"]
    assert "model.credentials" in rule["message"] and "user:password@" in rule["message"]


@pytest.mark.parametrize("uri", ["http://mlflow:5000", "https://mlflow.example/prefix/@team"])
def test_a_tracking_uri_without_credentials_is_taken(uri: str) -> None:
    assert _reference(trackingUri=uri).tracking_uri == uri
    assert re.search(_model_schema()["trackingUri"]["pattern"], uri)
