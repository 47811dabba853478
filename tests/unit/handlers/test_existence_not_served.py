"""The SeldonDeployment CRD removed (``handlers.existence.WatchedAudit``): a LIST of a custom
resource whose CRD is not served answers 404. Cluster-wide that failed the whole audit ("the
LIST failed, nothing concluded", every interval), and namespaced it read as "namespace cannot be
listed" (a namespace that does not exist answers 200 and empty): either way the graphs kept
were never dropped, and their models kept reading them as serving. Now 404s of a custom
resource's LIST that last mean none exists: what is kept is forgotten and its readers woken,
the cause said; a 403 still leaves its namespace unaudited, and a core kind's 404 concludes
nothing.

One 404 is not enough (a review's reproduction, /tmp/final-kubefix/repro_404.py): an API server
answers 404 for a CRD it serves while its CRD cache syncs (kubernetes#115241, #71218, #104342),
and one such answer dropped every graph kept and woke every model; the graphs so dropped were
also tombstoned, so a GET or a no-op apply that found them again did not keep them. Nor are two
404s at two audits (a final review, /tmp/final-audits/s1.py, s3.py): audits are always 5 minutes
or more apart, so two unrelated lags (two API server restarts, each audited 30 s after its 410)
read as "not served", and a LIST that failed between two 404s did not break the row. Now a
place whose LIST answered 404 is listed again every ``NOT_SERVED_RECHECK_SECONDS`` (``recheck``),
and only a row of 404s with no answer, no failed LIST and no gap over twice that between them,
lasting ``NOT_SERVED_APART_SECONDS``, says "not served"; what that drops gets no tombstone."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.handlers import observability, watches
from uplift_operator.handlers.existence import (
    AUDIT_SECONDS,
    NOT_SERVED_APART_SECONDS,
    NOT_SERVED_RECHECK_SECONDS,
    ExistenceAudit,
    Ghosts,
    WatchedAudit,
    audit_forever,
)
from uplift_operator.handlers.scheduling import Wakeups

GRAPHS, GRAPH_API = "seldondeployments", "machinelearning.seldon.io/v1"
MODEL = ("UpliftModel", "ns", "m")
#: The LISTs of a row that concludes: its first, and one every recheck until 5 minutes on.
ROW = int(NOT_SERVED_APART_SECONDS / NOT_SERVED_RECHECK_SECONDS) + 1


def _a_recheck_apart() -> Callable[[], float]:
    """A clock read once per LIST that answers: each a recheck after the last."""
    return itertools.count(0.0, NOT_SERVED_RECHECK_SECONDS).__next__


def _an_interval_apart() -> Callable[[], float]:
    """A clock read once per LIST that answers: each an audit interval after the last."""
    return itertools.count(0.0, AUDIT_SECONDS).__next__


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()
class Refusing:
    """Each LIST answers ``status`` (one per audit from ``answers`` first, when given: an int
    refuses, a set of uids answers); a GET or an apply finds the graph as kept."""

    def __init__(self, status: int, *answers: int | set[str]) -> None:
        self.status = status
        self.answers = list(answers)
        self.lists: list[str | None] = []

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  label_selector: str = "") -> set[str]:
        self.lists.append(namespace)
        answer = self.answers.pop(0) if self.answers else self.status
        if isinstance(answer, set):
            return answer
        raise KubeError(f"list {plural}: {answer} the server could not find the "
                        "requested resource", answer)

    def get(self, *_: object) -> dict[str, object]:
        return _graph()

    def apply(self, *_: object) -> dict[str, object]:
        return _graph()  # a no-op server-side apply: the same resourceVersion


def _graph(namespace: str = "ns", uid: str = "g1") -> dict[str, object]:
    return {"metadata": {"name": "m", "namespace": namespace, "uid": uid,
                         "resourceVersion": "5", "labels": dict(watches.GRAPH_LABELS),
                         "ownerReferences": [{"kind": "UpliftModel", "name": "m", "uid": "u1",
                                              "apiVersion": "uplift.dev/v1alpha1"}]},
            "status": {"state": "Available"}}


def _kept_graph(*namespaces: str) -> WatchedObjects:
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    for index, namespace in enumerate(namespaces or ("ns",)):
        objects.observe(GRAPHS, _graph(namespace, "g1" if index == 0 else f"g{index + 1}"))
    return objects


def _graphs(objects: WatchedObjects, api: Refusing, all_namespaces: bool, wakeups: Wakeups,
            clock: Callable[[], float]) -> WatchedAudit:
    return WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                        watches.graph_readers, wakeups, clock=clock)


def _rechecks(audit: ExistenceAudit | WatchedAudit, executor: ThreadPoolExecutor,
              count: int) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        return [dict(await audit.recheck(executor)) for _ in range(count)]
    return asyncio.run(go())


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_crd_not_served_drops_what_is_kept_and_wakes_its_readers(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture,
        all_namespaces: bool) -> None:
    objects, wakeups, api = _kept_graph(), Wakeups(), Refusing(404)
    woken = wakeups.register(MODEL, uid="u1")
    audit = _graphs(objects, api, all_namespaces, wakeups, _a_recheck_apart())
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {}  # one 404: nothing concluded yet
        assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
        assert "answered 404" in caplog.text and "nothing concluded yet" in caplog.text
        # Listed again every minute, alone: 404s for 4 minutes conclude nothing.
        assert _rechecks(audit, executor, ROW - 2) == [{}] * (ROW - 2)
        assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
        assert _rechecks(audit, executor, 1) == [{"g1": ("ns", "m")}]  # 5 minutes of 404s
    assert objects.get(GRAPHS, "ns", "m") is None and woken.is_set()
    assert api.lists == [None if all_namespaces else "ns"] * ROW
    assert "the API server does not serve seldondeployments.machinelearning.seldon.io/v1" \
        in caplog.text
    assert "every LIST there answered 404 for 300 s (the last: list seldondeployments: 404" \
        in caplog.text
    assert "its kind is not served" in caplog.text
    assert "the LIST failed" not in caplog.text and "cannot be listed" not in caplog.text
    # Nothing kept now: the next audit lists nothing.
    assert asyncio.run(audit.run(executor)) == {} and len(api.lists) == ROW
    # Not seen deleted: no tombstone, a GET that finds it keeps it again.
    live = WatchedCluster(api, objects)  # type: ignore[arg-type]
    assert live.get(GRAPH_API, GRAPHS, "ns", "m") is not None
    assert objects.get(GRAPHS, "ns", "m") is not None


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_one_spurious_404_drops_nothing(executor: ThreadPoolExecutor,
                                        all_namespaces: bool) -> None:
    """The review's reproduction: an API server whose CRD cache lags answers one LIST 404;
    the next answers the graph. Nothing dropped, no model woken."""
    objects, wakeups = _kept_graph(), Wakeups()
    woken = wakeups.register(MODEL, uid="u1")
    api = Refusing(404, 404, {"g1"}, 404, {"g1"})
    audit = _graphs(objects, api, all_namespaces, wakeups, _a_recheck_apart())
    for _ in range(4):  # 404, 200, 404, 200: never two 404s in a row
        assert asyncio.run(audit.run(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    assert len(api.lists) == 4


class Timed:
    """The time, as set."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_list_between_404s_ends_the_row(executor: ThreadPoolExecutor) -> None:
    """A LIST that fails (the API server restarting again) says nothing of what answered 404
    before it: the row starts over at the next 404 (it went on, and a 404 5 minutes after the
    first concluded)."""
    objects, clock = _kept_graph(), Timed()
    api = Refusing(404, 404, 500)
    audit = _graphs(objects, api, True, Wakeups(), clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 60.0
    assert asyncio.run(audit.recheck(executor)) == {}  # the 500: the row ends
    assert audit.not_served == {}
    clock.now = 120.0
    assert asyncio.run(audit.run(executor)) == {}  # a first 404 again
    for clock.now in (180.0, 240.0, 300.0, 360.0):
        assert asyncio.run(audit.recheck(executor)) == {}  # 300 s after the first: nothing
    assert objects.get(GRAPHS, "ns", "m") is not None
    clock.now = 420.0
    assert asyncio.run(audit.recheck(executor)) == {"g1": ("ns", "m")}


def test_404s_are_rowed_per_namespace_and_rechecked_alone(executor: ThreadPoolExecutor) -> None:
    """Namespaced, a namespace's 404 after another namespace's says nothing of it yet; the
    rechecks list only where a LIST answered 404."""
    objects = _kept_graph("a", "b")

    class PerNamespace(Refusing):
        def __init__(self) -> None:
            super().__init__(404)
            self.refused = ["a", "b"]  # audit 1 refuses a, then b from audit 2 on

        def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "") -> set[str]:
            self.lists.append(namespace)
            if namespace == self.refused[0]:
                raise KubeError(f"list {plural}: 404 not found", 404)
            return {"g1"} if namespace == "a" else {"g2"}

    api = PerNamespace()
    audit = _graphs(objects, api, False, Wakeups(), _a_recheck_apart())
    assert asyncio.run(audit.run(executor)) == {}  # a's 404 at 0 s
    api.refused.pop(0)
    assert asyncio.run(audit.run(executor)) == {}  # a answers, b's first 404 at 60 s
    assert list(audit.not_served) == ["b"]
    assert _rechecks(audit, executor, ROW - 2) == [{}] * (ROW - 2)
    assert objects.get(GRAPHS, "b", "m") is not None
    assert _rechecks(audit, executor, 1) == [{"g2": ("b", "m")}]  # 5 minutes after b's first
    assert objects.get(GRAPHS, "a", "m") is not None and objects.get(GRAPHS, "b", "m") is None
    assert api.lists == ["a", "b", "a", "b"] + ["b"] * (ROW - 1)


def test_what_not_served_dropped_is_kept_again_by_a_no_op_apply(
        executor: ThreadPoolExecutor) -> None:
    """The CRD served again (or the 404s wrong): the pass woken applies the graph, the API
    server answers it unchanged (same resourceVersion), and the store keeps it at once."""
    objects, api = _kept_graph(), Refusing(404)
    audit = _graphs(objects, api, True, Wakeups(), _a_recheck_apart())
    asyncio.run(audit.run(executor))
    assert _rechecks(audit, executor, ROW - 1)[-1] == {"g1": ("ns", "m")}
    WatchedCluster(api, objects).apply({}, GRAPHS)  # type: ignore[arg-type]
    assert objects.get(GRAPHS, "ns", "m") is not None


def test_a_namespace_forbidden_is_still_left_unaudited(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    objects, wakeups = _kept_graph(), Wakeups()
    woken = wakeups.register(MODEL, uid="u1")
    audit = _graphs(objects, Refusing(403), False, wakeups, _a_recheck_apart())
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    assert "namespace 'ns' cannot be listed" in caplog.text
    assert audit.not_served == {}  # nothing to list again


def test_a_core_kind_answered_404_concludes_nothing(executor: ThreadPoolExecutor) -> None:
    """A ConfigMap's LIST is always served: a 404 is not "none exists"."""
    objects = WatchedObjects(["configmaps"])
    objects.observe("configmaps", {"metadata": {"name": "f", "namespace": "ns", "uid": "c1",
                                                "resourceVersion": "3"}})
    audit = WatchedAudit("ConfigMap", "v1", "configmaps", objects, Refusing(404), False,
                         watches.file_readers, Wakeups(), clock=_a_recheck_apart())
    assert asyncio.run(audit.run(executor)) == {}
    assert objects.get("configmaps", "ns", "f") is not None
    assert audit.not_served == {}


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_404s_conclude_once_they_lasted_5_minutes_from_the_first(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    """The audit task restarted audits at once: two 404s seconds apart may both fall in one
    window of a lagging CRD cache. Only 404s lasting half an interval from the first of the
    row say the CRD is not served; the last of them may come seconds after the one before."""
    objects, wakeups, api, clock = _kept_graph(), Wakeups(), Refusing(404), Timed()
    woken = wakeups.register(MODEL, uid="u1")
    audit = _graphs(objects, api, all_namespaces, wakeups, clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 5.0
    assert asyncio.run(audit.run(executor)) == {}  # the second 404, 5 s later: too soon
    for clock.now in (65.0, 125.0, 185.0, 245.0, NOT_SERVED_APART_SECONDS - 1.0):
        assert asyncio.run(audit.recheck(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    clock.now = NOT_SERVED_APART_SECONDS + 4.0  # 5 s after the last 404, 304 s after the first
    assert asyncio.run(audit.recheck(executor)) == {"g1": ("ns", "m")}
    assert objects.get(GRAPHS, "ns", "m") is None and woken.is_set()


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_404s_at_two_audits_conclude_nothing(executor: ThreadPoolExecutor,
                                             all_namespaces: bool) -> None:
    """The final review's finding: audits are always 5 minutes or more apart (a relist's
    audit 2 minutes after the last at the least, each 30 s after its 410), so two 404s at two
    audits, with no LIST between, were two unrelated blips (kubernetes#71218: 404s at the end of
    a control-plane upgrade) read as the CRD removed: every graph dropped. A 404 more than two
    rechecks after the last of its row starts a row of its own."""
    objects, wakeups, clock = _kept_graph(), Wakeups(), Timed()
    woken = wakeups.register(MODEL, uid="u1")
    audit = _graphs(objects, Refusing(404), all_namespaces, wakeups, clock)
    for clock.now in (0.0, 5.0, 320.0, 320.0 + AUDIT_SECONDS):
        assert asyncio.run(audit.run(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    assert audit.not_served == {None if all_namespaces else "ns": (920.0, 920.0)}


def test_an_answer_between_two_404s_starts_the_row_again(executor: ThreadPoolExecutor) -> None:
    objects, clock = _kept_graph(), Timed()
    api = Refusing(404, 404, {"g1"})
    audit = _graphs(objects, api, True, Wakeups(), clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 60.0
    assert asyncio.run(audit.recheck(executor)) == {}  # served: the row ends
    assert audit.not_served == {}
    clock.now = AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # a first 404 again
    clock.now = AUDIT_SECONDS + 10.0
    assert asyncio.run(audit.run(executor)) == {}  # 10 s after it
    for clock.now in (660.0, 720.0, 780.0, 840.0):
        assert asyncio.run(audit.recheck(executor)) == {}
    clock.now = AUDIT_SECONDS + NOT_SERVED_APART_SECONDS
    assert asyncio.run(audit.recheck(executor)) == {"g1": ("ns", "m")}


class _Models:
    """The UpliftModel LISTs of the existence audit: one answer per LIST (an int refuses with
    that status, a set of uids answers), then ``status``."""

    def __init__(self, status: int, *answers: int | set[str]) -> None:
        self.status = status
        self.answers = list(answers)
        self.lists: list[str | None] = []

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None
                  ) -> set[str]:
        assert (api_version, plural) == ("uplift.dev/v1alpha1", "upliftmodels")
        self.lists.append(namespace)
        answer = self.answers.pop(0) if self.answers else self.status
        if isinstance(answer, set):
            return answer
        if answer == 0:
            raise ConnectionError("connection refused")  # the API server restarting
        raise KubeError(f"list {plural}: {answer} the server could not find the requested "
                        "resource", answer)


def _model_audit(api: _Models, wakeups: Wakeups, all_namespaces: bool,
                 clock: Callable[[], float] | None = None) -> ExistenceAudit:
    return ExistenceAudit("UpliftModel", "upliftmodels", wakeups, api, all_namespaces,
                          clock=clock or _a_recheck_apart())


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_the_models_crd_not_served_makes_their_tasks_ghosts(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture,
        all_namespaces: bool) -> None:
    """The UpliftModel CRD removed (its objects with it) while the watch was away: kopf's index
    keeps them. Namespaced, the 404 read as "namespace cannot be listed": unaudited at every
    interval, and what a pass found gone there forgotten; cluster-wide, "the LIST failed" at
    every interval. Either way the process never listed afresh."""
    wakeups, api = Wakeups(), _Models(404)
    wakeups.register(MODEL, uid="u1")
    gone = ("UpliftModel", "ns", "g")
    wakeups.register(gone, uid="u-g")
    wakeups.gone(gone, "u-g")  # a pass found it gone, its DELETED event not come
    audit = _model_audit(api, wakeups, all_namespaces)
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {}  # one 404: nothing concluded yet
        assert "upliftmodels.uplift.dev/v1alpha1" in caplog.text
        assert "answered 404" in caplog.text and "nothing concluded yet" in caplog.text
        assert wakeups.audited("UpliftModel") == {"u1": MODEL, "u-g": gone}  # not forgotten
        assert _rechecks(audit, executor, ROW - 2) == [{}] * (ROW - 2)
        ghosts = asyncio.run(audit.recheck(executor))
    assert ghosts == {"u1": MODEL, "u-g": gone}
    place = "" if all_namespaces else " in namespace 'ns'"
    assert ghosts.unserved == {"u1": "upliftmodels.uplift.dev/v1alpha1" + place,
                               "u-g": "upliftmodels.uplift.dev/v1alpha1" + place}
    assert "the API server does not serve upliftmodels.uplift.dev/v1alpha1" in caplog.text
    assert "the LIST failed" not in caplog.text and "cannot be listed" not in caplog.text
    assert api.lists == [None if all_namespaces else "ns"] * ROW


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_spurious_404_of_the_models_keeps_what_was_missing(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    """A 404 between two LISTs without the object says nothing either way: the two absences
    still make a ghost (the 404 read as "cannot be listed" reset what was missing there)."""
    wakeups = Wakeups()
    wakeups.register(MODEL, uid="u1")
    audit = _model_audit(_Models(404, set(), 404, set()), wakeups, all_namespaces,
                         _an_interval_apart())
    assert asyncio.run(audit.run(executor)) == {}  # absent once
    assert asyncio.run(audit.run(executor)) == {}  # the 404: nothing concluded
    assert audit.missing == {"u1": MODEL}
    ghosts = asyncio.run(audit.run(executor))
    assert ghosts == {"u1": MODEL} and ghosts.unserved == {}  # a watch gap's ghost


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_the_models_404s_seconds_apart_or_broken_by_an_answer_conclude_nothing(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    """Timed from the first 404 of the row, not the one before: a third 404 320 s after the
    first and 315 s after the second (an audit, no LIST between) concludes nothing, for it
    follows a gap; a row that lasted 5 minutes concludes at a 404 5 s after the one before."""
    wakeups, clock = Wakeups(), Timed()
    wakeups.register(MODEL, uid="u1")
    audit = _model_audit(_Models(404, 404, 404, 404, {"u1"}), wakeups, all_namespaces, clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 5.0
    assert asyncio.run(audit.run(executor)) == {}  # the audit task restarted: too soon
    clock.now = 320.0
    assert asyncio.run(audit.run(executor)) == {}  # no LIST between: a row of its own
    clock.now = 380.0
    assert asyncio.run(audit.recheck(executor)) == {}  # listed: the row ends
    assert audit.not_served == {}
    clock.now = AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # a first 404 again
    assert audit.missing == {}
    for clock.now in (660.0, 720.0, 780.0, 840.0, 899.0):
        assert asyncio.run(audit.recheck(executor)) == {}
    clock.now = 904.0  # 5 s after the last 404, 304 s after the first
    assert asyncio.run(audit.recheck(executor)) == {"u1": MODEL}


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_failed_models_list_between_404s_ends_the_row(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    """The final review's /tmp/final-audits/s1.py: a 404 (a CRD-cache lag after an API server
    restart), the API server down (the next restart), a 404 400 s after the first (its lag):
    the models were ghosts and the process exited."""
    wakeups, clock = Wakeups(), Timed()
    wakeups.register(MODEL, uid="u1")
    audit = _model_audit(_Models(404, 404, 0), wakeups, all_namespaces, clock)
    clock.now = 30.0
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 90.0
    assert asyncio.run(audit.recheck(executor)) == {}  # the LIST failed: the row ends
    assert audit.not_served == {} and audit.refused == {}
    clock.now = 430.0
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 490.0
    assert asyncio.run(audit.recheck(executor)) == {}


def test_the_models_not_served_in_one_namespace_leaves_the_others_audited(
        executor: ThreadPoolExecutor) -> None:
    wakeups = Wakeups()
    a, b = ("UpliftModel", "a", "m"), ("UpliftModel", "b", "m")
    wakeups.register(a, uid="u-a")
    wakeups.register(b, uid="u-b")

    class PerNamespace(_Models):
        def list_uids(self, api_version: str, plural: str, namespace: str | None = None
                      ) -> set[str]:
            if namespace == "b":
                return super().list_uids(api_version, plural, namespace)
            self.lists.append(namespace)
            return set()  # a's model deleted during a watch gap

    api = PerNamespace(404)
    audit = _model_audit(api, wakeups, False)
    assert asyncio.run(audit.run(executor)) == {}
    ghosts = asyncio.run(audit.run(executor))  # a minute later: a absent twice, b 404 still
    assert ghosts == {"u-a": a} and ghosts.unserved == {}
    assert _rechecks(audit, executor, ROW - 3) == [{}] * (ROW - 3)
    ghosts = asyncio.run(audit.recheck(executor))
    assert ghosts == {"u-b": b}
    assert ghosts.unserved == {"u-b": "upliftmodels.uplift.dev/v1alpha1 in namespace 'b'"}
    assert api.lists == ["a", "b", "a", "b"] + ["b"] * (ROW - 2)


class _Lagging:
    """The UpliftModel LISTs answer 404 for ``lag`` seconds (loop time) after each restart
    (``restart``), else the models; when and what each answered."""

    def __init__(self, lag: float, *uids: str) -> None:
        self.lag, self.uids = lag, set(uids)
        self.restarted: float | None = None
        self.served = True
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lists: list[tuple[float, int]] = []

    def restart(self) -> None:
        assert self.loop is not None
        self.restarted = self.loop.time()

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None
                  ) -> set[str]:
        assert self.loop is not None
        now = self.loop.time()
        if not self.served or (self.restarted is not None
                               and self.restarted <= now < self.restarted + self.lag):
            self.lists.append((now, 404))
            raise KubeError(f"list {plural}: 404 the server could not find the requested "
                            "resource", 404)
        self.lists.append((now, 200))
        return set(self.uids)


#: 1 s here is 200 s: the interval, a relist's settle and its apart, the recheck, the 404s
#: that conclude.
_SCALE = 200.0


def _scaled_models(api: _Lagging, wakeups: Wakeups) -> ExistenceAudit:
    assert api.loop is not None
    return ExistenceAudit("UpliftModel", "upliftmodels", wakeups, api, False,
                          clock=api.loop.time, apart=NOT_SERVED_APART_SECONDS / _SCALE,
                          recheck_seconds=NOT_SERVED_RECHECK_SECONDS / _SCALE)


def _auditing(audit: ExistenceAudit, executor: ThreadPoolExecutor, relisted: asyncio.Event,
              exits: list[str], children: tuple[WatchedAudit, ...] = ()
              ) -> asyncio.Task[None]:
    return asyncio.create_task(audit_forever(
        [audit], executor, interval=AUDIT_SECONDS / _SCALE, settle=30.0 / _SCALE,
        apart=120.0 / _SCALE, relisted=relisted, exit=exits.append, children=children))


def test_two_api_server_restarts_7_minutes_apart_make_no_ghost(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    """The final review's /tmp/final-audits/s3.py: an API server restarts (its watches' 410s
    bring the audit forward 30 s), its CRD cache lags 50 s; 7 minutes later the next of the HA
    set does the same. Both relist audits answered 404, 6 min 40 s apart: every model a ghost,
    the process exited. Now each 404 is listed again a minute later, which answers."""
    wakeups = Wakeups()
    for index in range(3):
        wakeups.register(("UpliftModel", "ns", f"m{index}"), uid=f"u{index}")
    api, exits = _Lagging(50.0 / _SCALE, "u0", "u1", "u2"), list[str]()

    async def go() -> None:
        api.loop, relisted = asyncio.get_running_loop(), asyncio.Event()
        task = _auditing(_scaled_models(api, wakeups), executor, relisted, exits)
        api.restart()
        relisted.set()
        await asyncio.sleep(420.0 / _SCALE)
        api.restart()
        relisted.set()
        await asyncio.sleep(150.0 / _SCALE)
        assert not task.done()
        task.cancel()

    asyncio.run(go())
    assert exits == [] and terminations == []
    assert [status for _, status in api.lists] == [404, 200, 404, 200]


def test_a_crd_removed_is_concluded_within_minutes_and_said_so(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    """The rechecks run between the audits, a minute apart: the UpliftModel CRD removed is
    concluded 5 minutes after the first 404 (not at the next audit), the graphs kept for
    its models (their CRD removed too) dropped at the same recheck, and the exit and its
    WARNING say that the kind is not served, not that a watch gap left the objects behind."""
    wakeups = Wakeups()
    for index in range(2):
        wakeups.register(("UpliftModel", "ns", f"m{index}"), uid=f"u{index}")
    api, exits = _Lagging(0.0), list[str]()
    api.served = False
    objects, graphs = _kept_graph(), Refusing(404)
    before = observability.REGISTRY.get_sample_value(
        "uplift_operator_ghosts_total", {"kind": "UpliftModel"}) or 0.0

    async def go() -> float:
        loop = asyncio.get_running_loop()
        api.loop, relisted = loop, asyncio.Event()
        child = _graphs(objects, graphs, False, wakeups, loop.time)
        child.apart, child.recheck_seconds = (NOT_SERVED_APART_SECONDS / _SCALE,
                                              NOT_SERVED_RECHECK_SECONDS / _SCALE)
        began = loop.time()
        task = _auditing(_scaled_models(api, wakeups), executor, relisted, exits, (child,))
        relisted.set()  # the audit at 30 s: the first 404
        await asyncio.wait_for(task, 2.0)
        return began

    with caplog.at_level(logging.INFO, logger="uplift_operator.handlers.existence"):
        began = asyncio.run(go())
    first, last = api.lists[0][0] - began, api.lists[-1][0] - began
    assert [status for _, status in api.lists] == [404] * ROW
    assert first >= 30.0 / _SCALE and last - first < (NOT_SERVED_APART_SECONDS + 60.0) / _SCALE
    assert objects.get(GRAPHS, "ns", "m") is None and graphs.lists == ["ns"] * ROW
    assert exits == ["2 deleted UpliftModel(s) still reconciled (upliftmodels.uplift.dev not "
                     "served: its CRD removed, its objects gone with it)"]
    assert ("the API server no longer serves upliftmodels.uplift.dev/v1alpha1 in namespace "
            "'ns' (its CRD removed): its objects are gone with it, no DELETED event came for "
            "them, and the operator still reconciles 2: UpliftModel ns/m0 (uid u0), "
            "UpliftModel ns/m1 (uid u1)") in caplog.text
    assert "a watch listed again after a gap" not in caplog.text
    assert "absent from two LISTs" not in caplog.text
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_ghosts_total", {"kind": "UpliftModel"}) == before + 2


def test_ghosts_carry_their_cause() -> None:
    ghosts = Ghosts({"u": MODEL}, {"u": "upliftmodels.uplift.dev/v1alpha1"})
    assert ghosts == {"u": MODEL} and ghosts.unserved == {"u": "upliftmodels.uplift.dev/v1alpha1"}
    assert Ghosts().unserved == {} and not Ghosts()
