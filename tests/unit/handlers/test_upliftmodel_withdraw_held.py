"""An UpliftModel being deleted, held by another tool's finalizer under a background deletion:
kopf stops its waiting task as soon as ``deletionTimestamp`` is set (and starts none for an
object being deleted, a restart included), so its canary's traffic is withdrawn by a watch
event handler (``handlers.upliftmodel.withdraw_held``, ``services.upliftmodel
.withdraw_held_canary``), which kopf runs at every event of the object and at each listing.
Dispatched here as kopf does: the handlers its registry selects for the event (``when=``
filters included), each invoked with the event's kwargs; the status through the pass runner
(one merge patch, only when changed, conditional), then the events."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.structs import references  # kopf internals: how it dispatches an event
from kopf._core.actions.execution import Cause
from kopf._core.intents import causes
from tests.unit.handlers.invoking import invoke_now
from tests.unit.services.fakes import conflict
from tests.unit.services.test_upliftmodel import SELDON, Sim
from tests.unit.services.test_upliftmodel_deleting_held import ARGO, PatchingCluster, held_sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.handlers import observability, upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import upliftmodel as service

RESOURCE = references.Resource(group=GROUP, version=VERSION, plural="upliftmodels",
                               kind="UpliftModel", namespaced=True)
GRAPHS = references.Resource(group="machinelearning.seldon.io", version="v1",
                             plural="seldondeployments", kind="SeldonDeployment",
                             namespaced=True)


class Statuses:
    """The model's status subresource, as the API server keeps it: a JSON merge patch,
    conditional on the resourceVersion; ``refuse``: how many writes to refuse 409 first (the
    model changed meanwhile: a finalizer or an annotation edited)."""

    def __init__(self, sim: Sim) -> None:
        self.sim, self.writes, self.refuse = sim, list[Mapping[str, Any]](), 0

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        meta = self.sim.body["metadata"]
        if self.refuse or (resource_version and resource_version != meta["resourceVersion"]):
            self.refuse = max(0, self.refuse - 1)
            meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
            raise conflict(plural, name)
        self.writes.append(copy.deepcopy(dict(patch)))
        self.sim.body["status"] = _merged(self.sim.body.get("status") or {}, patch)
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)
        return copy.deepcopy(self.sim.body)

    def read_live(self, api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.sim.body)


def _merged(into: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(into)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class Kept:
    """The watch's store of the models (``adapters.watched``), as far as the handlers read it:
    the model as it is now."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        meta = self.sim.body["metadata"]
        if plural == "upliftmodels" and (namespace, name) == (meta["namespace"], meta["name"]):
            return copy.deepcopy(self.sim.body)
        return None


class Model:
    """One held model: its operator memo (kopf's memo of the object), events told, writes."""

    def __init__(self, sim: Sim, cluster: PatchingCluster, events: list[tuple[str, str]]) -> None:
        self.sim, self.cluster, self.events = sim, cluster, events
        self.statuses = Statuses(sim)
        wakeups, pool = Wakeups(), ThreadPoolExecutor(2)
        self.memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=sim.deps, pass_executor=pool,
                              watched_objects=Kept(sim),
                              **{"pass_runner_UpliftModel": PassRunner(
                                  "UpliftModel", "upliftmodels", wakeups, pool,
                                  cluster=self.statuses)})

    def graph_event(self, type_: str | None = "MODIFIED") -> list[Callable[..., Any]]:
        """A watch event of the model's graph as it is now, handled as kopf does (the graph
        handlers of this module its registry selects). Returns them."""
        raw = copy.deepcopy(self.sim.cluster.objects[SELDON])
        body = kopf.Body(cast(kopf.RawBody, raw))
        cause = causes.WatchingCause(
            logger=logging.getLogger("test"), indices=cast(Any, {}), memo=cast(Any, self.memo),
            resource=GRAPHS, patch=kopf.Patch(), body=body, type=cast(Any, type_),
            event=cast(kopf.RawEvent, {"type": type_, "object": raw}))
        registry = kopf.get_default_registry()
        selected = [h.fn for h in registry._watching.get_handlers(cause)  # kopf internals
                    if h.fn is upliftmodel.withdraw_held_at_graph]
        for fn in selected:
            invoke_now(fn, **_kwargs(cause))
        return selected

    def event(self, type_: str | None = "MODIFIED") -> list[Callable[..., Any]]:
        """A watch event of the model as it is now (type None: a listing's), handled as kopf
        does: the handlers of this module its registry selects for it, invoked in turn.
        Returns them."""
        raw = copy.deepcopy(self.sim.body)
        body = kopf.Body(cast(kopf.RawBody, raw))
        cause = causes.WatchingCause(
            logger=logging.getLogger("test"), indices=cast(Any, {}), memo=cast(Any, self.memo),
            resource=RESOURCE, patch=kopf.Patch(), body=body, type=cast(Any, type_),
            event=cast(kopf.RawEvent, {"type": type_, "object": raw}))
        registry = kopf.get_default_registry()
        selected = [h.fn for h in registry._watching.get_handlers(cause)  # kopf internals
                    if h.fn in (upliftmodel.withdraw_held, upliftmodel.forget)]
        for fn in selected:
            if fn is upliftmodel.withdraw_held:
                invoke_now(fn, **_kwargs(cause))
        return selected


def _kwargs(cause: Cause) -> dict[str, Any]:
    return dict(cause.kwargs)


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    told: list[tuple[str, str]] = []
    monkeypatch.setattr(kopf, "event", lambda obj, *, type, reason, message="": told.append(
        (reason, message)))
    # A refused withdrawal is decided again within the event: at once here.
    monkeypatch.setattr(service, "WITHDRAW_RETRY_SECONDS", 0.01)
    # What was told of a model (by uid: every test's model has the same) is the test's own.
    monkeypatch.setattr(upliftmodel, "_HELD_TOLD", {})
    return told


def held(events: list[tuple[str, str]], *finalizers: str) -> Model:
    sim, cluster = held_sim()
    sim.body["metadata"].update(deletionTimestamp="2026-12-01T12:10:00Z",
                                finalizers=list(finalizers or (ARGO,)), resourceVersion="100")
    return Model(sim, cluster, events)


def reasons(model: Model) -> list[str]:
    return [reason for reason, _ in model.events]


def test_a_held_models_watch_event_withdraws_its_canary(events: list[tuple[str, str]]) -> None:
    model = held(events)
    assert model.event() == [upliftmodel.withdraw_held]
    assert model.sim.weights() == {"1": 100, "2": 0}
    assert reasons(model) == ["CanaryWithdrawn"] and ARGO in model.events[0][1]
    assert len(model.statuses.writes) == 1 and len(model.cluster.patched) == 1
    status = model.sim.body["status"]
    assert status["canaryWeight"] == 0 and status["canaryVersion"] == "2"
    assert "withdrawn" in status["message"] and "100" in status["servingSplit"]


def test_its_later_events_write_and_tell_nothing(events: list[tuple[str, str]]) -> None:
    """The echo of its own status write, a finalizer added, a listing: no status write, no
    event, no patch (the withdrawal is done once)."""
    model = held(events)
    model.event()
    model.event()  # the echo of its status write
    model.sim.body["metadata"]["finalizers"] = [ARGO, "backup.example/hold"]
    model.event()
    model.event(None)
    assert reasons(model) == ["CanaryWithdrawn"]
    assert len(model.statuses.writes) == 1 and len(model.cluster.patched) == 1


def test_a_listing_after_a_restart_withdraws_it(events: list[tuple[str, str]]) -> None:
    """kopf starts no waiting task for an object being deleted; its listing's event (type
    None) runs the handler."""
    model = held(events)
    assert model.event(None) == [upliftmodel.withdraw_held]
    assert model.sim.weights() == {"1": 100, "2": 0} and reasons(model) == ["CanaryWithdrawn"]


@pytest.mark.parametrize("case", ["foreground", "orphan", "not deleted", "DELETED"])
def test_no_other_event_runs_it(events: list[tuple[str, str]], case: str) -> None:
    model = held(events, ARGO, "foregroundDeletion") if case == "foreground" else (
        held(events, "orphan") if case == "orphan" else held(events))
    if case == "not deleted":
        model.sim.body["metadata"].pop("deletionTimestamp")
    selected = model.event("DELETED" if case == "DELETED" else "MODIFIED")
    assert upliftmodel.withdraw_held not in selected
    assert model.sim.weights() == {"1": 90, "2": 10}
    assert model.cluster.patched == [] and model.statuses.writes == [] and events == []


def test_a_stable_that_does_not_serve_is_warned_of_once(events: list[tuple[str, str]]) -> None:
    model = held(events)
    model.sim.seldon("Creating")
    child = model.sim.cluster.objects[SELDON]
    child["status"]["deploymentStatus"] = {name: {"replicas": 1}
                                           for name in child["status"]["deploymentStatus"]}
    for _ in range(3):
        model.event()
    assert reasons(model) == ["CanaryNotWithdrawn"] and model.statuses.writes == []
    assert model.sim.weights() == {"1": 90, "2": 10}
    model.sim.seldon("Available")  # seen at the model's next event
    model.event()
    assert reasons(model) == ["CanaryNotWithdrawn", "CanaryWithdrawn"]
    assert model.sim.weights() == {"1": 100, "2": 0}


def test_a_refused_patch_is_tried_again_within_the_event(events: list[tuple[str, str]]) -> None:
    model = held(events)
    real_get, reads = model.sim.cluster.get, []

    def get(api_version: str, plural: str, namespace: str, name: str) -> Any:
        found = real_get(api_version, plural, namespace, name)
        if found is not None and plural == "seldondeployments":
            reads.append(name)
            if len(reads) == 1:
                found["metadata"]["resourceVersion"] = "1"  # the watch's older copy
        return found

    model.sim.cluster.get = get  # type: ignore[method-assign]
    model.event()
    # The first try's 409 is not told: the second one withdraws it.
    assert reasons(model) == ["CanaryWithdrawn"] and len(reads) == 2
    assert model.sim.weights() == {"1": 100, "2": 0} and len(model.statuses.writes) == 1


def refusing(model: Model, status: int) -> list[int]:
    """The graph's merge patches refused with ``status``; returns one entry per try."""
    tries: list[int] = []

    def refused(*_: Any, **__: Any) -> Any:
        tries.append(status)
        raise (conflict("seldondeployments", "uplift") if status == 409 else KubeError(
            f"patch seldondeployments/uplift: {status}", status))

    model.cluster.merge_patch = refused  # type: ignore[method-assign]
    return tries


@pytest.mark.parametrize("status", [409, 0, 503])
def test_a_patch_refused_at_every_try_is_told_once_after_the_last(
        events: list[tuple[str, str]], status: int) -> None:
    model = held(events)
    tries = refusing(model, status)
    model.event()
    assert len(tries) == upliftmodel.HELD_ATTEMPTS
    assert reasons(model) == ["CanaryNotWithdrawn"] and model.statuses.writes == []
    assert model.sim.weights() == {"1": 90, "2": 10}


@pytest.mark.parametrize("status", [403, 422])
def test_a_patch_the_api_server_refuses_is_not_tried_again_within_the_event(
        events: list[tuple[str, str]], status: int) -> None:
    """An admission policy's refusal (403) or a schema's (422) meets the same patch again."""
    model = held(events)
    tries = refusing(model, status)
    model.event()
    assert tries == [status] and reasons(model) == ["CanaryNotWithdrawn"]


def resource_series(name: str) -> list[tuple[str, dict[str, str]]]:
    """The samples of /metrics that name the resource ``name``."""
    return [(sample.name, sample.labels) for metric in observability.REGISTRY.collect()
            for sample in metric.samples if sample.labels.get("name") == name]


def test_its_events_export_no_series_of_it(events: list[tuple[str, str]]) -> None:
    """Its task's end dropped its series (``task_ended``): a withdrawal at its events (its own
    status echo, a listing, an annotation edited), for hours, exports none again (its phase,
    canary weight, gate verdicts, last pass: alerts firing on nothing measured)."""
    model = held(events)
    name = str(model.sim.body["metadata"]["name"])
    observability.forget("UpliftModel", str(model.sim.body["metadata"]["namespace"]), name)
    assert resource_series(name) == []
    model.event()  # the withdrawal itself
    model.event(None)
    model.event()
    assert reasons(model) == ["CanaryWithdrawn"] and model.sim.weights() == {"1": 100, "2": 0}
    assert resource_series(name) == []


def test_a_graph_event_tries_it_again(events: list[tuple[str, str]]) -> None:
    """The stable did not serve at the model's event; Seldon reports it Available: its graph's
    event withdraws the canary (a graph's event wakes only a waiting task, which a held model
    has not)."""
    model = held(events)
    model.sim.seldon("Creating")
    child = model.sim.cluster.objects[SELDON]
    child["status"]["deploymentStatus"] = {name: {"replicas": 1}
                                           for name in child["status"]["deploymentStatus"]}
    model.event()
    assert reasons(model) == ["CanaryNotWithdrawn"]
    model.sim.seldon("Available")
    assert model.graph_event() == [upliftmodel.withdraw_held_at_graph]
    assert reasons(model) == ["CanaryNotWithdrawn", "CanaryWithdrawn"]
    assert model.sim.weights() == {"1": 100, "2": 0} and len(model.statuses.writes) == 1
    assert model.graph_event() == [upliftmodel.withdraw_held_at_graph]  # the patch's echo
    assert reasons(model) == ["CanaryNotWithdrawn", "CanaryWithdrawn"]
    assert len(model.cluster.patched) == 1 and len(model.statuses.writes) == 1


@pytest.mark.parametrize("case", ["not deleted", "foreground", "another uid", "DELETED"])
def test_a_graph_event_of_another_model_does_not(events: list[tuple[str, str]],
                                                 case: str) -> None:
    model = held(events, ARGO, "foregroundDeletion") if case == "foreground" else held(events)
    if case == "not deleted":
        model.sim.body["metadata"].pop("deletionTimestamp")
    if case == "another uid":  # the model's name taken by a new object
        model.sim.body["metadata"]["uid"] = "another"
    assert model.graph_event("DELETED" if case == "DELETED" else "MODIFIED") == []
    assert model.sim.weights() == {"1": 90, "2": 10} and events == []


def test_a_refused_status_write_is_said_on_the_next_try(events: list[tuple[str, str]]) -> None:
    """The graph patched, the status write refused 409 (the model changed meanwhile): decided
    again on the model as read back, the withdrawal is recorded and told once."""
    model = held(events)
    model.statuses.refuse = 1
    model.event()
    assert len(model.cluster.patched) == 1 and model.sim.weights() == {"1": 100, "2": 0}
    assert reasons(model) == ["CanaryWithdrawn"]
    assert model.sim.body["status"]["canaryWeight"] == 0
    model.event()
    assert reasons(model) == ["CanaryWithdrawn"] and len(model.statuses.writes) == 1


def test_a_failing_status_write_is_logged_and_left_to_the_next_event(
        events: list[tuple[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    model = held(events)

    def refused(*_: Any, **__: Any) -> Any:
        raise KubeError("patch upliftmodels/m/status: 403 forbidden", 403)

    model.statuses.patch_status = refused  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        model.event()
    assert events == [] and "withdrawal failed" in caplog.text


def test_one_withdrawal_of_a_model_at_a_time(events: list[tuple[str, str]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Its events and its graph's come on different watches: those that come while its
    withdrawal runs have it run once more after, not alongside (two patches on the same
    resourceVersion, one refused)."""
    model = held(events)
    running, runs = [], []

    async def once(memo: kopf.Memo, key: Any, body: kopf.Body) -> None:
        running.append(key)
        runs.append(len(running))
        await asyncio.sleep(0.05)
        running.remove(key)

    monkeypatch.setattr(upliftmodel, "_withdraw_held_once", once)
    key = ("UpliftModel", "shop", "uplift")
    body = kopf.Body(cast(kopf.RawBody, copy.deepcopy(model.sim.body)))

    async def three() -> None:
        await asyncio.gather(*(upliftmodel._withdraw_held(model.memo, key, body)
                               for _ in range(3)))

    asyncio.run(three())
    assert runs == [1, 1] and upliftmodel._HELD_RUNNING == {}
