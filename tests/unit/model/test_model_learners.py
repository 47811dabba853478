"""Each meta-learner recovers the known heterogeneous effects of a synthetic two-treatment set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import LEARNERS, BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments

SMALL = {"max_iter": 60, "max_depth": 3, "learning_rate": 0.1}


def _fit(synth: pd.DataFrame, name: str, base: str = "hgb") -> UpliftModel:
    schema = FeatureSchema.fit(synth, ["x1", "x2"], ["region"])
    t = encode_treatments(synth["arm"].tolist(), "ctrl", ("A", "B"))
    spec = BaseSpec("hgb", SMALL, seed=1) if base == "hgb" else BaseSpec("logistic", seed=1)
    learner = make_learner(name, spec).fit(schema.transform(synth), t, synth["y"].to_numpy())
    return UpliftModel(schema, learner, ("A", "B"), "ctrl")


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learner_ranks_true_effects(synth: pd.DataFrame, name: str) -> None:
    model = _fit(synth, name)
    pred = model.score(synth)
    assert pred.uplift.shape == (len(synth), 2)
    for j, truth in enumerate(["true_a", "true_b"]):
        high = synth[truth] == synth[truth].max()
        # The units that truly benefit get clearly larger predicted uplift.
        gap = pred.uplift[high.to_numpy(), j].mean() - pred.uplift[~high.to_numpy(), j].mean()
        assert gap > 0.1, (name, truth, gap)
    if model.learner.gives_responses:
        assert pred.treated is not None
        assert pred.control is not None
        if name != "x":  # the X-learner's uplift is its own stage-2 estimate
            np.testing.assert_allclose(pred.treated - pred.control[:, None], pred.uplift,
                                       atol=1e-9)


def test_logistic_base_and_params(synth: pd.DataFrame) -> None:
    model = _fit(synth, "ct", base="logistic")
    params = model.learner.params()
    assert params["learner"] == "ct"
    assert params["base"] == "logistic"
    assert params["base.C"] == "1.0"
    assert model.score(synth.head(5)).uplift.shape == (5, 2)


def test_hgb_params_logged_with_overrides(synth: pd.DataFrame) -> None:
    params = _fit(synth, "t").learner.params()
    assert params["base.max_iter"] == "60"
    assert params["base.learning_rate"] == "0.1"
    assert params["seed"] == "1"


def test_unknown_learner_and_missing_arm() -> None:
    with pytest.raises(ValueError, match="unknown learner"):
        make_learner("causal-forest")
    learner = make_learner("t")
    with pytest.raises(ValueError, match="treatment codes present"):
        learner.fit(np.zeros((4, 1)), [0, 0, 1, 1], [0, 1, 0, 1], n_treatments=2)


def test_class_transformation_needs_binary_outcome() -> None:
    learner = make_learner("ct")
    learner.outcome = "continuous"
    with pytest.raises(ValueError, match="binary"):
        learner.fit(np.zeros((4, 1)), [0, 0, 1, 1], [0.0, 1.5, 0.0, 2.0])


def test_predict_frame_columns_and_best_treatment(synth: pd.DataFrame) -> None:
    model = _fit(synth, "t")
    frame = synth.head(50).assign(unit_id=[f"u{i}" for i in range(50)])
    out = model.predict_frame(frame)
    assert list(out.columns) == ["unit_id", "uplift_a", "uplift_b", "treated_a", "treated_b",
                                 "control", "best_treatment"]
    assert model.output_columns() == list(out.columns)[1:]
    best = model.best_treatment(np.array([[0.1, 0.2], [-0.1, -0.01], [0.3, 0.0]]))
    assert best == ["b", "none", "a"]
    assert model.resolve_treatment("A") == 0
    assert model.resolve_treatment("b") == 1
    with pytest.raises(ValueError, match="unknown treatment"):
        model.resolve_treatment("C")
