"""Stopping wins over a retry or promote pending in the same pass (``StepPass.handle_requests``,
docs/lifecycle.md "Manual control"), for an UpliftModel's canary and a Campaign's exposure.

Requests pending together (the operator down, two on-call engineers within seconds) are acted
on in a fixed order, and their tokens are any text, so which was asked last cannot be told:
before, a retry written before an abort was acted on after it and restarted the canary the
abort had just stopped (``phase Progressing canary 2 weight 0``, events [ManualAbort, Retry]).
Now a pending abort or emergency rollback, acted on or with nothing to stop, supersedes them:
they are recorded handled and said ignored, and asking again works. Under an invalid spec the
same: a retry held for a valid spec would otherwise fire once the spec is fixed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from tests.unit.domain.test_exposure_stops_at_zero import SERVING, SPEC, T0, run
from tests.unit.domain.test_ramp import Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import exposure, ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit
from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    PROMOTE_ANNOTATION,
    RETRY_ANNOTATION,
    parse_requests,
)

STEPS = ((10, "5m"), (25, "5m"), (50, "5m"))
STOPS = [(ABORT_ANNOTATION, "abort", Reason.MANUAL_ABORT),
         (EMERGENCY_ROLLBACK_ANNOTATION, "emergency rollback", Reason.EMERGENCY_ROLLBACK)]
GOES = [(RETRY_ANNOTATION, "r1", "retry", Reason.RETRY),
        (PROMOTE_ANNOTATION, "full:p1", "promote --full", Reason.MANUAL_PROMOTE),
        (PROMOTE_ANNOTATION, "step:p1", "promote", Reason.MANUAL_PROMOTE)]


def superseded(stop_key: str, stop_name: str, stop_token: str, verb: str,
               prefix: str = "") -> str:
    """The message of a request superseded by a stop; ``verb`` asks again for the same: "retry",
    "promote" (one step) or "promote --full"."""
    words, key, value = {"retry": ("retry", "retry", "$(date +%s)"),
                         "promote": ("promote", "promote", "step:$(date +%s)"),
                         "promote --full": ("promote in full", "promote", "full:$(date +%s)")}[verb]
    return (f"superseded by the {stop_name} ({stop_key}={stop_token}) handled in the same pass: "
            f"a stop wins over a retry or promote pending with it; annotate again to {words}: "
            f"`kubectl uplift {verb} {prefix}NAME` (or annotate --overwrite "
            f"uplift.dev/{key}={value})")


def running() -> Sim:
    sim = with_canary(make_spec(steps=STEPS))
    sim.passing(6)
    assert (sim.status.current_step, sim.status.canary_weight) == (1, 25)
    return sim


# -- UpliftModel ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("stop_key", "stop_name", "stop_reason"), STOPS)
@pytest.mark.parametrize(("go_key", "go_token", "verb", "go_reason"), GOES)
def test_a_stop_pending_with_a_retry_or_promote_takes_the_canary_off(
        stop_key: str, stop_name: str, stop_reason: Reason, go_key: str, go_token: str,
        verb: str, go_reason: Reason) -> None:
    sim = running()
    sim.request(go_key, go_token)  # written first
    sim.request(stop_key, "s1")  # written second: both pending in one pass
    d = sim.tick(1)
    s = d.status
    assert (s.canary_version, s.aborted_version, s.phase) == (None, "2", Phase.DEGRADED)
    assert d.traffic == TrafficSplit("1", None, 0)
    assert [(e.type, e.reason) for e in d.events] == [("Warning", stop_reason),
                                                      ("Warning", go_reason)]
    assert d.events[1].message == (f"annotation {go_key}={go_token} ignored: "
                                   + superseded(stop_key, stop_name, "s1", verb))
    assert not d.events[1].decision
    entry = s.history[-1]
    assert (entry.action, entry.actor) == ("RequestIgnored", f"annotation {go_key}={go_token}")
    assert entry.reason == "ignored: " + superseded(stop_key, stop_name, "s1", verb)
    assert s.handled_requests == {go_key: go_token, stop_key: "s1"}
    # Used up: nothing fires later; a retry asked again restarts the canary.
    assert sim.tick(1).events == () and sim.status.canary_version is None
    sim.request(RETRY_ANNOTATION, "r2")
    d = sim.tick(1)
    assert (d.status.canary_version, d.status.current_step) == ("2", 0)
    assert d.events[0].reason is Reason.RETRY


def test_an_abort_with_nothing_to_stop_still_supersedes_a_retry_pending_with_it() -> None:
    # The reviewer's case: the canary already aborted, a retry and a second abort pending.
    sim = with_canary(make_spec(steps=STEPS))
    sim.request(ABORT_ANNOTATION, "a1")
    assert sim.tick(1).status.aborted_version == "2"
    sim.request(RETRY_ANNOTATION, "r1")
    sim.request(ABORT_ANNOTATION, "a2")
    d = sim.tick(1)
    s = d.status
    assert (s.canary_version, s.aborted_version, s.phase) == (None, "2", Phase.DEGRADED)
    assert [(e.reason, e.message) for e in d.events] == [
        (Reason.MANUAL_ABORT, "annotation uplift.dev/abort=a2 ignored: no canary to abort"),
        (Reason.RETRY, "annotation uplift.dev/retry=r1 ignored: "
         + superseded(ABORT_ANNOTATION, "abort", "a2", "retry"))]


def test_a_retry_alone_still_restarts_and_a_handled_abort_supersedes_nothing() -> None:
    sim = with_canary(make_spec(steps=STEPS))
    sim.request(ABORT_ANNOTATION, "a1")
    sim.tick(1)
    sim.request(RETRY_ANNOTATION, "r1")  # the abort's token is handled: not pending
    d = sim.tick(1)
    assert (d.status.canary_version, d.status.current_step) == ("2", 0)
    assert d.events[0].reason is Reason.RETRY


def test_the_stop_named_is_the_one_acted_on_first_and_its_token_clipped() -> None:
    sim = running()
    long_token = "x" * 100
    sim.request(RETRY_ANNOTATION, "r1")
    sim.request(ABORT_ANNOTATION, "a1")
    sim.request(EMERGENCY_ROLLBACK_ANNOTATION, long_token)
    d = sim.tick(1)
    assert [e.reason for e in d.events] == [Reason.EMERGENCY_ROLLBACK, Reason.MANUAL_ABORT,
                                            Reason.RETRY]
    assert d.events[-1].message == ("annotation uplift.dev/retry=r1 ignored: " + superseded(
        EMERGENCY_ROLLBACK_ANNOTATION, "emergency rollback", "x" * 63 + "…", "retry"))


def invalid_pass(sim: Sim) -> ramp.Decision:
    """``ramp.decide_stopping_requests``, as ``services`` calls it on an invalid spec."""
    observed = ramp.Observed(desired_version=sim.status.desired_version, stable_ready=True,
                             canary_ready=True, requests=ramp.parse_requests(sim.annotations),
                             generation=4)
    sim.now += dt.timedelta(minutes=1)
    d = ramp.decide_stopping_requests(sim.spec, sim.status, observed, sim.now)
    again = ramp.decide_stopping_requests(sim.spec, d.status, observed, sim.now)
    assert again.status == d.status and again.events == ()
    sim.status = d.status
    return d


def test_under_an_invalid_spec_a_retry_pending_with_an_abort_does_not_fire_after_the_fix() -> None:
    sim = running()
    sim.request(RETRY_ANNOTATION, "r1")
    sim.request(ABORT_ANNOTATION, "a1")
    d = invalid_pass(sim)
    assert (d.status.canary_version, d.status.aborted_version) == (None, "2")
    assert [(e.type, e.reason) for e in d.events] == [("Warning", Reason.MANUAL_ABORT),
                                                      ("Warning", Reason.RETRY)]
    assert d.status.handled_requests == {RETRY_ANNOTATION: "r1", ABORT_ANNOTATION: "a1"}
    assert d.status.history[-1].action == "RequestIgnored"
    # The spec fixed: the retry, used up, restarts nothing.
    fixed = sim.tick(1)
    assert fixed.events == ()
    assert (fixed.status.canary_version, fixed.status.aborted_version) == (None, "2")


def test_under_an_invalid_spec_a_retry_without_a_stop_still_waits_for_a_valid_spec() -> None:
    sim = with_canary(make_spec(steps=STEPS))
    sim.request(ABORT_ANNOTATION, "a1")
    sim.tick(1)
    sim.request(RETRY_ANNOTATION, "r1")  # the abort handled before: no stop pending
    d = invalid_pass(sim)
    assert d.events == () and RETRY_ANNOTATION not in d.status.handled_requests
    fixed = sim.tick(1)
    assert (fixed.status.canary_version, fixed.status.current_step) == ("2", 0)


# -- Campaign ------------------------------------------------------------------------------------

def exposing() -> CampaignStatus:
    status = run(SPEC, CampaignStatus(), SERVING, T0).status
    assert status.exposure_percent == SPEC.exposure.steps[0].percent
    return status


@pytest.mark.parametrize(("stop_key", "stop_name", "stop_reason"), STOPS)
@pytest.mark.parametrize(("go_key", "go_token", "verb", "go_reason"), GOES)
def test_a_campaign_stop_pending_with_a_retry_or_promote_holds_it_at_zero(
        stop_key: str, stop_name: str, stop_reason: Reason, go_key: str, go_token: str,
        verb: str, go_reason: Reason) -> None:
    asked = {go_key: go_token, stop_key: "s1"}
    d = run(SPEC, exposing(), SERVING, T0 + dt.timedelta(minutes=1), asked)
    s = d.status
    assert (s.exposure_percent, s.current_step, s.phase) == (0, None, Phase.DEGRADED)
    assert s.rolled_back_generation == 1
    assert [(e.type, e.reason) for e in d.events] == [("Warning", stop_reason),
                                                      ("Warning", go_reason)]
    assert d.events[1].message == (f"annotation {go_key}={go_token} ignored: "
                                   + superseded(stop_key, stop_name, "s1", verb, "campaign/"))
    assert s.handled_requests == asked
    later = run(SPEC, s, SERVING, T0 + dt.timedelta(minutes=2), asked)
    assert later.events == () and later.status.exposure_percent == 0
    again = run(SPEC, s, SERVING, T0 + dt.timedelta(minutes=2), {**asked, RETRY_ANNOTATION: "r2"})
    assert again.status.exposure_percent == SPEC.exposure.steps[0].percent


def test_a_campaign_rolled_back_stays_so_when_a_second_abort_comes_with_a_retry() -> None:
    rolled = run(SPEC, exposing(), SERVING, T0 + dt.timedelta(minutes=1),
                 {ABORT_ANNOTATION: "a1"}).status
    assert rolled.exposure_percent == 0
    asked = {ABORT_ANNOTATION: "a2", RETRY_ANNOTATION: "r1"}
    d = run(SPEC, rolled, SERVING, T0 + dt.timedelta(minutes=2), asked)
    assert (d.status.exposure_percent, d.status.phase) == (0, Phase.DEGRADED)
    assert [e.reason for e in d.events] == [Reason.MANUAL_ABORT, Reason.RETRY]
    assert d.events[1].message.startswith("annotation uplift.dev/retry=r1 ignored: superseded")


def test_a_refused_campaign_spec_supersedes_a_retry_pending_with_its_abort() -> None:
    asked = {RETRY_ANNOTATION: "r1", ABORT_ANNOTATION: "a1"}
    observed = exposure.Observed(model=SERVING, requests=parse_requests(asked), generation=1)
    status, events = exposure.stop_requests(SPEC, exposing(), observed,
                                            T0 + dt.timedelta(minutes=1))
    assert status.exposure_percent == 0 and status.rolled_back_generation == 1
    assert [e.reason for e in events] == [Reason.MANUAL_ABORT, Reason.RETRY]
    assert status.handled_requests == asked
    # Valid again with the same generation (no edit): the used-up retry restarts nothing.
    fixed = run(SPEC, status, SERVING, T0 + dt.timedelta(minutes=2), asked)
    assert fixed.events == () and fixed.status.exposure_percent == 0
    # Without a stop pending, a retry under a refused spec still waits for a valid one.
    waiting = dataclasses.replace(observed, requests=parse_requests({RETRY_ANNOTATION: "r2"}))
    assert exposure.stop_requests(SPEC, status, waiting, T0 + dt.timedelta(minutes=3)) == (
        status, ())
