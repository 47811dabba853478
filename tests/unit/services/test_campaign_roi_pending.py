"""While its first cohort's attribution window is open the roi collector answers ``pending``
without asking Prometheus; the value it carries is that of the treatments the gate judges (no
conversions yet to weigh them by: their mean), never ``spec.economics.valuePerConversion`` when
each of them overrides it (then allowed to be 0, ``validation``'s ROI_VALUE rule), and the gate
holds on it (tests/unit/domain/test_roi_break_even.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.services.test_campaign_measurements import NOW, Counters, context, gate

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import gates
from uplift_operator.domain import measurements as m
from uplift_operator.services.measurements import collect_campaign


def _spec(economics_value: float, treatments: list[dict[str, Any]]) -> CampaignSpec:
    spec = context().spec
    return CampaignSpec.model_validate({
        **spec.model_dump(by_alias=True, exclude_none=True),
        "economics": {**spec.economics.model_dump(by_alias=True, exclude_none=True),
                      "valuePerConversion": economics_value},
        "treatments": treatments,
        "experiment": {**spec.experiment.model_dump(by_alias=True, exclude_none=True),
                       "attributionWindow": "14d"}})


@pytest.mark.parametrize(("judged", "value"), [(None, 100.0), (["mens-e-mail"], 90.0)])
def test_a_pending_roi_carries_the_value_of_the_treatments_it_judges(
        judged: list[str] | None, value: float) -> None:
    spec = _spec(0.0, [{"name": "womens-e-mail", "valuePerConversion": 110.0},
                       {"name": "mens-e-mail", "costPerTreatment": 0.12,
                        "valuePerConversion": 90.0}])
    roi = gate("roi", **({"treatments": judged} if judged else {}))
    since = NOW - dt.timedelta(hours=1)
    prom = Counters()
    got = collect_campaign(roi, context(spec=spec, decisions_since=since, step_started_at=since),
                           prom, None)
    assert isinstance(got, m.RoiMeasurement) and got.pending is not None
    assert got.value_per_conversion == pytest.approx(value)
    assert prom.asked == []
    outcome = gates.evaluate_gate(roi, got, None, NOW)
    assert outcome.verdict is GateVerdict.INCONCLUSIVE and outcome.holds
