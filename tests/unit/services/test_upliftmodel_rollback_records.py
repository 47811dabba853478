"""A canary rolled back, then the stable replaced by an emergency rollback: both versions are
on record (``abortedVersion``, ``emergencyRolledBackVersion``), in the serving graph, in MLflow
and in the registry state replayed after a restart; a status an operator before
``emergencyRolledBackVersion`` wrote is read the same way (``services.upliftmodel``)."""

from __future__ import annotations

import copy

from tests.unit.services.test_upliftmodel import REGISTERED, SELDON, Sim
from tests.unit.services.test_writeback_after_restart import (
    PRODUCTION,
    REASON,
    promoted,
    record_writes,
    restart,
    role,
    rolled_back_canary,
    written_back,
)

EMERGENCY = "uplift.dev/emergency-rollback"


def _both_rolled_back(sim: Sim) -> str:
    """2 promoted over 1, canary 3 rolled back by its gate, then stable 2 replaced by 1 in an
    emergency; 1's predictor serves again. Returns 3's rollback reason."""
    promoted(sim)
    rolled_back_canary(sim, "3")
    why = next(e for e in reversed(sim.status["history"]) if e["action"] == "RolledBack")["reason"]
    sim.body["metadata"]["annotations"] = {EMERGENCY: "now"}
    sim.tick(1, available=False)
    assert sim.weights() == {"1": 0, "2": 100}  # 2 serves until 1 does
    sim.seldon()
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    return str(why)


def test_a_canary_rolled_back_before_an_emergency_rollback_stays_rolled_back() -> None:
    sim = Sim()
    why = _both_rolled_back(sim)
    status = sim.status
    assert (status["stableVersion"], status["abortedVersion"],
            status["emergencyRolledBackVersion"]) == ("1", "3", "2")
    assert status["phase"] == "Degraded" and status["message"].startswith(
        f"version 3 was rolled back ({why}); stable 1 serves")
    entry = next(e for e in reversed(status["history"]) if e["action"] == "EmergencyRollback")
    assert (entry["version"], entry["reason"]) == (
        "2", "stable 2 replaced by previous stable 1 at once")
    assert (role(sim, "1"), role(sim, "2"), role(sim, "3")) == (
        "stable", "rolled-back", "rolled-back")
    assert sim.registry.aliases[PRODUCTION] == "1"
    for _ in range(3):
        sim.tick(60)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status


def test_both_rollbacks_lost_to_a_restart_are_written_with_their_own_reasons() -> None:
    sim = Sim()
    promoted(sim)
    sim.registry.writes_fail = True
    rolled_back_canary(sim, "3")
    sim.body["metadata"]["annotations"] = {EMERGENCY: "now"}
    sim.tick(1)
    sim.tick(1)
    assert written_back(sim)["status"] == "False"
    restart(sim)
    sim.registry.writes_fail = False
    writes = record_writes(sim)
    sim.tick(1)
    sim.tick(1)
    assert (role(sim, "1"), role(sim, "2"), role(sim, "3")) == (
        "stable", "rolled-back", "rolled-back")
    assert sim.registry.tags[(REGISTERED, "2", REASON)] == (
        "stable 2 replaced by previous stable 1 at once")
    assert "gate probe Fail" in sim.registry.tags[(REGISTERED, "3", REASON)]
    assert ("production", "1") in writes and sim.registry.aliases[PRODUCTION] == "1"
    assert written_back(sim)["status"] == "True"


def test_a_status_an_older_operator_wrote_mid_restore_keeps_the_replaced_version_serving(
        ) -> None:
    """Written before emergencyRolledBackVersion: the replaced stable 2 in abortedVersion, the
    entry naming the restored 1. Read by this operator before 1 serves, 2 keeps the traffic,
    and the status is written in this release's form."""
    sim = Sim()
    promoted(sim)
    sim.body["metadata"]["annotations"] = {EMERGENCY: "now"}
    sim.tick(1, available=False)
    legacy = copy.deepcopy(sim.body["status"])
    legacy["abortedVersion"] = legacy.pop("emergencyRolledBackVersion")
    entry = legacy["history"][-1]
    assert entry["action"] == "EmergencyRollback"
    entry["version"] = "1"
    sim.body["status"] = legacy
    sim.tick(1, available=False)
    status = sim.status
    assert (status.get("abortedVersion"), status["emergencyRolledBackVersion"]) == (None, "2")
    assert sim.weights() == {"1": 0, "2": 100}
    assert "an emergency rollback is restoring stable 1" in status["message"]
    sim.seldon()
    result = sim.tick(1)
    assert "StableRestored" in [e.reason for e in result.events]
    assert sim.weights() == {"1": 100}


def test_a_replaced_stable_in_the_graph_is_no_canary_when_the_split_is_unreadable() -> None:
    """A status whose canaryVersion cannot be read takes it from the graph; the predictor of
    the version an emergency rollback replaced (there at weight 100 while the restored one
    starts) is no canary."""
    sim = Sim()
    promoted(sim)
    sim.body["metadata"]["annotations"] = {EMERGENCY: "now"}
    sim.tick(1, available=False)
    assert sim.weights() == {"1": 0, "2": 100}
    sim.body["status"]["canaryVersion"] = ["not", "a", "version"]  # unreadable
    sim.tick(1, available=False)
    assert "canaryVersion" not in sim.status
    assert sim.weights() == {"1": 0, "2": 100}
    assert sim.cluster.objects[SELDON]["spec"]["predictors"]
