"""The decision engine and V2 decoding, on a tiny fitted model (no server)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from mlserver.types import InferenceRequest

from uplift_operator.model.features import DriftBinning, FeatureError, FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments
from uplift_operator.runtime.config import RuntimeConfig
from uplift_operator.runtime.engine import DecisionEngine, RequestError
from uplift_operator.runtime.events import MAX_DECISION_ID, Signer
from uplift_operator.runtime.runtime import decode_columns, version_from_uri


@pytest.fixture(scope="module")
def model() -> UpliftModel:
    rng = np.random.default_rng(0)
    n = 3000
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b"], size=n),
                          "arm": rng.choice(["ctrl", "A", "B"], size=n)})
    p = 0.1 + 0.3 * ((frame["arm"] == "A") & (frame["x"] > 0)) + 0.1 * (frame["arm"] == "B")
    frame["y"] = (rng.uniform(size=n) < p).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    t = encode_treatments(frame["arm"].tolist(), "ctrl", ("A", "B"))
    learner = make_learner("t", BaseSpec(params={"max_iter": 20})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    return UpliftModel(schema, learner, ("A", "B"), "ctrl",
                       drift_binning=DriftBinning.fit(frame, schema, n_bins=4))


def _cols(n: int) -> dict[str, np.ndarray]:
    return {"x": np.linspace(-2, 2, n), "c": np.array(["a", "b"] * (n // 2), dtype=object)}


def test_a_model_whose_key_no_decision_id_can_carry_is_refused(model: UpliftModel) -> None:
    long_name = "Spring newsletter: women's collection, 20 percent discount, free shipping"
    with pytest.raises(ValueError, match=r"at most 64; shorten the name"):
        DecisionEngine(replace(model, treatments=(long_name, "B")), RuntimeConfig(), "7",
                       Signer(b"s" * 16))
    # The longest key a model may have round-trips in the longest id the runtime issues.
    signer = Signer(b"s" * 16)
    engine = DecisionEngine(replace(model, treatments=("k" * 64, "B")), RuntimeConfig(),
                            "v" * 64, signer)
    batch = engine.decide(_cols(4), ["u1", "u2", "u3", "u4"])
    assert {signer.parse(d).treatment for d in batch.decision_ids} <= {"k" * 64, "b", "none"}
    longest = signer.mint("unexposed", "k" * 64, "v" * 64, "c" * 63, 10**12 - 1, 10**12 - 1)
    assert len(longest) == 295 <= MAX_DECISION_ID
    assert signer.parse(longest).campaign == "c" * 63


def test_holdout_never_treated_and_same_policy(model: UpliftModel) -> None:
    signer = Signer(b"s" * 16)
    engine = DecisionEngine(model, RuntimeConfig(holdout_fraction=0.5, salt="s"), "7", signer)
    units = [f"u{i}" for i in range(400)]
    batch = engine.decide(_cols(400), units)
    assert set(batch.arms) == {"holdout", "treated"}
    for arm, given, policy in zip(batch.arms, batch.treatments, batch.policy_treatments,
                                  strict=True):
        assert given == ("none" if arm == "holdout" else policy)
    assert {"a", "b"} <= set(batch.policy_treatments)
    d = signer.parse(batch.decision_ids[0])
    assert (d.arm, d.treatment, d.version) == (batch.arms[0], batch.policy_treatments[0], "7")
    # Same units, same arms; the unit cache points at the latest decision.
    again = engine.decide(_cols(400), units)
    assert again.arms == batch.arms
    assert engine.units.get("", "u0") == again.decision_ids[0]
    assert batch.bins["x"].tolist()[:3] == [0, 0, 0]
    assert batch.bins["x"].max() == 3


def test_costs_budget_and_allow_list(model: UpliftModel) -> None:
    cfg = RuntimeConfig(holdout_fraction=0.0, costs={"*": 1.0})
    engine = DecisionEngine(model, cfg, "1")
    assert set(engine.decide(_cols(10), None).treatments) == {"none"}  # never worth a cost of 1
    assert len(engine.units) == 0   # generated ids are not remembered: none will report them
    engine = DecisionEngine(model, RuntimeConfig(holdout_fraction=0.0,
                                                 costs={"*": 0.01}), "1")
    only_b = engine.decide(_cols(50), None, {"treatments": ["B"]})
    assert set(only_b.treatments) <= {"b", "none"}
    capped = engine.decide(_cols(50), None, {"budget": 0.05})
    assert sum(t != "none" for t in capped.treatments) == 5
    with pytest.raises(RequestError, match="unknown treatment 'C'") as info:
        engine.decide(_cols(2), None, {"treatments": ["C"]})
    assert info.value.reason == "unknown_treatment"
    with pytest.raises(RequestError, match="budget"):
        engine.decide(_cols(2), None, {"budget": "lots"})
    with pytest.raises(RequestError, match="unit_id has 1 rows"):
        engine.decide(_cols(2), ["only-one"])
    with pytest.raises(FeatureError, match="missing features"):
        engine.decide({"x": np.zeros(2)}, None)


def _request(inputs: list[dict[str, object]]) -> InferenceRequest:
    return InferenceRequest.model_validate({"inputs": inputs})


def test_decode_columns_shapes_and_types() -> None:
    cols, units = decode_columns(_request([
        {"name": "x", "shape": [2, 1], "datatype": "FP32", "data": [[1.0], [2.0]]},
        {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "unit_id", "shape": [2], "datatype": "INT64", "data": [7, 8]}]))
    assert cols["x"].dtype == np.float64
    assert cols["x"].tolist() == [1.0, 2.0]
    assert cols["c"].tolist() == ["a", "b"]
    assert units == ["7", "8"]
    with pytest.raises(RequestError, match="shape"):
        decode_columns(_request([{"name": "x", "shape": [3], "datatype": "FP64",
                                  "data": [1.0]}]))


def _one(datatype: str, data: list[object], name: str = "x", shape: list[int] | None = None
         ) -> dict[str, object]:
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


@pytest.mark.parametrize(("inp", "reason", "fragment"), [
    (_one("FP64", ["abc"]), "wrong_type", "'x' is declared FP64 but holds a non-numeric value"),
    (_one("FP64", [None]), "wrong_type", "non-numeric value None"),
    (_one("FP64", [True]), "wrong_type", "non-numeric value True"),
    (_one("FP64", [1e300]), "out_of_range", "plausible bound 1e+15"),
    (_one("FP64", [10**400]), "out_of_range", "plausible bound"),
    (_one("INT64", [2**70]), "out_of_range", "outside the INT64 range"),
    (_one("INT8", [200]), "out_of_range", "outside the INT8 range"),
    (_one("UINT32", [-1]), "out_of_range", "outside the UINT32 range"),
    (_one("INT64", [2**62]), "out_of_range", "plausible bound"),
    (_one("INT64", [1.7]), "wrong_type", "1.7, not an integer"),
    (_one("INT64", ["3"]), "wrong_type", "non-numeric value '3'"),
    (_one("INT64", [False]), "wrong_type", "non-numeric value False"),
    (_one("BOOL", ["no"]), "wrong_type", "declared BOOL but holds 'no'"),
    (_one("BOOL", [0]), "wrong_type", "declared BOOL but holds 0"),
    (_one("BYTES", [5], name="c"), "wrong_type", "'c' is declared BYTES but holds 5"),
    (_one("BYTES", ["a" * 2000], name="c"), "out_of_range", "longer than 1024"),
    # A unit id's own reason, not a category's (wrong_type "categories are strings",
    # out_of_range over 1,024 characters): docs/runtime.md "Errors".
    (_one("BYTES", [None], name="unit_id"), "bad_unit_id",
     "'unit_id'[0]: a unit id must be a string or an integer, got None"),
    (_one("BYTES", ["ok", "u" * 2000], name="unit_id"), "bad_unit_id",
     "'unit_id'[1]: a unit id is longer than 256"),
    (_one("INT64", [1, None], name="unit_id"), "bad_unit_id", "'unit_id'[1]: a unit id must"),
    (_one("INT64", [10**300], name="unit_id"), "bad_unit_id", "longer than 256"),
    (_one("BYTES", [""], name="unit_id"), "bad_unit_id", "'unit_id'[0]: a unit id must not be"),
    (_one("BYTES", ["ok", "  "], name="unit_id"), "bad_unit_id", "'unit_id'[1]"),
    (_one("BYTES", ["u" * 300], name="unit_id"), "bad_unit_id", "longer than 256"),
    (_one("FP64", [2.0**60], name="unit_id"), "bad_unit_id", "a string or an integer, got"),
    (_one("INT64", [2**63], name="unit_id"), "out_of_range", "outside the INT64 range"),
    # Judged by the decoding, as in any integer input: a fraction is not an integer.
    (_one("INT64", [3.0, 1.5], name="unit_id"), "wrong_type", "1.5, not an integer"),
    (_one("INT64", [True], name="unit_id"), "wrong_type", "non-numeric value True"),
    (_one("FP64", [[1.0], 2.0]), "bad_shape", "mixes lists and values"),
    (_one("FP64", [[[[[1.0]]]]], shape=[1]), "bad_shape", "nested deeper"),
    (_one("FP64", [1.0], shape=[-1]), "bad_shape", "shape [-1]"),
    (_one("FP64", [1.0], shape=[2**40, 2**40, 0]), "bad_shape", "shape"),
    (_one("FP64", []), "bad_shape", "between 1 and 10000 rows"),
    (_one("FP64", [0.0] * 10_001), "too_large", "got 10001"),
])
def test_decode_refuses_and_names_the_input(inp: dict[str, object], reason: str,
                                            fragment: str) -> None:
    with pytest.raises(RequestError) as info:
        decode_columns(_request([inp]))
    assert info.value.reason == reason
    assert fragment in str(info.value)
    assert info.value.status == (413 if reason == "too_large" else 400)


def test_decode_accepts_exact_values_and_skips_other_inputs() -> None:
    cols, units = decode_columns(_request([
        _one("INT64", [3.0, -(2**40)], name="k"), _one("BOOL", [True, False], name="b"),
        _one("FP64", [1, 2.5]), _one("BYTES", [5, None], name="ignored"),
        _one("INT64", [7, 2**40], name="unit_id")]), features=("k", "b", "x"))
    assert cols["k"].tolist() == [3, -(2**40)]
    assert cols["k"].dtype == np.int64
    assert cols["b"].tolist() == [True, False]
    assert cols["x"].tolist() == [1.0, 2.5]
    assert "ignored" not in cols
    assert units == ["7", str(2**40)]
    with pytest.raises(RequestError, match="given twice"):
        decode_columns(_request([_one("FP64", [1.0]), _one("FP64", [2.0])]))


def test_an_integral_float_in_an_integer_unit_key_is_that_integer() -> None:
    """docs/runtime.md: "INT*: 3.0 is 3" holds for the unit key too (JSON clients that send
    every number as a double): the unit-id checks before decoding leave floats to it."""
    _, units = decode_columns(_request([_one("INT64", [3.0, 4.0], name="unit_id")]))
    assert units == ["3", "4"]
    _, units = decode_columns(_request([_one("UINT64", [2.0**52 - 1], name="unit_id")]))
    assert units == [str(2**52 - 1)]
    with pytest.raises(RequestError) as info:   # not an integer datatype: not an id
        decode_columns(_request([_one("FP64", [3.0], name="unit_id")]))
    assert info.value.reason == "bad_unit_id"


def test_a_float_integer_id_at_or_beyond_2_52_is_refused_not_another_id() -> None:
    """The review's r8_float_unit_id.py: from 2**53 on, a float names no one integer
    (``9007199254740993.0`` parses as 2**53, ``1234567890123456789.0`` as …768), and from 2**52
    on it holds no fraction (``4503599627370496.5`` parses as 2**52, ``4503599627370497.5`` as
    …498: "1.7 is refused" would not hold). Before, int() of it was taken silently: the unit
    decided, capped and reported as another id. Refused ``wrong_type`` in any integer input;
    the id written as an integer is taken exactly."""
    body = ('{"inputs": [{"name": "unit_id", "datatype": "INT64", "shape": [1], '
            '"data": [%s]}]}')
    for text in ("9007199254740993.0", "1234567890123456789.0", "-9007199254740992.0",
                 "1e17", "4503599627370496.5", "4503599627370497.5", "-4503599627370496.0"):
        request = InferenceRequest.model_validate(json.loads(body % text))
        with pytest.raises(RequestError) as info:
            decode_columns(request)
        assert info.value.reason == "wrong_type", text
        assert "at or beyond 2**52" in str(info.value)
    for dtype in ("UINT64", "INT64"):
        with pytest.raises(RequestError, match="at or beyond 2"):
            decode_columns(_request([_one(dtype, [2.0**63 if dtype == "UINT64" else 2.0**60],
                                          name="k")]), features=("k",))
    with pytest.raises(RequestError) as info:  # beyond the type's range first: that says more
        decode_columns(_request([_one("INT64", [float(2**70)], name="k")]), features=("k",))
    assert info.value.reason == "out_of_range" and "INT64 range" in str(info.value)
    request = InferenceRequest.model_validate(json.loads(body % "9007199254740993"))
    assert decode_columns(request)[1] == ["9007199254740993"]
    assert decode_columns(_request([_one("INT64", [-(2.0**52 - 1)], name="unit_id")]))[1] == [
        str(-(2**52 - 1))]


def test_an_integer_unit_id_is_an_id_not_a_feature() -> None:
    """64-bit ids (Snowflake ids ~1.5e18) are unit ids: no feature's plausible bound."""
    snowflake = 1541815603606036480
    _, units = decode_columns(_request([_one("INT64", [snowflake, -(2**63)], name="unit_id")]))
    assert units == [str(snowflake), str(-(2**63))]
    _, units = decode_columns(_request([_one("UINT64", [2**64 - 1], name="customer_id")]),
                              "customer_id")
    assert units == [str(2**64 - 1)]
    with pytest.raises(RequestError, match="plausible bound"):   # a feature still has it
        decode_columns(_request([_one("INT64", [snowflake], name="k")]))


def test_a_unit_key_that_is_also_a_feature_is_decoded_as_both() -> None:
    """The review's unitkey_feature.py: a unit key (the UpliftModel's, or a campaign's) named
    as one of the model's features made every request fail ``missing features ['x']``: the
    column was taken as ids only. Now it is both, each with its own checks."""
    cols, units = decode_columns(_request([
        _one("INT64", [5, 7], name="x"), _one("BYTES", ["p", "q"], name="c")]), "x",
        features=("x", "c"))
    assert cols["x"].tolist() == [5, 7] and cols["x"].dtype == np.int64
    assert cols["c"].tolist() == ["p", "q"]
    assert units == ["5", "7"]
    cols, units = decode_columns(_request([_one("BYTES", ["a", "b"], name="customer")]),
                                 "customer", features=("customer",))
    assert cols["customer"].tolist() == ["a", "b"] and units == ["a", "b"]
    # An id is not a feature: the feature's plausible bound still applies to it as one ...
    snowflake = 1541815603606036480
    with pytest.raises(RequestError, match="plausible bound"):
        decode_columns(_request([_one("INT64", [snowflake], name="x")]), "x",
                       features=("x",))
    # ... and a unit key not among the features is an id only, as before.
    cols, units = decode_columns(_request([_one("INT64", [snowflake], name="x")]), "x",
                                 features=("c",))
    assert cols == {} and units == [str(snowflake)]
    with pytest.raises(RequestError) as info:   # a fraction is a feature, never an id
        decode_columns(_request([_one("FP64", [0.5], name="x")]), "x", features=("x",))
    assert info.value.reason == "bad_unit_id"


def test_version_from_uri() -> None:
    assert version_from_uri("models:/m/12") == "12"
    assert version_from_uri("/tmp/model") is None


def test_decode_columns_reads_a_configured_unit_key() -> None:
    cols, units = decode_columns(_request([
        {"name": "customer_id", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}]), "customer_id")
    assert units == ["a", "b"]
    assert list(cols) == ["x"]


def test_a_row_off_its_units_version_is_served_alike_and_counted_apart(model: UpliftModel) -> None:
    from uplift_operator.runtime.assignment import VERSION_SALT, unit_position
    from uplift_operator.runtime.campaigns import VersionSplit
    from uplift_operator.runtime.events import parse_deliveries

    signer = Signer(b"s" * 16)
    canary = DecisionEngine(model, RuntimeConfig(holdout_fraction=0.5, salt="s"), "2", signer)
    units = [f"u{i}" for i in range(400)]
    split = VersionSplit(stable="1", canary="2", canary_percent=30)
    batch = canary.decide(_cols(400), units, split=split)
    plain = canary.decide(_cols(400), units)
    # Served alike: the same arms and treatments as without a split.
    assert (batch.arms, batch.treatments) == (plain.arms, plain.treatments)
    assert batch.counted_arms is not None
    owned = [unit_position(u, VERSION_SALT) < 0.3 for u in units]
    assert 0.2 < sum(owned) / len(units) < 0.4
    for arm, counted, mine in zip(batch.arms, batch.counted_arms, owned, strict=True):
        assert counted == (arm if mine else f"{arm}-unattributed")
    # The decision id carries the counted arm, so its reports are counted apart too, and a
    # treated row off its version still takes a delivery report.
    off = next(i for i, (a, m, t) in enumerate(zip(batch.arms, owned, batch.treatments,
                                                   strict=True))
               if a == "treated" and not m and t != "none")
    assert signer.parse(batch.decision_ids[off]).arm == "treated-unattributed"
    delivered = parse_deliveries({"deliveries": [{"decision_id": batch.decision_ids[off],
                                                  "status": "ok"}]}, signer, canary.units)
    assert delivered[0].ok
    # The stable owns the rest: a unit is counted for one version only.
    stable = DecisionEngine(model, RuntimeConfig(holdout_fraction=0.5, salt="s"), "1", signer)
    other = stable.decide(_cols(400), units, split=split)
    assert other.counted_arms is not None
    for ours, theirs in zip(batch.counted_arms, other.counted_arms, strict=True):
        assert ours.endswith("-unattributed") != theirs.endswith("-unattributed")


def test_a_row_between_the_old_and_new_percent_is_counted_apart_while_the_change_propagates(
        model: UpliftModel) -> None:
    from uplift_operator.runtime.assignment import VERSION_SALT, unit_position
    from uplift_operator.runtime.campaigns import PROPAGATION_GRACE_SECONDS, VersionSplit

    signer = Signer(b"s" * 16)
    units = [f"u{i}" for i in range(400)]
    split = VersionSplit(stable="1", canary="2", canary_percent=30, changed_at=1000.0,
                         unattributed=(10.0, 30.0))
    band = [10 <= unit_position(u, VERSION_SALT) * 100 < 30 for u in units]
    assert any(band)
    for version in ("1", "2"):
        engine = DecisionEngine(model, RuntimeConfig(holdout_fraction=0.5, salt="s"), version,
                                signer)
        during = engine.decide(_cols(400), units, now=1000.0 + PROPAGATION_GRACE_SECONDS - 1,
                               split=split)
        after = engine.decide(_cols(400), units, now=1000.0 + PROPAGATION_GRACE_SECONDS,
                              split=split)
        assert during.counted_arms is not None and after.counted_arms is not None
        for unit, inside, counted, late in zip(units, band, during.counted_arms,
                                               after.counted_arms, strict=True):
            owner = "2" if unit_position(unit, VERSION_SALT) * 100 < 30 else "1"
            # Within the grace, neither version's; past it, its owner's by the new percent.
            assert counted.endswith("-unattributed") == (inside or owner != version)
            assert late.endswith("-unattributed") == (owner != version)
        # Served alike all the same.
        assert during.arms == after.arms and during.treatments == after.treatments
