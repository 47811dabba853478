"""services.upliftmodel.reconcile against in-memory ports: what one pass does to the cluster,
MLflow and the status, asserted as actions (what was applied, tagged, emitted)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import Any, get_args

import pytest
from tests.unit.services.fakes import FakeCluster, FakeMetrics, FakeRegistry

from uplift_operator.adapters.kube import KubeError
from uplift_operator.adapters.mlflow_registry import (
    CredentialsRefused,
    RegistryNotAsked,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.campaign import CampaignGate
from uplift_operator.api.v1alpha1.upliftmodel import ModelGate, ModelReference
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain import gates, stuck, validation
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import SeldonV1Backend, deployment_names
from uplift_operator.services import measurements, upliftmodel
from uplift_operator.services import writeback as upliftmodel_writeback
from uplift_operator.services.common import PassResult, TimedCache
from uplift_operator.services.resolution import FAILURE_REUSE, Resolver, Scope
from uplift_operator.services.writeback import WriteBack
from uplift_operator.stats.results import SequentialState

NS, NAME, REGISTERED = "shop", "uplift", "hillstrom"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
PROBE = "probe_value"
SPEC: dict[str, Any] = {
    "model": {"registeredModel": REGISTERED, "alias": "champion", "aliasRefreshInterval": "30s",
              "promotionAlias": "production"},
    "treatments": [{"name": "email"}],
    "rollout": {"analysisInterval": "1m",
                "steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "2m"}],
                "gates": [{"name": "probe", "type": "custom", "query": PROBE, "max": 1.0}]},
}
SELDON = ("machinelearning.seldon.io/v1", "seldondeployments", NS, NAME)


class Sim:
    """One UpliftModel, a fake cluster where Seldon reports Available on request, a fake MLflow
    with versions 1 and 2 (alias champion → 1) and a fake Prometheus."""

    def __init__(self) -> None:
        self.cluster, self.metrics, self.registry = FakeCluster(), FakeMetrics(), FakeRegistry()
        for version in ("1", "2", "3"):
            self.registry.add(REGISTERED, version)
        self.registry.aliases[(REGISTERED, "champion")] = "1"
        self.deps = upliftmodel.Dependencies(
            cluster=self.cluster, backend=SeldonV1Backend(),
            registry_for=lambda ref, namespace: self.registry, prometheus=self.metrics,
            metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:test",
            default_tracking_uri="http://mlflow.test")
        self.body: dict[str, Any] = {
            "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
            "metadata": {"name": NAME, "namespace": NS, "uid": "u-1", "generation": 1,
                         "annotations": {}},
            "spec": copy.deepcopy(SPEC)}
        self.now = T0
        self.results: list[PassResult] = []
        self.deps.write_back = WriteBack(clock=lambda: self.now.timestamp())
        # Each tick's first-version status written at once: the grace has its own tests below.
        self.deps.first_status_grace = dt.timedelta(0)

    def tick(self, seconds: float = 0, available: bool = True) -> PassResult:
        self.now += dt.timedelta(seconds=seconds)
        result = status_written(upliftmodel.reconcile(copy.deepcopy(self.body), self.deps,
                                                      self.now))
        self.deps.write_back.run_due()  # the worker, played after each pass
        self.body["status"] = result.status
        self.results.append(result)
        if available and SELDON in self.cluster.objects:  # Seldon's controller, played
            self.seldon()
        return result

    def seldon(self, state: str = "Available") -> None:
        """Seldon's controller, played: the status it writes once it has reconciled the graph
        there now and its Deployments are in ``state`` (``devenv.seldon_standin``)."""
        self.cluster.objects[SELDON]["status"] = seldon_status(self.cluster.objects[SELDON], state)

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body["status"])

    def condition(self, type_: str) -> dict[str, Any]:
        return next(c for c in self.status["conditions"] if c["type"] == type_)

    def weights(self) -> dict[str, int]:
        child = self.cluster.objects[SELDON]
        return {p["annotations"]["version"]: p["traffic"] for p in child["spec"]["predictors"]}

    def with_canary(self) -> None:
        self.tick()
        self.tick(1)
        assert self.status["phase"] == "Healthy"
        self.registry.aliases[(REGISTERED, "champion")] = "2"
        self.tick(30)
        self.tick(1)  # the canary predictor reported Available
        assert self.status["canaryVersion"] == "2" and self.weights() == {"1": 90, "2": 10}


def status_written(result: PassResult) -> PassResult:
    """``result`` once the pass runner wrote its status: what it does then (the MLflow
    write-backs submitted), done."""
    if result.after_write is not None:
        result.after_write()
    return result


def reasons(result: PassResult) -> list[str]:
    return [e.reason for e in result.events]


# -- apply ----------------------------------------------------------------------------------------

def test_first_pass_applies_the_serving_graph_once() -> None:
    sim = Sim()
    sim.tick()
    assert sim.cluster.applied == [SELDON] and sim.weights() == {"1": 100}
    assert sim.condition("ServingApplied")["reason"] == "Applied"
    assert sim.condition("ModelResolved")["status"] == "True"
    sim.tick(1)
    sim.tick(1)
    assert sim.cluster.applied == [SELDON]  # what is there already is not applied again
    assert sim.status["phase"] == "Healthy"


def test_a_gate_field_stored_before_the_api_refused_it_is_named_once_per_generation() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"][0]["expectedSamples"] = 5000  # custom never reads it
    said = [e for e in sim.tick().events if e.reason == "IgnoredField"]
    assert [(e.type, e.message) for e in said] == [(
        "Warning", "spec.rollout.gates[0] (probe): expectedSamples applies to drift, qini, "
                   "onlineEffect and upliftSanity gates only; ignored (stored before the API "
                   "server refused it: remove it)")]
    assert sim.weights() == {"1": 100}  # ignored, as before: nothing else changes
    assert "IgnoredField" not in reasons(sim.tick(1))


def test_an_apply_error_sets_serving_applied_false_and_warns() -> None:
    sim = Sim()
    sim.cluster.apply_error = KubeError("seldondeployments is forbidden", 403)
    result = sim.tick()
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    assert "forbidden" in applied["message"]
    assert ("Warning", "ApplyFailed") in [(e.type, e.reason) for e in result.events]
    # Retried every few seconds: the same refusal is said once, a new one again
    assert all("ApplyFailed" not in reasons(sim.tick(60)) for _ in range(5))
    sim.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    assert "ApplyFailed" in reasons(sim.tick(60))
    sim.cluster.apply_error = None
    sim.tick(1)
    assert sim.condition("ServingApplied")["status"] == "True" and SELDON in sim.cluster.objects


def test_a_rollback_whose_apply_failed_is_applied_again_within_seconds_backing_off() -> None:
    """The status says rolled back while the graph still gives the canary its weight: the pass
    asks to run again in seconds (not at the next resync), longer while the apply keeps
    failing, at most a minute."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0  # the custom gate's max is 1: Fail, rollback
    sim.cluster.apply_error = KubeError("the server is currently unable to handle the request",
                                        503)
    result = sim.tick(61)
    assert "canaryVersion" not in sim.status and sim.weights() == {"1": 90, "2": 10}
    assert result.requeue_after == 2.0
    waits = [sim.tick(seconds).requeue_after for seconds in (2, 2, 4, 8, 16, 32, 64, 128)]
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    sim.cluster.apply_error = None
    result = sim.tick(1)
    # applied: one more pass at once, to say so (its words read the refusal), then at rest
    assert sim.weights() == {"1": 100} and result.requeue_after == 0
    assert sim.tick(0).requeue_after is None


def test_the_model_stays_ready_while_a_canarys_pods_start() -> None:
    """Seldon says Creating while the canary's pods start; the stable's own Deployment is
    available (its deploymentStatus): Ready stays True, the canary gets no traffic yet."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.condition("Ready")["status"] == "True"
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30, available=False)  # the canary's predictor is in the graph now
    child = sim.cluster.objects[SELDON]
    stable, canary = child["spec"]["predictors"]
    child["status"] = {"state": "Creating", "deploymentStatus": {
        deployment_names(NAME, stable)[0]: {"replicas": 1, "availableReplicas": 1},
        deployment_names(NAME, canary)[0]: {"replicas": 1, "availableReplicas": 0}}}
    for _ in range(3):
        sim.tick(5, available=False)
        ready = sim.condition("Ready")
        assert (ready["status"], ready["reason"]) == ("True", "StableServing")
        assert sim.weights() == {"1": 100, "2": 0}
    sim.tick(1)  # Seldon reports Available after this pass
    sim.tick(1)  # the canary serves: its first step starts
    assert sim.weights() == {"1": 90, "2": 10}


def creating(sim: Sim, available: dict[str, int], replicas: int = 1) -> None:
    """Seldon's status while a Deployment has an unavailable replica: ``Creating`` for the whole
    graph, each version's Deployment of ``replicas`` with ``available`` ones (none: no such
    key, as Seldon omits it)."""
    child = sim.cluster.objects[SELDON]
    child["status"] = {"state": "Creating", "deploymentStatus": {
        deployment_names(NAME, p)[0]: {"replicas": replicas, **(
            {"availableReplicas": available[p["annotations"]["version"]]}
            if available[p["annotations"]["version"]] else {})}
        for p in child["spec"]["predictors"]}}


def test_a_canary_with_traffic_whose_pods_are_down_is_rolled_back_after_the_grace() -> None:
    """Its own Deployment has no available replica (the graph Creating for good) while the
    stable's serves: after 5 minutes the canary is rolled back, not held with its traffic."""
    sim = Sim()
    sim.with_canary()
    creating(sim, {"1": 1, "2": 0})
    sim.tick(30, available=False)
    assert sim.status["canaryNotServingSince"] and sim.weights() == {"1": 90, "2": 10}
    creating(sim, {"1": 1, "2": 0})
    result = sim.tick(300, available=False)
    assert "RolledBack" in reasons(result)
    assert "canaryVersion" not in sim.status and sim.status["abortedVersion"] == "2"
    assert sim.weights()["1"] == 100
    assert "canary 2 has not served for 5m" in sim.status["history"][-1]["reason"]


def test_a_graph_not_ready_for_the_stables_pods_blames_no_canary() -> None:
    """One of the stable's two pods restarting keeps the graph Creating too; the canary's own
    Deployment serves: it is not rolled back, however long that lasts."""
    sim = Sim()
    sim.with_canary()
    for _ in range(12):
        creating(sim, {"1": 1, "2": 2}, replicas=2)
        sim.tick(60, available=False)
    assert sim.status["canaryVersion"] == "2" and "canaryNotServingSince" not in sim.status
    assert sim.weights() == {"1": 90, "2": 10}


def test_a_stale_available_gives_a_canary_just_added_no_traffic() -> None:
    """The pass after the canary's predictor is applied is woken by that apply's own watch
    event, before Seldon has reconciled it: Seldon's status is still the Available it wrote
    for the stable alone (no observedGeneration, no Deployment for the canary). The canary gets
    no traffic until Seldon reports its Deployment available (render.seldon's docstring)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30, available=False)  # the canary's predictor is in the graph now
    assert sim.weights() == {"1": 100, "2": 0}
    stale = sim.cluster.objects[SELDON]["status"]
    assert stale["state"] == "Available" and len(stale["deploymentStatus"]) == 1
    for _ in range(3):
        result = sim.tick(1, available=False)
        assert sim.weights() == {"1": 100, "2": 0}
        assert "TrafficStarted" not in [e.reason for e in result.events]
        ready = sim.condition("Ready")
        assert (ready["status"], ready["reason"]) == ("True", "StableServing")
    sim.seldon()  # Seldon has reconciled the graph: the canary's Deployment is available
    sim.tick(1)
    assert sim.weights() == {"1": 90, "2": 10}


def test_a_stale_available_does_not_end_an_emergency_restore() -> None:
    """An emergency rollback adds the restored version's predictor back; the passes woken
    before Seldon reconciles still read the Available written for the promoted version alone.
    The restored version has no Deployment yet: the promoted one keeps the traffic."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    for _ in range(3):
        result = sim.tick(1, available=False)
        assert sim.weights() == {"1": 0, "2": 100}
        assert "StableRestored" not in [e.reason for e in result.events]
    sim.seldon()  # Seldon has reconciled the graph: 1's Deployment is available again
    result = sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert "StableRestored" in [e.reason for e in result.events]


def test_an_emergency_restore_ends_when_the_restored_version_serves_next_a_broken_one() -> None:
    """The usual emergency rollback: the promoted version's pods crash-loop. Seldon reconciles
    the graph with the restored version back in and reports it ``Creating`` for good (the
    replaced version's Deployment has no available replica), while the restored version's own
    Deployment is available: it serves, so the restore ends and it takes the traffic, rather
    than the broken version keeping it until the restore's deadline."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    child = sim.cluster.objects[SELDON]
    predictors = {p["annotations"]["version"]: p for p in child["spec"]["predictors"]}
    child["status"] = {"state": "Creating", "deploymentStatus": {
        deployment_names(NAME, predictors["1"])[0]: {"replicas": 1, "availableReplicas": 1},
        deployment_names(NAME, predictors["2"])[0]: {"replicas": 1}}}  # none available
    result = sim.tick(5, available=False)
    assert "StableRestored" in reasons(result)
    assert sim.weights() == {"1": 100}  # the broken version has no traffic any more
    assert "ProgressDeadlineExceeded" not in sim.status["message"]
    ready = sim.condition("Ready")
    assert (ready["status"], ready["reason"]) == ("True", "StableServing")


def test_a_model_being_deleted_applies_nothing_the_garbage_collector_removes() -> None:
    """A foreground deletion (Argo CD's prune) deletes the children first: their events wake
    the model's pass, which must not apply the graph (or anything) again."""
    sim = Sim()
    sim.with_canary()
    applied = len(sim.cluster.applied)
    sim.body["metadata"]["deletionTimestamp"] = "2026-12-01T12:10:00Z"
    del sim.cluster.objects[SELDON]  # the garbage collector took it
    before = copy.deepcopy(sim.status)
    result = sim.tick(61, available=False)
    assert SELDON not in sim.cluster.objects and len(sim.cluster.applied) == applied
    assert result.events == () and result.requeue_after is None and sim.status == before


def test_a_hand_edited_child_is_applied_again() -> None:
    sim = Sim()
    sim.with_canary()
    applied = len(sim.cluster.applied)
    child = sim.cluster.objects[SELDON]
    child["spec"]["predictors"][1]["traffic"] = 60  # kubectl edit
    child["spec"]["predictors"][0]["traffic"] = 40
    sim.tick(1)
    assert len(sim.cluster.applied) == applied + 1 and sim.weights() == {"1": 90, "2": 10}
    child = sim.cluster.objects[SELDON]
    child["metadata"]["annotations"]["someone/else"] = "x"  # a field we do not own: left alone
    sim.tick(1)
    assert len(sim.cluster.applied) == applied + 1
    del child["metadata"]["annotations"]["uplift.dev/roles"]  # one we own (the roles): back
    sim.tick(1)
    assert len(sim.cluster.applied) == applied + 2
    assert sim.cluster.objects[SELDON]["metadata"]["annotations"]["uplift.dev/roles"]


def test_labels_edited_away_come_back_with_the_decided_on_stamp() -> None:
    """A label-only re-apply is a forced server-side apply like any other: it carries the
    decided-on stamp (the guard against a stale replica stepping the graph back), or the apply
    would take it off the graph until the next split change."""
    sim = Sim()
    sim.body["metadata"]["resourceVersion"] = "40"
    sim.with_canary()
    graph = sim.cluster.objects[SELDON]
    assert graph["metadata"]["annotations"][upliftmodel.DECIDED_ON] == "40"
    graph["metadata"]["labels"] = {}
    applied = len(sim.cluster.applied)
    sim.body["metadata"]["resourceVersion"] = "41"
    sim.tick(1)
    graph = sim.cluster.objects[SELDON]
    assert len(sim.cluster.applied) == applied + 1 and graph["metadata"]["labels"]
    assert graph["metadata"]["annotations"][upliftmodel.DECIDED_ON] == "41"


def test_a_step_whose_apply_failed_is_applied_again_and_its_split_judged_from_then() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"] = [{"name": "errors", "type": "errorRate"}]
    sim.with_canary()
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "step"}
    sim.cluster.apply_error = KubeError("the server is currently unable to handle the request",
                                        503)
    sim.tick(1)  # the status moves to step 2; the graph stays at step 1
    assert sim.status["canaryWeight"] == 50 and sim.weights() == {"1": 90, "2": 10}
    sim.cluster.apply_error = None
    sim.tick(1)
    applied_again = sim.now
    assert sim.weights() == {"1": 50, "2": 50}
    assert sim.status["splitAppliedAt"] == applied_again.isoformat().replace("+00:00", "Z")
    sim.tick(1)
    assert sim.status["splitAppliedAt"] == applied_again.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(("applied_after_s", "window"), [(None, "90s"), (5, "85s"), (100, None)])
def test_the_split_is_counted_from_one_interval_after_it_was_last_applied(
        applied_after_s: int | None, window: str | None) -> None:
    step = T0
    ctx = measurements.GateContext(
        namespace=NS, name=NAME, canary_version="2", stable_version="1", canary_run_id=None,
        stable_run_id=None, step_started_at=step, canary_started_at=step,
        now=step + dt.timedelta(seconds=150), analysis_interval_s=60, holdout_fraction=0.1,
        metric_templates=BUILTIN_TEMPLATES, treatments=(), canary_share=0.5,
        split_applied_at=(step + dt.timedelta(seconds=applied_after_s)
                          if applied_after_s is not None else None))
    assert ctx.settled_window == window
    assert ctx.window == "150s"  # the gates' own counts still since the step started


# -- a first version's first status waits a grace for its graph to serve -----------------------

GRACE = upliftmodel.FIRST_STATUS_GRACE


def _created(sim: Sim, at: dt.datetime) -> None:
    sim.cluster.objects[SELDON].setdefault("metadata", {})["creationTimestamp"] = (
        at.isoformat().replace("+00:00", "Z"))


def test_a_graph_that_serves_within_the_grace_costs_one_status_write_and_one_event() -> None:
    sim = Sim()
    sim.deps.first_status_grace = GRACE
    first = sim.tick(available=False)
    assert sim.cluster.applied == [SELDON]  # the graph is created at once ...
    assert first.status == {} and first.events == ()  # ... its status and event wait
    assert first.requeue_after == GRACE.total_seconds()
    assert not sim.registry.tags and (REGISTERED, "production") not in sim.registry.aliases
    _created(sim, T0)
    woken = sim.tick(1, available=False)  # the graph's own watch event: not serving yet
    assert woken.status == {} and woken.events == ()
    assert woken.requeue_after == (GRACE - dt.timedelta(seconds=1)).total_seconds()
    sim.seldon()
    served = sim.tick(1)  # Seldon reported it Available
    assert served.status["phase"] == "Healthy" and served.status["stableVersion"] == "1"
    assert reasons(served) == ["Promoted"]
    assert sim.cluster.applied == [SELDON]
    history = served.status["history"]
    assert [h["action"] for h in history] == ["Promoted"]
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"  # queued with the status


def test_a_graph_slower_than_the_grace_shows_progressing_once_it_has_run_out() -> None:
    sim = Sim()
    sim.deps.first_status_grace = GRACE
    sim.tick(available=False)
    _created(sim, T0)
    late = sim.tick(GRACE.total_seconds(), available=False)
    assert late.status["phase"] == "Progressing" and reasons(late) == ["Promoted"]
    assert sim.condition("Ready")["reason"] == "WaitingForServing"
    sim.seldon()
    healthy = sim.tick(60)
    assert healthy.status["phase"] == "Healthy" and healthy.events == ()


def test_a_graph_seldon_reports_creating_shows_progressing_at_that_report() -> None:
    """What Seldon says is shown at once: a graph it reports Creating (real pods: minutes) is
    Progressing at that report, not at the grace's end; Healthy follows when it serves."""
    sim = Sim()
    sim.deps.first_status_grace = GRACE
    sim.tick(available=False)
    _created(sim, T0)
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}
    reported = sim.tick(1, available=False)
    assert reported.status["phase"] == "Progressing" and reasons(reported) == ["Promoted"]
    assert sim.condition("Ready")["reason"] == "WaitingForServing"
    sim.seldon()
    assert sim.tick(40).status["phase"] == "Healthy"


@pytest.mark.parametrize(("current", "decided", "ready", "child", "applied", "seconds", "wait"), [
    # this pass created the graph: the whole grace
    ({}, {"stableVersion": "1"}, False, None, "ok", 0, 5.0),
    # the graph created 2 s before this pass, Seldon silent so far: what is left of it
    ({}, {"stableVersion": "1"}, False, "T0", "ok", 2, 3.0),
    # Seldon reported it Creating: written at once (Progressing), the grace not waited out
    ({}, {"stableVersion": "1"}, False, "T0 Creating", "ok", 2, None),
    # run out: write (Progressing)
    ({}, {"stableVersion": "1"}, False, "T0", "ok", 5, None),
    # serving: write (Healthy)
    ({}, {"stableVersion": "1"}, True, None, "ok", 0, None),
    # a Progressing status already shown (waiting for the reference to resolve): the same wait
    ({"phase": "Progressing"}, {"stableVersion": "1"}, False, None, "ok", 0, 5.0),
    # something else shown (a spec found invalid, now fixed): written at once
    ({"phase": "Degraded"}, {"stableVersion": "1"}, False, None, "ok", 0, None),
    # not a first version: a canary start is written at once
    ({"phase": "Healthy", "stableVersion": "1"}, {"stableVersion": "1", "canaryVersion": "2"},
     False, "T0", "ok", 0, None),
    # nothing resolved yet, nothing applied, or the apply failed: written at once
    ({}, {}, False, None, None, 0, None),
    ({}, {"stableVersion": "1"}, False, None, "error", 0, None),
    # a graph without a creation time is not waited for
    ({}, {"stableVersion": "1"}, False, "", "ok", 1, None),
])
def test_first_status_wait(current: dict[str, Any], decided: dict[str, Any], ready: bool,
                           child: str | None, applied: str | None, seconds: int,
                           wait: float | None) -> None:
    from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus
    from uplift_operator.domain.status import Applied

    body = None if child is None else {"metadata": (
        {"creationTimestamp": "2026-12-01T12:00:00Z"} if child.startswith("T0") else {})}
    if child and " " in child:
        body = {**(body or {}), "status": {"state": child.split()[1]}}
    done = None if applied is None else Applied("SeldonDeployment uplift", "v1 100%",
                                                error="refused" if applied == "error" else None)
    assert upliftmodel.first_status_wait(
        UpliftModelStatus.model_validate(current), UpliftModelStatus.model_validate(decided),
        ready, body, done, T0 + dt.timedelta(seconds=seconds), dt.timedelta(seconds=5)) == wait


# -- a body behind the serving graph (two replicas acting after an API outage) ----------------------

def test_a_pass_on_a_body_older_than_the_graph_was_decided_on_decides_nothing() -> None:
    sim = Sim()
    sim.body["metadata"]["resourceVersion"] = "40"
    sim.with_canary()
    stamped = sim.cluster.objects[SELDON]["metadata"]["annotations"][upliftmodel.DECIDED_ON]
    assert stamped == "40"  # the graph says which body it was decided on
    before, applied = copy.deepcopy(sim.status), list(sim.cluster.applied)
    # Another replica stepped the ramp on a newer body (resourceVersion 55) ...
    sim.cluster.objects[SELDON]["metadata"]["annotations"][upliftmodel.DECIDED_ON] = "55"
    sim.cluster.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 70  # its next step
    result = sim.tick(60)  # ... and this pass still sees body 40: an analysis is due, a step
    assert result.status == before and result.events == ()  # decides nothing, writes nothing
    assert sim.cluster.applied == applied and result.requeue_after == 1.0
    sim.body["metadata"]["resourceVersion"] = "56"  # the watch caught up
    sim.tick(1)
    assert sim.cluster.applied != applied  # decides again


def test_an_apply_over_a_graph_changed_since_it_was_read_decides_again() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.cluster.objects[SELDON]["metadata"]["resourceVersion"] = "9"
    sim.cluster.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 50  # a hand edit to revert
    sim.cluster.apply_error = KubeError("apply seldondeployments/uplift: 409 Conflict", 409)
    before = copy.deepcopy(sim.status)
    result = sim.tick(1)  # the graph moved again between the read and the apply
    assert result.status == before and "ApplyFailed" not in reasons(result)
    assert result.requeue_after == 1.0
    sim.cluster.apply_error = None
    sim.tick(1)
    assert sim.weights() == {"1": 100}


def test_the_serving_pods_wait_the_operators_drain_wait_before_they_stop() -> None:
    sim = Sim()
    sim.deps.runtime_drain_wait = 65
    sim.tick()
    pod = sim.cluster.objects[SELDON]["spec"]["predictors"][0]["componentSpecs"][0]["spec"]
    assert {"name": "UPLIFT_DRAIN_WAIT_SECONDS", "value": "65"} in pod["containers"][0]["env"]
    assert pod["terminationGracePeriodSeconds"] == 95


# -- the decision-key Secret ---------------------------------------------------------------------

KEY_SECRET = (NS, f"{NAME}-decision-key")


def test_the_decision_key_secret_is_created_once_before_the_graph_and_owned_by_the_model() -> None:
    sim = Sim()
    keys = iter(["k1", "k2", "k3"])
    sim.deps.new_decision_key = lambda: next(keys)
    sim.tick()
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "k1"} and sim.cluster.applied == [SELDON]
    [created] = sim.cluster.created_secrets
    assert created["metadata"]["ownerReferences"] == [{
        "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel", "name": NAME, "uid": "u-1",
        "controller": True, "blockOwnerDeletion": True}]
    env = sim.cluster.objects[SELDON]["spec"]["predictors"][0]["componentSpecs"][0]["spec"][
        "containers"][0]["env"]
    assert {"name": "UPLIFT_DECISION_KEY", "valueFrom": {"secretKeyRef": {
        "name": f"{NAME}-decision-key", "key": "key"}}} in env  # not optional
    for _ in range(5):
        sim.tick(1)
    assert len(sim.cluster.created_secrets) == 1  # known to exist: not asked again each pass
    sim.tick(3600)
    assert len(sim.cluster.created_secrets) == 1  # a serving graph left as it is: nothing at rest
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}  # e.g. a pod lacks the Secret
    sim.tick(1, available=False)
    assert len(sim.cluster.created_secrets) == 2  # made sure of while the graph does not serve,
    sim.tick(1, available=False)
    assert len(sim.cluster.created_secrets) == 2  # at most every RECHECK ...
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert len(sim.cluster.created_secrets) == 3
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "k1"}  # ... and never overwritten


def _recording_secret_requests(sim: Sim) -> list[str]:
    """The requests for Secrets the passes make from now on: ``create`` and ``get``."""
    asked: list[str] = []
    create, get = sim.cluster.create_secret, sim.cluster.get

    def create_secret(manifest: Any) -> bool:
        asked.append("create")
        return create(manifest)

    def get_object(api_version: str, plural: str, namespace: str,
                   name: str) -> dict[str, Any] | None:
        if plural == "secrets":
            asked.append("get")
        return get(api_version, plural, namespace, name)

    sim.cluster.create_secret = create_secret  # type: ignore[method-assign]
    sim.cluster.get = get_object  # type: ignore[method-assign]
    return asked


def test_a_new_process_asks_nothing_of_a_serving_graphs_decision_key() -> None:
    """A restart or failover: the first pass of a model whose own graph serves as decided makes
    no request for its decision-key Secret (its pods hold the key); one whose graph does not
    serve is made sure of as before (a create answered 409, and a look at whose it is)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy" and len(sim.cluster.created_secrets) == 1
    asked = _recording_secret_requests(sim)
    sim.deps.decision_keys.clear()  # what a new process knows
    sim.tick(1)
    sim.tick(3600)
    assert asked == [] and sim.cluster.applied == [SELDON]
    sim.deps.decision_keys.clear()
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}  # e.g. a pod lacks the key
    sim.tick(1, available=False)
    assert asked == ["create", "get"]


def test_a_graph_seldon_has_not_reported_on_does_not_recheck_the_decision_key() -> None:
    sim = Sim()
    sim.tick(available=False)  # created; Seldon says nothing about it (yet, or for long)
    assert len(sim.cluster.created_secrets) == 1
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert len(sim.cluster.created_secrets) == 1  # nothing says a pod waits for the key
    sim.cluster.objects[SELDON]["status"] = {"state": "Creating"}  # Seldon: not serving
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds(), available=False)
    assert len(sim.cluster.created_secrets) == 2


def test_the_decision_key_is_made_sure_of_before_a_changed_graph_is_applied() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    del sim.cluster.secrets[KEY_SECRET]  # deleted by hand
    sim.tick(upliftmodel.DECISION_KEY_RECHECK.total_seconds())
    assert KEY_SECRET not in sim.cluster.secrets  # a serving graph, left as it is, needs no key
    sim.cluster.objects[SELDON]["spec"]["predictors"][0]["traffic"] = 50  # a hand edit
    sim.tick(1)
    assert KEY_SECRET in sim.cluster.secrets  # the graph re-applied: its new pods need the key
    assert sim.weights() == {"1": 100}


def test_a_decision_key_whose_owner_cannot_be_judged_is_used_never_overwritten() -> None:
    """The fake cluster holds the Secret's data only (``secrets``: its create finds it there),
    not an object its GET returns, so whose it is cannot be judged (as for a Secret gone again
    by the time it is read): it counts as present, is used as it is and never overwritten.
    Whose it is decides otherwise (tests/unit/services/test_serving_conflict.py): made by hand
    (no controller), a new model refuses it; a model whose own graph is there keeps it."""
    sim = Sim()
    sim.cluster.secrets[KEY_SECRET] = {"key": "mine"}
    sim.tick()
    assert sim.cluster.secrets[KEY_SECRET] == {"key": "mine"} and sim.cluster.applied == [SELDON]


def test_without_a_decision_key_the_graph_is_not_applied_and_the_secret_is_named() -> None:
    sim = Sim()
    sim.cluster.create_secret_error = KubeError(
        "create secret shop/uplift-decision-key: 403 secrets is forbidden", 403)
    result = sim.tick()
    applied = sim.condition("ServingApplied")
    assert (applied["status"], applied["reason"]) == ("False", "ApplyFailed")
    assert applied["message"].startswith("decision key Secret shop/uplift-decision-key: create")
    assert sim.cluster.applied == [] and "ApplyFailed" in reasons(result)
    sim.cluster.secrets[KEY_SECRET] = {"key": "by-hand"}  # create still refused: it exists now
    sim.tick(1)
    assert sim.cluster.applied == [SELDON]


# -- MLflow ---------------------------------------------------------------------------------------

@pytest.fixture
def probe_reads_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The custom probe gate stands in for a gate that reads the canary's MLflow run (drift,
    qini, upliftSanity: their collectors declare it), held while MLflow cannot be asked; a
    gate that reads Prometheus only is judged then (test_upliftmodel_unresolved.py)."""
    custom = measurements._COLLECTORS["custom"]
    monkeypatch.setitem(measurements._COLLECTORS, "custom", measurements.Collector(
        custom.collect, custom.reads | {measurements.Source.MLFLOW}))


@pytest.mark.usefixtures("probe_reads_mlflow")
def test_mlflow_down_mid_ramp_holds_inconclusive_without_error_build_up() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.registry.down = True
    warnings = []
    for _ in range(12):  # 6 minutes, past both pauses
        warnings += [e for e in sim.tick(30).events if e.type == "Warning"]
    s = sim.status
    assert (s["canaryVersion"], s["canaryWeight"], s["currentStep"]) == ("2", 10, 0)
    probe = s["gates"][0]
    assert probe["verdict"] == "Inconclusive" and "MLflow unavailable" in probe["message"]
    assert probe.get("consecutiveErrors", 0) == 0 and probe.get("failures", 0) == 0
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "RegistryUnavailable")
    assert [e.reason for e in warnings] == ["RegistryUnavailable"]  # once, not once per pass
    assert "RegistryUnavailable" in s["message"] and sim.weights() == {"1": 90, "2": 10}
    sim.registry.down = False
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2"  # back on the ramp, and through it


@pytest.mark.usefixtures("probe_reads_mlflow")
def test_mlflow_down_longer_than_the_inconclusive_limit_neither_pauses_nor_loses_evidence() -> None:
    """The held looks say nothing about the canary: they count towards no inconclusiveLimit
    (the ramp would stay Paused after MLflow is back) and keep the version's sequential
    evidence as it was."""
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"][0]["inconclusiveLimit"] = 2
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.tick(61)
    # A custom gate keeps no tests of its own: give it some evidence to keep.
    evidence = SequentialState(looks=7, log_pass=1.5)
    sim.status["gates"][0]["sequentialState"] = {"srmTraffic": evidence.to_dict()}
    sim.registry.down = True
    for _ in range(5):
        sim.tick(61)
    probe = sim.status["gates"][0]
    assert probe["verdict"] == "Inconclusive" and probe.get("inconclusives", 0) == 0
    assert SequentialState.from_dict(probe["sequentialState"]["srmTraffic"]) == evidence
    assert sim.status["phase"] == "Progressing"
    sim.registry.down = False
    for _ in range(12):
        sim.tick(61)
    assert sim.status["stableVersion"] == "2"


def test_a_gate_edited_mid_canary_is_judged_afresh_and_one_left_alone_keeps_its_evidence() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "other", "type": "custom", "query": PROBE, "max": 2.0})
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    sim.tick(61)
    evidence = SequentialState(looks=7, log_pass=1.5)
    for status in sim.status["gates"]:
        status["sequentialState"] = {"srmTraffic": evidence.to_dict()}
    sim.body["spec"]["rollout"]["gates"][0]["max"] = 0.8  # tightened
    sim.body["metadata"]["generation"] = 2
    sim.tick(61)
    edited, untouched = sim.status["gates"]
    assert edited.get("sequentialState", {}) == {}
    kept = SequentialState.from_dict(untouched["sequentialState"]["srmTraffic"])
    assert kept.looks == 7 and kept.log_pass + kept.carried_log_pass == 1.5


@pytest.mark.parametrize(("probe", "tags"), [
    (0.5, {("2", "uplift.dev/role"): "stable", ("1", "uplift.dev/role"): "retired"}),
    (5.0, {("2", "uplift.dev/role"): "rolled-back"}),
])
def test_write_back_tags_follow_the_decision(probe: float, tags: dict[tuple[str, str], str]) -> None:
    sim = Sim()
    sim.with_canary()
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "canary"  # CanaryStarted
    sim.metrics.values[PROBE] = probe
    for _ in range(12):
        sim.tick(30)
    for (version, key), value in tags.items():
        assert sim.registry.tags[(REGISTERED, version, key)] == value
    assert (REGISTERED, "2", "uplift.dev/role-since") in sim.registry.tags
    if probe < 1:
        assert sim.registry.aliases[(REGISTERED, "production")] == "2"
    else:
        reason = sim.registry.tags[(REGISTERED, "2", "uplift.dev/reason")]
        assert "gate probe Fail" in reason
        assert sim.registry.aliases[(REGISTERED, "production")] == "1"  # not moved to v2
        assert sim.status["abortedVersion"] == "2" and sim.weights() == {"1": 100}


def test_an_emergency_rollback_of_the_stable_keeps_it_serving_until_the_restored_one_does(
        ) -> None:
    """Version 2 was promoted (version 1's predictor left); an emergency rollback creates 1
    again while 2 keeps the traffic until 1 serves. In MLflow, 1 is stable again and the
    promotion alias is back on it."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.tick(30)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}
    assert sim.registry.aliases[(REGISTERED, "production")] == "2"
    sim.body["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    sim.tick(1, available=False)  # Seldon: the graph is Creating (1's pods start)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 0, "2": 100}
    sim.seldon()
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert sim.registry.tags[(REGISTERED, "1", "uplift.dev/role")] == "stable"
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "rolled-back"
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"


def test_write_backs_are_not_repeated_by_every_resource_following_the_model() -> None:
    first, second = Sim(), Sim()
    second.body["metadata"].update(name="other", uid="u-2")
    writes: list[tuple[str, ...]] = []
    registry = first.registry
    tag, set_alias_of = registry.set_version_tag, registry.set_alias

    def set_version_tag(name: str, version: str, key: str, value: str) -> None:
        writes.append((name, version, key, value))
        tag(name, version, key, value)

    def set_alias(name: str, alias: str, version: str) -> None:
        writes.append((name, alias, version))
        set_alias_of(name, alias, version)

    registry.set_version_tag = set_version_tag  # type: ignore[method-assign]
    registry.set_alias = set_alias  # type: ignore[method-assign]
    # One operator: the same registry, resolver and write-back memory for both resources.
    second.registry, second.deps = registry, first.deps
    first.tick()
    done = list(writes)
    assert (REGISTERED, "1", "uplift.dev/role", "stable") in done
    assert (REGISTERED, "production", "1") in done  # the first version, promoted
    second.tick()
    # The same roles again: not written; the alias is (someone may have moved it since).
    assert writes == [*done, (REGISTERED, "production", "1")]
    # A value that changes is written, whoever changes it: version 2 rolled back by the first.
    first.with_canary()
    first.metrics.values[PROBE] = 5.0
    first.tick(60)
    assert registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "rolled-back"
    assert len(writes) > len(done)


def test_a_failed_write_back_never_blocks_the_decision_and_is_retried_and_shown() -> None:
    sim = Sim()
    sim.with_canary()
    assert sim.condition("RegistryWrittenBack")["status"] == "True"  # every write went through
    sim.metrics.values[PROBE] = 5.0
    sim.registry.writes_fail = True
    result = sim.tick(60)
    assert sim.status.get("canaryVersion") is None and sim.weights() == {"1": 100}
    assert "RolledBack" in reasons(result)
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "canary"  # not yet
    sim.tick(1)  # the pass the worker's failure wakes
    failing = sim.condition("RegistryWrittenBack")
    assert (failing["status"], failing["reason"]) == ("False", "WriteBackFailed")
    assert "role 2 = 'rolled-back'" in failing["message"]
    sim.registry.writes_fail = False
    sim.tick(upliftmodel_writeback.MAX_BACKOFF_SECONDS)  # retried: it goes through now
    sim.tick(1)
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "rolled-back"
    assert "gate probe Fail" in sim.registry.tags[(REGISTERED, "2", "uplift.dev/reason")]
    assert sim.condition("RegistryWrittenBack")["status"] == "True"


@pytest.mark.parametrize("annotation", ["uplift.dev/abort", "uplift.dev/emergency-rollback"])
def test_an_invalid_spec_mid_canary_holds_it_but_an_abort_still_takes_it_off(
        annotation: str) -> None:
    """A spec the operator finds invalid (a templateRef it does not know; the API server took
    it) holds the canary where it stands, no gate judged; an abort or an emergency rollback is
    still acted on, and a promote waits for a valid spec."""
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1})
    sim.body["metadata"]["generation"] = 2
    sim.metrics.values[PROBE] = 0.5
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "full"}
    for _ in range(6):
        sim.tick(61)
    assert sim.status["phase"] == "Degraded" and sim.weights() == {"1": 90, "2": 10}
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.status.get("handledRequests", {}) == {}
    sim.body["metadata"]["annotations"] = {annotation: "now"}
    result = sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert sim.status["abortedVersion"] == "2" and sim.condition("InvalidSpec")["status"] == "True"
    assert sim.status["handledRequests"] == {annotation: "now"}
    assert reasons(result)[0] in ("ManualAbort", "EmergencyRollback")


# -- the version the spec resolves to ------------------------------------------------------------

SIGNATURE = {"inputs": [{"name": "recency", "type": "long", "required": True},
                        {"name": "channel", "type": "string", "required": True},
                        {"name": "unit_id", "type": "string", "required": False}]}
FEATURES = [{"name": "recency", "type": "numeric"}, {"name": "channel", "type": "categorical"}]


def test_a_version_that_does_not_score_the_spec_treatments_deploys_nothing() -> None:
    sim = Sim()
    sim.registry.run_tag_values["run-1"] = {"uplift.treatments": '{"sms": "SMS"}'}
    result = sim.tick()
    assert sim.status["phase"] == "Degraded" and sim.cluster.applied == []
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True"
    assert ("spec.treatments[0].name: 'email' (key email) is not a treatment version 1 of "
            "'hillstrom' scores; it scores: SMS (sms)") in invalid["message"]
    assert reasons(result) == ["InvalidSpec"]


def test_a_new_version_that_does_not_fit_the_spec_never_takes_the_stable_down() -> None:
    sim = Sim()
    sim.body["spec"]["features"] = FEATURES
    for version in ("1", "2"):
        sim.registry.signatures[(REGISTERED, version)] = copy.deepcopy(SIGNATURE)
    sim.registry.signatures[(REGISTERED, "2")]["inputs"][1]["type"] = "double"
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy" and sim.weights() == {"1": 100}
    applied = len(sim.cluster.applied)
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30)
    s = sim.status
    assert (s["phase"], s["stableVersion"], s.get("canaryVersion")) == ("Degraded", "1", None)
    assert ("spec.features[1].type: 'channel' is declared categorical but version 2 of "
            "'hillstrom' takes it as double") in s["message"]
    assert sim.weights() == {"1": 100} and len(sim.cluster.applied) == applied
    sim.body["spec"]["features"] = [*FEATURES[:1], {"name": "channel", "type": "numeric"}]
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)  # the spec follows the new version: its canary starts
    assert sim.status["canaryVersion"] == "2"
    assert sim.condition("InvalidSpec")["status"] == "False"


def test_the_version_contract_is_read_once_per_version() -> None:
    sim = Sim()
    sim.tick()
    calls = sim.registry.calls
    for _ in range(5):
        sim.tick(1)
    assert sim.registry.calls == calls  # pinned facts and contract cached; alias within 30 s


def test_a_version_still_registering_is_never_deployed_from_the_cache() -> None:
    """The alias moves to a version MLflow still registers (its files may be uploading): the
    first read says VersionNotReady, and so does every pass within the alias's refresh
    interval (the cache does not turn it into "Resolved"); once READY, its canary starts."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    applied = len(sim.cluster.applied)
    sim.registry.add(REGISTERED, "2", status="PENDING_REGISTRATION")
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    for seconds in (30, 6, 6, 6):
        sim.tick(seconds)
        assert sim.condition("ModelResolved")["reason"] == "VersionNotReady"
        assert "canaryVersion" not in sim.status and len(sim.cluster.applied) == applied
    sim.registry.add(REGISTERED, "2")
    sim.tick(6)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2"


def test_without_a_tracking_uri_the_status_message_and_one_warning_say_why() -> None:
    """No spec.model.trackingUri and no operator default: the registry factory refuses (a
    ValueError, as handlers/lifecycle's does); the cause is in status.message, the Ready and
    ModelResolved conditions and one Warning event, not only "waiting for the model reference
    to resolve"; nothing is deployed; a trackingUri in the spec then resolves it."""
    sim = Sim()
    sim.deps.default_tracking_uri = None
    why = "no MLflow tracking URI: set spec.model.trackingUri or the operator's default"

    def registry_for(ref: ModelReference, credentials: Any) -> FakeRegistry:
        if not (ref.tracking_uri or sim.deps.default_tracking_uri):
            raise ValueError(why)
        return sim.registry

    sim.deps.registry_for = registry_for
    results = [sim.tick(10) for _ in range(5)]
    s = sim.status
    assert why in s["message"] and "TrackingUriMissing" in s["message"]
    assert s["message"].startswith("waiting for the model reference to resolve to a version: ")
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"], resolved["message"]) == (
        "False", "TrackingUriMissing", why)
    warnings = [e for r in results for e in r.events if e.type == "Warning"]
    assert [(e.reason, e.message) for e in warnings] == [("TrackingUriMissing", why)]  # once
    assert sim.cluster.applied == [] and results[0].requeue_after == (
        upliftmodel.UNRESOLVED_RETRY_SECONDS)  # then backing off (test_..._unresolved_backoff)
    assert s["phase"] == "Progressing"
    sim.tick(stuck.DEFAULT_GRACE.total_seconds())  # a configuration: no wait clears it
    assert sim.status["phase"] == "Degraded" and "TrackingUriMissing" in sim.status["message"]
    sim.body["spec"]["model"]["trackingUri"] = "http://mlflow.shop:5000"
    sim.tick(10)
    assert sim.condition("ModelResolved")["status"] == "True" and sim.cluster.applied == [SELDON]
    assert why not in sim.status.get("message", "")


def test_mlflow_down_while_reading_a_new_version_holds_it_back() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    original = sim.registry.model_signature

    def down(name: str, version: str) -> Any:
        if version == "2":
            raise RegistryUnavailable("connection refused (fake MLflow down)")
        return original(name, version)

    sim.registry.model_signature = down  # type: ignore[method-assign]
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30)
    assert sim.status.get("canaryVersion") is None and sim.weights() == {"1": 100}
    resolved = sim.condition("ModelResolved")
    assert resolved["reason"] == "RegistryUnavailable"
    assert "reading what version 2 takes and scores" in resolved["message"]


# -- credentials ---------------------------------------------------------------------------------

TOKEN = "tok-9f2c1e7d5b3a"


def _with_credentials(sim: Sim, secret: dict[str, str] | None) -> list[Any]:
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow", "tokenKey": "token"}
    if secret is not None:
        sim.cluster.secrets[(NS, "mlflow")] = secret
    seen: list[Any] = []

    def registry_for(ref: ModelReference, credentials: Any) -> FakeRegistry:
        seen.append(credentials)
        return sim.registry

    sim.deps.registry_for = registry_for
    return seen


def _recording_secret_reads(sim: Sim) -> list[str]:
    """The names of the Secrets the passes read from now on, in order."""
    reads: list[str] = []
    values = sim.cluster.secret_values

    def secret_values(namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        reads.append(name)
        return values(namespace, name, keys)

    sim.cluster.secret_values = secret_values  # type: ignore[method-assign]
    return reads


def test_a_token_with_a_trailing_newline_is_refused_naming_the_secret_and_key() -> None:
    sim = Sim()
    seen = _with_credentials(sim, {"token": f"{TOKEN}\n"})
    result = sim.tick()
    assert sim.status["phase"] == "Degraded" and sim.cluster.applied == [] and seen == []
    assert ("spec.model.credentials: Secret 'mlflow' key 'token' has a trailing newline around "
            "the value") in sim.condition("InvalidSpec")["message"]
    assert TOKEN not in repr(sim.status) and TOKEN not in repr(result.events)


def test_a_missing_secret_is_waited_for_and_named() -> None:
    sim = Sim()
    _with_credentials(sim, None)
    result = sim.tick()
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "CredentialsUnreadable")
    assert "credentials: get secret shop/mlflow: 404" in resolved["message"]
    assert "CredentialsUnreadable" in reasons(result) and sim.cluster.applied == []
    sim.cluster.secrets[(NS, "mlflow")] = {"token": TOKEN}
    sim.tick(1)
    assert sim.cluster.applied == [SELDON]


def _credential_refs(sim: Sim) -> list[list[tuple[str, str, str]]]:
    """Each predictor's MLflow credential variables as rendered: (variable, Secret, key)."""
    return [[(e["name"], e["valueFrom"]["secretKeyRef"]["name"],
              e["valueFrom"]["secretKeyRef"]["key"])
             for e in p["componentSpecs"][0]["spec"]["containers"][0]["env"]
             if e["name"].startswith("MLFLOW_TRACKING_") and "valueFrom" in e]
            for p in sim.cluster.objects[SELDON]["spec"]["predictors"]]


def test_a_credentials_secret_not_there_yet_never_reaches_the_serving_graph() -> None:
    """A serving model's spec is edited to name a credentials Secret GitOps applies later (or
    misnamed): the pass waits for it (CredentialsUnreadable) and renders the credentials the
    graph has, so the stable's pods are not re-rendered with a reference no new pod could
    start with; an abort meanwhile takes the canary off with them too. Once the Secret is
    there, the graph is rendered with it."""
    sim = Sim()
    _with_credentials(sim, {"token": TOKEN})
    sim.with_canary()
    old = [("MLFLOW_TRACKING_TOKEN", "mlflow", "token")]
    assert _credential_refs(sim) == [old, old]
    before = copy.deepcopy(sim.cluster.objects[SELDON]["spec"])
    applied = len(sim.cluster.applied)
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow-v2", "tokenKey": "token"}
    sim.body["metadata"]["generation"] = 2
    for _ in range(3):
        sim.tick(10)
    resolved = sim.condition("ModelResolved")
    assert (resolved["reason"], sim.status["phase"]) == ("CredentialsUnreadable", "Progressing")
    assert "get secret shop/mlflow-v2: 404" in resolved["message"]
    assert sim.cluster.objects[SELDON]["spec"] == before and len(sim.cluster.applied) == applied
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert sim.weights() == {"1": 100} and sim.status["abortedVersion"] == "2"
    assert _credential_refs(sim) == [old]
    sim.cluster.secrets[(NS, "mlflow-v2")] = {"token": TOKEN}
    sim.tick(10)
    assert _credential_refs(sim) == [[("MLFLOW_TRACKING_TOKEN", "mlflow-v2", "token")]]
    assert sim.condition("ModelResolved")["status"] == "True"


def test_an_abort_on_credentials_that_do_not_fit_keeps_the_graphs_own() -> None:
    """The credentials Secret names no such key (InvalidSpec): an abort is still applied, with
    the credentials the graph was rendered with, not a key no new pod could start with."""
    sim = Sim()
    _with_credentials(sim, {"token": TOKEN})
    sim.with_canary()
    sim.body["spec"]["model"]["credentials"] = {"name": "mlflow", "tokenKey": "renamed"}
    sim.body["metadata"]["generation"] = 2
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert "key 'renamed'" in sim.condition("InvalidSpec")["message"]
    assert sim.weights() == {"1": 100} and sim.status["abortedVersion"] == "2"
    assert _credential_refs(sim) == [[("MLFLOW_TRACKING_TOKEN", "mlflow", "token")]]


def test_a_deleted_credentials_secret_stops_the_poller_reading_with_the_revoked_client(
        ) -> None:
    sim = Sim()
    clock = [0.0]
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS,
                                           clock=lambda: clock[0])
    _with_credentials(sim, {"token": TOKEN})
    sim.tick()
    key = (("http://mlflow.test", NS, "mlflow tokenKey=token"), REGISTERED, "champion")
    every = dt.timedelta(seconds=30)
    assert sim.deps.resolver.refresh(key, every, sim.now + every)  # with the pass's client
    del sim.cluster.secrets[(NS, "mlflow")]  # deleted: someone revoked the token
    clock[0] += upliftmodel.CREDENTIALS_TTL_SECONDS + 1
    sim.tick(upliftmodel.CREDENTIALS_TTL_SECONDS + 1)
    assert sim.condition("ModelResolved")["reason"] == "CredentialsUnreadable"
    assert not sim.deps.resolver.refresh(key, every, sim.now + 10 * every)
    sim.cluster.secrets[(NS, "mlflow")] = {"token": TOKEN}  # restored: read again
    clock[0] += upliftmodel.CREDENTIALS_TTL_SECONDS + 1
    sim.tick(upliftmodel.CREDENTIALS_TTL_SECONDS + 1)
    assert sim.deps.resolver.refresh(key, every, sim.now + 10 * every)


def test_what_the_operator_does_not_allow_is_refused_before_any_secret_is_read() -> None:
    """--allowed-tracking-uri and friends: whoever may create an UpliftModel would otherwise
    choose where the operator sends a namespace's credentials, and which image and
    ServiceAccount the pods it creates run with. The stable version keeps serving."""
    sim = Sim()
    sim.tick()
    assert sim.weights() == {"1": 100}
    sim.deps.policy = validation.ServingPolicy(
        tracking_uris=(r"http://mlflow\.test",), runtime_images=(r"ghcr\.io/uplift-dev/.*",),
        service_accounts=("runtime",), default_runtime_image=sim.deps.runtime_image)
    seen = _with_credentials(sim, {"token": TOKEN})
    reads = _recording_secret_reads(sim)
    sim.body["spec"]["model"]["trackingUri"] = "http://internal-admin.kube-system:8080"
    sim.body["spec"]["serving"] = {"runtimeImage": "evil.example/anything:latest",
                                   "serviceAccountName": "ci-deployer"}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    message = sim.condition("InvalidSpec")["message"]
    assert "spec.model.trackingUri 'http://internal-admin.kube-system:8080' is not allowed" in message
    assert "spec.serving.runtimeImage 'evil.example/anything:latest' is not allowed" in message
    assert "spec.serving.serviceAccountName 'ci-deployer' is not allowed" in message
    assert reads == [] and seen == []  # the Secret never read, nothing asked of that URI
    assert sim.weights() == {"1": 100}  # the stable version serves as before
    sim.body["spec"]["model"].pop("trackingUri")  # back within what is allowed
    sim.body["spec"]["serving"] = {"serviceAccountName": "runtime"}
    sim.body["metadata"]["generation"] = 3
    sim.tick(1)
    assert sim.condition("InvalidSpec")["status"] == "False" and reads == ["mlflow"]


def test_clean_credentials_reach_the_registry() -> None:
    sim = Sim()
    seen = _with_credentials(sim, {"token": TOKEN})
    sim.tick()
    assert seen[0].authorization() == f"Bearer {TOKEN}" and sim.cluster.applied == [SELDON]


def test_a_credentials_secret_is_read_once_per_ttl_for_every_pass_naming_it() -> None:
    sim = Sim()
    clock = [0.0]
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS,
                                           clock=lambda: clock[0])
    seen = _with_credentials(sim, {"token": TOKEN})
    reads = _recording_secret_reads(sim)
    for _ in range(5):  # passes due again and again (an analysis every few seconds)
        sim.tick(1)
        clock[0] += 1
    assert reads == ["mlflow"] and len(seen) == 5
    sim.cluster.secrets[(NS, "mlflow")] = {"token": "rotated"}
    clock[0] += upliftmodel.CREDENTIALS_TTL_SECONDS
    sim.tick(1)
    assert reads == ["mlflow", "mlflow"]  # read again: the rotated token is used
    assert seen[-1].authorization() == "Bearer rotated"


class _CheckingRegistry:
    """The Sim's MLflow asked with ``authorization``: it answers 401 unless that is the token
    it ``accepts`` now (a rotation done on MLflow's side)."""

    def __init__(self, registry: FakeRegistry, authorization: str, accepts: list[str]) -> None:
        self._registry, self._authorization, self._accepts = registry, authorization, accepts

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._registry, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._authorization != f"Bearer {self._accepts[0]}":
                raise CredentialsRefused("MLflow refused the credentials (HTTP 401): bad token",
                                         status_code=401)
            return method(*args, **kwargs)
        return call


def test_a_good_credentials_read_outlasts_the_resync_and_a_refused_one_is_read_again() -> None:
    """At rest (a pass every resync, 600 s), the Secret is read at every other pass, not at
    each; MLflow refusing the token (rotated on its side, then in the Secret) drops the read,
    so the next pass (the CredentialsRefused retry, 10 s) reads the Secret again and goes on
    with the new token, never Degraded by the race. A Secret that keeps holding a refused
    token is read at most every CREDENTIALS_REFUSED_REREAD, however often the passes retry,
    and is Degraded once the grace is past, naming the Secret."""
    sim = Sim()
    sim.deps.credential_reads = TimedCache(upliftmodel.CREDENTIALS_TTL_SECONDS,
                                           clock=lambda: sim.now.timestamp())
    _with_credentials(sim, {"token": TOKEN})
    accepts = [TOKEN]
    sim.deps.registry_for = lambda ref, credentials: _CheckingRegistry(
        sim.registry, (credentials.authorization() if credentials else None) or "", accepts)
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    reads = _recording_secret_reads(sim)
    for _ in range(6):  # an hour at rest
        sim.tick(600)
    assert reads == ["mlflow"] * 3
    accepts[0] = "rotated-token-0001"  # MLflow takes the new token only, then the Secret has it
    sim.cluster.secrets[(NS, "mlflow")] = {"token": "rotated-token-0001"}
    sim.tick(60)
    assert sim.condition("ModelResolved")["reason"] == "CredentialsRefused"
    assert sim.condition("ModelResolved")["message"] == (
        f"MLflow refused the credentials (HTTP 401): bad token; the credentials are Secret "
        f"{NS}/mlflow's (tokenKey token): fix them there, or grant their user the permission "
        "in MLflow")
    assert reads == ["mlflow"] * 3  # the pass held with the token it had
    sim.tick(upliftmodel.UNRESOLVED_RETRY_SECONDS)
    assert reads == ["mlflow"] * 4 and sim.condition("ModelResolved")["status"] == "True"
    assert sim.status["phase"] == "Healthy"
    accepts[0] = "rotated-token-0002"  # rotated on MLflow's side only: refused from now on
    for _ in range(12):  # two minutes of retries, every 10 s
        sim.tick(upliftmodel.UNRESOLVED_RETRY_SECONDS)
        assert sim.status["phase"] == "Healthy"  # within the grace
    assert sim.condition("ModelResolved")["reason"] == "CredentialsRefused"
    # Refused 30 s or more after its read, read again at the next retry: 3 reads, not one
    # at each of the 10 retries that asked MLflow (the first two took the alias as read).
    assert upliftmodel.CREDENTIALS_REFUSED_REREAD == 30.0 and reads == ["mlflow"] * (4 + 3)
    for _ in range(24):  # four minutes more: past the grace, a permission missing for good
        sim.tick(upliftmodel.UNRESOLVED_RETRY_SECONDS)
    assert sim.status["phase"] == "Degraded"
    assert sim.status["message"].startswith("ModelResolved False (CredentialsRefused) since ")
    assert f"Secret {NS}/mlflow's (tokenKey token)" in sim.status["message"]


def test_a_malformed_secret_is_not_kept_so_its_fix_is_seen_at_once() -> None:
    sim = Sim()
    _with_credentials(sim, {"token": f"{TOKEN}\n"})
    sim.tick()
    assert sim.status["phase"] == "Degraded"
    sim.cluster.secrets[(NS, "mlflow")] = {"token": TOKEN}
    sim.tick(1)
    assert sim.cluster.applied == [SELDON]


# -- alias refresh --------------------------------------------------------------------------------

def test_alias_is_reread_only_every_refresh_interval_and_falls_back_to_last_known() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.add(REGISTERED, "2")
    registry.aliases[(REGISTERED, "champion")] = "1"
    ref = ModelReference.model_validate(SPEC["model"])
    key = ("http://mlflow", "", "")
    assert resolver.resolve(key, ref, registry, T0).desired.version == "1"  # type: ignore[union-attr]
    registry.aliases[(REGISTERED, "champion")] = "2"
    calls = registry.calls
    cached = resolver.resolve(key, ref, registry, T0 + dt.timedelta(seconds=29))
    assert cached.ok and cached.desired is not None and cached.desired.version == "1"
    assert registry.calls == calls  # served from cache, MLflow not asked
    moved = resolver.resolve(key, ref, registry, T0 + dt.timedelta(seconds=30))
    assert moved.desired is not None and moved.desired.version == "2"
    registry.down = True
    down = resolver.resolve(key, ref, registry, T0 + dt.timedelta(seconds=61))
    assert (down.ok, down.reason) == (False, "RegistryUnavailable")
    assert down.desired is not None and down.desired.version == "2"  # the last known answer
    registry.down = False
    registry.aliases.pop((REGISTERED, "champion"))
    gone = resolver.resolve(key, ref, registry, T0 + dt.timedelta(seconds=92))
    assert gone.reason == "ModelNotFound" and gone.desired is not None


def test_resources_following_one_alias_share_one_lookup_per_refresh_interval() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.aliases[(REGISTERED, "champion")] = "1"
    ref = ModelReference.model_validate(SPEC["model"])  # refreshed every 30 s
    anonymous: Scope = ("http://mlflow", "", "")
    before = registry.calls
    for i in range(1000):  # a thousand resources, each asking within the interval
        got = resolver.resolve(anonymous, ref, registry, T0 + dt.timedelta(milliseconds=i))
        assert got.desired is not None and got.desired.version == "1"
    assert registry.calls - before == 1
    # Another identity asks for itself: what one Secret may read is never shared with another.
    team_b: Scope = ("http://mlflow", "team-b", "mlflow-credentials")
    resolver.resolve(team_b, ref, registry, T0)
    assert registry.calls - before == 2
    resolver.resolve(anonymous, ref, registry, T0 + dt.timedelta(seconds=30))
    assert registry.calls - before == 3


def _told_of_moves() -> tuple[FakeRegistry, Resolver, list[Any]]:
    """Versions 1 and 2, champion on 1, and the list of aliases the resolver tells moved."""
    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.add(REGISTERED, "2")
    registry.aliases[(REGISTERED, "champion")] = "1"
    told: list[Any] = []
    resolver.moved.append(told.append)
    return registry, resolver, told


def test_a_read_that_finds_the_alias_moved_tells_once_and_a_pinned_version_never() -> None:
    registry, resolver, told = _told_of_moves()
    ref = ModelReference.model_validate(SPEC["model"])  # refreshed every 30 s
    scope: Scope = ("http://mlflow", "", "")
    resolver.resolve(scope, ref, registry, T0)  # first read: nothing it moved from
    resolver.resolve(scope, ref, registry, T0 + dt.timedelta(seconds=30))  # the same
    assert told == []
    registry.aliases[(REGISTERED, "champion")] = "2"
    resolver.resolve(scope, ref, registry, T0 + dt.timedelta(seconds=40))  # cached
    assert told == []
    resolver.resolve(scope, ref, registry, T0 + dt.timedelta(seconds=60))
    assert told == [(scope, REGISTERED, "champion")]
    pinned = ModelReference.model_validate({"registeredModel": REGISTERED, "version": "1"})
    resolver.resolve(scope, pinned, registry, T0 + dt.timedelta(seconds=90))
    assert told == [(scope, REGISTERED, "champion")]


def test_the_poller_reads_a_due_alias_with_the_last_client_and_tells_what_changed() -> None:
    registry, resolver, told = _told_of_moves()
    ref = ModelReference.model_validate(SPEC["model"])
    scope: Scope = ("http://mlflow", "", "")
    key = (scope, REGISTERED, "champion")
    every = dt.timedelta(seconds=30)
    assert not resolver.refresh(key, every, T0)  # no pass resolved it yet: no client to ask
    resolver.resolve(scope, ref, registry, T0)
    assert resolver.next_refresh(key, every) == T0 + every
    calls = registry.calls
    assert not resolver.refresh(key, every, T0 + dt.timedelta(seconds=29))  # not due
    assert resolver.refresh(key, every, T0 + every) and registry.calls == calls + 1
    assert told == []  # the same answer: nobody woken
    registry.aliases[(REGISTERED, "champion")] = "2"
    assert resolver.refresh(key, every, T0 + 2 * every)
    assert told == [key]
    # The followers' passes take the poller's answer from the cache.
    at = T0 + 2 * every + dt.timedelta(seconds=1)
    calls = registry.calls
    answer = resolver.resolve(scope, ref, registry, at)
    assert answer.desired is not None and answer.desired.version == "2"
    assert registry.calls == calls
    # A read that starts failing tells (the followers' condition) and keeps the cadence; one
    # that recovers tells again.
    registry.down = True
    down_at = T0 + 3 * every
    assert resolver.refresh(key, every, down_at) and told == [key, key]
    assert resolver.next_refresh(key, every) == down_at + every
    assert not resolver.refresh(key, every, down_at + FAILURE_REUSE)
    assert resolver.refresh(key, every, down_at + every) and told == [key, key]
    registry.down = False
    assert resolver.refresh(key, every, down_at + 2 * every) and told == [key] * 3


def test_passes_finding_an_alias_due_at_once_share_one_read_and_one_failure() -> None:
    import threading

    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.aliases[(REGISTERED, "champion")] = "1"
    ref = ModelReference.model_validate(SPEC["model"])
    scope: Scope = ("http://mlflow", "", "")
    slow = threading.Event()
    real_resolve = registry.resolve

    def slow_resolve(*args: Any, **kwargs: Any) -> Any:
        slow.wait(0.2)  # MLflow takes its time: the other passes arrive meanwhile
        return real_resolve(*args, **kwargs)

    registry.resolve = slow_resolve  # type: ignore[method-assign]
    before = registry.calls
    threads = [threading.Thread(target=resolver.resolve, args=(scope, ref, registry, T0))
               for _ in range(8)]  # the pass pool's 8 threads, all due at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert registry.calls - before == 1
    registry.down = True
    later = T0 + dt.timedelta(minutes=5)
    answers = [resolver.resolve(scope, ref, registry, later + dt.timedelta(seconds=i))
               for i in range(4)]  # MLflow down: one read fails, the next passes reuse it
    assert [a.reason for a in answers] == ["RegistryUnavailable"] * 4
    assert all(a.desired is not None and a.desired.version == "1" for a in answers)
    assert registry.calls - before == 2


def test_a_read_that_times_out_answers_the_passes_queued_behind_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A black-holed MLflow: the read times out after longer than FAILURE_REUSE. Stamped when
    its pass began, its failure was too old for the passes that waited on the alias's lock,
    and each of them waited out a timeout of its own (every pool thread held by one alias)."""
    registry, resolver = FakeRegistry(), Resolver()
    registry.add(REGISTERED, "1")
    registry.aliases[(REGISTERED, "champion")] = "1"
    ref = ModelReference.model_validate(SPEC["model"])
    scope: Scope = ("http://mlflow", "", "")
    resolver.resolve(scope, ref, registry, T0)
    clock = [1000.0]
    monkeypatch.setattr("uplift_operator.services.resolution.time.monotonic", lambda: clock[0])
    real_resolve = registry.resolve

    asked: list[Any] = []

    def timing_out(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        clock[0] += FAILURE_REUSE.total_seconds() + 3  # the client's timeout
        raise RegistryUnavailable("MLflow did not answer within 8 s")

    registry.resolve = timing_out  # type: ignore[method-assign]
    began = T0 + dt.timedelta(minutes=5)
    first = resolver.resolve(scope, ref, registry, began)
    assert first.reason == "RegistryUnavailable"
    queued = [resolver.resolve(scope, ref, registry, began + dt.timedelta(seconds=s))
              for s in (0, 1, 7)]  # began while the read ran, waited on its lock
    assert [q.reason for q in queued] == ["RegistryUnavailable"] * 3
    assert len(asked) == 1  # none of them asked MLflow again
    registry.resolve = real_resolve  # type: ignore[method-assign]


def test_the_followed_alias_is_named_by_scope_and_a_pinned_version_follows_none() -> None:
    sim = Sim()
    assert upliftmodel.followed_alias(sim.body, sim.deps) == (
        (("http://mlflow.test", "", ""), REGISTERED, "champion"), dt.timedelta(seconds=30))
    sim.body["spec"]["model"] = {"registeredModel": REGISTERED, "version": "1"}
    assert upliftmodel.followed_alias(sim.body, sim.deps) is None


def test_a_serving_follower_is_due_for_nothing_its_alias_is_the_pollers_to_read() -> None:
    sim = Sim()
    first = sim.tick()
    settled = sim.tick(1)
    assert sim.status["phase"] == "Healthy" and settled.requeue_after is None, first
    sim.registry.down = True  # an alias that does not resolve is retried by its followers
    stale = sim.tick(60)
    assert stale.requeue_after == upliftmodel.UNRESOLVED_RETRY_SECONDS


def test_a_moved_alias_starts_a_canary_after_the_refresh_interval() -> None:
    sim = Sim()
    sim.tick()
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(10)
    assert sim.status.get("canaryVersion") is None  # cached for aliasRefreshInterval (30s)
    result = sim.tick(20)
    assert sim.status["canaryVersion"] == "2" and "CanaryStarted" in reasons(result)


# -- one vocabulary of gate types -----------------------------------------------------------------

def test_gate_types_evaluators_and_collectors_agree() -> None:
    """A gate type either kind's API accepts must have an evaluator, and a collector for that
    kind (and nothing more); drift and custom are judged alike for both kinds."""
    model = set(get_args(ModelGate.model_fields["type"].annotation))
    campaign = set(get_args(CampaignGate.model_fields["type"].annotation))
    assert model | campaign == set(gates._EVALUATORS)
    assert model == set(measurements._COLLECTORS)
    assert campaign == set(measurements._CAMPAIGN_COLLECTORS)


# -- the report token (spec.serving.reportCredentials) -------------------------------------------

REPORT_TOKEN = "rep-7d1f0c9a4b2e6f3d"


def _report_refs(sim: Sim) -> list[tuple[str, str]]:
    """The report token (Secret, key) every predictor of the graph mounts for the runtime's
    UPLIFT_REPORT_TOKEN_FILE (one each; render.seldon)."""
    return [(v["secret"]["secretName"], v["secret"]["items"][0]["key"])
            for p in sim.cluster.objects[SELDON]["spec"]["predictors"]
            for v in p["componentSpecs"][0]["spec"]["volumes"] if v["name"] == "report-token"]


def test_report_credentials_are_rendered_once_the_secret_and_key_are_found() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": REPORT_TOKEN}
    sim.tick()
    assert sim.cluster.applied == [SELDON]
    assert _report_refs(sim) == [("report-senders", "token")]  # the key's default
    assert REPORT_TOKEN not in repr(sim.cluster.objects[SELDON])  # a reference, not the value


def test_without_report_credentials_no_token_is_rendered() -> None:
    sim = Sim()
    sim.tick()
    assert sim.cluster.applied == [SELDON] and _report_refs(sim) == []


@pytest.mark.parametrize(("secret", "problem"), [
    (None, "spec.serving.reportCredentials: Secret 'report-senders' does not exist in namespace "
           "'shop'"),
    ({"other": REPORT_TOKEN}, "spec.serving.reportCredentials: Secret 'report-senders' key "
                              "'bearer' does not exist in the Secret"),
    # In the serving pods' words (report_token_format): a value they refuse, and only that.
    ({"bearer": "short"}, "key 'bearer': the report token must have at least 16 characters"),
    ({"bearer": "tøken-0123456789abcdef"}, "key 'bearer': the report token must be printable "
                                           "ASCII without spaces"),
    ({"bearer": f"{REPORT_TOKEN}\nshort\n"}, "key 'bearer': line 2: the report token must have "
                                             "at least 16 characters"),
    ({"bearer": " \r\n\n"}, "key 'bearer' holds no report token"),
    ({"bearer": ""}, "key 'bearer' holds no report token"),
])
def test_a_report_secret_that_is_missing_or_unusable_is_invalid_and_deploys_nothing(
        secret: dict[str, str] | None, problem: str) -> None:
    """Rendered, a reference to a missing Secret or key would hold the pods in
    CreateContainerConfigError: the operator looks first, says what is wrong (never the value)
    and looks again soon, the Secret being unwatched."""
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders",
                                                         "key": "bearer"}}
    if secret is not None:
        sim.cluster.secrets[(NS, "report-senders")] = secret
    result = sim.tick()
    assert sim.status["phase"] == "Degraded" and sim.cluster.applied == []
    invalid = sim.condition("InvalidSpec")
    assert invalid["status"] == "True" and problem in invalid["message"]
    assert reasons(result) == ["InvalidSpec"]
    assert result.requeue_after == upliftmodel.UNRESOLVED_RETRY_SECONDS
    assert REPORT_TOKEN not in repr(sim.status) and REPORT_TOKEN not in repr(result.events)
    sim.cluster.secrets[(NS, "report-senders")] = {"bearer": REPORT_TOKEN}  # fixed by hand
    sim.tick(upliftmodel.UNRESOLVED_RETRY_SECONDS)
    assert sim.cluster.applied == [SELDON] and sim.condition("InvalidSpec")["status"] == "False"
    assert _report_refs(sim) == [("report-senders", "bearer")]


@pytest.mark.parametrize("value", [
    f"{REPORT_TOKEN[::-1]}\n{REPORT_TOKEN}",
    f"{REPORT_TOKEN[::-1]}\n{REPORT_TOKEN}\n",            # an editor's file, `--from-file`
    f"{REPORT_TOKEN[::-1]}\r\n{REPORT_TOKEN}\r\n",        # CRLF
    f"\n{REPORT_TOKEN[::-1]}\n\n  {REPORT_TOKEN}\t\n\n",  # blank lines, spaces around
])
def test_two_report_tokens_during_a_rotation_are_rendered_as_one(value: str) -> None:
    """A Secret listing the new and the old token (docs/runtime.md, "Rotating the report
    token") is valid: the graph keeps serving and the ramp goes on while senders switch. Laid
    out as the serving pods accept it (surrounding whitespace and blank lines dropped), it is
    valid too: the pods take it, so the ramp must not stop on it."""
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders",
                                                         "key": "bearer"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"bearer": value}
    sim.tick()
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert sim.cluster.applied == [SELDON]
    assert _report_refs(sim) == [("report-senders", "bearer")]


def test_a_report_secret_that_cannot_be_read_is_named_with_the_apis_answer() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}

    def forbidden(namespace: str, name: str, keys: Sequence[str]) -> dict[str, bytes]:
        raise KubeError(f"get secret {namespace}/{name}: 403 secrets is forbidden", 403)

    sim.cluster.secret_values = forbidden  # type: ignore[method-assign]
    sim.tick()
    assert sim.cluster.applied == []
    assert ("spec.serving.reportCredentials: Secret 'report-senders' cannot be read: get secret "
            "shop/report-senders: 403") in sim.condition("InvalidSpec")["message"]


def test_a_bad_report_secret_on_a_serving_model_never_takes_the_stable_down() -> None:
    """A model serving with one report Secret is edited to name one that is not there: the spec
    is held invalid and the graph stays as it was rendered; an abort still takes the canary
    off, and the graph it applies keeps the report token the stable was rendered with."""
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": REPORT_TOKEN}
    sim.with_canary()
    before = copy.deepcopy(sim.cluster.objects[SELDON]["spec"])
    applied = len(sim.cluster.applied)
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "not-there-yet"}}
    sim.body["metadata"]["generation"] = 2
    for _ in range(3):
        sim.tick(61)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert "Secret 'not-there-yet' does not exist" in sim.condition("InvalidSpec")["message"]
    assert sim.cluster.objects[SELDON]["spec"] == before and len(sim.cluster.applied) == applied
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(1)
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert _report_refs(sim) == [("report-senders", "token")]


def test_a_graph_an_earlier_operator_rendered_keeps_its_report_token_on_an_invalid_spec(
) -> None:
    """Operators before the token file rendered UPLIFT_REPORT_TOKEN by secretKeyRef. Upgraded
    onto such a graph with the spec invalid, an abort's apply keeps that reference, now as the
    mounted token file (the pods are replaced once: the template changed)."""
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": REPORT_TOKEN}
    sim.with_canary()
    for predictor in sim.cluster.objects[SELDON]["spec"]["predictors"]:  # the earlier form
        pod = predictor["componentSpecs"][0]["spec"]
        pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "report-token"]
        container = pod["containers"][0]
        container["volumeMounts"] = [m for m in container["volumeMounts"]
                                     if m["name"] != "report-token"]
        container["env"] = [e for e in container["env"]
                            if e["name"] != "UPLIFT_REPORT_TOKEN_FILE"] + [
            {"name": "UPLIFT_REPORT_TOKEN", "valueFrom": {"secretKeyRef": {
                "name": "report-senders", "key": "token"}}}]
    assert _report_refs(sim) == []
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "not-there-yet"}}
    sim.body["metadata"]["generation"] = 2
    sim.body["metadata"]["annotations"] = {"uplift.dev/abort": "now"}
    sim.tick(61)
    assert sim.condition("InvalidSpec")["status"] == "True"
    assert sim.weights() == {"1": 100} and "canaryVersion" not in sim.status
    assert _report_refs(sim) == [("report-senders", "token")]


def test_removing_report_credentials_renders_the_graph_without_the_token() -> None:
    sim = Sim()
    sim.body["spec"]["serving"] = {"reportCredentials": {"name": "report-senders"}}
    sim.cluster.secrets[(NS, "report-senders")] = {"token": REPORT_TOKEN}
    sim.tick()
    sim.tick(1)
    assert len(_report_refs(sim)) == 1
    sim.body["spec"]["serving"] = {}
    sim.body["metadata"]["generation"] = 2
    sim.tick(1)
    assert _report_refs(sim) == [] and sim.weights() == {"1": 100}


def test_a_canary_past_its_progress_deadline_names_the_model_in_the_commands_it_offers() -> None:
    sim = Sim()
    sim.body["spec"]["rollout"]["progressDeadline"] = "3m"
    sim.with_canary()
    for _ in range(12):  # the probe gate has no data: Inconclusive past the pause and deadline
        sim.tick(60)
    assert sim.status["phase"] == "Degraded"
    message = sim.status["message"]
    assert f"`kubectl uplift promote -n {NS} {NAME}`" in message
    assert f"`kubectl uplift abort -n {NS} {NAME}`" in message


# -- an UpliftModel re-created without its status ------------------------------------------------

def _recreated(sim: Sim) -> PassResult:
    """``kubectl delete`` and ``apply`` of the same model (or a restore without status): a new
    uid, no status, the graph and the Secret removed by the garbage collector; its first pass."""
    del sim.cluster.objects[SELDON]
    sim.cluster.secrets.clear()
    sim.body["metadata"]["uid"] = "u-2"
    sim.body.pop("status")
    return sim.tick(1)


def _rolled_back_canary() -> Sim:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0  # the canary's gate fails (max 1.0)
    for _ in range(4):
        sim.tick(61)
    assert sim.status["abortedVersion"] == "2" and sim.weights() == {"1": 100}
    return sim


def test_a_recreated_model_does_not_serve_the_version_the_registry_says_was_rolled_back() -> None:
    sim = _rolled_back_canary()
    tags = dict(sim.registry.tags)
    first = _recreated(sim)
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    status = sim.status
    assert (status["stableVersion"], status["abortedVersion"]) == ("1", "2")
    assert "canaryVersion" not in status
    assert status["phase"] == "Degraded" and "version 2 was rolled back" in status["message"]
    warning = next(e for e in first.events if e.reason == "RolledBack")
    assert warning.type == "Warning" and "uplift.dev/retry" in warning.message
    assert "tags version 2 rolled-back" in warning.message
    # The registry is left as it said: the alias on 1, 2 rolled back with its gate's reason.
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert sim.registry.tags == tags
    # The retry ramps it as after any rollback: a canary from step 1.
    sim.body["metadata"]["annotations"] = {"uplift.dev/retry": "r1"}
    sim.metrics.values[PROBE] = 0.5
    sim.tick(1)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2" and sim.weights() == {"1": 90, "2": 10}


def _failing_role_reads(sim: Sim, error: Exception, read: str, times: int) -> list[str]:
    """MLflow failing the first ``times`` reads a status-less pass makes of the role tags:
    version 2's tags (``read`` "tags") or the version the promotion alias names ("alias")."""
    real, failed = sim.registry.resolve, list[str]()

    def resolve(name: str, version: str | None = None, alias: str | None = None) -> Any:
        if (version == "2" if read == "tags" else alias == "production") and len(failed) < times:
            failed.append(read)
            raise error
        return real(name, version=version, alias=alias)

    sim.registry.resolve = resolve  # type: ignore[method-assign]
    return failed


@pytest.mark.parametrize("read", ["tags", "alias"])
@pytest.mark.parametrize("error", [
    RegistryUnavailable("MLflow answered HTTP 503 TEMPORARILY_UNAVAILABLE: busy",
                        status_code=503),
    RegistryUnavailable("MLflow did not answer within 10 s"),
    RegistryNotAsked("MLflow did not answer within 10 s"),  # the breaker: not even sent
], ids=["503", "timeout", "failed-fast"])
def test_a_recreated_model_serves_nothing_while_mlflow_does_not_say_what_its_version_was(
        error: Exception, read: str) -> None:
    """One MLflow blip on a status-less pass's role reads is no answer: version 2, which the
    registry says was rolled back, is neither served at 100 % nor tagged stable, nor the
    promotion alias moved onto it; the pass reports RegistryUnavailable and asks again after
    the unresolved back-off, and then holds it as rolled back."""
    sim = _rolled_back_canary()
    tags, aliases = dict(sim.registry.tags), dict(sim.registry.aliases)
    failed = _failing_role_reads(sim, error, read, times=1)
    first = _recreated(sim)
    assert failed == [read]
    assert SELDON not in sim.cluster.objects  # nothing served, version 2 least of all
    assert "stableVersion" not in sim.status and "canaryVersion" not in sim.status
    resolved = sim.condition("ModelResolved")
    assert (resolved["status"], resolved["reason"]) == ("False", "RegistryUnavailable")
    assert "version 2" in resolved["message"] and str(error) in resolved["message"]
    assert [e.reason for e in first.events if e.type == "Warning"] == ["RegistryUnavailable"]
    assert first.requeue_after is not None
    assert upliftmodel.UNRESOLVED_RETRY_SECONDS <= first.requeue_after <= 1.25 * (
        upliftmodel.UNRESOLVED_RETRY_SECONDS)
    assert (sim.registry.tags, sim.registry.aliases) == (tags, aliases)
    # MLflow answers at the retry: version 2 held as rolled back, 1 stable again.
    sim.tick(first.requeue_after)
    sim.tick(1)
    assert sim.weights() == {"1": 100}
    assert (sim.status["stableVersion"], sim.status["abortedVersion"]) == ("1", "2")
    assert "version 2 was rolled back" in sim.status["message"]
    assert sim.condition("ModelResolved")["status"] == "True"
    assert (sim.registry.tags, sim.registry.aliases) == (tags, aliases)


def test_a_recreated_model_waits_out_an_mlflow_outage_then_restarts_its_canary_from_step_one(
) -> None:
    """MLflow down through several passes: the retries back off (no pass a second), nothing is
    served; once it answers, the roles it recorded decide: 1 stable, 2 a canary from step 1."""
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(3):
        sim.tick(61)
    assert sim.weights() == {"1": 50, "2": 50}
    failed = _failing_role_reads(sim, RegistryUnavailable("connection refused"), "tags", 4)
    waits: list[float] = []
    result = _recreated(sim)
    for _ in range(4):
        assert result.requeue_after is not None
        waits.append(result.requeue_after)
        if len(waits) < 4:
            result = sim.tick(waits[-1])
    assert len(failed) == 4 and SELDON not in sim.cluster.objects
    assert waits == sorted(waits) and waits[-1] > 2 * waits[0]  # backing off
    assert sim.condition("ModelResolved")["reason"] == "RegistryUnavailable"
    sim.tick(waits[-1])
    sim.tick(1)
    status = sim.status
    assert (status["stableVersion"], status["canaryVersion"]) == ("1", "2")
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.condition("ModelResolved")["status"] == "True"
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "canary"
    assert sim.registry.tags[(REGISTERED, "1", "uplift.dev/role")] == "stable"


def test_a_recreated_model_whose_promotion_alias_is_gone_serves_its_version_as_a_first_one(
) -> None:
    """MLflow's answer that the promotion alias does not exist is an answer: nothing recorded
    as stable, the desired version is a first version (as without ``promotionAlias``)."""
    sim = _rolled_back_canary()
    del sim.registry.aliases[(REGISTERED, "production")]
    _recreated(sim)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}

def test_a_recreated_model_restarts_the_canary_the_registry_names_from_step_one() -> None:
    sim = Sim()
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(3):
        sim.tick(61)
    assert sim.weights() == {"1": 50, "2": 50}
    first = _recreated(sim)
    assert "CanaryStarted" in reasons(first)
    sim.tick(1)
    status = sim.status
    assert (status["stableVersion"], status["canaryVersion"]) == ("1", "2")
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.registry.aliases[(REGISTERED, "production")] == "1"
    assert sim.registry.tags[(REGISTERED, "2", "uplift.dev/role")] == "canary"


def test_a_recreated_model_without_a_promotion_alias_serves_the_version_as_a_first_one() -> None:
    """Without ``promotionAlias`` the registry keeps no pointer to the stable version the
    operator could read in one call: the desired version is a first version, as before."""
    sim = Sim()
    sim.body["spec"]["model"].pop("promotionAlias")
    sim.with_canary()
    sim.metrics.values[PROBE] = 5.0
    for _ in range(4):
        sim.tick(61)
    assert sim.status["abortedVersion"] == "2"
    _recreated(sim)
    sim.tick(1)
    assert sim.status["stableVersion"] == "2" and sim.weights() == {"2": 100}


def test_a_first_version_tagged_stable_elsewhere_is_served_at_once() -> None:
    """A version the registry tags nothing (a genuinely new model) is no recovered one: the
    promotion alias is not even read."""
    sim = Sim()
    sim.registry.aliases[(REGISTERED, "production")] = "3"
    sim.registry.tags[(REGISTERED, "3", "uplift.dev/role")] = "stable"
    sim.tick()
    sim.tick(1)
    assert sim.status["stableVersion"] == "1" and sim.weights() == {"1": 100}
