"""Pydantic JSON Schema → Kubernetes structural OpenAPI v3 schema.

Kubernetes accepts a subset of OpenAPI v3 for CRDs ("structural schemas"): no ``$ref``, no
``anyOf`` of types, boolean ``exclusiveMinimum``, no ``const``/``title``/``propertyNames``. This
module rewrites what pydantic emits into that subset; ``crdgen`` wraps the result in a CRD.
Defaults are dropped on purpose: they are applied by the models, so the schema never adds
fields that are not in the user's (or Git's) copy.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

__all__ = ["structural_schema"]

JsonSchema = dict[str, Any]

_DROPPED_KEYS = frozenset({"title", "default", "propertyNames", "examples", "discriminator"})


def structural_schema(model: type[BaseModel]) -> JsonSchema:
    """The structural schema of ``model`` as the API server expects it in a CRD."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, JsonSchema] = raw.pop("$defs", {})
    return _convert(raw, definitions)


def _resolve(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    """Inline ``$ref``/``allOf``-of-one, keeping sibling keys such as ``description``."""
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return {**_resolve(dict(target), definitions), **siblings}
    if "allOf" in node and len(node["allOf"]) == 1:
        siblings = {k: v for k, v in node.items() if k != "allOf"}
        return {**_resolve(dict(node["allOf"][0]), definitions), **siblings}
    return node


def _convert(node: JsonSchema, definitions: dict[str, JsonSchema]) -> JsonSchema:
    node = _resolve(dict(node), definitions)
    if "anyOf" in node:
        # Optional[X] arrives as anyOf [X, null]; absence is how we say "unset".
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        if len(branches) != 1:
            raise ValueError(f"unions are not structural: {node['anyOf']!r}")
        siblings = {k: v for k, v in node.items() if k != "anyOf"}
        node = {**_resolve(dict(branches[0]), definitions), **siblings}
    out: JsonSchema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "properties":
            out["properties"] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, definitions)
        else:
            # A copy: a model used at two places (SecretCredentials) would share its lists
            # (required, x-kubernetes-validations), which YAML writes as anchors and aliases.
            out[key] = copy.deepcopy(value)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "properties" in out:
        out.setdefault("type", "object")
    return out
