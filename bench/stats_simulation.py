"""Simulated canaries: anytime-valid gates against a naive threshold gate and a peeking z-test.

Usage (from the repo root; fixed seeds, ~1 min on 2 cores)::

    .venv/bin/python bench/stats_simulation.py [--runs 2000] [--out FILE.md]

Two canary designs, each with 2,000 simulated canaries and a look every interval:

* **conversion** (higher is better): stable p = 0.10; per interval 800 stable and 200 canary
  users; 100 looks; non-inferiority margin m = 1 pp; α = 0.05; N* = 50,000.
* **errors** (lower is better): stable error rate 1 %; per hour 4,000·c(t) stable and
  1,000·c(t) canary requests with a daily cycle c(t) = 1 + 0.8·sin(2πt/24); 96 looks; the
  canary may have at most (1 + m) = 1.2 × the stable rate; α = 0.05.

Gates compared:

* ``sequential`` — this project's ``stats`` gates (mSPRT non-inferiority pair; truncated-Beta
  rate-ratio pair), run through their vectorised kernels, and cross-checked on the first runs
  against the scalar functions the operator calls;
* ``naive threshold`` — what an Argo Rollouts / Flagger analysis does: each interval, the metric
  over that interval's window is compared with the threshold (canary ≥ stable − m; canary error
  rate ≤ 1.2 × stable); 5 failed checks roll back (Flagger's ``threshold``), else promote at the
  end; ``naive, cumulative`` is the same rule on all the data so far (a kinder variant);
* ``z-test, peeking`` — a fixed-horizon one-sided z-test at α (cumulative data) evaluated at
  every look; the first crossing decides.

Reported per scenario: promotion / rollback / undecided rates and the median canary samples at
decision. "False promotion" is promotion when the canary is exactly at the margin (worse by m, or
1.2× the errors); "false rollback" is rollback when the canary equals stable.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from uplift_operator.stats.counts import log_beta_bf_one_sided, rate_ratio_test  # noqa: E402
from uplift_operator.stats.results import ArmStats, Decision, SequentialState  # noqa: E402
from uplift_operator.stats.sequential import (  # noqa: E402
    log_mixture_lr_one_sided,
    mixing_variance,
    non_inferiority_test,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ALPHA = 0.05
Z = 1.6448536269514722  # z_{1−α}, one-sided, α = 0.05
FAIL_LIMIT = 5
METHODS = ("sequential", "naive threshold", "naive, cumulative", "z-test, peeking")

# conversion design
P_STABLE, STEP_A, STEP_B, LOOKS, MARGIN, N_STAR = 0.10, 800, 200, 100, 0.01, 50_000.0
# error design
E_RATE, REQ_A, REQ_B, HOURS, RATIO_MARGIN = 0.01, 4000, 1000, 96, 0.2


@dataclass(frozen=True)
class Outcome:
    """Per-run decision (+1 promote, −1 roll back, 0 undecided) and canary samples at decision."""

    decision: IntArray
    samples: FloatArray


def _first_crossing(
    promote: npt.NDArray[np.bool_], rollback: npt.NDArray[np.bool_], canary_n: FloatArray, promote_first: bool
) -> Outcome:
    runs, looks = promote.shape
    hit = promote | rollback
    any_hit = hit.any(axis=1)
    first = np.where(any_hit, hit.argmax(axis=1), looks - 1)
    rows = np.arange(runs)
    p, r = promote[rows, first], rollback[rows, first]
    win = np.where(p & (promote_first | ~r), 1, np.where(r, -1, 0))
    decision = np.where(any_hit, win, 0).astype(np.int64)
    return Outcome(decision, canary_n[rows, first].astype(np.float64))


def _naive(window_fail: npt.NDArray[np.bool_], canary_n: FloatArray) -> Outcome:
    fails = np.cumsum(window_fail, axis=1)
    rolled = fails >= FAIL_LIMIT
    runs, looks = window_fail.shape
    any_roll = rolled.any(axis=1)
    first = np.where(any_roll, rolled.argmax(axis=1), looks - 1)
    decision = np.where(any_roll, -1, 1).astype(np.int64)  # promote at the end otherwise
    return Outcome(decision, canary_n[np.arange(runs), first].astype(np.float64))


def conversion(delta: float, runs: int, seed: int) -> tuple[dict[str, Outcome], IntArray]:
    """Non-inferiority canaries with true Δ = p_B − p_A = ``delta``."""
    rng = np.random.default_rng(seed)
    xa = rng.binomial(STEP_A, P_STABLE, (runs, LOOKS))
    xb = rng.binomial(STEP_B, P_STABLE + delta, (runs, LOOKS))
    ca, cb = np.cumsum(xa, axis=1), np.cumsum(xb, axis=1)
    na = np.broadcast_to(STEP_A * np.arange(1, LOOKS + 1, dtype=np.float64), ca.shape)
    nb = np.broadcast_to(STEP_B * np.arange(1, LOOKS + 1, dtype=np.float64), cb.shape)
    pa, pb = ca / na, cb / nb
    d = pb - pa
    v = pa * (1 - pa) / na + pb * (1 - pb) / nb
    ok = v > 0
    vs = np.where(ok, v, 1.0)
    tau2 = mixing_variance(N_STAR, ALPHA) * (na + nb) * vs
    thr = math.log(1 / ALPHA)
    seq_pass = ok & (log_mixture_lr_one_sided(d, vs, tau2, -MARGIN, greater=True) >= thr)
    seq_fail = ok & (log_mixture_lr_one_sided(d, vs, tau2, -MARGIN, greater=False) >= thr)
    z = np.where(ok, (d + MARGIN) / np.sqrt(vs), 0.0)
    window = xb / STEP_B - xa / STEP_A
    outcomes = {
        "sequential": _first_crossing(seq_pass, seq_fail, nb, promote_first=True),
        "naive threshold": _naive(window < -MARGIN, nb),
        "naive, cumulative": _naive(d < -MARGIN, nb),
        "z-test, peeking": _first_crossing(z > Z, z < -Z, nb, promote_first=True),
    }
    return outcomes, np.stack([ca, cb], axis=-1)


def errors(ratio: float, runs: int, seed: int) -> tuple[dict[str, Outcome], IntArray]:
    """Error-rate canaries whose true rate ratio (canary/stable) is ``ratio``."""
    rng = np.random.default_rng(seed)
    hours = np.arange(HOURS)
    cycle = 1 + 0.8 * np.sin(2 * np.pi * hours / 24)
    req_a = np.round(REQ_A * cycle).astype(np.int64)
    req_b = np.round(REQ_B * cycle).astype(np.int64)
    ea = rng.binomial(req_a, E_RATE, (runs, HOURS))
    eb = rng.binomial(req_b, E_RATE * ratio, (runs, HOURS))
    ca, cb = np.cumsum(ea, axis=1).astype(float), np.cumsum(eb, axis=1).astype(float)
    rho_b = REQ_B / (REQ_A + REQ_B)  # fixed traffic split
    r0 = 1 + RATIO_MARGIN
    theta0 = rho_b * r0 / (1 - rho_b + rho_b * r0)
    thr = math.log(1 / ALPHA)
    enough = (ca + cb) >= 20
    worse = enough & (log_beta_bf_one_sided(cb, ca, theta0, greater=True) >= thr)
    better = enough & (log_beta_bf_one_sided(cb, ca, theta0, greater=False) >= thr)
    n = np.maximum(ca + cb, 1)
    z = (cb / n - theta0) / np.sqrt(theta0 * (1 - theta0) / n)
    nb = np.broadcast_to(np.cumsum(req_b).astype(np.float64), ca.shape)
    window_fail = eb / req_b > r0 * ea / req_a
    outcomes = {
        "sequential": _first_crossing(better, worse, nb, promote_first=False),
        "naive threshold": _naive(window_fail, nb),
        "naive, cumulative": _naive(cb / np.cumsum(req_b) > r0 * ca / np.cumsum(req_a), nb),
        "z-test, peeking": _first_crossing(z < -Z, z > Z, nb, promote_first=False),
    }
    return outcomes, np.stack([ca, cb], axis=-1)


def _cross_check_conversion(counts: IntArray, seq: Outcome, n_runs: int) -> None:
    # the operator's scalar gate must take the same decisions as the vectorised kernels
    for run in range(n_runs):
        state, decision = SequentialState(), 0
        for look in range(LOOKS):
            n_a, n_b = STEP_A * (look + 1), STEP_B * (look + 1)
            a = ArmStats.proportion(int(counts[run, look, 0]), n_a)
            b = ArmStats.proportion(int(counts[run, look, 1]), n_b)
            res, state = non_inferiority_test(
                a, b, margin=MARGIN, alpha=ALPHA, n_star=N_STAR, min_samples=100, state=state
            )
            if res.decision is not Decision.CONTINUE:
                decision = 1 if res.decision is Decision.PASS else -1
                break
        assert decision == seq.decision[run], f"conversion run {run}: {decision} vs {seq.decision[run]}"


def _cross_check_errors(counts: IntArray, seq: Outcome, n_runs: int) -> None:
    for run in range(n_runs):
        state, decision = SequentialState(), 0
        for look in range(HOURS):
            res, state = rate_ratio_test(
                int(counts[run, look, 0]),
                int(counts[run, look, 1]),
                control_exposure=REQ_A,
                treatment_exposure=REQ_B,
                margin=RATIO_MARGIN,
                alpha=ALPHA,
                min_events=20,
                state=state,
            )
            if res.decision is not Decision.CONTINUE:
                decision = 1 if res.decision is Decision.PASS else -1
                break
        assert decision == seq.decision[run], f"errors run {run}: {decision} vs {seq.decision[run]}"


def _row(design: str, truth: str, method: str, out: Outcome) -> str:
    dec = out.decision
    decided = dec != 0
    median = f"{np.median(out.samples[decided]):,.0f}" if decided.any() else "—"
    return (
        f"| {design} | {truth} | {method} | {np.mean(dec == 1):.3f} | {np.mean(dec == -1):.3f} "
        f"| {np.mean(dec == 0):.3f} | {median} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Simulated canaries (fixed seeds).")
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument(
        "--check-runs",
        type=int,
        default=25,
        help="runs per scenario replayed through the scalar gate functions",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)

    lines = [
        f"{args.runs:,} simulated canaries per row, α = {ALPHA}; promote / roll back / undecided "
        "rates and the median canary samples (users or requests) at decision.",
        "",
        "| design | truth | gate | promote | roll back | undecided | median canary n |",
        "|---|---|---|---|---|---|---|",
    ]
    conv_cases = [
        (-MARGIN, "Δ = −m (boundary: promotion is false)"),
        (0.0, "Δ = 0 (A/A: rollback is false)"),
        (-2 * MARGIN, "Δ = −2m (clearly worse)"),
        (MARGIN, "Δ = +m (better)"),
    ]
    for i, (delta, truth) in enumerate(conv_cases):
        res, counts = conversion(delta, args.runs, seed=1000 + i)
        _cross_check_conversion(counts, res["sequential"], args.check_runs)
        for method in METHODS:
            lines.append(_row("conversion", truth, method, res[method]))
    err_cases = [
        (1.0 + RATIO_MARGIN, "r = 1.2 (boundary: promotion is false)"),
        (1.0, "r = 1 (A/A: rollback is false)"),
        (1.6, "r = 1.6 (clearly worse)"),
        (0.8, "r = 0.8 (better)"),
    ]
    for i, (ratio, truth) in enumerate(err_cases):
        res, counts = errors(ratio, args.runs, seed=2000 + i)
        _cross_check_errors(counts, res["sequential"], args.check_runs)
        for method in METHODS:
            lines.append(_row("errors", truth, method, res[method]))
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
