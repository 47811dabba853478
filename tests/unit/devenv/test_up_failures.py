"""How ``uplift-operator dev`` fails: keeping the logs an error message names (they used to be
removed in the same ``finally``), and promptly when the start fails (or Ctrl-C comes) while
version 1 still trains (the interpreter used to wait for the training's pool thread, silent,
until it ended)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from uplift_operator.devenv import controlplane, demo, mlflow_server, prometheus, up

# --- the logs an error names --------------------------------------------------------------------


@pytest.mark.parametrize(("failed", "code", "keep", "given", "stopped", "wrong", "kept"), [
    (False, 0, False, False, False, False, False),   # a good run cleans up after itself
    (True, 0, False, False, False, False, True),     # an exception: it may name a log in it
    (False, 1, False, False, False, False, True),    # a decision not the expected one
    # Stopped by the user (Ctrl-C: how every --hold run ends, 130): kept only if something went
    # wrong. It used to be kept whenever the exit code was not 0, so after every --hold run.
    (False, 130, False, False, True, False, False),
    (False, 130, False, False, True, True, True),    # a scenario or a component went wrong
    (False, 1, False, False, True, True, True),      # --duration, a scenario went wrong
    (False, 130, True, False, True, False, True),    # UPLIFT_DEV_KEEP=1
    (False, 130, False, True, True, False, True),    # --workdir
    (False, 0, True, False, False, False, True),     # UPLIFT_DEV_KEEP=1
    (False, 0, False, True, False, False, True),     # --workdir: the user's directory
])
def test_keep_workdir(failed: bool, code: int, keep: bool, given: bool, stopped: bool,
                      wrong: bool, kept: bool) -> None:
    assert up.keep_workdir(failed, code, keep=keep, given=given, stopped=stopped,
                           wrong=wrong) is kept


def test_went_wrong_at_a_stop() -> None:
    def outcome(expected: bool) -> Any:
        return SimpleNamespace(expected=expected)

    def stack(alive: bool) -> Any:
        def check_alive() -> None:
            if not alive:
                raise RuntimeError("the operator exited with 1; see operator.log")
        return SimpleNamespace(check_alive=check_alive)

    assert not up.went_wrong([outcome(True)], stack(alive=True))
    assert up.went_wrong([outcome(True), outcome(False)], stack(alive=True))
    assert up.went_wrong([outcome(True)], stack(alive=False))
    assert not up.went_wrong([], None)  # stopped while the stack started: nothing to ask


def test_a_stop_as_asked_with_nothing_wrong_removes_the_workdir(
        fake_stack: type[_FakeStack], capsys: pytest.CaptureFixture[str]) -> None:
    fake_stack.error = up._StopError("SIGINT")  # Ctrl-C
    assert up.main(["--plain"]) == 130
    assert fake_stack.workdir is not None and not fake_stack.workdir.exists()
    assert "logs kept" not in capsys.readouterr().err


class _FakeStack:
    """Starts nothing; ``start`` writes the operator's log, then raises ``error``."""

    error: BaseException = RuntimeError("unset")
    workdir: Path | None = None

    def __init__(self, workdir: Path, data: Path, **_: Any) -> None:
        type(self).workdir = self.workdir = workdir
        self.timings: dict[str, float] = {}
        self.recorder = None
        self.models = type("Models", (), {"items": {}, "on_change": None})()

    def start(self) -> None:
        log = self.workdir / "operator.log"  # type: ignore[operator]
        log.write_text("Traceback ...: why the operator died\n")
        raise self.error

    def stop(self) -> None:
        pass


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[_FakeStack]:
    data = tmp_path / "h.csv"
    data.write_text("recency\n")
    monkeypatch.setattr(up, "HILLSTROM", data)
    monkeypatch.setattr(demo, "DemoStack", _FakeStack)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the workdir goes under tmp_path
    monkeypatch.delenv("UPLIFT_DEV_KEEP", raising=False)
    return _FakeStack


def test_the_log_an_error_names_is_still_there(
        fake_stack: type[_FakeStack], capsys: pytest.CaptureFixture[str]) -> None:
    fake_stack.error = RuntimeError("the operator exited with 1; see <workdir>/operator.log")
    with pytest.raises(RuntimeError):
        up.main(["--plain"])
    assert fake_stack.workdir is not None
    assert (fake_stack.workdir / "operator.log").read_text().startswith("Traceback")
    assert f"logs kept in {fake_stack.workdir}" in capsys.readouterr().err


def test_a_stop_before_any_scenario_finished_is_not_a_clean_end(
        fake_stack: type[_FakeStack], capsys: pytest.CaptureFixture[str]) -> None:
    # Stopped by --duration with no scenario finished: it used to exit 0 and remove the logs
    # (test_up_duration.py has the clean ends).
    fake_stack.error = up._StopError("--duration")
    assert up.main(["--plain", "--duration", "1"]) == 1
    assert fake_stack.workdir is not None and fake_stack.workdir.exists()
    assert f"logs kept in {fake_stack.workdir}" in capsys.readouterr().err


# --- a start that fails while version 1 trains ---------------------------------------------------


class _Server:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.url, self.running = "http://127.0.0.1:1", True

    def start(self) -> _Server:
        return self

    def stop(self, **kwargs: Any) -> None:
        pass

    close = stop


class _FailingPlane:
    def __init__(self, *args: Any) -> None:
        pass

    def start(self) -> None:
        raise RuntimeError("kube-apiserver exited with 1")


def test_a_failed_start_does_not_wait_for_the_training(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    release = threading.Event()

    def slow_fit(data: Path, models: Any) -> None:
        release.wait(60)  # version 1 training, cold

    monkeypatch.setattr(controlplane, "ControlPlane", _FailingPlane)
    monkeypatch.setattr(mlflow_server, "MlflowServer", _Server)
    monkeypatch.setattr(prometheus, "PrometheusServer", _Server)
    monkeypatch.setattr(demo, "_fit_and_warm", slow_fit)
    before = set(threading.enumerate())
    stack = demo.DemoStack(tmp_path, tmp_path / "h.csv", say=lambda _: None)
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="kube-apiserver"):
            stack.start()
        assert time.monotonic() - started < 10
        left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
        assert any(t.name == "demo-start-model" for t in left)  # still training ...
        # ... but nothing the interpreter would wait for at exit.
        assert [t.name for t in left if not t.daemon] == []
    finally:
        release.set()


def test_background_hands_over_its_value_or_its_error() -> None:
    assert demo.Background("t", lambda a, b: a + b, 2, 3).result(5) == 5

    def fails() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        demo.Background("t", fails).result(5)
    blocked = threading.Event()
    slow = demo.Background("t", blocked.wait, 30)
    with pytest.raises(TimeoutError):
        slow.result(0.05)
    assert slow.thread.daemon and not slow.done()
    blocked.set()
    assert slow.result(5) is True


class _StartedStack(_FakeStack):
    """Starts; Ctrl-C comes while it waits for the first scored request, the operator gone."""

    def start(self) -> None:
        pass

    def wait_first_scored(self, **_: Any) -> float:
        raise up._StopError("SIGINT")

    def check_alive(self) -> None:
        raise RuntimeError("the operator exited with 1")


def test_a_stop_after_a_component_failed_keeps_the_workdir(
        fake_stack: type[_FakeStack], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(demo, "DemoStack", _StartedStack)
    assert up.main(["--plain"]) == 130
    assert _StartedStack.workdir is not None and _StartedStack.workdir.exists()
    assert f"logs kept in {_StartedStack.workdir}" in capsys.readouterr().err
