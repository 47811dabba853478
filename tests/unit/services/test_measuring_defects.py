"""A pass whose measuring raises unexpectedly (an operator defect, not an outage) still acts on
abort and emergency-rollback requests, and shows the failure as each gate's Error naming the
exception, for both kinds (on-call review §1: a crashing drift gate made `kubectl uplift
abort` a no-op while the canary kept its traffic)."""

from __future__ import annotations

import pytest
from tests.unit.services import test_campaign as campaign_sim
from tests.unit.services.test_upliftmodel import PROBE, Sim, reasons

from uplift_operator.services import campaign, upliftmodel


def _boom(*_: object, **__: object) -> None:
    raise ZeroDivisionError("float division by zero")


@pytest.mark.parametrize("annotation", ["uplift.dev/abort", "uplift.dev/emergency-rollback"])
def test_an_upliftmodel_whose_measuring_raises_still_acts_on_a_stop_request(
        monkeypatch: pytest.MonkeyPatch, annotation: str) -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    monkeypatch.setattr(upliftmodel, "_analyse", _boom)
    sim.tick(61)  # an analysis is due: it raises, the pass goes on
    gate = next(g for g in sim.status["gates"] if g["name"] == "probe")
    assert gate["verdict"] == "Error"
    assert "gate probe could not be measured" in gate["message"]
    assert "ZeroDivisionError" in gate["message"]
    assert sim.weights() == {"1": 90, "2": 10}
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(61)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["abortedVersion"] == "2"
    assert sim.status["handledRequests"] == {annotation: "now"}
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")


@pytest.mark.parametrize(("annotation", "reason"), [("uplift.dev/abort", "ManualAbort"),
                                                    ("uplift.dev/emergency-rollback",
                                                     "EmergencyRollback")])
def test_a_campaign_whose_measuring_raises_still_acts_on_a_stop_request(
        monkeypatch: pytest.MonkeyPatch, annotation: str, reason: str) -> None:
    sim = campaign_sim.Sim()
    sim.tick()
    monkeypatch.setattr(campaign, "_measure", _boom)
    sim.tick(5)  # the first analysis (interval 5m) raises, the pass goes on
    verdicts = {g["name"]: (g["verdict"], g["message"]) for g in sim.status["gates"]}
    assert verdicts and all(v == "Error" and "ZeroDivisionError" in m and f"gate {n} could "
                            "not be measured" in m for n, (v, m) in verdicts.items())
    sim.annotate(annotation, "t1")
    result = sim.tick(5)
    assert (sim.status["exposurePercent"], sim.status["phase"]) == (0, "Degraded")
    assert reason in reasons(result)
    assert sim.status["handledRequests"] == {annotation: "t1"}
