"""A model whose reference does not resolve asks again backing off (``domain.retry``): 10 s
after the first such pass, then about as long as it has failed, doubling to a cap of 5 min,
stretched per model; a pass that resolves or a new reason starts over; the phase still turns
Degraded when its grace ends. It was every 10 s for ever: 10,000 models held through an MLflow
outage made 1,000 passes a second, ahead of every rollback pass on the pool."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from tests.unit.services.test_upliftmodel import REGISTERED, Sim

from uplift_operator.domain import stuck
from uplift_operator.domain.retry import JITTER, retry_after, spread_of
from uplift_operator.services import upliftmodel
from uplift_operator.services.failing import FailingSince

FIRST = upliftmodel.UNRESOLVED_RETRY_SECONDS
CAP = upliftmodel.UNRESOLVED_RETRY_CAP_SECONDS
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _retries(sim: Sim, first_wait: float, count: int) -> list[float]:
    """The requeue delays of ``count`` passes, each run when the one before asked."""
    result = sim.tick(first_wait)
    delays: list[float] = []
    for _ in range(count):
        assert result.requeue_after is not None
        delays.append(result.requeue_after)
        result = sim.tick(result.requeue_after)
    return delays


def test_consecutive_unresolved_passes_back_off_to_the_cap_and_start_over_once_resolved(
) -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    assert sim.status["phase"] == "Healthy"
    sim.registry.down = True  # its alias's answer goes stale: RegistryUnavailable
    delays = _retries(sim, 60, 10)
    assert sim.condition("ModelResolved")["reason"] == "RegistryUnavailable"
    assert delays[0] == FIRST  # the first retry as before
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[2] >= 2 * FIRST and delays[3] >= 4 * FIRST  # doubling
    assert all(delay <= CAP * (1 + JITTER) for delay in delays)
    assert delays[-1] >= CAP  # at the cap: 12 passes an hour, not 360
    sim.registry.down = False
    resolved = sim.tick(delays[-1])
    assert sim.condition("ModelResolved")["status"] == "True" and resolved.requeue_after is None
    assert len(sim.deps.unresolved) == 0
    sim.registry.down = True  # the next outage starts over
    assert _retries(sim, 60, 2)[0] == FIRST


def test_a_new_reason_starts_the_backoff_over() -> None:
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.down = True
    delays = _retries(sim, 60, 7)
    assert delays[-1] >= CAP
    sim.registry.down = False
    del sim.registry.aliases[(REGISTERED, "champion")]  # back, but the alias is gone
    result = sim.tick(delays[-1])
    assert sim.condition("ModelResolved")["reason"] == "ModelNotFound"
    assert result.requeue_after == FIRST


def test_the_phase_turns_degraded_when_its_grace_ends_whatever_the_backoff() -> None:
    """A first version that is not found: Progressing, then Degraded at the grace's end (5
    min), not at a retry after it."""
    sim = Sim()
    del sim.registry.aliases[(REGISTERED, "champion")]
    start = sim.now
    result = sim.tick()
    while sim.status["phase"] != "Degraded":
        assert result.requeue_after is not None and result.requeue_after > 0
        result = sim.tick(result.requeue_after)
    assert sim.now - start == stuck.DEFAULT_GRACE


def test_retry_after_doubles_to_the_cap_stretched_per_model() -> None:
    """Pure: the retries of something failing since T0, each at the time the last asked."""
    for name in ("shop/uplift", "shop/other", "ml/churn"):
        spread = spread_of(name)
        assert 0 <= spread < 1 and spread == spread_of(name)  # fixed per name
        at, waits = T0, []
        for _ in range(8):
            wait = retry_after(T0, at, spread, first=FIRST, cap=CAP)
            waits.append(wait)
            at += dt.timedelta(seconds=wait)
        assert waits[0] == FIRST
        stretch = 1 + JITTER * spread
        assert waits[1] == FIRST * stretch  # failing for 10 s
        assert waits[2] == pytest.approx((FIRST + waits[1]) * stretch)  # ≈ doubled
        assert waits[-1] == pytest.approx(CAP * stretch)
    assert len({spread_of(f"ns/model-{index}") for index in range(100)}) == 100  # spread


def test_failing_since_starts_over_on_a_new_reason_and_once_cleared() -> None:
    failing = FailingSince()
    key = ("UpliftModel", "ns", "m")
    assert failing.failing(key, "RegistryUnavailable", T0) == T0
    later = T0 + dt.timedelta(minutes=3)
    assert failing.failing(key, "RegistryUnavailable", later) == T0
    assert failing.failing(key, "ModelNotFound", later) == later
    failing.cleared(key)
    assert len(failing) == 0
    assert failing.failing(key, "ModelNotFound", later + dt.timedelta(1)) == (
        later + dt.timedelta(1))


def test_an_invalid_spec_detour_starts_the_backoff_over() -> None:
    """An invalid spec holds the model until it is edited (no retries): once fixed, a
    reference still failing for the same reason retries after 10 s again, not after as long as
    it failed before the detour (the cap)."""
    sim = Sim()
    sim.tick()
    sim.tick(1)
    sim.registry.down = True
    delays = _retries(sim, 60, 7)
    assert delays[-1] >= CAP
    sim.body["spec"]["rollout"]["gates"].append(
        {"name": "lat", "type": "custom", "templateRef": "no-such-template", "max": 1})
    sim.body["metadata"]["generation"] = 2
    held = sim.tick(delays[-1])
    assert sim.condition("InvalidSpec")["status"] == "True" and held.requeue_after is None
    assert len(sim.deps.unresolved) == 0
    sim.body["spec"]["rollout"]["gates"].pop()
    sim.body["metadata"]["generation"] = 3
    result = sim.tick(30)
    assert sim.condition("InvalidSpec")["status"] == "False"
    assert sim.condition("ModelResolved")["reason"] == "RegistryUnavailable"
    assert result.requeue_after == FIRST
