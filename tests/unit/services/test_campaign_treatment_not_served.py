"""A Campaign naming a treatment that the version its UpliftModel serves does not score.

The runtime binds each Campaign entry to the model it loaded and rejects one naming a treatment
that model lacks, keeping its last good settings of the Campaign (or not serving it at all).
The model's own validation checks its spec's treatments against the version its spec resolves
to (``desiredVersion``), not against the stable version that serves — an older one while a
canary of a version adding the treatment runs, after that canary is rolled back, or while the
model's spec is refused; the Campaign's validation checks against the model's spec. So the
Campaign pass reads what the served version scores (its ``uplift.treatments`` tag, through the
models' shared resolver) unless the model's pass validated against it, and says it: Ready
``False``/``TreatmentNotServed`` naming the treatment and what the version scores, a Warning
event once, no exposure growth (no start, no advance, no promote), and nothing that already
serves withdrawn."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tests.unit.services.fakes import FakeRegistry, FakeVersion
from tests.unit.services.test_campaign import MODEL, SERVING, Sim, reasons

from uplift_operator.adapters.mlflow_registry import Credentials
from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import exposure
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.services import upliftmodel
from uplift_operator.services.ports import Registry

BOTH = {"mens_e_mail": "mens-e-mail", "womens_e_mail": "womens-e-mail"}
WOMENS_ONLY = {"womens_e_mail": "womens-e-mail"}


class TreatmentSim(Sim):
    """The sample Campaign (treatments mens-e-mail and womens-e-mail; no drift gate) and its
    model (the same two in its spec) in a fake MLflow whose versions score what ``versions``
    says (None: no treatments tag)."""

    def __init__(self, versions: dict[str, dict[str, str] | None], stable: str,
                 desired: str | None = None) -> None:
        super().__init__()
        self.body["metadata"]["name"] = "spring-email"
        exposure_spec = self.body["spec"]["exposure"]  # no drift gate: no reference to read
        exposure_spec["gates"] = [g for g in exposure_spec["gates"] if g["type"] != "drift"]
        self.registry = FakeRegistry()
        for version, scored in versions.items():
            tags = {"uplift.treatments": json.dumps(scored)} if scored is not None else {}
            self.registry.versions[(MODEL, version)] = FakeVersion(
                MODEL, version, run_id=f"run-{version}", tags=tags)
        models = upliftmodel.Dependencies(
            cluster=self.cluster, backend=SeldonV1Backend(), registry_for=self._registry_for,
            prometheus=None, metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:test",
            default_tracking_uri="http://mlflow.test")
        self.deps = replace(self.deps, models=models)
        self.serve(stable, desired)

    def _registry_for(self, ref: ModelReference, credentials: Credentials | None) -> Registry:
        return self.registry

    def serve(self, stable: str, desired: str | None = None, ready: str = "StableServing") -> None:
        """The model serves ``stable``; its spec resolves to ``desired`` (a canary of it
        underway; None: ``stable``, the model at rest)."""
        self.set_model({**SERVING, "stableVersion": stable, "desiredVersion": desired or stable,
                        "conditions": [{**SERVING["conditions"][0], "reason": ready}]})

    def ready(self) -> tuple[str, str, str]:
        ready = self.condition("Ready")
        return ready["status"], ready["reason"], ready["message"]

    def treating(self) -> bool:
        return exposure.treating(CampaignStatus.model_validate(self.status))


MISSING = ("UpliftModel 'hillstrom-uplift' serves version {version}, which does not score "
           "treatment 'mens-e-mail' (spec.treatments[1]); version {version} scores: "
           "womens-e-mail (womens_e_mail)")


def test_a_campaign_whose_treatment_the_served_version_lacks_waits_at_zero_and_says_so() -> None:
    # Version 4 adds mens-e-mail: the model's spec names it, a canary of 4 runs, 3 serves.
    sim = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3", desired="4")
    first = sim.tick()
    s = sim.status
    assert (s["exposurePercent"], s.get("currentStep"), s["phase"]) == (0, None, "Progressing")
    status, reason, message = sim.ready()
    assert (status, reason) == ("False", "TreatmentNotServed")
    assert MISSING.format(version="3") in message and message.startswith("exposure 0%: ")
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "TreatmentNotServed")]
    assert MISSING.format(version="3") in first.events[0].message
    assert sim.condition("ModelServing")["status"] == "True"  # the model does serve
    assert not sim.treating()
    assert sim.tick(5).events == ()  # said once
    # A retry or a promote starts nothing.
    sim.annotate("uplift.dev/retry", "r1")
    sim.annotate("uplift.dev/promote", "full:p1")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    # The model promotes version 4, which scores both: the ramp starts.
    sim.serve("4")
    result = sim.tick(1)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    assert "ExposureStarted" in reasons(result)
    assert sim.ready()[:2] == ("True", "Exposing")


def test_an_exposing_campaign_holds_its_exposure_and_never_grows_it() -> None:
    sim = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3")
    treatments: list[dict[str, Any]] = sim.body["spec"]["treatments"]
    sim.body["spec"]["treatments"] = [t for t in treatments if t["name"] == "womens-e-mail"]
    sim.tick()
    assert (sim.status["exposurePercent"], sim.ready()[1]) == (5, "Exposing")
    digest, started = sim.status["targetingDigest"], sim.status["stepStartedAt"]
    # A canary of version 4 (adding mens-e-mail) starts, and the Campaign names it at once.
    sim.serve("3", desired="4")
    sim.edit_spec(treatments=treatments)
    result = sim.tick(1)
    s = sim.status
    # Held: not withdrawn (what serves stays in the campaigns file), not restarted. The runtime
    # keeps deciding on the treatments it had, so the step is not started over on the edit
    # (exposure.follow_targeting): the digest of what it runs stays until the runtime takes it.
    assert (s["exposurePercent"], s["currentStep"], s["phase"]) == (5, 0, "Progressing")
    assert (s["targetingDigest"], s["stepStartedAt"]) == (digest, started)
    assert "targetingSince" not in s
    assert sim.treating()
    status, reason, message = sim.ready()
    assert (status, reason) == ("False", "TreatmentNotServed")
    assert MISSING.format(version="3") in message
    assert reasons(result) == ["TreatmentNotServed"]
    # A promote by hand is refused, saying why; the pause elapsing grows nothing either.
    sim.annotate("uplift.dev/promote", "step:p1")
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 5
    (ignored,) = [e for e in result.events if e.reason == "ManualPromote"]
    assert ignored.type == "Warning" and MISSING.format(version="3") in ignored.message
    for _ in range(30):
        sim.tick(5)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    assert sim.ready()[1] == "TreatmentNotServed" and sim.treating()
    assert (sim.status["targetingDigest"], sim.status["stepStartedAt"]) == (digest, started)
    # The canary is promoted: version 4 serves both, the ramp goes on from where it was.
    sim.serve("4")
    sim.tick(1)
    assert sim.ready()[:2] == ("True", "Exposing")
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    # The runtime takes the edit with version 4, which starts the step over: the digest now
    # records the treatments it decides on.
    assert sim.status["targetingDigest"] != digest
    assert sim.status["stepStartedAt"] != started


def test_an_edit_dropped_while_held_restarts_nothing() -> None:
    sim = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3")
    treatments: list[dict[str, Any]] = sim.body["spec"]["treatments"]
    womens = [t for t in treatments if t["name"] == "womens-e-mail"]
    sim.body["spec"]["treatments"] = womens
    sim.tick()
    digest, started = sim.status["targetingDigest"], sim.status["stepStartedAt"]
    sim.serve("3", desired="4")
    sim.edit_spec(treatments=treatments)
    sim.tick(1)
    assert sim.ready()[1] == "TreatmentNotServed"
    # The spec drops mens-e-mail again: the runtime never decided on it, nothing starts over.
    sim.edit_spec(treatments=womens)
    result = sim.tick(1)
    assert sim.ready()[:2] == ("True", "Exposing")
    assert "StepRestarted" not in reasons(result)
    assert (sim.status["targetingDigest"], sim.status["stepStartedAt"]) == (digest, started)


def test_a_model_whose_spec_is_refused_is_no_proof_the_served_version_scores_it() -> None:
    # The model's spec names mens-e-mail, which the version it resolves to (3, also the one
    # that serves) lacks: the model is InvalidSpec, its stable version serving on. A Campaign
    # already exposing holds through it, held here too, since version 3 cannot serve it.
    sim = TreatmentSim({"3": WOMENS_ONLY}, stable="3")
    treatments: list[dict[str, Any]] = sim.body["spec"]["treatments"]
    sim.body["spec"]["treatments"] = [t for t in treatments if t["name"] == "womens-e-mail"]
    sim.tick()
    assert sim.registry.calls == 0  # a model at rest: its own pass checked its version
    sim.serve("3", ready="InvalidSpec")
    sim.edit_spec(treatments=treatments)
    sim.tick(1)
    assert sim.status["exposurePercent"] == 5 and sim.ready()[1] == "TreatmentNotServed"


def test_the_edit_that_drops_the_treatment_lets_the_ramp_go_on() -> None:
    sim = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3", desired="4")
    sim.tick()
    assert sim.status["exposurePercent"] == 0
    treatments: list[dict[str, Any]] = sim.body["spec"]["treatments"]
    sim.edit_spec(treatments=[t for t in treatments if t["name"] == "womens-e-mail"])
    result = sim.tick(1)
    assert sim.status["exposurePercent"] == 5 and sim.ready()[:2] == ("True", "Exposing")
    assert reasons(result) == ["ExposureStarted"]


def test_what_the_served_version_scores_unknown_changes_nothing() -> None:
    # No treatments tag, or MLflow out of reach: nothing known to be missing, nothing held.
    sim = TreatmentSim({"3": None, "4": BOTH}, stable="3", desired="4")
    sim.tick()
    assert (sim.status["exposurePercent"], sim.ready()[1]) == (5, "Exposing")
    down = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3", desired="4")
    down.registry.down = True
    down.tick()
    assert (down.status["exposurePercent"], down.ready()[1]) == (5, "Exposing")


def test_a_held_campaign_stays_held_while_mlflow_is_out_of_reach() -> None:
    """Before: an operator restarted during an MLflow outage (the resolver's cache cold) found
    nothing known to be missing and started the ramp, then held it again once MLflow answered:
    Ready flapped and the Warning was sent again."""
    sim = TreatmentSim({"3": WOMENS_ONLY, "4": BOTH}, stable="3", desired="4")
    sim.tick()
    assert sim.ready()[1] == "TreatmentNotServed" and sim.status["exposurePercent"] == 0
    assert sim.deps.models is not None
    restarted = upliftmodel.Dependencies(
        cluster=sim.cluster, backend=SeldonV1Backend(), registry_for=sim._registry_for,
        prometheus=None, metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:test",
        default_tracking_uri="http://mlflow.test")
    assert restarted.resolver is not sim.deps.models.resolver  # nothing cached
    sim.deps = replace(sim.deps, models=restarted)
    sim.registry.down = True
    for _ in range(3):
        result = sim.tick(1)
        assert sim.status["exposurePercent"] == 0 and not sim.treating()
        status, reason, message = sim.ready()
        assert (status, reason) == ("False", "TreatmentNotServed")
        assert "cannot be read now" in message and "held until it can" in message
        assert reasons(result) == []  # the Warning was said once, before
    sim.registry.down = False
    sim.tick(1)
    assert sim.ready()[1] == "TreatmentNotServed"
    assert MISSING.format(version="3") in sim.ready()[2]
    # Held on another version than the one now served: what is not known holds nothing.
    sim.registry.down = True
    sim.serve("5", desired="4")
    sim.tick(1)
    assert sim.ready()[1] == "Exposing" and sim.status["exposurePercent"] == 5
