"""pyproject.toml's metadata and build requirements: an SPDX licence with its file, a build
backend that understands them, and the lower bounds the scripts and the code rely on."""

from __future__ import annotations

import tomllib
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
