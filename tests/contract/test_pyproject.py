"""pyproject.toml's metadata and build requirements: an SPDX licence with its file, a build
backend that understands them, and the lower bounds the scripts and the code rely on."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _requirement(listed: list[str], name: str) -> Requirement:
    (found,) = [r for r in map(Requirement, listed) if canonicalize_name(r.name) == name]
    return found


def test_license_is_an_spdx_expression_with_its_file() -> None:
    # The table form (`license = { text = ... }`) is deprecated by setuptools (PEP 639).
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n")
    assert "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    # A licence classifier beside an SPDX expression is an error for setuptools >= 77.
    assert not [c for c in PROJECT.get("classifiers", []) if c.startswith("License ::")]


def test_build_backend_understands_the_license_expression_and_is_capped() -> None:
    setuptools = _requirement(PYPROJECT["build-system"]["requires"], "setuptools")
    assert not setuptools.specifier.contains("76.1.0"), setuptools  # license-files: 77
    assert setuptools.specifier.contains("77.0.0"), setuptools
    assert any(s.operator == "<" for s in setuptools.specifier), f"{setuptools}: no upper bound"


def test_pytest_xdist_knows_the_options_scripts_test_sh_passes() -> None:
    # --no-loadscope-reorder came with pytest-xdist 3.8.
    assert "--no-loadscope-reorder" in (ROOT / "scripts" / "test.sh").read_text()
    xdist = _requirement(PROJECT["optional-dependencies"]["dev"], "pytest-xdist")
    assert not xdist.specifier.contains("3.7.0") and xdist.specifier.contains("3.8.0"), xdist


#: Imported directly but not declared: each comes with the declared distribution named here, which
#: needs it (kopf runs on aiohttp, MLServer on FastAPI). Keep this short; declare a library the
#: code uses for its own sake.
THROUGH = {
    "aiohttp": "kopf", "annotated-types": "pydantic", "pydantic-core": "pydantic",
    "fastapi": "mlserver", "starlette": "mlserver", "urllib3": "requests", "packaging": "pytest",
}


#: An import statement's modules (a line scan: parsing 6 MB of Python takes seconds).
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([A-Za-z_]\w*)[\w.]*[ \t]+import\b"
                     r"|import[ \t]+([A-Za-z_][\w. \t,]*))", re.MULTILINE)


def _imported_top_level_modules() -> dict[str, Path]:
    own = {"uplift_operator", "tests", "bench", "__future__"}
    found: dict[str, Path] = {}
    for root in ("operator/uplift_operator", "tests", "bench"):
        for path in sorted((ROOT / root).rglob("*.py")):
            for from_, imports in _IMPORT.findall(path.read_text()):
                names = [from_] if from_ else [n.split()[0] for n in imports.split(",") if n.strip()]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in own:
                        found.setdefault(top, path)
    return found


def test_every_library_the_code_imports_is_declared() -> None:
    """A fresh `pip install -e '.[dev]'` must bring what the package, the benches and the tests
    import, not by luck of another dependency's requirements (cryptography came with mlflow)."""
    declared = {canonicalize_name(r.name) for r in map(Requirement, [
        *PROJECT["dependencies"], *(d for ds in PROJECT["optional-dependencies"].values() for d in ds)])}
    assert THROUGH.keys().isdisjoint(declared), "declared now: drop it from THROUGH"
    assert set(THROUGH.values()) <= declared
    providers = packages_distributions()
    undeclared = []
    for module, path in _imported_top_level_modules().items():
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists, f"{path.relative_to(ROOT)} imports {module}, which no installed distribution provides"
        if not dists & (declared | THROUGH.keys()):
            undeclared.append(f"{module} ({', '.join(sorted(dists))}; {path.relative_to(ROOT)})")
    assert not undeclared, f"imported, not declared in pyproject.toml: {undeclared}"
