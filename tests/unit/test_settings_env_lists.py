"""A comma-separated environment list is read item by item, each stripped of its blanks.

``UPLIFT_NAMESPACES="team-a, team-b"`` gave ``('team-a', ' team-b')``: the start-up check left
`` team-b`` out as a namespace that does not exist, so team-b was silently unwatched, and an
allow-list pattern with a leading blank never matched.
"""

from __future__ import annotations

import pytest

from uplift_operator.settings import parse_args


def test_blanks_around_namespaces_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_NAMESPACES", " team-a, team-b ,,  ,team-c\t")
    assert parse_args([]).namespaces == ("team-a", "team-b", "team-c")


def test_blanks_around_allow_list_patterns_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_ALLOWED_RUNTIME_IMAGES", r"ghcr\.io/a/.*, registry\.x/.* ")
    monkeypatch.setenv("UPLIFT_ALLOWED_SERVICE_ACCOUNTS", "runtime, scorer")
    monkeypatch.setenv("UPLIFT_ALLOWED_TRACKING_URIS", r" https://mlflow\.internal")
    config = parse_args(["-A"])
    assert config.allowed_runtime_images == (r"ghcr\.io/a/.*", r"registry\.x/.*")
    assert config.allowed_service_accounts == ("runtime", "scorer")
    assert config.allowed_tracking_uris == (r"https://mlflow\.internal",)


def test_blanks_around_headers_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_PROMETHEUS_HEADERS", "X-Scope-OrgID=team-a, X-Other=b")
    assert parse_args(["-A"]).prometheus_headers == (("X-Scope-OrgID", "team-a"),
                                                     ("X-Other", "b"))


def test_a_list_of_blanks_only_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_ALLOWED_SERVICE_ACCOUNTS", " , ,")
    assert parse_args(["-A"]).allowed_service_accounts == ()
    monkeypatch.setenv("UPLIFT_NAMESPACES", " , ")
    with pytest.raises(SystemExit):  # no scope at all, as with the variable unset
        parse_args([])


def test_the_plural_and_singular_compare_after_stripping(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_NAMESPACES", "team-a, team-b")
    monkeypatch.setenv("UPLIFT_NAMESPACE", "team-a,team-b")
    assert parse_args([]).namespaces == ("team-a", "team-b")
