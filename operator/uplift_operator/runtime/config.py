"""Runtime configuration from model-settings ``parameters.extra`` and the environment (pure).

Environment variables win over ``parameters.extra`` so the operator can set them per predictor
in the SeldonDeployment's ``componentSpecs`` while the image ships defaults in its settings.

Each setting has an ``extra`` key and an ``UPLIFT_<KEY>`` variable (full table in
``docs/runtime.md``): ``holdout_fraction`` (0.1), ``salt`` ("uplift"), ``value_per_conversion``
(1.0), ``costs`` (a number for all treatments, or a JSON object treatment → cost with ``"*"`` as
the default; 0), ``budget`` (cap on one request's summed cost; none), ``unit_cache_size``
(100000 units remembered for unit-only reports), ``cap_ledger_size`` (100000 (campaign, unit)
treatment counts for ``maxTreatmentsPerUnit``, all campaigns together), ``model_version`` (the
metrics' ``version`` label; derived from the model URI), ``unit_key`` (the request input that
identifies the unit; "unit_id"), and the input bounds
``max_rows`` (10000 per request), ``max_abs_value`` (1e15 for any numeric feature),
``max_outcome_value`` (1e6 per outcome), ``max_body_bytes`` (1 MiB per report body),
``dedup_size`` (100000 recently counted reports per kind) and ``require_unit_id`` (false: a
request of the model's own decisions without the ``unit_key`` input is decided under random
unit ids and counted; true: refused 400 ``bad_unit_id``).

The decision key (``UPLIFT_DECISION_KEY``, or a file named by ``UPLIFT_DECISION_KEY_FILE``) and
the report tokens (``UPLIFT_REPORT_TOKEN``, or a file named by ``UPLIFT_REPORT_TOKEN_FILE``) are
read from the environment only, never from ``parameters.extra`` (a secret has no place in a
settings file); see :func:`decision_key` and :func:`report_tokens` (``runtime.report_tokens``
re-reads the token file while the runtime runs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from uplift_operator import report_token_format

ENV_PREFIX = "UPLIFT_"
KEYS = ("holdout_fraction", "salt", "value_per_conversion", "costs", "budget",
        "unit_cache_size", "cap_ledger_size", "model_version", "unit_key", "max_rows",
        "max_abs_value", "max_outcome_value", "max_body_bytes", "dedup_size",
        "require_unit_id")
_COUNTS = ("unit_cache_size", "cap_ledger_size", "max_rows", "max_body_bytes", "dedup_size")
_BOUNDS = ("max_abs_value", "max_outcome_value")
DECISION_KEY_ENV = "UPLIFT_DECISION_KEY"
DECISION_KEY_FILE_ENV = "UPLIFT_DECISION_KEY_FILE"
REPORT_TOKEN_ENV = "UPLIFT_REPORT_TOKEN"
REPORT_TOKEN_FILE_ENV = "UPLIFT_REPORT_TOKEN_FILE"


class ConfigError(ValueError):
    """A runtime setting that cannot be used."""


def report_tokens(raw: bytes, source: str) -> tuple[bytes, ...]:
    """The bearer tokens ``raw`` lists, one per line, in order (``source`` names where it came
    from in an error, never the value): :func:`uplift_operator.report_token_format.report_tokens`,
    the rule the operator checks the Secret with too (surrounding whitespace of each line
    dropped, blank lines skipped, each token at least 16 printable ASCII characters without
    spaces, one at least), its refusal raised as a :class:`ConfigError`.
    """
    try:
        return report_token_format.report_tokens(raw, source)
    except report_token_format.ReportTokenError as exc:
        raise ConfigError(str(exc)) from None


def _number(key: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be finite, got {raw!r}")
    return value


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _switch(key: str, raw: Any) -> bool:
    """A JSON boolean, the JSON integer ``1`` or ``0``, or ``true``/``false`` (``1``/``0``,
    ``yes``/``no``, ``on``/``off``, any case) as text; anything else is refused, never taken as
    off (a JSON ``null`` is no value: ``from_sources`` leaves the default)."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return raw == 1
    if isinstance(raw, str):
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
    raise ConfigError(f"{key} must be true or false, got {raw!r}")


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
    # (campaign, unit) treatment counts of the per-unit cap, every campaign in one LRU (~230 B
    # each): its own bound, never the unit cache's (0 there turns unit-only reports off only).
    cap_ledger_size: int = 100_000
    model_version: str | None = None
    unit_key: str = "unit_id"   # request input naming the unit (UpliftModel spec.experiment.unitKey)
    max_rows: int = 10_000
    max_abs_value: float = 1e15         # beyond any plausible feature; below 2**63
    max_outcome_value: float = 1e6      # one outcome; keeps value counters far from +Inf
    max_body_bytes: int = 1 << 20
    dedup_size: int = 100_000
    # Refuse (400 bad_unit_id) a request of the model's own decisions without the unit key
    # input, instead of deciding its rows under random unit ids (uplift_rows_without_unit_total).
    require_unit_id: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_fraction <= 1.0:
            raise ConfigError(f"holdout_fraction must be in [0, 1], got {self.holdout_fraction}")
        if self.budget is not None and self.budget < 0:
            raise ConfigError(f"budget must be ≥ 0, got {self.budget}")
        if any(c < 0 for c in self.costs.values()):
            raise ConfigError(f"costs must be ≥ 0, got {dict(self.costs)}")
        if self.unit_cache_size < 0 or self.dedup_size < 0:
            raise ConfigError("unit_cache_size and dedup_size must be ≥ 0")
        if self.max_rows < 1 or self.max_body_bytes < 1:
            raise ConfigError("max_rows and max_body_bytes must be ≥ 1")
        if self.cap_ledger_size < 1:
            raise ConfigError(f"cap_ledger_size must be ≥ 1, got {self.cap_ledger_size}: "
                              "campaigns' maxTreatmentsPerUnit counts in it, and cannot be "
                              "turned off")
        if not 0 < self.max_abs_value <= 1e18 or not 0 < self.max_outcome_value <= 1e12:
            raise ConfigError("max_abs_value must be in (0, 1e18], max_outcome_value in "
                              "(0, 1e12]")

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
        for key in _COUNTS:
            if key in merged:
                kwargs[key] = int(_number(key, merged[key]))
        for key in _BOUNDS:
            if key in merged:
                kwargs[key] = _number(key, merged[key])
        if merged.get("unit_key"):
            kwargs["unit_key"] = str(merged["unit_key"])
        if merged.get("model_version"):
            kwargs["model_version"] = str(merged["model_version"])
        if merged.get("require_unit_id") is not None:  # a JSON null: unset, the default
            kwargs["require_unit_id"] = _switch("require_unit_id", merged["require_unit_id"])
        return cls(**kwargs)

    @staticmethod
    def decision_key(env: Mapping[str, str], read_file: Callable[[str], bytes]) -> bytes | None:
        """The deployment's decision key: ``UPLIFT_DECISION_KEY``, else the content of the file
        ``UPLIFT_DECISION_KEY_FILE`` names; ``None`` when neither is set (local development).

        Surrounding whitespace is dropped (``echo key | base64`` adds a newline); what is left
        must have at least 16 bytes.
        """
        raw: bytes | None = None
        if env.get(DECISION_KEY_ENV):
            raw = env[DECISION_KEY_ENV].encode()
            source = DECISION_KEY_ENV
        elif env.get(DECISION_KEY_FILE_ENV):
            source = f"{DECISION_KEY_FILE_ENV} ({env[DECISION_KEY_FILE_ENV]})"
            try:
                raw = read_file(env[DECISION_KEY_FILE_ENV])
            except OSError as exc:
                raise ConfigError(f"{source} cannot be read: {exc.strerror}") from None
        if raw is None:
            return None
        key = raw.strip()
        if len(key) < 16:
            raise ConfigError(f"{source}: the decision key must have at least 16 bytes, has "
                              f"{len(key)}")
        return key

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
