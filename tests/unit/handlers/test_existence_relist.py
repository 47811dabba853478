"""A kopf watch answered 410 Gone and listed again: what was deleted while it was away gets no
DELETED event, and its task lived on until the existence audit found it absent from two LISTs,
up to two audit intervals (20 minutes) later. kopf logs "Restarting the watch-stream ..." (at
debug) on a 410, and only then; ``readiness``'s filter of kopf's watching lines now tells the
audit (``existence.relisted``), which runs ``RELIST_SETTLE_SECONDS`` later, and, having found
an object missing, again ``RELIST_APART_SECONDS`` after: a ghost of the gap is found within
minutes. One API server restart (a 410 on every watch) brings one audit forward, not one per
watch, and the audits brought forward are never closer than ``RELIST_APART_SECONDS``.

kopf's own ``continuous_watch`` runs here (its LIST and its watch request stubbed), so that a
kopf whose 410 path no longer logs that line fails this test."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.clients import fetching, watching
from kopf._cogs.structs import references

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedObjects
from uplift_operator.handlers import existence, readiness
from uplift_operator.handlers.existence import ExistenceAudit, audit_forever
from uplift_operator.handlers.scheduling import Wakeups

RESOURCE = references.Resource("uplift.dev", "v1alpha1", "campaigns", namespaced=True)


@pytest.fixture
def executor() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown()


@pytest.fixture
def relists() -> Iterator[list[str]]:
    """The filter ``readiness.start`` installs on kopf's watching logger, removed after."""
    calls: list[str] = []
    logger = logging.getLogger(readiness._WATCHING_LOGGER)
    level = logger.level
    found = readiness._PausedWatchAtWarning(False, on_relist=lambda: calls.append("relist"))
    logger.setLevel(logging.DEBUG)
    logger.addFilter(found)
    try:
        yield calls
    finally:
        logger.removeFilter(found)
        logger.setLevel(level)


def _kopf_watch(monkeypatch: pytest.MonkeyPatch, *events: dict[str, Any]) -> None:
    """kopf's LIST answers nothing, its watch request the ``events``."""
    async def listed(**_: Any) -> AsyncIterator[tuple[list[Any], str]]:
        yield [], "1"

    async def watched(**_: Any) -> AsyncIterator[dict[str, Any]]:
        for event in events:
            yield event

    monkeypatch.setattr(fetching, "fetch_objs", listed)
    monkeypatch.setattr(watching, "watch_objs", watched)


async def _stream_once() -> None:
    """kopf's ``continuous_watch`` until it returns (a 410) or its watch ends (paused)."""
    stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async for event in watching.continuous_watch(
            settings=kopf.OperatorSettings(), resource=RESOURCE,
            namespace=references.NamespaceName("ns"), operator_pause_waiter=stopped):
        if event is not watching.Bookmark.LISTED:
            stopped.set_result(None)  # one event through: stop at the next request


def test_kopf_s_410_gone_tells_the_audit(monkeypatch: pytest.MonkeyPatch,
                                         relists: list[str]) -> None:
    _kopf_watch(monkeypatch, {"type": "ERROR", "object": {"code": 410, "reason": "Expired"}})
    asyncio.run(_stream_once())
    assert relists == ["relist"]


def test_a_watch_that_goes_on_tells_nothing(monkeypatch: pytest.MonkeyPatch,
                                            relists: list[str]) -> None:
    _kopf_watch(monkeypatch, {"type": "ADDED", "object": {"metadata": {
        "name": "c", "namespace": "ns", "uid": "u", "resourceVersion": "2"}}})
    asyncio.run(_stream_once())
    assert relists == []


class _Cluster:
    """The Campaign LISTs: the uids that exist; when each came (loop time)."""

    def __init__(self, *uids: str) -> None:
        self.uids = set(uids)
        self.at: list[float] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    def list_uids(self, api_version: str, plural: str, namespace: str | None = None) -> set[str]:
        assert self.loop is not None
        self.at.append(self.loop.time())
        return set(self.uids)


async def _auditing(executor: ThreadPoolExecutor, cluster: _Cluster, wakeups: Wakeups,
                    relisted: asyncio.Event, *, interval: float, settle: float, apart: float
                    ) -> asyncio.Task[None]:
    cluster.loop = asyncio.get_running_loop()
    audit = ExistenceAudit("Campaign", "campaigns", wakeups, cluster, False)
    return asyncio.create_task(audit_forever([audit], executor, relisted=relisted,
                                             interval=interval, settle=settle, apart=apart))


def test_a_relist_finds_a_ghost_of_the_gap_long_before_the_interval(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    wakeups, cluster = Wakeups(), _Cluster("u-kept")
    wakeups.register(("Campaign", "ns", "kept"), uid="u-kept")
    wakeups.register(("Campaign", "ns", "gone"), uid="u-gone")  # deleted in the watch's gap

    async def go() -> list[float]:
        relisted = asyncio.Event()
        task = await _auditing(executor, cluster, wakeups, relisted, interval=60.0, settle=0.05,
                               apart=0.2)
        await asyncio.sleep(0.05)
        assert cluster.at == []  # the interval: not due for a minute
        began = asyncio.get_running_loop().time()
        relisted.set()
        await asyncio.wait_for(task, 5)  # returns once it exits
        return [at - began for at in cluster.at]

    first, second = asyncio.run(go())
    assert terminations == ["SIGTERM"]
    assert 0.05 <= first < 1.0  # ``settle`` after the relist
    # ``apart`` after the first audit began: the second absence. That start (``audit_forever``'s
    # ``began``, before its LIST goes to the pool) is no sooner than ``settle`` after the relist,
    # and may be well before the pool's thread took the first LIST (``first``): measured from the
    # relist, not from ``first`` (``second - first`` fell below ``apart`` on a busy machine).
    assert second >= 0.05 + 0.2 and second - first < 3.0


def test_one_api_server_restart_brings_one_audit_forward_and_none_closer_than_apart(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    wakeups, cluster = Wakeups(), _Cluster("u-a")
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")

    async def go() -> list[float]:
        relisted = asyncio.Event()
        task = await _auditing(executor, cluster, wakeups, relisted, interval=60.0, settle=0.05,
                               apart=0.3)
        began = asyncio.get_running_loop().time()
        for _ in range(5):  # every watch's 410, within the settle
            relisted.set()
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.15)
        relisted.set()  # another 410, just after that audit
        await asyncio.sleep(1.0)
        task.cancel()
        return [at - began for at in cluster.at]

    at = asyncio.run(go())
    # The second audit ``apart`` or more after the first began, which is ``settle`` or more after
    # the first relist: measured from it (the pool's thread may take the first LIST late), it
    # would come at about 0.15 + ``settle`` if ``apart`` were not kept.
    assert len(at) == 2 and at[1] >= 0.05 + 0.3
    assert terminations == []


def test_nothing_missing_after_a_relist_waits_the_interval_again(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    wakeups, cluster = Wakeups(), _Cluster("u-a")
    wakeups.register(("Campaign", "ns", "a"), uid="u-a")

    async def go() -> int:
        relisted = asyncio.Event()
        task = await _auditing(executor, cluster, wakeups, relisted, interval=60.0, settle=0.01,
                               apart=0.05)
        relisted.set()
        await asyncio.sleep(0.5)
        task.cancel()
        return len(cluster.at)

    assert asyncio.run(go()) == 1


def test_started_audits_are_told_of_relists(monkeypatch: pytest.MonkeyPatch) -> None:
    told: list[asyncio.Event | None] = []

    async def recorded(*_: object, relisted: asyncio.Event | None = None,
                       **__: object) -> None:
        told.append(relisted)

    monkeypatch.setattr(existence, "audit_forever", recorded)
    memo = kopf.Memo(config=settings.parse_args(["--namespace", "ns"]), wakeups=Wakeups(),
                     pass_executor=None, watched_objects=WatchedObjects([]),
                     uplift_dependencies=SimpleNamespace(cluster=None))

    async def go() -> bool:
        existence.relisted(memo)  # before the audit starts: nothing to tell, no failure
        existence.start(memo)
        await memo["existence_audit"]
        [event] = told
        assert event is not None and not event.is_set()
        existence.relisted(memo)
        await asyncio.sleep(0)
        return event.is_set()

    assert asyncio.run(go())


def test_a_relist_while_a_confirmation_is_due_sooner_makes_that_audit_early_too(
        executor: ThreadPoolExecutor, terminations: list[str]) -> None:
    """The final review's /tmp/final-audits/s2.py: a relist's audit found x missing, its
    confirmation due ``apart`` later; a second gap's 410 came meanwhile, but its audit was
    not sooner than that confirmation, so nothing marked it early: it found y (deleted in the
    second gap) missing once and waited a whole interval to confirm it. A relist during the
    wait makes the audit after it early, brought forward or not."""
    wakeups, cluster = Wakeups(), _Cluster("u-y")
    x, y = ("Campaign", "ns", "x"), ("Campaign", "ns", "y")
    wakeups.register(x, uid="u-x")
    wakeups.register(y, uid="u-y")

    async def go() -> list[float]:
        relisted = asyncio.Event()
        task = await _auditing(executor, cluster, wakeups, relisted, interval=60.0, settle=0.05,
                               apart=0.3)
        began = asyncio.get_running_loop().time()
        relisted.set()  # the first gap: x deleted, its DELETED event late
        await asyncio.sleep(0.15)  # its audit at 0.05 s: x missing
        wakeups.finish(x, "u-x")  # x's DELETED event came
        cluster.uids = set()  # the second gap: y deleted in it, no DELETED event
        relisted.set()  # its 410: its audit (0.2 s) no sooner than the confirmation (0.35 s)
        await asyncio.wait_for(task, 5)  # returns once it exits
        return [at - began for at in cluster.at]

    at = asyncio.run(go())
    assert terminations == ["SIGTERM"]
    assert len(at) == 3 and at[2] < 2.0  # y's confirmation ``apart`` after, not an interval


def test_readiness_start_tells_the_audit_of_kopf_s_relist_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``readiness.start`` installs the filter of kopf's watching lines with the audit's hook:
    kopf's "Restarting the watch-stream ..." brings the audit forward."""
    async def no_checks(*_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(readiness, "_check_forever", no_checks)
    watching_logger = logging.getLogger(readiness._WATCHING_LOGGER)
    filters, level = list(watching_logger.filters), watching_logger.level
    asked: list[str] = []
    memo = kopf.Memo(config=settings.OperatorConfig(all_namespaces=True, readiness_port=0,
                                                    liveness_port=0))
    memo[existence.AUDIT_SOON] = lambda: asked.append("soon")
    start: Any = readiness.start  # as kopf calls it
    stop: Any = readiness.stop

    async def go() -> None:
        await start(memo=memo)
        try:
            watching_logger.debug("Stopping the watch-stream for %s", RESOURCE)
            assert asked == []
            watching_logger.debug("Restarting the watch-stream for %s", RESOURCE)
        finally:
            await stop(memo=memo)

    try:
        asyncio.run(go())
    finally:
        for added in set(watching_logger.filters) - set(filters):
            watching_logger.removeFilter(added)
        watching_logger.setLevel(level)
    assert asked == ["soon"]
