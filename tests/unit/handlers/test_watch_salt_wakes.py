"""A Campaign created, moved or deleted with another's salt wakes that one's pass (its
``HoldoutShared`` names it), from the Campaign watch alone: no polling, no LIST, no Campaign
woken whose draws it does not share, none at a status write. Each pass is given the draws of
its model's Campaigns with its salt (``handlers.campaign.SaltBook``)."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, cast

import kopf
import pytest
from tests.unit.handlers.test_task_end import CAMPAIGN_SPEC, Cluster
from tests.unit.handlers.test_watch_file_wakes import NS, _memo

from uplift_operator.domain.shared_draws import Draw, draw
from uplift_operator.handlers import campaign, watches
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services import campaign as campaign_service
from uplift_operator.services.common import PassResult


def _body(name: str, model: str = "churn", salt: str | None = "spring-2026",
          uid: str | None = None) -> dict[str, Any]:
    experiment: dict[str, Any] = {"holdoutFraction": 0.1}
    if salt is not None:
        experiment["salt"] = salt
    return {"apiVersion": "uplift.dev/v1alpha1", "kind": "Campaign",
            "metadata": {"namespace": NS, "name": name, "uid": uid or f"uid-{name}",
                         "generation": 1, "resourceVersion": "1"},
            "spec": {"modelRef": {"name": model}, "experiment": experiment},
            "status": {"phase": "Progressing", "exposurePercent": 5}}


def _event(kind: str, body: dict[str, Any], memo: kopf.Memo) -> None:
    body = copy.deepcopy(body)
    handler: Any = watches.campaign_changed
    asyncio.run(handler(event={"type": kind, "object": body},
                        body=kopf.Body(cast(kopf.RawBody, body)), memo=memo,
                        campaigns_by_model={}))


def test_the_book_groups_draws_by_model_and_salt() -> None:
    book = campaign.SaltBook()
    spring = draw(NS, "churn", "spring", "s")
    assert book.place(NS, "spring", spring) == (spring,)
    assert book.place(NS, "spring", spring) == ()  # where it was: nothing moved
    summer = draw(NS, "churn", "summer", "s")
    book.place(NS, "summer", summer)
    book.place(NS, "autumn", draw(NS, "churn", "autumn", "other"))
    book.place(NS, "winter", draw(NS, "retention", "winter", "s"))
    assert set(book.drawing_with(spring)) == {spring, summer}
    moved = draw(NS, "retention", "summer", "s")
    assert book.place(NS, "summer", moved) == (summer, moved)
    assert book.drawing_with(spring) == (spring,)
    assert book.place(NS, "spring", None) == (spring,)
    assert book.drawing_with(spring) == ()
    assert book._members.keys() == {(NS, "retention", "s"), (NS, "churn", "other")}


def test_a_campaign_taking_or_leaving_a_salt_wakes_the_others_drawing_with_it() -> None:
    wakeups = Wakeups()
    flags = {name: wakeups.register((campaign.KIND, NS, name), f"uid-{name}")
             for name in ("spring", "summer", "autumn", "winter", "copy", "fall")}
    memo = _memo(wakeups)

    def woken() -> set[str]:
        names = {name for name, flag in flags.items() if flag.is_set()}
        for flag in flags.values():
            flag.clear()
        return names

    _event("ADDED", _body("spring"), memo)
    _event("ADDED", _body("autumn", salt="autumn-2026"), memo)
    _event("ADDED", _body("winter", model="retention"), memo)
    assert woken() == {"spring", "autumn", "winter"}  # each its own pass, none another's
    summer = _body("summer")
    _event("ADDED", summer, memo)
    assert woken() == {"summer", "spring"}  # spring now shares its draws with summer
    summer["status"]["exposurePercent"] = 25  # a status write: no draw moved
    summer["metadata"]["resourceVersion"] = "2"
    _event("MODIFIED", summer, memo)
    assert woken() <= {"summer"}
    summer["spec"]["modelRef"]["name"] = "retention"  # moved: both models' sharers
    summer["metadata"].update(generation=2, resourceVersion="3")
    _event("MODIFIED", summer, memo)
    assert woken() == {"summer", "spring", "winter"}
    _event("DELETED", summer, memo)
    assert woken() == {"winter"}
    # A salt set to another's default: shared with that one once it exists.
    _event("ADDED", _body("copy", salt=f"{NS}/fall"), memo)
    assert woken() == {"copy"}
    _event("ADDED", _body("fall", salt=None), memo)
    assert woken() == {"fall", "copy"}


def test_each_pass_is_given_the_draws_of_its_model_s_campaigns_with_its_salt(
        monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[tuple[Draw, ...]] = []

    def reconcile(*_: Any, draws: tuple[Draw, ...] = ()) -> PassResult:
        given.append(tuple(draws))
        return PassResult({"phase": "Progressing"}, (), None)

    monkeypatch.setattr(campaign_service, "reconcile", reconcile)
    monkeypatch.setattr(campaign, "campaign_dependencies", lambda _memo: None)
    spec = {**CAMPAIGN_SPEC, "modelRef": {"name": "churn"}}
    body = kopf.Body(cast(kopf.RawBody, {
        "metadata": {"name": "r", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
        "spec": spec}))

    async def run() -> None:
        with ThreadPoolExecutor(1) as pool:
            wakeups = Wakeups()
            memo = kopf.Memo(wakeups=wakeups, pass_runner_Campaign=PassRunner(
                "Campaign", "campaigns", wakeups, pool, Cluster()),
                uplift_dependencies=SimpleNamespace())
            book = campaign.salt_book(memo)
            book.place("ns", "r", draw("ns", "churn", "r", "s"))
            other = draw("ns", "churn", "other", "s")
            book.place("ns", "other", other)
            book.place("ns", "apart", draw("ns", "churn", "apart", "t"))
            task = asyncio.create_task(campaign.reconcile(body=body, memo=memo))
            for _ in range(300):
                if given:
                    break
                await asyncio.sleep(0.01)
            book.place("ns", "other", None)  # deleted: the next pass is given none
            wakeups.wake((campaign.KIND, "ns", "r"))
            for _ in range(300):
                if len(given) > 1:
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert set(given[0]) == {draw("ns", "churn", "r", "s"), draw("ns", "churn", "other", "s")}
    assert given[1] == (draw("ns", "churn", "r", "s"),)


def test_campaigns_joining_one_salt_one_by_one_cost_linear_passes_and_writes() -> None:
    """200 Campaigns of one model with one salt, created one at a time (a copied sample): each
    creation wakes only the sharers whose ``HoldoutShared`` says something else now (those it
    names while at most 10 share), and those woken write their status; every sharer whose
    condition would change is woken. It was every sharer at every creation, and every one's
    message counted the others ("and N more"): ~n²/2 = 20,000 passes and status writes."""
    from uplift_operator.domain import shared_draws

    count = 200
    names = [f"c{index:04d}" for index in range(count)]
    wakeups = Wakeups()
    flags = {name: wakeups.register((campaign.KIND, NS, name), f"uid-{name}") for name in names}
    memo = _memo(wakeups)
    book = campaign.salt_book(memo)
    conditions: dict[str, list[Any]] = {}
    at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    def condition(name: str) -> list[Any]:
        own = draw(NS, "churn", name, "spring-2026")
        return shared_draws.holdout_shared(conditions.get(name, []), own, shared_draws.sharing(
            own, book.drawing_with(own)), 1, at)

    woken_others = writes = 0
    for name in names:
        for flag in flags.values():
            flag.clear()
        _event("ADDED", _body(name), memo)
        woken = {other for other, flag in flags.items() if flag.is_set()}
        assert name in woken  # its own pass
        woken_others += len(woken) - 1
        for other in names[:names.index(name) + 1]:  # every Campaign there is now
            new = condition(other)
            if new != conditions.get(other, []):
                assert other in woken, (name, other)  # its status would change: woken
                writes += 1
            conditions[other] = new
    # The first 11 rewrite each other's names (~66), the crossing to "more than 10" once
    # each (11), then each newcomer its own status once.
    assert woken_others < 100 and writes < 3 * count


@pytest.mark.parametrize(("sharers", "leaving"), [
    (12, "deleted"), (12, "moved"), (2, "deleted"), (2, "moved"), (13, "deleted"),
    (11, "deleted")])
def test_a_campaign_leaving_a_salt_wakes_exactly_the_sharers_whose_condition_changes(
        sharers: int, leaving: str) -> None:
    """One of ``sharers`` Campaigns with one salt leaves it (deleted, or its modelRef changed
    to another model): the sharers left are woken when, and only when, their
    ``HoldoutShared`` says something else now. Of 12, the 11 left go from "more than 10" to
    naming the 10 others (they were not woken: the leave was counted as one sharer too
    many); of 2, the one left turns False; of 13, the 12 left still say "more than 10"."""
    from uplift_operator.domain import shared_draws

    names = [f"c{index:02d}" for index in range(sharers)]
    wakeups = Wakeups()
    flags = {name: wakeups.register((campaign.KIND, NS, name), f"uid-{name}") for name in names}
    memo = _memo(wakeups)
    book = campaign.salt_book(memo)
    at = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    conditions: dict[str, list[Any]] = {}

    def condition(name: str) -> list[Any]:
        own = draw(NS, "churn", name, "spring-2026")
        return shared_draws.holdout_shared(conditions.get(name, []), own, shared_draws.sharing(
            own, book.drawing_with(own)), 1, at)

    for name in names:
        _event("ADDED", _body(name), memo)
    for name in names:
        conditions[name] = condition(name)
    for flag in flags.values():
        flag.clear()
    leaver, staying = names[-1], names[:-1]
    body = _body(leaver)
    if leaving == "deleted":
        _event("DELETED", body, memo)
    else:
        body["spec"]["modelRef"]["name"] = "retention"
        body["metadata"].update(generation=2, resourceVersion="2")
        _event("MODIFIED", body, memo)
    woken = {name for name in staying if flags[name].is_set()}
    changed = {name for name in staying if condition(name) != conditions[name]}
    assert woken == changed
    assert changed == (set() if sharers == 13 else set(staying))
