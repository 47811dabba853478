"""``Resolver.sweep``: one listing of a registry's aliases answers the due aliases that did not
change (refreshed, no read of their own, nobody told); an alias that moved, went, or was
failing or not READY is handed back for its own read, which tells and reports as without
sweeps. ``Resolver.plan`` sweeps only where the client can list and it pays."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry, ListingRegistry

from uplift_operator.adapters.mlflow_registry import Credentials
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain.alias_sweep import (
    SWEEP_AHEAD,
    SWEEP_RECORD_KEPT,
    SWEEP_RETRY_AFTER,
    SWEEP_VOUCH_LIMIT,
    AliasListing,
    Round,
    Sweep,
)
from uplift_operator.services import resolution
from uplift_operator.services.ports import ListsAliases
from uplift_operator.services.resolution import (
    AliasKey,
    DueAlias,
    Resolver,
    Scope,
    VersionFacts,
)
from uplift_operator.services.run_cache import RegistryClients

SCOPE: Scope = ("http://mlflow", "", "")
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EVERY = dt.timedelta(seconds=30)
LATER = T0 + EVERY


@pytest.fixture(autouse=True)
def _still_stopwatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resolver's stopwatch (how long a sweep or a read took, ``time.monotonic``) stands
    still: these tests run on their own clock. A sweep that a loaded machine stalled past
    ``SWEEP_ALWAYS_FAST`` (a second) was found slower than the reads it replaces and not
    planned for an hour (``domain.alias_sweep.plan_round``): the aliases were read by
    themselves, 600 in one minute, and no page listed."""
    monkeypatch.setattr(resolution, "time", SimpleNamespace(monotonic=lambda: 0.0))


def _followed(registry: FakeRegistry, resolver: Resolver, count: int,
              at: dt.datetime = T0, prefix: str = "model") -> list[DueAlias]:
    """``count`` models, versions 1 and 2, ``champion`` on 1, each resolved once at ``at`` (as
    a follower's pass does, leaving its client)."""
    due: list[DueAlias] = []
    for index in range(count):
        name = f"{prefix}-{index:02d}"
        registry.add(name, "1")
        registry.add(name, "2")
        registry.aliases[(name, "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        resolver.resolve(SCOPE, ref, registry, at)
        due.append(((SCOPE, name, "champion"), EVERY))
    return due


def _ref(key: AliasKey) -> ModelReference:
    return ModelReference.model_validate({"registeredModel": key[1], "alias": key[2],
                                          "aliasRefreshInterval": "30s"})


def _told(resolver: Resolver) -> list[AliasKey]:
    told: list[AliasKey] = []
    resolver.moved.append(told.append)
    return told


def test_unchanged_aliases_are_refreshed_without_a_read_of_their_own() -> None:
    registry, resolver = ListingRegistry(page_size=4), Resolver()
    due = _followed(registry, resolver, 10)
    told = _told(resolver)
    calls = registry.calls
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER)
    assert back == []
    assert registry.calls - calls == 3  # ⌈10 models / 4 a page⌉, no alias read
    assert told == []
    for key, interval in due:
        assert resolver.next_refresh(key, interval) == LATER + EVERY  # moved on
        assert not resolver.refresh(key, interval, LATER)  # not due any more
    assert registry.calls - calls == 3


def test_a_moved_alias_is_handed_back_and_its_read_tells_its_followers() -> None:
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 10)
    told = _told(resolver)
    moved = due[3][0]
    registry.aliases[(moved[1], "champion")] = "2"
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER)
    assert back == [due[3]]
    assert told == []  # the sweep tells nothing itself
    assert resolver.next_refresh(moved, EVERY) == T0 + EVERY  # still due
    calls = registry.calls
    assert resolver.refresh(moved, EVERY, LATER)
    assert registry.calls - calls == 1 and told == [moved]
    ref = ModelReference.model_validate({"registeredModel": moved[1], "alias": "champion",
                                         "aliasRefreshInterval": "30s"})
    answer = resolver.resolve(SCOPE, ref, registry, LATER)
    assert answer.desired is not None and answer.desired.version == "2"


def test_a_deleted_alias_or_model_is_handed_back_and_its_read_reports_not_found() -> None:
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 10)
    told = _told(resolver)
    alias_gone, model_gone = due[0][0], due[1][0]
    del registry.aliases[(alias_gone[1], "champion")]
    del registry.aliases[(model_gone[1], "champion")]
    for version in ("1", "2"):
        del registry.versions[(model_gone[1], version)]
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER)
    assert [key for key, _ in back] == [alias_gone, model_gone]
    for key in (alias_gone, model_gone):
        assert resolver.refresh(key, EVERY, LATER)
        ref = ModelReference.model_validate({"registeredModel": key[1], "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        answer = resolver.resolve(SCOPE, ref, registry, LATER)
        assert answer.reason == "ModelNotFound"
        assert answer.desired is not None and answer.desired.version == "1"  # the last known
    assert told == [alias_gone, model_gone]  # started failing: their followers' condition


def test_a_not_ready_alias_is_handed_back_and_one_failing_in_an_outage_is_answered() -> None:
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 9)
    told = _told(resolver)
    name = "model-99"
    registry.add(name, "1", status="PENDING_REGISTRATION")
    registry.aliases[(name, "champion")] = "1"
    pending = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
    resolver.resolve(SCOPE, pending, registry, T0)
    failing = due[0][0]
    registry.down = True
    assert resolver.refresh(failing, EVERY, T0 + EVERY)  # its read failed: told
    registry.down = False
    assert told == [failing]
    all_due = (*due, ((SCOPE, name, "champion"), EVERY))
    # MLflow found unreachable: the poller probes it with its most overdue alias alone.
    assert resolver.plan(all_due, T0 + 2 * EVERY) == Round((), all_due[:1])
    # A follower's pass finds it answering again: the registry is swept as usual.
    other = ModelReference.model_validate({"registeredModel": due[1][0][1], "alias": "champion",
                                           "aliasRefreshInterval": "30s"})
    assert resolver.resolve(SCOPE, other, registry, T0 + 2 * EVERY).ok
    back = resolver.sweep(Sweep(SCOPE, all_due, budget=9), T0 + 2 * EVERY)
    # The sweep vouches for the alias its read failed in the outage, and tells the recovery
    # (else, after an outage, every alias a pass read meanwhile was read by itself).
    assert [key for key, _ in back] == [(SCOPE, name, "champion")]
    assert told == [failing, failing]
    assert resolver.next_refresh(failing, EVERY) == T0 + 3 * EVERY


def test_a_failing_sweep_hands_every_alias_back_and_is_not_planned_for_a_while() -> None:
    registry, resolver = ListingRegistry(listing_fails=True), Resolver()
    due = _followed(registry, resolver, 10)
    told = _told(resolver)
    assert [s.registry for s in resolver.plan(due, LATER).sweeps] == [SCOPE]
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER)
    # MLflow may be down (a 503): one alias is read to find out; nothing said of any alias.
    assert back == due[:1] and told == []
    assert resolver.next_refresh(due[0][0], EVERY) == LATER  # still due
    # The probe is planned again until a reader sends it (a look may come first: the poller
    # plans its waiting reads afresh); the others wait for it.
    assert resolver.plan(due, LATER) == Round((), tuple(due[:1]))
    assert resolver.plan(due, LATER) == Round((), tuple(due[:1]))
    assert resolver.refresh(*due[0], LATER)  # it answers: the search alone failed
    plan = resolver.plan(due, LATER + SWEEP_RETRY_AFTER / 2)
    assert plan.sweeps == () and list(plan.reads) == due
    assert len(resolver.plan(due, LATER + SWEEP_RETRY_AFTER).sweeps) == 1


def test_a_sweep_of_a_registry_bigger_than_its_budget_stops_and_hands_every_alias_back() -> None:
    registry, resolver = ListingRegistry(page_size=10, other_models=1_000), Resolver()
    due = _followed(registry, resolver, 8)
    calls = registry.calls
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=7), LATER)
    assert back == due and registry.calls - calls == 7  # never more than the 8 reads
    # At least 8 pages now: 8 due aliases are read one by one, 9 would be swept.
    assert resolver.plan(due, LATER).sweeps == ()


def test_plan_sweeps_only_aliases_whose_client_can_list_and_not_those_handed_back() -> None:
    listing, plain, resolver = ListingRegistry(), FakeRegistry(), Resolver()
    swept = _followed(listing, resolver, 9)
    other: Scope = ("http://other-mlflow", "", "")
    alone: list[DueAlias] = []
    for index in range(8):
        name = f"other-{index}"
        plain.add(name, "1")
        plain.aliases[(name, "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        resolver.resolve(other, ref, plain, T0)
        alone.append(((other, name, "champion"), EVERY))
    plan = resolver.plan([*swept, *alone], LATER)
    assert [(s.registry, s.aliases) for s in plan.sweeps] == [(SCOPE, tuple(swept))]
    assert list(plan.reads) == alone
    handed_back = {key for key, _ in swept[:1]}
    plan = resolver.plan(swept, LATER, handed_back)
    assert plan.reads == (swept[0],) and plan.sweeps[0].aliases == tuple(swept[1:])
    plan = resolver.plan(swept, LATER, {key for key, _ in swept[:2]})  # 7 left: below 8
    assert plan.sweeps == () and list(plan.reads) == swept


def test_the_operators_client_sweeps_through_to_mlflow_and_without_a_listing_asks_nothing(
        ) -> None:
    """``RegistryClients`` (what the operator wires) passes the sweep to the client it wraps;
    one that cannot list fails the sweep without a request, and its aliases are read."""
    listing = ListingRegistry(page_size=2)
    wrapped = RegistryClients(lambda uri, credentials: listing).get(SCOPE[0], None)
    listing.aliases[("m", "champion")] = "1"
    assert isinstance(wrapped, ListsAliases)
    assert wrapped.registered_aliases().aliases == {"m": {"champion": "1"}}

    plain, resolver = FakeRegistry(), Resolver()
    client = RegistryClients(lambda uri, credentials: plain).get(SCOPE[0], None)
    due: list[DueAlias] = []
    for index in range(8):
        plain.add(f"m{index}", "1")
        plain.aliases[(f"m{index}", "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": f"m{index}",
                                             "alias": "champion",
                                             "aliasRefreshInterval": "30s"})
        resolver.resolve(SCOPE, ref, client, T0)
        due.append(((SCOPE, f"m{index}", "champion"), EVERY))
    calls = plain.calls
    [sweep] = resolver.plan(due, LATER).sweeps
    assert resolver.sweep(sweep, LATER) == due
    assert plain.calls == calls
    assert resolver.plan(due, LATER).sweeps == ()  # held off as a failed sweep


def test_a_deleted_and_recreated_model_on_the_same_version_number_is_read_and_told() -> None:
    """A pipeline deletes ``model-03``, creates it again, registers version 1 from another run
    and sets ``champion`` on it: the listing shows champion → 1 as before, but the model was
    created after the version held, so the alias is read, its followers told, and the new
    run held (the gates read its metrics)."""
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 10)
    told = _told(resolver)
    recreated = due[3][0]
    registry.delete_model(recreated[1])
    registry.add(recreated[1], "1", run_id="new-run")
    registry.aliases[(recreated[1], "champion")] = "1"
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER)
    assert back == [due[3]] and told == []
    assert resolver.refresh(recreated, EVERY, LATER)
    assert told == [recreated]
    answer = resolver.resolve(SCOPE, _ref(recreated), registry, LATER)
    assert answer.desired is not None and answer.desired.run_id == "new-run"
    # Held with the new version's creation time: the next sweep answers it again.
    assert resolver.sweep(Sweep(SCOPE, tuple(due), budget=9), LATER + EVERY) == []


def test_a_model_without_a_creation_time_is_never_vouched_for() -> None:
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 9)
    del registry.model_created[due[0][0][1]]  # MLflow gave none
    back = resolver.sweep(Sweep(SCOPE, tuple(due), budget=8), LATER)
    assert back == [due[0]]


def test_aliases_a_sweep_cannot_answer_are_left_out_of_it_and_of_its_count() -> None:
    """MLflow's built-in ``latest`` (never listed), a failing alias, a version not READY and an
    alias a sweep handed back that its own read found unchanged: each would be handed back
    every round; they are read by themselves and do not count towards a sweep."""
    registry, resolver = ListingRegistry(), Resolver()
    due = _followed(registry, resolver, 8)
    latest = (SCOPE, "model-00", "latest")
    registry.aliases[("model-00", "latest")] = "2"  # as MLflow answers it; not listed below
    resolver.resolve(SCOPE, _ref(latest), registry, T0)
    registry.add("pending", "1", status="PENDING_REGISTRATION")
    registry.aliases[("pending", "champion")] = "1"
    pending = (SCOPE, "pending", "champion")
    resolver.resolve(SCOPE, _ref(pending), registry, T0)
    typo = (SCOPE, "model-01", "champoin")
    resolver.resolve(SCOPE, _ref(typo), registry, T0)  # ModelNotFound: failing
    others = [(latest, EVERY), (pending, EVERY), (typo, EVERY)]
    plan = resolver.plan([*due, *others], LATER, readers=1)
    assert [s.aliases for s in plan.sweeps] == [tuple(due)]
    assert list(plan.reads) == others
    # 7 answerable of 11 due: below the first-sweep threshold (8), all read one by one.
    assert resolver.plan([*due[1:], *others], LATER).sweeps == ()

    # Handed back, and its own read finds it unchanged (the listing did not show it as
    # read): left out for an hour.
    hidden = due[0][0]
    listed = registry.registered_aliases
    registry.registered_aliases = (  # type: ignore[method-assign]
        lambda max_pages=None: _without(listed(max_pages), hidden[1]))
    assert resolver.sweep(plan.sweeps[0], LATER) == [due[0]]
    del registry.registered_aliases
    assert resolver.refresh(hidden, EVERY, LATER)
    plan = resolver.plan(due, LATER + EVERY)
    assert plan.reads == (due[0],) and plan.sweeps[0].aliases == tuple(due[1:])
    # Their own reads come due within the hour (SWEEP_VOUCH_LIMIT): read by themselves, as
    # the poller does, they are vouched for again.
    for key, interval in due:
        assert resolver.refresh(key, interval, LATER + SWEEP_RECORD_KEPT - EVERY)
    plan = resolver.plan(due, LATER + SWEEP_RECORD_KEPT)
    assert plan.reads == () and plan.sweeps[0].aliases == tuple(due)  # tried again
    # One handed back that did change (moved) counts again at once after its read.
    moved = due[1][0]
    registry.aliases[(moved[1], "champion")] = "2"
    [sweep] = resolver.plan(due, LATER + SWEEP_RECORD_KEPT, readers=1).sweeps
    assert resolver.sweep(sweep, LATER + SWEEP_RECORD_KEPT) == [due[1]]
    assert resolver.refresh(moved, EVERY, LATER + SWEEP_RECORD_KEPT)
    assert due[1] in resolver.plan(due, LATER + SWEEP_RECORD_KEPT + EVERY).sweeps[0].aliases


def _without(listing: AliasListing, model: str) -> AliasListing:
    return AliasListing({name: aliases for name, aliases in listing.aliases.items()
                         if name != model}, listing.pages, listing.complete, listing.created)


def test_a_sweep_that_raises_anything_backs_off_and_hands_its_due_aliases_back() -> None:
    class Broken(ListingRegistry):
        def registered_aliases(self, max_pages: int | None = None) -> AliasListing:
            raise TypeError("'int' object is not iterable")  # a malformed reply

    registry, resolver = Broken(), Resolver()
    due = _followed(registry, resolver, 10)
    [sweep] = resolver.plan(due, LATER).sweeps
    assert resolver.sweep(sweep, LATER) == due
    assert resolver.plan(due, LATER + dt.timedelta(seconds=1)).sweeps == ()  # backed off
    assert resolver.refresh(due[0][0], EVERY, LATER)  # read by itself


def test_a_sweep_answers_aliases_due_soon_and_hands_back_those_that_moved() -> None:
    """Aliases first read 10 s apart: at the first group's turn, the second (due within half
    its interval) is answered too, and both are due together from then on; a moved one of
    the second group is handed back and read although not due yet."""
    registry, resolver = ListingRegistry(), Resolver()
    first = _followed(registry, resolver, 8, T0)
    second = _followed(registry, resolver, 8, T0 + dt.timedelta(seconds=10), prefix="late")
    moved = second[2][0]
    registry.aliases[(moved[1], "champion")] = "2"
    [sweep] = resolver.plan(first, LATER, early=second, readers=4).sweeps
    assert sweep.aliases == (*first, *second) and sweep.budget == 4
    told = _told(resolver)
    assert resolver.sweep(sweep, LATER) == [second[2]]
    assert not resolver.refresh(moved, EVERY, LATER)  # not due: a plain refresh skips it
    assert resolver.refresh(moved, EVERY, LATER, ahead=EVERY * SWEEP_AHEAD)
    assert told == [moved]
    for key, interval in (*first, *second):
        assert resolver.next_refresh(key, interval) == LATER + EVERY  # one group now
    # A sweep failed unreachable hands back its most overdue due alias alone, to probe
    # MLflow: never an early one.
    registry, resolver = ListingRegistry(listing_fails=True), Resolver()
    first = _followed(registry, resolver, 8, T0)
    second = _followed(registry, resolver, 8, T0 + dt.timedelta(seconds=10), prefix="late")
    [sweep] = resolver.plan(first, LATER, early=second, readers=4).sweeps
    assert resolver.sweep(sweep, LATER) == first[:1]


def test_scopes_with_the_same_credentials_share_one_sweep_and_one_record() -> None:
    """Two namespaces' Secrets holding the same token are one MLflow user: one sweep answers
    both; another token is another sweep."""
    listing = ListingRegistry()
    clients = RegistryClients(lambda uri, credentials: listing)
    resolver = Resolver()
    due: list[DueAlias] = []
    for namespace, token in (("a", "tok"), ("b", "tok"), ("c", "other")):
        scope: Scope = ("http://mlflow", namespace, "mlflow-credentials")
        client = clients.get(scope[0], Credentials.bearer(token))
        for index in range(8):
            name = f"{namespace}-{index}"
            listing.add(name, "1")
            listing.aliases[(name, "champion")] = "1"
            key = (scope, name, "champion")
            resolver.resolve(scope, _ref(key), client, T0)
            due.append((key, EVERY))
    plan = resolver.plan(due, LATER, readers=4)
    assert [len(s.aliases) for s in plan.sweeps] == [16, 8]
    assert {key[0][1] for key, _ in plan.sweeps[0].aliases} == {"a", "b"}
    pages = listing.pages_listed
    assert resolver.sweep(plan.sweeps[0], LATER) == []
    assert listing.pages_listed == pages + 1


class _Logged(ListingRegistry):
    """Records each alias read by itself: (the test's clock, model)."""

    now: dt.datetime = T0
    reads: list[tuple[dt.datetime, str]]

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        if alias is not None:
            self.reads.append((self.now, name))
        return super().resolve(name, version, alias)


def _poll(registry: _Logged, resolver: Resolver, followed: list[DueAlias],
          at: dt.datetime) -> None:
    """One look of the poller at ``at``: the due aliases planned, swept or read, what a sweep
    hands back read at once (as ``handlers.registry_polling.poll_aliases``)."""
    registry.now = at
    due = [(key, every) for key, every in followed if resolver.next_refresh(key, every) <= at]
    early = [(key, every) for key, every in followed
             if at < resolver.next_refresh(key, every) <= at + every * SWEEP_AHEAD]
    if not due:
        return
    plan = resolver.plan(due, at, early=early, readers=4)
    for sweep in plan.sweeps:
        for key, every in resolver.sweep(sweep, at):
            resolver.refresh(key, every, at, every * SWEEP_AHEAD)
    for key, every in plan.reads:
        resolver.refresh(key, every, at)


def test_an_alias_swept_past_the_vouch_limit_is_read_and_a_changed_run_id_is_told() -> None:
    """A sweep sees the version number only: the held version's run id changed under it is
    seen by the alias's own read, which comes within SWEEP_VOUCH_LIMIT of its last; until
    then the sweeps vouch for it and nobody is told."""
    registry, resolver = _Logged(page_size=1_000), Resolver()
    registry.reads = []
    followed = _followed(registry, resolver, 10)
    told = _told(resolver)
    changed = followed[3][0]
    version = registry.versions[(changed[1], "1")]
    registry.versions[(changed[1], "1")] = replace(version, run_id="run-rebuilt")
    registry.reads.clear()
    at = T0 + EVERY
    while at <= T0 + SWEEP_VOUCH_LIMIT + 2 * EVERY:
        _poll(registry, resolver, followed, at)
        if not told:
            assert resolver.resolve(SCOPE, _ref(changed), registry, at).desired == VersionFacts(
                "1", "run-1", True, "READY")  # still vouched for, as the sweep saw it
        at += EVERY / 3
    assert told == [changed]  # its own read saw the run id and woke its followers
    answer = resolver.resolve(SCOPE, _ref(changed), registry, at)
    assert answer.desired is not None and answer.desired.run_id == "run-rebuilt"
    # Every alias was swept the while, and read by itself once, within the limit and a round.
    assert registry.pages_listed >= 100
    assert sorted(name for _, name in registry.reads) == sorted(key[1] for key, _ in followed)
    assert all(T0 < read <= T0 + SWEEP_VOUCH_LIMIT + EVERY for read, _ in registry.reads)


def test_own_reads_after_the_limit_are_spread_out_not_bunched() -> None:
    """600 aliases refreshed every minute, first read over 40 s (start-up passes), then swept:
    each is read by itself 45 to 60 minutes after its last own read (about 40 a minute the
    first time), never all in the same minute an hour on, nor sooner, nor later."""
    registry, resolver = _Logged(page_size=1_000), Resolver()
    registry.reads = []
    every = dt.timedelta(minutes=1)
    followed: list[DueAlias] = []
    for index in range(600):
        name = f"model-{index:03d}"
        registry.add(name, "1")
        registry.aliases[(name, "champion")] = "1"
        ref = ModelReference.model_validate({"registeredModel": name, "alias": "champion",
                                             "aliasRefreshInterval": "1m"})
        registry.now = T0 + dt.timedelta(seconds=index / 15)
        resolver.resolve(SCOPE, ref, registry, registry.now)
        followed.append(((SCOPE, name, "champion"), every))
    last = {name: read for read, name in registry.reads}
    registry.reads.clear()
    at, end = T0 + every, T0 + 2 * SWEEP_VOUCH_LIMIT + 5 * every
    while at < end:
        _poll(registry, resolver, followed, at)
        at += dt.timedelta(seconds=10)
    assert registry.pages_listed >= 2 * 60  # swept every round the while
    per_minute: dict[int, int] = {}
    for read, _ in registry.reads:
        minute = int((read - T0) / every)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    assert max(per_minute.values()) <= 80  # ~40 a minute at first; not 600 at once
    for read, name in registry.reads:
        assert SWEEP_VOUCH_LIMIT * 3 / 4 <= read - last[name] <= SWEEP_VOUCH_LIMIT + 2 * every
        last[name] = read
    assert all(end - read < SWEEP_VOUCH_LIMIT + 2 * every for read in last.values())
