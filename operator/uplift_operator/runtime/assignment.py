"""Deterministic experiment assignment: hash(salt, unit id) → ``holdout`` or ``treated`` (pure).

SHA-256 rather than Python's ``hash()``: the latter is salted per process (PYTHONHASHSEED), and
the same unit must land in the same arm on every replica, version and restart. The salt names
the experiment: keep it fixed across the stable and canary predictors of one campaign so a unit
keeps its arm through a rollout; change it to re-randomise.

A campaign's exposure uses the same hash under a derived salt (``<salt>\x00exposure``), so it is
independent of the holdout draw and monotone in the exposure percent: a unit exposed at 5 % has
a position below 5 and so stays exposed at 25 %.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["holdout", "treated"]
HOLDOUT: Arm = "holdout"
TREATED: Arm = "treated"
ARMS: tuple[Arm, Arm] = (HOLDOUT, TREATED)
UNEXPOSED = "unexposed"   # a campaign's unit outside its exposure (neither arm of its test)
EXPOSURE_SALT = "\x00exposure"

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


def exposure_position(unit_id: str, salt: str) -> float:
    """The unit's position in [0, 100) on the exposure ramp of the campaign with this salt."""
    return 100.0 * unit_position(unit_id, salt + EXPOSURE_SALT)


def exposed(unit_id: str, salt: str, percent: float) -> bool:
    """Whether the unit is within the first ``percent`` of the campaign's exposure ramp (every
    unit at 100, none at 0)."""
    return percent >= 100.0 or exposure_position(unit_id, salt) < percent
