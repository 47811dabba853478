"""``scripts/dev.sh`` and ``uplift-operator dev`` without the Hillstrom data: dev.sh used to
install everything (minutes cold) and only then exit 2 from ``uplift-operator dev``; it now says
what the file is and where it is expected before it installs anything, and
``UPLIFT_HILLSTROM_CSV`` names another file. And without ``../shared/seldon`` the demo says it
applies the stand-in SeldonDeployment CRD (it used to fall back silently)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.devenv import controlplane, demo, mlflow_server, prometheus, seldon_crd, up

ROOT = Path(__file__).resolve().parents[3]


def test_main_without_the_data_says_what_it_is_and_how_to_point_elsewhere(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(up, "HILLSTROM", tmp_path / "absent.csv")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert up.main(["--plain"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent.csv") in err
    assert "Hillstrom" in err and "UPLIFT_HILLSTROM_CSV" in err
    assert not list((tmp_path / "tmp").iterdir())  # nothing started, no workdir


def test_the_data_path_comes_from_uplift_hillstrom_csv(tmp_path: Path) -> None:
    code = "from uplift_operator.devenv import demo, up; print(demo.HILLSTROM, up.HILLSTROM)"
    env = {**os.environ, "UPLIFT_HILLSTROM_CSV": str(tmp_path / "mine.csv")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(tmp_path / "mine.csv")] * 2
    env.pop("UPLIFT_HILLSTROM_CSV")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(ROOT.parent / "shared" / "data" / "hillstrom.csv")] * 2


GO = """#!/bin/sh
case "$1" in
  version) echo "go version go$FAKE_GO linux/amd64" ;;
  env) echo "$FAKE_GOTOOLCHAIN" ;;
esac
"""


def fake_checkout(tmp_path: Path, *, go: str | None = "1.26.8", toolchain: str = "local",
                  python: str | None = None) -> tuple[Path, Path, dict[str, str]]:
    """``_fake_checkout``, and the environment to run its dev.sh in: a stand-in ``go`` of
    version ``go`` (None: no Go on PATH) whose GOTOOLCHAIN is ``toolchain``; with ``python``
    (a version), no .venv/bin/python, and stand-ins for python3.11 and python3 of that
    version on PATH instead."""
    repo, marks = _fake_checkout(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if go is not None:
        (bin_dir / "go").write_text(GO)
        (bin_dir / "go").chmod(0o755)
    path = [str(bin_dir)]
    if python is not None:
        (repo / ".venv" / "bin" / "python").unlink()
        for name in ("python3.11", "python3"):
            (bin_dir / name).write_text(f"#!/bin/sh\necho {python}\n")
            (bin_dir / name).chmod(0o755)
    # The rest of PATH without any Go or Python: the shell's tools only.
    for tool in ("awk", "sort", "head", "cat", "dirname", "pwd", "tail"):
        found = shutil.which(tool)
        assert found is not None
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k not in ("GO", "GOTOOLCHAIN")}
    env.update(PATH=":".join(path), FAKE_GO=go or "", FAKE_GOTOOLCHAIN=toolchain,
               UPLIFT_HILLSTROM_CSV=str(tmp_path / "h.csv"))
    (tmp_path / "h.csv").write_text("recency\n")
    return repo, marks, env


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of scripts/dev.sh whose install steps only leave a mark (so that a check that
    lets it through installs nothing and starts no demo), with the control plane's go.mod (its
    Go version) and a .venv with a Python."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "dev.sh", repo / "scripts" / "dev.sh")
    (repo / "controlplane").mkdir()
    shutil.copy(ROOT / "controlplane" / "go.mod", repo / "controlplane" / "go.mod")
    marks = tmp_path / "marks"
    (repo / "scripts" / "env.sh").write_text(f"echo env >> {marks}\n")
    for step in ("bootstrap-python.sh", "install-prometheus.sh", "build-controlplane.sh"):
        script = repo / "scripts" / step
        script.write_text(f"#!/bin/sh\necho {step} >> {marks}\n")
        script.chmod(0o755)
    (repo / ".venv" / "bin").mkdir(parents=True)
    fake = repo / ".venv" / "bin" / "uplift-operator"
    fake.write_text(f'#!/bin/sh\necho "uplift-operator $*" >> {marks}\n')
    fake.chmod(0o755)
    (repo / ".venv" / "bin" / "python").symlink_to(sys.executable)
    (repo / "operator").symlink_to(ROOT / "operator")  # what --help reads
    return repo, marks


def test_dev_sh_stops_before_installing_when_the_data_is_absent(tmp_path: Path) -> None:
    repo, marks = _fake_checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "UPLIFT_HILLSTROM_CSV"}
    result = subprocess.run(["bash", str(repo / "scripts" / "dev.sh")], env=env,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert str(tmp_path / "shared" / "data" / "hillstrom.csv") in result.stderr
    assert "UPLIFT_HILLSTROM_CSV" in result.stderr and "Nothing was installed" in result.stderr
    assert not marks.exists()


def test_dev_sh_goes_on_with_the_data_named_relative_to_the_caller(tmp_path: Path) -> None:
    repo, marks = _fake_checkout(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "h.csv").write_text("recency\n")
    env = {**os.environ, "UPLIFT_HILLSTROM_CSV": "h.csv"}
    result = subprocess.run(["bash", str(repo / "scripts" / "dev.sh"), "--plain"], env=env,
                            cwd=tmp_path / "elsewhere", capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert marks.read_text().split("\n")[-2] == "uplift-operator dev --plain"


class _Server:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.url, self.running = "http://127.0.0.1:1", True

    def start(self) -> _Server:
        return self

    def stop(self, **kwargs: Any) -> None:
        pass

    close = stop


class _Plane:
    def __init__(self, workdir: Path) -> None:
        self.admin_kubeconfig = workdir / "admin.kubeconfig"

    def start(self) -> _Plane:
        return self

    def stop(self) -> None:
        pass


def test_without_shared_seldon_the_demo_says_it_uses_the_stand_in_crd(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    applied: list[tuple[str, ...]] = []

    def kubectl(kubeconfig: Path, *args: str) -> str:
        applied.append(args)
        raise RuntimeError("stop here")  # the first kubectl call applies the CRDs

    monkeypatch.setattr(seldon_crd, "SELDON_CRD", tmp_path / "absent.yaml")
    monkeypatch.setattr(controlplane, "ControlPlane", _Plane)
    monkeypatch.setattr(mlflow_server, "MlflowServer", _Server)
    monkeypatch.setattr(prometheus, "PrometheusServer", _Server)
    monkeypatch.setattr(demo, "_fit_and_warm", lambda data, models: None)
    monkeypatch.setattr(demo, "_kubectl", kubectl)
    with pytest.raises(RuntimeError, match="stop here"):
        demo.DemoStack(tmp_path, tmp_path / "h.csv", say=lambda _: None).start()
    assert str(seldon_crd.STANDIN_CRD) in applied[0]
    err = capsys.readouterr().err
    assert "note:" in err and str(tmp_path / "absent.yaml") in err and "stand-in" in err
