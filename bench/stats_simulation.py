"""Simulated canaries: anytime-valid gates against a naive threshold gate and a peeking z-test.

Usage (from the repo root; fixed seeds, about a minute on one core)::

    .venv/bin/python bench/stats_simulation.py [--runs 2000] [--out FILE.md]

Two canary designs, each with 2,000 simulated canaries and a look every interval:

* **conversion** (higher is better): stable p = 0.10; per interval 800 stable and 200 canary
  users; 100 looks; an onlineEffect gate's treated comparison, absolute margin m = 1 pp, α =
  0.05, no ``expectedSamples`` (the operator's default mixture).
* **errors** (lower is better): stable error rate 1 %; per hour 4·c(t) stable and c(t)
  canary requests, c(t) = round(1,000·(1 + 0.8·sin(2πt/24))) (a daily cycle at a fixed 4:1
  split); 96 looks; an errorRate gate, relative margin m = 0.2 (the canary may have at most
  1.2 × the stable rate), α = 0.05.

Gates compared:

* ``sequential`` — the operator's gates, as ``domain/gates.py`` decides them per analysis:
  conversion, ``_treated_comparison`` (the guarded mSPRT pair on the arms' variances at each
  boundary, Pass Δ > −m, Fail Δ < 0, one fixed mixture for the version, as ``_online_effect``
  tunes it); errors, ``_ratio_tests`` (``rate_ratio_test`` with ``fail_margin=0``,
  ``min_events=1``: Pass r < 1.2, Fail r > 1) under the gate's rule (``_rule``). Run through
  vectorised kernels of those rules, which the first runs of every scenario cross-check
  against the operator's own functions (``operator_conversion_look``,
  ``operator_errors_look``: the same calls with the same arguments as ``evaluate_gate``
  makes, tests/unit/bench/test_stats_simulation.py);
* ``naive threshold`` — what an Argo Rollouts / Flagger analysis does: each interval, the metric
  over that interval's window is compared with the threshold (canary ≥ stable − m; canary error
  rate ≤ 1.2 × stable); 5 failed checks roll back (Flagger's ``threshold``), else promote at the
  end; ``naive, cumulative`` is the same rule on all the data so far (a kinder variant);
* ``z-test, peeking`` — a fixed-horizon one-sided z-test at α (cumulative data) evaluated at
  every look; the first crossing decides.

Reported per scenario: promotion / rollback / undecided rates and the median canary samples at
decision. "False promotion" is promotion when the canary is exactly at the margin (worse by m, or
1.2× the errors); "false rollback" is rollback when the canary equals stable. The counts are
exact (no scrape-interval scaling, one stratum, no traffic split or holdout check): this bench
checks the tests' rules; bench/gate_decisions.py the gates through the ramp on the collector's
counts.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from uplift_operator.api.v1alpha1.common import GateVerdict  # noqa: E402
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec  # noqa: E402
from uplift_operator.domain import gates as gates_mod  # noqa: E402
from uplift_operator.domain.measurements import ArmCounts  # noqa: E402
from uplift_operator.stats.counts import log_beta_bf_one_sided  # noqa: E402
from uplift_operator.stats.results import ArmStats, SequentialState  # noqa: E402
from uplift_operator.stats.sequential import log_mixture_lr_one_sided, mixing_variance  # noqa: E402

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ALPHA = 0.05
Z = 1.6448536269514722  # z_{1−α}, one-sided, α = 0.05
FAIL_LIMIT = 5
METHODS = ("sequential", "naive threshold", "naive, cumulative", "z-test, peeking")

# conversion design
P_STABLE, STEP_A, STEP_B, LOOKS, MARGIN = 0.10, 800, 200, 100, 0.01
# error design: the stable serves SPLIT × the canary's requests every hour
E_RATE, REQ_B, SPLIT, HOURS, RATIO_MARGIN = 0.01, 1000, 4, 96, 0.2
Memory = dict[str, SequentialState]


def _gate(gate: dict[str, Any]) -> Any:
    """A gate as the operator reads it from a spec (the API's defaults applied)."""
    spec = UpliftModelSpec.model_validate({
        "model": {"registeredModel": "bench", "version": "2"},
        "treatments": [{"name": "email"}],
        "rollout": {"steps": [{"weight": 10}], "gates": [gate]}})
    return spec.rollout.gates[0]


CONVERSION_GATE = _gate({"name": "online-effect", "type": "onlineEffect", "margin": MARGIN,
                         "marginType": "absolute", "alpha": ALPHA})
ERRORS_GATE = _gate({"name": "errors", "type": "errorRate", "margin": RATIO_MARGIN,
                     "marginType": "relative", "alpha": ALPHA})


def operator_conversion_look(gate: Any, stable: ArmCounts, canary: ArmCounts,
                             memory: Memory) -> tuple[int, Memory]:
    """One analysis of an onlineEffect gate's treated comparison, as ``gates._online_effect``
    makes it once its SRM and split checks are clear: its minSamples, the mixture tuned at
    the first look and frozen in memory ``effect``, then ``gates._treated_comparison`` (the
    calls and arguments are asserted equal to ``evaluate_gate``'s in
    tests/unit/bench/test_stats_simulation.py). (+1 Pass, −1 Fail, 0 Inconclusive, memory)."""
    if min(canary.units, stable.units) < max(gate.min_samples, 2):
        return 0, memory
    stable_arm = ArmStats.proportion(stable.conversions, stable.units)
    margin, kind = gates_mod.margin_of(gate)
    absolute = margin * stable_arm.mean if kind == "relative" else margin
    previous = memory.get("effect") or SequentialState()
    tuned = previous.reference
    if not math.isfinite(tuned) and 0 < stable_arm.mean < 1:
        tuned = gates_mod._mixture_variance(gate, absolute, stable_arm.variance)
        previous = replace(previous, reference=tuned)
    tau2 = mixing_variance(1.0, gate.alpha) * tuned if tuned > 0 else None
    new_memory = dict(memory)
    result = gates_mod._treated_comparison(stable, canary, absolute, gate.alpha, tau2, previous,
                                           memory, new_memory)
    verdict = gates_mod._VERDICT_OF[result.decision]
    return _SIGN[verdict], new_memory


def operator_errors_look(gate: Any, stable_errors: int, stable_requests: int, canary_errors: int,
                         canary_requests: int, memory: Memory) -> tuple[int, Memory]:
    """One analysis of an errorRate gate with a relative margin, no ``max`` and no split, as
    ``gates._error_rate`` makes it: ``_ratio_tests`` (``rate_ratio_test`` with the margin as
    a ratio, ``fail_margin=0``, ``min_events=1``) once either side has an error, under
    ``_rule``. (+1 Pass, −1 Fail, 0 Inconclusive, memory)."""
    if stable_errors + canary_errors == 0:
        return 0, memory
    margin, _ = gates_mod.margin_of(gate)
    new_memory = dict(memory)
    test, _ = gates_mod._ratio_tests(gate, "error-rate", stable_errors, stable_requests,
                                     canary_errors, canary_requests, margin, "rateRatio",
                                     memory, new_memory)
    verdict, _ = gates_mod._rule([test], gate.alpha)
    return _SIGN[verdict], new_memory


_SIGN = {GateVerdict.PASS: 1, GateVerdict.FAIL: -1, GateVerdict.INCONCLUSIVE: 0}


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


def _restricted_variance(c_t: FloatArray, n_t: FloatArray, c_h: FloatArray, n_h: FloatArray,
                         theta: float) -> FloatArray:
    """Var(Δ̂) with both arms at the rates they would have at Δ = θ (``gates._restricted_arms``,
    the canary as treated, the stable as holdout)."""
    eps = 0.5 / (n_t + n_h)
    p_h = (c_t + c_h - theta * n_t) / (n_t + n_h)
    p_h = np.minimum(np.maximum(p_h, np.maximum(eps, eps - theta)),
                     np.minimum(1 - eps, 1 - eps - theta))
    p_t = p_h + theta
    out: FloatArray = p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h
    return out


def conversion(delta: float, runs: int, seed: int) -> tuple[dict[str, Outcome], IntArray]:
    """Non-inferiority canaries with true Δ = p_B − p_A = ``delta``."""
    rng = np.random.default_rng(seed)
    xa = rng.binomial(STEP_A, P_STABLE, (runs, LOOKS))
    xb = rng.binomial(STEP_B, P_STABLE + delta, (runs, LOOKS))
    ca, cb = np.cumsum(xa, axis=1).astype(np.float64), np.cumsum(xb, axis=1).astype(np.float64)
    na = np.broadcast_to(STEP_A * np.arange(1, LOOKS + 1, dtype=np.float64), ca.shape)
    nb = np.broadcast_to(STEP_B * np.arange(1, LOOKS + 1, dtype=np.float64), cb.shape)
    pa, pb = ca / na, cb / nb
    d = pb - pa
    # The operator's rule (``operator_conversion_look``): the mixture tuned at the first look
    # and frozen, each side on the variances at its own boundary, Fail winning a tie.
    gate = CONVERSION_GATE
    tuned = np.array([gates_mod._mixture_variance(gate, MARGIN, float(p * (1 - p)))
                      for p in pa[:, 0]])
    tau2 = (mixing_variance(1.0, gate.alpha) * tuned)[:, None] * np.ones((1, LOOKS))
    thr = math.log(1 / gate.alpha)
    enough = np.minimum(na, nb) >= max(gate.min_samples, 2)
    v_pass = _restricted_variance(cb, nb, ca, na, -MARGIN)
    v_fail = _restricted_variance(cb, nb, ca, na, 0.0)
    seq_pass = enough & (log_mixture_lr_one_sided(d, v_pass, tau2, -MARGIN, greater=True) >= thr)
    seq_fail = enough & (log_mixture_lr_one_sided(d, v_fail, tau2, 0.0, greater=False) >= thr)
    v = pa * (1 - pa) / na + pb * (1 - pb) / nb
    ok = v > 0
    vs = np.where(ok, v, 1.0)
    z = np.where(ok, (d + MARGIN) / np.sqrt(vs), 0.0)
    window = xb / STEP_B - xa / STEP_A
    outcomes = {
        "sequential": _first_crossing(seq_pass, seq_fail, nb, promote_first=False),
        "naive threshold": _naive(window < -MARGIN, nb),
        "naive, cumulative": _naive(d < -MARGIN, nb),
        "z-test, peeking": _first_crossing(z > Z, z < -Z, nb, promote_first=True),
    }
    return outcomes, np.stack([ca, cb], axis=-1)


def _requests() -> tuple[IntArray, IntArray]:
    """Per hour (stable, canary) requests: a daily cycle at a fixed SPLIT:1 split."""
    cycle = 1 + 0.8 * np.sin(2 * np.pi * np.arange(HOURS) / 24)
    req_b = np.round(REQ_B * cycle).astype(np.int64)
    return SPLIT * req_b, req_b


def errors(ratio: float, runs: int, seed: int) -> tuple[dict[str, Outcome], IntArray]:
    """Error-rate canaries whose true rate ratio (canary/stable) is ``ratio``."""
    rng = np.random.default_rng(seed)
    req_a, req_b = _requests()
    ea = rng.binomial(req_a, E_RATE, (runs, HOURS))
    eb = rng.binomial(req_b, E_RATE * ratio, (runs, HOURS))
    ca, cb = np.cumsum(ea, axis=1).astype(float), np.cumsum(eb, axis=1).astype(float)
    rho_b = 1 / (1 + SPLIT)  # the canary's share of the requests (fixed split)

    def theta(r: float) -> float:  # the canary's share of the errors at rate ratio r
        return rho_b * r / (1 - rho_b + rho_b * r)

    r0 = 1 + RATIO_MARGIN
    thr = math.log(1 / ERRORS_GATE.alpha)
    # The operator's rule (``operator_errors_look``): Pass r < 1 + m, Fail r > 1 (fail_margin
    # 0), from the first error on (min_events 1), Fail winning a tie.
    enough = (ca + cb) >= 1
    worse = enough & (log_beta_bf_one_sided(cb, ca, theta(1.0), greater=True) >= thr)
    better = enough & (log_beta_bf_one_sided(cb, ca, theta(r0), greater=False) >= thr)
    theta0 = theta(r0)
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
    # the operator's own functions must take the same decisions as the vectorised kernels
    for run in range(n_runs):
        memory: Memory = {}
        decision = 0
        for look in range(LOOKS):
            stable = ArmCounts(units=STEP_A * (look + 1), conversions=int(counts[run, look, 0]))
            canary = ArmCounts(units=STEP_B * (look + 1), conversions=int(counts[run, look, 1]))
            decision, memory = operator_conversion_look(CONVERSION_GATE, stable, canary, memory)
            if decision:
                break
        assert decision == seq.decision[run], f"conversion run {run}: {decision} vs {seq.decision[run]}"


def _cross_check_errors(counts: IntArray, seq: Outcome, n_runs: int) -> None:
    req_a, req_b = (np.cumsum(r) for r in _requests())
    for run in range(n_runs):
        memory: Memory = {}
        decision = 0
        for look in range(HOURS):
            decision, memory = operator_errors_look(
                ERRORS_GATE, int(counts[run, look, 0]), int(req_a[look]),
                int(counts[run, look, 1]), int(req_b[look]), memory)
            if decision:
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
