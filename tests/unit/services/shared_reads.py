"""What the tests of ``services.run_cache`` share: a fake MLflow that counts its reads, wired as
the handlers wire the process's clients; UpliftModels many at once on one simulation, each
passed in turn; and a read held until the test releases it, with passes asking for it at once
in threads (the single-flight tests of ``RunReads`` and ``VersionTagReads``)."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.unit.services import test_upliftmodel as tu
from tests.unit.services.fakes import FakeRegistry

from uplift_operator.adapters.mlflow_registry import Credentials
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services import upliftmodel
from uplift_operator.services.ports import Registry
from uplift_operator.services.run_cache import RegistryClients

URI = "http://mlflow.test"


@dataclass
class CountingRegistry(FakeRegistry):
    """A fake MLflow that counts each read by (method, argument)."""

    asked: Counter[tuple[str, str]] = field(default_factory=Counter)

    def run_metrics(self, run_id: str) -> Any:
        self.asked["run_metrics", run_id] += 1
        return super().run_metrics(run_id)

    def download_artifact_json(self, run_id: str, path: str) -> Any:
        self.asked["artifact", f"{run_id}/{path}"] += 1
        return super().download_artifact_json(run_id, path)

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self.asked["resolve", f"{name}/{version or ''}/{alias or ''}"] += 1
        return super().resolve(name, version=version, alias=alias)

    def run_tags(self, run_id: str) -> Any:
        self.asked["run_tags", run_id] += 1
        return super().run_tags(run_id)

    def model_signature(self, name: str, version: str) -> Any:
        self.asked["model_signature", f"{name}/{version}"] += 1
        return super().model_signature(name, version)


def wired(clients: RegistryClients) -> Any:
    """``registry_for`` as handlers/lifecycle.py wires it."""
    def registry_for(ref: ModelReference, credentials: Credentials | None) -> Registry:
        return clients.get(ref.tracking_uri or URI, credentials)
    return registry_for


def counting_sim() -> tuple[tu.Sim, CountingRegistry]:
    """An UpliftModel's simulation whose MLflow counts its reads: versions 1 to 3 of the
    registered model, its "champion" alias on 1."""
    sim = tu.Sim()
    sim.registry = fake = CountingRegistry()
    for version in ("1", "2", "3"):
        fake.add(tu.REGISTERED, version)
    fake.aliases[(tu.REGISTERED, "champion")] = "1"
    return sim, fake


def copies(body: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` UpliftModels as ``body``, named um-000, um-001, ... (uids u0, u1, ...)."""
    bodies = []
    for i in range(n):
        body_i = copy.deepcopy(body)
        body_i["metadata"]["name"], body_i["metadata"]["uid"] = f"um-{i:03d}", f"u{i}"
        bodies.append(body_i)
    return bodies


def passed(bodies: list[dict[str, Any]], deps: upliftmodel.Dependencies, now: dt.datetime) -> None:
    """A pass of each of ``bodies`` at ``now``, in turn, the status it writes kept in it."""
    for body in bodies:
        body["status"] = tu.status_written(
            upliftmodel.reconcile(copy.deepcopy(body), deps, now)).status


@dataclass
class HeldRead:
    """A read that, once called, waits until ``release`` is set (5 s at most), then raises
    ``error`` if there is one, else returns ``value``; ``calls`` counts the calls."""

    value: Any = None
    error: BaseException | None = None
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def __call__(self) -> Any:
        self.calls += 1
        self.started.set()
        self.release.wait(5)
        if self.error is not None:
            raise self.error
        return self.value


def asked_at_once(ask: Callable[[], Any], read: HeldRead, waiting: Callable[[], int],
                  waiters: int = 7, catch: type[BaseException] = Exception) -> list[Any]:
    """What ``ask()`` returned, or the ``catch`` it raised, in a leader thread whose call
    starts ``read``, then in ``waiters`` threads that ask while it is held: it is released
    once ``waiting()`` (the passes joined to the read in flight) says they all wait for it
    (5 s at most)."""
    got: list[Any] = []

    def answer() -> None:
        try:
            got.append(ask())
        except catch as error:
            got.append(error)

    leader = threading.Thread(target=answer)
    leader.start()
    assert read.started.wait(5)
    others = [threading.Thread(target=answer) for _ in range(waiters)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 5
    while waiting() < waiters and time.monotonic() < deadline:
        time.sleep(0.001)  # every waiter joined the read in flight
    read.release.set()
    for thread in (leader, *others):
        thread.join(5)
    return got
