"""Test helpers around the real control plane: kubectl, CRD installation, the operator process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from uplift_operator.devenv import process
from uplift_operator.devenv.controlplane import crds_established
from uplift_operator.devenv.seldon_crd import seldon_crd

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = "kubectl"


class Kubectl:
    """``kubectl`` bound to one kubeconfig."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args], input=input, text=True,
            capture_output=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def apply(self, manifest: str | dict[str, Any] | Sequence[dict[str, Any]],
              namespace: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else _dump(manifest)
        ns = ["-n", namespace] if namespace else []
        return self.run("apply", *ns, "-f", "-", input=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = ["-n", namespace] if namespace else []
        loaded: dict[str, Any] = json.loads(self.run("get", kind, name, *ns, "-o", "json").stdout)
        return loaded

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60,
                 what: str = "condition") -> None:
        process.wait_until(predicate, timeout=timeout, what=what, interval=0.3)


def _dump(manifest: dict[str, Any] | Sequence[dict[str, Any]]) -> str:
    docs = [manifest] if isinstance(manifest, dict) else list(manifest)
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def wait_established(kubectl: Kubectl, *names: str, timeout: float = 60) -> None:
    """Wait until the CRDs ``names`` are Established (``controlplane.crds_established``)."""
    def established() -> bool:
        out = kubectl.run("get", "crd", *names, "-o", "json", check=False)
        return out.returncode == 0 and crds_established(json.loads(out.stdout), len(names))
    kubectl.wait_for(established, timeout=timeout, what=f"CRDs {', '.join(names)} Established")


def install_crds(kubectl: Kubectl) -> None:
    """Apply our CRDs, kopf's peering CRDs and Seldon Core 1.17.1's SeldonDeployment CRD (the
    stand-in without ../shared, see ``devenv.seldon_crd``); wait until they serve."""
    kubectl.run("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl.run("apply", "--server-side", "-f", str(seldon_crd()[0]), timeout=120)
    names = [yaml.safe_load(p.read_text())["metadata"]["name"]
             for p in sorted((ROOT / "crds").glob("*.uplift.dev.yaml"))]
    names += ["seldondeployments.machinelearning.seldon.io", "clusterkopfpeerings.kopf.dev"]
    wait_established(kubectl, *names)
    # Established can precede discovery (kubernetes#125471): poll discovery as envtest does.
    def discoverable() -> bool:
        out = kubectl.run("api-resources", "--api-group=uplift.dev", "-o", "name", check=False)
        return "upliftmodels.uplift.dev" in out.stdout and "campaigns.uplift.dev" in out.stdout
    kubectl.wait_for(discoverable, timeout=30, what="uplift.dev in discovery")


def install_operator_rbac(kubectl: Kubectl) -> None:
    for name in ("namespace.yaml", "rbac.yaml", "kopf-peering.yaml"):
        kubectl.run("apply", "-f", str(ROOT / "manifests" / name))


class OperatorProcess:
    """``uplift-operator run`` as a real process under the operator's own identity."""

    def __init__(self, kubeconfig: Path, logdir: Path, *extra: str,
                 env: dict[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.liveness_port = process.free_port()
        self.metrics_port = process.free_port()
        self.log = logdir / f"operator-{self.liveness_port}.log"
        self.extra = extra
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> OperatorProcess:
        """Start the process; with ``wait``, return once its /healthz answers."""
        argv = [sys.executable, "-m", "uplift_operator", "run",
                "--liveness-port", str(self.liveness_port),
                "--metrics-port", str(self.metrics_port), "--log-format", "json", *self.extra]
        if not any(a.startswith(("--namespace", "-n", "--all-namespaces", "-A")) for a in self.extra):
            argv.append("--all-namespaces")
        self.proc = process.start(argv, log=self.log,
                                  env={"KUBECONFIG": str(self.kubeconfig), **self.env})
        if wait:
            self.wait_started()
        return self

    def wait_started(self, timeout: float = 60) -> None:
        assert self.proc is not None
        process.wait_until(
            lambda: process.http_ok(f"http://127.0.0.1:{self.liveness_port}/healthz"),
            timeout=timeout, what="operator liveness", proc=self.proc, log=self.log)

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc, grace=15)
            self.proc = None

    def kill(self) -> None:
        """SIGKILL, as a node failure would."""
        if self.proc is not None:
            # process.kill, not Popen.kill: it unregisters the group from the reaper, which
            # would otherwise signal that number (maybe someone else's by then) at exit
            process.kill(self.proc)
            self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def last_pass(self, kind: str, namespace: str, name: str) -> float:
        """When the last completed pass of that resource began (Unix time, 0 if none yet), from
        the operator's /metrics."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                      timeout=5).read().decode()
        series = (f'uplift_operator_last_pass_timestamp_seconds{{kind="{kind}",name="{name}",'
                  f'namespace="{namespace}"}} ')
        return next((float(line[len(series):]) for line in text.splitlines()
                     if line.startswith(series)), 0.0)

    def wait_for_passes(self, kind: str, namespace: str, name: str, after: float,
                        timeout: float = 30, poke: Callable[[], None] | None = None) -> None:
        """Wait until two passes of that resource began after ``after`` (``time.time()``): the
        first saw the world after that instant, and its status patch was applied before the
        second began. The proof a test needs that the operator looked in a quiet window.
        Passes run when something changed or is due; ``poke`` (e.g. an annotation that asks
        for nothing) makes one run when nothing is due."""
        first = 0.0

        def passed(since: float) -> bool:
            nonlocal first
            first = self.last_pass(kind, namespace, name)
            return first > since

        if poke is not None:
            poke()
        process.wait_until(lambda: passed(after), timeout=timeout, interval=0.2,
                           what=f"a {kind} pass of {namespace}/{name}")
        began = first
        if poke is not None:
            poke()
        process.wait_until(lambda: passed(began), timeout=timeout, interval=0.2,
                           what=f"a second {kind} pass of {namespace}/{name}")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.logs():
                return
            time.sleep(0.3)
        raise TimeoutError(f"operator log never showed {text!r}; last lines:\n"
                           + "\n".join(self.logs().splitlines()[-20:]))
