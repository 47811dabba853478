"""An UpliftModel never takes over what it does not control (kubebuilder's ``IsControlledBy``).

Against the real control plane and garbage collector: a SeldonDeployment of the model's name
made by someone else first is refused (``ServingConflict``, nothing applied, the object
untouched: no field of it is the operator's) until it goes; an UpliftModel deleted and created
again under the same name waits for its predecessor's graph and decision-key Secret to be
collected (held here by a finalizer) before it applies its own, and never uses the old key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.lifecycle.conftest import NAME, Bench

pytestmark = pytest.mark.integration

SDEP = "seldondeployments.machinelearning.seldon.io"
SECRET = f"{NAME}-decision-key"
HOLD = "test.uplift.dev/hold"  # a finalizer: the garbage collector cannot finish meanwhile


def _foreign_graph(namespace: str) -> dict[str, Any]:
    """Someone else's SeldonDeployment of the model's name (no owner reference)."""
    return {
        "apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
        "metadata": {"name": NAME, "namespace": namespace, "labels": {"team": "someone-else"}},
        "spec": {"protocol": "v2", "predictors": [{
            "name": "theirs", "replicas": 1, "traffic": 100,
            "annotations": {"version": "theirs"},
            "componentSpecs": [{"spec": {"containers": [
                {"name": "classifier", "image": "registry.example/someone/else:1"}]}}],
            "graph": {"name": "classifier", "type": "MODEL", "children": []}}]},
    }


def _condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})


def _managers(obj: dict[str, Any]) -> set[str]:
    return {str(entry.get("manager")) for entry in obj["metadata"].get("managedFields", [])}


def _controller_uid(obj: dict[str, Any]) -> str | None:
    return next((str(r["uid"]) for r in obj["metadata"].get("ownerReferences", [])
                 if r.get("controller")), None)


def _warnings(bench: Bench, reason: str) -> int:
    return sum(int(e.get("count") or 1) for e in bench.events()
               if e["reason"] == reason and e["involvedObject"].get("name") == NAME)


def test_someone_elses_seldondeployment_is_refused_and_left_untouched(bench: Bench) -> None:
    admin, namespace = bench.admin, bench.namespace
    admin.apply(_foreign_graph(namespace))
    before = admin.get(SDEP, NAME, namespace)
    bench.apply()
    status = bench.wait(lambda s: _condition(s, "ServingApplied").get("reason")
                        == "ServingConflict", "ServingApplied=False, ServingConflict")
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "ServingConflict")
    assert status["phase"] == "Degraded"
    assert (f"SeldonDeployment {namespace}/{NAME} exists and is not controlled by this "
            "UpliftModel (no controller): nothing applied") in status["message"]
    assert "stableVersion" not in status  # nothing decided on someone else's graph
    bench.posted("ServingConflict")

    looked = time.time()
    bench.wait_for_passes(looked)  # passes ran since: still refused, said once
    after = admin.get(SDEP, NAME, namespace)
    assert after["spec"] == before["spec"]
    assert after["metadata"].get("ownerReferences") is None
    assert after["metadata"]["labels"] == {"team": "someone-else"}
    assert "uplift-operator" not in _managers(after)  # no field of it is the operator's
    assert admin.run("get", "secret", SECRET, "-n", namespace, check=False).returncode != 0
    assert _warnings(bench, "ServingConflict") == 1

    # Its owner deletes it: the model's next look (no event reaches it) serves its own.
    admin.run("delete", SDEP, NAME, "-n", namespace, "--wait=true")
    status = bench.wait_healthy("1", timeout=90)
    assert _condition(status, "ServingApplied")["reason"] == "Applied"
    model = admin.get("upliftmodel", NAME, namespace)
    assert _controller_uid(admin.get(SDEP, NAME, namespace)) == model["metadata"]["uid"]


@pytest.fixture
def held(bench: Bench) -> Iterator[list[tuple[str, str]]]:
    """Objects given the ``HOLD`` finalizer by the test; it is taken off them at the end (a
    namespace with a held object would never go)."""
    objects: list[tuple[str, str]] = []
    yield objects
    for kind, name in objects:
        bench.admin.run("patch", kind, name, "-n", bench.namespace, "--type=merge",
                        "-p", '{"metadata":{"finalizers":null}}', check=False)


def _hold(bench: Bench, held: list[tuple[str, str]], kind: str, name: str) -> None:
    bench.admin.run("patch", kind, name, "-n", bench.namespace, "--type=merge",
                    "-p", f'{{"metadata":{{"finalizers":["{HOLD}"]}}}}')
    held.append((kind, name))


def _release(bench: Bench, kind: str, name: str) -> None:
    bench.admin.run("patch", kind, name, "-n", bench.namespace, "--type=merge",
                    "-p", '{"metadata":{"finalizers":null}}')


def test_a_recreated_model_waits_for_its_predecessors_graph_and_key(
        bench: Bench, held: list[tuple[str, str]]) -> None:
    admin, namespace = bench.admin, bench.namespace
    bench.apply()
    bench.wait_healthy("1")
    old_uid = admin.get("upliftmodel", NAME, namespace)["metadata"]["uid"]
    old_graph = admin.get(SDEP, NAME, namespace)
    old_key = admin.get("secret", SECRET, namespace)["data"]["key"]
    # The garbage collector will mark both deleted, but cannot finish until the test says.
    _hold(bench, held, SDEP, NAME)
    _hold(bench, held, "secret", SECRET)
    admin.run("delete", "upliftmodel", NAME, "-n", namespace, "--wait=true", "--timeout=60s")
    bench.apply()  # the same name again: a new uid
    new_uid = admin.get("upliftmodel", NAME, namespace)["metadata"]["uid"]
    assert new_uid != old_uid

    status = bench.wait(lambda s: _condition(s, "ServingApplied").get("reason")
                        == "PredecessorBeingDeleted", "held by the predecessor's graph")
    assert status["phase"] == "Progressing"
    assert status["message"].startswith(
        f"waiting for SeldonDeployment {namespace}/{NAME} to go: it is controlled by "
        f"UpliftModel {NAME} (uid {old_uid})")
    graph = admin.get(SDEP, NAME, namespace)
    assert graph["metadata"].get("deletionTimestamp")  # the collector is at it
    assert graph["metadata"]["uid"] == old_graph["metadata"]["uid"]
    assert _controller_uid(graph) == old_uid  # not taken over
    assert graph["spec"] == old_graph["spec"]

    _release(bench, SDEP, NAME)  # the graph goes; the old key is still there
    status = bench.wait(lambda s: status_says(s, f"waiting for Secret {namespace}/{SECRET}"),
                        "held by the predecessor's decision key")
    assert bench.seldon() is None, "no graph applied while its key would go"

    _release(bench, "secret", SECRET)
    status = bench.wait_healthy("1", timeout=90)
    graph = admin.get(SDEP, NAME, namespace)
    secret = admin.get("secret", SECRET, namespace)
    assert _controller_uid(graph) == new_uid and _controller_uid(secret) == new_uid
    assert graph["metadata"]["uid"] != old_graph["metadata"]["uid"]
    assert secret["data"]["key"] != old_key  # a key of its own, not one about to go
    assert len(base64.b64decode(secret["data"]["key"])) == 64
    assert _warnings(bench, "ServingConflict") == 0  # held, never refused


def status_says(status: dict[str, Any], text: str) -> bool:
    return str(status.get("message", "")).startswith(text)


def test_a_decision_key_made_by_someone_else_refuses_a_new_model(bench: Bench) -> None:
    admin, namespace = bench.admin, bench.namespace
    admin.run("create", "secret", "generic", SECRET, "-n", namespace,
              "--from-literal=key=someone-elses-key-0123456789abcdef")
    bench.apply()
    status = bench.wait(lambda s: _condition(s, "Ready").get("reason") == "ServingConflict",
                        "Ready=False, ServingConflict")
    assert (f"Secret {namespace}/{SECRET} exists and is not controlled by this UpliftModel "
            "(no controller)") in status["message"]
    assert bench.seldon() is None, "nothing applied"
    secret = admin.get("secret", SECRET, namespace)
    assert secret["metadata"].get("ownerReferences") is None
    admin.run("delete", "secret", SECRET, "-n", namespace)
    bench.wait_for_passes(time.time())  # woken: the model makes its own key and serves
    bench.wait_healthy("1", timeout=60)
    model = admin.get("upliftmodel", NAME, namespace)
    assert _controller_uid(admin.get("secret", SECRET, namespace)) == model["metadata"]["uid"]
