"""The serving pods' PodDisruptionBudgets through a whole pass (``services.upliftmodel.reconcile``
and ``services.disruption``): applied with the graph, one per served version, only when what is
wanted changes (a pass at rest writes nothing), deleted when a version leaves or the field goes,
found again after a restart, never taken from someone else, and never in the way of serving."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_upliftmodel import NS, PROBE, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.render import disruption as render_disruption
from uplift_operator.render.naming import Owner
from uplift_operator.services.disruption import (
    BUDGET_CONDITION,
    BUDGET_FAILED,
    RETRY_BASE_SECONDS,
    DisruptionBudgets,
)

PDB = "poddisruptionbudgets"
OWNER = Owner(name="uplift", namespace=NS, uid="u-1")


@dataclass
class BudgetCluster(FakeCluster):
    """The fake cluster, with a metadata LIST (as ``KubeCluster.list_metadata``) and a budget
    apply that can be refused alone."""

    budget_error: KubeError | None = None
    lists: list[tuple[str, str | None, str]] = field(default_factory=list)
    budget_calls: list[tuple[str, str]] = field(default_factory=list)
    deleted_uids: list[str | None] = field(default_factory=list)
    uids: int = 0
    listed_uids: bool = True  # False: the LIST's metadata says no uid

    def apply(self, manifest: Mapping[str, Any], plural: str) -> dict[str, Any]:
        if plural == PDB:
            self.budget_calls.append(("apply", manifest["metadata"]["name"]))
            if self.budget_error is not None:
                raise self.budget_error
        answer = super().apply(manifest, plural)
        if plural == PDB:  # the API server gives a created object its uid
            meta = manifest["metadata"]
            stored = self.objects[(manifest["apiVersion"], plural, meta["namespace"],
                                   meta["name"])]["metadata"]
            if not stored.get("uid"):
                self.uids += 1
                stored["uid"] = f"pdb-{self.uids}"
            answer = copy.deepcopy(answer)
            answer.setdefault("metadata", {})["uid"] = stored["uid"]
        return answer

    def get(self, api_version: str, plural: str, namespace: str,
            name: str) -> dict[str, Any] | None:
        if plural == PDB:
            self.budget_calls.append(("get", name))
        return super().get(api_version, plural, namespace, name)

    def put(self, plural: str, body: Mapping[str, Any]) -> None:
        if plural == PDB and not body["metadata"].get("uid"):  # as the API server's
            self.uids += 1
            body = {**body, "metadata": {**body["metadata"], "uid": f"pdb-{self.uids}"}}
        super().put(plural, body)

    def delete(self, api_version: str, plural: str, namespace: str, name: str) -> bool:
        if plural == PDB:
            self.budget_calls.append(("delete", name))
        return super().delete(api_version, plural, namespace, name)

    def delete_uid(self, api_version: str, plural: str, namespace: str, name: str,
                   uid: str | None) -> bool:
        """As ``KubeCluster.delete_uid``: the API server's ``preconditions.uid``."""
        self.deleted_uids.append(uid)
        live = self.objects.get((api_version, plural, namespace, name))
        if live is not None and uid is not None and live["metadata"].get("uid") != uid:
            raise KubeError(f"delete {plural}/{name}: 409 Precondition failed: UID in "
                            f"precondition: {uid}, UID in object meta: "
                            f"{live['metadata'].get('uid')}", 409)
        return self.delete(api_version, plural, namespace, name)

    def list_metadata(self, api_version: str, plural: str, namespace: str | None = None, *,
                      label_selector: str = "") -> list[dict[str, Any]]:
        self.lists.append((plural, namespace, label_selector))
        wanted = dict(part.partition("=")[::2] for part in label_selector.split(",") if part)
        found = [copy.deepcopy(obj["metadata"]) for (api, kind, ns, _), obj in self.objects.items()
                 if api == api_version and kind == plural and ns in (namespace, None)
                 and all(key in (obj["metadata"].get("labels") or {})
                         and (not value or obj["metadata"]["labels"][key] == value)
                         for key, value in wanted.items())]
        if not self.listed_uids:
            for meta in found:
                meta.pop("uid", None)
        return found


def _sim(budget: dict[str, Any] | None = None) -> Sim:
    sim = Sim()
    sim.cluster = BudgetCluster()
    sim.deps.cluster = sim.cluster
    if budget is not None:
        sim.body["spec"]["serving"] = {"disruptionBudget": budget}
    return sim


def _budgets(sim: Sim) -> dict[str, dict[str, Any]]:
    return {name: obj for (_, plural, _, name), obj in sim.cluster.objects.items()
            if plural == PDB}


def _calls(sim: Sim) -> list[tuple[str, str]]:
    cluster = sim.cluster
    assert isinstance(cluster, BudgetCluster)
    return cluster.budget_calls


def _conditions(sim: Sim) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in sim.status.get("conditions") or []}


def test_without_the_field_a_model_has_no_budget_and_its_passes_write_none() -> None:
    sim = _sim()
    sim.tick()
    sim.tick(1)
    sim.tick(600)
    assert _budgets(sim) == {} and _calls(sim) == []
    assert BUDGET_CONDITION not in _conditions(sim)
    cluster = sim.cluster
    assert isinstance(cluster, BudgetCluster)
    # One LIST of the namespace's budgets of the operator in this process (after a restart,
    # budgets left from before are found there), none per pass.
    assert cluster.lists == [(PDB, NS, "app.kubernetes.io/managed-by=uplift-operator,"
                                       "uplift.dev/model")]


def test_a_budget_per_served_version_applied_once_and_left_alone_at_rest() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.tick()
    assert set(_budgets(sim)) == {"uplift-v1"}
    budget = _budgets(sim)["uplift-v1"]
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {
        "seldon-deployment-id": "uplift", "uplift.dev/version": "1"}}}
    assert budget["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    said = _conditions(sim)[BUDGET_CONDITION]
    assert (said["status"], said["reason"]) == ("True", "Applied")
    assert "uplift-v1" in said["message"]
    calls = list(_calls(sim))
    sim.tick(1)
    sim.tick(600)  # a resync pass
    assert _calls(sim) == calls  # nothing asked of the API server
    sim.with_canary()
    assert set(_budgets(sim)) == {"uplift-v1", "uplift-v2"}
    assert _budgets(sim)["uplift-v2"]["spec"]["selector"]["matchLabels"] == {
        "seldon-deployment-id": "uplift", "uplift.dev/version": "2"}


def test_a_promoted_canary_keeps_its_budget_and_the_old_stables_goes() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
    assert set(_budgets(sim)) == {"uplift-v2"}
    assert ("delete", "uplift-v1") in _calls(sim)


def test_an_aborted_canary_keeps_its_budget_while_its_pods_run_then_loses_it() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.body["spec"]["rollback"] = {"scaleDownDelay": "10m"}
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0  # the gate fails: rolled back, kept at weight 0 a while
    for _ in range(4):
        sim.tick(61)
    assert sim.status.get("abortedVersion") == "2"
    assert sim.weights() == {"1": 100, "2": 0}  # its pods still run: still covered
    assert set(_budgets(sim)) == {"uplift-v1", "uplift-v2"}
    for _ in range(30):
        sim.tick(60)
        if set(sim.weights()) == {"1"}:
            break
    assert sim.weights() == {"1": 100}
    assert set(_budgets(sim)) == {"uplift-v1"}


def test_removing_the_field_deletes_the_budgets_and_the_condition() -> None:
    sim = _sim({"minAvailable": "50%"})
    sim.with_canary()
    assert set(_budgets(sim)) == {"uplift-v1", "uplift-v2"}
    sim.body["spec"]["serving"] = {}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert _budgets(sim) == {}
    assert BUDGET_CONDITION not in _conditions(sim)
    assert sim.weights() == {"1": 90, "2": 10}  # serving as it was


def test_an_edit_of_the_field_is_applied_to_every_budget() -> None:
    sim = _sim({"minAvailable": 1})
    sim.tick()
    sim.body["spec"]["serving"] = {"disruptionBudget": {"maxUnavailable": "25%"}}
    sim.tick(1)
    assert _budgets(sim)["uplift-v1"]["spec"]["maxUnavailable"] == "25%"
    assert "minAvailable" not in _budgets(sim)["uplift-v1"]["spec"]  # the apply's own field


def test_a_restarted_operator_deletes_the_budget_of_a_version_no_longer_served() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.tick()
    sim.tick(1)
    # Left by the process before (version 9 served then), and another model's of that version.
    left = render_disruption.desired_budgets(OWNER, {"maxUnavailable": 1}, ["9"])[0]
    sim.cluster.put(PDB, left)
    other = Owner(name="other", namespace=NS, uid="u-2")
    sim.cluster.put(PDB, render_disruption.desired_budgets(other, {"maxUnavailable": 1},
                                                           ["9"])[0])
    sim.deps.disruption_budgets = DisruptionBudgets()  # a new process: nothing in memory
    sim.tick(600)
    assert set(_budgets(sim)) == {"uplift-v1", "other-v9"}
    assert ("delete", "uplift-v9") in _calls(sim)


def test_a_new_process_at_rest_lists_once_and_applies_what_it_does_not_know() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.tick()
    sim.tick(1)
    sim.deps.disruption_budgets = DisruptionBudgets()
    before = len(_calls(sim))
    sim.tick(600)
    sim.tick(600)
    assert _calls(sim)[before:] == [("apply", "uplift-v1")]  # known as its own: no get


def test_a_budget_that_cannot_be_applied_never_holds_serving_back() -> None:
    sim = _sim({"maxUnavailable": 1})
    cluster = sim.cluster
    assert isinstance(cluster, BudgetCluster)
    cluster.budget_error = KubeError(
        "apply poddisruptionbudgets/uplift-v1: 403 forbidden", 403)
    result = sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    assert _conditions(sim)["ServingApplied"]["status"] == "True"
    said = _conditions(sim)[BUDGET_CONDITION]
    assert (said["status"], said["reason"]) == ("False", BUDGET_FAILED)
    assert "403 forbidden" in said["message"]
    assert [e.reason for e in result.events].count(BUDGET_FAILED) == 1
    assert result.requeue_after is not None and result.requeue_after <= RETRY_BASE_SECONDS
    # Not tried again before the backoff, nor said again.
    tried = len(_calls(sim))
    again = sim.tick(5)
    assert len(_calls(sim)) == tried and BUDGET_FAILED not in [e.reason for e in again.events]
    cluster.budget_error = None
    sim.tick(RETRY_BASE_SECONDS)
    assert set(_budgets(sim)) == {"uplift-v1"}
    assert _conditions(sim)[BUDGET_CONDITION]["status"] == "True"


def test_someone_elses_budget_of_the_name_is_not_taken_over() -> None:
    sim = _sim({"maxUnavailable": 1})
    theirs = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
              "metadata": {"name": "uplift-v1", "namespace": NS},
              "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "theirs"}}}}
    sim.cluster.put(PDB, theirs)
    sim.tick()
    assert _budgets(sim)["uplift-v1"]["spec"] == theirs["spec"]
    said = _conditions(sim)[BUDGET_CONDITION]
    assert said["status"] == "False" and "not taken over" in said["message"]
    assert sim.weights() == {"1": 100}


def test_the_budgets_memory_is_dropped_with_the_models_task() -> None:
    budgets = DisruptionBudgets()
    cluster = BudgetCluster()
    owner = Owner(name="m", namespace=NS, uid="u-9")
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert budgets.sync(cluster, owner, [], now).failure is None
    assert budgets.sync(cluster, owner, [], now).failure is None
    assert len(cluster.lists) == 1
    budgets.forget("u-9", NS)
    budgets.sync(cluster, owner, [], now)
    assert len(cluster.lists) == 2


def _theirs_now(sim: Sim, name: str) -> dict[str, Any]:
    """``name`` deleted and created again by someone else: another object (uid), labelled and
    owned as the model's (a copy of it), that this process never saw."""
    (key,) = [k for k in sim.cluster.objects if k[1] == PDB and k[3] == name]
    theirs = copy.deepcopy(sim.cluster.objects.pop(key))
    theirs["metadata"]["uid"] = "theirs"
    theirs["metadata"].pop("resourceVersion", None)
    sim.cluster.put(PDB, theirs)
    return theirs


def test_a_delete_names_the_uid_and_leaves_another_object_of_the_name() -> None:
    """The delete carries the uid the apply answered (``preconditions.uid``): a budget of the
    name deleted and made again by someone else since is refused by the API server (409) and
    left as it is, the model's budgets as wanted all the same."""
    sim = _sim({"maxUnavailable": 1})
    sim.tick()
    assert set(_budgets(sim)) == {"uplift-v1"}
    cluster = sim.cluster
    assert isinstance(cluster, BudgetCluster)
    uid = _budgets(sim)["uplift-v1"]["metadata"]["uid"]
    _theirs_now(sim, "uplift-v1")
    del sim.body["spec"]["serving"]  # the field removed: the model's budgets deleted
    sim.tick(1)
    assert cluster.deleted_uids == [uid]
    assert _budgets(sim)["uplift-v1"]["metadata"]["uid"] == "theirs"
    assert BUDGET_CONDITION not in _conditions(sim)


def test_after_a_restart_the_delete_names_the_listings_uid() -> None:
    sim = _sim({"maxUnavailable": 1})
    sim.tick()
    cluster = sim.cluster
    assert isinstance(cluster, BudgetCluster)
    uid = _budgets(sim)["uplift-v1"]["metadata"]["uid"]
    sim.deps.disruption_budgets = DisruptionBudgets()  # a new process: the LIST's uids
    del sim.body["spec"]["serving"]
    sim.tick(1)
    assert _budgets(sim) == {} and cluster.deleted_uids == [uid]


def test_a_budget_of_unknown_uid_is_read_and_deleted_only_if_the_models() -> None:
    """A listing that said no uid: the budget is read first, and deleted (by its uid) only if
    the model controls it."""
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    cluster = BudgetCluster(listed_uids=False)
    for version, uid in (("1", "mine"), ("2", "theirs-now")):
        budget = render_disruption.desired_budgets(OWNER, {"maxUnavailable": 1}, [version])[0]
        cluster.put(PDB, {**budget, "metadata": {**budget["metadata"], "uid": uid}})
    budgets = DisruptionBudgets()
    # Listed as the model's, then (before the delete's read) version 2's made again by another
    # controller of the name: not the model's any more.
    get = cluster.get

    def read(api_version: str, plural: str, namespace: str,
             name: str) -> dict[str, Any] | None:
        found = get(api_version, plural, namespace, name)
        if found is not None and name == "uplift-v2":
            found["metadata"]["ownerReferences"][0]["uid"] = "u-0"
        return found

    cluster.get = read  # type: ignore[method-assign]
    assert budgets.sync(cluster, OWNER, [], now).failure is None
    assert {name for (_, plural, _, name) in cluster.objects if plural == PDB} == {"uplift-v2"}
    assert cluster.deleted_uids == ["mine"]
