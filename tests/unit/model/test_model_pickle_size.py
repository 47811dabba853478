"""The small-batch fast path's compiled forests are cached beside the estimators, not in them: a
model pickled after scoring is as large as before, and a loaded one still scores the same."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from uplift_operator.model.fastpredict import _COMPILED
from uplift_operator.model.trainer import TrainConfig, fit, prepare


def test_pickle_does_not_grow_after_small_batch_scoring(synth: pd.DataFrame) -> None:
    cfg = TrainConfig(treatment_col="arm", outcome_col="y", control="ctrl", numeric=("x1", "x2"),
                      categorical=("region",), sample=1500, params={"max_iter": 30})
    prep = prepare(synth, cfg)
    model = fit(prep, cfg)
    before = len(pickle.dumps(model))
    first = model.score(prep.test.head(3)).uplift   # compiles the forests (small batch)
    assert all(_COMPILED[m] is not None for m in model.learner.models_)  # type: ignore[attr-defined]
    assert len(pickle.dumps(model)) == before
    again = pickle.loads(pickle.dumps(model)).score(prep.test.head(3)).uplift
    np.testing.assert_allclose(again, first)
