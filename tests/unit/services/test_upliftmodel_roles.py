"""MLflow role tags of a canary the spec removes or a newer version replaces: never left
``canary`` once it is none."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import REGISTERED, Sim


def _tag(sim: Sim, version: str, key: str) -> str | None:
    return sim.registry.tags.get((REGISTERED, version, key))


def test_a_canary_the_spec_removes_is_tagged_rolled_back_with_the_reason() -> None:
    sim = Sim()
    sim.with_canary()
    assert _tag(sim, "2", "uplift.dev/role") == "canary"
    sim.registry.aliases[(REGISTERED, "champion")] = "1"  # the alias moved back to stable
    sim.tick(31)
    assert sim.status.get("canaryVersion") is None
    assert _tag(sim, "2", "uplift.dev/role") == "rolled-back"
    assert "spec points back at stable 1" in (_tag(sim, "2", "uplift.dev/reason") or "")
    assert _tag(sim, "1", "uplift.dev/role") == "stable"


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
