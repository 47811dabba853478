"""handlers.scheduling: a pass when due or woken, never on a cadence; a resource's own status
writes wake nothing; a failing pass backs off (spread across resources and capped:
test_scheduling_backoff.py); an object gone before its task started ends it at once."""

from __future__ import annotations

import asyncio
import itertools
import logging
import types
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from uplift_operator.domain.retry import JITTER, spread_of
from uplift_operator.domain.status import status_digest
from uplift_operator.handlers import scheduling
from uplift_operator.handlers.scheduling import Signatures, Wakeups, run_passes

KEY = ("UpliftModel", "ns", "um")


def _body(generation: int = 1, annotations: dict[str, str] | None = None,
          status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"generation": generation, "annotations": annotations or {}},
            "status": status or {}}


def test_own_status_writes_wake_nothing_but_spec_annotations_and_foreign_status_do() -> None:
    signatures = Signatures()
    assert signatures.changed(KEY, _body(status={"phase": "Progressing"}))  # first sight
    signatures.produced(KEY, {"phase": "Healthy"})
    assert not signatures.changed(KEY, _body(status={"phase": "Healthy"}))  # our own write
    assert signatures.changed(KEY, _body(generation=2, status={"phase": "Healthy"}))
    assert signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {"phase": "Healthy"}))
    assert not signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {"phase": "Healthy"}))
    assert signatures.changed(KEY, _body(2, {"uplift.dev/abort": "x"}, {}))  # status wiped


def test_the_echo_of_an_own_write_with_whole_number_floats_wakes_nothing() -> None:
    """The API server serves 5.0 back as 5 (apimachinery's JSON decoding): still our write."""
    signatures = Signatures()
    assert signatures.changed(KEY, _body(status={"phase": "Progressing"}))
    produced = {"phase": "Progressing", "exposurePercent": 5.0, "spend": 0.0,
                "gates": [{"name": "delivery", "threshold": 0.95, "value": 1.0}],
                "roi": {"estimate": -2.0, "display": "-2"}}
    signatures.produced(KEY, produced)
    served = {"phase": "Progressing", "exposurePercent": 5, "spend": 0,
              "gates": [{"name": "delivery", "threshold": 0.95, "value": 1}],
              "roi": {"estimate": -2, "display": "-2"}}
    assert not signatures.changed(KEY, _body(status=served))
    # a number someone else changed is still a change
    assert signatures.changed(KEY, _body(status={**served, "exposurePercent": 5.5}))
    assert status_digest({"a": [1.0, {"b": 2.0}]}) == status_digest({"a": [1, {"b": 2}]})
    assert status_digest({"a": 1.5}) != status_digest({"a": 1})


async def _drive(schedule: list[float | Exception | None], wake_at: list[float],
                 duration: float, resync: float = 100.0) -> list[float]:
    """Run passes returning ``schedule`` (then None) for ``duration`` seconds; the times the
    passes started, relative to the start."""
    loop = asyncio.get_running_loop()
    wakeups, started, start = Wakeups(), [], loop.time()
    answers = iter(schedule)

    async def one_pass() -> float | None:
        started.append(loop.time() - start)
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer

    for at in wake_at:
        loop.call_later(at, wakeups.wake, KEY)
    task = asyncio.create_task(run_passes(KEY, wakeups, one_pass, resync=resync))
    await asyncio.sleep(duration)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(wakeups) == 0  # unregistered when cancelled
    return started


def test_a_pass_runs_when_due_and_when_woken_and_not_otherwise() -> None:
    started = asyncio.run(_drive([0.3, None, None], wake_at=[0.9], duration=1.5))
    # due after 0.3 s; then nothing due until the wake-up (loose: a loaded machine is late)
    assert started == pytest.approx([0.0, 0.3, 0.9], abs=0.2)


def test_nothing_due_sleeps_until_the_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    """The resync less this key's own fraction of RESYNC_SPREAD (test_scheduling_resync_spread):
    the wait each pass asks for is recorded, since at 0.4 s the fraction (a few ms) is well
    inside what a loaded machine's timing can tell."""
    wait = scheduling.resync_wait(KEY, 0.4)
    assert 0.4 * (1 - scheduling.RESYNC_SPREAD) <= wait < 0.4 - 1e-3
    asked: list[float] = []
    real_wait_for = asyncio.wait_for

    async def recorded(awaitable: Any, timeout: float) -> Any:
        asked.append(timeout)
        return await real_wait_for(awaitable, timeout)

    names = {name: getattr(asyncio, name) for name in dir(asyncio) if not name.startswith("_")}
    monkeypatch.setattr(scheduling, "asyncio", types.SimpleNamespace(**{**names,
                                                                        "wait_for": recorded}))
    started = asyncio.run(_drive([None], wake_at=[], duration=1.0, resync=0.4))
    assert started == pytest.approx([0.0, wait, 2 * wait], abs=0.15)
    assert asked[:2] == [wait, wait], asked


def test_a_failing_pass_backs_off_doubling_stretched_by_its_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "ERROR_BACKOFF_SECONDS", 300.0)
    failed = RuntimeError("API down")
    started = asyncio.run(_drive([failed, failed, failed, None], wake_at=[], duration=6.5))
    # 1 s; then as long as it has failed so far (1 s, then about 2 s), stretched by this key's
    # own fraction of a quarter: never sooner; a loaded machine may be late, not by a doubling.
    stretch = 1 + JITTER * spread_of("/".join(KEY))
    assert 1 < stretch < 1.25
    assert len(started) == 4, started
    gaps = [after - before for before, after in itertools.pairwise(started)]
    assert 0.95 <= gaps[0] < 1.5, started
    assert 0.95 * stretch <= gaps[1] < stretch + 0.5, started
    failing_for = started[2] - started[0]
    assert 0.95 * failing_for * stretch <= gaps[2] < failing_for * stretch + 0.5, started


def _recording(ran: list[str]) -> Callable[[str], Callable[[], Awaitable[float | None]]]:
    """A pass factory: each pass appends its label to ``ran`` and has nothing due."""
    def one_pass(label: str) -> Callable[[], Awaitable[float | None]]:
        async def run() -> float | None:
            ran.append(label)
            return None
        return run
    return one_pass


def test_a_finished_task_ends_after_its_pass_and_a_new_one_under_the_same_key_runs_on() -> None:
    async def scenario() -> tuple[list[str], bool]:
        wakeups, ran = Wakeups(), list[str]()
        one_pass = _recording(ran)

        old = asyncio.create_task(run_passes(KEY, wakeups, one_pass("old")))
        await asyncio.sleep(0.1)
        wakeups.finish(KEY)  # the DELETED event
        await asyncio.wait_for(old, timeout=1)  # ends by itself: no finalizer, no cancel
        new = asyncio.create_task(run_passes(KEY, wakeups, one_pass("new")))  # name re-used
        await asyncio.sleep(0.1)
        wakeups.wake(KEY)
        await asyncio.sleep(0.2)
        alive = not new.done()
        new.cancel()
        return ran, alive

    ran, alive = asyncio.run(scenario())
    assert ran == ["old", "new", "new"] and alive


def test_a_deleted_objects_late_event_ends_its_own_task_not_the_new_one_of_its_name() -> None:
    # kopf handles each uid's events in its own worker: the name can be created again and its
    # task started before the old object's DELETED event is handled.
    async def scenario() -> tuple[list[str], bool, bool, bool, list[int]]:
        wakeups, ran, waiting = Wakeups(), list[str](), list[int]()
        one_pass = _recording(ran)

        old = asyncio.create_task(run_passes(KEY, wakeups, one_pass("old"), uid="u1"))
        await asyncio.sleep(0.1)
        new = asyncio.create_task(run_passes(KEY, wakeups, one_pass("new"), uid="u2"))
        await asyncio.sleep(0.1)
        waiting.append(len(wakeups))
        name_free = wakeups.finish(KEY, "u1")  # the old object's DELETED event, late
        await asyncio.wait_for(old, timeout=1)
        waiting.append(len(wakeups))
        wakeups.wake(KEY)
        await asyncio.sleep(0.2)
        alive = not new.done()
        last_free = wakeups.finish(KEY, "u2")
        await asyncio.wait_for(new, timeout=1)
        waiting.append(len(wakeups))
        return ran, alive, name_free, last_free, waiting

    ran, alive, name_free, last_free, waiting = asyncio.run(scenario())
    assert waiting == [2, 1, 0]  # tasks, not names: one name had two for a moment
    assert ran.count("old") == 1 and ran.count("new") == 2
    assert alive  # woken after the old object's event: it runs on
    assert not name_free and last_free  # the name's state is dropped with its last object


def test_a_task_started_after_its_object_s_deleted_event_ends_at_once() -> None:
    """kopf spawns an object's daemon on each event it handles, DELETED included, and a task
    created while the ADDED event was handled may first run after the DELETED event's handler
    (Python 3.12): ``finish`` then found no task, and the one registered after ran for good."""
    async def scenario() -> tuple[list[str], bool, int, bool]:
        wakeups, ran = Wakeups(), list[str]()
        one_pass = _recording(ran)
        name_free = wakeups.finish(KEY, "u1")  # DELETED handled before the task's first step
        late = asyncio.create_task(run_passes(KEY, wakeups, one_pass("late"), uid="u1"))
        await asyncio.wait_for(late, timeout=1)  # ends by itself, no pass
        other = asyncio.create_task(run_passes(KEY, wakeups, one_pass("other"), uid="u2"))
        await asyncio.sleep(0.1)  # another object of the name: not affected
        alive, registered = not other.done(), len(wakeups)
        other.cancel()
        return ran, name_free, registered, alive

    ran, name_free, registered, alive = asyncio.run(scenario())
    assert name_free and ran == ["other"] and registered == 1 and alive


def test_what_finished_is_kept_for_a_late_start_is_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "FINISHED_KEPT", 3)
    wakeups = Wakeups()
    for uid in ("u1", "u2", "u3", "u4"):
        wakeups.finish(KEY, uid)
    assert not wakeups.register(KEY, "u1").finished  # the oldest forgotten: a task again
    assert all(wakeups.register(KEY, uid).finished for uid in ("u2", "u3", "u4"))
    assert len(wakeups) == 1  # a task that finished at its start is never registered
    # Kept by key and uid: a campaigns file's task has its model's uid. Without a uid: none.
    assert not wakeups.register(("CampaignsFile", "ns", "um"), "u4").finished
    assert not wakeups.register(KEY, "").finished
    wakeups.finish(KEY)
    assert not wakeups.register(KEY, "").finished


def test_the_waiting_tasks_put_no_finalizer_on_their_objects() -> None:
    import kopf

    from uplift_operator.handlers import campaign, campaigns_file, upliftmodel

    ours = {upliftmodel.reconcile, campaign.reconcile, campaigns_file.campaigns_file}
    handlers = [h for h in kopf.get_default_registry()._spawning.get_all_handlers()
                if getattr(h, "fn", None) in ours]
    assert {h.fn for h in handlers} == ours  # registered once each, as daemons
    assert all(h.requires_finalizer is False for h in handlers)
    # Nor a changing handler (on-delete and the like) that would bring it, or an annotation.
    assert not kopf.get_default_registry()._changing.get_all_handlers()


def test_a_failure_the_pass_names_is_logged_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """A refusal the API server explained (a namespace being deleted) is no operator bug: its
    message is logged, not a stack; anything else still gets its traceback, once."""
    caplog.set_level(logging.WARNING, logger=scheduling.__name__)
    refused = scheduling.NamedPassError("apply refused: namespace is being terminated")
    asyncio.run(_drive([refused, None], wake_at=[], duration=1.3))
    asyncio.run(_drive([KeyError("bug"), None], wake_at=[], duration=1.3))
    named, unexpected = [r for r in caplog.records if "failed (1 in a row)" in r.getMessage()]
    assert "namespace is being terminated" in named.getMessage() and not named.exc_info
    assert unexpected.exc_info is not None and unexpected.exc_info[0] is KeyError
