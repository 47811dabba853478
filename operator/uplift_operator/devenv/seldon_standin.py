"""A stand-in for Seldon Core's controller: it plays the status updates Seldon would write.

Seldon's controller cannot run without a kubelet, so the local run and the tests use this: every
SeldonDeployment generation it has not marked yet becomes ``state: Available`` (or the state a
test asks for), its status shaped as Seldon Core 1.17.1 writes it (``seldon_status``). It only
writes status; it never touches the spec.

A generation that changes what goes into a Deployment's pod template, or adds a Deployment (a
first graph, a canary's predictor, a new image or setting, a predictor's annotations: Seldon's
executor carries the whole predictor but its ``traffic`` and ``replicas`` in
``ENGINE_PREDICTOR``), is ``Creating`` first, as Seldon's reconcile that updates or creates the
Deployments writes it (``createDeployments``: ``ready = false`` whenever it updated a pod
template or created a Deployment; ``pod_templates``, ``rolling_status``): the entries of the
Deployments it rolls as they were (none for one just created), the entries of removed
predictors kept (Seldon drops them only once the graph is ready). ``Available`` follows
``rollout_seconds`` later (0, the default: at once, so tests and benches keep their timing). A
change of ``traffic`` alone is ``Available`` at once, as with Seldon (no Deployment changes).
Not played: Seldon ignoring a replicas-only change (it updates a Deployment only when its pod
template compares unequal, which may or may not hold for a count alone: ``render.seldon``,
"Replicas"; the operator's ``UPLIFT_REPLICAS`` makes it a pod template change either way), and
its ``Available`` between two surge
batches (``render.seldon`` module docstring, "Mid-rollout").

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

import copy
import hashlib
import heapq
import json
import logging
import threading
import time
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from uplift_operator.render.seldon import deployment_names

__all__ = ["SeldonStandIn", "pod_templates", "rolling_status", "seldon_defaults", "seldon_status"]

logger = logging.getLogger(__name__)

GROUP, VERSION, PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"
#: The executor's HTTP port, which ``address.url`` names (Seldon's ``ENGINE_SERVER_PORT``).
ENGINE_HTTP_PORT = 8000
#: Where Seldon starts numbering the graph's containers' ports (its chart's
#: ``predictiveUnit.httpPort``, ``FirstMetricsPortNumber``; gRPC 500 above HTTP).
FIRST_HTTP_PORT, FIRST_METRICS_PORT, GRPC_OFFSET = 9000, 6000, 500


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


def pod_templates(body: dict[str, Any]) -> dict[str, str]:
    """Each Deployment Seldon makes for the graph (``render.seldon.deployment_names``, the
    default name) → what of the graph goes into its pod template: Seldon updates a Deployment,
    and so rolls its pods, only when ``Spec.Template.Spec`` differs (``createDeployments``).
    That is the predictor (its component's pod spec, and the whole predictor in the executor's
    ``ENGINE_PREDICTOR`` but for ``traffic`` and ``replicas``, which ``createEngineContainer``
    zeroes) and the graph's protocol, transport, server type and annotations (the executor's
    arguments and environment), after Seldon's own defaulting of the containers' ports
    (``seldon_defaults``): a port number Seldon gives by a predictor's position is in it too."""
    name = body["metadata"]["name"]
    spec = seldon_defaults(body).get("spec", {})
    graph = {k: spec.get(k) for k in ("protocol", "transport", "serverType", "annotations")}
    templates: dict[str, str] = {}
    for p in spec.get("predictors", []):
        predictor = {k: v for k, v in p.items() if k not in ("traffic", "replicas")}
        templates[deployment_names(name, p)[0]] = json.dumps([graph, predictor], sort_keys=True)
    return templates


def seldon_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as Seldon Core 1.17.1's Reconcile completes it in memory before it makes the
    Deployments (``defaults.go`` ``DefaultSeldonDeployment``, ``seldondeployment_controller.go``
    ``createContainerService``; nothing of it is written back to the object), as far as the
    ports go: walking the containers of every predictor's componentSpecs in order, one that has
    no port named ``metrics`` gets one numbered from ``FIRST_METRICS_PORT``, one more for each
    such container before it in the whole graph (``addMetricsPortAndIncrement``); a graph
    node's container (named as a node of its predictor's graph) without ports named ``http``
    and ``grpc`` gets them, numbered per container name from ``FIRST_HTTP_PORT`` (gRPC
    ``GRPC_OFFSET`` above), the ``PREDICTIVE_UNIT_*`` port variables from them and from its
    metrics port, and TCP readiness and liveness probes on its ``http`` port when it has none.
    So a container that declares its ports keeps the same numbers wherever its predictor
    stands; one that does not is numbered by its predictor's position."""
    body = copy.deepcopy(body)
    next_metrics = FIRST_METRICS_PORT
    http_ports: dict[str, int] = {}
    for predictor in (body.get("spec") or {}).get("predictors") or []:
        nodes = _graph_nodes(predictor.get("graph") or {})
        for component in predictor.get("componentSpecs") or []:
            for container in ((component or {}).get("spec") or {}).get("containers") or []:
                name = str(container.get("name", ""))
                http_ports.setdefault(name, FIRST_HTTP_PORT + len(http_ports))
                ports = container.setdefault("ports", [])
                named = {str(p.get("name")): p for p in ports}
                if "metrics" not in named:
                    named["metrics"] = {"name": "metrics", "containerPort": next_metrics,
                                        "protocol": "TCP"}
                    ports.append(named["metrics"])
                    next_metrics += 1
                if name not in nodes:
                    continue
                defaults = {"http": http_ports[name], "grpc": http_ports[name] + GRPC_OFFSET}
                for port, number in defaults.items():
                    if port not in named:
                        named[port] = {"name": port, "containerPort": number, "protocol": "TCP"}
                        ports.append(named[port])
                http, grpc = named["http"]["containerPort"], named["grpc"]["containerPort"]
                for probe, delay in (("livenessProbe", 60), ("readinessProbe", 20)):
                    container.setdefault(probe, {"tcpSocket": {"port": http},
                                                 "initialDelaySeconds": delay})
                container["env"] = list(container.get("env") or []) + [
                    {"name": k, "value": str(v)} for k, v in (
                        ("PREDICTIVE_UNIT_SERVICE_PORT", http),
                        ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", http),
                        ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", grpc),
                        ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT",
                         named["metrics"]["containerPort"]),
                        ("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/prometheus"))]
    return body


def _graph_nodes(node: dict[str, Any]) -> set[str]:
    """The names of a predictor's graph nodes (``GetPredictiveUnit``)."""
    names = {str(node["name"])} if node.get("name") else set()
    for child in node.get("children") or []:
        names |= _graph_nodes(child)
    return names


def rolling_status(body: dict[str, Any], rolled: set[str] | frozenset[str]) -> dict[str, Any]:
    """The status Seldon's reconcile that updates (or creates) the Deployments named in
    ``rolled`` writes for ``body``: ``Creating``; those Deployments' entries as they were (none
    for one just created: Seldon writes an entry only in a reconcile that finds its Deployment
    unchanged), the others' as available (``seldon_status``), the entries of removed
    predictors kept (Seldon removes them only once the graph is ready), ``replicas`` and
    ``address`` as they were."""
    before = body.get("status") or {}
    deployments = dict(before.get("deploymentStatus") or {})
    for deployment, entry in seldon_status(body)["deploymentStatus"].items():
        if deployment not in rolled:
            deployments[deployment] = entry
    status: dict[str, Any] = {"state": "Creating", "deploymentStatus": deployments}
    for field in ("replicas", "address"):
        if field in before:
            status[field] = before[field]
    return status


#: (namespace, name, uid): one SeldonDeployment, not one recreated under its name.
_Key = tuple[str, str, str]


class SeldonStandIn:
    """Watch SeldonDeployments and mark new generations Available, until stopped.

    As Seldon's controller does, from a watch (an informer): one LIST, then the changes. It used
    to LIST every half second, which at a thousand SeldonDeployments cost the API server more
    than the operator under test did (bench/scale.py). After any error (the control plane
    restarting, a 410 for an expired resourceVersion) it lists again."""

    #: Server-side timeout of one watch request; the next resumes from the last version seen.
    WATCH_SECONDS = 2

    def __init__(self, api_client: client.ApiClient, interval: float = 0.5,
                 rollout_seconds: float = 0.0) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._interval = interval
        #: How long a generation that rolls pods stays Creating before it is Available.
        self._rollout = rollout_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seldon-standin", daemon=True)
        self._finisher = threading.Thread(target=self._finish_due, name="seldon-standin-rollouts",
                                          daemon=True)
        self.updates = 0
        #: Serialises the status writes and the state below: one object's writes land in the
        #: order decided, as Seldon's work queue reconciles one object at a time.
        self._lock = threading.Condition()
        #: The generation last marked Available, per SeldonDeployment (Seldon writes no
        #: observedGeneration, so the status cannot say).
        self._marked: dict[_Key, int] = {}
        #: The pod templates its Deployments have now (``pod_templates``, as last reconciled).
        self._templates: dict[_Key, dict[str, str]] = {}
        #: A generation written Creating whose Available is due (``rollout_seconds`` > 0).
        self._rolling: dict[_Key, int] = {}
        #: Its Deployments still rolling and when they are done: a later generation that
        #: changes no pod template (a traffic step) does not cut that rollout short.
        self._pending: dict[_Key, tuple[frozenset[str], float]] = {}
        self._due: list[tuple[float, _Key, int]] = []

    def start(self) -> SeldonStandIn:
        self._thread.start()
        if self._rollout > 0:
            self._finisher.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        for thread in (self._thread, self._finisher):
            if thread.is_alive():
                thread.join(timeout=5)

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
            except Exception:
                # Anything else must not end the thread: every graph after it would wait for a
                # status forever. Seen: the client's Configuration reads os.environ while
                # pytest rewrites PYTEST_CURRENT_TEST in another thread (KeyError).
                logger.exception("Seldon stand-in: watch failed; listing again")
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
        if meta.get("deletionTimestamp"):
            return
        with self._lock:
            if generation in (self._marked.get(key), self._rolling.get(key)):
                return
            templates = pod_templates(body)
            before = self._templates.get(key)
            if before is None and (body.get("status") or {}).get("state"):
                before = templates  # reconciled before this stand-in started: nothing known rolls
            fresh = {d for d, t in templates.items() if (before or {}).get(d) != t}
            # Kept until a write succeeds: a write that fails (the API server restarting) must
            # not lose the rollout under way, or the next look would write Available at once.
            pending = self._pending.get(key)
            rolled = fresh | {d for d in (pending[0] if pending else ()) if d in templates}
            if rolled:
                creating = self._write(body, rolling_status(body, rolled))
                if creating is None:
                    self._done(key)
                    return
                self._templates[key] = templates
                if self._rollout > 0:
                    due = (time.monotonic() + self._rollout if fresh or pending is None
                           else pending[1])
                    self._rolling[key] = generation
                    self._pending[key] = (frozenset(rolled), due)
                    heapq.heappush(self._due, (due, key, generation))
                    self._lock.notify_all()
                    return
                body = {**body, "status": creating}  # what the Available replaces
            if self._write(body, self._available(body)) is not None:
                self._templates[key] = templates
                self._marked[key] = generation
            self._done(key)

    def _available(self, body: dict[str, Any]) -> dict[str, Any]:
        """The merge patch that makes ``body``'s status what Seldon writes once its
        Deployments are all available."""
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
        return status

    def _write(self, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """Patch ``body``'s status (under the lock): the status it has now, None when it is
        gone."""
        meta = body["metadata"]
        before = body.get("status") or {}
        patch = dict(status)
        for field in ("description", "observedGeneration"):
            if field in before and field not in patch:
                patch[field] = None
        try:
            self._api.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], PLURAL, meta["name"], {"status": patch})
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to mark
                raise
            return None
        self.updates += 1
        return {k: v for k, v in patch.items() if v is not None}

    def _done(self, key: _Key) -> None:
        """``key``'s rollout is over (written Available, or its object gone)."""
        self._rolling.pop(key, None)
        self._pending.pop(key, None)

    def _finish_due(self) -> None:
        """Write Available for each generation whose rollout time has come, unless a later
        generation came meanwhile (its own writes decide then)."""
        while not self._stop.is_set():
            with self._lock:
                wait = (self._due[0][0] - time.monotonic()) if self._due else self._interval
                if wait > 0:
                    self._lock.wait(timeout=min(wait, self._interval))
                    continue
                _, key, generation = heapq.heappop(self._due)
                if self._rolling.get(key) != generation:
                    continue
                namespace, name, uid = key
                try:
                    body = cast(dict[str, Any], self._api.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, name))
                    meta = body["metadata"]
                    if str(meta.get("uid")) != uid or meta.get("deletionTimestamp"):
                        self._done(key)
                    elif int(meta.get("generation") or 0) == generation:
                        if self._write(body, self._available(body)) is not None:
                            self._marked[key] = generation
                        self._done(key)
                except ApiException as error:
                    if error.status == 404:
                        self._done(key)
                    else:  # the control plane restarting: try again shortly
                        heapq.heappush(self._due, (time.monotonic() + self._interval, key,
                                                   generation))
                except (HTTPError, ValueError):
                    heapq.heappush(self._due, (time.monotonic() + self._interval, key, generation))
