"""A model whose re-render waits for a slot among the graphs rolling at once is woken when one
frees for it, through the same wake-ups as every other cause of a pass, and a roll that timed
out is counted (``handlers.upliftmodel.follow_rolls``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace
from typing import Any, cast

import kopf

from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import observability, upliftmodel, watches
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render.seldon import deployment_names
from uplift_operator.services.rolls import ROLL_TIMEOUT, Rolls

AT = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_a_freed_slot_wakes_the_next_queued_model_and_a_timeout_is_counted() -> None:
    first, second = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b")

    async def scenario() -> tuple[bool, bool, bool]:
        wakeups, rolls = Wakeups(), Rolls(limit=1)
        memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=SimpleNamespace(rolls=rolls))
        upliftmodel.follow_rolls(memo)
        upliftmodel.follow_rolls(memo)  # once per process
        flags = {owner: wakeups.register(owner, "u") for owner in (first, second)}
        rolls.admit(first, AT)
        rolls.admit(second, AT)
        rolls.timed_out(first, AT + ROLL_TIMEOUT)  # the holder's own pass at its deadline
        await asyncio.sleep(0)  # the wake-ups are called soon on the loop
        return (flags[second].is_set(), flags[first].is_set(),
                len(rolls.on_change) == len(rolls.on_timeout) == 1)

    timed_out = observability.REGISTRY.get_sample_value(
        "uplift_operator_graph_rolls_timed_out_total") or 0.0
    woken, told, once = asyncio.run(scenario())
    assert woken and not told and once  # the holder's pass runs now: not woken again
    assert observability.REGISTRY.get_sample_value(
        "uplift_operator_graph_rolls_timed_out_total") == timed_out + 1


def _graph(model: str, *, rolled: bool) -> dict[str, Any]:
    """A model's SeldonDeployment with one predictor of one pod, as Seldon reports it: done
    rolling (1 of 1 available), or mid-roll (a surge pod not available yet)."""
    predictor = {"name": "v4", "replicas": 1, "graph": {"name": "uplift"},
                 "componentSpecs": [{"spec": {"containers": [{"name": "uplift"}]}}]}
    name = deployment_names(model, predictor)[0]
    numbers = ({"replicas": 1, "availableReplicas": 1} if rolled
               else {"replicas": 2, "availableReplicas": 1})
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
            "metadata": {"namespace": "ns", "name": model, "uid": f"sd-{model}",
                         "resourceVersion": "7",
                         "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                              "kind": "UpliftModel", "name": model,
                                              "uid": f"m-{model}", "controller": True}]},
            "spec": {"predictors": [predictor]},
            "status": {"state": "Available", "deploymentStatus": {name: numbers}}}


def _watching(rolls: Rolls, *models: str) -> kopf.Memo:
    """The memo of a process whose model watch holds ``models`` (their uid ``m-<name>``)."""
    objects = WatchedObjects(["upliftmodels", "seldondeployments"])
    for model in models:
        objects.observe("upliftmodels", {"metadata": {"namespace": "ns", "name": model,
                                                      "uid": f"m-{model}",
                                                      "resourceVersion": "1"}})
    return kopf.Memo(wakeups=Wakeups(), watched_objects=objects,
                     uplift_dependencies=SimpleNamespace(rolls=rolls))


def _events(memo: kopf.Memo, *graphs: dict[str, Any], kind: str = "ADDED") -> None:
    handler: Any = watches.child_changed
    for graph in graphs:
        asyncio.run(handler(event={"type": kind, "object": graph},
                            body=kopf.Body(cast(kopf.RawBody, graph)), memo=memo))


def test_a_graph_listed_at_start_still_rolling_holds_a_slot_before_any_first_pass() -> None:
    """After a restart kopf lists every graph, usually before the models' first passes: a graph
    still rolling from before counts from its event, so the first re-render to ask waits, where
    it took the slot before (the rolling model's own first pass came later)."""
    rolls = Rolls(limit=1)
    memo = _watching(rolls, "rolling", "settled")
    _events(memo, _graph("rolling", rolled=False), _graph("settled", rolled=True))
    assert not rolls.admit(("UpliftModel", "ns", "settled"), AT).admitted
    assert not rolls.admit(("UpliftModel", "ns", "upgraded"), AT).admitted
    # The rolling model's own re-render goes in the slot it holds.
    assert rolls.admit(("UpliftModel", "ns", "rolling"), AT).admitted


def test_a_later_event_of_a_graph_this_process_already_knew_counts_nothing() -> None:
    rolls = Rolls(limit=1)
    memo = _watching(rolls, "rolling")
    rolls.found(("UpliftModel", "ns", "rolling"), AT, version="6", rolling=False)  # its pass
    _events(memo, _graph("rolling", rolled=False), kind="MODIFIED")
    assert rolls.admit(("UpliftModel", "ns", "other"), AT).admitted


def test_the_graph_of_a_model_the_watch_does_not_hold_counts_nothing() -> None:
    """A model deleted mid-roll (``forget`` done) whose graph still reports on its pods before
    the garbage collector removes it, a graph whose owner is another object of the name, or one
    being deleted: no slot held for a model that will never pass."""
    rolls = Rolls(limit=1)
    memo = _watching(rolls, "renamed")
    reused = _graph("renamed", rolled=False)
    reused["metadata"]["ownerReferences"][0]["uid"] = "m-old"  # the name's earlier object
    deleting = _graph("renamed", rolled=False)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-01T00:00:00Z"
    _events(memo, _graph("gone", rolled=False), reused, deleting)
    assert rolls.admit(("UpliftModel", "ns", "other"), AT).admitted
