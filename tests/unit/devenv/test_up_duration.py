"""``uplift-operator dev``'s arguments and its ``--duration`` stop.

``--duration S`` used to exit 0 whatever had happened: a scenario rolled back that should have
been promoted, or none finished at all. It is judged now: 0 only when at least one scenario
finished and every finished one reached the expected decision (and no component is gone). Its
clock starts once the stack is up, so a slow start does not eat it. ``--rate`` and
``--duration`` refuse what the simulator cannot use (a negative rate killed its thread, and the
demo then waited 180 s for a first scored request that could not come). A ``--workdir`` that
holds a previous run's data is refused: its control plane and MLflow store would start again
with the demo's namespace and model in them."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from uplift_operator.devenv import demo, up


class _Recorder:
    def __init__(self) -> None:
        self.samples: list[Any] = []
        self.marks: list[Any] = []

    def latest(self) -> None:
        return None


class _Stack:
    """Starts (after ``start_seconds``) and stops nothing; the scenarios are ``_play``'s."""

    start_seconds = 0.0
    made: ClassVar[list[_Stack]] = []

    def __init__(self, workdir: Path, data: Path, **_: Any) -> None:
        self.workdir = workdir
        self.timings: dict[str, float] = {}
        self.recorder = _Recorder()
        self.models = type("Models", (), {"items": {}, "on_change": None})()
        self.alive = True
        type(self).made.append(self)

    def start(self) -> None:
        time.sleep(self.start_seconds)

    def stop(self) -> None:
        pass

    def check_alive(self) -> None:
        if not self.alive:
            raise RuntimeError("the operator exited with 1")

    def wait_first_scored(self, tick: Callable[[], None]) -> float:
        tick()
        return 1.0


def _outcome(name: str, expected: bool) -> demo.Outcome:
    decision = "Promoted" if expected == (name == "promote") else "RolledBack"
    return demo.Outcome(name, "2", decision, "why", None, 1.0, expected, [30])


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., tuple[int, list[str]]]:
    """``run(args, play)``: ``up.main(args)`` on ``_Stack``, each scenario ``play(name)``: an
    Outcome, or None to wait (ticking) until --duration stops it. Returns the exit code and
    the scenarios played."""
    data = tmp_path / "h.csv"
    data.write_text("recency\n")
    monkeypatch.setattr(up, "HILLSTROM", data)
    monkeypatch.setattr(demo, "DemoStack", _Stack)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("UPLIFT_DEV_KEEP", raising=False)
    _Stack.made, _Stack.start_seconds = [], 0.0

    def go(args: list[str], play: Callable[[str], demo.Outcome | None]) -> tuple[int, list[str]]:
        played: list[str] = []

        def run_scenario(stack: Any, scenario: Any, say: Any, tick: Callable[[], None]
                         ) -> demo.Outcome:
            played.append(scenario.name)
            outcome = play(scenario.name)
            while outcome is None:  # still waiting for a decision
                tick()
                time.sleep(0.05)
            return outcome

        monkeypatch.setattr(demo, "run_scenario", run_scenario)
        return up.main(["--plain", *args]), played

    return go


def test_duration_after_a_wrong_decision_exits_1_and_keeps_the_logs(
        run: Callable[..., tuple[int, list[str]]], capsys: pytest.CaptureFixture[str]) -> None:
    code, played = run(["--duration", "0.5"],
                       lambda name: _outcome(name, False) if name == "promote" else None)
    assert (code, played) == (1, ["promote"])
    workdir = _Stack.made[0].workdir
    assert workdir.exists() and f"logs kept in {workdir}" in capsys.readouterr().err


def test_duration_before_any_scenario_finished_exits_1(
        run: Callable[..., tuple[int, list[str]]], capsys: pytest.CaptureFixture[str]) -> None:
    code, played = run(["--duration", "0.3"], lambda name: None)
    assert (code, played) == (1, ["promote"])
    assert "(no scenario finished)" in capsys.readouterr().out


def test_duration_with_a_component_gone_exits_1(
        run: Callable[..., tuple[int, list[str]]]) -> None:
    def play(name: str) -> demo.Outcome | None:
        _Stack.made[0].alive = False
        return _outcome(name, True) if name == "promote" else None

    assert run(["--duration", "0.5"], play) == (1, ["promote"])


def test_duration_after_expected_decisions_exits_0_and_cleans_up(
        run: Callable[..., tuple[int, list[str]]], capsys: pytest.CaptureFixture[str]) -> None:
    code, played = run(["--duration", "0.5"],
                       lambda name: _outcome(name, True) if name == "promote" else None)
    assert (code, played) == (0, ["promote"])
    assert not _Stack.made[0].workdir.exists()
    assert "logs kept" not in capsys.readouterr().err


def test_duration_counts_from_when_the_stack_is_up(
        run: Callable[..., tuple[int, list[str]]]) -> None:
    _Stack.start_seconds = 0.8  # longer than the duration: the scenarios still play
    code, played = run(["--duration", "0.5", "--scenario", "promote"],
                       lambda name: _outcome(name, True))
    assert (code, played) == (0, ["promote"])


@pytest.mark.parametrize(("args", "said"), [
    (["--rate", "-5"], "above 0"),
    (["--rate", "0"], "above 0"),
    (["--rate", "nan"], "above 0"),
    (["--rate", "inf"], "above 0"),
    (["--rate", "many"], "not a number"),
    (["--duration", "-1"], "0 or more"),
    (["--duration", "inf"], "0 or more"),
])
def test_arguments_the_demo_cannot_use_are_refused(
        args: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        up.parse_args(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {args[0]}" in err and said in err


def test_arguments_it_can_use_are_taken() -> None:
    parsed = up.parse_args(["--rate", "0.5", "--duration", "0"])
    assert (parsed.rate, parsed.duration) == (0.5, 0)


def test_a_workdir_with_a_previous_run_in_it_is_refused(
        run: Callable[..., tuple[int, list[str]]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "demo"
    (workdir / "controlplane" / "etcd").mkdir(parents=True)
    code, played = run(["--workdir", str(workdir)], lambda name: _outcome(name, True))
    assert (code, played, _Stack.made) == (2, [], [])
    assert f"--workdir {workdir} is not empty" in capsys.readouterr().err
    assert (workdir / "controlplane" / "etcd").is_dir()  # left as it was


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()])
def test_a_new_or_empty_workdir_is_taken(
        run: Callable[..., tuple[int, list[str]]], tmp_path: Path,
        make: Callable[[Path], None]) -> None:
    workdir = tmp_path / "demo"
    make(workdir)
    assert run(["--workdir", str(workdir), "--scenario", "promote"],
               lambda name: _outcome(name, True)) == (0, ["promote"])
    assert _Stack.made[0].workdir == workdir.resolve()


def test_a_workdir_that_is_a_file_is_refused_as_not_a_directory(
        run: Callable[..., tuple[int, list[str]]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "demo.txt"
    workdir.write_text("mine\n")
    code, played = run(["--workdir", str(workdir)], lambda name: _outcome(name, True))
    assert (code, played, _Stack.made) == (2, [], [])
    err = capsys.readouterr().err
    assert f"--workdir {workdir} is not a directory" in err and "not empty" not in err
    assert workdir.read_text() == "mine\n"


def test_a_workdir_that_cannot_be_listed_is_refused_with_the_reason(
        run: Callable[..., tuple[int, list[str]]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "demo"
    workdir.mkdir()
    iterdir = Path.iterdir

    def unlistable(path: Path) -> Any:  # chmod 000 does not stop root: as if it did
        if path == workdir:
            raise PermissionError(13, "Permission denied", str(path))
        return iterdir(path)

    monkeypatch.setattr(Path, "iterdir", unlistable)
    code, played = run(["--workdir", str(workdir)], lambda name: _outcome(name, True))
    assert (code, played, _Stack.made) == (2, [], [])  # no traceback: said, exit 2
    assert f"--workdir {workdir} cannot be read: [Errno 13] Permission denied" in (
        capsys.readouterr().err)


def test_a_workdir_that_cannot_be_made_is_refused_with_the_reason(
        run: Callable[..., tuple[int, list[str]]], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    workdir = tmp_path / "file" / "demo"  # under a regular file
    code, played = run(["--workdir", str(workdir)], lambda name: _outcome(name, True))
    assert (code, played, _Stack.made) == (2, [], [])
    assert f"--workdir {workdir} cannot be made: [Errno 20] Not a directory" in (
        capsys.readouterr().err)
