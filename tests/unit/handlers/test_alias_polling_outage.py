"""Through an MLflow outage the alias poller probes the registry with one alias read per
round, not every alias by itself, and fans out again (one sweep) once it answers; the
followers of the aliases whose reads failed meanwhile are told the recovery. A fake registry
counts the requests."""

from __future__ import annotations

from tests.unit.handlers.test_alias_polling_cap import EVERY, SCOPE, T0, _followed
from tests.unit.handlers.test_alias_polling_sweep import ROUND, _round, _told
from tests.unit.services.fakes import FakeRegistry, ListingRegistry

from uplift_operator.api.v1alpha1.upliftmodel import ModelReference
from uplift_operator.services.resolution import Resolver


def test_an_outage_costs_one_request_a_round_and_the_recovery_one_sweep() -> None:
    registry, resolver = ListingRegistry(page_size=1_000), Resolver()
    followers, keys = _followed(2_000, registry, resolver)
    at = ROUND
    assert _round(followers, resolver, registry, at) == 2  # healthy: two pages
    registry.down = True
    # A pass of a follower reads its alias itself meanwhile, and fails: MLflow is found
    # unreachable, and the poller's next probe comes an interval later.
    failed_by_a_pass = keys[1_500]
    ref = ModelReference.model_validate({"registeredModel": failed_by_a_pass[1],
                                         "alias": "champion", "aliasRefreshInterval": "30s"})
    assert resolver.resolve(SCOPE, ref, registry, at + EVERY).reason == "RegistryUnavailable"
    down = []
    for _ in range(10):
        at += EVERY
        down.append(_round(followers, resolver, registry, at))
    # Before: 2,001 then 2,000 a round (every alias read by itself); now one probe a round.
    assert down == [0] + [1] * 9
    registry.down = False
    told = _told(resolver)
    at += EVERY
    back = _round(followers, resolver, registry, at)
    # The probe, the two pages, and the aliases due their own read (``own_read_due``) by now.
    assert back < 2 + 1 + 100, back
    assert failed_by_a_pass in told  # the sweep vouched for it: its followers told
    assert set(keys[:9]) <= set(told)  # probed in the outage: told at their read
    assert _round(followers, resolver, registry, at + EVERY) < 100


def test_an_outage_of_a_registry_that_cannot_sweep_is_probed_too() -> None:
    registry, resolver = FakeRegistry(), Resolver()
    followers, keys = _followed(50, registry, resolver)
    at = T0 + 4 * EVERY
    assert _round(followers, resolver, registry, at) == 50
    registry.down = True
    # One reader, so that the first failed read is the only one sent (with 4, up to the 4 in
    # flight when MLflow went away are); then one probe, the most overdue alias, a round.
    assert [_round(followers, resolver, registry, at + EVERY * step, in_flight=1)
            for step in range(1, 4)] == [1, 1, 1]
    registry.down = False
    told = _told(resolver)
    assert _round(followers, resolver, registry, at + 4 * EVERY) == 50  # probe, then the rest
    assert set(told) == set(keys[:3])  # the aliases whose reads failed: told they answer
