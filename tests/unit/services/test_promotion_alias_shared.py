"""Two UpliftModels that move one promotion alias (same tracking URI, registered model and
``promotionAlias``, any namespaces): the older one's decisions are written to MLflow, the
younger one's alias moves and role and reason tags are withheld, said in its
``RegistryWrittenBack`` condition and once by a Warning, and submitted again once the alias is
its alone (``services.writeback.AliasClaims``, ``services.upliftmodel``)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import REGISTERED, SELDON, SPEC, Sim, status_written

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.domain.status import status_patch
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult
from uplift_operator.services.writeback import RECREATE_GRACE, AliasClaims, Holding, WriteBack

ROLE = "uplift.dev/role"
PRODUCTION = (REGISTERED, "production")
TARGET = ("http://mlflow.test", REGISTERED, "production")


class Named(Sim):
    """A ``Sim`` of an UpliftModel of its own name and creation time."""

    def __init__(self, namespace: str, name: str, created: str) -> None:
        super().__init__()
        self.body["metadata"].update(namespace=namespace, name=name, uid=f"uid-{name}",
                                     creationTimestamp=created)
        self.graph = (SELDON[0], SELDON[1], namespace, name)
        self.key = ("UpliftModel", namespace, name)

    def tick(self, seconds: float = 0, available: bool = True) -> PassResult:
        self.now += dt.timedelta(seconds=seconds)
        result = status_written(upliftmodel.reconcile(copy.deepcopy(self.body), self.deps,
                                                      self.now))
        self.deps.write_back.run_due()
        self.body["status"] = result.status
        self.results.append(result)
        if available and self.graph in self.cluster.objects:
            graph = self.cluster.objects[self.graph]
            graph["status"] = seldon_status(graph, "Available")
        return result

    def claim(self) -> None:
        """What the watch's index does at each of its events."""
        meta = self.body["metadata"]
        self.deps.alias_claims.claim(self.key, meta["uid"], meta["creationTimestamp"],
                                     upliftmodel.promotion_alias_target(
                                         self.body, self.deps.default_tracking_uri), self.now)

    def deleted(self) -> None:
        """What its DELETED event does (``handlers.upliftmodel.forget``)."""
        self.deps.alias_claims.release(self.key, self.body["metadata"]["uid"], self.now)

    def created_again(self, uid: str, created: str) -> None:
        """A new object of its name (``kubectl replace --force``, a re-install): status-less."""
        self.body["metadata"].update(uid=uid, creationTimestamp=created, generation=1)
        self.body.pop("status", None)
        self.claim()

    def served(self) -> dict[str, int]:
        graph = self.cluster.objects[self.graph]
        return {p["annotations"]["version"]: p["traffic"] for p in graph["spec"]["predictors"]}


def pair() -> tuple[Named, Named]:
    """``older`` (shop/uplift, alias champion → 1) and ``younger`` (team-b/copycat, version 3
    pinned), one MLflow, one operator process, both moving ``production``."""
    older = Named("shop", "uplift", "2026-11-01T00:00:00Z")
    younger = Named("team-b", "copycat", "2026-11-20T00:00:00Z")
    younger.body["spec"]["model"] = {"registeredModel": REGISTERED, "version": "3",
                                     "promotionAlias": "production"}
    younger.registry = older.registry
    queue = WriteBack(clock=lambda: max(older.now, younger.now).timestamp())
    older.deps.write_back = younger.deps.write_back = queue
    younger.deps.alias_claims = older.deps.alias_claims
    older.claim()
    younger.claim()
    return older, younger


def reasons(result: PassResult) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in result.events]


def written_back(sim: Sim) -> dict[str, Any]:
    return sim.condition("RegistryWrittenBack")


def test_the_younger_model_serves_but_writes_nothing_and_says_whose_alias_it_is() -> None:
    older, younger = pair()
    older.tick()
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    first = younger.tick()
    second = younger.tick(1)
    assert younger.status["stableVersion"] == "3" and younger.served() == {"3": 100}
    assert older.registry.aliases[PRODUCTION] == "1"  # not moved to 3
    assert (REGISTERED, "3", ROLE) not in older.registry.tags
    condition = written_back(younger)
    assert (condition["status"], condition["reason"]) == ("False", "PromotionAliasShared")
    assert "shop/uplift" in condition["message"] and "production" in condition["message"]
    assert ("Warning", "PromotionAliasShared") in reasons(first)
    assert not [r for r in reasons(second) if "PromotionAlias" in r[1] or "WriteBack" in r[1]]
    assert older.status["phase"] == "Healthy"
    assert "PromotionAliasShared" not in str(older.status.get("conditions"))


def test_a_shared_alias_keeps_its_condition_and_writes_no_status_at_rest() -> None:
    """The younger model's RegistryWrittenBack was set over what the write-back queue made of
    it in the same pass (True: nothing of it pending), so its lastTransitionTime moved at
    every pass, False to False, and every resync wrote a status with nothing new."""
    older, younger = pair()
    older.tick()
    older.tick(1)
    younger.tick()
    younger.tick(1)
    since = written_back(younger)["lastTransitionTime"]
    for _ in range(3):
        before = copy.deepcopy(younger.status)
        younger.tick(600)  # a resync pass, nothing changed
        assert written_back(younger)["lastTransitionTime"] == since
        assert not status_patch(before, younger.results[-1].status)  # nothing to write
    assert written_back(younger)["reason"] == "PromotionAliasShared"


def test_the_older_one_deleted_the_younger_writes_its_registry_state_once_the_grace_ends(
) -> None:
    """A real deletion: the younger one is woken, says until when the alias stays the deleted
    one's (``RECREATE_GRACE``), asks for its pass then, and writes its registry state at it."""
    older, younger = pair()
    woken: list[tuple[str, str, str]] = []
    older.deps.alias_claims.on_change.append(woken.extend)
    older.tick()
    older.tick(1)
    younger.tick()
    younger.tick(1)
    claims = older.deps.alias_claims
    claims.release(older.key, "uid-shop-wrong", older.now)  # another object's: nothing
    assert woken == [] and claims.holder(younger.key, younger.now) == older.key
    older.deleted()
    assert woken == [younger.key]
    held = younger.tick(1)
    grace = RECREATE_GRACE.total_seconds()
    assert held.requeue_after == grace - 1
    assert older.registry.aliases[PRODUCTION] == "1"
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    assert "shop/uplift" in written_back(younger)["message"]
    assert "was deleted: the alias stays its until 2026-12-01T12:02:01+00:00" in written_back(
        younger)["message"]
    assert reasons(held) == [("Warning", "PromotionAliasShared")]  # new words
    freed = younger.tick(held.requeue_after)
    assert older.registry.aliases[PRODUCTION] == "3"
    assert older.registry.tags[(REGISTERED, "3", ROLE)] == "stable"
    assert reasons(freed) == [("Normal", "PromotionAliasNotShared")]
    assert written_back(younger)["status"] == "Unknown"
    younger.tick(1)  # the pass the write-back's word wakes
    assert written_back(younger)["status"] == "True"


def test_the_younger_one_given_another_promotion_alias_writes_it() -> None:
    older, younger = pair()
    older.tick()
    younger.tick()
    younger.body["spec"]["model"]["promotionAlias"] = "team-b"
    younger.body["metadata"]["generation"] = 2
    younger.claim()
    younger.tick(1)
    assert older.registry.aliases[(REGISTERED, "team-b")] == "3"
    assert older.registry.aliases[PRODUCTION] == "1"


def test_withheld_after_a_restart_too() -> None:
    """A new process: the younger one's status says its writes are owed, and still withheld."""
    older, younger = pair()
    older.tick()
    younger.tick()
    younger.deps.write_back = WriteBack(clock=lambda: younger.now.timestamp())
    again = younger.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    assert (REGISTERED, "3", ROLE) not in older.registry.tags
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    assert not [r for r in reasons(again) if "PromotionAlias" in r[1]]


def test_freed_while_mlflow_cannot_be_asked_the_state_stays_owed_until_it_can() -> None:
    """Its credentials Secret unreadable when the alias is freed: nothing submitted, and the
    condition keeps saying the state is owed (not True for nothing having failed)."""
    older, younger = pair()
    older.tick()
    younger.tick()
    younger.tick(1)
    older.deleted()
    younger.body["spec"]["model"]["credentials"] = {"name": "mlflow", "tokenKey": "token"}
    younger.tick(RECREATE_GRACE.total_seconds())
    younger.tick(1)
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    assert older.registry.aliases[PRODUCTION] == "1"
    younger.cluster.secrets[("team-b", "mlflow")] = {"token": "t" * 20}
    younger.tick(1)
    assert older.registry.aliases[PRODUCTION] == "3"


def test_freed_while_mlflow_refuses_the_writes_say_so_and_go_through_later() -> None:
    older, younger = pair()
    older.tick()
    younger.tick()
    older.deleted()
    older.registry.writes_fail = True
    younger.tick(RECREATE_GRACE.total_seconds())
    assert written_back(younger)["reason"] == "WriteBackPending"
    failing = younger.tick(1)  # the pass the worker's word wakes
    assert written_back(younger)["reason"] == "WriteBackFailed"
    assert ("Warning", "WriteBackFailed") in reasons(failing)
    older.registry.writes_fail = False
    younger.tick(2)
    assert older.registry.aliases[PRODUCTION] == "3"


@pytest.mark.parametrize("younger_first", [False, True])
def test_after_a_restart_the_holder_of_a_shared_alias_puts_its_state_back_once(
        younger_first: bool) -> None:
    """An earlier release let both move ``production``, and the younger one moved it last (to
    its version 3). After the upgrade (a new process: no claims, no write-back queue) the older
    one holds it, its RegistryWrittenBack still True: its first pass writes its registry state
    again, so MLflow holds the decisions the younger one's PromotionAliasShared names (before,
    the alias stayed on 3 for good). Once: a later move by hand is not undone."""
    older, younger = pair()
    older.tick()
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1" and written_back(older)["status"] == "True"
    # MLflow as the earlier release left it: the younger one moved the alias last
    older.registry.aliases[PRODUCTION] = "3"
    older.registry.tags[(REGISTERED, "3", ROLE)] = "stable"
    older.registry.tags[(REGISTERED, "1", ROLE)] = "retired"
    claims = AliasClaims()  # the operator restarted
    queue = WriteBack(clock=lambda: max(older.now, younger.now).timestamp())
    older.deps.alias_claims = younger.deps.alias_claims = claims
    older.deps.write_back = younger.deps.write_back = queue
    woken: list[tuple[str, str, str]] = []
    claims.on_change.append(woken.extend)
    for sim in ((younger, older) if younger_first else (older, younger)):
        sim.claim()
    assert older.key in woken
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    assert older.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    older.tick(1)
    assert written_back(older)["status"] == "True"
    assert not claims.became_holder(older.key, TARGET)
    younger.tick(1)
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    older.registry.aliases[PRODUCTION] = "2"  # moved by hand since
    older.tick(61)
    assert older.registry.aliases[PRODUCTION] == "2"


def test_an_older_model_edited_to_move_the_alias_becomes_its_holder_and_writes_it() -> None:
    """The younger one moved ``production`` alone; the older one's promotionAlias is edited to
    it: the older one holds it now and writes the registry state its status implies at once
    (before, it held it and wrote nothing: the alias stayed on the younger one's version)."""
    older, younger = pair()
    older.body["spec"]["model"]["promotionAlias"] = "staging"
    older.claim()
    older.tick()
    older.tick(1)
    younger.tick()
    younger.tick(1)
    assert older.registry.aliases[PRODUCTION] == "3"
    claims = older.deps.alias_claims
    woken: list[tuple[str, str, str]] = []
    claims.on_change.append(woken.extend)
    older.body["spec"]["model"]["promotionAlias"] = "production"
    older.body["metadata"]["generation"] = 2
    older.claim()
    assert woken == [older.key, younger.key]  # the new holder too, to write
    took = older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    assert older.registry.tags[(REGISTERED, "1", ROLE)] == "stable"
    assert written_back(older)["status"] == "Unknown"  # asked to be told when through
    older.tick(1)  # the pass the write-back's word wakes
    assert written_back(older)["status"] == "True"
    assert not claims.became_holder(older.key, TARGET)  # submitted: owed no more
    assert not [r for r in reasons(took) if "PromotionAlias" in r[1]]
    younger.tick(1)
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    assert older.registry.aliases[PRODUCTION] == "1"


def test_an_edit_that_makes_a_holder_writes_once_mlflow_can_be_asked() -> None:
    """The new holder's credentials Secret unreadable at its first pass: the state stays owed
    until a pass can submit it."""
    older, younger = pair()
    older.body["spec"]["model"]["promotionAlias"] = "staging"
    older.claim()
    older.tick()
    younger.tick()
    younger.tick(1)
    older.body["spec"]["model"].update(promotionAlias="production",
                                       credentials={"name": "mlflow", "tokenKey": "token"})
    older.body["metadata"]["generation"] = 2
    older.claim()
    older.tick(1)
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "3"
    assert older.deps.alias_claims.became_holder(older.key, TARGET)
    older.cluster.secrets[("shop", "mlflow")] = {"token": "t" * 20}
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"


def test_the_holder_created_again_keeps_the_alias_and_the_younger_never_moves_it() -> None:
    """``kubectl replace --force``, Argo CD's replace, a Helm re-install: the holder's DELETED
    event, then an object of its name, created later than the younger one. The new object holds
    the alias as the deleted one did (before, the younger one moved it to its version at the
    DELETED event and kept it, the new object being the younger for ever)."""
    older, younger = pair()
    older.tick()
    older.tick(1)
    younger.tick()
    younger.tick(1)
    older.deleted()
    waiting = younger.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    assert waiting.requeue_after is not None and waiting.requeue_after > 60
    del older.cluster.objects[older.graph]  # the garbage collector's
    older.cluster.secrets.clear()
    older.now += dt.timedelta(seconds=20)
    older.created_again("uid-uplift-2", "2026-12-01T12:00:21Z")
    assert older.deps.alias_claims.holder(younger.key, older.now) == older.key
    older.tick()
    older.tick(1)
    again = younger.tick(20)
    assert "created earlier, moves the same" in written_back(younger)["message"]
    assert again.requeue_after is None  # no grace to wait for: withheld for good
    younger.tick(RECREATE_GRACE.total_seconds())
    older.tick(1)
    assert older.registry.aliases[PRODUCTION] == "1"
    assert older.status["stableVersion"] == "1" and written_back(older)["status"] == "True"
    assert written_back(younger)["reason"] == "PromotionAliasShared"
    assert older.deps.alias_claims.holder(older.key, older.now) is None


# -- AliasClaims ------------------------------------------------------------------------------

A, B, C = ("UpliftModel", "a", "m"), ("UpliftModel", "b", "m"), ("UpliftModel", "c", "m")
T = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
OTHER = ("http://mlflow.test", REGISTERED, "other")


def test_the_oldest_claimant_holds_then_namespace_and_name_break_a_tie() -> None:
    claims = AliasClaims()
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(C, "uc", "2026-01-01T00:00:00Z", TARGET, T)
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET, T)
    assert (claims.holder(A, T), claims.holder(B, T), claims.holder(C, T)) == (None, A, A)
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", None, T)  # its promotionAlias removed
    assert (claims.holder(A, T), claims.holder(B, T), claims.holder(C, T)) == (None, C, None)


def test_only_the_claimants_whose_holder_changed_are_told_and_a_status_write_tells_none() -> None:
    claims = AliasClaims()
    told: list[list[tuple[str, str, str]]] = []
    claims.on_change.append(lambda owners: told.append(list(owners)))
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET, T)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", OTHER, T)
    assert told == [[A, B]]  # B withheld, A owing its registry state (shared from now)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)  # its status written: as it was
    assert told == [[A, B]]
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", OTHER, T)
    # B holds its alias now, C is withheld by A, and A holds an alias it did not hold
    assert told == [[A, B], [A, B, C]]


def test_an_edit_that_makes_a_model_the_holder_of_an_alias_owes_its_registry_state() -> None:
    """Its promotionAlias (or tracking URI) edited, or one added: the younger one it withholds
    from now on may have moved the alias, so the new holder submits its state for it, once."""
    claims = AliasClaims()
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", None, T)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", OTHER, T)
    # first seen (a start-up, a new object): nothing owed; its status says what is
    assert not [o for o in (A, B, C) if claims.became_holder(o, claims.target(o))]
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET, T)  # the alias added
    assert claims.became_holder(A, TARGET) and not claims.became_holder(A, OTHER)
    claims.wrote_as_holder(A, OTHER)  # a pass of the spec before the edit: still owed
    assert claims.became_holder(A, TARGET)
    claims.wrote_as_holder(A, TARGET)
    assert not claims.became_holder(A, TARGET)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", OTHER, T)  # moves to C's alias, older
    assert claims.became_holder(B, OTHER) and claims.holder(C, T) == B
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", TARGET, T)  # withheld by A: owes nothing
    assert not claims.became_holder(C, TARGET)
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", OTHER, T)  # A takes OTHER from B, owed
    assert claims.became_holder(A, OTHER)
    assert not claims.became_holder(B, OTHER)  # displaced before its pass: owes nothing
    assert claims.holder(C, T) is None and not claims.became_holder(C, TARGET)  # freed: its
    # status (PromotionAliasShared) says its state is owed
    claims.release(A, "ua", T)
    assert not claims.became_holder(A, OTHER)


@pytest.mark.parametrize("younger_first", [False, True])
def test_an_alias_first_seen_claimed_by_two_makes_its_holder_owe_its_registry_state(
        younger_first: bool) -> None:
    """At start-up (or when a second resource claims it): the younger one may have moved the
    alias before (an earlier release let each one move it), so the holder submits its state
    for it, once; a third claimant owes the holder nothing more."""
    claims = AliasClaims()
    told: list[list[tuple[str, str, str]]] = []
    claims.on_change.append(lambda owners: told.append(list(owners)))
    order = [(B, "ub", "2026-01-02T00:00:00Z"), (A, "ua", "2026-01-01T00:00:00Z")]
    for owner, uid, created in (order if younger_first else order[::-1]):
        claims.claim(owner, uid, created, TARGET, T)
    assert claims.became_holder(A, TARGET) and not claims.became_holder(B, TARGET)
    assert A in told[-1]
    claims.wrote_as_holder(A, TARGET)
    told.clear()
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", TARGET, T)  # shared already
    assert not claims.became_holder(A, TARGET) and told == [[C]]
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET, T)  # a status write: as it was
    assert not claims.became_holder(A, TARGET)


def test_a_name_created_again_keeps_its_seniority_the_newer_object_claims() -> None:
    """``kubectl replace --force``: the new object's events may come before the old one's
    DELETED; it holds the alias as the old one did, and the old one's late events change
    nothing."""
    claims = AliasClaims()
    told: list[list[tuple[str, str, str]]] = []
    claims.on_change.append(lambda owners: told.append(list(owners)))
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(A, "old", "2026-01-01T00:00:00Z", TARGET, T)
    claims.claim(A, "new", "2026-01-03T00:00:00Z", TARGET, T)  # replace --force
    assert claims.holder(A, T) is None and claims.holder(B, T) == A
    claims.claim(A, "old", "2026-01-01T00:00:00Z", TARGET, T)  # a late event of the old one
    claims.release(A, "old", T)  # the old one's DELETED, handled late: releases nothing
    assert claims.target(A) == TARGET and claims.holder(B, T) == A
    assert told == [[A, B]]  # B withheld by A, once; A owing its registry state, once
    claims.release(A, "new", T)
    assert claims.holding(B, T) == Holding(A, T + RECREATE_GRACE)


def test_the_holder_deleted_keeps_the_alias_for_the_grace_and_an_object_of_its_name_holds_it(
) -> None:
    claims = AliasClaims()
    told: list[list[tuple[str, str, str]]] = []
    claims.on_change.append(lambda owners: told.append(list(owners)))
    claims.claim(A, "a1", "2026-01-01T00:00:00Z", TARGET, T)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", TARGET, T)
    told.clear()
    claims.release(A, "a1", T)  # its DELETED event
    until = T + RECREATE_GRACE
    assert told == [[B, C]]  # told it is gone, and until when the alias stays its
    assert claims.holding(B, T) == claims.holding(C, T) == Holding(A, until)
    assert claims.target(A) is None and claims.holder(A, T) is None
    later = T + RECREATE_GRACE / 2
    claims.claim(A, "a1", "2026-01-01T00:00:00Z", TARGET, later)  # a late event: nothing
    assert claims.holding(B, later) == Holding(A, until)
    claims.claim(A, "a2", "2026-06-01T00:00:00Z", TARGET, later)  # created again in time
    assert told[-1] == [B, C]
    assert claims.holding(B, later) == claims.holding(C, later) == Holding(A)
    assert claims.holder(A, later) is None
    assert claims.holding(B, until + RECREATE_GRACE) == Holding(A)  # for good
    # deleted for good: B holds the alias once the grace ends, and C is withheld by B
    claims.release(A, "a2", later)
    assert claims.holding(B, later + RECREATE_GRACE - dt.timedelta(seconds=1)) == Holding(
        A, later + RECREATE_GRACE)
    end = later + RECREATE_GRACE
    assert claims.holding(B, end) is None and claims.holding(C, end) == Holding(B)
    assert not claims.became_holder(B, TARGET)  # freed: its status says what is owed
    claims.claim(A, "a3", "2026-07-01T00:00:00Z", TARGET, end)  # created again too late
    assert claims.holder(A, end) == B and len(claims) == 3


def test_a_deleted_claimant_that_did_not_hold_or_held_alone_leaves_nothing() -> None:
    claims = AliasClaims()
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET, T)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET, T)
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", OTHER, T)
    claims.claim(("UpliftModel", "d", "m"), "ud", "2026-01-03T00:00:00Z", None, T)
    claims.release(B, "ub", T)  # withheld: its claim ends at once
    claims.release(C, "uc", T)  # alone: nothing to keep it for
    claims.release(("UpliftModel", "d", "m"), "ud", T)
    assert len(claims) == 1
    claims.claim(B, "ub2", "2026-02-01T00:00:00Z", TARGET, T)
    assert claims.holder(B, T) == A


def test_the_target_is_read_from_the_raw_spec() -> None:
    body = {"spec": copy.deepcopy(SPEC)}
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test/") == TARGET
    body["spec"]["model"]["trackingUri"] = "http://other/"
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test") == (
        "http://other", REGISTERED, "production")
    del body["spec"]["model"]["promotionAlias"]
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test") is None
    assert upliftmodel.promotion_alias_target({"spec": {"model": "x"}}, None) is None
