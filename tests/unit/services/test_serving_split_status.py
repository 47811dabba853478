"""``status.servingSplit``: the split the serving graph carries, beside the decided one
(``stableVersion``/``canaryVersion``/``canaryWeight``). Before it, an emergency rollback's
restore showed ``Stable 1, Canary <none>, Weight 0`` while version 2 kept all the traffic, and a
rollback whose apply was refused showed weight 0 while the canary kept its share: nothing
on-call reads said who had the traffic."""

from __future__ import annotations

import copy

from tests.unit.services.test_upliftmodel import PROBE, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1 import UpliftModelStatus
from uplift_operator.domain.status import status_patch

DENIED = 'admission webhook "validation.gatekeeper.sh" denied the request'


def _promoted(sim: Sim) -> None:
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}


def test_a_restore_says_the_replaced_version_keeps_the_traffic() -> None:
    sim = Sim()
    _promoted(sim)
    assert sim.status["servingSplit"] == "v2 100%"
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)  # 1's pods start: 2 keeps the traffic
    status = sim.status
    assert (status["stableVersion"], status.get("canaryVersion"), status["canaryWeight"]) == (
        "1", None, 0)
    assert sim.weights() == {"1": 0, "2": 100}
    assert status["servingSplit"] == "v1 0%, v2 100%"
    sim.tick(1, available=False)  # read back from the graph: the same words, nothing written
    assert sim.status["servingSplit"] == "v1 0%, v2 100%"
    sim.seldon()  # 1 serves: the restore ends and 1 takes the traffic
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert sim.status["servingSplit"] == "v1 100%"


def test_a_refused_rollback_says_the_canary_keeps_its_traffic() -> None:
    sim = Sim()
    sim.with_canary()
    sim.cluster.apply_error = KubeError(DENIED, 400)
    sim.metrics.values[PROBE] = 5.0  # the gate fails: rolled back at the next analysis
    sim.tick(60)
    status = sim.status
    assert status.get("canaryVersion") is None and status["canaryWeight"] == 0
    assert sim.weights() == {"1": 90, "2": 10}
    assert status["servingSplit"] == "v1 90%, v2 10%"
    sim.tick(10)  # refused again: still the graph's
    assert sim.status["servingSplit"] == "v1 90%, v2 10%"
    sim.cluster.apply_error = None  # the rollback reaches the graph
    sim.tick(60)
    assert sim.weights() == {"1": 100}
    assert sim.status["servingSplit"] == "v1 100%"


def test_a_canary_step_says_the_split_it_applied() -> None:
    sim = Sim()
    sim.with_canary()
    assert sim.status["servingSplit"] == "v1 90%, v2 10%"
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
        weights = sim.weights()
        words = ", ".join(f"v{v} {w}%" for v, w in sorted(weights.items()))
        # The pass that applies a step says so at once, not at the next pass.
        assert sim.status["servingSplit"] == words
        if sim.status.get("canaryVersion"):
            assert weights["2"] == sim.status["canaryWeight"]
    assert sim.status["servingSplit"] == "v2 100%"


def test_at_rest_it_equals_the_decided_split_and_is_not_written_again() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy" and sim.status["servingSplit"] == "v1 100%"
    for _ in range(3):
        before = copy.deepcopy(sim.body["status"])
        after = sim.tick(60).status
        assert status_patch(before, after) is None


def test_a_status_written_before_the_field_reads_and_gets_it_once() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    del sim.body["status"]["servingSplit"]
    assert UpliftModelStatus.model_validate(sim.body["status"]).serving_split is None
    before = copy.deepcopy(sim.body["status"])
    assert status_patch(before, sim.tick(60).status) == {"servingSplit": "v1 100%"}
    before = copy.deepcopy(sim.body["status"])
    assert status_patch(before, sim.tick(60).status) is None


def test_without_a_graph_it_is_absent() -> None:
    sim = Sim()
    sim.cluster.apply_error = KubeError(DENIED, 400)  # the first graph is never created
    sim.tick()
    sim.tick(1)
    assert SELDON not in sim.cluster.objects
    assert sim.condition("ServingApplied")["reason"] == "ApplyFailed"
    assert "servingSplit" not in sim.status
    sim.cluster.apply_error = None
    sim.tick(60)
    assert sim.status["servingSplit"] == "v1 100%"


def test_a_graph_deleted_and_not_created_again_drops_it() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["servingSplit"] == "v1 100%"
    del sim.cluster.objects[SELDON]
    sim.cluster.apply_error = KubeError(DENIED, 400)
    sim.tick(1)
    assert "servingSplit" not in sim.status


def test_a_hand_edit_is_shown_until_it_is_reverted_or_while_it_is_refused() -> None:
    sim = Sim()
    sim.with_canary()
    predictors = sim.cluster.objects[SELDON]["spec"]["predictors"]
    for predictor in predictors:
        predictor["traffic"] = 50
    sim.cluster.apply_error = KubeError(DENIED, 400)
    sim.tick(1)
    assert sim.status["canaryWeight"] == 10
    assert sim.status["servingSplit"] == "v1 50%, v2 50%"
    sim.cluster.apply_error = None
    sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.status["servingSplit"] == "v1 90%, v2 10%"


def test_an_invalid_specs_pass_says_the_split_it_applied() -> None:
    """A spec the operator refuses holds the ramp; an abort still takes the canary off."""
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1})
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.status["servingSplit"] == "v1 90%, v2 10%"
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["servingSplit"] == "v1 100%"
