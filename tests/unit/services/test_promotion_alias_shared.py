"""Two UpliftModels that move one promotion alias (same tracking URI, registered model and
``promotionAlias``, any namespaces): the older one's decisions are written to MLflow, the
younger one's alias moves and role and reason tags are withheld, said in its
``RegistryWrittenBack`` condition and once by a Warning, and submitted again once the alias is
its alone (``services.writeback.AliasClaims``, ``services.upliftmodel``)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from tests.unit.services.test_upliftmodel import REGISTERED, SELDON, SPEC, Sim

from uplift_operator.devenv.seldon_standin import seldon_status
from uplift_operator.services import upliftmodel
from uplift_operator.services.common import PassResult
from uplift_operator.services.writeback import AliasClaims, WriteBack

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
        result = upliftmodel.reconcile(copy.deepcopy(self.body), self.deps, self.now)
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
                                         self.body, self.deps.default_tracking_uri))

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


def test_the_older_one_deleted_the_younger_writes_its_registry_state_at_once() -> None:
    older, younger = pair()
    woken: list[tuple[str, str, str]] = []
    older.deps.alias_claims.on_change.append(woken.extend)
    older.tick()
    older.tick(1)
    younger.tick()
    younger.tick(1)
    older.deps.alias_claims.release(older.key, "uid-shop-wrong")  # another object's: nothing
    assert woken == [] and older.deps.alias_claims.holder(younger.key) == older.key
    older.deps.alias_claims.release(older.key, "uid-uplift")  # its DELETED event
    assert woken == [younger.key]
    freed = younger.tick(1)
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
    older.deps.alias_claims.release(older.key, "uid-uplift")
    younger.body["spec"]["model"]["credentials"] = {"name": "mlflow", "tokenKey": "token"}
    younger.tick(1)
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
    older.deps.alias_claims.release(older.key, "uid-uplift")
    older.registry.writes_fail = True
    younger.tick(1)
    assert written_back(younger)["reason"] == "WriteBackPending"
    failing = younger.tick(1)  # the pass the worker's word wakes
    assert written_back(younger)["reason"] == "WriteBackFailed"
    assert ("Warning", "WriteBackFailed") in reasons(failing)
    older.registry.writes_fail = False
    younger.tick(2)
    assert older.registry.aliases[PRODUCTION] == "3"


# -- AliasClaims ------------------------------------------------------------------------------

A, B, C = ("UpliftModel", "a", "m"), ("UpliftModel", "b", "m"), ("UpliftModel", "c", "m")


def test_the_oldest_claimant_holds_then_namespace_and_name_break_a_tie() -> None:
    claims = AliasClaims()
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET)
    claims.claim(C, "uc", "2026-01-01T00:00:00Z", TARGET)
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET)
    assert (claims.holder(A), claims.holder(B), claims.holder(C)) == (None, A, A)
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", None)  # its promotionAlias removed
    assert (claims.holder(A), claims.holder(B), claims.holder(C)) == (None, C, None)


def test_only_the_claimants_whose_holder_changed_are_told_and_a_status_write_tells_none() -> None:
    claims = AliasClaims()
    told: list[list[tuple[str, str, str]]] = []
    claims.on_change.append(lambda owners: told.append(list(owners)))
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", TARGET)
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET)
    claims.claim(C, "uc", "2026-01-03T00:00:00Z", ("http://mlflow.test", REGISTERED, "other"))
    assert told == [[B]]
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET)  # its status written: as it was
    assert told == [[B]]
    claims.claim(A, "ua", "2026-01-01T00:00:00Z", ("http://mlflow.test", REGISTERED, "other"))
    assert told == [[B], [B, C]]  # B holds its alias now, C is withheld by A


def test_a_name_created_again_is_one_claimant_the_newer_object() -> None:
    claims = AliasClaims()
    claims.claim(B, "ub", "2026-01-02T00:00:00Z", TARGET)
    claims.claim(A, "old", "2026-01-01T00:00:00Z", TARGET)
    claims.claim(A, "new", "2026-01-03T00:00:00Z", TARGET)  # replace --force
    assert claims.holder(A) == B
    claims.claim(A, "old", "2026-01-01T00:00:00Z", TARGET)  # a late event of the old one
    assert claims.holder(A) == B
    claims.release(A, "old")  # the old one's DELETED, handled late: releases nothing
    assert claims.target(A) == TARGET and claims.holder(A) == B


def test_the_target_is_read_from_the_raw_spec() -> None:
    body = {"spec": copy.deepcopy(SPEC)}
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test/") == TARGET
    body["spec"]["model"]["trackingUri"] = "http://other/"
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test") == (
        "http://other", REGISTERED, "production")
    del body["spec"]["model"]["promotionAlias"]
    assert upliftmodel.promotion_alias_target(body, "http://mlflow.test") is None
    assert upliftmodel.promotion_alias_target({"spec": {"model": "x"}}, None) is None
