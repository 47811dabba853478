"""A missing peering object is created, and a named namespace that cannot be watched is left out
of kopf's set, so that neither pauses every other namespace (handlers/readiness.py): what the
operator does given the API server's answers to its lookups and creates."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from uplift_operator.handlers import readiness
from uplift_operator.handlers.readiness import (
    LeftOut,
    Peering,
    PeeringObjects,
    SeenPresent,
    check_peerings,
    create_answer,
    plan_start,
    prepare_peerings,
    read_answer,
)
from uplift_operator.settings import OperatorConfig


def api_error(status: int, details_kind: str | None = None) -> ApiException:
    error = ApiException(status=status, reason={403: "Forbidden", 404: "Not Found",
                                                409: "Conflict"}.get(status, "Error"))
    status_body: dict[str, Any] = {"kind": "Status", "code": status}
    if details_kind is not None:
        status_body["details"] = {"name": "x", "kind": details_kind}
    error.body = json.dumps(status_body)
    return error


def test_a_read_says_present_missing_or_no_access() -> None:
    assert read_answer(None, "team-a") is Peering.PRESENT
    assert read_answer(api_error(404, "kopfpeerings"), "team-a") is Peering.MISSING
    assert read_answer(api_error(403), "team-a") is Peering.NO_ACCESS
    with pytest.raises(ApiException):  # cluster-wide, a 403 is the operator's RBAC: an error
        read_answer(api_error(403), None)
    with pytest.raises(ApiException):
        read_answer(api_error(500), "team-a")


def test_a_create_tells_a_missing_namespace_from_a_missing_crd() -> None:
    assert create_answer(None) is Peering.PRESENT
    assert create_answer(api_error(409, "kopfpeerings")) is Peering.PRESENT  # another replica
    assert create_answer(api_error(403)) is Peering.NOT_CREATED
    # NamespaceLifecycle's answer: 404, `namespaces "x" not found`, details naming a namespace
    assert create_answer(api_error(404, "namespaces")) is Peering.NO_NAMESPACE
    terminating = api_error(403, "kopfpeerings")  # NamespaceLifecycle: a namespace being deleted
    terminating.body = json.dumps({"kind": "Status", "code": 403, "details": {
        "name": "ops", "kind": "kopfpeerings", "causes": [{
            "reason": "NamespaceTerminating", "field": "metadata.namespace",
            "message": "namespace team-a is being terminated"}]}})
    assert create_answer(terminating) is Peering.NO_NAMESPACE
    for other in (api_error(404), api_error(404, "kopfpeerings"), api_error(500)):
        with pytest.raises(ApiException):  # e.g. kopf's CRDs not installed
            create_answer(other)


def test_only_namespaces_kopf_could_not_watch_are_left_out() -> None:
    found = {"a": Peering.PRESENT, "b": Peering.NOT_CREATED, "c": Peering.NO_NAMESPACE,
             "d": Peering.NO_ACCESS, "e": Peering.MISSING}
    plan = plan_start(["e", "d", "ml-*", "c", "b", "a", "f"], found)  # f: its lookup failed
    assert plan.watched == ("e", "ml-*", "b", "a", "f")
    assert plan.left_out == ("d", "c")


class FakeApi:
    """kopf.dev peering objects as a CustomObjectsApi answers: ``present`` (None: the
    cluster's), namespaces that do not exist, namespaces without the operator's Role, whether
    create is allowed; records the creates."""

    def __init__(self, present: set[str | None], *, absent_namespaces: frozenset[str] = frozenset(),
                 no_role: frozenset[str] = frozenset(), may_create: bool = True,
                 unreachable: frozenset[str] = frozenset()) -> None:
        self.present = present
        self.absent_namespaces = absent_namespaces
        self.no_role = no_role
        self.may_create = may_create
        self.unreachable = unreachable
        self.created: list[tuple[str | None, dict[str, Any]]] = []
        self.requests: list[tuple[str, str | None, float]] = []  # (verb, namespace, timeout)
        self.on_request: Any = None  # called at each request (a test's clock)

    def _request(self, verb: str, namespace: str | None, timeout: float) -> None:
        self.requests.append((verb, namespace, timeout))
        if self.on_request is not None:
            self.on_request()

    def get_namespaced_custom_object(self, group: str, version: str, namespace: str, plural: str,
                                     name: str, _request_timeout: float = 0,
                                     **_: Any) -> dict[str, Any]:
        assert (group, version, plural, name) == ("kopf.dev", "v1", "kopfpeerings", "ops")
        self._request("get", namespace, _request_timeout)
        if namespace in self.unreachable:
            raise OSError("the API server did not answer")
        if namespace in self.no_role:
            raise api_error(403)
        if namespace not in self.present:
            raise api_error(404, "kopfpeerings")  # even where the namespace does not exist
        return {}

    def get_cluster_custom_object(self, group: str, version: str, plural: str, name: str,
                                  _request_timeout: float = 0, **_: Any) -> dict[str, Any]:
        assert plural == "clusterkopfpeerings"
        self._request("get", None, _request_timeout)
        if None not in self.present:
            raise api_error(404, "clusterkopfpeerings")
        return {}

    def _create(self, namespace: str | None, body: dict[str, Any],
                timeout: float, dry_run: str | None = None) -> dict[str, Any]:
        self._request("create" if dry_run is None else "dry-run create", namespace, timeout)
        if namespace in self.unreachable:
            raise OSError("the API server did not answer")
        if not self.may_create or namespace in self.no_role:
            raise api_error(403)  # authorization comes before the namespace's existence
        if namespace in self.absent_namespaces:
            raise api_error(404, "namespaces")
        if namespace in self.present:
            raise api_error(409, "kopfpeerings")
        if dry_run is not None:
            assert dry_run == "All"
            return body  # the API server's answer, nothing persisted
        self.created.append((namespace, body))
        self.present.add(namespace)
        return body

    def create_namespaced_custom_object(self, group: str, version: str, namespace: str,
                                        plural: str, body: dict[str, Any],
                                        _request_timeout: float = 0, dry_run: str | None = None,
                                        **_: Any) -> dict[str, Any]:
        assert (group, version, plural) == ("kopf.dev", "v1", "kopfpeerings")
        return self._create(namespace, body, _request_timeout, dry_run)

    def create_cluster_custom_object(self, group: str, version: str, plural: str,
                                     body: dict[str, Any], _request_timeout: float = 0,
                                     dry_run: str | None = None, **_: Any) -> dict[str, Any]:
        assert plural == "clusterkopfpeerings"
        return self._create(None, body, _request_timeout, dry_run)


def objects(api: FakeApi) -> PeeringObjects:
    return PeeringObjects(api, "ops")  # type: ignore[arg-type]


def test_at_start_missing_peerings_are_created_and_unwatchable_namespaces_left_out(
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi({"team-a"}, absent_namespaces=frozenset({"gone"}),
                  no_role=frozenset({"no-role"}), unreachable=frozenset({"flaky"}))
    config = OperatorConfig(namespaces=("team-a", "team-b", "gone", "no-role", "flaky"),
                            peering_name="ops")
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        prepared = prepare_peerings(config, objects(api))
    assert prepared is not None
    assert prepared.namespaces == ("team-a", "team-b", "flaky")  # flaky: kopf will say
    assert prepared.left_out_namespaces == ("gone", "no-role")
    assert [(ns, body["kind"], body["metadata"]) for ns, body in api.created] == [
        ("team-b", "KopfPeering", {"name": "ops", "labels": readiness.CREATED_BY_LABEL})]
    assert "namespace 'gone' does not exist: left out of the watched namespaces" in caplog.text
    assert "namespace 'no-role' cannot be read by the operator" in caplog.text
    assert "cannot look up KopfPeering 'ops' in namespace 'flaky' at start: OSError" in caplog.text


def test_a_create_refused_keeps_the_namespace_and_is_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi(set(), may_create=False)
    config = OperatorConfig(namespaces=("team-a", "team-b"), peering_name="ops")
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        prepared = prepare_peerings(config, objects(api))
    assert prepared == config  # as before: kopf pauses, readiness reports them
    assert caplog.text.count("lacks create on kopfpeerings.kopf.dev") == 1


def test_nothing_left_to_watch_refuses_to_start(caplog: pytest.LogCaptureFixture) -> None:
    """kopf given no namespace would watch the whole cluster (a FutureWarning in kopf 1.45)."""
    api = FakeApi(set(), absent_namespaces=frozenset({"a", "b"}))
    with caplog.at_level(logging.ERROR, logger=readiness.__name__):
        assert prepare_peerings(OperatorConfig(namespaces=("a", "b"), peering_name="ops"),
                                objects(api)) is None
    assert "none of the namespaces to watch (a, b) can be watched" in caplog.text


def test_with_a_pattern_a_named_namespace_that_does_not_exist_is_kept() -> None:
    """kopf then lists the namespaces and watches 'a' once it is created: a missing 'a' pauses
    nothing, and left out of kopf's set it would never be watched until a restart. Its
    KopfPeering, and the others missing, are still created. 'closed' exists without the
    operator's Role: left out as when all are named exactly (it pauses every watch else)."""
    api = FakeApi(set(), absent_namespaces=frozenset({"a"}), no_role=frozenset({"closed"}))
    listing = ["b", "closed", "kube-system"]
    for patterns, kept in ((("ml-*",), ("ml-*",)),
                           (("!kube-system",), ("!kube-system,!closed",)),
                           (("team-*,!team-x",), ("team-*,!team-x",))):
        config = OperatorConfig(namespaces=("a", "b", "closed", *patterns), peering_name="ops")
        prepared = prepare_peerings(config, objects(api), listed=lambda _: listing)
        assert prepared == dataclasses.replace(config, namespaces=("a", "b", *kept),
                                               left_out_namespaces=("closed",))
    assert [ns for ns, _ in api.created] == ["b"]


def test_cluster_wide_the_cluster_peering_is_created_and_standalone_asks_nothing() -> None:
    api = FakeApi(set())
    config = OperatorConfig(all_namespaces=True, peering_name="ops")
    assert prepare_peerings(config, objects(api)) == config
    assert [(ns, body["kind"]) for ns, body in api.created] == [(None, "ClusterKopfPeering")]
    standalone = OperatorConfig(namespaces=("gone",), standalone=True, peering_name="ops")
    untouched = FakeApi(set(), absent_namespaces=frozenset({"gone"}))
    assert prepare_peerings(standalone, objects(untouched)) == standalone
    assert untouched.created == []


def test_the_checker_creates_one_never_seen_and_not_one_seen_present_before() -> None:
    """One kopf waits for (a namespace matching a pattern appears; a create allowed since) is
    created; one this process saw present is reported gone, not re-created (an uninstall
    deleting it while the pods stop must not be undone)."""
    api = FakeApi({"team-a"})
    peerings = objects(api)
    now = [0.0]
    look = SeenPresent(peerings.read, peerings.create, recheck=600, clock=lambda: now[0])
    config = OperatorConfig(namespaces=("team-a", "ml-*"), peering_name="ops")
    report = check_peerings(config, look, lambda: ["team-a", "ml-new", "other"],
                            seen=look.ever_seen)
    assert report.missing == [] and [ns for ns, _ in api.created] == ["ml-new"]
    api.present.clear()  # both deleted
    now[0] = 600.0
    report = check_peerings(config, look, lambda: ["team-a", "ml-new", "other"],
                            seen=look.ever_seen)
    assert report.missing == []
    assert report.gone == ["KopfPeering 'ops' in namespace 'ml-new'",
                           "KopfPeering 'ops' in namespace 'team-a'"]
    assert [ns for ns, _ in api.created] == ["ml-new"]


def test_a_create_refused_later_is_reported_missing_as_before() -> None:
    api = FakeApi(set(), may_create=False)
    peerings = objects(api)
    config = OperatorConfig(namespaces=("team-a",), peering_name="ops")
    report = check_peerings(config, SeenPresent(peerings.read, peerings.create), list)
    assert report.missing == ["KopfPeering 'ops' in namespace 'team-a'"] and report.notes == []
    api.may_create = True  # the RBAC upgraded
    assert check_peerings(config, SeenPresent(peerings.read, peerings.create), list).missing == []


def test_namespaces_that_cannot_be_reconciled_are_notes_not_failures() -> None:
    api = FakeApi(set(), absent_namespaces=frozenset({"deleted", "later"}),
                  no_role=frozenset({"role-gone"}))
    peerings = objects(api)
    config = OperatorConfig(namespaces=("deleted", "role-gone"), peering_name="ops",
                            left_out_namespaces=("later",))
    left_out = LeftOut(peerings.read, peerings.create_left_out)
    # seen: kopf saw their peering objects before they went, so their toggles are off
    report = check_peerings(config, SeenPresent(peerings.read, peerings.create), list, left_out,
                            seen=lambda ns: True)
    assert report.missing == []
    assert report.notes == [
        "namespace 'deleted' no longer exists: nothing there to reconcile (the next start "
        "leaves it out)",
        "the operator may no longer read namespace 'role-gone' (no Role there: the namespace "
        "may be gone): nothing there is reconciled (the next start leaves it out)",
        "namespace 'later' is not watched: it did not exist at start, or the operator may not "
        "read it; a restart watches it once it exists"]
    api.absent_namespaces = frozenset({"deleted"})  # 'later' created: its KopfPeering too
    report = check_peerings(config, SeenPresent(peerings.read, peerings.create), list, left_out,
                            seen=lambda ns: True)
    assert report.notes[-1] == ("namespace 'later' exists now, with its KopfPeering, but is not "
                                "watched (it could not be at start): restart the operator to "
                                "watch it")
    assert [ns for ns, _ in api.created] == ["later"]
    check_peerings(config, SeenPresent(peerings.read, peerings.create), list, left_out)
    assert [ns for ns, _ in api.created] == ["later"]  # asked no more


def test_readyz_answers_200_with_the_notes_and_503_for_what_pauses(
        caplog: pytest.LogCaptureFixture) -> None:
    state = readiness.Readiness()
    state.started = True
    note = "namespace 'gone' no longer exists: nothing there to reconcile"
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        state.update([], [note])
        state.update([], [note])
    assert caplog.text.count(note) == 1  # said when it appears, not at every check

    async def answer() -> tuple[int, str]:
        response = await state.handle(None)  # type: ignore[arg-type]
        return response.status, str(response.text)

    assert asyncio.run(answer()) == (200, f"ok\nnote: {note}\n")
    state.update(["KopfPeering 'ops' in namespace 'a'"], [note])
    status, text = asyncio.run(answer())
    assert status == 503 and text.startswith("not ready: KopfPeering 'ops' in namespace 'a'")
    assert text.endswith(f"note: {note}\n")


def test_a_namespace_gone_before_kopf_saw_its_peering_still_fails_readiness() -> None:
    """Its toggle never went off: every watch of the process stays paused until a restart
    (which leaves the namespace out), so it is reported missing, not as a note."""
    api = FakeApi({"team-a"}, absent_namespaces=frozenset({"gone"}), no_role=frozenset({"closed"}))
    peerings = objects(api)
    look = SeenPresent(peerings.read, peerings.create)
    config = OperatorConfig(namespaces=("team-a", "gone", "closed"), peering_name="ops")
    report = check_peerings(config, look, list, seen=look.ever_seen)
    assert report.missing == ["KopfPeering 'ops' in namespace 'closed'",
                              "KopfPeering 'ops' in namespace 'gone'"]
    assert report.notes == [] and look.ever_seen("team-a") and not look.ever_seen("gone")


def test_readyz_does_not_call_a_replica_that_saw_the_peering_object_paused(
        caplog: pytest.LogCaptureFixture) -> None:
    """Before: the ClusterKopfPeering this replica saw, then deleted, was said to keep every
    watch paused, while kopf's toggle for it went off when it was seen and this replica went
    on reconciling. Still not ready: the next replica to start waits for it."""
    present = [True]
    now = [0.0]
    look = SeenPresent(lambda ns: Peering.PRESENT if present[0] else Peering.MISSING,
                       lambda ns: Peering.PRESENT, recheck=600, clock=lambda: now[0])
    config = OperatorConfig(all_namespaces=True, peering_name="ops")
    state = readiness.Readiness()
    state.started = True
    report = check_peerings(config, look, list, seen=look.ever_seen)
    state.update(report.missing, report.notes, report.gone)
    present[0] = False
    now[0] = 600.0
    report = check_peerings(config, look, list, seen=look.ever_seen)
    assert report.missing == [] and report.gone == ["ClusterKopfPeering 'ops'"]
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        state.update(report.missing, report.notes, report.gone)
    assert "This replica keeps reconciling" in caplog.text
    assert "nothing is reconciled anywhere" not in caplog.text
    response = asyncio.run(state.handle(None))  # type: ignore[arg-type]
    assert response.status == 503
    assert response.text == (
        "not ready: ClusterKopfPeering 'ops' was deleted: this replica is not paused (kopf saw "
        "it, and its watches do not wait for it), but a replica that starts pauses every watch "
        "until it exists, unless it may create it: create it again\n")
    # One never seen (this process started after it went) pauses every watch: said so.
    fresh = SeenPresent(lambda ns: Peering.MISSING, lambda ns: Peering.NOT_CREATED)
    report = check_peerings(config, fresh, list, seen=fresh.ever_seen)
    assert report.missing == ["ClusterKopfPeering 'ops'"] and report.gone == []
