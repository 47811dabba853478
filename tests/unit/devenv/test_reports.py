"""Reports on their way to the runtimes: the router sends each to the version that decided, and
the simulator sends a refused batch again (at least once) before calling it an error.

The predictors here are small recording HTTP servers: what is under test is where the router
and the simulator send reports and when they give up, not the runtime that counts them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from uplift_operator.devenv import simulator as simulator_module
from uplift_operator.devenv.router import Route, WeightedRouter, decision_version
from uplift_operator.devenv.simulator import CustomerSimulator

PLAIN = "0123abcd.mac~treated~mens_e_mail~2"
CAMPAIGN = "0123abcd.mac~treated~mens_e_mail~2~spring~1764806400~604800"


class Predictor:
    """Accepts every report batch and remembers the decision ids it got, per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        predictor = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                kind = self.path.rsplit("/", 1)[1]
                predictor.received += [(kind, item["decision_id"]) for item in body[kind]]
                data = json.dumps({"accepted": len(body[kind])}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def predictors() -> Iterator[tuple[Predictor, Predictor]]:
    pair = (Predictor(), Predictor())
    yield pair
    for predictor in pair:
        predictor.close()


@pytest.fixture
def router() -> Iterator[WeightedRouter]:
    with WeightedRouter() as started:
        yield started


@pytest.fixture
def customers(tmp_path: Path) -> Path:
    """Four Hillstrom-shaped customers: enough for the simulator to load its ground truth."""
    path = tmp_path / "customers.csv"
    path.write_text(
        "recency,history,mens,womens,zip_code,newbie,channel,segment,visit\n"
        "10,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0\n"
        "6,329.08,1,1,Rural,1,Web,No E-Mail,1\n"
        "7,180.65,0,1,Surburban,1,Web,Womens E-Mail,0\n"
        "2,45.34,1,0,Urban,0,Web,Mens E-Mail,1\n")
    return path


def test_the_deciding_version_is_read_from_plain_and_campaign_decision_ids() -> None:
    assert decision_version(PLAIN) == "2"
    assert decision_version(CAMPAIGN) == "2", "not the attribution window at the end"
    assert decision_version("not-a-decision") == ""


def test_reports_reach_the_version_that_decided_else_the_stable_one(
        router: WeightedRouter, predictors: tuple[Predictor, Predictor]) -> None:
    stable, canary = predictors
    router.set_routes("ns", "m", [Route("v1", "1", 70, stable.url),
                                  Route("v2", "2", 30, canary.url, canary=True)])
    retired = CAMPAIGN.replace("~2~", "~0~")
    status, answer = router.handle("/seldon/ns/m/uplift/v1/outcomes", json.dumps(
        {"outcomes": [{"decision_id": d, "converted": False}
                      for d in (PLAIN, CAMPAIGN, retired)]}).encode())
    assert (status, answer) == (200, {"accepted": 3})
    assert canary.received == [("outcomes", PLAIN), ("outcomes", CAMPAIGN)]
    assert stable.received == [("outcomes", retired)]


def test_a_refused_batch_is_sent_again_after_back_off_and_counted_once(
        router: WeightedRouter, predictors: tuple[Predictor, Predictor], customers: Path) -> None:
    stable, _ = predictors
    sim = CustomerSimulator(router, "ns", "m", customers)  # not started: flush drives it
    sim.schedule(10.0, "outcomes", {"decision_id": PLAIN, "converted": True, "value": 1.0})
    sim.flush(10.0)  # no ready predictor: the router answers 503
    assert (sim.tally.retries, sim.tally.errors, sim.tally.outcomes) == (1, 0, 0)
    sim.flush(10.0 + simulator_module.REPORT_BACKOFF / 2)
    assert stable.received == [] and sim.tally.retries == 1, "not before its back-off"
    router.set_routes("ns", "m", [Route("v1", "1", 100, stable.url)])
    sim.flush(10.0 + simulator_module.REPORT_BACKOFF)
    assert stable.received == [("outcomes", PLAIN)]
    assert (sim.tally.retries, sim.tally.errors, sim.tally.outcomes) == (1, 0, 1)
    sim.flush(1000.0)
    assert stable.received == [("outcomes", PLAIN)], "sent once it got through"


def test_a_batch_refused_every_time_becomes_one_error_after_the_last_attempt(
        router: WeightedRouter, customers: Path) -> None:
    sim = CustomerSimulator(router, "ns", "m", customers)
    sim.schedule(0.0, "deliveries", {"decision_id": PLAIN, "status": "ok"})
    now = 0.0
    for attempt in range(simulator_module.REPORT_ATTEMPTS):
        assert sim.tally.errors == 0
        sim.flush(now)
        now += simulator_module.REPORT_BACKOFF * 2 ** attempt
    assert sim.tally.retries == simulator_module.REPORT_ATTEMPTS - 1
    assert sim.tally.errors == 1 and "503" in sim.tally.last_error
    sim.flush(now + 1000.0)
    assert sim.tally.errors == 1, "given up: not sent again"


def test_a_campaigns_queued_deliveries_are_drained_before_it_goes(
        router: WeightedRouter, predictors: tuple[Predictor, Predictor], customers: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One in flight when the Campaign is deleted would count in the next Campaign of its name.
    stable, _ = predictors
    router.set_routes("ns", "m", [Route("v2", "2", 100, stable.url)])
    monkeypatch.setattr(simulator_module, "FLUSH_INTERVAL", 0.0)
    sim = CustomerSimulator(router, "ns", "m", customers)  # not started: flush drives it
    sim.schedule(0.0, "deliveries", {"decision_id": CAMPAIGN, "status": "failed"})
    sim.schedule(0.0, "deliveries", {"decision_id": PLAIN, "status": "ok"})
    assert not sim.drain_deliveries("spring", timeout=0.3)  # nothing sends them yet
    assert sim.drain_deliveries("other", timeout=0.3)  # none of its own queued
    sim.flush(1.0)
    assert sim.drain_deliveries("spring", timeout=0.3)
    assert sim.tally.deliveries == 2
