"""lifecycle.dependencies: the passes' cluster adapter reads the watched kinds from the store the
watch handlers feed; the registry factory says where a missing tracking URI is set."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.config import kube_config

from uplift_operator import settings
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
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


def test_without_a_tracking_uri_the_registry_factory_says_where_to_set_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ValueError the UpliftModel pass turns into its status message and Warning event
    (tests/unit/services/test_upliftmodel.py) names every place a tracking URI can come from."""
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    monkeypatch.delenv("UPLIFT_MLFLOW_TRACKING_URI", raising=False)
    deps = lifecycle.dependencies(settings.parse_args(["--all-namespaces"]))
    assert deps.default_tracking_uri is None
    ref = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion"})
    with pytest.raises(ValueError, match="no MLflow tracking URI") as refused:
        deps.registry_for(ref, None)
    for place in ("spec.model.trackingUri", "--mlflow-tracking-uri", "UPLIFT_MLFLOW_TRACKING_URI",
                  "mlflow.trackingUri"):
        assert place in str(refused.value)
    pinned = ModelReference.model_validate({"registeredModel": "churn", "alias": "champion",
                                            "trackingUri": "http://mlflow.test:5000"})
    assert deps.registry_for(pinned, None) is not None
