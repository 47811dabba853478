"""A real Prometheus server (Debian's ``/usr/bin/prometheus``) on loopback, for tests and local runs.

Neighbours: ``process`` (ports, readiness, clean stops) and ``mlflow_server`` (the same
pattern for MLflow). Targets are static scrape configs written to a generated file;
``set_targets`` rewrites it and asks the running server to reload (``--web.enable-lifecycle``).
``stop()`` ends the process but keeps the TSDB directory, so ``start()`` brings the same
server (same port, same data) back, which is how tests simulate "Prometheus down mid-ramp".
``scripts/install-prometheus.sh`` installs the binary.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from uplift_operator.devenv import process

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
#: How often a ``PrometheusServer`` scrapes by default, in seconds. The operator must be told
#: (``PrometheusServer.operator_args``): its gates scale every count they read by the share of
#: its range that scrapes observed (nothing within one interval of a step's start).
SCRAPE_INTERVAL_SECONDS = 1
#: How long the dev environment takes to bring every runtime the campaigns file's new copy:
#: the serving agent projects a ConfigMap's change into every predictor at once (one watch),
#: and the runtime polls its file every second. The operator started on this server is told
#: so (``--split-propagation-grace``, ``PrometheusServer.operator_args``): at the default
#: 120 s every step's onlineEffect cohorts would begin 2 minutes late.
SPLIT_PROPAGATION_GRACE_SECONDS = 2
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class ScrapeTarget:
    """One static scrape target: ``host:port``, its path, job name and extra target labels."""

    address: str
    job: str = "test"
    metrics_path: str = "/metrics"
    labels: Mapping[str, str] = field(default_factory=dict)


class PrometheusServer:
    """``with PrometheusServer([ScrapeTarget(...)]) as prom: prom.url`` — scrapes every second
    (``SCRAPE_INTERVAL_SECONDS``). An operator reading it takes ``operator_args()``."""

    def __init__(self, targets: Iterable[ScrapeTarget] = (), *, workdir: Path | None = None,
                 port: int | None = None, scrape_interval: str = f"{SCRAPE_INTERVAL_SECONDS}s",
                 binary: Path = PROMETHEUS_BINARY, retention: str = "1d") -> None:
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="uplift-prometheus-"))
        self.port = port or process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape_interval = scrape_interval
        self.retention = retention
        self.binary = binary
        self.config_file = self.workdir / "prometheus.yml"
        self.storage = self.workdir / "data"
        self.log = self.workdir / "prometheus.log"
        self.targets: tuple[ScrapeTarget, ...] = tuple(targets)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def scrape_seconds(self) -> int:
        """``scrape_interval`` in whole seconds, a fraction rounded up (at least 1: the operator's
        ``--prometheus-scrape-interval`` takes whole seconds; longer only understates a count)."""
        parts = _DURATION_PART.findall(self.scrape_interval)
        if not parts or "".join(n + u for n, u in parts) != self.scrape_interval:
            raise ValueError(f"malformed scrape interval {self.scrape_interval!r}")
        return max(1, math.ceil(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)))

    def operator_args(self) -> tuple[str, ...]:
        """The operator's flags to read this server: its URL and how often it scrapes, which
        the gates scale their counts by (and a stopping runtime pod's drain waits for); and
        the dev environment's split propagation grace (``SPLIT_PROPAGATION_GRACE_SECONDS``),
        the onlineEffect cohorts of every step starting that long after it, not 120 s."""
        return ("--prometheus-url", self.url,
                "--prometheus-scrape-interval", str(self.scrape_seconds),
                "--split-propagation-grace", str(SPLIT_PROPAGATION_GRACE_SECONDS))

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrometheusServer:
        """Start (or restart) the server on the same port and storage; wait for ``/-/ready``."""
        if self.running:
            return self
        if not self.binary.exists():
            raise FileNotFoundError(f"{self.binary} is missing; run scripts/install-prometheus.sh")
        self.storage.mkdir(parents=True, exist_ok=True)
        self._write_config()
        argv = [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            f"--storage.tsdb.retention.time={self.retention}",
            "--log.level=warn",
        ]
        self._proc = process.start(argv, log=self.log, cwd=self.workdir)
        process.wait_until(lambda: process.http_ok(f"{self.url}/-/ready"), timeout=60,
                           what="prometheus", proc=self._proc, log=self.log, interval=0.1)
        return self

    def backfill(self, *openmetrics: Path) -> None:
        """Write the samples of OpenMetrics files (``# EOF`` last, timestamps in seconds) into
        the TSDB as blocks (``promtool tsdb create-blocks-from openmetrics``), before
        ``start()``: history that would take days to scrape. promtool reads a whole file once
        per two-hour block it writes, so long histories go faster as one file per two hours.
        Keep ``retention`` longer than their age, or Prometheus deletes them."""
        if self.running:
            raise RuntimeError("backfill before start(): a running server would not load the blocks")
        self.storage.mkdir(parents=True, exist_ok=True)
        promtool = self.binary.with_name("promtool")
        for path in openmetrics:
            subprocess.run([str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                            str(path), str(self.storage)], check=True, capture_output=True)

    def stop(self) -> None:
        """Stop the process; keep the config and the TSDB so ``start()`` resumes on them."""
        if self._proc is not None:
            process.stop(self._proc)
            self._proc = None

    def close(self) -> None:
        """Stop and remove the working directory when this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def set_targets(self, targets: Iterable[ScrapeTarget]) -> None:
        """Replace the scrape targets; a running server reloads its configuration before this returns."""
        self.targets = tuple(targets)
        self._write_config()
        if self.running:
            request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                if int(response.status) != 200:
                    raise RuntimeError(f"prometheus reload answered {response.status}")

    def config(self) -> dict[str, object]:
        """The configuration this server runs with (JSON is valid YAML, so it is written as JSON)."""
        jobs: dict[tuple[str, str], list[ScrapeTarget]] = {}
        for target in self.targets:
            jobs.setdefault((target.job, target.metrics_path), []).append(target)
        scrape_configs = [
            {
                # Scrape-config names must be unique; the job label below keeps the name asked for.
                "job_name": f"{job}-{index}",
                "metrics_path": path,
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "static_configs": [
                    {"targets": [t.address], "labels": {"job": job, **dict(t.labels)}}
                    for t in group
                ],
            }
            for index, ((job, path), group) in enumerate(jobs.items())
        ]
        return {
            "global": {"scrape_interval": self.scrape_interval,
                       "evaluation_interval": self.scrape_interval},
            "scrape_configs": scrape_configs,
        }

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tmp = self.config_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.config(), indent=2) + "\n")
        tmp.replace(self.config_file)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
