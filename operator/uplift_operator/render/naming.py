"""Names, labels and owner references of the children an UpliftModel owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MANAGED_BY", "MANAGED_BY_LABEL", "MODEL_LABEL", "Owner", "campaigns_config_map",
           "decision_key_secret", "labels", "owner_reference", "predictor_name"]

MANAGED_BY = "uplift-operator"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MODEL_LABEL = "uplift.dev/model"


@dataclass(frozen=True)
class Owner:
    """The identity of the owning UpliftModel, as read from its metadata."""

    name: str
    namespace: str
    uid: str
    api_version: str = "uplift.dev/v1alpha1"
    kind: str = "UpliftModel"


def predictor_name(version: str) -> str:
    """One predictor per model version; named by version so promotion renames nothing."""
    return f"v{version}"


def decision_key_secret(name: str) -> str:
    """The Secret holding the key the runtime signs decision ids with (one per UpliftModel)."""
    return f"{name}-decision-key"


def campaigns_config_map(name: str) -> str:
    """The ConfigMap holding the campaigns file of an UpliftModel (``render.campaigns``)."""
    return f"{name}-campaigns"


def labels(owner: Owner) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, "app.kubernetes.io/name": owner.name,
            MODEL_LABEL: owner.name}


def owner_reference(owner: Owner) -> dict[str, Any]:
    """Controller reference: deleting the UpliftModel lets the garbage collector delete the child."""
    return {"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name,
            "uid": owner.uid, "controller": True, "blockOwnerDeletion": True}
