"""Status as a pure function of what was observed in one pass.

The services collect observations (spec problems, the resolved model reference, what applying
the serving graph did), call these functions with ``now``, and the handler writes the result in
one patch only when it differs from the current status. Every condition the services report is
set here or in the ramps (``domain.canary``, ``domain.exposure``), with the reasons of
``domain.conditions``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from uplift_operator.api.v1alpha1.common import Condition, Phase
from uplift_operator.domain import conditions as cond

__all__ = ["Applied", "Observation", "Resolved", "apply_retry_seconds", "model_resolved",
           "resolution_warning", "serving_applied", "spec_valid", "status_patch", "validation_outcome"]

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


@dataclass(frozen=True)
class Resolved:
    """What resolving the model reference found: ``reason`` is Resolved, RegistryUnavailable,
    ModelNotFound or VersionNotReady; ``desired`` the version when Resolved."""

    model: str
    reason: str
    message: str
    desired: str | None

    @property
    def ok(self) -> bool:
        return self.reason == "Resolved"

    @property
    def text(self) -> str:
        return _clip(f"{self.model} resolves to version {self.desired}" if self.ok
                     else self.message)


def model_resolved(previous: list[Condition], resolved: Resolved, generation: int,
                   now: dt.datetime) -> list[Condition]:
    """``ModelResolved``: whether the spec's model reference resolves to a version now."""
    return cond.set_condition(previous, type_=cond.MODEL_RESOLVED,
                              status="True" if resolved.ok else "False", reason=resolved.reason,
                              message=resolved.text, now=now, observed_generation=generation)


def resolution_warning(previous: list[Condition], resolved: Resolved) -> bool:
    """Whether a stuck reference has a new cause, worth one Warning event (not one per pass)."""
    before = cond.find(previous, cond.MODEL_RESOLVED)
    return not resolved.ok and (before is None or before.status != "False"
                                or before.message != resolved.text)


@dataclass(frozen=True)
class Applied:
    """What applying the serving graph did: ``changed`` (it was applied this pass), ``error``
    (the API server refused it), ``what`` (e.g. "SeldonDeployment x") and ``split`` in words."""

    what: str
    split: str
    changed: bool = False
    error: str | None = None


#: How the write-back names a write MLflow refused for good (``services.writeback``).
DROPPED_WRITE = "dropped, not retried"


def written_back(previous: list[Condition], failure: str | None, generation: int,
                 now: dt.datetime) -> list[Condition]:
    """``RegistryWrittenBack``: False while MLflow write-backs of the resource's decisions keep
    failing (``failure`` says why; they are retried) or after one MLflow refused was dropped
    (``failure`` names it), True once a later one went through; absent while none ever failed
    (a pass of a healthy resource writes nothing for it)."""
    before = cond.find(previous, cond.REGISTRY_WRITTEN_BACK)
    if failure is not None:
        return cond.set_condition(previous, type_=cond.REGISTRY_WRITTEN_BACK, status="False",
                                  reason=cond.WRITE_BACK_FAILED, message=_clip(failure),
                                  now=now, observed_generation=generation)
    if before is None or before.status == "True":
        return list(previous)
    message = "every MLflow write-back of its decisions went through"
    if DROPPED_WRITE in before.message:  # a later write went through; that one never will
        message = _clip(f"the MLflow write-backs submitted since went through; not written: "
                        f"{before.message}")
    return cond.set_condition(previous, type_=cond.REGISTRY_WRITTEN_BACK, status="True",
                              reason=cond.WRITTEN_BACK, message=message, now=now,
                              observed_generation=generation)


def serving_applied(previous: list[Condition], applied: Applied | None, generation: int,
                    now: dt.datetime) -> list[Condition]:
    """``ServingApplied``: the serving graph is as decided (or why not). Unchanged when nothing
    was applied and the condition already says so, so a quiet pass writes nothing."""
    if applied is None:
        return list(previous)
    if applied.error is not None:
        return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="False",
                                  reason=cond.APPLY_FAILED, message=_clip(applied.error),
                                  now=now, observed_generation=generation)
    if applied.changed:
        message = f"{applied.what} applied: {applied.split}"
    elif cond.find(previous, cond.SERVING_APPLIED) is None:
        message = f"{applied.what} serves {applied.split}"
    else:
        return list(previous)
    return cond.set_condition(previous, type_=cond.SERVING_APPLIED, status="True",
                              reason=cond.APPLIED, message=_clip(message), now=now,
                              observed_generation=generation)


#: How soon a failed apply of the serving graph is tried again: the time it has been failing
#: (so the retries back off, doubling), within these bounds.
APPLY_RETRY_MIN_SECONDS = 2.0
APPLY_RETRY_MAX_SECONDS = 60.0


def apply_retry_seconds(conditions: Sequence[Condition], now: dt.datetime) -> float | None:
    """When to apply the serving graph again (None: it was applied). A failed apply leaves the
    graph behind the status (a rollback written while the canary still takes traffic): it
    must not wait for a resync or the next analysis."""
    applied = cond.find(conditions, cond.SERVING_APPLIED)
    if applied is None or applied.reason != cond.APPLY_FAILED:
        return None
    failing = (now - applied.last_transition_time).total_seconds()
    return min(max(failing, APPLY_RETRY_MIN_SECONDS), APPLY_RETRY_MAX_SECONDS)


def status_patch(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON merge patch (RFC 7386) turning ``current`` status into ``desired``, or None when
    equal.

    Keys absent from ``desired`` are removed (set to None in the merge patch) at any depth: a
    nested key that disappeared (``incrementalEffect.lower`` once a look has no bounds; the
    wire form drops None values) would otherwise stay in the stored status forever, and every
    pass would find it different and patch again. So the status stays a function of the last
    observation rather than an accumulation of old fields. Objects are diffed key by key; any
    other value (lists included) is replaced whole, as a merge patch does.
    """
    patch = _merge_diff(current, desired)
    return patch or None


def _merge_diff(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """The merge patch from ``current`` to ``desired`` (empty when equal). A None in ``desired``
    means absent, which is what a merge patch makes of it."""
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            continue
        old = current.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            nested = _merge_diff(old, value)
            if nested:
                patch[key] = nested
        elif old != value:
            # A merge patch merges an object sent for a key that held something else into
            # nothing (a None in it is dropped), and replaces a list or a scalar whole.
            patch[key] = _without_none(value)
    patch.update({key: None for key, value in current.items()
                  if desired.get(key) is None and value is not None})
    return patch


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    return value


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
