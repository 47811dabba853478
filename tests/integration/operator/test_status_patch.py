"""The status patch against the real API server: what the operator decides is what is stored,
and the echo of its own write is recognised as its own.

The test writes the status itself, under the operator's identity, through the operator's own
``status_patch`` and ``KubeCluster.patch_status`` (a JSON merge patch), and reads what its write
stored from the API server's answer to it: the session's operator, when an earlier test started
it, reconciles the same Campaign and may write after it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import config as kube_config
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.api.v1alpha1 import GROUP, VERSION
from uplift_operator.domain.status import status_patch
from uplift_operator.handlers.scheduling import Signatures

pytestmark = pytest.mark.integration

if TYPE_CHECKING:
    from uplift_operator.devenv.controlplane import ControlPlane

SAMPLE = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "campaign.yaml"
CAMPAIGN = "spring-email"


def _write(cluster: KubeCluster, namespace: str, desired: dict[str, Any]) -> dict[str, Any]:
    """One pass's write as the PassRunner makes it; the stored status afterwards."""
    return dict(_written(cluster, namespace, desired).get("status") or {})


def _written(cluster: KubeCluster, namespace: str, desired: dict[str, Any]) -> dict[str, Any]:
    """The object as the API server stored it by this write (its answer to the patch), decided
    on the object as read (another writer in between: read and decide again, as a pass does)."""
    for _ in range(10):
        stored = cluster.get(f"{GROUP}/{VERSION}", "campaigns", namespace, CAMPAIGN) or {}
        patch = status_patch(dict(stored.get("status") or {}), desired)
        if not patch:
            return stored
        try:
            return cluster.patch_status(
                f"{GROUP}/{VERSION}", "campaigns", namespace, CAMPAIGN, patch,
                resource_version=str(stored["metadata"]["resourceVersion"]))
        except KubeError as error:
            if error.status != 409:
                raise
    raise AssertionError("the Campaign kept changing under the test's writes")


def test_a_nested_key_that_disappeared_is_removed_from_the_stored_status(
        controlplane: ControlPlane, as_operator: Kubectl, admin: Kubectl,
        namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLE))
    cluster = KubeCluster(kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(controlplane.operator_kubeconfig)))
    ramp = {"phase": "Progressing", "exposurePercent": 5.0,
            "incrementalEffect": {"estimate": 0.0244, "lower": 0.0107, "upper": 0.0382,
                                  "display": "+0.0244 [+0.0107, +0.0382]"}}
    stored = _write(cluster, namespace, ramp)
    assert stored["incrementalEffect"]["lower"] == 0.0107

    # A new ramp's first look: no conversions yet, so an estimate without bounds.
    look = {"phase": "Progressing", "exposurePercent": 5.0,
            "incrementalEffect": {"estimate": 0.0, "display": "+0"}}
    stored = _write(cluster, namespace, look)
    assert stored["incrementalEffect"] == {"estimate": 0, "display": "+0"}  # no stale bound
    assert status_patch(stored, look) is None  # the next identical pass writes nothing


def test_the_echo_of_an_own_write_with_whole_number_floats_is_recognised(
        controlplane: ControlPlane, as_operator: Kubectl, admin: Kubectl,
        namespace: str) -> None:
    admin.run("apply", "-n", namespace, "-f", str(SAMPLE))
    cluster = KubeCluster(kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(controlplane.operator_kubeconfig)))
    key = ("Campaign", namespace, CAMPAIGN)
    signatures = Signatures()
    signatures.changed(key, cluster.get(f"{GROUP}/{VERSION}", "campaigns", namespace,
                                        CAMPAIGN) or {})
    produced = {"phase": "Progressing", "exposurePercent": 5.0, "spend": 0.0,
                "incrementalEffect": {"estimate": 1.0, "display": "+1"}}
    echo = _written(cluster, namespace, produced)  # what the watch event of this write carries
    signatures.produced(key, produced)
    assert repr(echo["status"]["exposurePercent"]) == "5"  # served back as an integer ...
    assert not signatures.changed(key, echo)  # ... and still taken for our own write
