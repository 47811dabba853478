"""``uplift_operator_paused`` from kopf's own watch-stream code: a process paused by peering from
its start (a peering object missing, a peer that outranks it) completes no pass and exports no
per-resource series, so UpliftOperatorNotReconciling reads this gauge to tell it from a process
with no resources. kopf's ``streaming_block`` is run as kopf runs it for each resource watch,
on a real toggle set, with the readiness module's filter on kopf's watching logger."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import watching
from kopf._cogs.structs import references
from prometheus_client import generate_latest

from uplift_operator.handlers import observability, readiness

RESOURCE = references.Resource("uplift.dev", "v1alpha1", "upliftmodels", namespaced=True)


def paused() -> float:
    [value] = [float(line.split()[1])
               for line in generate_latest(observability.REGISTRY).decode().splitlines()
               if line.startswith("uplift_operator_paused ")]
    return value


@pytest.fixture(autouse=True)
def kopf_lines() -> Iterator[None]:
    """The filter ``readiness.start`` installs (``surface_paused_watches``), removed after."""
    logger = logging.getLogger(readiness._WATCHING_LOGGER)
    level, found = logger.level, readiness._PausedWatchAtWarning(verbose=False)
    logger.setLevel(logging.DEBUG)
    logger.addFilter(found)
    observability.watches_paused(False)
    try:
        yield
    finally:
        logger.removeFilter(found)
        logger.setLevel(level)
        observability.watches_paused(False)


async def _watch_once(toggles: aiotoggles.ToggleSet,
                      namespace: references.Namespace) -> None:
    """One stream of kopf's: blocked while paused, then it would stream (here: returns)."""
    async with watching.streaming_block(resource=RESOURCE, namespace=namespace,
                                        operator_paused=toggles):
        pass


def test_a_process_paused_from_its_start_says_so_until_kopf_resumes_it() -> None:
    async def run() -> list[float]:
        toggles = aiotoggles.ToggleSet(any)
        peering = await toggles.make_toggle(True, name="uplift-operator@None")  # kopf: mandatory
        seen = [paused()]
        streams = [asyncio.create_task(_watch_once(toggles, references.NamespaceName(ns)))
                   for ns in ("a", "b")]
        await asyncio.sleep(0.05)
        seen.append(paused())
        assert not any(stream.done() for stream in streams)
        await peering.turn_to(False)  # the peering object's event: no peer outranks it
        await asyncio.wait_for(asyncio.gather(*streams), 5)
        seen.append(paused())
        return seen

    assert asyncio.run(run()) == [0, 1, 0]


def test_a_running_process_paused_later_says_so_and_a_peers_watch_changes_nothing() -> None:
    async def run() -> list[float]:
        toggles = aiotoggles.ToggleSet(any)
        conflict = await toggles.make_toggle(False, name="uplift-operator@None")
        await _watch_once(toggles, None)  # streams while nothing pauses it: no line
        seen = [paused()]
        await conflict.turn_to(True)  # a peer of higher priority appears
        # kopf restarts the stream that the pause closed: it blocks, saying why.
        stream = asyncio.create_task(_watch_once(toggles, None))
        await asyncio.sleep(0.05)
        seen.append(paused())
        # The peering objects' own watch runs unpaused (kopf gives it no toggle set).
        async with watching.streaming_block(resource=RESOURCE, namespace=None):
            pass
        seen.append(paused())
        await conflict.turn_to(False)  # the peer left
        await asyncio.wait_for(stream, 5)
        seen.append(paused())
        return seen

    assert asyncio.run(run()) == [0, 1, 1, 0]
