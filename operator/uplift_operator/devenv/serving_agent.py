"""A local serving agent: what Seldon Core v1 and Kubernetes do for a SeldonDeployment, here.

For every ``machinelearning.seldon.io/v1`` SeldonDeployment it:

* runs one real MLServer process per predictor (our ``UpliftRuntime``) with the environment of
  the predictor's first ``componentSpecs`` container — ``MLSERVER_MODEL_NAME``/``_URI``/
  ``_VERSION``, ``MLFLOW_TRACKING_URI`` and the ``UPLIFT_*`` settings the operator renders —
  so the model really loads from the MLflow registry (``valueFrom`` variables are skipped:
  there are no Secrets to read locally; the decision key the chart's Secret would hold is one
  random ``UPLIFT_DECISION_KEY`` per SeldonDeployment; for the same reason a variable whose
  value is a path under a ``secret`` volume's mount, as the report token file, is skipped too:
  that runtime runs without a report token, as it did when the token came by ``valueFrom``;
  and the pod's own ports, endpoint and metrics directory, ``POD_ONLY_ENV``, are dropped: the
  processes share one host, each on free ports of its own, metrics at ``/metrics``:
  ``local_env``);
* routes requests by the predictors' ``traffic`` through :class:`router.WeightedRouter`; weight
  changes reach the router at the next poll without restarting anything. A predictor that was
  ready and is being restarted keeps its weight, its share of the rows answered 503 (Istio keeps
  a route's weight while its pods are down; re-spreading it would give the others, a canary, more
  than their weights); one still loading for the first time is routed around;
* writes the status fields Seldon's controller writes (integrations.md §1), in Seldon 1.17.1's
  shape where the operator reads them: ``state`` Creating while a process loads, is restarted
  (``description``: the predictor's last failure, its log's path) or a predictor waits for a
  missing ConfigMap, Available when every predictor's process is
  ready, Failed (with the log tail) when one was never ready within the Deployment's progress
  deadline (``PROGRESS_DEADLINE_SECONDS``); ``deploymentStatus`` per Seldon Deployment name with
  ``replicas`` and ``availableReplicas`` (a zero left out). Not Seldon's values: each
  Deployment has one replica (one process) whatever the predictor's ``replicas``; the top-level
  ``replicas`` counts the predictors with a process (Seldon: the first predictor's Deployment's
  replicas); ``address.url`` is the router's ingress path (Seldon: the first predictor's
  Service inside the cluster). docs/demo.md lists these and the timing differences;
* restarts a process that exits as the kubelet restarts a container (CrashLoopBackOff): after
  10 s, doubled at each restart up to 300 s (``restart_delay``), back to 10 s after a run that
  lasted 10 min; one not ready within 300 s is stopped and restarted the same way (a pod would
  stay unready until its liveness probe fails); each failure is logged (a warning: the exit
  code, the log's path, the next delay);
* registers each process as a Prometheus target labelled as a Kubernetes scrape of the pod would
  be: ``namespace``, ``seldon_deployment_id``/``deployment_name``, ``predictor_name``,
  ``predictor_version``, ``pod`` (the runtime's own ``model``/``version`` labels come with the
  metrics), plus the router's executor metrics;
* plays the kubelet for ConfigMap volumes (the UpliftModel's campaigns file): each predictor's
  ``configMap`` volume mounted as a directory becomes a directory of the process's workdir, laid
  out and updated as the kubelet does (the keys in a timestamped ``..<time>`` directory, an
  atomic rename of the ``..data`` link, one link per key), and environment values under the
  mount path (``UPLIFT_CAMPAIGNS_FILE``) point into it. A predictor whose ConfigMap does not
  exist yet waits, as a pod does (``Creating``), unless the volume is ``optional`` (the
  operator's campaigns volume): then it starts on an empty directory, filled when the
  ConfigMap appears. ConfigMaps are followed with one watch, not
  polled per predictor: a change is projected into every predictor that mounts it at once;
* stops the processes of removed predictors and deleted SeldonDeployments, each after the
  runtime pod's preStop hook would have run (``render.seldon.DRAIN_HOOK``: the pending cohort
  counts drained, a scrape's wait, ``DRAIN_WAIT_SECONDS`` here where Prometheus scrapes every
  second).

One process per predictor whatever ``replicas`` says: the point is the real runtime, not scale.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.devenv.prometheus import SCRAPE_INTERVAL_SECONDS, PrometheusServer, ScrapeTarget
from uplift_operator.devenv.router import Route, WeightedRouter
from uplift_operator.render.seldon import deployment_names, version_roles
from uplift_operator.runtime import drain

logger = logging.getLogger(__name__)

#: The longest wait between two reconciles after failures in a row (from ``interval``, doubled).
MAX_BACKOFF_SECONDS = 5.0

__all__ = ["POD_ONLY_ENV", "ConfigMapMount", "Predictor", "ServingAgent", "config_map_mounts",
           "local_env", "predictor_env", "project", "restart_delay", "secret_mount_paths",
           "state_while_down", "under"]

GROUP, VERSION, PLURAL = "machinelearning.seldon.io", "v1", "seldondeployments"
#: The hook's wait for a scrape (the operator renders its --prometheus-scrape-interval + 5 s
#: into the pods, ``UPLIFT_DRAIN_WAIT_SECONDS``); the local Prometheus scrapes every second.
DRAIN_WAIT_SECONDS = SCRAPE_INTERVAL_SECONDS + 0.5

#: The kubelet's back-off before restarting a container that exited (CrashLoopBackOff): 10 s,
#: doubled after each restart, at most 300 s; reset when the run that ended had lasted
#: ``BACKOFF_RESET_SECONDS`` (ready that long: not counting an earlier, long healthy run).
RESTART_BACKOFF_SECONDS = 10.0
MAX_RESTART_BACKOFF_SECONDS = 300.0
BACKOFF_RESET_SECONDS = 600.0
#: A Deployment's default ``progressDeadlineSeconds``: a predictor whose process was never ready
#: this long after it was created is Failed (Seldon: "Deployment is no longer progressing and not
#: available."); it is still restarted, and Available again once ready.
PROGRESS_DEADLINE_SECONDS = 600.0
NOT_PROGRESSING = "Deployment is no longer progressing and not available."


def restart_delay(restarts: int, backoff: float = RESTART_BACKOFF_SECONDS) -> float:
    """Seconds before the next start of a process that exited or failed ``restarts`` times."""
    return min(backoff * float(2 ** min(restarts, 30)), MAX_RESTART_BACKOFF_SECONDS)


def state_while_down(ever_ready: bool, created: float, now: float,
                     deadline: float = PROGRESS_DEADLINE_SECONDS) -> str:
    """A predictor without a ready process: Creating while it is (re)started, Failed once it
    was never ready within the progress ``deadline`` of its creation (a predictor that was
    ready and crashes stays Creating, as a complete Deployment's pods crash-looping do)."""
    return "Failed" if not ever_ready and now - created >= deadline else "Creating"


#: What the rendered container sets for its pod alone (``render.seldon.PORT_ENV``, the metrics
#: emptyDir): here the processes share one host, and ``MlserverProcess`` gives each free ports
#: and a metrics directory of its own in ``settings.json``, its metrics at ``/metrics``
#: (``metrics_url``, the scrape target's path). Left in the environment, these would win where
#: ``settings.json`` says nothing (the metrics endpoint, ``/prometheus``).
POD_ONLY_ENV = ("MLSERVER_METRICS_DIR", "MLSERVER_HTTP_PORT", "MLSERVER_GRPC_PORT",
                "MLSERVER_METRICS_PORT", "MLSERVER_METRICS_ENDPOINT")


def local_env(predictor: Mapping[str, Any]) -> dict[str, str]:
    """``predictor_env`` without ``POD_ONLY_ENV``: what the predictor's local process gets."""
    env = predictor_env(predictor)
    for name in POD_ONLY_ENV:
        env.pop(name, None)
    return env


def predictor_env(predictor: Mapping[str, Any]) -> dict[str, str]:
    """Plain ``env`` values of the predictor's first container (what the pod would get), but
    those that point into a ``secret`` volume: no Secrets here, as for ``valueFrom``."""
    specs = predictor.get("componentSpecs") or [{}]
    containers = (specs[0].get("spec") or {}).get("containers") or [{}]
    secret_paths = secret_mount_paths(predictor)
    return {e["name"]: str(e["value"]) for e in containers[0].get("env", [])
            if "name" in e and "value" in e
            and not any(under(str(e["value"]), path) for path in secret_paths)}


def secret_mount_paths(predictor: Mapping[str, Any]) -> list[str]:
    """Where the predictor's first container mounts ``secret`` volumes: not played here."""
    specs = predictor.get("componentSpecs") or [{}]
    pod = specs[0].get("spec") or {}
    secret_volumes = {v["name"] for v in pod.get("volumes") or [] if "name" in v and "secret" in v}
    containers = pod.get("containers") or [{}]
    return [str(m["mountPath"]) for m in containers[0].get("volumeMounts") or []
            if m.get("name") in secret_volumes and m.get("mountPath")]


def under(value: str, path: str) -> bool:
    """Whether ``value`` is ``path`` or a path below it."""
    return value == path or value.startswith(path.rstrip("/") + "/")


@dataclass(frozen=True)
class ConfigMapMount:
    """A ``configMap`` volume the predictor's container mounts as a directory."""

    volume: str
    config_map: str
    mount_path: str
    optional: bool = False  # the pod starts without it (an empty directory until it exists)


def config_map_mounts(predictor: Mapping[str, Any]) -> list[ConfigMapMount]:
    """The predictor's ConfigMap volumes mounted whole (a ``subPath`` mount is never updated by
    the kubelet, so it is not played here either)."""
    specs = predictor.get("componentSpecs") or [{}]
    pod = specs[0].get("spec") or {}
    volumes = {v["name"]: v["configMap"] for v in pod.get("volumes") or []
               if "name" in v and (v.get("configMap") or {}).get("name")}
    containers = pod.get("containers") or [{}]
    return [ConfigMapMount(m["name"], volumes[m["name"]]["name"], str(m["mountPath"]),
                           optional=bool(volumes[m["name"]].get("optional")))
            for m in containers[0].get("volumeMounts") or []
            if m.get("name") in volumes and not m.get("subPath")]


def project(root: Path, data: Mapping[str, str]) -> None:
    """Write ``data`` into ``root`` as the kubelet updates a ConfigMap volume: the keys in a new
    ``..<time>`` directory, then an atomic rename of the ``..data`` link to it; one link per key
    into ``..data``; the previous version removed."""
    root.mkdir(parents=True, exist_ok=True)
    version = root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{secrets.token_hex(4)}"
    version.mkdir()
    for key, value in data.items():
        (version / key).write_text(value)
    data_link, staging = root / "..data", root / "..data_tmp"
    previous = os.readlink(data_link) if data_link.is_symlink() else None
    if staging.is_symlink():
        staging.unlink()
    staging.symlink_to(version.name)
    os.replace(staging, data_link)
    for key in data:
        if not (root / key).is_symlink():
            (root / key).symlink_to(f"..data/{key}")
    for link in root.iterdir():
        if link.is_symlink() and not link.name.startswith("..") and link.name not in data:
            link.unlink()
    if previous is not None:
        shutil.rmtree(root / previous, ignore_errors=True)


@dataclass
class Predictor:
    """One running (or loading, or failed) MLServer process of one predictor."""

    namespace: str
    deployment: str
    name: str
    version: str
    env: dict[str, str]
    workdir: Path
    template: dict[str, Any] = field(default_factory=dict)  # env and mounts as rendered
    mounts: dict[Path, str] = field(default_factory=dict)  # local directory → ConfigMap name
    server: MlserverProcess | None = None
    state: str = "Creating"  # Creating → Available; Creating again while restarted; Failed
    description: str = ""
    started_at: float = field(default_factory=time.monotonic)  # created (the Deployment's)
    ready_at: float | None = None  # when the current run got ready; None once it ended
    ever_ready: bool = False  # some run got ready: routed (503) while restarted, never Failed
    stopped: bool = False
    restarts: int = 0
    restart_at: float | None = None  # when the next start is due, after an exit or a failure
    launching: bool = False  # a start is under way (in its thread)
    backoff: float = RESTART_BACKOFF_SECONDS
    deadline: float = PROGRESS_DEADLINE_SECONDS

    @property
    def model_name(self) -> str:
        return self.env.get("MLSERVER_MODEL_NAME", self.deployment)

    def launch(self) -> None:
        """Start MLServer and wait for the model (run in a thread: loading takes seconds)."""
        try:
            self._launch()
        finally:
            self.launching = False

    def _launch(self) -> None:
        uri = self.env.get("MLSERVER_MODEL_URI", "")
        env = {**self.env, "MLSERVER_PARALLEL_WORKERS": "0"}
        self.restart_at = None
        self.server = MlserverProcess(uri, name=self.model_name, version=self.version, env=env,
                                      workdir=self.workdir, timeout=300)
        try:
            self.server.start()
        except Exception as error:  # restarted after a back-off, as the kubelet would
            with contextlib.suppress(Exception):
                self.server.stop()  # not ready in time: the process may run on
            self.down(str(error)[-800:], time.monotonic())
            return
        if self.stopped:  # removed while loading
            self.server.stop()
            return
        self.state, self.ready_at, self.description = "Available", time.monotonic(), ""
        self.ever_ready = True

    def down(self, why: str, now: float) -> None:
        """The process exited or never got ready: the next start after the back-off (from 10 s
        again when this run had been ready ``BACKOFF_RESET_SECONDS``); state Creating, or Failed
        past the progress deadline (``state_while_down``); ``description`` the failure and the
        log's path; a warning logged."""
        if self.ready_at is not None and now - self.ready_at >= BACKOFF_RESET_SECONDS:
            self.restarts = 0
        self.ever_ready = self.ever_ready or self.ready_at is not None
        self.ready_at = None  # this run is over: a later, short one must not reset the back-off
        server = self.server
        code = server.exit_code if server is not None else None
        log = f"; log {server.log}" if server is not None else ""
        # The log's path last: a status description keeps a failure's end.
        self.description = why[-(800 - len(log)):] + log
        delay = restart_delay(self.restarts, self.backoff)
        self.restart_at = now + delay
        self.restarts += 1
        self.state = state_while_down(self.ever_ready, self.started_at, now, self.deadline)
        first = next((line for line in why.splitlines() if line.strip()), why)
        logger.warning("serving agent: predictor %s/%s/%s down (exit code %s): %s%s; restart %d "
                       "in %g s", self.namespace, self.deployment, self.name, code, first, log,
                       self.restarts, delay)

    def due(self, now: float) -> bool:
        """Called at every reconcile: notices a ready process that exited, keeps the state
        (Failed once the progress deadline passes); True when a (re)start is due."""
        if self.stopped or self.launching:
            return False
        server = self.server
        if self.state == "Available" and server is not None and server.exit_code is not None:
            code = server.exit_code
            with contextlib.suppress(Exception):
                server.stop()
            self.down(f"MLServer exited with {code}{_tail(server.log)}"[-800:], now)
        if self.state != "Available":
            self.state = state_while_down(self.ever_ready, self.started_at, now, self.deadline)
        return self.restart_at is not None and now >= self.restart_at

    def stop(self, drain_wait: float | None = DRAIN_WAIT_SECONDS) -> None:
        """Stop the process, first draining it as the pod's preStop hook would (not when
        ``drain_wait`` is None: the whole stack is going away)."""
        self.stopped = True
        if self.server is None:
            return
        if drain_wait is not None and self.state == "Available":
            try:  # with the token the runtime wrote, as the hook sends it
                token = drain.read_token(drain.token_file(self.env))
                urllib.request.urlopen(drain.drain_request(self.server.url, token),
                                       timeout=5).close()
                time.sleep(drain_wait)
            except OSError:
                pass  # gone already: nothing to save, as for a pod
        self.server.stop()


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\n--- last lines of {log} ---\n" + "\n".join(text)


class ServingAgent:
    """Poll SeldonDeployments; run, route, report and register their predictors, until stopped."""

    def __init__(self, api_client: client.ApiClient, prometheus: PrometheusServer,
                 router: WeightedRouter, workdir: Path, interval: float = 0.5,
                 delays: Callable[[str], float] = lambda version: 0.0,
                 restart_backoff: float = RESTART_BACKOFF_SECONDS,
                 progress_deadline: float = PROGRESS_DEADLINE_SECONDS) -> None:
        self._api = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self.prometheus, self.router, self.workdir = prometheus, router, workdir
        self._interval = interval
        self._delays = delays
        self._restart_backoff, self._progress_deadline = restart_backoff, progress_deadline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="serving-agent", daemon=True)
        self._watcher = threading.Thread(target=self._watch_config_maps,
                                         name="serving-agent-configmaps", daemon=True)
        self._lock = threading.Lock()
        self._volumes = threading.Lock()  # the watch and the reconcile both project
        self.config_maps: dict[tuple[str, str], dict[str, str]] = {}
        self._projected: dict[Path, dict[str, str]] = {}
        self.predictors: dict[tuple[str, str, str], Predictor] = {}
        self._targets: tuple[ScrapeTarget, ...] = ()
        self._written: dict[tuple[str, str], dict[str, Any]] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self.errors = 0
        self.last_error = ""  # the last failure of a reconcile or of the ConfigMap watch

    def start(self) -> ServingAgent:
        self._targets = self._scrape_targets()
        self.prometheus.set_targets(self._targets)
        self._watcher.start()
        self._thread.start()
        return self

    def dead_thread(self) -> str | None:
        """The name of a thread of the agent that ended while it should run, else None (what
        ``DemoStack.check_alive`` asks)."""
        if self._stop.is_set():
            return None
        for thread in (self._thread, self._watcher):
            if not thread.is_alive():
                return thread.name
        return None

    def troubles(self) -> list[str]:
        """One line per predictor without a ready process: its state, restarts, the first and
        last line of its last failure and its log's path (what a wait names when it times out:
        a crash loop is otherwise only in the status description and the log)."""
        with self._lock:
            predictors = sorted(self.predictors.values(),
                                key=lambda p: (p.namespace, p.deployment, p.name))
        lines = []
        for p in predictors:
            if p.state == "Available":
                continue
            said = [line for line in p.description.splitlines() if line.strip()]
            what = (f"{said[0]} … {said[-1]}" if len(said) > 1 else said[0] if said
                    else "loading" + (f"; log {p.server.log}" if p.server is not None else ""))
            lines.append(f"predictor {p.namespace}/{p.deployment}/{p.name} {p.state}, "
                         f"{p.restarts} restart(s): {what}")
        return lines

    def stop(self) -> None:
        """Stop polling and every MLServer process."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._watcher.join(timeout=10)
        with self._lock:
            predictors = list(self.predictors.values())
            self.predictors.clear()
        for predictor in predictors:
            predictor.stop(drain_wait=None)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.reconcile_once()
                failures = 0
            except ApiException:
                self.errors += 1  # the control plane is starting or stopping; next tick
            except Exception as error:
                # Anything else must not end the thread, or no SeldonDeployment after it gets a
                # status or a route: a refused connection (urllib3's MaxRetryError while the
                # control plane restarts), a Prometheus /-/reload timing out on a busy machine.
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"
                logger.warning("serving agent: reconcile failed, retrying: %s", self.last_error,
                               exc_info=failures == 0)
                failures += 1
            self._stop.wait(min(self._interval * 2 ** min(failures, 8), MAX_BACKOFF_SECONDS)
                            if failures else self._interval)

    def reconcile_once(self) -> None:
        listing = cast(dict[str, Any], self._api.list_cluster_custom_object(GROUP, VERSION, PLURAL))
        seen: set[tuple[str, str, str]] = set()
        for body in listing.get("items", []):
            meta = body["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            ns, name = meta["namespace"], meta["name"]
            predictors = (body.get("spec") or {}).get("predictors") or []
            for spec in predictors:
                key = (ns, name, spec["name"])
                seen.add(key)
                self._ensure(key, spec)
            self._route(ns, name, predictors, version_roles(body))
            self._write_status(body, predictors)
        for key in [k for k in self.predictors if k not in seen]:
            with self._lock:
                gone = self.predictors.pop(key)
            self.router.set_routes(key[0], key[1], self.router_routes_without(key))
            gone.stop()
        targets = self._scrape_targets()
        if targets != self._targets:
            self.prometheus.set_targets(targets)
            self._targets = targets

    def _watch_config_maps(self) -> None:
        """The kubelet's side of ConfigMap volumes: one list, then a watch from its version;
        every change is projected into the predictors that mount it."""
        while not self._stop.is_set():
            try:
                listing: Any = self._core.list_config_map_for_all_namespaces()
                with self._volumes:
                    self.config_maps = {(str(c.metadata.namespace), str(c.metadata.name)):
                                        dict(c.data or {}) for c in listing.items}
                self._project_all()
                stream: Any = watch.Watch()  # type: ignore[no-untyped-call]
                for event in stream.stream(self._core.list_config_map_for_all_namespaces,
                                           resource_version=listing.metadata.resource_version,
                                           timeout_seconds=5):
                    item: Any = event["object"]
                    key = (str(item.metadata.namespace), str(item.metadata.name))
                    if event["type"] == "DELETED":  # a pod keeps what it was given
                        with self._volumes:
                            self.config_maps.pop(key, None)
                    else:
                        with self._volumes:
                            self.config_maps[key] = dict(item.data or {})
                        self._project_all(key)
                    if self._stop.is_set():
                        stream.stop()
            except (ApiException, HTTPError, OSError):
                self.errors += 1  # the control plane is starting or stopping; list again
                self._stop.wait(1)
            except Exception as error:  # must not end the thread: volumes would go stale
                self.errors += 1
                self.last_error = f"{type(error).__name__}: {error}"
                logger.warning("serving agent: ConfigMap watch failed, listing again: %s",
                               self.last_error, exc_info=True)
                self._stop.wait(1)

    def _project_all(self, only: tuple[str, str] | None = None) -> None:
        with self._lock:
            predictors = list(self.predictors.values())
        for predictor in predictors:
            for local, name in predictor.mounts.items():
                if only is None or only == (predictor.namespace, name):
                    self._project(predictor.namespace, name, local)

    def _project(self, namespace: str, name: str, local: Path) -> bool:
        """Project ConfigMap ``name`` into ``local`` if it changed; False when it does not exist."""
        with self._volumes:
            data = self.config_maps.get((namespace, name))
            if data is None:
                return local in self._projected
            if self._projected.get(local) != data:
                project(local, data)
                self._projected[local] = data
            return True

    def router_routes_without(self, key: tuple[str, str, str]) -> list[Route]:
        return [r for r in self.router.routes(key[0], key[1]) if r.predictor != key[2]]

    def _ensure(self, key: tuple[str, str, str], spec: Mapping[str, Any]) -> None:
        env = local_env(spec)  # not the pod's own ports and metrics directory
        # The Secret the chart mounts: one decision key per deployment, so any predictor
        # accepts reports for decisions another one made.
        env.setdefault("UPLIFT_DECISION_KEY", self._keys.setdefault(
            key[:2], secrets.token_hex(32)))
        version = str((spec.get("annotations") or {}).get("version")
                      or env.get("MLSERVER_MODEL_VERSION", ""))
        mounts = config_map_mounts(spec)
        template = {"env": dict(env), "mounts": mounts}
        current = self.predictors.get(key)
        if current is not None and current.template == template:
            if current.due(time.monotonic()):  # exited or never ready: restarted after back-off
                self._start(current)
            return
        ns, name, predictor = key
        if any((ns, m.config_map) not in self.config_maps for m in mounts if not m.optional):
            # As a pod whose ConfigMap is missing: not started until it exists. The old
            # template's process serves meanwhile, and is restarted as before if it exits.
            if current is not None and current.due(time.monotonic()):
                self._start(current)
            return
        if current is not None:  # a new pod template: replace the process
            current.stop()
        workdir = self.workdir / ns / name / predictor / str(int(time.time() * 1000))
        local = {m.mount_path: workdir / "volumes" / m.volume for m in mounts}
        for variable, value in env.items():  # paths under a mount point into its directory
            for path, directory in local.items():
                if under(value, path):
                    env[variable] = str(directory) + value[len(path.rstrip("/")):]
        # The drain token file: the pod's own /tmp there, the process's own workdir here.
        env[drain.TOKEN_FILE_ENV] = str(workdir / "drain-token")
        fresh = Predictor(ns, name, predictor, version, env, workdir, template=template,
                          mounts={local[m.mount_path]: m.config_map for m in mounts},
                          backoff=self._restart_backoff, deadline=self._progress_deadline)
        for directory, config_map in fresh.mounts.items():
            directory.mkdir(parents=True, exist_ok=True)  # an optional one may stay empty
            self._project(ns, config_map, directory)
        with self._lock:
            self.predictors[key] = fresh
        self._start(fresh)

    @staticmethod
    def _start(predictor: Predictor) -> None:
        predictor.launching = True
        threading.Thread(target=predictor.launch,
                         name=f"mlserver-{predictor.deployment}-{predictor.name}",
                         daemon=True).start()

    def _route(self, ns: str, name: str, predictors: list[Mapping[str, Any]],
               roles: Mapping[str, str]) -> None:
        """The router's routes for the graph's predictors; ``roles``: version → role, as the
        graph says (``render.seldon.version_roles``), the canary's units first. A predictor
        that was ready and is restarted keeps its route and weight, marked ``down`` (its rows
        get a 503, as Istio's route to pods that are down); one never ready yet has none."""
        routes = []
        unit_key = "unit_id"
        for spec in predictors:
            p = self.predictors.get((ns, name, spec["name"]))
            if p is None or p.server is None or spec.get("shadow"):
                continue
            up = p.state == "Available"
            if not up and not p.ever_ready:
                continue
            unit_key = p.env.get("UPLIFT_UNIT_KEY", unit_key)
            role = roles.get(str((spec.get("annotations") or {}).get("version", "")), "")
            routes.append(Route(spec["name"], p.version, int(spec.get("traffic", 0) or 0),
                                p.server.url, canary=role == "canary",
                                delay=self._delays(p.version), down=not up))
        if routes and sum(r.weight for r in routes) == 0 and len(routes) == 1:
            routes = [replace(routes[0], weight=100)]
        self.router.set_routes(ns, name, routes, unit_key)

    def _write_status(self, body: Mapping[str, Any], predictors: list[Mapping[str, Any]]) -> None:
        meta = body["metadata"]
        ns, name = meta["namespace"], meta["name"]
        # Each predictor's state; None: no process yet, as a pod waiting for a ConfigMap that
        # does not exist (``_ensure``): its Deployment is there, nothing of it available.
        states = [self.predictors.get((ns, name, p["name"])) for p in predictors]
        started = [p for p in states if p is not None]
        failed = [p for p in started if p.state == "Failed"]
        if failed:
            state = "Failed"  # past the progress deadline: what Seldon says, then the cause
            said = f"predictor {failed[0].name}: {NOT_PROGRESSING} "
            description = said + failed[0].description[-(1000 - len(said)):]
        elif states and all(p is not None and p.state == "Available" for p in states):
            state, description = "Available", ""
        else:
            state, description = "Creating", ""
            # Not Seldon's (it says nothing while Creating): why a predictor is down, so a
            # crash loop is not silent for the progress deadline.
            cause = next((p for p in started if p.state != "Available" and p.description), None)
            if cause is not None:
                said = f"predictor {cause.name}: "
                description = said + cause.description[-(1000 - len(said)):]
        # What Seldon 1.17.1 writes (docs/dataplane.md "Reading a SeldonDeployment's status"):
        # no observedGeneration; per Deployment, keyed by the names Seldon gives (what the
        # operator matches), only replicas and availableReplicas, a zero left out. A stable
        # predictor serves while a canary's process loads. Unlike Seldon: one replica each (one
        # process), whatever the predictor's ``replicas``.
        deployments: dict[str, Any] = {
            deployment: ({"replicas": 1, "availableReplicas": 1}
                         if p is not None and p.state == "Available" else {"replicas": 1})
            for spec, p in zip(predictors, states, strict=True)
            for deployment in deployment_names(name, spec)[:1]}
        before = body.get("status") or {}
        # A merge patch: what Seldon no longer writes is removed (null), not left behind.
        for gone in set(before.get("deploymentStatus") or {}) - set(deployments):
            deployments[gone] = None
        status: dict[str, Any] = {
            "state": state,
            "replicas": len(started),  # Seldon: the first predictor's Deployment's replicas
            "deploymentStatus": deployments,
            # Seldon: the first predictor's Service inside the cluster; here the router's
            # ingress path, which every predictor is reached through.
            "address": {"url": f"{self.router.url}/seldon/{ns}/{name}"},
        }
        if description:
            status["description"] = description
        for stale in ("description", "observedGeneration"):
            if stale not in status and stale in before:
                status[stale] = None
        if self._written.get((ns, name)) == status and (body.get("status") or {}).get("state"):
            return
        self._api.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name,
                                                        {"status": status})
        self._written[(ns, name)] = status

    def _scrape_targets(self) -> tuple[ScrapeTarget, ...]:
        targets = [ScrapeTarget(f"127.0.0.1:{self.router.port}", job="seldon-executor")]
        for p in sorted(self.predictors.values(), key=lambda p: (p.namespace, p.deployment,
                                                                 p.name)):
            if p.state != "Available" or p.server is None:
                continue
            targets.append(ScrapeTarget(
                f"127.0.0.1:{p.server.metrics_port}", job="seldon-runtime",
                labels={"namespace": p.namespace, "seldon_deployment_id": p.deployment,
                        "deployment_name": p.deployment, "predictor_name": p.name,
                        "predictor_version": p.version, "pod": f"{p.deployment}-{p.name}-0"}))
        return tuple(targets)
