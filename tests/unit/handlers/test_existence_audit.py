"""The existence audit (``handlers.existence``): a waiting task whose object is absent from two
successful LISTs in a row is a ghost (its DELETED event never came: a watch listed again after a
gap), counted, logged, and the process exits to list afresh. One absence, a failed LIST, or a
task registered after a LIST began conclude nothing; the LISTs cost one request per interval and
namespace, none per resource, and a replica without tasks (paused by peering) makes none."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from types import SimpleNamespace

import kopf
import pytest

from uplift_operator import settings
from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence, observability
from uplift_operator.handlers.existence import ExistenceAudit, audit_forever
from uplift_operator.handlers.scheduling import Wakeups


class FakeCluster:
    """What the LIST answers: the uids that exist, or a failure; each request recorded."""

    def __init__(self, *uids: str) -> None:
        self.uids = set(uids)
        self.fail = False
        self.requests: list[tuple[str, str | None]] = []
        #: Run while the LIST is in flight (a task registered meanwhile).
        self.during: Callable[[], object] | None = None

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None) -> set[str]:
        assert api_version == "uplift.dev/v1alpha1"
        self.requests.append((plural, namespace))
        if self.during is not None:
            self.during()
        if self.fail:
            raise KubeError("list campaigns: 503 the server is currently unable to handle the "
                            "request", 503)
        return set(self.uids)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


def _audit(wakeups: Wakeups, cluster: FakeCluster, *, all_namespaces: bool = False
           ) -> ExistenceAudit:
    return ExistenceAudit("Campaign", "campaigns", wakeups, cluster, all_namespaces)


def _rounds(audit: ExistenceAudit, executor: ThreadPoolExecutor, count: int
            ) -> list[dict[str, tuple[str, str, str]]]:
    async def go() -> list[dict[str, tuple[str, str, str]]]:
        return [await audit.run(executor) for _ in range(count)]
    return asyncio.run(go())


async def _audit_for(audit: ExistenceAudit, executor: ThreadPoolExecutor, cluster: FakeCluster,
                     *, requests: int) -> None:
    """Run the audit loop until it made ``requests`` LISTs; it must still run then."""
    task = asyncio.create_task(audit_forever([audit], executor, interval=0.01))
    for _ in range(500):
        if len(cluster.requests) >= requests or task.done():
            break
        await asyncio.sleep(0.01)
    assert not task.done(), "the audit loop ended (it exits only after a ghost)"
    assert len(cluster.requests) >= requests
    task.cancel()


def _ghosts_counted(kind: str = "Campaign") -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_ghosts_total", {"kind": kind}) or 0.0


def test_no_ghost_while_every_task_s_object_is_listed(executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    wakeups.register(("Campaign", "ns", "b"), uid="u-b")
    assert _rounds(_audit(wakeups, FakeCluster("u-a", "u-b", "u-other")), executor, 3) == [{}] * 3


def test_one_absence_is_no_ghost(executor: ThreadPoolExecutor) -> None:
    """Absent from one LIST, listed at the next (or its task ended meanwhile): nothing."""
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster()
    audit = _audit(wakeups, cluster)
    assert _rounds(audit, executor, 1) == [{}]
    assert audit.missing == {"u-a": ("Campaign", "ns", "a")}
    cluster.uids = {"u-a"}
    assert _rounds(audit, executor, 1) == [{}]
    cluster.uids = set()
    assert _rounds(audit, executor, 1) == [{}]  # absent again: a first absence again


def test_absent_from_two_lists_in_a_row_is_a_ghost(executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    wakeups.register(("Campaign", "ns", "b"), uid="u-b")
    audit = _audit(wakeups, FakeCluster("u-b"))
    assert _rounds(audit, executor, 2) == [{}, {"u-a": ("Campaign", "ns", "a")}]


def test_two_absences_exit_count_and_name_the_ghost(
        executor: ThreadPoolExecutor, terminations: list[str],
        caplog: pytest.LogCaptureFixture) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "team-a", "spring"), uid="u-spring")
    wakeups.register(("Campaign", "team-a", "summer"), uid="u-summer")
    cluster = FakeCluster("u-summer")
    before = _ghosts_counted()

    async def go() -> None:
        await asyncio.wait_for(audit_forever([_audit(wakeups, cluster)], executor,
                                             interval=0.01), timeout=5)

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())  # returns once it exits
    assert terminations == ["SIGTERM"]
    assert _ghosts_counted() == before + 1
    assert len(cluster.requests) == 2
    assert "Campaign team-a/spring (uid u-spring) is gone from the API server" in caplog.text
    assert "deleted Campaign(s) still reconciled (no DELETED event after a watch gap): " \
           "exiting" in caplog.text


def test_every_object_listed_neither_exits_nor_counts(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster("u-a")
    with suppress(KeyError):  # as in a new process
        observability.GHOSTS.remove("Campaign")

    asyncio.run(_audit_for(_audit(wakeups, cluster), executor, cluster, requests=5))
    assert terminations == []
    # Its series exists, at 0, from the start (one born at 1 reads as no ``increase()``).
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_ghosts_total", {"kind": "Campaign"}) == 0.0


def test_a_failed_list_concludes_nothing(executor: ThreadPoolExecutor,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """A LIST that failed is no absence: neither a first one nor the second of a ghost."""
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster()
    cluster.fail = True
    audit = _audit(wakeups, cluster)
    with caplog.at_level(logging.WARNING):
        assert _rounds(audit, executor, 3) == [{}, {}, {}]
    assert audit.missing == {}
    assert "existence audit of Campaign: the LIST failed, nothing concluded" in caplog.text
    cluster.fail = False
    assert _rounds(audit, executor, 1) == [{}]  # the first successful absence
    cluster.fail = True
    assert _rounds(audit, executor, 1) == [{}]  # keeps the absence for the next success
    cluster.fail = False
    assert _rounds(audit, executor, 1) == [{"u-a": ("Campaign", "ns", "a")}]


def test_a_failed_list_never_exits(executor: ThreadPoolExecutor,
                                   terminations: list[str]) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster()
    cluster.fail = True

    asyncio.run(_audit_for(_audit(wakeups, cluster), executor, cluster, requests=4))
    assert terminations == []


def test_a_task_registered_while_the_list_ran_is_not_absent_from_it(
        executor: ThreadPoolExecutor) -> None:
    """Its object may have been created after the LIST's moment: only the next LIST says."""
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster("u-a")
    cluster.during = lambda: wakeups.register(("Campaign", "ns", "new"), uid="u-new")
    audit = _audit(wakeups, cluster)
    assert _rounds(audit, executor, 1) == [{}]
    assert audit.missing == {}
    cluster.during = None
    # Absent from the two LISTs after it was registered: a ghost, not before.
    assert _rounds(audit, executor, 2) == [{}, {"u-new": ("Campaign", "ns", "new")}]


def test_a_task_registered_after_an_audit_is_absent_from_the_next_only(
        executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster("u-a")
    audit = _audit(wakeups, cluster)
    assert _rounds(audit, executor, 1) == [{}]
    wakeups.register(("Campaign", "ns", "late"), uid="u-late")
    assert _rounds(audit, executor, 1) == [{}]
    assert _rounds(audit, executor, 1) == [{"u-late": ("Campaign", "ns", "late")}]


def test_a_task_that_ended_while_the_list_ran_is_no_ghost(executor: ThreadPoolExecutor) -> None:
    """Its DELETED event came: ``forget`` finished it (``Wakeups.finish``)."""
    wakeups = Wakeups()
    flag = wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    cluster = FakeCluster()
    audit = _audit(wakeups, cluster)
    assert _rounds(audit, executor, 1) == [{}]
    cluster.during = lambda: wakeups.unregister(("Campaign", "ns", "a"), flag)
    assert _rounds(audit, executor, 1) == [{}]


def test_a_name_reused_in_the_gap_leaves_the_old_uid_a_ghost(
        executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-old")
    wakeups.register(("Campaign", "ns", "a"), uid="u-new")
    audit = _audit(wakeups, FakeCluster("u-new"))
    assert _rounds(audit, executor, 2) == [{}, {"u-old": ("Campaign", "ns", "a")}]


def test_one_list_per_namespace_with_tasks_none_per_resource(
        executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    for index in range(300):
        wakeups.register(("Campaign", f"team-{index % 3}", f"c{index}"), uid=f"u{index}")
    wakeups.register(("UpliftModel", "team-9", "m"), uid="u-model")  # another kind's audit
    cluster = FakeCluster(*(f"u{index}" for index in range(300)))
    assert _rounds(_audit(wakeups, cluster), executor, 1) == [{}]
    assert cluster.requests == [("campaigns", "team-0"), ("campaigns", "team-1"),
                                ("campaigns", "team-2")]


def test_all_namespaces_is_one_list(executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    for index in range(300):
        wakeups.register(("Campaign", f"team-{index % 3}", f"c{index}"), uid=f"u{index}")
    cluster = FakeCluster(*(f"u{index}" for index in range(300)))
    assert _rounds(_audit(wakeups, cluster, all_namespaces=True), executor, 1) == [{}]
    assert cluster.requests == [("campaigns", None)]


@pytest.mark.parametrize("all_namespaces", [False, True])
def test_a_replica_without_tasks_lists_nothing(executor: ThreadPoolExecutor,
                                               all_namespaces: bool) -> None:
    """Paused by peering (kopf stopped its tasks), or nothing of the kind exists."""
    wakeups = Wakeups()
    wakeups.register(("UpliftModel", "ns", "m"), uid="u-model")
    cluster = FakeCluster()
    audit = _audit(wakeups, cluster, all_namespaces=all_namespaces)
    audit.missing = {"u-a": ("Campaign", "ns", "a")}  # from before the pause
    assert _rounds(audit, executor, 2) == [{}, {}]
    assert cluster.requests == []
    assert audit.missing == {}


def _pause(wakeups: Wakeups, *objects: tuple[tuple[str, str, str], str]) -> None:
    """kopf's peering pause: every task stops (unregistered, then ``common.task_ended``)."""
    for key, uid in objects:
        flags = dict(wakeups._flags.get(key, {}))
        wakeups.unregister(key, flags[uid])
        wakeups.paused_out(key, uid)


def test_an_object_deleted_during_a_short_pause_is_a_ghost(executor: ThreadPoolExecutor) -> None:
    """kopf lists on resume and starts a task for each object it finds: b, deleted while the
    replica was paused, gets neither a task nor a DELETED event, and kopf's Campaign index keeps
    it. Before, the audit compared running tasks only and never found it."""
    wakeups = Wakeups()
    a, b = ("Campaign", "ns", "a"), ("Campaign", "ns", "b")
    wakeups.register(a, uid="u-a")
    wakeups.register(b, uid="u-b")
    _pause(wakeups, (a, "u-a"), (b, "u-b"))
    wakeups.register(a, uid="u-a")  # resumed: listed again
    assert wakeups.tasks("Campaign") == {"u-a": a}
    assert wakeups.audited("Campaign") == {"u-a": a, "u-b": b}
    cluster = FakeCluster("u-a")
    assert _rounds(_audit(wakeups, cluster), executor, 2) == [{}, {"u-b": b}]
    assert cluster.requests == [("campaigns", "ns")] * 2


def test_every_object_deleted_during_a_short_pause_is_found_too(
        executor: ThreadPoolExecutor) -> None:
    """No task of the kind left after the resume: the audit still lists."""
    wakeups = Wakeups()
    b = ("Campaign", "team-b", "b")
    wakeups.register(b, uid="u-b")
    _pause(wakeups, (b, "u-b"))
    cluster = FakeCluster()
    assert _rounds(_audit(wakeups, cluster), executor, 2) == [{}, {"u-b": b}]
    assert cluster.requests == [("campaigns", "team-b")] * 2


def test_a_paused_object_is_forgotten_by_its_new_task_or_its_deleted_event() -> None:
    wakeups = Wakeups()
    a, b, c = ("Campaign", "ns", "a"), ("Campaign", "ns", "b"), ("Campaign", "ns", "c")
    for key, uid in ((a, "u-a"), (b, "u-b"), (c, "u-c")):
        wakeups.register(key, uid=uid)
    _pause(wakeups, (a, "u-a"), (b, "u-b"), (c, "u-c"))
    wakeups.register(a, uid="u-a")  # listed on resume
    assert wakeups.finish(b, "u-b")  # its DELETED event came after all
    wakeups.unregister(a, dict(wakeups._flags[a])["u-a"])  # a's task ends for good
    assert wakeups.audited("Campaign") == {"u-c": c}


def test_a_pause_end_handled_after_the_task_started_again_is_not_kept() -> None:
    """kopf resumed before the old task's end was handled: the object runs, nothing to audit
    beyond its task."""
    wakeups = Wakeups()
    a = ("Campaign", "ns", "a")
    old = wakeups.register(a, uid="u-a")
    wakeups.unregister(a, old)
    wakeups.register(a, uid="u-a")
    wakeups.paused_out(a, "u-a")
    new = dict(wakeups._flags[a])["u-a"]
    wakeups.unregister(a, new)
    assert wakeups.audited("Campaign") == {}


def test_wakeups_tasks_leave_out_other_kinds_finished_tasks_and_no_uid() -> None:
    wakeups = Wakeups()
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")
    wakeups.register(("Campaign", "ns", "b"), uid="u-b")
    wakeups.register(("Campaign", "ns", "c"))
    wakeups.register(("UpliftModel", "ns", "m"), uid="u-m")
    wakeups.finish(("Campaign", "ns", "b"), "u-b")
    assert wakeups.tasks("Campaign") == {"u-a": ("Campaign", "ns", "a")}


@pytest.mark.parametrize(("args", "all_namespaces"), [(["--namespace", "team-a"], False),
                                                      (["--all-namespaces"], True)])
def test_started_once_per_process_for_each_kind_in_the_operator_s_scope(
        monkeypatch: pytest.MonkeyPatch, executor: ThreadPoolExecutor, args: list[str],
        all_namespaces: bool) -> None:
    started: list[tuple[list[ExistenceAudit], float]] = []

    async def recorded(audits: list[ExistenceAudit], pool: object, *, exit_delay: float,
                       exit_cap: float, **_: object) -> None:
        assert exit_cap == existence.EXIT_WAIT_CAP_SECONDS
        assert pool is executor
        started.append((audits, exit_delay))

    monkeypatch.setattr(existence, "audit_forever", recorded)
    cluster, wakeups = FakeCluster(), Wakeups()
    memo = kopf.Memo(config=settings.parse_args([*args, "--prometheus-scrape-interval", "15",
                                                 "--metrics-scrape-interval", "2m"]),
                     wakeups=wakeups, pass_executor=executor, watched_objects=WatchedObjects([]),
                     uplift_dependencies=SimpleNamespace(cluster=cluster))

    async def go() -> None:
        existence.start(memo)
        existence.start(copy.copy(memo))  # an object's memo copy: still the one task
        await memo["existence_audit"]

    asyncio.run(go())
    [(audits, exit_delay)] = started
    assert [(a.kind, a.plural, a.all_namespaces) for a in audits] == [
        ("UpliftModel", "upliftmodels", all_namespaces), ("Campaign", "campaigns", all_namespaces),
        ("CampaignsFile", "upliftmodels", all_namespaces)]  # the file's task: its model's uid
    assert all(a.wakeups is wakeups and a.cluster is cluster for a in audits)
    # The operator's own scrape interval, not the runtime pods' (--prometheus-scrape-interval):
    # a ghost counted and the process gone 20 s later was seen by one scrape in six at 2 m.
    assert exit_delay == 120 + existence.EXIT_SLACK_SECONDS


def test_a_campaigns_file_task_of_a_deleted_model_is_a_ghost_of_the_models_list(
        executor: ThreadPoolExecutor) -> None:
    """A campaigns file's task runs under its model's uid (``handlers.campaigns_file``): one
    left running for a model gone (its DELETED event lost, or its task started after that
    event and a finish the bounded ``Wakeups`` memory no longer had) is found by a LIST of the
    UpliftModels, its model's UpliftModel task being found or not."""
    wakeups, cluster = Wakeups(), FakeCluster("u-kept")
    wakeups.register(("CampaignsFile", "ns", "kept"), "u-kept")
    wakeups.register(("CampaignsFile", "ns", "gone"), "u-gone")  # its model's task ended
    audit = ExistenceAudit("CampaignsFile", "upliftmodels", wakeups, cluster, False)
    assert _rounds(audit, executor, 2) == [{}, {"u-gone": ("CampaignsFile", "ns", "gone")}]
    assert cluster.requests == [("upliftmodels", "ns")] * 2


class _NamespaceGone(FakeCluster):
    """Namespaced with Roles only: a namespace deleted took the operator's Role with it."""

    def __init__(self, gone: str, *uids: str) -> None:
        super().__init__(*uids)
        self.gone = gone

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None) -> set[str]:
        if namespace == self.gone:
            self.requests.append((plural, namespace))
            raise KubeError(f'campaigns is forbidden: User cannot list resource "campaigns" in '
                            f'the namespace "{namespace}"', 403)
        return super().list_uids(api_version, plural, namespace)


def test_a_namespace_that_cannot_be_listed_does_not_blind_the_audit_of_the_others(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    """Before, one 403 failed the whole LIST at every interval: no ghost found anywhere."""
    wakeups = Wakeups()
    a, b, old = ("Campaign", "team-a", "a"), ("Campaign", "team-a", "b"), ("Campaign", "gone", "o")
    for key, uid in ((a, "u-a"), (b, "u-b"), (old, "u-o")):
        wakeups.register(key, uid=uid)
    _pause(wakeups, (old, "u-o"))  # the namespace deleted during a short pause
    cluster = _NamespaceGone("gone", "u-a")
    with caplog.at_level(logging.WARNING):
        assert _rounds(_audit(wakeups, cluster), executor, 2) == [{}, {"u-b": b}]
    assert "namespace 'gone' cannot be listed" in caplog.text
    # What the pause left there is not listed again at every interval.
    assert wakeups.audited("Campaign") == {"u-a": a, "u-b": b}
    assert cluster.requests.count(("campaigns", "gone")) == 1


class _Gone:
    """The API server as a pass finds an object deleted while the watch was away: its status
    write answered 404 (or 409, its name taken by another uid), and the read back has none of
    that uid."""

    def __init__(self, status: int, live: dict[str, object] | None) -> None:
        self.status, self.live = status, live

    def patch_status(self, *_: object, **__: object) -> dict[str, object]:
        raise KubeError(f"patch campaigns/c/status: {self.status}", self.status)

    def read_live(self, *_: object) -> dict[str, object] | None:
        return self.live


def _pass_finding_gone(wakeups: Wakeups, executor: ThreadPoolExecutor, status: int,
                       live: dict[str, object] | None) -> None:
    """One Campaign's task whose first pass writes its status and finds the object gone."""
    from uplift_operator.handlers.common import PassRunner
    from uplift_operator.handlers.scheduling import run_passes
    from uplift_operator.services.common import PassResult

    key = ("Campaign", "ns", "c")
    body = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u-c",
                                   "resourceVersion": "1"}, "status": {}})
    runner = PassRunner("Campaign", "campaigns", wakeups, executor, _Gone(status, live))

    async def go() -> None:
        await asyncio.wait_for(run_passes(key, wakeups, lambda: runner.run_once(
            key, body, lambda *_: PassResult({"phase": "Progressing"}, (), 5.0),
            lambda *_: None), uid="u-c"), timeout=10)

    asyncio.run(go())  # the task ended after that pass
    assert key not in wakeups and wakeups.tasks("Campaign") == {}


@pytest.mark.parametrize(("status", "live"), [
    (404, None),  # deleted during a watch gap
    (409, {"metadata": {"uid": "u-other"}}),  # deleted and its name taken again meanwhile
])
def test_an_object_a_pass_found_gone_stays_audited_until_its_deleted_event(
        executor: ThreadPoolExecutor, status: int, live: dict[str, object] | None) -> None:
    """Its task ends at that pass, but only its DELETED event drops it from kopf's indexes (a
    Campaign from its model's campaigns file, an UpliftModel's alias claim). Before, the audit,
    seeing no task of it, never found it, and the process never listed afresh."""
    wakeups, cluster = Wakeups(), FakeCluster("u-other")
    _pass_finding_gone(wakeups, executor, status, live)
    c = ("Campaign", "ns", "c")
    assert wakeups.audited("Campaign") == {"u-c": c}
    assert _rounds(_audit(wakeups, cluster), executor, 2) == [{}, {"u-c": c}]
    assert cluster.requests == [("campaigns", "ns")] * 2


def test_an_object_a_pass_found_gone_whose_deleted_event_comes_is_no_ghost(
        executor: ThreadPoolExecutor) -> None:
    """The usual case, a watch that is there: the event comes just after the pass's read."""
    wakeups, cluster = Wakeups(), FakeCluster()
    _pass_finding_gone(wakeups, executor, 404, None)
    audit = _audit(wakeups, cluster)
    assert _rounds(audit, executor, 1) == [{}]
    assert wakeups.finish(("Campaign", "ns", "c"), "u-c")  # its DELETED event
    assert wakeups.audited("Campaign") == {}
    assert _rounds(audit, executor, 2) == [{}, {}]


def test_an_object_whose_deleted_event_came_during_the_pass_is_not_kept() -> None:
    """The event was handled while the pass read the object back: nothing more comes."""
    wakeups, c = Wakeups(), ("Campaign", "ns", "c")
    wakeups.register(c, uid="u-c")
    wakeups.finish(c, "u-c")  # its DELETED event
    wakeups.gone(c, "u-c")  # then the pass's read back
    assert wakeups.audited("Campaign") == {}


def test_an_object_found_gone_in_a_namespace_that_cannot_be_listed_is_not_listed_again(
        executor: ThreadPoolExecutor) -> None:
    wakeups, a, old = Wakeups(), ("Campaign", "team-a", "a"), ("Campaign", "gone", "o")
    wakeups.register(a, uid="u-a")
    wakeups.register(old, uid="u-o")
    wakeups.gone(old, "u-o")  # the namespace deleted with the operator's Role in it
    cluster = _NamespaceGone("gone", "u-a")
    assert _rounds(_audit(wakeups, cluster), executor, 2) == [{}, {}]
    assert wakeups.audited("Campaign") == {"u-a": a}
    assert cluster.requests.count(("campaigns", "gone")) == 1
