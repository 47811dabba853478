"""A redirect at the tracking URI (an http:// URI behind an ingress that forces https, a moved
path prefix) is followed by the MLflow client itself: requests made a GET without a body of a
POST redirected by 301, 302 or 303, and dropped a redirected DELETE's body, so every write
failed while reads worked (``set_alias``: 400 "Missing value for required parameter 'name'",
dropped as refused; ``set_version_tag``: Flask's 405, retried for ever at the head of the
model's write queue). The request goes again as it was (method, body, credentials) to the same
server (the same host and port, or http → https on the default ports) and the same API path
only, at most ``MAX_REDIRECTS`` times; anything else is a ``RegistryRequestError`` naming the
URL to set as the tracking URI (a configuration error: a write is dropped, not retried as an
outage for ever).

The HTTP is a transport adapter mounted on the client's session, so requests' own redirect
handling is what runs unless the client turns it off."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    MlflowRegistry,
    RegistryRequestError,
)
from uplift_operator.adapters.redirects import MAX_REDIRECTS
from uplift_operator.services.writeback import permanent

Answer = tuple[int, dict[str, str], bytes]


class FakeServer(BaseAdapter):
    """Records every request (method, URL, JSON body or None, Authorization) and answers with
    ``answer(method, url)``."""

    def __init__(self, answer: Callable[[str, str], Answer]) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[tuple[str, str, Any, str | None]] = []

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        body = request.body
        parsed = json.loads(body) if body else None
        self.seen.append((str(request.method), str(request.url), parsed,
                          request.headers.get("Authorization")))
        status, headers, content = self.answer(str(request.method), str(request.url))
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = content
        response.raw = io.BytesIO(content)
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


_OK: Answer = (200, {"Content-Type": "application/json"}, b"{}")


def _https_upgrade(status: int) -> Callable[[str, str], Answer]:
    def answer(method: str, url: str) -> Answer:
        if url.startswith("http://"):
            return status, {"Location": "https://" + url[len("http://"):]}, b""
        return _OK
    return answer


def _registry(server: FakeServer, uri: str = "http://mlflow.redirect.example") -> MlflowRegistry:
    registry = MlflowRegistry(uri, timeout=5,
                              credentials=Credentials.bearer("tok-redirect-0123456789"))
    session = registry._session()
    session.mount("http://", server)
    session.mount("https://", server)
    return registry


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_write_redirected_to_https_is_sent_again_as_it_was(status: int) -> None:
    server = FakeServer(_https_upgrade(status))
    registry = _registry(server)
    registry.set_alias("m", "production", "2")
    body = {"name": "m", "alias": "production", "version": "2"}
    assert [(m, u, b) for m, u, b, _ in server.seen] == [
        ("POST", "http://mlflow.redirect.example/api/2.0/mlflow/registered-models/alias", body),
        ("POST", "https://mlflow.redirect.example/api/2.0/mlflow/registered-models/alias", body),
    ]
    assert all(auth == "Bearer tok-redirect-0123456789" for *_, auth in server.seen)


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_tag_set_and_a_tag_delete_keep_their_method_and_body(status: int) -> None:
    server = FakeServer(_https_upgrade(status))
    registry = _registry(server)
    registry.set_version_tag("m", "2", "uplift.dev/role", "stable")
    registry.delete_version_tag("m", "2", "uplift.dev/role")
    tag = {"name": "m", "version": "2", "key": "uplift.dev/role"}
    assert [(m, u.split("/mlflow/")[1], b) for m, u, b, _ in server.seen] == [
        ("POST", "model-versions/set-tag", {**tag, "value": "stable"}),
        ("POST", "model-versions/set-tag", {**tag, "value": "stable"}),
        ("DELETE", "model-versions/delete-tag", tag),
        ("DELETE", "model-versions/delete-tag", tag),
    ]


def test_a_moved_prefix_on_the_same_server_is_followed_with_the_parameters_once() -> None:
    def answer(method: str, url: str) -> Answer:
        if "/mlflow-behind/" not in url:
            moved = url.replace("/api/2.0/", "/mlflow-behind/api/2.0/")
            return 301, {"Location": moved}, b""
        return 200, {"Content-Type": "application/json"}, json.dumps({"model_version": {
            "name": "m", "version": "1", "status": "READY", "source": "runs:/r/model"}}).encode()

    server = FakeServer(answer)
    assert _registry(server).resolve("m", version="1").version == "1"
    assert [u for _, u, _, _ in server.seen] == [
        "http://mlflow.redirect.example/api/2.0/mlflow/model-versions/get?name=m&version=1",
        "http://mlflow.redirect.example/mlflow-behind/api/2.0/mlflow/model-versions/get"
        "?name=m&version=1"]


def test_a_redirect_to_another_server_is_refused_naming_the_url_to_set() -> None:
    server = FakeServer(lambda method, url: (
        301, {"Location": "https://mlflow.elsewhere.example/api/2.0/mlflow/"
                          "registered-models/alias"}, b""))
    with pytest.raises(RegistryRequestError) as raised:
        _registry(server).set_alias("m", "production", "2")
    message = str(raised.value)
    assert "https://mlflow.elsewhere.example (HTTP 301), another server" in message
    assert "set spec.model.trackingUri" in message
    assert len(server.seen) == 1  # the credentials never sent there
    # A configuration error: dropped by the write-back, not held at its queue's head for ever.
    assert permanent(raised.value)


@pytest.mark.parametrize("location", [
    "http://mlflow.redirect.example:8080/api/2.0/mlflow/registered-models/alias",  # a port
    "https://mlflow.redirect.example/oauth2/start?rd=%2Fapi",  # a login page
])
def test_a_redirect_to_another_port_or_path_is_refused(location: str) -> None:
    server = FakeServer(lambda method, url: (302, {"Location": location}, b""))
    with pytest.raises(RegistryRequestError, match="not followed"):
        _registry(server).set_alias("m", "production", "2")
    assert len(server.seen) == 1


def test_an_https_to_http_downgrade_is_refused() -> None:
    server = FakeServer(lambda method, url: (
        301, {"Location": url.replace("https://", "http://")}, b""))
    with pytest.raises(RegistryRequestError, match="another server"):
        _registry(server, "https://mlflow.redirect.example").set_alias("m", "production", "2")
    assert len(server.seen) == 1


def test_redirects_are_followed_at_most_max_redirects_times() -> None:
    server = FakeServer(lambda method, url: (307, {"Location": url}, b""))
    with pytest.raises(RegistryRequestError, match=f"more than {MAX_REDIRECTS} times"):
        _registry(server).set_alias("m", "production", "2")
    assert len(server.seen) == MAX_REDIRECTS + 1


def test_a_redirect_without_a_location_is_refused() -> None:
    server = FakeServer(lambda method, url: (302, {}, b""))
    with pytest.raises(RegistryRequestError, match="without a Location"):
        _registry(server).set_alias("m", "production", "2")
