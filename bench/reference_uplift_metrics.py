"""Pin scikit-uplift and causalml uplift metrics on Hillstrom predictions, next to ours.

Usage (from the repo root)::

    .venv/bin/python bench/reference_uplift_metrics.py \
        [--data ../shared/data/hillstrom.csv] [--out tests/unit/stats/data/reference_metrics.json]

Design (docs/statistics.md §Reference agreement): outcome ``visit``; each mail arm against
"No E-Mail"; features recency, history, mens, womens, newbie, one-hot zip_code and channel;
70/30 split stratified on (treatment, visit), seed 42. Models: T-learner with logistic regression,
class transformation with logistic regression, T-learner with HistGradientBoosting (depth 3,
lr 0.05, 200 iterations), the LR T-learner rounded to 2 decimals (a score with many ties), and
random scores (seed 0). The unit tests import ``hillstrom_predictions`` from this file so that
both use the same predictions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from uplift_operator.stats import uplift as upl  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "hillstrom.csv"
DEFAULT_OUT = REPO / "tests" / "unit" / "stats" / "data" / "reference_metrics.json"
ARMS = {"womens": "Womens E-Mail", "mens": "Mens E-Mail"}
MODELS = ("t_learner_lr", "class_transform_lr", "t_learner_hgb", "t_learner_lr_rounded", "random")
K = 0.3

FloatArray = npt.NDArray[np.float64]


def _features(df: pd.DataFrame) -> FloatArray:
    num = df[["recency", "history", "mens", "womens", "newbie"]].astype(float)
    cat = pd.get_dummies(df[["zip_code", "channel"]], dtype=float)
    return np.asarray(pd.concat([num, cat], axis=1).to_numpy(), dtype=np.float64)


def _lr() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def hillstrom_predictions(
    csv: Path, arm: str, models: tuple[str, ...] = MODELS, sample: int = 0
) -> tuple[FloatArray, FloatArray, dict[str, FloatArray]]:
    """(y_test, t_test, {model: predicted uplift}) for one mail arm against No E-Mail
    (``sample``: that many rows, seed 0, for the smoke test; 0 = all)."""
    df = pd.read_csv(csv)
    if sample:
        df = df.sample(n=min(sample, len(df)), random_state=0)
    df = df[df["segment"].isin([ARMS[arm], "No E-Mail"])].reset_index(drop=True)
    x = _features(df)
    y = df["visit"].to_numpy(dtype=np.float64)
    t = (df["segment"] == ARMS[arm]).to_numpy(dtype=np.float64)
    x_tr, x_te, y_tr, y_te, t_tr, t_te = train_test_split(
        x, y, t, test_size=0.3, stratify=2 * t + y, random_state=42
    )
    preds: dict[str, FloatArray] = {}

    def t_learner(make: Any) -> FloatArray:
        m1 = make().fit(x_tr[t_tr == 1], y_tr[t_tr == 1])
        m0 = make().fit(x_tr[t_tr == 0], y_tr[t_tr == 0])
        out: FloatArray = m1.predict_proba(x_te)[:, 1] - m0.predict_proba(x_te)[:, 1]
        return out

    if {"t_learner_lr", "t_learner_lr_rounded"} & set(models):
        lr = t_learner(_lr)
        preds["t_learner_lr"] = lr
        preds["t_learner_lr_rounded"] = np.round(lr, 2)
    if "class_transform_lr" in models:
        z = t_tr * y_tr + (1 - t_tr) * (1 - y_tr)
        preds["class_transform_lr"] = 2.0 * _lr().fit(x_tr, z).predict_proba(x_te)[:, 1] - 1.0
    if "t_learner_hgb" in models:
        preds["t_learner_hgb"] = t_learner(
            lambda: HistGradientBoostingClassifier(
                max_depth=3, learning_rate=0.05, max_iter=200, random_state=0
            )
        )
    if "random" in models:
        preds["random"] = np.random.default_rng(0).random(y_te.size)
    return y_te, t_te, {m: preds[m] for m in models if m in preds}


def ours(y: FloatArray, t: FloatArray, s: FloatArray) -> dict[str, float]:
    return {
        "qini_coefficient": upl.qini_coefficient(y, t, s),
        "auuc": upl.auuc(y, t, s),
        "uplift_at_k_overall": upl.uplift_at_k(y, t, s, K, "overall"),
        "uplift_at_k_by_group": upl.uplift_at_k(y, t, s, K, "by_group"),
        "qini_score_causalml": upl.qini_score_causalml(y, t, s),
        "auuc_score_causalml": upl.auuc_score_causalml(y, t, s),
    }


def sklift_metrics(y: FloatArray, t: FloatArray, s: FloatArray) -> dict[str, float]:
    from sklift import metrics as sk

    return {
        "qini_auc_score": float(sk.qini_auc_score(y, s, t)),
        "uplift_auc_score": float(sk.uplift_auc_score(y, s, t)),
        "uplift_at_k_overall": float(sk.uplift_at_k(y, s, t, strategy="overall", k=K)),
        "uplift_at_k_by_group": float(sk.uplift_at_k(y, s, t, strategy="by_group", k=K)),
    }


def causalml_metrics(y: FloatArray, t: FloatArray, s: FloatArray) -> dict[str, float]:
    from causalml.metrics import auuc_score, qini_score

    df = pd.DataFrame({"y": y, "w": t, "model": s})
    return {
        "qini_score": float(qini_score(df, normalize=True)["model"]),
        "auuc_score": float(auuc_score(df, normalize=True)["model"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sample", type=int, default=0,
                        help="use this many rows (seed 0); the smoke test uses it, never --out's default")
    args = parser.parse_args(argv)
    versions = {
        pkg: metadata.version(pkg)
        for pkg in ("scikit-uplift", "causalml", "numpy", "scipy", "pandas", "scikit-learn")
    }
    result: dict[str, Any] = {
        "generated_by": "bench/reference_uplift_metrics.py",
        "versions": versions,
        "data_sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
        "design": "visit; arm vs No E-Mail; 70/30 split stratified on (t, y), seed 42; k = 0.3",
        "arms": {},
    }
    for arm in ARMS:
        y, t, preds = hillstrom_predictions(args.data, arm, sample=args.sample)
        arm_out: dict[str, Any] = {"n_test": int(y.size), "n_treated": int(t.sum()), "models": {}}
        for name, s in preds.items():
            est, lo, hi = upl.bootstrap_ci(upl.qini_coefficient, y, t, s, n_resamples=200, seed=0)
            arm_out["models"][name] = {
                "prediction_mean": float(s.mean()),
                "prediction_distinct": int(np.unique(s).size),
                "sklift": sklift_metrics(y, t, s),
                "causalml": causalml_metrics(y, t, s),
                "ours": ours(y, t, s),
                "ours_qini_bootstrap_95": [est, lo, hi],
            }
            print(arm, name, json.dumps(arm_out["models"][name]), flush=True)
        result["arms"][arm] = arm_out
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
