"""The MLServer custom runtime of every uplift predictor (``…runtime.runtime.UpliftRuntime``).

model-settings.json::

    {"name": "uplift", "implementation": "uplift_operator.runtime.runtime.UpliftRuntime",
     "parameters": {"uri": "models:/uplift-hillstrom/3", "extra": {"holdout_fraction": 0.1}}}

The URI is ``models:/name/version``, ``models:/name@alias``, ``runs:/…`` (tracking server and
credentials from ``MLFLOW_TRACKING_URI``/``MLFLOW_TRACKING_USERNAME``/``…_PASSWORD``/``…_TOKEN``)
or a local path (relative to the settings file). Server settings must have
``parallel_workers: 0`` (``MLSERVER_PARALLEL_WORKERS=0``): decisions, reports and metrics then
share one process. Request/response formats, endpoints and metrics: ``docs/runtime.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import Counter
from typing import Any

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
from uplift_operator.model.features import FeatureError
from uplift_operator.runtime import events
from uplift_operator.runtime.config import ConfigError, RuntimeConfig
from uplift_operator.runtime.engine import DecisionBatch, DecisionEngine, RequestError
from uplift_operator.runtime.metrics import RuntimeMetrics

log = logging.getLogger("uplift_operator.runtime")

UNIT_ID = "unit_id"
DELIVERIES_PATH = "/uplift/v1/deliveries"
OUTCOMES_PATH = "/uplift/v1/outcomes"
_NUMERIC = {"FP16": np.float64, "FP32": np.float64, "FP64": np.float64, "INT8": np.int64,
            "INT16": np.int64, "INT32": np.int64, "INT64": np.int64, "UINT8": np.int64,
            "UINT16": np.int64, "UINT32": np.int64, "UINT64": np.int64, "BOOL": np.bool_}


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


def _flatten(data: Any) -> np.ndarray[Any, Any]:
    raw = data.root if hasattr(data, "root") else data
    return np.asarray(raw if isinstance(raw, list) else [raw], dtype=object).reshape(-1)


def decode_columns(payload: InferenceRequest,
                   unit_key: str = UNIT_ID) -> tuple[dict[str, Any], list[str] | None]:
    """V2 inputs (one per column, any shape [n] / [n, 1]) → name → 1-D array, unit ids.

    The input named ``unit_key`` (configurable, ``unit_id`` by default) identifies the units.
    """
    columns: dict[str, Any] = {}
    unit_ids: list[str] | None = None
    for inp in payload.inputs:
        datatype = getattr(inp.datatype, "value", str(inp.datatype))
        flat = _flatten(inp.data)
        declared = int(np.prod(inp.shape)) if inp.shape else len(flat)
        if declared != len(flat):
            raise RequestError(f"input {inp.name!r}: shape {inp.shape} but {len(flat)} values",
                               "bad_shape")
        if datatype == "BYTES":
            values = np.array([v.decode() if isinstance(v, bytes) else v for v in flat],
                              dtype=object)
        elif datatype in _NUMERIC:
            try:
                values = flat.astype(_NUMERIC[datatype])
            except (TypeError, ValueError):
                raise RequestError(f"input {inp.name!r} is declared {datatype} but holds "
                                   "non-numeric data", "wrong_type") from None
        else:
            raise RequestError(f"input {inp.name!r}: unsupported datatype {datatype}",
                               "wrong_type")
        if inp.name == unit_key:
            unit_ids = [str(v) for v in values]
        else:
            columns[inp.name] = values  # extra inputs are ignored by the schema
    return columns, unit_ids


def _output(name: str, values: list[Any], datatype: str) -> ResponseOutput:
    return ResponseOutput(name=name, shape=[len(values), 1], datatype=datatype, data=values)


class UpliftRuntime(MLModel):  # type: ignore[misc]
    """Scores V2 requests, decides per row, ingests deliveries/outcomes, exports metrics."""

    async def load(self) -> bool:
        params = self.settings.parameters
        extra = dict(params.extra or {}) if params is not None else {}
        try:
            config = RuntimeConfig.from_sources(extra, os.environ)
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
        self._engine = DecisionEngine(model, config, version)
        self._bind_metrics(uri)
        self._warm_up()
        log.info("uplift model %s loaded from %s as version %s (learner %s, treatments %s)",
                 self.name, uri, self._engine.version, model.learner.name,
                 list(model.treatment_keys))
        return True

    def _bind_metrics(self, uri: str) -> None:
        engine, m = self._engine, RuntimeMetrics()
        self._m = m
        base = {"model": self.name, "version": engine.version}
        self._base = base
        # Bound children: .labels() costs more than .inc() on the per-request path.
        self._latency = {e: m.request_duration.labels(**base, endpoint=e)
                         for e in ("infer", "deliveries", "outcomes")}
        self._rows = m.rows_scored.labels(**base)
        self._uplift_keys = list(engine.keys)
        self._bins = {name: [m.feature_bins.labels(**base, feature=name, bin=str(i))
                             for i in range(fb.n_bins)]
                      for name, fb in engine.feature_bins.items()}
        for arm in ("holdout", "treated"):
            for key in (*engine.keys, events.NONE):
                m.assignments.labels(**base, arm=arm, treatment=key)  # export zeros up front
        m.info.labels(**base, uri=uri, learner=engine.model.learner.name,
                      salt=engine.config.salt,
                      holdout_fraction=str(engine.config.holdout_fraction)).set(1)

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
        inputs += [tensor(n, "BYTES") for n in (*schema.categorical, engine.config.unit_key)]
        outputs = [tensor(n, "BYTES") for n in ("unit_id", "decision_id", "arm", "treatment",
                                                "policy_treatment")]
        outputs += [tensor(n, "FP64") for n in ("expected_net_value",
                                                *(f"uplift_{k}" for k in engine.keys))]
        return MetadataModelResponse(name=self.name, platform="uplift-operator",
                                     versions=[engine.version], inputs=inputs, outputs=outputs,
                                     parameters=Parameters(content_type="pd"))

    def _reject(self, endpoint: str, reason: str, message: str, status: int) -> UpliftError:
        self._m.errors.labels(**self._base, endpoint=endpoint, reason=reason).inc()
        return UpliftError(message, status)

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        t0 = time.perf_counter()
        try:
            columns, unit_ids = decode_columns(payload, self._engine.config.unit_key)
            extra = payload.parameters.model_extra if payload.parameters is not None else None
            batch = self._engine.decide(columns, unit_ids, extra)
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

    def _record(self, batch: DecisionBatch) -> None:
        m, base = self._m, self._base
        self._rows.inc(len(batch.arms))
        for (arm, key), count in Counter(zip(batch.arms, batch.policy_treatments,
                                             strict=True)).items():
            m.assignments.labels(**base, arm=arm, treatment=key).inc(count)
        for name, idx in batch.bins.items():
            children = self._bins[name]
            for b, count in enumerate(np.bincount(idx, minlength=len(children)).tolist()):
                if count:
                    children[b].inc(count)
        for j, key in enumerate(self._uplift_keys):
            self._m.observe_uplift(self._base["model"], self._base["version"], key,
                                   batch.uplift[:, j].tolist())

    def _encode(self, batch: DecisionBatch) -> InferenceResponse:
        outputs = [_output("unit_id", batch.unit_ids, "BYTES"),
                   _output("decision_id", batch.decision_ids, "BYTES"),
                   _output("arm", batch.arms, "BYTES"),
                   _output("treatment", batch.treatments, "BYTES"),
                   _output("policy_treatment", batch.policy_treatments, "BYTES"),
                   _output("expected_net_value", batch.net_value.tolist(), "FP64")]
        for j, key in enumerate(self._engine.keys):
            outputs.append(_output(f"uplift_{key}", batch.uplift[:, j].tolist(), "FP64"))
        return InferenceResponse(model_name=self.name, model_version=self._engine.version,
                                 parameters=Parameters(content_type="pd"), outputs=outputs)

    async def _read_json(self, request: Request, endpoint: str) -> Any:
        try:
            return json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._reject(endpoint, "bad_json", f"body is not valid JSON: {exc}",
                               400) from None

    @custom_handler(rest_path=DELIVERIES_PATH, rest_method="POST")  # type: ignore[untyped-decorator]
    async def deliveries(self, request: Request) -> dict[str, Any]:
        """Count delivery results: ``{"deliveries": [{"decision_id", "status"}]}``."""
        t0 = time.perf_counter()
        body = await self._read_json(request, "deliveries")
        try:
            reports = events.parse_deliveries(body, self._engine.units, self._engine.keys)
        except events.ReportError as exc:
            raise self._reject("deliveries", exc.reason, str(exc), exc.status) from None
        for r in reports:
            d = r.decision
            self._m.deliveries.labels(model=self.name, version=d.version, arm=d.arm,
                                      treatment=d.treatment,
                                      status="ok" if r.ok else "failed").inc()
        self._latency["deliveries"].observe(time.perf_counter() - t0)
        return {"accepted": len(reports)}

    @custom_handler(rest_path=OUTCOMES_PATH, rest_method="POST")  # type: ignore[untyped-decorator]
    async def outcomes(self, request: Request) -> dict[str, Any]:
        """Count outcomes: ``{"outcomes": [{"decision_id"|"unit_id", "converted", "value"}]}``."""
        t0 = time.perf_counter()
        body = await self._read_json(request, "outcomes")
        try:
            reports = events.parse_outcomes(body, self._engine.units, self._engine.keys)
        except events.ReportError as exc:
            raise self._reject("outcomes", exc.reason, str(exc), exc.status) from None
        m = self._m
        for r in reports:
            d = r.decision
            labels = {"model": self.name, "version": d.version, "arm": d.arm,
                      "treatment": d.treatment}
            m.outcomes.labels(**labels).inc()
            if r.converted:
                m.conversions.labels(**labels).inc()
            if r.value:
                m.outcome_value.labels(**labels).inc(r.value)
        self._latency["outcomes"].observe(time.perf_counter() - t0)
        return {"accepted": len(reports)}
