"""``uplift_operator_resources``: the resources a process has a waiting task for, by kind,
counted as the tasks register and end (``Wakeups``), whether or not a pass of theirs ever
completed. UpliftOperatorNotReconciling reads it to page on a process hung since its start,
which has no reconcile counter and no per-resource series."""

from __future__ import annotations

from prometheus_client import generate_latest

from uplift_operator.handlers import observability
from uplift_operator.handlers.scheduling import Wakeups


def exported(kind: str) -> float:
    line = f'uplift_operator_resources{{kind="{kind}"}} '
    [value] = [float(row.rsplit(" ", 1)[1])
               for row in generate_latest(observability.REGISTRY).decode().splitlines()
               if row.startswith(line)]
    return value


def test_the_gauge_follows_the_tasks_of_each_kind_as_they_start_and_end() -> None:
    wakeups = Wakeups(observe_tasks=observability.resources)
    a = wakeups.register(("UpliftModel", "ns", "a"), "uid-a")
    b = wakeups.register(("UpliftModel", "ns", "b"), "uid-b")
    c = wakeups.register(("Campaign", "ns", "c"), "uid-c")
    assert (exported("UpliftModel"), exported("Campaign")) == (2, 1)
    # A task of the same object started again before its predecessor's end is one resource,
    # and the predecessor's end leaves it counted (its own flag is no longer registered).
    again = wakeups.register(("UpliftModel", "ns", "a"), "uid-a")
    assert exported("UpliftModel") == 2
    wakeups.unregister(("UpliftModel", "ns", "a"), a)
    assert exported("UpliftModel") == 2
    wakeups.unregister(("UpliftModel", "ns", "a"), again)
    wakeups.unregister(("UpliftModel", "ns", "b"), b)
    wakeups.unregister(("Campaign", "ns", "c"), c)
    assert (exported("UpliftModel"), exported("Campaign")) == (0, 0)


def test_a_task_of_an_object_already_finished_is_not_counted() -> None:
    told: list[tuple[str, int]] = []
    wakeups = Wakeups(observe_tasks=lambda kind, count: told.append((kind, count)))
    wakeups.finish(("Campaign", "ns", "gone"), "uid-gone")
    flag = wakeups.register(("Campaign", "ns", "gone"), "uid-gone")
    assert flag.finished and told == []
    wakeups.unregister(("Campaign", "ns", "gone"), flag)
    assert told == []


def test_a_name_reused_counts_both_objects_while_both_tasks_run() -> None:
    told: list[tuple[str, int]] = []
    wakeups = Wakeups(observe_tasks=lambda kind, count: told.append((kind, count)))
    old = wakeups.register(("UpliftModel", "ns", "m"), "uid-old")
    new = wakeups.register(("UpliftModel", "ns", "m"), "uid-new")
    wakeups.unregister(("UpliftModel", "ns", "m"), old)
    wakeups.unregister(("UpliftModel", "ns", "m"), new)
    assert told == [("UpliftModel", 1), ("UpliftModel", 2), ("UpliftModel", 1),
                    ("UpliftModel", 0)]
