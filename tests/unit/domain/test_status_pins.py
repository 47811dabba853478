"""Pins of the status computation (``domain.status``) that no other test held: each one fails
on a small change (a dropped condition, an unbounded retry, a message clipped one character
early) that the rest of the suite let through."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.common import Condition
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status

T0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def _resolved(reason: str, message: str = "", desired: str | None = None) -> status.Resolved:
    return status.Resolved(model="churn", reason=reason, message=message, desired=desired)


def test_a_stuck_reference_with_a_new_cause_warns_again() -> None:
    first = _resolved("ModelNotFound", "no model churn")
    conditions = status.model_resolved([], first, 1, T0)
    assert not status.resolution_warning(conditions, first)  # the same cause: said already
    assert status.resolution_warning(conditions, _resolved("RegistryUnavailable", "MLflow down"))


def test_a_resolved_reference_never_warns() -> None:
    assert not status.resolution_warning([], _resolved("Resolved", desired="3"))


def test_a_written_back_condition_that_is_true_stays_as_it_is() -> None:
    dropped = "MLflow write-back of m (role 9) dropped, not retried: no version 9"
    cleared = status.written_back(status.written_back([], dropped, 2, T0), None, 2, T1)
    assert cond.find(cleared, "RegistryWrittenBack").status == "True"  # type: ignore[union-attr]
    again = status.written_back(cleared, None, 2, T1 + dt.timedelta(minutes=5))
    assert again == cleared
    # A spec edit moves its generation only (tests/unit/domain/test_condition_generation.py).
    edited = status.written_back(cleared, None, 3, T1 + dt.timedelta(minutes=5))
    assert edited == [c.model_copy(update={"observed_generation": 3}) for c in cleared]


def test_a_quiet_pass_leaves_serving_applied_as_it_is() -> None:
    applied = status.serving_applied([], status.Applied("SeldonDeployment x", "90/10",
                                                        changed=True), 1, T0)
    quiet = status.serving_applied(applied, status.Applied("SeldonDeployment x", "90/10"), 1, T1)
    assert quiet == applied
    [c] = quiet
    assert c.message == "SeldonDeployment x applied: 90/10"


def test_a_new_apply_says_the_new_split() -> None:
    first = status.serving_applied([], status.Applied("SeldonDeployment x", "100/0"), 1, T0)
    assert first[0].message == "SeldonDeployment x serves 100/0"
    changed = status.serving_applied(first, status.Applied("SeldonDeployment x", "90/10",
                                                           changed=True), 2, T1)
    assert changed[0].message == "SeldonDeployment x applied: 90/10"


def _failed_since(since: dt.datetime) -> list[Condition]:
    return status.serving_applied([], status.Applied("x", "s", error="refused"), 1, since)


def test_apply_retries_back_off_up_to_a_minute() -> None:
    conditions = _failed_since(T0)
    assert status.apply_retry_seconds(conditions, T0) == status.APPLY_RETRY_MIN_SECONDS
    assert status.apply_retry_seconds(conditions, T0 + dt.timedelta(seconds=10)) == 10.0
    assert status.apply_retry_seconds(conditions, T0 + dt.timedelta(minutes=10)) == (
        status.APPLY_RETRY_MAX_SECONDS)


def test_an_applied_graph_is_not_retried() -> None:
    applied = status.serving_applied([], status.Applied("x", "s", changed=True), 1, T0)
    assert status.apply_retry_seconds(applied, T1) is None


def test_a_message_of_exactly_the_maximum_is_not_clipped() -> None:
    prefix = "invalid spec: "
    problem = "x" * (status.MAX_MESSAGE - len(prefix))
    out = status.validation_outcome([], status.Observation(1, (problem,)), T0)
    assert out.message == prefix + problem and len(out.message) == status.MAX_MESSAGE
    longer = status.validation_outcome([], status.Observation(1, (problem + "y",)), T0)
    assert len(longer.message) == status.MAX_MESSAGE and longer.message.endswith("…")
