"""A decision-key Secret deleted by hand and created anew under a graph that serves.

The runtime pods read ``UPLIFT_DECISION_KEY`` once, at their start: a Secret created anew (a new
random key) under running pods left the old pods on the old key and every pod started after on
the new one, and a replica refuses reports for ids the other kind signed (docs/runtime.md). The
operator says so (a Warning, ``DecisionKeyRecreated``) and renders the new key's creation into
every predictor's pod spec, so that Seldon rolls them all onto it, once.
"""

from __future__ import annotations

import itertools
from typing import Any

from tests.unit.services.test_upliftmodel import KEY_SECRET, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.render.seldon import DECISION_KEY_CREATED_ENV
from uplift_operator.services import upliftmodel


def _created(sim: Sim) -> list[str | None]:
    """Each predictor's ``DECISION_KEY_CREATED_ENV`` as applied (None: not there)."""
    found: list[str | None] = []
    for predictor in sim.cluster.objects[SELDON]["spec"]["predictors"]:
        env: list[dict[str, Any]] = predictor["componentSpecs"][0]["spec"]["containers"][0]["env"]
        found.append(next((e["value"] for e in env if e["name"] == DECISION_KEY_CREATED_ENV),
                          None))
    return found


def test_a_key_created_anew_under_a_serving_graph_rolls_every_predictor_once() -> None:
    sim = Sim()
    keys = (f"k{n}" for n in itertools.count(1))  # one drawn at every create
    sim.deps.new_decision_key = lambda: next(keys)
    sim.with_canary()
    assert _created(sim) == [None, None]  # the first key: nothing to roll
    assert not any(e.reason == upliftmodel.DECISION_KEY_RECREATED
                   for r in sim.results for e in r.events)
    del sim.cluster.secrets[KEY_SECRET]  # deleted by hand
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}  # a pod restarts, lacks it
    result = sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    new = sim.cluster.secrets[KEY_SECRET]["key"]
    assert new != "k1"
    [warning] = [e for e in result.events if e.reason == upliftmodel.DECISION_KEY_RECREATED]
    assert warning.type == "Warning"
    assert "until all have restarted" in warning.message and new not in warning.message
    stamp = sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _created(sim) == [stamp, stamp]  # the stable's pods and the canary's: all roll
    assert sim.weights() == {"1": 90, "2": 10}  # the split as it was
    applied = len(sim.cluster.applied)
    for _ in range(3):  # rendered as the graph carries it: no second roll, no second Warning
        sim.seldon()
        result = sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds())
        assert not any(e.reason == upliftmodel.DECISION_KEY_RECREATED for e in result.events)
    assert len(sim.cluster.applied) == applied and _created(sim) == [stamp, stamp]
    assert sim.deps.decision_keys_recreated == {}


def test_a_key_created_anew_whose_roll_is_not_applied_yet_is_rendered_at_the_next_pass() -> None:
    """The pass that creates the key may not apply the graph (refused, or a re-render queued
    for a roll slot): the next passes render it still, though the Secret is there by then."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    del sim.cluster.secrets[KEY_SECRET]
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}
    sim.cluster.apply_error = KubeError("apply refused", 500)
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert KEY_SECRET in sim.cluster.secrets and _created(sim) == [None]
    sim.cluster.apply_error = None
    sim.tick(60, available=False)
    assert _created(sim) != [None]


def test_a_first_key_under_no_graph_renders_nothing_new() -> None:
    sim = Sim()
    sim.tick()
    assert _created(sim) == [None] and sim.deps.decision_keys_recreated == {}


def _secrets_readable(sim: Sim) -> None:
    """The fake cluster keeps a created Secret's metadata where ``get`` reads it."""
    create = sim.cluster.create_secret

    def keeping(manifest: dict[str, Any]) -> bool:
        created = create(manifest)
        if created:
            sim.cluster.put("secrets", manifest)
        return created
    sim.cluster.create_secret = keeping  # type: ignore[method-assign,assignment]


def _restart(sim: Sim) -> None:
    """What a new process knows: nothing of the keys made sure of or created anew."""
    sim.deps.decision_keys.clear()
    sim.deps.decision_keys_recreated.clear()


def test_a_roll_onto_a_key_created_anew_outlives_a_restart_before_the_graph_carries_it() -> None:
    sim = Sim()
    _secrets_readable(sim)
    sim.tick()
    sim.tick(1)
    del sim.cluster.secrets[KEY_SECRET]
    sim.cluster.objects.pop(("v1", "secrets", *KEY_SECRET), None)
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}
    sim.cluster.apply_error = KubeError("apply refused", 500)
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    stamp = sim.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    secret = sim.cluster.objects[("v1", "secrets", *KEY_SECRET)]
    assert secret["metadata"]["annotations"] == {
        upliftmodel.DECISION_KEY_CREATED_UNDER_GRAPH: stamp}
    assert _created(sim) == [None]
    _restart(sim)
    sim.cluster.apply_error = None
    sim.tick(60, available=False)  # the first pass after: the Secret is read, the roll goes
    assert _created(sim) == [stamp]
    sim.seldon()
    applied = len(sim.cluster.applied)
    sim.tick(60)
    assert len(sim.cluster.applied) == applied and sim.deps.decision_keys_recreated == {}


def test_a_first_key_carries_no_time_and_a_restart_rolls_nothing() -> None:
    sim = Sim()
    _secrets_readable(sim)
    sim.tick()
    sim.tick(1)
    assert "annotations" not in sim.cluster.objects[("v1", "secrets", *KEY_SECRET)]["metadata"]
    _restart(sim)
    applied = len(sim.cluster.applied)
    sim.tick(60)
    assert len(sim.cluster.applied) == applied and _created(sim) == [None]
