"""SeldonDeployment rendering against golden files (``UPDATE_GOLDEN=1`` rewrites them)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.render import campaigns, decision_key, seldon
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend, deployment_names
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.runtime import drain

GOLDEN = Path(__file__).parent / "golden"
OWNER = Owner(name="hillstrom-uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000001")
RUNTIME = RuntimeSettings(
    image="ghcr.io/uplift-dev/uplift-runtime:0.1.0", registered_model="hillstrom-uplift",
    tracking_uri="http://mlflow.mlflow.svc:5000", replicas=2, holdout_fraction=0.1,
    unit_key="customer_id", salt="growth/hillstrom-uplift", treatments=("mens-e-mail", "womens-e-mail"))
BACKEND = SeldonV1Backend()

CASES = {
    "stable-only": (RUNTIME, TrafficSplit("3")),
    "canary-25": (RUNTIME, TrafficSplit("3", "4", 25)),
    "canary-with-credentials-and-resources": (
        RuntimeSettings(**{**RUNTIME.__dict__,
                           "credential_env": (("MLFLOW_TRACKING_USERNAME", "mlflow", "user"),
                                              ("MLFLOW_TRACKING_PASSWORD", "mlflow", "password")),
                           "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}},
                           "service_account_name": "uplift-serving"}),
        TrafficSplit("3", "4", 100)),
    "canary-with-report-token": (
        RuntimeSettings(**{**RUNTIME.__dict__, "report_token": ("report-senders", "token")}),
        TrafficSplit("3", "4", 25)),
}


@pytest.mark.parametrize("case", CASES)
def test_render_matches_golden(case: str) -> None:
    runtime, split = CASES[case]
    rendered = yaml.safe_dump(BACKEND.render(OWNER, runtime, split), sort_keys=False)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert rendered == path.read_text(), f"golden {path.name} differs; UPDATE_GOLDEN=1 to rewrite"


@pytest.mark.parametrize("split", [TrafficSplit("3"), TrafficSplit("3", "4", 10),
                                   TrafficSplit("3", "4", 100), TrafficSplit("3", "4", 0)])
def test_traffic_sums_to_100_with_one_predictor_per_version(split: TrafficSplit) -> None:
    predictors = BACKEND.render(OWNER, RUNTIME, split)["spec"]["predictors"]
    assert sum(p["traffic"] for p in predictors) == 100
    versions = [p["annotations"]["version"] for p in predictors]
    assert versions == [v for v in (split.stable_version, split.canary_version) if v]
    assert [p["name"] for p in predictors] == [f"v{v}" for v in versions]


def test_owner_reference_is_a_controller_reference() -> None:
    meta = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3"))["metadata"]
    assert meta["ownerReferences"] == [{
        "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": "hillstrom-uplift",
        "uid": OWNER.uid, "controller": True, "blockOwnerDeletion": True}]


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"stable_version": "3", "canary_weight": 10}, "without a canary version"),
    ({"stable_version": "3", "canary_version": "3", "canary_weight": 10}, "same version"),
    ({"stable_version": "3", "canary_version": "4", "canary_weight": 101}, "outside"),
])
def test_invalid_splits_are_refused(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TrafficSplit(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "ready", "failed", "message"), [
    ({"state": "Available"}, True, False, "SeldonDeployment Available"),
    ({"state": "Creating"}, False, False, "SeldonDeployment Creating"),
    ({"state": "Failed", "description": "Deployment is no longer progressing and not available."},
     False, True, "SeldonDeployment Failed: Deployment is no longer progressing and not available."),
    ({}, False, False, "SeldonDeployment has no status yet"),
])
def test_observe_reads_seldon_state(status: dict[str, str], ready: bool, failed: bool,
                                    message: str) -> None:
    child = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 10))
    # Available as Seldon writes it: each predictor's Deployment available (test_seldon_status).
    child["status"] = {**seldon_status(child, status["state"]), **status} if status else {}
    state = BACKEND.observe(child, TrafficSplit("3", "4", 10))
    assert (state.ready, state.failed, state.message) == (ready, failed, message)
    if ready:
        assert state.ready_versions == {"3", "4"}


@pytest.mark.parametrize("owner", [OWNER, Owner(name="a" * 40, namespace="growth", uid="u")])
def test_a_stable_predictor_serves_while_the_canarys_pods_start(owner: Owner) -> None:
    """Seldon says Creating for the whole graph while a canary's pods start; its
    deploymentStatus, keyed by the Deployment names Seldon gives (md5-hashed past 63
    characters), says the stable's pods are available: the stable serves, only the canary is
    not ready."""
    child = BACKEND.render(owner, RUNTIME, TrafficSplit("3", "4", 0))
    stable, canary = child["spec"]["predictors"]
    [stable_name] = deployment_names(owner.name, stable)[:1]
    expected = f"{owner.name}-v3-0-{owner.name}"
    assert stable_name == (expected if len(expected) <= 63 else
                           "seldon-" + hashlib.md5(expected.encode()).hexdigest())
    child["status"] = {"state": "Creating", "deploymentStatus": {
        stable_name: {"name": stable_name, "replicas": 2, "availableReplicas": 2,
                      "status": "Available"},
        deployment_names(owner.name, canary)[0]: {"replicas": 2, "availableReplicas": 0}}}
    state = BACKEND.observe(child, TrafficSplit("3", "4", 0))
    assert not state.ready and state.ready_versions == frozenset()
    assert state.serving_versions == {"3"}


def test_observe_without_child() -> None:
    assert not BACKEND.observe(None, TrafficSplit("3")).ready


@pytest.mark.parametrize("case", CASES)
def test_runtime_runs_one_process_with_its_metrics_dir_on_an_empty_dir(case: str) -> None:
    # The runtime needs MLSERVER_PARALLEL_WORKERS=0; MLServer's own default would write ./.metrics
    # into the root-owned /app as uid 10001 (PermissionError, issue #12).
    runtime, split = CASES[case]
    for predictor in BACKEND.render(OWNER, runtime, split)["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MLSERVER_PARALLEL_WORKERS"] == "0"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = mounts[env["MLSERVER_METRICS_DIR"]]
        assert {"name": volume, "emptyDir": {}} in pod["volumes"]


def test_runtime_pods_get_no_api_token_and_the_shared_decision_key() -> None:
    """Every predictor's pod: no service-account token; the key from the model's Secret."""
    for predictor in BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        assert pod["automountServiceAccountToken"] is False
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert env["UPLIFT_DECISION_KEY"]["valueFrom"]["secretKeyRef"] == {
            "name": "hillstrom-uplift-decision-key", "key": "key"}


@pytest.mark.parametrize("wait", [drain.DEFAULT_WAIT_SECONDS, 65])
def test_a_stopping_runtime_pod_drains_its_pending_cohorts_within_its_grace_period(
        wait: int) -> None:
    """The hook waits what the operator was told (its scrape interval + 5 s), and the grace
    period leaves MLServer its shutdown after that wait."""
    runtime = RuntimeSettings(**{**RUNTIME.__dict__, "drain_wait_seconds": int(wait)})
    for predictor in BACKEND.render(OWNER, runtime, TrafficSplit("3", "4", 25))["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        (container,) = pod["containers"]
        assert container["lifecycle"]["preStop"]["exec"]["command"] == [
            "python", "-m", drain.__name__]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["UPLIFT_DRAIN_WAIT_SECONDS"] == str(int(wait))
        assert pod["terminationGracePeriodSeconds"] == wait + 30


def test_the_decision_key_secret_is_owned_by_the_model() -> None:
    secret = decision_key.decision_key_secret(OWNER, "00ff" * 16)
    assert secret == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "hillstrom-uplift-decision-key", "namespace": "growth",
                     "labels": {"app.kubernetes.io/managed-by": "uplift-operator",
                                "app.kubernetes.io/name": "hillstrom-uplift",
                                "uplift.dev/model": "hillstrom-uplift"},
                     "ownerReferences": [{"apiVersion": "uplift.dev/v1alpha1",
                                          "kind": "UpliftModel", "name": "hillstrom-uplift",
                                          "uid": OWNER.uid, "controller": True,
                                          "blockOwnerDeletion": True}]},
        "type": "Opaque", "stringData": {"key": "00ff" * 16}}


@pytest.mark.parametrize("case", CASES)
def test_every_predictor_mounts_the_campaigns_config_map_as_a_directory(case: str) -> None:
    """The kubelet updates a ConfigMap volume only when it is mounted whole (never subPath);
    UPLIFT_CAMPAIGNS_FILE points at the key inside the mounted directory."""
    runtime, split = CASES[case]
    for predictor in BACKEND.render(OWNER, runtime, split)["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["UPLIFT_CAMPAIGNS_FILE"] == f"{campaigns.MOUNT_DIR}/{campaigns.DATA_KEY}"
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == campaigns.MOUNT_DIR]
        assert "subPath" not in mount and mount["readOnly"] is True
        # optional: the operator writes it once it has something to say (a Campaign, a split)
        assert {"name": mount["name"], "configMap": {"name": "hillstrom-uplift-campaigns",
                                                     "optional": True}} in pod["volumes"]


def test_the_drain_waits_defaults_agree() -> None:
    """The hook's own default (no env), the render's and the operator's (30 s scrapes + 5)."""
    from uplift_operator.handlers.lifecycle import DRAIN_SCRAPE_SLACK
    from uplift_operator.services.upliftmodel import Dependencies
    from uplift_operator.settings import OperatorConfig

    assert drain.DEFAULT_WAIT_SECONDS == RuntimeSettings.drain_wait_seconds \
        == Dependencies.runtime_drain_wait \
        == OperatorConfig.prometheus_scrape_interval + DRAIN_SCRAPE_SLACK


def test_the_report_token_is_the_named_secrets_key_alone_in_a_volume_on_every_predictor(
) -> None:
    """spec.serving.reportCredentials → that Secret's key alone (items) in a secret volume,
    mounted read-only as a directory (a subPath mount is never updated), and
    UPLIFT_REPORT_TOKEN_FILE naming the file in it, on the stable and the canary alike (a
    report reaches either): the runtime re-reads it when the kubelet refreshes the volume, so a
    rotation needs no restart. The token itself is in no env entry. None rendered without it,
    so the endpoints stay as before."""
    from uplift_operator.runtime.config import REPORT_TOKEN_ENV, REPORT_TOKEN_FILE_ENV

    assert REPORT_TOKEN_FILE_ENV == seldon.REPORT_TOKEN_FILE_ENV
    assert REPORT_TOKEN_ENV == seldon.REPORT_TOKEN_ENV
    runtime = RuntimeSettings(**{**RUNTIME.__dict__, "report_token": ("senders", "bearer")})
    child = BACKEND.render(OWNER, runtime, TrafficSplit("3", "4", 25))
    for predictor in child["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env[REPORT_TOKEN_FILE_ENV] == {"name": REPORT_TOKEN_FILE_ENV,
                                              "value": "/etc/uplift/report-token/token"}
        assert REPORT_TOKEN_ENV not in env
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["report-token"] == {"name": "report-token", "secret": {
            "secretName": "senders", "items": [{"key": "bearer", "path": "token"}]}}
        mount = next(m for m in container["volumeMounts"] if m["name"] == "report-token")
        assert mount == {"name": "report-token", "mountPath": "/etc/uplift/report-token",
                         "readOnly": True}
        assert env[REPORT_TOKEN_FILE_ENV]["value"].startswith(mount["mountPath"] + "/")
        assert not any("subPath" in m for m in container["volumeMounts"])
    assert BACKEND.report_token(child) == ("senders", "bearer")
    plain = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))
    for predictor in plain["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        names = {e["name"] for e in pod["containers"][0]["env"]}
        assert not names & {REPORT_TOKEN_ENV, REPORT_TOKEN_FILE_ENV}
        assert not any("secret" in v for v in pod["volumes"])
    assert BACKEND.report_token(plain) is None
    assert BACKEND.report_token(None) is None


def test_the_report_token_reads_back_from_a_graph_an_earlier_operator_rendered() -> None:
    """Operators before the token file rendered UPLIFT_REPORT_TOKEN by secretKeyRef: an
    invalid spec's pass on such a graph keeps that reference (now rendered as the volume)."""
    runtime = RuntimeSettings(**{**RUNTIME.__dict__, "report_token": ("senders", "bearer")})
    earlier = BACKEND.render(OWNER, RUNTIME, TrafficSplit("3", "4", 25))
    for predictor in earlier["spec"]["predictors"]:
        predictor["componentSpecs"][0]["spec"]["containers"][0]["env"].append(
            {"name": "UPLIFT_REPORT_TOKEN",
             "valueFrom": {"secretKeyRef": {"name": "senders", "key": "bearer"}}})
    assert BACKEND.report_token(earlier) == ("senders", "bearer")
    kept = BACKEND.render(OWNER, RuntimeSettings(**{**RUNTIME.__dict__, "report_token":
                                                    BACKEND.report_token(earlier)}),
                          TrafficSplit("3", "4", 25))
    assert kept == BACKEND.render(OWNER, runtime, TrafficSplit("3", "4", 25))
    assert kept != earlier  # the pod template changes: the graph re-renders once


@pytest.mark.parametrize("case", CASES)
def test_the_credential_env_reads_back_as_rendered_so_rendering_it_again_changes_nothing(
        case: str) -> None:
    """What a pass renders while the spec's credentials Secret cannot be read: the graph's own,
    in order, without the decision key or a report token (its own Secret references)."""
    runtime, split = CASES[case]
    graph = BACKEND.render(OWNER, runtime, split)
    assert BACKEND.credential_env(graph) == runtime.credential_env
    again = RuntimeSettings(**{**runtime.__dict__, "credential_env": BACKEND.credential_env(graph)})
    assert BACKEND.render(OWNER, again, split) == graph
    assert BACKEND.credential_env(None) == ()


@pytest.mark.parametrize("case", CASES)
def test_the_drain_token_file_is_on_the_runtime_containers_own_empty_dir(case: str) -> None:
    """The hook and the runtime find the file by the same variable; it lies on an emptyDir no
    other container of the pod mounts (a sidecar forwarding from loopback cannot read it)."""
    runtime, split = CASES[case]
    assert seldon.DRAIN_TOKEN_FILE_ENV == drain.TOKEN_FILE_ENV
    for predictor in BACKEND.render(OWNER, runtime, split)["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        path = env[drain.TOKEN_FILE_ENV]
        mounts = [m for m in container["volumeMounts"]
                  if path.startswith(m["mountPath"].rstrip("/") + "/")]
        assert [m["name"] for m in mounts] == [seldon.TMP_VOLUME]
        assert not mounts[0].get("readOnly")
        assert {"name": seldon.TMP_VOLUME, "emptyDir": {}} in pod["volumes"]


@pytest.mark.parametrize("fraction", [0.9999999, 0.1234567, 1e-07, 0.1, 0.05])
def test_the_holdout_fraction_reaches_the_runtime_exactly(fraction: float) -> None:
    runtime = RuntimeSettings(**{**RUNTIME.__dict__, "holdout_fraction": fraction})
    rendered = BACKEND.render(OWNER, runtime, TrafficSplit("3"))
    container = rendered["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert float(env["UPLIFT_HOLDOUT_FRACTION"]) == fraction
