"""An UpliftModel's MLflow write-backs are submitted only once the status that records the
decision is written (``PassResult.after_write``, called by the pass runner): a status write
refused (409: an on-call abort annotated during the pass) leaves MLflow as it was, and MLflow
ends as the decision the status records says. The status of the pass says what the
submission will make of the write-back (``WriteBack.preview``).

A status write the API server applied but whose answer was lost (a timeout, a connection
reset, a 504 after the commit) fails the pass too: ``after_write`` is never called, the status
holds the decision and ``RegistryWrittenBack`` Unknown, and no later pass decides it again. The
next pass submits the registry state the status implies (``WriteBack.undelivered``), and the
condition turns True only once MLflow holds it."""

from __future__ import annotations

import copy
import datetime as dt

from tests.unit.services.test_upliftmodel import PROBE, REGISTERED, Sim, status_written
from tests.unit.services.test_writeback_after_restart import (
    PRODUCTION,
    promoted,
    record_writes,
    role,
    written_back,
)

from uplift_operator.services import upliftmodel
from uplift_operator.services.writeback import WriteBack

OWNER = ("UpliftModel", "shop", "uplift")


def test_a_refused_status_write_leaves_mlflow_as_the_next_decision_says() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "full:1"}
    sim.now += dt.timedelta(seconds=1)
    refused = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
    assert refused.status["stableVersion"] == "2" and refused.after_write is not None
    sim.deps.write_back.run_due()  # the worker runs meanwhile: nothing was submitted
    assert sim.registry.aliases[PRODUCTION] == "1" and role(sim, "2") == "canary"
    # The status write is refused (409): on-call annotated an abort during the pass.
    sim.body["metadata"]["annotations"]["uplift.dev/abort"] = "oncall-1"
    sim.tick(1)
    assert (sim.status["stableVersion"], sim.status["abortedVersion"]) == ("1", "2")
    for _ in range(3):
        sim.tick(5)
    assert sim.registry.aliases[PRODUCTION] == "1"
    assert (role(sim, "1"), role(sim, "2")) == ("stable", "rolled-back")
    assert written_back(sim)["status"] == "True"


def test_the_status_says_pending_before_the_writes_are_submitted_and_they_follow_it() -> None:
    sim = Sim()
    sim.with_canary()
    sim.body["metadata"]["annotations"] = {"uplift.dev/promote": "full:1"}
    sim.now += dt.timedelta(seconds=1)
    result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
    conditions = {c["type"]: c for c in result.status["conditions"]}
    assert conditions["RegistryWrittenBack"]["reason"] == "WriteBackPending"
    assert not sim.deps.write_back.waiting(OWNER)  # nothing submitted before the status write
    status_written(result)
    assert sim.deps.write_back.waiting(OWNER)
    sim.deps.write_back.run_due()
    sim.body["status"] = result.status
    assert sim.registry.aliases[PRODUCTION] == "2"
    assert (role(sim, "1"), role(sim, "2")) == ("retired", "stable")
    sim.tick(1)
    assert written_back(sim)["status"] == "True"


def test_writes_said_pending_but_through_at_the_submission_wake_the_model() -> None:
    """The status said writes pending; they went through before the status was written (the
    worker, another resource's identical writes): nothing else would wake the model to say
    True. A pass that said nothing pending is not woken (no pass after pass at rest)."""
    sim = Sim()
    told: list[object] = []
    sim.deps.write_back.on_change.append(lambda owners: told.extend(owners))
    scope = ("http://mlflow.test",)
    for expected in (False, True):
        upliftmodel._submit_write_backs(sim.deps, OWNER, sim.registry, scope, REGISTERED, [],
                                        tell=True, expected=expected, holder_of=None)
        assert told == ([OWNER] if expected else [])


def test_preview_says_what_a_submission_would_make_of_the_write_back() -> None:
    sim = Sim()
    write_back, scope = sim.deps.write_back, ("http://mlflow.test",)
    tag = upliftmodel._role(REGISTERED, "2", "stable", "t")
    assert write_back.preview(OWNER, scope, REGISTERED, tag) == (True, None)
    write_back.submit(("UpliftModel", "shop", "twin"), sim.registry, scope, REGISTERED, tag)
    write_back.run_due()
    assert write_back.preview(OWNER, scope, REGISTERED, tag) == (False, None)  # written
    sim.registry.writes_fail = True
    other = upliftmodel._role(REGISTERED, "3", "canary", "t")
    write_back.submit(("UpliftModel", "shop", "twin"), sim.registry, scope, REGISTERED, other)
    write_back.run_due()
    waiting, failure = write_back.preview(OWNER, scope, REGISTERED,
                                          upliftmodel._role(REGISTERED, "1", "retired", "t"))
    assert waiting and failure is not None and "held behind" in failure
    assert not write_back.waiting(OWNER)  # a preview submits nothing



def promoted_with_its_answer_lost(sim: Sim) -> None:
    """Version 2 ramped; the pass that promotes it has its status stored by the API server,
    but the answer is lost: ``after_write`` (the write-back's submission) is never called."""
    sim.with_canary()
    sim.metrics.values[PROBE] = 0.5
    for _ in range(12):
        sim.now += dt.timedelta(seconds=30)
        result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
        if result.status.get("stableVersion") == "2":
            sim.body["status"] = result.status  # stored; the PATCH raised all the same
            return
        status_written(result)
        sim.deps.write_back.run_due()
        sim.body["status"] = result.status
        sim.seldon()
    raise AssertionError("version 2 was never promoted")


def test_a_status_applied_with_its_answer_lost_has_its_writes_submitted_by_the_next_pass() -> None:
    sim = Sim()
    promoted_with_its_answer_lost(sim)
    assert sim.deps.write_back.undelivered(OWNER)
    assert written_back(sim)["status"] == "Unknown"
    assert sim.registry.aliases[PRODUCTION] == "1" and role(sim, "2") == "canary"
    result = upliftmodel.reconcile(copy.deepcopy(sim.body), sim.deps, sim.now)
    # The pass that submits them says so, not True: nothing is written yet.
    condition = next(c for c in result.status["conditions"]
                     if c["type"] == "RegistryWrittenBack")
    assert condition["status"] == "Unknown"
    status_written(result)
    sim.body["status"] = result.status
    assert not sim.deps.write_back.undelivered(OWNER)
    sim.deps.write_back.run_due()
    sim.tick(1)  # woken once they went through
    assert sim.registry.aliases[PRODUCTION] == "2"
    assert (role(sim, "2"), role(sim, "1")) == ("stable", "retired")
    assert written_back(sim)["status"] == "True"


def test_without_its_writes_through_the_condition_never_turns_true() -> None:
    """MLflow down: the owed writes fail, and the condition says so, never True."""
    sim = Sim()
    promoted_with_its_answer_lost(sim)
    sim.registry.writes_fail = True
    for _ in range(4):
        sim.tick(30)
    assert written_back(sim)["status"] == "False"
    assert sim.registry.aliases[PRODUCTION] == "1"
    sim.registry.writes_fail = False
    for _ in range(12):
        sim.tick(300)
    assert sim.registry.aliases[PRODUCTION] == "2" and written_back(sim)["status"] == "True"


def test_the_state_is_submitted_once_not_on_every_pass() -> None:
    sim = Sim()
    promoted_with_its_answer_lost(sim)
    writes = record_writes(sim)
    sim.tick(30)
    sim.tick(1)
    assert ("production", "2") in writes and written_back(sim)["status"] == "True"
    once = list(writes)
    for _ in range(5):
        sim.tick(30)
    assert writes == once


def test_a_healthy_resource_submits_nothing_again() -> None:
    """Every status written: no pass after the promotion's writes anything to MLflow, and
    none is left undelivered."""
    sim = Sim()
    promoted(sim)
    assert written_back(sim)["status"] == "True"
    writes = record_writes(sim)
    for _ in range(5):
        sim.tick(30)
    assert writes == [] and not sim.deps.write_back.undelivered(OWNER)


def test_a_submit_clears_what_a_pass_decided_and_forget_too() -> None:
    queue = WriteBack()
    assert not queue.undelivered(OWNER)
    queue.decided(OWNER)
    assert queue.undelivered(OWNER)
    queue.submit(OWNER, object(), ("u", "", ""), "m", [])  # type: ignore[arg-type]
    assert not queue.undelivered(OWNER)
    queue.decided(OWNER)
    queue.forget(OWNER)
    assert not queue.undelivered(OWNER)
