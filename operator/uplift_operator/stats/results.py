"""Value types shared by every statistical test: decisions, results, per-arm summaries, state.

Role: the vocabulary between ``stats`` and its callers (``domain`` gates, the trainer, reports).
Everything here is a frozen dataclass of plain numbers so that it can be logged, compared in tests
and persisted in a CR status as JSON (``to_dict``/``from_dict``; ±inf is stored as ``None``).
Neighbours: ``sequential``, ``counts``, ``srm`` and ``drift`` return ``TestResult``; the sequential
ones also take and return ``SequentialState``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar

__all__ = ["ArmStats", "Decision", "SequentialState", "TestResult"]


class Decision(StrEnum):
    """What a gate may do after a look."""

    PASS = "pass"  # the null that blocks promotion was rejected (or: no problem found, one look)
    FAIL = "fail"  # the null that protects the stable version was rejected: roll back
    CONTINUE = "continue"  # not enough evidence yet (or too few samples to look)


def _encode(x: float) -> float | None:
    # JSON has no infinities/NaN; the status keeps None for "unbounded / undefined".
    return None if not math.isfinite(x) else float(x)


def _decode(x: float | None, default: float) -> float:
    return default if x is None else float(x)


@dataclass(frozen=True)
class TestResult:
    """The outcome of one test at one look.

    ``estimate`` is on the scale named in ``reason`` (a difference, a rate ratio, a PSI…);
    ``lower``/``upper`` are its confidence bounds (anytime-valid for the sequential tests: the
    running intersection), NaN where the test defines none; ``p_value`` is always-valid for the
    sequential tests; ``samples`` holds the per-arm sample (or event) counts, control first.
    ``statistic`` is the test's own evidence (log likelihood ratio, χ², KS D…); ``details`` holds
    secondary named numbers (e.g. the p-value of the opposite one-sided null).
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    decision: Decision
    estimate: float
    lower: float
    upper: float
    p_value: float
    samples: tuple[int, ...]
    reason: str
    statistic: float = float("nan")
    details: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for a CR status (non-finite numbers become ``None``)."""
        return {
            "decision": self.decision.value,
            "estimate": _encode(self.estimate),
            "lower": _encode(self.lower),
            "upper": _encode(self.upper),
            "pValue": _encode(self.p_value),
            "samples": list(self.samples),
            "reason": self.reason,
            "statistic": _encode(self.statistic),
            "details": {k: _encode(v) for k, v in self.details.items()},
        }


@dataclass(frozen=True)
class SequentialState:
    """What a sequential test must remember between looks (the operator may restart any time).

    ``lower``/``upper``: running intersection of the confidence sequence; ``p_pass``/``p_fail``:
    running minima of the always-valid p-values of the two one-sided nulls (for a two-sided test
    both hold the two-sided p-value); ``looks``: looks that had enough samples to count.
    Keep one state per (test, metric, arm pair, traffic split); start from ``SequentialState()``.
    """

    looks: int = 0
    lower: float = -math.inf
    upper: float = math.inf
    p_pass: float = 1.0
    p_fail: float = 1.0
    #: Evidence of completed strata (ramp steps), so α is spent once per version, not per step.
    #: Count tests multiply their e-values across strata (log sums); mean tests pool the strata's
    #: inverse-variance weighted estimates (``info`` = Σ 1/V, ``score`` = Σ Δ̂/V, ``units`` = Σ n).
    carried_log_pass: float = 0.0
    carried_log_fail: float = 0.0
    carried_info: float = 0.0
    carried_score: float = 0.0
    carried_units: float = 0.0
    #: The same quantities for the current stratum, as of the last look (folded by ``next_stratum``).
    log_pass: float = 0.0
    log_fail: float = 0.0
    info: float = 0.0
    score: float = 0.0
    units: float = 0.0
    #: A parameter frozen at the first look that needed it (a latency threshold, a design size).
    reference: float = math.nan
    #: Counts as of the last look, for tests that bet on the rows since (the drift gate's
    #: live histogram): kept across strata, since those counts run since the canary started.
    #: The count tests with bounds (``counts``: rate ratio, proportion, two-arm SRM) keep here
    #: each stratum's two counts and share, so that their bounds invert the evidence summed over
    #: the strata (``units`` > 0 marks the last record as the current stratum's).
    counts: tuple[int, ...] = ()

    def next_stratum(self) -> SequentialState:
        """The state to continue with after the traffic split changed (a new ramp step).

        The current stratum's evidence at its last look joins the carried evidence: stopping a
        test supermartingale at a look and starting a fresh one multiplied by its value is again
        a test supermartingale, so the running p-values and bounds go on across steps.
        """
        return replace(
            self,
            carried_log_pass=self.carried_log_pass + self.log_pass,
            carried_log_fail=self.carried_log_fail + self.log_fail,
            carried_info=self.carried_info + self.info,
            carried_score=self.carried_score + self.score,
            carried_units=self.carried_units + self.units,
            log_pass=0.0, log_fail=0.0, info=0.0, score=0.0, units=0.0,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (±inf and NaN as ``None``; zero evidence fields and a NaN
        ``reference`` omitted, a finite ``reference`` kept, 0 included)."""
        out: dict[str, Any] = {
            "looks": self.looks,
            "lower": _encode(self.lower),
            "upper": _encode(self.upper),
            "pPass": _encode(self.p_pass),
            "pFail": _encode(self.p_fail),
        }
        for key, attr in _EVIDENCE_FIELDS.items():
            value = getattr(self, attr)
            # zero evidence is the initial value; a reference is NaN initially, and 0 is one
            if (value or attr == "reference") and math.isfinite(value):
                out[key] = float(value)
        if self.counts:
            out["counts"] = list(self.counts)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialState:
        """Inverse of ``to_dict``; missing keys take the initial values."""
        evidence = {attr: float(data[key]) for key, attr in _EVIDENCE_FIELDS.items()
                    if data.get(key) is not None}
        return cls(
            looks=int(data.get("looks", 0)),
            lower=_decode(data.get("lower"), -math.inf),
            upper=_decode(data.get("upper"), math.inf),
            p_pass=_decode(data.get("pPass"), 1.0),
            p_fail=_decode(data.get("pFail"), 1.0),
            counts=tuple(int(c) for c in data.get("counts") or ()),
            **evidence,
        )


#: Wire key → attribute of the evidence fields of ``SequentialState``.
_EVIDENCE_FIELDS = {
    "carriedLogPass": "carried_log_pass", "carriedLogFail": "carried_log_fail",
    "carriedInfo": "carried_info", "carriedScore": "carried_score",
    "carriedUnits": "carried_units", "logPass": "log_pass", "logFail": "log_fail",
    "info": "info", "score": "score", "units": "units", "reference": "reference",
}


@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm: sample size, mean and (unbiased) per-unit variance."""

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be ≥ 0, got {self.n}")
        if not self.variance >= 0.0:  # also rejects NaN
            raise ValueError(f"variance must be ≥ 0, got {self.variance}")

    @classmethod
    def proportion(cls, successes: int, n: int) -> ArmStats:
        """A 0/1 metric: mean p̂ = successes/n and plug-in variance p̂(1 − p̂)."""
        if not 0 <= successes <= n:
            raise ValueError(f"need 0 ≤ successes ≤ n, got {successes}/{n}")
        p = successes / n if n else 0.0
        return cls(n=n, mean=p, variance=p * (1.0 - p))

    @classmethod
    def from_sums(cls, n: int, total: float, total_squares: float) -> ArmStats:
        """From counters a serving runtime exports: n, Σx and Σx² (unbiased variance)."""
        if n == 0:
            return cls(n=0, mean=0.0, variance=0.0)
        mean = total / n
        var = (total_squares - n * mean * mean) / (n - 1) if n > 1 else 0.0
        return cls(n=n, mean=mean, variance=max(var, 0.0))  # clip rounding below zero
