"""The SeldonDeployment CRD removed (``handlers.existence.WatchedAudit``): a LIST of a custom
resource whose CRD is not served answers 404. Cluster-wide that failed the whole audit ("the
LIST failed, nothing concluded", every interval), and namespaced it read as "namespace cannot be
listed" (a namespace that does not exist answers 200 and empty): either way the graphs kept
were never dropped, and their models kept reading them as serving. Now a 404 of a custom
resource's LIST means none exists: what is kept is forgotten and its readers woken, the cause
said; a 403 still leaves its namespace unaudited, and a core kind's 404 concludes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import watches
from uplift_operator.handlers.existence import WatchedAudit
from uplift_operator.handlers.scheduling import Wakeups

GRAPHS, GRAPH_API = "seldondeployments", "machinelearning.seldon.io/v1"
MODEL = ("UpliftModel", "ns", "m")


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


class Refusing:
    def __init__(self, status: int) -> None:
        self.status = status
        self.lists: list[str | None] = []

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None, *,
                  label_selector: str = "") -> set[str]:
        self.lists.append(namespace)
        raise KubeError(f"list {plural}: {self.status} the server could not find the "
                        "requested resource", self.status)


def _kept_graph() -> WatchedObjects:
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    objects.observe(GRAPHS, {
        "metadata": {"name": "m", "namespace": "ns", "uid": "g1", "resourceVersion": "5",
                     "labels": dict(watches.GRAPH_LABELS),
                     "ownerReferences": [{"kind": "UpliftModel", "name": "m", "uid": "u1",
                                          "apiVersion": "uplift.dev/v1alpha1"}]},
        "status": {"state": "Available"}})
    return objects


@pytest.mark.parametrize("all_namespaces", [True, False])
def test_a_crd_not_served_drops_what_is_kept_and_wakes_its_readers(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture,
        all_namespaces: bool) -> None:
    objects, wakeups, api = _kept_graph(), Wakeups(), Refusing(404)
    woken = wakeups.register(MODEL, uid="u1")
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                         watches.graph_readers, wakeups)
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.existence"):
        assert asyncio.run(audit.run(executor)) == {"g1": ("ns", "m")}
    assert objects.get(GRAPHS, "ns", "m") is None and woken.is_set()
    assert api.lists == [None if all_namespaces else "ns"]
    assert ("the API server does not serve seldondeployments.machinelearning.seldon.io/v1 "
            "(list seldondeployments: 404") in caplog.text
    assert "its kind is not served" in caplog.text
    assert "nothing concluded" not in caplog.text and "cannot be listed" not in caplog.text
    # Nothing kept now: the next audit lists nothing.
    assert asyncio.run(audit.run(executor)) == {} and len(api.lists) == 1


def test_a_namespace_forbidden_is_still_left_unaudited(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    objects, wakeups = _kept_graph(), Wakeups()
    woken = wakeups.register(MODEL, uid="u1")
    audit = WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, Refusing(403), False,
                         watches.graph_readers, wakeups)
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
                         watches.file_readers, Wakeups())
    assert asyncio.run(audit.run(executor)) == {}
    assert objects.get("configmaps", "ns", "f") is not None
