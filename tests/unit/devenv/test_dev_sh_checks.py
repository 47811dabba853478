"""``scripts/dev.sh`` checks what it cannot install before it installs anything: a Go that can
build the control plane (the Go of controlplane/go.mod, or one from 1.21 on that switches to it:
GOTOOLCHAIN ``auto`` or ``<name>+auto``, which fetch it; ``path`` or ``<name>+path`` with
go<version> on PATH) and Python 3.11; and ``-h``/``--help`` prints the options without
installing anything. It used to find a missing or old Go only in build-controlplane.sh, after
minutes of Python installs, and to take ``--help`` as a run (installing everything first); then
to exit 1 silently when ``go version`` failed, and to take any GOTOOLCHAIN but ``local`` for one
that fetches."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.devenv.test_dev_data import ROOT, fake_checkout

BASH = shutil.which("bash") or "/bin/bash"
NEED = next(line.split()[1] for line in (ROOT / "controlplane" / "go.mod").read_text().splitlines()
            if line.startswith("go "))


#: A stand-in ``go`` like test_dev_data's, whose ``go version`` fails when FAKE_GO_FAILS says
#: what it prints (as a Go does offline when GOTOOLCHAIN names a toolchain it has not fetched).
FAILING_GO = """#!/bin/sh
case "$1" in
  version)
    if [ -n "$FAKE_GO_FAILS" ]; then echo "$FAKE_GO_FAILS" >&2; exit 1; fi
    echo "go version go$FAKE_GO linux/amd64" ;;
  env) echo "$FAKE_GOTOOLCHAIN" ;;
esac
"""


def _dev_sh(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
            on_path: tuple[str, ...] = (), **fake: str | None
            ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """dev.sh in ``fake_checkout``, with ``env`` added to its environment and stand-in
    commands named ``on_path`` (a ``go1.26.0``, say) on its PATH."""
    repo, marks, run_env = fake_checkout(tmp_path, **fake)  # type: ignore[arg-type]
    bin_dir = tmp_path / "bin"
    if (bin_dir / "go").exists():
        (bin_dir / "go").write_text(FAILING_GO)
    for name in on_path:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    run_env.update(env or {})
    done = subprocess.run([BASH, str(repo / "scripts" / "dev.sh"), *args], env=run_env,
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


def test_a_go_that_fails_to_run_says_why(tmp_path: Path) -> None:
    """It used to exit 1 without a word (``set -o pipefail`` on ``go version | awk``)."""
    offline = ("go: downloading go1.26.0 (linux/amd64)\n"
               "go: download go1.26.0: golang.org/toolchain@v0.0.1-go1.26.0.linux-amd64.zip: "
               "dial tcp: lookup proxy.golang.org: no such host")
    done, marks = _dev_sh(tmp_path, go="1.22.2", env={"GOTOOLCHAIN": "go1.26.0",
                                                      "FAKE_GO_FAILS": offline})
    assert done.returncode == 2
    assert "'go version' failed (exit 1; GOTOOLCHAIN=go1.26.0)" in done.stderr
    assert "lookup proxy.golang.org: no such host" in done.stderr  # Go's own words
    assert f"install Go {NEED} or later" in done.stderr
    assert "Nothing was installed" in done.stderr and _installed(marks) == []


@pytest.mark.parametrize(("default", "env"), [
    ("go1.24.0", {}),  # go.env or `go env -w` pins one
    ("auto", {"GOTOOLCHAIN": "go1.24.0"}),  # the environment's wins over the Go's own default
])
def test_an_older_go_pinned_to_a_toolchain_never_switches(
        tmp_path: Path, default: str, env: dict[str, str]) -> None:
    """A bare ``go<version>`` never switches up to go.mod's Go: it used to pass with a false
    'fetches go1.26.0'."""
    done, marks = _dev_sh(tmp_path, go="1.24.0", toolchain=default, env=env)
    assert done.returncode == 2
    assert f"GOTOOLCHAIN=go1.24.0 runs that Go only and never switches to go{NEED}" in done.stderr
    assert "run with GOTOOLCHAIN=auto" in done.stderr and "fetches" not in done.stderr
    assert _installed(marks) == []


@pytest.mark.parametrize("toolchain", ["path", "go1.22.2+path", "local+path"])
def test_an_older_go_that_looks_on_path_only_needs_the_go_there(
        tmp_path: Path, toolchain: str) -> None:
    done, marks = _dev_sh(tmp_path, go="1.22.2", toolchain=toolchain)
    assert done.returncode == 2
    assert f"GOTOOLCHAIN={toolchain} switches only to a go{NEED} on PATH" in done.stderr
    assert "GOTOOLCHAIN=auto" in done.stderr and _installed(marks) == []


def test_an_older_go_that_finds_the_go_on_path_goes_on(tmp_path: Path) -> None:
    done, marks = _dev_sh(tmp_path, "--plain", go="1.22.2", toolchain="path",
                          on_path=(f"go{NEED}",))
    assert done.returncode == 0, done.stderr
    assert f"Go 1.22.2 runs go{NEED} from PATH" in done.stderr
    assert _installed(marks)[-1] == "uplift-operator dev --plain"


@pytest.mark.parametrize(("default", "env"), [
    ("go1.24.0+auto", {}), ("local", {"GOTOOLCHAIN": "local+auto"}),
    ("local", {"GOTOOLCHAIN": "auto"}),
])
def test_an_older_go_that_switches_up_by_itself_goes_on(
        tmp_path: Path, default: str, env: dict[str, str]) -> None:
    done, marks = _dev_sh(tmp_path, "--plain", go="1.24.0", toolchain=default, env=env)
    assert done.returncode == 0, done.stderr
    assert f"Go 1.24.0 fetches go{NEED}" in done.stderr
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
