"""kopf's start-up gate for indexes, made linear in the number of objects.

An index (``handlers.campaigns_file.campaigns_by_model``) makes kopf hold every handler at start
until each object its watch listed is indexed: every listed Campaign adds a toggle to one
``ToggleSet`` and drops it once indexed, and every object's worker — of every kind, Campaigns,
UpliftModels, SeldonDeployments — waits on that set. kopf 1.45's ``ToggleSet`` wakes every
waiter on every toggle added or dropped, although the set's answer (all dropped yet?) changes
once: C Campaigns × W waiting workers wake-ups on the event loop, which also carries the watches
and the liveness probe. Measured with real kopf on the real control plane
(``bench/kopf_index_startup.py``, docs/operator.md "Scale"): with 4,000 Campaigns and 4,000
UpliftModels kopf ran no handler for 146 s after its start, 6.5 s with this module; 1,000 and
1,000: 4.2 s against 1.0 s.

``install`` replaces the set's ``make_toggle``, ``drop_toggle`` and ``drop_toggles`` with
versions that wake the waiters only when the set's answer flips. Nothing else can change what a
waiter waits for: ``ToggleSet.wait_for`` waits for the answer, ``Toggle.wait_for`` for one
toggle's own state, which adding or dropping other toggles leaves alone (``Toggle.turn_to``
still wakes everyone, unchanged). The replaced methods are pinned to kopf's source as audited
(``AUDITED``): a kopf whose methods differ is left as it is, with a warning, and a unit test
fails so that the next upgrade is looked at again.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Iterable

from kopf._cogs.aiokits import aiotoggles

__all__ = ["AUDITED", "install", "installed", "source_digests", "uninstall"]

logger = logging.getLogger(__name__)

#: sha256 of each replaced method's source in kopf 1.45.2 (what ``install`` was written for).
AUDITED = {
    "make_toggle": "354b83ba5188615ff0e4fdebfafbbe18b60ba30335ba55c4bd54d5429519aaa0",
    "drop_toggle": "434b23b721ea2e78a2f8cf18816a369cc9d41767651b5c7260d2b872008b6e7c",
    "drop_toggles": "497f86cc1160dd771d125a53d3aa0057df73286019d60d93328403483f34bbd4",
}

_ORIGINALS = {name: getattr(aiotoggles.ToggleSet, name) for name in AUDITED}


def source_digests() -> dict[str, str]:
    """The sha256 of kopf's own ``ToggleSet`` methods that ``install`` replaces ("" for a
    method whose source is not installed: then it cannot be checked, and is not replaced)."""
    def digest(method: Callable[..., object]) -> str:
        try:
            return hashlib.sha256(inspect.getsource(method).encode()).hexdigest()
        except (OSError, TypeError):
            return ""
    return {name: digest(method) for name, method in _ORIGINALS.items()}


async def _make_toggle(self: aiotoggles.ToggleSet, __val: bool = False, *,
                       name: str | None = None) -> aiotoggles.Toggle:
    toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def _drop_toggle(self: aiotoggles.ToggleSet, toggle: aiotoggles.Toggle) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.discard(toggle)
        if self.is_on() != before:
            self._condition.notify_all()


async def _drop_toggles(self: aiotoggles.ToggleSet, toggles: Iterable[aiotoggles.Toggle]) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.difference_update(toggles)
        if self.is_on() != before:
            self._condition.notify_all()


_REPLACEMENTS = {"make_toggle": _make_toggle, "drop_toggle": _drop_toggle,
                 "drop_toggles": _drop_toggles}


def installed() -> bool:
    return all(getattr(aiotoggles.ToggleSet, name) is replacement
               for name, replacement in _REPLACEMENTS.items())


def install() -> bool:
    """Replace the methods when kopf's are the audited ones; whether they are replaced."""
    if installed():
        return True
    if source_digests() != AUDITED:
        logger.warning("kopf's ToggleSet is not the one audited (kopf 1.45.2): its start-up "
                       "gate for indexes is left as kopf ships it (it wakes every waiting "
                       "worker per object indexed)")
        return False
    for name, replacement in _REPLACEMENTS.items():
        setattr(aiotoggles.ToggleSet, name, replacement)
    return True


def uninstall() -> None:
    """Put kopf's own methods back (tests and the bench compare both)."""
    for name, original in _ORIGINALS.items():
        setattr(aiotoggles.ToggleSet, name, original)
