"""Session fixtures: one real control plane, the CRDs, the operator's RBAC, a namespace per test.

Integration tests use the real components started by the project's own code
(``uplift_operator.devenv``); nothing here is mocked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from kubernetes import config as kube_config

from tests.support.kube import Kubectl, OperatorProcess, install_crds, install_operator_rbac
from tests.support.registry import Versions
from uplift_operator.devenv.mlflow_server import MlflowServer
from uplift_operator.devenv.prometheus import PrometheusServer
from uplift_operator.devenv.seldon_standin import SeldonStandIn

if TYPE_CHECKING:
    from uplift_operator.devenv.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
HILLSTROM = SHARED / "data" / "hillstrom.csv"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest modules first: those with a ``slow`` test (benchmark smoke runs, the demo, the
    kills), then the other integration modules, then the rest; each module's tests stay together
    and in order. ``scripts/test.sh`` hands the modules to its workers (three by default,
    ``PYTEST_WORKERS``) in this order (``--dist loadfile --no-loadscope-reorder``): otherwise
    xdist hands out the modules with the most tests first, which leaves the long modules of few
    tests to the end, where one worker can still have minutes of them queued while the others
    have nothing left."""
    def rank(item: pytest.Item) -> int:
        return 0 if item.path in slow else 1 if item.get_closest_marker("integration") else 2

    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=rank)  # stable: the collection order within a rank


@pytest.fixture(scope="session")
def hillstrom_csv() -> Path:
    if not HILLSTROM.exists():
        pytest.skip(f"{HILLSTROM} is absent (../shared is not laid out here)")
    return HILLSTROM


@pytest.fixture(scope="session")
def controlplane() -> Iterator[ControlPlane]:
    from uplift_operator.devenv.controlplane import ControlPlane

    plane = ControlPlane().start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def admin(controlplane: ControlPlane) -> Kubectl:
    kubectl = Kubectl(controlplane.admin_kubeconfig)
    install_crds(kubectl)
    install_operator_rbac(kubectl)
    return kubectl


@pytest.fixture(scope="session")
def as_operator(controlplane: ControlPlane, admin: Kubectl) -> Kubectl:
    """kubectl under the operator's identity (the ServiceAccount the RBAC binds)."""
    return Kubectl(controlplane.operator_kubeconfig)


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[MlflowServer]:
    with MlflowServer() as server:
        yield server


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    with PrometheusServer() as server:
        yield server


@pytest.fixture(scope="session")
def versions(mlflow_server: MlflowServer, hillstrom_csv: Path) -> Versions:
    """The sample's model: ``hillstrom-uplift`` version 1, alias ``champion``, really trained."""
    registry = Versions(mlflow_server.url, "hillstrom-uplift")
    registry.set_alias("champion", registry.train(hillstrom_csv))
    return registry


@pytest.fixture(scope="session")
def seldon(admin: Kubectl, controlplane: ControlPlane) -> Iterator[SeldonStandIn]:
    """Plays Seldon's status updates: every new SeldonDeployment generation becomes Available."""
    api = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(controlplane.admin_kubeconfig))
    standin = SeldonStandIn(api).start()
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def operator(controlplane: ControlPlane, admin: Kubectl, mlflow_server: MlflowServer,
             prometheus: PrometheusServer, versions: Versions, seldon: SeldonStandIn,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(controlplane.operator_kubeconfig,
                           tmp_path_factory.mktemp("operator"), "--priority", "1000",
                           "--mlflow-tracking-uri", mlflow_server.url,
                           *prometheus.operator_args()).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def namespace(admin: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    admin.run("create", "namespace", name)
    yield name
    admin.run("delete", "namespace", name, "--wait=false", check=False)
