"""A campaigns file that does not carry some Campaigns as their spec says (carried as refused,
or left out for their name) says so on the model, once per change (a Warning event naming each
and why, a Normal one when it carries them all again), and wakes the pass of each Campaign
concerned, whose status then says it."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.test_campaigns_file_refused import running_file_task
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body

from uplift_operator.handlers import campaign
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaigns_file as service

Index = dict[tuple[str, str], list[dict[str, Any]]]


def test_who_is_not_carried_as_its_spec_says_is_told_and_each_campaign_concerned_is_woken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    posted: list[tuple[str, str, str]] = []

    def event(obj: Any, *, type: str, reason: str, message: str = "") -> None:
        assert obj["metadata"]["name"] == OWNER.name  # on the owning UpliftModel
        posted.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", event)
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    huge = campaign_body("huge")
    huge["spec"]["economics"]["budgetPeriod"] = "1000000000d"
    snapshots = {"fine": service.snapshot(campaign_body("fine")),
                 "huge": service.snapshot(huge),
                 "huge-fixed": service.snapshot(campaign_body("huge")),
                 "spring.email": service.snapshot(campaign_body("spring.email"))}
    index: Index = {(OWNER.namespace, OWNER.name): [snapshots["fine"], snapshots["huge"]]}
    cluster = FakeCluster()
    files = service.FileDependencies(cluster)
    wakeups = Wakeups()
    woken = {name: wakeups.register((campaign.KIND, OWNER.namespace, name))
             for name in ("fine", "huge", "spring.email")}

    async def go() -> None:
        async with running_file_task(model, index, files, wakeups):

            async def until(count: int) -> None:
                started = time.monotonic()
                while len(posted) < count:
                    assert time.monotonic() - started < 10, posted
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)

            def woken_now() -> list[str]:
                names = sorted(n for n, flag in woken.items() if flag.is_set())
                for flag in woken.values():
                    flag.clear()
                return names

            await until(1)
            assert woken_now() == ["huge"]
            # a dotted name comes too: told again, it alone woken
            index[(OWNER.namespace, OWNER.name)].append(snapshots["spring.email"])
            wakeups.wake(handler.file_key(OWNER.namespace, OWNER.name))
            await until(2)
            assert woken_now() == ["spring.email"]
            # the spec fixed, the name gone: all carried as their spec says again
            index[(OWNER.namespace, OWNER.name)] = [snapshots["fine"], snapshots["huge-fixed"]]
            wakeups.wake(handler.file_key(OWNER.namespace, OWNER.name))
            await until(3)
            assert woken_now() == ["huge", "spring.email"]

    asyncio.run(go())
    assert [(t, r) for t, r, _ in posted] == [("Warning", "CampaignsNotRendered"),
                                             ("Warning", "CampaignsNotRendered"),
                                             ("Normal", "CampaignsRendered")]
    assert "does not carry 1 Campaign(s) as their spec says: huge: the campaigns file" in \
        posted[0][2]
    assert "spec.economics.budgetPeriod '1000000000d'" in posted[0][2]
    assert "2 Campaign(s)" in posted[1][2] and "spring.email: the campaigns file" in posted[1][2]
    assert KEY in cluster.objects
    assert (OWNER.namespace, OWNER.name) not in files.unfit  # the task ended: forgotten
