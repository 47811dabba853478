"""With a ``--namespace`` pattern the readiness checker needs the namespaces that exist: it listed
them at every check, every 15 s on each replica, a LIST of every namespace of the cluster for a
set that almost never changes. Now a listing is used again for ``NAMESPACES_LIST_SECONDS``; the
checker lists at its next check when woken (kopf's pause line: a namespace matching the pattern
appeared, or was created again, without its KopfPeering) and after a check that found a peering
object missing or gone."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from uplift_operator.handlers import readiness
from uplift_operator.settings import OperatorConfig

CONFIG = OperatorConfig(all_namespaces=False, namespaces=("team-*",), peering_name="p")


class _Namespaces:
    """The API server's namespaces (name → uid); each listing counted."""

    def __init__(self) -> None:
        self.existing = {"team-a": "uid-a"}
        self.listings = 0

    def __call__(self, *_: object) -> _Namespaces:  # as ``CoreReads(api_client, timeouts)``
        return self

    def list_namespace(self) -> Any:
        self.listings += 1
        return SimpleNamespace(items=[SimpleNamespace(metadata=SimpleNamespace(name=n, uid=u))
                                      for n, u in self.existing.items()])


@pytest.fixture
def namespaces(monkeypatch: pytest.MonkeyPatch) -> _Namespaces:
    served = _Namespaces()
    monkeypatch.setattr(readiness, "load_api_client", lambda: client.ApiClient())
    monkeypatch.setattr(readiness, "CoreReads", served)
    return served


def _peerings(monkeypatch: pytest.MonkeyPatch, missing: set[str]) -> list[str | None]:
    looked: list[str | None] = []

    def read(self: readiness.PeeringObjects, namespace: str | None,
             timeout: float | None = None) -> readiness.Peering:
        looked.append(namespace)
        return readiness.Peering.MISSING if namespace in missing else readiness.Peering.PRESENT

    def create(self: readiness.PeeringObjects, namespace: str | None,
               timeout: float | None = None) -> readiness.Peering:
        return readiness.Peering.NOT_CREATED

    monkeypatch.setattr(readiness.PeeringObjects, "read", read)
    monkeypatch.setattr(readiness.PeeringObjects, "create", create)
    return looked


def test_the_checks_reuse_a_listing_until_it_is_old(monkeypatch: pytest.MonkeyPatch,
                                                     namespaces: _Namespaces) -> None:
    _peerings(monkeypatch, set())
    now = [0.0]
    check = readiness._peering_check(CONFIG)
    assert isinstance(check, readiness.PeeringCheck)
    check.namespaces.clock = lambda: now[0]
    for _ in range(4):
        assert check() == readiness.PeeringReport([])
        now[0] += readiness.CHECK_SECONDS
    assert namespaces.listings == 1  # was one per check
    now[0] = readiness.NAMESPACES_LIST_SECONDS
    check()
    assert namespaces.listings == 2


def test_a_wake_or_a_missing_peering_object_lists_again(monkeypatch: pytest.MonkeyPatch,
                                                         namespaces: _Namespaces) -> None:
    missing: set[str] = set()
    _peerings(monkeypatch, missing)
    check = readiness._peering_check(CONFIG)
    check()
    assert isinstance(check, readiness.PeeringCheck)
    check.list_again()  # the checker woken by kopf's pause line
    namespaces.existing["team-b"] = "uid-b"  # new, without its KopfPeering
    missing.add("team-b")
    report = check()
    assert namespaces.listings == 2 and report.missing == [readiness._describe("p", "team-b")]
    check()  # still missing: the next check lists again (the namespace may go)
    assert namespaces.listings == 3
    del namespaces.existing["team-b"]
    assert check() == readiness.PeeringReport([])
    assert namespaces.listings == 4
    check()
    assert namespaces.listings == 4  # nothing missing: the listing is used again


def test_the_woken_checker_lists_again(monkeypatch: pytest.MonkeyPatch,
                                       namespaces: _Namespaces) -> None:
    _peerings(monkeypatch, set())
    monkeypatch.setattr(readiness, "CHECK_SECONDS", 60.0)
    monkeypatch.setattr(readiness, "WAKE_SPACING_SECONDS", 0.0)

    async def run() -> int:
        wake = asyncio.Event()
        task = asyncio.create_task(readiness._check_forever(readiness.Readiness(), CONFIG, wake))
        try:
            for _ in range(200):
                await asyncio.sleep(0.01)
                if namespaces.listings:
                    break
            wake.set()
            for _ in range(200):
                await asyncio.sleep(0.01)
                if namespaces.listings >= 2:
                    break
            return namespaces.listings
        finally:
            task.cancel()

    assert asyncio.run(run()) == 2
