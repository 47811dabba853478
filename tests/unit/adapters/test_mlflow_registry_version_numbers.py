"""MLflow numbers a registered model's versions 1, 2, 3, ...: a model version answered with
any other version (``2-api"} or vector(1) #``, ``03``, ``0``, ``-1``, 17 digits) is not
MLflow's answer, and is refused (``RegistryRequestError``, so ``InvalidModel`` for the
resolver) before it names a predictor (``render.naming.predictor_name``: Seldon names the
predictor's Service and Deployments after it) or goes into a gate's PromQL unescaped. Before,
any non-empty string went through (a review, 2026-12-07)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests

from uplift_operator.adapters.mlflow_registry import FailFast, MlflowRegistry, RegistryRequestError
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import Resolver, Scope

GOOD = {"name": "m", "version": "3", "status": "READY", "run_id": "r", "source": "s"}
INJECTED = '2-api"} or vector(1) #'


class _Answering(MlflowRegistry):
    """An MLflow answering every read with ``body`` (JSON, HTTP 200)."""

    def __init__(self, body: object) -> None:
        super().__init__("http://mlflow.test", fail_fast=FailFast(hold=5))
        self.body = body

    def _request(self, *_: Any, **__: Any) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(self.body).encode()
        response.headers["Content-Type"] = "application/json"
        return response


def _answering_version(version: object) -> _Answering:
    return _Answering({"model_version": {**GOOD, "version": version}})


@pytest.mark.parametrize("version", [INJECTED, "api", "v3", "03", "0", "-1", -1, 0, "3.0",
                                     " 3", "3\n", "١٢", "1" * 17, 10 ** 16])
def test_a_version_mlflow_does_not_number_is_refused(version: object) -> None:
    registry = _answering_version(version)
    for read in ({"alias": "champion"}, {"version": "3"}):
        with pytest.raises(RegistryRequestError) as refused:
            registry.resolve("m", **read)
        message = str(refused.value)
        assert "is not a positive integer of at most 16 digits" in message
        assert "as MLflow numbers versions (1, 2, 3, ...)" in message
        # An answer MLflow does not give is never quoted (short ones may occur in the words).
        assert len(str(version)) < 4 or str(version) not in message


@pytest.mark.parametrize(("version", "read"), [("1", "1"), ("3", "3"), (42, "42"),
                                               ("9" * 16, "9" * 16)])
def test_a_version_as_mlflow_numbers_them_reads(version: object, read: str) -> None:
    assert _answering_version(version).resolve("m", alias="champion").version == read


def test_the_resolver_says_invalid_model_and_serves_nothing_of_it() -> None:
    scope: Scope = ("http://mlflow.test", "", "")
    ref = ModelReference.model_validate({"registeredModel": "m", "alias": "champion"})
    resolution = Resolver().resolve(scope, ref, _answering_version(INJECTED),
                                    dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC))
    assert resolution.reason == "InvalidModel" and resolution.desired is None
    assert resolution.message.startswith(
        "MLflow refused the read of alias champion of m: MLflow answered a model_version whose "
        "version (str, 22 characters, not shown) is not a positive integer")
    assert INJECTED not in resolution.message
