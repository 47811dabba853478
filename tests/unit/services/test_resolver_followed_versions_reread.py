"""A followed version (a pinned ``version``, the stable, the canary) is read again by the
poller once per version, however many resources follow it, about once per
``SWEEP_VOUCH_LIMIT`` (``Resolver.due_versions``, ``reread_version``): before, a READY version
was read once and served from the cache for ever, so a version deleted from MLflow, or
another under its number (the registered model deleted and re-created), was never noticed by
the resources pinning it. Deleted, a spec pinned to it answers ``ModelNotFound`` (as an alias
does); re-created, ``InvalidModel``; the followers are told (``versions_moved``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable

from tests.unit.services.fakes import FakeRegistry

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.alias_sweep import SWEEP_VOUCH_LIMIT
from uplift_operator.services.resolution import VERSION_RETRY, Resolver, Scope, VersionKey

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
SCOPE: Scope = ("http://mlflow", "", "")
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "3"})
V3: VersionKey = (SCOPE, "m", "3")
HOUR_ON = T0 + SWEEP_VOUCH_LIMIT


def _pinned(followers: int = 1) -> tuple[FakeRegistry, Resolver, list[Hashable]]:
    """``followers`` resources pinned to version 3 of m, each resolved once at T0."""
    registry, resolver = FakeRegistry(), Resolver()
    registry.add("m", "3")
    keys: list[Hashable] = []
    for index in range(followers):
        key = ("UpliftModel", "ns", f"u{index}")
        assert resolver.resolve(SCOPE, PINNED, registry, T0).ok
        resolver.follow_versions(key, [V3])
        keys.append(key)
    return registry, resolver, keys


def _reread(resolver: Resolver, at: dt.datetime) -> list[VersionKey]:
    """One look of the poller at ``at``: the due versions, each read."""
    due = resolver.due_versions(at)
    for key in due:
        assert resolver.reread_version(key, at)
    return due


def test_a_pinned_version_deleted_from_mlflow_is_not_found_by_its_followers() -> None:
    registry, resolver, followers = _pinned(3)
    told: list[Hashable] = []
    resolver.versions_moved.append(told.append)
    assert _reread(resolver, T0) == []  # first seen: due a period on
    registry.delete_model("m")
    assert resolver.resolve(SCOPE, PINNED, registry, T0 + dt.timedelta(minutes=30)).ok
    assert _reread(resolver, T0 + dt.timedelta(minutes=30)) == []  # not due yet
    sent = registry.calls
    assert _reread(resolver, HOUR_ON) == [V3]
    assert registry.calls == sent + 1  # one read for the three followers
    assert sorted(told, key=repr) == sorted(followers, key=repr)  # each told once
    answer = resolver.resolve(SCOPE, PINNED, registry, HOUR_ON)
    assert answer.reason == cond.MODEL_NOT_FOUND  # before: Resolved for ever
    assert answer.desired is not None and answer.desired.version == "3"  # the one held
    assert registry.calls == sent + 1  # answered from the shared read: no read per resource
    # Gone (MLflow answered), it is read again a period on, not every look nor every minute
    # (before: a retry on, 1,440 reads a day for as long as it was pinned).
    sent = registry.calls
    for minute in range(1, 45):
        assert _reread(resolver, HOUR_ON + dt.timedelta(minutes=minute)) == []
    assert registry.calls == sent
    assert _reread(resolver, HOUR_ON + SWEEP_VOUCH_LIMIT) == [V3]
    assert len(told) == 3  # nothing changed: nobody told again


def test_a_pinned_version_re_created_under_its_number_is_invalid() -> None:
    registry, resolver, followers = _pinned()
    told: list[Hashable] = []
    resolver.versions_moved.append(told.append)
    _reread(resolver, T0)
    registry.delete_model("m")
    for number in ("1", "2", "3"):
        registry.add("m", number, run_id=f"new-{number}")
    assert _reread(resolver, HOUR_ON) == [V3]
    assert told == followers
    answer = resolver.resolve(SCOPE, PINNED, registry, HOUR_ON)
    assert answer.reason == cond.INVALID_MODEL and "another version now" in answer.message
    assert answer.desired is not None and answer.desired.run_id == "run-3"  # the one served


def test_a_version_back_after_it_was_gone_resolves_again() -> None:
    registry, resolver, followers = _pinned()
    _reread(resolver, T0)
    registry.delete_model("m")
    _reread(resolver, HOUR_ON)
    assert resolver.resolve(SCOPE, PINNED, registry, HOUR_ON).reason == cond.MODEL_NOT_FOUND
    registry.add("m", "3")  # the same run: the same version
    told: list[Hashable] = []
    resolver.versions_moved.append(told.append)
    assert _reread(resolver, HOUR_ON + SWEEP_VOUCH_LIMIT) == [V3]
    assert told == followers
    assert resolver.resolve(SCOPE, PINNED, registry, HOUR_ON + SWEEP_VOUCH_LIMIT).ok


def test_thousands_of_followers_of_a_few_versions_cost_a_read_per_version() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    for number in ("1", "2", "3"):
        registry.add("m", number)
    for index in range(3_000):
        stable, canary = str(index % 3 + 1), str((index + 1) % 3 + 1)
        resolver.resolve(SCOPE, ModelReference.model_validate(
            {"registeredModel": "m", "version": canary}), registry, T0)
        resolver.follow_versions(("UpliftModel", "ns", f"u{index}"),
                                 [(SCOPE, "m", stable), (SCOPE, "m", canary)])
    resolver.due_versions(T0)
    sent = registry.calls
    due = []
    for minute in range(0, 121):  # two hours of looks, a minute apart
        due += _reread(resolver, T0 + dt.timedelta(minutes=minute))
    assert sorted(set(due)) == [(SCOPE, "m", n) for n in ("1", "2", "3")]
    assert registry.calls - sent == len(due) <= 3 * 3  # about once an hour each


def test_an_alias_read_of_the_version_counts_as_its_read() -> None:
    registry, resolver, _ = _pinned()
    registry.aliases[("m", "champion")] = "3"
    _reread(resolver, T0)
    alias = ModelReference.model_validate({"registeredModel": "m", "alias": "champion"})
    resolver.resolve(SCOPE, alias, registry, HOUR_ON - dt.timedelta(minutes=1))
    assert _reread(resolver, HOUR_ON) == []


def test_versions_of_a_down_mlflow_or_with_no_live_follower_are_not_read() -> None:
    registry, resolver, followers = _pinned()
    _reread(resolver, T0)
    assert resolver.due_versions(HOUR_ON, live=lambda key: key not in followers) == []
    registry.down = True
    assert _reread(resolver, HOUR_ON) == [V3]  # unreachable: the identity is down
    assert resolver.resolve(SCOPE, PINNED, registry, HOUR_ON).ok  # no news of the version
    # Not read again before its identity's next probe (no alias of it to probe with: the
    # version's read is the probe, a retry on: below).
    assert resolver.due_versions(HOUR_ON + VERSION_RETRY - dt.timedelta(seconds=1)) == []


def test_a_down_mlflow_whose_followers_pin_versions_is_probed_by_a_version_read() -> None:
    """No alias is followed, so no alias read can find MLflow answering again: one failed
    hourly read left the identity down for good (its versions never read again, a deletion
    unseen, and every 1 s look of the poller scanning them all). The version read a retry on
    is its probe: answered, the identity is up and the versions are read in their turn."""
    registry, resolver, followers = _pinned()
    _reread(resolver, T0)
    registry.down = True  # one blip at the hourly read
    assert _reread(resolver, HOUR_ON) == [V3]
    assert resolver._down
    registry.down = False  # MLflow back for good
    # The looks until the probe is due scan nothing: the next look is not before it.
    assert resolver.due_versions(HOUR_ON + dt.timedelta(seconds=1)) == []
    assert resolver._versions_next == HOUR_ON + VERSION_RETRY
    sent = registry.calls
    probe = HOUR_ON + VERSION_RETRY
    assert _reread(resolver, probe) == [V3]
    assert registry.calls == sent + 1 and not resolver._down  # it answered: up again
    assert resolver.due_versions(probe + dt.timedelta(seconds=1)) == []
    assert resolver._versions_next is not None and resolver._versions_next > probe + (
        dt.timedelta(minutes=30))  # a period on, not every look
    # A deletion is seen at the next hourly read again.
    registry.delete_model("m")
    told: list[Hashable] = []
    resolver.versions_moved.append(told.append)
    later = probe + SWEEP_VOUCH_LIMIT
    assert _reread(resolver, later) == [V3]
    assert told == followers
    gone = resolver.resolve(SCOPE, PINNED, registry, later)
    assert gone.reason == cond.MODEL_NOT_FOUND


def test_through_an_outage_a_down_mlflow_is_probed_by_one_version_read_a_retry() -> None:
    """However many versions its followers pin, a down identity is asked one version a
    ``VERSION_RETRY`` (no storm of reads), and the poller's looks between scan nothing."""
    registry, resolver = FakeRegistry(), Resolver()
    versions = [(SCOPE, "m", str(n)) for n in range(1, 21)]
    for _scope, _model, number in versions:
        registry.add("m", number)
    for index, key in enumerate(versions):
        ref = ModelReference.model_validate({"registeredModel": "m", "version": key[2]})
        assert resolver.resolve(SCOPE, ref, registry, T0).ok
        resolver.follow_versions(("UpliftModel", "ns", f"u{index}"), [key])
    resolver.due_versions(T0)
    registry.down = True
    at, reads, scans = T0 + SWEEP_VOUCH_LIMIT, [], 0
    sent = registry.calls
    for _ in range(10 * 60):  # ten minutes of the poller's 1 s looks
        if resolver._versions_next is None or at >= resolver._versions_next:
            scans += 1
        # The first look's reads after the one that found MLflow down are not sent.
        reads += [key for key in resolver.due_versions(at) if resolver.reread_version(key, at)]
        at += dt.timedelta(seconds=1)
    assert registry.calls - sent == len(reads) <= 11  # the first failure, then one a minute
    assert len(reads) >= 10
    assert len(set(reads)) == len(reads)  # the most overdue first: each in turn
    assert scans <= 2 * len(reads)
    assert resolver._down
    registry.down = False
    at += VERSION_RETRY
    probe = _reread(resolver, at)
    assert len(probe) == 1 and not resolver._down
    # Up again: every version held back, or whose read failed, is read at the next look.
    assert sorted(_reread(resolver, at + dt.timedelta(seconds=1))) == sorted(
        set(versions) - set(probe))


def test_a_failed_reread_is_tried_again_a_retry_on() -> None:
    _registry, resolver, _ = _pinned()
    _reread(resolver, T0)

    class Limited(FakeRegistry):
        def resolve(self, *_args: object, **_kwargs: object) -> object:
            raise RegistryUnavailable("slow down", status_code=429)

    resolver.resolve(SCOPE, PINNED, Limited(), HOUR_ON)  # the scope's client now
    assert _reread(resolver, HOUR_ON) == [V3]
    assert resolver.due_versions(HOUR_ON + dt.timedelta(seconds=59)) == []
    assert resolver.due_versions(HOUR_ON + VERSION_RETRY) == [V3]


def test_an_unfollowed_version_is_not_read_and_keeps_nothing() -> None:
    registry, resolver, followers = _pinned()
    _reread(resolver, T0)
    registry.delete_model("m")
    _reread(resolver, HOUR_ON)
    resolver.unfollow_versions(followers[0])
    assert resolver.due_versions(HOUR_ON + 2 * SWEEP_VOUCH_LIMIT) == []
    assert not resolver._gone and not resolver._version_due
    assert not resolver._scope_clients


def test_a_version_followed_after_a_look_is_read_in_its_turn() -> None:
    """A look before the soonest due version scans nothing (``_versions_next``); a version
    followed since is seen all the same, and each comes due in its own turn."""
    registry, resolver, _ = _pinned()
    registry.add("m", "4")
    assert resolver.due_versions(T0) == []
    later = T0 + dt.timedelta(minutes=20)
    resolver.follow_versions(("UpliftModel", "ns", "b"), [(SCOPE, "m", "4")])
    assert resolver.due_versions(later) == []  # first seen: due a period on
    assert resolver.due_versions(HOUR_ON) == [V3]
    assert _reread(resolver, HOUR_ON) == [V3]
    assert resolver.due_versions(later + SWEEP_VOUCH_LIMIT) == [(SCOPE, "m", "4")]
