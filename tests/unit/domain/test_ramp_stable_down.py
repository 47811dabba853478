"""A stable version that served and stops serving is Degraded, with the backend's words, told
once (Warning) and once more when it serves again (Normal); a version that never served is
waited for (Progressing). Ready stays WaitingForServing, so a Campaign already exposing holds."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import Sim, assert_idempotent, make_spec, ready, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import exposure, ramp
from uplift_operator.domain.canary import says_stable_down
from uplift_operator.domain.ramp import Decision, Observed, decide
from uplift_operator.domain.steps import Reason

FAILURE = ("stable 1 not serving: SeldonDeployment Failed: Deployment churn-v1 has no available "
           "replicas (ImagePullBackOff)")


def tick(sim: Sim, minutes: float, *, stable_ready: bool, failure: str | None = None) -> Decision:
    """One pass of ``sim`` with the stable's readiness and the backend's failure as given."""
    sim.now += dt.timedelta(minutes=minutes)
    observed = Observed(desired_version=sim.desired, stable_ready=stable_ready,
                        canary_ready=sim.canary_ready, generation=3,
                        requests=ramp.parse_requests(sim.annotations), serving_failure=failure)
    decision = decide(sim.spec, sim.status, observed, sim.now)
    assert_idempotent(sim.spec, decision, observed, sim.now)
    sim.status = decision.status
    return decision


def told(decision: Decision) -> list[tuple[str, Reason, bool]]:
    return [(e.type, e.reason, e.decision) for e in decision.events]


def test_a_first_version_that_never_served_is_waited_for_not_degraded() -> None:
    sim = Sim(make_spec())
    d = tick(sim, 0, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.PROGRESSING
    assert d.status.message == "waiting for stable version 1 to serve"
    d = tick(sim, 60, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.PROGRESSING and told(d) == []


def test_a_healthy_stable_that_stops_serving_is_degraded_with_the_backends_words() -> None:
    sim = Sim(make_spec())
    assert sim.tick().status.phase is Phase.HEALTHY
    d = tick(sim, 60, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message == f"stable version 1 does not serve any more: {FAILURE}"
    assert ready(d.status) == ("False", "WaitingForServing")  # Campaigns exposing hold on
    assert told(d) == [("Warning", Reason.STABLE_NOT_SERVING, False)]
    assert d.events[0].message == d.status.message
    # Told once: the next passes stay Degraded, silently (a new failure text is the
    # ServingFailed event's to tell).
    d = tick(sim, 5, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.DEGRADED and told(d) == []
    d = tick(sim, 5, stable_ready=False)
    assert d.status.phase is Phase.DEGRADED and told(d) == []
    assert d.status.message == ("stable version 1 does not serve any more: no replica of its "
                                "predictor is available, and the serving backend reports no "
                                "failure (look at its pods)")
    d = tick(sim, 5, stable_ready=True)
    assert d.status.phase is Phase.HEALTHY and ready(d.status) == ("True", "StableServing")
    assert told(d) == [("Normal", Reason.STABLE_SERVING, False)]
    assert d.events[0].message == "stable version 1 serves again"


def test_campaigns_already_exposing_hold_through_it_and_others_see_the_model_degraded() -> None:
    sim = Sim(make_spec())
    sim.tick()
    status = tick(sim, 60, stable_ready=False).status
    held = exposure.model_observation("churn", status, exposing=True)
    assert held.serving and held.stable_version == "1"
    waiting = exposure.model_observation("churn", status, exposing=False)
    assert not waiting.serving and waiting.degraded
    assert "does not serve any more" in waiting.why


def test_the_status_says_it_until_the_stable_serves_again() -> None:
    sim = Sim(make_spec())
    sim.tick()
    for stable_ready in (False, True):
        s = tick(sim, 5, stable_ready=stable_ready).status
        [r] = [c for c in s.conditions if c.type == "Ready"]
        assert says_stable_down(s.stable_version, r.reason, r.message) is (not stable_ready)
    assert not says_stable_down("2", "WaitingForServing",
                                "stable version 1 does not serve any more: ...")
    assert not says_stable_down("1", "StableServing", "stable version 1 does not serve any more")


def test_a_stable_down_during_a_canary_ramp_degrades_it_after_the_ramps_own_words() -> None:
    sim = with_canary()
    assert sim.passing(1).status.phase is Phase.PROGRESSING
    d = tick(sim, 1, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message.startswith("canary 2 at step 1/3 (10%): ")
    assert d.status.message.endswith(f"; stable version 1 does not serve any more: {FAILURE}")
    assert (d.status.canary_version, d.status.canary_weight) == ("2", 10)  # the ramp holds on
    assert told(d) == [("Warning", Reason.STABLE_NOT_SERVING, False)]
    d = tick(sim, 1, stable_ready=True)
    assert d.status.phase is Phase.PROGRESSING
    assert told(d) == [("Normal", Reason.STABLE_SERVING, False)]


def test_a_rolled_back_model_no_longer_says_its_stable_serves_when_it_does_not() -> None:
    sim = with_canary()
    sim.request("uplift.dev/abort", "t1")
    d = sim.tick(1)
    assert d.status.phase is Phase.DEGRADED and "stable 1 serves" in d.status.message
    d = tick(sim, 1, stable_ready=False, failure=FAILURE)
    assert d.status.phase is Phase.DEGRADED
    assert "version 2 was rolled back" in d.status.message
    assert f"stable version 1 does not serve any more: {FAILURE}" in d.status.message
    assert "stable 1 serves" not in d.status.message
    assert told(d) == [("Warning", Reason.STABLE_NOT_SERVING, False)]

