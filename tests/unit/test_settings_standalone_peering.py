"""``--standalone`` next to a peering object named on purpose is refused at start.

Standalone, kopf runs without peering: the operator took ``--standalone`` (or
``UPLIFT_STANDALONE=true``) beside an explicit ``--peering`` and silently dropped the peering, so
the chart's replicas (it always passes ``--peering``), given ``--standalone`` through
``extraArgs`` or ``UPLIFT_STANDALONE`` through ``extraEnv``, each acted on every resource at once.
"""

from __future__ import annotations

import pytest

from uplift_operator.settings import parse_args


@pytest.fixture(autouse=True)
def _no_uplift_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("UPLIFT_STANDALONE", "UPLIFT_PEERING", "UPLIFT_ALL_NAMESPACES",
                     "UPLIFT_NAMESPACES", "UPLIFT_NAMESPACE"):
        monkeypatch.delenv(variable, raising=False)


FLAG_ADVICE = "Give one: --peering for replicas of which one acts, or --standalone"
# The peering from the environment alone (the chart's standalone=true with UPLIFT_PEERING in its
# extraEnv): the advice is to drop the variable, not to set the values already set.
ENV_ADVICE = ("Unset UPLIFT_PEERING for a single replica (with the chart, remove it from "
              "extraEnv: peering.name names the peering), or drop {} for replicas of which one "
              "acts")


@pytest.mark.parametrize(("argv", "environment", "named", "advice"), [
    (["--standalone", "--peering", "ops"], {}, "--standalone with --peering 'ops'", FLAG_ADVICE),
    (["--peering=ops", "--stand"], {}, "--standalone with --peering 'ops'",  # an abbreviation
     FLAG_ADVICE),
    (["--peering=uplift-operator"], {"UPLIFT_STANDALONE": "true"},  # the chart's default name
     "UPLIFT_STANDALONE=true with --peering 'uplift-operator'", FLAG_ADVICE),
    (["--standalone"], {"UPLIFT_PEERING": "ops"}, "--standalone with UPLIFT_PEERING='ops'",
     ENV_ADVICE.format("--standalone")),
    ([], {"UPLIFT_STANDALONE": "TRUE", "UPLIFT_PEERING": "ops"},
     "UPLIFT_STANDALONE=true with UPLIFT_PEERING='ops'",
     ENV_ADVICE.format("UPLIFT_STANDALONE=true")),
], ids=["flags", "abbreviated", "standalone-from-env", "peering-from-env", "both-from-env"])
def test_standalone_with_an_explicit_peering_is_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
        environment: dict[str, str], named: str, advice: str) -> None:
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_:
        parse_args(["-A", *argv])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"{named}: standalone ignores the peering object" in error, error
    assert advice in error, error


def test_either_alone_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    alone = parse_args(["-A", "--standalone"])
    assert alone.standalone and alone.peering_name == "uplift-operator"  # the unused default
    assert parse_args(["-A", "--peering", "ops"]).peering_name == "ops"
    assert not parse_args(["-A", "--peering", "ops"]).standalone
    monkeypatch.setenv("UPLIFT_PEERING", "ops")
    assert parse_args(["-A"]).peering_name == "ops"
    assert parse_args(["-A", "--peering", "mine"]).peering_name == "mine"  # the flag wins
    monkeypatch.setenv("UPLIFT_STANDALONE", "false")
    assert not parse_args(["-A"]).standalone
    # An empty variable is unset, as for the switches: the default peering, not one named ''
    # (for kopf), and beside standalone no peering named on purpose.
    monkeypatch.setenv("UPLIFT_PEERING", "")
    assert parse_args(["-A"]).peering_name == "uplift-operator"
    monkeypatch.setenv("UPLIFT_STANDALONE", "true")
    assert parse_args(["-A"]).standalone
