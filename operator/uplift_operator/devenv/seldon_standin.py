"""A stand-in for Seldon Core's controller: it plays the status updates Seldon would write.

Seldon's controller cannot run without a kubelet, so the local run and the tests use this: every
SeldonDeployment generation it has not marked yet becomes ``state: Available`` (or the state a
test asks for), its status shaped as Seldon Core 1.17.1 writes it (``seldon_status``). It only
writes status; it never touches the spec.

What Seldon writes, and what it does not (``SeldonIO/seldon-core@v1.17.1``,
``operator/controllers/seldondeployment_controller.go`` ``Reconcile``/``createDeployments``/
``completeServiceCreation``, ``operator/apis/machinelearning.seldon.io/v1/
seldon_deployment_status.go``): ``state``, ``description`` (only when not empty), one
``deploymentStatus`` entry per Deployment, keyed by its name (``render.seldon.
deployment_names``) and holding only ``replicas`` and ``availableReplicas`` (both
``omitempty``), ``replicas`` (the first predictor's Deployment's) and ``address.url``. It
never writes ``observedGeneration`` (the CRD has the field, from knative's ``duckv1.Status``,
but nothing sets it), so neither does this: the operator must not count on it. Seldon's
``serviceStatus`` and knative ``conditions`` are left out; the operator reads neither.
Which generations were marked is therefore kept here, in memory, not in the status.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from uplift_operator.render.seldon import deployment_names

__all__ = ["SeldonStandIn", "seldon_status"]

GROUP, VERSION, PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"
#: The executor's HTTP port, which ``address.url`` names (Seldon's ``ENGINE_SERVER_PORT``).
ENGINE_HTTP_PORT = 8000


def _predictor_key(sdep: str, predictor: dict[str, Any]) -> str:
    """The predictor's Service name (Seldon's ``GetPredictorKey``, no custom name)."""
    name = f"{sdep}-{predictor.get('name', '')}"
    if len(name) <= 63:
        return name
    return "seldon-" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


def seldon_status(body: dict[str, Any], state: str = "Available",
                  description: str = "") -> dict[str, Any]:
    """The status Seldon's controller writes for ``body`` once its deployments are in ``state``:
    Available, every Deployment's replicas available; otherwise none of them yet."""
    name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
    spec = body.get("spec", {})
    predictors = spec.get("predictors", [])
    deployments: dict[str, Any] = {}
    for p in predictors:
        replicas = int(p.get("replicas", 1))
        entry: dict[str, Any] = {"replicas": replicas} if replicas else {}
        if state == "Available" and replicas:
            entry["availableReplicas"] = replicas
        deployments[deployment_names(name, p)[0]] = entry
    status: dict[str, Any] = {"state": state, "deploymentStatus": deployments}
    if predictors and int(predictors[0].get("replicas", 1)):
        status["replicas"] = int(predictors[0].get("replicas", 1))
    if predictors:
        first = predictors[0]
        path = (f"/v2/models/{first.get('graph', {}).get('name', '')}/infer"
                if spec.get("protocol") in ("v2", "kfserving") else "/api/v1.0/predictions")
        status["address"] = {"url": f"http://{_predictor_key(name, first)}.{namespace}"
                                    f".svc.cluster.local:{ENGINE_HTTP_PORT}{path}"}
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
        #: (namespace, name, uid) → the generation last marked (Seldon writes no
        #: observedGeneration, so the status cannot say).
        self._marked: dict[tuple[str, str, str], int] = {}

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
        key = (str(meta.get("namespace")), str(meta.get("name")), str(meta.get("uid")))
        generation = int(meta.get("generation") or 0)
        if meta.get("deletionTimestamp") or self._marked.get(key) == generation:
            return
        status = seldon_status(body)
        # Seldon replaces the whole status (an update); a merge patch must name what goes:
        # the Deployments of removed predictors (Seldon deletes them, then their entries, once
        # the graph is ready) and a description no longer there.
        before = body.get("status") or {}
        for gone in set(before.get("deploymentStatus") or {}) - set(status["deploymentStatus"]):
            status["deploymentStatus"][gone] = None
        for field in ("description", "observedGeneration"):
            if field in before and field not in status:
                status[field] = None
        try:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], {"status": status})
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to mark
                raise
            return
        self._marked[key] = generation
        self.updates += 1
