"""Which peering objects kopf waits for, and how a paused watch is logged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from uplift_operator.handlers import readiness
from uplift_operator.settings import OperatorConfig

PRESENT, MISSING = readiness.Peering.PRESENT, readiness.Peering.MISSING


def test_cluster_wide_needs_the_cluster_peering() -> None:
    config = OperatorConfig(all_namespaces=True, peering_name="ops")
    assert readiness.check_peerings(config, lambda ns: MISSING, list).missing == [
        "ClusterKopfPeering 'ops'"]
    assert readiness.check_peerings(config, lambda ns: PRESENT if ns is None else MISSING,
                                    list).missing == []


def test_namespaced_needs_one_per_namespace_including_glob_matches() -> None:
    config = OperatorConfig(namespaces=("team-a", "ml-*"), peering_name="ops")
    present = {"team-a"}
    missing = readiness.check_peerings(config, lambda ns: PRESENT if ns in present else MISSING,
                                       lambda: ["team-a", "ml-x", "ml-y", "other"]).missing
    assert missing == ["KopfPeering 'ops' in namespace 'ml-x'", "KopfPeering 'ops' in namespace 'ml-y'"]


def test_standalone_needs_no_peering() -> None:
    config = OperatorConfig(namespaces=("team-a",), standalone=True)
    assert readiness.check_peerings(config, lambda ns: MISSING, list).missing == []


def test_readiness_reports_every_problem() -> None:
    state = readiness.Readiness()
    assert state.problems() == ["the operator is starting"]
    state.started = True
    state.update(["KopfPeering 'ops' in namespace 'a'"])
    assert state.problems() == ["KopfPeering 'ops' in namespace 'a' does not exist: kopf keeps "
                                "every watch of the operator paused"]
    state.update([])
    assert state.problems() == []


def test_a_missing_peering_is_said_to_pause_the_whole_operator(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        readiness.Readiness().update(["KopfPeering 'ops' in namespace 'gone'"])
    assert "pauses every watch of the operator, in every namespace" in caplog.text
    assert "remove its namespace from the watched ones" in caplog.text


def test_kopf_gates_every_namespace_on_each_namespaces_peering() -> None:
    """What the words above rest on (kopf 1.45: running.py's one ``operator_paused``
    ``ToggleSet(any)``; orchestration.py's toggle per namespace, on from the start when peering
    is mandatory): team-a's peering seen, team-b's never, so team-a's watches stay paused too.
    Should a kopf upgrade gate each namespace on its own, this fails and the docs must change."""
    from kopf._cogs.aiokits import aiotoggles

    async def run() -> tuple[bool, list[str]]:
        operator_paused = aiotoggles.ToggleSet(any)
        team_a = await operator_paused.make_toggle(True, name="ops@team-a")
        await operator_paused.make_toggle(True, name="ops@team-b")
        await team_a.turn_to(False)  # team-a's KopfPeering event: no conflicting peer
        return operator_paused.is_on(), sorted(str(t.name) for t in operator_paused if t.is_on())

    assert asyncio.run(run()) == (True, ["ops@team-b"])


def _record(level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord("kopf._cogs.clients.watching", level, __file__, 1, message, None, None)


def test_kopfs_pause_line_becomes_a_warning_and_other_debug_is_dropped() -> None:
    quiet = readiness._PausedWatchAtWarning(verbose=False)
    paused = _record(logging.DEBUG, "Pausing the watch-stream for upliftmodels in 'a' (blockers: ops@a).")
    assert quiet.filter(paused) and paused.levelno == logging.WARNING
    assert "(blockers: ops@a)" in paused.getMessage()
    resumed = _record(logging.DEBUG, "Resuming the watch-stream for upliftmodels in 'a'.")
    assert quiet.filter(resumed) and resumed.levelno == logging.INFO
    assert not quiet.filter(_record(logging.DEBUG, "Starting the watch-stream for upliftmodels."))
    assert readiness._PausedWatchAtWarning(verbose=True).filter(
        _record(logging.DEBUG, "Starting the watch-stream for upliftmodels."))


def test_the_checker_outlives_an_unreachable_api_server(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An unreachable API server raises urllib3's MaxRetryError, not an ApiException: the
    checker logs it and checks again, rather than dying and freezing /readyz."""
    from kubernetes import client

    def unreachable() -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host, configuration.retries = "http://127.0.0.1:1", 0
        return client.ApiClient(configuration)

    calls: list[int] = []
    real = readiness.check_peerings

    def check_peerings(*args: Any) -> readiness.PeeringReport:
        calls.append(1)
        if len(calls) <= 2:
            return real(*args)  # the real client's call to a closed port
        return readiness.PeeringReport(["ClusterKopfPeering 'ops'"])

    monkeypatch.setattr(readiness, "load_api_client", unreachable)
    monkeypatch.setattr(readiness, "check_peerings", check_peerings)
    monkeypatch.setattr(readiness, "CHECK_SECONDS", 0.01)
    state = readiness.Readiness()
    config = OperatorConfig(all_namespaces=True, peering_name="ops")

    async def run() -> None:
        task = asyncio.create_task(readiness._check_forever(state, config))
        try:
            for _ in range(500):
                if state.missing or task.done():
                    break
                await asyncio.sleep(0.01)
            assert not task.done(), task.exception()
        finally:
            task.cancel()

    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        asyncio.run(run())
    assert state.missing == ["ClusterKopfPeering 'ops'"]
    assert "cannot check the peering objects: MaxRetryError" in caplog.text


def test_a_peering_read_that_never_gets_an_answer_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API server that accepts the connection and never answers: the check's read times out
    (and the checker goes on, as for any other failure) instead of holding it forever."""
    import socket
    import time

    from kubernetes import client

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        configuration.retries = 0
        monkeypatch.setattr(readiness, "REQUEST_TIMEOUT_SECONDS", 0.3)
        objects = readiness.PeeringObjects(
            client.CustomObjectsApi(client.ApiClient(configuration)), "ops")
        started = time.monotonic()
        with pytest.raises(Exception, match=r"(?i)timed? ?out"):
            objects.read(None)
        assert time.monotonic() - started < 5
    finally:
        silent.close()
