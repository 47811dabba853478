"""A stable version that served and is down stays down through passes that replace ``Ready``
(an invalid spec pushed and fixed, a serving conflict) and through an upgrade from a status
written before ``status.stableServedVersion``: Degraded again, said once more, and exported as
``uplift_operator_model_stable_not_serving`` 1, which pages (UpliftModelNotServing). A first
version never seen serving is still waited for. Driven through whole passes
(``services.upliftmodel.reconcile``) on the fake cluster, whose Seldon reports the graph
Creating with no replica available while the stable is down."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.services.test_upliftmodel import SELDON, Sim, reasons

from uplift_operator.handlers import observability

DOWN = "stable version 1 does not serve any more: no replica of its predictor is available"
WAITING = "waiting for stable version 1 to serve"


def gauge(sim: Sim, name: str) -> float | None:
    """``uplift_operator_model_stable_not_serving`` as the handler exports it from the status."""
    observability.observe_rollout("shop", name, sim.status, measured={})
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_model_stable_not_serving", {"namespace": "shop", "name": name})


def down(sim: Sim, seconds: float) -> None:
    """A pass while the stable's pods crash-loop behind a graph Seldon calls Creating."""
    sim.seldon("Creating")
    sim.tick(seconds, available=False)


def push_invalid_spec(sim: Sim) -> dict[str, Any]:
    """An invalid spec pushed (what a GitOps sync of a bad commit does); returns the good one."""
    good: dict[str, Any] = copy.deepcopy(sim.body["spec"])
    sim.body["spec"]["serving"] = {"replicas": -1}
    sim.body["metadata"]["generation"] += 1
    return good


def fix_spec(sim: Sim, good: dict[str, Any]) -> None:
    sim.body["spec"] = good
    sim.body["metadata"]["generation"] += 1


def serving_then_down(sim: Sim, name: str) -> None:
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy" and sim.status["stableServedVersion"] == "1"
    down(sim, 30)
    assert sim.status["phase"] == "Degraded" and sim.status["message"].startswith(DOWN)
    assert gauge(sim, name) == 1


def assert_down_again(sim: Sim, name: str) -> None:
    assert sim.status["phase"] == "Degraded" and sim.status["message"].startswith(DOWN)
    assert sim.condition("Ready")["reason"] == "WaitingForServing"
    assert sim.status["stableServedVersion"] == "1"
    assert gauge(sim, name) == 1


def test_a_stable_down_is_degraded_again_once_an_invalid_spec_is_fixed() -> None:
    sim = Sim()
    serving_then_down(sim, "invalid")
    good = push_invalid_spec(sim)
    sim.seldon("Creating")
    result = sim.tick(30, available=False)
    assert sim.condition("Ready")["reason"] == "InvalidSpec" and reasons(result) == ["InvalidSpec"]
    assert sim.status["stableServedVersion"] == "1"  # an invalid pass leaves it as it was
    fix_spec(sim, good)
    sim.seldon("Creating")
    fixed = sim.tick(120, available=False)
    assert_down_again(sim, "invalid")
    # Said again: the Warning before it told an invalid spec, not this.
    assert reasons(fixed) == ["StableNotServing"]
    for _ in range(2):  # and once only
        sim.seldon("Creating")
        assert sim.tick(120, available=False).events == ()
        assert_down_again(sim, "invalid")
    sim.seldon()
    sim.tick(60)
    assert sim.status["phase"] == "Healthy" and gauge(sim, "invalid") == 0
    observability.forget("UpliftModel", "shop", "invalid")


def test_a_stable_down_is_degraded_again_once_a_serving_conflict_is_over() -> None:
    sim = Sim()
    serving_then_down(sim, "conflict")
    meta = sim.cluster.objects[SELDON]["metadata"]
    owners = meta.pop("ownerReferences")  # a hand edit takes the graph from the model
    sim.seldon("Creating")
    result = sim.tick(30, available=False)
    assert sim.condition("Ready")["reason"] == "ServingConflict"
    assert reasons(result) == ["ServingConflict"]
    assert sim.status["stableServedVersion"] == "1"
    meta["ownerReferences"] = owners
    down(sim, 30)
    assert_down_again(sim, "conflict")
    observability.forget("UpliftModel", "shop", "conflict")


def test_an_upgrade_from_a_status_without_the_field_keeps_what_ready_said() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    del sim.body["status"]["stableServedVersion"]  # as the release before this field wrote it
    # Its first pass reads "served" from Ready (StableServing) and keeps it in the field.
    down(sim, 30)
    assert_down_again(sim, "upgrade")
    good = push_invalid_spec(sim)
    down(sim, 30)
    assert sim.condition("Ready")["reason"] == "InvalidSpec"
    fix_spec(sim, good)
    down(sim, 30)
    assert_down_again(sim, "upgrade")
    observability.forget("UpliftModel", "shop", "upgrade")


def test_a_first_version_never_seen_serving_is_still_awaited_through_an_invalid_spec() -> None:
    sim = Sim()
    sim.tick(available=False)  # the graph created; its pods never become available
    down(sim, 30)
    assert sim.status["phase"] == "Progressing" and sim.status["message"] == WAITING
    good = push_invalid_spec(sim)
    down(sim, 30)
    assert sim.condition("Ready")["reason"] == "InvalidSpec"
    fix_spec(sim, good)
    for _ in range(2):
        down(sim, 60)
        assert sim.status["phase"] == "Progressing" and sim.status["message"] == WAITING
        assert "stableServedVersion" not in sim.status
        assert gauge(sim, "first") == 0
    sim.seldon()
    sim.tick(60)
    assert sim.status["phase"] == "Healthy" and sim.status["stableServedVersion"] == "1"
    observability.forget("UpliftModel", "shop", "first")
