"""Counts Prometheus answers as ±Inf or below 0.

The collectors rounded every count they read and checked only for NaN, so an infinite value (a
division by 0 in a recording rule or a custom template) raised OverflowError in ``round`` and
the collection failed as an operator defect, with a traceback, at every look. A count that is
not finite is no data now, as NaN is and as ``_per_version`` already left such a row out; a
negative one (no count is: an extrapolation around a counter's reset) is 0, as the spend read is
clamped at 0, never a negative count a test would refuse as an invalid measurement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
from tests.unit.services.test_observed_counts import _INCREASE, Extrapolated, _campaign, _ctx

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import measurements as m
from uplift_operator.services import measurements

NON_FINITE = [math.inf, -math.inf]


def _delivery(reports: float, decisions: float) -> Extrapolated:
    class Delivery(Extrapolated):
        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            found = _INCREASE.search(promql)
            assert found is not None
            if found.group(1) == "uplift_deliveries_total":
                return [Sample({"status": "ok"}, reports, 0.0),
                        Sample({"status": "failed"}, 0.0, 0.0)]
            return [Sample({}, decisions, 0.0)]

    return Delivery({})


@pytest.mark.parametrize("value", NON_FINITE)
def test_an_infinite_count_is_no_data_not_a_crash(value: float) -> None:
    gate = CampaignGate.model_validate({"name": "d", "type": "deliveryRate",
                                        "reportDelay": "2m"})
    assert measurements.collect_campaign(gate, _campaign(180, 0), _delivery(value, 60.0),
                                         None) is None
    assert measurements.collect_campaign(gate, _campaign(180, 0), _delivery(60.0, value),
                                         None) is None


def test_a_negative_count_is_zero() -> None:
    gate = CampaignGate.model_validate({"name": "d", "type": "deliveryRate",
                                        "reportDelay": "2m"})
    got = measurements.collect_campaign(gate, _campaign(180, 0), _delivery(-3.0, 60.0), None)
    assert isinstance(got, m.DeliveryRateMeasurement)
    assert got.delivered == 0 and got.reported == 0


def test_a_negative_error_count_is_zero() -> None:
    gate = ModelGate.model_validate({"name": "e", "type": "errorRate"})
    prom = Extrapolated({"uplift_request_errors_total": {"2": -3.0, "1": 0.0},
                         "uplift_request_duration_seconds_count": {"2": 60.0, "1": 240.0}})
    got = measurements.collect(gate, _ctx(60, 0), prom, None)
    assert got == m.ErrorRateMeasurement(canary_errors=0, canary_requests=60, stable_errors=0,
                                         stable_requests=240)


def _histogram(buckets: dict[str, float]) -> Extrapolated:
    class Histograms(Extrapolated):
        def scalar(self, promql: str, time: Any = None) -> float | None:
            return 0.2

        def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
            if "_bucket" in promql and "increase" in promql:
                return [Sample({"le": le}, value, 0.0) for le, value in buckets.items()]
            return super().query(promql, time)

    return Histograms({})


@pytest.mark.parametrize("value", NON_FINITE)
def test_an_infinite_bucket_is_left_out(value: float) -> None:
    gate = ModelGate.model_validate({"name": "l", "type": "latency"})
    got = measurements.collect(gate, _ctx(60, 0),
                               _histogram({"0.1": 80.0, "0.5": value, "+Inf": 120.0}), None)
    assert isinstance(got, m.LatencyMeasurement)
    assert got.bucket_bounds == (0.1, math.inf) and got.canary_buckets == (80, 120)
    # +Inf itself not finite: no request count, no data.
    assert measurements.collect(gate, _ctx(60, 0),
                                _histogram({"0.1": 80.0, "+Inf": value}), None) is None


def test_a_negative_bucket_is_zero() -> None:
    gate = ModelGate.model_validate({"name": "l", "type": "latency"})
    got = measurements.collect(gate, _ctx(60, 0),
                               _histogram({"0.1": -2.0, "0.5": 110.0, "+Inf": 120.0}), None)
    assert isinstance(got, m.LatencyMeasurement)
    assert got.canary_buckets == (0, 110, 120)
