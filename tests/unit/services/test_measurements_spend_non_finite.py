"""Spends Prometheus answers as ±Inf or below 0.

The spend reads (roi's, per treatment or the campaign's counter, and the budget's) checked only
NaN, so an infinite spend passed as a figure: +Inf exhausted the budget (the Campaign suspended
on it) and made roi's spend infinite, -Inf was clamped to 0 and made the treatments free. A
spend that is not finite is no data now, as a count is (``_observed``,
tests/unit/services/test_measurements_non_finite.py); a negative one is 0, per treatment (its
treated units: a negative row no longer takes another treatment's spend off).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
import yaml
from tests.unit.services.test_observed_counts import (
    _ARMS,
    SAMPLE,
    Extrapolated,
    Grouped,
    _campaign,
    _cohort_campaign,
)

from uplift_operator.adapters.prometheus import Sample
from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec
from uplift_operator.domain import measurements as m
from uplift_operator.services import measurements

NON_FINITE = [math.inf, -math.inf]
ROI = CampaignGate.model_validate({"name": "r", "type": "roi"})
ROI_BY_TREATMENT = CampaignGate.model_validate(
    {"name": "r", "type": "roi", "treatments": ["womens-e-mail", "mens-e-mail"]})


def _roi(spend: float) -> Grouped:
    return Grouped({**_ARMS, "uplift_campaign_spend_total": [({}, spend)]})


@pytest.mark.parametrize("spend", NON_FINITE)
def test_an_infinite_roi_spend_is_no_data(spend: float) -> None:
    assert isinstance(measurements.collect_campaign(ROI, _cohort_campaign(120, 30),
                                                    _roi(200.0), None), m.RoiMeasurement)
    assert measurements.collect_campaign(ROI, _cohort_campaign(120, 30), _roi(spend),
                                         None) is None


def test_a_negative_roi_spend_is_zero() -> None:
    got = measurements.collect_campaign(ROI, _cohort_campaign(120, 30), _roi(-30.0), None)
    assert isinstance(got, m.RoiMeasurement) and got.spend == 0.0


class _PerTreatment(Grouped):
    """The treated units per treatment as ``treated`` (``sum by (treatment)``); the decided
    count (the same counter, not grouped) a finite 1000 whatever they are."""

    def __init__(self, treated: dict[str, float]) -> None:
        super().__init__(_ARMS)
        self.treated = treated

    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        if "uplift_assignments_total" in promql and "by (treatment)" in promql:
            super().query(promql, time)
            return [Sample({"treatment": k}, v, 0.0) for k, v in self.treated.items()]
        return super().query(promql, time)


@pytest.mark.parametrize("units", [*NON_FINITE, math.nan])
def test_a_treatments_units_not_finite_make_its_spend_no_data(units: float) -> None:
    """Leaving the treatment out (as NaN was) would understate the spend: an roi gate passes
    on less money than was spent."""
    ctx = _cohort_campaign(120, 30)
    fine = measurements.collect_campaign(
        ROI_BY_TREATMENT, ctx, _PerTreatment({"womens_e_mail": 500.0, "mens_e_mail": 500.0}),
        None)
    assert isinstance(fine, m.RoiMeasurement)
    # 0.10 × 500 + 0.12 × 500 spent over 1000 decided, × the 750 treated in the cohorts
    assert fine.spend == pytest.approx(110.0 / 1000 * 750)
    assert measurements.collect_campaign(
        ROI_BY_TREATMENT, ctx, _PerTreatment({"womens_e_mail": 500.0, "mens_e_mail": units}),
        None) is None


def test_a_treatments_negative_units_spend_nothing_and_take_nothing_off() -> None:
    got = measurements.collect_campaign(
        ROI_BY_TREATMENT, _cohort_campaign(120, 30),
        _PerTreatment({"womens_e_mail": 1000.0, "mens_e_mail": -200.0}), None)
    assert isinstance(got, m.RoiMeasurement)
    assert got.spend == pytest.approx(0.10 * 1000 / 1000 * 750)  # not (100 − 24) / 1000 × 750


def test_an_infinite_conversion_count_weighs_no_value() -> None:
    """roi's treatments when they override the value per conversion differently, each valued
    on its own conversions: an infinite count (once ∞/∞, a NaN value) converts nothing."""
    body = yaml.safe_load(SAMPLE.read_text())["spec"]
    body["treatments"][0]["valuePerConversion"] = 100.0
    body["treatments"][1]["valuePerConversion"] = 50.0
    ctx = replace(_cohort_campaign(120, 30), spec=CampaignSpec.model_validate(body))
    prom = Grouped({
        **_ARMS,
        **{metric: [({"arm": arm, "treatment": key}, n) for arm, n in (("treated", 450.0),
                                                                          ("holdout", 50.0))
                    for key in ("womens_e_mail", "mens_e_mail")]
           for metric in ("uplift_outcomes_expected_total", "uplift_windowed_decisions_total")},
        "uplift_outcomes_converted_total": [
            ({"arm": "treated", "treatment": "womens_e_mail"}, 30.0),
            ({"arm": "treated", "treatment": "mens_e_mail"}, math.inf)]})
    got = measurements.collect_campaign(ROI, ctx, prom, None)
    assert isinstance(got, m.RoiMeasurement) and got.value_per_conversion == 75.0
    converted = {s.treatment: s.treated.conversions for s in got.strata}
    assert converted == {"womens_e_mail": 22, "mens_e_mail": 0}  # 30 × φ 0.75, ∞: none


class _Spend(Extrapolated):
    def query(self, promql: str, time: Any = None) -> Sequence[Sample]:
        if promql.startswith("last_over_time"):
            return []  # no ledger gauges: the spend counter's increase
        return super().query(promql, time)


BUDGET = CampaignGate.model_validate({"name": "b", "type": "budget"})


@pytest.mark.parametrize("spend", NON_FINITE)
def test_an_infinite_budget_spend_holds_and_suspends_nothing(spend: float) -> None:
    got = measurements.collect_campaign(
        BUDGET, _campaign(60, 30), _Spend({"uplift_campaign_spend_total": {"": spend}}), None)
    assert isinstance(got, m.NotMeasured) and got.holds
    assert "not a figure" in got.why


def test_a_negative_budget_spend_is_zero() -> None:
    got = measurements.collect_campaign(
        BUDGET, _campaign(60, 30), _Spend({"uplift_campaign_spend_total": {"": -5.0}}), None)
    assert isinstance(got, m.BudgetMeasurement) and got.spend == 0.0
