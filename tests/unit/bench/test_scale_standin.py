"""bench/scale.py's counting Seldon stand-in: it lists once, then watches (as the stand-in it
wraps does), and counts exactly the requests it sends, so the bench subtracts the stand-in's
work, and only it, from the operator's.

Until 2026-12-07 its ``reconcile_once`` returned None: the stand-in's loop never had a version
to watch from and LISTed every SeldonDeployment in a tight loop (tens of thousands a second
against a fake API), which inflated the scale rows' control-plane CPU and apply → Ready.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes import client as kube_client

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench import scale  # noqa: E402

SDEP = "machinelearning.seldon.io", "v1", "seldondeployments"


class _Stream:
    """A watch response: the events as JSON lines, as urllib3's response streams them."""

    status = 200

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        for event in self._events:
            yield json.dumps(event).encode() + b"\n"

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeApi:
    """The custom-objects API the stand-in calls: one SeldonDeployment created after the LIST
    (resourceVersion 42), seen by the first watch (43); later watches see nothing and end
    after a short server-side timeout. Every request is recorded as the API server counts it."""

    def __init__(self) -> None:
        self.requests: Counter[scale.Key] = Counter()
        self.watched_from: list[str] = []
        self.patched: list[str] = []
        self._lock = threading.Lock()
        body = scale.seldon_deployment("um-00000", "http://mlflow")
        body["metadata"].update(namespace=scale.NS, uid="u-1", generation=1,
                                resourceVersion="43")
        self._created = body

    def list_cluster_custom_object(self, group: str, version: str, plural: str,
                                   **kwargs: Any) -> Any:
        """A LIST, or a watch (``watch=True``). The return type as the client's docstring
        gives it, by which the watch takes each event's resourceVersion to resume from:

        :rtype: object
        """
        assert (group, version, plural) == SDEP
        if not kwargs.get("watch"):
            with self._lock:
                self.requests[("LIST", plural, "")] += 1
            return {"items": [], "metadata": {"resourceVersion": "42"}}
        with self._lock:
            self.requests[("WATCH", plural, "")] += 1
            self.watched_from.append(str(kwargs["resource_version"]))
            first = len(self.watched_from) == 1
        if first:
            return _Stream([{"type": "ADDED", "object": self._created}])
        time.sleep(0.02)  # the watch's timeout_seconds, shortened
        return _Stream([])

    def patch_namespaced_custom_object_status(self, group: str, version: str, namespace: str,
                                              plural: str, name: str, body: Any) -> Any:
        with self._lock:
            self.requests[("PATCH", plural, "status")] += 1
            self.patched.append(str(body["status"]["state"]))
        return body


def _standin(own: scale.Own) -> tuple[scale.CountingStandIn, FakeApi]:
    standin = scale.CountingStandIn(kube_client.ApiClient(kube_client.Configuration()), own)
    fake = FakeApi()
    standin._api = fake  # type: ignore[assignment]  # the stand-in's only API
    return standin, fake


def test_reconcile_once_hands_back_the_lists_version() -> None:
    """The version its loop opens the watch from (None made it list again at once)."""
    own = scale.Own()
    standin, fake = _standin(own)
    assert standin.reconcile_once() == "42"
    assert own.snapshot() == fake.requests == Counter({("LIST", "seldondeployments", ""): 1})


def test_lists_once_then_watches_counting_every_request_it_sends() -> None:
    own = scale.Own()
    standin, fake = _standin(own)
    standin.start()
    try:
        deadline = time.monotonic() + 10
        while len(fake.watched_from) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        standin.stop()
    # One LIST, then watches: the first from the LIST's version, the next from its event's.
    assert fake.requests[("LIST", "seldondeployments", "")] == 1
    assert len(fake.watched_from) >= 4
    assert fake.watched_from[:2] == ["42", "43"]
    assert set(fake.watched_from[1:]) == {"43"}
    # The SeldonDeployment the watch saw was marked (a first graph: Creating, then Available).
    assert fake.patched == ["Creating", "Available"]
    # The bench subtracts exactly what the stand-in sent: LIST, WATCH and status patches.
    assert own.snapshot() == fake.requests
