"""With MLflow basic auth, a registered model that does not exist (deleted, renamed, never
created: a typo'd ``registeredModel``) is answered 403 "Permission denied", not 404: the
auth's permission check looks the model up first and denies one it does not find. Read as
``CredentialsRefused``, such a model pointed people to rotate the Secret, and the role and
reason writes of a deleted model held the write-back queue for ever. On a 403 naming a
registered model the client asks the user's registered-models search for it
(``filter=name='…'``, which basic auth filters down to what the user may read): not listed, the
model is not found (``RegistryNotFound``: ModelNotFound; a write of it dropped, a role tag of it
nothing to write); listed, the 403 is the permission the request needs (``CredentialsRefused``);
the search failing, ``CredentialsRefused`` saying both. One search per model a minute at most."""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from uplift_operator.adapters.mlflow_registry import (
    MODEL_LISTED_FOR,
    Credentials,
    CredentialsRefused,
    FailFast,
    MlflowRegistry,
    RegistryNotFound,
)
from uplift_operator.services.writeback import permanent

Answer = tuple[int, dict[str, str], bytes]
_DENIED: Answer = (403, {"Content-Type": "text/html; charset=utf-8"}, b"Permission denied")


class FakeMlflow(BaseAdapter):
    """MLflow with basic auth whose user may read ``readable``: every other request is denied
    (403, as MLflow's auth answers), the search lists the readable models its filter names."""

    def __init__(self, readable: set[str], search: Answer | None = None) -> None:
        super().__init__()
        self.readable = readable
        self.search = search
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        parts = urllib.parse.urlsplit(str(request.url))
        query = urllib.parse.parse_qs(parts.query)
        self.seen.append((str(request.method), parts.path, query))
        answer = _DENIED
        if parts.path.endswith("/registered-models/search"):
            answer = self.search or self._listing(query["filter"][0])
        response = requests.Response()
        response.status_code, headers, response._content = answer
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(response._content)
        response.url = str(request.url)
        response.request = request
        return response

    def _listing(self, filter_string: str) -> Answer:
        # MLflow's filter: name='x' or name="x", no escapes.
        assert filter_string[:5] == "name=" and filter_string[5] == filter_string[-1]
        name = filter_string[6:-1]
        models = [{"name": name}] if name in self.readable else []
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"registered_models": models}).encode()

    def close(self) -> None:
        pass

    def searches(self) -> list[str]:
        return [q["filter"][0] for _, path, q in self.seen if path.endswith("/search")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _registry(server: FakeMlflow, clock: Callable[[], float] | None = None) -> MlflowRegistry:
    registry = MlflowRegistry(
        "http://mlflow.auth.example", timeout=5, credentials=Credentials.basic("op", "pw-0123"),
        fail_fast=FailFast(clock=clock) if clock is not None else FailFast())
    registry._session().mount("http://", server)
    return registry


@pytest.mark.parametrize("call", [
    lambda r: r.resolve("gone", alias="production"),
    lambda r: r.resolve("gone", version="1"),
    lambda r: r.set_version_tag("gone", "1", "uplift.dev/role", "retired"),
    lambda r: r.set_alias("gone", "production", "1"),
    lambda r: r.delete_version_tag("gone", "1", "uplift.dev/role"),
], ids=["alias", "version", "set-tag", "set-alias", "delete-tag"])
def test_a_403_for_a_model_the_search_does_not_list_is_not_found(
        call: Callable[[MlflowRegistry], object]) -> None:
    server = FakeMlflow(readable={"m"})
    with pytest.raises(RegistryNotFound) as raised:
        call(_registry(server))
    assert str(raised.value).startswith("Registered Model with name=gone not found")
    assert "403" in str(raised.value)
    assert server.searches() == ["name='gone'"]
    # The write-back drops it (an alias write) or has nothing to write (a role tag), instead
    # of retrying it for ever as refused credentials at the head of the model's queue.
    assert permanent(raised.value)
    assert raised.value.status_code not in (401, 403)  # no Secret re-read for it


def test_a_403_for_a_model_the_search_lists_stays_credentials_refused() -> None:
    server = FakeMlflow(readable={"m"})
    with pytest.raises(CredentialsRefused) as raised:
        _registry(server).set_alias("m", "production", "1")
    assert raised.value.status_code == 403
    assert str(raised.value).startswith("MLflow denied permission to the credentials' user")
    assert not permanent(raised.value)
    assert server.searches() == ["name='m'"]


def test_the_search_failing_keeps_credentials_refused_and_says_both() -> None:
    server = FakeMlflow(readable=set(), search=(500, {"Content-Type": "text/plain"}, b"boom"))
    with pytest.raises(CredentialsRefused) as raised:
        _registry(server).resolve("gone", alias="production")
    assert "or registered model gone does not exist" in str(raised.value)


def test_a_name_with_a_single_quote_is_searched_in_double_quotes() -> None:
    server = FakeMlflow(readable={"it's"})
    with pytest.raises(CredentialsRefused):
        _registry(server).resolve("it's", alias="production")
    assert server.searches() == ['name="it\'s"']


def test_a_name_no_filter_can_quote_is_not_searched() -> None:
    server = FakeMlflow(readable=set())
    with pytest.raises(CredentialsRefused, match="does not exist"):
        _registry(server).resolve("""it's "x\"""", alias="production")
    assert server.searches() == []


def test_a_model_is_searched_at_most_once_a_minute() -> None:
    server, clock = FakeMlflow(readable={"m"}), Clock()
    registry = _registry(server, clock)
    for _ in range(3):
        with pytest.raises(CredentialsRefused):
            registry.set_alias("m", "production", "1")
    assert len(server.searches()) == 1
    clock.now += MODEL_LISTED_FOR
    with pytest.raises(CredentialsRefused):
        registry.set_alias("m", "production", "1")
    assert len(server.searches()) == 2


def test_a_403_naming_no_model_is_not_searched() -> None:
    server = FakeMlflow(readable=set())
    with pytest.raises(CredentialsRefused):
        _registry(server).run_metrics("0123abcd")
    assert server.searches() == []
