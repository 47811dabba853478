"""kopf's own LISTs (a watch's first, its re-list after a 410 Gone or a peering resume) are
paged as the operator's are (``adapters.kube.LIST_PAGE_SIZE``): without
``settings.watching.chunk_size`` kopf sends no ``limit`` and 10,000 UpliftModels came in one
answer of tens of MB."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
from kopf._cogs.clients import api as kopf_api
from kopf._cogs.clients import fetching
from kubernetes.config import kube_config
from tests.unit.handlers.test_watch_graph_labels import KUBECONFIG

from uplift_operator import settings
from uplift_operator.adapters.kube import LIST_PAGE_SIZE
from uplift_operator.handlers import lifecycle

configure = cast(Callable[..., None], lifecycle.configure)
stop_passes = cast(Callable[..., None], lifecycle.stop_passes)
MODELS = kopf.Resource("uplift.dev", "v1alpha1", "upliftmodels", namespaced=True)


def _configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> kopf.OperatorSettings:
    config_file = tmp_path / "kubeconfig"
    config_file.write_text(KUBECONFIG)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config_file))
    memo = kopf.Memo(config=settings.parse_args(["--all-namespaces", "--metrics-port", "0"]))
    operator_settings = kopf.OperatorSettings()
    configure(settings=operator_settings, memo=memo)
    stop_passes(memo=memo)
    return operator_settings


def test_kopfs_lists_are_paged_by_the_operators_page_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    operator_settings = _configured(tmp_path, monkeypatch)
    assert operator_settings.watching.chunk_size == LIST_PAGE_SIZE
    # What kopf sends with it (its fetching of a watch's list): every request a page of
    # LIST_PAGE_SIZE, the next asked by the continue token, until the last.
    objects = [{"metadata": {"name": f"m{i}", "namespace": "ns"}} for i in range(1_234)]
    requests: list[dict[str, list[str]]] = []

    async def get(*, url: str, **_: Any) -> dict[str, Any]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        requests.append(query)
        start = int(query.get("continue", ["0"])[0])
        limit = int(query["limit"][0]) if "limit" in query else len(objects)
        end = min(start + limit, len(objects))
        return {"kind": "UpliftModelList", "apiVersion": "uplift.dev/v1alpha1",
                "metadata": {"resourceVersion": "7",
                             "continue": str(end) if end < len(objects) else ""},
                "items": objects[start:end]}

    monkeypatch.setattr(kopf_api, "get", get)

    async def listed() -> list[int]:
        return [len(chunk) async for chunk, _ in fetching.fetch_objs(
            settings=operator_settings, resource=MODELS, namespace=None,
            logger=logging.getLogger(__name__))]

    assert asyncio.run(listed()) == [500, 500, 234]
    assert [query["limit"] for query in requests] == [[str(LIST_PAGE_SIZE)]] * 3
