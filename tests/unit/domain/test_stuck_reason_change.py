"""A problem condition is timed from when its current reason began, not from when the condition
first went False: ``ModelResolved`` and ``ServingApplied`` move their ``lastTransitionTime`` on
a new reason (``moves_on_reason``), as a Campaign's ``ModelServing`` and ``SettingsDelivered``
already did. Before, an alias deleted after an hour of ``RegistryUnavailable`` (an outage, no
problem) was Degraded at its first ``ModelNotFound`` pass, "since" the outage began; a refusal
after an hour of ``RollQueued`` the same, and its retries started at the one-minute cap."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status, stuck

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(hours=1)
SERVES = "version 1 serves all traffic"


def _resolved(reason: str, message: str) -> status.Resolved:
    return status.Resolved("churn", reason, message, None)


def test_model_not_found_after_an_outage_gets_its_own_grace() -> None:
    c = status.model_resolved([], _resolved(cond.REGISTRY_UNAVAILABLE, "MLflow down"), 1, T0)
    c = status.model_resolved(c, _resolved(cond.MODEL_NOT_FOUND, "alias champion not found"), 1,
                              T1)
    found = cond.find(c, cond.MODEL_RESOLVED)
    assert found is not None and found.last_transition_time == T1
    first = stuck.model_phase(Phase.HEALTHY, SERVES, c, None, T1)
    assert (first.phase, first.message) == (Phase.HEALTHY, SERVES)
    assert first.due == T1 + stuck.DEFAULT_GRACE
    # Still not found: the same reason keeps its time, and past the grace it is said since T1.
    c = status.model_resolved(c, _resolved(cond.MODEL_NOT_FOUND, "alias champion not found"), 1,
                              T1 + stuck.DEFAULT_GRACE)
    past = stuck.model_phase(Phase.HEALTHY, SERVES, c, None, T1 + stuck.DEFAULT_GRACE)
    assert past.phase is Phase.DEGRADED
    assert past.message.startswith(
        f"ModelResolved False (ModelNotFound) since {T1.isoformat()}: alias champion not found")


def test_resolved_again_keeps_its_time_while_it_resolves() -> None:
    ok = status.Resolved("churn", "Resolved", "", "3")
    c = status.model_resolved([], ok, 1, T0)
    c = status.model_resolved(c, ok, 2, T1)
    found = cond.find(c, cond.MODEL_RESOLVED)
    assert found is not None and found.last_transition_time == T0


def _applied(**kw: Any) -> status.Applied:
    return status.Applied("SeldonDeployment m", "1: 100", **kw)


@pytest.mark.parametrize("before", [
    pytest.param({"queued": "waiting for a roll slot"}, id="roll-queued"),
    pytest.param({"roll_timed_out": "did not serve within 10m", "rolling": ("v1",)},
                 id="roll-timed-out"),
])
def test_a_refused_apply_after_another_reason_gets_its_own_grace_and_backoff(
        before: dict[str, Any]) -> None:
    a = status.serving_applied([], _applied(**before), 1, T0)
    held = cond.find(a, cond.SERVING_APPLIED)
    assert held is not None and held.status == "False" and held.reason != cond.APPLY_FAILED
    a = status.serving_applied(a, _applied(error="admission webhook denied"), 1, T1)
    refused = cond.find(a, cond.SERVING_APPLIED)
    assert refused is not None and refused.reason == cond.APPLY_FAILED
    assert refused.last_transition_time == T1
    published = stuck.model_phase(Phase.HEALTHY, SERVES, a, None, T1)
    assert (published.phase, published.message) == (Phase.HEALTHY, SERVES)
    # The retries back off from the refusal, not from the earlier reason: at once, not a minute.
    assert status.apply_retry_seconds(a, T1) == status.APPLY_RETRY_MIN_SECONDS
    later = T1 + dt.timedelta(seconds=10)
    a = status.serving_applied(a, _applied(error="admission webhook denied"), 1, later)
    assert status.apply_retry_seconds(a, later) == 10.0
    past = stuck.model_phase(Phase.HEALTHY, SERVES, a, None, T1 + stuck.DEFAULT_GRACE)
    assert past.phase is Phase.DEGRADED
    assert f"ServingApplied False (ApplyFailed) since {T1.isoformat()}" in past.message


def test_a_conflict_after_a_refusal_backs_off_from_its_own_start() -> None:
    a = status.serving_applied([], _applied(error="forbidden"), 1, T0)
    conflict = status.Conflict("SeldonDeployment shop/m", "UpliftModel m (uid old)",
                               predecessor=True, uid="new")
    out = status.serving_conflict(a, conflict, 1, T1)
    applied = cond.find(out.conditions, cond.SERVING_APPLIED)
    assert applied is not None and applied.last_transition_time == T1
    assert status.conflict_retry_seconds(conflict, out.conditions, T1) == (
        status.PREDECESSOR_RETRY_MIN_SECONDS)
