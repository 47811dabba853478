"""``uplift_operator_last_abort_timestamp_seconds``: when a human last aborted a resource's ramp,
read from ``status.history`` as the last-rollback gauge is, so that the on-call "Rollbacks and
aborts" panel shows an abort handled in the first pass after an operator start or a failover
(the decision counter's series is born at 1 there, which ``increase()`` reads as none)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from uplift_operator.handlers import observability


def _sample(name: str, kind: str, resource: str, **labels: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        name, {"kind": kind, "namespace": "ns", "name": resource, **labels})


def _last_abort(kind: str, name: str) -> float | None:
    return _sample("uplift_operator_last_abort_timestamp_seconds", kind, name)


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_the_last_abort_is_read_from_the_status_history(kind: str) -> None:
    """Set from the status whenever the series is born, never from a rollback a gate decided
    nor from an abort that was ignored; gone with the entry and on forget."""
    history: list[dict[str, Any]] = [
        {"time": "2026-12-01T10:00:00Z", "action": "ManualAbort", "actor": "alice"},
        {"time": "2026-12-01T11:00:00Z", "action": "RolledBack"},
        {"time": "2026-12-01T11:30:00Z", "action": "EmergencyRollback"}]
    observability.observe_status(kind, "ns", "ab", {"phase": "Degraded", "history": history})
    assert _last_abort(kind, "ab") == 1796119200.0  # 2026-12-01T10:00:00Z
    # The rollbacks are the last-rollback gauge's, the abort is not.
    assert _sample("uplift_operator_last_rollback_timestamp_seconds", kind, "ab") == 1796124600.0
    history.append({"time": "2026-12-01T12:00:00+00:00", "action": "ManualAbort", "actor": "bob"})
    observability.observe_status(kind, "ns", "ab", {"phase": "Degraded", "history": history})
    assert _last_abort(kind, "ab") == 1796126400.0
    # An abort ignored, as operators before RequestIgnored recorded it: no abort.
    ignored = {"time": "2026-12-01T12:30:00Z", "action": "ManualAbort",
               "reason": "ignored: no canary to abort"}
    observability.observe_status(kind, "ns", "ab", {"phase": "Degraded",
                                                    "history": [*history, ignored]})
    assert _last_abort(kind, "ab") == 1796126400.0
    observability.observe_status(kind, "ns", "ab", {"phase": "Degraded", "history": history[1:3]})
    assert _last_abort(kind, "ab") is None  # evicted from the bounded history: no series
    observability.observe_status(kind, "ns", "ab", {"phase": "Degraded", "history": history})
    assert _last_abort(kind, "ab") is not None
    observability.forget(kind, "ns", "ab")
    assert _last_abort(kind, "ab") is None
    assert _sample("uplift_operator_last_rollback_timestamp_seconds", kind, "ab") is None


def test_an_abort_in_the_first_pass_after_a_start_is_exported_with_its_time() -> None:
    """A canary aborted by hand (the real ramp's history entry) in the first pass this process
    makes of the model: the decision counter's ManualAbort series exists only from that pass,
    at 1, while the gauge holds the abort's time, as a replica taking over reads it from the
    status in its first pass too."""
    from tests.unit.domain.test_ramp import make_spec, with_canary

    from uplift_operator.handlers import upliftmodel

    sim = with_canary(make_spec())
    sim.passing(1)
    sim.request("uplift.dev/abort", "t1")
    aborted = sim.tick(1)
    entry = aborted.status.history[-1]
    assert entry.action == "ManualAbort" and not entry.reason.startswith("ignored")
    observability.forget("UpliftModel", "ns", "first")  # as a started process has nothing
    assert _sample("uplift_operator_decisions_total", "UpliftModel", "first",
                   action="ManualAbort") is None
    observe = partial(upliftmodel._observe, spec=sim.spec.to_wire())
    observe("ns", "first", aborted.status.to_wire())
    assert _last_abort("UpliftModel", "first") == entry.time.timestamp()
    # A later pass, no new abort: the same time (what the panel reads stays as it was).
    observe("ns", "first", sim.tick(5).status.to_wire())
    assert _last_abort("UpliftModel", "first") == entry.time.timestamp()
    observability.forget("UpliftModel", "ns", "first")
    assert _last_abort("UpliftModel", "first") is None
