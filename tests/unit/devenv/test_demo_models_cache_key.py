"""A demo model's cache key changes with the libraries its pickle is only good for."""

from __future__ import annotations

import importlib.metadata

import pytest

from uplift_operator.devenv.demo_models import Recipe


@pytest.mark.parametrize("library", ["scikit-learn", "numpy"])
def test_cache_key_includes_sklearn_and_numpy_versions(monkeypatch: pytest.MonkeyPatch,
                                                       library: str) -> None:
    real = importlib.metadata.version
    before = Recipe().key("sha")
    assert Recipe().key("sha") == before
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0-other" if name == library else real(name))
    assert Recipe().key("sha") != before
