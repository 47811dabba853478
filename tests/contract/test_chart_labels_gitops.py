"""What a GitOps tool reads of the chart's labels.

- A label or annotation the values add next to the chart's own is one mapping key, never a key
  twice: kustomize refuses a duplicate key, and Helm, kubectl and Argo CD keep the last one (a pod
  label of the Deployment's selector given another value then left the pod template unselected,
  and the API server refused the Deployment). A key of the chart's given another value is refused
  at render, with what to set instead.
- The ServiceMonitor selects the metrics Service by labels Argo CD's label tracking leaves: it
  overwrites ``app.kubernetes.io/instance`` of every object it applies (never of a pod template)
  with the Application's name, the release's only when the two are alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.contract.test_packaging import (
    CHART,
    KUBE_VERSION,
    by_kind,
    helm_template,
    run,
    tools,
)

#: Every monitor and the dashboards on, so that each map of labels renders.
ALL_MONITORS = ["--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true",
                "--set", "servingPodMonitor.enabled=true", "--set", "dashboards.enabled=true",
                "--set", "prometheusRule.enabled=true"]


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping key given twice (as kustomize does)."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    twice = {k for k in keys if keys.count(k) > 1}
    if twice:
        raise AssertionError(f"mapping key(s) {sorted(map(str, twice))} twice, {node.start_mark}")
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def _render(*values: str, release: str = "uplift") -> str:
    result = run(tools()["helm"], "template", release, str(CHART), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *values)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _pod_template(docs: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = by_kind(docs, "Deployment")[0]["spec"]["template"]["metadata"]
    return meta


#: The values' maps given each key the chart sets there, with the chart's value.
CHART_KEYS_AGAIN = {
    "podLabels": {"app.kubernetes.io/name": "uplift-operator", "app.kubernetes.io/instance": "uplift",
                  "team": "ml"},
    "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090",
                       "prometheus.io/path": "/metrics", "example.com/owner": "ml"},
    **{f"{name}.labels": {"app.kubernetes.io/name": "uplift-operator",
                          "app.kubernetes.io/instance": "uplift",
                          "app.kubernetes.io/managed-by": "Helm", "team": "ml"}
       for name in ("serviceMonitor", "podMonitor", "servingPodMonitor", "dashboards",
                    "prometheusRule")},
}


def _set_json(path: str, value: dict[str, str]) -> list[str]:
    return ["--set-json", f"{path}={json.dumps(value)}"]


def test_a_key_of_the_chart_given_again_with_its_value_renders_once(tmp_path: Path) -> None:
    values = [*ALL_MONITORS]
    for path, value in CHART_KEYS_AGAIN.items():
        values += _set_json(path, value)
    text = _render(*values)
    docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d]
    pod = _pod_template(docs)
    assert pod["labels"] == {"app.kubernetes.io/name": "uplift-operator",
                             "app.kubernetes.io/instance": "uplift", "team": "ml"}
    assert pod["annotations"]["example.com/owner"] == "ml"
    assert pod["annotations"]["prometheus.io/port"] == "9090"
    for kind, name in (("ServiceMonitor", "uplift-operator"), ("PodMonitor", "uplift-operator"),
                       ("PodMonitor", "uplift-operator-serving"),
                       ("ConfigMap", "uplift-operator-dashboard-oncall"),
                       ("PrometheusRule", "uplift-operator")):
        [obj] = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
        assert obj["metadata"]["labels"]["team"] == "ml", (kind, name)
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", (kind, name)
    # What the reviewer saw fail: kustomize reading the render.
    (tmp_path / "all.yaml").write_text(text)
    (tmp_path / "kustomization.yaml").write_text("resources: [all.yaml]\n")
    result = run(tools()["kustomize"], "build", str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_without_scrape_annotations_the_values_write_their_own() -> None:
    docs = helm_template("--set", "metrics.scrapeAnnotations=false",
                         *_set_json("podAnnotations", {"prometheus.io/port": "8080",
                                                       "prometheus.io/scrape": "true"}))
    annotations = _pod_template(docs)["annotations"]
    assert annotations["prometheus.io/port"] == "8080"
    assert "prometheus.io/path" not in annotations


@pytest.mark.parametrize(("values", "message"), [
    (_set_json("podLabels", {"app.kubernetes.io/name": "x"}),
     "podLabels.app.kubernetes.io/name=x: the chart sets this label of the pods to "
     "uplift-operator, by which the Deployment's selector"),
    (_set_json("podLabels", {"app.kubernetes.io/instance": "my-app"}),
     "podLabels.app.kubernetes.io/instance=my-app: the chart sets this label of the pods to x"),
    (_set_json("podAnnotations", {"prometheus.io/port": "8080"}),
     "podAnnotations.prometheus.io/port=8080: with metrics.scrapeAnnotations=true the chart sets "
     "this annotation of the pods to 9090"),
    (_set_json("podAnnotations", {"prometheus.io/path": "/other"}),
     "metrics.scrapeAnnotations=false to write the prometheus.io annotations yourself"),
    (_set_json("podAnnotations", {"checksum/templates": "x"}),
     "podAnnotations.checksum/templates: the chart's own annotation"),
    (["--set", "serviceMonitor.enabled=true",
      *_set_json("serviceMonitor.labels", {"app.kubernetes.io/version": "2"})],
     "serviceMonitor.labels.app.kubernetes.io/version=2: the chart sets this label to 0.1.0"),
    (["--set", "podMonitor.enabled=true",
      *_set_json("podMonitor.labels", {"app.kubernetes.io/instance": "my-app"})],
     "remove it from podMonitor.labels"),
    (["--set", "servingPodMonitor.enabled=true",
      *_set_json("servingPodMonitor.labels", {"app.kubernetes.io/name": "x"})],
     "servingPodMonitor.labels.app.kubernetes.io/name=x"),
    (["--set", "dashboards.enabled=true",
      *_set_json("dashboards.labels", {"helm.sh/chart": "x"})],
     "dashboards.labels.helm.sh/chart=x"),
    (["--set", "prometheusRule.enabled=true", "--set", "serviceMonitor.enabled=true",
      *_set_json("prometheusRule.labels", {"app.kubernetes.io/managed-by": "Tiller"})],
     "prometheusRule.labels.app.kubernetes.io/managed-by=Tiller: the chart sets this label to Helm"),
], ids=["pod-label-name", "pod-label-instance", "pod-annotation-port", "pod-annotation-path",
        "pod-annotation-checksum", "servicemonitor-label", "podmonitor-label",
        "serving-podmonitor-label", "dashboards-label", "prometheusrule-label"])
def test_a_key_of_the_chart_given_another_value_is_refused_at_render(values: list[str],
                                                                     message: str) -> None:
    result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                 *values)
    assert result.returncode != 0, result.stdout[-2000:]
    assert message in result.stderr and len(result.stderr) < 500, result.stderr


def test_monitor_labels_of_a_monitor_not_rendered_are_not_judged() -> None:
    helm_template(*_set_json("serviceMonitor.labels", {"app.kubernetes.io/version": "2"}))


def _argocd_label_tracking(docs: list[dict[str, Any]], application: str) -> None:
    """What Argo CD's label tracking does to each object it applies (util/kube
    SetAppInstanceLabel): its own labels' app.kubernetes.io/instance, never a pod template's."""
    for doc in docs:
        doc["metadata"].setdefault("labels", {})["app.kubernetes.io/instance"] = application


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_every_selector_still_selects_under_argocd_label_tracking() -> None:
    """A releaseName other than the Application's name (``helm.releaseName``): the ServiceMonitor
    selected nothing, and the alerts read no series of the operator."""
    docs = helm_template("--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=true",
                         "--set", "networkPolicy.enabled=true", release="prod")
    _argocd_label_tracking(docs, "uplift-operator-prod")
    [service] = by_kind(docs, "Service")
    [monitor] = by_kind(docs, "ServiceMonitor")
    [podmonitor] = by_kind(docs, "PodMonitor")
    [deployment] = by_kind(docs, "Deployment")
    pods = _pod_template([deployment])["labels"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/instance" not in selector
    assert selector == {"app.kubernetes.io/name": "uplift-operator",
                        "app.kubernetes.io/component": "metrics", "uplift.dev/release": "prod"}
    assert _selects(selector, service["metadata"]["labels"])
    assert _selects(podmonitor["spec"]["selector"]["matchLabels"], pods)
    assert _selects(deployment["spec"]["selector"]["matchLabels"], pods)
    assert _selects(service["spec"]["selector"], pods)
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for obj in by_kind(docs, kind):
            spec = obj["spec"]
            chosen = spec["selector"] if kind == "PodDisruptionBudget" else spec["podSelector"]
            assert _selects(chosen["matchLabels"], pods), kind


def test_two_releases_in_one_namespace_scrape_their_own_service() -> None:
    rendered = {release: helm_template("--set", "serviceMonitor.enabled=true", release=release)
                for release in ("blue", "green")}
    for docs in rendered.values():
        _argocd_label_tracking(docs, "one-application")
    for release, docs in rendered.items():
        selector = by_kind(docs, "ServiceMonitor")[0]["spec"]["selector"]["matchLabels"]
        chosen = {other for other, theirs in rendered.items()
                  if _selects(selector, by_kind(theirs, "Service")[0]["metadata"]["labels"])}
        assert chosen == {release}
