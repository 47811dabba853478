"""The ValidatingAdmissionPolicy on the operator's ConfigMaps, judged by a real API server.

RBAC gives the operator's identity ``create`` and ``patch`` on configmaps (its campaigns files),
and cannot narrow either by name: alone, a stolen operator token rewrites any ConfigMap it
reaches, cluster-wide by default: ``kube-system/aws-auth`` (on EKS, an IAM role mapped to
``system:masters``), ``kube-system/coredns``, ``argocd/argocd-rbac-cm`` (docs/security.md). The
policy (manifests/configmaps-policy.yaml, and the chart's default render) admits only what
``render.campaigns.config_map`` makes. On a control plane of this module's own, with the plain
manifests' RBAC, once for each source of the policy:

- before it is applied the operator's identity may patch ``kube-system/aws-auth``, create a
  ConfigMap in kube-system, and write a ConfigMap of another name, or one without the labels or
  the owner, in a model namespace (the hole: each probe is admitted); once applied the API server
  refuses every one of them with the policy's message, and once removed admits them again;
- the operator's own code (``render.campaigns.config_map`` applied by ``KubeCluster.apply``,
  server-side, under the operator's kubeconfig) still creates and updates a campaigns ConfigMap;
- an update of its own campaigns ConfigMap out of that shape (owner or labels dropped, another
  data key, ``immutable: true``, which would refuse every later write of the file) is refused
  and changes nothing;
- nobody else is judged: the administrator still writes ConfigMaps in kube-system, and may make
  a campaigns ConfigMap immutable, after which the API server refuses the operator's writes
  (422, the words ``services.campaigns_file`` tells apart) until it is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import policies
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.render import campaigns, naming
from uplift_operator.services import campaigns_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "team-a"
PLURAL = "configmaps"
POLICY = "uplift-operator-configmaps"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
NOT_CAMPAIGNS = ("the uplift-operator ServiceAccount may write only campaigns ConfigMaps: named "
                 "<model>-campaigns, with one owner reference, the controller reference to that "
                 "UpliftModel")
LABELS = ("a campaigns ConfigMap of the uplift-operator ServiceAccount is labelled "
          "app.kubernetes.io/managed-by=uplift-operator and uplift.dev/model=<model>")
DATA = "a campaigns ConfigMap holds one data key, `campaigns.json`, and no binaryData"
IMMUTABLE = ("a campaigns ConfigMap of the uplift-operator ServiceAccount is not immutable: every "
             "later write of its file would be refused")
#: What a stolen token would write into aws-auth: its own IAM role, as cluster-admin.
MAP_ROLES = ("- rolearn: arn:aws:iam::111122223333:role/attacker\n"
             "  username: attacker\n  groups: [system:masters]\n")


def policy_docs(source: str) -> list[dict[str, Any]]:
    # The chart's default render, as `helm install uplift -n uplift-system` makes it.
    return policies.policy_docs(source, "configmaps-policy.yaml", "configmaps-policy.yaml",
                                name=POLICY)


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    """The CRDs and the plain manifests' RBAC (the operator's identity as installed), and the
    kube-system ConfigMaps a stolen token would like to rewrite."""
    kubectl = policies.manifests_rbac(plane, NAMESPACE)
    for name, data in (("aws-auth", {"mapRoles": ""}),
                       ("coredns", {"Corefile": ".:53 {\n    forward . /etc/resolv.conf\n}\n"})):
        kubectl.apply({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "namespace": "kube-system"}, "data": data})
    return kubectl


def _owner(admin: Kubectl, name: str) -> naming.Owner:
    return policies.model_owner(admin, name, NAMESPACE)


def _config_map(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace}, "data": data}


def _patch_refused(kubectl: Kubectl, namespace: str, name: str, patch: dict[str, Any],
                   denial: str) -> bool:
    """Whether the API server refuses ``kubectl``'s identity a merge patch of a ConfigMap (a
    server-side dry run: admission judges it, nothing is stored); a refusal must be ``denial``."""
    attempt = kubectl.run("patch", "configmap", name, "-n", namespace, "--type", "merge",
                          "-p", json.dumps(patch), "--dry-run=server", check=False)
    if attempt.returncode == 0:
        return False
    assert denial in attempt.stderr, attempt.stderr
    return True


def _probes(admin: Kubectl, as_operator: Kubectl) -> list[Callable[[], bool]]:
    """Writes RBAC alone lets the operator's identity make and the policy refuses: each says
    whether it was refused."""
    owner = naming.Owner(name="probe", namespace=NAMESPACE, uid="0" * 8)
    unlabelled = campaigns.config_map(owner, "{}")
    del unlabelled["metadata"]["labels"]
    return [
        lambda: _patch_refused(as_operator, "kube-system", "aws-auth",
                               {"data": {"mapRoles": MAP_ROLES}}, DENIED + NOT_CAMPAIGNS),
        lambda: _patch_refused(as_operator, "kube-system", "coredns",
                               {"data": {"Corefile": ".:53 {\n    forward . 6.6.6.6\n}\n"}},
                               DENIED + NOT_CAMPAIGNS),
        lambda: policies.refused(as_operator, _config_map("probe", "kube-system", {"a": "b"}),
                                 DENIED + NOT_CAMPAIGNS),
        lambda: policies.refused(as_operator, _config_map("argocd-rbac-cm", NAMESPACE,
                                                          {"policy.default": "role:admin"}),
                                 DENIED + NOT_CAMPAIGNS),
        lambda: policies.refused(as_operator, unlabelled, DENIED + LABELS),
    ]


@pytest.fixture(scope="module", params=["manifests", "chart"])
def policy(request: pytest.FixtureRequest, admin: Kubectl, as_operator: Kubectl) -> Iterator[str]:
    """The policy from one source, applied and in force; removed (and out of force) afterwards.
    The mutation check: without the policy, RBAC admits every probe; with it, none."""
    source: str = request.param
    probes = _probes(admin, as_operator)
    assert [probe() for probe in probes] == [False] * len(probes), (
        "without the policy, RBAC alone admits every probe")
    with policies.in_force(admin, policy_docs(source), probes[0]):
        assert [probe() for probe in probes] == [True] * len(probes)
        yield source
    assert [probe() for probe in probes] == [False] * len(probes), "out of force: the hole again"


def test_the_operator_still_writes_its_campaigns_config_map(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"campaigned-{policy}")
    name = naming.campaigns_config_map(owner.name)
    # Created (server-side apply of an absent object is admission's CREATE), as
    # services.campaigns_file applies it, then updated with another file (UPDATE).
    for content in ('{"campaigns": []}', '{"campaigns": [], "split": null}'):
        operator_cluster.apply(campaigns.config_map(owner, content), PLURAL)
        there = admin.get("configmap", name, NAMESPACE)
        assert there["data"] == {campaigns.DATA_KEY: content}
    assert there["metadata"]["ownerReferences"][0]["uid"] == owner.uid
    assert there["metadata"]["labels"][naming.MODEL_LABEL] == owner.name


def _changed(owner: naming.Owner, change: str) -> dict[str, Any]:
    manifest = campaigns.config_map(owner, "{}")
    meta = manifest["metadata"]
    if change == "another name":
        meta["name"] = "mlflow-settings"
    elif change == "in kube-system":
        meta["namespace"] = "kube-system"
        meta["name"] = "coredns"
    elif policies.owner_changed(meta, change):
        pass
    elif change == "no labels":
        del meta["labels"]
    elif change == "not managed by the operator":
        meta["labels"][naming.MANAGED_BY_LABEL] = "helm"
    elif change == "another model's label":
        meta["labels"][naming.MODEL_LABEL] = "other"
    elif change == "more data":
        manifest["data"]["Corefile"] = "x"
    elif change == "binary data":
        manifest["binaryData"] = {"blob": "eA=="}
    elif change == "immutable":
        manifest["immutable"] = True
    return manifest


@pytest.mark.parametrize(("change", "message"), [
    ("another name", NOT_CAMPAIGNS),
    ("in kube-system", NOT_CAMPAIGNS),
    ("no owner", NOT_CAMPAIGNS),
    ("another owner kind", NOT_CAMPAIGNS),
    ("not the controller", NOT_CAMPAIGNS),
    ("two owners", NOT_CAMPAIGNS),
    ("no labels", LABELS),
    ("not managed by the operator", LABELS),
    ("another model's label", LABELS),
    ("more data", DATA),
    ("binary data", DATA),
    ("immutable", IMMUTABLE),
])
def test_a_config_map_other_than_a_campaigns_file_is_refused(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster, change: str,
        message: str) -> None:
    manifest = _changed(_owner(admin, f"other-{policy}"), change)
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(manifest, PLURAL)
    assert refused.value.status == 403
    assert DENIED + message in str(refused.value), str(refused.value)


def test_kube_system_config_maps_are_not_rewritten(
        policy: str, admin: Kubectl, as_operator: Kubectl, operator_cluster: KubeCluster) -> None:
    before = admin.get("configmap", "aws-auth", "kube-system")
    # Server-side apply (the operator's own write path), merge patch and create: all refused.
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(_config_map("aws-auth", "kube-system", {"mapRoles": MAP_ROLES}),
                               PLURAL)
    assert refused.value.status == 403 and DENIED + NOT_CAMPAIGNS in str(refused.value)
    attempt = as_operator.run("patch", "configmap", "aws-auth", "-n", "kube-system", "--type",
                              "merge", "-p", json.dumps({"data": {"mapRoles": MAP_ROLES}}),
                              check=False)
    assert attempt.returncode != 0
    assert f'configmaps "aws-auth" is forbidden: {DENIED}{NOT_CAMPAIGNS}' in attempt.stderr, (
        attempt.stderr)
    after = admin.get("configmap", "aws-auth", "kube-system")
    assert after["data"] == before["data"] == {"mapRoles": ""}
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    # Dressed as a campaigns file (labels, an owner reference to an UpliftModel "aws-auth"),
    # the name still gives it away.
    dressed = campaigns.config_map(
        naming.Owner(name="aws-auth", namespace="kube-system", uid="0" * 8), "{}")
    dressed["metadata"]["name"] = "aws-auth"
    dressed["data"] = {"mapRoles": MAP_ROLES}
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(dressed, PLURAL)
    assert refused.value.status == 403 and DENIED + NOT_CAMPAIGNS in str(refused.value)


@pytest.mark.parametrize(("patch", "message"), [
    ({"metadata": {"ownerReferences": None}}, NOT_CAMPAIGNS),
    ({"metadata": {"labels": {naming.MANAGED_BY_LABEL: None}}}, LABELS),
    ({"data": {"mapRoles": MAP_ROLES}}, DATA),
    # Frozen, it would refuse every later write of the file (a suspension's, a rollback's), and
    # the operator has no delete to recover.
    ({"immutable": True}, IMMUTABLE),
])
def test_its_own_campaigns_config_map_keeps_its_shape(
        policy: str, admin: Kubectl, as_operator: Kubectl, operator_cluster: KubeCluster,
        patch: dict[str, Any], message: str) -> None:
    owner = _owner(admin, f"kept-{policy}")
    name = naming.campaigns_config_map(owner.name)
    operator_cluster.apply(campaigns.config_map(owner, "{}"), PLURAL)
    before = admin.get("configmap", name, NAMESPACE)
    attempt = as_operator.run("patch", "configmap", name, "-n", NAMESPACE, "--type", "merge",
                              "-p", json.dumps(patch), check=False)
    assert attempt.returncode != 0
    assert DENIED + message in attempt.stderr, attempt.stderr
    after = admin.get("configmap", name, NAMESPACE)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_a_config_map_made_immutable_by_hand_refuses_the_operators_writes_until_deleted(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """An administrator is not judged and may set ``immutable: true``: every later apply of the
    operator is then refused by the API server (422, in the words services.campaigns_file
    recognises to tell the Campaigns to have it deleted); once deleted, the operator's apply
    creates it anew."""
    owner = _owner(admin, f"frozen-{policy}")
    name = naming.campaigns_config_map(owner.name)
    operator_cluster.apply(campaigns.config_map(owner, '{"campaigns": {}}'), PLURAL)
    admin.run("patch", "configmap", name, "-n", NAMESPACE, "--type", "merge",
              "-p", json.dumps({"immutable": True}))
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(campaigns.config_map(owner, '{"campaigns": {}, "split": null}'),
                               PLURAL)
    assert refused.value.status == 422, str(refused.value)
    assert campaigns_file.IMMUTABLE_REFUSAL in str(refused.value), str(refused.value)
    admin.run("delete", "configmap", name, "-n", NAMESPACE)
    operator_cluster.apply(campaigns.config_map(owner, '{"campaigns": {}, "split": null}'), PLURAL)
    there = admin.get("configmap", name, NAMESPACE)
    assert there["data"] == {campaigns.DATA_KEY: '{"campaigns": {}, "split": null}'}
    assert "immutable" not in there


def test_nobody_else_is_judged(policy: str, admin: Kubectl) -> None:
    name = f"admins-settings-{policy}"
    admin.run("create", "-f", "-", input=json.dumps(_config_map(name, "kube-system", {"a": "b"})))
    admin.run("patch", "configmap", "coredns", "-n", "kube-system", "--type", "merge",
              "-p", json.dumps({"metadata": {"annotations": {"checked": policy}}}))
    admin.run("delete", "configmap", name, "-n", "kube-system")
