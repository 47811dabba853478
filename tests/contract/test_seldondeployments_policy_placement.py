"""The SeldonDeployments admission policy and ``spec.serving`` placement: the pod spec keys it
admits are the ones ``render.seldon`` renders (placement included), narrowed by two rules of
the shape (every toleration names a key outside node-role.kubernetes.io/; no system-critical
priority class) that the chart shares with the manifests, and, with ``rbac.secretNames``, a
chart rule holding every imagePullSecrets name to those names. The rules' judgments are the API
server's: tests/integration/packaging/test_seldondeployments_policy.py."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from tests.contract.test_packaging import ROOT, _policy, helm_template

from uplift_operator.api.v1alpha1.upliftmodel import PLACEMENT_FIELDS
from uplift_operator.render import naming
from uplift_operator.render.seldon import PLACEMENT_KEYS, SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit

SECRET_NAMES = ["mlflow-credentials", "registry-pull"]


def _validations(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = _policy(docs, "seldondeployments")[0]["spec"]["validations"]
    return rules


def _manifest_validations() -> list[dict[str, Any]]:
    return _validations([d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "seldondeployments-policy.yaml").read_text()) if d])


def _admitted_pod_keys(rules: list[dict[str, Any]]) -> set[str]:
    """The keys of the one rule listing a pod spec's keys (``s.all(k, k in [...])``)."""
    (listed,) = [m for r in rules
                 for m in re.findall(r"s\.all\(k, k in \[([^\]]*)\]\)", r["expression"])]
    return {json.loads(key) for key in listed.split(",")}


def _rendered_pod_keys() -> set[str]:
    """Every key of a predictor's pod spec as render.seldon renders a model using every
    option, placement included."""
    owner = naming.Owner(name="m", namespace="ns", uid="u")
    runtime = RuntimeSettings(
        image="ghcr.io/uplift-dev/uplift-runtime:0.1.0", registered_model="m",
        tracking_uri="http://mlflow:5000", replicas=2, salt="ns/m", treatments=("t",),
        resources={"requests": {"cpu": "500m"}},
        credential_env=(("MLFLOW_TRACKING_TOKEN", "mlflow-credentials", "token"),),
        report_token=("report-senders", "token"), service_account_name="uplift-serving",
        placement={"nodeSelector": {"pool": "inference"},
                   "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                   "imagePullSecrets": [{"name": "registry-pull"}],
                   "priorityClassName": "inference-high"})
    graph = SeldonV1Backend().render(owner, runtime, TrafficSplit("3", "4", 25))
    return {key for p in graph["spec"]["predictors"] for c in p["componentSpecs"]
            for key in c["spec"]}


def test_the_policy_admits_the_pod_keys_the_operator_renders_placement_included() -> None:
    rendered = _rendered_pod_keys()
    assert set(PLACEMENT_KEYS) == set(PLACEMENT_FIELDS) <= rendered
    for rules in (_manifest_validations(), _validations(helm_template())):
        assert _admitted_pod_keys(rules) == rendered


def test_the_placement_is_narrowed_by_the_shape_the_chart_shares() -> None:
    """Two rules of the shape (the manifests' and the chart's alike): a toleration names its
    key, never one of the control plane's; no system-critical priority class."""
    for rules in (_manifest_validations(), _validations(helm_template())):
        expressions = [r["expression"] for r in rules]
        (tolerations,) = [e for e in expressions if "s.?tolerations.orValue([])" in e]
        assert 't.?key.orValue("") != ""' in tolerations
        assert '!t.?key.orValue("").startsWith("node-role.kubernetes.io/")' in tolerations
        (priority,) = [e for e in expressions if "s.?priorityClassName" in e]
        assert priority == (
            'variables.pods.all(specs, specs.all(s, !(s.?priorityClassName.orValue("") in '
            '["system-node-critical", "system-cluster-critical"])))')


def test_the_chart_holds_image_pull_secrets_to_rbac_secret_names() -> None:
    """With rbac.secretNames, one more rule: every imagePullSecrets name is one of them (the
    kubelet pulls with it by the node's authority); without, and in the manifests, none."""
    def pull_rules(rules: list[dict[str, Any]]) -> list[str]:
        return [r["expression"] for r in rules if "imagePullSecrets.orValue" in r["expression"]]

    assert pull_rules(_manifest_validations()) == []
    assert pull_rules(_validations(helm_template())) == []
    rules = _validations(helm_template(
        "--set-json", f"rbac.secretNames={json.dumps(SECRET_NAMES)}"))
    (rule,) = pull_rules(rules)
    assert rule == (
        "variables.pods.all(specs, specs.all(s, s.?imagePullSecrets.orValue([]).all(r, "
        f'r.?name.orValue("") in [{", ".join(json.dumps(n) for n in SECRET_NAMES)}])))')
    (message,) = [r["message"] for r in rules if r["expression"] == rule]
    assert message == ("every imagePullSecrets name of a SeldonDeployment of the "
                       "uplift-operator ServiceAccount is one of rbac.secretNames")
