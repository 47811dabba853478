"""A SeldonDeployment ``Failed`` (and its description) reaches the status, a condition and one
Warning event per new failure, naming which version does not serve (on-call review §3: a
crash-looping canary showed only "canary is not serving", Ready True, no event)."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import NAME, PROBE, SELDON, Sim

from uplift_operator.render.seldon import deployment_names

CRASH = ("Deployment uplift-v2-0-classifier: ProgressDeadlineExceeded: ReplicaSet has timed out "
         "progressing (CrashLoopBackOff)")


def _failed(sim: Sim, stable_available: int = 1) -> None:
    child = sim.cluster.objects[SELDON]
    stable, canary = child["spec"]["predictors"]
    child["status"] = {"state": "Failed", "description": CRASH, "deploymentStatus": {
        deployment_names(NAME, stable)[0]: {"replicas": 1, "availableReplicas": stable_available},
        deployment_names(NAME, canary)[0]: {"replicas": 1, "availableReplicas": 0}}}


def test_a_failed_canary_predictor_is_named_in_status_condition_and_one_event() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    _failed(sim)
    first = sim.tick(61, available=False)
    _failed(sim)
    second = sim.tick(61, available=False)
    says = f"canary 2 not serving: SeldonDeployment Failed: {CRASH}"
    assert says in sim.status["message"]
    failed = sim.condition("ServingFailed")
    assert (failed["status"], failed["reason"], failed["message"]) == (
        "True", "ServingBackendFailed", says)
    warnings = [(e.type, e.reason, e.message) for e in first.events if e.reason == "ServingFailed"]
    assert warnings == [("Warning", "ServingFailed", says)]
    assert [e for e in second.events if e.reason == "ServingFailed"] == []  # once per change
    # The stable down too: the text names it, and says so again (a new failure).
    _failed(sim, stable_available=0)
    third = sim.tick(61, available=False)
    both = f"stable 1 and canary 2 not serving: SeldonDeployment Failed: {CRASH}"
    assert both in sim.status["message"] and sim.condition("ServingFailed")["message"] == both
    assert [e.message for e in third.events if e.reason == "ServingFailed"] == [both]
    # Recovered: the condition says so; no further warning.
    sim.seldon()
    recovered = sim.tick(61)
    assert sim.condition("ServingFailed")["status"] == "False"
    assert "not serving" not in sim.status["message"]
    assert [e for e in recovered.events if e.reason == "ServingFailed"] == []


def test_a_model_whose_graph_never_failed_has_no_serving_failed_condition() -> None:
    sim = Sim()
    sim.with_canary()
    assert all(c["type"] != "ServingFailed" for c in sim.status["conditions"])
