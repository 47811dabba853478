"""A serving graph short of its replicas: every version serves, every pod counted available,
but a Deployment runs fewer than ``spec.serving.replicas`` (``kubectl scale`` by hand, a node
lost, Seldon not there yet). Not an outage, so the stable is never taken for down; but said:
in ``ServingApplied``'s message for any model, and by name and count in a canary's hold; and
the decision-key Secret is not asked about every 30 s meanwhile (the pods hold the key)."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import SELDON, Sim

from uplift_operator.services import upliftmodel


def _short(sim: Sim, available: int, *, first_only: bool = False) -> None:
    deployments = sim.cluster.objects[SELDON]["status"]["deploymentStatus"]
    for name in sorted(deployments)[:1] if first_only else sorted(deployments):
        deployments[name]["replicas"] = available
        deployments[name]["availableReplicas"] = available


def _replicas(sim: Sim, replicas: int) -> None:
    sim.body["spec"].setdefault("serving", {})["replicas"] = replicas


def test_a_stable_only_graph_short_of_its_replicas_says_so_and_stays_healthy() -> None:
    sim = Sim()
    _replicas(sim, 5)
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    _short(sim, 3)
    for _ in range(3):
        sim.tick(600, available=False)
        applied = sim.condition("ServingApplied")
        assert (applied["status"], applied["reason"]) == ("True", "Applied")
        assert "with fewer replicas than wanted" in applied["message"]
        assert "3 of 5 replicas available" in applied["message"]
        assert sim.status["phase"] == "Healthy"  # the stable serves: not down, not degraded
        assert sim.condition("Ready")["status"] == "True"
    _short(sim, 5)
    sim.tick(60)
    applied = sim.condition("ServingApplied")
    assert applied["status"] == "True" and "fewer replicas" not in applied["message"]


def test_a_graph_short_of_its_replicas_does_not_ask_for_the_decision_key_every_30_s() -> None:
    sim = Sim()
    _replicas(sim, 5)
    sim.tick()
    sim.tick(1)
    _short(sim, 3)
    created = len(sim.cluster.created_secrets)
    for _ in range(6):
        sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert len(sim.cluster.created_secrets) == created


def test_a_canary_held_by_a_graph_short_of_its_replicas_names_the_deployment_and_counts() -> None:
    sim = Sim()
    _replicas(sim, 5)
    sim.with_canary()
    _short(sim, 3, first_only=True)
    sim.tick(180, available=False)
    assert "waiting for the replicas wanted" in sim.status["message"]
    assert "3 of 5 replicas available" in sim.status["message"]
    assert sim.weights() == {"1": 90, "2": 10}
