"""Load a script of ``bench/`` as a module, for the tests that call its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_script(script: str, module_name: str) -> ModuleType:
    """``bench/<script>.py`` imported as ``module_name``, registered in ``sys.modules`` (its
    dataclasses look their module up there). Each name loads its own copy."""
    spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{script}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
