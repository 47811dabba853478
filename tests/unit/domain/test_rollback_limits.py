"""A rollback (its status message, RolledBack event and history reason) names the limit its
gate went past, before the gate's message (which may be clipped)."""

from __future__ import annotations

from tests.unit.domain.test_ramp import INC, E, F, make_spec, with_canary

from uplift_operator.domain.ramp import Decision, Reason


def _rolled_back(d: Decision) -> tuple[str, str, str]:
    event = next(e for e in d.events if e.reason is Reason.ROLLED_BACK)
    return d.status.message or "", event.message, d.status.history[-1].reason


def test_a_rollback_by_errors_names_the_errors_in_a_row_and_the_limit() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "consecutiveErrorLimit": 2}]))
    for _ in range(2):
        sim.tick(1, verdicts={"lat": E})
    d = sim.tick(1, verdicts={"lat": E})
    assert d.status.canary_version is None
    why = ("gate lat Error: no value (3 errors in a row, consecutiveErrorLimit 2 exceeded) — "
           "lat said Error")
    message, event, history = _rolled_back(d)
    assert why in event and history == why
    assert "consecutiveErrorLimit 2 exceeded" in message


def test_a_rollback_by_fails_names_the_fails_and_the_limit() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency", "failureLimit": 1}]))
    sim.tick(1, verdicts={"lat": F})
    sim.tick(1, verdicts={"lat": INC})
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version is None
    why = "gate lat Fail: no value (2 failures, failureLimit 1 exceeded) — lat said Fail"
    message, event, history = _rolled_back(d)
    assert why in event and history == why
    assert "failureLimit 1 exceeded" in message


def test_a_manual_rollback_mode_pause_names_the_limit() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual"))
    d = sim.tick(1, verdicts={"lat": F})
    assert d.status.canary_version == "2"
    assert "gate lat Fail: no value (1 failure, failureLimit 0 exceeded)" in (
        d.status.message or "")
