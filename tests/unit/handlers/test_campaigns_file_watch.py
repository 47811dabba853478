"""The operator's watch of its own campaigns ConfigMaps: a hand edit or deletion wakes the
model's campaigns file; the event of the operator's own apply wakes nothing; the API server
selects the ConfigMaps (kopf's server-side label selector)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

import kopf

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers.campaigns_file import CAMPAIGNS_FILE_SELECTOR, file_key
from uplift_operator.handlers.lifecycle import QuietWatchHandlers
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.handlers.watches import file_changed
from uplift_operator.render import campaigns
from uplift_operator.render.naming import Owner

OWNER = Owner(name="churn", namespace="shop", uid="u-1")
# kopf types the decorated handler as its WatchingFn protocol (every keyword kopf passes); the
# handler takes ``**_`` for the rest, and the tests pass the keywords it reads.
_file_changed = cast(Callable[..., Coroutine[Any, Any, None]], file_changed)


def _config_map(version: str, content: str = "{}") -> dict[str, Any]:
    body = campaigns.config_map(OWNER, content)
    body["metadata"]["resourceVersion"] = version
    return body


def _event(kind: str | None, body: dict[str, Any], objects: WatchedObjects,
           wakeups: Wakeups) -> None:
    memo = kopf.Memo(watched_objects=objects, wakeups=wakeups)
    asyncio.run(_file_changed(event={"type": kind, "object": body},
                              body=kopf.Body(cast(kopf.RawBody, body)), memo=memo))


def test_a_foreign_change_wakes_the_file_and_the_own_apply_does_not() -> None:
    objects, wakeups = WatchedObjects(["configmaps"]), Wakeups()
    flag = wakeups.register(file_key("shop", "churn"))
    other = wakeups.register(file_key("shop", "other"))
    objects.observe("configmaps", _config_map("10"))  # the operator's apply, as the adapter keeps it
    _event("ADDED", _config_map("10"), objects, wakeups)  # ... and its watch event
    assert not flag.is_set()
    _event("MODIFIED", _config_map("11", "edited by hand"), objects, wakeups)
    assert flag.is_set() and not other.is_set()
    stored = objects.get("configmaps", "shop", "churn-campaigns")
    assert stored is not None
    assert stored["data"] == {campaigns.DATA_KEY: "edited by hand"}
    flag.clear()
    _event("DELETED", _config_map("11", "edited by hand"), objects, wakeups)
    assert flag.is_set() and objects.get("configmaps", "shop", "churn-campaigns") is None


def test_the_store_keeps_no_managed_fields() -> None:
    objects = WatchedObjects(["configmaps"])
    body = _config_map("3")
    body["metadata"]["managedFields"] = [{"manager": "uplift-operator"}]
    objects.observe("configmaps", body)
    stored = objects.get("configmaps", "shop", "churn-campaigns")
    assert stored is not None
    assert "managedFields" not in stored["metadata"]
    assert body["metadata"]["managedFields"]  # the caller's body is left as it was


def test_the_api_server_selects_the_operators_own_config_maps() -> None:
    labels = campaigns.config_map(OWNER, "{}")["metadata"]["labels"]
    for term in CAMPAIGNS_FILE_SELECTOR.split(","):
        key, _, value = term.partition("=")
        assert key in labels and (not value or labels[key] == value)
    record = logging.LogRecord("kopf.objects", logging.INFO, "", 0,
                               "Handler 'file_changed' succeeded.", None, None)
    assert not QuietWatchHandlers().filter(record)
