"""A status write the API server refuses (422) over a status field, as an installed CRD of an
older release refuses a phase its enum lacks, is counted per field and said once in the log;
the pass still fails. Pruning is the other face of the same skew (test_pruned_status.py).

The refusal goes through the real adapter (``KubeCluster.patch_status``) with the API server's
own answer, so the causes are read where they really are (``details.causes[].field``)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from kubernetes.client.rest import RESTResponse
from tests.support.fake_kube_api import cluster_answered_by, response

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.domain.pruned import refused_status_paths
from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult

#: What kube-apiserver answers a Campaign status write setting phase Suspended when the CRD's
#: enum is the one before c491328 (Progressing, Healthy, Degraded, Paused).
OLD_ENUM_ANSWER = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Invalid",
    "message": 'Campaign.uplift.dev "c" is invalid: status.phase: Unsupported value: "Suspended": '
               'supported values: "Progressing", "Healthy", "Degraded", "Paused"',
    "details": {"name": "c", "group": "uplift.dev", "kind": "Campaign", "causes": [
        {"reason": "FieldValueNotSupported", "field": "status.phase",
         "message": 'Unsupported value: "Suspended": supported values: "Progressing", '
                    '"Healthy", "Degraded", "Paused"'}]},
    "code": 422}


class _Server:
    """Answers every request with ``status`` and ``payload``."""

    def __init__(self, status: int, payload: dict[str, Any]) -> None:
        self.status, self.payload = status, payload

    def call_api(self, method: str, url: str, header_params: dict[str, str] | None = None,
                 body: Any = None, post_params: Any = None,
                 _request_timeout: Any = None) -> RESTResponse:
        return response(self.status, self.payload)


def _cluster(server: _Server, monkeypatch: pytest.MonkeyPatch) -> KubeCluster:
    return cluster_answered_by(server.call_api, monkeypatch)


def _refused(field: str = "status.phase") -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_status_writes_refused_total", {"kind": "Campaign", "field": field}) or 0.0


def _passes(cluster: KubeCluster, count: int) -> list[BaseException | None]:
    """``count`` passes of one Campaign deciding phase Suspended; what each raised."""
    outcomes: list[BaseException | None] = []
    watched = WatchedCluster(cluster, WatchedObjects(["campaigns"]))  # as handlers.lifecycle

    async def passes() -> None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("Campaign", "campaigns", Wakeups(), pool, watched)
            for _ in range(count):
                body = kopf.Body(cast(kopf.RawBody, {"metadata": {
                    "name": "c", "namespace": "ns", "uid": "u1", "resourceVersion": "1"}}))
                try:
                    await runner.run_once(
                        ("Campaign", "ns", "c"), body,
                        lambda *_: PassResult({"phase": "Suspended"}, (), None),
                        lambda *_: None)
                except KubeError as error:
                    outcomes.append(error)
                else:
                    outcomes.append(None)

    asyncio.run(passes())
    observability.forget("Campaign", "ns", "c")
    return outcomes


def test_a_status_write_refused_over_a_status_field_is_counted_and_said_once(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    before = _refused()
    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.common"):
        outcomes = _passes(_cluster(_Server(422, OLD_ENUM_ANSWER), monkeypatch), 3)
    # Every pass still fails (retried by the backoff): the status really is not written.
    assert all(isinstance(outcome, KubeError) and outcome.status == 422 for outcome in outcomes)
    assert _refused() - before == 3
    said = [r.getMessage() for r in caplog.records if "refused a Campaign status write" in
            r.getMessage()]
    assert len(said) == 1 and "status.phase" in said[0] and "Unsupported value" in said[0]


@pytest.mark.parametrize(("status", "payload"), [
    # A 422 naming only spec (a root rule over spec and status) is no schema skew of status.
    (422, {**OLD_ENUM_ANSWER, "details": {"causes": [{"field": "spec.experiment"}]}}),
    (422, {"kind": "Status", "message": "invalid", "code": 422}),  # no causes at all
    (403, {**OLD_ENUM_ANSWER, "code": 403}),  # refused, but not by the schema
])
def test_other_refusals_are_not_counted(status: int, payload: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = {field: _refused(field) for field in ("status.phase", "spec.experiment")}
    outcomes = _passes(_cluster(_Server(status, payload), monkeypatch), 1)
    assert isinstance(outcomes[0], KubeError) and outcomes[0].status == status
    assert {field: _refused(field) for field in before} == before


def test_the_adapter_reads_the_causes_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(_Server(422, OLD_ENUM_ANSWER), monkeypatch)
    with pytest.raises(KubeError) as raised:
        cluster.patch_status("uplift.dev/v1alpha1", "campaigns", "ns", "c", {"phase": "x"})
    assert raised.value.status == 422 and raised.value.fields == ("status.phase",)
    assert "Unsupported value" in str(raised.value)


def test_refused_paths_keep_status_fields_and_fold_list_indices() -> None:
    assert refused_status_paths([
        "status.history[3].reason", "status.history[12].reason", "spec.experiment",
        "metadata.name", "statusx", "status", "status.gates[0].verdict",
    ]) == ["status", "status.gates[].verdict", "status.history[].reason"]
