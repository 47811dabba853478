"""The chart's ways to Prometheus and MLflow, rendered by the real helm: credentials as mounted
files whose paths reach the operator as it parses them (never a secret value in the pod spec),
headers as arguments, a CA bundle for MLflow and Prometheus, extra volumes; and the optional
PodMonitor of the serving pods, whose selector and relabelling are run here against the labels
the rendered graph gives its pods, yielding the labels the built-in gate templates select by."""

from __future__ import annotations

import re
from typing import Any

import promql_parser
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tests.contract.test_packaging import (
    CHART,
    KUBE_VERSION,
    by_kind,
    helm_template,
    run,
    selectors,
    tools,
)

from uplift_operator.domain.templates import BUILTIN_TEMPLATES, DEFAULT_LATENCY_TEMPLATE, render
from uplift_operator.render.naming import Owner
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.runtime.metrics import RuntimeMetrics
from uplift_operator.settings import parse_args

#: Seldon Core 1.x's own container in each predictor pod (the executor) and the label it
#: gives every pod of a SeldonDeployment (``Label_seldon_id``).
EXECUTOR_CONTAINER = "seldon-container-engine"
SELDON_ID_LABEL = "seldon-deployment-id"
#: The labels Seldon's executor gives its server series (executor/api/metric), and ``le``.
EXECUTOR_EXPORTED = frozenset({"deployment_name", "predictor_name", "predictor_version",
                               "service", "method", "code", "le"})
#: The labels of the runtime's and MLServer's series that the built-in templates and the gates'
#: own queries select by, exported by the series themselves (the scrape must not rename them).
RUNTIME_SELECTED = frozenset({"model", "version", "endpoint", "path", "campaign", "le"})


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"][
        "containers"][0]
    return container


def _pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    return spec


def _file_of(docs: list[dict[str, Any]], env_name: str) -> tuple[str, dict[str, Any]]:
    """The file an env var names, and the volume that holds it (the mount it lies under)."""
    container, spec = _container(docs), _pod_spec(docs)
    path = next(e["value"] for e in container["env"] if e["name"] == env_name)
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert mount.get("readOnly") is True
    return path.removeprefix(mount["mountPath"] + "/"), volume


def test_prometheus_credentials_are_mounted_files_the_operator_reads() -> None:
    docs = helm_template("--set", "prometheus.bearerToken.secretName=prom-token",
                         "--set", "prometheus.bearerToken.key=jwt",
                         "--set", "prometheus.ca.configMapName=prom-ca",
                         "--set-json", 'prometheus.headers={"X-Scope-OrgID": "team-a|team-b",'
                                       ' "X-Note": "a, b"}')
    item, volume = _file_of(docs, "UPLIFT_PROMETHEUS_BEARER_TOKEN_FILE")
    assert volume["secret"] == {"secretName": "prom-token", "items": [{"key": "jwt", "path": item}]}
    item, volume = _file_of(docs, "UPLIFT_PROMETHEUS_CA_FILE")
    assert volume["configMap"] == {"name": "prom-ca", "items": [{"key": "ca.crt", "path": item}]}
    container = _container(docs)
    # Only paths and plain settings in the environment: no value from a Secret, no secretKeyRef.
    assert not [e for e in container["env"] if "valueFrom" in e and e["name"] != "POD_ID"]
    assert "prom-token" not in str(container["env"])
    # The headers reach the operator as it parses them (arguments: a comma stays in its value).
    config = parse_args([a for a in container["args"][1:] if a.startswith("--prometheus-")]
                        + ["-A"])
    assert dict(config.prometheus_headers) == {"X-Scope-OrgID": "team-a|team-b", "X-Note": "a, b"}

    basic = helm_template("--set", "prometheus.basicAuth.secretName=prom-basic")
    user_item, user_volume = _file_of(basic, "UPLIFT_PROMETHEUS_USERNAME_FILE")
    password_item, password_volume = _file_of(basic, "UPLIFT_PROMETHEUS_PASSWORD_FILE")
    assert user_volume is password_volume or user_volume == password_volume
    assert user_volume["secret"] == {"secretName": "prom-basic", "items": [
        {"key": "username", "path": user_item}, {"key": "password", "path": password_item}]}
    assert "UPLIFT_PROMETHEUS_BEARER_TOKEN_FILE" not in str(_container(basic)["env"])

    # A token file the pod has by other means (a projected ServiceAccount token).
    projected = helm_template(
        "--set", "prometheus.bearerToken.file=/var/run/secrets/prom/token",
        "--set-json", 'extraVolumes=[{"name": "prom-sa", "projected": {"sources": '
                      '[{"serviceAccountToken": {"path": "token", "audience": "prometheus"}}]}}]',
        "--set-json", 'extraVolumeMounts=[{"name": "prom-sa", "mountPath": '
                      '"/var/run/secrets/prom", "readOnly": true}]')
    item, volume = _file_of(projected, "UPLIFT_PROMETHEUS_BEARER_TOKEN_FILE")
    assert item == "token" and volume["projected"]["sources"][0]["serviceAccountToken"][
        "audience"] == "prometheus"

    # None of it by default: no volume at all.
    default = _pod_spec(helm_template())
    assert "volumes" not in default and "volumeMounts" not in default["containers"][0]


def test_a_ca_bundle_is_requests_default_trust_for_mlflow_and_prometheus() -> None:
    docs = helm_template("--set", "caBundle.configMapName=corp-ca", "--set", "caBundle.key=ca.pem")
    item, volume = _file_of(docs, "REQUESTS_CA_BUNDLE")
    assert volume["configMap"] == {"name": "corp-ca", "items": [{"key": "ca.pem", "path": item}]}
    # Both clients send with requests and verify=True, which REQUESTS_CA_BUNDLE replaces
    # (tests/unit/adapters/test_prometheus_auth.py shows it for both).
    assert "REQUESTS_CA_BUNDLE" not in str(_container(helm_template())["env"])


@pytest.mark.parametrize(("values", "message"), [
    (["--set", "prometheus.bearerToken.secretName=a", "--set", "prometheus.basicAuth.secretName=b"],
     "prometheus.bearerToken and prometheus.basicAuth: give one of them"),
    (["--set", "prometheus.bearerToken.secretName=a", "--set", "prometheus.bearerToken.file=/t"],
     "prometheus.bearerToken: set secretName"),
    (["--set-json", 'prometheus.headers={"authorization": "Bearer x"}'],
     "prometheus.headers.authorization: not a header the chart may set"),
], ids=["token-and-basic", "token-secret-and-file", "authorization-header"])
def test_credentials_that_cannot_work_fail_at_render(values: list[str], message: str) -> None:
    result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                 *values)
    assert result.returncode != 0 and message in result.stderr and len(result.stderr) < 500, (
        result.stderr)


def test_the_schema_takes_the_new_values_and_refuses_typos() -> None:
    for typo in ("prometheus.bearerToken.secret=x", "caBundle.configMap=x",
                 "servingPodMonitor.ports=x", "servingPodMonitor.executor.ports=x"):
        result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                     "--set", typo)
        assert result.returncode != 0 and "additional properties" in result.stderr, typo
    result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                 "--set-json",
                 'prometheus.headers={"X-A": "line\\nbreak"}')
    assert result.returncode != 0


# -- the serving pods' PodMonitor ---------------------------------------------------------------

def _relabel(rules: list[dict[str, Any]], meta: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabelling (replace, drop, keep and labeldrop, the actions the chart and
    prometheus-operator use) of one target's labels; None when the target is dropped."""
    labels = dict(meta)
    for rule in rules:
        action = rule.get("action", "replace").lower()
        if action == "labeldrop":
            labels = {k: v for k, v in labels.items() if not re.fullmatch(rule["regex"], k)}
            continue
        value = rule.get("separator", ";").join(
            labels.get(n, "") for n in rule.get("sourceLabels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "drop":
            if match:
                return None
        elif action == "keep":
            if not match:
                return None
        elif action == "replace":
            if match:
                replacement = _expand(rule.get("replacement", "$1"), match)
                labels[rule["targetLabel"]] = replacement
        else:
            raise AssertionError(f"relabel action {action} not emulated")
    # Prometheus' own default after relabelling: a target without `instance` gets its address.
    labels.setdefault("instance", labels.get("__address__", ""))
    return {k: v for k, v in labels.items() if not k.startswith("__")}


def _target(monitor: dict[str, Any], index: int, meta: dict[str, str]) -> dict[str, str] | None:
    """The labels one of a PodMonitor's endpoints gives a target, as Prometheus ends up with
    them: prometheus-operator's own relabelling of a PodMonitor endpoint first (its
    pkg/prometheus/promcfg.go, generatePodMonitorConfig: `namespace`, `container` and `pod` from
    the pod, `job` = <namespace>/<name>, `endpoint` = the port's name), then the endpoint's
    `relabelings`, which it appends after its own. The port filter (keep the port named
    `port`) is left out: every meta given here is of that port."""
    endpoint = monitor["spec"]["podMetricsEndpoints"][index]
    operator_rules: list[dict[str, Any]] = [
        {"sourceLabels": ["__meta_kubernetes_namespace"], "targetLabel": "namespace"},
        {"sourceLabels": ["__meta_kubernetes_pod_container_name"], "targetLabel": "container"},
        {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"},
        {"sourceLabels": [], "targetLabel": "job", "replacement":
            f"{monitor['metadata']['namespace']}/{monitor['metadata']['name']}"},
        {"sourceLabels": [], "targetLabel": "endpoint", "replacement": endpoint["port"]}]
    return _relabel(operator_rules + endpoint.get("relabelings", []), meta)


def _stored(target: dict[str, str], exported: dict[str, str], honor_labels: bool) -> dict[str, str]:
    """A scraped series' labels as Prometheus stores them (`honor_labels`): with false, a label
    the target has too is kept as `exported_<name>` and the target's wins; with true, the
    series' own wins."""
    if honor_labels:
        return {**target, **exported}
    return {**{("exported_" + k if k in target else k): v for k, v in exported.items()},
            **target}


def _matches(selector: Any, labels: dict[str, str]) -> bool:
    """Whether a PromQL vector selector (promql_parser) selects a series of these labels."""
    if selector.name and labels.get("__name__") != selector.name:
        return False
    for matcher in selector.matchers.matchers:
        value, op = labels.get(matcher.name, ""), str(matcher.op).rsplit(".", 1)[-1]
        found = {"Equal": value == matcher.value, "NotEqual": value != matcher.value,
                 "Re": re.fullmatch(matcher.value, value) is not None,
                 "NotRe": re.fullmatch(matcher.value, value) is None}[op]
        if not found:
            return False
    return True


def _expand(replacement: str, match: re.Match[str]) -> str:
    """A relabel replacement with ``$1`` / ``${1}`` filled from the regex's groups."""
    groups = (match.group(0), *match.groups())
    return re.sub(r"\$\{(\d+)\}|\$(\d+)",
                  lambda m: groups[int(m.group(1) or m.group(2))] or "", replacement)


def _pod_meta(pod_labels: dict[str, str], namespace: str, container: str) -> dict[str, str]:
    """The discovery labels Prometheus gives a pod's container port (role: pod)."""
    meta = {"__meta_kubernetes_namespace": namespace,
            "__meta_kubernetes_pod_name": "hillstrom-uplift-v4-0-abc",
            "__meta_kubernetes_pod_container_name": container,
            "__address__": "10.0.0.7:8000" if container == EXECUTOR_CONTAINER else "10.0.0.7:6000"}
    for name, value in pod_labels.items():
        meta["__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name)] = value
    return meta


def _selected(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        if operator == "Exists" and key not in labels:
            return False
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
    return True


def test_the_serving_pod_monitor_is_off_by_default() -> None:
    assert not [d for d in by_kind(helm_template(), "PodMonitor")
                if d["metadata"]["name"].endswith("-serving")]


def test_the_serving_pod_monitor_selects_the_rendered_pods_and_yields_the_gates_labels() -> None:
    docs = helm_template("--set", "servingPodMonitor.enabled=true")
    monitor = next(d for d in by_kind(docs, "PodMonitor")
                   if d["metadata"]["name"] == "uplift-operator-serving")
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"any": True}  # cluster-wide: every namespace watched
    # Seldon Core 1.17 names a port `metrics` on both containers of a predictor pod, both served
    # at /prometheus (values.yaml cites the Seldon source): one endpoint per container.
    endpoint, executor = spec["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["honorLabels"]) == (
        "metrics", "/prometheus", False)
    assert (executor["port"], executor["path"], executor["honorLabels"]) == (
        "metrics", "/prometheus", False)

    owner = Owner(name="hillstrom-uplift", namespace="growth", uid="u")
    runtime = RuntimeSettings(image="img", registered_model="hillstrom-uplift",
                              tracking_uri="http://mlflow:5000", replicas=2, holdout_fraction=0.1,
                              unit_key="customer_id", salt="s", treatments=("t",))
    graph = SeldonV1Backend().render(owner, runtime, TrafficSplit("3", "4", 25))
    for predictor in graph["spec"]["predictors"]:
        # Seldon puts a predictor's labels, and the SeldonDeployment's id, on its pods.
        pod_labels = {**predictor["labels"], SELDON_ID_LABEL: graph["metadata"]["name"]}
        assert _selected(spec["selector"], pod_labels), predictor["labels"]
        runtime_container = predictor["componentSpecs"][0]["spec"]["containers"][0]["name"]
        target = _target(monitor, 0, _pod_meta(pod_labels, "growth", runtime_container))
        assert target is not None
        version = predictor["annotations"]["version"]
        assert {k: target[k] for k in ("namespace", "seldon_deployment_id", "predictor_name")} == {
            "namespace": "growth", "seldon_deployment_id": "hillstrom-uplift",
            "predictor_name": predictor["name"]}, version
        # No label the runtime or MLServer exports and a template selects by is the target's
        # too: with honorLabels false it would be renamed exported_<name>.
        assert not target.keys() & RUNTIME_SELECTED, target
        # Seldon's executor in the same pod: the second endpoint's alone, with `namespace` and
        # no label of its own renamed (it exports deployment_name and predictor_name itself).
        assert _target(monitor, 0, _pod_meta(pod_labels, "growth", EXECUTOR_CONTAINER)) is None
        assert _target(monitor, 1, _pod_meta(pod_labels, "growth", runtime_container)) is None
        executor_target = _target(monitor, 1, _pod_meta(pod_labels, "growth", EXECUTOR_CONTAINER))
        assert executor_target is not None and executor_target["namespace"] == "growth"
        assert not executor_target.keys() & EXECUTOR_EXPORTED, executor_target
    # A pod the operator did not render (no version label) is not selected.
    assert not _selected(spec["selector"], {SELDON_ID_LABEL: "other", "app": "other"})

    # The labels the built-in templates of the runtime's and MLServer's series select by, other
    # than those the series carry themselves: all come from this scrape.
    scraped = {"namespace", "seldon_deployment_id", "predictor_name"}
    exported = RUNTIME_SELECTED
    values = {"namespace": "n", "name": "m", "model": "m", "predictor": "v4", "version": "4",
              "interval": "5m"}
    checked = set()
    for name, template in BUILTIN_TEMPLATES.items():
        # The executor's series carry its own labels; the executor endpoint adds `namespace`.
        allowed = ({"namespace"} | EXECUTOR_EXPORTED if name.startswith("seldon-")
                   else scraped | exported)
        for selector in selectors(promql_parser.parse(render(template, values))):
            used = {m.name for m in selector.matchers.matchers}
            assert used <= allowed, (name, used - allowed)
            assert "namespace" in used, name
            checked.add(name)
    assert checked == {"mlserver-latency-p95", "mlserver-error-rate", "uplift-latency-p95",
                       "seldon-latency-p95", "seldon-error-rate"}


def test_the_runtimes_series_keep_their_own_labels_through_the_serving_pod_monitor() -> None:
    """The runtime's series, as its registry exposes them, scraped by the runtime endpoint: the
    default latency template, and the errorRate and split queries' ``endpoint="infer"``, select
    them as Prometheus stores them (prometheus-operator's `endpoint` target label, with
    honorLabels false, would make the runtime's own `exported_endpoint`)."""
    docs = helm_template("--set", "servingPodMonitor.enabled=true")
    monitor = next(d for d in by_kind(docs, "PodMonitor")
                   if d["metadata"]["name"] == "uplift-operator-serving")
    honor_labels = monitor["spec"]["podMetricsEndpoints"][0]["honorLabels"]
    target = _target(monitor, 0, _pod_meta({"uplift.dev/version": "4",
                                            SELDON_ID_LABEL: "hillstrom-uplift"},
                                           "growth", "hillstrom-uplift"))
    assert target is not None

    registry = CollectorRegistry()
    metrics = RuntimeMetrics(registry)
    metrics.request_duration.labels("hillstrom-uplift", "4", "infer").observe(0.01)
    metrics.errors.labels("hillstrom-uplift", "4", "infer", "bad_request").inc()
    stored = [_stored(target, {"__name__": sample.name, **sample.labels}, honor_labels)
              for family in text_string_to_metric_families(generate_latest(registry).decode())
              for sample in family.samples]
    # Every label any of the runtime's series has is stored under its own name.
    runtime_labels = {name for collector in vars(metrics).values()
                      for name in getattr(collector, "_labelnames", ())}
    assert "endpoint" in runtime_labels
    assert not {k for labels in stored for k in labels if k.startswith("exported_")}, target
    assert not runtime_labels & target.keys(), target

    values = {"namespace": "growth", "name": "hillstrom-uplift", "model": "hillstrom-uplift",
              "predictor": "v4", "version": "4", "interval": "5m"}
    latency = list(selectors(promql_parser.parse(
        render(BUILTIN_TEMPLATES[DEFAULT_LATENCY_TEMPLATE], values))))
    errors = list(selectors(promql_parser.parse(
        'uplift_request_errors_total{namespace="growth", model="hillstrom-uplift", '
        'version="4", endpoint="infer"}')))
    for selector in latency + errors:
        assert [labels for labels in stored if _matches(selector, labels)], selector


def test_the_serving_pod_monitor_leaves_the_executor_to_your_scrape_when_told() -> None:
    docs = helm_template("--set", "servingPodMonitor.enabled=true",
                         "--set", "servingPodMonitor.executor.enabled=false")
    monitor = next(d for d in by_kind(docs, "PodMonitor")
                   if d["metadata"]["name"].endswith("-serving"))
    endpoint, = monitor["spec"]["podMetricsEndpoints"]
    assert _relabel(endpoint["relabelings"], _pod_meta({}, "n", EXECUTOR_CONTAINER)) is None


def test_the_serving_pod_monitor_follows_the_watched_namespaces() -> None:
    docs = helm_template("--set", "servingPodMonitor.enabled=true",
                         "--set", "servingPodMonitor.port=uplift-metrics",
                         "--set", "servingPodMonitor.path=/metrics",
                         "--set", "watch.allNamespaces=false",
                         "--set", "watch.namespaces={team-a,team-b}")
    monitor = next(d for d in by_kind(docs, "PodMonitor")
                   if d["metadata"]["name"].endswith("-serving"))
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a", "team-b"]}
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert (endpoint["port"], endpoint["path"]) == ("uplift-metrics", "/metrics")
