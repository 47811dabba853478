"""The resolver keeps the facts and contracts of the versions resources follow for as long as
they follow them (``Resolver.follow_versions``), and at most ``MAX_*_KEPT`` of the others.

Before: one bounded LRU (1,024 contracts, 4,096 facts). With more followed versions than it
held, read in turn by the models' passes, every pass missed: 3-4 MLflow requests per pass per
model, and an MLflow blip turned every such model RegistryUnavailable."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services import resolution
from uplift_operator.services.resolution import Resolver, Scope, VersionFacts, VersionKey

SCOPE: Scope = ("http://mlflow", "", "")
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


class CountingRegistry:
    """Every registered model has its ``champion`` alias on version 3; counts each request."""

    def __init__(self) -> None:
        self.calls = {"resolve": 0, "signature": 0, "run_tags": 0}

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self.calls["resolve"] += 1
        return SimpleNamespace(version=version or "3", run_id=f"run-{name}", ready=True,
                               status="READY", creation_timestamp=1,
                               tags={resolution.TREATMENTS_TAG: '{"0": "control", "1": "t"}'})

    def model_signature(self, name: str, version: str) -> dict[str, Any]:
        self.calls["signature"] += 1
        return {"inputs": [{"name": "x", "type": "double"}]}

    def run_tags(self, run_id: str) -> dict[str, str]:
        self.calls["run_tags"] += 1
        return {}

    def total(self) -> int:
        return sum(self.calls.values())


def _model_pass(resolver: Resolver, registry: CountingRegistry, name: str) -> None:
    """What an UpliftModel's pass asks of the resolver: its alias, the desired version's
    contract, and (an analysis) the facts of its canary (3) and stable (2) versions."""
    ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                         "aliasRefreshInterval": "1h"})
    answer = resolver.resolve(SCOPE, ref, registry, NOW)  # type: ignore[arg-type]
    assert answer.ok and answer.desired is not None
    resolver.contract(SCOPE, name, answer.desired, registry)  # type: ignore[arg-type]
    resolver.facts(SCOPE, name, "3", registry)  # type: ignore[arg-type]
    resolver.facts(SCOPE, name, "2", registry)  # type: ignore[arg-type]


def _followed(name: str, *versions: str) -> frozenset[VersionKey]:
    return frozenset((SCOPE, name, version) for version in versions)


def test_two_thousand_models_read_their_contracts_once() -> None:
    """2,000 models (more than the 1,024 contracts the bounded part keeps), passes in turn:
    after the first round, no request at all (each round cost 2,000 contract reads, 3 requests
    each, before)."""
    resolver, registry = Resolver(), CountingRegistry()
    models = [f"m{index}" for index in range(2_000)]
    assert len(models) > resolution.MAX_CONTRACTS_KEPT
    rounds = []
    for _ in range(3):
        before = registry.total()
        for name in models:
            _model_pass(resolver, registry, name)
            # what the handler tells after the pass: its stable 2, canary 3, desired 3
            resolver.follow_versions(("UpliftModel", "ns", name), _followed(name, "2", "3"))
        rounds.append(registry.total() - before)
    assert rounds[0] > 0
    assert rounds[1:] == [0, 0]


def test_versions_no_model_follows_are_still_evicted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bounded part stays bounded: versions no resource follows (never followed, released
    by a version change or by the model's deletion) go, the least recently used first, while
    a followed one stays however many others are read."""
    monkeypatch.setattr(resolution, "MAX_CONTRACTS_KEPT", 4)
    monkeypatch.setattr(resolution, "MAX_VERSIONS_KEPT", 4)
    resolver, registry = Resolver(), CountingRegistry()
    resolver.follow_versions("a", _followed("kept", "1"))
    resolver.follow_versions("b", _followed("moved", "1"))
    resolver.follow_versions("c", _followed("deleted", "1"))
    for name in ("kept", "moved", "deleted"):
        resolver.contract(SCOPE, name, VersionFacts("1", "r", True, "READY"),
                          registry)  # type: ignore[arg-type]
        resolver.facts(SCOPE, name, "1", registry)  # type: ignore[arg-type]
    resolver.follow_versions("b", _followed("moved", "2"))  # its version changed
    resolver.unfollow_versions("c")  # deleted

    def reads_of(name: str) -> int:
        before = registry.total()
        resolver.contract(SCOPE, name, VersionFacts("1", "r", True, "READY"),
                          registry)  # type: ignore[arg-type]
        resolver.facts(SCOPE, name, "1", registry)  # type: ignore[arg-type]
        return registry.total() - before

    for index in range(10):  # ten versions nobody follows: more than the bounded part holds
        assert reads_of(f"other{index}") > 0
    assert reads_of("kept") == 0  # followed: still there
    assert reads_of("moved") > 0 and reads_of("deleted") > 0  # released: evicted
    assert len(resolver._contracts) <= 4 + 1 and len(resolver._versions) <= 4 + 1


def test_a_version_followed_by_two_models_stays_until_both_leave(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Followers are counted: one of two leaving a version keeps it; the last one releases it."""
    monkeypatch.setattr(resolution, "MAX_CONTRACTS_KEPT", 1)
    monkeypatch.setattr(resolution, "MAX_VERSIONS_KEPT", 1)
    resolver, registry = Resolver(), CountingRegistry()
    shared = _followed("shared", "1")
    resolver.follow_versions("a", shared)
    resolver.follow_versions("b", shared)
    resolver.facts(SCOPE, "shared", "1", registry)  # type: ignore[arg-type]
    resolver.unfollow_versions("a")
    for index in range(3):
        resolver.facts(SCOPE, f"other{index}", "1", registry)  # type: ignore[arg-type]
    before = registry.total()
    resolver.facts(SCOPE, "shared", "1", registry)  # type: ignore[arg-type]
    assert registry.total() == before
    resolver.unfollow_versions("b")
    for index in range(3):
        resolver.facts(SCOPE, f"other{index}", "1", registry)  # type: ignore[arg-type]
    resolver.facts(SCOPE, "shared", "1", registry)  # type: ignore[arg-type]
    assert registry.total() > before


def test_a_model_follows_its_stable_canary_and_desired_versions() -> None:
    """What the handler tells the resolver after a pass: the versions the status it leaves
    names, in the model's scope (its credentials Secret's namespace, name and keys)."""
    from tests.unit.services.test_upliftmodel import Sim

    from uplift_operator.services.upliftmodel import followed_versions

    sim = Sim()
    body = {**sim.body, "spec": {**sim.body["spec"], "model": {
        **sim.body["spec"]["model"], "trackingUri": "http://mlflow.test",
        "credentials": {"name": "creds", "tokenKey": "token"}}}}
    namespace = body["metadata"]["namespace"]
    model = body["spec"]["model"]["registeredModel"]
    scope = ("http://mlflow.test", namespace, "creds tokenKey=token")
    status = {"stableVersion": "2", "canaryVersion": "3", "desiredVersion": "3",
              "previousStableVersion": "1", "abortedVersion": "4"}
    assert followed_versions(body, status, sim.deps) == {
        (scope, model, "2"), (scope, model, "3")}
    assert followed_versions(body, {}, sim.deps) == frozenset()
    assert followed_versions({**body, "spec": {"model": 7}}, status, sim.deps) == frozenset()
