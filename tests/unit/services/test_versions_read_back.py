"""A model version the operator reads back from anywhere but MLflow (which is checked:
``adapters.mlflow_registry._version``) is checked as well before it names a predictor
(``v<version>``, after which Seldon names Services and Deployments) or goes into a gate's
PromQL: the UpliftModel's own status (anyone who may patch ``upliftmodels/status``) and its
serving graph's annotations (anyone who may edit SeldonDeployments), which the split is taken
from when the status' cannot be read. Such a version is read as one that does not parse: the
status' is dropped (``StatusReadable`` False) and the split taken from the graph; the graph's
has no role, so nothing is taken from it. And each value a gate's template is filled with is
escaped for a PromQL string, a second layer. Before, any text went through (a review,
2026-12-07)."""

from __future__ import annotations

import json

import pytest
from tests.unit.services.test_unreadable_status import readable, warned
from tests.unit.services.test_upliftmodel import SELDON, Sim

from uplift_operator.domain import promql, templates
from uplift_operator.render.seldon import ROLES_ANNOTATION, SeldonV1Backend, version_roles

INJECTED = '2-api"} or vector(1) #'


def _predictors_named(sim: Sim) -> set[str]:
    return {p["name"] for p in sim.cluster.objects[SELDON]["spec"]["predictors"]}


@pytest.mark.parametrize("field", ["stableVersion", "canaryVersion"])
@pytest.mark.parametrize("version", [INJECTED, "api", "v3", "03", "0", "-1", "3 ", ""])
def test_a_split_version_edited_into_the_status_is_dropped_and_taken_from_the_graph(
        field: str, version: str) -> None:
    sim = Sim()
    sim.with_canary()
    applied = len(sim.cluster.applied)
    sim.body["status"][field] = version
    result = sim.tick(1)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "2")
    assert sim.weights() == {"1": 90, "2": 10} and _predictors_named(sim) == {"v1", "v2"}
    assert len(sim.cluster.applied) == applied
    message = readable(sim)["message"]
    expected = {"stableVersion": "1", "canaryVersion": "2"}[field]
    assert f"{field} dropped; taken from SeldonDeployment shop/uplift: {expected}" in message
    assert "not the digits of a positive integer" in message
    if version:
        assert version not in message  # not quoted: a hand edit's text may be anything
    assert warned(result) == [message]
    sim.tick(1)  # what was dropped is gone from the stored status: read in full
    assert readable(sim)["status"] == "True"


@pytest.mark.parametrize("field", ["previousStableVersion", "desiredVersion", "abortedVersion",
                                   "emergencyRolledBackVersion", "stableServedVersion"])
def test_another_version_edited_into_the_status_is_dropped(field: str) -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["status"][field] = INJECTED
    sim.tick(1)
    assert sim.status.get(field) != INJECTED
    assert f"{field} dropped (not a model version" in readable(sim)["message"]
    assert _predictors_named(sim) == {"v1", "v2"}


def test_a_version_of_digits_longer_than_this_release_allows_is_still_kept() -> None:
    """The length is the CRD's and ``status.readable``'s (a newer release's longer version is
    kept as it is): only what is not a positive integer's digits is dropped here."""
    sim = Sim()
    sim.with_canary()
    sim.body["status"]["abortedVersion"] = "9" * 17
    sim.tick(1)
    assert sim.status["abortedVersion"] == "9" * 17
    assert "abortedVersion kept as it is" in readable(sim)["message"]


def _graph(roles: dict[str, str], versions: dict[str, str | None]) -> dict[str, object]:
    return {"metadata": {"annotations": {ROLES_ANNOTATION: json.dumps(roles)}},
            "spec": {"predictors": [
                {"name": name, "traffic": 50,
                 "annotations": {"version": version, **({"uplift.dev/role": role}
                                                        if role else {})}}
                for (name, version), role in zip(
                    [(f"p{i}", v) for i, v in enumerate(versions)], versions.values(),
                    strict=True)]}}


@pytest.mark.parametrize("version", [INJECTED, "api", "03", "0", "1" * 17])
def test_a_version_edited_into_the_graph_has_no_role(version: str) -> None:
    graph = _graph({"stable": "1", "canary": version}, {"1": None, version: None})
    assert version_roles(graph) == {"1": "stable"}
    assert SeldonV1Backend().rendered_roles(graph) == {"stable": ("1", 50)}
    # An earlier operator's rendering: the roles on the predictors.
    legacy = _graph({}, {"1": "stable", version: "canary"})
    del legacy["metadata"]
    assert version_roles(legacy) == {"1": "stable"}
    assert version_roles(_graph({}, {"1": "stable", "2": "canary"}) | {"metadata": {}}) == {
        "1": "stable", "2": "canary"}


def test_a_graph_whose_stable_version_is_edited_gives_the_status_nothing() -> None:
    """The status' stable version unreadable and the graph's edited: nothing is taken from the
    graph, as from a graph without roles, and no predictor is named after the edit."""
    sim = Sim()
    sim.with_canary()
    graph = sim.cluster.objects[SELDON]
    graph["metadata"]["annotations"][ROLES_ANNOTATION] = json.dumps(
        {"stable": INJECTED, "canary": "2"})
    graph["spec"]["predictors"][0]["annotations"]["version"] = INJECTED
    sim.body["status"]["stableVersion"] = ["1"]  # nothing this release reads as a version
    sim.tick(1)
    assert f"taken from SeldonDeployment shop/uplift: {INJECTED}" not in readable(sim)["message"]
    assert sim.status.get("stableVersion") != INJECTED
    assert INJECTED not in json.dumps(sim.status)
    assert all(p["name"] in ("v1", "v2") for p in sim.cluster.objects[SELDON]["spec"]["predictors"])


def test_a_templates_values_are_escaped_for_a_promql_string() -> None:
    """The second layer: a value that got through stays inside its string (a value matching
    no series), every matcher of the selector kept, no ``or`` added."""
    values = {"namespace": "ns", "name": "m", "model": "m", "version": INJECTED,
              "predictor": f"v{INJECTED}", "interval": "1m"}
    rendered = templates.render(templates.BUILTIN_TEMPLATES["uplift-latency-p95"], values)
    assert 'version="2-api\\"} or vector(1) #"' in rendered
    assert templates.bucket_selector(rendered) == (
        'uplift_request_duration_seconds_bucket{namespace="ns", model="m", '
        'version="2-api\\"} or vector(1) #", endpoint="infer"}')
    for template in templates.BUILTIN_TEMPLATES.values():
        assert promql.check(templates.render(template, values)) is None
    assert templates.label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'
    assert templates.label_value("v12") == "v12"  # what the operator fills in is unchanged


def test_a_problem_past_an_escaped_value_points_at_the_template_as_written() -> None:
    template = 'x{a="{{version}}"} +'
    values = {"version": 'a"b'}
    rendered = templates.render(template, values)
    assert rendered == 'x{a="a\\"b"} +'
    assert templates.source_offset(template, values, len(rendered)) == len(template)
