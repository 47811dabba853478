"""``--seldon-controller-id`` (``UPLIFT_SELDON_CONTROLLER_ID``): the ``seldon.io/controller-id``
label of every SeldonDeployment the operator renders, so that a cluster running several Seldon
Core controllers has the one started with that ``CONTROLLER_ID`` reconcile the serving graphs.
Empty by default: no label, as before (a Seldon controller without an id)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import kube_config

from uplift_operator.handlers.lifecycle import dependencies
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import CONTROLLER_ID_LABEL, SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.settings import parse_args

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000004")
RUNTIME = RuntimeSettings(image="runtime:1", registered_model="m", tracking_uri="http://mlflow")
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_no_controller_id_by_default_and_no_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLIFT_SELDON_CONTROLLER_ID", raising=False)
    assert parse_args(["-A"]).seldon_controller_id == ""
    graph = SeldonV1Backend().render(OWNER, RUNTIME, TrafficSplit("1", "2", 10))
    assert CONTROLLER_ID_LABEL not in graph["metadata"]["labels"]


def test_the_flag_or_the_variable_labels_every_rendered_graph(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    monkeypatch.setenv("UPLIFT_SELDON_CONTROLLER_ID", "seldon-team-a")
    config = parse_args(["-A"])
    assert config.seldon_controller_id == "seldon-team-a"
    assert parse_args(["-A", "--seldon-controller-id", "b"]).seldon_controller_id == "b"
    backend = dependencies(config).backend  # what the passes render with
    for split in (TrafficSplit("1"), TrafficSplit("1", "2", 10), TrafficSplit("1", "2", 0)):
        labels = backend.render(OWNER, RUNTIME, split)["metadata"]["labels"]
        assert labels[CONTROLLER_ID_LABEL] == "seldon-team-a"
        assert labels["app.kubernetes.io/managed-by"] == "uplift-operator"


@pytest.mark.parametrize("value", ["-a", "a b", "x" * 64, "team/a"])
def test_a_value_that_is_not_a_label_value_is_a_usage_error(
        value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UPLIFT_SELDON_CONTROLLER_ID", value)
    with pytest.raises(SystemExit) as exited:
        parse_args(["-A"])
    assert exited.value.code == 2
    assert "--seldon-controller-id" in capsys.readouterr().err
