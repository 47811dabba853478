"""Least privilege, judged by a real API server: the chart's namespaced install.

A control plane of this module's own, where the operator's identity (ServiceAccount
``uplift-system/uplift-operator``) has only what ``helm template`` renders for a namespaced
install watching team-a and team-b with ``rbac.secretNames={mlflow-credentials}``: a Role and a
RoleBinding in each, nothing cluster-wide but the two admission policies (and their bindings) on
what it writes, Secrets and SeldonDeployments. Against it:

- the operator's own token is refused every cluster-scoped read and every Secret it was not
  given (another name, another namespace, a listing), and allowed the one it was;
- the real operator runs there on those Roles alone (and under the chart's
  ValidatingAdmissionPolicies on the Secrets and SeldonDeployments it writes): it reconciles a
  model whose credentials Secret it may read up to Healthy, creating its decision-key Secret
  and its SeldonDeployment, and reports the API server's refusal, naming the Secret, for a
  model that names another one; its log has no permission warning and no traceback;
- what it deploys gives the runtime pods no API access (no service account token mounted).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import config as kube_config
from tests.contract.test_packaging import CHART, KUBE_VERSION, tools
from tests.support.kube import Kubectl, OperatorProcess, install_crds
from tests.support.registry import Versions

from uplift_operator.devenv.controlplane import OPERATOR_USER, ControlPlane
from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.seldon_standin import SeldonStandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WATCHED = ("team-a", "team-b")
ALLOWED_SECRET = "mlflow-credentials"


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    """The chart's namespaced install (CRDs as `helm install` applies them, then the templates),
    a Secret of each kind in each namespace."""
    kubectl = Kubectl(plane.admin_kubeconfig)
    install_crds(kubectl)
    for namespace in ("uplift-system", *WATCHED, "elsewhere"):
        kubectl.run("create", "namespace", namespace)
    rendered = subprocess.run(
        [tools()["helm"], "template", "uplift", str(CHART), "-n", "uplift-system",
         "--kube-version", KUBE_VERSION,
         "--set", "watch.allNamespaces=false", "--set", f"watch.namespaces={{{','.join(WATCHED)}}}",
         "--set", f"rbac.secretNames={{{ALLOWED_SECRET}}}"],
        check=True, capture_output=True, text=True).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    service_accounts = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in service_accounts] == [
        ("uplift-system", "uplift-operator")], "the chart's identity is the control plane's"
    # Besides the Roles, the cluster-scoped objects: the admission policies on the Secrets and
    # the SeldonDeployments it writes.
    assert {d["kind"] for d in docs} >= {"ValidatingAdmissionPolicy",
                                         "ValidatingAdmissionPolicyBinding"}
    for doc in docs:  # as `helm install -n uplift-system` would place them
        if doc["kind"] not in {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering",
                               "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}:
            doc["metadata"].setdefault("namespace", "uplift-system")
    kubectl.apply(docs)
    for namespace in (*WATCHED, "elsewhere", "kube-system"):
        for name in (ALLOWED_SECRET, "other-credentials"):
            kubectl.apply(_token_secret(name), namespace=namespace)
    return kubectl


def _token_secret(name: str) -> dict[str, Any]:
    token = base64.b64encode(f"token-of-{name}".encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "Opaque", "data": {"token": token}}


def test_the_install_binds_nothing_cluster_wide(admin: Kubectl) -> None:
    bindings = json.loads(admin.run("get", "clusterrolebindings", "-o", "json").stdout)["items"]
    ours = [b["metadata"]["name"] for b in bindings
            if any(s.get("name") == "uplift-operator" for s in b.get("subjects") or [])]
    assert ours == []
    roles = json.loads(admin.run("get", "roles", "-A", "-o", "json").stdout)["items"]
    assert sorted(r["metadata"]["namespace"] for r in roles
                  if r["metadata"]["name"] == "uplift-operator") == list(WATCHED)


@pytest.mark.parametrize(("verb", "resource", "scope"), [
    ("list", "namespaces", []),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", []),
    ("get", "clusterkopfpeerings.kopf.dev", []),
    ("list", "upliftmodels.uplift.dev", ["--all-namespaces"]),
    ("list", "upliftmodels.uplift.dev", ["-n", "elsewhere"]),
    ("create", "seldondeployments.machinelearning.seldon.io", ["-n", "elsewhere"]),
    ("list", "secrets", ["-n", "team-a"]),
    ("watch", "secrets", ["-n", "team-a"]),
    # another kopf operator's peering object in a watched namespace
    ("patch", "kopfpeerings.kopf.dev/another-operator", ["-n", "team-a"]),
    ("get", "kopfpeerings.kopf.dev/another-operator", ["-n", "team-a"]),
])
def test_outside_the_watched_namespaces_nothing_is_allowed(
        as_operator: Kubectl, verb: str, resource: str, scope: list[str]) -> None:
    answer = as_operator.run("auth", "can-i", verb, resource, *scope, check=False)
    assert answer.stdout.strip() == "no"


@pytest.mark.parametrize(("namespace", "name"), [
    ("team-a", "other-credentials"),        # a Secret the install did not name
    ("elsewhere", ALLOWED_SECRET),          # the named one, in a namespace not watched
    ("kube-system", ALLOWED_SECRET),
])
def test_reading_another_secret_is_forbidden(as_operator: Kubectl, namespace: str,
                                             name: str) -> None:
    refused = as_operator.run("get", "secret", name, "-n", namespace, check=False)
    assert refused.returncode != 0
    assert (f'secrets "{name}" is forbidden: User "{OPERATOR_USER}" cannot get resource "secrets"'
            f' in API group "" in the namespace "{namespace}"') in refused.stderr, refused.stderr


def test_only_its_own_peering_object_may_be_read_and_patched(as_operator: Kubectl) -> None:
    """kopf patches its peering object by name; list, watch and create stay unnamed."""
    for namespace in WATCHED:
        def can(verb: str, resource: str, namespace: str = namespace) -> str:
            return as_operator.run("auth", "can-i", verb, resource, "-n", namespace,
                                   check=False).stdout.strip()

        for verb in ("get", "patch"):
            assert can(verb, "kopfpeerings.kopf.dev/uplift-operator") == "yes"
            assert can(verb, "kopfpeerings.kopf.dev/another-operator") == "no"
        for verb in ("list", "watch", "create"):
            assert can(verb, "kopfpeerings.kopf.dev") == "yes"


def test_reading_the_named_secret_is_allowed_in_each_watched_namespace(
        as_operator: Kubectl) -> None:
    for namespace in WATCHED:
        secret = as_operator.get("secret", ALLOWED_SECRET, namespace)
        assert secret["metadata"]["name"] == ALLOWED_SECRET
    listing = as_operator.run("get", "secrets", "-n", "team-a", check=False)
    assert listing.returncode != 0 and "cannot list resource" in listing.stderr


def test_the_operator_runs_on_the_roles_alone(
        plane: ControlPlane, admin: Kubectl, versions: Versions, mlflow_server: MlflowServer,
        tmp_path: Path) -> None:
    standin = SeldonStandIn(
        kube_config.new_client_from_config(str(plane.admin_kubeconfig)))  # type: ignore[no-untyped-call]
    operator = OperatorProcess(plane.operator_kubeconfig, tmp_path, "--namespace", "team-a",
                               "--namespace", "team-b", "--priority", "3",
                               "--mlflow-tracking-uri", mlflow_server.url)
    model = "least-privilege-model"
    versions.set_alias("champion", versions.clone(name=model), name=model)
    standin.start()
    operator.start()
    try:
        admin.apply(_model(model, ALLOWED_SECRET), namespace="team-a")
        admin.apply(_model(model, "other-credentials"), namespace="team-b")

        def status(namespace: str) -> dict[str, Any]:
            found: dict[str, Any] = admin.get("upliftmodel", "um", namespace).get("status", {})
            return found

        admin.wait_for(lambda: status("team-a").get("phase") == "Healthy", timeout=90,
                       what="the model with the allowed Secret Healthy")
        admin.wait_for(lambda: any(c["type"] == "ModelResolved" and c["status"] == "False"
                                   for c in status("team-b").get("conditions", [])),
                       timeout=60, what="the model with another Secret unresolved")
        refused = next(c for c in status("team-b")["conditions"] if c["type"] == "ModelResolved")
        assert refused["reason"] == "CredentialsUnreadable"
        assert "get secret team-b/other-credentials: 403" in refused["message"], refused
        assert "token-of" not in json.dumps(status("team-b"))
        assert admin.run("get", "seldondeployments.machinelearning.seldon.io", "um", "-n",
                         "team-b", check=False).returncode != 0, "nothing deployed"

        # Its decision-key Secret, created under the chart's ValidatingAdmissionPolicy.
        key = admin.get("secret", "um-decision-key", "team-a")
        assert key["type"] == "Opaque" and list(key["data"]) == ["key"]
        assert admin.run("get", "validatingadmissionpolicybinding", "uplift-operator",
                         check=False).returncode == 0

        # What the operator deployed gives the runtime pods no API credentials at all.
        graph = admin.get("seldondeployments.machinelearning.seldon.io", "um", "team-a")
        specs = [c["spec"] for p in graph["spec"]["predictors"] for c in p["componentSpecs"]]
        assert specs and all(s["automountServiceAccountToken"] is False for s in specs)
        assert not any(s.get("serviceAccountName") for s in specs)

        log = operator.logs()
        assert "Not enough permissions" not in log and "Traceback" not in log, log[-3000:]
        assert " 403" not in log.replace("get secret team-b/other-credentials: 403", ""), (
            log[-3000:])
    finally:
        operator.stop()
        standin.stop()


def _model(registered: str, secret: str) -> dict[str, Any]:
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
            "metadata": {"name": "um"},
            "spec": {"model": {"registeredModel": registered, "alias": "champion",
                               "credentials": {"name": secret, "tokenKey": "token"}},
                     "treatments": [{"name": "womens-e-mail"}],
                     "rollout": {"steps": [{"weight": 50}],
                                 "gates": [{"name": "errors", "type": "errorRate",
                                            "max": 0.05}]}}}
