"""A budget the operator cannot read (no Prometheus configured, Prometheus out of reach, no
spend series yet) holds the campaign's budget gate, declared or implied by
``spec.economics.budget``: never an Error counted towards a rollback, since the spend is the
period's money, not the model's doing. The reviewer's scenario (review-domain finding 2): a
deliveryRate gate that tolerates 50 Errors, a budget, and an operator without --prometheus-url,
was rolled back by the implied budget gate's fifth Error."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from tests.unit.services.test_campaign import SAMPLES, CampaignMetrics, Sim, reasons


@pytest.mark.parametrize("declared", [False, True])
def test_a_budget_without_prometheus_holds_and_never_rolls_back(declared: bool) -> None:
    exposure_spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure_spec["gates"] = [{"name": "delivery", "type": "deliveryRate",
                               "consecutiveErrorLimit": 50},
                              *([{"name": "money", "type": "budget"}] if declared else [])]
    sim = Sim(exposure=exposure_spec)
    assert sim.body["spec"]["economics"]["budget"] == 5000  # the sample's
    sim.deps = dataclasses.replace(sim.deps, prometheus=None)
    budget_gate = "money" if declared else "budget"
    sim.tick()
    said: list[str] = []
    for _ in range(12):  # an hour of analyses, far past the budget gate's limit (4)
        said += reasons(sim.tick(5))
    s = sim.status
    assert "RolledBack" not in said
    assert (s["phase"], s["exposurePercent"], s["currentStep"]) == ("Progressing", 5, 0)
    by_name = {g["name"]: g for g in s["gates"]}
    assert by_name[budget_gate]["verdict"] == "Error"
    assert "no Prometheus configured" in by_name[budget_gate]["message"]
    assert not by_name[budget_gate].get("consecutiveErrors")  # held, not counted
    assert by_name["delivery"]["consecutiveErrors"] == 12  # its own tolerance decides for it
    # Said once each: the budget gate's hold, the delivery gate's first Error.
    assert sorted(said) == ["GateErrored", "GateHeld"]


def test_no_spend_series_yet_holds_the_budget_gate_without_counting_an_inconclusive() -> None:
    exposure_spec = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure_spec["gates"] = [{"name": "budget", "type": "budget", "inconclusiveLimit": 1}]
    sim = Sim(exposure=exposure_spec)
    metrics = sim.deps.prometheus
    assert isinstance(metrics, CampaignMetrics)
    metrics.spend = None  # the runtime exports no spend series (yet)
    sim.tick()
    said: list[str] = []
    for _ in range(6):
        said += reasons(sim.tick(5))
    s = sim.status
    gate = next(g for g in s["gates"] if g["name"] == "budget")
    assert (gate["verdict"], gate.get("inconclusives", 0)) == ("Inconclusive", 0)
    assert "no spend series" in gate["message"]
    assert s["phase"] == "Progressing", s["message"]  # not Paused by inconclusiveLimit 1
    assert "no collector" not in s["message"]  # a hold, not a gate type nothing measures
    assert said == ["GateHeld"]
