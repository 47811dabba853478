"""A status time edited by hand without an offset: the pass reads it as UTC and goes on (it
used to raise on every pass, so an abort or a rollback was never acted on)."""

from __future__ import annotations

from tests.unit.services.test_campaign import Sim, reasons


def test_a_naive_status_time_neither_stops_the_pass_nor_the_kill_switch() -> None:
    sim = Sim(schedule=None)
    sim.tick()
    sim.tick(6)
    sim.body["status"]["stepStartedAt"] = "2026-12-01T12:00:00"  # hand-edited, no offset
    result = sim.tick(6)
    assert sim.status["phase"] == "Progressing"
    assert sim.status["stepStartedAt"] == "2026-12-01T12:00:00Z"
    sim.body["status"]["stepStartedAt"] = "2026-12-01T12:00:00"
    sim.annotate("uplift.dev/abort", "x1")
    result = sim.tick(1)
    assert reasons(result) == ["ManualAbort"]
    assert (sim.status["phase"], sim.status["exposurePercent"]) == ("Degraded", 0)
