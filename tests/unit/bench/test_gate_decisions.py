"""Smoke test of ``bench/gate_decisions.py``: its smallest configuration runs through the operator's
entry points and its report is well formed. It checks shapes and invariants, never the figures
(those are the bench's output, documented in docs/gate-bench.md)."""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType
from typing import Any

import pytest
from tests.support.bench_scripts import load_bench_script

# qini needs its population grid (seconds of sorting), so it is checked by its cross-check alone.
ONLINE_GATES = ["errorRate", "onlineEffect", "latency", "drift", "upliftSanity", "deliveryRate",
                "incrementalConversions", "roi", "budget"]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_script("gate_decisions", "gate_decisions")


def test_wilson_interval_matches_the_textbook_values(bench: ModuleType) -> None:
    rate, low, high = bench.wilson(5, 100)
    assert rate == 0.05
    assert low == pytest.approx(0.02154, abs=5e-5)
    assert high == pytest.approx(0.11175, abs=5e-5)
    assert bench.wilson(0, 20)[1] == 0.0
    assert bench.wilson(20, 20)[2] == 1.0


def test_fixed_horizon_n_grows_with_the_inverse_square_of_the_distance(bench: ModuleType) -> None:
    near = bench.n_difference(0.15, 0.15, 0.005)
    far = bench.n_difference(0.15, 0.15, 0.010)
    assert near == pytest.approx(4 * far)
    assert bench.n_log_ratio(0.012, 0.01, 0.1) > bench.n_log_ratio(0.012, 0.01, 0.2)


def test_vectorised_qini_replicates_equal_the_library(bench: ModuleType) -> None:
    assert bench.cross_check_qini() < 1e-9


class _NoiseByEffect:
    """The one thing a ``QiniRun`` asks its sim: the canary's score noise for an effect."""

    def canary_noise(self, effect: float) -> float:
        return effect


def test_qini_fixed_horizon_se_is_the_scenarios_own(bench: ModuleType,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A noisier canary's scores agree less with the stable's: its paired difference, and so
    its N, is larger than the equal models' (the null's SE understated the 2x row's N)."""
    monkeypatch.setenv("GATE_BENCH_QINI_ROWS", "2000")
    monkeypatch.setattr(bench, "QINI_PILOT_RUNS", 2)
    monkeypatch.setattr(bench, "_PILOT_SE", {})
    sim = _NoiseByEffect()
    equal = bench._pilot_se(sim, bench.Scenario("null", "promote", 1.0))
    worse = bench._pilot_se(sim, bench.Scenario("2x margin", "rollback", 3.0))
    assert worse > 1.1 * equal
    monkeypatch.setenv("GATE_BENCH_QINI_ROWS", "8000")  # 4 × the rows: half the SE
    assert bench._pilot_se(sim, bench.Scenario("null", "promote", 1.0)) == pytest.approx(
        equal / 2, rel=0.25)


@pytest.mark.slow
def test_smallest_run_reports_every_scenario_consistently(bench: ModuleType) -> None:
    runs = 2
    rows = bench.run_bench(ONLINE_GATES, runs, jobs=1)
    sims = bench.gate_sims()
    assert [(r.gate, r.scenario.name) for r in rows] == [
        (key, sc.name) for key in ONLINE_GATES for sc in sims[key].scenarios]
    for row in rows:
        assert row.runs == runs
        assert row.count(1) + row.count(-1) + row.count(0) == runs
        for result in row.results:
            assert result.decision in (-1, 0, 1)
            # A decision has a finite sample count; an undecided run counts as ∞.
            assert math.isfinite(result.samples) == (result.decision != 0)
            assert result.looks >= 1
            # A promotion needs every verdict Pass at some analysis, no later than itself.
            if result.decision == 1 and row.gate != "qini":
                assert result.first_pass <= result.samples
        note = bench.first_pass_note(row)
        assert (note is None) == (row.scenario.right != "promote"
                                  or not math.isfinite(row.fixed_n))
        assert (row.false_promotion() is None) == (row.scenario.right == "promote")
        # A rollback is wrong unless the truth calls for it (at a bound, either decision is).
        assert (row.false_rollback() is None) == (row.scenario.right == "rollback")
        assert (row.srm_flagged() is None) == (not row.scenario.srm)
        for ci in (row.false_promotion(), row.false_rollback(), row.power(), row.srm_flagged()):
            if ci is not None:
                assert 0.0 <= ci[1] <= ci[0] <= ci[2] <= 1.0
    for campaign in (False, True):
        lines = bench.table(rows, campaign=campaign).splitlines()
        assert len(lines) == 2 + len(rows)
        assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_a_spent_budget_suspends_and_never_rolls_back(bench: ModuleType) -> None:
    sim = bench.gate_sims()["budget"]
    exhausted = next(sc for sc in sim.scenarios if sc.name.startswith("exhausted"))
    for run in range(3):
        result = bench.simulate(sim, exhausted, bench._seed("budget", exhausted.name, run))
        assert result.flagged and result.decision == 0


def test_runs_are_reproducible_from_their_seed(bench: ModuleType) -> None:
    sim = bench.gate_sims()["errorRate"]
    scenario = sim.scenarios[0]
    first = bench.simulate(sim, scenario, bench._seed("errorRate", scenario.name, 7))
    again = bench.simulate(sim, scenario, bench._seed("errorRate", scenario.name, 7))
    assert first == again


def test_split_tolerance_reaches_the_split_the_gates_see(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_BENCH_SPLIT_TOLERANCE", raising=False)
    default = bench.split_of(900, 100, 10, promotes=True)
    assert default.tolerance == 0.04 and default.promotes  # the API's default
    monkeypatch.setenv("GATE_BENCH_SPLIT_TOLERANCE", "0")
    assert bench.split_of(900, 100, 10).tolerance == 0.0
    # A Campaign's holdout-share wait reads it from its measurement.
    sim = bench.gate_sims()["incrementalConversions"]
    run = sim.new_run(sim.scenarios[0], None)
    run.start_step(10.0)
    assert run.measure().split_tolerance == 0.0
    monkeypatch.delenv("GATE_BENCH_SPLIT_TOLERANCE")
    assert run.measure().split_tolerance == 0.04


def test_campaign_expected_samples_reaches_the_incremental_gates_specs(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_BENCH_CAMPAIGN_EXPECTED_SAMPLES", raising=False)
    default = bench.gate_sims()
    assert all(default[k].spec(default[k].scenarios[0]).exposure.gates[0].expected_samples is None
               for k in ("incrementalConversions", "roi", "deliveryRate"))
    monkeypatch.setenv("GATE_BENCH_CAMPAIGN_EXPECTED_SAMPLES", "31000")
    sims = bench.gate_sims()
    for key in ("incrementalConversions", "roi"):
        gate = sims[key].spec(sims[key].scenarios[0]).exposure.gates[0]
        assert gate.expected_samples == 31000, key
        assert any("expectedSamples 31,000" in note for note in sims[key].notes()), key
    assert sims["deliveryRate"].spec(sims["deliveryRate"].scenarios[0]).exposure.gates[0] \
        .expected_samples is None  # its exact Beta-binomial mixture has no such tuning


def test_a_campaign_run_is_flagged_by_its_holdout_check_in_an_srm_scenario(
        bench: ModuleType) -> None:
    """A Campaign SRM run's flag is a sample-ratio hold before the ramp completed (a model's is
    before its promotion); outside an SRM scenario only a budget suspension flags a run."""

    class TwentyPercentHoldout(bench.ConversionRun):  # type: ignore[name-defined,misc]
        def tick(self, rng: Any) -> None:
            n = int(rng.poisson(self.lam * self.percent / 100))
            n_h = int(rng.binomial(n, 0.2))  # on a 10 % design
            self.counts += (n - n_h, rng.binomial(n - n_h, bench.CAMPAIGN_BASE + self.delta),
                            n_h, rng.binomial(n_h, bench.CAMPAIGN_BASE))
            self.canary_total += n

    class Broken(bench.IncrementalSim):  # type: ignore[name-defined,misc]
        def new_run(self, sc: Any, rng: Any) -> Any:
            return TwentyPercentHoldout(self, sc, roi=False)

    base = bench.gate_sims()["incrementalConversions"]
    srm = bench.Scenario("SRM", "hold", 0.02, srm=True)
    # The traffic is paced by the scenarios' N: the bench's positive one has it.
    sim = Broken(base.key, base.gate, (base.scenarios[0], srm), base.unit)
    for run in range(3):
        result = bench.simulate(sim, srm, bench._seed("incrementalConversions", "SRM", run))
        assert result.flagged and result.decision == 0
    same = bench.Scenario("SRM-free", "hold", 0.02)
    result = bench.simulate(sim, same, bench._seed("incrementalConversions", "SRM", 0))
    assert not result.flagged


def test_a_pass_at_a_low_step_is_seen_before_the_later_pauses(bench: ModuleType) -> None:
    """The first Pass is the gate's own samples; the completion adds the later steps' pauses."""
    sim = bench.gate_sims()["incrementalConversions"]
    positive = sim.scenarios[0]
    results = [bench.simulate(sim, positive, bench._seed("incrementalConversions",
                                                         positive.name, run)) for run in range(3)]
    completed = [r for r in results if r.decision == 1]
    assert completed, "a campaign 1 pp better completes its ramp in some of three runs"
    for result in completed:
        assert result.first_pass < result.samples


def _measuring(bench: ModuleType, base: Any, measure: Any) -> Any:
    """``base``'s sim whose runs hand the gate ``measure(run)`` instead of their counts."""

    class Run(type(base.new_run(base.scenarios[0], None))):  # type: ignore[misc]
        def measure(self) -> Any:
            return measure(self)

    class Sim(type(base)):  # type: ignore[misc]
        def new_run(self, sc: Any, rng: Any) -> Any:
            return Run(self, sc, **({"roi": False} if bench.is_campaign(self) else {}))

    return Sim(base.key, base.gate, base.scenarios, base.unit, base.experiment)


def _invalid_error_rate(bench: ModuleType) -> Any:
    """More canary errors than requests: the gate's Error is an invalid measurement."""
    return lambda run: bench.ms.ErrorRateMeasurement(
        canary_errors=11, canary_requests=10, stable_errors=0, stable_requests=100,
        split=bench.split_of(0, 0, run.weight))


def test_only_a_sample_ratio_hold_flags_a_model_run(bench: ModuleType,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The SRM column counts runs held by the sample-ratio check, not any Error: an invalid
    measurement or a source that cannot be read (even one that holds) is no SRM."""
    base = bench.gate_sims()["errorRate"]
    srm = next(sc for sc in base.scenarios if sc.srm)
    seed = bench._seed("errorRate", srm.name, 0)
    for measure in (_invalid_error_rate(bench),
                    lambda run: bench.ms.MeasurementError("Prometheus unreachable"),
                    lambda run: bench.ms.MeasurementError("Prometheus unreachable", holds=True)):
        result = bench.simulate(_measuring(bench, base, measure), srm, seed)
        assert not result.flagged and result.decision != 1
    monkeypatch.setattr(bench, "SRM_FACTOR", 1.5)  # a split no check can miss
    for run in range(2):
        result = bench.simulate(base, srm, bench._seed("errorRate", srm.name, run))
        assert result.flagged and result.decision != 1


def test_only_a_sample_ratio_hold_flags_a_campaign_run_in_an_srm_scenario(
        bench: ModuleType) -> None:
    base = bench.gate_sims()["incrementalConversions"]
    srm = bench.Scenario("SRM", "hold", 0.02, srm=True)
    sim = _measuring(bench, base, lambda run: bench.ms.MeasurementError("Prometheus unreachable"))
    result = bench.simulate(sim, srm, bench._seed("incrementalConversions", "SRM", 0))
    assert not result.flagged and result.decision != 1


def test_srm_hold_reads_the_step_machines_words(bench: ModuleType) -> None:
    """A hold is told an SRM as the step machine tells it (``SampleRatioMismatch``)."""
    from uplift_operator.domain import steps

    assert bench._SRM_WORDS is steps._SRM_WORDS
    outcome = bench.gates_mod.GateOutcome(
        name="g", verdict=bench.GateVerdict.ERROR, holds=True, time=bench.T0,
        message=f"dry run: {steps._SRM_WORDS} in the traffic split (stable, canary)")
    assert bench.srm_hold(outcome)
    for changed in ({"holds": False}, {"message": "measurement failed: no data"},
                    {"verdict": bench.GateVerdict.INCONCLUSIVE}):
        assert not bench.srm_hold(dataclasses.replace(outcome, **changed)), changed
