"""MLflow write-backs lost to an operator restart: the new process's first pass of a resource
whose ``RegistryWrittenBack`` says False submits again the registry state its status implies,
and the condition turns True only once MLflow holds it (``services.upliftmodel``,
``services.writeback``, ``domain.status.written_back``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tests.unit.services.fakes import FakeRegistry
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, SPEC, T0, Sim, status_written

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import status as status_logic
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import TimedCache
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import MAX_BACKOFF_SECONDS, Write, WriteBack

ROLE, SINCE, REASON = "uplift.dev/role", "uplift.dev/role-since", "uplift.dev/reason"
PRODUCTION = (REGISTERED, "production")


def role(sim: Sim, version: str) -> str | None:
    return sim.registry.tags.get((REGISTERED, version, ROLE))


def written_back(sim: Sim) -> dict[str, Any]:
    return sim.condition("RegistryWrittenBack")


def restart(sim: Sim) -> None:
    """A new operator process: nothing of the old one's memory (its write-back queue above
    all) survives; the resource's status does."""
    sim.deps = dataclasses.replace(
        sim.deps, write_back=WriteBack(clock=lambda: sim.now.timestamp()), resolver=Resolver(),
        decision_keys={},
        credential_reads=TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS))


def record_writes(sim: Sim) -> list[tuple[str, ...]]:
    """Every tag and alias write MLflow is asked for from now on (refused ones too)."""
    writes: list[tuple[str, ...]] = []
    registry = sim.registry
    tag, set_alias_of = registry.set_version_tag, registry.set_alias

    def set_version_tag(name: str, version: str, key: str, value: str) -> None:
        writes.append((version, key, value))
        tag(name, version, key, value)

    def set_alias(name: str, alias: str, version: str) -> None:
        writes.append((alias, version))
        set_alias_of(name, alias, version)

    registry.set_version_tag = set_version_tag  # type: ignore[method-assign]
    registry.set_alias = set_alias  # type: ignore[method-assign]
    return writes


def promoted(sim: Sim) -> None:
    """Version 2 ramped and promoted (version 1 was the first, stable version)."""
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.status["previousStableVersion"] == "1"


def rolled_back_canary(sim: Sim, version: str) -> None:
    sim.registry.aliases[(REGISTERED, "champion")] = version
    sim.tick(30)
    sim.tick(1)
    assert sim.status["canaryVersion"] == version
    sim.metrics.values[PROBE] = 5.0
    for _ in range(4):
        sim.tick(60)
    assert sim.status.get("canaryVersion") is None
    assert sim.status["abortedVersion"] == version


def promotion_time(sim: Sim, version: str) -> str:
    entry = next(e for e in reversed(sim.status["history"])
                 if e["action"] == "Promoted" and e["version"] == version)
    return dt.datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).isoformat()


# -- the review's case ------------------------------------------------------------------------

def test_a_promotion_whose_writes_were_queued_when_the_operator_stopped_is_written_after_it(
        ) -> None:
    """Lost before any try failed (the operator stopped between the promotion's status write
    and its worker): the status says the writes were queued and not known to be through
    (Unknown), so the next process writes them; before, nothing said False and they were
    never written."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        if sim.status.get("stableVersion") == "2":
            break
        sim.now += dt.timedelta(seconds=30)
        result = status_written(upliftmodel.reconcile(dict(sim.body), sim.deps, sim.now))
        # (no worker runs)
        sim.body["status"] = result.status
        sim.seldon()
    assert sim.status["stableVersion"] == "2"
    assert written_back(sim)["status"] == "Unknown"
    assert written_back(sim)["reason"] == "WriteBackPending"
    assert sim.registry.aliases[PRODUCTION] == "1" and role(sim, "2") == "canary"
    restart(sim)  # the queued writes are lost with the process
    sim.tick(1)
    assert sim.registry.aliases[PRODUCTION] == "2" and role(sim, "2") == "stable"
    sim.tick(1)  # the pass the worker's word wakes
    assert written_back(sim)["status"] == "True"
    assert not sim.deps.write_back.waiting(("UpliftModel", sim.body["metadata"]["namespace"],
                                            sim.body["metadata"]["name"]))


def test_a_promotion_mlflow_refused_is_written_after_a_restart_and_only_then_said_written(
        ) -> None:
    """Version 2 promoted while MLflow refused writes: after a restart its alias and roles are
    written (the promotion's time kept as the role's), and RegistryWrittenBack stays False
    until they are — not True at the first pass because the new process saw no failure."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.registry.writes_fail = True
    for _ in range(12):
        sim.tick(30)
    promoted_at = promotion_time(sim, "2")
    sim.tick(1)
    assert written_back(sim)["status"] == "False"
    assert sim.registry.aliases[PRODUCTION] == "1" and role(sim, "2") == "canary"
    restart(sim)
    sim.registry.writes_fail = False
    first = upliftmodel.reconcile(dict(sim.body), sim.deps, sim.now)  # before the worker runs
    assert next(c for c in first.status["conditions"]
                if c["type"] == "RegistryWrittenBack")["status"] == "False"
    sim.tick(1)  # the pass again, the worker after it
    assert sim.registry.aliases[PRODUCTION] == "2"
    assert (role(sim, "2"), role(sim, "1")) == ("stable", "retired")
    assert sim.registry.tags[(REGISTERED, "2", SINCE)] == promoted_at
    sim.tick(1)  # the pass the worker's news wakes
    assert (written_back(sim)["status"], written_back(sim)["reason"]) == ("True", "WrittenBack")
    assert sim.weights() == {"2": 100}


def test_after_a_restart_mlflow_still_refusing_keeps_the_condition_false() -> None:
    sim = Sim()
    promoted(sim)
    sim.registry.writes_fail = True
    rolled_back_canary(sim, "3")
    assert written_back(sim)["status"] == "False"
    restart(sim)
    for _ in range(5):
        sim.tick(30)
        failing = written_back(sim)
        assert failing["status"] == "False" and "failing" in failing["message"]
    assert role(sim, "3") is None  # its canary role was refused too
    sim.registry.writes_fail = False
    sim.tick(MAX_BACKOFF_SECONDS)
    sim.tick(1)
    assert role(sim, "3") == "rolled-back" and written_back(sim)["status"] == "True"


# -- what the status implies, exactly -----------------------------------------------------------

def test_a_canary_rolled_back_leaves_the_alias_on_the_stable_not_the_previous_one() -> None:
    """2 promoted (written), canary 3 rolled back while MLflow refused: after a restart the
    alias is written to the stable 2 — not to the previous stable 1 (status still names it),
    nor to 3 — and 3 is rolled back with the reason the history recorded."""
    sim = Sim()
    promoted(sim)
    assert sim.registry.aliases[PRODUCTION] == "2"
    sim.registry.writes_fail = True
    rolled_back_canary(sim, "3")
    assert sim.status["previousStableVersion"] == "1"
    restart(sim)
    sim.registry.writes_fail = False
    writes = record_writes(sim)
    sim.tick(1)
    sim.tick(1)
    assert sim.registry.aliases[PRODUCTION] == "2"
    assert (role(sim, "3"), role(sim, "2"), role(sim, "1")) == ("rolled-back", "stable",
                                                                  "retired")
    rollback = next(e for e in reversed(sim.status["history"]) if e["action"] == "RolledBack")
    assert sim.registry.tags[(REGISTERED, "3", REASON)] == rollback["reason"][:500]
    assert "gate probe Fail" in rollback["reason"]
    assert ("production", "2") in writes and ("production", "1") not in writes
    assert written_back(sim)["status"] == "True"


def test_an_emergency_rollback_lost_to_a_restart_moves_the_alias_back_to_the_restored() -> None:
    sim = Sim()
    promoted(sim)
    assert sim.registry.aliases[PRODUCTION] == "2"
    sim.registry.writes_fail = True
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)
    sim.seldon()
    sim.tick(1)
    assert sim.status["stableVersion"] == "1"
    assert sim.status["emergencyRolledBackVersion"] == "2" and "abortedVersion" not in sim.status
    assert sim.status.get("previousStableVersion") is None
    assert written_back(sim)["status"] == "False"
    assert sim.registry.aliases[PRODUCTION] == "2"
    restart(sim)
    sim.registry.writes_fail = False
    sim.tick(1)
    sim.tick(1)
    assert sim.registry.aliases[PRODUCTION] == "1"
    assert (role(sim, "1"), role(sim, "2")) == ("stable", "rolled-back")
    assert "replaced by previous stable 1" in sim.registry.tags[(REGISTERED, "2", REASON)]
    assert written_back(sim)["status"] == "True"


def test_without_a_promotion_alias_no_alias_is_written_after_a_restart() -> None:
    sim = Sim()
    del sim.body["spec"]["model"]["promotionAlias"]
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.registry.writes_fail = True
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and written_back(sim)["status"] == "False"
    restart(sim)
    sim.registry.writes_fail = False
    writes = record_writes(sim)
    sim.tick(1)
    sim.tick(1)
    assert (role(sim, "2"), role(sim, "1")) == ("stable", "retired")
    assert all(len(w) == 3 for w in writes)  # tags only
    assert PRODUCTION not in sim.registry.aliases
    assert sim.registry.aliases[(REGISTERED, "champion")] == "2"  # followed, never written
    assert written_back(sim)["status"] == "True"


def test_the_condition_stays_false_while_mlflow_cannot_be_asked_after_a_restart() -> None:
    """No client (no tracking URI) on the first passes after the restart: nothing is written,
    and nothing says it was; once there is one, the state is written."""
    sim = Sim()
    promoted_with_writes_refused(sim)
    restart(sim)
    sim.registry.writes_fail = False
    client = sim.deps.registry_for

    def no_client(*_: Any) -> Any:
        raise ValueError("no MLflow tracking URI")

    sim.deps.registry_for = no_client
    for _ in range(3):
        sim.tick(30)
        assert written_back(sim)["status"] == "False"
    assert sim.registry.aliases[PRODUCTION] == "1"
    sim.deps.registry_for = client
    sim.tick(1)
    sim.tick(1)
    assert sim.registry.aliases[PRODUCTION] == "2" and written_back(sim)["status"] == "True"


def promoted_with_writes_refused(sim: Sim) -> None:
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.registry.writes_fail = True
    for _ in range(12):
        sim.tick(30)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2" and written_back(sim)["status"] == "False"


def test_a_version_in_two_fields_holds_the_role_the_later_decision_gave_it() -> None:
    """The spec went back to 1 (stable 2's previous) as a new canary: 1's last role written
    was canary, not retired; each role with the time of its decision."""
    spec = UpliftModelSpec.model_validate(
        {**SPEC, "model": {"registeredModel": REGISTERED, "version": "1",
                           "promotionAlias": "prod"}})
    t1, t2 = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2)
    status = UpliftModelStatus.model_validate({
        "stableVersion": "2", "previousStableVersion": "1", "canaryVersion": "1",
        "canaryStartedAt": t2.isoformat(),
        "history": [{"time": t1.isoformat(), "action": "Promoted", "version": "2"},
                    {"time": t2.isoformat(), "action": "CanaryStarted", "version": "1"}]})
    writes = upliftmodel._registry_state(spec, status, set(), T0 + dt.timedelta(hours=3))
    registry = FakeRegistry()
    registry.add(REGISTERED, "1")
    registry.add(REGISTERED, "2")
    for write in writes:
        write.apply(registry)
    assert [(w.what, w.value) for w in writes] == [
        (("role", "1"), "canary"), (("reason", "1"), ""), (("role", "2"), "stable"),
        (("reason", "2"), ""), (("alias", "prod"), "2")]  # "": the reason removed
    assert registry.tags[(REGISTERED, "1", SINCE)] == t2.isoformat()
    assert registry.tags[(REGISTERED, "2", SINCE)] == t1.isoformat()
    covered = upliftmodel._registry_state(spec, status, {("alias", "prod")}, T0)
    assert ("alias", "prod") not in {w.what for w in covered}  # the pass's own write wins


# -- the cost ------------------------------------------------------------------------------------

def test_a_restart_writes_nothing_for_a_resource_whose_write_backs_went_through() -> None:
    sim = Sim()
    promoted(sim)
    assert written_back(sim)["status"] == "True"  # queued (Unknown), then through
    restart(sim)
    writes = record_writes(sim)
    for _ in range(5):
        sim.tick(30)
    assert writes == []


def test_the_state_is_submitted_again_once_per_process_not_on_every_pass() -> None:
    sim = Sim()
    promoted_with_writes_refused(sim)
    restart(sim)
    sim.registry.writes_fail = False
    writes = record_writes(sim)
    sim.tick(1)
    once = list(writes)
    assert ("production", "2") in once
    for _ in range(5):
        sim.tick(30)
    assert writes == once and written_back(sim)["status"] == "True"


# -- the parts ---------------------------------------------------------------------------------

class Registry:
    def __init__(self) -> None:
        self.done: list[tuple[str, str]] = []

    def write(self, what: str, value: str) -> Write:
        return Write(("role", what), value, lambda _: self.done.append((what, value)))


OWNER = ("UpliftModel", "ns", "a")


def test_an_owner_that_asked_is_told_when_its_writes_went_through_without_failing() -> None:
    reg, queue = Registry(), WriteBack(clock=lambda: 0.0)
    told: list[tuple[str, str, str]] = []
    queue.on_change.append(told.extend)
    assert not queue.knows(OWNER) and not queue.waiting(OWNER)
    queue.submit(OWNER, reg, ("u", "", ""), "m", [reg.write("2", "stable")],  # type: ignore[arg-type]
                 tell_when_written=True)
    assert queue.knows(OWNER) and queue.waiting(OWNER) and queue.failure(OWNER) is None
    queue.run_due()
    assert reg.done == [("2", "stable")] and told == [OWNER] and not queue.waiting(OWNER)
    queue.submit(OWNER, reg, ("u", "", ""), "m", [reg.write("2", "retired")])  # type: ignore[arg-type]
    queue.run_due()
    assert told == [OWNER]  # not asked: a write that goes through tells no one
    queue.forget(OWNER)
    assert not queue.knows(OWNER)


def test_a_false_condition_turns_true_only_once_nothing_is_pending() -> None:
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    failed = status_logic.written_back([], "MLflow write-back of m (role 2 = 'x') failing", 1,
                                       now)
    assert status_logic.write_back_unconfirmed(failed)
    held = status_logic.written_back(failed, None, 1, now, pending=True)
    assert held == failed
    went = status_logic.written_back(held, None, 1, now, pending=False)
    assert not status_logic.write_back_unconfirmed(went)
    assert status_logic.written_back([], None, 1, now, pending=True) == []


# -- canaries the spec removed: no status field names them -----------------------------------------

def test_a_canary_replaced_before_a_restart_is_retired_after_it() -> None:
    """Canary 2 replaced by 3 while MLflow refused writes: no status field names 2 any more,
    so the state replayed after a restart is read from the history: 2 ``retired`` (as the
    replacing pass would have written it), not left tagged ``canary`` for ever."""
    sim = Sim()
    sim.with_canary()
    sim.registry.writes_fail = True
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    sim.tick(30)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "3"
    replaced = next(e for e in reversed(sim.status["history"]) if e["action"] == "CanaryReplaced")
    assert written_back(sim)["status"] == "False" and role(sim, "2") == "canary"
    restart(sim)
    sim.registry.writes_fail = False
    sim.tick(1)
    sim.tick(1)
    assert (role(sim, "2"), role(sim, "3"), role(sim, "1")) == ("retired", "canary", "stable")
    assert sim.registry.tags[(REGISTERED, "2", SINCE)] == dt.datetime.fromisoformat(
        replaced["time"].replace("Z", "+00:00")).isoformat()
    assert written_back(sim)["status"] == "True"


def test_a_canary_the_spec_withdrew_before_a_restart_is_retired_after_it() -> None:
    """The spec back at stable 1 while canary 2 ramped and MLflow refused writes: after a
    restart 2 is ``retired`` with the reason its history entry gave, as the withdrawing
    pass would have written it."""
    sim = Sim()
    sim.with_canary()
    sim.registry.writes_fail = True
    sim.registry.aliases[(REGISTERED, "champion")] = "1"
    sim.tick(30)
    sim.tick(1)
    assert sim.status.get("canaryVersion") is None and sim.status.get("abortedVersion") is None
    withdrawn = next(e for e in reversed(sim.status["history"]) if e["action"] == "RolledBack")
    assert role(sim, "2") == "canary"
    restart(sim)
    sim.registry.writes_fail = False
    sim.tick(1)
    sim.tick(1)
    assert (role(sim, "2"), role(sim, "1")) == ("retired", "stable")
    assert sim.registry.tags[(REGISTERED, "2", REASON)] == withdrawn["reason"][:500]
    assert written_back(sim)["status"] == "True"


def test_a_removed_canary_later_ramped_again_holds_its_later_role() -> None:
    """History: 3 replaced by 4, then 3 the canary again: the replay tags 3 ``canary`` (the
    later decision), and a version the history shows removed and then promoted is stable."""
    spec = UpliftModelSpec.model_validate(
        {**SPEC, "model": {"registeredModel": REGISTERED, "version": "3"}})
    t = [T0 + dt.timedelta(hours=h) for h in range(5)]
    status = UpliftModelStatus.model_validate({
        "stableVersion": "2", "previousStableVersion": "1", "canaryVersion": "3",
        "canaryStartedAt": t[4].isoformat(),
        "history": [
            {"time": t[0].isoformat(), "action": "CanaryStarted", "version": "2"},
            {"time": t[1].isoformat(), "action": "RolledBack", "version": "2",
             "reason": "spec points back at stable 1", "actor": "spec"},
            {"time": t[1].isoformat(), "action": "CanaryStarted", "version": "2"},
            {"time": t[2].isoformat(), "action": "Promoted", "version": "2"},
            {"time": t[3].isoformat(), "action": "CanaryStarted", "version": "3"},
            {"time": t[3].isoformat(), "action": "CanaryReplaced", "version": "4",
             "reason": "replaces canary 3", "actor": "spec"},
            {"time": t[4].isoformat(), "action": "CanaryReplaced", "version": "3",
             "reason": "replaces canary 4", "actor": "spec"}]})
    roles = {w.what[1]: w.value
             for w in upliftmodel._registry_state(spec, status, set(), t[4])
             if w.what[0] == "role"}
    assert roles == {"1": "retired", "2": "stable", "3": "canary", "4": "retired"}
