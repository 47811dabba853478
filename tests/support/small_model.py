"""A small uplift model saved as the runtime loads it, for tests and benches of the runtime that
need a model, not a good one: two features, a T-learner on synthetic rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from uplift_operator.model import pyfunc
from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments

TWO_ARMS = ("Womens E-Mail", "Mens E-Mail")


def train_small_model(path: Path, arms: Sequence[str] = TWO_ARMS, rows: int = 600,
                      max_iter: int = 20) -> None:
    """Save at ``path`` a model of ``arms`` against "ctrl" (features ``x`` numeric, ``c`` of
    "p"/"q"), trained on ``rows`` seeded rows where every arm converts 20 points more."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "c": rng.choice(["p", "q"], size=rows),
                          "arm": rng.choice(["ctrl", *arms], size=rows)})
    frame["y"] = (rng.uniform(size=rows) < 0.1 + 0.2 * (frame["arm"] != "ctrl")).astype(int)
    schema = FeatureSchema.fit(frame, ["x"], ["c"])
    t = encode_treatments(frame["arm"].tolist(), "ctrl", tuple(arms))
    learner = make_learner("t", BaseSpec(params={"max_iter": max_iter})).fit(
        schema.transform(frame), t, frame["y"].to_numpy())
    pyfunc.save_model(UpliftModel(schema, learner, tuple(arms), "ctrl"), path)
