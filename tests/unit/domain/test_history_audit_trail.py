"""status.history as the audit trail of every manual action (docs/lifecycle.md, "History"):
who asked and why (``uplift.dev/requested-by``, ``uplift.dev/request-reason``), the gates a
promote or abort went over, a pause and resume by the spec, and the trimming rule that keeps
decisions as one block, oldest first, and counts what it dropped (``status.historyTrimmed``).
"""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure_stops_at_zero import DOWN, PAUSED, SERVING, SPEC
from tests.unit.domain.test_exposure_stops_at_zero import run as run_campaign
from tests.unit.domain.test_ramp import INC, F, P, make_spec, with_canary

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import DecisionRecord, Phase
from uplift_operator.domain.ramp import HISTORY_LIMIT, Reason
from uplift_operator.domain.requests import (
    REQUEST_REASON_ANNOTATION,
    REQUEST_REASON_MAX,
    REQUESTED_BY_ANNOTATION,
    REQUESTED_BY_MAX,
    parse_requests,
)
from uplift_operator.domain.steps import trimmed_history

T0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
WHO = {REQUESTED_BY_ANNOTATION: "alice@example.com",
       REQUEST_REASON_ANNOTATION: "INC-42: p99 regression"}


def test_an_abort_records_who_asked_why_and_the_gates_it_went_over() -> None:
    sim = with_canary(make_spec())
    sim.tick(1, verdicts={"latency": INC})
    sim.annotations.update({"uplift.dev/abort": "1", **WHO})
    d = sim.tick(1)
    entry = sim.status.history[-1]
    assert entry.action == "ManualAbort"
    assert entry.reason.startswith("aborted by hand by alice@example.com: INC-42: p99 regression"
                                   "; gates not passed: gate latency Inconclusive: ")
    assert "latency said Inconclusive" in entry.reason
    assert entry.actor == "annotation uplift.dev/abort=1"  # the request, as the plugin finds it
    [event] = [e for e in d.events if e.reason is Reason.MANUAL_ABORT]
    assert "by alice@example.com: INC-42: p99 regression" in event.message


def test_a_full_promote_over_a_pending_manual_rollback_records_the_fail_it_overrode() -> None:
    sim = with_canary(make_spec(rollback="Manual"))
    for _ in range(3):
        sim.tick(1.1, verdicts={"latency": F})
    assert sim.status.phase is Phase.PAUSED
    sim.annotations.update({"uplift.dev/promote": "full:1", **WHO})
    d = sim.tick(0.5, verdicts={"latency": F})
    entry = sim.status.history[-1]
    assert entry.action == "Promoted" and entry.version == "2"
    assert entry.reason.startswith("promoted by hand by alice@example.com: INC-42: p99 "
                                   "regression; previous stable 1; gates not passed: gate "
                                   "latency Fail: ")
    assert "failureLimit 0 exceeded" in entry.reason
    [event] = [e for e in d.events if e.reason is Reason.MANUAL_PROMOTE]
    assert "alice@example.com: INC-42: p99 regression" in event.message


def test_without_companions_a_promote_of_passing_gates_records_as_before() -> None:
    sim = with_canary(make_spec())
    sim.passing(1)
    sim.request("uplift.dev/promote", "step:1")
    sim.passing(0.5)
    entry = sim.status.history[-1]
    assert (entry.action, entry.reason) == ("StepAdvanced", "promoted by hand")


def test_an_emergency_rollback_and_a_retry_record_who_and_why() -> None:
    sim = with_canary(make_spec())
    sim.annotations.update({"uplift.dev/emergency-rollback": "1",
                            REQUESTED_BY_ANNOTATION: "bob"})
    sim.tick(1)
    assert sim.status.history[-1].reason == "emergency rollback requested by bob"
    sim.annotations = {"uplift.dev/retry": "1", REQUEST_REASON_ANNOTATION: "fixed upstream"}
    sim.tick(1)
    entry = sim.status.history[-1]
    assert (entry.action, entry.reason) == ("Retry", "canary restarted at step 1: fixed upstream")


def test_companions_are_sanitised_and_clipped() -> None:
    [request] = parse_requests({
        "uplift.dev/abort": "1", REQUESTED_BY_ANNOTATION: "eve\x1b[31m\nroot" + "x" * 500,
        REQUEST_REASON_ANNOTATION: "line1\r\nline2\t" + "y" * 1000})
    assert "\x1b" not in request.requested_by and "\n" not in request.request_reason
    assert request.requested_by.startswith("eve [31m root")
    assert len(request.requested_by) == REQUESTED_BY_MAX and request.requested_by[-1] == "…"
    assert request.request_reason.startswith("line1 line2 y")
    assert len(request.request_reason) == REQUEST_REASON_MAX
    # Within the history's reason (1024) with the longest evidence the entry may carry.
    sim = with_canary(make_spec())
    sim.annotations.update({"uplift.dev/abort": "1", REQUESTED_BY_ANNOTATION: "x" * 5000,
                            REQUEST_REASON_ANNOTATION: "y" * 5000})
    sim.tick(1)
    entry = sim.status.history[-1]
    assert len(entry.reason) <= 1024 and "y" * (REQUEST_REASON_MAX - 1) + "…" in entry.reason


def test_a_campaign_abort_records_who_and_why() -> None:
    annotations = {"uplift.dev/abort": "a", **WHO}
    started = run_campaign(SPEC, CampaignStatus(), SERVING, T0).status
    d = run_campaign(SPEC, started, SERVING, T0 + dt.timedelta(minutes=1), annotations)
    entry = d.status.history[-1]
    assert entry.action == "ManualAbort"
    assert entry.reason.startswith("aborted by hand by alice@example.com: INC-42: p99 regression")
    assert any("alice@example.com" in e.message for e in d.events)


def test_a_pause_and_a_resume_by_the_spec_are_recorded_once() -> None:
    sim = with_canary(make_spec())
    sim.tick(1, verdicts={"latency": INC})
    sim.spec = make_spec(paused=True)
    sim.tick(1, verdicts={"latency": INC})
    sim.tick(1, verdicts={"latency": P})  # still paused: no second entry
    sim.spec = make_spec()
    sim.tick(1)
    sim.tick(1)
    actions = [(h.action, h.actor, h.reason) for h in sim.status.history
               if h.action in ("Paused", "Resumed")]
    assert actions == [("Paused", "spec", "held by spec.rollout.paused"),
                       ("Resumed", "spec", "spec.rollout.paused set to false")]


def test_a_campaign_paused_by_its_spec_records_the_pause() -> None:
    started = run_campaign(SPEC, CampaignStatus(), SERVING, T0).status
    d = run_campaign(PAUSED, started, SERVING, T0 + dt.timedelta(minutes=1), generation=2)
    assert [(h.action, h.actor) for h in d.status.history][-1] == ("Paused", "spec")


def test_releases_after_a_rollback_push_it_out_and_count_what_they_dropped() -> None:
    sim = with_canary(make_spec())
    for _ in range(3):
        sim.tick(1.1, verdicts={"latency": F})
    assert sim.status.history[-1].action == "RolledBack"
    for version in ("3", "4", "5", "6", "7"):
        sim.desired = version
        for _ in range(40):
            sim.passing(1.1)
            if sim.status.stable_version == version:
                break
    history = sim.status.history
    assert len(history) == HISTORY_LIMIT
    # One block, oldest first: an old rollback is not kept past the decisions after it (the
    # MLflow roles replayed from the history would read it as the version's last word).
    assert [h.version for h in history if h.action == "RolledBack"] == []
    assert sim.status.history_trimmed is not None and sim.status.history_trimmed > 0
    assert history == sorted(history, key=lambda h: h.time)


def test_trimming_drops_the_oldest_decisions_whatever_their_kind() -> None:
    def entry(action: str, minute: int) -> DecisionRecord:
        return DecisionRecord.model_validate({
            "time": T0 + dt.timedelta(minutes=minute), "action": action, "version": "2"})

    old = [entry("RolledBack", 0), entry("ManualAbort", 1), entry("EmergencyRollback", 2),
           entry("RolledBack", 3)]
    rest = [entry("StepAdvanced", m) for m in range(4, 4 + HISTORY_LIMIT)]
    assert trimmed_history([*old, *rest]) == rest


def test_a_campaign_paused_by_its_spec_records_one_pause_however_often_its_model_flaps() -> None:
    status = run_campaign(SPEC, CampaignStatus(), SERVING, T0).status
    for minute in range(1, 13):  # the model stops and starts serving while the spec pauses
        model = DOWN if minute % 2 else SERVING
        status = run_campaign(PAUSED, status, model, T0 + dt.timedelta(minutes=minute),
                              generation=2).status
    spec_paused = status.history
    assert [(h.action, h.actor) for h in spec_paused].count(("Paused", "spec")) == 1


