"""The pyfunc's input contract: the signature types the operator reads, and what MLflow's
enforcement of them takes, against what the runtime's path (``UpliftModel.score``) takes — the
difference docs/dataplane.md ("The pyfunc") describes."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from uplift_operator.domain.validation import _ACCEPTED_TYPES
from uplift_operator.model import pyfunc
from uplift_operator.model.trainer import TrainConfig, fit, prepare


def test_signature_types_and_what_each_path_takes(synth: pd.DataFrame, tmp_path: Path) -> None:
    frame = synth.assign(visits=(synth["x2"] * 3).round().astype("int64"))
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl",
                      numeric=("x1", "visits"), categorical=("region",), base="logistic",
                      sample=1500, n_bootstrap=5, quiet=True)
    model = fit(prepare(frame, cfg), cfg)
    types = {c.name: c.type.name for c in pyfunc.signature(model).inputs.inputs}
    assert types == {"x1": "double", "visits": "long", "region": "string", "unit_id": "string"}
    # An integer feature stays long: a spec may declare it boolean, which double would break.
    assert types["visits"] in _ACCEPTED_TYPES["boolean"]
    assert "double" not in _ACCEPTED_TYPES["boolean"]

    pyfunc.save_model(model, tmp_path / "m")
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    rows = frame[["x1", "visits", "region"]].head(3).reset_index(drop=True)
    assert len(loaded.predict(rows.assign(unit_id=["a", "b", "c"]))) == 3
    for sent in (rows.assign(visits=rows["visits"].astype(float)),         # int as float
                 rows.assign(x1=rows["x1"].round().astype("int64") + 2),    # float as int
                 rows.assign(unit_id=[1, 2, 3])):                           # integer unit id
        # The runtime's path takes it ...
        assert model.score(sent).uplift.shape == (3, 2)
        # ... MLflow's enforcement of the signature, before the pyfunc runs, does not.
        with pytest.raises(MlflowException, match="Incompatible input types"):
            loaded.predict(sent)
