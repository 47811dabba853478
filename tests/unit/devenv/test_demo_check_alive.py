"""``DemoStack.check_alive`` names the component that is gone, so a scenario's wait fails with
that rather than with a bare Timeout minutes later."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from uplift_operator.devenv.demo import DemoStack


class _Proc:
    def __init__(self, code: int | None = None) -> None:
        self.returncode = code

    def poll(self) -> int | None:
        return self.returncode


def _stack(tmp_path: Path, *, mlflow: bool = True, prometheus: bool = True,
           dead_thread: str | None = None) -> DemoStack:
    stack = DemoStack(tmp_path, tmp_path / "customers.csv", say=lambda _: None)
    stack.operator = _Proc()  # type: ignore[assignment]
    stack.operator_log = tmp_path / "operator.log"
    stack.plane = SimpleNamespace(check_alive=lambda: None)  # type: ignore[assignment]
    stack.mlflow = SimpleNamespace(running=mlflow, log=tmp_path / "mlflow.log")  # type: ignore[assignment]
    stack.prometheus = SimpleNamespace(  # type: ignore[assignment]
        running=prometheus, log=tmp_path / "prometheus.log")
    stack.agent = SimpleNamespace(  # type: ignore[assignment]
        dead_thread=lambda: dead_thread, last_error="MaxRetryError: refused")
    return stack


def test_all_running_is_quiet(tmp_path: Path) -> None:
    _stack(tmp_path).check_alive()


@pytest.mark.parametrize(("gone", "named"), [
    ({"mlflow": False}, "MLflow exited; see "),
    ({"prometheus": False}, "Prometheus exited; see "),
    ({"dead_thread": "serving-agent"},
     "serving agent's thread 'serving-agent' ended (last error: MaxRetryError: refused)"),
])
def test_a_component_gone_is_named(tmp_path: Path, gone: dict[str, object], named: str) -> None:
    with pytest.raises(RuntimeError) as raised:
        _stack(tmp_path, **gone).check_alive()  # type: ignore[arg-type]
    assert named in str(raised.value)


def test_the_operator_exit_code_is_given(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    stack.operator = _Proc(1)  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="the operator exited with 1"):
        stack.check_alive()
