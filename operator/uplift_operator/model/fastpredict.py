"""Vectorised prediction of fitted HistGradientBoosting models for small batches (pure numpy).

sklearn predicts tree by tree through a Cython call per tree, about 8 µs each; a T-learner of
three 200-tree models spends ~5 ms on one row that way. Here all trees of a model are padded
into (trees × nodes) arrays and every tree is walked at once, one numpy step per depth level:
tens of µs for a row. Large batches keep sklearn's path, which is faster per row there.

Exactness: the same rule as sklearn's ``_predict_one_from_raw_data`` for numeric splits
(``x <= num_threshold`` → left, NaN → ``missing_go_to_left``), summed leaf values plus the
baseline, then the loss's inverse link (sigmoid for binary log-loss, identity for squared
error). Models with categorical splits or more than one tree per iteration are not compiled.

Compiling reads scikit-learn's private fields (``_predictors``, ``_loss``,
``_baseline_prediction``, the node record's field names). Another scikit-learn may lay them out
otherwise: a model that fails to compile (``AttributeError``, ``KeyError``, ``ValueError``,
``TypeError``, ``IndexError``) is scored by sklearn's own predict, the failure is cached with the
model (not retried per request) and logged once per process.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
SMALL_BATCH = 64  # rows; above this sklearn's per-tree loop over rows is faster


@dataclass(frozen=True)
class CompiledForest:
    feature: npt.NDArray[np.intp]        # (T, M)
    threshold: FloatArray                # (T, M)
    left: npt.NDArray[np.intp]           # (T, M)
    right: npt.NDArray[np.intp]          # (T, M)
    missing_left: npt.NDArray[np.bool_]  # (T, M)
    is_leaf: npt.NDArray[np.bool_]       # (T, M)
    value: FloatArray                    # (T, M)
    depth: int
    baseline: float
    link: str                            # "logit" or "identity"

    def raw(self, x: FloatArray) -> FloatArray:
        n, t = len(x), self.feature.shape[0]
        trees = np.arange(t)[None, :]
        node = np.zeros((n, t), dtype=np.intp)
        rows = np.arange(n)[:, None]
        for _ in range(self.depth):
            xv = x[rows, self.feature[trees, node]]
            go_left = np.where(np.isnan(xv), self.missing_left[trees, node],
                               xv <= self.threshold[trees, node])
            nxt = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(self.is_leaf[trees, node], node, nxt)
        return np.asarray(self.value[trees, node].sum(axis=1) + self.baseline, dtype=np.float64)

    def predict(self, x: FloatArray) -> FloatArray:
        """P(y=1) for classifiers, the prediction for regressors."""
        raw = self.raw(np.asarray(x, dtype=np.float64))
        return 1.0 / (1.0 + np.exp(-raw)) if self.link == "logit" else raw


def compile_hgb(model: Any) -> CompiledForest | None:
    """Compile a fitted binary HGB classifier or squared-error HGB regressor; else ``None``."""
    predictors = getattr(model, "_predictors", None)
    if not predictors or getattr(model, "n_trees_per_iteration_", 1) != 1:
        return None
    loss = type(getattr(model, "_loss", None)).__name__
    if loss == "HalfBinomialLoss":
        link = "logit"
    elif loss == "HalfSquaredError":
        link = "identity"
    else:
        return None
    trees = [it[0].nodes for it in predictors]
    if any(bool(np.any(nodes["is_categorical"])) for nodes in trees):
        return None
    m = max(len(nodes) for nodes in trees)

    def pad(field: str, dtype: Any, fill: Any) -> Any:
        out = np.full((len(trees), m), fill, dtype=dtype)
        for i, nodes in enumerate(trees):
            out[i, : len(nodes)] = nodes[field]
        return out

    depth = max(int(nodes["depth"].max()) for nodes in trees)
    return CompiledForest(
        feature=pad("feature_idx", np.intp, 0), threshold=pad("num_threshold", np.float64, 0.0),
        left=pad("left", np.intp, 0), right=pad("right", np.intp, 0),
        missing_left=pad("missing_go_to_left", np.bool_, True),
        is_leaf=pad("is_leaf", np.bool_, True), value=pad("value", np.float64, 0.0),
        depth=depth, baseline=float(np.asarray(model._baseline_prediction).ravel()[0]),
        link=link)


# Compiled forests by estimator, kept beside (not on) the estimator so that pickling a model
# after scoring it does not carry the compiled arrays (a loaded model re-compiles on first use);
# an entry goes with its estimator.
_COMPILED: weakref.WeakKeyDictionary[Any, CompiledForest | None] = weakref.WeakKeyDictionary()
#: What a failed compile reads in scikit-learn's private layout when it is not the one expected.
_LAYOUT_ERRORS = (AttributeError, KeyError, ValueError, TypeError, IndexError)
_warned = False


def _compile(model: Any) -> CompiledForest | None:
    """:func:`compile_hgb`, or ``None`` (sklearn's predict) when this scikit-learn's private
    layout is not the one it reads; logged the first time only."""
    global _warned
    try:
        return compile_hgb(model)
    except _LAYOUT_ERRORS as error:
        if not _warned:
            _warned = True
            import sklearn

            log.warning("small-batch prediction: cannot compile %s under scikit-learn %s "
                        "(%s: %s); scoring with sklearn's predict (slower for small batches)",
                        type(model).__name__, sklearn.__version__, type(error).__name__, error)
        return None


def fast_response(model: Any, x: FloatArray, *, proba: bool) -> FloatArray | None:
    """Small-batch prediction through the compiled forest (cached per model), or ``None``.

    ``proba``: P(y=1) of a classifier; else ``predict`` of a regressor.
    """
    if len(x) > SMALL_BATCH:
        return None
    try:
        compiled = _COMPILED[model]
    except KeyError:
        compiled = _COMPILED[model] = _compile(model)  # None too: a failure is not retried
    if compiled is None:
        return None
    if proba != (compiled.link == "logit"):
        return None
    result: FloatArray = compiled.predict(x)
    return result
