"""What the trainer and the learners refuse because the model would be wrong, not just odd: a
hyperparameter that stops an outcome model estimating the mean, a post-treatment feature, an
arm whose binary outcome is constant; and options checked before the data is read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from uplift_operator.model import trainer
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.trainer import TrainConfig, prepare, unbalanced_features

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
        cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1", feature),
                             "post_treatment": ("visit", "conversion", "spend")})
        with pytest.raises(ValueError, match=f"'{feature}' are post-treatment columns "
                                             r"\(--post-treatment-cols visit,conversion,spend\)"):
            prepare(frame, cfg)
    # Declared known before the decision: taken.
    cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1", "spend"), "post_treatment": ()})
    assert prepare(frame, cfg).train["spend"].notna().all()
    cfg = TrainConfig(**{**SYNTH.__dict__, "post_treatment": ("x2",)})
    with pytest.raises(ValueError, match="'x2' are post-treatment columns"):
        prepare(frame, cfg)


def test_hillstroms_post_treatment_columns_are_the_default_of_hillstrom_runs_only(
        synth: pd.DataFrame) -> None:
    # Hillstrom's arms (segment, 'No E-Mail'): its visit, conversion and spend are refused.
    assert TrainConfig().post_treatment_cols() == ("visit", "conversion", "spend")
    with pytest.raises(ValueError, match="'spend' are post-treatment columns"):
        trainer.check_config(TrainConfig(outcome_col="conversion", numeric=("recency", "spend")))
    # Another dataset: a column named spend is whatever that data says it is; none by default.
    assert SYNTH.post_treatment_cols() == ()
    frame = synth.assign(spend=np.random.default_rng(0).gamma(2.0, size=len(synth)))
    cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1", "spend")})
    assert list(prepare(frame, cfg).train.columns).count("spend") == 1
    assert TrainConfig(treatment_col="segment", control="ctrl").post_treatment_cols() == ()
    assert trainer.parse_args(["--treatment-col", "arm"]).post_treatment_cols() == ()
    assert trainer.parse_args([]).post_treatment_cols() == ("visit", "conversion", "spend")
    assert trainer.parse_args(["--post-treatment-cols", ""]).post_treatment_cols() == ()


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
                                         r"outcome\) and fit every arm, each needs at least 2: "
                                         r"arm 'B' has 1 row\(s\) with outcome 1 \(of \d+\); "
                                         "train on more rows"):
        prepare(frame, TrainConfig(**{**SYNTH.__dict__, "sample": None}))


def test_an_arm_left_without_an_outcome_by_sample_is_named_before_the_fit(
        synth: pd.DataFrame) -> None:
    # B converts in 3 of its rows: in the data, not in a sample of 300 rows (0 rows, which a
    # count of the strata present never lists); the learner would have named "treatment code 2".
    frame = synth[~((synth["arm"] == "B") & (synth["y"] == 1))]
    frame = pd.concat([frame, synth[(synth["arm"] == "B") & (synth["y"] == 1)].head(3)])
    cfg = TrainConfig(**{**SYNTH.__dict__, "sample": 300, "seed": 1})
    assert len(prepare(frame, TrainConfig(**{**SYNTH.__dict__, "sample": None})).train) > 300
    with pytest.raises(ValueError, match=r"arm 'B' has 0 row\(s\) with outcome 1 \(of \d+\); "
                                         r"raise --sample \(now 300 of \d+ rows\)"):
        prepare(frame, cfg)
    # A continuous outcome: an arm with no sampled row at all is named too.
    few_b = pd.concat([synth[synth["arm"] != "B"], synth[synth["arm"] == "B"].head(3)])
    continuous = few_b.assign(y=np.random.default_rng(0).gamma(2.0, size=len(few_b)))
    with pytest.raises(ValueError, match=r"arm 'B' has 0 row\(s\); raise --sample"):
        prepare(continuous, TrainConfig(**{**SYNTH.__dict__, "sample": 300, "seed": 1}))


def test_an_arm_the_training_split_leaves_without_an_outcome_is_named(
        synth: pd.DataFrame) -> None:
    # Two converted B rows pass the stratified split's check, but a 90 % test split can take
    # both: the rows the learner fits would have none.
    frame = synth[~((synth["arm"] == "B") & (synth["y"] == 1))]
    frame = pd.concat([frame, synth[(synth["arm"] == "B") & (synth["y"] == 1)].head(2)])
    cfg = TrainConfig(**{**SYNTH.__dict__, "sample": None, "test_size": 0.9})
    with pytest.raises(ValueError, match=r"the training split leaves an arm without a row of an "
                                         r"outcome.*arm 'B' has 0 row\(s\) with outcome 1.*"
                                         "lower --test-size"):
        prepare(frame, cfg)


def test_a_feature_unbalanced_across_arms_is_flagged(synth: pd.DataFrame) -> None:
    cfg = TrainConfig(**{**SYNTH.__dict__, "sample": None})
    assert prepare(synth, cfg).unbalanced == []  # randomised, pre-treatment: balanced
    rng = np.random.default_rng(1)
    # Observed after the treatment (it follows the outcome) but not listed as such.
    frame = synth.assign(clicks=synth["y"] * 10 + rng.normal(size=len(synth)),
                         page=np.where(synth["y"] == 1, "thanks", "home"))
    cfg = TrainConfig(**{**cfg.__dict__, "numeric": ("x1", "x2", "clicks"),
                         "categorical": ("region", "page")})
    found = {f.feature: f for f in prepare(frame, cfg).unbalanced}
    assert set(found) == {"clicks", "page"}
    assert found["clicks"].arm == "A" and found["clicks"].category is None
    assert found["clicks"].effect >= 0.1 and found["clicks"].z > 5
    assert found["page"].category in ("'thanks'", "'home'")
    message = trainer.unbalanced_message(list(found.values()))
    assert message.startswith("assignment may not be random: feature(s) 'clicks' ('A' vs "
                              "control: standardised mean difference +")
    assert message.index("may not be random") < message.index("--post-treatment-cols")


def test_a_negligible_imbalance_on_big_data_is_not_flagged() -> None:
    # z grows with √n: a 0.02-SD shift is |z| ≈ 8 at 1e6 rows, and harmless.
    rng = np.random.default_rng(0)
    n = 1_000_000
    arm = rng.choice(["ctrl", "A"], n)
    frame = pd.DataFrame({"arm": arm, "y": rng.integers(0, 2, n),
                          "x1": rng.normal(size=n) + 0.02 * (arm == "A"),
                          "x2": rng.normal(size=n) + 0.2 * (arm == "A"),
                          "region": np.where(rng.uniform(size=n) < 0.5 + 0.01 * (arm == "A"),
                                             "north", "south")})
    cfg = TrainConfig(**{**SYNTH.__dict__, "sample": None})
    [found] = unbalanced_features(frame, cfg, ["A"])
    assert (found.feature, found.arm) == ("x2", "A")
    assert found.effect == pytest.approx(0.2, abs=0.01)


def test_balance_is_checked_on_the_categories_the_model_keeps_in_linear_time() -> None:
    # 5,000 categories at 200k rows took minutes with one pass a category.
    rng = np.random.default_rng(0)
    n = 200_000
    arm = rng.choice(["ctrl", "A", "B"], n)
    zip_code = rng.integers(0, 5000, n).astype(str)
    zip_code[(arm == "A") & (rng.uniform(size=n) < 0.3)] = "99999"  # 30 % of A's rows
    frame = pd.DataFrame({"arm": arm, "y": rng.integers(0, 2, n), "x1": rng.normal(size=n),
                          "zip": zip_code})
    cfg = TrainConfig(**{**SYNTH.__dict__, "numeric": ("x1",), "categorical": ("zip",),
                         "sample": None, "max_categories": 1})
    [found] = unbalanced_features(frame, cfg, ["A", "B"])
    assert (found.feature, found.arm, found.category) == ("zip", "A", "'99999'")
    # Only "99999" is kept: every other zip code is pooled, as the model encodes them.
    cfg = TrainConfig(**{**cfg.__dict__, "max_categories": 100})
    assert [f.category for f in unbalanced_features(frame, cfg, ["A", "B"])] == ["'99999'"]


def test_prepare_flags_imbalance_on_the_sampled_rows_only(
        synth: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = trainer.unbalanced_features

    def spy(frame: pd.DataFrame, *args: Any) -> Any:
        seen.append(len(frame))
        return real(frame, *args)

    monkeypatch.setattr(trainer, "unbalanced_features", spy)
    prepare(synth, TrainConfig(**{**SYNTH.__dict__, "sample": 1500}))
    assert seen == [1500]


def test_train_cli_prints_records_and_tags_unbalanced_features(
        synth: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # a sqlite store puts artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    frame = synth.assign(clicks=synth["y"] * 10.0)
    out = tmp_path / "result.json"
    args = [a if a != "x1,x2" else "x1,x2,clicks" for a in SYNTH_ARGS]  # -q among them
    rc = trainer.main(["--data", str(_csv(frame, tmp_path)), *args, "--tracking-uri", uri,
                       "--json", str(out)])
    assert rc == 0
    err = capsys.readouterr().err.splitlines()
    warning = "uplift-operator train: warning: assignment may not be random: feature(s) " \
              "'clicks' ('A' vs control"
    assert [line for line in err if line.startswith(warning)], err
    result = json.loads(out.read_text())
    assert result["unbalanced_features"] == ["clicks"]
    mlflow.set_tracking_uri(uri)
    tags = MlflowClient().get_run(result["run_id"]).data.tags
    assert json.loads(tags["uplift.unbalanced_features"]) == ["clicks"]
