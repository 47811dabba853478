"""A switch set from the environment, and the namespace scope: a flag given wins over the
variable, and a variable that is neither true nor false is a usage error.

``UPLIFT_ALL_NAMESPACES=true`` with ``-n team-a`` gave a config both cluster-wide and
namespaced, which kopf refuses with a TypeError at start; ``UPLIFT_VERBOSE=TRUE`` was read as
off while ``UPLIFT_HELM_CREATES_PEERINGS=TRUE`` was on.
"""

from __future__ import annotations

import pytest

from uplift_operator.settings import OperatorConfig, parse_args

#: Every switch with an environment fallback: variable → (flag, the config's attribute).
SWITCHES = {
    "UPLIFT_STANDALONE": ("--standalone", "standalone"),
    "UPLIFT_VERBOSE": ("--verbose", "verbose"),
    "UPLIFT_HELM_CREATES_PEERINGS": ("--helm-creates-peerings", "helm_creates_peerings"),
}


@pytest.fixture(autouse=True)
def _no_uplift_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("UPLIFT_ALL_NAMESPACES", "UPLIFT_NAMESPACES", "UPLIFT_NAMESPACE",
                     *SWITCHES):
        monkeypatch.delenv(variable, raising=False)


def _one_scope(config: OperatorConfig) -> bool:
    """kopf's spawn_tasks refuses a scope both cluster-wide and namespaced (a TypeError: "The
    operator can be either cluster-wide or namespaced, not both"): handlers/main.py hands it
    these two fields as they are."""
    return config.all_namespaces != bool(config.namespaces)


def test_a_namespace_flag_wins_over_all_namespaces_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_ALL_NAMESPACES", "true")
    config = parse_args(["-n", "team-a"])
    assert (config.all_namespaces, config.namespaces) == (False, ("team-a",))
    assert _one_scope(config)
    assert not config.cluster_reads  # a namespaced install's Roles suffice
    assert parse_args(["-n", "team-*"]).peering_lifetime == 60  # namespaced: a pattern
    assert parse_args([]).all_namespaces  # no flag: the variable


def test_all_namespaces_flag_wins_over_namespaces_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("UPLIFT_NAMESPACES", "UPLIFT_NAMESPACE"):
        monkeypatch.setenv(variable, "team-a,team-b")
        config = parse_args(["-A"])
        assert (config.all_namespaces, config.namespaces) == (True, ())
        assert _one_scope(config)
        assert config.peering_lifetime == 8  # one ClusterKopfPeering, not two KopfPeerings
        monkeypatch.delenv(variable)


@pytest.mark.parametrize("namespaces", ["UPLIFT_NAMESPACES", "UPLIFT_NAMESPACE"])
def test_both_scopes_from_the_environment_are_refused(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        namespaces: str) -> None:
    monkeypatch.setenv("UPLIFT_ALL_NAMESPACES", "True")
    monkeypatch.setenv(namespaces, "team-a")
    with pytest.raises(SystemExit) as exited:
        parse_args([])
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("uplift-operator run: error: UPLIFT_ALL_NAMESPACES=true and "
                            "UPLIFT_NAMESPACES (or UPLIFT_NAMESPACE) are both set")
    # A flag settles it, either way.
    assert parse_args(["-n", "team-b"]).namespaces == ("team-b",)
    assert parse_args(["-A"]).all_namespaces
    # false is no scope: the namespaces are.
    monkeypatch.setenv("UPLIFT_ALL_NAMESPACES", "false")
    config = parse_args([])
    assert (config.all_namespaces, config.namespaces) == (False, ("team-a",))


@pytest.mark.parametrize("variable", ["UPLIFT_ALL_NAMESPACES", *SWITCHES])
@pytest.mark.parametrize(("value", "on"), [("true", True), ("TRUE", True), ("True", True),
                                           (" true ", True), ("false", False),
                                           ("FALSE", False), ("", False)])
def test_a_switch_variable_is_true_or_false_in_any_case(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str, on: bool) -> None:
    monkeypatch.setenv(variable, value)
    if variable == "UPLIFT_ALL_NAMESPACES":
        if on:
            assert parse_args([]).all_namespaces
        else:
            with pytest.raises(SystemExit):  # no scope at all
                parse_args([])
        return
    _, attribute = SWITCHES[variable]
    assert getattr(parse_args(["-A"]), attribute) is on


@pytest.mark.parametrize("variable", ["UPLIFT_ALL_NAMESPACES", *SWITCHES])
@pytest.mark.parametrize("value", ["1", "yes", "on", "treu"])
def test_a_switch_variable_neither_true_nor_false_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        parse_args(["-n", "team-a"] if variable != "UPLIFT_ALL_NAMESPACES" else [])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"uplift-operator run: error: {variable}: expected true or "
                                    f"false, not {value!r}")
    assert "Traceback" not in err


@pytest.mark.parametrize("variable", ["UPLIFT_ALL_NAMESPACES", *SWITCHES])
def test_a_flag_given_wins_over_an_invalid_switch_variable(
        monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # As with a number: the flag given, the variable is never read.
    monkeypatch.setenv(variable, "yes")
    if variable == "UPLIFT_ALL_NAMESPACES":
        assert parse_args(["-n", "team-a"]).namespaces == ("team-a",)
        assert parse_args(["-A"]).all_namespaces
        return
    flag, attribute = SWITCHES[variable]
    assert getattr(parse_args(["-A", flag]), attribute) is True
