"""The chart, manifests, alerts, dashboards and Argo CD health checks, checked by the real tools.

helm, kustomize and argocd-lua come from ``scripts/build-tools.sh`` (cached outside the repo),
promtool from the Debian prometheus package (``scripts/install-prometheus.sh``). A missing tool
fails the test: these checks must never be skipped silently. The one exception is argocd-lua,
built from ``../shared``: without it build-tools.sh warns and its tests skip, saying why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from uplift_operator.settings import OperatorConfig, parse_args

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "uplift-operator"
HERE = Path(__file__).resolve().parent / "packaging"
ALL_OPTIONS = HERE / "values-all-options.yaml"
#: The alerts, with the scrape whose job they read (the ServiceMonitor's: "uplift-operator-metrics").
RULES_ON = ["--set", "prometheusRule.enabled=true", "--set", "serviceMonitor.enabled=true"]
NAMESPACED = ["--set", "watch.allNamespaces=false", "--set", "watch.namespaces={team-a,team-b}"]
#: What `helm template` renders for: the oldest Kubernetes the chart takes (Chart.yaml
#: kubeVersion). Without it Helm checks kubeVersion against its built-in default, v1.20 in a
#: helm built by `go install` (scripts/build-tools.sh; a release build says its client-go's).
KUBE_VERSION = "v1.30.0"
#: The chart's ServiceAccount for `helm install uplift -n uplift-system`, the manifests' one.
OPERATOR_IDENTITY = "system:serviceaccount:uplift-system:uplift-operator"


@cache
def tools() -> dict[str, str]:
    out = subprocess.run([str(ROOT / "scripts" / "build-tools.sh")], check=True,
                         capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def helm_template(*args: str, release: str = "uplift") -> list[dict[str, Any]]:
    result = run(tools()["helm"], "template", release, str(CHART), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _aggregated(role: dict[str, Any]) -> bool:
    return any(k.startswith("rbac.authorization.k8s.io/aggregate-to-")
               for k in role["metadata"].get("labels", {}))


def operator_roles(docs: list[dict[str, Any]], kind: str = "ClusterRole") -> list[dict[str, Any]]:
    """The operator's ClusterRoles (or Roles): not the ones aggregated into users' roles."""
    return [d for d in by_kind(docs, kind) if not _aggregated(d)]


def test_helm_lint_strict() -> None:
    for values in ([], ["-f", str(ALL_OPTIONS)], NAMESPACED):
        result = run(tools()["helm"], "lint", "--strict", str(CHART), *values)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_refuses_a_cluster_older_than_its_crds_and_policies_need() -> None:
    """The CRDs' optionalOldSelf (on by default from 1.30) and admissionregistration.k8s.io/v1
    (GA in 1.30): Helm refuses an older cluster before it creates anything; a vendor's
    pre-release suffix (``-gke.N``, ``-eks-...``) of 1.30 or later passes."""
    helm = tools()["helm"]
    crds = "".join(p.read_text() for p in (CHART / "crds").glob("*.uplift.dev.yaml"))
    assert "optionalOldSelf: true" in crds
    old = run(helm, "template", "x", str(CHART), "--kube-version", "v1.29.9")
    assert old.returncode != 0
    assert "chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v1.29.9" in (
        old.stderr)
    for version in (KUBE_VERSION, "v1.30.4-gke.1000", "v1.31.2-eks-7f9249a", "v1.37.2"):
        result = run(helm, "template", "x", str(CHART), "--kube-version", version)
        assert result.returncode == 0, (version, result.stderr)


def test_schema_refuses_unknown_keys_and_wrong_types_with_a_short_message() -> None:
    helm = tools()["helm"]
    typo = run(helm, "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
               "--set", "replicaz=2")
    assert typo.returncode != 0 and "additional properties 'replicaz' not allowed" in typo.stderr
    wrong = run(helm, "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                "--set", "replicas=two")
    assert wrong.returncode != 0 and "/replicas" in wrong.stderr and len(wrong.stderr) < 400
    # The dashboards' Grafana constant carries the job into PromQL strings as it is.
    for job in ('"kubernetes-pods\\\\x"', '"a\\"b"'):
        quoted = run(helm, "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                     "--set-json", f"prometheusRule.operatorJob={job}")
        assert quoted.returncode != 0 and "/prometheusRule/operatorJob" in quoted.stderr, job


def test_names_never_stutter() -> None:
    for release, expected in (("uplift", "uplift-operator"), ("uplift-operator", "uplift-operator"),
                              ("prod", "prod-uplift-operator")):
        deployment = by_kind(helm_template(release=release), "Deployment")[0]
        assert deployment["metadata"]["name"] == expected
    docs = helm_template("--set", "fullnameOverride=ops", "--set", "rbac.userRoles.edit=true")
    # The SeldonDeployments, ConfigMaps and PodDisruptionBudgets policies and their bindings
    # share the cluster-scoped namespace of the Secrets one's: a suffix of their own.
    suffixed = []
    for resource in ("seldondeployments", "configmaps", "poddisruptionbudgets"):
        policy, binding = _policy(docs, resource)
        assert policy["metadata"]["name"] == binding["metadata"]["name"] == f"ops-{resource}"
        suffixed += [policy, binding]
    # So do the ClusterRoles aggregated into users' view and edit.
    users = [r for r in by_kind(docs, "ClusterRole") if _aggregated(r)]
    assert sorted(r["metadata"]["name"] for r in users) == ["ops-edit", "ops-view"]
    suffixed += users
    assert {d["metadata"]["name"] for d in docs
            if d["kind"] != "Service" and d not in suffixed} == {"ops"}


@pytest.mark.parametrize(("args", "release", "service"), [
    ([], "uplift", "uplift-operator-metrics"),
    # A 45-character release: a 61-character full name, 69 with "-metrics".
    ([], "r" * 45, "r" * 45 + "-uplift-op-metrics"),
    # Cut at 55 on a "-": no "--metrics".
    (["--set", "fullnameOverride=" + "a" * 54 + "-b" + "c" * 7], "uplift", "a" * 54 + "-metrics")],
    ids=["default", "long-release", "long-override"])
def test_the_metrics_service_name_is_a_dns_label_and_the_alerts_job(
        args: list[str], release: str, service: str) -> None:
    """A Service's name is a DNS label (63 characters): the full name (itself up to 63) is cut to
    55 before "-metrics". The ServiceMonitor's `job`, which the alerts and the dashboards read,
    is that name."""
    docs = helm_template(*args, *RULES_ON, "--set", "dashboards.enabled=true", release=release)
    [svc] = by_kind(docs, "Service")
    name = svc["metadata"]["name"]
    assert name == service
    assert len(name) <= 63 and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name), name
    rules = json.dumps(by_kind(docs, "PrometheusRule")[0]["spec"])
    assert f'job=\\"{name}\\"' in rules or f'job="{name}"' in rules
    dashboards = json.dumps([d["data"] for d in docs if "-dashboard-" in d["metadata"]["name"]])
    assert name in dashboards


def test_default_render_is_cluster_wide_with_one_cluster_peering() -> None:
    docs = helm_template()
    assert [d["metadata"]["name"] for d in by_kind(docs, "ClusterKopfPeering")] == ["uplift-operator"]
    assert not by_kind(docs, "Role") and not by_kind(docs, "KopfPeering")
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--all-namespaces" in container["args"]
    assert "--peering=uplift-operator" in container["args"]
    # The operator's default lifetime for its scope (8 s cluster-wide; longer over many
    # namespaces, each a KopfPeering to keep alive: settings.recommended_peering_lifetime).
    assert not [e for e in container["env"] if e["name"] == "UPLIFT_PEERING_LIFETIME"]
    assert {"name": "POD_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"])  # kopf's peering identity: the pod's name
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "readyz"}
    assert by_kind(docs, "PodDisruptionBudget")[0]["spec"] == {
        "maxUnavailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow",
        "selector": by_kind(docs, "Deployment")[0]["spec"]["selector"]}


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * {"Mi": 2**20, "Gi": 2**30}[unit]


def test_the_manifests_run_the_operator_as_the_chart_does() -> None:
    """Probe timings, resources and security contexts of manifests/operator.yaml are the chart's
    defaults (a probe's timeout defaults to 1 s without one: a replica answering /healthz a bit
    late under load would be restarted by the manifests only)."""
    chart = by_kind(helm_template(), "Deployment")[0]
    [plain] = [d for d in yaml.safe_load_all((ROOT / "manifests" / "operator.yaml").read_text())
               if d and d["kind"] == "Deployment"]
    assert chart["spec"]["replicas"] == plain["spec"]["replicas"]
    pods = chart["spec"]["template"]["spec"], plain["spec"]["template"]["spec"]
    assert pods[0]["securityContext"] == pods[1]["securityContext"]
    (ours,), (theirs,) = (pod["containers"] for pod in pods)
    for key in ("startupProbe", "livenessProbe", "readinessProbe", "resources",
                "securityContext", "ports"):
        assert ours[key] == theirs[key], key
    assert theirs["livenessProbe"]["timeoutSeconds"] == theirs["readinessProbe"][
        "timeoutSeconds"] == theirs["startupProbe"]["timeoutSeconds"] == 5
    # A start may take 3 minutes on /healthz before the liveness probe may restart the pod.
    startup = theirs["startupProbe"]
    assert startup["httpGet"] == theirs["livenessProbe"]["httpGet"] == {
        "path": "/healthz", "port": "healthz"}
    assert startup["periodSeconds"] * startup["failureThreshold"] == 180
    # The memory limit covers what docs/operator.md ("Scale") measured at rest for 10,000
    # UpliftModels, 963 MB to 1.24 GB: a replica killed for memory at its start-up peak would
    # restart into the same peak, and its standby after it (docs/install.md, "Sizing the
    # operator's memory").
    assert _bytes(theirs["resources"]["limits"]["memory"]) > 1.24e9
    # Both spread their two replicas over nodes, each selecting its own pods.
    for deployment, pod in zip((chart, plain), pods, strict=True):
        assert pod["affinity"] == _spread(deployment["spec"]["selector"]["matchLabels"], "soft")


def _spread(labels: dict[str, str], mode: str) -> dict[str, Any]:
    term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
    if mode == "hard":
        return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term}]}}


def test_replicas_spread_over_nodes_unless_told_otherwise() -> None:
    """Two replicas on one node lose the acting one and its standby together with that node:
    by default the chart prefers other nodes for them (soft), on request requires it (hard);
    one replica needs no spread; an affinity of the installer's replaces the chart's."""
    selector = {"app.kubernetes.io/name": "uplift-operator", "app.kubernetes.io/instance": "uplift"}

    def affinity(*values: str) -> Any:
        pod = by_kind(helm_template(*values), "Deployment")[0]["spec"]["template"]["spec"]
        return pod.get("affinity")

    assert affinity() == _spread(selector, "soft")
    assert affinity("--set", "podAntiAffinity=hard") == _spread(selector, "hard")
    assert affinity("--set", "replicas=3", "--set", "podAntiAffinity=soft") == _spread(selector, "soft")
    assert affinity("--set", "podAntiAffinity=none") is None
    assert affinity("--set", "replicas=1") is None
    own = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}]}}}
    assert affinity("--set-json", f"affinity={json.dumps(own)}") == own


def test_namespaced_render_has_a_role_and_a_peering_per_namespace() -> None:
    docs = helm_template(*NAMESPACED)
    assert sorted(d["metadata"]["namespace"] for d in by_kind(docs, "KopfPeering")) == ["team-a", "team-b"]
    assert sorted(d["metadata"]["namespace"] for d in by_kind(docs, "Role")) == ["team-a", "team-b"]
    assert sorted(d["metadata"]["namespace"] for d in by_kind(docs, "RoleBinding")) == ["team-a", "team-b"]
    assert not by_kind(docs, "ClusterKopfPeering")
    # Roles only: nothing cluster-wide, and no Role grants a cluster-scoped resource.
    assert not operator_roles(docs) and not by_kind(docs, "ClusterRoleBinding")
    assert all(_aggregated(role) for role in by_kind(docs, "ClusterRole"))  # users', unbound
    granted = {r for role in by_kind(docs, "Role") for rule in role["rules"] for r in rule["resources"]}
    assert not granted & {"namespaces", "customresourcedefinitions", "clusterkopfpeerings"}
    args = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert "--all-namespaces" not in args


def test_the_chart_names_its_release_so_that_helm_adopts_the_peerings_the_operator_creates(
) -> None:
    """A peering object a pod creates (one missing, or before Helm creates the chart's: unknown
    kinds come after the Deployment) must carry the release's ownership metadata, or the
    release rendering it fails ("invalid ownership metadata"). Whether the chart renders the
    peering objects or not (switched on later, they are adopted); standalone creates none."""
    from uplift_operator.handlers.readiness import PeeringObjects

    for values in ([], NAMESPACED, ["--set", "peering.create=false"],
                   [*NAMESPACED, "--set", "peering.create=false"]):
        docs = helm_template(*values, release="prod")
        container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        config = parse_args([a for a in container["args"] if a != "run"]
                            + ["--helm-release", env["UPLIFT_HELM_RELEASE"],
                               "--helm-release-namespace", env["UPLIFT_HELM_RELEASE_NAMESPACE"]])
        assert config.helm_release == ("prod", "uplift-system")
        # Only a chart that renders them makes the operator wait for Helm to create them:
        # with peering.create=false nothing else creates them, and waiting is an outage.
        assert (env.get("UPLIFT_HELM_CREATES_PEERINGS") == "true") == (
            "peering.create=false" not in values)
        namespace = None if config.all_namespaces else config.namespaces[0]
        created = PeeringObjects(None, config.peering_name,  # type: ignore[arg-type]
                                 config.helm_release).body(namespace)["metadata"]
        rendered = by_kind(helm_template(*values, "--set", "peering.create=true",
                                         release="prod"),
                           "ClusterKopfPeering" if namespace is None else "KopfPeering")[0]
        assert created["name"] == rendered["metadata"]["name"]
        # What Helm checks before it adopts: its label as the chart renders it, the release.
        assert created["labels"]["app.kubernetes.io/managed-by"] == (
            rendered["metadata"]["labels"]["app.kubernetes.io/managed-by"])
        assert created["annotations"] == {"meta.helm.sh/release-name": "prod",
                                          "meta.helm.sh/release-namespace": "uplift-system"}
    standalone = helm_template("--set", "standalone=true", "--set", "replicas=1")
    container = by_kind(standalone, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in container["env"] if e["name"].startswith("UPLIFT_HELM_RELEASE")]
    manifests = (ROOT / "manifests" / "operator.yaml").read_text()
    assert "UPLIFT_HELM_RELEASE" not in manifests and "--helm-release" not in manifests


def _secret_reads(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if "secrets" in r["resources"] and set(r["verbs"]) & {"get", "list", "watch"}]


@pytest.mark.parametrize("values", [[], NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_secret_names_limit_reading_secrets_to_those_names(values: list[str]) -> None:
    # Without the option: get by any name, never list or watch.
    for role in operator_roles(helm_template(*values)) + by_kind(helm_template(*values), "Role"):
        assert [r["verbs"] for r in _secret_reads(role["rules"])] == [["get"]]
        assert "resourceNames" not in _secret_reads(role["rules"])[0]
    docs = helm_template(*values, "--set", "rbac.secretNames={mlflow-credentials,mlflow-token}")
    roles = operator_roles(docs) + by_kind(docs, "Role")
    assert roles
    for role in roles:
        reads = _secret_reads(role["rules"])
        assert reads == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
                          "resourceNames": ["mlflow-credentials", "mlflow-token"]}]
        # Creating the decision-key Secrets cannot be limited by name; it stays create-only.
        creates = [r for r in role["rules"] if "secrets" in r["resources"] and r not in reads]
        assert creates == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}]


def _grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
               for r in rules)


def test_every_mode_may_block_the_deletion_of_the_owners_it_names() -> None:
    """The children's owner references set blockOwnerDeletion; with the
    OwnerReferencesPermissionEnforcement admission plugin (OpenShift) the API server refuses
    them unless the writer may update the owner's finalizers."""
    from uplift_operator.api.crds import CRDS
    from uplift_operator.render import naming

    reference = naming.owner_reference(naming.Owner(name="m", namespace="ns", uid="u"))
    assert reference["blockOwnerDeletion"] is True
    group = reference["apiVersion"].split("/")[0]
    plural = next(crd.plural for crd in CRDS if crd.kind == reference["kind"])
    manifest_roles = [d for d in yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
                      if d and d["kind"] == "ClusterRole"]
    for roles in (manifest_roles, operator_roles(helm_template()),
                  by_kind(helm_template(*NAMESPACED), "Role")):
        assert roles
        for role in roles:
            assert _grants(role["rules"], group, f"{plural}/finalizers", "update"), role["metadata"]
            # The subresource only: never the right to write the owners themselves.
            assert not _grants(role["rules"], group, plural, "update")


def _policy(docs: list[dict[str, Any]],
            resource: str = "secrets") -> tuple[dict[str, Any], dict[str, Any]]:
    """The one ValidatingAdmissionPolicy matching ``resource`` and its one binding."""
    policies = [p for p in by_kind(docs, "ValidatingAdmissionPolicy")
                if any(resource in rule["resources"]
                       for rule in p["spec"]["matchConstraints"]["resourceRules"])]
    names = {p["metadata"]["name"] for p in policies}
    bindings = [b for b in by_kind(docs, "ValidatingAdmissionPolicyBinding")
                if b["spec"]["policyName"] in names]
    assert len(policies) == 1 and len(bindings) == 1, [d["kind"] for d in docs]
    return policies[0], bindings[0]


#: The manifests' identity: the ServiceAccount uplift-operator of any namespace, so that a
#: kustomize overlay moving it (``namespace:``) keeps it judged. The chart names its exact one.
MANIFESTS_BY_THE_OPERATOR = [{"name": "by-the-operator", "expression": (
    'request.userInfo.username.startsWith("system:serviceaccount:") && '
    'request.userInfo.username.endsWith(":uplift-operator")')}]


def _judges(conditions: list[dict[str, Any]], username: str) -> bool:
    """Whether the policy's matchConditions select a request by ``username``: the two forms
    the chart and the manifests write, read as CEL reads them (any other form fails here)."""
    [condition] = conditions
    expression = condition["expression"]
    exact = re.fullmatch(r'request\.userInfo\.username == "([^"\\]*)"', expression)
    if exact:
        return username == exact.group(1)
    parts = re.fullmatch(r'request\.userInfo\.username\.startsWith\("([^"\\]*)"\) && '
                         r'request\.userInfo\.username\.endsWith\("([^"\\]*)"\)', expression)
    assert parts, expression
    return username.startswith(parts.group(1)) and username.endswith(parts.group(2))


def _without_identity(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "matchConditions"}


def _same_policy_as_the_manifests(policy: dict[str, Any], plain: dict[str, Any],
                                  user: str = OPERATOR_IDENTITY) -> None:
    """The chart's policy is the manifests' but for the identity: the release's exact one."""
    assert _without_identity(policy["spec"]) == _without_identity(plain["spec"])
    assert plain["spec"]["matchConditions"] == MANIFESTS_BY_THE_OPERATOR
    assert policy["spec"]["matchConditions"] == [
        {"name": "by-the-operator", "expression": f'request.userInfo.username == "{user}"'}]
    assert _judges(plain["spec"]["matchConditions"], user)


def test_secrets_policy_is_on_by_default_in_every_mode_and_the_same_as_the_manifests() -> None:
    """RBAC's create + get on secrets would let the operator's token mint a token for any
    ServiceAccount; the ValidatingAdmissionPolicy admits only its decision-key Secrets
    (tests/integration/packaging/test_secrets_policy.py judges it on a real API server)."""
    manifests = [d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "secrets-policy.yaml").read_text()) if d]
    plain_policy, plain_binding = _policy(manifests)
    for values in ([], NAMESPACED):
        policy, binding = _policy(helm_template(*values))
        _same_policy_as_the_manifests(policy, plain_policy)  # release "uplift" in uplift-system
        assert binding["spec"] == plain_binding["spec"]
    assert plain_binding["spec"] == {"policyName": plain_policy["metadata"]["name"],
                                     "validationActions": ["Deny"]}
    spec = plain_policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["secrets"],
         "operations": ["CREATE", "UPDATE"]}]
    # The operator's ServiceAccount, in uplift-system or wherever an overlay puts it; nobody else.
    for user in (OPERATOR_IDENTITY, "system:serviceaccount:ml-platform:uplift-operator"):
        assert _judges(spec["matchConditions"], user), user
    for user in ("system:serviceaccount:uplift-system:deployer", "uplift-operator",
                 "system:serviceaccount:uplift-system:uplift-operator-2",
                 "system:serviceaccount:uplift-system:not-uplift-operator",
                 "system:admin", "system:serviceaccount:kube-system:generic-garbage-collector"):
        assert not _judges(spec["matchConditions"], user), user

    # Another release, namespace and ServiceAccount: the policy judges that identity.
    policy, binding = _policy(helm_template("--set", "serviceAccount.name=ops-sa", release="prod"))
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == "prod-uplift-operator"
    assert policy["spec"]["matchConditions"][0]["expression"] == (
        'request.userInfo.username == "system:serviceaccount:uplift-system:ops-sa"')
    assert not by_kind(helm_template("--set", "admissionPolicy.enabled=false"),
                       "ValidatingAdmissionPolicy")


def test_secrets_policy_admits_what_the_operator_code_creates() -> None:
    """The literals the policy's CEL checks are what render.decision_key makes."""
    from uplift_operator.render import decision_key, naming

    owner = naming.Owner(name="m", namespace="ns", uid="u")
    secret = decision_key.decision_key_secret(owner, "k")
    (reference,) = secret["metadata"]["ownerReferences"]
    suffix = naming.decision_key_secret(owner.name).removeprefix(owner.name)
    cel = " ".join(v["expression"] for v in _policy(helm_template())[0]["spec"]["validations"])
    assert f'object.type == "{secret["type"]}"' in cel
    assert f'.kind == "{reference["kind"]}"' in cel and reference["controller"] is True
    assert f'.apiVersion.startsWith("{reference["apiVersion"].split("/")[0]}/")' in cel
    assert f'object.metadata.name == variables.owners[0].name + "{suffix}"' in cel
    assert list(secret["stringData"]) == [decision_key.DECISION_KEY]
    assert f'size(object.data) == 1 && "{decision_key.DECISION_KEY}" in object.data' in cel


def _manifest_policy(name: str, resource: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return _policy([d for d in yaml.safe_load_all((ROOT / "manifests" / name).read_text()) if d],
                   resource)


def test_seldondeployments_policy_is_on_by_default_in_every_mode_and_the_same_as_the_manifests(
) -> None:
    """RBAC's create + patch on seldondeployments would let the operator's token have Seldon
    run any image with any privileges; a second ValidatingAdmissionPolicy admits only what
    render.seldon makes (tests/integration/packaging/test_seldondeployments_policy.py judges it
    on a real API server). Without allow-lists the chart's is the manifest's."""
    plain_policy, plain_binding = _manifest_policy("seldondeployments-policy.yaml",
                                                   "seldondeployments")
    for values in ([], NAMESPACED):
        docs = helm_template(*values)
        # Secrets, SeldonDeployments, ConfigMaps, PodDisruptionBudgets
        assert len(by_kind(docs, "ValidatingAdmissionPolicy")) == 4
        assert len(by_kind(docs, "ValidatingAdmissionPolicyBinding")) == 4
        policy, binding = _policy(docs, "seldondeployments")
        assert policy["metadata"]["name"] == plain_policy["metadata"]["name"]
        _same_policy_as_the_manifests(policy, plain_policy)  # release "uplift" in uplift-system
        assert binding["spec"] == plain_binding["spec"]
    assert plain_binding["spec"] == {"policyName": plain_policy["metadata"]["name"],
                                     "validationActions": ["Deny"]}
    spec = plain_policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    # PATCH (server-side apply, merge patches) is admission's UPDATE; DELETE and the status
    # and scale subresources are not matched. v1alpha2/v1alpha3 requests are judged as v1.
    assert spec["matchConstraints"] == {"matchPolicy": "Equivalent", "resourceRules": [
        {"apiGroups": ["machinelearning.seldon.io"], "apiVersions": ["v1"],
         "resources": ["seldondeployments"], "operations": ["CREATE", "UPDATE"]}]}
    secrets_policy, _ = _manifest_policy("secrets-policy.yaml", "secrets")
    assert spec["matchConditions"] == secrets_policy["spec"]["matchConditions"]

    # Another release, namespace and ServiceAccount: the policy judges that identity.
    docs = helm_template("--set", "serviceAccount.name=ops-sa", release="prod")
    policy, binding = _policy(docs, "seldondeployments")
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == (
        "prod-uplift-operator-seldondeployments")
    assert policy["spec"]["matchConditions"] == _policy(docs)[0]["spec"]["matchConditions"] == [
        {"name": "by-the-operator", "expression": (
            'request.userInfo.username == "system:serviceaccount:uplift-system:ops-sa"')}]
    off = helm_template("--set", "admissionPolicy.enabled=false")
    assert not by_kind(off, "ValidatingAdmissionPolicy")
    assert not by_kind(off, "ValidatingAdmissionPolicyBinding")


def test_configmaps_policy_is_on_by_default_in_every_mode_and_the_same_as_the_manifests(
) -> None:
    """RBAC's create + patch on configmaps would let the operator's token rewrite any ConfigMap
    (kube-system/aws-auth, coredns, ...); a third ValidatingAdmissionPolicy admits only its
    campaigns ConfigMaps (tests/integration/packaging/test_configmaps_policy.py judges it on a
    real API server)."""
    plain_policy, plain_binding = _manifest_policy("configmaps-policy.yaml", "configmaps")
    for values in ([], NAMESPACED):
        policy, binding = _policy(helm_template(*values), "configmaps")
        assert policy["metadata"]["name"] == plain_policy["metadata"]["name"]
        _same_policy_as_the_manifests(policy, plain_policy)  # release "uplift" in uplift-system
        assert binding["spec"] == plain_binding["spec"]
    assert plain_binding["spec"] == {"policyName": plain_policy["metadata"]["name"],
                                     "validationActions": ["Deny"]}
    spec = plain_policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"],
         "operations": ["CREATE", "UPDATE"]}]
    secrets_policy, _ = _manifest_policy("secrets-policy.yaml", "secrets")
    assert spec["matchConditions"] == secrets_policy["spec"]["matchConditions"]

    docs = helm_template("--set", "serviceAccount.name=ops-sa", release="prod")
    policy, binding = _policy(docs, "configmaps")
    assert policy["metadata"]["name"] == binding["spec"]["policyName"] == (
        "prod-uplift-operator-configmaps")
    assert policy["spec"]["matchConditions"] == _policy(docs)[0]["spec"]["matchConditions"]
    assert not by_kind(helm_template("--set", "admissionPolicy.enabled=false"),
                       "ValidatingAdmissionPolicy")


def test_configmaps_policy_admits_what_the_operator_code_writes() -> None:
    """The literals the policy's CEL checks are what render.campaigns.config_map makes."""
    from uplift_operator.render import campaigns, naming

    owner = naming.Owner(name="m", namespace="ns", uid="u")
    manifest = campaigns.config_map(owner, "{}")
    (reference,) = manifest["metadata"]["ownerReferences"]
    suffix = naming.campaigns_config_map(owner.name).removeprefix(owner.name)
    cel = " ".join(v["expression"]
                   for v in _policy(helm_template(), "configmaps")[0]["spec"]["validations"])
    assert f'.kind == "{reference["kind"]}"' in cel and reference["controller"] is True
    assert f'.apiVersion.startsWith("{reference["apiVersion"].split("/")[0]}/")' in cel
    assert f'object.metadata.name == variables.owners[0].name + "{suffix}"' in cel
    labels = manifest["metadata"]["labels"]
    assert (f'variables.labels[?"{naming.MANAGED_BY_LABEL}"].orValue("") == '
            f'"{labels[naming.MANAGED_BY_LABEL]}"') in cel
    assert labels[naming.MODEL_LABEL] == reference["name"]
    assert (f'variables.labels[?"{naming.MODEL_LABEL}"].orValue("") == '
            'variables.owners[0].name') in cel
    assert list(manifest["data"]) == [campaigns.DATA_KEY] and "binaryData" not in manifest
    assert f'.all(k, k == "{campaigns.DATA_KEY}")' in cel


def _cel_regex(expression: str) -> str:
    """The one regular expression literal an expression passes to ``matches``."""
    (literal,) = re.findall(r'\.matches\(("(?:[^"\\]|\\.)*")\)', expression)
    decoded: str = json.loads(literal)  # the chart writes it with toJson: a CEL string too
    return decoded


def test_seldondeployments_policy_holds_the_chart_allow_lists_as_the_operator_does() -> None:
    """allowed.runtimeImages and allowed.serviceAccounts each add one rule, anchored so that it
    admits exactly what ServingPolicy (re.fullmatch, the operator's runtimeImage always allowed)
    admits; the shape rules stay the manifest's."""
    from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
    from uplift_operator.domain.validation import ServingPolicy

    images = [r"ghcr\.io/uplift-dev/uplift-runtime:.*", r"registry\.example/uplift-(a|b)",
              "a|b"]
    accounts = ["uplift-serving", "team-.*"]
    policy, _ = _policy(helm_template("--set-json", f"allowed.runtimeImages={json.dumps(images)}",
                                      "--set-json",
                                      f"allowed.serviceAccounts={json.dumps(accounts)}"),
                        "seldondeployments")
    plain, _ = _manifest_policy("seldondeployments-policy.yaml", "seldondeployments")
    shape = plain["spec"]["validations"]
    assert policy["spec"]["validations"][:len(shape)] == shape
    image_rule, account_rule = (v["expression"] for v in policy["spec"]["validations"][len(shape):])
    # The runtime image the operator is given (runtimeImage empty: the release's own).
    default = OperatorConfig.runtime_image
    assert yaml.safe_load((CHART / "values.yaml").read_text())["runtimeImage"] == ""
    assert f'c.?image.orValue("") == {json.dumps(default)} ||' in image_rule
    assert "variables.containers.all(" in image_rule  # containers, initContainers, ephemeral
    assert "!has(s.serviceAccountName) ||" in account_rule  # none: the namespace's default

    serving = ServingPolicy(runtime_images=tuple(images), service_accounts=tuple(accounts),
                            default_runtime_image=default)

    def operator_allows(image: str, account: str) -> bool:
        spec = UpliftModelSpec.model_validate({
            "model": {"registeredModel": "m", "alias": "champion"}, "treatments": [{"name": "t"}],
            "rollout": {"steps": [{"weight": 50}],
                        "gates": [{"name": "errors", "type": "errorRate", "max": 0.05}]},
            "serving": {"runtimeImage": image, "serviceAccountName": account}})
        return not serving.problems(spec)

    image_regex, account_regex = _cel_regex(image_rule), _cel_regex(account_rule)
    for image in (default, "ghcr.io/uplift-dev/uplift-runtime:0.2.0", "registry.example/uplift-a",
                  "registry.example/uplift-ab", "registry.example/uplift-b:1", "a", "b", "ab",
                  "evil.example/ghcr.io/uplift-dev/uplift-runtime:1", "ghcr.io/uplift-dev/x"):
        policy_allows = image == default or bool(re.search(image_regex, image))
        assert operator_allows(image, "uplift-serving") == policy_allows, image
    for account in ("uplift-serving", "team-a", "uplift-serving-2", "my-uplift-serving",
                    "default", "team-"):
        assert operator_allows(default, account) == bool(re.search(account_regex, account)), (
            account)


@pytest.mark.parametrize(("values", "message"), [
    (["--set", "standalone=true"],  # replicas' default is 2
     "standalone=true runs the operator without peering, so each of the 2 replicas would act on "
     "every resource at once: set replicas=1 with standalone=true"),
    (["--set", "standalone=true", "--set", "replicas=3"], "each of the 3 replicas"),
    (["--set", "watch.allNamespaces=false"],
     "watch.allNamespaces=false needs watch.namespaces (the exact names to watch"),
    (["--set", "watch.allNamespaces=false", "--set-json", "watch.namespaces=[]"],
     "watch.allNamespaces=false needs watch.namespaces"),
    (["--set", "podDisruptionBudget.minAvailable=0"],
     "podDisruptionBudget.minAvailable=0 lets every replica be evicted at once"),
    (["--set", "podDisruptionBudget.minAvailable=0%"],
     "podDisruptionBudget.minAvailable=0% lets every replica be evicted at once"),
    # Judged on the number Kubernetes reads in the budget pdb.yaml renders, not on the text.
    (["--set-string", "podDisruptionBudget.minAvailable=00"],
     "podDisruptionBudget.minAvailable=00 lets every replica be evicted at once"),
    (["--set-string", "podDisruptionBudget.minAvailable=00%"],
     "podDisruptionBudget.minAvailable=00% lets every replica be evicted at once"),
    (["--set", "serviceAccount.create=false"],
     "serviceAccount.create=false with rbac.create=true needs serviceAccount.name"),
    (["--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default"],
     'would be bound to the "default" ServiceAccount of default'),
    (["--set", "serviceAccount.create=false", *NAMESPACED],
     "serviceAccount.create=false with rbac.create=true needs serviceAccount.name"),
    (["--set", "serviceAccount.name=default"],  # create=true (the default): made or taken over
     'serviceAccount.name=default with rbac.create=true: the chart would create (or take over) '
     'the "default" ServiceAccount of default'),
    (["--set", "serviceAccount.create=true", "--set", "serviceAccount.name=default",
      *NAMESPACED],
     "serviceAccount.name=default with rbac.create=true"),
    (["--set-json", 'extraArgs=["--peering=other"]'],
     "extraArgs: --peering is set by the chart from peering.name"),
    (["--set-json", 'extraArgs=["--peering", "other"]'],
     "extraArgs: --peering is set by the chart from peering.name"),
    (["--set-json", 'watch.namespaces=["team-a","team-a"]', "--set", "watch.allNamespaces=false"],
     "/watch/namespaces"),
    (["--set", "prometheusRule.enabled=true"],
     'every alert would read job "x-uplift-operator-metrics", which nothing scrapes '
     "(UpliftOperatorDown paging for ever, the others silent). Set serviceMonitor.enabled=true or "
     "podMonitor.enabled=true, or prometheusRule.operatorJob"),
    (["--set", "prometheus.queryLag=3541"],
     "prometheus.queryLag=3541 with prometheus.scrapeInterval=30: the operator keeps the last "
     "queryLag + 2 scrape intervals"),
    (["--set", "prometheus.queryLag=3001", "--set", "prometheus.scrapeInterval=300",
      "--set", "servingPodMonitor.interval=5m"],
     "Lower prometheus.queryLag to at most 3000"),
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_STANDALONE", "value": "true"}]'],
     "extraEnv: UPLIFT_STANDALONE=true: peering is off only with the values standalone=true and "
     "replicas=1"),
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_STANDALONE", "value": " TRUE "}]'],
     "extraEnv: UPLIFT_STANDALONE=TRUE: peering is off only"),  # as settings' switches read it
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_STANDALONE", "value": "yes"}]'],
     "extraEnv: UPLIFT_STANDALONE=yes (the operator takes true or false only): peering is off"),
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_STANDALONE", "valueFrom": '
      '{"configMapKeyRef": {"name": "c", "key": "k"}}}]'],
     "extraEnv: UPLIFT_STANDALONE from valueFrom: peering is off only"),
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_PEERING", "value": "mine"}]'],
     "extraEnv: UPLIFT_PEERING: the peering object is the chart's, named by peering.name"),
    # Beside standalone=true (no --peering rendered) the operator would refuse to start on it.
    (["--set", "standalone=true", "--set", "replicas=1",
      "--set-json", 'extraEnv=[{"name": "UPLIFT_PEERING", "value": "mine"}]'],
     "with standalone=true the operator refuses to start on it. Set peering.name instead (none "
     "with standalone=true)"),
    (["--set-json", 'extraEnv=[{"name": "UPLIFT_PEERING", "valueFrom": '
      '{"configMapKeyRef": {"name": "c", "key": "k"}}}]'],
     "extraEnv: UPLIFT_PEERING: the peering object is the chart's"),
    (["--set", "standalone=true", "--set", "replicas=1",
      "--set-json", 'extraEnv=[{"name": "UPLIFT_STANDALONE", "value": "true"}]'],
     "Set standalone=true with replicas=1, or keep peering"),
    (["--set", "podDisruptionBudget.maxUnavailable=0"],
     "podDisruptionBudget.maxUnavailable=0 lets no replica be evicted, so every node drain "
     "would wait for ever: set it to 1 (the default) or more"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=0%"],
     "podDisruptionBudget.maxUnavailable=0% lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=00"],  # rendered 00: YAML's 0
     "podDisruptionBudget.maxUnavailable=00 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=00%"],
     "podDisruptionBudget.maxUnavailable=00% lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.minAvailable=100%"],
     "podDisruptionBudget.minAvailable=100% keeps all 2 replicas: no replica may ever be "
     "evicted, so every node drain would wait for ever. Set minAvailable to at most 1"),
    (["--set", "podDisruptionBudget.minAvailable=2"],
     "podDisruptionBudget.minAvailable=2 keeps all 2 replicas"),
    (["--set", "podDisruptionBudget.minAvailable=4", "--set", "replicas=3"],
     "podDisruptionBudget.minAvailable=4 keeps all 3 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=51%"],  # 1.02 rounds up to 2
     "podDisruptionBudget.minAvailable=51% keeps all 2 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=67%", "--set", "replicas=3"],
     "podDisruptionBudget.minAvailable=67% keeps all 3 replicas: no replica may ever be "
     "evicted, so every node drain would wait for ever. Set minAvailable to at most 2"),
    (["--set-string", "podDisruptionBudget.minAvailable=099%"],  # Kubernetes: decimal, 99%
     "podDisruptionBudget.minAvailable=099% keeps all 2 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=08", "--set", "replicas=8"],
     "podDisruptionBudget.minAvailable=08 keeps all 8 replicas"),  # rendered 08: YAML's 8
    # Signed integers and floats YAML reads as whole numbers (Kubernetes takes them so).
    (["--set-string", "podDisruptionBudget.maxUnavailable=+0"],
     "podDisruptionBudget.maxUnavailable=+0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=-0"],
     "podDisruptionBudget.maxUnavailable=-0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=0.0"],
     "podDisruptionBudget.maxUnavailable=0.0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=.0"],
     "podDisruptionBudget.maxUnavailable=.0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=0e5"],
     "podDisruptionBudget.maxUnavailable=0e5 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.minAvailable=+0x0"],
     "podDisruptionBudget.minAvailable=+0x0 lets every replica be evicted at once"),
    (["--set-string", "podDisruptionBudget.minAvailable=0.0"],
     "podDisruptionBudget.minAvailable=0.0 lets every replica be evicted at once"),
    (["--set-string", "podDisruptionBudget.minAvailable=08.0", "--set", "replicas=8"],
     "podDisruptionBudget.minAvailable=08.0 keeps all 8 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=+08", "--set", "replicas=8"],
     "podDisruptionBudget.minAvailable=+08 keeps all 8 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=0.2e1"],
     "podDisruptionBudget.minAvailable=0.2e1 keeps all 2 replicas"),
    # pdb.yaml renders the number judged, not the text (YAML read " 0", "0 # none", "!!int 0"
    # as 0 behind a judge of the text); text that is no number, or out of range, is refused.
    (["--set-string", "podDisruptionBudget.maxUnavailable= 0"],
     "podDisruptionBudget.maxUnavailable= 0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=\t0"],
     "podDisruptionBudget.maxUnavailable=\t0 lets no replica be evicted"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=0 # none"],
     'podDisruptionBudget.maxUnavailable="0 # none" is neither a whole number nor a percent: '
     'set it to a whole number (e.g. 1) or a percent (e.g. "50%")'),
    (["--set-string", "podDisruptionBudget.maxUnavailable=!!int 0"],
     'podDisruptionBudget.maxUnavailable="!!int 0" is neither a whole number nor a percent'),
    (["--set-string", "podDisruptionBudget.minAvailable= 2"],
     "podDisruptionBudget.minAvailable= 2 keeps all 2 replicas"),
    (["--set-string", "podDisruptionBudget.minAvailable=2 # all"],
     'podDisruptionBudget.minAvailable="2 # all" is neither a whole number nor a percent'),
    (["--set-string", "podDisruptionBudget.minAvailable= 200%"],
     'podDisruptionBudget.minAvailable=" 200%" is out of range: Kubernetes takes a whole number '
     "from 0 to 2147483647 or a percent from 0% to 100%"),
    (["--set-string", "podDisruptionBudget.maxUnavailable=101%"],
     'podDisruptionBudget.maxUnavailable="101%" is out of range'),
    (["--set", "podDisruptionBudget.maxUnavailable=2147483648"],
     'podDisruptionBudget.maxUnavailable="2147483648" is out of range'),
    (["--set", "podDisruptionBudget.maxUnavailable=9223372036854775808"],  # Sprig's int: 0
     'podDisruptionBudget.maxUnavailable="9223372036854775808" is out of range'),
    (["--set", "podDisruptionBudget.minAvailable=99999999999999999999"],
     'podDisruptionBudget.minAvailable="99999999999999999999" is out of range'),
    (["--set", "podDisruptionBudget.maxUnavailable=1e400"],  # Sprig's float64: 0
     'podDisruptionBudget.maxUnavailable="1e400" is out of range'),
    (["--set", "podDisruptionBudget.maxUnavailable=-1"],
     'podDisruptionBudget.maxUnavailable="-1" is out of range'),
    (["--set", "podDisruptionBudget.maxUnavailable=1.5"],
     'podDisruptionBudget.maxUnavailable="1.5" is neither a whole number nor a percent'),
    (["--set-string", "podDisruptionBudget.maxUnavailable=-"],  # was a YAML error of pdb.yaml
     'podDisruptionBudget.maxUnavailable="-" is neither a whole number nor a percent'),
    (["--set-string", "podDisruptionBudget.minAvailable=%"],
     'podDisruptionBudget.minAvailable="%" is neither a whole number nor a percent'),
    # YAML reads a number only from text starting with a sign, a digit or a dot: _2_ is text.
    (["--set", "replicas=3", "--set-string", "podDisruptionBudget.minAvailable=_2_"],
     'podDisruptionBudget.minAvailable="_2_" is neither a whole number nor a percent'),
], ids=["standalone-2-replicas", "standalone-3-replicas", "no-namespaces", "empty-namespaces",
        "min-available-0", "min-available-0-percent", "min-available-00",
        "min-available-00-percent", "no-service-account",
        "default-service-account", "no-service-account-namespaced",
        "created-default-service-account", "created-default-service-account-namespaced",
        "peering-in-extra-args", "peering-in-extra-args-apart", "namespace-twice",
        "alerts-without-a-scrape", "query-lag-past-an-hour", "query-lag-past-an-hour-slow-scrapes",
        "standalone-in-extra-env", "standalone-in-extra-env-any-case",
        "standalone-in-extra-env-neither-true-nor-false", "standalone-in-extra-env-value-from",
        "peering-in-extra-env", "peering-in-extra-env-beside-standalone",
        "peering-in-extra-env-value-from", "standalone-in-extra-env-beside-the-value",
        "max-unavailable-0", "max-unavailable-0-percent", "max-unavailable-00",
        "max-unavailable-00-percent", "min-available-100-percent",
        "min-available-every-replica", "min-available-over-the-replicas",
        "min-available-percent-rounded-up", "min-available-percent-of-3",
        "min-available-099-percent", "min-available-08-of-8", "max-unavailable-plus-0",
        "max-unavailable-minus-0", "max-unavailable-0.0", "max-unavailable-.0",
        "max-unavailable-0e5", "min-available-plus-0x0", "min-available-0.0",
        "min-available-08.0-of-8", "min-available-plus-08-of-8", "min-available-0.2e1",
        "max-unavailable-blank-0", "max-unavailable-tab-0", "max-unavailable-0-comment",
        "max-unavailable-int-tag-0", "min-available-blank-2", "min-available-2-comment",
        "min-available-blank-200-percent", "max-unavailable-101-percent",
        "max-unavailable-past-int32", "max-unavailable-past-int64",
        "min-available-past-int64", "max-unavailable-past-float", "max-unavailable-negative",
        "max-unavailable-1.5", "max-unavailable-dash", "min-available-percent-sign",
        "min-available-underscored"])
def test_values_that_cannot_work_fail_at_render_with_what_to_set(values: list[str],
                                                                 message: str) -> None:
    # `helm install` and `upgrade` render as `template` does (`helm lint` reports a template's
    # `fail` as INFO only, so it cannot be the judge).
    result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                 *values)
    assert result.returncode != 0, result.stdout[-2000:]
    assert message in result.stderr and len(result.stderr) < 500, result.stderr


@pytest.mark.parametrize("extra", [
    ["--namespace=team-c"], ["--namespace", "team-c"], ["-n", "team-c"], ["-nteam-c"],
    ["-n=team-c"], ["--nam=team-c"], ["--names", "team-c"], ["--all-namespaces"], ["-A"],
    ["--all-n"]])
def test_extra_args_that_choose_the_watched_namespaces_are_refused(extra: list[str]) -> None:
    """The operator takes these (argparse: a value attached, an abbreviation) and watches such
    namespaces beside watch.namespaces, which alone the chart's Roles, alerts and dashboards
    (namespace=~ the watched list) cover (or exits at start beside the chart's flag of the
    other kind): refused at render, pointing at watch.*, namespaced and cluster-wide alike."""
    config = parse_args(extra)
    assert config.namespaces == ("team-c",) or (config.all_namespaces and not config.namespaces)
    for values in ([], NAMESPACED):
        result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version",
                     KUBE_VERSION, *values, "--set-json", f"extraArgs={json.dumps(extra)}")
        assert result.returncode != 0, result.stdout[-2000:]
        assert (f"extraArgs: {extra[0]}: the watched namespaces are set by the chart from "
                f"watch.namespaces and watch.allNamespaces") in result.stderr, result.stderr
        assert "set watch.namespaces (with watch.allNamespaces=false) or " \
            "watch.allNamespaces=true instead" in result.stderr
        assert len(result.stderr) < 500, result.stderr


@pytest.mark.parametrize("extra", [
    ["--standalone"], ["--stand"], ["--st"], ["--verbose", "--standalone"]])
def test_extra_args_that_turn_peering_off_are_refused(extra: list[str]) -> None:
    """The operator takes --standalone and its abbreviations (argparse; --st is the only option
    so beginning); beside the chart's --peering it refuses to start (settings.parse_args), and
    without peering each of the chart's replicas would act on every resource at once: refused at
    render, pointing at the values standalone and replicas."""
    assert parse_args(["-A", *extra]).standalone
    with pytest.raises(SystemExit):
        parse_args(["-A", "--peering=uplift-operator", *extra])
    for values in ([], ["--set", "standalone=true", "--set", "replicas=1"]):
        result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version",
                     KUBE_VERSION, *values, "--set-json", f"extraArgs={json.dumps(extra)}")
        assert result.returncode != 0, result.stdout[-2000:]
        assert (f"extraArgs: {extra[-1]}: peering is off only with the values standalone=true "
                "and replicas=1") in result.stderr, result.stderr
        assert "Set standalone=true with replicas=1, or keep peering" in result.stderr
        assert len(result.stderr) < 500, result.stderr


def test_the_query_lag_the_chart_renders_is_one_the_operator_starts_with() -> None:
    """The operator refuses at start a queryLag + 2 scrape intervals over an hour
    (settings.py); the chart refuses the same pairs at render (above) and renders the limit."""
    for lag, scrape in ((3540, 30), (3000, 300)):
        helm_template("--set", f"prometheus.queryLag={lag}", "--set",
                      f"prometheus.scrapeInterval={scrape}", "--set",
                      f"servingPodMonitor.interval={scrape}s")
        parse_args(["-A", "--prometheus-query-lag", str(lag), "--prometheus-scrape-interval",
                    str(scrape)])
        with pytest.raises(SystemExit):
            parse_args(["-A", "--prometheus-query-lag", str(lag + 1),
                         "--prometheus-scrape-interval", str(scrape)])


def test_extra_args_next_to_the_namespace_flags_render() -> None:
    """Their neighbours the operator also takes: other options beginning --na and --all, and a
    value that merely mentions a namespace."""
    extra = ["--narrow-serving-placement", "--allowed-image-pull-secret=regcred", "--verbose",
             "--prometheus-header=X-Scope=namespace", "--split-propagation-grace=90",
             "--seldon-controller-id=standalone"]
    docs = helm_template(*NAMESPACED, "--set-json", f"extraArgs={json.dumps(extra)}")
    args = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-len(extra):] == extra
    assert [a for a in args if a.startswith("--namespace")] == [
        "--namespace=team-a", "--namespace=team-b"]


def test_the_working_neighbours_of_those_values_render(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm_template("--set", "standalone=true", "--set", "replicas=1")
    container = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert "--standalone" in container["args"] and not by_kind(docs, "PodDisruptionBudget")
    assert by_kind(helm_template("--set", "standalone=true", "--set", "replicas=0"), "Deployment")
    for value, expected in (("1", 1), ("50%", "50%")):
        pdb = by_kind(helm_template("--set-string" if "%" in value else "--set",
                                    f"podDisruptionBudget.minAvailable={value}"),
                      "PodDisruptionBudget")[0]
        assert pdb["spec"]["minAvailable"] == expected and "maxUnavailable" not in pdb["spec"]
    # Budgets that leave a replica to evict: 2 of 3, 66% of 3 (1.98: 2), maxUnavailable 1% (0.02
    # rounds up to 1), and maxUnavailable 0 where minAvailable wins, or no budget is rendered.
    for values, spec in (
            (["--set", "replicas=3", "--set", "podDisruptionBudget.minAvailable=2"],
             {"minAvailable": 2}),
            (["--set", "replicas=3", "--set-string", "podDisruptionBudget.minAvailable=66%"],
             {"minAvailable": "66%"}),
            (["--set-string", "podDisruptionBudget.maxUnavailable=1%"], {"maxUnavailable": "1%"}),
            (["--set", "podDisruptionBudget.maxUnavailable=0",
              "--set", "podDisruptionBudget.minAvailable=1"], {"minAvailable": 1})):
        [pdb] = by_kind(helm_template(*values), "PodDisruptionBudget")
        assert {k: v for k, v in pdb["spec"].items()
                if k in ("minAvailable", "maxUnavailable")} == spec, values
    for values in (["--set", "podDisruptionBudget.enabled=false"], ["--set", "replicas=1"]):
        assert not by_kind(helm_template("--set", "podDisruptionBudget.maxUnavailable=0",
                                         "--set", "podDisruptionBudget.minAvailable=5", *values),
                           "PodDisruptionBudget")
    # A budget turned off is not judged: minAvailable 0 with enabled=false renders (the
    # refusal's own message named enabled=false as the way out).
    assert not by_kind(helm_template("--set", "podDisruptionBudget.enabled=false",
                                     "--set", "podDisruptionBudget.minAvailable=0"),
                       "PodDisruptionBudget")
    # Leading zeros read as Kubernetes does: 07 (octal 7) of 8 and 01% leave a replica to evict.
    for values, spec in (
            (["--set", "replicas=8", "--set-string", "podDisruptionBudget.minAvailable=07"],
             {"minAvailable": 7}),
            (["--set-string", "podDisruptionBudget.maxUnavailable=01%"],  # rendered as judged
             {"maxUnavailable": "1%"}),
            # Signed and float forms YAML reads as whole numbers that leave a replica to evict.
            (["--set-string", "podDisruptionBudget.maxUnavailable=+1"], {"maxUnavailable": 1}),
            (["--set-string", "podDisruptionBudget.maxUnavailable=1.0"],  # rendered 1.0: 1
             {"maxUnavailable": 1}),
            (["--set", "replicas=8", "--set-string", "podDisruptionBudget.minAvailable=07.0"],
             {"minAvailable": 7}),
            (["--set", "replicas=3", "--set-string", "podDisruptionBudget.minAvailable=+2"],
             {"minAvailable": 2}),
            # The number judged is rendered, an integer as an integer, whatever the text.
            (["--set", "replicas=3", "--set-string", "podDisruptionBudget.minAvailable= 2 "],
             {"minAvailable": 2}),
            (["--set", "replicas=3", "--set-string", "podDisruptionBudget.minAvailable=0x2"],
             {"minAvailable": 2}),
            (["--set-string", "podDisruptionBudget.maxUnavailable=\t100%"],
             {"maxUnavailable": "100%"}),
            (["--set", "podDisruptionBudget.maxUnavailable=2147483647"],
             {"maxUnavailable": 2147483647})):
        [pdb] = by_kind(helm_template(*values), "PodDisruptionBudget")
        budget = {k: v for k, v in pdb["spec"].items() if k in ("minAvailable", "maxUnavailable")}
        assert budget == spec and all(type(budget[k]) is type(spec[k]) for k in spec), values
    # A variable merely beside UPLIFT_STANDALONE's or UPLIFT_PEERING's name, and the two with a
    # value the operator reads as unset or off (settings: a switch's false in any case, blanks
    # around ignored; an empty peering).
    env = [{"name": "UPLIFT_STANDALONE_NOTE", "value": "x"}, {"name": "FOO", "value": "bar"},
           {"name": "UPLIFT_PEERING_LIFETIME", "value": "20"}]
    assert by_kind(helm_template("--set-json", f"extraEnv={json.dumps(env)}"), "Deployment")
    for env in ([{"name": "UPLIFT_STANDALONE", "value": " False "}],
                [{"name": "UPLIFT_STANDALONE", "value": ""}], [{"name": "UPLIFT_STANDALONE"}],
                [{"name": "UPLIFT_PEERING", "value": ""}]):
        assert by_kind(helm_template("--set-json", f"extraEnv={json.dumps(env)}"),
                       "Deployment"), env
        with monkeypatch.context() as patch:
            patch.setenv(env[0]["name"], env[0].get("value", ""))
            config = parse_args(["-A", "--peering=uplift-operator"])  # the chart's
            assert not config.standalone and config.peering_name == "uplift-operator", env


def test_an_existing_service_account_is_bound_and_without_rbac_none_is_needed() -> None:
    """The neighbours of the refused serviceAccount values: a ServiceAccount of the operator's
    own is bound by every binding (cluster-wide and per namespace), and with rbac.create=false
    the chart binds nothing, so running as the namespace's default is the installer's choice."""
    for extra in ([], NAMESPACED):
        docs = helm_template("--set", "serviceAccount.create=false",
                             "--set", "serviceAccount.name=uplift-own", *extra)
        assert not by_kind(docs, "ServiceAccount")
        bindings = by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding")
        assert bindings and all(
            [s["name"] for s in b["subjects"]] == ["uplift-own"] for b in bindings)
        pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "uplift-own"
    docs = helm_template("--set", "serviceAccount.create=false", "--set", "rbac.create=false")
    assert not by_kind(docs, "ClusterRoleBinding") and not by_kind(docs, "RoleBinding")
    assert by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"][
        "serviceAccountName"] == "default"
    docs = helm_template("--set", "serviceAccount.name=uplift-made")  # create=true: made, bound
    assert [a["metadata"]["name"] for a in by_kind(docs, "ServiceAccount")] == ["uplift-made"]
    assert all([s["name"] for s in b["subjects"]] == ["uplift-made"]
               for b in by_kind(docs, "ClusterRoleBinding") + by_kind(docs, "RoleBinding"))


def test_mlflow_tracking_uri_refuses_credentials_in_the_url() -> None:
    """mlflow.trackingUri reaches every serving pod's environment (MLFLOW_TRACKING_URI): the
    schema refuses user:password@ in it, as the operator does at start."""
    helm = tools()["helm"]
    for uri in ("http://reader:s3cret@mlflow:5000", "https://token@mlflow.example/"):
        result = run(helm, "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                     "--set", f"mlflow.trackingUri={uri}")
        assert result.returncode != 0 and "/mlflow/trackingUri" in result.stderr, uri
    for uri in ("", "http://mlflow.mlflow.svc:5000", "https://mlflow.example/prefix/@team"):
        env = by_kind(helm_template("--set", f"mlflow.trackingUri={uri}"), "Deployment")[0][
            "spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "UPLIFT_MLFLOW_TRACKING_URI", "value": uri} in env, uri


def _rules(docs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [role["rules"] for role in operator_roles(docs) + by_kind(docs, "Role")]


def test_rbac_grants_no_verb_the_code_never_uses() -> None:
    """The operator writes by PATCH (kopf's merge patches, its own merge patches and server-side
    applies; the status subresource only patched, never read) and POST (the decision-key
    Secrets; kopf's events): no PUT, so no ``update`` but on the owners' finalizers
    (blockOwnerDeletion); nothing deletes (the garbage collector follows the owner references)
    but a serving version's PodDisruptionBudget once the version left the graph or the field
    was removed (``services.disruption``, by name); no event is patched."""
    manifest_roles = [d for d in yaml.safe_load_all((ROOT / "manifests" / "rbac.yaml").read_text())
                      if d and d["kind"] == "ClusterRole"]
    rule_sets = [r["rules"] for r in manifest_roles] + _rules(helm_template()) + _rules(
        helm_template(*NAMESPACED))
    assert len(rule_sets) == 4
    for rules in rule_sets:
        granted = {(res, verb) for rule in rules for res in rule["resources"]
                   for verb in rule["verbs"]}
        assert {g for g in granted if g[1] == "update"} == {("upliftmodels/finalizers", "update")}
        assert {g for g in granted if g[1] in {"delete", "deletecollection", "*"}} == {
            ("poddisruptionbudgets", "delete")}
        assert {verb for res, verb in granted if res == "events"} == {"create"}
        # Status: merge patches only; it is read with the object (kopf's watch, the adapters' get).
        assert {verb for res, verb in granted if res.endswith("/status")} == {"patch"}
        assert {verb for res, verb in granted if res == "seldondeployments"} == {
            "get", "list", "watch", "create", "patch"}
    # ... and the code: no PUT anywhere (no replace_* of the client either), and no pass
    # (services/, handlers/) calls the adapters' delete but the budgets' own.
    package = ROOT / "operator" / "uplift_operator"
    source = "\n".join(p.read_text() for p in package.rglob("*.py") if "devenv" not in p.parts)
    assert not re.search(r"""method=["']PUT["']|\.replace_(namespaced|cluster)""", source)
    for path in [*(package / "services").rglob("*.py"), *(package / "handlers").rglob("*.py")]:
        if path == package / "services" / "disruption.py":
            continue
        assert not re.search(r"\.delete\(", path.read_text()), path


def _commented_out(text: str) -> str:
    """The YAML a manifest ships commented out: its lines from ``# ---`` on, the ``# `` taken off."""
    lines = text.splitlines()
    start = lines.index("# ---")
    return "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines[start:])


def test_users_roles_read_and_write_the_resources_as_kubectl_uplift_needs() -> None:
    """Kubernetes' view, edit and admin roles get UpliftModels and Campaigns through aggregated
    ClusterRoles (the chart's per release, the manifests' the same rules): view reads them, what
    `kubectl uplift status` does (get), on by default; edit and admin write them too, what its
    steering verbs do (get, then a merge patch), only when asked for (``rbac.userRoles.edit``;
    the manifests ship it commented out): whoever creates one may read the operator's whole
    Prometheus through a custom gate (docs/security.md). Never the status, which is the
    operator's. Nothing binds them."""
    import inspect

    from uplift_operator.plugin import kubectl_uplift

    calls = set(re.findall(r'self\._json\("(\w+)"', inspect.getsource(kubectl_uplift.Kubectl)))
    assert calls == {"get", "patch"}, calls  # docs/security.md names these
    resources = ["upliftmodels", "campaigns"]
    view = [{"apiGroups": ["uplift.dev"], "resources": resources, "verbs": ["get", "list", "watch"]}]
    edit = [{"apiGroups": ["uplift.dev"], "resources": resources,
             "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    label = "rbac.authorization.k8s.io/aggregate-to-"
    text = (ROOT / "manifests" / "user-roles.yaml").read_text()
    shipped = [d for d in yaml.safe_load_all(text) if d]
    uncommented = shipped + [d for d in yaml.safe_load_all(_commented_out(text)) if d]
    edit_on = ["--set", "rbac.userRoles.edit=true"]

    def users(roles: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[str, Any]]:
        return {tuple(sorted(k for k in r["metadata"]["labels"] if k.startswith(label))):
                (r["metadata"]["name"], r["rules"]) for r in roles if _aggregated(r)}

    for release, roles, with_edit in (
            ("uplift", by_kind(helm_template(), "ClusterRole"), False),
            ("manifests", shipped, False),
            ("uplift", by_kind(helm_template(*edit_on), "ClusterRole"), True),
            ("prod", by_kind(helm_template(*edit_on, release="prod"), "ClusterRole"), True),
            ("manifests", uncommented, True)):
        prefix = "prod-uplift-operator" if release == "prod" else "uplift-operator"
        expected: dict[tuple[str, ...], tuple[str, Any]] = {
            (label + "view",): (f"{prefix}-view", view)}
        if with_edit:
            expected[(label + "admin", label + "edit")] = (f"{prefix}-edit", edit)
        assert users(roles) == expected, (release, with_edit)
    [(_, edit_rules)] = [v for k, v in users(uncommented).items() if label + "edit" in k]
    assert {verb for rule in edit_rules for verb in rule["verbs"]} >= calls
    assert not [d for d in by_kind(helm_template(*edit_on), "ClusterRoleBinding")
                if d["roleRef"]["name"].endswith(("-view", "-edit"))]
    edit_only = users(by_kind(helm_template("--set", "rbac.userRoles.view=false", *edit_on),
                              "ClusterRole"))
    assert list(edit_only) == [(label + "admin", label + "edit")]
    off = helm_template("--set", "rbac.userRoles.view=false")
    assert not [r for r in by_kind(off, "ClusterRole") if _aggregated(r)]
    assert operator_roles(off) == operator_roles(helm_template())


def _peering_rules(rules: list[dict[str, Any]]) -> dict[tuple[str, str], list[str] | None]:
    """(resource, verb) on kopf.dev -> the resourceNames it is granted on (None: every name)."""
    out: dict[tuple[str, str], list[str] | None] = {}
    for rule in rules:
        if rule["apiGroups"] == ["kopf.dev"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert (resource, verb) not in out, (resource, verb)  # one rule each
                    out[(resource, verb)] = rule.get("resourceNames")
    return out


def test_peering_objects_are_patched_and_read_by_name_only_the_operators_own() -> None:
    """Other kopf operators of the cluster share the peering kinds: a stolen token must not
    rewrite their peering objects (or stop their failover). kopf patches its own by name
    (engines/peering.py: touch, clean) and the readiness checker reads it by name, so get and
    patch carry resourceNames: the default name (manifests/, the operator's --peering default),
    the chart's peering name. kopf's observer lists and watches the whole kind, and a create
    cannot be narrowed by name: those stay unnamed."""
    from uplift_operator.api import rbac

    assert parse_args(["--all-namespaces"]).peering_name == rbac.PEERING_NAME
    manifests = yaml.safe_load((ROOT / "manifests" / "kopf-peering.yaml").read_text())
    assert manifests["metadata"]["name"] == rbac.PEERING_NAME
    manifest_role = next(d for d in yaml.safe_load_all(
        (ROOT / "manifests" / "rbac.yaml").read_text()) if d and d["kind"] == "ClusterRole")
    for rules, kinds, name in [
            (manifest_role["rules"], ["clusterkopfpeerings", "kopfpeerings"], "uplift-operator"),
            *((r, ["clusterkopfpeerings", "kopfpeerings"], "uplift-operator")
              for r in _rules(helm_template())),
            *((r, ["kopfpeerings"], "uplift-operator") for r in _rules(helm_template(*NAMESPACED))),
            *((r, ["clusterkopfpeerings", "kopfpeerings"], "prod-uplift-operator")
              for r in _rules(helm_template(release="prod"))),
            *((r, ["kopfpeerings"], "shared-peering")
              for r in _rules(helm_template(*NAMESPACED, "--set", "peering.name=shared-peering",
                                            release="prod")))]:
        assert _peering_rules(rules) == {
            **{(kind, verb): None for kind in kinds for verb in ("list", "watch", "create")},
            **{(kind, verb): [name] for kind in kinds for verb in ("get", "patch")}}, name
    # The name the Deployment runs with is the one granted.
    for values, release in (([], "prod"), ([*NAMESPACED, "--set", "peering.name=x"], "uplift")):
        docs = helm_template(*values, release=release)
        args = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        peering = parse_args([a for a in args if a != "run"]).peering_name
        assert {tuple(names) for names in _peering_rules(_rules(docs)[0]).values() if names} == {
            (peering,)}


def test_network_policy_is_off_by_default_and_an_example_when_on() -> None:
    assert not by_kind(helm_template(), "NetworkPolicy")
    policy = by_kind(helm_template("--set", "networkPolicy.enabled=true"), "NetworkPolicy")[0]
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == by_kind(helm_template(), "Deployment")[0][
        "spec"]["selector"]["matchLabels"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for rule in spec["ingress"] for p in rule["ports"]] == [9090]  # metrics only
    egress_ports = [[p["port"] for p in rule["ports"]] for rule in spec["egress"]]
    assert egress_ports == [[53, 53], [443, 6443], [5000], [9090]]  # DNS, API server, MLflow, Prometheus
    closed = by_kind(helm_template("--set", "networkPolicy.enabled=true",
                                   "--set-json", "networkPolicy.metricsFrom=[]"), "NetworkPolicy")[0]
    assert closed["spec"]["ingress"] == []


def test_all_options_render_carries_every_option() -> None:
    docs = helm_template("-f", str(ALL_OPTIONS))
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]
    spec = pod["spec"]
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] and spec["tolerations"] and spec["affinity"]
    assert spec["topologySpreadConstraints"] and spec["securityContext"]["runAsUser"] == 20002
    assert spec["serviceAccountName"] == "uplift-sa"
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["annotations"]["example.com/owner"] == "ml"
    container = spec["containers"][0]
    assert container["image"].endswith("@sha256:" + "0" * 64)
    assert "--verbose" in container["args"]
    # The allow-lists reach the operator as it parses them (a pattern with a comma included:
    # arguments, not a comma-separated variable)
    config = parse_args([a for a in container["args"][1:]  # the mounted file is not here
                         if not a.startswith("--metric-templates=")])
    assert config.allowed_tracking_uris == (r"https://mlflow\.internal(/.*)?",
                                            r"http://mlflow-[a-z]{1,8}\.mlflow\.svc:5000")
    assert config.allowed_runtime_images == (r"ghcr\.io/uplift-dev/.*",)
    assert config.allowed_service_accounts == ("uplift-runtime",)
    assert config.allowed_image_pull_secrets == ("registry-pull",)
    assert config.narrow_serving_placement  # admissionPolicy.enabled, the default
    assert {"name": "FOO", "value": "bar"} in container["env"]
    assert config.prometheus_headers == (("X-Scope-OrgID", "team-a"),)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {"UPLIFT_PROMETHEUS_BEARER_TOKEN_FILE", "UPLIFT_PROMETHEUS_CA_FILE",
            "REQUESTS_CA_BUNDLE"} <= env.keys()
    assert {"name": "scratch", "mountPath": "/scratch"} in container["volumeMounts"]
    assert {v["name"] for v in spec["volumes"]} == {"metric-templates", "prometheus-token",
                                                   "prometheus-ca", "ca-bundle", "scratch"}
    kinds = {d["kind"] for d in docs}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds
    assert len(by_kind(docs, "PodMonitor")) == 2  # the operator's and the serving pods'
    sa = by_kind(docs, "ServiceAccount")[0]
    assert sa["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "uplift@example.iam.gserviceaccount.com"}
    assert {"name": "UPLIFT_PEERING_LIFETIME", "value": "12"} in container["env"]
    assert {"name": "UPLIFT_PROMETHEUS_INGEST_DELAY", "value": "900"} in container["env"]
    assert {"name": "UPLIFT_PROMETHEUS_SCRAPE_INTERVAL", "value": "60"} in container["env"]
    assert {"name": "UPLIFT_PROMETHEUS_QUERY_LAG", "value": "120"} in container["env"]
    assert {"name": "UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", "value": "20"} in container["env"]
    assert {"name": "UPLIFT_SELDON_CONTROLLER_ID", "value": "seldon-team-a"} in container["env"]
    assert by_kind(docs, "NetworkPolicy")[0]["spec"]["egress"][-1]["to"] == [
        {"ipBlock": {"cidr": "10.20.0.0/16"}}]
    dashboards = [d for d in by_kind(docs, "ConfigMap") if "dashboard" in d["metadata"]["name"]]
    assert len(dashboards) == 3
    assert all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)


def _serving_scrape_intervals(docs: list[dict[str, Any]]) -> tuple[int, set[str]]:
    """The operator's --prometheus-scrape-interval and the serving PodMonitor's intervals."""
    [container] = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    [monitor] = [d for d in by_kind(docs, "PodMonitor") if d["metadata"]["name"].endswith(
        "-serving")]
    return (int(env["UPLIFT_PROMETHEUS_SCRAPE_INTERVAL"]),
            {e["interval"] for e in monitor["spec"]["podMetricsEndpoints"]})


@pytest.mark.parametrize(("values", "told", "interval"), [
    ([], 30, "30s"),
    (["--set", "prometheus.scrapeInterval=15", "--set", "servingPodMonitor.interval=15s"],
     15, "15s"),
    (["--set", "prometheus.scrapeInterval=60", "--set", "servingPodMonitor.interval=1m"],
     60, "1m"),
    (["--set", "servingPodMonitor.interval=30000ms"], 30, "30000ms")])
def test_the_serving_pod_monitor_scrapes_at_the_interval_the_operator_is_told(
        values: list[str], told: int, interval: str) -> None:
    """The operator scales every count its gates read by the scrape interval it is told
    (prometheus.scrapeInterval) and a stopping runtime pod waits that long for its last
    scrape: the serving PodMonitor scraping at another one is refused at render."""
    docs = helm_template("--set", "servingPodMonitor.enabled=true", *values)
    assert _serving_scrape_intervals(docs) == (told, {interval})


@pytest.mark.parametrize(("values", "said"), [
    (["--set", "prometheus.scrapeInterval=15"],
     "servingPodMonitor.interval=30s is not prometheus.scrapeInterval=15 (seconds)"),
    (["--set", "servingPodMonitor.interval=15s"],
     "servingPodMonitor.interval=15s is not prometheus.scrapeInterval=30 (seconds)"),
    (["--set", "prometheus.scrapeInterval=300", "--set", "servingPodMonitor.interval=1h"],
     "(servingPodMonitor.interval=300s)")])
def test_a_serving_pod_monitor_interval_other_than_the_operators_fails_at_render(
        values: list[str], said: str) -> None:
    result = run(tools()["helm"], "template", "x", str(CHART), "--kube-version", KUBE_VERSION,
                 "--set", "servingPodMonitor.enabled=true", *values)
    assert result.returncode != 0, result.stdout[-2000:]
    assert said in result.stderr and len(result.stderr) < 500, result.stderr
    # Off, the PodMonitor is not rendered: nothing to disagree with.
    assert helm_template(*values)


def test_reused_old_values_render_the_serving_pod_monitor_at_the_operators_interval(
        tmp_path: Path) -> None:
    """`helm upgrade --reuse-values` renders with the old release's values (863f4a0's), which
    set both intervals to 30 s."""
    chart = tmp_path / "uplift-operator"
    shutil.copytree(CHART, chart)
    shutil.copyfile(HERE / "values-863f4a0.yaml", chart / "values.yaml")
    result = run(tools()["helm"], "template", "uplift", str(chart), "-n", "uplift-system",
                 "--kube-version", KUBE_VERSION, "--set", "servingPodMonitor.enabled=true")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert _serving_scrape_intervals(docs) == (30, {"30s"})


def test_prometheus_rules_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    rule = by_kind(helm_template(*RULES_ON), "PrometheusRule")[0]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(HERE / "prometheus-rules-test.yaml", tmp_path)
    check = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    test = run(promtool, "test", "rules", "prometheus-rules-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr
    # Every alert has a unit test and a runbook that exists.
    tests = yaml.safe_load((HERE / "prometheus-rules-test.yaml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    for alert in (r for g in rule["spec"]["groups"] for r in g["rules"]):
        assert alert["alert"] in tested, f"no promtool test for {alert['alert']}"
        url = alert["annotations"]["runbook_url"]
        assert (ROOT / "docs" / "runbooks" / url.rsplit("/", 1)[1]).is_file(), url


def test_a_drift_gate_pattern_with_a_regex_escape_is_valid_promql(tmp_path: Path) -> None:
    """``psi\\.drift.*`` as written in the values: quoted for PromQL by the chart, promtool loads
    the rules (an unknown escape sequence would have prometheus-operator drop the whole
    PrometheusRule) and the alert fires on ``psi.drift-age``, not on ``psiXdrift-age``."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    custom = tmp_path / "drift.yaml"
    custom.write_text("prometheusRule: {driftGatePattern: 'psi\\.drift.*|a<b'}\n")
    rule = by_kind(helm_template(*RULES_ON, "-f", str(custom)),
                   "PrometheusRule")[0]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    check = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    [drift_annotations] = [r["annotations"] for g in rule["spec"]["groups"] for r in g["rules"]
                           if r["alert"] == "UpliftFeatureDrift"]
    model = 'job="uplift-operator-metrics", kind="UpliftModel", namespace="marketing"'
    phase = "uplift_operator_resource_phase{%s, name=\"%s\", phase=\"Progressing\"}"
    verdict = "uplift_operator_gate_verdict{%s, name=\"%s\", gate=\"%s\", verdict=\"Fail\"}"
    run_test = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [s for name, gate in (("a", "psi.drift-age"), ("b", "psiXdrift-age"))
                         for s in ({"series": phase % (model, name), "values": "1x20"},
                                   {"series": verdict % (model, name, gate), "values": "1x20"})],
        "alert_rule_test": [{"alertname": "UpliftFeatureDrift", "eval_time": "10m", "exp_alerts": [
            {"exp_labels": {"severity": "warning", "kind": "UpliftModel", "namespace": "marketing",
                            "name": "a", "gate": "psi.drift-age"},
             "exp_annotations": {**drift_annotations, "summary":
                                 "Feature drift on UpliftModel marketing/a (gate psi.drift-age)."}}]}]}]}
    (tmp_path / "drift-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "drift-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


#: The placeholders the chart fills in the dashboards' runtime selectors
#: (templates/dashboards.yaml), as it fills them with its default values: every namespace (the
#: release watches all) and a 5-minute window (30 s scrapes).
RUNTIME_PLACEHOLDERS = {"__UPLIFT_WATCHED_NAMESPACES__": ".*",
                        "__UPLIFT_RUNTIME_RATE_WINDOW__": "300s"}


def raw_board(path: Path) -> dict[str, Any]:
    """A dashboard file as written, its runtime placeholders filled as by default (a range
    placeholder is no PromQL; the job and drift pattern ones sit in strings)."""
    text = path.read_text()
    for placeholder, value in RUNTIME_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    board: dict[str, Any] = json.loads(text)
    return board


def exported_metric_names() -> set[str]:
    """Every sample name the operator and the runtime export, by metric type."""
    from uplift_operator.handlers import observability
    from uplift_operator.runtime.metrics import RuntimeMetrics

    runtime = CollectorRegistry()
    RuntimeMetrics(runtime)
    names: set[str] = {"up"}  # Prometheus' own per-target series
    for registry in (observability.REGISTRY, runtime):
        for collector in list(registry._collector_to_names):
            assert isinstance(collector, MetricWrapperBase)
            base, kind = collector._name, collector._type
            assert kind is not None
            suffixes = {"counter": ["_total"], "gauge": [""],
                        "histogram": ["_bucket", "_count", "_sum"]}[kind]
            names |= {base + s for s in suffixes}
    return names


def nodes(node: Any, kind: type[Any]) -> Iterator[Any]:
    """Every node of a parsed PromQL tree that is a ``kind``, ``node`` included."""
    if isinstance(node, kind):
        yield node
    for attr in dir(node):
        if attr.startswith("_") or attr in ("parse", "prettify"):
            continue
        value = getattr(node, attr)
        for child in value if isinstance(value, list) else [value]:
            if hasattr(child, "prettify"):
                yield from nodes(child, kind)


def selectors(node: Any) -> Iterator[Any]:
    return nodes(node, promql_parser.VectorSelector)


def test_dashboards_and_alerts_use_only_exported_metrics() -> None:
    exported = exported_metric_names()
    assert {"uplift_operator_reconciles_total", "uplift_deliveries_total",
            "uplift_request_duration_seconds_bucket"} <= exported
    exprs: list[tuple[str, str]] = []
    for path in sorted((CHART / "files" / "dashboards").glob("*.json")):
        board = raw_board(path)
        assert board["uid"] and board["panels"]
        exprs += [(f"{path.name}: {p['title']}", t["expr"]) for p in board["panels"] for t in p["targets"]]
    rule = by_kind(helm_template(*RULES_ON), "PrometheusRule")[0]
    exprs += [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    assert len(exprs) > 25
    for where, expr in exprs:
        found = list(selectors(promql_parser.parse(expr)))
        assert found, where
        for selector in found:
            assert selector.name in exported, f"{where}: {selector.name} is exported by nothing"


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_argocd_health_checks_with_argocds_own_lua_engine(kind: str) -> None:
    test_file = ROOT / "argocd" / "resource_customizations" / "uplift.dev" / kind / "health_test.yaml"
    if "argocd-lua" not in tools():
        pytest.skip("argocd-lua not built: ../shared/tools/argocd-lua is absent (UPLIFT_SHARED_DIR)")
    result = run(tools()["argocd-lua"], "-test", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    cases = yaml.safe_load(test_file.read_text())["tests"]
    assert f"{len(cases)}/{len(cases)} passed" in result.stdout
    assert {"Healthy", "Progressing", "Degraded", "Suspended"} <= {c["healthStatus"]["status"] for c in cases}


def test_kustomize_builds_the_same_objects_as_the_plain_manifests() -> None:
    result = run(tools()["kustomize"], "build", "manifests/")
    assert result.returncode == 0, result.stderr
    built = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout) if d}
    plain = {(d["kind"], d["metadata"]["name"]) for f in (ROOT / "manifests").glob("*.yaml")
             for d in yaml.safe_load_all(f.read_text()) if d}
    assert built == plain
    # `kubectl apply -f manifests/` reads *.yaml, *.yml and *.json: no Kustomization among them.
    assert not [f for f in (ROOT / "manifests").iterdir() if f.suffix in (".yaml", ".yml", ".json")
                for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "Kustomization"]


def test_a_kustomize_namespace_overlay_keeps_the_admission_policies_judging_the_operator(
        tmp_path: Path) -> None:
    """The idiomatic re-home, ``namespace:`` in an overlay over manifests/, moves the
    ServiceAccount, its binding and the Deployment; the four policies must still judge that
    ServiceAccount, or they protect nothing (RBAC's create on secrets, create + patch on
    seldondeployments and configmaps, and create + patch + delete on poddisruptionbudgets,
    docs/security.md) and nothing says so."""
    shutil.copytree(ROOT / "manifests", tmp_path / "base")
    (tmp_path / "kustomization.yaml").write_text("resources: [base]\nnamespace: ml-platform\n")
    result = run(tools()["kustomize"], "build", str(tmp_path))
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    [account] = by_kind(docs, "ServiceAccount")
    [binding] = by_kind(docs, "ClusterRoleBinding")
    [deployment] = by_kind(docs, "Deployment")
    assert account["metadata"]["namespace"] == "ml-platform"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": "ml-platform"}]
    assert deployment["metadata"]["namespace"] == "ml-platform"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == (
        account["metadata"]["name"])
    user = f"system:serviceaccount:ml-platform:{account['metadata']['name']}"
    for resource in ("secrets", "seldondeployments", "configmaps", "poddisruptionbudgets"):
        policy, _ = _policy(docs, resource)
        assert _judges(policy["spec"]["matchConditions"], user), resource
        assert not _judges(policy["spec"]["matchConditions"],
                           "system:serviceaccount:ml-platform:default"), resource


def dashboard_targets() -> Iterator[tuple[str, str, str, str]]:
    """(dashboard file, panel title, expr, legend) of every panel's target."""
    for path in sorted((CHART / "files" / "dashboards").glob("*.json")):
        for panel in raw_board(path)["panels"]:
            for target in panel["targets"]:
                yield path.name, panel["title"], target["expr"], target.get("legendFormat", "")


def panel_expr(board: str, title: str) -> str:
    [expr] = [e for b, t, e, _ in dashboard_targets() if b == board and t.startswith(title)]
    return expr


def aggregations(node: Any) -> Iterator[Any]:
    return nodes(node, promql_parser.AggregateExpr)


#: Series whose ratios are one experiment's: each (namespace, model, campaign) has its own salt
#: and holdout fraction (docs/runtime.md), so its arms are never summed with another's.
EXPERIMENT_METRICS = {"uplift_conversions_total", "uplift_outcomes_total",
                      "uplift_outcome_value_total"}
#: A bin indexes one model version's own training reference (runtime/metrics.py).
PER_VERSION_METRICS = {"uplift_feature_bin_total"}


def test_dashboards_never_merge_namespaces_experiments_or_versions() -> None:
    """Every aggregation keeps what tells its series apart: a model's name is unique only in
    its namespace, a ratio of arms is one experiment's, a feature bin one version's; and the
    legend names every label the panel's series keep."""
    checked = 0
    for board, title, expr, legend in dashboard_targets():
        where = f"{board}: {title}"
        tree = promql_parser.parse(expr)
        kept: set[str] = set()
        for agg in aggregations(tree):
            assert agg.modifier is not None and agg.modifier.type == promql_parser.AggModifierType.By, (
                f"{where}: {agg.op} without by (...)")
            by = set(agg.modifier.labels)
            names = {s.name for s in selectors(agg)}
            if by & {"model", "name"}:
                assert "namespace" in by, f"{where}: by {sorted(by)} merges namespaces"
            if names & EXPERIMENT_METRICS:
                assert {"namespace", "model", "campaign"} <= by, f"{where}: pools experiments"
            if names & PER_VERSION_METRICS:
                assert {"namespace", "model", "version", "feature"} <= by, f"{where}: pools versions"
            kept |= by - {"le"}
            checked += 1
        for label in kept & {"namespace", "model", "campaign", "version", "name", "kind"}:
            assert "{{" + label + "}}" in legend, f"{where}: legend {legend!r} lacks {label}"
    assert checked > 25


def test_dashboard_ratios_are_per_experiment_and_per_version(tmp_path: Path) -> None:
    """The executive incremental rate and the debug bin shares, evaluated by promtool on series
    where pooling shows: a model's own experiment (holdout 10 %, +2 pp) and a Campaign's (holdout
    50 %, no effect) pooled read +7.5 pp; a stable version at 90/10 and a canary at 10/90
    pooled read 50/50. (Rounded: promtool compares floats exactly.)"""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    ns = 'namespace="marketing", model="hillstrom"'
    arms = {("", "treated"): (90, 18), ("", "holdout"): (10, 1.8),
            ("spring", "treated"): (50, 2.5), ("spring", "holdout"): (50, 2.5)}
    series = []
    for (campaign, arm), (outcomes, conversions) in arms.items():
        labels = f'{ns}, version="1", arm="{arm}", treatment="t", campaign="{campaign}"'
        series += [{"series": f"uplift_outcomes_total{{{labels}}}", "values": f"0+{outcomes}x1500"},
                   {"series": f"uplift_conversions_total{{{labels}}}",
                    "values": f"0+{conversions}x1500"}]
    # The same model name in another namespace, with no effect: never merged with the first.
    for arm in ("treated", "holdout"):
        labels = f'namespace="sales", model="hillstrom", version="1", arm="{arm}", treatment="t", campaign=""'
        series += [{"series": f"uplift_outcomes_total{{{labels}}}", "values": "0+100x1500"},
                   {"series": f"uplift_conversions_total{{{labels}}}", "values": "0+10x1500"}]
    for version, shares in (("1", (90, 10)), ("2", (10, 90))):
        for b, share in enumerate(shares):
            series.append({"series": f'uplift_feature_bin_total{{{ns}, version="{version}", '
                                     f'feature="recency", bin="{b}"}}', "values": f"0+{share}x1500"})
    rate = panel_expr("executive.json", "Incremental conversion rate")
    bins = panel_expr("debug.json", "Feature bin shares")
    run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series, "promql_expr_test": [
            {"expr": f"round({rate}, 0.0001)", "eval_time": "1441m", "exp_samples": [
                {"labels": '{namespace="marketing", model="hillstrom"}', "value": 0.02},  # campaign=""
                {"labels": '{namespace="marketing", model="hillstrom", campaign="spring"}', "value": 0},
                {"labels": '{namespace="sales", model="hillstrom"}', "value": 0}]},
            {"expr": f"round({bins}, 0.0001)", "eval_time": "20m", "exp_samples": [
                {"labels": f'{{{ns}, version="{v}", feature="recency", bin="{b}"}}', "value": share}
                for v, shares in (("1", (0.9, 0.1)), ("2", (0.1, 0.9)))
                for b, share in enumerate(shares)]}]}]}
    (tmp_path / "dashboards-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "dashboards-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def test_the_oncall_rollbacks_read_the_status_rollback_time_as_the_alerts_do(
        tmp_path: Path) -> None:
    """The on-call "Rollbacks and aborts" panel, evaluated by promtool on series as the operator
    exports them: a rollback decided in the first pass of the replica that took over (its
    counter born at 1, which ``increase()`` reads as none) shows for an hour from its status
    time; a canary the spec withdrew (told as RolledBack, and counted so by operators before
    2026-12-07, but no rollback the alerts see: no last-rollback time) does not; a human's
    ManualAbort shows for an hour from its status time too, one handled in that first pass
    included (it showed from the counter's increase, which missed it)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    job = 'job="uplift-operator-metrics"'
    model = 'kind="UpliftModel", namespace="marketing"'
    series = [
        # The replica that took over at 10m decides the rollback in its first pass.
        {"series": f'uplift_operator_last_rollback_timestamp_seconds{{{job}, instance="b", '
                   f'{model}, name="failover"}}', "values": "_x10 600x100"},
        {"series": f'uplift_operator_decisions_total{{{job}, instance="b", {model}, '
                   f'name="failover", action="RolledBack"}}', "values": "_x10 1x100"},
        # The spec pointed back at the stable version: an operator before 2026-12-07 counted
        # that as RolledBack (from a series at 0); this one counts no decision, no series.
        {"series": f'uplift_operator_decisions_total{{{job}, instance="a", {model}, '
                   f'name="withdrawn", action="RolledBack"}}', "values": "0x10 1x100"},
        # A human's abort at 10m, in a pass of the replica that had run the model for long
        # (its counter born at that first increment: no series at 0).
        {"series": f'uplift_operator_last_abort_timestamp_seconds{{{job}, instance="a", '
                   f'{model}, name="aborted"}}', "values": "_x10 600x100"},
        {"series": f'uplift_operator_decisions_total{{{job}, instance="a", {model}, '
                   f'name="aborted", action="ManualAbort"}}', "values": "_x10 1x100"},
        # A human's abort handled in the first pass of the replica that took over at 10m.
        {"series": f'uplift_operator_last_abort_timestamp_seconds{{{job}, instance="b", '
                   f'{model}, name="aborted-at-failover"}}', "values": "_x10 590x100"},
        {"series": f'uplift_operator_decisions_total{{{job}, instance="b", {model}, '
                   f'name="aborted-at-failover", action="ManualAbort"}}', "values": "_x10 1x100"},
    ]
    [rolled_back, aborted] = [
        e.replace("$operator_job", "uplift-operator-metrics")
        for b, t, e, _ in dashboard_targets()
        if b == "oncall.json" and t.startswith("Rollbacks and aborts")]
    run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series, "promql_expr_test": [
            {"expr": rolled_back, "eval_time": "30m", "exp_samples": [
                {"labels": f'{{{model}, name="failover"}}', "value": 1}]},
            {"expr": aborted, "eval_time": "30m", "exp_samples": [
                {"labels": f'{{{model}, name="aborted"}}', "value": 1},
                {"labels": f'{{{model}, name="aborted-at-failover"}}', "value": 1}]},
            {"expr": rolled_back, "eval_time": "75m", "exp_samples": []},
            {"expr": aborted, "eval_time": "75m", "exp_samples": []}]}]}
    (tmp_path / "oncall-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "oncall-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def test_the_oncall_board_shows_held_back_specs_and_the_pass_queue_wait(tmp_path: Path) -> None:
    """The on-call "Spec held back" panel lists each resource whose spec is held back once, with
    its reason, whichever replica exports it, and none another operator (a second shard)
    exports under its own job; "Pass queue wait p95" reads the operator's job alone (a second
    scrape of the same pods would pool another set of buckets), per kind."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    job = 'job="uplift-operator-metrics"'
    stuck = [{"series": f'uplift_operator_spec_stuck{{{job}, instance="{instance}", '
                        f'kind="{kind}", namespace="shop", name="{name}", reason="{reason}"}}',
              "values": "1x20"}
             for instance in ("a", "b")
             for kind, name, reason in (("UpliftModel", "m", "ApplyFailed"),
                                        ("Campaign", "c", "TreatmentNotServed"))]
    # Another shard's operator, scraped into the same Prometheus under its job.
    stuck.append({"series": 'uplift_operator_spec_stuck{job="shard-b-metrics", instance="c", '
                            'kind="Campaign", namespace="team-c", name="theirs", '
                            'reason="ApplyFailed"}', "values": "1x20"})
    # 10 passes a minute waited between 1 and 10 s (p95 9.55 s); another job's scrape of the
    # same pods, with its waits under 0.1 s, would make it 9.1 s.
    buckets = [{"series": f'uplift_operator_pass_queue_seconds_bucket{{job="{scrape}", '
                          f'instance="a", kind="Campaign", le="{le}"}}',
                "values": f"0+{per_minute}x20"}
               for scrape, counts in ((
                   "uplift-operator-metrics", {"0.1": 0, "1.0": 0, "10.0": 10, "+Inf": 10}),
                   ("kubernetes-pods", {"0.1": 10, "1.0": 10, "10.0": 10, "+Inf": 10}))
               for le, per_minute in counts.items()]
    [held] = [e.replace("$operator_job", "uplift-operator-metrics")
              for b, t, e, _ in dashboard_targets()
              if b == "oncall.json" and t.startswith("Spec held back")]
    [queued] = [e.replace("$operator_job", "uplift-operator-metrics")
                for b, t, e, _ in dashboard_targets()
                if b == "oncall.json" and t.startswith("Pass queue wait")]
    run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": stuck + buckets, "promql_expr_test": [
            {"expr": held, "eval_time": "10m", "exp_samples": [
                {"labels": '{kind="UpliftModel", namespace="shop", name="m", '
                           'reason="ApplyFailed"}', "value": 1},
                {"labels": '{kind="Campaign", namespace="shop", name="c", '
                           'reason="TreatmentNotServed"}', "value": 1}]},
            {"expr": f"round({queued}, 0.01)", "eval_time": "10m", "exp_samples": [
                {"labels": '{kind="Campaign"}', "value": 9.55}]}]}]}
    (tmp_path / "oncall-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "oncall-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def test_the_drift_panel_reads_the_gates_the_drift_alert_fires_on(tmp_path: Path) -> None:
    """The debug dashboard's "Feature drift" panel selects the gates UpliftFeatureDrift fires on:
    those of type drift, whatever their names, and those the deprecated
    ``prometheusRule.driftGatePattern`` names (a pattern with a regular expression's backslash and
    a quote, quoted for PromQL, and in the dashboard then for JSON, is the same regular
    expression in both, the one written in the values); with the pattern empty, by type alone.
    Evaluated by promtool on the series as the operator exports them, and on an older
    operator's, without the type."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    custom = tmp_path / "drift.yaml"
    written = 'psi\\.drift.*|ks_\\d+|"q"<b'
    custom.write_text(yaml.safe_dump({"prometheusRule": {"driftGatePattern": written}}))
    empty = tmp_path / "empty.yaml"
    empty.write_text(yaml.safe_dump({"prometheusRule": {"driftGatePattern": ""}}))
    model = 'job="uplift-operator-metrics", kind="UpliftModel", namespace="marketing", name="m"'
    gates = {"feature-shift": 'type="drift"', "psi.drift-age": 'type="custom"',
             "latency": 'type="latency"', "old-drift": None}  # None: an older operator's
    series = [{"series": f'uplift_operator_gate_{metric}{{{model}, gate="{gate}"'
                         f'{", " + typed if typed else ""}, {label}}}', "values": "1x20"}
              for gate, typed in gates.items()
              for metric, label in (("verdict", 'verdict="Fail"'), ("value", 'bound="value"'))]
    for values, pattern, drifting in (
            ([], ".*drift.*", ["feature-shift", "old-drift", "psi.drift-age"]),
            (["-f", str(custom)], written, ["feature-shift", "psi.drift-age"]),
            (["-f", str(empty)], "", ["feature-shift"])):
        docs = helm_template(*RULES_ON,
                             "--set", "dashboards.enabled=true", *values)
        rule = by_kind(docs, "PrometheusRule")[0]
        [drift] = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]
                   if r["alert"] == "UpliftFeatureDrift"]
        [board] = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith(
            "-dashboard-debug")]
        [text] = board["data"].values()
        assert "__UPLIFT_DRIFT_GATE_PATTERN__" not in text
        rendered = json.loads(text)
        [panel] = [p for p in rendered["panels"] if p["title"].startswith("Feature drift")]
        # Grafana puts the hidden constant into the query.
        job = {v["name"]: v for v in rendered["templating"]["list"]}["operator_job"]["query"]
        assert job == "uplift-operator-metrics"
        shown = panel["targets"][0]["expr"].replace("$operator_job", job)
        matchers = []
        for expr in (drift, shown):
            matchers.append(sorted((m.name, str(m.op), m.value)
                                   for selector in selectors(promql_parser.parse(expr))
                                   for m in selector.matchers.matchers
                                   if m.name in ("gate", "type")))
        typed = ("type", str(promql_parser.MatchOp.Equal), "drift")
        named = [("gate", str(promql_parser.MatchOp.Re), pattern)]
        assert matchers[0] == [*(named if pattern else []), typed], matchers
        assert matchers[1] == [*named, typed], matchers  # gate=~"": no gate
        expected = [{"labels": f'{{kind="UpliftModel", namespace="marketing", name="m", '
                               f'gate="{gate}"}}', "value": 1} for gate in drifting]
        run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
            "interval": "1m", "input_series": series, "promql_expr_test": [
                {"expr": expr, "eval_time": "10m", "exp_samples": expected}
                for expr in (drift, shown)]}]}
        (tmp_path / "drift-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
        test = run(promtool, "test", "rules", "drift-test.yaml", cwd=tmp_path)
        assert test.returncode == 0, (pattern, test.stdout + test.stderr)


def operator_selectors(node: Any) -> Iterator[Any]:
    """The operator's selectors (``uplift_operator_*``) and ``up``."""
    for selector in selectors(node):
        name = selector.name or ""
        if name == "up" or name.startswith("uplift_operator_"):
            yield selector


def test_dashboards_read_the_operators_series_of_one_scrape_job() -> None:
    """Every selector of the operator's series (and ``up``) reads only the job the chart's alerts
    read ($operator_job): a second scrape of the operator (a ServiceMonitor and a PodMonitor, or
    the pods' scrape annotations beside either) doubles every series under another job, and a
    second operator (another shard, docs/install.md) sharing the Prometheus exports the same
    metrics for its own resources under its own job. Under a ``max`` the first is harmless, the
    second is not: one shard's per-resource panels listed the other's resources."""
    checked = 0
    for path in sorted((CHART / "files" / "dashboards").glob("*.json")):
        board = raw_board(path)
        variables = {v["name"]: v for v in board["templating"]["list"]}
        for panel in board["panels"]:
            for target in panel["targets"]:
                for selector in operator_selectors(promql_parser.parse(target["expr"])):
                    jobs = [m for m in selector.matchers.matchers if m.name == "job"]
                    assert [(m.op, m.value) for m in jobs] == [
                        (promql_parser.MatchOp.Equal, "$operator_job")], (
                        f"{path.name}: {panel['title']}: {selector.name} of any job")
                    assert variables["operator_job"]["query"] == "__UPLIFT_OPERATOR_JOB__"
                    checked += 1
    assert checked >= 21


@pytest.mark.parametrize(("values", "job"), [
    (["--set", "serviceMonitor.enabled=true"], "uplift-operator-metrics"),
    (["--set", "podMonitor.enabled=true"], "uplift-system/uplift-operator"),
    (["--set", "podMonitor.enabled=true", "--set", "podMonitor.namespace=monitoring"],
     "monitoring/uplift-operator"),
    (["--set", "podMonitor.enabled=true", "--set", "fullnameOverride=uo"], "uplift-system/uo"),
    (["--set", "podMonitor.enabled=true", "--set", "serviceMonitor.enabled=true"],
     "uplift-operator-metrics"),
    (["--set", "podMonitor.enabled=true", "--set", "prometheusRule.operatorJob=kubernetes-pods"],
     "kubernetes-pods"),
    (["--set", "prometheusRule.operatorJob=kubernetes-pods"], "kubernetes-pods"),
], ids=["service-monitor", "pod-monitor", "pod-monitor-elsewhere", "fullname",
        "both", "set", "set-without-a-monitor"])
def test_alerts_and_dashboards_follow_the_job_of_the_scrape_target(values: list[str],
                                                                   job: str) -> None:
    """The `job` Prometheus gives the operator's target: the ServiceMonitor's is the Service's
    name, a PodMonitor's <its namespace>/<its name>. A PodMonitor-only install with the
    ServiceMonitor's job paged UpliftOperatorDown for ever and silenced every other alert."""
    docs = helm_template("--set", "prometheusRule.enabled=true", "--set", "dashboards.enabled=true",
                         *values)
    rule = by_kind(docs, "PrometheusRule")[0]
    down = next(r for g in rule["spec"]["groups"] for r in g["rules"]
                if r["alert"] == "UpliftOperatorDown")
    assert down["expr"] == f'absent(up{{job="{job}"}} == 1)'
    boards = [d for d in by_kind(docs, "ConfigMap") if "-dashboard-" in d["metadata"]["name"]]
    assert len(boards) == 3
    for board in boards:
        [text] = board["data"].values()
        assert "__UPLIFT_OPERATOR_JOB__" not in text
        variables = {v["name"]: v for v in json.loads(text)["templating"]["list"]}
        assert variables["operator_job"]["query"] == job, board["metadata"]["name"]


def test_each_release_has_dashboards_of_its_own() -> None:
    """Grafana keeps one dashboard per uid, per title in a folder, and the sidecar one file per
    ConfigMap key: two shards (docs/install.md, "Sharding"), or one release name in two
    namespaces, each get their own, reading their own job; a release's names stay the same on
    an upgrade."""
    on = ["--set", "dashboards.enabled=true", "--set", "serviceMonitor.enabled=true"]
    releases: dict[tuple[str, str], list[str]] = {
        ("shard-a", "uplift-system"): [], ("shard-b", "uplift-system"): [],
        ("uplift", "uplift-system"): [], ("uplift", "other"): []}
    seen: dict[str, set[str]] = {"key": set(), "uid": set(), "title": set()}
    for (release, namespace), boards in releases.items():
        docs = helm_template(*on, "-n", namespace, release=release)
        assert docs == helm_template(*on, "-n", namespace, release=release)
        job = by_kind(docs, "Service")[0]["metadata"]["name"]
        for board in (d for d in by_kind(docs, "ConfigMap") if "-dashboard-" in d["metadata"]["name"]):
            [(key, text)] = board["data"].items()
            dashboard = json.loads(text)
            assert key == dashboard["uid"] + ".json" and len(dashboard["uid"]) <= 40
            assert re.fullmatch(r"uplift-(oncall|debug|executive)-[0-9a-f]{8}", dashboard["uid"])
            variables = {v["name"]: v for v in dashboard["templating"]["list"]}
            assert variables["operator_job"]["query"] == job
            boards.append(dashboard["title"])
            for what, value in (("key", key), ("uid", dashboard["uid"]),
                                ("title", dashboard["title"])):
                assert value not in seen[what], (release, namespace, what, value)
                seen[what].add(value)
        assert len(boards) == 3
    assert "Uplift (other/uplift-operator): on-call" in releases[("uplift", "other")]


def runtime_selectors(node: Any) -> Iterator[Any]:
    """The serving runtime's selectors (``uplift_*`` but ``uplift_operator_*``)."""
    for selector in selectors(node):
        name = selector.name or ""
        if name.startswith("uplift_") and not name.startswith("uplift_operator_"):
            yield selector


def rendered_boards(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The dashboards a render holds, by file name (``oncall.json``)."""
    boards = {}
    for board in (d for d in by_kind(docs, "ConfigMap") if "-dashboard-" in d["metadata"]["name"]):
        [text] = board["data"].values()
        assert "__UPLIFT_" not in text, board["metadata"]["name"]
        boards[board["metadata"]["name"].rsplit("-dashboard-", 1)[1] + ".json"] = json.loads(text)
    assert len(boards) == 3
    return boards


def rendered_targets(docs: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every panel's target of a render."""
    for name, board in rendered_boards(docs).items():
        for panel in board["panels"]:
            for target in panel["targets"]:
                yield name, panel["title"], target["expr"]


def _namespace_matchers(expr: str) -> list[tuple[str, str, str]]:
    """(metric, op, value) of the namespace matcher of each runtime selector of ``expr``."""
    found = []
    for selector in runtime_selectors(promql_parser.parse(expr)):
        namespaces = [m for m in selector.matchers.matchers if m.name == "namespace"]
        found += [(selector.name, str(m.op), m.value) for m in namespaces] or [
            (selector.name, "", "")]
    return found


@pytest.mark.parametrize(("values", "pattern"), [([], ".*"), (NAMESPACED, "team-a|team-b")],
                         ids=["all-namespaces", "sharded"])
def test_runtime_alerts_and_panels_select_the_watched_namespaces(values: list[str],
                                                                 pattern: str) -> None:
    """Every selector of the serving runtime's series in the alerts and the dashboards reads
    the namespaces the release watches (its shard, docs/install.md "Sharding"), as a regular
    expression Prometheus anchors; every namespace (no selection) when it watches all. Their
    series carry no job of the release's: servingPodMonitor is off by default, and a scrape of
    your own reads them as well."""
    docs = helm_template(*RULES_ON, "--set", "dashboards.enabled=true", *values)
    rule = by_kind(docs, "PrometheusRule")[0]
    exprs = [(r["alert"], r["expr"]) for g in rule["spec"]["groups"] for r in g["rules"]]
    exprs += [(f"{b}: {t}", e) for b, t, e in rendered_targets(docs)]
    checked = set()
    for where, expr in exprs:
        for metric, op, value in _namespace_matchers(expr):
            assert (op, value) == (str(promql_parser.MatchOp.Re), pattern), (where, metric)
            checked.add(where.split(":")[0])
    assert {"UpliftDeliveryRateLow", "UpliftReportTokenRefused", "UpliftCampaignSettingsRefused",
            "UpliftRowsWithoutUnitKey", "debug.json", "executive.json"} <= checked


def test_runtime_alerts_read_the_watched_namespaces_alone(tmp_path: Path) -> None:
    """A shard watching team-a and team-b, beside another shard's models (team-c,
    team-a-staging) in the same Prometheus: each runtime alert fires for its own namespaces'
    models alone (prometheus-rules-sharded-test.yaml); unscoped, every shard ticketed every
    shard's models."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    rule = by_kind(helm_template(*RULES_ON, *NAMESPACED), "PrometheusRule")[0]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    shutil.copy(HERE / "prometheus-rules-sharded-test.yaml", tmp_path)
    check = run(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    test = run(promtool, "test", "rules", "prometheus-rules-sharded-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def _runtime_panel(docs: list[dict[str, Any]], board: str, title: str) -> str:
    [expr] = [e for b, t, e in rendered_targets(docs) if b == board and t.startswith(title)]
    return expr


def test_runtime_panels_show_the_watched_namespaces_alone(tmp_path: Path) -> None:
    """A shard's "Rows scored per second" and "Deliveries per day", evaluated by promtool: its
    namespaces' models, not another shard's in the same Prometheus."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    docs = helm_template("--set", "dashboards.enabled=true", *NAMESPACED)
    scored = _runtime_panel(docs, "executive.json", "Rows scored per second")
    delivered = _runtime_panel(docs, "executive.json", "Deliveries per day")
    series = [s for namespace in ("team-a", "team-c", "team-a-staging") for s in (
        {"series": f'uplift_rows_scored_total{{job="serving", namespace="{namespace}", '
                   f'model="m", version="1", campaign=""}}', "values": "0+60x30"},
        {"series": f'uplift_deliveries_total{{job="serving", namespace="{namespace}", '
                   f'model="m", version="1", arm="treated", treatment="t", campaign="", '
                   f'status="ok"}}', "values": "0+10x30"})]
    run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series, "promql_expr_test": [
            {"expr": scored, "eval_time": "20m", "exp_samples": [
                {"labels": '{namespace="team-a", model="m", version="1"}', "value": 1}]},
            {"expr": f"round({delivered})", "eval_time": "20m", "exp_samples": [
                {"labels": '{namespace="team-a", model="m", status="ok"}', "value": 200}]}]}]}
    (tmp_path / "panels-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "panels-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


@pytest.mark.parametrize("interval", [15, 30, 60, 120, 300])
def test_runtime_panels_hold_three_scrapes_at_every_scrape_interval(interval: int) -> None:
    """Each range the dashboards read the serving runtime's series over holds at least three of
    its scrapes (prometheus.scrapeInterval, up to 300 s): rate() needs two, and one may be
    missed. A fixed [5m] held one sample most of the time at a 300 s interval: blank panels."""
    docs = helm_template("--set", "dashboards.enabled=true",
                         "--set", f"prometheus.scrapeInterval={interval}")
    checked = 0
    for board, title, expr in rendered_targets(docs):
        for matrix in nodes(promql_parser.parse(expr), promql_parser.MatrixSelector):
            if list(runtime_selectors(matrix.vector_selector)):
                assert matrix.range.total_seconds() >= 3 * interval, (board, title, matrix.range)
                assert matrix.range.total_seconds() >= 300, (board, title, matrix.range)
                checked += 1
    assert checked >= 20


def test_runtime_panels_have_data_at_the_longest_scrape_interval(tmp_path: Path) -> None:
    """At prometheus.scrapeInterval=300 (servingPodMonitor.interval=300s), the runtime's rate
    panels evaluated by promtool between two scrapes: a value, where [5m] read none."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    docs = helm_template("--set", "dashboards.enabled=true", "--set", "prometheus.scrapeInterval=300",
                         "--set", "servingPodMonitor.enabled=true",
                         "--set", "servingPodMonitor.interval=300s")
    labels = 'namespace="a", model="m", version="1"'
    series = [
        {"series": f'uplift_rows_scored_total{{{labels}, campaign=""}}', "values": "0+600x24"},
        {"series": f'uplift_rows_without_unit_total{{{labels}}}', "values": "0+30x24"},
        {"series": f'uplift_request_errors_total{{{labels}, endpoint="infer", reason="bad_input"}}',
         "values": "0+60x24"},
        {"series": f'uplift_assignments_total{{{labels}, campaign="", arm="treated", '
                   f'treatment="t"}}', "values": "0+300x24"}]
    series += [{"series": f'uplift_request_duration_seconds_bucket{{{labels}, endpoint="infer", '
                          f'le="{le}"}}', "values": f"0+{n}x24"}
               for le, n in (("0.1", 0), ("1.0", 300), ("+Inf", 300))]
    cases = [
        ("executive.json", "Rows scored per second", '{namespace="a", model="m", version="1"}', 2),
        ("debug.json", "Rows decided without the unit key", '{namespace="a", model="m", version="1"}',
         0.1),
        ("debug.json", "Rejected requests per second",
         '{namespace="a", model="m", version="1", endpoint="infer", reason="bad_input"}', 0.2),
        ("debug.json", "Assignments per arm",
         '{namespace="a", model="m", arm="treated", treatment="t"}', 1),
        ("debug.json", "Runtime latency p95", '{namespace="a", model="m", version="1"}', 0.955)]
    run_test = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "5m", "input_series": series, "promql_expr_test": [
            {"expr": f"round({_runtime_panel(docs, board, title)}, 0.001)", "eval_time": "62m",
             "exp_samples": [{"labels": labels_, "value": value}]}
            for board, title, labels_, value in cases]}]}
    (tmp_path / "panels-test.yaml").write_text(yaml.safe_dump(run_test, sort_keys=False))
    test = run(promtool, "test", "rules", "panels-test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def runbook_commands() -> Iterator[tuple[str, str]]:
    """Each runbook's kubectl commands as written (inline code, and the lines of code blocks),
    with their whitespace (a command wrapped onto the next line) made single spaces."""
    for runbook in sorted((ROOT / "docs" / "runbooks").glob("*.md")):
        text = runbook.read_text()
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
        inline = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
        commands = [line for block in blocks for line in block.splitlines()
                    if line.startswith("kubectl ")]
        commands += re.findall(r"`(kubectl\s[^`]+)`", inline)
        for command in commands:
            yield runbook.name, " ".join(command.split())


def test_runbook_commands_name_the_deployment_and_pods_that_exist() -> None:
    """The runbooks' kubectl commands as written, for the documented install (`helm install
    uplift ... -n uplift-system`, objects named uplift-operator) and the plain manifests. Any
    other release's names are in its operator alerts' annotations (operator_namespace,
    operator_deployment, operator_pods: the pods of that release alone, not another's sharing
    its namespace, as docs/install.md's shards do), which each runbook whose commands name the
    operator says to use."""
    chart = helm_template()
    manifests = [d for f in sorted((ROOT / "manifests").glob("*.yaml"))
                 for d in yaml.safe_load_all(f.read_text()) if d]
    deployments = [by_kind(chart, "Deployment")[0], by_kind(manifests, "Deployment")[0]]
    found = 0
    #: What each runbook names of the operator, as the annotation that gives this install's.
    named: dict[str, set[str]] = {}
    for runbook, command in runbook_commands():
        for name in re.findall(r"\b(?:deploy|deployment)(?:/| )(\S+)", command):
            found += 1
            named.setdefault(runbook, set()).add("operator_deployment")
            for deployment in deployments:
                assert name == deployment["metadata"]["name"], f"{runbook}: {command}"
        for selector in re.findall(r"(?:-l|--selector)[ =](app\.kubernetes\.io/\S+)", command):
            found += 1
            named.setdefault(runbook, set()).add("operator_pods")
            wanted = dict(kv.split("=", 1) for kv in selector.split(","))
            for deployment in deployments:
                labels = deployment["spec"]["template"]["metadata"]["labels"]
                assert wanted.items() <= labels.items(), f"{runbook}: {command}"
        # ``-n <namespace>``: the steered resource's own namespace (``kubectl uplift``,
        # ``kubectl annotate``), not the operator's; the plugin, which steers only UpliftModels
        # and Campaigns, may show an example's (``-n marketing``).
        if (re.search(r" -n (?!<namespace>( |$))", command)
                and not command.startswith("kubectl uplift ")):
            assert " -n uplift-system " in command, f"{runbook}: {command}"
            named.setdefault(runbook, set()).add("operator_namespace")
            for deployment in deployments:
                assert deployment["metadata"]["namespace"] == "uplift-system"
    assert found >= 5
    # The multi-line selector of UpliftOperatorNotReconciling.md (`-l` at a line's end) is read.
    assert "operator_pods" in named["UpliftOperatorNotReconciling.md"]
    releases = {release: helm_template(*RULES_ON, release=release)
                for release in ("uplift", "shard-a", "shard-b")}
    for release, docs in releases.items():
        deployment = by_kind(docs, "Deployment")[0]
        rules = {r["alert"]: r for g in by_kind(docs, "PrometheusRule")[0]["spec"]["groups"]
                 for r in g["rules"]}
        for runbook, keys in named.items():
            annotations = rules[runbook.removesuffix(".md")]["annotations"]
            assert {"operator_namespace", "operator_deployment", "operator_pods"} <= annotations.keys()
            text = (ROOT / "docs" / "runbooks" / runbook).read_text()
            assert all(f"`{key}`" in text for key in keys), (runbook, keys)
        for alert in (r for r in rules.values() if "operator_pods" in r["annotations"]):
            annotations = alert["annotations"]
            assert annotations["operator_namespace"] == deployment["metadata"]["namespace"]
            assert annotations["operator_deployment"] == deployment["metadata"]["name"]
            wanted = dict(kv.split("=", 1) for kv in annotations["operator_pods"].split(","))
            assert wanted == deployment["spec"]["selector"]["matchLabels"]
            for other, other_docs in releases.items():
                labels = by_kind(other_docs, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
                assert (wanted.items() <= labels.items()) == (other == release), (release, other)


#: A command that reads or steers no one namespace: across all of them, or cluster-scoped objects
#: (the CRDs, the API server's own endpoints).
_NO_NAMESPACE = re.compile(r" (?:-A|--all-namespaces)\b| crds?\b|crds/| --raw\b")


def test_runbook_commands_name_the_namespace_of_the_object_they_steer() -> None:
    """Every runbook command that names an object (``kubectl uplift <verb> <name>``, ``kubectl
    describe campaign <name>``, ``kubectl get pods --selector ...``) gives its namespace: the
    alert's ``namespace`` label (``-n <namespace>``), or the operator's. Without it kubectl (and
    the plugin) use the kubeconfig context's namespace, where the name may be missing, or be
    another object's that the command then steers. A bare verb in a sentence (``kubectl
    describe``, ``kubectl uplift pause``) names none."""
    checked = 0
    for runbook, command in runbook_commands():
        head = command.split("|")[0]  # a ``-n`` after a pipe (``| head -n 20``) is not kubectl's
        words = head.split()[1:]
        if words[:1] == ["uplift"]:
            words = words[1:]
        if _NO_NAMESPACE.search(command) or not [w for w in words[1:] if not w.startswith("-")]:
            continue
        checked += 1
        assert re.search(r" (?:-n|--namespace)[ =]\S", head), f"{runbook}: {command}"
    assert checked >= 50


def test_every_alert_is_in_the_install_guides_table_with_its_severity() -> None:
    """docs/install.md's alert table (alert | severity | fires when) lists each alert of the
    chart, with its severity, and no alert the chart does not have: an on-call engineer reads
    there what exists (UpliftCampaignSpendUnreadable and UpliftCampaignBudgetUnreadable were
    added to the chart without a row)."""
    rule = by_kind(helm_template(*RULES_ON), "PrometheusRule")[0]
    alerts = {r["alert"]: r["labels"]["severity"] for g in rule["spec"]["groups"]
              for r in g["rules"]}
    text = (ROOT / "docs" / "install.md").read_text()
    rows = dict(re.findall(r"^\s*\| (Uplift\w+) \| (critical|warning) \|", text, flags=re.M))
    assert rows == alerts


def test_alerts_read_the_operators_series_of_its_job_alone() -> None:
    """Every selector of the operator's series (and ``up``) in the alerts reads the job of the
    release's scrape target alone, as its dashboards do: another shard's operator exports the
    same metrics for its own resources under its own job, and a Campaign's budget alerts
    (UpliftCampaignSpendUnreadable, UpliftCampaignBudgetUnreadable) would fire for it too."""
    rule = by_kind(helm_template(*RULES_ON), "PrometheusRule")[0]
    checked = set()
    for alert in (r for g in rule["spec"]["groups"] for r in g["rules"]):
        for selector in operator_selectors(promql_parser.parse(alert["expr"])):
            jobs = [(m.op, m.value) for m in selector.matchers.matchers if m.name == "job"]
            assert jobs == [(promql_parser.MatchOp.Equal, "uplift-operator-metrics")], (
                alert["alert"], selector.name)
            checked.add(alert["alert"])
    assert {"UpliftCampaignSpendUnreadable", "UpliftCampaignBudgetUnreadable",
            "UpliftCampaignBudgetExhausted", "UpliftOperatorDown"} <= checked
