"""Every message that tells a human to promote, abort or retry names a request that works.

The hints read "`kubectl uplift abort -n team-a m1` (or annotate --overwrite
uplift.dev/abort=$(date +%s))": each site is driven to its message through ``decide``, and every
command and annotation it suggests is checked against what acts on it — each command as a shell
splits it, through the plugin's own argument parser and target rule (``plugin.kubectl_uplift``:
the verb, the kind and name, and the object's namespace, since the plugin otherwise uses the
kubeconfig context's), and ``domain.requests.parse_requests`` for the annotation with its
``$(date +%s)`` expanded (a bare ``uplift.dev/abort`` or ``uplift.dev/promote=true`` is no
request at all). The UpliftModel sites run through ``test_ramp.Sim``, which checks each pass's
message is the same when the pass is run again.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
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

MODEL, CAMPAIGN, NAMESPACE = "m1", "spring", "team-a"
KINDS = {"promote": RequestKind.PROMOTE, "abort": RequestKind.ABORT, "retry": RequestKind.RETRY}
_COMMAND = r"`kubectl uplift [^`]+`"
_ANNOTATION = r"uplift\.dev/[a-z]+=[a-z:]*\$\(date \+%s\)"
_HINT = re.compile(rf"((?:{_COMMAND}(?:, | or ))*{_COMMAND}) "
                   rf"\(or annotate --overwrite ((?:{_ANNOTATION}(?:, | or ))*{_ANNOTATION})\)")


def named(sim: Sim) -> Sim:
    sim.name, sim.namespace = MODEL, NAMESPACE
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
        namespace=NAMESPACE,
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
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN, namespace=NAMESPACE,
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
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN, namespace=NAMESPACE), T0).status
    for minute in (6, 12, 18):
        status = _campaign(spec, status, minute, GateVerdict.INCONCLUSIVE)
    return status.message


def campaign_manual_rollback() -> str:
    spec = _lift_gate("Manual")
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN, namespace=NAMESPACE), T0).status
    return _campaign(spec, status, 6, GateVerdict.FAIL).message


def campaign_rolled_back() -> str:
    spec = _lift_gate("Automatic")
    status = exposure.decide(spec, CampaignStatus(), exposure.Observed(
        model=SERVING, budget_anchor=T0, generation=1, name=CAMPAIGN, namespace=NAMESPACE), T0).status
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
    # Rolled back past its grace whatever rollback.mode says (test_ramp_canary_not_serving).
    ("canary not serving, Manual", model_not_serving_manual, ("retry",)),
    ("campaign inconclusiveLimit", campaign_inconclusive, ("promote", "abort")),
    ("campaign Manual rollback pending", campaign_manual_rollback, ("abort", "promote")),
    ("campaign rolled back", campaign_rolled_back, ("retry",)),
]


def parsed(command: str) -> tuple[str, str, str, str | None]:
    """A hint's command as a shell splits it and the plugin parses it: (verb, kind, name,
    namespace)."""
    words = shlex.split(command)
    assert words[:2] == ["kubectl", "uplift"], command
    args = kubectl_uplift._parser().parse_args(words[2:])
    return (args.verb, *kubectl_uplift._target(args.name), args.namespace)


@pytest.mark.parametrize(("make", "verbs"), [(make, verbs) for _, make, verbs in SITES],
                         ids=[site for site, _, _ in SITES])
def test_each_hint_names_commands_and_annotations_that_act(make: Callable[[], str],
                                                           verbs: tuple[str, ...]) -> None:
    message = make()
    hints = _HINT.findall(message)
    assert len(hints) == 1, message
    [(commands, annotations)] = hints
    said = re.findall(r"`([^`]+)`", commands)
    # Pasteable: no pipe, redirect or placeholder a shell would act on.
    assert not any(set(command) & set("|<>;&") for command in said), message
    kind, name = ("campaign", CAMPAIGN) if make.__name__.startswith("campaign") else (
        "upliftmodel", MODEL)
    # Each command, as the plugin reads it: the verb offered, this object, in its namespace.
    assert [parsed(command) for command in said] == [(verb, kind, name, NAMESPACE)
                                                     for verb in verbs], message
    assert set(verbs) <= set(kubectl_uplift.VERBS)
    # No other annotation is named without a value.
    assert re.findall(r"annotate (?:--overwrite )?uplift\.dev/[a-z]+\b(?!=)", message) == []
    asked = [a.split("=", 1) for a in re.findall(_ANNOTATION, annotations)]
    assert [key for key, _ in asked] == [f"uplift.dev/{verb}" for verb in verbs], message
    for verb, (key, value) in zip(verbs, asked, strict=True):
        # What a shell makes of it: a fresh timestamp each time, so asking again is a request.
        [request] = parse_requests({key: value.replace("$(date +%s)", "1796637600")})
        assert request.kind is not RequestKind.UNRECOGNISED, request.problem
        assert request.kind is KINDS[verb]


def test_a_hint_without_a_namespace_names_none() -> None:
    """An Observed built without the namespace (it defaults to ""): the command names none,
    and still parses (the plugin then uses the context's namespace)."""
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual"))
    sim.name = MODEL
    message = sim.tick(1, verdicts={"lat": F}).status.message
    [(commands, _)] = _HINT.findall(message)
    said = re.findall(r"`([^`]+)`", commands)
    assert said == [f"kubectl uplift {verb} {MODEL}" for verb in ("abort", "promote")], message
    assert [parsed(command) for command in said] == [
        ("abort", "upliftmodel", MODEL, None), ("promote", "upliftmodel", MODEL, None)]
