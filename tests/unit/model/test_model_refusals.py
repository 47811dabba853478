"""What the trainer and the learners refuse because the model would be wrong, not just odd: a
hyperparameter that stops an outcome model estimating the mean, a post-treatment feature, an
arm whose binary outcome is constant; and options checked before the data is read."""

from __future__ import annotations

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
