"""An object of an UpliftModel's names that the model does not control (kubebuilder's
``IsControlledBy`` rule): its SeldonDeployment and its decision-key Secret.

Someone else's (or no one's) object is refused: nothing applied, the object left exactly as it
was, ``ServingApplied``/``Ready`` False with reason ``ServingConflict`` naming the object and its
controller, one Warning event, a look again later. One still controlled by an UpliftModel of the
same name deleted before (another uid: the garbage collector is removing it) holds the pass,
Progressing, until it is gone. A model whose own graph serves keeps a decision-key Secret it does
not control (made by hand before the operator created them): its pods hold that key."""

from __future__ import annotations

import copy
from typing import Any

from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_upliftmodel import KEY_SECRET, NAME, NS, REGISTERED, SELDON, Sim

from uplift_operator.adapters.kube import KubeError
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain import status as status_logic
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult

MODEL_REF = {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": NAME,
             "controller": True, "blockOwnerDeletion": True}
PREDECESSOR = {**MODEL_REF, "uid": "u-0"}  # the same name, deleted before this one (u-1)
SECRET_KEY = ("v1", "secrets", NS, KEY_SECRET[1])


def foreign_graph(*owners: dict[str, Any], annotations: dict[str, str] | None = None,
                  ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": NAME, "namespace": NS, "uid": "sd-1", "resourceVersion": "7",
                            "annotations": annotations or {}}
    if owners:
        meta["ownerReferences"] = list(owners)
    graph = {"apiVersion": SELDON[0], "kind": "SeldonDeployment", "metadata": meta,
             "spec": {"predictors": [{"name": "theirs", "traffic": 100,
                                      "annotations": {"version": "9"}}]}}
    return {**graph, "status": seldon_status(graph)}  # Seldon's, for the graph there


def put_secret(cluster: FakeCluster, *owners: dict[str, Any], key: str = "theirs") -> None:
    """A decision-key Secret that exists: its data (what ``create_secret`` finds) and its
    metadata (what a GET returns)."""
    cluster.secrets[KEY_SECRET] = {"key": key}
    meta: dict[str, Any] = {"name": KEY_SECRET[1], "namespace": NS}
    if owners:
        meta["ownerReferences"] = list(owners)
    cluster.put("secrets", {"apiVersion": "v1", "kind": "Secret", "metadata": meta})


def drop_secret(cluster: FakeCluster) -> None:
    del cluster.secrets[KEY_SECRET]
    cluster.objects.pop(SECRET_KEY, None)


def events(result: PassResult) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in result.events]


def assert_refused(sim: Sim, result: PassResult, says: str) -> None:
    for type_ in ("ServingApplied", "Ready"):
        condition = sim.condition(type_)
        assert (condition["status"], condition["reason"]) == ("False", "ServingConflict")
        assert says in condition["message"]
    assert sim.status["phase"] == "Degraded" and says in sim.status["message"]
    assert result.requeue_after == status_logic.SERVING_CONFLICT_RETRY_SECONDS


# -- the SeldonDeployment --------------------------------------------------------------------------

def test_someone_elses_graph_is_refused_and_left_as_it_is_until_it_goes() -> None:
    sim = Sim()
    sim.cluster.put("seldondeployments", foreign_graph())
    theirs = copy.deepcopy(sim.cluster.objects[SELDON])
    result = sim.tick(available=False)
    assert sim.cluster.applied == [] and sim.cluster.objects[SELDON] == theirs
    assert sim.cluster.created_secrets == []  # nothing of its own made for a graph it cannot have
    assert_refused(sim, result, f"SeldonDeployment {NS}/{NAME} exists and is not controlled by "
                                "this UpliftModel (no controller): nothing applied")
    assert "uid u-1" in sim.condition("Ready")["message"]  # how to hand it over
    assert events(result) == [("Warning", "ServingConflict")]
    assert "stableVersion" not in sim.status  # nothing decided: no version "promoted"
    assert "Promoted" not in [e.reason for e in result.events]
    # Looked at again, said once.
    for _ in range(3):
        assert sim.tick(30, available=False).events == ()
    assert sim.cluster.applied == [] and sim.cluster.objects[SELDON] == theirs
    # Its owner deletes it: the next look applies the model's own graph.
    del sim.cluster.objects[SELDON]
    sim.tick(30)
    sim.tick(1)
    assert sim.cluster.applied == [SELDON] and sim.weights() == {"1": 100}
    assert sim.status["phase"] == "Healthy"
    assert sim.condition("ServingApplied")["reason"] == "Applied"


def test_a_graph_with_another_controller_is_refused_naming_it() -> None:
    """Applied, it would get a second controller reference, which the API server refuses
    (422), retried forever: now one refusal naming the controller."""
    sim = Sim()
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy", "uid": "o-1",
             "controller": True}
    sim.cluster.put("seldondeployments", foreign_graph(other))
    theirs = copy.deepcopy(sim.cluster.objects[SELDON])
    result = sim.tick()
    assert_refused(sim, result, "(controller: Deployment legacy (uid o-1))")
    assert sim.cluster.applied == [] and sim.cluster.objects[SELDON] == theirs


def test_an_owner_reference_that_is_not_a_controller_does_not_make_it_the_models() -> None:
    sim = Sim()
    sim.cluster.put("seldondeployments", foreign_graph({**MODEL_REF, "uid": "u-1",
                                                        "controller": False}))
    assert_refused(sim, sim.tick(), "(no controller)")
    assert sim.cluster.applied == []


def test_a_graph_the_model_controls_is_its_own() -> None:
    sim = Sim()
    sim.cluster.put("seldondeployments", foreign_graph({**MODEL_REF, "uid": "u-1"}))
    sim.tick()
    assert sim.cluster.applied == [SELDON] and sim.weights() == {"1": 100}


def test_a_foreign_graph_stamped_as_decided_on_a_newer_body_is_refused_not_waited_for() -> None:
    """Someone's copy of a graph from another cluster carries our decided-on annotation with a
    resourceVersion this cluster has not reached: trusted, the pass would wait for its body to
    catch up, silently and for ever."""
    sim = Sim()
    sim.body["metadata"]["resourceVersion"] = "10"
    sim.cluster.put("seldondeployments", foreign_graph(
        annotations={upliftmodel.DECIDED_ON: "999999"}))
    result = sim.tick()
    assert_refused(sim, result, "(no controller)")


def test_a_model_that_served_keeps_its_status_while_its_graph_is_someone_elses() -> None:
    sim = Sim()
    sim.with_canary()
    before = {k: sim.status[k] for k in ("stableVersion", "canaryVersion", "canaryWeight",
                                         "currentStep", "history", "gates")
              if k in sim.status}
    applied = len(sim.cluster.applied)
    sim.cluster.objects[SELDON] = foreign_graph()  # deleted and made again by someone else
    result = sim.tick(61)
    assert_refused(sim, result, "(no controller)")
    assert {k: sim.status.get(k) for k in before} == before  # nothing decided on their graph
    assert len(sim.cluster.applied) == applied
    del sim.cluster.objects[SELDON]
    sim.tick(30)
    assert sim.weights() == {"1": 90, "2": 10}  # the status' split, applied again


def test_an_invalid_spec_with_an_abort_pending_touches_no_foreign_graph() -> None:
    sim = Sim()
    sim.with_canary()
    sim.cluster.objects[SELDON] = foreign_graph()
    theirs = copy.deepcopy(sim.cluster.objects[SELDON])
    applied = len(sim.cluster.applied)
    sim.body["spec"]["rollout"]["gates"][0]["templateRef"] = "no-such-template"
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "now"
    sim.tick(1)
    assert sim.cluster.objects[SELDON] == theirs and len(sim.cluster.applied) == applied
    assert sim.condition("InvalidSpec")["status"] == "True"


# -- an UpliftModel deleted and created again under the same name --------------------------------

def test_a_predecessors_graph_and_key_hold_the_pass_until_collected() -> None:
    sim = Sim()
    sim.cluster.put("seldondeployments", foreign_graph(PREDECESSOR))
    put_secret(sim.cluster, PREDECESSOR, key="old")
    result = sim.tick(available=False)
    assert sim.cluster.applied == [] and sim.cluster.created_secrets == []
    for type_ in ("ServingApplied", "Ready"):
        condition = sim.condition(type_)
        assert (condition["status"], condition["reason"]) == ("False", "PredecessorBeingDeleted")
    assert sim.status["phase"] == "Progressing"
    assert sim.status["message"].startswith(
        f"waiting for SeldonDeployment {NS}/{NAME} to go: it is controlled by UpliftModel "
        f"{NAME} (uid u-0)")
    assert events(result) == [("Normal", "PredecessorBeingDeleted")]  # not an error storm
    # Looked at again soon, backing off, said once.
    waits = [sim.tick(seconds, available=False) for seconds in (2, 2, 4, 8, 16, 32)]
    assert [r.requeue_after for r in waits] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert all(r.events == () for r in waits) and sim.cluster.applied == []
    # The garbage collector takes the graph first: its key still holds the pass.
    del sim.cluster.objects[SELDON]
    result = sim.tick(1, available=False)
    assert sim.cluster.applied == [] and sim.cluster.secrets[KEY_SECRET] == {"key": "old"}
    assert sim.status["message"].startswith(
        f"waiting for Secret {NS}/{NAME}-decision-key to go: it is controlled by UpliftModel "
        f"{NAME} (uid u-0)")
    assert events(result) == [("Normal", "PredecessorBeingDeleted")]  # a new object: said
    result = sim.tick(2, available=False)
    assert result.requeue_after is not None and result.requeue_after <= 30
    # Then the key: the model makes its own and serves.
    drop_secret(sim.cluster)
    sim.deps.new_decision_key = lambda: "new"
    sim.tick(2)
    sim.tick(1)
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "new"}
    assert sim.cluster.created_secrets[-1]["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert sim.cluster.applied == [SELDON] and sim.status["phase"] == "Healthy"


# -- the decision-key Secret ---------------------------------------------------------------------

def test_a_decision_key_the_new_model_does_not_control_is_refused_and_left_as_it_is() -> None:
    sim = Sim()
    put_secret(sim.cluster)
    result = sim.tick()
    assert sim.cluster.applied == [] and SELDON not in sim.cluster.objects
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "theirs"}
    assert_refused(sim, result, f"Secret {NS}/{NAME}-decision-key exists and is not controlled "
                                "by this UpliftModel (no controller)")
    assert events(result) == [("Warning", "ServingConflict")]
    assert "stableVersion" not in sim.status
    drop_secret(sim.cluster)  # deleted: the operator makes its own
    sim.tick(30)
    assert sim.cluster.applied == [SELDON]
    assert sim.cluster.created_secrets[-1]["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_a_decision_key_controlled_by_another_object_is_refused_naming_it() -> None:
    sim = Sim()
    put_secret(sim.cluster, {"apiVersion": "external-secrets.io/v1beta1",
                             "kind": "ExternalSecret", "name": "keys", "uid": "e-1",
                             "controller": True})
    assert_refused(sim, sim.tick(), "(controller: ExternalSecret keys (uid e-1))")
    assert sim.cluster.applied == []


def test_a_serving_model_keeps_the_decision_key_it_does_not_control() -> None:
    """Before the operator created the decision-key Secrets users made them by hand: a model
    that serves with one keeps it (its pods sign with its key), also after an operator
    restart, and its rollouts go on."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    put_secret(sim.cluster, key="by-hand")  # made by hand, no controller
    sim.deps.decision_keys.clear()  # an operator restart
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30)
    sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10} and sim.status["canaryVersion"] == "2"
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "by-hand"}
    assert sim.condition("ServingApplied")["status"] == "True"


def test_a_serving_model_still_waits_for_a_predecessors_key_to_go() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    put_secret(sim.cluster, PREDECESSOR)  # left by an operator that counted it as present
    sim.deps.decision_keys.clear()
    sim.cluster.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 50  # a hand edit
    applied = len(sim.cluster.applied)
    sim.tick(1)
    assert sim.condition("ServingApplied")["reason"] == "PredecessorBeingDeleted"
    assert len(sim.cluster.applied) == applied  # its graph left as it is meanwhile
    drop_secret(sim.cluster)
    sim.tick(2)
    assert sim.weights() == {"1": 100}


def test_a_decision_key_known_to_be_the_models_is_not_read_again() -> None:
    """The Secret's owner is read once per process and model: a recheck answered 409 for a
    key already found to be the model's costs no GET."""

    class Counting(FakeCluster):
        reads: int = 0

        def get(self, api_version: str, plural: str, namespace: str,
                name: str) -> dict[str, Any] | None:
            if plural == "secrets":
                self.reads += 1
            return super().get(api_version, plural, namespace, name)

    sim = Sim()
    sim.cluster = Counting()
    sim.deps.cluster = sim.cluster
    sim.tick()  # created: nothing to read
    assert sim.cluster.reads == 0
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}  # a recheck is due
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert len(sim.cluster.created_secrets) == 2 and sim.cluster.reads == 0


def test_a_decision_key_whose_owner_cannot_be_read_counts_as_before() -> None:
    """With ``rbac.secretNames`` the operator may not read its own decision-key Secret: one
    that exists is used, as before."""

    class Unreadable(FakeCluster):
        def get(self, api_version: str, plural: str, namespace: str,
                name: str) -> dict[str, Any] | None:
            if plural == "secrets":
                raise KubeError(f"get secrets/{name}: 403 forbidden", 403)
            return super().get(api_version, plural, namespace, name)

    sim = Sim()
    sim.cluster = Unreadable()
    sim.deps.cluster = sim.cluster
    put_secret(sim.cluster, {"apiVersion": "v1", "kind": "Whatever", "name": "x", "uid": "w",
                             "controller": True})
    sim.tick()
    assert sim.cluster.applied == [SELDON]
