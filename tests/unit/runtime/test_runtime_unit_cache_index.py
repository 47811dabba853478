"""A report that gives only a unit id costs the same whatever the number of campaigns in the
unit cache: ``UnitCache`` indexes each unit's campaigns, kept as entries come and are evicted.
Before, each such report looked the unit up under every campaign the cache held (4,096
campaigns: 4,096 lookups per report, 6.6 s per body of 10,000 reports, on the event loop)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.runtime.events import ReportError, Signer, UnitCache, parse_outcomes

SIGNER = Signer(b"k" * 32)


class _CountedLookups(OrderedDict[tuple[str, str], str]):
    """The cache's entries, counting every lookup of one (campaign, unit) key."""

    lookups = 0

    def get(self, key: Any, default: Any = None) -> Any:
        self.lookups += 1
        return super().get(key, default)

    def __getitem__(self, key: Any) -> str:
        self.lookups += 1
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.lookups += 1
        return super().__contains__(key)


def _cache_of(campaigns: int) -> tuple[UnitCache, _CountedLookups]:
    cache = UnitCache(100_000)
    for c in range(campaigns):
        cache.put(f"camp-{c}", f"x{c}", SIGNER.mint("treated", "a", "3", f"camp-{c}", 1, 10))
    cache.put("", "u1", SIGNER.mint("treated", "a", "3"))
    counted = _CountedLookups(cache._data)
    cache._data = counted
    return cache, counted


@pytest.mark.parametrize("campaigns", [1, 1000])
def test_a_unit_only_report_costs_lookups_of_its_own_campaigns_only(campaigns: int) -> None:
    cache, counted = _cache_of(campaigns)
    reports = parse_outcomes({"outcomes": [{"unit_id": "u1", "converted": False}] * 100},
                             SIGNER, cache)
    assert {r.decision.campaign for r in reports} == {""}
    assert counted.lookups == 100   # one per report, with 1 campaign cached as with 1,000


def test_an_unknown_unit_costs_no_lookup_of_any_campaign() -> None:
    cache, counted = _cache_of(1000)
    with pytest.raises(ReportError) as refused:
        parse_outcomes({"unit_id": "nobody", "converted": False}, SIGNER, cache)
    assert refused.value.reason == "unknown_unit"
    assert counted.lookups == 0


def test_eviction_takes_the_unit_out_of_its_campaigns_index() -> None:
    cache = UnitCache(2)
    cache.put("a", "u", "d1")
    cache.put("b", "u", "d2")
    assert cache.decisions("u") == {"a": "d1", "b": "d2"}   # ambiguous without a campaign
    cache.put("c", "v", "d3")                                # evicts ("a", "u")
    assert cache.decisions("u") == {"b": "d2"}               # resolves again
    cache.put("d", "w", "d4")                                # evicts ("b", "u")
    assert cache.decisions("u") == {}
    assert cache.campaigns("u") == ()
    assert cache.decisions("w") == {"d": "d4"}


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 6),
       puts=st.lists(st.tuples(st.sampled_from(["", "a", "b", "c"]),
                               st.sampled_from(["u", "v", "w", "x"])), max_size=40))
def test_the_index_agrees_with_the_entries(size: int, puts: list[tuple[str, str]]) -> None:
    """Whatever is put and evicted, a unit's decisions are exactly its entries' (as the pass
    over every campaign found them)."""
    cache = UnitCache(size)
    for i, (campaign, unit) in enumerate(puts):
        cache.put(campaign, unit, f"d{i}")
    for unit in "uvwx":
        expected = {c: d for (c, u), d in cache._data.items() if u == unit}
        assert cache.decisions(unit) == expected
    assert len(cache) == min(size, len(set(puts)))
