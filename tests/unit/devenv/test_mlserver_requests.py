"""The MLServer helpers' requests: a kept-alive connection reset before any answer (uvicorn
closes one idle for 5 s) is sent again once on a fresh connection; other failures are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from uplift_operator.devenv.mlserver import MlserverProcess


class FlakySession:
    """Raises the given errors in turn, then answers; counts sends and pool closes."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[str, str]] = []
        self.closed = 0

    def request(self, method: str, url: str, **_: Any) -> requests.Response:
        self.sent.append((method, url))
        if self.errors:
            raise self.errors.pop(0)
        response = requests.Response()
        response.status_code = 200
        return response

    def close(self) -> None:
        self.closed += 1


ABORTED = requests.ConnectionError("('Connection aborted.', ConnectionResetError(104, "
                                   "'Connection reset by peer'))")


def _server(tmp_path: Path, session: FlakySession) -> MlserverProcess:
    server = MlserverProcess("models:/m/1", workdir=tmp_path)
    server.session = session  # type: ignore[assignment]
    return server


def test_a_reset_kept_alive_connection_is_sent_again_on_a_fresh_one(tmp_path: Path) -> None:
    session = FlakySession(ABORTED)
    server = _server(tmp_path, session)
    assert server.post("/uplift/v1/outcomes", {"outcomes": []}).status_code == 200
    assert len(session.sent) == 2 and session.closed == 1
    assert session.sent[0] == session.sent[1] == ("POST", f"{server.url}/uplift/v1/outcomes")


def test_a_server_that_keeps_failing_or_is_not_there_raises(tmp_path: Path) -> None:
    session = FlakySession(ABORTED, ABORTED)
    with pytest.raises(requests.ConnectionError):
        _server(tmp_path, session).infer({"inputs": []})
    assert len(session.sent) == 2  # once again, not more
    refused = FlakySession(requests.ConnectionError("Max retries exceeded: Connection refused"))
    with pytest.raises(requests.ConnectionError, match="refused"):
        _server(tmp_path, refused).metrics_text()
    assert len(refused.sent) == 1 and refused.closed == 0
