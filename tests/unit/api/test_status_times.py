"""Status times written without an offset (a status edited by hand) are read as UTC."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import status as status_logic

NAIVE = "2026-12-01T12:00:00"
AT = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _raw(**extra: str) -> dict[str, object]:
    return {
        "stepStartedAt": NAIVE, "lastAnalysisAt": "2026-12-01T12:06:00Z", "resumedAt": NAIVE,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Exposing",
                        "lastTransitionTime": NAIVE}],
        "gates": [{"name": "g", "verdict": "Pass", "time": NAIVE}],
        "history": [{"time": NAIVE, "action": "StepAdvanced"}],
        **extra}


def test_every_status_time_without_an_offset_is_utc() -> None:
    campaign, unreadable = status_logic.readable(
        CampaignStatus, _raw(rampStartedAt=NAIVE, modelVersionSince=NAIVE))
    assert unreadable == ()
    times = [campaign.step_started_at, campaign.resumed_at, campaign.ramp_started_at,
             campaign.model_version_since, campaign.conditions[0].last_transition_time,
             campaign.gates[0].time, campaign.history[0].time]
    assert times == [AT] * len(times)
    aware = [t for t in times if t is not None and t.tzinfo is not None]
    assert len(aware) == len(times)
    # Comparable with the aware times of a pass: no TypeError.
    assert campaign.last_analysis_at is not None and max(aware) < campaign.last_analysis_at
    # Written back with the offset.
    assert campaign.to_wire()["stepStartedAt"] == "2026-12-01T12:00:00Z"
    model = UpliftModelStatus.model_validate(_raw(canaryStartedAt=NAIVE, splitAppliedAt=NAIVE))
    assert [model.canary_started_at, model.split_applied_at, model.step_started_at] == [AT] * 3


def test_a_time_with_an_offset_is_kept_as_written() -> None:
    status = CampaignStatus.model_validate({"stepStartedAt": "2026-12-01T14:00:00+02:00"})
    assert status.step_started_at == AT
    assert status.step_started_at is not None
    assert status.step_started_at.utcoffset() == dt.timedelta(hours=2)
