"""What held resources export, from statuses the real ramps and passes write: a gate's rollback
left to a human (``rollback.mode: Manual``, ``uplift_operator_rollback_pending``, both kinds)
and a Campaign whose settings have not reached the pods
(``uplift_operator_campaign_settings_undelivered``); every series gone with the resource.
Before, a Manual rollback held the canary at its weight for ever with no series saying so (only
"paused: gate G inconclusive" had one), and a rolled-back Campaign's 0 % that its model's
campaigns file did not carry had none either."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from tests.unit.domain.test_ramp import F, make_spec, with_canary
from tests.unit.services import test_campaign as campaigns

from uplift_operator.handlers import campaign, observability, upliftmodel

ABORT = "uplift.dev/abort"
UNWRITTEN = "the campaigns file of UpliftModel 'hillstrom-uplift' cannot be written (403)"


def _pending(kind: str, name: str) -> float | None:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_rollback_pending", {"kind": kind, "namespace": "ns", "name": name})


def _undelivered(name: str, model: str = "hillstrom-uplift") -> float | None:
    """By the model its spec names, which an inhibit rule matches on."""
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_campaign_settings_undelivered",
        {"namespace": "ns", "name": name, "model": model})


def test_a_models_manual_rollback_is_pending_until_a_human_decides() -> None:
    sim = with_canary(make_spec(gates=[{"name": "lat", "type": "latency"}], rollback="Manual",
                                progressDeadline="10m"))
    observe = partial(upliftmodel._observe, spec=sim.spec.to_wire())
    observe("ns", "manual", sim.tick(1).status.to_wire())
    assert _pending("UpliftModel", "manual") == 0
    held = sim.tick(1, verdicts={"lat": F}).status
    for _ in range(12):  # two hours, past its progressDeadline: still only held
        held = sim.tick(10, verdicts={"lat": F}).status
    observe("ns", "manual", held.to_wire())
    assert _pending("UpliftModel", "manual") == 1
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_canary_weight", {"namespace": "ns", "name": "manual"}) == 10
    assert observability.REGISTRY.get_sample_value(  # the deadline does not run while Paused
        "uplift_operator_progress_deadline_exceeded",
        {"kind": "UpliftModel", "namespace": "ns", "name": "manual"}) == 0
    sim.request(ABORT, "t1")
    observe("ns", "manual", sim.tick(1).status.to_wire())
    assert _pending("UpliftModel", "manual") == 0
    observability.forget("UpliftModel", "ns", "manual")
    assert _pending("UpliftModel", "manual") is None


def test_a_model_paused_by_its_spec_is_no_pending_rollback() -> None:
    sim = with_canary(make_spec(paused=True))
    upliftmodel._observe("ns", "held", sim.tick(1).status.to_wire(), sim.spec.to_wire())
    assert sim.status.phase is not None and sim.status.phase.value == "Paused"
    assert _pending("UpliftModel", "held") == 0
    observability.forget("UpliftModel", "ns", "held")


def _manual_campaign() -> campaigns.Sim:
    sim = campaigns._with_delivery_collector(campaigns.Sim(**campaigns._custom_gate_spec("Manual")),
                                             0.5)
    sim.tick()
    sim.tick(5)
    return sim


def _observe_campaign(sim: campaigns.Sim, name: str) -> None:
    status: dict[str, Any] = sim.status
    campaign._observe("ns", name, status, sim.body["spec"])


def test_a_campaigns_manual_rollback_is_pending_under_its_kind() -> None:
    sim = _manual_campaign()
    assert sim.condition("Ready")["reason"] == "RollbackPending"
    _observe_campaign(sim, "spring")
    assert _pending("Campaign", "spring") == 1 and _pending("UpliftModel", "spring") is None
    sim.annotate(ABORT, "t1")
    sim.tick(1)
    assert sim.status["exposurePercent"] == 0
    _observe_campaign(sim, "spring")
    assert _pending("Campaign", "spring") == 0
    observability.forget("Campaign", "ns", "spring")
    assert _pending("Campaign", "spring") is None


def test_a_campaigns_undelivered_settings_are_exported_while_its_condition_is_false() -> None:
    """Its rollback's 0 % (or any exposure) decided while the campaigns file cannot be written
    has not reached the pods: the status says 0 %, the pods treat at the exposure they had."""
    sim = campaigns.Sim(schedule=None)
    sim.tick()
    sim.tick(6)
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 0  # never failed: no condition
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: UNWRITTEN)
    sim.tick(1)
    assert sim.condition("SettingsDelivered")["status"] == "False"
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 1
    sim.deps = replace(sim.deps, undelivered=lambda namespace, model: None)
    sim.tick(1)
    assert sim.condition("SettingsDelivered")["status"] == "True"
    _observe_campaign(sim, "unwritten")
    assert _undelivered("unwritten") == 0
    observability.forget("Campaign", "ns", "unwritten")
    assert _undelivered("unwritten") is None
