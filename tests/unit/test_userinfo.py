"""A URL's userinfo, read once for the adapters, the settings and the API's pattern: what names
the server without it, which texts would give its password away, and that the CRD's pattern and
rule refuse exactly the URLs that carry one."""

from __future__ import annotations

import base64
import re

import pytest

from uplift_operator.api.v1alpha1.upliftmodel import TRACKING_URI_PATTERN, TRACKING_URI_RULE
from uplift_operator.userinfo import has_userinfo, shown_url, url_secrets

URLS_WITH = ["http://reader:pw@mlflow:5000", "https://token@mlflow.example/prefix",
             "http://a%40b:p%3Aw@mlflow", "http://u:@mlflow", "https://u:p@[::1]:5000/x?y#z"]
URLS_WITHOUT = ["http://mlflow:5000", "https://mlflow.example/prefix/@team",
                "http://mlflow?user=a@b", "http://mlflow#a@b", "https://[::1]:5000/"]


@pytest.mark.parametrize("url", URLS_WITH)
def test_a_url_with_userinfo_is_shown_without_it(url: str) -> None:
    assert has_userinfo(url)
    shown = shown_url(url)
    assert not has_userinfo(shown) and "@" not in shown.split("/")[2]
    assert shown.startswith(url.split("://")[0] + "://") and shown.endswith(url.rpartition("@")[2])


@pytest.mark.parametrize("url", URLS_WITHOUT)
def test_a_url_without_userinfo_is_shown_as_given(url: str) -> None:
    assert not has_userinfo(url) and shown_url(url) == url and url_secrets(url) == ()


def test_the_userinfo_and_password_are_redacted_as_written_decoded_and_as_the_header() -> None:
    secrets = url_secrets("http://a%40b:p%3Aw@mlflow")
    assert set(secrets) == {"a%40b:p%3Aw", "a@b:p:w", "p%3Aw", "p:w",
                            base64.b64encode(b"a@b:p:w").decode()}
    assert list(secrets) == sorted(secrets, key=len, reverse=True)  # longest replaced first
    # A user name beside a password is no secret (nor is a Secret's username); alone, it is
    # often a token, which requests sends as the basic credentials' user name.
    assert "a%40b" not in secrets and "a@b" not in secrets
    assert set(url_secrets("https://tok%2Fen@mlflow")) == {
        "tok%2Fen", "tok/en", base64.b64encode(b"tok/en:").decode()}


def _cel_regex(rule: str) -> str:
    """The regex of a ``!self.matches('...')`` rule (no escapes in it)."""
    found = re.fullmatch(r"!self\.matches\('([^'\\]*)'\)", rule)
    assert found is not None, rule
    return found.group(1)


@pytest.mark.parametrize("url", URLS_WITH + URLS_WITHOUT)
def test_the_crds_pattern_and_rule_refuse_what_has_userinfo_finds(url: str) -> None:
    """The pattern (pydantic and the API server) and the rule (its message) agree with the
    settings' reading of a URL: refused when it holds a userinfo, for http(s) URLs."""
    assert isinstance(TRACKING_URI_RULE, dict)
    rule_allows = not re.search(_cel_regex(str(TRACKING_URI_RULE["rule"])), url)
    pattern_allows = bool(re.search(TRACKING_URI_PATTERN, url))
    assert rule_allows == pattern_allows == (not has_userinfo(url))
    assert "model.credentials" in str(TRACKING_URI_RULE["message"])
