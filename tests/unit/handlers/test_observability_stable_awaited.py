"""``uplift_operator_model_stable_awaited_since_timestamp_seconds``: since when an UpliftModel's
stable version has been awaited, made stable and never seen serving since (a first version whose
pods never start while Seldon reports no failure), which nothing else alerts on
(UpliftModelNotServingYet reads it). One series per resource; none once the version served,
for a stable that served and stopped (``uplift_operator_model_stable_not_serving``), nor for an
emergency rollback's restore (its own deadline)."""

from __future__ import annotations

from typing import Any

from tests.unit.services.test_upliftmodel import T0, Sim

from uplift_operator.handlers import observability

WAITING = "waiting for stable version 1 to serve"


def awaited(name: str, status: dict[str, Any] | None = None) -> float | None:
    if status is not None:
        observability.observe_rollout("shop", name, status, measured={})
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_model_stable_awaited_since_timestamp_seconds",
        {"namespace": "shop", "name": name})


def stable_not_serving(name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_model_stable_not_serving", {"namespace": "shop", "name": name})


def test_a_first_version_that_never_serves_is_awaited_from_when_it_was_made_stable() -> None:
    """Whole passes (``services.upliftmodel.reconcile``) on the fake cluster: the graph created,
    Seldon calling it Creating with no replica available for an hour. The time stays the
    first pass's (no pass moves it), and the series leaves once the version serves."""
    sim = Sim()
    sim.tick(available=False)
    for _ in range(6):
        sim.seldon("Creating")
        sim.tick(600, available=False)
        assert sim.status["phase"] == "Progressing" and sim.status["message"] == WAITING
        assert "stableServedVersion" not in sim.status
        assert awaited("first", sim.status) == T0.timestamp()
        assert stable_not_serving("first") == 0
    sim.seldon()
    sim.tick(60)
    assert sim.status["phase"] == "Healthy" and sim.status["stableServedVersion"] == "1"
    assert awaited("first", sim.status) is None
    observability.forget("UpliftModel", "shop", "first")


def test_a_stable_version_that_served_and_stopped_is_not_awaited() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    sim.seldon("Creating")
    sim.tick(30, available=False)
    assert sim.status["phase"] == "Degraded"
    assert awaited("served", sim.status) is None
    assert stable_not_serving("served") == 1
    observability.forget("UpliftModel", "shop", "served")


def _status(**fields: Any) -> dict[str, Any]:
    """An UpliftModel's status as the API server returns it: version 2 stable, not seen serving
    (Ready False WaitingForServing since 10:00), promoted at 10:30."""
    status: dict[str, Any] = {
        "phase": "Progressing", "stableVersion": "2",
        "message": "waiting for stable version 2 to serve",
        "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                        "message": "waiting for stable version 2 to serve",
                        "lastTransitionTime": "2026-12-01T10:00:00Z"}],
        "history": [{"time": "2026-12-01T09:00:00Z", "action": "Promoted", "version": "1"},
                    {"time": "2026-12-01T10:30:00Z", "action": "Promoted", "version": "2"},
                    {"time": "2026-12-01T10:40:00Z", "action": "Paused", "version": "2"}]}
    status.update(fields)
    return status


HALF_PAST_TEN = 1_796_121_000.0  # 2026-12-01T10:30:00Z
TEN = HALF_PAST_TEN - 1800


def test_a_version_promoted_while_ready_was_false_is_awaited_from_its_promotion() -> None:
    assert awaited("promoted", _status()) == HALF_PAST_TEN
    # Its entry gone from the history: from when Ready turned False.
    assert awaited("promoted", _status(history=[])) == TEN
    observability.forget("UpliftModel", "shop", "promoted")


def test_only_a_stable_version_never_seen_serving_is_awaited() -> None:
    assert awaited("m", _status()) == HALF_PAST_TEN
    # Seen serving since it became stable: a stable that stopped, not one awaited.
    assert awaited("m", _status(stableServedVersion="2")) is None
    assert awaited("m", _status()) == HALF_PAST_TEN
    # A status from before stableServedVersion that says it stopped serving.
    down = "stable version 2 does not serve any more: no replica of its predictor is available"
    ready = {**_status()["conditions"][0], "message": down}
    assert awaited("m", _status(phase="Degraded", message=down, conditions=[ready])) is None
    # An emergency rollback's restore: the version it replaced keeps the traffic, and the
    # restore has its deadline (ProgressDeadlineExceeded).
    assert awaited("m", _status(emergencyRolledBackVersion="3")) is None
    assert awaited("m", _status(emergencyRolledBackVersion="2")) == HALF_PAST_TEN
    # Ready says something else (an invalid spec, a serving conflict: their own alerts).
    invalid = {**_status()["conditions"][0], "reason": "InvalidSpec"}
    assert awaited("m", _status(conditions=[invalid])) is None
    serving = {**_status()["conditions"][0], "status": "True", "reason": "StableServing"}
    assert awaited("m", _status(phase="Healthy", conditions=[serving])) is None
    assert awaited("m", _status(stableVersion=None)) is None
    assert awaited("m", _status()) == HALF_PAST_TEN
    observability.forget("UpliftModel", "shop", "m")
    assert awaited("m") is None
