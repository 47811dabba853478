"""What the shared resolver answers for an alias or a pinned version when a read of it says
nothing new or is newer than the answer held.

- A read the tracking URI's breaker failed fast (``RegistryNotAsked``: not sent, because some
  request, maybe another client's, got no answer) keeps the alias's standing problem
  (ModelNotFound stays ModelNotFound, its stamp and its followers untouched): a blip of another
  model's MLflow reads no longer flips the reason, moves ``lastTransitionTime`` and restarts
  the Degraded grace.
- A read that failed after the answer held was fetched is not hidden by that answer being
  still fresh for a follower with a longer interval.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import REGISTERED, Sim

from uplift_operator.adapters.mlflow_registry import RegistryNotAsked, RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import AliasKey, Resolver, Scope

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
KEY: AliasKey = (SCOPE, "m", "champion")
BLIP = "MLflow at http://mlflow did not answer within 10s"


def _ref(every: str = "60s", version: str | None = None) -> ModelReference:
    pinned = {"version": version} if version else {"alias": "champion",
                                                   "aliasRefreshInterval": every}
    return ModelReference.model_validate({"registeredModel": "m", **pinned})


class _Breaker(FakeRegistry):
    """A fake MLflow whose reads fail fast, unsent, while ``open`` (another request timed out)."""

    open: bool = False

    def _check(self) -> None:
        if self.open:
            self.calls += 1
            raise RegistryNotAsked(BLIP)
        super()._check()


def _resolver() -> tuple[_Breaker, Resolver, list[AliasKey]]:
    registry, resolver = _Breaker(), Resolver()
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    return registry, resolver, told


def test_a_read_failed_fast_keeps_a_deleted_aliases_not_found_unstamped_and_untold() -> None:
    registry, resolver, told = _resolver()
    assert resolver.resolve(SCOPE, _ref(), registry, T0).ok
    del registry.aliases[("m", "champion")]
    first = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=61))
    assert first.reason == "ModelNotFound" and told == [KEY]
    stamp = resolver._failed[KEY][0]
    registry.open = True
    for later in (70, 130, 400):
        blip = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=later))
        assert blip == first  # ModelNotFound, its message, the version held: as it stood
    assert resolver._failed[KEY][0] == stamp and told == [KEY]
    # The poller's reads in the window neither stamp nor tell either.
    assert resolver.refresh(KEY, dt.timedelta(seconds=60), T0 + dt.timedelta(seconds=500))
    assert resolver._failed[KEY][:2] == (stamp, first) and told == [KEY]
    # Sent again, the read says: the alias is back, the followers are told.
    registry.open = False
    registry.aliases[("m", "champion")] = "1"
    assert resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=600)).ok
    assert KEY not in resolver._failed and told == [KEY, KEY]


def test_a_read_failed_fast_without_a_known_problem_is_unavailable_and_never_stamped() -> None:
    registry, resolver, told = _resolver()
    registry.open = True
    # Never read: nothing to stand on.
    never = resolver.resolve(SCOPE, _ref(), registry, T0)
    assert (never.reason, never.message, never.desired) == ("RegistryUnavailable", BLIP, None)
    assert KEY not in resolver._failed and told == []
    registry.open = False
    assert resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=1)).ok
    assert told == []  # it never failed for its followers
    # A READY answer past its interval is not confirmed by a read never sent: unavailable,
    # with the version held, and still no failure stamped; the poller reads it again an
    # interval later, as after a failed read (it re-read it at every look: 1 s).
    registry.open = True
    held = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=70))
    assert held.reason == "RegistryUnavailable" and held.desired is not None
    assert held.desired.version == "1"
    assert KEY not in resolver._failed and told == []
    every = dt.timedelta(seconds=60)
    assert resolver.next_refresh(KEY, every) == T0 + dt.timedelta(seconds=130)
    # The poller's own read failed fast waits as long; one that is sent ends the wait.
    assert resolver.refresh(KEY, every, T0 + dt.timedelta(seconds=130))
    assert not resolver.refresh(KEY, every, T0 + dt.timedelta(seconds=131))
    assert resolver.next_refresh(KEY, every) == T0 + dt.timedelta(seconds=190)
    registry.open = False
    assert resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=140)).ok
    assert resolver.next_refresh(KEY, every) == T0 + dt.timedelta(seconds=200)
    assert told == []


def test_a_version_not_ready_stays_not_ready_through_a_read_failed_fast() -> None:
    registry, resolver, _told = _resolver()
    registry.add("m", "2", status="PENDING_REGISTRATION")
    registry.aliases[("m", "champion")] = "2"
    assert resolver.resolve(SCOPE, _ref(), registry, T0).reason == "VersionNotReady"
    registry.open = True
    later = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=10))
    assert later.reason == "VersionNotReady"


def test_a_pinned_version_not_found_stays_not_found_through_a_read_failed_fast() -> None:
    registry, resolver, _told = _resolver()
    pinned = _ref(version="7")
    gone = resolver.resolve(SCOPE, pinned, registry, T0)
    assert gone.reason == "ModelNotFound"
    registry.open = True
    assert resolver.resolve(SCOPE, pinned, registry, T0 + dt.timedelta(seconds=30)) == gone
    # The spec now pins a version never read: the other version's absence says nothing of it.
    other = resolver.resolve(SCOPE, _ref(version="1"), registry, T0 + dt.timedelta(seconds=40))
    assert (other.reason, other.message) == ("RegistryUnavailable", BLIP)


def test_a_pinned_versions_not_found_is_not_cleared_by_another_version_read_well() -> None:
    """Two resources pin two versions of one model: the one read well does not clear the
    other's ModelNotFound, which stands through a read failed fast (it read
    RegistryUnavailable: the reason flipped, and the Degraded grace restarted)."""
    registry, resolver, _told = _resolver()
    gone = resolver.resolve(SCOPE, _ref(version="9"), registry, T0)
    assert gone.reason == "ModelNotFound"
    assert resolver.resolve(SCOPE, _ref(version="1"), registry, T0).ok
    registry.open = True
    assert resolver.resolve(SCOPE, _ref(version="9"), registry,
                            T0 + dt.timedelta(seconds=30)) == gone


def test_a_pinned_version_not_ready_or_failed_stays_so_through_a_read_failed_fast() -> None:
    """As for an alias on it: the version's facts last read say it, not RegistryUnavailable."""
    for status, reason in (("FAILED_REGISTRATION", "VersionFailed"),
                           ("PENDING_REGISTRATION", "VersionNotReady")):
        registry, resolver, _told = _resolver()
        registry.add("m", "4", status=status)
        first = resolver.resolve(SCOPE, _ref(version="4"), registry, T0)
        assert first.reason == reason
        registry.open = True
        later = resolver.resolve(SCOPE, _ref(version="4"), registry,
                                 T0 + dt.timedelta(seconds=90))
        assert (later.reason, later.message, later.desired) == (
            reason, first.message, first.desired)


def test_another_clients_blips_no_longer_restart_a_failed_pinned_versions_grace() -> None:
    """Through the pass: the spec pinned to a version whose registration failed; blips every
    4 minutes flipped VersionFailed to RegistryUnavailable and back, so the phase never turned
    Degraded. The stable keeps serving."""
    sim = Sim()
    breaker = _Breaker(versions=sim.registry.versions, aliases=sim.registry.aliases)
    sim.registry = breaker
    sim.deps.registry_for = lambda ref, credentials: breaker
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    breaker.add(REGISTERED, "4", status="FAILED_REGISTRATION")
    model = sim.body["spec"]["model"]
    model.pop("alias", None)
    model.pop("aliasRefreshInterval", None)
    model["version"] = "4"
    sim.body["metadata"]["generation"] = 2
    sim.tick(30)
    since = sim.condition("ModelResolved")["lastTransitionTime"]
    seen: list[tuple[str, str]] = []
    for minute in range(1, 21):
        breaker.open = minute % 4 == 0
        sim.tick(60)
        breaker.open = False
        condition: dict[str, Any] = sim.condition("ModelResolved")
        seen.append((condition["reason"], condition["lastTransitionTime"]))
    assert set(seen) == {("VersionFailed", since)}
    assert sim.status["phase"] == "Degraded"
    assert sim.status["stableVersion"] == "1"


def test_a_plain_outage_still_stamps_and_tells() -> None:
    """A read that was sent and failed (timed out, refused) is news: stamped and told, as
    before; only the unsent ones stand."""
    registry, resolver, told = _resolver()
    assert resolver.resolve(SCOPE, _ref(), registry, T0).ok
    registry.down = True
    down = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=61))
    assert down.reason == "RegistryUnavailable" and KEY in resolver._failed and told == [KEY]


def test_another_clients_blips_no_longer_restart_a_deleted_aliases_grace() -> None:
    """Through the pass (as ``/tmp``'s review repro): blips every 4 minutes used to flip
    ModelNotFound to RegistryUnavailable and back, so the phase never turned Degraded."""
    sim = Sim()
    breaker = _Breaker(versions=sim.registry.versions, aliases=sim.registry.aliases)
    sim.registry = breaker
    sim.deps.registry_for = lambda ref, credentials: breaker
    sim.tick()
    sim.tick(1)
    del breaker.aliases[(REGISTERED, "champion")]
    sim.tick(30)
    since = sim.condition("ModelResolved")["lastTransitionTime"]
    seen: list[tuple[str, str]] = []
    for minute in range(1, 11):
        breaker.open = minute in (4, 8)
        sim.tick(60)
        breaker.open = False
        condition: dict[str, Any] = sim.condition("ModelResolved")
        seen.append((condition["reason"], condition["lastTransitionTime"]))
    assert set(seen) == {("ModelNotFound", since)}
    assert sim.status["phase"] == "Degraded"


def test_a_failure_newer_than_a_fresh_answer_is_not_hidden_by_it() -> None:
    """The poller read the alias early (a sweep handed it back) and found it gone: the woken
    follower's pass, and one with a longer interval, answer ModelNotFound, not the answer still
    fresh by their interval."""
    registry, resolver, told = _resolver()
    assert resolver.resolve(SCOPE, _ref(), registry, T0).ok
    del registry.aliases[("m", "champion")]
    every = dt.timedelta(seconds=60)
    assert resolver.refresh(KEY, every, T0 + dt.timedelta(seconds=30),
                            ahead=dt.timedelta(seconds=30))
    assert told == [KEY]
    woken = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=31))
    assert woken.reason == "ModelNotFound"
    calls = registry.calls
    longer = resolver.resolve(SCOPE, _ref("10m"), registry, T0 + dt.timedelta(seconds=40))
    assert longer.reason == "ModelNotFound"
    assert registry.calls == calls + 1  # past the failure's reuse: read again, still gone
    # A read that finds it again is the newest news: fresh again for the longer interval.
    registry.aliases[("m", "champion")] = "1"
    assert resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=50)).ok
    calls = registry.calls
    assert resolver.resolve(SCOPE, _ref("10m"), registry, T0 + dt.timedelta(seconds=55)).ok
    assert registry.calls == calls



class _Blip(_Breaker):
    """A fake MLflow that answers 503 once while ``blip``: a read that was sent and failed."""

    blip: bool = False

    def _check(self) -> None:
        if self.blip:
            self.blip = False
            self.calls += 1
            raise RegistryUnavailable("MLflow answered HTTP 503 (text/html, 120 bytes)")
        super()._check()


def test_an_outages_failure_newer_than_a_fresh_answer_does_not_hide_it() -> None:
    """A 503 for one read (a follower with a shorter interval's, or the poller's read made
    early) says nothing of the alias: a follower whose answer is still fresh by its interval
    keeps it, Resolved, instead of flipping to RegistryUnavailable and back (a Warning event
    each way) once MLflow answers again."""
    registry, resolver = _Blip(), Resolver()
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    assert resolver.resolve(SCOPE, _ref("10m"), registry, T0).ok
    registry.blip = True
    short = resolver.resolve(SCOPE, _ref("30s"), registry, T0 + dt.timedelta(seconds=31))
    assert short.reason == "RegistryUnavailable"  # its own answer was due: it says so
    calls = registry.calls
    longer = resolver.resolve(SCOPE, _ref("10m"), registry, T0 + dt.timedelta(seconds=33))
    assert longer.ok and longer.desired is not None and longer.desired.version == "1"
    assert registry.calls == calls  # the fresh answer, not a read
    # The poller's early read (a sweep handed the alias back), one 503: the followers it
    # wakes keep their fresh answer.
    registry, resolver = _Blip(), Resolver()
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"
    assert resolver.resolve(SCOPE, _ref(), registry, T0).ok
    registry.blip = True
    assert resolver.refresh(KEY, dt.timedelta(seconds=60), T0 + dt.timedelta(seconds=30),
                            ahead=dt.timedelta(seconds=30))
    assert KEY in resolver._failed  # sent and failed: stamped, as ever
    woken = resolver.resolve(SCOPE, _ref(), registry, T0 + dt.timedelta(seconds=31))
    assert woken.ok
