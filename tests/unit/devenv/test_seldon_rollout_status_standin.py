"""The Seldon stand-in plays ``Creating`` first for a generation that changes a Deployment's pod
template or adds one, as Seldon Core 1.17.1's reconcile that updates or creates it writes
(``createDeployments``: ``ready = false``), then ``Available``; a change of ``traffic`` alone
(or of a predictor's ``replicas``: Seldon's executor zeroes both in ``ENGINE_PREDICTOR``) rolls
no pod and is ``Available`` at once. Against an in-memory API that applies merge patches."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from uplift_operator.devenv.seldon_standin import (
    SeldonStandIn,
    pod_templates,
    rolling_status,
    seldon_status,
)
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend, deployment_names
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000004")
BACKEND = SeldonV1Backend()


def graph(split: TrafficSplit, image: str = "runtime:1", replicas: int = 2,
          generation: int = 1) -> dict[str, Any]:
    runtime = RuntimeSettings(image=image, registered_model="hillstrom",
                              tracking_uri="http://mlflow:5000", replicas=replicas)
    child = BACKEND.render(OWNER, runtime, split)
    child["metadata"].update(generation=generation, uid=OWNER.uid)
    return child


def names(child: dict[str, Any]) -> list[str]:
    return [deployment_names("uplift", p)[0] for p in child["spec"]["predictors"]]


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """RFC 7386: what the API server does with a merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeApi:
    """The custom objects API of one SeldonDeployment, recording the statuses written."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.written: list[dict[str, Any]] = []

    def list_cluster_custom_object(self, *_: Any) -> dict[str, Any]:
        return {"items": [copy.deepcopy(self.body)], "metadata": {"resourceVersion": "1"}}

    def get_namespaced_custom_object(self, *_: Any) -> dict[str, Any]:
        return copy.deepcopy(self.body)

    def patch_namespaced_custom_object_status(self, *args: Any) -> None:
        merge(self.body, args[-1])
        self.written.append(copy.deepcopy(self.body["status"]))

    def edit(self, child: dict[str, Any]) -> None:
        """A new generation of the graph: the spec changes, the status stays."""
        self.body = {**child, "status": self.body.get("status", {})}


def stand_in(api: FakeApi, rollout_seconds: float = 0.0) -> SeldonStandIn:
    standin = SeldonStandIn(client.ApiClient(), interval=0.01, rollout_seconds=rollout_seconds)
    standin._api = api  # type: ignore[assignment]
    return standin


def test_a_first_graph_is_creating_without_entries_then_available() -> None:
    child = graph(TrafficSplit("1"))
    api = FakeApi(copy.deepcopy(child))
    stand_in(api).reconcile_once()
    creating, available = api.written
    assert creating == {"state": "Creating", "deploymentStatus": {}}
    assert available == seldon_status(child)


def test_an_image_change_is_creating_with_the_old_entries_then_available() -> None:
    """The note "the stand-in does not write Creating on an image-only change": Seldon does
    (the Deployment's pod template differs: ``r.Update``, then ``ready = false``), keeping
    the entry it wrote before, as this now plays."""
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api)
    standin.reconcile_once()
    old = api.written[-1]
    api.edit(graph(TrafficSplit("1"), image="runtime:2", generation=2))
    standin.reconcile_once()
    creating, available = api.written[2:]
    assert creating["state"] == "Creating"
    assert creating["deploymentStatus"] == old["deploymentStatus"]
    assert available["state"] == "Available" and standin.updates == 4


def test_a_traffic_change_rolls_no_pod_and_is_available_at_once() -> None:
    api = FakeApi(graph(TrafficSplit("1", "2", 10)))
    standin = stand_in(api)
    standin.reconcile_once()
    api.edit(graph(TrafficSplit("1", "2", 50), generation=2))
    standin.reconcile_once()
    assert [s["state"] for s in api.written] == ["Creating", "Available", "Available"]


def test_a_canary_added_is_creating_with_only_the_stable_entry() -> None:
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api)
    standin.reconcile_once()
    canary = graph(TrafficSplit("1", "2", 0), generation=2)
    api.edit(canary)
    standin.reconcile_once()
    stable_name, canary_name = names(canary)
    creating, available = api.written[2:]
    assert creating["state"] == "Creating"
    assert set(creating["deploymentStatus"]) == {stable_name}
    assert set(available["deploymentStatus"]) == {stable_name, canary_name}


def test_a_promotion_rolls_no_pod_and_is_available_at_once() -> None:
    """The promoted predictor keeps its pod template: its role (canary → stable) is in the
    SeldonDeployment's own annotations, which Seldon copies onto no pod, not in the predictor's,
    which the executor's ``ENGINE_PREDICTOR`` carries. Only the old stable's predictor goes."""
    before = graph(TrafficSplit("1", "2", 100))
    api = FakeApi(before)
    standin = stand_in(api)
    standin.reconcile_once()
    after = graph(TrafficSplit("2"), generation=2)
    assert pod_templates(before)[names(after)[0]] == pod_templates(after)[names(after)[0]]
    api.edit(after)
    standin.reconcile_once()
    assert [s["state"] for s in api.written] == ["Creating", "Available", "Available"]
    assert set(api.written[-1]["deploymentStatus"]) == set(names(after))


def test_a_predictor_annotation_change_rolls_its_pods() -> None:
    """What the promotion did while the role was a predictor annotation (operators before the
    roles annotation): the changed annotation is in ``ENGINE_PREDICTOR``, so Seldon rolls that
    Deployment's pods; the removed predictor's entry stays while Creating (Seldon drops it
    once the graph is ready)."""
    def legacy(child: dict[str, Any], roles: dict[str, str]) -> dict[str, Any]:
        child = copy.deepcopy(child)
        del child["metadata"]["annotations"]
        for p in child["spec"]["predictors"]:
            p["annotations"]["uplift.dev/role"] = roles[p["annotations"]["version"]]
        return child

    before = legacy(graph(TrafficSplit("1", "2", 100)), {"1": "stable", "2": "canary"})
    api = FakeApi(before)
    standin = stand_in(api)
    standin.reconcile_once()
    after = legacy(graph(TrafficSplit("2"), generation=2), {"2": "stable"})
    assert pod_templates(before)[names(after)[0]] != pod_templates(after)[names(after)[0]]
    api.edit(after)
    standin.reconcile_once()
    creating, available = api.written[2:]
    assert creating["state"] == "Creating" and set(creating["deploymentStatus"]) == set(
        names(before))
    assert set(available["deploymentStatus"]) == set(names(after))


def test_what_rolls_pods_and_what_does_not() -> None:
    base = pod_templates(graph(TrafficSplit("1", "2", 10)))
    assert pod_templates(graph(TrafficSplit("1", "2", 60))) == base  # traffic: zeroed
    # Replicas are zeroed in ENGINE_PREDICTOR too, but the runtime container carries the count
    # (render.seldon.REPLICAS_ENV): a replicas change rolls, so Seldon applies it whether or not
    # it would apply a count alone (render.seldon, "Replicas").
    replicas = pod_templates(graph(TrafficSplit("1", "2", 10), replicas=5))
    assert all(replicas[d] != base[d] for d in base)
    image = pod_templates(graph(TrafficSplit("1", "2", 10), image="runtime:2"))
    assert all(image[d] != base[d] for d in base)


def test_the_status_of_the_reconcile_that_rolls() -> None:
    child = graph(TrafficSplit("1", "2", 10))
    stable, canary = names(child)
    child["status"] = {**seldon_status(child), "description": "x"}
    child["status"]["deploymentStatus"]["gone"] = {"replicas": 1, "availableReplicas": 1}
    status = rolling_status(child, {canary})
    assert status["state"] == "Creating" and "description" not in status
    assert status["deploymentStatus"]["gone"] == {"replicas": 1, "availableReplicas": 1}
    assert status["deploymentStatus"][stable] == {"replicas": 2, "availableReplicas": 2}
    assert status["replicas"] == 2 and "address" in status


def test_a_stand_in_started_after_seldon_wrote_rolls_nothing_it_cannot_know_of() -> None:
    child = graph(TrafficSplit("1"))
    api = FakeApi({**child, "status": seldon_status(child)})
    stand_in(api).reconcile_once()
    assert [s["state"] for s in api.written] == ["Available"]


def test_with_a_rollout_time_available_comes_that_much_later() -> None:
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api, rollout_seconds=0.05)
    standin.reconcile_once()
    assert [s["state"] for s in api.written] == ["Creating"]
    standin.reconcile_once()  # the same generation again (a relist): nothing new
    assert len(api.written) == 1
    standin._finisher.start()
    try:
        deadline = time.monotonic() + 5
        while len(api.written) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        standin.stop()
    assert [s["state"] for s in api.written] == ["Creating", "Available"]
    standin.reconcile_once()
    assert len(api.written) == 2  # marked


def test_a_newer_generation_supersedes_a_rollout_under_way() -> None:
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api, rollout_seconds=0.05)
    standin.reconcile_once()
    api.edit(graph(TrafficSplit("1"), image="runtime:2", generation=2))
    standin.reconcile_once()
    standin._finisher.start()
    try:
        deadline = time.monotonic() + 5
        while api.written[-1]["state"] != "Available" and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
    finally:
        standin.stop()
    assert [s["state"] for s in api.written] == ["Creating", "Creating", "Available"]


def test_a_traffic_step_during_a_rollout_does_not_cut_it_short() -> None:
    """Before: a generation that changed no pod template dropped the rollout under way and
    wrote Available at once, so a canary just added read Available before its pods could."""
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api, rollout_seconds=0.2)
    standin.reconcile_once()  # the first graph: Creating, Available due later
    api.edit(graph(TrafficSplit("1", "2", 10), generation=2))
    standin.reconcile_once()  # a canary added: Creating
    api.edit(graph(TrafficSplit("1", "2", 20), generation=3))
    standin.reconcile_once()  # a step, traffic only: still Creating
    assert [s["state"] for s in api.written] == ["Creating"] * 3
    standin._finisher.start()
    try:
        deadline = time.monotonic() + 5
        while api.written[-1]["state"] != "Available" and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        standin.stop()
    assert [s["state"] for s in api.written] == ["Creating"] * 3 + ["Available"]


def test_a_failed_write_keeps_the_rollout_under_way() -> None:
    """Before: the pending rollout was dropped before the write; a write that failed (the API
    server restarting) lost it, and the next look wrote Available at once."""
    api = FakeApi(graph(TrafficSplit("1")))
    standin = stand_in(api, rollout_seconds=60)
    standin.reconcile_once()  # the first graph: Creating, Available due in a minute
    api.edit(graph(TrafficSplit("1", "2", 0), generation=2))
    standin.reconcile_once()  # a canary added: Creating
    api.edit(graph(TrafficSplit("1", "2", 10), generation=3))  # a step, its write refused
    write = api.patch_namespaced_custom_object_status

    def refused(*args: Any) -> None:
        raise ApiException(status=503, reason="the API server is restarting")

    api.patch_namespaced_custom_object_status = refused  # type: ignore[method-assign]
    with pytest.raises(ApiException):
        standin.reconcile_once()
    api.patch_namespaced_custom_object_status = write  # type: ignore[method-assign]
    api.edit(graph(TrafficSplit("1", "2", 20), generation=4))  # the next step
    standin.reconcile_once()
    assert [s["state"] for s in api.written] == ["Creating"] * 3


def test_an_unexpected_error_in_the_watch_does_not_end_the_stand_in(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch thread lists again after any error: one that ended it (a KeyError from the
    client reading os.environ while pytest rewrote it) left every later graph without a status."""
    standin = SeldonStandIn(client.ApiClient(), interval=0.01)
    lists: list[float] = []

    def reconcile_once() -> str:
        lists.append(time.monotonic())
        return "1"

    def follow(version: str) -> str | None:
        if len(lists) == 1:
            raise KeyError("PYTEST_CURRENT_TEST")
        time.sleep(0.01)
        return version

    monkeypatch.setattr(standin, "reconcile_once", reconcile_once)
    monkeypatch.setattr(standin, "_follow", follow)
    standin.start()
    try:
        deadline = time.monotonic() + 5
        while len(lists) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(lists) == 2 and standin._thread.is_alive()
    finally:
        standin.stop()
