"""What a pass measured and what it was asked by hand, in the same pass: neither is lost, and
the status is what those observations say (a pass run again on it changes nothing)."""

from __future__ import annotations

import datetime as dt

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome, Suspension
from uplift_operator.domain.requests import parse_requests

from .test_exposure import ANCHOR, BUDGET_SPEC, SERVING, T0


def _spent(now: dt.datetime) -> GateOutcome:
    return GateOutcome(name="budget", verdict=GateVerdict.FAIL, message="m", time=now,
                       value=5200.0, threshold=5000.0, suspension=Suspension(None, "spent"))


def _observed(**kwargs: object) -> exposure.Observed:
    return exposure.Observed(model=SERVING, budget_anchor=ANCHOR, generation=1,
                             **kwargs)  # type: ignore[arg-type]


def test_a_full_promote_keeps_the_budget_fail_measured_in_the_same_pass() -> None:
    start = exposure.decide(BUDGET_SPEC, CampaignStatus(), _observed(), T0).status
    now = T0 + dt.timedelta(minutes=6)
    promoted = exposure.decide(BUDGET_SPEC, start, _observed(
        gate_outcomes=[_spent(now)], requests=parse_requests({"uplift.dev/promote": "full:1"})),
        now)
    s = promoted.status
    # The promote is done (the completed ramp's 100 % held aside), and the spend suspends it:
    # never Healthy and treating at 100 % until the next pass.
    assert (s.phase, s.exposure_percent, s.suspended_exposure_percent, s.current_step) == (
        Phase.SUSPENDED, 0, 100, None)
    assert not exposure.treating(s)
    assert [(g.name, g.verdict) for g in s.gates] == [("budget", GateVerdict.FAIL)]
    assert [e.reason.value for e in promoted.events] == [
        "ManualPromote", "RampCompleted", "BudgetExhausted"]
    # Run again on its own output, nothing new observed: the same status.
    again = exposure.decide(BUDGET_SPEC, s, _observed(
        requests=parse_requests({"uplift.dev/promote": "full:1"})), now)
    assert again.status == s and again.events == ()
