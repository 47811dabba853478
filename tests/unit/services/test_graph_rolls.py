"""A re-render of the serving graphs (an operator upgrade or setting, a ``spec.serving`` edit:
the same traffic split, rendered anew) rolls at most ``limit`` graphs at once, process-wide
(``services.rolls``); what changes the split never waits. Passes of several UpliftModels over
one fake cluster whose resourceVersions move as the API server's do, where "Seldon" reports on
a graph on request."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from tests.unit.services.fakes import FakeCluster, FakeMetrics, FakeRegistry
from tests.unit.services.test_upliftmodel import status_written

from uplift_operator.adapters.kube import KubeError
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.render.seldon import ROLES_ANNOTATION, SeldonV1Backend
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult
from uplift_operator.services.rolls import ROLL_TIMEOUT, SILENT_SETTLE, WAKE_ANSWER, Rolls
from uplift_operator.services.writeback import WriteBack

NS, REGISTERED = "shop", "hillstrom"
T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
PROBE = "probe_value"
SELDON = ("machinelearning.seldon.io/v1", "seldondeployments", NS)


def spec(name: str) -> dict[str, Any]:
    return {"model": {"registeredModel": REGISTERED, "alias": f"champion-{name}",
                      "aliasRefreshInterval": "30s"},
            "treatments": [{"name": "email"}],
            "rollout": {"analysisInterval": "1m",
                        "steps": [{"weight": 10, "pause": "2m"}, {"weight": 50, "pause": "2m"}],
                        "gates": [{"name": "probe", "type": "custom", "query": PROBE,
                                   "max": 1.0}]}}


@dataclass
class VersionedCluster(FakeCluster):
    """The fake cluster with the API server's resourceVersion: every write of an object (an
    apply, a status Seldon writes) moves it, and an apply answers with the object written."""

    version: int = 0

    def apply(self, manifest: Any, plural: str) -> dict[str, Any]:
        super().apply(manifest, plural)
        meta = manifest["metadata"]
        return self.moved((manifest["apiVersion"], plural, meta["namespace"], meta["name"]))

    def moved(self, key: tuple[str, str, str, str]) -> dict[str, Any]:
        self.version += 1
        self.objects[key]["metadata"]["resourceVersion"] = str(self.version)
        return copy.deepcopy(self.objects[key])


class Fleet:
    """UpliftModels of one operator process (one ``Dependencies``, one ``Rolls``), each
    following its own alias (``champion-<name>`` → version 1)."""

    def __init__(self, names: list[str], limit: int) -> None:
        self.cluster, self.metrics, self.registry = VersionedCluster(), FakeMetrics(), FakeRegistry()
        for version in ("1", "2"):
            self.registry.add(REGISTERED, version)
        self.rolls = Rolls(limit)
        self.woken: list[tuple[str, str, str]] = []  # what the handlers would wake, in order
        self.rolls.on_change.append(self.woken.extend)
        self.timed_out: list[tuple[str, str, str]] = []
        self.rolls.on_timeout.append(self.timed_out.append)
        self.deps = upliftmodel.Dependencies(
            cluster=self.cluster, backend=SeldonV1Backend(),
            registry_for=lambda ref, credentials: self.registry, prometheus=self.metrics,
            metric_templates=BUILTIN_TEMPLATES, runtime_image="runtime:1",
            default_tracking_uri="http://mlflow.test", rolls=self.rolls)
        self.now = T0
        self.deps.write_back = WriteBack(clock=lambda: self.now.timestamp())
        self.deps.first_status_grace = dt.timedelta(0)
        self.bodies: dict[str, dict[str, Any]] = {}
        for name in names:
            self.registry.aliases[(REGISTERED, f"champion-{name}")] = "1"
            self.bodies[name] = {
                "apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                "metadata": {"name": name, "namespace": NS, "uid": f"u-{name}", "generation": 1,
                             "annotations": {}},
                "spec": spec(name)}

    def tick(self, name: str, seconds: float = 0) -> PassResult:
        self.now += dt.timedelta(seconds=seconds)
        result = status_written(upliftmodel.reconcile(copy.deepcopy(self.bodies[name]),
                                                      self.deps, self.now))
        self.deps.write_back.run_due()
        self.bodies[name]["status"] = result.status
        return result

    def seldon(self, name: str, state: str = "Available") -> None:
        """Seldon's controller, played: it reconciled the graph there now and writes its
        status (a write: the graph's resourceVersion moves)."""
        key = (*SELDON, name)
        self.cluster.objects[key]["status"] = seldon_status(self.cluster.objects[key], state)
        self.cluster.moved(key)

    def serving(self, name: str) -> None:
        """A first graph, served: Seldon reports it, the model's status says Healthy."""
        self.tick(name)
        self.seldon(name)
        self.tick(name, 1)
        assert self.bodies[name]["status"]["phase"] == "Healthy"

    def images(self, name: str) -> set[str]:
        child = self.cluster.objects[(*SELDON, name)]
        return {p["componentSpecs"][0]["spec"]["containers"][0]["image"]
                for p in child["spec"]["predictors"]}

    def weights(self, name: str) -> dict[str, int]:
        child = self.cluster.objects[(*SELDON, name)]
        return {p["annotations"]["version"]: p["traffic"] for p in child["spec"]["predictors"]}

    def condition(self, name: str, type_: str = "ServingApplied") -> dict[str, Any]:
        return next(c for c in self.bodies[name]["status"]["conditions"] if c["type"] == type_)


def upgraded(names: list[str], limit: int) -> Fleet:
    """``names`` serving on ``runtime:1``, then the operator restarted with ``runtime:2``:
    every next pass is a re-render."""
    fleet = Fleet(names, limit)
    for name in names:
        fleet.serving(name)
    fleet.deps.runtime_image = "runtime:2"
    return fleet


def key(name: str) -> tuple[str, str, str]:
    return ("UpliftModel", NS, name)


def test_an_upgrade_rolls_at_most_the_limit_of_graphs_at_once_each_next_as_one_serves() -> None:
    names = ["a", "b", "c", "d", "e"]
    fleet = Fleet(names, limit=2)
    for name in names:  # a first graph is never held: all five at once
        fleet.serving(name)
    assert fleet.rolls.rolling() == 0
    fleet.deps.runtime_image = "runtime:2"  # the operator restarted with a new runtime image

    for name in names:  # the upgrade's first passes
        fleet.tick(name, 1)
    assert [n for n in names if fleet.images(n) == {"runtime:2"}] == ["a", "b"]
    for name in ("c", "d", "e"):  # kept as they are, and saying so
        assert fleet.images(name) == {"runtime:1"} and fleet.weights(name) == {"1": 100}
        queued = fleet.condition(name)
        assert (queued["status"], queued["reason"]) == ("False", "RollQueued")
        assert queued["message"] == (f"SeldonDeployment {name} serves v1 100% as it is: "
                                     "re-render of the serving graph queued: 2 graphs rolling "
                                     "(limit 2)")
        ready = fleet.condition(name, "Ready")
        assert ready["status"] == "True" and fleet.bodies[name]["status"]["phase"] == "Healthy"
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (2, 3)
    assert fleet.woken == []

    # The pass woken by its own apply reads the status Seldon wrote for the graph before:
    # Available, but not about this graph. The slot stays held.
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 2 and fleet.woken == []
    fleet.seldon("a", "Creating")  # Seldon rolls a's pods
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 2 and fleet.woken == []

    applied_order = ["a", "b"]
    rolling = {"a", "b"}
    while rolling:
        done = sorted(rolling)[0]
        fleet.seldon(done)  # its new pods serve
        fleet.tick(done, 1)
        rolling.discard(done)
        assert fleet.condition(done)["reason"] == "Applied"
        woken = [n for (_, _, n) in fleet.woken]
        fleet.woken.clear()
        assert len(woken) <= 1
        for name in woken:  # the handlers wake the next in line, which applies
            fleet.tick(name, 1)
            assert fleet.images(name) == {"runtime:2"}
            assert fleet.condition(name)["reason"] == "Applied"
            applied_order.append(name)
            rolling.add(name)
        assert len(rolling) <= 2 and fleet.rolls.rolling() == len(rolling)
        on_new = [n for n in names if fleet.images(n) == {"runtime:2"}]
        assert set(on_new) == set(applied_order)
    assert applied_order == names  # in the order they first asked
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (0, 0)
    assert all(fleet.weights(n) == {"1": 100} for n in names)


def test_a_canary_start_a_step_and_a_rollback_never_wait_for_a_slot() -> None:
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)  # holds the one slot
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued" and fleet.images("b") == {"runtime:1"}

    fleet.registry.aliases[(REGISTERED, "champion-b")] = "2"
    started = fleet.tick("b", 30)  # a canary's start changes the versions: at once
    assert "CanaryStarted" in [e.reason for e in started.events]
    assert fleet.weights("b") == {"1": 100, "2": 0} and fleet.images("b") == {"runtime:2"}
    assert fleet.condition("b")["reason"] == "Applied"
    # Its re-render went too, rolling version 1's pods: counted, above the limit, so the
    # re-renders queued behind wait for it as well.
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (2, 0)
    fleet.seldon("b")
    fleet.tick("b", 1)  # the canary serves: its first step's weight, at once
    assert fleet.weights("b") == {"1": 90, "2": 10}

    fleet.metrics.values[PROBE] = 5.0  # the gate's max is 1: Fail
    rolled = fleet.tick("b", 61)
    assert "RolledBack" in [e.reason for e in rolled.events]
    assert fleet.weights("b").get("2", 0) == 0 and fleet.weights("b")["1"] == 100
    fleet.seldon("b")  # Seldon reports b's graph after its last apply: b's roll is done
    fleet.tick("b", 1)
    assert fleet.rolls.rolling() == 1 and fleet.woken == []  # a still rolls, alone


def test_a_split_change_that_rolls_kept_versions_counts_and_the_queue_waits_for_it() -> None:
    """Before: a step or a canary start that also carried a new rendering of the versions it
    kept rolled their pods uncounted, so the queue admitted the next re-render at once."""
    fleet = upgraded(["a", "b", "c"], limit=1)
    fleet.tick("a", 1)  # a's re-render holds the one slot
    fleet.registry.aliases[(REGISTERED, "champion-b")] = "2"
    fleet.tick("b", 30)  # b's canary starts at once, version 1's pods rolling to runtime:2
    assert fleet.images("b") == {"runtime:2"} and fleet.rolls.rolling() == 2
    fleet.seldon("a")
    fleet.tick("a", 1)  # a's roll is done: one still rolls (b), at the limit
    assert fleet.rolls.rolling() == 1
    fleet.tick("c", 1)
    assert fleet.condition("c")["reason"] == "RollQueued" and fleet.images("c") == {"runtime:1"}
    fleet.seldon("b")
    fleet.tick("b", 1)  # the canary serves: its step's weight applied, still rolling
    assert fleet.weights("b") == {"1": 90, "2": 10} and fleet.rolls.rolling() == 1
    fleet.seldon("b")
    fleet.tick("b", 1)  # Seldon reports the graph as applied: b's slot frees, c is woken
    assert fleet.rolls.rolling() == 0 and fleet.woken[-1] == key("c")
    fleet.tick("c", 1)
    assert fleet.images("c") == {"runtime:2"}


def test_a_canary_start_that_removes_an_earlier_operators_roles_counts_as_a_roll() -> None:
    """The per-predictor roles an earlier operator rendered reach the pods; a split change
    whose apply removes them rolls the kept version's pods: counted, as any such roll."""
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
        child = fleet.cluster.objects[(*SELDON, name)]
        del child["metadata"]["annotations"]["uplift.dev/roles"]
        for predictor in child["spec"]["predictors"]:
            predictor["annotations"]["uplift.dev/role"] = "stable"
    fleet.tick("a", 1)  # a's re-render (the roles moved) holds the one slot
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued" and fleet.rolls.rolling() == 1
    fleet.registry.aliases[(REGISTERED, "champion-b")] = "2"
    fleet.tick("b", 30)  # b's canary starts at once, its apply removing v1's role annotation
    child = fleet.cluster.objects[(*SELDON, "b")]
    assert all("uplift.dev/role" not in p["annotations"] for p in child["spec"]["predictors"])
    assert fleet.rolls.rolling() == 2


def test_a_step_that_changes_only_the_split_is_not_counted() -> None:
    fleet = Fleet(["b"], limit=1)
    fleet.serving("b")
    fleet.registry.aliases[(REGISTERED, "champion-b")] = "2"
    fleet.tick("b", 30)  # a canary's start: a new predictor, nothing else rolls
    fleet.seldon("b")
    fleet.tick("b", 1)
    assert fleet.weights("b") == {"1": 90, "2": 10} and fleet.rolls.rolling() == 0


def test_an_emergency_rollback_goes_at_once_while_the_fleet_rolls() -> None:
    fleet = Fleet(["a", "b"], limit=1)
    fleet.serving("a")
    fleet.serving("b")
    fleet.registry.aliases[(REGISTERED, "champion-b")] = "2"
    fleet.tick("b", 30)
    fleet.seldon("b")
    fleet.metrics.values[PROBE] = 0.5
    for _ in range(12):  # b's canary passes every step: 2 is stable
        fleet.tick("b", 30)
        fleet.seldon("b")
    assert fleet.bodies["b"]["status"]["stableVersion"] == "2" and fleet.weights("b") == {"2": 100}
    fleet.deps.runtime_image = "runtime:2"
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    fleet.bodies["b"]["metadata"]["annotations"] = {"uplift.dev/emergency-rollback": "now"}
    fleet.tick("b", 1)
    assert fleet.bodies["b"]["status"]["stableVersion"] == "1"
    assert fleet.weights("b") == {"1": 0, "2": 100} and fleet.images("b") == {"runtime:2"}
    assert fleet.rolls.waiting() == 0


def test_a_roll_that_never_serves_frees_its_slot_after_the_timeout_and_says_so() -> None:
    fleet = upgraded(["a", "b"], limit=1)
    held = fleet.tick("a", 1)
    applied_at = fleet.now
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    # Its pods roll: Seldon's status write wakes the holder; else it looks again at the timeout
    assert held.requeue_after == ROLL_TIMEOUT.total_seconds()
    fleet.seldon("a", "Failed")  # its new pods never start
    stuck = fleet.tick("a", 60)
    assert stuck.requeue_after == (applied_at + ROLL_TIMEOUT - fleet.now).total_seconds()
    assert fleet.rolls.rolling() == 1 and fleet.woken == []

    fleet.now = applied_at + ROLL_TIMEOUT - dt.timedelta(seconds=1)
    fleet.tick("b")  # b's own pass, due for something else: still not its turn
    assert fleet.images("b") == {"runtime:1"} and fleet.rolls.rolling() == 1

    timed_out = fleet.tick("a", 1)  # the holder's pass at its deadline
    told = [e for e in timed_out.events if e.reason == "RollTimedOut"]
    assert [(e.type, e.decision) for e in told] == [("Warning", False)]
    assert ("did not serve, every version of its split ready and its pods rolled, within 10 min"
            in told[0].message)
    assert fleet.timed_out == [key("a")] and fleet.woken == [key("b")]
    assert "RollTimedOut" not in [e.reason for e in fleet.tick("a", 1).events]  # said once
    fleet.tick("b", 1)  # woken: the slot is its
    assert fleet.images("b") == {"runtime:2"} and fleet.condition("b")["reason"] == "Applied"
    assert fleet.rolls.rolling() == 1


def replicas_edited(fleet: Fleet, name: str, replicas: int) -> None:
    """A ``spec.serving.replicas`` edit of ``name``: its re-render changes every predictor's pod
    spec (``render.seldon.REPLICAS_ENV``)."""
    fleet.bodies[name]["spec"]["serving"] = {"replicas": replicas}
    fleet.bodies[name]["metadata"]["generation"] += 1


def test_a_re_render_seldon_says_nothing_about_is_done_once_it_served_a_while() -> None:
    """Seldon writes its status only when it changes: a graph whose re-render changed no
    Deployment's pod template (here only the object's annotations, taken out by hand) gets
    none. Still serving a minute after the apply, it is done."""
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    graph = (*SELDON, "a")
    del fleet.cluster.objects[graph]["metadata"]["annotations"][ROLES_ANNOTATION]
    fleet.cluster.moved(graph)
    held = fleet.tick("a", 1)
    applied_at = fleet.now
    assert ROLES_ANNOTATION in fleet.cluster.objects[graph]["metadata"]["annotations"]
    assert fleet.rolls.rolling() == 1
    replicas_edited(fleet, "b", 2)
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    fleet.now = applied_at + SILENT_SETTLE - dt.timedelta(seconds=1)
    fleet.tick("a")  # the status there is still the one from before the apply
    assert fleet.rolls.rolling() == 1 and fleet.woken == []
    assert held.requeue_after == SILENT_SETTLE.total_seconds()
    fleet.tick("a", 1)  # the pass it asked for
    assert fleet.rolls.rolling() == 0 and fleet.woken == [key("b")]


def test_a_re_render_that_rolls_pods_holds_its_slot_while_seldon_says_nothing() -> None:
    """Before: a re-render changing the pod spec (a ``spec.serving.replicas`` edit; an upgrade's
    image) was done a minute after its apply when Seldon had written nothing since, its graph
    still reading Available with the old pods' numbers: with Seldon lagging or down the slot
    freed, the next queued re-render went, and all rolled at once when Seldon caught up. Now the
    slot is held until Seldon reports, or until the timeout, which says Seldon wrote nothing."""
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    replicas_edited(fleet, "a", 2)
    fleet.tick("a", 1)
    applied_at = fleet.now
    child = fleet.cluster.objects[(*SELDON, "a")]
    assert [p["replicas"] for p in child["spec"]["predictors"]] == [2]
    replicas_edited(fleet, "b", 3)
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    # Seldon silent: a's graph still reads Available, its numbers the old pods'.
    silent = fleet.tick("a", SILENT_SETTLE.total_seconds() + 5)
    assert fleet.rolls.rolling() == 1 and fleet.woken == []
    assert silent.requeue_after == (applied_at + ROLL_TIMEOUT - fleet.now).total_seconds()
    fleet.tick("b", 1)  # b's own pass: still queued, its graph as it is
    assert fleet.condition("b")["reason"] == "RollQueued"
    child = fleet.cluster.objects[(*SELDON, "b")]
    assert [p["replicas"] for p in child["spec"]["predictors"]] == [1]

    fleet.now = applied_at + ROLL_TIMEOUT
    timed_out = fleet.tick("a")  # Seldon down for good: the timeout frees the slot, says why
    told = [e for e in timed_out.events if e.reason == "RollTimedOut"]
    assert len(told) == 1 and "Seldon wrote no status on it since" in told[0].message
    assert fleet.timed_out == [key("a")] and fleet.woken == [key("b")]
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "Applied"


def test_a_re_render_that_rolls_pods_is_done_once_seldon_reports_it_rolled() -> None:
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    replicas_edited(fleet, "a", 2)
    fleet.tick("a", 1)
    replicas_edited(fleet, "b", 3)
    fleet.tick("b", 1)
    fleet.seldon("a")  # Seldon reconciled it: Available, its numbers the new pods'
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0 and fleet.woken == [key("b")]


def test_a_stuck_roll_is_freed_by_any_pass_after_the_timeout() -> None:
    """The holder's pass may never come (its spec turned invalid); the next pass that asks for
    a slot finds the roll timed out, takes the slot, and the holder is woken to be told."""
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    fleet.tick("b", ROLL_TIMEOUT.total_seconds())  # b's resync, past a's deadline
    assert fleet.images("b") == {"runtime:2"} and fleet.woken == [key("a")]
    assert "RollTimedOut" in [e.reason for e in fleet.tick("a", 1).events]


def test_a_queued_re_render_no_longer_needed_leaves_the_queue_and_says_it_serves() -> None:
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    assert fleet.rolls.waiting() == 1
    fleet.bodies["b"]["spec"]["serving"] = {"runtimeImage": "runtime:1"}  # pinned where it is
    fleet.bodies["b"]["metadata"]["generation"] = 2
    fleet.tick("b", 1)
    applied = fleet.condition("b")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert applied["message"] == "SeldonDeployment b serves v1 100%"
    assert fleet.rolls.waiting() == 0 and fleet.images("b") == {"runtime:1"}


def test_a_spec_serving_edit_is_a_re_render_and_waits_too() -> None:
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)
    fleet.bodies["b"]["spec"]["serving"] = {"replicas": 3}
    fleet.bodies["b"]["metadata"]["generation"] = 2
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    child = fleet.cluster.objects[(*SELDON, "b")]
    assert [p["replicas"] for p in child["spec"]["predictors"]] == [1]


def test_a_refused_re_render_frees_its_slot() -> None:
    fleet = upgraded(["a", "b"], limit=1)
    fleet.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 0
    fleet.cluster.apply_error = None
    fleet.tick("b", 1)
    assert fleet.images("b") == {"runtime:2"} and fleet.rolls.rolling() == 1


def test_a_refused_re_render_queued_again_behind_other_rolls_stays_apply_failed() -> None:
    """Before: the refusal freed the slot, so the retry waited behind b's roll and said
    ``RollQueued``, then ``ApplyFailed`` again once admitted and refused: each flip moved
    ``lastTransitionTime`` (the stuck grace and the alert's ``for`` restarted, the retries'
    backoff too) and each refusal posted its Warning anew."""
    fleet = upgraded(["a", "b"], limit=1)
    refusal = KubeError("admission webhook denied the request", 400)
    real = fleet.cluster.apply

    def apply(manifest: Any, plural: str) -> dict[str, Any]:
        if manifest["metadata"]["name"] == "a":
            raise refusal
        return real(manifest, plural)

    fleet.cluster.apply = apply  # type: ignore[method-assign]
    first = fleet.tick("a", 1)
    refused = fleet.condition("a")
    assert refused["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 0
    assert [e.reason for e in first.events] == ["ApplyFailed"]
    fleet.tick("b", 1)  # b takes the slot a's refusal freed
    assert fleet.rolls.rolling() == 1
    queued = fleet.tick("a", 60)  # a's retry waits behind b's roll
    assert fleet.rolls.waiting() == 1
    assert fleet.condition("a") == refused and queued.requeue_after == 60.0
    fleet.seldon("b")
    fleet.tick("b", 60)  # b's roll is done: a is woken, admitted, refused again
    assert fleet.woken[-1] == key("a")
    again = fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0 and fleet.images("a") == {"runtime:1"}
    assert fleet.condition("a") == refused  # since the first refusal, said once
    assert not [e for e in again.events if e.reason == "ApplyFailed"]


def test_without_a_limit_every_re_render_goes_at_once_and_is_counted() -> None:
    names = ["a", "b", "c"]
    fleet = Fleet(names, limit=0)
    for name in names:
        fleet.serving(name)
    fleet.deps.runtime_image = "runtime:2"
    for name in names:
        fleet.tick(name, 1)
    assert all(fleet.images(n) == {"runtime:2"} for n in names)
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (3, 0)


# -- the component alone ---------------------------------------------------------------------------

def test_a_woken_model_that_does_not_ask_leaves_and_the_next_is_woken() -> None:
    rolls = Rolls(limit=1)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    assert rolls.admit(key("a"), T0).admitted
    for name in ("b", "c"):
        assert not rolls.admit(key(name), T0).admitted
    rolls.settle(key("a"), T0, version="2", serving=True)
    assert woken == [key("b")] and rolls.waiting() == 2
    # The slot is kept for b: c, asking meanwhile, waits behind it
    assert not rolls.admit(key("c"), T0 + dt.timedelta(seconds=1)).admitted
    later = T0 + WAKE_ANSWER
    assert rolls.admit(key("c"), later).admitted  # b never asked: it left the queue
    assert rolls.waiting() == 0
    assert not rolls.admit(key("b"), later).admitted  # asking again: queued anew


def test_a_slot_a_timeout_frees_goes_to_the_queue_first_not_to_the_model_asking() -> None:
    """Before: a model asking for the first time, in the pass that found the only roll timed
    out, took its slot ahead of the model queued behind that roll."""
    rolls = Rolls(limit=1)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    assert rolls.admit(key("a"), T0).admitted
    assert not rolls.admit(key("b"), T0 + dt.timedelta(seconds=5)).admitted
    late = T0 + ROLL_TIMEOUT + dt.timedelta(seconds=1)
    assert not rolls.admit(key("c"), late).admitted  # queued behind b
    assert key("b") in woken and rolls.waiting() == 2
    assert rolls.admit(key("b"), late).admitted  # the slot kept for b
    assert not rolls.admit(key("c"), late).admitted


def test_a_woken_model_whose_kept_slot_a_counted_roll_took_stays_first_in_line() -> None:
    """Before: it went to the back of the queue, so counted rolls could starve it."""
    rolls = Rolls(limit=1)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    assert rolls.admit(key("a"), T0).admitted
    for name in ("c", "d", "e"):
        assert not rolls.admit(key(name), T0).admitted
    rolls.settle(key("a"), T0, version="2", serving=True)
    assert woken == [key("c")]
    rolls.counted(key("b"), T0, "7")  # b's step rolled its kept version's pods
    said = rolls.admit(key("c"), T0 + dt.timedelta(seconds=1))
    assert not said.admitted
    assert said.message == "re-render of the serving graph queued: 1 graphs rolling (limit 1)"
    rolls.settle(key("b"), T0 + dt.timedelta(seconds=2), version="8", serving=True)
    assert woken[-1] == key("c")  # c first again, not d


def test_a_model_that_needs_no_re_render_any_more_passes_its_wake_on() -> None:
    rolls = Rolls(limit=1)
    woken: list[tuple[str, str, str]] = []
    rolls.on_change.append(woken.extend)
    rolls.admit(key("a"), T0)
    rolls.admit(key("b"), T0)
    rolls.admit(key("c"), T0)
    rolls.forget(key("a"), T0)
    assert woken == [key("b")]
    rolls.unqueue(key("b"), T0)  # its graph turned out as decided already
    assert woken == [key("b"), key("c")]


def test_a_queued_model_reads_the_same_words_while_a_slot_is_kept_for_another() -> None:
    """Limit 2, a and b rolling, c and d queued: a settles and its slot is kept for c; d's
    pass reads the slots taken (2 of 2), not a count that dips to 1, so its status does not
    change (and does not suggest a free slot)."""
    rolls = Rolls(limit=2)
    for name in ("a", "b"):
        assert rolls.admit(key(name), T0).admitted
    first = {name: rolls.admit(key(name), T0).message for name in ("c", "d")}
    rolls.settle(key("a"), T0 + SILENT_SETTLE, version="2", serving=True)
    assert rolls.admit(key("d"), T0 + SILENT_SETTLE).message == first["d"]
    assert "2 graphs rolling (limit 2)" in first["d"]


def test_the_first_queued_model_comes_back_when_a_slot_may_free_without_anyone_s_pass() -> None:
    """A woken model that never asks (its spec turned invalid) and a roll whose model stopped
    passing free their slots only when someone looks: the first queued model's pass is due
    then, so a quiet fleet's queue moves; the others are not (one pass, not thousands)."""
    rolls = Rolls(limit=1)
    assert rolls.admit(key("a"), T0).admitted
    for name in ("b", "c", "d"):
        assert not rolls.admit(key(name), T0).admitted
    assert rolls.due(key("b"), T0) == ROLL_TIMEOUT.total_seconds()  # a's roll may time out
    assert rolls.due(key("c"), T0) is None and rolls.due(key("d"), T0) is None
    rolls.settle(key("a"), T0 + SILENT_SETTLE, version="2", serving=True)  # b woken
    # b never asks; c is first in the queue now, due when b's wake lapses.
    assert rolls.due(key("c"), T0 + SILENT_SETTLE) == WAKE_ANSWER.total_seconds()
    assert rolls.admit(key("c"), T0 + SILENT_SETTLE + WAKE_ANSWER).admitted


def test_a_timed_out_roll_is_said_until_a_pass_says_it() -> None:
    rolls = Rolls(limit=1)
    rolls.admit(key("a"), T0)
    rolls.started(key("a"), T0, "1", pods=False)
    late = T0 + ROLL_TIMEOUT
    why = rolls.timed_out(key("a"), late)
    assert why is not None and "did not serve, every version of its split ready" in why
    assert rolls.timed_out(key("a"), late) == why  # a pass that ended early: said next time
    rolls.said(key("a"))
    assert rolls.timed_out(key("a"), late) is None


@pytest.mark.parametrize("limit", [-1])
def test_a_negative_limit_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="0 \\(none\\) or more"):
        Rolls(limit)


def test_available_between_two_surge_batches_keeps_the_slot_until_the_roll_is_done() -> None:
    """Seldon 1.17.1 writes Available mid-surge (``render.seldon`` "Mid-rollout"): the new
    batch up, the old pods it replaces not gone, so its Deployment runs more pods than the
    predictor wants, all available. Before: that freed the slot and the next graph rolled."""
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    fleet.deps.runtime_image = "runtime:2"
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    assert fleet.images("a") == {"runtime:2"} and fleet.images("b") == {"runtime:1"}
    fleet.seldon("a", "Creating")
    fleet.tick("a", 1)
    surge = seldon_status(fleet.cluster.objects[(*SELDON, "a")])
    for entry in surge["deploymentStatus"].values():
        entry.update(replicas=entry["replicas"] + 1, availableReplicas=entry["replicas"] + 1)
    fleet.cluster.objects[(*SELDON, "a")]["status"] = surge
    fleet.cluster.moved((*SELDON, "a"))
    fleet.tick("a", 1)
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"  # it serves meanwhile
    assert fleet.rolls.rolling() == 1 and fleet.woken == []  # but still rolls: b waits
    fleet.seldon("a")  # the old pods gone: as many as wanted, all available
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0 and fleet.woken == [key("b")]


def test_labels_edited_away_are_applied_back_at_once_without_a_slot() -> None:
    """The watch selects graphs by their labels (``handlers.watches.GRAPH_SELECTOR``): a graph
    whose labels were edited away sends no more events, so the next pass applies them back,
    at once even with every slot taken (the object's labels do not reach its pods), and takes
    no slot itself."""
    fleet = Fleet(["a", "b"], limit=1)
    fleet.serving("a")
    fleet.serving("b")
    fleet.deps.runtime_image = "runtime:2"
    fleet.tick("a", 1)  # a re-render holds the one slot
    assert fleet.rolls.rolling() == 1
    graph = fleet.cluster.objects[(*SELDON, "b")]
    wanted = dict(graph["metadata"]["labels"])
    assert wanted.get("app.kubernetes.io/managed-by") == "uplift-operator"
    fleet.deps.runtime_image = "runtime:1"  # b's rendering as it is: only its labels differ
    graph["metadata"]["labels"] = {}  # kubectl label ... app.kubernetes.io/managed-by-
    applied = len(fleet.cluster.applied)
    fleet.tick("b", 1)
    assert len(fleet.cluster.applied) == applied + 1
    assert fleet.cluster.objects[(*SELDON, "b")]["metadata"]["labels"] == wanted
    assert fleet.images("b") == {"runtime:1"} and fleet.weights("b") == {"1": 100}
    assert fleet.condition("b")["reason"] == "Applied"
    assert (fleet.rolls.rolling(), fleet.rolls.waiting()) == (1, 0)
    fleet.tick("b", 1)  # back as rendered: nothing more to apply
    assert len(fleet.cluster.applied) == applied + 1
