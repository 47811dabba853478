"""A ``--namespace`` pattern where the operator may not list the namespaces (403: a Role in each
named namespace, no ClusterRole to list them; a supported setup, ``prepare_peerings`` falls back
to the named ones): kopf watches the namespaces named exactly, assumed to exist, and the
readiness checker checks their peering objects. Since 22a436e every check failed on the
listing's 403 and ``/readyz`` was 503 for good."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from uplift_operator.handlers import readiness
from uplift_operator.settings import OperatorConfig

CONFIG = OperatorConfig(all_namespaces=False, namespaces=("team-a", "team-*", "ops"),
                        peering_name="p")


def forbidden() -> dict[str, str]:
    raise ApiException(status=403, reason="Forbidden")


def test_a_forbidden_listing_checks_the_namespaces_named_exactly() -> None:
    kept: list[object] = []
    namespaces = readiness.ListedOrNamed(CONFIG, forbidden, kept.append)
    assert sorted(namespaces()) == ["ops", "team-a"]
    assert kept == []  # nothing is forgotten on a listing that did not happen
    looked: list[str | None] = []

    def look(namespace: str | None) -> readiness.Peering:
        looked.append(namespace)
        return readiness.Peering.MISSING if namespace == "ops" else readiness.Peering.PRESENT

    report = readiness.check_peerings(CONFIG, look, namespaces)
    assert sorted(ns for ns in looked if ns) == ["ops", "team-a"]
    assert report.missing == [readiness._describe("p", "ops")] and report.stuck == []


def test_another_failure_of_the_listing_still_fails_the_check() -> None:
    def unavailable() -> dict[str, str]:
        raise ApiException(status=503, reason="Service Unavailable")

    with pytest.raises(ApiException):
        readiness.ListedOrNamed(CONFIG, unavailable)()


def test_the_listing_allowed_again_is_used_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    answers: list[Callable[[], dict[str, str]]] = [
        forbidden, forbidden, lambda: {"team-b": "uid-b", "team-a": "uid-a", "other": "uid-o"}]
    kept: list[dict[str, str]] = []
    namespaces = readiness.ListedOrNamed(CONFIG, lambda: answers.pop(0)(),
                                         lambda listed: kept.append(dict(listed)))
    with caplog.at_level(logging.INFO, logger=readiness.__name__):
        assert sorted(namespaces()) == ["ops", "team-a"]
        assert sorted(namespaces()) == ["ops", "team-a"]
        assert sorted(namespaces()) == ["other", "team-a", "team-b"]
    assert kept == [{"team-b": "uid-b", "team-a": "uid-a", "other": "uid-o"}]
    assert caplog.text.count("may not list the namespaces (403 Forbidden)") == 1  # once
    assert caplog.text.count("can be listed again") == 1


def test_readyz_is_200_when_the_namespaces_cannot_be_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer's reproduction (/tmp/review-final-readiness/readyz_pattern_403.py): the
    checker's listing refused at every check; every named peering object present."""

    def check(config: OperatorConfig) -> Callable[[], readiness.PeeringReport]:
        namespaces = readiness.ListedOrNamed(config, forbidden)
        return lambda: readiness.check_peerings(config, lambda _: readiness.Peering.PRESENT,
                                                namespaces)

    monkeypatch.setattr(readiness, "_peering_check", check)
    monkeypatch.setattr(readiness, "CHECK_SECONDS", 0.01)
    state = readiness.Readiness()
    state.started = True

    async def scenario() -> tuple[int, str]:
        task = asyncio.create_task(readiness._check_forever(state, CONFIG))
        await asyncio.sleep(0.2)
        task.cancel()
        response = await state.handle(None)  # type: ignore[arg-type]
        return response.status, str(response.text)

    assert asyncio.run(scenario()) == (200, "ok\n")
    assert state.checked and state.failures == 0


def test_the_checker_lists_with_the_checks_timeout_and_falls_back_on_a_403(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``_peering_check`` as the checker builds it: its listing of the namespaces gives up
    after ``REQUEST_TIMEOUT_SECONDS`` (its default waited 60 s for an answer, tried twice), and
    a 403 there checks the named namespaces' peering objects."""
    made: list[tuple[float, float]] = []

    class Refusing:
        def __init__(self, _: object, request_timeout: tuple[float, float]) -> None:
            made.append(request_timeout)

        def list_namespace(self) -> object:
            raise ApiException(status=403, reason="Forbidden")

    looked: list[str | None] = []

    def read(self: readiness.PeeringObjects, namespace: str | None,
             timeout: float | None = None) -> readiness.Peering:
        looked.append(namespace)
        return readiness.Peering.PRESENT

    monkeypatch.setattr(readiness, "load_api_client", lambda: client.ApiClient())
    monkeypatch.setattr(readiness, "CoreReads", Refusing)
    monkeypatch.setattr(readiness.PeeringObjects, "read", read)
    report = readiness._peering_check(CONFIG)()
    assert made == [(readiness.REQUEST_TIMEOUT_SECONDS, readiness.REQUEST_TIMEOUT_SECONDS)]
    assert sorted(ns for ns in looked if ns) == ["ops", "team-a"]
    assert report == readiness.PeeringReport([])
