"""The MLServer custom runtime of every uplift predictor (``…runtime.runtime.UpliftRuntime``).

model-settings.json::

    {"name": "uplift", "implementation": "uplift_operator.runtime.runtime.UpliftRuntime",
     "parameters": {"uri": "models:/uplift-hillstrom/3", "extra": {"holdout_fraction": 0.1}}}

The URI is ``models:/name/version``, ``models:/name@alias``, ``runs:/…`` (tracking server and
credentials from ``MLFLOW_TRACKING_URI``/``MLFLOW_TRACKING_USERNAME``/``…_PASSWORD``/``…_TOKEN``)
or a local path (relative to the settings file). Server settings must have
``parallel_workers: 0`` (``MLSERVER_PARALLEL_WORKERS=0``): decisions, reports and metrics then
share one process; and no adaptive batching (``max_batch_size`` unset or 1): a merged batch
carries its last request's ``parameters``, so one campaign. The load is refused otherwise.
Request/response formats, endpoints and metrics: ``docs/runtime.md``.

Reports: with ``UPLIFT_REPORT_TOKEN_FILE`` (or ``UPLIFT_REPORT_TOKEN``) set,
``/uplift/v1/deliveries`` and ``/uplift/v1/outcomes`` answer only requests with ``Authorization:
Bearer <one of those tokens>`` (401 otherwise); the file is re-read when it changes, so a rotated
token needs no restart (``report_tokens``). Inference stays open (Seldon's executor calls it).
``/uplift/v1/drain`` answers the pod's preStop hook only: from loopback, with the per-process
token written at load to ``UPLIFT_DRAIN_TOKEN_FILE`` (``runtime.drain``).

Campaigns: with ``UPLIFT_CAMPAIGNS_FILE`` set, a background task polls that file once a second
(``reloading.FileWatch``) and applies each new version without a restart; a request names its
campaign in ``parameters.campaign``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import math
import multiprocessing
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from fastapi import Request
from mlserver import MLModel
from mlserver.errors import MLServerError
from mlserver.handlers import custom_handler
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataTensor,
    Parameters,
    ResponseOutput,
)
from mlserver.utils import get_model_uri

from uplift_operator.model import pyfunc
from uplift_operator.model.features import FeatureError, FeatureErrorReason
from uplift_operator.runtime import campaigns, events
from uplift_operator.runtime import drain as drain_hook
from uplift_operator.runtime.assignment import ARMS
from uplift_operator.runtime.config import (
    DECISION_KEY_ENV,
    REPORT_TOKEN_ENV,
    REPORT_TOKEN_FILE_ENV,
    ConfigError,
    RuntimeConfig,
)
from uplift_operator.runtime.drain import DRAIN_PATH
from uplift_operator.runtime.engine import (
    BoundCampaign,
    DecisionBatch,
    DecisionEngine,
    RequestError,
    RequestErrorReason,
)
from uplift_operator.runtime.metrics import RuntimeMetrics, Scope
from uplift_operator.runtime.reloading import FileWatch
from uplift_operator.runtime.report_tokens import ReportTokens
from uplift_operator.runtime.windows import DueCounts

#: Every reason an inference request is refused with (``_reject``): each is counted from zero
#: at startup, since a series born inside a PromQL range loses its first increments, and the
#: errorRate gate would miss the first errors of a reason the canary alone has (a feature its
#: clients do not send, an internal error).
INFER_ERROR_REASONS: tuple[str, ...] = (*get_args(FeatureErrorReason),
                                        *get_args(RequestErrorReason), "internal")

log = logging.getLogger("uplift_operator.runtime")

UNIT_ID = "unit_id"
CAMPAIGNS_FILE_ENV = "UPLIFT_CAMPAIGNS_FILE"
CAMPAIGNS_POLL_SECONDS = 1.0
#: How long a campaign that left the file keeps its series after the last count pending for
#: it (its decisions' windows closed, the reports' cohorts counted): several scrapes, so the
#: last values are read before the series go (docs/runtime.md "Metrics").
FORGET_AFTER_SECONDS = 600.0
DELIVERIES_PATH = "/uplift/v1/deliveries"
OUTCOMES_PATH = "/uplift/v1/outcomes"
REPORT_ENDPOINTS = ("deliveries", "outcomes")
_PARALLEL_WORKERS_ENV = "MLSERVER_PARALLEL_WORKERS"
#: This process's drain token (``runtime.drain``): one per process, so a model reloaded in it
#: keeps the token its file holds.
_DRAIN_TOKEN = drain_hook.new_token()
_INT_RANGE = {"INT8": (-(2**7), 2**7 - 1), "INT16": (-(2**15), 2**15 - 1),
              "INT32": (-(2**31), 2**31 - 1), "INT64": (-(2**63), 2**63 - 1),
              "UINT8": (0, 2**8 - 1), "UINT16": (0, 2**16 - 1), "UINT32": (0, 2**32 - 1),
              "UINT64": (0, 2**64 - 1)}
_FLOAT = frozenset({"FP16", "FP32", "FP64"})
_INT64_MAX = 2**63 - 1
_MAX_DIMS = 4           # data nested deeper than a tensor of this rank is refused
_MAX_STRING = 1024      # characters in one BYTES value (a category)
_MAX_INPUTS = 1024
_MAX_DRAIN = 16         # a report body up to this many times the limit is read (and dropped)
                        # so the connection stays usable; beyond, the connection is closed


class _Exported:
    """A bound gauge child and the value last set on it, set again only when it changes: a
    ``.labels()`` and a ``.set()`` per campaign and gauge every second were 72–175 ms of the
    event loop per tick at 4,096 campaigns. Whoever removes the series drops this with it."""

    __slots__ = ("child", "value")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.value: float | None = None

    def set(self, value: float) -> None:
        if value != self.value:
            self.child.set(value)
            self.value = value


class _PeriodSeries:
    """A ledger's period series as exported (``uplift_campaign_period_spend`` and ``…_start``)
    and what they were worked out for: the campaign's settings, and when that period ends."""

    __slots__ = ("campaign", "ends", "ledger_id", "spend", "start")

    def __init__(self, ledger_id: str, spend: Any, start: Any) -> None:
        self.ledger_id = ledger_id
        self.spend, self.start = _Exported(spend), _Exported(start)
        self.campaign: campaigns.Campaign | None = None
        self.ends: float | None = None   # None: a budget without a period

    def stale(self, campaign: campaigns.Campaign, now: float) -> bool:
        """Whether the tick must work them out again: other settings, or the period over."""
        return campaign is not self.campaign or (self.ends is not None and now >= self.ends)


class UpliftError(MLServerError):  # type: ignore[misc]
    """Answered by MLServer as ``{"error": message}`` with ``status``; never a traceback."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message, status_code=status)


def version_from_uri(uri: str) -> str | None:
    """``models:/name/7`` → ``"7"``; ``models:/name@alias`` → the aliased version (registry)."""
    if m := re.fullmatch(r"models:/([^/@]+)/(\d+)", uri):
        return m.group(2)
    if m := re.fullmatch(r"models:/([^/@]+)@([\w-]+)", uri):
        try:
            from mlflow import MlflowClient

            return str(MlflowClient().get_model_version_by_alias(m.group(1), m.group(2)).version)
        except Exception:  # a label, not a reason to refuse serving
            log.warning("could not resolve %s to a version", uri)
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _flatten(name: str, data: Any) -> list[Any]:
    """V2 ``data``: a scalar, a flat list, or nested lists in row-major order → the values."""
    raw = data.root if hasattr(data, "root") else data
    if not isinstance(raw, list):
        return [raw]
    values: list[Any] = raw
    for _ in range(_MAX_DIMS):
        types = set(map(type, values))
        if list not in types:
            return values
        if types != {list}:
            raise RequestError(f"input {name!r}: data mixes lists and values", "bad_shape")
        values = [x for v in values for x in v]
    raise RequestError(f"input {name!r}: data nested deeper than {_MAX_DIMS} levels",
                       "bad_shape")


def _first(values: list[Any], bad: Callable[[Any], bool]) -> Any:
    return next(v for v in values if bad(v))


#: From 2**52 on, a float holds no fraction: ``4503599627370496.5`` parses as 2**52 and
#: ``9007199254740993.0`` as 2**53, so an integral float there may be another number sent.
_EXACT_FLOAT = 2.0 ** 52


def _integers(name: str, datatype: str, values: list[Any],
              max_abs: float) -> np.ndarray[Any, Any]:
    """Integers only: no booleans, strings or fractions (``1.0`` is 1, ``1.7`` is refused),
    nor a float at or beyond 2**52 (``4503599627370496.5`` reads as 2**52, ``9007199254740993.0``
    as 2**53: a fraction dropped or another integer)."""
    types = set(map(type, values))
    if not types <= {int, float}:
        v = _first(values, lambda v: type(v) not in (int, float))
        raise RequestError(f"input {name!r} is declared {datatype} but holds a non-numeric "
                           f"value {_show(v)}", "wrong_type")
    if float in types:
        if any(type(v) is float and not (math.isfinite(v) and v.is_integer()) for v in values):
            v = _first(values, lambda v: type(v) is float and not (math.isfinite(v)
                                                                   and v.is_integer()))
            raise RequestError(f"input {name!r} is declared {datatype} but holds {_show(v)}, "
                               "not an integer", "wrong_type")
        lo, hi = _INT_RANGE[datatype]
        if any(type(v) is float and not lo <= v <= hi for v in values):
            # Out of the type's range says more than "a float near 2**52" (a JSON integer
            # like 2**70 arrives as a float).
            v = _first(values, lambda v: type(v) is float and not lo <= v <= hi)
            raise RequestError(f"input {name!r}: {_show(v)} is outside the {datatype} range",
                               "out_of_range")
        if any(type(v) is float and abs(v) >= _EXACT_FLOAT for v in values):
            v = _first(values, lambda v: type(v) is float and abs(v) >= _EXACT_FLOAT)
            raise RequestError(f"input {name!r} is declared {datatype} but holds {_show(v)}, a "
                               "float at or beyond 2**52 in size, where a float may be another "
                               "number than the one sent (write an integer without a fraction "
                               "or exponent)",
                               "wrong_type")
        values = [int(v) for v in values]
    lo, hi = _INT_RANGE[datatype]
    if min(values) < lo or max(values) > hi:
        v = _first(values, lambda v: not lo <= v <= hi)
        raise RequestError(f"input {name!r}: {_show(v)} is outside the {datatype} range",
                           "out_of_range")
    if max(abs(min(values)), abs(max(values))) > max_abs:
        v = _first(values, lambda v: abs(v) > max_abs)
        raise RequestError(f"input {name!r}: {_show(v)} is beyond the plausible bound "
                           f"{max_abs:g}", "out_of_range")
    # A UINT64 beyond INT64 (only a unit id gets past the bound): unsigned.
    return np.asarray(values, dtype=np.uint64 if max(values) > _INT64_MAX else np.int64)


def _floats(name: str, datatype: str, values: list[Any], max_abs: float) -> np.ndarray[Any, Any]:
    if not set(map(type, values)) <= {int, float}:
        v = _first(values, lambda v: type(v) not in (int, float))
        raise RequestError(f"input {name!r} is declared {datatype} but holds a non-numeric "
                           f"value {_show(v)}", "wrong_type")
    if any(type(v) is int and abs(v) > max_abs for v in values):  # before float(): 10**400
        v = _first(values, lambda v: type(v) is int and abs(v) > max_abs)
        raise RequestError(f"input {name!r}: {_show(v)} is beyond the plausible bound "
                           f"{max_abs:g}", "out_of_range")
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all() or np.abs(arr).max() > max_abs:
        v = values[int(np.flatnonzero(~np.isfinite(arr) | (np.abs(arr) > max_abs))[0])]
        raise RequestError(f"input {name!r}: {_show(v)} is not a finite number within the "
                           f"plausible bound {max_abs:g}", "out_of_range")
    return arr


def _strings(name: str, values: list[Any]) -> np.ndarray[Any, Any]:
    if set(map(type, values)) == {str} and max(map(len, values)) <= _MAX_STRING:
        return np.array(values, dtype=object)  # the usual case, without a Python loop
    out = []
    for v in values:
        if isinstance(v, bytes):
            try:
                v = v.decode()
            except UnicodeDecodeError:
                raise RequestError(f"input {name!r} holds bytes that are not UTF-8",
                                   "wrong_type") from None
        if not isinstance(v, str):
            raise RequestError(f"input {name!r} is declared BYTES but holds {_show(v)}; "
                               "categories are strings", "wrong_type")
        if len(v) > _MAX_STRING:
            raise RequestError(f"input {name!r} holds a value longer than {_MAX_STRING} "
                               "characters", "out_of_range")
        out.append(v)
    return np.array(out, dtype=object)


def _decode(name: str, datatype: str, values: list[Any], max_abs: float) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return _strings(name, values)
    if datatype in _INT_RANGE:
        return _integers(name, datatype, values, max_abs)
    if datatype in _FLOAT:
        return _floats(name, datatype, values, max_abs)
    if datatype == "BOOL":
        if not set(map(type, values)) <= {bool}:
            v = _first(values, lambda v: type(v) is not bool)
            raise RequestError(f"input {name!r} is declared BOOL but holds {_show(v)}; use "
                               "true or false", "wrong_type")
        return np.asarray(values, dtype=np.bool_)
    raise RequestError(f"input {name!r}: unsupported datatype {datatype}", "wrong_type")


def decode_columns(payload: InferenceRequest, unit_key: str = UNIT_ID, *,
                   features: Collection[str] | None = None, max_rows: int = 10_000,
                   max_abs: float = 1e15) -> tuple[dict[str, Any], list[str] | None]:
    """V2 inputs (one per column, any shape [n] / [n, 1]) → name → 1-D array, unit ids.

    The input named ``unit_key`` (configurable, ``unit_id`` by default) identifies the units.
    Only ``features`` (all inputs but the unit key when ``None``) and the unit key are decoded
    (one that is also among ``features``, as both); other inputs are ignored. Every value is
    checked against its declared datatype (range, integrality, finiteness, ``max_abs``), every
    unit id against :func:`events.unit_id_problem` (an id, not a feature: no ``max_abs``, so a
    64-bit id such as a Snowflake id is one).
    """
    if len(payload.inputs) > _MAX_INPUTS:
        raise RequestError(f"at most {_MAX_INPUTS} inputs, got {len(payload.inputs)}",
                           "too_large", 413)
    columns: dict[str, Any] = {}
    unit_ids: list[str] | None = None
    seen: set[str] = set()
    for inp in payload.inputs:
        name = inp.name
        if name in seen:
            raise RequestError(f"input {name!r} is given twice", "bad_request")
        seen.add(name)
        is_unit = name == unit_key
        # The unit key is a feature too when the model has one of its name (a customer id the
        # model was trained on): decoded as both, each with its own checks. Before, it was
        # taken as ids only and every request failed "missing features".
        is_feature = name in features if features is not None else not is_unit
        if not is_unit and not is_feature:
            continue  # not a feature: ignored by the schema
        datatype = getattr(inp.datatype, "value", str(inp.datatype))
        flat = _flatten(name, inp.data)
        if any(d < 0 for d in inp.shape) or math.prod(inp.shape) != len(flat):
            raise RequestError(f"input {name!r}: shape {inp.shape} but {len(flat)} values",
                               "bad_shape")
        if not 1 <= len(flat) <= max_rows:
            raise RequestError(f"input {name!r}: between 1 and {max_rows} rows per request, "
                               f"got {len(flat)}", "too_large" if flat else "bad_shape",
                               413 if flat else 400)
        if is_unit:
            # What the decoding would misreport first: a null, blank or over-long id is a bad
            # unit id, not a category of the wrong type or a value out of range. The rest
            # (floats: 3.0 is 3 in an INT* input; booleans; bytes) is the decoding's, and the
            # decoded ids are checked below.
            _check_unit_ids_before_decoding(name, flat)
            units = (_unit_strings(name, flat) if datatype == "BYTES"
                     else _decode(name, datatype, flat, math.inf)).tolist()
            _check_unit_ids(name, units)
            unit_ids = [str(v) for v in units]
        if is_feature:
            columns[name] = _decode(name, datatype, flat, max_abs)
    return columns, unit_ids


def _unit_strings(name: str, values: list[Any]) -> np.ndarray[Any, Any]:
    """The ids of a ``BYTES`` unit key input (the V2 metadata declares ``unit_id`` BYTES): its
    strings as sent, and a JSON integer as its decimal string — the id an integer is in an
    ``INT*`` input and in a report's ``unit_id``, so ``123`` and ``"123"`` are one unit here as
    there. Another value (a float, a boolean) is ``bad_unit_id``, not a category of the wrong
    type. Before, an integer was refused ``wrong_type`` "categories are strings"."""
    if not set(map(type, values)) <= {str, bytes}:
        values = [str(v) if type(v) is int else v for v in values]
        for i, v in enumerate(values):
            if type(v) not in (str, bytes) and (problem := events.unit_id_problem(v)):
                raise RequestError(f"input {name!r}[{i}]: a unit id {problem}", "bad_unit_id")
    return _strings(name, values)


def _check_unit_ids(name: str, units: list[Any]) -> None:
    """``bad_unit_id`` naming the first decoded value of ``units`` that cannot identify a
    unit (:func:`events.unit_id_problem`): a float of an FP input, a boolean, ..."""
    if (set(map(type, units)) == {str} and all(map(str.strip, units))
            and max(map(len, units)) <= events.MAX_UNIT_ID):
        return  # the usual case, without a Python loop
    for i, unit in enumerate(units):
        if (problem := events.unit_id_problem(unit)) is not None:
            raise RequestError(f"input {name!r}[{i}]: a unit id {problem}", "bad_unit_id")


def _check_unit_ids_before_decoding(name: str, units: list[Any]) -> None:
    """``bad_unit_id`` naming the first raw value the decoding would refuse for another
    reason: ``None``, a blank string, a string or an integer longer than
    ``events.MAX_UNIT_ID`` characters. Other values are left to the decoding."""
    if (set(map(type, units)) == {str} and all(map(str.strip, units))
            and max(map(len, units)) <= events.MAX_UNIT_ID):
        return  # the usual case, without a Python loop
    for i, unit in enumerate(units):
        if ((unit is None or type(unit) in (str, int))
                and (problem := events.unit_id_problem(unit)) is not None):
            raise RequestError(f"input {name!r}[{i}]: a unit id {problem}", "bad_unit_id")


def _output(name: str, values: list[Any], datatype: str) -> ResponseOutput:
    return ResponseOutput(name=name, shape=[len(values), 1], datatype=datatype, data=values)


class UpliftRuntime(MLModel):  # type: ignore[misc]
    """Scores V2 requests, decides per row, ingests deliveries/outcomes, exports metrics."""

    async def load(self) -> bool:
        self._refuse_other_processes_and_batching()
        params = self.settings.parameters
        extra = dict(params.extra or {}) if params is not None else {}
        try:
            config = RuntimeConfig.from_sources(extra, os.environ)
            self._report_tokens = ReportTokens.from_environment(os.environ, time.monotonic())
        except ConfigError as exc:
            raise UpliftError(f"runtime configuration: {exc}", 500) from None
        uri = await get_model_uri(self.settings)
        model = await asyncio.to_thread(pyfunc.load, uri)
        # One OpenMP thread per request: per-row scoring is too small to split, and spinning
        # threads cost more than they give on small nodes. Set after sklearn is loaded.
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        threadpool_limits(limits=1, user_api="openmp")
        version = (config.model_version or self.settings.version
                   or await asyncio.to_thread(version_from_uri, uri) or "local")
        try:
            self._engine = DecisionEngine(model, config, version, self._signer())
        except ValueError as exc:  # ConfigError included: a cost for a treatment it lacks
            raise UpliftError(f"model {uri} cannot be served: {exc}", 500) from None
        self._bind_metrics(uri)
        try:
            self._warm_up()
            self._start_campaigns(os.environ.get(CAMPAIGNS_FILE_ENV) or None)
        except BaseException:
            # MLServer unloads a first load that fails, never a reload's new instance (the old
            # one goes on): what this one set would stay next to the old one's.
            self._withdraw_states()
            raise
        self._publish_drain_token(drain_hook.token_file(os.environ))
        log.info("uplift model %s loaded from %s as version %s (learner %s, treatments %s)",
                 self.name, uri, self._engine.version, model.learner.name,
                 list(model.treatment_keys))
        if self._report_tokens is None:
            log.warning("no %s or %s: the report endpoints answer whoever reaches this server; "
                        "restrict who does (a NetworkPolicy) or set a report token",
                        REPORT_TOKEN_FILE_ENV, REPORT_TOKEN_ENV)
        else:
            log.info("the report endpoints require a bearer token: %d accepted, from %s%s",
                     len(self._report_tokens.tokens), self._report_tokens.source,
                     " (re-read when it changes)" if self._report_tokens.watched else "")
        # Last: a load that fails before this leaves no poller behind for a model not served
        # (MLServer drops it from the registry, and nothing would ever cancel the task).
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        # The report and drain endpoints answer with this instance from now on (_LIVE).
        _LIVE[self.name] = self
        return True

    def _refuse_other_processes_and_batching(self) -> None:
        """Refuse the load (500) under the MLServer settings that break the runtime's contract:

        - adaptive batching (``max_batch_size`` > 1, ``MLSERVER_MODEL_MAX_BATCH_SIZE``): MLServer
          merges the batched requests' ``parameters``, the last one's winning, so every row of a
          batch would be decided under the last request's campaign (its salt, holdout, exposure,
          cap and budget; ids signed with it, counters and cohorts counting them there);
        - parallel workers (``parallel_workers`` > 0, ``MLSERVER_PARALLEL_WORKERS``): the model
          is loaded in worker processes, each with its own unit cache, dedup window, cap ledger,
          budget spend and counters, and MLServer's ``/metrics`` serves none of them.
        """
        batch = self.settings.max_batch_size or 0
        if batch > 1:
            raise UpliftError(f"MLServer adaptive batching is not supported: max_batch_size is "
                              f"{batch} (model-settings.json or MLSERVER_MODEL_MAX_BATCH_SIZE); "
                              "batched requests share one set of parameters, so their rows "
                              "would be decided under one campaign. Leave max_batch_size unset "
                              "(0) or 1", 500)
        workers = os.environ.get(_PARALLEL_WORKERS_ENV, "").strip()
        if workers not in ("", "0"):
            where = f"{_PARALLEL_WORKERS_ENV} is {workers!r}"
        elif _in_parallel_worker():
            where = ("the model is being loaded in a parallel inference worker (settings.json "
                     "parallel_workers is not 0; MLServer's default is 1)")
        else:
            return
        raise UpliftError(f"MLServer parallel workers are not supported: {where}. Set "
                          f"parallel_workers: 0 in settings.json ({_PARALLEL_WORKERS_ENV}=0): "
                          "decisions, reports and metrics must share one process", 500)

    def _publish_drain_token(self, path: Path) -> None:
        """Write this process's drain token where the preStop hook reads it. A file that cannot
        be written leaves the drain refused (logged), not the model unserved."""
        self._drain_token_file = path
        try:
            drain_hook.write_token(path, _DRAIN_TOKEN)
        except (OSError, ValueError) as exc:   # ValueError: a path without a file name ("/")
            log.error("cannot write the drain token to %s (%s): the preStop hook cannot drain "
                      "this replica; set %s to a writable path in an emptyDir of this container",
                      path, getattr(exc, "strerror", None) or exc, drain_hook.TOKEN_FILE_ENV)

    @staticmethod
    def _signer() -> events.Signer:
        """The decision key from the environment; a random one (one process only) without."""
        try:
            key = RuntimeConfig.decision_key(os.environ, lambda path: Path(path).read_bytes())
        except ConfigError as exc:
            raise UpliftError(f"runtime configuration: {exc}", 500) from None
        if key is None:
            log.warning("no %s: decision ids are signed with a random key of this process, so "
                        "only this process accepts reports for them; replicas of one predictor "
                        "must share the key (the operator mounts it from a Secret)",
                        DECISION_KEY_ENV)
            key = events.random_key()
        return events.Signer(key)

    def _bind_metrics(self, uri: str) -> None:
        engine, m = self._engine, RuntimeMetrics()
        self._m = m
        base = {"model": self.name, "version": engine.version}
        self._base = base
        # Bound children: .labels() costs more than .inc() on the per-request path.
        self._latency = {e: m.request_duration.labels(**base, endpoint=e)
                         for e in ("infer", "deliveries", "outcomes")}
        self._rows = {"": m.rows_scored.labels(**base, campaign="")}  # by campaign
        self._uplift_keys = list(engine.keys)
        self._bins = {name: [m.feature_bins.labels(**base, feature=name, bin=str(i))
                             for i in range(fb.n_bins)]
                      for name, fb in engine.feature_bins.items()}
        # Zeros up front: a series born inside a PromQL range loses its first increments.
        self._export_zeros(engine.version, "")
        for reason in INFER_ERROR_REASONS:
            m.errors.labels(**base, endpoint="infer", reason=reason)
        tokens = self._report_tokens
        if tokens is not None:  # a sender without the token shows from its first
            for endpoint in REPORT_ENDPOINTS:
                m.errors.labels(**base, endpoint=endpoint, reason="unauthorized")
        m.report_tokens.labels(**base).set(len(tokens.tokens) if tokens is not None else 0)
        if tokens is not None and tokens.watched:  # an invalid version shows from its first
            for result in ("ok", "error"):
                m.report_token_reloads.labels(**base, result=result)
            m.report_token_file_refused.labels(**base).set(0)  # the load read a valid one
        m.errors.labels(**base, endpoint="drain", reason="forbidden")
        self._rows_without_unit = m.rows_without_unit.labels(**base)   # at zero from load
        # (model, version, uri, learner, salt, holdout_fraction): _withdraw_info
        self._info = (self.name, engine.version, uri, engine.model.learner.name,
                      engine.config.salt, str(engine.config.holdout_fraction))
        m.info.labels(*self._info).set(1)

    # --- campaigns ------------------------------------------------------------------------

    def _start_campaigns(self, path: str | None) -> None:
        """Read the campaigns file (if configured); ``load`` then polls it in the background."""
        self._campaigns: dict[str, BoundCampaign] | None = None if path is None else {}
        self._split: campaigns.VersionSplit | None = None  # the file's version split
        self._watch = FileWatch(path) if path is not None else None
        self._file_seen = False  # a file that vanishes after a version keeps that version
        # (expected | received | converted, campaign, arm, treatment, version) → count, due
        # when windows close; grouped by campaign and by version (_forget_retired)
        self._due: DueCounts[tuple[str, str, str, str, str]] = DueCounts(groups=_pending_groups)
        self._drained = False   # after the preStop drain: cohort counts are counted at once
        self._ignored_campaign_logged = False
        # campaign → its ledger's period series (what the tick refreshes when they go stale)
        self._period_ledgers: dict[str, _PeriodSeries] = {}
        # campaign → its generation and exposure gauges (set only when their value changes)
        self._campaign_gauges: dict[str, tuple[_Exported, _Exported]] = {}
        # campaign → the file's entry it was taken from (only a changed entry is bound again)
        self._sources: dict[str, Any] = {}
        # ("campaign", a campaign that left the file) or ("version", a version that left the
        # split) → when its series may go, if nothing of it is pending (_forget_retired)
        self._retired: dict[tuple[RetiredLabel, str], float] = {}
        # (version, campaign) of another version of the split whose report and cohort series
        # are exported at zero here (_export_split_zeros) → for which treatment keys
        self._zeroed: dict[tuple[str, str], tuple[str, ...]] = {}
        # campaigns whose series are exported at zero here: each from when it may treat (or
        # a cohort count of its is held here), until its counters go (_forget_idle)
        self._zeros_out: set[str] = set()
        # a campaign of the file that treats no one (inactive, exposure 0, past its end)
        # while its series are at zero here → when its counters may go (_forget_idle)
        self._idle: dict[str, float] = {}
        # campaign → the treatment keys its entry in the file names (taken here or not), and
        # the entry they were read from
        self._named_keys: dict[str, frozenset[str]] = {}
        self._named_entries: dict[str, Any] = {}
        # the campaigns whose current entry is rejected (uplift_campaign_entry_refused = 1)
        self._refused_entries: set[str] = set()
        if path is not None:  # a rejected version shows from its first
            self._m.campaigns_file_refused.labels(**self._base).set(0)
        self._campaign_tick(time.time())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(CAMPAIGNS_POLL_SECONDS)
            try:
                self._campaign_tick(time.time())
            except Exception:  # never let the poller die: the next tick tries again
                log.exception("campaigns tick failed")
            try:  # a new token file shows in the log and metrics without waiting for a report
                self._refresh_report_tokens(time.monotonic())
            except Exception:
                log.exception("report tokens refresh failed")

    def _refresh_report_tokens(self, now: float) -> None:
        """Take a new version of the report token file, if any (``report_tokens``; at most one
        look per second, ``now`` monotonic): counted by result, the tokens in force exported,
        and whether the file's version now is refused (until a valid one is read)."""
        tokens = self._report_tokens
        reload = tokens.refresh(now) if tokens is not None else None
        if tokens is None or reload is None:
            return
        self._m.report_token_reloads.labels(**self._base,
                                            result="ok" if reload.ok else "error").inc()
        self._m.report_token_file_refused.labels(**self._base).set(0 if reload.ok else 1)
        self._m.report_tokens.labels(**self._base).set(len(tokens.tokens))

    async def unload(self) -> bool:
        if _LIVE.get(self.name) is self:   # not a reload's: nothing answers reports now
            del _LIVE[self.name]
        ticker = getattr(self, "_ticker", None)
        if ticker is not None:
            ticker.cancel()
        # MLServer may unload (and reload) the model in a process that goes on: what is pending
        # would leave with this instance, so it is counted now, as a stopping replica's is.
        if getattr(self, "_due", None) is not None:
            self.drain_cohorts()
            if not getattr(self, "_handed_over", False):
                self._hand_over(time.time())
        self._withdraw_states()
        return True

    def _withdraw_states(self) -> None:
        """Remove the gauges this instance set that nothing sets once it is gone: at its
        unload, or when its load fails after its metrics were bound (MLServer never unloads a
        reload's new instance that failed). Its counters stay (its version's go later:
        ``_hand_over``)."""
        if getattr(self, "_m", None) is None:
            return
        if not self._version_served():
            # States of a version no instance serves now (what is loaded, the campaigns and
            # token files refused, a campaign's exposure), never set again: gone at once, or
            # an alert on a file refused before a reload to another version fired for as long
            # as the process ran.
            self._m.forget_many(self.name, "version", (self._engine.version,), counters=False)
        else:
            self._withdraw_info()
        # Its ledgers leave with it; the next instance counts from zero under new ids.
        for name in list(getattr(self, "_period_ledgers", {})):
            self._remove_period_spend(name)
        # The next instance judges anew; MLServer's reload loads it before this one unloads,
        # so a series it set already (the same entry refused) stays: _disown_refused.
        if getattr(self, "_refused_entries", None):
            self._export_refused_entries(set())

    def _withdraw_info(self) -> None:
        """Remove this instance's ``uplift_model_info`` unless the model's loaded instance
        exports the same series. A version still served keeps its other gauges (the loaded
        instance sets the same series), but its info carries the URI, learner, salt and holdout
        fraction too: a reload to the same version with any of them changed left the old
        series next to the new one (two models loaded)."""
        labels = getattr(self, "_info", None)
        live = _LIVE.get(self.name)
        if labels is None or (live is not None and live is not self
                              and getattr(live, "_info", None) == labels):
            return
        with contextlib.suppress(KeyError):  # removed already (a failed load, then its unload)
            self._m.info.remove(*labels)

    def _campaign_tick(self, now: float) -> None:
        """Apply a new version of the campaigns file, refresh the campaign gauges, count the
        decisions, outcomes and conversions of the attribution windows that closed."""
        if self._watch is not None:
            change = self._watch.poll()
            if change is not None and change.missing and not self._file_seen:
                # Never there yet: the operator writes it once a Campaign or a canary split
                # needs it (the volume is optional). No campaign, no split, nothing wrong.
                log.info("campaigns file %s not there (yet): no campaign, no version split",
                         self._watch.path)
            elif change is not None:
                self._file_seen = True
                self._apply_campaigns(change.text, change.error)
        m, base, gauges = self._m, self._base, self._campaign_gauges
        zeros_out, idle = self._zeros_out, self._idle
        may_treat: list[str] = []   # whose series go to zero after the loop, in this tick
        for name, bound in (self._campaigns or {}).items():
            c = bound.campaign
            exported = gauges.get(name)
            if exported is None:
                exported = gauges[name] = (
                    _Exported(m.campaign_generation.labels(**base, campaign=name)),
                    _Exported(m.campaign_exposure.labels(**base, campaign=name)))
            generation, exposure = exported
            generation.set(c.generation)
            state = c.state(now)
            exposure.set(c.exposure_percent if state == "active" else 0.0)
            # Series at zero while it may treat (now, or from its start), for a window after
            # it stops: treats_no_one() or past its end, spelt out (once a second, each one).
            if state == "inactive" or state == "ended" or c.exposure_percent <= 0:
                if name in zeros_out and name not in idle:
                    idle[name] = now + c.attribution_window_seconds + FORGET_AFTER_SECONDS
            elif name not in zeros_out:
                may_treat.append(name)
                if idle:   # a report of it while it treated no one (_reported)
                    idle.pop(name, None)
            elif idle and name in idle:
                del idle[name]
            if c.budget is not None:   # spend moves with decisions: refreshed by each
                series = self._period_ledgers.get(name)
                if series is None or series.stale(c, now):
                    self._export_period_spend(name, now)
        # After the loop: ~77 children each, between two campaigns' gauges, scattered them
        # in memory, and every tick after read them slower (~2 x at 4,096 campaigns).
        for name in may_treat:
            self._export_campaign_zeros(name)
        if _HANDED_OVER:   # what an unloaded instance of this model left to remove
            handed = _HANDED_OVER.pop(self.name, None)
            if handed is not None:
                self._take_over(handed)
        self._forget_retired(now)   # first: a count due now is still pending, so it is kept
        self._forget_idle(now)
        self._count_cohorts(self._due.pop_due(now))

    def _forget_retired(self, now: float) -> None:
        """Remove the series of campaigns that left the file and of versions that left the
        split, once their decisions' windows have closed, no cohort count of theirs is pending
        (it would increment them: a series born again inside a range loses its first
        increments) and a few scrapes have read their last values. Without this, /metrics grows
        with every campaign ever configured and every version ever in a split. All those due
        in a tick go in one pass over the series per label (``RuntimeMetrics.forget_many``):
        one pass per campaign blocked the event loop 38 s when 2,048 left in one version."""
        gone: dict[RetiredLabel, list[str]] = {"campaign": [], "version": []}
        for (label, value), after in list(self._retired.items()):
            if now < after:
                continue
            last = self._due.last_due((label, value))
            if last is not None:   # counted when due: kept a few scrapes past that
                self._retired[label, value] = max(last, now) + FORGET_AFTER_SECONDS
                continue
            del self._retired[label, value]
            gone[label].append(value)
            if label == "campaign":   # its bound series go with them
                self._rows.pop(value, None)
                self._campaign_gauges.pop(value, None)
                self._period_ledgers.pop(value, None)
                self._zeros_out.discard(value)
        if not any(gone.values()):
            return
        self._drop_zeroed(gone["campaign"], gone["version"])
        for label, values in gone.items():
            if not values:
                continue
            removed = self._m.forget_many(self.name, label, values)
            log.info("%d %ss left the %s and nothing of them is pending: removed their %d "
                     "series%s", len(values), label, _RETIRED_FROM[label],
                     sum(removed.values()), _some(values))

    def _forget_idle(self, now: float) -> None:
        """Remove the counters of campaigns of the file that treat no one (inactive, exposure
        0, past their end) once a window has passed since they stopped, no cohort count of
        theirs is pending and a few scrapes have read their last values, as ``_forget_retired``
        does for a campaign that left the file (all those due in a tick in one pass); their
        gauges (generation, exposure, period spend) stay. Their series at zero come back when
        they may treat again. Without this, every scrape renders ~77 series at zero per
        campaign of the file, treating or not (docs/runtime.md "What a file of thousands of
        campaigns costs")."""
        idle: list[str] = []
        for name, after in list(self._idle.items()):
            if now < after:
                continue
            last = self._due.last_due(("campaign", name))
            if last is not None:   # counted when due: kept a few scrapes past that
                self._idle[name] = max(last, now) + FORGET_AFTER_SECONDS
                continue
            del self._idle[name]
            self._zeros_out.discard(name)
            self._rows.pop(name, None)   # its bound child goes with its series
            idle.append(name)
        if not idle:
            return
        self._drop_zeroed(idle)
        removed = self._m.forget_many(self.name, "campaign", idle, gauges=False)
        log.info("%d campaigns have treated no one for their attribution window and nothing of "
                 "them is pending: removed their %d counter series (at zero again once they "
                 "may treat)%s", len(idle), sum(removed.values()),
                 _some(idle))

    def _drop_zeroed(self, names: Collection[str] = (), versions: Collection[str] = ()
                     ) -> None:
        """Forget that the split's other versions' series of the campaigns ``names``, and every
        series of ``versions``, are exported at zero here: their series are removed (one
        pass over what is exported, however many go)."""
        drop_c, drop_v = set(names), set(versions)
        self._zeroed = {zeroed: keys for zeroed, keys in self._zeroed.items()
                        if zeroed[1] not in drop_c and zeroed[0] not in drop_v}

    def _hand_over(self, now: float) -> None:
        """Leave what this instance would have removed to the next instance of the model,
        whatever version it serves (``_HANDED_OVER``, ``_take_over``): MLServer reloads a model
        in the process by loading the new instance, then unloading this one, and the series
        this one had were never removed (a campaign that left the file, one that treats no
        one, a version that left the split; its own counters at zero too, should the new
        instance not export them). This instance's own version too, unless a loaded instance
        of the model serves it (a reload to the same version): a reload to another version
        left every series of the old one for the life of the process, and, keyed by (model,
        version), its hand-over with them, one more per version. MLServer reloads only when
        the new settings' ``parameters.version`` is unchanged or unset (a changed one loads
        the new instance next to this one, no unload); the runtime's version then changes
        only without ``UPLIFT_MODEL_VERSION``: new settings with neither ``model_version`` in
        ``parameters.extra`` nor ``parameters.version`` whose URI resolves to another version
        (``models:/m/4`` after ``/3``, an alias moved), or a changed ``model_version``. Never
        in operator pods, which set ``UPLIFT_MODEL_VERSION`` to the pod's version: a changed
        URI there is a reload to the same version (docs/runtime.md). Each no sooner than
        ``FORGET_AFTER_SECONDS`` from now: the unload's drain has just counted what was
        pending; a version's and a campaign's not before its decisions' windows have closed
        (their reports still count under it)."""
        self._handed_over = True
        floor = now + FORGET_AFTER_SECONDS
        current = self._campaigns or {}
        campaigns: dict[str, float] = {}
        versions: dict[str, float] = {}
        for (label, value), after in self._retired.items():
            (campaigns if label == "campaign" else versions)[value] = max(after, floor)
        for name, after in self._idle.items():
            campaigns[name] = max(campaigns.get(name, floor), after)
        for name in self._zeros_out:
            bound = current.get(name)
            window = bound.campaign.attribution_window_seconds if bound is not None else 0.0
            campaigns[name] = max(campaigns.get(name, floor), floor + window)
        split = self._split
        window = max([split.attribution_window_seconds if split is not None else 0.0,
                      *(b.campaign.attribution_window_seconds for b in current.values())])
        leaving = {v for v, _ in self._zeroed}
        if not self._version_served():
            leaving.add(self._engine.version)
        for version in leaving:
            versions[version] = max(versions.get(version, floor), floor + window)
        if not campaigns and not versions:
            return
        handed = _HANDED_OVER.setdefault(self.name, _Handover())
        for mine, theirs in ((campaigns, handed.campaigns), (versions, handed.versions)):
            for value, after in mine.items():
                theirs[value] = max(theirs.get(value, after), after)

    def _version_served(self) -> bool:
        """Whether the model's loaded instance (not this one, unloading) serves this one's
        version: a reload to the same version, which exports its series again."""
        live = _LIVE.get(self.name)
        return (live is not None and live is not self
                and live._engine.version == self._engine.version)

    def _take_over(self, handed: _Handover) -> None:
        """What an unloaded instance of this model left to remove (``_hand_over``), whatever
        version either serves: the series of a campaign this instance exports at zero are its
        own (removed once it stops treating); of another campaign of the file, its counters go
        as an idle one's; of a campaign the file does not name, all go, as a retired one's (one
        it names that this version rejects is served by the split's other version, whose series
        of it stay at zero here); of a version not this one's nor in the split (the unloaded
        instance's own, after a reload to another version), all go; one of the split keeps
        them until it leaves the split. Each no sooner than the old instance said."""
        current, zeros_out = self._campaigns or {}, self._zeros_out
        idle, retired, in_file = self._idle, self._retired, self._named_keys
        for name, after in handed.campaigns.items():
            if name in zeros_out:
                continue
            if name in current:
                if idle.get(name, -math.inf) < after:
                    idle[name] = after
            elif name not in in_file and retired.get(("campaign", name), -math.inf) < after:
                # One the file names that this version rejects (a treatment its model lacks)
                # is the split's other version's, whose series stay at zero here
                # (_export_split_zeros), as in _reported: not retired.
                retired["campaign", name] = after
        serving = {self._engine.version, *self._other_versions()}
        for version, after in handed.versions.items():
            if version not in serving and retired.get(("version", version), -math.inf) < after:
                retired["version", version] = after
        log.info("took over from the model's unloaded instance the removal of the series of %d "
                 "campaigns and %d versions (a reload)", len(handed.campaigns),
                 len(handed.versions))

    def _count_cohorts(self, due: dict[tuple[str, str, str, str, str], float]) -> dict[str, float]:
        """Add the cohort counts that fell due to their counters; the totals per kind."""
        m = self._m
        cohorts = {"expected": m.outcomes_expected, "received": m.outcomes_received,
                   "converted": m.outcomes_converted}
        totals = dict.fromkeys(cohorts, 0.0)
        for (kind, campaign, arm, treatment, version), count in due.items():
            cohorts[kind].labels(model=self.name, version=version, campaign=campaign, arm=arm,
                                 treatment=treatment).inc(count)
            totals[kind] += count
        return totals

    def _hold(self, closes: float, window: float, key: tuple[str, str, str, str, str],
              n: float = 1, now: float = -math.inf) -> None:
        """A cohort count, due when its window closes (one already closed at ``now``: counted
        at the next tick, ``DueCounts.add``); after the drain, counted at once: the
        stopping replica still answers until its endpoints are gone, and what it held then
        would leave with it (docs/runtime.md "A replica that stops")."""
        campaign = key[1]
        if campaign and campaign not in self._zeros_out and campaign in (self._campaigns or {}):
            # A campaign that treats no one here, and whose series this replica no longer (or
            # never) exported: at zero before the count lands in them (it lands when the
            # window closes), and gone again a window later (_forget_idle).
            self._export_campaign_zeros(campaign)
        if self._drained:
            self._count_cohorts({key: n})
        else:
            self._due.add(closes, window, key, n, now=now)

    def drain_cohorts(self) -> dict[str, float]:
        """Count every cohort count still pending, as if every window had closed: what a
        stopping replica holds would leave with it (its own decisions' expected count, the
        conversions reported to it), so its preStop hook counts them early instead, expected
        with received and converted so that a campaign's cohorts stay whole (docs/runtime.md,
        "A replica that stops")."""
        self._drained = True
        totals = self._count_cohorts(self._due.pop_due(math.inf))
        log.info("drained the pending cohort counts: %s",
                 ", ".join(f"{kind} {count:g}" for kind, count in totals.items()))
        return totals

    def _apply_campaigns(self, text: bytes | None, error: str | None) -> None:
        """Apply a new version of the campaigns file: read once, only the entries that changed
        parsed and bound again (``campaigns.apply_read``), the gauges of those that left
        removed, one log line with the counts and the names that changed (a few)."""
        previous = self._campaigns or {}
        path = self._watch.path if self._watch is not None else "?"
        try:
            if text is None:
                raise campaigns.CampaignsError(error or "cannot be read")
            document = campaigns.read_document(text)
            applied = campaigns.apply_read(
                previous, self._sources, document, self._engine.bind,
                note=lambda name, message: log.warning("campaigns file %s: %s", path, message))
        except campaigns.CampaignsError as exc:
            log.error("campaigns file %s: %s; keeping the last good settings of %s and the "
                      "last version split", path, exc, sorted(previous) or "no campaign")
            self._m.campaign_reloads.labels(**self._base, result="error").inc()
            self._m.campaigns_file_refused.labels(**self._base).set(1)
            return
        except Exception:   # a bug in reading it: a bad document still, never a failed load
            log.exception("campaigns file %s could not be applied; keeping the last good "
                          "settings of %s and the last version split", path,
                          sorted(previous) or "no campaign")
            self._m.campaign_reloads.labels(**self._base, result="error").inc()
            self._m.campaigns_file_refused.labels(**self._base).set(1)
            return
        # The split only from a document accepted (a document rejected whole changes nothing).
        # A malformed split is refused alone: the last one kept, the version counted partial
        # and the file refused (its gauge) until a valid split, or none, is taken, as the
        # model's own decisions go on being attributed by the kept one (before: ok, gauge 0).
        split_refused = False
        try:
            self._split = campaigns.split_of(document)
        except campaigns.CampaignsError as exc:
            split_refused = True
            log.error("campaigns file %s: %s; keeping the last version split", path, exc)
        self._m.campaigns_file_refused.labels(**self._base).set(1 if split_refused else 0)
        self._export_refused_entries(set(applied.errors))
        current, rejected = applied.campaigns, applied.errors
        # new, or taken from an entry that changed (not one kept at its last good settings)
        changed = [name for name in applied.changed
                   if name in current and current[name] is not previous.get(name)]
        self._sources = applied.sources
        self._named_keys = self._named_keys_of(document)
        for name, message in sorted(rejected.items()):
            log.error("campaigns file %s: %s; %s", path, message,
                      "keeping its last good settings" if name in current
                      else "the campaign was created again since its last good settings, "
                           "which are dropped: not served" if name in applied.renewed
                      else "the campaign is not served")
        self._m.campaign_reloads.labels(**self._base,
                                        result="partial" if rejected or split_refused
                                        else "ok").inc()
        gone = sorted(set(previous) - set(current))
        for name in gone:
            self._idle.pop(name, None)   # all its series go: _forget_retired
            self._campaign_gauges.pop(name, None)
            for gauge in (self._m.campaign_generation, self._m.campaign_exposure):
                with contextlib.suppress(KeyError):  # not exported yet
                    gauge.remove(self.name, self._engine.version, name)
            self._remove_period_spend(name)
            # Its series go once its last decisions' windows have closed (their reports and
            # cohorts still count under it) and nothing of it is pending: _forget_retired.
            self._retired["campaign", name] = (
                time.time() + FORGET_AFTER_SECONDS
                + previous[name].campaign.attribution_window_seconds)
        for name in current:
            self._retired.pop(("campaign", name), None)   # back in the file: its series stay
        # A campaign's own series at zero: from the tick, once it may treat.
        for name in changed:
            if name in previous and current[name].campaign.renews(previous[name].campaign):
                # Deleted and created again under its name (another uid, or createdAt): a new
                # Campaign, whose caps, budget spend and topFraction history start from
                # nothing under a new ledger; the old ledger's spend series is withdrawn.
                log.info("campaigns file %s: campaign %s was created again (its uid or "
                         "createdAt changed): its caps, spend and topFraction history start anew",
                         path, name)
                self._engine.drop_ledger(name)
                self._remove_period_spend(name)
        self._campaigns = current
        self._engine.retain_ledgers(list(current))
        for name in changed:   # a budget removed: its ledger forgets its period, series go
            if current[name].campaign.budget is None and name in self._engine.ledgers:
                self._export_period_spend(name, time.time())
        self._export_split_zeros(time.time())
        log.info("campaigns file %s applied: %d campaigns, %d new or changed%s, %d gone%s", path,
                 len(current), len(changed),
                 _some(changed, lambda n: f"{n} (generation {current[n].campaign.generation}"
                                          f", exposure {current[n].campaign.exposure_percent:g}"
                                          " %)"),
                 len(gone), _some(gone))

    def _export_refused_entries(self, refused: set[str]) -> None:
        """``uplift_campaign_entry_refused`` = 1 for each campaign whose entry the document
        just taken rejects; the series of one taken since, or gone from the file, removed —
        unless another loaded instance of the model sets it too (``_REFUSED_OWNERS``: a
        reload loads the new instance before it unloads the old one)."""
        gauge, version = self._m.campaign_entry_refused, self._engine.version
        for name in sorted(self._refused_entries - refused):
            if _disown_refused(gauge, self.name, version, name):
                with contextlib.suppress(KeyError):  # not exported
                    gauge.remove(self.name, version, name)
        for name in sorted(refused - self._refused_entries):
            _REFUSED_OWNERS[gauge, self.name, version, name] += 1
            gauge.labels(**self._base, campaign=name).set(1)
        self._refused_entries = refused

    def _named_keys_of(self, document: dict[str, Any]) -> dict[str, frozenset[str]]:
        """``campaigns.named_keys_of`` the document, worked out again only for the entries
        that are not the one last seen under their name."""
        entries: dict[str, Any] = document["campaigns"]
        seen = self._named_entries
        fresh = [name for name, entry in entries.items()
                 if name not in seen or seen[name] != entry]
        keys = campaigns.named_keys_of(document, fresh)
        self._named_entries = dict(entries)
        return {name: keys[name] if name in keys else self._named_keys[name]
                for name in entries}

    def _export_period_spend(self, name: str, now: float) -> None:
        """This replica's spend in the campaign's current budget period and that period's start
        (no series without a budget), labelled with the ledger that counts it. Refreshed on
        every decision, and by the tick when its period has rolled over or its settings
        changed, so a period that rolled over reads 0 with its new start within a second."""
        bound = (self._campaigns or {}).get(name)
        ledger = self._engine.ledger(name)
        period = ledger.period_spend(bound.campaign, now) if bound is not None else None
        series = self._period_ledgers.get(name)
        if period is None or (series is not None and series.ledger_id != ledger.ledger_id):
            self._remove_period_spend(name)
            series = None
        if bound is None or bound.campaign.budget is None or period is None:
            return
        if series is None:   # bound once per ledger; set only when a value changes
            m, labels = self._m, {**self._base, "campaign": name, "ledger": ledger.ledger_id}
            series = self._period_ledgers[name] = _PeriodSeries(
                ledger.ledger_id, m.campaign_period_spend.labels(**labels),
                m.campaign_period_start.labels(**labels))
        series.spend.set(period[0])
        series.start.set(period[1])
        series.campaign, series.ends = bound.campaign, bound.campaign.budget.period_bounds(now)[1]

    def _remove_period_spend(self, name: str) -> None:
        """Stop exporting a ledger's period series. Prometheus marks them stale, and the budget
        gate still reads their last values within the period, so a ledger that is gone (a model
        reload, the campaign leaving the file) has its spend counted until the period ends."""
        exported = self._period_ledgers.pop(name, None)
        if exported is None:
            return
        ledger_id = exported.ledger_id
        for gauge in (self._m.campaign_period_spend, self._m.campaign_period_start):
            with contextlib.suppress(KeyError):  # not exported
                gauge.remove(self.name, self._engine.version, name, ledger_id)

    def _export_zeros(self, version: str, campaign: str,
                      keys: Sequence[str] | None = None) -> None:
        """``version``'s series of ``campaign`` (``""``: the model's own decisions) at zero,
        those the metric families say for this replica's own version or for another version
        of the split (``RuntimeMetrics.zeros``), per treatment key of ``keys`` (default: this
        model's): a series born inside a PromQL range loses its first increments. A
        campaign's from the moment it may treat (``_export_campaign_zeros``)."""
        scope = Scope.of(own=version == self._engine.version, campaign=campaign)
        self._m.export_zeros(scope, self.name, version, campaign,
                             self._engine.keys if keys is None else keys)

    def _export_campaign_zeros(self, name: str) -> None:
        """A campaign's series at zero, for this replica's own version and the split's others
        (``_export_split_zeros``): from the tick that finds it may treat — now, or once its
        start comes, so before its first decision — or a cohort count of its held here; until
        ``_forget_idle`` removes them, a window after it stopped treating. A campaign of the
        file that treats no one has none: at 4,096 campaigns their ~111 series each (77 of
        its own version, 34 of the split's other) made a scrape of 0.45 million series."""
        self._zeros_out.add(name)
        self._export_zeros(self._engine.version, name)
        for version in sorted(self._other_versions()):
            self._export_other_zeros(version, name)

    def _other_versions(self) -> set[str]:
        """The versions of the split other than this replica's own."""
        split = self._split
        return {events.safe_version(v) for v in
                ((split.stable, split.canary) if split is not None else ()) if v
                } - {self._engine.version}

    def _export_other_zeros(self, version: str, campaign: str) -> None:
        """``version``'s (another of the split) report and cohort series of ``campaign`` at
        zero, for the treatment keys its decisions may carry (``_export_split_zeros``), unless
        they already are."""
        own_keys, named = self._engine.keys, self._named_keys
        extra = (named.get(campaign, frozenset()) if campaign
                 else frozenset().union(*named.values()))
        keys = (*own_keys, *sorted(extra - set(own_keys)))
        if self._zeroed.get((version, campaign)) != keys:
            self._zeroed[version, campaign] = keys
            self._export_zeros(version, campaign, keys)

    def _export_split_zeros(self, now: float) -> None:
        """The report and cohort series of the split's other version at zero, for the model's
        own decisions and every campaign of the file whose series are at zero here
        (``_export_campaign_zeros``) or that this replica does not take, as this replica's own
        version has them:
        reports reach replicas of either version, so a stable replica counts conversions of
        the canary's decisions (and a canary's, of the stable's campaign decisions), and a
        series first created by its first count, inside the gates' ranges, would lose that
        count — per replica, arm and treatment, mostly the canary's (docs/runtime.md
        "Metrics"). A version that leaves the split keeps its series a window and
        ``FORGET_AFTER_SECONDS`` more (its decisions' reports still come), then they go once
        nothing of it is pending (``_forget_retired``): at most the two versions of the split
        besides the replica's own."""
        split, others = self._split, self._other_versions()
        current = self._campaigns or {}
        window = max([split.attribution_window_seconds if split is not None else 0,
                      *(b.campaign.attribution_window_seconds for b in current.values())])
        for version in {v for v, _ in self._zeroed} - others:
            self._retired.setdefault(("version", version), now + window + FORGET_AFTER_SECONDS)
        for version in others:
            self._retired.pop(("version", version), None)
        # The other version's decisions carry its own model's treatment keys, which no file
        # here lists; those the campaigns file names are known (a campaign's decisions never
        # carry another): this model's keys, and each campaign's for its series, every
        # campaign's for the model's own decisions (a treatment only the other version has
        # that no campaign names starts at its first count: docs/runtime.md "Metrics"). Every
        # campaign of the file, taken here or not: one this version rejects (it treats with a
        # treatment this model lacks) is served by the other, whose reports come here too —
        # but of those it takes, only the ones whose series are at zero here (they may treat,
        # or did less than a window ago).
        zeroed = (self._zeros_out & set(current)) | (set(self._named_keys) - set(current))
        for version in sorted(others):
            for campaign in ("", *sorted(zeroed)):
                self._export_other_zeros(version, campaign)

    def _campaign_for(self, params: dict[str, Any] | None) -> BoundCampaign | None:
        """The campaign ``parameters.campaign`` names; ``None`` when it names none (or when no
        campaigns file is configured: the name is then ignored, as before campaigns)."""
        name = (params or {}).get("campaign")
        if name is None:
            return None
        if self._campaigns is None:
            if not self._ignored_campaign_logged:
                self._ignored_campaign_logged = True
                log.warning("requests name campaigns (%r) but %s is not set: decided without "
                            "a campaign", _show(name), CAMPAIGNS_FILE_ENV)
            return None
        if not isinstance(name, str):
            raise RequestError(f"parameters.campaign must be a campaign name, got {_show(name)}")
        bound = self._campaigns.get(name)
        if bound is None:
            known = sorted(self._campaigns)
            raise RequestError(f"unknown campaign {name[:80]!r}: this model serves "
                               f"{known[:20] if known else 'no campaign'}",
                               "unknown_campaign", 404)
        return bound

    def _warm_up(self) -> None:
        schema = self._engine.model.schema
        row: dict[str, Any] = {n: np.zeros(1) for n in schema.numeric}
        row.update({n: np.array([(schema.categories[n] or ("",))[0]], dtype=object)
                    for n in schema.categorical})
        self._engine.model.score(row)

    async def metadata(self) -> MetadataModelResponse:
        """V2 model metadata: the feature inputs and the decision outputs (``GET /v2/models/m``).

        Built here rather than in the settings so MLServer's request middleware does not start
        re-typing inputs from it.
        """
        schema, engine = self._engine.model.schema, self._engine

        def tensor(name: str, datatype: str) -> MetadataTensor:
            return MetadataTensor(name=name, datatype=datatype, shape=[-1, 1])

        inputs = [tensor(n, "INT64" if n in schema.integer else "FP64") for n in schema.numeric]
        inputs += [tensor(n, "BYTES") for n in schema.categorical]
        if engine.config.unit_key not in (*schema.numeric, *schema.categorical):
            # a unit key that is also a feature is listed once, with the feature's datatype
            inputs.append(tensor(engine.config.unit_key, "BYTES"))
        outputs = [tensor(n, "BYTES") for n in ("unit_id", "decision_id", "arm", "treatment",
                                                "policy_treatment")]
        if self._campaigns is not None:  # only in answers to requests that name a campaign
            outputs.insert(3, tensor("campaign_arm", "BYTES"))
        outputs += [tensor(n, "FP64") for n in ("expected_net_value",
                                                *(f"uplift_{k}" for k in engine.keys))]
        return MetadataModelResponse(name=self.name, platform="uplift-operator",
                                     versions=[engine.version], inputs=inputs, outputs=outputs,
                                     parameters=Parameters(content_type="pd"))

    def _reject(self, endpoint: str, reason: str, message: str, status: int) -> UpliftError:
        m = getattr(self, "_m", None)
        if m is None:   # not loaded (or its load failed before its metrics were bound)
            return _reject_unloaded(self.name, endpoint, reason, message, status)
        m.errors.labels(**self._base, endpoint=endpoint, reason=reason).inc()
        return UpliftError(message, status)

    def _live(self, endpoint: str) -> UpliftRuntime:
        """The loaded instance of this model, which answers the report and drain endpoints
        (``_LIVE``), whichever instance MLServer routes them to; refused (503 ``not_ready``)
        while none is."""
        live = _LIVE.get(self.name)
        if live is None:
            raise _reject_unloaded(self.name, endpoint, "not_ready", f"model {self.name!r} is "
                                   "not loaded (yet): retry later", 503)
        return live

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        t0 = time.perf_counter()
        try:
            cfg = self._engine.config
            extra = payload.parameters.model_extra if payload.parameters is not None else None
            campaign = self._campaign_for(extra)
            unit_key = campaign.campaign.unit_key if campaign is not None else cfg.unit_key
            columns, unit_ids = decode_columns(payload, unit_key,
                                               features=self._engine.model.schema.names,
                                               max_rows=cfg.max_rows, max_abs=cfg.max_abs_value)
            if unit_ids is None and campaign is None and cfg.require_unit_id:
                raise RequestError(f"the request has no {unit_key!r} input, which identifies "
                                   "the units (UPLIFT_UNIT_KEY); this model requires it "
                                   "(UPLIFT_REQUIRE_UNIT_ID): send each row's unit id in an "
                                   f"input named {unit_key!r}", "bad_unit_id")
            batch = self._engine.decide(columns, unit_ids, extra, campaign, time.time(),
                                        split=self._split)
            if unit_ids is None:   # the model's own decisions: a campaign's are refused
                self._without_unit(unit_key, len(batch.arms))
        except FeatureError as exc:
            raise self._reject("infer", exc.reason, str(exc), 400) from None
        except RequestError as exc:
            raise self._reject("infer", exc.reason, str(exc), exc.status) from None
        except Exception as exc:  # JSON error, never a traceback
            log.exception("scoring failed")
            raise self._reject("infer", "internal", f"internal error: {type(exc).__name__}: "
                               f"{exc}", 500) from None
        self._record(batch)
        response = self._encode(batch)
        self._latency["infer"].observe(time.perf_counter() - t0)
        return response

    def _without_unit(self, unit_key: str, rows: int) -> None:
        """Count rows decided under a fresh random unit id (the request has no ``unit_key``
        input), and say so once per model and version: a client sending its id under another
        name (``user_id`` for ``customer_id``) gets answers, but no unit keeps its arm, so the
        holdout is not persistent and the onlineEffect cohorts are diluted towards 0."""
        self._rows_without_unit.inc(rows)
        key = (self.name, self._engine.version)
        if key not in _WARNED_WITHOUT_UNIT:
            _WARNED_WITHOUT_UNIT.add(key)
            log.warning("model %s version %s: a request has no %r input; its rows are decided "
                        "under fresh random unit ids (no unit keeps its arm, so the holdout is "
                        "not persistent and the online effect is diluted), counted in "
                        "uplift_rows_without_unit_total. Logged once per model and version",
                        self.name, self._engine.version, unit_key)

    def _record(self, batch: DecisionBatch) -> None:
        m, base, name = self._m, self._base, batch.campaign
        rows = self._rows.get(name)
        if rows is None:  # a campaign of the file (a name not in it was refused): bounded
            rows = self._rows[name] = m.rows_scored.labels(**base, campaign=name)
        rows.inc(len(batch.arms))
        for (arm, key), count in Counter(zip(batch.counted_arms or batch.arms,
                                             batch.policy_treatments, strict=True)).items():
            m.assignments.labels(**base, arm=arm, treatment=key, campaign=name).inc(count)
        if batch.campaign_arms is not None:
            for why, count in Counter(batch.campaign_arms).items():
                m.campaign_decisions.labels(**base, campaign=name, campaign_arm=why).inc(count)
            if batch.spend:
                m.campaign_spend.labels(**base, campaign=name).inc(batch.spend)
            self._export_period_spend(name, time.time())
        if batch.window_seconds:  # a campaign's decisions; the model's own in a canary
            closes = batch.issued_at + batch.window_seconds
            for (arm, key), count in Counter(zip(batch.counted_arms or batch.arms,
                                                 batch.policy_treatments, strict=True)).items():
                # Holdout and treated expect an outcome; unexposed and unattributed rows do not
                # count (no gate reads them).
                if arm in ARMS:
                    m.windowed_decisions.labels(**base, arm=arm, treatment=key,
                                                campaign=name).inc(count)
                    self._hold(closes, batch.window_seconds,
                               ("expected", name, arm, key, self._engine.version), count)
        for name, idx in batch.bins.items():
            children = self._bins[name]
            for b, count in enumerate(np.bincount(idx, minlength=len(children)).tolist()):
                if count:
                    children[b].inc(count)
        for j, key in enumerate(self._uplift_keys):
            self._m.observe_uplift(self._base["model"], self._base["version"], key,
                                   batch.uplift[:, j].tolist())
        campaign = batch.campaign
        if campaign and campaign not in self._zeros_out and campaign in (self._campaigns or {}):
            # A campaign of the file that treats no one (its series not at zero here) whose
            # clients still name it: the series its decisions just created go a few scrapes
            # on (_forget_idle), as a report's do (_reported). Before, only a campaign whose
            # series were at zero had its removal armed: these stayed for the life of the
            # process. (A cohort count held above exported its series at zero: the tick arms
            # its removal once it treats no one.)
            after = time.time() + FORGET_AFTER_SECONDS
            if self._idle.get(campaign, -math.inf) < after:
                self._idle[campaign] = after

    def _encode(self, batch: DecisionBatch) -> InferenceResponse:
        outputs = [_output("unit_id", batch.unit_ids, "BYTES"),
                   _output("decision_id", batch.decision_ids, "BYTES"),
                   _output("arm", batch.arms, "BYTES"),
                   _output("treatment", batch.treatments, "BYTES"),
                   _output("policy_treatment", batch.policy_treatments, "BYTES"),
                   _output("expected_net_value", batch.net_value.tolist(), "FP64")]
        for j, key in enumerate(self._engine.keys):
            outputs.append(_output(f"uplift_{key}", batch.uplift[:, j].tolist(), "FP64"))
        parameters = Parameters(content_type="pd")
        if batch.campaign_arms is not None and self._campaigns is not None:
            outputs.insert(3, _output("campaign_arm", batch.campaign_arms, "BYTES"))
            bound = self._campaigns.get(batch.campaign)
            parameters = Parameters(content_type="pd", campaign=batch.campaign,
                                    campaign_generation=bound.campaign.generation
                                    if bound is not None else None)
        return InferenceResponse(model_name=self.name, model_version=self._engine.version,
                                 parameters=parameters, outputs=outputs)

    def _authorize(self, request: Request, endpoint: str,
                   reject: Rejecting | None = None) -> None:
        """Refuse (401) a report without one of the report tokens, when they are configured
        (the token file looked at again first, at most once a second); compared in constant
        time. Checked before the body is read: an unauthenticated body costs nothing. The
        refusal is counted by ``reject`` (default: this instance's ``_reject``)."""
        tokens = self._report_tokens
        if tokens is None:
            return
        reject = reject or self._reject
        self._refresh_report_tokens(time.monotonic())
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise reject(endpoint, "unauthorized", f"/uplift/v1/{endpoint} requires "
                         "'Authorization: Bearer <report token>' (the UpliftModel's "
                         "spec.serving.reportCredentials)", 401)
        if not tokens.accepts(given.strip().encode()):
            raise reject(endpoint, "unauthorized", f"/uplift/v1/{endpoint}: the Bearer "
                         "token is not this model's report token", 401)

    def _reject_as_live(self, endpoint: str, reason: str, message: str,
                        status: int) -> UpliftError:
        """A refusal counted by the model's instance loaded now (``_LIVE``), ``""`` while none
        is (``_reject_unloaded``), whichever instance refuses: a report's body reading may
        outlast the instance that began it (an unload, a reload), which counted the refusal
        under a version it no longer serves."""
        live = _LIVE.get(self.name)
        if live is None:
            return _reject_unloaded(self.name, endpoint, reason, message, status)
        return live._reject(endpoint, reason, message, status)

    @staticmethod
    def _gunzip(raw: bytes, limit: int, endpoint: str, reject: Rejecting) -> bytes:
        """``raw`` inflated, at most ``limit`` bytes over all its members (RFC 1952: a gzip
        stream is one or more members, as ``gzip.decompress`` reads it). Anything after the
        last complete member, or a member cut before its CRC/ISIZE trailer, is not gzip: a
        400, never a body read short. The input goes in 4 KiB windows, so a body of many tiny
        members costs linear time (zlib copies the input a member leaves unused: the whole
        rest of the body, fed at once, 1 s of CPU for 1 MiB of empty members)."""
        view, pos, room, step = memoryview(raw), 0, limit + 1, 4096
        inflated: list[bytes] = []
        inflate: Any = None  # the member being inflated, None between members
        while pos < len(raw):
            if inflate is None:
                if raw[pos:pos + 2] != b"\x1f\x8b"[:len(raw) - pos]:
                    raise reject(endpoint, "bad_json", "body is not valid gzip" + (
                        ": data after the last member" if pos else ""), 400)
                inflate = zlib.decompressobj(wbits=31)
            window = view[pos:pos + step]
            try:
                part = inflate.decompress(window, room)
            except zlib.error:
                raise reject(endpoint, "bad_json", "body is not valid gzip", 400) from None
            inflated.append(part)
            room -= len(part)
            if room <= 0:  # also whenever input is left unconsumed (the output is full)
                raise reject(endpoint, "too_large", f"body inflates beyond {limit} bytes",
                             413)
            if inflate.eof:
                pos += len(window) - len(inflate.unused_data)
                inflate = None
            else:
                pos += len(window)
        if inflate is not None:
            raise reject(endpoint, "bad_json", "body is not valid gzip: the stream ends "
                         "inside a member", 400)
        return b"".join(inflated)

    async def _read_json(self, request: Request, endpoint: str,
                         reject: Rejecting | None = None) -> Any:
        """The body as JSON: at most ``max_body_bytes`` (after gzip), standard JSON only.
        Refusals are counted by ``reject`` (default: this instance's ``_reject``)."""
        reject = reject or self._reject
        limit = self._engine.config.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            elif size > _MAX_DRAIN * limit:
                break  # not worth reading on: the connection closes after the answer
        if size > limit:
            raise reject(endpoint, "too_large", f"body is larger than {limit} bytes", 413)
        raw = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding == "gzip":
            raw = self._gunzip(raw, limit, endpoint, reject)
        elif encoding != "identity":
            raise reject(endpoint, "bad_request", f"content-encoding {encoding!r} is not "
                         "supported (gzip or identity)", 415)
        try:
            return json.loads(raw, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise reject(endpoint, "bad_json", f"body is not valid JSON: {exc}", 400) from None
        except RecursionError:
            raise reject(endpoint, "bad_json", "body is nested too deeply", 400) from None

    async def _guarded(self, endpoint: str,
                       handle: Callable[[], Awaitable[tuple[dict[str, Any], UpliftRuntime]]]
                       ) -> dict[str, Any]:
        """Run a report handler, which answers with the instance that counted the report (its
        latency observed there): refusals as they are, anything else a JSON 500 counted by the
        model's loaded instance, never a plain-text 500 (which makes the server drop the
        keep-alive connection)."""
        t0 = time.perf_counter()
        try:
            answer, counted_by = await handle()
        except UpliftError:
            raise
        except Exception as exc:
            log.exception("%s failed", endpoint)
            raise (_LIVE.get(self.name) or self)._reject(
                endpoint, "internal", f"internal error: {type(exc).__name__}", 500) from None
        latency = getattr(counted_by, "_latency", None)
        if latency is not None:
            latency[endpoint].observe(time.perf_counter() - t0)
        return answer

    # The report and drain endpoints: MLServer routes them to the instance it loads last, and
    # moves them before that instance's load (``reload_custom_handlers``, then
    # ``_reload_model``), so during a reload, and after one that failed, they reach an
    # instance that is not loaded while the previous one still serves inference. Each answers
    # with the model's loaded instance instead (``_live``); a report, with the one loaded once
    # its body is read (``_report``).

    @custom_handler(rest_path=DELIVERIES_PATH, rest_method="POST")  # type: ignore[untyped-decorator]
    async def deliveries(self, request: Request) -> dict[str, Any]:
        """Count delivery results: ``{"deliveries": [{"decision_id", "status"}]}``."""
        return await self._report(request, "deliveries")

    @custom_handler(rest_path=DRAIN_PATH, rest_method="POST")  # type: ignore[untyped-decorator]
    async def drain(self, request: Request) -> dict[str, Any]:
        """Drain the model's loaded instance (``_drain``)."""
        return await self._live("drain")._drain(request)

    @custom_handler(rest_path=OUTCOMES_PATH, rest_method="POST")  # type: ignore[untyped-decorator]
    async def outcomes(self, request: Request) -> dict[str, Any]:
        """Count outcomes: ``{"outcomes": [{"decision_id"|"unit_id", "converted", "value"}]}``."""
        return await self._report(request, "outcomes")

    async def _report(self, request: Request,
                      endpoint: Literal["deliveries", "outcomes"]) -> dict[str, Any]:
        """A report, authorized and its body read by the model's loaded instance, then counted
        by the one loaded once the body is in (``_live`` again): a body that uploads across a
        reload is counted by the new instance, not by the unloaded one (whose dedup window and
        pending cohort counts went with it, and which counts a cohort count at once, drained);
        across an unload for good it is refused 503 ``not_ready``. (The report tokens are the
        process's environment's, so the new instance would accept the token too.)"""
        reading = self._live(endpoint)

        async def handle() -> tuple[dict[str, Any], UpliftRuntime]:
            # Refusals counted by the instance loaded when they happen ("" while none is):
            # the body may finish uploading after ``reading``'s unload.
            reading._authorize(request, endpoint, reading._reject_as_live)
            body = await reading._read_json(request, endpoint, reading._reject_as_live)
            live = self._live(endpoint)
            if endpoint == "deliveries":
                return live._count_deliveries(body), live
            return live._count_outcomes(body), live

        return await reading._guarded(endpoint, handle)

    def _count_deliveries(self, body: Any) -> dict[str, Any]:
        engine = self._engine
        try:
            reports = events.parse_deliveries(body, engine.signer, engine.units)
        except events.ReportError as exc:
            raise self._reject("deliveries", exc.reason, str(exc), exc.status) from None
        # A retry after a failure is news; the same result twice is not.
        seen = engine.seen.classify("deliveries", ((f"{r.decision.decision_id}~{r.ok}", 0)
                                                   for r in reports))
        self._reported([r.decision for r in reports], time.time())
        predecessors = 0
        for r, was in zip(reports, seen, strict=True):
            if was == "new":
                d = r.decision
                if self._predecessor("deliveries", d):
                    predecessors += 1
                    continue
                self._m.deliveries.labels(model=self.name, version=d.version, arm=d.arm,
                                          treatment=d.treatment, campaign=d.campaign,
                                          status="ok" if r.ok else "failed").inc()
        return self._answer("deliveries", [r.decision.campaign for r in reports], seen,
                            predecessors=predecessors)

    async def _drain(self, request: Request) -> dict[str, Any]:
        """``drain_cohorts`` for the pod's own preStop hook: from loopback, with the drain token
        this process wrote to its file (``runtime.drain``); refused (403) otherwise. Loopback
        alone is not the hook: a mesh sidecar forwards outside requests from 127.0.0.1."""
        host = request.client.host if request.client is not None else ""
        if not _is_loopback(host):
            raise self._reject("drain", "forbidden", f"{DRAIN_PATH} answers the pod's own "
                               f"preStop hook only (loopback), not {host or 'an unknown client'}",
                               403)
        scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), _DRAIN_TOKEN.encode()):
            raise self._reject("drain", "forbidden", f"{DRAIN_PATH} answers the pod's own "
                               "preStop hook only, which sends the drain token the runtime "
                               f"wrote to {self._drain_token_file}", 403)
        return {"counted": self.drain_cohorts()}

    def _count_outcomes(self, body: Any) -> dict[str, Any]:
        engine = self._engine
        try:
            reports = events.parse_outcomes(body, engine.signer, engine.units,
                                            engine.config.max_outcome_value)
        except events.ReportError as exc:
            raise self._reject("outcomes", exc.reason, str(exc), exc.status) from None
        m, now, late, predecessors = self._m, time.time(), 0, 0
        # First report wins: one that says otherwise later is a conflict, told and counted
        # apart, never counted instead (a counter cannot take back what it counted). A
        # conversion after the window that follows the non-conversion reported when it
        # closed is judged late first: no conflict, counted late below.
        seen = engine.seen.classify_outcomes(reports, now)
        self._reported([r.decision for r in reports], now)
        for r, was in zip(reports, seen, strict=True):
            if was != "new":
                continue
            d = r.decision
            if self._predecessor("outcomes", d):
                predecessors += 1
                continue
            labels = {"model": self.name, "version": d.version, "arm": d.arm,
                      "treatment": d.treatment, "campaign": d.campaign}
            # A conversion after the attribution window is not one of the decision's. A
            # non-conversion is never late: that no conversion came in the window is known
            # only once it has closed, so a sender reports it then; after the cohort was
            # counted, it counts towards the cohort's completeness at the next tick.
            if r.converted and d.late(now):
                m.late_outcomes.labels(**labels).inc()
                late += 1
                continue
            m.outcomes.labels(**labels).inc()
            if r.converted:
                m.conversions.labels(**labels).inc()
            if r.value:
                m.outcome_value.labels(**labels).inc(r.value)
            closes = d.window_closes_at
            if closes is not None and d.window_seconds is not None and d.arm in ARMS:
                cohort = (d.campaign, d.arm, d.treatment, d.version)
                self._hold(closes, d.window_seconds, ("received", *cohort), now=now)
                if r.converted:
                    self._hold(closes, d.window_seconds, ("converted", *cohort), now=now)
        return self._answer("outcomes", [r.decision.campaign for r in reports], seen, late,
                            predecessors)

    def _reported(self, decisions: Sequence[events.Decision], now: float) -> None:
        """Reports of ``decisions`` count (or count as duplicates) in series of their campaign
        and version: one whose series were removed, or are set to go, has them again, so it
        goes back to what removes them, with a deadline a few scrapes past ``now`` (its window,
        if still open): a campaign no longer in the file or a version no longer in the split
        (``_forget_retired``), a campaign of the file whose counters are not at zero here (it
        treats no one: ``_forget_idle``). Before, the series a report created after theirs
        were removed (a sender's ``converted: false`` at window close, a daily batch, a late
        delivery) stayed for the life of the process."""
        if not decisions:
            return
        # Without a campaigns file too: a version, or a campaign, an unloaded instance of the
        # model served (a reload to another version, ``_hand_over``) is no longer served here.
        current = self._campaigns or {}
        own, others = self._engine.version, None
        retired, idle, zeros_out = self._retired, self._idle, self._zeros_out
        in_file = self._named_keys   # taken here or not: one this version rejects is the
        for d in decisions:          # other version's, whose series stay at zero here
            closes = d.window_closes_at
            after = max(now, closes if closes is not None else now) + FORGET_AFTER_SECONDS
            name = d.campaign
            if name and name not in in_file and name not in current:
                if retired.get(("campaign", name), -math.inf) < after:
                    retired["campaign", name] = after
            elif (name and name in current and name not in zeros_out
                  and idle.get(name, -math.inf) < after):
                idle[name] = after
            if d.version != own:
                if others is None:
                    others = self._other_versions()
                if d.version not in others and retired.get(("version", d.version),
                                                           -math.inf) < after:
                    retired["version", d.version] = after

    def _predecessor(self, endpoint: str, decision: events.Decision) -> bool:
        """Whether ``decision`` was made under an earlier Campaign of its campaign's name
        (deleted and created again since): its report is acknowledged and counted in
        ``uplift_predecessor_reports_total`` only, never as the new Campaign's delivery or
        outcome (its first step would judge the predecessor's sender and cohorts)."""
        bound = (self._campaigns or {}).get(decision.campaign) if decision.campaign else None
        if bound is None or not bound.campaign.predecessor(decision.issued_at):
            return False
        self._m.predecessor_reports.labels(**self._base, endpoint=endpoint,
                                           campaign=decision.campaign).inc()
        return True

    def _answer(self, endpoint: str, campaigns: Sequence[str], seen: Sequence[events.Seen],
                late: int = 0, predecessors: int = 0) -> dict[str, Any]:
        """The report's answer; its duplicates counted per campaign of their decision, and of
        them the conflicts (a report that disagrees with the one counted) apart too."""
        accepted, counted = len(seen), seen.count("new")
        duplicates = Counter(c for c, was in zip(campaigns, seen, strict=True) if was != "new")
        conflicts = Counter(c for c, was in zip(campaigns, seen, strict=True)
                            if was == "conflict")
        for counter, counts in ((self._m.duplicates, duplicates), (self._m.conflicts, conflicts)):
            for campaign, count in counts.items():
                counter.labels(**self._base, endpoint=endpoint, campaign=campaign).inc(count)
        answer = {"accepted": accepted, "counted": counted - predecessors,
                  "duplicates": accepted - counted}
        if conflicting := conflicts.total():
            answer["conflicts"] = conflicting  # of the duplicates: another report was counted
        if late:
            answer["late"] = late  # of the counted: past their attribution window
        if predecessors:
            answer["predecessor"] = predecessors  # an earlier Campaign's of the name: not counted
        return answer


#: A refusal's counter (``UpliftRuntime._reject``): (endpoint, reason, message, status).
Rejecting = Callable[[str, str, str, int], UpliftError]

#: Model name → its loaded instance, which answers the report and drain endpoints
#: (``UpliftRuntime._live``): set at the end of a load, cleared by that instance's unload.
#: MLServer routes those endpoints to the instance it is loading before its load, then drops
#: the old instance's (``reload_custom_handlers``): reports during a reload reached an instance
#: without an engine (a plain-text 500), and after a failed reload (MLflow unreachable) they,
#: and the preStop drain, stayed with that dead instance while inference stayed with the old
#: one, until a restart.
_LIVE: dict[str, UpliftRuntime] = {}


def _reject_unloaded(model: str, endpoint: str, reason: str, message: str,
                     status: int) -> UpliftError:
    """A refusal by an instance without metrics of its own (not loaded), counted under the
    version of the model's loaded instance, ``""`` while none is (``not_ready``): before the
    first load, and after an unload for good too. MLServer removes the routes of a model
    unloaded for good, so a refusal then is one during a new load, maybe of another version;
    labelled with the version unloaded, it was counted against a version no longer served
    here (its errorRate)."""
    live = _LIVE.get(model)
    version = live._engine.version if live is not None else ""
    RuntimeMetrics().errors.labels(model=model, version=version, endpoint=endpoint,
                                   reason=reason).inc()
    return UpliftError(message, status)


#: (model, version) whose requests without a unit key were logged (``_without_unit``): once.
_WARNED_WITHOUT_UNIT: set[tuple[str, str]] = set()


#: What retires series: a campaign that left the campaigns file, a version that left the split.
RetiredLabel = Literal["campaign", "version"]
#: (collector, model, version, campaign) of each ``uplift_campaign_entry_refused`` series → how
#: many loaded instances set it: MLServer reloads a model by loading the new instance, then
#: unloading the old one, whose unload removed the series the new one had just set (and the new
#: one never set it again while the entry stayed refused). Keyed by the collector itself, not its
#: id: a key holds it alive, so a collected registry's gauge cannot lend its id to another's.
_REFUSED_OWNERS: Counter[tuple[object, str, str, str]] = Counter()


def _disown_refused(gauge: object, model: str, version: str, campaign: str) -> bool:
    """One instance fewer sets the series; whether none does now (it may go)."""
    key = (gauge, model, version, campaign)
    _REFUSED_OWNERS[key] -= 1
    if _REFUSED_OWNERS[key] > 0:
        return False
    del _REFUSED_OWNERS[key]
    return True


class _Handover:
    """What an unloaded instance left to remove: campaign (or version) → the earliest its
    series may go (``UpliftRuntime._hand_over``)."""

    __slots__ = ("campaigns", "versions")

    def __init__(self) -> None:
        self.campaigns: dict[str, float] = {}
        self.versions: dict[str, float] = {}


#: Model name → what its unloaded instances left to remove, until the next instance of that
#: model, whatever its version, takes it (``UpliftRuntime._take_over``, at its next tick):
#: MLServer reloads a model by loading the new instance, then unloading the old one, whose
#: retirement state went with it (the series it would have removed stayed for the life of the
#: process). Keyed by (model, version), a reload to another version left its entry, and the
#: old version's series, for good: one entry per model now, whatever the versions.
_HANDED_OVER: dict[str, _Handover] = {}


_RETIRED_FROM: dict[RetiredLabel, str] = {
    "campaign": "campaigns file",
    "version": "version split (or were unloaded here by a reload to another version)"}


def _pending_groups(key: tuple[str, str, str, str, str]
                    ) -> tuple[tuple[RetiredLabel, str], tuple[RetiredLabel, str]]:
    """The groups of a pending cohort count (kind, campaign, arm, treatment, version) whose last
    due time ``_forget_retired`` asks: its campaign's and its version's."""
    return ("campaign", key[1]), ("version", key[4])


def _in_parallel_worker() -> bool:
    """Whether this process is one of MLServer's parallel inference workers
    (``mlserver.parallel.worker.Worker``, a ``multiprocessing.Process``)."""
    try:
        from mlserver.parallel.worker import Worker
    except ImportError:   # not this MLServer's layout: the environment variable still tells
        return False
    return isinstance(multiprocessing.current_process(), Worker)


def _is_loopback(host: str) -> bool:
    """Whether a client address is loopback: 127.0.0.0/8, ::1, and IPv4-mapped loopback
    (``::ffff:127.0.0.1``: what MLServer listening on ``::``, dual stack, sees of a request to
    127.0.0.1, which the preStop hook sends); ``localhost`` as a test client names itself."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_loopback


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_LOGGED_NAMES = 10   # names a log line lists at most


def _some(names: Sequence[str], show: Callable[[str], str] = str) -> str:
    """``": a, b, c"``: ``show`` of at most ``_LOGGED_NAMES`` names, and how many more;
    ``""`` for none."""
    if not names:
        return ""
    more = len(names) - _LOGGED_NAMES
    return (": " + ", ".join(map(show, names[:_LOGGED_NAMES]))
            + (f" and {more} more" if more > 0 else ""))
