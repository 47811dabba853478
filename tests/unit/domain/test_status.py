"""Status is a pure function of the observation; conditions do not churn."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

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


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386, what the API server does with application/merge-patch+json."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


STORED = {"phase": "Progressing", "exposurePercent": 5,
          "incrementalEffect": {"estimate": 0.0244, "lower": 0.0107, "upper": 0.0382,
                                "display": "+0.0244 [+0.0107, +0.0382]"},
          "gates": [{"name": "inc", "value": 0.0244, "lower": 0.0107}],
          "roi": {"spend": 3.0, "detail": {"cost": 1.0, "stale": 2.0}}}


def test_status_patch_removes_a_nested_key_that_disappeared() -> None:
    """A bound the new look does not have (to_wire drops None) is nulled in the merge patch,
    and applying it leaves exactly the desired status: the next pass patches nothing."""
    desired = {"phase": "Progressing", "exposurePercent": 5.0,
               "incrementalEffect": {"estimate": 0.0, "display": "+0"},
               "gates": [{"name": "inc", "value": 0.0}],
               "roi": {"spend": 3.0, "detail": {"cost": 1.0}}}
    patch = status.status_patch(STORED, desired)
    assert patch == {
        "incrementalEffect": {"estimate": 0.0, "display": "+0", "lower": None, "upper": None},
        "gates": [{"name": "inc", "value": 0.0}],  # a list is replaced whole
        "roi": {"detail": {"stale": None}}}
    stored = _merge(STORED, patch)
    assert stored == desired
    assert status.status_patch(stored, desired) is None


def test_status_patch_of_an_identical_status_is_empty() -> None:
    assert status.status_patch(STORED, copy.deepcopy(STORED)) is None
    # the API server's echo of whole-number floats as integers is no change either
    assert status.status_patch({"a": {"b": 5}}, {"a": {"b": 5.0}}) is None
    # a None in desired is an absent key, not a change to send again and again
    assert status.status_patch({"a": {"b": 1}}, {"a": {"b": 1, "c": None}, "d": None}) is None


def test_status_patch_sends_a_new_or_replaced_object_without_nulls() -> None:
    patch = status.status_patch({"roi": 3, "old": {"x": 1}},
                                {"roi": {"spend": 1.0, "gone": None}, "new": {"y": None, "z": 2}})
    assert patch == {"roi": {"spend": 1.0}, "new": {"z": 2}, "old": None}
    assert _merge({"roi": 3, "old": {"x": 1}}, patch) == {"roi": {"spend": 1.0}, "new": {"z": 2}}


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
