"""Who counts as loopback for ``/uplift/v1/drain``.

MLServer listening on ``::`` (dual stack) sees the preStop hook's request to 127.0.0.1 from
the IPv4-mapped address ``::ffff:127.0.0.1``, which a list of literal addresses refused (the
review's drainhost.py): the hook drained nothing and the pending cohort counts left with the
replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from tests.support.runtime_in_process import loaded_runtime
from tests.support.small_model import train_small_model

from uplift_operator.runtime import drain
from uplift_operator.runtime.runtime import UpliftError, _is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1",
                                  "localhost"])
def test_loopback(host: str) -> None:
    assert _is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "::ffff:10.0.0.1", "fe80::1", "", "unknown",
                                  "127.0.0.1.example.com", "::ffff:7f00:1x"])
def test_not_loopback(host: str) -> None:
    assert not _is_loopback(host)


def test_the_hook_from_an_ipv4_mapped_loopback_drains(tmp_path: Path) -> None:
    train_small_model(tmp_path / "model")
    token_file = tmp_path / "drain-token"
    env = {"UPLIFT_DECISION_KEY": "drain-loopback-key-0123456789abcdef",
           drain.TOKEN_FILE_ENV: str(token_file)}

    def request(host: str, token: str) -> Request:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        return Request({"type": "http", "method": "POST", "path": "/", "query_string": b"",
                        "headers": [(b"authorization", f"Bearer {token}".encode())],
                        "client": (host, 4000)}, receive)

    with loaded_runtime("drain-loopback", tmp_path / "model", env) as (runtime, loop):
        token = drain.read_token(token_file)
        answer = loop.run_until_complete(runtime.drain(request("::ffff:127.0.0.1", token)))
        assert set(answer["counted"]) == {"expected", "received", "converted"}
        with pytest.raises(UpliftError, match="loopback") as error:
            loop.run_until_complete(runtime.drain(request("::ffff:10.0.0.1", token)))
        assert error.value.status_code == 403
