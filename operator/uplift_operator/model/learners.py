"""Multi-treatment uplift meta-learners on scikit-learn (pure: no MLflow, no I/O).

Treatments are integer codes: ``0`` is control, ``1..K`` the K treatments (the pyfunc holds the
names). Every learner predicts, per row and treatment k, the uplift ``E[Y|x, k] - E[Y|x, 0]``
and, where the learner models responses, the treated and control responses too.

- ``t`` — two-model / T-learner: one outcome model per arm (control + each treatment).
- ``s`` — S-learner: one outcome model on features + one-hot treatment indicators.
- ``ct`` — class transformation (binary outcomes): per treatment, a classifier of
  ``z = t·y + (1−t)(1−y)`` on the {control, k} rows, arms re-weighted to 50/50 so that
  ``uplift = 2·P(z=1) − 1`` holds for any treated share.
- ``x`` — X-learner: T-learner responses, then regressions of the imputed effects in each arm,
  blended with the propensity. Assignment is assumed randomised (campaign data), so the
  propensity is the treated share of the {control, k} rows, not a fitted model.

The base estimator is sklearn's HistGradientBoosting (``hgb``, the default) or a logistic /
ridge model (``logistic``); classifiers for binary outcomes, regressors otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from uplift_operator.model.fastpredict import fast_response

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
OutcomeKind = Literal["binary", "continuous"]

HGB_DEFAULTS: dict[str, Any] = {"max_depth": 3, "learning_rate": 0.05, "max_iter": 200,
                                "early_stopping": False}
LOGISTIC_DEFAULTS: dict[str, Any] = {"C": 1.0, "max_iter": 1000}
RIDGE_DEFAULTS: dict[str, Any] = {"alpha": 1.0}


EstimatorRole = Literal["classifier", "regressor"]
ROLE_PREFIX: dict[EstimatorRole, str] = {"classifier": "clf", "regressor": "reg"}
# The estimator class that takes the hyperparameters, per base kind and role (for ``logistic``
# the last step of the scaler pipeline).
ESTIMATORS: dict[str, dict[EstimatorRole, type[BaseEstimator]]] = {
    "hgb": {"classifier": HistGradientBoostingClassifier,
            "regressor": HistGradientBoostingRegressor},
    "logistic": {"classifier": LogisticRegression, "regressor": Ridge},
}
ROLE_DEFAULTS: dict[str, dict[EstimatorRole, dict[str, Any]]] = {
    "hgb": {"classifier": HGB_DEFAULTS, "regressor": HGB_DEFAULTS},
    "logistic": {"classifier": LOGISTIC_DEFAULTS, "regressor": RIDGE_DEFAULTS},
}
# Uplift is a difference of conditional means (E[Y|x, k] − E[Y|x, 0]), so every outcome model
# must estimate the mean: the losses allowed per estimator whose conditional minimiser is the
# mean (log-loss: P(y=1|x); squared error, Poisson and gamma deviance: E[y|x]). Absolute error
# gives the median (0 for a rare conversion or a mostly-zero spend: every uplift 0), a quantile
# loss a quantile.
MEAN_LOSSES: dict[str, tuple[str, ...]] = {
    "HistGradientBoostingClassifier": ("log_loss",),
    "HistGradientBoostingRegressor": ("squared_error", "poisson", "gamma"),
}
# Hyperparameters that make an estimator's prediction something other than the arm's mean
# response, refused whichever estimator takes them.
BIASING_PARAMS: dict[str, str] = {
    "class_weight": "re-weights the classes, so the classifier no longer estimates P(y=1 | x) "
                    "but a probability shifted by each arm's own outcome rate: the uplift (a "
                    "difference of those) is biased, even of the wrong sign",
}


@dataclass(frozen=True)
class BaseSpec:
    """Which sklearn estimator the meta-learner is built from, and its hyperparameters.

    ``params`` are routed by name: each estimator gets the keys its constructor accepts
    (``C`` only to the logistic classifier, ``alpha`` only to the ridge regressor, ``max_iter``
    to both); :meth:`check` refuses a key that no estimator a learner fits accepts.
    """

    kind: Literal["hgb", "logistic"] = "hgb"
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def accepted(self, role: EstimatorRole) -> frozenset[str]:
        return frozenset(ESTIMATORS[self.kind][role]().get_params()) - {"random_state"}

    def estimator_params(self, role: EstimatorRole) -> dict[str, Any]:
        """The hyperparameters the ``role`` estimator is built with (seed aside)."""
        accepted = self.accepted(role)
        return {**ROLE_DEFAULTS[self.kind][role],
                **{k: v for k, v in self.params.items() if k in accepted}}

    def check(self, roles: Sequence[EstimatorRole], fitted_by: str = "the learner") -> None:
        """``ValueError`` naming a ``params`` key that none of the ``roles`` estimators takes."""
        names = [ESTIMATORS[self.kind][r].__name__ for r in roles]
        for key, value in self.params.items():
            if key == "random_state":
                raise ValueError("hyperparameter 'random_state' is set from the seed "
                                 "(--seed), not --param")
            if key in BIASING_PARAMS:
                raise ValueError(f"hyperparameter {key!r} is refused: it {BIASING_PARAMS[key]}; "
                                 "uplift needs each arm's mean response")
            if key == "loss":
                self._check_loss(value, roles)
            if not any(key in self.accepted(r) for r in roles):
                what = "base estimators" if len(names) > 1 else "base estimator"
                raise ValueError(f"hyperparameter {key!r} is not accepted by "
                                 f"{' or '.join(names)}, the {what} of {fitted_by}")

    def _check_loss(self, value: Any, roles: Sequence[EstimatorRole]) -> None:
        """``ValueError`` unless every ``roles`` estimator taking ``loss`` estimates the mean
        with ``value``."""
        for role in roles:
            estimator = ESTIMATORS[self.kind][role].__name__
            allowed = MEAN_LOSSES.get(estimator)
            if allowed is None or "loss" not in self.accepted(role) or value in allowed:
                continue
            raise ValueError(
                f"hyperparameter loss={value!r} is refused for {estimator}: uplift is a "
                "difference of mean responses, and only a loss whose minimiser is the mean "
                f"estimates one ({', '.join(allowed)}); absolute_error gives the median and "
                "quantile a quantile, which bias the uplift (0 for a mostly-zero outcome)")

    def classifier(self) -> BaseEstimator:
        params = self.estimator_params("classifier")
        if self.kind == "hgb":
            return HistGradientBoostingClassifier(**params, random_state=self.seed)
        return make_pipeline(StandardScaler(), LogisticRegression(**params,
                                                                  random_state=self.seed))

    def regressor(self) -> BaseEstimator:
        params = self.estimator_params("regressor")
        if self.kind == "hgb":
            return HistGradientBoostingRegressor(**params, random_state=self.seed)
        return make_pipeline(StandardScaler(), Ridge(**params))

    def outcome_model(self, outcome: OutcomeKind) -> BaseEstimator:
        return self.classifier() if outcome == "binary" else self.regressor()

    def as_params(self, roles: Sequence[EstimatorRole] = ()) -> dict[str, str]:
        """MLflow params: ``base.*`` the kind's defaults with the overrides (as before routing
        existed), ``clf.*``/``reg.*`` what each of the ``roles`` estimators was given."""
        defaults = HGB_DEFAULTS if self.kind == "hgb" else LOGISTIC_DEFAULTS
        merged = {**defaults, **self.params}
        out = {"base": self.kind, "seed": str(self.seed),
               **{f"base.{k}": str(v) for k, v in sorted(merged.items())}}
        for role in roles:
            out[f"{ROLE_PREFIX[role]}.estimator"] = ESTIMATORS[self.kind][role].__name__
            out.update({f"{ROLE_PREFIX[role]}.{k}": str(v)
                        for k, v in sorted(self.estimator_params(role).items())})
        return out


@dataclass
class UpliftPrediction:
    """Per-row, per-treatment predictions; responses are ``None`` when the learner has none."""

    uplift: FloatArray                 # (n, K)
    treated: FloatArray | None = None  # (n, K) predicted response under each treatment
    control: FloatArray | None = None  # (n,)  predicted response under control


def _response(model: Any, x: FloatArray, outcome: OutcomeKind) -> FloatArray:
    fast = fast_response(model, x, proba=outcome == "binary")
    if fast is not None:
        return fast
    if outcome == "binary":
        return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)
    return np.asarray(model.predict(x), dtype=np.float64)


def infer_outcome(y: npt.ArrayLike) -> OutcomeKind:
    values = np.unique(np.asarray(y))
    return "binary" if set(values.tolist()) <= {0, 1} else "continuous"


def _check_fit_input(x: FloatArray, t: IntArray, y: FloatArray, n_treatments: int) -> None:
    if not (len(x) == len(t) == len(y)):
        raise ValueError(f"X, treatment and y lengths differ: {len(x)}, {len(t)}, {len(y)}")
    present = set(np.unique(t).tolist())
    expected = set(range(n_treatments + 1))
    if present != expected:
        raise ValueError(f"treatment codes present {sorted(present)}, expected {sorted(expected)}"
                         " (0 = control, 1..K = treatments, each with rows)")


def _check_arm_classes(t: IntArray, y: FloatArray, n_treatments: int) -> None:
    """``ValueError`` naming each arm whose binary outcome is constant: its classifier would
    know one class (``predict_proba`` one column, its response read as 0 even when every row
    converted: an uplift of the wrong sign), and its response cannot be learned anyway."""
    bad = []
    for arm in range(n_treatments + 1):
        seen = np.unique(y[t == arm])
        if len(seen) < 2:
            what = "control (code 0)" if arm == 0 else f"treatment code {arm}"
            bad.append(f"{what}: all {int(np.sum(t == arm))} rows have outcome {seen[0]:g}")
    if bad:
        raise ValueError("a binary outcome needs both 0s and 1s in every arm, or that arm's "
                         f"response cannot be modelled; {'; '.join(bad)}")


class UpliftLearner(ABC):
    """A fitted-or-not multi-treatment uplift model over a numeric design matrix."""

    name: ClassVar[str]
    gives_responses: ClassVar[bool] = True

    def __init__(self, base: BaseSpec | None = None, outcome: OutcomeKind = "binary") -> None:
        self.base = base or BaseSpec()
        self.outcome: OutcomeKind = outcome
        self.n_treatments = 0

    def fit(self, x: FloatArray, t: npt.ArrayLike, y: npt.ArrayLike,
            n_treatments: int | None = None) -> UpliftLearner:
        t_arr = np.asarray(t, dtype=np.int64)
        y_arr = np.asarray(y, dtype=np.float64)
        k = int(t_arr.max()) if n_treatments is None else n_treatments
        self.check_params()
        _check_fit_input(x, t_arr, y_arr, k)
        if self.outcome == "binary":
            _check_arm_classes(t_arr, y_arr, k)
        self.n_treatments = k
        self._fit(np.asarray(x, dtype=np.float64), t_arr, y_arr)
        return self

    @abstractmethod
    def _fit(self, x: FloatArray, t: IntArray, y: FloatArray) -> None: ...

    @abstractmethod
    def predict(self, x: FloatArray) -> UpliftPrediction: ...

    def roles(self) -> tuple[EstimatorRole, ...]:
        """The base estimators this learner fits: the outcome model's kind by default."""
        return ("classifier",) if self.outcome == "binary" else ("regressor",)

    def check_params(self) -> None:
        """``ValueError`` for a base hyperparameter none of this learner's estimators takes."""
        self.base.check(self.roles(), f"the {self.name}-learner for a {self.outcome} outcome")

    def params(self) -> dict[str, str]:
        return {"learner": self.name, "outcome": self.outcome,
                **self.base.as_params(self.roles())}


class TLearner(UpliftLearner):
    """Two-model approach, generalised to one model per arm."""

    name = "t"

    def _fit(self, x: FloatArray, t: IntArray, y: FloatArray) -> None:
        self.models_: list[Any] = []
        for arm in range(self.n_treatments + 1):
            mask = t == arm
            self.models_.append(clone(self.base.outcome_model(self.outcome)).fit(x[mask], y[mask]))

    def predict(self, x: FloatArray) -> UpliftPrediction:
        control = _response(self.models_[0], x, self.outcome)
        treated = np.column_stack([_response(m, x, self.outcome) for m in self.models_[1:]])
        return UpliftPrediction(treated - control[:, None], treated, control)


class SLearner(UpliftLearner):
    """One model with the treatment as K one-hot input columns."""

    name = "s"

    def _augment(self, x: FloatArray, arm: int) -> FloatArray:
        onehot = np.zeros((len(x), self.n_treatments))
        if arm > 0:
            onehot[:, arm - 1] = 1.0
        return np.hstack([x, onehot])

    def _fit(self, x: FloatArray, t: IntArray, y: FloatArray) -> None:
        onehot = np.zeros((len(x), self.n_treatments))
        rows = np.nonzero(t > 0)[0]
        onehot[rows, t[rows] - 1] = 1.0
        self.model_ = clone(self.base.outcome_model(self.outcome)).fit(np.hstack([x, onehot]), y)

    def predict(self, x: FloatArray) -> UpliftPrediction:
        # One stacked call instead of K+1: sklearn's per-call overhead dominates single rows.
        n = len(x)
        stacked = np.vstack([self._augment(x, arm) for arm in range(self.n_treatments + 1)])
        resp = _response(self.model_, stacked, self.outcome).reshape(self.n_treatments + 1, n)
        control, treated = resp[0], resp[1:].T
        return UpliftPrediction(treated - control[:, None], np.ascontiguousarray(treated), control)


def _balance_weights(tk: IntArray) -> FloatArray:
    p = float(tk.mean())
    return np.where(tk == 1, 0.5 / p, 0.5 / (1.0 - p))


class ClassTransformation(UpliftLearner):
    """Class-variable transformation (Jaskowski & Jaroszewicz 2012), one model per treatment."""

    name = "ct"
    gives_responses = False

    def roles(self) -> tuple[EstimatorRole, ...]:
        return ("classifier",)

    def _fit(self, x: FloatArray, t: IntArray, y: FloatArray) -> None:
        if self.outcome != "binary":
            raise ValueError("class transformation needs a binary (0/1) outcome")
        self.models_: list[Any] = []
        for arm in range(1, self.n_treatments + 1):
            mask = (t == 0) | (t == arm)
            tk = (t[mask] == arm).astype(np.int64)
            z = (tk * y[mask] + (1 - tk) * (1 - y[mask])).astype(np.int64)
            model = clone(self.base.classifier())
            weights = _balance_weights(tk)
            # Pipelines route sample_weight by step name.
            fit_kw = ({"sample_weight": weights} if self.base.kind == "hgb"
                      else {"logisticregression__sample_weight": weights})
            self.models_.append(model.fit(x[mask], z, **fit_kw))

    def predict(self, x: FloatArray) -> UpliftPrediction:
        uplift = np.column_stack([2.0 * _response(m, x, "binary") - 1.0 for m in self.models_])
        return UpliftPrediction(uplift.astype(np.float64))


class XLearner(UpliftLearner):
    """X-learner (Künzel et al. 2019) per treatment against the shared control model."""

    name = "x"

    def roles(self) -> tuple[EstimatorRole, ...]:
        return ("classifier", "regressor") if self.outcome == "binary" else ("regressor",)

    def _fit(self, x: FloatArray, t: IntArray, y: FloatArray) -> None:
        self.stage1_ = TLearner(self.base, self.outcome)
        self.stage1_.n_treatments = self.n_treatments
        self.stage1_._fit(x, t, y)
        mu0 = self.stage1_.models_[0]
        self.tau_treated_: list[Any] = []
        self.tau_control_: list[Any] = []
        self.propensity_: list[float] = []
        for arm in range(1, self.n_treatments + 1):
            mu_k = self.stage1_.models_[arm]
            xt, yt = x[t == arm], y[t == arm]
            xc, yc = x[t == 0], y[t == 0]
            d_treated = yt - _response(mu0, xt, self.outcome)
            d_control = _response(mu_k, xc, self.outcome) - yc
            self.tau_treated_.append(clone(self.base.regressor()).fit(xt, d_treated))
            self.tau_control_.append(clone(self.base.regressor()).fit(xc, d_control))
            self.propensity_.append(len(xt) / (len(xt) + len(xc)))

    def predict(self, x: FloatArray) -> UpliftPrediction:
        base = self.stage1_.predict(x)
        cols = []
        for k in range(self.n_treatments):
            g = self.propensity_[k]
            tau1 = _response(self.tau_treated_[k], x, "continuous")
            tau0 = _response(self.tau_control_[k], x, "continuous")
            # g·τ0 + (1−g)·τ1 with g the treated share, as in Künzel et al.: the more treated
            # rows, the more weight on τ0, fitted on the control rows, whose imputed effects
            # μ_k(x) − y come from the response model of the larger (treated) arm; and the
            # other way round. The better-estimated response model gets the weight.
            cols.append(g * tau0 + (1.0 - g) * tau1)
        return UpliftPrediction(np.column_stack(cols), base.treated, base.control)


LEARNERS: dict[str, type[UpliftLearner]] = {
    cls.name: cls for cls in (TLearner, SLearner, ClassTransformation, XLearner)
}
LEARNER_ALIASES = {"two-model": "t", "tlearner": "t", "slearner": "s", "xlearner": "x",
                   "class-transformation": "ct", "class_transformation": "ct"}


def make_learner(name: str, base: BaseSpec | None = None,
                 outcome: OutcomeKind = "binary") -> UpliftLearner:
    key = LEARNER_ALIASES.get(name.lower(), name.lower())
    if key not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; choose from {sorted(LEARNERS)}")
    learner = LEARNERS[key](base, outcome)
    learner.check_params()
    return learner
