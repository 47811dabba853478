"""Secrets the operator handles, against the real control plane and the operator process.

- Credentials: failures provoked with a known token (a trailing newline, a whitespace-padded
  password, a registry that echoes the request's headers back in its error, an unreachable
  one) are each explained, and the token is then searched for in every status, every event and
  the operator's log: it is in none of them.
- The decision-key Secret: the operator creates it for a serving UpliftModel (a random key, owned
  by the model), never rewrites it, never logs it, and the garbage collector deletes it with the
  model; the operator may create Secrets but not update or delete them.
"""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess
from tests.support.registry import Versions

from uplift_operator.devenv import process
from uplift_operator.devenv.seldon_standin import SeldonStandIn

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
TOKEN = "leak-canary-3f9a61c2e8d47b05"


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """A tracking URI that is not MLflow: a 401 quoting every request header back."""

    def do_GET(self) -> None:
        body = ("refused, you sent:\n" + "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                ).encode()
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _model(name: str, **model: Any) -> dict[str, Any]:
    body = copy.deepcopy(MODEL)
    body["metadata"] = {"name": name}
    body["spec"]["model"].update(model)
    return body


def _secret(name: str, **values: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque",
            "stringData": values}


def _items(admin: Kubectl, kind: str, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        admin.run("get", kind, "-n", namespace, "-o", "json").stdout)["items"]
    return items


def test_no_credential_in_status_events_or_the_operator_log(
        admin: Kubectl, operator: OperatorProcess, versions: Versions, namespace: str,
        echo_url: str) -> None:
    log_start = len(operator.logs())
    unreachable = f"http://127.0.0.1:{process.free_port()}"
    token = {"name": "creds", "tokenKey": "token"}
    admin.apply([
        _secret("creds", token=TOKEN),
        _secret("creds-newline", token=TOKEN + "\n"),
        _secret("creds-basic", user="reader", password=f"{TOKEN} "),
        _model("newline", credentials={"name": "creds-newline", "tokenKey": "token"}),
        _model("padded-password", credentials={"name": "creds-basic", "usernameKey": "user",
                                               "passwordKey": "password"}),
        _model("echoing-proxy", trackingUri=echo_url, credentials=token),
        _model("unreachable", trackingUri=unreachable, credentials=token),
    ], namespace)
    expected = {
        "newline": "Secret 'creds-newline' key 'token' has a trailing newline",
        "padded-password": "Secret 'creds-basic' key 'password' has whitespace around",
        "echoing-proxy": "MLflow refused the credentials (HTTP 401; ",
        "unreachable": f"MLflow at {unreachable} is unreachable",
    }

    def explained() -> bool:
        statuses = {i["metadata"]["name"]: i.get("status", {})
                    for i in _items(admin, "upliftmodels", namespace)}
        return all(text in statuses.get(name, {}).get("message", "")
                   for name, text in expected.items())

    admin.wait_for(explained, timeout=60, what="every credentials failure explained")
    statuses = json.dumps(_items(admin, "upliftmodels", namespace))
    events = json.dumps(_items(admin, "events", namespace))
    log = operator.logs()[log_start:]
    assert "you sent" not in statuses  # the proxy's echo is described, never quoted
    for where, text in (("status", statuses), ("events", events), ("operator log", log)):
        assert TOKEN not in text, f"the token is in the {where}"
    assert "Traceback" not in log


def test_the_operator_creates_the_decision_key_once_and_it_goes_with_the_model(
        admin: Kubectl, as_operator: Kubectl, operator: OperatorProcess, versions: Versions,
        seldon: SeldonStandIn, namespace: str) -> None:
    log_start = len(operator.logs())
    admin.apply(_model("keyed"), namespace)
    admin.run("wait", "-n", namespace, "--for=condition=Ready", "--timeout=60s",
              "upliftmodel/keyed")
    model = admin.get("upliftmodel", "keyed", namespace)
    secret = admin.get("secret", "keyed-decision-key", namespace)
    owner = secret["metadata"]["ownerReferences"]
    assert owner == [{"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": "keyed",
                      "uid": model["metadata"]["uid"], "controller": True,
                      "blockOwnerDeletion": True}]
    import base64

    key = base64.b64decode(secret["data"]["key"]).decode()
    assert len(key) == 64 and int(key, 16) >= 0  # 32 random bytes, as hex

    graph = admin.get("seldondeployments.machinelearning.seldon.io", "keyed", namespace)
    env = graph["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "UPLIFT_DECISION_KEY")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "keyed-decision-key", "key": "key"}  # required, not optional

    # A spec change re-applies the graph; the key stays as it was.
    version = secret["metadata"]["resourceVersion"]
    changed = _model("keyed")
    changed["spec"]["serving"]["replicas"] = 3
    admin.apply(changed, namespace)

    def reapplied() -> bool:
        graph = admin.get("seldondeployments.machinelearning.seldon.io", "keyed", namespace)
        return bool(graph["spec"]["predictors"][0]["replicas"] == 3)

    admin.wait_for(reapplied, timeout=60, what="the graph re-applied")
    assert admin.get("secret", "keyed-decision-key", namespace)["metadata"][
        "resourceVersion"] == version
    assert key not in operator.logs()[log_start:]

    for verb, allowed in (("create", "yes"), ("update", "no"), ("patch", "no"), ("delete", "no"),
                          ("list", "no")):
        answer = as_operator.run("auth", "can-i", verb, "secrets", "-n", namespace, check=False)
        assert answer.stdout.strip() == allowed, verb

    admin.run("delete", "upliftmodel", "keyed", "-n", namespace, "--wait=true", "--timeout=60s")
    deadline = time.monotonic() + 90  # the garbage collector follows the owner reference
    while time.monotonic() < deadline:
        if admin.run("get", "secret", "keyed-decision-key", "-n", namespace,
                     check=False).returncode != 0:
            break
        time.sleep(1)
    else:
        raise AssertionError("the decision-key Secret outlived its UpliftModel")
