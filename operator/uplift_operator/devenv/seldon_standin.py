"""A stand-in for Seldon Core's controller: it plays the status updates Seldon would write.

Seldon's controller cannot run without a kubelet, so the local run and the tests use this: every
SeldonDeployment whose spec generation it has not seen yet becomes ``state: Available`` (or the
state a test asks for), with ``observedGeneration`` and per-predictor ``deploymentStatus`` shaped
as Seldon writes them (integrations.md §1). It only writes status; it never touches the spec.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

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
            f"{name}-{p['name']}": {
                "name": f"{name}-{p['name']}", "replicas": int(p.get("replicas", 1)),
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
    """Poll SeldonDeployments and mark new generations Available, until stopped."""

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
        while not self._stop.wait(self._interval):
            try:
                self.reconcile_once()
            except (ApiException, HTTPError):
                # The control plane is starting, stopping or restarting (a refused connection
                # is urllib3's, not an ApiException): try again next tick.
                continue

    def reconcile_once(self) -> None:
        listing = cast(dict[str, Any], self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL))
        for body in listing.get("items", []):
            meta = body["metadata"]
            if (body.get("status") or {}).get("observedGeneration") == meta.get("generation"):
                continue
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"],
                {"status": seldon_status(body)})
            self.updates += 1
