"""The operator's identity has exactly the generated RBAC; peering keeps a second replica idle."""

from __future__ import annotations

import urllib.request

import pytest
from tests.support.kube import Kubectl, OperatorProcess

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import ControlPlane

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("verb", "resource", "all_namespaces"), [
    ("list", "secrets", True),
    # it lists and watches its own campaigns ConfigMaps (a label selector: RBAC cannot narrow
    # that), creates and patches them; it never deletes one (the garbage collector does)
    ("delete", "configmaps", False),
    ("list", "pods", True),
    ("delete", "upliftmodels.uplift.dev", False),
    ("create", "upliftmodels.uplift.dev", False),
    ("delete", "namespaces", False),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", False),
    # other kopf operators' peering objects: get and patch name the operator's own only
    ("patch", "clusterkopfpeerings.kopf.dev/another-operator", False),
    ("get", "kopfpeerings.kopf.dev/another-operator", False),
    ("patch", "clusterkopfpeerings.kopf.dev", False),
])
def test_calls_outside_the_rules_are_forbidden(as_operator: Kubectl, namespace: str, verb: str,
                                               resource: str, all_namespaces: bool) -> None:
    scope = ["--all-namespaces"] if all_namespaces else ["-n", namespace]
    answer = as_operator.run("auth", "can-i", verb, resource, *scope, check=False)
    assert answer.stdout.strip() == "no"


def test_listing_secrets_is_refused_by_the_api_server(as_operator: Kubectl, namespace: str) -> None:
    result = as_operator.run("get", "secrets", "-n", namespace, check=False)
    assert result.returncode != 0
    assert "forbidden" in result.stderr
    assert 'User "system:serviceaccount:uplift-system:uplift-operator"' in result.stderr


@pytest.mark.parametrize(("verb", "resource"), [
    ("watch", "upliftmodels.uplift.dev"), ("patch", "upliftmodels.uplift.dev/status"),
    ("patch", "campaigns.uplift.dev/status"), ("create", "seldondeployments.machinelearning.seldon.io"),
    ("create", "events"), ("get", "secrets"),
    ("patch", "clusterkopfpeerings.kopf.dev/uplift-operator"),
    ("get", "kopfpeerings.kopf.dev/uplift-operator"), ("watch", "clusterkopfpeerings.kopf.dev"),
    ("create", "kopfpeerings.kopf.dev"),
    ("create", "configmaps"), ("patch", "configmaps"), ("watch", "configmaps"),
])
def test_calls_the_operator_needs_are_allowed(as_operator: Kubectl, namespace: str, verb: str,
                                              resource: str) -> None:
    answer = as_operator.run("auth", "can-i", verb, resource, "-n", namespace, check=False)
    assert answer.stdout.strip() == "yes"


def test_the_operator_may_update_its_owners_finalizers_and_not_the_owners(
        as_operator: Kubectl, namespace: str) -> None:
    """blockOwnerDeletion on the children's owner references needs update of the owner's
    finalizers under OwnerReferencesPermissionEnforcement (OpenShift); that subresource only."""
    def can(*args: str) -> str:
        return as_operator.run("auth", "can-i", "update", "upliftmodels.uplift.dev", *args,
                               "-n", namespace, check=False).stdout.strip()

    assert can("--subresource=finalizers") == "yes"
    assert can() == "no"


def test_the_replica_with_lower_priority_pauses_and_resumes(
        controlplane: ControlPlane, operator: OperatorProcess,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The session's operator runs at priority 1000; a replica at 2000 takes over, then leaves.
    ``uplift_operator_paused`` (what UpliftOperatorNotReconciling reads) follows kopf's pause on
    each replica's /metrics: 1 on the paused one, 0 on the one that acts."""
    leader = OperatorProcess(controlplane.operator_kubeconfig,
                             tmp_path_factory.mktemp("peer"), "--priority", "2000")
    try:
        leader.start()
        operator.wait_for_log("Pausing operations in favour of", timeout=60)
        assert "Pausing operations" not in leader.logs()
        # The leader, paused from its start until kopf read the peering object, resumed.
        process.wait_until(lambda: paused(operator) == 1 and paused(leader) == 0, timeout=30,
                           what="uplift_operator_paused 1 on the paused replica, 0 on the leader")
    finally:
        leader.stop()
    operator.wait_for_log("Resuming operations after the pause", timeout=90)
    process.wait_until(lambda: paused(operator) == 0, timeout=30,
                       what="uplift_operator_paused 0 once the replica resumed")


def paused(proc: OperatorProcess) -> float | None:
    """``uplift_operator_paused`` on the replica's /metrics (None: not exported)."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{proc.metrics_port}/metrics",
                                  timeout=5).read().decode()
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith("uplift_operator_paused ")), None)
