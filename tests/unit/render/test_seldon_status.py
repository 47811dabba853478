"""Reading a SeldonDeployment's status as Seldon Core 1.17.1 writes it, stale or not.

Seldon writes ``state`` for the graph it last reconciled and never ``observedGeneration``; the
operator's own apply wakes its next pass before Seldon has reconciled the new graph. A version is
ready only when its predictor's Deployment is available in ``deploymentStatus`` too
(``render.seldon`` module docstring, docs/dataplane.md "Reading a SeldonDeployment's status").
"""

from __future__ import annotations

from typing import Any

import pytest

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend, deployment_names, stale_generation
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000002")
RUNTIME = RuntimeSettings(image="runtime:1", registered_model="hillstrom",
                          tracking_uri="http://mlflow:5000", replicas=2)
BACKEND = SeldonV1Backend()


def graph(split: TrafficSplit, generation: int = 2) -> dict[str, Any]:
    child = BACKEND.render(OWNER, RUNTIME, split)
    child["metadata"]["generation"] = generation
    return child


def test_the_stand_in_writes_what_seldon_writes() -> None:
    """No observedGeneration (Seldon never sets it); one deploymentStatus entry per predictor's
    Deployment, keyed by the name Seldon gives it, holding replicas and availableReplicas only
    (``omitempty``: none available, no field); ``address.url`` at the first predictor's
    Service, on the v2 protocol's path."""
    child = graph(TrafficSplit("3", "4", 10))
    stable, canary = child["spec"]["predictors"]
    available = seldon_status(child)
    assert "observedGeneration" not in available and "description" not in available
    assert available["state"] == "Available" and available["replicas"] == 2
    assert available["deploymentStatus"] == {
        deployment_names("uplift", stable)[0]: {"replicas": 2, "availableReplicas": 2},
        deployment_names("uplift", canary)[0]: {"replicas": 2, "availableReplicas": 2}}
    assert available["address"] == {
        "url": "http://uplift-v3.growth.svc.cluster.local:8000/v2/models/uplift/infer"}
    creating = seldon_status(child, "Creating")
    assert all(d == {"replicas": 2} for d in creating["deploymentStatus"].values())
    failed = seldon_status(child, "Failed", "Deployment is no longer progressing and not available.")
    assert failed["description"].startswith("Deployment is no longer progressing")


def test_available_for_this_graph_makes_every_version_ready() -> None:
    child = graph(TrafficSplit("3", "4", 10))
    child["status"] = seldon_status(child)
    state = BACKEND.observe(child, TrafficSplit("3", "4", 10))
    assert state.ready and state.ready_versions == {"3", "4"} == state.serving_versions
    assert state.message == "SeldonDeployment Available"


def test_a_stale_available_gives_a_canary_just_added_no_readiness() -> None:
    """Reviewer's finding 3, canary: the graph now has the canary's predictor, the status is
    still the Available Seldon wrote for the stable alone (no Deployment for the canary yet).
    The canary is not ready; the stable still serves."""
    before = graph(TrafficSplit("1"), generation=1)
    child = graph(TrafficSplit("1", "2", 0), generation=2)
    child["status"] = seldon_status(before)
    state = BACKEND.observe(child, TrafficSplit("1", "2", 0))
    assert not state.ready and state.ready_versions == frozenset()
    assert state.serving_versions == {"1"} and not state.failed
    assert state.message == ("SeldonDeployment Available for an earlier graph: "
                             "no available Deployment for version 2 yet")


def test_a_stale_available_does_not_restore_a_version_whose_pods_are_gone() -> None:
    """Reviewer's finding 3, emergency restore: 1's predictor left at 2's promotion and is
    added back ({1: 0, 2: 100}); the status is still 2's Available. 1 is not ready (the
    restore waits), 2 serves."""
    before = graph(TrafficSplit("2"), generation=5)
    child = graph(TrafficSplit("1", "2", 100), generation=6)
    child["status"] = seldon_status(before)
    state = BACKEND.observe(child, TrafficSplit("1", "2", 100))
    assert not state.ready and "1" not in state.ready_versions
    assert state.serving_versions == {"2"}


def test_a_deployment_without_available_replicas_is_not_ready_under_available() -> None:
    """``availableReplicas`` is ``omitempty``: an entry without it has none available."""
    child = graph(TrafficSplit("3", "4", 10))
    child["status"] = seldon_status(child)
    canary = deployment_names("uplift", child["spec"]["predictors"][1])[0]
    child["status"]["deploymentStatus"][canary] = {"replicas": 2}
    state = BACKEND.observe(child, TrafficSplit("3", "4", 10))
    assert not state.ready and state.serving_versions == {"3"}


@pytest.mark.parametrize(("observed", "ready"), [
    (None, True),  # Seldon Core 1.17.1: never written, no reason to wait
    (2, True),     # written, for this generation
    (1, False),    # written, for an older one: nothing in it is ready yet
])
def test_observed_generation_is_honoured_only_when_present(observed: int | None,
                                                           ready: bool) -> None:
    child = graph(TrafficSplit("3", "4", 10), generation=2)
    child["status"] = seldon_status(child)
    if observed is not None:
        child["status"]["observedGeneration"] = observed
    state = BACKEND.observe(child, TrafficSplit("3", "4", 10))
    assert state.ready is ready
    assert state.ready_versions == ({"3", "4"} if ready else frozenset())
    assert stale_generation(child) == (None if ready else (1, 2))
    if not ready:
        assert state.message == "SeldonDeployment status is for generation 1, not 2 yet"
