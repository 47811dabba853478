"""A campaign's decisions outside its exposure are kept apart in the unit cache: they never push
an exposed (holdout or treated) decision out. Before, one LRU held both: at 5 % exposure 948 of
its 1,000 slots held unexposed decisions, and only 52 of the last 4,000 decisions' 206 exposed
ones were still reachable by unit (the review's unit_cache_unexposed.py): by-unit reports of the
rest were refused (404 ``unknown_unit``), the cohorts' completeness fell, the gates held."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.runtime.events import ReportError, Signer, UnitCache, parse_outcomes

SIGNER = Signer(b"k" * 32)


def _decision(arm: str, at: int = 0, treatment: str = "none") -> str:
    return SIGNER.mint(arm, treatment, "3", "c", at, 100)


def test_unexposed_decisions_never_push_out_an_exposed_one() -> None:
    cache = UnitCache(10)
    assert cache.unexposed_size == 1   # a tenth of the size, by default
    exposed = {f"e{i}": _decision("holdout" if i % 2 else "treated", i) for i in range(10)}
    for unit, decision in exposed.items():
        cache.put("c", unit, decision, sent=False, now=0)
    for i in range(1000):
        cache.put("c", f"x{i}", _decision("unexposed", i), sent=False, now=i, exposed=False)
    assert {unit: cache.get("c", unit) for unit in exposed} == exposed
    for unit, decision in exposed.items():   # reports by unit reach every exposed decision
        (outcome,) = parse_outcomes({"unit_id": unit, "converted": False}, SIGNER, cache)
        assert outcome.decision.decision_id == decision
    # The last unexposed ones are reachable too, within their own bound; the rest are not.
    assert cache.get("c", "x999") is not None and cache.get("c", "x998") is None
    with pytest.raises(ReportError) as refused:
        parse_outcomes({"unit_id": "x0", "converted": False}, SIGNER, cache)
    assert refused.value.reason == "unknown_unit"
    assert len(cache) == 10 + 1
    # An exposed decision pushes out the least recently decided exposed one, as before.
    cache.put("c", "new", _decision("treated", 5), sent=False, now=5)
    assert cache.get("c", "e0") is None and cache.get("c", "x999") is not None


def test_a_unit_has_one_decision_whichever_side_it_moves_to() -> None:
    """The unit's last decision is what a report by unit resolves to, exposed or not (a ramp
    that widens or narrows, a campaign held): one entry, moved between the two LRUs."""
    cache = UnitCache(10, unexposed_size=2)
    first, second = _decision("unexposed", 1), _decision("holdout", 2)
    cache.put("c", "u", first, sent=False, now=1, exposed=False)
    cache.put("c", "u", second, sent=False, now=2)
    assert cache.get("c", "u") == second and len(cache) == 1
    third = _decision("unexposed", 3)
    cache.put("c", "u", third, sent=False, now=3, exposed=False)
    assert cache.get("c", "u") == third and len(cache) == 1
    assert cache.decisions("u") == {"c": third}
    # A decision that sent a treatment, its window open, stays the unit's over an unexposed
    # one (the campaign held: the email sent is what its conversion reports).
    sent = _decision("treated", 10, "a")
    cache.put("c", "u", sent, sent=True, now=10)
    cache.put("c", "u", _decision("unexposed", 20), sent=False, now=20, exposed=False)
    assert cache.get("c", "u") == sent and len(cache) == 1
    # Past its window, the unexposed decision takes over, on its own side.
    later = _decision("unexposed", 200)
    cache.put("c", "u", later, sent=False, now=200, exposed=False)
    assert cache.get("c", "u") == later and len(cache._data) == 0


def test_without_room_for_unexposed_decisions_the_earlier_one_is_not_reported_for_them() -> None:
    """With no unexposed entries kept (``unexposed_size`` 0), a unit decided outside the
    exposure after a holdout decision is unknown by unit: its reports must not count for the
    earlier decision's cohort."""
    cache = UnitCache(10, unexposed_size=0)
    cache.put("c", "u", _decision("holdout", 1), sent=False, now=1)
    cache.put("c", "u", _decision("unexposed", 2), sent=False, now=2, exposed=False)
    assert cache.get("c", "u") is None and cache.campaigns("u") == () and len(cache) == 0


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 5), unexposed_size=st.integers(0, 3),
       puts=st.lists(st.tuples(st.sampled_from(["", "a", "b"]), st.sampled_from("uvwx"),
                               st.booleans()), max_size=40))
def test_the_index_agrees_with_both_lrus(size: int, unexposed_size: int,
                                         puts: list[tuple[str, str, bool]]) -> None:
    """Whatever is put, moved and evicted, a unit's decisions are exactly its entries in either
    LRU, each key in one of them, each LRU within its bound."""
    cache = UnitCache(size, unexposed_size)
    last: dict[tuple[str, str], str] = {}
    for i, (campaign, unit, exposed) in enumerate(puts):
        arm = "treated" if exposed else "unexposed"
        decision = SIGNER.mint(arm, "none", "3", campaign or "c", i, 100)
        cache.put(campaign, unit, decision, sent=False, now=i, exposed=exposed)
        last[campaign, unit] = decision
    assert not set(cache._data) & set(cache._unexposed)
    assert len(cache._data) <= size and len(cache._unexposed) <= unexposed_size
    assert size > 0 or len(cache) == 0   # 0 turns unit-only reports off
    for unit in "uvwx":
        expected = {c: d for (c, u), d in (*cache._data.items(), *cache._unexposed.items())
                    if u == unit}
        assert cache.decisions(unit) == expected
        assert all(last[c, unit] == d for c, d in expected.items())   # the last one only
