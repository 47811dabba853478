"""The Campaign pass when the runtime does not treat at the ramp's exposure: its model's
campaigns file cannot be written (the runtime keeps its previous settings), or its spec was
refused (the file carried it inactive at 0 %). The step is held meanwhile and starts again
after; an operator restart knows nothing of the file until the model's first file pass, so the
Campaign keeps what its status says until then."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from tests.unit.services.test_campaign import T0, Sim, reasons
from tests.unit.services.test_campaigns_file import OWNER

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.services import campaign, campaigns_file

REFUSED = "apply configmaps/hillstrom-uplift-campaigns: 403 configmaps is forbidden"


@pytest.fixture(autouse=True)
def passing_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gate measured passes: only what holds the ramp besides its gates is at stake."""
    def measure(spec: CampaignSpec, status: CampaignStatus, *_: Any,
                **__: Any) -> tuple[list[GateOutcome], None, None]:
        now = _[-1]
        return ([GateOutcome(name=g.name, verdict=GateVerdict.PASS, message="ok", time=now)
                 for g in exposure.gates_to_measure(spec, status)], None, None)
    monkeypatch.setattr(campaign, "_measure", measure)


def _at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _sim() -> Sim:
    sim = Sim(schedule=None)
    sim.body["metadata"]["name"] = "spring-email"
    return sim


def _ramp(sim: Sim) -> tuple[int | None, float, str]:
    s = sim.status
    return s.get("currentStep"), s["exposurePercent"], s["stepStartedAt"]


def test_the_ramp_does_not_advance_while_its_file_cannot_be_written() -> None:
    sim = _sim()
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = dataclasses.replace(sim.deps, undelivered=files.undelivered)
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files)  # before any ramp
    sim.tick()  # step 1 at 5 %: its write is refused
    sim.cluster.apply_error = KubeError(REFUSED, 403)
    assert campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files).error
    for minutes in (1, 60, 5, 6 * 60, 5):  # the step's 1h pause and more, every gate passing
        result = sim.tick(minutes)
        assert _ramp(sim) == (0, 5, _at(0)), reasons(result)
        assert "StepAdvanced" not in reasons(result)
    assert sim.condition("SettingsDelivered")["status"] == "False"
    assert sim.status["phase"] == "Degraded"  # past the 5-minute grace
    assert REFUSED in sim.status["message"] and "waiting (the campaigns file" in sim.status["message"]
    # A promote is refused too: it would grow the exposure in status only.
    sim.annotate("uplift.dev/promote", "step")
    result = sim.tick(1)
    assert _ramp(sim)[:2] == (0, 5)
    assert [(e.reason, e.decision) for e in result.events] == [("ManualPromote", False)]
    # Written again: the step starts over, its pause (1h) from then.
    sim.cluster.apply_error = None
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files)
    back = sim.tick(1)
    started = sim.now
    assert _ramp(sim) == (0, 5, _at((started - T0).total_seconds() / 60))
    assert sim.condition("SettingsDelivered")["status"] == "True"
    assert "StepAdvanced" not in reasons(back)
    sim.tick(5)
    assert _ramp(sim)[:2] == (0, 5)
    sim.tick(56)
    assert _ramp(sim)[:2] == (1, 25)


def test_a_fixed_spec_starts_its_step_again() -> None:
    sim = _sim()
    sim.tick()
    sim.tick(5)  # step 1's gates pass at +5m
    assert _ramp(sim) == (0, 5, _at(0))
    economics = sim.body["spec"]["economics"]
    sim.edit_spec(economics={**economics, "budgetPeriod": "0s"})  # refused
    sim.tick(5)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert _ramp(sim) == (0, 5, _at(0))  # kept, as the ramp resumes at
    sim.edit_spec(economics=economics)  # fixed two days later (progressDeadline 1d)
    fixed = sim.tick(2 * 24 * 60)
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert _ramp(sim) == (0, 5, _at(10 + 2 * 24 * 60))
    assert reasons(fixed) == [] and sim.status["phase"] == "Progressing"
    # Re-run on its own output: the step is not started again.
    sim.tick(0)
    assert _ramp(sim) == (0, 5, _at(10 + 2 * 24 * 60))
    sim.tick(5)
    assert _ramp(sim)[:2] == (0, 5)  # gates pass; the pause (1h) runs from the fix
    sim.tick(56)
    assert _ramp(sim)[:2] == (1, 25)


def test_a_restart_keeps_what_the_status_says_until_the_file_pass_runs() -> None:
    sim = _sim()
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = dataclasses.replace(sim.deps, undelivered=files.undelivered)
    sim.cluster.apply_error = KubeError(REFUSED, 403)
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files)
    sim.tick()
    for _ in range(3):
        sim.tick(3)
    refused = sim.condition("SettingsDelivered")
    assert (refused["status"], sim.status["phase"]) == ("False", "Degraded")
    # The operator restarts: nothing in memory; the Campaign's pass runs first, its gates
    # passing past the step's pause.
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = dataclasses.replace(sim.deps, undelivered=files.undelivered)
    result = sim.tick(60)
    assert sim.condition("SettingsDelivered") == refused  # kept, not "written again"
    assert sim.status["phase"] == "Degraded"
    assert _ramp(sim)[:2] == (0, 5) and "StepAdvanced" not in reasons(result)
    # The model's first file pass: still refused. Nothing changes, and the grace goes on.
    assert not files.first_told(OWNER.namespace, OWNER.name)
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files)
    assert files.first_told(OWNER.namespace, OWNER.name)  # the Campaign is woken
    sim.tick(0.1)
    assert sim.condition("SettingsDelivered") == refused
    assert sim.status["phase"] == "Degraded"
    # Written: True, and the step starts again.
    sim.cluster.apply_error = None
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files)
    sim.tick(1)
    assert sim.condition("SettingsDelivered")["status"] == "True"
    assert _ramp(sim) == (0, 5, sim.now.isoformat().replace("+00:00", "Z"))


def test_a_campaign_whose_model_is_gone_is_not_held_for_its_file() -> None:
    sim = _sim()
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = dataclasses.replace(sim.deps, undelivered=lambda ns, m: REFUSED)
    sim.tick()
    assert sim.condition("SettingsDelivered")["status"] == "False"
    # Restarted with the model deleted (its file and its predictors with it): no file pass
    # will run to say so, and there is nothing left undelivered.
    sim.deps = dataclasses.replace(sim.deps, undelivered=files.undelivered)
    sim.set_model(None, present=False)
    sim.tick(1)
    # Nor delivered: no file carries it, so the condition claims nothing (it is dropped).
    assert all(c["type"] != "SettingsDelivered" for c in sim.status["conditions"])
    assert sim.status["exposurePercent"] == 0
