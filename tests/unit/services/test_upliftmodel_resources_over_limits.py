"""An edit of ``spec.serving.resources`` with a request above its limit, on an object the CRD's
rule did not check (stored before it), is InvalidSpec: the graph keeps the resources it has, the
stable's predictor untouched. Rendered, the refused resources reached every predictor and
Seldon's update of every Deployment failed (review-render requests_over_limits.py).

Driven through ``reconcile`` with the fakes of ``test_upliftmodel.Sim``."""

from __future__ import annotations

import copy

from tests.unit.services.test_upliftmodel import SELDON, Sim

GOOD = {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}
OVER = {"requests": {"cpu": "2", "memory": "512Mi"}, "limits": {"cpu": 1, "memory": "1Gi"}}


def test_requests_above_limits_hold_the_graph_as_it_is() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = {"resources": GOOD}
    sim.with_canary()
    before = copy.deepcopy(sim.cluster.objects[SELDON]["spec"]["predictors"])
    assert before[0]["componentSpecs"][0]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    sim.body["spec"]["serving"] = {"resources": OVER}
    sim.body["metadata"]["generation"] += 1
    sim.tick(1)
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert "spec.serving.resources: requests.cpu must not exceed limits.cpu" in invalid["message"]
    assert sim.cluster.objects[SELDON]["spec"]["predictors"] == before
