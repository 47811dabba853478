"""A compiled forest is checked against sklearn's own predictions when it is compiled.

Another scikit-learn may keep the private fields ``compile_hgb`` reads and change what they mean:
the forest compiles, then raises per request (a feature index past the row) or scores wrongly
without a word. Each corruption below is a forest that compiles; it must be scored by sklearn's
predict instead, decided once per model and logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from uplift_operator.model import fastpredict
from uplift_operator.model.fastpredict import CompiledForest, compile_hgb, fast_response
from uplift_operator.model.learners import OutcomeKind, _response


def _data(n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 4))
    x[rng.uniform(size=x.shape) < 0.1] = np.nan  # so that splits learn a side for missing values
    y = (np.nan_to_num(x[:, 0], nan=1.0) + 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(size=n)
         > 0).astype(int)
    return x, y


def _swapped_children(c: CompiledForest) -> CompiledForest:
    return replace(c, left=c.right, right=c.left)


def _missing_side_flipped(c: CompiledForest) -> CompiledForest:
    return replace(c, missing_left=~c.missing_left)


def _feature_past_the_row(c: CompiledForest) -> CompiledForest:
    return replace(c, feature=c.feature + 100)


def _leaf_values_scaled(c: CompiledForest) -> CompiledForest:
    return replace(c, value=c.value * (1 + 1e-6))


CORRUPTIONS = [_swapped_children, _missing_side_flipped, _feature_past_the_row,
               _leaf_values_scaled]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_forest_that_compiles_but_predicts_otherwise_falls_back_to_sklearn_once(
        corrupt: Callable[[CompiledForest], CompiledForest], kind: str,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    model = (HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
             if kind == "classifier"
             else HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(x, y * 2.0))
    proba = kind == "classifier"
    outcome: OutcomeKind = "binary" if proba else "continuous"
    compiled = compile_hgb(model)
    assert compiled is not None
    calls: list[object] = []

    def corrupted(m: object) -> CompiledForest:
        calls.append(m)
        return corrupt(compiled)

    monkeypatch.setattr(fastpredict, "compile_hgb", corrupted)
    monkeypatch.setattr(fastpredict, "_warned", False)
    # the first batch as the runtime's warm-up sends it: one row of zeros, no value missing
    warm_up = np.zeros((1, x.shape[1]))
    rows = x[:5]
    expected = (model.predict_proba(rows)[:, 1] if proba else model.predict(rows))
    with caplog.at_level(logging.WARNING, logger="uplift_operator.model.fastpredict"):
        assert fast_response(model, warm_up, proba=proba) is None
        for _ in range(3):
            assert fast_response(model, rows, proba=proba) is None
            np.testing.assert_allclose(_response(model, rows, outcome), expected, rtol=1e-12)
    assert len(calls) == 1  # decided once per model, not per request
    warnings = [r.getMessage() for r in caplog.records if "cannot compile" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "probe rows" in warnings[0]


def test_a_faithful_forest_passes_the_check_from_a_warm_up_row() -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    assert fast_response(model, np.zeros((1, x.shape[1])), proba=True) is not None
    fast = fast_response(model, x[:7], proba=True)
    assert fast is not None
    np.testing.assert_allclose(fast, model.predict_proba(x[:7])[:, 1], rtol=1e-10)


def test_rows_sklearn_cannot_score_decide_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data()
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(x, y)
    monkeypatch.setattr(fastpredict, "_warned", False)
    assert fast_response(model, np.zeros((1, x.shape[1] + 1)), proba=False) is None  # too wide
    assert fast_response(model, x[:3], proba=False) is not None  # then checked and compiled
