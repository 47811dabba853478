"""Deciding for a campaign: exposure, holdout, policies, budget, cap, schedule, late outcomes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments
from uplift_operator.runtime import policy
from uplift_operator.runtime.assignment import assign, exposed, exposure_position, unit_position
from uplift_operator.runtime.campaigns import Budget, Campaign, Policy, TreatmentTerms
from uplift_operator.runtime.config import ConfigError, RuntimeConfig
from uplift_operator.runtime.engine import (
    CAMPAIGN_ARMS,
    BoundCampaign,
    DecisionEngine,
    RequestError,
)
from uplift_operator.runtime.events import ReportError, Signer
from uplift_operator.runtime.windows import DueCounts

NOW = 1_772_323_200.0   # 2026-03-01T00:00:00Z
DAY = 86400.0


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], size=n),
                          "arm": rng.choice(["ctrl", "Womens E-Mail", "Mens E-Mail"], size=n)})
    p = (0.1 + 0.3 * ((frame["arm"] == "Womens E-Mail") & (frame["x"] > 0))
         + 0.1 * (frame["arm"] == "Mens E-Mail"))
    frame["y"] = (rng.uniform(size=n) < p).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    names = ("Womens E-Mail", "Mens E-Mail")
    t = encode_treatments(frame["arm"].tolist(), "ctrl", names)
    learner = make_learner("t", BaseSpec(params={"max_iter": 20})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    return UpliftModel(schema, learner, names, "ctrl")


def campaign(**changes: object) -> Campaign:
    base = Campaign(name="spring-email", generation=1, salt="ns/spring-email",
                    unit_key="customer_id", holdout_fraction=0.2, exposure_percent=100.0,
                    treatments={"womens-e-mail": TreatmentTerms(cost=0.01, value=1.0),
                                "mens-e-mail": TreatmentTerms(cost=0.01, value=1.0)},
                    attribution_window_seconds=14 * 86400, policy=Policy("costAware"),
                    max_treatments_per_unit=1_000)
    return replace(base, **changes)  # type: ignore[arg-type]


def cols(n: int) -> dict[str, np.ndarray]:
    return {"x": np.linspace(0.5, 2, n), "c": np.array(["a", "b"] * (n // 2), dtype=object)}


def engine(model: UpliftModel) -> DecisionEngine:
    return DecisionEngine(model, RuntimeConfig(), "7", Signer(b"s" * 16))


# --- exposure ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(unit=st.text(min_size=1, max_size=40), salt=st.text(min_size=1, max_size=20),
       low=st.floats(0, 100), high=st.floats(0, 100))
def test_exposure_is_monotone_in_the_percent(unit: str, salt: str, low: float,
                                             high: float) -> None:
    low, high = min(low, high), max(low, high)
    if exposed(unit, salt, low):
        assert exposed(unit, salt, high)
    assert exposed(unit, salt, 100.0)
    assert not exposed(unit, salt, 0.0)


def test_exposure_share_and_independence_from_the_holdout() -> None:
    units = [f"c{i}" for i in range(20_000)]
    at5 = {u for u in units if exposed(u, "s", 5)}
    at25 = {u for u in units if exposed(u, "s", 25)}
    assert at5 <= at25
    for share, group in ((0.05, at5), (0.25, at25)):
        assert abs(len(group) - share * len(units)) < 4 * math.sqrt(len(units) * share)
    # Independent of the holdout draw under the same salt: ~10 % of the exposed are holdout.
    holdout = sum(assign(u, "s", 0.1) == "holdout" for u in at25)
    assert abs(holdout - 0.1 * len(at25)) < 4 * math.sqrt(len(at25) * 0.09)
    # Pinned: changing the exposure hash would re-draw who is exposed in live campaigns.
    assert exposure_position("user-42", "spring") == pytest.approx(
        100 * unit_position("user-42", "spring\x00exposure"))


# --- the decision -----------------------------------------------------------------------------

def test_campaign_rows_get_their_arm_and_ids_carry_the_campaign(model: UpliftModel) -> None:
    e = engine(model)
    c = campaign(exposure_percent=50.0)
    units = [f"c{i}" for i in range(400)]
    batch = e.decide(cols(400), units, {}, e.bind(c), NOW)
    assert batch.campaign == "spring-email" and batch.campaign_arms is not None
    assert set(batch.campaign_arms) <= set(CAMPAIGN_ARMS)
    for unit, arm, why, given_, chosen, did in zip(
            units, batch.arms, batch.campaign_arms, batch.treatments, batch.policy_treatments,
            batch.decision_ids, strict=True):
        if not exposed(unit, c.salt, 50.0):
            assert (arm, why, given_) == ("unexposed", "unexposed", "none")
        elif assign(unit, c.salt, 0.2) == "holdout":
            assert (arm, why, given_) == ("holdout", "holdout", "none")
        else:
            assert arm == "treated"
            assert why == ("treated" if chosen != "none" else "not-treated-by-policy")
            assert given_ == (chosen if why == "treated" else "none")
        d = e.signer.parse(did)
        assert (d.arm, d.treatment, d.campaign, d.issued_at, d.window_seconds) == (
            arm, chosen, "spring-email", int(NOW), 14 * 86400)
    assert {"unexposed", "holdout", "treated"} <= set(batch.campaign_arms)
    # The same units keep their arms at a higher exposure; more of them are exposed.
    wider = e.decide(cols(400), units, {}, e.bind(replace(c, exposure_percent=75.0)), NOW)
    for before, after in zip(batch.arms, wider.arms, strict=True):
        if before != "unexposed":
            assert after == before
    assert wider.arms.count("unexposed") < batch.arms.count("unexposed")


def test_unexposed_decisions_leave_the_unit_cache_to_the_exposed_ones(model: UpliftModel) -> None:
    """The review's unit_cache_unexposed.py: at 5 % exposure, a unit cache of 200 after 2,000
    decisions still resolves every exposed (holdout, treated) decision by unit, and the last
    unexposed ones within their own tenth. Before, 95 % of its slots held unexposed decisions
    and most exposed ones were refused by unit (404 unknown_unit)."""
    e = DecisionEngine(model, RuntimeConfig(unit_cache_size=200), "7", Signer(b"s" * 16))
    bound = e.bind(campaign(exposure_percent=5.0))
    decided: dict[str, str] = {}
    for start in range(0, 2000, 200):
        units = [f"u{i}" for i in range(start, start + 200)]
        batch = e.decide(cols(200), units, {}, bound, NOW)
        decided |= {u: arm for u, arm in zip(units, batch.arms, strict=True)}
    exposed_units = [u for u, arm in decided.items() if arm != "unexposed"]
    assert 40 < len(exposed_units) <= 200   # ~5 % of 2,000: all fit
    assert all(e.units.get("spring-email", u) is not None for u in exposed_units)
    unexposed_kept = [u for u, arm in decided.items()
                      if arm == "unexposed" and e.units.get("spring-email", u) is not None]
    assert len(unexposed_kept) == 20   # the last ones decided
    assert unexposed_kept == [u for u, arm in decided.items() if arm == "unexposed"][-20:]


def test_only_the_campaigns_treatments_with_their_own_economics(model: UpliftModel) -> None:
    e = engine(model)
    only_mens = campaign(treatments={"Mens E-Mail": TreatmentTerms(0.0, 1.0)},
                         holdout_fraction=0.0)
    batch = e.decide(cols(50), [f"u{i}" for i in range(50)], {}, e.bind(only_mens), NOW)
    assert set(batch.treatments) <= {"mens_e_mail", "none"}
    assert "mens_e_mail" in batch.treatments
    # Worth less than it costs: never sent, the rows say the policy decided.
    dear = campaign(treatments={"womens_e_mail": TreatmentTerms(cost=5.0, value=1.0)},
                    holdout_fraction=0.0)
    batch = e.decide(cols(50), [f"u{i}" for i in range(50)], {}, e.bind(dear), NOW)
    assert set(batch.campaign_arms or []) == {"not-treated-by-policy"}
    assert batch.spend == 0
    with pytest.raises(ConfigError, match="no treatment 'kids-e-mail'"):
        e.bind(campaign(treatments={"kids-e-mail": TreatmentTerms(0, 1)}))


def test_a_request_may_narrow_a_campaign_by_the_campaigns_own_treatment_names(
        model: UpliftModel) -> None:
    """``parameters.treatments`` resolves names as the campaign's treatments do: by the model's
    name, its key, or the key of the name. Before, the Campaign's own ``womens-e-mail`` (which
    ``bind`` accepted) was refused in a request (400 ``unknown_treatment``), though the
    allow-lists intersect (the review's campaign_edges.py)."""
    e = engine(model)
    bound = e.bind(campaign(holdout_fraction=0.0, treatments={
        "womens-e-mail": TreatmentTerms(0.0, 1.0), "mens-e-mail": TreatmentTerms(0.0, 1.0)},
        policy=Policy("upliftThreshold", min_uplift=-1.0)))
    units = [f"n{i}" for i in range(20)]
    for name in ("womens-e-mail", "Womens E-Mail", "womens_e_mail"):
        batch = e.decide(cols(20), units, {"treatments": [name]}, bound, NOW)
        assert set(batch.treatments) == {"womens_e_mail"}, name
    both = e.decide(cols(20), units, {"treatments": ["womens-e-mail", "mens-e-mail"]}, bound,
                    NOW)
    assert "none" not in both.treatments
    # The model's own decisions (no campaign) resolve the same way.
    plain = e.decide(cols(20), units, {"treatments": ["mens-e-mail"]})
    assert set(plain.policy_treatments) <= {"mens_e_mail", "none"}
    assert "mens_e_mail" in plain.policy_treatments
    for unknown in ("kids-e-mail", "", "--"):
        with pytest.raises(RequestError, match="unknown treatment") as info:
            e.decide(cols(2), ["a", "b"], {"treatments": [unknown]}, bound, NOW)
        assert info.value.reason == "unknown_treatment"


def test_policies_threshold_and_top_fraction(model: UpliftModel) -> None:
    e = engine(model)
    n = 1000
    units = [f"u{i}" for i in range(n)]
    x = np.linspace(-2, 2, n)
    columns = {"x": x, "c": np.array(["a", "b"] * (n // 2), dtype=object)}
    uplift = model.score(columns).uplift
    threshold = campaign(policy=Policy("upliftThreshold", min_uplift=0.2), holdout_fraction=0.0)
    batch = e.decide(columns, units, {}, e.bind(threshold), NOW)
    best = uplift.max(axis=1)
    assert [t != "none" for t in batch.treatments] == (best >= 0.2).tolist()
    top = campaign(name="top", policy=Policy("topFraction", top_fraction=0.1),
                   holdout_fraction=0.0)
    batch = e.decide(columns, units, {}, e.bind(top), NOW)
    treated = sum(t != "none" for t in batch.treatments)
    assert 0.05 * n <= treated <= 0.15 * n
    assert min(best[[t != "none" for t in batch.treatments]]) >= np.quantile(best, 0.85)


def test_top_fraction_treats_no_one_until_its_history_holds_one_over_the_fraction(
        model: UpliftModel) -> None:
    """After a restart, a model load or on a new replica the history is empty: single-row
    requests are judged against the few uplifts seen so far, their own included. Before, the
    first row was always treated and every new running maximum after it (29.6 % of the first 10
    rows at topFraction 0.1); now no one is treated until the history holds ⌈1/topFraction⌉
    uplifts, and then a row only when it is among the top ⌊topFraction · n⌋ of the n."""
    e = engine(model)
    bound = e.bind(campaign(name="top", policy=Policy("topFraction", top_fraction=0.1),
                            holdout_fraction=0.0))
    xs = np.random.default_rng(3).normal(size=60)
    arms: list[str] = []
    for i, x in enumerate(xs):
        one = {"x": np.array([x]), "c": np.array(["ab"[i % 2]], dtype=object)}
        batch = e.decide(one, [f"w{i}"], {}, bound, NOW + i)
        arms += batch.campaign_arms or []
        if i < 9:   # the policy's own choice says so too, not only the response's treatment
            assert batch.policy_treatments == ["none"], i
    assert arms[:9] == ["not-treated-by-policy"] * 9
    assert 0 < arms.count("treated") <= 6
    assert len(e.ledger("top").recent_uplift) == 60
    # A request of many rows is ranked among its own rows at once, as before.
    fresh = engine(model)
    batch = fresh.decide(cols(100), [f"b{i}" for i in range(100)], {},
                         fresh.bind(campaign(name="top", holdout_fraction=0.0,
                                             policy=Policy("topFraction", top_fraction=0.1))),
                         NOW)
    assert 1 <= (batch.campaign_arms or []).count("treated") <= 15


def test_budget_stops_treatment_when_spent_and_resumes_next_period(model: UpliftModel) -> None:
    e = engine(model)
    c = campaign(treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)},
                 budget=Budget(amount=30.0, period_start=NOW, period_seconds=DAY))
    bound = e.bind(c)
    spent, arms = 0.0, []
    for r in range(10):
        batch = e.decide(cols(10), [f"r{r}-{i}" for i in range(10)], {}, bound, NOW + r)
        spent += batch.spend
        arms += batch.campaign_arms or []
        # Only treated rows spend, one unit each.
        assert batch.spend == sum(t != "none" for t in batch.treatments)
    assert spent == 30.0                                   # not a cent more on this replica
    assert "budget-exhausted" in arms and "treated" in arms
    late = e.decide(cols(10), [f"z{i}" for i in range(10)], {}, bound, NOW + 60)
    assert late.spend == 0
    assert {why for why, arm in zip(late.campaign_arms or [], late.arms, strict=True)
            if arm == "treated"} == {"budget-exhausted"}
    # The holdout loses its withheld treatment at the same point (the arms stay comparable).
    assert {p for p, arm in zip(late.policy_treatments, late.arms, strict=True)
            if arm == "holdout"} <= {"none"}
    tomorrow = e.decide(cols(10), [f"t{i}" for i in range(10)], {}, bound, NOW + DAY + 1)
    assert tomorrow.spend > 0
    assert "budget-exhausted" not in (tomorrow.campaign_arms or [])


@pytest.mark.parametrize("period_again", [DAY, 7 * DAY, None])
def test_a_budget_removed_and_set_again_counts_afresh(model: UpliftModel,
                                                       period_again: float | None) -> None:
    """docs/lifecycle.md: removing ``budget``, then setting it again (how its period changes),
    counts the spend afresh. Before, the ledger went on adding the spend while the entry had no
    budget and kept its period, so the same budget set again within the period found it spent
    (the review's 5000 → 200 → -500), and its series went on under the same ledger."""
    e = engine(model)
    terms = {"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)}
    budgeted = campaign(treatments=terms, holdout_fraction=0.0,
                        budget=Budget(amount=30.0, period_start=NOW, period_seconds=DAY))
    spent = sum(e.decide(cols(10), [f"a{r}-{i}" for i in range(10)], {}, e.bind(budgeted),
                         NOW + 3600 + r).spend for r in range(4))
    assert spent == 30.0
    ledger = e.ledger(budgeted.name)
    first_id = ledger.ledger_id
    assert ledger.period_spend(budgeted, NOW + 3700) == (30.0, NOW)

    unbudgeted = replace(budgeted, budget=None)
    free = e.decide(cols(10), [f"b{i}" for i in range(10)], {}, e.bind(unbudgeted), NOW + 7200)
    assert free.spend > 0                   # treated without a budget: counted nowhere
    assert ledger.period_spend(unbudgeted, NOW + 7200) is None
    assert (ledger.period, ledger.spent) == (None, 0.0)
    assert ledger.ledger_id != first_id     # a new series for the budget set again

    again = replace(budgeted, budget=Budget(amount=30.0, period_start=NOW,
                                            period_seconds=period_again))
    assert ledger.remaining(again, NOW + 10_800) == 30.0
    batch = e.decide(cols(10), [f"c{i}" for i in range(10)], {}, e.bind(again), NOW + 10_800)
    assert batch.spend == 10.0 and "budget-exhausted" not in (batch.campaign_arms or [])
    assert ledger.period_spend(again, NOW + 10_800) == (10.0, NOW)


def test_budget_without_period_and_per_request_budget(model: UpliftModel) -> None:
    e = engine(model)
    c = campaign(treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)},
                 holdout_fraction=0.0, budget=Budget(amount=5.0, period_start=NOW))
    bound = e.bind(c)
    assert e.decide(cols(4), list("abcd"), {"budget": 2}, bound, NOW).spend == 2.0
    assert e.decide(cols(10), list("efghijklmn"), {}, bound, NOW + 1e6).spend == 3.0
    assert e.decide(cols(10), list("opqrstuvwx"), {}, bound, NOW + 2e6).spend == 0.0


def test_treatments_per_unit_are_capped_in_both_arms(model: UpliftModel) -> None:
    e = engine(model)
    bound = e.bind(campaign(max_treatments_per_unit=2, holdout_fraction=0.5))
    units = [f"u{i}" for i in range(40)]
    rounds = [e.decide(cols(40), units, {}, bound, NOW + r) for r in range(3)]
    wanted = [t != "none" for t in rounds[0].policy_treatments]
    assert any(wanted)
    for i in range(40):
        if wanted[i]:
            assert rounds[2].policy_treatments[i] == "none"   # third time: capped
            assert (rounds[2].campaign_arms or [])[i] == (
                "holdout" if rounds[2].arms[i] == "holdout" else "capped")


def test_a_unit_repeated_in_one_request_gets_no_more_than_its_cap(model: UpliftModel) -> None:
    e = engine(model)
    c = campaign(max_treatments_per_unit=2, holdout_fraction=0.0,
                 treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)},
                 policy=Policy("upliftThreshold", min_uplift=-1.0))
    bound = e.bind(c)
    batch = e.decide(cols(4), ["alice"] * 4, {}, bound, NOW)
    assert sorted(batch.campaign_arms or []) == ["capped", "capped", "treated", "treated"]
    assert batch.spend == 2.0
    assert e.treated.count(c.name, "alice") == 2
    assert e.decide(cols(2), ["alice"] * 2, {}, bound, NOW + 1).campaign_arms == ["capped"] * 2
    # The budget counts within a request too: rows of one unit spend like any others.
    budgeted = e.bind(replace(c, name="budgeted", max_treatments_per_unit=10,
                              budget=Budget(amount=3.0, period_start=NOW)))
    batch = e.decide(cols(6), ["bob"] * 6, {}, budgeted, NOW)
    assert batch.spend == 3.0
    assert sorted(batch.campaign_arms or []) == ["budget-exhausted"] * 3 + ["treated"] * 3


def test_a_capped_unit_that_comes_back_is_not_forgotten_first(model: UpliftModel) -> None:
    """The cap's memory forgets the least recently *decided* unit first: a unit at its cap
    that keeps coming back stays capped, while one not seen since goes (review finding 3)."""
    e = DecisionEngine(model, RuntimeConfig(cap_ledger_size=3), "7", Signer(b"s" * 16))
    bound = e.bind(campaign(max_treatments_per_unit=1, holdout_fraction=0.0,
                            policy=Policy("upliftThreshold", min_uplift=-1.0)))

    def decide(unit: str, at: float) -> str:
        return (e.decide({k: v[:1] for k, v in cols(2).items()},
                         [unit], {}, bound, NOW + at).campaign_arms or [""])[0]

    assert [decide(u, i) for i, u in enumerate("ABC")] == ["treated"] * 3
    assert [decide("A", 3 + i) for i in range(3)] == ["capped"] * 3
    assert decide("D", 6) == "treated"          # the ledger is full: B, decided least lately,
    assert decide("A", 7) == "capped"           # is forgotten, not A
    assert decide("B", 8) == "treated"


def test_the_cap_holds_without_a_unit_cache(model: UpliftModel) -> None:
    """The review's cap.py: ``unit_cache_size=0`` (no unit-only reports) switched the per-unit
    cap off, so maxTreatmentsPerUnit=1 treated the same unit three times. The cap has its own
    ledger now (``cap_ledger_size``), which cannot be switched off."""
    e = DecisionEngine(model, RuntimeConfig(unit_cache_size=0), "7", Signer(b"s" * 16))
    bound = e.bind(campaign(max_treatments_per_unit=1, holdout_fraction=0.0,
                            policy=Policy("upliftThreshold", min_uplift=-1.0)))
    one = {k: v[:1] for k, v in cols(2).items()}
    arms = [(e.decide(one, ["u1"], {}, bound, NOW + i).campaign_arms or [""])[0]
            for i in range(3)]
    assert arms == ["treated", "capped", "capped"]
    assert len(e.units) == 0                    # the unit cache stays off
    with pytest.raises(ConfigError, match="cap_ledger_size must be ≥ 1"):
        RuntimeConfig(cap_ledger_size=0)
    with pytest.raises(ConfigError, match="cap_ledger_size"):
        RuntimeConfig.from_sources({}, {"UPLIFT_CAP_LEDGER_SIZE": "0"})
    assert RuntimeConfig.from_sources({"cap_ledger_size": 5},
                                      {"UPLIFT_CAP_LEDGER_SIZE": "7"}).cap_ledger_size == 7


def test_one_cap_ledger_bounds_every_campaign_together(model: UpliftModel) -> None:
    """Kept per campaign, each of them held up to unit_cache_size units (5 campaigns × 100,000
    units: 45.7 MB, and a file may carry 4,096). Now one LRU of (campaign, unit) holds at most
    ``cap_ledger_size`` entries whatever the number of campaigns; a unit is still capped per
    campaign (the same id under two campaigns counts apart), and a campaign that leaves the
    file, or is created again, takes its entries with it."""
    e = DecisionEngine(model, RuntimeConfig(cap_ledger_size=50), "7", Signer(b"s" * 16))
    one = {k: v[:1] for k, v in cols(2).items()}
    campaigns = [e.bind(campaign(name=f"c{i}", max_treatments_per_unit=1, holdout_fraction=0.0,
                                 policy=Policy("upliftThreshold", min_uplift=-1.0)))
                 for i in range(5)]

    def decide(bound: BoundCampaign, unit: str, at: float) -> str:
        return (e.decide(one, [unit], {}, bound, NOW + at).campaign_arms or [""])[0]

    assert [decide(b, "shared", 0) for b in campaigns] == ["treated"] * 5  # per campaign
    assert [decide(b, "shared", 1) for b in campaigns] == ["capped"] * 5
    for i in range(40):
        for b in campaigns:
            decide(b, f"u{i}", 2 + i)
    assert len(e.treated) == 50                 # not 5 × 41
    assert decide(campaigns[4], "u39", 50) == "capped"   # the most recent are kept
    assert decide(campaigns[0], "shared", 51) == "treated"  # the oldest forgotten
    before = len(e.treated)
    kept = e.treated.count("c1", "u39")
    e.drop_ledger("c4")                          # created again: its caps start from nothing
    assert e.treated.count("c4", "u39") == 0 and e.treated.count("c1", "u39") == kept == 1
    e.retain_ledgers(["c0", "c1"])               # c2, c3 left the file
    assert {c for c, _ in e.treated._counts} == {"c0", "c1"}
    assert len(e.treated) < before


def test_a_row_the_budget_stops_does_not_use_up_its_units_cap(model: UpliftModel) -> None:
    """A unit repeated in one request: its best row does not fit the budget, its other row
    does; the cap is taken only by a row that also fits, so the unit gets the one that fits
    (review finding 5), not 'budget-exhausted' and 'capped'."""
    two = {"x": np.array([1.0, -1.0]), "c": np.array(["a", "a"], dtype=object)}
    c = campaign(holdout_fraction=0.0, max_treatments_per_unit=1,
                 treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=100.0),
                             "mens-e-mail": TreatmentTerms(cost=0.1, value=100.0)},
                 budget=Budget(amount=0.5, period_start=NOW - 10))
    e = engine(model)
    batch = e.decide(two, ["U", "U"], {}, e.bind(c), NOW)
    assert sorted(batch.campaign_arms or []) == ["budget-exhausted", "treated"]
    assert sorted(batch.treatments) == ["mens_e_mail", "none"]
    assert e.ledgers[c.name].spent == pytest.approx(0.1)
    assert e.treated.count(c.name, "U") == 1


def test_apply_budget_judges_the_cap_and_the_budget_in_one_pass() -> None:
    choice, score = np.array([0, 1, 1, 1]), np.array([4.0, 3.0, 2.0, 1.0])
    costs = np.array([1.0, 0.1])
    left = {"U": 1, "V": 1}
    r = policy.apply_budget(choice, score, costs, 0.5, np.ones(4, dtype=bool),
                            units=["U", "U", "U", "V"], cap_left=left.__getitem__)
    assert r.exhausted.tolist() == [True, False, False, False]
    assert r.capped.tolist() == [False, False, True, False]
    assert r.choice.tolist() == [-1, 1, -1, 1]
    assert r.spend == pytest.approx(0.2)
    # Without a budget the cap alone, in the same order.
    r = policy.apply_budget(choice, score, costs, None, np.ones(4, dtype=bool),
                            units=["U", "U", "U", "V"], cap_left=left.__getitem__)
    assert r.capped.tolist() == [False, True, True, False]
    assert r.spend == pytest.approx(1.1)


@pytest.mark.parametrize(("changes", "why"), [
    ({"active": False}, "inactive"),
    ({"start": NOW + 10}, "not-started"),
    ({"end": NOW}, "ended"),
    ({"exposure_percent": 0.0}, "unexposed"),
])
def test_a_campaign_that_may_not_treat_treats_no_one(model: UpliftModel,
                                                     changes: dict[str, object],
                                                     why: str) -> None:
    e = engine(model)
    batch = e.decide(cols(20), [f"u{i}" for i in range(20)], {}, e.bind(campaign(**changes)),
                     NOW)
    assert set(batch.campaign_arms or []) == {why}
    assert set(batch.arms) == {"unexposed"}
    assert set(batch.treatments) == {"none"}
    assert batch.spend == 0


def test_a_campaign_needs_unit_ids(model: UpliftModel) -> None:
    e = engine(model)
    with pytest.raises(RequestError, match="identifies units by the input 'customer_id'") as info:
        e.decide(cols(2), None, {}, e.bind(campaign()), NOW)
    assert info.value.reason == "bad_unit_id"


def test_no_campaign_decides_as_before(model: UpliftModel) -> None:
    e = engine(model)
    batch = e.decide(cols(10), [f"u{i}" for i in range(10)], {"campaign": "ignored-here"})
    assert batch.campaign == "" and batch.campaign_arms is None
    assert len(batch.decision_ids[0].split("~")) == 4   # the ids of before campaigns


# --- pure pieces ------------------------------------------------------------------------------

def test_apply_budget_charges_treated_rows_and_judges_holdout_rows_alike() -> None:
    choice = np.array([0, 0, 0, 0, policy.NO_TREATMENT])
    score = np.array([4.0, 3.0, 2.0, 1.0, -np.inf])
    charged = np.array([True, False, True, True, True])
    r = policy.apply_budget(choice, score, np.array([1.0]), 2.0, charged)
    # 4.0 pays (1 left), the holdout row at 3.0 fits without paying, 2.0 pays (0 left),
    # 1.0 does not fit.
    assert r.choice.tolist() == [0, 0, 0, policy.NO_TREATMENT, policy.NO_TREATMENT]
    assert r.exhausted.tolist() == [False, False, False, True, False]
    assert r.spend == 2.0
    free = policy.apply_budget(np.array([0]), np.array([1.0]), np.array([0.0]), 0.0,
                               np.array([True]))
    assert free.choice.tolist() == [0]


def test_choose_rule() -> None:
    uplift = np.array([[0.05, 0.02], [0.01, 0.0], [-0.1, 0.03]])
    values, costs = np.array([10.0, 15.0]), np.array([0.2, 0.1])
    both = np.array([True, True])
    r = policy.choose_rule(uplift, values, costs, both, "costAware")
    # nets: 0.3 / 0.2 → A; -0.1 / -0.1 → none; -1.2 / 0.35 → B
    assert r.choice.tolist() == [0, policy.NO_TREATMENT, 1]
    np.testing.assert_allclose(r.net_value, [0.3, 0.0, 0.35])
    r = policy.choose_rule(uplift, values, costs, both, "upliftThreshold", min_uplift=0.03)
    assert r.choice.tolist() == [0, policy.NO_TREATMENT, 1]
    r = policy.choose_rule(uplift, values, costs, np.array([False, True]), "topFraction",
                           threshold=0.02)
    assert r.choice.tolist() == [1, policy.NO_TREATMENT, 1]
    assert policy.top_fraction_threshold([1.0, 2.0, 3.0, 4.0], 0.25) == 4.0
    with pytest.raises(ValueError, match="unknown policy"):
        policy.choose_rule(uplift, values, costs, both, "random")


def test_campaign_ids_round_trip_and_resist_forgery() -> None:
    signer = Signer(b"k" * 32)
    did = signer.mint("unexposed", "none", "3", "spring-email", 1_772_323_200, 1209600)
    d = signer.parse(did)
    assert (d.arm, d.campaign, d.issued_at, d.window_seconds) == (
        "unexposed", "spring-email", 1_772_323_200, 1209600)
    assert d.window_closes_at == 1_772_323_200 + 1209600
    assert not d.late(1_772_323_200 + 1209600) and d.late(1_772_323_200 + 1209601)
    for forged in (did.replace("~1209600", "~9999999"), did.replace("~spring-email~", "~other~"),
                   did.replace("~1772323200~", "~1772323201~")):
        with pytest.raises(ReportError, match="not issued"):
            signer.parse(forged)
    for bad in (did.replace("~spring-email~", "~Spring~"), did + "~x",
                signer.mint("unexposed", "none", "3")):   # no campaign: two arms only
        with pytest.raises(ReportError, match="malformed"):
            signer.parse(bad)
    legacy = signer.parse(signer.mint("treated", "a", "3"))
    assert (legacy.campaign, legacy.issued_at, legacy.late(1e12)) == ("", None, False)


def test_the_models_own_ids_carry_the_canarys_window() -> None:
    """In a canary the model's decisions (no campaign) carry when they were issued and the
    model's attribution window, so any replica counts their outcomes into the right cohort."""
    signer = Signer(b"k" * 32)
    did = signer.mint("treated-unattributed", "a", "3", "", 1_772_323_200, 3600)
    d = signer.parse(did)
    assert (d.arm, d.campaign, d.issued_at, d.window_seconds) == (
        "treated-unattributed", "", 1_772_323_200, 3600)
    assert not d.late(1_772_323_200 + 3600) and d.late(1_772_323_200 + 3601)
    with pytest.raises(ReportError, match="not issued"):
        signer.parse(did.replace("~3600", "~7200"))
    # The model's arms only: a campaign's "unexposed" needs a campaign.
    with pytest.raises(ReportError, match="malformed"):
        signer.parse(signer.mint("unexposed", "none", "3", "", 1_772_323_200, 3600))
    with pytest.raises(ReportError, match="malformed"):
        signer.parse(did.replace("~3600", "~1h"))


def test_due_counts_fall_due_when_the_window_closes() -> None:
    due: DueCounts[str] = DueCounts()
    due.add(100.0, 10, "a")
    due.add(100.5, 10, "a", 2)
    due.add(1000.0, 14 * 86400, "b")      # a 1,210 s slot: due by 1,210
    assert due.pop_due(99.0) == {}
    assert due.pop_due(101.0) == {"a": 3}
    assert due.pop_due(1000.0) == {}
    assert due.pop_due(1210.0) == {"b": 1}
    assert len(due) == 0
