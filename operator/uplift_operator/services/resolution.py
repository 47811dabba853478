"""Which model version the spec means now: MLflow lookups, cached the way the spec asks.

A pinned ``version`` is looked up once per pass only until READY (a version's facts do not
change), then answered from the cache; an ``alias`` is re-read every ``aliasRefreshInterval``.
Every version a resource follows (pinned, stable, canary) is read again by the poller about once
an hour, one read per version however many resources follow it (``due_versions``,
``reread_version``): a version deleted from MLflow answers a spec pinned to it
``ModelNotFound``, another version under its number (the registered model re-created)
``InvalidModel``. Failures keep the last known answer and say why, so an unreachable MLflow
never changes what serves: the caller holds the ramp and reports the condition.

Aliases are re-read by one shared poller (``refresh``, run by ``handlers.registry_polling`` with
the client the last pass used): a follower's pass takes the cached answer, and a read that finds
a different answer (the alias moved, or its read started or stopped failing) tells ``moved``,
which wakes the followers. A follower that is not woken runs no pass for its alias.

When many aliases of one registry are due together, one sweep of its registered models
(``sweep``: every model's aliases, a request per 1,000 models) answers them: an alias the sweep
shows on the version the resolver holds, in a model created before that version, is refreshed
without a read of its own; any other is then read by itself (``refresh``), which tells
``moved`` and reports the failure or absence exactly as before. A sweep sees version numbers
only, so it vouches for an alias for at most ``SWEEP_VOUCH_LIMIT`` after the alias's last read
of its own (``domain.alias_sweep.own_read_due``: 45 to 60 minutes, fixed per alias, so that
the reads spread); then the alias is read by itself again, which sees a changed run id or
status. Whether a sweep pays, and which aliases it can answer, is ``plan``'s, by
``domain.alias_sweep``. A registry identity a read or sweep found unreachable (a timeout, a
5xx, a refused connection; a 404 not MLflow's at a tracking URI that answered as MLflow before
in this process: a proxy before an MLflow not serving, ``_not_serving``) is probed, one
alias read per refresh interval (or one followed version's read a minute when no alias probe
was sent: ``due_versions``), its other aliases and versions neither read nor swept until it
answers (``plan``, ``_down``). A sweep is shared by every
alias read with the same client identity (``run_cache.identity``: tracking URI and
credentials digest), whatever the Secret's name or namespace.

Answers are shared by every resource that asks the same registry with the same identity (a
``Scope``: tracking URI, and the credentials Secret with its namespace and the keys read from
it): a thousand resources
following one alias cost one lookup per refresh interval, and a resource never sees what only
another Secret may read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from uplift_operator.adapters import mlflow_registry as errors
from uplift_operator.api.v1alpha1.common import parse_duration
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.alias_sweep import (
    SWEEP_AHEAD,
    SWEEP_RECORD_KEPT,
    SWEEP_VOUCH_LIMIT,
    AliasListing,
    Round,
    Sweep,
    SweepRecord,
    own_read_due,
    phase_of,
    plan_round,
    recorded,
)
from uplift_operator.domain.validation import ModelContract
from uplift_operator.services.ports import ListsAliases, Registry

__all__ = ["TREATMENTS_TAG", "AliasKey", "DueAlias", "Resolution", "Resolver", "Scope",
           "VersionFacts", "VersionKey"]

#: Who asks which registry: (tracking URI without a trailing ``/``, namespace of the credentials
#: Secret, its name with the keys read from it: ``"mlflow tokenKey=token"``), the last two empty
#: without credentials. The keys count: two keys of one Secret may hold two MLflow users.
Scope = tuple[str, str, str]

#: The tag (on the version, else on its run) in which the trainer records treatment key → name.
TREATMENTS_TAG = "uplift.treatments"

#: MLflow's built-in alias for a model's newest version: answered by every alias read, never
#: listed with the model's aliases, so never answerable by a sweep.
BUILT_IN_ALIAS = "latest"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionFacts:
    """What the operator needs to know about one registered version."""

    version: str
    run_id: str | None
    ready: bool
    status: str
    #: MLflow's ``status_message``: why a registration failed, e.g. the store refusing the
    #: copy of the artifacts ("" when MLflow says nothing).
    status_message: str = ""


@dataclass(frozen=True)
class Resolution:
    """The answer for one pass: the desired version (or None) and, when it failed, why."""

    desired: VersionFacts | None
    #: Resolved, or a ``ModelResolved`` reason (``domain.conditions``): RegistryUnavailable,
    #: ModelNotFound, VersionNotReady, VersionFailed, InvalidModel (MLflow refused the read
    #: otherwise, or the contract's), CredentialsUnreadable, CredentialsRefused (MLflow's
    #: 401/403; the caller names the credentials Secret).
    reason: str = "Resolved"
    message: str = ""
    #: An ``InvalidModel`` for an answer not MLflow's at a tracking URI that never answered as
    #: MLflow in this process (``RegistryNotMlflow``: a wrong URI, or an MLflow too old): it
    #: says nothing of the alias or version, so it overrides no fresh answer
    #: (``_of_the_alias``), and a later read that finds MLflow unreachable does not keep it
    #: (``_known``): the URI may be right, its MLflow starting.
    not_mlflow: bool = False

    @property
    def ok(self) -> bool:
        return self.reason == "Resolved"


@dataclass
class _Entry:
    facts: VersionFacts
    #: When the answer was last confirmed: by a read of the alias's own or by a sweep.
    fetched_at: dt.datetime
    #: Until when sweeps may vouch for the alias (``_vouched``): ``own_read_due`` of its last
    #: read by itself, fixed at that read (each look asks it of every due or early alias).
    vouch_until: dt.datetime
    #: When MLflow created the version held (ms, its own clock), None if it did not say: a
    #: sweep vouches for the alias only in a registered model created before it.
    created: int | None = None


#: How many versions' facts and contracts the resolver keeps besides those some resource follows
#: (``Resolver.follow_versions``: kept while followed, however many; a contract is a few kB).
MAX_VERSIONS_KEPT = 4096
MAX_CONTRACTS_KEPT = 1024

_K = TypeVar("_K")
_V = TypeVar("_V")


class _Recent(OrderedDict[_K, _V]):
    """At most ``size`` entries; reading or writing one makes it the most recent."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get(self, key: _K, default: _V | None = None) -> _V | None:  # type: ignore[override]
        try:  # another pass thread may evict it meanwhile: then it is not known
            self.move_to_end(key)
            return super().__getitem__(key)
        except KeyError:
            return default

    def __setitem__(self, key: _K, value: _V) -> None:
        super().__setitem__(key, value)
        with suppress(KeyError):
            self.move_to_end(key)
            while len(self) > self.size:
                self.popitem(last=False)


#: A registered version as the resolver knows it: (scope, registered model, version).
VersionKey = tuple[Scope, str, str]


class _Kept(Generic[_K, _V]):
    """Entries kept for as long as some follower pins their key (``pin``, ``unpin``), and at
    most ``size`` others, the least recently used out: a READY version's facts and contract
    never change, and those of the versions resources follow are asked at every pass. With only
    the bounded part, more followed versions than it holds (1,024 models' contracts) read in
    turn missed at every pass: 3-4 MLflow requests per pass per model, and an MLflow blip then
    held every such model RegistryUnavailable where a cached contract would have served.
    Memory stays bounded by what is followed plus ``size``. Safe from several pass threads."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._pins: dict[_K, int] = {}
        self._pinned: dict[_K, _V] = {}
        self._recent: _Recent[_K, _V] = _Recent(size)

    def get(self, key: _K) -> _V | None:
        with self._lock:
            if key in self._pinned:
                return self._pinned[key]
            return self._recent.get(key)

    def __setitem__(self, key: _K, value: _V) -> None:
        with self._lock:
            if key in self._pins:
                self._pinned[key] = value
            else:
                self._recent[key] = value

    def __len__(self) -> int:
        with self._lock:
            return len(self._pinned) + len(self._recent)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._pinned or key in self._recent

    def clear(self) -> None:
        """Drop every entry (the pins stay: what is read again for a pinned key is kept)."""
        with self._lock:
            self._pinned.clear()
            self._recent.clear()

    def pinned(self, key: _K) -> bool:
        """Whether some follower pins ``key``."""
        with self._lock:
            return key in self._pins

    def pin(self, key: _K) -> None:
        """One more follower of ``key``: its entry (now or once read) is not evicted."""
        with self._lock:
            self._pins[key] = self._pins.get(key, 0) + 1
            if key in self._recent:
                self._pinned[key] = self._recent.pop(key)

    def unpin(self, key: _K) -> None:
        """One follower fewer of ``key``: with none left, its entry joins the bounded rest as
        the most recently used (a version just left is likely asked again soon: a rollback)."""
        with self._lock:
            left = self._pins.get(key, 0) - 1
            if left > 0:
                self._pins[key] = left
                return
            self._pins.pop(key, None)
            if key in self._pinned:
                self._recent[key] = self._pinned.pop(key)


#: An alias as the resolver knows it: (scope, registered model, alias).
AliasKey = tuple[Scope, str, str]


@dataclass
class _AliasLock:
    """One read of an alias at a time, and how many hold or wait for it (``Resolver._holding``):
    ``forget_alias`` drops it only when none does, so that a read under way and one that starts
    next never hold two locks of one alias."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0

@dataclass
class _Down:
    """A registry identity found unreachable: ``probed`` when its last probe (or the read or
    sweep that failed) was handed out or failed, the next one due an interval after (an
    alias's refresh interval; a followed version's read probes ``VERSION_RETRY`` after);
    ``confirmed`` once an alias read failed too (a failing search alone may be the search's)."""

    probed: dt.datetime
    confirmed: bool = False
    #: The alias the poller may read (its probe): reads of the identity's others planned
    #: before it was found down are not sent (``refresh``).
    probe: AliasKey | None = None
    #: ``probe`` was handed back by the sweep that failed and no reader has sent it yet: it is
    #: planned at every look until one does (``_probes``). Else a look that came before a
    #: reader took it (a loaded machine) dropped it, and the registry's aliases waited an
    #: interval for the next probe.
    unsent: bool = False


#: An alias due to be read again, with its refresh interval.
DueAlias = tuple[AliasKey, dt.timedelta]
#: A failed alias read answers the passes that waited on it, and those within this after it:
#: with MLflow down, a thousand followers must not time out one after the other.
FAILURE_REUSE = dt.timedelta(seconds=5)


@dataclass
class Resolver:
    """Per-process cache of resolutions, shared by scope (``Scope``); one per operator.

    ``moved`` is told of each alias read that found it on another version than the cache held,
    so that every resource following it can be woken at once (``handlers.watches``), not each
    at its own next refresh."""

    moved: list[Callable[[AliasKey], None]] = field(default_factory=list)
    #: Told of each follower (a resource) of a version whose shared read by the poller
    #: (``reread_version``) found it changed: deleted, back, or another version under its
    #: number (``_replaced``); from the reader's thread.
    versions_moved: list[Callable[[Hashable], None]] = field(default_factory=list)
    # The client the last pass resolved each alias with: the one the poller reads it with.
    _clients: dict[AliasKey, Registry] = field(default_factory=dict)
    _aliases: dict[tuple[Scope, str, str], _Entry] = field(default_factory=dict)
    _alias_locks: dict[AliasKey, _AliasLock] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Per alias, its last read's failure: when, the answer, and None (the version a pinned
    # spec asked for, in ``_pinned_failed``).
    _failed: dict[AliasKey, tuple[dt.datetime, Resolution, str | None]] = field(
        default_factory=dict)
    # The same per pinned version (``_pinned_key``: its key names the version): a pinned
    # version's failure is its own, not cleared by another version of the model read well (a
    # resource pinning it) and not taken for it. Bounded, the least recently used out: a spec
    # pinned to another version leaves the failure of the one it pinned before.
    _pinned_failed: _Recent[AliasKey, tuple[dt.datetime, Resolution, str | None]] = field(
        default_factory=lambda: _Recent(MAX_VERSIONS_KEPT))
    # Per version: those resources follow (``follow_versions``) kept while followed, the rest
    # bounded, least recently used out (a registry keeps every version it ever had).
    _versions: _Kept[VersionKey, VersionFacts] = field(
        default_factory=lambda: _Kept(MAX_VERSIONS_KEPT))
    # With the run id of the version read (``contract``): a version number names another
    # version once its registered model is deleted and re-created.
    _contracts: _Kept[VersionKey, tuple[str | None, ModelContract]] = field(
        default_factory=lambda: _Kept(MAX_CONTRACTS_KEPT))
    # Followed versions a read found under their number with another run id (the registered
    # model deleted and re-created, its numbers from 1 again), with what it found: the facts
    # held stay those of the version served (``_learn``) until no resource follows it, and a
    # resolution to it is a problem (``_replaced_problem``).
    _replaced: dict[VersionKey, VersionFacts] = field(default_factory=dict)
    # The versions each follower (a resource) follows now, as last told.
    _followed: dict[Hashable, frozenset[VersionKey]] = field(default_factory=dict)
    # The same by version: its followers (``reread_version`` wakes them).
    _followers_of: dict[VersionKey, set[Hashable]] = field(default_factory=dict)
    # Per followed version, when the poller reads it by itself again (``due_versions``).
    _version_due: dict[VersionKey, dt.datetime] = field(default_factory=dict)
    # The soonest of them at the last look (None: a version followed since), no later than
    # any: a look before it reads none and scans none (a scan of 10,000 took 10 ms).
    _versions_next: dt.datetime | None = None
    # Per scope, the client a pass last resolved with: the poller reads the scope's followed
    # versions with it (the scope names the URI and the credentials, so any of its clients
    # reads what the others do). Kept only while a version of the scope is followed
    # (``_followed_scopes``): a pass that follows none there drops it (``follow_versions``,
    # or ``pass_begins`` after a pass that raised), so the scope of a spec that never resolved
    # (a version never registered, MLflow down) keeps no client once it is deleted: each
    # such scope (a namespace's credentials) kept one, with its sessions and its possibly
    # revoked token, and its identity's ``_read_takes`` and ``_down``, for good.
    _scope_clients: dict[Scope, Registry] = field(default_factory=dict)
    # Per scope, how many versions of it are followed (the keys of ``_followers_of``): whether
    # its client is still needed, without a scan of every followed version.
    _followed_scopes: dict[Scope, int] = field(default_factory=dict)
    # Per thread running a pass, the scope and client its ``resolve`` left, taken by its
    # ``follow_versions``: the last other user of the scope leaving in between
    # (``unfollow_versions``, ``forget_alias``) found no version of it followed yet and
    # dropped its client, which the pass's ``follow_versions`` puts back for the versions it
    # follows there (else the poller read none of them until its next pass). Only the same
    # pass's: each pass starts by dropping its thread's entry (``pass_begins``), so one a
    # failed pass left (raised after its ``resolve``) is never put back by a later pass that
    # did not resolve (an invalid spec, a deletion, unreadable credentials), a client whose
    # credentials may have been rotated or revoked since; a ``resolve`` of the scope on any
    # thread makes every entry of the scope name its client (the newest), and
    # ``forget_client`` drops those of its scope.
    _passing: dict[int, tuple[Scope, Registry]] = field(default_factory=dict)
    # Followed versions the poller's read found not in MLflow (404), with MLflow's words: a
    # spec pinned to one answers ModelNotFound without a read of its own, until a read finds
    # it again.
    _gone: dict[VersionKey, str] = field(default_factory=dict)
    # What the last sweep of each registry identity found out (its size in pages, or a failure).
    # This, ``_down`` and ``_read_takes`` go with the last client of the identity kept
    # (``_drop_unused``): an identity names a credentials digest, which a rotation changes.
    _sweeps: dict[Hashable, SweepRecord] = field(default_factory=dict)
    # Aliases a sweep handed back, when: while their own read finds nothing changed, a sweep
    # cannot answer them (not listed as read, a model created at the version's millisecond),
    # and they are left out of sweeps for SWEEP_RECORD_KEPT.
    _sweep_misses: dict[AliasKey, dt.datetime] = field(default_factory=dict)
    # Per alias, when its last read was failed fast, unsent (``RegistryNotAsked``), since its
    # last read that was sent: its next refresh waits as after a failed read
    # (``next_refresh``), its answer and followers untouched (``_standing``).
    _not_asked: dict[AliasKey, dt.datetime] = field(default_factory=dict)
    # Per registry identity (``_identity``) whose last read or sweep found MLflow unreachable
    # (``RegistryUnavailable``): the poller probes it with one alias read per refresh interval,
    # or one followed version's read once no probe was sent for ``VERSION_RETRY`` (an identity
    # whose followers pin versions has no alias to probe with: ``due_versions``), and reads
    # nothing else of it (``plan``) until a read is answered (``_Down``).
    _down: dict[Hashable, _Down] = field(default_factory=dict)
    # Per registry identity, how long an alias read of it takes (a moving average): a sweep
    # slower than the reads it replaces is not planned (``domain.alias_sweep.plan_round``).
    _read_takes: dict[Hashable, dt.timedelta] = field(default_factory=dict)
    # Tracking URIs (a scope's first part) that answered as MLflow in this process: a read, a
    # sweep, or an error in MLflow's own JSON. A 404 not MLflow's there is a proxy before an
    # MLflow that does not serve (a Traefik ``404 page not found`` while its Service has no
    # ready endpoint, the pod restarting): an outage (``_not_serving``), not a wrong URI.
    _mlflow_seen: set[str] = field(default_factory=set)

    def forget_client(self, key: AliasKey) -> None:
        """A pass of a resource following ``key`` could not build a client (its credentials
        Secret deleted or unreadable): the poller stops reading the alias with the client the
        last pass left, which carries credentials someone revoked. A pass that builds one
        again puts it back."""
        with self._lock:
            client = self._clients.pop(key, None)
            scope_client = self._scope_clients.pop(key[0], None)
            for thread, (scope, _) in list(self._passing.items()):
                if scope == key[0]:
                    del self._passing[thread]
            self._drop_unused(key[0], client, scope_client)

    def pass_begins(self) -> None:
        """A resource's pass starts on this thread: what an earlier pass here left for its
        ``follow_versions`` (``_passing``) is not this one's (that pass raised before following
        its versions) and goes, so this pass's ``follow_versions`` puts back only the client
        of its own ``resolve``, if any."""
        with self._lock:
            self._drop_idle_scope(self._passing.pop(threading.get_ident(), None))

    def has_client(self, key: AliasKey) -> bool:
        """Whether ``refresh`` can read the alias ``key``: a pass left a client for it, and no
        later pass took it away (``forget_client``). The poller reads no other alias: such an
        alias stays due, unread, and was the most overdue at every look, ahead of every alias
        it could read."""
        with self._lock:
            return key in self._clients

    def follow_versions(self, follower: Hashable, keys: Collection[VersionKey]) -> None:
        """``follower`` (a resource) now follows the versions ``keys`` (its stable, canary and
        desired ones: their facts and contracts are asked at each of its passes), instead of
        those it was told of before: their facts and contracts are kept for as long as some
        follower follows them, whatever the bounded rest holds (``_Kept``). Called by the
        thread that ran the follower's pass: the scope client that pass's ``resolve`` left is
        put back if it went meanwhile (``_passing``; the pass began with ``pass_begins``)."""
        now_followed = frozenset(keys)
        cleared: set[VersionKey] = set()
        with self._lock:
            passing = self._passing.pop(threading.get_ident(), None)
            if (passing is not None and passing[0] not in self._scope_clients
                    and any(key[0] == passing[0] for key in now_followed)):
                self._scope_clients[passing[0]] = passing[1]
            before = self._followed.get(follower, frozenset())
            if now_followed == before:
                self._drop_idle_scope(passing)
                return
            if now_followed:
                self._followed[follower] = now_followed
            else:
                self._followed.pop(follower, None)
            for key in now_followed - before:
                self._versions.pin(key)
                self._contracts.pin(key)
                if key not in self._followers_of:
                    self._followed_scopes[key[0]] = self._followed_scopes.get(key[0], 0) + 1
                self._followers_of.setdefault(key, set()).add(follower)
                self._versions_next = None
            for key in before - now_followed:
                self._versions.unpin(key)
                self._contracts.unpin(key)
                followers = self._followers_of.get(key, set())
                followers.discard(follower)
                if not followers:
                    if self._followers_of.pop(key, None) is not None:
                        self._unfollowed_scope(key[0])
                    self._version_due.pop(key, None)
                    self._gone.pop(key, None)
                    if key[0] not in self._followed_scopes:
                        self._drop_unused(key[0], self._scope_clients.pop(key[0], None))
                found = self._replaced.get(key)
                if found is not None and not self._versions.pinned(key):
                    # No resource serves the version replaced any more: the one under its
                    # number now is the version.
                    del self._replaced[key]
                    self._versions[key] = found
                    cleared.add(key)
            self._drop_idle_scope(passing)  # its resolve's scope, if no version there is followed
            # The aliases on such a version answered InvalidModel to every follower (a new
            # UpliftModel too); their answer is the new version now, and no read tells it.
            told = [alias for alias, entry in list(self._aliases.items())
                    if (alias[0], alias[1], entry.facts.version) in cleared] if cleared else []
        for alias in told:
            self._tell(alias)

    def unfollow_versions(self, follower: Hashable) -> None:
        """``follower`` is gone (deleted): the versions only it followed join the bounded rest,
        and the client of every scope none is followed in any more goes: the follower's scope
        is not known here when it followed none (a pinned version never registered, MLflow
        down), and a client its last ``resolve`` left (that pass raised before following) would
        stay for good. Few are kept (a pass that follows none drops its own), and a pass under
        way that follows a version there puts its client back (``_passing``)."""
        self.follow_versions(follower, ())
        with self._lock:
            for scope in [s for s in self._scope_clients if s not in self._followed_scopes]:
                self._drop_unused(scope, self._scope_clients.pop(scope))

    def _unfollowed_scope(self, scope: Scope) -> None:
        """One version of ``scope`` fewer followed (``_followed_scopes``). Under ``_lock``."""
        left = self._followed_scopes.get(scope, 0) - 1
        if left > 0:
            self._followed_scopes[scope] = left
        else:
            self._followed_scopes.pop(scope, None)

    def _drop_idle_scope(self, passing: tuple[Scope, Registry] | None) -> None:
        """The client of the scope a pass resolved in (``passing``, its ``_passing`` entry)
        goes, and what is kept of its registry identity with the last client of it
        (``_drop_unused``), when no version of the scope is followed: the poller reads only
        followed versions with it (``due_versions``, ``reread_version``; an alias is read with
        its own client, ``_clients``). A pass of the scope that follows a version there puts it
        back (its own ``_passing``). Under ``_lock``."""
        if passing is not None and passing[0] not in self._followed_scopes:
            self._drop_unused(passing[0], self._scope_clients.pop(passing[0], None))

    def forget_alias(self, key: AliasKey,
                     followed: Callable[[AliasKey], bool] = lambda _key: False) -> None:
        """No resource follows ``key`` any more: what is kept of it goes (its answer, its
        failure, the client and its credentials) — unless ``followed`` says one does by now,
        asked under the resolver's lock (``handlers.watches.AliasFollowers.following``): the
        last follower's leave is told after it was recorded, and a new follower may have come
        meanwhile, its pass resolving the alias and leaving its client. Dropped, that client
        was not read with until the new follower's next pass (up to the resync, 10 min), the
        alias's moves unseen meanwhile. The alias's lock stays while a read holds or waits for
        it (``_holding``): the last of them drops it. The client of its scope goes too when no
        version of that scope is followed (the poller reads none with it), and with the last
        client of a registry identity what is kept of that identity (``_drop_unused``)."""
        with self._lock:
            if followed(key):
                return
            scope_client = None
            if key[0] not in self._followed_scopes:
                # Nor a version of its scope followed: the poller reads none with it.
                scope_client = self._scope_clients.pop(key[0], None)
            self._drop_unused(key[0], self._clients.pop(key, None), scope_client)
            self._aliases.pop(key, None)
            self._failed.pop(key, None)
            self._not_asked.pop(key, None)
            self._sweep_misses.pop(key, None)
            held = self._alias_locks.get(key)
            if held is not None and held.users == 0:
                del self._alias_locks[key]

    def _replace_client(self, table: dict[Any, Registry], key: Any, scope: Scope,
                        registry: Registry) -> None:
        """``table[key] = registry`` (``_clients`` or ``_scope_clients``); the client it
        replaces, of another registry identity (the credentials Secret rotated: another
        digest), may have been the last of its identity. Under ``_lock``."""
        before = table.get(key)
        table[key] = registry
        if before is not None and before is not registry:
            old = _identity(before, scope)
            if old != _identity(registry, scope):
                self._drop_unused(scope, before)

    def _drop_unused(self, scope: Scope, *clients: Registry | None) -> None:
        """What is kept per registry identity (``_read_takes``, ``_sweeps``, ``_down``) of the
        identities of ``clients`` (of ``scope``, just dropped or replaced) that no kept client
        (``_clients``, ``_scope_clients``) has any more: a client's identity names its
        credentials' digest, so every rotation of a credentials Secret, and every registry no
        resource asks any more, left its entries for the process's life (1,000 rotations:
        1,000 entries). Under ``_lock``. Only an identity with entries is looked for among
        the clients kept, and the look ends at the first one of it."""
        kept = (self._read_takes, self._sweeps, self._down)
        gone = {identity for identity in (_identity(client, scope) for client in clients
                                          if client is not None)
                if any(identity in table for table in kept)}
        if not gone:
            return
        for key, client in [*self._scope_clients.items(), *(
                (alias[0], client) for alias, client in self._clients.items())]:
            gone.discard(_identity(client, key))
            if not gone:
                return
        for identity in gone:
            for table in kept:
                table.pop(identity, None)

    def _in_use(self, identity: Hashable) -> bool:
        """Whether a kept client (``_clients``, ``_scope_clients``) is of ``identity``: what
        a read or sweep in flight when its last client went would keep of it otherwise stayed
        (``_drop_unused`` ran before). Under ``_lock``; ends at the first one found."""
        return any(_identity(client, scope) == identity
                   for scope, client in self._scope_clients.items()) or any(
            _identity(client, alias[0]) == identity for alias, client in self._clients.items())

    @contextmanager
    def _holding(self, key: AliasKey) -> Iterator[None]:
        """Hold the alias ``key``'s lock: one read of it at a time. Counted, so that
        ``forget_alias`` never drops a lock a read holds or waits for (a read starting after it
        took a new one, and read the alias at the same time); the last user drops a lock whose
        alias was forgotten meanwhile (no client left to read it with)."""
        with self._lock:
            held = self._alias_locks.setdefault(key, _AliasLock())
            held.users += 1
        try:
            with held.lock:
                yield
        finally:
            with self._lock:
                held.users -= 1
                if (held.users == 0 and key not in self._clients
                        and self._alias_locks.get(key) is held):
                    del self._alias_locks[key]

    def resolve(self, scope: Scope, ref: ModelReference, registry: Registry,
                now: dt.datetime) -> Resolution:
        """Resolve ``ref``; errors become a Resolution carrying the last known version. An
        alias read by any resource of the same scope within this resource's refresh interval
        is not read again."""
        with self._lock:
            # The poller reads followed versions with it.
            self._replace_client(self._scope_clients, scope, scope, registry)
            # The scope's newest client: an entry another thread's pass left for the scope
            # names it from now on, so none puts back an older one (credentials rotated since).
            for thread, (entry_scope, _) in list(self._passing.items()):
                if entry_scope == scope:
                    self._passing[thread] = (scope, registry)
            self._passing[threading.get_ident()] = (scope, registry)
        if ref.alias is None:
            return self._replaced_problem(
                scope, ref, self._resolve(_pinned_key(scope, ref), ref, registry, now))
        key = (scope, ref.registered_model, ref.alias)
        # One read per alias and refresh interval, however many passes (threads) find it due
        # at once: the others wait for that read and take its answer.
        with self._lock:
            self._replace_client(self._clients, key, scope, registry)
        with self._holding(key):
            return self._replaced_problem(scope, ref, self._resolve(key, ref, registry, now))

    def _replaced_problem(self, scope: Scope, ref: ModelReference,
                          resolution: Resolution) -> Resolution:
        """``resolution``, unless it resolved to a version a read found replaced under its
        number (``_replaced``): then ``InvalidModel``, saying so, the version held (the one
        served) as the desired one, so that the ramp holds and what serves stays. So too
        through an outage (``RegistryUnavailable`` with that version held): the replacement
        is known, and a blip must not flip the reason and restart the Degraded grace. A
        resolution that failed otherwise says its own problem."""
        if (not self._replaced or resolution.desired is None
                or resolution.reason not in ("Resolved", "RegistryUnavailable")):
            return resolution
        key = (scope, ref.registered_model, resolution.desired.version)
        found = self._replaced.get(key)
        held = self._versions.get(key)
        if found is None or held is None:
            return resolution
        return Resolution(held, cond.INVALID_MODEL,
                          _recreated(ref.registered_model, held, found))

    def _learn(self, key: VersionKey, facts: VersionFacts,
               at: dt.datetime | None = None) -> None:
        """Keep ``facts``, read of the version ``key``, unless a resource follows that version
        (its stable, canary or desired one) as READY with another run id: the number names
        another version now — the registered model deleted and re-created, its numbers from 1
        again (MLflow never changes a version's run). The facts held stay those of the version
        served, whose pods keep the model they loaded, and ``_replaced`` says what was found
        until no resource follows the version. Before, the new version took the number's
        place as the same one: the contract kept the old one's signature and treatments, and
        the gates read the new run's evidence for the pods of the old. Under the resolver's
        lock, as ``follow_versions``: a follower leaving the version between the check and
        the write left ``_replaced`` set with no follower (InvalidModel until the next read),
        or the new version's facts in place of one a follower just pinned. Read ``at``, a
        followed version's next read by the poller (``due_versions``) moves on."""
        with self._lock:
            if at is not None and key in self._followers_of:
                self._set_version_due(key, _version_due(key, at))
            held = self._versions.get(key)
            if (held is not None and held.ready and held.run_id != facts.run_id
                    and self._versions.pinned(key)):
                self._replaced[key] = facts
                return
            self._replaced.pop(key, None)
            self._versions[key] = facts

    def refresh(self, key: AliasKey, interval: dt.timedelta, now: dt.datetime,
                ahead: dt.timedelta = dt.timedelta(0)) -> bool:
        """Re-read the alias ``key`` when it is due (``next_refresh``; within ``ahead``: a
        sweep handed back an alias it answered early), with the client a pass last resolved
        it with; whether MLflow was asked (not when no pass left a client: ``has_client``). A
        different answer tells ``moved``."""
        with self._lock:
            registry = self._clients.get(key)
        if registry is None or self.next_refresh(key, interval) > now + ahead:
            return False
        with self._lock:
            down = self._down.get(_identity(registry, key[0]))
            if down is not None:
                if down.probe != key and now < down.probed + interval:
                    return False  # planned before MLflow was found unreachable: it waits
                # The probe's turn, stamped as it is sent: a probe planned (``_probes``) but
                # left waiting for a reader is handed out again at the next look, not an
                # interval later.
                down.probed, down.probe, down.unsent = now, key, False
        _scope, model, alias = key
        # Read ``ahead`` early: its answer is taken as it stands for that much less.
        ref = ModelReference.model_validate({"registeredModel": model, "alias": alias,
                                             "aliasRefreshInterval": _duration(interval - ahead)})
        with self._holding(key):
            if self.next_refresh(key, interval) > now + ahead:  # read by a pass meanwhile
                return False
            self._resolve(key, ref, registry, now)
        return True

    def plan(self, due: Sequence[DueAlias], at: dt.datetime,
             read_alone: Collection[AliasKey] = (), *, early: Sequence[DueAlias] = (),
             readers: int = 1) -> Round[Hashable, DueAlias]:
        """How the poller reads the ``due`` aliases (the most overdue first) at ``at``, with
        ``readers`` reads at once: one sweep per registry identity where it is no slower than
        their reads (``domain.alias_sweep.plan_round``), every other alias by itself. Only the
        aliases a sweep can answer count and go to it (``_answerable``); the others, those in
        ``read_alone`` (a sweep handed them back) and those whose client cannot sweep are read
        by themselves. ``early``: aliases due within ``SWEEP_AHEAD`` of their interval, which
        a sweep of their registry answers too; those in ``read_alone`` are read now.

        A registry identity found unreachable (``_down``: a read of it failed with
        ``RegistryUnavailable``, or a sweep of it did) is probed instead: its most overdue due
        alias is read, once per that alias's interval, and none of its other aliases is read
        or swept (they stay due) until a read is answered; then they are planned as usual, at
        the next look. Without it every alias of an unreachable MLflow was read by itself each
        round (2,000 aliases: 2,000 requests a round through the outage, against 2 healthy)."""
        # Per client class (a few): isinstance of a Protocol is slow. Not per client: a pass
        # with credentials leaves a client of its own (``services.upliftmodel._RefusalTold``,
        # built at each pass), so per client it was an isinstance per alias, and a plan of
        # 2,000 aliases took 28 ms of the event loop against 10.
        lists: dict[type, bool] = {}
        with self._lock:
            clients = {key: self._clients.get(key) for key, _ in [*due, *early]}
            records = dict(self._sweeps)
            read_takes = dict(self._read_takes)
            if self._down:
                due, early = self._probes(due, early, clients, at), [
                    (key, interval) for key, interval in early
                    if _identity(clients[key], key[0]) not in self._down]
        for client in clients.values():
            if type(client) not in lists:
                lists[type(client)] = isinstance(client, ListsAliases)

        def registry(key: AliasKey) -> Hashable | None:
            client = clients[key]
            if not lists[type(client)] or key in read_alone or not self._answerable(key, at):
                return None
            return _identity(client, key[0])

        sweepable = [(registry(key), (key, interval)) for key, interval in due]
        coming: list[tuple[Hashable, DueAlias]] = []
        for key, interval in early:
            if key in read_alone:
                continue
            identity = registry(key)
            if identity is not None:
                coming.append((identity, (key, interval)))
        planned = plan_round(sweepable, records, at, early=coming, readers=readers,
                             read_takes=read_takes)
        handed_back_early = tuple((key, interval) for key, interval in early if key in read_alone)
        return Round(planned.sweeps, planned.reads + handed_back_early)

    def _probes(self, due: Sequence[DueAlias], early: Sequence[DueAlias],
                clients: Mapping[AliasKey, Registry | None], at: dt.datetime) -> list[DueAlias]:
        """``due`` without the aliases of the identities found unreachable (``_down``), but
        for each such identity's most overdue one when its probe is due (an interval after the
        last probe sent, or the probe a failed sweep handed back, not sent yet): it is handed
        out now, and stamped when a reader sends it (``refresh``), the next probe an interval
        on. Stamped here, a probe planned while every reader was busy (and so dropped at the
        next look's plan) was lost for a whole interval. Under ``_lock``."""
        kept: list[DueAlias] = []
        probing: set[Hashable] = set()
        for key, interval in due:
            identity = _identity(clients[key], key[0])
            down = self._down.get(identity)
            if down is None:
                kept.append((key, interval))
            elif identity not in probing and (at >= down.probed + interval
                                              or (down.unsent and down.probe == key)):
                probing.add(identity)
                down.probe = key
                kept.append((key, interval))
        return kept

    def _answerable(self, key: AliasKey, at: dt.datetime) -> bool:
        """Whether a sweep can vouch for the alias ``key``: read before, READY, not failing
        for a reason of its own (``_of_the_alias``: a failure of MLflow's reachability is no
        news of the alias, and the sweep that finds it unchanged tells its followers the
        recovery; else, after an outage, every alias was read by itself), its version's
        creation time known, not MLflow's built-in ``latest`` (never listed), its own read not
        due (``_vouched``), and not handed back by a sweep within
        ``SWEEP_RECORD_KEPT`` with its own read finding nothing changed. A sweep would hand
        any other back every round: counted, it would make a sweep cost its pages on top of
        their reads."""
        failed = self._failed.get(key)
        if key[2].lower() == BUILT_IN_ALIAS or (failed is not None
                                                 and _of_the_alias(failed[1])):
            return False
        cached = self._aliases.get(key)
        if (cached is None or not cached.facts.ready or cached.created is None
                or not _vouched(cached, at)):
            return False
        missed = self._sweep_misses.get(key)
        return missed is None or at - missed >= SWEEP_RECORD_KEPT

    def sweep(self, sweep: Sweep[Hashable, DueAlias], now: dt.datetime) -> list[DueAlias]:
        """Answer the aliases of ``sweep`` (one registry identity: the same server asked as
        the same user, so any of their clients lists the same; the first one a pass left is
        used) with one listing of its registered models' aliases; the aliases that need a read
        of their own (``refresh``), the most overdue first. An alias the listing shows on the
        version held is refreshed as a read would (its next refresh moves on) and told
        nothing: it did not change. Any other is handed back (and remembered: ``_answerable``; not one
        handed back only because its own read is due):
        its own read knows how to tell ``moved`` and to report a failure or absence. A sweep
        that fails (any exception: it is logged), or stops at its budget, answers nothing and
        hands back its due aliases (those answered early are read when due): the reads then
        report what they find, the way they did without sweeps (a failing listing says
        nothing of an alias: the credentials may be refused the search and not the alias; the
        listing never opens the breaker, ``MlflowRegistry.registered_aliases``)."""
        aliases = list(sweep.aliases)
        due = [(key, interval) for key, interval in aliases
               if self.next_refresh(key, interval) <= now]
        with self._lock:
            client = next((self._clients[key] for key, _ in aliases if key in self._clients),
                          None)
        if not isinstance(client, ListsAliases):
            return due
        with self._lock:
            if _identity(client, aliases[0][0][0]) in self._down:
                return []  # planned before MLflow was found unreachable: they wait (``plan``)
        began = time.monotonic()
        try:
            listing = client.registered_aliases(max_pages=sweep.budget)
        except Exception as error:
            if not isinstance(error, errors.RegistryError):
                logger.error("sweeping the aliases of %r failed; they are read one by one",
                             client, exc_info=error)
            else:
                self._heard(aliases[0][0][0], error)
            with self._lock:
                if not self._in_use(sweep.registry):
                    return due  # its aliases forgotten meanwhile: nothing kept of it
                self._sweeps[sweep.registry] = SweepRecord(now, failed=True)
                if not _unreachable(error):
                    return due
                # MLflow may be down: one alias read says (``plan`` probes from here on).
                down = self._down.setdefault(
                    _identity(client, aliases[0][0][0]), _Down(now))
                down.probe = due[0][0] if due else None
                down.unsent = down.probe is not None
            return due[:1]
        took = dt.timedelta(seconds=time.monotonic() - began)
        self._heard(aliases[0][0][0])
        with self._lock:
            if self._in_use(sweep.registry):  # not forgotten meanwhile (``_drop_unused``)
                self._sweeps[sweep.registry] = recorded(listing.pages, listing.complete, now,
                                                        took)
            if self._down.pop(_identity(client, aliases[0][0][0]), None) is not None:
                self._versions_next = None  # it answered: its versions held back are due
        if not listing.complete:
            return due
        # Its answers are as of when the listing began, as a read's are as of when its pass
        # began: a model listed on the first page may have moved just after, and stamped at
        # the listing's end, its move went unseen for as long as the listing took on top of
        # its interval.
        back = [(key, interval) for key, interval in aliases
                if self._needs_read(key, interval, listing, now)]
        with self._lock:
            for key, _ in back:
                cached = self._aliases.get(key)
                # Not merely its read's turn, and still followed (``forget_alias``).
                if key in self._clients and (cached is None or _vouched(cached, now)):
                    self._sweep_misses[key] = now
        return back

    def _needs_read(self, key: AliasKey, interval: dt.timedelta, listing: AliasListing,
                    now: dt.datetime) -> bool:
        """Whether the alias ``key`` needs a read of its own after ``listing``; if not, it is
        refreshed. It does unless the listing shows it on the version held and its registered
        model was created before that version (both MLflow's own timestamps, so no clock of
        the operator's is compared with the server's): a version is created in its model, so
        a model created at or after the version held is another one — deleted and re-created
        (or renamed away and another created under the name) since the version was read, its
        version 1 not the one held whatever its number. A model that gives no creation time
        is read. Not seen by a sweep: an older model renamed onto the name with the alias on
        the same version number (its creation time is older), or the version's run id or
        status changed under the same number; so an alias whose own read is due
        (``_vouched``: at most ``SWEEP_VOUCH_LIMIT`` after its last) is read, which sees
        them."""
        _scope, model, alias = key
        with self._lock:
            has_client = key in self._clients
        if not has_client:
            return False  # no client to read it with
        with self._holding(key):
            if self.next_refresh(key, interval) > now + interval * SWEEP_AHEAD:
                return False  # a pass read it meanwhile
            cached = self._aliases.get(key)
            created = listing.created.get(model)
            failed = self._failed.get(key)
            if (cached is None or (failed is not None and _of_the_alias(failed[1]))
                    or not cached.facts.ready
                    or not _vouched(cached, now)
                    or listing.aliases.get(model, {}).get(alias) != cached.facts.version
                    or created is None or cached.created is None
                    or created >= cached.created):
                return True
            with self._lock:
                if key not in self._clients:
                    return False  # forgotten meanwhile (``forget_alias``): nothing kept
                self._aliases[key] = replace(cached, fetched_at=now)
            self._not_asked.pop(key, None)
            if self._failed.pop(key, None) is not None:
                self._tell(key)  # its reads failed in an outage: the followers' condition
            return False

    def next_refresh(self, key: AliasKey, interval: dt.timedelta) -> dt.datetime:
        """When the alias ``key`` is due to be read again (``datetime.min``: never read): its answer
        ``interval`` old, or a failed read ``interval`` ago — through an MLflow outage the poller
        reads one due alias of the registry per interval (``plan``: the others stay due), and the
        read or sweep that finds it answering again wakes the followers of the aliases whose reads
        failed (``_tell``); held on RegistryUnavailable meanwhile, they retry on their own too,
        backing off (``services.upliftmodel._unresolved_retry``). A read the breaker failed fast,
        unsent (``_not_asked``), counts as a failed one here, though it stamps no failure: else
        the alias stayed due, and the poller handed every alias of a tracking URI whose breaker
        was open out again at every look (2,000 aliases: 16,734 reads failed fast in 10 s, 3.6 s
        of CPU, against 2,000 and 0.45 s)."""
        cached, failed = self._aliases.get(key), self._failed.get(key)
        due = cached.fetched_at + interval if cached else _NEVER
        if failed is not None:
            due = max(due, failed[0] + max(interval, FAILURE_REUSE))
        unsent = self._not_asked.get(key)
        if unsent is not None:
            due = max(due, unsent + max(interval, FAILURE_REUSE))
        return due

    def _resolve(self, key: AliasKey, ref: ModelReference, registry: Registry,
                 now: dt.datetime) -> Resolution:
        cached = self._aliases.get(key)
        failures = self._failed if ref.alias is not None else self._pinned_failed
        failed = failures.get(key)
        # A read that failed after the answer held was fetched, saying something of the alias
        # (``_of_the_alias``), is the newer news: the answer is not taken as fresh (a read the
        # poller made early, or one for a follower with a shorter interval, found the alias
        # gone while this follower's interval still ran). An outage's failure is not: one 503
        # would flip every follower whose answer is fresh to RegistryUnavailable and back.
        if ref.alias is not None and cached is not None and (
                failed is None or failed[0] < cached.fetched_at
                or not _of_the_alias(failed[1])) and (
                now - cached.fetched_at < parse_duration(ref.alias_refresh_interval)):
            if cached.facts.ready:
                return Resolution(cached.facts)
            # Not READY yet (its files may still be uploading): never "Resolved" from the
            # cache; read again once the passes waiting on this read have taken its answer.
            if now - cached.fetched_at < FAILURE_REUSE:
                return _not_ready(cached.facts, ref.registered_model)
        if ref.alias is not None and failed is not None and now - failed[0] < FAILURE_REUSE:
            return failed[1]  # the read just failed: the passes waiting on it take its answer
        began = time.monotonic()
        try:
            resolution, answered = self._read(key, ref, registry, now)
        except errors.RegistryNotAsked as error:
            with self._lock:
                down = self._down.get(_identity(registry, key[0]))
                if down is not None:
                    down.probed = max(down.probed, now)
            if ref.alias is not None:
                self._keep(self._not_asked, key, now)  # its next refresh waits
                return _standing(ref, cached.facts if cached else None, failed, error)
            held = self._versions.get((key[0], ref.registered_model, ref.version or ""))
            return _standing(ref, held, failed, error)
        self._not_asked.pop(key, None)
        failed_before = key in failures
        # A read sent that failed (a 5xx, a timeout, a refused connection) says nothing of the
        # alias or version either: the problem known of it stands, as for a read not sent
        # (``_known``); a standing VersionFailed or InvalidModel flipped to RegistryUnavailable
        # and back, restarting its Degraded grace (``domain.stuck``), and told the followers.
        known = None
        if resolution.reason == "RegistryUnavailable":
            held = cached.facts if cached else None
            if ref.alias is None:
                held = self._versions.get((key[0], ref.registered_model, ref.version or ""))
            known = _known(ref, held, failed)
            if known is not None and known.reason == cond.CREDENTIALS_REFUSED:
                known = None  # an outage after a refusal of the credentials says so, as before
        if known is not None:
            # Re-stamped: the passes queued behind this read take it (FAILURE_REUSE), and the
            # next refresh waits as after a failed read (``next_refresh``); no follower told.
            ended = now + dt.timedelta(seconds=int(time.monotonic() - began))
            if failed_before:
                self._keep(failures, key, (ended, known, ref.version))
            elif ref.alias is not None:
                self._keep(self._not_asked, key, ended)
        elif resolution.reason in ("RegistryUnavailable", "ModelNotFound",
                                   cond.CREDENTIALS_REFUSED, cond.INVALID_MODEL):
            # Stamped when the read ended, not when its pass began: a read that timed out
            # after FAILURE_REUSE would otherwise be too old to answer the passes that queued
            # behind it, and each of them would wait out a timeout of its own in turn (a
            # black-holed MLflow then held every thread of the pool on this alias's lock).
            ended = now + dt.timedelta(seconds=int(time.monotonic() - began))
            self._keep(failures, key, (ended, resolution, ref.version))
        else:
            failures.pop(key, None)
        took = dt.timedelta(seconds=time.monotonic() - began)
        identity = _identity(registry, key[0])
        # Down only when unreachable, as for a sweep (``_unreachable``): a rate limit (429),
        # a 408 or 409 MLflow answered, or an answer not MLflow's is an answer. A pinned
        # version answered from the cache asked nothing, so says nothing: it ended a probing.
        if answered is not None:
            self._reached(identity, answered,
                          now + dt.timedelta(seconds=int(took.total_seconds())))
        if ref.alias is not None:
            with self._lock:
                # Of a client still kept for the alias (``_drop_unused`` ran before else).
                if key in self._clients and _identity(self._clients[key], key[0]) == identity:
                    last = self._read_takes.get(identity)
                    self._read_takes[identity] = (took if last is None
                                                  else (last * 3 + took) / 4)
        if ref.alias is not None and (failed_before != (key in failures) or (
                failed is not None and failed[1].not_mlflow
                and resolution.reason != failed[1].reason)):
            # Its read started or stopped failing, or an answer not MLflow's gave way to an
            # outage (``_known`` keeps none): the followers' condition.
            self._tell(key)
        return resolution if known is None else known

    def _heard(self, scope: Scope, error: errors.RegistryError | None = None) -> None:
        """The scope's tracking URI answered: as MLflow (``_mlflow_seen``) when it answered a
        read (no ``error``), "not found" (only MLflow's JSON says so), or an error in MLflow's
        JSON (its ``error_code``)."""
        if error is not None and error.error_code is None and not isinstance(
                error, errors.RegistryNotFound):
            return
        if scope[0] not in self._mlflow_seen:
            with self._lock:
                self._mlflow_seen.add(scope[0])

    def not_serving(self, scope: Scope, error: BaseException) -> bool:
        """``_not_serving``, for a read made elsewhere (a status-less pass's role reads:
        ``services.upliftmodel._recorded_roles``), so that it takes an answer not MLflow's as
        this resolver's reads do."""
        return self._not_serving(scope, error)

    def _not_serving(self, scope: Scope, error: BaseException) -> bool:
        """Whether ``error`` is a 404 not MLflow's (``RegistryNotMlflow``) at a tracking URI
        that answered as MLflow before in this process (``_mlflow_seen``): a proxy before an
        MLflow that does not serve now (Traefik answers ``404 page not found`` while the
        Service has no ready endpoint), an outage as a 5xx is. At a URI that never did, it
        is the URI's problem (``InvalidModel``)."""
        return (isinstance(error, errors.RegistryNotMlflow) and error.status_code == 404
                and scope[0] in self._mlflow_seen)

    def _reached(self, identity: Hashable, answered: bool, ended: dt.datetime) -> None:
        """A read of ``identity`` ended at ``ended``: MLflow ``answered`` it (whatever it said),
        or was unreachable. Unreachable, the poller probes it (``plan``); answered after an
        outage a read confirmed, a sweep failed meanwhile is tried again at once."""
        with self._lock:
            if not answered:
                if identity not in self._down and not self._in_use(identity):
                    return  # its last client went meanwhile (``_drop_unused`` ran before)
                down = self._down.setdefault(identity, _Down(ended))
                down.probed, down.confirmed = max(down.probed, ended), True
                return
            ended_down = self._down.pop(identity, None)
            if ended_down is not None:
                self._versions_next = None  # its versions held back are due now
            record = self._sweeps.get(identity)
            if (ended_down is not None and ended_down.confirmed and record is not None
                    and record.failed):
                del self._sweeps[identity]

    def _tell(self, key: AliasKey) -> None:
        for tell in self.moved:
            tell(key)

    def _keep(self, table: Any, key: AliasKey, value: Any) -> None:
        """``table[key] = value`` for what a read found of ``key``: of an alias only while it
        is followed (a client kept for it, under the lock: ``forget_alias`` drops both). A
        read in flight when the alias's last follower left otherwise wrote what it found
        after ``forget_alias`` dropped it, and the entry stayed for good; a pinned version's
        (its key names the version: ``_pinned_key``) goes to a bounded table."""
        with self._lock:
            if key[2].startswith("@") or key in self._clients:
                table[key] = value

    def _read(self, key: AliasKey, ref: ModelReference, registry: Registry,
              now: dt.datetime) -> tuple[Resolution, bool | None]:
        """Read the alias or pinned version ``ref`` from MLflow: the answer, and whether MLflow
        answered (``_reached``): False when it could not be reached (``_unreachable``: a
        timeout, a 5xx, a refused connection, a proxy's 404 at a tracking URI that answered as
        MLflow before: ``_not_serving``; not a 4xx such as a rate limit, nor an answer not
        MLflow's at a URI that never answered as MLflow), which marks its identity down; None
        when it was not asked (a pinned version answered from the cache, or found gone by the
        poller's read), or failed unexpectedly, which says nothing of it. Any exception
        becomes an answer: one that is not the adapter's (a bug, an answer of a shape nothing
        checked) is logged and answers ``RegistryUnavailable``, stamped as a failed read
        (``_resolve``), so that the alias's next read waits its interval; raised, it left
        nothing stamped and the poller read the alias again at every look, a traceback a
        second. It says nothing of MLflow: taken for an answer, it ended an outage's probing
        (``_reached``)."""
        scope = key[0]
        cached = self._aliases.get(key)
        held = cached.facts if cached else None
        asked = True  # MLflow (not the cache) answered
        try:
            if ref.version is not None:
                version_key = (scope, ref.registered_model, ref.version)
                gone = self._gone.get(version_key)
                if gone is not None:  # the poller's shared read found it deleted
                    return Resolution(self._versions.get(version_key), cond.MODEL_NOT_FOUND,
                                      gone), None
                known = self._versions.get(version_key)
                asked = known is None or not (known.ready
                                              or known.status == FAILED_REGISTRATION)
                facts = self.facts(scope, ref.registered_model, ref.version, registry, now)
            else:
                raw = registry.resolve(ref.registered_model, alias=ref.alias)
                facts = _facts(raw)
                created = _created(raw)
                self._learn((scope, ref.registered_model, facts.version), facts, now)
                with self._lock:
                    if key in self._clients:  # not forgotten meanwhile (``forget_alias``)
                        self._aliases[key] = _Entry(facts, now, _vouch_until(key, now),
                                                    created)
                if cached is not None and (cached.facts != facts or cached.created != created):
                    self._sweep_misses.pop(key, None)  # it changed: a sweep can answer it now
                if cached is not None and cached.facts != facts:
                    self._tell(key)
        except errors.RegistryNotAsked:
            raise  # not sent: ``_resolve`` answers with what was known (``_standing``)
        except errors.RegistryError as error:
            self._heard(scope, error)
            if self._not_serving(scope, error):  # a proxy's 404: down, as a 5xx is
                return Resolution(held, "RegistryUnavailable", _proxy_outage(error)), False
            return _failed_read(ref, held, error), not _unreachable(error)
        except Exception as error:  # a backstop: logged, answered, backed off
            logger.error("reading %s of %s from MLflow failed unexpectedly",
                         f"alias {ref.alias}" if ref.alias is not None
                         else f"version {ref.version}", ref.registered_model, exc_info=error)
            # Says nothing of MLflow (None): it neither marks it down nor ends a probing.
            return Resolution(held, "RegistryUnavailable",
                              f"reading {ref.registered_model} from MLflow failed unexpectedly "
                              f"({type(error).__name__}); see the operator's log"), None
        if asked:
            self._heard(scope)
        answered = True if asked else None
        if not facts.ready:
            return _not_ready(facts, ref.registered_model), answered
        return Resolution(facts), answered

    def facts(self, scope: Scope, model: str, version: str, registry: Registry,
              now: dt.datetime | None = None) -> VersionFacts:
        """Facts of a version (cached once READY or FAILED_REGISTRATION: MLflow changes
        neither; a failed one re-read through an outage read RegistryUnavailable). A
        followed version is read again by the poller, once per version however many follow
        it (``reread_version``), which sees it deleted or another version under its number."""
        known = self._versions.get((scope, model, version))
        if known is not None and (known.ready or known.status == FAILED_REGISTRATION):
            return known
        raw = registry.resolve(model, version=version)
        facts = _facts(raw)
        self._learn((scope, model, version), facts, now)
        return self._versions.get((scope, model, version)) or facts

    def due_versions(self, at: dt.datetime,
                     live: Callable[[Any], bool] = lambda _follower: True,
                     ) -> list[VersionKey]:
        """The followed versions (resources' pinned, stable and canary ones:
        ``follow_versions``) due a read by the poller at ``at``, the most overdue first: one
        read per version about once per ``SWEEP_VOUCH_LIMIT`` (``own_read_due``: 45 to 60
        minutes after its last read, whoever read it; an alias read reads its version), a
        minute after a read MLflow could not answer (``VERSION_RETRY``: unreachable, or "not
        now"; a read it answered — not found, refused, not MLflow's — or that failed
        unexpectedly waits a period again). Not one whose scope no pass
        left a client for, nor one with no ``live`` follower. Of a registry identity found
        unreachable (``_down``), only its most overdue due version, and only once no probe of
        it was sent for ``VERSION_RETRY`` (``_version_probe_at``): that read is its probe, as
        an alias read is (its answer ends the outage for the identity's other versions and
        aliases); else an identity whose followers pin versions and follow no alias stayed
        down for good after one failed read, its versions never read again (a deletion went
        unseen) and every look scanning them all. A version first seen here is due a full
        period on (its follower's pass just read it)."""
        due: list[tuple[dt.datetime, VersionKey, list[Hashable], Hashable | None]] = []
        with self._lock:
            if self._versions_next is not None and at < self._versions_next:
                return []  # due times only move later but for a new follow (which clears it)
            soonest: dt.datetime | None = None
            for key, followers in self._followers_of.items():
                when = self._version_due.get(key)
                if when is None:
                    when = self._version_due[key] = _version_due(key, at)
                client = self._scope_clients.get(key[0])
                identity = _identity(client, key[0]) if client is not None else None
                down = self._down.get(identity) if identity is not None else None
                # Not before its identity's next probe: else every look scanned them all.
                looked = when if down is None else max(when, _version_probe_at(down))
                soonest = looked if soonest is None else min(soonest, looked)
                if looked > at or client is None:
                    continue
                due.append((when, key, list(followers),
                            identity if down is not None else None))
            self._versions_next = soonest
        read: list[VersionKey] = []
        probing: set[Hashable] = set()
        for _, key, following, down_identity in sorted(due, key=lambda d: (d[0], d[1])):
            if down_identity in probing or not any(live(f) for f in following):
                continue
            if down_identity is not None:
                probing.add(down_identity)  # one probe per identity
            read.append(key)
        return read

    def reread_version(self, key: VersionKey, now: dt.datetime) -> bool:
        """Read the followed version ``key`` again (``due_versions``), with the client a pass
        of its scope last left; whether MLflow was asked. A version is read once (before,
        only a version not yet READY was, at each pass: a READY one was served from the cache
        for ever), so a version deleted from MLflow, or another under its number (the
        registered model deleted and re-created), went unseen by the resources pinning it:
        not found, a spec pinned to it answers ``ModelNotFound`` (``_read``); found with
        another run, ``_learn`` keeps the one served and ``_replaced_problem`` says so. The
        followers of a version whose answer changed are told (``versions_moved``). Of a
        registry identity found unreachable (``_down``), it is the identity's probe: read only
        once no probe was sent for ``VERSION_RETRY``, stamped as it is sent; answered, the
        identity is up again (``_reached``)."""
        with self._lock:
            registry = self._scope_clients.get(key[0])
            when = self._version_due.get(key)
            if (registry is None or key not in self._followers_of
                    or (when is not None and when > now)):
                return False
            identity = _identity(registry, key[0])
            down = self._down.get(identity)
            if down is not None:
                if now < _version_probe_at(down):
                    return False  # another probe was sent meanwhile: it says
                down.probed = now  # the probe, stamped as it is sent (as ``refresh``'s)
            before = self._version_state(key)
            # Due again a retry on unless a read answers (``_learn``): not read twice at once.
            self._set_version_due(key, now + VERSION_RETRY)
        scope, model, version = key
        began = time.monotonic()
        answered: bool | None = True
        # Read again a retry on only when MLflow could not answer (unreachable, or "not now");
        # an answer (not found, refused, not MLflow's) is asked again a period on: re-read
        # every minute, a deleted version cost 1,440 reads a day for as long as it was pinned.
        retry = read = False
        try:
            facts = _facts(registry.resolve(model, version=version))
        except errors.RegistryNotAsked:
            return True  # not sent: tried again a retry on
        except errors.RegistryError as error:
            self._heard(scope, error)
            if isinstance(error, errors.RegistryNotFound):
                with self._lock:
                    if key in self._followers_of:
                        self._gone[key] = str(error)
            outage = self._not_serving(scope, error)
            answered = not (outage or _unreachable(error))
            retry = outage or _not_now(error)
        except Exception as error:  # a backstop, as ``_read``'s: says nothing of MLflow
            logger.error("reading version %s of %s from MLflow failed unexpectedly", version,
                         model, exc_info=error)
            answered = None
        else:
            read = True
            self._heard(scope)
            with self._lock:
                self._gone.pop(key, None)
            self._learn(key, facts, now)
        took = dt.timedelta(seconds=int(time.monotonic() - began))
        if not (read or retry):  # answered (``_learn`` moved a read on): a period on
            with self._lock:
                if key in self._followers_of:
                    self._set_version_due(key, _version_due(key, now))
        if answered is not None:
            self._reached(identity, answered, now + took)
        with self._lock:
            followers = (sorted(self._followers_of.get(key, ()), key=repr)
                         if self._version_state(key) != before else [])
        for follower in followers:
            for tell in self.versions_moved:
                tell(follower)
        return True

    def _set_version_due(self, key: VersionKey, when: dt.datetime) -> None:
        """The followed version ``key`` is due a read by the poller ``when``. Under ``_lock``."""
        self._version_due[key] = when
        if self._versions_next is not None:
            self._versions_next = min(self._versions_next, when)

    def _version_state(self, key: VersionKey) -> tuple[object, ...]:
        """What a resource following the version ``key`` is answered from: its facts, the
        version found under its number instead, whether it was found gone. Under ``_lock``."""
        return self._versions.get(key), self._replaced.get(key), key in self._gone

    def contract(self, scope: Scope, model: str, facts: VersionFacts,
                 registry: Registry) -> ModelContract:
        """What version ``facts`` takes (its signature) and scores (the treatments tag of the
        version, else of its run), read once per version: a READY version never changes.
        Parts the registry does not have are None; a registry that cannot be asked raises.
        A signature that cannot be read (``_signature_problem``) raises too, as an MLmodel
        that does not parse does (``RegistryRequestError``: the version's own, InvalidModel,
        not deployed), read once all the same. Kept with the version's run id: a version of
        that number with another run (its registered model deleted and re-created) is
        another version, read anew."""
        known = self._contracts.get((scope, model, facts.version))
        if known is not None and known[0] == facts.run_id:
            return _readable(known[1])
        raw = registry.resolve(model, version=facts.version)
        tags: Mapping[str, str] = getattr(raw, "tags", None) or {}
        if TREATMENTS_TAG not in tags and facts.run_id is not None:
            try:
                tags = registry.run_tags(facts.run_id)
            except errors.RegistryNotFound:
                tags = {}
        try:
            signature = registry.model_signature(model, facts.version)
        except errors.RegistryNotFound:
            signature = None
        problem = _signature_problem(signature)
        inputs, required = _inputs(signature) if problem is None else (None, frozenset())
        contract = ModelContract(model, facts.version, inputs, required,
                                 _treatments(tags.get(TREATMENTS_TAG)),
                                 unreadable=None if problem is None else (
                                     f"the signature of version {facts.version} of {model} is "
                                     f"not readable: {problem}"))
        if facts.ready:  # a version still registering may get its files and tags yet
            self._contracts[(scope, model, facts.version)] = (facts.run_id, contract)
        return _readable(contract)


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)

#: The most of MLflow's ``status_message`` a ``ModelResolved`` message quotes.
MAX_STATUS_MESSAGE = 300


def _facts(raw: Any) -> VersionFacts:
    """What the operator keeps of a version MLflow answered (``ResolvedVersion``)."""
    said = " ".join(str(getattr(raw, "status_message", "") or "").split())
    if len(said) > MAX_STATUS_MESSAGE:
        said = said[:MAX_STATUS_MESSAGE - 1] + "…"
    return VersionFacts(str(raw.version), raw.run_id, bool(raw.ready), str(raw.status), said)


def _created(raw: Any) -> int | None:
    """The version's creation time as MLflow gave it (ms), None if not an int."""
    stamp = getattr(raw, "creation_timestamp", None)
    return stamp if isinstance(stamp, int) and not isinstance(stamp, bool) else None


#: How soon the poller reads a followed version again after a read MLflow could not answer
#: (``Resolver.reread_version``: unreachable, or "not now"): one read per such version a
#: minute. A read it answered (the version gone, the read refused, an answer not MLflow's)
#: waits a period (45 to 60 minutes) as a good one does: a minute on, a version deleted was
#: read 1,440 times a day for as long as a resource pinned it.
VERSION_RETRY = dt.timedelta(minutes=1)


def _version_probe_at(down: _Down) -> dt.datetime:
    """When a followed version of a registry identity found unreachable may be read as its
    probe (``Resolver.due_versions``): ``VERSION_RETRY`` after its last probe, an alias's or a
    version's, was sent or failed (an alias probed more often keeps it from being due)."""
    return down.probed + VERSION_RETRY


def _version_due(key: VersionKey, read_at: dt.datetime) -> dt.datetime:
    """When the poller reads the followed version ``key``, last read at ``read_at``, again:
    45 to 60 minutes on, fixed per version (``own_read_due``), so that the reads spread."""
    scope, model, version = key
    return own_read_due(read_at, phase_of("\n".join((*scope, model, f"@{version}"))),
                        SWEEP_VOUCH_LIMIT)


def _vouch_until(key: AliasKey, read_at: dt.datetime) -> dt.datetime:
    """When the alias ``key``, read by itself at ``read_at``, is due its next own read
    (``own_read_due``: how long after fixed by its scope, model and alias)."""
    scope, model, alias = key
    return own_read_due(read_at, phase_of("\n".join((*scope, model, alias))), SWEEP_VOUCH_LIMIT)


def _unreachable(error: BaseException) -> bool:
    """Whether ``error`` says MLflow could not be reached (a timeout, a 5xx, a refused
    connection): not its refusal of the credentials (nor any other 4xx: a rate limit is an
    answer), nor an answer not MLflow's (``RegistryNotMlflow``: a 200 that is not JSON; a 404
    not MLflow's at a URI that answered as MLflow before is, ``Resolver._not_serving``), nor
    a request the breaker failed fast."""
    return (isinstance(error, errors.RegistryUnavailable)
            and not isinstance(error, errors.CredentialsRefused | errors.RegistryNotAsked
                               | errors.RegistryNotMlflow)
            and (error.status_code or 500) >= 500)


def _not_now(error: BaseException) -> bool:
    """Whether ``error`` says MLflow could not answer now (unreachable, a 5xx, a "not now"
    such as a 429 or a 409 ``ABORTED``), which a retry soon may clear: not a refusal of the
    credentials, nor an answer not MLflow's."""
    return (isinstance(error, errors.RegistryUnavailable)
            and not isinstance(error, errors.CredentialsRefused | errors.RegistryNotMlflow))


def _vouched(cached: _Entry, at: dt.datetime) -> bool:
    """Whether a sweep may still vouch for an alias at ``at``: its own read is not due
    (``cached.vouch_until``, fixed when it was last read by itself: computed at each look, the
    hash and the due time made a look and its plan 7.6 ms of the event loop at 2,000 swept
    aliases, against 4.7)."""
    return at < cached.vouch_until


def _identity(client: object, scope: Scope) -> Hashable:
    """Whom a sweep is shared by: the client's registry identity (``run_cache.
    CachingRegistry.who``: tracking URI and credentials digest), else (a client without one)
    the scope."""
    who = getattr(client, "who", None)
    return who if isinstance(who, tuple) else scope


#: The MLflow version status of a registration under way (its files may still be uploading):
#: the only one that turns READY by itself.
PENDING_REGISTRATION = "PENDING_REGISTRATION"
#: The MLflow version status of a registration that failed: final, as READY is.
FAILED_REGISTRATION = "FAILED_REGISTRATION"


def _pinned_key(scope: Scope, ref: ModelReference) -> AliasKey:
    """The key of a pinned spec's read: its version in it (``@3``; no alias has an ``@``),
    so its failure is that version's (``Resolver._pinned_failed``)."""
    return (scope, ref.registered_model, f"@{ref.version}")


def _standing(ref: ModelReference, held: VersionFacts | None,
              failed: tuple[dt.datetime, Resolution, str | None] | None,
              error: errors.RegistryNotAsked) -> Resolution:
    """The answer for a read that was not sent (the tracking URI's breaker failed it fast after
    some request, maybe another client's, got no answer): the problem known of the alias or
    pinned version, as it stood — its last failed read's answer (ModelNotFound stays
    ModelNotFound), else that of the version ``held`` (the alias's answer, the pinned
    version's facts last read) when it is not READY (VersionNotReady, VersionFailed) — else
    RegistryUnavailable with the version held. Nothing is stamped or told: a blip of another
    client's neither restarts a problem's grace (``domain.stuck``, from the condition's
    lastTransitionTime) nor flips the followers' reason; the next read that is sent says. A
    READY answer past its interval is not "Resolved" from here: through a real outage an alias
    whose own read is never let through would pass for confirmed for as long as it lasts. A
    pinned version's failure is kept per version (``_pinned_key``): another version of the
    model read well does not clear it, and a spec since pinned to another version is not "not
    found" by it."""
    known = _known(ref, held, failed)
    if known is not None:
        return known
    if failed is not None and failed[2] == ref.version and not failed[1].not_mlflow:
        return failed[1]
    return Resolution(held, "RegistryUnavailable", str(error))


def _known(ref: ModelReference, held: VersionFacts | None,
           failed: tuple[dt.datetime, Resolution, str | None] | None) -> Resolution | None:
    """The problem known of an alias or pinned version, none if it stood RegistryUnavailable:
    its last failed read's answer (a failure of MLflow's reachability aside, and an answer not
    MLflow's at a URI that never answered as MLflow: ``Resolution.not_mlflow``, which an
    unreachable MLflow after it does not keep: that URI may be right, its MLflow starting),
    else that of the version ``held`` when not READY (VersionNotReady, VersionFailed)."""
    if (failed is not None and failed[2] == ref.version
            and failed[1].reason != "RegistryUnavailable" and not failed[1].not_mlflow):
        return failed[1]
    if held is not None and not held.ready:
        return _not_ready(held, ref.registered_model)
    return None


def _refused(ref: ModelReference, error: errors.RegistryRequestError) -> str:
    """The ``InvalidModel`` message of a version or alias read MLflow refused, for a reason that
    is neither "not found" nor the credentials (a 4xx it explains, an answer without a model
    version): what was read, and MLflow's own words. It answers the same until the spec or the
    registry changes, so it is the reference's problem, Degraded after the grace, as the same
    refusal of the version's contract read is (``services.upliftmodel._contract_reason``); it
    read RegistryUnavailable, waited for for ever."""
    what = f"alias {ref.alias}" if ref.alias is not None else f"version {ref.version}"
    answered = " ".join(str(part) for part in (error.status_code, error.error_code) if part)
    answered = f" (HTTP {answered})" if error.status_code is not None else (
        f" ({answered})" if answered else "")
    return f"MLflow refused the read of {what} of {ref.registered_model}{answered}: {error}"


def _failed_read(ref: ModelReference, held: VersionFacts | None,
                 error: errors.RegistryError) -> Resolution:
    """The answer of a read of ``ref`` that failed with ``error`` (sent: not
    ``RegistryNotAsked``), ``held`` the version known: ModelNotFound, CredentialsRefused (401/403:
    no wait clears it), InvalidModel (MLflow refused the read otherwise; an answer not MLflow's,
    ``_not_mlflow``), else RegistryUnavailable."""
    if isinstance(error, errors.RegistryNotFound):
        return Resolution(held, cond.MODEL_NOT_FOUND, str(error))
    if isinstance(error, errors.CredentialsRefused):
        return Resolution(held, cond.CREDENTIALS_REFUSED, str(error))
    if isinstance(error, errors.RegistryNotMlflow):
        return Resolution(held, cond.INVALID_MODEL, _not_mlflow(ref, error), not_mlflow=True)
    if isinstance(error, errors.RegistryRequestError):
        return Resolution(held, cond.INVALID_MODEL, _refused(ref, error))
    return Resolution(held, cond.REGISTRY_UNAVAILABLE, str(error))


def _proxy_outage(error: errors.RegistryError) -> str:
    """The ``RegistryUnavailable`` message of a 404 not MLflow's at a tracking URI that
    answered as MLflow before (``Resolver._not_serving``)."""
    return (f"{error}. This tracking URI answered as MLflow before: taken for an outage (a "
            "proxy before an MLflow that does not serve, e.g. its Service with no ready "
            "endpoint while the pod restarts)")


def _not_mlflow(ref: ModelReference, error: errors.RegistryNotMlflow) -> str:
    """The ``InvalidModel`` message of a read answered by something that is not MLflow's REST
    API at the tracking URI (``RegistryNotMlflow``): the URI's problem, which no wait clears,
    so Degraded after the grace as any other refusal; it read ``RegistryUnavailable``, an
    outage waited for for ever, and the identity was probed as one."""
    what = f"alias {ref.alias}" if ref.alias is not None else f"version {ref.version}"
    return (f"reading {what} of {ref.registered_model}: {error}. The tracking URI does not "
            "name an MLflow tracking server's REST API, or names an MLflow too old for this "
            "API (the alias endpoints need MLflow ≥ 2.3): check spec.model.trackingUri (or "
            "the operator's MLflow tracking URI) names the server's root, its path prefix "
            "included, and the server's version")


def _recreated(model: str, held: VersionFacts, found: VersionFacts) -> str:
    """The ``InvalidModel`` message of a followed version found replaced under its number."""
    return (f"version {held.version} of {model} is another version now: its run is "
            f"{found.run_id or 'none'}, was {held.run_id or 'none'} — the registered model was "
            "deleted and re-created (its versions numbered from 1 again). Nothing is rolled out "
            "to it; the serving pods keep the model they loaded, until they restart (then "
            f"they load the new version {held.version}, with no canary and no gate). A "
            "version number taken over is not served, by this UpliftModel or another: to "
            "serve the new model, point the alias (or the spec's version) at a version "
            "registered after the re-creation (register the model again for a new number); "
            "it ramps as a canary against the stable served now")


def _of_the_alias(failure: Resolution) -> bool:
    """Whether a failed read's answer says something of the alias itself, not of MLflow's
    reachability: any reason but ``RegistryUnavailable`` (a timeout, a 5xx, a refused
    connection), e.g. ModelNotFound or credentials refused (a reason the resolver stamps later
    counts too). Such a failure newer than a fresh answer overrides it. Not an answer not
    MLflow's (``Resolution.not_mlflow``): it says nothing of the alias."""
    return failure.reason != "RegistryUnavailable" and not failure.not_mlflow


def _not_ready(facts: VersionFacts, model: str) -> Resolution:
    """A version that is not READY: ``VersionNotReady`` while MLflow still registers it (it
    clears by itself), ``VersionFailed`` for any other status (FAILED_REGISTRATION is final;
    a status this operator does not know is not waited for either), with MLflow's own
    ``status_message`` (why, e.g. the artifacts' copy refused by the store; at most
    ``MAX_STATUS_MESSAGE`` characters): the spec must name another version, and the phase
    turns Degraded after the grace (``domain.stuck``)."""
    said = f"version {facts.version} of {model} is {facts.status}, not READY"
    if facts.status == PENDING_REGISTRATION:
        return Resolution(facts, cond.VERSION_NOT_READY, said)
    why = f" (MLflow: {facts.status_message})" if facts.status_message else ""
    return Resolution(facts, cond.VERSION_FAILED,
                      f"{said}{why}, and MLflow will not make it READY: point the spec at "
                      "another version")


def _duration(interval: dt.timedelta) -> str:
    """``interval`` as the API's duration string (whole seconds)."""
    return f"{max(int(interval.total_seconds()), 1)}s"


def _readable(contract: ModelContract) -> ModelContract:
    """``contract``, unless its signature cannot be read: raised then, as MLflow's refusal
    of the version's MLmodel is (``services.upliftmodel._contract_reason``: InvalidModel)."""
    if contract.unreadable is not None:
        raise errors.RegistryRequestError(contract.unreadable)
    return contract


def _signature_problem(signature: object) -> str | None:
    """Why ``signature`` (the MLmodel's, its ``inputs`` parsed) cannot be read, None when it
    can or there is none (no signature, or no input schema: ``inputs`` absent or null). Not
    readable: a signature that is no mapping, ``inputs`` that are no non-empty list of column
    specs each with a string ``type`` (MLflow's own reader refuses those, so the serving pods
    could not load the version either), a column named by other than a string, or named and
    unnamed columns mixed (MLflow refuses that too). Before, each was read as "no signature",
    so ``spec.features`` went unchecked against a version that may lack them."""
    if signature is None:
        return None
    if not isinstance(signature, Mapping):
        return f"it is {_kind(signature)}, not a mapping"
    columns = signature.get("inputs")
    if columns is None:
        return None
    if not isinstance(columns, list) or not columns:
        return f"its inputs are {_kind(columns)}, not a list of columns"
    named = 0
    for index, column in enumerate(columns):
        if not isinstance(column, Mapping):
            return f"input {index} is {_kind(column)}, not a column"
        if not isinstance(column.get("type"), str):
            return f"input {index} has {_kind(column.get('type'))} for its type, not a string"
        name = column.get("name")
        if name is not None and not isinstance(name, str):
            return f"input {index} has {_kind(name)} for its name, not a string"
        named += name is not None
    if 0 < named < len(columns):
        return "its inputs mix named and unnamed columns"
    return None


def _kind(value: object) -> str:
    """What a JSON value is, in words, for ``_signature_problem`` (never the value: it may be
    long, and is the registry's)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    return "a mapping" if isinstance(value, Mapping) else type(value).__name__


def _inputs(signature: Mapping[str, Any] | None) -> tuple[dict[str, str] | None, frozenset[str]]:
    """Named column inputs of a readable signature (``_signature_problem``: a tensor signature
    names none: None).

    A column listed twice is taken as its first required entry, else its first: a signature
    logged before 8e83c4ac lists a ``long`` ``unit_id`` feature twice, the required feature
    (what the model takes) and then the optional string id (read last, a spec declaring the
    feature numeric was refused)."""
    columns = (signature or {}).get("inputs")
    if not isinstance(columns, list) or not columns:
        return None, frozenset()
    named = [c for c in columns if isinstance(c, dict) and isinstance(c.get("name"), str)]
    if len(named) != len(columns):
        return None, frozenset()
    inputs: dict[str, str] = {}
    required: set[str] = set()
    for column in named:
        name, needed = str(column["name"]), bool(column.get("required", True))
        if name not in inputs or (needed and name not in required):
            inputs[name] = str(column.get("type", ""))
        if needed:
            required.add(name)
    return inputs, frozenset(required)


def _treatments(tag: str | None) -> dict[str, str] | None:
    try:
        parsed = json.loads(tag) if tag else None
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not parsed:
        return None
    return {str(key): str(name) for key, name in parsed.items()}
