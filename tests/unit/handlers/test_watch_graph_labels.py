"""Only the operator's own SeldonDeployments are watched and kept (the API server selects them
by ``app.kubernetes.io/managed-by``): another team's plain Seldon models in the watched
namespaces are neither listed, watched nor kept. A graph whose label was removed by hand is
forgotten (the selected watch says DELETED), read from the API server at each pass without being
kept stale, and its model's pass is woken but finds it there, unchanged: nothing is read as a
deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from kubernetes.config import kube_config

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects, label_selector
from uplift_operator.handlers import lifecycle, watches
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

API, PLURAL = "machinelearning.seldon.io/v1", "seldondeployments"
KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""
configure = cast(Callable[..., None], lifecycle.configure)
stop_passes = cast(Callable[..., None], lifecycle.stop_passes)


def test_the_graphs_watch_is_selected_by_the_label_every_rendered_graph_carries(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]))
    operator_settings = kopf.OperatorSettings()
    configure(settings=operator_settings, memo=memo)
    graphs = kopf.Resource("machinelearning.seldon.io", "v1", "seldondeployments")
    others = kopf.Resource("machinelearning.seldon.io", "v1", "seldondeploymentsx")
    selectors = operator_settings.watching.label_selectors
    assert selectors.collect(graphs) == ["app.kubernetes.io/managed-by=uplift-operator"]
    assert selectors.collect(others) == []
    objects: WatchedObjects = memo["watched_objects"]
    rendered = {"metadata": {"labels": naming.labels(Owner("m", "ns", "u1"))}}  # as rendered
    assert objects.selected(PLURAL, rendered)
    assert not objects.selected(PLURAL, {"metadata": {"labels": {"team": "fraud"}}})
    # The campaigns ConfigMaps likewise, by the labels their watch selects by: a team's own
    # ConfigMap of a model's file name is not kept. The absence of both kinds is remembered,
    # but not taken for good: a pass reads again before it writes over one
    # (services.campaigns_file, services.upliftmodel._apply).
    files = kopf.Resource("", "v1", "configmaps")
    [selector] = selectors.collect(files)
    assert selector == label_selector(objects.selectors["configmaps"])
    assert objects.selected("configmaps", {"metadata": {"labels": naming.labels(
        Owner("m", "ns", "u1"))}})
    assert not objects.selected("configmaps", {"metadata": {}})
    assert objects.absence_kept == {"configmaps", "seldondeployments"}
    stop_passes(memo=memo)


class _Api:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.gets = 0

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        self.gets += 1
        return self.objects.get((plural, namespace, name))

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        raise AssertionError("nothing applied here")

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        raise AssertionError("nothing deleted here")

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        return {}

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        return True


def _graph(version: int, *, labelled: bool = True, name: str = "m",
           owner: str = "m") -> dict[str, Any]:
    labels = {naming.MANAGED_BY_LABEL: naming.MANAGED_BY, naming.MODEL_LABEL: owner}
    return {"apiVersion": API, "kind": "SeldonDeployment",
            "metadata": {"namespace": "ns", "name": name, "uid": f"sd-{name}",
                         "resourceVersion": str(version),
                         "labels": labels if labelled else {"team": "fraud"},
                         "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                              "kind": "UpliftModel", "name": owner,
                                              "uid": f"u-{owner}", "controller": True}]},
            "spec": {"predictors": [{"name": "v1", "traffic": 100}]}}


def _store() -> WatchedObjects:
    return WatchedObjects(["upliftmodels", PLURAL, "configmaps"],
                          selectors={PLURAL: watches.GRAPH_LABELS})


def _event(handler: Any, kind: str, body: dict[str, Any], memo: kopf.Memo) -> None:
    asyncio.run(handler(event={"type": kind, "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo))


def test_a_graph_without_the_label_is_read_at_each_pass_and_never_kept() -> None:
    """Someone else's graph under a model's name (ServingConflict), or the model's own whose
    label was removed: the watch never brings its changes, so a kept copy would go stale."""
    api, objects = _Api(), _store()
    cluster = WatchedCluster(api, objects)
    api.objects[(PLURAL, "ns", "m")] = _graph(5, labelled=False)
    for _ in range(3):
        assert cluster.get(API, PLURAL, "ns", "m") == _graph(5, labelled=False)
    assert api.gets == 3 and objects.get(PLURAL, "ns", "m") is None
    api.objects[(PLURAL, "ns", "m")] = _graph(6)  # labelled again (the operator's apply)
    cluster.get(API, PLURAL, "ns", "m")
    cluster.get(API, PLURAL, "ns", "m")
    assert api.gets == 4  # kept from then on: its watch brings its changes


def test_the_absence_of_a_graph_is_not_remembered() -> None:
    """A graph created under the model's name without the label sends no event: a remembered
    404 would let the model's pass apply over it, taking someone else's graph."""
    api, objects = _Api(), _store()
    cluster = WatchedCluster(api, objects)
    assert cluster.get(API, PLURAL, "ns", "m") is None
    assert not objects.absent(PLURAL, "ns", "m")
    api.objects[(PLURAL, "ns", "m")] = _graph(5, labelled=False)
    assert cluster.get(API, PLURAL, "ns", "m") == _graph(5, labelled=False)
    # Other kinds still remember a 404 (a model without Campaigns has no campaigns ConfigMap).
    assert cluster.get("v1", "configmaps", "ns", "m-campaigns") is None
    assert objects.absent("configmaps", "ns", "m-campaigns")


def test_a_graph_whose_label_was_removed_is_forgotten_and_its_model_woken_not_deleted() -> None:
    api, objects = _Api(), _store()
    wakeups = Wakeups()
    flag = wakeups.register(("UpliftModel", "ns", "m"), "u-m")
    memo = kopf.Memo(watched_objects=objects, wakeups=wakeups,
                     uplift_dependencies=SimpleNamespace(rolls=None))
    objects.observe("upliftmodels", {"metadata": {"namespace": "ns", "name": "m",
                                                  "uid": "u-m", "resourceVersion": "1"}})
    objects.observe(PLURAL, _graph(5))  # the operator's own apply
    # The label removed by hand: the selected watch sends DELETED, with the graph as it was
    # (its labels) at the new resourceVersion.
    _event(watches.child_changed, "DELETED", _graph(6), memo)
    assert objects.get(PLURAL, "ns", "m") is None
    assert flag.is_set()  # the model's pass looks
    api.objects[(PLURAL, "ns", "m")] = _graph(6, labelled=False)
    read = WatchedCluster(api, objects).get(API, PLURAL, "ns", "m")
    assert read == _graph(6, labelled=False)  # there, unchanged: nothing to decide of it
    assert objects.get(PLURAL, "ns", "m") is None and not objects.absent(PLURAL, "ns", "m")


def test_an_unlabelled_version_of_a_kept_graph_drops_it() -> None:
    objects = _store()
    objects.observe(PLURAL, _graph(5))
    objects.observe(PLURAL, _graph(4, labelled=False))  # older: changes nothing
    assert objects.get(PLURAL, "ns", "m") is not None
    objects.observe(PLURAL, _graph(6, labelled=False))
    assert objects.get(PLURAL, "ns", "m") is None
