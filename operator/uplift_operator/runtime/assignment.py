"""Deterministic experiment assignment: hash(salt, unit id) → ``holdout`` or ``treated`` (pure).

SHA-256 rather than Python's ``hash()``: the latter is salted per process (PYTHONHASHSEED), and
the same unit must land in the same arm on every replica, version and restart. The salt names
the experiment: keep it fixed across the stable and canary predictors of one campaign so a unit
keeps its arm through a rollout; change it to re-randomise.

A campaign's exposure uses the same hash under a derived salt (``<salt>\x00exposure``), so it is
independent of the holdout draw and monotone in the exposure percent: a unit exposed at 5 % has
a position below 5 and so stays exposed at 25 %.

During a canary each unit belongs to one version (:func:`version_owner`): the canary owns the
first ``canaryPercent`` of positions under ``VERSION_SALT``, the stable the rest. Seldon splits
requests, not units, so a unit may be scored by the version that does not own it; that row is
served as any other but counted apart (:func:`counted_arm`), so the online effect compares units
of one version with units of the other, each unit on one side only. A router that routes by
the same position (the dev environment's) makes every row its owner's. While a change of the
canary's percent reaches the pods (their copies of the split differ for up to the kubelet's
delay), the units between the old and the new percent count for neither version on a pod with
the new copy (``campaigns.VersionSplit.owner``), so two copies never both claim a unit.
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


#: The salt of the version split's unit positions (the dev environment's router uses it too).
VERSION_SALT = "router"
UNATTRIBUTED = "-unattributed"  # suffix of the arm a row is counted under off its owner


def version_owner(unit_id: str, stable: str, canary: str | None, canary_percent: float) -> str:
    """The version that owns the unit while ``canary`` has ``canary_percent`` of the traffic:
    the canary for positions below it (so a unit owned at 10 % stays owned at 30 %)."""
    if canary is None or canary_percent <= 0:
        return stable
    return canary if unit_position(unit_id, VERSION_SALT) * 100 < canary_percent else stable


def counted_arm(arm: str, attributed: bool) -> str:
    """The arm a row is counted (and its reports labelled) under: its own, or, scored by a version
    that does not own its unit, ``<arm>-unattributed`` (no gate reads those)."""
    return arm if attributed else arm + UNATTRIBUTED
