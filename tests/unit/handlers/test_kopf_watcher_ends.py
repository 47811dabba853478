"""A watch-stream kopf gives up on ends the process (``readiness.exit_when_a_watcher_ends``).

kopf 1.45 pages its LISTs since the operator sets ``settings.watching.chunk_size``; when the
continue token of a page expires (410 "The provided continue parameter is too old": etcd
compacted while the pages were asked for), kopf's fetching does not list again (it does only
for a watch answered 410): the error ends that kind's watcher task, kopf logs "Watcher for ...
has failed" and never starts it again. The process stayed up and ready, and no new object of
that kind was reconciled. Now it exits (``common.exit_to_list_afresh``: recorded here by the
handlers' conftest), and its restart lists every kind afresh.

kopf's own orchestration runs here (``spawn_missing_watchers``, its watcher, its paged
fetching), only ``api.get`` answered by the test, so that a kopf whose line changes fails this
test rather than the exit going silent."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aiotoggles
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors
from kopf._cogs.structs.references import NamespaceName
from kopf._core.reactor import orchestration

from uplift_operator import settings
from uplift_operator.adapters.kube import LIST_PAGE_SIZE
from uplift_operator.handlers import readiness

MODELS = kopf.Resource("uplift.dev", "v1alpha1", "upliftmodels", namespaced=True)
EXPIRED: Any = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
           "reason": "Expired",
           "message": "The provided continue parameter is too old to display a consistent list "
                      "result. You can start a new list without the continue parameter."}


@pytest.fixture
def kept_filters() -> Iterator[None]:
    """The filters ``readiness.start`` installs on kopf's loggers, removed after whatever
    happens (``stop`` removes its own)."""
    loggers = [orchestration.logger, logging.getLogger(readiness._WATCHING_LOGGER)]
    before = [(list(found.filters), found.level) for found in loggers]
    yield
    for found, (filters, level) in zip(loggers, before, strict=True):
        for added in set(found.filters) - set(filters):
            found.removeFilter(added)
        found.setLevel(level)


def _second_page_expired(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, list[str]]]:
    """kopf's ``api.get``: a first page with a continue token, then 410 for the token."""
    requests: list[dict[str, list[str]]] = []

    async def get(*, url: str, **_: Any) -> dict[str, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        requests.append(query)
        if "continue" in query:
            raise errors.APIClientError(EXPIRED, status=410, headers={})
        return {"kind": "UpliftModelList", "apiVersion": "uplift.dev/v1alpha1",
                "metadata": {"resourceVersion": "7", "continue": "page-2"},
                "items": [{"metadata": {"name": "m0", "namespace": "ns", "uid": "u0"}}]}

    monkeypatch.setattr(kopf_api, "get", get)
    return requests


async def _kopf_watches(namespace: NamespaceName | None) -> orchestration.Ensemble:
    """kopf's orchestration spawns its watcher of UpliftModels, as its orchestrator does."""
    operator_paused = aiotoggles.ToggleSet(any)
    ensemble = orchestration.Ensemble(
        peering_missing=await operator_paused.make_toggle(name="peering CRD is missing"),
        operator_paused=operator_paused, operator_indexed=aiotoggles.ToggleSet(all))
    operator_settings = kopf.OperatorSettings()
    operator_settings.watching.chunk_size = LIST_PAGE_SIZE  # as handlers.lifecycle sets it

    async def processor(**_: Any) -> None:
        return None

    await orchestration.spawn_missing_watchers(
        processor=processor, settings=operator_settings, indexed_resources=(),
        watched_resources=[MODELS], watched_namespaces=[namespace], ensemble=ensemble)
    return ensemble


def test_a_watcher_ended_by_an_expired_continue_token_exits_the_process(
        monkeypatch: pytest.MonkeyPatch, terminations: list[str], kept_filters: None,
        caplog: pytest.LogCaptureFixture) -> None:
    """Through ``readiness.start`` as kopf runs it, and kopf's own watcher of a kind."""
    async def no_checks(*_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(readiness, "_check_forever", no_checks)
    requests = _second_page_expired(monkeypatch)
    memo = kopf.Memo(config=settings.OperatorConfig(all_namespaces=True, readiness_port=0,
                                                    liveness_port=0))
    start: Any = readiness.start  # as kopf calls it
    stop: Any = readiness.stop

    async def go() -> None:
        await start(memo=memo)
        try:
            ensemble = await _kopf_watches(None)
            watchers = list(ensemble.watcher_tasks.values())
            done, _ = await asyncio.wait(watchers, timeout=5)
            # kopf's premise: the watcher ended on the 410, and stays so (nothing restarts it).
            assert done == set(watchers) and isinstance(watchers[0].exception(),
                                                        errors.APIClientError)
            assert list(ensemble.watcher_tasks.values()) == watchers
        finally:
            await stop(memo=memo)

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
    assert [query.get("continue") for query in requests] == [None, ["page-2"]]
    assert terminations == ["SIGTERM"]
    exits = [r.getMessage() for r in caplog.records
             if r.name == "uplift_operator.handlers.common"]
    assert len(exits) == 1 and "watcher for upliftmodels" in exits[0], exits
    assert "lists every object afresh" in exits[0]


def test_the_filter_is_gone_after_stop(
        monkeypatch: pytest.MonkeyPatch, terminations: list[str], kept_filters: None) -> None:
    """A process stopping: its later lines exit nothing (and a test's filter leaks nowhere)."""
    async def no_checks(*_: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(readiness, "_check_forever", no_checks)
    _second_page_expired(monkeypatch)
    memo = kopf.Memo(config=settings.OperatorConfig(all_namespaces=True, readiness_port=0,
                                                    liveness_port=0))
    start: Any = readiness.start
    stop: Any = readiness.stop

    async def go() -> None:
        await start(memo=memo)
        await stop(memo=memo)
        ensemble = await _kopf_watches(NamespaceName("ns"))
        done, _ = await asyncio.wait(ensemble.watcher_tasks.values(), timeout=5)
        assert [type(task.exception()) for task in done] == [errors.APIClientError]

    asyncio.run(go())
    assert terminations == []


def test_other_kopf_tasks_ending_and_a_watcher_cancelled_exit_nothing(
        monkeypatch: pytest.MonkeyPatch, kept_filters: None) -> None:
    """A peering observer's failure (a KopfPeering's watch answered 403: handled by
    ``restart_to_leave_out``) is not a resource's watcher; a watcher cancelled (kopf stopping,
    a namespace gone from a pattern's) logs nothing; both lines of an ended watcher exit."""
    asked: list[str] = []
    readiness.exit_when_a_watcher_ends(asked.append)
    lines = orchestration.logger  # kopf's, whose lines the filter reads
    lines.error("Peering observer for default@ns has failed: (403) Forbidden")
    lines.warning("Peering keep-alive for default@ns has finished unexpectedly.")

    async def cancelled() -> None:
        async def listed(**_: Any) -> dict[str, Any]:
            await asyncio.Event().wait()
            raise AssertionError("never answered")

        monkeypatch.setattr(kopf_api, "get", listed)
        ensemble = await _kopf_watches(NamespaceName("ns"))
        await asyncio.sleep(0.05)
        for task in ensemble.watcher_tasks.values():
            task.cancel()
        await asyncio.wait(ensemble.watcher_tasks.values(), timeout=5)

    asyncio.run(cancelled())
    assert asked == []
    lines.warning("Watcher for upliftmodels.v1alpha1.uplift.dev@ns has finished unexpectedly.")
    lines.error("Watcher for upliftmodels.v1alpha1.uplift.dev@ns has failed: (500) boom")
    assert len(asked) == 2
    assert all("watcher for upliftmodels.v1alpha1.uplift.dev@ns has ended" in a for a in asked)
