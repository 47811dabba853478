"""Runtime configuration sources and the decision-id / report formats."""

from __future__ import annotations

import pytest

from uplift_operator.runtime.config import ConfigError, RuntimeConfig
from uplift_operator.runtime.events import (
    ReportError,
    UnitCache,
    new_decision_id,
    parse_decision_id,
    parse_deliveries,
    parse_outcomes,
)

KEYS = ("mens_e_mail", "womens_e_mail")


def test_env_wins_over_extra() -> None:
    cfg = RuntimeConfig.from_sources(
        {"holdout_fraction": 0.2, "salt": "x", "costs": {"mens_e_mail": 0.1}, "budget": 5},
        {"UPLIFT_HOLDOUT_FRACTION": "0.3", "UPLIFT_COSTS": '{"*": 0.05, "Womens E-Mail": 0.2}'})
    assert cfg.holdout_fraction == 0.3
    assert cfg.salt == "x"
    assert cfg.budget == 5.0
    assert cfg.cost_vector(KEYS, ("Mens E-Mail", "Womens E-Mail")).tolist() == [0.05, 0.2]
    assert RuntimeConfig.from_sources({}, {"UPLIFT_COSTS": "0.3"}).cost_vector(KEYS).tolist() == [
        0.3, 0.3]


@pytest.mark.parametrize(("extra", "message"), [
    ({"holdout_fraction": 2}, "holdout_fraction"),
    ({"holdout_fraction": "lots"}, "must be a number"),
    ({"costs": "{bad"}, "JSON object"),
    ({"costs": {"a": -1}}, "≥ 0"),
    ({"budget": -3}, "budget"),
])
def test_bad_config(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RuntimeConfig.from_sources(extra, {})


def test_costs_for_unknown_treatment_rejected() -> None:
    cfg = RuntimeConfig.from_sources({"costs": {"kids_e_mail": 1}}, {})
    with pytest.raises(ConfigError, match="unknown treatments"):
        cfg.cost_vector(KEYS)


def test_decision_id_round_trip() -> None:
    did = new_decision_id("treated", "womens_e_mail", "3")
    d = parse_decision_id(did)
    assert (d.arm, d.treatment, d.version) == ("treated", "womens_e_mail", "3")
    assert new_decision_id("holdout", "none", "v 1/2").endswith("~v_1_2")
    for bad in ("nope", "0" * 32 + "~sideways~none~1", "x" * 32 + "~treated~none~1"):
        with pytest.raises(ReportError, match="malformed"):
            parse_decision_id(bad)


def test_reports_resolve_by_decision_or_unit() -> None:
    cache = UnitCache(2)
    d1 = new_decision_id("treated", "mens_e_mail", "1")
    d2 = new_decision_id("holdout", "mens_e_mail", "1")
    cache.put("u1", d1)
    cache.put("u2", d2)
    cache.put("u3", new_decision_id("treated", "none", "1"))
    assert len(cache) == 2
    assert cache.get("u1") is None  # evicted, oldest first
    outs = parse_outcomes({"outcomes": [{"unit_id": "u2", "converted": True, "value": 2.5},
                                        {"decision_id": d1}]}, cache, KEYS)
    assert [(o.decision.arm, o.converted, o.value) for o in outs] == [
        ("holdout", True, 2.5), ("treated", False, 0.0)]
    dels = parse_deliveries({"decision_id": d1, "status": "failed"}, cache, KEYS)
    assert dels[0].ok is False


@pytest.mark.parametrize(("body", "status", "reason"), [
    ({"outcomes": []}, 400, "bad_report"),
    ({"outcomes": [{"unit_id": "ghost"}]}, 404, "unknown_unit"),
    ({"outcomes": [{"decision_id": "0" * 32 + "~treated~kids_e_mail~1"}]}, 400,
     "unknown_treatment"),
    ({"outcomes": [{"decision_id": "0" * 32 + "~treated~mens_e_mail~1", "value": -1}]}, 400,
     "bad_report"),
    ({"outcomes": [{"decision_id": "0" * 32 + "~treated~mens_e_mail~1", "converted": "yes"}]},
     400, "bad_report"),
    ({"outcomes": [{"decision_id": "0" * 32 + "~treated~mens_e_mail~1",
                    "treatment": "womens_e_mail"}]}, 400, "unknown_treatment"),
])
def test_bad_outcome_reports(body: object, status: int, reason: str) -> None:
    with pytest.raises(ReportError) as info:
        parse_outcomes(body, UnitCache(10), KEYS)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_holdout_has_nothing_to_deliver() -> None:
    did = new_decision_id("holdout", "mens_e_mail", "1")
    with pytest.raises(ReportError, match="nothing to deliver") as info:
        parse_deliveries({"deliveries": [{"decision_id": did}]}, UnitCache(1), KEYS)
    assert info.value.status == 409
