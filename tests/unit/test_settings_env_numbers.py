"""A numeric option set from the environment is converted by argparse, as its flag is.

``UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS=five`` crashed the operator at start with a bare
``ValueError`` traceback (the variable converted with ``int()`` while the parser was built);
now it is argparse's usage error naming the option, exit status 2, like ``--flag five``.
"""

from __future__ import annotations

import pytest

from uplift_operator.settings import parse_args

#: Every numeric option with an environment fallback: option → (variable, a valid value).
NUMERIC = {
    "--max-concurrent-graph-rolls": ("UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", "7"),
    "--priority": ("UPLIFT_PRIORITY", "9"),
    "--peering-lifetime": ("UPLIFT_PEERING_LIFETIME", "12"),
    "--liveness-port": ("UPLIFT_LIVENESS_PORT", "8088"),
    "--readiness-port": ("UPLIFT_READINESS_PORT", "8081"),
    "--metrics-port": ("UPLIFT_METRICS_PORT", "9099"),
    "--prometheus-ingest-delay": ("UPLIFT_PROMETHEUS_INGEST_DELAY", "600"),
    "--prometheus-scrape-interval": ("UPLIFT_PROMETHEUS_SCRAPE_INTERVAL", "60"),
    "--prometheus-query-lag": ("UPLIFT_PROMETHEUS_QUERY_LAG", "45"),
    "--pass-workers": ("UPLIFT_PASS_WORKERS", "3"),
}


def test_a_graph_rolls_limit_that_is_not_a_number_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("UPLIFT_MAX_CONCURRENT_GRAPH_ROLLS", "five")
    with pytest.raises(SystemExit) as exited:
        parse_args(["-A"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: uplift-operator run")
    assert ("uplift-operator run: error: argument --max-concurrent-graph-rolls: invalid int "
            "value: 'five'") in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", sorted(NUMERIC))
@pytest.mark.parametrize("value", ["five", "2.5", "0x10"])
def test_every_numeric_environment_value_is_checked_as_its_flag_is(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        option: str, value: str) -> None:
    variable, _ = NUMERIC[option]
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as from_env:
        parse_args(["-A"])
    assert from_env.value.code == 2
    env_error = capsys.readouterr().err.splitlines()[-1]
    assert env_error == f"uplift-operator run: error: argument {option}: invalid int value: " \
                        f"{value!r}"
    monkeypatch.delenv(variable)
    with pytest.raises(SystemExit) as from_flag:
        parse_args(["-A", option, value])
    assert from_flag.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == env_error  # the same words


@pytest.mark.parametrize("option", sorted(NUMERIC))
def test_a_valid_environment_value_is_taken_and_the_flag_wins_over_it(
        monkeypatch: pytest.MonkeyPatch, option: str) -> None:
    variable, value = NUMERIC[option]
    attribute = option.removeprefix("--").replace("-", "_")
    monkeypatch.setenv(variable, value)
    assert getattr(parse_args(["-A"]), attribute) == int(value)
    # The flag given, the variable is never converted: not even an invalid one is an error.
    monkeypatch.setenv(variable, "five")
    assert getattr(parse_args(["-A", option, value]), attribute) == int(value)


def test_an_empty_variable_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _ in NUMERIC.values():
        monkeypatch.setenv(variable, "")
    config = parse_args(["-A"])
    assert config.max_concurrent_graph_rolls == 5 and config.pass_workers == 8
    assert config.peering_lifetime == 8 and config.prometheus_ingest_delay == 300
    assert config.prometheus_scrape_interval == 30 and config.prometheus_query_lag == 0
    assert (config.liveness_port, config.readiness_port, config.metrics_port) == (0, 0, 0)
