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
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

TRAINER_VERSION = "1"
CACHE_ENV = "UPLIFT_DEMO_CACHE"
#: What ``fit`` reports, in order, while it trains (a cache hit reports ``CACHED`` only).
STAGES = ("preparing the data", "fitting", "evaluating (bootstrap Qini)", "reference documents")
CACHED = "cached"
#: Before ``fit`` says anything: importing the trainer (seconds on a busy machine), the cache.
LOADING = "loading the trainer and the cache"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


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
                           "code": _model_code_sha(), "libraries": _library_versions()},
                          sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def _library_versions() -> dict[str, str]:
    """A pickle of fitted estimators is only good for the sklearn (and numpy) it was made with."""
    from importlib.metadata import version

    return {name: version(name) for name in ("scikit-learn", "numpy")}


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
    """The fitted version for ``recipe`` from the cache, or trained now and cached.

    ``progress`` hears ``CACHED`` on a cache hit, else each of ``STAGES`` as it starts. Two
    callers asking for the same recipe at once train it once: the second waits for the first
    and reads its pickle."""
    sha = file_sha256(data)
    path = cache_dir() / f"{recipe.key(sha)}.pickle"
    with _lock(path.name):
        return _fit(data, recipe, sha, path, progress)


def _fit(data: Path, recipe: Recipe, sha: str, path: Path,
         progress: Callable[[str], None]) -> Fitted:
    import pandas as pd
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    from uplift_operator.model import trainer

    if path.exists():
        with contextlib.suppress(Exception), path.open("rb") as handle:
            cached = pickle.load(handle)
            if isinstance(cached, Fitted):
                progress(CACHED)
                return cached
    progress(STAGES[0])
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
        progress(STAGES[1])
        model = trainer.fit(fit_on, cfg)
        progress(STAGES[2])
        evals = trainer.evaluate(model, prep.test, cfg)
        progress(STAGES[3])
        refs = trainer.reference_documents(model, prep.train, cfg.n_bins)
    fitted = Fitted(model, prep, evals, refs, sha)
    store(path, fitted)
    return fitted


def store(path: Path, value: object) -> None:
    """Pickle ``value`` to ``path`` atomically: written under a name of its own in the same
    directory, then renamed over ``path``. Two processes caching the same version at once (two
    demos, a demo and the tests; ``_lock`` serialises threads only) each write their own file,
    and a reader sees one whole pickle or the other, never a mix."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  # closed below, kept on success
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            pickle.dump(value, handle)
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise


@dataclass
class Preparing:
    """One model version being made ready, as the progress display shows it."""

    label: str
    stage: str = "waiting"
    completed: int = 0              # of ``len(STAGES)``
    cached: bool = False
    done: bool = False
    error: str = ""
    started: float | None = None    # time.monotonic()
    finished: float | None = None

    @property
    def total(self) -> int:
        return len(STAGES)

    def seconds(self, now: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else (now or time.monotonic())
        return end - self.started


@dataclass
class Preparation:
    """The demo's model versions and how far each is (for progress bars): ``fit`` through it."""

    items: dict[Recipe, Preparing] = field(default_factory=dict)
    on_change: Callable[[Preparing], None] = lambda _: None

    def expect(self, recipe: Recipe, label: str) -> Preparing:
        """List ``recipe`` as ``label`` before it is fitted (shown as waiting)."""
        return self.items.setdefault(recipe, Preparing(label))

    def fit(self, data: Path, recipe: Recipe, label: str | None = None) -> Fitted:
        """``fit`` with its progress recorded under ``recipe``."""
        item = self.expect(recipe, label or f"recipe {recipe.key('')[:8]}")
        if item.started is None or item.done or item.error:
            item.started, item.finished, item.done, item.error = time.monotonic(), None, False, ""
            item.stage, item.completed, item.cached = LOADING, 0, False
            self.on_change(item)

        def heard(stage: str) -> None:
            if item.done and stage == CACHED:
                return  # fitted by a concurrent call for the same recipe: keep what it said
            item.stage = stage
            item.cached = stage == CACHED
            item.completed = item.total if item.cached else STAGES.index(stage)
            self.on_change(item)

        try:
            fitted = fit(data, recipe, progress=heard)
        except BaseException as error:
            item.error, item.finished = str(error) or type(error).__name__, time.monotonic()
            self.on_change(item)
            raise
        item.completed, item.done, item.finished = item.total, True, time.monotonic()
        if not item.cached:
            item.stage = "trained and cached"
        self.on_change(item)
        return fitted

    def pending(self) -> list[Preparing]:
        """Those not ready yet (waiting or being fitted)."""
        return [p for p in self.items.values() if not p.done and not p.error]


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
