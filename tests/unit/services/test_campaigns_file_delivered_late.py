"""A step whose exposure a predecessor decided but never wrote to the campaigns file (killed
between its Campaign status write and its file pass) starts over once this process's first
file pass delivers it: the time before was at the earlier exposure, not the step's. Before
that pass the step does not end (whether the file carries it is not known yet)."""

from __future__ import annotations

import datetime as dt

import kopf
from tests.unit.services.campaigns_file_passes import (
    exposure_in_file,
    file_pass,
    new_process,
    ramped_to_25,
    ramping_sim,
    restarted_before_delivery,
)
from tests.unit.services.test_campaign import MODEL, NS, reasons

from uplift_operator import settings
from uplift_operator.handlers import campaign as campaign_handlers
from uplift_operator.services import campaigns_file


def test_the_first_file_pass_of_a_successor_delivering_the_step_starts_it_over() -> None:
    sim, files = restarted_before_delivery()  # down longer than the step's pause
    raised_at = sim.status["stepStartedAt"]
    assert file_pass(sim, files).changed
    assert exposure_in_file(sim) == 25
    assert files.delivered_at(NS, MODEL, "spring-email") == sim.now

    result = sim.tick(0.1)

    assert "StepAdvanced" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    assert sim.status["stepStartedAt"] != raised_at
    started = dt.datetime.fromisoformat(sim.status["stepStartedAt"])
    assert started >= sim.now - dt.timedelta(seconds=1)
    # Started over once: the next pass finds the delivery no later than the step's start.
    restarted = sim.status["stepStartedAt"]
    sim.tick(0.1)
    assert sim.status["stepStartedAt"] == restarted


def test_a_campaign_pass_before_the_first_file_pass_does_not_end_the_step() -> None:
    sim, files = restarted_before_delivery()

    result = sim.tick(0.1)  # the Campaign's pass comes first: the file's reach not known yet

    assert "StepAdvanced" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    file_pass(sim, files)
    assert exposure_in_file(sim) == 25
    sim.tick(0.1)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    assert dt.datetime.fromisoformat(sim.status["stepStartedAt"]) >= sim.now - dt.timedelta(
        seconds=1)


def test_a_step_the_file_carried_before_the_restart_does_not_start_over() -> None:
    sim, files = ramped_to_25()  # each decision written by the process that made it
    raised_at = sim.status["stepStartedAt"]
    sim.now += dt.timedelta(minutes=1)
    files = new_process(sim)
    assert not file_pass(sim, files).changed
    assert files.delivered_at(NS, MODEL, "spring-email") is None

    sim.tick(0.1)

    assert sim.status["stepStartedAt"] == raised_at


def test_within_a_process_a_file_pass_after_each_decision_restarts_no_step() -> None:
    sim = ramping_sim()
    files = new_process(sim)
    sim.tick()
    file_pass(sim, files)
    # The process's first write delivered the first step when it started: nothing to restart.
    assert files.delivered_at(NS, MODEL, "spring-email") == sim.now
    started = [sim.status["stepStartedAt"]]
    for _ in range(40):
        sim.tick(30)
        if sim.status["stepStartedAt"] != started[-1]:
            started.append(sim.status["stepStartedAt"])
        file_pass(sim, files)
        if sim.status["exposurePercent"] == 100:
            break
    sim.tick(30)
    # One start per step (5 %, 25 %, 100 %), none restarted by the writes that followed them.
    assert sim.status["exposurePercent"] == 100
    assert [*started, sim.status["stepStartedAt"]][-1] == started[-1]
    assert len(started) == 3


def test_the_operator_gives_the_campaign_pass_the_file_passes_deliveries() -> None:
    sim = ramping_sim()
    files = campaigns_file.FileDependencies(sim.cluster)
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]),
                     uplift_dependencies=sim.deps, campaigns_file_dependencies=files)
    deps = campaign_handlers.campaign_dependencies(memo)
    files.delivered[(NS, MODEL)] = {"spring-email": sim.now}
    assert deps.delivered_at(NS, MODEL, "spring-email") == sim.now
