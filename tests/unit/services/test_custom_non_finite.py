"""A custom gate's query answered as ±Inf (a division by 0 in the query) is never compared with
the gate's ``min``/``max``: the collector passes the value on (NaN and no answer are no data
there) and the evaluator judges a value that is not finite Inconclusive ("query returned no
finite value"), for either kind's custom gate. Without that check +Inf failed every ``max`` and
-Inf passed it."""

from __future__ import annotations

import math
from typing import Any

import pytest
from tests.unit.services.test_observed_counts import NOW, _campaign, _ctx

from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate
from uplift_operator.domain import gates
from uplift_operator.services import measurements


class _Answer:
    def __init__(self, value: float) -> None:
        self.value = value

    def scalar(self, promql: str, time: Any = None) -> float | None:
        return self.value

    def query(self, promql: str, time: Any = None) -> list[Any]:
        raise AssertionError(promql)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
@pytest.mark.parametrize("bounds", [{"max": 1.0}, {"min": 0.0}, {"min": 0.0, "max": 1.0}])
def test_an_infinite_custom_value_is_never_compared(value: float,
                                                    bounds: dict[str, float]) -> None:
    body = {"name": "c", "type": "custom", "query": "sum(x) / sum(y)", **bounds}
    model_gate = ModelGate.model_validate(body)
    got = measurements.collect(model_gate, _ctx(60, 0), _Answer(value), None)
    judged = gates.evaluate_gate(model_gate, got, None, NOW)
    assert judged.verdict is GateVerdict.INCONCLUSIVE
    assert "no finite value" in judged.message
    campaign_gate = CampaignGate.model_validate(body)
    got = measurements.collect_campaign(campaign_gate, _campaign(60, 0), _Answer(value), None)
    judged = gates.evaluate_gate(campaign_gate, got, None, NOW)
    assert judged.verdict is GateVerdict.INCONCLUSIVE
    assert "no finite value" in judged.message
