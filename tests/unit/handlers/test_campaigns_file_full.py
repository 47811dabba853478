"""A campaigns file with no room for some Campaigns says so on the model (one Warning event per
change of who is left out, a Normal one when all fit again) and wakes the pass of each Campaign
left out or let in, whose status then says whether it can be delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.invoking import invoke
from tests.unit.handlers.test_campaigns_file_refused import running_file_task
from tests.unit.services.fakes import FakeCluster
from tests.unit.services.test_campaigns_file import KEY, OWNER, campaign_body
from tests.unit.services.test_campaigns_file_full import created, one_entry_budget

from uplift_operator.handlers import campaign
from uplift_operator.handlers import campaigns_file as handler
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.render import campaigns
from uplift_operator.services import campaigns_file as service

_campaigns_file = cast(Callable[..., Coroutine[Any, Any, None]], handler.campaigns_file)
Index = dict[tuple[str, str], list[dict[str, Any]]]


def test_who_is_left_out_is_told_and_each_campaign_concerned_is_woken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", one_entry_budget())
    posted: list[tuple[str, str, str]] = []

    def event(obj: Any, *, type: str, reason: str, message: str = "") -> None:
        assert obj["metadata"]["name"] == OWNER.name  # on the owning UpliftModel
        posted.append((type, reason, message))

    monkeypatch.setattr(kopf, "event", event)
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    snapshots = {name: service.snapshot(created(campaign_body(name), day))
                 for name, day in (("a", 1), ("b", 2), ("c", 3), ("d", 4))}
    index: Index = {(OWNER.namespace, OWNER.name): [snapshots[n] for n in "abc"]}
    cluster = FakeCluster()
    files = service.FileDependencies(cluster)
    wakeups = Wakeups()
    woken = {name: wakeups.register((campaign.KIND, OWNER.namespace, name)) for name in "abcd"}

    async def go() -> None:
        async with running_file_task(model, index, files, wakeups):

            async def until(count: int) -> None:
                started = time.monotonic()
                while len(posted) < count:
                    assert time.monotonic() - started < 10, posted
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)

            await until(1)
            assert [n for n, flag in woken.items() if flag.is_set()] == ["c"]
            for flag in woken.values():
                flag.clear()
            # d comes too: told again, d woken (c is still out, not woken again).
            index[(OWNER.namespace, OWNER.name)].append(snapshots["d"])
            wakeups.wake(handler.file_key(OWNER.namespace, OWNER.name))
            await until(2)
            assert [n for n, flag in woken.items() if flag.is_set()] == ["d"]
            for flag in woken.values():
                flag.clear()
            # a and b go: c and d fit again.
            index[(OWNER.namespace, OWNER.name)] = [snapshots["c"], snapshots["d"]]
            wakeups.wake(handler.file_key(OWNER.namespace, OWNER.name))
            await until(3)
            assert sorted(n for n, flag in woken.items() if flag.is_set()) == ["c", "d"]

    asyncio.run(go())
    assert [(t, r) for t, r, _ in posted] == [("Warning", "CampaignsFileFull"),
                                             ("Warning", "CampaignsFileFull"),
                                             ("Normal", "CampaignsFileFits")]
    assert posted[0][2].endswith("1 Campaign(s) left out (the newest first), "
                                 "not delivered, requests naming them "
                                 "answered 404 unknown_campaign: c")
    assert posted[1][2].endswith("2 Campaign(s) left out (the newest first), "
                                 "not delivered, requests naming them "
                                 "answered 404 unknown_campaign: c, d")
    assert KEY in cluster.objects
    # The task ended (the model deleted): nothing of it by name is left for a namesake.
    assert (OWNER.namespace, OWNER.name) not in files.full


def test_a_campaign_whose_edit_goes_stale_or_comes_back_is_woken(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec edit the nearly full file has no room for (it carries the entry from before:
    ``Fitted.stale``) leaves who is left out as it was, yet the Campaign's pass is to hold its
    ramp: it is woken, and woken again once room is made (its ramp released); no other is."""
    bodies = {name: created(campaign_body(name, percent=50), day)
              for name, day in (("a", 1), ("b", 2), ("c", 3))}
    for name, body in bodies.items():
        body["metadata"]["uid"] = f"uid-{name}"
    entries = service.entries([service.snapshot(b) for b in bodies.values()])
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", len(campaigns.text(entries))
                        + 3 * campaigns.GROWTH_BYTES + campaigns.SPLIT_BYTES + 10)
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda obj, **kw: posted.append(kw["reason"]))
    model = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    key = (OWNER.namespace, OWNER.name)
    index: Index = {key: [service.snapshot(b) for b in bodies.values()]}
    cluster = FakeCluster()
    files = service.FileDependencies(cluster)
    wakeups = Wakeups()
    woken = {name: wakeups.register((campaign.KIND, OWNER.namespace, name)) for name in "abc"}
    edited = {**bodies["a"], "metadata": {**bodies["a"]["metadata"], "generation": 2},
              "spec": {**bodies["a"]["spec"], "treatments": [
                  *bodies["a"]["spec"]["treatments"], {"name": "a-treatment-with-a-long-name"}]}}

    async def go() -> None:
        async with running_file_task(model, index, files, wakeups):

            async def until(done: Callable[[], bool]) -> None:
                started = time.monotonic()
                while not done():
                    assert time.monotonic() - started < 10, files.stale
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)

            await until(lambda: KEY in cluster.objects and key in files.passed)
            for flag in woken.values():
                flag.clear()
            index[key] = [service.snapshot(b) for b in (edited, bodies["b"], bodies["c"])]
            wakeups.wake(handler.file_key(*key))
            await until(lambda: files.stale.get(key) == ("a",))
            assert [n for n, flag in woken.items() if flag.is_set()] == ["a"]
            for flag in woken.values():
                flag.clear()
            index[key] = [service.snapshot(b) for b in (edited, bodies["c"])]  # b deleted
            wakeups.wake(handler.file_key(*key))
            await until(lambda: files.stale.get(key) == ())
            assert [n for n, flag in woken.items() if flag.is_set()] == ["a"]

    asyncio.run(go())
    assert files.full == {} and "CampaignsFileFull" not in posted  # no one was left out


def test_a_predecessors_deleted_event_leaves_its_successors_file_state(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The model deleted and created again under its name, the predecessor's DELETED event
    handled after the successor's first file pass: what that pass keeps by name (who is left
    out, that it passed) is the successor's, and stays; the predecessor's own (by uid) goes."""
    monkeypatch.setattr(campaigns, "FILE_BUDGET_BYTES", one_entry_budget())
    posted: list[str] = []
    monkeypatch.setattr(kopf, "event", lambda obj, **kw: posted.append(kw["reason"]))
    successor = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": OWNER.name, "namespace": OWNER.namespace, "uid": "uid-2"},
        "spec": {}, "status": {"phase": "Healthy", "stableVersion": "1"}}))
    index: Index = {(OWNER.namespace, OWNER.name): [
        service.snapshot(created(campaign_body(name), day))
        for name, day in (("a", 1), ("b", 2), ("c", 3))]}
    files = service.FileDependencies(FakeCluster())
    files.written[(OWNER.namespace, OWNER.name, OWNER.uid)] = "the predecessor's"
    wakeups = Wakeups()
    name = (OWNER.namespace, OWNER.name)

    async def go() -> None:
        async with running_file_task(successor, index, files, wakeups):
            started = time.monotonic()
            while "CampaignsFileFull" not in posted:
                assert time.monotonic() - started < 10, posted
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert files.full[name] == ("c",) and name in files.passed
            predecessor = kopf.Body(cast(kopf.RawBody, {"metadata": {
                "name": OWNER.name, "namespace": OWNER.namespace, "uid": OWNER.uid}}))
            await invoke(handler.forget_file, meta=predecessor.meta,
                         memo=kopf.Memo(wakeups=wakeups, campaigns_file_dependencies=files))
            assert files.full[name] == ("c",) and name in files.passed
            assert (*name, OWNER.uid) not in files.written

    asyncio.run(go())
