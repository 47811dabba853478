"""Status fields the API server dropped from a write: what an installed CRD older than the
operator prunes.

Helm installs ``crds/`` once and never upgrades them (docs/install.md), and the API server
silently prunes, from a custom resource, every field its structural schema does not declare. A
status field added by a newer operator is then written at every pass and never kept: a
resumed ramp's ``resumedAt``, a gate's ``settingsDigest`` or its sequential evidence would be
lost without a word. Comparing what a status write sent with what the API server answered
shows it (``handlers.common`` counts and logs it).

A schema that declares a field differently refuses it rather than prunes it: a phase its enum
lacks (a value added since), a bound or a rule the operator's release does not have. Then the
whole write fails with 422, at every pass, and the status stays as it was; the causes the API
server names show which fields (``refused_status_paths``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["pruned_paths", "refused_status_paths"]


def pruned_paths(sent: Mapping[str, Any], kept: Mapping[str, Any] | None,
                 prefix: str = "status") -> list[str]:
    """The paths of fields in ``sent`` (a merge patch: None removes, so it is not looked for)
    that ``kept`` (the object as written) lacks. List items are compared index by index when
    both lists have the same length; their paths say ``[]``, so one field missing from every
    gate is one path."""
    kept = kept or {}
    found: list[str] = []
    for key, value in sent.items():
        if value is None:
            continue
        path = f"{prefix}.{key}"
        if key not in kept:
            found.append(path)
        elif isinstance(value, Mapping) and isinstance(kept[key], Mapping):
            found += pruned_paths(value, kept[key], path)
        elif (isinstance(value, list) and isinstance(kept[key], list)
              and len(value) == len(kept[key])):
            for item, there in zip(value, kept[key], strict=True):
                if isinstance(item, Mapping) and isinstance(there, Mapping):
                    found += pruned_paths(item, there, f"{path}[]")
    return sorted(set(found))


def refused_status_paths(fields: Sequence[str]) -> list[str]:
    """The status fields among ``fields`` (the causes of a refused write, as the API server
    names them: ``status.history[3].reason``), list indices as ``[]`` the way
    ``pruned_paths`` says them, so one field refused in every history entry is one path."""
    paths = {re.sub(r"\[\d+\]", "[]", field) for field in fields}
    return sorted(path for path in paths if path == "status" or path.startswith("status."))
