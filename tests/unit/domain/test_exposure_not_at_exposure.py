"""``domain.exposure``: a ramp whose settings the runtime does not treat at.

Two cases, each a table of passes:

- the model's campaigns file cannot be written (``Observed.undelivered``): the runtime keeps its
  previous settings, so the step neither ends nor is promoted on the gates that judged them,
  while what only stops (an abort, a rollback, a budget suspension) still acts;
- the pass before refused the spec (``Observed.spec_was_refused``): the file carried the entry
  inactive at 0 %.

When either ends, the step starts again (its pause, deadline and gates from then), as a budget
renewal does: that time was not time at the step's exposure.
"""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.domain.test_exposure import SERVING, SPEC, T0

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignStatus
from uplift_operator.api.v1alpha1.common import Condition, GateVerdict, Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import parse_requests

# Steps 5 % (pause 1h), 25 % (6h), 100 %; progressDeadline 1d; one gate, judged at once.
ONE_GATE = SPEC.model_copy(update={
    "schedule": None,
    "economics": SPEC.economics.model_copy(update={"budget": None, "budget_period": None}),
    "exposure": SPEC.exposure.model_copy(update={
        "gates": [CampaignGate(name="delivery", type="deliveryRate")]})})
CAUSE = ("the campaigns file of UpliftModel 'm' cannot be written (403 forbidden): the runtime "
         "keeps its previous settings of this Campaign, if any")


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _gate(minutes: float, verdict: GateVerdict = GateVerdict.PASS) -> list[GateOutcome]:
    return [GateOutcome(name="delivery", verdict=verdict, message="m", time=_at(minutes))]


def _decide(status: CampaignStatus, minutes: float, *, gates: list[GateOutcome] | None = None,
            undelivered: str | None = None, refused: bool = False,
            requests: dict[str, str] | None = None,
            carried_since: dt.datetime | None = None) -> exposure.Decision:
    observed = exposure.Observed(model=SERVING, generation=1, gate_outcomes=gates,
                                 undelivered=undelivered, spec_was_refused=refused,
                                 requests=parse_requests(requests or {}),
                                 carried_since=carried_since)
    return exposure.decide(ONE_GATE, status, observed, _at(minutes))


def _delivered(status: CampaignStatus, problem: str | None, minutes: float) -> CampaignStatus:
    """The status with ``SettingsDelivered`` as the service sets it after ``decide``."""
    conditions = exposure.settings_delivered(status.conditions, problem, 1, _at(minutes))
    return status.model_copy(update={"conditions": conditions})


def _passed_step_one() -> CampaignStatus:
    """Step 1 (5 %, pause 1h) started at T0, its gate passed at +5m."""
    started = _decide(CampaignStatus(), 0).status
    passed = _decide(started, 5, gates=_gate(5)).status
    assert (passed.current_step, passed.exposure_percent) == (0, 5)
    return passed


# -- a campaigns file that cannot be written ----------------------------------------------------

def test_the_step_is_held_while_its_settings_cannot_be_delivered() -> None:
    held = _delivered(_decide(_passed_step_one(), 10, undelivered=CAUSE).status, CAUSE, 10)
    later = _decide(held, 70, gates=_gate(70), undelivered=CAUSE)  # gates pass, pause elapsed
    s = later.status
    assert (s.current_step, s.exposure_percent, s.phase) == (0, 5, Phase.PROGRESSING)
    assert [e.reason.value for e in later.events] == []
    assert s.message == f"exposure 5% at step 1/3: waiting ({CAUSE})"
    # Ready as it was: the campaigns file keeps treating at 5 % (``treating``).
    assert cond.find(s.conditions, cond.READY) == cond.find(held.conditions, cond.READY)
    assert exposure.treating(s)
    # A pass re-run on its own output changes nothing.
    assert _decide(s, 70, gates=_gate(70), undelivered=CAUSE).status == s


@pytest.mark.parametrize(("request_", "acted", "exposure_after"), [
    ({"uplift.dev/promote": "step"}, "ManualPromote", 5),  # ignored: refused
    ({"uplift.dev/promote": "full"}, "ManualPromote", 5),
    ({"uplift.dev/abort": "a"}, "ManualAbort", 0),  # acted on: it only stops
    ({"uplift.dev/emergency-rollback": "e"}, "EmergencyRollback", 0),
])
def test_requests_while_undelivered(request_: dict[str, str], acted: str,
                                    exposure_after: float) -> None:
    held = _decide(_passed_step_one(), 10, undelivered=CAUSE, requests=request_)
    assert held.status.exposure_percent == exposure_after
    event = held.events[0]
    assert event.reason.value == acted
    if exposure_after:
        assert event.type == "Warning" and not event.decision and CAUSE in event.message


def test_a_failing_gate_still_rolls_back_while_undelivered() -> None:
    failed = _decide(_passed_step_one(), 10, gates=_gate(10, GateVerdict.FAIL),
                     undelivered=CAUSE).status
    assert (failed.exposure_percent, failed.current_step, failed.phase) == (0, None,
                                                                            Phase.DEGRADED)


def test_the_step_starts_again_once_delivered() -> None:
    held = _delivered(_decide(_passed_step_one(), 10, undelivered=CAUSE).status, CAUSE, 10)
    held = _decide(held, 70, gates=_gate(70), undelivered=CAUSE).status
    # Written again at +3h, with an analysis that passed: no advance, the step starts again.
    again = _decide(held, 180, gates=_gate(180))
    s = again.status
    assert (s.current_step, s.exposure_percent, s.step_started_at) == (0, 5, _at(180))
    assert [e.reason.value for e in again.events] == []
    assert s.message == "exposure 5% at step 1/3: waiting (waiting for an analysis)"
    s = _delivered(s, None, 180)
    written = cond.find(s.conditions, cond.SETTINGS_DELIVERED)
    assert written is not None and written.reason == cond.FILE_WRITTEN
    # Re-run: nothing more (the condition says True now).
    assert _decide(s, 180, gates=_gate(180)).status.step_started_at == _at(180)
    # Its gates pass at the new step, its pause (1h) runs from +3h: not before +4h.
    s = _decide(s, 185, gates=_gate(185)).status
    assert (s.current_step, s.exposure_percent) == (0, 5)
    s = _decide(s, 240, gates=_gate(240)).status
    assert (s.current_step, s.exposure_percent) == (1, 25)


def test_a_campaign_never_undelivered_is_not_restarted() -> None:
    # SettingsDelivered True (written again before): no restart.
    status = _passed_step_one()
    status = status.model_copy(update={"conditions": [*status.conditions, Condition(
        type=cond.SETTINGS_DELIVERED, status="True", reason=cond.FILE_WRITTEN, message="",
        lastTransitionTime=T0)]})
    s = _decide(status, 70, gates=_gate(70)).status
    assert (s.current_step, s.exposure_percent) == (1, 25)


def test_an_edit_given_room_at_last_starts_the_step_again() -> None:
    # False CampaignsFileFull with the ramp underway: the file carried the entry from before a
    # spec edit it had no room for (the ramp held at its exposure on those settings); room
    # made, the edit reaches the runtime: the step starts over there, as after a failed write.
    status = _passed_step_one()
    status = status.model_copy(update={"conditions": [*status.conditions, Condition(
        type=cond.SETTINGS_DELIVERED, status="False", reason=cond.CAMPAIGNS_FILE_FULL,
        message="full", lastTransitionTime=T0)]})
    s = _decide(status, 70, gates=_gate(70)).status
    assert (s.current_step, s.exposure_percent, s.step_started_at) == (0, 5, _at(70))


# -- a file whose failed writes left this Campaign's entry as it was ---------------------------

def _held_from(status: CampaignStatus, minutes: float) -> CampaignStatus:
    """``status`` after the pass that finds the file unwritable at ``minutes``, with the
    condition the service then sets (False since then)."""
    return _delivered(_decide(status, minutes, undelivered=CAUSE).status, CAUSE, minutes)


def test_a_step_whose_level_stayed_at_the_pods_is_not_started_over() -> None:
    # Step 1 passed at +5m; the file unwritable from +10m (the failed writes were other
    # Campaigns' changes: the ConfigMap carried this one's entry since +8m, all along).
    held = _decide(_held_from(_passed_step_one(), 10), 70, gates=_gate(70), undelivered=CAUSE)
    assert (held.status.current_step, held.status.step_started_at) == (0, T0)
    # Written again at +75m, its gate passing at +75m and its pause (1h) over: the step
    # ends in that pass, on the time and evidence at its exposure through the hold.
    again = _decide(held.status, 75, gates=_gate(75), carried_since=_at(8))
    s = again.status
    assert (s.current_step, s.exposure_percent, s.step_started_at) == (1, 25, _at(75))
    assert [e.reason.value for e in again.events] == ["StepAdvanced"]


@pytest.mark.parametrize("carried_since", [None, _at(12), _at(75)])
def test_a_step_whose_level_may_not_have_reached_the_pods_starts_over(
        carried_since: dt.datetime | None) -> None:
    # Not known (None: a restart since, the ConfigMap gone or someone else's meanwhile), or
    # carried only since after the hold began (+12m: its own change was among those not
    # written) or since the write that ended it (+75m).
    held = _decide(_held_from(_passed_step_one(), 10), 70, gates=_gate(70), undelivered=CAUSE)
    again = _decide(held.status, 75, gates=_gate(75), carried_since=carried_since)
    s = again.status
    assert (s.current_step, s.exposure_percent, s.step_started_at) == (0, 5, _at(75))
    assert [e.reason.value for e in again.events] == []


def _at_last_step() -> tuple[CampaignStatus, float]:
    """The ramp walked to its last step (100 %, no pause: it ends on a promote), its gate
    Inconclusive there; the minute of the next pass."""
    s, minutes = _decide(CampaignStatus(), 0).status, 5.0
    while s.current_step != 2:
        s = _decide(s, minutes, gates=_gate(minutes)).status
        minutes += 30
    s = _decide(s, minutes, gates=_stuck(minutes)).status
    assert (s.current_step, s.exposure_percent, s.gates[0].verdict) == (
        2, 100, GateVerdict.INCONCLUSIVE)
    return s, minutes + 5


def _reasons(decision: exposure.Decision) -> list[str]:
    return [e.reason.value for e in decision.events]


def test_a_no_pause_step_says_analysis_passed_once_when_its_gates_pass() -> None:
    s, minutes = _at_last_step()
    passed = _decide(s, minutes, gates=_gate(minutes))
    assert _reasons(passed) == ["AnalysisPassed"]
    s = passed.status
    for later in (minutes + 5, minutes + 10):
        d = _decide(s, later, gates=_gate(later))
        assert _reasons(d) == []
        assert "annotate --overwrite uplift.dev/promote=step:$(date +%s)" in d.status.message
        s = d.status


def test_a_no_pause_step_whose_gates_passed_while_undelivered_says_so_once_written() -> None:
    """Its gates pass while the campaigns file cannot be written (no ``AnalysisPassed`` then:
    the step cannot move); the pass that finds it written again (its entry carried all
    along, so the step goes on) says it, once. The step waits for a promote: nothing else
    would tell on-call its gates passed."""
    s, minutes = _at_last_step()
    s = _held_from(s, minutes)
    held = _decide(s, minutes + 5, gates=_gate(minutes + 5), undelivered=CAUSE)
    assert _reasons(held) == [] and held.status.gates[0].verdict is GateVerdict.PASS
    assert held.status.passed_while_held_at == _at(minutes + 5)
    written = _decide(held.status, minutes + 10, carried_since=_at(minutes - 10))
    assert _reasons(written) == ["AnalysisPassed"]
    assert "every gate passed for exposure 100% at step 3/3" in written.events[0].message
    assert written.status.passed_while_held_at is None
    assert "annotate --overwrite uplift.dev/promote=step:$(date +%s)" in written.status.message
    s = _delivered(written.status, None, minutes + 10)
    for later in (minutes + 15, minutes + 20, minutes + 25):
        d = _decide(s, later, gates=_gate(later))
        assert _reasons(d) == []
        s = d.status


def test_a_step_started_over_when_written_says_nothing_of_the_gates_before() -> None:
    """Not carried all along: the step starts over at the write, its gates to pass again at
    it; what passed during the hold is not told."""
    s, minutes = _at_last_step()
    held = _decide(_held_from(s, minutes), minutes + 5, gates=_gate(minutes + 5),
                   undelivered=CAUSE)
    written = _decide(held.status, minutes + 10)
    assert _reasons(written) == [] and written.status.step_started_at == _at(minutes + 10)
    s = _delivered(written.status, None, minutes + 10)
    later = _decide(s, minutes + 15)
    assert _reasons(later) == [] and later.status.passed_while_held_at is None
    assert _reasons(_decide(later.status, minutes + 20, gates=_gate(minutes + 20))) == [
        "AnalysisPassed"]


# -- progressDeadline while the file cannot be written -------------------------------------------

DAY = 24 * 60


def _stuck(minutes: float) -> list[GateOutcome]:
    return _gate(minutes, GateVerdict.INCONCLUSIVE)


@pytest.mark.parametrize("carried", [True, False])
def test_the_deadline_does_not_run_while_the_file_cannot_be_written(carried: bool) -> None:
    # Step 1 (pause 1h, progressDeadline 1d) started at T0, its gate Inconclusive; the file
    # unwritable from +10m for two days: past the deadline (+1d1h) many times over.
    started = _decide(CampaignStatus(), 0).status
    s = _held_from(_decide(started, 5, gates=_stuck(5)).status, 10)
    for minutes in (DAY + 61, 2 * DAY):
        held = _decide(s, minutes, gates=_stuck(minutes), undelivered=CAUSE)
        assert "ProgressDeadlineExceeded" not in [e.reason.value for e in held.events]
        assert held.status.phase is Phase.PROGRESSING
        assert all(r.action != "ProgressDeadlineExceeded" for r in held.status.history)
        # No pass asked for at a deadline that does not run.
        assert held.requeue_after == dt.timedelta(minutes=5)
        s = held.status
    # Written again at +2d: neither Degraded nor rolled back for the deadline, in that pass
    # or the next (carried all along: the step goes on; not: it starts over).
    written = _decide(s, 2 * DAY + 1, gates=_stuck(2 * DAY + 1),
                      carried_since=_at(8) if carried else None)
    s = written.status
    assert s.phase is Phase.PROGRESSING and s.current_step == 0 and s.exposure_percent == 5
    assert [e.reason.value for e in written.events] == []
    assert s.step_started_at == (T0 if carried else _at(2 * DAY + 1))
    s = _delivered(s, None, 2 * DAY + 1)
    s = _decide(s, 2 * DAY + 10, gates=_stuck(2 * DAY + 10)).status
    assert s.phase is Phase.PROGRESSING
    # Really stuck after it: the deadline runs from the write (carried: the pause was over
    # long before) or from the new step's pause end, and is exceeded a day later, not before.
    runs_from = 2 * DAY + 1 + (0 if carried else 60)
    s = _decide(s, runs_from + DAY - 1, gates=_stuck(runs_from + DAY - 1)).status
    assert s.phase is Phase.PROGRESSING
    late = _decide(s, runs_from + DAY + 1, gates=_stuck(runs_from + DAY + 1))
    exceeded = [e for e in late.events if e.reason.value == "ProgressDeadlineExceeded"]
    assert len(exceeded) == 1 and late.status.phase is Phase.DEGRADED
    assert late.status.exposure_percent == 5  # Degraded, never rolled back for it
    when = ("the campaigns file was written again" if carried
            else "the step's pause ended")
    assert f"since {_at(runs_from).isoformat()}, when {when}" in exceeded[0].message


def _exceeded() -> CampaignStatus:
    """Step 1 (pause 1h, progressDeadline 1d) stuck since T0, past its deadline at +1d1h:
    Degraded, said and recorded once."""
    started = _decide(CampaignStatus(), 0).status
    s = _decide(started, 5, gates=_stuck(5)).status
    late = _decide(s, DAY + 61, gates=_stuck(DAY + 61))
    assert late.status.phase is Phase.DEGRADED
    assert [e.reason.value for e in late.events] == ["ProgressDeadlineExceeded"]
    return late.status


def _deadline_records(status: CampaignStatus) -> list[dt.datetime]:
    return [r.time for r in status.history if r.action == "ProgressDeadlineExceeded"]


def test_a_step_past_its_deadline_stays_past_it_through_a_file_failure() -> None:
    """Already past its deadline when its campaigns file fails for a minute (its entry carried
    all along): the hold forgives none of that. Degraded through the hold and after the
    write, its message naming the file while it blocks; no second event or record, in the
    write's pass, the next, or a day after (a brief failure cleared the page and gave the step
    a whole deadline more, and its second exceedance was never said)."""
    s = _held_from(_exceeded(), DAY + 70)
    held = _decide(s, DAY + 75, gates=_stuck(DAY + 75), undelivered=CAUSE)
    assert held.status.phase is Phase.DEGRADED and not held.events
    assert held.status.message.startswith("ProgressDeadlineExceeded") and CAUSE in held.status.message
    written = _decide(held.status, DAY + 76, gates=_stuck(DAY + 76), carried_since=_at(8))
    assert written.status.step_started_at == T0  # carried all along: the step goes on
    assert written.status.phase is Phase.DEGRADED and not written.events
    s = _delivered(written.status, None, DAY + 76)
    for minutes in (DAY + 80, 2 * DAY + 80):
        d = _decide(s, minutes, gates=_stuck(minutes))
        assert d.status.phase is Phase.DEGRADED and not d.events
        s = d.status
    assert _deadline_records(s) == [_at(DAY + 61)]
    # Its gate passes, its pause long over: the step moves on as ever.
    moved = _decide(s, 2 * DAY + 85, gates=_gate(2 * DAY + 85))
    assert (moved.status.current_step, moved.status.phase) == (1, Phase.PROGRESSING)


def test_a_step_past_its_deadline_started_over_by_the_write_has_a_new_deadline() -> None:
    """Not carried all along: the write starts the step over, and its deadline with it (its
    gates count afresh); stuck a deadline after the new pause, said and recorded again."""
    held = _decide(_held_from(_exceeded(), DAY + 70), DAY + 75, gates=_stuck(DAY + 75),
                   undelivered=CAUSE)
    written = _decide(held.status, DAY + 76, gates=_stuck(DAY + 76))
    assert written.status.step_started_at == _at(DAY + 76)
    assert written.status.phase is Phase.PROGRESSING and not written.events
    s = _delivered(written.status, None, DAY + 76)
    runs_from = DAY + 76 + 60
    s = _decide(s, runs_from + DAY - 1, gates=_stuck(runs_from + DAY - 1)).status
    assert s.phase is Phase.PROGRESSING
    late = _decide(s, runs_from + DAY + 1, gates=_stuck(runs_from + DAY + 1))
    assert [e.reason.value for e in late.events] == ["ProgressDeadlineExceeded"]
    assert _deadline_records(late.status) == [_at(DAY + 61), _at(runs_from + DAY + 1)]


def test_a_really_stuck_step_still_hits_its_deadline() -> None:
    # The same gate, the file always written: exceeded at +1d1h, as ever.
    started = _decide(CampaignStatus(), 0).status
    s = _decide(started, 5, gates=_stuck(5)).status
    s = _decide(s, DAY + 59, gates=_stuck(DAY + 59)).status
    assert s.phase is Phase.PROGRESSING
    late = _decide(s, DAY + 61, gates=_stuck(DAY + 61))
    assert "ProgressDeadlineExceeded" in [e.reason.value for e in late.events]
    assert late.status.phase is Phase.DEGRADED


# -- not known yet (a restart) ------------------------------------------------------------------

def _stored(status: str, reason: str) -> list[Condition]:
    return [Condition(type=cond.SETTINGS_DELIVERED, status=status, reason=reason,
                      message="said before", lastTransitionTime=T0)]


@pytest.mark.parametrize(("stored", "known", "held"), [
    ([], "cause now", "cause now"),
    (_stored("False", cond.FILE_NOT_WRITTEN), None, None),  # known: written
    (_stored("False", cond.FILE_NOT_WRITTEN), exposure.NOT_KNOWN_YET, "said before"),
    (_stored("True", cond.FILE_WRITTEN), exposure.NOT_KNOWN_YET, None),
    (_stored("False", cond.CAMPAIGNS_FILE_FULL), exposure.NOT_KNOWN_YET, None),
    ([], exposure.NOT_KNOWN_YET, None),
])
def test_what_the_ramp_holds_for(stored: list[Condition], known: str | exposure.NotKnownYet | None,
                                 held: str | None) -> None:
    assert exposure.undelivered(stored, known) == held


@pytest.mark.parametrize("stored", [
    [], _stored("False", cond.FILE_NOT_WRITTEN), _stored("True", cond.FILE_WRITTEN)])
def test_settings_delivered_is_kept_while_not_known(stored: list[Condition]) -> None:
    assert exposure.settings_delivered(stored, exposure.NOT_KNOWN_YET, 2, _at(9)) == stored


# -- a spec refused, then fixed ------------------------------------------------------------------

def test_a_fixed_spec_starts_the_step_again() -> None:
    # Step 1 passed at +5m; the spec refused from +10m to +3h (the service's invalid path
    # keeps the status; the file carries the entry inactive at 0 %).
    fixed = _decide(_passed_step_one(), 180, refused=True)
    s = fixed.status
    assert (s.current_step, s.exposure_percent, s.step_started_at) == (0, 5, _at(180))
    assert [e.reason.value for e in fixed.events] == []
    # Its pause runs again: a pass at +3h05 with its gate passing does not advance.
    s = _decide(s, 185, gates=_gate(185)).status
    assert (s.current_step, s.exposure_percent) == (0, 5)
    s = _decide(s, 241, gates=_gate(241)).status
    assert (s.current_step, s.exposure_percent) == (1, 25)


def test_a_fixed_spec_is_no_step_past_its_deadline() -> None:
    started = _decide(CampaignStatus(), 0).status
    waiting = _decide(started, 5, gates=_gate(5, GateVerdict.INCONCLUSIVE)).status
    assert waiting.gates[0].inconclusives == 1
    # Refused for two days (progressDeadline 1d), fixed with an Inconclusive measured over it.
    two_days = 2 * 24 * 60
    fixed = _decide(waiting, two_days, gates=_gate(two_days, GateVerdict.INCONCLUSIVE),
                    refused=True)
    s = fixed.status
    assert [e.reason.value for e in fixed.events] == []
    assert s.phase is Phase.PROGRESSING and s.step_started_at == _at(two_days)
    # The outcome measured over the refusal is dropped; the gate counts afresh, its Fails kept.
    assert (s.gates[0].inconclusives, s.last_analysis_at) == (0, _at(5))
    # The deadline runs from the step's new pause end: exceeded a day after that, not before.
    late = _decide(s, two_days + 60 + 24 * 60 + 1, gates=_gate(two_days + 60 + 24 * 60 + 1,
                                                                 GateVerdict.INCONCLUSIVE))
    assert "ProgressDeadlineExceeded" in [e.reason.value for e in late.events]


def test_a_fixed_spec_keeps_the_gates_fails() -> None:
    manual = ONE_GATE.model_copy(update={"rollback": ONE_GATE.rollback.model_copy(
        update={"mode": "Manual"})})
    observed = exposure.Observed(model=SERVING, generation=1)
    started = exposure.decide(manual, CampaignStatus(), observed, _at(0)).status
    failed = exposure.decide(manual, started, exposure.Observed(
        model=SERVING, generation=1, gate_outcomes=_gate(5, GateVerdict.FAIL)), _at(5)).status
    assert failed.phase is Phase.PAUSED and failed.gates[0].failures == 1
    fixed = exposure.decide(manual, failed, exposure.Observed(
        model=SERVING, generation=1, spec_was_refused=True), _at(180)).status
    # The rollback a gate demanded still stands.
    assert fixed.phase is Phase.PAUSED and fixed.gates[0].failures == 1
    assert fixed.step_started_at == _at(180)
