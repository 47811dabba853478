"""The UpliftModel canary ramp as a pure state machine: status + observations + now → decision.

Role: the public entry the UpliftModel pass (``services.upliftmodel``) and the tests use. Every
lifecycle decision of an UpliftModel — first deployment, canary start and replacement, step
advances, promotion, rollback, pauses, the progress deadline and manual requests — comes from
``decide``, shaped like Argo Rollouts' reconcile: a snapshot of what one pass observed
(``Observed``), a straight list of steps that build the *whole* new status in memory, then phase,
conditions and requeue computed from it. The state lives in the status only, so a restarted
operator resumes where it was, and ``decide`` is idempotent: run again on its own output with the
same observations, it changes nothing and emits nothing.

Where the code is: ``domain.steps`` (the step machine shared with the Campaign's exposure ramp),
``domain.canary`` (versions, promotion, traffic split), ``domain.requests`` (the annotation
contract). No I/O, no clock.
"""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus
from uplift_operator.domain import canary
from uplift_operator.domain.canary import (
    ROLE_CANARY,
    ROLE_ROLLED_BACK,
    Decision,
    Observed,
    RecordedRoles,
    TrafficSplit,
    analysis_due,
    decide_stopping_requests,
    gates_to_measure,
    on_last_step,
)
from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    ManualRequest,
    RequestKind,
    parse_requests,
)
from uplift_operator.domain.steps import HISTORY_LIMIT, Event, Reason

__all__ = [
    "ABORT_ANNOTATION",
    "EMERGENCY_ROLLBACK_ANNOTATION",
    "HISTORY_LIMIT",
    "PROMOTE_ANNOTATION",
    "RETRY_ANNOTATION",
    "ROLE_CANARY",
    "ROLE_ROLLED_BACK",
    "Decision",
    "Event",
    "ManualRequest",
    "Observed",
    "Reason",
    "RecordedRoles",
    "RequestKind",
    "TrafficSplit",
    "analysis_due",
    "decide",
    "decide_stopping_requests",
    "gates_to_measure",
    "on_last_step",
    "parse_requests",
]


def decide(spec: UpliftModelSpec, status: UpliftModelStatus, observed: Observed,
           now: dt.datetime) -> Decision:
    """One reconcile pass of the ramp, in this order:

    1. pending manual requests (emergency rollback, abort, retry, promote full, promote step),
       each once per token, recorded in ``handledRequests``;
    2. the desired version: the first version becomes stable at once, unless the registry's
       role tags, read when the status is gone (``Observed.recorded``), say it was rolled back
       or a canary and name another stable (that one is stable again, the desired one held or
       ramped from step 1: ``RecordedRoles``); a new one starts (or
       replaces) the canary at step 0; back at stable removes the canary; the aborted version
       does nothing until a retry or a newer version;
    3. this pass's gate outcomes (only if measured during the current step and not applied
       yet) update the gate counters;
    4. counters beyond a limit roll back (or pause, with ``rollback.mode: Manual``), also while
       ``spec.rollout.paused``; Inconclusive beyond a non-zero ``inconclusiveLimit`` pauses;
    5. a step blocked past its pause + ``progressDeadline`` is Degraded, not rolled back;
    6. a step whose acting gates last passed during it, and whose pause has elapsed, advances
       one step (or promotes after the last); a step without a pause waits for a promote.
    """
    return canary.decide(spec, status, observed, now)
