"""The report and drain endpoints across a model reload, through MLServer's own registry.

MLServer routes the custom endpoints to the instance it is loading before that instance's load
(``MLServer.reload_custom_handlers``, then ``MultiModelRegistry._reload_model``), and drops the
old instance's. Reports during a reload reached an instance without an engine (a plain-text
500 counted nowhere); after a failed reload (MLflow unreachable) inference stayed with the old
instance but reports and the preStop drain stayed with the dead one until a restart (the
review's preload.py and reload.py). They now answer with the model's loaded instance, and a
counted JSON 503 ``not_ready`` while none is.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlserver.model import MLModel
from mlserver.registry import MultiModelRegistry
from mlserver.settings import ModelParameters, ModelSettings
from mlserver.types import InferenceRequest
from prometheus_client import REGISTRY
from starlette.requests import Request
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftError, UpliftRuntime

KEY = "reload-routes-decision-key-0123456789abcdef"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reload-routes")
    train_small_model(root / "model")
    return root / "model"


class Server:
    """MLServer's registry of one model, and where MLServer's REST server routes the custom
    endpoints: as ``MLServer.add_custom_handlers`` / ``reload_custom_handlers`` /
    ``remove_custom_handlers`` do (the new instance's added, then the old one's removed)."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name, self.loop = name, loop
        self.routed: MLModel | None = None
        self.on_reload: Callable[[], Awaitable[None]] | None = None   # once the routes moved

        async def add(model: MLModel) -> MLModel:
            self.routed = model
            return model

        async def reload(old: MLModel, new: MLModel) -> MLModel:
            self.routed = new   # add_custom_handlers(new), then remove_custom_handlers(old)
            if self.on_reload is not None:
                await self.on_reload()
            return new

        async def remove(model: MLModel) -> MLModel:
            if self.routed is model:
                self.routed = None
            return model

        self.registry = MultiModelRegistry(on_model_load=[add], on_model_reload=[reload],
                                           on_model_unload=[remove])

    def settings(self, uri: Path) -> ModelSettings:
        return ModelSettings(name=self.name, implementation=UpliftRuntime,
                             parameters=ModelParameters(uri=str(uri)))

    def load(self, uri: Path) -> None:
        self.loop.run_until_complete(self.registry.load(self.settings(uri)))

    def serving(self) -> UpliftRuntime:
        model = self.loop.run_until_complete(self.registry.get_model(self.name))
        assert isinstance(model, UpliftRuntime)
        return model

    def route(self, endpoint: str, body: Any, host: str = "10.0.0.7",
              token: str | None = None) -> Any:
        """The request MLServer's REST server hands the routed instance's handler."""
        assert self.routed is not None
        return self.loop.run_until_complete(self.call(endpoint, body, host, token))

    async def call(self, endpoint: str, body: Any, host: str = "10.0.0.7",
                   token: str | None = None, *, reading: asyncio.Event | None = None,
                   sent: asyncio.Event | None = None) -> Any:
        """``reading``/``sent``: the body's upload is under way (the handler reads it) and
        finishes only once ``sent`` is set. A ``bytes`` body is sent as it is."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()

        async def receive() -> dict[str, Any]:
            if reading is not None:
                reading.set()
            if sent is not None:
                await sent.wait()
            return {"type": "http.request", "body": data, "more_body": False}

        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        request = Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                           "headers": headers, "client": (host, 4000)}, receive)
        return await getattr(self.routed, endpoint)(request)

    def decide(self, units: list[str]) -> list[str]:
        n = len(units)
        body = {"inputs": [
            {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
            {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
            {"name": "unit_id", "datatype": "BYTES", "shape": [n], "data": units}]}
        response = self.loop.run_until_complete(
            self.serving().predict(InferenceRequest.model_validate(body)))
        output = next(o for o in response.outputs if o.name == "decision_id")
        return list(output.data.root)


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("UPLIFT_DECISION_KEY", KEY)
    monkeypatch.setenv(drain.TOKEN_FILE_ENV, str(tmp_path / "drain-token"))
    loop = asyncio.new_event_loop()
    name = "routes-" + request.node.name.removeprefix("test_")[:40].replace("_", "-")
    s = Server(name, loop)
    try:
        yield s
    finally:
        if s.registry._models:
            loop.run_until_complete(s.registry.unload(s.name))
        loop.close()


def _errors(model: str, endpoint: str, reason: str) -> float:
    value = REGISTRY.get_sample_value("uplift_request_errors_total", {
        "model": model, "version": "local", "endpoint": endpoint, "reason": reason})
    return value or 0.0


def test_a_report_while_the_new_instance_loads_is_counted_by_the_loaded_one(
        server: Server, trained: Path) -> None:
    server.load(trained)
    first = server.serving()
    ids = server.decide(["u1", "u2"])
    before = _errors(server.name, "outcomes", "internal")
    answers: list[Any] = []

    async def reports() -> None:   # the routes moved; the new instance not loaded yet
        assert server.routed is not first
        answers.append(await server.call(
            "outcomes", {"outcomes": [{"decision_id": ids[0], "converted": True}]}))
        answers.append(await server.call(
            "deliveries", {"deliveries": [{"decision_id": ids[1], "status": "ok"}]}))

    server.on_reload = reports
    server.load(trained)
    assert [a["counted"] for a in answers] == [1, 1]
    assert _errors(server.name, "outcomes", "internal") == before
    # After the reload, the new instance answers (the old one's unload does not withdraw it).
    second = server.serving()
    assert second is not first and server.routed is second
    answer = server.route("outcomes", {"outcomes": [{"decision_id": ids[1],
                                                     "converted": False}]})
    assert answer["counted"] == 1


def test_after_a_failed_reload_reports_and_the_drain_reach_the_serving_instance(
        server: Server, trained: Path, tmp_path: Path) -> None:
    server.load(trained)
    first = server.serving()
    ids = server.decide(["v1", "v2"])
    with pytest.raises(Exception, match="no-such-model"):   # MLflow unreachable, say
        server.load(tmp_path / "no-such-model")
    assert server.serving() is first   # inference stays with the old instance
    assert server.routed is not first   # ... the routes went to the dead one
    answer = server.route("outcomes", {"outcomes": [{"decision_id": ids[0],
                                                     "converted": True}]})
    assert answer["counted"] == 1
    token = drain.read_token(tmp_path / "drain-token")
    drained = server.route("drain", {}, host="127.0.0.1", token=token)
    assert set(drained["counted"]) == {"expected", "received", "converted"}
    assert first._drained   # the serving instance's pending counts, not the dead one's


def test_no_loaded_instance_answers_a_counted_503_not_ready(server: Server,
                                                            trained: Path) -> None:
    never = UpliftRuntime(server.settings(trained))   # routed, its load not begun
    server.routed = never
    cases: tuple[tuple[str, dict[str, Any]], ...] = (
        ("outcomes", {"outcomes": []}), ("deliveries", {"deliveries": []}), ("drain", {}))
    for endpoint, body in cases:
        labels = {"model": server.name, "version": "", "endpoint": endpoint,
                  "reason": "not_ready"}
        before = REGISTRY.get_sample_value("uplift_request_errors_total", labels) or 0.0
        with pytest.raises(UpliftError, match="not loaded") as error:
            server.route(endpoint, body, host="127.0.0.1")
        assert error.value.status_code == 503
        assert REGISTRY.get_sample_value("uplift_request_errors_total", labels) == before + 1
    # Once loaded, and again after its unload for good (nothing else loaded): labelled
    # version "" again, not with the version it no longer serves (MLServer removes the routes
    # of a model unloaded for good, so this is a load under way, maybe of another version).
    server.load(trained)
    server.routed = never
    server.decide(["w1"])
    server.loop.run_until_complete(server.registry.unload(server.name))
    labels = {"model": server.name, "version": "", "endpoint": "outcomes",
              "reason": "not_ready"}
    refused = REGISTRY.get_sample_value("uplift_request_errors_total", labels) or 0.0
    with pytest.raises(UpliftError, match="not loaded") as error:
        server.route("outcomes", {"outcomes": []})
    assert error.value.status_code == 503
    assert REGISTRY.get_sample_value("uplift_request_errors_total", labels) == refused + 1
    retired = {**labels, "version": "local"}
    assert REGISTRY.get_sample_value("uplift_request_errors_total", retired) is None


def _upload_across(server: Server, endpoint: str, body: Any,
                   meanwhile: Callable[[], Awaitable[Any]]) -> Any:
    """``endpoint``'s answer to ``body``, whose upload began before ``meanwhile`` (a reload,
    an unload) and finished after it."""
    async def scenario() -> Any:
        reading, sent = asyncio.Event(), asyncio.Event()
        call = asyncio.ensure_future(server.call(endpoint, body, reading=reading, sent=sent))
        await reading.wait()   # the handler has started, and waits for the body
        try:
            await meanwhile()
        finally:
            sent.set()
        return await call

    return server.loop.run_until_complete(scenario())


def test_a_report_uploading_across_a_reload_is_counted_by_the_instance_live_once_read(
        server: Server, trained: Path) -> None:
    """A report whose body was still uploading when the model was reloaded: counted by the
    new instance (live when the report is applied), not the unloaded one, whose dedup window
    and pending counts went with it (before: counted there, so the new instance counted the
    same report again, and its cohort counts were counted at once by a drained instance)."""
    server.load(trained)
    first = server.serving()
    ids = server.decide(["r1", "r2"])
    outcome = {"outcomes": [{"decision_id": ids[0], "converted": True}]}
    delivery = {"deliveries": [{"decision_id": ids[1], "status": "ok"}]}
    for endpoint, body in (("outcomes", outcome), ("deliveries", delivery)):
        before = server.serving()
        answer = _upload_across(server, endpoint, body,
                                lambda: server.registry.load(server.settings(trained)))
        assert server.serving() is not before
        assert answer["counted"] == 1
        # The instance serving now counted it: the same report again is its duplicate.
        again = server.route(endpoint, body)
        assert (again["counted"], again["duplicates"]) == (0, 1)
    assert server.serving() is not first


def test_a_report_uploading_while_the_model_is_unloaded_is_refused_not_ready(
        server: Server, trained: Path) -> None:
    """Unloaded for good while a report's body uploaded: nothing is live to count it, so it
    is refused 503 ``not_ready`` (the sender retries) rather than counted by the unloaded
    instance, whose counts nothing reads any more."""
    server.load(trained)
    ids = server.decide(["s1"])
    with pytest.raises(UpliftError, match="not loaded") as error:
        _upload_across(server, "outcomes",
                       {"outcomes": [{"decision_id": ids[0], "converted": True}]},
                       lambda: server.registry.unload(server.name))
    assert error.value.status_code == 503


def test_a_refusal_of_a_body_read_across_an_unload_is_not_counted_by_the_unloaded_version(
        server: Server, trained: Path) -> None:
    """A report whose body, uploading while the model was unloaded for good, is refused once
    read (bad JSON): counted like ``not_ready``, version "" (nothing is loaded), not under the
    version unloaded meanwhile, whose errorRate it no longer belongs to."""
    server.load(trained)
    server.decide(["t1"])
    unversioned = {"model": server.name, "version": "", "endpoint": "outcomes",
                   "reason": "bad_json"}
    before = REGISTRY.get_sample_value("uplift_request_errors_total", unversioned) or 0.0
    unloaded = _errors(server.name, "outcomes", "bad_json")
    with pytest.raises(UpliftError, match="not valid JSON") as error:
        _upload_across(server, "outcomes", b"{not json",
                       lambda: server.registry.unload(server.name))
    assert error.value.status_code == 400
    assert REGISTRY.get_sample_value("uplift_request_errors_total", unversioned) == before + 1
    assert _errors(server.name, "outcomes", "bad_json") == unloaded

