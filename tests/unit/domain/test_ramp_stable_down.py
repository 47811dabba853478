"""A stable version that served and stops serving is Degraded, with the backend's words, told
once (Warning) and once more when it serves again (Normal); a version that never served is
waited for (Progressing). Ready stays WaitingForServing, so a Campaign already exposing holds.
A paused ramp stays Paused through it, and Argo CD's health check reads the outage from Ready
and ``stableServedVersion`` (Degraded: an outage outranks a pause)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.domain.test_ramp import Sim, assert_idempotent, make_spec, ready, with_canary

from uplift_operator.api.v1alpha1.common import GateVerdict, Phase
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import conditions as cond
from uplift_operator.domain import exposure, ramp, stuck
from uplift_operator.domain import status as status_logic
from uplift_operator.domain.canary import says_stable_down
from uplift_operator.domain.ramp import Decision, Observed, RecordedRoles, decide
from uplift_operator.domain.steps import Reason

FAILURE = ("stable 1 not serving: SeldonDeployment Failed: Deployment churn-v1 has no available "
           "replicas (ImagePullBackOff)")


def tick(sim: Sim, minutes: float, *, stable_ready: bool, failure: str | None = None) -> Decision:
    """One pass of ``sim`` with the stable's readiness and the backend's failure as given."""
    sim.now += dt.timedelta(minutes=minutes)
    observed = Observed(desired_version=sim.desired, stable_ready=stable_ready,
                        canary_ready=sim.canary_ready, generation=3,
                        requests=ramp.parse_requests(sim.annotations), serving_failure=failure,
                        name=sim.name, namespace=sim.namespace)
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



# -- "served" kept in the status (stableServedVersion), not in Ready ------------------------------

def _over_ready(sim: Sim, outcome: status_logic.Outcome) -> None:
    """A pass that decides nothing and writes its own Ready over the status, as
    ``services.common.invalid_pass`` and ``services.upliftmodel._conflicted`` do."""
    sim.status = sim.status.model_copy(update={"phase": outcome.phase, "message": outcome.message,
                                               "conditions": outcome.conditions})


def _invalid_spec(sim: Sim) -> None:
    _over_ready(sim, status_logic.validation_outcome(
        sim.status.conditions, status_logic.Observation(4, ("spec.serving.replicas: < 1",)),
        sim.now))


def _conflict(sim: Sim) -> None:
    _over_ready(sim, status_logic.serving_conflict(
        sim.status.conditions, status_logic.Conflict("SeldonDeployment shop/churn", None,
                                                     uid="u-1"), 4, sim.now))


@pytest.mark.parametrize("replace_ready", [_invalid_spec, _conflict])
def test_a_stable_down_stays_down_through_a_pass_that_replaced_ready(
        replace_ready: Callable[[Sim], None]) -> None:
    sim = Sim(make_spec())
    assert sim.tick().status.stable_served_version == "1"
    assert tick(sim, 5, stable_ready=False).status.phase is Phase.DEGRADED
    sim.now += dt.timedelta(minutes=1)
    replace_ready(sim)
    assert not says_stable_down("1", *ready(sim.status)[1:], sim.status.message)
    d = tick(sim, 5, stable_ready=False)
    assert d.status.phase is Phase.DEGRADED
    assert d.status.message.startswith("stable version 1 does not serve any more")
    assert d.status.stable_served_version == "1"
    # Ready said something else in between (its own Warning with it): said again, once.
    assert told(d) == [("Warning", Reason.STABLE_NOT_SERVING, False)]
    assert told(tick(sim, 5, stable_ready=False)) == []
    d = tick(sim, 5, stable_ready=True)
    assert d.status.phase is Phase.HEALTHY and d.status.stable_served_version == "1"


def test_the_field_is_set_once_per_stable_version_and_never_flips() -> None:
    sim = Sim(make_spec())
    sim.stable_ready = False
    assert sim.tick().status.stable_served_version is None  # a first version not serving yet
    seen = []
    for stable_ready in (True, False, False, True, False, True):
        status = tick(sim, 5, stable_ready=stable_ready).status
        seen.append(status.stable_served_version)
    assert seen == ["1"] * 6
    # A promotion while the stable serves: the promoted canary served, named at once.
    sim.stable_ready = True
    sim.desired = "2"
    sim.tick(1)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.stable_served_version) == ("2", "2")


def test_an_emergency_rollbacks_restored_version_is_awaited_until_it_serves() -> None:
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    sim.stable_ready = False
    sim.request(ramp.EMERGENCY_ROLLBACK_ANNOTATION, "t1")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.stable_served_version) == ("1", None)
    d = sim.tick(1)  # still restoring: version 1 is waited for, not down
    assert d.status.stable_served_version is None
    assert "version 2 keeps the traffic until it serves" in d.status.message
    assert "does not serve any more" not in d.status.message
    sim.ready_versions = frozenset({"1", "2"})
    sim.stable_ready = True
    d = sim.tick(1)
    assert sim.reasons() == [Reason.STABLE_RESTORED]
    assert d.status.stable_served_version == "1"


def _as_before_the_field(status: UpliftModelStatus) -> UpliftModelStatus:
    """``status`` as the release before ``stableServedVersion`` wrote it."""
    wire = status.to_wire()
    wire.pop("stableServedVersion", None)
    return UpliftModelStatus.model_validate(wire)


def test_an_upgrade_reads_served_from_ready_and_keeps_it_in_the_field() -> None:
    sim = Sim(make_spec())
    sim.tick()
    sim.status = _as_before_the_field(sim.status)  # Ready StableServing
    d = tick(sim, 5, stable_ready=False)
    assert d.status.phase is Phase.DEGRADED and d.status.stable_served_version == "1"
    _invalid_spec(sim)
    assert tick(sim, 5, stable_ready=False).status.phase is Phase.DEGRADED


def test_a_first_version_stays_awaited_through_a_pass_that_replaced_ready() -> None:
    sim = Sim(make_spec())
    tick(sim, 0, stable_ready=False)
    _invalid_spec(sim)
    d = tick(sim, 5, stable_ready=False)
    assert d.status.phase is Phase.PROGRESSING
    assert d.status.message == "waiting for stable version 1 to serve"
    assert d.status.stable_served_version is None


def test_an_upgrade_of_a_stable_already_down_reads_it_as_awaited_until_it_serves_once() -> None:
    # Written before the field, by a release that said "waiting" of a stable that stopped: read
    # as it said (the history cannot tell it from a version never seen serving), Degraded once
    # it has served and stops again.
    sim = Sim(make_spec())
    sim.tick()
    sim.now += dt.timedelta(minutes=5)
    before = _as_before_the_field(sim.status)
    conditions = cond.set_condition(
        before.conditions, type_=cond.READY, status="False", reason=cond.WAITING_FOR_SERVING,
        message="waiting for stable version 1 to serve", now=sim.now, observed_generation=3)
    sim.status = before.model_copy(update={"conditions": conditions})
    d = tick(sim, 1, stable_ready=False)
    assert d.status.phase is Phase.PROGRESSING and d.status.stable_served_version is None
    assert tick(sim, 1, stable_ready=True).status.stable_served_version == "1"
    _invalid_spec(sim)
    assert tick(sim, 1, stable_ready=False).status.phase is Phase.DEGRADED


# -- an outage during a pause: what Argo CD's health check reads ---------------------------------

HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "UpliftModel" / "testdata")


def _published(sim: Sim, decision: Decision) -> UpliftModelStatus:
    """The status as the service writes it: the ramp's phase through ``stuck.model_phase``."""
    s = decision.status
    pub = stuck.model_phase(s.phase, s.message, s.conditions, sim.spec.rollout.progress_deadline,
                            sim.now)
    return s.model_copy(update={"phase": pub.phase, "message": pub.message})


def _as_health_reads(status: UpliftModelStatus | dict[str, Any]) -> dict[str, Any]:
    """What the UpliftModel's health.lua reads of a status: the phase (and message), the stable
    version, whether it served, Ready."""
    wire = status.to_wire() if isinstance(status, UpliftModelStatus) else status
    [r] = [c for c in wire["conditions"] if c["type"] == "Ready"]
    return {"phase": wire["phase"], "message": wire["message"],
            "stableVersion": wire.get("stableVersion"),
            "stableServedVersion": wire.get("stableServedVersion"),
            "ready": (r["status"], r["reason"], r["message"])}


def _testdata(name: str) -> dict[str, Any]:
    return _as_health_reads(yaml.safe_load((HEALTH_TESTDATA / name).read_text())["status"])


def test_a_stable_down_during_a_human_pause_is_published_as_an_outage_the_health_check_reads(
        ) -> None:
    # The phase stays Paused (the ramp reads it back: the Paused/Resumed events, the deadline's
    # resume time), for as long as the outage lasts: stuck.py never overrides Paused. The
    # health check makes it Degraded (an outage outranks a pause) from Ready False
    # WaitingForServing with stableServedVersion naming the stable version: its
    # testdata/paused-stable-down.yaml is this status (health_test.yaml: Degraded).
    sim = with_canary(make_spec(paused=True))
    assert _published(sim, tick(sim, 1, stable_ready=True)).phase is Phase.PAUSED
    d = tick(sim, 1, stable_ready=False, failure=FAILURE)
    assert told(d) == [("Warning", Reason.STABLE_NOT_SERVING, False)]
    for minutes in (0, 30):
        d = tick(sim, minutes, stable_ready=False, failure=FAILURE)
        published = _published(sim, d)
        assert published.phase is Phase.PAUSED
        assert ready(published) == ("False", "WaitingForServing")
        assert published.stable_served_version == published.stable_version == "1"
        assert published.message.endswith(f"stable version 1 does not serve any more: {FAILURE}")
        assert _as_health_reads(published) == _testdata("paused-stable-down.yaml")
    d = tick(sim, 1, stable_ready=True)
    assert d.status.phase is Phase.PAUSED and ready(d.status) == ("True", "StableServing")
    assert told(d) == [("Normal", Reason.STABLE_SERVING, False)]


def test_a_stable_down_while_a_manual_rollback_waits_is_published_as_an_outage() -> None:
    # Ready's reason turns from RollbackPending to WaitingForServing (a Campaign exposing holds
    # on it), the phase stays Paused: testdata/rollback-pending-stable-down.yaml, Degraded by
    # the health check as rollback-pending.yaml was.
    sim = with_canary(make_spec(rollback="Manual"))
    sim.name = "churn"  # the testdata's metadata.name, which the message's command names
    sim.namespace = "shop"  # and its namespace, which the command names too
    d = sim.tick(1, verdicts={"latency": GateVerdict.FAIL})
    assert d.status.phase is Phase.PAUSED and ready(d.status) == ("False", "RollbackPending")
    d = tick(sim, 1, stable_ready=False, failure=FAILURE)
    published = _published(sim, d)
    assert published.phase is Phase.PAUSED
    assert ready(published) == ("False", "WaitingForServing")
    assert _as_health_reads(published) == _testdata("rollback-pending-stable-down.yaml")
    d = tick(sim, 1, stable_ready=True)
    assert d.status.phase is Phase.PAUSED and ready(d.status) == ("False", "RollbackPending")


def test_a_pause_while_a_first_version_has_never_served_is_no_outage() -> None:
    # Ready False WaitingForServing too, but nothing served yet (no stableServedVersion): the
    # health check leaves the pause Suspended (testdata/paused-stable-not-served-yet.yaml).
    # A new version replaces a stable that never served (no canary against it), so the pass
    # that finds the status lost and restarts canary 2 against stable 1, both as the
    # registry's tags say, with stable 1's pods not up yet, shows it.
    sim = Sim(make_spec(paused=True))
    sim.desired = "2"
    observed = Observed(desired_version="2", stable_ready=False, canary_ready=False,
                        generation=3, recorded=RecordedRoles(desired_role="canary", stable="1"))
    decision = decide(sim.spec, sim.status, observed, sim.now)
    assert_idempotent(sim.spec, decision, observed, sim.now)
    published = _published(sim, decision)
    assert published.phase is Phase.PAUSED and published.stable_served_version is None
    assert ready(published) == ("False", "WaitingForServing")
    assert "does not serve any more" not in published.message
    assert _as_health_reads(published) == _testdata("paused-stable-not-served-yet.yaml")


def test_a_gate_fail_while_the_stable_does_not_serve_waits_to_roll_back() -> None:
    """Stable 1 stops serving mid-ramp while canary 2 (50 %) serves; a gate Fail rolled the
    canary back at once, moving all the traffic onto the stable that serves none of it. The
    rollback is pending until the stable serves (then done), and an abort still acts at once."""
    def fail_while_stable_down() -> Sim:
        sim = with_canary(make_spec(steps=[(10, "5m"), (50, "5m"), (75, "5m")],
                                    gates=[{"name": "drift", "type": "drift"}]))
        sim.passing(1)
        sim.passing(5)
        assert (sim.status.current_step, sim.status.canary_weight) == (1, 50)
        sim.stable_ready, sim.canary_ready = False, False
        sim.ready_versions = frozenset({"2"})
        sim.tick(1)
        d = sim.tick(1, verdicts={"drift": GateVerdict.FAIL})
        assert d.status.canary_version == "2" and d.traffic == ramp.TrafficSplit("1", "2", 50)
        assert d.status.phase is Phase.PAUSED
        assert "rollback pending: it waits for stable 1 to serve" in d.status.message
        assert Reason.ROLLED_BACK not in sim.reasons()
        d = sim.tick(1)  # still down: still pending, nothing new said
        assert d.status.canary_version == "2" and d.events == ()
        return sim

    sim = fail_while_stable_down()
    sim.stable_ready, sim.canary_ready, sim.ready_versions = True, True, None
    d = sim.tick(1)  # the stable serves again: the rollback the gate demanded is done
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert Reason.ROLLED_BACK in sim.reasons() and d.traffic == ramp.TrafficSplit("1", None, 0)

    sim = fail_while_stable_down()
    sim.request(ramp.ABORT_ANNOTATION, "now")
    d = sim.tick(1)  # a human abort is not held
    assert d.status.canary_version is None and Reason.MANUAL_ABORT in sim.reasons()


def test_a_new_version_replaces_a_first_version_that_never_served() -> None:
    """First version 1 never serves (an image that does not pull). Version 2, the fix, started
    as a canary against it and was held before any traffic for good (the graph never Ready, a
    promote refused): it now replaces 1 as the first version, no ramp."""
    sim = Sim(make_spec())
    sim.stable_ready, sim.canary_ready, sim.ready_versions = False, False, frozenset()
    sim.tick()
    assert sim.status.stable_version == "1" and sim.status.stable_served_version is None
    sim.desired, sim.ready_versions = "2", frozenset({"2"})
    d = sim.tick(1)
    s = d.status
    assert (s.stable_version, s.canary_version, s.previous_stable_version) == ("2", None, None)
    assert d.traffic == ramp.TrafficSplit("2", None, 0)
    assert sim.reasons() == [Reason.PROMOTED]
    assert s.history[-1].reason.startswith("first version: replaces version 1, which never served")
    sim.stable_ready = True  # version 2 serves: Healthy, served from then on
    d = sim.tick(1)
    assert d.status.phase is Phase.HEALTHY and d.status.stable_served_version == "2"
    sim.desired = "3"  # a version after one that served ramps as a canary
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.canary_version) == ("2", "3")


def test_a_canary_held_against_a_first_version_that_never_served_becomes_the_first() -> None:
    """The state a release before left: canary 2 at 0 % against stable 1, which never served."""
    status = UpliftModelStatus.model_validate({
        "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 0, "currentStep": 0,
        "desiredVersion": "2", "stepStartedAt": "2026-11-28T11:00:00Z",
        "canaryStartedAt": "2026-11-28T11:00:00Z", "history": [
            {"time": "2026-11-28T10:00:00Z", "action": "Promoted", "version": "1",
             "reason": "first version: serving it as stable, no ramp", "actor": "spec"},
            {"time": "2026-11-28T11:00:00Z", "action": "CanaryStarted", "version": "2",
             "reason": "new version; stable 1", "actor": "spec"}]})
    sim = Sim(make_spec(), status)
    sim.desired, sim.stable_ready, sim.canary_ready = "2", False, False
    sim.ready_versions = frozenset({"2"})
    d = sim.tick()
    assert (d.status.stable_version, d.status.canary_version) == ("2", None)
    assert d.traffic == ramp.TrafficSplit("2", None, 0) and sim.reasons() == [Reason.PROMOTED]


def test_a_stable_that_served_once_is_not_replaced_by_a_new_version() -> None:
    sim = Sim(make_spec())
    sim.tick()
    sim.stable_ready, sim.ready_versions = False, frozenset({"2"})
    sim.tick(1)
    sim.desired = "2"
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.canary_version) == ("1", "2")


def test_a_stable_the_registry_made_stable_again_is_not_replaced_while_its_pods_start() -> None:
    """The status lost mid-ramp (the object re-created): stable 1 and canary 2 as the registry
    tags them. Stable 1 was promoted and served; its pods starting again make it no first
    version that never served, so canary 2 is not made stable without its ramp."""
    sim = Sim(make_spec())
    sim.desired = "2"
    observed = Observed(desired_version="2", stable_ready=False, canary_ready=False,
                        ready_versions=frozenset({"2"}), generation=3,
                        recorded=RecordedRoles(desired_role="canary", stable="1"))
    d = decide(sim.spec, sim.status, observed, sim.now)
    for minutes in (1, 2):
        d = decide(sim.spec, d.status, replace(observed, recorded=None),
                   sim.now + dt.timedelta(minutes=minutes))
        assert (d.status.stable_version, d.status.canary_version) == ("1", "2")


def _rollback_held_on_stable_down() -> Sim:
    """Canary 2 at 10 % serves while stable 1, which served, does not (the graph not Ready);
    a gate Fail's rollback is held until the stable serves."""
    sim = with_canary()
    sim.passing(1)
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    d = sim.tick(1, verdicts={"latency": GateVerdict.FAIL})
    assert d.traffic == ramp.TrafficSplit("1", "2", 10)
    assert "rollback pending: it waits for stable 1 to serve" in d.status.message
    return sim


def test_a_new_version_waits_while_the_stable_does_not_serve_and_the_canary_does() -> None:
    """Version 3 replaced canary 2 at once (CanaryReplaced, 3 at 0 %): all the traffic went to
    stable 1, which serves none of it. It waits, said once; canary 2 keeps its split and does
    not advance; version 3 replaces it once stable 1 serves."""
    sim = _rollback_held_on_stable_down()
    sim.desired = "3"
    d = sim.tick(1)
    assert d.traffic == ramp.TrafficSplit("1", "2", 10) and d.status.canary_version == "2"
    assert [e.reason for e in d.events] == [Reason.CANARY_HELD]
    assert "version 3 waits" in d.events[0].message
    assert "until stable 1 serves" in d.events[0].message
    assert "version 3 waits" in d.status.message
    for _ in range(3):  # the canary's gates pass: it holds its step all the same
        d = sim.tick(5, verdicts={"latency": GateVerdict.PASS})
        assert d.traffic == ramp.TrafficSplit("1", "2", 10) and d.events == ()
    sim.stable_ready, sim.canary_ready, sim.ready_versions = True, True, None
    d = sim.tick(1)
    assert (d.status.canary_version, d.status.canary_weight) == ("3", 0)
    assert d.traffic == ramp.TrafficSplit("1", "3", 0)


def test_a_new_version_waits_for_the_stable_with_no_gate_held_either() -> None:
    sim = with_canary()
    sim.passing(1)
    sim.stable_ready, sim.canary_ready = False, False
    sim.ready_versions = frozenset({"2"})
    sim.tick(1)
    sim.desired = "3"
    d = sim.tick(1)
    assert d.traffic == ramp.TrafficSplit("1", "2", 10)
    assert Reason.CANARY_HELD in sim.reasons() and Reason.CANARY_REPLACED not in sim.reasons()


def test_the_spec_back_at_a_stable_that_does_not_serve_is_a_pending_rollback() -> None:
    """The spec pointed back at stable 1 removed canary 2 at once (RolledBack): all the traffic
    onto a stable that serves none of it. The removal is pending until stable 1 serves, Paused;
    a human abort acts at once."""
    for held in (_rollback_held_on_stable_down, None):
        if held is not None:
            sim = held()
        else:
            sim = with_canary()
            sim.passing(1)
            sim.stable_ready, sim.canary_ready = False, False
            sim.ready_versions = frozenset({"2"})
            sim.tick(1)
        sim.desired = "1"
        d = sim.tick(1)
        assert d.traffic == ramp.TrafficSplit("1", "2", 10) and d.status.canary_version == "2"
        assert Reason.ROLLED_BACK not in sim.reasons()
        assert d.status.phase is Phase.PAUSED
        assert "spec points back at stable 1" in d.status.message
        assert "it waits for stable 1 to serve" in d.status.message
        d = sim.tick(10, verdicts={"latency": GateVerdict.PASS})
        assert d.traffic == ramp.TrafficSplit("1", "2", 10) and d.events == ()
        sim.stable_ready, sim.canary_ready, sim.ready_versions = True, True, None
        d = sim.tick(1)
        assert d.status.canary_version is None and d.traffic == ramp.TrafficSplit("1", None, 0)
        assert Reason.ROLLED_BACK in sim.reasons()

    sim = _rollback_held_on_stable_down()
    sim.desired = "1"
    sim.tick(1)
    sim.request(ramp.ABORT_ANNOTATION, "now")
    d = sim.tick(1)
    assert d.status.canary_version is None and Reason.MANUAL_ABORT in sim.reasons()


def test_a_full_promote_takes_over_from_a_stable_that_no_longer_serves() -> None:
    """Stable 1 served, then crash-loops; fix version 2 is a canary at 0 % whose own predictor
    serves, and the graph is never Ready: its traffic never starts and a promote was refused
    until the graph is ready. A full promote makes it stable; a one-step promote is refused
    and says the full one acts."""
    sim = Sim(make_spec())
    sim.tick()
    sim.stable_ready, sim.canary_ready, sim.ready_versions = False, False, frozenset()
    sim.tick(5)
    sim.desired = "2"
    sim.tick(1)
    sim.ready_versions = frozenset({"2"})
    d = sim.tick(1)
    assert d.traffic == ramp.TrafficSplit("1", "2", 0)
    sim.request(ramp.PROMOTE_ANNOTATION, "step:a")
    d = sim.tick(1)
    assert d.status.canary_version == "2"
    refused = [e.message for e in d.events if e.reason is Reason.MANUAL_PROMOTE]
    assert refused and "full:<token>" in refused[0]
    sim.request(ramp.PROMOTE_ANNOTATION, "full:b")
    d = sim.tick(1)
    s = d.status
    assert (s.stable_version, s.canary_version, s.previous_stable_version) == ("2", None, "1")
    assert d.traffic == ramp.TrafficSplit("2", None, 0)
    assert Reason.PROMOTED in sim.reasons()


def test_a_full_promote_of_a_canary_with_traffic_over_a_dead_stable() -> None:
    sim = _rollback_held_on_stable_down()
    sim.request(ramp.PROMOTE_ANNOTATION, "full:1")
    d = sim.tick(1)
    assert (d.status.stable_version, d.status.canary_version) == ("2", None)
    assert d.traffic == ramp.TrafficSplit("2", None, 0)


def test_a_full_promote_is_still_refused_while_the_stable_serves_and_the_graph_is_not_ready(
) -> None:
    sim = with_canary()
    sim.passing(1)
    sim.canary_ready, sim.ready_versions = False, frozenset({"1", "2"})
    sim.request(ramp.PROMOTE_ANNOTATION, "full:1")
    d = sim.tick(1)
    assert d.status.canary_version == "2" and Reason.PROMOTED not in sim.reasons()
