"""Faults: two operator replicas on a control plane of this folder's own, a ramp to disturb.

These tests SIGKILL operators and restart kube-apiserver and etcd, so the session's control
plane and operator are left alone: a module gets its own control plane (the CRDs, the RBAC, the
peering object, the Seldon stand-in) and two replicas of the operator under its identity with
kopf peering. MLflow, the trained model and Prometheus are the session's.

The ramp is the lifecycle tests' kind, made short: five steps of 2 s, an error-rate gate over
the runtime's own metrics (simulated traffic that follows the SeldonDeployment's split, scraped
by the real Prometheus). ``Ramp.roll_out`` registers a new version and moves the alias;
``Ramp.finish`` waits for its promotion and returns what it left behind, versions named by role:
the history entries of the ramp (action, weight, actor) and every spec generation of the
SeldonDeployment (its traffic split), as a watch saw them. Two ramps that went the same way give
equal records, whatever disturbed one of them.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from kubernetes import client, watch
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from tests.support.kube import Kubectl, install_crds, install_operator_rbac
from tests.support.registry import Versions
from tests.support.replicas import ReplicaPair
from tests.support.scrapes import scrape_health
from tests.support.traffic import Profile, RuntimeTraffic

from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget
from uplift_operator.devenv.seldon_standin import SeldonStandIn

NAME = "um"
SELDON = ("machinelearning.seldon.io", "v1", "seldondeployments")
UPLIFT = ("uplift.dev", "v1alpha1", "upliftmodels")
# The replicas' --peering-lifetime: shorter than the default (8 s) so that 20 failovers fit in
# CI's time; keep-alives then go every second and a replica is given up after 4 s of silence.
# bench/failover.py measures the default.
LIFETIME = 5
SPEC: dict[str, Any] = {
    "model": {"alias": "champion", "aliasRefreshInterval": "1s", "promotionAlias": "production"},
    "treatments": [{"name": "mens-e-mail"}, {"name": "womens-e-mail"}],
    "experiment": {"holdoutFraction": 0.1},
    "rollout": {
        "analysisInterval": "2s",
        "steps": [{"weight": w, "pause": "2s"} for w in (10, 30, 50, 70, 90)],
        "gates": [{"name": "errors", "type": "errorRate", "minSamples": 20, "max": 0.05}],
    },
}


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    with ControlPlane() as cp:
        yield cp


@pytest.fixture(scope="module")
def cluster(plane: ControlPlane) -> Kubectl:
    admin = Kubectl(plane.admin_kubeconfig)
    install_crds(admin)
    install_operator_rbac(admin)
    return admin


@pytest.fixture(scope="module")
def api(plane: ControlPlane, cluster: Kubectl) -> client.ApiClient:
    api: client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(plane.admin_kubeconfig))
    return api


@pytest.fixture(scope="module")
def replicas(plane: ControlPlane, cluster: Kubectl, api: client.ApiClient,
             mlflow_server: MlflowServer, prometheus: PrometheusServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplicaPair]:
    standin = SeldonStandIn(api).start()
    pair = ReplicaPair(cluster, plane.operator_kubeconfig, tmp_path_factory.mktemp("replicas"),
                       "--mlflow-tracking-uri", mlflow_server.url,
                       *prometheus.operator_args(), lifetime=LIFETIME)
    try:
        yield pair.start()
    finally:
        pair.stop()
        standin.stop()


class SplitRecorder:
    """Every spec generation of the SeldonDeployment and its traffic split, from a watch that
    resumes where it stopped after an API outage (relisting only when the API server no longer
    has that point: nothing can change while the API is down)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.generations: list[tuple[int, dict[str, int]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="split-recorder", daemon=True)

    def start(self) -> SplitRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def current(self) -> dict[str, int]:
        with self._lock:
            return dict(self.generations[-1][1]) if self.generations else {}

    def since(self, index: int) -> list[dict[str, int]]:
        with self._lock:
            return [split for _, split in self.generations[index:]]

    def __len__(self) -> int:
        with self._lock:
            return len(self.generations)

    def _record(self, body: dict[str, Any]) -> None:
        generation = int(body["metadata"].get("generation", 0))
        split = {p.get("annotations", {}).get("version", ""): int(p.get("traffic", 0))
                 for p in body.get("spec", {}).get("predictors", [])}
        with self._lock:
            if not self.generations or generation > self.generations[-1][0]:
                self.generations.append((generation, split))

    def _run(self) -> None:
        selector = f"metadata.name={NAME}"
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = cast(dict[str, Any], self.api.list_namespaced_custom_object(
                        *SELDON[:2], self.namespace, SELDON[2], field_selector=selector))
                    for item in listing["items"]:
                        self._record(item)
                    version = str(listing["metadata"]["resourceVersion"])
                stream: Any = watch.Watch()  # type: ignore[no-untyped-call]  # the client is untyped
                for event in stream.stream(self.api.list_namespaced_custom_object, *SELDON[:2],
                                           self.namespace, SELDON[2], field_selector=selector,
                                           resource_version=version, timeout_seconds=5):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._record(event["object"])
                    version = str(event["object"]["metadata"]["resourceVersion"])
                    if self._stop.is_set():
                        break
            except ApiException as error:
                if error.status == 410:  # that point is gone: list again
                    version = None
                time.sleep(0.3)
            except Exception:  # the API is down: resume from the same point when it is back
                time.sleep(0.3)


@dataclass
class RampRecord:
    """What one ramp left behind, with versions named by role (stable, canary)."""

    history: list[tuple[str, str, int | None, str]]
    splits: list[dict[str, int]]


@dataclass
class Ramp:
    """The module's UpliftModel and the versions it ramps through."""

    namespace: str
    admin: Kubectl
    api: client.CustomObjectsApi
    versions: Versions
    model: str
    traffic: RuntimeTraffic
    recorder: SplitRecorder
    stable: str = "1"
    started: dict[str, int] = field(default_factory=dict)  # version -> recorder index
    prometheus_url: str = ""

    def status(self) -> dict[str, Any]:
        """The UpliftModel's status ({} while the API is unreachable)."""
        try:
            body = cast(dict[str, Any], self.api.get_namespaced_custom_object(
                *UPLIFT[:2], self.namespace, UPLIFT[2], NAME))
        except Exception:
            return {}
        status: dict[str, Any] = body.get("status", {})
        return status

    def wait(self, predicate: Any, what: str, timeout: float, logs: Any = None) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if status and predicate(status):
                return status
            time.sleep(0.25)
        tail = "\n".join(logs().splitlines()[-20:]) if logs else ""
        raise AssertionError(f"timed out waiting for {what}; status: {status}\n"
                             f"{self.traffic.diagnostics()}\n"
                             f"{scrape_health(self.prometheus_url)}\n{tail}")

    def roll_out(self) -> str:
        """A new version behind the alias: the operator starts its canary."""
        version = self.versions.clone(name=self.model)
        self.traffic.set(version, Profile())
        self.started[version] = len(self.recorder)
        self.versions.set_alias("champion", version, name=self.model)
        return version

    def promoted(self, version: str) -> bool:
        status = self.status()
        return status.get("stableVersion") == version and not status.get("canaryVersion")

    def finish(self, version: str, timeout: float = 180, logs: Any = None) -> RampRecord:
        """Wait for ``version``'s promotion; its ramp's record."""
        status = self.wait(lambda s: s.get("phase") == "Healthy"
                           and s.get("stableVersion") == version and not s.get("canaryVersion"),
                           f"v{version} promoted", timeout, logs)
        deadline = time.monotonic() + 30
        while self.recorder.current() != {version: 100} and time.monotonic() < deadline:
            time.sleep(0.1)
        roles = {self.stable: "stable", version: "canary"}
        history = [(h["action"], roles.get(h.get("version") or "", h.get("version") or ""),
                    h.get("weight"), h.get("actor", "")) for h in status.get("history", [])
                   if h.get("version") == version]
        splits = [{roles.get(v, v): w for v, w in split.items()}
                  for split in self.recorder.since(self.started[version])]
        self.stable = version
        return RampRecord(history, splits)


@pytest.fixture(scope="module")
def ramp(cluster: Kubectl, api: client.ApiClient, replicas: ReplicaPair, versions: Versions,
         prometheus: PrometheusServer) -> Iterator[Ramp]:
    namespace = f"faults-{uuid.uuid4().hex[:6]}"
    cluster.run("create", "namespace", namespace)
    model = f"{namespace}-model"
    versions.set_alias("champion", versions.clone(name=model), name=model)
    recorder = SplitRecorder(api, namespace).start()
    traffic = RuntimeTraffic(NAME)
    traffic.follow(recorder.current)
    traffic.start()
    traffic.set("1", Profile())
    prometheus.set_targets([ScrapeTarget(traffic.endpoint.target, job="runtime",
                                         labels={"namespace": namespace})])
    spec = {**SPEC, "model": {**SPEC["model"], "registeredModel": model}}
    cluster.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                   "metadata": {"name": NAME, "namespace": namespace}, "spec": spec})
    bench = Ramp(namespace, cluster, client.CustomObjectsApi(api), versions, model, traffic,
                 recorder, prometheus_url=prometheus.url)
    bench.wait(lambda s: s.get("phase") == "Healthy" and s.get("stableVersion") == "1",
               "Healthy on v1", 120, replicas.logs)
    try:
        yield bench
    finally:
        traffic.stop()
        recorder.stop()


@pytest.fixture(scope="module")
def undisturbed(ramp: Ramp, replicas: ReplicaPair) -> RampRecord:
    """A ramp nothing disturbed: what every disturbed ramp must leave behind too."""
    record = ramp.finish(ramp.roll_out(), logs=replicas.logs)
    assert record.history and record.splits, record
    return record
