"""The CustomResourceDefinitions of uplift.dev, built from the typed models.

Names, short names, categories and printer columns are declared here next to the kinds they
describe; the schemas come from the pydantic models (``api.schema``). ``crdgen`` writes the
results to ``crds/`` and the chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from uplift_operator.api import schema
from uplift_operator.api.v1alpha1 import GROUP, VERSION, Campaign, UpliftModel

__all__ = ["ARGOCD_KEEP", "CAMPAIGN", "CRDS", "UPLIFTMODEL", "CrdDefinition"]

CATEGORY = "uplift"

#: On every CRD the project ships. Argo CD renders a chart's ``crds/`` (unless ``skipCrds``)
#: and tracks them as resources of the Application: deleting that Application (its default
#: ``resources-finalizer.argocd.argoproj.io``), or a CRD dropped from the rendered output with
#: ``prune: true``, would delete the CRD, and with it every UpliftModel and Campaign of every
#: namespace, their SeldonDeployments (owner references) and all their status, or every kopf
#: operator's peering objects. With these options Argo CD leaves the CRD in place; Helm and
#: kubectl ignore the annotation.
ARGOCD_KEEP = {"argocd.argoproj.io/sync-options": "Delete=false,Prune=false"}


@dataclass(frozen=True)
class CrdDefinition:
    """What a CRD needs beyond its schema."""

    model: type[BaseModel]
    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[dict[str, Any], ...]
    description: str
    categories: tuple[str, ...] = field(default=(CATEGORY,))

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    def manifest(self) -> dict[str, Any]:
        """The full CRD object."""
        spec_schema = schema.structural_schema(self.model)
        properties = spec_schema["properties"]
        properties["metadata"] = {"type": "object"}
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name,
                         "labels": {"app.kubernetes.io/part-of": "uplift-operator"},
                         "annotations": dict(ARGOCD_KEEP)},
            "spec": {
                "group": GROUP,
                "scope": "Namespaced",
                "names": {
                    "kind": self.kind,
                    "listKind": f"{self.kind}List",
                    "plural": self.plural,
                    "singular": self.singular,
                    "shortNames": list(self.short_names),
                    "categories": list(self.categories),
                },
                "versions": [{
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(self.printer_columns),
                    "schema": {"openAPIV3Schema": {
                        "description": self.description,
                        "type": "object",
                        "required": ["spec"],
                        "properties": {
                            "apiVersion": {"type": "string",
                                           "description": "APIVersion of this object."},
                            "kind": {"type": "string", "description": "Kind of this object."},
                            "metadata": {"type": "object"},
                            "spec": properties["spec"],
                            "status": properties["status"],
                        },
                        # Rules across spec and status (a spec change refused mid-canary).
                        **{k: v for k, v in spec_schema.items()
                           if k == "x-kubernetes-validations"},
                    }},
                }],
            },
        }


def _column(name: str, path: str, type_: str = "string", priority: int = 0,
            description: str = "") -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    if description:
        column["description"] = description
    return column


_AGE = _column("Age", ".metadata.creationTimestamp", "date")

#: The level of a Campaign result's bounds (status.incrementalEffect, status.roi).
_CS_LEVEL = ("the gate's anytime-valid confidence sequence, each bound one-sided at its alpha, "
             "together 1 - 2 alpha (90 % at the default alpha 0.05)")

UPLIFTMODEL = CrdDefinition(
    model=UpliftModel,
    kind="UpliftModel",
    plural="upliftmodels",
    singular="upliftmodel",
    short_names=("um", "umodel"),
    description=UpliftModel.__doc__ or "",
    printer_columns=(
        _column("Phase", ".status.phase", description="Progressing, Healthy, Degraded, Paused"),
        _column("Stable", ".status.stableVersion", description="Stable model version"),
        _column("Canary", ".status.canaryVersion", description="Canary model version"),
        _column("Weight", ".status.canaryWeight", "integer", description="Canary traffic %"),
        # What the graph carries, which Stable/Canary/Weight (the decided split) are not while
        # it is behind: an emergency rollback's restore, an apply refused.
        _column("Serving", ".status.servingSplit",
                description="Traffic split the serving graph carries, as last read or applied "
                            "(e.g. v1 0%, v2 100% while an emergency rollback's restored "
                            "version starts)"),
        # 0-based, as status.currentStep: named so, since messages and events say "step 1/3".
        _column("StepIndex", ".status.currentStep", "integer",
                description="Ramp step index, from 0 (messages and events count steps from 1)"),
        _AGE,
        _column("Message", ".status.message", priority=1),
    ),
)

CAMPAIGN = CrdDefinition(
    model=Campaign,
    kind="Campaign",
    plural="campaigns",
    singular="campaign",
    short_names=("camp",),
    description=Campaign.__doc__ or "",
    printer_columns=(
        _column("Phase", ".status.phase",
                description="Progressing, Healthy, Degraded, Paused, Suspended (before "
                            "schedule.start, a spent budget, or a spend unreadable past "
                            "economics.budgetUnreadable.after) or Completed (past "
                            "schedule.end)"),
        _column("Model", ".spec.modelRef.name", description="UpliftModel used for targeting"),
        _column("Exposure", ".status.exposurePercent", "number",
                description="The exposure ramp's %: kept while the runtime treats no one "
                            "under a refused spec (Phase Degraded, Message says so)"),
        # The bounds are the gate's confidence sequence, each side one-sided at the gate's
        # alpha (domain.gates._sequential_effect): together 1 - 2 alpha, not a fixed 95 %.
        _column("Effect", ".status.incrementalEffect.display",
                description=f"Incremental conversion rate [lower, upper]: {_CS_LEVEL}"),
        _column("ROI", ".status.roi.display",
                description=f"Return on investment [lower, upper]: {_CS_LEVEL}"),
        _AGE,
        _column("Spend", ".status.spend", "number", priority=1,
                description="Spend in the current budget period"),
        _column("Remaining", ".status.budgetRemaining", "number", priority=1,
                description="Budget left in the current period"),
        _column("Message", ".status.message", priority=1),
    ),
)

CRDS: tuple[CrdDefinition, ...] = (UPLIFTMODEL, CAMPAIGN)


def kopf_peering_crds() -> list[dict[str, Any]]:
    """kopf's own peering CRDs (kopf.dev/v1), which the operator's replicas meet in."""
    crds = []
    for kind, scope in (("ClusterKopfPeering", "Cluster"), ("KopfPeering", "Namespaced")):
        plural = kind.lower() + "s"
        crds.append({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.kopf.dev", "annotations": dict(ARGOCD_KEEP)},
            "spec": {
                "scope": scope,
                "group": "kopf.dev",
                "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                "versions": [{
                    "name": "v1", "served": True, "storage": True,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "description": "Replicas of a kopf operator and their priorities.",
                        "properties": {"status": {
                            "type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }},
                }],
            },
        })
    return crds
