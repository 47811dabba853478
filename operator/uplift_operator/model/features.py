"""Feature schema, preprocessing and the drift binning shared by the trainer and the runtime.

Pure (numpy/pandas only). Three things live here because trainer and runtime must agree on them
byte for byte:

- :class:`FeatureSchema` — which columns a model reads, their kinds, the categories seen in
  training, validation with clear messages, and the numeric design matrix the learners see.
- :class:`DriftBinning` — the fixed binning of every feature used both for the reference
  histograms logged at training time and for the live per-feature counters of the runtime.
- :data:`UPLIFT_BUCKETS` — the fixed edges of the predicted-uplift histogram (training
  distribution artifact and runtime Prometheus histogram use the same edges).

Reference histogram JSON (MLflow artifact ``reference/feature_histograms.json``)::

    {"format": "uplift-operator/feature-histograms/v1",
     "n": 44800,
     "features": {
        "recency": {"kind": "numeric", "edges": [2.0, 3.0, ...], "counts": [...]},
        "channel": {"kind": "categorical", "categories": ["Multichannel", "Phone", "Web"],
                    "counts": [...]}}}

Numeric: ``edges`` are the k strictly increasing *interior* cut points; there are k+1 bins and
``counts`` has k+1 entries. Bin 0 is ``x < edges[0]``, bin i is ``edges[i-1] <= x < edges[i]``,
bin k is ``x >= edges[k-1]`` (so the outer bins are open and nothing falls outside). Missing
values (NaN) are counted in the last bin. Categorical: ``counts`` has ``len(categories) + 1``
entries; the last one is ``"other"`` (any value not seen in training, or one of the rare values
beyond ``max_categories`` that :meth:`FeatureSchema.fit` folds away). The runtime's
``uplift_feature_bin_total{feature, bin}`` counter uses the same bin index (``bin="0"`` …).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from uplift_operator.model.keys import treatment_key as treatment_key  # re-exported

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
# Columns by name: a DataFrame or a mapping name -> 1-D array (the runtime's decoded V2 inputs).
Columns: TypeAlias = Mapping[str, Any]

HISTOGRAM_FORMAT = "uplift-operator/feature-histograms/v1"
UPLIFT_FORMAT = "uplift-operator/uplift-distribution/v1"
OTHER = "other"
#: Most categories a categorical feature keeps (the rest fold into the unknown / "other" bin).
MAX_CATEGORIES = 100

log = logging.getLogger(__name__)

# Predicted uplift is a difference of probabilities (or of outcome means): fine resolution near
# zero where the decision threshold value*uplift - cost usually lies, coarse in the tails.
UPLIFT_BUCKETS: tuple[float, ...] = (
    -0.5, -0.2, -0.1, -0.05, -0.02, -0.01, -0.005, 0.0,
    0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
)

FeatureKind = Literal["numeric", "categorical"]


#: The metric-label codes of ``FeatureError`` (the runtime counts each from zero).
FeatureErrorReason: TypeAlias = Literal["bad_features", "missing_feature", "wrong_type",
                                        "row_mismatch"]


class FeatureError(ValueError):
    """Input that does not match the feature schema; ``reason`` is a short metric-label code."""

    def __init__(self, message: str, reason: FeatureErrorReason = "bad_features") -> None:
        super().__init__(message)
        self.reason = reason


def _is_numeric(values: np.ndarray[Any, Any]) -> bool:
    return values.dtype.kind in "biuf"


def _as_array(data: Columns, name: str) -> np.ndarray[Any, Any]:
    values = data[name]
    arr = values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)
    return arr.reshape(-1)


@dataclass(frozen=True)
class FeatureSchema:
    """Columns the model reads; categorical columns are one-hot encoded on training categories."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    integer: tuple[str, ...] = ()   # numeric columns that were integers in training (signature)

    @classmethod
    def fit(cls, frame: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str],
            max_categories: int = MAX_CATEGORIES) -> FeatureSchema:
        """Learn the schema; a categorical feature keeps its ``max_categories`` most frequent
        values (ties by name), the rarer ones encode like unseen ones (all zeros, drift bin
        ``other``) and are logged as a warning."""
        missing = [c for c in [*numeric, *categorical] if c not in frame.columns]
        if missing:
            raise FeatureError(f"training data lacks feature columns {missing}")
        if max_categories < 1:
            raise FeatureError(f"max_categories must be at least 1, got {max_categories}")
        for name in numeric:
            if not _is_numeric(frame[name].to_numpy()):
                raise FeatureError(f"feature {name!r} is declared numeric but has dtype "
                                   f"{frame[name].dtype}")
        cats: dict[str, tuple[str, ...]] = {}
        for name in categorical:
            values = frame[name].to_numpy()
            if values.dtype.kind not in "OUS":
                raise FeatureError(f"feature {name!r} is declared categorical but has dtype "
                                   f"{frame[name].dtype}; categorical features are strings "
                                   "(convert the column, as the trainer does for integers "
                                   "and booleans)", "wrong_type")
            seen = pd.Series(categorical_strings(values[~pd.isna(values)], name)).value_counts()
            ranked = sorted(seen.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
            kept = ranked[:max_categories]
            if len(ranked) > max_categories:
                folded = sum(int(c) for _, c in ranked[max_categories:])
                log.warning("feature %r has %d categories; keeping the %d most frequent, the "
                            "other %d (%d training rows) encode as unknown (drift bin %r)",
                            name, len(ranked), max_categories, len(ranked) - max_categories,
                            folded, OTHER)
            cats[name] = tuple(sorted(str(v) for v, _ in kept))
        integer = tuple(n for n in numeric if frame[n].dtype.kind in "biu")
        return cls(tuple(numeric), tuple(categorical), cats, integer)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)

    @property
    def design_columns(self) -> list[str]:
        """Names of the columns of :meth:`transform`'s matrix."""
        cols = list(self.numeric)
        for name in self.categorical:
            cols += [f"{name}={c}" for c in self.categories[name]]
        return cols

    def validate(self, data: Columns) -> int:
        """Check presence and types of every feature; return the row count."""
        missing = [n for n in self.names if n not in data]
        if missing:
            raise FeatureError(f"missing features {missing}; expected {list(self.names)}",
                               "missing_feature")
        n_rows: int | None = None
        for name in self.names:
            arr = _as_array(data, name)
            if name in self.numeric and not _is_numeric(arr):
                raise FeatureError(f"feature {name!r} must be numeric, got {_describe(arr)}",
                                   "wrong_type")
            if name in self.categorical and arr.dtype.kind not in "OUS":
                raise FeatureError(f"feature {name!r} must be a string, got {_describe(arr)}",
                                   "wrong_type")
            if name in self.numeric and arr.dtype.kind == "f" and not np.isfinite(arr).all():
                bad = int(np.count_nonzero(~np.isfinite(arr)))
                raise FeatureError(f"feature {name!r} has {bad} missing or non-finite "
                                   "value(s) (NaN, ±inf); the model needs finite numbers")
            if name in self.categorical and arr.dtype.kind == "O" and pd.isna(arr).any():
                bad = int(np.count_nonzero(pd.isna(arr)))
                raise FeatureError(f"feature {name!r} has {bad} missing value(s) (null/NaN); "
                                   "send a string (an unseen one encodes as unknown)")
            if n_rows is None:
                n_rows = len(arr)
            elif len(arr) != n_rows:
                raise FeatureError(f"feature {name!r} has {len(arr)} rows, others {n_rows}",
                                   "row_mismatch")
        if self.names and not n_rows:
            raise FeatureError("no rows to score (every feature column is empty)")
        return n_rows or 0

    def transform(self, data: Columns) -> FloatArray:
        """The design matrix: numeric columns as float, then one-hot categoricals.

        Unseen categories encode as all zeros (the learners saw none of them).
        """
        n_rows = self.validate(data)
        blocks: list[FloatArray] = []
        if self.numeric:
            blocks.append(np.column_stack(
                [_as_array(data, n).astype(np.float64) for n in self.numeric]))
        for name in self.categorical:
            values = categorical_strings(_as_array(data, name), name)
            cats = np.asarray(self.categories[name], dtype=object)
            blocks.append((values[:, None] == cats[None, :]).astype(np.float64))
        if not blocks:
            return np.zeros((n_rows, 0))
        return np.hstack(blocks) if len(blocks) > 1 else blocks[0]

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical),
                "categories": {k: list(v) for k, v in self.categories.items()},
                "integer": list(self.integer)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> FeatureSchema:
        return cls(tuple(raw["numeric"]), tuple(raw["categorical"]),
                   {k: tuple(v) for k, v in raw["categories"].items()},
                   tuple(raw.get("integer", ())))


def _describe(arr: np.ndarray[Any, Any]) -> str:
    kinds = {"O": "strings/objects", "U": "strings", "S": "bytes", "b": "booleans"}
    return kinds.get(arr.dtype.kind, str(arr.dtype))


@dataclass(frozen=True)
class FeatureBins:
    """Binning of one feature; see the module docstring for the bin semantics."""

    name: str
    kind: FeatureKind
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def n_bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    def bin_index(self, values: np.ndarray[Any, Any]) -> IntArray:
        """Bin of each value (0-based, aligned with ``counts``)."""
        if self.kind == "numeric":
            x = np.asarray(values, dtype=np.float64)
            idx = np.searchsorted(np.asarray(self.edges), x, side="right").astype(np.int64)
            idx[np.isnan(x)] = len(self.edges)
            return idx
        lookup = {c: i for i, c in enumerate(self.categories)}
        other = len(self.categories)
        strings = categorical_strings(np.asarray(values).reshape(-1), self.name)
        return np.fromiter((lookup.get(v, other) for v in strings), dtype=np.int64,
                           count=len(strings))

    def counts(self, values: np.ndarray[Any, Any]) -> list[int]:
        return [int(c) for c in np.bincount(self.bin_index(values), minlength=self.n_bins)]

    def bin_labels(self) -> list[str]:
        """Human-readable bin names, for docs and plots (metrics use the index)."""
        if self.kind == "categorical":
            return [*self.categories, OTHER]
        e = [f"{v:g}" for v in self.edges]
        if not e:
            return ["all"]
        return [f"<{e[0]}", *(f"[{a},{b})" for a, b in itertools.pairwise(e)), f">={e[-1]}"]


def _to_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_to_str_ufunc = np.frompyfunc(_to_str, 1, 1)


def categorical_strings(values: np.ndarray[Any, Any],
                        feature: str | None = None) -> np.ndarray[Any, Any]:
    """A categorical column's values as an object array of ``str`` — the one normalisation that
    the schema's categories, the design matrix and the drift bins all use: bytes are UTF-8
    decoded, anything else goes through ``str()`` (strings are unchanged).

    Bytes that are not UTF-8 are bad input like any other: ``FeatureError`` (``wrong_type``)
    naming ``feature``."""
    arr = np.asarray(values)
    try:
        if arr.dtype.kind == "S":
            arr = np.char.decode(arr, "utf-8")
        if arr.dtype.kind == "U":
            return arr.astype(object)
        out: np.ndarray[Any, Any] = _to_str_ufunc(arr.astype(object))
    except UnicodeDecodeError as error:
        what = f"feature {feature!r}" if feature is not None else "a categorical feature"
        raise FeatureError(f"{what} has a value that is not UTF-8 text ({error.reason}); send "
                           "strings or UTF-8 bytes", "wrong_type") from None
    return np.asarray(out, dtype=object).reshape(arr.shape)


@dataclass(frozen=True)
class DriftBinning:
    """Fixed binning of every feature: numeric edges from training quantiles, categories + other."""

    features: Mapping[str, FeatureBins]

    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: FeatureSchema, n_bins: int = 10) -> DriftBinning:
        bins: dict[str, FeatureBins] = {}
        for name in schema.numeric:
            x = frame[name].to_numpy(dtype=np.float64)
            x = x[~np.isnan(x)]
            # Edges are observed values (inverted CDF), so integer features get integer edges.
            qs = (np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1], method="inverted_cdf")
                  if len(x) else np.array([]))
            # Low-cardinality columns (binary flags) give repeated quantiles: keep unique cut
            # points, and never cut at the minimum (it would leave bin 0 empty by construction).
            edges = sorted({float(q) for q in qs if len(x) and q > x.min()})
            if not edges and len(x) and x.max() > x.min():
                edges = [float(x.max())]
            bins[name] = FeatureBins(name, "numeric", edges=tuple(edges))
        for name in schema.categorical:
            bins[name] = FeatureBins(name, "categorical", categories=schema.categories[name])
        return cls(bins)

    def histograms(self, data: Columns) -> dict[str, Any]:
        """Reference-histogram document (see module docstring) for ``data``."""
        n = 0
        out: dict[str, Any] = {}
        for name, fb in self.features.items():
            values = _as_array(data, name)
            n = len(values)
            entry: dict[str, Any] = {"kind": fb.kind}
            if fb.kind == "numeric":
                entry["edges"] = list(fb.edges)
            else:
                entry["categories"] = list(fb.categories)
            entry["counts"] = fb.counts(values)
            entry["labels"] = fb.bin_labels()
            out[name] = entry
        return {"format": HISTOGRAM_FORMAT, "n": n, "features": out}

    @classmethod
    def from_histograms(cls, doc: Mapping[str, Any]) -> DriftBinning:
        bins: dict[str, FeatureBins] = {}
        for name, entry in doc["features"].items():
            if entry["kind"] == "numeric":
                bins[name] = FeatureBins(name, "numeric", edges=tuple(entry["edges"]))
            else:
                bins[name] = FeatureBins(name, "categorical",
                                         categories=tuple(entry["categories"]))
        return cls(bins)


def uplift_distribution(uplift: FloatArray, treatments: Sequence[str],
                        buckets: Sequence[float] = UPLIFT_BUCKETS) -> dict[str, Any]:
    """Histogram of predicted uplift per treatment (artifact ``reference/uplift_distribution.json``).

    ``edges`` are the interior cut points (same convention as numeric features, same values as
    the runtime's ``uplift_predicted_uplift`` Prometheus buckets, whose ``le`` upper bounds are
    inclusive — a value exactly on an edge may land one bin apart; immaterial for floats).
    """
    edges = np.asarray(buckets, dtype=np.float64)
    out: dict[str, Any] = {}
    for j, name in enumerate(treatments):
        u = np.asarray(uplift[:, j], dtype=np.float64)
        idx = np.searchsorted(edges, u, side="right")
        counts = np.bincount(idx, minlength=len(edges) + 1)
        out[treatment_key(name)] = {
            "treatment": name,
            "edges": [float(e) for e in edges],
            "counts": [int(c) for c in counts],
            "n": len(u),
            "mean": float(np.mean(u)) if len(u) else math.nan,
            "std": float(np.std(u)) if len(u) else math.nan,
            "quantiles": {f"p{int(q * 100):02d}": float(np.quantile(u, q))
                          for q in (0.05, 0.25, 0.5, 0.75, 0.95)} if len(u) else {},
        }
    return {"format": UPLIFT_FORMAT, "treatments": out}
