"""A stored status time later than the operator's clock (a hand edit, a replica whose clock
runs ahead) parses, and every decision that counted from it waited for it: one near year 9999
made every pass overflow (an abort never acted on, for both kinds), one a year ahead kept the
gates from being measured again (a failing canary never rolled back, a Campaign's exposure
advanced on a stale Pass). ``read_status`` takes such a time as now (the last analysis it
drops: the next one is due at once) and names it in ``StatusReadable``; a time within the
clocks' allowed skew is read as it is."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services import test_campaign as tc
from tests.unit.services.test_upliftmodel import PROBE, Sim

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import status as status_logic

FAR = "9999-12-31T23:59:59Z"


def _iso(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _readable(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "StatusReadable")


@pytest.mark.parametrize("field", ["stepStartedAt", "lastAnalysisAt"])
def test_a_model_time_near_year_9999_neither_stops_the_pass_nor_an_abort(field: str) -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["status"][field] = FAR
    result = sim.tick(30)  # raised OverflowError, at every pass
    assert sim.weights() == {"1": 90, "2": 10}
    condition = _readable(sim.status)
    assert (condition["status"], condition["reason"]) == ("False", "StatusUnreadable")
    assert f"{field} " in condition["message"] and "later than the operator's clock" in (
        condition["message"])
    assert "StatusUnreadable" in [e.reason for e in result.events]
    assert sim.status.get(field) != FAR
    sim.body["status"][field] = FAR
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "stop-now"
    result = sim.tick(1)
    assert "ManualAbort" in [e.reason for e in result.events]
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status


@pytest.mark.parametrize("field", ["stepStartedAt", "lastAnalysisAt"])
def test_a_campaign_time_near_year_9999_does_not_keep_an_abort_from_acting(field: str) -> None:
    sim = tc._with_delivery_collector(tc.Sim(**tc._custom_gate_spec()), 0.99)
    sim.tick()
    sim.tick(5)
    sim.body["status"][field] = FAR
    sim.annotate("uplift.dev/abort", "t1")
    result = sim.tick(5)  # raised OverflowError: the abort never reached the status
    assert "ManualAbort" in tc.reasons(result)
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Degraded", 0)
    assert f"{field} " in _readable(sim.status)["message"]


@pytest.mark.parametrize("field", ["stepStartedAt", "lastAnalysisAt"])
def test_a_model_time_a_year_ahead_does_not_keep_a_failing_canary_from_its_rollback(
        field: str) -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0  # above the gate's max 1.0: it fails
    sim.body["status"][field] = _iso(sim.now + dt.timedelta(days=365))
    result = sim.tick(60)
    # It waited "for an analysis" a year (requeue_after ~31.5M s), its gate never measured.
    assert result.requeue_after is not None and result.requeue_after <= 120
    for _ in range(4):
        sim.tick(60)
    assert sim.weights() == {"1": 100} and sim.status["phase"] == "Degraded"
    assert "rolled back" in sim.status["message"]


def test_a_step_start_a_year_ahead_starts_the_step_now() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["status"]["stepStartedAt"] = _iso(sim.now + dt.timedelta(days=365))
    sim.tick(5)
    assert sim.status["stepStartedAt"] == _iso(sim.now)
    message = _readable(sim.status)["message"]
    assert f"stepStartedAt taken as now ({sim.now.isoformat()})" in message


def test_a_campaign_last_analysis_a_year_ahead_does_not_advance_on_a_stale_pass() -> None:
    sim = tc._with_delivery_collector(tc.Sim(**tc._custom_gate_spec()), 0.99)
    sim.tick()
    sim.tick(5)
    assert sim.status["exposurePercent"] == 5
    sim.deps.prometheus.values["delivered_share"] = 0.5  # type: ignore[union-attr]
    sim.body["status"]["lastAnalysisAt"] = (sim.now + dt.timedelta(days=365)).isoformat()
    exposures = []
    for _ in range(6):
        sim.tick(5)
        exposures.append(sim.status["exposurePercent"])
    # It advanced 5 % → 25 % on the step's earlier Pass, the failing gate never measured.
    assert 25 not in exposures
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Degraded", 0)
    assert "lastAnalysisAt dropped" in _readable(sim.status)["message"]


def test_a_time_within_the_clocks_allowed_skew_is_read_as_it_is() -> None:
    sim = Sim()
    sim.with_canary()
    ahead = _iso(sim.now + dt.timedelta(minutes=2))
    sim.body["status"]["stepStartedAt"] = ahead
    sim.tick(1)
    assert sim.status["stepStartedAt"] == ahead
    assert not any(c["type"] == "StatusReadable" for c in sim.status["conditions"])


# -- which times, and what is done with each ------------------------------------------------------

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
AHEAD = "2027-12-01T12:00:00Z"
PAST = "2026-12-01T11:00:00Z"


def test_each_time_ahead_of_a_model_status_is_taken_as_now_but_the_last_analysis() -> None:
    status = UpliftModelStatus.model_validate({
        "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10, "currentStep": 0,
        "stepStartedAt": AHEAD, "lastAnalysisAt": AHEAD, "resumedAt": AHEAD,
        "passedWhileHeldAt": AHEAD, "canaryStartedAt": PAST, "splitAppliedAt": AHEAD,
        "canaryNotServingSince": AHEAD,
        "conditions": [{"type": "Ready", "status": "True", "reason": "StableServing",
                        "message": "", "lastTransitionTime": AHEAD}],
        "gates": [{"name": "probe", "verdict": "Pass", "time": AHEAD}],
        "history": [{"time": PAST, "action": "Promoted", "version": "1"},
                    {"time": AHEAD, "action": "CanaryStarted", "version": "2"}]})
    read, found = status_logic.future_times(status, NOW)
    assert read.step_started_at == read.resumed_at == read.split_applied_at == NOW
    assert read.canary_not_serving_since == NOW
    assert read.last_analysis_at is None and read.passed_while_held_at is None
    assert read.canary_started_at == dt.datetime(2026, 12, 1, 11, 0, tzinfo=dt.UTC)
    assert read.conditions[0].last_transition_time == NOW
    assert (read.gates[0].time, read.gates[0].verdict) == (NOW, status.gates[0].verdict)
    assert [e.time for e in read.history] == [status.history[0].time, NOW]
    said = {part.where: part.done for part in found}
    assert said["lastAnalysisAt"] == "dropped"
    assert said["stepStartedAt"] == f"taken as now ({NOW.isoformat()})"
    assert {"conditions[Ready].lastTransitionTime", "gates[probe].time",
            "history[1].time"} <= set(said)
    assert all(not part.kept for part in found)


def test_a_campaigns_budget_anchor_may_be_ahead_and_its_budget_since_is_taken_as_now() -> None:
    """``budgetAnchor`` is the spec's ``schedule.start`` (one edited to a later date before a
    budget is set), its record's ``periodStart`` follows it: read as they are. A
    ``budgetSince`` ahead is taken as now, not dropped: dropped, the spend was read from the
    period's start, which counts again the ledgers of a budget removed before this one was set
    (``test_budget_since_ahead.py``)."""
    status = CampaignStatus.model_validate({
        "budgetAnchor": AHEAD, "budgetSince": AHEAD, "budgetUnreadableSince": AHEAD,
        "rampStartedAt": AHEAD, "budgetLedgers": {"periodStart": AHEAD, "ledgers": {"a": 1.0}}})
    read, found = status_logic.future_times(status, NOW)
    assert read.budget_anchor == status.budget_anchor
    assert read.budget_ledgers == status.budget_ledgers
    assert read.budget_since == read.budget_unreadable_since == read.ramp_started_at == NOW
    since = next(part for part in found if part.where == "budgetSince")
    assert since.done == (f"taken as now ({NOW.isoformat()}): the budget's spend is counted "
                          "from then (from the period's start it would count again a budget "
                          "removed before it was set)")
    assert {part.where for part in found} == {"budgetSince", "budgetUnreadableSince",
                                              "rampStartedAt"}


def test_a_status_with_no_time_ahead_is_the_same_object() -> None:
    status = UpliftModelStatus.model_validate({"stableVersion": "1", "stepStartedAt": PAST})
    assert status_logic.future_times(status, NOW) == (status, ())
    skewed = NOW + status_logic.CLOCK_SKEW_ALLOWED
    status = UpliftModelStatus.model_validate({"stepStartedAt": _iso(skewed)})
    assert status_logic.future_times(status, NOW) == (status, ())


def test_a_resume_a_year_ahead_does_not_keep_the_progress_deadline_from_running() -> None:
    """``progressDeadline`` counts from no earlier than ``resumedAt``: a year ahead, it never
    ran out. Taken as now, it runs from the pass that read it."""
    sim = tc.Sim()
    for gate in sim.body["spec"]["exposure"]["gates"]:
        gate["dryRun"] = gate["type"] in ("incrementalConversions", "roi", "drift")
    sim.tick()
    sim.tick(5)
    sim.body["status"]["resumedAt"] = (sim.now + dt.timedelta(days=365)).isoformat()
    sim.tick(5)
    assert "resumedAt taken as now" in _readable(sim.status)["message"]
    result = sim.tick(26 * 60)  # the 1h pause and a day: the delivery gate never passed
    assert "ProgressDeadlineExceeded" in tc.reasons(result)
    assert sim.status["phase"] == "Degraded"
