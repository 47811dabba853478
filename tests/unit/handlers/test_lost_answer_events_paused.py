"""The events of a pass whose status write was applied but whose answer was lost
(``PassRunner.untold``) outlive a pause by peering of the resource's task: the next pass here,
after the resume, finds that status stored and tells them. ``PassRunner.forget`` at the task's
end dropped them (it keeps them now for a paused task), while the status left and the one sent
were kept for the next pass (``upliftmodel._keep_status_left``): the replica that acted
meanwhile decided on the applied status, which records the decision, and told none of them;
nothing ever did."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits.aioenums import AsyncFlagWaiter
from kopf._core.intents.stoppers import DaemonStopper
from tests.unit.handlers import test_lost_answer_events as lost_answer
from tests.unit.handlers.test_task_end import CAMPAIGN_SPEC, MODEL_SPEC

from uplift_operator.handlers import campaign, observability, upliftmodel
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import Event, PassResult
from uplift_operator.services.failing import FailingSince
from uplift_operator.services.resolution import Resolver
from uplift_operator.services.writeback import WriteBack

RAMPING = {"phase": "Progressing", "currentStep": 1}
ROLLED_BACK = {"phase": "Degraded", "currentStep": 0, "message": "rolled back"}


class Cluster(lost_answer.Cluster):
    """One resource whose first status write is applied and then answered 504."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.body["metadata"]["name"] = "r"
        self.body.update(spec=spec, status=dict(RAMPING))
        self.lose = ["applied"]


def _decide(snapshot: dict[str, Any], *_: Any, **__: Any) -> PassResult:
    """A gate failed: rolled back (a decision); nothing new once rolled back."""
    status = dict(snapshot.get("status") or {})
    if status == RAMPING:
        return PassResult(dict(ROLLED_BACK),
                          (Event("Warning", "RolledBack", "gate delivered Fail", True),), None)
    return PassResult(status, (), None)


@pytest.mark.parametrize("kind", ["UpliftModel", "Campaign"])
def test_the_events_of_an_applied_write_whose_answer_was_lost_are_told_after_a_pause(
        kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    module: Any = upliftmodel if kind == "UpliftModel" else campaign
    monkeypatch.setattr(module.service, "reconcile", _decide)
    if kind == "UpliftModel":
        monkeypatch.setattr(module.service, "followed_alias", lambda *_: None)
        monkeypatch.setattr(module.service, "followed_versions", lambda *_: frozenset())
    else:
        monkeypatch.setattr(module, "campaign_dependencies", lambda _memo: None)
    told: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda _body, **event: told.append(event["reason"]))
    cluster = Cluster(MODEL_SPEC if kind == "UpliftModel" else CAMPAIGN_SPEC)
    key = (kind, "ns", "r")
    kept: list[Any] = []

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            passes = PassRunner(kind, f"{kind.lower()}s", wakeups, pool, cluster)
            memo = kopf.Memo(wakeups=wakeups, **{f"pass_runner_{kind}": passes},
                             uplift_dependencies=SimpleNamespace(
                                 resolver=Resolver(), unresolved=FailingSince(),
                                 decision_keys={}, decision_keys_recreated={},
                                 unwritten={}, unwritten_lock=threading.Lock(),
                                 write_back=WriteBack()))

            async def task_until(done: Any, reason: kopf.DaemonStoppingReason) -> None:
                """A task of the resource as the watch holds it now, stopped as kopf stops it
                (its stopper set with ``reason``, then cancelled) once ``done()``."""
                stopper = DaemonStopper()
                task = asyncio.create_task(module.reconcile(
                    body=cluster.watched(), memo=memo, stopped=AsyncFlagWaiter(stopper)))
                for _ in range(300):
                    if done():
                        break
                    await asyncio.sleep(0.01)
                stopper.set(reason=reason)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task

            # The rollback's write applied, its answer lost (the pass failed, nothing told),
            # and the task paused by peering before its retry.
            await task_until(lambda: passes.untold.get("u1"),
                             kopf.DaemonStoppingReason.OPERATOR_PAUSING)
            assert told == [] and cluster.body["status"] == ROLLED_BACK
            kept.append(passes.untold.get("u1"))
            # Resumed: kopf starts the task again on the object as listed.
            await task_until(lambda: told, kopf.DaemonStoppingReason.OPERATOR_EXITING)

    asyncio.run(run())
    observability.forget(*key)
    assert kept[0] and told == ["RolledBack"]
