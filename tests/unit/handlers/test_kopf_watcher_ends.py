"""A watch-stream kopf gives up on ends kopf's orchestrator with its error, so the process exits.

kopf 1.45 pages its LISTs since the operator sets ``settings.watching.chunk_size``; when the
continue token of a page expires (410 "The provided continue parameter is too old": etcd
compacted while the pages were asked for), kopf's fetching does not list again (it does only
for a watch answered 410): the error ends that kind's watcher task. kopf does not carry on
without it: its orchestrator takes the ended task out and raises its error ("Multidimensional
multitasker has failed"), ``running.run_tasks`` stops every other task and ``kopf.run``
(``handlers.main``) raises, so the process exits non-zero and its restart lists every kind
afresh; the operator adds nothing for it (``handlers.readiness`` says so). The same for a
watcher's 403 or 404 (RBAC missing: a crash loop with the error in the log).

kopf's own orchestrator runs here, only ``api.get`` answered by the test: a kopf that instead
kept running without the watcher (and so left a kind unwatched in a process that stays up and
ready) fails this test."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits import aiotasks, aiotoggles
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import errors
from kopf._cogs.structs import references
from kopf._core.engines import peering
from kopf._core.reactor import orchestration

from uplift_operator.adapters.kube import LIST_PAGE_SIZE

MODELS = kopf.Resource("uplift.dev", "v1alpha1", "upliftmodels", namespaced=True)
EXPIRED: Any = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                "reason": "Expired",
                "message": "The provided continue parameter is too old to display a consistent "
                           "list result. You can start a new list without the continue "
                           "parameter."}
FORBIDDEN: Any = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                  "reason": "Forbidden",
                  "message": 'upliftmodels.uplift.dev is forbidden: User "system:serviceaccount:'
                             'ns:uplift-operator" cannot list resource "upliftmodels"'}


def _answers(monkeypatch: pytest.MonkeyPatch, failing: Any) -> list[dict[str, list[str]]]:
    """kopf's ``api.get``: a first page with a continue token, then the token expired; or, with
    a 403, the first LIST refused."""
    requests: list[dict[str, list[str]]] = []

    async def get(*, url: str, **_: Any) -> dict[str, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        requests.append(query)
        if failing["code"] == 403:
            raise errors.APIForbiddenError(failing, status=403, headers={})
        if "continue" in query:
            raise errors.APIClientError(failing, status=410, headers={})
        return {"kind": "UpliftModelList", "apiVersion": "uplift.dev/v1alpha1",
                "metadata": {"resourceVersion": "7", "continue": "page-2"},
                "items": [{"metadata": {"name": "m0", "namespace": "ns", "uid": "u0"}}]}

    monkeypatch.setattr(kopf_api, "get", get)
    return requests


async def _orchestrate(namespace: str | None) -> asyncio.Task[None]:
    """kopf's orchestrator as ``running.spawn_tasks`` starts it (a guarded task), told of the
    UpliftModels to watch; the task, once it ended (or after 5 s)."""
    operator_settings = kopf.OperatorSettings()
    operator_settings.watching.chunk_size = LIST_PAGE_SIZE  # as handlers.lifecycle sets it
    operator_settings.peering.standalone = True
    insights = references.Insights()
    insights.watched_resources.add(MODELS)
    insights.namespaces.add(None if namespace is None else references.NamespaceName(namespace))

    async def processor(**_: Any) -> None:
        return None

    task: asyncio.Task[None] = aiotasks.create_guarded_task(
        name="multidimensional multitasker",
        coro=orchestration.orchestrator(
            processor=processor, settings=operator_settings, identity=peering.Identity("test"),
            insights=insights, operator_paused=aiotoggles.ToggleSet(any)))
    await asyncio.sleep(0.05)
    async with insights.revised:
        insights.revised.notify_all()  # as kopf's scanning does once it knows the resources
    await asyncio.wait([task], timeout=5)
    if not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=5)
        raise AssertionError("kopf's orchestrator kept running without the failed watcher")
    return task


@pytest.mark.parametrize("namespace", [None, "ns"])
def test_an_expired_continue_token_fails_kopfs_orchestrator(
        monkeypatch: pytest.MonkeyPatch, namespace: str | None) -> None:
    requests = _answers(monkeypatch, EXPIRED)
    task = asyncio.run(_orchestrate(namespace))
    assert [query.get("continue") for query in requests] == [None, ["page-2"]]
    assert [query.get("limit") for query in requests] == [[str(LIST_PAGE_SIZE)]] * 2
    failure = task.exception()
    assert isinstance(failure, errors.APIClientError) and failure.status == 410, repr(failure)


def test_a_forbidden_list_fails_kopfs_orchestrator(monkeypatch: pytest.MonkeyPatch) -> None:
    """RBAC missing for a watched kind: the process exits at every start (a crash loop)."""
    _answers(monkeypatch, FORBIDDEN)
    task = asyncio.run(_orchestrate("ns"))
    assert isinstance(task.exception(), errors.APIForbiddenError), repr(task.exception())
