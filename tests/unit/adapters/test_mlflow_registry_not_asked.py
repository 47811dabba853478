"""A request the tracking URI's breaker fails fast is ``RegistryNotAsked`` (a
``RegistryUnavailable``, so every caller that holds on an unavailable MLflow still does), and
only such a request: the resolver answers an alias failed fast with what it knew of it
(``services.resolution``), never with the breaker's "did not answer" in place of a deleted
alias's ModelNotFound. The HTTP layer is faked as in ``test_mlflow_registry_fail_fast``."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fake_http import Clock, Http, installed

from uplift_operator.adapters.mlflow_registry import (
    Credentials,
    FailFast,
    MlflowRegistry,
    RegistryNotAsked,
    RegistryNotFound,
    RegistryUnavailable,
)

URI = "http://mlflow.test:5000"
TIMEOUT = 5.0
NOT_FOUND = {"error_code": "INVALID_PARAMETER_VALUE",
             "message": "Registered model alias champion not found."}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Http:
    return installed(monkeypatch, Http(clock, TIMEOUT, {}, timed_out="Read timed out."))


def test_only_the_requests_failed_fast_are_not_asked(clock: Clock, http: Http) -> None:
    breaker = FailFast(clock=clock)
    slow = MlflowRegistry(URI, credentials=Credentials.bearer("team-a-token"), timeout=TIMEOUT,
                          fail_fast=breaker)
    other = MlflowRegistry(URI, credentials=Credentials.bearer("team-b-token"), timeout=TIMEOUT,
                           fail_fast=breaker)
    http.behave = lambda _: (400, NOT_FOUND)
    with pytest.raises(RegistryNotFound):
        other.resolve("deleted", alias="champion")
    http.behave = http.time_out
    with pytest.raises(RegistryUnavailable) as timed_out:
        slow.resolve("slow", alias="champion")
    assert not isinstance(timed_out.value, RegistryNotAsked)  # sent: it did not answer
    calls = http.calls
    http.behave = lambda _: (400, NOT_FOUND)
    with pytest.raises(RegistryNotAsked) as unsent:
        other.resolve("deleted", alias="champion")
    assert http.calls == calls
    assert isinstance(unsent.value, RegistryUnavailable)
    assert unsent.value.message == timed_out.value.message


def test_a_refused_connection_is_not_not_asked(clock: Clock, http: Http) -> None:
    registry = MlflowRegistry(URI, timeout=TIMEOUT, fail_fast=FailFast(clock=clock))
    http.behave = http.refuse
    for _ in range(2):
        with pytest.raises(RegistryUnavailable) as refused:
            registry.resolve("m", alias="champion")
        error: Any = refused.value
        assert not isinstance(error, RegistryNotAsked)
