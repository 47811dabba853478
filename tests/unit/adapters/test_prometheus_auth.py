"""How the operator authenticates to Prometheus, seen from a loopback server that records each
request's headers: a bearer token or basic credentials from files, read again when the files
change (a rotated projected token is sent from the next query on); extra headers (Mimir's
``X-Scope-OrgID``); credentials in the URL sent but never shown in a message or a log line;
a CA bundle given as a file, or by ``REQUESTS_CA_BUNDLE`` (the chart's ``caBundle``), trusted
for Prometheus and MLflow alike."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from uplift_operator.adapters.mlflow_registry import FailFast as RegistryFailFast
from uplift_operator.adapters.mlflow_registry import MlflowRegistry, RegistryUnavailable
from uplift_operator.adapters.prometheus import (
    FailFast,
    MetricsUnavailable,
    PrometheusClient,
    SecretFile,
    basic_auth_files,
)
from uplift_operator.handlers.lifecycle import prometheus_client
from uplift_operator.settings import parse_args
from uplift_operator.userinfo import shown_url

ANSWER = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1.0, "5"]}]}}


class _Recording(BaseHTTPRequestHandler):
    """Answers every query (POST, or GET) with ``server.answer`` (status, body) and records the
    headers."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append(dict(self.headers))
        status, body = server.answer
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    server.daemon_threads = True
    server.seen, server.answer = [], (200, ANSWER)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server() -> Iterator[Any]:
    yield from _serve()


def _url(server: Any, scheme: str = "http", userinfo: str = "") -> str:
    return f"{scheme}://{userinfo}127.0.0.1:{server.server_address[1]}"


def _rotate(path: Path, value: str) -> None:
    """Replace the file as the kubelet does a mounted Secret's: write beside it, then rename."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(value)
    fresh.replace(path)


def test_the_bearer_token_file_is_read_again_when_rotated(server: Any, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")  # a trailing newline, as `echo` writes it, is dropped
    client = PrometheusClient(_url(server), bearer_token=SecretFile(token),
                              headers={"X-Scope-OrgID": "team-a"}, fail_fast=FailFast(hold=0))
    assert client.scalar("sum(up)") == 5.0
    _rotate(token, "second-token")
    assert client.scalar("sum(up)") == 5.0
    assert [h["Authorization"] for h in server.seen] == ["Bearer first-token",
                                                         "Bearer second-token"]
    assert [h["X-Scope-OrgID"] for h in server.seen] == ["team-a", "team-a"]


def test_a_token_file_gone_after_a_good_read_keeps_the_last_token(
        server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    token = tmp_path / "token"
    token.write_text("good-token")
    client = PrometheusClient(_url(server), bearer_token=SecretFile(token),
                              fail_fast=FailFast(hold=0))
    client.scalar("sum(up)")
    token.unlink()
    with caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"):
        client.scalar("sum(up)")
    assert server.seen[-1]["Authorization"] == "Bearer good-token"
    assert "the last value read stays in force" in caplog.text
    # One never read: the query is not sent, and the message names the file, not a value.
    never = PrometheusClient(_url(server), bearer_token=SecretFile(tmp_path / "missing"),
                             fail_fast=FailFast(hold=0))
    with pytest.raises(MetricsUnavailable) as unreadable:
        never.scalar("sum(up)")
    assert unreadable.value.message == (
        f"prometheus credentials unreadable: cannot read {tmp_path / 'missing'}: "
        "No such file or directory")
    assert len(server.seen) == 2


def test_basic_credentials_come_from_two_files(server: Any, tmp_path: Path) -> None:
    (tmp_path / "username").write_text("gate")
    (tmp_path / "password").write_text("s3cret\n")
    client = PrometheusClient(
        _url(server), basic_auth=basic_auth_files(tmp_path / "username", tmp_path / "password"),
        fail_fast=FailFast(hold=0))
    client.scalar("sum(up)")
    _rotate(tmp_path / "password", "n3w")
    client.scalar("sum(up)")
    assert [h["Authorization"] for h in server.seen] == [
        "Basic " + base64.b64encode(b"gate:s3cret").decode(),
        "Basic " + base64.b64encode(b"gate:n3w").decode()]


def test_the_operator_configuration_reaches_the_client(server: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """From the flags (and the chart's environment) to the headers Prometheus receives."""
    (tmp_path / "token").write_text("from-a-secret")
    monkeypatch.setenv("UPLIFT_PROMETHEUS_HEADERS", "X-Scope-OrgID=team-b,X-Extra=1")
    config = parse_args(["-A", "--prometheus-url", _url(server),
                         "--prometheus-bearer-token-file", str(tmp_path / "token")])
    client = prometheus_client(config)
    assert client is not None
    client.fail_fast = FailFast(hold=0)
    client.scalar("sum(up)")
    seen = server.seen[-1]
    assert (seen["Authorization"], seen["X-Scope-OrgID"], seen["X-Extra"]) == (
        "Bearer from-a-secret", "team-b", "1")


def test_credentials_in_the_url_are_sent_but_never_shown(
        server: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = _url(server, userinfo="gate:s3cret@")
    assert shown_url(url) == _url(server)
    client = PrometheusClient(url, fail_fast=FailFast(hold=0))
    assert "s3cret" not in repr(client)
    client.scalar("sum(up)")
    assert server.seen[-1]["Authorization"] == "Basic " + base64.b64encode(b"gate:s3cret").decode()
    # A proxy that echoes the request's header in its error: neither the password nor the
    # header's value reaches the message (a gate's status, an event) or the log.
    echoed = server.seen[-1]["Authorization"]
    server.answer = (401, {"status": "error", "errorType": "unauthorized",
                           "error": f"bad credentials {echoed} (gate:s3cret)"})
    with (caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"),
          pytest.raises(MetricsUnavailable) as refused):
        client.scalar("sum(up)")
    assert refused.value.message == (
        "prometheus answered HTTP 401 (unauthorized): bad credentials Basic *** (***)")
    assert "s3cret" not in caplog.text and echoed.split()[1] not in caplog.text
    assert _url(server) in caplog.text


def test_an_unreachable_prometheus_is_named_without_the_password(
        caplog: pytest.LogCaptureFixture) -> None:
    client = PrometheusClient("http://gate:s3cret@127.0.0.1:1", timeout=2,
                              fail_fast=FailFast(hold=0))
    with (caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"),
          pytest.raises(MetricsUnavailable) as unreachable):
        client.scalar("sum(up)")
    assert unreachable.value.message == (
        "prometheus at http://127.0.0.1:1 is unreachable (connection refused)")
    assert "s3cret" not in caplog.text and "gate:" not in caplog.text


def test_a_token_requests_refuses_to_send_is_not_quoted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A token file with a line break inside: requests refuses the header and quotes its value
    as repr() writes it (the line break escaped), which the raw value does not match."""
    token = tmp_path / "token"
    token.write_text("s3cr3t-part1\nsecond-line-s3cr3t\n")
    client = PrometheusClient("http://127.0.0.1:1", timeout=2, fail_fast=FailFast(hold=0),
                              bearer_token=SecretFile(token))
    with (caplog.at_level(logging.WARNING, logger="uplift_operator.adapters.prometheus"),
          pytest.raises(MetricsUnavailable) as refused):
        client.scalar("sum(up)")
    assert "header value" in caplog.text  # requests' refusal, quoted
    for text in (caplog.text, str(refused.value)):
        assert "s3cr3t" not in text


def test_a_bearer_token_echoed_by_a_proxy_is_not_quoted(server: Any, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-123456")
    client = PrometheusClient(_url(server), bearer_token=SecretFile(tmp_path / "token"),
                              fail_fast=FailFast(hold=0))
    server.answer = (403, {"status": "error", "errorType": "forbidden",
                           "error": "token tok-123456 may not read tenant team-a"})
    with pytest.raises(MetricsUnavailable) as refused:
        client.scalar("sum(up)")
    assert refused.value.message == (
        "prometheus answered HTTP 403 (forbidden): token *** may not read tenant team-a")


# -- a private CA ------------------------------------------------------------------------------


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                 issuer_key: ec.EllipticCurvePrivateKey, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def private_ca(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """An HTTPS server whose certificate a private CA signed; the CA's PEM file."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "uplift test CA")])
    ca = _certificate("uplift test CA", ca_key, ca_name, ca_key, ca=True)
    leaf = _certificate("127.0.0.1", key, ca_name, ca_key, ca=False)
    ca_file, chain, key_file = tmp_path / "ca.crt", tmp_path / "tls.crt", tmp_path / "tls.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(chain, key_file)
    for server in _serve(tls):
        yield server, ca_file


def test_a_private_ca_is_trusted_from_a_file_or_requests_ca_bundle(
        private_ca: tuple[Any, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    server, ca_file = private_ca
    url = _url(server, scheme="https")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(MetricsUnavailable) as untrusted:
        PrometheusClient(url, fail_fast=FailFast(hold=0)).scalar("sum(up)")
    assert untrusted.value.message == f"prometheus at {url} is unreachable (TLS error)"
    # --prometheus-ca-file: that bundle for Prometheus.
    config = parse_args(["-A", "--prometheus-url", url, "--prometheus-ca-file", str(ca_file)])
    client = prometheus_client(config)
    assert client is not None
    client.fail_fast = FailFast(hold=0)
    assert client.scalar("sum(up)") == 5.0
    # The chart's caBundle sets REQUESTS_CA_BUNDLE: the default trust of every client the
    # operator has, Prometheus' and MLflow's (both send with requests, verify=True).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    assert PrometheusClient(url, fail_fast=FailFast(hold=0)).scalar("sum(up)") == 5.0
    server.answer = (200, {"run": {"info": {"run_id": "run-1"},
                                   "data": {"metrics": [{"key": "auuc", "value": 0.3}]}}})
    registry = MlflowRegistry(url, timeout=5, fail_fast=RegistryFailFast(hold=0))
    assert registry.run_metrics("run-1") == {"auuc": 0.3}
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    with pytest.raises(RegistryUnavailable):
        MlflowRegistry(url, timeout=5, fail_fast=RegistryFailFast(hold=0)).run_metrics("run-1")
