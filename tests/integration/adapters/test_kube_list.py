"""``KubeCluster.list_uids`` (the existence audit's LIST, ``handlers.existence``) against the real
API server, as the operator's identity: the metadata-only answer of a custom resource parses,
every page is read, a deleted object is absent at once, and a label selector selects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.handlers.campaigns_file import CAMPAIGNS_FILE_SELECTOR

pytestmark = pytest.mark.integration

SAMPLE_CAMPAIGN = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
API = "uplift.dev/v1alpha1"


def test_the_campaigns_uids_page_by_page_and_a_deleted_one_absent(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    sample = yaml.safe_load(SAMPLE_CAMPAIGN.read_text())
    names = [f"c{index}" for index in range(5)]
    admin.apply([{**sample, "metadata": {"name": name}} for name in names], namespace)
    uids = {admin.get("campaign", name, namespace)["metadata"]["uid"] for name in names}
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig))
    answers: list[str] = []
    call_api = api.call_api

    def recorded(*args: Any, **kwargs: Any) -> Any:
        response = call_api(*args, **kwargs)
        response.read()  # kept: the adapter's read() returns it again
        answers.append(json.loads(response.data)["kind"])
        return response

    api.call_api = recorded
    cluster = KubeCluster(api)

    assert cluster.list_uids(API, "campaigns", namespace, page_size=2) == uids
    assert len(answers) == 3  # 5 objects, 2 a page
    assert answers == ["PartialObjectMetadataList"] * 3  # metadata only: no spec, no status
    assert uids <= cluster.list_uids(API, "campaigns")  # every namespace
    assert cluster.list_uids(API, "upliftmodels", namespace) == set()

    admin.run("delete", "campaign", "c0", "-n", namespace, "--wait=true")
    remaining = cluster.list_uids(API, "campaigns", namespace, page_size=2)
    assert len(remaining) == 4 and remaining < uids


def test_a_label_selected_list_has_the_campaigns_files_only(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    """The audit of the children kept in memory lists with its watch's selector: the operator's
    campaigns ConfigMaps, not a team's own ConfigMap (of a model's file name or any other)."""
    def config_map(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}

    ours = {"app.kubernetes.io/managed-by": "uplift-operator", "uplift.dev/model": "m"}
    admin.apply([config_map("m-campaigns", ours),
                 config_map("n-campaigns", {}),  # a team's own, under a model's file name
                 config_map("half", {"app.kubernetes.io/managed-by": "uplift-operator"})],
                namespace)
    uid = admin.get("configmap", "m-campaigns", namespace)["metadata"]["uid"]
    cluster = KubeCluster(config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig)))
    assert cluster.list_uids("v1", "configmaps", namespace,
                             label_selector=CAMPAIGNS_FILE_SELECTOR) == {uid}
    assert uid in cluster.list_uids("v1", "configmaps", label_selector=CAMPAIGNS_FILE_SELECTOR)
