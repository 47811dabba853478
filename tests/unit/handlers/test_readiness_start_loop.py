"""The start-up looks at the peering objects and the checker's restart (handlers/readiness.py)
never make a restart loop: a named namespace that does not exist, which the start-up looks did
not reach before their deadline, was kept as configured; the checker found it stuck and exited
so that "a restart leaves it out", but the restart made the same looks in the same order, stopped
at the same place, kept it again and exited again, every watch paused at each start."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.unit.handlers.test_readiness_healing import FakeApi, objects
from urllib3.exceptions import MaxRetryError, ReadTimeoutError

from uplift_operator.handlers import readiness
from uplift_operator.handlers.readiness import (
    PeeringObjects,
    Readiness,
    SeenPresent,
    check_peerings,
    not_reached_notes,
    prepare_peerings,
    restart_to_leave_out,
)
from uplift_operator.settings import OperatorConfig

NAMES = tuple(f"team-{i:03d}" for i in range(120))
MISSING = "team-119"  # named, last, and does not exist


@pytest.fixture(autouse=True)
def _own_start() -> Iterator[None]:
    """What a start-up leaves for the checker is the process's: each test's own."""
    before = readiness._not_answered_at_start, readiness._cut_though_listed
    yield
    readiness._not_answered_at_start, readiness._cut_though_listed = before


class SlowClock:
    """A slow API server: each request takes 150 ms of this clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def request(self) -> None:
        with self._lock:
            self.now += 0.15


def slow_api(clock: SlowClock) -> FakeApi:
    present: set[str | None] = {n for n in NAMES if n != MISSING}
    api = FakeApi(present, absent_namespaces=frozenset({MISSING}))
    api.on_request = clock.request
    return api


def run_the_checker(config: OperatorConfig, peerings: PeeringObjects,
                    exits: list[str]) -> tuple[list[str], list[str]]:
    """Two checks of the started process, as ``_check_forever`` makes them: the missing and
    the notes of the last."""
    look = SeenPresent(peerings.read, peerings.create)
    stuck: set[str] = set()
    report = None
    for _ in range(2):
        report = check_peerings(config, look, lambda: [], seen=look.ever_seen)
        stuck = restart_to_leave_out(report.stuck, stuck, exit=exits.append,
                                     absent=report.absent)
    assert report is not None
    return report.missing, report.notes + not_reached_notes(report.stuck, absent=report.absent)


def test_a_namespace_the_start_did_not_reach_makes_no_restart_loop() -> None:
    """120 named namespaces at 150 ms a request: the looks stop at their 15 s deadline before
    team-119, which does not exist. Every start keeps it (the same looks, the same deadline),
    so the checker does not exit for it, start after start: /readyz says why instead (503, it
    pauses every watch, and a note that a restart would not leave it out)."""
    config = OperatorConfig(namespaces=NAMES, peering_name="ops")
    for _start in range(3):
        clock = SlowClock()
        api = slow_api(clock)
        started = prepare_peerings(config, objects(api), clock=clock)
        assert started is not None and MISSING in started.namespaces  # not reached
        assert ("get", MISSING) not in [(verb, ns) for verb, ns, _ in api.requests]
        exits: list[str] = []
        missing, notes = run_the_checker(started, objects(api), exits)
        assert exits == []  # before: an exit at every start, each restart keeping it again
        assert missing == [f"KopfPeering 'ops' in namespace '{MISSING}'"]
        assert [n for n in notes if "would stop at the same place and keep it again" in n] == [
            n for n in notes if MISSING in n] != []
        state = Readiness()
        state.started = True
        state.update(missing, notes)
        assert state.problems() != []  # every watch is paused: not ready, and says so


def test_the_listing_leaves_out_a_named_namespace_that_does_not_exist_whatever_the_deadline(
        ) -> None:
    """Where the operator may list the namespaces, one listing says which named ones do not
    exist: team-119 is left out at the first start with no look of its own, and the checker
    finds nothing stuck."""
    config = OperatorConfig(namespaces=NAMES, peering_name="ops")
    clock = SlowClock()
    api = slow_api(clock)
    timeouts: list[float] = []

    def listed(timeout: float) -> list[str]:
        timeouts.append(timeout)
        clock.request()
        return [n for n in NAMES if n != MISSING]

    started = prepare_peerings(config, objects(api), listed=listed, clock=clock)
    assert started is not None and started.left_out_namespaces == (MISSING,)
    assert MISSING not in started.namespaces and timeouts == [2.5]
    assert all(ns != MISSING for _, ns, _ in api.requests)
    exits: list[str] = []
    missing, _ = run_the_checker(started, objects(api), exits)
    assert missing == [] and exits == []


@pytest.mark.parametrize("error", [ApiException(status=403, reason="Forbidden"),
                                   OSError("the listing timed out")])
def test_a_listing_refused_or_failed_leaves_each_named_namespace_to_its_own_look(
        error: Exception) -> None:
    """Roles only (no ClusterRole to list the namespaces), or a listing that failed: the looks
    say which named namespace does not exist, as before the listing."""
    api = FakeApi({"a"}, absent_namespaces=frozenset({"gone"}))
    config = OperatorConfig(namespaces=("a", "gone", "b"), peering_name="ops")

    def refused(_: float) -> list[str]:
        raise error

    started = prepare_peerings(config, objects(api), listed=refused)
    assert started is not None and started.namespaces == ("a", "b")
    assert started.left_out_namespaces == ("gone",)
    assert readiness._not_answered_at_start == frozenset()


def test_a_stuck_namespace_the_start_did_look_up_still_restarts_the_process() -> None:
    """Looked up at start (its KopfPeering created), then deleted before kopf saw it: the
    restart looks it up again and leaves it out, so the checker exits for it, once."""
    api = FakeApi(set())
    config = OperatorConfig(namespaces=("a", "b"), peering_name="ops")
    started = prepare_peerings(config, objects(api))
    assert started == config
    api.present.discard("b")
    api.absent_namespaces = frozenset({"b"})
    exits: list[str] = []
    run_the_checker(started, objects(api), exits)
    assert len(exits) == 1 and "namespace(s) b cannot hold a KopfPeering" in exits[0]
    restarted = prepare_peerings(config, objects(api))
    assert restarted is not None and restarted.left_out_namespaces == ("b",)


def test_the_start_up_looks_run_a_bounded_pool_at_once() -> None:
    """40 named namespaces, each look 20 ms: never more than ``workers`` at a time, more than
    one, and every one looked up."""
    in_flight, peak = [0], [0]
    lock = threading.Lock()

    class Timed(FakeApi):
        def _request(self, verb: str, namespace: str | None, timeout: float) -> None:
            super()._request(verb, namespace, timeout)
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            time.sleep(0.02)
            with lock:
                in_flight[0] -= 1

    names = tuple(f"ns-{i}" for i in range(40))
    api = Timed(set[str | None](names))
    config = OperatorConfig(namespaces=names, peering_name="ops")
    assert prepare_peerings(config, objects(api), workers=8) == config
    assert sorted(str(ns) for _, ns, _ in api.requests) == sorted(names)
    assert 1 < peak[0] <= 8
    assert readiness._not_answered_at_start == frozenset()


def test_the_cluster_kopfpeering_not_looked_up_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """Cluster-wide, the one look cut short by the deadline names the ClusterKopfPeering."""
    config = OperatorConfig(all_namespaces=True, peering_name="ops")
    with caplog.at_level("WARNING", logger=readiness.__name__):
        assert prepare_peerings(config, objects(FakeApi(set())), deadline=0.0) == config
    assert "Not looked up, kept as configured: the ClusterKopfPeering" in caplog.text


class Outage(FakeApi):
    """An API server that fails every request for a moment (``down``), then answers."""

    def __init__(self, *args: Any, error: Exception, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error = error
        self.down = True

    def _request(self, verb: str, namespace: str | None, timeout: float) -> None:
        super()._request(verb, namespace, timeout)
        if self.down:
            raise self.error


@pytest.mark.parametrize("error", [OSError("the API server did not answer"),
                                   ApiException(status=429, reason="Too Many Requests"),
                                   ApiException(status=500, reason="Internal Server Error")])
def test_a_moment_s_outage_at_start_still_restarts_for_a_namespace_that_does_not_exist(
        error: Exception) -> None:
    """The API server fails for a moment as the pod starts: the listing and the looks fail
    (unreachable: the looks stop at the first; or each answered an error), so "gone", named
    and not existing, is kept as configured. A restart looks it up (and leaves it out): the
    checker exits for it. Before, every namespace not answered at start was never a reason to
    exit, for the process's life: every watch paused, /readyz 503 until a person acted."""
    api = Outage({"a", "b"}, absent_namespaces=frozenset({"gone"}), error=error)
    config = OperatorConfig(namespaces=("a", "gone", "b"), peering_name="ops")

    def listed(_: float) -> list[str]:
        raise OSError("the listing timed out")

    started = prepare_peerings(config, objects(api), listed=listed)
    assert started == config  # nothing answered, everything kept
    api.down = False
    exits: list[str] = []
    _, notes = run_the_checker(started, objects(api), exits)
    assert len(exits) == 1 and "namespace(s) gone cannot hold a KopfPeering" in exits[0]
    assert not [n for n in notes if "keep it again" in n]
    restarted = prepare_peerings(config, objects(api), listed=listed)
    assert restarted is not None and restarted.left_out_namespaces == ("gone",)


def test_a_namespace_the_deadline_cut_short_though_listed_restarts_once_deleted() -> None:
    """The operator may list the namespaces: every named one exists at start, the looks stop
    at their deadline before the last, which is deleted later (its KopfPeering never made, so
    kopf waits for it). A restart's listing leaves it out at once: the checker exits for it.
    Before, it never did (not answered at start), every watch paused for good."""
    config = OperatorConfig(namespaces=NAMES, peering_name="ops")
    clock = SlowClock()
    api = FakeApi(set[str | None](NAMES))
    api.on_request = clock.request
    started = prepare_peerings(config, objects(api), listed=lambda _: list(NAMES), clock=clock)
    assert started == config and ("get", MISSING) not in [(v, n) for v, n, _ in api.requests]
    api.present.discard(MISSING)
    api.absent_namespaces = frozenset({MISSING})
    exits: list[str] = []
    _, notes = run_the_checker(started, objects(api), exits)
    assert len(exits) == 1 and f"namespace(s) {MISSING} cannot hold" in exits[0]
    assert not [n for n in notes if "keep it again" in n]
    clock = SlowClock()
    api.on_request = clock.request
    restarted = prepare_peerings(config, objects(api), clock=clock,
                                 listed=lambda _: [n for n in NAMES if n != MISSING])
    assert restarted is not None and restarted.left_out_namespaces == (MISSING,)


def test_one_cut_short_though_listed_that_exists_without_a_role_makes_no_restart_loop() -> None:
    """Listed, so it exists, but without the operator's Role: only its look would leave it
    out, and a restart's looks stop at the same place. No exit, at any start."""
    config = OperatorConfig(namespaces=NAMES, peering_name="ops")
    for _start in range(2):
        clock = SlowClock()
        api = FakeApi({n for n in NAMES if n != MISSING}, no_role=frozenset({MISSING}))
        api.on_request = clock.request
        started = prepare_peerings(config, objects(api), listed=lambda _: list(NAMES),
                                   clock=clock)
        assert started == config
        exits: list[str] = []
        _, notes = run_the_checker(started, objects(api), exits)
        assert exits == [] and [n for n in notes if "keep it again" in n and MISSING in n]


@pytest.mark.parametrize("error", [
    TimeoutError("read timed out"),
    MaxRetryError(None, "/apis", ReadTimeoutError(None, "/apis", "read timed out"))])  # type: ignore[arg-type]
@pytest.mark.parametrize(("cut", "restarts"), [(True, 0), (False, 1)])
def test_a_request_timed_out_on_a_timeout_the_deadline_cut_is_the_deadline_s(
        error: Exception, cut: bool, restarts: int) -> None:
    """Near the deadline each request's timeout is cut to what is left, and a slow API server
    times it out: the restart's looks time out at the same place, so that is no reason to
    exit (a loop). A request timed out on its whole timeout is a failure of the moment: exit."""
    config = OperatorConfig(namespaces=("a", MISSING, "b"), peering_name="ops")
    now = [0.0]
    api = FakeApi({"a", "b"}, absent_namespaces=frozenset({MISSING}))

    def slow() -> None:
        if api.requests[-1][1] == MISSING:  # times out after the timeout it was given
            now[0] += api.requests[-1][2]
            raise error
        now[0] += 6.0 if cut else 0.5  # "a": 9 s left after it (< 10 s: cut), or 14.5 s

    api.on_request = slow
    started = prepare_peerings(config, objects(api), clock=lambda: now[0], workers=1)
    assert started == config
    api.on_request = None
    exits: list[str] = []
    run_the_checker(started, objects(api), exits)
    assert len(exits) == restarts
