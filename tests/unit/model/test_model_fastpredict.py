"""The compiled small-batch forest predicts exactly what sklearn predicts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from uplift_operator.model import fastpredict
from uplift_operator.model.fastpredict import SMALL_BATCH, compile_hgb, fast_response
from uplift_operator.model.learners import _response


def _data(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5))
    x[rng.uniform(size=x.shape) < 0.05] = np.nan  # missing values take the learned side
    y = (np.nan_to_num(x[:, 0]) + rng.normal(size=n) > 0).astype(int)
    return x, y


@pytest.mark.parametrize("depth", [2, 3, 6])
def test_classifier_matches_sklearn(depth: int) -> None:
    x, y = _data()
    model = HistGradientBoostingClassifier(max_iter=60, max_depth=depth, random_state=0).fit(x, y)
    compiled = compile_hgb(model)
    assert compiled is not None
    np.testing.assert_allclose(compiled.predict(x), model.predict_proba(x)[:, 1], rtol=1e-10,
                               atol=1e-12)
    fast = fast_response(model, x[:3], proba=True)
    assert fast is not None
    np.testing.assert_allclose(fast, model.predict_proba(x[:3])[:, 1], rtol=1e-10)


def test_regressor_matches_sklearn_and_fallbacks() -> None:
    x, y = _data()
    model = HistGradientBoostingRegressor(max_iter=40, max_depth=3, random_state=0).fit(
        x, y + 0.5 * np.nan_to_num(x[:, 1]))
    fast = fast_response(model, x[:10], proba=False)
    assert fast is not None
    np.testing.assert_allclose(fast, model.predict(x[:10]), rtol=1e-10, atol=1e-12)
    assert fast_response(model, x[: SMALL_BATCH + 1], proba=False) is None  # sklearn's path
    assert fast_response(model, x[:2], proba=True) is None  # regressor asked for a proba
    assert fast_response(LogisticRegression().fit(np.nan_to_num(x), y), x[:2], proba=True) is None


class _WithoutNodes:
    """A tree predictor as another scikit-learn might lay it out: it predicts, but has no
    ``nodes`` record for :func:`compile_hgb` to read."""

    def __init__(self, predictor: object) -> None:
        self._predictor = predictor

    def __getattr__(self, name: str) -> object:
        if name == "nodes":
            raise AttributeError(name)
        return getattr(self._predictor, name)


def test_a_private_layout_it_cannot_read_falls_back_to_sklearn_once(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _data(600)
    model = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    model._predictors = [[_WithoutNodes(p) for p in it] for it in model._predictors]
    expected = model.predict_proba(x[:3])[:, 1]   # sklearn itself still predicts
    with pytest.raises(AttributeError):
        compile_hgb(model)
    monkeypatch.setattr(fastpredict, "_warned", False, raising=False)
    calls = []
    real = fastpredict.compile_hgb

    def counted(m: object) -> object:
        calls.append(m)
        return real(m)

    monkeypatch.setattr(fastpredict, "compile_hgb", counted)
    with caplog.at_level(logging.WARNING, logger="uplift_operator.model.fastpredict"):
        for _ in range(3):
            assert fast_response(model, x[:3], proba=True) is None
            np.testing.assert_allclose(_response(model, x[:3], "binary"), expected)
        other = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(x, y)

        def renamed_field(m: object) -> object:
            raise KeyError("num_threshold")

        monkeypatch.setattr(fastpredict, "compile_hgb", renamed_field)
        assert fast_response(other, x[:3], proba=False) is None
        np.testing.assert_allclose(_response(other, x[:3], "continuous"), other.predict(x[:3]))
    assert len(calls) == 1                      # the failure is cached, not retried per request
    warnings = [r for r in caplog.records if "cannot compile" in r.getMessage()]
    assert len(warnings) == 1                   # and logged once
    assert "AttributeError" in warnings[0].getMessage()
    assert "HistGradientBoostingClassifier" in warnings[0].getMessage()
