"""What Seldon Core 1.17.1 writes while a predictor's Deployment rolls, and how it is read.

Seldon counts a Deployment ready when ``readyReplicas > 0`` and ``unavailableReplicas == 0``
(``operator/controllers/seldondeployment_controller.go`` ``createDeployments``), and
Kubernetes' ``unavailableReplicas`` is what the ReplicaSets *want* less what is available
(``pkg/controller/deployment/sync.go`` ``calculateStatus``). With Seldon's ``maxSurge`` 25 %,
``maxUnavailable`` 0, a 2-replica predictor's image change therefore reads, write by write:

1. the reconcile that updates the Deployment: ``Creating``, its entry as it was (``{2, 2}``);
2. the surge pod starting: ``Creating``, ``{3, 2}``;
3. the surge pod available, one old pod scaled down but not gone: ``Available``, ``{3, 3}``;
4. the next new pod starting: ``Creating``, ``{2, 2}`` (1 old + 1 new counted, 3 wanted);
5. the last old pod scaled down, not gone: ``Available``, ``{3, 3}``;
6. done: ``Available``, ``{2, 2}``.

Writes 3 and 5 are ``Available`` mid-rollout. Every pod counted then is available, so the
version is *ready* (it serves: ``observe``), but the graph has not finished rolling
(``rolling_deployments``), which is what a re-render's slot waits for (``services.rolls``).
"""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import (
    REPLICAS_ENV,
    SeldonV1Backend,
    deployment_names,
    rolling_deployments,
    short_deployments,
    unavailable_deployments,
)
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000003")
BACKEND = SeldonV1Backend()


def graph(split: TrafficSplit, replicas: int = 2, image: str = "runtime:2") -> dict[str, Any]:
    runtime = RuntimeSettings(image=image, registered_model="hillstrom",
                              tracking_uri="http://mlflow:5000", replicas=replicas)
    child = BACKEND.render(OWNER, runtime, split)
    child["metadata"]["generation"] = 3
    return child


def written(child: dict[str, Any], state: str,
            *entries: dict[str, int] | None) -> dict[str, Any]:
    """``child`` with the status Seldon writes: ``state`` and, per predictor in order, its
    Deployment's entry (None: none yet), as ``createDeployments`` copies it."""
    status = seldon_status(child, state)
    status["deploymentStatus"] = {
        deployment_names("uplift", p)[0]: entry
        for p, entry in zip(child["spec"]["predictors"], entries, strict=True) if entry is not None}
    return {**child, "status": status}


def entry(replicas: int, available: int) -> dict[str, int]:
    """A ``deploymentStatus`` entry as Seldon writes it (``omitempty``: a zero left out)."""
    return {k: v for k, v in (("replicas", replicas), ("availableReplicas", available)) if v}


STABLE = TrafficSplit("3")
SEQUENCE = [  # (state, the entry, ready, rolling) for writes 1-6 of the module docstring
    ("Creating", entry(2, 2), False, ()),
    ("Creating", entry(3, 2), False, ("3 pods, 2 wanted",)),
    ("Available", entry(3, 3), True, ("3 pods, 2 wanted",)),
    ("Creating", entry(2, 2), False, ()),
    ("Available", entry(3, 3), True, ("3 pods, 2 wanted",)),
    ("Available", entry(2, 2), True, ()),
]


@pytest.mark.parametrize(("state", "numbers", "ready", "rolling"), SEQUENCE,
                         ids=[f"write-{i + 1}" for i in range(len(SEQUENCE))])
def test_an_image_change_read_write_by_write(state: str, numbers: dict[str, int], ready: bool,
                                             rolling: tuple[str, ...]) -> None:
    child = written(graph(STABLE), state, numbers)
    serving = BACKEND.observe(child, STABLE)
    assert serving.ready is ready
    assert serving.ready_versions == ({"3"} if ready else frozenset())
    assert serving.serving_versions == {"3"}  # its pods serve throughout (maxUnavailable 0)
    assert serving.message == f"SeldonDeployment {state}"
    name = deployment_names("uplift", child["spec"]["predictors"][0])[0]
    assert [r.removeprefix(f"{name}: ") for r in rolling_deployments(child)] == [
        f"{r} (old pods not replaced yet)" for r in rolling]


def test_mid_surge_available_is_ready_but_not_rolled_and_the_finished_one_is_both() -> None:
    """The pin: Seldon's ``Available`` with ``{replicas: 3, availableReplicas: 3}`` for a
    2-replica predictor serves (every pod counted is available) and is still rolling; the
    same state with ``{2, 2}`` is done."""
    mid = written(graph(STABLE), "Available", {"replicas": 3, "availableReplicas": 3})
    done = written(graph(STABLE), "Available", {"replicas": 2, "availableReplicas": 2})
    assert BACKEND.observe(mid, STABLE).ready and BACKEND.observe(done, STABLE).ready
    name = deployment_names("uplift", mid["spec"]["predictors"][0])[0]
    assert rolling_deployments(mid) == (f"{name}: 3 pods, 2 wanted (old pods not replaced yet)",)
    assert rolling_deployments(done) == ()


def test_one_predictor_rolling_holds_the_graph_and_is_named() -> None:
    split = TrafficSplit("3", "4", 10)
    child = written(graph(split), "Available", entry(2, 2), entry(3, 3))
    stable, canary = (deployment_names("uplift", p)[0] for p in child["spec"]["predictors"])
    assert BACKEND.observe(child, split).ready_versions == {"3", "4"}
    assert rolling_deployments(child) == (
        f"{canary}: 3 pods, 2 wanted (old pods not replaced yet)",)
    assert stable not in rolling_deployments(child)[0]


def test_a_predictor_just_added_has_no_entry_yet_and_is_rolling() -> None:
    """The pass woken by the operator's own apply reads the status Seldon wrote for the graph
    before: Available, no entry for the canary's Deployment. Not ready, and rolling."""
    split = TrafficSplit("3", "4", 0)
    child = written(graph(split), "Available", entry(2, 2), None)
    canary = deployment_names("uplift", child["spec"]["predictors"][1])[0]
    assert not BACKEND.observe(child, split).ready
    assert rolling_deployments(child) == (f"{canary}: no status from Seldon yet",)


def test_pods_not_all_available_are_rolling_whatever_the_state_says() -> None:
    child = written(graph(STABLE), "Available", entry(2, 1))
    name = deployment_names("uplift", child["spec"]["predictors"][0])[0]
    assert rolling_deployments(child) == (f"{name}: 1 of 2 pods available",)
    none = written(graph(STABLE), "Creating", entry(2, 0))
    assert none["status"]["deploymentStatus"][name] == {"replicas": 2}  # omitempty
    assert rolling_deployments(none) == (f"{name}: 0 of 2 pods available",)


def test_a_replicas_edit_seldon_did_not_apply() -> None:
    """A count Seldon has not applied yet (or a Deployment scaled down by hand, which Seldon
    restores only if and when it rewrites the spec) leaves fewer pods than wanted running, all
    available. That
    is rolling and short of the spec, "N of M replicas"; the graph is not ready, its version
    still serving (degraded capacity, not an outage). More than wanted, within a surge, reads
    as a surge would; more than a surge adds is not rolling."""
    up = written(graph(STABLE, replicas=3), "Available", entry(1, 1))
    down = written(graph(STABLE, replicas=1), "Available", entry(2, 2))
    far_down = written(graph(STABLE, replicas=1), "Available", entry(3, 3))
    assert rolling_deployments(far_down) == ()
    assert rolling_deployments(up) == ("uplift-v3-0-uplift: 1 of 3 replicas available",)
    assert unavailable_deployments(up) == rolling_deployments(up)
    assert rolling_deployments(down) and "2 pods, 1 wanted" in rolling_deployments(down)[0]
    assert unavailable_deployments(down) == ()
    assert all(BACKEND.observe(c, STABLE).ready for c in (down, far_down))
    short = BACKEND.observe(up, STABLE)
    assert not short.ready and not short.failed and short.ready_versions == frozenset()
    assert short.serving_versions == {"3"}  # it serves: the stable is not down
    assert short.message == ("SeldonDeployment Available with fewer replicas than wanted: "
                             "uplift-v3-0-uplift: 1 of 3 replicas available")
    # Seldon's count, once applied and the pods available, is ready again.
    assert BACKEND.observe(written(graph(STABLE, replicas=3), "Available", entry(3, 3)),
                           STABLE).ready


def test_a_replicas_change_changes_the_pod_spec_seldon_compares() -> None:
    """Seldon compares only ``Spec.Template.Spec`` (and the executor's ``ENGINE_PREDICTOR``
    has the predictor's ``replicas`` at 0): whether it applies ``replicas`` alone depends on
    the API server defaults it fills before comparing, so the count is in the runtime
    container's environment too, and a replicas-only edit reaches the Deployment either way. A
    predictor of one replica carries it too: a decrease to 1 an earlier operator rendered
    without it is applied at the upgrade's re-render, which rolls every graph anyway."""
    def pod(replicas: int) -> dict[str, Any]:
        spec: dict[str, Any] = graph(STABLE, replicas=replicas)["spec"]["predictors"][0][
            "componentSpecs"][0]["spec"]
        return spec

    def env(replicas: int) -> dict[str, Any]:
        return {e["name"]: e.get("value") for e in pod(replicas)["containers"][0]["env"]}

    assert pod(1) != pod(3) != pod(5) != pod(1)
    assert env(1)[REPLICAS_ENV] == "1"
    assert env(3)[REPLICAS_ENV] == "3" and env(5)[REPLICAS_ENV] == "5"
    assert BACKEND.runtime_settings(graph(STABLE, replicas=3), RuntimeSettings(
        image="x", registered_model="x", tracking_uri="x")).replicas == 3  # type: ignore[union-attr]


def test_a_version_short_of_its_replicas_beside_a_canary() -> None:
    """Each Deployment is judged on its own: a canary short of its count holds the graph's
    readiness (its step waits), and both versions still serve."""
    split = TrafficSplit("3", "4", 10)
    child = written(graph(split, replicas=4), "Available", entry(4, 4), entry(2, 2))
    state = BACKEND.observe(child, split)
    assert not state.ready and state.serving_versions == {"3", "4"}
    assert state.message.endswith("uplift-v4-0-uplift: 2 of 4 replicas available")
    assert short_deployments(child) == ("uplift-v4-0-uplift: 2 of 4 replicas available",)


@pytest.mark.parametrize(("wanted", "running", "rolling"), [
    (1, 2, True), (2, 3, True), (2, 4, False), (4, 5, True), (4, 6, False), (5, 7, True),
    (8, 10, True), (8, 11, False), (2, 5, False),
])
def test_more_pods_than_a_surge_adds_are_someone_elses_scaling_not_a_roll(
        wanted: int, running: int, rolling: bool) -> None:
    """Seldon's Deployments surge by 25 % of the pods wanted, rounded up; an autoscaler or a
    ``kubectl scale`` past that held every re-render's slot until the roll timeout."""
    child = written(graph(STABLE, replicas=wanted), "Available", entry(running, running))
    assert bool(rolling_deployments(child)) is rolling


@pytest.mark.parametrize(("component", "predictor", "top", "wanted"), [
    (4, 3, 2, 4),        # the component's replicas first (createComponents)
    (None, 3, 2, 3),     # then the predictor's
    (None, None, 2, 2),  # then the graph's
    (None, None, None, None),  # none: the Deployment's own default; no surge judged
])
def test_the_pods_wanted_are_taken_as_seldon_sets_them(
        component: int | None, predictor: int | None, top: int | None,
        wanted: int | None) -> None:
    child = graph(STABLE)
    p = child["spec"]["predictors"][0]
    p.pop("replicas")
    for where, value in ((p["componentSpecs"][0], component), (p, predictor),
                         (child["spec"], top)):
        if value is not None:
            where["replicas"] = value
    running = (wanted or 4) + 1  # one surge pod
    child = written(child, "Available", entry(running, running))
    if wanted is None:
        assert rolling_deployments(child) == ()
    else:
        assert f"{running} pods, {wanted} wanted" in rolling_deployments(child)[0]


def test_a_long_graph_name_is_matched_by_either_name_seldon_may_give() -> None:
    long = Owner(name="u" * 60, namespace="growth", uid=OWNER.uid)
    runtime = RuntimeSettings(image="runtime:2", registered_model="hillstrom",
                              tracking_uri="http://mlflow:5000", replicas=2)
    child = BACKEND.render(long, runtime, STABLE)
    names = deployment_names(long.name, child["spec"]["predictors"][0])
    assert len(names) == 2
    status = seldon_status(child)
    status["deploymentStatus"] = {names[1]: entry(3, 3)}  # DEPLOYMENT_NAME_AS_PREFIX
    child["status"] = status
    assert rolling_deployments(child) == (
        f"{names[1]}: 3 pods, 2 wanted (old pods not replaced yet)",)
    assert rolling_deployments(None) == ()
