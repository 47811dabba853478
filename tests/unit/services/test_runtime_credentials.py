"""The serving pods' own MLflow credentials (``spec.serving.runtimeCredentials``).

The operator's credentials (``spec.model.credentials``) write back to MLflow (tags, aliases:
EDIT, sometimes MANAGE); the runtime only downloads the model, and it unpickles the artifact
(code), with its Secrets in its environment. With ``runtimeCredentials`` set the pods get that
Secret (a READ-only user) instead, never the operator's; without it they get
``model.credentials`` as before. Driven through ``reconcile`` with the fakes of
``test_upliftmodel.Sim``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import NS, PROBE, SELDON, Sim, reasons

from uplift_operator.adapters.kube import KubeError
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import TimedCache

TOKEN = "tok-9f2c1e7d5b3a"
READER = {"name": "mlflow-reader", "usernameKey": "username", "passwordKey": "password"}
READER_SECRET = {"username": "reader", "password": "r3ad-only-pw"}
READER_ENV = [("MLFLOW_TRACKING_USERNAME", "mlflow-reader", "username"),
              ("MLFLOW_TRACKING_PASSWORD", "mlflow-reader", "password")]
OPERATOR_ENV = [("MLFLOW_TRACKING_TOKEN", "mlflow", "token")]
# Where the pass keeps the runtime Secret's values once checked (``upliftmodel.SecretRead``).
READER_READ = (NS, "mlflow-reader", ("username", "password"), "spec.serving.runtimeCredentials")


def _sim(runtime: dict[str, Any] | None = None, reader: dict[str, str] | None = None) -> tuple[
        Sim, list[Any]]:
    """A model whose operator credentials are Secret mlflow (a token), with ``runtime`` as its
    runtimeCredentials and ``reader`` as that Secret's data; the registry clients' credentials
    as built, in order."""
    sim = Sim()
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow", "tokenKey": "token"}
    sim.cluster.secrets[(NS, "mlflow")] = {"token": TOKEN}
    if runtime is not None:
        sim.body["spec"]["serving"] = {"runtimeCredentials": runtime}
    if reader is not None:
        sim.cluster.secrets[(NS, runtime["name"] if runtime else "mlflow-reader")] = reader
    seen: list[Any] = []

    def registry_for(ref: Any, credentials: Any) -> Any:
        seen.append(credentials)
        return sim.registry

    sim.deps.registry_for = registry_for
    return sim, seen


def _credential_refs(sim: Sim) -> list[list[tuple[str, str, str]]]:
    """Each predictor's MLflow credential variables as rendered: (variable, Secret, key)."""
    return [[(e["name"], e["valueFrom"]["secretKeyRef"]["name"],
              e["valueFrom"]["secretKeyRef"]["key"])
             for e in p["componentSpecs"][0]["spec"]["containers"][0]["env"]
             if e["name"].startswith("MLFLOW_TRACKING_") and "valueFrom" in e]
            for p in sim.cluster.objects[SELDON]["spec"]["predictors"]]


def _secret_names(sim: Sim) -> set[str]:
    """Every Secret an env secretKeyRef or a secret volume of the graph names (what the
    SeldonDeployments admission policy holds to rbac.secretNames and the decision key)."""
    names: set[str] = set()
    for p in sim.cluster.objects[SELDON]["spec"]["predictors"]:
        pod = p["componentSpecs"][0]["spec"]
        for e in pod["containers"][0]["env"]:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        names |= {v["secret"]["secretName"] for v in pod.get("volumes") or [] if "secret" in v}
    return names


def test_the_pods_get_the_runtime_credentials_and_the_operator_keeps_its_own() -> None:
    sim, seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    assert _credential_refs(sim) == [READER_ENV, READER_ENV]
    assert _secret_names(sim) == {"mlflow-reader", "uplift-decision-key"}  # never mlflow
    # The operator still reads and writes MLflow with model.credentials.
    assert seen and all(c is not None and c.authorization() == f"Bearer {TOKEN}" for c in seen)
    assert "r3ad-only-pw" not in repr(sim.cluster.objects[SELDON])  # references, not values


def test_without_runtime_credentials_the_pods_get_the_model_credentials() -> None:
    sim, _seen = _sim()
    sim.with_canary()
    assert _credential_refs(sim) == [OPERATOR_ENV, OPERATOR_ENV]


def test_a_runtime_token_is_rendered_as_the_token_variable() -> None:
    sim, _seen = _sim({"name": "mlflow-reader", "tokenKey": "read-token"},
                      {"read-token": "rd-5e1c9a0b7f"})
    sim.tick()
    assert _credential_refs(sim) == [[("MLFLOW_TRACKING_TOKEN", "mlflow-reader", "read-token")]]


def test_a_missing_runtime_secret_is_invalid_and_the_operators_never_stand_in() -> None:
    """Not there: InvalidSpec naming it, nothing rendered (a first graph with the operator's
    credentials in its place would hand them to the pods); retried, rendered once it is."""
    sim, _seen = _sim(READER)
    result = sim.tick()
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and "InvalidSpec" in reasons(result)
    assert ("spec.serving.runtimeCredentials: Secret 'mlflow-reader' does not exist in "
            "namespace 'shop'") in invalid["message"]
    assert SELDON not in sim.cluster.objects or all(
        refs != OPERATOR_ENV for refs in _credential_refs(sim))
    sim.cluster.secrets[(NS, "mlflow-reader")] = READER_SECRET
    sim.tick(result.requeue_after or 60)
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert _credential_refs(sim) == [READER_ENV]


def test_a_runtime_secret_key_that_does_not_fit_is_named() -> None:
    sim, _seen = _sim(READER, {"username": "reader", "password": "pw\n"})
    sim.tick()
    message = sim.condition("InvalidSpec")["message"]
    assert ("spec.serving.runtimeCredentials: Secret 'mlflow-reader' key 'password' has a "
            "trailing newline around the value") in message
    assert "pw" not in message.replace("password", "")


def test_a_runtime_secret_the_operator_may_not_read_is_invalid() -> None:
    """rbac.secretNames not naming it: the read is refused (403), InvalidSpec: the admission
    policy would refuse a graph naming it, as it admits only the Secrets of that list."""
    sim, _seen = _sim(READER, READER_SECRET)
    values = sim.cluster.secret_values

    def secret_values(namespace: str, name: str, keys: Any) -> dict[str, bytes]:
        if name == "mlflow-reader":
            raise KubeError("secrets \"mlflow-reader\" is forbidden", 403)
        return values(namespace, name, keys)

    sim.cluster.secret_values = secret_values  # type: ignore[method-assign]
    sim.tick()
    assert ("spec.serving.runtimeCredentials: Secret 'mlflow-reader' cannot be read"
            in sim.condition("InvalidSpec")["message"])


def test_setting_runtime_credentials_rolls_the_pods_onto_them() -> None:
    """An edit of it re-renders every predictor's pod spec (Seldon rolls the pods), as a
    model.credentials edit does; taken off again, the pods are back on model.credentials."""
    sim, _seen = _sim()
    sim.with_canary()
    sim.cluster.secrets[(NS, "mlflow-reader")] = READER_SECRET
    sim.body["spec"]["serving"] = {"runtimeCredentials": READER}
    sim.body["metadata"]["generation"] = 2
    applied = len(sim.cluster.applied)
    sim.tick(1)
    sim.tick(1)
    assert len(sim.cluster.applied) > applied
    assert _credential_refs(sim) == [READER_ENV, READER_ENV]
    assert sim.weights() == {"1": 90, "2": 10}
    sim.body["spec"]["serving"] = {}
    sim.body["metadata"]["generation"] = 3
    sim.tick(1)
    sim.tick(1)
    assert _credential_refs(sim) == [OPERATOR_ENV, OPERATOR_ENV]


def test_an_edit_to_a_missing_runtime_secret_keeps_the_graphs_own_through_an_abort() -> None:
    """Edited to a Secret not there yet: InvalidSpec, the graph is left as rendered; an abort
    meanwhile takes the canary off with the credentials the graph has."""
    sim, _seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    before = copy.deepcopy(sim.cluster.objects[SELDON]["spec"])
    sim.body["spec"]["serving"] = {"runtimeCredentials": {**READER, "name": "mlflow-reader-v2"}}
    sim.body["metadata"]["generation"] = 2
    sim.tick(10)
    assert "Secret 'mlflow-reader-v2' does not exist" in sim.condition("InvalidSpec")["message"]
    assert sim.cluster.objects[SELDON]["spec"] == before
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert sim.weights() == {"1": 100} and sim.status["abortedVersion"] == "2"
    assert _credential_refs(sim) == [READER_ENV]


def test_a_deleted_graph_under_an_invalid_spec_comes_back_with_the_runtime_credentials() -> None:
    """No graph to read the settings back from: the runtime credentials, checked, never the
    operator's."""
    sim, _seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    sim.body["spec"] = {**sim.body["spec"], "rollout": {**sim.body["spec"]["rollout"], "gates": [
        *sim.body["spec"]["rollout"]["gates"],
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1}]}}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    del sim.cluster.objects[SELDON]
    sim.tick(60)
    assert _credential_refs(sim) == [READER_ENV, READER_ENV]


def test_a_deleted_graph_with_the_runtime_secret_gone_gets_no_credentials() -> None:
    sim, _seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    sim.body["spec"] = {**sim.body["spec"], "rollout": {**sim.body["spec"]["rollout"], "gates": [
        *sim.body["spec"]["rollout"]["gates"],
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1}]}}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    del sim.cluster.objects[SELDON]
    del sim.cluster.secrets[(NS, "mlflow-reader")]
    sim.deps.credential_reads.discard(READER_READ)
    sim.tick(60)
    assert _credential_refs(sim) == [[], []]  # not the operator's mlflow in their place


def _failing_reads(sim: Sim, failing: str, status: int) -> list[str]:
    """Every read of Secret ``failing`` fails with ``status`` (0: no answer) from now on; the
    names read, in order."""
    values = sim.cluster.secret_values
    reads: list[str] = []

    def secret_values(namespace: str, name: str, keys: Any) -> dict[str, bytes]:
        reads.append(name)
        if name == failing:
            raise KubeError(f"get secret {namespace}/{name}: {status or 'connection reset'}",
                            status)
        return values(namespace, name, keys)

    sim.cluster.secret_values = secret_values  # type: ignore[method-assign]
    return reads


# The API server's failures, not the spec's: 0 (no answer), 5xx, 429.
TRANSIENT = [0, 500, 503, 429]


@pytest.mark.parametrize("status", TRANSIENT)
def test_a_runtime_secret_read_failing_for_now_still_rolls_a_failing_canary_back(
        status: int) -> None:
    """The read failing on the API server's side is no spec problem: the pass measures the
    gates and acts on them (a failing canary rolled back) with the credentials the graph has,
    and reads the Secret again soon; no InvalidSpec, no Warning."""
    sim, _seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS)  # 15 min on
    reads = _failing_reads(sim, "mlflow-reader", status)
    sim.metrics.values[PROBE] = 5.0
    asked = len(sim.metrics.asked)
    result = sim.tick(60)
    assert "mlflow-reader" in reads and len(sim.metrics.asked) > asked  # the gates measured
    assert "RolledBack" in reasons(result) and "InvalidSpec" not in reasons(result)
    assert sim.weights() == {"1": 100} and sim.status.get("canaryVersion") is None
    assert all(c["status"] != "True" for c in sim.status["conditions"]
               if c["type"] == "InvalidSpec")
    assert _credential_refs(sim) == [READER_ENV]  # as the graph had them
    assert result.requeue_after is not None and result.requeue_after <= 10.0


@pytest.mark.parametrize("status", [0, 503])
def test_runtime_credentials_set_while_their_secret_cannot_be_read_wait(status: int) -> None:
    """Just set, the Secret not readable for now: the graph keeps what it has (not rendered
    unchecked, no InvalidSpec, the canary goes on); once read, the pods roll onto it."""
    sim, _seen = _sim()
    sim.with_canary()
    sim.cluster.secrets[(NS, "mlflow-reader")] = READER_SECRET
    sim.body["spec"]["serving"] = {"runtimeCredentials": READER}
    sim.body["metadata"]["generation"] = 2
    values = sim.cluster.secret_values
    _failing_reads(sim, "mlflow-reader", status)
    result = sim.tick(1)
    assert "InvalidSpec" not in reasons(result)
    assert _credential_refs(sim) == [OPERATOR_ENV, OPERATOR_ENV]
    assert sim.status["canaryVersion"] == "2" and sim.weights() == {"1": 90, "2": 10}
    sim.cluster.secret_values = values  # type: ignore[method-assign]
    sim.tick(result.requeue_after or 10)
    sim.tick(1)
    assert _credential_refs(sim) == [READER_ENV, READER_ENV]


@pytest.mark.parametrize("status", [0, 503])
def test_a_report_secret_read_failing_for_now_keeps_the_graphs_token(status: int) -> None:
    """The report token's read failing on the API server's side: the graph's reference is
    rendered as it is, the gates still act; no InvalidSpec."""
    sim, _seen = _sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": "rep-7d1f0c9a4b2e6f3d"}
    sim.with_canary()
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS)  # 15 min on
    _failing_reads(sim, "report-senders", status)
    sim.metrics.values[PROBE] = 5.0
    result = sim.tick(60)
    assert "RolledBack" in reasons(result) and "InvalidSpec" not in reasons(result)
    assert sim.weights() == {"1": 100}
    volumes = sim.cluster.objects[SELDON]["spec"]["predictors"][0]["componentSpecs"][0][
        "spec"]["volumes"]
    assert [v["secret"]["secretName"] for v in volumes if v["name"] == "report-token"] == [
        "report-senders"]


def _waited_for(sim: Sim, field_: str) -> None:
    """The graph not created while a Secret read fails on the API server's side is said as an
    apply the API server failed (``ServingApplied`` False ``ApplyFailed``: Progressing within
    the grace), not as the spec's fault. Before: InvalidSpec True, Ready False InvalidSpec,
    Degraded at once (and Argo CD's health Degraded: a sync wave failed on an API blip)."""
    assert sim.condition("InvalidSpec")["status"] == "False"
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    assert "is not there and is not created until it is read" in applied["message"]
    assert f"{field_}: Secret" in applied["message"] and "cannot be read now" in applied["message"]
    ready = sim.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WaitingForServing")
    assert sim.status["phase"] == "Progressing"


def test_no_graph_is_created_while_the_report_secret_cannot_be_read() -> None:
    """No graph yet: none is created with the token unchecked, nor without it (its endpoints
    would be open); created once the Secret is read. Waited for, Progressing, meanwhile."""
    sim, _seen = _sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": "rep-7d1f0c9a4b2e6f3d"}
    values = sim.cluster.secret_values
    _failing_reads(sim, "report-senders", 503)
    result = sim.tick()
    assert SELDON not in sim.cluster.objects
    _waited_for(sim, "spec.serving.reportCredentials")
    assert "InvalidSpec" not in reasons(result)
    sim.cluster.secret_values = values  # type: ignore[method-assign]
    sim.tick(result.requeue_after or 10)
    assert SELDON in sim.cluster.objects


def test_runtime_credentials_without_a_usable_key_set_are_named() -> None:
    """A username without its password (the CRD's rules refuse it; a resource stored under an
    older CRD may have it): the pass's own check names it, with nothing read."""
    sim = Sim()
    spec = UpliftModelSpec.model_validate({**sim.body["spec"], "serving": {
        "runtimeCredentials": {"name": "mlflow-reader", "usernameKey": "u"}}})
    reads = _failing_reads(sim, "none", 0)
    env, problems, unread = upliftmodel._runtime_credential_env(spec, NS, sim.deps)
    assert (env, unread, reads) == (None, None, [])
    assert problems == ["spec.serving.runtimeCredentials: set tokenKey, or usernameKey and "
                        "passwordKey"]


def test_a_secret_read_checked_for_one_field_is_checked_again_for_another() -> None:
    """One Secret and key as model.credentials' token and as the report token: the report
    token's rule (16 characters at least) is applied though model.credentials' check passed
    and kept the values."""
    sim = Sim()
    sim.body["spec"]["model"]["credentials"] = {"name": "shared", "tokenKey": "token"}
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "shared", "key": "token"}}
    sim.cluster.secrets[(NS, "shared")] = {"token": "short-tok"}
    sim.tick()
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert ("spec.serving.reportCredentials: Secret 'shared' key 'token': the report token "
            "must have at least 16 characters") in invalid["message"]


def test_no_graph_is_created_while_the_runtime_secret_cannot_be_read() -> None:
    """No graph yet: none is created with the runtime credentials unchecked, nor with none
    (its pods could not load the model); created with them once the Secret is read."""
    sim, _seen = _sim(READER, READER_SECRET)
    values = sim.cluster.secret_values
    _failing_reads(sim, "mlflow-reader", 0)
    result = sim.tick()
    assert SELDON not in sim.cluster.objects
    _waited_for(sim, "spec.serving.runtimeCredentials")
    assert "InvalidSpec" not in reasons(result)
    sim.tick(60)  # still failing within the grace: waited for, still Progressing
    _waited_for(sim, "spec.serving.runtimeCredentials")
    sim.tick(300)  # past it: Degraded, as any apply the API server keeps failing
    assert sim.status["phase"] == "Degraded"
    sim.cluster.secret_values = values  # type: ignore[method-assign]
    sim.tick(result.requeue_after or 10)
    assert _credential_refs(sim) == [READER_ENV]


def test_a_deleted_graph_is_not_created_again_while_the_runtime_secret_cannot_be_read() -> None:
    """Deleted by hand under an invalid spec, the runtime Secret's read failing for now: not
    created with no credentials (its pods could not load the model) but once it is read."""
    sim, _seen = _sim(READER, READER_SECRET)
    sim.with_canary()
    sim.body["spec"] = {**sim.body["spec"], "rollout": {**sim.body["spec"]["rollout"], "gates": [
        *sim.body["spec"]["rollout"]["gates"],
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1}]}}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    del sim.cluster.objects[SELDON]
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS)
    values = sim.cluster.secret_values
    _failing_reads(sim, "mlflow-reader", 503)
    sim.tick(60)
    assert SELDON not in sim.cluster.objects
    sim.cluster.secret_values = values  # type: ignore[method-assign]
    sim.tick(60)
    assert _credential_refs(sim) == [READER_ENV, READER_ENV]
