"""kubectl uplift's request verbs say who asks and why: ``uplift.dev/requested-by`` (the user
``kubectl auth whoami`` names, else the kubeconfig context's user) and
``uplift.dev/request-reason`` (``--reason``), in the same patch as the request, which the
operator copies into the history entry of the action it takes. Before, a manual action's
history entry named the annotation and its token only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.plugin.test_kubectl_uplift import (
    KUBECONFIG_USER,
    WHOAMI,
    _calls,
    _fake_kubectl,
    _patch_sent,
)

from uplift_operator.domain import requests as contract
from uplift_operator.plugin import bundle
from uplift_operator.plugin import kubectl_uplift as plugin

BY, WHY = contract.REQUESTED_BY_ANNOTATION, contract.REQUEST_REASON_ANNOTATION
ASK_API = ["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]
ASK_KUBECONFIG = ["config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.user}"]


def _written(calls: Path) -> dict[str, str | None]:
    (patch,) = [call for call in _calls(calls) if "patch" in call]
    annotations: dict[str, str | None] = _patch_sent(patch)["metadata"]["annotations"]
    return annotations


@pytest.mark.parametrize(("verb", "key"), [
    ("promote", contract.PROMOTE_ANNOTATION), ("abort", contract.ABORT_ANNOTATION),
    ("retry", contract.RETRY_ANNOTATION), ("rollback", contract.EMERGENCY_ROLLBACK_ANNOTATION)])
def test_every_request_verb_writes_who_asks_and_why_with_the_request(
        verb: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    assert plugin.main([verb, "campaign/spring", "--reason", "errors up 3x since 09:12",
                        "--context", "prod", "--kubeconfig", "/k"]) == 0
    written = _written(calls)
    assert set(written) == {key, BY, WHY}, "one patch: the request and its companions"
    assert written[BY] == WHOAMI and written[WHY] == "errors up 3x since 09:12"
    # Asked of the API server with the user's connection, before the patch.
    assert _calls(calls, identity=True)[1] == ["--kubeconfig", "/k", "--context", "prod",
                                               *ASK_API]
    out, err = capsys.readouterr()
    assert out.endswith(f"; acted on once, see status.handledRequests); {BY}={WHOAMI}, "
                        f"{WHY}=errors up 3x since 09:12\n")
    assert err == ""


def test_without_whoami_the_kubeconfig_contexts_user_is_named_as_such(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """An API server before 1.28 (no SelfSubjectReview) or a kubectl before 1.26: the name the
    kubeconfig gives the context's user, marked as the kubeconfig's (no identity checked)."""
    calls = _fake_kubectl(tmp_path, monkeypatch, whoami=None)
    assert plugin.main(["abort", "spring", "-n", "growth", "--context", "prod"]) == 0
    assert _written(calls)[BY] == f"kubeconfig user {KUBECONFIG_USER}"
    asked = [call for call in _calls(calls, identity=True) if "get" not in call
             and "patch" not in call]
    assert asked == [["--context", "prod", "--namespace", "growth", *ASK_API],
                     ["--context", "prod", "--namespace", "growth", *ASK_KUBECONFIG]]
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("answer", ['{"kind": "SelfSubjectReview"}', "[]", "two\nlines", "  "])
def test_an_answer_that_is_no_name_is_not_taken_for_one(
        answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubectl wrapper printing JSON or several lines, or nothing: the next question."""
    calls = _fake_kubectl(tmp_path, monkeypatch, whoami=answer)
    assert plugin.main(["abort", "spring"]) == 0
    assert _written(calls)[BY] == f"kubeconfig user {KUBECONFIG_USER}"


def test_a_request_is_written_when_nothing_says_who_asks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Never a reason to fail the verb: written without it (null, so an earlier request's
    requested-by is not taken for this one's), said on stderr, exit 0."""
    calls = _fake_kubectl(tmp_path, monkeypatch, whoami=None, kubeconfig_user=None)
    assert plugin.main(["rollback", "spring"]) == 0
    written = _written(calls)
    assert written[BY] is None and written[WHY] is None
    out, err = capsys.readouterr()
    assert out.startswith("upliftmodel growth/spring: requested (uplift.dev/emergency-rollback=")
    assert BY not in out
    assert err == (f"kubectl uplift: upliftmodel growth/spring: written without {BY}: neither "
                   "`kubectl auth whoami` (an API server 1.28 or newer) nor the kubeconfig's "
                   "context names a user\n")


def test_a_whoami_that_hangs_does_not_hold_the_request(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "kubectl"
    log = tmp_path / "patched"
    fake.write_text(f"#!{sys.executable}\nimport json, sys, time\n"
                    "if 'whoami' in sys.argv:\n    time.sleep(30)\n"
                    "if 'config' in sys.argv:\n    sys.stdout.write('ctx-user')\n    sys.exit(0)\n"
                    f"if 'patch' in sys.argv:\n    open({str(log)!r}, 'w').write(sys.argv["
                    "sys.argv.index('-p') + 1])\n"
                    "print(json.dumps({'metadata': {'namespace': 'growth', 'name': 'spring'}}))\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KUBECTL", str(fake))
    monkeypatch.setattr(plugin.Kubectl, "WHO_TIMEOUT", 0.5)
    assert plugin.main(["abort", "spring"]) == 0
    assert '"uplift.dev/requested-by": "kubeconfig user ctx-user"' in log.read_text()


@pytest.mark.parametrize("verb", ["status", "pause", "resume"])
def test_reason_on_a_verb_that_writes_no_request_is_a_usage_error(
        verb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    with pytest.raises(SystemExit) as exited:
        plugin.main([verb, "spring", "--reason", "why"])
    assert exited.value.code == 2
    assert (f"--reason applies to promote and abort and retry and rollback only, not {verb}"
            in capsys.readouterr().err)
    assert not calls.exists()


def test_a_reason_is_clipped_to_what_the_annotation_holds_and_said_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls = _fake_kubectl(tmp_path, monkeypatch)
    assert plugin.main(["abort", "spring", "--reason", "x" * 300]) == 0
    assert _written(calls)[WHY] == "x" * contract.REQUEST_REASON_MAX
    assert capsys.readouterr().err == (
        "kubectl uplift: upliftmodel growth/spring: --reason is 300 characters: its first 256 "
        f"written ({WHY} holds no more)\n")


def test_companions_are_null_when_blank_and_clipped_to_the_contract() -> None:
    patch = plugin.patch_for("abort", requested_by="  ", reason="")
    assert patch["metadata"]["annotations"][BY] is None
    assert patch["metadata"]["annotations"][WHY] is None
    long = plugin.patch_for("promote", True, "campaign", requested_by="u" * 200, reason=" why ")
    assert long["metadata"]["annotations"][BY] == "u" * contract.REQUESTED_BY_MAX
    assert long["metadata"]["annotations"][WHY] == "why"
    assert plugin.request_key(long) == contract.PROMOTE_ANNOTATION
    assert "requested-by" not in str(plugin.patch_for("pause"))


def test_a_reason_is_shown_on_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_kubectl(tmp_path, monkeypatch)
    assert plugin.main(["abort", "spring", "--reason", "a\nb\x1b[2J"]) == 0
    assert capsys.readouterr().out.endswith(f"{WHY}=a\\nb\\x1b[2J\n")


def test_replacing_the_companions_of_a_pending_request_of_another_key_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """One requested-by and one request-reason per object: a pending abort written by bob with
    his reason, alice's promote replaces them (the abort is not acted on yet)."""
    _fake_kubectl(tmp_path, monkeypatch, {"annotations": {
        contract.ABORT_ANNOTATION: "t1", BY: "bob", WHY: "latency"}})
    assert plugin.main(["promote", "spring", "--reason", "looks fine"]) == 0
    assert capsys.readouterr().err == (
        "kubectl uplift: upliftmodel growth/spring: the pending request uplift.dev/abort=t1 was "
        f"written with {BY}=bob, {WHY}=latency: one of each per object, now this request's\n")


def test_the_single_file_bundle_writes_who_asks(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The zipapp carries ``domain.requests``, where the companions' names are."""
    calls = _fake_kubectl(tmp_path, monkeypatch)
    target = bundle.build(tmp_path / "kubectl-uplift")
    done = subprocess.run([sys.executable, "-I", "-S", str(target), "abort", "spring",
                           "--reason", "why"], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert _written(calls)[BY] == WHOAMI and _written(calls)[WHY] == "why"
