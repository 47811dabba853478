"""Edges of the peering heals (handlers/readiness.py): a namespace deleted and created again
under a pattern, a namespace left out that the operator may not read, named namespaces beside a
pattern, Helm's adoption of what the operator creates, the start-up looks' deadline, kopf's
pattern syntax, and the checker woken by a paused watch."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.unit.handlers.test_readiness_healing import FakeApi, objects

from uplift_operator import settings
from uplift_operator.handlers import readiness
from uplift_operator.handlers.readiness import (
    LeftOut,
    Peering,
    PeeringObjects,
    SeenPresent,
    check_peerings,
    kopf_namespaces,
    prepare_peerings,
)
from uplift_operator.settings import OperatorConfig


def test_a_namespace_deleted_and_created_again_gets_its_kopfpeering_again() -> None:
    """kopf drops a deleted namespace's toggle and makes a new one, on, when a namespace of that
    name appears: every watch pauses until its KopfPeering exists. What was seen of the old one
    is forgotten (gone from a listing, or listed under another uid), so it is created again."""
    api = FakeApi({"ml-x"})
    peerings = objects(api)
    look = SeenPresent(peerings.read, peerings.create)
    config = OperatorConfig(namespaces=("ml-*",), peering_name="ops")
    listing: dict[str, str] = {}

    def namespaces() -> list[str]:
        look.keep(listing)
        return list(listing)

    def check() -> readiness.PeeringReport:
        return check_peerings(config, look, namespaces, seen=look.ever_seen)

    listing.update({"ml-x": "uid-1"})
    assert check().missing == [] and look.ever_seen("ml-x")
    api.present.discard("ml-x")  # the namespace deleted, its KopfPeering with it
    listing.clear()
    assert check().missing == [] and not look.ever_seen("ml-x")
    listing.update({"ml-x": "uid-2"})  # created again
    assert check().missing == [] and [ns for ns, _ in api.created] == ["ml-x"]
    # Deleted and created again between two checks: the uid tells.
    api.present.discard("ml-x")
    listing.update({"ml-x": "uid-3"})
    assert check().missing == [] and [ns for ns, _ in api.created] == ["ml-x", "ml-x"]


def test_a_kopfpeering_deleted_in_a_namespace_that_lives_is_still_not_re_created() -> None:
    """kopf's toggle for a namespace that lives stays off: nothing pauses, and a helm uninstall
    deleting the KopfPeerings while the pods stop must not be undone."""
    api = FakeApi({"ml-x"})
    peerings = objects(api)
    now = [0.0]
    look = SeenPresent(peerings.read, peerings.create, recheck=600, clock=lambda: now[0])
    config = OperatorConfig(namespaces=("ml-*",), peering_name="ops")

    def namespaces() -> list[str]:
        look.keep({"ml-x": "uid-1"})
        return ["ml-x"]

    assert check_peerings(config, look, namespaces, seen=look.ever_seen).missing == []
    api.present.clear()
    now[0] = 600.0
    report = check_peerings(config, look, namespaces, seen=look.ever_seen)
    assert report.missing == [] and report.gone == ["KopfPeering 'ops' in namespace 'ml-x'"]
    assert api.created == []


def test_a_left_out_namespace_the_operator_may_not_read_gets_no_create(
        caplog: pytest.LogCaptureFixture) -> None:
    """No Role there: a read answers 403, and no create follows (which would be refused as
    well, every check, and said to be the RBAC lacking create). A real refusal later, in a
    watched namespace, is still said."""
    api = FakeApi({"team-a"}, no_role=frozenset({"closed"}), may_create=False)
    peerings = objects(api)
    config = OperatorConfig(namespaces=("team-a", "team-b"), peering_name="ops",
                            left_out_namespaces=("closed",))
    look, left_out = SeenPresent(peerings.read, peerings.create), LeftOut(
        peerings.read, peerings.create_left_out)
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        for _ in range(3):
            report = check_peerings(config, look, list, left_out, look.ever_seen)
            assert report.notes == [
                "namespace 'closed' is not watched: it did not exist at start, or the operator "
                "may not read it; a restart watches it once it exists"]
            assert report.missing == ["KopfPeering 'ops' in namespace 'team-b'"]
    assert [verb for verb, ns, _ in api.requests if ns == "closed"] == ["get"] * 3
    # team-b's KopfPeering may not be created: that refusal is said, once, naming it
    assert caplog.text.count("The operator's RBAC lacks create on kopfpeerings.kopf.dev") == 1
    assert "cannot create KopfPeering 'ops' in namespace 'team-b': 403" in caplog.text


def test_a_left_out_namespace_readable_but_not_creatable_says_so_apart(
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi(set(), may_create=False)
    peerings = objects(api)
    config = OperatorConfig(namespaces=("team-a",), peering_name="ops",
                            left_out_namespaces=("later",))
    left_out = LeftOut(peerings.read, peerings.create_left_out)
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        for _ in range(2):
            report = check_peerings(config, lambda ns: Peering.PRESENT, list, left_out)
    assert report.notes == [
        "namespace 'later' exists now but is not watched, and the operator may not create its "
        "KopfPeering there (a Role without create): create it, then restart the operator to "
        "watch it"]
    assert caplog.text.count("in a namespace left out at start: 403") == 1
    assert "The operator's RBAC lacks create" not in caplog.text


def test_beside_a_pattern_a_named_namespace_is_watched_only_while_it_exists() -> None:
    """kopf lists the namespaces then: a named one that does not exist is not watched, pauses
    nothing, and is neither missing nor a note."""
    api = FakeApi({"ml-x"}, absent_namespaces=frozenset({"a"}))
    peerings = objects(api)
    look = SeenPresent(peerings.read, peerings.create)
    config = OperatorConfig(namespaces=("a", "ml-*"), peering_name="ops")
    report = check_peerings(config, look, lambda: ["ml-x", "other"], seen=look.ever_seen)
    assert report == readiness.PeeringReport([], [])
    assert {ns for _, ns, _ in api.requests} == {"ml-x"}
    api.absent_namespaces = frozenset()  # 'a' created: kopf watches it, its KopfPeering follows
    report = check_peerings(config, look, lambda: ["a", "ml-x"], seen=look.ever_seen)
    assert report.missing == [] and [ns for ns, _ in api.created] == ["a"]


@pytest.mark.parametrize(("patterns", "listed", "watched"), [
    (("team-*,!team-x",), ["team-a", "team-x", "other"], {"team-a"}),
    (("!kube-system",), ["kube-system", "default", "ml"], {"default", "ml"}),
    (("!kube-*, kube-public",), ["kube-system", "kube-public", "ml"], {"kube-public", "ml"}),
    (("team-a", "ml-?"), ["team-a", "ml-1", "ml-12"], {"team-a", "ml-1"}),
    (("team-a", "team-b"), ["other"], {"team-a", "team-b"}),  # all exact: kopf lists nothing
])
def test_the_watched_namespaces_are_kopfs_own_view(patterns: tuple[str, ...], listed: list[str],
                                                   watched: set[str]) -> None:
    config = OperatorConfig(namespaces=patterns, peering_name="ops")
    assert kopf_namespaces(config, lambda: listed) == watched
    looked: list[str | None] = []

    def look(namespace: str | None) -> Peering:
        looked.append(namespace)
        return Peering.PRESENT

    check_peerings(config, look, lambda: listed)
    assert set(looked) == watched


def test_a_negation_alone_is_a_pattern_at_start() -> None:
    """'!kube-system' is no namespace's name: nothing is looked up or created for it, only for
    the namespaces kopf will watch, which it matches."""
    api = FakeApi(set())
    config = OperatorConfig(namespaces=("!kube-system",), peering_name="ops")
    assert prepare_peerings(config, objects(api), listed=lambda _: ["kube-system", "ml"]) == config
    assert [(verb, ns) for verb, ns, _ in api.requests] == [("get", "ml"), ("create", "ml")]


def test_the_start_up_looks_stop_at_their_deadline(caplog: pytest.LogCaptureFixture) -> None:
    """A slow API server (6 s a request): each request's timeout is what is left of the 15 s
    (at most 10 s) shared among the 4 attempts urllib3 may make of it (an unreachable server's
    connect is retried 3 times, each with the whole timeout), and what is not looked up by then
    is kept as configured, not left out. One look at a time here (``workers=1``), so that the
    requests' order is the configured one."""
    api = FakeApi(set())
    now = [0.0]

    def slow() -> None:
        now[0] += 6.0

    api.on_request = slow
    config = OperatorConfig(namespaces=("a", "b", "c", "d"), peering_name="ops")
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        prepared = prepare_peerings(config, objects(api), deadline=15.0, clock=lambda: now[0],
                                    workers=1)
    assert api.requests == [("get", "a", 2.5), ("create", "a", 2.25), ("get", "b", 0.75)]
    assert prepared is not None and prepared.namespaces == ("a", "b", "c", "d")
    assert prepared.left_out_namespaces == ()
    assert "Not looked up, kept as configured: b, c, d" in caplog.text


def test_the_start_up_looks_stop_at_the_first_connection_error() -> None:
    """Unreachable: each next look would wait as long. An API server's answer (a 500) is one
    object's, and the looks go on (one at a time here, ``workers=1``: in order)."""
    api = FakeApi(set(), unreachable=frozenset({"a"}))
    config = OperatorConfig(namespaces=("a", "b", "c"), peering_name="ops")
    assert prepare_peerings(config, objects(api), workers=1) == config
    assert [(verb, ns) for verb, ns, _ in api.requests] == [("get", "a")]

    class Failing(FakeApi):
        def get_namespaced_custom_object(self, group: str, version: str, namespace: str,
                                         plural: str, name: str, _request_timeout: float = 0,
                                         **kwargs: Any) -> dict[str, Any]:
            if namespace == "a":
                raise ApiException(status=500, reason="Internal Server Error")
            return super().get_namespaced_custom_object(group, version, namespace, plural, name,
                                                        _request_timeout, **kwargs)

    api = Failing(set())
    prepared = prepare_peerings(config, objects(api))
    assert prepared == config and [ns for ns, _ in api.created] == ["b", "c"]


def test_created_objects_carry_helms_adoption_metadata_only_for_a_release() -> None:
    api = FakeApi(set())
    chart = PeeringObjects(api, "ops", ("uplift", "uplift-system"),  # type: ignore[arg-type]
                           not_before=0.0)  # past the start's grace
    chart.create("team-a")
    chart.create(None)
    objects(api).create("team-b")  # manifests/: no release
    metadata = {ns: body["metadata"] for ns, body in api.created}
    for released in ("team-a", None):
        assert metadata[released] == {
            "name": "ops",
            "labels": {"app.kubernetes.io/created-by": "uplift-operator",
                       "app.kubernetes.io/managed-by": "Helm"},
            "annotations": {"meta.helm.sh/release-name": "uplift",
                            "meta.helm.sh/release-namespace": "uplift-system"}}
    assert metadata["team-b"] == {"name": "ops", "labels": readiness.CREATED_BY_LABEL}


def test_the_release_comes_from_flags_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.parse_args(["-A"]).helm_release is None
    assert settings.parse_args(["-A", "--helm-release", "r", "--helm-release-namespace", "ns"]
                               ).helm_release == ("r", "ns")
    monkeypatch.setenv("UPLIFT_HELM_RELEASE", "uplift")
    monkeypatch.setenv("UPLIFT_HELM_RELEASE_NAMESPACE", "uplift-system")
    assert settings.parse_args(["-A"]).helm_release == ("uplift", "uplift-system")
    monkeypatch.delenv("UPLIFT_HELM_RELEASE_NAMESPACE")
    with pytest.raises(SystemExit):
        settings.parse_args(["-A"])


def test_a_paused_watch_wakes_the_checker() -> None:
    """A namespace matching a pattern appears without its KopfPeering: every watch pauses, and
    an acting replica paused 10 s exits. The pause line wakes the checker, which creates the
    KopfPeering at once rather than at its next 15 s check."""
    woken: list[int] = []
    quiet = readiness._PausedWatchAtWarning(verbose=False, on_pause=lambda: woken.append(1))
    record = logging.LogRecord("kopf._cogs.clients.watching", logging.DEBUG, __file__, 1,
                               "Pausing the watch-stream for upliftmodels in 'ml-x' "
                               "(blockers: ops@ml-x).", None, None)
    assert quiet.filter(record) and woken == [1]

    def broken() -> None:
        raise RuntimeError("Event loop is closed")

    assert readiness._PausedWatchAtWarning(verbose=False, on_pause=broken).filter(record)


def test_the_checker_checks_again_when_woken(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client

    checks: list[float] = []

    def check_peerings(*_: Any) -> readiness.PeeringReport:
        checks.append(1)
        return readiness.PeeringReport([])

    monkeypatch.setattr(readiness, "load_api_client", client.ApiClient)
    monkeypatch.setattr(readiness, "check_peerings", check_peerings)
    monkeypatch.setattr(readiness, "CHECK_SECONDS", 60.0)
    monkeypatch.setattr(readiness, "WAKE_SPACING_SECONDS", 0.0)
    config = OperatorConfig(namespaces=("ml-*",), peering_name="ops")

    async def run() -> int:
        wake = asyncio.Event()
        task = asyncio.create_task(readiness._check_forever(readiness.Readiness(), config, wake))
        try:
            for _ in range(100):
                await asyncio.sleep(0.01)
                if checks:
                    break
            wake.set()
            for _ in range(100):
                await asyncio.sleep(0.01)
                if len(checks) >= 2:
                    break
            return len(checks)
        finally:
            task.cancel()

    assert asyncio.run(run()) == 2


def test_a_charts_operator_leaves_the_peering_objects_to_helm_at_first() -> None:
    """Helm 3's first install creates the KopfPeerings after the Deployment with a plain
    create: one created by the pod first fails the install (already exists). Within the grace a
    chart's operator only dry-runs the create, which still tells a namespace that does not
    exist or RBAC without create; after it, a peering still missing is created."""
    now = [0.0]
    api = FakeApi({"team-c"}, absent_namespaces=frozenset({"gone"}))
    chart = PeeringObjects(api, "ops", ("uplift", "uplift-system"),  # type: ignore[arg-type]
                           helm_creates=True, clock=lambda: now[0])
    assert chart.not_before == readiness._PROCESS_START + readiness.HELM_CREATE_GRACE_SECONDS
    # A release whose chart does not render them (peering.create=false): nothing to wait for.
    assert PeeringObjects(api, "ops", ("uplift", "uplift-system")  # type: ignore[arg-type]
                          ).not_before == 0.0
    chart.not_before = 60.0
    assert chart.create("team-a") is Peering.MISSING  # would be created: left to Helm
    assert chart.create("gone") is Peering.NO_NAMESPACE
    assert chart.create("team-c") is Peering.PRESENT  # Helm's, 409
    assert api.created == [] and ("dry-run create", "team-a") in [r[:2] for r in api.requests]
    now[0] = 60.0
    assert chart.create("team-a") is Peering.PRESENT
    assert [ns for ns, _ in api.created] == ["team-a"]
    # The plain manifests/ install has no Helm to wait for: created at once.
    assert objects(FakeApi(set())).not_before == 0.0


def test_at_a_charts_start_a_missing_namespace_is_still_left_out() -> None:
    """The dry run answers as the create would: 404 for the namespace."""
    config = settings.parse_args(["--namespace", "team-a", "--namespace", "gone",
                                  "--peering", "ops", "--helm-release", "uplift",
                                  "--helm-release-namespace", "uplift-system",
                                  "--helm-creates-peerings"])
    assert config.helm_creates_peerings
    api = FakeApi(set(), absent_namespaces=frozenset({"gone"}))
    chart = PeeringObjects(api, "ops", config.helm_release,  # type: ignore[arg-type]
                           not_before=float("inf"))
    prepared = prepare_peerings(config, chart)
    assert prepared is not None and prepared.namespaces == ("team-a",)
    assert prepared.left_out_namespaces == ("gone",) and api.created == []


def test_a_namespace_that_can_never_hold_its_peering_is_stuck_only_when_kopf_has_it(
) -> None:
    """Exact names: kopf's set is fixed at start, so a never-seen namespace that does not exist
    (or that the operator may not read) pauses every watch for good. Beside a pattern kopf
    watches only namespaces that exist and drops one deleted, but one where the operator may
    not read (named or matched) pauses every watch for good too. One seen before pauses
    nothing (its toggle went off)."""
    exact = OperatorConfig(namespaces=("team-a", "gone", "no-role"), peering_name="ops")
    answers: dict[str | None, Peering] = {"team-a": Peering.PRESENT, "gone": Peering.NO_NAMESPACE,
                                          "no-role": Peering.NO_ACCESS,
                                          "team-b": Peering.NO_ACCESS}
    report = check_peerings(exact, answers.__getitem__, list, seen=lambda _: False)
    assert report.stuck == ["gone", "no-role"] and len(report.missing) == 2
    assert check_peerings(exact, answers.__getitem__, list, seen=lambda _: True).stuck == []
    patterned = OperatorConfig(namespaces=("no-role", "gone", "team-*"), peering_name="ops")
    listed = lambda: ["gone", "no-role", "team-a", "team-b"]  # noqa: E731
    report = check_peerings(patterned, answers.__getitem__, listed, seen=lambda _: False)
    assert report.stuck == ["no-role", "team-b"] and len(report.missing) == 3
    assert check_peerings(patterned, answers.__getitem__, listed,
                          seen=lambda _: True).stuck == []


def test_a_namespace_stuck_at_two_checks_in_a_row_restarts_the_process() -> None:
    """Looked up at start and gone since, before kopf saw its KopfPeering: the restart's
    start-up looks leave it out. One check alone may be a moment: nothing. (One the start did
    not look up: test_readiness_start_loop.)"""
    exits: list[str] = []
    found = readiness.restart_to_leave_out(["gone"], set(), exit=exits.append, not_answered=())
    assert exits == [] and found == {"gone"}
    assert readiness.restart_to_leave_out(["other"], found, exit=exits.append,
                                          not_answered=()) == {"other"}
    assert exits == []
    readiness.restart_to_leave_out(["other", "gone"], {"other"}, exit=exits.append,
                                   not_answered=())
    assert len(exits) == 1 and "namespace(s) other cannot hold a KopfPeering" in exits[0]
