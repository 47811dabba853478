"""``MlflowRegistry.registered_aliases``: every registered model's aliases and creation time,
page after page of ``GET registered-models/search`` (the alias poller's sweep), with the
credentials and the error mapping of every other call, a longer timeout, a page budget it never
exceeds, and never the fail-fast breaker: a slow listing must not make the single reads fail
fast.

The HTTP layer is faked (``tests.support.fake_http``); each request's URL and keywords are
recorded.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from tests.support.fake_http import Clock, Http, installed

from uplift_operator.adapters.mlflow_registry import (
    ALIAS_PAGE_SIZE,
    LISTING_TIMEOUT,
    Credentials,
    FailFast,
    MlflowRegistry,
    RegistryRequestError,
    RegistryUnavailable,
)

URI = "http://mlflow.test:5000"
TIMEOUT = 5.0
PAGES: dict[str, dict[str, Any]] = {
    "": {"registered_models": [
        {"name": "churn", "creation_timestamp": "1700000000123",
         "aliases": [{"alias": "champion", "version": "3"},
                     {"alias": "challenger", "version": "4"}]},
        {"name": "no-alias", "latest_versions": [{"version": "1"}]}],
        "next_page_token": "t1"},
    "t1": {"registered_models": [{"name": "upsell", "creation_timestamp": 1700000000456,
                                  "aliases": [{"alias": "champion",
                                                                "version": "12"}]}],
           "next_page_token": "t2"},
    "t2": {"registered_models": [{"name": "retention", "aliases": []}]},
}


class _Recorded(Http):
    """Answers each search with the page its token names, or every request with the HTTP
    status ``failing``, or not at all (``timing_out``); records every request."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock, TIMEOUT, {})
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.pages = PAGES
        self.failing: int | None = None
        self.timing_out = False

    def request(self, _session: requests.Session, method: str, url: str,
                **_: Any) -> requests.Response:
        self.sent.append((method, url, _))
        token = (_.get("params") or {}).get("page_token", "")
        if self.timing_out:
            self.behave = self.time_out
        elif self.failing is not None:
            status = self.failing
            self.behave = lambda _: (status, {"error_code": "PERMISSION_DENIED",
                                              "message": "no"})
        else:
            self.behave = lambda _: (200, self.pages[token])
        return super().request(_session, method, url, **_)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> _Recorded:
    fake = _Recorded(clock)
    installed(monkeypatch, fake)
    return fake


def _registry(clock: Clock, credentials: Credentials | None = None) -> MlflowRegistry:
    return MlflowRegistry(URI, credentials=credentials, timeout=TIMEOUT,
                          fail_fast=FailFast(clock=clock))


def test_every_page_is_read_and_every_models_aliases_listed(clock: Clock,
                                                            http: _Recorded) -> None:
    listing = _registry(clock, Credentials.bearer("tok-1")).registered_aliases()
    assert listing.complete and listing.pages == 3
    assert listing.aliases == {"churn": {"champion": "3", "challenger": "4"}, "no-alias": {},
                               "upsell": {"champion": "12"}, "retention": {}}
    # As MLflow's proto JSON gives it (int64 as a string) or as a number; none: absent.
    assert listing.created == {"churn": 1700000000123, "upsell": 1700000000456}
    assert [(method, url) for method, url, _ in http.sent] == [
        ("GET", f"{URI}/api/2.0/mlflow/registered-models/search")] * 3
    assert [kw["params"] for _, _, kw in http.sent] == [
        {"max_results": str(ALIAS_PAGE_SIZE)},
        {"max_results": str(ALIAS_PAGE_SIZE), "page_token": "t1"},
        {"max_results": str(ALIAS_PAGE_SIZE), "page_token": "t2"}]
    assert ALIAS_PAGE_SIZE == 1000  # MLflow's REST handler refuses more
    for _, _, kw in http.sent:
        assert kw["headers"]["Authorization"] == "Bearer tok-1"
        assert kw["timeout"] == LISTING_TIMEOUT == 30.0  # a page is slower than a read


def test_basic_credentials_as_every_other_call(clock: Clock, http: _Recorded) -> None:
    _registry(clock, Credentials.basic("reader", "pw")).registered_aliases()
    assert {kw["headers"]["Authorization"] for _, _, kw in http.sent} == {
        "Basic cmVhZGVyOnB3"}


def test_a_budget_stops_the_listing_incomplete(clock: Clock, http: _Recorded) -> None:
    listing = _registry(clock).registered_aliases(max_pages=2)
    assert (listing.complete, listing.pages, len(http.sent)) == (False, 2, 2)
    assert set(listing.aliases) == {"churn", "no-alias", "upsell"}
    assert _registry(clock).registered_aliases(max_pages=3).complete


def test_a_page_token_given_before_is_an_error_not_a_loop(clock: Clock,
                                                          http: _Recorded) -> None:
    http.pages = {**PAGES, "t2": {"registered_models": [], "next_page_token": "t1"}}
    with pytest.raises(RegistryRequestError, match="page token"):
        _registry(clock).registered_aliases()
    assert len(http.sent) == 3


def test_its_failures_map_as_every_calls_and_never_open_the_breaker(clock: Clock,
                                                                   http: _Recorded) -> None:
    """A listing that times out (a slow page: basic auth's permission filter may scan the
    whole registry in one request) fails the sweep alone: the alias reads sent after it are
    sent, not failed fast by a breaker it opened."""
    registry = _registry(clock)
    http.failing = 403
    with pytest.raises(RegistryUnavailable, match=r"denied permission to the credentials' user"):
        registry.registered_aliases()
    http.failing = 503
    with pytest.raises(RegistryUnavailable, match="HTTP 503"):
        registry.registered_aliases()
    http.failing, http.timing_out = None, True
    with pytest.raises(RegistryUnavailable, match="did not answer within 30s"):
        registry.registered_aliases()
    sent = len(http.sent)
    with pytest.raises(RegistryUnavailable, match="did not answer within 30s"):
        registry.registered_aliases()  # sent again: no breaker
    assert len(http.sent) == sent + 1
    registry.fail_fast.admit()  # closed: a single read is sent
    sent = len(http.sent)
    with pytest.raises(RegistryUnavailable, match="did not answer within 5s"):
        registry.resolve("churn", alias="champion")
    assert len(http.sent) == sent + 1
    with pytest.raises(RegistryUnavailable):  # a single read that timed out opens it
        registry.fail_fast.admit()


def test_an_open_breaker_does_not_stop_a_listing(clock: Clock, http: _Recorded) -> None:
    registry = _registry(clock)
    http.timing_out = True
    with pytest.raises(RegistryUnavailable):
        registry.resolve("churn", alias="champion")  # opens the breaker
    http.timing_out = False
    sent = len(http.sent)
    assert registry.registered_aliases().complete
    assert len(http.sent) == sent + 3
    with pytest.raises(RegistryUnavailable):  # and leaves it as it was
        registry.fail_fast.admit()
