"""``bench/conversion_lag.py``'s simulator: what each counting rule hands the onlineEffect gate.
Its figures are the bench's output (docs/gate-bench.md), never asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench import conversion_lag as lag  # noqa: E402
from bench import gate_decisions as gd  # noqa: E402

from uplift_operator.domain import measurements as ms  # noqa: E402


@pytest.fixture(autouse=True)
def _exact_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check what is counted: φ = 1 (no scrape-interval scaling)."""
    monkeypatch.setenv("GATE_BENCH_SCRAPE_INTERVAL", "0")


def _run(rule: str, mean_lag: float, seed: int = 0) -> lag.LaggedRun:
    sim = gd.gate_sims()["onlineEffect"]
    null = next(s for s in sim.scenarios if s.name == "null")
    return lag.LaggedRun(sim, null, mean_lag, rule, np.random.default_rng(seed))


def _step(run: gd.Run, weight: float) -> None:
    run.start_step(weight)
    run.stepped()  # as gate_decisions.simulate


def _tick(run: gd.Run, rng: np.random.Generator) -> None:
    run.tick(rng)
    run.ticked()  # as gate_decisions.simulate


def test_delays_are_in_window_and_average_about_the_lag() -> None:
    probs = lag.delay_probabilities(3.0, 9)
    assert len(probs) == 10 and probs.sum() == pytest.approx(1.0)
    assert 2.0 < float(np.dot(np.arange(10), probs)) < 3.0  # truncated: a bit below 3
    assert lag.delay_probabilities(0.0, 0).tolist() == [1.0]


def test_cohorts_count_the_steps_closed_decisions_with_their_own_conversions() -> None:
    run = _run("cohorts", 3.0)  # window 9 ticks
    _step(run, 10)
    rng = np.random.default_rng(1)
    for _ in range(12):
        _tick(run, rng)
    measured = run.measure()
    assert isinstance(measured, ms.OnlineEffectMeasurement)
    start = run.history
    units = run.units[start:start + 3].sum(axis=0)  # ticks 0–2 of the step have closed
    conversions = run.cohort[start:start + 3].sum(axis=0)
    assert measured.canary.treated == ms.ArmCounts(int(units[1]), int(conversions[1]))
    assert measured.stable.treated == ms.ArmCounts(int(units[3]), int(conversions[3]))
    # The split is of every decision of the step once it settled (its first interval left
    # out: services/measurements.py's settled_window), when decided.
    assert measured.split is not None
    assert measured.split.canary == int(run.units[start + 1:start + 12, :2].sum())


def test_counting_when_reported_takes_in_conversions_of_earlier_decisions() -> None:
    run = _run("when reported", 3.0)
    _step(run, 10)
    _tick(run, np.random.default_rng(2))
    measured = run.measure()
    assert isinstance(measured, ms.OnlineEffectMeasurement)
    # One tick into the step: the stable's reported conversions are of its decisions before
    # the canary, at 100 % of the traffic, so its rate reads above its 15 %; the canary's are
    # only those of its own first decisions that came at once, far below the same 15 %.
    stable, canary = measured.stable.treated, measured.canary.treated
    assert stable.conversions / stable.units > gd.OE_TREATED_P / 0.95
    assert canary.conversions / canary.units < gd.OE_TREATED_P / 2


def test_without_lag_both_rules_are_the_instant_bench() -> None:
    reported, cohorts = _run("when reported", 0.0), _run("cohorts", 0.0)
    for run in (reported, cohorts):
        _step(run, 25)
        rng = np.random.default_rng(3)
        for _ in range(5):
            _tick(run, rng)
    assert reported.measure() == cohorts.measure()


def _campaign_run(rule: str, mean_lag: float) -> lag.LaggedConversionRun:
    sim = gd.gate_sims()["roi"]
    bound = next(s for s in sim.scenarios if s.name == "at the bound (ROI 0)")
    return lag.LaggedConversionRun(sim, bound, True, mean_lag, rule)


def test_the_stable_only_history_is_the_runs_own() -> None:
    one, other = _run("cohorts", 3.0, seed=1), _run("cohorts", 3.0, seed=2)
    assert not np.array_equal(one.units[:one.history], other.units[:other.history])


def test_the_median_and_p90_are_the_gate_benchs_quantiles() -> None:
    row = lag.Row(1.0, "cohorts", "null", 4)
    results = [gd.RunResult(1, float(x), False, 1) for x in (4.0, 1.0, 3.0, 2.0)]
    text = lag.report([(row, results, 1.0)])
    assert "| 2.00 / 4.00 |" in text  # ⌈q·n⌉-th smallest: 2nd and 4th of 4


def test_a_campaigns_cohorts_are_the_decisions_whose_window_closed_in_the_step() -> None:
    run = _campaign_run("cohorts", 1.0)  # window 3 ticks
    _step(run, 10)
    rng = np.random.default_rng(4)
    for _ in range(5):
        _tick(run, rng)
    _step(run, 25)  # the next step: its range holds the windows that close in it
    for _ in range(4):
        _tick(run, rng)
    measured = run.measure()
    assert isinstance(measured, ms.RoiMeasurement)
    # Ticks 2–5 of the campaign (decided from a window before the step, to a window before
    # now), each with its own conversions; the spend is theirs, at the step's cost per unit.
    units, conversions = run.units[2:6].sum(axis=0), run.cohort[2:6].sum(axis=0)
    assert measured.arms.treated == ms.ArmCounts(int(units[0]), int(conversions[0]))
    assert measured.arms.holdout == ms.ArmCounts(int(units[1]), int(conversions[1]))
    assert measured.spend == pytest.approx(gd.ROI_COST * int(units[0]))
    assert measured.completeness == ms.OutcomeCompleteness(int(units.sum()), int(units.sum()))
    reported = _campaign_run("when reported", 1.0)
    _step(reported, 10)
    for _ in range(2):
        _tick(reported, rng)
    early = reported.measure()  # no window closed yet: the outcomes are not complete
    assert isinstance(early, ms.RoiMeasurement) and early.completeness is not None
    assert early.completeness.expected == 0
