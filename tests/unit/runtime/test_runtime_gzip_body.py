"""A gzip report body (``Content-Encoding: gzip``) is read whole or refused.

A gzip stream is one or more members (RFC 1952; ``gzip.decompress`` reads them all). The
runtime inflated the first member only and never looked past it (the review's gz2.py): a
JSON document split across two members was a 400 "Unterminated string", a second member with
more reports (or any garbage) after a complete first member was dropped without a word and the
request counted, and a stream cut before its CRC/ISIZE trailer was accepted. Now every member
is inflated, ``max_body_bytes`` bounds them all together, and anything else after the last
member or a stream ending inside a member is a 400 ``bad_json``.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftError, UpliftRuntime

LIMIT = 64 << 10  # UPLIFT_MAX_BODY_BYTES here

DOC1 = json.dumps({"outcomes": [{"unit_id": "a", "converted": True}]}).encode()
DOC2 = json.dumps({"outcomes": [{"unit_id": "b", "converted": True}]}).encode()
WHOLE = json.dumps({"outcomes": [{"unit_id": "a", "converted": True},
                                 {"unit_id": "b", "converted": True}]}).encode()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[tuple[UpliftRuntime, asyncio.AbstractEventLoop]]:
    root = tmp_path_factory.mktemp("gzip-body")
    train_small_model(root / "model")
    env = {"UPLIFT_DECISION_KEY": "gzip-body-key-0123456789abcdef0123",
           "UPLIFT_MODEL_VERSION": "3", "UPLIFT_MAX_BODY_BYTES": str(LIMIT),
           drain.TOKEN_FILE_ENV: str(root / "drain-token")}
    with loaded_runtime("gzip-body", root / "model", env) as loaded:
        yield loaded


def read(loaded: tuple[UpliftRuntime, asyncio.AbstractEventLoop], body: bytes,
         encoding: str = "gzip") -> Any:
    runtime, loop = loaded

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({"type": "http", "method": "POST", "path": "/uplift/v1/outcomes",
                       "headers": [(b"content-encoding", encoding.encode())],
                       "client": ("10.0.0.1", 1), "query_string": b""}, receive)
    return loop.run_until_complete(runtime._read_json(request, "outcomes"))


def refused(loaded: tuple[UpliftRuntime, asyncio.AbstractEventLoop], body: bytes,
            encoding: str = "gzip") -> UpliftError:
    with pytest.raises(UpliftError) as info:
        read(loaded, body, encoding)
    return info.value


def test_one_document_split_across_members_is_read_whole(runtime: Any) -> None:
    assert read(runtime, gzip.compress(WHOLE[:20]) + gzip.compress(WHOLE[20:])) == \
        json.loads(WHOLE)
    # One byte a member, and an empty member: the members' boundaries are nobody's business.
    body = b"".join(gzip.compress(WHOLE[i:i + 1]) for i in range(len(WHOLE)))
    assert read(runtime, gzip.compress(b"") + body + gzip.compress(b"")) == json.loads(WHOLE)


def test_members_larger_than_the_read_window_are_read_whole(runtime: Any) -> None:
    """Incompressible members of some KiB each, split at odd places."""
    rng = random.Random(7)
    doc = json.dumps({"x": "".join(rng.choice("0123456789abcdef") for _ in range(40_000))}
                     ).encode()
    cuts = [0, 1, 9_999, 25_003, len(doc)]
    body = b"".join(gzip.compress(doc[a:b]) for a, b in itertools.pairwise(cuts))
    assert len(body) > 3 * 4096
    assert read(runtime, body) == json.loads(doc)


def test_two_documents_in_two_members_are_refused_as_they_are_uncompressed(
        runtime: Any) -> None:
    """The second member was dropped and the first document counted; uncompressed, the same
    two documents were (and are) refused."""
    for body, encoding in ((gzip.compress(DOC1) + gzip.compress(DOC2), "gzip"),
                           (DOC1 + DOC2, "identity")):
        error = refused(runtime, body, encoding)
        assert (error.status_code, "Extra data" in str(error)) == (400, True)


@pytest.mark.parametrize(("body", "fragment"), [
    (gzip.compress(DOC1) + b"garbage", "not valid gzip: data after the last member"),
    (gzip.compress(DOC1) + b"\0" * 8, "not valid gzip: data after the last member"),
    (gzip.compress(DOC1) + b"\x1f", "not valid gzip: the stream ends inside a member"),
    (gzip.compress(WHOLE)[:-8], "not valid gzip: the stream ends inside a member"),
    (gzip.compress(WHOLE)[:-1], "not valid gzip: the stream ends inside a member"),
    (gzip.compress(DOC1) + gzip.compress(DOC2)[:-4], "ends inside a member"),
    (gzip.compress(WHOLE)[:-8] + b"\0" * 8, "not valid gzip"),  # a wrong CRC
    (b"garbage", "not valid gzip"),
], ids=["member+garbage", "member+zeros", "member+half-magic", "no-trailer", "cut-isize",
        "second-member-cut", "bad-crc", "not-gzip"])
def test_anything_but_whole_members_is_refused(runtime: Any, body: bytes,
                                               fragment: str) -> None:
    error = refused(runtime, body)
    assert (error.status_code, fragment in str(error)) == (400, True), str(error)


def test_the_limit_holds_over_all_members(runtime: Any) -> None:
    """Each member within ``max_body_bytes``, together beyond: 413, as is a bomb in a second
    member after a small first one."""
    half = json.dumps({"x": " " * (LIMIT // 2)}).encode()
    assert len(half) <= LIMIT
    for body in (gzip.compress(half[:-10]) + gzip.compress(half[-10:] + b" " * (LIMIT // 2)),
                 gzip.compress(DOC1) + gzip.compress(b" " * (64 << 20))):
        assert len(body) <= LIMIT
        error = refused(runtime, body)
        assert (error.status_code, str(error)) == (413, f"body inflates beyond {LIMIT} bytes")
    # Exactly at the limit is fine, split or not.
    exact = half + b" " * (LIMIT - len(half))
    assert read(runtime, gzip.compress(exact)) == read(
        runtime, gzip.compress(exact[:100]) + gzip.compress(exact[100:])) == json.loads(half)
