"""The Campaign pass while its model's nearly full campaigns file has no room for its spec edit
and carries its entry from before the edit (``render.campaigns.Fitted.stale``): the runtime
treats at its exposure on its previous settings, so the ramp is held there — not withdrawn —
as for a file that cannot be written, until room is made; then the step starts over on the
settings edited. A rollback still reaches the replicas; an operator restart does not release
the hold before the model's first file pass."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from tests.unit.services.test_campaign import T0, Sim, reasons
from tests.unit.services.test_campaigns_file import (
    KEY,
    _watched,
    campaign_body,
    file_of,
    sync,
)

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.render import campaigns
from uplift_operator.services import campaign, campaigns_file

HELD = "held at its exposure on its previous settings"


@pytest.fixture(autouse=True)
def passing_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every gate measured passes: only what holds the ramp besides its gates is at stake."""
    def measure(spec: CampaignSpec, status: CampaignStatus, *_: Any,
                **__: Any) -> tuple[list[GateOutcome], None, None]:
        now = _[-1]
        return ([GateOutcome(name=g.name, verdict=GateVerdict.PASS, message="ok", time=now)
                 for g in exposure.gates_to_measure(spec, status)], None, None)
    monkeypatch.setattr(campaign, "_measure", measure)


def _other(name: str, day: int) -> dict[str, Any]:
    body = campaign_body(name, percent=50)
    body["metadata"].update(uid=f"uid-{name}", creationTimestamp=f"2026-11-{day:02d}T08:00:00Z")
    return body


def _at(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _ramp(sim: Sim) -> tuple[int | None, float, str]:
    s = sim.status
    return s.get("currentStep"), s["exposurePercent"], s["stepStartedAt"]


class _Model:
    """a-old (the Campaign under test, its step 1 at 5 % from T0), b-mid and c-new at 50 % in
    a file with room for their exposure to change and a canary's split, and 10 bytes more."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sim = Sim(schedule=None)
        self.sim.body["metadata"].update(name="a-old", uid="uid-a",
                                         creationTimestamp="2026-11-01T08:00:00Z")
        # Its first cohort closes within the hold: the step's deadline (1d) could run.
        self.sim.body["spec"]["experiment"]["attributionWindow"] = "1h"
        self.others = [_other("b-mid", 2), _other("c-new", 3)]
        self.files = campaigns_file.FileDependencies(self.sim.cluster)
        self.use(self.files)
        self.sim.tick()
        entries = campaigns_file.entries([campaigns_file.snapshot(b)
                                          for b in (self.sim.body, *self.others)])
        monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", len(campaigns.text(entries))
                            + 3 * campaigns.GROWTH_BYTES + campaigns.SPLIT_BYTES + 10)
        assert self.sync().left_out == ()
        self.before = self.entry()

    def use(self, files: campaigns_file.FileDependencies) -> None:
        self.files = files
        self.sim.deps = dataclasses.replace(self.sim.deps, left_out=files.left_out,
                                            undelivered=files.undelivered)

    def sync(self) -> campaigns_file.Synced:
        return sync(self.files, self.sim.body, *self.others)

    def entry(self) -> dict[str, Any]:
        return dict(file_of(self.sim.cluster)["campaigns"]["a-old"])

    def edit(self) -> None:
        """An end date: ~20 bytes more than the room left."""
        self.sim.edit_spec(schedule={"end": "2027-06-01T00:00:00Z"})
        self.sim.tick(1)
        assert self.sync().stale == ("a-old",)


def test_a_campaign_whose_edit_does_not_fit_is_held_at_its_exposure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = _Model(monkeypatch)
    sim = model.sim
    model.edit()
    # Two days (progressDeadline 1d), past the step's 1h pause, every gate passing.
    for minutes in [1, 60, 5, *[6 * 60] * 8]:
        result = sim.tick(minutes)
        model.sync()
        assert _ramp(sim) == (0, 5, _at(T0)), reasons(result)
        assert not {"ExposureWithdrawn", "StepAdvanced", "ProgressDeadlineExceeded"} & set(
            reasons(result))
    assert [h["action"] for h in sim.status["history"]] == ["ExposureStarted"]
    assert model.entry() == model.before  # the runtime treats on its previous settings
    assert sim.condition("ModelServing")["status"] == "True"  # the model does serve it
    delivered = sim.condition("SettingsDelivered")
    assert (delivered["status"], delivered["reason"]) == ("False", "CampaignsFileFull")
    assert HELD in delivered["message"] and "until room is made" in delivered["message"]
    assert sim.status["phase"] == "Degraded"  # past the 5-minute grace: on-call is told
    assert "exposure 5% at step 1/3: waiting (" in sim.status["message"]
    assert HELD in sim.status["message"]
    # A promote is refused: it would grow the exposure in status only.
    sim.annotate("uplift.dev/promote", "step")
    result = sim.tick(1)
    assert _ramp(sim)[:2] == (0, 5)
    assert [(e.reason, e.decision) for e in result.events] == [("ManualPromote", False)]
    # Room made (b-mid deleted): the edit reaches the runtime, and the step starts over
    # there, its pause and deadline from now (the time held was on the settings before).
    model.others = model.others[1:]
    assert model.sync().stale == ()
    assert model.entry()["generation"] == 2
    released = sim.tick(1)
    assert _ramp(sim) == (0, 5, _at(sim.now))
    assert sim.condition("SettingsDelivered")["status"] == "True"
    assert "ProgressDeadlineExceeded" not in reasons(released)
    assert sim.status["phase"] == "Progressing"
    sim.tick(5)
    assert _ramp(sim)[:2] == (0, 5)
    sim.tick(56)
    assert _ramp(sim)[:2] == (1, 25)


def test_a_rollback_of_a_held_campaign_reaches_the_runtime(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = _Model(monkeypatch)
    sim = model.sim
    model.edit()
    sim.annotate("uplift.dev/abort", "true")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    assert model.sync().stale == ("a-old",)
    assert model.entry() == {**model.before, "exposurePercent": 0, "active": False}


def test_a_restart_does_not_release_the_hold_before_the_file_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    model = _Model(monkeypatch)
    sim = model.sim
    model.edit()
    sim.tick(5)
    model.sync()
    held = sim.condition("SettingsDelivered")
    # The operator restarts: nothing in memory, the file read from the watch's store; the
    # Campaign's pass runs first, its gates passing past the step's pause.
    watched, objects, _ = _watched(sim.cluster)
    objects.observe("configmaps", sim.cluster.objects[KEY])
    model.use(campaigns_file.FileDependencies(watched))
    result = sim.tick(60)
    assert _ramp(sim) == (0, 5, _at(T0)), reasons(result)
    assert not {"ExposureWithdrawn", "ExposureStarted", "StepAdvanced"} & set(reasons(result))
    assert sim.condition("SettingsDelivered") == held and HELD in sim.status["message"]
    # The model's first file pass: still no room, still held.
    assert model.sync().stale == ("a-old",)
    result = sim.tick(1)
    assert _ramp(sim) == (0, 5, _at(T0)) and not reasons(result)
    assert model.entry() == model.before
