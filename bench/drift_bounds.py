"""Drift's statistics alone (no ramp): rows until the drift gate's tests decide.

Usage (from the repo root; fixed seeds, one core: about a minute, 2 more with ``--general``)::

    .venv/bin/python bench/drift_bounds.py [--paths 200] [--general] [--out FILE.md]

Independent rows, a look every 20 of them, the reference histogram of 50,000 training rows
taken as known, bound (``max``) 0.1, α = 0.05 (docs/statistics.md §5):

* **Fail** — one 10-bin feature (uniform reference) tilted along its bins to PSI = 0.2 (twice
  the bound), tested at α/7 as the gate does for seven features: the χ² confidence set's lower
  bound (``psi_bounds``, its mixture tuned at ``drift_fail_samples``) against the betting
  e-process (``psi_drift_evidence``) at several stakes (fractions of the overfit-corrected
  Kelly bet, 1.0 the gate's). The same paths for every method. Also the gate's bet at PSI 0.1
  (on the bound, must not fail in more than α/7 of paths) and 0.15, and on two other shapes
  of drift at PSI 0.2: one bin's share growing (a category), and a reference with a 2 % bin
  whose rare bin grows.
* **Pass** — seven features without drift (six uniform, one with a 2 % bin): rows until every
  upper bound is below the bound, at α per feature (intersection-union) and at α/7 (Bonferroni,
  before ``de129f8``), with the upper bounds' mixture tuned at several points.

Reported: the share of paths decided within 2,000 rows (the gate bench's 3 × N for the fail
row), the median and the 90th percentile of the rows at decision (∞: not within the cap).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "operator"), str(REPO)]

from bench.gate_decisions import tilted  # noqa: E402

from uplift_operator.domain.gates import drift_design_samples, drift_fail_samples  # noqa: E402
from uplift_operator.stats.drift import (  # noqa: E402
    _BET_STAKE,
    psi_bounds,
    psi_drift_evidence,
)

FloatArray = npt.NDArray[np.float64]
ALPHA = 0.05
FEATURES = 7
BINS = 10
BOUND = 0.1
REFERENCE_ROWS = 50_000
LOOK = 20  # rows per look
WITHIN = 2_000  # rows: the gate bench's 3 × N at twice the bound


def grown(p: FloatArray, target: float, bin_: int) -> FloatArray:
    """p with bin ``bin_``'s share grown (the others shrunk in proportion) to PSI(p, q) = target."""
    lo, hi = 0.0, 0.99
    for _ in range(60):
        mid = (lo + hi) / 2
        q = p * (1.0 - mid)
        q[bin_] += mid
        lo, hi = (mid, hi) if float(np.sum((q - p) * np.log(q / p))) < target else (lo, mid)
    q = p * (1.0 - lo)
    q[bin_] += lo
    return q


UNIFORM = np.full(BINS, 1.0 / BINS)
RARE_FIRST = np.r_[0.02, np.full(BINS - 1, 0.98 / (BINS - 1))]
#: shape of drift -> (reference shares, live shares at a PSI)
SHAPES: dict[str, Callable[[float], tuple[FloatArray, FloatArray]]] = {
    "a tilt": lambda truth: (UNIFORM, tilted(UNIFORM, truth)),
    "one bin grows": lambda truth: (UNIFORM, grown(UNIFORM, truth, 3)),
    "its 2 % bin grows": lambda truth: (RARE_FIRST, grown(RARE_FIRST, truth, 0)),
}


def rows_to_fail(method: str, truth: float, seed: int, cap: int, shape: str = "a tilt") -> float:
    """Rows until the method shows PSI > BOUND on one drifted feature (∞: not within cap).

    ``method``: "set" (the χ² set's lower bound), "gate" (the bet at the gate's stake), a stake
    (a fraction of the Kelly bet), or "uncorrected S" (stake S of the Kelly bet on the gain as
    the shares show it, as before ``bda0ae9``; "uncorrected 0.5" was the gate's).
    """
    shares, live_shares = SHAPES[shape](truth)
    if method != "set":
        return bet_rows(shares, live_shares, BOUND, seed, cap, method)
    rng = np.random.default_rng(seed)
    reference = rng.multinomial(REFERENCE_ROWS, shares)
    level = ALPHA / FEATURES
    n_star = float(drift_fail_samples(BOUND, BINS, level))
    seen = np.zeros(BINS, dtype=np.int64)
    for rows in range(LOOK, cap + 1, LOOK):
        seen = seen + rng.multinomial(LOOK, live_shares)
        if psi_bounds(reference, seen, alpha=level, n_star=n_star)[1] > BOUND:
            return rows
    return math.inf


def bet_rows(shares: FloatArray, live_shares: FloatArray, bound: float, seed: int, cap: int,
             method: str = "gate") -> float:
    """Rows until the betting evidence at α/7 shows PSI > ``bound`` (∞: not within cap)."""
    rng = np.random.default_rng(seed)
    reference = rng.multinomial(REFERENCE_ROWS, shares)
    kind, _, stake = method.rpartition(" ")
    options: dict[str, Any] = {} if stake == "gate" else {"stake": float(stake)}
    if kind == "uncorrected":
        options["corrected"] = False
    # "oracle S": the bet's direction from the truth (ten million rows of it), not the rows.
    known = (np.round(live_shares * 1e7).astype(np.int64) if kind == "oracle"
             else np.zeros(shares.size, dtype=np.int64))
    seen = np.zeros(shares.size, dtype=np.int64)
    log_e = 0.0
    for rows in range(LOOK, cap + 1, LOOK):
        now = seen + rng.multinomial(LOOK, live_shares)
        log_e += psi_drift_evidence(reference, known + seen, known + now, bound, **options)
        if log_e >= math.log(FEATURES / ALPHA):
            return rows
        seen = now
    return math.inf


#: Away from the bench's case: (bins, bound, reference) — "flat" uniform, "skewed" geometric
#: from 1 to 0.05 — each tilted to twice its bound and to its bound.
GENERAL = [(5, 0.1, "flat"), (20, 0.1, "flat"), (10, 0.05, "flat"), (10, 0.25, "flat"),
           (10, 0.1, "skewed"), (30, 0.2, "skewed")]


def general_reference(bins: int, kind: str) -> FloatArray:
    """The reference shares of a ``GENERAL`` case."""
    if kind == "flat":
        return np.full(bins, 1.0 / bins)
    shares = np.geomspace(1.0, 0.05, bins)
    return cast(FloatArray, shares / shares.sum())


def rows_to_pass(level: float, n_star: float, seed: int, cap: int) -> float:
    """Rows until every feature's PSI upper bound is below BOUND (no drift anywhere)."""
    rng = np.random.default_rng(seed)
    references = [UNIFORM] * (FEATURES - 1) + [RARE_FIRST]
    counts = [rng.multinomial(REFERENCE_ROWS, p) for p in references]
    live = np.zeros((FEATURES, BINS), dtype=np.int64)
    for rows in range(LOOK, cap + 1, LOOK):
        for f, p in enumerate(references):
            live[f] += rng.multinomial(LOOK, p)
        if all(psi_bounds(counts[f], live[f], alpha=level, n_star=n_star)[2] <= BOUND
               for f in range(FEATURES)):
            return rows
    return math.inf


def _rows(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:,.0f}"


def summary(rows: list[float]) -> str:
    within = sum(r <= WITHIN for r in rows) / len(rows)
    median = float(np.median(rows))
    p90 = float(np.quantile(rows, 0.9, method="higher"))
    return f"{within:.2f} | {_rows(median)} | {_rows(p90)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--paths", type=int, default=200, help="paths per fail row")
    parser.add_argument("--pass-paths", type=int, default=None,
                        help="paths per pass row (default: --paths / 3)")
    parser.add_argument("--stakes", default="0.5,0.75",
                        help=f"fractions of the Kelly bet to compare with the gate's ({_BET_STAKE})")
    parser.add_argument("--uncorrected-stakes", default="0.5,1.0",
                        help="the same on the uncorrected gain (0.5: the gate's before bda0ae9)")
    parser.add_argument("--general", action="store_true",
                        help="also the gate's bet against the one before bda0ae9 on other bins, "
                             "bounds and references (≈ 2 more minutes)")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)
    pass_paths = args.pass_paths or max(args.paths // 3, 1)
    lines = [f"Drift's tests alone: a look per {LOOK} rows, bound {BOUND}, α = {ALPHA}, "
             f"{FEATURES} features; fixed seeds.", "",
             "| test | truth | paths | decided within 2,000 rows | median rows | p90 rows |",
             "|---|---|---|---|---|---|"]
    gate = f"Fail: betting evidence at α/7, the gate's stake ({_BET_STAKE} × Kelly)"
    fail_methods = (["set", "gate", "oracle 0.5", "oracle 1.0"]
                    + [s.strip() for s in args.stakes.split(",") if s.strip()]
                    + [f"uncorrected {s.strip()}" for s in args.uncorrected_stakes.split(",")
                       if s.strip()])
    for method in fail_methods:
        rows = [rows_to_fail(method, 0.2, seed, 6_000) for seed in range(args.paths)]
        kind, _, stake = method.rpartition(" ")
        name = ("Fail: χ² set's lower bound at α/7" if method == "set" else gate
                if method == "gate" else f"Fail: betting evidence at α/7, stake {stake} × Kelly"
                + {"uncorrected": " on the uncorrected gain",
                   "oracle": ", the truth's direction (no bet can know it)"}.get(kind, ""))
        lines.append(f"| {name} | PSI 0.2, a tilt | {args.paths} | {summary(rows)} |")
        print(lines[-1], flush=True)
    cases = [(0.2, shape) for shape in list(SHAPES)[1:]] + [(0.15, "a tilt"), (0.1, "a tilt")]
    for truth, shape in cases:
        rows = [rows_to_fail("gate", truth, seed, 4_000, shape) for seed in range(args.paths)]
        lines.append(f"| {gate} | PSI {truth}, {shape} | {args.paths} | {summary(rows)} |")
        print(lines[-1], flush=True)
    designs = [(ALPHA, drift_design_samples(BOUND, BINS, ALPHA, FEATURES), "the gate's"),
               (ALPHA, drift_design_samples(BOUND, BINS, ALPHA), "one feature's"),
               (ALPHA / FEATURES, drift_design_samples(BOUND, BINS, ALPHA / FEATURES),
                "one feature's at α/7, as before de129f8")]
    for level, n_star, what in designs:
        rows = [rows_to_pass(level, float(n_star), seed, 4_000) for seed in range(pass_paths)]
        lines.append(f"| Pass: every upper bound at {'α' if level == ALPHA else 'α/7'}, tuned "
                     f"at {n_star} rows ({what}) | no drift | {pass_paths} | {summary(rows)} |")
        print(lines[-1], flush=True)
    if args.general:
        lines += ["", "Away from the bench's case: a tilt to twice the bound (and to the bound), "
                  "α/7, a look per 20 rows.", "",
                  "| bins | reference | bound | paths | the gate's bet: median rows | before "
                  "bda0ae9 (0.5 × uncorrected Kelly) | on the bound: failed within 8,000 rows |",
                  "|---|---|---|---|---|---|---|"]
        for bins, bound, kind in GENERAL:
            shares = general_reference(bins, kind)
            cells = [[bet_rows(shares, tilted(shares, truth), bound, seed, 8_000, method)
                      for seed in range(args.paths)]
                     for truth, method in ((2 * bound, "gate"), (2 * bound, "uncorrected 0.5"),
                                           (bound, "gate"))]
            lines.append(f"| {bins} | {kind} | {bound} | {args.paths} | "
                         f"{_rows(float(np.median(cells[0])))} | "
                         f"{_rows(float(np.median(cells[1])))} | "
                         f"{sum(math.isfinite(r) for r in cells[2])} |")
            print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print()
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
