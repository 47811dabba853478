"""A status write the API server applied but whose answer was lost (a 504 after the commit, no
answer in time: status 0) failed its pass, whose events (a rollback's Warning) were not told;
the retry decided on the applied status, where the decision is recorded already, and told
nothing: the decision was in the history but never told as an event nor counted in
``uplift_operator_decisions_total``. Now the lost write's events are kept with the status it
sent (``PassRunner.untold``), told and counted by the pass that finds that status stored, and
dropped when a pass's write shows it was not applied (that pass decided, and told, again)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.test_decisions_counted import decision_series

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers import common, observability
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Key, Wakeups
from uplift_operator.services.common import Event, PassResult

KEY: Key = ("Campaign", "ns", "c")
RAMPING = {"phase": "Progressing", "exposurePercent": 25}
ROLLED_BACK = {"phase": "Degraded", "exposurePercent": 0}
RESTORED = {"phase": "Degraded", "exposurePercent": 0, "message": "control restored"}


class Cluster:
    """One Campaign in an API server whose status writes' answers can be lost: ``lose`` says,
    per write, None (answered), "applied" (applied, then 504) or "dropped" (504, not applied).
    A write conditional on another resourceVersion is refused 409."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {
            "metadata": {"name": "c", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
            "status": dict(RAMPING)}
        self.lose: list[str | None] = []

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.body)

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        meta = self.body["metadata"]
        if resource_version is not None and resource_version != meta["resourceVersion"]:
            raise KubeError(f"patch {plural}/{name}/status: 409 Conflict", 409)
        lost = self.lose.pop(0) if self.lose else None
        if lost == "dropped":
            raise KubeError(f"patch {plural}/{name}/status: 504 Gateway Timeout", 504)
        status = self.body["status"]
        for field, value in dict(patch.get("status") or patch).items():
            if value is None:
                status.pop(field, None)
            else:
                status[field] = value
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        if lost == "applied":
            raise KubeError(f"patch {plural}/{name}/status: 504 Gateway Timeout", 504)
        return copy.deepcopy(self.body)

    def watched(self) -> kopf.Body:
        """The body as the watch brings it (caught up)."""
        return kopf.Body(cast(kopf.RawBody, copy.deepcopy(self.body)))


def decide(snapshot: dict[str, Any], _: dt.datetime) -> PassResult:
    """A ramp whose gate failed: rolled back (a decision), then its control restored."""
    status = snapshot.get("status") or {}
    if status == RAMPING:
        return PassResult(dict(ROLLED_BACK),
                          (Event("Warning", "RolledBack", "gate delivered Fail", True),), None)
    if status == ROLLED_BACK:
        return PassResult(dict(RESTORED), (Event("Normal", "ControlRestored", "restored"),),
                          None)
    return PassResult(dict(status), (), None)


def passes(cluster: Cluster, bodies: list[Callable[[], kopf.Body]],
           monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[str]], PassRunner]:
    """One pass per item of ``bodies`` (each gives the body kopf holds then): the reasons of
    the events each told (a raising pass included), and the runner."""
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: posted.append(event["reason"]))
    told: list[list[str]] = []
    runner: list[PassRunner] = []

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            runner.append(PassRunner("Campaign", "campaigns", Wakeups(), pool, cluster))
            for body in bodies:
                before = len(posted)
                # A failed pass (its write refused or unanswered) raises.
                with contextlib.suppress(Exception):
                    await runner[0].run_once(KEY, body(), decide, lambda *_: None)
                told.append(posted[before:])

    asyncio.run(run())
    return told, runner[0]


@pytest.fixture
def decisions() -> Any:
    yield lambda: decision_series("c")
    observability.forget(*KEY)


def test_a_write_applied_whose_answer_was_lost_is_told_once_by_the_next_pass(
        monkeypatch: pytest.MonkeyPatch, decisions: Callable[[], dict[str, float]]) -> None:
    cluster = Cluster()
    cluster.lose = ["applied"]
    told, runner = passes(cluster, [cluster.watched] * 3, monkeypatch)
    # The rollback's pass raised (nothing told); the next, on the status the write applied,
    # decides the control restored and tells the rollback first, then its own; once.
    assert told == [[], ["RolledBack", "ControlRestored"], []]
    assert decisions() == {"RolledBack": 1.0}
    assert cluster.body["status"] == RESTORED
    assert runner.untold == {}


def test_the_next_pass_deciding_nothing_new_tells_the_applied_write_alone(
        monkeypatch: pytest.MonkeyPatch, decisions: Callable[[], dict[str, float]]) -> None:
    cluster = Cluster()
    cluster.body["status"] = dict(ROLLED_BACK)  # the step after: restoring the control
    cluster.lose = ["applied"]
    told, runner = passes(cluster, [cluster.watched] * 3, monkeypatch)
    assert told == [[], ["ControlRestored"], []]
    assert decisions() == {}  # told, but no decision
    assert runner.untold == {}


@pytest.mark.parametrize("retry", [None, "applied"])
def test_a_lost_write_not_applied_is_decided_again_and_told_once(
        retry: str | None, monkeypatch: pytest.MonkeyPatch,
        decisions: Callable[[], dict[str, float]]) -> None:
    """The first write was not applied: the retry decides the rollback again (its own events);
    whether its own answer is lost too or not, the rollback is told once."""
    cluster = Cluster()
    cluster.lose = ["dropped", retry]
    told, runner = passes(cluster, [cluster.watched] * 4, monkeypatch)
    rolled_back = [event for pass_told in told for event in pass_told if event == "RolledBack"]
    assert rolled_back == ["RolledBack"]
    assert decisions() == {"RolledBack": 1.0}
    assert cluster.body["status"] == RESTORED
    assert runner.untold == {} and runner.sent_statuses == {}


def test_a_body_the_watch_has_not_brought_up_to_date_keeps_them_until_one_is(
        monkeypatch: pytest.MonkeyPatch, decisions: Callable[[], dict[str, float]]) -> None:
    """After the lost answer the watch still holds the body from before the write: its pass
    decides the rollback again and is refused 409 (the status moved); the read-back shows the
    rollback applied, and the pass after tells it, once."""
    cluster = Cluster()
    before = cluster.watched()
    cluster.lose = ["applied"]
    told, runner = passes(cluster, [lambda: before] * 3, monkeypatch)
    assert told == [[], [], ["RolledBack", "ControlRestored"]]
    assert decisions() == {"RolledBack": 1.0}
    assert runner.untold == {}


def test_what_is_kept_is_bounded_and_dropped_with_the_object(
        monkeypatch: pytest.MonkeyPatch, decisions: Callable[[], dict[str, float]]) -> None:
    cluster = Cluster()
    cluster.lose = ["dropped"] * (common.UNTOLD_KEPT + 2)
    told, runner = passes(cluster, [cluster.watched] * (common.UNTOLD_KEPT + 2), monkeypatch)
    assert told == [[]] * (common.UNTOLD_KEPT + 2)
    assert len(runner.untold["u1"]) == common.UNTOLD_KEPT
    runner.forget(KEY, "u1")
    assert runner.untold == {}


def test_a_write_refused_as_too_large_is_not_kept(
        monkeypatch: pytest.MonkeyPatch, decisions: Callable[[], dict[str, float]]) -> None:
    cluster = Cluster()

    def refused(*_: Any, **__: Any) -> dict[str, Any]:
        raise KubeError("patch campaigns/c/status: 500 etcdserver: request is too large", 500)

    monkeypatch.setattr(cluster, "patch_status", refused)
    told, runner = passes(cluster, [cluster.watched], monkeypatch)
    assert told == [[common.STATUS_TOO_LARGE]]
    assert runner.untold == {} and runner.sent_statuses == {}
