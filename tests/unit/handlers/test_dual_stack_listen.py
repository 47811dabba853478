"""The operator's /healthz, /readyz and /metrics listen on both IP families (``::`` with
``IPV6_V6ONLY`` off), and on ``0.0.0.0`` on a host without IPv6: bound to ``0.0.0.0`` alone, an
IPv6-only cluster's probes (to the pod's IPv6 address) were refused and the pod restarted for
ever; ``[::]`` given to kopf or aiohttp as a host is IPv6 alone (asyncio sets ``IPV6_V6ONLY``).
Only a host without IPv6 falls back to ``0.0.0.0`` (with a WARNING): any other failure on ``::``
(the port held there, even by an IPv6-only socket) is raised, not an IPv4 socket in its place.
Real sockets: each server is reached over 127.0.0.1 and, where the test host has IPv6, [::1]."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import kopf
import pytest

from uplift_operator.handlers import main as entry
from uplift_operator.handlers import observability, readiness
from uplift_operator.settings import OperatorConfig


def _host_has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


IPV6 = _host_has_ipv6()
#: The test's own sockets, whatever the no_ipv6 fixture makes of socket.socket.
_SOCKET = socket.socket
needs_ipv6 = pytest.mark.skipif(not IPV6, reason="the test host has no IPv6 (::1)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _connects(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _SOCKET(family, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        try:
            client.connect((host, port))
        except ConnectionRefusedError:
            return False
    return True


def _get(host: str, port: int, path: str) -> tuple[int, str]:
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def _loopbacks() -> list[str]:
    return ["127.0.0.1", "::1"] if IPV6 else ["127.0.0.1"]


@pytest.fixture
def no_ipv6(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host without IPv6: the kernel refuses AF_INET6 sockets."""
    real = socket.socket

    def refusing(family: int = socket.AF_INET, *args: Any, **kwargs: Any) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real(family, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", refusing)


@needs_ipv6
def test_the_socket_takes_both_families() -> None:
    with observability.listening_socket(0) as sock:
        port = sock.getsockname()[1]
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        assert _connects("::1", port) and _connects("127.0.0.1", port)


def test_without_ipv6_the_socket_is_ipv4_on_every_address(
        no_ipv6: None, caplog: pytest.LogCaptureFixture) -> None:
    with (caplog.at_level(logging.WARNING, logger=observability.__name__),
          observability.listening_socket(0) as sock):
        port = sock.getsockname()[1]
        assert sock.family == socket.AF_INET and sock.getsockname()[0] == "0.0.0.0"
        assert _connects("127.0.0.1", port)
    [record] = [r for r in caplog.records if r.name == observability.__name__]
    assert record.levelno == logging.WARNING
    assert "IPv4 alone" in record.getMessage() and "refuses IPv6" in record.getMessage()


def _bind_on_ipv6_fails(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """AF_INET6 sockets whose bind fails with ``code``."""
    real = socket.socket

    class Failing(real):  # type: ignore[misc,valid-type]
        def bind(self, address: Any) -> None:
            if self.family == socket.AF_INET6:
                raise OSError(code, os.strerror(code))
            super().bind(address)

    monkeypatch.setattr(socket, "socket", Failing)


def test_no_ipv6_address_to_bind_falls_back_to_ipv4_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _bind_on_ipv6_fails(monkeypatch, errno.EADDRNOTAVAIL)
    with (caplog.at_level(logging.WARNING, logger=observability.__name__),
          observability.listening_socket(0) as sock):
        assert sock.family == socket.AF_INET and sock.getsockname()[0] == "0.0.0.0"
    [record] = [r for r in caplog.records if r.name == observability.__name__]
    assert record.levelno == logging.WARNING and "[::]" in record.getMessage()


@pytest.mark.parametrize("code", [errno.EACCES, errno.EADDRINUSE], ids=["EACCES", "EADDRINUSE"])
def test_any_other_failure_on_ipv6_is_raised_not_an_ipv4_socket(
        code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _bind_on_ipv6_fails(monkeypatch, code)
    with pytest.raises(OSError, match=os.strerror(code)) as raised:
        observability.listening_socket(0).close()
    assert raised.value.errno == code


@needs_ipv6
def test_a_port_held_on_ipv6_alone_is_an_error_not_an_ipv4_socket() -> None:
    """``[::]:port`` taken by an IPV6_V6ONLY socket: 0.0.0.0:port is still free, but a socket
    there would leave an IPv6-only cluster's probes refused, with nothing in the log."""
    with _SOCKET(socket.AF_INET6, socket.SOCK_STREAM) as held:
        held.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        held.bind(("::", 0))
        held.listen(1)
        port = held.getsockname()[1]
        with pytest.raises(OSError, match="in use") as raised:
            observability.listening_socket(port).close()
    assert raised.value.errno == errno.EADDRINUSE


def test_a_port_in_use_is_an_error_not_another_family() -> None:
    with (observability.listening_socket(0) as taken,
          pytest.raises(OSError, match="in use") as raised):
        observability.listening_socket(taken.getsockname()[1]).close()
    assert raised.value.errno == errno.EADDRINUSE


@contextlib.contextmanager
def _metrics_served() -> Iterator[int]:
    port = _free_port()
    server = observability.serve(port)
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("ipv6", [True, False], ids=["dual-stack", "no-ipv6"])
def test_metrics_answer_over_every_family_the_host_has(
        ipv6: bool, request: pytest.FixtureRequest) -> None:
    if ipv6 and not IPV6:
        pytest.skip("the test host has no IPv6 (::1)")
    if not ipv6:
        request.getfixturevalue("no_ipv6")
    with _metrics_served() as port:
        for host in _loopbacks() if ipv6 else ["127.0.0.1"]:
            status, body = _get(host, port, "/metrics")
            assert status == 200 and "uplift_operator_" in body, host
        if not ipv6 and IPV6:
            assert not _connects("::1", port)


@pytest.mark.parametrize("ipv6", [True, False], ids=["dual-stack", "no-ipv6"])
def test_healthz_and_readyz_answer_over_every_family_the_host_has(
        ipv6: bool, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through readiness.start as kopf runs it: /readyz at once, /healthz once kopf's start-up is
    through (the event kopf sets as ``ready_flag``), both on every address."""
    if ipv6 and not IPV6:
        pytest.skip("the test host has no IPv6 (::1)")
    if not ipv6:
        request.getfixturevalue("no_ipv6")

    async def no_checks(*_: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(readiness, "_check_forever", no_checks)
    monkeypatch.setattr(readiness, "surface_paused_watches", lambda *_: None)
    hosts = _loopbacks() if ipv6 else ["127.0.0.1"]
    live, ready = _free_port(), _free_port()
    config = OperatorConfig(all_namespaces=True, liveness_port=live, readiness_port=ready)

    async def scenario() -> None:
        started = asyncio.Event()
        memo = kopf.Memo({"config": config, readiness.KOPF_STARTED: started})
        # kopf's handlers, called as kopf calls them (its types want every kwarg kopf passes).
        start: Any = readiness.start
        stop: Any = readiness.stop
        await start(memo=memo)
        try:
            for host in hosts:
                status, body = await asyncio.to_thread(_get, host, ready, "/readyz")
                assert status == 503 and "not been checked yet" in body, (host, status, body)
                # Before kopf's start-up is through: nothing listens on /healthz's port.
                assert not await asyncio.to_thread(_connects, host, live)
            started.set()
            for _ in range(100):
                await asyncio.sleep(0.01)
                if "uplift_liveness_runner" in memo and memo["uplift_liveness_runner"].sites:
                    break
            for host in hosts:
                assert await asyncio.to_thread(_get, host, live, "/healthz") == (200, "{}"), host
        finally:
            await stop(memo=memo)

    asyncio.run(scenario())


def test_the_operator_serves_healthz_itself_once_kopf_says_it_started(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf's own liveness endpoint is off (its URL's host is one family); kopf raises the
    event readiness.start hands to serve_healthz."""
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(kopf, "run", lambda **kwargs: runs.append(kwargs))
    monkeypatch.setattr(kopf, "configure", lambda **_: None)
    try:
        assert entry.main(["--all-namespaces", "--standalone"]) == 0
    finally:
        from uplift_operator.handlers import kopf_toggles
        kopf_toggles.uninstall()
    [run] = runs
    assert run["liveness_endpoint"] is None
    assert isinstance(run["ready_flag"], asyncio.Event)
    assert run["memo"][readiness.KOPF_STARTED] is run["ready_flag"]
