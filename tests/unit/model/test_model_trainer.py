"""The trainer end to end on a Hillstrom sample with a file-backed MLflow (no server)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from uplift_operator.model import pyfunc, trainer
from uplift_operator.model.trainer import TrainConfig, prepare


def test_prepare_stratifies_and_validates(hillstrom_csv: Path) -> None:
    frame = pd.read_csv(hillstrom_csv)
    prep = prepare(frame, TrainConfig(sample=6000, seed=3))
    assert prep.treatments == ("Mens E-Mail", "Womens E-Mail")
    assert len(prep.train) == 4200
    assert len(prep.test) == 1800
    share = prep.train.groupby("segment")["visit"].mean()
    share_test = prep.test.groupby("segment")["visit"].mean()
    assert (share - share_test).abs().max() < 0.005
    with pytest.raises(ValueError, match="control 'nobody'"):
        prepare(frame, TrainConfig(control="nobody"))
    with pytest.raises(ValueError, match="lacks columns"):
        prepare(frame, TrainConfig(outcome_col="clicks"))


def test_prepare_refuses_treatments_the_runtime_could_not_serve(synth: pd.DataFrame) -> None:
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl", numeric=("x1",),
                      categorical=())
    long_name = "A" * 65
    with pytest.raises(ValueError, match="at most 64; shorten the name"):
        prepare(synth.replace({"arm": {"A": long_name}}), cfg)
    with pytest.raises(ValueError, match="same key 'a'"):
        prepare(synth.replace({"arm": {"B": "a"}}), cfg)


def test_train_cli_logs_contract_and_registers(hillstrom_csv: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a sqlite store puts artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "result.json"
    rc = trainer.main([
        "--data", str(hillstrom_csv), "--sample", "8000", "--param", "max_iter=40",
        "--n-bootstrap", "30", "--tracking-uri", uri, "--model-name", "hill", "--alias",
        "candidate", "--json", str(out), "--learner", "t"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "[1/" in err
    assert "bootstrap Qini CI" in err
    result = json.loads(out.read_text())
    assert result["model_uri"] == "models:/hill/1"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    run = client.get_run(result["run_id"])
    for key in ("mens_e_mail", "womens_e_mail"):
        for metric in ("qini", "qini_lower", "qini_upper", "auuc", "uplift_at_10",
                       "uplift_at_20", "uplift_at_30"):
            assert f"{metric}.{key}" in run.data.metrics
        m = run.data.metrics
        assert m[f"qini_lower.{key}"] <= m[f"qini.{key}"] <= m[f"qini_upper.{key}"]
    assert run.data.params["learner"] == "t"
    assert run.data.params["base.max_iter"] == "40"
    # The Hillstrom default post-treatment refusal list is recorded with the run.
    assert run.data.params["post_treatment_cols"] == ",".join(
        TrainConfig(data=hillstrom_csv).post_treatment_cols())
    assert run.data.params["post_treatment_cols"]
    assert json.loads(run.data.tags["uplift.treatments"]) == {
        "mens_e_mail": "Mens E-Mail", "womens_e_mail": "Womens E-Mail"}
    # Hillstrom's default features are pre-treatment and randomised: none flagged.
    assert result["unbalanced_features"] == []
    assert json.loads(run.data.tags["uplift.unbalanced_features"]) == []
    artifacts = {a.path for a in client.list_artifacts(result["run_id"], "reference")}
    assert {"reference/feature_histograms.json", "reference/uplift_distribution.json",
            "reference/qini_bootstrap.json"} <= artifacts
    # The qini gate's input, in the format docs/dataplane.md documents.
    boot = mlflow.artifacts.load_dict(f"runs:/{result['run_id']}/reference/qini_bootstrap.json")
    assert re.fullmatch(r"[0-9a-f]{32}", boot["evaluationSet"])
    assert set(boot["treatments"]) == {"mens_e_mail", "womens_e_mail"}
    for key, entry in boot["treatments"].items():
        assert entry["estimate"] == pytest.approx(run.data.metrics[f"qini.{key}"])
        assert len(entry["replicates"]) == 30
    hist = mlflow.artifacts.load_dict(f"runs:/{result['run_id']}/reference/feature_histograms.json")
    assert hist["n"] == 5600
    assert hist["features"]["channel"]["kind"] == "categorical"
    assert str(client.get_model_version_by_alias("hill", "candidate").version) == "1"
    # The registered pyfunc scores a DataFrame with the documented columns.
    model = mlflow.pyfunc.load_model("models:/hill@candidate")
    frame = pd.read_csv(hillstrom_csv).head(4)
    scored = model.predict(frame[["recency", "history", "mens", "womens", "newbie", "zip_code",
                                  "channel"]].assign(unit_id=["a", "b", "c", "d"]))
    assert list(scored["unit_id"]) == ["a", "b", "c", "d"]
    assert {"uplift_mens_e_mail", "uplift_womens_e_mail", "best_treatment"} <= set(scored.columns)
    assert pyfunc.unwrap(model).treatments == ("Mens E-Mail", "Womens E-Mail")
    sig = model.metadata.get_input_schema().input_names()
    assert "unit_id" in sig


def test_missing_data_file_is_a_usage_error(tmp_path: Path) -> None:
    assert trainer.main(["--data", str(tmp_path / "nope.csv")]) == 2
