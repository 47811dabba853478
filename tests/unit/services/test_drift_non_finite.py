"""A drift gate's live bin counts read as every other count is (``_observed``).

The drift collector rounded each bin's value as Prometheus answered it: a bin answered as NaN or
±Inf (a recording rule's division by 0, a remote-read backend's gap) raised ValueError or
OverflowError in ``round``, and the gate was an Error counted towards ``consecutiveErrorLimit``,
at every analysis; a negative one (an extrapolation around a counter's reset) went on to the
evaluator, which refused it as an invalid measurement, an Error too; and a row whose ``bin``
label is not a whole number raised in ``int``. Now a bin that is not finite is no data (the gate
Inconclusive), a negative one 0, and a row with another ``bin`` label is no bin of the histogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from tests.unit.services.test_observed_counts import Grouped, _ctx, _references

from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.services import measurements

GATE = ModelGate.model_validate({"name": "d", "type": "drift"})
REFERENCE = {"features": {"recency": {"counts": [50, 30, 20]}}}


def _collect(bins: list[tuple[Mapping[str, str], float]]) -> object:
    # The canary's whole 3,600 s observed but one scrape: live counts are the values × 119/120.
    ctx = _ctx(3600, 30, canary_run_id="run-2")
    return measurements.collect(GATE, ctx, Grouped({"uplift_feature_bin_total": bins}),
                                _references(measurements.REFERENCE_HISTOGRAMS, REFERENCE))


def _bins(*values: float) -> list[tuple[Mapping[str, str], float]]:
    return [({"feature": "recency", "bin": str(i)}, v) for i, v in enumerate(values)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_bin_that_is_not_finite_is_no_data_not_an_error(value: float) -> None:
    assert _collect(_bins(1200.0, value, 480.0)) is None


def test_a_negative_bin_is_zero_and_the_gate_judges_it() -> None:
    got = _collect(_bins(1200.0, -3.0, 480.0))
    assert got == m.DriftMeasurement(features={"recency": m.FeatureHistogram(
        reference=(50, 30, 20), live=(1190, 0, 476))})
    verdict = gates.evaluate_gate(GATE, got, None, _ctx(3600, 30).now).verdict
    assert verdict is not GateVerdict.ERROR


def test_a_row_whose_bin_is_no_whole_number_is_left_out() -> None:
    rows = [*_bins(1200.0, 720.0, 480.0), ({"feature": "recency", "bin": "overflow"}, 5.0),
            ({"feature": "recency", "bin": "1.5"}, 7.0)]
    assert _collect(rows) == m.DriftMeasurement(features={"recency": m.FeatureHistogram(
        reference=(50, 30, 20), live=(1190, 714, 476))})


def test_a_feature_not_judged_may_have_a_bin_that_is_not_finite() -> None:
    rows = [*_bins(1200.0, 720.0, 480.0), ({"feature": "other", "bin": "0"}, math.inf)]
    assert isinstance(_collect(rows), m.DriftMeasurement)
