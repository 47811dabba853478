"""The pyfunc's signature when a feature is named ``unit_id``, and its logged input example:
one synthetic row from the schema, never training rows."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model

from uplift_operator.model import pyfunc
from uplift_operator.model.scoring import UpliftModel
from uplift_operator.model.trainer import TrainConfig, fit, prepare, reference_documents, train


def _unit_id_feature_model(synth: pd.DataFrame) -> tuple[pd.DataFrame, UpliftModel]:
    frame = synth.assign(unit_id=np.arange(len(synth), dtype=np.int64) + 1000)
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl",
                      numeric=("x1", "unit_id"), categorical=("region",), base="logistic",
                      sample=1500, n_bootstrap=5, quiet=True)
    prep = prepare(frame, cfg)
    model = fit(prep, cfg)
    reference_documents(model, prep.train, 10)
    return frame, model


def test_a_unit_id_feature_is_one_column_of_the_signature(synth: pd.DataFrame,
                                                          tmp_path: Path) -> None:
    frame, model = _unit_id_feature_model(synth)
    inputs = pyfunc.signature(model).inputs.inputs
    assert [c.name for c in inputs] == ["x1", "unit_id", "region"]
    unit = inputs[1]
    assert unit.type.name == "long" and unit.required   # the feature's type, not an id string

    pyfunc.save_model(model, tmp_path / "m")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    rows = frame[["x1", "unit_id", "region"]].head(3).reset_index(drop=True)
    scored = loaded.predict(rows)
    assert list(scored["unit_id"]) == [str(v) for v in rows["unit_id"]]
    assert scored["uplift_a"].to_numpy() == pytest.approx(model.score(rows).uplift[:, 0])

    # The example keeps the feature's value and type: no made-up id written over it.
    example = pyfunc.input_example(model)
    assert list(example.columns) == ["x1", "unit_id", "region"]
    assert example["unit_id"].dtype == np.int64
    assert len(loaded.predict(example)) == 1


def test_the_input_example_is_synthetic(synth: pd.DataFrame) -> None:
    _, model = _unit_id_feature_model(synth)
    example = pyfunc.input_example(model)
    assert len(example) == 1
    assert example.loc[0, "region"] == "east"   # the first category (sorted)
    assert model.drift_binning is not None
    edges = model.drift_binning.features["x1"].edges   # training quantiles, already logged
    assert example.loc[0, "x1"] == edges[len(edges) // 2]
    model.drift_binning = None
    example = pyfunc.input_example(model)
    assert example.loc[0, "x1"] == 0.0 and example.loc[0, "unit_id"] == 0


def test_the_trainer_logs_no_training_row_as_the_input_example(
        synth: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a sqlite store puts artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl",
                      numeric=("x1", "x2"), categorical=("region",), base="logistic",
                      sample=1500, n_bootstrap=5, quiet=True, register=False,
                      tracking_uri=uri)
    result = train(cfg, synth)
    mlflow.set_tracking_uri(uri)
    logged = Model.load(result.model_uri)
    example = logged.load_input_example(mlflow.artifacts.download_artifacts(result.model_uri))
    assert isinstance(example, pd.DataFrame) and len(example) == 1
    row = example.iloc[0]
    assert row["unit_id"] == pyfunc.EXAMPLE_UNIT_ID
    assert row["region"] == "east"
    # Not a training row: the example's features together match none.
    matches = synth[(synth["x1"] == row["x1"]) & (synth["x2"] == row["x2"])
                    & (synth["region"] == row["region"])]
    assert matches.empty
    # The logged model scores its own example (MLflow's serving example too).
    assert len(mlflow.pyfunc.load_model(result.model_uri).predict(example)) == 1
