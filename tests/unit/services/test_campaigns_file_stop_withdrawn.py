"""A stop the campaigns file carried (an abort or emergency rollback written as inactive at 0 %
before the Campaign's status handled it), then withdrawn before that status did (its annotation
removed or replaced, e.g. while every status write of the Campaign was refused), delivers the
Campaign's exposure anew: the pods treated at 0 % meanwhile, so its step starts over rather
than judging that time as the step's."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.unit.services.campaigns_file_passes import NAME, OWNER, carried, file_pass, ramped_to_25
from tests.unit.services.test_campaign import MODEL, NS, Sim, reasons

from uplift_operator.domain.requests import (
    ABORT_ANNOTATION,
    EMERGENCY_ROLLBACK_ANNOTATION,
    RETRY_ANNOTATION,
)
from uplift_operator.services import campaigns_file


def _carried(sim: Sim) -> tuple[float, bool]:
    entry = carried(sim)
    return float(entry["exposurePercent"]), bool(entry["active"])


@pytest.mark.parametrize("stop", [ABORT_ANNOTATION, EMERGENCY_ROLLBACK_ANNOTATION])
def test_a_stop_withdrawn_before_its_status_handled_it_starts_the_step_over(stop: str) -> None:
    sim, files = ramped_to_25()
    raised_at = sim.status["stepStartedAt"]
    sim.annotate(stop, "stop-now")
    # Only file passes run (every status write of the Campaign refused): the pods stop.
    sim.now += dt.timedelta(minutes=1)
    file_pass(sim, files)
    assert _carried(sim) == (0, False)
    sim.now += dt.timedelta(hours=7)  # longer than the step's pause, at 0 %
    del sim.body["metadata"]["annotations"][stop]

    assert file_pass(sim, files).changed
    assert _carried(sim) == (25, True)
    assert files.delivered_at(NS, MODEL, NAME) == sim.now
    result = sim.tick(0.1)

    assert "StepAdvanced" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    assert sim.status["stepStartedAt"] != raised_at
    assert dt.datetime.fromisoformat(sim.status["stepStartedAt"]) >= sim.now - dt.timedelta(
        seconds=10)


def test_a_stop_replaced_by_another_then_withdrawn_starts_the_step_over() -> None:
    sim, files = ramped_to_25()
    first_write = files.delivered_at(NS, MODEL, NAME)  # the process's first write
    sim.annotate(ABORT_ANNOTATION, "first")
    file_pass(sim, files)
    sim.now += dt.timedelta(hours=3)
    sim.annotate(ABORT_ANNOTATION, "second")  # still a stop: still carried stopped
    file_pass(sim, files)
    assert _carried(sim) == (0, False)
    assert files.delivered_at(NS, MODEL, NAME) == first_write
    sim.now += dt.timedelta(hours=4)
    del sim.body["metadata"]["annotations"][ABORT_ANNOTATION]
    file_pass(sim, files)
    assert files.delivered_at(NS, MODEL, NAME) == sim.now

    assert "StepAdvanced" not in reasons(sim.tick(0.1))
    assert sim.status["exposurePercent"] == 25


def test_a_stop_its_status_handled_delivers_nothing_anew() -> None:
    sim, files = ramped_to_25()
    first_write = files.delivered_at(NS, MODEL, NAME)
    sim.annotate(ABORT_ANNOTATION, "stop-now")
    file_pass(sim, files)
    sim.tick(1)  # handled: rolled back to 0 %
    assert sim.status["exposurePercent"] == 0
    file_pass(sim, files)
    del sim.body["metadata"]["annotations"][ABORT_ANNOTATION]
    file_pass(sim, files)
    assert _carried(sim) == (0, False)
    assert files.delivered_at(NS, MODEL, NAME) == first_write
    assert files.stopped == {}
    # A stop withdrawn before any file pass wrote it: the pods never stopped.
    sim.tick(1)
    sim.annotate(RETRY_ANNOTATION, "again")
    sim.tick(1)
    file_pass(sim, files)
    sim.annotate(ABORT_ANNOTATION, "stop-again")
    del sim.body["metadata"]["annotations"][ABORT_ANNOTATION]
    file_pass(sim, files)
    assert _carried(sim)[1]
    assert files.delivered_at(NS, MODEL, NAME) == first_write


def test_the_model_gone_forgets_the_stops_written() -> None:
    sim, files = ramped_to_25()
    sim.annotate(ABORT_ANNOTATION, "stop-now")
    file_pass(sim, files)
    assert NAME in files.stopped[(NS, MODEL)]
    campaigns_file.forget(OWNER, files)
    assert (NS, MODEL) not in files.stopped
