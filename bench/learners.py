"""Qini of our uplift learners vs scikit-uplift's and causalml's on one fixed Hillstrom split.

Split and features follow the baseline in ``uplift-stats.md`` §4: outcome ``visit``; features
recency, history, mens, womens, newbie, one-hot zip_code and channel; one 70/30 split of all
64,000 rows stratified on (segment, visit), seed 42 (the trainer's split). Each mail arm is
evaluated against No E-Mail on the test rows of those two arms. Our learners are fitted once on
all three arms (multi-treatment); sklift's are binary, so they are fitted per arm on the arm's
and control's training rows; causalml's meta-learners take the three arms natively.

Base estimator everywhere: HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05,
max_iter=200, early_stopping=False, random_state=42) (our "T-learner (LR)" row uses a
standardised logistic regression). Metrics on the same scores, from ``uplift_operator.stats``:
Qini (sklift ``qini_auc_score``-normalised) with a 95 % percentile-bootstrap interval (rows
resampled within arms, predictions fixed), causalml-style Qini, uplift@30 %.

    .venv/bin/python bench/learners.py [--n-bootstrap 200] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn.ensemble
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from uplift_operator.model.features import FeatureSchema
from uplift_operator.model.learners import BaseSpec, make_learner
from uplift_operator.model.scoring import encode_treatments
from uplift_operator.model.trainer import TrainConfig, prepare
from uplift_operator.stats import uplift as um

CONTROL = "No E-Mail"
ARMS = ("Mens E-Mail", "Womens E-Mail")
HGB = {"max_depth": 3, "learning_rate": 0.05, "max_iter": 200, "early_stopping": False,
       "random_state": 42}

Scorer = Callable[[pd.DataFrame, pd.DataFrame], dict[str, np.ndarray]]


def hgb_c() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(**HGB)


def hgb_r() -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(**HGB)


def ours(name: str, base: str = "hgb") -> Scorer:
    def run(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
        cfg = TrainConfig()
        schema = FeatureSchema.fit(train, cfg.numeric, cfg.categorical)
        t = encode_treatments(train["segment"].tolist(), CONTROL, ARMS)
        params = {k: v for k, v in HGB.items() if k != "random_state"} if base == "hgb" else {}
        learner = make_learner(name, BaseSpec(base, params, seed=42))  # type: ignore[arg-type]
        learner.fit(schema.transform(train), t, train["visit"].to_numpy())
        u = learner.predict(schema.transform(test)).uplift
        return {arm: u[:, j] for j, arm in enumerate(ARMS)}
    return run


def _design(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    cfg = TrainConfig()
    schema = FeatureSchema.fit(train, cfg.numeric, cfg.categorical)
    return schema.transform(train), schema.transform(test)


def sklift(kind: str) -> Scorer:
    from sklift.models import ClassTransformation, SoloModel, TwoModels

    def run(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
        x_train, x_test = _design(train, test)
        out = {}
        for arm in ARMS:
            rows = train["segment"].isin([CONTROL, arm]).to_numpy()
            treat = (train["segment"][rows] == arm).astype(int).to_numpy()
            y = train["visit"].to_numpy()[rows]
            if kind == "two_models":
                model: Any = TwoModels(estimator_trmnt=hgb_c(), estimator_ctrl=hgb_c(),
                                       method="vanilla")
            elif kind == "solo_model":
                model = SoloModel(estimator=hgb_c(), method="dummy")
            else:
                model = ClassTransformation(estimator=hgb_c())
            model.fit(x_train[rows], y, treat)
            out[arm] = np.asarray(model.predict(x_test), dtype=np.float64).ravel()
        return out
    return run


def causalml(kind: str) -> Scorer:
    from causalml.inference.meta import BaseSClassifier, BaseTClassifier, BaseXClassifier

    def run(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, np.ndarray]:
        x_train, x_test = _design(train, test)
        if kind == "t":
            model: Any = BaseTClassifier(learner=hgb_c(), control_name=CONTROL)
        elif kind == "s":
            model = BaseSClassifier(learner=hgb_c(), control_name=CONTROL)
        else:
            model = BaseXClassifier(outcome_learner=hgb_c(), effect_learner=hgb_r(),
                                    control_name=CONTROL)
        treatment = train["segment"].to_numpy()
        y = train["visit"].to_numpy()
        if kind == "x":
            # Randomised experiment: pass the known assignment shares as the propensity.
            p = {arm: np.full(len(train), float((treatment == arm).sum())
                              / float(np.isin(treatment, [arm, CONTROL]).sum()))
                 for arm in ARMS}
            model.fit(x_train, treatment, y, p=p)
            p_test = {arm: np.full(len(test), p[arm][0]) for arm in ARMS}
            tau = model.predict(x_test, p=p_test)
        else:
            model.fit(x_train, treatment, y)
            tau = model.predict(x_test)
        groups = list(model.t_groups)
        return {arm: np.asarray(tau[:, groups.index(arm)], dtype=np.float64) for arm in ARMS}
    return run


CANDIDATES: list[tuple[str, str, Scorer]] = [
    ("ours", "T-learner (HGB)", ours("t")),
    ("ours", "T-learner (LR)", ours("t", "logistic")),
    ("ours", "S-learner (HGB)", ours("s")),
    ("ours", "class transformation (HGB)", ours("ct")),
    ("ours", "X-learner (HGB)", ours("x")),
    ("sklift 0.5.1", "TwoModels vanilla (HGB)", sklift("two_models")),
    ("sklift 0.5.1", "SoloModel dummy (HGB)", sklift("solo_model")),
    ("sklift 0.5.1", "ClassTransformation (HGB)", sklift("ct")),
    ("causalml 0.18.0", "BaseTClassifier (HGB)", causalml("t")),
    ("causalml 0.18.0", "BaseSClassifier (HGB)", causalml("s")),
    ("causalml 0.18.0", "BaseXClassifier (HGB)", causalml("x")),
]


def evaluate(test: pd.DataFrame, scores: dict[str, np.ndarray], n_bootstrap: int
             ) -> dict[str, dict[str, float]]:
    out = {}
    labels = test["segment"].to_numpy()
    y_all = test["visit"].to_numpy(dtype=np.float64)
    for arm in ARMS:
        rows = np.isin(labels, [CONTROL, arm])
        y, t, s = y_all[rows], (labels[rows] == arm).astype(np.float64), scores[arm][rows]
        q, lo, hi = um.bootstrap_ci(um.qini_coefficient, y, t, s, n_resamples=n_bootstrap,
                                    seed=0)
        out[arm] = {"qini": q, "lo": lo, "hi": hi, "qini_cml": um.qini_score_causalml(y, t, s),
                    "u30": um.uplift_at_k(y, t, s, 0.3), "n": float(rows.sum())}
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=TrainConfig().data)
    p.add_argument("--n-bootstrap", type=int, default=200)
    p.add_argument("--only", default="", help="substring filter on learner names")
    p.add_argument("--markdown", type=Path, default=None)
    p.add_argument("--sample", type=int, default=0,
                   help="use this many rows (seed 0) instead of all; the smoke test uses it")
    a = p.parse_args(argv)
    _ = sklearn.ensemble  # loaded: the thread limit below reaches libgomp
    threadpool_limits(limits=1, user_api="openmp")
    warnings.filterwarnings("ignore")
    frame = pd.read_csv(a.data)
    if a.sample:
        frame = frame.sample(n=min(a.sample, len(frame)), random_state=0)
    prep = prepare(frame, TrainConfig(data=a.data))
    print(f"train {len(prep.train)}, test {len(prep.test)}", file=sys.stderr)
    lines = ["| library | learner | Womens: Qini [95 % CI] | causalml qini | uplift@30 % "
             "| Mens: Qini [95 % CI] | causalml qini | uplift@30 % | fit+predict s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for lib, name, scorer in CANDIDATES:
        if a.only and a.only.lower() not in f"{lib} {name}".lower():
            continue
        t0 = time.monotonic()
        try:
            scores = scorer(prep.train, prep.test)
        except Exception as exc:  # a competitor failing must not hide the others
            print(f"{lib} {name}: failed: {exc}", file=sys.stderr)
            continue
        elapsed = time.monotonic() - t0
        res = evaluate(prep.test, scores, a.n_bootstrap)
        cells = []
        for arm in ("Womens E-Mail", "Mens E-Mail"):
            r = res[arm]
            cells += [f"{r['qini']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]", f"{r['qini_cml']:.3f}",
                      f"{r['u30']:.3f}"]
        line = f"| {lib} | {name} | " + " | ".join(cells) + f" | {elapsed:.1f} |"
        print(line, flush=True)
        lines.append(line)
    if a.markdown:
        a.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
