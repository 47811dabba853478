"""A Campaign's budget with two real runtime replicas: the overspend, measured against its bound.

The lifecycle bench's UpliftModel (real control plane, operator, MLflow, Prometheus) and, for its
Campaign, two real MLServer processes of our runtime serving the same model: each gets the
operator's ``<model>-campaigns`` ConfigMap projected into its own volume directory as the kubelet
projects it (``devenv.serving_agent.project``; here read every 0.1 s, the kubelet's own delay is
not played), Prometheus scrapes both, and both are sent the campaign's requests at a steady rate.
Each replica enforces the budget on its own spend only; the budget gate sums the replicas' and
suspends the campaign (exposure 0, ``active: false``). What the two spend beyond the budget
before the suspension reaches them is checked against docs/runtime.md "Budget":

    overspend ≤ min((R − 1) · amount, ρ · (scrape interval + analysisInterval + pass
                                            + propagation) + one request's cost)

with R = 2 replicas and ρ the campaign's spend rate summed over them. The timeline is printed
(run with ``-s``): docs/runtime.md quotes it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.lifecycle.conftest import NAME as MODEL
from tests.integration.lifecycle.conftest import Bench
from tests.support.kube import Kubectl

from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget
from uplift_operator.devenv.serving_agent import project
from uplift_operator.model import pyfunc
from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments

pytestmark = pytest.mark.integration

CAMPAIGN = "budget-two"
AMOUNT = 200.0          # the budget; each treated row costs 1
SCRAPE_S = 1.0          # devenv.prometheus: scrape_interval
ANALYSIS_S = 1.0        # spec.exposure.analysisInterval
PASS_S = 1.0            # allowance for one Campaign pass (query, decide, status write)
REQUEST_EVERY_S = 0.1   # per replica, one unit a request
REPLICAS = 2

SPEC: dict[str, Any] = {
    "modelRef": {"name": MODEL},
    "treatments": [{"name": "womens-e-mail"}],
    "economics": {"valuePerConversion": 10.0, "costPerTreatment": 1.0, "budget": AMOUNT,
                  "budgetPeriod": "1h"},
    # Every exposed unit of the treated arm is treated: a steady, known spend rate.
    "targeting": {"policy": "upliftThreshold", "minUplift": -1.0},
    "experiment": {"holdoutFraction": 0.1, "attributionWindow": "1h", "salt": "budget-two",
                   "unitKey": "customer_id"},
    "exposure": {"analysisInterval": "1s", "steps": [{"percent": 100}],
                 "gates": [{"name": "budget", "type": "budget"}]},
}


def _train(path: Path) -> None:
    """A small model scoring the bench's treatments (named as Hillstrom's)."""
    rng = np.random.default_rng(0)
    n = 1000
    arms = ("Womens E-Mail", "Mens E-Mail")
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["p", "q"], size=n),
                          "arm": rng.choice(["No E-Mail", *arms], size=n)})
    frame["y"] = (rng.uniform(size=n) < 0.1 + 0.2 * (frame["arm"] != "No E-Mail")).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    t = encode_treatments(frame["arm"].tolist(), "No E-Mail", arms)
    learner = make_learner("t", BaseSpec(params={"max_iter": 20})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    pyfunc.save_model(UpliftModel(schema, learner, arms, "No E-Mail"), path)


class Kubelet:
    """Projects ConfigMap ``name`` into each volume directory whenever its data change (read
    every ``every`` seconds); ``inactive_at``: when a version with the campaign inactive or at
    exposure 0 was first projected after one that treated."""

    def __init__(self, admin: Kubectl, namespace: str, name: str, volumes: list[Path],
                 every: float = 0.1) -> None:
        from kubernetes import client
        from kubernetes import config as kube_config

        self.api = client.CoreV1Api(
            kube_config.new_client_from_config(str(admin.kubeconfig)))  # type: ignore[no-untyped-call]
        self.namespace, self.name, self.volumes, self.every = namespace, name, volumes, every
        self.data: dict[str, str] | None = None
        self.inactive_at: float | None = None
        self._treated = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kubelet", daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                cm = self.api.read_namespaced_config_map(self.name, self.namespace)
            except Exception:  # not written yet
                continue
            data = dict(cm.data or {})
            if data == self.data:
                continue
            for volume in self.volumes:
                project(volume, data)
            self.data = data
            entry = json.loads(data.get("campaigns.json", "{}")).get("campaigns", {}).get(CAMPAIGN)
            if entry is None:
                continue
            treating = entry.get("active", True) and entry.get("exposurePercent", 0) > 0
            if treating:
                self._treated = True
            elif self._treated and self.inactive_at is None:
                self.inactive_at = time.time()


@dataclass
class Driver:
    """One unit a request to ``server`` every ``REQUEST_EVERY_S``; each response's time, spend
    (treated rows × 1) and campaign arms."""

    server: MlserverProcess
    prefix: str
    log: list[tuple[float, float, tuple[str, ...]]] = field(default_factory=list)
    errors: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"driver-{self.prefix}",
                                        daemon=True)

    def start(self) -> Driver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(REQUEST_EVERY_S):
            i += 1
            body = {"inputs": [
                {"name": "x", "datatype": "FP64", "shape": [1], "data": [0.5]},
                {"name": "c", "datatype": "BYTES", "shape": [1], "data": ["p"]},
                {"name": "customer_id", "datatype": "BYTES", "shape": [1],
                 "data": [f"{self.prefix}-{i}"]}], "parameters": {"campaign": CAMPAIGN}}
            try:
                r = self.server.infer(body)
            except Exception:
                self.errors += 1
                continue
            if r.status_code != 200:  # 404 until the campaign is in the file
                continue
            cols = {o["name"]: o["data"] for o in r.json()["outputs"]}
            arms = tuple(cols["campaign_arm"])
            self.log.append((time.time(), float(arms.count("treated")), arms))

    def first(self, arm: str, after: float = 0.0) -> float | None:
        return next((t for t, _, arms in self.log if t >= after and arm in arms), None)


def _spend_total(server: MlserverProcess) -> float:
    return sum(s.value for family in text_string_to_metric_families(server.metrics_text())
               for s in family.samples
               if s.name == "uplift_campaign_spend_total" and s.labels.get("campaign") == CAMPAIGN)


@dataclass
class Replicas:
    servers: list[MlserverProcess]
    kubelet: Kubelet


@pytest.fixture
def replicas(bench: Bench, prometheus: PrometheusServer,
             tmp_path: Path) -> Iterator[Replicas]:
    bench.apply()
    bench.wait_healthy("1")
    model = tmp_path / "model"
    _train(model)
    volumes = [tmp_path / f"volume-{i}" for i in range(REPLICAS)]
    kubelet = Kubelet(bench.admin, bench.namespace, f"{MODEL}-campaigns", volumes).start()
    servers: list[MlserverProcess] = []
    try:
        for volume in volumes:  # one at a time: each load takes a core for seconds
            env = {"UPLIFT_DECISION_KEY": "budget-replicas-decision-key-0123456789",
                   "UPLIFT_MODEL_VERSION": "1",
                   "UPLIFT_CAMPAIGNS_FILE": str(volume / "campaigns.json")}
            servers.append(MlserverProcess(str(model), name=MODEL, env=env,
                                           workdir=tmp_path / f"{volume.name}-mlserver").start())
        prometheus.set_targets([
            ScrapeTarget(bench.traffic.endpoint.target, job="runtime",
                         labels={"namespace": bench.namespace}),
            *(ScrapeTarget(s.metrics_url.removeprefix("http://").removesuffix("/metrics"),
                           job="runtime", labels={"namespace": bench.namespace,
                                                  "pod": f"replica-{i}"})
              for i, s in enumerate(servers))])
        yield Replicas(servers, kubelet)
    finally:
        bench.admin.run("delete", "campaign", CAMPAIGN, "-n", bench.namespace, "--wait=false",
                        check=False)
        kubelet.stop()
        for server in servers:
            server.stop()


def test_two_replicas_overspend_stays_within_the_stated_bound(bench: Bench,
                                                              replicas: Replicas) -> None:
    from kubernetes import client
    from kubernetes import config as kube_config

    api = client.CustomObjectsApi(
        kube_config.new_client_from_config(str(bench.admin.kubeconfig)))  # type: ignore[no-untyped-call]
    bench.admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
                       "metadata": {"name": CAMPAIGN, "namespace": bench.namespace},
                       "spec": SPEC})
    drivers = [Driver(server, f"r{i}").start() for i, server in enumerate(replicas.servers)]
    try:
        # Watch the Campaign's status every 50 ms for the suspension.
        suspended_at: float | None = None
        status: dict[str, Any] = {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = cast(dict[str, Any], api.get_namespaced_custom_object(
                "uplift.dev", "v1alpha1", bench.namespace, "campaigns", CAMPAIGN)).get(
                    "status") or {}
            if status.get("phase") == "Suspended" and status.get("currentStep") == 0:
                suspended_at = time.time()
                break
            time.sleep(0.05)
        assert suspended_at is not None, f"never suspended: {status}"
        # Until both replicas answer under the suspension, and 2 s more: no spend after it.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                d.first("inactive", suspended_at) for d in drivers):
            time.sleep(0.05)
        applied = [d.first("inactive", suspended_at) for d in drivers]
        assert all(applied), "the suspension reached both replicas"
        time.sleep(2)
    finally:
        for d in drivers:
            d.stop()

    per_replica = [_spend_total(s) for s in replicas.servers]
    logged = [sum(spend for _, spend, _ in d.log) for d in drivers]
    assert per_replica == logged, "the runtime's counter is what the responses treated"
    total = sum(per_replica)
    overspend = total - AMOUNT
    # Each replica stayed under the budget by itself: what stopped them was the summed gate.
    assert all(spent < AMOUNT for spent in per_replica), per_replica
    stopped = [max((t for t, spend, _ in d.log if spend > 0), default=0.0) for d in drivers]
    # all(applied) holds (asserted above): every replica answered inactive at some time
    answered = cast(list[float], applied)
    assert all(last < first for last, first in zip(stopped, answered, strict=True)), (
        "nothing treated once a replica answered inactive")

    # The timeline: when the summed spend crossed the budget, its rate before that.
    events = sorted((t, spend) for d in drivers for t, spend, _ in d.log if spend > 0)
    cumulative, crossed_at = 0.0, None
    for t, spend in events:
        cumulative += spend
        if cumulative >= AMOUNT:
            crossed_at = t
            break
    assert crossed_at is not None
    first_spend = events[0][0]
    rate = AMOUNT / (crossed_at - first_spend)  # ρ, summed over replicas
    detection = suspended_at - crossed_at
    propagation = max(a for a in applied if a is not None) - suspended_at
    projected = (replicas.kubelet.inactive_at or suspended_at) - suspended_at
    bound = min((REPLICAS - 1) * AMOUNT,
                rate * (SCRAPE_S + ANALYSIS_S + PASS_S + propagation) + 1.0)
    print(f"\nbudget {AMOUNT:g}, {REPLICAS} replicas: spent {per_replica} = {total:g}, overspend "
          f"{overspend:g} ({overspend / AMOUNT:.0%}); rate {rate:.1f}/s summed; crossed → "
          f"status Suspended {detection:.2f} s (bound {SCRAPE_S + ANALYSIS_S + PASS_S:g} s), "
          f"status → ConfigMap projected {projected:.2f} s, → both replicas inactive "
          f"{propagation:.2f} s; bound {bound:.1f}")
    assert overspend >= 0, "the gate never suspends below the budget"
    assert detection <= SCRAPE_S + ANALYSIS_S + PASS_S, detection
    assert overspend <= bound, (overspend, bound)
    history = [h["action"] for h in status.get("history", [])]
    assert history[-1] == "BudgetExhausted", history
