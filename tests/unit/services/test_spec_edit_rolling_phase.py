"""A spec edit has not taken effect until the serving graph it asks for serves with every pod
available: while the graph waits for a roll slot (``ServingApplied`` False ``RollQueued``) or its
pods roll (``ServingApplied`` True ``Applied``, from the apply that starts the roll), the
condition's message ends with ``cond.SPEC_EDIT_ROLLING`` and the published phase is
Progressing, naming it first, not Healthy (docs/install.md, "Argo CD": a spec that has not taken
effect does not show Healthy; Argo Rollouts says Progressing of a rollout under way too).

Before: a queued edit read Progressing, but the pass that applied it published Healthy "version
1 serves all traffic" at once, for as long as the new pods took (up to the 10-minute roll
timeout) while the old ones served the spec before the edit: ``kubectl get``, Argo CD and
on-call saw Healthy for an edit not in effect. A re-render no edit asked for (an operator
release or setting) leaves Healthy; a status at rest is written once (no churn). Passes of
UpliftModels over one fake cluster (``test_graph_rolls.Fleet``); a roll that times out:
``test_graph_roll_timed_out_status``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.services.test_graph_rolls import SELDON, Fleet, key, replicas_edited, upgraded

from uplift_operator.adapters.kube import KubeError
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.status import FEWER_REPLICAS
from uplift_operator.domain.stuck import DEFAULT_GRACE
from uplift_operator.services.rolls import ROLL_TIMEOUT, Rolls

HEALTH_TESTDATA = (Path(__file__).resolve().parents[3] / "argocd" / "resource_customizations"
                   / "uplift.dev" / "UpliftModel" / "testdata")
SERVES = "version 1 serves all traffic"


def _phase(fleet: Fleet, name: str) -> tuple[str, str]:
    status = fleet.bodies[name]["status"]
    return status["phase"], status["message"]


def _rolling(fleet: Fleet, name: str) -> tuple[str, str]:
    """The phase a spec edit's graph publishes while it rolls: Progressing, naming
    ``ServingApplied`` (its message ending with ``cond.SPEC_EDIT_ROLLING``), then the ramp's."""
    applied = fleet.condition(name)
    assert applied["message"].endswith(f"; {cond.SPEC_EDIT_ROLLING}")
    return ("Progressing", f"ServingApplied {applied['status']} ({applied['reason']}): "
                           f"{applied['message']}; {SERVES}")


def _at_rest(fleet: Fleet, name: str, seconds: float = 30) -> None:
    """A pass that finds nothing new writes nothing new."""
    before = copy.deepcopy(fleet.bodies[name]["status"])
    fleet.tick(name, seconds)
    assert fleet.bodies[name]["status"] == before


def _health_case(name: str, status: dict[str, Any]) -> None:
    """What Argo CD's health check reads (``testdata/<name>``) is the operator's own output."""
    body = yaml.safe_load((HEALTH_TESTDATA / name).read_text())
    fields = ("phase", "message", "observedGeneration")
    assert {k: body["status"][k] for k in fields} == {k: status[k] for k in fields}


def _pods_roll(fleet: Fleet, name: str) -> None:
    """Seldon reports the graph rolling (``Creating``): each Deployment runs its old pods,
    available and serving, and a surge pod not available yet."""
    graph = (*SELDON, name)
    status = seldon_status(fleet.cluster.objects[graph], "Creating")
    for entry in status["deploymentStatus"].values():
        entry.update(replicas=entry["replicas"] + 1, availableReplicas=entry["replicas"])
    fleet.cluster.objects[graph]["status"] = status
    fleet.cluster.moved(graph)


def _edit_resources(fleet: Fleet, name: str, cpu: str) -> None:
    """A ``spec.serving.resources`` edit: every predictor's pod spec changes, its pods roll."""
    fleet.bodies[name]["spec"]["serving"] = {"resources": {"requests": {"cpu": cpu}}}
    fleet.bodies[name]["metadata"]["generation"] += 1


def test_a_spec_edit_queued_is_progressing_until_its_pods_have_rolled() -> None:
    fleet = Fleet(["a", "b"], limit=1)
    for name in ("a", "b"):
        fleet.serving(name)
    replicas_edited(fleet, "a", 2)
    fleet.tick("a", 1)  # a takes the one slot: its pods roll
    assert fleet.condition("a")["reason"] == "Applied"

    replicas_edited(fleet, "b", 3)
    fleet.tick("b", 1)  # queued behind a's roll: b's graph serves the spec before the edit
    queued = fleet.condition("b")
    assert (queued["status"], queued["reason"]) == ("False", "RollQueued")
    assert queued["message"] == ("SeldonDeployment b serves v1 100% as it is: re-render of the "
                                 "serving graph queued: 1 graphs rolling (limit 1); "
                                 f"{cond.SPEC_EDIT_ROLLING}")
    assert _phase(fleet, "b") == _rolling(fleet, "b") == (
        "Progressing", f"ServingApplied False (RollQueued): {queued['message']}; {SERVES}")
    assert fleet.condition("b", "Ready")["status"] == "True"  # decisions as they were
    _health_case("spec-edit-queued.yaml", fleet.bodies["b"]["status"])
    _at_rest(fleet, "b")  # b's own passes meanwhile: still queued, still Progressing

    fleet.seldon("a")  # a's new pods serve: the slot goes to b
    fleet.tick("a", 1)
    assert fleet.woken == [key("b")]
    fleet.tick("b", 1)  # admitted: applied, its pods roll
    assert fleet.condition("b")["message"] == (f"SeldonDeployment b applied: v1 100%; "
                                               f"{cond.SPEC_EDIT_ROLLING}")
    assert _phase(fleet, "b") == _rolling(fleet, "b")  # before: Healthy from here on
    _pods_roll(fleet, "b")
    fleet.tick("b", 1)
    assert _phase(fleet, "b") == _rolling(fleet, "b")
    _at_rest(fleet, "b")
    fleet.seldon("b")  # every pod of the new graph available
    fleet.tick("b", 1)
    assert fleet.condition("b")["message"] == "SeldonDeployment b serves v1 100%"
    for name in ("a", "b"):  # at rest: Healthy, nothing more to write, no flap
        assert _phase(fleet, name) == ("Healthy", SERVES)
        _at_rest(fleet, name, 60)


def test_a_spec_edit_rolling_is_progressing_until_every_pod_is_available() -> None:
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.tick("a", 1)  # a slot free: applied at once, its pods roll
    applied = fleet.condition("a")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert applied["message"] == f"SeldonDeployment a applied: v1 100%; {cond.SPEC_EDIT_ROLLING}"
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    assert fleet.condition("a", "Ready")["status"] == "True"  # the old pods serve meanwhile
    _health_case("spec-edit-rolling.yaml", fleet.bodies["a"]["status"])

    _pods_roll(fleet, "a")  # Seldon rolls them: a new pod not available yet
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    _at_rest(fleet, "a")

    fleet.seldon("a")  # as many pods as wanted, every one available: the edit took effect
    fleet.tick("a", 1)
    applied = fleet.condition("a")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert applied["message"] == "SeldonDeployment a serves v1 100%"
    assert _phase(fleet, "a") == ("Healthy", SERVES)
    _at_rest(fleet, "a", 60)


def test_a_replicas_increase_read_short_of_its_replicas_is_still_rolling() -> None:
    """Until Seldon reports on the new pods, the graph reads the old count (1 of the 3 wanted,
    Available): short of its replicas, which an edit's roll is still rolling, not taken effect
    (the roll timeout says it if it stays so)."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    replicas_edited(fleet, "a", 3)
    fleet.tick("a", 1)
    fleet.tick("a", 30)
    applied = fleet.condition("a")
    assert FEWER_REPLICAS in applied["message"] and "1 of 3 replicas" in applied["message"]
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.condition("a")["message"] == "SeldonDeployment a serves v1 100%"
    assert _phase(fleet, "a") == ("Healthy", SERVES)


def test_a_re_render_no_edit_asked_for_stays_healthy_queued_and_rolling() -> None:
    """An operator release re-renders every graph: the specs took effect, the graphs serve."""
    fleet = upgraded(["a", "b"], limit=1)
    fleet.tick("a", 1)
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    _pods_roll(fleet, "a")
    fleet.tick("a", 1)
    for name in ("a", "b"):  # a rolls, b waits for its slot
        assert cond.SPEC_EDIT_ROLLING not in fleet.condition(name)["message"]
        assert _phase(fleet, name) == ("Healthy", SERVES)
    fleet.seldon("a")
    fleet.tick("a", 1)
    fleet.tick("b", 1)  # woken: applied, its pods roll
    assert fleet.condition("b")["message"] == "SeldonDeployment b applied: v1 100%"
    _pods_roll(fleet, "b")
    fleet.tick("b", 1)
    assert _phase(fleet, "b") == ("Healthy", SERVES)


def test_an_edit_that_rolls_nothing_is_healthy_at_once() -> None:
    """An edit that re-renders nothing (the rollout's analysis interval) took effect with its
    pass: no roll to wait for."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    fleet.bodies["a"]["spec"]["rollout"]["analysisInterval"] = "2m"
    fleet.bodies["a"]["metadata"]["generation"] += 1
    fleet.tick("a", 1)
    assert cond.SPEC_EDIT_ROLLING not in fleet.condition("a")["message"]
    assert _phase(fleet, "a") == ("Healthy", SERVES)


def _surge_available(fleet: Fleet, name: str) -> None:
    """Seldon 1.17.1 writes Available between two surge batches: each Deployment runs the new
    batch and the old pods it replaces, every one available (more pods than wanted)."""
    graph = (*SELDON, name)
    status = seldon_status(fleet.cluster.objects[graph])
    for entry in status["deploymentStatus"].values():
        entry.update(replicas=entry["replicas"] + 1, availableReplicas=entry["replicas"] + 1)
    fleet.cluster.objects[graph]["status"] = status
    fleet.cluster.moved(graph)


def test_a_pass_before_seldon_reports_on_the_new_pods_is_still_rolling() -> None:
    """Right after the apply (the graph's own watch event, a wake-up) the graph still reads the
    status Seldon wrote before it: Available, every replica available, the old pods'. Before:
    that pass counted the edit rolled, Healthy before one new pod ran. The roll slot
    (``services.rolls``), held until Seldon reports the graph rolled, decides it."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.tick("a", 1)  # applied: its pods roll
    assert fleet.rolls.rolling() == 1
    fleet.tick("a", 1)  # Seldon has not written since: the old status, Available
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    _at_rest(fleet, "a")
    fleet.seldon("a")  # Seldon reports the new graph: as many pods as wanted, all available
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0
    assert fleet.condition("a")["message"] == "SeldonDeployment a serves v1 100%"
    assert _phase(fleet, "a") == ("Healthy", SERVES)
    _at_rest(fleet, "a", 60)


def test_available_between_two_surge_batches_is_still_rolling() -> None:
    """Seldon's Available mid-surge (the new batch up, the old pods not gone) is not the end of
    the roll: Progressing until every Deployment runs as many pods as wanted."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.tick("a", 1)
    _pods_roll(fleet, "a")
    fleet.tick("a", 1)
    _surge_available(fleet, "a")
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == ("Healthy", SERVES)


@pytest.mark.parametrize("event_first", [True, False])
def test_an_edit_s_roll_found_after_a_restart_that_never_serves_times_out(
        event_first: bool) -> None:
    """The operator restarts while an edit's new pods do not start: the new process finds the
    graph rolling (``Rolls.found``), and the model's status says the roll is its edit's. Its
    timeout is said (``RollTimedOut``: Progressing within the grace, Degraded past it), as the
    process that applied it would have. Before: a roll found at start times out quietly, so
    the status kept saying the edit rolls: Progressing for good, never Degraded nor alerted."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.tick("a", 1)
    _pods_roll(fleet, "a")  # a new pod that never becomes available
    fleet.tick("a", 1)
    fleet.rolls = fleet.deps.rolls = Rolls(5)  # the operator process replaced
    timed_out: list[tuple[str, str, str]] = []
    fleet.rolls.on_timeout.append(timed_out.append)
    if event_first:  # the graph's watch event before the model's first pass
        fleet.rolls.found(key("a"), fleet.now, version=None, rolling=True)
    fleet.tick("a", 1)  # its first pass in the new process: still rolling
    assert _phase(fleet, "a") == _rolling(fleet, "a") and fleet.rolls.rolling() == 1
    result = fleet.tick("a", ROLL_TIMEOUT.total_seconds())
    applied = fleet.condition("a")
    assert (applied["status"], applied["reason"]) == ("False", "RollTimedOut")
    assert "of this process finding it rolling" in applied["message"]
    assert [e.reason for e in result.events] == ["RollTimedOut"] and timed_out == [key("a")]
    assert _phase(fleet, "a") == _rolling(fleet, "a")  # within the grace
    fleet.tick("a", DEFAULT_GRACE.total_seconds())
    assert fleet.bodies["a"]["status"]["phase"] == "Degraded"


def test_a_re_render_s_roll_found_after_a_restart_still_times_out_quietly() -> None:
    """A roll found at start that no edit of the model's status asked for (an operator
    release, a graph rolling for any reason) is not this process's: its slot frees quietly."""
    fleet = upgraded(["a"], limit=5)
    fleet.tick("a", 1)
    _pods_roll(fleet, "a")
    fleet.tick("a", 1)
    fleet.rolls = fleet.deps.rolls = Rolls(5)
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1
    result = fleet.tick("a", ROLL_TIMEOUT.total_seconds())
    assert fleet.rolls.rolling() == 0 and "RollTimedOut" not in [e.reason for e in result.events]
    assert fleet.condition("a")["reason"] == "Applied"


def test_an_edit_s_apply_refused_then_retried_is_progressing_until_its_pods_have_rolled() -> None:
    """Before: the refusal's words dropped the edit's, so the retry that went through (the same
    generation) read as no edit's: Healthy while the new pods rolled."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    fleet.tick("a", 1)
    refused = fleet.condition("a")
    assert (refused["status"], refused["reason"]) == ("False", "ApplyFailed")
    assert _phase(fleet, "a") == _rolling(fleet, "a")  # within the grace
    fleet.cluster.apply_error = None
    fleet.tick("a", 5)  # the retry goes through: its pods roll
    assert fleet.condition("a")["message"] == (f"SeldonDeployment a applied: v1 100%; "
                                               f"{cond.SPEC_EDIT_ROLLING}")
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == ("Healthy", SERVES)


def _saved_then_lost(fleet: Fleet, error: KubeError) -> None:
    """The API server saves the next apply, but its answer does not come back (``error``: the
    504 of its request timeout, a connection dropped after the request went): once."""
    real = fleet.cluster.apply

    def apply(manifest: Any, plural: str) -> dict[str, Any]:
        real(manifest, plural)
        del fleet.cluster.apply  # the next apply answers
        raise error

    fleet.cluster.apply = apply  # type: ignore[method-assign]


@pytest.mark.parametrize("error", [
    KubeError("apply seldondeployments/a: 504 Timeout: request did not complete within "
              "requested timeout", 504),
    KubeError("apply seldondeployments/a: API server not reached (connection lost)", 0)])
def test_an_edit_s_apply_saved_though_its_answer_was_lost_is_rolling_until_seldon_reports(
        error: KubeError) -> None:
    """The API server saved the edit's apply but its answer was lost: the slot is kept (the
    pods may roll), unconfirmed until the next pass reads the graph, whose resourceVersion is
    then taken as the apply's. Before: the error gave the slot back, and the next pass found
    the graph as decided, no roll held and the old pods' status (Available, every replica):
    the edit rolled, Healthy before one new pod ran."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    _saved_then_lost(fleet, error)
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed"
    graph = fleet.cluster.objects[(*SELDON, "a")]
    assert "resources" in graph["spec"]["predictors"][0]["componentSpecs"][0]["spec"][
        "containers"][0]  # saved
    fleet.tick("a", 5)  # the graph as decided, Seldon has not written since: the old status
    applied = fleet.condition("a")
    assert (applied["status"], applied["reason"]) == ("True", "Applied")
    assert _phase(fleet, "a") == _rolling(fleet, "a")  # before: Healthy
    assert fleet.rolls.rolling() == 1  # the slot kept
    _at_rest(fleet, "a")
    _pods_roll(fleet, "a")
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    fleet.seldon("a")  # every new pod available
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0
    assert fleet.condition("a")["message"] == "SeldonDeployment a serves v1 100%"
    assert _phase(fleet, "a") == ("Healthy", SERVES)
    assert fleet.timed_out == []


def test_an_edit_s_apply_lost_that_did_not_land_is_applied_again_in_its_slot() -> None:
    """The answer lost, the apply not saved: the next pass finds the graph not as decided and
    applies it in the slot it kept, which counts from there as any roll."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.cluster.apply_error = KubeError("apply seldondeployments/a: 503 Service Unavailable",
                                          503)
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 1
    fleet.cluster.apply_error = None
    fleet.tick("a", 5)
    assert fleet.condition("a")["message"] == (f"SeldonDeployment a applied: v1 100%; "
                                               f"{cond.SPEC_EDIT_ROLLING}")
    assert fleet.rolls.rolling() == 1
    fleet.tick("a", 1)
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0 and _phase(fleet, "a") == ("Healthy", SERVES)


def test_an_edit_s_apply_refused_gives_its_slot_back() -> None:
    """A 4xx is the API server's refusal: nothing was saved, nothing rolls."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 0


def test_a_graph_found_rolling_after_a_restart_while_the_edit_s_apply_is_refused_times_out_quietly(
        ) -> None:
    """The status says the edit rolls, but no apply of it went through (refused, and refused
    again after the restart): the graph found rolling after a restart rolls for another reason
    (a crash-looping pod), not the operator's roll. Its timeout frees the slot quietly. Before:
    ``RollTimedOut`` naming "an operator restart during the roll", and counted, for a roll the
    operator never started (``told`` read any reason but ``RollTimedOut``)."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    fleet.tick("a", 1)
    said = fleet.condition("a")
    assert said["reason"] == "ApplyFailed" and said["message"].endswith(cond.SPEC_EDIT_ROLLING)
    _pods_roll(fleet, "a")  # a pod of the old graph crash-loops: Seldon's numbers roll
    fleet.rolls = fleet.deps.rolls = Rolls(1)  # the operator process replaced
    timed_out: list[tuple[str, str, str]] = []
    fleet.rolls.on_timeout.append(timed_out.append)
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1  # found rolling
    events: list[str] = []
    for _ in range(int(ROLL_TIMEOUT.total_seconds() // 60) + 1):
        events += [e.reason for e in fleet.tick("a", 60).events]
    assert fleet.rolls.rolling() == 0
    assert "RollTimedOut" not in events and timed_out == []
    applied = fleet.condition("a")
    assert applied["reason"] == "ApplyFailed"
    assert "an operator restart during the roll" not in applied["message"]


WEBHOOK_DOWN = KubeError(
    'apply seldondeployments/a: 500 Internal error occurred: failed calling webhook '
    '"v1.vseldondeployment.kb.io": Post "https://seldon-webhook-service.seldon-system.svc:443/'
    'validate-machinelearning-seldon-io-v1-seldondeployment": dial tcp: connect: connection '
    'refused', 500)


def _refused_for(fleet: Fleet, name: str, error: KubeError) -> None:
    """Every apply of ``name``'s graph fails with ``error`` (Seldon's validating webhook down:
    nothing is saved, the answer a 5xx all the same); the others' go through."""
    real = fleet.cluster.apply

    def apply(manifest: Any, plural: str) -> dict[str, Any]:
        if manifest["metadata"]["name"] == name:
            raise error
        return real(manifest, plural)

    fleet.cluster.apply = apply  # type: ignore[method-assign]


def test_an_apply_failing_with_a_5xx_pass_after_pass_gives_its_slot_to_the_next_in_line() -> None:
    """An unconfirmed slot is kept for one pass: the next finds the graph not as decided (the
    lost apply did not land) and its apply fails again, so neither landed and the slot is given
    back; the model queued behind gets it. The outage's roll never started: its slot ends with
    no ``RollTimedOut`` and nothing counted. Before: the failing model kept the slot at every
    retry, the queued one waited for the 10-minute timeout, which told a ``RollTimedOut`` ("is
    its controller running") for a roll that never started, and again for the outage."""
    fleet = Fleet(["a", "b"], limit=1)
    fleet.serving("a")
    fleet.serving("b")
    _refused_for(fleet, "a", WEBHOOK_DOWN)
    _edit_resources(fleet, "a", "2")
    _edit_resources(fleet, "b", "2")
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 1
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"
    events = [e.reason for e in fleet.tick("a", 5).events]  # its retry fails the same
    assert fleet.condition("a")["reason"] == "ApplyFailed"
    assert key("b") in fleet.woken and fleet.rolls.rolling() == 0  # the slot kept for b
    fleet.tick("b", 1)
    assert fleet.condition("b")["message"] == (f"SeldonDeployment b applied: v1 100%; "
                                               f"{cond.SPEC_EDIT_ROLLING}")
    fleet.seldon("b")  # b's new pods serve
    fleet.tick("b", 1)
    assert _phase(fleet, "b") == ("Healthy", SERVES)
    for _ in range(int(ROLL_TIMEOUT.total_seconds() // 60) * 2):  # the webhook down for long
        events += [e.reason for e in fleet.tick("a", 60).events]
        assert fleet.condition("a")["reason"] == "ApplyFailed"
    assert "RollTimedOut" not in events and fleet.timed_out == []
    assert "did not serve" not in fleet.condition("a")["message"]


def test_an_apply_lost_that_landed_and_rolled_before_the_next_pass_frees_its_slot_quietly(
        ) -> None:
    """The answer lost, the apply saved, and Seldon done rolling before the next pass read the
    graph (a 504 comes only at the request's 60 s timeout): the status read is Seldon's last,
    taken as written before the apply, so the edit reads rolling until the roll timeout (the
    residual docs/lifecycle.md states), which then frees the slot quietly, a roll the operator
    cannot tell it started: no ``RollTimedOut``, nothing counted, and the edit reads rolled.
    Before: a ``RollTimedOut`` asking whether Seldon's controller runs, and a count."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    _saved_then_lost(fleet, KubeError("apply seldondeployments/a: 504 Timeout", 504))
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed"
    fleet.seldon("a")  # the new pods rolled, all available, before the next pass
    events = [e.reason for e in fleet.tick("a", 60).events]
    assert _phase(fleet, "a") == _rolling(fleet, "a")
    for _ in range(int(ROLL_TIMEOUT.total_seconds() // 60)):
        events += [e.reason for e in fleet.tick("a", 60).events]
    assert fleet.rolls.rolling() == 0
    assert "RollTimedOut" not in events and fleet.timed_out == []
    assert _phase(fleet, "a") == ("Healthy", SERVES)


def test_an_apply_lost_then_refused_gives_its_slot_back() -> None:
    """The answer lost (a 503), then the retry refused (a 4xx) with the graph read not as
    decided: neither apply was saved, nothing rolls, the slot kept for the first is freed."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    fleet.cluster.apply_error = KubeError("apply seldondeployments/a: 503 Service Unavailable",
                                          503)
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 1
    fleet.cluster.apply_error = KubeError("admission webhook denied the request", 400)
    fleet.tick("a", 5)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 0


def test_an_apply_lost_that_landed_and_whose_pods_never_serve_times_out_and_degrades() -> None:
    """The answer lost, the apply saved: the next pass confirms it from the graph read, then
    Seldon writes on the graph (its pods rolling, a surge pod never available). That write is
    the apply's roll, which the timeout tells (``RollTimedOut``), and the phase turns Degraded
    past the grace. Before: ``doubted`` outlived Seldon's write, so the timeout freed the slot
    quietly and the status kept saying the edit rolls: Progressing for good."""
    fleet = Fleet(["a"], limit=1)
    fleet.serving("a")
    _edit_resources(fleet, "a", "2")
    _saved_then_lost(fleet, KubeError("apply seldondeployments/a: 504 Timeout", 504))
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed"
    fleet.tick("a", 5)  # the graph as decided: the apply landed (confirmed from the read)
    fleet.tick("a", 5)
    assert _phase(fleet, "a") == _rolling(fleet, "a") and fleet.rolls.rolling() == 1
    _pods_roll(fleet, "a")  # Seldon writes: a surge pod that never becomes available
    events: list[str] = []
    for _ in range(60):
        events += [e.reason for e in fleet.tick("a", 60).events]
    assert events.count("RollTimedOut") == 1 and fleet.timed_out == [key("a")]
    applied = fleet.condition("a")
    assert (applied["status"], applied["reason"]) == ("False", "RollTimedOut")
    assert fleet.bodies["a"]["status"]["phase"] == "Degraded"
    assert fleet.rolls.rolling() == 0


def test_an_apply_lost_that_landed_then_a_409_over_a_stale_read_keeps_its_slot() -> None:
    """The answer lost (status 0), the apply saved; the next pass reads the graph from a watch
    store not yet past the apply (the graph before it), so its apply, preconditioned on that
    resourceVersion, is refused with a 409, precisely because the lost one landed. The slot is
    kept: the pass reads the graph again, and the next one confirms the roll, which holds the
    slot until Seldon reports the new pods serving. Before: any 4xx freed the unconfirmed slot,
    the next pass found the graph as decided with no roll held (Healthy, before a new pod ran)
    and the model queued behind rolled too, over the limit."""
    fleet = Fleet(["a", "b"], limit=1)
    fleet.serving("a")
    fleet.serving("b")
    graph = (*SELDON, "a")
    before = copy.deepcopy(fleet.cluster.objects[graph])
    _edit_resources(fleet, "a", "2")
    _saved_then_lost(fleet, KubeError(
        "apply seldondeployments/a: API server not reached (connection lost)", 0))
    fleet.tick("a", 1)
    assert fleet.condition("a")["reason"] == "ApplyFailed" and fleet.rolls.rolling() == 1
    real_get, real_apply = fleet.cluster.get, fleet.cluster.apply

    def stale_get(api_version: str, plural: str, namespace: str,
                  name: str) -> dict[str, Any] | None:
        if name == "a":
            del fleet.cluster.get  # once: the store catches up
            return copy.deepcopy(before)
        return real_get(api_version, plural, namespace, name)

    def conflicting(manifest: Any, plural: str) -> dict[str, Any]:
        if manifest["metadata"]["name"] == "a":
            assert manifest["metadata"]["resourceVersion"] == before["metadata"][
                "resourceVersion"]
            del fleet.cluster.apply
            raise KubeError("apply seldondeployments/a: 409 Conflict: the object has been "
                            "modified", 409)
        return real_apply(manifest, plural)

    fleet.cluster.get = stale_get  # type: ignore[method-assign]
    fleet.cluster.apply = conflicting  # type: ignore[method-assign]
    fleet.tick("a", 5)
    assert fleet.rolls.rolling() == 1  # before: 0, the slot freed
    fleet.tick("a", 1)  # the graph as decided: the roll confirmed, the slot still held
    assert fleet.rolls.rolling() == 1
    assert _phase(fleet, "a") == _rolling(fleet, "a")  # before: Healthy
    _edit_resources(fleet, "b", "2")
    fleet.tick("b", 1)
    assert fleet.condition("b")["reason"] == "RollQueued"  # the limit holds
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert fleet.rolls.rolling() == 0 and _phase(fleet, "a") == ("Healthy", SERVES)
