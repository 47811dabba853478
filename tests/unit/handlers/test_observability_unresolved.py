"""``uplift_operator_model_unresolved_since_timestamp_seconds``: since when an UpliftModel's model
reference has not resolved (its ``ModelResolved`` condition False), under the condition's reason.
A version stuck in PENDING_REGISTRATION, or MLflow down for hours while no canary runs, keeps a
model whose stable version serves Healthy ("the model reference does not resolve now"), and
``domain.stuck`` leaves both reasons out on purpose (they clear by themselves): this series is
what UpliftModelReferenceUnresolved reads. One series per resource while False; a new reason
replaces it; none once resolved or the resource forgotten."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_upliftmodel import REGISTERED, Sim

from uplift_operator.handlers import observability

METRIC = "uplift_operator_model_unresolved_since_timestamp_seconds"


def series(name: str) -> dict[str, float]:
    """The model's series of the gauge, by reason."""
    return {sample.labels["reason"]: sample.value
            for family in observability.REGISTRY.collect() if family.name == METRIC
            for sample in family.samples
            if sample.labels["namespace"] == "shop" and sample.labels["name"] == name}


def observe(name: str, status: dict[str, Any]) -> dict[str, float]:
    observability.observe_status("UpliftModel", "shop", name, status)
    observability.observe_rollout("shop", name, status, measured={})
    return series(name)


def test_a_version_stuck_registering_is_exported_from_when_it_stopped_resolving() -> None:
    """Whole passes (``services.upliftmodel.reconcile``): the alias moved to a version MLflow
    keeps PENDING_REGISTRATION for five hours. The phase stays Healthy and nothing is held back
    (no ``uplift_operator_spec_stuck``), but the series says since when, the first unresolved
    pass's time, at every pass; it leaves once the version is READY."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert observe("pending", sim.status) == {}
    sim.registry.add(REGISTERED, "2", status="PENDING_REGISTRATION")
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(300)
    began = sim.now.timestamp()
    for _ in range(60):
        sim.tick(300)
        assert sim.status["phase"] == "Healthy"
        assert observability.spec_stuck("UpliftModel", sim.status) is None
        assert observe("pending", sim.status) == {"VersionNotReady": began}
    sim.registry.add(REGISTERED, "2")
    sim.tick(300)
    sim.tick(1)
    assert sim.condition("ModelResolved")["status"] == "True"
    assert observe("pending", sim.status) == {}
    observability.forget("UpliftModel", "shop", "pending")


def test_mlflow_down_while_no_canary_runs_is_exported_until_it_answers() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.down = True
    sim.tick(300)
    began = sim.now.timestamp()
    for _ in range(24):
        sim.tick(300)
        assert sim.status["phase"] == "Healthy"
        assert observe("down", sim.status) == {"RegistryUnavailable": began}
    sim.registry.down = False
    sim.tick(300)
    assert observe("down", sim.status) == {}
    observability.forget("UpliftModel", "shop", "down")


def _status(reason: str | None, since: str = "2026-12-01T10:00:00Z") -> dict[str, Any]:
    """A Healthy UpliftModel's status as the API server returns it, its ModelResolved False
    with ``reason`` since ``since`` (None: True)."""
    resolved = ({"type": "ModelResolved", "status": "True", "reason": "Resolved",
                 "message": "hillstrom resolves to version 1",
                 "lastTransitionTime": "2026-12-01T09:00:00Z"} if reason is None
                else {"type": "ModelResolved", "status": "False", "reason": reason,
                      "message": "version 2 of hillstrom is PENDING_REGISTRATION, not READY",
                      "lastTransitionTime": since})
    return {"phase": "Healthy", "message": "version 1 serves all traffic", "stableVersion": "1",
            "canaryWeight": 0,
            "conditions": [resolved,
                           {"type": "Ready", "status": "True", "reason": "StableServing",
                            "message": "stable 1 serves",
                            "lastTransitionTime": "2026-12-01T09:00:00Z"}]}


TEN = 1_796_119_200.0  # 2026-12-01T10:00:00Z


def test_a_new_reason_replaces_the_series_and_a_resolved_reference_leaves_none() -> None:
    assert observe("m", _status("RegistryUnavailable")) == {"RegistryUnavailable": TEN}
    # The condition's time moves on a new reason (domain.status.model_resolved): one series,
    # the new reason's, not two.
    assert observe("m", _status("VersionNotReady", "2026-12-01T11:00:00Z")) == {
        "VersionNotReady": TEN + 3600}
    assert observe("m", _status("VersionNotReady", "2026-12-01T11:00:00Z")) == {
        "VersionNotReady": TEN + 3600}
    assert observe("m", _status(None)) == {}
    # Every reason alike, those domain.stuck makes Degraded too.
    assert observe("m", _status("ModelNotFound")) == {"ModelNotFound": TEN}
    no_condition = _status(None)
    no_condition["conditions"] = no_condition["conditions"][1:]
    assert observe("m", no_condition) == {}
    observability.forget("UpliftModel", "shop", "m")


def test_a_forgotten_model_leaves_no_series() -> None:
    assert observe("gone", _status("VersionNotReady")) == {"VersionNotReady": TEN}
    observability.forget("UpliftModel", "shop", "gone", keep_last_pass=True)
    assert series("gone") == {}
    # Observed again (the replica resumed) with the same reason: the series is back.
    assert observe("gone", _status("VersionNotReady")) == {"VersionNotReady": TEN}
    observability.forget("UpliftModel", "shop", "gone")
    assert series("gone") == {}


def test_only_a_false_condition_with_a_transition_time_is_unresolved() -> None:
    assert observability.model_unresolved(_status("RegistryUnavailable")) == (
        "RegistryUnavailable", TEN)
    assert observability.model_unresolved(_status(None)) is None
    unknown = _status("RegistryUnavailable")
    unknown["conditions"][0]["status"] = "Unknown"
    assert observability.model_unresolved(unknown) is None
    assert observability.model_unresolved({}) is None
