"""A rollout bench per test: its own registered model, simulated runtime traffic, a helper to watch.

Real components only: the session's control plane, operator, MLflow and Prometheus; the traffic
is the runtime's own metric definitions served to Prometheus from a test-controlled endpoint,
labelled with the test's namespace as a Kubernetes scrape would.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from tests.support.kube import Kubectl, OperatorProcess
from tests.support.registry import Versions
from tests.support.scrapes import scrape_health
from tests.support.traffic import Profile, RuntimeTraffic

from uplift_operator.devenv.prometheus import PrometheusServer, ScrapeTarget

NAME = "um"

BASE_SPEC: dict[str, Any] = {
    "model": {"alias": "champion", "aliasRefreshInterval": "1s", "promotionAlias": "production"},
    "treatments": [{"name": "mens-e-mail"}, {"name": "womens-e-mail"}],
    # Outcomes come with their decisions (tests.support.traffic): the onlineEffect gate need
    # not wait for the attribution window to close on a step's first decisions.
    "experiment": {"holdoutFraction": 0.1, "attributionWindow": "1s"},
    "rollout": {
        "analysisInterval": "2s",
        "steps": [{"weight": 20, "pause": "4s"}, {"weight": 50, "pause": "4s"}],
        # These tests are about the ramp's mechanics: a wide split tolerance lets the last step
        # promote within a look or two. The happy path keeps the default (0.04).
        "splitTolerance": 0.25,
        # max: an error-free canary can only pass an error-rate ceiling (no errors to compare).
        "gates": [{"name": "errors", "type": "errorRate", "minSamples": 50, "max": 0.05}],
    },
}


@dataclass
class Bench:
    """One test's rollout: the model name in MLflow, the traffic, and ways to look."""

    namespace: str
    admin: Kubectl
    operator: OperatorProcess
    versions: Versions
    traffic: RuntimeTraffic
    model: str
    seen_weights: list[int] = field(default_factory=list)
    prometheus_url: str = ""

    def scrape_health(self) -> str:
        """Prometheus's view of this bench's runtime target (``tests.support.scrapes``)."""
        return scrape_health(self.prometheus_url)

    def manifest(self, **spec_changes: Any) -> dict[str, Any]:
        spec = copy.deepcopy(BASE_SPEC)
        spec["model"]["registeredModel"] = self.model
        spec.update(spec_changes)
        return {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                "metadata": {"name": NAME, "namespace": self.namespace}, "spec": spec}

    def apply(self, **spec_changes: Any) -> None:
        self.admin.apply(self.manifest(**spec_changes))

    def new_version(self, metrics: dict[str, float] | None = None,
                    references: dict[str, Any] | None = None, without: tuple[str, ...] = ()) -> str:
        return self.versions.clone(metrics, references, name=self.model, without=without)

    def move_alias(self, version: str, alias: str = "champion") -> None:
        self.versions.set_alias(alias, version, name=self.model)

    def status(self) -> dict[str, Any]:
        body = self.admin.get("upliftmodel", NAME, self.namespace)
        status: dict[str, Any] = body.get("status", {})
        weight = status.get("canaryWeight")
        if status.get("canaryVersion") and weight is not None and (
                not self.seen_weights or self.seen_weights[-1] != weight):
            self.seen_weights.append(weight)
        return status

    def seldon(self) -> dict[str, Any] | None:
        result = self.admin.run("get", "seldondeployments.machinelearning.seldon.io", NAME,
                                "-n", self.namespace, "-o", "json", check=False)
        if result.returncode != 0:
            return None
        loaded: dict[str, Any] = json.loads(result.stdout)
        return loaded

    def traffic_split(self) -> dict[str, int]:
        sdep = self.seldon() or {}
        return {p["annotations"]["version"]: p["traffic"]
                for p in sdep.get("spec", {}).get("predictors", [])}

    def wait(self, predicate: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.status()
            if predicate(status):
                return status
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; status: {status}\n"
                             f"{self.traffic.diagnostics()}\n{self.scrape_health()}\n"
                             "operator log tail:\n" + "\n".join(
                                 self.operator.logs().splitlines()[-15:]))

    def wait_healthy(self, stable: str, timeout: float = 90) -> dict[str, Any]:
        return self.wait(lambda s: s.get("phase") == "Healthy" and s.get("stableVersion") == stable
                         and not s.get("canaryVersion"), f"Healthy on v{stable}", timeout)

    def wait_for_passes(self, after: float) -> None:
        """Proof that the operator looked at the UpliftModel since ``after`` (``time.time()``):
        a pass began after it and completed, status patch included (for a test that waits and
        then asserts that nothing changed). Each pass is woken by an annotation that asks for
        nothing: a quiet UpliftModel has no pass due (its alias is the shared poller's)."""
        pokes = iter(range(1, 1000))

        def poke() -> None:
            self.admin.run("annotate", "--overwrite", "upliftmodel", NAME, "-n", self.namespace,
                           f"test.uplift.dev/poke={next(pokes)}")

        self.operator.wait_for_passes("UpliftModel", self.namespace, NAME, after, poke=poke)

    def gate(self, name: str) -> dict[str, Any]:
        return next(g for g in self.status().get("gates", []) if g["name"] == name)

    def events(self) -> list[dict[str, Any]]:
        import json

        items: list[dict[str, Any]] = json.loads(self.admin.run(
            "get", "events", "-n", self.namespace, "-o", "json").stdout)["items"]
        return items

    def posted(self, *reasons: str, kind: str | None = None,
               timeout: float = 15) -> list[dict[str, Any]]:
        """The namespace's events once one of each reason (of ``kind``'s objects, if given) is
        among them. The operator posts events off its passes (``handlers.lifecycle``'s
        posting workers), so one may land a moment after the status it goes with."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.events()
            seen = {e["reason"] for e in items
                    if kind is None or e["involvedObject"].get("kind") == kind}
            if set(reasons) <= seen:
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"no event {sorted(set(reasons) - seen)} within {timeout} s;"
                                     f" events: {sorted(seen)}")
            time.sleep(0.3)


def recency_reference(bench: Bench) -> tuple[int, ...]:
    """The training reference's ``recency`` bin counts (every version's, cloned from one run):
    traffic binned like this shows no drift."""
    hist = bench.versions.references["reference/feature_histograms.json"]["features"]["recency"]
    return tuple(int(c) for c in hist["counts"])


def drifted_recency(bench: Bench) -> tuple[int, ...]:
    """Every row in ``recency``'s last bin: drift against the training reference."""
    return (0,) * (len(recency_reference(bench)) - 1) + (1,)


@pytest.fixture
def bench(admin: Kubectl, operator: OperatorProcess, versions: Versions,
          prometheus: PrometheusServer, namespace: str) -> Iterator[Bench]:
    model = f"{namespace}-model"
    first = versions.clone(name=model)
    versions.set_alias("champion", first, name=model)
    traffic = RuntimeTraffic(NAME)
    traffic.follow(_SeldonWeights(admin, namespace))
    traffic.start()
    traffic.set(first, Profile())
    prometheus.set_targets([ScrapeTarget(traffic.endpoint.target, job="runtime",
                                         labels={"namespace": namespace})])
    try:
        yield Bench(namespace, admin, operator, versions, traffic, model,
                    prometheus_url=prometheus.url)
    finally:
        admin.run("delete", "upliftmodel", NAME, "-n", namespace, "--wait=false", check=False)
        traffic.stop()


class _SeldonWeights:
    """The SeldonDeployment's traffic per version, read at most twice a second (the simulated
    traffic follows it as Seldon's router would)."""

    def __init__(self, admin: Kubectl, namespace: str) -> None:
        from kubernetes import client
        from kubernetes import config as kube_config

        self.api = client.CustomObjectsApi(
            kube_config.new_client_from_config(str(admin.kubeconfig)))  # type: ignore[no-untyped-call]
        self.namespace = namespace
        self.split: dict[str, int] = {}
        self.read_at = 0.0
        self.failed_reads = 0
        self.last_error = ""

    def describe(self) -> str:
        return (f"SeldonDeployment reads failed {self.failed_reads}"
                + (f", last {self.last_error}" if self.last_error else ""))

    def __call__(self) -> dict[str, int]:
        if time.monotonic() - self.read_at >= 0.5:
            self.read_at = time.monotonic()
            try:
                # A bounded read: this runs on the traffic thread, and a read left hanging on
                # a dead connection would stop all traffic (gates then see no data).
                sdep = cast(dict[str, Any], self.api.get_namespaced_custom_object(
                    "machinelearning.seldon.io", "v1", self.namespace, "seldondeployments", NAME,
                    _request_timeout=5))
                self.split = {p.get("annotations", {}).get("version", ""): int(p.get("traffic", 0))
                              for p in sdep.get("spec", {}).get("predictors", [])}
            except Exception as error:  # not created yet, or being deleted: keep the last split
                self.failed_reads += 1
                self.last_error = repr(error)[:300]
        return self.split
