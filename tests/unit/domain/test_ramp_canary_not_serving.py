"""A canary with traffic that stops serving is a failed canary once it has not served for the
grace every serving problem gets (``stuck.grace``: 5 minutes, or ``progressDeadline`` when
shorter): rolled back, whatever ``rollback.mode`` says (Manual holds the gates' verdicts for a
human, not an outage of the canary's share). Before, the step only held and the canary kept its
share of the traffic for good (Progressing, Ready True); with Manual it was then held Paused,
up to all the traffic on a dead predictor, until a human aborted. A canary before any traffic
is only waited for, and a canary is not blamed for an outage that takes the stable down too.
``Sim.tick`` checks every pass for idempotence."""

from __future__ import annotations

import datetime as dt

from tests.unit.domain.test_ramp import INC, F, P, Sim, make_spec, ready, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.ramp import Reason, TrafficSplit

STEPS = ((10, "5m"), (50, "5m"), (75, "5m"))
NO_DATA = {"latency": INC, "shadow": INC}  # the gates see no canary data while it is down


def at_fifty_percent(rollback: str = "Automatic", deadline: str | None = None) -> Sim:
    spec = (make_spec(steps=STEPS, rollback=rollback) if deadline is None
            else make_spec(steps=STEPS, rollback=rollback, progressDeadline=deadline))
    sim = with_canary(spec)
    sim.passing(6)
    assert (sim.status.canary_weight, sim.status.current_step) == (50, 1)
    return sim


def test_a_canary_that_stops_serving_is_rolled_back_after_the_grace() -> None:
    sim = at_fifty_percent()
    stopped = sim.now + dt.timedelta(minutes=1)
    sim.canary_ready = False
    d = sim.tick(1, verdicts=NO_DATA)
    assert d.status.canary_not_serving_since == stopped
    assert d.traffic == TrafficSplit("1", "2", 50) and d.status.phase is Phase.PROGRESSING
    due = stopped + dt.timedelta(minutes=5)
    assert (f"canary is not serving since {stopped.isoformat()}; rolled back at "
            f"{due.isoformat()} unless it serves again") in d.status.message
    assert d.requeue_after is not None and sim.now + d.requeue_after <= due
    d = sim.tick(3.9)
    assert d.status.canary_version == "2" and Reason.ROLLED_BACK not in sim.reasons()
    d = sim.tick(1.1)  # 5 minutes without serving
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert d.traffic == TrafficSplit("1", None, 0)
    assert d.status.phase is Phase.DEGRADED and d.status.canary_not_serving_since is None
    why = (f"canary 2 has not served for 5m since {stopped.isoformat()} at 50% of the traffic, "
           "past the 5m a canary with traffic may go without serving: no replica of its "
           "predictor is available")
    [event] = [e for e in d.events if e.reason is Reason.ROLLED_BACK]
    assert event.type == "Warning" and event.message == (
        f"rolled back canary 2 at step 2/3 (50%) to stable 1: {why}")
    entry = d.status.history[-1]
    assert (entry.action, entry.version, entry.actor, entry.reason) == (
        "RolledBack", "2", "operator", why)
    assert ready(d.status) == ("True", "StableServing")


def test_the_backends_failure_is_the_rollbacks_why() -> None:
    sim = at_fifty_percent()
    sim.canary_ready = False
    sim.tick(1)
    failure = "canary 2 not serving: SeldonDeployment Failed: Deployment m-v2 crash-looping"
    sim.now += dt.timedelta(minutes=5)
    d = ramp.decide(sim.spec, sim.status, ramp.Observed(
        desired_version="2", stable_ready=True, canary_ready=False, generation=3,
        serving_failure=failure), sim.now)
    assert d.status.canary_version is None
    assert d.status.history[-1].reason.endswith(f"without serving: {failure}")


def test_a_canary_serving_again_within_the_grace_goes_on() -> None:
    sim = at_fifty_percent()
    sim.canary_ready = False
    sim.tick(1)
    sim.tick(4)
    assert sim.status.canary_not_serving_since is not None
    sim.canary_ready = True
    d = sim.passing(0.5)
    assert d.status.canary_not_serving_since is None and d.status.canary_version == "2"
    # Down again later: the grace counts from then, not from the first time.
    sim.canary_ready = False
    again = sim.now + dt.timedelta(minutes=1)
    d = sim.tick(1)
    assert d.status.canary_not_serving_since == again
    d = sim.tick(4.5)
    assert d.status.canary_version == "2" and Reason.ROLLED_BACK not in sim.reasons()
    d = sim.tick(0.5)
    assert d.status.canary_version is None and d.status.aborted_version == "2"


def test_with_manual_rollback_a_canary_not_serving_is_rolled_back_too() -> None:
    """Manual holds a gate's verdict for a human; a canary with traffic that does not serve is
    an outage of its share: held, a canary at 100 % kept every request on a dead predictor
    until someone aborted it."""
    sim = at_fifty_percent(rollback="Manual")
    sim.canary_ready = False
    stopped = sim.now + dt.timedelta(minutes=1)
    d = sim.tick(1)
    due = stopped + dt.timedelta(minutes=5)
    assert (f"canary is not serving since {stopped.isoformat()}; rolled back at "
            f"{due.isoformat()} unless it serves again") in d.status.message
    d = sim.tick(5)
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert d.traffic == TrafficSplit("1", None, 0)
    assert d.status.phase is Phase.DEGRADED and ready(d.status) == ("True", "StableServing")
    entry = d.status.history[-1]
    assert (entry.action, entry.actor) == ("RolledBack", "operator")
    assert entry.reason.startswith(f"canary 2 has not served for 5m since {stopped.isoformat()} "
                                   "at 50% of the traffic")
    assert entry.reason.endswith("; rollback.mode Manual holds gate verdicts only, not a "
                                 "canary that does not serve")
    assert all(e.action != "Paused" for e in d.status.history)


def test_with_manual_rollback_a_canary_at_all_the_traffic_that_does_not_serve_is_rolled_back(
        ) -> None:
    sim = with_canary(make_spec(steps=((100, "5m"),), rollback="Manual"))
    assert sim.status.canary_weight == 100
    sim.canary_ready = False
    sim.ready_versions = frozenset({"1"})
    sim.tick(2)
    d = sim.tick(5)
    assert d.status.canary_version is None and d.traffic == TrafficSplit("1", None, 0)


def test_with_manual_rollback_a_canary_serving_again_within_the_grace_goes_on() -> None:
    sim = at_fifty_percent(rollback="Manual")
    sim.canary_ready = False
    sim.tick(1)
    assert sim.tick(4).status.phase is Phase.PROGRESSING
    sim.canary_ready = True
    d = sim.passing(1)
    assert d.status.phase is Phase.PROGRESSING and ready(d.status) == ("True", "StableServing")
    assert d.status.canary_not_serving_since is None and d.status.canary_version == "2"


def test_a_gates_pending_manual_rollback_is_done_once_the_canary_does_not_serve() -> None:
    """A gate's Fail held for a human (Manual), then the canary stops serving: past the grace it
    is rolled back, its pending rollback with it (Ready no longer RollbackPending)."""
    sim = at_fifty_percent(rollback="Manual")
    d = sim.tick(1, verdicts={"latency": F, "shadow": P})
    assert d.status.phase is Phase.PAUSED and ready(d.status) == ("False", "RollbackPending")
    sim.canary_ready = False
    sim.tick(1)
    d = sim.tick(5)
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert d.status.phase is Phase.DEGRADED and ready(d.status) == ("True", "StableServing")


def test_a_shorter_progress_deadline_is_the_grace() -> None:
    sim = at_fifty_percent(deadline="2m")
    sim.canary_ready = False
    sim.tick(1)
    d = sim.tick(2)
    assert d.status.canary_version is None
    assert "past the 2m a canary with traffic may go without serving" in (
        d.status.history[-1].reason)


def test_a_canary_before_any_traffic_that_never_serves_is_only_waited_for() -> None:
    sim = Sim(make_spec(gates=[{"name": "qini", "type": "qini"}]))
    sim.tick()
    sim.desired, sim.canary_ready = "2", False
    sim.tick()
    for _ in range(10):
        d = sim.tick(60)
    assert d.status.canary_version == "2" and d.status.canary_weight == 0
    assert d.status.canary_not_serving_since is None
    assert d.status.phase is Phase.PROGRESSING and "canary is not serving yet" in d.status.message


def test_an_outage_of_both_versions_does_not_roll_the_canary_back() -> None:
    sim = at_fifty_percent()
    sim.canary_ready = sim.stable_ready = False
    for _ in range(6):
        d = sim.tick(5)
    assert d.status.canary_version == "2" and d.status.canary_not_serving_since is None
    sim.stable_ready = True  # the stable is back, the canary not yet: counted from now
    since = sim.now + dt.timedelta(minutes=1)
    assert sim.tick(1).status.canary_not_serving_since == since
    assert sim.tick(4.5).status.canary_version == "2"


def test_a_canary_whose_own_predictor_serves_is_not_down_while_the_graph_is_not_ready() -> None:
    """``ready_versions`` (the versions whose own predictor serves) speaks for the canary too:
    a graph not ready because of the stable's pods (``canary_ready`` False) blames no canary."""
    sim = at_fifty_percent()
    sim.canary_ready = False
    sim.ready_versions = frozenset({"1", "2"})
    for _ in range(4):
        d = sim.tick(5)
    assert d.status.canary_version == "2" and d.status.canary_not_serving_since is None
    assert d.status.phase is Phase.PROGRESSING and d.status.canary_weight == 50
    assert "canary is not serving" not in d.status.message
    assert ("waiting (the serving graph is not ready yet; canary 2's own predictor serves"
            in d.status.message)
    sim.ready_versions = frozenset({"1"})
    assert "canary is not serving since" in sim.tick(1).status.message
    assert sim.tick(5).status.canary_version is None


def test_a_graph_not_ready_holds_the_step_and_a_promote_but_rolls_nothing_back() -> None:
    """Pods of both versions serve while the graph is not Ready (the executor's, say): the step
    holds for good, truthfully worded, and a promote waits for the graph; the canary is not
    rolled back however long it lasts."""
    sim = at_fifty_percent()
    sim.canary_ready = False
    sim.ready_versions = frozenset({"1", "2"})
    for _ in range(6):
        d = sim.tick(20, verdicts=NO_DATA)
    assert d.status.canary_version == "2" and d.status.canary_weight == 50
    assert all(e.action != "RolledBack" for e in d.status.history)
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    d = sim.tick(1)
    assert d.status.canary_version == "2" and d.status.stable_version == "1"
    assert any("a promote waits for the graph to be ready" in e.message for e in d.events)


def test_gates_passing_again_do_not_outlast_a_canary_that_does_not_serve() -> None:
    """The step holds while the canary does not serve, whatever its gates said last."""
    sim = at_fifty_percent()
    sim.canary_ready = False
    sim.tick(1, verdicts={"latency": P, "shadow": P})
    d = sim.tick(5, verdicts={"latency": P, "shadow": P})
    assert d.status.canary_version is None and d.status.aborted_version == "2"


def test_a_canary_that_stops_serving_under_an_invalid_spec_is_rolled_back_with_the_defaults(
        ) -> None:
    """While the spec is invalid only stop requests were acted on: a canary at 50 % that
    stopped serving kept its share, unserved, and no pass was asked for. The serving safety
    net runs there too, with the defaults (5 minutes, Automatic) since the spec's
    ``progressDeadline`` and ``rollback.mode`` cannot be trusted."""
    sim = at_fifty_percent(rollback="Manual", deadline="30m")
    observed = ramp.Observed(desired_version="2", stable_ready=True, canary_ready=False,
                             ready_versions=frozenset({"1"}), generation=4)
    stopped = sim.now + dt.timedelta(minutes=1)
    d = ramp.decide_stopping_requests(sim.spec, sim.status, observed, stopped)
    assert d.status.canary_not_serving_since == stopped and d.status.canary_version == "2"
    assert d.requeue_after == dt.timedelta(minutes=5)  # when the grace ends
    again = ramp.decide_stopping_requests(sim.spec, d.status, observed, stopped)
    assert again.status == d.status and again.events == ()
    d = ramp.decide_stopping_requests(sim.spec, d.status, observed,
                                      stopped + dt.timedelta(minutes=5))
    assert d.status.canary_version is None and d.status.aborted_version == "2"
    assert d.traffic == TrafficSplit("1", None, 0)
    assert [e.reason for e in d.events] == [Reason.ROLLED_BACK]
    assert "past the 5m a canary with traffic may go without serving" in d.events[0].message
