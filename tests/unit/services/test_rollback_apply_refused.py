"""A rollback whose serving graph the API server refuses (an admission policy, a 403): the
status decides it (Degraded, canary weight 0, the canary aborted) while the SeldonDeployment
keeps the canary's traffic. Before, everything on-call reads said it was done: the message
"stable 1 serves", ``uplift_operator_canary_weight`` 0, and no alert. Now the message says the
graph is not applied (and, past the grace, names the refusal after the ramp's words), and
``uplift_operator_serving_apply_failing`` is 1 until the graph is applied."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_upliftmodel import NAME, NS, PROBE, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import observability, upliftmodel

DENIED = 'admission webhook "validation.gatekeeper.sh" denied the request'


def _gauge(metric: str) -> float | None:
    return observability.REGISTRY.get_sample_value(metric, {"namespace": NS, "name": NAME})


def _observe(sim: Sim) -> None:
    upliftmodel._observe(NS, NAME, sim.status, dict(sim.body["spec"]))


def _refused_rollback() -> Sim:
    sim = Sim()
    sim.with_canary()
    sim.cluster.apply_error = KubeError(DENIED, 400)
    sim.metrics.values[PROBE] = 5.0  # the gate fails: rolled back at the next analysis
    sim.tick(60)
    assert sim.status.get("canaryVersion") is None and sim.status["abortedVersion"] == "2"
    assert sim.weights() == {"1": 90, "2": 10}  # the graph as it was: the canary has traffic
    return sim


def test_a_refused_rollback_says_it_is_not_applied_and_exports_it() -> None:
    sim = _refused_rollback()
    applied: dict[str, Any] = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    sim.tick(10)  # the next pass reads the refusal the last one recorded
    message = sim.status["message"]
    assert sim.status["phase"] == "Degraded"
    assert message.startswith("version 2 was rolled back (")
    assert "stable 1 serves" not in message
    assert ("stable 1 is to serve all traffic, but the serving graph's last apply was refused "
            "(ServingApplied False, ApplyFailed)") in message
    _observe(sim)
    assert _gauge("uplift_operator_serving_apply_failing") == 1
    assert _gauge("uplift_operator_canary_weight") == 0  # as the status decided it
    for _ in range(6):  # past the grace: the refusal itself is named, after the ramp's words
        sim.tick(60)
    message = sim.status["message"]
    assert message.startswith("version 2 was rolled back (")
    assert "; ServingApplied False (ApplyFailed) since " in message
    assert message.endswith(DENIED)
    assert sim.weights() == {"1": 90, "2": 10}

    sim.cluster.apply_error = None  # the policy fixed: the rollback reaches the graph
    sim.tick(60)
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert sim.status["phase"] == "Degraded"
    assert sim.status["message"].startswith("version 2 was rolled back (")
    assert "; stable 1 serves. " in sim.status["message"]
    assert "ServingApplied" not in sim.status["message"]
    _observe(sim)
    assert _gauge("uplift_operator_serving_apply_failing") == 0
    observability.forget("UpliftModel", NS, NAME)
    assert _gauge("uplift_operator_serving_apply_failing") is None


def test_a_rollback_applied_at_once_still_says_the_stable_serves() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0
    sim.tick(60)
    sim.tick(10)
    assert sim.weights() == {"1": 100}
    assert "; stable 1 serves. " in sim.status["message"]
    _observe(sim)
    assert _gauge("uplift_operator_serving_apply_failing") == 0
    observability.forget("UpliftModel", NS, NAME)


def test_the_pass_whose_apply_goes_through_asks_for_another_that_says_so() -> None:
    """The ramp's words are decided before the graph is applied: the pass whose apply goes
    through still reads the refusal the last pass recorded, and asks for the next pass at once,
    whose words say the stable serves (not at the next analysis, or never once at rest)."""
    sim = _refused_rollback()
    sim.tick(10)
    for _ in range(6):
        sim.tick(60)
    sim.cluster.apply_error = None
    through = sim.tick(60)
    assert sim.weights() == {"1": 100}
    assert sim.condition("ServingApplied")["status"] == "True"
    assert through.requeue_after == 0
    again = sim.tick(0)
    assert "; stable 1 serves. " in sim.status["message"]
    assert "refused" not in sim.status["message"]
    assert again.requeue_after is None  # at rest: one more pass, not a loop


def test_a_refused_serving_edit_reverted_clears_the_refusal() -> None:
    """Before: nothing was applied after the revert (the graph there is as decided), so
    ``ApplyFailed`` stayed: Degraded past the grace, the alert paging, a retry every minute."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.cluster.apply_error = KubeError(DENIED, 400)
    sim.body["metadata"]["generation"] = 2
    sim.body["spec"]["serving"] = {"replicas": 7}
    sim.tick(1)
    assert sim.condition("ServingApplied")["reason"] == "ApplyFailed"
    applies = len(sim.cluster.applied)
    sim.body["metadata"]["generation"] = 3
    del sim.body["spec"]["serving"]  # reverted: the policy still refuses 7 replicas
    reverted = sim.tick(60)
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert applied["message"].endswith(" serves v1 100%")
    assert reverted.requeue_after == 0  # one more pass whose words read no refusal
    assert sim.tick(0).requeue_after is None  # then at rest: no retry every minute
    for _ in range(8):
        sim.tick(60)
    assert sim.status["phase"] == "Healthy" and len(sim.cluster.applied) == applies
    _observe(sim)
    assert _gauge("uplift_operator_serving_apply_failing") == 0
    observability.forget("UpliftModel", NS, NAME)


def test_a_rollback_applied_whose_answer_was_lost_clears_the_refusal() -> None:
    """The API server applied the rollback but its answer was lost (a read timeout): the next
    pass finds the graph as decided and applies nothing. Before, the rolled-back model said
    "the serving graph's last apply was refused ... the canary may still have its traffic"
    and paged for good."""
    sim = Sim()
    sim.with_canary()
    real = sim.cluster.apply

    def lost(manifest: Any, plural: str) -> dict[str, Any]:
        real(manifest, plural)
        raise KubeError("apply seldondeployments/uplift: Read timed out. (read timeout=10)", 0)

    sim.cluster.apply = lost  # type: ignore[method-assign]
    sim.metrics.values[PROBE] = 5.0
    sim.tick(60)
    assert sim.condition("ServingApplied")["reason"] == "ApplyFailed"
    assert sim.weights() == {"1": 100}  # it was applied
    sim.cluster.apply = real  # type: ignore[method-assign]
    for _ in range(3):
        sim.tick(60)
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert "; stable 1 serves. " in sim.status["message"]
    assert "refused" not in sim.status["message"]
    _observe(sim)
    assert _gauge("uplift_operator_serving_apply_failing") == 0
    observability.forget("UpliftModel", NS, NAME)
