"""``scripts/install-prometheus.sh`` updates the package lists only when they do not know the
package, or when the install fails on them (stale lists: the version they name gone from the
mirror), then retries once. It stops and disables the packaged service only when it installed
the package itself: it used to do so at every run, stopping a Prometheus the machine runs for
itself. Run on a copy whose system paths point into a temporary directory, with stand-ins for
apt-get, apt-cache, systemctl and the init script that record their calls."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SYSTEM_PATHS = ("/usr/bin/prometheus", "/usr/sbin/policy-rc.d", "/etc/init.d/prometheus", "/run/")

APT_CACHE = """#!/usr/bin/env bash
if [ -e "$FAKE/candidate" ]; then echo "  Candidate: 2.42.0+ds-5+b5"; else echo "  Candidate: (none)"; fi
"""
APT_GET = """#!/usr/bin/env bash
echo "$1" >> "$FAKE/calls"
case "$1" in
  update) touch "$FAKE/candidate" ;;
  install)
    fails=$(cat "$FAKE/install-fails" 2>/dev/null || echo 0)
    if [ "$fails" -gt 0 ]; then echo $((fails - 1)) > "$FAKE/install-fails"; echo "E: 404" >&2; exit 100; fi
    printf '#!/bin/sh\\necho "prometheus, version 2.42.0"\\n' > "$FAKE/usr/bin/prometheus"
    chmod 755 "$FAKE/usr/bin/prometheus" ;;
esac
"""


SYSTEMCTL = """#!/bin/sh
echo "$*" >> "$FAKE/systemctl-calls"
"""
INIT_SCRIPT = """#!/bin/sh
echo "$*" >> "$FAKE/init-calls"
"""


def _run(tmp_path: Path, *, candidate: bool = True, install_fails: int = 0,
         installed: bool = False, systemd: bool = True) -> tuple[int, list[str], str]:
    """Run the script once; ``installed``: /usr/bin/prometheus is there already; ``systemd``:
    systemd runs (/run/systemd/system), else a container without it. The exit code, the
    apt-get subcommands called and stderr."""
    fake = tmp_path
    script = (ROOT / "scripts" / "install-prometheus.sh").read_text()
    for path in SYSTEM_PATHS:
        assert path in script
        script = script.replace(path, f"{fake}{path}")
    for d in ("usr/bin", "usr/sbin", "etc/init.d", "run", "bin"):
        (fake / d).mkdir(parents=True, exist_ok=True)
    (fake / "install-prometheus.sh").write_text(script)
    for name, text in (("apt-get", APT_GET), ("apt-cache", APT_CACHE), ("systemctl", SYSTEMCTL)):
        (fake / "bin" / name).write_text(text)
        (fake / "bin" / name).chmod(0o755)
    (fake / "etc/init.d/prometheus").write_text(INIT_SCRIPT)
    (fake / "etc/init.d/prometheus").chmod(0o755)
    if systemd:
        (fake / "run/systemd/system").mkdir(parents=True, exist_ok=True)
    if installed and not (fake / "usr/bin/prometheus").exists():
        (fake / "usr/bin/prometheus").write_text('#!/bin/sh\necho "prometheus, version 2.42.0"\n')
        (fake / "usr/bin/prometheus").chmod(0o755)
    if candidate:
        (fake / "candidate").touch()
    (fake / "install-fails").write_text(f"{install_fails}\n")
    done = subprocess.run(["bash", str(fake / "install-prometheus.sh")], capture_output=True, text=True,
                          env={"PATH": f"{fake / 'bin'}:{os.environ['PATH']}", "FAKE": str(fake)})
    calls = (fake / "calls").read_text().split() if (fake / "calls").exists() else []
    assert not (fake / "usr/sbin/policy-rc.d").exists()  # its own policy removed again
    return done.returncode, calls, done.stderr


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root (no sudo in the copy)")
@pytest.mark.parametrize(("candidate", "install_fails", "calls", "rc"), [
    (True, 0, ["install"], 0),                                # lists know it: no update
    (False, 0, ["update", "install"], 0),                     # lists do not know it
    (True, 1, ["install", "update", "install"], 0),           # stale lists: one update, one retry
    (False, 1, ["update", "install", "install"], 0),          # updated already: just the retry
    (True, 2, ["install", "update", "install"], 100),         # fails again: gives up, failing
])
def test_updates_only_when_needed_and_retries_a_failed_install_once(
        tmp_path: Path, candidate: bool, install_fails: int, calls: list[str], rc: int) -> None:
    returncode, made, stderr = _run(tmp_path, candidate=candidate, install_fails=install_fails)
    assert (made, returncode) == (calls, rc), stderr
    if install_fails:
        assert "retrying once after apt-get update" in stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root (no sudo in the copy)")
def test_a_prometheus_installed_before_is_left_alone(tmp_path: Path) -> None:
    # The machine's own Prometheus (its service running, enabled) keeps running.
    returncode, calls, stderr = _run(tmp_path, installed=True)
    assert (returncode, calls) == (0, []), stderr
    assert _lines(tmp_path / "systemctl-calls") == []
    assert _lines(tmp_path / "init-calls") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root (no sudo in the copy)")
def test_the_service_it_installed_is_stopped_and_disabled_without_asking(tmp_path: Path) -> None:
    returncode, calls, stderr = _run(tmp_path)
    assert (returncode, calls) == (0, ["install"]), stderr
    assert _lines(tmp_path / "systemctl-calls") == [
        "--no-ask-password stop prometheus.service",
        "--no-ask-password disable prometheus.service"]
    assert _lines(tmp_path / "init-calls") == ["stop"]
    # Run again (idempotent): installed now, nothing installed, nothing stopped.
    (tmp_path / "systemctl-calls").unlink()
    (tmp_path / "init-calls").unlink()
    assert _run(tmp_path)[:2] == (0, ["install"])  # the calls file still holds the first run's
    assert _lines(tmp_path / "systemctl-calls") == []
    assert _lines(tmp_path / "init-calls") == []


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as root (no sudo in the copy)")
def test_without_systemd_it_installs_all_the_same(tmp_path: Path) -> None:
    # A fresh container: no systemd running (CI's .ci/run → scripts/test.sh).
    returncode, calls, stderr = _run(tmp_path, systemd=False)
    assert (returncode, calls) == (0, ["install"]), stderr
    assert _lines(tmp_path / "systemctl-calls") == []
    assert (tmp_path / "usr/bin/prometheus").exists()
