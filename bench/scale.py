"""Scale: N UpliftModels following one alias — apply → all Ready against the raw cost of the
children, and what the operator costs at rest.

    .venv/bin/python bench/scale.py [--counts 100,1000,10000] [--rest 60] [--timeout 900]
                                    [--settle 10] [--threads 8] [--json PATH]
                                    [--operator-arg=--pass-workers=16 ...]
    .venv/bin/python bench/scale.py --alias-polling [--counts 2000,5000] [--latency 0.1]

One fresh stack per N (the issue's "one run per N": the operator's memory and caches start
empty each time): the real control plane, a real MLflow, CRDs and the operator's RBAC. Then,
before the operator or the Seldon stand-in run (nothing else reacts to the objects):

  raw create: a plain kubernetes client (``--threads`` threads, one request per object) creates N
              SeldonDeployments shaped as the operator renders them (one predictor, the runtime's
              environment, its volumes) in a scratch namespace; the time until the last create
              returned. The Secrets the operator also creates per UpliftModel (its decision
              key) are then created the same way ("raw children" adds them). Until the
              campaigns file became lazy (docs/operator.md, "Scale", item 11) the operator
              also made each model's campaigns ConfigMap and the raw children included them;
              it now writes one only once a Campaign or a canary split needs it. The scratch namespace is
              deleted and waited for.

Then one model version is trained into MLflow (Hillstrom sample) under the alias ``champion``,
the Seldon stand-in (which plays Seldon's status updates) and the operator (a separate process
under its own identity, with peering as installed, no ``--prometheus-url``) start, and:

  apply → all Ready: from the first of N creates of UpliftModels (same thread pool), all
              following ``bench-model@champion`` with one qini gate (MLflow only, no
              Prometheus), until a watch of the namespace's UpliftModels (opened before the
              creates; looked at every 0.2 s) has seen every one ``status.phase: Healthy``, then
              a LIST of SeldonDeployments shows every child. (The rows before 2026-12-02 were taken
              with a LIST of all UpliftModels every second instead, which at 1,000 made the API
              server encode and the bench decode ~2 MB a second.) On ``--timeout`` it reports
              how many were Ready and carries on.
  first-version write cost: the apiserver's own ``apiserver_request_total`` (by verb, resource,
              subresource) before and after that window, minus the requests the bench and the
              stand-in made (counted by the bench): status patches, object patches (kopf's
              finalizer and annotations), events and child creates per resource; the MLflow
              requests per resource from MLflow's access log; the operator's requests in all from
              API Priority and Fairness (``apiserver_flowcontrol_dispatched_requests_total``: the
              operator is the only identity outside the ``exempt`` flow schema).
  CPU split:  the control plane's CPU (utime + stime of etcd, kube-apiserver and
              kube-controller-manager, /proc) over the raw children's creates and over the
              apply window, next to the operator's: on a machine whose cores they share, the
              apply cannot take less than (control plane + operator + stand-in CPU) / cores,
              whatever the operator does with its own time.
  sockets:    the operator's open sockets (/proc/<pid>/fd) before the apply and the most seen
              at any 0.2 s poll during it: its connections to the API server and MLflow.
  at rest:    after ``--settle`` s, the stand-in stops (nothing changes from here; Seldon at rest
              writes nothing either) and for ``--rest`` s the bench does nothing but read the
              apiserver's /metrics, the operator's /metrics and /proc at both ends. Reported per
              minute: reads (GET + LIST), watch requests (WATCH; kopf re-opens each watch every
              270 s) and watches open at the end, writes (POST/PUT/PATCH/APPLY/DELETE); reads and
              writes of kopf's peering object (keep-alives) are shown apart; the control plane's
              own background (leases, endpoints, endpointslices, non-resource URLs such as
              discovery) is left out, and the per-identity APF count is the cross-check.
              MLflow requests per minute from its
              access log (the devenv server runs uvicorn with its access log on; only the operator
              talks to MLflow then). Operator CPU: utime + stime of the operator's process tree
              (/proc/<pid>/stat) over the window, in % of one core; RSS: VmRSS of the tree at the
              end (and idle, before the first UpliftModel). Passes: count and mean duration of
              ``uplift_operator_reconcile_duration_seconds{kind="UpliftModel"}``.

``--alias-polling`` measures only the alias poller (``handlers/registry_polling.py``), in
process, with no stack: N aliases of N models on one MLflow, each followed once, every one due
at once (last read 61 s ago, ``aliasRefreshInterval`` 1 m), 10 of them moved, and a fake
registry answering every request (an alias read, a page of 1,000 models of the sweep) after
``--latency`` s (the unit tests' ``ListingRegistry``). Per N, read one by one (a client that
cannot sweep: the poller before the sweep) and swept: the requests MLflow got for the round, the
seconds until every alias was refreshed (one by one: extrapolated from the aliases refreshed in
the first 5 s, the readers' steady rate) and so how often each alias is read at 1 m. A few
seconds.

The operator runs from a copy of the working tree's ``operator/uplift_operator`` taken when the
bench starts (every N measures the same code; its hash is in the output).

Prints a markdown table and one JSON line per N (``--json PATH`` writes them too, one per line).
Targets (issue #10): apply → all Ready ≤ 3× the raw create of the same children at 1,000 and
10,000; at rest 0 writes, only watches (no periodic GET/LIST per resource), MLflow ≤ 1 request per
followed alias per refresh interval (1 alias here, ``aliasRefreshInterval`` 1 m by default),
operator CPU ≤ 5 % of one core and RSS ≤ 250 MB at 1,000.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT)]

from kubernetes import client as kube_client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from kubernetes import watch as kube_watch  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from tests.support.kube import Kubectl, OperatorProcess, install_crds, install_operator_rbac  # noqa: E402
from tests.support.registry import Versions  # noqa: E402
from urllib3.exceptions import HTTPError  # noqa: E402

from uplift_operator.devenv import process  # noqa: E402
from uplift_operator.devenv.controlplane import ControlPlane  # noqa: E402
from uplift_operator.devenv.mlflow_server import MlflowServer  # noqa: E402
from uplift_operator.devenv.seldon_standin import SeldonStandIn  # noqa: E402

HILLSTROM = ROOT.parent / "shared" / "data" / "hillstrom.csv"
MODEL, ALIAS = "bench-model", "champion"
NS, SCRATCH = "scale", "scale-raw"
UPLIFT = ("uplift.dev", "v1alpha1", "upliftmodels")
SELDON = ("machinelearning.seldon.io", "v1", "seldondeployments")
READS, WATCH = ("GET", "LIST"), "WATCH"
WRITES = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION")
PEERING = ("clusterkopfpeerings", "kopfpeerings")
# The control plane's own periodic requests (kube-apiserver's lease and endpoints reconcilers);
# non-resource URLs (discovery, openapi, /metrics) are left out as well.
BACKGROUND = ("leases", "endpoints", "endpointslices")

Key = tuple[str, str, str]  # verb, resource, subresource


# -- counting ----------------------------------------------------------------------------------

class Own:
    """Requests the bench and the stand-in make, keyed as the apiserver counts them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[Key] = Counter()

    def add(self, key: Key, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def snapshot(self) -> Counter[Key]:
        with self._lock:
            return Counter(self._counts)


class CountingStandIn(SeldonStandIn):
    """The stand-in, counting its LISTs, watch requests and status patches so the bench can
    subtract them.

    Each override hands back what the stand-in's own method returns: its loop opens a watch
    from the LIST's resourceVersion and resumes from the watch's. (Until 2026-12-07 this
    ``reconcile_once`` returned None, so the bench's stand-in never watched and LISTed every
    SeldonDeployment in a tight loop: the scale rows from e117c30 to then, docs/operator.md
    "Scale".) Every status patch is counted as sent, answered or not, as the API server counts
    it; a GET of the rollout finisher is not (the bench runs no rollout time: none is made)."""

    def __init__(self, api_client: kube_client.ApiClient, own: Own) -> None:
        super().__init__(api_client)
        self._own = own

    def reconcile_once(self) -> str | None:
        self._own.add(("LIST", "seldondeployments", ""))
        return super().reconcile_once()

    def _follow(self, version: str) -> str | None:
        self._own.add(("WATCH", "seldondeployments", ""))
        return super()._follow(version)

    def _write(self, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        self._own.add(("PATCH", "seldondeployments", "status"))
        return super()._write(body, status)


_LABELS = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class ApiMetrics:
    """One read of kube-apiserver's /metrics: what matters here."""

    requests: Counter[Key] = field(default_factory=Counter)
    flows: Counter[str] = field(default_factory=Counter)  # dispatched, by flow schema
    open_watches: Counter[str] = field(default_factory=Counter)  # by resource

    @classmethod
    def read(cls, api: kube_client.ApiClient) -> ApiMetrics:
        method, url, headers, _, _ = api.param_serialize("GET", "/metrics",
                                                         auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, _request_timeout=30)
        response.read()  # type: ignore[no-untyped-call]
        found = cls()
        for line in cast(bytes, response.data).decode().splitlines():
            if line.startswith("apiserver_request_total{"):
                labels, value = _sample(line)
                if labels.get("resource"):
                    found.requests[(labels["verb"], labels["resource"],
                                    labels.get("subresource", ""))] += int(value)
            elif line.startswith("apiserver_flowcontrol_dispatched_requests_total{"):
                labels, value = _sample(line)
                found.flows[labels.get("flow_schema", "")] += int(value)
            elif line.startswith("apiserver_longrunning_requests{") and 'verb="WATCH"' in line:
                labels, value = _sample(line)
                found.open_watches[labels.get("resource", "")] += int(value)
        return found


def _sample(line: str) -> tuple[dict[str, str], float]:
    head, _, value = line.rpartition(" ")
    return dict(_LABELS.findall(head)), float(value)


def requests_between(before: ApiMetrics, after: ApiMetrics, own: Counter[Key]) -> Counter[Key]:
    """Requests made between two reads by anyone but the bench, the stand-in and the control
    plane's background."""
    delta: Counter[Key] = Counter()
    for key, value in after.requests.items():
        if key[1] in BACKGROUND:
            continue
        n = value - before.requests.get(key, 0) - own.get(key, 0)
        if n:
            delta[key] = n
    return delta


def operator_flows(before: ApiMetrics, after: ApiMetrics) -> int:
    """Requests APF dispatched for identities outside ``exempt`` (system:masters: the bench,
    the stand-in, the controller manager, the apiserver itself): the operator's."""
    return sum(v - before.flows.get(k, 0) for k, v in after.flows.items() if k != "exempt")


def total(counts: Counter[Key], verbs: Iterable[str],
          keep: Callable[[Key], bool] = lambda _: True) -> int:
    verbs = tuple(verbs)
    return sum(v for k, v in counts.items() if k[0] in verbs and keep(k))


class MlflowLog:
    """Requests the MLflow server logged (uvicorn's access log, in ``MlflowServer.log``)."""

    LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/[\d.]+"')

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> int:
        return self.path.stat().st_size

    def since(self, offset: int, until: int | None = None) -> Counter[str]:
        """``"METHOD /path"`` → count, between two offsets."""
        with self.path.open("rb") as log:
            log.seek(offset)
            text = log.read(None if until is None else until - offset).decode(errors="replace")
        found: Counter[str] = Counter()
        for match in self.LINE.finditer(text):
            found[f"{match[1]} {match[2].split('?')[0]}"] += 1
        return found


class Usage:
    """CPU and memory of a process and its descendants, from /proc."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat[stat.rfind(")") + 2:].split()[1])
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            children = [p for p, pp in parents.items() if pp in frontier]
            tree += children
            frontier = children
        return tree

    def cpu_seconds(self) -> float:
        """utime + stime (+ those of reaped children) of the whole tree."""
        ticks = 0
        for pid in self._tree():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            ticks += sum(int(f) for f in fields[11:15])
        return ticks / self.TICK

    def sockets(self) -> int:
        """Open sockets of the tree (its connections to the API server, MLflow, its listeners)."""
        count = 0
        for pid in self._tree():
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                with contextlib.suppress(OSError):
                    count += os.readlink(fd).startswith("socket:")
        return count

    def rss_mb(self) -> float:
        kb = 0
        for pid in self._tree():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            kb += next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), 0)
        return kb / 1024


def passes(operator: OperatorProcess) -> tuple[float, float]:
    """(count, total seconds) of the operator's UpliftModel passes so far, from its /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics",
                                  timeout=10).read().decode()
    found = {"count": 0.0, "sum": 0.0}
    for line in text.splitlines():
        for part in found:
            prefix = f'uplift_operator_reconcile_duration_seconds_{part}{{kind="UpliftModel"}} '
            if line.startswith(prefix):
                found[part] = float(line[len(prefix):])
    return found["count"], found["sum"]


# -- objects -----------------------------------------------------------------------------------

def name_of(i: int) -> str:
    return f"um-{i:05d}"


def namespace(name: str) -> kube_client.V1Namespace:
    return kube_client.V1Namespace(metadata=kube_client.V1ObjectMeta(name=name))


def upliftmodel(name: str) -> dict[str, Any]:
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"model": {"registeredModel": MODEL, "alias": ALIAS},
                     "treatments": [{"name": "womens-e-mail"}],
                     "rollout": {"steps": [{"weight": 20}, {"weight": 60}],
                                 "gates": [{"name": "qini", "type": "qini"}]}}}


def seldon_deployment(name: str, tracking_uri: str) -> dict[str, Any]:
    """A SeldonDeployment as the operator renders one (``render.seldon``), without the owner
    reference (its owner does not exist: the garbage collector would delete it)."""
    env = {"MLSERVER_MODEL_NAME": name, "MLSERVER_MODEL_VERSION": "1",
           "MLSERVER_MODEL_URI": f"models:/{MODEL}/1", "MLSERVER_PARALLEL_WORKERS": "0",
           "MLFLOW_TRACKING_URI": tracking_uri, "UPLIFT_MODEL_VERSION": "1",
           "UPLIFT_HOLDOUT_FRACTION": "0.1", "UPLIFT_UNIT_KEY": "unit_id",
           "UPLIFT_SALT": f"{SCRATCH}/{name}", "MLSERVER_METRICS_DIR": "/var/lib/mlserver/metrics",
           "UPLIFT_CAMPAIGNS_FILE": "/etc/uplift/campaigns/campaigns.json"}
    container = {
        "name": name, "image": "ghcr.io/uplift-dev/uplift-runtime:0.1.0",
        "env": [{"name": k, "value": v} for k, v in env.items()] + [
            {"name": "UPLIFT_DECISION_KEY", "valueFrom": {"secretKeyRef": {
                "name": f"{name}-decision-key", "key": "key"}}}],
        "volumeMounts": [{"name": "mlserver-metrics", "mountPath": "/var/lib/mlserver/metrics"},
                         {"name": "campaigns", "mountPath": "/etc/uplift/campaigns",
                          "readOnly": True}]}
    return {
        "apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
        "metadata": {"name": name, "namespace": SCRATCH, "labels": {
            "app.kubernetes.io/managed-by": "uplift-operator", "app.kubernetes.io/name": name,
            "uplift.dev/model": name}},
        "spec": {"protocol": "v2", "transport": "rest", "predictors": [{
            "name": "v1", "annotations": {"version": "1", "uplift.dev/role": "stable"},
            "labels": {"uplift.dev/version": "1"}, "replicas": 1, "traffic": 100,
            "componentSpecs": [{"spec": {
                "containers": [container], "automountServiceAccountToken": False,
                "volumes": [{"name": "mlserver-metrics", "emptyDir": {}},
                            {"name": "campaigns", "configMap": {"name": f"{name}-campaigns",
                                                                "optional": True}}]}}],
            "graph": {"name": name, "type": "MODEL", "children": []}}]}}


def create_all(calls: list[Callable[[], object]], threads: int,
               own: Own | None = None, key: Key | None = None) -> tuple[float, int]:
    """Run the create calls on a thread pool (a failed call is retried twice), each attempt
    counted in ``own`` under ``key``; (seconds from the first to the last returning, failures)."""
    def attempt(call: Callable[[], object]) -> bool:
        for _ in range(3):
            if own is not None and key is not None:
                own.add(key)
            try:
                call()
                return True
            except ApiException as error:
                if error.status == 409:  # a retry of a create that landed
                    return True
            except Exception:  # a dropped connection: try again
                pass
        return False

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        failed = sum(not ok for ok in pool.map(attempt, calls))
    return time.monotonic() - started, failed


# -- one N -------------------------------------------------------------------------------------

def api_client(kubeconfig: Path, pool: int) -> kube_client.ApiClient:
    config = kube_client.Configuration()
    kube_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=config)
    config.connection_pool_maxsize = pool
    return kube_client.ApiClient(config)


def wait_namespace_gone(core: kube_client.CoreV1Api, name: str, timeout: float) -> None:
    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as error:
            return bool(error.status == 404)
        return False
    process.wait_until(gone, timeout=timeout, what=f"namespace {name} deleted", interval=1.0)


def raw_create(api: kube_client.ApiClient, n: int, threads: int,
               tracking_uri: str, plane_cpu: Callable[[], Counter[str]]) -> dict[str, Any]:
    custom, core = kube_client.CustomObjectsApi(api), kube_client.CoreV1Api(api)
    core.create_namespace(namespace(SCRATCH))
    names = [name_of(i) for i in range(n)]
    sdeps: list[Callable[[], object]] = [
        partial(custom.create_namespaced_custom_object, *SELDON[:2], SCRATCH, SELDON[2],
                seldon_deployment(m, tracking_uri)) for m in names]
    cpu_before = plane_cpu()
    seconds, failed = create_all(sdeps, threads)
    key = base64.b64encode(os.urandom(32)).decode()
    children: list[Callable[[], object]] = [
        partial(core.create_namespaced_secret, SCRATCH, kube_client.V1Secret(
            metadata=kube_client.V1ObjectMeta(name=f"{m}-decision-key"), type="Opaque",
            data={"key": key})) for m in names]
    others, failed_others = create_all(children, threads)
    cpu = plane_cpu() - cpu_before  # by component
    core.delete_namespace(SCRATCH)
    wait_namespace_gone(core, SCRATCH, timeout=max(300.0, n * 0.2))
    return {"raw_create_s": round(seconds, 2), "raw_failed": failed,
            "raw_children_s": round(seconds + others, 2), "raw_children_failed": failed_others,
            "raw_children_plane_cpu_s": round(cpu.total(), 1),
            "raw_children_plane_cpu_by_component": {k: round(v, 1) for k, v in cpu.items()}}


class PhaseWatch:
    """The phase of every UpliftModel in the namespace, from one watch: a LIST of N bodies every
    second would load the API server the operator is measured against (at 1,000, ~2 MB a second
    for the API server to encode and the bench to decode). Its requests count as the bench's."""

    #: Server-side timeout of one watch request: how long ``stop`` may wait for the thread.
    WATCH_SECONDS = 5

    def __init__(self, custom: kube_client.CustomObjectsApi, own: Own) -> None:
        self._custom, self._own = custom, own
        self._phases: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phase-watch", daemon=True)

    def start(self) -> PhaseWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.WATCH_SECONDS + 5)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._phases.values())

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                version = self._follow(version) if version else self._list()
            except (ApiException, HTTPError, ValueError):
                version = None  # expired or dropped: list again
                self._stop.wait(0.5)

    def _list(self) -> str:
        self._own.add(("LIST", "upliftmodels", ""))
        listing = cast(dict[str, Any], self._custom.list_namespaced_custom_object(
            UPLIFT[0], UPLIFT[1], NS, UPLIFT[2]))
        with self._lock:
            self._phases = {str(i["metadata"]["name"]): _phase(i)
                            for i in listing.get("items", [])}
        return str(listing["metadata"]["resourceVersion"])

    def _follow(self, version: str) -> str | None:
        self._own.add(("WATCH", "upliftmodels", ""))
        stream = kube_watch.Watch()  # type: ignore[no-untyped-call]  # the client is untyped
        for event in stream.stream(  # type: ignore[no-untyped-call]
                self._custom.list_namespaced_custom_object, UPLIFT[0], UPLIFT[1], NS, UPLIFT[2],
                resource_version=version, timeout_seconds=self.WATCH_SECONDS):
            body = event.get("object")
            if event.get("type") == "ERROR" or not isinstance(body, dict):
                return None
            name = str(body["metadata"]["name"])
            with self._lock:
                if event.get("type") == "DELETED":
                    self._phases.pop(name, None)
                else:
                    self._phases[name] = _phase(body)
            if self._stop.is_set():
                stream.stop()  # type: ignore[no-untyped-call]
        return cast(str | None, stream.resource_version) or version


def _phase(body: dict[str, Any]) -> str:
    return str((body.get("status") or {}).get("phase") or "-")


@dataclass
class Progress:
    n: int
    started: float
    healthy: int = 0
    children: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    shown: float = 0.0
    #: Seconds from the first create until a tenth, and half, of the N were Healthy: whether
    #: resources become Ready as they go or all together at the end.
    tenth_s: float | None = None
    half_s: float | None = None
    #: The operator's open sockets, most seen while polling (kopf's event posting once opened
    #: a connection per object in a burst: docs/operator.md "Scale" (9)).
    sockets: int = 0


def snapshot_operator(dest: Path) -> str:
    """Copy the working tree's ``uplift_operator`` to ``dest`` (every N runs the same code while
    the tree may change); the sha256 of its sources, shortened."""
    source = ROOT / "operator" / "uplift_operator"
    shutil.copytree(source, dest / "uplift_operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.sha256()
    for path in sorted((dest / "uplift_operator").rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def run_one(n: int, args: argparse.Namespace, code: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n}
    own = Own()
    with contextlib.ExitStack() as stack:
        # Each stop registered before its start: a start interrupted (SIGTERM) still stops it.
        plane, mlflow = ControlPlane(), MlflowServer()
        logdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="uplift-scale-"))
        stack.callback(plane.stop)
        plane.start()
        stack.callback(mlflow.stop)
        mlflow.start()
        admin = Kubectl(plane.admin_kubeconfig)
        install_crds(admin)
        install_operator_rbac(admin)
        api = api_client(plane.admin_kubeconfig, args.threads + 4)
        custom, core = kube_client.CustomObjectsApi(api), kube_client.CoreV1Api(api)

        planes = {name: Usage(pid) for name, pid in plane.pids.items()}

        def plane_cpu() -> Counter[str]:
            return Counter({name: part.cpu_seconds() for name, part in planes.items()})

        row.update(raw_create(api, n, args.threads, mlflow.url, plane_cpu))
        print(f"N={n}: raw create {row['raw_create_s']:.2f} s "
              f"(+ Secrets: {row['raw_children_s']:.2f} s)", flush=True)

        versions = Versions(mlflow.url, MODEL)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
                contextlib.redirect_stderr(quiet):  # the trainer's report and progress bars
            versions.set_alias(ALIAS, versions.train(HILLSTROM, sample=4000))
        mlflow_log = MlflowLog(mlflow.log)
        core.create_namespace(namespace(NS))
        baseline = ApiMetrics.read(api)  # watches open before the operator runs
        standin = CountingStandIn(api_client(plane.admin_kubeconfig, 4), own)
        operator = OperatorProcess(plane.operator_kubeconfig, Path(logdir),
                                   "--mlflow-tracking-uri", mlflow.url, *args.operator_arg,
                                   env={"PYTHONPATH": str(code)})
        standin.start()
        stack.callback(standin.stop)
        stack.callback(operator.stop)
        operator.start()
        assert operator.proc is not None
        usage = Usage(operator.proc.pid)
        time.sleep(args.settle)
        row["rss_idle_mb"] = round(usage.rss_mb(), 1)
        row.update(apply(n, args, api, custom, own, mlflow_log, operator, usage, plane_cpu))
        reached = "" if row["all_ready"] else " (timeout)"
        print(f"N={n}: Ready {row['ready']} after {row['apply_ready_s']:.1f} s{reached}",
              flush=True)
        time.sleep(args.settle)
        standin.stop()
        time.sleep(1)
        row.update(at_rest(n, args, api, custom, baseline, mlflow_log, operator, usage))
    return row


def list_items(custom: kube_client.CustomObjectsApi,
               resource: tuple[str, str, str]) -> list[dict[str, Any]]:
    listing = cast(dict[str, Any], custom.list_namespaced_custom_object(
        resource[0], resource[1], NS, resource[2]))
    return cast(list[dict[str, Any]], listing.get("items", []))


def apply(n: int, args: argparse.Namespace, api: kube_client.ApiClient,
          custom: kube_client.CustomObjectsApi, own: Own, mlflow_log: MlflowLog,
          operator: OperatorProcess, usage: Usage,
          plane_cpu: Callable[[], Counter[str]]) -> dict[str, Any]:
    before, own_before, log_before = ApiMetrics.read(api), own.snapshot(), mlflow_log.offset()
    cpu_before, passes_before = usage.cpu_seconds(), passes(operator)
    plane_before = plane_cpu()
    sockets_idle = usage.sockets()
    phases = PhaseWatch(custom, own).start()
    started = time.monotonic()
    creates: list[Callable[[], object]] = [
        partial(custom.create_namespaced_custom_object, *UPLIFT[:2], NS, UPLIFT[2],
                upliftmodel(name_of(i))) for i in range(n)]
    created, failed = create_all(creates, args.threads, own, ("POST", "upliftmodels", ""))
    progress = Progress(n, started)

    def all_ready() -> bool:
        progress.sockets = max(progress.sockets, usage.sockets())
        progress.phases = phases.counts()
        progress.healthy = progress.phases.get("Healthy", 0)
        now = time.monotonic()
        if progress.tenth_s is None and progress.healthy * 10 >= n:
            progress.tenth_s = round(now - started, 1)
        if progress.half_s is None and progress.healthy * 2 >= n:
            progress.half_s = round(now - started, 1)
        if now - progress.shown >= 15:
            progress.shown = now
            print(f"  N={n}: {now - started:5.0f} s, Healthy {progress.healthy}/{n} "
                  f"{dict(progress.phases)}", flush=True)
        if progress.healthy < n:
            return False
        own.add(("LIST", "seldondeployments", ""))
        progress.children = len(list_items(custom, SELDON))
        return progress.children >= n

    try:
        ready_at = process.wait_until(all_ready, timeout=args.timeout, what="all Ready",
                                      interval=0.2)
        done = True
    except TimeoutError:
        ready_at, done = time.monotonic(), False
    phases.stop()  # before the at-rest window, whose requests are not the bench's
    elapsed = ready_at - started
    after, own_after, log_after = ApiMetrics.read(api), own.snapshot(), mlflow_log.offset()
    cpu_after, passes_after = usage.cpu_seconds(), passes(operator)
    plane_used = plane_cpu() - plane_before
    mine = own_after - own_before
    made = requests_between(before, after, mine)
    writes = {f"{v} {r}{'/' + s if s else ''}": c for (v, r, s), c in sorted(made.items())
              if v in WRITES}
    mlflow_calls = mlflow_log.since(log_before, log_after)
    mlflow_writes = sum(c for k, c in mlflow_calls.items() if not k.startswith("GET"))
    count, seconds = (a - b for a, b in zip(passes_after, passes_before, strict=True))
    return {
        "all_ready": done, "ready": f"{progress.healthy}/{n}",
        "phases": dict(progress.phases), "apply_ready_s": round(elapsed, 1),
        "tenth_ready_s": progress.tenth_s, "half_ready_s": progress.half_s,
        "apply_create_s": round(created, 2), "apply_create_failed": failed,
        "apply_writes": writes,
        "status_writes_per_resource": round(
            made.get(("PATCH", "upliftmodels", "status"), 0) / n, 2),
        "object_patches_per_resource": round(made.get(("PATCH", "upliftmodels", ""), 0) / n, 2),
        "events_per_resource": round(total(made, ("POST",), lambda k: k[1] == "events") / n, 2),
        "api_writes_per_resource": round(total(
            made, WRITES, lambda k: k[1] not in PEERING) / n, 2),
        "apf_operator_requests_per_resource": round(operator_flows(before, after) / n, 2),
        "mlflow_requests_per_resource": round(sum(mlflow_calls.values()) / n, 2),
        "mlflow_writes_per_resource": round(mlflow_writes / n, 2),
        "mlflow_apply": dict(mlflow_calls.most_common()),
        "operator_cpu_apply_pct": round(100 * (cpu_after - cpu_before) / max(elapsed, 1e-9), 1),
        "apply_operator_cpu_s": round(cpu_after - cpu_before, 1),
        "apply_plane_cpu_s": round(plane_used.total(), 1),
        "apply_plane_cpu_by_component": {k: round(v, 1) for k, v in plane_used.items()},
        "rss_after_apply_mb": round(usage.rss_mb(), 1),
        "sockets_idle": sockets_idle, "sockets_apply_max": progress.sockets,
        "passes_apply": int(count),
        "pass_mean_apply_ms": round(1000 * seconds / count, 1) if count else None,
    }


def at_rest(n: int, args: argparse.Namespace, api: kube_client.ApiClient,
            custom: kube_client.CustomObjectsApi, baseline: ApiMetrics, mlflow_log: MlflowLog,
            operator: OperatorProcess, usage: Usage) -> dict[str, Any]:
    # The window: nothing but these reads at both ends.
    log_before, before = mlflow_log.offset(), ApiMetrics.read(api)
    passes_before, cpu_before, t0 = passes(operator), usage.cpu_seconds(), time.monotonic()
    time.sleep(args.rest)
    cpu_after, t1 = usage.cpu_seconds(), time.monotonic()
    after, passes_after, log_after = ApiMetrics.read(api), passes(operator), mlflow_log.offset()
    rss = usage.rss_mb()
    # Outside the window again: is everything still Healthy?
    healthy = sum((i.get("status") or {}).get("phase") == "Healthy"
                  for i in list_items(custom, UPLIFT))
    minutes = (t1 - t0) / 60
    made = requests_between(before, after, Counter())
    mlflow_calls = mlflow_log.since(log_before, log_after)
    count, seconds = (a - b for a, b in zip(passes_after, passes_before, strict=True))
    open_watches = {r: c - baseline.open_watches.get(r, 0)
                    for r, c in after.open_watches.items()
                    if c - baseline.open_watches.get(r, 0)}

    def per_min(x: float) -> float:
        return round(x / minutes, 1)

    return {
        "rest_s": round(t1 - t0, 1),
        "reads_per_min": per_min(total(made, READS, lambda k: k[1] not in PEERING)),
        "peering_reads_per_min": per_min(total(made, READS, lambda k: k[1] in PEERING)),
        "watches_per_min": per_min(total(made, (WATCH,))),
        "open_watches": sum(open_watches.values()),
        "open_watches_by_resource": open_watches,
        "writes_per_min": per_min(total(made, WRITES, lambda k: k[1] not in PEERING)),
        "peering_writes_per_min": per_min(total(made, WRITES, lambda k: k[1] in PEERING)),
        "apf_operator_requests_per_min": per_min(operator_flows(before, after)),
        "rest_requests": {f"{v} {r}{'/' + s if s else ''}": c
                          for (v, r, s), c in sorted(made.items())},
        "mlflow_per_min": per_min(sum(mlflow_calls.values())),
        "mlflow_rest": dict(mlflow_calls.most_common()),
        "cpu_rest_pct": round(100 * (cpu_after - cpu_before) / (t1 - t0), 1),
        "rss_mb": round(rss, 1),
        "passes_per_resource_per_min": round(count / n / minutes, 2),
        "pass_mean_rest_ms": round(1000 * seconds / count, 1) if count else None,
        "healthy_after_rest": f"{healthy}/{n}",
    }


# -- output ------------------------------------------------------------------------------------

def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| N | raw create | apply → all Ready | ratio | reads/min at rest "
             "(+ peering) | watch requests/min (open) | writes/min at rest (+ peering) "
             "| MLflow req/min "
             "| operator CPU at rest | operator RSS |", "|---" * 10 + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']:,} | error: {r['error']} |" + " |" * 8)
            continue
        ready = (f"{r['apply_ready_s']:.1f} s" if r["all_ready"]
                 else f"Ready {r['ready']} after {r['apply_ready_s']:.0f} s")
        marks = [f"{share} at {r[key]:.0f} s" for share, key in
                 (("10 %", "tenth_ready_s"), ("50 %", "half_ready_s")) if r.get(key) is not None]
        ready += f" ({', '.join(marks)})" if marks else ""
        ratio = _ratio(r, "raw_create_s")
        lines.append(
            f"| {r['n']:,} | {r['raw_create_s']:.2f} s | {ready} | {ratio} "
            f"| {r['reads_per_min']:,.0f} (+ {r['peering_reads_per_min']:.0f}) "
            f"| {r['watches_per_min']:.1f} ({r['open_watches']}) "
            f"| {r['writes_per_min']:,.0f} (+ {r['peering_writes_per_min']:.0f}) "
            f"| {r['mlflow_per_min']:.1f} | {r['cpu_rest_pct']:.1f} % "
            f"| {r['rss_idle_mb']:.0f} MB idle → {r['rss_mb']:.0f} MB |")
    lines += ["", "| N | raw children (SD + Secret) | ratio | status writes/res "
              "| object patches/res | events/res | API writes/res | MLflow req (writes)/res "
              "| operator CPU during apply | control plane CPU: raw children → apply "
              "| operator sockets: idle → most during apply "
              "| passes/res/min at rest (mean pass) |",
              "|---" * 12 + "|"]
    for r in rows:
        if "error" in r:
            continue
        ratio = _ratio(r, "raw_children_s")
        mean = r["pass_mean_rest_ms"]
        lines.append(
            f"| {r['n']:,} | {r['raw_children_s']:.2f} s | {ratio} "
            f"| {r['status_writes_per_resource']:.2f} | {r['object_patches_per_resource']:.2f} "
            f"| {r['events_per_resource']:.2f} | {r['api_writes_per_resource']:.2f} "
            f"| {r['mlflow_requests_per_resource']:.2f} ({r['mlflow_writes_per_resource']:.2f}) "
            f"| {r['operator_cpu_apply_pct']:.0f} % ({r['apply_operator_cpu_s']:.0f} s) "
            f"| {r['raw_children_plane_cpu_s']:.0f} s → {r['apply_plane_cpu_s']:.0f} s "
            f"| {r['sockets_idle']} → {r['sockets_apply_max']} "
            f"| {r['passes_per_resource_per_min']:.1f} "
            f"({'-' if mean is None else f'{mean:.0f} ms'}) |")
    return "\n".join(lines)


def _ratio(row: dict[str, Any], raw: str) -> str:
    if not row["all_ready"] or not row[raw]:
        return "—"
    return f"{row['apply_ready_s'] / row[raw]:.1f}×"


def revision() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True,
                              check=False).stdout.strip()
    dirty = " (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") \
        else ""
    return git("rev-parse", "--short", "HEAD") + dirty


def alias_polling(n: int, latency: float, sweep: bool, window: float = 5.0,
                  moved: int = 10) -> dict[str, Any]:
    """One round of the alias poller over ``n`` due aliases (see the module's doc)."""
    import asyncio
    import datetime as dt

    from tests.unit.services.fakes import FakeRegistry, ListingRegistry

    from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
    from uplift_operator.handlers.common import now
    from uplift_operator.handlers.registry_polling import ALIAS_READERS, poll_aliases
    from uplift_operator.handlers.watches import AliasFollowers
    from uplift_operator.services.resolution import Resolver

    asked = [0]
    lock = threading.Lock()

    def slowly(check: Callable[[], None]) -> None:
        time.sleep(latency)
        with lock:
            asked[0] += 1
        check()

    class Slow(FakeRegistry):
        def _check(self) -> None:
            slowly(super()._check)

    class SlowListing(ListingRegistry):
        def _check(self) -> None:
            slowly(super()._check)

    registry: FakeRegistry = SlowListing() if sweep else Slow()
    resolver, followers = Resolver(), AliasFollowers()
    every = dt.timedelta(minutes=1)
    scope = ("http://mlflow", "", "")
    keys = []
    for index in range(n):
        name = f"model-{index:05d}"
        registry.add(name, "1")
        registry.add(name, "2")
        registry.aliases[(name, ALIAS)] = "1"
        keys.append((scope, name, ALIAS))
    saved, latency = latency, 0.0
    read_at = now() - dt.timedelta(seconds=61)
    for key in keys:  # as the followers' passes did, 61 s ago
        ref = ModelReference.model_validate({"registeredModel": key[1], "alias": ALIAS,
                                             "aliasRefreshInterval": "1m"})
        resolver.resolve(scope, ref, registry, read_at)
        followers.follow(("UpliftModel", "ns", key[1]), (key, every))
    latency = saved
    for key in keys[:moved]:
        registry.aliases[(key[1], ALIAS)] = "2"
    asked[0] = 0

    async def round_() -> tuple[float, int, int]:
        with ThreadPoolExecutor(ALIAS_READERS) as pool:
            began = time.monotonic()
            task = asyncio.create_task(poll_aliases(followers, resolver, pool, lambda _: True))
            refreshed = requests = 0
            while time.monotonic() - began < window:
                await asyncio.sleep(0.05)
                with lock:  # the requests answered by then, as the aliases refreshed
                    requests = asked[0]
                refreshed = sum(resolver.next_refresh(key, every) > read_at + every
                                for key in keys)
                if refreshed == n:
                    break
            elapsed = time.monotonic() - began
            task.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        return elapsed, refreshed, requests

    elapsed, refreshed, requests = asyncio.run(round_())
    complete = refreshed == n
    round_s = elapsed if complete else elapsed * n / max(refreshed, 1)
    return {"aliases": n, "latency_ms": latency * 1000, "mode": "sweep" if sweep else "per alias",
            "requests_per_round": requests if complete else round(requests * n / max(refreshed, 1)),
            "round_s": round(round_s, 2), "measured": "whole round" if complete
            else f"{refreshed} refreshed in {elapsed:.1f} s, extrapolated",
            "each_alias_read_every_s": round(max(60.0, round_s), 1)}


def alias_look(n: int, sweep: bool, tries: int = 50) -> dict[str, Any]:
    """The event loop's share of the poller's look at ``n`` due aliases: finding the due and
    early ones (``due_and_early``) and planning their reads (``Resolver.plan``), best of
    ``tries``, on a registry that answers at once (the figure in ``ALIAS_READERS``' comment)."""
    import datetime as dt

    from tests.unit.services.fakes import FakeRegistry, ListingRegistry

    from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
    from uplift_operator.handlers.common import now
    from uplift_operator.handlers.registry_polling import ALIAS_READERS, due_and_early
    from uplift_operator.handlers.watches import AliasFollowers
    from uplift_operator.services.resolution import Resolver

    registry: FakeRegistry = ListingRegistry() if sweep else FakeRegistry()
    resolver, followers = Resolver(), AliasFollowers()
    every, scope = dt.timedelta(minutes=1), ("http://mlflow", "", "")
    read_at = now() - dt.timedelta(seconds=61)
    for index in range(n):
        name = f"model-{index:05d}"
        registry.add(name, "1")
        registry.aliases[(name, ALIAS)] = "1"
        ref = ModelReference.model_validate({"registeredModel": name, "alias": ALIAS,
                                             "aliasRefreshInterval": "1m"})
        resolver.resolve(scope, ref, registry, read_at)
        followers.follow(("UpliftModel", "ns", name), ((scope, name, ALIAS), every))
    at, best = read_at + every + dt.timedelta(seconds=1), math.inf
    for _ in range(tries):
        began = time.perf_counter()
        due, early = due_and_early(followers.intervals(lambda _: True), resolver, at)
        resolver.plan(due, at, early=early, readers=ALIAS_READERS)
        best = min(best, time.perf_counter() - began)
    return {"aliases": n, "mode": "sweep" if sweep else "per alias", "due": len(due),
            "look_and_plan_ms": round(best * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="100,1000,10000",
                        help="comma-separated numbers of UpliftModels, one fresh stack each")
    parser.add_argument("--rest", type=float, default=60.0, help="at-rest window, seconds")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds to wait for all Ready before reporting how far it got")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds before the idle RSS reading and before the rest window")
    parser.add_argument("--threads", type=int, default=8, help="creating threads (both creates)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON lines here")
    parser.add_argument("--operator-arg", action="append", default=[],
                        help="passed on to the operator (repeatable), e.g. --operator-arg=--pass-workers=16")
    parser.add_argument("--alias-polling", action="store_true",
                        help="only the alias poller, in process: per alias and swept (a few s)")
    parser.add_argument("--latency", type=float, default=0.1,
                        help="--alias-polling: seconds MLflow takes per request")
    args = parser.parse_args()
    if args.alias_polling:
        for n in [int(c.replace("_", "")) for c in (args.counts if args.counts != "100,1000,10000"
                                                   else "2000,5000").split(",") if c.strip()]:
            for sweep in (False, True):
                print(json.dumps(alias_polling(n, args.latency, sweep)), flush=True)
                print(json.dumps(alias_look(n, sweep)), flush=True)
        return 0
    counts = [int(c.replace("_", "")) for c in args.counts.split(",") if c.strip()]
    # SIGTERM unwinds like Ctrl-C: the operator, MLflow and the control plane are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rows: list[dict[str, Any]] = []
    code = Path(tempfile.mkdtemp(prefix="uplift-scale-code-"))
    try:
        rev = f"{revision()}, operator sources sha256 {snapshot_operator(code)}"
        for n in counts:
            try:
                row = run_one(n, args, code)
            except Exception as error:  # report it and go on with the next N
                row = {"n": n, "error": f"{type(error).__name__}: {str(error)[:300]}"}
            row["revision"] = rev
            row["operator_args"] = args.operator_arg
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.json:
                args.json.write_text("".join(json.dumps(r) + "\n" for r in rows))
    finally:
        shutil.rmtree(code, ignore_errors=True)
    print()
    print(table(rows))
    print(f"\n{os.cpu_count()} cores, operator at {rev}, rest window {args.rest:.0f} s, "
          f"alias refresh 1 m (default), --threads {args.threads}. Reads and writes at rest leave "
          "out kopf's peering (in brackets); 'open': the operator's open watches at the end.")
    return 0 if all("error" not in r and r.get("all_ready") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
