"""The MLflow pyfunc flavour of an uplift model: log, load, signature.

The pyfunc wraps a pure :class:`~uplift_operator.model.scoring.UpliftModel`; input is a
DataFrame of the feature columns plus an optional ``unit_id`` string column, output the
columns documented in :mod:`uplift_operator.model.scoring`. The serving runtime unwraps the
pyfunc (:func:`unwrap`) and scores the inner model directly.

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
    inputs.append(ColSpec("string", UNIT_ID, required=False))
    outputs: list[Any] = [ColSpec("string", UNIT_ID, required=False)]
    outputs += [ColSpec("string" if c == "best_treatment" else "double", c)
                for c in model.output_columns()]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(model: UpliftModel, frame: pd.DataFrame, rows: int = 3) -> pd.DataFrame:
    example = frame[list(model.schema.names)].head(rows).copy()
    for n in model.schema.numeric:
        example[n] = example[n].astype(np.int64 if n in model.schema.integer else np.float64)
    example[UNIT_ID] = [f"example-{i}" for i in range(len(example))]
    return example


def pip_requirements() -> list[str]:
    # Explicit list: MLflow's requirement inference re-imports the model in a subprocess, which
    # costs seconds per training run. ``uplift-operator`` itself is baked into the runtime image.
    return [f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]


def log_model(model: UpliftModel, example_frame: pd.DataFrame | None = None,
              registered_model_name: str | None = None) -> Any:
    """Log under the active run; returns MLflow's ``ModelInfo``."""
    example = input_example(model, example_frame) if example_frame is not None else None
    return mlflow.pyfunc.log_model(
        name=ARTIFACT_NAME, python_model=UpliftPyfunc(model), signature=signature(model),
        input_example=example, registered_model_name=registered_model_name,
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
