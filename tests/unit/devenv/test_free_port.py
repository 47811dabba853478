"""``devenv.process.free_port``: the local components' ports lie outside the ephemeral range,
where any outgoing connection could take one between its choice and the server's bind (an MLflow
start failed so: "address already in use", 4 s after the port was chosen)."""

from __future__ import annotations

import random
import socket

from uplift_operator.devenv.process import LOWEST_PORT, ephemeral_range, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    low, _ = ephemeral_range()
    for seed in range(20):
        port = free_port(random.Random(seed))
        assert LOWEST_PORT <= port < low
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_taken_is_passed_over() -> None:
    taken = free_port(random.Random(1))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        # The same draw again: its first pick is the port held, so another comes back.
        assert free_port(random.Random(1)) != taken


def test_the_range_is_read_from_the_kernels_text_or_linuxs_default() -> None:
    assert ephemeral_range("1024\t65535\n") == (1024, 65535)
    assert ephemeral_range("garbage") == (32768, 60999)
