"""The image locks (requirements/*.lock) pin what pyproject.toml asks for, and the operator's lock
carries no data-plane library. Regenerate with ``scripts/lock.sh``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DATA_PLANE = {"pandas", "pyarrow", "scikit-learn", "mlflow", "mlflow-skinny", "matplotlib", "mlserver"}


def _pins(lock: Path) -> dict[str, str]:
    text = lock.read_text()
    pins: dict[str, str] = {canonicalize_name(m[1]): m[2]
            for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, re.MULTILINE)}
    assert pins, f"{lock} pins nothing"
    # Every pin carries a hash: the Dockerfile installs with --require-hashes.
    assert text.count("==") <= text.count("--hash=sha256:"), f"{lock}: a pin without a hash"
    return pins


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    listed = list(PROJECT["dependencies"])
    for extra in extras:
        listed += PROJECT["optional-dependencies"][extra]
    return [r for r in map(Requirement, listed) if canonicalize_name(r.name) != "uplift-operator"]


@pytest.mark.parametrize(("lock", "extras"), [("operator.lock", ()), ("runtime.lock", ("serving",))])
def test_lock_pins_every_dependency_within_its_specifier(lock: str, extras: tuple[str, ...]) -> None:
    pins = _pins(ROOT / "requirements" / lock)
    for requirement in _requirements(extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} does not pin {requirement}; run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"{lock} pins {name}=={pins[name]}, outside {requirement}; run scripts/lock.sh"


def test_operator_lock_has_no_data_plane_library() -> None:
    pins = _pins(ROOT / "requirements" / "operator.lock")
    assert not DATA_PLANE & set(pins), sorted(DATA_PLANE & set(pins))


def test_base_dependencies_have_no_data_plane_library() -> None:
    names = {canonicalize_name(r.name) for r in _requirements(())}
    assert not DATA_PLANE & names, sorted(DATA_PLANE & names)
