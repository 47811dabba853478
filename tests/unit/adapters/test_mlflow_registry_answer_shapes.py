"""What the MLflow adapter makes of answers MLflow does not give: a model version of another
shape (``tags: [null]``) is ``RegistryRequestError``, never a ``TypeError`` past every
caller's handling; a 404 page or a 2xx body that is not MLflow's JSON at the tracking URI is
``RegistryNotMlflow`` (a ``RegistryUnavailable`` to the callers that hold on an outage, which
the resolver reads as the URI's problem), while an MLflow 5xx or a proxy's 502 stays plain
``RegistryUnavailable``."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from uplift_operator.adapters.mlflow_registry import (
    FailFast,
    MlflowRegistry,
    RegistryNotMlflow,
    RegistryRequestError,
    RegistryUnavailable,
)

GOOD = {"name": "m", "version": "3", "status": "READY", "run_id": "r", "source": "s"}


class _Answering(MlflowRegistry):
    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__("http://mlflow.test", fail_fast=FailFast(hold=5))
        self.answer = (status, body, content_type)

    def _request(self, *_: Any, **__: Any) -> requests.Response:
        status, body, content_type = self.answer
        response = requests.Response()
        response.status_code, response._content = status, body
        response.headers["Content-Type"] = content_type
        return response


def _json(status: int, body: object) -> _Answering:
    return _Answering(status, json.dumps(body).encode(), "application/json")


@pytest.mark.parametrize("odd", [{"tags": [None]}, {"tags": "k=v"}, {"tags": [1]},
                                 {"aliases": [None]}, {"aliases": "champion"},
                                 {"version": None}, {"version": {"n": 3}}, {"status": 1},
                                 {"run_id": ["r"]}])
def test_a_model_version_of_another_shape_is_a_request_error(odd: dict[str, Any]) -> None:
    registry = _json(200, {"model_version": {**GOOD, **odd}})
    for read in ({"alias": "champion"}, {"version": "3"}):
        with pytest.raises(RegistryRequestError, match="not of the shape MLflow gives"):
            registry.resolve("m", **read)


def test_a_model_version_of_mlflows_shape_reads() -> None:
    body = {**GOOD, "tags": [{"key": "k", "value": "v"}], "aliases": ["champion"],
            "version": 3}
    found = _json(200, {"model_version": body}).resolve("m", alias="champion")
    assert (found.version, dict(found.tags), found.aliases) == ("3", {"k": "v"}, ("champion",))


@pytest.mark.parametrize("model", [{"registered_model": ["m"]},
                                   {"registered_model": {"latest_versions": {"v": 1}}},
                                   {"registered_model": {"latest_versions": [{"version": None}]}}])
def test_a_registered_model_of_another_shape_is_a_request_error(model: dict[str, Any]) -> None:
    with pytest.raises(RegistryRequestError):
        _json(200, model).resolve("m")


@pytest.mark.parametrize("listing", [{"registered_models": 5},
                                     {"registered_models": [None]},
                                     {"registered_models": [{"name": "m", "aliases": 7}]}])
def test_a_listing_of_another_shape_is_a_request_error(listing: dict[str, Any]) -> None:
    with pytest.raises(RegistryRequestError):
        _json(200, listing).registered_aliases()


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (404, b"<html>404 Not Found</html>", "text/html"),
    (200, b"<html>Welcome to nginx</html>", "text/html"),
    (200, b"[1, 2]", "application/json"),
])
def test_an_answer_not_mlflows_at_the_tracking_uri_says_so(status: int, body: bytes,
                                                           content_type: str) -> None:
    registry = _Answering(status, body, content_type)
    with pytest.raises(RegistryNotMlflow) as raised:
        registry.resolve("m", alias="champion")
    assert isinstance(raised.value, RegistryUnavailable)  # callers holding on outages hold
    assert raised.value.status_code == status
    assert "nginx" not in str(raised.value)  # another service's answer is never quoted


@pytest.mark.parametrize(("body", "content_type"), [
    (b"404 page not found\n", "text/plain"),  # Traefik: the Service has no ready endpoint
    (b"<!doctype html><title>404 Not Found</title>", "text/html"),  # Flask: an old MLflow
])
def test_a_404_not_mlflows_names_an_mlflow_too_old_too(body: bytes, content_type: str) -> None:
    """An unknown route of MLflow may get Flask's HTML 404, not ``ENDPOINT_NOT_FOUND``: an
    MLflow before 2.3 has no alias API. The message does not claim only "no MLflow here"."""
    with pytest.raises(RegistryNotMlflow) as raised:
        _Answering(404, body, content_type).resolve("m", alias="champion")
    assert "MLflow too old for this API" in str(raised.value)
    assert "MLflow ≥ 2.3" in str(raised.value)
    assert raised.value.status_code == 404


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_error_page_of_a_server_is_unavailable_not_another_server(status: int) -> None:
    with pytest.raises(RegistryUnavailable) as raised:
        _Answering(status, b"<html>Bad Gateway</html>", "text/html").resolve("m", version="3")
    assert not isinstance(raised.value, RegistryNotMlflow)
