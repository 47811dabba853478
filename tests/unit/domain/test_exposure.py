"""domain.exposure: the Campaign's ramp on the shared step machine, as properties over random runs.

The table tests of the Campaign pass are in tests/unit/services/test_campaign.py; here, random
sequences of passes (model serving or not, gate verdicts, time, manual requests) check what must
hold whatever happens: exposure is 0 or a step's percent, it only goes down to 0 (a rollback, a
withdrawal), 0 % is never Healthy, and a pass re-run on its own output changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uplift_operator.api.v1alpha1.campaign import Campaign, CampaignStatus, Schedule
from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.domain import exposure
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import parse_requests

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
SPEC = Campaign.model_validate(yaml.safe_load(SAMPLE.read_text())).spec
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SERVING = exposure.ModelObservation("m", True, "3", serving=True, why="serves version 3")
GONE = exposure.ModelObservation("m", False, why="UpliftModel 'm' not found")

_pass = st.fixed_dictionaries({
    "minutes": st.sampled_from([0, 1, 5, 30, 61, 400]),
    "serving": st.booleans(),
    "verdict": st.sampled_from([None, GateVerdict.PASS, GateVerdict.PASS, GateVerdict.FAIL,
                                GateVerdict.INCONCLUSIVE]),
    "request": st.sampled_from([None, None, None, ("uplift.dev/promote", "step"),
                                ("uplift.dev/abort", "x"), ("uplift.dev/retry", "y")]),
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pass, min_size=1, max_size=25))
def test_exposure_invariants(passes: list[dict[str, object]]) -> None:
    status, now, previous = CampaignStatus(), T0, 0.0
    steps = {s.percent for s in SPEC.exposure.steps}
    annotations: dict[str, str] = {}
    for index, p in enumerate(passes):
        now += dt.timedelta(minutes=float(p["minutes"]))  # type: ignore[arg-type]
        if p["request"] is not None:
            key, value = p["request"]  # type: ignore[misc]
            annotations[key] = f"{value}-{index}" if key != "uplift.dev/promote" else value
        outcomes = None
        if p["verdict"] is not None and exposure.analysis_due(SPEC, status, now):
            outcomes = [GateOutcome(name=g.name, verdict=p["verdict"], message="m", time=now)  # type: ignore[arg-type]
                        for g in SPEC.exposure.gates]
        observed = exposure.Observed(model=SERVING if p["serving"] else GONE,
                                     gate_outcomes=outcomes, requests=parse_requests(annotations),
                                     generation=1)
        decision = exposure.decide(SPEC, status, observed, now)
        status = decision.status
        level = status.exposure_percent
        assert level == 0 or level in steps
        assert level >= previous or level == 0, (previous, level)
        assert not (level == 0 and status.phase is Phase.HEALTHY)
        if not p["serving"]:
            assert level == 0 and status.current_step is None
        again = exposure.decide(SPEC, status, observed, now)
        assert again.events == () and again.status == status
        previous = level


@pytest.mark.parametrize(("phase", "percent", "deleting", "active"), [
    (Phase.PROGRESSING, 5, False, True),
    (Phase.HEALTHY, 100, False, True),
    (Phase.PAUSED, 25, False, True),  # a pause holds the exposure, it does not stop treating
    (Phase.PROGRESSING, 0, False, False),
    (Phase.SUSPENDED, 0, False, False),
    (Phase.COMPLETED, 0, False, False),
    (Phase.DEGRADED, 0, False, False),
    (Phase.DEGRADED, 25, False, False),  # an invalid spec edit: nothing sent on a refused spec
    (None, 25, False, False),
    (Phase.HEALTHY, 100, True, False),  # being deleted
])
def test_treating_is_the_files_active(phase: Phase | None, percent: float, deleting: bool,
                                      active: bool) -> None:
    status = CampaignStatus(phase=phase, exposure_percent=percent)
    assert exposure.treating(status, deleting=deleting) is active


@pytest.mark.parametrize(("schedule", "now", "expected"), [
    ({}, T0, None),
    ({"start": "2026-12-02T00:00:00Z"}, T0, (False, "2026-12-02T00:00:00+00:00")),
    ({"start": "2026-12-01T00:00:00Z"}, T0, None),  # from its start on, inclusive
    ({"end": "2026-12-01T00:00:00Z"}, T0, (True, "2026-12-01T00:00:00+00:00")),  # end exclusive
    ({"start": "2026-11-01T00:00:00", "end": "2026-12-01T00:00:01Z"}, T0, None),  # naive = UTC
])
def test_outside_schedule_with_time_passed_in(schedule: dict[str, str], now: dt.datetime,
                                              expected: tuple[bool, str] | None) -> None:
    outside = exposure.outside_schedule(Schedule.model_validate(schedule), now)
    assert (None if outside is None else (outside.ended, outside.at.isoformat())) == expected
