"""Every message that tells a human to promote, abort or retry names a request that works.

The hints read "`kubectl uplift abort m1` (or annotate uplift.dev/abort=<token>)": each site is
driven to its message through ``decide``, and every command and annotation it suggests is
checked against what acts on it — the plugin's verbs and targets (``plugin.kubectl_uplift``),
and ``domain.requests.parse_requests`` for the annotation with ``<token>`` filled in (a bare
``uplift.dev/abort`` or ``uplift.dev/promote=true`` is no request at all). The UpliftModel sites run through
``test_ramp.Sim``, which checks each pass's message is the same when the pass is run again.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from tests.unit.domain.test_exposure_stops_at_zero import SERVING, SPEC, T0
from tests.unit.domain.test_ramp import INC, F, Sim, make_spec, with_canary
from tests.unit.domain.test_ramp_canary_not_serving import at_fifty_percent
from tests.unit.domain.test_ramp_restore import restoring

from uplift_operator.api.v1alpha1.campaign import CampaignGate, CampaignSpec, CampaignStatus
from uplift_operator.api.v1alpha1.common import GateVerdict
from uplift_operator.domain import exposure, ramp
from uplift_operator.domain.canary import ROLE_ROLLED_BACK, RecordedRoles
from uplift_operator.domain.gates import GateOutcome
from uplift_operator.domain.requests import RequestKind, parse_requests
from uplift_operator.plugin import kubectl_uplift

MODEL, CAMPAIGN = "m1", "spring"
KINDS = {"promote": RequestKind.PROMOTE, "abort": RequestKind.ABORT, "retry": RequestKind.RETRY}
_HINT = re.compile(r"`kubectl uplift ([a-z|]+) ([^`]+)` \(or annotate (?:one of )?([^)]+)\)")


def named(sim: Sim) -> Sim:
    sim.name = MODEL
    return sim


def model_manual_rollback() -> str:
    sim = named(with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}],
                                      rollback="Manual")))
    return sim.tick(1, verdicts={"lat": F}).status.message


def model_rollback_held() -> str:
    sim = named(with_canary(make_spec(steps=[(10, "5m"), (50, "5m"), (75, "5m")],
                                      gates=[{"name": "drift", "type": "drift"}])))
    sim.passing(1)
    sim.passing(5)
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    sim.tick(1)
    return sim.tick(1, verdicts={"drift": F}).status.message


def model_inconclusive() -> str:
    sim = named(with_canary(make_spec(gates=[{"name": "lat", "type": "latency",
                                              "inconclusiveLimit": 1}])))
    sim.tick(1, verdicts={"lat": INC})
    return sim.tick(1, verdicts={"lat": INC}).status.message


def model_no_pause() -> str:
    sim = named(with_canary(make_spec(steps=[(10, None), (50, "5m")])))
    return sim.passing(1).status.message


def model_retry_ignored() -> str:
    sim = named(with_canary())
    sim.passing(1)
    sim.request(ramp.RETRY_ANNOTATION, "t1")
    [event] = sim.passing(1).events
    return event.message


def model_recreated_rolled_back() -> str:
    sim = named(Sim(make_spec()))
    d = ramp.decide(sim.spec, sim.status, ramp.Observed(
        desired_version="2", stable_ready=True, canary_ready=False, generation=3, name=MODEL,
        recorded=RecordedRoles(desired_role=ROLE_ROLLED_BACK, stable="1")), sim.now)
    [event] = [e for e in d.events if e.reason is ramp.Reason.ROLLED_BACK]
    return event.message


def model_back_at_stable_held() -> str:
    sim = named(with_canary())
    sim.passing(1)
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    sim.tick(1)
    sim.desired = "1"
    return sim.tick(1).status.message


def model_restore_withdrawal() -> str:
    sim = named(restoring())
    return sim.tick(0.5).status.message


def model_rolled_back() -> str:
    sim = named(with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}])))
    sim.tick(1, verdicts={"lat": F})
    return sim.tick(1).status.message


def model_not_serving_manual() -> str:
    sim = named(at_fifty_percent(rollback="Manual"))
    sim.canary_ready = False
    sim.tick(1)
    return sim.tick(5).status.message


def _campaign(spec: CampaignSpec, status: CampaignStatus, minutes: float, verdict: GateVerdict,
              annotations: dict[str, str] | None = None) -> CampaignStatus:
    now = T0 + dt.timedelta(minutes=minutes)
    return exposure.decide(spec, status, exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN,
        requests=parse_requests(annotations or {}), gate_outcomes=[
            GateOutcome(name="lift", verdict=verdict, message="m", time=now)]), now).status


def _lift_gate(rollback: str, **gate: object) -> CampaignSpec:
    return SPEC.model_copy(update={
        "exposure": SPEC.exposure.model_copy(update={"gates": [CampaignGate.model_validate(
            {"name": "lift", "type": "incrementalConversions", **gate})]}),
        "rollback": SPEC.rollback.model_copy(update={"mode": rollback})})


def campaign_inconclusive() -> str:
    spec = _lift_gate("Automatic", inconclusiveLimit=1)
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN), T0).status
    for minute in (6, 12, 18):
        status = _campaign(spec, status, minute, GateVerdict.INCONCLUSIVE)
    return status.message


def campaign_manual_rollback() -> str:
    spec = _lift_gate("Manual")
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN), T0).status
    return _campaign(spec, status, 6, GateVerdict.FAIL).message


def campaign_rolled_back() -> str:
    spec = _lift_gate("Automatic")
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN), T0).status
    status = _campaign(spec, status, 6, GateVerdict.PASS, {"uplift.dev/abort": "t1"})
    return _campaign(spec, status, 7, GateVerdict.PASS, {"uplift.dev/abort": "t1"}).message


# (site, how its message comes about, the verbs it must offer, in its order)
SITES: list[tuple[str, Callable[[], str], tuple[str, ...]]] = [
    ("Manual rollback pending", model_manual_rollback, ("abort", "promote")),
    ("automatic rollback held", model_rollback_held, ("abort",)),
    ("inconclusiveLimit", model_inconclusive, ("promote", "retry", "abort")),
    ("step without a pause", model_no_pause, ("promote",)),
    ("retry of a canary that goes on", model_retry_ignored, ("abort",)),
    ("re-created, tagged rolled-back", model_recreated_rolled_back, ("retry",)),
    ("spec back at a stable down", model_back_at_stable_held, ("abort",)),
    ("emergency restore", model_restore_withdrawal, ("retry",)),
    ("rolled back", model_rolled_back, ("retry",)),
    ("canary not serving, Manual", model_not_serving_manual, ("abort",)),
    ("campaign inconclusiveLimit", campaign_inconclusive, ("promote", "abort")),
    ("campaign Manual rollback pending", campaign_manual_rollback, ("abort", "promote")),
    ("campaign rolled back", campaign_rolled_back, ("retry",)),
]


@pytest.mark.parametrize(("make", "verbs"), [(make, verbs) for _, make, verbs in SITES],
                         ids=[site for site, _, _ in SITES])
def test_each_hint_names_commands_and_annotations_that_act(make: Callable[[], str],
                                                           verbs: tuple[str, ...]) -> None:
    message = make()
    hints = _HINT.findall(message)
    assert len(hints) == 1, message
    [(said_verbs, target, annotations)] = hints
    assert tuple(said_verbs.split("|")) == verbs, message
    assert set(verbs) <= set(kubectl_uplift.VERBS)
    campaign = make.__name__.startswith("campaign")
    assert target == (f"campaign/{CAMPAIGN}" if campaign else MODEL)
    # The plugin reads the target as the right kind (NAME alone is an UpliftModel).
    assert kubectl_uplift._target(target) == (("campaign", CAMPAIGN) if campaign
                                              else ("upliftmodel", MODEL))
    # No other annotation is named without a value.
    assert re.findall(r"annotate (?:one of )?uplift\.dev/[a-z]+\b(?!=)", message) == []
    asked = [a.split("=", 1) for a in annotations.split(", ")]
    assert [key for key, _ in asked] == [f"uplift.dev/{verb}" for verb in verbs], message
    for verb, (key, value) in zip(verbs, asked, strict=True):
        assert "<token>" in value  # a fresh token asks again
        [request] = parse_requests({key: value.replace("<token>", "2026-12-07T10:00:00Z")})
        assert request.kind is not RequestKind.UNRECOGNISED, request.problem
        assert request.kind is KINDS[verb]
