"""Condition bookkeeping in the shape of metav1.Condition, as pure functions.

``set_condition`` keeps ``lastTransitionTime`` when the status did not change, so re-computing
the same conditions on every pass writes nothing new (no status churn).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

from uplift_operator.api.v1alpha1.common import Condition

__all__ = ["INVALID_SPEC", "MODEL_RESOLVED", "READY", "SERVING_APPLIED", "ConditionStatus", "find",
           "restamped", "set_condition"]

# Condition types
READY = "Ready"
INVALID_SPEC = "InvalidSpec"
MODEL_RESOLVED = "ModelResolved"
SERVING_APPLIED = "ServingApplied"
MODEL_SERVING = "ModelServing"  # Campaign: whether its UpliftModel serves a stable version
REGISTRY_WRITTEN_BACK = "RegistryWrittenBack"  # UpliftModel: MLflow heard of its decisions
# Campaign: its model's campaigns file carries its settings to the runtime (present once not)
SETTINGS_DELIVERED = "SettingsDelivered"
#: Campaign: other Campaigns of its UpliftModel draw with the same salt, so they expose and hold
#: out the same units (``domain.shared_draws``). A warning only; absent on one that never shared.
HOLDOUT_SHARED = "HoldoutShared"
#: UpliftModel: the serving backend reports its graph failed (SeldonDeployment ``Failed``),
#: with the backend's description and which version (stable, canary) does not serve. Set
#: once a failure is first reported; absent on a model that never had one.
SERVING_FAILED = "ServingFailed"

# Reasons, by condition. Ready (both kinds):
INVALID_SPEC_REASON = "InvalidSpec"
WAITING = "Waiting"
NO_VERSION = "NoVersion"
WAITING_FOR_SERVING = "WaitingForServing"  # also an emergency restore's restored version
ROLLBACK_PENDING = "RollbackPending"
STABLE_SERVING = "StableServing"
EXPOSING = "Exposing"  # Campaign: the exposure ramp runs (or completed) as the spec says
ROLLED_BACK = "RolledBack"  # Campaign: a gate (or a human) set exposure back to 0
SCHEDULE_ENDED = "ScheduleEnded"  # Campaign: past spec.schedule.end, exposure 0
SCHEDULE_PENDING = "SchedulePending"  # Campaign: before spec.schedule.start, exposure 0
#: Campaign: spec.exposure.paused holds it at 0 %, its ramp not started (the model serves)
EXPOSURE_PAUSED = "Paused"
BUDGET_EXHAUSTED = "BudgetExhausted"  # Campaign: the period's budget is spent, exposure 0
#: Campaign: its spend could not be read for spec.economics.budgetUnreadable.after under its
#: action Suspend: exposure 0 until a reading shows the spend under the budget
BUDGET_UNREADABLE = "BudgetUnreadable"
#: Campaign: the version its model serves does not score one of its treatments; exposure held
TREATMENT_NOT_SERVED = "TreatmentNotServed"
# InvalidSpec:
SPEC_VALID = "SpecValid"
# ModelResolved (UpliftModel), False; ``MODEL_NOT_FOUND`` (below) too. Two clear by themselves:
#: MLflow could not be asked (connection, timeout, 5xx): an outage.
REGISTRY_UNAVAILABLE = "RegistryUnavailable"
#: The version is PENDING_REGISTRATION: its files may still be uploading.
VERSION_NOT_READY = "VersionNotReady"
# The others do not (``domain.stuck``: Degraded after the grace):
#: The version's MLflow status is final and not READY (FAILED_REGISTRATION, or one this
#: operator does not know): it never serves.
VERSION_FAILED = "VersionFailed"
#: What the version takes and scores (its MLmodel, its treatments tag) cannot be read: MLflow
#: answered, and refused or sent what is not a model (unparseable, over the size bound).
INVALID_MODEL = "InvalidModel"
#: The credentials Secret the spec names cannot be read: the API server answered 404 (not
#: there) or 403 (the operator may not read it).
CREDENTIALS_UNREADABLE = "CredentialsUnreadable"
#: MLflow answered 401 (the credentials refused, or none given) or 403 (their user denied the
#: permission a read needs): a Secret to fix or a permission to grant, not an outage.
CREDENTIALS_REFUSED = "CredentialsRefused"
#: Neither the spec (``spec.model.trackingUri``) nor the operator (``--mlflow-tracking-uri``)
#: names an MLflow: a configuration, not an outage.
TRACKING_URI_MISSING = "TrackingUriMissing"
# Events only (no condition): a gate field its type never reads, stored before the API server
# refused it (domain.validation.ignored_gate_fields).
IGNORED_FIELD = "IgnoredField"
# ServingApplied:
APPLIED = "Applied"
APPLY_FAILED = "ApplyFailed"
#: (False) a re-render of the graph (the same split, rendered anew: an operator setting or
#: upgrade, a ``spec.serving`` edit) waits for a slot among the graphs rolling at once
#: (``services.rolls``); the graph there keeps serving as it is.
ROLL_QUEUED = "RollQueued"
#: What ``ServingApplied``'s message ends with while the graph a spec edit asks for waits for a
#: roll slot (``RollQueued``), is refused (``ApplyFailed``), or rolls its pods (``Applied``,
#: ``RollTimedOut``), until it serves with every pod available and its roll slot is released
#: (Seldon wrote a status since the apply, every Deployment done rolling): the edit has not
#: taken effect yet, so the published phase is not Healthy (``domain.stuck``). Not said of a
#: re-render no edit asked for (an operator setting or release): the spec there took effect, and
#: the graph serves as it is.
SPEC_EDIT_ROLLING = "the spec edit takes effect once the graph has rolled"
#: (False) a roll of the graph (a re-render, or a split change that renders the kept versions'
#: pods anew) did not serve within the roll timeout (its slot freed): said while a pod of the
#: graph is not available, until it serves or a new roll starts (``status.serving_applied``);
#: also the Warning event said once when it times out.
ROLL_TIMED_OUT = "RollTimedOut"
# RegistryWrittenBack (absent until a write-back is first queued, owed or withheld: Unknown
# while queued or owed, False while failing, held, dropped or withheld
# (PromotionAliasShared), True once through; ``domain.status.written_back``):
WRITTEN_BACK = "WrittenBack"
WRITE_BACK_FAILED = "WriteBackFailed"
WRITE_BACK_PENDING = "WriteBackPending"  # Unknown: queued, not yet through (replayed on restart)
#: (Unknown) an abort or an emergency rollback was acted on while the spec was invalid, when
#: MLflow is not asked (its tracking URI may be the one refused): the registry state its
#: status implies is submitted at the first pass with a valid spec.
WRITE_BACK_OWED = "WriteBackOwed"
#: (False) an older UpliftModel moves the same promotion alias (tracking URI, registered model,
#: ``promotionAlias``): this one's alias moves and role and reason tags are withheld; also the
#: Warning event when that starts (or names another model), and ``..._NOT_SHARED`` the Normal
#: one when it ends (``services.writeback.AliasClaims``).
PROMOTION_ALIAS_SHARED = "PromotionAliasShared"
PROMOTION_ALIAS_NOT_SHARED = "PromotionAliasNotShared"
# ServingFailed (UpliftModel): True while the backend reports the graph failed, False after:
SERVING_BACKEND_FAILED = "ServingBackendFailed"
SERVING_RECOVERED = "ServingRecovered"
# SettingsDelivered (Campaign):
FILE_WRITTEN = "FileWritten"
FILE_NOT_WRITTEN = "FileNotWritten"
# HoldoutShared (Campaign); also the Warning (shared) and Normal (no longer) events:
SALT_SHARED = "SaltShared"
SALT_NOT_SHARED = "SaltNotShared"
# ModelServing (Campaign):
MODEL_STABLE_SERVING = "StableVersionServing"
MODEL_NOT_FOUND = "ModelNotFound"  # an UpliftModel's ModelResolved too: no such model/version/alias
MODEL_NOT_SERVING = "ModelNotServing"
#: (False) the model's stable version served and does not any more (its Ready
#: ``WaitingForServing``, ``domain.canary.says_stable_down``): a campaign already exposing holds
#: its exposure and step through it (no rollback), but nothing serves its treatments
#: (``domain.stuck``: Degraded after the grace).
MODEL_STABLE_NOT_SERVING = "StableNotServing"
# These two are SettingsDelivered's reasons too (services.campaign: not in the file, as no model):
CAMPAIGNS_FILE_FULL = "CampaignsFileFull"  # the model serves; its file has no room for this one
# The model serves; its file leaves this one out (a name no replica serves a campaign under) or
# carries it as refused (a spec the runtime could not take as it says).
CAMPAIGN_NOT_CARRIED = "CampaignNotCarried"

ConditionStatus = Literal["True", "False", "Unknown"]


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def set_condition(conditions: Sequence[Condition], *, type_: str, status: ConditionStatus,
                  reason: str, message: str, now: dt.datetime,
                  observed_generation: int | None,
                  moves_on_reason: bool = False) -> list[Condition]:
    """Return ``conditions`` with ``type_`` set; the transition time moves only on a new status,
    or, ``moves_on_reason``, on a new reason too: for a condition whose reasons are problems of
    their own, each timed from when it began (``domain.stuck``'s grace)."""
    previous = find(conditions, type_)
    kept = previous is not None and previous.status == status and (
        not moves_on_reason or previous.reason == reason)
    transition = previous.last_transition_time if previous is not None and kept else now
    updated = Condition(type=type_, status=status, reason=reason, message=message,
                        last_transition_time=transition, observed_generation=observed_generation)
    others = [c for c in conditions if c.type != type_]
    return sorted([*others, updated], key=lambda c: c.type)


def restamped(conditions: Sequence[Condition], type_: str, generation: int) -> list[Condition]:
    """``conditions`` with ``type_`` stamped as observed at ``generation`` when it says an earlier
    one (or none), all else as it was (status, reason, message, lastTransitionTime). For the
    conditions a quiet pass leaves as they are: a pass after a spec edit that finds nothing new
    still observed the new generation, and metav1.Condition reads an ``observedGeneration``
    behind ``metadata.generation`` as out of date (``kubectl wait``-style checks, kstatus).
    One write per spec edit, none on a quiet pass. Absent: nothing to stamp."""
    before = find(conditions, type_)
    if before is None or (before.observed_generation is not None
                          and before.observed_generation >= generation):
        return list(conditions)
    updated = before.model_copy(update={"observed_generation": generation})
    return [updated if c.type == type_ else c for c in conditions]
