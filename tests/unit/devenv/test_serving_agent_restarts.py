"""The serving agent plays the kubelet and the Deployment controller for a failing MLServer: a
process that exits is restarted after a back-off (CrashLoopBackOff: 10 s, doubled, at most
300 s) and the graph is Creating meanwhile; Failed only once a predictor was never ready within
the progress deadline. It used to say Failed at the first failed start and never restart
anything, and a predictor that exited after it was ready stayed Available. A predictor waiting
for a missing ConfigMap makes the graph Creating (it used to leave it Available)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from kubernetes import client

from uplift_operator.devenv import serving_agent
from uplift_operator.devenv.demo import DemoStack
from uplift_operator.devenv.router import WeightedRouter, split_rows
from uplift_operator.devenv.serving_agent import (
    NOT_PROGRESSING,
    Predictor,
    ServingAgent,
    restart_delay,
    state_while_down,
)


def test_restart_delay_doubles_from_ten_seconds_up_to_five_minutes() -> None:
    assert [restart_delay(n) for n in range(7)] == [10, 20, 40, 80, 160, 300, 300]
    assert restart_delay(1000) == 300


def test_failed_only_when_never_ready_past_the_progress_deadline() -> None:
    assert state_while_down(False, created=0.0, now=599.0) == "Creating"
    assert state_while_down(False, created=0.0, now=600.0) == "Failed"
    assert state_while_down(True, created=0.0, now=10_000.0) == "Creating"  # was ready once


class _Server:
    """An MlserverProcess stand-in: ``start`` fails while ``failures`` are left (for the
    predictor ``failing``: the agent's processes start in threads side by side)."""

    failures: ClassVar[list[str]] = []
    failing = "v2"
    started = 0

    def __init__(self, uri: str, **kwargs: Any) -> None:
        self.log = Path(kwargs["workdir"]) / "mlserver.log"
        self.predictor = Path(kwargs["workdir"]).parent.name
        self.url, self.metrics_port = "http://127.0.0.1:9", 9
        self.exit_code: int | None = None
        self.stopped = False

    def start(self) -> _Server:
        type(self).started += 1
        if self.failures and self.predictor == self.failing:
            self.exit_code = 1
            raise RuntimeError(self.failures.pop(0))
        return self

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> type[_Server]:
    monkeypatch.setattr(serving_agent, "MlserverProcess", _Server)
    _Server.failures, _Server.started = [], 0
    return _Server


def _predictor(tmp_path: Path, created: float = 0.0) -> Predictor:
    workdir = tmp_path / "v2" / "1"  # as the agent lays them out: <ns>/<name>/<predictor>/<ms>
    workdir.mkdir(parents=True)
    return Predictor("ns", "m", "v2", "2", {}, workdir, started_at=created)


def test_a_ready_process_that_exits_is_restarted_after_the_back_off(
        server: type[_Server], tmp_path: Path) -> None:
    p = _predictor(tmp_path)
    p.launch()
    assert p.state == "Available" and server.started == 1
    assert not p.due(5.0)
    (p.workdir / "mlserver.log").write_text("Traceback: killed\n")
    first = p.server
    assert isinstance(first, _Server)
    first.exit_code = 137
    assert not p.due(100.0)  # noticed: Creating, the restart due 10 s later
    assert p.state == "Creating" and first.stopped
    assert "exited with 137" in p.description and "Traceback: killed" in p.description
    assert not p.due(109.9) and p.due(110.0)
    p.launch()
    assert p.state == "Available" and p.description == "" and server.started == 2
    p.server.exit_code = 1
    p.due(120.0)
    assert p.restart_at == 140.0  # the second restart waits 20 s


def test_a_process_never_ready_is_failed_after_the_progress_deadline_and_still_restarted(
        server: type[_Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    server.failures = ["mlserver: process exited with 1 ... ImportError"] * 10
    p = _predictor(tmp_path, created=0.0)
    p.launch()
    assert p.state == "Creating" and "ImportError" in p.description and p.restart_at == 10.0
    clock[0] = 599.0
    assert p.due(599.0) and p.state == "Creating"
    clock[0] = 600.0
    p.launch()
    assert p.state == "Failed" and "ImportError" in p.description
    server.failures = []
    clock[0] = 620.0
    assert p.due(620.0)
    p.launch()  # a later start that gets ready: Available again, as Seldon says once it is
    assert p.state == "Available"


def test_a_stopped_predictor_is_not_restarted(server: type[_Server], tmp_path: Path) -> None:
    server.failures = ["no"]
    p = _predictor(tmp_path)
    p.launch()
    p.stop()
    assert not p.due(1e9)


# --- the graph's status -----------------------------------------------------------------------


class _Api:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.patches: list[dict[str, Any]] = []

    def list_cluster_custom_object(self, *args: Any) -> dict[str, Any]:
        return {"items": [self.body]}

    def patch_namespaced_custom_object_status(self, *args: Any) -> None:
        self.patches.append(json.loads(json.dumps(args[-1])))
        self.body["status"] = {**(self.body.get("status") or {}), **args[-1]["status"]}


class _Prometheus:
    def set_targets(self, targets: Any) -> None:
        pass


def _graph(config_map: str | None = None) -> dict[str, Any]:
    def predictor(name: str, traffic: int) -> dict[str, Any]:
        spec: dict[str, Any] = {"containers": [{"name": "m", "env": [
            {"name": "MLSERVER_MODEL_NAME", "value": "m"}]}]}
        if config_map and name == "v2":
            spec["volumes"] = [{"name": "c", "configMap": {"name": config_map}}]
            spec["containers"][0]["volumeMounts"] = [{"name": "c", "mountPath": "/etc/c"}]
        return {"name": name, "traffic": traffic, "annotations": {"version": name[1:]},
                "graph": {"name": "m"}, "componentSpecs": [{"spec": spec}]}

    return {"metadata": {"name": "m", "namespace": "ns"},
            "spec": {"protocol": "v2", "predictors": [predictor("v1", 100), predictor("v2", 0)]}}


def _agent(tmp_path: Path, body: dict[str, Any], **kwargs: Any) -> tuple[ServingAgent, _Api]:
    agent = ServingAgent(client.ApiClient(), _Prometheus(), WeightedRouter(),  # type: ignore[arg-type]
                         tmp_path, **kwargs)
    api = _Api(body)
    agent._api = api  # type: ignore[assignment]
    return agent, api


def _settle(agent: ServingAgent) -> None:
    """Let every start under way finish (they run in threads)."""
    deadline = time.monotonic() + 10
    while any(p.launching for p in agent.predictors.values()) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_predictor_waiting_for_its_config_map_keeps_the_graph_creating(
        server: type[_Server], tmp_path: Path) -> None:
    agent, api = _agent(tmp_path, _graph(config_map="absent"))
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    assert ("ns", "m", "v2") not in agent.predictors  # not started: its ConfigMap is missing
    status = api.patches[-1]["status"]
    assert status["state"] == "Creating"
    assert status["deploymentStatus"] == {"m-v1-0-m": {"replicas": 1, "availableReplicas": 1},
                                          "m-v2-0-m": {"replicas": 1}}
    agent.config_maps[("ns", "absent")] = {"k": "v"}  # it appears: started, then Available
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    assert api.patches[-1]["status"]["state"] == "Available"


def test_a_crashing_canary_makes_the_graph_creating_then_available_after_its_restart(
        server: type[_Server], tmp_path: Path) -> None:
    server.failures = ["mlserver: process exited with 1"]
    agent, api = _agent(tmp_path, _graph(), restart_backoff=0.05)
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    assert api.patches[-1]["status"]["state"] == "Creating"  # not Failed: restarted
    assert [r.predictor for r in agent.router.routes("ns", "m")] == ["v1"]
    time.sleep(0.06)
    agent.reconcile_once()  # the back-off passed: started again
    _settle(agent)
    agent.reconcile_once()
    assert api.patches[-1]["status"]["state"] == "Available"
    assert server.started == 3  # v1 once, v2 twice


def test_past_the_progress_deadline_the_graph_is_failed_with_the_cause(
        server: type[_Server], tmp_path: Path) -> None:
    server.failures = ["mlserver: process exited with 1 ... ImportError: no module"]
    agent, api = _agent(tmp_path, _graph(), progress_deadline=0.0)
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    status = api.patches[-1]["status"]
    assert status["state"] == "Failed"
    assert status["description"].startswith("predictor v2: ")
    assert "ImportError" in status["description"]
    assert NOT_PROGRESSING in status["description"]


# --- a restarting predictor keeps its share (503), a crash loop says why -------------------------


def _ready_then_crashed(agent: ServingAgent, api: _Api, predictor: str) -> Predictor:
    """Every predictor Available, then ``predictor``'s process exits (noticed, not restarted)."""
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    assert api.patches[-1]["status"]["state"] == "Available"
    p = agent.predictors[("ns", "m", predictor)]
    assert p.server is not None
    p.server.exit_code = 1  # type: ignore[misc]
    agent.reconcile_once()
    assert p.state == "Creating" and p.restart_at is not None
    return p


def test_a_restarting_stable_keeps_its_weight_and_its_rows_get_503(
        server: type[_Server], tmp_path: Path) -> None:
    """Since a stable that exits went Creating it was dropped from the routes and the router
    spread the weights over the rest: a 30 % canary got every row during the back-off, which
    the operator's split check and online effect then saw. Istio keeps the weight and 503s."""
    body = _graph()
    body["spec"]["predictors"][0]["traffic"], body["spec"]["predictors"][1]["traffic"] = 70, 30
    agent, api = _agent(tmp_path, body, restart_backoff=60.0)
    _ready_then_crashed(agent, api, "v1")
    routes = {r.predictor: r for r in agent.router.routes("ns", "m")}
    assert {name: (r.weight, r.down) for name, r in routes.items()} == {
        "v1": (70, True), "v2": (30, False)}
    units = [str(i) for i in range(400)]
    groups = split_rows({"inputs": [{"name": "unit_id", "data": units}]}, "unit_id",
                        list(routes.values()))
    assert 200 < len(groups["v1"][1]) < 360  # ≈ 70 % still falls to the stable
    # A unit of the stable's share: 503, without a request to any process.
    unit = groups["v1"][1][0]
    code, answer = agent.router.handle("/seldon/ns/m/v2/models/m/infer", json.dumps(
        {"inputs": [{"name": "unit_id", "datatype": "BYTES", "shape": [1, 1],
                     "data": [units[unit]]}]}).encode())
    assert code == 503 and "v1" in answer["error"]
    code, _ = agent.router.handle("/seldon/ns/m/uplift/v1/outcomes", json.dumps(
        {"outcomes": [{"decision_id": "u~a~t~1"}]}).encode())
    assert code == 503  # reports for the stable's decisions too: its Service has no endpoint


def test_a_predictor_loading_for_the_first_time_is_routed_around(
        server: type[_Server], tmp_path: Path) -> None:
    server.failures = ["mlserver: process exited with 1"]
    agent, _ = _agent(tmp_path, _graph(), restart_backoff=60.0)
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    assert [(r.predictor, r.down) for r in agent.router.routes("ns", "m")] == [("v1", False)]


def test_a_crash_loop_says_why_in_the_status_and_the_log(
        server: type[_Server], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A crash-looping MLServer used to be silent until the progress deadline: Creating without
    a description, nothing logged."""
    server.failures = ["mlserver: process exited with 1\nModuleNotFoundError: sklearn"] * 3
    agent, api = _agent(tmp_path, _graph(), restart_backoff=60.0)
    with caplog.at_level("WARNING", logger=serving_agent.__name__):
        agent.reconcile_once()
        _settle(agent)
        agent.reconcile_once()
    p = agent.predictors[("ns", "m", "v2")]
    assert p.server is not None
    status = api.patches[-1]["status"]
    assert status["state"] == "Creating"
    assert status["description"].startswith("predictor v2: ")
    assert "ModuleNotFoundError" in status["description"]
    assert status["description"].endswith(f"log {p.server.log}")
    [record] = [r for r in caplog.records if "down" in r.getMessage()]
    said = record.getMessage()
    assert "ns/m/v2" in said and "exit code 1" in said and str(p.server.log) in said
    assert "restart 1 in 60 s" in said
    [line] = agent.troubles()
    assert line.startswith("predictor ns/m/v2 Creating, 1 restart(s): mlserver: process exited")
    assert "ModuleNotFoundError" in line and str(p.server.log) in line


def test_the_back_off_resets_only_after_a_run_that_itself_lasted_ten_minutes(
        tmp_path: Path) -> None:
    """The reset used to compare with the time the first run got ready, never cleared: after
    one long healthy run every later failure restarted after 10 s, forever."""
    p = _predictor(tmp_path)
    p.ready_at, p.ever_ready, p.state = 100.0, True, "Available"
    now, delays = 800.0, []  # up 700 s, then a crash loop (each start fails within 1 s)
    for _ in range(5):
        p.down("exited", now)
        assert p.restart_at is not None
        delays.append(p.restart_at - now)
        now = p.restart_at + 1.0
    assert delays == [10, 20, 40, 80, 160]
    p.ready_at = now  # a run that lasts 10 min: from 10 s again
    p.down("exited", now + 600.0)
    assert p.restart_at == now + 610.0
    p.ready_at = now + 700.0  # a short one after it: doubled
    p.down("exited", now + 710.0)
    assert p.restart_at == now + 730.0


def test_an_old_process_that_exits_while_the_new_template_waits_for_its_config_map_is_restarted(
        server: type[_Server], tmp_path: Path) -> None:
    """The template changed to mount a ConfigMap that does not exist yet: the old process serves
    on; when it exited, nothing noticed (the early return skipped it): Available, routed to a
    dead port."""
    body = _graph()
    agent, api = _agent(tmp_path, body, restart_backoff=0.01)
    agent.reconcile_once()
    _settle(agent)
    agent.reconcile_once()
    old = agent.predictors[("ns", "m", "v2")]
    body["spec"]["predictors"][1] = _graph(config_map="absent")["spec"]["predictors"][1]
    agent.reconcile_once()
    assert agent.predictors[("ns", "m", "v2")] is old  # waits: the old process serves on
    assert old.server is not None
    old.server.exit_code = 1  # type: ignore[misc]
    agent.reconcile_once()
    assert old.state == "Creating" and old.restarts == 1
    assert api.patches[-1]["status"]["state"] == "Creating"
    assert [(r.predictor, r.down) for r in agent.router.routes("ns", "m")] == [
        ("v1", False), ("v2", True)]
    time.sleep(0.02)
    started = server.started
    agent.reconcile_once()  # the back-off passed: the old template's process again
    _settle(agent)
    agent.reconcile_once()
    assert server.started == started + 1 and old.state == "Available"
    assert agent.predictors[("ns", "m", "v2")] is old


def test_the_demo_s_first_wait_names_the_predictor_that_does_not_start(tmp_path: Path) -> None:
    stack = DemoStack(tmp_path, tmp_path / "customers.csv", say=lambda _: None)
    stack.simulator = SimpleNamespace(  # type: ignore[assignment]
        paused=True, tally=SimpleNamespace(rows=0, last_error="none"))
    stack.router = WeightedRouter()
    trouble = "predictor demo/m/v1 Creating, 3 restart(s): exited with 1 … ImportError; log /w/l"
    stack.agent = SimpleNamespace(troubles=lambda: [trouble])  # type: ignore[assignment]
    stack.check_alive = lambda: None  # type: ignore[method-assign]
    with pytest.raises(TimeoutError) as raised:
        stack.wait_first_scored(timeout=0.05)
    assert trouble in str(raised.value)
