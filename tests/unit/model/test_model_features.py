"""Feature schema validation, the design matrix and the drift binning's JSON contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uplift_operator.model.features import (
    HISTOGRAM_FORMAT,
    UPLIFT_BUCKETS,
    DriftBinning,
    FeatureBins,
    FeatureError,
    FeatureSchema,
    treatment_key,
    uplift_distribution,
)
from uplift_operator.model.keys import MAX_KEY_LENGTH, treatment_keys


def test_treatment_key_is_metric_safe() -> None:
    assert treatment_key("Mens E-Mail") == "mens_e_mail"
    assert treatment_key("10% off!") == "t_10_off"
    with pytest.raises(ValueError, match="alphanumeric"):
        treatment_key("--")


def test_a_models_keys_fit_a_decision_id_and_are_distinct() -> None:
    assert treatment_keys(["Mens E-Mail", "10% off!"]) == ("mens_e_mail", "t_10_off")
    assert treatment_keys(["x" * MAX_KEY_LENGTH]) == ("x" * MAX_KEY_LENGTH,)
    with pytest.raises(ValueError, match="65 characters, at most 64"):
        treatment_keys(["Mens E-Mail", "x" * (MAX_KEY_LENGTH + 1)])
    with pytest.raises(ValueError, match="same key 'mens_e_mail'"):
        treatment_keys(["Mens E-Mail", "mens e-mail"])


def test_schema_transform_one_hot_and_unknown_category(synth: pd.DataFrame) -> None:
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    assert schema.categories["region"] == ("east", "north", "south")
    x = schema.transform({"x1": np.array([1.5]), "x2": np.array([2]),
                          "region": np.array(["mars"], dtype=object)})
    assert x.tolist() == [[1.5, 2.0, 0.0, 0.0, 0.0]]
    assert schema.design_columns == ["x1", "x2", "region=east", "region=north", "region=south"]
    assert FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


@pytest.mark.parametrize(("columns", "message"), [
    ({"x1": [1.0], "region": ["north"]}, r"missing features \['x2'\]"),
    ({"x1": ["a"], "x2": [1.0], "region": ["north"]}, "'x1' must be numeric, got strings"),
    ({"x1": [1.0], "x2": [1.0], "region": [3]}, "'region' must be a string"),
    ({"x1": [1.0, 2.0], "x2": [1.0], "region": ["north"]}, "rows"),
])
def test_schema_rejects_bad_input(synth: pd.DataFrame, columns: dict[str, list[object]],
                                  message: str) -> None:
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    with pytest.raises(FeatureError, match=message):
        schema.transform({k: np.asarray(v) for k, v in columns.items()})


def test_numeric_bins_are_left_closed_with_open_ends() -> None:
    fb = FeatureBins("f", "numeric", edges=(1.0, 2.0))
    assert fb.bin_index(np.array([-5, 0.99, 1.0, 1.5, 2.0, 99, np.nan])).tolist() == [
        0, 0, 1, 1, 2, 2, 2]
    assert fb.bin_labels() == ["<1", "[1,2)", ">=2"]
    cat = FeatureBins("c", "categorical", categories=("a", "b"))
    assert cat.bin_index(np.array(["b", "zzz", b"a"], dtype=object)).tolist() == [1, 2, 0]
    assert cat.bin_labels() == ["a", "b", "other"]


def test_binning_reference_document_round_trips(synth: pd.DataFrame) -> None:
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    binning = DriftBinning.fit(synth, schema, n_bins=10)
    doc = json.loads(json.dumps(binning.histograms(synth)))
    assert doc["format"] == HISTOGRAM_FORMAT
    assert doc["n"] == len(synth)
    x1 = doc["features"]["x1"]
    assert x1["kind"] == "numeric"
    assert len(x1["edges"]) == 9
    assert len(x1["counts"]) == 10
    assert sum(x1["counts"]) == len(synth)
    # Deciles: every bin holds about a tenth.
    assert max(abs(c - len(synth) / 10) for c in x1["counts"]) < len(synth) * 0.01
    region = doc["features"]["region"]
    assert region["categories"] == ["east", "north", "south"]
    assert len(region["counts"]) == 4
    assert region["counts"][-1] == 0
    assert DriftBinning.from_histograms(doc) == binning


def test_binary_flag_gets_one_edge() -> None:
    frame = pd.DataFrame({"flag": [0, 0, 0, 1, 1]})
    schema = FeatureSchema.fit(frame, ["flag"], [])
    doc = DriftBinning.fit(frame, schema).histograms(frame)
    assert doc["features"]["flag"]["edges"] == [1.0]
    assert doc["features"]["flag"]["counts"] == [3, 2]


def test_uplift_distribution_uses_runtime_buckets() -> None:
    u = np.column_stack([np.linspace(-0.1, 0.3, 101), np.zeros(101)])
    doc = uplift_distribution(u, ["Mens E-Mail", "Womens E-Mail"])
    mens = doc["treatments"]["mens_e_mail"]
    assert mens["edges"] == list(UPLIFT_BUCKETS)
    assert len(mens["counts"]) == len(UPLIFT_BUCKETS) + 1
    assert sum(mens["counts"]) == 101
    assert mens["mean"] == pytest.approx(0.1)
    assert doc["treatments"]["womens_e_mail"]["std"] == 0.0
