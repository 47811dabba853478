"""The fitted uplift model as one picklable object: schema + learner + treatment names (pure).

Both the MLflow pyfunc (:mod:`uplift_operator.model.pyfunc`) and the serving runtime call
:meth:`UpliftModel.score`; the runtime uses it directly on decoded V2 columns to skip pandas and
MLflow's schema enforcement on the hot path.

Output columns of :meth:`UpliftModel.predict_frame` (and so of the pyfunc), with ``<key>`` the
:func:`~uplift_operator.model.features.treatment_key` of each treatment name:

- ``unit_id`` — echoed when the input has it;
- ``uplift_<key>`` — predicted uplift of treatment ``<key>`` over control;
- ``treated_<key>`` and ``control`` — predicted responses (only for learners that model them);
- ``best_treatment`` — the key with the largest uplift, or ``"none"`` when no uplift is > 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from uplift_operator.model.features import (
    Columns,
    DriftBinning,
    FeatureSchema,
    FloatArray,
    treatment_key,
)
from uplift_operator.model.keys import NONE
from uplift_operator.model.learners import UpliftLearner, UpliftPrediction

UNIT_ID = "unit_id"


@dataclass
class UpliftModel:
    """A trained multi-treatment uplift model and what is needed to score raw feature columns."""

    schema: FeatureSchema
    learner: UpliftLearner
    treatments: tuple[str, ...]            # original names, in learner code order 1..K
    control: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The training data's drift binning, so the runtime counts live features in the same bins
    # as the run's reference/feature_histograms.json without fetching run artifacts.
    drift_binning: DriftBinning | None = None

    @property
    def treatment_keys(self) -> tuple[str, ...]:
        return tuple(treatment_key(t) for t in self.treatments)

    def resolve_treatment(self, name: str) -> int:
        """Index (0-based) of a treatment given its name or key; ``ValueError`` when unknown."""
        keys = self.treatment_keys
        if name in self.treatments:
            return self.treatments.index(name)
        if name in keys:
            return keys.index(name)
        raise ValueError(f"unknown treatment {name!r}; known: {list(keys)}")

    def score(self, columns: Columns) -> UpliftPrediction:
        return self.learner.predict(self.schema.transform(columns))

    def output_columns(self) -> list[str]:
        cols = [f"uplift_{k}" for k in self.treatment_keys]
        if self.learner.gives_responses:
            cols += [f"treated_{k}" for k in self.treatment_keys] + ["control"]
        return [*cols, "best_treatment"]

    def best_treatment(self, uplift: FloatArray) -> list[str]:
        keys = self.treatment_keys
        best = np.argmax(uplift, axis=1)
        positive = uplift[np.arange(len(uplift)), best] > 0
        return [keys[b] if p else NONE for b, p in zip(best.tolist(), positive.tolist(),
                                                        strict=True)]

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        pred = self.score(frame)
        out: dict[str, Any] = {}
        # String columns as object dtype: MLServer 1.7's pandas codec cannot encode pandas 3's
        # "str" dtype (KeyError 'O' → HTTP 500 in the stock MLflow runtime).
        if UNIT_ID in frame.columns:
            out[UNIT_ID] = pd.Series([str(v) for v in frame[UNIT_ID]], dtype=object,
                                     index=frame.index)
        for j, key in enumerate(self.treatment_keys):
            out[f"uplift_{key}"] = pred.uplift[:, j]
        if pred.treated is not None and pred.control is not None:
            for j, key in enumerate(self.treatment_keys):
                out[f"treated_{key}"] = pred.treated[:, j]
            out["control"] = pred.control
        out["best_treatment"] = pd.Series(self.best_treatment(pred.uplift), dtype=object,
                                          index=frame.index)
        return pd.DataFrame(out, index=frame.index)


def encode_treatments(values: Sequence[Any] | pd.Series, control: str,
                      treatments: Sequence[str]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Map treatment labels to codes (control → 0, ``treatments[i]`` → i+1); -1 for others."""
    lookup = {control: 0, **{name: i + 1 for i, name in enumerate(treatments)}}
    return np.fromiter((lookup.get(str(v), -1) for v in values), dtype=np.int64,
                       count=len(values))
