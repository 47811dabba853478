"""A status write refused 409 again and again backs off (``handlers.common.Conflicts``): it was
decided again every 0.5 s for ever, each retry a whole decision, a read and a write (a review's
reproduction: 10 s of a persistent 409, 20 decisions and 20 PATCHes). The first conflict, and
one whose read-back shows the spec or annotations changed, still retry in 0.5 s; a write that
succeeds ends the count. No sleeping: the runner's clock is the test's."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest

from uplift_operator.adapters.kube import KubeError
from uplift_operator.domain.retry import JITTER
from uplift_operator.handlers.common import (
    CONFLICT_BACKOFF_SECONDS,
    CONFLICT_RETRY_SECONDS,
    Conflicts,
    PassRunner,
)
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult

KEY = ("UpliftModel", "ns", "m")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Refusing:
    """Every status write refused 409; every read finds a newer resourceVersion (another
    writer keeps changing the object), with ``generation`` as set."""

    def __init__(self) -> None:
        self.refuse, self.generation, self.patches = True, 1, 0
        self.annotations: dict[str, str] = {}
        self._versions = itertools.count(2)

    def read_live(self, *_: Any) -> dict[str, Any]:
        return {"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                             "generation": self.generation,
                             "annotations": dict(self.annotations),
                             "resourceVersion": str(next(self._versions))}, "status": {}}

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        self.patches += 1
        if self.refuse:
            raise KubeError(f"patch {plural}/{name}/status: 409 the object has been modified",
                            409)
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": str(next(self._versions))},
                "status": dict(patch)}


BODY = kopf.Body({"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                               "resourceVersion": "1"}, "status": {}})


_DECISIONS = itertools.count()


def _decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
    """A status that differs at every pass: every pass writes."""
    return PassResult({"phase": "Progressing", "message": f"pass {next(_DECISIONS)}"}, (), None)


def _passes(cluster: Refusing, clock: Clock, runner_steps: list[str]) -> list[float | None]:
    """Run a pass per step ("pass"; "edit": the spec changes first; "annotate": a request
    annotation is set first; "accept": the next write succeeds), advancing the clock by each
    returned delay, as ``run_passes`` would wait."""
    async def go() -> list[float | None]:
        delays: list[float | None] = []
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, cluster,
                                clock=clock)
            for step in runner_steps:
                if step == "edit":
                    cluster.generation += 1
                if step == "annotate":
                    cluster.annotations["uplift.dev/abort"] = f"token-{clock.now}"
                cluster.refuse = step != "accept"
                delay = await runner.run_once(KEY, BODY, _decide, lambda *_: None)
                delays.append(delay)
                clock.now += delay if delay is not None else 0.0
        return delays

    return asyncio.run(go())


def test_a_persistent_conflict_backs_off_to_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    cluster, clock = Refusing(), Clock()
    with caplog.at_level(logging.INFO, logger="uplift_operator.handlers.common"):
        passes = _passes(cluster, clock, ["pass"] * 14)
    delays = [delay for delay in passes if delay is not None]
    assert len(delays) == len(passes)
    assert delays[0] == CONFLICT_RETRY_SECONDS
    assert delays[1] == 1.0
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert CONFLICT_BACKOFF_SECONDS <= delays[-1] <= CONFLICT_BACKOFF_SECONDS * (1 + JITTER)
    # The review's 10 s of a persistent 409: 20 decisions and PATCHes before, now 5.
    assert len(list(itertools.takewhile(lambda t: t < 10.0, itertools.accumulate(
        [0.0, *delays])))) <= 5
    told = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(told) == 1 and "backing off up to 60 s" in told[0].getMessage()


def test_a_successful_write_ends_the_back_off() -> None:
    cluster, clock = Refusing(), Clock()
    delays = _passes(cluster, clock, ["pass"] * 6 + ["accept", "pass", "pass"])
    assert (delays[5] or 0.0) > 10.0
    assert delays[6:] == [None, CONFLICT_RETRY_SECONDS, 1.0]


def test_a_conflict_whose_read_back_shows_an_edit_retries_soon() -> None:
    """Someone edited the spec meanwhile: what the pass decides on changed, decided again in
    0.5 s and counted as a first conflict."""
    cluster, clock = Refusing(), Clock()
    delays = _passes(cluster, clock, ["pass"] * 5 + ["edit", "pass"])
    assert (delays[4] or 0.0) > 5.0
    assert delays[5:] == [CONFLICT_RETRY_SECONDS, 1.0]


def test_a_conflict_whose_read_back_shows_a_new_annotation_retries_soon() -> None:
    """A manual request (``uplift.dev/abort``) annotated meanwhile, the spec unchanged: what the
    pass decides on changed, decided again in 0.5 s and counted as a first conflict (an abort
    must not wait out a back-off of up to 75 s)."""
    cluster, clock = Refusing(), Clock()
    delays = _passes(cluster, clock, ["pass"] * 5 + ["annotate", "pass"])
    assert (delays[4] or 0.0) > 5.0
    assert delays[5:] == [CONFLICT_RETRY_SECONDS, 1.0]


def test_conflicts_are_counted_per_object_and_dropped_when_it_is_forgotten() -> None:
    conflicts = Conflicts()
    live = {"metadata": {"uid": "u1", "generation": 1}}
    assert conflicts.refused("u1", live, 0.0, 0.0) == (CONFLICT_RETRY_SECONDS, 1)
    assert conflicts.refused("u2", live, 0.6, 0.0) == (CONFLICT_RETRY_SECONDS, 1)
    assert conflicts.refused("u1", None, 0.6, 0.0) == (1.0, 2)  # not read back: counted
    assert conflicts.refused("u1", live, 5.0, 0.5) == (5.0 * (1 + JITTER * 0.5), 3)
    conflicts.cleared("u1")
    assert conflicts.refused("u1", live, 9.0, 0.0) == (CONFLICT_RETRY_SECONDS, 1)
    conflicts.cleared("u1")
    conflicts.cleared("u2")
    assert len(conflicts) == 0
