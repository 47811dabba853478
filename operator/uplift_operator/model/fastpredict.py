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
otherwise, or keep the names and change what they mean. So a compiled forest is checked once,
when it is compiled (the first small batch: the runtime's warm-up at load), against sklearn's
own predictions on probe rows: that batch's rows, a row of NaN, and rows at and past the split
thresholds (:func:`_probe_rows`). A model that fails to compile (``AttributeError``,
``KeyError``, ``ValueError``, ``TypeError``, ``IndexError``), whose compiled forest raises on the
probe rows, or whose predictions there differ from sklearn's by more than ``TOLERANCE``
(relative) is scored by sklearn's own predict; the failure is cached with the model (not
retried per request) and logged once per process.
"""

from __future__ import annotations

import logging
import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
SMALL_BATCH = 64  # rows; above this sklearn's per-tree loop over rows is faster
#: How far (relative) compiled predictions may differ from sklearn's on the probe rows: the sum
#: of the trees' values in another order differs in the last bits only.
TOLERANCE = 1e-9


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


def _warn(model: Any, why: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        import sklearn

        log.warning("small-batch prediction: cannot compile %s under scikit-learn %s (%s); "
                    "scoring with sklearn's predict (slower for small batches)",
                    type(model).__name__, sklearn.__version__, why)


def _compile(model: Any) -> CompiledForest | None:
    """:func:`compile_hgb`, or ``None`` (sklearn's predict) when this scikit-learn's private
    layout is not the one it reads; logged the first time only."""
    try:
        return compile_hgb(model)
    except _LAYOUT_ERRORS as error:
        _warn(model, f"{type(error).__name__}: {error}")
        return None


def _probe_rows(compiled: CompiledForest, x: FloatArray) -> FloatArray:
    """``x`` (the batch compiled for), a row of NaN (each split's missing side), and rows at the
    lowest, middle and highest threshold each feature is split at and past the highest (both
    sides of ``<=``); a feature no split reads is 0."""
    n_features = x.shape[1]
    split = ~compiled.is_leaf
    features, thresholds = compiled.feature[split], compiled.threshold[split]
    extra = np.zeros((5, n_features))
    extra[0] = np.nan
    for f in range(n_features):
        at = thresholds[(features == f) & np.isfinite(thresholds)]
        if len(at):
            low, mid, high = np.quantile(at, (0.0, 0.5, 1.0), method="nearest")
            extra[1:, f] = low, mid, high, high + max(1.0, abs(high))
    return np.concatenate([x, extra])


def _checked(model: Any, x: FloatArray) -> tuple[CompiledForest | None, bool]:
    """The compiled forest of ``model`` if it predicts what sklearn predicts on the probe rows
    (:func:`_probe_rows`), else ``None``; and whether that answer is to be kept (not when
    sklearn itself cannot predict these rows: they are no evidence about the forest)."""
    compiled = _compile(model)
    if compiled is None:
        return None, True
    try:
        probes = _probe_rows(compiled, x)
    except _LAYOUT_ERRORS as error:
        _warn(model, f"probe rows: {type(error).__name__}: {error}")
        return None, True
    try:
        expected = np.asarray(model.predict_proba(probes)[:, 1] if compiled.link == "logit"
                              else model.predict(probes), dtype=np.float64)
    except Exception:  # sklearn's own path answers (or raises) for these rows
        return None, False
    try:
        with np.errstate(all="ignore"):
            got = compiled.predict(probes)
    except (*_LAYOUT_ERRORS, ArithmeticError) as error:
        _warn(model, f"its compiled forest raised on probe rows: {type(error).__name__}: {error}")
        return None, True
    # relative to the largest prediction: near 0 a regressor's sums differ in the last bits
    bound = TOLERANCE * float(np.max(np.abs(expected), initial=0.0))
    if got.shape != expected.shape or not bool(np.all(np.abs(got - expected) <= bound)):
        worst = (float(np.max(np.abs(got - expected))) if got.shape == expected.shape
                 else math.nan)
        _warn(model, f"its compiled predictions differ from sklearn's on probe rows (by up to "
                     f"{worst:.3g}): the private layout means something else here")
        return None, True
    return compiled, True


def fast_response(model: Any, x: FloatArray, *, proba: bool) -> FloatArray | None:
    """Small-batch prediction through the compiled forest (cached per model), or ``None``.

    ``proba``: P(y=1) of a classifier; else ``predict`` of a regressor.
    """
    if len(x) > SMALL_BATCH:
        return None
    try:
        compiled = _COMPILED[model]
    except KeyError:
        compiled, keep = _checked(model, np.asarray(x, dtype=np.float64))
        if keep:  # None too: a failure is not retried
            _COMPILED[model] = compiled
    if compiled is None:
        return None
    if proba != (compiled.link == "logit"):
        return None
    result: FloatArray = compiled.predict(x)
    return result
