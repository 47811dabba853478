"""``scripts/dev.sh`` checks what it cannot install before it installs anything: a Go that can
build the control plane (the Go of controlplane/go.mod, or one from 1.21 on that fetches it:
GOTOOLCHAIN=auto) and Python 3.11; and ``-h``/``--help`` prints the options without installing
anything. It used to find a missing or old Go only in build-controlplane.sh, after minutes of
Python installs, and to take ``--help`` as a run (installing everything first)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.devenv.test_dev_data import ROOT, fake_checkout

BASH = shutil.which("bash") or "/bin/bash"
NEED = next(line.split()[1] for line in (ROOT / "controlplane" / "go.mod").read_text().splitlines()
            if line.startswith("go "))


def _dev_sh(tmp_path: Path, *args: str, **fake: str | None) -> tuple[subprocess.CompletedProcess[str], Path]:
    repo, marks, env = fake_checkout(tmp_path, **fake)  # type: ignore[arg-type]
    done = subprocess.run([BASH, str(repo / "scripts" / "dev.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    return done, marks


def _installed(marks: Path) -> list[str]:
    return marks.read_text().splitlines() if marks.exists() else []


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_installs_nothing(tmp_path: Path, flag: str) -> None:
    done, marks = _dev_sh(tmp_path, "--scenario", "harm", flag, go=None)  # no Go: not asked
    assert done.returncode == 0, done.stderr
    assert "Usage: scripts/dev.sh" in done.stdout
    assert "usage: uplift-operator dev" in done.stdout and "--duration" in done.stdout
    assert _installed(marks) == []


def test_no_go(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, go=None)
    assert done.returncode == 2
    assert "Go is not on PATH" in done.stderr and f"Go {NEED}" in done.stderr
    assert "Nothing was installed" in done.stderr and _installed(marks) == []


def test_a_go_too_old_to_fetch_the_toolchain(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, go="1.20.14", toolchain="")
    assert done.returncode == 2
    assert "Go 1.20.14 is too old" in done.stderr and "1.21" in done.stderr
    assert _installed(marks) == []


def test_an_older_go_that_may_not_fetch_it(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, go="1.22.2", toolchain="local")  # Debian's golang-1.22
    assert done.returncode == 2
    assert "GOTOOLCHAIN=local" in done.stderr and "GOTOOLCHAIN=auto" in done.stderr
    assert _installed(marks) == []


def test_an_older_go_that_fetches_it_goes_on(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, "--plain", go="1.22.2", toolchain="auto")
    assert done.returncode == 0, done.stderr
    assert f"Go 1.22.2 fetches go{NEED}" in done.stderr
    assert _installed(marks)[-1] == "uplift-operator dev --plain"


@pytest.mark.parametrize("go", [NEED, "1.26.8", "1.30.0"])
def test_a_go_new_enough_goes_on_quietly(tmp_path: Path, go: str) -> None:
    done, marks = _dev_sh(tmp_path, "--plain", go=go)
    assert done.returncode == 0, done.stderr
    assert "dev.sh:" not in done.stderr
    assert _installed(marks)[-1] == "uplift-operator dev --plain"


def test_python_not_3_11(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, python="3.12")
    assert done.returncode == 2
    assert "needs Python 3.11" in done.stderr and "is Python 3.12" in done.stderr
    assert _installed(marks) == []


def test_python_3_11_without_a_venv_goes_on(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, python="3.11")
    assert done.returncode == 0, done.stderr
    assert _installed(marks)[1] == "bootstrap-python.sh"
