"""The SeldonDeployment CRD removed (``handlers.existence.WatchedAudit``): a LIST of a custom
resource whose CRD is not served answers 404. Cluster-wide that failed the whole audit ("the
LIST failed, nothing concluded", every interval), and namespaced it read as "namespace cannot be
listed" (a namespace that does not exist answers 200 and empty): either way the graphs kept
were never dropped, and their models kept reading them as serving. Now a 404 of a custom
resource's LIST means none exists: what is kept is forgotten and its readers woken, the cause
said; a 403 still leaves its namespace unaudited, and a core kind's 404 concludes nothing.

One 404 is not enough (a review's reproduction, /tmp/final-kubefix/repro_404.py): an API server
answers 404 for a CRD it serves while its CRD cache syncs (kubernetes#115241, #71218, #104342),
and one such answer dropped every graph kept and woke every model; the graphs so dropped were
also tombstoned, so a GET or a no-op apply that found them again did not keep them. Now only two
audits in a row answered 404 say "not served", and what that drops gets no tombstone."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.handlers import watches
from uplift_operator.handlers.existence import AUDIT_SECONDS, ExistenceAudit, WatchedAudit
from uplift_operator.handlers.scheduling import Wakeups

GRAPHS, GRAPH_API = "seldondeployments", "machinelearning.seldon.io/v1"
MODEL = ("UpliftModel", "ns", "m")


def _an_interval_apart() -> Callable[[], float]:
    """A clock read once per audit that LISTs: each an audit interval after the last."""
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


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_crd_not_served_drops_what_is_kept_and_wakes_its_readers(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture,
        all_namespaces: bool) -> None:
    objects, wakeups, api = _kept_graph(), Wakeups(), Refusing(404)
    woken = wakeups.register(MODEL, uid="u1")
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                         watches.graph_readers, wakeups, clock=_an_interval_apart())
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {}  # one 404: nothing concluded yet
        assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
        assert "answered 404" in caplog.text and "nothing concluded yet" in caplog.text
        assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}
    assert objects.get(GRAPHS, "ns", "m") is None and woken.is_set()
    assert api.lists == [None if all_namespaces else "ns"] * 2
    assert "the API server does not serve seldondeployments.machinelearning.seldon.io/v1" \
        in caplog.text
    assert "(list seldondeployments: 404" in caplog.text
    assert "its kind is not served" in caplog.text
    assert "the LIST failed" not in caplog.text and "cannot be listed" not in caplog.text
    # Nothing kept now: the next audit lists nothing.
    assert asyncio.run(audit.run(executor)) == {} and len(api.lists) == 2
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
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                         watches.graph_readers, wakeups, clock=_an_interval_apart())
    for _ in range(4):  # 404, 200, 404, 200: never two 404s in a row
        assert asyncio.run(audit.run(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    assert len(api.lists) == 4


def test_a_failed_list_between_two_404s_does_not_end_the_row(
        executor: ThreadPoolExecutor) -> None:
    """As with the other audits, a LIST that fails otherwise says nothing either way."""
    objects = _kept_graph()
    api = Refusing(404, 404, 500, 404)
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, True,
                         watches.graph_readers, Wakeups(), clock=_an_interval_apart())
    assert asyncio.run(audit.run(executor)) == {}
    assert asyncio.run(audit.run(executor)) == {}  # the 500: nothing concluded
    assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}


def test_two_404s_in_a_row_are_counted_per_namespace(executor: ThreadPoolExecutor) -> None:
    """Namespaced, a namespace's 404 after another namespace's says nothing of it yet."""
    objects = _kept_graph("a", "b")

    class PerNamespace(Refusing):
        def __init__(self) -> None:
            super().__init__(404)
            self.refused = ["a", "b", "b"]  # audit 1 refuses a, 2 and 3 refuse b

        def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "") -> set[str]:
            self.lists.append(namespace)
            if namespace == self.refused[0]:
                raise KubeError(f"list {plural}: 404 not found", 404)
            return {"g1"} if namespace == "a" else {"g2"}

    api = PerNamespace()
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, False,
                         watches.graph_readers, Wakeups(), clock=_an_interval_apart())
    assert asyncio.run(audit.run(executor)) == {}
    api.refused.pop(0)
    assert asyncio.run(audit.run(executor)) == {}  # b's first 404
    assert objects.get(GRAPHS, "b", "m") is not None
    api.refused.pop(0)
    assert asyncio.run(audit.run(executor)) == {"g2": ("b", "m")}
    assert objects.get(GRAPHS, "a", "m") is not None and objects.get(GRAPHS, "b", "m") is None


def test_what_not_served_dropped_is_kept_again_by_a_no_op_apply(
        executor: ThreadPoolExecutor) -> None:
    """The CRD served again (or the 404s wrong): the pass woken applies the graph, the API
    server answers it unchanged (same resourceVersion), and the store keeps it at once."""
    objects, api = _kept_graph(), Refusing(404)
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, True,
                         watches.graph_readers, Wakeups(), clock=_an_interval_apart())
    asyncio.run(audit.run(executor))
    assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}
    WatchedCluster(api, objects).apply({}, GRAPHS)  # type: ignore[arg-type]
    assert objects.get(GRAPHS, "ns", "m") is not None


def test_a_namespace_forbidden_is_still_left_unaudited(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    objects, wakeups = _kept_graph(), Wakeups()
    woken = wakeups.register(MODEL, uid="u1")
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, Refusing(403), False,
                         watches.graph_readers, wakeups, clock=_an_interval_apart())
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {}
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    assert "namespace 'ns' cannot be listed" in caplog.text


def test_a_core_kind_answered_404_concludes_nothing(executor: ThreadPoolExecutor) -> None:
    """A ConfigMap's LIST is always served: a 404 is not "none exists"."""
    objects = WatchedObjects(["configmaps"])
    objects.observe("configmaps", {"metadata": {"name": "f", "namespace": "ns", "uid": "c1",
                                                "resourceVersion": "3"}})
    audit = WatchedAudit("ConfigMap", "v1", "configmaps", objects, Refusing(404), False,
                         watches.file_readers, Wakeups(), clock=_an_interval_apart())
    assert asyncio.run(audit.run(executor)) == {}
    assert objects.get("configmaps", "ns", "f") is not None


class Timed:
    """The time, as set."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_two_404s_seconds_apart_conclude_nothing(executor: ThreadPoolExecutor,
                                                  all_namespaces: bool) -> None:
    """The audit task restarted audits at once: two 404s seconds apart may both fall in one
    window of a lagging CRD cache. Only a 404 half an interval or more after the first of the
    row says the CRD is not served."""
    objects, wakeups, api, clock = _kept_graph(), Wakeups(), Refusing(404), Timed()
    woken = wakeups.register(MODEL, uid="u1")
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                         watches.graph_readers, wakeups, clock=clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 5.0
    assert asyncio.run(audit.run(executor)) == {}  # the second 404, 5 s later: too soon
    clock.now = AUDIT_SECONDS / 2 - 1.0
    assert asyncio.run(audit.run(executor)) == {}  # timed from the first 404 of the row
    assert objects.get(GRAPHS, "ns", "m") is not None and not woken.is_set()
    clock.now = AUDIT_SECONDS / 2
    assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}
    assert objects.get(GRAPHS, "ns", "m") is None and woken.is_set()


def test_an_answer_between_two_404s_starts_the_row_again(executor: ThreadPoolExecutor) -> None:
    objects, clock = _kept_graph(), Timed()
    api = Refusing(404, 404, {"g1"}, 404)
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, True,
                         watches.graph_readers, Wakeups(), clock=clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # served: the row ends
    clock.now = 2 * AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # a first 404 again
    clock.now = 2 * AUDIT_SECONDS + 10.0
    assert asyncio.run(audit.run(executor)) == {}  # 10 s after it
    clock.now = 3 * AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}


class _Models:
    """The UpliftModel LISTs of the existence audit: one answer per audit (an int refuses with
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
        raise KubeError(f"list {plural}: {answer} the server could not find the requested "
                        "resource", answer)


def _model_audit(api: _Models, wakeups: Wakeups, all_namespaces: bool,
                 clock: Callable[[], float] | None = None) -> ExistenceAudit:
    return ExistenceAudit("UpliftModel", "upliftmodels", wakeups, api, all_namespaces,
                          clock=clock or _an_interval_apart())


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
        assert asyncio.run(audit.run(executor)) == {"u1": MODEL, "u-g": gone}
    assert "the API server does not serve upliftmodels.uplift.dev/v1alpha1" in caplog.text
    assert "the LIST failed" not in caplog.text and "cannot be listed" not in caplog.text
    assert api.lists == [None if all_namespaces else "ns"] * 2


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_spurious_404_of_the_models_keeps_what_was_missing(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    """A 404 between two LISTs without the object says nothing either way: the two absences
    still make a ghost (the 404 read as "cannot be listed" reset what was missing there)."""
    wakeups = Wakeups()
    wakeups.register(MODEL, uid="u1")
    audit = _model_audit(_Models(404, set(), 404, set()), wakeups, all_namespaces)
    assert asyncio.run(audit.run(executor)) == {}  # absent once
    assert asyncio.run(audit.run(executor)) == {}  # the 404: nothing concluded
    assert audit.missing == {"u1": MODEL}
    assert asyncio.run(audit.run(executor)) == {"u1": MODEL}


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_the_models_404s_seconds_apart_or_broken_by_an_answer_conclude_nothing(
        executor: ThreadPoolExecutor, all_namespaces: bool) -> None:
    wakeups, clock = Wakeups(), Timed()
    wakeups.register(MODEL, uid="u1")
    audit = _model_audit(_Models(404, 404, 404, 404, {"u1"}, 404), wakeups, all_namespaces,
                         clock)
    assert asyncio.run(audit.run(executor)) == {}
    clock.now = 5.0
    assert asyncio.run(audit.run(executor)) == {}  # the audit task restarted: too soon
    clock.now = AUDIT_SECONDS / 2 - 1.0
    assert asyncio.run(audit.run(executor)) == {}  # timed from the first 404 of the row
    clock.now = AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # listed: the row ends
    clock.now = 3 * AUDIT_SECONDS
    assert asyncio.run(audit.run(executor)) == {}  # a first 404 again
    assert audit.missing == {}


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

    audit = _model_audit(PerNamespace(404), wakeups, False)
    assert asyncio.run(audit.run(executor)) == {}
    assert asyncio.run(audit.run(executor)) == {"u-a": a, "u-b": b}
