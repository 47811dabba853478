"""A status write refused as too large (etcd's "request is too large", which the API server
answers 500, kubernetes/kubernetes#112152; or its own 413 "Request entity too large") is no
ordinary failure: the next decision, as large, is refused the same way.

It was retried as one, silently: 1 s, 2 s, 4 s ... (each retry a whole decision, its
Prometheus and MLflow reads and its graph applied), recorded as "may have been applied" (a
5xx), and the pass's events, told only after a write that succeeds, never told (a rollback
included). Now a Warning event ``StatusTooLarge`` names the largest status fields and the
events not told, the write is not taken as applied, and the pass is retried at the back-off's
cap. The refusals go through the real adapter (``KubeCluster.patch_status``) with the API
server's answers."""

from __future__ import annotations

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from kubernetes.client.rest import RESTResponse
from tests.support.fake_kube_api import cluster_answered_by, response
from tests.unit.handlers.test_scheduling_backoff import _VirtualLoop

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.domain.retry import JITTER
from uplift_operator.handlers import common, observability, scheduling
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Key, StuckPassError, Wakeups, run_passes
from uplift_operator.services.common import Event, PassResult

#: What kube-apiserver answers a write etcd refuses for its size (--max-request-bytes).
ETCD_TOO_LARGE = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": "etcdserver: request is too large", "code": 500}
#: What kube-apiserver answers a request body over its own limit (3 MiB).
ENTITY_TOO_LARGE = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Request entity too large: limit is 3145728",
                    "reason": "RequestEntityTooLarge", "code": 413}
KEY: Key = ("UpliftModel", "ns", "r")
#: A rollback decided with gates' evidence too large to store.
DECIDED: dict[str, Any] = {
    "phase": "Degraded", "message": "canary 4 rolled back", "stableVersion": "3",
    "gates": [{"name": f"drift-{i}", "evidence": "x" * 40_000} for i in range(30)],
    "history": [{"action": "RolledBack", "reason": "drift"}]}


class _Server:
    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        self.status, self.payload = status, payload
        self.writes = 0

    def call_api(self, method: str, url: str, header_params: dict[str, str] | None = None,
                 body: Any = None, post_params: Any = None,
                 _request_timeout: Any = None) -> RESTResponse:
        if method == "PATCH":
            self.writes += 1
            return response(self.status, self.payload)
        return response(200, {"metadata": {"name": "r", "namespace": "ns", "uid": "u1",
                                           "resourceVersion": "2"}})


def _passes(cluster: KubeCluster, count: int, monkeypatch: pytest.MonkeyPatch
            ) -> tuple[list[BaseException | None], list[dict[str, Any]], PassRunner]:
    """``count`` passes of one UpliftModel deciding a rollback (``DECIDED``, a RolledBack
    event); what each raised, and the events posted."""
    posted: list[dict[str, Any]] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: posted.append(event))
    outcomes: list[BaseException | None] = []
    runner: list[PassRunner] = []

    async def passes() -> None:
        with ThreadPoolExecutor(1) as pool:
            watched = WatchedCluster(cluster, WatchedObjects(["upliftmodels"]))  # as lifecycle
            runner.append(PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, watched))
            for _ in range(count):
                body = kopf.Body(cast(kopf.RawBody, {"metadata": {
                    "name": "r", "namespace": "ns", "uid": "u1", "resourceVersion": "1"}}))
                try:
                    await runner[0].run_once(KEY, body, lambda *_: PassResult(
                        DECIDED, (Event("Warning", "RolledBack", "canary 4 rolled back", True),),
                        None), lambda *_: None)
                except Exception as error:
                    outcomes.append(error)
                else:
                    outcomes.append(None)

    asyncio.run(passes())
    observability.forget(*KEY)
    return outcomes, posted, runner[0]


@pytest.mark.parametrize(("status", "payload"), [(500, ETCD_TOO_LARGE), (413, ENTITY_TOO_LARGE)])
def test_a_write_refused_as_too_large_is_said_on_the_object_naming_its_largest_fields(
        status: int, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server(status, payload)
    outcomes, posted, runner = _passes(cluster_answered_by(server.call_api, monkeypatch), 2,
                                       monkeypatch)
    assert server.writes == 2
    # A failed pass still (counted as an error, in error back-off), of its own kind.
    assert all(isinstance(outcome, StuckPassError) for outcome in outcomes)
    assert isinstance(cast(BaseException, outcomes[0]).__cause__, KubeError)
    # Said on the object at each refusal; the rollback's own event is not told (nothing
    # records it), but named.
    assert [event["reason"] for event in posted] == [common.STATUS_TOO_LARGE] * 2
    (event, _) = posted
    message = event["message"]
    assert event["type"] == "Warning"
    assert message.startswith("status write refused as too large (patch upliftmodels/r/status: "
                              f"{status} ")
    assert "largest fields gates 1.15 MiB, history " in message
    assert "this pass's events (RolledBack) are not told" in message
    assert len(message) <= 1024  # kopf cuts a longer one in the middle
    assert str(outcomes[0]) == message  # the log of each failed pass says the same
    # Refused, so not applied: its echo would be another writer's status.
    assert runner.sent_statuses == {}


def test_another_5xx_may_have_been_applied_and_backs_off_as_any_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server(500, {**ETCD_TOO_LARGE, "message": "etcdserver: leader changed"})
    outcomes, posted, runner = _passes(cluster_answered_by(server.call_api, monkeypatch), 1,
                                       monkeypatch)
    (outcome,) = outcomes
    assert isinstance(outcome, KubeError) and not isinstance(outcome, StuckPassError)
    assert posted == [] and "u1" in runner.sent_statuses


@pytest.mark.parametrize(("status", "message", "expected"), [
    (500, "etcdserver: request is too large", True),
    (413, "Request entity too large: limit is 3145728", True),
    (413, "", True),
    (504, "Request Entity Too Large", True),
    # The API server's etcd client refusing to send it (java-operator-sdk#1634).
    (500, "rpc error: code = ResourceExhausted desc = trying to send message larger than max "
          "(2179626 vs. 2097152)", True),
    (500, "etcdserver: leader changed", False),
    # ResourceExhausted of another kind: nothing to do with this object's size.
    (500, "etcdserver: mvcc: database space exceeded", False),
    (500, "rpc error: code = ResourceExhausted desc = etcdserver: too many requests", False),
    (422, "request is too large", False),  # a refusal of its own kind (the schema's)
    (0, "API server not reached (no answer in time)", False),
])
def test_too_large(status: int, message: str, expected: bool) -> None:
    assert common.too_large(KubeError(f"patch x/status: {status} {message}", status)) is expected


def _attempts(seconds: float, error: Exception) -> tuple[list[float], list[float]]:
    """When the passes of a resource raising ``error`` ran over ``seconds`` (virtual), and
    those of another resource that fails once then recovers (its recovery wakes the tasks in
    error back-off that may be woken: ``Wakeups.passed``)."""
    stuck: list[float] = []
    other: list[float] = []

    async def main() -> None:
        loop, wakeups = asyncio.get_running_loop(), Wakeups()

        async def refused() -> float | None:
            stuck.append(loop.time())
            raise error

        async def recovers() -> float | None:
            other.append(loop.time())
            if len(other) == 1:
                await asyncio.sleep(5)  # the stuck one fails first
                raise scheduling.NamedPassError("500 etcdserver: leader changed")
            return None

        tasks = [asyncio.create_task(run_passes(KEY, wakeups, refused, uid="u1")),
                 asyncio.create_task(run_passes(("UpliftModel", "ns", "o"), wakeups, recovers,
                                                uid="u2"))]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop = _VirtualLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return stuck, other


def test_a_pass_refused_as_too_large_is_retried_at_the_cap_from_the_first() -> None:
    cap = scheduling.ERROR_BACKOFF_SECONDS
    stuck, _ = _attempts(3 * cap, StuckPassError("too large"))
    waits = [later - earlier for earlier, later in itertools.pairwise(stuck)]
    assert 2 <= len(stuck) <= 3
    assert all(cap <= wait <= cap * (1 + JITTER) for wait in waits)
    # Any other failure: 1 s first, doubling (and another's recovery wakes it: below).
    plain, _ = _attempts(60, scheduling.NamedPassError("500 etcdserver: leader changed"))
    assert plain[1] - plain[0] == scheduling.ERROR_FIRST_RETRY_SECONDS


def test_another_resources_recovery_does_not_retry_one_refused_as_too_large() -> None:
    stuck, other = _attempts(60, StuckPassError("too large"))
    assert len(other) == 2  # failed, then recovered (woken at once or after its 1 s)
    assert len(stuck) == 1
    plain, other = _attempts(60, scheduling.NamedPassError("500 etcdserver: leader changed"))
    assert len(other) == 2 and len(plain) > 2
