"""A step whose exposure a predecessor decided but never wrote to the campaigns file (killed
between its Campaign status write and its file pass) starts over once this process's first
file pass delivers it: the time before was at the earlier exposure, not the step's. Before
that pass the step does not end (whether the file carries it is not known yet)."""

from __future__ import annotations

import datetime as dt
import json

import kopf
from tests.unit.services.test_campaign import (
    MODEL,
    NS,
    Sim,
    _custom_gate_spec,
    _with_delivery_collector,
    reasons,
)

from uplift_operator import settings
from uplift_operator.handlers import campaign as campaign_handlers
from uplift_operator.render.naming import Owner
from uplift_operator.services import campaign, campaigns_file

OWNER = Owner(name=MODEL, namespace=NS, uid="model-uid")
KEY = ("v1", "configmaps", NS, f"{MODEL}-campaigns")


def _sim() -> Sim:
    sim = _with_delivery_collector(Sim(**_custom_gate_spec()), 0.99)
    sim.body["metadata"].update(name="spring-email", uid="u1",
                                creationTimestamp="2026-11-30T00:00:00Z")
    return sim


def _process(sim: Sim) -> campaigns_file.FileDependencies:
    """A new operator process: its file dependencies, its Campaign pass reading them."""
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = campaign.CampaignDependencies(
        cluster=sim.cluster, prometheus=sim.deps.prometheus,
        metric_templates=sim.deps.metric_templates, left_out=files.left_out,
        undelivered=files.undelivered, carried_since=files.carried_since,
        delivered_at=files.delivered_at)
    return files


def _file_pass(sim: Sim, files: campaigns_file.FileDependencies) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files, now=sim.now)


def _exposure_in_file(sim: Sim) -> float:
    entry = json.loads(sim.cluster.objects[KEY]["data"]["campaigns.json"])["campaigns"]
    return float(entry["spring-email"]["exposurePercent"])


def _raised_but_not_written(sim: Sim) -> None:
    """Process A ramps to the second step (25 %) and is killed before its file pass writes
    it: the file there still says 5 %."""
    files = _process(sim)
    sim.tick()
    _file_pass(sim, files)
    while sim.status["exposurePercent"] < 25:
        sim.tick(5)
        if sim.status["exposurePercent"] < 25:
            _file_pass(sim, files)
    assert _exposure_in_file(sim) == 5


def test_the_first_file_pass_of_a_successor_delivering_the_step_starts_it_over() -> None:
    sim = _sim()
    _raised_but_not_written(sim)
    raised_at = sim.status["stepStartedAt"]
    sim.now += dt.timedelta(hours=7)  # down longer than the step's pause
    files = _process(sim)
    assert _file_pass(sim, files).changed
    assert _exposure_in_file(sim) == 25
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
    sim = _sim()
    _raised_but_not_written(sim)
    sim.now += dt.timedelta(hours=7)
    files = _process(sim)

    result = sim.tick(0.1)  # the Campaign's pass comes first: the file's reach not known yet

    assert "StepAdvanced" not in reasons(result)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    _file_pass(sim, files)
    assert _exposure_in_file(sim) == 25
    sim.tick(0.1)
    assert (sim.status["exposurePercent"], sim.status["currentStep"]) == (25, 1)
    assert dt.datetime.fromisoformat(sim.status["stepStartedAt"]) >= sim.now - dt.timedelta(
        seconds=1)


def test_a_step_the_file_carried_before_the_restart_does_not_start_over() -> None:
    sim = _sim()
    files = _process(sim)
    sim.tick()
    _file_pass(sim, files)
    while sim.status["exposurePercent"] < 25:
        sim.tick(5)
        _file_pass(sim, files)  # each decision written by the process that made it
    raised_at = sim.status["stepStartedAt"]
    sim.now += dt.timedelta(minutes=1)
    files = _process(sim)
    assert not _file_pass(sim, files).changed
    assert files.delivered_at(NS, MODEL, "spring-email") is None

    sim.tick(0.1)

    assert sim.status["stepStartedAt"] == raised_at


def test_within_a_process_a_file_pass_after_each_decision_restarts_no_step() -> None:
    sim = _sim()
    files = _process(sim)
    sim.tick()
    _file_pass(sim, files)
    # The process's first write delivered the first step when it started: nothing to restart.
    assert files.delivered_at(NS, MODEL, "spring-email") == sim.now
    started = [sim.status["stepStartedAt"]]
    for _ in range(40):
        sim.tick(30)
        if sim.status["stepStartedAt"] != started[-1]:
            started.append(sim.status["stepStartedAt"])
        _file_pass(sim, files)
        if sim.status["exposurePercent"] == 100:
            break
    sim.tick(30)
    # One start per step (5 %, 25 %, 100 %), none restarted by the writes that followed them.
    assert sim.status["exposurePercent"] == 100
    assert [*started, sim.status["stepStartedAt"]][-1] == started[-1]
    assert len(started) == 3


def test_the_operator_gives_the_campaign_pass_the_file_passes_deliveries() -> None:
    sim = _sim()
    files = campaigns_file.FileDependencies(sim.cluster)
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]),
                     uplift_dependencies=sim.deps, campaigns_file_dependencies=files)
    deps = campaign_handlers.campaign_dependencies(memo)
    files.delivered[(NS, MODEL)] = {"spring-email": sim.now}
    assert deps.delivered_at(NS, MODEL, "spring-email") == sim.now
