"""A re-render whose new pods never become ready (an image that does not pull) says so in the
status, not only in one event: ``ServingApplied`` False, reason ``RollTimedOut``, from the roll
timeout on, and the phase is Degraded past the grace (``domain.stuck``), so Argo CD no longer
shows Synced and Healthy for a spec that never took effect.

Before: the timeout emitted a Warning ``RollTimedOut`` event and counted a metric, and nothing
else. Seldon's Deployments keep their old pods while the new ones do not start (``maxSurge``
25 %, ``maxUnavailable`` 0), so the stable version served on, ``ServingApplied`` stayed True
(``Applied``) and the phase Healthy for as long as the spec was there.

The condition stays while the graph is not rolled (whatever the passes in between apply: a
step, a canary's start), and clears when the graph serves rolled, or when a new roll starts (a
fixed ``spec.serving``: its own timeout counts anew).

A spec edit's roll is Progressing until then (``domain.stuck.spec_edit_rolling``: its message
ends with ``cond.SPEC_EDIT_ROLLING``), within the timeout and within the grace after it, not
Healthy; an operator re-render's (no edit asked for it) reads the ramp's phase within the grace,
as before. Both are Degraded past the grace.
"""

from __future__ import annotations

import datetime as dt

from tests.unit.services.test_graph_rolls import SELDON, Fleet

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.stuck import DEFAULT_GRACE
from uplift_operator.services.rolls import ROLL_TIMEOUT, Rolls


def _stuck(fleet: Fleet, name: str) -> None:
    """Seldon reports the graph's roll stuck: each Deployment runs its old pod, available, and
    a surge pod that never becomes ready (ImagePullBackOff); ``Creating``."""
    key_ = (*SELDON, name)
    status = seldon_status(fleet.cluster.objects[key_], "Creating")
    for entry in status["deploymentStatus"].values():
        entry.update(replicas=entry["replicas"] + 1, availableReplicas=entry["replicas"])
    fleet.cluster.objects[key_]["status"] = status
    fleet.cluster.moved(key_)


def _edit_image(fleet: Fleet, name: str, image: str) -> None:
    body = fleet.bodies[name]
    body["spec"]["serving"] = {"runtimeImage": image}
    body["metadata"]["generation"] += 1


def _timed_out(name: str = "a") -> Fleet:
    """Model ``name`` serving on runtime:1; its spec.serving edited to an image that does not
    pull; the roll stuck until its timeout."""
    fleet = Fleet([name], limit=5)
    fleet.serving(name)
    _edit_image(fleet, name, "runtime:typo")
    fleet.tick(name, 1)
    assert fleet.images(name) == {"runtime:typo"}
    applied_at = fleet.now
    _stuck(fleet, name)
    fleet.tick(name, 60)
    # The old pods serve meanwhile, but the edit has not taken effect: Progressing (before:
    # Healthy, "version 1 serves all traffic", for the 10 minutes of the timeout).
    assert fleet.bodies[name]["status"]["phase"] == "Progressing"
    applied = fleet.condition(name)
    assert applied["reason"] == "Applied"  # within the timeout: no problem to say
    assert applied["message"].endswith(cond.SPEC_EDIT_ROLLING)
    fleet.now = applied_at + ROLL_TIMEOUT
    told = fleet.tick(name)
    assert [e.reason for e in told.events] == ["RollTimedOut"]
    return fleet


def _reasons(fleet: Fleet, name: str = "a") -> tuple[str, str]:
    applied = fleet.condition(name)
    return applied["status"], applied["reason"]


def test_a_roll_that_never_serves_is_said_in_serving_applied_and_degrades_past_the_grace(
        ) -> None:
    fleet = _timed_out()
    applied = fleet.condition("a")
    assert _reasons(fleet) == ("False", "RollTimedOut")
    assert applied["message"].startswith("SeldonDeployment a: the serving graph did not serve")
    assert "2 pods, 1 wanted (old pods not replaced yet)" in applied["message"]  # which ones
    assert applied["message"].endswith(f"; {cond.SPEC_EDIT_ROLLING}")  # an edit's roll
    since = applied["lastTransitionTime"]
    # Within the grace: still Progressing, naming the roll that did not serve (a spec edit's:
    # not the ramp's Healthy, which a pipeline waiting for Healthy would take for done), the
    # pass due at its end.
    result = fleet.tick("a", 60)
    assert fleet.bodies["a"]["status"]["phase"] == "Progressing"
    assert fleet.bodies["a"]["status"]["message"] == (
        f"ServingApplied False (RollTimedOut): {applied['message']}; version 1 serves all "
        "traffic")
    assert result.requeue_after is not None
    assert result.requeue_after <= (DEFAULT_GRACE - dt.timedelta(seconds=60)).total_seconds()
    fleet.now += DEFAULT_GRACE
    fleet.tick("a")
    status = fleet.bodies["a"]["status"]
    assert status["phase"] == "Degraded"
    assert status["message"].startswith(f"ServingApplied False (RollTimedOut) since {since[:19]}")
    assert status["message"].endswith("version 1 serves all traffic")
    assert fleet.condition("a")["lastTransitionTime"] == since  # the passes keep it as it is
    assert "RollTimedOut" not in [e.reason for e in fleet.tick("a", 60).events]  # said once


def test_it_clears_when_the_graph_serves_rolled_at_last() -> None:
    fleet = _timed_out()
    fleet.tick("a", 60)
    fleet.seldon("a")  # the image pulled after all: as many pods as wanted, all available
    fleet.tick("a", 1)
    applied = fleet.condition("a")
    assert _reasons(fleet) == ("True", "Applied")
    assert applied["message"] == "SeldonDeployment a serves v1 100%"
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"


def test_a_fixed_spec_starts_a_new_roll_and_clears_it() -> None:
    fleet = _timed_out()
    fleet.now += DEFAULT_GRACE
    fleet.tick("a")
    assert fleet.bodies["a"]["status"]["phase"] == "Degraded"
    _edit_image(fleet, "a", "runtime:1")
    fleet.tick("a", 1)
    assert _reasons(fleet) == ("True", "Applied") and fleet.images("a") == {"runtime:1"}
    # The fix is an edit too: Progressing while its roll is under way (before: Healthy at once).
    assert fleet.bodies["a"]["status"]["phase"] == "Progressing"
    assert fleet.rolls.rolling() == 1  # the new roll, timed anew
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert _reasons(fleet) == ("True", "Applied") and fleet.rolls.rolling() == 0
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"


def test_a_spec_edit_that_renders_nothing_new_leaves_it() -> None:
    fleet = _timed_out()
    body = fleet.bodies["a"]
    body["spec"]["rollout"]["analysisInterval"] = "2m"
    body["metadata"]["generation"] += 1
    fleet.tick("a", 1)
    applied = fleet.condition("a")
    assert _reasons(fleet) == ("False", "RollTimedOut")
    assert applied["observedGeneration"] == body["metadata"]["generation"]


def test_a_canary_started_over_the_stuck_roll_keeps_it() -> None:
    # The canary's start applies the graph (the split changes), and its rendering is the
    # spec's, so the stable's Deployment is not touched again: still stuck, still said.
    fleet = _timed_out()
    fleet.registry.aliases[("hillstrom", "champion-a")] = "2"
    fleet.tick("a", 31)  # the alias read again (aliasRefreshInterval 30s)
    assert set(fleet.weights("a")) == {"1", "2"}
    assert _reasons(fleet) == ("False", "RollTimedOut")


def test_an_operator_restart_keeps_it() -> None:
    fleet = _timed_out()
    fleet.rolls = fleet.deps.rolls = Rolls(5)  # a new process: the graph found rolling
    counted: list[tuple[str, str, str]] = []
    fleet.rolls.on_timeout.append(counted.append)
    fleet.tick("a", 1)
    assert _reasons(fleet) == ("False", "RollTimedOut") and fleet.rolls.rolling() == 1
    fleet.now += ROLL_TIMEOUT  # its found roll frees quietly: nothing new to say
    result = fleet.tick("a")
    assert "RollTimedOut" not in [e.reason for e in result.events] and counted == []
    assert fleet.rolls.rolling() == 0
    assert _reasons(fleet) == ("False", "RollTimedOut")  # the status still says it
    fleet.seldon("a")
    fleet.tick("a", 1)
    assert _reasons(fleet) == ("True", "Applied")


def test_a_re_render_no_edit_asked_for_that_times_out_reads_the_ramps_phase_in_the_grace(
        ) -> None:
    """An operator release's re-render (no spec edit) whose pods never serve: the spec took
    effect, so no Progressing while it rolls nor after its timeout; Degraded past the grace."""
    fleet = Fleet(["a"], limit=5)
    fleet.serving("a")
    fleet.deps.runtime_image = "runtime:typo"
    fleet.tick("a", 1)
    applied_at = fleet.now
    _stuck(fleet, "a")
    fleet.tick("a", 60)
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"
    fleet.now = applied_at + ROLL_TIMEOUT
    fleet.tick("a")
    assert _reasons(fleet) == ("False", "RollTimedOut")
    assert cond.SPEC_EDIT_ROLLING not in fleet.condition("a")["message"]
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"
    fleet.now += DEFAULT_GRACE
    fleet.tick("a")
    assert fleet.bodies["a"]["status"]["phase"] == "Degraded"


def test_a_replicas_decrease_seldon_never_applies_degrades_nothing() -> None:
    """A replicas-only edit (4 → 3): Seldon applies replicas only with a pod-template change, so
    the Deployment runs its 4 pods on, all available, for good. That roll ends its slot at the
    timeout (one event), but nothing fails: ServingApplied stays True, the model Healthy. Before,
    the 4-of-3 read as a surge never done held RollTimedOut, and the model Degraded, for good."""
    fleet = Fleet(["a"], limit=5)
    fleet.bodies["a"]["spec"]["serving"] = {"replicas": 4}
    fleet.serving("a")
    fleet.bodies["a"]["spec"]["serving"] = {"replicas": 3}
    fleet.bodies["a"]["metadata"]["generation"] += 1
    fleet.tick("a", 1)
    applied_at = fleet.now
    key = (*SELDON, "a")
    status = seldon_status(fleet.cluster.objects[key], "Available")
    for entry in status["deploymentStatus"].values():
        entry.update(replicas=4, availableReplicas=4)
    fleet.cluster.objects[key]["status"] = status
    fleet.cluster.moved(key)
    fleet.tick("a", 30)
    fleet.now = applied_at + ROLL_TIMEOUT
    told = fleet.tick("a")
    assert [e.reason for e in told.events] == ["RollTimedOut"]  # the slot's end, told once
    fleet.now += DEFAULT_GRACE
    for _ in range(3):
        fleet.tick("a", 600)
    assert (fleet.condition("a")["status"], fleet.condition("a")["reason"]) == ("True", "Applied")
    assert fleet.bodies["a"]["status"]["phase"] == "Healthy"
