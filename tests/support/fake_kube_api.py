"""A ``KubeCluster`` whose API client answers from a test's ``call_api`` instead of a server:
the adapter's own request building, error mapping and decoding run on every answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.rest import RESTResponse

from uplift_operator.adapters.kube import KubeCluster

CallApi = Callable[..., RESTResponse]


def response(status: int, payload: dict[str, Any]) -> RESTResponse:
    """What the API server answers: ``status`` with ``payload`` as its JSON body."""
    raw = urllib3.HTTPResponse(body=json.dumps(payload).encode(), status=status,
                               headers={"content-type": "application/json"},
                               preload_content=True)
    return RESTResponse(raw)


def cluster_answered_by(call_api: CallApi, monkeypatch: pytest.MonkeyPatch) -> KubeCluster:
    """A ``KubeCluster`` whose every request ``call_api`` answers."""
    api = client.ApiClient(client.Configuration(host="https://api.test"))
    monkeypatch.setattr(api, "call_api", call_api)
    return KubeCluster(api)
