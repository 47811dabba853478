"""The resolver keeps a scope's client (``Resolver._scope_clients``: the poller reads the
scope's followed versions with it) only while a version of the scope is followed. Before, a
spec whose reference never resolved (a version never registered, MLflow down) left its scope's
client when it was deleted: one per namespace's credentials for good, with its sessions, its
possibly revoked token, and its identity's ``_read_takes`` and ``_down``."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.unit.services.fakes import FakeRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.alias_sweep import SWEEP_VOUCH_LIMIT
from uplift_operator.services.resolution import Resolver

URI = "http://mlflow.test"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
MISSING = ModelReference.model_validate({"registeredModel": "m", "version": "7"})
PRESENT = ModelReference.model_validate({"registeredModel": "m", "version": "1"})


def _scope(namespace: str) -> tuple[str, str, str]:
    return (URI, namespace, "creds tokenKey=token")


def _client(*, down: bool = False) -> Any:
    registry = FakeRegistry()
    registry.add("m", "1")
    registry.who = (URI, "digest")  # type: ignore[attr-defined]
    registry.down = down
    return registry


def _pass(resolver: Resolver, follower: str, scope: tuple[str, str, str],
          ref: ModelReference, client: Any, *, follows: bool = True) -> None:
    """A model's pass as the handlers run it: ``pass_begins``, its ``resolve``, then the
    versions it follows (the resolved one, if any)."""
    resolver.pass_begins()
    resolution = resolver.resolve(scope, ref, client, T0)
    followed = [(scope, "m", resolution.desired.version)] if (
        resolution.ok and resolution.desired and follows) else []
    resolver.follow_versions(follower, followed)


def test_a_never_resolved_spec_keeps_no_scope_client_once_deleted() -> None:
    for down, reason in ((False, "ModelNotFound"), (True, "RegistryUnavailable")):
        resolver = Resolver()
        client = _client(down=down)
        for namespace in range(50):  # namespace churn: a preview environment each
            scope = _scope(f"preview-{namespace}")
            assert resolver.resolve(scope, MISSING, client, T0).reason == reason
            resolver.follow_versions(("UpliftModel", scope[1], "m"), [])
            resolver.unfollow_versions(("UpliftModel", scope[1], "m"))
        assert not resolver._scope_clients
        assert not resolver._down and not resolver._read_takes


def test_a_pass_that_follows_nothing_drops_the_client_its_resolve_left() -> None:
    resolver = Resolver()
    _pass(resolver, "a", _scope("ns"), MISSING, _client())
    assert not resolver._scope_clients


def test_a_model_deleted_after_a_pass_that_raised_past_its_resolve_leaves_no_client() -> None:
    resolver = Resolver()
    resolver.pass_begins()
    assert resolver.resolve(_scope("ns"), MISSING, _client(), T0).reason == "ModelNotFound"
    # the pass raised: no follow_versions; the model is deleted (another thread)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(resolver.unfollow_versions, "a").result(5)
    assert not resolver._scope_clients


def test_the_next_pass_on_a_thread_drops_what_a_pass_that_raised_left() -> None:
    resolver = Resolver()
    resolver.pass_begins()
    resolver.resolve(_scope("ns"), MISSING, _client(), T0)  # then the pass raised
    resolver.pass_begins()  # the thread's next pass (another model, nothing resolved)
    assert not resolver._scope_clients


def test_a_followed_version_keeps_its_scopes_client_for_the_poller() -> None:
    """Another model of the scope that follows nothing, resolving or deleted, leaves the
    client of the scope whose version a model follows; and a pass that follows a version
    puts back the client another pass's leave dropped meanwhile (``_passing``)."""
    resolver, scope = Resolver(), _scope("ns")
    serving: Any = _client()
    unresolved: Any = _client()
    _pass(resolver, "a", scope, PRESENT, serving)
    assert resolver._scope_clients[scope] is serving
    _pass(resolver, "b", scope, MISSING, unresolved)  # its resolve's client kept
    assert resolver._scope_clients[scope] is unresolved
    resolver.unfollow_versions("b")
    assert resolver._scope_clients[scope] is unresolved
    assert resolver.due_versions(T0) == []  # first seen: due a period on
    later = T0 + SWEEP_VOUCH_LIMIT
    assert resolver.due_versions(later) == [(scope, "m", "1")]
    # a's next pass: resolved, another model's pass follows nothing (then a follows again)
    resolver.pass_begins()
    assert resolver.resolve(scope, PRESENT, serving, T0).ok
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_pass, resolver, "b", scope, MISSING, unresolved).result(5)
        pool.submit(resolver.unfollow_versions, "a").result(5)  # a's leave races its pass
    assert scope not in resolver._scope_clients
    resolver.follow_versions("a", [(scope, "m", "1")])
    assert resolver._scope_clients.get(scope) is unresolved  # put back: the scope's newest
    assert resolver.reread_version((scope, "m", "1"), later)


def test_the_last_follower_of_a_scopes_versions_leaving_drops_its_client() -> None:
    resolver, scope = Resolver(), _scope("ns")
    _pass(resolver, "a", scope, PRESENT, _client())
    _pass(resolver, "b", scope, PRESENT, _client())
    resolver.unfollow_versions("a")
    assert scope in resolver._scope_clients
    resolver.unfollow_versions("b")
    assert not resolver._scope_clients and not resolver._followed_scopes
