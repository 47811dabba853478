"""A hand edit inside a predictor is applied over by the operator's next pass, against the real
API server and Seldon Core 1.17.1's CRD (``services.upliftmodel._same_spec``); the graph the API
server returns is the rendered one, so passes at rest apply nothing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import NAME, Bench

pytestmark = pytest.mark.integration

SDEP = "seldondeployments.machinelearning.seldon.io"


def _pod(sdep: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    return spec


def _version(bench: Bench) -> str:
    return str((bench.seldon() or {})["metadata"]["resourceVersion"])


def _at_rest(bench: Bench) -> None:
    """Two passes that find the graph as rendered apply nothing: each poke changes the
    UpliftModel, so an apply would carry a new decided-on stamp and a new resourceVersion."""
    version = _version(bench)
    for _ in range(2):
        bench.wait_for_passes(time.time())
    assert _version(bench) == version, "a pass at rest applied the graph again"


def test_a_field_added_inside_a_predictor_is_taken_out_and_a_graph_at_rest_left(
        bench: Bench) -> None:
    bench.apply()
    bench.wait_healthy("1")
    rendered = bench.seldon() or {}
    assert all(p["protocol"] == "TCP" for p in _pod(rendered)["containers"][0]["ports"])
    _at_rest(bench)
    patch = [{"op": "add", "path": "/spec/predictors/0/componentSpecs/0/spec/tolerations",
              "value": [{"key": "node-role.kubernetes.io/control-plane",
                         "operator": "Exists"}]},
             {"op": "add", "path": "/spec/predictors/0/componentSpecs/0/spec/nodeName",
              "value": "cp-0"}]
    before = _version(bench)
    patched = bench.admin.run("patch", SDEP, NAME, "-n", bench.namespace, "--type=json",
                              "-p", json.dumps(patch), "-o", "json")
    assert "tolerations" in _pod(json.loads(patched.stdout))  # the edit landed (and is
    # usually gone again before it could be read back: the operator's watch is that quick)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pod = _pod(bench.seldon() or {})
        if "tolerations" not in pod and "nodeName" not in pod:
            break
        time.sleep(0.5)
    restored = bench.seldon() or {}
    assert "tolerations" not in _pod(restored) and "nodeName" not in _pod(restored)
    assert restored["spec"]["predictors"] == rendered["spec"]["predictors"]
    assert _version(bench) != before
    _at_rest(bench)
