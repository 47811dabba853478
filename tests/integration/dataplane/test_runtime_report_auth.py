"""The runtime's authenticated endpoints through a real MLServer process.

The runtime is started as the rendered pod starts it with ``spec.serving.reportCredentials``:
``UPLIFT_REPORT_TOKEN_FILE`` naming the Secret's key in a secret volume (laid out and updated as
the kubelet does, ``serving_agent.project``) and ``UPLIFT_DRAIN_TOKEN_FILE`` in its environment.
Inference stays open (Seldon's executor calls it); ``/uplift/v1/deliveries`` and
``/uplift/v1/outcomes`` answer 401 in the runtime's error shape without the bearer token and 200
with it, and the refusals are counted on ``/metrics``; the documented rotation (the new token
added as a second line, the old one removed) reaches the running process without a restart and
refuses no sender that holds a listed token, and a bad edit keeps the tokens in force;
``/uplift/v1/drain`` answers loopback only with the drain token the runtime wrote, which the real
preStop hook (``python -m uplift_operator.runtime.drain``) reads and sends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.dataplane.test_runtime_campaigns import _train

from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.devenv.serving_agent import project
from uplift_operator.render import seldon
from uplift_operator.runtime import drain

pytestmark = pytest.mark.integration

NAME = "report-auth"
TOKEN = "it-report-token-0123456789abcdef"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model"
    _train(path)
    return path


def _env(model: Path, volume: Path, name: str) -> dict[str, str]:
    """The rendered pod's environment, the token file in ``volume`` (the secret volume's
    directory, as ``render.seldon`` mounts it)."""
    item = Path(seldon.REPORT_TOKEN_FILE).relative_to(seldon.REPORT_TOKEN_DIR)
    return {"UPLIFT_DECISION_KEY": "report-auth-decision-key-0123456789",
            "UPLIFT_MODEL_VERSION": "2", seldon.REPORT_TOKEN_FILE_ENV: str(volume / item),
            drain.TOKEN_FILE_ENV: str(model.parent / f"{name}-drain-token")}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model: Path) -> Iterator[MlserverProcess]:
    volume = tmp_path_factory.mktemp("report-token")
    project(volume, {"token": TOKEN})
    with MlserverProcess(str(model), name=NAME, env=_env(model, volume, NAME)) as srv:
        yield srv


def decide(server: MlserverProcess, units: list[str]) -> list[str]:
    n = len(units)
    r = server.infer({"inputs": [
        {"name": "x", "datatype": "FP64", "shape": [n], "data": [0.5] * n},
        {"name": "c", "datatype": "BYTES", "shape": [n], "data": ["p"] * n},
        {"name": "unit_id", "datatype": "BYTES", "shape": [n], "data": units}]})
    assert r.status_code == 200, r.text  # no token: inference stays open
    ids: list[str] = next(o["data"] for o in r.json()["outputs"] if o["name"] == "decision_id")
    return ids


def post(server: MlserverProcess, path: str, body: Any, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(f"{server.url}{path}", json=body, headers=headers, timeout=30)


def metric(server: MlserverProcess, name: str, **labels: str) -> float:
    return sum(s.value for family in text_string_to_metric_families(server.metrics_text())
               for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_reports_answer_401_without_the_token_and_200_with_it(server: MlserverProcess) -> None:
    ids = decide(server, [f"u-{i}" for i in range(4)])
    outcomes = {"outcomes": [{"decision_id": d, "converted": True} for d in ids]}
    # Refused before anything is counted, exported at zero from the start.
    assert metric(server, "uplift_request_errors_total", endpoint="outcomes",
                  reason="unauthorized") == 0
    for token in (None, "not-the-token-0123456789abcdef"):
        r = post(server, "/uplift/v1/outcomes", outcomes, token)
        assert r.status_code == 401, r.text
        assert set(r.json()) == {"error"} and "Bearer" in r.json()["error"]
        assert TOKEN not in r.text
    r = post(server, "/uplift/v1/deliveries",
             {"deliveries": [{"decision_id": ids[0], "status": "ok"}]}, None)
    assert r.status_code == 401, r.text
    assert metric(server, "uplift_request_errors_total", endpoint="outcomes",
                  reason="unauthorized") == 2
    assert metric(server, "uplift_request_errors_total", endpoint="deliveries",
                  reason="unauthorized") == 1
    assert metric(server, "uplift_outcomes_total", model=NAME) == 0

    r = post(server, "/uplift/v1/outcomes", outcomes, TOKEN)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 4, "counted": 4, "duplicates": 0}
    assert metric(server, "uplift_outcomes_total", model=NAME) == 4
    assert metric(server, "uplift_conversions_total", model=NAME) == 4


def test_a_report_that_disagrees_with_the_one_counted_is_a_conflict(
        server: MlserverProcess) -> None:
    ids = decide(server, [f"c-{i}" for i in range(3)])
    r = post(server, "/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": d, "converted": False} for d in ids]}, TOKEN)
    assert r.json()["counted"] == 3
    conversions = metric(server, "uplift_conversions_total", model=NAME)
    r = post(server, "/uplift/v1/outcomes", {"outcomes": [
        {"decision_id": d, "converted": True} for d in ids]}, TOKEN)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "counted": 0, "duplicates": 3, "conflicts": 3}
    assert metric(server, "uplift_report_conflicts_total", endpoint="outcomes") == 3
    assert metric(server, "uplift_conversions_total", model=NAME) == conversions  # first stands


def test_the_drain_answers_the_hook_with_its_token_not_loopback_alone(
        server: MlserverProcess) -> None:
    path = Path(server.env[drain.TOKEN_FILE_ENV])
    assert path.stat().st_mode & 0o777 == 0o600
    # From loopback without the token, as a mesh sidecar forwarding an outside request presents
    # itself; then the report token, which is not the drain's.
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
        r = requests.post(f"{server.url}/uplift/v1/drain", json={}, headers=headers, timeout=30)
        assert r.status_code == 403, r.text
        assert "drain token" in r.json()["error"]
    assert metric(server, "uplift_request_errors_total", endpoint="drain",
                  reason="forbidden") == 2
    # The pod's preStop hook, as rendered: same environment, reads the file, sends the token.
    hook = subprocess.run(
        [sys.executable, "-m", "uplift_operator.runtime.drain", "--wait", "0"],
        env={**os.environ, **server.env, "MLSERVER_HTTP_PORT": str(server.http_port)},
        capture_output=True, text=True, timeout=60)
    assert hook.returncode == 0 and "drain: counted {" in hook.stderr, hook.stderr


NEW_TOKEN = "it-report-token-new-fedcba987654"


def _status_once(server: MlserverProcess, ids: list[str], token: str | None) -> int:
    return post(server, "/uplift/v1/deliveries",
                {"deliveries": [{"decision_id": ids[0], "status": "ok"}]}, token).status_code


def _until(what: str, done: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``done`` until it holds: the runtime's background tick takes a new version of the
    file within a second or so of the kubelet's (here: ``project``'s) swap."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen within {timeout} s")
        time.sleep(0.1)


def test_the_token_rotates_without_a_restart_and_a_bad_edit_changes_nothing(
        tmp_path: Path, model: Path) -> None:
    volume = tmp_path / "report-token"
    project(volume, {"token": f"{TOKEN}\n"})
    name = "report-rotation"
    with MlserverProcess(str(model), name=name, env=_env(model, volume, name)) as srv:
        ids = decide(srv, ["rot-1"])
        assert metric(srv, "uplift_report_tokens", model=name) == 1
        assert (_status_once(srv, ids, TOKEN), _status_once(srv, ids, NEW_TOKEN)) == (200, 401)

        # 1. The new token added as a second line: both accepted once the file is re-read.
        project(volume, {"token": f"{NEW_TOKEN}\n{TOKEN}\n"})
        _until("the new token accepted", lambda: _status_once(srv, ids, NEW_TOKEN) == 200)
        assert _status_once(srv, ids, TOKEN) == 200
        assert metric(srv, "uplift_report_tokens", model=name) == 2
        assert metric(srv, "uplift_report_token_reloads_total", model=name, result="ok") == 1

        # A bad edit: counted once as an error, the two tokens still in force, never open.
        project(volume, {"token": "short-token\n"})
        _until("the bad version counted", lambda: metric(
            srv, "uplift_report_token_reloads_total", model=name, result="error") == 1)
        assert (_status_once(srv, ids, TOKEN), _status_once(srv, ids, NEW_TOKEN),
                _status_once(srv, ids, None)) == (200, 200, 401)
        assert "short-token" not in srv.log.read_text()

        # 2. Senders switched, 3. the old line removed: the old token refused from then on.
        project(volume, {"token": f"{NEW_TOKEN}\n"})
        _until("the old token refused", lambda: _status_once(srv, ids, TOKEN) == 401)
        assert _status_once(srv, ids, NEW_TOKEN) == 200
        assert metric(srv, "uplift_report_tokens", model=name) == 1
        assert metric(srv, "uplift_report_token_reloads_total", model=name, result="ok") == 2
        assert TOKEN not in srv.log.read_text() and NEW_TOKEN not in srv.log.read_text()
