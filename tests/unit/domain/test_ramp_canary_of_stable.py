"""A status whose canary names its stable version (a hand edit: no pass writes one) is read
without that canary, so the pass goes on: a version split against itself raised in every pass
(``TrafficSplit``), and an abort or an emergency rollback was never acted on. Driven by
``test_ramp.Sim``, so every decision is checked for idempotence too."""

from __future__ import annotations

import pytest

from uplift_operator.api.v1alpha1.common import Phase
from uplift_operator.domain import ramp
from uplift_operator.domain.canary import read_canary_of_stable
from uplift_operator.domain.ramp import Reason, TrafficSplit

from .test_ramp import Sim, make_spec, with_canary


def edited(sim: Sim, version: str, weight: int) -> None:
    """The status edited by hand: canary ``version`` at ``weight``, on a step."""
    sim.status = sim.status.model_copy(update={
        "canary_version": version, "canary_weight": weight, "current_step": 1,
        "step_started_at": sim.now, "canary_started_at": sim.now})


def promoted() -> Sim:
    """Version 2 promoted over 1: an emergency rollback has a previous stable to restore."""
    sim = with_canary()
    sim.request(ramp.PROMOTE_ANNOTATION, "full")
    sim.tick(1)
    assert (sim.status.stable_version, sim.status.previous_stable_version) == ("2", "1")
    sim.desired = "2"
    sim.ready_versions = frozenset({"2"})  # 1's predictor left at the promotion
    return sim


@pytest.mark.parametrize(("request_key", "reasons", "traffic"), [
    (None, [], TrafficSplit("2")),
    (ramp.ABORT_ANNOTATION, [Reason.MANUAL_ABORT], TrafficSplit("2")),  # ignored: no canary
    (ramp.EMERGENCY_ROLLBACK_ANNOTATION, [Reason.EMERGENCY_ROLLBACK],
     TrafficSplit("1", "2", 100)),  # the previous stable restored; 2 serves meanwhile
])
def test_a_canary_naming_the_stable_is_dropped_and_requests_act(
        request_key: str | None, reasons: list[Reason], traffic: TrafficSplit) -> None:
    sim = promoted()
    edited(sim, "2", 30)
    if request_key is not None:
        sim.request(request_key, "page-1")
    d = sim.tick(1)
    assert sim.reasons() == reasons
    assert d.traffic == traffic
    assert d.status.canary_version is None and d.status.canary_weight == 0
    assert d.status.current_step is None and d.status.step_started_at is None
    assert d.status.aborted_version is None  # the stable version is never taken for a canary


def test_a_canary_naming_the_stable_while_the_spec_names_a_new_version_starts_that_one() -> None:
    sim = Sim(make_spec())
    sim.tick()
    edited(sim, "1", 10)
    sim.desired = "2"
    d = sim.tick(1)
    assert sim.reasons() == [Reason.CANARY_STARTED]
    assert d.traffic == TrafficSplit("1", "2", 0) and d.status.phase is Phase.PROGRESSING


def test_read_canary_of_stable_leaves_any_other_status_as_it_is() -> None:
    sim = with_canary()
    assert read_canary_of_stable(sim.status) is sim.status
    edited(sim, "1", 10)
    read = read_canary_of_stable(sim.status)
    assert (read.stable_version, read.canary_version, read.canary_weight) == ("1", None, 0)
    assert read.gates == sim.status.gates  # the gates' memory stays, as a removed canary's
