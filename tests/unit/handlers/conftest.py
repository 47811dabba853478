"""Handler tests run in pytest's own process: a replica's exit (``handlers.common._terminate``,
a SIGTERM to itself) is recorded instead, so that no test can stop the test run."""

from __future__ import annotations

import pytest

from uplift_operator.handlers import common


@pytest.fixture(autouse=True)
def terminations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(common, "_terminate", lambda: calls.append("SIGTERM"))
    monkeypatch.setattr(common, "_exiting", False)
    monkeypatch.setattr(common, "_exit_check", None)
    return calls
