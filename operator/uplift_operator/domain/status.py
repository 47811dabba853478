"""Status as a pure function of what was observed in one pass.

The handlers collect observations (spec problems, the referenced model), call these functions
with ``now``, and write the result in one patch only when it differs from the current status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import conditions as cond

__all__ = ["Observation", "spec_valid", "status_patch", "validation_outcome"]

MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Observation:
    """What one reconcile pass saw, reduced to what status depends on."""

    generation: int
    problems: tuple[str, ...]
    waiting_for: str | None = None  # e.g. the referenced model is missing


@dataclass(frozen=True)
class Outcome:
    phase: Phase
    message: str
    conditions: list[Condition]


def validation_outcome(previous: list[Condition], observed: Observation,
                       now: dt.datetime) -> Outcome:
    """Phase, message and conditions once the spec was validated (and its references looked up)."""
    gen = observed.generation
    if observed.problems:
        message = _clip("invalid spec: " + "; ".join(observed.problems))
        conditions = cond.set_condition(previous, type_=cond.INVALID_SPEC, status="True",
                                        reason="InvalidSpec", message=message, now=now,
                                        observed_generation=gen)
        conditions = cond.set_condition(conditions, type_=cond.READY, status="False",
                                        reason="InvalidSpec", message=message, now=now,
                                        observed_generation=gen)
        return Outcome(Phase.DEGRADED, message, conditions)
    conditions = cond.set_condition(previous, type_=cond.INVALID_SPEC, status="False",
                                    reason="SpecValid", message="spec is valid", now=now,
                                    observed_generation=gen)
    if observed.waiting_for is not None:
        conditions = cond.set_condition(conditions, type_=cond.READY, status="False",
                                        reason="Waiting", message=observed.waiting_for, now=now,
                                        observed_generation=gen)
        return Outcome(Phase.PROGRESSING, observed.waiting_for, conditions)
    message = "spec is valid and accepted"
    conditions = cond.set_condition(conditions, type_=cond.READY, status="True",
                                    reason="Accepted", message=message, now=now,
                                    observed_generation=gen)
    return Outcome(Phase.HEALTHY, message, conditions)


def spec_valid(previous: list[Condition], generation: int, now: dt.datetime) -> list[Condition]:
    """``InvalidSpec=False``: the spec passed validation (both kinds, every valid pass)."""
    return cond.set_condition(previous, type_=cond.INVALID_SPEC, status="False",
                              reason=cond.SPEC_VALID, message="spec is valid", now=now,
                              observed_generation=generation)


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch turning ``current`` status into ``desired``, or None when equal.

    Keys absent from ``desired`` are removed (set to None in the merge patch), so the status
    stays a function of the last observation rather than an accumulation of old fields.
    """
    if current == desired:
        return None
    patch: dict[str, Any] = {key: value for key, value in desired.items()
                             if current.get(key) != value}
    patch.update({key: None for key in current if key not in desired})
    return patch


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
