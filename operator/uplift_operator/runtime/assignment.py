"""Deterministic experiment assignment: hash(salt, unit id) → ``holdout`` or ``treated`` (pure).

SHA-256 rather than Python's ``hash()``: the latter is salted per process (PYTHONHASHSEED), and
the same unit must land in the same arm on every replica, version and restart. The salt names
the experiment: keep it fixed across the stable and canary predictors of one campaign so a unit
keeps its arm through a rollout; change it to re-randomise.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["holdout", "treated"]
HOLDOUT: Arm = "holdout"
TREATED: Arm = "treated"
ARMS: tuple[Arm, Arm] = (HOLDOUT, TREATED)

_SCALE = float(2**64)


def unit_position(unit_id: str, salt: str) -> float:
    """The unit's uniform position in [0, 1) for this salt (first 64 bits of the digest)."""
    digest = hashlib.sha256(f"{salt}\x00{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(unit_id: str, salt: str, holdout_fraction: float) -> Arm:
    """``holdout`` for the first ``holdout_fraction`` of positions, ``treated`` otherwise."""
    if not 0.0 <= holdout_fraction <= 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1], got {holdout_fraction}")
    return HOLDOUT if unit_position(unit_id, salt) < holdout_fraction else TREATED
