"""``uplift-operator dev``: the product working on this machine, with what happens visible.

Starts a real control plane, MLflow, Prometheus, the operator under its own RBAC identity, a
serving agent that runs one real MLServer (our runtime) per SeldonDeployment predictor behind a
weighted sticky router, and a customer simulator replaying Hillstrom customers with a known
ground truth. Then it plays scenarios — a new model version goes out as a canary and the operator
promotes it or rolls it back on real measurements — in a live view, prints a summary and writes
a PNG report. Default: ``promote`` then ``harm``; ``--scenario`` picks others
(``promote``, ``harm``, ``drift``, ``latency``, ``offline``, and the Campaign's
``delivery-failure`` and ``budget``). Ctrl-C (or SIGTERM, or SIGHUP: the terminal closed, unless
``nohup`` ignores it) stops everything and leaves no process behind; should this process die
without stopping them (SIGKILL), ``devenv.process``'s reaper stops the components.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from uplift_operator.devenv import process, scenarios
from uplift_operator.devenv.demo import HILLSTROM, HILLSTROM_ENV


def _say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def _scenario_names(values: Sequence[str]) -> list[str]:
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name == "all":
                names += [n for n, s in scenarios.SCENARIOS.items() if not s.needs]
            elif name:
                if name not in scenarios.SCENARIOS:
                    raise SystemExit(f"unknown scenario {name!r}; one of "
                                     f"{', '.join(scenarios.SCENARIOS)} or all")
                names.append(name)
    return names or list(scenarios.DEFAULT)


def _rate(text: str) -> float:
    """``--rate``: customers per second, a finite number above 0 (the simulator draws a Poisson
    count of ``rate`` × its interval, which a negative rate makes raise and kill its thread)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"{text} customers per second: give a finite number above 0")
    return value


def _duration(text: str) -> float:
    """``--duration``: seconds, finite and not negative (0: no limit)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"{text} seconds: give a finite number of seconds, 0 or more (0: no limit)")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="uplift-operator dev", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", default=[],
                        help="scenario(s) to play in order, comma-separated or repeated: "
                             + ", ".join(scenarios.SCENARIOS) + ", all "
                             "(default: promote,harm)")
    parser.add_argument("--duration", type=_duration, default=0,
                        help="stop this many seconds after the stack is up (the wait for the "
                             "first scored request included), even if scenarios are left; exits 0 "
                             "only if at least one scenario finished and every finished one "
                             "reached the expected decision (default: stop when the scenarios "
                             "are done)")
    parser.add_argument("--hold", action="store_true",
                        help="keep the stack running after the scenarios until Ctrl-C")
    parser.add_argument("--rate", type=_rate, default=scenarios.RATE,
                        help=f"customers per second, above 0 (default {scenarios.RATE:.0f})")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where data and logs go: a new or empty directory, kept (default: "
                             "a new temporary directory, "
                             "removed at the end unless the run failed, exits non-zero "
                             "(after Ctrl-C: only if a scenario or a component went wrong) "
                             "or UPLIFT_DEV_KEEP=1)")
    parser.add_argument("--report", type=Path, default=None,
                        help="PNG report path (default: <workdir>/report.png, kept)")
    parser.add_argument("--plain", action="store_true",
                        help="print lines instead of the live view (default when not a TTY)")
    return parser.parse_args(list(argv))


class _StopError(Exception):
    """Ctrl-C, SIGTERM, SIGHUP or --duration."""

#: What stops the demo cleanly: Ctrl-C, a kill, the terminal closing (or the ssh session);
#: not the last when it is ignored (``nohup``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv or [])
    names = _scenario_names(args.scenario)
    if not HILLSTROM.exists():
        print(f"uplift-operator dev: {HILLSTROM} is absent. The demo replays the customers of "
              "Kevin Hillstrom's MineThatData e-mail experiment (64,000 rows, CSV), expected at "
              f"../shared/data/hillstrom.csv beside the checkout; {HILLSTROM_ENV}=<path> names "
              "another file.", file=sys.stderr)
        return 2
    refusal = None if args.workdir is None else _workdir_refusal(args.workdir)
    if refusal is not None:
        print(f"uplift-operator dev: --workdir {args.workdir} {refusal}", file=sys.stderr)
        return 2
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="uplift-dev-"))).resolve()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # a parent is a file, or not writable
        print(f"uplift-operator dev: --workdir {args.workdir} cannot be made: {error}",
              file=sys.stderr)
        return 2
    report = (args.report or workdir / "report.png").resolve()
    if args.report is None and args.workdir is None:
        report = Path(tempfile.gettempdir()) / f"uplift-demo-report-{os.getpid()}.png"

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise _StopError(signal.Signals(signum).name)

    handled = process.stop_signals(STOP_SIGNALS)  # not SIGHUP under nohup
    for sig in handled:
        signal.signal(sig, on_signal)
    # --duration counts from when the stack is up: its start (minutes on a cold machine) is
    # not the demo's time.
    deadline: float | None = None

    from uplift_operator.devenv.demo import DemoStack, Outcome, run_scenario

    plain = args.plain or not sys.stdout.isatty()
    stack = DemoStack(workdir, HILLSTROM, say=_say, rate=args.rate,
                      versions=scenarios.versions(names))
    outcomes: list[Outcome] = []
    code = 0
    failed = True  # until the run ends without an exception: its logs are kept
    started = stopped = wrong = False
    try:
        with _preparing(stack, plain):
            stack.start()
        started = True
        if args.duration:
            deadline = time.monotonic() + args.duration
        live = _Screen(stack, plain=plain)

        def tick() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise _StopError("--duration")
            live.refresh()

        live.progress = "waiting for version 1's MLServer to load, then customers flow"
        with live:
            first = stack.wait_first_scored(tick=tick)
            live.note = f"first request scored {first:.0f}s after start"
            for name in names:
                scenario = scenarios.SCENARIOS[name]
                live.title = f"scenario {name}: {scenario.title}"
                doing = ("applying Campaign spring-email" if scenario.budget is not None
                         else "registering the new version")
                live.progress = (scenario.needs or f"{doing}; expect {scenario.expect}"
                                 + (f" by the {scenario.expect_gate} gate"
                                    if scenario.expect_gate else ""))
                outcome = run_scenario(stack, scenario, say=live.log, tick=tick)
                outcomes.append(outcome)
                live.history.append(_line(outcome))
                live.progress = ""
                _settle(stack, tick, 3.0)
            while args.hold:
                tick()
                time.sleep(0.5)
        code = 0 if all(o.expected for o in outcomes) else 1
        failed = False
    except _StopError as stop:
        with contextlib.suppress(OSError):
            print(f"\nstopping ({stop})", flush=True)
        failed, stopped = False, True
        wrong = went_wrong(outcomes, stack if started else None)
        if str(stop) == "--duration":
            # Stopped as asked, but the run is judged: a decision not the expected one, a
            # component gone or no scenario finished is a failure (1), its logs kept.
            wrong = wrong or not outcomes
            code = 1 if wrong else 0
        else:
            code = 130
    finally:
        # Stop everything first: printing can fail (a closed terminal or pipe) and must not
        # leave processes behind.
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        _quietly(lambda: _say("Stopping"))
        stack.stop()
        written = _write_report(stack, outcomes, report)
        _quietly(lambda: _summary(outcomes, stack, written))
        if keep_workdir(failed, code, keep=os.environ.get("UPLIFT_DEV_KEEP") == "1",
                        given=args.workdir is not None, stopped=stopped, wrong=wrong):
            # The error above may name a log in it ("see <workdir>/operator.log").
            if failed or wrong or (code != 0 and not stopped):
                _quietly(lambda: print(f"logs kept in {workdir}", file=sys.stderr, flush=True))
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig in handled:
            signal.signal(sig, signal.SIG_DFL)
    return code


def _workdir_refusal(path: Path) -> str | None:
    """Why ``--workdir`` ``path`` is refused (said after it), or None when it does not exist
    or is an empty directory."""
    try:
        if not path.exists():
            return None
        if not path.is_dir():
            return "is not a directory. Name a new or empty directory."
        if next(path.iterdir(), None) is None:
            return None
    except OSError as error:  # not listable (permissions), or a path that cannot be looked at
        return f"cannot be read: {error}. Name a new or empty directory."
    # A previous run's etcd data and MLflow store would be started again: the demo's namespace,
    # UpliftModel and model versions exist already, and its scenarios would play on that state
    # rather than from version 1.
    return ("is not empty (a previous run's control plane data, MLflow store and logs?). Name "
            "a new or empty directory, or remove this one.")


def keep_workdir(failed: bool, code: int, *, keep: bool, given: bool, stopped: bool = False,
                 wrong: bool = False) -> bool:
    """Whether the run's working directory (logs, MLflow's store, Prometheus' data) stays: when
    ``--workdir`` named it (``given``), ``UPLIFT_DEV_KEEP=1`` (``keep``), or the run ``failed``
    (an exception) or exits non-zero, so that the logs an error message names are still there.
    A run ``stopped`` as asked (Ctrl-C, SIGTERM, SIGHUP, ``--duration``: how every ``--hold``
    run ends, with 130) keeps it only when something went ``wrong`` (``went_wrong``; after
    ``--duration``, also when no scenario finished)."""
    if given or keep or failed:
        return True
    return wrong if stopped else code != 0


def went_wrong(outcomes: Sequence[Any], stack: Any | None) -> bool:
    """At a stop: whether a scenario ended otherwise than expected, or a component of the
    started ``stack`` (None: not started) is gone (``DemoStack.check_alive`` raises)."""
    if any(not o.expected for o in outcomes):
        return True
    if stack is None:
        return False
    try:
        stack.check_alive()
    except Exception:
        return True
    return False


@contextlib.contextmanager
def _preparing(stack: Any, plain: bool) -> Iterator[None]:
    """While the stack starts: the model versions' progress bars under the start-up lines (a
    cached version is full at once), or, plain, a line per training stage, per failure and when
    a version is first ready."""
    if plain:
        from uplift_operator.devenv.demo_models import STAGES

        ready: set[str] = set()

        def line(item: Any) -> None:
            # Training stages, failures and the first time a version is ready; not the loading
            # nor the cache hits of a version already shown ready (each scenario fits its own).
            if not (item.error or item.done or item.stage in STAGES) or (
                    item.done and item.label in ready):
                return
            if item.done:
                ready.add(item.label)
            _quietly(lambda: print(f"    model {item.label}: "
                                   + (f"failed: {item.error}" if item.error else item.stage)
                                   + (f" ({item.seconds():.1f} s)" if item.done else ""),
                                   flush=True))

        stack.models.on_change = line
        yield
        return
    from rich.live import Live

    from uplift_operator.devenv.view import models_section

    with Live(get_renderable=lambda: models_section(list(stack.models.items.values())),
              refresh_per_second=4, redirect_stdout=True, redirect_stderr=True,
              transient=False):
        yield


def _quietly(action: Callable[[], None]) -> None:
    with contextlib.suppress(OSError):  # stdout gone (closed terminal, broken pipe)
        action()


def _settle(stack: Any, tick: Callable[[], None], seconds: float) -> None:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        tick()
        time.sleep(0.3)


def _line(o: Any) -> str:
    mark = "✓" if o.expected else "✗ (not the expected decision)"
    if o.decision == "Skipped":
        return f"{o.scenario}: skipped — {o.reason}"
    gate = f" by gate {o.gate}" if o.gate else ""
    steps = " → ".join(f"{w} %" for w in o.weights_seen)
    level = "exposure" if scenarios.SCENARIOS[o.scenario].budget is not None else "canary"
    return (f"{mark} {o.scenario}: v{o.version} {o.decision}{gate} after {o.seconds:.0f}s"
            + (f" ({level} {steps})" if steps else "") + (f": {o.reason}" if o.reason else ""))


def _write_report(stack: Any, outcomes: Sequence[Any], report: Path) -> Path | str:
    """Write the PNG report; its path, or why there is none (said instead of a path)."""
    recorder = getattr(stack, "recorder", None)
    # A copy (``Recorder.samples`` is one, taken under its lock): the recorder's thread may
    # still be sampling if its stop timed out.
    samples = [] if recorder is None else list(recorder.samples)
    if recorder is None or not samples:
        return "none (stopped before the first sample)"
    from uplift_operator.devenv.report import write_png

    try:
        write_png(samples, list(recorder.marks), outcomes, report)
    except Exception as error:  # the summary matters more than the picture
        return f"none ({type(error).__name__}: {error})"
    return report


def _summary(outcomes: Sequence[Any], stack: Any, report: Path | str) -> None:
    """What happened; ``report``: the report's path, or why there is none."""
    print("\nWhat happened:")
    for o in outcomes:
        print("  " + _line(o)[:400])
    if not outcomes:
        print("  (no scenario finished)")
    timings = ", ".join(f"{k} {v:.0f}s" for k, v in stack.timings.items())
    if timings:
        print(f"Timings since start: {timings}")
    router = getattr(stack, "router", None)
    if router is not None:
        for (ns, name), served in router.served.items():
            print(f"Served split ({ns}/{name}), rows per predictor under each set of weights:")
            configs: dict[Any, dict[str, int]] = {}
            for (weights, predictor), n in served.items():
                configs.setdefault(weights, {})[predictor] = n
            for weights, counts in configs.items():
                total = sum(counts.values())
                shares = ", ".join(f"{p} {w} % → {counts.get(p, 0) / total:.1%}"
                                   for p, w in weights)
                print(f"  {shares}  ({total:,} rows)")
    print(f"Report: {report}")


class _Screen:
    """The live view (rich) or, without a terminal, a status line every few seconds."""

    def __init__(self, stack: Any, plain: bool) -> None:
        self.stack, self.plain = stack, plain
        self.title = "starting"
        self.note = ""
        self.progress = ""
        self.history: list[str] = []
        self._live: Any = None
        self._last_plain = 0.0
        self._last_line = ""
        self._last_change = 0.0

    def __enter__(self) -> _Screen:
        if not self.plain:
            from rich.live import Live

            self._live = Live(self._frame(), refresh_per_second=2, screen=False,
                              redirect_stdout=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._frame())
            self._live.__exit__(None, None, None)
            self._live = None

    def log(self, text: str) -> None:
        if self._live is None:
            print(text, flush=True)

    def _frame(self) -> Any:
        from uplift_operator.devenv.view import render

        return render(self.stack.recorder.latest(), title=self.title, note=self.note,
                      progress=self.progress, history=self.history,
                      models=list(self.stack.models.items.values()))

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._frame())
            return
        now = time.monotonic()
        if now - self._last_plain < 3:
            return
        self._last_plain = now
        sample = self.stack.recorder.latest()
        if sample is None:
            return
        from uplift_operator.devenv.view import plain_line

        line = plain_line(sample)
        if line != self._last_line or now - self._last_change > 15:
            print(f"[{sample.t:5.0f}s] {line} | customers {sample.rows:,}", flush=True)
            self._last_line, self._last_change = line, now


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
