"""MLflow role tags of a canary the spec removes or a newer version replaces: never left
``canary`` once it is none."""

from __future__ import annotations

import copy

from tests.unit.services.test_upliftmodel import REGISTERED, Sim


def _tag(sim: Sim, version: str, key: str) -> str | None:
    return sim.registry.tags.get((REGISTERED, version, key))


def test_a_canary_the_spec_removes_is_tagged_retired_with_the_reason() -> None:
    """Not ``rolled-back``: the status keeps no abortedVersion (the same version in the spec
    again starts a canary), and a status-less pass held a version so tagged as rolled back,
    Degraded, where one with its status ramps it again."""
    sim = Sim()
    sim.with_canary()
    assert _tag(sim, "2", "uplift.dev/role") == "canary"
    sim.registry.aliases[(REGISTERED, "champion")] = "1"  # the alias moved back to stable
    sim.tick(31)
    assert sim.status.get("canaryVersion") is None and sim.status.get("abortedVersion") is None
    assert _tag(sim, "2", "uplift.dev/role") == "retired"
    assert "spec points back at stable 1" in (_tag(sim, "2", "uplift.dev/reason") or "")
    assert _tag(sim, "1", "uplift.dev/role") == "stable"


def test_a_canary_the_spec_withdrew_ramps_again_after_the_status_is_lost() -> None:
    """The object applied again without its status, the alias back on 2: the registry's tags
    (2 retired by the spec's withdrawal, 1 stable) make 1 stable and ramp 2 as a canary, as
    with its status kept; not held Degraded as a rollback, nor served as a first version."""
    sim = Sim()
    sim.with_canary()
    sim.registry.aliases[(REGISTERED, "champion")] = "1"
    sim.tick(31)
    sim.tick(1)
    assert _tag(sim, "2", "uplift.dev/role") == "retired"
    sim.body.pop("status")
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(31)
    status = sim.status
    assert (status["stableVersion"], status.get("canaryVersion"),
            status.get("abortedVersion")) == ("1", "2", None)
    assert status["phase"] != "Degraded"


def test_a_canary_replaced_by_a_newer_version_is_tagged_retired() -> None:
    sim = Sim()
    sim.with_canary()
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    sim.tick(31)
    assert sim.status["canaryVersion"] == "3"
    assert (_tag(sim, "2", "uplift.dev/role"), _tag(sim, "3", "uplift.dev/role")) == (
        "retired", "canary")


def test_an_ignored_abort_during_a_restore_writes_nothing_to_the_registry() -> None:
    """The rolled-back version's reason stays the rollback's: an abort ignored while the
    restore waits is told (a Warning under ManualAbort) but decided nothing."""
    from tests.unit.domain.test_ramp_restore import restoring

    from uplift_operator.domain import ramp
    from uplift_operator.services.upliftmodel import _write_backs

    sim = restoring()
    sim.request(ramp.ABORT_ANNOTATION, "t2")
    decision = sim.tick(0.5)
    assert [(e.reason, e.decision) for e in decision.events] == [
        (ramp.Reason.MANUAL_ABORT, False)]
    assert decision.status.emergency_rolled_back_version == "2"
    assert _write_backs(sim.spec, decision, sim.now, canary_before=None) == []


def _unserved_first_replaced(sim: Sim) -> None:
    """Version 1, the first version, never serves; version 2 replaces it as the first version
    (``replace_unserved_first``)."""
    sim.tick(available=False)
    sim.tick(1, available=False)
    assert sim.status["stableVersion"] == "1" and not sim.status.get("stableServedVersion")
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30, available=False)
    sim.tick(1, available=False)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2"
    assert "which never served" in sim.status["history"][-1]["reason"]


def _roles(sim: Sim) -> dict[str, str]:
    return {version: role for (_, version, key), role in sim.registry.tags.items()
            if key == "uplift.dev/role"}


def test_a_first_version_that_never_served_replaced_is_tagged_retired_with_the_reason() -> None:
    sim = Sim()
    _unserved_first_replaced(sim)
    assert _roles(sim) == {"1": "retired", "2": "stable"}  # one stable, not two
    assert _tag(sim, "1", "uplift.dev/reason") == (
        "never served; replaced by version 2 as the first version")
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"
    assert sim.condition("RegistryWrittenBack")["status"] == "True"


def test_the_retirement_of_a_first_version_that_never_served_is_replayed_from_the_status() -> None:
    """MLflow refused the writes; an operator restart (a new write-back) writes the state the
    status implies: the replaced version retired, from its history entry."""
    from uplift_operator.services.writeback import WriteBack

    sim = Sim()
    sim.tick(available=False)
    sim.tick(1, available=False)
    sim.registry.writes_fail = True
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30, available=False)
    sim.tick(1, available=False)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2" and _roles(sim) == {"1": "stable"}
    assert sim.condition("RegistryWrittenBack")["status"] != "True"
    sim.deps.write_back = WriteBack(clock=lambda: sim.now.timestamp())  # restarted
    sim.registry.writes_fail = False
    sim.tick(1)
    assert _roles(sim) == {"1": "retired", "2": "stable"}
    assert "never served" in (_tag(sim, "1", "uplift.dev/reason") or "")
    sim.tick(1)  # told the writes went through
    assert sim.condition("RegistryWrittenBack")["status"] == "True"


def test_a_canary_removed_with_a_first_version_that_never_served_is_retired_too() -> None:
    """A canary started against a stable that never served (by a release before that rule)
    goes with it: neither keeps its role, each says why; on a replay too."""
    import datetime as dt

    from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
    from uplift_operator.domain import ramp
    from uplift_operator.domain.steps import Event
    from uplift_operator.services.upliftmodel import _registry_state, _write_backs

    sim = Sim()
    _unserved_first_replaced(sim)
    wire = copy.deepcopy(sim.status)
    wire["history"][-1]["reason"] = ("first version: replaces version 1, which never served; "
                                     "canary 3 removed; serving it as stable, no ramp")
    status = UpliftModelStatus.model_validate(wire)
    spec = UpliftModelSpec.model_validate(sim.body["spec"])
    told = ("version 2 replaces version 1, which never served, as the first version: serving "
            "it as stable without a ramp; canary 3 removed")
    decision = ramp.Decision(status, None, (Event("Normal", ramp.Reason.PROMOTED, told),), None)
    now = sim.now + dt.timedelta(seconds=1)
    decided = {w.what: w.value for w in _write_backs(spec, decision, now, canary_before="3")}
    replayed = {w.what: w.value for w in _registry_state(spec, status, set(), now)}
    for writes in (decided, replayed):
        assert (writes[("role", "1")], writes[("role", "3")], writes[("role", "2")]) == (
            "retired", "retired", "stable")
        assert writes[("reason", "3")] == ("canary against version 1, which never served; "
                                           "removed when version 2 replaced that one as the "
                                           "first version")
        assert writes[("reason", "1")].startswith("never served; replaced by version 2")
