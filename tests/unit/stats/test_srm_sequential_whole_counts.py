"""``srm_sequential`` hands its counts to ``multinomial_test`` as given: it truncated them
first (``int(29.7)`` = 29), so a fraction of an event (a rate, an ``increase()`` estimate)
passed as observed events past the refusal ``multinomial_test`` makes of it (7ecc8c90). The
operator's counts are whole already: its collectors round each scaled count to the nearest
(docs/statistics.md §2)."""

from __future__ import annotations

import pytest

from uplift_operator.services import measurements
from uplift_operator.stats.srm import srm_sequential


@pytest.mark.parametrize("counts", [[29.7, 30.0], [1000.0, 1300.5]])
def test_a_fraction_of_an_event_is_refused_not_truncated(counts: list[float]) -> None:
    with pytest.raises(ValueError, match="whole"):
        srm_sequential(counts, [0.5, 0.5])  # type: ignore[arg-type]


def test_whole_counts_given_as_floats_are_those_counts() -> None:
    whole, _ = srm_sequential([1000, 1300], [0.5, 0.5])
    floats, _ = srm_sequential([1000.0, 1300.0 + 1e-10], [0.5, 0.5])  # type: ignore[list-item]
    assert floats == whole
    assert whole.samples == (1000, 1300)


def test_the_operators_counts_reach_it_rounded_to_the_nearest_event() -> None:
    # What the collectors give the SRM check: a scaled increase to the nearest whole event.
    assert measurements._observed(59.4, 0.5) == 30  # 29.7, not 29
    assert measurements._observed(58.6, 0.5) == 29
