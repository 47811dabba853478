"""A resource's MLflow write-backs held behind ANOTHER resource's failing write of the same
registered model (one queue, in order): ``failure`` says so, naming that write and its error,
so its ``RegistryWrittenBack`` goes False (and an operator restart re-submits what its status
implies), until none of its own writes is pending; its owner is woken both times."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.services.test_upliftmodel import REGISTERED, Sim
from tests.unit.services.test_writeback import (
    SCOPE,
    Client,
    Clock,
    Mlflow,
    alias,
    client,
    role,
)
from tests.unit.services.test_writeback_after_restart import restart
from tests.unit.services.test_writeback_after_restart import role as role_of
from tests.unit.services.test_writeback_after_restart import written_back as condition_of

from uplift_operator.adapters.mlflow_registry import (
    RegistryRequestError,
    RegistryUnavailable,
)
from uplift_operator.api.v1alpha1.upliftmodel import UpliftModelSpec
from uplift_operator.services import upliftmodel
from uplift_operator.services.writeback import MAX_BACKOFF_SECONDS, Owner, Write, WriteBack

A, B, C = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b"), ("UpliftModel", "other", "c")
DOWN = RegistryUnavailable("MLflow answered HTTP 503: busy", status_code=503)


class Told:
    """The owners ``on_change`` names, with what ``failure`` said of each when they were told."""

    def __init__(self, queue: WriteBack) -> None:
        self.queue, self.calls = queue, list[tuple[Owner, str | None]]()
        queue.on_change.append(self)

    def __call__(self, owners: Any) -> None:
        self.calls.extend((owner, self.queue.failure(owner)) for owner in owners)

    def of(self, owner: Owner) -> list[str | None]:
        return [said for told, said in self.calls if told == owner]


def blocked() -> tuple[Mlflow, Clock, WriteBack, Told]:
    """A's write of version 2 fails (MLflow busy on it, retried); B's write of version 3 is
    queued behind it, in the same queue (the same tracking URI and credentials, model m)."""
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    told = Told(queue)
    mlflow.refusing["2"] = DOWN
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("2", "rolled-back")])
    queue.submit(B, client(mlflow, "token"), SCOPE, "m", [role("3", "canary")])
    assert queue.run_due() == 1.0
    return mlflow, clock, queue, told


def test_a_write_held_behind_another_resources_failing_write_says_what_it_waits_for() -> None:
    mlflow, clock, queue, told = blocked()
    held = queue.failure(B)
    assert held is not None and "held behind" in held
    assert "role 2 = 'rolled-back'" in held and "HTTP 503: busy" in held  # the write, its error
    assert "role 3" not in held and "dropped" not in held
    assert queue.waiting(B) and mlflow.tags == {}
    assert told.of(B) == [held]  # woken once it is held
    own = queue.failure(A)
    assert own is not None and "held" not in own and "failing" in own  # A's own, unchanged
    for attempt in range(8):  # retried with backoff: the same words, no one woken again,
        mlflow.refusing["2"] = RegistryUnavailable(  # even as MLflow's answer varies
            f"MLflow answered HTTP 503: busy ({attempt})", status_code=503)
        clock.now += queue.run_due() or 0.0
        assert queue.failure(B) == held
    assert told.of(B) == [held] and told.of(A) == [own]
    queue.forget(B)  # deleted: nothing is reported for it any more
    assert queue.failure(B) is None


@pytest.mark.parametrize("blocker", ["goes through", "is dropped"])
def test_held_ends_once_the_blocker_is_out_of_the_way_and_its_own_writes_went_through(
        blocker: str) -> None:
    mlflow, clock, queue, told = blocked()
    held = queue.failure(B)
    if blocker == "goes through":
        del mlflow.refusing["2"]
    else:  # MLflow refuses it for good (a 4xx of its own)
        mlflow.refusing["2"] = RegistryRequestError("invalid tag for version 2", status_code=400)
    clock.now += MAX_BACKOFF_SECONDS
    assert queue.run_due() is None
    assert mlflow.tags == ({"2": "rolled-back", "3": "canary"} if blocker == "goes through"
                           else {"3": "canary"})
    assert queue.failure(B) is None and not queue.waiting(B)
    assert told.of(B) == [held, None]  # woken when held, and when its writes went through
    assert ("dropped" in (queue.failure(A) or "")) is (blocker == "is dropped")


def test_held_lasts_until_its_own_writes_went_through_not_only_the_blockers() -> None:
    """The blocker went through, but B's own write then fails: B says that (its own failure),
    then nothing once it went through."""
    mlflow, clock, queue, told = blocked()
    held = queue.failure(B)
    del mlflow.refusing["2"]
    mlflow.refusing["3"] = DOWN
    clock.now += MAX_BACKOFF_SECONDS
    queue.run_due()
    own = queue.failure(B)
    assert own is not None and "role 3 = 'canary'" in own and "held" not in own
    assert queue.failure(A) is None and told.of(B) == [held, own]
    del mlflow.refusing["3"]
    settle_all(queue, clock)
    assert queue.failure(B) is None and told.of(B) == [held, own, None]


def test_held_behind_a_new_blocker_names_it() -> None:
    """Behind A's failing write, then (once it went through) behind C's."""
    mlflow, clock, queue, told = blocked()
    queue.submit(C, client(mlflow, "token"), SCOPE, "m", [role("4", "stable")])
    queue.submit(B, client(mlflow, "token"), SCOPE, "m", [alias("prod", "3")])  # behind C's
    first = queue.failure(B)
    assert first is not None and "role 2" in first and "role 2" in (queue.failure(C) or "")
    del mlflow.refusing["2"]
    mlflow.refusing["4"] = DOWN
    clock.now += MAX_BACKOFF_SECONDS
    queue.run_due()
    assert mlflow.tags == {"2": "rolled-back", "3": "canary"} and mlflow.aliases == {}
    second = queue.failure(B)
    assert second is not None and "held behind" in second and "role 4 = 'stable'" in second
    assert told.of(B) == [first, second]
    assert "held" not in (queue.failure(C) or "held")  # C's own write fails now
    del mlflow.refusing["4"]
    settle_all(queue, clock)
    assert mlflow.aliases == {"prod": "3"} and queue.failure(B) is None
    assert told.of(B)[-1] is None


def test_a_write_submitted_behind_a_failing_one_is_held_at_once() -> None:
    """A pass queuing a write behind a head already failing reads the held state at once (it
    puts it in its own status; no one needs to wake it), and one joining that failing head
    (the same write, deduplicated) reads it failing at once, not only at the next retry."""
    mlflow, clock, queue, told = blocked()
    queue.submit(C, client(mlflow, "token"), SCOPE, "m", [role("4", "stable")])
    held = queue.failure(C)
    assert held is not None and "held behind" in held and "role 2 = 'rolled-back'" in held
    joined = ("UpliftModel", "ns", "joined")
    queue.submit(joined, client(mlflow, "token"), SCOPE, "m", [role("2", "rolled-back")])
    assert queue.failure(joined) == queue.failure(A)
    assert [owner for owner, _ in told.calls] == [A, B]  # the submitting passes read it
    del mlflow.refusing["2"]
    settle_all(queue, clock)
    assert queue.failure(C) is None and queue.failure(joined) is None
    assert told.of(C) == [None] and told.of(joined) == [None]  # woken when it ended


def test_an_owner_with_nothing_pending_behind_the_failing_write_is_unaffected() -> None:
    """Unaffected: D, whose write of the model went through before A's started failing; E,
    whose write is of another model (another queue); A itself, whose writes behind its own
    failing one are its own failure, not held; and an owner whose held write was replaced by
    its next pass with nothing left pending."""
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    told = Told(queue)
    d, e = ("UpliftModel", "ns", "d"), ("UpliftModel", "ns", "e")
    queue.submit(d, client(mlflow, "token"), SCOPE, "m", [role("1", "stable")])
    queue.run_due()
    mlflow.refusing["2"] = DOWN
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("2", "rolled-back"),
                                                          alias("prod", "1")])
    queue.submit(e, client(mlflow, "token"), SCOPE, "other-model", [role("7", "canary")])
    queue.submit(d, client(mlflow, "token"), SCOPE, "m", [])  # a pass with no new write
    queue.run_due()
    assert queue.failure(d) is None and queue.failure(e) is None
    assert mlflow.tags == {"1": "stable", "7": "canary"}
    assert "held" not in (queue.failure(A) or "held")
    assert [owner for owner, _ in told.calls] == [A]  # once: failing, not held
    # B held behind A, then B's next pass (other credentials) replaces its write by one
    # already written there: nothing of it is pending, nothing is held
    other_secret = ("http://mlflow", "ns", "secret-b")
    queue.submit(d, client(mlflow, "token"), other_secret, "m", [role("3", "rolled-back")])
    queue.run_due()
    queue.submit(B, client(mlflow, "token"), SCOPE, "m", [role("3", "canary")])
    assert queue.failure(B) is not None
    queue.submit(B, client(mlflow, "token"), other_secret, "m", [role("3", "rolled-back")])
    assert not queue.waiting(B) and queue.failure(B) is None


def test_a_write_behind_a_head_that_no_longer_fails_is_not_held() -> None:
    """Submitted while the write ahead of it is tried after the failing one went through, or
    after the failing one's owner took it to other credentials: not held."""
    mlflow, clock, queue, _ = blocked()
    del mlflow.refusing["2"]

    class Racing(Client):  # a pass submits while B's write (now the head) is being tried
        def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
            if version == "3":
                queue.submit(C, client(mlflow, "token"), SCOPE, "m", [role("4", "stable")])
                assert queue.failure(C) is None
            super().set_version_tag(name, version, key, value)

    queue.submit(B, Racing(mlflow, "token"), SCOPE, "m", [])  # type: ignore[arg-type]
    clock.now += MAX_BACKOFF_SECONDS
    assert queue.run_due() is None and mlflow.tags == {"2": "rolled-back", "3": "canary",
                                                       "4": "stable"}
    mlflow, clock, queue, _ = blocked()
    other_secret = ("http://mlflow", "ns", "secret-b")
    mlflow.valid.add("b")
    queue.submit(A, client(mlflow, "b"), other_secret, "m", [])  # A's failing write goes along
    queue.submit(C, client(mlflow, "token"), SCOPE, "m", [role("4", "stable")])
    assert queue.failure(C) is None


def test_a_thousand_resources_held_behind_one_write_are_each_told_twice_not_per_retry() -> None:
    """Thousands of resources of one model, each with its own write queued behind one that
    fails: each is told once when held and once when its write went through, not per retry.
    (1,000 here: ``submit`` itself scans the model's queue, so 10,000 take seconds.)"""
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    told: list[Owner] = []
    queue.on_change.append(told.extend)
    mlflow.refusing["0"] = DOWN
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("0", "rolled-back")])
    owners = [("UpliftModel", "ns", f"r{i}") for i in range(1_000)]
    for i, owner in enumerate(owners):
        queue.submit(owner, client(mlflow, "token"), SCOPE, "m", [role(str(i + 1), "canary")])
    queue.run_due()
    assert len(told) == 1_001 and all(queue.failure(o) for o in owners)
    for _ in range(5):
        clock.now += queue.run_due() or 0.0
    assert len(told) == 1_001
    del mlflow.refusing["0"]
    settle_all(queue, clock)
    assert len(told) == 2_002 and not any(queue.failure(o) for o in owners)


# -- through a pass: the condition, and a restart ---------------------------------------------

def blocking_write(sim: Sim, failing: list[bool]) -> None:
    """Another resource's write of the same registered model, same MLflow and credentials,
    failing (retried) while ``failing[0]``."""

    def apply(registry: Any) -> None:
        if failing[0]:
            raise RegistryUnavailable("MLflow answered HTTP 503: busy", status_code=503)

    spec = UpliftModelSpec.model_validate(sim.body["spec"])
    scope = upliftmodel.registry_scope(spec.model, "elsewhere", sim.deps)
    sim.deps.write_back.submit(("UpliftModel", "elsewhere", "other"), sim.registry, scope,
                               REGISTERED, [Write(("role", "1"), "x", apply)])
    sim.deps.write_back.run_due()


def canary_held(sim: Sim, failing: list[bool]) -> None:
    sim.tick()
    sim.tick(1)
    # The first version's writes went through: True (Unknown while they were queued).
    assert sim.status["phase"] == "Healthy"
    assert (condition_of_or_none(sim) or {}).get("status") == "True"
    blocking_write(sim, failing)
    sim.registry.aliases[(REGISTERED, "champion")] = "2"
    sim.tick(30)
    sim.tick(1)
    assert sim.status["canaryVersion"] == "2" and role_of(sim, "2") is None  # not written
    held = condition_of(sim)
    assert held["status"] == "False" and "held behind" in held["message"]
    assert "role 1 = 'x'" in held["message"] and "HTTP 503: busy" in held["message"]


def condition_of_or_none(sim: Sim) -> dict[str, Any] | None:
    return next((c for c in sim.status.get("conditions", [])
                 if c["type"] == "RegistryWrittenBack"), None)


def test_a_resource_held_behind_another_goes_false_then_true_once_its_writes_landed() -> None:
    sim, failing = Sim(), [True]
    canary_held(sim, failing)
    failing[0] = False
    sim.tick(MAX_BACKOFF_SECONDS)  # the pass (still held), then the worker: both went through
    assert role_of(sim, "2") == "canary" and condition_of(sim)["status"] == "False"
    sim.tick(1)  # the pass the worker's news wakes
    assert condition_of(sim)["status"] == "True"


def test_a_resource_held_behind_another_gets_its_writes_again_after_a_restart() -> None:
    """The restart loses its held writes; its condition said False, so the new process's
    first pass re-submits what its status implies."""
    sim, failing = Sim(), [True]
    canary_held(sim, failing)
    restart(sim)  # the other's failing write is gone with the process too
    sim.tick(1)
    assert role_of(sim, "2") == "canary" and role_of(sim, "1") == "stable"
    sim.tick(1)
    assert condition_of(sim)["status"] == "True"


def settle_all(queue: WriteBack, clock: Clock) -> None:
    for _ in range(40):
        delay = queue.run_due()
        if delay is None:
            return
        clock.now += delay
