"""Before the model's first campaigns-file pass in this process the Campaign's step waits for
it, and says so: not "gates passed; step ends at" a time already past, and no
``AnalysisPassed`` on evidence that may be of the exposure before the step's. A step started
over for a delivery starts no earlier than that delivery, so it does not start over twice."""

from __future__ import annotations

import datetime as dt

from tests.unit.services.campaigns_file_passes import (
    NAME,
    OWNER,
    exposure_in_file,
    file_pass,
    new_process,
    ramped_to_25,
    restarted_before_delivery,
)
from tests.unit.services.test_campaign import MODEL, NS, reasons

from uplift_operator.services import campaigns_file


def test_before_the_first_file_pass_the_step_waits_for_it_and_says_no_pass() -> None:
    sim, files = restarted_before_delivery()

    result = sim.tick(0.1)  # the Campaign's pass first: the file's reach not known yet

    assert "AnalysisPassed" not in reasons(result)
    assert "StepAdvanced" not in reasons(result)
    assert "step ends at" not in sim.status["message"]
    assert "first campaigns-file pass" in sim.status["message"]
    # That pass delivers the step late: it starts over, and its earlier Pass is never said.
    file_pass(sim, files)
    assert exposure_in_file(sim) == 25
    result = sim.tick(0.1)
    assert "AnalysisPassed" not in reasons(result)
    assert "first campaigns-file pass" not in sim.status["message"]


def test_a_pass_held_for_the_first_file_pass_is_said_once_the_file_carried_the_step() -> None:
    sim, files = ramped_to_25()
    sim.now += dt.timedelta(minutes=10)  # an analysis due, the step's pause (6 h) not over
    files = new_process(sim)  # a restart: the file carried the step all along
    result = sim.tick(0.1)
    assert "AnalysisPassed" not in reasons(result)
    assert "first campaigns-file pass" in sim.status["message"]
    assert not file_pass(sim, files).changed

    result = sim.tick(0.1)

    assert reasons(result) == ["AnalysisPassed"]
    assert "gates passed; step ends at" in sim.status["message"]


def test_a_delivery_after_the_pass_began_starts_the_step_from_it_once() -> None:
    sim, files = restarted_before_delivery()
    # The first write lands while the Campaign's pass measures: after that pass's time.
    delivered = sim.now + dt.timedelta(seconds=2)
    campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files, now=delivered)
    assert files.delivered_at(NS, MODEL, NAME) == delivered

    sim.tick(0)
    assert dt.datetime.fromisoformat(sim.status["stepStartedAt"]) == delivered
    sim.tick(0.1)
    assert dt.datetime.fromisoformat(sim.status["stepStartedAt"]) == delivered
