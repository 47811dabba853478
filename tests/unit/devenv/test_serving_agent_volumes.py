"""The serving agent's kubelet part: ConfigMap volumes laid out and swapped as the kubelet does,
so the runtime's file watch sees every update (docs/dataplane.md, "Campaign settings")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlserver.settings import Settings

from uplift_operator.devenv.mlserver import MlserverProcess
from uplift_operator.devenv.serving_agent import (
    POD_ONLY_ENV,
    ConfigMapMount,
    config_map_mounts,
    local_env,
    predictor_env,
    project,
    secret_mount_paths,
)
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.runtime.reloading import FileWatch


def test_project_swaps_the_data_link_and_the_runtime_watch_sees_each_version(
        tmp_path: Path) -> None:
    root = tmp_path / "campaigns"
    project(root, {"campaigns.json": "one"})
    watch = FileWatch(str(root / "campaigns.json"))
    first = watch.poll()
    assert first is not None and first.text == b"one"
    assert (root / "..data").is_symlink() and (root / "campaigns.json").is_symlink()
    assert os.readlink(root / "campaigns.json") == "..data/campaigns.json"
    project(root, {"campaigns.json": "two!"})
    second = watch.poll()
    assert second is not None and second.text == b"two!"
    versions = [p.name for p in root.iterdir() if p.name.startswith("..") and p.is_dir()
                and not p.is_symlink()]
    assert len(versions) == 1  # the previous version is gone, as the kubelet removes it
    project(root, {"other": "x"})
    assert not (root / "campaigns.json").exists() and (root / "other").read_text() == "x"


def test_the_rendered_predictors_mount_the_campaigns_config_map() -> None:
    owner = Owner("m", "ns", "uid")
    runtime = RuntimeSettings(image="i", registered_model="m", tracking_uri="http://mlflow")
    rendered = SeldonV1Backend().render(owner, runtime, TrafficSplit("1", "2", 10))
    for predictor in rendered["spec"]["predictors"]:
        assert config_map_mounts(predictor) == [
            ConfigMapMount("campaigns", "m-campaigns", "/etc/uplift/campaigns", optional=True)]


def test_a_sub_path_mount_is_not_a_volume_the_kubelet_updates() -> None:
    predictor = {"componentSpecs": [{"spec": {
        "volumes": [{"name": "c", "configMap": {"name": "cm"}}],
        "containers": [{"volumeMounts": [{"name": "c", "mountPath": "/x/f.json",
                                          "subPath": "f.json"}]}]}}]}
    assert config_map_mounts(predictor) == []


def test_a_report_token_file_in_a_secret_volume_is_not_passed_to_the_local_runtime() -> None:
    owner = Owner("m", "ns", "uid")
    runtime = RuntimeSettings(image="i", registered_model="m", tracking_uri="http://mlflow",
                              report_token=("report-secret", "token"))
    rendered = SeldonV1Backend().render(owner, runtime, TrafficSplit("1", "2", 10))
    for predictor in rendered["spec"]["predictors"]:
        assert secret_mount_paths(predictor)  # the graph mounts the token's Secret
        env = predictor_env(predictor)
        # No Secrets here: the runtime starts without a report token, as with ``valueFrom``.
        assert "UPLIFT_REPORT_TOKEN_FILE" not in env
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow"


def test_the_local_runtime_keeps_its_own_ports_and_metrics_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod's ports, metrics endpoint and directory are not the local process's: the agent
    runs several MLServers on one host, each on free ports from its ``settings.json``, and
    scrapes each at ``metrics_url`` (``/metrics``); the rendered ``MLSERVER_METRICS_ENDPOINT``
    would win there (``settings.json`` does not say it)."""
    owner = Owner("m", "ns", "uid")
    runtime = RuntimeSettings(image="i", registered_model="m", tracking_uri="http://mlflow")
    predictor = SeldonV1Backend().render(owner, runtime, TrafficSplit("1"))["spec"][
        "predictors"][0]
    assert set(POD_ONLY_ENV) <= set(predictor_env(predictor))  # rendered for the pod
    env = local_env(predictor)
    assert not set(POD_ONLY_ENV) & set(env) and env["MLSERVER_MODEL_NAME"] == "m"
    server = MlserverProcess("models:/m/1", name="m", env=env, workdir=tmp_path)
    server.write_settings()
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"MLSERVER_{name.upper()}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.parse_file(tmp_path / "settings.json")
    assert (settings.http_port, settings.metrics_port) == (server.http_port, server.metrics_port)
    assert server.metrics_url == (
        f"http://127.0.0.1:{settings.metrics_port}{settings.metrics_endpoint}")
    assert settings.metrics_dir == str(tmp_path / ".metrics")
    server.session.close()
