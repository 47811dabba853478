"""A read that is sent and fails for MLflow's reachability (a 5xx, a timeout, a refused
connection) says nothing of the alias or version it asked for: the problem known of it stands,
as for a read the breaker did not send (``resolution._standing``). Before, a standing
VersionFailed or a refused read's InvalidModel flipped to RegistryUnavailable through a blip and
back after it, which restarted the Degraded grace (``domain.stuck``) and woke the followers
twice. A FAILED_REGISTRATION version is final, so its facts are kept as a READY one's are.

Also here: ``_learn`` takes the resolver's lock (``follow_versions`` reads ``_replaced`` under
it), and the followers of an alias on a version found replaced are woken once no resource
serves the old one (their answer is the new version then, and no read tells them)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from tests.unit.services.fakes import FakeRegistry

from uplift_operator.adapters.mlflow_registry import RegistryRequestError
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import AliasKey, Resolver, Scope, VersionFacts

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "3"})
ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "c",
                                       "aliasRefreshInterval": "60s"})
FOLLOWER = ("UpliftModel", "ns", "a")


def _told(resolver: Resolver) -> list[AliasKey]:
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    return told


def test_a_failed_registration_stays_version_failed_through_a_blip() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "3", status="FAILED_REGISTRATION")
    registry.aliases[("m", "c")] = "3"
    told = _told(resolver)
    reasons = []
    for i, down in enumerate([False, True, False]):
        registry.down = down
        at = T0 + dt.timedelta(seconds=70 * i)  # past the alias's interval each time
        reasons.append((resolver.resolve(SCOPE, PINNED, registry, at).reason,
                        resolver.resolve(SCOPE, ALIAS, registry, at).reason))
    assert reasons == [("VersionFailed", "VersionFailed")] * 3
    assert told == []  # nothing changed: no follower woken


def test_a_failed_registration_is_read_once() -> None:
    """Final, as READY is: a pinned FAILED_REGISTRATION version is not asked again."""
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "3", status="FAILED_REGISTRATION")
    assert resolver.resolve(SCOPE, PINNED, registry, T0).reason == "VersionFailed"
    calls = registry.calls
    registry.down = True
    later = resolver.resolve(SCOPE, PINNED, registry, T0 + dt.timedelta(hours=1))
    assert later.reason == "VersionFailed" and registry.calls == calls


class _Refusing(FakeRegistry):
    """Answers 400 to every version read while up (an MLflow refusing the read)."""

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        if not self.down:
            self.calls += 1
            raise RegistryRequestError("bad", status_code=400, error_code="BAD_REQUEST")
        return super().resolve(name, version=version, alias=alias)


def test_a_refused_read_stays_invalid_model_through_a_blip() -> None:
    registry, resolver = _Refusing(), Resolver()
    registry.add("m", "3")
    registry.aliases[("m", "c")] = "3"
    told = _told(resolver)
    reasons = []
    for i, down in enumerate([False, True, False]):
        registry.down = down
        at = T0 + dt.timedelta(seconds=70 * i)
        reasons.append((resolver.resolve(SCOPE, PINNED, registry, at).reason,
                        resolver.resolve(SCOPE, ALIAS, registry, at).reason))
    assert reasons == [("InvalidModel", "InvalidModel")] * 3
    assert told == [(SCOPE, "m", "c")]  # its read started failing, once


def test_an_outage_with_nothing_known_is_still_unavailable() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "3")
    registry.aliases[("m", "c")] = "3"
    assert resolver.resolve(SCOPE, ALIAS, registry, T0).ok
    registry.down = True
    down = resolver.resolve(SCOPE, ALIAS, registry, T0 + dt.timedelta(seconds=70))
    assert down.reason == "RegistryUnavailable"
    assert down.desired is not None and down.desired.version == "3"


def test_learn_holds_the_resolvers_lock() -> None:
    """``follow_versions`` checks and clears ``_replaced`` under the lock: ``_learn``'s check
    and writes must not interleave with it."""
    resolver = Resolver()
    facts = VersionFacts("1", "run-1", True, "READY")
    with resolver._lock:
        learning = threading.Thread(target=resolver._learn, args=((SCOPE, "m", "1"), facts))
        learning.start()
        learning.join(0.2)
        assert learning.is_alive()  # waits for the lock
    learning.join(5)
    assert not learning.is_alive()
    assert resolver.facts(SCOPE, "m", "1", FakeRegistry()) == facts


def test_the_aliases_followers_are_woken_when_a_replacement_clears() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "1", run_id="run-old")
    registry.aliases[("m", "champion")] = "1"
    alias = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                           "aliasRefreshInterval": "60s"})
    assert resolver.resolve(SCOPE, alias, registry, T0).ok
    resolver.follow_versions(FOLLOWER, [(SCOPE, "m", "1")])
    registry.delete_model("m")
    registry.add("m", "1", run_id="run-new")
    registry.aliases[("m", "champion")] = "1"
    at = T0 + dt.timedelta(minutes=5)
    replaced = resolver.resolve(SCOPE, alias, registry, at)
    assert replaced.reason == "InvalidModel"
    assert "point the alias (or the spec's version) at a version registered after" in (
        replaced.message)
    assert "under a new name" not in replaced.message
    told = _told(resolver)
    resolver.unfollow_versions(FOLLOWER)  # no resource serves the old version 1 any more
    assert told == [(SCOPE, "m", "champion")]
    now = resolver.resolve(SCOPE, alias, registry, at + dt.timedelta(seconds=1))
    assert now.ok and now.desired is not None and now.desired.run_id == "run-new"
