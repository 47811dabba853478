"""Operator options: flags, environment fallbacks, metric templates from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from uplift_operator.domain.templates import BUILTIN_TEMPLATES
from uplift_operator.settings import parse_args, seniority_priority


def test_a_scope_is_required() -> None:
    with pytest.raises(SystemExit):
        parse_args([])


def test_namespaces_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_NAMESPACES", "growth,ml")
    monkeypatch.setenv("UPLIFT_PROMETHEUS_URL", "http://prom:9090")
    config = parse_args(["--priority", "7"])
    assert config.namespaces == ("growth", "ml")
    assert config.prometheus_url == "http://prom:9090"
    assert config.priority == 7
    assert parse_args(["-n", "a", "-n", "b"]).namespaces == ("a", "b")


def test_priorities_differ_by_default() -> None:
    # kopf pauses every replica of a tie, so two replicas must not share a default priority.
    priorities = {parse_args(["-A"]).priority for _ in range(5)}
    assert len(priorities) > 1


def test_a_replica_started_later_never_outranks_one_started_before() -> None:
    # Ten random bits break ties only: a microsecond later is always below.
    for earlier in (0.0, 1_764_936_000.0, 4_000_000_000.0):
        later = [seniority_priority(earlier + 1e-6) for _ in range(200)]
        first = [seniority_priority(earlier) for _ in range(200)]
        assert max(later) < min(first)
        assert min(later) > 0 and max(first) < 2**63


def test_the_default_priority_is_the_start_time_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("uplift_operator.settings.time.time", lambda: 1_764_936_000.0)
    first = parse_args(["-A"]).priority
    monkeypatch.setattr("uplift_operator.settings.time.time", lambda: 1_764_936_000.5)
    assert parse_args(["-A"]).priority < first
    monkeypatch.setenv("UPLIFT_PRIORITY", "5")
    assert parse_args(["-A"]).priority == 5


def test_metric_templates_file_adds_to_the_builtins(tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text("team-latency: histogram_quantile(0.9, x{ns='{{namespace}}'})\n")
    config = parse_args(["-A", "--metric-templates", str(path)])
    assert config.metric_templates["team-latency"].startswith("histogram_quantile(0.9")
    assert set(BUILTIN_TEMPLATES) <= set(config.metric_templates)


def test_a_malformed_templates_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "templates.yaml"
    path.write_text("- not a mapping\n")
    with pytest.raises(SystemExit):
        parse_args(["-A", "--metric-templates", str(path)])


def test_peering_lifetime_default_environment_and_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args(["-A"]).peering_lifetime == 8
    monkeypatch.setenv("UPLIFT_PEERING_LIFETIME", "12")
    assert parse_args(["-A"]).peering_lifetime == 12
    assert parse_args(["-A", "--peering-lifetime", "5"]).peering_lifetime == 5
    with pytest.raises(SystemExit):
        parse_args(["-A", "--peering-lifetime", "2"])


def test_pass_workers_default_environment_and_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args(["-A"]).pass_workers == 8
    monkeypatch.setenv("UPLIFT_PASS_WORKERS", "24")
    assert parse_args(["-A"]).pass_workers == 24
    assert parse_args(["-A", "--pass-workers", "2"]).pass_workers == 2
    with pytest.raises(SystemExit):
        parse_args(["-A", "--pass-workers", "0"])


def test_prometheus_ingest_delay_reaches_the_kept_count_pieces(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from uplift_operator.handlers.lifecycle import metric_source

    assert parse_args(["-A"]).prometheus_ingest_delay == 300
    monkeypatch.setenv("UPLIFT_PROMETHEUS_INGEST_DELAY", "900")
    config = parse_args(["-A", "--prometheus-url", "http://prometheus:9090"])
    assert config.prometheus_ingest_delay == 900
    source = metric_source(config)
    assert source is not None and source.settle == 900
    assert metric_source(parse_args(["-A"])) is None
    for bad in ("0", "3601"):
        with pytest.raises(SystemExit):
            parse_args(["-A", "--prometheus-ingest-delay", bad])


@pytest.mark.parametrize(("argv", "cluster_reads"), [
    (["-A"], True),
    (["-n", "team-a", "-n", "team-b"], False),  # exact names: Roles suffice
    (["-n", "team-*"], True),                    # a glob: kopf lists the namespaces
    (["-n", "team-a", "-n", "!team-b"], True),
])
def test_cluster_reads_only_for_all_namespaces_or_patterns(argv: list[str],
                                                           cluster_reads: bool) -> None:
    assert parse_args(argv).cluster_reads is cluster_reads


def test_allowed_values_come_from_flags_or_the_environment_and_bad_patterns_are_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_args(["-A", "--allowed-tracking-uri", r"https://mlflow\.internal(/.*)?",
                         "--allowed-tracking-uri", r"http://mlflow\.mlflow\.svc:5000"])
    assert config.allowed_tracking_uris == (r"https://mlflow\.internal(/.*)?",
                                            r"http://mlflow\.mlflow\.svc:5000")
    monkeypatch.setenv("UPLIFT_ALLOWED_RUNTIME_IMAGES", r"ghcr\.io/uplift-dev/.*,registry\.x/.*")
    monkeypatch.setenv("UPLIFT_ALLOWED_SERVICE_ACCOUNTS", "runtime")
    config = parse_args(["-A"])
    assert config.allowed_runtime_images == (r"ghcr\.io/uplift-dev/.*", r"registry\.x/.*")
    assert config.allowed_service_accounts == ("runtime",) and config.allowed_tracking_uris == ()
    with pytest.raises(SystemExit):
        parse_args(["-A", "--allowed-runtime-image", "ghcr.io/[unclosed"])


#: A repeatable option's singular variable (what UPLIFT_<OPTION> gives), its plural (the
#: documented name), the value both take and what it configures. The singular was ignored:
#: an allow-list set by it was silently off.
REPEATABLE = [
    ("UPLIFT_ALLOWED_TRACKING_URI", "UPLIFT_ALLOWED_TRACKING_URIS", r"https://mlflow\.internal,x",
     "allowed_tracking_uris", (r"https://mlflow\.internal", "x")),
    ("UPLIFT_ALLOWED_RUNTIME_IMAGE", "UPLIFT_ALLOWED_RUNTIME_IMAGES", r"ghcr\.io/uplift-dev/.*",
     "allowed_runtime_images", (r"ghcr\.io/uplift-dev/.*",)),
    ("UPLIFT_ALLOWED_SERVICE_ACCOUNT", "UPLIFT_ALLOWED_SERVICE_ACCOUNTS", "runtime,scorer",
     "allowed_service_accounts", ("runtime", "scorer")),
    ("UPLIFT_PROMETHEUS_HEADER", "UPLIFT_PROMETHEUS_HEADERS", "X-Scope-OrgID=team-a",
     "prometheus_headers", (("X-Scope-OrgID", "team-a"),)),
]


@pytest.mark.parametrize(("singular", "plural", "value", "field", "expected"), REPEATABLE)
def test_a_repeatable_option_is_read_from_its_singular_variable_as_from_its_plural(
        monkeypatch: pytest.MonkeyPatch, singular: str, plural: str, value: str, field: str,
        expected: tuple[object, ...]) -> None:
    monkeypatch.setenv(singular, value)
    assert getattr(parse_args(["-A"]), field) == expected
    monkeypatch.setenv(plural, value)  # both, the same list: taken
    assert getattr(parse_args(["-A"]), field) == expected
    monkeypatch.delenv(singular)
    assert getattr(parse_args(["-A"]), field) == expected


def test_namespaces_are_read_from_uplift_namespace_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPLIFT_NAMESPACE", "growth,ml")
    assert parse_args([]).namespaces == ("growth", "ml")
    assert parse_args(["-n", "a"]).namespaces == ("a",)  # a flag wins, as over the plural


@pytest.mark.parametrize(("singular", "plural", "value"), [r[:3] for r in REPEATABLE])
def test_a_repeatable_option_set_to_two_lists_is_refused_at_start(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], singular: str,
        plural: str, value: str) -> None:
    monkeypatch.setenv(singular, value)
    monkeypatch.setenv(plural, "Other=1")
    with pytest.raises(SystemExit) as exited:
        parse_args(["-A"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"{plural} and {singular} are both set, to different values: set one ({plural}" in error
    assert value not in error and "Other=1" not in error


def test_prometheus_credentials_are_files_from_flags_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("token", "username", "password", "ca.crt"):
        (tmp_path / name).write_text(name)
    config = parse_args(["-A", "--prometheus-bearer-token-file", str(tmp_path / "token"),
                         "--prometheus-ca-file", str(tmp_path / "ca.crt"),
                         "--prometheus-header", "X-Scope-OrgID=team-a",
                         "--prometheus-header", "X-Extra = a=b "])
    assert config.prometheus_bearer_token_file == tmp_path / "token"
    assert config.prometheus_ca_file == tmp_path / "ca.crt"
    assert config.prometheus_headers == (("X-Scope-OrgID", "team-a"), ("X-Extra", "a=b"))
    monkeypatch.setenv("UPLIFT_PROMETHEUS_USERNAME_FILE", str(tmp_path / "username"))
    monkeypatch.setenv("UPLIFT_PROMETHEUS_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("UPLIFT_PROMETHEUS_HEADERS", "X-Scope-OrgID=a|b,x-scope-orgid=c")
    config = parse_args(["-A"])
    assert (config.prometheus_username_file, config.prometheus_password_file) == (
        tmp_path / "username", tmp_path / "password")
    assert config.prometheus_bearer_token_file is None
    assert config.prometheus_headers == (("x-scope-orgid", "c"),)  # one name: the last wins
    monkeypatch.delenv("UPLIFT_PROMETHEUS_HEADERS")
    assert parse_args(["-A"]).prometheus_headers == ()

    def refused(*argv: str) -> str:
        with pytest.raises(SystemExit) as exited:
            parse_args(["-A", *argv])
        assert exited.value.code == 2
        return capsys.readouterr().err

    monkeypatch.delenv("UPLIFT_PROMETHEUS_PASSWORD_FILE")
    assert "--prometheus-username-file and --prometheus-password-file go together" in refused()
    monkeypatch.delenv("UPLIFT_PROMETHEUS_USERNAME_FILE")
    assert "not both" in refused(
        "--prometheus-bearer-token-file", str(tmp_path / "token"),
        "--prometheus-username-file", str(tmp_path / "username"),
        "--prometheus-password-file", str(tmp_path / "password"))
    assert f"--prometheus-bearer-token-file {tmp_path / 'nope'}: not a readable file" in refused(
        "--prometheus-bearer-token-file", str(tmp_path / "nope"))
    assert "not a readable file" in refused("--prometheus-ca-file", str(tmp_path))  # a directory
    # A secret never goes in a header: the pod spec would show it.
    assert "credentials come from files" in refused("--prometheus-header", "Authorization=Bearer x")
    assert "expected NAME=VALUE" in refused("--prometheus-header", "X-Scope-OrgID")
    assert "expected NAME=VALUE" in refused("--prometheus-header", "Bad Name=x")
    assert "line break" in refused("--prometheus-header", "X-A=b\r\nX-Injected: 1")


@pytest.mark.parametrize("uri", ["http://reader:s3cret-pw@mlflow:5000",
                                 "https://token-only-s3cret-pw@mlflow.example/prefix"])
def test_a_tracking_uri_with_credentials_fails_at_start_without_showing_them(
        uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The operator's tracking URI is every serving pod's MLFLOW_TRACKING_URI and names the
    server in its messages: user:password@ in it is refused before anything starts, flag or
    environment, and the usage error (the operator's log) does not quote it."""
    for argv, env in (([f"--mlflow-tracking-uri={uri}"], None), ([], uri)):
        if env is not None:
            monkeypatch.setenv("UPLIFT_MLFLOW_TRACKING_URI", env)
        with pytest.raises(SystemExit) as exited:
            parse_args(["-A", *argv])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert "--mlflow-tracking-uri (Helm value mlflow.trackingUri) must not hold" in err
        assert "spec.model.credentials" in err and "s3cret-pw" not in err


def test_a_tracking_uri_without_credentials_is_taken_as_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLIFT_MLFLOW_TRACKING_URI", raising=False)
    for uri in ("http://mlflow.mlflow.svc:5000", "https://mlflow.example/prefix/@team?a=b@c"):
        assert parse_args(["-A", "--mlflow-tracking-uri", uri]).mlflow_tracking_uri == uri
    assert parse_args(["-A"]).mlflow_tracking_uri is None
