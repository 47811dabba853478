"""Library edge cases no gate reaches: arms that do not vary, and a KS test on one row each."""

from __future__ import annotations

import math

import pytest

from uplift_operator.stats.drift import ks_binned
from uplift_operator.stats.economics import campaign_economics
from uplift_operator.stats.results import ArmStats, Decision
from uplift_operator.stats.sequential import (
    difference_test,
    non_inferiority_test,
    pooled_variance,
    superiority_test,
)

NONE, ALL = ArmStats.proportion(0, 5000), ArmStats.proportion(5000, 5000)


def test_arms_that_do_not_vary_but_differ_are_decided_on_the_pooled_variance() -> None:
    # 0/5000 against 5000/5000: zero plug-in variance in both arms, a difference of 1. It went
    # on as CONTINUE forever ("zero variance in both arms").
    assert pooled_variance(NONE, ALL) == pytest.approx(0.25)
    assert non_inferiority_test(NONE, ALL, margin=0.01)[0].decision is Decision.PASS
    assert non_inferiority_test(ALL, NONE, margin=0.01)[0].decision is Decision.FAIL
    assert difference_test(NONE, ALL)[0].decision is Decision.PASS  # CS above 0
    assert superiority_test(NONE, ALL)[0].decision is Decision.PASS


def test_arms_that_do_not_vary_nor_differ_show_nothing() -> None:
    res, _ = non_inferiority_test(NONE, ArmStats.proportion(0, 5000), margin=0.01)
    assert res.decision is Decision.CONTINUE and "no difference" in res.reason


def test_the_economics_interval_of_arms_that_do_not_vary_is_not_a_point() -> None:
    nothing = campaign_economics(ArmStats.proportion(0, 1000), ArmStats.proportion(0, 1000))
    assert (nothing.lift.lower, nothing.lift.upper) == (-math.inf, math.inf)
    everything = campaign_economics(ArmStats.proportion(1000, 1000),
                                    ArmStats.proportion(0, 1000))
    assert everything.lift.lower < 1.0 < everything.lift.upper
    assert everything.lift.lower > 0.9


def test_ks_on_one_row_each_continues_rather_than_passing_on_a_nan() -> None:
    res = ks_binned([1, 0], [0, 1])
    assert res.decision is Decision.CONTINUE and math.isnan(res.p_value)
    assert ks_binned([2, 0], [0, 2]).decision is not Decision.CONTINUE  # n·m/(n + m) = 1
