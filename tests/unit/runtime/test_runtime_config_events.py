"""Runtime configuration sources and the decision-id / report formats."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uplift_operator.runtime.config import ConfigError, RuntimeConfig
from uplift_operator.runtime.events import (
    Outcome,
    ReportError,
    SeenReports,
    Signer,
    UnitCache,
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
    ({"max_rows": 0}, "max_rows"),
    ({"max_outcome_value": 1e300}, "max_outcome_value"),
    ({"max_abs_value": "inf"}, "finite"),
    ({"dedup_size": -1}, "dedup_size"),
])
def test_bad_config(extra: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RuntimeConfig.from_sources(extra, {})


def test_input_bounds_from_env() -> None:
    cfg = RuntimeConfig.from_sources({"max_rows": 5}, {"UPLIFT_MAX_OUTCOME_VALUE": "250",
                                                       "UPLIFT_DEDUP_SIZE": "10"})
    assert (cfg.max_rows, cfg.max_outcome_value, cfg.dedup_size) == (5, 250.0, 10)
    assert RuntimeConfig().max_body_bytes == 1 << 20


def test_costs_for_unknown_treatment_rejected() -> None:
    cfg = RuntimeConfig.from_sources({"costs": {"kids_e_mail": 1}}, {})
    with pytest.raises(ConfigError, match="unknown treatments"):
        cfg.cost_vector(KEYS)


SIGNER = Signer(b"k" * 32)


def _id(arm: str, treatment: str, version: str = "1") -> str:
    return SIGNER.mint(arm, treatment, version)


def test_decision_id_round_trip() -> None:
    did = _id("treated", "womens_e_mail", "3")
    d = SIGNER.parse(did)
    assert (d.arm, d.treatment, d.version) == ("treated", "womens_e_mail", "3")
    assert _id("holdout", "none", "v 1/2").endswith("~v_1_2")
    for bad in ("nope", "0" * 32 + "~sideways~none~1", "x" * 32 + "~treated~none~1",
                did + "\n", " " + did, did.replace("~3", "~"), "~".join([did] * 2)):
        with pytest.raises(ReportError, match="malformed") as info:
            SIGNER.parse(bad)
        assert info.value.reason == "bad_decision_id"


def test_ids_of_another_key_or_edited_are_refused() -> None:
    did = _id("holdout", "mens_e_mail", "3")
    forged = [Signer(b"other-key-of-16-bytes").mint("holdout", "mens_e_mail", "3"),
              did.replace("~holdout~", "~treated~"), did.replace("~3", "~4"),
              did[:40] + ("0" if did[40] != "0" else "1") + did[41:]]
    for bad in forged:
        with pytest.raises(ReportError, match="not issued") as info:
            SIGNER.parse(bad)
        assert info.value.reason == "unknown_decision"
    with pytest.raises(ReportError, match="longer than"):
        SIGNER.parse(did + "x" * 300)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_text_but_a_minted_id_parses(text: str) -> None:
    with pytest.raises(ReportError):
        SIGNER.parse(text)


def test_signer_key_must_be_long_and_never_shown() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Signer(b"short")
    assert "k" * 16 not in repr(SIGNER)


@pytest.mark.parametrize(("env", "files", "expected"), [
    ({}, {}, None),
    ({"UPLIFT_DECISION_KEY": "0123456789abcdef0123\n"}, {}, b"0123456789abcdef0123"),
    ({"UPLIFT_DECISION_KEY_FILE": "/k"}, {"/k": b"  fedcba9876543210fedcba\n"},
     b"fedcba9876543210fedcba"),
])
def test_decision_key_sources(env: dict[str, str], files: dict[str, bytes],
                              expected: bytes | None) -> None:
    assert RuntimeConfig.decision_key(env, files.__getitem__) == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"UPLIFT_DECISION_KEY": "short \n"}, "at least 16 bytes, has 5"),
    ({"UPLIFT_DECISION_KEY_FILE": "/missing"}, "cannot be read"),
])
def test_bad_decision_keys(env: dict[str, str], message: str) -> None:
    def read(path: str) -> bytes:
        raise FileNotFoundError(2, "No such file or directory", path)

    with pytest.raises(ConfigError, match=message) as info:
        RuntimeConfig.decision_key(env, read)
    assert "short" not in str(info.value)  # the key itself is never in a message


def test_reports_resolve_by_decision_or_unit() -> None:
    cache = UnitCache(2)
    d1 = _id("treated", "mens_e_mail")
    d2 = _id("holdout", "mens_e_mail")
    cache.put("", "u1", d1)
    cache.put("", "u2", d2)
    cache.put("", "u3", _id("treated", "none"))
    assert len(cache) == 2
    assert cache.get("", "u1") is None  # evicted, oldest first
    outs = parse_outcomes({"outcomes": [{"unit_id": "u2", "converted": True, "value": 2.5},
                                        {"decision_id": d1, "converted": False}]},
                          SIGNER, cache)
    assert [(o.decision.arm, o.converted, o.value) for o in outs] == [
        ("holdout", True, 2.5), ("treated", False, 0.0)]
    dels = parse_deliveries({"decision_id": d1, "status": "failed"}, SIGNER, cache)
    assert dels[0].ok is False


def test_a_decision_of_a_treatment_this_replicas_model_lacks_counts() -> None:
    """A canary's new treatment reported to a stable replica: the MAC says the deployment
    issued it; the label value is bounded by what the models that served issued."""
    canary = _id("treated", "sms_push", "8")
    outs = parse_outcomes({"outcomes": [{"decision_id": canary, "converted": True},
                                        {"decision_id": _id("holdout", "mens_e_mail"),
                                         "converted": False}]},
                          SIGNER, UnitCache(1))
    assert [(o.decision.treatment, o.decision.version) for o in outs] == [
        ("sms_push", "8"), ("mens_e_mail", "1")]
    assert parse_deliveries({"decision_id": canary, "status": "ok"}, SIGNER, UnitCache(1))[0].ok


def test_a_unit_report_resolves_under_its_campaign() -> None:
    """A unit's last decision is kept per campaign (a campaign's unit key may be another
    namespace): a report names its campaign, or resolves a unit known under one only."""
    cache = UnitCache(10)
    email = SIGNER.mint("treated", "mens_e_mail", "1", "email", 1, 86400)
    sms = SIGNER.mint("unexposed", "mens_e_mail", "1", "sms", 1, 86400)
    own = _id("holdout", "womens_e_mail")
    cache.put("email", "42", email)
    cache.put("sms", "42", sms)          # the same id in the sms campaign: another unit
    cache.put("", "7", own)

    def resolve(item: dict[str, object]) -> str:
        return parse_outcomes({"outcomes": [{**item, "converted": True}]},
                              SIGNER, cache)[0].decision.decision_id

    assert resolve({"unit_id": "42", "campaign": "email"}) == email
    assert resolve({"unit_id": "42", "campaign": "sms"}) == sms
    assert resolve({"unit_id": "7"}) == own       # known under one campaign (here none)
    assert resolve({"unit_id": "7", "campaign": ""}) == own
    assert parse_deliveries({"unit_id": 42, "campaign": "email", "status": "ok"}, SIGNER,
                            cache)[0].ok
    with pytest.raises(ReportError, match=r"campaigns \['email', 'sms'\]") as info:
        resolve({"unit_id": "42"})
    assert (info.value.status, info.value.reason) == (409, "ambiguous_unit")
    with pytest.raises(ReportError, match="under campaign 'email'") as info:
        resolve({"unit_id": "7", "campaign": "email"})
    assert (info.value.status, info.value.reason) == (404, "unknown_unit")
    with pytest.raises(ReportError, match="does not match the decision's 'email'"):
        resolve({"decision_id": email, "campaign": "sms"})
    with pytest.raises(ReportError, match="must be a campaign name"):
        resolve({"unit_id": "42", "campaign": 3})
    cache.put("sms", "42", sms)
    for i in range(9):                   # the email entry is evicted: no longer ambiguous
        cache.put("", f"n{i}", own)
    assert resolve({"unit_id": "42"}) == sms
    assert len(cache) == 10


GOOD = _id("treated", "mens_e_mail")


def _outcome(**fields: object) -> dict[str, object]:
    """A body of one outcome: ``fields`` over a conversion (``converted`` is required)."""
    return {"outcomes": [{"converted": True, **fields}]}


@pytest.mark.parametrize(("body", "status", "reason", "fragment"), [
    ({"outcomes": []}, 400, "bad_report", "at least one report"),
    (_outcome(unit_id="ghost"), 404, "unknown_unit", "ghost"),
    (_outcome(unit_id=None), 400, "bad_report", "give decision_id or unit_id"),
    (_outcome(unit_id=" \t"), 400, "bad_report", "outcomes[0].unit_id must not be"),
    (_outcome(unit_id=True), 400, "bad_report", "outcomes[0].unit_id must be a"),
    (_outcome(unit_id="u" * 300), 400, "bad_report", "longer than 256"),
    (_outcome(decision_id=""), 400, "bad_decision_id", "outcomes[0].decision_id"),
    (_outcome(decision_id=7), 400, "bad_decision_id", "must be a string"),
    (_outcome(decision_id="0" * 32 + "." + "0" * 32 + "~treated~mens_e_mail~1"),
     400, "unknown_decision", "not issued"),
    (_outcome(decision_id=GOOD, value=-1), 400, "bad_report", "outcomes[0].value"),
    (_outcome(decision_id=GOOD, value=1e308), 400, "bad_report", "[0, 1e+06]"),
    (_outcome(decision_id=GOOD, value=10**400), 400, "bad_report", "value"),
    (_outcome(decision_id=GOOD, value=float("nan")), 400, "bad_report", "value"),
    (_outcome(decision_id=GOOD, value="3"), 400, "bad_report", "a number"),
    (_outcome(decision_id=GOOD, value=True), 400, "bad_report", "a number"),
    (_outcome(decision_id=GOOD, converted="yes"), 400, "bad_report", "outcomes[0].converted"),
    (_outcome(decision_id=GOOD, converted=1), 400, "bad_report", "converted"),
    (_outcome(decision_id=GOOD, converted=None), 400, "bad_report", "true or false"),
    (_outcome(decision_id=GOOD, treatment="womens_e_mail"), 400, "unknown_treatment",
     "outcomes[0].treatment"),
    ({"outcomes": [{"decision_id": GOOD, "converted": True}, "x"]}, 400, "bad_report",
     "outcomes[1] must be"),
    ({"outcomes": [{"decision_id": GOOD, "converted": True}] * 10_001}, 413, "too_large",
     "at most 10000"),
    ("outcomes", 400, "bad_report", "expected a JSON object"),
])
def test_bad_outcome_reports(body: object, status: int, reason: str, fragment: str) -> None:
    with pytest.raises(ReportError) as info:
        parse_outcomes(body, SIGNER, UnitCache(10), max_value=1e6)
    assert (info.value.status, info.value.reason) == (status, reason)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("kind", "item", "fragment"), [
    # The review's t1.py: a misspelt field was dropped and the report counted as what it did
    # not say (a conversion worth 42 as a non-conversion, a failed delivery as delivered).
    ("outcomes", {"decision_id": GOOD, "conversion": True, "value": 42.0},
     "outcomes[0]: unknown field 'conversion'"),
    ("outcomes", {"decision_id": GOOD}, "outcomes[0].converted is required"),
    ("outcomes", {"decision_id": GOOD, "value": 3.0}, "outcomes[0].converted is required"),
    ("outcomes", {"decision_id": GOOD, "converted": True, "vaule": 3.0, "ts": 1},
     "outcomes[0]: unknown fields 'vaule', 'ts'"),
    # A delivery posted to the outcomes endpoint read as a non-conversion.
    ("outcomes", {"decision_id": GOOD, "status": "ok"}, "unknown field 'status'"),
    ("deliveries", {"decision_id": GOOD, "state": "failed"},
     "deliveries[0]: unknown field 'state'"),
    ("deliveries", {"decision_id": GOOD}, "deliveries[0].status is required: 'ok' or 'failed'"),
    ("deliveries", {"decision_id": GOOD, "status": "ok", "converted": True},
     "unknown field 'converted'"),
])
def test_a_report_must_say_what_it_reports_in_its_own_fields(
        kind: str, item: dict[str, object], fragment: str) -> None:
    """``converted`` and ``status`` have no default and a field the kind does not have is
    refused, naming the item and the field: 400 ``bad_report``, the whole body with it."""
    parse = parse_outcomes if kind == "outcomes" else parse_deliveries
    good = {"decision_id": GOOD, **({"converted": True} if kind == "outcomes"
                                    else {"status": "ok"})}
    assert len(parse({kind: [good]}, SIGNER, UnitCache(1))) == 1
    with pytest.raises(ReportError) as info:
        parse({kind: [item]}, SIGNER, UnitCache(1))
    assert (info.value.status, info.value.reason) == (400, "bad_report")
    assert fragment in str(info.value)
    with pytest.raises(ReportError, match=re.escape(fragment.replace("[0]", "[1]"))):
        parse({kind: [good, item]}, SIGNER, UnitCache(1))   # a good item does not save it


def test_holdout_has_nothing_to_deliver() -> None:
    did = _id("holdout", "mens_e_mail")
    with pytest.raises(ReportError, match="nothing to deliver") as info:
        parse_deliveries({"deliveries": [{"decision_id": did, "status": "ok"}]}, SIGNER,
                         UnitCache(1))
    assert info.value.status == 409


def test_seen_reports_count_each_decision_once_within_the_window() -> None:
    seen = SeenReports(3)
    assert seen.fresh("outcomes", ["a", "b", "a"]) == [True, True, False]
    assert seen.fresh("deliveries", ["a"]) == [True]  # kinds are apart
    assert seen.fresh("outcomes", ["b"]) == [False]
    assert seen.fresh("outcomes", ["c", "d", "e"]) == [True, True, True]
    assert len(seen) == 3 + 1                           # bounded per kind
    assert seen.fresh("outcomes", ["a", "e"]) == [True, False]  # a fell out of the window


def test_an_outcome_that_disagrees_with_the_one_counted_is_a_conflict_not_a_duplicate() -> None:
    """First report wins (a counter cannot take back what it counted); a later one for the same
    decision is a duplicate only when it says the same, else a conflict — compared with the
    report counted, however many came between."""
    cache = UnitCache(10)
    did = SIGNER.mint("treated", "mens_e_mail", "1")

    def fingerprints(*items: dict[str, object]) -> list[tuple[str, int]]:
        return [(o.decision.decision_id, o.fingerprint) for o in parse_outcomes(
            {"outcomes": [{"decision_id": did, **item} for item in items]}, SIGNER, cache)]

    seen = SeenReports(3)
    assert seen.classify("outcomes", fingerprints({"converted": False})) == ["new"]
    assert seen.classify("outcomes", fingerprints(
        {"converted": False}, {"converted": False, "value": 0},  # 0 and 0.0 say the same
        {"converted": True}, {"converted": False, "value": 2.5},
        {"converted": True, "value": 2.5})) == [
        "duplicate", "duplicate", "conflict", "conflict", "conflict"]
    assert seen.classify("outcomes", fingerprints({"converted": False})) == ["duplicate"]
    other = SIGNER.mint("holdout", "none", "1")
    # Within one batch too: the first of two disagreeing reports is the one counted.
    batch = [(other, 7), (other, 7), (other, 8)]
    assert seen.classify("outcomes", batch) == ["new", "duplicate", "conflict"]
    assert seen.fresh("outcomes", [other]) == [False]  # fresh(): counted or not, as before


def test_a_fingerprint_says_converted_and_value() -> None:
    did = SIGNER.mint("treated", "mens_e_mail", "1")
    prints = {(c, v): o.fingerprint for c in (False, True) for v in (0, 1.0, 1e6)
              for o in parse_outcomes({"outcomes": [{"decision_id": did, "converted": c,
                                                     "value": v}]}, SIGNER, UnitCache(1))}
    assert len(set(prints.values())) == len(prints)
    assert prints[(False, 0)] == 0 and prints[(True, 0)] == 1  # shared small integers
    # Its lowest bit says converted: what SeenReports.classify_outcomes reads of one counted.
    assert all(fingerprint & 1 == converted for (converted, _), fingerprint in prints.items())


def test_a_late_conversion_after_the_non_conversion_at_window_close_is_no_conflict() -> None:
    """The review's late_after_nonconversion.py: a sender that follows the contract reports
    ``converted: false`` once the window closed, then the conversion that came after it. The
    conversion is late (the runtime counts it so), not a conflict with the non-conversion;
    before, it was a conflict, counted in uplift_report_conflicts_total and never as late."""
    seen = SeenReports(10)

    def outcomes(decision: str, *items: dict[str, object]) -> list[Outcome]:
        return parse_outcomes({"outcomes": [{"decision_id": decision, **item}
                                            for item in items]}, SIGNER, UnitCache(1))

    closes = 1_000 + 100
    d = SIGNER.mint("treated", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(d, {"converted": False}), closes + 1) == ["new"]
    assert seen.classify_outcomes(outcomes(d, {"converted": True, "value": 3.0}),
                                  closes + 50) == ["new"]
    # Its resend is a duplicate of it; a late conversion that says otherwise conflicts with it.
    assert seen.classify_outcomes(outcomes(d, {"converted": True, "value": 3.0},
                                           {"converted": True}), closes + 90) == [
        "duplicate", "conflict"]
    assert seen.classify_outcomes(outcomes(d, {"converted": False}), closes + 90) == [
        "duplicate"]   # the non-conversion counted stands
    # In one body, as in two.
    e = SIGNER.mint("holdout", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(e, {"converted": False}, {"converted": True}),
                                  closes + 1) == ["new", "new"]
    # Within the window a conversion after a non-conversion still conflicts with it (a
    # non-conversion is reported once the window closed); a late conversion after a conversion
    # counted is its resend: a duplicate, or a conflict when it says otherwise.
    f = SIGNER.mint("treated", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(f, {"converted": False}, {"converted": True}),
                                  closes) == ["new", "conflict"]
    h = SIGNER.mint("treated", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(h, {"converted": True}), closes) == ["new"]
    assert seen.classify_outcomes(outcomes(h, {"converted": True}, {"converted": True,
                                                                    "value": 1.0}),
                                  closes + 5) == ["duplicate", "conflict"]
    assert seen.classify_outcomes(outcomes(h, {"converted": False}), closes + 6) == [
        "conflict"]   # a non-conversion after an in-window conversion


def test_a_late_conversion_before_the_non_conversion_at_window_close_is_no_conflict() -> None:
    """The review's late_then_false.py: a sender that reports conversions as they happen and
    non-conversions in a batch once the window closed sends the late conversion first. Both
    count — the non-conversion as the cohort's outcome, the conversion late — in either order;
    before, the non-conversion was a conflict and never received (completeness stayed short,
    the conflicts alert fired)."""
    seen = SeenReports(10)

    def outcomes(decision: str, *items: dict[str, object]) -> list[Outcome]:
        return parse_outcomes({"outcomes": [{"decision_id": decision, **item}
                                            for item in items]}, SIGNER, UnitCache(1))

    closes = 1_000 + 100
    g = SIGNER.mint("treated", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(g, {"converted": True}), closes + 5) == ["new"]
    assert seen.classify_outcomes(outcomes(g, {"converted": True}), closes + 6) == [
        "duplicate"]   # its resend, before the non-conversion
    assert seen.classify_outcomes(outcomes(g, {"converted": False}), closes + 7) == ["new"]
    assert seen.classify_outcomes(outcomes(g, {"converted": False}, {"converted": True},
                                           {"converted": True, "value": 2.0}),
                                  closes + 8) == ["duplicate", "duplicate", "conflict"]
    # In one body: the same two counts.
    k = SIGNER.mint("holdout", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(k, {"converted": True}, {"converted": False}),
                                  closes + 1) == ["new", "new"]
    assert len(seen) == 2 + 2   # one entry per report counted, no more
    h = SIGNER.mint("treated", "mens_e_mail", "1", "c", 1_000, 100)
    assert seen.classify_outcomes(outcomes(h, {"converted": True}), closes) == ["new"]
    assert seen.classify_outcomes(outcomes(h, {"converted": True}), closes + 5) == [
        "duplicate"]
    # A decision without a window is never late: a conversion after a non-conversion conflicts.
    plain = SIGNER.mint("treated", "mens_e_mail", "1")
    assert seen.classify_outcomes(outcomes(plain, {"converted": False}, {"converted": True}),
                                  10**12) == ["new", "conflict"]


@pytest.mark.parametrize(("arm", "decided", "echoed"), [
    ("holdout", "mens_e_mail", "none"),          # the response's treatment: nothing sent
    ("holdout", "mens_e_mail", "mens_e_mail"),   # its policy_treatment: accepted as before
    ("unexposed", "mens_e_mail", "none"),
    ("treated", "mens_e_mail", "mens_e_mail"),
    ("treated", "none", "none"),
    ("treated-unattributed", "mens_e_mail", "mens_e_mail"),
])
def test_an_outcome_may_echo_the_responses_treatment(arm: str, decided: str,
                                                     echoed: str) -> None:
    """A sender that reports the ``treatment`` it was told to send (``none`` for a holdout
    row) is not refused (review finding 2); the decision's ``policy_treatment`` still is the
    decision's too."""
    did = (SIGNER.mint(arm, decided, "1", "spring", 1_700_000_000, 86400)
           if arm == "unexposed" else _id(arm, decided))   # only a campaign's row is unexposed
    (outcome,) = parse_outcomes({"outcomes": [{"decision_id": did, "treatment": echoed,
                                               "converted": True}]}, SIGNER, UnitCache(1))
    assert outcome.decision.treatment == decided


@pytest.mark.parametrize(("arm", "decided", "echoed"), [
    ("treated", "mens_e_mail", "none"),          # the treated row was sent mens_e_mail
    ("treated", "mens_e_mail", "womens_e_mail"),
    ("holdout", "mens_e_mail", "womens_e_mail"),
])
def test_an_outcome_of_another_treatment_is_still_refused(arm: str, decided: str,
                                                          echoed: str) -> None:
    with pytest.raises(ReportError, match="does not match") as info:
        parse_outcomes({"outcomes": [{"decision_id": _id(arm, decided), "treatment": echoed,
                                      "converted": True}]}, SIGNER, UnitCache(1))
    assert info.value.reason == "unknown_treatment"
