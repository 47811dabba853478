"""A change of the split changes only traffic: every predictor that stays keeps its pod template.

Seldon Core 1.17.1 rolls a Deployment's pods when its pod template changes (``createDeployments``
compares ``Spec.Template.Spec``), and a predictor's annotations are in it: the executor's
``ENGINE_PREDICTOR`` is the whole predictor but ``traffic`` and ``replicas``
(``createEngineContainer``), and ``createDeploymentWithoutEngine`` copies them into the pod
template's annotations. So the versions' roles are said on the SeldonDeployment itself
(``ROLES_ANNOTATION``), which Seldon copies onto no Deployment, not on the predictors: a
promotion (canary → stable) no longer restarts every pod of the version it promotes, just as
that version takes all the traffic. ``pod_templates`` is the Seldon stand-in's model of what
goes into each Deployment's pod template."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from uplift_operator.devenv.seldon_standin import pod_templates
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import (
    PREDICTOR_ROLE_ANNOTATION,
    ROLES_ANNOTATION,
    SeldonV1Backend,
    version_roles,
)
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

OWNER = Owner(name="uplift", namespace="growth", uid="0b9e6c7e-0000-4000-8000-000000000007")
RUNTIME = RuntimeSettings(image="runtime:1", registered_model="hillstrom",
                          tracking_uri="http://mlflow:5000", replicas=2,
                          report_token=("report-senders", "token"))
BACKEND = SeldonV1Backend()


def render(split: TrafficSplit) -> dict[str, Any]:
    return BACKEND.render(OWNER, RUNTIME, split)


def legacy(child: dict[str, Any]) -> dict[str, Any]:
    """``child`` as operators before the roles annotation rendered it: each version's role on
    its predictor."""
    child = copy.deepcopy(child)
    roles = version_roles(child)
    del child["metadata"]["annotations"][ROLES_ANNOTATION]
    for predictor in child["spec"]["predictors"]:
        annotations = predictor["annotations"]
        annotations[PREDICTOR_ROLE_ANNOTATION] = roles[annotations["version"]]
    return child


def kept(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The Deployments in both graphs whose pod template differs: (before, after)."""
    old, new = pod_templates(before), pod_templates(after)
    return {d: (old[d], new[d]) for d in old.keys() & new.keys() if old[d] != new[d]}


@pytest.mark.parametrize("weight", [0, 10, 50, 100])
def test_a_promotion_leaves_the_promoted_versions_pod_template_as_it_was(weight: int) -> None:
    before, after = render(TrafficSplit("1", "2", weight)), render(TrafficSplit("2"))
    assert version_roles(before) == {"1": "stable", "2": "canary"}
    assert version_roles(after) == {"2": "stable"}
    assert len(pod_templates(after)) == 1 and set(pod_templates(after)) <= set(
        pod_templates(before))
    assert kept(before, after) == {}


def test_before_a_promotion_changed_the_promoted_versions_pod_template() -> None:
    """The defect, on graphs in the earlier form (and the one roll such a graph takes when it
    is first applied in the new form: its predictors' annotations change)."""
    before, after = render(TrafficSplit("1", "2", 100)), render(TrafficSplit("2"))
    assert set(kept(legacy(before), legacy(after))) == set(pod_templates(after))
    assert set(kept(legacy(before), before)) == set(pod_templates(before))


SPLITS = [TrafficSplit(stable, canary, weight if canary else 0)
          for stable, canary in itertools.permutations(["1", "2", "3", None], 2) if stable
          for weight in ((0, 10, 100) if canary else (0,))]


def test_no_change_of_the_split_changes_a_remaining_predictors_pod_template() -> None:
    """Every pair of splits over three versions (a canary's start, a step, an abort, a
    rollback, a promotion, an emergency rollback, a new canary replacing one)."""
    assert len(SPLITS) == 21
    graphs = [render(split) for split in SPLITS]
    for before, after in itertools.product(graphs, repeat=2):
        assert kept(before, after) == {}


def test_the_roles_are_on_the_object_where_seldon_copies_them_onto_no_pod() -> None:
    child = render(TrafficSplit("3", "4", 25))
    assert json.loads(child["metadata"]["annotations"][ROLES_ANNOTATION]) == {
        "stable": "3", "canary": "4"}
    assert "annotations" not in child["spec"]  # spec.annotations: Seldon copies onto every pod
    for predictor in child["spec"]["predictors"]:
        # the executor's predictor_version metric label; never changes for a version
        assert predictor["annotations"] == {"version": predictor["name"][1:]}


def test_the_roles_are_read_from_either_form() -> None:
    child = render(TrafficSplit("3", "4", 25))
    assert version_roles(child) == {"3": "stable", "4": "canary"}
    assert version_roles(legacy(child)) == {"3": "stable", "4": "canary"}
    assert version_roles(render(TrafficSplit("3"))) == {"3": "stable"}
    assert version_roles(None) == {} and version_roles({}) == {}


def test_the_objects_roles_win_and_name_only_versions_the_graph_has() -> None:
    both = legacy(render(TrafficSplit("3", "4", 25)))  # roles on the predictors as before...
    both["metadata"]["annotations"][ROLES_ANNOTATION] = json.dumps(
        {"stable": "4", "canary": "9"})  # ...and on the object, which says otherwise
    assert version_roles(both) == {"4": "stable"}


@pytest.mark.parametrize("raw", ["", "not json", "[]", "null", '"stable"'])
def test_a_roles_annotation_that_does_not_parse_falls_back_to_the_predictors(raw: str) -> None:
    child = legacy(render(TrafficSplit("3", "4", 25)))
    child["metadata"]["annotations"][ROLES_ANNOTATION] = raw
    assert version_roles(child) == {"3": "stable", "4": "canary"}


def test_unknown_roles_and_values_are_not_read() -> None:
    child = render(TrafficSplit("3", "4", 25))
    child["metadata"]["annotations"][ROLES_ANNOTATION] = json.dumps(
        {"stable": 3, "canary": "4", "shadow": "3"})
    assert version_roles(child) == {"4": "canary"}
    old = legacy(render(TrafficSplit("3", "4", 25)))
    old["spec"]["predictors"][1]["annotations"][PREDICTOR_ROLE_ANNOTATION] = "retired"
    assert version_roles(old) == {"3": "stable"}
