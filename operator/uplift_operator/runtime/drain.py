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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

DEFAULT_WAIT_SECONDS = 35.0
#: The runtime's endpoint (``UpliftRuntime.drain``); here, so the hook loads no MLServer.
DRAIN_PATH = "/uplift/v1/drain"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m uplift_operator.runtime.drain",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLSERVER_HTTP_PORT")
                                                        or 8080))
    parser.add_argument("--wait", type=float, default=float(
        os.environ.get("UPLIFT_DRAIN_WAIT_SECONDS") or DEFAULT_WAIT_SECONDS))
    args = parser.parse_args(argv)
    request = urllib.request.Request(f"http://127.0.0.1:{args.port}{DRAIN_PATH}",
                                     data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
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
