"""Every CRD the project ships tells Argo CD never to delete or prune it.

Argo CD tracks a chart's ``crds/`` as resources of the Application that renders them: without
``Delete=false,Prune=false`` deleting that Application (or dropping a CRD from its output with
pruning on) deletes the CRD, and the API server then deletes every UpliftModel and Campaign in
the cluster, their serving graphs with them (owner references), or every kopf operator's peering
objects. The checked-in files are what users apply, so they are what this reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRD_DIRS = (ROOT / "crds", ROOT / "charts" / "uplift-operator" / "crds")
EXPECTED_CRDS = {"upliftmodels.uplift.dev", "campaigns.uplift.dev",
                 "kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"}


def _crds(directory: Path) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "CustomResourceDefinition":
                found[document["metadata"]["name"]] = document["metadata"]
    return found


@pytest.mark.parametrize("directory", CRD_DIRS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_shipped_crd_is_neither_deleted_nor_pruned_by_argocd(directory: Path) -> None:
    crds = _crds(directory)
    assert set(crds) == EXPECTED_CRDS
    for name, metadata in crds.items():
        annotations = metadata.get("annotations") or {}
        assert isinstance(annotations, dict)
        options = {option.strip() for option in
                   str(annotations.get("argocd.argoproj.io/sync-options", "")).split(",")}
        assert {"Delete=false", "Prune=false"} <= options, f"{name}: {annotations!r}"
