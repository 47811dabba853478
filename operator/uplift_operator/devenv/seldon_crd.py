"""Which SeldonDeployment CRD the local control plane gets: Seldon Core 1.17.1's own, or the stand-in.

Seldon's CRD (``../shared/seldon/``, Apache-2.0, the one Seldon's Helm chart installs; 1.8 MB, so
applied with ``--server-side``) validates and prunes every rendered SeldonDeployment exactly as a
real cluster would. When ``../shared`` is not laid out, the open stand-in schema in
``manifests/dev/`` keeps the suite useful, and ``seldon_crd()`` says so on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["CRD_NAME", "SELDON_CRD", "STANDIN_CRD", "seldon_crd"]

ROOT = Path(__file__).resolve().parents[3]
SELDON_CRD = ROOT.parent / "shared" / "seldon" / "seldondeployments.machinelearning.seldon.io.yaml"
STANDIN_CRD = ROOT / "manifests" / "dev" / "seldon-standin-crd.yaml"
CRD_NAME = "seldondeployments.machinelearning.seldon.io"


def seldon_crd(quiet: bool = False) -> tuple[Path, bool]:
    """(CRD file to apply with ``kubectl apply --server-side``, whether it is Seldon's own)."""
    if SELDON_CRD.exists():
        return SELDON_CRD, True
    if not quiet:
        print(f"note: {SELDON_CRD} is absent; using the open stand-in SeldonDeployment CRD "
              f"{STANDIN_CRD.relative_to(ROOT)} (rendered SeldonDeployments are not validated "
              "by Seldon's schema)", file=sys.stderr)
    return STANDIN_CRD, False
