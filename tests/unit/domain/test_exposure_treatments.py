"""``domain.exposure`` and a served model version that does not score a Campaign's treatment
(``missing_treatments``, ``Observed.treatment_not_served``): held where it is, said once."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_exposure import SERVING, SPEC, T0

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.requests import parse_requests

NO_SCHEDULE = SPEC.model_copy(update={"schedule": None})  # womens-e-mail, mens-e-mail


def test_a_treatment_is_matched_as_the_runtime_binds_it() -> None:
    # By name, by key, or by the key of its name; anything else is missing.
    for scored in ({"w": "womens-e-mail", "m": "mens-e-mail"},
                   {"womens-e-mail": "Womens", "mens-e-mail": "Mens"},
                   {"womens_e_mail": "Womens E-Mail", "mens_e_mail": "Mens E-Mail"}):
        assert exposure.missing_treatments(NO_SCHEDULE, "m", "3", scored) is None
    why = exposure.missing_treatments(NO_SCHEDULE, "m", "3", {"sms": "SMS"})
    assert why is not None and why.startswith(
        "UpliftModel 'm' serves version 3, which does not score treatments 'womens-e-mail' "
        "(spec.treatments[0]), 'mens-e-mail' (spec.treatments[1]); version 3 scores: SMS (sms).")


def _decide(status: CampaignStatus, now: dt.datetime, why: str | None,
            requests: dict[str, str] | None = None) -> exposure.Decision:
    observed = exposure.Observed(model=SERVING, generation=1, treatment_not_served=why,
                                 requests=parse_requests(requests or {}))
    return exposure.decide(NO_SCHEDULE, status, observed, now)


def _ready_reason(status: CampaignStatus) -> str:
    return next(c.reason for c in status.conditions if c.type == "Ready")


def test_a_held_step_past_its_deadline_keeps_treating() -> None:
    started = _decide(CampaignStatus(), T0, None).status
    why = "version 3 does not score it"
    held = _decide(started, T0 + dt.timedelta(minutes=1), why)
    assert [(e.type, e.reason.value) for e in held.events] == [("Warning", "TreatmentNotServed")]
    assert not held.events[0].decision  # nothing was decided
    again = _decide(held.status, T0 + dt.timedelta(minutes=1), why)
    assert again.events == () and again.status == held.status
    # The sample's step 1: 1h pause, 1d deadline (the conversion gates' 14d window first).
    late = _decide(held.status, T0 + dt.timedelta(days=16), why).status
    assert (late.phase, late.exposure_percent, _ready_reason(late)) == (
        Phase.DEGRADED, 5, "TreatmentNotServed")
    assert "resolve what refuses a promote now (version 3 does not score it)" in late.message
    assert exposure.treating(late)


def test_a_completed_ramp_is_degraded_but_keeps_its_exposure() -> None:
    started = _decide(CampaignStatus(), T0, None).status
    done = _decide(started, T0 + dt.timedelta(minutes=1), None,
                   {"uplift.dev/promote": "full"}).status
    assert (done.phase, done.exposure_percent) == (Phase.HEALTHY, 100)
    held = _decide(done, T0 + dt.timedelta(minutes=2), "version 3 does not score it").status
    assert (held.phase, held.exposure_percent, _ready_reason(held)) == (
        Phase.DEGRADED, 100, "TreatmentNotServed")
    assert held.message == ("exposure ramp complete at 100%, held: version 3 does not score it")
    assert exposure.treating(held)
    back = _decide(held, T0 + dt.timedelta(minutes=3), None).status
    assert (back.phase, _ready_reason(back)) == (Phase.HEALTHY, "Exposing")
