"""What the schema, the trainer and the learners refuse or normalise: categorical values of any
spelling encode and bin alike, bad inputs are FeatureErrors, leaks and bad labels are refused,
and hyperparameters go only to the estimators that take them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from uplift_operator.model import trainer
from uplift_operator.model.features import DriftBinning, FeatureError, FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.trainer import TrainConfig, fit, prepare

SYNTH = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl", numeric=("x1", "x2"),
                    categorical=("region",), base="logistic", sample=1500, n_bootstrap=5,
                    quiet=True)


# --- categorical normalisation (fit, transform, drift bins) ------------------------------------

def test_object_ints_and_bytes_encode_and_bin_as_their_strings() -> None:
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0],
                          "tier": pd.Series([1, 2, 1, 3], dtype=object)})
    schema = FeatureSchema.fit(train, ["x"], ["tier"])
    assert schema.categories["tier"] == ("1", "2", "3")
    # The training rows encode as their categories (not all zeros) ...
    assert schema.transform(train)[:, 1:].tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0],
                                                       [0, 0, 1]]
    # ... exactly as the same values sent as strings, object bytes or fixed-width bytes.
    expected = [[1.0, 1.0, 0.0, 0.0]]
    for tier in (np.array(["1"], dtype=object), np.array([b"1"], dtype=object),
                 np.array([b"1"]), np.array(["1"])):
        assert schema.transform({"x": np.array([1.0]), "tier": tier}).tolist() == expected
    bins = DriftBinning.fit(train, schema).features["tier"]
    for tier in (np.array([1, "1", b"1", "zzz"], dtype=object), np.array([b"1", b"9"])):
        assert bins.bin_index(tier).tolist()[:2] == [0, 0 if len(tier) == 4 else 3]
    assert bins.bin_index(np.array([b"3", "zzz"], dtype=object)).tolist() == [2, 3]


def test_integer_categorical_is_refused_by_the_schema_and_converted_by_the_trainer(
        synth: pd.DataFrame) -> None:
    frame = synth.assign(tier=np.arange(len(synth)) % 3, flag=np.arange(len(synth)) % 2 == 0)
    with pytest.raises(FeatureError, match="'tier' is declared categorical but has dtype int64"):
        FeatureSchema.fit(frame, ["x1"], ["tier"])
    cfg = TrainConfig(**{**SYNTH.__dict__, "categorical": ("region", "tier", "flag")})
    prep = prepare(frame, cfg)
    model = fit(prep, cfg)
    assert model.schema.categories["tier"] == ("0", "1", "2")
    assert model.schema.categories["flag"] == ("False", "True")
    design = model.schema.transform(prep.train)
    assert design[:, -5:].sum(axis=1).tolist() == [2.0] * len(prep.train)  # one hot per column
    served = model.schema.transform({"x1": np.array([0.0]), "x2": np.array([1.0]),
                                     "region": np.array(["north"]), "tier": np.array(["2"]),
                                     "flag": np.array(["True"])})
    assert served[0, -5:].tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]


def _old_design(frame: pd.DataFrame, numeric: tuple[str, ...],
                categorical: tuple[str, ...]) -> np.ndarray:
    """The encoding before the shared normalisation (categories str()'d, rows compared raw)."""
    blocks = [frame[list(numeric)].to_numpy(dtype=np.float64)]
    for name in categorical:
        cats = np.asarray(sorted(str(v) for v in frame[name].dropna().unique()), dtype=object)
        values = frame[name].to_numpy().astype(object)
        blocks.append((values[:, None] == cats[None, :]).astype(np.float64))
    return np.hstack(blocks)


def test_hillstrom_design_matrix_and_drift_bins_are_unchanged(hillstrom_csv: Path) -> None:
    frame = pd.read_csv(hillstrom_csv).sample(5000, random_state=7)
    cfg = TrainConfig(base="logistic", sample=3000, n_bootstrap=5, quiet=True)
    prep = prepare(frame, cfg)
    model = fit(prep, cfg)
    old = _old_design(prep.train, cfg.numeric, cfg.categorical)
    assert model.schema.design_columns[-6:] == [
        "zip_code=Rural", "zip_code=Surburban", "zip_code=Urban", "channel=Multichannel",
        "channel=Phone", "channel=Web"]
    np.testing.assert_array_equal(model.schema.transform(prep.train), old)
    np.testing.assert_array_equal(model.schema.transform(prep.test),
                                  _old_design(prep.test, cfg.numeric, cfg.categorical)[
                                      :, : old.shape[1]])
    hist = DriftBinning.fit(prep.train, model.schema).histograms(prep.train)["features"]
    for name in cfg.categorical:
        counts = prep.train[name].value_counts()
        assert hist[name]["counts"] == [int(counts[c]) for c in hist[name]["categories"]] + [0]


# --- what scoring refuses ----------------------------------------------------------------------

@pytest.mark.parametrize(("columns", "message"), [
    ({"x1": [], "x2": [], "region": []}, "no rows to score"),
    ({"x1": [np.nan], "x2": [1.0], "region": ["north"]}, "'x1' has 1 missing or non-finite"),
    ({"x1": [1.0], "x2": [np.inf, -np.inf][:1], "region": ["north"]}, "'x2' has 1 missing"),
    ({"x1": [1.0, 2.0], "x2": [1.0, 2.0], "region": [None, "north"]},
     "'region' has 1 missing value"),
    ({"x1": [1.0], "x2": [1.0], "region": [np.nan]}, "'region' has 1 missing value"),
])
def test_schema_refuses_empty_non_finite_and_null(synth: pd.DataFrame,
                                                  columns: dict[str, list[object]],
                                                  message: str) -> None:
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    data = {k: np.asarray(v, dtype=object if k == "region" else np.float64)
            for k, v in columns.items()}
    with pytest.raises(FeatureError, match=message) as err:
        schema.transform(data)
    assert err.value.reason == "bad_features"


@pytest.mark.parametrize("region", [np.array([b"\xff", b"north"]),                 # fixed-width
                                    np.array([b"north", b"\xc3("], dtype=object)])  # object
def test_non_utf8_bytes_are_a_wrong_type_naming_the_feature(synth: pd.DataFrame,
                                                            region: np.ndarray) -> None:
    """Not a bare UnicodeDecodeError (a 500 at the runtime): bad input like any other."""
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    columns = {"x1": np.array([1.0, 2.0]), "x2": np.array([1.0, 2.0]), "region": region}
    with pytest.raises(FeatureError, match="feature 'region' has a value that is not UTF-8") \
            as err:
        schema.transform(columns)
    assert err.value.reason == "wrong_type"
    bins = DriftBinning.fit(synth, schema).features["region"]
    with pytest.raises(FeatureError, match="feature 'region'") as err:
        bins.bin_index(region)
    assert err.value.reason == "wrong_type"
    with pytest.raises(FeatureError, match="feature 'region'"):
        FeatureSchema.fit(pd.DataFrame({"x1": [1.0, 2.0], "region": region.astype(object)}),
                          ["x1"], ["region"])


def test_trainer_refuses_missing_feature_values(synth: pd.DataFrame) -> None:
    frame = synth.copy()
    frame.loc[frame.index[:4], "x2"] = np.nan
    frame["region"] = frame["region"].astype(object)
    frame.loc[frame.index[10:12], "region"] = None
    with pytest.raises(ValueError, match=r"\{'x2': 4, 'region': 2\}"):
        prepare(frame, TrainConfig(**{**SYNTH.__dict__, "sample": None}))


# --- max_categories ----------------------------------------------------------------------------

def test_rare_categories_fold_into_unknown(caplog: pytest.LogCaptureFixture) -> None:
    train = pd.DataFrame({"x": np.zeros(10),
                          "c": ["a"] * 4 + ["b"] * 3 + ["d"] * 2 + ["e"]})
    with caplog.at_level(logging.WARNING, logger="uplift_operator.model.features"):
        schema = FeatureSchema.fit(train, ["x"], ["c"], max_categories=2)
    assert schema.categories["c"] == ("a", "b")
    assert "'c' has 4 categories; keeping the 2 most frequent, the other 2 (3 training rows)" \
        in caplog.text
    assert schema.transform({"x": np.zeros(2), "c": np.array(["d", "b"])})[:, 1:].tolist() == [
        [0.0, 0.0], [0.0, 1.0]]
    bins = DriftBinning.fit(train, schema).features["c"]
    assert bins.counts(train["c"].to_numpy()) == [4, 3, 3]
    caplog.clear()
    assert FeatureSchema.fit(train, ["x"], ["c"]).categories["c"] == ("a", "b", "d", "e")
    assert not caplog.records


# --- the trainer's refusals --------------------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"categorical": ("region", "arm")}, "feature 'arm' is the treatment column"),
    ({"numeric": ("x1", "y")}, "feature 'y' is the outcome column"),
    ({"treatments": ("A", "ctrl")}, "control 'ctrl' is listed in --treatments"),
])
def test_prepare_refuses_leaks_and_control_as_treatment(synth: pd.DataFrame,
                                                        change: dict[str, object],
                                                        message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare(synth, TrainConfig(**{**SYNTH.__dict__, **change}))


def test_prepare_refuses_missing_treatment_labels(synth: pd.DataFrame) -> None:
    frame = synth.copy()
    frame["arm"] = frame["arm"].astype(object)
    frame.loc[frame.index[:7], "arm"] = np.nan
    with pytest.raises(ValueError, match="7 rows have no 'arm' label"):
        prepare(frame, SYNTH)


# --- hyperparameter routing --------------------------------------------------------------------

def test_params_go_only_to_the_estimators_that_take_them(synth: pd.DataFrame) -> None:
    cfg = TrainConfig(**{**SYNTH.__dict__, "learner": "x",
                         "params": {"alpha": 5.0, "C": 0.5, "max_iter": 300}})
    model = fit(prepare(synth, cfg), cfg)
    learner = model.learner
    clf = learner.stage1_.models_[0][-1]  # type: ignore[attr-defined]
    reg = learner.tau_treated_[0][-1]  # type: ignore[attr-defined]
    assert (clf.C, clf.max_iter, type(reg).__name__, reg.alpha, reg.max_iter) == (
        0.5, 300, "Ridge", 5.0, 300)
    params = learner.params()
    assert params["clf.estimator"] == "LogisticRegression"
    assert (params["clf.C"], params["clf.max_iter"]) == ("0.5", "300")
    assert "clf.alpha" not in params
    assert (params["reg.estimator"], params["reg.alpha"], params["reg.max_iter"]) == (
        "Ridge", "5.0", "300")
    assert "reg.C" not in params
    assert params["base.C"] == "0.5"  # the pre-routing names stay


def test_a_param_no_fitted_estimator_takes_is_refused() -> None:
    with pytest.raises(ValueError, match="'C' is not accepted by Ridge, the base estimator of "
                                         "the t-learner for a continuous outcome"):
        make_learner("t", BaseSpec("logistic", {"C": 1e-4}), "continuous")
    with pytest.raises(ValueError, match="'alpha' is not accepted by LogisticRegression"):
        make_learner("t", BaseSpec("logistic", {"alpha": 2.0}), "binary")
    with pytest.raises(ValueError, match="'foo' is not accepted by HistGradientBoostingClassifier "
                                         "or HistGradientBoostingRegressor"):
        make_learner("x", BaseSpec("hgb", {"foo": 1}), "binary")
    # class_weight is taken by the classifier only, and refused for any outcome: it biases
    # the responses the uplift is a difference of (test_model_refusals.py).
    for outcome in ("binary", "continuous"):
        with pytest.raises(ValueError, match="'class_weight' is refused: it re-weights"):
            make_learner("t", BaseSpec("hgb", {"class_weight": "balanced"}), outcome)


def test_train_cli_unknown_param_is_a_usage_error(synth: pd.DataFrame, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "synth.csv"
    synth.head(600).to_csv(data, index=False)
    rc = trainer.main(["--data", str(data), "--treatment-col", "arm", "--control", "ctrl",
                       "--outcome-col", "y", "--numeric", "x1,x2", "--categorical", "region",
                       "--param", "foo=1", "--no-register", "-q"])
    assert rc == 2
    assert "hyperparameter 'foo' is not accepted by HistGradientBoostingClassifier" \
        in capsys.readouterr().err


def test_an_hgb_regressor_only_key_goes_to_the_regressor_alone() -> None:
    # quantile is HistGradientBoostingRegressor's (read only with a loss the trainer refuses,
    # harmless without one): routed to the regressor, never to the classifier, and refused when
    # the learner fits only a classifier.
    learner = make_learner("t", BaseSpec("hgb", {"quantile": 0.3}), "continuous")
    assert learner.base.regressor().get_params()["quantile"] == 0.3
    # The X-learner of a binary outcome fits both: the regressor takes it, the classifier not.
    params = make_learner("x", BaseSpec("hgb", {"quantile": 0.3}), "binary").params()
    assert params["reg.quantile"] == "0.3"
    assert "clf.quantile" not in params
    with pytest.raises(ValueError, match="'quantile' is not accepted by "
                                         "HistGradientBoostingClassifier, the base estimator of "
                                         "the t-learner for a binary outcome"):
        make_learner("t", BaseSpec("hgb", {"quantile": 0.3}), "binary")
