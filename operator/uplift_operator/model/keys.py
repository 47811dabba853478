"""Treatment keys: the one naming rule shared by the model, the runtime and the operator.

Standard library only, so the operator (metric label names, runtime settings) can use it without
importing the data plane's numpy/pandas stack through ``model.features``.
"""

from __future__ import annotations

import re

__all__ = ["treatment_key"]


def treatment_key(name: str) -> str:
    """Metric- and column-safe key of a treatment name: ``"Mens E-Mail"`` → ``"mens_e_mail"``."""
    key = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    if not key:
        raise ValueError(f"treatment name {name!r} has no alphanumeric characters")
    return key if not key[0].isdigit() else f"t_{key}"
