"""Manual requests and hand-edited statuses a pass must survive: a retry annotation present
before anything is stable, a canary with no stable version. Driven through ``reconcile`` with
the fakes of ``test_upliftmodel.Sim``."""

from __future__ import annotations

from tests.unit.services.test_upliftmodel import SELDON, Sim, reasons


def test_a_retry_annotation_present_at_creation_is_ignored_and_the_first_version_serves() -> None:
    sim = Sim()
    sim.body["metadata"]["annotations"] = {"uplift.dev/retry": "2026-11-30T10:00:00Z"}
    first = sim.tick()
    assert [(e.type, e.reason) for e in first.events][:1] == [("Warning", "Retry")]
    assert "nothing is stable yet" in first.events[0].message
    for seconds in (1, 30, 61, 61):  # analyses would be due by now, had a canary started
        sim.tick(seconds)
    assert (sim.status["stableVersion"], sim.status.get("canaryVersion")) == ("1", None)
    assert SELDON in sim.cluster.objects and sim.weights() == {"1": 100}
    assert sim.status["phase"] == "Healthy"
    assert reasons(sim.results[-1]) == []


def test_a_canary_without_a_stable_version_is_not_analysed() -> None:
    sim = Sim()
    sim.with_canary()
    del sim.body["status"]["stableVersion"]  # edited by hand
    for _ in range(2):
        sim.tick(61)  # an analysis is due: skipped rather than failing the pass
    assert sim.status.get("canaryVersion") == "2"
