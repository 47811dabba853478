"""The MLflow write-back queue: off the pass, in order per model, deduplicated, retried, shown."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from uplift_operator.adapters.mlflow_registry import (
    RegistryNotFound,
    RegistryRequestError,
    RegistryUnavailable,
)
from uplift_operator.services.ports import Registry as RegistryPort
from uplift_operator.services.writeback import MAX_BACKOFF_SECONDS, Write, WriteBack, permanent

SCOPE = ("http://mlflow", "", "")
A, B = ("UpliftModel", "ns", "a"), ("UpliftModel", "ns", "b")


class Registry:
    """Records writes; fails while ``down``; blocks while ``gate`` is unset."""

    def __init__(self) -> None:
        self.done: list[tuple[str, ...]] = []
        self.down = False
        self.gate = threading.Event()
        self.gate.set()

    def write(self, *what: str) -> Write:
        def apply(registry: Any) -> None:
            assert registry is self
            self.gate.wait(5)
            if self.down:
                raise ConnectionError("mlflow unreachable")
            self.done.append(what[:2])
        return Write(what[:2], what[2], apply)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Mlflow:
    """One MLflow server: the tags and aliases it holds and the credentials it takes now."""

    def __init__(self, *credentials: str) -> None:
        self.tags: dict[str, str] = {}
        self.aliases: dict[str, str] = {}
        self.valid = set(credentials)
        self.refusing: dict[str, Exception] = {}  # by version: how MLflow answers a write of it
        self.calls = 0


class Client:
    """A registry client of ``mlflow`` built with the credentials ``cred``."""

    def __init__(self, mlflow: Mlflow, cred: str) -> None:
        self.mlflow, self.cred = mlflow, cred

    def _ask(self, version: str) -> Mlflow:
        self.mlflow.calls += 1
        if self.cred not in self.mlflow.valid:
            raise RegistryUnavailable("MLflow refused the credentials (HTTP 401): bad token",
                                      status_code=401)
        if version in self.mlflow.refusing:
            raise self.mlflow.refusing[version]
        return self.mlflow

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._ask(version).tags[version] = value

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._ask(version).aliases[alias] = version


def client(mlflow: Mlflow, cred: str) -> RegistryPort:
    return cast(RegistryPort, Client(mlflow, cred))


def role(version: str, value: str) -> Write:
    return Write(("role", version), value,
                 lambda r: r.set_version_tag("m", version, "uplift.dev/role", value))


def alias(name: str, version: str) -> Write:
    return Write(("alias", name), version, lambda r: r.set_alias("m", name, version))


def settle(queue: WriteBack, clock: Clock, tries: int = 40) -> None:
    """Play the worker for as long as ``tries`` retries take (hours once backed off)."""
    for _ in range(tries):
        clock.now += queue.run_due() or 0.0


def test_writes_apply_in_order_once_across_resources() -> None:
    reg, clock = Registry(), Clock()
    queue = WriteBack(clock=clock)
    role, alias = reg.write("role", "2", "stable"), reg.write("alias", "prod", "2")
    queue.submit(A, reg, SCOPE, "m", [role, alias])  # type: ignore[arg-type]
    queue.submit(B, reg, SCOPE, "m", [role, alias])  # type: ignore[arg-type]  # the same: queued once
    assert reg.done == [] and queue.pending() == 2  # submit never writes
    assert queue.run_due() is None
    assert reg.done == [("role", "2"), ("alias", "prod")]
    queue.submit(B, reg, SCOPE, "m", [role])  # type: ignore[arg-type]  # already holds: nothing
    assert queue.pending() == 0
    queue.submit(B, reg, SCOPE, "m", [reg.write("role", "2", "retired")])  # type: ignore[arg-type]
    queue.run_due()
    assert reg.done[-1] == ("role", "2")  # a new value is written
    assert queue.failure(A) is None and queue.failure(B) is None


def test_a_failing_write_holds_the_model_queue_is_retried_with_backoff_and_is_shown() -> None:
    reg, clock = Registry(), Clock()
    queue = WriteBack(clock=clock)
    told: list[tuple[str, ...]] = []
    queue.on_change.append(lambda owners: told.extend(owners))
    reg.down = True
    queue.submit(A, reg, SCOPE, "m", [reg.write("role", "2", "rolled-back"),  # type: ignore[arg-type]
                                      reg.write("reason", "2", "gate failed")])
    queue.submit(B, reg, SCOPE, "other", [reg.write("role", "7", "canary")])  # type: ignore[arg-type]
    delay = queue.run_due()
    assert delay == 1.0 and reg.done == []
    failure = queue.failure(A)
    assert failure is not None and "role 2 = 'rolled-back'" in failure
    assert "mlflow unreachable" in failure and told == [A, B]
    delays = []
    for _ in range(12):  # backoff doubles up to the cap; the words stay the same
        clock.now += delay or 0
        delay = queue.run_due()
        delays.append(delay)
        assert queue.failure(A) == failure
    assert delays[:3] == [2.0, 4.0, 8.0] and max(d or 0 for d in delays) == MAX_BACKOFF_SECONDS
    assert told == [A, B]  # told once when failing started, not per retry
    reg.down = False
    clock.now += MAX_BACKOFF_SECONDS
    assert queue.run_due() is None
    # In order per model (the models' queues take turns).
    assert [w for w in reg.done if w != ("role", "7")] == [("role", "2"), ("reason", "2")]
    assert sorted(reg.done) == [("reason", "2"), ("role", "2"), ("role", "7")]
    assert queue.failure(A) is None and queue.failure(B) is None
    assert sorted(told[2:]) == [A, B]  # and told when it ended


def test_the_worker_thread_never_blocks_a_submit_on_a_slow_registry() -> None:
    reg = Registry()
    reg.gate.clear()  # MLflow hangs
    queue = WriteBack()
    queue.start()
    queue.submit(A, reg, SCOPE, "m", [reg.write("role", "1", "stable")])  # type: ignore[arg-type]
    started = time.monotonic()
    queue.submit(A, reg, SCOPE, "m", [reg.write("role", "2", "canary")])  # type: ignore[arg-type]
    assert time.monotonic() - started < 0.5 and reg.done == []
    reg.gate.set()
    deadline = time.monotonic() + 5
    while len(reg.done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reg.done == [("role", "1"), ("role", "2")] and queue.pending() == 0


def test_rotated_credentials_reach_the_writes_already_pending_in_their_queue() -> None:
    mlflow, clock = Mlflow("old"), Clock()
    queue = WriteBack(clock=clock)
    secret = ("http://mlflow", "ns", "mlflow-creds")
    queue.submit(A, client(mlflow, "old"), secret, "m", [role("3", "canary")])
    mlflow.valid = {"new"}  # the password rotated; the Secret updated in place: the same scope
    assert queue.run_due() == 1.0 and "HTTP 401" in (queue.failure(A) or "")
    queue.submit(A, client(mlflow, "new"), secret, "m", [])  # the next pass: no decision
    clock.now += 1.0
    assert queue.run_due() is None
    assert mlflow.tags == {"3": "canary"} and queue.failure(A) is None
    queue.submit(A, client(mlflow, "new"), secret, "m", [role("3", "rolled-back")])
    mlflow.valid = {"newer"}
    queue.run_due()
    queue.submit(A, client(mlflow, "newer"), secret, "m", [role("2", "stable")])  # a decision
    settle(queue, clock)
    assert mlflow.tags == {"3": "rolled-back", "2": "stable"} and queue.pending() == 0


def test_a_write_mlflow_refuses_for_good_is_dropped_and_shown_and_holds_nothing() -> None:
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    told: list[tuple[str, ...]] = []
    queue.on_change.append(lambda owners: told.extend(owners))
    mlflow.refusing["2"] = RegistryRequestError(  # a 4xx of MLflow's own (not "gone")
        "Tag value for version=2) not found is invalid", status_code=400,
        error_code="INVALID_PARAMETER_VALUE")
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("2", "rolled-back")])
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("3", "stable"), alias("prod", "3")])
    assert queue.run_due() is None and queue.pending() == 0
    assert mlflow.tags == {"3": "stable"} and mlflow.aliases == {"prod": "3"}  # not held
    assert mlflow.calls == 3  # tried once: not retried
    shown = queue.failure(A)
    assert shown is not None and "role 2 = 'rolled-back'" in shown and "dropped" in shown
    assert "version=2) not found" in shown and told == [A]
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("4", "canary")])  # next decision
    assert queue.failure(A) == shown  # until it went through
    queue.run_due()
    assert queue.failure(A) is None and told == [A, A]


@pytest.mark.parametrize(("error", "dropped"), [
    (RegistryNotFound("no such version", status_code=404,
                      error_code="RESOURCE_DOES_NOT_EXIST"), True),
    (RegistryRequestError("bad version", status_code=400,
                          error_code="INVALID_PARAMETER_VALUE"), True),
    (RegistryRequestError("too many requests", status_code=429,
                          error_code="REQUEST_LIMIT_EXCEEDED"), False),
    (RegistryRequestError("forbidden", status_code=403, error_code="PERMISSION_DENIED"), False),
    (RegistryUnavailable("MLflow answered HTTP 503: busy", status_code=503), False),
    (RegistryUnavailable("MLflow answered HTTP 404: <html>", status_code=404), False),  # a proxy
    (ConnectionError("reset"), False),
])
def test_only_a_refusal_of_mlflow_that_no_retry_changes_drops_a_write(error: Exception,
                                                                      dropped: bool) -> None:
    assert permanent(error) is dropped
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.refusing["2"] = error
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("2", "stable"), role("3", "x")])
    queue.run_due()
    assert (mlflow.tags == {"3": "x"}) is dropped and (queue.pending() == 0) is dropped


def test_a_resource_moved_to_other_credentials_replaces_its_writes_pending_under_the_old() -> None:
    mlflow, clock = Mlflow("b"), Clock()  # Secret a's account is disabled
    queue = WriteBack(clock=clock)
    secret_a, secret_b = ("http://mlflow", "ns", "secret-a"), ("http://mlflow", "ns", "secret-b")
    queue.submit(A, client(mlflow, "a"), secret_a, "m", [role("3", "canary"), role("1", "stable")])
    queue.submit(B, client(mlflow, "a"), secret_a, "m", [role("1", "stable")])  # shares it
    queue.run_due()
    assert queue.failure(A) is not None
    # A's spec now names Secret b, and its canary is rolled back
    queue.submit(A, client(mlflow, "b"), secret_b, "m", [role("3", "rolled-back")])
    settle(queue, clock)
    # A's other pending write went with it (never behind credentials no one renews); its
    # canary tag was dropped, not written before the rollback's
    assert mlflow.tags == {"3": "rolled-back", "1": "stable"}
    assert queue.failure(A) is None
    assert "role 1 = 'stable'" in (queue.failure(B) or "")  # B's own still waits for Secret a
    mlflow.valid.add("a")  # Secret a works again: its canary tag does not land after the rollback
    settle(queue, clock)
    assert mlflow.tags == {"3": "rolled-back", "1": "stable"} and queue.pending() == 0
    assert queue.failure(A) is None and queue.failure(B) is None


def test_a_resource_moved_to_other_credentials_takes_its_pending_writes_along() -> None:
    mlflow, clock = Mlflow("b"), Clock()  # Secret a was rotated out: no one renews it
    queue = WriteBack(clock=clock)
    secret_a, secret_b = ("http://mlflow", "ns", "secret-a"), ("http://mlflow", "ns", "secret-b")
    queue.submit(A, client(mlflow, "a"), secret_a, "m", [role("3", "canary"), alias("prod", "1")])
    queue.run_due()
    assert queue.failure(A) is not None
    queue.submit(A, client(mlflow, "b"), secret_b, "m", [])  # a pass with no new write
    settle(queue, clock)
    assert mlflow.tags == {"3": "canary"} and mlflow.aliases == {"prod": "1"}
    assert queue.pending() == 0 and queue.failure(A) is None


def test_a_forgotten_owner_is_reported_no_more_and_its_writes_still_land() -> None:
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    mlflow.refusing["9"] = RegistryRequestError("bad tag for version 9", status_code=400)
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("9", "canary")])
    queue.submit(B, client(mlflow, "bad"), SCOPE, "m2", [role("1", "stable")])
    settle(queue, clock, tries=1)
    assert queue.failure(A) is not None and queue.failure(B) is not None  # dropped; failing
    queue.forget(A)
    queue.forget(B)
    assert queue.failure(A) is None and queue.failure(B) is None
    mlflow.valid.add("bad")
    settle(queue, clock)
    assert mlflow.tags == {"1": "stable"} and queue.pending() == 0


def test_a_failing_write_replaced_by_one_already_written_fails_no_more() -> None:
    mlflow, clock = Mlflow("b"), Clock()
    queue = WriteBack(clock=clock)
    secret_a, secret_b = ("http://mlflow", "ns", "secret-a"), ("http://mlflow", "ns", "secret-b")
    queue.submit(B, client(mlflow, "b"), secret_b, "m", [role("3", "rolled-back")])
    queue.submit(A, client(mlflow, "a"), secret_a, "m", [role("3", "canary")])
    queue.run_due()
    assert mlflow.tags == {"3": "rolled-back"} and queue.failure(A) is not None
    queue.submit(A, client(mlflow, "b"), secret_b, "m", [role("3", "rolled-back")])
    assert queue.pending() == 0 and queue.failure(A) is None  # nothing of it is left to fail


@pytest.mark.parametrize("secret_a_works", [False, True])
def test_a_write_replaced_while_it_is_tried_is_forgotten_whatever_its_outcome(
        secret_a_works: bool) -> None:
    mlflow, clock = Mlflow("a", "b") if secret_a_works else Mlflow("b"), Clock()
    queue = WriteBack(clock=clock)
    secret_a, secret_b = ("http://mlflow", "ns", "secret-a"), ("http://mlflow", "ns", "secret-b")

    class Racing(Client):  # the pass submits the newer decision while MLflow is being asked
        def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
            if version == "3":
                queue.submit(A, client(mlflow, "b"), secret_b, "m", [role("3", "rolled-back")])
            super().set_version_tag(name, version, key, value)

    racing = cast(RegistryPort, Racing(mlflow, "a"))
    queue.submit(A, racing, secret_a, "m", [role("3", "canary")])
    queue.submit(B, racing, secret_a, "m", [role("1", "stable")])
    queue.run_due()
    assert mlflow.tags.get("3") == "rolled-back" and queue.failure(A) is None
    assert (mlflow.tags.get("1") == "stable") is secret_a_works  # B's write still due, kept
    assert queue.pending() == (0 if secret_a_works else 1)


def test_an_alias_is_moved_back_even_to_a_version_this_process_moved_it_to_before() -> None:
    mlflow, clock = Mlflow("token"), Clock()
    queue = WriteBack(clock=clock)
    token = client(mlflow, "token")
    queue.submit(A, token, SCOPE, "m", [role("2", "stable"), alias("prod", "2")])  # promoted
    queue.run_due()
    mlflow.aliases["prod"] = "5"  # a trainer (or a human) moves the alias
    calls = mlflow.calls
    queue.submit(A, token, SCOPE, "m", [role("2", "stable"), alias("prod", "2")])  # restored
    queue.submit(B, token, SCOPE, "m", [role("2", "stable"), alias("prod", "2")])  # same time
    queue.run_due()
    assert mlflow.aliases == {"prod": "2"}
    assert mlflow.calls == calls + 1  # the role tag it wrote is not written again; queued once


def test_what_was_written_is_remembered_for_the_writes_used_last_only() -> None:
    """The deduplication's memory is bounded (least recently used out), not every version ever
    tagged kept for the life of the process: a write forgotten is written again (the same value:
    nothing changes in MLflow), one used lately is still skipped."""
    reg, clock = Registry(), Clock()
    queue = WriteBack(clock=clock, written_kept=3)
    for version in ("1", "2", "3"):
        queue.submit(A, reg, SCOPE, "m", [reg.write("role", version, "retired")])  # type: ignore[arg-type]
    queue.run_due()
    queue.submit(B, reg, SCOPE, "m", [reg.write("role", "1", "retired")])  # type: ignore[arg-type]
    assert queue.pending() == 0  # remembered, and now the most recently used
    queue.submit(A, reg, SCOPE, "m", [reg.write("role", "4", "retired")])  # type: ignore[arg-type]
    queue.run_due()  # version 2's memory goes: the least recently used
    for version in ("1", "3", "4"):
        queue.submit(B, reg, SCOPE, "m", [reg.write("role", version, "retired")])  # type: ignore[arg-type]
    assert queue.pending() == 0
    queue.submit(B, reg, SCOPE, "m", [reg.write("role", "2", "retired")])  # type: ignore[arg-type]
    assert queue.pending() == 1
    queue.run_due()
    assert reg.done == [("role", "1"), ("role", "2"), ("role", "3"), ("role", "4"),
                        ("role", "2")]


def test_a_denied_write_names_the_permission_it_needs() -> None:
    """MLflow's 403 is a permission the credentials' user lacks (EDIT to set a tag or an
    alias), not credentials refused: the condition says which, and the write is retried."""
    mlflow, clock = Mlflow("token"), Clock()
    mlflow.refusing["2"] = RegistryUnavailable(
        "MLflow denied permission to the credentials' user (HTTP 403): Permission denied",
        status_code=403)
    queue = WriteBack(clock=clock)
    queue.submit(A, client(mlflow, "token"), SCOPE, "m", [role("2", "stable")])
    queue.run_due()
    message = queue.failure(A)
    assert message is not None and queue.pending() == 1
    assert "this write needs permission EDIT on registered model m" in message
    assert "refused the credentials" not in message
    del mlflow.refusing["2"]
    settle(queue, clock)
    assert queue.failure(A) is None and mlflow.tags == {"2": "stable"}
