"""The PodDisruptionBudgets of an UpliftModel's serving pods: one per served version.

Seldon Core 1.17.1's own ``componentSpecs[].pdbSpec`` makes one budget per Deployment whose
selector is the whole SeldonDeployment (``createPdb``: ``seldon-deployment-id`` alone), so while a
canary runs every pod would be covered by two budgets, and the Eviction API refuses to evict a pod
more than one budget covers (a 500 ``kubectl drain`` does not retry). The operator's own budgets
select one version's pods of one SeldonDeployment each, by two labels Seldon 1.17.1 puts on every
pod of a predictor (``createDeploymentWithoutEngine``): ``seldon-deployment-id``, the
SeldonDeployment's name (``seldon-<md5 of the name>`` past 63 characters:
``GetSeldonDeploymentName``), and the predictor's ``labels``, which ``render.seldon`` sets to
``uplift.dev/version: <version>`` (copied to the Deployment's pod template, as its
``componentSpecs[].metadata.labels`` would be). No two budgets of the operator cover one pod.

Pure: what the operator wants there, from the spec's ``serving.disruptionBudget`` and the versions
the graph serves; ``services.disruption`` applies it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

__all__ = ["API_VERSION", "PLURAL", "SELDON_ID_LABEL", "VERSION_LABEL", "budget_name",
           "desired_budgets", "pod_selector", "seldon_deployment_id"]

API_VERSION = "policy/v1"
KIND = "PodDisruptionBudget"
PLURAL = "poddisruptionbudgets"
#: The pod label Seldon Core 1.17.1 gives every pod of a SeldonDeployment (``Label_seldon_id``).
SELDON_ID_LABEL = "seldon-deployment-id"
#: The predictor label ``render.seldon`` renders, which Seldon copies onto the predictor's pods.
VERSION_LABEL = "uplift.dev/version"
#: The longest name Kubernetes gives a label value, and the operator a budget.
NAME_BOUND = 63
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DIGEST = 10


def seldon_deployment_id(name: str) -> str:
    """The ``seldon-deployment-id`` label Seldon Core 1.17.1 puts on the pods of the
    SeldonDeployment ``name`` (``GetSeldonDeploymentName``): the name, or past 63 characters
    ``seldon-`` and the name's md5."""
    if len(name) <= NAME_BOUND:
        return name
    return "seldon-" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


def budget_name(model: str, version: str) -> str:
    """``<model>-v<version>`` (the predictor's name after the model's) when that is a DNS-1123
    label of at most 63 characters; else the model's name cut short and a digest of both, so that
    the name stays deterministic, valid and distinct per (model, version)."""
    natural = f"{model}-{naming.predictor_name(version)}"
    if len(natural) <= NAME_BOUND and _LABEL.match(natural) and version.isdigit():
        return natural
    digest = hashlib.sha256(f"{model}/{version}".encode()).hexdigest()[:_DIGEST]
    head = model[:NAME_BOUND - _DIGEST - 1].rstrip("-")
    return f"{head}-{digest}"


def pod_selector(graph: str, version: str) -> dict[str, str]:
    """The labels of exactly the pods of ``version`` in the SeldonDeployment ``graph``."""
    return {SELDON_ID_LABEL: seldon_deployment_id(graph), VERSION_LABEL: version}


def budget_labels(owner: Owner) -> dict[str, str]:
    """The labels of every budget of ``owner``: the operator's, as on its other children, by
    which ``services.disruption`` lists them (``app.kubernetes.io/managed-by`` and
    ``uplift.dev/model``)."""
    return naming.labels(owner)


def desired_budgets(owner: Owner, budget: Mapping[str, Any] | None,
                    versions: Iterable[str]) -> list[dict[str, Any]]:
    """The PodDisruptionBudget manifests ``owner`` wants: none without ``budget`` (the spec's
    ``serving.disruptionBudget`` on the wire), else one per version in ``versions`` (each named
    ``budget_name``, selecting ``pod_selector`` of the graph, which is named after the model),
    sorted by name; owned by the UpliftModel as its other children are."""
    if not budget:
        return []
    spec: dict[str, Any] = {}
    for key in ("maxUnavailable", "minAvailable", "unhealthyPodEvictionPolicy"):
        if budget.get(key) is not None:
            spec[key] = budget[key]
    manifests: list[dict[str, Any]] = []
    for version in sorted(set(versions)):
        manifests.append({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": budget_name(owner.name, version),
                "namespace": owner.namespace,
                "labels": {**budget_labels(owner), VERSION_LABEL: version},
                "ownerReferences": [naming.owner_reference(owner)],
            },
            "spec": {**spec, "selector": {"matchLabels": pod_selector(owner.name, version)}},
        })
    return sorted(manifests, key=lambda m: str(m["metadata"]["name"]))
