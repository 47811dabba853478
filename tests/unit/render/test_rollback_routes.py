"""A rollback's split reaches the routes under Seldon Core 1.17.1's all-available rule.

Seldon's Reconcile rewrites the Istio VirtualService / Ambassador weights (and deletes the
Deployments of predictors removed from the graph) only when ``createDeployments`` finds every
predictor's Deployment ready: ``readyReplicas > 0`` and ``unavailableReplicas == 0``. Until
then the routes keep the weights of the last graph it completed. A rolled-back canary kept at
weight 0 for ``spec.rollback.scaleDownDelay`` whose pods are down therefore kept its share of
the traffic for the whole delay (review-render vs_gating.py). Here the graph is read back as
the operator reads it (``SeldonV1Backend.observe``), decided on (``ramp.decide``) and rendered,
and Seldon's rule is applied to the rendered graph."""

from __future__ import annotations

from typing import Any

from tests.unit.domain.test_ramp import make_spec, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain.ramp import TrafficSplit
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend, deployment_names
from uplift_operator.render.serving import RuntimeSettings

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000003")
RUNTIME = RuntimeSettings(image="runtime:1", registered_model="hillstrom",
                          tracking_uri="http://mlflow:5000", replicas=2)
BACKEND = SeldonV1Backend()


class Seldon:
    """Seldon 1.17.1's reconcile, as far as the routes go: each Deployment's (ready,
    unavailable) pods, and the weights the routes carry."""

    def __init__(self) -> None:
        self.pods: dict[str, tuple[int, int]] = {}
        self.routes: dict[str, int] = {}
        self.down: set[str] = set()  # versions whose pods crash

    def reconcile(self, graph: dict[str, Any]) -> None:
        names = []
        for predictor in graph["spec"]["predictors"]:
            name = deployment_names(OWNER.name, predictor)[0]
            names.append(name)
            version = predictor["annotations"]["version"]
            self.pods[name] = (0, 2) if version in self.down else (2, 0)
        if all(self.pods[n][0] > 0 and self.pods[n][1] == 0 for n in names):
            self.routes = {p["annotations"]["version"]: p["traffic"]
                           for p in graph["spec"]["predictors"]}
            self.pods = {n: self.pods[n] for n in names}  # removed predictors' Deployments go
        graph["status"] = {"state": "Available" if set(self.pods) == set(names) and all(
            r > 0 and u == 0 for r, u in self.pods.values()) else "Creating",
            "deploymentStatus": {n: {"replicas": 2, "availableReplicas": r}
                                 for n, (r, _) in self.pods.items() if n in names}}


def _observed_versions(graph: dict[str, Any], split: TrafficSplit) -> frozenset[str]:
    """``Observed.ready_versions`` as ``services.upliftmodel._observe`` builds it."""
    state = BACKEND.observe(graph, split)
    return (state.ready_versions if state.ready else frozenset()) | state.serving_versions


def test_a_rollback_of_a_canary_whose_pods_are_down_moves_every_request_to_the_stable() -> None:
    spec = make_spec()
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = with_canary(spec)
    sim.passing(5)
    split = TrafficSplit("1", "2", sim.status.canary_weight)
    seldon = Seldon()
    graph = BACKEND.render(OWNER, RUNTIME, split)
    seldon.reconcile(graph)
    assert seldon.routes == {"1": 100 - split.canary_weight, "2": split.canary_weight} != {"1": 100}
    seldon.down.add("2")  # the canary's pods crash
    seldon.reconcile(graph)
    sim.ready_versions = _observed_versions(graph, split)
    assert sim.ready_versions == {"1"}
    decision = sim.tick(1, verdicts={"latency": GateVerdict.FAIL, "shadow": GateVerdict.PASS})
    assert decision.status.aborted_version == "2" and decision.traffic is not None
    graph = BACKEND.render(OWNER, RUNTIME, decision.traffic)
    seldon.reconcile(graph)
    assert seldon.routes == {"1": 100}
    assert [p["annotations"]["version"] for p in graph["spec"]["predictors"]] == ["1"]


def test_a_rolled_back_canary_that_serves_stays_deployed_and_the_routes_still_move() -> None:
    spec = make_spec()
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = with_canary(spec)
    sim.passing(5)
    split = TrafficSplit("1", "2", sim.status.canary_weight)
    seldon = Seldon()
    graph = BACKEND.render(OWNER, RUNTIME, split)
    seldon.reconcile(graph)
    sim.ready_versions = _observed_versions(graph, split)
    decision = sim.tick(1, verdicts={"latency": GateVerdict.FAIL, "shadow": GateVerdict.PASS})
    assert decision.traffic == TrafficSplit("1", "2", 0)
    graph = BACKEND.render(OWNER, RUNTIME, decision.traffic)
    seldon.reconcile(graph)
    assert seldon.routes == {"1": 100, "2": 0}
