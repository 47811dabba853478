"""The qini gate at the edges of its levels: alpha = 0.5 (the API's largest) is judged, not an
Error at every analysis (counted towards consecutiveErrorLimit, so a rollback); and a level
the logged bootstrap replicates are too few for (α(B + 1) < 1: the Fail level α/T with 16
treatments and the trainer's 200 replicates) shows nothing at it, where the percentile clamped
to the extreme replicate and failed at a level of 1/(B + 1) instead of α/T."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain.gates import evaluate_gate
from uplift_operator.domain.measurements import QiniEstimate, QiniMeasurement
from uplift_operator.stats.uplift import (
    one_sided_bounds,
    paired_difference_bounds,
    percentile_replicates_needed,
)

NOW = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
P, INC, E, F = (GateVerdict.PASS, GateVerdict.INCONCLUSIVE, GateVerdict.ERROR, GateVerdict.FAIL)


def _gate(**fields: object) -> ModelGate:
    return ModelGate.model_validate({"name": "qini", "type": "qini", **fields})


def _measurement(shifts: dict[str, float], replicates: int = 200) -> QiniMeasurement:
    """Per treatment, a canary whose paired replicates sit ``shift`` above the stable's."""
    rng = np.random.default_rng(3)
    canary, stable = {}, {}
    for name, shift in shifts.items():
        base = rng.normal(0.08, 0.01, replicates)
        noise = rng.normal(0.0, 0.003, replicates)
        canary[name] = QiniEstimate(0.08 + shift, samples=70_000,
                                    replicates=tuple(base + shift + noise), evaluation_set="x")
        stable[name] = QiniEstimate(0.08, samples=70_000, replicates=tuple(base),
                                    evaluation_set="x")
    return QiniMeasurement(canary=canary, stable=stable)


def test_paired_bounds_at_alpha_one_half_are_the_median() -> None:
    d = np.arange(1.0, 202.0)  # 201 differences, median 101
    mean, low, high, pairs = paired_difference_bounds(d, np.zeros(201), alpha=0.5)
    assert (low, high) == (101.0, 101.0) and pairs == 201 and mean == 101.0
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 0.5\]"):
        paired_difference_bounds(d, np.zeros(201), alpha=0.6)


@pytest.mark.parametrize(("shift", "verdict"), [(0.004, P), (-0.004, F)])
def test_a_qini_gate_at_alpha_one_half_is_judged(shift: float, verdict: GateVerdict) -> None:
    m = _measurement({"t": shift})
    out = evaluate_gate(_gate(alpha=0.5), m, {}, NOW)
    assert out.verdict is verdict, out.message
    # The Pass end at the median of the paired differences; the Fail end at α/2, α split over
    # the treatment's two Fail tests (the floor and the paired difference).
    canary, stable = m.canary["t"].replicates or (), m.stable["t"].replicates or ()
    _, median, _, _ = paired_difference_bounds(canary, stable, alpha=0.5, exact=True)
    _, _, upper, _ = paired_difference_bounds(canary, stable, alpha=0.25, exact=True)
    assert (out.lower, out.upper) == (median, upper)


def test_replicates_needed_for_a_level() -> None:
    assert percentile_replicates_needed(0.05) == 19  # α(B + 1) = 1: the smallest replicate
    assert percentile_replicates_needed(0.05 / 10) == 199
    assert percentile_replicates_needed(0.05 / 11) == 219  # past the trainer's 200
    assert percentile_replicates_needed(0.05 / 16) == 319
    assert percentile_replicates_needed(0.5) == 1


def test_a_level_the_replicates_are_too_few_for_bounds_nothing_when_exact() -> None:
    r = np.random.default_rng(0).normal(size=200)
    assert one_sided_bounds(r, alpha=0.05 / 16, exact=True) == (-math.inf, math.inf)
    assert one_sided_bounds(r[:19], alpha=0.05, exact=True) == (r[:19].min(), r[:19].max())
    assert one_sided_bounds(r[:18], alpha=0.05, exact=True) == (-math.inf, math.inf)
    _, low, high, pairs = paired_difference_bounds(r, np.zeros(200), alpha=0.05 / 16,
                                                   exact=True)
    assert (low, high, pairs) == (-math.inf, math.inf, 200)
    # A descriptive interval (the trainer's logged one) keeps the extreme replicates.
    assert one_sided_bounds(r, alpha=0.05 / 16) == (r.min(), r.max())


def test_a_bound_past_the_replicates_is_not_passed_more_often_than_alpha() -> None:
    # 200 replicates at α = 0.05/16: the clamped bound (the largest replicate) was passed by an
    # exchangeable value in 1/201 = 0.50 % of cases, above α = 0.31 %.
    alpha = 0.05 / 16
    draws = np.random.default_rng(11).normal(size=(20_000, 201))
    above = sum(row[0] > one_sided_bounds(row[1:], alpha=alpha, exact=True)[1]
                for row in draws)
    assert above / len(draws) <= alpha


def test_sixteen_treatments_on_200_replicates_cannot_fail_on_harm_and_say_why() -> None:
    shifts = {f"t{i:02d}": 0.0 for i in range(16)}
    shifts["t00"] = -0.03  # worse than stable in every resample, beyond the margin
    out = evaluate_gate(_gate(), _measurement(shifts), {}, NOW)
    assert out.verdict is not F, out.message
    # α/16 over each treatment's two Fail tests (the floor and the paired difference).
    assert ("harm cannot be shown at the Fail level 0.00156 (alpha over the treatments judged "
            "and their Fail tests) from 200 bootstrap replicates, it needs ≥ 639") in out.message
    # With the replicates the level needs, the same harm fails.
    enough = evaluate_gate(_gate(), _measurement(shifts, replicates=640), {}, NOW)
    assert enough.verdict is F, enough.message
    assert "harm cannot be shown" not in enough.message


def test_a_pass_level_the_replicates_are_too_few_for_never_passes() -> None:
    out = evaluate_gate(_gate(alpha=0.001), _measurement({"t": 0.004}), {}, NOW)
    assert out.verdict is INC, out.message
    assert out.message.startswith(
        "200 bootstrap replicates show nothing at alpha 0.001 (a percentile bound at it needs "
        "≥ 999, at the Fail level 0.0005 ≥ 1999)")
    # Five treatments paired with the stable at α = 0.05 (ten Fail tests) are within the
    # trainer's 200: nothing to say; six are not.
    five = evaluate_gate(_gate(), _measurement({f"t{i}": 0.004 for i in range(5)}), {}, NOW)
    assert five.verdict is P and "bootstrap replicates" not in five.message
    six = evaluate_gate(_gate(), _measurement({f"t{i}": 0.004 for i in range(6)}), {}, NOW)
    assert "harm cannot be shown at the Fail level 0.00417" in six.message


def test_a_canary_at_the_floor_and_equal_to_the_stable_fails_at_most_alpha() -> None:
    """Each treatment has several Fail tests (its upper bound below ``min``, the paired
    difference's below 0, its lower bound above ``max``); each at α/T failed such a canary in
    up to 2α (3α with ``max``): 8.9 % of 2,000 stylised runs at α = 0.05. α is split over them:
    4.25 %. The canary's and the stable's Qinis both at the floor (0), sd 1, correlated 0.5;
    each replicate centred on its estimate, as a percentile bootstrap is nominally."""
    rng = np.random.default_rng(7)
    cov = [[1.0, 0.5], [0.5, 1.0]]
    gate = _gate(margin=0.5, marginType="absolute")
    runs, fails = 1000, 0
    for _ in range(runs):
        ec, es = rng.multivariate_normal([0.0, 0.0], cov)
        z = rng.multivariate_normal([0.0, 0.0], cov, size=200)
        m = QiniMeasurement(
            {"w": QiniEstimate(ec, None, None, 10_000, replicates=tuple(ec + z[:, 0]),
                               evaluation_set="e")},
            {"w": QiniEstimate(es, None, None, 10_000, replicates=tuple(es + z[:, 1]),
                               evaluation_set="e")})
        fails += evaluate_gate(gate, m, {}, NOW).verdict is F
    assert fails / runs <= 0.05


def test_the_leakage_check_is_one_of_the_fail_tests() -> None:
    """``max``: the canary's lower bound above it fails at α over the treatment's Fail tests
    (the floor and ``max``: no stable to pair with), not at the full α."""
    r = np.random.default_rng(5).normal(1.0, 0.1, 400)
    low, _ = one_sided_bounds(r, alpha=0.05, exact=True)
    fail_low, _ = one_sided_bounds(r, alpha=0.025, exact=True)
    between = (low + fail_low) / 2  # above the bound at 0.025, below the one at 0.05
    m = QiniMeasurement({"t": QiniEstimate(1.0, None, None, 10_000, replicates=tuple(r),
                                           evaluation_set="e")}, {})
    out = evaluate_gate(_gate(min=0.0, max=between), m, {}, NOW)
    assert out.verdict is not F, out.message
    out = evaluate_gate(_gate(min=0.0, max=fail_low - 0.01), m, {}, NOW)
    assert out.verdict is F and "leakage" in out.message, out.message
