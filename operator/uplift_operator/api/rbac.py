"""The Kubernetes permissions the operator needs: the one source for manifests/ and the chart.

Each rule says why it exists. ``crdgen`` renders these into ``manifests/rbac.yaml`` and the
chart's ClusterRole; an integration test runs the operator under exactly these rules and checks
that a call outside them is refused.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPERATOR_NAMESPACE", "PEERING_NAME", "RULES", "SERVICE_ACCOUNT", "namespaced_rules"]

OPERATOR_NAMESPACE = "uplift-system"
SERVICE_ACCOUNT = "uplift-operator"
#: The peering objects' name the operator uses by default (``--peering``, settings.parse_args) and
#: the plain manifests create (manifests/kopf-peering.yaml): get and patch are granted on it alone.
PEERING_NAME = "uplift-operator"

_RULES: list[tuple[str, dict[str, Any]]] = [
    ("watch our resources; patch annotations (kopf progress) and status",
     {"apiGroups": ["uplift.dev"], "resources": ["upliftmodels", "campaigns"],
      "verbs": ["get", "list", "watch", "patch"]}),
    ("write status through the status subresource (JSON merge patches, kopf's and the "
     "operator's own: no PUT, so no update; no get either: the status is read with the object)",
     {"apiGroups": ["uplift.dev"], "resources": ["upliftmodels/status", "campaigns/status"],
      "verbs": ["patch"]}),
    ("set blockOwnerDeletion on the owner references of an UpliftModel's children (its "
     "SeldonDeployment, decision-key Secret and campaigns ConfigMap, render.naming."
     "owner_reference): with the OwnerReferencesPermissionEnforcement admission plugin (on in "
     "OpenShift) the API server refuses such a reference unless its author may update the "
     "owner's finalizers (update of this subresource only; the operator puts no finalizer on "
     "anything)",
     {"apiGroups": ["uplift.dev"], "resources": ["upliftmodels/finalizers"],
      "verbs": ["update"]}),
    ("own the serving graphs: server-side apply (patch, and create when the graph does not "
     "exist yet); the garbage collector deletes them through their owner references, so no "
     "delete; never a PUT, so no update. RBAC cannot say what a SeldonDeployment holds, and "
     "Seldon runs the pods it describes, so the ValidatingAdmissionPolicy in "
     "manifests/seldondeployments-policy.yaml (and the chart's admissionPolicy) admits only the "
     "shape render.seldon renders for this identity (docs/security.md)",
     {"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"],
      "verbs": ["get", "list", "watch", "create", "patch"]}),
    ("own the serving pods' PodDisruptionBudgets (spec.serving.disruptionBudget: one per served "
     "version, services.disruption): server-side apply (patch, and create for a new one), get "
     "of one of the name before taking it (someone else's is not taken over), list of the "
     "operator's own in a namespace once per start (metadata only, by the label "
     "app.kubernetes.io/managed-by=uplift-operator,uplift.dev/model: RBAC cannot narrow a list "
     "by label), and delete of one whose version left the graph or whose field was removed "
     "(the garbage collector deletes the rest with their UpliftModel); no watch, no update",
     {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"],
      "verbs": ["get", "list", "create", "patch", "delete"]}),
    ("post events that explain every decision (kopf.event POSTs each one; nothing patches "
     "an event)",
     {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}),
    ("read MLflow credentials named by a resource (get only: no listing of secrets; the chart's "
     "rbac.secretNames narrows it to those names)",
     {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
    ("create each UpliftModel's decision-key Secret (create only: an existing one is never "
     "updated; the UpliftModel owns it, so the garbage collector deletes it). RBAC cannot narrow "
     "a create; with get above it would let the operator's token create a service-account-token "
     "Secret for any ServiceAccount and read it back, so the ValidatingAdmissionPolicy in "
     "manifests/secrets-policy.yaml (and the chart's admissionPolicy, which also installs "
     "the one on SeldonDeployments) admits only the "
     "decision-key Secrets for this identity (docs/security.md)",
     {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}),
    ("write each UpliftModel's campaigns file (server-side apply of <model>-campaigns; the "
     "UpliftModel owns it, so the garbage collector deletes it) and watch those files so a hand "
     "edit or deletion is undone at once: list and watch only with the label selector "
     "app.kubernetes.io/managed-by=uplift-operator,uplift.dev/model (RBAC cannot narrow a list "
     "by label, so the rule allows reading ConfigMaps; the operator asks for its own only), get "
     "of one not seen by the watch yet",
     {"apiGroups": [""], "resources": ["configmaps"],
      "verbs": ["get", "list", "watch", "create", "patch"]}),
    ("kopf: follow namespaces matching --namespace globs",
     {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}),
    ("kopf: notice CRDs appearing and disappearing",
     {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
      "verbs": ["list", "watch"]}),
    ("kopf peering: replicas agree which one acts. kopf watches the whole kind (its peering "
     "observer lists and watches without a selector, and picks its own object out by name: RBAC's "
     "resourceNames cannot narrow that), and pauses every watch until the peering object exists "
     "(the ClusterKopfPeering, or a KopfPeering in each watched namespace), so the operator "
     "creates one it finds missing (handlers/readiness.py; a create cannot be narrowed by name; "
     "it never deletes one)",
     {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings", "kopfpeerings"],
      "verbs": ["list", "watch", "create"]}),
    ("kopf peering, the operator's own peering object only (other kopf operators of the cluster "
     "share these kinds): get (handlers/readiness.py looks it up by name) and patch (kopf's "
     "keep-alives, and its removal of dead peers, merge-patch it by name: kopf/_core/engines/"
     "peering.py touch and clean). Its name is --peering: PEERING_NAME here and in manifests/, "
     "the chart's peering name in its rules",
     {"apiGroups": ["kopf.dev"], "resources": ["clusterkopfpeerings", "kopfpeerings"],
      "verbs": ["get", "patch"], "resourceNames": [PEERING_NAME]}),
]

RULES: list[dict[str, Any]] = [rule for _, rule in _RULES]
REASONS: list[str] = [reason for reason, _ in _RULES]

# Resources that exist outside namespaces: only the cluster-wide mode needs them. An operator
# given exact namespace names lists and watches none of them (settings.OperatorConfig.
# cluster_reads), so a namespaced install (the chart's watch.allNamespaces=false) is a Role in
# each watched namespace and nothing cluster-wide.
CLUSTER_SCOPED = frozenset({"namespaces", "customresourcedefinitions", "clusterkopfpeerings"})


def namespaced_rules() -> list[dict[str, Any]]:
    """The rules on namespaced resources: a Role per watched namespace in namespaced mode."""
    out = []
    for rule in RULES:
        resources = [r for r in rule["resources"] if r not in CLUSTER_SCOPED]
        if resources:
            out.append({**rule, "resources": resources})
    return out
