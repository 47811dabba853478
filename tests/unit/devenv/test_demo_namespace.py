"""The demo's namespace is created unless it exists: a control plane started on a previous
run's etcd data has it, and ``kubectl create namespace`` then failed the start (AlreadyExists).
(``uplift-operator dev`` now refuses a ``--workdir`` that is not empty; this is the second
guard.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from uplift_operator.devenv import demo


def _kubectl(monkeypatch: pytest.MonkeyPatch, answer: str | None) -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = []

    def run(kubeconfig: Path, *args: str) -> str:
        calls.append(args)
        if answer is not None:
            raise RuntimeError(f"kubectl {' '.join(args)}: {answer}")
        return "namespace/demo created\n"

    monkeypatch.setattr(demo, "_kubectl", run)
    return calls


@pytest.mark.parametrize("answer", [
    None, 'Error from server (AlreadyExists): namespaces "demo" already exists'])
def test_created_or_already_there(answer: str | None, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _kubectl(monkeypatch, answer)
    demo.ensure_namespace(tmp_path / "admin.kubeconfig", "demo")
    assert calls == [("create", "namespace", "demo")]


def test_another_failure_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _kubectl(monkeypatch, 'Error from server (Forbidden): namespaces is forbidden')
    with pytest.raises(RuntimeError, match="Forbidden"):
        demo.ensure_namespace(tmp_path / "admin.kubeconfig", "demo")
