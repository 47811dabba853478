"""services.common.TimedCache: values served for their ttl, then gone from memory too (not
only unanswered), and dropped early on request, unless put again just now."""

from __future__ import annotations

from uplift_operator.services.common import TimedCache


def test_a_value_serves_for_its_ttl_then_not() -> None:
    clock = [0.0]
    cache: TimedCache[str, bytes] = TimedCache(10.0, clock=lambda: clock[0])
    cache.put("a", b"1")
    clock[0] = 9.9
    assert cache.get("a") == b"1"
    clock[0] = 10.0
    assert cache.get("a") is None


def test_expired_values_are_dropped_from_memory_not_kept_for_the_process_life() -> None:
    """Ten thousand namespaces' Secrets read once, their namespaces deleted: a ttl later the
    next use sweeps them out (before, every value stayed for the life of the process)."""
    clock = [0.0]
    cache: TimedCache[tuple[str, str], dict[str, bytes]] = TimedCache(
        30.0, clock=lambda: clock[0])
    for i in range(10_000):
        cache.put((f"ns-{i}", "mlflow"), {"token": b"secret-%d" % i})
    clock[0] = 15.0
    cache.put(("ns-kept", "mlflow"), {"token": b"fresh"})
    assert len(cache) == 10_001  # not a ttl since the last sweep: nothing swept yet
    clock[0] = 31.0
    assert cache.get(("ns-7", "mlflow")) is None
    assert len(cache) == 1 and cache.get(("ns-kept", "mlflow")) == {"token": b"fresh"}
    clock[0] = 86_400.0
    cache.get(("ns-kept", "mlflow"))
    assert len(cache) == 0


def test_discard_drops_a_value_only_once_it_is_old_enough() -> None:
    clock = [0.0]
    cache: TimedCache[str, str] = TimedCache(900.0, clock=lambda: clock[0])
    cache.put("creds", "old")
    clock[0] = 10.0
    assert not cache.discard("creds", older_than=30.0) and cache.get("creds") == "old"
    clock[0] = 30.0
    assert cache.discard("creds", older_than=30.0) and cache.get("creds") is None
    assert not cache.discard("creds")  # nothing left to drop
