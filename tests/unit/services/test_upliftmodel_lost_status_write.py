"""A replica SIGKILLed between its apply and its status write: the replica that takes over
decides on the very body the killed one decided on. The graph stamped on that body
(``uplift.dev/decided-on``) is the killed pass's decision, made again, never stepped back
(CI's failover test saw canary 100 → 90 → 100); one stamped on an older body is not."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import PROBE, SELDON, Sim, reasons, status_written

from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
from uplift_operator.domain import status as status_logic
from uplift_operator.services import upliftmodel


def _canary_passing_at_40(sim: Sim) -> int:
    """``sim``'s model at resourceVersion 40 with a canary whose probe passes its gates."""
    version = 40
    sim.body["metadata"]["resourceVersion"] = str(version)
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    return version


def _read_then_written(sim: Sim, version: int) -> tuple[dict[str, Any], int]:
    """The body a pass reads; then its status write moves the resourceVersion on."""
    read = copy.deepcopy(sim.body)
    version += 1
    sim.body["metadata"]["resourceVersion"] = str(version)
    return read, version


def test_a_promotion_whose_status_write_was_lost_is_made_again_not_stepped_back() -> None:
    sim = Sim()
    version = _canary_passing_at_40(sim)
    for _ in range(20):
        read, version = _read_then_written(sim, version)
        sim.tick(30)
        if sim.weights() == {"2": 100}:
            break
    assert sim.weights() == {"2": 100} and read["status"]["canaryWeight"] == 50
    # The pass that promoted was killed before its status write: the body is as it read it.
    sim.body = copy.deepcopy(read)
    sim.body["metadata"]["resourceVersion"] = str(version)
    stamped = sim.cluster.objects[SELDON]["metadata"]["annotations"][upliftmodel.DECIDED_ON]
    assert stamped == str(version)
    applied = len(sim.cluster.applied)
    result = sim.tick(3)
    assert sim.status["stableVersion"] == "2" and "canaryVersion" not in sim.status
    assert "Promoted" in reasons(result)
    # Nothing applied: the graph is as decided, never 50/50 again.
    assert len(sim.cluster.applied) == applied and sim.weights() == {"2": 100}


@pytest.mark.parametrize(("stamp", "seen", "as_status", "expected"), [
    ("41", "41", False, frozenset({("1", 50), ("2", 50)})),  # decided on this very body
    ("40", "41", False, frozenset()),  # older: a hand edit or a revert since
    (None, "41", False, frozenset()),  # not stamped
    ("41", "41", True, frozenset()),  # the graph is as the status says
    ("x", "x", False, frozenset()),  # not etcd's integers: not compared
])
def test_decided_here_is_a_graph_stamped_on_this_very_body_off_the_status(
        stamp: str | None, seen: str, as_status: bool, expected: frozenset[Any]) -> None:
    sim = Sim()
    sim.with_canary()
    graph = sim.cluster.objects[SELDON]
    graph["metadata"]["annotations"].pop(upliftmodel.DECIDED_ON, None)
    if stamp is not None:
        graph["metadata"]["annotations"][upliftmodel.DECIDED_ON] = stamp
    for predictor in graph["spec"]["predictors"]:
        predictor["traffic"] = 50
    current = UpliftModelStatus.model_validate(sim.status)
    assert upliftmodel._decided_here(graph, {"resourceVersion": seen}, current, as_status,
                                     sim.deps) == expected


def promotion_written_409(sim: Sim) -> tuple[dict[str, Any], int]:
    """Ramps the canary to its promotion; the pass that promotes applies the graph, and its
    status write is refused 409 (``after_write`` never called): someone labelled the model
    meanwhile, so the next pass reads a newer resourceVersion with the status as it was."""
    version = _canary_passing_at_40(sim)
    for _ in range(20):
        read, version = _read_then_written(sim, version)
        sim.now += dt.timedelta(seconds=30)
        result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
        if sim.weights() == {"2": 100}:
            break  # refused: nothing after the write, the status as read
        status_written(result)
        sim.body["status"] = result.status
        sim.seldon()
    assert sim.weights() == {"2": 100} and read["status"]["canaryWeight"] == 50
    stamped = sim.cluster.objects[SELDON]["metadata"]["annotations"][upliftmodel.DECIDED_ON]
    assert stamped == str(version)
    sim.body = read
    sim.body["metadata"].setdefault("labels", {})["team"] = "x"
    sim.body["metadata"]["resourceVersion"] = str(version + 1)
    return read, version + 1


def test_a_promotion_whose_status_write_was_refused_409_is_made_again_not_stepped_back() -> None:
    sim = Sim()
    promotion_written_409(sim)
    applied = len(sim.cluster.applied)
    result = sim.tick(1)
    assert sim.status["stableVersion"] == "2" and "canaryVersion" not in sim.status
    assert "Promoted" in reasons(result)
    assert len(sim.cluster.applied) == applied and sim.weights() == {"2": 100}
    assert sim.deps.unwritten == {}  # written: nothing of the model's unwritten any more


def test_a_graph_stamped_on_an_older_body_is_not_taken_for_this_process_s_own_otherwise() -> None:
    """The status changed since the pass that applied the graph read it (another writer), or
    the process never applied it (another replica did, then lost its lease): the graph is
    stamped on an older body, and the step's split is applied again, as before."""
    for what in ("status changed", "not this process's apply"):
        sim = Sim()
        promotion_written_409(sim)
        if what == "status changed":
            sim.body["status"]["message"] = "written by someone else"
        else:
            sim.deps.unwritten.clear()
        result = sim.tick(1)
        assert sim.status["canaryVersion"] == "2" and "Promoted" not in reasons(result), what
        assert sim.weights() == {"1": 50, "2": 50}, what


class _Yielding(dict[str, tuple[str, str]]):
    """``Dependencies.unwritten`` whose iteration lets another thread run first, as a switch
    of the GIL between the look at the oldest entry and its pop may."""

    def __iter__(self) -> Iterator[str]:
        time.sleep(0.005)
        return super().__iter__()


def test_passes_of_many_models_evicting_at_once_raise_nothing_and_keep_the_bound(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Passes of different models apply their graphs in threads of the pass pool at once,
    each past ``UNWRITTEN_KEPT``: both took the same oldest entry and the second pop raised
    KeyError, after its graph was applied (its status never written)."""
    monkeypatch.setattr(upliftmodel, "UNWRITTEN_KEPT", 2)
    sim = Sim()
    sim.deps.unwritten = _Yielding({"old1": ("1", "d"), "old2": ("1", "d")})
    applied = status_logic.Applied(what="SeldonDeployment m", split="", changed=True)
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def apply_and_remember(uid: str) -> None:
        start.wait()
        try:
            upliftmodel._unwritten(sim.deps, uid, {"resourceVersion": "7"}, {}, applied, None)
        except BaseException as error:  # what the pass thread raised
            failures.append(error)

    threads = [threading.Thread(target=apply_and_remember, args=(f"u{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert failures == []
    assert len(sim.deps.unwritten) == 2 and set(sim.deps.unwritten) <= {"u0", "u1", "u2", "u3"}
