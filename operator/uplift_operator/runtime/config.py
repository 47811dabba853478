"""Runtime configuration from model-settings ``parameters.extra`` and the environment (pure).

Environment variables win over ``parameters.extra`` so the operator can set them per predictor
in the SeldonDeployment's ``componentSpecs`` while the image ships defaults in its settings.

Each setting has an ``extra`` key and an ``UPLIFT_<KEY>`` variable (full table in
``docs/runtime.md``): ``holdout_fraction`` (0.1), ``salt`` ("uplift"), ``value_per_conversion``
(1.0), ``costs`` (a number for all treatments, or a JSON object treatment → cost with ``"*"`` as
the default; 0), ``budget`` (cap on one request's summed cost; none), ``unit_cache_size``
(100000), ``model_version`` (the metrics' ``version`` label; derived from the model URI) and
``unit_key`` (the request input that identifies the unit; "unit_id").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

ENV_PREFIX = "UPLIFT_"
KEYS = ("holdout_fraction", "salt", "value_per_conversion", "costs", "budget",
        "unit_cache_size", "model_version", "unit_key")


class ConfigError(ValueError):
    """A runtime setting that cannot be used."""


def _number(key: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {raw!r}")
    return value


def _costs(raw: Any) -> dict[str, float]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"costs must be a number or a JSON object, got {raw!r}") from None
    if isinstance(raw, int | float):
        return {"*": _number("costs", raw)}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"costs must be a number or an object, got {raw!r}")
    return {str(k): _number(f"costs[{k}]", v) for k, v in raw.items()}


@dataclass(frozen=True)
class RuntimeConfig:
    holdout_fraction: float = 0.1
    salt: str = "uplift"
    value_per_conversion: float = 1.0
    costs: Mapping[str, float] = field(default_factory=lambda: {"*": 0.0})
    budget: float | None = None
    unit_cache_size: int = 100_000
    model_version: str | None = None
    unit_key: str = "unit_id"   # request input naming the unit (UpliftModel spec.experiment.unitKey)

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_fraction <= 1.0:
            raise ConfigError(f"holdout_fraction must be in [0, 1], got {self.holdout_fraction}")
        if self.budget is not None and self.budget < 0:
            raise ConfigError(f"budget must be ≥ 0, got {self.budget}")
        if any(c < 0 for c in self.costs.values()):
            raise ConfigError(f"costs must be ≥ 0, got {dict(self.costs)}")
        if self.unit_cache_size < 0:
            raise ConfigError("unit_cache_size must be ≥ 0")

    @classmethod
    def from_sources(cls, extra: Mapping[str, Any] | None = None,
                     env: Mapping[str, str] | None = None) -> RuntimeConfig:
        merged: dict[str, Any] = {k: v for k, v in (extra or {}).items() if k in KEYS}
        for key in KEYS:
            value = (env or {}).get(ENV_PREFIX + key.upper())
            if value not in (None, ""):
                merged[key] = value
        kwargs: dict[str, Any] = {}
        if "holdout_fraction" in merged:
            kwargs["holdout_fraction"] = _number("holdout_fraction", merged["holdout_fraction"])
        if "salt" in merged:
            kwargs["salt"] = str(merged["salt"])
        if "value_per_conversion" in merged:
            kwargs["value_per_conversion"] = _number("value_per_conversion",
                                                     merged["value_per_conversion"])
        if "costs" in merged:
            kwargs["costs"] = _costs(merged["costs"])
        if merged.get("budget") not in (None, "", "none"):
            kwargs["budget"] = _number("budget", merged["budget"])
        if "unit_cache_size" in merged:
            kwargs["unit_cache_size"] = int(_number("unit_cache_size", merged["unit_cache_size"]))
        if merged.get("unit_key"):
            kwargs["unit_key"] = str(merged["unit_key"])
        if merged.get("model_version"):
            kwargs["model_version"] = str(merged["model_version"])
        return cls(**kwargs)

    def cost_vector(self, treatment_keys: Sequence[str],
                    names: Sequence[str] = ()) -> npt.NDArray[np.float64]:
        """Cost per treatment (by key, or by original name), ``"*"`` as the default."""
        known = set(treatment_keys) | set(names) | {"*"}
        unknown = [k for k in self.costs if k not in known]
        if unknown:
            raise ConfigError(f"costs name unknown treatments {unknown}; known "
                              f"{list(treatment_keys)}")
        default = self.costs.get("*", 0.0)
        out = []
        for i, key in enumerate(treatment_keys):
            name = names[i] if i < len(names) else key
            out.append(self.costs.get(key, self.costs.get(name, default)))
        return np.asarray(out, dtype=np.float64)
