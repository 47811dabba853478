"""A supervised task's coroutine (the existence audit, the alias poller) replaced by a test:
each run does as told, and the runs started and cancelled are counted."""

from __future__ import annotations

import asyncio


class ScriptedRuns:
    """Each run, in turn, as ``runs`` tell: "raise" (``RuntimeError(bug)``), "return", or
    "wait" until cancelled (every run once they are told)."""

    def __init__(self, *runs: str, bug: str) -> None:
        self.runs = list(runs)
        self.bug = bug
        self.started = 0
        self.cancelled = 0

    async def run(self) -> None:
        self.started += 1
        run = self.runs.pop(0) if self.runs else "wait"
        if run == "raise":
            raise RuntimeError(self.bug)
        if run == "return":
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
