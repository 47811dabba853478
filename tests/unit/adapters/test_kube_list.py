"""``KubeCluster.list_uids``: the existence audit's LIST (``handlers.existence``), metadata only,
page by page; a page that fails fails the whole list (a partial one would show objects absent)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes.client.rest import RESTResponse
from tests.support.fake_kube_api import cluster_answered_by, response

from uplift_operator.adapters.kube import METADATA_ONLY, KubeCluster, KubeError


class _Server:
    """Answers LIST pages of ``uids``, ``page`` at a time; fails page ``fail_page`` (0-based)."""

    def __init__(self, uids: list[str], fail_page: int | None = None) -> None:
        self.uids, self.fail_page = uids, fail_page
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []

    def call_api(self, method: str, url: str, header_params: dict[str, str] | None = None,
                 body: Any = None, post_params: Any = None,
                 _request_timeout: Any = None) -> RESTResponse:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.requests.append((method, parts.path, query, dict(header_params or {})))
        limit = int(query["limit"][0])
        start = int(query.get("continue", ["0"])[0])
        if len(self.requests) - 1 == self.fail_page:
            return response(410, {"kind": "Status", "message": "The provided continue "
                                   "parameter is too old"})
        items = [{"metadata": {"name": f"n-{uid}", "uid": uid}}
                 for uid in self.uids[start:start + limit]]
        more = start + limit < len(self.uids)
        return response(200, {"kind": "PartialObjectMetadataList", "items": items,
                               "metadata": {"continue": str(start + limit) if more else ""}})


def _cluster(server: _Server, monkeypatch: pytest.MonkeyPatch) -> KubeCluster:
    return cluster_answered_by(server.call_api, monkeypatch)


def test_every_page_is_read_metadata_only(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server([f"u{index}" for index in range(7)])
    uids = _cluster(server, monkeypatch).list_uids("uplift.dev/v1alpha1", "campaigns", "team-a",
                                                   page_size=3)
    assert uids == {f"u{index}" for index in range(7)}
    assert [(method, path) for method, path, _, _ in server.requests] == [
        ("GET", "/apis/uplift.dev/v1alpha1/namespaces/team-a/campaigns")] * 3
    assert [query.get("continue") for _, _, query, _ in server.requests] == [None, ["3"], ["6"]]
    assert all(query["limit"] == ["3"] for _, _, query, _ in server.requests)
    assert all(headers["Accept"].startswith(METADATA_ONLY) for _, _, _, headers in server.requests)


def test_without_a_namespace_it_lists_every_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server(["u1"])
    assert _cluster(server, monkeypatch).list_uids("uplift.dev/v1alpha1",
                                                   "upliftmodels") == {"u1"}
    assert [path for _, path, _, _ in server.requests] == ["/apis/uplift.dev/v1alpha1/upliftmodels"]


def test_a_page_that_fails_fails_the_whole_list(monkeypatch: pytest.MonkeyPatch) -> None:
    server = _Server([f"u{index}" for index in range(7)], fail_page=1)
    with pytest.raises(KubeError) as failed:
        _cluster(server, monkeypatch).list_uids("uplift.dev/v1alpha1", "campaigns", "team-a",
                                                page_size=3)
    assert failed.value.status == 410
    assert "continue parameter is too old" in str(failed.value)


def test_a_label_selector_goes_with_every_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watched children's audit lists only what their watch selects (one LIST per kind:
    the campaigns ConfigMaps, not every ConfigMap of the cluster), on every page alike."""
    server = _Server([f"u{index}" for index in range(4)])
    selector = "app.kubernetes.io/managed-by=uplift-operator,uplift.dev/model"
    assert _cluster(server, monkeypatch).list_uids(
        "v1", "configmaps", label_selector=selector, page_size=3) == {f"u{i}" for i in range(4)}
    assert [path for _, path, _, _ in server.requests] == ["/api/v1/configmaps"] * 2
    assert [query["labelSelector"] for _, _, query, _ in server.requests] == [[selector]] * 2
    server.requests.clear()
    _cluster(server, monkeypatch).list_uids("uplift.dev/v1alpha1", "campaigns", "team-a")
    assert "labelSelector" not in server.requests[0][2]  # none asked: none sent
