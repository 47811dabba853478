"""A rolled-back canary is kept at weight 0 for ``spec.rollback.scaleDownDelay`` only while its
Deployment is whole: one pod of it crash-looping (the others available) is enough for Seldon
Core 1.17.1 to move no route (docs/dataplane.md, "Routes follow only a graph whose every
Deployment is available"), so kept, the canary kept its 10 % for the whole delay while the
status said stable 1 serves all traffic. ``services.upliftmodel._partial_versions`` reads the
Deployment of each version's predictor alone."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import PROBE, SELDON, Sim

from uplift_operator.render.seldon import deployment_names


def _delayed_canary(replicas: int = 3) -> Sim:
    sim = Sim()
    sim.body["spec"]["rollback"] = {"scaleDownDelay": "30m"}
    sim.body["spec"]["serving"] = {"replicas": replicas}
    sim.with_canary()
    return sim


def _canary_pods(sim: Sim, available: int) -> None:
    """Seldon's status with the canary's Deployment at ``available`` of its replicas: Creating
    (not every Deployment is available), the stable's whole."""
    child = sim.cluster.objects[SELDON]
    sim.seldon()
    status = child["status"]
    for predictor in child["spec"]["predictors"]:
        if predictor["annotations"]["version"] == "2":
            [name] = deployment_names(str(child["metadata"]["name"]), predictor)
            status["deploymentStatus"][name]["availableReplicas"] = available
    status["state"] = "Creating"


def test_a_rolled_back_canary_with_a_pod_crash_looping_leaves_the_graph_at_once() -> None:
    sim = _delayed_canary()
    _canary_pods(sim, 2)
    sim.metrics.values[PROBE] = 5.0  # the custom gate's max is 1: Fail, rollback
    sim.tick(61, available=False)
    assert sim.status.get("canaryVersion") is None and sim.status["abortedVersion"] == "2"
    assert sim.weights() == {"1": 100}


def test_a_rolled_back_canary_whose_pods_are_all_available_is_kept_for_the_delay() -> None:
    sim = _delayed_canary()
    sim.metrics.values[PROBE] = 5.0
    sim.tick(61)
    assert sim.status["abortedVersion"] == "2" and sim.weights() == {"1": 100, "2": 0}
    _canary_pods(sim, 2)  # one of its pods goes down during the delay: it leaves then
    sim.tick(60, available=False)
    assert sim.weights() == {"1": 100}
