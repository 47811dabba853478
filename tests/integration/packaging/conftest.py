"""The control plane and the operator's identities the packaging modules share: each module
starts its own plane (module scope) and defines ``admin``, what it installs first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import policies
from tests.support.kube import Kubectl

from uplift_operator.adapters.kube import KubeCluster
from uplift_operator.devenv.controlplane import ControlPlane


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    with ControlPlane() as cp:
        yield cp


@pytest.fixture(scope="module")
def as_operator(plane: ControlPlane, admin: Kubectl) -> Kubectl:
    """kubectl as the operator's ServiceAccount, once the module's ``admin`` installed it."""
    return Kubectl(plane.operator_kubeconfig)


@pytest.fixture(scope="module")
def operator_cluster(plane: ControlPlane, admin: Kubectl) -> KubeCluster:
    """The operator's own adapter as its ServiceAccount."""
    return policies.operator_adapter(plane)
