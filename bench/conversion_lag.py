"""The conversion gates when conversions are reported after their decisions (issue #8).

Usage (from the repo root; fixed seeds; results in docs/gate-bench.md, "Conversions that
lag")::

    .venv/bin/python bench/conversion_lag.py [--runs 200] [--jobs 2] [--lags 1,3,10]
                                             [--gates onlineEffect,incrementalConversions,roi]

``bench/gate_decisions.py`` hands the gate each conversion in the interval its unit was
decided. Real conversions come later: a visit hours after the e-mail. This bench plays the
same canaries (its onlineEffect scenarios, the same spec, ``gate_decisions.simulate``: the
operator's per-analysis entry points) with each conversion reported a random number of
analysis intervals after its decision — a geometric delay of mean about ``lag`` intervals,
truncated at the attribution window of ``3 × lag`` intervals, so every conversion is
in-window and the scenarios' truths are the gate's metric — and the stable serving alone
before the canary starts. Two ways of counting each step's arms:

* ``when reported`` — what the collector did before: the units decided since the step
  started, the conversions *reported* since it started (``increase()`` of the runtime's
  assignment and conversion counters). A step's conversions then include those of earlier
  decisions, made at other weights (and, at the first step, the stable's before the canary).
* ``cohorts`` — what it does now: the step's decisions whose attribution window has closed,
  with their in-window conversions (the runtime counts a decision and its conversions together
  when its window closes; the collector's range starts a window after the step).

The Campaign gates (``incrementalConversions``, ``roi``) are played the same way through the
exposure ramp: the campaign starts with its first step, every outcome is reported within the
window (so the outcomes' completeness holds once a window has closed, and the first step waits
for that under either rule), "when reported" sets the step's units against the conversions
reported in it, and "cohorts" takes the decisions whose window closed in the step (both arms
share every exposure, so the range is not shifted), roi costing them at the step's spend per
treated unit.

Reported per (lag, counting, scenario): promoted, rolled back and undecided runs, the wrong
decision's rate with its 95 % Wilson interval against issue #8's targets, and the canary's
units at the decision against the scenario's fixed-horizon N (median and p90; the cohorts
wait a window per step for their first evidence).
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
from bench.gate_decisions import Scenario, wilson  # noqa: E402

from uplift_operator.domain import measurements as ms  # noqa: E402

RULES = ("when reported", "cohorts")
# The gate bench's caps, before a row raises them (a pool's worker runs several rows).
_BENCH_CAP = gd.CAP
SCENARIOS = ("null", "margin", "2x margin", "better")
WINDOW_PER_LAG = 3  # the attribution window, in units of the mean lag


def delay_probabilities(lag: float, window: int) -> gd.FloatArray:
    """P(a conversion is reported d intervals after its decision), d = 0..window: a geometric
    delay of mean ``lag`` truncated at the window (every conversion is in-window)."""
    if window == 0:
        return np.ones(1)
    p = 1.0 / (lag + 1.0)
    probs: gd.FloatArray = p * (1 - p) ** np.arange(window + 1, dtype=np.float64)
    return probs / float(probs.sum())


class LaggedRun(gd.OnlineEffectRun):
    """The bench's onlineEffect run with conversions reported after their decisions."""

    def __init__(self, sim: gd.GateSim, sc: Scenario, lag: float, rule: str,
                 rng: np.random.Generator) -> None:
        super().__init__(sim, sc)
        self.rule = rule
        self.window = math.ceil(WINDOW_PER_LAG * lag)
        self.delays = delay_probabilities(lag, self.window)
        # The stable alone before the canary: its conversions are still coming in.
        self.history = 2 * self.window
        size = self.history + gd.MAX_LOOKS + self.window + 2
        self.units = np.zeros((size, 4), dtype=np.int64)      # decided per tick and arm
        self.cohort = np.zeros((size, 4), dtype=np.int64)     # their in-window conversions
        self.reported = np.zeros((size, 4), dtype=np.int64)   # conversions reported per tick
        self.t = 0  # ticks so far (history included)
        self.step_start = 0
        for _ in range(self.history):  # from the run's own generator: a history per run
            self._decide(rng, share=0.0)

    def start_step(self, weight: float) -> None:
        super().start_step(weight)
        self.step_start = self.t  # the next tick is the step's first

    def _decide(self, rng: np.random.Generator, share: float) -> int:
        n_c = rng.poisson(self.lam * share)
        n_s = rng.poisson(self.lam * (1 - share))
        ch = rng.binomial(n_c, self.h_canary)
        sh = rng.binomial(n_s, self.h)
        units = np.array([ch, n_c - ch, sh, n_s - sh])
        conv = rng.binomial(units, [gd.OE_HOLDOUT_P, self.p_canary, gd.OE_HOLDOUT_P,
                                    gd.OE_TREATED_P])
        t = self.t
        self.units[t] = units
        self.cohort[t] = conv
        for arm in range(4):
            if conv[arm]:
                self.reported[t:t + len(self.delays), arm] += rng.multinomial(conv[arm],
                                                                              self.delays)
        self.t += 1
        return int(n_c)

    def tick(self, rng: np.random.Generator) -> None:
        self.canary_total += self._decide(rng, self.weight / 100)

    def split_counts(self) -> tuple[int, int]:
        decided = self.units[self.step_start:self.t].sum(axis=0)
        return int(decided[2] + decided[3]), int(decided[0] + decided[1])

    def measure(self) -> ms.Measurement:
        start, now = self.step_start, self.t
        if self.rule == "cohorts":
            closed = max(start, now - self.window)  # ticks whose window has closed
            units = self.units[start:closed].sum(axis=0)
            conv = self.cohort[start:closed].sum(axis=0)
            share = gd.phi(closed - start)  # the cohort window's range (``cohort_window``)
        else:
            units, conv = self.units[start:now].sum(axis=0), self.reported[start:now].sum(axis=0)
            share = self.step_share()
        # every count as observed (``observed_share``), conversions never above the units
        arms = [ms.ArmCounts(units=gd.observed(units[i], share),
                             conversions=gd.observed(min(conv[i], units[i]), share))
                for i in range(4)]
        return ms.OnlineEffectMeasurement(
            canary=ms.VersionArms(holdout=arms[0], treated=arms[1]),
            stable=ms.VersionArms(holdout=arms[2], treated=arms[3]),
            holdout_fraction=self.h, split=self.split(self.weight))


@dataclass
class LaggedSim(gd.OnlineEffectSim):
    lag: float = 0.0
    rule: str = RULES[-1]

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> gd.Run:
        return LaggedRun(self, sc, self.lag, self.rule, rng)


class LaggedConversionRun(gd.ConversionRun):
    """A Campaign's treated and holdout arms with conversions reported after their decisions.
    The campaign starts with its first step (no decisions before); every outcome is reported
    within the window, so the outcomes of the decisions whose window closed are complete."""

    def __init__(self, sim: gd.GateSim, sc: Scenario, roi: bool, lag: float, rule: str) -> None:
        super().__init__(sim, sc, roi)
        self.rule = rule
        self.window = math.ceil(WINDOW_PER_LAG * lag)
        self.delays = delay_probabilities(lag, self.window)
        size = gd.MAX_LOOKS + self.window + 2
        self.units = np.zeros((size, 2), dtype=np.int64)     # treated, holdout per tick
        self.cohort = np.zeros((size, 2), dtype=np.int64)    # their in-window conversions
        self.reported = np.zeros((size, 2), dtype=np.int64)  # conversions reported per tick
        self.t = self.step_start = 0

    def start_step(self, weight: float) -> None:
        super().start_step(weight)
        self.step_start = self.t

    def tick(self, rng: np.random.Generator) -> None:
        n = int(rng.poisson(self.lam * self.percent / 100))
        n_h = int(rng.binomial(n, gd.CAMPAIGN_H))
        units = np.array([n - n_h, n_h])
        conv = rng.binomial(units, [gd.CAMPAIGN_BASE + self.delta, gd.CAMPAIGN_BASE])
        t = self.t
        self.units[t], self.cohort[t] = units, conv
        for arm in range(2):
            if conv[arm]:
                self.reported[t:t + len(self.delays), arm] += rng.multinomial(conv[arm],
                                                                              self.delays)
        self.t += 1
        self.canary_total += n

    def measure(self) -> ms.Measurement:
        start, now = self.step_start, self.t
        # The runtime counts a decision when its window closes: in the step's range, those
        # decided from a window before the step to a window before now.
        first, last = max(0, start - self.window), max(0, now - self.window)
        closed = self.units[first:last].sum(axis=0)
        decided = self.units[start:now].sum(axis=0)
        if self.rule == "cohorts":
            units, conv = closed, self.cohort[first:last].sum(axis=0)
        else:
            units, conv = decided, self.reported[start:now].sum(axis=0)
        share = self.step_share()  # the step's range, shifted a window back: as observed
        t, h = gd.observed(units[0], share), gd.observed(units[1], share)
        arms = ms.CampaignArms(ms.ArmCounts(t, gd.observed(min(conv[0], units[0]), share)),
                               ms.ArmCounts(h, gd.observed(min(conv[1], units[1]), share)))
        expected = gd.observed(closed.sum(), share)
        done = ms.OutcomeCompleteness(expected=expected, received=expected)
        if self.roi:
            # The step's spend per treated unit decided, on the arms' treated units.
            return ms.RoiMeasurement(arms=arms, holdout_fraction=gd.CAMPAIGN_H,
                                     value_per_conversion=gd.ROI_VALUE,
                                     spend=gd.ROI_COST * t, completeness=done,
                                     completes=self.promotes)
        return ms.IncrementalConversionsMeasurement(arms=arms, holdout_fraction=gd.CAMPAIGN_H,
                                                    completeness=done, completes=self.promotes)


@dataclass
class LaggedIncrementalSim(gd.IncrementalSim):
    lag: float = 0.0
    rule: str = RULES[-1]

    def new_run(self, sc: Scenario, rng: np.random.Generator) -> gd.Run:
        return LaggedConversionRun(self, sc, isinstance(self, gd.RoiSim), self.lag, self.rule)


@dataclass
class LaggedRoiSim(LaggedIncrementalSim, gd.RoiSim):
    """roi's threshold and notes (``RoiSim``), the lagged run (``LaggedIncrementalSim``)."""


LAGGED: dict[str, type[LaggedSim] | type[LaggedIncrementalSim] | type[LaggedRoiSim]] = {
    "onlineEffect": LaggedSim, "incrementalConversions": LaggedIncrementalSim,
    "roi": LaggedRoiSim}
#: Per gate, the scenarios the bench plays (the gate bench's, but SRM and incomplete outcomes).
SCENARIOS_OF = {"onlineEffect": SCENARIOS,
                "incrementalConversions": ("positive (+1 pp)", "zero effect", "negative (−1 pp)"),
                "roi": ("ROI +1", "at the bound (ROI 0)", "ROI −1 (no effect)")}


@dataclass(frozen=True)
class Row:
    lag: float
    rule: str
    scenario: str
    runs: int
    gate: str = "onlineEffect"


def waiting(lag: float, gate: str = "onlineEffect") -> float:
    """The units served while the gate waits for its first cohorts, × the null's fixed-horizon
    N (the first step collects N in ``LOOKS_TO_N`` looks): a window at every step for the
    canary's versions, a window at the first step for a campaign (its outcomes' completeness,
    under either rule)."""
    window = math.ceil(WINDOW_PER_LAG * lag)
    steps = sum(gd.WEIGHTS) if gate == "onlineEffect" else gd.WEIGHTS[0]
    return window * steps / (gd.WEIGHTS[0] * gd.LOOKS_TO_N)


def run_row(row: Row) -> tuple[Row, list[gd.RunResult], float]:
    # Each step waits a window before its first evidence: room for those looks and units.
    gd.MAX_LOOKS = 3 * gd.LOOKS_TO_N + len(gd.WEIGHTS) * math.ceil(WINDOW_PER_LAG * row.lag)
    gd.CAP = _BENCH_CAP + waiting(row.lag, row.gate)
    base = gd.gate_sims()[row.gate]
    sim = LAGGED[row.gate](**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                           lag=row.lag, rule=row.rule)
    sc = next(s for s in sim.scenarios if s.name == row.scenario)
    seed = (20261204 + 1000 * int(10 * row.lag) + 100 * SCENARIOS_OF[row.gate].index(row.scenario)
            + 10_000_000 * list(LAGGED).index(row.gate))
    results = [gd.simulate(sim, sc, np.random.default_rng(seed + i)) for i in range(row.runs)]
    return row, results, sim.fixed_n(sc)


def _rate(k: int, n: int, target: float, upper: float | None = None) -> str:
    rate, low, high = wilson(k, n)
    ok = rate <= target and (upper is None or high <= upper)
    return f"{rate:.3f} [{low:.3f}, {high:.3f}] {'✓' if ok else '✗'}"


def _wait(row: Row) -> str:
    if row.gate != "onlineEffect":  # the first step's window, under either rule
        return f"{waiting(row.lag, row.gate):.2f}"
    return f"{waiting(row.lag) if row.rule == 'cohorts' else 0.0:.2f}"


def report(rows: Sequence[tuple[Row, list[gd.RunResult], float]]) -> str:
    lines = ["| gate | lag (intervals) | window | counting | scenario | runs | promoted or "
             "completed | rolled back | "
             "undecided | wrong decisions (≤ 0.05) | median / p90 canary units × N | units "
             "served waiting for the first cohorts × N (onlineEffect: every step's window, which a "
             "promotion waits; a campaign: its first step's) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row, results, n in rows:
        promoted = sum(r.decision == 1 for r in results)
        rolled = sum(r.decision == -1 for r in results)
        right = next(sc for sc in gd.gate_sims()[row.gate].scenarios
                     if sc.name == row.scenario).right
        upper = gd.TARGET_FALSE_PROMOTION_UPPER
        if right == "hold":  # at the bound: either decision is wrong, each ≤ α
            judged = (f"false pass {_rate(promoted, row.runs, 0.05, upper)}; false fail "
                      f"{_rate(rolled, row.runs, 0.05)}")
        elif right == "promote":
            judged = f"false rollback {_rate(rolled, row.runs, 0.05)}"
        else:
            judged = (f"false promotion "
                      f"{_rate(promoted, row.runs, 0.05, upper if row.scenario == 'margin' else None)}")
        samples = [r.samples / n for r in results]
        median, p90 = gd.quantile(samples, 0.5), gd.quantile(samples, 0.9)
        lines.append(
            f"| {row.gate} | {row.lag:g} | {math.ceil(WINDOW_PER_LAG * row.lag)} | {row.rule} | "
            f"{row.scenario} | {row.runs} | {promoted} | {rolled} | "
            f"{row.runs - promoted - rolled} | {judged} | "
            f"{median:.2f} / {p90:.2f} | "
            f"{_wait(row)} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="runs per row")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--lags", default="1,3,10",
                        help="mean conversion delays, in analysis intervals (comma-separated)")
    parser.add_argument("--rules", default=",".join(RULES))
    parser.add_argument("--gates", default=",".join(LAGGED))
    parser.add_argument("--scenarios", default="",
                        help="comma-separated scenario names (default: each gate's)")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)
    wanted = set(args.scenarios.split(",")) if args.scenarios else None
    rows = [Row(float(lag), rule, scenario, args.runs, gate)
            for gate in args.gates.split(",") for lag in args.lags.split(",")
            for rule in args.rules.split(",") for scenario in SCENARIOS_OF[gate]
            if wanted is None or scenario in wanted]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_row, rows))
    text = (f"{report(results)}\n\n{len(rows)} rows × {args.runs} runs, "
            f"{time.perf_counter() - started:.1f} s on {args.jobs} processes\n")
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
