"""Agreement with scikit-uplift and causalml on Hillstrom predictions.

Predictions come from ``bench/reference_uplift_metrics.py`` (same code as the pinned numbers in
``data/reference_metrics.json``). Always compared with the pinned numbers; also live against the
libraries when they are importable. Skips when ``../shared/data/hillstrom.csv`` is absent.
The gradient-boosting model is pinned but not refitted here (it would slow the unit suite).
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from uplift_operator.stats import uplift as upl

REPO = Path(__file__).resolve().parents[3]
CSV = REPO.parent / "shared" / "data" / "hillstrom.csv"
PINNED = Path(__file__).resolve().parent / "data" / "reference_metrics.json"
SCRIPT = REPO / "bench" / "reference_uplift_metrics.py"
REFIT = ("t_learner_lr", "class_transform_lr", "t_learner_lr_rounded", "random")
TIE_FREE = ("random",)  # causalml's row order on ties is pandas' unstable sort

pytestmark = pytest.mark.skipif(not CSV.exists(), reason=f"{CSV} is absent")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_uplift_metrics", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def _data(arm: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    y, t, preds = _script().hillstrom_predictions(CSV, arm, REFIT)
    return y, t, preds


@cache
def _pinned() -> dict[str, Any]:
    out: dict[str, Any] = json.loads(PINNED.read_text())
    return out


CASES = [(arm, model) for arm in ("womens", "mens") for model in REFIT]


def _case(arm: str, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], float]:
    y, t, preds = _data(arm)
    s = preds[model]
    pinned = _pinned()["arms"][arm]["models"][model]
    # identical predictions → exact agreement; a different scikit-learn may move them slightly
    same = abs(float(s.mean()) - pinned["prediction_mean"]) < 1e-9
    return y, t, s, pinned, (1e-9 if same else 2e-3)


def test_pinned_file_names_versions() -> None:
    versions = _pinned()["versions"]
    assert versions["scikit-uplift"] == "0.5.1"
    assert versions["causalml"] == "0.18.0"


@pytest.mark.parametrize(("arm", "model"), CASES)
def test_agrees_with_pinned_sklift(arm: str, model: str) -> None:
    y, t, s, pinned, tol = _case(arm, model)
    ref = pinned["sklift"]
    assert upl.qini_coefficient(y, t, s) == pytest.approx(ref["qini_auc_score"], abs=tol)
    assert upl.auuc(y, t, s) == pytest.approx(ref["uplift_auc_score"], abs=tol)
    for strategy in ("overall", "by_group"):
        assert upl.uplift_at_k(y, t, s, 0.3, strategy) == pytest.approx(
            ref[f"uplift_at_k_{strategy}"], abs=tol
        )


@pytest.mark.parametrize(("arm", "model"), CASES)
def test_agrees_with_pinned_causalml(arm: str, model: str) -> None:
    y, t, s, pinned, tol = _case(arm, model)
    ref = pinned["causalml"]
    if model in TIE_FREE:
        assert upl.qini_score_causalml(y, t, s) == pytest.approx(ref["qini_score"], abs=tol)
        assert upl.auuc_score_causalml(y, t, s) == pytest.approx(ref["auuc_score"], abs=tol)
    else:
        # tied scores: causalml's order within a tie is unspecified; the gap stays small
        assert upl.qini_score_causalml(y, t, s) == pytest.approx(ref["qini_score"], abs=0.01)
        assert upl.auuc_score_causalml(y, t, s) == pytest.approx(ref["auuc_score"], abs=0.01)


def test_womens_beats_random_and_mens_does_not() -> None:
    # the gate's natural test case: Womens arm has a real ranking signal, Mens has none
    y, t, preds = _data("womens")
    est, lo, _ = upl.bootstrap_ci(upl.qini_coefficient, y, t, preds["t_learner_lr"], n_resamples=60)
    assert est == pytest.approx(0.087, abs=0.002)
    assert lo > 0
    y, t, preds = _data("mens")
    est, lo, hi = upl.bootstrap_ci(upl.qini_coefficient, y, t, preds["t_learner_lr"], n_resamples=60)
    assert lo < 0 < hi


@pytest.mark.filterwarnings("ignore:Function stable_cumsum is deprecated:FutureWarning")
@pytest.mark.parametrize(("arm", "model"), CASES)
def test_agrees_with_live_sklift(arm: str, model: str) -> None:
    sk = pytest.importorskip("sklift.metrics")
    y, t, s, _, _ = _case(arm, model)
    assert upl.qini_coefficient(y, t, s) == pytest.approx(sk.qini_auc_score(y, s, t), abs=1e-12)
    assert upl.auuc(y, t, s) == pytest.approx(sk.uplift_auc_score(y, s, t), abs=1e-12)
    for strategy in ("overall", "by_group"):
        assert upl.uplift_at_k(y, t, s, 0.3, strategy) == pytest.approx(
            sk.uplift_at_k(y, s, t, strategy=strategy, k=0.3), abs=1e-12
        )
    xs, qs = sk.qini_curve(y, s, t)
    _, q = upl.qini_curve(y, t, s)
    np.testing.assert_allclose(q[xs.astype(int)], qs, atol=1e-9)


@pytest.mark.parametrize("arm", ["womens", "mens"])
def test_agrees_with_live_causalml(arm: str) -> None:
    cm = pytest.importorskip("causalml.metrics")
    import pandas as pd

    y, t, preds = _data(arm)
    for model, s in preds.items():
        # give causalml our (stable, tie-free) order so that the formulas alone are compared
        order = np.argsort(s, kind="mergesort")[::-1]
        rank = np.empty(s.size)
        rank[order] = -np.arange(s.size, dtype=float)
        df = pd.DataFrame({"y": y, "w": t, "m": rank})
        for normalize in (True, False):
            q = float(cm.qini_score(df, normalize=normalize)["m"])
            a = float(cm.auuc_score(df, normalize=normalize)["m"])
            assert upl.qini_score_causalml(y, t, s, normalize) == pytest.approx(q, rel=1e-9), model
            assert upl.auuc_score_causalml(y, t, s, normalize) == pytest.approx(a, rel=1e-9), model
