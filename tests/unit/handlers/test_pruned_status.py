"""A status write the API server answers without some of the fields sent (its CRD is older than
the operator and prunes them) is counted per field and said once in the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import kopf
import pytest

from uplift_operator.handlers import observability
from uplift_operator.handlers.common import PassRunner
from uplift_operator.handlers.scheduling import Wakeups
from uplift_operator.services.common import PassResult


class OldCrd:
    """Answers a status write as an API server whose schema lacks ``resumedAt`` would."""

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str,
                     patch: Mapping[str, Any], resource_version: str | None = None,
                     ) -> dict[str, Any]:
        kept = {key: value for key, value in patch.items() if key != "resumedAt"}
        return {"metadata": {"name": name, "namespace": namespace, "uid": "u1",
                             "resourceVersion": "2"}, "status": kept}

    def read_live(self, *_: str) -> dict[str, Any] | None:
        return None


def _pruned() -> float:
    return observability.REGISTRY.get_sample_value(
        "uplift_operator_status_fields_pruned_total",
        {"kind": "UpliftModel", "field": "status.resumedAt"}) or 0.0


def test_a_pruned_status_field_is_counted_and_said_once(
        caplog: pytest.LogCaptureFixture) -> None:
    before = _pruned()

    async def passes() -> None:
        with ThreadPoolExecutor(1) as pool:
            runner = PassRunner("UpliftModel", "upliftmodels", Wakeups(), pool, OldCrd())
            for rv, phase in (("1", "Progressing"), ("3", "Paused")):
                body = kopf.Body(cast(kopf.RawBody, {"metadata": {
                    "name": "r", "namespace": "ns", "uid": "u1", "resourceVersion": rv}}))
                await runner.run_once(
                    ("UpliftModel", "ns", "r"), body,
                    lambda *_, p=phase: PassResult(
                        {"phase": p, "resumedAt": "2026-12-05T00:00:00Z"}, (), None),
                    lambda *_: None)

    with caplog.at_level(logging.WARNING, logger="uplift_operator.handlers.common"):
        asyncio.run(passes())
    assert _pruned() - before == 2
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(said) == 1 and "status.resumedAt" in said[0] and "older" in said[0]
    observability.forget("UpliftModel", "ns", "r")
