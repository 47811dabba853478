"""The existence audit of the children kept in memory (``handlers.existence.WatchedAudit``): a
SeldonDeployment or campaigns ConfigMap deleted while its watch was away (kopf lists again after
a gap and sends no DELETED event for it) stayed in the store for good, so its model's passes,
the resync's included, found it there unchanged and applied nothing: the stable version not
served, the Campaigns not delivered, the status still Healthy. Now one LIST per kind (with the
watch's label selector) finds it, the store drops it and its readers are woken, and the next
pass applies it again; no exit, nothing per resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from tests.unit.services.test_campaigns_file import KEY, NS, OWNER, campaign_body, sync
from tests.unit.services.test_graph_ghost import ApiServer, operated, watched_sim
from tests.unit.services.test_upliftmodel import NAME, SELDON

from uplift_operator import settings
from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence, watches
from uplift_operator.handlers.campaigns_file import CAMPAIGNS_FILE_SELECTOR, file_key
from uplift_operator.handlers.existence import ExistenceAudit, WatchedAudit, audit_forever
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.handlers.watches import GRAPH_SELECTOR
from uplift_operator.services import campaigns_file

GRAPHS, GRAPH_API = "seldondeployments", "machinelearning.seldon.io/v1"
MODEL = ("UpliftModel", NS, NAME)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


def _graphs(objects: WatchedObjects, api: Any, wakeups: Wakeups, *,
            all_namespaces: bool = False) -> WatchedAudit:
    return WatchedAudit("SeldonDeployment", GRAPH_API, GRAPHS, objects, api, all_namespaces,
                        watches.graph_readers, wakeups)


def _files(objects: WatchedObjects, api: Any, wakeups: Wakeups) -> WatchedAudit:
    return WatchedAudit("ConfigMap", "v1", "configmaps", objects, api, False,
                        watches.file_readers, wakeups)


def _run(audit: WatchedAudit, executor: ThreadPoolExecutor) -> dict[str, tuple[str, str]]:
    return asyncio.run(audit.run(executor))


def test_a_graph_deleted_in_a_watch_gap_is_forgotten_and_applied_again(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    api = ApiServer()
    sim, objects = watched_sim(api)
    uid = api.objects[SELDON]["metadata"]["uid"]
    del api.objects[SELDON]  # deleted while the watch was away: no DELETED event
    for _ in range(3):
        sim.tick(600)  # the resync reads the graph from memory, unchanged: nothing applied
    assert SELDON not in api.objects and objects.get(GRAPHS, NS, NAME) is not None
    wakeups = Wakeups()
    woken = wakeups.register(MODEL, uid="u-1")
    with caplog.at_level(logging.WARNING):
        assert _run(_graphs(objects, api, wakeups), executor) == {uid: (NS, NAME)}
    assert objects.get(GRAPHS, NS, NAME) is None and woken.is_set()
    assert (f"SeldonDeployment {NS}/{NAME} (uid {uid}) is gone from the API server but was "
            f"still kept in memory") in caplog.text
    assert f"the pass of UpliftModel {NS}/{NAME} woken to apply it again" in caplog.text
    assert api.lists == [(GRAPHS, NS, GRAPH_SELECTOR)]
    sim.tick(1)  # the pass it woke
    assert SELDON in api.objects and sim.weights() == {"1": 100}


def test_a_campaigns_config_map_deleted_in_a_watch_gap_is_written_again(
        executor: ThreadPoolExecutor) -> None:
    api = ApiServer()
    watched, objects = operated(api)
    deps = campaigns_file.FileDependencies(watched)
    assert sync(deps, campaign_body()).changed
    uid = api.objects[KEY]["metadata"]["uid"]
    del api.objects[KEY]  # deleted while the watch was away
    for _ in range(3):  # the store holds it: the pass finds its content there
        assert not sync(deps, campaign_body()).changed
    assert KEY not in api.objects
    wakeups = Wakeups()
    woken = wakeups.register(file_key(NS, OWNER.name), uid=OWNER.uid)
    assert _run(_files(objects, api, wakeups), executor) == {uid: (NS, KEY[3])}
    assert woken.is_set() and api.lists == [("configmaps", NS, CAMPAIGNS_FILE_SELECTOR)]
    assert sync(deps, campaign_body()).changed and KEY in api.objects


def _kept(objects: WatchedObjects, api: ApiServer, name: str, namespace: str = NS,
          labelled: bool = True) -> str:
    """A graph in the API server and in the store (its watch listed it); its uid."""
    labels = {"app.kubernetes.io/managed-by": "uplift-operator"} if labelled else {}
    body = {"apiVersion": GRAPH_API, "kind": "SeldonDeployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                              "kind": "UpliftModel", "name": name,
                                              "uid": f"m-{name}", "controller": True}]},
            "spec": {}}
    objects.observe(GRAPHS, api.apply(body, GRAPHS))
    return str(api.objects[(GRAPH_API, GRAPHS, namespace, name)]["metadata"]["uid"])


def test_what_the_list_has_is_kept(executor: ThreadPoolExecutor) -> None:
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    for name in ("a", "b", "c"):
        _kept(objects, api, name)
    wakeups = Wakeups()
    flags = [wakeups.register(("UpliftModel", NS, name)) for name in ("a", "b", "c")]
    assert _run(_graphs(objects, api, wakeups), executor) == {}
    assert set(objects.kept(GRAPHS)) == {f"uid-{v}" for v in (101, 102, 103)}
    assert not any(flag.is_set() for flag in flags)


def test_a_name_taken_again_while_the_list_ran_is_kept(executor: ThreadPoolExecutor) -> None:
    """The old object's ghost is compared, by uid: the new one the store got meanwhile stays."""
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    _kept(objects, api, "a")
    del api.objects[(GRAPH_API, GRAPHS, NS, "a")]
    listing = api.list_uids

    def recreated_during(*args: Any, **kwargs: Any) -> set[str]:
        found = listing(*args, **kwargs)
        _kept(objects, api, "a")  # created again after the LIST's moment, its event handled
        return found

    api.list_uids = recreated_during  # type: ignore[method-assign]
    assert _run(_graphs(objects, api, Wakeups()), executor) == {"uid-101": (NS, "a")}
    kept = objects.get(GRAPHS, NS, "a")
    assert kept is not None and kept["metadata"]["uid"] == "uid-102"


def test_an_object_kept_after_the_list_began_is_not_compared_with_it(
        executor: ThreadPoolExecutor) -> None:
    """Created (the operator's own apply) after the LIST's moment: absent from it, not gone."""
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    _kept(objects, api, "a")
    listing = api.list_uids

    def applied_during(*args: Any, **kwargs: Any) -> set[str]:
        found = listing(*args, **kwargs)
        _kept(objects, api, "new")
        del api.objects[(GRAPH_API, GRAPHS, NS, "new")]  # as if listed before it came
        return found

    api.list_uids = applied_during  # type: ignore[method-assign]
    assert _run(_graphs(objects, api, Wakeups()), executor) == {}
    assert objects.get(GRAPHS, NS, "new") is not None


def test_a_failed_list_forgets_nothing(executor: ThreadPoolExecutor,
                                       caplog: pytest.LogCaptureFixture) -> None:
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    _kept(objects, api, "a")
    api.objects.clear()

    def unavailable(*_: Any, **__: Any) -> set[str]:
        raise KubeError("list seldondeployments: 503 the server is currently unable to handle "
                        "the request", 503)

    api.list_uids = unavailable  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        assert _run(_graphs(objects, api, Wakeups()), executor) == {}
    assert objects.get(GRAPHS, NS, "a") is not None
    assert "existence audit of SeldonDeployment: the LIST failed, nothing concluded" in caplog.text


def test_one_list_per_namespace_kept_none_per_resource(executor: ThreadPoolExecutor) -> None:
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    for index in range(300):
        _kept(objects, api, f"m{index}", namespace=f"team-{index % 3}")
    assert _run(_graphs(objects, api, Wakeups()), executor) == {}
    assert api.lists == [(GRAPHS, f"team-{index}", GRAPH_SELECTOR) for index in range(3)]
    api.lists.clear()
    assert _run(_graphs(objects, api, Wakeups(), all_namespaces=True), executor) == {}
    assert api.lists == [(GRAPHS, None, GRAPH_SELECTOR)]
    assert api.gets == []


def test_nothing_kept_lists_nothing(executor: ThreadPoolExecutor) -> None:
    """A stand-by replica, or no graph yet."""
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    assert _run(_graphs(objects, api, Wakeups(), all_namespaces=True), executor) == {}
    assert api.lists == []


def test_a_namespace_that_cannot_be_listed_concludes_nothing_of_itself(
        executor: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture) -> None:
    api = ApiServer()
    objects = WatchedObjects([GRAPHS], selectors={GRAPHS: watches.GRAPH_LABELS})
    ghost = _kept(objects, api, "a", namespace="team-a")
    _kept(objects, api, "b", namespace="gone")
    api.objects.clear()
    listing = api.list_uids

    def forbidden_in_gone(api_version: str, plural: str, namespace: str | None = None, *,
                          label_selector: str = "") -> set[str]:
        if namespace == "gone":
            raise KubeError('seldondeployments is forbidden: User cannot list resource '
                            '"seldondeployments" in the namespace "gone"', 403)
        return listing(api_version, plural, namespace, label_selector=label_selector)

    api.list_uids = forbidden_in_gone  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        assert _run(_graphs(objects, api, Wakeups()), executor) == {ghost: ("team-a", "a")}
    assert objects.get(GRAPHS, "gone", "b") is not None
    assert "namespace 'gone' cannot be listed" in caplog.text


def test_file_readers_are_its_models_campaigns_files() -> None:
    body = {"metadata": {"namespace": NS, "name": "m-campaigns",
                         "labels": {"uplift.dev/model": "m"},
                         "ownerReferences": [
                             {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                              "name": "old", "uid": "u"},
                             {"apiVersion": "other.io/v1", "kind": "UpliftModel", "name": "x",
                              "uid": "o"}]}}
    assert watches.file_readers(body) == {file_key(NS, "m"), file_key(NS, "old")}
    assert watches.graph_readers(body) == {("UpliftModel", NS, "old")}


def test_the_children_are_audited_at_each_interval_before_the_kinds_and_never_exit(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    order: list[str] = []

    class Child:
        kind = "SeldonDeployment"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, tuple[str, str]]:
            order.append("child")
            return {"uid-9": (NS, "ghost")}

    class Kind:
        kind = "UpliftModel"
        not_served = None  # no LIST answered 404

        async def run(self, pool: object) -> dict[str, Key]:
            order.append("kind")
            return {}

    async def go() -> None:
        task = asyncio.create_task(audit_forever(
            [Kind()], executor, interval=0.01, children=[Child()]))  # type: ignore[list-item]
        for _ in range(500):
            if len(order) >= 6:
                break
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()

    asyncio.run(go())
    assert order[:6] == ["child", "kind"] * 3 and terminations == []


@pytest.mark.parametrize(("args", "all_namespaces"), [(["--namespace", "team-a"], False),
                                                      (["--all-namespaces"], True)])
def test_started_with_the_graphs_and_campaigns_files_kept_in_memory(
        monkeypatch: pytest.MonkeyPatch, executor: ThreadPoolExecutor, args: list[str],
        all_namespaces: bool) -> None:
    started: list[list[WatchedAudit]] = []

    async def recorded(audits: list[ExistenceAudit], pool: object, *,
                       children: list[WatchedAudit], **_: object) -> None:
        started.append(children)

    monkeypatch.setattr(existence, "audit_forever", recorded)
    objects, wakeups, cluster = WatchedObjects([]), Wakeups(), ApiServer()
    memo = kopf.Memo(config=settings.parse_args(args), wakeups=wakeups, pass_executor=executor,
                     watched_objects=objects, uplift_dependencies=SimpleNamespace(cluster=cluster))

    async def go() -> None:
        existence.start(memo)
        await memo["existence_audit"]

    asyncio.run(go())
    [children] = started
    readers: list[Callable[..., object]] = [watches.graph_readers, watches.file_readers]
    assert [(c.kind, c.api_version, c.plural, c.readers, c.all_namespaces) for c in children] == [
        ("SeldonDeployment", GRAPH_API, GRAPHS, readers[0], all_namespaces),
        ("ConfigMap", "v1", "configmaps", readers[1], all_namespaces)]
    assert all(c.objects is objects and c.cluster is cluster and c.wakeups is wakeups
               for c in children)


def test_the_lists_ask_for_what_the_watches_select(executor: ThreadPoolExecutor) -> None:
    """The selector each LIST sends is the one its kind's watch is given (handlers.lifecycle):
    what the store keeps, nothing more (every ConfigMap of the cluster), nothing less."""
    api = ApiServer()
    watched, objects = operated(api)
    deps = campaigns_file.FileDependencies(watched)
    sync(deps, campaign_body())
    assert api.objects[KEY]["metadata"]["labels"]  # the file as rendered carries the labels
    _run(_files(objects, api, Wakeups()), executor)
    objects.observe(GRAPHS, api.apply({"apiVersion": GRAPH_API, "kind": "SeldonDeployment",
                                       "metadata": {"name": "g", "namespace": NS, "labels": {
                                           "app.kubernetes.io/managed-by": "uplift-operator"}},
                                       "spec": {}}, GRAPHS))
    _run(_graphs(objects, api, Wakeups()), executor)
    assert api.lists == [("configmaps", NS, CAMPAIGNS_FILE_SELECTOR),
                         (GRAPHS, NS, GRAPH_SELECTOR)]
    assert objects.get("configmaps", NS, KEY[3]) is not None and objects.get(GRAPHS, NS, "g")
