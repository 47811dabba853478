"""The demo's model preparation: what its progress bars read, and one training per recipe."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.devenv import demo_models, scenarios
from uplift_operator.devenv.demo_models import CACHED, LOADING, STAGES, Preparation, Recipe


def test_a_training_run_moves_through_the_stages_and_ends_full(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[tuple[str, int, bool]] = []

    def fake_fit(data: Path, recipe: Recipe, *, progress: Any) -> str:
        for stage in STAGES:
            progress(stage)
        return "fitted"

    monkeypatch.setattr(demo_models, "fit", fake_fit)
    models = Preparation(on_change=lambda p: seen.append((p.stage, p.completed, p.done)))
    item = models.expect(Recipe(seed=1), "v2")
    assert models.pending() == [item] and item.started is None

    fitted: Any = models.fit(tmp_path / "data.csv", Recipe(seed=1))
    assert fitted == "fitted"
    assert seen == [(LOADING, 0, False), (STAGES[0], 0, False), (STAGES[1], 1, False), (STAGES[2], 2, False),
                    (STAGES[3], 3, False), ("trained and cached", 4, True)]
    assert item.done and not item.cached and models.pending() == []
    assert item.finished is not None and item.seconds() >= 0


def test_a_cache_hit_is_full_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def fake_fit(data: Path, recipe: Recipe, *, progress: Any) -> str:
        progress(CACHED)
        return "fitted"

    monkeypatch.setattr(demo_models, "fit", fake_fit)
    models = Preparation()
    models.fit(tmp_path / "data.csv", Recipe(seed=2), "v1")
    item = models.items[Recipe(seed=2)]
    assert (item.label, item.stage, item.completed, item.total, item.cached, item.done) == (
        "v1", "cached", 4, 4, True, True)


def test_a_failed_fit_is_shown_as_failed_and_raises(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    def fake_fit(data: Path, recipe: Recipe, *, progress: Any) -> str:
        progress(STAGES[0])
        raise ValueError("no such column")

    monkeypatch.setattr(demo_models, "fit", fake_fit)
    models = Preparation()
    with pytest.raises(ValueError, match="no such column"):
        models.fit(tmp_path / "data.csv", Recipe(seed=3), "v3")
    item = models.items[Recipe(seed=3)]
    assert item.error == "no such column" and not item.done and models.pending() == []


def test_two_callers_for_one_recipe_train_it_once(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    """The background preparation and a scenario asking for the same version at once."""
    monkeypatch.setenv(demo_models.CACHE_ENV, str(tmp_path / "cache"))
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    trained: list[str] = []

    def fake_inner(data: Path, recipe: Recipe, sha: str, path: Path, progress: Any) -> str:
        if path.exists():
            progress(CACHED)
            return "from cache"
        progress(STAGES[0])
        time.sleep(0.3)
        trained.append(path.name)
        path.write_text("pickled")
        return "trained"

    monkeypatch.setattr(demo_models, "_fit", fake_inner)
    results: list[Any] = []

    def ask() -> None:
        results.append(demo_models.fit(data, Recipe(seed=4)))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(trained) == 1 and sorted(results) == ["from cache", "trained"]


def test_versions_lists_each_recipe_once_with_the_scenarios_using_it() -> None:
    versions = scenarios.versions(["promote", "harm", "offline", "delivery-failure", "budget",
                                   "promote"])
    assert [label for _, label in versions] == ["new version (promote, harm)",
                                                "new version (offline)"]
    assert versions[0][0] == scenarios.SCENARIOS["promote"].recipe
    assert versions[1][0] == scenarios.SCENARIOS["offline"].recipe
    assert scenarios.versions(["delivery-failure", "budget"]) == []


def test_a_failed_version_asked_again_is_retried_not_shown_failed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky_fit(data: Path, recipe: Recipe, *, progress: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        progress(STAGES[0])
        return "fitted"

    monkeypatch.setattr(demo_models, "fit", flaky_fit)
    models = Preparation()
    with pytest.raises(OSError, match="disk full"):
        models.fit(tmp_path / "data.csv", Recipe(seed=5), "v5")
    models.fit(tmp_path / "data.csv", Recipe(seed=5))
    item = models.items[Recipe(seed=5)]
    assert item.done and item.error == "" and item.stage == "trained and cached"


def test_plain_start_up_prints_training_stages_and_each_version_ready_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from uplift_operator.devenv import up

    cache = {Recipe(seed=6)}

    def fake_fit(data: Path, recipe: Recipe, *, progress: Any) -> str:
        if recipe in cache:
            progress(CACHED)
        else:
            for stage in STAGES:
                progress(stage)
            cache.add(recipe)
        return "fitted"

    monkeypatch.setattr(demo_models, "fit", fake_fit)
    stack = SimpleNamespace(models=Preparation())
    with up._preparing(stack, plain=True):
        stack.models.fit(tmp_path / "d.csv", Recipe(seed=6), "version 1 (stable)")
        stack.models.fit(tmp_path / "d.csv", Recipe(seed=7), "new version (promote, harm)")
    stack.models.fit(tmp_path / "d.csv", Recipe(seed=7))  # a scenario fits it again: cached
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert [line.rsplit(" (", 1)[0] if line.endswith(" s)") else line for line in lines] == [
        "model version 1 (stable): cached",
        *(f"model new version (promote, harm): {stage}" for stage in STAGES),
        "model new version (promote, harm): trained and cached"]


def test_two_writers_of_one_cached_version_never_mix_their_files(tmp_path: Path) -> None:
    """Two processes caching the same version at once (the lock is per process): each writes
    a file of its own and renames it over the cache entry; it used to be one fixed ``.tmp``,
    which one truncated while the other wrote or renamed it."""
    import pickle
    import threading

    from uplift_operator.devenv.demo_models import store

    path = tmp_path / "version.pickle"
    values = {name: [name] * 200_000 for name in ("a", "b")}
    failures: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for _ in range(20):
                store(path, values[name])
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=write, args=(name,)) for name in values]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert not failures, failures
    assert pickle.loads(path.read_bytes()) in values.values()
    assert [p.name for p in tmp_path.iterdir()] == ["version.pickle"]  # no temporary file left
