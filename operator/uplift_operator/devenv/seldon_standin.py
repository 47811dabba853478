"""A stand-in for Seldon Core's controller: it plays the status updates Seldon would write.

Seldon's controller cannot run without a kubelet, so the local run and the tests use this: every
SeldonDeployment whose spec generation it has not seen yet becomes ``state: Available`` (or the
state a test asks for), with ``observedGeneration`` and per-predictor ``deploymentStatus`` shaped
as Seldon writes them (integrations.md §1). It only writes status; it never touches the spec.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from uplift_operator.render.seldon import deployment_names

__all__ = ["SeldonStandIn", "seldon_status"]

GROUP, VERSION, PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"


def seldon_status(body: dict[str, Any], state: str = "Available",
                  description: str = "") -> dict[str, Any]:
    """The status Seldon's controller writes for ``body`` once its deployments are in ``state``."""
    name = body["metadata"]["name"]
    predictors = body.get("spec", {}).get("predictors", [])
    ready = state == "Available"
    status: dict[str, Any] = {
        "state": state,
        "observedGeneration": body["metadata"].get("generation", 1),
        "replicas": sum(int(p.get("replicas", 1)) for p in predictors),
        "deploymentStatus": {
            deployment_names(name, p)[0]: {
                "name": deployment_names(name, p)[0], "replicas": int(p.get("replicas", 1)),
                "availableReplicas": int(p.get("replicas", 1)) if ready else 0,
                "status": state}
            for p in predictors},
        "address": {"url": f"http://{name}-default.{body['metadata']['namespace']}"
                           ".svc.cluster.local:8000/api/v1.0/predictions"},
    }
    if description:
        status["description"] = description
    return status


class SeldonStandIn:
    """Watch SeldonDeployments and mark new generations Available, until stopped.

    As Seldon's controller does, from a watch (an informer): one LIST, then the changes. It used
    to LIST every half second, which at a thousand SeldonDeployments cost the API server more
    than the operator under test did (bench/scale.py). After any error (the control plane
    restarting, a 410 for an expired resourceVersion) it lists again."""

    #: Server-side timeout of one watch request; the next resumes from the last version seen.
    WATCH_SECONDS = 2

    def __init__(self, api_client: client.ApiClient, interval: float = 0.5) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seldon-standin", daemon=True)
        self.updates = 0

    def start(self) -> SeldonStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self.reconcile_once()
                version = self._follow(version) if version else None
            except (ApiException, HTTPError, ValueError):
                # The control plane is starting, stopping or restarting (a refused connection
                # is urllib3's, not an ApiException), or the version expired: list again.
                version = None
                self._stop.wait(self._interval)

    def _follow(self, version: str) -> str | None:
        """Mark what changes after ``version``; the version to resume from (None: list again)."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]  # the client is untyped
        for event in stream.stream(  # type: ignore[no-untyped-call]
                self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                resource_version=version, timeout_seconds=self.WATCH_SECONDS):
            if event.get("type") == "ERROR":
                return None
            body = event.get("object")
            if isinstance(body, dict) and event.get("type") in ("ADDED", "MODIFIED"):
                self._mark(body)
            if self._stop.is_set():
                stream.stop()  # type: ignore[no-untyped-call]
        return cast(str | None, stream.resource_version) or version

    def reconcile_once(self) -> str | None:
        """Mark every SeldonDeployment whose generation is new; the list's resourceVersion."""
        listing = cast(dict[str, Any], self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL))
        for body in listing.get("items", []):
            self._mark(body)
        return cast(str | None, (listing.get("metadata") or {}).get("resourceVersion"))

    def _mark(self, body: dict[str, Any]) -> None:
        meta = body["metadata"]
        if meta.get("deletionTimestamp") or (
                (body.get("status") or {}).get("observedGeneration") == meta.get("generation")):
            return
        try:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"],
                {"status": seldon_status(body)})
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to mark
                raise
            return
        self.updates += 1
