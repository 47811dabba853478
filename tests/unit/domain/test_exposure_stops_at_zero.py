"""domain.exposure: an abort or emergency rollback of a Campaign that exposes no one yet, and a
paused spec before its ramp started.

At 0 % for a reason that clears by itself (its model not serving, the schedule's start to come,
a ramp not started yet) a stop request is recorded and held as any rollback: the Campaign does
not start by itself once that reason clears, only after a retry or a spec change
(docs/lifecycle.md, "Manual control"). ``spec.exposure.paused`` holds a Campaign that exposes no
one at 0 %: it waits, Paused, and its ramp starts on the resume.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignSpec, CampaignStatus, Schedule
from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.requests import parse_requests

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
_RAW = yaml.safe_load(SAMPLE.read_text())
_RAW["spec"]["schedule"] = None
SPEC = Campaign.model_validate(_RAW).spec
PAUSED = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(update={"paused": True})})
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True,
                                    why="UpliftModel 'm' serves version 3")
DOWN = exposure.ModelObservation("m", True, "3", serving=False, degraded=True,
                                 why="UpliftModel 'm' has nothing serving (Degraded)")
GONE = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")

STOPS = [("uplift.dev/abort", "ManualAbort", "aborted by hand"),
         ("uplift.dev/emergency-rollback", "EmergencyRollback", "emergency rollback requested")]


def run(spec: CampaignSpec, status: CampaignStatus, model: exposure.ModelObservation,
        now: dt.datetime, annotations: dict[str, str] | None = None,
        generation: int = 1) -> exposure.Decision:
    return exposure.decide(spec, status, exposure.Observed(
        model=model, requests=parse_requests(annotations or {}), generation=generation), now)


def ready(status: CampaignStatus) -> tuple[str, str]:
    found = cond.find(status.conditions, cond.READY)
    assert found is not None
    return found.status, found.reason


@pytest.mark.parametrize(("annotation", "reason", "why"), STOPS)
@pytest.mark.parametrize("down", [DOWN, GONE])
def test_a_stop_while_the_model_serves_nothing_holds_once_it_serves(
        annotation: str, reason: str, why: str, down: exposure.ModelObservation) -> None:
    # Exposing at step 1, then the model stops serving: the exposure is withdrawn.
    status = run(SPEC, CampaignStatus(), SERVING, T0).status
    status = run(SPEC, status, down, T0 + dt.timedelta(minutes=1)).status
    assert status.exposure_percent == 0 and status.current_step is None
    stop = {annotation: "tok1"}
    d = run(SPEC, status, down, T0 + dt.timedelta(minutes=2), stop)
    assert [(e.type, e.reason.value) for e in d.events] == [("Warning", reason)]
    assert d.events[0].message.startswith(
        f"held at 0% until a spec change or uplift.dev/retry: {why} at 0% ({down.why})")
    assert d.status.rolled_back_generation == 1 and d.status.rolled_back_spec is not None
    assert d.status.handled_requests == {annotation: "tok1"}
    entry = d.status.history[-1]
    assert (entry.action, entry.actor) == (reason, f"annotation {annotation}=tok1")
    assert (d.status.phase, ready(d.status)) == (Phase.DEGRADED, ("False", cond.ROLLED_BACK))
    # The model serves again: the rollback holds, nothing starts.
    later = run(SPEC, d.status, SERVING, T0 + dt.timedelta(minutes=3), stop)
    assert later.events == ()
    assert (later.status.exposure_percent, later.status.current_step) == (0, None)
    assert (later.status.phase, ready(later.status)) == (Phase.DEGRADED,
                                                         ("False", cond.ROLLED_BACK))
    assert later.status.message.startswith(f"exposure 0%: rolled back ({why} at 0% (")
    assert not exposure.treating(later.status)
    # A retry restarts it at step 1.
    retried = run(SPEC, later.status, SERVING, T0 + dt.timedelta(minutes=4),
                  {**stop, "uplift.dev/retry": "r1"})
    assert [e.reason.value for e in retried.events] == ["Retry"]
    assert (retried.status.exposure_percent, retried.status.current_step) == (5, 0)
    assert retried.status.rolled_back_generation is None


def test_an_abort_before_the_first_start_keeps_it_from_starting() -> None:
    # The annotation is there at the Campaign's first pass, its model serving: the abort comes
    # first, so the ramp never starts.
    d = run(SPEC, CampaignStatus(), SERVING, T0, {"uplift.dev/abort": "a"})
    assert [e.reason.value for e in d.events] == ["ManualAbort"]
    assert "its ramp had not started" in d.events[0].message
    assert (d.status.exposure_percent, d.status.phase) == (0, Phase.DEGRADED)
    assert d.status.ramp_started_at is None
    again = run(SPEC, d.status, SERVING, T0 + dt.timedelta(hours=1), {"uplift.dev/abort": "a"})
    assert again.events == () and again.status == d.status


def test_a_spec_change_after_a_stop_at_zero_restarts_the_ramp() -> None:
    held = run(SPEC, CampaignStatus(), DOWN, T0, {"uplift.dev/abort": "a"}).status
    assert held.rolled_back_generation == 1
    edited = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(
        update={"analysis_interval": "2h"})})
    d = run(edited, held, SERVING, T0 + dt.timedelta(minutes=1), {"uplift.dev/abort": "a"},
            generation=2)
    assert [e.reason.value for e in d.events] == ["ExposureStarted"]
    assert "spec changed after a rollback" in d.events[0].message
    assert (d.status.exposure_percent, d.status.rolled_back_generation) == (5, None)


def test_a_pause_or_a_resume_is_no_spec_change_for_a_stop_at_zero() -> None:
    held = run(SPEC, CampaignStatus(), DOWN, T0, {"uplift.dev/abort": "a"}).status
    paused = run(PAUSED, held, SERVING, T0 + dt.timedelta(minutes=1), generation=2).status
    resumed = run(SPEC, paused, SERVING, T0 + dt.timedelta(minutes=2), generation=3)
    assert resumed.status.exposure_percent == 0
    assert ready(resumed.status) == ("False", cond.ROLLED_BACK)


@pytest.mark.parametrize(("annotation", "reason", "why"), STOPS)
def test_a_stop_before_the_schedule_s_start_holds_past_it(annotation: str, reason: str,
                                                         why: str) -> None:
    start = T0 + dt.timedelta(days=1)
    spec = SPEC.model_copy(update={"schedule": Schedule(start=start)})
    pending = run(spec, CampaignStatus(), SERVING, T0).status
    assert (pending.phase, ready(pending)) == (Phase.SUSPENDED, ("False", cond.SCHEDULE_PENDING))
    stop = {annotation: "t"}
    d = run(spec, pending, SERVING, T0 + dt.timedelta(hours=1), stop)
    assert [e.reason.value for e in d.events] == [reason]
    assert f"{why} at 0% (spec.schedule.start {start.isoformat()} is still to come)" in (
        d.events[0].message)
    # It no longer reads "starts at": it will not.
    assert (d.status.phase, ready(d.status)) == (Phase.DEGRADED, ("False", cond.ROLLED_BACK))
    assert d.status.message.endswith(
        "Change the spec or retry with `kubectl uplift retry campaign/NAME` (or annotate "
        f"--overwrite uplift.dev/retry=$(date +%s)) once spec.schedule.start {start.isoformat()} "
        "has come")
    at_start = run(spec, d.status, SERVING, start, stop)
    assert at_start.events == ()
    assert at_start.status.exposure_percent == 0 and not exposure.treating(at_start.status)
    assert ready(at_start.status) == ("False", cond.ROLLED_BACK)
    assert at_start.status.message.endswith(
        "Change the spec or retry with `kubectl uplift retry campaign/NAME` (or annotate "
        "--overwrite uplift.dev/retry=$(date +%s))")


def test_a_second_stop_at_zero_and_one_past_the_end_are_ignored() -> None:
    held = run(SPEC, CampaignStatus(), DOWN, T0, {"uplift.dev/abort": "a"}).status
    d = run(SPEC, held, DOWN, T0 + dt.timedelta(minutes=1),
            {"uplift.dev/abort": "a", "uplift.dev/emergency-rollback": "b"})
    assert [(e.reason.value, e.decision) for e in d.events] == [("EmergencyRollback", False)]
    assert "ignored: nothing is exposed: rolled back already (aborted by hand at 0% (" in (
        d.events[0].message)
    assert d.status.history[-1].action == "RequestIgnored"
    ended = SPEC.model_copy(update={"schedule": Schedule(end=T0)})
    over = run(ended, CampaignStatus(), SERVING, T0, {"uplift.dev/abort": "a"})
    assert [(e.reason.value, e.decision) for e in over.events] == [("ManualAbort", False)]
    assert over.status.rolled_back_generation is None and over.status.phase is Phase.COMPLETED


@pytest.mark.parametrize(("annotation", "reason", "why"), STOPS)
def test_a_stop_at_zero_on_a_refused_spec_is_held_until_the_fix(annotation: str, reason: str,
                                                                why: str) -> None:
    # ``stop_requests``: the invalid-spec path acts on the kill switches as ``decide`` does.
    waiting = run(SPEC, CampaignStatus(), DOWN, T0).status
    status, events = exposure.stop_requests(SPEC, waiting, exposure.Observed(
        model=SERVING, requests=parse_requests({annotation: "t"}), generation=2),
        T0 + dt.timedelta(minutes=1))
    assert [e.reason.value for e in events] == [reason]
    assert events[0].message == ("held at 0% until a spec change or uplift.dev/retry: "
                                 f"{why} at 0% (its ramp had not started)")
    assert (status.history[-1].action, status.history[-1].reason) == (
        reason, f"{why} at 0% (its ramp had not started)")
    assert status.rolled_back_generation == 2
    # Valid again with the same generation (no edit since): held; the fix (an edit) restarts.
    same = run(SPEC, status, SERVING, T0 + dt.timedelta(minutes=2), generation=2)
    assert same.status.exposure_percent == 0
    fixed = SPEC.model_copy(update={"exposure": SPEC.exposure.model_copy(
        update={"analysis_interval": "2h"})})
    restarted = run(fixed, status, SERVING, T0 + dt.timedelta(minutes=2), generation=3)
    assert restarted.status.exposure_percent == 5


# -- spec.exposure.paused before the ramp started ---------------------------------------------

def test_a_paused_spec_waits_at_zero_and_starts_on_the_resume() -> None:
    d = run(PAUSED, CampaignStatus(), SERVING, T0)
    s = d.status
    assert (s.exposure_percent, s.current_step, s.ramp_started_at) == (0, None, None)
    assert (s.phase, ready(s)) == (Phase.PAUSED, ("False", cond.EXPOSURE_PAUSED))
    assert s.message == ("exposure 0%: held by spec.exposure.paused; its ramp starts at step 1 "
                         "once it is resumed (UpliftModel 'm' serves version 3)")
    assert [e.reason.value for e in d.events] == ["Paused"]
    assert not exposure.treating(s)
    again = run(PAUSED, s, SERVING, T0 + dt.timedelta(hours=5))
    assert again.events == () and again.status.exposure_percent == 0
    resumed = run(SPEC, again.status, SERVING, T0 + dt.timedelta(hours=6), generation=2)
    assert [e.reason.value for e in resumed.events] == ["ExposureStarted", "Resumed"]
    assert "spec.exposure.paused set to false" in resumed.events[0].message
    assert (resumed.status.exposure_percent, resumed.status.current_step) == (5, 0)
    assert resumed.status.phase is Phase.PROGRESSING


def test_a_paused_spec_whose_exposure_was_withdrawn_does_not_start_again() -> None:
    status = run(SPEC, CampaignStatus(), SERVING, T0).status
    status = run(PAUSED, status, SERVING, T0 + dt.timedelta(minutes=1), generation=2).status
    assert (status.phase, status.exposure_percent) == (Phase.PAUSED, 5)  # held where it is
    status = run(PAUSED, status, DOWN, T0 + dt.timedelta(minutes=2), generation=2).status
    assert status.exposure_percent == 0
    back = run(PAUSED, status, SERVING, T0 + dt.timedelta(minutes=3), generation=2)
    assert back.status.exposure_percent == 0 and back.status.phase is Phase.PAUSED
    assert "ExposureStarted" not in [e.reason.value for e in back.events]


def test_a_paused_spec_before_its_schedule_s_start_says_it_will_not_start_then() -> None:
    start = T0 + dt.timedelta(days=1)
    spec = PAUSED.model_copy(update={"schedule": Schedule(start=start)})
    pending = run(spec, CampaignStatus(), SERVING, T0).status
    assert pending.phase is Phase.SUSPENDED
    assert pending.message.endswith("; spec.exposure.paused holds it at 0% until it is resumed")
    at_start = run(spec, pending, SERVING, start).status
    assert (at_start.phase, at_start.exposure_percent) == (Phase.PAUSED, 0)


def test_a_retry_of_a_paused_rolled_back_campaign_withdraws_the_rollback_only() -> None:
    held = run(PAUSED, CampaignStatus(), SERVING, T0, {"uplift.dev/abort": "a"}).status
    assert "held by spec.exposure.paused" in held.history[-1].reason
    assert ready(held) == ("False", cond.ROLLED_BACK)
    d = run(PAUSED, held, SERVING, T0 + dt.timedelta(minutes=1),
            {"uplift.dev/abort": "a", "uplift.dev/retry": "r"})
    assert [(e.type, e.reason.value) for e in d.events] == [("Normal", "Retry"),
                                                            ("Normal", "Paused")]
    assert d.events[0].message.startswith("rollback withdrawn; spec.exposure.paused holds the "
                                          "campaign at 0%")
    assert (d.status.exposure_percent, d.status.rolled_back_generation) == (0, None)
    assert (d.status.phase, ready(d.status)) == (Phase.PAUSED, ("False", cond.EXPOSURE_PAUSED))
    resumed = run(SPEC, d.status, SERVING, T0 + dt.timedelta(minutes=2),
                  {"uplift.dev/abort": "a", "uplift.dev/retry": "r"}, generation=2)
    assert resumed.status.exposure_percent == 5


def test_a_retry_of_a_paused_campaign_not_rolled_back_is_ignored() -> None:
    waiting = run(PAUSED, CampaignStatus(), SERVING, T0).status
    d = run(PAUSED, waiting, SERVING, T0 + dt.timedelta(minutes=1), {"uplift.dev/retry": "r"})
    assert [(e.reason.value, e.decision) for e in d.events] == [("Retry", False)]
    assert "nothing is rolled back; spec.exposure.paused holds the campaign at 0%" in (
        d.events[0].message)
    assert d.status.exposure_percent == 0 and d.status.phase is Phase.PAUSED
