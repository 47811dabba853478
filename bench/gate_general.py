"""The gates' error rates away from the gate bench's defaults: other ramps, traffic rates, base
rates, margins, holdout fractions and α.

Usage (from the repo root; fixed seeds; results in docs/gate-bench.md, "Away from the
defaults")::

    .venv/bin/python bench/gate_general.py [--runs 200] [--jobs 2] [--cases "one step 50,α 0.01"]

``bench/gate_decisions.py`` measures every target on one design: steps 10 → 25 → 50 %, the
null's fixed-horizon N in 40 looks at the first step, a 1 % error rate, 10 %/15 % conversion, a
10 % holdout, the API's margins and α = 0.05. The rules must hold on any design a user writes,
so this bench runs the scenarios that test validity — equal versions (false rollback), the
canary exactly at the margin (false promotion), a 52/48 split (flagged before any promotion),
for the Campaign gates an effect exactly at the bound (false pass) and a positive one (false
fail), and for the one-version bound gates (drift, upliftSanity, deliveryRate) a truth inside
the bound (false rollback) and one exactly at it (either decision is false) — on each case
below, through the same simulators and the same per-analysis entry points
(``gate_decisions.simulate``: ``evaluate_gate`` with the memory read back from status, then
``ramp.decide`` / ``exposure.decide``). Only a case's overrides differ from the bench.

A wrong decision is judged against the case's α: ✓ when its rate is at most α, ✗ otherwise
(with the 95 % Wilson interval, so a ✗ whose interval holds α is within the noise of the runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import gate_decisions as gd  # noqa: E402
from bench.gate_decisions import RunResult, Scenario, wilson  # noqa: E402

MODEL_GATES = ("errorRate", "onlineEffect", "latency")
CAMPAIGN_GATES = ("incrementalConversions", "roi")
#: The one-version gates: bounds, not comparisons (no SRM scenario).
BOUND_GATES = ("drift", "upliftSanity", "deliveryRate")
ONLINE_GATES = MODEL_GATES + CAMPAIGN_GATES + BOUND_GATES
#: qini decides offline, before any traffic: only its margin, α and set size matter.
WITH_QINI = (*ONLINE_GATES, "qini")
SRM_TARGET = gd.TARGET_SRM
# The bench's own, before any case changes them.
_BENCH_MAX_LOOKS, _BENCH_CAP, _BENCH_LOOKS_TO_N = gd.MAX_LOOKS, gd.CAP, gd.LOOKS_TO_N
_BENCH_WEIGHTS = gd.WEIGHTS


@dataclass(frozen=True)
class Case:
    """One design: the bench's defaults but for the fields set."""

    name: str
    weights: tuple[int, ...] = gd.WEIGHTS
    looks_to_n: int = gd.LOOKS_TO_N  # looks in which the first step collects the null's N
    error_rate: float = gd.ERR_BASE
    conversion: tuple[float, float] = (gd.OE_HOLDOUT_P, gd.OE_TREATED_P)  # holdout, treated
    campaign_base: float = gd.CAMPAIGN_BASE
    holdout: float = gd.CAMPAIGN_H  # onlineEffect's and the Campaign's holdoutFraction
    # × the bench's margins and bounds: errorRate/latency 0.2, onlineEffect 0.005, drift's PSI
    # bound 0.1, upliftSanity's band ±0.1, deliveryRate's shortfall 0.05 (min 0.95)
    margin_scale: float = 1.0
    alpha: float = gd.ALPHA
    drift_features: int = gd.DRIFT_FEATURES
    drift_bins: int = gd.DRIFT_BINS
    drift_rare_share: float = gd.DRIFT_RARE_SHARE  # the last feature's rare category
    qini_rows: int = gd.QINI_ROWS_DEFAULT  # rows of each offline evaluation set
    pause_looks: int = gd.PAUSE_LOOKS  # each step's pause, in analysis intervals
    gates: tuple[str, ...] = ONLINE_GATES

    def apply(self) -> None:
        """Set the bench's module constants the simulators read at run time."""
        gd.WEIGHTS = self.weights
        gd.LOOKS_TO_N = self.looks_to_n
        gd.PAUSE_LOOKS, gd.PAUSE = self.pause_looks, f"{self.pause_looks}m"
        # A run ends at the samples cap; the looks' cap must not end a fast ramp first.
        gd.MAX_LOOKS = max(3 * self.looks_to_n, _BENCH_MAX_LOOKS)
        # Nor the samples' cap: with N in fewer looks, or more steps (each lasts its pause), a
        # clean ramp's pauses cost more × N.
        gd.CAP = (_BENCH_CAP * max(1.0, _BENCH_LOOKS_TO_N / self.looks_to_n)
                  * max(1.0, sum(self.weights) / sum(_BENCH_WEIGHTS)))
        gd.ERR_BASE = self.error_rate
        gd.OE_HOLDOUT_P, gd.OE_TREATED_P = self.conversion
        gd.CAMPAIGN_BASE = self.campaign_base
        gd.CAMPAIGN_H = self.holdout
        gd.DRIFT_FEATURES, gd.DRIFT_BINS = self.drift_features, self.drift_bins
        gd.DRIFT_RARE_SHARE = self.drift_rare_share
        os.environ["GATE_BENCH_QINI_ROWS"] = str(self.qini_rows)  # as --qini-rows passes it

    def overrides(self) -> str:
        default = Case("default")
        changed = [f"{f.name} {getattr(self, f.name)}" for f in dataclasses.fields(self)
                   if f.name not in ("name", "gates")
                   and getattr(self, f.name) != getattr(default, f.name)]
        return ", ".join(changed) or "the bench's defaults"


CASES = (
    Case("default", gates=WITH_QINI),
    Case("five steps", weights=(5, 10, 20, 40, 80)),
    Case("one step 50", weights=(50,)),
    Case("small steps", weights=(1, 5, 20)),
    Case("fast traffic", looks_to_n=5),
    Case("slow traffic", looks_to_n=100,
         gates=("errorRate", "onlineEffect", "upliftSanity", "deliveryRate")),
    Case("rare events", error_rate=0.001, conversion=(0.02, 0.03), campaign_base=0.02,
         gates=("errorRate", "onlineEffect", *CAMPAIGN_GATES)),
    Case("common events", error_rate=0.05, conversion=(0.30, 0.40), campaign_base=0.30,
         gates=("errorRate", "onlineEffect", *CAMPAIGN_GATES)),
    Case("narrow margins", margin_scale=0.5, gates=MODEL_GATES + BOUND_GATES + ("qini",)),
    Case("wide margins", margin_scale=2.5, gates=MODEL_GATES + BOUND_GATES + ("qini",)),
    Case("holdout 0.5", holdout=0.5, gates=("onlineEffect", *CAMPAIGN_GATES)),
    Case("holdout 0.02", holdout=0.02, gates=("onlineEffect", *CAMPAIGN_GATES)),
    Case("α 0.01", alpha=0.01, gates=WITH_QINI),
    Case("one feature", drift_features=1, gates=("drift",)),
    Case("twenty bins", drift_bins=20, gates=("drift",)),
    Case("rare bin 0.2 %", drift_rare_share=0.002, gates=("drift",)),
    Case("small evaluation sets", qini_rows=5_000, gates=("qini",)),
    # Session 35: α spent once per version over many steps, a looser α, and long pauses (more
    # looks per step).
    Case("ten steps", weights=(2, 4, 6, 8, 10, 15, 20, 30, 40, 50)),
    Case("α 0.1", alpha=0.1),
    Case("long pauses", pause_looks=10),
)


class _BrokenHoldoutRun(gd.ConversionRun):
    """A Campaign whose holdout gets more units than designed: h + 0.04·√(h(1 − h)), the
    standardised departure of 52/48 on a 50/50 split (11.2 % on a 10 % holdout)."""

    def tick(self, rng: np.random.Generator) -> None:
        h = gd.CAMPAIGN_H + 0.04 * math.sqrt(gd.CAMPAIGN_H * (1 - gd.CAMPAIGN_H))
        n = int(rng.poisson(self.lam * self.percent / 100))
        n_h = int(rng.binomial(n, h))
        n_t = n - n_h
        self.counts += (n_t, rng.binomial(n_t, gd.CAMPAIGN_BASE + self.delta), n_h,
                        rng.binomial(n_h, gd.CAMPAIGN_BASE))
        self.canary_total += n


class _IncrementalSim(gd.IncrementalSim):
    def new_run(self, sc: Scenario, rng: np.random.Generator) -> gd.Run:
        return _BrokenHoldoutRun(self, sc, roi=False) if sc.srm else super().new_run(sc, rng)


class _RoiSim(gd.RoiSim):
    def new_run(self, sc: Scenario, rng: np.random.Generator) -> gd.Run:
        return _BrokenHoldoutRun(self, sc, roi=True) if sc.srm else super().new_run(sc, rng)


def sims(case: Case) -> dict[str, gd.GateSim]:
    """The validity scenarios of each gate, with the case's margins and α."""
    a, s = case.alpha, case.margin_scale

    def comparative(margin: float) -> tuple[Scenario, ...]:
        return (Scenario("null", "promote", 1.0), Scenario("margin", "rollback", 1 + margin),
                Scenario("SRM", "hold", 1.0, srm=True))

    ratio = 0.2 * s
    oe = 0.005 * s
    psi, band, floor = 0.1 * s, gd.SANITY_BAND_DEFAULT * s, 1 - 0.05 * s
    qini = gd.QINI_MARGIN_DEFAULT * s
    ratio_gate = {"margin": ratio, "marginType": "relative", "alpha": a}
    return {
        "errorRate": gd.ErrorRateSim("errorRate", {"name": "errors", "type": "errorRate",
                                                   **ratio_gate}, comparative(ratio), "requests"),
        "onlineEffect": gd.OnlineEffectSim(
            "onlineEffect", {"name": "online-effect", "type": "onlineEffect", "margin": oe,
                             "alpha": a},
            (Scenario("null", "promote", 0.0), Scenario("margin", "rollback", -oe),
             Scenario("SRM", "hold", 0.0, srm=True)), "units", {"holdoutFraction": case.holdout}),
        "latency": gd.LatencySim("latency", {"name": "latency", "type": "latency", **ratio_gate},
                                 comparative(ratio), "requests"),
        "incrementalConversions": _IncrementalSim(
            "incrementalConversions", {"name": "incremental", "type": "incrementalConversions",
                                       "alpha": a},
            (Scenario("positive (+1 pp)", "promote", 0.01), Scenario("zero effect", "hold", 0.0),
             Scenario("SRM (+2 pp)", "hold", 0.02, srm=True)), "exposed units"),
        "roi": _RoiSim(
            "roi", {"name": "roi", "type": "roi", "min": 0.0, "alpha": a},
            (Scenario("ROI +1", "promote", 0.02),
             Scenario("at the bound (ROI 0)", "hold", gd.ROI_COST / gd.ROI_VALUE),
             Scenario("SRM (ROI +2)", "hold", 0.03, srm=True)), "exposed units"),
        # The bound gates: no drift / inside the band / above the floor must pass (a rollback
        # is false); exactly at the bound must do neither more often than α.
        "drift": gd.DriftSim(
            "drift", {"name": "drift", "type": "drift", "max": psi, "alpha": a},
            (Scenario("null", "promote", 0.0), Scenario("at the bound", "hold", psi)),
            "live rows"),
        "upliftSanity": gd.SanitySim(
            "upliftSanity", {"name": "score-sanity", "type": "upliftSanity", "min": -band,
                             "max": band, "alpha": a},
            (Scenario("null", "promote", 0.0), Scenario("at the band's edge", "hold", band)),
            "requests"),
        "deliveryRate": gd.DeliverySim(
            "deliveryRate", {"name": "delivery", "type": "deliveryRate", "min": floor,
                             "alpha": a},
            (Scenario("above", "promote", floor + 0.6 * (1 - floor)),
             Scenario("at the bound", "hold", floor)), "decisions"),
        # Offline: the paired bootstrap on one evaluation set, decided before any traffic.
        "qini": gd.QiniSim(
            "qini", {"name": "qini", "type": "qini", "margin": qini, "alpha": a},
            (Scenario("null", "promote", 1.0), Scenario("margin", "rollback", 1 - qini)),
            "evaluation rows"),
    }


def _task(args: tuple[int, str, int, int, int]) -> list[RunResult]:
    case_index, key, scenario, start, count = args
    case = CASES[case_index]
    case.apply()  # in the worker, whatever the start method
    sim = sims(case)[key]
    sc = sim.scenarios[scenario]
    return [gd.simulate(sim, sc, gd._seed(key, f"{case.name}/{sc.name}", r))
            for r in range(start, start + count)]


def _rate(k: int, n: int, limit: float, at_most: bool = True) -> str:
    rate, low, high = wilson(k, n)
    ok = rate <= limit if at_most else rate >= limit
    return f"{rate:.3f} [{low:.3f}, {high:.3f}] {'✓' if ok else '✗'}"


def report(case: Case, key: str, sc: Scenario, results: Sequence[RunResult]) -> str:
    n = len(results)
    promoted = sum(r.decision == 1 for r in results)
    rolled = sum(r.decision == -1 for r in results)
    wrong_promotion = _rate(promoted, n, case.alpha) if sc.right != "promote" else "—"
    wrong_rollback = _rate(rolled, n, case.alpha) if sc.right != "rollback" else "—"
    # A Campaign SRM run is flagged by an Error (its holdout's sample-ratio check) before the
    # ramp completed, as a model's before the promotion.
    flagged = (_rate(sum(r.flagged for r in results), n, SRM_TARGET, at_most=False)
               if sc.srm else "—")
    return (f"| {case.name} | {key} | {sc.name} | {n} | {promoted} | {rolled} | "
            f"{n - promoted - rolled} | {wrong_promotion} | {wrong_rollback} | {flagged} |")


def run(cases: Sequence[Case], runs: int, jobs: int) -> list[str]:
    tasks: list[tuple[int, str, int, int, int]] = []
    chunk = max(1, math.ceil(runs / max(jobs * 2, 1)))
    for case in cases:
        index = next(i for i, known in enumerate(CASES) if known.name == case.name)
        built = sims(case)
        for key in case.gates:
            for s in range(len(built[key].scenarios)):
                tasks.extend((index, key, s, start, min(chunk, runs - start))
                             for start in range(0, runs, chunk))
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_task, tasks))
    else:
        done = [_task(t) for t in tasks]
    collected: dict[tuple[int, str, int], list[RunResult]] = {}
    for task, results in zip(tasks, done, strict=True):
        collected.setdefault(task[:3], []).extend(results)
    lines = ["| case | gate | scenario | runs | promoted (ramp completed) | rolled back | "
             "undecided | false promotion (≤ α) | false rollback (≤ α) | "
             f"SRM flagged before promotion (≥ {SRM_TARGET}) |", "|" + "---|" * 10]
    for (index, key, s), results in collected.items():
        case = CASES[index]
        lines.append(report(case, key, sims(case)[key].scenarios[s], results))
    lines.append("")
    lines.extend(f"- {case.name}: {case.overrides()}" for case in cases)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="runs per (case, gate, scenario)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--gates", default="", help="comma-separated gate types (default: "
                                                    "each case's)")
    args = parser.parse_args(argv)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(names) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {[c.name for c in CASES]}")
    cases = [c for c in CASES if not names or c.name in names]
    if args.gates:
        only = {g.strip() for g in args.gates.split(",")}
        cases = [dataclasses.replace(c, gates=tuple(g for g in c.gates if g in only))
                 for c in cases]
        cases = [c for c in cases if c.gates]
    started = time.monotonic()
    lines = run(cases, args.runs, args.jobs)
    print("\n".join(lines))
    print(f"\nelapsed {time.monotonic() - started:.1f} s on {args.jobs} process(es)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
