"""Two rollbacks on record at once: a canary rolled back (``abortedVersion``) and the stable an
emergency rollback replaced (``emergencyRolledBackVersion``), the history entries that name
them, and a status an operator before that field wrote (``abortedVersion`` alone). Driven by
``test_ramp.Sim``, so every decision is checked for idempotence and a JSON round trip too."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.common import DecisionRecord, Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import canary, ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

from .test_ramp import T0, F, Sim, make_spec, with_canary


def _promoted(spec: UpliftModelSpec | None = None) -> Sim:
    """Version 2 promoted over 1 (1's predictor left with the promotion)."""
    sim = with_canary(spec)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    assert (sim.status.stable_version, sim.status.previous_stable_version) == ("2", "1")
    sim.ready_versions = frozenset({"2"})
    return sim


def _canary_3_rolled_back_by(sim: Sim, how: str) -> str:
    """Canary 3 out over stable 2, then rolled back by a gate or an emergency rollback; its
    rollback's reason."""
    sim.desired = "3"
    sim.tick(0.5)
    sim.ready_versions = frozenset({"2", "3"})
    sim.tick(0.5)
    assert sim.status.canary_version == "3" and sim.status.canary_weight == 10
    if how == "gate":
        d = sim.tick(1, verdicts={"latency": F, "shadow": F})
    else:
        sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "canary")
        d = sim.tick(1)
    assert (d.status.canary_version, d.status.aborted_version) == (None, "3")
    assert d.status.history[-1].version == "3"
    return d.status.history[-1].reason


def test_an_emergency_rollback_of_the_stable_keeps_a_canary_rolled_back_before_rolled_back(
        ) -> None:
    """The defect: the emergency rollback wrote the replaced stable over ``abortedVersion``,
    so canary 3, which the spec still names, was held until 1 served and then rolled out
    again, with no retry and no new version."""
    for how in ("gate", "emergency"):
        sim = _promoted()
        why = _canary_3_rolled_back_by(sim, how)
        sim.ready_versions = frozenset({"2"})
        sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
        d = sim.tick(1)
        s = d.status
        assert (s.stable_version, s.aborted_version, s.emergency_rolled_back_version) == (
            "1", "3", "2")
        assert d.traffic == TrafficSplit("1", "2", 100)  # 2 serves until 1 does
        assert sim.reasons() == [Reason.EMERGENCY_ROLLBACK]  # no CanaryHeld for 3
        assert s.phase is Phase.DEGRADED
        assert s.message.startswith(f"version 3 was rolled back ({why}); an emergency rollback "
                                    "is restoring stable 1, and version 2 keeps the traffic")
        sim.ready_versions = frozenset({"1", "2"})
        d = sim.tick(1)
        assert sim.reasons() == [Reason.STABLE_RESTORED]
        assert d.traffic == TrafficSplit("1", None, 0) and d.status.canary_version is None
        assert d.status.message.startswith(f"version 3 was rolled back ({why}); stable 1 serves")
        assert sim.tick(30).events == () and sim.status.canary_version is None


def test_a_retry_after_both_rollbacks_restarts_the_spec_s_version_and_clears_both() -> None:
    sim = _promoted()
    _canary_3_rolled_back_by(sim, "gate")
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    sim.ready_versions = frozenset({"1", "2"})
    sim.tick(1)
    sim.request(ramp.RETRY_ANNOTATION, "again")
    d = sim.tick(1)
    s = d.status
    assert (s.stable_version, s.canary_version, s.canary_weight) == ("1", "3", 0)
    assert (s.aborted_version, s.emergency_rolled_back_version) == (None, None)
    assert sim.reasons() == [Reason.RETRY]


def test_the_spec_at_the_replaced_stable_stays_degraded_on_its_own_rollback() -> None:
    sim = _promoted()
    why = _canary_3_rolled_back_by(sim, "gate")
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "stable")
    sim.ready_versions = frozenset({"1", "2"})
    sim.tick(1)
    sim.desired = "2"
    d = sim.tick(1)
    assert d.status.canary_version is None and d.traffic == TrafficSplit("1", None, 0)
    assert d.status.message.startswith("version 2 was rolled back (stable 2 replaced by "
                                       "previous stable 1 at once); stable 1 serves")
    assert why not in d.status.message
    sim.desired = "4"  # a new version: both rollbacks are superseded
    d = sim.tick(1)
    s = d.status
    assert (s.canary_version, s.aborted_version, s.emergency_rolled_back_version) == (
        "4", None, None)


def test_restoring_a_version_aborted_as_a_canary_says_it_is_restoring_not_healthy() -> None:
    """Stable 2 over 1, a canary of 1 aborted, then 1 restored by an emergency rollback: the
    spec names the restored version, which is no rollback any more. Until 1 serves, 2 keeps
    the traffic, and the phase says so (not "version 1 serves all traffic")."""
    sim = _promoted()
    sim.desired = "1"
    sim.tick(0.5)
    assert sim.status.canary_version == "1"
    sim.request(ramp.ABORT_ANNOTATION, "no")
    d = sim.tick(0.5)
    assert d.status.aborted_version == "1" and d.status.phase is Phase.DEGRADED
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "back")
    d = sim.tick(0.5)
    s = d.status
    assert (s.stable_version, s.aborted_version, s.emergency_rolled_back_version) == (
        "1", None, "2")
    assert d.traffic == TrafficSplit("1", "2", 100)
    assert s.phase is Phase.PROGRESSING
    assert s.message.startswith("an emergency rollback is restoring stable 1, and version 2 "
                                "keeps the traffic until it serves")
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert d.status.phase is Phase.HEALTHY and d.traffic == TrafficSplit("1", None, 0)


def test_the_emergency_rollback_entry_names_the_version_rolled_back_and_the_one_restored(
        ) -> None:
    sim = _promoted()
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    entry = d.status.history[-1]
    assert (entry.action, entry.version, entry.reason) == (
        "EmergencyRollback", "2", "stable 2 replaced by previous stable 1 at once")
    assert entry.actor == "annotation uplift.dev/emergency-rollback=now"
    assert (canary.rolled_back_by(entry), canary.restored_by(entry)) == ("2", "1")
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(1)
    restored = d.status.history[-1]
    assert (restored.action, restored.version) == ("StableRestored", "1")


def test_scale_down_after_an_emergency_rollback_counts_from_it_not_from_an_older_rollback(
        ) -> None:
    """Version 2 rolled back by a gate, retried and promoted, then rolled back in an
    emergency: it stays at weight 0 for scaleDownDelay from that rollback's ``StableRestored``
    (the same pass here: 1 serves already). Its entry once named the restored version, and the
    delay was counted from 2's gate rollback, long past: 2 left at once."""
    spec = make_spec(steps=((10, "5m"),))
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = with_canary(spec)
    sim.tick(1, verdicts={"latency": F, "shadow": F})
    assert sim.status.aborted_version == "2"
    sim.request(ramp.RETRY_ANNOTATION, "1")
    sim.tick(1)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(30)
    assert sim.status.stable_version == "2"
    sim.ready_versions = frozenset({"1", "2"})  # 1 still deployed (e.g. just restored)
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "now")
    d = sim.tick(1)
    assert [e.reason for e in d.events][-1] is Reason.STABLE_RESTORED
    assert d.traffic == TrafficSplit("1", "2", 0)
    assert d.requeue_after == dt.timedelta(minutes=10)
    assert sim.tick(9).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(1).traffic == TrafficSplit("1", None, 0)


# -- a status written by an operator before emergencyRolledBackVersion ---------------------------

def _legacy_restoring() -> UpliftModelStatus:
    """As an older operator wrote it after an emergency rollback of stable 2, before 1 served:
    the replaced version in abortedVersion, the entry naming the restored one."""
    at = T0.isoformat()
    return UpliftModelStatus.model_validate({
        "phase": "Degraded", "stableVersion": "1", "desiredVersion": "2", "abortedVersion": "2",
        "handledRequests": {"uplift.dev/emergency-rollback": "now"},
        "history": [
            {"time": at, "action": "Promoted", "version": "1", "reason": "first version"},
            {"time": at, "action": "Promoted", "version": "2", "reason": "promoted by hand"},
            {"time": at, "action": "EmergencyRollback", "version": "1", "weight": 0,
             "reason": "stable 2 replaced by previous stable 1 at once",
             "actor": "annotation uplift.dev/emergency-rollback=now"}]})


def test_a_legacy_status_mid_restore_is_read_as_the_emergency_rollback_it_was() -> None:
    spec = make_spec()
    spec = spec.model_copy(update={"rollback": spec.rollback.model_copy(
        update={"scale_down_delay": "10m"})})
    sim = Sim(spec, _legacy_restoring())
    sim.now = T0 + dt.timedelta(minutes=1)
    sim.desired = "2"
    sim.ready_versions = frozenset({"2"})
    d = sim.tick()
    s = d.status
    assert (s.aborted_version, s.emergency_rolled_back_version) == (None, "2")
    assert d.traffic == TrafficSplit("1", "2", 100) and d.events == ()
    assert s.message.startswith("version 2 was rolled back (stable 2 replaced by previous "
                                "stable 1 at once); an emergency rollback is restoring stable 1")
    assert s.history[-1].version == "1"  # old entries are kept as they were written
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(1)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    # scaleDownDelay from the StableRestored that follows the legacy entry (T0 + 2m)
    assert d.traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(8).traffic == TrafficSplit("1", "2", 0)
    assert sim.tick(2).traffic == TrafficSplit("1", None, 0)
    sim.desired = "3"
    d = sim.tick(1)
    assert d.status.canary_version == "3" and d.status.emergency_rolled_back_version is None


def test_a_legacy_status_of_a_canary_rollback_is_read_as_it_is() -> None:
    sim = with_canary()
    d = sim.tick(1, verdicts={"latency": F, "shadow": F})
    assert d.status.aborted_version == "2"
    assert canary.read_legacy_emergency(d.status) is d.status
    # An ignored emergency rollback (recorded as one by older operators) is no rollback.
    ignored = DecisionRecord.model_validate({
        "time": sim.now, "action": "EmergencyRollback", "version": None,
        "reason": "ignored: no canary and no previous stable version to roll back to"})
    status = d.status.model_copy(update={"history": [*d.status.history, ignored]})
    assert canary.read_legacy_emergency(status) is status


def test_rolled_back_by_reads_both_forms_of_the_emergency_entry() -> None:
    def entry(version: str | None, reason: str, action: str = "EmergencyRollback"
              ) -> DecisionRecord:
        return DecisionRecord.model_validate({"time": T0, "action": action,
                                              "version": version, "reason": reason})

    both = "stable 12 replaced by previous stable 7 at once"
    assert canary.rolled_back_by(entry("12", both)) == "12"  # this operator
    assert canary.rolled_back_by(entry("7", both)) == "12"  # operators before
    assert canary.restored_by(entry("12", both)) == "7"
    assert canary.restored_by(entry("7", both)) == "7"
    assert canary.rolled_back_by(entry("3", "emergency rollback requested")) == "3"
    assert canary.restored_by(entry("3", "emergency rollback requested")) is None
    assert canary.rolled_back_by(entry("3", "gate lat Fail: …", "RolledBack")) == "3"
    assert canary.rolled_back_by(entry("3", "canary 3 at step 1/3 (10%)", "StepAdvanced")) is None
    assert canary.rolled_back_by(entry(None, "ignored: no canary to abort")) is None
