"""The passes' cluster adapter reads the watched kinds from the store the watch handlers feed."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import kube_config

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.handlers import lifecycle

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def test_an_empty_store_at_start_up_is_the_one_the_passes_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    objects = WatchedObjects(["upliftmodels", "seldondeployments"])  # empty: len 0
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces"]), objects)
    assert isinstance(deps.cluster, WatchedCluster) and deps.cluster.objects is objects
