"""The decision step between decoded request columns and the response (pure: no MLServer).

Per row: score every treatment, run the cost-aware policy (same policy in both arms), assign
the arm by hash(unit id, salt), withhold the treatment in the holdout, mint a decision id.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from uplift_operator.model.features import FeatureBins, FloatArray
from uplift_operator.model.scoring import UpliftModel
from uplift_operator.runtime import policy
from uplift_operator.runtime.assignment import HOLDOUT, assign
from uplift_operator.runtime.config import RuntimeConfig
from uplift_operator.runtime.events import (
    NONE,
    SeenReports,
    Signer,
    UnitCache,
    random_key,
    safe_version,
)

IntArray = npt.NDArray[np.int64]


class RequestError(ValueError):
    """A request the runtime rejects; ``reason`` labels the error metric."""

    def __init__(self, message: str, reason: str = "bad_request", status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass
class DecisionBatch:
    unit_ids: list[str]
    arms: list[str]
    treatments: list[str]         # what the unit gets: a treatment key, or "none"
    policy_treatments: list[str]  # what the policy chose, whatever the arm
    decision_ids: list[str]
    uplift: FloatArray            # (n, K)
    net_value: FloatArray         # (n,) expected net value of the policy's choice
    bins: dict[str, IntArray]     # feature → bin index per row (drift counters)


class DecisionEngine:
    """Scores and decides for one loaded model under one runtime configuration."""

    def __init__(self, model: UpliftModel, config: RuntimeConfig, version: str,
                 signer: Signer | None = None) -> None:
        self.model = model
        self.config = config
        self.version = safe_version(version)
        self.keys = model.treatment_keys
        self.costs = config.cost_vector(self.keys, model.treatments)
        self.units = UnitCache(config.unit_cache_size)
        self.seen = SeenReports(config.dedup_size)
        self.signer = signer if signer is not None else Signer(random_key())
        binning = model.drift_binning
        self.feature_bins: dict[str, FeatureBins] = dict(binning.features) if binning else {}

    def _allowed(self, treatments: Any) -> npt.NDArray[np.bool_] | None:
        if treatments is None:
            return None
        if not isinstance(treatments, list) or not all(isinstance(t, str) for t in treatments):
            raise RequestError("parameters.treatments must be a list of treatment names")
        allowed = np.zeros(len(self.keys), dtype=bool)
        for name in treatments:
            try:
                allowed[self.model.resolve_treatment(name)] = True
            except ValueError as exc:
                raise RequestError(str(exc), "unknown_treatment") from None
        return allowed

    def _budget(self, raw: Any) -> float | None:
        if raw is None:
            return self.config.budget
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw < 1e300:
            raise RequestError(f"parameters.budget must be a finite number ≥ 0, got {raw!r}")
        return float(raw)

    def decide(self, columns: Mapping[str, Any], unit_ids: Sequence[str] | None,
               parameters: Mapping[str, Any] | None = None) -> DecisionBatch:
        params = parameters or {}
        allowed = self._allowed(params.get("treatments"))
        budget = self._budget(params.get("budget"))
        pred = self.model.score(columns)  # raises FeatureError on schema problems
        n = len(pred.uplift)
        if unit_ids is None:
            # No id: a fresh random one per row, so the arm is random but still recorded.
            unit_ids = [uuid.uuid4().hex for _ in range(n)]
        elif len(unit_ids) != n:
            raise RequestError(f"unit_id has {len(unit_ids)} rows, features {n}", "row_mismatch")
        result = policy.choose(pred.uplift, self.config.value_per_conversion, self.costs,
                               budget=budget, allowed=allowed)
        cfg = self.config
        keys = self.keys
        arms: list[str] = []
        given: list[str] = []
        chosen: list[str] = []
        ids: list[str] = []
        for unit, c in zip(unit_ids, result.choice.tolist(), strict=True):
            arm = assign(unit, cfg.salt, cfg.holdout_fraction)
            key = keys[c] if c >= 0 else NONE
            decision_id = self.signer.mint(arm, key, self.version)
            self.units.put(unit, decision_id)
            arms.append(arm)
            chosen.append(key)
            given.append(NONE if arm == HOLDOUT else key)
            ids.append(decision_id)
        bins = {name: fb.bin_index(np.asarray(columns[name]).reshape(-1))
                for name, fb in self.feature_bins.items()}
        return DecisionBatch(list(unit_ids), arms, given, chosen, ids, pred.uplift,
                             result.net_value, bins)
