"""Decision ids and delivery/outcome reports (pure).

A decision id is self-describing, ``<32 hex>~<arm>~<treatment key>~<version>``, so any replica —
of the stable or the canary predictor, before or after a restart — can count a report under the
arm, treatment and model version that made the decision, without shared state. Reports that
give only a unit id are resolved through a bounded in-memory cache of each unit's last decision
(per replica; unknown units are rejected, not guessed).
"""

from __future__ import annotations

import math
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from uplift_operator.runtime.assignment import ARMS

NONE = "none"
_SEP = "~"
_KEY = re.compile(r"^[a-z0-9_]+$")
_VERSION_BAD = re.compile(r"[^A-Za-z0-9._-]")


class ReportError(ValueError):
    """A report that cannot be counted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, reason: str = "bad_report") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    decision_id: str
    arm: str
    treatment: str   # treatment key the policy chose (for holdout: the withheld choice), or none
    version: str


def safe_version(version: str) -> str:
    return _VERSION_BAD.sub("_", version) or "unknown"


def new_decision_id(arm: str, treatment: str, version: str) -> str:
    return _SEP.join((uuid.uuid4().hex, arm, treatment, safe_version(version)))


def parse_decision_id(decision_id: str) -> Decision:
    parts = decision_id.split(_SEP, 3)
    if len(parts) != 4 or not re.fullmatch(r"[0-9a-f]{32}", parts[0]):
        raise ReportError(f"malformed decision_id {decision_id!r}", reason="bad_decision_id")
    _, arm, treatment, version = parts
    if arm not in ARMS or not _KEY.match(treatment):
        raise ReportError(f"malformed decision_id {decision_id!r}", reason="bad_decision_id")
    return Decision(decision_id, arm, treatment, version)


class UnitCache:
    """Bounded LRU: unit id → its last decision id."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, str] = OrderedDict()

    def put(self, unit_id: str, decision_id: str) -> None:
        if self.size <= 0:
            return
        self._data[unit_id] = decision_id
        self._data.move_to_end(unit_id)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def get(self, unit_id: str) -> str | None:
        return self._data.get(unit_id)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Delivery:
    decision: Decision
    ok: bool


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    converted: bool
    value: float


def _items(body: Any, key: str) -> Sequence[Mapping[str, Any]]:
    if isinstance(body, Mapping) and key in body:
        body = body[key]
    elif isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list) or not body:
        raise ReportError(f"expected a JSON object, a list, or {{\"{key}\": [...]}} with at "
                          "least one report")
    if not all(isinstance(item, Mapping) for item in body):
        raise ReportError(f"every entry of {key!r} must be a JSON object")
    return body


def _resolve(item: Mapping[str, Any], index: int, cache: UnitCache,
             known_treatments: Sequence[str]) -> Decision:
    decision_id = item.get("decision_id")
    unit_id = item.get("unit_id")
    if decision_id is None:
        if unit_id is None:
            raise ReportError(f"report {index}: give decision_id or unit_id")
        found = cache.get(str(unit_id))
        if found is None:
            raise ReportError(f"report {index}: no decision known for unit {unit_id!r} on this "
                              "replica; report by decision_id", status=404,
                              reason="unknown_unit")
        decision_id = found
    if not isinstance(decision_id, str):
        raise ReportError(f"report {index}: decision_id must be a string")
    decision = parse_decision_id(decision_id)
    if "treatment" in item and item["treatment"] != decision.treatment:
        raise ReportError(f"report {index}: treatment {item['treatment']!r} does not match the "
                          f"decision's {decision.treatment!r}", reason="unknown_treatment")
    if decision.treatment != NONE and decision.treatment not in known_treatments:
        raise ReportError(f"report {index}: unknown treatment {decision.treatment!r}; known "
                          f"{list(known_treatments)}", reason="unknown_treatment")
    return decision


def parse_deliveries(body: Any, cache: UnitCache,
                     known_treatments: Sequence[str]) -> list[Delivery]:
    """``{"deliveries": [{"decision_id"|"unit_id", "status": "ok"|"failed"}]}`` → deliveries."""
    out = []
    for i, item in enumerate(_items(body, "deliveries")):
        decision = _resolve(item, i, cache, known_treatments)
        status = item.get("status", "ok")
        if status not in ("ok", "failed"):
            raise ReportError(f"report {i}: status must be 'ok' or 'failed', got {status!r}")
        if decision.arm != "treated" or decision.treatment == NONE:
            raise ReportError(f"report {i}: decision {decision.decision_id!r} sent no treatment "
                              f"(arm {decision.arm}, treatment {decision.treatment}); nothing "
                              "to deliver", status=409, reason="nothing_delivered")
        out.append(Delivery(decision, status == "ok"))
    return out


def parse_outcomes(body: Any, cache: UnitCache,
                   known_treatments: Sequence[str]) -> list[Outcome]:
    """``{"outcomes": [{"decision_id"|"unit_id", "converted": bool, "value": float}]}``."""
    out = []
    for i, item in enumerate(_items(body, "outcomes")):
        decision = _resolve(item, i, cache, known_treatments)
        converted = item.get("converted", False)
        if not isinstance(converted, bool):
            raise ReportError(f"report {i}: converted must be true or false, got {converted!r}")
        raw_value: Any = item.get("value", 0.0)
        if isinstance(raw_value, bool) or not isinstance(raw_value, int | float):
            raise ReportError(f"report {i}: value must be a number, got {raw_value!r}")
        value = float(raw_value)
        if not math.isfinite(value) or value < 0:
            raise ReportError(f"report {i}: value must be a finite number ≥ 0, got {raw_value!r}")
        out.append(Outcome(decision, converted, value))
    return out


Kind = Literal["deliveries", "outcomes"]
