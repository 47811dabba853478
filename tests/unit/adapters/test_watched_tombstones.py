"""An object dropped from the watched store is not brought back by a read answered before it
went (``adapters.watched``): a pass's GET answered just before the DELETED event was handled,
observed just after, re-added the deleted object for good (no event would drop it again). Now
``forget`` leaves a tombstone (uid → resourceVersion, a few minutes, bounded) and ``observe``
refuses a body of that uid not newer than it."""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.adapters import watched
from uplift_operator.adapters.watched import TOMBSTONE_SECONDS, WatchedCluster, WatchedObjects

PLURAL = "upliftmodels"


def _body(version: str, uid: str = "u1") -> dict[str, Any]:
    return {"metadata": {"name": "m", "namespace": "ns", "uid": uid,
                         "resourceVersion": version}, "status": {"phase": "Healthy"}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Late:
    """The API server answered the read (the object still there) just before its deletion."""

    def __init__(self, body: dict[str, Any] | None) -> None:
        self.body = body

    def get(self, *_: Any) -> dict[str, Any] | None:
        return None if self.body is None else dict(self.body)


def test_a_read_answered_before_the_deleted_event_does_not_bring_it_back() -> None:
    objects = WatchedObjects([PLURAL])
    live = WatchedCluster(Late(_body("7")), objects)  # type: ignore[arg-type]
    objects.observe(PLURAL, _body("7"))
    objects.forget(PLURAL, "ns", "m", "u1")  # its DELETED event, handled on the loop
    assert live.read_live("uplift.dev/v1alpha1", PLURAL, "ns", "m") == _body("7")  # the pass's
    assert objects.get(PLURAL, "ns", "m") is None
    assert live.get("uplift.dev/v1alpha1", PLURAL, "ns", "m") == _body("7")  # read, not kept
    assert objects.get(PLURAL, "ns", "m") is None


def test_an_object_never_kept_is_not_brought_back_either() -> None:
    """Its DELETED event came before anything was kept of it (its version then unknown)."""
    objects = WatchedObjects([PLURAL])
    objects.forget(PLURAL, "ns", "m", "u1")
    objects.observe(PLURAL, _body("9"))
    assert objects.get(PLURAL, "ns", "m") is None


def test_a_newer_body_of_it_and_another_object_of_the_name_are_kept() -> None:
    """The operator's own delete of a graph that a finalizer holds: the watch still brings it,
    newer (its deletionTimestamp set); and the name created again is another uid."""
    objects = WatchedObjects([PLURAL])
    objects.observe(PLURAL, _body("7"))
    objects.forget(PLURAL, "ns", "m")  # without uid: the one kept is remembered
    objects.observe(PLURAL, _body("6"))
    objects.observe(PLURAL, _body("7"))
    assert objects.get(PLURAL, "ns", "m") is None
    objects.observe(PLURAL, _body("8"))
    assert objects.get(PLURAL, "ns", "m") == _body("8")
    objects.forget(PLURAL, "ns", "m", "u1", resource_version="12")
    objects.observe(PLURAL, _body("11"))
    assert objects.get(PLURAL, "ns", "m") is None
    objects.observe(PLURAL, _body("3", uid="u2"))
    assert objects.get(PLURAL, "ns", "m") == _body("3", uid="u2")


def test_tombstones_expire_and_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    objects = WatchedObjects([PLURAL], clock=clock)
    objects.observe(PLURAL, _body("7"))
    objects.forget(PLURAL, "ns", "m", "u1")
    clock.now += TOMBSTONE_SECONDS - 1
    objects.observe(PLURAL, _body("7"))
    assert objects.get(PLURAL, "ns", "m") is None
    clock.now += 1
    objects.observe(PLURAL, _body("7"))
    assert objects.get(PLURAL, "ns", "m") == _body("7")

    monkeypatch.setattr(watched, "TOMBSTONES_KEPT", 3)
    for uid in ("a", "b", "c", "d"):
        objects.forget(PLURAL, "ns", uid, uid, resource_version="5")
    assert len(objects._tombstones) == 3
    objects.observe(PLURAL, {**_body("5", uid="a"), "metadata": {
        "name": "a", "namespace": "ns", "uid": "a", "resourceVersion": "5"}})
    assert objects.get(PLURAL, "ns", "a") is not None  # the oldest, dropped past the bound
