"""The step machine (``domain.steps``) on three edges both ramps share.

- A ramp whose spec lost steps past its current one has its stored ``status.currentStep``
  written back to the spec's last step, held or not: before, it was clamped only when read, so
  the CRD's StepIndex column showed 2 for a 2-step ramp and ``kubectl uplift status`` printed
  "step 3/2" until the ramp ended.
- Before any traffic, an analysis due now (the offline gates are judged at once) asks for a pass
  now: before, the requeue waited a whole ``analysisInterval`` from the canary's start, so the
  offline verdict, and the traffic it lets in, came up to an interval late.
- ``Resumed`` is said only of a ramp still underway after the pass: a full promote of a paused
  ramp is a promote, not a resume (before, "Resumed: version 2 serves all traffic" with the spec
  still paused).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.domain import test_exposure_step_edits as campaign
from tests.unit.domain.test_ramp import INC, P, Sim, make_spec, with_canary

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import canary
from uplift_operator.domain.ramp import Reason

TWO = ((10, "5m"), (25, "5m"))


def at_third_step(**rollout: Any) -> Sim:
    """A canary at step 3 (50 %), its gates passing."""
    sim = with_canary(make_spec(**rollout))
    sim.passing(5)
    sim.passing(5)
    assert (sim.status.current_step, sim.status.canary_weight) == (2, 50)
    return sim


# -- steps cut below the current one -------------------------------------------------------------


def test_canary_step_index_past_the_cut_spec_is_written_back_as_its_last_step() -> None:
    sim = at_third_step()
    sim.spec = make_spec(steps=TWO)
    d = sim.passing(1)
    assert (d.status.current_step, d.status.canary_weight) == (1, 50)  # never lowered
    assert d.status.message.startswith("canary 2 at step 2/2 (50%)")
    assert Reason.STEP_RESTARTED not in sim.reasons()  # nothing raised: only the index


def test_canary_step_index_is_written_back_while_the_ramp_is_held() -> None:
    sim = at_third_step()
    sim.spec = make_spec(steps=TWO, paused=True)
    d = sim.passing(1)
    assert d.status.phase is Phase.PAUSED
    assert (d.status.current_step, d.status.canary_weight) == (1, 50)


def test_written_back_index_still_holds_a_last_step_whose_split_the_graph_lacks() -> None:
    """The index written back is no step change of this pass: the last step found at another
    split still holds its promotion (its split applied again, then waiting for the graph)."""
    sim = at_third_step()
    sim.spec = make_spec(steps=TWO)
    sim.split_as_status = False
    d = sim.passing(5)  # the step's pause elapsed, its gates passing
    assert d.status.canary_version == "2" and d.status.current_step == 1
    assert Reason.PROMOTED not in sim.reasons()
    assert "the serving graph does not carry this step's split" in d.status.message


def test_campaign_step_index_past_the_cut_spec_is_written_back_as_its_last_step() -> None:
    sim = campaign.at_step_three()
    sim.edit(campaign.make_spec(TWO))
    d = sim.tick()
    assert sim.at() == (1, 50)
    assert d.status.message.startswith("exposure 50% at step 2/2")


def test_campaign_step_index_is_written_back_while_the_ramp_is_held() -> None:
    sim = campaign.at_step_three()
    sim.edit(campaign.make_spec(TWO, paused=True))
    d = sim.tick()
    assert d.status.phase is Phase.PAUSED
    assert sim.at() == (1, 50)


# -- the pre-traffic analysis is asked for at once -----------------------------------------------


QINI = [{"name": "q", "type": "qini"}, {"name": "latency", "type": "latency"}]


def test_canary_deployed_before_traffic_is_requeued_for_its_offline_analysis_at_once() -> None:
    spec = make_spec(gates=QINI)
    sim = Sim(spec)
    sim.tick()
    sim.desired = "2"
    d = sim.tick(0.1)
    assert (d.status.canary_version, d.status.canary_weight) == ("2", 0)
    assert canary.analysis_due(spec, d.status, sim.now)
    assert d.requeue_after == dt.timedelta(seconds=1)  # the requeue floor, not an interval
    # Judged (Inconclusive): the next analysis is an interval later, no hot loop.
    d = sim.tick(1 / 60, verdicts={"q": INC})
    assert d.status.canary_weight == 0 and d.status.last_analysis_at == sim.now
    assert not canary.analysis_due(spec, d.status, sim.now)
    assert d.requeue_after == dt.timedelta(minutes=1)
    # Passed an interval later: traffic starts.
    d = sim.tick(1, verdicts={"q": P})
    assert d.status.canary_weight == 10 and Reason.TRAFFIC_STARTED in sim.reasons()


# -- Resumed only of a ramp still underway -------------------------------------------------------


def test_full_promote_of_a_paused_canary_says_no_resumed() -> None:
    sim = with_canary(make_spec(paused=True))
    d = sim.passing(1)
    assert d.status.phase is Phase.PAUSED
    sim.request("uplift.dev/promote", "full:1")
    d = sim.tick(1)
    assert d.status.phase is Phase.HEALTHY and d.status.stable_version == "2"
    assert sim.reasons() == [Reason.MANUAL_PROMOTE, Reason.PROMOTED]


def test_one_step_promote_of_a_paused_canary_still_paused_says_no_resumed() -> None:
    sim = at_third_step(steps=((10, "5m"), (25, "5m"), (50, "5m"), (75, "5m")))
    sim.spec = make_spec(steps=((10, "5m"), (25, "5m"), (50, "5m"), (75, "5m")), paused=True)
    assert sim.passing(1).status.phase is Phase.PAUSED
    sim.request("uplift.dev/promote", "step:1")
    d = sim.tick(1)
    assert d.status.phase is Phase.PAUSED and d.status.current_step == 3
    assert sim.reasons() == [Reason.MANUAL_PROMOTE, Reason.STEP_ADVANCED]


def test_a_paused_canary_unpaused_still_says_resumed() -> None:
    sim = with_canary(make_spec(paused=True))
    sim.passing(1)
    sim.spec = make_spec()
    d = sim.passing(1)
    assert d.status.phase is Phase.PROGRESSING and Reason.RESUMED in sim.reasons()


def test_full_promote_of_a_paused_campaign_says_no_resumed() -> None:
    sim = campaign.at_step_three()
    sim.edit(campaign.make_spec(paused=True))
    d = sim.tick()
    assert d.status.phase is Phase.PAUSED
    sim.annotations["uplift.dev/promote"] = "full:1"
    d = sim.tick()
    assert sim.at() == (None, 75) and d.status.phase is Phase.HEALTHY
    assert Reason.RESUMED not in sim.reasons(d)
    assert Reason.MANUAL_PROMOTE in sim.reasons(d)
