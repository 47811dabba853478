"""Process helpers shared by the local components: free ports, readiness waits, clean stops."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

#: Where the kernel takes the local ports of outgoing connections (Linux).
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")

#: The lowest port ``free_port`` hands out: above the well-known and most registered services.
LOWEST_PORT = 10_000


def ephemeral_range(text: str | None = None) -> tuple[int, int]:
    """The ephemeral port range (``ip_local_port_range``; Linux's default where unreadable)."""
    if text is None:
        try:
            text = EPHEMERAL_RANGE_FILE.read_text()
        except OSError:
            text = ""
    try:
        low, high = (int(part) for part in text.split())
    except ValueError:
        return 32768, 60999
    return low, high


def free_port(rng: random.Random | None = None) -> int:
    """A TCP port on 127.0.0.1 that is free right now, outside the ephemeral range: a server
    started on it minutes later (MLflow binds ~4 s after its start, the API server after its
    certificates) would otherwise race every outgoing connection on the machine, any of which
    the kernel may give that port as its local one ("address already in use"). Only another
    listener choosing the same port could take it; ports are drawn at random to make that
    unlikely. Falls back to one the kernel picks when no such range is left."""
    low, _ = ephemeral_range()
    rng = rng or random.SystemRandom()
    if low - LOWEST_PORT >= 1000:
        for _ in range(100):
            port = rng.randrange(LOWEST_PORT, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str,
               interval: float = 0.1, proc: subprocess.Popen[bytes] | None = None,
               log: Path | None = None) -> float:
    """Poll ``predicate`` until it is true and return when (``time.monotonic()``); fail with the
    process' log tail when it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}{_tail(log)}")
        try:
            if predicate():
                return time.monotonic()
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s{_tail(log)}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def start(argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    try:
        return subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    finally:
        out.close()


def stop(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the whole process group, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)


def kill(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGKILL the whole process group at once (a crash, not a shutdown) and reap it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- last lines of " + str(log) + " ---\n" + "\n".join(text)
