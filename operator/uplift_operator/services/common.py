"""What both kinds' passes share: the event and result types, and the one "invalid spec" path.

An invalid spec (schema or semantic problems) gets ``InvalidSpec=True``, ``Ready=False``, phase
Degraded and a message naming every field (``domain.status.validation_outcome``), and one
Warning event when the message is new; the status keeps the rest (step, exposure). What that
does to what serves differs by kind: an UpliftModel's pass touches nothing that serves (its
versions keep serving, a canary held at its weight), while a Campaign's entry in its model's
campaigns file turns inactive (``domain.exposure.treating``), so the runtime treats no one
under it until the spec is fixed, which its message and event then say (``consequence``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from uplift_operator.api.v1alpha1.common import StatusBase
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.conditions import IGNORED_FIELD
from uplift_operator.domain.status import Conflict
from uplift_operator.render.naming import Owner

__all__ = ["Event", "PassResult", "TimedCache", "ignored_field_events", "invalid_pass",
           "ownership_conflict", "validated"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event the handler emits on the resource; ``decision``: whether
    ``uplift_operator_decisions_total`` counts it. Only a ramp's decisions are counted: the
    domain's events carry their own flag over (``Event(e.type, e.reason.value, e.message,
    e.decision)``; an ignored request is told, not decided); what the services tell of a
    condition (an apply refused, an invalid spec, a model not found, an ownership conflict) is
    no decision, hence the default."""

    type: str
    reason: str
    message: str
    decision: bool = False


@dataclass(frozen=True)
class PassResult:
    """One pass: the whole desired status (wire form), events in order, when to run again,
    and what to do only once that status is written (``after_write``: the MLflow write-backs
    the decision implies, submitted by the pass runner after its status write went through, or
    when there was nothing to write; never after a write refused, so that the registry holds no
    decision the status does not record)."""

    status: dict[str, Any]
    events: tuple[Event, ...]
    requeue_after: float | None
    after_write: Callable[[], None] | None = None


S = TypeVar("S", bound=StatusBase)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class TimedCache(Generic[K, V]):
    """Values kept for ``ttl`` seconds, shared by the passes (thread-safe; the clock is
    injectable for tests). What expired is dropped, not only ignored: at most once a ``ttl``, a
    ``get`` or ``put`` sweeps out every entry older than that, so a value no pass asks for any
    more (the Secret of a namespace since deleted, credentials since revoked) is held for about
    twice the ttl at most, not for the life of the process."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _values: dict[K, tuple[V, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _swept_at: float | None = None

    def get(self, key: K) -> V | None:
        with self._lock:
            now = self.clock()
            self._sweep(now)
            found = self._values.get(key)
            if found is None or now - found[1] >= self.ttl:
                return None
            return found[0]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            now = self.clock()
            self._sweep(now)
            self._values[key] = (value, now)

    def discard(self, key: K, *, older_than: float = 0.0) -> bool:
        """Drop ``key``'s value if it was put ``older_than`` seconds ago or more (one put since
        is kept: a caller that keeps failing with a fresh value does not make every use a read
        again); whether one was dropped."""
        with self._lock:
            found = self._values.get(key)
            if found is None or self.clock() - found[1] < older_than:
                return False
            del self._values[key]
            return True

    def __len__(self) -> int:
        """Entries held, expired ones not swept out yet included."""
        with self._lock:
            return len(self._values)

    def _sweep(self, now: float) -> None:
        """Every entry past its ttl out, once a ttl (O(entries), so not at every call)."""
        if self._swept_at is None:
            self._swept_at = now
        elif now - self._swept_at >= self.ttl:
            self._swept_at = now
            self._values = {key: entry for key, entry in self._values.items()
                            if now - entry[1] < self.ttl}


def ignored_field_events(current: StatusBase, generation: int,
                         ignored: list[str]) -> tuple[Event, ...]:
    """One Warning event per ignored gate field (``validation.ignored_gate_fields``), on the
    first pass of each generation only: the status' observedGeneration says it was seen."""
    if current.observed_generation == generation:
        return ()
    return tuple(Event("Warning", IGNORED_FIELD, message) for message in ignored)


def validated(check: Callable[[], list[str]], what: str) -> list[str]:
    """The problems ``check`` finds with a spec; an exception it raises (a value no rule
    foresaw: an operator defect, logged) is itself the problem, with its message, so the pass
    takes the invalid-spec path, which writes InvalidSpec and still acts on an abort or an
    emergency rollback, rather than raising at every pass with no status written (``what``,
    e.g. "UpliftModel shop/uplift", names the resource in the log)."""
    try:
        return check()
    except Exception as error:
        log.exception("validating the spec of %s failed", what)
        return [f"spec: the operator could not validate it ({type(error).__name__}: {error})"]


def invalid_pass(current: S, generation: int, problems: list[str], now: dt.datetime, *,
                 consequence: str | None = None) -> PassResult:
    """The result of a pass that found the spec invalid (``problems`` name each field);
    ``consequence``: what the refusal stops meanwhile, put first in the message, the Ready
    condition and the event, where the problems' text cannot clip it."""
    outcome = status_logic.validation_outcome(
        current.conditions, status_logic.Observation(generation, tuple(problems)), now)
    if consequence is not None:
        message = f"{consequence}: {outcome.message}"
        if len(message) > status_logic.MAX_MESSAGE:
            message = message[: status_logic.MAX_MESSAGE - 1] + "…"
        outcome = dataclasses.replace(outcome, message=message, conditions=cond.set_condition(
            outcome.conditions, type_=cond.READY, status="False", reason=cond.INVALID_SPEC_REASON,
            message=message, now=now, observed_generation=generation))
    status = current.model_copy(update={"phase": outcome.phase, "message": outcome.message,
                                        "observed_generation": generation,
                                        "conditions": outcome.conditions})
    events = ((Event("Warning", "InvalidSpec", outcome.message),)
              if current.message != outcome.message else ())
    return PassResult(status.to_wire(), events, None)


def ownership_conflict(obj: Mapping[str, Any] | None, owner: Owner, what: str) -> Conflict | None:
    """Why ``obj`` (``what``, e.g. "SeldonDeployment shop/uplift") is not this UpliftModel's
    to write or use (None: absent, or controlled by it: kubebuilder's ``IsControlledBy``, the
    controller reference's uid). Its controller is named; an UpliftModel of the same name (and
    group) with another uid is a predecessor: two cannot exist at once, so that one was
    deleted, and the garbage collector removes what it controlled."""
    if obj is None:
        return None
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    controller = next((r for r in refs if isinstance(r, Mapping) and r.get("controller") is True),
                      None)
    if controller is not None and str(controller.get("uid")) == owner.uid:
        return None
    if controller is None:
        return Conflict(what, None, uid=owner.uid)
    kind, name = str(controller.get("kind", "")), str(controller.get("name", ""))
    group = str(controller.get("apiVersion", "")).rpartition("/")[0]
    predecessor = (kind == owner.kind and name == owner.name
                   and group == owner.api_version.rpartition("/")[0])
    return Conflict(what, f"{kind} {name} (uid {controller.get('uid')})", predecessor,
                    owner.uid)
