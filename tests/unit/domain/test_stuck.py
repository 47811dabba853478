"""The published phase (``domain.stuck``): Degraded once a condition saying the spec has not
taken effect has held past the grace (5 minutes, or a shorter progressDeadline), naming the
condition, its reason and since when before what the ramp says; the ramp's phase before the
grace, and again at once when the condition clears; Paused as it is; Degraded stays Degraded,
the condition named after the ramp's own words."""

from __future__ import annotations

import datetime as dt

import pytest

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import stuck
from uplift_operator.domain.conditions import ConditionStatus

T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
SERVES = "version 1 serves all traffic"


def condition(type_: str, status: ConditionStatus, reason: str, message: str = "why") -> Condition:
    return Condition(type=type_, status=status, reason=reason, message=message,
                     last_transition_time=T0)


FAILED = condition("ServingFailed", "True", "ServingBackendFailed",
                   "canary 2 not serving: SeldonDeployment Failed: CrashLoopBackOff")
REFUSED = condition("ServingApplied", "False", "ApplyFailed", "seldondeployments is forbidden")
MISSING = condition("ModelResolved", "False", "ModelNotFound", "version 9 of hillstrom not found")
MODEL_CASES = [FAILED, REFUSED, MISSING]


@pytest.mark.parametrize("problem", MODEL_CASES, ids=["serving-failed", "apply-failed",
                                                     "model-not-found"])
@pytest.mark.parametrize("phase", [Phase.HEALTHY, Phase.PROGRESSING])
def test_a_model_problem_is_degraded_only_past_the_grace(problem: Condition, phase: Phase) -> None:
    within = stuck.model_phase(phase, SERVES, [problem], None, T0 + dt.timedelta(minutes=4))
    assert (within.phase, within.message) == (phase, SERVES)
    assert within.due == T0 + dt.timedelta(minutes=5)  # a pass is due when the grace ends
    past = stuck.model_phase(phase, SERVES, [problem], None, T0 + dt.timedelta(minutes=5))
    assert past.phase is Phase.DEGRADED and past.due is None
    assert past.message == (f"{problem.type} {problem.status} ({problem.reason}) since "
                            f"{T0.isoformat()}: {problem.message}; {SERVES}")


@pytest.mark.parametrize(("reason", "message", "stuck_past_grace"), [
    pytest.param("ModelNotFound", "version 33 of hillstrom not found", True, id="not-found"),
    pytest.param("VersionFailed", "version 4 of hillstrom is FAILED_REGISTRATION, not READY",
                 True, id="registration-failed"),
    pytest.param("InvalidModel", "reading what version 3 takes and scores: the MLmodel of "
                 "version 3 of hillstrom is not readable", True, id="mlmodel-unreadable"),
    pytest.param("CredentialsUnreadable", "credentials: get secret shop/creds: 404", True,
                 id="secret-missing"),
    pytest.param("CredentialsRefused", "MLflow denied permission to the credentials' user "
                 "(HTTP 403): Permission denied; the credentials are Secret shop/creds's "
                 "(tokenKey token)", True, id="credentials-refused"),
    pytest.param("VersionNotReady", "version 4 of hillstrom is PENDING_REGISTRATION, not READY",
                 False, id="uploading"),
    pytest.param("RegistryUnavailable", "MLflow at http://mlflow is unreachable", False,
                 id="mlflow-down"),
])
@pytest.mark.parametrize("phase", [Phase.HEALTHY, Phase.PROGRESSING])
def test_an_unresolved_reference_is_degraded_past_the_grace_unless_it_clears_by_itself(
        reason: str, message: str, stuck_past_grace: bool, phase: Phase) -> None:
    """A reason that does not clear by itself is a problem (``UNRESOLVED_PROBLEMS``); an
    outage and an upload are waited for, however long."""
    unresolved = condition("ModelResolved", "False", reason, message)
    within = stuck.model_phase(phase, SERVES, [unresolved], None, T0 + dt.timedelta(minutes=4))
    assert within.phase is phase
    past = stuck.model_phase(phase, SERVES, [unresolved], None, T0 + dt.timedelta(hours=1))
    if not stuck_past_grace:
        assert past == stuck.Published(phase, SERVES)
        return
    assert past.phase is Phase.DEGRADED
    assert past.message.startswith(f"ModelResolved False ({reason}) since {T0.isoformat()}: "
                                   f"{message}")


@pytest.mark.parametrize("healthy", [
    pytest.param(condition("ServingFailed", "False", "ServingRecovered"), id="recovered"),
    pytest.param(condition("ServingApplied", "True", "Applied"), id="applied"),
    pytest.param(condition("ServingApplied", "False", "RollQueued"), id="roll-queued"),
    pytest.param(condition("ModelResolved", "True", "Resolved"), id="resolved"),
    pytest.param(condition("ModelResolved", "False", "RegistryUnavailable"), id="mlflow-down"),
    pytest.param(condition("ModelResolved", "False", "VersionNotReady"), id="uploading"),
    pytest.param(condition("RegistryWrittenBack", "False", "WriteBackFailed"), id="write-back"),
    pytest.param(condition("SettingsDelivered", "False", "FileNotWritten"), id="campaign-only"),
])
def test_other_condition_states_leave_a_model_s_phase_as_the_ramp_says(
        healthy: Condition) -> None:
    """Recovery included: once the condition clears, the ramp's phase is published at once."""
    later = T0 + dt.timedelta(hours=1)
    assert stuck.model_phase(Phase.HEALTHY, SERVES, [healthy], None, later) == stuck.Published(
        Phase.HEALTHY, SERVES)


@pytest.mark.parametrize("phase", [Phase.PAUSED, None])
def test_a_paused_model_is_left_as_it_is(phase: Phase | None) -> None:
    """A refused graph and an unresolved reference wait for the human the pause awaits (a
    failed graph outranks a pause: ``test_paused_canary.py``)."""
    said = "canary 2 at step 1/3 (10%) paused: gate lat inconclusive (3 times, ...)"
    published = stuck.model_phase(phase, said, [REFUSED, MISSING], None,
                                  T0 + dt.timedelta(hours=1))
    assert published == stuck.Published(phase, said)


ROLLED_BACK = ("version 2 was rolled back (gate lat Fail: ...); stable 1 serves. Set a new "
               "version or retry with `kubectl uplift retry m` (or annotate "
               "uplift.dev/retry=<token>)")
DEADLINE = "ProgressDeadlineExceeded: canary 2 at step 1/3 could not advance (gates: lat Fail)"


@pytest.mark.parametrize("said", [ROLLED_BACK, DEADLINE], ids=["rolled-back", "deadline"])
@pytest.mark.parametrize("problem", MODEL_CASES, ids=["serving-failed", "apply-failed",
                                                     "model-not-found"])
def test_a_degraded_model_names_a_problem_held_past_the_grace_after_its_own_words(
        said: str, problem: Condition) -> None:
    """A rollback whose serving graph the API server refuses: the ramp decided Degraded and
    "stable 1 serves", and that was all the message said while the canary kept its traffic.
    The ramp's words stay first (the deadline metric reads the ProgressDeadlineExceeded
    prefix)."""
    within = stuck.model_phase(Phase.DEGRADED, said, [problem], None,
                               T0 + dt.timedelta(minutes=4))
    # No pass of its own at the grace's end: only the words change, at the next pass.
    assert within == stuck.Published(Phase.DEGRADED, said)
    past = stuck.model_phase(Phase.DEGRADED, said, [problem], None, T0 + dt.timedelta(hours=1))
    assert past == stuck.Published(Phase.DEGRADED, (
        f"{said}; {problem.type} {problem.status} ({problem.reason}) since {T0.isoformat()}: "
        f"{problem.message}"))


def test_a_degraded_model_s_long_words_are_clipped_so_that_the_problem_is_said() -> None:
    said = "ProgressDeadlineExceeded: " + "x" * 5000
    published = stuck.model_phase(Phase.DEGRADED, said, [REFUSED], None,
                                  T0 + dt.timedelta(minutes=5))
    assert len(published.message) <= 4000
    assert published.message.startswith("ProgressDeadlineExceeded: xxx")
    assert published.message.endswith(f"…; ServingApplied False (ApplyFailed) since "
                                      f"{T0.isoformat()}: {REFUSED.message}")


CAMPAIGN_PROBLEM = condition("SettingsDelivered", "False", "FileNotWritten",
                             "the campaigns file of UpliftModel 'm' cannot be written (403)")


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.HEALTHY, Phase.SUSPENDED,
                                   Phase.COMPLETED])
def test_a_campaign_s_undelivered_settings_are_degraded_past_the_grace(phase: Phase) -> None:
    said = "exposure ramp complete: 50% of eligible units exposed"
    within = stuck.campaign_phase(phase, said, [CAMPAIGN_PROBLEM], None,
                                  T0 + dt.timedelta(minutes=4, seconds=59))
    assert (within.phase, within.message) == (phase, said)
    past = stuck.campaign_phase(phase, said, [CAMPAIGN_PROBLEM], None,
                                T0 + dt.timedelta(minutes=5))
    assert past.phase is Phase.DEGRADED
    assert past.message.startswith("SettingsDelivered False (FileNotWritten) since ")
    assert past.message.endswith(f"{CAMPAIGN_PROBLEM.message}; {said}")


@pytest.mark.parametrize("reason", ["CampaignsFileFull", "CampaignNotCarried"])
def test_a_campaign_the_file_does_not_carry_is_degraded_past_the_grace(reason: str) -> None:
    left_out = condition("SettingsDelivered", "False", reason, "no room")
    published = stuck.campaign_phase(Phase.PROGRESSING, "exposure 0%: no room", [left_out],
                                     None, T0 + dt.timedelta(minutes=6))
    assert published.phase is Phase.DEGRADED and f"({reason})" in published.message


MODEL_NOT_FOUND = condition("ModelServing", "False", "ModelNotFound",
                            "UpliftModel 'm' not found")


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.SUSPENDED])
def test_a_campaign_whose_model_is_not_found_is_degraded_past_the_grace(phase: Phase) -> None:
    """A modelRef that never resolves (a typo in Git) is Degraded as an UpliftModel's version
    that does not resolve is, not an endless Progressing (docs/install.md, Argo CD)."""
    said = "exposure 0%: UpliftModel 'm' not found"
    within = stuck.campaign_phase(phase, said, [MODEL_NOT_FOUND], "1d",
                                  T0 + dt.timedelta(minutes=4, seconds=59))
    assert (within.phase, within.message, within.due) == (
        phase, said, T0 + dt.timedelta(minutes=5))
    past = stuck.campaign_phase(phase, said, [MODEL_NOT_FOUND], "1d",
                                T0 + dt.timedelta(minutes=5))
    assert past.phase is Phase.DEGRADED
    # The ramp's message quotes the condition's: not said twice.
    assert past.message == f"ModelServing False (ModelNotFound) since {T0.isoformat()}; {said}"


def test_a_completed_campaign_whose_model_is_gone_and_a_model_not_serving_are_left_as_they_are(
        ) -> None:
    later = T0 + dt.timedelta(days=30)
    # Its schedule ended: nothing treats under it, nothing needs fixing.
    assert stuck.campaign_phase(Phase.COMPLETED, "done", [MODEL_NOT_FOUND], None,
                                later) == stuck.Published(Phase.COMPLETED, "done")
    # A model that exists but serves nothing yet (its first version rolling out) is its own
    # UpliftModel's to report.
    not_serving = condition("ModelServing", "False", "ModelNotServing", "nothing serving")
    assert stuck.campaign_phase(Phase.PROGRESSING, "waiting", [not_serving], None,
                                later) == stuck.Published(Phase.PROGRESSING, "waiting")


def test_a_paused_campaign_is_left_as_it_is() -> None:
    published = stuck.campaign_phase(Phase.PAUSED, "held", [CAMPAIGN_PROBLEM], None,
                                     T0 + dt.timedelta(hours=1))
    assert published == stuck.Published(Phase.PAUSED, "held")


def test_a_rolled_back_campaign_whose_settings_are_not_delivered_says_so_after_its_words(
        ) -> None:
    """Its 0 % has not reached the pods, which treat at the exposure they had."""
    said = "exposure 0%: rolled back (gate roi Fail: ...). Change the spec or retry with ..."
    published = stuck.campaign_phase(Phase.DEGRADED, said, [CAMPAIGN_PROBLEM], None,
                                     T0 + dt.timedelta(hours=1))
    assert published.phase is Phase.DEGRADED
    assert published.message == (f"{said}; SettingsDelivered False (FileNotWritten) since "
                                 f"{T0.isoformat()}: {CAMPAIGN_PROBLEM.message}")


def test_model_problems_do_not_degrade_a_campaign_nor_the_reverse() -> None:
    later = T0 + dt.timedelta(hours=1)
    assert stuck.campaign_phase(Phase.HEALTHY, "ok", MODEL_CASES, None,
                                later).phase is Phase.HEALTHY
    assert stuck.model_phase(Phase.HEALTHY, "ok", [CAMPAIGN_PROBLEM], None,
                             later).phase is Phase.HEALTHY


@pytest.mark.parametrize(("deadline", "grace"), [
    (None, dt.timedelta(minutes=5)),
    ("2m", dt.timedelta(minutes=2)),
    ("5m", dt.timedelta(minutes=5)),
    ("1h", dt.timedelta(minutes=5)),
])
def test_the_grace_is_five_minutes_or_a_shorter_progress_deadline(
        deadline: str | None, grace: dt.timedelta) -> None:
    assert stuck.grace(deadline) == grace
    problem = REFUSED
    just_before = T0 + grace - dt.timedelta(seconds=1)
    assert stuck.model_phase(Phase.PROGRESSING, "x", [problem], deadline,
                             just_before).phase is Phase.PROGRESSING
    assert stuck.model_phase(Phase.PROGRESSING, "x", [problem], deadline,
                             T0 + grace).phase is Phase.DEGRADED
    assert stuck.campaign_phase(Phase.HEALTHY, "x", [CAMPAIGN_PROBLEM], deadline,
                                T0 + grace).phase is Phase.DEGRADED


def test_every_problem_past_its_grace_is_named_and_the_earliest_grace_end_still_to_come_is_due(
        ) -> None:
    newer = MISSING.model_copy(update={"last_transition_time": T0 + dt.timedelta(minutes=3)})
    published = stuck.model_phase(Phase.HEALTHY, SERVES, [FAILED, REFUSED, newer], None,
                                  T0 + dt.timedelta(minutes=6))
    assert published.phase is Phase.DEGRADED
    assert published.message.startswith("ServingFailed True (ServingBackendFailed)")
    assert "; ServingApplied False (ApplyFailed)" in published.message
    assert "ModelResolved" not in published.message  # within its own grace still
    assert published.due == T0 + dt.timedelta(minutes=8)


def test_a_cause_the_ramp_s_message_already_quotes_is_not_said_twice() -> None:
    missing = MISSING
    said = f"{SERVES}; the model reference does not resolve now: ModelNotFound: {missing.message}"
    published = stuck.model_phase(Phase.HEALTHY, said, [missing], None,
                                  T0 + dt.timedelta(minutes=5))
    assert published.message == (f"ModelResolved False (ModelNotFound) since {T0.isoformat()}; "
                                 f"{said}")
    assert published.message.count(missing.message) == 1


def test_a_long_cause_is_clipped_so_that_what_serves_is_still_said() -> None:
    long = condition("ServingApplied", "False", "ApplyFailed", "x" * 4000)
    published = stuck.model_phase(Phase.HEALTHY, SERVES, [long], None,
                                  T0 + dt.timedelta(minutes=5))
    assert published.message.endswith(f"…; {SERVES}") and len(published.message) <= 4000
