"""adapters.watched: reads of watched kinds from memory, never older than the operator's apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects, label_selector

API, PLURAL = "machinelearning.seldon.io/v1", "seldondeployments"


class _Api:
    """The API server: objects by (plural, namespace, name), and every call counted."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[str] = []
        self.version = 100

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        self.calls.append("apply")
        self.version += 1
        meta = {**manifest["metadata"], "resourceVersion": str(self.version)}
        body = {**manifest, "metadata": meta}
        self.objects[(plural, meta["namespace"], meta["name"])] = body
        return body

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        self.calls.append(f"get {plural}")
        return self.objects.get((plural, namespace, name))

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        self.calls.append("delete")
        return self.objects.pop((plural, namespace, name), None) is not None

    def secret_values(self, namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        self.calls.append("get secrets")
        return {}

    def create_secret(self, manifest: Mapping[str, Any]) -> bool:
        return True


def _body(name: str, version: int, weight: int) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "SeldonDeployment",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version)},
            "spec": {"predictors": [{"name": "v1", "traffic": weight}]}}


def test_a_watched_object_is_read_from_memory_after_one_get() -> None:
    api = _Api()
    api.objects[(PLURAL, "ns", "um")] = _body("um", 5, 100)
    cluster = WatchedCluster(api, WatchedObjects([PLURAL]))
    for _ in range(3):
        assert cluster.get(API, PLURAL, "ns", "um") == _body("um", 5, 100)
    assert api.calls == [f"get {PLURAL}"]
    cluster.get("v1", "configmaps", "ns", "x")  # a kind not watched: always asked
    cluster.get("v1", "configmaps", "ns", "x")
    assert api.calls.count("get configmaps") == 2


def test_a_watch_event_replaces_the_body_and_an_older_one_does_not() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    objects.observe(PLURAL, _body("um", 7, 90))
    objects.observe(PLURAL, _body("um", 6, 100))  # late event of an older version
    read = cluster.get(API, PLURAL, "ns", "um")
    assert read is not None
    assert read["spec"]["predictors"][0]["traffic"] == 90
    assert api.calls == []


def test_the_operators_own_apply_is_seen_by_the_next_read_before_its_event() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    objects.observe(PLURAL, _body("um", 100, 100))
    cluster.apply(_body("um", 0, 70), PLURAL)  # the API answers with resourceVersion 101
    objects.observe(PLURAL, _body("um", 100, 100))  # the event of the state before it
    read = cluster.get(API, PLURAL, "ns", "um")
    assert read is not None
    assert read["spec"]["predictors"][0]["traffic"] == 70


def test_a_deleted_object_is_asked_for_again() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    objects.observe(PLURAL, _body("um", 3, 100))
    objects.forget(PLURAL, "ns", "um")  # the DELETED event
    assert cluster.get(API, PLURAL, "ns", "um") is None
    assert api.calls == [f"get {PLURAL}"]


def test_a_late_deleted_event_keeps_the_object_that_took_the_name_since() -> None:
    objects = WatchedObjects([PLURAL])

    def body(uid: str, version: str) -> dict[str, Any]:
        return {"metadata": {"namespace": "ns", "name": "sd", "uid": uid,
                             "resourceVersion": version}}

    objects.observe(PLURAL, body("new", "7"))
    objects.forget(PLURAL, "ns", "sd", "old")  # the old object's DELETED event, handled late
    assert objects.get(PLURAL, "ns", "sd") == body("new", "7")
    objects.forget(PLURAL, "ns", "sd", "new")
    assert objects.get(PLURAL, "ns", "sd") is None


def test_a_live_read_asks_the_api_server_and_drops_what_it_no_longer_has() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    objects.observe(PLURAL, _body("um", 3, 100))  # its DELETED event never came
    assert cluster.read_live(API, PLURAL, "ns", "um") is None
    assert api.calls == [f"get {PLURAL}"]
    assert objects.get(PLURAL, "ns", "um") is None
    api.objects[(PLURAL, "ns", "um")] = _body("um", 9, 80)
    assert cluster.read_live(API, PLURAL, "ns", "um") == _body("um", 9, 80)
    assert objects.get(PLURAL, "ns", "um") == _body("um", 9, 80)


def test_an_absent_object_is_asked_for_once_until_it_shows_up() -> None:
    """Nothing heard of it yet (before its watch listed it, after a restart): one read; the
    404 is remembered, so later passes ask nothing, until an event or the operator's own apply
    brings the object, or its DELETED event sends the store back to one read."""
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    for _ in range(3):
        assert cluster.get(API, PLURAL, "ns", "um") is None
    assert api.calls == [f"get {PLURAL}"] and objects.absent(PLURAL, "ns", "um")
    objects.observe(PLURAL, _body("um", 4, 100))  # its ADDED event
    assert cluster.get(API, PLURAL, "ns", "um") == _body("um", 4, 100)
    assert api.calls == [f"get {PLURAL}"] and not objects.absent(PLURAL, "ns", "um")
    objects.forget(PLURAL, "ns", "um")  # its DELETED event: read once again, then known absent
    assert cluster.get(API, PLURAL, "ns", "um") is None
    assert cluster.get(API, PLURAL, "ns", "um") is None
    assert api.calls == [f"get {PLURAL}"] * 2
    cluster.apply(_body("um", 0, 100), PLURAL)  # the operator creates it: no read after
    assert cluster.get(API, PLURAL, "ns", "um") is not None
    assert api.calls == [f"get {PLURAL}"] * 2 + ["apply"]


def test_a_404_answered_while_an_event_brought_the_object_is_not_remembered() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()

    def get_racing_its_creation(api_version: str, plural: str, namespace: str,
                                name: str) -> dict[str, Any] | None:
        api.calls.append(f"get {plural}")
        objects.observe(PLURAL, _body("um", 5, 100))  # created, and its event handled, meanwhile
        return None  # the API server answered before the creation

    api.get = get_racing_its_creation  # type: ignore[method-assign]
    cluster = WatchedCluster(api, objects)
    assert cluster.get(API, PLURAL, "ns", "um") is None
    assert not objects.absent(PLURAL, "ns", "um")
    assert cluster.get(API, PLURAL, "ns", "um") == _body("um", 5, 100)
    assert api.calls == [f"get {PLURAL}"]


def test_an_absence_nobody_looks_for_is_forgotten() -> None:
    objects = WatchedObjects([PLURAL])
    api = _Api()
    cluster = WatchedCluster(api, objects)
    assert cluster.get(API, PLURAL, "ns", "um") is None
    objects.forget_absent(PLURAL, "ns", "um")
    assert not objects.absent(PLURAL, "ns", "um")
    objects.observe(PLURAL, _body("kept", 3, 100))
    objects.forget_absent(PLURAL, "ns", "kept")  # an object the store holds stays
    assert objects.get(PLURAL, "ns", "kept") == _body("kept", 3, 100)


# -- kinds selected by label ---------------------------------------------------------------------

CAMPAIGNS = {"app.kubernetes.io/managed-by": "uplift-operator", "uplift.dev/model": None}


def _config_map(labels: dict[str, str] | None, uid: str = "cm-1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "m-campaigns", "namespace": "ns", "uid": uid,
                            "resourceVersion": "5"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {}}


def test_a_label_selected_as_present_is_selected_whatever_its_value() -> None:
    """The campaigns ConfigMaps' watch selects ``uplift.dev/model`` by its presence: the store
    keeps what that watch keeps fresh, and the selector says the same as the watch's."""
    objects = WatchedObjects(["configmaps"], selectors={"configmaps": CAMPAIGNS})
    ours = {"app.kubernetes.io/managed-by": "uplift-operator", "uplift.dev/model": "m"}
    assert objects.selected("configmaps", _config_map(ours))
    assert not objects.selected("configmaps", _config_map(
        {"app.kubernetes.io/managed-by": "uplift-operator"}))  # no model label
    assert not objects.selected("configmaps", _config_map({"uplift.dev/model": "m"}))
    assert not objects.selected("configmaps", _config_map(None))
    objects.observe("configmaps", _config_map(None))  # someone else's: not kept stale
    assert objects.get("configmaps", "ns", "m-campaigns") is None
    assert label_selector(CAMPAIGNS) == ("app.kubernetes.io/managed-by=uplift-operator,"
                                         "uplift.dev/model")


def test_a_label_selected_kind_remembers_an_absence_only_when_named_so() -> None:
    """One created without the labels sends no event: its absence is not remembered (the pass
    would take the name), unless the kind's passes read it again before they write over it."""
    api = _Api()
    plain = WatchedCluster(api, WatchedObjects(["configmaps"],
                                               selectors={"configmaps": CAMPAIGNS}))
    assert plain.get("v1", "configmaps", "ns", "m-campaigns") is None
    assert plain.get("v1", "configmaps", "ns", "m-campaigns") is None
    assert api.calls == ["get configmaps"] * 2
    api.calls.clear()
    objects = WatchedObjects(["configmaps"], selectors={"configmaps": CAMPAIGNS},
                             absence_kept=["configmaps"])
    kept = WatchedCluster(api, objects)
    assert kept.get("v1", "configmaps", "ns", "m-campaigns") is None
    assert kept.get("v1", "configmaps", "ns", "m-campaigns") is None
    assert api.calls == ["get configmaps"] and objects.absent("configmaps", "ns", "m-campaigns")


def test_what_is_kept_of_a_kind_by_uid() -> None:
    """What the existence audit compares with its LIST (``handlers.existence``)."""
    objects = WatchedObjects([PLURAL, "configmaps"])
    graph = {**_body("um", 3, 100)}
    graph["metadata"] = {**graph["metadata"], "uid": "sd-1"}
    objects.observe(PLURAL, graph)
    objects.observe(PLURAL, _body("no-uid", 4, 100))  # nothing to compare: left out
    objects.observe("configmaps", _config_map(None))
    assert objects.kept(PLURAL) == {"sd-1": ("ns", "um", graph)}
    assert set(objects.kept("configmaps")) == {"cm-1"}
    assert objects.kept("secrets") == {}
