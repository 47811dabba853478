"""The configured per-request cap (``budget``, ``UPLIFT_BUDGET``: "cap on the summed cost of
the treatments chosen in one request") applies to a request under a campaign as to the model's
own, unless the request sets ``parameters.budget``; the campaign's period budget on top of it,
the smaller of the two applying (review-budget finding 3). The engine is
``test_runtime_campaign_decisions``'s."""

from __future__ import annotations

from tests.unit.runtime.test_runtime_campaign_decisions import NOW, campaign, cols, model

from uplift_operator.model.scoring import UpliftModel
from uplift_operator.runtime.campaigns import Budget, TreatmentTerms
from uplift_operator.runtime.config import RuntimeConfig
from uplift_operator.runtime.engine import DecisionEngine
from uplift_operator.runtime.events import Signer

__all__ = ["model"]   # the fixture, used by name


def _engine(model: UpliftModel, budget: float | None) -> DecisionEngine:
    return DecisionEngine(model, RuntimeConfig(budget=budget), "7", Signer(b"s" * 16))


def test_the_configured_request_cap_applies_under_a_campaign(model: UpliftModel) -> None:
    c = campaign(holdout_fraction=0.0,
                 treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)})
    units = [f"u{i}" for i in range(20)]
    e = _engine(model, 3.0)
    got = e.decide(cols(20), units, {}, e.bind(c), NOW)
    assert got.spend == 3.0 and got.campaign_arms is not None
    assert got.campaign_arms.count("treated") == 3
    assert got.campaign_arms.count("budget-exhausted") == 17
    # The request's own cap wins over the configured one, larger or smaller.
    e = _engine(model, 3.0)
    assert e.decide(cols(20), units, {"budget": 5}, e.bind(c), NOW).spend == 5.0
    e = _engine(model, 3.0)
    assert e.decide(cols(20), units, {"budget": 1}, e.bind(c), NOW).spend == 1.0
    # Not configured: no cap but the campaign's.
    e = _engine(model, None)
    assert e.decide(cols(20), units, {}, e.bind(c), NOW).spend == 20.0


def test_the_smaller_of_the_request_cap_and_the_period_budget_left_applies(
        model: UpliftModel) -> None:
    c = campaign(holdout_fraction=0.0,
                 treatments={"womens-e-mail": TreatmentTerms(cost=1.0, value=10.0)},
                 budget=Budget(amount=5.0, period_start=NOW))
    e = _engine(model, 3.0)
    bound = e.bind(c)
    assert e.decide(cols(10), [f"a{i}" for i in range(10)], {}, bound, NOW).spend == 3.0
    # 2 left of the period's 5: less than the request's cap of 3.
    assert e.decide(cols(10), [f"b{i}" for i in range(10)], {}, bound, NOW + 1).spend == 2.0
    assert e.ledger(c.name).period_spend(c, NOW + 2) == (5.0, NOW)


def test_a_request_sent_again_is_decided_and_charged_again(model: UpliftModel) -> None:
    # What docs/runtime.md "A request sent again" says: no idempotency. Pinned here so the
    # docs stay true to the engine (review-budget finding 4).
    for cap, retry_arms, retry_spend in ((1, ["capped", "capped"], 0.0),
                                        (2, ["treated", "treated"], 0.02)):
        e = _engine(model, None)
        c = campaign(holdout_fraction=0.0, max_treatments_per_unit=cap,
                     budget=Budget(amount=30.0, period_start=NOW, period_seconds=86400.0))
        bound = e.bind(c)
        first = e.decide(cols(2), ["x1", "x2"], {}, bound, NOW + 10)
        again = e.decide(cols(2), ["x1", "x2"], {}, bound, NOW + 11)
        assert (first.campaign_arms, first.spend) == (["treated", "treated"], 0.02)
        assert (again.campaign_arms, again.spend) == (retry_arms, retry_spend)
        assert set(first.decision_ids).isdisjoint(again.decision_ids)
        spent = e.ledger(c.name).period_spend(c, NOW + 12)
        assert spent is not None and spent[0] == 0.02 + retry_spend
