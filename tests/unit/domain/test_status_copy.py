"""``steps.status_copy``: the copy a pass starts from equals ``model_copy(deep=True)``'s.

Every pass (the operator's, and the gate bench's ``decide`` per look) copies the status before
changing it; the copy must be a deep one (the pass mutates its gates, sequential state, history
and requests in place, and the caller keeps the original) and an exact one (fields, which
fields are set, private attributes).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import (
    Condition,
    DecisionRecord,
    GateSpecBase,
    GateStatus,
    GateVerdict,
    Phase,
    SequentialStateStatus,
)
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain.steps import status_copy

T = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
_IMMUTABLE = (str, int, float, bool, type(None), bytes, dt.datetime, dt.date, dt.timedelta,
              dt.tzinfo)


def _gates() -> list[GateStatus]:
    drift = GateStatus(
        name="drift", verdict=GateVerdict.INCONCLUSIVE, value=0.02, lower=0.0, upper=0.3,
        threshold=0.1, samples=1200, message="not shown yet", time=T, inconclusives=3,
        design_samples=4000, settings_digest="abc",
        sequential_state={
            "drift:f0": SequentialStateStatus(looks=4, log_fail=0.5, counts=[1, 2, 3, 4]),
            "drift:f1": SequentialStateStatus(looks=4, counts=[5, 6, 7, 8], reference=0.2),
        })
    errors = GateStatus(name="errors", verdict=GateVerdict.PASS, time=T + dt.timedelta(minutes=1),
                        failures=1, consecutive_errors=2,
                        sequential_state={"rate": SequentialStateStatus(
                            looks=9, p_pass=0.01, carried_log_pass=1.5, units=300.0)})
    return [drift, errors]


def _statuses() -> list[BaseModel]:
    common: dict[str, Any] = {
        "phase": Phase.PROGRESSING, "message": "step 2 of 3", "observed_generation": 4,
        "conditions": [Condition(type="Ready", status="False", reason="Progressing",
                                 last_transition_time=T)],
        "gates": _gates(),
        "history": [DecisionRecord(time=T, action="StepAdvanced", version="2", weight=25),
                    DecisionRecord(time=T, action="RolledBack", percent=10.0)],
        "handled_requests": {"uplift.example/retry": "token-1"},
        "current_step": 1, "step_started_at": T, "last_analysis_at": T + dt.timedelta(minutes=2),
    }
    model = UpliftModelStatus(stable_version="1", desired_version="2", canary_version="2",
                              canary_weight=25, **common)
    campaign = CampaignStatus(model_version="3", model_version_since=T, exposure_percent=25.0,
                              **common)
    # As read from the API server: aliases, only some fields set.
    wire = UpliftModelStatus.model_validate(model.to_wire() | {"unknownField": {"x": [1]}})
    return [model, campaign, wire, UpliftModelStatus(), CampaignStatus()]


def _mutable_ids(value: Any, into: set[int]) -> set[int]:
    """ids of every object in ``value`` that could change in place."""
    if isinstance(value, (*_IMMUTABLE, GateVerdict, Phase)):
        return into
    into.add(id(value))
    if isinstance(value, BaseModel):
        _mutable_ids(value.__dict__, into)
        _mutable_ids(value.__pydantic_extra__, into)
        _mutable_ids(value.__pydantic_fields_set__, into)
        _mutable_ids(getattr(value, "__pydantic_private__", None), into)
    elif isinstance(value, dict):
        for item in value.values():
            _mutable_ids(item, into)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _mutable_ids(item, into)
    return into


def test_the_copy_equals_the_original_and_model_copy() -> None:
    for status in _statuses():
        copied = status_copy(status)
        assert type(copied) is type(status)
        assert copied == status
        assert copied == status.model_copy(deep=True)
        assert copied.model_fields_set == status.model_fields_set
        assert copied.model_dump() == status.model_dump()
        assert copied.to_wire() == status.to_wire()  # type: ignore[attr-defined]


def test_the_copy_shares_no_mutable_object() -> None:
    for status in _statuses():
        copied = status_copy(status)
        assert not _mutable_ids(copied, set()) & _mutable_ids(status, set())


def test_a_change_to_the_copy_leaves_the_original() -> None:
    status = _statuses()[0]
    assert isinstance(status, UpliftModelStatus)
    before = status.model_dump()
    copied = status_copy(status)
    copied.gates[0].sequential_state["drift:f0"].counts.append(9)  # type: ignore[union-attr]
    copied.gates[0].sequential_state["drift:f1"].looks = 5
    copied.gates[1].failures = 2
    copied.history.append(DecisionRecord(time=T, action="Promoted"))
    copied.handled_requests["other"] = "token-2"
    copied.conditions[0].status = "True"
    copied.current_step = 2
    assert status.model_dump() == before


def test_private_attributes_are_copied_not_shared() -> None:
    gate = GateSpecBase(name="roi", type="roi")
    gate._outside_settings = "cost=0.1"
    copied = status_copy(gate)
    assert copied._outside_settings == "cost=0.1"
    assert copied.__pydantic_private__ is not gate.__pydantic_private__
    assert copied == gate
