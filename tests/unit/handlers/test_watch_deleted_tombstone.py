"""A DELETED watch event buries the object at the deletion's resourceVersion
(``handlers.watches`` → ``WatchedObjects.forget(resource_version=...)``), not at the version
the store kept: a pass's read answered between the two (a change the watch had not brought yet,
then the deletion), handled after the DELETED event, was newer than the kept body and brought
the deleted object back for good (no event would drop it again)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, cast

import kopf
import pytest

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import watches
from uplift_operator.handlers.scheduling import Wakeups

# kopf types the decorated handlers as its WatchingFn protocol (every keyword kopf passes); they
# take ``**_`` for the rest, and the test passes the keywords they read.
Handler = Callable[..., Coroutine[Any, Any, None]]
HANDLERS = [
    pytest.param(watches.CONFIG_MAP_PLURAL, cast(Handler, watches.file_changed), id="configmap"),
    pytest.param("seldondeployments", cast(Handler, watches.child_changed), id="graph"),
]


def _body(version: str) -> dict[str, Any]:
    return {"metadata": {"name": "churn", "namespace": "shop", "uid": "u-1",
                         "resourceVersion": version}, "data": {"v": version}}


def _deleted(handler: Handler, objects: WatchedObjects, body: dict[str, Any]) -> None:
    memo = kopf.Memo(watched_objects=objects, wakeups=Wakeups())
    asyncio.run(handler(event={"type": "DELETED", "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo))


@pytest.mark.parametrize(("plural", "handler"), HANDLERS)
def test_a_read_between_the_kept_version_and_the_deletion_does_not_bring_it_back(
        plural: str, handler: Handler) -> None:
    objects = WatchedObjects([plural])
    objects.observe(plural, _body("10"))  # what the store kept
    _deleted(handler, objects, _body("12"))  # the deletion, at its own version
    assert objects.get(plural, "shop", "churn") is None
    objects.observe(plural, _body("11"))  # a pass's read, answered before the deletion
    assert objects.get(plural, "shop", "churn") is None
    objects.observe(plural, _body("13"))  # newer than the deletion (a finalizer holds it)
    assert objects.get(plural, "shop", "churn") == _body("13")
