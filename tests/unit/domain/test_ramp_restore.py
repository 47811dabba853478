"""An emergency rollback's restore: the replaced stable keeps the traffic until the restored
version serves, whatever else arrives meanwhile (a second rollback, an abort, a new version, a
retry). Driven by ``test_ramp.Sim``, so every decision is checked for idempotence too."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.api.v1alpha1.common import DecisionRecord, Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

from .test_ramp import Sim, with_canary


def restoring() -> Sim:
    """Version 2 promoted over 1 (whose predictor left), then rolled back in an emergency while
    1's pods start again: 2 keeps all the traffic."""
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "t1")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.emergency_rolled_back_version) == ("1", "2")
    assert d.traffic == TrafficSplit("1", "2", 100)
    # What serves, said as it is: 2 keeps the traffic until 1 serves again.
    assert "version 2 keeps the traffic until it serves" in d.status.message
    assert "stable 1 serves" not in d.status.message
    return sim


@pytest.mark.parametrize("key", [ramp.EMERGENCY_ROLLBACK_ANNOTATION, ramp.ABORT_ANNOTATION])
def test_a_request_ignored_during_a_restore_leaves_the_replaced_version_serving(key: str) -> None:
    sim = restoring()
    sim.request(key, "t2")
    d = sim.tick(0.5)
    assert [(e.type, "ignored" in e.message) for e in d.events] == [("Warning", True)]
    assert d.traffic == TrafficSplit("1", "2", 100)
    entry = d.status.history[-1]
    assert (entry.action, entry.version) == ("RequestIgnored", None)
    assert "emergency rollback requested" not in d.status.message
    assert "ignored" not in d.status.message  # the rollback's own reason, not the request's
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.traffic == TrafficSplit("1", None, 0)  # no scaleDownDelay


def test_an_ignored_request_an_older_operator_recorded_as_a_rollback_is_none() -> None:
    sim = restoring()
    legacy = DecisionRecord.model_validate({
        "time": sim.now, "action": "ManualAbort", "version": None,
        "reason": "ignored: no canary to abort", "actor": "annotation uplift.dev/abort=t2"})
    sim.status = sim.status.model_copy(update={"history": [*sim.status.history, legacy]})
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100)


def test_a_new_version_during_a_restore_waits_for_the_restored_version_to_serve() -> None:
    sim = restoring()
    sim.desired = "3"
    d = sim.tick(0.5)
    assert d.traffic == TrafficSplit("1", "2", 100)
    assert d.status.canary_version is None
    assert d.status.emergency_rolled_back_version == "2"
    assert [(e.type, e.reason) for e in d.events] == [("Normal", Reason.CANARY_HELD)]
    assert d.status.message.startswith("version 3 waits to start as a canary")
    assert sim.tick(0.5).events == ()  # said once
    sim.ready_versions = frozenset({"1", "2"})
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED, Reason.CANARY_STARTED]
    assert d.traffic == TrafficSplit("1", "3", 0)


def test_a_retry_during_a_restore_withdraws_it_and_the_replaced_version_is_stable_again(
        ) -> None:
    sim = restoring()
    sim.request(ramp.RETRY_ANNOTATION, "now")
    d = sim.tick(0.5)
    s = d.status
    assert (s.stable_version, s.previous_stable_version, s.emergency_rolled_back_version) == (
        "2", "1", None)
    assert d.traffic == TrafficSplit("2") and s.canary_version is None  # 1 leaves the graph
    assert [(e.type, e.reason) for e in d.events] == [("Normal", Reason.RESTORE_WITHDRAWN)]
    entry = s.history[-1]
    assert (entry.action, entry.version, entry.actor) == (
        "RestoreWithdrawn", "2", "annotation uplift.dev/retry=now")
    assert "stable 1 has not served" in entry.reason
    # As before the rollback: a second emergency rollback may try the previous stable again.
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "again")
    d = sim.tick(0.5)
    assert d.status.stable_version == "1" and d.traffic == TrafficSplit("1", "2", 100)


def test_a_retry_during_a_restore_starts_the_held_version_against_the_replaced_one() -> None:
    sim = restoring()
    sim.desired = "3"
    sim.tick(0.5)
    sim.request(ramp.RETRY_ANNOTATION, "now")
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.RESTORE_WITHDRAWN, Reason.RETRY]
    assert (d.status.stable_version, d.status.canary_version) == ("2", "3")
    assert d.traffic == TrafficSplit("2", "3", 0)  # 2 keeps all the traffic; 3 starts at 0


def test_a_retry_in_the_pass_that_sees_the_restored_version_serve_retries_after_it() -> None:
    """The restore ends in that pass (1 serves): nothing to withdraw; the spec's version 2,
    rolled back, starts again as a canary against 1."""
    sim = restoring()
    sim.ready_versions = frozenset({"1", "2"})
    sim.request(ramp.RETRY_ANNOTATION, "now")
    d = sim.tick(0.5)
    assert sim.reasons() == [Reason.STABLE_RESTORED, Reason.RETRY]
    assert (d.status.stable_version, d.status.canary_version) == ("1", "2")


@pytest.mark.parametrize(("key", "reason"), [
    (ramp.EMERGENCY_ROLLBACK_ANNOTATION, Reason.EMERGENCY_ROLLBACK),
    (ramp.ABORT_ANNOTATION, Reason.MANUAL_ABORT),
])
def test_a_stop_with_nothing_to_stop_during_a_restore_leaves_the_retry_it_offers_to_act(
        key: str, reason: Reason) -> None:
    """A second rollback (or an abort) pending with a retry while the restore is underway: the
    stop is ignored and offers the retry to withdraw the rollback, so the retry is not
    superseded by it (two Warnings saying opposite things): it withdraws the rollback. A
    promote pending with them gets its own answer too, not "annotate again to promote"."""
    sim = restoring()
    sim.request(key, "t2")  # on-call presses rollback (or abort) again
    sim.request(ramp.RETRY_ANNOTATION, "r1")  # then retry, as the message says
    sim.request(ramp.PROMOTE_ANNOTATION, "step:p1")
    d = sim.tick(0.5)
    assert [(e.type, e.reason) for e in d.events] == [
        ("Warning", reason), ("Normal", Reason.RESTORE_WITHDRAWN),
        ("Warning", Reason.MANUAL_PROMOTE)]
    assert "superseded" not in " ".join(e.message for e in d.events)
    assert d.events[2].message == ("annotation uplift.dev/promote=step:p1 ignored: no canary to "
                                   "promote")
    s = d.status
    assert (s.stable_version, s.emergency_rolled_back_version, s.canary_version) == (
        "2", None, None)
    assert d.traffic == TrafficSplit("2")
    assert {k: s.handled_requests[k] for k in (key, ramp.RETRY_ANNOTATION,
                                               ramp.PROMOTE_ANNOTATION)} == {
        key: "t2", ramp.RETRY_ANNOTATION: "r1", ramp.PROMOTE_ANNOTATION: "step:p1"}


def test_a_stop_pending_with_a_retry_as_the_restore_ends_still_supersedes_it() -> None:
    """The restored version serves in that pass: the restore is over, and a retry would
    restart the canary the rollback replaced (version 2), so the stop wins as anywhere else."""
    sim = restoring()
    sim.ready_versions = frozenset({"1", "2"})
    sim.request(ramp.RETRY_ANNOTATION, "r1")
    sim.request(ramp.ABORT_ANNOTATION, "a2")
    d = sim.tick(0.5)
    assert [e.reason for e in d.events] == [Reason.MANUAL_ABORT, Reason.RETRY,
                                            Reason.STABLE_RESTORED]
    assert "superseded by the abort" in d.events[1].message
    assert (d.status.stable_version, d.status.canary_version) == ("1", None)


@pytest.mark.parametrize(("key", "reason"), [
    (ramp.EMERGENCY_ROLLBACK_ANNOTATION, Reason.EMERGENCY_ROLLBACK),
    (ramp.ABORT_ANNOTATION, Reason.MANUAL_ABORT),
    (ramp.PROMOTE_ANNOTATION, Reason.MANUAL_PROMOTE),
])
def test_a_request_ignored_during_a_restore_names_the_retry_that_acts(key: str,
                                                                      reason: Reason) -> None:
    sim = restoring()
    sim.request(key, "full:t2" if key == ramp.PROMOTE_ANNOTATION else "t2")
    d = sim.tick(0.5)
    assert [(e.type, e.reason) for e in d.events] == [("Warning", reason)]
    assert "an emergency rollback is restoring stable 1" in d.events[0].message
    assert f"annotate --overwrite {ramp.RETRY_ANNOTATION}=$(date +%s)" in d.events[0].message


def offered_retry(message: str) -> bool:
    return f"annotate --overwrite {ramp.RETRY_ANNOTATION}=$(date +%s)" in message


@pytest.mark.parametrize("desired", ["2", "3", "1"])  # rolled back, a new one, the restored
def test_a_restore_that_never_serves_is_degraded_at_its_deadline_and_says_what_acts(
        desired: str) -> None:
    """The restored version never serves (its MLflow version deleted, say): without a
    progressDeadline, ten minutes after the rollback the phase is Degraded with
    ProgressDeadlineExceeded first (the alert of that name), told once; every message offers
    the retry, and taking that offer withdraws the rollback: nothing is held for good."""
    sim = restoring()
    rolled_back_at = sim.now
    sim.desired = desired
    d = sim.tick(0.5)
    # Degraded while the spec names the version rolled back; a held one, or the restored one,
    # is on its way until the deadline says otherwise.
    before_deadline = Phase.DEGRADED if desired == "2" else Phase.PROGRESSING
    assert d.status.phase is before_deadline
    assert offered_retry(d.status.message) and "Set a new version" not in d.status.message
    deadline = rolled_back_at + dt.timedelta(minutes=10)
    assert f"by {deadline.isoformat()}" in d.status.message
    assert d.requeue_after is not None and sim.now + d.requeue_after == deadline
    sim.tick(9)  # 9.5 minutes after the rollback
    assert sim.status.phase is before_deadline
    assert not sim.status.message.startswith("ProgressDeadlineExceeded")
    d = sim.tick(0.5)
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message.startswith("ProgressDeadlineExceeded: ")
    assert "restored stable 1 has not served within 10m" in d.status.message
    assert offered_retry(d.status.message)
    assert [(e.type, e.reason) for e in d.events] == [
        ("Warning", Reason.PROGRESS_DEADLINE_EXCEEDED)]
    assert (d.status.history[-1].action, d.status.history[-1].version) == (
        "ProgressDeadlineExceeded", "1")
    assert d.traffic == TrafficSplit("1", "2", 100)  # what serves keeps serving
    assert sim.tick(600).events == ()  # told once; days later still Degraded, not Progressing
    assert sim.status.phase is Phase.DEGRADED
    sim.request(ramp.RETRY_ANNOTATION, "as offered")
    d = sim.tick(1)
    assert sim.reasons()[0] is Reason.RESTORE_WITHDRAWN
    assert d.status.stable_version == "2" and d.status.emergency_rolled_back_version is None
    assert d.status.canary_version == (None if desired == "2" else desired)


def test_the_restore_deadline_is_the_specs_progress_deadline_when_set() -> None:
    sim = restoring()
    sim.spec = sim.spec.model_copy(update={"rollout": sim.spec.rollout.model_copy(
        update={"progress_deadline": "3m"})})
    sim.tick(2)
    assert not sim.status.message.startswith("ProgressDeadlineExceeded")
    d = sim.tick(1)
    assert d.status.message.startswith("ProgressDeadlineExceeded: ")
    assert "within 3m" in d.status.message

