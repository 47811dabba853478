"""A deleted UpliftModel's canary is tagged ``retired`` in MLflow at its DELETED event
(``handlers.upliftmodel.forget``, ``services.upliftmodel.retire_deleted_canary``): before, it
stayed ``canary`` for ever. Best-effort: nothing MLflow or the credentials do stops the
deletion's clean-up; and the model applied again ramps that version as a canary, as before."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

import kopf
from tests.unit.handlers.invoking import invoke, invoke_now
from tests.unit.services.test_upliftmodel import NAME, NS, REGISTERED, SELDON, Sim, reasons

from uplift_operator.handlers import upliftmodel
from uplift_operator.handlers.common import PassRunner, now
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import upliftmodel as service

ROLE, REASON = "uplift.dev/role", "uplift.dev/reason"
KEY = ("UpliftModel", NS, NAME)
PRODUCTION = (REGISTERED, "production")


def tag(sim: Sim, version: str, key: str) -> str | None:
    return sim.registry.tags.get((REGISTERED, version, key))


def deleted(sim: Sim, *, running: tuple[str, ...] = ("u-1",)) -> Wakeups:
    """Its DELETED event handled (``forget``), with a task of each uid in ``running``."""
    wakeups = Wakeups()
    for uid in running:
        wakeups.register(KEY, uid)
    memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=sim.deps,
                     pass_executor=ThreadPoolExecutor(1), **{
        "pass_runner_UpliftModel": PassRunner("UpliftModel", "upliftmodels", wakeups,
                                              ThreadPoolExecutor(1), cluster=None)})  # type: ignore[arg-type]
    body = kopf.Body(cast(kopf.RawBody, sim.body))
    invoke_now(upliftmodel.forget, meta=body.meta, body=body, memo=memo)  # as kopf runs it
    sim.deps.write_back.run_due()
    return wakeups


def test_the_canary_of_a_deleted_model_is_retired_and_the_alias_left_on_the_stable() -> None:
    sim = Sim()
    sim.with_canary()
    assert tag(sim, "2", ROLE) == "canary"
    deleted(sim)
    assert tag(sim, "2", ROLE) == "retired"
    assert (tag(sim, "2", REASON) or "").startswith(service.DELETED_MID_RAMP)
    assert f"{NS}/{NAME}" in (tag(sim, "2", REASON) or "")
    assert tag(sim, "1", ROLE) == "stable" and sim.registry.aliases[PRODUCTION] == "1"
    assert not sim.deps.write_back.knows(KEY)  # forgotten after its last write was queued


def test_no_canary_nothing_is_written() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    before = dict(sim.registry.tags)
    deleted(sim)
    assert sim.registry.tags == before


def test_an_object_of_the_name_already_running_keeps_the_canary_its_own() -> None:
    """``replace --force``: the new object's pass reads (and writes) the roles now."""
    sim = Sim()
    sim.with_canary()
    deleted(sim, running=("u-1", "u-2"))
    assert tag(sim, "2", ROLE) == "canary"


def test_a_model_whose_writes_were_withheld_retires_nothing() -> None:
    sim = Sim()
    sim.with_canary()
    older = ("UpliftModel", "elsewhere", "first")
    target = service.promotion_alias_target(sim.body, sim.deps.default_tracking_uri)
    sim.deps.alias_claims.claim(older, "u-0", "2026-01-01T00:00:00Z", target, sim.now)
    sim.deps.alias_claims.claim(KEY, "u-1", "2026-06-01T00:00:00Z", target, sim.now)
    deleted(sim)
    assert tag(sim, "2", ROLE) == "canary"
    assert sim.deps.alias_claims.target(KEY) is None  # its claim ended


def test_unreadable_credentials_or_a_failing_registry_never_stop_the_clean_up() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["spec"]["model"]["credentials"] = {"name": "gone", "tokenKey": "token"}
    wakeups = deleted(sim)  # the Secret went with the namespace
    assert tag(sim, "2", ROLE) == "canary"
    assert KEY not in wakeups.tasks("UpliftModel").values()

    def broken(*_: Any) -> Any:
        raise RuntimeError("no client")

    sim.body["spec"]["model"].pop("credentials")
    sim.deps.registry_for = broken
    wakeups = deleted(sim)
    assert tag(sim, "2", ROLE) == "canary"
    assert KEY not in wakeups.tasks("UpliftModel").values()
    sim.deps.registry_for = lambda ref, credentials: sim.registry
    sim.registry.writes_fail = True
    deleted(sim)  # queued, failing: retried off the handler, which returned
    assert sim.deps.write_back.pending() > 0


def test_the_model_applied_again_ramps_the_retired_canary_from_step_1() -> None:
    """``kubectl delete`` + ``apply``: the status-less object reads the role tags (d3a5076);
    the retired-by-deletion canary is a canary again, not a first version at 100 %."""
    sim = Sim()
    sim.with_canary()
    deleted(sim)
    del sim.cluster.objects[SELDON]  # the garbage collector's
    sim.cluster.secrets.clear()
    sim.body.pop("status")
    sim.body["metadata"]["uid"] = "u-2"
    assert "CanaryStarted" in reasons(sim.tick(1))
    sim.tick(1)
    assert (sim.status["stableVersion"], sim.status["canaryVersion"]) == ("1", "2")
    assert sim.weights() == {"1": 90, "2": 10}
    assert sim.registry.aliases[PRODUCTION] == "1"
    assert (tag(sim, "2", ROLE), tag(sim, "2", REASON)) == ("canary", None)


def test_the_index_claims_each_event_and_a_freed_model_is_woken() -> None:
    """``promotion_alias_claims`` (kopf's index, at every event) claims the model's promotion
    alias; the older one's DELETED event wakes the younger one (``follow_alias_claims``)."""
    import asyncio
    import copy

    sim = Sim()

    def model(namespace: str, name: str, created: str) -> kopf.Body:
        raw = copy.deepcopy(sim.body)
        raw["metadata"].update(namespace=namespace, name=name, uid=f"u-{name}",
                               creationTimestamp=created)
        return kopf.Body(cast(kopf.RawBody, raw))

    async def scenario() -> tuple[bool, bool, Any]:
        wakeups = Wakeups()
        younger_key = ("UpliftModel", "b", "younger")
        flag = wakeups.register(younger_key, "u-younger")
        memo = kopf.Memo(wakeups=wakeups, uplift_dependencies=sim.deps,
                         pass_executor=ThreadPoolExecutor(1), **{
            "pass_runner_UpliftModel": PassRunner("UpliftModel", "upliftmodels", wakeups,
                                                  ThreadPoolExecutor(1), cluster=None)})  # type: ignore[arg-type]
        upliftmodel.follow_alias_claims(memo)
        index: Any = upliftmodel.promotion_alias_claims
        older = model("a", "older", "2026-01-01T00:00:00Z")
        younger = model("b", "younger", "2026-02-01T00:00:00Z")
        found = await index(body=older, memo=memo)
        await index(body=younger, memo=memo)
        await asyncio.sleep(0)
        flag.clear()
        withheld = sim.deps.alias_claims.holder(younger_key, now()) == (
            "UpliftModel", "a", "older")
        await invoke(upliftmodel.forget, meta=older.meta, body=older, memo=memo)
        await asyncio.sleep(0)
        return withheld, flag.is_set(), found

    withheld, woken, found = asyncio.run(scenario())
    assert withheld and woken
    assert found == {("http://mlflow.test", REGISTERED, "production"): "a/older"}


class CountingPool(ThreadPoolExecutor):
    """The pass pool, counting the work submitted to it."""

    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


class Followers:
    def __init__(self) -> None:
        self.forgotten: list[tuple[str, str, str]] = []

    def forget(self, key: tuple[str, str, str]) -> None:
        self.forgotten.append(key)


def _memo(sim: Sim, pool: ThreadPoolExecutor, followers: Followers) -> kopf.Memo:
    wakeups = Wakeups()
    wakeups.register(KEY, "u-1")
    return kopf.Memo(wakeups=wakeups, uplift_dependencies=sim.deps, pass_executor=pool,
                     alias_followers=followers, **{
        "pass_runner_UpliftModel": PassRunner("UpliftModel", "upliftmodels", wakeups,
                                              ThreadPoolExecutor(1), cluster=None)})  # type: ignore[arg-type]


def test_a_deletion_without_a_canary_queues_nothing_in_the_pass_pool() -> None:
    """The pass pool's queue is every pass's: a mass deletion of canary-less models queued a
    no-op retirement per model there, and each model's clean-up (series, alias follower)
    waited its turn behind minutes of passes."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert not (sim.body.get("status") or {}).get("canaryVersion")
    pool, followers = CountingPool(), Followers()
    body = kopf.Body(cast(kopf.RawBody, sim.body))
    invoke_now(upliftmodel.forget, meta=body.meta, body=body, memo=_memo(sim, pool, followers))
    assert pool.submitted == 0
    assert followers.forgotten == [KEY]
    pool.shutdown()


def test_a_deleted_canary_waits_for_the_pool_after_the_clean_up() -> None:
    """With a canary, the retirement waits its turn in the pool; what is kept in memory of the
    model is dropped meanwhile, and the retirement still comes."""
    sim = Sim()
    sim.with_canary()
    pool, followers = CountingPool(), Followers()
    busy = threading.Event()
    pool.submit(busy.wait, 5)  # a queue of passes ahead
    body = kopf.Body(cast(kopf.RawBody, sim.body))
    memo = _memo(sim, pool, followers)

    async def go() -> None:
        deleting = asyncio.create_task(invoke(upliftmodel.forget, meta=body.meta, body=body,
                                              memo=memo))
        for _ in range(100):
            if followers.forgotten:
                break
            await asyncio.sleep(0.01)
        assert followers.forgotten == [KEY] and not deleting.done()
        assert tag(sim, "2", ROLE) == "canary"
        busy.set()
        await deleting

    asyncio.run(go())
    assert pool.submitted == 2
    sim.deps.write_back.run_due()
    assert tag(sim, "2", ROLE) == "retired"
    assert not sim.deps.write_back.knows(KEY)
    pool.shutdown()
