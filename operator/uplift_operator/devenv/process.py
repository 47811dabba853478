"""Process helpers shared by the local components: free ports, readiness waits, clean stops,
and a reaper that stops the components when the process that started them dies."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

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
            REAPER.unregister(proc.pid)  # reaped: its number may be reused
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


def stop_signals(signals: Sequence[signal.Signals]) -> tuple[signal.Signals, ...]:
    """The ``signals`` a command should stop on, without SIGHUP when it is ignored: ``nohup``
    (or a parent) asked for the command to outlive its terminal, and a handler installed over
    that would stop it when the terminal closes."""
    hup_ignored = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    return tuple(sig for sig in signals if not (sig == signal.SIGHUP and hup_ignored))


def start(argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, output appended to ``log``. The group is
    registered with this process' reaper (:class:`Reaper`): if this process dies without
    :func:`stop` or :func:`kill` (SIGKILL, SIGHUP, an unhandled SIGTERM), the group is stopped."""
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    try:
        # A stop signal between the start and the registration would raise (the demo's
        # handlers, KeyboardInterrupt) or end this process with the child unknown to the
        # reaper, left running: it is held until the child is registered.
        with deferred_signals(STOP_SIGNALS):
            proc = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
            try:
                REAPER.register(proc.pid)
            except BaseException:  # no watcher for it: not left running either
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise
    finally:
        out.close()
    return proc


#: What stops the demo and the tests' components: Ctrl-C, a kill, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def deferred_signals(signals: Sequence[signal.Signals]) -> Iterator[None]:
    """Hold ``signals`` back while the block runs, then deliver those that came (once each,
    in order, until a handler raises).

    Python runs a signal's handler in the main thread, whichever thread the kernel gave the
    signal to; so in the main thread each handler (the default action included) is replaced
    by one that notes the signal, and the noted ones are raised again once the handlers are
    back. Not ``pthread_sigmask``: it only masks the calling thread (the kernel hands a signal
    sent to the process to another thread, and CPython then runs the handler in the main
    thread all the same), and a child started meanwhile would inherit the mask, its SIGTERM
    blocked. In another thread nothing is needed: a handler never runs there. A signal that
    is ignored, or whose handler was not set from Python, is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[signal.Signals] = []

    def note(signum: int, _frame: object) -> None:
        if signal.Signals(signum) not in came:
            came.append(signal.Signals(signum))

    saved: dict[signal.Signals, Any] = {}
    try:
        for sig in signals:
            handler = signal.getsignal(sig)
            if handler is None or handler is signal.SIG_IGN:
                continue
            saved[sig] = handler
            signal.signal(sig, note)
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        for sig in came:
            signal.raise_signal(sig)


def stop(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    """SIGTERM the whole process group, then SIGKILL after ``grace`` seconds."""
    try:
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
    finally:
        REAPER.unregister(proc.pid)


def kill(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """SIGKILL the whole process group at once (a crash, not a shutdown) and reap it."""
    try:
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    finally:
        REAPER.unregister(proc.pid)


#: The reaper: one ``sh`` in a session of its own (a terminal's SIGHUP or a signal to our
#: process group does not reach it, and it ignores HUP, INT and TERM). It reads ``+PGID:START``
#: and ``-PGID`` lines from a pipe whose only writer is the process that started it; end of
#: file means that process is gone, however it died, and then every group still registered
#: gets SIGTERM, and SIGKILL after the grace period ($1 tenths of a second). START is the group
#: leader's start time (field 22 of /proc/PGID/stat): a group whose number now belongs to a
#: process started at another time (the leader was killed and reaped without an unregistration,
#: and the kernel gave its number to someone else) is skipped at every step. A leader that is
#: gone leaves the number taken while its group lives, so that group is still signalled (its
#: survivors, or nobody).
_REAPER_SCRIPT = r"""
trap '' HUP INT TERM
ours() {
  st=''
  { read -r st < "/proc/$1/stat"; } 2>/dev/null || return 0
  [ -n "$2" ] || return 0
  st=${st##*) }
  set -- "$2" $st
  [ "$1" = "${21}" ]
}
signal() {
  for e in $groups; do
    ours "${e%%:*}" "${e#*:}" && kill -s "$1" -- "-${e%%:*}" 2>/dev/null && alive=1
  done
}
groups=' '
while IFS= read -r line; do
  case $line in
    +*) groups="$groups${line#+} " ;;
    -*) kept=' '
        for e in $groups; do [ "${e%%:*}" = "${line#-}" ] || kept="$kept$e "; done
        groups=$kept ;;
  esac
done
[ "$groups" = ' ' ] && exit 0
signal TERM
ticks=0
while [ "$ticks" -lt "$1" ]; do
  alive=''
  signal 0
  [ -z "$alive" ] && exit 0
  sleep 0.1
  ticks=$((ticks + 1))
done
signal KILL
"""


def start_time(pid: int) -> str:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat, clock ticks since boot);
    empty where unreadable (gone, or no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ""
    return fields[19] if len(fields) > 19 else ""


class Reaper:
    """Stops the process groups :func:`start` made when this process dies without stopping
    them. Neither a signal handler (SIGKILL has none) nor ``atexit`` runs then, and each
    component is in a session of its own, out of reach of the terminal's SIGHUP and of a kill
    of our process group; so a watcher outside this process does it (``_REAPER_SCRIPT``),
    started at the first registration. It watches the process, not a thread (unlike
    ``PR_SET_PDEATHSIG``, which fires when the forking *thread* ends: the demo starts MLflow,
    Prometheus and each MLServer from short-lived threads), and stops whole groups, so the
    grandchildren too (MLflow's uvicorn, MLServer's workers)."""

    def __init__(self, grace: float = 10.0) -> None:
        self.grace = grace
        self._lock = threading.Lock()
        self._groups: dict[int, str] = {}  # pgid -> its leader's start time
        self._owner = 0        # the pid that started the watcher (a fork needs its own)
        self._fd: int | None = None
        self._watcher: subprocess.Popen[bytes] | None = None

    def register(self, pgid: int) -> None:
        started = start_time(pgid)
        with self._lock:
            self._groups[pgid] = started
            self._send(f"+{pgid}:{started}\n")

    def unregister(self, pgid: int) -> None:
        with self._lock:
            if pgid in self._groups:
                del self._groups[pgid]
                self._send(f"-{pgid}\n")

    @property
    def watcher_pid(self) -> int | None:
        """The watcher's pid (None before the first registration)."""
        return self._watcher.pid if self._watcher is not None else None

    def _send(self, line: str) -> None:
        if self._fd is not None and self._owner == os.getpid():
            try:
                os.write(self._fd, line.encode())
                return
            except OSError:  # the watcher died: start another with every group
                pass
        self._spawn()

    def _spawn(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        read, write = os.pipe()  # not inheritable: no component holds the write end
        try:
            self._watcher = subprocess.Popen(
                ["sh", "-c", _REAPER_SCRIPT, "uplift-reaper", str(round(self.grace * 10))],
                stdin=read, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
        except OSError:
            os.close(write)
            raise
        finally:
            os.close(read)
        self._fd, self._owner = write, os.getpid()
        os.write(write, "".join(f"+{g}:{t}\n" for g, t in sorted(self._groups.items()))
                 .encode())

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's groups are the parent's (a watcher of the child's
        own, started at its first registration, must not stop them when the child exits), and
        the inherited write end of the parent's pipe is closed so that the parent's watcher
        still sees end of file when the parent dies."""
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._groups = {}
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._owner, self._watcher = None, 0, None


REAPER = Reaper()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=REAPER.forget_after_fork)


def _tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n--- last lines of " + str(log) + " ---\n" + "\n".join(text)
