"""What the tests of the campaigns file's deliveries and stops share: the Campaign
``spring-email`` of ``test_campaign``'s simulation, the Campaign passes of a new operator
process reading that process's file dependencies, the model's file passes
(``campaigns_file.sync``) and what the file carries; a ramp to the second step (25 %) with each
decision written, or with the last one never written (the process killed before its file
pass), and the process that comes up after it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tests.unit.services.test_campaign import (
    MODEL,
    NS,
    Sim,
    _custom_gate_spec,
    _with_delivery_collector,
)

from uplift_operator.render.naming import Owner
from uplift_operator.services import campaign, campaigns_file

OWNER = Owner(name=MODEL, namespace=NS, uid="model-uid")
KEY = ("v1", "configmaps", NS, f"{MODEL}-campaigns")
NAME = "spring-email"


def named(sim: Sim) -> Sim:
    """``sim``'s Campaign as ``NAME``, with a uid and a creation time."""
    sim.body["metadata"].update(name=NAME, uid="u1", creationTimestamp="2026-11-30T00:00:00Z")
    return sim


def ramping_sim() -> Sim:
    """A Campaign whose gates pass (a custom gate, deliveries at 0.99)."""
    return named(_with_delivery_collector(Sim(**_custom_gate_spec()), 0.99))


def new_process(sim: Sim) -> campaigns_file.FileDependencies:
    """A new operator process: its file dependencies, its Campaign pass reading them."""
    files = campaigns_file.FileDependencies(sim.cluster)
    sim.deps = campaign.CampaignDependencies(
        cluster=sim.cluster, prometheus=sim.deps.prometheus,
        metric_templates=sim.deps.metric_templates, left_out=files.left_out,
        undelivered=files.undelivered, carried_since=files.carried_since,
        delivered_at=files.delivered_at)
    return files


def file_pass(sim: Sim, files: campaigns_file.FileDependencies) -> campaigns_file.Synced:
    return campaigns_file.sync(OWNER, [campaigns_file.snapshot(sim.body)], files, now=sim.now)


def carried(sim: Sim) -> dict[str, Any]:
    """The Campaign's entry in the model's campaigns file."""
    document = json.loads(sim.cluster.objects[KEY]["data"]["campaigns.json"])
    return dict(document["campaigns"][NAME])


def exposure_in_file(sim: Sim) -> float:
    return float(carried(sim)["exposurePercent"])


def ramped_to_25() -> tuple[Sim, campaigns_file.FileDependencies]:
    """One process ramps the Campaign to its second step (25 %), each decision written by the
    process that made it."""
    sim = ramping_sim()
    files = new_process(sim)
    sim.tick()
    file_pass(sim, files)
    while sim.status["exposurePercent"] < 25:
        sim.tick(5)
        file_pass(sim, files)
    return sim, files


def raised_but_not_written(sim: Sim) -> None:
    """Process A ramps to the second step (25 %) and is killed before its file pass writes
    it: the file there still says 5 %."""
    files = new_process(sim)
    sim.tick()
    file_pass(sim, files)
    while sim.status["exposurePercent"] < 25:
        sim.tick(5)
        if sim.status["exposurePercent"] < 25:
            file_pass(sim, files)
    assert exposure_in_file(sim) == 5


def restarted_before_delivery() -> tuple[Sim, campaigns_file.FileDependencies]:
    """Process A raised the step and was killed before writing it; its successor comes up 7 h
    later (longer than the step's pause) and has run no file pass yet."""
    sim = ramping_sim()
    raised_but_not_written(sim)
    sim.now += dt.timedelta(hours=7)
    return sim, new_process(sim)
