"""Treatment keys: the one naming rule shared by the model, the runtime and the operator.

Standard library only, so the operator (metric label names, runtime settings) can use it without
importing the data plane's numpy/pandas stack through ``model.features``.

A key is at most ``MAX_KEY_LENGTH`` characters: the runtime writes it into decision ids and
metric labels (``runtime.events``), so a model's keys must fit (:func:`treatment_keys`).

``NONE`` (``"none"``) is the key of no treatment: ``best_treatment`` when no uplift is > 0
(``model.scoring``), and the treatment of a decision that sent nothing in decision ids, metric
labels and report handling (``runtime.events``, ``runtime.engine``). No treatment may have it
(:func:`treatment_keys`): its decisions would read as nothing sent and its delivery reports be
refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MAX_KEY_LENGTH", "NONE", "treatment_key", "treatment_keys"]

MAX_KEY_LENGTH = 64
#: The key of no treatment; reserved, no treatment's key (:func:`treatment_keys`).
NONE = "none"


def treatment_key(name: str) -> str:
    """Metric- and column-safe key of a treatment name: ``"Mens E-Mail"`` → ``"mens_e_mail"``."""
    key = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    if not key:
        raise ValueError(f"treatment name {name!r} has no alphanumeric characters")
    return key if not key[0].isdigit() else f"t_{key}"


def treatment_keys(names: Iterable[str]) -> tuple[str, ...]:
    """The keys of a model's treatments; ``ValueError`` unless each is at most
    ``MAX_KEY_LENGTH`` characters, none is ``NONE`` (no treatment) and no two names share one."""
    keys: dict[str, str] = {}
    for name in names:
        key = treatment_key(name)
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"treatment {name!r}: its key {key[:40]}… has {len(key)} "
                             f"characters, at most {MAX_KEY_LENGTH}; shorten the name")
        if key == NONE:
            raise ValueError(f"treatment {name!r}: its key {key!r} is reserved for no treatment; "
                             "rename the arm (decisions that send nothing carry that key)")
        if key in keys:
            raise ValueError(f"treatments {keys[key]!r} and {name!r} have the same key {key!r}")
        keys[key] = name
    return tuple(keys)
