"""A replica that stops acting never lands an older decision in MLflow: its write-back is
held when kopf's peering pauses it (``WriteBack.pause``; dropped if no pass says otherwise
within ``PAUSE_HOLD_SECONDS``), and what it holds of a resource is dropped when a pass reads a
status another process wrote (``WriteBack.superseded``); ``WriteBack.reset`` drops it all. Two
``WriteBack`` instances (two operator processes) on one in-memory MLflow."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence

import pytest
from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, Sim
from tests.unit.services.test_writeback import SCOPE, Clock, Mlflow, Registry, alias, client, role

from uplift_operator.services import upliftmodel, writeback
from uplift_operator.services.common import TimedCache
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import MAX_BACKOFF_SECONDS, WriteBack

OWNER, OTHER = ("UpliftModel", "ns", "a"), ("UpliftModel", "other", "b")
ROLE = "uplift.dev/role"


def _settle(queue: WriteBack, clock: Clock, tries: int = 40) -> None:
    for _ in range(tries):
        clock.now += queue.run_due() or MAX_BACKOFF_SECONDS


def _two_replicas() -> tuple[Mlflow, Clock, WriteBack, WriteBack]:
    """Replica A queued a promotion of version 2 while MLflow refused it; replica B, acting
    now, rolled it back (version 1 stable, the alias on it) with MLflow answering again."""
    mlflow, clock = Mlflow("tok"), Clock()
    a, b = WriteBack(clock=clock), WriteBack(clock=clock)
    mlflow.valid.clear()  # MLflow refuses every write for a while
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m",
             [role("2", "stable"), role("1", "retired"), alias("prod", "2")])
    a.run_due()
    assert a.pending() == 3 and a.failure(OWNER) is not None
    mlflow.valid.add("tok")
    b.submit(OWNER, client(mlflow, "tok"), SCOPE, "m",
             [role("2", "rolled-back"), role("1", "stable"), alias("prod", "1")])
    _settle(b, clock)
    assert (mlflow.tags, mlflow.aliases) == ({"2": "rolled-back", "1": "stable"}, {"prod": "1"})
    return mlflow, clock, a, b


def test_a_replica_paused_by_peering_never_lands_its_queued_writes() -> None:
    mlflow, clock, a, _ = _two_replicas()
    a.pause(OWNER)  # paused: another replica acts; no pass of it here since
    _settle(a, clock)  # hours: held, untried, then dropped at the end of the hold
    assert (mlflow.tags, mlflow.aliases) == ({"2": "rolled-back", "1": "stable"}, {"prod": "1"})
    assert a.pending() == 0 and a.failure(OWNER) is None and not a.knows(OWNER)
    assert a.backlog() == (0, None)


def test_a_cut_off_replica_drops_the_writes_of_a_resource_another_process_acted_on() -> None:
    mlflow, clock, a, _ = _two_replicas()
    # A write of the same model another resource of this process waits for too stays for it.
    a.submit(OTHER, client(mlflow, "tok"), SCOPE, "m", [role("3", "canary")])
    a.superseded(OWNER)  # its pass read the status B wrote
    assert not a.knows(OWNER) and not a.waiting(OWNER) and a.failure(OWNER) is None
    _settle(a, clock)
    assert (mlflow.tags, mlflow.aliases) == (
        {"2": "rolled-back", "1": "stable", "3": "canary"}, {"prod": "1"})
    assert a.failure(OTHER) is None and a.knows(OTHER)


def test_a_write_shared_with_a_resource_still_acted_on_here_stays_for_it() -> None:
    mlflow, clock, a, _ = _two_replicas()
    a.submit(OTHER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])  # joins A's
    a.superseded(OWNER)
    assert a.pending() == 1 and a.waiting(OTHER)  # only the write OTHER waits for too
    _settle(a, clock)
    assert mlflow.tags["2"] == "stable" and mlflow.aliases == {"prod": "1"}


def test_a_replica_forgets_what_it_wrote_once_another_acted_on_the_resource() -> None:
    """Its memory of values written would skip a write the other replica's decision made
    needed again: version 2 canary here, rolled back there, a retry here again."""
    mlflow, clock = Mlflow("tok", "new"), Clock()
    a, b = WriteBack(clock=clock), WriteBack(clock=clock)
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "canary")])
    # Another resource of the same model under other credentials: the same model's memory.
    a.submit(OTHER, client(mlflow, "new"), ("http://mlflow", "other", "cred"), "m",
             [role("3", "canary")])
    _settle(a, clock)
    b.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "rolled-back")])
    b.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("3", "rolled-back")])
    _settle(b, clock)
    a.superseded(OWNER)
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "canary")])
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("3", "canary")])
    assert a.pending() == 2
    _settle(a, clock)
    assert mlflow.tags == {"2": "canary", "3": "canary"}


def test_a_write_under_way_when_the_replica_is_paused_records_nothing() -> None:
    """A try that MLflow answers after the reset is not remembered as written: the acting
    replica may overwrite it, and this process, resumed, must write it again."""
    reg, clock = Registry(), Clock()
    queue = WriteBack(clock=clock)
    queue.submit(OWNER, reg, SCOPE, "m", [reg.write("role", "2", "stable")])  # type: ignore[arg-type]
    reg.gate.clear()
    worker = threading.Thread(target=queue.run_due)
    worker.start()
    for _ in range(200):
        if queue.pending() and not reg.done:
            break
        time.sleep(0.005)
    queue.reset()
    reg.gate.set()
    worker.join(5)
    assert reg.done == [("role", "2")]  # it was on its way: no fence stops that one
    queue.submit(OWNER, reg, SCOPE, "m", [reg.write("role", "2", "stable")])  # type: ignore[arg-type]
    assert queue.pending() == 1  # not skipped as written


def test_a_reset_wakes_the_resources_whose_writes_it_dropped() -> None:
    _, _, a, _ = _two_replicas()
    told: list[tuple[str, str, str]] = []
    a.on_change.append(lambda owners: told.extend(owners))
    a.reset()
    assert told == [OWNER]


def test_the_backlog_counts_the_pending_writes_and_ages_the_oldest() -> None:
    mlflow, clock = Mlflow(), Clock()
    queue = WriteBack(clock=clock)
    assert queue.backlog() == (0, None)
    queue.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])
    clock.now += 30
    queue.submit(OTHER, client(mlflow, "tok"), SCOPE, "n", [role("7", "canary")])
    queue.run_due()
    clock.now += 15
    assert queue.backlog() == (2, 45.0)


def test_the_worker_survives_an_exception_of_a_round(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A listener raising (or any bug of a round) is logged; the next writes still go."""
    monkeypatch.setattr(writeback, "LOOP_ERROR_PAUSE_SECONDS", 0.01)
    reg = Registry()
    queue = WriteBack()
    calls: list[Sequence[tuple[str, str, str]]] = []

    def listener(owners: Sequence[tuple[str, str, str]]) -> None:
        calls.append(owners)
        if len(calls) == 1:
            raise RuntimeError("listener broke")

    queue.on_change.append(listener)
    caplog.set_level(logging.ERROR, logger=writeback.__name__)
    queue.start()
    queue.submit(OWNER, reg, SCOPE, "m", [reg.write("role", "2", "stable")],  # type: ignore[arg-type]
                 tell_when_written=True)
    for _ in range(500):
        if calls:
            break
        time.sleep(0.01)
    queue.submit(OTHER, reg, SCOPE, "m", [reg.write("role", "3", "canary")],  # type: ignore[arg-type]
                 tell_when_written=True)
    for _ in range(500):
        if len(calls) == 2:
            break
        time.sleep(0.01)
    assert reg.done == [("role", "2"), ("role", "3")] and calls == [[OWNER], [OTHER]]
    assert "a round failed" in caplog.text and "listener broke" in caplog.text


# -- the decisions of one UpliftModel, two operator processes ------------------------------------

def _replica(sim: Sim) -> upliftmodel.Dependencies:
    """Another operator process's dependencies: its own write-back and caches."""
    return dataclasses.replace(
        sim.deps, write_back=WriteBack(clock=lambda: sim.now.timestamp()), resolver=Resolver(),
        decision_keys={}, credential_reads=TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS))


def test_an_older_promotion_queued_by_a_paused_replica_never_overwrites_a_rollback() -> None:
    """A promotes version 2 while MLflow refuses writes; B takes over, replays, and an
    emergency rollback moves the alias back to version 1. A, paused, holds its queue: its
    retry never moves the alias back to 2 behind B's condition saying True."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.registry.writes_fail = True
    for _ in range(12):
        sim.tick(30)
        if sim.status.get("stableVersion") == "2":
            break
    a = sim.deps.write_back
    assert a.pending() > 0 and sim.registry.aliases[(REGISTERED, "production")] == "1"
    meta = sim.body["metadata"]
    a.pause(("UpliftModel", meta["namespace"], meta["name"]))  # kopf's peering paused A: B acts
    sim.deps = _replica(sim)
    sim.registry.writes_fail = False
    sim.tick(1)
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"  # B replayed the promotion
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)
    sim.seldon()
    sim.tick(1)
    sim.tick(1)
    assert sim.status["stableVersion"] == "1"
    sim.now += dt.timedelta(seconds=MAX_BACKOFF_SECONDS)
    a.run_due()  # A's worker, due again
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert (sim.registry.tags[(REGISTERED, "1", ROLE)],
            sim.registry.tags[(REGISTERED, "2", ROLE)]) == ("stable", "rolled-back")


def test_a_replica_back_from_a_partition_writes_a_role_the_other_one_changed() -> None:
    """A (cut off, never paused) remembers version 2 written canary; B rolls it back; A, acting
    again, reads B's status (``superseded``), then a retry makes 2 the canary again: the role
    is written, not skipped as written before."""
    sim = Sim()
    sim.with_canary()
    deps_a = sim.deps
    sim.deps = _replica(sim)
    sim.metrics.values[PROBE] = 5.0
    sim.tick(60)
    sim.tick(1)
    assert sim.registry.tags[(REGISTERED, "2", ROLE)] == "rolled-back"
    sim.deps = deps_a
    deps_a.write_back.superseded(("UpliftModel", sim.body["metadata"]["namespace"],
                                  sim.body["metadata"]["name"]))
    sim.metrics.values[PROBE] = 0.5
    sim.tick(1)
    sim.body["metadata"]["annotations"] = {"uplift.dev/retry": "t1"}
    sim.tick(1)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2"
    assert sim.registry.tags[(REGISTERED, "2", ROLE)] == "canary"
    assert sim.condition("RegistryWrittenBack")["status"] == "True"
