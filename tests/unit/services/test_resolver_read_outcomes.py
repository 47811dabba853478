"""How a read's outcome is kept: an exception that is not the adapter's (a bug, an answer of a
shape nothing checked) is a failed read, backed off, not raised at the poller every second;
only an unreachable MLflow (a timeout, a 5xx, a refused connection) marks its identity down,
not a 429 or another answer, as for a sweep (``_unreachable``); an answer that is not MLflow's
at the tracking URI is the URI's problem (``InvalidModel``, Degraded after the grace); a read in
flight when the alias's last follower left keeps nothing; a sweep's answers are as of when
its listing began; a probe of a down MLflow planned but not sent is planned again at the next
look, not an interval later."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import pytest
from tests.unit.services.fakes import FakeRegistry, ListingRegistry
from tests.unit.services.test_resolver_sweep import EVERY, SCOPE, T0, _followed

from uplift_operator.adapters.mlflow_registry import RegistryNotMlflow, RegistryUnavailable
from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.domain import conditions as cond
from uplift_operator.domain.alias_sweep import Sweep
from uplift_operator.domain.stuck import UNRESOLVED_PROBLEMS
from uplift_operator.services import resolution
from uplift_operator.services.resolution import AliasKey, Resolver

ALIAS = ModelReference.model_validate({"registeredModel": "m", "alias": "champion",
                                       "aliasRefreshInterval": "30s"})
PINNED = ModelReference.model_validate({"registeredModel": "m", "version": "3"})
KEY: AliasKey = (SCOPE, "m", "champion")


class _Raising(FakeRegistry):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def resolve(self, name: str, version: str | None = None, alias: str | None = None) -> Any:
        self._check()
        raise self.error


def test_an_unexpected_exception_is_a_failed_read_backed_off(
        caplog: pytest.LogCaptureFixture) -> None:
    registry, resolver = _Raising(TypeError("argument of type 'NoneType' is not iterable")), \
        Resolver()
    with caplog.at_level(logging.ERROR, logger=resolution.__name__):
        answer = resolver.resolve(SCOPE, ALIAS, registry, T0)
    assert answer.reason == cond.REGISTRY_UNAVAILABLE and "TypeError" in answer.message
    assert "failed unexpectedly" in caplog.text and caplog.records[0].exc_info is not None
    assert not resolver._down  # nothing says MLflow is unreachable
    # Before: raised, nothing stamped, and the poller read it again at every look.
    assert resolver.next_refresh(KEY, EVERY) >= T0 + EVERY
    sent = registry.calls
    for second in range(1, 10):
        assert not resolver.refresh(KEY, EVERY, T0 + dt.timedelta(seconds=second))
    assert registry.calls == sent
    assert resolver.resolve(SCOPE, PINNED, registry, T0).reason == cond.REGISTRY_UNAVAILABLE


@pytest.mark.parametrize(("status", "code"), [(429, "REQUEST_LIMIT_EXCEEDED"), (408, None),
                                              (409, "ABORTED"), (499, "CANCELLED")])
def test_an_answer_that_says_not_now_is_no_outage(status: int, code: str | None) -> None:
    registry = _Raising(RegistryUnavailable(f"MLflow answered HTTP {status}",
                                            status_code=status, error_code=code))
    resolver = Resolver()
    for ref in (ALIAS, PINNED):
        assert resolver.resolve(SCOPE, ref, registry, T0).reason == cond.REGISTRY_UNAVAILABLE
    assert not resolver._down  # MLflow answered: not probed as down
    registry.error = RegistryUnavailable("connection refused")
    resolver.resolve(SCOPE, ALIAS, registry, T0 + EVERY)
    assert resolver._down  # unreachable: down


@pytest.mark.parametrize("status", [404, 200])
@pytest.mark.parametrize("ref", [ALIAS, PINNED])
def test_a_tracking_uri_that_is_not_mlflow_is_invalid_not_an_outage(
        status: int, ref: ModelReference) -> None:
    registry = _Raising(RegistryNotMlflow(f"MLflow answered HTTP {status} (text/html, ...)",
                                          status_code=status))
    resolver = Resolver()
    answer = resolver.resolve(SCOPE, ref, registry, T0)
    assert answer.reason == cond.INVALID_MODEL
    assert answer.reason in UNRESOLVED_PROBLEMS  # Degraded after the grace, not for ever held
    assert "trackingUri" in answer.message
    assert not resolver._down  # it answered


def test_a_read_in_flight_when_the_last_follower_left_keeps_nothing() -> None:
    go, entered = threading.Event(), threading.Event()

    class Blocking(FakeRegistry):
        def resolve(self, *args: Any, **kwargs: Any) -> Any:
            entered.set()
            go.wait(5)
            return super().resolve(*args, **kwargs)

    for fails in (False, True):
        registry, resolver = Blocking(), Resolver()
        registry.add("m", "3")
        registry.aliases[("m", "champion")] = "3"
        registry.down = fails
        go.clear()
        entered.clear()
        reading = threading.Thread(target=resolver.resolve, args=(SCOPE, ALIAS, registry, T0))
        reading.start()
        assert entered.wait(5)
        resolver.forget_alias(KEY)
        go.set()
        reading.join(5)
        kept = [name for name in ("_aliases", "_failed", "_not_asked", "_clients",
                                  "_alias_locks") if KEY in getattr(resolver, name)]
        assert kept == [], (fails, kept)


def test_a_sweeps_answers_are_as_of_when_its_listing_began(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # the resolver's clock

    class Slow(ListingRegistry):
        def registered_aliases(self, max_pages: int | None = None) -> Any:
            listing = super().registered_aliases(max_pages)
            clock[0] += 50  # the listing takes 50 s
            return listing

    registry, resolver = Slow(page_size=1000), Resolver()
    due = _followed(registry, resolver, 10)
    at = T0 + EVERY
    assert resolver.sweep(Sweep(SCOPE, tuple(due), 5), at) == []
    key = (SCOPE, "model-00", "champion")
    # Stamped at the listing's end, a move just after its page was listed went unseen for
    # the interval and the 50 s on top.
    assert resolver.next_refresh(key, EVERY) == at + EVERY


def test_a_probe_planned_but_not_sent_is_planned_again_at_the_next_look() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    due = _followed(registry, resolver, 3)
    registry.down = True
    failed_at = T0 + EVERY
    assert resolver.refresh(due[0][0], EVERY, failed_at)  # the first read finds MLflow down
    at = failed_at + EVERY
    late = [(key, interval) for key, interval in due if key != due[0][0]]
    first = resolver.plan(late, at)
    assert len(first.reads) == 1  # one probe
    # Every reader busy: the look's plan is dropped at the next look, the probe unsent.
    again = resolver.plan(late, at + dt.timedelta(seconds=1))
    assert [key for key, _ in again.reads] == [key for key, _ in first.reads]
    sent = registry.calls
    assert resolver.refresh(*again.reads[0], at + dt.timedelta(seconds=1))
    assert registry.calls == sent + 1
    # Sent: the next probe an interval on.
    assert resolver.plan(late, at + dt.timedelta(seconds=2)).reads == ()
    assert len(resolver.plan(late, at + dt.timedelta(seconds=2) + EVERY).reads) == 1
