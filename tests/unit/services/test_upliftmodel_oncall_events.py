"""What an on-call engineer is told, through a whole pass: a stable version that served and stops
serving (Degraded, the backend's words, a Warning then a Normal), and an MLflow write-back that
fails (a Warning when it starts failing or fails in new words, a Normal once through again);
both exported as gauges the alerts read."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import REGISTERED, SELDON, Sim, reasons

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.handlers import observability
from uplift_operator.services import writeback


def _gauge(metric: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(metric, {"namespace": "shop", "name": name})


def test_a_healthy_model_whose_stable_stops_serving_is_degraded_told_and_exported() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    observability.observe_rollout("shop", "down", sim.status, measured={})
    assert _gauge("uplift_operator_model_stable_not_serving", "down") == 0
    child = sim.cluster.objects[SELDON]
    child["status"] = seldon_status(child, "Failed", "Deployment uplift-v1 has no available "
                                                     "replicas (ImagePullBackOff)")
    down = sim.tick(60, available=False)
    assert sim.status["phase"] == "Degraded"
    assert sim.status["message"].startswith("stable version 1 does not serve any more: stable 1 "
                                            "not serving: SeldonDeployment")
    assert "ImagePullBackOff" in sim.status["message"]
    assert sim.condition("Ready")["reason"] == "WaitingForServing"
    assert reasons(down) == ["StableNotServing", "ServingFailed"]
    assert down.events[0].decision is False
    observability.observe_rollout("shop", "down", sim.status, measured={})
    assert _gauge("uplift_operator_model_stable_not_serving", "down") == 1
    assert reasons(sim.tick(60, available=False)) == []  # said once
    sim.seldon()
    back = sim.tick(60)
    assert sim.status["phase"] == "Healthy" and "StableServing" in reasons(back)
    observability.observe_rollout("shop", "down", sim.status, measured={})
    assert _gauge("uplift_operator_model_stable_not_serving", "down") == 0
    observability.forget("UpliftModel", "shop", "down")
    assert _gauge("uplift_operator_model_stable_not_serving", "down") is None


def test_a_failing_write_back_is_told_when_it_starts_failing_and_when_it_is_through() -> None:
    sim = Sim()
    sim.with_canary()
    assert sim.condition("RegistryWrittenBack")["status"] == "True"
    sim.registry.writes_fail = True
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "t1"}
    sim.tick(1)
    failing = sim.tick(1)  # the pass the worker's failure wakes
    assert sim.condition("RegistryWrittenBack")["status"] == "False"
    warned = [e for e in failing.events if e.reason == "WriteBackFailed"]
    assert [(e.type, e.message, e.decision) for e in warned] == [
        ("Warning", sim.condition("RegistryWrittenBack")["message"], False)]
    assert "failing, retried with backoff" in warned[0].message
    observability.observe_rollout("shop", "wb", sim.status, measured={})
    assert _gauge("uplift_operator_registry_write_back_failing", "wb") == 1
    for _ in range(3):  # retried, failing in the same words: nothing new to tell
        assert "WriteBackFailed" not in reasons(sim.tick(2))
    sim.registry.writes_fail = False
    sim.tick(writeback.MAX_BACKOFF_SECONDS)
    through = sim.tick(1)
    assert sim.condition("RegistryWrittenBack")["status"] == "True"
    assert [(e.type, e.reason) for e in through.events if e.reason == "WrittenBack"] == [
        ("Normal", "WrittenBack")]
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "rolled-back"
    observability.observe_rollout("shop", "wb", sim.status, measured={})
    assert _gauge("uplift_operator_registry_write_back_failing", "wb") == 0
    assert "WrittenBack" not in reasons(sim.tick(60))
    observability.forget("UpliftModel", "shop", "wb")
    assert _gauge("uplift_operator_registry_write_back_failing", "wb") is None
