"""Issue #8's acceptance bench: the decisions every gate makes through the operator's own entry points.

Usage (from the repo root; fixed seeds; see docs/gate-bench.md for the last results)::

    .venv/bin/python bench/gate_decisions.py [--runs 100] [--quick] [--gates errorRate,qini]
                                             [--jobs 2] [--scrape-interval 30] [--out FILE.md]

Why a bench and not the stats simulation: a correct statistic inside a wrong rule is a wrong
gate. So every simulated canary here goes through exactly what the operator calls per pass
(``services/upliftmodel.py``): ``ramp.analysis_due`` → the gate's measurement → ``gates.evaluate_gate``
with the memory read back from ``status.gates[].sequentialState`` (``gates.memory_of``) →
``ramp.decide``, which applies the outcomes, carries or resets the sequential state at step
changes, and advances, promotes or rolls back. Only the *measurements* are simulated.

Design (the same for every gate):

* A real ``UpliftModelSpec``: steps 10 % → 25 % → 50 %, each with a 3m pause (``PAUSE``), analysisInterval 1m,
  one gate (the defaults of the API unless the table says otherwise). Version "1" is stable and
  "2" desired, so the first ``decide`` starts the canary. One ``decide`` per interval.
* Traffic: ``λ`` units per interval (Poisson), split canary/stable at the current weight; the
  per-gate ``λ`` makes the canary collect the null scenario's fixed-horizon N in 40 looks at
  10 %; a scenario that should promote (``better``) is paced by its own N instead, since a
  promotion waits out every pause (``GateSim.per_look``). Counts handed to the gate are
  cumulative *since the step started* (PromQL ``increase(...[since step start])``), except
  drift and upliftSanity, which count since the *canary* started (as issue #8 plans).
* Counts as the collector produces them (``services/measurements.py``): every count a test
  reads is multiplied by φ = (⌊w/s⌋ − 1)·s/w of its range w (``observed_share``, imported),
  s = ``--scrape-interval`` (default 30 s, the operator's ``--prometheus-scrape-interval``),
  then rounded: 0.5 at a step's first look, 0.75 at its second. The traffic split is counted
  since the split settled (``settled_window``: one analysis interval after the step started),
  times φ of that range, and is (0, 0) — nothing to check — at a step's first look. The
  reference histograms, the budget's spend and ratios (a mean, a p95) are not scaled.
* A run ends at promotion, rollback, or when the canary has served ``CAP`` × the largest
  fixed-horizon N of the gate's scenarios (undecided; counted as "no decision", never as right).
* Scenarios: ``null`` (equal versions), ``margin`` (canary exactly at the margin / bound),
  ``2x margin``, ``better``, ``SRM`` (a 52/48 split where 50/50 is designed: onlineEffect's
  holdout; for the traffic split, the canary's realised share is 1.04 × the step weight).

Reported per (gate, scenario), each rate with a 95 % Wilson interval:

* false promotion: promoted although the truth is at/beyond the margin (or an SRM);
* false rollback: rolled back although the versions are equal or the canary is better;
* power: the right decision (promote for null/better, roll back for 2x margin) within 3 × N;
* median and p90 canary samples (units or requests since the canary started) to a decision,
  undecided runs counting as ∞, against the fixed-horizon N: the classical one-sided
  (non-inferiority or harm) sample size at the gate's α and power 0.8 for the scenario's
  distance from the boundary it must cross, per arm at 1:1 allocation (formulas in ``fixed_n``;
  the table's "1:1 N"). Beside it the median of the runs' ``status.gates[].designSamples`` at
  the first step (``gates._ratio_design_samples`` and kin: at that step's split, so not the
  same number);
* beside each rate, the share of runs the cap ended undecided when there are any: a rate
  measured over a horizon at which most runs had not decided (a canary at the bound) says
  less than one over decided runs;
* for SRM scenarios: the share of runs whose gate held on a sample-ratio check (an Error that
  holds, ``srm_hold``; not any Error) before any promotion.

Targets (issue #8) are printed next to each figure with ✓/✗. For errorRate and onlineEffect a
naive baseline (a fixed-horizon z-test repeated at every look on all the canary's data) is
printed for contrast. Samples are "requests" for errorRate, latency and upliftSanity, "units"
for onlineEffect, "live rows" for drift and "evaluation rows" for qini (offline: decided on a
fixed evaluation set, so its samples are that set's size).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import math
import os
import resource
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignStatus  # noqa: E402
from uplift_operator.api.v1alpha1.common import GateVerdict  # noqa: E402
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec, UpliftModelStatus  # noqa: E402
from uplift_operator.domain import exposure, ramp  # noqa: E402
from uplift_operator.domain import gates as gates_mod  # noqa: E402
from uplift_operator.domain import measurements as ms  # noqa: E402
from uplift_operator.domain.exposure import completes  # noqa: E402
from uplift_operator.domain.gates import OFFLINE_GATE_TYPES  # noqa: E402
from uplift_operator.domain.ramp import gates_to_measure, on_last_step  # noqa: E402
from uplift_operator.domain.steps import _SRM_WORDS  # noqa: E402
from uplift_operator.services.measurements import observed_share  # noqa: E402
from uplift_operator.stats import uplift as um  # noqa: E402

FloatArray = npt.NDArray[np.float64]
_Measured = TypeVar("_Measured")
Right = Literal["promote", "rollback", "hold"]

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
INTERVAL = dt.timedelta(minutes=1)
WEIGHTS: tuple[int, ...] = (10, 25, 50)
PAUSE = "3m"
PAUSE_LOOKS = 3
LOOKS_TO_N = 40  # looks the canary needs at the first step (10 %) to collect the null's N
MAX_LOOKS = 3 * LOOKS_TO_N
ALPHA = 0.05
POWER = 0.8
CAP = 4.0  # a run stops undecided once the canary served CAP × the gate's largest N
SRM_FACTOR = 1.04  # 52/48 where 50/50 is designed
TREATMENT = "email"
#: The operator's default ``--prometheus-scrape-interval`` (seconds): the counts handed to a gate
#: are scaled as the collector scales them (``observed_share``); ``--scrape-interval``.
SCRAPE_INTERVAL = 30.0

TARGET_FALSE_PROMOTION = 0.05
TARGET_FALSE_PROMOTION_UPPER = 0.07
TARGET_FALSE_ROLLBACK = 0.05
TARGET_POWER = 0.8
TARGET_SRM = 0.95
TARGET_MEDIAN = 1.2
TARGET_P90 = 2.5
POWER_WITHIN = 3.0


# ---------------------------------------------------------------------------------------------
# Small statistics helpers


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float, float]:
    """(rate, lower, upper): the 95 % Wilson score interval of k successes in n runs."""
    if n == 0:
        return math.nan, math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    return float(stats.norm.ppf(1 - alpha) + stats.norm.ppf(power))


def n_log_ratio(p_canary: float, p_stable: float, distance: float, alpha: float = ALPHA) -> float:
    """Per-arm n of a one-sided test on log(p_canary/p_stable) at distance ``distance`` (1:1)."""
    var = (1 - p_canary) / p_canary + (1 - p_stable) / p_stable
    return _z_sum(alpha) ** 2 * var / distance**2


def n_difference(p_canary: float, p_stable: float, distance: float, alpha: float = ALPHA) -> float:
    """Per-arm n of a one-sided test on p_canary − p_stable at distance ``distance`` (1:1)."""
    var = p_canary * (1 - p_canary) + p_stable * (1 - p_stable)
    return _z_sum(alpha) ** 2 * var / distance**2


def make(cls: type[_Measured], **values: Any) -> _Measured:
    """Build a measurement dataclass from the values among ``values`` it has fields for."""
    names = {f.name for f in dataclasses.fields(cast(Any, cls))}
    return cls(**{k: v for k, v in values.items() if k in names})


def has_field(cls: type, name: str) -> bool:
    return name in {f.name for f in dataclasses.fields(cls)}


def split_tolerance() -> float | None:
    """``spec.rollout.splitTolerance`` as the collectors report it: ``--split-tolerance``
    (passed to the workers through the environment); None keeps the API's default."""
    value = os.environ.get("GATE_BENCH_SPLIT_TOLERANCE", "")
    return float(value) if value else None


def scrape_interval() -> float:
    """``--scrape-interval`` (passed to the workers through the environment), else the
    operator's default; 0: counts as Prometheus extrapolates them (φ = 1)."""
    value = os.environ.get("GATE_BENCH_SCRAPE_INTERVAL", "")
    return float(value) if value else SCRAPE_INTERVAL


def phi(looks: int) -> float:
    """The collector's φ (``services.measurements.observed_share``) for a range of ``looks``
    analysis intervals at the bench's scrape interval: 0 for none, 0.5 for one (60 s at 30 s
    scrapes), 0.75 for two, …"""
    seconds = int(looks * INTERVAL.total_seconds())
    return observed_share(f"{seconds}s" if seconds >= 1 else None, scrape_interval())


def observed(count: float | np.number[Any], share: float) -> int:
    """A count as the collector hands it to the test: times φ, rounded (``_observed``)."""
    return max(0, round(float(count) * share))


def split_of(stable: int, canary: int, weight: float, promotes: bool = False) -> ms.SplitCounts:
    """The realised split, the step's weight and whether a Pass promotes, as the collectors
    report them (``--split-tolerance``: the spec's tolerance, else the API's default)."""
    tolerance = split_tolerance()
    extra: dict[str, Any] = {} if tolerance is None else {"tolerance": tolerance}
    return ms.SplitCounts(stable=stable, canary=canary, canary_share=weight / 100,
                          promotes=promotes, **extra)


# ---------------------------------------------------------------------------------------------
# Scenarios and per-gate simulators


@dataclass(frozen=True)
class Scenario:
    """One ground truth: ``effect`` is gate-specific (a ratio, a difference, a PSI, a z…)."""

    name: str
    right: Right  # the decision the truth calls for ("hold": neither may be shown)
    effect: float
    srm: bool = False
    note: str = ""
    spread: float = 1.0  # upliftSanity: the live per-request sd, in training sds


class Run:
    """One simulated canary's data; ``measure`` returns what the collector would hand the gate:
    every count a test reads times φ of its range (``observed``, ``step_share``,
    ``canary_share``), the traffic split over the settled window only (``split``)."""

    canary_total: float = 0.0  # canary samples since the canary started
    promotes: bool = False  # on the ramp's last step (``ramp.on_last_step``), set by simulate
    # Set by ``simulate`` (``stepped``/``ticked``): analysis intervals since the step and since
    # the canary started, and the split's counts at the end of the step's first interval.
    step_looks: int = 0
    canary_looks: int = 0
    settled_at: tuple[int, int] | None = None

    def start_step(self, weight: float) -> None:
        raise NotImplementedError

    def tick(self, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def measure(self) -> ms.Measurement:
        raise NotImplementedError

    def split_counts(self) -> tuple[int, int] | None:
        """(stable, canary) units since the step started, the traffic split's (None: none)."""
        return None

    def stepped(self) -> None:
        self.step_looks, self.settled_at = 0, None

    def ticked(self) -> None:
        self.step_looks += 1
        self.canary_looks += 1
        if self.step_looks == 1:  # the split settles one analysis interval into the step
            self.settled_at = self.split_counts()

    def step_share(self) -> float:
        """φ of the step's range (``ctx.window``)."""
        return phi(self.step_looks)

    def canary_share(self) -> float:
        """φ of the canary's range (``ctx.canary_window``)."""
        return phi(self.canary_looks)

    def split(self, weight: float) -> ms.SplitCounts:
        """The traffic split as the collector's ``_split`` reads it: the counts since the split
        settled (``GateContext.settled_window``: one analysis interval after the step started)
        times φ of that range; (0, 0), nothing to check, until it has one."""
        now, base = self.split_counts(), self.settled_at
        share = phi(self.step_looks - 1)
        if now is None or base is None or share <= 0:
            return split_of(0, 0, weight, self.promotes)
        return split_of(observed(now[0] - base[0], share), observed(now[1] - base[1], share),
                        weight, self.promotes)


@dataclass
class GateSim:
    """A gate type's spec, scenarios, traffic, fixed-horizon N and measurement generator."""

    key: str
    gate: dict[str, Any]
    scenarios: tuple[Scenario, ...]
    unit: str
    experiment: dict[str, Any] = field(default_factory=dict)

    def fixed_n(self, sc: Scenario) -> float:
        raise NotImplementedError

    def per_look(self, sc: Scenario) -> float:
        """Total units per interval: the canary collects the null's N in LOOKS_TO_N looks at the
        first step, so a clean ramp (pauses only) costs well under N (``floor``: 0.64 × N).
        A scenario whose right decision is a promotion (``better``) is paced by its *own* N:
        a promotion waits out every pause, and at the null's rate a canary 2 margins from the
        boundary (N a quarter of the null's) had a floor of 2.5–2.8 × its N, so its samples to
        decision measured the pauses, not the gate. Rollbacks wait for no pause, so the other
        scenarios keep the null's rate (and their rows stay comparable with earlier runs)."""
        n = self.fixed_n(sc)
        if sc.right != "promote" or sc.srm or not math.isfinite(n):
            n = self.fixed_n(self.scenarios[0])
        return n / (WEIGHTS[0] / 100 * LOOKS_TO_N)

    def floor(self, sc: Scenario) -> float:
        """Canary samples of the shortest possible promotion: every step ends at its pause."""
        return PAUSE_LOOKS * sum(WEIGHTS) / 100 * self.per_look(sc)

    def cap(self) -> float:
        return CAP * max(self.fixed_n(s) for s in self.scenarios)

    def experiment_of(self, sc: Scenario) -> dict[str, Any]:
        return self.experiment

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        raise NotImplementedError

    def max_looks(self) -> int:
        return MAX_LOOKS

    def notes(self) -> list[str]:
        return []


def _share(weight: float, sc: Scenario) -> float:
    return min(weight / 100 * (SRM_FACTOR if sc.srm else 1.0), 1.0)


# -- errorRate -------------------------------------------------------------------------------

ERR_BASE = 0.01


class ErrorRateRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario) -> None:
        self.sim, self.sc, self.lam = sim, sc, sim.per_look(sc)
        self.p_canary = ERR_BASE * sc.effect
        self.weight = 0.0
        self.counts = np.zeros(4, dtype=np.int64)  # canary errors, requests, stable errors, requests

    def start_step(self, weight: float) -> None:
        self.weight = weight
        self.counts[:] = 0

    def tick(self, rng: np.random.Generator) -> None:
        share = _share(self.weight, self.sc)
        n_c = rng.poisson(self.lam * share)
        n_s = rng.poisson(self.lam * (1 - share))
        self.counts += (rng.binomial(n_c, self.p_canary), n_c, rng.binomial(n_s, ERR_BASE), n_s)
        self.canary_total += n_c

    def split_counts(self) -> tuple[int, int]:
        return int(self.counts[3]), int(self.counts[1])

    def measure(self) -> ms.Measurement:
        share = self.step_share()
        ce, cn, se, sn = (observed(x, share) for x in self.counts)
        return make(ms.ErrorRateMeasurement, canary_errors=ce, canary_requests=cn, stable_errors=se,
                    stable_requests=sn, canary_share=self.weight / 100, split=self.split(self.weight))


class ErrorRateSim(GateSim):
    def fixed_n(self, sc: Scenario) -> float:
        r = 1.0 if sc.srm else sc.effect
        r0 = 1.0 + self.gate["margin"] if sc.right != "rollback" else 1.0
        distance = abs(math.log(r) - math.log(r0))
        return n_log_ratio(ERR_BASE * r, ERR_BASE, distance)

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return ErrorRateRun(self, sc)

    def notes(self) -> list[str]:
        if has_field(ms.ErrorRateMeasurement, "canary_share") or has_field(
                ms.ErrorRateMeasurement, "split"):
            return []
        return ["ErrorRateMeasurement has no canary_share: the errorRate gate does not check the "
                "traffic split, so its SRM row measures what a broken split does to it"]


# -- onlineEffect ----------------------------------------------------------------------------

OE_HOLDOUT_P, OE_TREATED_P = 0.10, 0.15  # Hillstrom-like visit rates: holdout 10 %, treated 15 %


class OnlineEffectRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario) -> None:
        self.sim, self.sc, self.lam = sim, sc, sim.per_look(sc)
        self.h = sim.experiment_of(sc)["holdoutFraction"]
        # The SRM scenario breaks the canary's holdout split (52/48 on a 50/50 design).
        self.h_canary = self.h * SRM_FACTOR if sc.srm else self.h
        self.p_canary = OE_TREATED_P + (0.0 if sc.srm else sc.effect)
        self.weight = 0.0
        self.counts = np.zeros(8, dtype=np.int64)  # (units, conv) × (c hold, c treat, s hold, s treat)

    def start_step(self, weight: float) -> None:
        self.weight = weight
        self.counts[:] = 0

    def tick(self, rng: np.random.Generator) -> None:
        share = self.weight / 100
        n_c = rng.poisson(self.lam * share)
        n_s = rng.poisson(self.lam * (1 - share))
        ch = rng.binomial(n_c, self.h_canary)
        sh = rng.binomial(n_s, self.h)
        units = np.array([ch, n_c - ch, sh, n_s - sh])
        conv = rng.binomial(units, [OE_HOLDOUT_P, self.p_canary, OE_HOLDOUT_P, OE_TREATED_P])
        self.counts[0::2] += units
        self.counts[1::2] += conv
        self.canary_total += n_c

    def split_counts(self) -> tuple[int, int]:
        c = self.counts
        return int(c[4] + c[6]), int(c[0] + c[2])

    def measure(self) -> ms.Measurement:
        share = self.step_share()  # the step's cohorts (no attribution window here)
        c = [observed(x, share) for x in self.counts]
        arms = [ms.ArmCounts(units=c[i], conversions=c[i + 1]) for i in range(0, 8, 2)]
        return make(ms.OnlineEffectMeasurement,
                    canary=ms.VersionArms(holdout=arms[0], treated=arms[1]),
                    stable=ms.VersionArms(holdout=arms[2], treated=arms[3]),
                    holdout_fraction=self.h, canary_share=self.weight / 100,
                    split=self.split(self.weight))


class OnlineEffectSim(GateSim):
    def fixed_n(self, sc: Scenario) -> float:
        delta = 0.0 if sc.srm else sc.effect
        d0 = -self.gate["margin"] if sc.right != "rollback" else 0.0
        treated = n_difference(OE_TREATED_P + delta, OE_TREATED_P, abs(delta - d0))
        return treated / (1 - float(self.experiment_of(sc)["holdoutFraction"]))  # canary units, all arms

    def experiment_of(self, sc: Scenario) -> dict[str, Any]:
        return {"holdoutFraction": 0.5} if sc.srm else self.experiment

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return OnlineEffectRun(self, sc)


# -- latency ---------------------------------------------------------------------------------

LAT_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAT_SIGMA = 0.5
# The stable's share of requests above 0.05 s, the bucket bound right above its p95 (≈ 0.044 s):
# the gate's "slow" event. The canary's slow share is the scenario's effect × this.
LAT_SLOW = 0.03
LAT_MEDIAN = 0.05 / math.exp(stats.norm.ppf(1 - LAT_SLOW) * LAT_SIGMA)


def _bucket_probs(scale: float) -> FloatArray:
    """Cumulative-bucket probabilities of lognormal latencies (stable median × scale)."""
    cdf = stats.norm.cdf((np.log(LAT_BOUNDS) - math.log(LAT_MEDIAN * scale)) / LAT_SIGMA)
    return np.diff(np.r_[0.0, cdf, 1.0])  # per bucket, last = +Inf


def _histogram_quantile(q: float, cumulative: Sequence[int]) -> float:
    """Prometheus histogram_quantile on cumulative bucket counts (le = LAT_BOUNDS, +Inf)."""
    total = cumulative[-1]
    if total == 0:
        return math.nan
    rank = q * total
    lower, prev = 0.0, 0
    for bound, count in zip((*LAT_BOUNDS, math.inf), cumulative, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return LAT_BOUNDS[-1]
            return lower + (bound - lower) * (rank - prev) / max(count - prev, 1)
        lower, prev = bound, count
    return LAT_BOUNDS[-1]


class LatencyRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario) -> None:
        self.sim, self.sc, self.lam = sim, sc, sim.per_look(sc)
        ratio = 1.0 if sc.srm else sc.effect  # the canary's slow share = ratio × stable's
        scale = math.exp(LAT_SIGMA * (stats.norm.ppf(1 - LAT_SLOW) - stats.norm.ppf(1 - LAT_SLOW * ratio)))
        self.p_canary, self.p_stable = _bucket_probs(scale), _bucket_probs(1.0)
        self.weight = 0.0
        self.canary = np.zeros(len(LAT_BOUNDS) + 1, dtype=np.int64)
        self.stable = np.zeros(len(LAT_BOUNDS) + 1, dtype=np.int64)

    def start_step(self, weight: float) -> None:
        self.weight = weight
        self.canary[:] = 0
        self.stable[:] = 0

    def tick(self, rng: np.random.Generator) -> None:
        share = _share(self.weight, self.sc)
        n_c = rng.poisson(self.lam * share)
        self.canary += rng.multinomial(n_c, self.p_canary)
        self.stable += rng.multinomial(rng.poisson(self.lam * (1 - share)), self.p_stable)
        self.canary_total += n_c

    def split_counts(self) -> tuple[int, int]:
        return int(self.stable.sum()), int(self.canary.sum())

    def measure(self) -> ms.Measurement:
        share = self.step_share()  # every bucket count as observed
        cc = [observed(x, share) for x in np.cumsum(self.canary)]
        sc_ = [observed(x, share) for x in np.cumsum(self.stable)]
        return make(ms.LatencyMeasurement,
                    canary_p95_seconds=_histogram_quantile(0.95, cc), canary_requests=cc[-1],
                    stable_p95_seconds=_histogram_quantile(0.95, sc_) if sc_[-1] else None,
                    stable_requests=sc_[-1], bucket_bounds=(*LAT_BOUNDS, math.inf),
                    canary_buckets=tuple(cc),
                    stable_buckets=tuple(sc_), canary_share=self.weight / 100,
                    split=self.split(self.weight))


class LatencySim(GateSim):
    def fixed_n(self, sc: Scenario) -> float:
        r = 1.0 if sc.srm else sc.effect
        r0 = 1.0 + self.gate["margin"] if sc.right != "rollback" else 1.0
        return n_log_ratio(LAT_SLOW * r, LAT_SLOW, abs(math.log(r) - math.log(r0)))

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return LatencyRun(self, sc)

    def notes(self) -> list[str]:
        out = ["latency truth: the share of requests slower than 0.05 s (the bucket bound above "
               "the stable's p95, 0.044 s) is 3 % for the stable and effect × 3 % for the canary "
               "(lognormal latencies, σ = 0.5, on Prometheus' default buckets)"]
        if not (has_field(ms.LatencyMeasurement, "canary_share")
                or has_field(ms.LatencyMeasurement, "split")):
            out.append("LatencyMeasurement has no canary_share: the latency gate does not check "
                       "the traffic split")
        if not has_field(ms.LatencyMeasurement, "canary_buckets"):
            out.append("LatencyMeasurement has no bucket counts yet: the gate judges "
                       "histogram_quantile p95s, so a 1.2× slow share is only a 1.05× p95")
        return out


# -- drift -----------------------------------------------------------------------------------

DRIFT_FEATURES = 7
DRIFT_BINS = 10
DRIFT_REFERENCE = 50_000  # training rows behind each reference histogram
DRIFT_RARE_SHARE = 0.02  # the last feature's rare category


def _reference_shares() -> list[FloatArray]:
    """Seven 10-bin references: six near-uniform (quantile bins), one with a 2 % category."""
    out = []
    for f in range(DRIFT_FEATURES):
        if f == DRIFT_FEATURES - 1:
            rest = (1 - DRIFT_RARE_SHARE) / (DRIFT_BINS - 1)
            p = np.r_[DRIFT_RARE_SHARE, np.full(DRIFT_BINS - 1, rest)]
        else:
            p = np.full(DRIFT_BINS, 1.0 / DRIFT_BINS)
        out.append(p)
    return out


def _psi(p: FloatArray, q: FloatArray) -> float:
    return float(np.sum((q - p) * np.log(q / p)))


def tilted(p: FloatArray, target: float) -> FloatArray:
    """p exponentially tilted along the bin index until PSI(p, q) = target (a location shift)."""
    if target <= 0:
        return p
    g = np.linspace(-1.0, 1.0, p.size)
    lo, hi = 0.0, 10.0
    for _ in range(80):
        beta = (lo + hi) / 2
        q = p * np.exp(beta * g)
        q /= q.sum()
        lo, hi = (beta, hi) if _psi(p, q) < target else (lo, beta)
    q = p * np.exp(lo * g)
    return cast(FloatArray, q / q.sum())


class DriftRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario, rng: np.random.Generator) -> None:
        self.lam = sim.per_look(sc)
        self.reference = _reference_shares()
        self.ref_counts = [tuple(int(x) for x in rng.multinomial(DRIFT_REFERENCE, p))
                           for p in self.reference]
        self.live_p = [tilted(p, sc.effect) if f == 0 else p for f, p in enumerate(self.reference)]
        self.live = np.zeros((DRIFT_FEATURES, DRIFT_BINS), dtype=np.int64)
        self.weight = 0.0

    def start_step(self, weight: float) -> None:
        self.weight = weight  # live counts run since the canary started: no reset

    def tick(self, rng: np.random.Generator) -> None:
        n = rng.poisson(self.lam * self.weight / 100)
        for f in range(DRIFT_FEATURES):
            self.live[f] += rng.multinomial(n, self.live_p[f])
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        share = self.canary_share()  # the live bins as observed; the reference is exact
        return ms.DriftMeasurement(features={
            f"f{f}": ms.FeatureHistogram(reference=self.ref_counts[f],
                                         live=tuple(observed(x, share) for x in self.live[f]))
            for f in range(DRIFT_FEATURES)})


class DriftSim(GateSim):
    def fixed_n(self, sc: Scenario) -> float:
        """Live rows for fixed-n Pearson χ² tests of "PSI ≶ bound" making the gate's decision,
        with PSI/(1/n + 1/m) ~ noncentral χ²₉(PSI/(1/n + 1/m)) (PSI ≈ χ² divergence): drift
        shown in the drifted feature at α/7 (Bonferroni), or no drift shown in all seven
        features, each at α (intersection-union), with power 0.8 for the seven together."""
        bound = self.gate.get("max", 0.1)
        df = DRIFT_BINS - 1
        truth = sc.effect
        if sc.right == "hold" or truth == bound:
            return math.nan
        target = POWER ** (1 / DRIFT_FEATURES) if truth < bound else POWER

        def power(n: float) -> float:
            k = 1 / n + 1 / DRIFT_REFERENCE
            if truth < bound:  # show PSI < bound, each feature at α
                crit = stats.ncx2.ppf(ALPHA, df, bound / k)
                return float(stats.ncx2.cdf(crit, df, truth / k) if truth > 0 else stats.chi2.cdf(crit, df))
            crit = stats.ncx2.ppf(1 - ALPHA / DRIFT_FEATURES, df, bound / k)
            return float(stats.ncx2.sf(crit, df, truth / k))

        lo, hi = 10.0, 1e7
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if power(mid) < target else (lo, mid)
        return hi

    def design(self) -> int:
        """The gate's own design size (its default expectedSamples): the anytime-valid PSI
        bounds decide near it, ≈ 3 × this χ² N."""
        return gates_mod.drift_design_samples(self.gate.get("max", 0.1), DRIFT_BINS, ALPHA,
                                              DRIFT_FEATURES)

    def per_look(self, sc: Scenario) -> float:
        # Traffic follows the design size, not the χ² N: at the χ² N's rate the first step
        # alone would outlast MAX_LOOKS.
        return self.design() / (WEIGHTS[0] / 100 * LOOKS_TO_N)

    def cap(self) -> float:
        return CAP * 2 * self.design()

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return DriftRun(self, sc, rng)


# -- upliftSanity ----------------------------------------------------------------------------


#: upliftSanity's band in the bench, narrower than the API's default (±1 training std, which
#: ≈ 6 requests decide): ±0.1 needs ≈ 620, so the ratios to N measure the gate's sequence.
SANITY_BAND_DEFAULT = 0.1


class SanityRun(Run):
    TRAINING_MEAN, TRAINING_STD = 0.03, 0.02

    def __init__(self, sim: GateSim, sc: Scenario) -> None:
        self.lam, self.sc = sim.per_look(sc), sc
        self.mu = self.TRAINING_MEAN + sc.effect * self.TRAINING_STD
        self.sd = sc.spread * self.TRAINING_STD
        self.weight, self.total, self.squares, self.n = 0.0, 0.0, 0.0, 0

    def start_step(self, weight: float) -> None:
        self.weight = weight  # since the canary started: no reset

    def tick(self, rng: np.random.Generator) -> None:
        n = int(rng.poisson(self.lam * self.weight / 100))
        if n:
            # Σx and Σx² of n normal draws: Σx² = Σ(x − x̄)² + (Σx)²/n, the two independent.
            total = rng.normal(n * self.mu, math.sqrt(n) * self.sd)
            spread = self.sd**2 * rng.chisquare(n - 1) if n > 1 else 0.0
            self.total += total
            self.squares += spread + total * total / n
        self.n += n
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        mean = self.total / self.n if self.n else math.nan
        live = (math.sqrt(max(self.squares - self.n * mean * mean, 0.0) / (self.n - 1))
                if self.n > 1 else None)  # the collector's, from the Σx² counter
        # the mean and sd are ratios (unscaled); the requests as observed
        return ms.UpliftSanityMeasurement(canary_mean_uplift=mean,
                                          requests=observed(self.n, self.canary_share()),
                                          training_mean=self.TRAINING_MEAN,
                                          training_std=self.TRAINING_STD, live_std=live)


class SanitySim(GateSim):
    def fixed_n(self, sc: Scenario) -> float:
        """Requests (sd = 1 in training-std units per request) of the fixed-n test of each
        decision: inside the band, two one-sided tests at α (both edges; the operator's
        ``sanity_design_samples``); outside it, a two-sided z-test at α (either edge)."""
        low, high = float(self.gate.get("min", -1.0)), float(self.gate.get("max", 1.0))
        if sc.right == "hold":
            return math.nan
        if sc.right == "promote":
            return float(gates_mod.sanity_design_samples(low, high, ALPHA))
        distance = sc.effect - high if sc.effect > high else low - sc.effect
        return _z_sum(ALPHA / 2) ** 2 / distance ** 2

    def cap(self) -> float:
        return CAP * self.fixed_n(self.scenarios[0])

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return SanityRun(self, sc)


# -- qini (offline) --------------------------------------------------------------------------

QINI_ROWS_DEFAULT = 20_000
QINI_MARGIN_DEFAULT = 0.2  # the gate's default relative margin


def qini_rows() -> int:
    """Rows per synthetic evaluation set: ``--qini-rows`` (passed to the workers through the
    environment, so it holds however they are started)."""
    return int(os.environ.get("GATE_BENCH_QINI_ROWS", QINI_ROWS_DEFAULT))

QINI_BOOT = 200
QINI_P0, QINI_TAU, QINI_SLOPE = 0.10, 0.04, 0.03  # p(y | control) and the CATE τ(u) = 0.04 + 0.03u
QINI_STABLE_NOISE = 1.0


def _cate(u: FloatArray) -> FloatArray:
    return np.clip(QINI_TAU + QINI_SLOPE * u, -QINI_P0, 1 - QINI_P0)


def qini_replicates(y: FloatArray, t: FloatArray, score: FloatArray, weights: FloatArray,
                    chunk: int = 8) -> FloatArray:
    """``qini_coefficient`` (normalised) on each weighted resample: one row of ``weights`` per
    resample, a row's weight = how often the bootstrap drew it. Equal to
    ``stats.uplift.bootstrap_replicates(qini_coefficient, …)`` on distinct scores (``cross_check_qini``).

    One resample at a time, so that its running sums stay in cache (all 200 at once, at 72,000
    rows, moved ≈ 1 GB through memory per model and took 9× as long; 8 at a time, 1.6× as
    long), with the results of the earlier ``chunk`` resamples at a time bit for bit: the
    running sums are sums of whole counts (exact in any order), and each area is summed as
    ``einsum`` summed it then, on two resamples laid out as one column of such a chunk (a
    chunk of one resample, as the point estimate's, has its own summation order: kept)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    ys, ts = y[order], t[order]
    y_treated, y_control = ys * ts, ys * (1 - ts)
    rows, n = weights.shape
    out = np.empty(rows)
    # (resample, total, q at the end, treated converters, control converters) of a pair
    # waiting for its areas; a pair's curves and weights in the layout of a chunk's columns.
    pending: list[tuple[int, np.float64, np.float64, np.float64, np.float64]] = []
    pair_w, pair_q = np.empty((2, n), order="F"), np.empty((2, n), order="F")
    alone = {rows - 1} if rows % chunk == 1 else set()  # its chunk held it alone
    for b in range(rows):
        w = weights[b][order]
        x = np.cumsum(w)
        n_t = np.cumsum(w * ts)
        n_c = x - n_t
        y_t = np.cumsum(w * y_treated)
        y_c = np.cumsum(w * y_control)
        q = y_t - y_c * np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
        # The curve is linear over each row's weight: area = Σ wᵢ (qᵢ + qᵢ₋₁) / 2, q₋₁ = 0.
        if b in alone:
            before = np.zeros_like(q)
            before[1:] = q[:-1]
            area = np.einsum("ij,ij->i", w[None, :], (q + before)[None, :])[0] / 2
            out[b] = _normalised(area, x[-1], q[-1], y_t[-1], y_c[-1])
            continue
        k = len(pending)
        pair_w[k] = w
        pair_q[k, 0] = q[0]
        np.add(q[1:], q[:-1], out=pair_q[k, 1:])
        pending.append((b, x[-1], q[-1], y_t[-1], y_c[-1]))
        if len(pending) == 2 or b == rows - 1 or (b == rows - 2 and alone):
            if len(pending) == 1:  # an odd one out: a pair with itself, the same columns
                pair_w[1], pair_q[1] = pair_w[0], pair_q[0]
            areas = np.einsum("ij,ij->i", pair_w, pair_q) / 2
            for (index, total, q_end, a, c), area in zip(pending, areas, strict=False):
                out[index] = _normalised(area, total, q_end, a, c)
            pending = []
    return out


def _normalised(area: np.float64, total: np.float64, q_end: np.float64, a: np.float64,
                c: np.float64) -> np.float64:
    """The Qini coefficient of a curve of ``area``: against the random ranking's area and the
    perfect ranking's (treated converters ``a``, non-converters, control converters ``c``:
    three blocks, sized by the running sums' totals). numpy scalars, as numpy's arrays did it:
    a degenerate resample's 0/0 is a NaN (with numpy's warning), not an exception."""
    random = total * q_end / 2
    b = total - a - c
    perfect = a * a / 2 + b * a + c * (a + q_end) / 2
    return (area - random) / (perfect - random)


def bootstrap_weights(t: FloatArray, n_resamples: int, seed: int) -> FloatArray:
    """The resamples of ``stats.uplift.bootstrap_replicates`` (within arms) as row weights."""
    rng = np.random.default_rng(seed)
    arms = [np.flatnonzero(t == 1), np.flatnonzero(t == 0)]
    out = np.empty((n_resamples, t.size))
    for b in range(n_resamples):
        idx = np.concatenate([rng.choice(a, size=a.size, replace=True) for a in arms if a.size])
        out[b] = np.bincount(idx, minlength=t.size)
    return out


def cross_check_qini(rows: int = 2000, resamples: int = 5, seed: int = 3) -> float:
    """Largest |vectorised − stats.uplift| over a few replicates (and the point estimate)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=rows)
    t = rng.integers(0, 2, rows).astype(float)
    y = (rng.random(rows) < QINI_P0 + t * _cate(u)).astype(float)
    s = u + rng.normal(size=rows)
    fast = qini_replicates(y, t, s, bootstrap_weights(t, resamples, seed))
    slow = np.asarray(um.bootstrap_replicates(um.qini_coefficient, y, t, s,
                                              n_resamples=resamples, seed=seed))
    point = qini_replicates(y, t, s, np.ones((1, rows)))[0]
    return float(max(np.max(np.abs(fast - slow)), abs(point - um.qini_coefficient(y, t, s))))


#: ``_population_qini`` by (noise, rows, seed): each ``_noise_for`` scans the 79 grid points,
#: 200,000 rows each (6 CPU-s). ``run_bench`` computes the grid once, its points spread over the
#: workers, and hands it to every task (``_task``), instead of each process computing it.
_POPULATION: dict[tuple[float, int, int], float] = {}
#: The noise levels ``_noise_for`` interpolates between (Qini ratios 1.39, σ 0.2, to 0.17, σ 8,
#: of σ = 1's).
_NOISE_GRID = np.linspace(0.2, 8.0, 79)


def _population_qini(noise: float, rows: int = 200_000, seed: int = 11) -> float:
    """A model's Qini on a large set with expected outcomes (truth, not a sample)."""
    key = (noise, rows, seed)
    if key not in _POPULATION:
        rng = np.random.default_rng(seed)
        u = rng.normal(size=rows)
        t = (np.arange(rows) % 2).astype(float)
        y = QINI_P0 + t * _cate(u)
        _POPULATION[key] = float(um.qini_coefficient(y, t, u + noise * rng.normal(size=rows)))
    return _POPULATION[key]


def _population_noises() -> list[float]:
    """The noise levels whose population Qini ``_noise_for`` reads."""
    return [*(float(s) for s in _NOISE_GRID), QINI_STABLE_NOISE]


@functools.lru_cache(maxsize=4)
def _observed_qini(noise: float, rows: int = 1_000_000, seed: int = 13) -> float:
    """A model's Qini as the gate sees it: on realised (0/1) outcomes, whose perfect ranking
    (the normalisation) is far better than on expected outcomes: ≈ 0.55 × ``_population_qini``.
    Ratios between models are the same either way (one normalisation per set)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=rows)
    t = (np.arange(rows) % 2).astype(float)
    y = (rng.random(rows) < QINI_P0 + t * _cate(u)).astype(float)
    return float(um.qini_coefficient(y, t, u + noise * rng.normal(size=rows)))


@functools.lru_cache(maxsize=16)
def _noise_for(ratio: float) -> float:
    grid = _NOISE_GRID
    values = np.array([_population_qini(float(s)) for s in grid])
    # Qini falls as the noise grows: interpolate on the reversed grid.
    return float(np.interp(ratio * _population_qini(QINI_STABLE_NOISE), values[::-1], grid[::-1]))


QINI_PILOT_RUNS = 8


_PILOT_SE: dict[tuple[float, int], float] = {}


def _pilot_se(sim: QiniSim, sc: Scenario) -> float:
    """SE of the paired canary − stable difference for ``sc``'s canary: the root mean
    bootstrap variance over ``QINI_PILOT_RUNS`` sets (fixed seeds). Per scenario, as
    errorRate's N takes the scenario's own rates: a worse canary's scores agree less with the
    stable's, so the difference is noisier (2x margin: ≈ 1.17 × the equal models' SE, an N
    ≈ 1.4 × theirs)."""
    key = (sc.effect, qini_rows())
    if key not in _PILOT_SE:
        variances = [_pilot_variance(sim, sc, k) for k in range(QINI_PILOT_RUNS)]
        _PILOT_SE[key] = float(np.sqrt(np.mean(variances)))
    return _PILOT_SE[key]


def _pilot_variance(sim: QiniSim, sc: Scenario, k: int) -> float:
    """The bootstrap variance of the paired difference on pilot set ``k`` (``_pilot_se``)."""
    return float(np.var(QiniRun(sim, sc, np.random.default_rng(5 + k)).diff_replicates, ddof=1))


class QiniSim(GateSim):
    """Two scoring functions u + noise of known population Qini; scenarios set the canary's."""

    def canary_noise(self, ratio: float) -> float:
        """The canary's noise σ whose population Qini is ``ratio`` × the stable's (σ = 1)."""
        return _noise_for(ratio)

    def stable_qini(self) -> float:
        """The stable's Qini on the gate's scale (its relative margin multiplies this)."""
        return _observed_qini(QINI_STABLE_NOISE)

    def se_difference(self, sc: Scenario) -> float:
        """SE of the paired canary − stable Qini difference at ``qini_rows()`` (a pilot)."""
        return _pilot_se(self, sc)

    def fixed_n(self, sc: Scenario) -> float:
        q = self.stable_qini()
        margin = self.gate.get("margin", 0.2) * abs(q)
        delta = (sc.effect - 1) * q
        d0 = -margin if sc.right != "rollback" else 0.0
        return qini_rows() * (_z_sum() * self.se_difference(sc) / abs(delta - d0)) ** 2

    def cap(self) -> float:
        return math.inf  # offline: the evaluation set is what it is

    def floor(self, sc: Scenario) -> float:
        return math.nan

    def max_looks(self) -> int:
        return 10  # every look sees the same offline data: the verdict cannot change

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return QiniRun(self, sc, rng)

    def notes(self) -> list[str]:
        return [f"qini: synthetic evaluation sets of {qini_rows():,} rows (50 % treated, p = 0.10 + "
                f"t·τ(u), τ = 0.04 + 0.03u), scores u + σ·noise, {QINI_BOOT} paired bootstrap "
                "resamples (stats.uplift.bootstrap_replicates' scheme, one seed for both models); "
                "samples = the evaluation set's rows"]


class QiniRun(Run):
    def __init__(self, sim: QiniSim, sc: Scenario, rng: np.random.Generator) -> None:
        n = qini_rows()
        u = rng.normal(size=n)
        t = (rng.random(n) < 0.5).astype(float)
        y = (rng.random(n) < QINI_P0 + t * _cate(u)).astype(float)
        s_stable = u + QINI_STABLE_NOISE * rng.normal(size=n)
        s_canary = u + sim.canary_noise(sc.effect) * rng.normal(size=n)
        seed = int(rng.integers(2**31))
        w = bootstrap_weights(t, QINI_BOOT, seed)
        rep_c, rep_s = qini_replicates(y, t, s_canary, w), qini_replicates(y, t, s_stable, w)
        self.diff_replicates = rep_c - rep_s
        ones = np.ones((1, n))
        point = qini_replicates(y, t, s_canary, ones)[0], qini_replicates(y, t, s_stable, ones)[0]
        fingerprint = f"synthetic-{seed}"

        def estimate(value: float, reps: FloatArray) -> Any:
            lo, hi = um.one_sided_bounds(reps, alpha=0.025)  # as the trainer logs them
            return make(ms.QiniEstimate, estimate=float(value), lower=float(lo), upper=float(hi),
                        samples=n, replicates=tuple(float(x) for x in reps),
                        evaluation_set=fingerprint)

        self.m = ms.QiniMeasurement(canary={TREATMENT: estimate(point[0], rep_c)},
                                    stable={TREATMENT: estimate(point[1], rep_s)})
        self.canary_total = float(n)

    def start_step(self, weight: float) -> None:
        pass

    def tick(self, rng: np.random.Generator) -> None:
        pass

    def measure(self) -> ms.Measurement:
        return self.m


# -- Campaign gates (the exposure ramp) -------------------------------------------------------
#
# A real CampaignSpec with one gate, exposure 10 % → 25 % → 50 % (pause 3m, analysisInterval
# 1m), driven through what services/campaign.py calls per pass: exposure.analysis_due →
# exposure.gates_to_measure → gates.evaluate_gate (memory from status.gates[].sequentialState)
# → exposure.decide. "Promoted" = the exposure ramp completed (every step passed), "rolled
# back" = exposure back to 0 %. Exposed units arrive Poisson at the step's percent; counts are
# since the step started, as the collectors count them; the budget's spend since its period
# started.

CAMPAIGN_H = 0.1  # holdoutFraction
CAMPAIGN_BASE = 0.10  # holdout conversion rate
ROI_VALUE, ROI_COST = 10.0, 0.1  # value per conversion, cost per treated-arm unit: break-even Δ 0.01


def n_one_sample(p0: float, p1: float, alpha: float = ALPHA) -> float:
    """n of the one-sided one-sample binomial z-test of p0 when the truth is p1."""
    za, zb = stats.norm.ppf(1 - alpha), stats.norm.ppf(POWER)
    return float(((za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(p1 * (1 - p1))) / (p1 - p0)) ** 2)


def n_holdout_design(delta: float, distance: float, h: float = CAMPAIGN_H,
                     alpha: float = ALPHA) -> float:
    """Exposed units (both arms) of the one-sided fixed-sample test of Δ = treated − holdout at
    ``distance`` from its threshold, with a share ``h`` of the units in the holdout."""
    p_t, p_h = CAMPAIGN_BASE + delta, CAMPAIGN_BASE
    var = p_t * (1 - p_t) / (1 - h) + p_h * (1 - p_h) / h
    return _z_sum(alpha) ** 2 * var / distance**2


class CampaignSim(GateSim):
    """A Campaign gate: the same Run interface, driven through the exposure ramp."""

    def spec(self, sc: Scenario) -> CampaignSpec:
        # A budget only for the budget gate's rows: a spec with one and no budget gate implies
        # one (domain.exposure.implied_budget_gate), which would judge the row's measurement.
        amount = self.budget_of(sc)
        budget = {} if amount is None else {"budget": amount}
        return CampaignSpec.model_validate({
            "modelRef": {"name": "bench"},
            "treatments": [{"name": TREATMENT}],
            "economics": {"valuePerConversion": ROI_VALUE, "costPerTreatment": ROI_COST,
                          **budget},
            "experiment": {"holdoutFraction": CAMPAIGN_H},
            "exposure": {"steps": [{"percent": w, "pause": PAUSE} for w in WEIGHTS],
                         "analysisInterval": "1m", "gates": [self.gate]},
        })

    def budget_of(self, sc: Scenario) -> float | None:
        return None


class DeliveryRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario) -> None:
        self.lam, self.p = sim.per_look(sc), sc.effect
        self.percent = 0.0
        self.decided = self.delivered = 0

    def start_step(self, weight: float) -> None:
        self.percent = weight
        self.decided = self.delivered = 0

    def tick(self, rng: np.random.Generator) -> None:
        n = int(rng.poisson(self.lam * self.percent / 100))
        self.decided += n
        self.delivered += int(rng.binomial(n, self.p))
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        share = self.step_share()  # every count by the step range's share
        return ms.DeliveryRateMeasurement(delivered=observed(self.delivered, share),
                                          decided=observed(self.decided, share))


class DeliverySim(CampaignSim):
    def fixed_n(self, sc: Scenario) -> float:
        floor = self.gate["min"]
        return math.nan if sc.effect == floor else n_one_sample(floor, sc.effect)

    def cap(self) -> float:
        # minSamples counts each step's own decisions: a small N must not end the ramp first.
        return max(super().cap(), 2.0 * len(WEIGHTS) * float(self.gate.get("minSamples", 100)))

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return DeliveryRun(self, sc)


class ConversionRun(Run):
    """Treated and holdout units and in-window conversions; ``complete`` the share of expected
    outcomes reported (late outcomes are the runtime's own counter: never in these counts)."""

    def __init__(self, sim: GateSim, sc: Scenario, roi: bool) -> None:
        self.lam, self.delta, self.roi = sim.per_look(sc), sc.effect, roi
        self.complete = 0.8 if "incomplete" in sc.name else 1.0
        self.percent = 0.0
        self.counts = np.zeros(4, dtype=np.int64)  # treated units, conv, holdout units, conv

    def start_step(self, weight: float) -> None:
        self.percent = weight
        self.counts[:] = 0

    def tick(self, rng: np.random.Generator) -> None:
        n = int(rng.poisson(self.lam * self.percent / 100))
        n_h = int(rng.binomial(n, CAMPAIGN_H))
        n_t = n - n_h
        self.counts += (n_t, rng.binomial(n_t, CAMPAIGN_BASE + self.delta), n_h,
                        rng.binomial(n_h, CAMPAIGN_BASE))
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        share = self.step_share()  # the cohorts' counts as observed (spend: per decision)
        t, ct, h, ch = (observed(x, share) for x in self.counts)
        arms = ms.CampaignArms(ms.ArmCounts(t, ct), ms.ArmCounts(h, ch))
        expected = t + h
        done = ms.OutcomeCompleteness(expected=expected, received=round(expected * self.complete))
        # ``promotes``: the exposure's last step, whose Pass completes the ramp (set by
        # simulate_campaign from ``exposure.completes``); older measurements lack the field.
        last: dict[str, Any] = (
            {"completes": self.promotes} if has_field(ms.RoiMeasurement, "completes") else {})
        tolerance = split_tolerance()  # --split-tolerance: spec.exposure.splitTolerance here
        if tolerance is not None:
            last["split_tolerance"] = tolerance
        if self.roi:
            return ms.RoiMeasurement(arms=arms, holdout_fraction=CAMPAIGN_H,
                                     value_per_conversion=ROI_VALUE, spend=ROI_COST * t,
                                     completeness=done, **last)
        return ms.IncrementalConversionsMeasurement(arms=arms, holdout_fraction=CAMPAIGN_H,
                                                    completeness=done, **last)


class IncrementalSim(CampaignSim):
    threshold = 0.0

    def fixed_n(self, sc: Scenario) -> float:
        distance = abs(sc.effect - self.threshold)
        return math.nan if distance == 0 or sc.right == "hold" else n_holdout_design(sc.effect, distance)

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return ConversionRun(self, sc, roi=False)

    def notes(self) -> list[str]:
        tuned = self.gate.get("expectedSamples")
        return [f"{self.key}: expectedSamples {tuned:,} (the mixture tuned there, not at the "
                "operator's 20,000)"] if tuned else []


class RoiSim(IncrementalSim):
    threshold = ROI_COST / ROI_VALUE  # ROI = 0 at Δ = cost / value

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return ConversionRun(self, sc, roi=True)

    def notes(self) -> list[str]:
        return [f"roi truth: value {ROI_VALUE:g} per conversion, cost {ROI_COST:g} per treated-arm "
                f"unit, holdout conversion {CAMPAIGN_BASE:g}: ROI = {ROI_VALUE:g}·Δ/{ROI_COST:g} − 1, "
                "0 at Δ = 0.01", *super().notes()]


BUDGET_PER_LOOK = 2000.0  # exposed units per look at 100 %


class BudgetRun(Run):
    def __init__(self, sim: GateSim, sc: Scenario, budget: float) -> None:
        self.budget, self.percent, self.spend = budget, 0.0, 0.0

    def start_step(self, weight: float) -> None:
        self.percent = weight  # the period's spend: no reset at a step

    def tick(self, rng: np.random.Generator) -> None:
        n = int(rng.poisson(BUDGET_PER_LOOK * self.percent / 100))
        self.spend += ROI_COST * int(rng.binomial(n, 1 - CAMPAIGN_H))
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        return ms.BudgetMeasurement(spend=self.spend, budget=self.budget, period_start=T0,
                                    period_end=T0 + dt.timedelta(days=7))


class BudgetSim(CampaignSim):
    def budget_of(self, sc: Scenario) -> float:
        # The spend of a clean ramp (3 looks at each step) times the scenario's effect.
        return sc.effect * ROI_COST * (1 - CAMPAIGN_H) * BUDGET_PER_LOOK * PAUSE_LOOKS * sum(WEIGHTS) / 100

    def fixed_n(self, sc: Scenario) -> float:
        return math.nan

    def per_look(self, sc: Scenario) -> float:
        return BUDGET_PER_LOOK

    def floor(self, sc: Scenario) -> float:
        return PAUSE_LOOKS * sum(WEIGHTS) / 100 * BUDGET_PER_LOOK

    def cap(self) -> float:
        return math.inf

    def max_looks(self) -> int:
        return 30

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> Run:
        return BudgetRun(self, sc, self.budget_of(sc))

    def notes(self) -> list[str]:
        return ["budget: spend 0.1 per treated-arm unit, 2,000 exposed units per look at 100 %; "
                "'under budget' has 3 × a clean ramp's spend, 'exhausted' 0.3 ×; a budget Fail "
                "must suspend (hold exposure), never roll back"]


def campaign_expected_samples() -> dict[str, int]:
    """``--campaign-expected-samples``: the incremental gates' ``expectedSamples`` (the units
    their mixture is tuned to; unset, the operator's 20,000), passed to the workers through the
    environment as the other options are."""
    value = os.environ.get("GATE_BENCH_CAMPAIGN_EXPECTED_SAMPLES", "")
    return {"expectedSamples": int(value)} if value else {}


def campaign_sims() -> dict[str, GateSim]:
    tuned = campaign_expected_samples()
    return {
        "deliveryRate": DeliverySim(
            "deliveryRate", {"name": "delivery", "type": "deliveryRate", "min": 0.95},
            (Scenario("above (0.98)", "promote", 0.98),
             Scenario("at the bound (0.95)", "hold", 0.95),
             Scenario("below (0.90)", "rollback", 0.90),
             Scenario("50 %", "rollback", 0.50)), "decisions"),
        "incrementalConversions": IncrementalSim(
            "incrementalConversions", {"name": "incremental", "type": "incrementalConversions",
                                       **tuned},
            (Scenario("positive (+1 pp)", "promote", 0.01),
             Scenario("zero effect", "hold", 0.0),
             Scenario("negative (−1 pp)", "rollback", -0.01),
             Scenario("incomplete outcomes (80 %, +1 pp)", "hold", 0.01)), "exposed units"),
        "roi": RoiSim(
            "roi", {"name": "roi", "type": "roi", "min": 0.0, **tuned},
            (Scenario("ROI +1", "promote", 0.02),
             Scenario("at the bound (ROI 0)", "hold", ROI_COST / ROI_VALUE),
             Scenario("ROI −1 (no effect)", "rollback", 0.0)), "exposed units"),
        "budget": BudgetSim(
            "budget", {"name": "budget", "type": "budget"},
            (Scenario("under budget", "promote", 3.0),
             Scenario("exhausted mid-ramp", "hold", 0.3)), "exposed units"),
    }


def is_campaign(sim: GateSim) -> bool:
    return isinstance(sim, CampaignSim)


def simulate_campaign(sim: CampaignSim, sc: Scenario, rng: np.random.Generator) -> RunResult:
    """One campaign from its first step to a completed ramp, a rollback or the cap; ``flagged``
    is a budget suspension (a Fail that must not roll back) or, in an SRM scenario, a hold on the
    holdout's sample-ratio check (``srm_hold``) before the ramp completed."""
    spec = sim.spec(sc)
    model = exposure.ModelObservation("bench", True, "1", serving=True, why="serves version 1")
    now = T0
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(model=model, generation=1),
                             now).status
    if status.current_step != 0:
        raise RuntimeError(f"the first decide did not start the exposure: {status.message}")
    run = sim.new_run(sc, rng)
    run.start_step(status.exposure_percent)
    run.stepped()
    run.promotes = completes(spec, status)
    step: int | None = status.current_step
    suspended, errored, cap, look, first_pass = False, False, sim.cap(), 0, math.inf
    design = math.nan
    for look in range(1, sim.max_looks() + 1):
        now += INTERVAL
        run.tick(rng)
        run.ticked()
        outcomes = None
        if exposure.analysis_due(spec, status, now):  # as services/campaign.py's pass does
            previous = {g.name: g for g in status.gates}
            outcomes = []
            # as services/campaign.py: the gates of this status, each its memory if gathered
            # under its current settings
            for g in exposure.gates_to_measure(spec, status):
                outcome = gates_mod.evaluate_gate(g, run.measure(),
                                                  gates_mod.memory_of(previous.get(g.name), g),
                                                  now)
                suspended = suspended or outcome.suspension is not None
                errored = errored or (sc.srm and srm_hold(outcome))
                outcomes.append(outcome)
            first_pass = _first_pass(first_pass, outcomes, run.canary_total)
            if status.current_step == 0:
                design = _design(design, outcomes)
        status = exposure.decide(spec, status, exposure.Observed(
            model=model, gate_outcomes=outcomes, generation=1), now).status
        flagged = suspended or errored
        if status.rolled_back_generation is not None:
            return RunResult(-1, run.canary_total, flagged, look, first_pass, design)
        if status.current_step is None and status.exposure_percent > 0:
            return RunResult(1, run.canary_total, flagged, look, first_pass, design)
        if status.current_step != step:
            step = status.current_step
            run.start_step(status.exposure_percent)
            run.stepped()
            run.promotes = completes(spec, status)
        if run.canary_total >= cap:
            break
    return RunResult(0, math.inf, suspended or errored, look, first_pass, design)


# ---------------------------------------------------------------------------------------------
# The table of gates


def _comparative(m: float) -> tuple[Scenario, ...]:
    return (Scenario("null", "promote", 1.0), Scenario("margin", "rollback", 1 + m),
            Scenario("2x margin", "rollback", 1 + 2 * m), Scenario("better", "promote", 1 - m),
            Scenario("SRM", "hold", 1.0, srm=True))


def gate_sims() -> dict[str, GateSim]:
    oe_margin = 0.005
    qini_margin = float(os.environ.get("GATE_BENCH_QINI_MARGIN", QINI_MARGIN_DEFAULT))
    sanity_band = float(os.environ.get("GATE_BENCH_SANITY_BAND", SANITY_BAND_DEFAULT))
    return {
        "errorRate": ErrorRateSim(
            "errorRate", {"name": "errors", "type": "errorRate", "margin": 0.2,
                          "marginType": "relative"}, _comparative(0.2), "requests"),
        "onlineEffect": OnlineEffectSim(
            "onlineEffect", {"name": "online-effect", "type": "onlineEffect", "margin": oe_margin},
            (Scenario("null", "promote", 0.0), Scenario("margin", "rollback", -oe_margin),
             Scenario("2x margin", "rollback", -2 * oe_margin),
             Scenario("better", "promote", oe_margin),
             Scenario("SRM", "hold", 0.0, srm=True, note="holdout 52/48 on a 50/50 design")),
            "units", {"holdoutFraction": 0.1}),
        "latency": LatencySim(
            "latency", {"name": "latency", "type": "latency", "margin": 0.2,
                        "marginType": "relative"}, _comparative(0.2), "requests"),
        "drift": DriftSim(
            "drift", {"name": "drift", "type": "drift"},
            (Scenario("null", "promote", 0.0, note="7 features, one with a 2 % bin"),
             Scenario("margin", "hold", 0.1), Scenario("2x margin", "rollback", 0.2)),
            "live rows"),
        "upliftSanity": SanitySim(
            "upliftSanity", {"name": "score-sanity", "type": "upliftSanity",
                             "min": -sanity_band, "max": sanity_band},
            (Scenario("null", "promote", 0.0), Scenario("margin", "hold", sanity_band),
             Scenario("2x margin", "rollback", 2 * sanity_band),
             Scenario("margin, live sd 2x", "hold", sanity_band, spread=2.0,
                      note="predictions spread twice as wide as in training")), "requests"),
        "qini": QiniSim(
            "qini", {"name": "qini", "type": "qini", "margin": qini_margin},
            (Scenario("null", "promote", 1.0), Scenario("margin", "rollback", 1 - qini_margin),
             Scenario("2x margin", "rollback", 1 - 2 * qini_margin),
             Scenario("better", "promote", 1 + qini_margin)),
            "evaluation rows"),
        **campaign_sims(),
    }


# ---------------------------------------------------------------------------------------------
# Driving the operator's entry points


@dataclass(frozen=True)
class RunResult:
    decision: int  # +1 promoted, −1 rolled back, 0 undecided
    samples: float  # canary samples at the decision (inf when undecided)
    flagged: bool  # a sample-ratio hold (``srm_hold``) before any promotion
    looks: int
    # Canary samples at the first analysis whose every verdict was Pass (inf: none): the gate's
    # own samples to its evidence, before the ramp's remaining pauses (``first_pass_note``).
    first_pass: float = math.inf
    # The gate's status.gates[].designSamples at the first step's last analysis (NaN: none).
    design: float = math.nan


def spec_of(sim: GateSim, sc: Scenario) -> UpliftModelSpec:
    return UpliftModelSpec.model_validate({
        "model": {"registeredModel": "bench", "version": "2"},
        "treatments": [{"name": TREATMENT}],
        "experiment": sim.experiment_of(sc),
        "rollout": {"steps": [{"weight": w, "pause": PAUSE} for w in WEIGHTS],
                    "analysisInterval": "1m", "gates": [sim.gate]},
    })


def simulate(sim: GateSim, sc: Scenario, rng: np.random.Generator) -> RunResult:
    """One canary from start to promotion, rollback or the cap, one ``decide`` per interval."""
    if isinstance(sim, CampaignSim):
        return simulate_campaign(sim, sc, rng)
    spec = spec_of(sim, sc)
    gate = spec.rollout.gates[0]
    cap = sim.cap()
    now = T0
    decision = ramp.decide(spec, UpliftModelStatus(stable_version="1", desired_version="2"),
                           _observed(None), now)
    status = decision.status
    if status.canary_version != "2":
        raise RuntimeError(f"the first decide did not start the canary: {status.message}")
    run = sim.new_run(sc, rng)
    run.start_step(status.canary_weight)
    run.stepped()
    run.promotes = on_last_step(spec, status)
    step, flagged = (status.current_step, status.canary_weight), False
    offline = gate.type in OFFLINE_GATE_TYPES
    look, first_pass, design = 0, math.inf, math.nan
    for look in range(1, sim.max_looks() + 1):
        now += INTERVAL
        run.tick(rng)
        run.ticked()
        outcomes = None
        if ramp.analysis_due(spec, status, now):  # as services/upliftmodel.py's pass does
            previous = {g.name: g for g in status.gates}
            outcomes = []
            for g in gates_to_measure(spec, status):
                # as services/upliftmodel.py: the memory only if gathered under g's settings
                outcome = gates_mod.evaluate_gate(g, run.measure(),
                                                  gates_mod.memory_of(previous.get(g.name), g),
                                                  now)
                flagged = flagged or srm_hold(outcome)
                outcomes.append(outcome)
            first_pass = _first_pass(first_pass, outcomes, run.canary_total)
            if status.current_step == 0:
                design = _design(design, outcomes)
        status = ramp.decide(spec, status, _observed(outcomes), now).status
        if status.stable_version == "2" or (offline and status.canary_weight > 0):
            # An offline gate decides once, before traffic: the traffic starting is its pass.
            return RunResult(1, run.canary_total, flagged, look, first_pass, design)
        if status.canary_version is None:
            return RunResult(-1, run.canary_total, flagged, look, first_pass, design)
        if (status.current_step, status.canary_weight) != step:
            step = (status.current_step, status.canary_weight)
            run.start_step(status.canary_weight)
            run.stepped()
            run.promotes = on_last_step(spec, status)
        if run.canary_total >= cap:
            break
    return RunResult(0, math.inf, flagged, look, first_pass, design)


def _first_pass(first: float, outcomes: Sequence[Any], samples: float) -> float:
    """``samples`` if this analysis is the first whose every verdict is Pass, else ``first``."""
    if math.isfinite(first) or not outcomes:
        return first
    return samples if all(o.verdict is GateVerdict.PASS for o in outcomes) else first


def _design(design: float, outcomes: Sequence[gates_mod.GateOutcome]) -> float:
    """The first outcome's ``design_samples`` (status.gates[].designSamples), else ``design``."""
    found = next((o.design_samples for o in outcomes if o.design_samples), None)
    return design if found is None else float(found)


def srm_hold(outcome: gates_mod.GateOutcome) -> bool:
    """Whether ``outcome`` holds on a sample-ratio check (a mismatch, or the re-check after one),
    as the step machine tells it (``SampleRatioMismatch``): an Error that holds with the SRM
    words. Not any Error: an invalid measurement, or a source that cannot be read, is no SRM.
    ``GateOutcome.holds`` alone does not tell it (a source that cannot be read holds too) and an
    outcome has no structured kind, so the words are the step machine's own (``_SRM_WORDS``)."""
    return (outcome.verdict is GateVerdict.ERROR and outcome.holds
            and _SRM_WORDS in outcome.message)


def _observed(outcomes: Sequence[gates_mod.GateOutcome] | None) -> ramp.Observed:
    return ramp.Observed(desired_version="2", stable_ready=True, canary_ready=True,
                         gate_outcomes=outcomes, generation=1)


def _seed(gate: str, scenario: str, run: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(gate.encode()), zlib.crc32(scenario.encode()), run])


#: The operator's own share (``--online-effect-tuning`` unset), kept to restore it.
_OPERATOR_MIXTURE_AT = gates_mod._MIXTURE_AT


Population = tuple[tuple[tuple[float, int, int], float], ...]


def _task(args: tuple[str, int, int, int, Population]) -> tuple[list[RunResult], float]:
    key, index, start, count, population = args
    _POPULATION.update(population)
    # --online-effect-tuning sweeps the operator's default; set in each worker, whatever the
    # start method, and back to the operator's when unset (one process may run several).
    tuning = os.environ.get("GATE_BENCH_ONLINE_EFFECT_TUNING", "")
    gates_mod._MIXTURE_AT = float(tuning) if tuning else _OPERATOR_MIXTURE_AT
    started = time.process_time()
    sim = gate_sims()[key]
    sc = sim.scenarios[index]
    results = [simulate(sim, sc, _seed(key, sc.name, r)) for r in range(start, start + count)]
    return results, time.process_time() - started


def _pilot_task(args: tuple[int, int, Population]) -> float:
    """One of a qini scenario's pilot variances (``_pilot_se``), in a worker."""
    index, k, population = args
    _POPULATION.update(population)
    sim = cast(QiniSim, gate_sims()["qini"])
    return _pilot_variance(sim, sim.scenarios[index], k)


# ---------------------------------------------------------------------------------------------
# Naive baseline: a fixed-horizon one-sided z-test at every look on all the canary's data


def naive_peeking(key: str, sc: Scenario, runs: int, looks: int = 40) -> tuple[float, float]:
    """(promotion rate, rollback rate) of the peeking z-test (promote when non-inferiority is
    significant, roll back when harm beyond zero is), same traffic and ramp weights, no pauses."""
    sim = gate_sims()[key]
    rng = _seed(key + "/naive", sc.name, 0)
    lam = sim.per_look(sc)
    weights = np.repeat(np.array(WEIGHTS) / 100, [5, 5, looks - 10])
    share = weights * (SRM_FACTOR if sc.srm and key == "errorRate" else 1.0)
    z = stats.norm.ppf(1 - ALPHA)
    if key == "errorRate":
        n_c = rng.poisson(lam * share, size=(runs, looks)).cumsum(1)
        n_s = rng.poisson(lam * (1 - share), size=(runs, looks)).cumsum(1)
        p_c = ERR_BASE * (1.0 if sc.srm else sc.effect)
        e_c = rng.binomial(np.diff(n_c, prepend=0), p_c).cumsum(1)
        e_s = rng.binomial(np.diff(n_s, prepend=0), ERR_BASE).cumsum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_r = np.log(np.maximum(e_c, 0.5) / n_c) - np.log(np.maximum(e_s, 0.5) / n_s)
            se = np.sqrt(1 / np.maximum(e_c, 0.5) + 1 / np.maximum(e_s, 0.5))
        promote = (log_r - math.log(1 + sim.gate["margin"])) / se < -z
        rollback = log_r / se > z
    else:
        h = 0.1
        dn_c = rng.poisson(lam * weights * (1 - h), size=(runs, looks))
        dn_s = rng.poisson(lam * (1 - weights) * (1 - h), size=(runs, looks))
        n_c, n_s = dn_c.cumsum(1), dn_s.cumsum(1)
        p_c = OE_TREATED_P + (0.0 if sc.srm else sc.effect)
        # conversions drawn per interval and summed: one canary's data growing look by look
        c_c = rng.binomial(dn_c, p_c).cumsum(1) / np.maximum(n_c, 1)
        c_s = rng.binomial(dn_s, OE_TREATED_P).cumsum(1) / np.maximum(n_s, 1)
        se = np.sqrt(c_c * (1 - c_c) / np.maximum(n_c, 1) + c_s * (1 - c_s) / np.maximum(n_s, 1))
        diff = c_c - c_s
        promote = (diff + sim.gate["margin"]) / se > z
        rollback = diff / se < -z
    first_p = np.where(promote.any(1), promote.argmax(1), looks)
    first_r = np.where(rollback.any(1), rollback.argmax(1), looks)
    return float(np.mean(first_p < first_r)), float(np.mean(first_r < first_p))


# ---------------------------------------------------------------------------------------------
# Report


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values``: the ⌈q·n⌉-th smallest (inf counts as any value)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    return float(ordered[min(max(math.ceil(q * len(ordered)) - 1, 0), len(ordered) - 1)])


@dataclass(frozen=True)
class Row:
    gate: str
    scenario: Scenario
    unit: str
    fixed_n: float
    floor: float
    results: tuple[RunResult, ...]
    cpu_seconds: float

    @property
    def runs(self) -> int:
        return len(self.results)

    def count(self, decision: int) -> int:
        return sum(r.decision == decision for r in self.results)

    def quantile(self, q: float, first_pass: bool = False) -> float:
        """The ``q`` quantile of samples to decision (or to the first Pass), inf for none."""
        return quantile([r.first_pass if first_pass else r.samples for r in self.results], q)

    def undecided(self) -> float:
        """The share of runs the cap ended undecided: the horizon a rate was measured over."""
        return self.count(0) / self.runs if self.runs else math.nan

    def design(self) -> float:
        """The median of the runs' status designSamples at the first step (NaN: none)."""
        found = [r.design for r in self.results if math.isfinite(r.design)]
        return quantile(found, 0.5) if found else math.nan

    def power(self) -> tuple[float, float, float] | None:
        want = {"promote": 1, "rollback": -1}.get(self.scenario.right)
        if want is None or math.isnan(self.fixed_n):
            return None
        k = sum(r.decision == want and r.samples <= POWER_WITHIN * self.fixed_n for r in self.results)
        return wilson(k, self.runs)

    def false_promotion(self) -> tuple[float, float, float] | None:
        if self.scenario.right == "promote":
            return None
        return wilson(self.count(1), self.runs)

    def false_rollback(self) -> tuple[float, float, float] | None:
        if self.scenario.right == "rollback":
            return None
        return wilson(self.count(-1), self.runs)

    def srm_flagged(self) -> tuple[float, float, float] | None:
        if not self.scenario.srm:
            return None
        return wilson(sum(r.flagged for r in self.results), self.runs)


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


Interval = tuple[float, float, float]


def _rate(ci: Interval | None, ok: Callable[[Interval], bool] | None = None,
          undecided: float = 0.0) -> str:
    """A rate with its interval and mark; ``undecided`` (> 0): the share of runs the cap ended
    undecided beside it, the horizon the rate was measured over."""
    if ci is None:
        return "—"
    text = f"{ci[0]:.3f} [{ci[1]:.3f}, {ci[2]:.3f}]"
    text = f"{text} {_mark(ok(ci))}" if ok else text
    return f"{text} ({undecided:.2f} undecided)" if undecided > 0 else text


def _ratio(x: float, n: float, target: float | None) -> str:
    if math.isnan(n):
        return "—" if math.isinf(x) else f"{x:,.0f}"
    if math.isinf(x):
        return "∞" + (f" {_mark(False)}" if target else "")
    r = x / n
    return f"{r:.2f}" + (f" {_mark(r <= target)}" if target else "")


def _fmt_n(n: float) -> str:
    return "—" if math.isnan(n) else f"{n:,.0f}"


def table(rows: Sequence[Row], campaign: bool = False) -> str:
    """The report's table; ``campaign``: the exposure ramp's words (a completed ramp is a pass,
    a rollback a fail; the last column counts budget suspensions, which must never roll back)."""
    passed, failed = ("ramp completed", "rolled back") if campaign else ("promoted", "rolled back")
    wrong_pass, wrong_fail = (("false pass", "false fail") if campaign
                              else ("false promotion", "false rollback"))
    last = ("budget: suspended (never rolled back)" if campaign
            else f"SRM flagged before promotion (≥ {TARGET_SRM})")
    head = (f"| gate | scenario | runs | {passed} | {failed} | undecided | {wrong_pass} "
            f"(≤ {TARGET_FALSE_PROMOTION}, upper ≤ {TARGET_FALSE_PROMOTION_UPPER}) | {wrong_fail} "
            f"(≤ {TARGET_FALSE_ROLLBACK}) | power within {POWER_WITHIN:g}×N (≥ {TARGET_POWER} at 2x) | "
            f"1:1 N (fixed-horizon, per arm) | designSamples at step 1 (median) | "
            f"ramp floor/N | median/N (≤ {TARGET_MEDIAN}) | p90/N (≤ {TARGET_P90}) | "
            f"{last} |")
    lines = [head, "|" + "---|" * 15]
    for row in rows:
        sc = row.scenario
        judged = (sc.name in ("null", "2x margin", "better")
                  or (campaign and sc.right != "hold" and not math.isnan(row.fixed_n)))
        power = row.power()
        undecided = row.undecided()
        power_ok = ((lambda ci: ci[0] >= TARGET_POWER)
                    if sc.name == "2x margin" or (campaign and sc.right == "rollback") else None)
        fp_ok = ((lambda ci: ci[0] <= TARGET_FALSE_PROMOTION and ci[2] <= TARGET_FALSE_PROMOTION_UPPER)
                 if sc.right != "promote" else None)
        extra = (_rate(wilson(sum(r.flagged for r in row.results), row.runs))
                 if campaign and row.gate == "budget" else _rate(row.srm_flagged(),
                                                                 lambda ci: ci[0] >= TARGET_SRM))
        lines.append(
            f"| {row.gate} | {sc.name}{' (' + sc.note + ')' if sc.note else ''} | {row.runs} | "
            f"{row.count(1)} | {row.count(-1)} | {row.count(0)} | "
            f"{_rate(row.false_promotion(), fp_ok, undecided)} | "
            f"{_rate(row.false_rollback(), lambda ci: ci[0] <= TARGET_FALSE_ROLLBACK, undecided)} | "
            f"{_rate(power, power_ok, undecided)} | {_fmt_n(row.fixed_n)} {row.unit} | "
            f"{_fmt_n(row.design())} | "
            f"{_ratio(row.floor, row.fixed_n, None) if not math.isnan(row.floor) else '—'} | "
            f"{_ratio(row.quantile(0.5), row.fixed_n, TARGET_MEDIAN if judged else None)} | "
            f"{_ratio(row.quantile(0.9), row.fixed_n, TARGET_P90 if judged else None)} | "
            f"{extra} |")
    return "\n".join(lines)


def run_bench(keys: Sequence[str], runs: int, jobs: int,
              scenarios: Sequence[str] | None = None) -> list[Row]:
    sims = gate_sims()
    tasks: list[tuple[str, int, int, int, Population]] = []
    chunk = max(1, math.ceil(runs / max(jobs * 2, 1)))
    for key in keys:
        for index, sc in enumerate(sims[key].scenarios):
            if scenarios and sc.name not in scenarios:
                continue
            for start in range(0, runs, chunk):
                tasks.append((key, index, start, min(chunk, runs - start), ()))
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            pilots: dict[int, list[Future[float]]] = {}
            if any(t[0] == "qini" for t in tasks):
                # qini's population grid once, over the workers, for every task; then its
                # pilots (the rows' N) alongside the runs rather than after them, in here.
                noises = _population_noises()
                _POPULATION.update(zip(((s, 200_000, 11) for s in noises),
                                       pool.map(_population_qini, noises), strict=True))
                population = tuple(_POPULATION.items())
                tasks = [(*t[:4], population if t[0] == "qini" else ()) for t in tasks]
                for index in sorted({t[1] for t in tasks if t[0] == "qini"}):
                    pilots[index] = [pool.submit(_pilot_task, (index, k, population))
                                     for k in range(QINI_PILOT_RUNS)]
            done = list(pool.map(_task, tasks))
            qini = sims.get("qini")
            for index, futures in pilots.items():
                assert isinstance(qini, QiniSim)
                sc = qini.scenarios[index]
                _PILOT_SE[(sc.effect, qini_rows())] = float(np.sqrt(np.mean(
                    [f.result() for f in futures])))
    else:
        done = []
        for t in tasks:  # one process: report each chunk as it ends (long runs on busy machines)
            done.append(_task(t))
            results = done[-1][0]
            print(f"[{time.strftime('%H:%M:%S')}] {t[0]} {sims[t[0]].scenarios[t[1]].name}: runs "
                  f"{t[2]}–{t[2] + t[3] - 1} promoted {sum(r.decision == 1 for r in results)}, "
                  f"rolled back {sum(r.decision == -1 for r in results)}", file=sys.stderr, flush=True)
    collected: dict[tuple[str, int], list[RunResult]] = {}
    cpu: dict[tuple[str, int], float] = {}
    for task, (results, seconds) in zip(tasks, done, strict=True):
        key_index = (task[0], task[1])
        collected.setdefault(key_index, []).extend(results)
        cpu[key_index] = cpu.get(key_index, 0.0) + seconds
    rows = []
    for key in keys:
        sim = sims[key]
        for index, sc in enumerate(sim.scenarios):
            if (key, index) not in collected:
                continue
            rows.append(Row(key, sc, sim.unit, sim.fixed_n(sc), sim.floor(sc),
                            tuple(collected[(key, index)]), cpu[(key, index)]))
    return rows


def first_pass_note(row: Row) -> str | None:
    """For a row whose right decision is a promotion: the samples at the gate's first Pass
    against those at the promotion. Every step lasts at least its pause (from its start) and
    needs a Pass of its own, so a Pass shown at a low step still waits out the later steps'
    pauses: the difference is the ramp's, not the test's."""
    if row.scenario.right != "promote" or not math.isfinite(row.fixed_n) or row.fixed_n <= 0:
        return None
    n = row.fixed_n
    return (f"{row.gate} {row.scenario.name}: first Pass at median "
            f"{row.quantile(0.5, first_pass=True) / n:.2f} × N (p90 "
            f"{row.quantile(0.9, first_pass=True) / n:.2f}), decided at median "
            f"{row.quantile(0.5) / n:.2f} × N (p90 {row.quantile(0.9) / n:.2f})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=100, help="runs per (gate, scenario)")
    parser.add_argument("--quick", action="store_true", help="20 runs per row (a smoke run)")
    parser.add_argument("--gates", default=",".join(gate_sims()), help="comma-separated gate types")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated scenario names (default: all), e.g. 'null,margin'")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-naive", action="store_true", help="skip the peeking z-test baseline")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    parser.add_argument("--qini-rows", type=int, default=QINI_ROWS_DEFAULT,
                        help="rows per qini evaluation set (the design N of equal models at "
                             "the default margin is ≈ 143,000)")
    parser.add_argument("--qini-margin", type=float, default=QINI_MARGIN_DEFAULT,
                        help="the qini gate's relative margin; the scenarios follow it (canary "
                             "Qini 1, 1 − m, 1 − 2m, 1 + m × the stable's; m ≤ 0.3)")
    parser.add_argument("--sanity-band", type=float, default=SANITY_BAND_DEFAULT,
                        help="upliftSanity's band [−b, b] in training standard deviations; the "
                             "scenarios sit at 0, b and 2b (the API's default band, 1, needs "
                             "≈ 6 requests: minSamples and the pauses would be all it measures)")
    parser.add_argument("--split-tolerance", type=float, default=None,
                        help="spec.rollout.splitTolerance, and a Campaign's "
                             "spec.exposure.splitTolerance (default: the API's, 0.04; 0 turns "
                             "off the promotion's wait for a split shown within it)")
    parser.add_argument("--scrape-interval", type=float, default=SCRAPE_INTERVAL,
                        help="seconds between Prometheus scrapes: every count a gate reads is "
                             "scaled as the collector scales it (observed_share; default: the "
                             "operator's --prometheus-scrape-interval, 30; 0: unscaled)")
    parser.add_argument("--online-effect-tuning", type=float, default=None,
                        help="onlineEffect without expectedSamples: tune its mixture at this "
                             "share of the fixed-horizon N instead of the operator's (0.5)")
    parser.add_argument("--campaign-expected-samples", type=int, default=None,
                        help="incrementalConversions and roi: expectedSamples, the exposed units "
                             "their mixture is tuned to (default: unset, the operator's 20,000)")
    args = parser.parse_args(argv)
    os.environ["GATE_BENCH_CAMPAIGN_EXPECTED_SAMPLES"] = (
        "" if args.campaign_expected_samples is None else str(args.campaign_expected_samples))
    os.environ["GATE_BENCH_ONLINE_EFFECT_TUNING"] = ("" if args.online_effect_tuning is None
                                                     else str(args.online_effect_tuning))
    os.environ["GATE_BENCH_QINI_ROWS"] = str(args.qini_rows)
    os.environ["GATE_BENCH_SPLIT_TOLERANCE"] = ("" if args.split_tolerance is None
                                                else str(args.split_tolerance))
    os.environ["GATE_BENCH_QINI_MARGIN"] = str(args.qini_margin)
    os.environ["GATE_BENCH_SCRAPE_INTERVAL"] = str(args.scrape_interval)
    os.environ["GATE_BENCH_SANITY_BAND"] = str(args.sanity_band)
    runs = 20 if args.quick else args.runs
    keys = [k.strip() for k in args.gates.split(",") if k.strip()]
    unknown = set(keys) - set(gate_sims())
    if unknown:
        parser.error(f"unknown gate types: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    chosen = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    rows = run_bench(keys, runs, args.jobs, chosen)
    campaign = set(campaign_sims())
    model_rows = [r for r in rows if r.gate not in campaign]
    campaign_rows = [r for r in rows if r.gate in campaign]
    report = [f"Gate decisions through evaluate_gate + ramp.decide / exposure.decide, {runs} runs "
              f"per row, steps {' → '.join(f'{w} %' for w in WEIGHTS)} (pause {PAUSE}, a look per "
              f"1m), α = {ALPHA}, counts scaled to {scrape_interval():g} s scrapes "
              "(observed_share).", ""]
    if model_rows:
        report += ["UpliftModel (canary weight):", "", table(model_rows), ""]
    if campaign_rows:
        report += ["Campaign (exposure percent):", "", table(campaign_rows, campaign=True), ""]
    notes = [n for key in keys for n in gate_sims()[key].notes()]
    if "qini" in keys:
        notes.append(f"qini replicates vs stats.uplift: max |difference| {cross_check_qini():.2e}")
    if not args.no_naive:
        for key in ("errorRate", "onlineEffect"):
            if key in keys:
                for sc in gate_sims()[key].scenarios:
                    if sc.name in ("null", "margin", "2x margin") and (not chosen or sc.name in chosen):
                        p, r = naive_peeking(key, sc, max(runs, 200))
                        notes.append(f"naive peeking z-test, {key} {sc.name}: promoted {p:.3f}, "
                                     f"rolled back {r:.3f}")
    notes += [note for row in rows if (note := first_pass_note(row)) is not None]
    cpu: dict[str, float] = {}
    for row in rows:
        cpu[row.gate] = cpu.get(row.gate, 0.0) + row.cpu_seconds
    notes.append("CPU seconds per gate: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()))
    report += [f"- {n}" for n in notes]
    used = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    report.append(f"\nelapsed {time.perf_counter() - started:.1f} s on {args.jobs} process(es), "
                  f"{sum(u.ru_utime + u.ru_stime for u in used):.0f} CPU-s in all (imports, "
                  "the naive baseline and qini's population grid and pilots included)")
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
