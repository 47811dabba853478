"""The runtime pod's preStop hook: count what this replica holds pending, then give Prometheus
a scrape to read it.

``python -m uplift_operator.runtime.drain [--wait S]`` POSTs ``/uplift/v1/drain`` to the
runtime in the same pod (``MLSERVER_HTTP_PORT``, default 8080) — every cohort count still
pending is counted at once (``UpliftRuntime.drain_cohorts``) — then sleeps ``--wait`` seconds
(``UPLIFT_DRAIN_WAIT_SECONDS``, which ``render.seldon`` sets to the operator's Prometheus scrape
interval + 5 s; default 35) so that a scrape reads the counters before the kubelet sends
SIGTERM. ``render.seldon`` sets it as the runtime container's preStop hook with a grace period
long enough for both. A runtime that does not answer is not waited for:
nothing it held can be saved then, and the pod's stop should not be held up.

The runtime answers the drain only from loopback *and* with its drain token: a random token it
makes per process at startup and writes (mode 0600) to ``UPLIFT_DRAIN_TOKEN_FILE`` (default
``<temp dir>/uplift-drain-token``; ``render.seldon`` sets a path on the runtime container's own
``/tmp`` emptyDir), which the hook reads and sends as ``Authorization: Bearer <token>``. Loopback
alone is not the pod's own hook: a mesh sidecar (Linkerd; Istio before 1.10) forwards outside
requests to the application from 127.0.0.1, and the file is in no other container.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_WAIT_SECONDS = 35.0
#: The runtime's endpoint (``UpliftRuntime.drain``); here, so the hook loads no MLServer.
DRAIN_PATH = "/uplift/v1/drain"
#: Where the runtime writes its drain token and the hook reads it.
TOKEN_FILE_ENV = "UPLIFT_DRAIN_TOKEN_FILE"
DEFAULT_TOKEN_FILE = "uplift-drain-token"  # in the temporary directory


def token_file(env: Mapping[str, str]) -> Path:
    """``UPLIFT_DRAIN_TOKEN_FILE``, else ``uplift-drain-token`` in the temporary directory."""
    return Path(env.get(TOKEN_FILE_ENV) or Path(tempfile.gettempdir()) / DEFAULT_TOKEN_FILE)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token(path: Path, token: str) -> None:
    """Publish ``token`` at ``path`` for the hook: readable by this user only (0600), written
    under a fresh name then renamed over ``path`` (a reader never sees half of it; a link
    planted at ``path`` is replaced, never followed)."""
    staging = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(token)
        os.replace(staging, path)
    except BaseException:
        with contextlib.suppress(OSError):
            staging.unlink()
        raise


def read_token(path: Path) -> str:
    return path.read_text().strip()


def drain_request(url: str, token: str) -> urllib.request.Request:
    """The drain POST to the runtime at ``url`` (``http://127.0.0.1:<port>``) with the token."""
    return urllib.request.Request(f"{url}{DRAIN_PATH}", data=b"{}", method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uplift_operator.runtime.drain",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLSERVER_HTTP_PORT")
                                                        or 8080))
    parser.add_argument("--wait", type=float, default=float(
        os.environ.get("UPLIFT_DRAIN_WAIT_SECONDS") or DEFAULT_WAIT_SECONDS))
    parser.add_argument("--token-file", type=Path, default=token_file(os.environ))
    args = parser.parse_args(argv)
    try:
        token = read_token(args.token_file)
    except OSError as exc:  # the runtime never started far enough to write it
        print(f"drain: no drain token at {args.token_file} ({exc.strerror}); nothing to drain",
              file=sys.stderr)
        return 0
    request = drain_request(f"http://127.0.0.1:{args.port}", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"drain: the runtime did not answer ({exc}); nothing to wait for", file=sys.stderr)
        return 0
    print(f"drain: counted {answer.get('counted')}; waiting {args.wait:g} s for a scrape",
          file=sys.stderr)
    time.sleep(max(args.wait, 0.0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
