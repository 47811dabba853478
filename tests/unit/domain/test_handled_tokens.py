"""domain.requests: the tokens of a request annotation remembered as handled (bounded)."""

from __future__ import annotations

import hashlib

from uplift_operator.api.v1alpha1.common import StatusBase
from uplift_operator.domain.requests import (
    HANDLED_TOKENS_KEPT,
    REMEMBERED_TOKEN_MAX,
    ManualRequest,
    RequestKind,
    handled_after,
    is_handled,
    is_replayed,
    remembered,
)

KEY = "uplift.dev/retry"


def _retry(token: str) -> ManualRequest:
    return ManualRequest(RequestKind.RETRY, KEY, token)


def _handle(tokens: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    last: dict[str, str] = {}
    earlier: dict[str, list[str]] = {}
    for token in tokens:
        last, earlier = handled_after(_retry(token), last, earlier)
    return last, earlier


def test_the_last_and_the_earlier_tokens_are_handled_the_earlier_ones_replayed() -> None:
    last, earlier = _handle(["git-1", "oncall-2"])
    assert (last, earlier) == ({KEY: "oncall-2"}, {KEY: ["git-1"]})
    assert is_handled(_retry("oncall-2"), last, earlier)
    assert not is_replayed(_retry("oncall-2"), last, earlier)
    assert is_handled(_retry("git-1"), last, earlier) and is_replayed(_retry("git-1"), last, earlier)
    assert not is_handled(_retry("new-3"), last, earlier)
    # Another key's tokens are its own.
    abort = ManualRequest(RequestKind.ABORT, "uplift.dev/abort", "git-1")
    assert not is_handled(abort, last, earlier)


def test_a_replayed_token_handled_again_moves_to_the_last_once() -> None:
    last, earlier = _handle(["a", "b", "c", "a"])
    assert (last, earlier) == ({KEY: "a"}, {KEY: ["c", "b"]})


def test_eight_tokens_a_key_are_kept_the_oldest_dropped() -> None:
    tokens = [f"t{i}" for i in range(12)]
    last, earlier = _handle(tokens)
    assert HANDLED_TOKENS_KEPT == 8
    assert last == {KEY: "t11"}
    assert earlier == {KEY: ["t10", "t9", "t8", "t7", "t6", "t5", "t4"]}
    assert all(is_handled(_retry(t), last, earlier) for t in tokens[-8:])
    assert not any(is_handled(_retry(t), last, earlier) for t in tokens[:4])


def test_a_long_token_is_kept_as_its_digest_and_still_recognised() -> None:
    long = "x" * 5000
    last, earlier = _handle([long, "short"])
    (kept,) = earlier[KEY]
    assert kept == "sha256:" + hashlib.sha256(long.encode()).hexdigest() == remembered(long)
    assert len(kept) == 71 and len(remembered("y" * REMEMBERED_TOKEN_MAX)) == REMEMBERED_TOKEN_MAX
    assert is_replayed(_retry(long), last, earlier)
    # A token written as a digest is no digest's: longer than kept as written, digested too.
    assert not is_handled(_retry(kept), last, earlier)


def test_the_api_bounds_match_what_is_kept() -> None:
    """The status schema bounds (``StatusBase.earlier_handled_requests``) hold what
    ``handled_after`` keeps: 7 earlier tokens, each at most 71 characters."""
    _, earlier = _handle(["z" * 100 + str(i) for i in range(20)])
    status = StatusBase.model_validate({"earlierHandledRequests": earlier})
    assert status.earlier_handled_requests == earlier
    assert len(earlier[KEY]) == HANDLED_TOKENS_KEPT - 1


def test_a_status_read_as_stored_holds_no_earlier_token_where_it_has_none() -> None:
    """The shape before ``earlierHandledRequests`` (a plain token per key), and what the plugin
    reads as stored (anything, edited by hand): only the last token is handled."""
    last = {KEY: "t0"}
    assert is_handled(_retry("t0"), last, {})
    assert not is_handled(_retry("t1"), last, {KEY: "t1"})  # not a list: holds nothing
    assert not is_handled(_retry("t1"), last, {KEY: [1, None]})
