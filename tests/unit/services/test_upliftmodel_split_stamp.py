"""``splitAppliedAt`` says when the step's split was applied: a refused apply, retried with a
backoff, neither stamps it nor rewrites the status at every retry; the apply that goes
through does."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import Sim

from uplift_operator.adapters.kube import KubeError


def test_a_refused_apply_stamps_no_split_and_rewrites_no_status_until_it_goes_through() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"] = [{"name": "errors", "type": "errorRate"}]
    sim.with_canary()
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "step:x"}
    sim.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    result = sim.tick(1)
    assert sim.status["currentStep"] == 1 and sim.weights() == {"1": 90, "2": 10}
    # The next pass finds the graph without the step's split and the refusal on record: the
    # step holds, and says why (ramp.Observed.split_refused).
    result = sim.tick(result.requeue_after or 1)
    assert ("the serving graph does not carry this step's split (ServingApplied False: "
            "admission webhook denied the request)") in sim.status["message"]
    refused = dict(sim.status)
    for _ in range(4):
        result = sim.tick(result.requeue_after or 1)
        assert sim.status == refused  # nothing new: no status patch
    sim.cluster.apply_error = None
    sim.tick(result.requeue_after or 1)
    assert sim.weights() == {"1": 50, "2": 50}
    assert sim.status["splitAppliedAt"] == sim.now.isoformat().replace("+00:00", "Z")
