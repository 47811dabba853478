"""The demo's model versions: trained once, cached outside the repository, registered per run.

Training (fit + bootstrap Qini) takes tens of seconds on a small machine; registering an already
fitted model in a fresh MLflow server takes a few. So the fitted model, its evaluation and its
reference documents are pickled under ``~/.cache/uplift-operator/demo-models/`` keyed by the data
file's SHA-256, the training recipe, ``TRAINER_VERSION`` and the source of ``uplift_operator.model``
(a changed trainer retrains), and every run logs them as a new MLflow run and model version with
``trainer.log_run`` — the same metrics, artifacts and registry contract as ``uplift-operator
train`` (docs/dataplane.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

TRAINER_VERSION = "1"
CACHE_ENV = "UPLIFT_DEMO_CACHE"


def cache_dir() -> Path:
    """``$UPLIFT_DEMO_CACHE`` or ``~/.cache/uplift-operator/demo-models`` (never the repository)."""
    override = os.environ.get(CACHE_ENV)
    base = Path(override) if override else Path.home() / ".cache" / "uplift-operator" / "demo-models"
    base.mkdir(parents=True, exist_ok=True)
    return base


@dataclass(frozen=True)
class Recipe:
    """How one demo version is trained; every field is part of the cache key.

    Every version uses the same sample, split seed and bootstrap count, so all are evaluated on
    the same test rows and the qini gate can pair their Qinis; they differ in hyperparameters
    (``params``) or in what they were fitted on (``swap_labels``).
    """

    learner: str = "t"
    base: str = "logistic"
    params: tuple[tuple[str, float], ...] = ()
    sample: int = 16000
    seed: int = 42
    n_bootstrap: int = 50
    # Fitted with control and this treatment swapped in the training rows (evaluated on the true
    # labels): a model whose ranking for that treatment is upside down.
    swap_labels: str | None = None

    def key(self, data_sha256: str) -> str:
        text = json.dumps({**asdict(self), "data": data_sha256, "trainer": TRAINER_VERSION,
                           "code": _model_code_sha()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _model_code_sha() -> str:
    """The trainer's and model's source: a changed trainer never reuses a stale pickle."""
    package = Path(__file__).resolve().parents[1] / "model"
    digest = hashlib.sha256()
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Fitted:
    """What ``trainer.log_run`` needs, as produced by the trainer's pure steps."""

    model: Any
    prep: Any
    evals: list[Any]
    refs: dict[str, dict[str, Any]]
    data_sha256: str

    def qini(self) -> dict[str, float]:
        return {ev.key: float(ev.qini) for ev in self.evals}


def fit(data: Path, recipe: Recipe, *, progress: Callable[[str], None] = lambda _: None) -> Fitted:
    """The fitted version for ``recipe`` from the cache, or trained now and cached."""
    import pandas as pd
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from uplift_operator.model import trainer

    sha = file_sha256(data)
    path = cache_dir() / f"{recipe.key(sha)}.pickle"
    if path.exists():
        with contextlib.suppress(Exception), path.open("rb") as handle:
            cached = pickle.load(handle)
            if isinstance(cached, Fitted):
                progress(f"cached ({path.name})")
                return cached
    progress("training")
    cfg = _config(data, recipe)
    prep = trainer.prepare(pd.read_csv(data), cfg)
    fit_on = prep
    if recipe.swap_labels is not None:
        train = prep.train.copy()
        column = train[cfg.treatment_col].astype(str)
        swapped = {cfg.control: recipe.swap_labels, recipe.swap_labels: cfg.control}
        train[cfg.treatment_col] = column.map(lambda arm: swapped.get(arm, arm))
        fit_on = replace(prep, train=train)
    with threadpool_limits(limits=1, user_api="openmp"):
        model = trainer.fit(fit_on, cfg)
        evals = trainer.evaluate(model, prep.test, cfg)
        refs = trainer.reference_documents(model, prep.train, cfg.n_bins)
    fitted = Fitted(model, prep, evals, refs, sha)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(fitted, handle)
    tmp.replace(path)
    return fitted


def register(fitted: Fitted, recipe: Recipe, data: Path, tracking_uri: str, model_name: str,
             alias: str | None = None) -> str:
    """Log ``fitted`` as a new run and version of ``model_name``; returns the version number."""
    from uplift_operator.model import trainer

    cfg = replace(_config(data, recipe), tracking_uri=tracking_uri, model_name=model_name,
                  alias=alias, quiet=True, run_name=f"demo-{recipe.key(fitted.data_sha256)[:8]}")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = trainer.log_run(cfg, fitted.model, fitted.prep, fitted.evals, fitted.refs,
                                 fitted.data_sha256)
    version = result.model_version
    assert version is not None
    return str(version)


def _config(data: Path, recipe: Recipe) -> Any:
    from uplift_operator.model import trainer

    return trainer.TrainConfig(data=data, learner=recipe.learner,
                               base=recipe.base,  # type: ignore[arg-type]
                               params=dict(recipe.params), seed=recipe.seed, sample=recipe.sample,
                               n_bootstrap=recipe.n_bootstrap, quiet=True)
