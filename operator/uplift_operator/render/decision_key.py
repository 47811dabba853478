"""The decision-key Secret: the key an UpliftModel's runtime pods sign decision ids with.

One Secret per UpliftModel (``naming.decision_key_secret``, data key ``key``), shared by every
replica of every predictor, so any of them accepts a report for an id another issued
(docs/runtime.md). The operator creates it once with a random key and never writes it again;
the UpliftModel owns it, so the garbage collector deletes it with the model. Pure: the caller
generates the key, so the manifest is the same for the same inputs.
"""

from __future__ import annotations

from typing import Any

from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

__all__ = ["DECISION_KEY", "decision_key_secret"]

DECISION_KEY = "key"  # the data key the runtime's UPLIFT_DECISION_KEY is read from


def decision_key_secret(owner: Owner, key: str) -> dict[str, Any]:
    """The Secret holding ``key`` (text: the runtime reads it from the environment)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": naming.decision_key_secret(owner.name),
            "namespace": owner.namespace,
            "labels": naming.labels(owner),
            "ownerReferences": [naming.owner_reference(owner)],
        },
        "type": "Opaque",
        "stringData": {DECISION_KEY: key},
    }
