"""The Campaign pass binds the targeting into its conversion gates' settingsDigest
(``exposure.with_economics``): an edit of whom the runtime treats starts the step over
(``exposure.follow_targeting``) with incrementalConversions and roi afresh, the other gates keep
theirs, and a status an operator wrote before the binding
keeps its evidence (``exposure.rebound``). The domain's tables:
tests/unit/domain/test_targeting_evidence.py (review-campaign finding 5)."""

from __future__ import annotations

from tests.unit.services.test_campaign import Sim, reasons

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.domain import exposure, gates


def _digests(sim: Sim) -> dict[str, str | None]:
    return {g["name"]: g.get("settingsDigest") for g in sim.status["gates"]}


def _bound(sim: Sim, name: str) -> CampaignGate:
    spec = exposure.with_economics(CampaignSpec.model_validate(sim.body["spec"]))
    return next(g for g in spec.exposure.gates if g.name == name)


def test_a_targeting_edit_moves_the_conversion_gates_digests_only() -> None:
    sim = Sim(targeting={"policy": "topFraction", "topFraction": 0.05})
    sim.tick()
    sim.tick(5)  # the first analysis
    first = _digests(sim)
    digest = sim.status["targetingDigest"]
    sim.edit_spec(targeting={"policy": "topFraction", "topFraction": 1.0,
                             "maxTreatmentsPerUnit": 5})
    edited = sim.tick(5)
    # The step starts over on the decisions made from the edit (exposure.follow_targeting):
    # the conversion gates measured afresh, the others kept.
    assert "StepRestarted" in reasons(edited)
    assert sim.status["targetingSince"] == sim.status["stepStartedAt"]
    assert sim.status["targetingDigest"] != digest
    restarted = _digests(sim)
    assert "incremental" not in restarted and "roi" not in restarted
    assert [restarted[name] for name in ("delivery", "drift", "budget")] == [
        first[name] for name in ("delivery", "drift", "budget")]
    sim.tick(5)  # the step's first analysis on the new targeting
    second = _digests(sim)
    for name in ("incremental", "roi"):
        assert second[name] == gates.settings_digest(_bound(sim, name)) != first[name]
    assert [second[name] for name in ("delivery", "drift", "budget")] == [
        first[name] for name in ("delivery", "drift", "budget")]


def test_a_roi_digest_written_before_targeting_was_bound_keeps_its_evidence() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(5)
    roi = _bound(sim, "roi")
    spec = CampaignSpec.model_validate(sim.body["spec"])
    older = gates.settings_digest(gates.with_outside_settings(
        roi, exposure.roi_economics(spec, next(g for g in spec.exposure.gates
                                               if g.name == "roi"))))
    stored = next(g for g in sim.body["status"]["gates"] if g["name"] == "roi")
    stored.update(settingsDigest=older, inconclusives=2)
    sim.tick(1)  # no analysis due: nothing to write, the old form taken as it is
    kept = next(g for g in sim.status["gates"] if g["name"] == "roi")
    assert (kept["settingsDigest"], kept["inconclusives"]) == (older, 2)
    sim.tick(5)  # its next analysis goes on from its counters and evidence, in the new form
    kept = next(g for g in sim.status["gates"] if g["name"] == "roi")
    assert kept["settingsDigest"] == gates.settings_digest(roi)
    # Its counters kept (this look holds for the first cohort, counted nowhere): no restart.
    assert kept["inconclusives"] == 2
