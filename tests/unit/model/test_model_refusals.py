"""What the trainer and the learners refuse because the model would be wrong, not just odd: a
hyperparameter that stops an outcome model estimating the mean, a post-treatment feature, an
arm whose binary outcome is constant; and options checked before the data is read."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from uplift_operator.model import trainer
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.trainer import TrainConfig, prepare

SYNTH = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl", numeric=("x1", "x2"),
                    categorical=("region",), base="logistic", sample=1500, n_bootstrap=5,
                    quiet=True)
SYNTH_ARGS = ["--treatment-col", "arm", "--control", "ctrl", "--outcome-col", "y",
              "--numeric", "x1,x2", "--categorical", "region", "--no-register", "-q",
              "--n-bootstrap", "5", "--param", "max_iter=5"]


def _csv(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


# --- hyperparameters that bias the responses ---------------------------------------------------

@pytest.mark.parametrize(("base", "outcome", "params", "message"), [
    ("hgb", "binary", {"class_weight": "balanced"}, "'class_weight' is refused: it re-weights"),
    ("logistic", "binary", {"class_weight": {"0": 1, "1": 5}}, "'class_weight' is refused"),
    ("hgb", "continuous", {"loss": "absolute_error"},
     "loss='absolute_error' is refused for HistGradientBoostingRegressor"),
    ("hgb", "continuous", {"loss": "quantile", "quantile": 0.9}, "loss='quantile' is refused"),
])
def test_params_that_stop_a_model_estimating_the_mean_are_refused(
        base: str, outcome: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_learner("t", BaseSpec(base, params), outcome)  # type: ignore[arg-type]


def test_mean_estimating_losses_are_accepted() -> None:
    for loss in ("squared_error", "poisson", "gamma"):
        learner = make_learner("t", BaseSpec("hgb", {"loss": loss}), "continuous")
        assert learner.base.regressor().get_params()["loss"] == loss
    assert make_learner("t", BaseSpec("hgb", {"loss": "log_loss"}), "binary")
    # The X-learner fits a classifier and a regressor for a binary outcome: no loss suits both.
    with pytest.raises(ValueError, match="loss='log_loss' is refused for "
                                         "HistGradientBoostingRegressor"):
        make_learner("x", BaseSpec("hgb", {"loss": "log_loss"}), "binary")


def test_train_cli_refuses_class_weight(synth: pd.DataFrame, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    rc = trainer.main(["--data", str(_csv(synth.head(600), tmp_path)), *SYNTH_ARGS,
                       "--param", "class_weight=balanced"])
    assert rc == 2
    assert "hyperparameter 'class_weight' is refused" in capsys.readouterr().err


# --- post-treatment features -------------------------------------------------------------------

def test_post_treatment_columns_are_refused_as_features(synth: pd.DataFrame) -> None:
    frame = synth.assign(spend=synth["y"] * 30.0, visit=synth["y"])
    for feature in ("spend", "visit"):
        cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1", feature)})
        with pytest.raises(ValueError, match=f"'{feature}' are post-treatment columns "
                                             r"\(--post-treatment-cols visit,conversion,spend\)"):
            prepare(frame, cfg)
    # Declared known before the decision: taken.
    cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1", "spend"), "post_treatment": ()})
    assert prepare(frame, cfg).train["spend"].notna().all()
    cfg = TrainConfig(**{**SYNTH.__dict__, "post_treatment": ("x2",)})
    with pytest.raises(ValueError, match="'x2' are post-treatment columns"):
        prepare(frame, cfg)


def test_train_cli_refuses_hillstrom_post_treatment_features(
        hillstrom_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = trainer.main(["--data", str(hillstrom_csv), "--outcome-col", "conversion",
                       "--numeric", "recency,history,spend", "--no-register", "-q"])
    assert rc == 2
    assert "feature(s) 'spend' are post-treatment columns" in capsys.readouterr().err


# --- a binary outcome constant in an arm -------------------------------------------------------

@pytest.mark.parametrize("name", ["t", "s", "ct", "x"])
@pytest.mark.parametrize("base", ["hgb", "logistic"])
def test_an_arm_with_a_constant_binary_outcome_is_refused(name: str, base: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    t = np.repeat([0, 1, 2], 100)
    y = rng.integers(0, 2, 300).astype(float)
    y[t == 2] = 1.0  # every unit of treatment 2 converted: its uplift is positive, not < 0
    learner = make_learner(name, BaseSpec(base, {"max_iter": 20}),  # type: ignore[arg-type]
                           "binary")
    with pytest.raises(ValueError, match=r"both 0s and 1s in every arm.*treatment code 2: all "
                                         r"100 rows have outcome 1"):
        learner.fit(x, t, y, 2)


def test_prepare_names_the_arm_whose_binary_outcome_is_constant(synth: pd.DataFrame) -> None:
    frame = synth.copy()
    frame.loc[frame["arm"] == "B", "y"] = 0
    with pytest.raises(ValueError, match=r"constant in arm\(s\) 'B' \(\d+ rows, all 0\)"):
        prepare(frame, SYNTH)
    # Left out with --treatments, the arm is no longer modelled: taken.
    assert prepare(frame, TrainConfig(**{**SYNTH.__dict__, "treatments": ("A",)})).treatments \
        == ("A",)


# --- options checked before the data is read ---------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--alias", "champion"], "--alias 'champion' with --no-register"),
    (["--numeric", "", "--categorical", ""], "no features: --numeric and --categorical"),
    (["--treatment-col", "y"], "--treatment-col and --outcome-col are both 'y'"),
    (["--bins", "0"], "--bins must be at least 2"),
    (["--bins", "-3"], "--bins must be at least 2"),
    (["--n-bootstrap", "0"], "--n-bootstrap must be at least 1"),
    (["--numeric", "x1,x1"], "--numeric lists 'x1' more than once"),
    (["--categorical", "region,region"], "--categorical lists 'region' more than once"),
    (["--numeric", "x1,region"], "'region' listed in both --numeric and --categorical"),
    (["--test-size", "1.5"], r"--test-size must be a fraction in \(0, 1\)"),
    (["--test-size", "nan"], r"--test-size must be a fraction in \(0, 1\)"),
    (["--sample", "0"], "--sample must be a number of rows"),
    (["--seed", "-1"], r"--seed must be in \[0, 2\*\*32 - 1\]"),
    (["--max-categories", "0"], "--max-categories must be at least 1"),
])
def test_bad_options_exit_2_before_the_data_is_read(
        synth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    def no_read(*_: Any, **__: Any) -> None:
        raise AssertionError("the data was read")

    monkeypatch.setattr(pd, "read_csv", no_read)
    rc = trainer.main(["--data", str(_csv(synth.head(600), tmp_path)), *SYNTH_ARGS, *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("uplift-operator train: ")
    assert re.search(message, err), err


def test_data_that_is_a_directory_or_unreadable_exits_2(
        synth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert trainer.main(["--data", str(tmp_path), *SYNTH_ARGS]) == 2
    assert f"--data {tmp_path} is a directory" in capsys.readouterr().err
    data = _csv(synth.head(600), tmp_path)

    def denied(*_: Any, **__: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert trainer.main(["--data", str(data), *SYNTH_ARGS]) == 2
    assert f"cannot read --data {data}: Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize(("change", "message"), [
    ("nan", r"outcome column 'y' has 3 missing or non-finite value\(s\)"),
    ("text", "outcome column 'y' has dtype"),
])
def test_an_outcome_that_is_no_finite_number_is_refused_by_name(
        synth: pd.DataFrame, change: str, message: str) -> None:
    frame = synth.copy()
    if change == "nan":
        frame["y"] = frame["y"].astype(float)
        frame.loc[frame.index[:3], "y"] = np.nan
    else:
        frame["y"] = frame["y"].map({0: "no", 1: "yes"})
    with pytest.raises(ValueError, match=message):
        prepare(frame, TrainConfig(**{**SYNTH.__dict__, "sample": None}))


def test_a_stratum_too_small_to_split_is_named(synth: pd.DataFrame) -> None:
    frame = synth[~((synth["arm"] == "B") & (synth["y"] == 1))]
    frame = pd.concat([frame, synth[(synth["arm"] == "B") & (synth["y"] == 1)].head(1)])
    with pytest.raises(ValueError, match=r"too few rows to split stratified on \(treatment, "
                                         r"outcome\): 'B\|1' \(1\)"):
        prepare(frame, TrainConfig(**{**SYNTH.__dict__, "sample": None}))


def test_a_feature_unbalanced_across_arms_is_warned_about(
        synth: pd.DataFrame, caplog: pytest.LogCaptureFixture) -> None:
    cfg = TrainConfig(**{**SYNTH.__dict__, "sample": None})
    with caplog.at_level(logging.WARNING, logger=trainer.__name__):
        prepare(synth, cfg)
    assert not caplog.records  # randomised, pre-treatment: balanced
    rng = np.random.default_rng(1)
    # Observed after the treatment (it follows the outcome) but not listed as such.
    frame = synth.assign(clicks=synth["y"] * 10 + rng.normal(size=len(synth)),
                         page=np.where(synth["y"] == 1, "thanks", "home"))
    cfg = TrainConfig(**{**cfg.__dict__, "numeric": ("x1", "x2", "clicks"),
                         "categorical": ("region", "page")})
    with caplog.at_level(logging.WARNING, logger=trainer.__name__):
        prepare(frame, cfg)
    [record] = caplog.records
    assert "differs between arms beyond chance" in record.getMessage()
    assert "'clicks' ('A' vs control" in record.getMessage()
    assert "'page' ('A' vs control" in record.getMessage()
    assert "'x1'" not in record.getMessage()
