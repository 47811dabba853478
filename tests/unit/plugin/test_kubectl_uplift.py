"""kubectl uplift: the patches it writes, the summaries it prints, its arguments (no cluster needed)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.domain.requests import RequestKind, parse_requests, remembered
from uplift_operator.plugin import bundle
from uplift_operator.plugin import kubectl_uplift as plugin


@pytest.mark.parametrize("target", ["upliftmodel", "campaign"])
@pytest.mark.parametrize(("command", "full", "kind"), [
    ("promote", False, RequestKind.PROMOTE), ("promote", True, RequestKind.PROMOTE_FULL),
    ("abort", False, RequestKind.ABORT), ("retry", False, RequestKind.RETRY),
    ("rollback", False, RequestKind.EMERGENCY_ROLLBACK),
])
def test_requests_are_annotations_the_ramp_reads_with_a_fresh_token(
        target: str, command: str, full: bool, kind: RequestKind) -> None:
    # Both kinds' passes read the same annotations (domain.requests.parse_requests).
    first = plugin.patch_for(command, full, target)
    second = plugin.patch_for(command, full, target)
    assert list(first) == ["metadata"], "a request touches no spec field"
    annotations = first["metadata"]["annotations"]
    assert [r.kind for r in parse_requests(annotations)] == [kind]
    assert first != second, "a repeated request carries a new token, so it acts again"


@pytest.mark.parametrize(("command", "paused"), [("pause", True), ("resume", False)])
@pytest.mark.parametrize(("target", "ramp"), [("upliftmodel", "rollout"), ("campaign", "exposure")])
def test_pause_and_resume_set_the_ramps_paused_field(
        command: str, paused: bool, target: str, ramp: str) -> None:
    assert plugin.patch_for(command, False, target) == {"spec": {ramp: {"paused": paused}}}


def test_status_summary_names_gates_and_history() -> None:
    body = {
        "metadata": {"namespace": "growth", "name": "m"},
        "spec": {"rollout": {"steps": [{"weight": 10}, {"weight": 50}]}},
        "status": {"phase": "Degraded", "message": "rolled back", "stableVersion": "3",
                   "canaryWeight": 0, "currentStep": 1,
                   "gates": [{"name": "errors", "verdict": "Fail", "value": 0.031,
                              "threshold": 0.012, "samples": 5400, "message": "too many"},
                             {"name": "effect", "verdict": "Inconclusive", "value": -0.002,
                              "lower": -0.011, "upper": 0.007, "threshold": -0.005,
                              "samples": 5400, "designSamples": 15770, "message": "not yet"}],
                   "history": [{"time": "t", "action": "RolledBack", "version": "4",
                                "reason": "gate errors failed", "actor": "operator"}]},
    }
    text = plugin.render_status(body)
    assert "Phase:     Degraded  rolled back" in text
    assert "step 2/2" in text
    assert "errors           Fail         value=0.031 threshold=0.012 samples=5400  too many" in text
    # Bounds and progress towards the design size, where the gate has them.
    assert ("effect           Inconclusive value=-0.002 [-0.011, 0.007] threshold=-0.005 "
            "samples=5400/15770  not yet") in text
    assert "RolledBack" in text and "gate errors failed" in text


def test_status_summary_names_the_versions_rolled_back_and_what_each_was() -> None:
    body = {
        "metadata": {"namespace": "growth", "name": "m"},
        "spec": {"rollout": {"steps": [{"weight": 10}]}},
        "status": {"phase": "Degraded", "stableVersion": "1", "abortedVersion": "3",
                   "emergencyRolledBackVersion": "2",
                   "history": [{"time": "t", "action": "EmergencyRollback", "version": "2",
                                "reason": "stable 2 replaced by previous stable 1 at once",
                                "actor": "annotation uplift.dev/emergency-rollback=now"}]},
    }
    text = plugin.render_status(body)
    assert "Rolled back: 3 (canary), 2 (stable, emergency rollback)" in text
    assert ("EmergencyRollback  v2  stable 2 replaced by previous stable 1 at once "
            "(annotation uplift.dev/emergency-rollback=now)") in text
    body["status"] = {"phase": "Healthy", "stableVersion": "1"}
    assert "Rolled back" not in plugin.render_status(body)


def test_campaign_summary_names_exposure_effect_and_spend() -> None:
    body: dict[str, Any] = {
        "metadata": {"namespace": "growth", "name": "spring"},
        "spec": {"modelRef": {"name": "hillstrom-uplift"}, "paused": False,
                 "economics": {"budget": 5000.0, "currency": "EUR"},
                 "exposure": {"steps": [{"percent": 10}, {"percent": 50}, {"percent": 100}]}},
        "status": {"phase": "Progressing", "message": "step 2 analysing", "modelVersion": "3",
                   "exposurePercent": 50.0, "currentStep": 1, "spend": 1234.5,
                   "incrementalEffect": {"estimate": 0.012, "display": "+1.2 pp [0.4, 2.0]"},
                   "treatedUnits": 900, "holdoutUnits": 100},
    }
    text = plugin.render_campaign(body)
    assert "Phase:     Progressing  step 2 analysing" in text
    assert "Model:     hillstrom-uplift v3" in text
    assert "Exposure:  50%  step 2/3" in text
    assert "Effect:    +1.2 pp [0.4, 2.0]" in text and "ROI:       -" in text
    assert "Spend:     1,234.50 of 5,000.00 EUR\n" in text
    assert "Decisions: treated 900, holdout 100 (since the ramp started)" in text
    assert "Converted: -\n" in text and "Units:" not in text  # an older operator's status
    status = {**body["status"], "incrementalConversions": {
        "estimate": 10.8, "display": "+10.8 [+3.6, +18]"}}
    assert ("Converted: +10.8 [+3.6, +18] incremental conversions\n"
            in plugin.render_campaign({**body, "status": status}))


def _campaign(spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "shop", "name": "spring-email"},
            "spec": {"modelRef": {"name": "m"}, "exposure": {"steps": [{"percent": 25}]},
                     **spec},
            "status": {"phase": "Progressing", **status}}


def _line(text: str, head: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(head))


@pytest.mark.parametrize(("spend", "budget", "remaining", "shown"), [
    # Significant digits rounded 4999.6 of 5000 up to the whole budget, with 0.40 left.
    (4999.6, 5000, 0.4, "Spend:     4,999.60 of 5,000.00 USD, 0.40 left per 7d"),
    # And a five-digit spend to 1.235e+04.
    (12345.67, 50000, 37654.33, "Spend:     12,345.67 of 50,000.00 USD, 37,654.33 left per 7d"),
    (49990.0, 50000.0, 10.0, "Spend:     49,990.00 of 50,000.00 USD, 10.00 left per 7d"),
    (0, 5000, None, "Spend:     0.00 of 5,000.00 USD per 7d"),  # not measured yet
])
def test_campaign_spend_is_shown_to_the_cent_with_what_is_left(
        spend: float, budget: float, remaining: float | None, shown: str) -> None:
    status: dict[str, Any] = {"spend": spend}
    if remaining is not None:
        status["budgetRemaining"] = remaining
    text = plugin.render_campaign(_campaign(
        {"economics": {"budget": budget, "budgetPeriod": "7d", "currency": "USD"}}, status))
    assert _line(text, "Spend:") == shown


def test_campaign_without_a_budget_says_so() -> None:
    text = plugin.render_campaign(_campaign({"economics": {"currency": "USD"}}, {"spend": 0}))
    assert _line(text, "Spend:") == "Spend:     0.00 USD (no budget)"


def test_a_suspended_campaign_shows_the_exposure_its_budget_holds_back() -> None:
    text = plugin.render_campaign(_campaign(
        {"economics": {"budget": 5000, "currency": "USD"}},
        {"phase": "Suspended", "exposurePercent": 0, "currentStep": 0,
         "suspendedExposurePercent": 25.0, "spend": 5000.0, "budgetRemaining": 0.0}))
    # A campaign-wide budget (no budgetPeriod) never renews: only raising it ends the hold.
    assert _line(text, "Exposure:") == (
        "Exposure:  0%  step 1/1  (suspended by the budget: 25% given back when the budget is "
        "raised)")
    assert _line(text, "Spend:") == "Spend:     5,000.00 of 5,000.00 USD, 0.00 left"
    weekly = plugin.render_campaign(_campaign(
        {"economics": {"budget": 5000, "budgetPeriod": "7d", "currency": "USD"}},
        {"phase": "Suspended", "exposurePercent": 0, "currentStep": 0,
         "suspendedExposurePercent": 25.0, "spend": 5000.0, "budgetRemaining": 0.0}))
    assert _line(weekly, "Exposure:") == (
        "Exposure:  0%  step 1/1  (suspended by the budget: 25% given back when the period "
        "renews)")
    running = plugin.render_campaign(_campaign(
        {"economics": {"budget": 5000}}, {"exposurePercent": 25.0, "currentStep": 0}))
    assert _line(running, "Exposure:") == "Exposure:  25%  step 1/1"


@pytest.mark.parametrize(("gates", "name"), [
    ([], "budget"),                                    # implied
    ([{"name": "budget", "type": "roi"}], "budget-2"),  # implied, its name taken
    ([{"name": "money", "type": "budget"}], "money"),   # declared
])
def test_a_budget_gate_shows_spend_and_budget_to_the_cent(
        gates: list[dict[str, Any]], name: str) -> None:
    status = {"gates": [
        {"name": name, "verdict": "Pass", "value": 12345.67, "threshold": 50000.0,
         "message": "within budget", "time": "2026-03-02T00:00:00Z"},
        {"name": "other", "verdict": "Pass", "value": 12345.67, "threshold": 0.95,
         "time": "2026-03-02T00:00:00Z"}]}
    text = plugin.render_campaign(_campaign(
        {"economics": {"budget": 50000}, "exposure": {"steps": [], "gates": gates}}, status))
    assert f"  {name:<16} Pass         value=12,345.67 threshold=50,000.00 " in text
    assert "  other            Pass         value=1.235e+04 threshold=0.95 " in text


def test_connection_flags_reach_kubectl_in_any_position() -> None:
    args = plugin._parser().parse_args(
        ["status", "campaign/spring", "-n", "growth", "--context", "prod", "--kubeconfig", "/k"])
    kubectl = plugin.Kubectl(args.kubeconfig, args.context, args.namespace)
    assert kubectl.base[1:] == ["--kubeconfig", "/k", "--context", "prod", "--namespace", "growth"]
    assert plugin._target(args.name) == ("campaign", "spring")
    assert plugin._target("m") == ("upliftmodel", "m")


#: Who the fake kubectls say the user is: ``kubectl auth whoami``'s and the kubeconfig context's
#: user (``kubectl config view --minify``).
WHOAMI, KUBECONFIG_USER = "alice@example.com", "kind-alice"


def _identity(whoami: str | None = WHOAMI, kubeconfig_user: str | None = KUBECONFIG_USER) -> str:
    """A fake kubectl's lines answering the plugin's questions of who the user is (None: the
    question fails, as on an API server before 1.28 or a kubeconfig without a user)."""
    lines = ""
    for word, answer in (("whoami", whoami), ("config", kubeconfig_user)):
        lines += (f"if {word!r} in sys.argv:\n"
                  + (f"    sys.stdout.write({answer!r})\n    sys.exit(0)\n" if answer is not None
                     else "    sys.stderr.write('error: unknown\\n')\n    sys.exit(1)\n"))
    return lines


def _fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  metadata: dict[str, Any] | None = None, *, whoami: str | None = WHOAMI,
                  kubeconfig_user: str | None = KUBECONFIG_USER, **body: Any) -> Path:
    """A ``kubectl`` (via ``KUBECTL``) that records its argv and answers like a get or patch
    -o json, with an object of ``metadata`` (besides its namespace and name) and ``body``'s
    other fields (``spec``, ``status``). As kubectl does, it leaves ``metadata.managedFields``
    out unless ``--show-managed-fields`` is passed. Who the user is: ``_identity``."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "kubectl"
    answer = {"metadata": {"namespace": "growth", "name": "spring", **(metadata or {})}, **body}
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        + _identity(whoami, kubeconfig_user) +
        f"answer = json.loads({json.dumps(answer)!r})\n"
        "if '--show-managed-fields' not in sys.argv:\n"
        "    answer['metadata'].pop('managedFields', None)\n"
        "print(json.dumps(answer))\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))
    return calls


def _failing_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    """A kubectl that writes ``message`` to stderr and exits 1 at every call."""
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!/bin/sh\necho {shlex.quote(message)} >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))


def _kubectl_whose_get_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str,
                             body: dict[str, object] | None) -> Path:
    """A kubectl that logs its calls (the path returned), fails a ``get`` with ``failure`` and
    answers anything else with ``body`` (None: fails it alike)."""
    calls = tmp_path / "calls.jsonl"
    fake = tmp_path / "kubectl"
    answer = (f"print({json.dumps(body)!r})\n" if body is not None
              else f"sys.stderr.write({failure + chr(10)!r})\nsys.exit(1)\n")
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        + _identity() +
        "if 'get' in sys.argv:\n"
        f"    sys.stderr.write({failure + chr(10)!r})\n"
        "    sys.exit(1)\n" + answer)
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))
    return calls


def _calls(path: Path, *, identity: bool = False) -> list[list[str]]:
    """The fake kubectl's calls, those asking who the user is only when ``identity``."""
    calls = [json.loads(line) for line in path.read_text().splitlines()]
    return [call for call in calls
            if identity or not {"whoami", "config"} & set(call)]


def _patch_sent(argv: list[str]) -> dict[str, Any]:
    patch: dict[str, Any] = json.loads(argv[argv.index("-p") + 1])
    return patch


@pytest.mark.parametrize(("argv", "annotation", "value"), [
    (["promote", "campaign/spring"], "uplift.dev/promote", "step:"),
    (["promote", "camp/spring", "--full"], "uplift.dev/promote", "full:"),
    (["abort", "campaign/spring"], "uplift.dev/abort", ""),
    (["retry", "campaigns/spring"], "uplift.dev/retry", ""),
    (["rollback", "campaign/spring"], "uplift.dev/emergency-rollback", ""),
])
def test_campaign_requests_patch_the_campaign_with_the_users_connection(
        argv: list[str], annotation: str, value: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    assert plugin.main([*argv, "-n", "growth", "--context", "prod", "--kubeconfig", "/k"]) == 0
    # Read first (a pending request of the same key is replaced: said below), then written.
    get, call = _calls(calls)
    assert get == ["--kubeconfig", "/k", "--context", "prod", "--namespace", "growth", "get",
                   "campaigns.uplift.dev", "spring", "-o", "json", "--show-managed-fields"]
    assert call[:6] == ["--kubeconfig", "/k", "--context", "prod", "--namespace", "growth"]
    assert call[6:10] == ["patch", "campaigns.uplift.dev", "spring", "--type"]
    assert call[10] == "merge" and call[-2:] == ["-o", "json"]
    written = _patch_sent(call)["metadata"]["annotations"]
    sent = written.pop(annotation)
    assert sent.startswith(value) and len(sent) > len(value)
    # Who asks, with the same connection (no --reason: none, an earlier one's removed).
    assert written == {"uplift.dev/requested-by": WHOAMI, "uplift.dev/request-reason": None}
    (whoami,) = _calls(calls, identity=True)[1:2]
    assert whoami == ["--kubeconfig", "/k", "--context", "prod", "--namespace", "growth",
                      "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]
    out = capsys.readouterr().out
    assert out == (f"campaign growth/spring: requested ({annotation}={sent}; acted on once, see "
                   f"status.handledRequests); uplift.dev/requested-by={WHOAMI}\n")


@pytest.mark.parametrize(("verb", "paused"), [("pause", True), ("resume", False)])
def test_campaign_pause_and_resume_patch_spec_exposure_paused(
        verb: str, paused: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch, {"labels": {"team": "growth"}},
                          spec={"exposure": {"paused": verb == "resume"}})
    assert plugin.main([verb, "campaign/spring", "-n", "growth"]) == 0
    # Read first: an object applied from Git is refused (below); this one carries no mark.
    get, call = _calls(calls)
    assert get == ["--namespace", "growth", "get", "campaigns.uplift.dev", "spring", "-o", "json"]
    assert call[:5] == ["--namespace", "growth", "patch", "campaigns.uplift.dev", "spring"]
    assert _patch_sent(call) == {"spec": {"exposure": {"paused": paused}}}
    assert capsys.readouterr().out == (
        f"campaign growth/spring: spec.exposure.paused set to {str(paused).lower()}\n")


@pytest.mark.parametrize(("verb", "target", "field", "value"), [
    ("pause", "campaign/spring", "spec.exposure.paused", "true"),
    ("resume", "spring", "spec.rollout.paused", "false"),
])
@pytest.mark.parametrize(("metadata", "mark"), [
    ({"annotations": {"argocd.argoproj.io/tracking-id": "growth:uplift.dev/Campaign:growth/spring"}},
     "annotation argocd.argoproj.io/tracking-id"),
    ({"labels": {"app.kubernetes.io/instance": "growth-apps"}}, "label app.kubernetes.io/instance"),
    ({"labels": {"kustomize.toolkit.fluxcd.io/name": "growth"}},
     "label kustomize.toolkit.fluxcd.io/name"),
    # Argo CD's label tracking under the key its docs suggest (instanceLabelKey), and a
    # manifest carrying Argo CD's sync options
    ({"labels": {"argocd.argoproj.io/instance": "growth-apps"}},
     "label argocd.argoproj.io/instance"),
    ({"annotations": {"argocd.argoproj.io/sync-wave": "2"}},
     "annotation argocd.argoproj.io/sync-wave"),
])
def test_pause_and_resume_refuse_an_object_applied_from_git(
        verb: str, target: str, field: str, value: str, metadata: dict[str, Any], mark: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Argo CD's self-heal would revert the field, or server-side apply keep it after Git
    drops it: the user is told to commit it, and nothing is written."""
    calls = _fake_kubectl(tmp_path, monkeypatch, metadata,
                          spec={"rollout": {"paused": True}, "exposure": {"paused": True}})
    assert plugin.main([verb, target, "-n", "growth"]) == 1
    assert [call[2] for call in _calls(calls)] == ["get"], "no patch was sent"
    err = capsys.readouterr().err
    assert mark in err and f"Commit {field}: {value} to Git" in err and "--force" in err


def test_force_writes_the_field_on_an_object_applied_from_git(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch,
                          {"annotations": {"argocd.argoproj.io/tracking-id": "a:b/C:ns/n"}})
    assert plugin.main(["pause", "campaign/spring", "--force"]) == 0
    (call,) = _calls(calls)
    assert call[0] == "patch" and _patch_sent(call) == {"spec": {"exposure": {"paused": True}}}


def test_requests_are_not_refused_on_an_object_applied_from_git(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request annotation is acted on once and Git never holds it: nothing to revert."""
    calls = _fake_kubectl(tmp_path, monkeypatch,
                          {"annotations": {"argocd.argoproj.io/tracking-id": "a:b/C:ns/n"}})
    assert plugin.main(["abort", "campaign/spring"]) == 0
    assert [call[0] for call in _calls(calls)] == ["get", "patch"]


def test_campaign_status_gets_the_campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    assert plugin.main(["status", "campaign/spring", "--context", "prod"]) == 0
    assert _calls(calls) == [["--context", "prod", "get", "campaigns.uplift.dev", "spring",
                              "-o", "json"]]
    assert "Name:      growth/spring" in capsys.readouterr().out


def test_a_kubectl_failure_is_reported_with_its_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _failing_kubectl(tmp_path, monkeypatch, 'campaigns.uplift.dev "gone" not found')
    assert plugin.main(["abort", "campaign/gone"]) == 1
    assert capsys.readouterr().err == 'kubectl uplift: campaigns.uplift.dev "gone" not found\n'


def test_help_lists_only_the_plugin_verbs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        plugin.main(["--help"])
    out = capsys.readouterr().out
    assert all(f"  {verb} " in out for verb in plugin.VERBS)
    assert not any(word in out for word in ("run ", "crds", "train", "dev "))


def test_single_file_bundle_runs_on_a_bare_python(tmp_path: Path) -> None:
    # The krew/copy install: one file, run by an isolated interpreter that sees no site-packages.
    target = bundle.build(tmp_path / "kubectl-uplift")
    done = subprocess.run([sys.executable, "-I", "-S", str(target), "--help"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rollback" in done.stdout and "--kubeconfig" in done.stdout
    bad = subprocess.run([sys.executable, "-I", "-S", str(target), "status", "x/y"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2 and "expected NAME, upliftmodel/NAME or campaign/NAME" in bad.stderr


def test_the_bundle_on_a_python_too_old_says_so_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Its ``__main__`` checks the version before importing the plugin (StrEnum, datetime.UTC:
    an ImportError traceback on 3.9 and 3.10), and on a current one runs the plugin."""
    main = compile(bundle.MAIN, "__main__.py", "exec")
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    monkeypatch.setattr(sys, "argv", ["/home/me/bin/kubectl-uplift", "status", "m"])
    with pytest.raises(SystemExit) as exited:
        exec(main, {"__name__": "__main__"})
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        "kubectl uplift: needs Python 3.11 or newer, this is Python 3.10 (")
    assert "python3.11 /home/me/bin/kubectl-uplift VERB NAME" in err
    monkeypatch.setattr(sys, "version_info", (3, 11, 0, "final", 0))
    monkeypatch.setattr(sys, "argv", ["kubectl-uplift", "status", "x/y"])
    with pytest.raises(SystemExit) as exited:
        exec(main, {"__name__": "__main__"})
    assert exited.value.code == 2 and "expected NAME" in capsys.readouterr().err


def _older_pythons() -> list[str]:
    """Interpreters older than 3.11 on this machine (pyenv's, or python3.N on PATH), one per
    minor version."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [str(p) for p in sorted(root.glob("versions/*/bin/python"))]
    candidates += [found for minor in range(6, 11) if (found := shutil.which(f"python3.{minor}"))]
    older: dict[str, str] = {}
    for python in candidates:
        done = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=False, timeout=30)
        version = done.stdout.strip()
        if done.returncode == 0 and version and tuple(map(int, version.split("."))) < (3, 11):
            older.setdefault(version, python)
    return list(older.values())


def test_single_file_bundle_on_an_older_python_exits_1_without_a_traceback(
        tmp_path: Path) -> None:
    pythons = _older_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.11 here (the in-process check above still runs)")
    target = bundle.build(tmp_path / "kubectl-uplift")
    for python in pythons:
        done = subprocess.run([python, str(target), "status", "m"], capture_output=True,
                              text=True, check=False, timeout=60)
        assert done.returncode == 1, (python, done.stderr)
        assert done.stderr.startswith("kubectl uplift: needs Python 3.11 or newer"), python
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, python


def test_krew_manifest_names_the_archive_by_its_sha256(tmp_path: Path) -> None:
    import hashlib
    import tarfile

    import yaml

    archive, manifest = bundle.krew(bundle.build(tmp_path / "kubectl-uplift"), "https://x/k.tar.gz")
    body = yaml.safe_load(manifest.read_text())
    (platform,) = body["spec"]["platforms"]
    assert body["kind"] == "Plugin" and body["metadata"]["name"] == "uplift"
    assert platform["uri"] == "https://x/k.tar.gz"
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    with tarfile.open(archive) as tar:
        assert tar.getnames() == [platform["bin"]]


def _crd_names() -> list[tuple[str, str]]:
    """(a name kubectl takes for the kind, the plugin's kind) for every name each CRD in crds/
    declares: kind, singular, plural and shortNames, bare, with the group, with version and
    group (as ``kubectl get`` takes them)."""
    import yaml

    names: list[tuple[str, str]] = []
    for path in sorted((Path(__file__).resolve().parents[3] / "crds").glob("*.uplift.dev.yaml")):
        crd = yaml.safe_load(path.read_text())
        declared = crd["spec"]["names"]
        kind = declared["singular"]
        group = crd["spec"]["group"]
        for name in (declared["kind"], declared["singular"], declared["plural"],
                     *declared.get("shortNames", [])):
            names += [(name, kind), (f"{name}.{group}", kind)]
            names += [(f"{name}.{v['name']}.{group}", kind) for v in crd["spec"]["versions"]]
    return names


@pytest.mark.parametrize(("name", "kind"), _crd_names())
def test_every_name_kubectl_takes_for_a_kind_is_taken(name: str, kind: str) -> None:
    """``umodel/x`` (a CRD shortName), ``upliftmodel.uplift.dev/x``, ``campaign.uplift.dev/x``
    were refused though kubectl takes them."""
    assert plugin._target(f"{name}/spring") == (kind, "spring")


def test_the_crds_declare_the_names_tested() -> None:
    names = {name for name, _ in _crd_names()}
    assert {"umodel", "um", "camp", "upliftmodel.uplift.dev", "campaign.uplift.dev",
            "UpliftModel", "upliftmodels.v1alpha1.uplift.dev"} <= names


@pytest.mark.parametrize("text", ["deployment/spring", "upliftmodel.example.com/spring",
                                  "campaign/", "um.v1.uplift.dev/spring"])
def test_another_kind_or_group_is_refused_as_a_usage_error(
        text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: exit 1, which the docs keep for kubectl's error or a refusal."""
    with pytest.raises(ValueError, match="expected NAME"):
        plugin._target(text)
    calls = _fake_kubectl(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as exited:
        plugin.main(["status", text])
    assert exited.value.code == 2
    assert "kubectl uplift: error: " in capsys.readouterr().err
    assert not calls.exists(), "kubectl not called"


def test_a_ramp_held_paused_by_something_else_than_the_spec_is_not_shown_unpaused() -> None:
    """Before: ``Paused: False`` (the spec's field) next to ``Phase: Paused`` for a canary held
    by its inconclusiveLimit or a Manual rollback."""
    body: dict[str, Any] = {
        "metadata": {"namespace": "growth", "name": "m"},
        "spec": {"rollout": {"steps": [{"weight": 10}]}},
        "status": {"phase": "Paused", "message": "gate effect Inconclusive 3 times",
                   "stableVersion": "1", "canaryVersion": "2", "canaryWeight": 10,
                   "currentStep": 0, "pausedAt": "2026-12-01T12:00:00+00:00"}}
    text = plugin.render_status(body)
    assert ("Paused:    yes, since 2026-12-01T12:00:00+00:00 (held by the ramp, "
            "spec.rollout.paused false: see the phase's message)") in text
    assert "Paused:    False" not in text
    body["spec"]["rollout"]["paused"] = True
    assert ("Paused:    yes, since 2026-12-01T12:00:00+00:00 (spec.rollout.paused true)"
            in plugin.render_status(body))
    del body["status"]["pausedAt"]
    assert ("Paused:    asked (spec.rollout.paused true), not held yet"
            in plugin.render_status(body))
    body["status"]["phase"] = "Progressing"
    body["spec"]["rollout"]["paused"] = False
    assert "Paused:    no (spec.rollout.paused false)" in plugin.render_status(body)
    campaign = {"metadata": {"namespace": "growth", "name": "spring"},
                "spec": {"modelRef": {"name": "m"}, "exposure": {"steps": [{"percent": 10}]}},
                "status": {"phase": "Paused", "pausedAt": "2026-12-01T12:00:00+00:00"}}
    assert ("Paused:    yes, since 2026-12-01T12:00:00+00:00 (held by the ramp, "
            "spec.exposure.paused false: see the phase's message)") in plugin.render_campaign(
        campaign)


def _model(annotations: dict[str, str], status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"namespace": "growth", "name": "m", "annotations": annotations},
            "spec": {"rollout": {"steps": [{"weight": 10}, {"weight": 50}]}},
            "status": {"phase": "Progressing", "stableVersion": "1", "canaryVersion": "2",
                       "canaryWeight": 50, "currentStep": 1, **status}}


def test_status_shows_the_requests_pending_and_the_last_handled() -> None:
    """Before, nothing in ``status`` said an abort waited (the operator down) though the
    request verbs say "see status.handledRequests": a pending request is one whose token is not
    the handled one for its key, as the operator reads them (``parse_requests``)."""
    abort, retry = "2026-12-07T10:00:00.000001+00:00", "2026-12-07T09:00:00.000001+00:00"
    body = _model({"uplift.dev/abort": abort, "uplift.dev/retry": retry, "team": "growth"},
                  {"handledRequests": {"uplift.dev/retry": retry},
                   "history": [{"time": "2026-12-07T09:00:01Z", "action": "Retry",
                                "version": "2", "reason": "retried by hand",
                                "actor": f"annotation uplift.dev/retry={retry}"}]})
    lines = plugin.render_status(body).splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Requests:"))
    assert lines[at].startswith(f"Requests:  pending  uplift.dev/abort={abort}  (not acted on yet")
    assert lines[at + 1] == (f"           handled  uplift.dev/retry={retry}  "
                             "(Retry at 2026-12-07T09:00:01Z: retried by hand)")
    assert not lines[at + 2].startswith("           ")
    # A new token on a handled key is pending again; once handled, nothing is pending.
    body["metadata"]["annotations"]["uplift.dev/retry"] = "again"
    text = plugin.render_status(body)
    assert "pending  uplift.dev/retry=again" in text and f"handled  uplift.dev/retry={retry}" in text
    body["metadata"]["annotations"] = {"uplift.dev/abort": abort}
    body["status"]["handledRequests"] = {"uplift.dev/abort": abort}
    text = plugin.render_status(body)
    assert f"Requests:  handled  uplift.dev/abort={abort}\n" in text and "pending" not in text
    # A value asking for nothing is pending too, with why; no request at all: no line.
    body["metadata"]["annotations"] = {"uplift.dev/promote": "true"}
    assert "it asks for nothing: 'true' is not a promote mode" in plugin.render_status(body)
    assert "Requests:" not in plugin.render_status(_model({}, {}))
    # An annotation value may be 256 KiB: shown clipped, as the history's actor clips it.
    long = "x" * 100_000
    text = plugin.render_status(_model({"uplift.dev/abort": long}, {}))
    assert f"pending  uplift.dev/abort={'x' * 63}…  (not acted on yet" in text
    assert len(_line(text, "Requests:")) < 300


def test_status_finds_a_long_handled_tokens_history_by_the_annotation() -> None:
    """``status.handledRequests`` keeps a token over 64 characters as its digest
    (``remembered``): the history's actor names the token itself, clipped, so the lookup by the
    stored digest never found it, and the digest showed clipped (no use for comparing). The
    annotation still holding the token gives it; a digest whose token is gone shows whole."""
    long = "retry-" + "y" * 200
    digest = remembered(long)
    body = _model({"uplift.dev/retry": long},
                  {"handledRequests": {"uplift.dev/retry": digest},
                   "history": [{"time": "2026-12-07T09:00:01Z", "action": "Retry",
                                "version": "2", "reason": "retried by hand",
                                "actor": f"annotation uplift.dev/retry={long[:63]}…"}]})
    text = plugin.render_status(body)
    assert "pending" not in text
    assert (f"Requests:  handled  uplift.dev/retry={long[:63]}…  "
            "(Retry at 2026-12-07T09:00:01Z: retried by hand)\n") in text
    # The annotation removed (or a new token written): the digest, whole, with no entry.
    body["metadata"]["annotations"] = {}
    assert (f"Requests:  handled  uplift.dev/retry={digest}\n"
            in plugin.render_status(body))
    assert len(digest) == 71


def test_campaign_status_shows_the_requests_too() -> None:
    body = _campaign({}, {"handledRequests": {"uplift.dev/abort": "1"}})
    body["metadata"]["annotations"] = {"uplift.dev/promote": "full:2", "uplift.dev/abort": "1"}
    lines = plugin.render_campaign(body).splitlines()
    assert lines[lines.index(_line("\n".join(lines), "Requests:")) + 1] == (
        "           handled  uplift.dev/abort=1")
    assert _line("\n".join(lines), "Requests:").startswith(
        "Requests:  pending  uplift.dev/promote=full:2  (not acted on yet")


_HELD = {"phase": "Paused", "message": "gate effect Inconclusive 3 times at step 1: promote or "
         "abort", "pausedAt": "2026-12-07T09:00:00+00:00"}


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize(("target", "ramp"), [("m", "rollout"), ("campaign/m", "exposure")])
@pytest.mark.parametrize("generations", [{}, {"observedGeneration": 8}])
def test_resume_of_a_ramp_held_by_its_gates_changes_nothing_and_says_what_acts(
        target: str, ramp: str, generations: dict[str, int], force: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: "spec.rollout.paused set to false", exit 0, and the ramp stayed Paused (its
    inconclusiveLimit holds it, not the spec). What acts is what the phase message names (the
    operator's words for that hold): a fixed list offered retry for holds a retry ignores (a
    canary whose spec points back at the stable, a Campaign's inconclusiveLimit)."""
    calls = _fake_kubectl(tmp_path, monkeypatch, metadata={"generation": 8},
                          spec={ramp: {"paused": False}}, status={**_HELD, **generations})
    assert plugin.main(["resume", target, *force]) == 3
    assert [call[0] for call in _calls(calls)] == ["get"], "nothing written"
    out, err = capsys.readouterr()
    assert out == ""
    assert f"spec.{ramp}.paused is already false, so resume changes nothing" in err
    assert "holds it Paused since 2026-12-07T09:00:00+00:00" in err
    assert ("its phase message says why and what acts on it: gate effect Inconclusive 3 times "
            "at step 1: promote or abort. Resume does not lift it.") in err
    assert "retry" not in err


@pytest.mark.parametrize(("target", "ramp"), [("m", "rollout"), ("campaign/m", "exposure")])
def test_resume_again_before_the_operator_acted_says_it_is_written_and_exits_0(
        target: str, ramp: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The spec's pause set ``pausedAt``, which only the operator's next pass clears: a second
    resume (or one after Argo CD wrote paused false) before that pass said "the ramp itself
    holds it" and offered retry or abort, exit 3. The generation not acted on yet says the
    resume is written and waits for the operator."""
    calls = _fake_kubectl(tmp_path, monkeypatch, metadata={"generation": 8},
                          spec={ramp: {"paused": False}},
                          status={**_HELD, "observedGeneration": 7})
    assert plugin.main(["resume", target]) == 0
    assert [call[0] for call in _calls(calls)] == ["get"], "nothing written"
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (f"kubectl uplift: {'upliftmodel' if ramp == 'rollout' else 'campaign'} "
                   f"growth/spring: resume already written (spec.{ramp}.paused false); the "
                   "operator has not acted on generation 8 yet (status.observedGeneration 7). "
                   "Nothing written; `kubectl uplift status` shows the ramp once it has.\n")
    assert "holds it" not in out and "abort" not in out
    body = {"metadata": {"namespace": "growth", "name": "spring", "generation": 8},
            "spec": {"modelRef": {"name": "m"}, ramp: {"paused": False, "steps": []}},
            "status": {**_HELD, "observedGeneration": 7}}
    render = plugin.render_status if ramp == "rollout" else plugin.render_campaign
    assert (f"Paused:    yes, since 2026-12-07T09:00:00+00:00 (spec.{ramp}.paused false, "
            "written: the operator has not acted on generation 8 yet "
            "(status.observedGeneration 7))") in render(body)
    body["status"]["observedGeneration"] = 8
    assert (f"Paused:    yes, since 2026-12-07T09:00:00+00:00 (held by the ramp, spec.{ramp}."
            "paused false: see the phase's message)") in render(body)


def test_resume_of_a_ramp_not_paused_at_all_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch, spec={"rollout": {}},
                          status={"phase": "Progressing"})
    assert plugin.main(["resume", "spring"]) == 3
    assert len(_calls(calls)) == 1
    assert capsys.readouterr().err.endswith(
        "resume changes nothing (nothing written): the ramp is not paused (phase Progressing)\n")


@pytest.mark.parametrize(("given", "passed"), [
    (["--as=oncall-breakglass"], ["--as=oncall-breakglass"]),
    (["--user", "admin", "--as-group", "a", "--as-group=b"],
     ["--user", "admin", "--as-group", "a", "--as-group=b"]),
    (["--request-timeout=5s", "--cluster", "prod", "-s", "https://api:6443", "--token", "t"],
     ["--request-timeout=5s", "--cluster", "prod", "-s", "https://api:6443", "--token", "t"]),
    (["-v6", "--insecure-skip-tls-verify", "--warnings-as-errors=false", "--v", "4"],
     ["-v6", "--insecure-skip-tls-verify", "--warnings-as-errors=false", "--v", "4"]),
    (["--server=https://x", "--tls-server-name", "api", "--as-uid", "7"],
     ["--server=https://x", "--tls-server-name", "api", "--as-uid", "7"]),
])
def test_kubectls_global_flags_pass_through_to_every_kubectl_call(
        given: list[str], passed: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: argparse's "unrecognized arguments: --as=oncall-breakglass", exit 2."""
    calls = _fake_kubectl(tmp_path, monkeypatch, spec={"rollout": {"paused": True}})
    # Before the verb, between the verb and NAME, after NAME: anywhere, as kubectl takes them.
    assert plugin.main([*given, "abort", "-n", "growth", "spring"]) == 0
    assert plugin.main(["resume", *given, "spring"]) == 0
    read, abort, get, patch = _calls(calls)
    assert read[:2] == ["--namespace", "growth"] and read[2:2 + len(passed)] == passed
    assert read[2 + len(passed)] == "get"
    assert abort[:2] == ["--namespace", "growth"] and abort[2:2 + len(passed)] == passed
    assert abort[2 + len(passed)] == "patch"
    assert get[:len(passed)] == passed and get[len(passed)] == "get"
    assert patch[:len(passed)] == passed and patch[len(passed)] == "patch"


@pytest.mark.parametrize(("argv", "said"), [
    (["abort", "spring", "--full"], "--full applies to promote only, not abort"),
    (["status", "spring", "--full"], "--full applies to promote only, not status"),
    (["abort", "spring", "--force"], "--force applies to pause and resume only, not abort"),
    (["promote", "spring", "--force"], "--force applies to pause and resume only, not promote"),
    (["abort", "spring", "--as"], "kubectl's --as needs a value"),
    (["abort", "spring", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["abort", "spring", "--insecure-skip-tls-verify", "true"], "unrecognized arguments: true"),
])
def test_a_flag_the_verb_ignores_or_kubectl_does_not_take_is_a_usage_error(
        argv: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as exited:
        plugin.main(argv)
    assert exited.value.code == 2 and said in capsys.readouterr().err
    assert not calls.exists(), "kubectl not called"


def test_flags_after_a_double_dash_are_not_kubectls(tmp_path: Path) -> None:
    assert plugin.split_kubectl_flags(["abort", "--as", "x", "--", "--user"]) == (
        ["--as", "x"], ["abort", "--", "--user"])


def test_help_lists_the_global_flags_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        plugin.main(["--help"])
    out = capsys.readouterr().out
    assert "--as, --as-group, --as-uid," in out and "--token" in out and "--user" in out
    assert all(f"  {code}  {text[:20]}" in out for code, text in plugin.EXIT_CODES.items())
    # A boolean flag never takes a separate value (split_kubectl_flags): --help says so.
    assert ("its boolean ones (--flag or --flag=value only, never --flag value):\n"
            "  --disable-compression, --insecure-skip-tls-verify, --match-server-version, "
            "--warnings-as-errors\n") in out
    assert "--insecure-skip-tls-verify" not in out.split("its boolean ones")[0]


@pytest.mark.parametrize(("target", "namespace", "hint"), [
    ("spring-email", ["-n", "growth"],
     "looked for an UpliftModel (a bare NAME is one) in namespace growth: a Campaign? use "
     "campaign/spring-email; in another namespace? add -n NAMESPACE"),
    ("um/spring-email", [],
     "looked for an UpliftModel in the context's namespace: a Campaign? use "
     "campaign/spring-email; in another namespace? add -n NAMESPACE"),
    ("campaign/spring-email", ["--namespace", "shop"],
     "looked for a Campaign in namespace shop: an UpliftModel? use upliftmodel/spring-email; in "
     "another namespace? add -n NAMESPACE"),
])
def test_not_found_names_the_namespace_searched_and_the_other_kind(
        target: str, namespace: list[str], hint: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a hint for a bare NAME only, and no word of the namespace kubectl looked in (the
    context's, often ``default``, when -n was forgotten)."""
    _failing_kubectl(tmp_path, monkeypatch, 'Error from server (NotFound): '
                     'upliftmodels.uplift.dev "spring-email" not found')
    assert plugin.main(["abort", target, *namespace]) == 1
    err = capsys.readouterr().err
    assert err == ('kubectl uplift: Error from server (NotFound): upliftmodels.uplift.dev '
                   f'"spring-email" not found\n  {hint}\n')


def test_a_kubectl_failure_other_than_not_found_gets_no_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _failing_kubectl(tmp_path, monkeypatch, "Error from server (Forbidden): nope")
    assert plugin.main(["status", "spring"]) == 1
    assert capsys.readouterr().err == "kubectl uplift: Error from server (Forbidden): nope\n"


def test_status_says_when_the_operator_has_not_acted_on_the_spec_yet() -> None:
    """Before: a status ``observedGeneration`` behind the spec showed as current (the operator
    down, the phase of the last spec read as the answer to the new one)."""
    body = _model({}, {"observedGeneration": 4})
    body["metadata"]["generation"] = 9
    lines = plugin.render_status(body).splitlines()
    assert lines[1] == ("Status:    stale: the operator has not acted on generation 9 yet "
                        "(status.observedGeneration 4)")
    assert lines[2].startswith("Phase:")
    campaign = _campaign({}, {"observedGeneration": 2})
    campaign["metadata"]["generation"] = 3
    assert ("Status:    stale: the operator has not acted on generation 3 yet "
            "(status.observedGeneration 2)") in plugin.render_campaign(campaign)
    body["status"]["observedGeneration"] = 9
    assert "Status:" not in plugin.render_status(body)
    del body["status"]["observedGeneration"]  # nothing said of it: nothing shown
    assert "Status:" not in plugin.render_status(body)


def test_status_shows_the_desired_version_when_neither_stable_nor_canary() -> None:
    body = _model({}, {"canaryVersion": None, "canaryWeight": 0, "desiredVersion": "3",
                       "abortedVersion": "3"})
    assert ("Desired:   3  (the spec's version: neither stable nor canary, see Phase)"
            in plugin.render_status(body))
    for same in ("1", "2"):  # the stable's, or the canary's: nothing more to say
        body = _model({}, {"desiredVersion": same})
        assert "Desired:" not in plugin.render_status(body)


def test_status_shows_the_previous_stable_a_rollback_restores() -> None:
    text = plugin.render_status(_model({}, {"previousStableVersion": "0"}))
    assert "Stable:    1\nPrevious:  0  (what a rollback restores when no canary runs)\n" in text
    assert "Previous:  -\n" in plugin.render_status(_model({}, {}))


def test_history_shows_the_level_recorded_and_conditions_since_when() -> None:
    """The weight (canary) or percent (exposure) each entry records, and a condition's
    ``lastTransitionTime`` (the runbooks promise "since when")."""
    condition = {"type": "ModelResolved", "status": "False", "reason": "RegistryUnavailable",
                 "message": "MLflow down", "lastTransitionTime": "2026-12-07T09:00:00Z"}
    body = _model({}, {"history": [
        {"time": "t1", "action": "StepAdvanced", "version": "2", "weight": 50,
         "reason": "gates passed"},
        {"time": "t2", "action": "Rollback", "version": "2", "reason": "gate failed"}],
        "conditions": [condition]})
    text = plugin.render_status(body)
    assert ("  t1  StepAdvanced       v2 canary weight after: 50%  gates passed (operator)\n"
            in text)
    assert "  t2  Rollback           v2  gate failed (operator)\n" in text
    assert ("  ModelResolved  False   since 2026-12-07T09:00:00Z  RegistryUnavailable: "
            "MLflow down") in text
    campaign = _campaign({}, {"history": [
        {"time": "t1", "action": "StepAdvanced", "version": "3", "percent": 12.5,
         "weight": 99, "reason": "gates passed"}]})
    assert ("  t1  StepAdvanced       v3 exposure after: 12.5%  gates passed (operator)"
            in plugin.render_campaign(campaign))


@pytest.mark.parametrize(("argv", "key", "written", "replaced"), [
    # A step promote written over a pending full one: the ramp would take one step, not all.
    (["promote", "spring"], "uplift.dev/promote", "full:2026-12-07T10:00:00+00:00", True),
    (["promote", "campaign/spring", "--full"], "uplift.dev/promote", "step:1", True),
    (["abort", "spring"], "uplift.dev/abort", "2026-12-07T10:00:00+00:00", True),
    # Acted on already (handled): nothing pending to replace.
    (["retry", "spring"], "uplift.dev/retry", "handled", False),
    # Another key: both stay (the operator acts on each, in its priority order).
    (["rollback", "spring"], "uplift.dev/abort", "2026-12-07T10:00:00+00:00", False),
])
def test_a_request_over_a_pending_one_says_what_it_replaces(
        argv: list[str], key: str, written: str, replaced: bool, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the request verbs wrote without reading, so ``promote`` after ``promote --full``
    (the operator down or behind) silently turned the full promotion into one step. It is still
    written (exit 0): the operator sees only the last value, and a second abort asks the same."""
    calls = _fake_kubectl(tmp_path, monkeypatch, {"annotations": {key: written}},
                          status={"handledRequests": {"uplift.dev/retry": "handled"}})
    assert plugin.main(argv) == 0
    assert [call[0] for call in _calls(calls)] == ["get", "patch"]
    out, err = capsys.readouterr()
    assert "requested (" in out
    kind = "campaign" if "campaign/" in argv[1] else "upliftmodel"
    assert err == (f"kubectl uplift: {kind} growth/spring: this replaces the pending request "
                   f"{key}={written}, written and not acted on yet: the operator acts on the "
                   "value written last only\n" if replaced else "")


def _kubectl_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stdout: str,
                     stderr: str = "") -> None:
    fake = tmp_path / "kubectl"
    fake.write_text(f"#!{sys.executable}\nimport sys\n" + _identity()
                    + f"sys.stderr.write({stderr!r})\nsys.stdout.write({stdout!r})\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))


def test_kubectls_warnings_on_success_reach_stderr_escaped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: kubectl's stderr was dropped when it exited 0, an API server's ``Warning:``
    (a deprecated version, an admission webhook's warning) with it."""
    body = {"metadata": {"namespace": "growth", "name": "spring"}, "spec": {}, "status": {}}
    _kubectl_writing(tmp_path, monkeypatch, json.dumps(body),
                     "Warning: uplift.dev/v1alpha1 is deprecated\nWarning: \x1b]2;x\x07\n")
    assert plugin.main(["status", "spring"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Name:      growth/spring\n")
    assert err == "Warning: uplift.dev/v1alpha1 is deprecated\nWarning: \\x1b]2;x\\x07\n"
    # A request reads, then patches: both warn, the user reads it once.
    assert plugin.main(["abort", "spring"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("upliftmodel growth/spring: requested (uplift.dev/abort=")
    assert err == "Warning: uplift.dev/v1alpha1 is deprecated\nWarning: \\x1b]2;x\\x07\n"


@pytest.mark.parametrize(("stdout", "said"), [
    ("", "kubectl get exited 0 but printed nothing, not the object as JSON"),
    ("oops\x1b[2J\nmore", "kubectl get exited 0 but printed something else than the object as "
                          "JSON: oops\\x1b[2J\\nmore"),
    ("[1, 2]", "kubectl get exited 0 but printed something else than the object as JSON: "
               "[1, 2]"),
])
def test_output_that_is_not_the_object_is_an_error_not_a_traceback(
        stdout: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a JSONDecodeError traceback (a kubectl wrapper, an empty answer)."""
    _kubectl_writing(tmp_path, monkeypatch, stdout)
    assert plugin.main(["status", "spring"]) == 1
    assert capsys.readouterr().err == f"kubectl uplift: {said}\n"
    assert plugin.main(["pause", "spring", "--force"]) == 1  # a patch: it may be written
    assert capsys.readouterr().err.endswith(
        "(the patch may be written: check with `kubectl uplift status`)\n")


def test_retry_help_names_the_holds_it_restarts(capsys: pytest.CaptureFixture[str]) -> None:
    """A retry restarts a canary its gates hold Paused for a human too (``held_for_a_human``):
    --help named only an aborted canary, which sent on-call to abort first."""
    with pytest.raises(SystemExit):
        plugin.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ("retry start again from the first step an aborted or rolled-back canary, or one its "
            "gates hold Paused for a human (a gate past its inconclusiveLimit, a pending Manual "
            "rollback), or a rolled-back campaign") in out


def test_a_request_is_written_when_the_role_may_patch_but_not_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The check for a pending request never blocks the request itself (an emergency rollback
    by a role granted ``patch`` only)."""
    calls = _kubectl_whose_get_fails(tmp_path, monkeypatch,
                                     "Error from server (Forbidden): no get for you",
                                     {"metadata": {"namespace": "growth", "name": "spring"}})
    assert plugin.main(["rollback", "spring"]) == 0
    assert [call[0] for call in _calls(calls)] == ["get", "patch"]
    out, err = capsys.readouterr()
    assert out.startswith("upliftmodel growth/spring: requested (uplift.dev/emergency-rollback=")
    assert err == ("kubectl uplift: not allowed to read upliftmodel/spring to check for a pending "
                   "uplift.dev/emergency-rollback, written without that check: Error from server "
                   "(Forbidden): no get for you\n")


@pytest.mark.parametrize("failure", [
    "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
    "Error from server (TooManyRequests): the server has received too many requests",
    "Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded)"])
def test_a_request_is_written_when_the_read_before_it_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        failure: str) -> None:
    """Any failed read before a request (a flaky API server in an incident) writes the request
    anyway, as before the check existed; only NotFound, which the patch would meet too, stops
    it."""
    calls = _kubectl_whose_get_fails(tmp_path, monkeypatch, failure,
                                     {"metadata": {"namespace": "growth", "name": "spring"}})
    assert plugin.main(["abort", "spring"]) == 0
    assert [call[0] for call in _calls(calls)] == ["get", "patch"]
    out, err = capsys.readouterr()
    assert out.startswith("upliftmodel growth/spring: requested (uplift.dev/abort=")
    assert err.startswith("kubectl uplift: could not read upliftmodel/spring to check for a "
                          "pending uplift.dev/abort, written without that check: ")


def test_a_request_for_an_object_not_found_is_not_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _kubectl_whose_get_fails(
        tmp_path, monkeypatch,
        'Error from server (NotFound): upliftmodels.uplift.dev "spring" not found', None)
    assert plugin.main(["abort", "spring"]) == 1
    assert [call[0] for call in _calls(calls)] == ["get"]
