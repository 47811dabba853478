"""The MLflow pyfunc flavour of an uplift model: log, load, signature.

The pyfunc wraps a pure :class:`~uplift_operator.model.scoring.UpliftModel`; input is a
DataFrame of the feature columns plus an optional ``unit_id`` string column (unless a feature
has that name, below), output the columns documented in :mod:`uplift_operator.model.scoring`.
The serving runtime unwraps the pyfunc (:func:`unwrap`) and scores the inner model directly.

Input types differ between the two paths, and stay so on purpose. The signature is part of the
contract the operator reads (``services/resolution.py`` takes its column types,
``domain.validation.validate_against_model`` checks ``spec.features`` against them: a
``boolean`` feature must be ``long``/``integer``/``boolean``, a ``numeric`` one any number
type), so an integer feature is ``long``, another numeric one ``double``, ``unit_id``
``string``. MLflow enforces the signature before :meth:`UpliftPyfunc.predict` runs, and no
code of ours can widen it there: the pyfunc takes integer features as integers (a float, even
``3.0``, is refused), other numeric features as floats (int64 only when every value is 0 or 1;
narrower integers widen) and ``unit_id`` as strings. :meth:`UpliftModel.score
<uplift_operator.model.scoring.UpliftModel.score>`, which the runtime calls on columns decoded
by each request's own datatype, takes any numeric dtype for a numeric feature (the runtime
takes integer or string unit ids). Declaring every numeric feature ``double`` would make the
pyfunc take what the runtime takes, but would break the contract for ``boolean`` features;
tightening ``score`` would refuse runtime requests that are valid today. Callers of the pyfunc
cast first (``frame.astype({...})``); docs/dataplane.md, "The pyfunc".

A feature may be named ``unit_id`` (a customer id the model was trained on; the runtime takes
the unit key as a feature too): the signature then lists it once, with the feature's type, and
no optional string ``unit_id`` beside it (MLflow refuses every input of a schema naming a
column twice).

The logged input example is one synthetic row built from the schema (:func:`input_example`),
never training rows: MLflow stores it with the model (``input_example.json``,
``serving_input_example.json``), readable by anyone who can read the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import sklearn
from mlflow.models import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types import ColSpec, Schema

from uplift_operator.model.scoring import UNIT_ID, UpliftModel

ARTIFACT_NAME = "model"


class UpliftPyfunc(PythonModel):
    """``mlflow.pyfunc`` wrapper; the fitted :class:`UpliftModel` is pickled with it."""

    def __init__(self, model: UpliftModel) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.model.predict_frame(frame)


def signature(model: UpliftModel) -> ModelSignature:
    """Typed input/output schema: numeric features as long (integers in training) or double,
    categoricals and the unit id as string (the operator's contract: see the module docstring).
    MLflow will not widen int64 to double itself, nor narrow a whole float to long."""
    inputs: list[Any] = [ColSpec("long" if n in model.schema.integer else "double", n)
                         for n in model.schema.numeric]
    inputs += [ColSpec("string", n) for n in model.schema.categorical]
    if UNIT_ID not in model.schema.names:  # a unit_id feature is the column, with its own type
        inputs.append(ColSpec("string", UNIT_ID, required=False))
    outputs: list[Any] = [ColSpec("string", UNIT_ID, required=False)]
    outputs += [ColSpec("string" if c == "best_treatment" else "double", c)
                for c in model.output_columns()]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


EXAMPLE_UNIT_ID = "example-unit-1"
EXAMPLE_CATEGORY = "example"   # a categorical feature without categories: encodes as unseen


def _example_number(model: UpliftModel, name: str) -> float:
    """A central value of a numeric feature: the middle of its drift-bin edges (training
    quantiles, already logged in ``reference/feature_histograms.json``), else 0."""
    bins = model.drift_binning.features.get(name) if model.drift_binning is not None else None
    edges = bins.edges if bins is not None else ()
    return float(edges[len(edges) // 2]) if edges else 0.0


def input_example(model: UpliftModel) -> pd.DataFrame:
    """One synthetic row in the signature's types, from the schema alone (no training row):
    each categorical's first category, each numeric's :func:`_example_number`, a made-up unit
    id (unless ``unit_id`` is a feature: its value is the feature's)."""
    columns: dict[str, Any] = {}
    for n in model.schema.numeric:
        value = _example_number(model, n)
        columns[n] = (np.array([round(value)], dtype=np.int64) if n in model.schema.integer
                      else np.array([value], dtype=np.float64))
    for n in model.schema.categorical:
        categories = model.schema.categories.get(n) or (EXAMPLE_CATEGORY,)
        columns[n] = pd.Series([categories[0]], dtype=object)
    if UNIT_ID not in columns:
        columns[UNIT_ID] = pd.Series([EXAMPLE_UNIT_ID], dtype=object)
    return pd.DataFrame(columns)


def pip_requirements() -> list[str]:
    # Explicit list: MLflow's requirement inference re-imports the model in a subprocess, which
    # costs seconds per training run. ``uplift-operator`` itself is baked into the runtime image.
    return [f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]


def log_model(model: UpliftModel, registered_model_name: str | None = None, *,
              example: bool = True) -> Any:
    """Log under the active run, with the synthetic :func:`input_example` unless ``example`` is
    false; returns MLflow's ``ModelInfo``."""
    return mlflow.pyfunc.log_model(
        name=ARTIFACT_NAME, python_model=UpliftPyfunc(model), signature=signature(model),
        input_example=input_example(model) if example else None,
        registered_model_name=registered_model_name,
        pip_requirements=pip_requirements())


def save_model(model: UpliftModel, path: str | Path) -> None:
    """Save to a local directory (no tracking server), e.g. for the runtime's local-path mode."""
    mlflow.pyfunc.save_model(str(path), python_model=UpliftPyfunc(model),
                             signature=signature(model), pip_requirements=pip_requirements())


def unwrap(pyfunc_model: Any) -> UpliftModel:
    """The :class:`UpliftModel` inside a loaded pyfunc; ``TypeError`` for other flavours."""
    inner = pyfunc_model.unwrap_python_model()
    if not isinstance(inner, UpliftPyfunc):
        raise TypeError(f"not an uplift-operator model: {type(inner).__name__}")
    return inner.model


def load(uri: str) -> UpliftModel:
    """Load ``models:/name/version``, ``models:/name@alias``, ``runs:/…`` or a local path."""
    return unwrap(mlflow.pyfunc.load_model(uri))
