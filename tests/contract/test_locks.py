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


_PIN = re.compile(r"([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def _requirement_lines(text: str) -> list[str]:
    """The lock's requirements as pip reads them: each line joined with its backslash
    continuations (its ``--hash`` options); comments, blank lines and pip options (``--index-url``)
    left out."""
    logical: list[str] = []
    joined = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            joined += line.rstrip()[:-1] + " "
            continue
        joined += line
        if joined.strip() and not joined.lstrip().startswith(("#", "-")):
            logical.append(joined.strip())
        joined = ""
    if joined.strip() and not joined.lstrip().startswith(("#", "-")):
        logical.append(joined.strip())
    return logical


def _pins(lock: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for requirement in _requirement_lines(lock.read_text()):
        pin = _PIN.match(requirement)
        assert pin, f"{lock}: {requirement.split()[0]!r} is not a name==version pin"
        # Every pin carries a hash: the Dockerfile installs with --require-hashes.
        assert "--hash=sha256:" in requirement, f"{lock}: {pin[0]} has no --hash=sha256:"
        pins[canonicalize_name(pin[1])] = pin[2]
    assert pins, f"{lock} pins nothing"
    return pins


def test_a_pin_without_its_hashes_is_refused(tmp_path: Path) -> None:
    hashed = "a==1.0 \\\n    --hash=sha256:00\n    # via b\n"
    lock = tmp_path / "x.lock"
    lock.write_text(hashed + "b==2.0\n    # via c\n" + hashed.replace("a==", "c=="))
    with pytest.raises(AssertionError, match=r"b==2\.0 has no --hash"):
        _pins(lock)
    lock.write_text(hashed + "b==2.0 \\\n    # via c\n")  # its hash lines cut, not its backslash
    with pytest.raises(AssertionError, match=r"b==2\.0 has no --hash"):
        _pins(lock)
    lock.write_text(hashed + "b>=2.0 \\\n    --hash=sha256:00\n")
    with pytest.raises(AssertionError, match="not a name==version pin"):
        _pins(lock)
    lock.write_text(hashed)
    assert _pins(lock) == {"a": "1.0"}


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
