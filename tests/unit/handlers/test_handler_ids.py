"""kopf knows a handler by its id (the function's name unless given): of activity handlers
sharing an id, it runs one, and resource handlers sharing an id share one state. Three cleanup
handlers were all ``stop``: only the existence audit's ran at exit, the alias poller and the
readiness checker (and /readyz) were never stopped."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import kopf
from kopf._core.actions import lifecycles  # kopf internals: its own activity run
from kopf._core.engines import activities
from kopf._core.intents import causes

# What ``handlers.main`` imports: every handler registered with kopf's default registry.
from uplift_operator.handlers import (  # noqa: F401
    campaign,
    campaigns_file,
    existence,
    kopf_toggles,
    lifecycle,
    readiness,
    registry_polling,
    upliftmodel,
    watches,
)

_RESOURCE_REGISTRIES = ("_indexing", "_watching", "_spawning", "_changing")


def _ours(handlers: Any) -> list[Any]:
    return [h for h in handlers if getattr(h.fn, "__module__", "").startswith("uplift_operator.")]


def test_activity_handler_ids_are_unique_per_activity() -> None:
    registry = kopf.get_default_registry()
    ids = Counter((h.activity, h.id) for h in registry._activities._handlers)  # kopf internals
    assert len(_ours(registry._activities._handlers)) >= 7  # the registry is the one we fill
    assert {key: n for key, n in ids.items() if n > 1} == {}


def test_resource_handler_ids_are_unique_per_resource() -> None:
    registry = kopf.get_default_registry()
    handlers = [h for name in _RESOURCE_REGISTRIES
                for h in getattr(registry, name)._handlers]  # kopf internals
    assert len(_ours(handlers)) >= 10
    ids = Counter((str(h.selector), h.id) for h in handlers)
    assert {key: n for key, n in ids.items() if n > 1} == {}


def test_every_cleanup_handler_runs_at_exit() -> None:
    """kopf's own cleanup activity: the existence audit, the alias poller and the readiness
    checker are all cancelled."""
    async def scenario() -> dict[str, bool]:
        def forever() -> asyncio.Task[None]:
            return asyncio.create_task(asyncio.sleep(3600))

        memo: Any = kopf.Memo(existence_audit=forever(), alias_polling=forever(),
                              uplift_readiness_tasks=[forever()])
        await activities.run_activity(
            lifecycle=lifecycles.get_default_lifecycle(), registry=kopf.get_default_registry(),
            settings=kopf.OperatorSettings(), activity=causes.Activity.CLEANUP,
            indices=kopf.Memo(), memo=memo)
        await asyncio.sleep(0)
        return {name: memo[name].cancelled() for name in ("existence_audit", "alias_polling")} | {
            "readiness": memo["uplift_readiness_tasks"][0].cancelled()}

    assert asyncio.run(scenario()) == {"existence_audit": True, "alias_polling": True,
                                       "readiness": True}
