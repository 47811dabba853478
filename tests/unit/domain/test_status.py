"""Status is a pure function of the observation; conditions do not churn."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status

T0 = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)


def test_invalid_spec_is_degraded_with_both_conditions() -> None:
    out = status.validation_outcome([], status.Observation(3, ("spec.x: bad",)), T0)
    assert out.phase is Phase.DEGRADED
    assert out.message == "invalid spec: spec.x: bad"
    by_type = {c.type: c for c in out.conditions}
    assert by_type["InvalidSpec"].status == "True"
    assert by_type["Ready"].status == "False" and by_type["Ready"].reason == "InvalidSpec"
    assert {c.observed_generation for c in out.conditions} == {3}


def test_valid_spec_is_ready() -> None:
    out = status.validation_outcome([], status.Observation(1, ()), T0)
    assert out.phase is Phase.HEALTHY
    assert cond.find(out.conditions, "Ready").status == "True"  # type: ignore[union-attr]


def test_waiting_is_progressing_and_not_ready() -> None:
    out = status.validation_outcome([], status.Observation(1, (), "UpliftModel 'm' not found"), T0)
    assert out.phase is Phase.PROGRESSING
    ready = cond.find(out.conditions, "Ready")
    assert ready is not None and ready.status == "False" and ready.reason == "Waiting"


def test_transition_time_moves_only_when_status_changes() -> None:
    first = status.validation_outcome([], status.Observation(1, ("a",)), T0).conditions
    same = status.validation_outcome(first, status.Observation(2, ("b",)), T1).conditions
    assert all(c.last_transition_time == T0 for c in same)
    fixed = status.validation_outcome(same, status.Observation(3, ()), T1).conditions
    assert all(c.last_transition_time == T1 for c in fixed)


def test_status_patch_is_none_when_unchanged_and_removes_stale_keys() -> None:
    current = {"phase": "Healthy", "message": "ok", "stale": 1}
    assert status.status_patch(current, dict(current)) is None
    assert status.status_patch(current, {"phase": "Degraded", "message": "ok"}) == {
        "phase": "Degraded", "stale": None}


def test_registry_written_back_after_a_drop_still_names_what_was_not_written() -> None:
    dropped = ("MLflow write-back of m (role 9 = 'canary') dropped, not retried: MLflow refused "
               "it: no version 9")
    failed = status.written_back([], dropped, 2, T0)
    assert cond.find(failed, "RegistryWrittenBack").status == "False"  # type: ignore[union-attr]
    cleared = cond.find(status.written_back(failed, None, 2, T1), "RegistryWrittenBack")
    assert cleared is not None and cleared.status == "True"
    assert "not written" in cleared.message and "role 9 = 'canary'" in cleared.message
    retried = status.written_back([], "MLflow write-back of m (role 2 = 'x') failing, retried", 2,
                                  T0)
    went = cond.find(status.written_back(retried, None, 2, T1), "RegistryWrittenBack")
    assert went is not None and went.message == (
        "every MLflow write-back of its decisions went through")
