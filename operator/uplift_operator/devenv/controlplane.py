"""A real local Kubernetes control plane: etcd + kube-apiserver + kube-controller-manager.

All three run from one multi-call binary, ``kube-local``, built from the pinned Kubernetes Go
modules in ``controlplane/`` by ``scripts/build-controlplane.sh`` (cached outside the repository).
Everything binds to 127.0.0.1 on free ports and lives in one temporary directory::

    with ControlPlane() as cp:
        subprocess.run(["kubectl", "--kubeconfig", str(cp.admin_kubeconfig), "get", "ns"])

Authentication is a static token file with two identities:

* ``admin`` in group ``system:masters`` (``admin_kubeconfig``);
* the operator, authenticated exactly as the ServiceAccount ``uplift-system/uplift-operator``
  would be (``operator_kubeconfig``), so the chart's RBAC applies to it and nothing else does.

Authorization is RBAC only. kube-controller-manager runs just the garbage-collector and namespace
controllers: ownerReferences cascade and namespaces finish deleting. There is no scheduler and no
kubelet, so Pods stay Pending. See docs/controlplane.md.

Command line::

    python -m uplift_operator.devenv.controlplane up [--dir DIR]   # run until SIGINT/TERM/HUP
    python -m uplift_operator.devenv.controlplane build            # build, print the binary path
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from uplift_operator.devenv import process

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-controlplane.sh"
BINARY_ENV = "UPLIFT_KUBE_LOCAL"

OPERATOR_NAMESPACE = "uplift-system"
OPERATOR_SERVICE_ACCOUNT = "uplift-operator"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
OPERATOR_GROUPS = (
    "system:serviceaccounts",
    f"system:serviceaccounts:{OPERATOR_NAMESPACE}",
    "system:authenticated",
)
ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")

KCM_CONTROLLERS = ("garbage-collector-controller", "namespace-controller")
# klog lines (v1.37) meaning the two controllers run: the namespace controller's start and the
# garbage collector's first full sync of its resource monitors.
KCM_READY_MARKERS = ("Starting namespace controller", "Proceeding to collect garbage")
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
# Used for --advertise-address only when the machine has no IPv4 default route and no
# non-loopback IPv4 address; it only ends up in the `kubernetes` Endpoints object.
FALLBACK_ADVERTISE_ADDRESS = "192.0.2.10"

T = TypeVar("T")

START_ATTEMPTS = 3  # a free port can be taken by someone else before we bind it


def find_binary(*, build: bool = True) -> Path:
    """The ``kube-local`` binary: ``$UPLIFT_KUBE_LOCAL``, else built (or cached) by the script."""
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(f"{BINARY_ENV}={override} is not an executable file")
        return path
    if not build:
        raise FileNotFoundError(f"{BINARY_ENV} is not set")
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True,
        check=False, stdin=subprocess.DEVNULL)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} failed with exit code {result.returncode}")
    path = Path(lines[-1])
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} printed {path}, which is not an executable file")
    return path


def _has_ipv4_default_route() -> bool:
    """True when kube-apiserver can detect its advertise address (utilnet.ChooseHostInterface)."""
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[1] == "00000000" and int(fields[3], 16) & 0x1:  # RTF_UP
            return True
    return False


def _local_ipv4_addresses() -> list[str]:
    """Non-loopback IPv4 addresses of this host's interfaces (Linux SIOCGIFADDR)."""
    found: list[str] = []
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), siocgifaddr,
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            address = ipaddress.IPv4Address(packed[20:24])
            if not (address.is_loopback or address.is_link_local or address.is_unspecified):
                found.append(str(address))
    return found


def advertise_address() -> str | None:
    """``--advertise-address`` to pass, or None to let kube-apiserver detect it.

    kube-apiserver rejects a loopback advertise address and, with a loopback bind address,
    detects one from the IPv4 default route; with no default route it fails ("no default routes
    found in /proc/net/route"). The address only goes into the ``kubernetes`` Endpoints object.
    """
    if _has_ipv4_default_route():
        return None
    addresses = _local_ipv4_addresses()
    return addresses[0] if addresses else FALLBACK_ADVERTISE_ADDRESS


def crds_established(listed: dict[str, Any], count: int) -> bool:
    """Whether ``kubectl get crd <names> -o json`` (one name: the object; several: a List) shows
    ``count`` CRDs, each Established. What callers poll instead of `kubectl wait
    --for=condition=Established`, which fails at once ("conditions accessor error: <nil>") on a
    CRD with no status yet, as a large one (Seldon's, 1.8 MB) has for a moment after its apply."""
    crds = listed.get("items", []) if listed.get("kind") == "List" else [listed]
    return len(crds) == count and all(
        any(c.get("type") == "Established" and c.get("status") == "True"
            for c in (crd.get("status") or {}).get("conditions") or [])
        for crd in crds)


class ControlPlane:
    """``with ControlPlane() as cp: cp.admin_kubeconfig`` — a real control plane on loopback.

    ``workdir``: where data, keys, logs and kubeconfigs go; a temporary directory when None.
    A temporary directory is removed by :meth:`stop` unless ``keep`` is true; a given
    ``workdir`` is never removed.
    """

    def __init__(self, workdir: Path | None = None, keep: bool = False,
                 binary: Path | None = None) -> None:
        self._own_dir = workdir is None
        self.keep = keep
        self.workdir = (workdir or Path(tempfile.mkdtemp(prefix="uplift-controlplane-"))).resolve()
        self.admin_kubeconfig = self.workdir / "admin.kubeconfig"
        self.operator_kubeconfig = self.workdir / "operator.kubeconfig"
        self.logdir = self.workdir / "logs"
        self.certdir = self.workdir / "apiserver-certs"
        self.ca_file = self.certdir / "apiserver.crt"
        self.server = ""
        self.port = 0
        self.binary = binary
        self.timings: dict[str, float] = {}
        self._admin_token = ""
        self._operator_token = ""
        self._etcd_urls: tuple[str, str] | None = None  # client, peer
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        """PIDs of the running components by name: etcd, kube-apiserver, kube-controller-manager."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def start(self) -> ControlPlane:
        """Start etcd, kube-apiserver and kube-controller-manager; return when all are up."""
        started = time.monotonic()
        if self.binary is None:
            self.binary = find_binary()
        self.timings["binary"] = time.monotonic() - started
        atexit.register(self.stop)
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.logdir.mkdir(parents=True, exist_ok=True)
            self._write_credentials()
            t0 = time.monotonic()
            etcd_url = self._retry(self._start_etcd)
            self.timings["etcd"] = time.monotonic() - t0
            t0 = time.monotonic()
            self._retry(lambda: self._start_apiserver(etcd_url))
            self.timings["kube-apiserver"] = time.monotonic() - t0
            self._write_kubeconfigs()
            t0 = time.monotonic()
            self._start_controller_manager()
            self.timings["kube-controller-manager"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every component (whole process groups) and remove a temporary workdir."""
        with self._lock:
            for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
                proc = self._procs.pop(name, None)
                if proc is not None:
                    process.stop(proc)
            atexit.unregister(self.stop)
            if self._own_dir and not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def restart(self, *, kill: bool = False, down: float = 0.0) -> float:
        """Stop kube-apiserver and etcd (SIGTERM, or SIGKILL as a crash would with ``kill``),
        wait ``down`` seconds, and start them again with the same data, ports, certificates and
        tokens, so every kubeconfig and every client's address stays valid; KCM keeps running
        and reconnects. Returns how long the API was unreachable (from the stop to /readyz)."""
        if self._etcd_urls is None or not self.port:
            raise RuntimeError("restart() needs a started control plane")
        stopped = time.monotonic()
        with self._lock:
            for name in ("kube-apiserver", "etcd"):
                proc = self._procs.pop(name)
                if kill:
                    process.kill(proc)
                else:
                    process.stop(proc)
        time.sleep(down)
        client_url, peer_url = self._etcd_urls
        self._start_etcd(client_url, peer_url)
        self._start_apiserver(client_url, self.port)
        return time.monotonic() - stopped

    def check_alive(self) -> None:
        """Raise if a component has exited."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; "
                                   f"see {self.logdir / (name + '.log')}")

    def env(self, *, operator: bool = False) -> dict[str, str]:
        """Environment variables pointing kubectl and kubernetes clients at this control plane."""
        path = self.operator_kubeconfig if operator else self.admin_kubeconfig
        return {"KUBECONFIG": str(path)}

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- components ---------------------------------------------------------------------------

    def _retry(self, start_component: Callable[[], T]) -> T:
        """Run a component starter; retry with new ports when the process dies while starting."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                return start_component()
            except RuntimeError:
                if attempt == START_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        assert self.binary is not None
        old = self._procs.pop(name, None)
        if old is not None:
            process.stop(old)
        log = self.logdir / f"{name}.log"
        with log.open("ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {name} {' '.join(args)}\n"
                      .encode())
        proc = process.start([str(self.binary), name, *args], log=log, cwd=self.workdir)
        self._procs[name] = proc
        return proc

    def _start_etcd(self, client_url: str | None = None, peer_url: str | None = None) -> str:
        """Start etcd on free ports, or on the given URLs (a restart: its data dir is kept)."""
        client_url = client_url or f"http://127.0.0.1:{process.free_port()}"
        peer_url = peer_url or f"http://127.0.0.1:{process.free_port()}"
        proc = self._launch("etcd", [
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ])
        process.wait_until(lambda: process.http_ok(f"{client_url}/health"), timeout=60,
                           what="etcd", proc=proc, log=self.logdir / "etcd.log")
        self._etcd_urls = (client_url, peer_url)
        return client_url

    def _start_apiserver(self, etcd_url: str, port: int | None = None) -> None:
        """Start kube-apiserver on a free port, or on ``port`` (a restart)."""
        self.port = port or process.free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        args = [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.certdir}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--allow-privileged=true",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={self.workdir / 'sa.pub'}",
            f"--service-account-signing-key-file={self.workdir / 'sa.key'}",
        ]
        address = advertise_address()
        if address is not None:
            args.append(f"--advertise-address={address}")
        proc = self._launch("kube-apiserver", args)
        log = self.logdir / "kube-apiserver.log"
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        process.wait_until(lambda: self._get("/readyz", insecure) == 200, timeout=120,
                           what="kube-apiserver /readyz", proc=proc, log=log, interval=0.2)
        # From here on, verify the serving certificate for real: the CA that kube-apiserver
        # generated in --cert-dir is what the kubeconfigs use.
        verified = ssl.create_default_context(cafile=str(self.ca_file))
        process.wait_until(lambda: self._get("/api/v1/namespaces/default", verified) == 200,
                           timeout=30, what="namespace 'default'", proc=proc, log=log)

    def _start_controller_manager(self) -> None:
        proc = self._launch("kube-controller-manager", [
            f"--kubeconfig={self.admin_kubeconfig}",
            f"--controllers={','.join(KCM_CONTROLLERS)}",
            "--leader-elect=false",
            "--secure-port=0",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        ])
        log = self.logdir / "kube-controller-manager.log"
        # No serving port to probe (--secure-port=0): wait for the log lines saying both
        # controllers run. They are informational klog messages, so if a later version rewords
        # them, carry on as long as the process is alive (the integration tests check behaviour).
        def started() -> bool:
            text = log.read_text(errors="replace")
            return all(marker in text for marker in KCM_READY_MARKERS)
        try:
            process.wait_until(started, timeout=30, what="kube-controller-manager", proc=proc,
                               log=log, interval=0.2)
        except TimeoutError:
            if proc.poll() is not None:
                raise
            print(f"warning: kube-controller-manager log lacks {KCM_READY_MARKERS}; "
                  f"assuming it runs (see {log})", file=sys.stderr)

    # -- files --------------------------------------------------------------------------------

    def _write_credentials(self) -> None:
        key_path, pub_path = self.workdir / "sa.key", self.workdir / "sa.pub"
        if not key_path.exists() or not pub_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            _write_private(key_path, key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
            pub_path.write_bytes(key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        self._admin_token = secrets.token_hex(24)
        self._operator_token = secrets.token_hex(24)
        # token,user,uid,"group1,group2"
        _write_private(self.workdir / "tokens.csv", (
            f'{self._admin_token},{ADMIN_USER},{ADMIN_USER},"{",".join(ADMIN_GROUPS)}"\n'
            f'{self._operator_token},{OPERATOR_USER},{OPERATOR_USER},'
            f'"{",".join(OPERATOR_GROUPS)}"\n').encode())

    def _write_kubeconfigs(self) -> None:
        for path, user, token in (
                (self.admin_kubeconfig, ADMIN_USER, self._admin_token),
                (self.operator_kubeconfig, OPERATOR_USER, self._operator_token)):
            context = "uplift-local" if user == ADMIN_USER else "uplift-local-operator"
            config = {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "uplift-local", "cluster": {
                    "server": self.server, "certificate-authority": str(self.ca_file)}}],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": context, "context": {
                    "cluster": "uplift-local", "user": user, "namespace": "default"}}],
                "current-context": context,
                "preferences": {},
            }
            _write_private(path, yaml.safe_dump(config, sort_keys=False).encode())

    def _get(self, path: str, context: ssl.SSLContext) -> int:
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self._admin_token}"})
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def main(argv: list[str] | None = None) -> int:
    """``up [--dir DIR] [--keep]``: run until SIGINT, SIGTERM or SIGHUP (the terminal closed;
    not under nohup). ``build``: print the binary path."""
    parser = argparse.ArgumentParser(prog="python -m uplift_operator.devenv.controlplane",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the control plane and block until SIGINT/SIGTERM/SIGHUP")
    up.add_argument("--dir", type=Path, default=None,
                    help="working directory (kept afterwards); default: a temporary one")
    up.add_argument("--keep", action="store_true", help="keep the temporary directory")
    up.add_argument("--json", action="store_true", help="print the details as one JSON line")
    sub.add_parser("build", help="build (or find cached) the kube-local binary, print its path")
    args = parser.parse_args(argv)

    if args.command == "build":
        print(find_binary())
        return 0

    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    # SIGHUP (the terminal closed) stops it too, unless ignored: under nohup it runs on
    previous = {sig: signal.signal(sig, on_signal)
                for sig in process.stop_signals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP))}
    plane = ControlPlane(workdir=args.dir, keep=args.keep)
    try:
        plane.start()
        if args.json:
            print(json.dumps({"server": plane.server, "workdir": str(plane.workdir),
                              "admin_kubeconfig": str(plane.admin_kubeconfig),
                              "operator_kubeconfig": str(plane.operator_kubeconfig),
                              "pids": plane.pids}), flush=True)
        else:
            print(f"control plane up in {plane.timings['total']:.1f}s: {plane.server}\n"
                  f"  workdir:             {plane.workdir}\n"
                  f"  admin kubeconfig:    {plane.admin_kubeconfig}\n"
                  f"  operator kubeconfig: {plane.operator_kubeconfig}  ({OPERATOR_USER})\n"
                  f"export KUBECONFIG={plane.admin_kubeconfig}\n"
                  "Ctrl-C to stop.", flush=True)
        while not stopping.wait(1.0):
            plane.check_alive()
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            plane.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("control plane stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
