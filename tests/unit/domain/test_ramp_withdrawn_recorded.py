"""A canary the spec withdrew (``spec points back at stable N: canary M removed``) is no
rollback: the status keeps no abortedVersion, and the same version in the spec again starts a
canary. A status-less pass reading the registry's tags does the same: a release before tagged
such a version ``rolled-back`` with that reason, and the pass held it Degraded as a rollback
(this release tags it ``retired``, which ``services.upliftmodel._recorded_roles`` reads as a
canary)."""

from __future__ import annotations

from tests.unit.domain.test_ramp import T0, make_spec

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import canary, ramp
from uplift_operator.domain.ramp import Observed, Reason


def _pass(role: str, reason: str) -> ramp.Decision:
    observed = Observed(desired_version="2", stable_ready=True, ready_versions=frozenset({"1"}),
                        generation=1, recorded=ramp.RecordedRoles(desired_role=role, stable="1",
                                                                  reason=reason))
    return ramp.decide(make_spec(), UpliftModelStatus(), observed, T0)


def test_a_version_tagged_rolled_back_by_the_specs_withdrawal_ramps_again() -> None:
    d = _pass("rolled-back", "spec points back at stable 1: canary 2 removed")
    s = d.status
    assert (s.stable_version, s.canary_version, s.aborted_version) == ("1", "2", None)
    assert s.phase is Phase.PROGRESSING
    assert [e.reason for e in d.events] == [Reason.PROMOTED, Reason.CANARY_STARTED]
    assert "the registry tags version 2 rolled-back" in d.events[-1].message


def test_a_version_a_gate_rolled_back_is_still_held() -> None:
    d = _pass("rolled-back", "gate latency Fail: …")
    assert (d.status.canary_version, d.status.aborted_version) == (None, "2")
    assert d.status.phase is Phase.DEGRADED


def test_the_withdrawal_is_retired_in_the_history_the_registry_is_replayed_from() -> None:
    status = UpliftModelStatus.model_validate({
        "stableVersion": "1", "history": [
            {"time": T0.isoformat(), "action": "CanaryStarted", "version": "2"},
            {"time": T0.isoformat(), "action": "RolledBack", "version": "2", "actor": "spec",
             "reason": "spec points back at stable 1: canary 2 removed"}]})
    [(version, (role, _))] = canary.removed_canaries(status).items()
    assert (version, role) == ("2", "retired")
