"""A status write refused 409 again and again backs off (``handlers.common.Conflicts``): it was
decided again every 0.5 s for ever, each retry a whole decision, a read and a write (a review's
reproduction: 10 s of a persistent 409, 20 decisions and 20 PATCHes). The first conflict, and
one whose read-back shows the spec or annotations changed, still retry in 0.5 s; a write that
succeeds ends the count, and so does a silence longer than the last wait plus the cap (an
outage's raising passes between). A refused write that changes the decision (a rollback) is
retried in 0.5 s even in a streak, for up to a minute. No sleeping: the runner's clock is the
test's."""

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
    decision_change,
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
        #: The status read back: the decision ``_decide`` takes, written by another pass.
        self.status: dict[str, Any] = {"phase": "Progressing"}
        self._versions = itertools.count(2)

    def read_live(self, *_: Any) -> dict[str, Any]:
        return {"metadata": {"name": "m", "namespace": "ns", "uid": "u1",
                             "generation": self.generation,
                             "annotations": dict(self.annotations),
                             "resourceVersion": str(next(self._versions))},
                "status": dict(self.status)}

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
#: What ``_decide`` decides (besides its message): as the status read back, but after a
#: "rollback" step.
_DECIDED: dict[str, Any] = {}


def _decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
    """A status that differs at every pass (its message): every pass writes."""
    return PassResult({"phase": "Progressing", **_DECIDED,
                       "message": f"pass {next(_DECISIONS)}"}, (), None)


def _passes(cluster: Refusing, clock: Clock, runner_steps: list[str]) -> list[float | None]:
    """Run a pass per step ("pass"; "edit": the spec changes first; "annotate": a request
    annotation is set first; "rollback": the pass decides a rollback from now on; "accept":
    the next write succeeds), advancing the clock by each returned delay, as ``run_passes``
    would wait."""
    _DECIDED.clear()

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
                if step == "rollback":
                    _DECIDED.update(phase="Degraded", stableVersion="1",
                                    abortedVersion="2", canaryWeight=0)
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


def test_a_streak_is_ended_by_a_long_silence() -> None:
    """The passes between raised (an API server outage): a lone 409 an hour after the last is
    a first one, not a second in a row that waits 60 to 75 s."""
    conflicts = Conflicts()
    live = {"metadata": {"uid": "u1", "generation": 1}}
    assert conflicts.refused("u1", live, 0.0, 1.0) == (CONFLICT_RETRY_SECONDS, 1)
    assert conflicts.refused("u1", live, 3600.0, 1.0) == (CONFLICT_RETRY_SECONDS, 1)
    assert conflicts.refused("u1", live, 3600.5, 1.0) == (1.0, 2)


def test_a_streak_backing_off_at_the_cap_goes_on() -> None:
    """A retry that comes when its longest wait ran out (and its pass took a while) is still
    the same streak: the back-off stays at the cap."""
    conflicts, at, delay = Conflicts(), 0.0, 0.0
    live = {"metadata": {"uid": "u1", "generation": 1}}
    for _ in range(12):
        delay, _count = conflicts.refused("u1", live, at, 1.0)
        at += delay + 10.0  # each pass takes 10 s on top of its wait
    assert delay == CONFLICT_BACKOFF_SECONDS * (1 + JITTER)
    assert conflicts.refused("u1", live, at, 1.0)[0] == delay


def test_a_refused_rollback_retries_soon_in_a_streak(caplog: pytest.LogCaptureFixture) -> None:
    """Someone else's writes (labels, finalizers) conflict for minutes: the passes back off. A
    rollback then decided, refused, is not held up to 75 s: it is decided again in 0.5 s, for
    up to a minute of refusals of that decision, then backs off as any other."""
    cluster, clock = Refusing(), Clock()
    with caplog.at_level(logging.INFO, logger="uplift_operator.handlers.common"):
        delays = _passes(cluster, clock, ["pass"] * 10 + ["rollback"] + ["pass"] * 130)
    assert (delays[9] or 0.0) >= CONFLICT_BACKOFF_SECONDS
    rollback = [delay or 0.0 for delay in delays[10:]]
    soon = list(itertools.takewhile(lambda delay: delay == CONFLICT_RETRY_SECONDS, rollback))
    assert len(soon) == int(CONFLICT_BACKOFF_SECONDS / CONFLICT_RETRY_SECONDS)  # 60 s of them
    assert rollback[len(soon)] >= CONFLICT_BACKOFF_SECONDS  # then backed off, at the cap
    told = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(told) == 1  # the back-off said once, when it began
    assert "its decision changes" in caplog.text and "abortedVersion" in caplog.text


def test_a_decision_change_is_what_the_status_names() -> None:
    current = {"phase": "Progressing", "stableVersion": "1", "canaryVersion": "2",
               "canaryWeight": 10, "currentStep": 1, "message": "a"}
    assert decision_change(current, {**current, "message": "b", "lastAnalysisAt": "t"}) is None
    assert decision_change(current, {**current, "currentStep": 2}) is not None
    assert decision_change(current, {**current, "canaryVersion": None, "canaryWeight": 0,
                                     "abortedVersion": "2"}) is not None
    assert decision_change({"phase": "Progressing", "exposurePercent": 5.0},
                           {"phase": "Progressing", "exposurePercent": 10.0}) is not None


class FlippingPhase(Refusing):
    """Another writer flips the phase of the status at every write it makes: each read back
    finds it the other way."""

    def read_live(self, *args: Any) -> dict[str, Any]:
        self.status["phase"] = "Degraded" if self.status["phase"] == "Progressing" \
            else "Progressing"
        return super().read_live(*args)


def test_a_refused_rollback_backs_off_when_another_writer_flips_the_phase() -> None:
    """The rollback's phase differs from every other read-back only: the decision must still
    read as the same one (it used to key on the fields that differed, so the key alternated,
    the minute restarted at every pass and the 0.5 s retries never ended)."""
    cluster, clock = FlippingPhase(), Clock()
    delays = [delay or 0.0 for delay in _passes(cluster, clock, ["rollback"] + ["pass"] * 300)]
    soon = list(itertools.takewhile(lambda delay: delay == CONFLICT_RETRY_SECONDS, delays))
    assert len(soon) == int(CONFLICT_BACKOFF_SECONDS / CONFLICT_RETRY_SECONDS)  # 60 s of them
    assert delays.count(CONFLICT_RETRY_SECONDS) == len(soon)  # then never soon again
    assert delays[-1] >= CONFLICT_BACKOFF_SECONDS


def test_a_decision_that_comes_and_goes_gets_a_minute_of_soon_retries_per_streak() -> None:
    """A decision refused, then found recorded by another writer (None), then refused again,
    for hours: at most ``cap`` seconds of 0.5 s waits in the streak, not every other retry."""
    conflicts, live, at = Conflicts(), {"metadata": {"generation": 1}}, 0.0
    fast = 0
    for index in range(2000):
        decision = "A" if index % 2 == 0 else None
        delay, _ = conflicts.refused("u1", live, at, 1.0, decision)
        fast += delay == CONFLICT_RETRY_SECONDS
        at += delay
    assert at > 3600.0
    assert fast <= 1 + int(CONFLICT_BACKOFF_SECONDS / CONFLICT_RETRY_SECONDS)


def test_a_new_decision_late_in_a_streak_gets_no_more_than_the_streak_budget() -> None:
    """Different decisions one after another, each refused: the budget is the streak's."""
    conflicts, live, at = Conflicts(), {"metadata": {"generation": 1}}, 0.0
    delays = []
    for index in range(400):
        delay, _ = conflicts.refused("u1", live, at, 1.0, f"decision {index // 100}")
        delays.append(delay)
        at += delay
    assert delays.count(CONFLICT_RETRY_SECONDS) == 1 + int(
        CONFLICT_BACKOFF_SECONDS / CONFLICT_RETRY_SECONDS)


def test_a_decision_change_names_the_whole_decision() -> None:
    decided = {"phase": "Degraded", "stableVersion": "1", "abortedVersion": "2"}
    assert decision_change({"phase": "Progressing"}, decided) == \
        decision_change({"phase": "Degraded"}, decided)
