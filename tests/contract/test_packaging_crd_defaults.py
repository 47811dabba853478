"""What the chart and ``manifests/`` render for a custom resource states every field the API server
would default: the live object then equals what Git holds, and Argo CD shows it in sync.

The API server fills a field its CRD's structural schema gives a ``default`` and the object
leaves out. Argo CD's diff of a custom resource replaces a list whole (a JSON merge patch: no
merge keys), so a field defaulted inside a list item is a difference at every sync, the
Application OutOfSync for ever: the serving PodMonitor's relabelings without ``action``
(prometheus-operator's CRD defaults it to ``replace``) were that. The schemas are the
prometheus-operator CRDs ``scripts/build-tools.sh`` generates from its Go API, and the chart's own
``crds/`` (the peering objects it renders); each rendered object is defaulted as the API server
does, and nothing may change.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.test_packaging import ALL_OPTIONS, CHART, NAMESPACED, helm_template, run, tools

#: Every optional object of the chart on (the serving PodMonitor with its executor endpoint).
MONITORS = ["--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true",
            "--set", "servingPodMonitor.enabled=true", "--set", "prometheusRule.enabled=true"]


@cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the structural schema of that version."""
    paths = [*sorted(Path(tools()["prometheus-operator-crds"]).glob("*.yaml")),
             *sorted((CHART / "crds").glob("*.yaml"))]
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in paths:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            for version in crd["spec"]["versions"]:
                api_version = f"{crd['spec']['group']}/{version['name']}"
                schemas[api_version, crd["spec"]["names"]["kind"]] = (
                    version["schema"]["openAPIV3Schema"])
    return schemas


def defaulted(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """The fields the API server would add to ``value`` from ``schema``'s defaults (structural
    schemas: ``properties``, ``additionalProperties``, ``items``), each as a path with its
    default."""
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                found.append(f"{path}.{key} = {sub['default']!r}")
            elif key in value:
                found += defaulted(value[key], sub, f"{path}.{key}")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value.keys() - properties.keys():
                found += defaulted(value[key], extra, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += defaulted(item, schema["items"], f"{path}[{index}]")
    return found


def test_the_check_finds_a_relabeling_without_its_action() -> None:
    """The check itself: the PodMonitor CRD defaults a relabeling's ``action`` (what made the
    serving PodMonitor drift), and an entry that states it is left as it is."""
    schema = _schemas()["monitoring.coreos.com/v1", "PodMonitor"]
    endpoint = {"port": "metrics", "relabelings": [
        {"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"},
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod",
         "action": "replace"}]}
    found = defaulted({"spec": {"podMetricsEndpoints": [endpoint]}}, schema)
    assert found == [".spec.podMetricsEndpoints[0].relabelings[0].action = 'replace'"]


@cache
def _rendered() -> dict[str, list[dict[str, Any]]]:
    built = run(tools()["kustomize"], "build", "manifests/")
    assert built.returncode == 0, built.stderr
    return {
        "chart, every monitor on": helm_template(*MONITORS),
        "chart, every monitor on, namespaced": helm_template(*MONITORS, *NAMESPACED),
        "chart, values-all-options": helm_template("-f", str(ALL_OPTIONS)),
        "manifests/": [d for d in yaml.safe_load_all(built.stdout) if d],
    }


@pytest.mark.parametrize("rendering", ["chart, every monitor on",
                                       "chart, every monitor on, namespaced",
                                       "chart, values-all-options", "manifests/"])
def test_no_rendered_custom_resource_leaves_a_field_to_its_crd_default(rendering: str) -> None:
    schemas = _schemas()
    documents = _rendered()[rendering]
    checked: set[str] = set()
    problems: list[str] = []
    for document in documents:
        schema = schemas.get((document["apiVersion"], document["kind"]))
        if schema is None:
            continue
        checked.add(document["kind"])
        before = copy.deepcopy(document)
        problems += [f"{document['kind']} {document['metadata']['name']}: {field}"
                     for field in defaulted(document, schema)]
        assert document == before
    expected = ({"ClusterKopfPeering"} if rendering == "manifests/" else
                {"PodMonitor", "ServiceMonitor", "PrometheusRule",
                 "KopfPeering" if "namespaced" in rendering or "all-options" in rendering
                 else "ClusterKopfPeering"})
    assert checked == expected  # the objects the check is about were rendered and read
    assert not problems, "\n".join(problems)


def test_every_relabeling_the_chart_renders_states_its_action() -> None:
    """Every relabeling and metric relabeling entry says what it does, ``replace`` included:
    readable without prometheus-operator's defaults, and no default to drift from."""
    entries = []
    for document in helm_template(*MONITORS) + helm_template("-f", str(ALL_OPTIONS)):
        if document["kind"] not in ("PodMonitor", "ServiceMonitor"):
            continue
        spec = document["spec"]
        for endpoint in spec.get("podMetricsEndpoints", []) + spec.get("endpoints", []):
            for key in ("relabelings", "metricRelabelings"):
                entries += [(document["metadata"]["name"], key, entry)
                            for entry in endpoint.get(key) or []]
    assert entries  # the serving PodMonitor has some
    assert [e for e in entries if "action" not in e[2]] == []


def _defaults(schema: dict[str, Any], path: str = "") -> list[str]:
    found = [f"{path} = {schema['default']!r}"] if "default" in schema else []
    for key, sub in (schema.get("properties") or {}).items():
        found += _defaults(sub, f"{path}.{key}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _defaults(schema[key], f"{path}[]" if key == "items" else f"{path}{{}}")
    return found


def test_the_uplift_crds_default_nothing() -> None:
    """UpliftModels and Campaigns are written by users, in Git: a default in their CRDs (inside a
    list, say a gate's) would put every such object OutOfSync that leaves it out (docs/install.md,
    "Diffs, refreshes and pruning"). Their defaults are the operator's, applied when it reads."""
    found = {f"{kind} {version}": _defaults(schema)
             for (version, kind), schema in _schemas().items()
             if version.startswith("uplift.dev/")}
    assert set(found) == {"UpliftModel uplift.dev/v1alpha1", "Campaign uplift.dev/v1alpha1"}
    assert found == {key: [] for key in found}
