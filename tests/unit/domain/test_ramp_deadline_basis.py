"""From when ``progressDeadline`` runs, in two cases it was counted from the wrong time.

Before any traffic (the pre-traffic analysis) the first step's pause has not begun — it runs
from ``TrafficStarted`` — but the deadline was counted from its end: a canary that never served,
with a pause of 1h and a deadline of 10m, was said stuck only at 1h10m, "since 13:00, when the
step's pause ended", and a pass was asked for at the pause's end for nothing. It runs from the
canary's deployment (``stepStartedAt``) now.

A resume was read from the published phase, which a pass that refuses the spec writes over
Paused (``services.common.invalid_pass``): paused for two hours, one invalid pass, fixed and
resumed, the ramp had no ``resumedAt`` and was said past its deadline at once. The ramp keeps
its own ``pausedAt`` now, which such a pass leaves as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.domain.test_ramp import INC, P, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain.ramp import Reason
from uplift_operator.services.common import invalid_pass


def _deployed_not_serving(**rollout: Any) -> Sim:
    sim = Sim(make_spec(steps=((10, "1h"), (50, "1h")), **rollout))
    sim.tick()  # version 1 stable
    sim.desired, sim.canary_ready = "2", False
    sim.tick()
    assert sim.status.canary_version == "2" and sim.status.canary_weight == 0
    return sim


def test_before_traffic_the_deadline_runs_from_the_canary_s_deployment() -> None:
    sim = _deployed_not_serving(progressDeadline="10m")
    deployed = sim.now
    d = sim.tick(10, outcomes=[])
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(1, outcomes=[])
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message.startswith("ProgressDeadlineExceeded: canary 2 in pre-traffic")
    said = [e for e in d.events if e.reason is Reason.PROGRESS_DEADLINE_EXCEEDED]
    assert len(said) == 1
    assert (f"could not advance for 10m since {deployed.isoformat()}, when the pre-traffic "
            "analysis began (canary is not serving yet)") in said[0].message


def test_before_traffic_the_first_step_s_pause_asks_for_no_pass() -> None:
    sim = _deployed_not_serving(progressDeadline="3h", analysisInterval="2h")
    d = sim.log[-1]
    # The next analysis (2h) comes before the deadline (3h); nothing at the pause's end (1h).
    assert d.requeue_after == dt.timedelta(hours=2)
    # Once traffic starts, the pause runs from then and its end is due.
    sim.canary_ready = True
    d = sim.tick(1)
    assert d.status.canary_weight == 10 and d.status.step_started_at == sim.now
    assert d.requeue_after == dt.timedelta(hours=1)


def _invalid(sim: Sim) -> None:
    """A pass that refused the spec, as the service writes it over the ramp's status."""
    result = invalid_pass(sim.status, 4, ["spec.rollout.gates[0].alpha: out of range"], sim.now)
    sim.status = UpliftModelStatus.model_validate(result.status)
    assert sim.status.phase is Phase.DEGRADED


def _paused_for_two_hours() -> Sim:
    sim = with_canary(make_spec(steps=((10, "5m"), (50, "5m")), progressDeadline="30m"))
    sim.tick(1, verdicts={"latency": INC, "shadow": P})
    sim.spec = make_spec(steps=((10, "5m"), (50, "5m")), progressDeadline="30m", paused=True)
    d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
    assert d.status.phase is Phase.PAUSED and d.status.paused_at == sim.now
    paused = sim.now
    for _ in range(120):
        d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
    assert d.status.paused_at == paused  # kept from when the pause began
    return sim


def test_a_resume_after_an_invalid_spec_pass_is_seen_and_the_deadline_runs_from_it() -> None:
    sim = _paused_for_two_hours()
    sim.tick(1)
    _invalid(sim)
    assert sim.status.paused_at is not None  # the refusal left the ramp's own state
    sim.spec = make_spec(steps=((10, "5m"), (50, "5m")), progressDeadline="30m")
    d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
    resumed = sim.now
    assert d.status.phase is Phase.PROGRESSING
    assert d.status.resumed_at == resumed and d.status.paused_at is None
    assert sim.reasons() == [Reason.RESUMED]
    # The deadline runs from the resume, and still catches a step stuck after it.
    d = sim.tick(30, verdicts={"latency": INC, "shadow": P})
    assert d.status.phase is Phase.PROGRESSING
    d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
    assert d.status.phase is Phase.DEGRADED
    assert f"since {resumed.isoformat()}, when the ramp resumed" in d.events[0].message


def test_a_pause_that_outlives_an_invalid_spec_pass_is_not_said_again() -> None:
    sim = _paused_for_two_hours()
    paused_at = sim.status.paused_at
    _invalid(sim)
    d = sim.tick(1, verdicts={"latency": INC, "shadow": P})  # the spec fixed, still paused
    assert d.status.phase is Phase.PAUSED and d.status.paused_at == paused_at
    assert Reason.PAUSED not in sim.reasons()


def test_a_status_written_before_paused_at_still_resumes_from_its_paused_phase() -> None:
    sim = _paused_for_two_hours()
    sim.status = sim.status.model_copy(update={"paused_at": None})  # an older operator's
    sim.spec = make_spec(steps=((10, "5m"), (50, "5m")), progressDeadline="30m")
    d = sim.tick(1, verdicts={"latency": INC, "shadow": P})
    assert d.status.resumed_at == sim.now and Reason.RESUMED in sim.reasons()
    assert Reason.PROGRESS_DEADLINE_EXCEEDED not in sim.reasons()


def test_a_gate_pause_keeps_paused_at_and_a_promote_clears_it() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                        "inconclusiveLimit": 1}]))
    sim.tick(1, verdicts={"lat": INC})
    d = sim.tick(1, verdicts={"lat": INC})
    assert d.status.phase is Phase.PAUSED and d.status.paused_at == sim.now
    sim.request("uplift.dev/promote", "step:t1")
    d = sim.tick(1)
    assert d.status.current_step == 1 and d.status.paused_at is None
    assert d.status.resumed_at == sim.now
