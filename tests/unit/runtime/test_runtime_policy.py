"""Cost-aware policy: net value rule, allow-list, budget."""

from __future__ import annotations

import numpy as np
import pytest

from uplift_operator.runtime.policy import NO_TREATMENT, choose


def test_treat_only_when_net_value_positive() -> None:
    uplift = np.array([[0.05, 0.02], [0.01, 0.0], [-0.1, 0.03]])
    r = choose(uplift, value=10.0, costs=np.array([0.2, 0.1]))
    # row 0: nets 0.3 / 0.1 → A; row 1: -0.1 / -0.1 → none; row 2: -1.2 / 0.2 → B
    assert r.choice.tolist() == [0, NO_TREATMENT, 1]
    np.testing.assert_allclose(r.net_value, [0.3, 0.0, 0.2])
    assert r.spend == pytest.approx(0.3)


def test_allow_list_restricts_choice() -> None:
    uplift = np.array([[0.05, 0.02]])
    r = choose(uplift, 10.0, np.zeros(2), allowed=np.array([False, True]))
    assert r.choice.tolist() == [1]


def test_budget_takes_best_net_first_and_skips_what_does_not_fit() -> None:
    uplift = np.array([[0.5, 0.0], [0.3, 0.0], [0.0, 0.2], [0.1, 0.0]])
    costs = np.array([1.0, 0.5])
    r = choose(uplift, 10.0, costs, budget=1.6)
    # nets: 4.0 (A, cost 1), 2.0 (A, 1), 1.5 (B, .5), 0.0 (A: 1-1=0 → none)
    assert r.choice.tolist() == [0, NO_TREATMENT, 1, NO_TREATMENT]
    assert r.spend == pytest.approx(1.5)
    assert choose(uplift, 10.0, costs, budget=0.0).choice.tolist() == [NO_TREATMENT] * 4


def test_validation() -> None:
    with pytest.raises(ValueError, match="one cost per treatment"):
        choose(np.zeros((2, 2)), 1.0, np.zeros(3))
    with pytest.raises(ValueError, match="budget"):
        choose(np.zeros((2, 2)), 1.0, np.zeros(2), budget=-1)
    assert choose(np.zeros((0, 2)), 1.0, np.zeros(2)).choice.tolist() == []
