"""The Campaign pass reads its roi gates bound to the economics they read
(``exposure.with_economics``), so the settingsDigest it writes covers them and an edit of the
costs starts the roi gate afresh (tests/unit/domain/test_roi_economics.py)."""

from __future__ import annotations

from tests.unit.services.test_campaign import Sim, reasons

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.domain import exposure, gates


def _digests(sim: Sim) -> dict[str, str | None]:
    return {g["name"]: g.get("settingsDigest") for g in sim.status["gates"]}


def _expected(sim: Sim, name: str) -> str:
    spec = exposure.with_economics(CampaignSpec.model_validate(sim.body["spec"]))
    return gates.settings_digest(next(g for g in spec.exposure.gates if g.name == name))


def test_the_roi_gates_digest_covers_the_economics_and_moves_with_them() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(5)  # the first analysis
    first = _digests(sim)
    unbound = next(g for g in CampaignSpec.model_validate(sim.body["spec"]).exposure.gates
                   if g.name == "roi")
    assert first["roi"] == _expected(sim, "roi") != gates.settings_digest(unbound)
    sim.edit_spec(economics={**sim.body["spec"]["economics"], "costPerTreatment": 4.5})
    # The sample targets costAware: the cost decides whom it treats, so the step starts over
    # on the decisions made from the edit (exposure.follow_targeting), its conversion gates
    # measured afresh at its first analysis.
    assert "StepRestarted" in reasons(sim.tick(5))
    assert "roi" not in _digests(sim) and "incremental" not in _digests(sim)
    sim.tick(5)
    second = _digests(sim)
    assert second["roi"] == _expected(sim, "roi") != first["roi"]
    # The sample targets costAware: the cost decides whom it treats, which the incremental
    # gate judges (tests/unit/services/test_campaign_targeting_evidence.py); the gates that
    # judge no conversions read no economics.
    assert second["incremental"] == _expected(sim, "incremental") != first["incremental"]
    assert [second[name] for name in ("delivery", "drift", "budget")] == [
        first[name] for name in ("delivery", "drift", "budget")]
