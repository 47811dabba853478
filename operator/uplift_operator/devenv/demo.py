"""The demo: the whole stack on this machine, customers flowing, scenarios decided live.

``DemoStack`` starts the real components (control plane, MLflow, Prometheus, the router and the
serving agent, the operator under its own RBAC identity), registers version 1 and applies the
demo's UpliftModel; the simulator replays customers once the first predictor is ready.
``Recorder`` samples what the operator reports (UpliftModel status, the SeldonDeployment's
weights, the Campaigns, events) for the live view and the report. ``run_scenario`` plays one
scenario of ``scenarios.SCENARIOS`` and returns what the operator decided: a model scenario on
the UpliftModel, a campaign scenario on the Campaign ``spring-email`` it applies for the
occasion.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from uplift_operator.devenv import demo_models, process, scenarios
from uplift_operator.devenv.scenarios import Scenario

ROOT = Path(__file__).resolve().parents[3]
#: Where the customers the demo replays are read from, unless this variable names another file.
HILLSTROM_ENV = "UPLIFT_HILLSTROM_CSV"
#: Kevin Hillstrom's MineThatData e-mail experiment (64,000 customers randomised to the men's
#: e-mail, the women's e-mail or none): ``../shared/data/hillstrom.csv`` beside the checkout, or
#: ``$UPLIFT_HILLSTROM_CSV``. ``scripts/dev.sh`` checks for it before it installs anything.
HILLSTROM = Path(os.environ.get(HILLSTROM_ENV)
                 or ROOT.parent / "shared" / "data" / "hillstrom.csv")

Say = Callable[[str], None]
T = TypeVar("T")

#: Ignored while the stack stops (``DemoStack.stop``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _fit_and_warm(data: Path, models: demo_models.Preparation) -> demo_models.Fitted:
    """Version 1 (cached after the first run), and the imports its registration needs: MLflow's
    client and the plotting stack cost seconds of CPU that would otherwise be spent after MLflow
    is up, on the way to the first scored request. Then, in the background, the other versions
    ``models`` expects (a cache hit takes a fraction of a second; a scenario that needs its
    version before then waits for it rather than training it twice)."""
    fitted = models.fit(data, scenarios.STABLE_RECIPE)
    rest = [recipe for recipe in models.items if recipe != scenarios.STABLE_RECIPE]
    if rest:
        def prepare() -> None:
            for recipe in rest:
                with contextlib.suppress(Exception):  # shown as an error; the scenario retries
                    models.fit(data, recipe)

        threading.Thread(target=prepare, name="demo-models", daemon=True).start()
    import matplotlib

    matplotlib.use("Agg")  # as the trainer does, before pyplot
    import matplotlib.pyplot
    import mlflow.pyfunc  # noqa: F401

    return fitted


class Background(Generic[T]):
    """``fn(*args)`` on a daemon thread; ``result()`` waits for it and returns its value or
    raises its exception. Unlike a ``ThreadPoolExecutor``'s workers, which the interpreter joins
    at exit even after ``shutdown(wait=False)``, it never holds the process up: whoever gives up
    waiting (an error elsewhere, Ctrl-C) exits at once and the thread dies with the process."""

    def __init__(self, name: str, fn: Callable[..., T], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._done = threading.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except BaseException as error:  # handed to whoever waits
            self._error = error
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> T:
        """Its value, once it returned (TimeoutError after ``timeout`` seconds); its exception,
        raised here, if it raised one."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.thread.name} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return cast(T, self._value)


def kubectl_binary() -> str:
    """kubectl: the one the dev extras install beside this Python (``.venv/bin/kubectl``, the
    control plane's Kubernetes release), else whichever is on PATH."""
    beside = Path(sys.executable).with_name("kubectl")
    return str(beside) if os.access(beside, os.X_OK) else "kubectl"


def _kubectl(kubeconfig: Path, *args: str) -> str:
    result = subprocess.run([kubectl_binary(), "--kubeconfig", str(kubeconfig), *args],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def ensure_namespace(kubeconfig: Path, name: str) -> None:
    """Create namespace ``name`` unless it exists (a control plane whose etcd data a previous
    run left has it already)."""
    try:
        _kubectl(kubeconfig, "create", "namespace", name)
    except RuntimeError as error:
        if "AlreadyExists" not in str(error):
            raise


def _wait_established(kubeconfig: Path, *names: str) -> None:
    """Wait until the CRDs ``names`` are Established (``controlplane.crds_established``)."""
    from uplift_operator.devenv.controlplane import crds_established

    def established() -> bool:
        try:
            listed = json.loads(_kubectl(kubeconfig, "get", "crd", *names, "-o", "json"))
        except (RuntimeError, ValueError):
            return False
        return crds_established(listed, len(names))

    def discoverable() -> bool:  # Established can precede discovery (kubernetes#125471)
        try:
            served = _kubectl(kubeconfig, "api-resources", "-o", "name").split()
        except RuntimeError:
            return False
        return all(name in served for name in names)
    process.wait_until(established, timeout=60, what="CRDs Established", interval=0.3)
    process.wait_until(discoverable, timeout=30, what="CRDs in discovery", interval=0.3)


@dataclass
class Sample:
    """One look at the resources, as the live view and the report use it."""

    t: float
    status: dict[str, Any]
    weights: dict[str, int]           # predictor version → traffic
    events: list[dict[str, str]]
    rows: int
    errors: int
    outcomes: int
    # The namespace's Campaigns, each as {"metadata": {"name"}, "spec", "status"}.
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    resent: int = 0  # report batches the simulator sent again after a refusal (not errors)
    # Version → share of the rows the router served under the weights in force, and how many.
    served: dict[str, float] = field(default_factory=dict)
    served_rows: int = 0


@dataclass
class Outcome:
    """What the operator decided in one scenario."""

    scenario: str
    version: str
    decision: str                   # Promoted | RolledBack | Timeout
    reason: str
    gate: str | None
    seconds: float
    expected: bool
    weights_seen: list[int] = field(default_factory=list)


class DemoStack:
    """``with DemoStack(workdir, say=print) as stack:`` — everything the demo runs on."""

    def __init__(self, workdir: Path, data: Path = HILLSTROM, say: Say = print,
                 rate: float = scenarios.RATE,
                 versions: Sequence[tuple[demo_models.Recipe, str]] = ()) -> None:
        """``versions``: the scenarios' model versions (recipe, label) to prepare during the
        start, after version 1 (``scenarios.versions``); otherwise each scenario fits its own."""
        self.workdir, self.data, self.say, self.rate = workdir, data, say, rate
        self.models = demo_models.Preparation()
        self.models.expect(scenarios.STABLE_RECIPE, "version 1 (stable)")
        for recipe, label in versions:
            self.models.expect(recipe, label)
        self._cleanups: list[tuple[str, Callable[[], None]]] = []
        self.timings: dict[str, float] = {}
        self.delays: dict[str, float] = {}
        self.started = time.monotonic()
        self.first_scored: float | None = None

    # --- start and stop ---------------------------------------------------------------------

    def start(self) -> DemoStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _mark(self, what: str) -> None:
        self.timings[what] = time.monotonic() - self.started

    def _start(self) -> None:
        from kubernetes import config as kube_config

        from uplift_operator.devenv.controlplane import ControlPlane
        from uplift_operator.devenv.mlflow_server import MlflowServer
        from uplift_operator.devenv.prometheus import PrometheusServer
        from uplift_operator.devenv.router import WeightedRouter
        from uplift_operator.devenv.seldon_crd import seldon_crd
        from uplift_operator.devenv.serving_agent import ServingAgent
        from uplift_operator.devenv.simulator import CustomerSimulator

        # MLflow (the slowest to start), Prometheus and version 1's training run beside the
        # control plane: each is its own process or only needs the CPU, none waits for another.
        self.say("Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager), "
                 "MLflow tracking server (sqlite) and Prometheus, side by side")
        mlflow = MlflowServer(self.workdir / "mlflow", timeout=600)
        self._cleanups.append(("MLflow", mlflow.stop))  # before start: a slow start still stops
        prometheus = PrometheusServer(workdir=self.workdir / "prometheus")
        self._cleanups.append(("Prometheus", prometheus.close))
        # Daemon threads, not a ThreadPoolExecutor: the interpreter joins a pool's workers at
        # exit, so a start that fails (or Ctrl-C) while version 1 trains would hang, silent,
        # until the training ended (minutes cold).
        mlflow_up = Background("demo-start-mlflow", mlflow.start)
        prometheus_up = Background("demo-start-prometheus", prometheus.start)
        trained = Background("demo-start-model", _fit_and_warm, self.data, self.models)

        plane = ControlPlane(self.workdir / "controlplane").start()
        self._cleanups.append(("control plane", plane.stop))
        self.plane, admin = plane, plane.admin_kubeconfig
        crd, _ = seldon_crd()  # the stand-in, said on stderr, when ../shared/seldon is absent
        _kubectl(admin, "apply", "--server-side", "-f", str(ROOT / "crds"), "-f", str(crd))
        # Before kopf-peering.yaml, a ClusterKopfPeering: its kind must serve first.
        _wait_established(admin, "upliftmodels.uplift.dev", "campaigns.uplift.dev",
                          "seldondeployments.machinelearning.seldon.io",
                          "clusterkopfpeerings.kopf.dev")
        for name in ("namespace.yaml", "rbac.yaml", "kopf-peering.yaml"):
            _kubectl(admin, "apply", "-f", str(ROOT / "manifests" / name))
        self._mark("control plane")

        # The operator next: it starts in seconds and waits for MLflow by itself.
        self.say("Operator (under ServiceAccount uplift-system/uplift-operator)")
        liveness, self.metrics_port = process.free_port(), process.free_port()
        self.operator_log = self.workdir / "operator.log"
        operator = process.start(
            [sys.executable, "-m", "uplift_operator", "run", "--all-namespaces",
             "--mlflow-tracking-uri", mlflow.url, *prometheus.operator_args(),
             "--liveness-port", str(liveness), "--metrics-port", str(self.metrics_port),
             "--log-format", "plain"],
            log=self.operator_log, env={"KUBECONFIG": str(plane.operator_kubeconfig)})
        self._cleanups.append(("operator", lambda: process.stop(operator, grace=15)))
        self.operator = operator

        self.mlflow = mlflow_up.result()
        self.prometheus = prometheus_up.result()
        self._mark("mlflow+prometheus")

        self.say("Router (Istio + Seldon executor stand-in) and the serving agent "
                 "(MLServer per predictor)")
        self.router = WeightedRouter().start()
        self._cleanups.append(("router", self.router.stop))
        self.api = kube_config.new_client_from_config(str(admin))  # type: ignore[no-untyped-call]
        self.agent = ServingAgent(self.api, prometheus, self.router, self.workdir / "serving",
                                  delays=lambda version: self.delays.get(version, 0.0)).start()
        self._cleanups.append(("serving agent", self.agent.stop))

        fitted = trained.result()
        self.say(f"Registering version 1 as {scenarios.MODEL}@champion (training cached in "
                 f"{demo_models.cache_dir()})")
        demo_models.register(fitted, scenarios.STABLE_RECIPE, self.data, mlflow.url,
                             scenarios.MODEL, alias="champion")
        self._mark("model v1")
        process.wait_until(lambda: process.http_ok(f"http://127.0.0.1:{liveness}/healthz"),
                           timeout=60, what="operator", proc=operator, log=self.operator_log)
        self._mark("operator")

        ensure_namespace(admin, scenarios.NAMESPACE)
        self.apply_upliftmodel()
        self.simulator = CustomerSimulator(
            self.router, scenarios.NAMESPACE, scenarios.MODEL, self.data, rate=self.rate,
            # No Campaign is applied here: name none (the runtime now reads the model's campaigns
            # file, and refuses a campaign the file does not have with a 404).
            campaign=None, unit_key=scenarios.UNIT_KEY,
            attribution_window=scenarios.ATTRIBUTION_WINDOW,
            mean_delay=scenarios.MEAN_CONVERSION_DELAY).start()
        self._cleanups.append(("customers", self.simulator.stop))
        self.recorder = Recorder(self).start()
        self._cleanups.append(("recorder", self.recorder.stop))

    def apply_upliftmodel(self, extra_gates: tuple[dict[str, Any], ...] = ()) -> None:
        """Apply the demo's UpliftModel (with a scenario's extra gates)."""
        import yaml

        manifest = self.workdir / "upliftmodel.yaml"
        manifest.write_text(yaml.safe_dump(scenarios.upliftmodel(extra_gates), sort_keys=False))
        _kubectl(self.plane.admin_kubeconfig, "apply", "-f", str(manifest))

    def apply_campaign(self, budget: scenarios.CampaignBudget) -> None:
        """Apply the demo's Campaign with ``budget``."""
        import yaml

        manifest = self.workdir / "campaign.yaml"
        manifest.write_text(yaml.safe_dump(scenarios.campaign(budget), sort_keys=False))
        _kubectl(self.plane.admin_kubeconfig, "apply", "-f", str(manifest))

    def delete_campaign(self, timeout: float = 30.0) -> None:
        """Delete the Campaign and wait until the runtime no longer knows it: a Campaign applied
        again before that would be "served" by the old entry, and then refused for a moment when
        the file without it lands."""
        import numpy as np
        import requests

        _kubectl(self.plane.admin_kubeconfig, "delete", "campaign", scenarios.CAMPAIGN, "-n",
                 scenarios.NAMESPACE, "--ignore-not-found", "--wait=true")
        body = {**self.simulator.body(np.array([0])),
                "parameters": {"campaign": scenarios.CAMPAIGN}}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.post(self.simulator.infer_url, json=body, timeout=10).status_code == 404:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the runtime still serves campaign {scenarios.CAMPAIGN} "
                           f"{timeout:.0f}s after its deletion" + self.predictor_troubles())

    def wait_campaign_served(self, timeout: float = 60.0) -> float:
        """Seconds until a request naming the Campaign is answered (the operator rendered the
        model's campaigns file, the serving agent projected it, the runtime reloaded it)."""
        import numpy as np
        import requests

        started = time.monotonic()
        sim = self.simulator
        body = {**sim.body(np.array([0])), "parameters": {"campaign": scenarios.CAMPAIGN}}
        last = ""
        while time.monotonic() < started + timeout:
            self.check_alive()
            try:
                response = requests.post(sim.infer_url, json=body, timeout=10)
                if response.status_code == 200:
                    return time.monotonic() - started
                last = f"{response.status_code} {response.text[:200]}"
            except requests.RequestException as error:
                last = str(error)
            time.sleep(0.3)
        raise TimeoutError(f"no request naming campaign {scenarios.CAMPAIGN} answered within "
                           f"{timeout:.0f}s; last: {last}" + self.predictor_troubles())

    def wait_first_scored(self, timeout: float = 180.0, tick: Callable[[], None] = lambda: None
                          ) -> float:
        """Release the customers once a predictor serves; seconds from start to a scored row."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.simulator.paused and self.router.routes(scenarios.NAMESPACE, scenarios.MODEL):
                self.simulator.paused = False  # a predictor serves: the marketing system starts
            if self.simulator.tally.rows > 0:
                self.first_scored = time.monotonic() - self.started
                self.timings["first scored request"] = self.first_scored
                return self.first_scored
            self.check_alive()
            tick()
            time.sleep(0.2)
        raise TimeoutError(f"no request scored after {timeout:.0f}s; "
                           f"last error: {self.simulator.tally.last_error}"
                           + self.predictor_troubles())

    def predictor_troubles(self) -> str:
        """The serving agent's predictors without a ready process, each with its last failure
        and log (``ServingAgent.troubles``), for a wait's timeout; "" when none."""
        return "".join(f"\n  {line}" for line in self.agent.troubles())

    def check_alive(self) -> None:
        """Raise naming the first component that is gone (and where to read why), so a wait
        fails with that rather than a bare timeout minutes later."""
        if self.operator.poll() is not None:
            raise RuntimeError(f"the operator exited with {self.operator.returncode}; "
                               f"see {self.operator_log}")
        self.plane.check_alive()
        for name, server in (("MLflow", self.mlflow), ("Prometheus", self.prometheus)):
            if not server.running:
                raise RuntimeError(f"{name} exited; see {server.log}")
        dead = self.agent.dead_thread()
        if dead is not None:
            raise RuntimeError(f"the serving agent's thread {dead!r} ended (last error: "
                               f"{self.agent.last_error or 'none'}); no SeldonDeployment gets a "
                               "status or a route any more")
        simulator = getattr(self, "simulator", None)  # None until the stack's last steps
        dead = simulator.dead_thread() if simulator is not None else None
        if simulator is not None and dead is not None:
            raise RuntimeError(f"the customer simulator's thread {dead!r} ended: "
                               f"{simulator.failure or 'no error recorded'}; no customer "
                               "arrives or no report is sent any more")

    def stop(self) -> None:
        """Stop every component, last started first. Nothing stops the stopping half-way: a
        second Ctrl-C (or SIGTERM, SIGHUP) is ignored until the end (from the main thread, where
        handlers live), and a step that fails, or is interrupted all the same, does not skip
        the rest (the serving agent's stop joins its threads for seconds before it stops the
        MLServers). An interruption (KeyboardInterrupt, SystemExit) is raised again at the end."""
        ignored: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                ignored[sig] = signal.signal(sig, signal.SIG_IGN)
        interrupted: BaseException | None = None
        try:
            while self._cleanups:
                what, stop = self._cleanups.pop()
                try:
                    stop()
                except BaseException as error:  # keep stopping the rest
                    if not isinstance(error, Exception) and interrupted is None:
                        interrupted = error
                    with contextlib.suppress(OSError):
                        print(f"stopping {what}: {type(error).__name__}: {error}",
                              file=sys.stderr)
        finally:
            for sig, handler in ignored.items():  # None: set outside Python, so the default
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        if interrupted is not None:
            raise interrupted

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- reading ------------------------------------------------------------------------------

    def upliftmodel(self) -> dict[str, Any]:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api)
        return cast(dict[str, Any], api.get_namespaced_custom_object(
            "uplift.dev", "v1alpha1", scenarios.NAMESPACE, "upliftmodels", scenarios.MODEL))

    def campaign(self) -> dict[str, Any]:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api)
        return cast(dict[str, Any], api.get_namespaced_custom_object(
            "uplift.dev", "v1alpha1", scenarios.NAMESPACE, "campaigns", scenarios.CAMPAIGN))

    def campaigns(self) -> list[dict[str, Any]]:
        """The demo namespace's Campaigns: name, spec and status (for the view)."""
        from kubernetes import client

        api = client.CustomObjectsApi(self.api)
        items = cast(dict[str, Any], api.list_namespaced_custom_object(
            "uplift.dev", "v1alpha1", scenarios.NAMESPACE, "campaigns")).get("items", [])
        return [{"metadata": {"name": c["metadata"]["name"]}, "spec": c.get("spec") or {},
                 "status": c.get("status") or {}} for c in items]

    def seldon_weights(self) -> dict[str, int]:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        api = client.CustomObjectsApi(self.api)
        try:
            body = cast(dict[str, Any], api.get_namespaced_custom_object(
                "machinelearning.seldon.io", "v1", scenarios.NAMESPACE, "seldondeployments",
                scenarios.MODEL))
        except ApiException:
            return {}
        return {str((p.get("annotations") or {}).get("version", p["name"])): int(p.get("traffic", 0))
                for p in body.get("spec", {}).get("predictors", [])}

    def events(self, limit: int = 6) -> list[dict[str, str]]:
        from kubernetes import client

        def when(event: Any) -> Any:
            return event.last_timestamp or event.event_time or event.metadata.creation_timestamp

        items = client.CoreV1Api(self.api).list_namespaced_event(scenarios.NAMESPACE).items
        items.sort(key=when)
        return [{"type": e.type or "", "reason": e.reason or "", "message": e.message or "",
                 "time": when(e).strftime("%H:%M:%S")} for e in items[-limit:]]


#: The UpliftModel status fields the report draws (``report.write_png``): the samples it keeps
#: hold only these.
REPORT_STATUS = ("canaryVersion", "canaryWeight", "gates")
#: At most this many samples kept for the report (about 2 KiB each: 20 MiB); the oldest go
#: first. A sample is kept only when what the report draws changed (``Recorder.keep``): about
#: 2 per analysis (every 3 s) while a canary runs, so hours of canaries; none while nothing
#: changes, so any length of ``--hold`` after them.
REPORT_SAMPLES = 10_000


def for_report(sample: Sample) -> Sample:
    """``sample`` with only what the report draws: the status' ``REPORT_STATUS`` fields, no
    events, no Campaigns (those are the live view's, from the latest sample)."""
    status = {k: sample.status[k] for k in REPORT_STATUS if k in sample.status}
    return replace(sample, status=status, events=[], campaigns=[])


class Recorder:
    """Samples the resources twice a second: the latest sample, whole, for the live view; for
    the report, ``samples``, slim (``for_report``) and thinned (``keep``), so that memory does
    not grow with the run's length (``--hold``: every sample whole was ~17 KiB, 118 MiB an
    hour)."""

    def __init__(self, stack: DemoStack, interval: float = 0.5,
                 limit: int = REPORT_SAMPLES) -> None:
        self.stack, self.interval = stack, interval
        self._samples: deque[Sample] = deque(maxlen=limit)
        self._samples_lock = threading.Lock()  # keep (the thread) against samples (the report)
        self.marks: list[tuple[float, str]] = []   # (t, label): scenario starts and decisions
        self._latest: Sample | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def start(self) -> Recorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def latest(self) -> Sample | None:
        return self._latest

    @property
    def samples(self) -> list[Sample]:
        """The samples kept for the report, oldest first: a copy, taken while ``keep`` waits
        (the thread may still be sampling when ``stop`` gave up waiting for it)."""
        with self._samples_lock:
            return list(self._samples)

    def mark(self, label: str) -> None:
        self.marks.append((time.monotonic() - self.stack.started, label))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # the API is starting or stopping; next tick
                continue

    def sample(self) -> Sample:
        stack = self.stack
        body = stack.upliftmodel()
        tally = stack.simulator.tally
        served, served_rows = stack.router.served_share(scenarios.NAMESPACE, scenarios.MODEL)
        s = Sample(time.monotonic() - stack.started, dict(body.get("status") or {}),
                   stack.seldon_weights(), stack.events(), tally.rows, tally.errors,
                   tally.outcomes, stack.campaigns(), resent=tally.retries, served=served,
                   served_rows=served_rows)
        self._latest = s
        self.keep(s)
        return s

    def keep(self, sample: Sample) -> None:
        """Keep ``sample`` for the report, slim. A run of samples the report would draw alike
        (the same status fields and weights) is kept as its first and its last: the weight's
        step holds in between, the time axis still ends at the latest, and the sample after a
        canary ended (the one holding its decisive verdicts: ``report.judged_samples``) is
        the first of its run, always kept."""
        slim = for_report(sample)
        with self._samples_lock:
            kept = self._samples
            if len(kept) >= 2 and _alike(kept[-1], slim) and _alike(kept[-2], slim):
                kept[-1] = slim
            else:
                kept.append(slim)


def _alike(a: Sample, b: Sample) -> bool:
    """Whether the report draws ``a`` and ``b`` (slim) the same way, but for their time."""
    return a.status == b.status and a.weights == b.weights


def run_scenario(stack: DemoStack, scenario: Scenario, *, say: Say = print,
                 timeout: float = scenarios.SCENARIO_TIMEOUT,
                 tick: Callable[[], None] = lambda: None) -> Outcome:
    """Register the scenario's version, move the alias, wait for the operator's decision."""
    if scenario.needs:
        return Outcome(scenario.name, "-", "Skipped", scenario.needs, None, 0.0, True)
    if scenario.budget is not None:
        return _run_campaign(stack, scenario, scenario.budget, say=say, timeout=timeout,
                             tick=tick)
    started = time.monotonic()
    fitted = stack.models.fit(stack.data, scenario.recipe, f"new version ({scenario.name})")
    version = demo_models.register(fitted, scenario.recipe, stack.data, stack.mlflow.url,
                                   scenarios.MODEL)
    sim = stack.simulator
    sim.multipliers = scenarios.multipliers(scenario, version)  # the stable at 1.0 again
    stack.delays[version] = scenario.latency
    if scenario.drift:
        sim.set_population(scenarios.drift_mask(sim.frame))
    if scenario.extra_gates:
        stack.apply_upliftmodel(scenario.extra_gates)
    stack.recorder.mark(f"{scenario.name}: v{version}")
    say(f"scenario {scenario.name}: version {version} — {scenario.title}")
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=stack.mlflow.url).set_registered_model_alias(
        scenarios.MODEL, "champion", version)
    weights: list[int] = []
    decision, reason, gate = "Timeout", "", None
    last = "no status yet"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack.check_alive()
            tick()
            status = stack.upliftmodel().get("status") or {}
            if status.get("canaryVersion") == version:
                w = int(status.get("canaryWeight") or 0)
                if not weights or weights[-1] != w:
                    weights.append(w)
            found = _decided(status, version)
            if found is not None:
                decision, reason, gate = found
                break
            last = _waiting_on(status)
            time.sleep(0.3)
    finally:
        sim.set_population(None)
        if decision == "Timeout":
            reason = f"no decision within {timeout:.0f}s; last seen: {last}"
        if scenario.extra_gates:
            stack.apply_upliftmodel()
    expected = decision == scenario.expect and (scenario.expect_gate is None
                                                or gate == scenario.expect_gate)
    stack.recorder.mark(f"{decision} v{version}")
    return Outcome(scenario.name, version, decision, reason, gate, time.monotonic() - started,
                   expected, weights)


def _run_campaign(stack: DemoStack, scenario: Scenario, budget: scenarios.CampaignBudget, *,
                  say: Say, timeout: float, tick: Callable[[], None]) -> Outcome:
    """Apply the Campaign, name it in every request while the scenario runs, wait for the
    operator's decision on it (and, for ``until_renewed``, for the next budget period), then
    stop naming it and delete it. ``weights_seen`` holds the exposure percents seen."""
    started = time.monotonic()
    sim = stack.simulator
    sim.multipliers = scenarios.multipliers(scenario, None)  # the serving version as the data says
    stack.apply_campaign(budget)
    stack.recorder.mark(f"{scenario.name}: Campaign {scenarios.CAMPAIGN}")
    say(f"scenario {scenario.name}: {scenario.title}")
    exposures: list[int] = []
    decision, reason, gate, version = "Timeout", "", None, "-"
    last = "no status yet"
    try:
        served = stack.wait_campaign_served()
        say(f"  the runtime serves campaign {scenarios.CAMPAIGN} {served:.1f}s after apply; "
            "customers now name it")
        sim.delivery_failure = scenario.delivery_failure
        sim.campaign = scenarios.CAMPAIGN
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stack.check_alive()
            tick()
            status = stack.campaign().get("status") or {}
            version = str(status.get("modelVersion") or version)
            percent = round(float(status.get("exposurePercent") or 0))
            if not exposures or exposures[-1] != percent:
                exposures.append(percent)
            found = _campaign_decided(status, scenario.until_renewed)
            if found is not None:
                decision, reason, gate = found
                break
            last = _waiting_on(status)
            time.sleep(0.3)
    finally:
        sim.campaign = None  # before the Campaign goes: the runtime would refuse its name
        sim.delivery_failure = 0.0
        # Its decisions' reports first: one in flight would count in the next scenario's
        # Campaign of the same name (a failed delivery there, the delivery gate failing it).
        sim.drain_deliveries(scenarios.CAMPAIGN)
        stack.delete_campaign()
        if decision == "Timeout":
            reason = f"no decision within {timeout:.0f}s; last seen: {last}"
    expected = decision == scenario.expect and (scenario.expect_gate is None
                                                or gate == scenario.expect_gate)
    stack.recorder.mark(f"{decision} campaign")
    return Outcome(scenario.name, version, decision, reason, gate, time.monotonic() - started,
                   expected, exposures)


def _campaign_decided(status: dict[str, Any], until_renewed: bool
                      ) -> tuple[str, str, str | None] | None:
    """(decision, reason, gate) once the Campaign was rolled back (Degraded, exposure 0) or
    suspended by its budget (and, with ``until_renewed``, given its exposure back)."""
    history = status.get("history", [])
    actions = [h.get("action") for h in history]
    for record in history:
        reason = str(record.get("reason", ""))
        if record.get("action") == "RolledBack" and status.get("phase") == "Degraded":
            named = re.match(r"gate (\S+) ", reason)
            return "RolledBack", reason, named.group(1) if named else None
        if record.get("action") == "BudgetExhausted":
            named = re.search(r", gate (\S+)\)", reason)
            gate = named.group(1) if named else None
            if not until_renewed:
                return "Suspended", reason, gate
            if "BudgetRenewed" in actions[actions.index("BudgetExhausted"):]:
                return "Suspended", f"{reason}; then BudgetRenewed: {status.get('message', '')}", gate
    return None


def _waiting_on(status: dict[str, Any]) -> str:
    """What the operator said it waits for, with every gate that has not passed (for timeouts)."""
    gates = "; ".join(f"{g.get('name')} {g.get('verdict')}: {g.get('message', '')}"
                      for g in status.get("gates", []) if g.get("verdict") != "Pass")
    return f"{status.get('message', '')} [{gates}]" if gates else str(status.get("message", ""))


def _decided(status: dict[str, Any], version: str) -> tuple[str, str, str | None] | None:
    """(decision, reason, failing gate) once the operator promoted or rolled back ``version``."""
    history = [h for h in status.get("history", []) if h.get("version") == version]
    for record in reversed(history):
        action = record.get("action", "")
        if action == "Promoted" and status.get("stableVersion") == version:
            return "Promoted", record.get("reason", ""), None
        if action == "RolledBack":
            reason = record.get("reason", "")
            named = re.match(r"gate (\S+) ", reason)
            failing = [g["name"] for g in status.get("gates", []) if g.get("verdict") == "Fail"]
            return "RolledBack", reason, named.group(1) if named else (failing or [None])[0]
    return None
