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

Both say a field the way the CRD's schema declares it, the label ``field`` of the metrics that
count them: a list's items as ``[]`` and the keys of a map (``status.gates[].sequentialState``,
keyed by the gate's tests: feature or treatment names; ``status.handledRequests``;
``status.budgetLedgers.ledgers``, one key per replica process) as ``<key>``, so that user data
never makes a series of its own (``MAP_PATHS``, read from the status models).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from uplift_operator.api.v1alpha1.campaign import CampaignStatus
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelStatus

__all__ = ["FIELD_PATHS", "MAP_KEY", "MAP_PATHS", "pruned_paths", "refused_status_paths"]

#: How a path says any key of a map (a field declared by ``additionalProperties``).
MAP_KEY = "<key>"


def _schema_paths(models: Sequence[type[BaseModel]],
                  prefix: str = "status") -> tuple[frozenset[str], frozenset[str]]:
    """(every field path, the paths of the maps) of ``models``, in wire names, list items as
    ``[]``, map keys as ``MAP_KEY``."""
    fields: set[str] = set()
    maps: set[str] = set()

    def walk(annotation: Any, path: str, seen: frozenset[type[BaseModel]]) -> None:
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated:
            walk(args[0], path, seen)
        elif origin is Union or origin is types.UnionType:
            for arg in args:
                walk(arg, path, seen)
        elif origin in (list, tuple, set, frozenset) or (
                isinstance(origin, type) and issubclass(origin, Sequence)
                and not issubclass(origin, str)):
            for arg in args:
                if arg is not Ellipsis:
                    walk(arg, f"{path}[]", seen)
        elif origin is dict or (isinstance(origin, type) and issubclass(origin, Mapping)):
            maps.add(path)
            fields.add(f"{path}.{MAP_KEY}")
            walk(args[1], f"{path}.{MAP_KEY}", seen)
        elif (isinstance(annotation, type) and issubclass(annotation, BaseModel)
              and annotation not in seen):
            for name, info in annotation.model_fields.items():
                child = f"{path}.{info.alias or name}"
                fields.add(child)
                walk(info.annotation, child, seen | {annotation})

    for model in models:
        walk(model, prefix, frozenset())
    return frozenset(fields), frozenset(maps)


#: The status fields of both kinds, and which of them are maps.
FIELD_PATHS, MAP_PATHS = _schema_paths([UpliftModelStatus, CampaignStatus])


def pruned_paths(sent: Mapping[str, Any], kept: Mapping[str, Any] | None,
                 prefix: str = "status") -> list[str]:
    """The paths of fields in ``sent`` (a merge patch: None removes, so it is not looked for)
    that ``kept`` (the object as written) lacks. List items are compared index by index when
    both lists have the same length; their paths say ``[]``, so one field missing from every
    gate is one path; a map's keys say ``MAP_KEY``, so one field missing from every test of a
    gate's ``sequentialState`` is one path, whatever the tests are named."""
    kept = kept or {}
    found: list[str] = []
    for key, value in sent.items():
        if value is None:
            continue
        path = f"{prefix}.{MAP_KEY if prefix in MAP_PATHS else key}"
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
    names them: ``status.history[3].reason``), list indices as ``[]`` and map keys as
    ``MAP_KEY`` the way ``pruned_paths`` says them, so one field refused in every history entry,
    or in every test of a gate, is one path."""
    paths = {_generic(field) for field in fields}
    return sorted(path for path in paths if path == "status" or path.startswith("status."))


def _generic(field: str) -> str:
    """``field`` with its list indices as ``[]`` and its map keys as ``MAP_KEY``: a key the
    API server puts in brackets (``sequentialState[feature_3]``) or as a segment after the map
    (``sequentialState.feature_3.looks``; a key may hold dots, as ``uplift.dev/retry`` does: the
    key is what leaves a field of the map's values after it, else the whole rest)."""
    path = re.sub(r"\[\d+\]", "[]", field)
    path = re.sub(r"\[[^\]]+\]", f".{MAP_KEY}", path)
    for map_path in sorted(MAP_PATHS, key=len, reverse=True):
        head = f"{map_path}."
        if not path.startswith(head) or path.startswith(f"{head}{MAP_KEY}"):
            continue
        rest = path[len(head):]
        tails = [rest[i:] for i, c in enumerate(rest) if c in ".["]
        tail = next((t for t in tails if f"{head}{MAP_KEY}{t}" in FIELD_PATHS), "")
        return _generic(f"{head}{MAP_KEY}{tail}")
    return path
