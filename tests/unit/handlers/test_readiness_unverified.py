"""``/readyz`` vouches for the peering objects only once a check of them succeeded, and no
longer once several checks in a row failed; a checker whose API client cannot be made lives on
and says so (it died silently, /readyz frozen)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from uplift_operator.handlers import readiness
from uplift_operator.settings import OperatorConfig

CONFIG = OperatorConfig(all_namespaces=True, peering_name="ops")


def answer(state: readiness.Readiness) -> tuple[int, str]:
    async def ask() -> tuple[int, str]:
        response = await state.handle(None)  # type: ignore[arg-type]
        return response.status, str(response.text)
    return asyncio.run(ask())


def test_started_but_not_checked_yet_is_not_ready() -> None:
    state = readiness.Readiness()
    state.started = True
    status, text = answer(state)
    assert status == 503 and "the peering objects have not been checked yet" in text
    state.update([])
    assert answer(state) == (200, "ok\n")


def test_failed_checks_before_the_first_success_keep_it_unready_and_say_why() -> None:
    state = readiness.Readiness()
    state.started = True
    state.check_failed("MaxRetryError: API server unreachable")
    status, text = answer(state)
    assert status == 503
    assert ("not been checked yet (1 check(s) failed, the last: MaxRetryError: API server "
            "unreachable)") in text


def test_checks_failing_in_a_row_after_a_success_end_in_cannot_verify(
        caplog: pytest.LogCaptureFixture) -> None:
    state = readiness.Readiness()
    state.started = True
    state.update([])
    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        for _ in range(readiness.FAILED_CHECKS_UNREADY - 1):
            state.check_failed("503 Service Unavailable")
        assert answer(state)[0] == 200  # a few failures: what the last check found holds
        state.check_failed("503 Service Unavailable")
    status, text = answer(state)
    assert status == 503 and text.startswith(
        f"not ready: cannot verify peering: the last {readiness.FAILED_CHECKS_UNREADY} checks")
    assert caplog.text.count("readiness is 503 (cannot verify peering)") == 1
    state.update([])  # one success ends it
    assert answer(state) == (200, "ok\n")
    state.check_failed("503 Service Unavailable")
    assert answer(state)[0] == 200


def _run_checker(state: readiness.Readiness, until: Any) -> None:
    async def run() -> None:
        task = asyncio.create_task(readiness._check_forever(state, CONFIG))
        try:
            for _ in range(500):
                if until() or task.done():
                    break
                await asyncio.sleep(0.01)
            assert not task.done(), task.exception()
        finally:
            task.cancel()
    asyncio.run(run())


def test_a_client_that_cannot_be_made_is_a_failed_check_and_made_again_later(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from kubernetes import client

    made: list[int] = []

    def load_api_client() -> client.ApiClient:
        made.append(1)
        if len(made) <= readiness.FAILED_CHECKS_UNREADY:
            raise RuntimeError("no service account token")
        return client.ApiClient()

    monkeypatch.setattr(readiness, "load_api_client", load_api_client)
    monkeypatch.setattr(readiness, "check_peerings",
                        lambda *_: readiness.PeeringReport(["ClusterKopfPeering 'ops'"]))
    monkeypatch.setattr(readiness, "CHECK_SECONDS", 0.01)
    state = readiness.Readiness()
    state.started = True
    seen: list[list[str]] = []

    def until() -> bool:
        seen.append(state.problems())
        return state.checked

    with caplog.at_level(logging.WARNING, logger=readiness.__name__):
        _run_checker(state, until)
    assert made == [1] * (readiness.FAILED_CHECKS_UNREADY + 1)  # made once it worked
    assert any("no service account token" in p for problems in seen for p in problems)
    assert state.problems() == ["ClusterKopfPeering 'ops' does not exist: kopf keeps every "
                                "watch of the operator paused"]
    assert "cannot check the peering objects: RuntimeError: no service account token" in (
        caplog.text)
