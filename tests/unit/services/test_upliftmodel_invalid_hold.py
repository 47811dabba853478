"""An UpliftModel whose spec is invalid (refused by validation, by the operator's policy, or not
fitting the version it resolves to) is held where it stands, and every such pass still does
what serving needs without a valid spec (``services.upliftmodel._invalid``):

- an abort or an emergency rollback moves the traffic and nothing else: the graph is rendered
  from the settings it was rendered with, never from the refused spec (a refused image,
  ServiceAccount or tracking URI never reaches a pod, the stable's included);
- an emergency rollback's restore ends once the restored version serves (or passes its
  deadline), and a hand-edited or deleted graph is put back;
- MLflow is not asked (the tracking URI may be the refused one): the decision is owed
  (``RegistryWrittenBack`` Unknown, ``WriteBackOwed``) and written at the first valid pass;
- ``Ready`` stays False/InvalidSpec as stored (its lastTransitionTime too), InvalidSpec is not
  told again in the same words.

Driven through ``reconcile`` with the fakes of ``test_upliftmodel.Sim``."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import (
    NS,
    REGISTERED,
    SELDON,
    Sim,
    reasons,
)

from uplift_operator.domain import validation
from uplift_operator.services.resolution import Resolver

STOPS = ["uplift.dev/abort", "uplift.dev/emergency-rollback"]
ROLE = "uplift.dev/role"
#: A gate the operator refuses (no such template): the spec parses, validation fails.
BAD_GATE = {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1}


def _pods(sim: Sim) -> dict[str, tuple[int, str, str | None, str | None]]:
    """version → (traffic, image, ServiceAccount, MLFLOW_TRACKING_URI) of each predictor."""
    out = {}
    for predictor in sim.cluster.objects[SELDON]["spec"]["predictors"]:
        pod = predictor["componentSpecs"][0]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        out[predictor["annotations"]["version"]] = (
            predictor["traffic"], container["image"], pod.get("serviceAccountName"),
            env.get("MLFLOW_TRACKING_URI"))
    return out


def _roles(sim: Sim) -> dict[str, str]:
    return {key[1]: value for key, value in sim.registry.tags.items() if key[2] == ROLE}


def _invalidate(sim: Sim, **spec: Any) -> None:
    """The spec edited (a new generation) so that the operator refuses it."""
    sim.body["spec"] = {**sim.body["spec"], **spec} if spec else {
        **sim.body["spec"], "rollout": {**sim.body["spec"]["rollout"], "gates": [
            *sim.body["spec"]["rollout"]["gates"], BAD_GATE]}}
    sim.body["metadata"]["generation"] += 1


def _policed() -> Sim:
    """A canary at 10 % under a policy that allows one image and one ServiceAccount."""
    sim = Sim()
    sim.deps.policy = validation.ServingPolicy(
        runtime_images=(r"runtime:test",), service_accounts=("runtime",),
        tracking_uris=(r"http://mlflow\.test",), default_tracking_uri="http://mlflow.test",
        default_runtime_image=sim.deps.runtime_image)
    sim.body["spec"]["serving"] = {"serviceAccountName": "runtime"}
    sim.with_canary()
    return sim


def _promoted() -> Sim:
    """Version 2 promoted over 1 by hand: 1 is the previous stable."""
    sim = Sim()
    sim.with_canary()
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "full:1"}
    sim.tick(1)
    sim.tick(1)
    assert (sim.status["stableVersion"], sim.weights()) == ("2", {"2": 100})
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"
    return sim


# -- 1. a stop moves the traffic only -----------------------------------------------------------

@pytest.mark.parametrize("annotation", STOPS)
def test_a_stop_on_a_spec_the_policy_refuses_renders_nothing_it_refused(annotation: str) -> None:
    sim = _policed()
    assert _pods(sim) == {"1": (90, "runtime:test", "runtime", "http://mlflow.test"),
                          "2": (10, "runtime:test", "runtime", "http://mlflow.test")}
    _invalidate(sim, serving={"runtimeImage": "evil.example/anything:latest",
                              "serviceAccountName": "ci-deployer"},
                model={**sim.body["spec"]["model"],
                       "trackingUri": "http://internal-admin.kube-system:8080"})
    sim.tick(1)
    invalid = sim.condition("InvalidSpec")["message"]
    assert invalid.count("is not allowed by the operator") == 3
    stable = copy.deepcopy(sim.cluster.objects[SELDON]["spec"]["predictors"][0])
    sim.body["metadata"]["annotations"] = {annotation: "page-1"}
    result = sim.tick(1)
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")
    assert _pods(sim) == {"1": (100, "runtime:test", "runtime", "http://mlflow.test")}
    # The stable's predictor as it was, but its traffic: its pods do not roll.
    after = sim.cluster.objects[SELDON]["spec"]["predictors"][0]
    assert {**after, "traffic": 0} == {**stable, "traffic": 0}


def test_an_emergency_restore_on_a_refused_spec_renders_the_restored_version_as_the_graph_is(
        ) -> None:
    """The restored version's predictor is new (it left the graph at the promotion): it is
    rendered with the settings the graph has, not the refused spec's."""
    sim = _promoted()
    sim.deps.policy = validation.ServingPolicy(runtime_images=(r"runtime:test",))
    _invalidate(sim, serving={"runtimeImage": "evil.example/anything:latest",
                              "replicas": 7})
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "page-1"}
    sim.tick(1)
    assert _pods(sim) == {"1": (0, "runtime:test", None, "http://mlflow.test"),
                          "2": (100, "runtime:test", None, "http://mlflow.test")}
    assert {p["replicas"] for p in sim.cluster.objects[SELDON]["spec"]["predictors"]} == {1}


# -- 2. the hold: a restore ends, a hand edit or a deleted graph is put back --------------------

def test_an_emergency_restore_on_an_invalid_spec_ends_once_the_restored_version_serves(
        ) -> None:
    sim = _promoted()
    _invalidate(sim)
    sim.tick(1)
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "page-1"}
    result = sim.tick(60)
    assert reasons(result) == ["EmergencyRollback"]
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    assert result.requeue_after is not None  # the restore's deadline
    result = sim.tick(60)  # Seldon reported 1's predictor available
    assert reasons(result) == ["StableRestored"]
    assert sim.weights() == {"1": 100}
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.status["stableServedVersion"] == "1"
    for _ in range(3):  # at rest: nothing told, nothing asked for
        result = sim.tick(60)
        assert result.events == () and result.requeue_after is None
    assert sim.weights() == {"1": 100}


def test_a_restore_on_an_invalid_spec_that_never_serves_passes_its_deadline_once() -> None:
    sim = _promoted()
    _invalidate(sim)
    sim.tick(1)
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "page-1"}
    result = sim.tick(1, available=False)
    assert result.requeue_after is not None and 590 <= result.requeue_after <= 600
    result = sim.tick(result.requeue_after, available=False)  # woken at the deadline
    told = [e for e in result.events if e.reason == "ProgressDeadlineExceeded"]
    assert [e.type for e in told] == ["Warning"]
    assert sim.status["history"][-1]["action"] == "ProgressDeadlineExceeded"
    assert sim.weights() == {"1": 0, "2": 100}  # 2 keeps the traffic meanwhile
    for _ in range(3):
        result = sim.tick(3600, available=False)
        assert result.events == () and result.requeue_after is None


def test_an_emergency_rollback_while_the_new_alias_version_does_not_fit_restores_the_stable(
        ) -> None:
    """The incident: version 2 promoted and bad, the alias moved to a hotfix 3 that does not
    score the spec's treatment (InvalidSpec), then the emergency rollback: 1 gets the traffic
    back while the alias still names 3."""
    sim = _promoted()
    sim.registry.run_tag_values["run-3"] = {"uplift.treatments": '{"sms": "SMS"}'}
    sim.registry.aliases[(REGISTERED, "champion")] = "3"
    sim.deps.resolver = Resolver()
    sim.tick(31)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert "is not a treatment version 3" in sim.condition("InvalidSpec")["message"]
    sim.body["metadata"]["annotations"]["uplift.dev/emergency-rollback"] = "incident-42"
    assert reasons(sim.tick(30)) == ["EmergencyRollback"]
    assert reasons(sim.tick(30)) == ["StableRestored"]
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 100}


def test_a_hand_edited_graph_is_put_back_while_the_spec_is_invalid() -> None:
    sim = Sim()
    sim.with_canary()
    _invalidate(sim)
    sim.tick(1)
    applied = len(sim.cluster.applied)
    predictors = sim.cluster.objects[SELDON]["spec"]["predictors"]
    predictors[0]["traffic"], predictors[1]["traffic"] = 0, 100
    sim.tick(60)
    assert sim.weights() == {"1": 90, "2": 10} and len(sim.cluster.applied) == applied + 1
    assert sim.status["canaryWeight"] == 10 and sim.condition("InvalidSpec")["status"] == "True"
    result = sim.tick(60)
    assert len(sim.cluster.applied) == applied + 1  # as it is: nothing applied again
    assert result.events == () and result.requeue_after is None  # no analysis is due


def test_a_deleted_graph_is_created_again_while_the_spec_is_invalid() -> None:
    sim = Sim()
    sim.with_canary()
    before = copy.deepcopy(sim.cluster.objects[SELDON]["spec"])
    _invalidate(sim)
    sim.tick(1)
    del sim.cluster.objects[SELDON]
    sim.tick(60)
    assert sim.cluster.objects[SELDON]["spec"] == before
    assert sim.condition("ServingApplied")["status"] == "True"


def test_a_deleted_graph_under_a_refused_spec_comes_back_with_the_operators_defaults() -> None:
    """No graph to take the settings from: the spec's, but what the policy refuses is the
    operator's default (its image, its tracking URI, no ServiceAccount)."""
    sim = _policed()
    _invalidate(sim, serving={"runtimeImage": "evil.example/anything:latest",
                              "serviceAccountName": "ci-deployer"},
                model={**sim.body["spec"]["model"],
                       "trackingUri": "http://internal-admin.kube-system:8080"})
    sim.tick(1)
    del sim.cluster.objects[SELDON]
    sim.tick(60)
    assert _pods(sim) == {"1": (90, "runtime:test", None, "http://mlflow.test"),
                          "2": (10, "runtime:test", None, "http://mlflow.test")}


def test_a_deleted_graph_is_not_created_with_open_report_endpoints() -> None:
    """The spec asks for a report token whose Secret is not there: the graph is not created
    without it (its report endpoints would take anyone's reports); said as a refused apply,
    retried, and created once the Secret is there."""
    sim = Sim()
    sim.with_canary()
    _invalidate(sim, serving={"reportCredentials": {"name": "report-senders"}})
    sim.tick(1)
    assert "Secret 'report-senders' does not exist" in sim.condition("InvalidSpec")["message"]
    del sim.cluster.objects[SELDON]
    result = sim.tick(60)
    assert SELDON not in sim.cluster.objects
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    assert "is not created while the spec is invalid" in applied["message"]
    assert "ApplyFailed" in reasons(result) and result.requeue_after is not None
    sim.cluster.secrets[(NS, "report-senders")] = {"token": "t" * 32}
    sim.tick(result.requeue_after)
    assert SELDON in sim.cluster.objects and sim.weights() == {"1": 90, "2": 10}


def test_a_held_canary_asks_for_no_pass_and_tells_nothing_while_the_spec_is_invalid() -> None:
    """A paused canary, its stable down: the ramp's Paused and StableNotServing are told on a
    change of the stored phase and Ready, which the invalid spec's are: not at every pass."""
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["paused"] = True
    sim.body["metadata"]["generation"] += 1
    sim.tick(1)
    assert sim.status["phase"] == "Paused"
    _invalidate(sim)
    sim.tick(1)
    sim.seldon("Failed")
    for _ in range(4):
        result = sim.tick(60, available=False)
        assert [e.reason for e in result.events if e.reason != "InvalidSpec"] == []
        assert result.requeue_after is None
    assert sim.weights() == {"1": 90, "2": 10}


# -- 3. the registry: owed, written at the first valid pass -------------------------------------

def test_an_abort_on_an_invalid_spec_is_written_to_mlflow_once_the_spec_is_valid() -> None:
    sim = Sim()
    sim.with_canary()
    valid = copy.deepcopy(sim.body["spec"])
    _invalidate(sim)
    sim.tick(1)
    written = dict(sim.registry.tags)
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "page-1"}
    sim.tick(1)
    assert sim.weights() == {"1": 100} and sim.registry.tags == written  # MLflow not asked
    owed = sim.condition("RegistryWrittenBack")
    assert (owed["status"], owed["reason"]) == ("Unknown", "WriteBackOwed")
    sim.tick(60)
    assert sim.condition("RegistryWrittenBack")["reason"] == "WriteBackOwed"
    sim.body["spec"] = valid
    sim.body["metadata"]["generation"] += 1
    sim.tick(1)
    sim.tick(1)  # the pass the worker wakes
    assert _roles(sim) == {"1": "stable", "2": "rolled-back"}
    assert sim.condition("RegistryWrittenBack")["status"] == "True"


def test_an_emergency_rollback_on_an_invalid_spec_moves_the_alias_once_the_spec_is_valid(
        ) -> None:
    sim = _promoted()
    valid = copy.deepcopy(sim.body["spec"])
    _invalidate(sim)
    sim.tick(1)
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "page-1"}
    for _ in range(3):
        sim.tick(5)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 100}
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"  # not yet
    assert sim.condition("RegistryWrittenBack")["reason"] == "WriteBackOwed"
    sim.body["spec"] = valid
    sim.body["metadata"]["generation"] += 1
    sim.tick(30)
    sim.tick(1)
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert _roles(sim) == {"1": "stable", "2": "rolled-back"}
    assert sim.condition("RegistryWrittenBack")["status"] == "True"


def test_a_stop_request_ignored_on_an_invalid_spec_owes_mlflow_nothing() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    _invalidate(sim)
    sim.tick(1)
    written = sim.condition("RegistryWrittenBack")
    assert written["status"] == "True"
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "page-1"}
    result = sim.tick(1)
    assert "ManualAbort" in reasons(result)  # no canary to abort: ignored
    sim.tick(60)
    assert sim.condition("RegistryWrittenBack") == written


# -- 4. Ready and InvalidSpec as stored ---------------------------------------------------------

def test_a_stop_on_an_invalid_spec_keeps_ready_as_it_was_and_tells_invalid_spec_once() -> None:
    sim = Sim()
    sim.with_canary()
    _invalidate(sim)
    sim.tick(1)
    sim.tick(60)
    ready, message = sim.condition("Ready"), sim.status["message"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "page-1"}
    result = sim.tick(60)
    assert reasons(result) == ["ManualAbort"]
    assert sim.condition("Ready") == ready and sim.status["message"] == message


# -- a spec that does not parse -----------------------------------------------------------------

def test_a_stop_on_a_spec_that_does_not_parse_is_said_not_acted_on() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["analysisInterval"] = "soon"  # the schema refuses it
    sim.body["metadata"]["generation"] += 1
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "True"
    applied = len(sim.cluster.applied)
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "page-1"}
    result = sim.tick(1)
    assert sim.status["message"].startswith(
        "uplift.dev/abort not acted on: the spec does not parse: invalid spec: ")
    assert reasons(result) == ["InvalidSpec"] and result.requeue_after is None
    assert sim.weights() == {"1": 90, "2": 10} and len(sim.cluster.applied) == applied
    assert "uplift.dev/abort" not in sim.status.get("handledRequests", {})
    assert sim.tick(60).events == ()  # said once
