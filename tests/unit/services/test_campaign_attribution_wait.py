"""A Campaign's conversion gates waiting for the attribution window to close on the first
decisions they may judge: an Inconclusive that holds (``pending``), never counted towards
``inconclusiveLimit``, so a long window pauses no Campaign for a human merely for waiting."""

from __future__ import annotations

import yaml
from tests.unit.services.test_campaign import SAMPLES, Sim


def _waiting_sim() -> Sim:
    """The sample Campaign with a 2h attribution window, an analysis a minute, and only the
    conversion gates, each pausing past three Inconclusives."""
    exposure = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())["spec"]["exposure"]
    exposure.update(analysisInterval="1m", progressDeadline=None, gates=[
        {"name": "incremental", "type": "incrementalConversions", "inconclusiveLimit": 3},
        {"name": "roi", "type": "roi", "inconclusiveLimit": 3}])
    sim = Sim(exposure=exposure, schedule=None)
    sim.body["spec"]["experiment"]["attributionWindow"] = "2h"
    return sim


def test_waiting_for_the_attribution_window_never_pauses_past_inconclusive_limit() -> None:
    sim = _waiting_sim()
    sim.tick()
    for _ in range(119):  # an analysis a minute while the 2h window is open
        sim.tick(1)
        s = sim.status
        assert s["phase"] == "Progressing", s["message"]
        # The sample's budget implies a budget gate, measured (and passing) as they wait.
        assert [g["name"] for g in s["gates"]] == ["incremental", "roi", "budget"]
        for gate in s["gates"][:2]:
            assert gate["verdict"] == "Inconclusive" and gate["inconclusives"] == 0, gate
            assert "judged once their attribution window (2h) closes" in gate["message"]
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (5, 0)
    # Said once, when the wait began; nothing more while it lasts.
    said = [e for r in sim.results for e in r.events if e.reason == "GateHeld"]
    assert len(said) == 2
    assert all("not counted towards inconclusiveLimit" in e.message for e in said)
    assert not [e for r in sim.results for e in r.events if e.reason == "GateInconclusive"]
    # The window closed: the gates judge the cohorts (here: no data), and those Inconclusives
    # count; past inconclusiveLimit 3 the step is paused for a human, as before.
    for _ in range(6):
        sim.tick(1)
    s = sim.status
    assert s["phase"] == "Paused" and "inconclusiveLimit 3 exceeded" in s["message"]
    assert s["exposurePercent"] == 5
