"""What the resolver keeps per registry identity (tracking URI and credentials digest:
``_read_takes``, ``_sweeps``, ``_down``) goes with the last client of that identity it keeps:
before, every rotation of a credentials Secret (a new digest) and every registry no resource
asks any more left its entries for the process's life (1,000 rotations: 1,000 entries)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from tests.unit.services.fakes import FakeCluster, FakeRegistry, ListingRegistry

from uplift_operator.adapters.mlflow_registry import RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.alias_sweep import SWEEP_VOUCH_LIMIT, Sweep
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel as service
from uplift_operator.services.resolution import Resolver

URI = "http://mlflow.test"
SCOPE = (URI, "ns", "creds tokenKey=token")
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                       "aliasRefreshInterval": "1m"})
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "1"})
KEY = (SCOPE, "m", "champion")


def _client(digest: str, cls: type[FakeRegistry] = FakeRegistry) -> Any:
    """A client of the identity (``URI``, ``digest``): ``run_cache.identity``'s shape."""
    registry = cls()
    registry.add("m", "1")
    registry.aliases[("m", "champion")] = "1"
    registry.who = (URI, digest)  # type: ignore[attr-defined]
    return registry


def _kept(resolver: Resolver) -> dict[str, int]:
    return {"read_takes": len(resolver._read_takes), "sweeps": len(resolver._sweeps),
            "down": len(resolver._down)}


def test_rotated_credentials_leave_nothing_behind() -> None:
    resolver, now = Resolver(), T0
    for rotation in range(50):  # an hourly-rotated token
        now += dt.timedelta(hours=1)
        assert resolver.resolve(SCOPE, ALIAS, _client(f"digest-{rotation}"), now).ok
        assert set(resolver._read_takes) == {(URI, f"digest-{rotation}")}  # the live one
    resolver.forget_alias(KEY)
    assert _kept(resolver) == {"read_takes": 0, "sweeps": 0, "down": 0}
    assert not resolver._scope_clients and not resolver._clients


def test_an_identity_found_down_is_not_kept_once_nothing_asks_it() -> None:
    resolver = Resolver()
    down = _client("old")
    down.down = True
    assert resolver.resolve(SCOPE, ALIAS, down, T0).reason == "RegistryUnavailable"
    assert resolver._down and (URI, "old") in resolver._down
    # The Secret rotated: the new digest answers; the old one's outage is no one's.
    assert resolver.resolve(SCOPE, ALIAS, _client("new"), T0 + dt.timedelta(minutes=2)).ok
    assert (URI, "old") not in resolver._down and (URI, "old") not in resolver._read_takes


def test_a_sweep_record_goes_with_the_last_alias_of_its_identity() -> None:
    resolver = Resolver()
    client = _client("d", ListingRegistry)
    assert resolver.resolve(SCOPE, ALIAS, client, T0).ok
    later = T0 + dt.timedelta(minutes=2)
    resolver.sweep(Sweep((URI, "d"), ((KEY, dt.timedelta(minutes=1)),), 5), later)
    assert (URI, "d") in resolver._sweeps
    resolver.forget_alias(KEY)
    assert _kept(resolver) == {"read_takes": 0, "sweeps": 0, "down": 0}


def test_an_identity_another_client_still_uses_is_kept() -> None:
    resolver = Resolver()
    other = ModelReference.model_validate({"registeredModel": "m", "alias": "challenger",
                                           "aliasRefreshInterval": "1m"})
    client = _client("d")
    client.aliases[("m", "challenger")] = "1"
    assert resolver.resolve(SCOPE, ALIAS, _client("d"), T0).ok
    assert resolver.resolve(SCOPE, other, client, T0).ok
    resolver.forget_alias(KEY)
    assert set(resolver._read_takes) == {(URI, "d")}  # challenger's client is of it
    resolver.forget_alias((SCOPE, "m", "challenger"))
    assert _kept(resolver)["read_takes"] == 0


def test_a_pinned_followers_identity_goes_when_it_unfollows() -> None:
    resolver = Resolver()
    client = _client("d")
    client.down = True
    assert resolver.resolve(SCOPE, PINNED, client, T0).reason == "RegistryUnavailable"
    resolver.follow_versions("um", [(SCOPE, "m", "1")])
    assert (URI, "d") in resolver._down
    resolver.unfollow_versions("um")
    assert _kept(resolver) == {"read_takes": 0, "sweeps": 0, "down": 0}


def test_a_credentials_secret_gone_drops_its_identity() -> None:
    resolver = Resolver()
    assert resolver.resolve(SCOPE, ALIAS, _client("d"), T0).ok
    resolver.forget_client(KEY)
    assert _kept(resolver)["read_takes"] == 0


def test_a_read_in_flight_when_the_last_follower_left_keeps_nothing() -> None:
    """The read ends after ``forget_alias`` ran: what it found of the identity (an outage, how
    long it took) is not kept, with no client left to drop it later."""
    resolver = Resolver()

    class Leaving(FakeRegistry):
        def resolve(self, *args: Any, **kwargs: Any) -> Any:
            resolver.forget_alias(KEY)
            raise RegistryUnavailable("MLflow answered HTTP 503", status_code=503)

    client = Leaving()
    client.who = (URI, "d")  # type: ignore[attr-defined]
    resolver.resolve(SCOPE, ALIAS, client, T0)
    assert _kept(resolver) == {"read_takes": 0, "sweeps": 0, "down": 0}


def test_a_pass_whose_scope_client_went_before_it_followed_its_versions_puts_it_back() -> None:
    """A pinned resource's pass resolves (its client the scope's), then the scope's last other
    user leaves (its versions unfollowed, its alias forgotten: no version of the scope
    followed yet, the scope's client dropped), then the pass follows its version: the poller
    reads it with the client that pass left, not only after the resource's next pass."""
    resolver = Resolver()
    assert resolver.resolve(SCOPE, ALIAS, _client("d"), T0).ok  # A, following the alias
    resolver.follow_versions("A", [(SCOPE, "m", "1")])
    mine = _client("d")
    resolved, left = threading.Event(), threading.Event()

    def pass_of_b() -> None:  # a pass runs in a pool thread, resolve then follow_versions
        assert resolver.resolve(SCOPE, PINNED, mine, T0).ok
        resolved.set()
        assert left.wait(5)
        resolver.follow_versions("B", [(SCOPE, "m", "1")])

    pass_b = _on_a_new_thread(pass_of_b)
    assert resolved.wait(5)
    resolver.unfollow_versions("A")  # A deleted, from the event loop's thread
    resolver.forget_alias(KEY)
    left.set()
    pass_b.result(5)
    assert resolver._scope_clients.get(SCOPE) is mine
    assert resolver.due_versions(T0) == []  # first seen: due a period on
    later = T0 + SWEEP_VOUCH_LIMIT
    assert resolver.due_versions(later) == [(SCOPE, "m", "1")]
    assert resolver.reread_version((SCOPE, "m", "1"), later)


def _on_a_new_thread(run: Any) -> Future[Any]:
    """``run`` started on a thread of its own; its ``result()`` re-raises what failed there
    (an assertion on a bare ``threading.Thread`` only warns, the test passing)."""
    pool = ThreadPoolExecutor(1)
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future


def _rotated_elsewhere_then_left(resolver: Resolver, new: Any) -> None:
    """On another pool thread, the rotated Secret's client ``new`` resolved and a version of
    the scope followed (by A); then, on the event loop's thread, A paused or deleted: the
    scope's last user left, its client dropped."""

    def elsewhere() -> None:
        assert resolver.resolve(SCOPE, PINNED, new, T0).ok
        resolver.follow_versions("A", [(SCOPE, "m", "1")])

    def leave() -> None:
        resolver.unfollow_versions("A")
        resolver.forget_alias(KEY)

    for run in (elsewhere, leave):
        _on_a_new_thread(run).result(5)
    assert SCOPE not in resolver._scope_clients


def test_a_pass_that_did_not_resolve_puts_back_no_client_an_earlier_failed_pass_left() -> None:
    """A pass on a pool thread resolves with the scope's old credentials and raises before
    following its versions: its ``_passing`` entry stays. The Secret rotates, another pass
    resolves with the new client; the scope's last user leaves, its client dropped. A later
    pass on the first thread that never resolves (here its model being deleted; an invalid
    spec alike) and follows a version of the scope put the old client back: the poller read
    with credentials rotated or revoked. Each pass begins by dropping its thread's entry
    (``Resolver.pass_begins``, at ``services.upliftmodel.reconcile``'s start)."""
    resolver = Resolver()
    old = _client("old-digest")
    assert resolver.resolve(SCOPE, PINNED, old, T0).ok  # then the pass raised
    _rotated_elsewhere_then_left(resolver, _client("new-digest"))
    deps = service.Dependencies(
        cluster=FakeCluster(), backend=SeldonV1Backend(),
        registry_for=lambda ref, c: FakeRegistry(), prometheus=None,
        metric_templates=BUILTIN_TEMPLATES, runtime_image="r:1",
        default_tracking_uri=URI, resolver=resolver)
    deleting = {"metadata": {"namespace": "ns", "name": "b", "uid": "u-b", "generation": 1,
                             "deletionTimestamp": "2026-12-01T12:00:00Z"},
                "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}
    service.reconcile(deleting, deps, T0)  # no resolve
    resolver.follow_versions("B", [(SCOPE, "m", "1")])
    assert resolver._scope_clients.get(SCOPE) is not old
    assert SCOPE not in resolver._scope_clients
    # A pass of this thread that resolves puts its own client back as before.
    resolver.pass_begins()
    mine = _client("new-digest")
    assert resolver.resolve(SCOPE, PINNED, mine, T0).ok
    # B's earlier version let go from another thread: the scope's client went
    _on_a_new_thread(lambda: resolver.unfollow_versions("B")).result(5)
    assert SCOPE not in resolver._scope_clients
    resolver.follow_versions("B", [(SCOPE, "m", "1")])
    assert resolver._scope_clients.get(SCOPE) is mine


def test_a_newer_client_of_the_scope_replaces_what_an_earlier_pass_left_for_it() -> None:
    """Whatever a pass on another thread left for the scope (it raised after its resolve, and
    its thread runs no pass since), a resolve of the scope with the rotated credentials' client
    is what a ``follow_versions`` of that thread puts back, never the older client."""
    resolver = Resolver()
    old = _client("old-digest")
    assert resolver.resolve(SCOPE, PINNED, old, T0).ok  # then the pass raised
    new = _client("new-digest")
    _rotated_elsewhere_then_left(resolver, new)
    resolver.follow_versions("B", [(SCOPE, "m", "1")])
    assert resolver._scope_clients.get(SCOPE) is new
