"""PassRunner: a status write that finds its resource deleted ends the pass quietly; events are
posted only once the status recording the decision is written; the write is conditional on the
resourceVersion decided on, and a conflict decides again soon, telling nothing."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from tests.unit.handlers.invoking import invoke_now

from uplift_operator.adapters.kube import KubeError
from uplift_operator.handlers.common import CONFLICT_RETRY_SECONDS, PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import Event, PassResult


class Cluster:
    def __init__(self, status: int, live: dict[str, Any] | None = None) -> None:
        self.status, self.patches, self.live = status, 0, live
        self.preconditions: list[str | None] = []

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        return self.live

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        self.patches += 1
        self.preconditions.append(resource_version)
        if self.status == 200:
            return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                                 "resourceVersion": "2"}, "status": dict(patch.get("status") or {})}
        raise KubeError(f"patch {plural}/{name}/status: {self.status}", self.status)


def _run(cluster: Cluster, wakeups: Wakeups | None = None) -> float | None:
    body = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u1",
                                   "resourceVersion": "1"}, "status": {}})

    def decide(_: dict[str, Any], __: dt.datetime) -> PassResult:
        return PassResult({"phase": "Progressing"}, (Event("Normal", "Started", "v2 canary"),),
                          5.0)

    async def go() -> float | None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("Campaign", "campaigns", wakeups or Wakeups(), pool, cluster)
            return await runner.run_once(("Campaign", "ns", "c"), body, decide,
                                         lambda *_: None)

    return asyncio.run(go())


@pytest.mark.parametrize("live", [
    None,  # gone: its task ends, even if its DELETED event never comes
    {"metadata": {"uid": "u2"}},  # the name re-used by another object
])
def test_a_resource_deleted_during_the_pass_ends_it_without_a_failure(
        live: dict[str, Any] | None) -> None:
    cluster, wakeups = Cluster(404, live), Wakeups()
    flag = wakeups.register(("Campaign", "ns", "c"), "u1")
    assert _run(cluster, wakeups) is None
    assert cluster.patches == 1
    assert flag.finished
    # Still audited until its DELETED event comes (one may never: a watch gap), since only
    # that event drops it from kopf's indexes (``handlers.existence``).
    assert wakeups.audited("Campaign") == {"u1": ("Campaign", "ns", "c")}


class Unreadable(Cluster):
    def read_live(self, *_: Any) -> dict[str, Any] | None:
        raise KubeError("get campaigns/c: 503", 503)


def test_a_status_write_answered_404_on_an_object_still_there_fails_the_pass(
        caplog: pytest.LogCaptureFixture) -> None:
    """The object's uid answers the read: its status endpoint is missing (a CRD without the
    status subresource, a proxy's 404). Before, the pass ended "gone", logged nothing, and the
    next came only at the resync; now it fails (retried with back-off), its cause said once."""
    from uplift_operator.handlers.scheduling import NamedPassError

    wakeups = Wakeups()
    flag = wakeups.register(("Campaign", "ns", "c"), "u1")
    with ThreadPoolExecutor(1) as pool:
        runner = PassRunner("Campaign", "campaigns", wakeups, pool,
                            Cluster(404, {"metadata": {"uid": "u1"}}))
        body = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u1",
                                       "resourceVersion": "1"}, "status": {}})

        async def go() -> None:
            await runner.run_once(("Campaign", "ns", "c"), body,
                                  lambda *_: PassResult({"phase": "Progressing"}, (), 5.0),
                                  lambda *_: None)

        with caplog.at_level("WARNING", logger="uplift_operator.handlers.common"):
            for _ in range(2):
                with pytest.raises(NamedPassError, match="status subresource not found: apply "
                                                         "this release's CRDs"):
                    asyncio.run(go())
    assert not flag.finished and ("Campaign", "ns", "c") in wakeups
    told = [r for r in caplog.records if "no status subresource" in r.getMessage()]
    assert len(told) == 1  # once per process and kind


def test_a_status_write_answered_404_and_no_answer_to_the_read_fails_the_pass() -> None:
    """Nothing says the object is gone: retried with back-off (its DELETED event, if it is
    gone, ends the task)."""
    from uplift_operator.handlers.scheduling import NamedPassError

    wakeups = Wakeups()
    flag = wakeups.register(("Campaign", "ns", "c"), "u1")
    with pytest.raises(NamedPassError, match="could not be read back"):
        _run(Unreadable(404), wakeups)
    assert not flag.finished


@pytest.mark.parametrize(("live", "ends"), [
    (None, True),  # deleted: the precondition's object is gone
    ({"metadata": {"uid": "u2"}}, True),  # deleted and created again while the watch was away
    ({"metadata": {"uid": "u1"}}, False),  # changed meanwhile: decided again soon
])
def test_a_conflict_on_an_object_that_is_gone_ends_the_task(
        live: dict[str, Any] | None, ends: bool) -> None:
    """A task whose object was deleted (and its name re-used) during a watch gap decides on
    the old body: every write is refused 409, and was retried every 0.5 s for ever."""
    cluster, wakeups = Cluster(409, live), Wakeups()
    flag = wakeups.register(("Campaign", "ns", "c"), "u1")
    assert _run(cluster, wakeups) == (None if ends else CONFLICT_RETRY_SECONDS)
    assert flag.finished is ends
    assert wakeups.audited("Campaign") == {"u1": ("Campaign", "ns", "c")}  # gone or running


def test_any_other_status_write_error_still_fails_the_pass() -> None:
    with pytest.raises(KubeError, match="500"):
        _run(Cluster(500))


@pytest.mark.parametrize(("status", "posted"),
                         [(200, ["Started"]), (404, []), (409, []), (500, [])])
def test_events_are_posted_only_after_the_status_is_written(
        monkeypatch: pytest.MonkeyPatch, status: int, posted: list[str]) -> None:
    reasons: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: reasons.append(event["reason"]))
    cluster = Cluster(status, {"metadata": {"uid": "u1"}} if status == 409 else None)
    if status == 500:
        with pytest.raises(KubeError):
            _run(cluster)
    else:
        expected = {200: 5.0, 404: None, 409: CONFLICT_RETRY_SECONDS}[status]
        assert _run(cluster) == expected
    assert cluster.patches == 1 and reasons == posted


def test_the_status_is_written_only_on_the_resource_version_decided_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    cluster = Cluster(200)
    _run(cluster)
    assert cluster.preconditions == ["1"]


def test_a_late_deleted_event_of_a_campaign_created_again_keeps_the_new_ones_state() -> None:
    """The name deleted and created again, the old object's DELETED event handled after the
    new object's task started: the new task, its phase series and its signature stay."""
    from uplift_operator.api.v1alpha1.common import Phase
    from uplift_operator.handlers import campaign, observability

    key = ("Campaign", "ns", "late-c")
    wakeups = Wakeups()
    runner = PassRunner("Campaign", "campaigns", wakeups, ThreadPoolExecutor(1), Cluster(200))
    memo = kopf.Memo(wakeups=wakeups, pass_runner_Campaign=runner)
    new_flag = wakeups.register(key, "new-uid")
    runner.signatures.changed(key, {"metadata": {"generation": 1}})
    observability.observe_phase("Campaign", "ns", "late-c", Phase.PROGRESSING, False)

    def phase_series() -> float | None:
        return observability.REGISTRY.get_sample_value(
            "uplift_operator_resource_phase",
            {"kind": "Campaign", "namespace": "ns", "name": "late-c", "phase": "Progressing"})

    invoke_now(campaign.forget, memo=memo, meta=kopf.Body(
        {"metadata": {"namespace": "ns", "name": "late-c", "uid": "old-uid"}}).meta)
    assert not new_flag.finished and key in wakeups
    assert phase_series() == 1.0
    assert not runner.signatures.changed(key, {"metadata": {"generation": 1}})  # still seen

    invoke_now(campaign.forget, memo=memo, meta=kopf.Body(
        {"metadata": {"namespace": "ns", "name": "late-c", "uid": "new-uid"}}).meta)
    assert new_flag.finished
    assert phase_series() is None


def _passes(result: str) -> float:
    from uplift_operator.handlers import observability

    return observability.REGISTRY.get_sample_value(
        "uplift_operator_reconciles_total", {"kind": "Campaign", "result": result}) or 0.0


def _last_pass() -> float | None:
    from uplift_operator.handlers import observability

    return observability.REGISTRY.get_sample_value(
        "uplift_operator_last_pass_timestamp_seconds",
        {"kind": "Campaign", "namespace": "ns", "name": "c"})


@pytest.mark.parametrize(("status", "result"), [
    (403, "error"), (422, "error"), (500, "error"),  # a refused write fails the pass
    (409, "conflict"), (404, "gone"), (200, "ok"), ("404 there", "error")])
def test_a_pass_is_counted_by_how_its_status_write_ended(
        monkeypatch: pytest.MonkeyPatch, status: int | str, result: str) -> None:
    """Counted as a whole, not only its decision: a status write refused on every pass (a
    missing permission, a status the schema rejects, no status endpoint on an object still
    there) shows as failing passes, which UpliftOperatorReconcileErrors and NotReconciling
    see, and as no completed pass."""
    from uplift_operator.handlers import observability

    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    observability.forget("Campaign", "ns", "c")
    before = {r: _passes(r) for r in ("ok", "error", "conflict", "gone")}
    code = 404 if status == "404 there" else int(status)
    try:
        _run(Cluster(code, {"metadata": {"uid": "u1"}} if status in (409, "404 there") else None))
    except (KubeError, RuntimeError):
        assert result == "error"
    after = {r: _passes(r) for r in before}
    assert {r for r in before if after[r] != before[r]} == {result}
    assert after[result] == before[result] + 1
    assert (_last_pass() is not None) is (result == "ok")


class ChangedDuringAWatchGap:
    """The API server holds a newer version of the object (an annotation added while kopf's
    watch reconnects); a status write on an older resourceVersion is refused 409."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {
            "metadata": {"name": "c", "namespace": "ns", "uid": "u1", "resourceVersion": "5",
                         "annotations": {"uplift.dev/abort": "true"}}, "status": {}}
        self.preconditions: list[str | None] = []

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.body)

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        self.preconditions.append(resource_version)
        if resource_version != self.body["metadata"]["resourceVersion"]:
            raise KubeError(f"patch {plural}/{name}/status: 409", 409)
        self.body["status"].update(patch)
        self.body["metadata"]["resourceVersion"] = "6"
        return copy.deepcopy(self.body)


def test_after_a_conflict_the_next_pass_decides_on_the_object_as_the_api_server_has_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf's body stays at the old version while its watch reconnects: the pass after a 409
    decided on it again (with its Prometheus and MLflow reads), refused again, every 0.5 s."""
    monkeypatch.setattr(kopf, "event", lambda _body, **_event: None)
    cluster = ChangedDuringAWatchGap()
    stale = kopf.Body({"metadata": {"name": "c", "namespace": "ns", "uid": "u1",
                                    "resourceVersion": "1"}, "status": {}})
    seen: list[dict[str, Any]] = []

    def decide(snapshot: dict[str, Any], _: dt.datetime) -> PassResult:
        seen.append((snapshot.get("metadata") or {}).get("annotations") or {})
        return PassResult({"phase": "Progressing"}, (), None)

    async def passes() -> list[float | None]:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("Campaign", "campaigns", Wakeups(), pool, cluster)
            return [await runner.run_once(("Campaign", "ns", "c"), stale, decide,
                                          lambda *_: None) for _ in range(2)]

    assert asyncio.run(passes()) == [CONFLICT_RETRY_SECONDS, None]
    assert cluster.preconditions == ["1", "5"]
    assert seen == [{}, {"uplift.dev/abort": "true"}]  # the second saw the annotation
    assert cluster.body["status"] == {"phase": "Progressing"}
