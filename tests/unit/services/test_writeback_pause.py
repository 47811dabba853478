"""A replica paused by kopf's peering holds its resources' MLflow writes, untried, until a pass
of each says whose status it read (``WriteBack.pause``, ``resume``, ``superseded``): a pause of
a few seconds of this same replica loses nothing, and its writes never land after those of a
replica that acted meanwhile. A stopping operator tries no write any more (``stop``)."""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.unit.services.test_writeback import SCOPE, Clock, Mlflow, alias, client, role

from uplift_operator.services.writeback import PAUSE_HOLD_SECONDS, Write, WriteBack

OWNER, OTHER, GONE = (("UpliftModel", ns, n) for ns, n in (("ns", "a"), ("other", "b"),
                                                            ("ns", "gone")))


def _settle(queue: WriteBack, clock: Clock, tries: int = 40) -> None:
    for _ in range(tries):
        clock.now += min(queue.run_due() or 1.0, 1.0)  # 40 s: within the hold of a pause


def _failing_promotion() -> tuple[Mlflow, Clock, WriteBack]:
    """Replica A queued a promotion of version 2 while MLflow refused it."""
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    mlflow.valid.clear()
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable"), alias("prod", "2")])
    a.run_due()
    assert a.pending() == 2 and a.failure(OWNER) is not None
    mlflow.valid.add("tok")
    return mlflow, clock, a


def test_writes_held_at_a_pause_are_not_tried_and_land_once_resumed() -> None:
    mlflow, clock, a = _failing_promotion()
    a.pause(OWNER)
    calls = mlflow.calls
    _settle(a, clock)
    assert mlflow.calls == calls and (mlflow.tags, mlflow.aliases) == ({}, {})
    assert a.pending() == 2 and a.knows(OWNER)
    a.resume(OWNER)  # its next pass read the status it left: nobody acted
    _settle(a, clock)
    assert (mlflow.tags, mlflow.aliases) == ({"2": "stable"}, {"prod": "2"})
    assert a.pending() == 0 and a.failure(OWNER) is None


def test_writes_held_at_a_pause_never_land_after_another_replicas() -> None:
    mlflow, clock, a = _failing_promotion()
    a.pause(OWNER)
    b = WriteBack(clock=clock)  # acting meanwhile: the promotion rolled back
    b.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "rolled-back"),
                                                          alias("prod", "1")])
    _settle(b, clock)
    _settle(a, clock)  # A paused: nothing of it tried
    a.superseded(OWNER)  # its next pass read B's status
    _settle(a, clock)
    assert (mlflow.tags, mlflow.aliases) == ({"2": "rolled-back"}, {"prod": "1"})
    assert a.pending() == 0 and not a.paused(OWNER) and not a.knows(OWNER)


def test_writes_held_longer_than_the_bound_are_dropped() -> None:
    mlflow, clock, a = _failing_promotion()
    a.pause(OWNER)
    assert a.run_due() == PAUSE_HOLD_SECONDS  # the worker wakes when the hold ends
    clock.now += PAUSE_HOLD_SECONDS
    assert a.run_due() is None
    assert a.pending() == 0 and not a.paused(OWNER) and not a.knows(OWNER)
    assert (mlflow.tags, mlflow.aliases) == ({}, {})


def test_a_pause_drops_deleted_resources_writes_and_keeps_others_going() -> None:
    """A resource not paused (another namespace's peering) keeps writing; a deleted resource's
    write, which no pass fences, is dropped; a paused resource's is held, and held with it is a
    write it shares with another resource (its decision may be overtaken)."""
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    mlflow.valid.clear()
    a.submit(GONE, client(mlflow, "tok"), SCOPE, "gone", [role("7", "retired")])
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])
    a.submit(OTHER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])  # shared
    a.submit(OTHER, client(mlflow, "tok"), SCOPE, "n", [role("3", "canary")])
    a.run_due()
    a.forget(GONE)
    mlflow.valid.add("tok")
    a.pause(OWNER)
    _settle(a, clock)
    assert mlflow.tags == {"3": "canary"}
    assert a.pending() == 1 and a.waiting(OWNER) and a.waiting(OTHER)
    a.resume(OWNER)
    _settle(a, clock)
    assert mlflow.tags == {"3": "canary", "2": "stable"} and a.pending() == 0


def test_a_paused_resource_deleted_meanwhile_leaves_no_write() -> None:
    mlflow, clock, a = _failing_promotion()
    a.pause(OWNER)
    a.forget(OWNER)  # its DELETED event: no pass of it will say whose status it was
    _settle(a, clock)
    assert a.pending() == 0 and (mlflow.tags, mlflow.aliases) == ({}, {})


def test_a_submission_of_a_paused_resource_is_held_too() -> None:
    """A pass under way when the pause came submits after it: held like the rest."""
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    a.pause(OWNER)
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    _settle(a, clock)
    assert mlflow.aliases == {} and a.pending() == 1


def test_a_stopping_operator_tries_no_write_any_more() -> None:
    """At the stop (kopf's cleanup: this replica left the peering, a standby acts), no write
    is tried: not the queue's due writes, not a backed-off one (before: drained, its backoff
    skipped, landing after the standby's decisions), not one submitted after the stop."""
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    mlflow.valid.clear()
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    for _ in range(6):  # backed off: next try 32 s away (on the queue's clock)
        a.run_due()
        clock.now += 1.0
    mlflow.valid.add("tok")
    calls = mlflow.calls
    a.start()
    left = a.stop()
    # Passes under way at the stop submit (which wakes the workers), and the backoff ends.
    a.submit(OTHER, client(mlflow, "tok"), SCOPE, "other", [role("3", "canary")])
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "later", [alias("prod", "4")])
    clock.now += 3600.0
    assert a.run_due() is None
    time.sleep(0.3)  # the workers' chance
    assert mlflow.calls == calls and (mlflow.tags, mlflow.aliases) == ({}, {})
    assert (left.live, left.orphaned, left.sending) == (1, 0, 0) and a.pending() == 3
    assert a.stopped()


def test_the_workers_end_at_the_stop_and_a_write_being_sent_may_still_land() -> None:
    """A write a worker is sending at the stop is not called back (MLflow has no conditional
    write): it lands, and is counted as being sent; nothing after it is tried, and the workers
    end."""
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    sending, release = threading.Event(), threading.Event()
    first = role("2", "stable")

    def slow(registry: Any) -> None:
        sending.set()
        release.wait(5)
        first.apply(registry)

    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m",
             [Write(first.what, first.value, slow), alias("prod", "2")])
    a.start()
    assert sending.wait(5)
    left = a.stop()
    assert (left.live, left.sending) == (2, 1)
    release.set()
    for thread in a._threads:
        thread.join(5)
        assert not thread.is_alive()
    assert mlflow.tags == {"2": "stable"} and mlflow.aliases == {} and a.pending() == 1


def test_the_stop_names_the_deleted_resources_writes_apart() -> None:
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    mlflow.valid.clear()
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [alias("prod", "2")])
    a.submit(GONE, client(mlflow, "tok"), SCOPE, "gone-model", [role("5", "retired")])
    a.forget(GONE)
    left = a.stop()
    assert (left.live, left.orphaned, left.total) == (1, 1, 2)
    assert left.orphaned_names == ("gone-model (role 5 = 'retired', at http://mlflow)",)


def test_a_paused_resource_with_nothing_pending_keeps_what_was_written_past_the_hold() -> None:
    mlflow, clock = Mlflow("tok"), Clock()
    a = WriteBack(clock=clock)
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])
    _settle(a, clock)
    a.pause(OWNER)
    clock.now += PAUSE_HOLD_SECONDS
    assert a.run_due() is None and not a.paused(OWNER) and a.knows(OWNER)
    calls = mlflow.calls
    a.submit(OWNER, client(mlflow, "tok"), SCOPE, "m", [role("2", "stable")])
    assert a.pending() == 0 and mlflow.calls == calls  # remembered as written
