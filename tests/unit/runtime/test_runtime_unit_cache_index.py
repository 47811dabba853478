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

from uplift_operator.runtime.events import (
    ReportError,
    Signer,
    UnitCache,
    parse_deliveries,
    parse_outcomes,
)

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


def test_a_decision_that_sent_nothing_leaves_unit_reports_to_the_one_that_sent() -> None:
    """The review's unit_report_after_cap.py: a unit treated, then decided again and capped.
    Its sender reports the delivery and the conversion of the email it sent, by unit id: they
    resolve to the decision that sent it while its attribution window is open. Before, they
    resolved to the capped decision: the delivery refused (409 nothing_delivered), the
    conversion counted under ``none`` in the later cohort."""
    cache = UnitCache(100)
    treated = SIGNER.mint("treated", "womens_e_mail", "7", "c", 1_000, 100)
    capped = SIGNER.mint("treated", "none", "7", "c", 1_050, 100)
    cache.put("c", "u", treated, sent=True, now=1_000)
    cache.put("c", "u", capped, sent=False, now=1_050)
    assert cache.get("c", "u") == treated
    (delivery,) = parse_deliveries({"unit_id": "u", "status": "ok"}, SIGNER, cache)
    assert (delivery.decision.decision_id, delivery.ok) == (treated, True)
    (outcome,) = parse_outcomes({"unit_id": "u", "campaign": "c", "converted": True}, SIGNER,
                                cache)
    assert outcome.decision.treatment == "womens_e_mail"
    # At the close of its window (inclusive) it still stands; a decision after it takes over.
    cache.put("c", "u", SIGNER.mint("holdout", "none", "7", "c", 1_100, 100), False, 1_100)
    assert cache.get("c", "u") == treated
    after = SIGNER.mint("unexposed", "womens_e_mail", "7", "c", 1_101, 100)
    cache.put("c", "u", after, sent=False, now=1_101)
    assert cache.get("c", "u") == after
    with pytest.raises(ReportError) as refused:
        parse_deliveries({"unit_id": "u", "status": "ok"}, SIGNER, cache)
    assert refused.value.reason == "nothing_delivered"
    # A decision that sends replaces any; one that sent nothing replaces one that sent nothing.
    again = SIGNER.mint("treated", "mens_e_mail", "7", "c", 1_200, 100)
    cache.put("c", "u", again, sent=True, now=1_200)
    assert cache.get("c", "u") == again
    # The holdout alike (the review's r7): a decision that withheld a treatment is its arm's
    # sent one (the engine puts it sent=True; an open one is kept over one that withheld
    # none even when put sent=False), and one that withheld one again replaces it.
    holdout = [SIGNER.mint("holdout", "womens_e_mail", "7", "c", t, 100) for t in (1, 2)]
    for t, decision in enumerate(holdout, 1):
        cache.put("c", "h", decision, sent=True, now=t)
    assert cache.get("c", "h") == holdout[1]
    cache.put("c", "h", SIGNER.mint("holdout", "none", "7", "c", 3, 100), sent=False, now=3)
    assert cache.get("c", "h") == holdout[1]


def test_the_models_own_sent_decision_without_a_window_stays_until_one_sends_again() -> None:
    """The model's own decisions outside a canary carry no window (never late): the one that
    sent stays the unit's until another sends; one of the treated-unattributed arm (scored by
    a version that does not own the unit) sent its treatment as well."""
    cache = UnitCache(100)
    for arm in ("treated", "treated-unattributed"):
        sent = SIGNER.mint(arm, "a", "3")
        cache.put("", arm, sent, sent=True, now=10)
        cache.put("", arm, SIGNER.mint(arm, "none", "3"), sent=False, now=10**9)
        assert cache.get("", arm) == sent
        (delivery,) = parse_deliveries({"unit_id": arm, "status": "failed"}, SIGNER, cache)
        assert delivery.decision.decision_id == sent
    # In a canary (an id with the model's window) the window bounds it as a campaign's does.
    windowed = SIGNER.mint("treated", "a", "3", "", 100, 10)
    cache.put("", "w", windowed, sent=True, now=100)
    cache.put("", "w", SIGNER.mint("treated", "none", "3", "", 105, 10), sent=False, now=105)
    assert cache.get("", "w") == windowed
    later = SIGNER.mint("treated", "none", "3", "", 111, 10)
    cache.put("", "w", later, sent=False, now=111)
    assert cache.get("", "w") == later


def test_a_kept_decision_is_still_the_most_recently_decided() -> None:
    """The unit was decided just now, whichever decision its reports resolve to: the LRU does
    not forget it first, nor is it indexed twice."""
    cache = UnitCache(2)
    sent = SIGNER.mint("treated", "a", "3", "c", 0, 100)
    cache.put("c", "u", sent, sent=True, now=0)
    cache.put("c", "v", SIGNER.mint("treated", "a", "3", "c", 1, 100), sent=True, now=1)
    cache.put("c", "u", SIGNER.mint("treated", "none", "3", "c", 2, 100), sent=False, now=2)
    cache.put("c", "w", SIGNER.mint("treated", "a", "3", "c", 3, 100), sent=True, now=3)
    assert cache.get("c", "u") == sent and cache.get("c", "v") is None
    assert cache.campaigns("u") == ("c",) and len(cache) == 2
