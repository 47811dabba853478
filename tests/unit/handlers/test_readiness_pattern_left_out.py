"""With a ``--namespace`` pattern, a namespace kopf watches where the operator may not read
KopfPeerings (no Role there) is handled as one named exactly: left out at start, and a
restart when one appears later, so that it costs that namespace only, not every watch
(handlers/readiness.py). Before, nothing was left out with a pattern, and kopf's toggle for
that namespace, waiting for a KopfPeering event its 403 watch never brings, paused every
watch for good."""

from __future__ import annotations

import asyncio
import logging

import pytest
from kopf._cogs.structs.references import Insights, NamespaceName, match_namespace
from kopf._core.reactor.observation import revise_namespaces
from kubernetes.client.exceptions import ApiException
from tests.unit.handlers.test_readiness_healing import FakeApi, objects

from uplift_operator.handlers import readiness
from uplift_operator.handlers.readiness import (
    LeftOut,
    Readiness,
    SeenPresent,
    check_peerings,
    exclude_namespaces,
    prepare_peerings,
    restart_to_leave_out,
)
from uplift_operator.settings import OperatorConfig

LISTING = ["kube-system", "other", "team-a", "team-b", "team-c"]


def kopfs_own_namespaces(patterns: tuple[str, ...], listing: list[str]) -> set[str]:
    """The namespaces kopf 1.45 makes a peering toggle for (orchestration.py's
    ``spawn_missing_peerings``, one per ``insights.namespaces``), as its own namespace
    observer fills them from a listing (observation.py's ``revise_namespaces``)."""
    insights = Insights()
    bodies = [{"metadata": {"name": name}} for name in listing]
    revise_namespaces(insights=insights, namespaces=patterns, raw_bodies=bodies)  # type: ignore[arg-type]
    return {str(n) for n in insights.namespaces}


@pytest.mark.parametrize("namespaces", [("team-a", "team-b"), ("team-*",), ("team-a", "team-?"),
                                        ("!kube-system,!other",)])
def test_at_start_a_namespace_without_a_role_is_left_out_named_or_matched(
        namespaces: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> None:
    """The same WARNING and the same leave-out, named exactly or matched by a pattern: kopf
    makes no toggle for team-b, so nothing waits for a KopfPeering there."""
    api = FakeApi({"team-a"}, no_role=frozenset({"team-b"}))
    config = OperatorConfig(namespaces=namespaces, peering_name="ops")
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        prepared = prepare_peerings(config, objects(api), listed=lambda _: LISTING)
    assert prepared is not None and prepared.left_out_namespaces == ("team-b",)
    assert ("namespace 'team-b' cannot be read by the operator (no Role there: it may not "
            "exist): left out of the watched namespaces") in caplog.text
    watched = ({"team-a", "team-c"} if config.cluster_reads else {"team-a"})
    assert readiness.kopf_namespaces(prepared, lambda: LISTING) == watched
    if config.cluster_reads:
        assert kopfs_own_namespaces(config.namespaces, LISTING) >= {"team-b"}  # before
        assert kopfs_own_namespaces(prepared.namespaces, LISTING) == watched
        assert [ns for ns, _ in api.created] == ["team-c"]  # created before kopf waits for it


@pytest.mark.parametrize("patterns", [
    ("team-*",), ("!kube-system",), ("team-*,!team-c",), ("!team-*, team-b",),
    ("team-?", "team-b"), ("team-b,team-*",), ("kube-*", "other")])
def test_a_namespace_left_out_leaves_kopfs_patterns_and_nothing_else_does(
        patterns: tuple[str, ...]) -> None:
    """kopf watches a namespace any one pattern matches: team-b goes from every pattern, and
    every other namespace is matched as before, by kopf's own matcher."""
    names = [*LISTING, "team-bb", "xteam-b", "kube-public"]
    kept = exclude_namespaces(patterns, ["team-b"])
    for name in names:
        before = any(match_namespace(NamespaceName(name), p) for p in patterns)
        after = any(match_namespace(NamespaceName(name), p) for p in kept)
        assert after == (before and name != "team-b"), (name, kept)
    assert exclude_namespaces(patterns, []) == patterns


def test_a_matched_namespace_without_a_role_appearing_later_restarts_the_process_once_stuck(
        ) -> None:
    """team-b appears after the start, matching the pattern, with no Role: kopf's toggle for it
    stays on. Found so at two checks in a row, the process exits (as for a named one); the
    restart leaves it out, and /readyz is 200 with a note instead of 503 for good."""
    api = FakeApi({"team-a"}, no_role=frozenset({"team-b"}))
    config = OperatorConfig(namespaces=("team-*",), peering_name="ops")
    peerings = objects(api)
    look = SeenPresent(peerings.read, peerings.create)
    listing = ["team-a", "team-b"]
    exits: list[str] = []
    stuck: set[str] = set()
    for _ in range(2):
        report = check_peerings(config, look, lambda: listing, seen=look.ever_seen)
        assert report.missing == ["KopfPeering 'ops' in namespace 'team-b'"]
        stuck = restart_to_leave_out(report.stuck, stuck, exit=exits.append, not_answered=())
    assert len(exits) == 1 and "namespace(s) team-b cannot hold a KopfPeering" in exits[0]

    restarted = prepare_peerings(config, objects(api), listed=lambda _: listing)
    assert restarted is not None and restarted.namespaces == ("team-*,!team-b",)
    look = SeenPresent(peerings.read, peerings.create)
    left_out = LeftOut(peerings.read, peerings.create_left_out)
    report = check_peerings(restarted, look, lambda: listing, left_out, seen=look.ever_seen)
    assert report.missing == [] and report.stuck == []
    assert report.notes == ["namespace 'team-b' is not watched: it did not exist at start, or "
                            "the operator may not read it; a restart watches it once it exists"]
    state = Readiness()
    state.started = True
    state.update(report.missing, report.notes)
    assert state.problems() == []


def test_a_matched_namespace_seen_before_its_role_went_is_a_note_not_a_restart() -> None:
    """kopf saw its KopfPeering (its toggle went off): it pauses nothing."""
    api = FakeApi({"team-a", "team-b"})
    config = OperatorConfig(namespaces=("team-*",), peering_name="ops")
    peerings = objects(api)
    look = SeenPresent(peerings.read, peerings.create, recheck=0.0)
    assert check_peerings(config, look, lambda: ["team-a", "team-b"], seen=look.ever_seen).stuck == []
    api.no_role = frozenset({"team-b"})
    report = check_peerings(config, look, lambda: ["team-a", "team-b"], seen=look.ever_seen)
    assert report.missing == [] and report.stuck == []
    assert report.notes[0].startswith("the operator may no longer read namespace 'team-b'")


def test_namespaces_not_listed_at_start_are_kept_as_configured(
        caplog: pytest.LogCaptureFixture) -> None:
    """No ClusterRole to list them (403): kopf falls back to the named ones, which are looked
    up; the API server unreachable: nothing is looked up. Nothing is left out, and the checker
    restarts the process for one it finds stuck."""
    api = FakeApi(set(), no_role=frozenset({"team-b"}))
    config = OperatorConfig(namespaces=("team-a", "team-*"), peering_name="ops")

    def refused(_: float) -> list[str]:
        raise ApiException(status=403, reason="Forbidden")

    def unreachable(_: float) -> list[str]:
        raise OSError("the API server did not answer")

    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        assert prepare_peerings(config, objects(api), listed=refused) == config
        assert [ns for ns, _ in api.created] == ["team-a"]
        assert "cannot list the namespaces at start: 403 Forbidden" in caplog.text
        requests = len(api.requests)
        assert prepare_peerings(config, objects(api), listed=unreachable) == config
        assert len(api.requests) == requests
        assert "cannot list the namespaces at start: OSError" in caplog.text


def test_the_listing_at_start_has_its_share_of_the_deadline() -> None:
    """Its timeout is what is left of the start-up looks' deadline (at most 10 s), shared among
    the attempts urllib3 may make of it, as every look's."""
    timeouts: list[float] = []

    def listed(timeout: float) -> list[str]:
        timeouts.append(timeout)
        return []

    config = OperatorConfig(namespaces=("team-*",), peering_name="ops")
    assert prepare_peerings(config, objects(FakeApi(set())), listed=listed, deadline=15.0,
                            clock=lambda: 0.0) == config
    assert timeouts == [2.5]


def test_kopfs_own_observer_no_longer_matches_a_left_out_namespace() -> None:
    """What the leave-out rests on, in kopf itself: given the patterns the start returns, kopf's
    namespace observer adds no team-b (no toggle, nothing paused for it), and a namespace
    matching the pattern created later is added as before."""
    patterns = exclude_namespaces(("team-*",), ["team-b"])
    insights = Insights()

    async def run() -> set[str]:
        for name in ("team-a", "team-b", "team-new"):
            event = {"type": "ADDED", "object": {"metadata": {"name": name}}}
            revise_namespaces(insights=insights, namespaces=patterns,
                              raw_events=[event])  # type: ignore[list-item]
        return {str(n) for n in insights.namespaces}

    assert asyncio.run(run()) == {"team-a", "team-new"}
