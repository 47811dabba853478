"""``uplift_operator_spec_stuck``: what UpliftSpecNotTakingEffect tickets, from statuses the real
passes write. Before, the alert read ``uplift_operator_resource_phase{phase="Degraded"}``, which
a rollback that worked leaves for as long as the spec names what was rolled back (an
alias-following model until someone moves the alias), and which a Campaign shows while its
model's stable version does not serve (already paged as UpliftModelNotServing): every
rollback became a ticket that never cleared. Now only a condition that holds the spec back
(``domain.stuck``'s problems past their grace) exports a series, under its reason."""

from __future__ import annotations

from typing import Any

from tests.unit.services import test_campaign as campaigns
from tests.unit.services.test_stuck_phase import edit, pinned
from tests.unit.services.test_upliftmodel import Sim, creating, reasons

from uplift_operator.handlers import campaign, observability, upliftmodel

STABLE_DOWN: dict[str, Any] = {
    "stableVersion": "3", "desiredVersion": "3", "phase": "Degraded",
    "message": "stable version 3 does not serve any more: Deployment uplift-v3 CrashLoopBackOff",
    "conditions": [{"type": "Ready", "status": "False", "reason": "WaitingForServing",
                    "message": "stable version 3 does not serve any more: Deployment uplift-v3 "
                               "CrashLoopBackOff",
                    "lastTransitionTime": "2026-12-01T00:00:00Z"}]}


def _stuck(kind: str, name: str) -> dict[str, float]:
    """The resource's spec_stuck series: reason → value."""
    return {s.labels["reason"]: s.value
            for metric in observability.REGISTRY.collect() if metric.name == "uplift_operator_spec_stuck"
            for s in metric.samples
            if (s.labels["kind"], s.labels["namespace"], s.labels["name"]) == (kind, "ns", name)}


def _degraded(kind: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_resource_phase",
        {"kind": kind, "namespace": "ns", "name": name, "phase": "Degraded"})


def _observe_model(sim: Sim, name: str) -> None:
    upliftmodel._observe("ns", name, sim.status, sim.body["spec"])


def _observe_campaign(sim: campaigns.Sim, name: str) -> None:
    campaign._observe("ns", name, sim.status, sim.body["spec"])


def test_a_rolled_back_canary_left_as_it_is_holds_no_spec_back() -> None:
    """The alias still names the rolled-back version a day later: Degraded (Argo CD says so,
    UpliftModelRolledBack told it once), the stable serving, nothing stuck."""
    sim = Sim()
    sim.with_canary()
    creating(sim, {"1": 1, "2": 0})
    sim.tick(30, available=False)
    creating(sim, {"1": 1, "2": 0})
    assert "RolledBack" in reasons(sim.tick(300, available=False))
    sim.seldon()
    sim.tick(5)
    sim.tick(24 * 3600)
    assert sim.status["phase"] == "Degraded"
    assert sim.status["message"].startswith("version 2 was rolled back")
    _observe_model(sim, "rolled")
    assert _degraded("UpliftModel", "rolled") == 1
    assert _stuck("UpliftModel", "rolled") == {}
    observability.forget("UpliftModel", "ns", "rolled")


def test_a_version_typo_past_the_grace_is_stuck_under_its_reason_until_fixed() -> None:
    sim = pinned("1")
    sim.tick()
    sim.tick(1)
    edit(sim, lambda s: s["model"].update(version="9"))
    sim.tick(60)
    _observe_model(sim, "typo")
    assert _stuck("UpliftModel", "typo") == {}  # within the grace: not Degraded yet
    sim.tick(300)
    assert sim.status["phase"] == "Degraded"
    _observe_model(sim, "typo")
    assert _stuck("UpliftModel", "typo") == {"ModelNotFound": 1}
    edit(sim, lambda s: s["model"].update(version="1"))
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    _observe_model(sim, "typo")
    assert _stuck("UpliftModel", "typo") == {}
    observability.forget("UpliftModel", "ns", "typo")


def test_only_the_current_reasons_series_is_exported_and_none_after_forget() -> None:
    def status(reason: str) -> dict[str, Any]:
        return {"phase": "Degraded", "message": "ModelResolved False ...", "conditions": [
            {"type": "ModelResolved", "status": "False", "reason": reason},
            {"type": "Ready", "status": "False", "reason": "NoVersion"}]}

    observability.observe_status("UpliftModel", "ns", "moved", status("ModelNotFound"))
    assert _stuck("UpliftModel", "moved") == {"ModelNotFound": 1}
    observability.observe_status("UpliftModel", "ns", "moved", status("VersionFailed"))
    assert _stuck("UpliftModel", "moved") == {"VersionFailed": 1}
    # An outage that clears by itself is no problem (domain.stuck never makes it Degraded).
    observability.observe_status("UpliftModel", "ns", "moved", status("RegistryUnavailable"))
    assert _stuck("UpliftModel", "moved") == {}
    observability.observe_status("UpliftModel", "ns", "moved", status("CredentialsUnreadable"))
    # A Campaign of the same name has its own series (ModelResolved is none of its problems).
    observability.observe_status("Campaign", "ns", "moved", status("ModelNotFound"))
    assert _stuck("Campaign", "moved") == {}
    observability.forget("UpliftModel", "ns", "moved")
    observability.forget("Campaign", "ns", "moved")
    assert _stuck("UpliftModel", "moved") == {}
    assert observability._STUCK_SERIES.get(("UpliftModel", "ns", "moved")) is None


def test_a_paused_ramp_with_a_problem_is_not_stuck() -> None:
    """Paused waits for a human's decision, which domain.stuck leaves as it is."""
    observability.observe_status("UpliftModel", "ns", "paused", {
        "phase": "Paused", "message": "paused", "conditions": [
            {"type": "ModelResolved", "status": "False", "reason": "ModelNotFound"}]})
    assert _stuck("UpliftModel", "paused") == {}
    observability.forget("UpliftModel", "ns", "paused")


def test_a_campaigns_model_ref_typo_past_the_grace_is_stuck() -> None:
    sim = campaigns.Sim()
    sim.set_model(None, present=False)
    sim.tick()
    _observe_campaign(sim, "typo")
    assert _stuck("Campaign", "typo") == {}
    sim.tick(5)
    assert sim.status["phase"] == "Degraded"
    _observe_campaign(sim, "typo")
    assert _stuck("Campaign", "typo") == {"ModelNotFound": 1}
    assert _stuck("UpliftModel", "typo") == {}
    sim.set_model(campaigns.SERVING)
    sim.tick(1)
    _observe_campaign(sim, "typo")
    assert _stuck("Campaign", "typo") == {}
    sim.set_model(None, present=False)  # the model deleted: its grace again, then stuck
    sim.tick(1)
    _observe_campaign(sim, "typo")
    assert _stuck("Campaign", "typo") == {}
    sim.tick(5)
    _observe_campaign(sim, "typo")
    assert _stuck("Campaign", "typo") == {"ModelNotFound": 1}
    observability.forget("Campaign", "ns", "typo")
    assert _stuck("Campaign", "typo") == {}


def test_a_campaign_degraded_because_its_models_stable_does_not_serve_is_not_stuck() -> None:
    """Its model pages (UpliftModelNotServing); the Campaign's spec holds nothing back."""
    sim = campaigns.Sim()
    sim.set_model(STABLE_DOWN)
    sim.tick()
    sim.tick(60)
    assert sim.status["phase"] == "Degraded"
    assert sim.condition("ModelServing")["reason"] == "ModelNotServing"
    _observe_campaign(sim, "orphan")
    assert _degraded("Campaign", "orphan") == 1
    assert _stuck("Campaign", "orphan") == {}
    observability.forget("Campaign", "ns", "orphan")
