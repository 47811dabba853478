"""Edits of a manifest by dotted path, for tables of invalid specs (``spec.steps.0.weight``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Mutation = Callable[[dict[str, Any]], None]

#: ``set_path(path, DELETE)`` removes the field instead of setting it.
DELETE = object()


def set_path(path: str, value: Any) -> Mutation:
    """A mutation that sets (a copy of) ``value`` at ``path``, or deletes the field."""
    def mutate(body: dict[str, Any]) -> None:
        node: Any = body
        *parents, leaf = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(leaf) if leaf.isdigit() else leaf
        if value is DELETE:
            del node[key]
        else:
            node[key] = copy.deepcopy(value)
    return mutate


def all_of(*mutations: Mutation) -> Mutation:
    """A mutation that applies ``mutations`` in order (one invalid spec made of two edits)."""
    def mutate(body: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(body)
    return mutate
