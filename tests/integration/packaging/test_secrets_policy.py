"""The ValidatingAdmissionPolicy on the operator's Secrets, judged by a real API server.

RBAC gives the operator's identity ``create`` and ``get`` on secrets (its decision keys, the
credentials it reads). Alone, that lets a stolen operator token mint a token for any
ServiceAccount: create a ``kubernetes.io/service-account-token`` Secret naming it, read it back
(docs/security.md). The policy (manifests/secrets-policy.yaml, and the chart's default render)
admits only what the operator creates. On a control plane of this module's own, with the plain
manifests' RBAC, once for each source of the policy:

- before it is applied the operator's identity may create a service-account-token Secret (the
  hole); once applied the API server refuses that with the policy's message, and refuses every
  other Secret that is not a decision key;
- the operator's own code (``render.decision_key`` through ``KubeCluster.create_secret``, under
  the operator's kubeconfig) still creates an UpliftModel's decision-key Secret;
- nobody else is judged: the administrator still creates a service-account-token Secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import policies
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.render import decision_key, naming

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "team-a"
DENIED = ("ValidatingAdmissionPolicy 'uplift-operator' with binding 'uplift-operator' denied "
          "request: ")
NOT_OPAQUE = "the uplift-operator ServiceAccount may create only Opaque Secrets (its decision keys)"
NOT_A_DECISION_KEY = ("the uplift-operator ServiceAccount may create only decision-key Secrets: "
                      "named <model>-decision-key, with one owner reference, the controller "
                      "reference to that UpliftModel")
ONE_KEY = "a decision-key Secret holds one data key, `key`"


def policy_docs(source: str) -> list[dict[str, Any]]:
    # The chart's default render, as `helm install uplift -n uplift-system` makes it.
    return policies.policy_docs(source, "secrets-policy.yaml", "secrets-policy.yaml")


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    """The CRDs and the plain manifests' RBAC: the operator's identity as installed."""
    kubectl = policies.manifests_rbac(plane, NAMESPACE)
    # A workload's ServiceAccount a stolen token would like to be (a CI deployer, a CNI, ...).
    kubectl.run("create", "serviceaccount", "deployer", "-n", NAMESPACE)
    return kubectl


def token_secret(name: str, service_account: str = "deployer") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "annotations": {"kubernetes.io/service-account.name": service_account}}}


def _mint_refused(as_operator: Kubectl) -> bool:
    """Whether the API server refuses the operator's identity a service-account-token Secret
    (a server-side dry run: admission judges it, nothing is stored)."""
    return policies.refused(as_operator, token_secret("probe"), DENIED + NOT_OPAQUE)


@pytest.fixture(scope="module", params=["manifests", "chart"])
def policy(request: pytest.FixtureRequest, admin: Kubectl, as_operator: Kubectl) -> Iterator[str]:
    """The policy from one source, applied and in force; removed (and out of force) afterwards."""
    source: str = request.param
    with policies.in_force(admin, policy_docs(source), lambda: _mint_refused(as_operator)):
        yield source


def _owner(admin: Kubectl, name: str) -> naming.Owner:
    return policies.model_owner(admin, name, NAMESPACE)


def test_the_operator_still_creates_its_decision_key_secret(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"keyed-{policy}")
    manifest = decision_key.decision_key_secret(owner, "ab" * 32)  # as services.upliftmodel does
    assert operator_cluster.create_secret(manifest) is True
    # A second create (the operator's recheck) reaches the API server's conflict, not the policy.
    assert operator_cluster.create_secret(manifest) is False
    secret = admin.get("secret", naming.decision_key_secret(owner.name), NAMESPACE)
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == owner.uid
    assert list(secret["data"]) == [decision_key.DECISION_KEY]


def test_a_service_account_token_secret_is_refused(
        policy: str, admin: Kubectl, as_operator: Kubectl, operator_cluster: KubeCluster) -> None:
    name = f"harmless-looking-{policy}"
    with pytest.raises(KubeError) as refused:
        operator_cluster.create_secret(token_secret(name))
    assert refused.value.status == 403
    assert DENIED + NOT_OPAQUE in str(refused.value)
    # kubectl shows the administrator of a refused install the same message.
    attempt = as_operator.run("create", "-f", "-", check=False,
                              input=json.dumps(token_secret(name)))
    assert attempt.returncode != 0
    assert f'secrets "{name}" is forbidden: {DENIED}{NOT_OPAQUE}' in attempt.stderr, (
        attempt.stderr)
    assert admin.run("get", "secret", name, "-n", NAMESPACE, check=False).returncode != 0
    # Dressed as a decision key (its name, an owner reference to a real UpliftModel), still not.
    owner = _owner(admin, f"dressed-{policy}")
    dressed = {**decision_key.decision_key_secret(owner, "ab" * 32),
               "type": "kubernetes.io/service-account-token"}
    dressed["metadata"]["annotations"] = {"kubernetes.io/service-account.name": "deployer"}
    with pytest.raises(KubeError) as refused:
        operator_cluster.create_secret(dressed)
    assert refused.value.status == 403 and NOT_OPAQUE in str(refused.value)


def _opaque(admin: Kubectl, model: str, change: str) -> dict[str, Any]:
    manifest = decision_key.decision_key_secret(_owner(admin, model), "ab" * 32)
    meta = manifest["metadata"]
    if change == "another name":
        meta["name"] = "mlflow-credentials"
    elif policies.owner_changed(meta, change):
        pass
    elif change == "more data":
        manifest["stringData"]["token"] = "x"
    return manifest


@pytest.mark.parametrize(("change", "message"), [
    ("another name", NOT_A_DECISION_KEY),
    ("no owner", NOT_A_DECISION_KEY),
    ("another owner kind", NOT_A_DECISION_KEY),
    ("not the controller", NOT_A_DECISION_KEY),
    ("two owners", NOT_A_DECISION_KEY),
    ("more data", ONE_KEY),
])
def test_an_opaque_secret_other_than_a_decision_key_is_refused(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster, change: str,
        message: str) -> None:
    manifest = _opaque(admin, f"other-{policy}", change)
    with pytest.raises(KubeError) as refused:
        operator_cluster.create_secret(manifest)
    assert refused.value.status == 403
    assert DENIED + message in str(refused.value), str(refused.value)


def test_nobody_else_is_judged(policy: str, admin: Kubectl) -> None:
    name = f"admins-token-{policy}"
    admin.run("create", "-f", "-", input=json.dumps(token_secret(name)))
    admin.run("delete", "secret", name, "-n", NAMESPACE)
