"""The SeldonDeployments admission policy and ``spec.serving`` placement: the pod spec keys it
admits are the ones ``render.seldon`` renders (placement included), narrowed by two rules of
the shape (every toleration names a key outside node-role.kubernetes.io/; no system-critical
priority class) that the chart shares with the manifests, and, with
``allowed.imagePullSecrets``, a chart rule holding every imagePullSecrets name to those names
(not to ``rbac.secretNames``, the Secrets the operator reads). The operator mirrors both
(``ServingPolicy``: ``--narrow-serving-placement`` wherever the policy is installed,
``--allowed-image-pull-secret`` from the same list), so that a model the policy would refuse is
InvalidSpec, not refused at every apply. The rules' judgments are the API server's:
tests/integration/packaging/test_seldondeployments_policy.py."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from tests.contract.test_packaging import (
    CHART,
    KUBE_VERSION,
    ROOT,
    _policy,
    by_kind,
    helm_template,
    run,
    tools,
)

from uplift_operator.api.v1alpha1.upliftmodel import PLACEMENT_FIELDS
from uplift_operator.domain.validation import CONTROL_PLANE_TAINTS, SYSTEM_PRIORITY_CLASSES
from uplift_operator.render import naming
from uplift_operator.render.seldon import PLACEMENT_KEYS, SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.settings import parse_args

SECRET_NAMES = ["mlflow-credentials", "report-senders"]
PULL_SECRETS = ["registry-pull", "registry.team-b"]


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
    key, never one of the control plane's; no system-critical priority class. Their literals
    are the operator's (``ServingPolicy.narrow_placement``)."""
    for rules in (_manifest_validations(), _validations(helm_template())):
        expressions = [r["expression"] for r in rules]
        (tolerations,) = [e for e in expressions if "s.?tolerations.orValue([])" in e]
        assert 't.?key.orValue("") != ""' in tolerations
        assert (f'!t.?key.orValue("").startsWith({json.dumps(CONTROL_PLANE_TAINTS)})'
                in tolerations)
        (priority,) = [e for e in expressions if "s.?priorityClassName" in e]
        assert priority == (
            'variables.pods.all(specs, specs.all(s, !(s.?priorityClassName.orValue("") in '
            f'[{", ".join(json.dumps(c) for c in SYSTEM_PRIORITY_CLASSES)}])))')


def _operator_args(docs: list[dict[str, Any]]) -> list[str]:
    args: list[str] = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"][
        "containers"][0]["args"]
    return args


def test_the_operator_narrows_the_placement_wherever_the_policy_is_installed() -> None:
    """The chart passes --narrow-serving-placement with admissionPolicy.enabled (the default)
    and not without it; the manifests, which ship the policy, pass it too."""
    assert "--narrow-serving-placement" in _operator_args(helm_template())
    assert "--narrow-serving-placement" not in _operator_args(
        helm_template("--set", "admissionPolicy.enabled=false"))
    [plain] = [d for d in yaml.safe_load_all((ROOT / "manifests" / "operator.yaml").read_text())
               if d and d["kind"] == "Deployment"]
    assert "--narrow-serving-placement" in _operator_args([plain])


def _pull_rules(rules: list[dict[str, Any]]) -> list[str]:
    return [r["expression"] for r in rules if "imagePullSecrets.orValue" in r["expression"]]


def test_the_chart_holds_image_pull_secrets_to_their_own_list() -> None:
    """With allowed.imagePullSecrets, one more rule: every imagePullSecrets name is one of them
    (the kubelet pulls with it by the node's authority), and the operator is given the same
    names; without, and in the manifests, none. rbac.secretNames (the Secrets the operator
    reads, which a serving pod may mount) plays no part: a pull Secret listed there would be
    readable by the operator and mountable by any model."""
    assert _pull_rules(_manifest_validations()) == []
    assert _pull_rules(_validations(helm_template())) == []
    with_secret_names = helm_template(
        "--set-json", f"rbac.secretNames={json.dumps(SECRET_NAMES)}")
    assert _pull_rules(_validations(with_secret_names)) == []
    assert not [a for a in _operator_args(with_secret_names)
                if a.startswith("--allowed-image-pull-secret")]
    docs = helm_template("--set-json", f"rbac.secretNames={json.dumps(SECRET_NAMES)}",
                         "--set-json", f"allowed.imagePullSecrets={json.dumps(PULL_SECRETS)}")
    rules = _validations(docs)
    (rule,) = _pull_rules(rules)
    assert rule == (
        "variables.pods.all(specs, specs.all(s, s.?imagePullSecrets.orValue([]).all(r, "
        f'r.?name.orValue("") in [{", ".join(json.dumps(n) for n in PULL_SECRETS)}])))')
    (message,) = [r["message"] for r in rules if r["expression"] == rule]
    assert message == ("every imagePullSecrets name of a SeldonDeployment of the "
                       "uplift-operator ServiceAccount is one of allowed.imagePullSecrets")
    # The secret references' rule keeps rbac.secretNames alone (no pull Secret mountable).
    (references,) = [r["expression"] for r in rules if "secretKeyRef" in r["expression"]]
    assert not any(json.dumps(n) in references for n in PULL_SECRETS)
    # The operator refuses what the rule refuses: the same names, exactly.
    config = parse_args(_operator_args(docs)[1:])  # after `run`
    assert config.allowed_image_pull_secrets == tuple(PULL_SECRETS)
    assert config.narrow_serving_placement
    # The policy's own pull rule is rendered only with the policy, the option always.
    without_policy = helm_template(
        "--set", "admissionPolicy.enabled=false",
        "--set-json", f"allowed.imagePullSecrets={json.dumps(PULL_SECRETS)}")
    assert [a for a in _operator_args(without_policy)
            if a.startswith("--allowed-image-pull-secret")] == [
        f"--allowed-image-pull-secret={n}" for n in PULL_SECRETS]


def test_a_pull_secret_list_of_other_than_secret_names_is_refused_by_the_chart() -> None:
    """allowed.imagePullSecrets are exact Secret names (the schema), not patterns."""
    result = run(tools()["helm"], "template", "uplift", str(CHART), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, "--set-json",
                 'allowed.imagePullSecrets=["registry-.*"]')
    assert result.returncode != 0 and "/allowed/imagePullSecrets/0" in result.stderr
