"""``uplift-operator train``: fit an uplift learner, evaluate it on a holdout, log and register it.

Pure steps (:func:`prepare`, :func:`fit`, :func:`evaluate`, :func:`reference_documents`) are
separate from the MLflow I/O (:func:`log_run`), so tests and ``bench/`` reuse them.

What a run logs (the contract the operator's offline gate reads; ``<key>`` is the
:func:`~uplift_operator.model.features.treatment_key` of a treatment name, e.g. ``womens_e_mail``):

- params: learner, base estimator and its hyperparameters (``base.*``: the base kind's defaults
  with the ``--param`` overrides; ``clf.*``/``reg.*``: what each fitted classifier / regressor
  was given), data and split settings (:func:`params_of`);
- metrics per treatment on the test split: ``qini.<key>`` (normalised, sklift-compatible) with
  its percentile-bootstrap interval ``qini_lower.<key>``/``qini_upper.<key>``, ``auuc.<key>``,
  ``uplift_at_10|20|30.<key>`` (overall strategy), ``n_test.<key>``; plus ``n_train``/``n_test``;
- tags ``uplift.control``, ``uplift.treatments`` (JSON key → name), ``uplift.outcome``,
  ``uplift.unbalanced_features`` (JSON list of the features :func:`unbalanced_features` flags,
  ``[]`` for none);
- artifacts ``plots/qini_uplift_curves.png``, ``reference/feature_histograms.json``,
  ``reference/uplift_distribution.json``, ``reference/metrics.json``,
  ``reference/qini_bootstrap.json`` (:func:`qini_bootstrap_document`) and the model (``model``);
- a registered model version, optionally with an alias.

``reference/qini_bootstrap.json`` is what the qini gate judges a version by (a run without it
is INCONCLUSIVE, "retrain it with this operator's trainer")::

    {"evaluationSet": "<32 hex>",
     "treatments": {"<key>": {"estimate": 0.1046, "replicates": [0.0981, 0.1102, ...]}}}

``replicates`` are the Qini on each of the ``--n-bootstrap`` resamples of the test rows (rows
drawn with replacement within each arm, the predictions fixed); ``evaluationSet`` fingerprints
the test rows (position, treatment label, outcome; not the features) and the resampling
(``--seed``, ``--n-bootstrap``), see :func:`_evaluation_set`. Two versions with the same
fingerprint drew the same resamples, so the gate pairs their replicates one by one; versions
trained on the same data, arms and outcome with the same ``--test-size``, ``--seed``,
``--sample`` and ``--n-bootstrap`` share it whatever their learner or features. Different
fingerprints: the gate cannot pair them (INCONCLUSIVE).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from uplift_operator.model.features import (
    MAX_CATEGORIES,
    DriftBinning,
    FeatureSchema,
    categorical_strings,
    treatment_key,
    uplift_distribution,
)
from uplift_operator.model.keys import treatment_keys
from uplift_operator.model.learners import BaseSpec, OutcomeKind, infer_outcome, make_learner
from uplift_operator.model.scoring import UpliftModel, encode_treatments

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "hillstrom.csv"
HILLSTROM_NUMERIC = ("recency", "history", "mens", "womens", "newbie")
HILLSTROM_CATEGORICAL = ("zip_code", "channel")
#: Hillstrom's arm column and control arm: the run is on Hillstrom's data when both are in use.
HILLSTROM_ARMS = ("segment", "No E-Mail")
#: Hillstrom's columns observed after the e-mail was sent (two weeks of visits, conversions,
#: spend): outcomes, never features. The default --post-treatment-cols of a Hillstrom run only.
HILLSTROM_POST_TREATMENT = ("visit", "conversion", "spend")
UPLIFT_AT = (0.1, 0.2, 0.3)
#: A feature is flagged as unbalanced across arms when its difference between a treatment arm
#: and control is both beyond chance (|z| > BALANCE_Z: about 6e-7 a comparison by chance) and
#: not negligible (|effect| ≥ BALANCE_EFFECT: the standardised mean difference of a numeric
#: feature, the difference of a category's share of a categorical one). z alone grows with √n
#: and flags harmless shifts on big data (0.02 SD at 1e6 rows); the effect alone flags noise on
#: small data.
BALANCE_Z = 5.0
BALANCE_EFFECT = 0.1


@dataclass
class TrainConfig:
    data: Path = DEFAULT_DATA
    treatment_col: str = "segment"
    control: str = "No E-Mail"
    treatments: tuple[str, ...] = ()          # empty: every non-control value, sorted
    outcome_col: str = "visit"
    numeric: tuple[str, ...] = HILLSTROM_NUMERIC
    categorical: tuple[str, ...] = HILLSTROM_CATEGORICAL
    learner: str = "t"
    base: Literal["hgb", "logistic"] = "hgb"
    params: dict[str, Any] = field(default_factory=dict)
    test_size: float = 0.3
    seed: int = 42
    sample: int | None = None
    #: Bootstrap resamples of the test rows, the Qini replicates the qini gate reads. Its Fail
    #: level is α/(T·k) over T treatments and their k ≤ 3 Fail tests each, and a percentile
    #: bound at level a needs a(B + 1) ≥ 1: 600 ≥ 599 holds T·k ≤ 30 at α = 0.05 (10 treatments
    #: paired with the stable and ``max`` set); 200 held T·k ≤ 10, as few as 4 treatments.
    n_bootstrap: int = 600
    n_bins: int = 10
    max_categories: int = MAX_CATEGORIES
    #: Columns observed after the treatment (refused as features); empty: none; ``None``:
    #: Hillstrom's (visit, conversion, spend) when the run uses Hillstrom's arms
    #: (:data:`HILLSTROM_ARMS`), none otherwise (:meth:`post_treatment_cols`).
    post_treatment: tuple[str, ...] | None = None
    tracking_uri: str | None = None
    experiment: str = "uplift"
    model_name: str = "uplift-hillstrom"
    register: bool = True
    alias: str | None = None
    run_name: str | None = None
    json_out: Path | None = None
    quiet: bool = False

    def post_treatment_cols(self) -> tuple[str, ...]:
        """The columns refused as post-treatment: ``post_treatment`` when given, else
        Hillstrom's when the arm column and control are Hillstrom's, else none."""
        if self.post_treatment is not None:
            return self.post_treatment
        hillstrom = (self.treatment_col, self.control) == HILLSTROM_ARMS
        return HILLSTROM_POST_TREATMENT if hillstrom else ()


class Progress:
    """Step-wise progress on stderr: ``[5/7] bootstrap Qini CI for 'Womens E-Mail' …``."""

    def __init__(self, total: int, quiet: bool = False) -> None:
        self.total, self.step, self.quiet = total, 0, quiet
        self._t0 = time.monotonic()
        self._started = self._t0

    def start(self, what: str) -> None:
        self.step += 1
        self._t0 = time.monotonic()
        if not self.quiet:
            print(f"[{self.step}/{self.total}] {what} …", file=sys.stderr, flush=True)

    def done(self, note: str = "") -> None:
        if not self.quiet:
            extra = f" {note}" if note else ""
            print(f"    done in {time.monotonic() - self._t0:.1f}s{extra}", file=sys.stderr,
                  flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started


# --- pure steps -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Imbalance:
    """A feature whose distribution differs between a treatment arm and control beyond chance
    and by a non-negligible amount (:func:`unbalanced_features`)."""

    feature: str
    arm: str
    z: float
    #: Standardised mean difference (numeric), or difference of ``category``'s share.
    effect: float
    category: str | None = None

    def describe(self) -> str:
        what = (f"standardised mean difference {self.effect:+.2f}" if self.category is None
                else f"share of {self.category} {self.effect:+.2f}")
        return f"{self.feature!r} ({self.arm!r} vs control: {what}, z = {self.z:+.1f})"


@dataclass
class Prepared:
    train: pd.DataFrame
    test: pd.DataFrame
    treatments: tuple[str, ...]
    outcome_kind: str
    #: Features unbalanced across arms on the sampled rows, one (the largest effect) a feature.
    unbalanced: list[Imbalance] = field(default_factory=list)


def check_config(cfg: TrainConfig) -> None:
    """``ValueError`` for options that cannot work whatever the data, naming the option: checked
    before the data is read, so a bad option costs no fit."""
    if cfg.treatment_col == cfg.outcome_col:
        raise ValueError(f"--treatment-col and --outcome-col are both {cfg.outcome_col!r}; "
                         "the outcome is another column than the arm")
    if not cfg.numeric and not cfg.categorical:
        raise ValueError("no features: --numeric and --categorical are both empty; list the "
                         "columns the model reads")
    for option, names in (("--numeric", cfg.numeric), ("--categorical", cfg.categorical)):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{option} lists {', '.join(map(repr, twice))} more than once")
    both = [n for n in cfg.numeric if n in cfg.categorical]
    if both:
        raise ValueError(f"feature(s) {', '.join(map(repr, both))} listed in both --numeric and "
                         "--categorical; a column has one kind")
    features = [*cfg.numeric, *cfg.categorical]
    # The model is served before the treatment is given and the outcome is seen: neither can be
    # an input (a leak that inflates the offline Qini and that no request could satisfy).
    for role, col in (("treatment", cfg.treatment_col), ("outcome", cfg.outcome_col)):
        if col in features:
            raise ValueError(f"feature {col!r} is the {role} column; a model cannot read the "
                             f"{role} at decision time (drop it from --numeric/--categorical)")
    # Nor anything else observed after the treatment (Hillstrom: visit, conversion, spend).
    post_cols = cfg.post_treatment_cols()
    post = [c for c in features if c in post_cols]
    if post:
        raise ValueError(
            f"feature(s) {', '.join(map(repr, post))} are post-treatment columns "
            f"(--post-treatment-cols {','.join(post_cols)}): observed after the "
            "treatment, they are unknown at decision time and, as features, inflate the offline "
            "Qini; drop them from --numeric/--categorical (or, if one is known before the "
            "decision, from --post-treatment-cols)")
    if not (math.isfinite(cfg.test_size) and 0.0 < cfg.test_size < 1.0):
        raise ValueError(f"--test-size must be a fraction in (0, 1), got {cfg.test_size}")
    if cfg.sample is not None and cfg.sample < 1:
        raise ValueError(f"--sample must be a number of rows ≥ 1, got {cfg.sample}")
    if not 0 <= cfg.seed < 2**32:
        raise ValueError(f"--seed must be in [0, 2**32 - 1], got {cfg.seed}")
    if cfg.n_bootstrap < 1:
        raise ValueError(f"--n-bootstrap must be at least 1, got {cfg.n_bootstrap} (the Qini "
                         "gate needs ≥ 19 replicates at alpha 0.05; its Fail level over 10 "
                         "treatments paired with the stable and max set needs ≥ 599, the "
                         f"default {TrainConfig.n_bootstrap})")
    if cfg.n_bins < 2:
        raise ValueError(f"--bins must be at least 2 (drift bins per numeric feature), got "
                         f"{cfg.n_bins}")
    if cfg.max_categories < 1:
        raise ValueError(f"--max-categories must be at least 1, got {cfg.max_categories}")
    if cfg.alias and not cfg.register:
        raise ValueError(f"--alias {cfg.alias!r} with --no-register: an alias names a registered "
                         "version, and --no-register registers none; drop one of them")


def prepare(frame: pd.DataFrame, cfg: TrainConfig) -> Prepared:
    """Validate columns, pick treatments, sample, and split stratified on (treatment, outcome);
    check every arm has what its model needs on the sampled and the training rows, and flag
    features unbalanced across arms on the sampled rows (:attr:`Prepared.unbalanced`)."""
    from sklearn.model_selection import train_test_split

    check_config(cfg)
    features = [*cfg.numeric, *cfg.categorical]
    needed = [cfg.treatment_col, cfg.outcome_col, *features]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"data lacks columns {missing}; has {list(frame.columns)}")
    unlabelled = int(frame[cfg.treatment_col].isna().sum())
    if unlabelled:
        raise ValueError(f"{unlabelled} rows have no {cfg.treatment_col!r} label; drop them or "
                         "label them (a missing label is no arm)")
    arms = sorted(str(v) for v in frame[cfg.treatment_col].unique())
    if cfg.control not in arms:
        raise ValueError(f"control {cfg.control!r} not among {cfg.treatment_col} values {arms}")
    if cfg.control in cfg.treatments:
        raise ValueError(f"control {cfg.control!r} is listed in --treatments; treatments are "
                         "compared with the control, list only the other arms")
    treatments = cfg.treatments or tuple(a for a in arms if a != cfg.control)
    unknown = [t for t in treatments if t not in arms]
    if unknown:
        raise ValueError(f"treatments {unknown} not among {cfg.treatment_col} values {arms}")
    treatment_keys(treatments)  # the runtime serves no key it cannot put in a decision id
    frame = frame[frame[cfg.treatment_col].astype(str).isin([cfg.control, *treatments])]
    frame = _categoricals_as_strings(frame, cfg.categorical)
    _refuse_missing_features(frame, cfg)
    kind = _check_outcome(frame, cfg, treatments)
    rows = len(frame)
    if cfg.sample is not None and cfg.sample < rows:
        frame = frame.sample(n=cfg.sample, random_state=cfg.seed)
    arms = [cfg.control, *treatments]
    labels = frame[cfg.treatment_col].astype(str)
    binary = kind == "binary"
    positive = frame[cfg.outcome_col].to_numpy(dtype=np.float64) == 1.0
    counts = _arm_counts(labels, positive, arms, binary)
    if int(counts.to_numpy().min()) < 2:
        raise ValueError("too few rows to split stratified on (treatment, outcome) and fit "
                         f"every arm, each needs at least 2: {_short_cells(counts, 2, binary)}; "
                         f"{_more_rows(cfg, len(frame), rows)}")
    strata = labels + "|" + pd.Series(positive, index=frame.index).astype(str) if binary \
        else labels  # continuous outcome: arm only
    train, test = train_test_split(frame, test_size=cfg.test_size, random_state=cfg.seed,
                                   stratify=strata)
    # The rows the learner fits: a stratum of a few rows can land wholly in the test split.
    train_counts = _arm_counts(train[cfg.treatment_col].astype(str),
                               train[cfg.outcome_col].to_numpy(dtype=np.float64) == 1.0,
                               arms, binary)
    if int(train_counts.to_numpy().min()) < 1:
        raise ValueError("the training split leaves an arm without a row of an outcome, so "
                         "its response cannot be modelled: "
                         f"{_short_cells(train_counts, 1, binary)}; "
                         f"{_more_rows(cfg, len(frame), rows)} or lower --test-size")
    return Prepared(train.reset_index(drop=True), test.reset_index(drop=True), tuple(treatments),
                    kind, unbalanced_features(frame, cfg, treatments))


def _arm_counts(labels: pd.Series, positive: np.ndarray[Any, Any], arms: Sequence[str],
                binary: bool) -> pd.DataFrame:
    """Rows per arm × outcome (binary: columns ``0`` and ``1``; continuous: one column),
    every arm and outcome present, 0 where no row is."""
    if binary:
        table = pd.crosstab(labels.to_numpy(), positive.astype(np.int64))
        return table.reindex(index=list(arms), columns=[0, 1], fill_value=0)
    return labels.value_counts().reindex(list(arms), fill_value=0).to_frame("rows")


def _short_cells(counts: pd.DataFrame, least: int, binary: bool) -> str:
    """The arm × outcome cells of ``counts`` with fewer than ``least`` rows, by arm name."""
    cells = []
    for arm, row in counts.iterrows():
        total = int(row.sum())
        for outcome, n in row.items():
            if int(n) < least:
                cells.append(f"arm {arm!r} has {int(n)} row(s) with outcome {outcome} (of "
                             f"{total})" if binary else f"arm {arm!r} has {int(n)} row(s)")
    return "; ".join(cells)


def _more_rows(cfg: TrainConfig, used: int, rows: int) -> str:
    if used < rows:
        return f"raise --sample (now {cfg.sample} of {rows} rows)"
    return "train on more rows"


def _categoricals_as_strings(frame: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """Integer and boolean categorical columns as strings (``1`` → ``"1"``, ``True`` →
    ``"True"``): a categorical feature is a string in the schema, the signature and requests."""
    convert = [c for c in categorical if frame[c].dtype.kind in "biu"]
    if not convert:
        return frame
    frame = frame.copy()
    for c in convert:
        frame[c] = pd.Series([str(v) for v in frame[c].tolist()], index=frame.index,
                             dtype=object)
    return frame


def _check_outcome(frame: pd.DataFrame, cfg: TrainConfig,
                   treatments: Sequence[str]) -> OutcomeKind:
    """The outcome is numeric and finite, and a binary one has both values in every arm of the
    data (before --sample); returns the outcome's kind."""
    col = cfg.outcome_col
    if frame[col].dtype.kind not in "biuf":
        raise ValueError(f"outcome column {col!r} has dtype {frame[col].dtype}; the outcome is a "
                         "number (0/1 for a conversion, an amount otherwise)")
    y = frame[col].to_numpy(dtype=np.float64)
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise ValueError(f"outcome column {col!r} has {bad} missing or non-finite value(s); drop "
                         "those rows (an unknown outcome is no label)")
    kind = infer_outcome(y)
    if kind != "binary":
        return kind
    labels = frame[cfg.treatment_col].astype(str).to_numpy()
    constant = []
    for arm in (cfg.control, *treatments):
        seen = np.unique(y[labels == arm])
        if len(seen) == 1:
            constant.append(f"{arm!r} ({int(np.sum(labels == arm))} rows, all {seen[0]:g})")
    if constant:
        raise ValueError(f"the binary outcome {col!r} is constant in arm(s) "
                         f"{', '.join(constant)}: that arm's response cannot be modelled (its "
                         "classifier knows one class), so its uplift would be meaningless; "
                         "train on data where every arm has both outcomes, or leave the arm out "
                         "(--treatments)")
    return kind


def unbalanced_features(frame: pd.DataFrame, cfg: TrainConfig,
                        treatments: Sequence[str]) -> list[Imbalance]:
    """Features whose mean (numeric) or a category's share (categorical) differs between a
    treatment arm and control beyond chance (|z| > :data:`BALANCE_Z`) and by a non-negligible
    amount (|standardised mean difference| or |share difference| ≥ :data:`BALANCE_EFFECT`); the
    largest effect per feature. Randomised assignment leaves pre-treatment features balanced, so
    either assignment was not random or the feature was observed after the treatment.

    One pass a feature (a group-by for the numeric ones, an arm × category cross-tab a
    categorical one): linear in the rows. A categorical feature is compared on the categories
    the model keeps (``--max-categories``, as :meth:`FeatureSchema.fit` picks them) and the
    rarer ones pooled, which the model encodes alike."""
    labels = frame[cfg.treatment_col].astype(str).to_numpy()
    arms = [cfg.control, *treatments]
    found: dict[str, Imbalance] = {}

    def note(feature: str, arm: str, z: Any, effect: Any,
             categories: Sequence[str | None]) -> None:
        z, effect = np.asarray(z, dtype=np.float64), np.asarray(effect, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            hit = np.isfinite(z) & (np.abs(z) > BALANCE_Z) & (np.abs(effect) >= BALANCE_EFFECT)
        for i in np.flatnonzero(hit):
            old = found.get(feature)
            if old is None or abs(effect[i]) > abs(old.effect):
                found[feature] = Imbalance(feature, arm, float(z[i]), float(effect[i]),
                                           categories[int(i)])

    if cfg.numeric:
        grouped = frame[list(cfg.numeric)].astype(np.float64).groupby(labels)
        mean, var, n = grouped.mean(), grouped.var(ddof=1), grouped.count()
        for arm in treatments:
            if arm not in n.index or cfg.control not in n.index:
                continue
            n_t, n_c = n.loc[arm].to_numpy(), n.loc[cfg.control].to_numpy()
            v_t, v_c = var.loc[arm].to_numpy(), var.loc[cfg.control].to_numpy()
            diff = mean.loc[arm].to_numpy() - mean.loc[cfg.control].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                z = diff / np.sqrt(v_t / n_t + v_c / n_c)
                smd = diff / np.sqrt((v_t + v_c) / 2.0)
            z = np.where((n_t >= 2) & (n_c >= 2), z, np.nan)
            for i, name in enumerate(cfg.numeric):
                note(name, arm, z[i:i + 1], smd[i:i + 1], [None])
    for name in cfg.categorical:
        # Normalised as the schema does, one str() per distinct value rather than per row.
        raw, uniques = pd.factorize(frame[name].to_numpy())
        norm, names = pd.factorize(categorical_strings(np.asarray(uniques, dtype=object), name))
        codes = norm[raw]
        seen = np.bincount(codes, minlength=len(names))
        ranked = sorted(range(len(names)), key=lambda c: (-int(seen[c]), str(names[c])))
        kept = ranked[:cfg.max_categories]
        position = np.full(len(names), -1, dtype=np.int64)  # -1: a rarer category
        position[kept] = np.arange(len(kept))
        table = pd.crosstab(position[codes], labels).reindex(columns=arms, fill_value=0)
        rarer = f"the {len(ranked) - len(kept)} rarer categories"
        categories: list[str | None] = [repr(str(names[kept[c]])) if c >= 0 else rarer
                                        for c in table.index]
        totals = table.sum(axis=0)
        n_c = int(totals[cfg.control])
        for arm in treatments:
            n_t = int(totals[arm])
            if n_t < 2 or n_c < 2:
                continue
            c_t, c_c = table[arm].to_numpy(np.float64), table[cfg.control].to_numpy(np.float64)
            diff = c_t / n_t - c_c / n_c
            pooled = (c_t + c_c) / (n_t + n_c)
            with np.errstate(divide="ignore", invalid="ignore"):
                z = diff / np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_t + 1.0 / n_c))
            note(name, arm, z, diff, categories)
    return [found[name] for name in sorted(found)]


def unbalanced_message(found: Sequence[Imbalance]) -> str:
    """The warning for :func:`unbalanced_features`' findings: assignment first, then the
    post-treatment hint."""
    return (
        "assignment may not be random: feature(s) "
        f"{', '.join(f.describe() for f in found)} differ between arms beyond chance (|z| > "
        f"{BALANCE_Z:g}) and by ≥ {BALANCE_EFFECT:g} (standardised mean difference, or a "
        "category's share); if the arms were assigned at random, features known before the "
        "treatment are balanced, so each is likely observed after it: list it in "
        "--post-treatment-cols and drop it from --numeric/--categorical")


def _refuse_missing_features(frame: pd.DataFrame, cfg: TrainConfig) -> None:
    """Missing or non-finite feature values: the served model refuses them, so training does."""
    bad: dict[str, int] = {}
    for c in cfg.numeric:
        values = frame[c].to_numpy()
        if values.dtype.kind == "f":
            bad[c] = int(np.count_nonzero(~np.isfinite(values)))
    for c in cfg.categorical:
        bad[c] = int(frame[c].isna().sum())
    bad = {c: n for c, n in bad.items() if n}
    if bad:
        raise ValueError(f"features with missing or non-finite values (rows per column): {bad}; "
                         "drop or impute them (the model refuses them when scoring)")


def fit(prep: Prepared, cfg: TrainConfig) -> UpliftModel:
    schema = FeatureSchema.fit(prep.train, cfg.numeric, cfg.categorical,
                               max_categories=cfg.max_categories)
    outcome: OutcomeKind = "binary" if prep.outcome_kind == "binary" else "continuous"
    learner = make_learner(cfg.learner, BaseSpec(cfg.base, cfg.params, cfg.seed), outcome)
    t = encode_treatments(prep.train[cfg.treatment_col].astype(str).tolist(), cfg.control,
                          prep.treatments)
    learner.fit(schema.transform(prep.train), t, prep.train[cfg.outcome_col].to_numpy(),
                n_treatments=len(prep.treatments))
    return UpliftModel(schema, learner, prep.treatments, cfg.control,
                       metadata={"outcome": cfg.outcome_col, "treatment_col": cfg.treatment_col})


@dataclass
class TreatmentEval:
    name: str
    key: str
    n: int
    qini: float
    qini_lower: float
    qini_upper: float
    auuc: float
    uplift_at: dict[int, float]
    curves: dict[str, tuple[list[float], list[float]]]
    #: Qini on each bootstrap resample; the resamples depend only on the evaluation rows and the
    #: seed, so versions trained on the same split pair up (the qini gate's paired comparison).
    replicates: list[float] = field(default_factory=list)
    evaluation_set: str = ""

    def metrics(self) -> dict[str, float]:
        out = {f"qini.{self.key}": self.qini, f"qini_lower.{self.key}": self.qini_lower,
               f"qini_upper.{self.key}": self.qini_upper, f"n_test.{self.key}": float(self.n)}
        if not math.isnan(self.auuc):
            out[f"auuc.{self.key}"] = self.auuc
        for pct, v in self.uplift_at.items():
            out[f"uplift_at_{pct}.{self.key}"] = v
        return out


def evaluate(model: UpliftModel, test: pd.DataFrame, cfg: TrainConfig,
             progress: Progress | None = None) -> list[TreatmentEval]:
    """Per-treatment Qini (with bootstrap CI), AUUC, uplift@k and curves on the test split."""
    from uplift_operator.stats import uplift as um

    uplift = model.score(test).uplift
    labels = test[cfg.treatment_col].astype(str).to_numpy()
    y_all = test[cfg.outcome_col].to_numpy(dtype=np.float64)
    binary = bool(np.all((y_all == 0) | (y_all == 1)))
    out = []
    for j, name in enumerate(model.treatments):
        rows = (labels == cfg.control) | (labels == name)
        y, t, s = y_all[rows], (labels[rows] == name).astype(np.float64), uplift[rows, j]
        if progress:
            progress.start(f"bootstrap Qini CI for {name!r} ({cfg.n_bootstrap} resamples, "
                           f"{int(rows.sum())} rows)")
        q = float(um.qini_coefficient(y, t, s))
        replicates = um.bootstrap_replicates(um.qini_coefficient, y, t, s,
                                             n_resamples=cfg.n_bootstrap, seed=cfg.seed)
        lo, hi = um.one_sided_bounds(replicates, alpha=0.025)  # as bootstrap_ci's 95 %
        if progress:
            progress.done(f"qini={q:.4f} [{lo:.4f}, {hi:.4f}]")
        qx, qv = um.qini_curve(y, t, s)
        ux, uv = um.uplift_curve(y, t, s)
        out.append(TreatmentEval(
            name=name, key=treatment_key(name), n=int(rows.sum()), qini=q, qini_lower=lo,
            qini_upper=hi, auuc=um.auuc(y, t, s) if binary else math.nan,
            uplift_at={int(k * 100): um.uplift_at_k(y, t, s, k) for k in UPLIFT_AT},
            curves={"qini": (_thin(qx / len(y)), _thin(qv)),
                    "uplift": (_thin(ux / len(y)), _thin(uv))},
            replicates=[float(r) for r in replicates],
            evaluation_set=_evaluation_set(test, cfg)))
    return out


def _evaluation_set(test: pd.DataFrame, cfg: TrainConfig) -> str:
    """Fingerprint of the evaluation rows (index, treatment, outcome) and the resampling: two
    runs with the same fingerprint drew the same bootstrap resamples."""
    digest = hashlib.sha256()
    digest.update(np.asarray(test.index).astype(str).astype(bytes).tobytes())
    digest.update(test[cfg.treatment_col].astype(str).to_numpy().astype(bytes).tobytes())
    digest.update(test[cfg.outcome_col].to_numpy(dtype=np.float64).tobytes())
    digest.update(f"{cfg.seed}/{cfg.n_bootstrap}".encode())
    return digest.hexdigest()[:32]


def qini_bootstrap_document(evals: Sequence[TreatmentEval]) -> dict[str, Any]:
    """``reference/qini_bootstrap.json``: per treatment key, the Qini and its replicates."""
    return {"evaluationSet": evals[0].evaluation_set if evals else "",
            "treatments": {ev.key: {"estimate": ev.qini, "replicates": ev.replicates}
                           for ev in evals}}


def _thin(values: np.ndarray[Any, Any], points: int = 400) -> list[float]:
    idx = np.unique(np.linspace(0, len(values) - 1, min(points, len(values))).astype(int))
    return [float(v) for v in np.asarray(values)[idx]]


def reference_documents(model: UpliftModel, train: pd.DataFrame,
                        n_bins: int) -> dict[str, dict[str, Any]]:
    """The drift references: feature histograms and the predicted-uplift distribution.

    Also stores the binning in ``model`` (the runtime's live histograms use it).
    """
    binning = DriftBinning.fit(train, model.schema, n_bins=n_bins)
    model.drift_binning = binning
    return {"feature_histograms.json": binning.histograms(train),
            "uplift_distribution.json": uplift_distribution(model.score(train).uplift,
                                                            model.treatments)}


def plot_curves(evals: Sequence[TreatmentEval]) -> Any:
    """Qini and uplift curves per treatment with the random line; returns a matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind, ylabel in ((axes[0], "qini", "incremental outcomes Q(x)"),
                             (axes[1], "uplift", "cumulative gain G(x)")):
        for ev in evals:
            x, v = ev.curves[kind]
            label = (f"{ev.name} (Qini {ev.qini:.3f} [{ev.qini_lower:.3f}, {ev.qini_upper:.3f}])"
                     if kind == "qini" else ev.name)
            line = ax.plot(x, v, label=label)[0]
            ax.plot([0, x[-1]], [0, v[-1]], ls="--", lw=0.8, color=line.get_color())
        ax.set_xlabel("fraction targeted (ranked by predicted uplift)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{kind.capitalize()} curve (dashed: random)")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def params_of(cfg: TrainConfig, model: UpliftModel, prep: Prepared,
              data_sha256: str) -> dict[str, str]:
    return {
        **model.learner.params(),
        "data": str(cfg.data), "data_sha256": data_sha256, "treatment_col": cfg.treatment_col,
        "outcome_col": cfg.outcome_col, "control": cfg.control,
        "treatments": json.dumps(list(prep.treatments)),
        "features.numeric": ",".join(cfg.numeric),
        "features.categorical": ",".join(cfg.categorical), "test_size": str(cfg.test_size),
        "split_seed": str(cfg.seed), "sample": str(cfg.sample), "n_bootstrap":
        str(cfg.n_bootstrap), "drift_bins": str(cfg.n_bins),
        "max_categories": str(cfg.max_categories), "n_train": str(len(prep.train)),
        "n_test": str(len(prep.test)),
        # What the run refused as post-treatment, so a reviewer of the run sees the check
        # that guarded its features (empty: no such check applied).
        "post_treatment_cols": ",".join(cfg.post_treatment_cols()),
    }


# --- MLflow I/O -------------------------------------------------------------------------------

@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    model_name: str | None
    model_version: str | None
    alias: str | None
    metrics: dict[str, float]
    #: Features unbalanced across arms (:func:`unbalanced_features`), also the run's tag
    #: ``uplift.unbalanced_features``.
    unbalanced_features: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def log_run(cfg: TrainConfig, model: UpliftModel, prep: Prepared,
            evals: Sequence[TreatmentEval], refs: dict[str, dict[str, Any]], data_sha256: str,
            progress: Progress | None = None) -> TrainResult:
    import mlflow
    from mlflow import MlflowClient

    from uplift_operator.model import pyfunc

    if cfg.tracking_uri:
        mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_experiment(cfg.experiment)
    metrics: dict[str, float] = {"n_train": float(len(prep.train)),
                                 "n_test": float(len(prep.test))}
    for ev in evals:
        metrics.update(ev.metrics())
    with mlflow.start_run(run_name=cfg.run_name) as run:
        mlflow.log_params(params_of(cfg, model, prep, data_sha256))
        unbalanced = [f.feature for f in prep.unbalanced]
        mlflow.set_tags({"uplift.control": cfg.control, "uplift.outcome": cfg.outcome_col,
                         "uplift.treatments": json.dumps(dict(zip(
                             model.treatment_keys, model.treatments, strict=True))),
                         "uplift.unbalanced_features": json.dumps(unbalanced)})
        mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
        for name, doc in refs.items():
            mlflow.log_dict(doc, f"reference/{name}")
        mlflow.log_dict({"treatments": [{k: v for k, v in ev.__dict__.items() if k != "replicates"}
                                        for ev in evals]}, "reference/metrics.json")
        mlflow.log_dict(qini_bootstrap_document(evals), "reference/qini_bootstrap.json")
        fig = plot_curves(evals)
        mlflow.log_figure(fig, "plots/qini_uplift_curves.png")
        if progress:
            progress.start("log model" + (f" and register as {cfg.model_name!r}"
                                          if cfg.register else ""))
        info = pyfunc.log_model(model,
                                registered_model_name=cfg.model_name if cfg.register else None)
        version = str(info.registered_model_version) if cfg.register else None
        if cfg.register and cfg.alias:
            MlflowClient().set_registered_model_alias(cfg.model_name, cfg.alias, str(version))
        if progress:
            progress.done(f"version {version}" if version else "")
        uri = f"models:/{cfg.model_name}/{version}" if version else str(info.model_uri)
        return TrainResult(run.info.run_id, uri, cfg.model_name if cfg.register else None,
                           version, cfg.alias if cfg.register else None, metrics, unbalanced)


def train(cfg: TrainConfig, frame: pd.DataFrame | None = None) -> TrainResult:
    """The whole pipeline; ``frame`` overrides reading ``cfg.data``."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    check_config(cfg)
    progress = Progress(total=4 + 2 + 1, quiet=cfg.quiet)
    progress.start(f"read {cfg.data}" if frame is None else "use given data frame")
    data_sha = "n/a"
    if frame is None:
        try:
            data_sha = hashlib.sha256(cfg.data.read_bytes()).hexdigest()
            frame = pd.read_csv(cfg.data)
        except OSError as exc:  # a directory, no permission, an I/O error: bad input
            raise ValueError(f"cannot read --data {cfg.data}: {exc.strerror or exc}") from exc
    progress.done(f"{len(frame)} rows")
    progress.start("split (stratified on treatment × outcome)")
    prep = prepare(frame, cfg)
    progress.total = 5 + len(prep.treatments)
    progress.done(f"train {len(prep.train)}, test {len(prep.test)}, treatments "
                  f"{list(prep.treatments)}")
    if prep.unbalanced:  # a warning, printed with -q as the other warnings are
        print(f"uplift-operator train: warning: {unbalanced_message(prep.unbalanced)}",
              file=sys.stderr, flush=True)
    # One OpenMP thread: gradient boosting on a busy 2-core machine spends more time spinning
    # than computing with more; set after sklearn is imported so the limit reaches libgomp.
    with threadpool_limits(limits=1, user_api="openmp"):
        progress.start(f"fit {cfg.learner}-learner ({cfg.base})")
        model = fit(prep, cfg)
        progress.done()
        evals = evaluate(model, prep.test, cfg, progress)
        progress.start("reference histograms and uplift distribution")
        refs = reference_documents(model, prep.train, cfg.n_bins)
        progress.done()
    result = log_run(cfg, model, prep, evals, refs, data_sha, progress)
    if not cfg.quiet:
        print(f"run {result.run_id}: {result.model_uri} in {progress.elapsed:.1f}s",
              file=sys.stderr)
    return result


# --- CLI --------------------------------------------------------------------------------------

def _parse_param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--param needs KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def _csv(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def parse_args(argv: Sequence[str]) -> TrainConfig:
    p = argparse.ArgumentParser(prog="uplift-operator train", description=__doc__.split("\n")[0])
    d = TrainConfig()
    p.add_argument("--data", type=Path, default=d.data, help="CSV file (default: %(default)s)")
    p.add_argument("--treatment-col", default=d.treatment_col)
    p.add_argument("--control", default=d.control, help="control arm value")
    p.add_argument("--treatments", type=_csv, default=d.treatments,
                   help="comma-separated treatment values (default: all but control)")
    p.add_argument("--outcome-col", default=d.outcome_col)
    p.add_argument("--numeric", type=_csv, default=d.numeric, help="numeric feature columns")
    p.add_argument("--categorical", type=_csv, default=d.categorical,
                   help="categorical feature columns")
    p.add_argument("--learner", default=d.learner, choices=["t", "s", "ct", "x"],
                   help="t: two-model, s: S-learner, ct: class transformation, x: X-learner")
    p.add_argument("--base", default=d.base, choices=["hgb", "logistic"])
    p.add_argument("--param", action="append", type=_parse_param, default=[],
                   metavar="KEY=VALUE", help="base-estimator hyperparameter (repeatable)")
    p.add_argument("--test-size", type=float, default=d.test_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sample", type=int, default=None, help="train/test on N sampled rows")
    p.add_argument("--n-bootstrap", type=int, default=d.n_bootstrap,
                   help="bootstrap resamples of the test rows for the Qini replicates "
                        "(default: %(default)s, the qini gate's Fail level for 10 treatments "
                        "at alpha 0.05)")
    p.add_argument("--bins", type=int, default=d.n_bins, help="drift bins per numeric feature")
    p.add_argument("--max-categories", type=int, default=d.max_categories,
                   help="categories kept per categorical feature, the most frequent; rarer "
                        "ones encode as unknown (default: %(default)s)")
    p.add_argument("--post-treatment-cols", type=_csv, default=None, metavar="COLS",
                   help="comma-separated columns observed after the treatment, refused as "
                        "features ('' for none; default: Hillstrom's "
                        f"{','.join(HILLSTROM_POST_TREATMENT)} when --treatment-col and "
                        f"--control are Hillstrom's ({HILLSTROM_ARMS[0]}, "
                        f"'{HILLSTROM_ARMS[1]}'), none otherwise)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("--experiment", default=d.experiment)
    p.add_argument("--model-name", default=d.model_name)
    p.add_argument("--no-register", dest="register", action="store_false")
    p.add_argument("--alias", default=None, help="set this registry alias on the new version")
    p.add_argument("--run-name", default=None)
    p.add_argument("--json", dest="json_out", type=Path, default=None,
                   help="also write the result (run id, model URI, metrics) to this file")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(list(argv))
    cfg = TrainConfig(
        data=a.data, treatment_col=a.treatment_col, control=a.control, treatments=a.treatments,
        outcome_col=a.outcome_col, numeric=a.numeric, categorical=a.categorical,
        learner=a.learner, base=a.base, params=dict(a.param), test_size=a.test_size,
        seed=a.seed, sample=a.sample, n_bootstrap=a.n_bootstrap, n_bins=a.bins,
        max_categories=a.max_categories, post_treatment=a.post_treatment_cols,
        tracking_uri=a.tracking_uri, experiment=a.experiment, model_name=a.model_name,
        register=a.register, alias=a.alias, run_name=a.run_name, json_out=a.json_out,
        quiet=a.quiet)
    return cfg


def main(argv: Sequence[str]) -> int:
    cfg = parse_args(argv)
    if not cfg.data.exists():
        print(f"uplift-operator train: data file {cfg.data} not found", file=sys.stderr)
        return 2
    if cfg.data.is_dir():
        print(f"uplift-operator train: --data {cfg.data} is a directory, not a CSV file",
              file=sys.stderr)
        return 2
    try:
        result = train(cfg)
    except ValueError as exc:
        print(f"uplift-operator train: {exc}", file=sys.stderr)
        return 2
    doc = json.dumps(result.to_dict(), indent=2, sort_keys=True)
    print(doc)
    if cfg.json_out is not None:
        cfg.json_out.write_text(doc + "\n")
    return 0
