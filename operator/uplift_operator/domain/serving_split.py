"""The split the serving graph carries, in words: ``status.servingSplit`` ("v1 0%, v2 100%").

The status' ``stableVersion``, ``canaryVersion`` and ``canaryWeight`` say what the ramp decided;
the graph may carry something else meanwhile: an emergency rollback's restore (the replaced
stable keeps all the traffic, at 100 %, until the restored one serves), an apply the API server
refused (the canary keeps its traffic), a hand edit not reverted yet. ``describe`` words the
graph's own predictors' traffic for the status and the ``Serving`` printer column;
``kubectl uplift status`` reads such words back (``plugin.kubectl_uplift._serving_shares``) and
shows them where they differ from the decided split.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from uplift_operator.api.v1alpha1.upliftmodel import SERVING_SPLIT_LENGTH

__all__ = ["MAX_LENGTH", "MAX_SHOWN", "describe"]

#: The predictors worded at most (the operator renders two; more is a hand edit).
MAX_SHOWN = 8
#: The longest words ``describe`` returns (``MAX_SHOWN`` versions of 16 characters at 100 %,
#: and the count of those left out, are shorter): the status field's bound.
MAX_LENGTH = SERVING_SPLIT_LENGTH

#: A version as worded: what MLflow versions are (digits), with room for a hand edit's
#: ``.``, ``-``, ``_``; anything else (an empty, long or unprintable annotation, a line break
#: after it included: matched whole, ``fullmatch``) is shown "?".
_VERSION = re.compile(r"[A-Za-z0-9._-]{1,16}")


def _version_order(version: str) -> tuple[int, int, str]:
    """Versions by number (MLflow's are numbers: 9 before 10), any other after them."""
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def describe(weights: Iterable[tuple[str, int]] | None) -> str | None:
    """``weights`` (each predictor's version and traffic percent, as the graph declares them:
    ``render.serving.ServingState.weights``) in words, versions in ascending order, a version at
    0 % included (a restore's restored version, a rolled-back one kept for its scale-down
    delay): "v1 0%, v2 100%". None without a graph (``weights`` None) or without a predictor."""
    if weights is None:
        return None
    shown = sorted((((v if _VERSION.fullmatch(v) else "?"), w) for v, w in weights),
                   key=lambda share: (_version_order(share[0]), share[1]))
    if not shown:
        return None
    words = [f"v{version} {weight if 0 <= weight <= 100 else '?'}%"
             for version, weight in shown[:MAX_SHOWN]]
    if len(shown) > MAX_SHOWN:
        words.append(f"+{len(shown) - MAX_SHOWN} more")
    return ", ".join(words)[:MAX_LENGTH]

