"""An answer not MLflow's at the tracking URI (``RegistryNotMlflow``) is told apart by whether
the URI answered as MLflow before in this process: a reverse proxy (Traefik, k3s's default)
answers a plain-text ``404 page not found`` while the MLflow Service has no ready endpoint
(its pod restarting), which is an outage — ``RegistryUnavailable``, the identity probed as
down, no fresh answer overridden — where before it read ``InvalidModel`` ("fix trackingUri",
Degraded after the grace) and MLflow was never marked down. A URI that never answered as
MLflow is the URI's problem (``InvalidModel``), which a later unreachable read does not keep.
A followed version's re-read by the poller is retried a minute on only when MLflow could not
answer; an answer (deleted, refused, not MLflow's) waits a period, and an unexpected exception
says nothing of MLflow (neither marks it down nor ends a probing)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Hashable
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.adapters.mlflow_registry import (
    CredentialsRefused,
    RegistryNotAsked,
    RegistryNotMlflow,
    RegistryRequestError,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.alias_sweep import SWEEP_VOUCH_LIMIT
from uplift_operator.services import resolution
from uplift_operator.services.resolution import (
    VERSION_RETRY,
    AliasKey,
    Resolver,
    Scope,
    VersionKey,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
EVERY = dt.timedelta(seconds=30)
ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                       "aliasRefreshInterval": "30s"})
SLOW_ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                            "aliasRefreshInterval": "10m"})
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "3"})
KEY: AliasKey = (SCOPE, "m", "champion")
V3: VersionKey = (SCOPE, "m", "3")
HOUR_ON = T0 + SWEEP_VOUCH_LIMIT


def _traefik() -> RegistryNotMlflow:
    """What the adapter raises for Traefik's answer while MLflow has no ready endpoint."""
    return RegistryNotMlflow(
        "MLflow answered HTTP 404 (text/plain, 19 bytes, not MLflow API JSON, not shown): no "
        "MLflow REST API at this tracking URI, or an MLflow too old for this API (the alias "
        "endpoints need MLflow ≥ 2.3)", status_code=404)


class _Failing(FakeRegistry):
    """A ``FakeRegistry`` that raises ``error`` while it is set."""

    error: BaseException | None = None

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        if self.error is not None:
            self.calls += 1
            raise self.error
        return super().resolve(name, version=version, alias=alias)


def _answered() -> tuple[_Failing, Resolver]:
    """Version 3 of m, ``champion`` on it, read well at T0 (alias and pinned)."""
    registry, resolver = _Failing(), Resolver()
    registry.add("m", "3")
    registry.aliases[("m", "champion")] = "3"
    assert resolver.resolve(SCOPE, ALIAS, registry, T0).ok
    assert resolver.resolve(SCOPE, PINNED, registry, T0).ok
    return registry, resolver


def test_a_proxys_404_after_mlflow_answered_is_an_outage() -> None:
    registry, resolver = _answered()
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    registry.error = _traefik()
    answer = resolver.resolve(SCOPE, ALIAS, registry, T0 + EVERY)
    assert answer.reason == cond.REGISTRY_UNAVAILABLE  # before: InvalidModel, "fix the URI"
    assert answer.desired is not None and answer.desired.version == "3"  # held
    assert "answered as MLflow before" in answer.message
    assert resolver._down  # probed as down, as for a 5xx
    # A follower whose answer is fresh keeps it: an outage says nothing of the alias.
    assert resolver.resolve(SCOPE, SLOW_ALIAS, registry, T0 + EVERY).ok
    # The outage goes on as 503s: still RegistryUnavailable, never a problem of the spec.
    registry.error = RegistryUnavailable("MLflow answered HTTP 503", status_code=503)
    later = resolver.resolve(SCOPE, ALIAS, registry, T0 + 2 * EVERY)
    assert later.reason == cond.REGISTRY_UNAVAILABLE
    registry.error = None
    assert resolver.resolve(SCOPE, ALIAS, registry, T0 + 3 * EVERY).ok
    assert not resolver._down


def test_a_proxys_404_at_a_followed_versions_reread_is_an_outage_retried() -> None:
    registry, resolver = _answered()
    resolver.follow_versions(("UpliftModel", "ns", "u"), [V3])
    assert resolver.due_versions(T0) == []  # first seen: due a period on
    registry.error = _traefik()
    assert resolver.due_versions(HOUR_ON) == [V3]
    assert resolver.reread_version(V3, HOUR_ON)
    assert resolver._down  # before: "answered", MLflow never marked down
    assert resolver._version_due[V3] == HOUR_ON + VERSION_RETRY  # a retry on, as an outage
    assert resolver.resolve(SCOPE, PINNED, registry, HOUR_ON).ok  # no news of the version


@pytest.mark.parametrize("ref", [ALIAS, PINNED])
@pytest.mark.parametrize("then", [
    RegistryUnavailable("MLflow at http://mlflow is unreachable: connection refused"),
    RegistryUnavailable("MLflow answered HTTP 503", status_code=503),
    RegistryNotAsked("MLflow at http://mlflow did not answer within 10s"),
], ids=["refused", "503", "not-asked"])
def test_a_wrong_uri_from_the_start_is_invalid_and_not_kept_through_an_outage(
        ref: ModelReference, then: RegistryUnavailable) -> None:
    registry, resolver = _Failing(), Resolver()
    registry.error = _traefik()
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    answer = resolver.resolve(SCOPE, ref, registry, T0)
    assert answer.reason == cond.INVALID_MODEL and answer.not_mlflow  # the URI's problem
    assert "MLflow too old for this API" in answer.message and "≥ 2.3" in answer.message
    assert not resolver._down
    told.clear()
    registry.error = then
    later = resolver.resolve(SCOPE, ref, registry, T0 + EVERY)
    # Before: the standing InvalidModel was kept (``_known``), Degraded after the grace for
    # what may be an MLflow starting behind the right URI.
    assert later.reason == cond.REGISTRY_UNAVAILABLE
    if ref.alias is not None and not isinstance(then, RegistryNotAsked):
        assert told == [KEY]  # the followers' condition changes
    registry.error = None
    registry.add("m", "3")
    registry.aliases[("m", "champion")] = "3"
    assert resolver.resolve(SCOPE, ref, registry, T0 + 2 * EVERY).ok


def test_an_unexpected_exception_does_not_end_a_probing() -> None:
    registry, resolver = _answered()
    registry.error = RegistryUnavailable("connection refused")
    resolver.resolve(SCOPE, ALIAS, registry, T0 + EVERY)
    assert resolver._down
    registry.error = TypeError("argument of type 'NoneType' is not iterable")
    answer = resolver.resolve(SCOPE, ALIAS, registry, T0 + 2 * EVERY)
    assert answer.reason == cond.REGISTRY_UNAVAILABLE
    assert resolver._down  # before: taken for MLflow's answer, the probing ended


def test_an_unexpected_exception_of_a_reread_says_nothing_of_mlflow(
        caplog: pytest.LogCaptureFixture) -> None:
    _registry, resolver = _answered()
    resolver.follow_versions(("UpliftModel", "ns", "u"), [V3])
    resolver.due_versions(T0)

    class Breaking(FakeRegistry):
        def resolve(self, *_args: object, **_kwargs: object) -> object:
            # Meanwhile another read (an alias probe) finds MLflow unreachable.
            resolver._reached(SCOPE, False, HOUR_ON)
            raise TypeError("argument of type 'NoneType' is not iterable")

    resolver._scope_clients[SCOPE] = Breaking()
    with caplog.at_level(logging.ERROR, logger=resolution.__name__):
        assert resolver.reread_version(V3, HOUR_ON)
    assert "failed unexpectedly" in caplog.text
    assert resolver._down  # before: taken for MLflow's answer, which ended the probing
    # Not retried every minute either: a defect does not clear in a minute.
    assert resolver._version_due[V3] > HOUR_ON + VERSION_RETRY


@pytest.mark.parametrize("error", [
    RegistryRequestError("INVALID_PARAMETER_VALUE: bad version", status_code=400,
                         error_code="INVALID_PARAMETER_VALUE"),
    CredentialsRefused("MLflow refused the credentials (HTTP 401)", status_code=401),
    RegistryNotMlflow("MLflow at http://mlflow answered a non-JSON body (HTTP 200)",
                      status_code=200),
], ids=["refused", "credentials", "not-mlflow"])
def test_an_answered_reread_waits_a_period_not_a_minute(error: Exception) -> None:
    registry, resolver = _answered()
    follower: Hashable = ("UpliftModel", "ns", "u")
    resolver.follow_versions(follower, [V3])
    resolver.due_versions(T0)
    registry.error = error
    assert resolver.reread_version(V3, HOUR_ON)
    sent = registry.calls
    for minute in range(1, 45):  # before: read again every minute, 1,440 reads a day
        at = HOUR_ON + dt.timedelta(minutes=minute)
        for key in resolver.due_versions(at):
            resolver.reread_version(key, at)
    assert registry.calls == sent
    assert resolver.due_versions(HOUR_ON + SWEEP_VOUCH_LIMIT) == [V3]


def test_an_unreachable_reread_is_retried_a_minute_on() -> None:
    registry, resolver = _answered()
    resolver.follow_versions(("UpliftModel", "ns", "u"), [V3])
    resolver.due_versions(T0)
    registry.error = RegistryUnavailable("MLflow answered HTTP 503", status_code=503)
    assert resolver.reread_version(V3, HOUR_ON)
    assert resolver._version_due[V3] == HOUR_ON + VERSION_RETRY
