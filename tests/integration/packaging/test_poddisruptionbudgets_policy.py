"""The ValidatingAdmissionPolicy on the operator's PodDisruptionBudgets, judged by a real API server.

RBAC gives the operator's identity ``create``, ``patch`` and ``delete`` on poddisruptionbudgets
(its serving pods' budgets), and cannot narrow any of them by name: alone, a stolen operator
token creates a budget that never allows an eviction (``maxUnavailable: 0``) over any pods,
holding every node drain and cluster upgrade, or deletes (or re-points) the budgets guarding
etcd's, a database's or the ingress' pods (docs/security.md). The policy
(manifests/poddisruptionbudgets-policy.yaml, and the chart's default render) admits only what
``render.disruption.desired_budgets`` makes, and deletes of the operator's own budgets. On a
control plane of this module's own, with the plain manifests' RBAC, once for each source:

- before it is applied the operator's identity may create a ``maxUnavailable: 0`` budget over
  kube-system's pods, delete the administrator's budget there, re-point it, and create a budget
  of the operator's shape that allows no eviction (the hole: each probe is admitted); once
  applied the API server refuses every one of them with the policy's message, and once removed
  admits them again;
- the operator's own code (``services.disruption`` through ``KubeCluster``, under the
  operator's kubeconfig) still creates, updates and deletes its budgets (the delete carrying
  the budget's uid);
- a budget out of that shape (owner, labels, selector, a count that allows no eviction) is
  refused, and so is making someone else's budget the operator's by an update;
- nobody else is judged: the administrator still creates and deletes any budget;
- the CRD refuses the ``disruptionBudget`` counts that allow no eviction, so the operator
  never renders what the policy refuses.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import policies
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.api.v1alpha1.upliftmodel import (
    BUDGET_MAX_NO_EVICTION,
    BUDGET_MIN_NO_EVICTION,
)
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.render import disruption, naming
from uplift_operator.services.disruption import DisruptionBudgets

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMESPACE = "team-a"
PLURAL = disruption.PLURAL
POLICY = "uplift-operator-poddisruptionbudgets"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
NOT_OURS = ("the uplift-operator ServiceAccount may create, update and delete only its own "
            "PodDisruptionBudgets: with one owner reference, the controller reference to an "
            "UpliftModel")
LABELS = ("a PodDisruptionBudget of the uplift-operator ServiceAccount is labelled "
          "app.kubernetes.io/managed-by=uplift-operator and uplift.dev/model=<model>")
TAKEN = ("the uplift-operator ServiceAccount updates only a PodDisruptionBudget that was its own "
         "already: labelled app.kubernetes.io/managed-by=uplift-operator, controlled by the same "
         "UpliftModel")
SELECTOR = ("a PodDisruptionBudget of the uplift-operator ServiceAccount selects one version's "
            "serving pods of its UpliftModel: exactly matchLabels seldon-deployment-id=<model> and "
            "uplift.dev/version=<its uplift.dev/version label>, no matchExpressions")
COUNT = ("a PodDisruptionBudget of the uplift-operator ServiceAccount allows evictions: exactly "
         "one of maxUnavailable (at least 1, or 1%-100%) and minAvailable (an integer, or "
         "0%-99%), never maxUnavailable 0 or 0% nor minAvailable 100%")
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
#: The administrator's budget over kube-system's control-plane pods.
GUARD = "etcd-guard"


def policy_docs(source: str) -> list[dict[str, Any]]:
    # The chart's default render, as `helm install uplift -n uplift-system` makes it.
    return policies.policy_docs(source, "poddisruptionbudgets-policy.yaml",
                                "poddisruptionbudgets-policy.yaml", name=POLICY)


def _pdb(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    """The CRDs and the plain manifests' RBAC (the operator's identity as installed), and the
    administrator's budget a stolen token would like gone."""
    kubectl = policies.manifests_rbac(plane, NAMESPACE)
    kubectl.apply(_pdb(GUARD, "kube-system",
                       {"minAvailable": 1, "selector": {"matchLabels": {"component": "etcd"}}}))
    return kubectl


def _owner(admin: Kubectl, name: str) -> naming.Owner:
    return policies.model_owner(admin, name, NAMESPACE)


def _budget(owner: naming.Owner, version: str = "1",
            budget: dict[str, Any] | None = None) -> dict[str, Any]:
    (manifest,) = disruption.desired_budgets(owner, budget or {"maxUnavailable": 1}, [version])
    return manifest


def _refused_as(attempt: Any, denial: str) -> bool:
    if attempt.returncode == 0:
        return False
    assert denial in attempt.stderr, attempt.stderr
    return True


def _probes(as_operator: Kubectl) -> list[Callable[[], bool]]:
    """What RBAC alone lets the operator's identity do and the policy refuses (server-side dry
    runs: admission judges them, nothing is stored); each says whether it was refused."""
    owner = naming.Owner(name="probe", namespace=NAMESPACE, uid="0" * 8)
    never = _budget(owner, budget={"maxUnavailable": 0})
    repoint = {"spec": {"selector": {"matchLabels": {"app": "nothing"}}}}
    return [
        lambda: policies.refused(
            as_operator, _pdb("drain-blocker", "kube-system", {
                "maxUnavailable": 0, "selector": {}}), DENIED + NOT_OURS),
        lambda: _refused_as(as_operator.run("delete", "pdb", GUARD, "-n", "kube-system",
                                            "--dry-run=server", check=False),
                            DENIED + NOT_OURS),
        lambda: _refused_as(as_operator.run("patch", "pdb", GUARD, "-n", "kube-system",
                                            "--type", "merge", "-p", json.dumps(repoint),
                                            "--dry-run=server", check=False),
                            DENIED + NOT_OURS),
        lambda: policies.refused(as_operator, never, DENIED + COUNT),
    ]


@pytest.fixture(scope="module", params=["manifests", "chart"])
def policy(request: pytest.FixtureRequest, admin: Kubectl, as_operator: Kubectl) -> Iterator[str]:
    """The policy from one source, applied and in force; removed (and out of force) afterwards.
    The mutation check: without the policy, RBAC admits every probe; with it, none."""
    source: str = request.param
    probes = _probes(as_operator)
    assert [probe() for probe in probes] == [False] * len(probes), (
        "without the policy, RBAC alone admits every probe")
    with policies.in_force(admin, policy_docs(source), probes[0]):
        assert [probe() for probe in probes] == [True] * len(probes)
        yield source
    assert [probe() for probe in probes] == [False] * len(probes), "out of force: the hole again"


def _budgets(admin: Kubectl) -> dict[str, dict[str, Any]]:
    listed = json.loads(admin.run("get", "pdb", "-n", NAMESPACE, "-o", "json").stdout)
    return {item["metadata"]["name"]: item for item in listed["items"]}


def test_the_operator_still_creates_updates_and_deletes_its_budgets(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"served-{policy}")
    budgets = DisruptionBudgets()
    # Created (server-side apply of an absent object is admission's CREATE), one per version.
    for budget in ({"maxUnavailable": 1}, {"maxUnavailable": "100%"}, {"minAvailable": "99%"},
                   {"minAvailable": 0, "unhealthyPodEvictionPolicy": "AlwaysAllow"}):
        outcome = budgets.sync(operator_cluster, owner,
                               disruption.desired_budgets(owner, budget, ["1", "2"]), NOW)
        assert outcome.failure is None, outcome.failure
    there = _budgets(admin)
    assert {f"served-{policy}-v1", f"served-{policy}-v2"} <= set(there)
    assert there[f"served-{policy}-v1"]["spec"]["minAvailable"] == 0
    # Version 1 leaves: its budget deleted (by uid), under the policy's DELETE rule.
    outcome = budgets.sync(operator_cluster, owner,
                           disruption.desired_budgets(owner, {"maxUnavailable": 1}, ["2"]), NOW)
    assert outcome.failure is None, outcome.failure
    there = _budgets(admin)
    assert f"served-{policy}-v1" not in there and f"served-{policy}-v2" in there
    # A new process (the listing's uids) deletes the rest when the field is removed.
    assert DisruptionBudgets().sync(operator_cluster, owner, [], NOW).failure is None
    assert not {name for name in _budgets(admin) if name.startswith(f"served-{policy}-")}


def _changed(owner: naming.Owner, change: str) -> dict[str, Any]:
    manifest = _budget(owner)
    meta, spec = manifest["metadata"], manifest["spec"]
    selector = spec["selector"]
    if policies.owner_changed(meta, change):
        pass
    elif change == "no labels":
        del meta["labels"]
    elif change == "not managed by the operator":
        meta["labels"][naming.MANAGED_BY_LABEL] = "helm"
    elif change == "another model's label":
        meta["labels"][naming.MODEL_LABEL] = "other"
    elif change == "an empty selector":  # policy/v1: every pod of the namespace
        spec["selector"] = {}
    elif change == "no selector":
        del spec["selector"]
    elif change == "one label selected":
        del selector["matchLabels"][disruption.VERSION_LABEL]
    elif change == "another label selected":
        selector["matchLabels"]["app"] = "postgres"
    elif change == "match expressions":
        selector["matchExpressions"] = [{"key": "app", "operator": "Exists"}]
    elif change == "another graph":
        selector["matchLabels"][disruption.SELDON_ID_LABEL] = "someone-elses"
    elif change == "a fake long graph id":
        selector["matchLabels"][disruption.SELDON_ID_LABEL] = "seldon-" + "0" * 32
    elif change == "another version":
        selector["matchLabels"][disruption.VERSION_LABEL] = "7"
    elif change == "maxUnavailable 0":
        spec["maxUnavailable"] = 0
    elif change == "maxUnavailable 0%":
        spec["maxUnavailable"] = "0%"
    elif change == "maxUnavailable 00%":
        spec["maxUnavailable"] = "00%"
    elif change == "minAvailable 100%":
        del spec["maxUnavailable"]
        spec["minAvailable"] = "100%"
    elif change == "no count":
        del spec["maxUnavailable"]
    else:
        raise AssertionError(change)
    return manifest


@pytest.mark.parametrize(("change", "message"), [
    ("no owner", NOT_OURS),
    ("another owner kind", NOT_OURS),
    ("not the controller", NOT_OURS),
    ("two owners", NOT_OURS),
    ("no labels", LABELS),
    ("not managed by the operator", LABELS),
    ("another model's label", LABELS),
    ("an empty selector", SELECTOR),
    ("no selector", SELECTOR),
    ("one label selected", SELECTOR),
    ("another label selected", SELECTOR),
    ("match expressions", SELECTOR),
    ("another graph", SELECTOR),
    ("a fake long graph id", SELECTOR),
    ("another version", SELECTOR),
    ("maxUnavailable 0", COUNT),
    ("maxUnavailable 0%", COUNT),
    ("maxUnavailable 00%", COUNT),
    ("minAvailable 100%", COUNT),
    ("no count", COUNT),
])
def test_a_budget_other_than_the_operators_is_refused(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster, change: str,
        message: str) -> None:
    manifest = _changed(_owner(admin, f"other-{policy}"), change)
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(manifest, PLURAL)
    assert refused.value.status == 403, str(refused.value)
    assert DENIED + message in str(refused.value), str(refused.value)


@pytest.mark.parametrize(("patch", "message"), [
    ({"metadata": {"ownerReferences": None}}, NOT_OURS),
    ({"metadata": {"labels": {naming.MANAGED_BY_LABEL: None}}}, LABELS),
    ({"spec": {"selector": {"matchLabels": {"app": "postgres"}}}}, SELECTOR),
    ({"spec": {"maxUnavailable": 0}}, COUNT),
])
def test_its_own_budget_keeps_its_shape(
        policy: str, admin: Kubectl, as_operator: Kubectl, operator_cluster: KubeCluster,
        patch: dict[str, Any], message: str) -> None:
    owner = _owner(admin, f"kept-{policy}")
    manifest = _budget(owner)
    operator_cluster.apply(manifest, PLURAL)
    name = manifest["metadata"]["name"]
    before = admin.get("pdb", name, NAMESPACE)
    attempt = as_operator.run("patch", "pdb", name, "-n", NAMESPACE, "--type", "merge",
                              "-p", json.dumps(patch), check=False)
    assert _refused_as(attempt, DENIED + message)
    after = admin.get("pdb", name, NAMESPACE)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_someone_elses_budget_is_neither_taken_nor_deleted(
        policy: str, admin: Kubectl, as_operator: Kubectl, operator_cluster: KubeCluster) -> None:
    """A budget of the name the operator would use, the administrator's: an apply that would
    make it the operator's (every field of the operator's shape) is refused as an UPDATE of a
    budget not its own, and its delete is refused too, in the model's namespace as in
    kube-system."""
    owner = _owner(admin, f"theirs-{policy}")
    manifest = _budget(owner)
    name = manifest["metadata"]["name"]
    # maxUnavailable, as the operator's: its forced apply takes the field over (with
    # minAvailable there the API server would refuse both set before admission judged it).
    admin.apply(_pdb(name, NAMESPACE, {"maxUnavailable": 2,
                                       "selector": {"matchLabels": {"app": "postgres"}}}))
    before = admin.get("pdb", name, NAMESPACE)
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(manifest, PLURAL)
    assert refused.value.status == 403 and DENIED + TAKEN in str(refused.value), (
        str(refused.value))
    for namespace, target in ((NAMESPACE, name), ("kube-system", GUARD)):
        with pytest.raises(KubeError) as refused:
            operator_cluster.delete("policy/v1", PLURAL, namespace, target)
        assert refused.value.status == 403 and DENIED + NOT_OURS in str(refused.value), (
            str(refused.value))
    after = admin.get("pdb", name, NAMESPACE)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    admin.get("pdb", GUARD, "kube-system")
    # Its labels stripped by an administrator, a budget of the operator's is no longer one it
    # may delete: the DELETE rule judges the object deleted.
    mine = _budget(_owner(admin, f"stripped-{policy}"))
    operator_cluster.apply(mine, PLURAL)
    admin.run("label", "pdb", mine["metadata"]["name"], "-n", NAMESPACE,
              f"{naming.MANAGED_BY_LABEL}-")
    with pytest.raises(KubeError) as refused:
        operator_cluster.delete("policy/v1", PLURAL, NAMESPACE, mine["metadata"]["name"])
    assert refused.value.status == 403 and DENIED + LABELS in str(refused.value)


def test_nobody_else_is_judged(policy: str, admin: Kubectl) -> None:
    name = f"admins-budget-{policy}"
    admin.run("create", "-f", "-", input=json.dumps(_pdb(name, "kube-system", {
        "maxUnavailable": 0, "selector": {"matchLabels": {"component": "kube-apiserver"}}})))
    admin.run("patch", "pdb", GUARD, "-n", "kube-system", "--type", "merge",
              "-p", json.dumps({"metadata": {"annotations": {"checked": policy}}}))
    admin.run("delete", "pdb", name, "-n", "kube-system")


@pytest.mark.parametrize(("budget", "message"), [
    ({"maxUnavailable": 0}, BUDGET_MAX_NO_EVICTION),
    ({"maxUnavailable": "0%"}, BUDGET_MAX_NO_EVICTION),
    ({"minAvailable": "100%"}, BUDGET_MIN_NO_EVICTION),
])
def test_the_crd_refuses_a_budget_that_allows_no_eviction(
        admin: Kubectl, budget: dict[str, Any], message: str) -> None:
    """What the policy refuses of the counts the operator never renders: the CRD refuses it
    in spec.serving.disruptionBudget first, with its message (the API server's CEL)."""
    owner = _owner(admin, "crd-counts")
    body = copy.deepcopy(admin.get("upliftmodel", owner.name, NAMESPACE))
    body["spec"]["serving"] = {**body["spec"].get("serving", {}), "disruptionBudget": budget}
    attempt = admin.run("apply", "--dry-run=server", "-f", "-", check=False,
                        input=json.dumps({k: body[k] for k in ("apiVersion", "kind", "spec")}
                                         | {"metadata": {"name": owner.name,
                                                         "namespace": NAMESPACE}}))
    assert attempt.returncode != 0
    assert message in attempt.stderr, attempt.stderr
