"""Names of Kubernetes objects an UpliftModel refers to, as Kubernetes names them.

A Secret and a ServiceAccount are named by a DNS-1123 *subdomain* (dots, at most 253): the
credentials and report-token Secrets were typed a DNS label, so a valid Secret such as
``mlflow.basic-auth`` could not be named (review-api secret_name.py). ``serviceAccountName``
and ``runtimeImage`` had no format: a name Kubernetes refuses in a Pod passed the CRD and the
operator and was rendered into every predictor's pod spec (review-api service_account.py).
The CRD refuses them now; the model still types a value stored before (the patterns are the
API server's alone), which ``domain.validation`` calls InvalidSpec, naming the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from uplift_operator.api.crds import UPLIFTMODEL
from uplift_operator.api.v1alpha1 import UpliftModel
from uplift_operator.api.v1alpha1.common import SUBDOMAIN_PATTERN, SecretCredentials
from uplift_operator.api.v1alpha1.upliftmodel import RUNTIME_IMAGE_PATTERN, ReportCredentials
from uplift_operator.domain import validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"

SUBDOMAINS = ["mlflow-creds", "mlflow.basic-auth", "team.ml.mlflow-token", "a", "0", "a" * 253,
              ".".join(["a" * 63] * 4)[:253]]
NOT_SUBDOMAINS = ["Model_Runner", "runner sa", "-x-", "a.", ".a", "a..b", "a.-b", "a" * 254, "",
                  "MLflow"]


def _serving_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]["serving"]
    return node


def _model_schema() -> dict[str, Any]:
    schema = UPLIFTMODEL.manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    node: dict[str, Any] = schema["properties"]["spec"]["properties"]["model"]
    return node


def _matches(node: dict[str, Any], value: str) -> bool:
    """What the API server's structural schema says of a string (pattern and lengths). Its
    regular expressions are RE2's, whose ``$`` matches at the very end only (Python's before a
    trailing newline too): read as ``\\Z``."""
    pattern = re.sub(r"\$$", r"\\Z", node["pattern"])
    return (node.get("minLength", 0) <= len(value) <= node.get("maxLength", 10**9)
            and re.search(pattern, value) is not None)


@pytest.mark.parametrize("name", SUBDOMAINS)
def test_a_secret_is_named_by_a_subdomain(name: str) -> None:
    assert SecretCredentials.model_validate({"name": name, "tokenKey": "t"}).name == name
    assert ReportCredentials.model_validate({"name": name}).name == name
    for node in (_model_schema()["properties"]["credentials"]["properties"]["name"],
                 _serving_schema()["properties"]["reportCredentials"]["properties"]["name"]):
        assert _matches(node, name)


@pytest.mark.parametrize("name", NOT_SUBDOMAINS)
def test_a_secret_name_kubernetes_refuses_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        SecretCredentials.model_validate({"name": name, "tokenKey": "t"})
    with pytest.raises(ValidationError):
        ReportCredentials.model_validate({"name": name})
    for node in (_model_schema()["properties"]["credentials"]["properties"]["name"],
                 _serving_schema()["properties"]["reportCredentials"]["properties"]["name"]):
        assert not _matches(node, name)


def test_the_crd_says_the_service_account_and_image_formats() -> None:
    serving = _serving_schema()["properties"]
    assert serving["serviceAccountName"]["pattern"] == SUBDOMAIN_PATTERN
    assert serving["serviceAccountName"]["maxLength"] == 253
    assert serving["runtimeImage"]["pattern"] == RUNTIME_IMAGE_PATTERN


@pytest.mark.parametrize("image", ["ghcr.io/uplift/runtime:1.2", "runtime@sha256:" + "a" * 64,
                                   "localhost:5000/r:v1"])
def test_an_image_reference_passes(image: str) -> None:
    assert _matches(_serving_schema()["properties"]["runtimeImage"], image)


@pytest.mark.parametrize("image", ["runtime :1", "runtime\n", "\truntime", "run\x7ftime", ""])
def test_an_image_with_whitespace_or_control_characters_is_refused(image: str) -> None:
    assert not _matches(_serving_schema()["properties"]["runtimeImage"], image)


def _problems(**serving: Any) -> list[str]:
    body = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
    body["spec"].setdefault("serving", {}).update(serving)
    spec = UpliftModel.model_validate(body).spec  # a value stored before the pattern: typed
    return [p for p in validation.validate_upliftmodel(spec, BUILTIN_TEMPLATES)
            if p.startswith("spec.serving.")]


@pytest.mark.parametrize("account", ["Model_Runner", "runner sa", "-x-", "a.", "a..b", "MLflow",
                                     ""])
def test_a_service_account_stored_before_the_pattern_is_invalid_spec(account: str) -> None:
    [problem] = _problems(serviceAccountName=account)
    assert problem.startswith(f"spec.serving.serviceAccountName: {account!r} is not a "
                              "ServiceAccount name (a DNS-1123 subdomain")
    assert not _matches(_serving_schema()["properties"]["serviceAccountName"], account)


@pytest.mark.parametrize("account", SUBDOMAINS)
def test_a_service_account_kubernetes_takes_passes(account: str) -> None:
    assert _problems(serviceAccountName=account) == []
    assert _matches(_serving_schema()["properties"]["serviceAccountName"], account)


@pytest.mark.parametrize("image", ["runtime :1", "runtime\n", "\truntime", "run\x7ftime"])
def test_an_image_stored_before_the_pattern_is_invalid_spec(image: str) -> None:
    assert _problems(runtimeImage=image) == [
        f"spec.serving.runtimeImage: {image!r} is not an image reference (it has whitespace "
        "or a control character)"]


def test_an_image_reference_passes_validation() -> None:
    assert _problems(runtimeImage="ghcr.io/uplift/runtime:1.2") == []
