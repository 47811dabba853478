"""The serving pods' PodDisruptionBudgets (``services.disruption`` through ``KubeCluster``)
against the real API server, as the operator's identity under ``manifests/rbac.yaml``: applied
by server-side apply (the operator's field manager), one per version, owned by the UpliftModel;
the budget of a version that left deleted; a new process finding what the one before left by a
metadata LIST; someone else's budget of the name not taken over, nor one made again since
deleted by name (the delete's ``preconditions.uid``); the garbage collector deleting the rest
with the UpliftModel."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml
from kubernetes import config
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import FIELD_MANAGER, KubeCluster
from uplift_operator.adapters.watched import WatchedCluster, WatchedObjects
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.render.disruption import desired_budgets
from uplift_operator.render.naming import Owner
from uplift_operator.services.disruption import DeletesByUid, DisruptionBudgets

pytestmark = pytest.mark.integration

SAMPLE_MODEL = Path(__file__).resolve().parents[3] / "manifests" / "samples" / "upliftmodel.yaml"
NOW = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)


def _budgets(admin: Kubectl, namespace: str) -> dict[str, dict[str, object]]:
    listed = json.loads(admin.run("get", "poddisruptionbudgets", "-n", namespace, "-o",
                                  "json", "--show-managed-fields").stdout)
    return {item["metadata"]["name"]: item for item in listed["items"]}


def test_budgets_applied_per_version_deleted_when_left_and_found_after_a_restart(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    sample = yaml.safe_load(SAMPLE_MODEL.read_text())
    admin.apply({**sample, "metadata": {"name": "shop"}}, namespace)
    uid = admin.get("upliftmodel", "shop", namespace)["metadata"]["uid"]
    owner = Owner(name="shop", namespace=namespace, uid=uid)
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig))
    cluster = KubeCluster(api)
    budget = {"maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}

    # Someone else's budget of the name version 3's would take: left as it is.
    theirs = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
              "metadata": {"name": "shop-v3", "namespace": namespace},
              "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "theirs"}}}}
    admin.apply(theirs, namespace)

    budgets = DisruptionBudgets()
    outcome = budgets.sync(cluster, owner, desired_budgets(owner, budget, ["1", "2"]), NOW)
    assert outcome.failure is None, outcome.failure
    there = _budgets(admin, namespace)
    assert set(there) == {"shop-v1", "shop-v2", "shop-v3"}
    for version in ("1", "2"):
        pdb = there[f"shop-v{version}"]
        spec = pdb["spec"]
        assert isinstance(spec, dict)
        assert spec["maxUnavailable"] == 1
        assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        assert spec["selector"] == {"matchLabels": {"seldon-deployment-id": "shop",
                                                    "uplift.dev/version": version}}
        meta = pdb["metadata"]
        assert isinstance(meta, dict)
        assert meta["ownerReferences"][0]["uid"] == uid
        assert meta["ownerReferences"][0]["controller"] is True
        assert {entry["manager"] for entry in meta["managedFields"]} == {FIELD_MANAGER}

    # Version 3 wanted: someone else's budget of its name is not taken over.
    outcome = budgets.sync(cluster, owner, desired_budgets(owner, budget, ["2", "3"]), NOW)
    assert outcome.failure is not None and "not taken over" in outcome.failure
    there = _budgets(admin, namespace)
    assert "shop-v1" not in there  # version 1 left: deleted all the same
    spec3 = there["shop-v3"]["spec"]
    assert isinstance(spec3, dict) and spec3["minAvailable"] == 2
    admin.run("delete", "poddisruptionbudget", "shop-v3", "-n", namespace, "--wait=true")

    # A new process: nothing in memory; the LIST finds version 2's, which is no longer wanted.
    restarted = DisruptionBudgets()
    outcome = restarted.sync(cluster, owner, desired_budgets(owner, budget, ["3"]), NOW)
    assert outcome.failure is None, outcome.failure
    assert set(_budgets(admin, namespace)) == {"shop-v3"}
    assert restarted.sync(cluster, owner, desired_budgets(owner, {"minAvailable": "50%"}, ["3"]),
                          NOW).failure is None
    spec3 = _budgets(admin, namespace)["shop-v3"]["spec"]
    assert isinstance(spec3, dict)
    assert spec3["minAvailable"] == "50%" and "maxUnavailable" not in spec3

    # The UpliftModel deleted: the garbage collector deletes its budgets. In the foreground,
    # so that the collector acts as soon as it watches UpliftModels (kube-controller-manager
    # picks up a CRD installed after it started at its next 30 s discovery sync): deleted in
    # the background before that, the owner is only found gone by the collector's lookups of
    # it, retried with a doubling backoff (~40 s after a fresh control plane).
    admin.run("delete", "upliftmodel", "shop", "-n", namespace, "--cascade=foreground",
              "--wait=true", "--timeout=90s")
    admin.wait_for(lambda: not _budgets(admin, namespace), timeout=60,
                   what="the budgets garbage-collected")


def test_the_field_removed_deletes_every_budget_of_the_model_only(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    sample = yaml.safe_load(SAMPLE_MODEL.read_text())
    owners = []
    for name in ("one", "two"):
        admin.apply({**sample, "metadata": {"name": name}}, namespace)
        uid = admin.get("upliftmodel", name, namespace)["metadata"]["uid"]
        owners.append(Owner(name=name, namespace=namespace, uid=uid))
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig))
    cluster = KubeCluster(api)
    budgets = DisruptionBudgets()
    for owner in owners:
        assert budgets.sync(cluster, owner, desired_budgets(owner, {"maxUnavailable": 1},
                                                            ["1"]), NOW).failure is None
    assert set(_budgets(admin, namespace)) == {"one-v1", "two-v1"}
    fresh = DisruptionBudgets()
    assert fresh.sync(cluster, owners[0], [], NOW).failure is None
    assert set(_budgets(admin, namespace)) == {"two-v1"}


def test_a_budget_made_again_by_someone_else_is_not_deleted_by_name(
        controlplane: ControlPlane, admin: Kubectl, namespace: str) -> None:
    """The delete names the uid the operator knows (``preconditions.uid``): a budget of the
    name deleted and created again since (another object, even labelled and owned as the
    model's) is refused by the API server (409) and left as it is."""
    sample = yaml.safe_load(SAMPLE_MODEL.read_text())
    admin.apply({**sample, "metadata": {"name": "again"}}, namespace)
    uid = admin.get("upliftmodel", "again", namespace)["metadata"]["uid"]
    owner = Owner(name="again", namespace=namespace, uid=uid)
    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(controlplane.operator_kubeconfig))
    # As the operator holds it: through the watched-objects wrapper.
    cluster = WatchedCluster(KubeCluster(api), WatchedObjects([]))
    assert isinstance(cluster, DeletesByUid)
    budgets = DisruptionBudgets()
    budget = {"maxUnavailable": 1}
    assert budgets.sync(cluster, owner, desired_budgets(owner, budget, ["1", "2"]),
                        NOW).failure is None
    old = _budgets(admin, namespace)["again-v2"]
    admin.run("delete", "poddisruptionbudget", "again-v2", "-n", namespace, "--wait=true")
    (remade,) = desired_budgets(owner, {"minAvailable": 1}, ["2"])
    admin.apply(remade, namespace)
    new_uid = _budgets(admin, namespace)["again-v2"]["metadata"]
    assert isinstance(new_uid, dict) and isinstance(old["metadata"], dict)
    assert new_uid["uid"] != old["metadata"]["uid"]
    # Version 2 leaves: the delete of the budget this process knew finds another object.
    outcome = budgets.sync(cluster, owner, desired_budgets(owner, budget, ["1"]), NOW)
    assert outcome.failure is None, outcome.failure
    there = _budgets(admin, namespace)
    assert set(there) == {"again-v1", "again-v2"}
    meta = there["again-v2"]["metadata"]
    assert isinstance(meta, dict) and meta["uid"] == new_uid["uid"]
    # A new process, listing: the budget of the model's with its uid of now, deleted.
    assert DisruptionBudgets().sync(cluster, owner, desired_budgets(owner, budget, ["1"]),
                                    NOW).failure is None
    assert set(_budgets(admin, namespace)) == {"again-v1"}
