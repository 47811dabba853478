"""A spec that has not taken effect for longer than the grace is Degraded (GitOps review #3:
Argo CD's health passes the phase through, and a version typo, an apply a policy refused, a
failed graph or an unwritten campaigns file showed Healthy or an endless Progressing), and
nothing but the phase and its message changes: each scenario runs twice, once with the grace
out of reach, and every status (phase and message aside), event, applied graph, MLflow write
and campaigns-file entry must be the same in both; after recovery the phases are the same too.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from tests.unit.services import test_campaign as campaigns
from tests.unit.services.test_upliftmodel import NAME, REGISTERED, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import exposure, stuck
from uplift_operator.render.seldon import deployment_names
from uplift_operator.services.common import PassResult

REFUSED = "seldondeployments.machinelearning.seldon.io is forbidden"
CRASH = "Deployment uplift-v2: ProgressDeadlineExceeded (CrashLoopBackOff)"
UNWRITTEN = "the campaigns file of UpliftModel 'hillstrom-uplift' cannot be written (403)"


def edit(sim: Sim, change: Callable[[dict[str, Any]], object]) -> None:
    change(sim.body["spec"])
    sim.body["metadata"]["generation"] += 1


def pinned(version: str) -> Sim:
    sim = Sim()
    sim.deps.new_decision_key = lambda: "k" * 64  # the same Secret in both runs
    sim.body["spec"]["model"] = {"registeredModel": REGISTERED, "version": version}
    return sim


def failed(sim: Sim, *, stable: int = 1, canary: int = 0) -> None:
    """Seldon reports the graph Failed: the canary's predictor (if any) has ``canary``
    available replicas, the stable's ``stable``."""
    child = sim.cluster.objects[SELDON]
    predictors = child["spec"]["predictors"]
    child["status"] = {"state": "Failed", "description": CRASH, "deploymentStatus": {
        deployment_names(NAME, p)[0]: {"replicas": 1, "availableReplicas": stable if i == 0
                                       else canary} for i, p in enumerate(predictors)}}


# Each scenario: its sim, the ticks up to just past the grace, and the recovery ticks. It
# returns the sim and the index of the pass just before the grace ends (Degraded from the next).

def version_typo_while_the_stable_serves() -> tuple[Sim, int]:
    sim = pinned("1")
    sim.tick()
    sim.tick(1)
    edit(sim, lambda s: s["model"].update(version="9"))
    sim.tick(60)  # ModelResolved False from here
    sim.tick(299)
    sim.tick(1)
    edit(sim, lambda s: s["model"].update(version="1"))
    sim.tick(1)
    return sim, 3


def first_version_typo() -> tuple[Sim, int]:
    sim = pinned("9")
    sim.tick()
    sim.tick(299)
    sim.tick(1)
    sim.registry.add(REGISTERED, "9")  # registered late: it resolves, and serves
    sim.tick(10)
    sim.tick(1)
    return sim, 1


def canary_apply_refused() -> tuple[Sim, int]:
    sim = pinned("1")
    sim.tick()
    sim.tick(1)
    edit(sim, lambda s: s["model"].update(version="2"))
    sim.cluster.apply_error = KubeError(REFUSED, 403)
    sim.tick(60)  # ServingApplied False from here
    for _ in range(4):
        sim.tick(60)
    sim.tick(59)
    sim.tick(1)
    sim.cluster.apply_error = None
    sim.tick(5)
    sim.tick(1)
    return sim, 7


def rerender_apply_refused() -> tuple[Sim, int]:
    sim = pinned("1")
    sim.tick()
    sim.tick(1)
    edit(sim, lambda s: s.setdefault("serving", {}).update(replicas=3))
    sim.cluster.apply_error = KubeError('admission webhook "vseldondeployment" denied it', 400)
    sim.tick(30)
    sim.tick(299)
    sim.tick(1)
    sim.cluster.apply_error = None
    sim.tick(5)
    return sim, 3


def canary_graph_failed() -> tuple[Sim, int]:
    sim = pinned("1")
    sim.tick()
    sim.tick(1)
    edit(sim, lambda s: s["model"].update(version="2"))
    sim.tick(30)
    sim.tick(1)  # the canary serves at its first step
    # A roll of the canary's Deployment whose new pods crash while its old one serves: Failed.
    # (A canary with traffic whose pods are all down is rolled back at the same grace, a
    # decision: test_upliftmodel's test_a_canary_with_traffic_whose_pods_are_down_*.)
    failed(sim, canary=1)
    sim.tick(30, available=False)  # ServingFailed True from here
    failed(sim, canary=1)
    sim.tick(299, available=False)
    failed(sim, canary=1)
    sim.tick(1, available=False)
    sim.seldon()
    sim.tick(5)
    return sim, 5


def first_version_graph_failed() -> tuple[Sim, int]:
    sim = pinned("1")
    sim.tick(available=False)
    failed(sim, stable=0)
    sim.tick(1, available=False)  # ServingFailed True from here
    failed(sim, stable=0)
    sim.tick(299, available=False)
    failed(sim, stable=0)
    sim.tick(1, available=False)
    sim.seldon()
    sim.tick(5)
    return sim, 2


SCENARIOS = {
    "version-typo-while-the-stable-serves": (version_typo_while_the_stable_serves,
                                              "ModelResolved False (ModelNotFound)",
                                              "version 1 serves all traffic"),
    "first-version-typo": (first_version_typo, "ModelResolved False (ModelNotFound)",
                           "waiting for the model reference to resolve to a version"),
    "canary-apply-refused": (canary_apply_refused, f"ServingApplied False (ApplyFailed) since "
                             f"2026-12-01T12:01:01+00:00: {REFUSED}", "canary 2"),
    "rerender-apply-refused": (rerender_apply_refused, "ServingApplied False (ApplyFailed)",
                               "version 1 serves all traffic"),
    "canary-graph-failed": (canary_graph_failed, "ServingFailed True (ServingBackendFailed)",
                            "canary 2 at step 1/"),
    "first-version-graph-failed": (first_version_graph_failed,
                                   "ServingFailed True (ServingBackendFailed)",
                                   "waiting for stable version 1 to serve"),
}


def twice(monkeypatch: pytest.MonkeyPatch,
          scenario: Callable[[], tuple[Sim, int]]) -> tuple[Sim, Sim, int]:
    """The scenario as the operator runs it, and with the grace out of reach (no Degraded)."""
    ours, before_grace = scenario()
    with monkeypatch.context() as patched:
        patched.setattr(stuck, "DEFAULT_GRACE", dt.timedelta(days=3650))
        without, _ = scenario()
    return ours, without, before_grace


def decisions(result: PassResult) -> dict[str, Any]:
    """A pass's status but what is published (phase, message)."""
    return {k: v for k, v in result.status.items() if k not in ("phase", "message")}


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_model_problem_past_the_grace_is_degraded_and_changes_no_decision(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    scenario, says, serves = SCENARIOS[name]
    sim, without, before_grace = twice(monkeypatch, scenario)
    phases = [r.status["phase"] for r in sim.results]
    assert phases[before_grace] != "Degraded"
    degraded = sim.results[before_grace + 1].status
    assert degraded["phase"] == "Degraded"
    assert degraded["message"].startswith(says) and serves in degraded["message"]
    # Nothing but the phase and its message: not the status (Ready included, which Campaigns
    # read), the events, the graph applied, MLflow's tags.
    assert [decisions(r) for r in sim.results] == [decisions(r) for r in without.results]
    assert [r.events for r in sim.results] == [r.events for r in without.results]
    assert sim.cluster.applied == without.cluster.applied
    assert sim.cluster.objects[SELDON]["spec"] == without.cluster.objects[SELDON]["spec"]
    assert sim.registry.tags == without.registry.tags
    # A Campaign on the model, exposing or not, sees it serve (or hold) exactly as before.
    for ours, theirs in zip(sim.results, without.results, strict=True):
        for exposing in (True, False):
            seen, seen_without = (exposure.model_observation(
                NAME, UpliftModelStatus.model_validate(r.status), exposing=exposing)
                for r in (ours, theirs))
            assert (seen.serving, seen.stable_version) == (seen_without.serving,
                                                           seen_without.stable_version)
    # Recovered: the phase the ramp implies, at once.
    assert sim.results[-1].status["phase"] != "Degraded"
    assert sim.results[-1].status == without.results[-1].status


def test_a_pass_is_due_when_the_grace_ends() -> None:
    """A failed first graph asks for no pass of its own (its Seldon events do): the grace's end
    does, so the phase turns Degraded then, not at the next resync."""
    sim = pinned("1")
    sim.tick(available=False)
    failed(sim, stable=0)
    first = sim.tick(1, available=False)
    assert first.requeue_after == 300.0
    failed(sim, stable=0)
    assert sim.tick(240, available=False).requeue_after == 60.0


# -- Campaign -------------------------------------------------------------------------------------

def exposing_then_unwritten() -> tuple[campaigns.Sim, int]:
    sim = campaigns.Sim(schedule=None)
    sim.tick()
    sim.tick(6)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.tick(1)  # SettingsDelivered False from here
    sim.tick(4.99)
    sim.tick(0.01)
    sim.tick(2)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: None)
    sim.tick(1)
    return sim, 3


def completed_while_unwritten() -> tuple[campaigns.Sim, int]:
    sim = campaigns.Sim(schedule={"end": "2026-12-01T12:30:00Z"})
    sim.tick()
    sim.tick(6)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.tick(20)  # SettingsDelivered False from here; 12:27
    sim.tick(4.99)  # past the end: completed (the runtime still treats)
    sim.tick(0.01)
    sim.tick(10)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: None)
    sim.tick(1)
    return sim, 3


def suspended_while_unwritten() -> tuple[campaigns.Sim, int]:
    sim = campaigns.Sim(schedule={"start": "2026-12-01T13:00:00Z"})
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.tick()
    sim.tick(4.99)
    sim.tick(0.01)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: None)
    sim.tick(1)
    return sim, 1


CAMPAIGN_SCENARIOS = {
    "exposing": (exposing_then_unwritten, "Progressing"),
    "completed": (completed_while_unwritten, "Completed"),
    "suspended-before-its-start": (suspended_while_unwritten, "Suspended"),
}


def entry(status: dict[str, Any]) -> tuple[bool, float]:
    """What the campaigns file carries of the status: whether it treats, and at what exposure."""
    parsed = CampaignStatus.model_validate(status)
    return exposure.treating(parsed), parsed.exposure_percent


@pytest.mark.parametrize("name", CAMPAIGN_SCENARIOS)
def test_undelivered_campaign_settings_past_the_grace_are_degraded_and_change_no_decision(
        monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    scenario, phase = CAMPAIGN_SCENARIOS[name]
    sim, before_grace = scenario()
    with monkeypatch.context() as patched:
        patched.setattr(stuck, "DEFAULT_GRACE", dt.timedelta(days=3650))
        without, _ = scenario()
    assert sim.results[before_grace].status["phase"] == phase
    degraded = sim.results[before_grace + 1].status
    assert degraded["phase"] == "Degraded"
    assert degraded["message"].startswith("SettingsDelivered False (FileNotWritten) since ")
    assert UNWRITTEN in degraded["message"]
    assert [decisions(r) for r in sim.results] == [decisions(r) for r in without.results]
    assert [r.events for r in sim.results] == [r.events for r in without.results]
    assert [entry(r.status) for r in sim.results] == [entry(r.status) for r in without.results]
    assert sim.results[-1].status == without.results[-1].status
    assert sim.results[-1].status["phase"] == without.results[-1].status["phase"] != "Degraded"


def test_a_completed_campaign_degraded_meanwhile_is_completed_once() -> None:
    sim, _ = completed_while_unwritten()
    completed = [h for h in sim.status["history"] if h["action"] == "CampaignCompleted"]
    assert len(completed) == 1
    assert sum(reason == "CampaignCompleted" for r in sim.results
               for reason in campaigns.reasons(r)) == 1


def test_a_paused_campaign_whose_settings_are_undelivered_stays_paused() -> None:
    """A human's pause is left as it is (Argo CD: Suspended; the ramp reads a previous Paused
    phase for the deadline's resume time); SettingsDelivered still says the file was not
    written."""
    sim = campaigns.Sim(schedule=None)
    sim.tick()
    sim.tick(6)
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.edit_spec(exposure={**copy.deepcopy(sim.body["spec"]["exposure"]), "paused": True})
    sim.tick(1)
    sim.tick(10)
    assert sim.status["phase"] == "Paused"
    assert sim.condition("SettingsDelivered")["status"] == "False"
