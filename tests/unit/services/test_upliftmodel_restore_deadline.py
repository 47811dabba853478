"""An emergency rollback whose restored version never serves (here its MLflow version was
deleted, so its pods can never load it) no longer holds the model for good, through the whole
pass: the replaced version keeps the traffic, at the restore's deadline the phase is Degraded
with ``ProgressDeadlineExceeded`` (what the alert of that name reads), and the retry the
message offers withdraws the rollback: the replaced version is stable again, in the status, the
serving graph and MLflow."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, Sim, reasons

from uplift_operator.handlers.observability import deadline_exceeded

ROLE = "uplift.dev/role"


def restoring() -> Sim:
    """Version 2 promoted over 1, then rolled back in an emergency; Seldon never reports 1's
    predictor available again."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):  # both steps pass: version 2 is promoted
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
    del sim.registry.versions[(REGISTERED, "1")]
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "page-1"
    result = sim.tick(1, available=False)
    assert "EmergencyRollback" in reasons(result)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    return sim


def test_a_restore_that_never_serves_is_degraded_at_its_deadline_then_withdrawn_by_a_retry(
        ) -> None:
    sim = restoring()
    result = sim.tick(60, available=False)
    assert sim.status["phase"] == "Degraded"  # the spec names the version rolled back
    assert "annotate --overwrite uplift.dev/retry=$(date +%s)" in sim.status["message"]
    assert "Set a new version" not in sim.status["message"]
    assert result.requeue_after is not None and 500 <= result.requeue_after <= 540
    result = sim.tick(result.requeue_after, available=False)  # woken at the deadline
    assert sim.status["message"].startswith("ProgressDeadlineExceeded: ")
    assert deadline_exceeded(sim.status)  # uplift_operator_progress_deadline_exceeded 1
    assert [e.type for e in result.events if e.reason == "ProgressDeadlineExceeded"] == [
        "Warning"]
    assert sim.weights() == {"1": 0, "2": 100}
    for _ in range(3):  # hours later: still said, not told again, 2 still serving
        result = sim.tick(3600, available=False)
        assert "ProgressDeadlineExceeded" not in reasons(result)
        assert deadline_exceeded(sim.status) and sim.weights() == {"1": 0, "2": 100}
    sim.body["metadata"]["annotations"]["uplift.dev/retry"] = "as-offered"
    result = sim.tick(1, available=False)
    assert reasons(result)[:1] == ["RestoreWithdrawn"]
    status = sim.status
    assert (status["stableVersion"], status["previousStableVersion"]) == ("2", "1")
    assert "emergencyRolledBackVersion" not in status
    assert sim.weights() == {"2": 100}  # 1 left the graph; 2 never stopped serving
    assert not deadline_exceeded(status)
    # MLflow as before the rollback: 2 stable with the promotion alias, 1 retired.
    assert sim.registry.tags[(REGISTERED, "2", ROLE)] == "stable"
    assert sim.registry.tags[(REGISTERED, "1", ROLE)] == "retired"
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"


def test_a_new_version_during_a_restore_that_never_serves_starts_once_withdrawn() -> None:
    sim = restoring()
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    sim.tick(31, available=False)
    assert sim.status["phase"] == "Progressing"
    assert sim.status["message"].startswith("version 3 waits to start as a canary")
    sim.tick(600, available=False)
    assert sim.status["phase"] == "Degraded" and deadline_exceeded(sim.status)
    sim.body["metadata"]["annotations"]["uplift.dev/retry"] = "as-offered"
    result = sim.tick(1, available=False)
    assert reasons(result)[:2] == ["RestoreWithdrawn", "Retry"]
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("2", "3")
    assert sim.weights() == {"2": 100, "3": 0}
    assert sim.registry.tags[(REGISTERED, "3", ROLE)] == "canary"
