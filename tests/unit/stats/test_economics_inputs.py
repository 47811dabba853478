"""``campaign_economics`` refuses the inputs that make its figures meaningless rather than
returning them: a negative population turns every bound over (lower > upper), a negative or
non-finite cost makes the ROI NaN as if nothing were spent, a NaN or infinite population or
value per conversion makes every figure NaN or infinite. A population or cost of 0 stays
allowed (nothing treated, nothing spent: the ROI undefined, NaN by design)."""

from __future__ import annotations

import math

import pytest

from uplift_operator.stats.economics import campaign_economics
from uplift_operator.stats.results import ArmStats

T, C = ArmStats.proportion(1200, 10_000), ArmStats.proportion(1000, 10_000)


@pytest.mark.parametrize("population", [-1, -5000, math.nan, math.inf])
def test_a_negative_or_non_finite_population_is_refused(population: int) -> None:
    with pytest.raises(ValueError, match="population must be finite and ≥ 0"):
        campaign_economics(T, C, population=population, value_per_conversion=10.0,
                           cost_per_treated=0.1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_per_conversion_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="value_per_conversion must be finite"):
        campaign_economics(T, C, value_per_conversion=value, cost_per_treated=0.1)


def test_a_negative_value_per_conversion_still_answers() -> None:
    # A conversion that costs more than it brings is a finite value: its bounds turn over
    # with it (a larger lift, a larger loss), they are not refused.
    loss = campaign_economics(T, C, value_per_conversion=-10.0, cost_per_treated=0.1)
    value = loss.incremental_value
    assert value.lower <= value.estimate <= value.upper < 0


@pytest.mark.parametrize(("field", "amount"), [
    ("cost_per_treated", -0.1), ("fixed_cost", -1.0), ("cost_per_treated", math.nan),
    ("fixed_cost", math.inf)])
def test_a_negative_or_non_finite_cost_is_refused(field: str, amount: float) -> None:
    costs = {"cost_per_treated": 0.1, "fixed_cost": 0.0, field: amount}
    with pytest.raises(ValueError, match=f"{field} must be finite and ≥ 0"):
        campaign_economics(T, C, value_per_conversion=10.0,
                           cost_per_treated=costs["cost_per_treated"],
                           fixed_cost=costs["fixed_cost"])


def test_zero_population_and_zero_cost_still_answer() -> None:
    nothing = campaign_economics(T, C, population=0, value_per_conversion=10.0,
                                 cost_per_treated=0.1)
    assert nothing.population == 0 and nothing.cost == 0.0
    assert math.isnan(nothing.roi.estimate)
    free = campaign_economics(T, C, value_per_conversion=10.0)
    assert free.cost == 0.0 and math.isnan(free.roi.estimate)
    paid = campaign_economics(T, C, value_per_conversion=10.0, cost_per_treated=0.1)
    assert paid.roi.lower <= paid.roi.estimate <= paid.roi.upper
