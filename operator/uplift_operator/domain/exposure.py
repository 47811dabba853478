"""The Campaign's part of the ramp: exposure percent, its UpliftModel, rollback to 0 %.

Role: on top of the shared step machine (``domain.steps``), what only a campaign has: the level
is the percent of eligible units exposed (``spec.exposure.steps[].percent``); the ramp starts
when the referenced UpliftModel serves a stable version and is withdrawn (exposure 0, the reason
in status) when it serves nothing, is not found or is Degraded before serving (a rollback
``rollback.mode: Manual`` left pending stands through it: ``withdraw``); a rollback sets
exposure to 0 and holds it there for that spec generation (until a spec change or a retry), an
abort or emergency rollback of a campaign already at 0 % for a reason that clears by itself (its
model not serving, the schedule's start to come, a ramp not started) included, so it does not
start by itself later (``abort_exposure``); ``spec.exposure.paused`` holds a campaign that
exposes no one at 0 % (Paused, Ready reason ``Paused``), its ramp starting on the resume; the
last step passing completes the ramp, exposure staying at its percent. ``spec.exposure.steps``
edited mid-ramp serves the current step at no less than the percent the spec now gives it, the
step starting over when raised (``follow_step_level``), so the ramp never completes at a percent
no gate judged; a step added above the exposure a completed ramp holds reopens the ramp there,
gated as any step (``extend_completed_ramp``). The model moving to another stable version
mid-ramp holds the exposure and starts the step over on that version, the evidence about the
old one's decisions not carried into it, but for the counts of a rollback a gate demands that
``rollback.mode: Manual`` left pending, which stands (``follow_version``). ``model_observation``
reads the UpliftModel's status (a campaign already exposing holds through the model's invalid
spec and through its predictor's rollout; neither starts one);
``decide`` builds the whole new status, Ready and ModelServing
conditions included. ``spec.schedule`` bounds it in time (``now`` is passed in): before its
start exposure stays 0 % and the campaign is Suspended ("starts at …"); past its end exposure
is withdrawn to 0 %, no analysis runs any more (so the last results stay in status as they
were) and the campaign is Completed (Ready reason ``ScheduleEnded``), whatever its gates say.
``treating`` tells the campaigns file (``render.campaigns``) whether the runtime may treat under
the campaign at all. A treatment the model's served version does not score
(``missing_treatments``, from the version's treatments tag: the runtime rejects such an entry,
keeping its last good settings of the campaign or not serving it) holds the campaign where it
is — no start, no advance, no promote, nothing withdrawn — with Ready ``TreatmentNotServed``
naming it, until the model serves a version that scores it or the spec drops it.
A campaigns file that cannot be written, or that carries the campaign's entry from before a
spec edit it has no room for (``Observed.undelivered``: the runtime keeps its previous
settings) holds the step the same way — no advance, no completion, no promote — while what
only stops (a rollback, an abort, a suspension) still acts, and its ``progressDeadline`` does
not run (``deadline_held``), as while Paused, unless the step was past it already (said
before the hold: it stays exceeded). When the runtime did not treat at the step's exposure
until a pass (that file written again, or given room for the edit, unless it carried the
campaign's entry all along: ``Observed.carried_since``; or the spec refused by the pass
before: ``Observed.spec_was_refused``; or a process's first write of the file delivering it
after the step started: ``Observed.delivered_at``), the step starts over there
(``start_step_again``), as at a budget renewal; otherwise its deadline runs from the write
(``written_again_at``). Before the model's file pass in this process has run
(``Observed.delivery_not_known``) the step does not end, nor is ``AnalysisPassed`` said
(``stays_paused``), and the phase message says it waits for that pass (``waiting_for``).
A budget is always enforced by a budget gate: ``spec.economics.budget`` without one declared
implies one (``implied_budget_gate``), which the pass measures, judges and shows like a
declared one (``enforced``). A budget gate's Fail (``domain.gates.Suspension``: the period's
spend reached the budget, or what is left pays for no treatment) suspends the ramp instead of
rolling it back: exposure 0 %, the step kept, the exposure it held in
``suspendedExposurePercent``, phase Suspended (Ready reason ``BudgetExhausted``) until the
period of its last Fail rolls over (``domain.budget``) or the gate passes again, then that
exposure again (a gate that cannot tell the spend meanwhile, an Error or an Inconclusive, ends
nothing: ``budget_suspension``); meanwhile only the budget gates are measured (nothing is
exposed for the others to judge, so no ``AnalysisPassed`` is said on their verdicts from
before), and the renewal starts the step's other gates on a new stratum, as a step change
does. A dry-run budget gate suspends nothing. A spend that cannot be read (the budget gates'
readings Errors or Inconclusives: Prometheus down, the query failing, no series) is kept as
``status.budgetUnreadableSince``, set at the first such reading while the campaign exposes and
cleared by the first reading that shows the spend (``follow_spend_reading``); by default it
only holds the ramp, but under ``spec.economics.budgetUnreadable.action: Suspend`` a reading
that fails ``after`` or more past that time (readings failing for ``after`` without a break,
never one failed reading alone, but with ``after: 0s``) suspends the campaign as a spent
budget does, under its own reason (Ready ``BudgetUnreadable``, a ``BudgetUnreadable`` event and
history entry), until a reading shows the spend under the budget (a Pass: ``BudgetRenewed``)
or spent (a Fail: ``BudgetExhausted``). A suspension in place for a spent budget stays one:
the exhausted budget's rules end it, and only its period rolling over while the spend is still
unreadable turns it into this one. The periods count
from ``status.budgetAnchor``, recorded when the campaign first exposes with a budget
(``keep_budget_anchor``), so a later edit of the schedule moves no period; a spec without a
budget, valid or refused, drops it with everything else the status keeps of a budget
(``forget_budget``), so a budget set again is recorded again and counted afresh, from
``status.budgetSince``. The budget gates go on being measured once the ramp completed (the
other gates do not: the ramp is decided), since they are the only place the replicas' spend
is summed; a spent budget suspends a completed ramp the same way, and stays spent through a
restart of the ramp (``start_exposure`` carries the budget gates' verdicts, a Fail or Pass
measured in the pass that ended the exposure included: ``keep_budget_outcomes``). What they read of
the period's spend per runtime ledger is kept in ``status.budgetLedgers``
(``remember_spend``), merged with each reading (``domain.budget``), so spend Prometheus no
longer holds still counts. Each applied
analysis copies the campaign's results (incremental effect and ROI with bounds, treated units,
the period's spend) from its
gates into status, where they stay once the ramp ends; a restart of the ramp (``start_exposure``)
and a new model version mid-ramp (``follow_version``) clear ``incrementalEffect`` and ``roi``
until the conversion gates measure again, an attribution window later, rather than show the
previous ramp's or version's as this one's (the history keeps them). No I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from uplift_operator.api.v1alpha1.campaign import (
    TARGETING_FIELDS,
    BudgetLedgers,
    CampaignGate,
    CampaignSpec,
    CampaignStatus,
    CampaignTreatment,
    Economics,
    Schedule,
)
from uplift_operator.api.v1alpha1.common import (
    Condition,
    EstimateStatus,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    Phase,
    parse_duration,
)
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import budget, steps
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.canary import says_stable_down
from uplift_operator.domain.gates import (
    GateAction,
    GateOutcome,
    canonical_json,
    incremental_conversions_count,
    next_step,
    required_action,
    same_settings,
    with_outside_settings,
)
from uplift_operator.domain.measurements import CampaignUnits
from uplift_operator.domain.requests import RETRY_ANNOTATION, ManualRequest, is_replayed
from uplift_operator.domain.status import BUDGET_SINCE_TAKEN_AS_NOW, STATUS_READABLE
from uplift_operator.domain.steps import Event, Reason
from uplift_operator.model.keys import treatment_key

__all__ = ["IMPLIED_BUDGET_GATE", "NOT_KNOWN_YET", "BudgetSuspension", "Decision",
           "ModelObservation", "NotKnownYet", "Observed", "OutsideSchedule", "analysis_due",
           "budget_reset_events", "budget_suspension", "completed", "completes",
           "decide", "decisions_since", "enforced", "exposing", "first_cohort_closes",
           "forget_budget",
           "gates_to_measure", "implied_budget_gate", "missing_treatments", "model_observation",
           "outside_schedule", "ramp_started_at",
           "refused_consequence", "settings_delivered", "stop_requests", "targeting_settings",
           "treating", "undelivered", "unreadable_suspension", "with_economics"]

#: Phases in which the runtime may treat under the campaign (at its status exposure).
_TREATING_PHASES = frozenset({Phase.PROGRESSING, Phase.HEALTHY, Phase.PAUSED})

#: Gate types whose evidence outlives a new stable version of the model (``follow_version``):
#: deliveryRate judges the sender, budget the period's spend; the others judge the model's
#: decisions and start afresh on the new version.
_CARRIED_GATE_TYPES = frozenset({"deliveryRate", "budget"})

#: Gate types that judge cohorts: a decision once its attribution window has closed.
_COHORT_GATE_TYPES = frozenset({"incrementalConversions", "roi"})

#: Gate types whose null the targeting sets (``with_economics``): they compare the conversions
#: of the units the runtime treats with the holdout's.
_TARGETED_GATE_TYPES = _COHORT_GATE_TYPES

#: The name of the budget gate ``spec.economics.budget`` implies when no budget gate is
#: declared (``implied_budget_gate``); ``budget-2``, ``budget-3``, ... when a gate has it.
IMPLIED_BUDGET_GATE = "budget"

#: History actions that (re)start the exposure ramp at its first step.
_RAMP_STARTS = frozenset({Reason.EXPOSURE_STARTED.value, Reason.RETRY.value})

#: Ready reasons of the model that mean its stable version serves.
_SERVING_REASONS = frozenset({cond.STABLE_SERVING, cond.ROLLBACK_PENDING})

#: Ready reasons under which a campaign already exposing holds (its stable version serves on),
#: but none starts: ``WaitingForServing`` (the predictor rolling out), ``InvalidSpec`` (the
#: model's invalid pass keeps ``stableVersion`` and replaces the Ready reason, so whether that
#: version ever served cannot be told: a first version still waiting for its predictor, or a
#: model Degraded before it served, reads the same).
_HOLDING_REASONS = frozenset({cond.WAITING_FOR_SERVING, cond.INVALID_SPEC_REASON})


@dataclass(frozen=True)
class ModelObservation:
    """What the campaign needs to know about its UpliftModel.

    ``serving``: a stable version serves (``stable_version``); otherwise ``why`` says what is
    missing; ``degraded``: the model is Degraded with nothing serving (a harder stop than
    waiting); ``stable_down``: ``serving`` for the ramp only, a campaign exposing holding
    through a stable version that served and does not any more (``ModelServing`` says False,
    ``StableNotServing``, though nothing is decided otherwise)."""

    name: str
    found: bool
    stable_version: str | None = None
    serving: bool = False
    degraded: bool = False
    why: str = ""
    #: ``ModelServing``'s reason when not serving, if not the model's own (e.g. its campaigns
    #: file has no room for the Campaign: ``CampaignsFileFull``).
    reason: str = ""
    #: Serving only because the campaign exposes (the model's Ready reason is one it holds
    #: through, ``_HOLDING_REASONS``): what the model is to a campaign that does not. A pass that
    #: ends the exposure (an abort, a rollback, a withdrawal) judges the model by it, as the next
    #: pass will: the status is what was observed, not which pass observed it.
    unheld: ModelObservation | None = None
    stable_down: bool = False


def model_observation(name: str, status: UpliftModelStatus | None,
                      exposing: bool = False) -> ModelObservation:
    """Judge whether UpliftModel ``name`` (its status, None when not found) serves a stable
    version the campaign can treat with. Only its Ready condition counts: a canary being rolled
    back does not disturb the stable version; a model still resolving serves nothing. A stable
    version whose predictor is not reported ready (``WaitingForServing``: the serving graph
    rolling out, e.g. for a canary or a promotion), or a model whose spec is invalid (its pass
    touches nothing that serves, but its Ready reason no longer tells whether its stable
    version ever served), starts no campaign, but a campaign already ``exposing``
    (``exposing``) holds through it: withdrawn, it would restart at step 1 and lose its
    evidence for a rollout or an edit that stops no one's treatment. A stable version that
    served and does not any more (``canary.says_stable_down``) is held through as well (no
    rollback for the model's outage), but said as what it is (``stable_down``): not serving."""
    if status is None:
        return ModelObservation(name, found=False, why=f"UpliftModel {name!r} not found")
    ready = cond.find(status.conditions, cond.READY)
    stable = status.stable_version
    if stable is not None and ready is not None and ready.reason in _SERVING_REASONS:
        return ModelObservation(name, True, stable, serving=True,
                                why=f"UpliftModel {name!r} serves version {stable}")
    if (stable is not None and exposing and ready is not None
            and ready.reason in _HOLDING_REASONS):
        down = says_stable_down(stable, ready.reason, ready.message)
        held = ("its spec is invalid; the stable version serves on"
                if ready.reason == cond.INVALID_SPEC_REASON
                else f"its predictor is not reported ready: {ready.message}")
        why = (f"UpliftModel {name!r}: {ready.message} (the exposure is held at its step, no "
               "rollback)" if down else
               f"UpliftModel {name!r} serves version {stable} ({held}; the exposure is held)")
        return ModelObservation(name, True, stable, serving=True, why=why,
                                unheld=model_observation(name, status, exposing=False),
                                stable_down=down)
    phase = status.phase.value if status.phase is not None else "unknown"
    detail = status.message or (ready.message if ready is not None else "no status yet")
    return ModelObservation(
        name, True, status.stable_version, serving=False, degraded=status.phase is Phase.DEGRADED,
        why=f"UpliftModel {name!r} has nothing serving ({phase}: {detail})")


def missing_treatments(spec: CampaignSpec, model: str, version: str,
                       scored: Mapping[str, str]) -> str | None:
    """Why the campaign cannot be served as its spec says by ``version`` of UpliftModel
    ``model``, which scores ``scored`` (treatment key → name, its ``uplift.treatments`` tag),
    or None when it scores every treatment of the spec. A treatment is matched as the runtime
    binds it (``runtime.engine.DecisionEngine.bind``): by name, by key, or by the key of its
    name; the runtime rejects the campaign's entry for any other."""
    missing = []
    for index, treatment in enumerate(spec.treatments):
        try:
            key = treatment_key(treatment.name)
        except ValueError:
            key = ""
        if (treatment.name not in scored.values() and treatment.name not in scored
                and key not in scored):
            missing.append(f"{treatment.name!r} (spec.treatments[{index}])")
    if not missing:
        return None
    what = (f"treatment {missing[0]}" if len(missing) == 1
            else f"treatments {', '.join(missing)}")
    scores = ", ".join(f"{name} ({key})" for key, name in sorted(scored.items()))
    return (f"UpliftModel {model!r} serves version {version}, which does not score {what}; "
            f"version {version} scores: {scores}. Its replicas reject this Campaign's settings "
            "(keeping the last they took, or not serving it), so its exposure is held until "
            "the model serves a version that scores it or spec.treatments drops it")


@dataclass(frozen=True)
class OutsideSchedule:
    """``now`` is outside ``spec.schedule``: before its start (``ended`` False) or past its end."""

    ended: bool
    at: dt.datetime  # the start still to come, or the end that passed
    why: str


def outside_schedule(schedule: Schedule | None, now: dt.datetime) -> OutsideSchedule | None:
    """Whether the campaign may treat at ``now`` (None: it may). A time without an offset is
    read as UTC."""
    if schedule is None:
        return None
    end, start = _utc(schedule.end), _utc(schedule.start)
    if end is not None and now >= end:
        # No ``now`` in it: it is the ended campaign's status message, which must not change
        # at every pass (a status write per resync and per model event, for ever).
        return OutsideSchedule(True, end, f"spec.schedule.end {end.isoformat()} has passed")
    if start is not None and now < start:
        return OutsideSchedule(False, start, f"spec.schedule.start {start.isoformat()} is still "
                                             "to come")
    return None


def treating(status: CampaignStatus, deleting: bool = False) -> bool:
    """The campaigns file's ``active``: whether the runtime may treat under the campaign now.

    False at 0 % exposure and in every phase that means "treat no one" whatever exposure the
    status still shows: Suspended (before its start, a spent budget), Completed (past its end),
    Degraded for an invalid spec (nothing is sent on a spec the operator refused; a rollback or
    a Degraded model leave exposure 0 anyway), no phase yet; and while the Campaign is being
    deleted. A step past its ``progressDeadline`` is Degraded too, but its ramp still exposes
    at its step (Ready reason ``Exposing``): it goes on treating there, as the status says."""
    if deleting or status.exposure_percent <= 0:
        return False
    if status.phase is Phase.DEGRADED:
        # Past its deadline (Exposing), or held for a treatment its model's version lacks:
        # the entry keeps treating where the runtime takes it, nothing that serves withdrawn.
        ready = cond.find(status.conditions, cond.READY)
        return ready is not None and ready.reason in (cond.EXPOSING, cond.TREATMENT_NOT_SERVED)
    return status.phase in _TREATING_PHASES


def refused_consequence(status: CampaignStatus, undelivered: str | None = None) -> str | None:
    """What refusing the spec stops, for a Campaign whose status still shows an exposure (its
    ramp underway or completed): the campaigns file renders it inactive (``treating``), so the
    runtime treats no one under it until the spec is fixed; the status keeps that exposure and
    step, where the ramp resumes then. None when it treated no one anyway (0 %). While the
    model's campaigns file cannot be written (``undelivered``, as for ``Observed.undelivered``)
    the runtime keeps the entry it had, active: no one is treated only once the file is
    written."""
    if status.exposure_percent <= 0:
        return None
    where = (f" at step {status.current_step + 1}" if status.current_step is not None
             else " (ramp complete)")
    if undelivered is not None:
        return (f"treating no one under this Campaign once its campaigns file is written (it "
                f"cannot be now: the runtime keeps the settings it has; exposure "
                f"{status.exposure_percent:g}%{where} resumes once the spec is fixed)")
    return (f"treating no one under this Campaign until its spec is fixed (its campaigns-file "
            f"entry is inactive; exposure {status.exposure_percent:g}%{where} resumes then)")


@dataclass(frozen=True)
class BudgetSuspension:
    """The budget of the current period is spent: treat no one until ``until`` (None: no
    ``budgetPeriod``, so until the budget gate passes again, e.g. a raised budget). ``reason``:
    Ready's reason, and the event's and history's action, ``BudgetExhausted``, or
    ``BudgetUnreadable`` for a spend unreadable past ``spec.economics.budgetUnreadable.after``
    (``until`` None: until a reading shows it)."""

    gate: str
    until: dt.datetime | None
    why: str
    reason: str = cond.BUDGET_EXHAUSTED


def budget_suspension(spec: CampaignSpec, status: CampaignStatus, anchor: dt.datetime | None,
                      now: dt.datetime,
                      read: Sequence[GateOutcome] = ()) -> BudgetSuspension | None:
    """Whether a budget gate's last verdict suspends the campaign at ``now``.

    A budget gate only fails with a ``Suspension`` (``domain.gates``), and its status keeps
    when it was measured: the suspension holds while that Fail lies in the budget period of
    ``now`` (periods from ``anchor``, the schedule's start or the creation time, as the runtime
    counts them). Once the period rolls over it no longer holds, whatever the gate said. The
    budget gate ``spec.economics.budget`` implies counts as a declared one; a dry-run one
    suspends nothing. One whose ``dryRun`` was turned off suspends on the Fail it read while
    dry, in the pass that reads the edit: unlike other gates' verdicts (``gates.assess``), the
    spend is money spent, not evidence to count afresh (docs/lifecycle.md, "the budget
    exception").

    Once suspended (``suspendedExposurePercent``), only a Pass of the gate or the rollover of
    the period of its last Fail ends it: a gate that could not tell the spend since (an Error,
    an Inconclusive: Prometheus down, no data) says nothing about it, so the suspension holds
    on that Fail, dated by the last ``BudgetExhausted`` entry of the history (``_last_fail``);
    without a ``budgetPeriod`` (or that entry) only a Pass ends it. So does a budget gate not
    measured yet (no status: renamed, declared or implied under another name while suspended):
    the period's money is the same whatever the gate is called, so a new name is no renewal.
    Nothing enforcing the budget any more (``spec.economics.budget`` removed, its budget gates
    dry-run) ends it.

    Else, a spend unreadable past ``spec.economics.budgetUnreadable.after`` under its action
    Suspend (``unreadable_suspension``; ``read``: this pass's readings). A suspension in place
    for that reason
    (``_suspension_kind``) is not held on as a spent budget's: the readings that fail say
    nothing of a Fail, so only ``unreadable_suspension`` keeps it."""
    by_name = {g.name: g for g in status.gates}
    unreadable = _suspension_kind(status) == cond.BUDGET_UNREADABLE
    for gate in _budget_gates(spec):
        st = by_name.get(gate.name)
        if gate.dry_run or (st is not None and st.verdict is GateVerdict.PASS):
            continue
        if st is not None and st.verdict is GateVerdict.FAIL:
            failed_at: dt.datetime | None = st.time
            spent = (f"spent {st.value:.6g} of budget {st.threshold:.6g}"
                     if st.value is not None and st.threshold is not None else st.message)
            spent += _counted_since(spec, status, anchor, st.time)
        elif _suspended(status) and not unreadable:
            failed_at = _last_fail(status)
            since = ("not measured since" if st is None
                     else f"{st.verdict.value} since: spend not known")
            spent = ((f"last failed at {failed_at.isoformat()}" if failed_at is not None
                      else "failed before") + f", {since}")
        else:
            continue  # not suspended: a gate not measured yet, an Error or an Inconclusive
        until = None
        if (anchor is not None and spec.economics.budget_period is not None
                and failed_at is not None):
            _, until = budget.current_period(spec.economics.budget_period, anchor, failed_at)
            if until is not None and now >= until:
                continue  # measured in a period that has rolled over
        if until is not None:
            when = f"the period rolls over at {until.isoformat()}"
        elif spec.economics.budget_period is None:
            when = "the budget gate passes again (no budgetPeriod: raise spec.economics.budget)"
        else:  # no anchor, or the Fail no longer in history: its period cannot be told
            when = "the budget gate passes again"
        return BudgetSuspension(gate.name, until, f"budget exhausted ({spent}, gate {gate.name}); "
                                                  f"treating no one until {when}")
    return unreadable_suspension(spec, status, now, read)


def _counted_since(spec: CampaignSpec, status: CampaignStatus, anchor: dt.datetime | None,
                   at: dt.datetime) -> str:
    """Words for a ``BudgetExhausted`` message when the spend was counted from a
    ``status.budgetSince`` a pass read later than its clock and took as its own time
    (``domain.status.future_times``, named in ``StatusReadable``): from then, not from when the
    budget was set, within the budget period of ``at``; nothing otherwise."""
    since = status.budget_since
    readable = cond.find(status.conditions, STATUS_READABLE)
    if (since is None or anchor is None or readable is None
            or f"{BUDGET_SINCE_TAKEN_AS_NOW} ({since.isoformat()})" not in readable.message):
        return ""
    start, _ = budget.current_period(spec.economics.budget_period, anchor, at)
    counted = budget.counted_from(start, since)
    if counted <= start:
        return ""
    return (f", counted from {counted.isoformat()}: the stored status.budgetSince was later than "
            "the operator's clock and was taken as the time of the pass that read it "
            "(StatusReadable)")


#: How much of the failed reading's words a ``BudgetUnreadable`` message quotes.
_READ_ERROR_MAX = 300


def unreadable_suspension(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime,
                          read: Sequence[GateOutcome] = ()) -> BudgetSuspension | None:
    """Whether the spend, unreadable since ``status.budgetUnreadableSince``, suspends the
    campaign at ``now``: under ``spec.economics.budgetUnreadable.action: Suspend``, with a
    budget gate that enforces (not dry-run); never under Hold (the default), which only holds
    the ramp. It starts at a reading that fails ``after`` or more since then
    (``_last_failed_reading``: a budget gate's Error or Inconclusive in ``status.gates``, or in
    ``read``, this pass's readings), never on time alone: the spend is read at each analysis,
    so with an ``analysisInterval`` longer than ``after`` one failed reading, the next one
    showing the spend, suspends nothing. Once in place (``_suspension_kind``) it lasts while
    ``after`` has passed since then (``after`` lengthened beyond that lifts it, until a reading
    fails past the new ``after``). The message says since when, and why: the budget gate's
    last reading (its Error's or Inconclusive's words). ``until`` is None: it lasts until a
    reading shows the spend (``follow_spend_reading`` clears the time)."""
    policy = spec.economics.budget_unreadable
    since = _utc(status.budget_unreadable_since)
    if (policy is None or policy.action != "Suspend" or since is None
            or spec.economics.budget is None):
        return None
    enforcing = [gate for gate in _budget_gates(spec) if not gate.dry_run]
    if not enforcing:
        return None
    due = since + parse_duration(policy.after)
    if _suspension_kind(status) == cond.BUDGET_UNREADABLE:
        if now < due:
            return None
    else:
        failed = _last_failed_reading(spec, status, read)
        if failed is None or failed < due:
            return None
    by_name = {g.name: g for g in status.gates}
    gate = next((g for g in enforcing if g.name in by_name), enforcing[0])
    st = by_name.get(gate.name)
    error = (steps.clip(st.message, _READ_ERROR_MAX)
             if st is not None and st.verdict in (GateVerdict.ERROR, GateVerdict.INCONCLUSIVE)
             else "the spend could not be read")
    why = (f"budget spend unreadable since {since.isoformat()} ({error}; gate {gate.name}), "
           f"longer than spec.economics.budgetUnreadable.after ({policy.after}, action "
           "Suspend); treating no one until a reading shows the spend under the budget")
    return BudgetSuspension(gate.name, None, why, cond.BUDGET_UNREADABLE)


#: A budget gate's readings that do not show the spend.
_UNREAD = (GateVerdict.ERROR, GateVerdict.INCONCLUSIVE)


def _last_failed_reading(spec: CampaignSpec, status: CampaignStatus,
                         read: Sequence[GateOutcome] = ()) -> dt.datetime | None:
    """When a budget gate's reading last failed to show the spend (an Error or an
    Inconclusive): its status in ``status.gates`` (the time of its outcome), or ``read``,
    readings a pass took but did not record (one that started the step over keeps none).
    One from an earlier outage is older than ``status.budgetUnreadableSince`` (set at the
    outage's first failed reading), so it never reaches that time plus ``after``. Only the
    budget gates that enforce (not dry-run) count, as for ``budgetUnreadableSince``."""
    names = {gate.name for gate in _budget_gates(spec) if not gate.dry_run}
    times = [g.time for g in status.gates if g.name in names and g.verdict in _UNREAD]
    times += [o.time for o in read if o.name in names and o.verdict in _UNREAD]
    return max((t for t in map(_utc, times) if t is not None), default=None)


#: The history actions that suspend the campaign, by the Ready reason they are said under.
_SUSPENDING_ACTIONS = {Reason.BUDGET_EXHAUSTED.value: cond.BUDGET_EXHAUSTED,
                       Reason.BUDGET_UNREADABLE.value: cond.BUDGET_UNREADABLE}


def _suspension_kind(status: CampaignStatus) -> str | None:
    """Why the suspension in place suspends (None: none is): the latest ``BudgetExhausted`` or
    ``BudgetUnreadable`` entry of the history (each is recorded when a suspension starts, or
    goes on for the other reason), ``BudgetExhausted`` without either (suspended by an
    operator before ``BudgetUnreadable``, or the entry no longer in history)."""
    if not _suspended(status):
        return None
    return next((_SUSPENDING_ACTIONS[entry.action] for entry in reversed(status.history)
                 if entry.action in _SUSPENDING_ACTIONS), cond.BUDGET_EXHAUSTED)


def _last_fail(status: CampaignStatus) -> dt.datetime | None:
    """When the budget Fail that suspended the campaign was applied: its ``BudgetExhausted``
    history entry, written in the pass that measured it (so in the Fail's period). None once
    the history no longer holds it."""
    return next((entry.time for entry in reversed(status.history)
                 if entry.action == Reason.BUDGET_EXHAUSTED.value), None)


def _estimate(value: float, lower: float | None, upper: float | None) -> EstimateStatus:
    """A gate's estimate within its bounds. The bounds are a confidence sequence intersected
    over the looks, so the last look's estimate can fall outside them (0.200 [0.172, 0.187]);
    it is shown at the nearest bound instead, which is never farther from any value the
    bounds hold (a projection onto an interval), so it is never a worse estimate. Bounds that
    crossed (lower > upper: the looks' intervals share no value, so they hold none) are not
    shown: the estimate alone is, saying so (the gate's status keeps them)."""
    if lower is not None and upper is not None and lower > upper:
        return EstimateStatus(estimate=value, display=f"{value:+.3g} (bounds crossed)")
    if lower is not None and upper is not None:
        value = min(max(value, lower), upper)
    bounds = (f" [{lower:+.3g}, {upper:+.3g}]" if lower is not None and upper is not None
              else "")
    return EstimateStatus(estimate=value, lower=lower, upper=upper,
                          display=f"{value:+.3g}{bounds}")


def _conversions(st: GateStatus) -> EstimateStatus | None:
    """The incremental conversions of the cohorts an incrementalConversions gate judged, with
    their bounds (``gates.incremental_conversions_count``): Σ over the version's steps of
    C_T − C_H·n_T/n_H, each step's cohorts against their own holdout, as its Δ pools the
    steps' evidence. None without a value or count."""
    count = incremental_conversions_count(st)
    return None if count is None else _estimate(*count)


def _utc(time: dt.datetime | None) -> dt.datetime | None:
    if time is None or time.tzinfo is not None:
        return time
    return time.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Observed(steps.ObservedBase):
    """What the Campaign pass saw: its model, plus the step machine's observations.
    ``budget_anchor``: where the budget periods start (``status.budgetAnchor`` once recorded,
    which wins over this; else ``spec.schedule.start``, else the Campaign's creation time);
    None: a spent budget suspends until its gate passes again."""

    model: ModelObservation
    budget_anchor: dt.datetime | None = None
    units: CampaignUnits | None = None  # exposed units per arm since the ramp started
    #: The record of the budget period's spend per ledger after this pass' budget gates read
    #: it (``domain.budget.remembered``), for ``status.budgetLedgers``; None: none was read.
    budget_ledgers: BudgetLedgers | None = None
    #: Why the version the model serves cannot serve the campaign's treatments
    #: (``missing_treatments``); None: it can, or what it scores is not known.
    treatment_not_served: str | None = None
    #: Why the model's campaigns file cannot be written (``undelivered``: as its last file pass
    #: in this process found, else as ``SettingsDelivered`` last said), or carries the
    #: campaign's entry from before a spec edit it has no room for; None: neither. The
    #: runtime keeps its previous settings of the campaign, so the ramp does not advance on
    #: them: no step, no completion, no promote; what only stops (a rollback, an abort, a
    #: suspension) still acts.
    undelivered: str | None = None
    #: Since when the model's campaigns file has carried this Campaign's entry as its status
    #: says, through the model's last failure to write the file and the write that ended it
    #: (``services.campaigns_file.FileDependencies.carried_since``), None: not known, or it
    #: did not. Since no later than the hold began, its level was at the pods all along, so
    #: the step need not start over once the file is written again (``start_step_again``).
    carried_since: dt.datetime | None = None
    #: When this process's first write of the model's campaigns file delivered this
    #: Campaign's entry (``services.campaigns_file.FileDependencies.delivered_at``): the file
    #: there did not carry it as its status says (a predecessor decided it and stopped before
    #: its file pass wrote it; or, at a later write, a stop it carried was withdrawn before
    #: the status handled it), so the runtime treated at its exposure only from then; a step
    #: started before starts over (``start_step_again``). None: not known so.
    delivered_at: dt.datetime | None = None
    #: The model's file pass has not run in this process yet (a restart: ``undelivered`` as
    #: ``SettingsDelivered`` last said), so whether the file there carries the step's
    #: exposure is not known: a predecessor may have decided it and stopped before its file
    #: pass wrote it. The step does not end on time that may not have been at its exposure
    #: until that pass has run (``advance``), which wakes the Campaign.
    delivery_not_known: bool = False
    #: The pass before refused the spec (``InvalidSpec`` True in status): the campaigns file
    #: carried the entry inactive at 0 % meanwhile (``treating``), so that time was not time
    #: at the step (``start_step_again``).
    spec_was_refused: bool = False
    #: How long after a budget period's start its budget gate first reads a sample of it
    #: (``budget_settle`` of the runtime pods' scrape interval); None: the default's.
    budget_settle: dt.timedelta | None = None


@dataclass(frozen=True)
class Decision:
    """The outcome of one pass: the whole new status, the exposure to apply, events, and when
    to run again."""

    status: CampaignStatus
    exposure_percent: float
    events: tuple[Event, ...]
    requeue_after: dt.timedelta | None


def exposing(status: CampaignStatus) -> bool:
    """Whether the campaign has an exposure ramp underway or completed, a spent budget
    suspending it or not: what a withdrawal, an abort or a retry acts on, and what the model
    serving again must not restart."""
    return (status.current_step is not None or status.exposure_percent > 0
            or status.suspended_exposure_percent is not None)


def completed(status: CampaignStatus) -> bool:
    """Whether the exposure ramp completed and still exposes (or a spent budget suspends it)."""
    return status.current_step is None and exposing(status)


def implied_budget_gate(spec: CampaignSpec) -> CampaignGate | None:
    """The budget gate enforcing ``spec.economics.budget`` when the spec declares none (None:
    no budget, or a budget gate declared). Each replica enforces the whole budget on its own:
    only a budget gate sums their spend and suspends the campaign once it is spent, so a budget
    is never left without one. Named ``budget`` (``budget-2``, ... when a declared gate has the
    name), with the defaults of a declared one."""
    gates = spec.exposure.gates
    if spec.economics.budget is None or any(gate.type == "budget" for gate in gates):
        return None
    taken = {gate.name for gate in gates}
    name, n = IMPLIED_BUDGET_GATE, 1
    while name in taken:
        n += 1
        name = f"{IMPLIED_BUDGET_GATE}-{n}"
    return CampaignGate(name=name, type="budget")


def enforced(spec: CampaignSpec) -> CampaignSpec:
    """``spec`` with the budget gate it implies (``implied_budget_gate``) last in
    ``exposure.gates``: what the ramp measures, judges and shows. The spec itself (what a
    rollback holds for, what is validated) stays as declared."""
    implied = implied_budget_gate(spec)
    if implied is None:
        return spec
    gates = [*spec.exposure.gates, implied]
    return spec.model_copy(update={"exposure": spec.exposure.model_copy(update={"gates": gates})})


def _next_stratum(gate: GateStatus) -> GateStatus:
    """A gate's status when its step starts over at the same exposure (a model promotion, a
    budget renewal, the runtime treating at the step again): a new stratum of its sequential
    tests (``next_step``: the evidence carried, Inconclusives counted afresh) that keeps its
    Fails and Errors in a row. Starting over is no evidence against them: a Fail count past
    ``failureLimit`` (a pending Manual rollback) stands until a human aborts or promotes,
    never wiped by an event of the model or the budget."""
    return next_step(gate).model_copy(update={"failures": gate.failures,
                                              "consecutive_errors": gate.consecutive_errors})


def _pending_kept(gate: GateStatus) -> GateStatus:
    """A gate's status when its model's version changes while its counts demand a rollback
    that ``rollback.mode: Manual`` left pending (``follow_version``): its sequential tests start
    afresh on the new version (no evidence of the old one mixed in), its Inconclusives too, but
    its Fails and Errors in a row stand, so the pending rollback stands until a human aborts or
    promotes. Its last verdict stays for humans; measured before the step started over, it
    passes no step."""
    return gate.model_copy(update={"inconclusives": 0, "sequential_state": {}})


def _pending_words(pending: Mapping[str, str], on: str) -> str:
    """How a ``ModelVersionChanged`` says the gates whose pending Manual rollback a move of
    the model keeps (``pending``: each gate and the count that demands it): their tests start
    afresh, their counts stand, so does the rollback."""
    if len(pending) == 1:
        (name, count), = pending.items()
        return (f"{name}'s tests start afresh on {on}; its {count} stands, so the "
                "rollback it demanded stays pending (rollback.mode Manual)")
    counts = sorted(set(pending.values()))
    return (f"the tests of {', '.join(pending)} start afresh on {on}; their "
            f"{' and '.join(f'{c}s' for c in counts)} stand, so the rollback they demanded "
            "stays pending (rollback.mode Manual)")


def _withdrawn_pending_words(pending: Mapping[str, str]) -> str:
    """How a withdrawal, and the ramp started again after it, say the rollback
    ``rollback.mode: Manual`` left pending that they keep (``pending``: each gate and the
    count that demands it)."""
    counts = " and ".join(f"{name}'s {count}" for name, count in pending.items())
    return (f"{counts} still demand{'s' if len(pending) == 1 else ''} the rollback left pending "
            "(rollback.mode Manual): the ramp is held Paused on it from step 1 when it starts "
            "again, until a human aborts or promotes")


def _version_moved(model: str, old: str, new: str) -> str:
    """What a change of the model's stable version was, for ``ModelVersionChanged``: a
    promotion (a later version), or a move back to an earlier one (an emergency rollback of
    the model restoring its previous stable version; versions compared as numbers, as MLflow
    numbers them), else a move."""
    if old.isdecimal() and new.isdecimal():
        if int(new) < int(old):
            return f"UpliftModel {model!r} moved back to version {new} (was {old})"
        return f"UpliftModel {model!r} promoted version {new} (was {old})"
    return f"UpliftModel {model!r} moved to version {new} (was {old})"


def _budget_gates(spec: CampaignSpec) -> list[CampaignGate]:
    return [gate for gate in enforced(spec).exposure.gates if gate.type == "budget"]


def forget_budget(spec: CampaignSpec, status: CampaignStatus) -> CampaignStatus:
    """``status`` without what it keeps of a budget the spec no longer has: ``budgetAnchor``,
    ``budgetSince``, ``budgetLedgers``, ``spend`` (0), ``budgetRemaining`` and
    ``budgetUnreadableSince``, and the result of
    a budget gate (one the spec declares, or the one a budget implied: ``implied_budget_gate``'s
    names) in ``status.gates``; ``status`` itself while the spec has a budget. For every spec
    that parses, valid or refused (``stop_requests``' caller): the campaigns file renders
    either without the budget, so each replica drops its ledger, and a budget set again is
    counted afresh — recorded again from the spec as it is then and from the time it is set
    (``keep_budget_anchor``), its gates reading no ledger of the removed one — while a removed
    budget's last figures, or its gate's Fail, would otherwise stay in status for good."""
    if spec.economics.budget is not None:
        return status
    declared = {gate.name: gate.type for gate in spec.exposure.gates}

    def budget_gate(name: str) -> bool:
        if name in declared:
            return declared[name] == "budget"
        return (name == IMPLIED_BUDGET_GATE
                or re.fullmatch(rf"{re.escape(IMPLIED_BUDGET_GATE)}-[0-9]+", name) is not None)

    return status.model_copy(update={
        "budget_anchor": None, "budget_since": None, "budget_ledgers": None, "spend": 0.0,
        "budget_remaining": None, "budget_unreadable_since": None,
        "gates": [g for g in status.gates if not budget_gate(g.name)]})


def _suspended(status: CampaignStatus) -> bool:
    """A spent budget (or an unreadable spend: ``unreadable_suspension``) suspends the
    campaign (its exposure kept aside)."""
    return status.suspended_exposure_percent is not None


#: Scrapes of the runtime pods after a budget period's start until its budget gate surely reads
#: a sample of it (``budget_settle``): the first scrape carries the new period's start (the
#: replicas refresh it every second), the second is the margin for its ingest and a scrape's
#: jitter; the collector's own rule, "a range shorter than two scrapes yields no data"
#: (``services.measurements._range``). ``--prometheus-ingest-delay`` does not reach the
#: Campaign pass: a bound for long count ranges (300 s by default), it would make the window
#: longer than a 5m period, which moves nothing (``settled_analysis``).
BUDGET_SETTLE_SCRAPES = 2
#: The runtime pods' scrape interval when the pass is not told it (``--prometheus-scrape-interval``'s
#: default, ``services.upliftmodel.ModelDependencies.prometheus_scrape_interval``).
DEFAULT_SCRAPE_INTERVAL = dt.timedelta(seconds=30)


def budget_settle(scrape_interval_s: float | None = None,
                  query_lag_s: float = 0.0) -> dt.timedelta:
    """How long after a budget period's start its budget gate first reads a sample of the
    period: ``BUDGET_SETTLE_SCRAPES`` scrapes of the runtime pods, plus the query lag
    (``--prometheus-query-lag``: a remote-write backend answers a sample only that long after
    its scrape). Read within it, the collector's range of the period so far may hold no
    answered sample (``services.measurements._range``): Inconclusive."""
    scrape = (dt.timedelta(seconds=scrape_interval_s) if scrape_interval_s
              else DEFAULT_SCRAPE_INTERVAL)
    return BUDGET_SETTLE_SCRAPES * scrape + dt.timedelta(seconds=max(0.0, query_lag_s))


def settled_analysis(spec: CampaignSpec, anchor: dt.datetime | None, at: dt.datetime,
                     settle: dt.timedelta) -> dt.datetime:
    """When an analysis due at ``at`` runs: then, or, for a campaign with a budget gate and
    ``at`` within ``settle`` of a budget period's start, at the end of that window, when the
    gate reads the period's spend. Only that analysis moves (the step's start stays, and the
    next analysis is an interval after it, off the period's start), and only for a period
    longer than the window (a shorter one would put it in the next period's window again)."""
    period = spec.economics.budget_period
    if period is None or anchor is None or not _budget_gates(spec):
        return at
    start, end = budget.current_period(period, anchor, at)
    if end is None or end - start <= settle or at >= start + settle:
        return at
    return start + settle


def analysis_due(spec: CampaignSpec, status: CampaignStatus, now: dt.datetime, *,
                 anchor: dt.datetime | None = None,
                 settle: dt.timedelta | None = None) -> bool:
    """Whether the exposure gates should be measured now (``gates_to_measure``): a step is
    underway, or the ramp completed (or a spent budget suspends it) and has a budget gate, and
    an interval has passed since the later of the step's start and the last analysis, moved
    past a budget period's first ``settle`` (``settled_analysis``; ``budget_settle`` by
    default; ``anchor``: the budget's anchor while ``status.budgetAnchor`` is not recorded):
    else, with ``analysisInterval`` a multiple of ``budgetPeriod``, a step that started at a
    period's start (a renewal at a rollover, a first step at ``budgetAnchor``) would have its
    every analysis there, the budget gate Inconclusive for good and an overspend never caught.

    A budget period's start is no analysis of its own: read at once, the budget gate finds no
    sample in a range shorter than a scrape (Inconclusive), and as the last analysis it would
    put the next one at a period's start again, so with ``budgetPeriod`` ≤
    ``analysisInterval`` no analysis would ever read the spend (an overspending completed
    campaign never suspended again). The pass at the period's start shows the period begun
    (``roll_spend_over``, ``drop_past_budget_fails``) and lifts a suspension
    (``budget_suspension``); the gate reads the new period's spend at the next analysis."""
    measuring = (status.current_step is not None and not _suspended(status)) or (
        exposing(status) and bool(_budget_gates(spec)))
    if not steps.analysis_due(spec.exposure, status, now, active=measuring):
        return False
    base = steps.analysis_base(status)
    if base is None:
        return True
    due = base + parse_duration(spec.exposure.analysis_interval)
    return now >= settled_analysis(spec, status.budget_anchor or anchor, due,
                                   budget_settle() if settle is None else settle)


def completes(spec: CampaignSpec, status: CampaignStatus) -> bool:
    """Whether a Pass now completes the exposure ramp: the last step, and one with a pause (a
    step without one ends on a manual promote, which no gate decides). A step index past the
    spec's steps (steps removed mid-ramp) counts as the last, as the step machine completes
    on it (and as ``canary.on_last_step`` reads an UpliftModel's)."""
    steps = spec.exposure.steps
    return (status.current_step is not None and status.current_step >= len(steps) - 1
            and steps[-1].pause is not None)


def with_economics(spec: CampaignSpec) -> CampaignSpec:
    """``spec`` whose conversion gates (incrementalConversions, roi) test what they read
    outside their own fields, bound into their ``settingsDigest``
    (``gates.with_outside_settings``), so an edit of it starts the gate afresh (its evidence,
    its counters, its Pass no longer one as set), as an edit of its own fields does:

    * whom the runtime treats (``targeting_settings``): these gates compare the conversions of
      the units it treats with the holdout's, so the population they judge is the targeting's,
      and a Pass shown for a narrow policy (the top 5 %) is no evidence about a wide one (all,
      five treatments each): evidence gathered under another targeting tests another null;
    * a roi gate's economics (``roi_economics``): its break-even Δ is computed from them at
      each look, while its sequential evidence is a running test of Δ against it, so evidence
      gathered under other costs or values tests another null (a cost raised mid-step would
      keep a gate passing on a negative ROI).

    The other gates bind nothing: deliveryRate judges the sender, drift the model's inputs,
    budget the period's money, custom its own query. The Campaign pass reads its spec through
    this; a status written before the targeting (or a roi gate's economics) was bound keeps
    its evidence: ``gates.same_settings`` takes the digests of the settings bound before."""
    gates = spec.exposure.gates
    if not any(gate.type in _TARGETED_GATE_TYPES for gate in gates):
        return spec
    targeting = targeting_settings(spec)
    bound = [with_outside_settings(gate, _outside_settings(spec, gate, targeting))
             if gate.type in _TARGETED_GATE_TYPES else gate for gate in gates]
    return spec.model_copy(update={"exposure": spec.exposure.model_copy(update={"gates": bound})})


def _outside_settings(spec: CampaignSpec, gate: CampaignGate, targeting: str) -> str:
    """What ``gate`` is bound to, one line per binding in the order releases bound them (a roi
    gate's economics, then the targeting): ``gates.same_settings`` reads the leading lines as
    the forms earlier operators wrote, so a new binding goes last."""
    if gate.type == "roi":
        return f"{roi_economics(spec, gate)}\n{targeting}"
    return targeting


def _targeting_digest(spec: CampaignSpec) -> str:
    """``status.targetingDigest``: a fingerprint of ``targeting_settings``."""
    return hashlib.sha256(targeting_settings(spec).encode()).hexdigest()[:32]


def targeting_settings(spec: CampaignSpec) -> str:
    """Whom the runtime treats under the campaign, and with what, as canonical text
    (``render.campaigns`` renders it, ``runtime.policy.choose_rule`` applies it): the policy
    and the threshold it reads (``minUplift`` under upliftThreshold, ``topFraction`` under
    topFraction: a field another policy never reads is ignored, so its edit changes nothing),
    ``maxTreatmentsPerUnit``, the treatments it chooses among (``spec.treatments``), and under
    costAware each one's cost and value, the economics' defaults applied (the net value
    uplift × value − cost decides whether a unit is treated, and with which). Not the budget
    (it decides when treatment stops, which suspends the campaign), nor the exposure (a step
    is a new stratum of the same test: ``next_step``)."""
    t = spec.targeting
    policy: dict[str, object] = {"policy": t.policy,
                                 "maxTreatmentsPerUnit": t.max_treatments_per_unit}
    fields = t.model_dump(by_alias=True)
    policy.update({field: fields[field] for field, reader in TARGETING_FIELDS.items()
                   if reader == t.policy})
    treatments: object
    if t.policy == "costAware":
        treatments = {treatment.name: _cost_and_value(treatment, spec.economics)
                      for treatment in spec.treatments}
    else:
        treatments = sorted(treatment.name for treatment in spec.treatments)
    return json.dumps({"targeting": policy, "treatments": treatments}, sort_keys=True,
                      separators=(",", ":"))


def roi_economics(spec: CampaignSpec, gate: CampaignGate) -> str:
    """What a roi gate's break-even reads of the spec, as canonical text: the cost of a
    treatment and the value of a conversion of each treatment it judges (its ``treatments``,
    else all), the economics' defaults applied as the collector applies them
    (``services.measurements``); the defaults when it judges none the spec names."""
    economics = spec.economics
    judged = {treatment.name: _cost_and_value(treatment, economics)
              for treatment in spec.treatments
              if not gate.treatments or treatment.name in gate.treatments}
    if not judged:
        judged = {"*": [economics.cost_per_treatment, economics.value_per_conversion]}
    return json.dumps({"costAndValue": judged}, sort_keys=True, separators=(",", ":"))


def _cost_and_value(treatment: CampaignTreatment, economics: Economics) -> list[float]:
    """A treatment's cost and the value of one of its conversions, the economics' defaults
    applied where it names none: one reading for what the costAware targeting weighs
    (``targeting_settings``) and what a roi gate's break-even reads (``roi_economics``)."""
    return [treatment.cost_per_treatment if treatment.cost_per_treatment is not None
            else economics.cost_per_treatment,
            treatment.value_per_conversion if treatment.value_per_conversion is not None
            else economics.value_per_conversion]


def ramp_started_at(status: CampaignStatus) -> dt.datetime | None:
    """When the exposure ramp last (re)started (``status.rampStartedAt``; in a status written
    before that field, its bounded history), else the step's start."""
    if status.ramp_started_at is not None:
        return status.ramp_started_at
    starts = [e.time for e in status.history if e.action in _RAMP_STARTS]
    return max(starts, default=status.step_started_at)


def _promoted_in_history(status: CampaignStatus, version: str | None) -> dt.datetime | None:
    return max((e.time for e in status.history
                if e.action == Reason.MODEL_VERSION_CHANGED.value and e.version == version),
               default=None)


def decisions_since(status: CampaignStatus, version: str | None) -> dt.datetime | None:
    """When the campaign began deciding on ``version``: the later of the ramp's (re)start and
    the model's promotion of that version (``status.modelVersionSince``; in a status written
    before the ramp's start was kept, the history), and the last change of the targeting
    mid-ramp (``status.targetingSince``: ``follow_targeting``). The conversion gates judge only
    the cohorts of decisions made since; an earlier cohort is a previous ramp's, another
    version's or another targeting's."""
    if status.ramp_started_at is not None:
        promoted = status.model_version_since if version == status.model_version else None
    else:
        promoted = _promoted_in_history(status, version)
    times = [t for t in (ramp_started_at(status), promoted, status.targeting_since)
             if t is not None]
    return max(times, default=None)


def first_cohort_closes(spec: CampaignSpec, status: CampaignStatus) -> dt.datetime | None:
    """When the attribution window closes on the first decisions the conversion gates may
    judge (None without a ramp underway)."""
    since = decisions_since(status, status.model_version)
    if since is None:
        return None
    return since + parse_duration(spec.experiment.attribution_window)


def gates_to_measure(spec: CampaignSpec,
                     status: CampaignStatus | None = None) -> list[CampaignGate]:
    """Every exposure gate while a step is underway (campaigns have no offline gates; no
    ``status``: as then), the budget gate ``spec.economics.budget`` implies included; once
    the ramp completed, or while a spent budget suspends it, the budget gates only: nothing is
    left to decide about the model's effect, or nothing is exposed for the other gates to
    judge (at 0 % they could only count Inconclusives towards a pause), but the replicas'
    spend is summed nowhere else."""
    if status is not None and (status.current_step is None or _suspended(status)):
        return _budget_gates(spec)
    return list(enforced(spec).exposure.gates)


def decide(spec: CampaignSpec, status: CampaignStatus, observed: Observed,
           now: dt.datetime) -> Decision:
    """One pass of the exposure ramp, in this order: manual requests (abort and emergency
    rollback set exposure to 0 and hold it there for this spec, even from 0 %; retry restarts
    a rolled-back campaign at step 1, promote advances or completes); the schedule (outside
    it, exposure is withdrawn and nothing starts); the model (nothing serving withdraws the
    exposure; serving starts the ramp unless this spec generation was rolled back, the spec
    is paused or the ramp completed); then the shared analysis, gate limits, the budget, the
    spec's steps (a percent raised for the current step, a step added above a completed ramp),
    deadline and advance (``domain.steps``); phase and conditions last."""
    return _ExposurePass(spec, status, observed, now).run()


#: The requests acted on while the spec is invalid (``stop_requests``): they only stop.
_STOP_REQUESTS = steps.STOP_REQUESTS


def stop_requests(spec: CampaignSpec, status: CampaignStatus, observed: Observed,
                  now: dt.datetime) -> tuple[CampaignStatus, tuple[Event, ...]]:
    """The abort and emergency-rollback requests of a Campaign whose spec the operator refused
    (it parsed, but failed validation): a kill switch works whatever the spec says. Each is
    acted on as ``decide`` would (exposure to 0 %, the rollback held for this spec, recorded,
    its request marked handled); a retry or promote pending with a stop is superseded by it
    (``StepPass.handle_requests``: stopping wins), a request put back (a token handled before
    the last one of its key: ``domain.requests.is_replayed``) is ignored and said so as in a
    valid pass, and as the UpliftModel's invalid-spec pass does, every other request waits for
    a valid spec (it is not marked handled). Nothing else of the pass runs: no model, no
    schedule, no analysis. The caller then sets the invalid spec's phase and conditions on the
    status returned."""
    earlier = status.earlier_handled_requests or {}
    if not any(r.kind in _STOP_REQUESTS or is_replayed(r, status.handled_requests, earlier)
               for r in observed.requests):
        return status, ()
    run = _ExposurePass(spec, status, observed, now)
    run.handle_requests(stops_only=True)
    return run.status, tuple(run.events)


def budget_reset_events(spec: CampaignSpec, status: CampaignStatus, observed: Observed,
                        now: dt.datetime) -> tuple[Event, ...]:
    """The ``BudgetReset`` Warning a valid pass posts as it drops a removed budget's record
    (``_ExposurePass.warn_budget_reset``), for a refused spec's pass that drops it too
    (``forget_budget``): nothing while ``spec`` still has a budget."""
    if (spec.economics.budget is not None or status.budget_anchor is None
            or status.spend <= 0):  # nothing to say: no pass built at every refused pass
        return ()
    run = _ExposurePass(spec, status, observed, now)
    run.warn_budget_reset()
    return tuple(run.events)


class _ExposurePass(steps.StepPass[CampaignStatus]):
    paused_field = "spec.exposure.paused"
    ramp_steps_field = "spec.exposure.steps"
    plugin_prefix = "campaign/"
    abort_does = "exposure goes to 0%"
    retry_restarts_paused = False  # a Campaign's retry acts on a rollback only

    def __init__(self, spec: CampaignSpec, status: CampaignStatus, observed: Observed,
                 now: dt.datetime) -> None:
        # The ramp measures, judges and shows the budget gate a budget implies (``enforced``);
        # a rollback holds for the spec as declared (``declared``: ``spec_digest``).
        self.declared = spec
        spec = enforced(spec)
        super().__init__(spec.exposure, spec.rollback.mode, status, observed, now)
        self.spec = spec
        self.model = observed.model
        self.generation = observed.generation
        self.outside = outside_schedule(spec.schedule, now)
        # Recorded once (``keep_budget_anchor``): a later edit of the schedule moves no period.
        self.budget_anchor = status.budget_anchor or observed.budget_anchor
        self.units = observed.units
        self.spend_read = observed.budget_ledgers
        self.suspended: BudgetSuspension | None = None
        self.unserved = observed.treatment_not_served if self.model.serving else None
        self.undelivered = observed.undelivered
        self.carried_since = observed.carried_since
        self.delivered_at = observed.delivered_at
        self.delivery_not_known = observed.delivery_not_known
        self.spec_was_refused = observed.spec_was_refused
        self.settle = (budget_settle() if observed.budget_settle is None
                       else observed.budget_settle)

    def run(self) -> Decision:
        self.keep_spec_gates()
        self.keep_starts()
        self.status.model_version = self.model.stable_version if self.model.serving else None
        self.handle_requests()
        if self.outside is not None and self.outside.ended:
            self.end_campaign(self.outside.why)
        elif self.outside is not None:
            self.withdraw(self.outside.why)
        else:
            self.follow_model()
        self.follow_targeting()
        self.start_step_again()
        self.keep_budget_anchor()
        self.apply_analysis()
        self.remember_spend()
        self.follow_spend_reading()
        self.record_results()
        self.act_on_gates()
        self.follow_budget()
        self.drop_past_budget_fails()
        # After the budget: a suspension is a hold, the new level served once it lifts.
        self.extend_completed_ramp()
        self.follow_step_level()
        if self.suspended is None:  # a spent budget is no step failing to progress
            self.check_deadline()
        elif self.status.paused_at is not None:
            # A pause the suspension outlived ends when it ends, not at the renewal days later
            # (a stale ``pausedAt``, a late Resumed); one begun while suspended is kept for the
            # renewal, which says Paused as the phase becomes it.
            self.note_resume()
        self.advance()
        return self.finish()

    # -- the hooks of the step machine --------------------------------------------------------

    def active(self) -> bool:
        return self.status.current_step is not None

    def level(self) -> float:
        # Suspended by the budget: the exposure to give back is the ramp's level.
        held = self.status.suspended_exposure_percent
        return held if held is not None else self.status.exposure_percent

    def set_level(self, value: float) -> None:
        if self.status.suspended_exposure_percent is not None:
            self.status.suspended_exposure_percent = value
        else:
            self.status.exposure_percent = value

    def step_level(self, index: int) -> float:
        return self.spec.exposure.steps[index].percent

    def subject(self) -> str | None:
        return self.status.model_version

    def record_level(self) -> dict[str, float | int | None]:
        return {"percent": self.status.exposure_percent}

    def where(self) -> str:
        # While the budget suspends it, the exposure the step holds (``exposed``), not the 0 %.
        # A completed ramp (its budget gates still measured, their holds announced) has no step.
        if not self.active():
            return f"the completed ramp at {self.exposed()}"
        return f"{self.exposed()} at step {self.step_index() + 1}/{len(self.steps)}"

    def deadline_counts_from(self) -> steps.DeadlineBasis | None:
        """Not before the first cohort its conversion gates may judge has closed: until then
        they cannot be conclusive (a ramp's first step, and the step a promotion restarts, wait
        one attribution window), so a step waiting for it is not stuck. Nor before its
        campaigns file was written again after it could not be (``written_again_at``), unless
        the step was past its deadline before that (``deadline_held``)."""
        basis = self.own_deadline_basis()
        if basis is None or self.deadline_said_since(basis.at):
            return basis  # past it before any hold of the file: no hold forgives that
        return basis.later(self.written_again_at(), "the campaigns file was written again")

    def own_deadline_basis(self) -> steps.DeadlineBasis | None:
        """The deadline's basis without the campaigns file's holds: the step machine's, or
        when the first cohort its conversion gates may judge closed, if later."""
        basis = super().deadline_counts_from()
        blocking = any(g.type in _COHORT_GATE_TYPES and not g.dry_run
                       for g in self.spec.exposure.gates)
        closes = first_cohort_closes(self.spec, self.status) if blocking else None
        if basis is None:
            return None
        return basis.later(closes, f"its first cohort's attribution window "
                                   f"({self.spec.experiment.attribution_window}) closed")

    def deadline_held(self) -> bool:
        """The model's campaigns file cannot be written (``undelivered``): the ramp is held by
        what is not its own lack of progress, so the deadline does not run, as while Paused;
        it runs again from when the file is written (``written_again_at``), or from the step
        started over then (``start_step_again``). The condition ``SettingsDelivered`` False
        makes the phase Degraded after its grace meanwhile (``domain.stuck``).

        A hold forgives time only to a step not yet past its deadline: one whose
        ``ProgressDeadlineExceeded`` was said (recorded) since its own basis
        (``own_deadline_basis``) before the file failed stays exceeded through the hold and
        after the write — Degraded, its message naming the file as what blocks, no second
        event — until the step moves, starts over (a write that restarts it:
        ``start_step_again``) or resumes from Paused. A failure of a minute must not clear a
        page that stood for hours, nor give the step a whole deadline more."""
        if self.undelivered is None:
            return False
        basis = self.own_deadline_basis()
        return basis is None or not self.deadline_said_since(basis.at)

    def written_again_at(self) -> dt.datetime | None:
        """When the model's campaigns file was last written again after it could not be: this
        pass when it finds it so (``delivered_again``), else when ``SettingsDelivered`` turned
        True (``FileWritten``) as the status says; None while it never failed."""
        if self.delivered_again():
            return self.now
        before = cond.find(self.previous.conditions, cond.SETTINGS_DELIVERED)
        if before is not None and before.status == "True" and before.reason == cond.FILE_WRITTEN:
            return before.last_transition_time
        return None

    def not_serving(self) -> str | None:
        if self.outside is not None:
            return self.outside.why
        if self.suspended is not None:
            return self.suspended.why
        if not self.model.serving:
            return self.model.why
        # The replicas reject the campaign's settings, or never get them (its file cannot be
        # written): a step ended on that time would grow the exposure in status only, on gates
        # that judged the runtime's previous settings.
        return self.unserved or self.undelivered

    def promote_refused(self) -> str | None:
        # The replicas reject the campaign's settings, or never get them: a promote would grow
        # the exposure in status only, where the runtime does not follow it.
        return self.unserved or self.undelivered

    def roll_back(self, reason: Reason, why: str, actor: str = "operator") -> None:
        if exposing(self.status):
            text = f"rolled back {self.where() if self.active() else self.exposed()} to 0%: {why}"
        else:
            # An abort or emergency rollback before anything was exposed (``abort_exposure``):
            # held at 0 % all the same, so the ramp does not start when what kept it at 0 %
            # clears (the model serving again, the schedule's start, a resume).
            why = f"{why} at 0% ({self.at_zero_because()})"
            text = f"held at 0% until a spec change or {RETRY_ANNOTATION}: {why}"
        self.status.exposure_percent = 0
        self.status.suspended_exposure_percent = None
        self.end_ramp()
        self.status.rolled_back_generation = self.generation or 0
        self.status.rolled_back_spec = spec_digest(self.declared)
        self.record(reason, self.subject(), why, actor)
        self.emit("Warning", reason, text)

    def complete(self, actor: str = "operator", why: str = "all steps passed", *,
                 over: str = "") -> None:
        # A full promote jumps to the last step's exposure; the ramp is there already otherwise.
        last = self.spec.exposure.steps[-1].percent
        self.set_level(max(self.level(), last))
        text = f"exposure ramp complete at {self.level():g}% ({why})"
        self.end_ramp()
        self.record(Reason.RAMP_COMPLETED, self.subject(), f"{why}{over}", actor)
        self.emit("Normal", Reason.RAMP_COMPLETED, text)

    def retry(self, request: ManualRequest) -> None:
        if exposing(self.status):
            # Restarting would lower the exposure of units already treated: exposure only
            # grows along a ramp, or drops to 0 % by a rollback.
            self.ignore(request, Reason.RETRY, f"{self.exposed()} is not rolled back; retry "
                                               "restarts a rolled-back campaign")
            return
        if self.outside is not None:
            self.ignore(request, Reason.RETRY, self.outside.why)
            return
        if not self.model.serving:
            self.ignore(request, Reason.RETRY, self.model.why)
            return
        if self.unserved is not None:
            self.ignore(request, Reason.RETRY, self.unserved)
            return
        if self.ramp.paused:
            # A paused ramp is held where it is, here at 0 %: the rollback is withdrawn, and
            # the ramp starts at step 1 on the resume (``follow_model``).
            if not self.rollback_holds():
                self.ignore(request, Reason.RETRY, f"nothing is rolled back; {self.paused_field} "
                                                   "holds the campaign at 0%: resume it to start "
                                                   "its ramp")
                return
            s = self.status
            s.rolled_back_generation = s.rolled_back_spec = None
            why = (f"rollback withdrawn; {self.paused_field} holds the campaign at 0%: its ramp "
                   "starts at step 1 once it is resumed")
            self.record(Reason.RETRY, self.subject(), request.said(why), request.actor)
            self.emit("Normal", Reason.RETRY, f"{request.said(why)} ({self.model.why})")
            return
        self.start_exposure(Reason.RETRY, request.said("exposure ramp restarted at step 1"),
                            request.actor)

    def emergency_rollback(self, request: ManualRequest) -> None:
        self.abort_exposure(request, Reason.EMERGENCY_ROLLBACK,
                            request.said("emergency rollback requested"))

    def abort(self, request: ManualRequest) -> None:
        self.abort_exposure(request, Reason.MANUAL_ABORT,
                            request.said("aborted by hand") + self.gates_overridden())

    def announce(self, gate: GateSpecBase, st: GateStatus, before: GateStatus | None, *,
                 held: bool = False) -> None:
        # A spent budget is said once, as BudgetExhausted (``follow_budget``), not at each look.
        # A dry-run budget gate suspends nothing, so no BudgetExhausted says its Fail: it is
        # told as any dry-run gate's verdict (``announce_dry_run``).
        if gate.type == "budget" and st.verdict is GateVerdict.FAIL and not gate.dry_run:
            return
        super().announce(gate, st, before, held=held)

    # -- results ------------------------------------------------------------------------------

    def record_results(self) -> None:
        """The campaign's results from the analysis this pass applied: ``incrementalEffect``
        and ``roi`` with their bounds from the incrementalConversions and roi gates (first of
        each type that has a value, and without ``treatments``: a gate naming some judges a
        subgroup, whose Δ and roi are not the campaign's), with
        ``incrementalConversions`` from the effect's gate's own cohorts (``_conversions``),
        ``spend`` from a budget gate (the period's spend), ``treatedUnits``/``holdoutUnits``
        from the decisions counted since the ramp started (``record_units``). Nothing
        measured this pass: the results stay as they were, so past ``schedule.end`` (no
        analysis runs) they are final, but for a spend whose budget period rolled over since
        it was read (``roll_spend_over``), or whose budget was removed (``forget_budget``, in
        ``keep_budget_anchor``), or an ROI or an effect whose campaign-wide gate the spec no
        longer has (``forget_removed_results``, in ``keep_spec_gates``).

        Only a gate's status measured under its settings now (``same_settings``) gives a
        result: one gathered under others (the gate's type changed under its name, its fields
        or what it is bound to edited) and not measured since (a suspended or completed ramp
        measures only its budget gates) is another gate's figure. Before, a roi gate retyped
        incrementalConversions showed its last ROI as the campaign's ``incrementalEffect``."""
        s = self.status
        if s.last_analysis_at is None or s.last_analysis_at == self.previous.last_analysis_at:
            self.roll_spend_over()
            return
        by_name = {g.name: g for g in s.gates}
        seen: set[str] = set()
        for gate in self.spec.exposure.gates:
            st = by_name.get(gate.name)
            if (st is None or st.value is None or gate.type in seen
                    or not same_settings(gate, st)):
                continue
            if gate.type in _COHORT_GATE_TYPES and gate.treatments:
                continue  # a subgroup's effect or roi, not the campaign's
            if gate.type in _COHORT_GATE_TYPES:
                seen.add(gate.type)
                estimate = _estimate(st.value, st.lower, st.upper)
                if gate.type == "roi":
                    s.roi = estimate
                else:
                    s.incremental_effect = estimate
                    s.incremental_conversions = _conversions(st)
            elif gate.type == "budget":
                seen.add(gate.type)
                s.spend = max(st.value, 0.0)
                if st.threshold is not None:
                    s.budget_remaining = max(st.threshold - s.spend, 0.0)
        self.record_units()
        # An analysis whose budget gates read no spend (Prometheus down at the first look of
        # a new period) leaves the figures of the period before: rolled over all the same.
        self.roll_spend_over()

    def record_units(self) -> None:
        """``treatedUnits``/``holdoutUnits``: the decisions per arm counted since the ramp
        started, never fewer than the status already holds for the same ramp. Prometheus
        answers the whole ramp's range only while it holds it: past its retention, and with
        the operator's kept pieces of the range lost in a restart
        (``adapters.prometheus_ranges``), the count starts at the retention's edge and would
        read lower than the one shown before. Counts read before the ramp (re)started in this
        pass (a retry acted on with a budget gate's outcome applied) are the previous ramp's:
        not recorded, the new ramp's stay 0 (``start_ramp``)."""
        s, units = self.status, self.units
        if units is None or ramp_started_at(s) != ramp_started_at(self.previous):
            return
        s.treated_units = max(s.treated_units, units.treated)
        s.holdout_units = max(s.holdout_units, units.holdout)

    def keep_spec_gates(self) -> None:
        """``status.gates`` holds the spec's gates (its implied budget gate included): one the
        spec no longer has (removed, renamed; the implied budget gate once the budget is
        removed or a budget gate declared) goes in the pass that reads the edit. Otherwise only
        an analysis drops it (``record_outcomes``), which a completed ramp without a budget
        gate never runs: a removed budget's Fail would stay in status for good. The results
        such a gate gave go with it (``forget_removed_results``)."""
        names = {gate.name for gate in self.spec.exposure.gates}
        self.status.gates = [g for g in self.status.gates if g.name in names]
        self.forget_removed_results()

    def forget_removed_results(self) -> None:
        """No ``roi`` once the spec has no campaign-wide roi gate, no ``incrementalEffect``
        nor ``incrementalConversions`` once it has no campaign-wide incrementalConversions
        gate (removed, its type changed, or naming ``treatments``: a subgroup's figures,
        never shown as the campaign's), nor their gauges, which follow the status; in the pass
        that reads the edit, as the removed gates go (``keep_spec_gates``). Only such a gate
        sets them (``record_results``): without it, nothing would replace or clear the last
        figures of a gate that no longer exists, shown for good. A gate put back gives them
        again at its next analysis with a value.

        Not once the campaign has ended (past ``schedule.end``): its results are final, the
        campaign's outcome, and a spec tidied up after the end (a gate removed or narrowed
        there, GitOps) keeps them, as it keeps the history. Before, such an edit cleared them
        for good, with no event nor history entry to say what they were."""
        if self.outside is not None and self.outside.ended:
            return
        wide = {gate.type for gate in self.spec.exposure.gates
                if gate.type in _COHORT_GATE_TYPES and not gate.treatments}
        if "roi" not in wide:
            self.status.roi = None
        if "incrementalConversions" not in wide:
            self.status.incremental_effect = self.status.incremental_conversions = None

    def remember_spend(self) -> None:
        """Keep what this pass' budget gates read of the period's spend, per ledger
        (``status.budgetLedgers``), whatever the ramp did with their outcomes: it is money
        spent, which the next reading merges with (``domain.budget.merge_ledgers``), in this
        process or the next, once Prometheus no longer holds it."""
        if self.spend_read is not None:
            self.status.budget_ledgers = self.spend_read

    def follow_spend_reading(self) -> None:
        """``status.budgetUnreadableSince`` after this pass' budget gates' readings (its
        ``gate_outcomes``; none read: as it was): cleared by a reading that shows the spend (a
        Pass or a Fail of any budget gate), set to the reading's time by the first that does
        not (an Error or an Inconclusive: Prometheus down or not configured, the query
        failing, no series, a defect measuring it) and kept through the next ones, so it says
        since when the spend has been unreadable without a break, across passes and operator
        restarts (it is status). Only the budget gates that enforce the budget (not dry-run)
        count: a dry-run one's reading neither clears it (an enforcing gate's Error next to a
        dry-run gate's Pass is still a spend the campaign cannot enforce) nor sets it (a budget
        nothing enforces is not one to be blind to). Cleared while the campaign exposes no one
        (nothing is spent, so there is nothing to be blind to; a ramp started again counts
        from its own first reading), without a budget (``forget_budget``) and without a budget
        gate that enforces it."""
        s = self.status
        names = {gate.name for gate in _budget_gates(self.spec) if not gate.dry_run}
        if self.spec.economics.budget is None or not exposing(s) or not names:
            s.budget_unreadable_since = None
            return
        read = [o for o in self.observed.gate_outcomes or () if o.name in names]
        if not read:
            return
        if any(o.verdict in (GateVerdict.PASS, GateVerdict.FAIL) for o in read):
            s.budget_unreadable_since = None
        elif s.budget_unreadable_since is None:
            s.budget_unreadable_since = min(o.time for o in read)

    def roll_spend_over(self) -> None:
        """``spend`` and ``budgetRemaining`` are the current period's: once the period their
        budget gates last measured them in has rolled over, and no budget gate has read the
        spend in the current one yet, the current period is shown as it began, 0 spent and the
        whole budget left, not a past period's figures (and no ``budgetLedgers`` of a past
        period) — from the first pass of the period, whatever the ramp does: nothing exposed
        (rolled back, withdrawn, ended, not started: no analysis runs), suspended, completed or
        underway (its next analysis reads the period's spend; until then its budget gates
        have not measured it: ``drop_past_budget_fails``). When the figures were measured is
        the budget gates' status before this pass (the latest of them): a budget gate that
        read a spend in this pass, or earlier in this period, has set them already."""
        s, economics = self.status, self.spec.economics
        if (economics.budget is None or economics.budget_period is None
                or self.budget_anchor is None):
            return
        start, _ = budget.current_period(economics.budget_period, self.budget_anchor, self.now)
        names = {gate.name for gate in _budget_gates(self.spec)}
        if any(g.name in names and g.value is not None and g.time >= start for g in s.gates):
            return  # read in this period: the figures are its own
        measured = max((g.time for g in self.previous.gates if g.name in names), default=None)
        if measured is None or measured >= start:
            return  # never measured, or measured in this period (rolled over then)
        s.spend, s.budget_remaining = 0.0, economics.budget
        if s.budget_ledgers is not None and s.budget_ledgers.period_start != start:
            s.budget_ledgers = None  # a past period's, which no reading merges with

    def drop_past_budget_fails(self) -> None:
        """A budget gate's Fail measured in a period that has rolled over goes from
        ``status.gates`` once ``follow_budget`` has read it (the rollover lifts the suspension
        it caused): it is a past period's money, which suspends nothing now
        (``budget_suspension``), and left there it would show the new period as exhausted and
        hold the step ("waiting (gates: budget Fail)") until the next analysis measures the
        gate, an interval later. Until then the gate has no status in this period, as before
        its first analysis. Its Passes, Errors and Inconclusives stay: they hold no
        exposure back."""
        s, period = self.status, self.spec.economics.budget_period
        if period is None or self.budget_anchor is None:
            return
        start, _ = budget.current_period(period, self.budget_anchor, self.now)
        names = {gate.name for gate in _budget_gates(self.spec)}
        s.gates = [g for g in s.gates if not (g.name in names and g.verdict is GateVerdict.FAIL
                                              and g.time < start)]

    def keep_budget_anchor(self) -> None:
        """Record where the budget periods start (``status.budgetAnchor``) once the campaign
        has a budget and exposes (or exposed: a ramp started once): from then on the spec's
        ``schedule.start`` may be edited without moving the periods or refilling the budget —
        the runtime counts its spend per period from the campaigns file's ``periodStart``,
        rendered from it. Before that nothing was spent, so it follows the spec.
        ``status.budgetSince`` is recorded with it, the budget gates reading the spend from
        then (``domain.budget.counted_from``). Without a budget both go: a budget set again
        is recorded again, from the spec as it is then and from the time it is set, so its
        gates do not count the removed budget's ledgers (its spend is counted afresh, as each
        replica counts it from zero under a new ledger): ``forget_budget``, which also drops
        ``budgetLedgers``, ``spend``, ``budgetRemaining`` and the removed budget gate's result,
        as the pass that refuses a spec without a budget does too."""
        if self.spec.economics.budget is None:
            self.warn_budget_reset()
            self.status = forget_budget(self.spec, self.status)
            return
        s = self.status
        if (s.budget_anchor is None and self.budget_anchor is not None
                and (exposing(s) or s.ramp_started_at is not None)):
            s.budget_anchor, s.budget_since = self.budget_anchor, self.now

    def warn_budget_reset(self) -> None:
        """A Warning ``BudgetReset`` (once: the pass that drops the budget's record) when a
        budget is removed after its budget gates recorded a spend (``status.spend`` above 0):
        set again, it is counted afresh from the time it is set (``status.budgetSince``), a
        whole ``amount`` more in the same period whatever the removed one spent, as each
        replica counts it from zero under a new ledger. The ledgers' semantics stay; the
        event says it, since the status keeps nothing of the removed budget to tell a budget
        set again apart from a first one (nor does a Campaign deleted and created again)."""
        s = self.status
        if s.budget_anchor is None or s.spend <= 0:
            return
        self.emit("Warning", Reason.BUDGET_RESET, (
            f"spec.economics.budget removed after at least {s.spend!r} was spent in its current "
            f"budget period (status.spend, as last read): a budget set again counts from the time it "
            f"is set, with its whole amount, that spend not counted (so does this Campaign "
            f"deleted and created again); to change budgetPeriod without a refill, set it "
            f"again where a period of both lengths starts, or with its amount less this "
            f"spend until then"), decision=False)

    # -- exposure -----------------------------------------------------------------------------

    def keep_starts(self) -> None:
        """A status written before ``rampStartedAt`` and ``modelVersionSince`` were kept: read
        them from the history once, while it still holds them (it keeps the last
        ``HISTORY_LIMIT`` entries, and budget renewals fill it)."""
        s = self.status
        if s.ramp_started_at is None and exposing(s):
            s.ramp_started_at = ramp_started_at(s)
            s.model_version_since = _promoted_in_history(s, s.model_version)

    def exposed(self) -> str:
        held = self.status.suspended_exposure_percent
        if held is not None and self.status.exposure_percent == 0:
            return f"exposure {held:g}% (suspended to 0% by the budget)"
        return f"exposure {self.status.exposure_percent:g}%"

    def abort_exposure(self, request: ManualRequest, reason: Reason, why: str) -> None:
        """Exposure to 0 %, held there for this spec until a spec change or a retry: a ramp
        underway, or a completed one (it still exposes units, or will once its budget renews).
        At 0 % for what clears by itself (its model not serving, the schedule's start to come,
        a pause, a ramp not started yet) the rollback is recorded and held all the same, so
        the campaign does not start by itself later; ignored only past the schedule's end
        (nothing is to start: moving the end is a spec change) and when a rollback already
        holds it."""
        if exposing(self.status):
            self.roll_back(reason, why, request.actor)
            return
        if self.outside is not None and self.outside.ended:
            self.ignore(request, reason, f"nothing is exposed: {self.outside.why}")
            return
        if self.rollback_holds():
            entry = self.last_rollback()
            before = f" ({entry.reason})" if entry is not None else ""
            self.ignore(request, reason, f"nothing is exposed: rolled back already{before}; "
                                         f"a spec change or {RETRY_ANNOTATION} restarts it")
            return
        self.roll_back(reason, why, request.actor)

    def at_zero_because(self) -> str:
        """Why nothing is exposed, for a rollback of a campaign at 0 % (``roll_back``)."""
        if self.outside is not None:
            return self.outside.why
        if not self.model.serving:
            return self.model.why
        if self.unserved is not None:
            return "its model's version does not score its treatments"
        if self.ramp.paused:
            return f"held by {self.paused_field}"
        return "its ramp had not started"

    def start_exposure(self, reason: Reason, why: str, actor: str) -> None:
        # The budget gates' verdicts are the period's money, not the ramp's evidence: a spent
        # budget stays spent through a restart (``follow_budget`` suspends the new step).
        budget = {gate.name for gate in _budget_gates(self.spec)}
        spent = [g for g in self.status.gates if g.name in budget]
        # A rollback ``rollback.mode: Manual`` left pending when the exposure was withdrawn
        # (``withdraw``) stands: its gates' counts are carried into the new ramp, which the
        # step machine holds Paused on them until a human aborts or promotes.
        pending = self.pending_withdrawn()
        carried = [_pending_kept(g) for g in self.status.gates if g.name in pending]
        self.start_ramp()
        self.status.gates = [*spent, *carried]
        if pending:
            why = f"{why}; {_withdrawn_pending_words(pending)}"
        self.status.ramp_started_at, self.status.model_version_since = self.now, None
        self.status.targeting_since = None
        self.status.exposure_percent = self.spec.exposure.steps[0].percent
        self.status.rolled_back_generation = self.status.rolled_back_spec = None
        # The results of the ramp before (its history keeps the story) are not this ramp's:
        # shown until its first cohort closes, an attribution window later, they would read
        # as the new ramp's (a retry showing the ROI that rolled the last one back).
        self.forget_results()
        self.status.treated_units = self.status.holdout_units = 0
        self.record(reason, self.subject(), why, actor)
        self.emit("Normal", reason, f"{self.where()} ({why}; {self.model.why})")

    def forget_results(self) -> None:
        """No ``incrementalEffect``, ``incrementalConversions`` nor ``roi`` (nor their
        gauges, which follow the status) until the conversion gates measure the ramp or
        version now judged."""
        self.status.incremental_effect = self.status.roi = None
        self.status.incremental_conversions = None

    def withdraw(self, why: str) -> None:
        """Exposure to 0 % (if anything is exposed), the ramp ended; ``why`` in history and event.

        A rollback ``rollback.mode: Manual`` left pending (a gate's Fail count past its
        ``failureLimit``, or its Error streak past its limit) is no human's decision, so the
        withdrawal keeps it: the gates' statuses stay, and ``pausedAt`` with them (the pause
        the pending rollback holds stands, under the withdrawal's phase), until the ramp starts
        again (``start_exposure`` carries their counts: the new ramp is held Paused on them) or
        a human aborts. Without this, the model briefly not serving (deleted and re-created,
        its file left out, the schedule's start moved later) restarted the ramp at step 1 with
        the Fail wiped, where ``rollback.mode: Automatic`` stays rolled back."""
        s = self.status
        if exposing(s):
            pending = self.pending_rollback()
            paused_at = s.paused_at
            text = f"{self.exposed()} withdrawn: {why}"
            s.exposure_percent = 0
            s.suspended_exposure_percent = None
            self.end_ramp()
            if pending:
                s.paused_at = paused_at or self.now
                why = f"{why}; {_withdrawn_pending_words(pending)}"
                text = f"{text}; {_withdrawn_pending_words(pending)}"
            self.record(Reason.EXPOSURE_WITHDRAWN, self.subject(), why)
            self.emit("Warning", Reason.EXPOSURE_WITHDRAWN, text)

    def pending_rollback(self) -> dict[str, str]:
        """The gates whose counts demand a rollback that ``rollback.mode: Manual`` leaves
        pending on the ramp underway (each: the count that demands it); empty when none does,
        or no ramp is underway."""
        if not self.active() or self.rollback_mode != "Manual":
            return {}
        return self.demanding_rollback()

    def demanding_rollback(self) -> dict[str, str]:
        gates = {gate.name: gate for gate in self.spec.exposure.gates}
        return {st.name: ("Fail count" if st.failures > gates[st.name].failure_limit
                          else "Error streak")
                for st in self.status.gates
                if st.name in gates and required_action(gates[st.name], st) is GateAction.ROLLBACK}

    def pending_withdrawn(self) -> dict[str, str]:
        """The gates of a pending Manual rollback a withdrawal kept (``withdraw``: nothing
        exposed, ``pausedAt`` kept), each with the count that demands it; empty otherwise (a
        rollback or abort since ended the ramp again, clearing ``pausedAt``)."""
        s = self.status
        if self.active() or exposing(s) or s.paused_at is None:
            return {}
        return self.demanding_rollback()

    def note_resume(self) -> None:
        # Withdrawn with a Manual rollback pending: its pause stands (``withdraw``).
        if self.pending_withdrawn():
            return
        super().note_resume()

    def resumes(self) -> bool:
        """No ``Resumed`` (event or history entry) of a ramp that was paused and now exposes no
        one (withdrawn, its Manual rollback pending or not): nothing resumed at 0 %."""
        return exposing(self.status) or self.previous.paused_at is None

    def end_campaign(self, why: str) -> None:
        """Past the schedule's end: exposure to 0 %, the ramp ended, a Normal event and a
        history entry once (the campaign did what it was scheduled to do)."""
        s = self.status
        text = f"campaign completed, {self.exposed()} withdrawn: {why}"
        if exposing(s):
            s.exposure_percent = 0
            s.suspended_exposure_percent = None
            self.end_ramp()
        if self.previous.phase is not None and not self.completed_before():
            self.record(Reason.CAMPAIGN_COMPLETED, self.subject(), why)
            self.emit("Normal", Reason.CAMPAIGN_COMPLETED, text)

    def completed_before(self) -> bool:
        """Whether the status before the pass already said the campaign completed: its phase,
        or its Ready reason ``ScheduleEnded`` (set only with Completed), which stays while the
        published phase is Degraded for settings that did not reach the runtime
        (``domain.stuck``)."""
        ready = cond.find(self.previous.conditions, cond.READY)
        return self.previous.phase is Phase.COMPLETED or (
            ready is not None and ready.reason == cond.SCHEDULE_ENDED)

    def follow_model(self) -> None:
        s = self.status
        if not self.model.serving:
            self.withdraw(self.model.why)
            return
        if exposing(s):
            self.follow_version()
            return  # underway, or complete (a spent budget suspending it or not)
        rolled_back = s.rolled_back_generation
        if self.rollback_holds():
            if s.rolled_back_spec is not None and s.rolled_back_spec == legacy_spec_digest(
                    self.declared):
                s.rolled_back_spec = spec_digest(self.declared)  # the current form from now on
            return  # stays at 0 % until a spec change (a pause is none) or a retry
        if self.unserved is not None:
            return  # waits at 0 % until the served version scores its treatments
        if self.ramp.paused:
            return  # held where it is, at 0 %, until resumed (``phase`` says so)
        if rolled_back is not None:
            why = "spec changed after a rollback"
        elif self.previous.phase is Phase.PAUSED:
            why = f"{self.paused_field} set to false"
        else:
            why = "model serves"
        self.start_exposure(Reason.EXPOSURE_STARTED, why, "spec")

    def rollback_holds(self) -> bool:
        """Whether a rollback holds the campaign at 0 % for this spec (its generation, or its
        digest: a pause or a resume is no change), until a retry."""
        s = self.status
        return s.rolled_back_generation is not None and (
            s.rolled_back_generation == (self.generation or 0)
            or _rolled_back_spec(self.declared, s))

    def follow_version(self) -> None:
        """The model's stable version changed while the campaign exposes units (a promotion,
        or an older version restored: an emergency rollback of the model): the campaign
        follows it (``status.modelVersion``) and its exposure is held, never withdrawn (units
        already exposed stay exposed); a history entry and a Normal event say so
        (``_version_moved``). A ramp underway starts its step over on the new version, at the
        same exposure: the step's pause and deadline run again from now, outcomes measured in
        this pass (on the old step) are dropped but for a budget Fail (``apply_analysis``), and
        the evidence of the old version is not mixed into the new one's — the gates that judge
        what the model's decisions did (incrementalConversions, roi, drift, custom) start
        afresh, their α spent once per version as an UpliftModel's are; a deliveryRate gate
        (the sender, not the model) carries its evidence into a new stratum and keeps its
        Fails and Errors in a row, as at a budget renewal; a budget gate (the period's money)
        keeps its verdict, so a spent budget stays suspended; the campaign's
        ``incrementalEffect`` and ``roi`` are cleared until measured on the new version. A
        gate whose counts demand a rollback that ``rollback.mode: Manual`` left pending
        (``required_action``) starts its tests afresh too but keeps those counts
        (``_pending_kept``): the rollback a human was asked about stands until the human
        aborts or promotes, never cleared by a move of the model (before, a promotion dropped
        the Fail and resumed the ramp). A completed ramp keeps its exposure and its final
        results: no gate but the budget runs after completion (nothing would replace them),
        the model's own canary gates vetted the new version."""
        old, new = self.previous.model_version, self.status.model_version
        if old is None or new is None or old == new:
            return
        s = self.status
        s.model_version_since = self.now
        moved = _version_moved(self.model.name, old, new)
        if not self.active():
            why = f"{moved}; the completed ramp keeps {self.exposed()}"
        else:
            afresh, pending = self.judge_afresh()
            why = (f"{moved}; step {self.step_index() + 1}/{len(self.steps)} starts over on "
                   f"version {new} at {self.exposed()}")
            if afresh:
                why += f", gates {', '.join(afresh)} measured afresh"
            if pending:
                why += f"; {_pending_words(pending, f'version {new}')}"
        self.record(Reason.MODEL_VERSION_CHANGED, new, why)
        self.emit("Normal", Reason.MODEL_VERSION_CHANGED, why)

    def judge_afresh(self, afresh_types: frozenset[str] | None = None
                     ) -> tuple[list[str], dict[str, str]]:
        """The step underway starts over on new decisions (a new model version, a new
        targeting): the gates that judge what those decisions did (``afresh_types``; every type
        but deliveryRate and budget when None: a new model's decisions) start afresh, the
        others (a deliveryRate gate; drift and custom when only the targeting changed) move to
        a new stratum keeping their counts, a budget gate keeps its verdict, and a gate whose
        counts demand a rollback ``rollback.mode: Manual`` left pending keeps them
        (``_pending_kept``); the step's pause and deadline run from now, this pass's outcomes
        (measured on the old decisions) are dropped, and the campaign's results cleared.
        Returns the gates measured afresh and those pending (each with the count that demands
        its rollback)."""
        s = self.status
        gates = {gate.name: gate for gate in self.spec.exposure.gates}

        def afresh_type(kind: str) -> bool:
            return (kind not in _CARRIED_GATE_TYPES if afresh_types is None
                    else kind in afresh_types)

        kept: list[GateStatus] = []
        pending: dict[str, str] = {}  # gate: the count that demands its rollback
        for st in s.gates:
            gate = gates.get(st.name)
            if gate is None:
                continue
            if gate.type == "budget":
                kept.append(st)
            elif not afresh_type(gate.type):
                kept.append(_next_stratum(st))
            elif required_action(gate, st) is GateAction.ROLLBACK:
                kept.append(_pending_kept(st))
                pending[gate.name] = ("Fail count" if st.failures > gate.failure_limit
                                      else "Error streak")
        s.gates = kept
        s.step_started_at = self.now
        s.passed_while_held_at = None  # the old step's passes: this one has none yet
        self.restarted = True  # this pass's outcomes measured the old decisions
        self.forget_results()  # the old decisions' effect, not the new ones'
        afresh = [name for name, gate in gates.items()
                  if afresh_type(gate.type) and name not in pending]
        return afresh, pending

    def follow_targeting(self) -> None:
        """Whom the runtime treats, or with what (``targeting_settings``: ``spec.targeting``,
        ``spec.treatments``, their costs and values under costAware), edited while a ramp is
        underway: as for a new model version (``follow_version``), the step starts over at its
        exposure on the decisions made from now (``status.targetingSince``: the conversion
        gates judge only cohorts decided since, ``decisions_since``), the gates that judge the
        model's decisions measured afresh (incrementalConversions, roi: ``with_economics``; the
        others, which judge no conversions, move to a new stratum as at ``restart_step``), so a
        Pass for a narrow targeting is never taken for one about a wide one.
        ``status.targetingDigest`` keeps what the ramp runs under; one not recorded yet (a new
        Campaign, a status from before it was kept) is recorded, nothing restarted. Nothing
        restarts either while no ramp is underway (a completed ramp judges nothing but its
        budget; a ramp started later starts on the targeting then). While the runtime keeps
        its previous settings of the campaign (``TreatmentNotServed``: the served version does
        not score a treatment of the edit; its campaigns file not written, or with no room for
        the edit), the step is held, not running on the edit: the digest of what it runs
        stays, and the step starts over once the runtime takes the edit (the hold lifted;
        lifted by a new model version, that version starts it over anyway; by an edit back to
        what it ran, nothing restarts)."""
        s = self.status
        digest = _targeting_digest(self.spec)
        before = s.targeting_digest
        if (before is not None and before != digest and self.active()
                and (self.unserved is not None or self.undelivered is not None)):
            return  # the runtime still decides on ``before``
        s.targeting_digest = digest
        if before is None or before == digest or not self.active() or self.restarted:
            return
        s.targeting_since = self.now
        afresh, pending = self.judge_afresh(_TARGETED_GATE_TYPES)
        why = (f"spec.targeting or spec.treatments edited: step {self.step_index() + 1}/"
               f"{len(self.steps)} starts over at {self.exposed()} on the decisions made from "
               "now")
        if afresh:
            why += f", gates {', '.join(afresh)} measured afresh"
        if pending:
            why += f"; {_pending_words(pending, 'the new targeting')}"
        self.record(Reason.STEP_RESTARTED, self.subject(), why, "spec")
        self.emit("Normal", Reason.STEP_RESTARTED, f"{self.where()} ({why})")

    def follow_step_level(self) -> None:
        """``spec.exposure.steps`` edited mid-ramp: the step machine's ``follow_step_level``
        (the current step served at no less than the percent the spec now gives it, the step
        starting over when raised; not while held: Paused, a spent budget, its model not
        serving, a treatment not scored, its campaigns file not written), with two things of a
        Campaign's. A budget gate keeps its status (the period's money), as at any step start
        over (``restart_step``). And it acts in a pass that started the step over at its
        exposure too (a budget renewal, a new model version, the runtime treating at the step
        again): that pass's restart would otherwise keep the raise for the next pass, so a
        pass run again on its own output would not change nothing. A pass that started the
        ramp (at its first step's percent) or reopened it (``extend_completed_ramp``, at the
        step's percent) has nothing to raise, and one that ended it has no step."""
        restarted, self.restarted = self.restarted, False
        budget_gates = {gate.name for gate in _budget_gates(self.spec)}
        kept = {g.name: g for g in self.status.gates if g.name in budget_gates}
        super().follow_step_level()
        self.restarted = restarted
        self.status.gates = [kept.get(g.name, g) for g in self.status.gates]

    def extend_completed_ramp(self) -> None:
        """``spec.exposure.steps`` edited after the ramp completed, a step now above the
        exposure it completed at (a 100 % step added to [10, 25]): the ramp goes on at the
        first such step, as if it had advanced there (``advance_step``). The exposure rises to
        that step's percent (never lowered: the steps at or below it are passed), the step's
        pause and ``progressDeadline`` run from now, and its gates are measured and judged as
        at any step (a Fail rolls the campaign back, or leaves a Manual rollback pending), each
        one's evidence moved to a new stratum as at a step change, but for the budget gates
        (the period's money), which keep theirs, and the gates judging the model's decisions
        last measured before its current version (``modelVersionSince``), which start afresh
        as ``follow_version`` has them. A Normal ``StepAdvanced`` event and history entry (actor
        ``spec``) say so. Not while anything holds the campaign (``not_serving``: a spent
        budget, its model not serving, a treatment not scored, its campaigns file not
        written; the spec's ``paused``): the ramp goes on once the hold lifts. Without such a
        step a completed ramp stays complete: the steps of a completed ramp are all at or
        below its exposure (``complete`` lifts it to the last), so only an edit makes one."""
        s = self.status
        if (self.active() or not completed(s) or self.restarted or self.ramp.paused
                or self.not_serving() is not None):
            return
        was = self.level()
        index = next((i for i, step in enumerate(self.spec.exposure.steps)
                      if step.percent > was), None)
        if index is None:
            return
        s.current_step = index
        self.set_level(self.step_level(index))
        s.step_started_at = self.now
        s.resumed_at = s.paused_at = s.passed_while_held_at = None
        gates = {gate.name: gate for gate in self.spec.exposure.gates}
        since = s.model_version_since
        s.gates = [st if gates[st.name].type == "budget" else next_step(st)
                   for st in s.gates if st.name in gates and (
                       gates[st.name].type in _CARRIED_GATE_TYPES or since is None
                       or st.time >= since)]
        self.restarted = True  # this pass's outcomes (the budget's) measured the completed ramp
        why = (f"{self.ramp_steps_field} edited: step {index + 1} is above the {was:g}% the "
               "ramp completed at; the ramp goes on from there")
        self.record(Reason.STEP_ADVANCED, self.subject(), why, "spec")
        self.emit("Normal", Reason.STEP_ADVANCED, f"{self.where()} ({why})")

    def start_step_again(self) -> None:
        """The ramp is underway but the runtime did not treat at the step's exposure until
        this pass: the pass before refused the spec (the campaigns file carried the entry
        inactive, at 0 %), or the model's campaigns file could not be written (the runtime
        kept its previous settings) and this pass finds it written (``delivered_again``),
        unless the file there carried this Campaign's entry as its status says all along
        (``carried_all_along``: the failed writes were other Campaigns' changes, or wrote
        its level again), or the first write of the file by this process delivered its entry
        after the step started (``delivered_late``: a predecessor decided the step and
        stopped before its file pass wrote it, the runtime treating at the exposure before
        meanwhile). That time was not time at the step's exposure, so, as at a budget
        renewal
        (``follow_budget``), the step's pause and deadline run again from now and its gates
        count from now: each gate but the budget's moves to a new stratum (``next_step``: its
        sequential evidence carried, its Inconclusives counted afresh), keeping its Fails and
        Errors in a row (this is no evidence against them). This pass's outcomes, measured
        over that time, are dropped as at any step change, but for a budget Fail
        (``apply_analysis``). Nothing to do when this pass already started the step (a ramp
        started, a new model version) or the ramp is not underway (completed, ended)."""
        if not self.active():
            return
        if (self.spec_was_refused or (self.delivered_again() and not self.carried_all_along())
                or self.delivered_late()):
            self.restart_step()

    def advance(self) -> None:
        """The step machine's ``advance``, but not before the model's file pass in this
        process has run (``delivery_not_known``): whether the runtime treated at the step's
        exposure is not known yet, and that pass, which says so (``delivered_late``), comes
        within seconds of a start and wakes the Campaign. Nothing is said meanwhile (a
        restart is no news of the ramp); a promote by hand still acts."""
        if self.delivery_not_known:
            return
        super().advance()

    def stays_paused(self) -> bool:
        """The step machine's, and before the model's file pass in this process has run
        (``delivery_not_known``): gates that pass then passed on evidence that may be of the
        exposure before the step's (a predecessor's decision not yet written), so
        ``AnalysisPassed`` waits, as while held (``passedWhileHeldAt``), for the pass after
        the file pass, and is said then only if the step did not start over."""
        return self.delivery_not_known or super().stays_paused()

    def waiting_for(self) -> str:
        """The step machine's, but before the model's file pass in this process has run
        (``delivery_not_known``) the step waits for that pass, not for a time already past nor
        for gates that passed on evidence whose exposure is not known (``advance``)."""
        if not self.delivery_not_known:
            return super().waiting_for()
        blocked = self.blocked_by()
        return ("waiting for the model's first campaigns-file pass in this operator process "
                "(whether the runtime treats at this step's exposure is not known yet)"
                + (f"; and waiting ({blocked})" if blocked is not None else ""))

    def delivered_late(self) -> bool:
        """Whether the model's campaigns file delivered this Campaign's entry, as its status
        says, only after the step underway started (``delivered_at``: the first write of the
        file by this process found the ConfigMap there not carrying it). Once the step started
        over from this pass (``restart_step``), the write is no longer after its start."""
        started = self.status.step_started_at
        return (self.delivered_at is not None and started is not None
                and self.delivered_at > started)

    def restart_step(self) -> None:
        """The step underway starts again at its exposure (``start_step_again``, a budget
        renewal in ``follow_budget``): its pause and deadline run from now, and each gate but
        the budget's moves to a new stratum (``next_step``), keeping its Fails and Errors in a
        row. Once a pass: nothing when this pass already (re)started the ramp or its step
        (``restarted``: a ramp started, a new model version, a fixed spec or a file written
        again, then a renewal), which left nothing measured on the stratum since."""
        if self.restarted:
            return
        s = self.status
        # From the file's delivery when it came after this pass's time (taken before its
        # measurement): a start before it would find the delivery late again next pass.
        s.step_started_at = (max(self.now, self.delivered_at) if self.delivered_at is not None
                             else self.now)
        s.passed_while_held_at = None  # the old step's passes: this one has none yet
        budget_gates = {gate.name for gate in _budget_gates(self.spec)}
        s.gates = [g if g.name in budget_gates else _next_stratum(g) for g in s.gates]
        self.restarted = True  # this pass's outcomes measured the time before

    def delivered_again(self) -> bool:
        """Whether the model's campaigns file is known written in this pass after
        ``SettingsDelivered`` said it could not be (``FileNotWritten``), or had no room for
        this Campaign's settings (``CampaignsFileFull``: left out, or held at its entry from
        before a spec edit). While it is not known yet (``undelivered``: a restart), the
        stored condition stands, so this is False."""
        before = cond.find(self.previous.conditions, cond.SETTINGS_DELIVERED)
        return (self.undelivered is None and before is not None and before.status == "False"
                and before.reason in (cond.FILE_NOT_WRITTEN, cond.CAMPAIGNS_FILE_FULL))

    def carried_all_along(self) -> bool:
        """Whether the model's campaigns file carried this Campaign's entry, as its status
        says, since no later than ``SettingsDelivered`` turned False (``carried_since``): its
        level reached the pods before the hold began and stayed there, so the step's time
        and its gates' evidence over the hold were at its exposure. Not known (an operator
        restart since, a ConfigMap deleted or someone else's meanwhile, its entry changed or
        written only by the write that ended the failure): False, the step starts over."""
        before = cond.find(self.previous.conditions, cond.SETTINGS_DELIVERED)
        return (self.carried_since is not None and before is not None
                and before.status == "False"
                and self.carried_since <= before.last_transition_time)

    def follow_budget(self) -> None:
        """Suspend the exposure while the period's budget is spent (a Warning event and a
        history entry once), keeping the exposure it held in ``suspendedExposurePercent``, and
        give that exposure back once the suspension lifts (a Pass of the budget gate, or the
        rollover of its last Fail's period: ``budget_suspension``): a ramp underway keeps its
        step, its pause counted again (nothing was rolled back), and its gates' evidence moves
        to a new stratum as at a step change (``next_step``: each sequential test's evidence
        carried, so α is not spent again on a count that restarts from the renewal; the
        Inconclusives counted towards ``inconclusiveLimit`` start again with the counts, as the
        pause does), but for their Fails and Errors in a row, which still count towards a
        rollback (a renewal is no evidence against them); the budget gates keep theirs (the
        period's money). A completed ramp gets its exposure back as it was."""
        s = self.status
        if not self.active() and not completed(s):
            return
        held = s.suspended_exposure_percent
        kind = _suspension_kind(s)
        if held is None and self.active() and s.exposure_percent == 0:
            # Suspended by an operator that did not keep the exposure: the step's.
            held = self.step_level(self.step_index())
        self.suspended = budget_suspension(self.spec, s, self.budget_anchor, self.now,
                                           self.observed.gate_outcomes or ())
        if self.suspended is not None:
            why, reason = self.suspended.why, Reason(self.suspended.reason)
            where = (f"at step {self.step_index() + 1}" if self.active()
                     else "of the completed ramp")
            if held is None:
                text = f"{self.exposed()} {where} suspended to 0%: {why}"
                held = s.exposure_percent
                s.exposure_percent = 0
                self.record(reason, self.subject(), why)
                self.emit("Warning", reason, text)
            elif kind is not None and kind != self.suspended.reason:
                # Suspended on, for the other reason (the spend read spent; a spent budget's
                # period rolled over while it cannot be read): said, and recorded, so the
                # history dates the suspension as it now is (``_last_fail``).
                self.record(reason, self.subject(), why)
                self.emit("Warning", reason, f"{self.exposed()} {where} stays suspended at "
                                             f"0%: {why}")
            s.suspended_exposure_percent, s.exposure_percent = held, 0
        elif held is not None:
            # The exposure held before the suspension, not the step's percent as the spec says
            # now: a higher one is ``follow_step_level``'s, which raises it in this pass, the
            # step starting over there (a lower one is never followed).
            s.exposure_percent, s.suspended_exposure_percent = held, None
            if self.active():
                # The step's pause and deadline run again from here: its time at 0 % was not
                # time at its exposure. Its gates count from here too (``step_started_at``),
                # so their evidence goes on in a new stratum, as at a step change.
                self.restart_step()
                # What the gates demand, on their counters as they now stand (this pass judged
                # them before the renewal): a pause for Inconclusives counted before it lifts.
                self.pause_reason, self.rollback_pending = None, False
                self.act_on_gates()
            why = self.renewed_because()
            where = self.where() if self.active() else f"completed ramp at {self.exposed()}"
            self.record(Reason.BUDGET_RENEWED, self.subject(), why)
            self.emit("Normal", Reason.BUDGET_RENEWED, f"{where} resumed ({why})")

    def renewed_because(self) -> str:
        """Why a suspension lifted, as it happened: nothing enforces a budget any more (the
        spec's budget removed, or its budget gates made dry-run), the period of its last Fail
        rolled over (a period boundary passed), or within it a budget gate passes again (a
        raised budget; replicas restarted, their spend counted from zero). One for a spend
        that could not be read (``BudgetUnreadable``): the action no longer Suspend, ``after``
        lengthened beyond the outage (still unreadable: no reading showed the spend), or a
        reading that shows it under the budget."""
        budget_gates = _budget_gates(self.spec)
        if not any(not gate.dry_run for gate in budget_gates):
            if self.spec.economics.budget is None:
                return "spec.economics.budget was removed: no budget is enforced"
            dry = ", ".join(gate.name for gate in budget_gates)
            return f"the budget gate is dry-run ({dry}): it suspends nothing"
        names = {gate.name for gate in budget_gates}
        if _suspension_kind(self.previous) == cond.BUDGET_UNREADABLE:
            policy = self.spec.economics.budget_unreadable
            if policy is None or policy.action != "Suspend":
                return ("spec.economics.budgetUnreadable.action is no longer Suspend: a spend "
                        "that cannot be read suspends nothing")
            since = _utc(self.status.budget_unreadable_since)
            if since is not None:  # no reading showed the spend: ``after`` outlasts the outage
                return (f"spec.economics.budgetUnreadable.after lengthened to {policy.after}: "
                        f"the spend, unreadable since {since.isoformat()}, has not been for "
                        "that long; a reading that fails from "
                        f"{(since + parse_duration(policy.after)).isoformat()} on suspends it "
                        "again")
            return f"the spend is read again, under the budget{self._spent(names)}"
        if self.period_rolled_over():
            return "the budget period rolled over"
        return f"the budget gate passes again within the period{self._spent(names)}"

    def _spent(self, names: set[str]) -> str:
        """": spent S of budget B" from the first of the budget gates ``names`` that passes
        (its value and threshold), or "" when none shows both."""
        passing = next((g for g in self.status.gates if g.name in names
                        and g.verdict is GateVerdict.PASS), None)
        if passing is None or passing.value is None or passing.threshold is None:
            return ""
        return f": spent {passing.value:.6g} of budget {passing.threshold:.6g}"

    def period_rolled_over(self) -> bool:
        """Whether a budget period boundary passed since the last budget Fail before this
        pass (its gates' Fails, or its ``BudgetExhausted`` history entry, the later)."""
        period, anchor = self.spec.economics.budget_period, self.budget_anchor
        if period is None or anchor is None:
            return False
        names = {gate.name for gate in _budget_gates(self.spec)}
        fails = [g.time for g in self.previous.gates
                 if g.name in names and g.verdict is GateVerdict.FAIL]
        last = _last_fail(self.previous)
        if last is not None:
            fails.append(last)
        if not fails:
            return False
        _, end = budget.current_period(period, anchor, max(fails))
        return end is not None and self.now >= end

    def apply_analysis(self) -> None:
        """The step's analysis (``StepPass.apply_analysis``), then the budget outcomes that
        outlive the step they were measured on.

        The rule: **a budget Fail takes effect in the pass that measured it, whatever else
        that pass did to the ramp** — a step promoted by hand, the ramp completed (by hand or
        on a one-step ramp), the step started over on a new model version. The period's spend
        is the same whatever the step, and a Fail dropped with the old step's evidence would
        let the exposure grow (or go on) while the budget is spent, until the next analysis an
        interval later. So ``follow_budget`` suspends the new step (its exposure kept aside) in
        this very pass, and a rerun of it changes nothing. Any other outcome measured on the
        step before is dropped, as the step machine drops it: evidence belongs to its step (a
        budget Pass dropped only delays a renewal to the next analysis). A completed ramp
        measures only its budget gates (``gates_to_measure``): all of their outcomes apply,
        the other gates keeping what the last step measured."""
        before = self.status.last_analysis_at
        if self.active():
            said = len(self.events)
            super().apply_analysis()
            if _suspended(self.status):
                # Only the budget gates were measured: "every gate passed" would rest on the
                # other gates' verdicts from before the suspension, which its renewal (this
                # pass's, if any) stops counting. Said once they pass after it.
                self.events[said:] = [event for event in self.events[said:]
                                      if event.reason is not Reason.ANALYSIS_PASSED]
            if self.status.last_analysis_at != before:
                return  # the step's own analysis, budget gates included
        if not exposing(self.status):
            # Rolled back, aborted or withdrawn in this pass: nothing treats to suspend now.
            # But the spend it read is the period's, whatever the ramp: a budget gate's Fail
            # (or Pass) it measured is kept, so a ramp started again (``start_exposure``
            # carries the budget gates) is suspended in its first pass, not treating for an
            # interval on the Pass from before while the budget is spent.
            self.keep_budget_outcomes()
            return
        underway = self.active()
        budget_gates = {gate.name for gate in _budget_gates(self.spec)}
        outcomes = {o.name: o for o in self.observed.gate_outcomes or ()
                    if o.name in budget_gates
                    and (not underway or (o.verdict is GateVerdict.FAIL
                                          and o.suspension is not None))}
        self._record_new(outcomes)

    def _record_new(self, outcomes: dict[str, GateOutcome]) -> None:
        """Record ``outcomes`` unless this pass already did (a pass is idempotent)."""
        if not outcomes:
            return
        latest = max(o.time for o in outcomes.values())
        last = self.status.last_analysis_at
        if last is not None and latest <= last:
            return  # already applied
        self.record_outcomes(outcomes, latest)

    def keep_budget_outcomes(self) -> None:
        """The budget gates' Fails and Passes measured in a pass that ended the exposure
        (``apply_analysis``): recorded in their statuses, as the period's money they are. Not
        their Errors and Inconclusives (they tell nothing of the spend, and would hide a Fail
        from before), nor past the schedule's end (the results are final then)."""
        if not exposing(self.previous) or (self.outside is not None and self.outside.ended):
            return
        budget_gates = {gate.name for gate in _budget_gates(self.spec)}
        outcomes = {o.name: o for o in self.observed.gate_outcomes or ()
                    if o.name in budget_gates
                    and o.verdict in (GateVerdict.FAIL, GateVerdict.PASS)}
        self._record_new(outcomes)

    # -- phase, conditions --------------------------------------------------------------------

    def next_analysis(self) -> dt.datetime | None:
        """The next analysis an interval after the later of the step's start and the last one,
        as ``analysis_due`` runs it: past a budget period's first ``settle``
        (``settled_analysis``). None: due now (no step start, no analysis yet)."""
        base = steps.analysis_base(self.status)
        if base is None:
            return None
        return settled_analysis(self.spec, self.budget_anchor,
                                base + parse_duration(self.spec.exposure.analysis_interval),
                                self.settle)

    def ramp_times(self) -> list[dt.datetime]:
        """The step machine's times, its next analysis moved as ``analysis_due`` moves it, so
        the pass at the interval does not find it not due and requeue a second on."""
        times = super().ramp_times()
        base = steps.analysis_base(self.status)
        settled = self.next_analysis()
        if not self.active() or base is None or settled is None:
            return times
        due = base + parse_duration(self.spec.exposure.analysis_interval)
        if settled != due and due in times:
            times.remove(due)
            times.append(settled)
        return times

    def finish(self) -> Decision:
        if not exposing(self.status):  # ended in this pass: nothing spent to be blind to
            self.status.budget_unreadable_since = None
        if self.model.unheld is not None and not exposing(self.status):
            # The model served only while the campaign exposed, and this pass ended that: judged
            # as the next pass will judge it, so that pass, with nothing new observed, writes
            # nothing (no Degraded → Progressing, no ModelServing True → False).
            self.model = self.model.unheld
            self.status.model_version = self.model.stable_version if self.model.serving else None
        phase, message, ready, reason = self.phase()
        pending = self.pending_withdrawn()
        if pending:
            message = f"{message}; {_withdrawn_pending_words(pending)}"
        message = self.set_phase(phase, message)
        before = cond.find(self.previous.conditions, cond.READY)
        if (reason == cond.TREATMENT_NOT_SERVED and self.unserved is not None
                and (before is None or before.reason != cond.TREATMENT_NOT_SERVED)):
            self.emit("Warning", Reason.TREATMENT_NOT_SERVED, self.unserved, decision=False)
        # A stable version down is held through (``serving`` for every decision above), but
        # ModelServing says it does not serve: a problem past the grace (``domain.stuck``).
        serves = self.model.serving and not self.model.stable_down
        conditions = cond.set_condition(
            self.status.conditions, type_=cond.MODEL_SERVING,
            status="True" if serves else "False",
            reason=(cond.MODEL_STABLE_SERVING if serves
                    else cond.MODEL_STABLE_NOT_SERVING if self.model.serving
                    else self.model.reason or (cond.MODEL_NOT_SERVING if self.model.found
                                               else cond.MODEL_NOT_FOUND)),
            message=steps.clip(self.model.why, steps.MESSAGE_MAX), now=self.now,
            # ModelNotFound and StableNotServing are problems past the grace
            # (``domain.stuck``), ModelNotServing is none: a model not serving for an hour,
            # then briefly deleted and re-created, is not found since now, not Degraded at
            # once "since" an hour ago.
            observed_generation=self.generation, moves_on_reason=True)
        self.status.conditions = self.ready(conditions, ready, reason, message)
        return Decision(status=self.status, exposure_percent=self.status.exposure_percent,
                        events=tuple(self.events),
                        requeue_after=self.requeue([*self.schedule_times(), *self.budget_times()]))

    def schedule_times(self) -> list[dt.datetime]:
        """The schedule's start and end, and a suspension's end, still to come: a pass is due
        at each."""
        schedule = self.spec.schedule
        times = [_utc(schedule.start), _utc(schedule.end)] if schedule is not None else []
        if self.suspended is not None:
            times.append(self.suspended.until)
        return [time for time in times if time is not None and time > self.now]

    def budget_times(self) -> list[dt.datetime]:
        """A completed ramp's next budget analysis (a ramp underway has its own times), and,
        while the campaign exposes (underway, completed or suspended), the start of the next
        budget period when the status would change there: a spend above 0 or a budget gate's
        Fail, which that pass shows as the new period's (``roll_spend_over``,
        ``drop_past_budget_fails``; a suspension's end is a time of its own,
        ``schedule_times``). It is no analysis (``analysis_due``): the gates read the new
        period at the next, an ``analysisInterval`` on. Not once the status shows the period
        begun (0 spent, no Fail: a 1 s ``budgetPeriod`` would ask for a pass a second), nor
        for a campaign that exposes no one (rolled back, withdrawn, ended): its figures roll
        over at its next pass."""
        s, economics = self.status, self.spec.economics
        times: list[dt.datetime] = []
        budget_gates = _budget_gates(self.spec)
        names = {gate.name for gate in budget_gates}
        shows_spend = (s.spend is not None and s.spend > 0) or any(
            g.name in names and g.verdict is GateVerdict.FAIL for g in s.gates)
        if (economics.budget_period is not None and self.budget_anchor is not None
                and exposing(s) and budget_gates and shows_spend):
            _, end = budget.current_period(economics.budget_period, self.budget_anchor,
                                           self.now)
            if end is not None:
                times.append(end)
        if self.active() or not completed(s) or not budget_gates:
            return times
        settled = self.next_analysis()
        return [*times, self.now if settled is None else settled]

    def phase(self) -> tuple[Phase, str, cond.ConditionStatus, str]:
        """Phase, message, and Ready's status and reason. Never Healthy at 0 % exposure."""
        s = self.status
        if self.outside is not None and self.outside.ended:
            return (Phase.COMPLETED, f"exposure 0%: completed, {self.outside.why}; the results "
                                     "in status are final (move the end to run it again)",
                    "False", cond.SCHEDULE_ENDED)
        held = self.rollback_holds() and not exposing(s)
        if self.outside is not None and not held:
            paused = (f"; {self.paused_field} holds it at 0% until it is resumed"
                      if self.ramp.paused else "")
            return (Phase.SUSPENDED, f"exposure 0%: starts at {self.outside.at.isoformat()} "
                                     f"({self.outside.why}){paused}", "False",
                    cond.SCHEDULE_PENDING)
        if not self.model.serving and not held:
            phase = Phase.DEGRADED if self.model.degraded else Phase.PROGRESSING
            return phase, f"exposure 0%: {self.model.why}", "False", cond.WAITING
        if self.suspended is not None:
            resume = self.level()
            then = (f"step {self.step_index() + 1}/{len(self.steps)} at {resume:g}%"
                    if self.active() else f"the completed ramp's {resume:g}%")
            return (Phase.SUSPENDED, f"exposure 0%: {self.suspended.why}; then {then} again "
                                     "(never a rollback)", "False", self.suspended.reason)
        if self.active():
            phase, message = self.ramp_phase()
            unmeasured = [g.name for g in s.gates
                          if g.message.startswith(("not measured yet (no collector",
                                                   "not measured yet (no evaluator"))]
            if unmeasured:
                message += (f"; gates {', '.join(unmeasured)} are not measured yet (no "
                            "collector): exposure will not grow on no evidence")
            if self.rollback_pending:
                return phase, message, "False", cond.ROLLBACK_PENDING
            if self.unserved is not None:
                return phase, message, "False", cond.TREATMENT_NOT_SERVED
            return phase, message, "True", cond.EXPOSING
        if held:
            # Whether the model serves or not (then ModelServing says why), before the
            # schedule's start or not: the rollback holds the campaign at 0 % either way, and
            # it is what a human must act on. A retry is acted on once the ramp can start.
            entry = self.last_rollback()
            why = entry.reason if entry is not None else "reason no longer in history"
            when = (f" once spec.schedule.start {self.outside.at.isoformat()} has come"
                    if self.outside is not None else "")
            return (Phase.DEGRADED, f"exposure 0%: rolled back ({why}). Change the spec or "
                                    f"retry with {self.ask('retry')}{when}", "False",
                    cond.ROLLED_BACK)
        if self.unserved is not None:
            if exposing(s):  # completed: the replicas that load that version do not serve it
                return (Phase.DEGRADED, f"exposure ramp complete at {s.exposure_percent:g}%, "
                                        f"held: {self.unserved}", "False",
                        cond.TREATMENT_NOT_SERVED)
            return (Phase.PROGRESSING, f"exposure 0%: {self.unserved}", "False",
                    cond.TREATMENT_NOT_SERVED)
        if not exposing(s) and self.ramp.paused:  # the model serves, nothing else holds it
            return (Phase.PAUSED, f"exposure 0%: held by {self.paused_field}; its ramp starts "
                                  f"at step 1 once it is resumed ({self.model.why})", "False",
                    cond.EXPOSURE_PAUSED)
        return (Phase.HEALTHY, f"exposure ramp complete: {s.exposure_percent:g}% of eligible "
                               f"units exposed; {self.model.why}", "True", cond.EXPOSING)

    def ready(self, conditions: list[Condition], status: cond.ConditionStatus, reason: str,
              message: str) -> list[Condition]:
        return cond.set_condition(conditions, type_=cond.READY, status=status, reason=reason,
                                  message=message, now=self.now,
                                  observed_generation=self.generation)


def spec_digest(spec: CampaignSpec) -> str:
    """What a rollback holds the Campaign at 0 % for: its spec but ``exposure.paused`` (a
    pause or a resume is a control, not a change of what the Campaign does), defaults left out
    (``canonical_json``), so only an edit changes it, never an operator release."""
    text = canonical_json(spec, exclude={"exposure": {"paused"}})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def legacy_spec_digest(spec: CampaignSpec) -> str:
    """``rolledBackSpec`` as operators before ``canonical_json`` wrote it: the whole spec,
    defaults included, so any release adding a field changed it. Accepted (never written) so
    that the upgrade that brought ``spec_digest`` keeps a rolled-back Campaign at 0 %; a pass
    that holds it there rewrites it in the current form (``follow_model``). Delete it (and its
    uses) once upgrades from those operators (0.1.x) are no longer supported: a Campaign still
    carrying it then (none the operator passed over since, its model serving) would be held
    by its generation alone, a pause or resume restarting its ramp. A field those operators
    did not have is left out while unset (``economics.budgetUnreadable``): they could not have
    written it."""
    exclude: dict[str, Any] = {"exposure": {"paused"}}
    if spec.economics.budget_unreadable is None:
        exclude["economics"] = {"budget_unreadable"}
    wire = spec.model_dump(mode="json", by_alias=True, exclude=exclude)
    return hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()[:32]


def _rolled_back_spec(spec: CampaignSpec, status: CampaignStatus) -> bool:
    """Whether ``status.rolledBackSpec`` is ``spec``'s digest, in the current form or the
    legacy one."""
    stored = status.rolled_back_spec
    return stored is not None and (stored == spec_digest(spec)
                                   or stored == legacy_spec_digest(spec))


class NotKnownYet(enum.Enum):
    """Whether the model's campaigns file can be written is not known yet: its file pass has
    not run in this process (an operator restart), and what it found before is in memory only
    (``services.campaigns_file.FileDependencies.undelivered``)."""

    NOT_KNOWN_YET = "not known yet"


#: ``NotKnownYet``'s one value.
NOT_KNOWN_YET = NotKnownYet.NOT_KNOWN_YET


def undelivered(previous: list[Condition], known: str | NotKnownYet | None) -> str | None:
    """Why the model's campaigns file cannot be written, for the ramp's hold
    (``Observed.undelivered``): ``known`` once the model's file pass in this process has run;
    before that, what ``SettingsDelivered`` last said (its message while False for
    ``FileNotWritten``), so a restart neither releases a held ramp nor holds one that was not."""
    if not isinstance(known, NotKnownYet):
        return known
    before = cond.find(previous, cond.SETTINGS_DELIVERED)
    if (before is not None and before.status == "False"
            and before.reason == cond.FILE_NOT_WRITTEN):
        return before.message
    return None


def settings_delivered(previous: list[Condition], problem: str | NotKnownYet | None,
                       generation: int, now: dt.datetime, *,
                       reason: str = cond.FILE_NOT_WRITTEN,
                       model_found: bool = True) -> list[Condition]:
    """``SettingsDelivered``: False while the model's campaigns file cannot be written, or does
    not carry this Campaign as its spec says (``problem`` says why, ``reason`` which: the
    runtime keeps its previous settings of the Campaign, so an exposure decided meanwhile, a
    rollback's 0 % included, has not reached the pods), True once it is written again; absent
    while it never failed (no condition churn on a healthy pass). A True one moves to a new
    generation (a spec edit), once (``cond.restamped``). ``NOT_KNOWN_YET`` (the model's file
    pass has not run in this process) leaves it as it is: a restart is no news of the file.
    Absent while the model is not found (``model_found`` False: deleted, or not applied yet),
    whatever it said before: the file goes with its model (its owner), and the runtime that
    read it with its predictors, so there is nothing to deliver to, and nothing was delivered
    (``ModelServing`` says ``ModelNotFound``); once the model is back it is said as for a file
    that never failed."""
    if not model_found:
        return [c for c in previous if c.type != cond.SETTINGS_DELIVERED]
    if isinstance(problem, NotKnownYet):
        return previous
    before = cond.find(previous, cond.SETTINGS_DELIVERED)
    if problem is not None:
        return cond.set_condition(previous, type_=cond.SETTINGS_DELIVERED, status="False",
                                  reason=reason,
                                  message=steps.clip(problem, steps.MESSAGE_MAX), now=now,
                                  observed_generation=generation)
    if before is None or before.status == "True":  # once at a new generation (a spec edit)
        return cond.restamped(previous, cond.SETTINGS_DELIVERED, generation)
    return cond.set_condition(previous, type_=cond.SETTINGS_DELIVERED, status="True",
                              reason=cond.FILE_WRITTEN,
                              message="the campaigns file carries this Campaign's settings "
                                      "again", now=now, observed_generation=generation)
