"""A customer simulator with a known ground truth: the marketing system, replayed from Hillstrom.

Customers are Hillstrom rows drawn at random (``rate`` per second) and sent
through the router as a marketing system would: one V2 request per customer, the customer id as the
unit key, and ``parameters.campaign`` when a Campaign is configured (``campaign``; None, the
default, names none: with a campaigns file mounted the runtime refuses a campaign it does not
have with a 404). For every decision it reports, as the
campaign's delivery and analytics systems would:

* a delivery for each treated row that got a treatment, a fraction of a second later: ``ok``,
  or ``failed`` for a ``delivery_failure`` share of them (a campaign whose e-mails bounce);
* an outcome within the attribution window: a conversion after an exponential delay (capped
  ``CONVERSION_SLACK`` before the window closes, so that the send, up to a flush interval later,
  still lands inside it: a conversion after the window is late, not counted), or
  ``converted: false`` when the window closes.

Reports are delivered at least once, as a production reporter does: a batch the router or the
runtime refuses (a predictor being retired mid-promotion answers 503) is sent again with back-off,
up to ``REPORT_ATTEMPTS`` times, before it counts as an error; the runtime acknowledges a report it
already counted without counting it twice, so a batch half-accepted before the failure is safe.

**Ground truth.** Whether a customer converts (visits, Hillstrom's ``visit``) is drawn from
``GroundTruth``: the empirical visit rate of the customer's cell (mens × womens × newbie ×
recency band) under the e-mail actually sent, or under no e-mail (holdout rows and ``none``
decisions), estimated on all 64,000 randomised customers. A scenario sets each version's online
effect as a multiplier on that probability for treated rows the version decided
(``multipliers``; a version without one: 1.0, "as the data says"): 1.4 a better version, 0.5
a harmful one, so the right decision is known before the run starts. The demo sets them afresh
at each scenario's start (``scenarios.multipliers``): only the new version has one, so the
serving stable converts at 1.0 whatever its own scenario gave it. ``population`` narrows who arrives (drift).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import requests

from uplift_operator.devenv.router import WeightedRouter, decision_version

NUMERIC_INT = ("recency", "mens", "womens", "newbie")
NUMERIC_FLOAT = ("history",)
CATEGORICAL = ("zip_code", "channel")
ARMS = {"No E-Mail": "none", "Mens E-Mail": "mens_e_mail", "Womens E-Mail": "womens_e_mail"}
PRIOR_WEIGHT = 50.0  # pseudo-observations pulling small cells towards their arm's mean
REPORT_ATTEMPTS = 4  # sends of a report batch before it counts as an error
REPORT_BACKOFF = 0.5  # seconds before the first resend; doubled after each failed attempt
FLUSH_INTERVAL = 0.5  # seconds between two sends of the reports that fell due
CONVERSION_SLACK = 2 * FLUSH_INTERVAL  # a conversion is sent at the latest this before the window


def _campaign_of(decision_id: str) -> str:
    """The campaign a decision id names (its fifth field), "" for a plain model decision."""
    fields = str(decision_id).split("~")
    return fields[4] if len(fields) > 6 else ""


class GroundTruth:
    """Conversion probability per customer and treatment key (``none`` = no e-mail)."""

    def __init__(self, frame: Any) -> None:
        recency = frame["recency"].to_numpy()
        band = np.digitize(recency, [4, 9])
        cell = (frame["mens"].to_numpy() * 2 + frame["womens"].to_numpy()) * 2
        cell = (cell + frame["newbie"].to_numpy()) * 3 + band
        self.cell = cell.astype(np.int64)
        y = frame["visit"].to_numpy(dtype=np.float64)
        arm = frame["segment"].astype(str).map(ARMS).to_numpy()
        self.rates: dict[str, npt.NDArray[np.float64]] = {}
        n_cells = int(self.cell.max()) + 1
        for key in ARMS.values():
            mask = arm == key
            mean = float(y[mask].mean())
            hits = np.bincount(self.cell[mask], weights=y[mask], minlength=n_cells)
            counts = np.bincount(self.cell[mask], minlength=n_cells)
            self.rates[key] = (hits + PRIOR_WEIGHT * mean) / (counts + PRIOR_WEIGHT)

    def probability(self, rows: npt.NDArray[np.int64], treatment: str) -> npt.NDArray[np.float64]:
        rates: npt.NDArray[np.float64] = self.rates.get(treatment, self.rates["none"])
        return np.asarray(rates[self.cell[rows]], dtype=np.float64)

    def mean_rate(self, treatment: str) -> float:
        return float(self.probability(np.arange(len(self.cell)), treatment).mean())


@dataclass
class Tally:
    """What the simulator saw: rows served, decisions by version and arm, outcomes it drew."""

    requests: int = 0
    errors: int = 0
    rows: int = 0
    deliveries: int = 0
    outcomes: int = 0
    retries: int = 0  # report batches sent again after a refusal (not errors: they got through)
    last_error: str = ""

    def __post_init__(self) -> None:
        self.by_predictor: Counter[str] = Counter()
        self.units: Counter[tuple[str, str]] = Counter()        # (version, arm) → rows
        self.conversions: Counter[tuple[str, str]] = Counter()  # (version, arm) → drawn


class CustomerSimulator:
    """Replays customers through ``router`` for one SeldonDeployment, until stopped."""

    def __init__(self, router: WeightedRouter, namespace: str, name: str, data: Path, *,
                 rate: float = 200.0, campaign: str | None = None, unit_key: str = "customer_id",
                 attribution_window: float = 8.0, mean_delay: float = 2.0,
                 batch_interval: float = 0.25, workers: int = 6, seed: int = 2026) -> None:
        import pandas as pd

        self.frame = pd.read_csv(data)
        self.truth = GroundTruth(self.frame)
        self.infer_url = router.infer_url(namespace, name, name)
        self.reports_url = {k: router.reports_url(namespace, name, k)
                            for k in ("deliveries", "outcomes")}
        self.rate, self.campaign, self.unit_key = rate, campaign, unit_key
        self.window, self.mean_delay, self.batch_interval = (attribution_window, mean_delay,
                                                             batch_interval)
        self.multipliers: dict[str, float] = {}
        self.delivery_failure = 0.0  # share of deliveries reported as failed
        self.population: npt.NDArray[np.int64] = np.arange(len(self.frame))
        self.tally = Tally()
        self._rng = np.random.default_rng(seed)
        self._deck: list[int] = []  # the population shuffled; customers are dealt from its end
        self._columns = self._encode_columns()
        # (due, tie-breaker, kind, report, attempts so far)
        self._queue: list[tuple[float, int, str, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._tally_lock = threading.Lock()
        self._stop = threading.Event()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="customer")
        self._threads = [threading.Thread(target=self._customers, name="customers", daemon=True),
                         threading.Thread(target=self._reports, name="reports", daemon=True)]
        self.paused = True
        #: Why a loop's thread ended, when an exception ended it ("" otherwise): what
        #: ``DemoStack.check_alive`` says rather than a wait's timeout minutes later.
        self.failure = ""
        self._started = False

    def _encode_columns(self) -> dict[str, tuple[str, list[Any]]]:
        f = self.frame
        cols: dict[str, tuple[str, list[Any]]] = {}
        for name in NUMERIC_INT:
            cols[name] = ("INT64", f[name].astype(int).tolist())
        for name in NUMERIC_FLOAT:
            cols[name] = ("FP64", f[name].astype(float).tolist())
        for name in CATEGORICAL:
            cols[name] = ("BYTES", f[name].astype(str).tolist())
        return cols

    def start(self) -> CustomerSimulator:
        self._started = True
        for thread in self._threads:
            thread.start()
        return self

    def dead_thread(self) -> str | None:
        """The name of a loop's thread that ended while it should run (started, not stopped),
        else None (what ``DemoStack.check_alive`` asks; ``failure`` says why)."""
        if not self._started or self._stop.is_set():
            return None
        for thread in self._threads:
            if not thread.is_alive():
                return thread.name
        return None

    def _fatal(self, loop: str, error: BaseException) -> None:
        """Record what ended ``loop`` (its thread then returns)."""
        why = f"{loop}: {type(error).__name__}: {error}"[:300]
        with self._tally_lock:
            self.failure = self.failure or why
            self.tally.last_error = why[:200]

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def set_population(self, mask: npt.NDArray[np.bool_] | None) -> None:
        """Only customers where ``mask`` is true arrive from now on (None: everyone)."""
        self.population = (np.arange(len(self.frame)) if mask is None
                           else np.flatnonzero(mask).astype(np.int64))
        self._deck = []

    def _arrivals(self, n: int) -> npt.NDArray[np.int64]:
        """``n`` customers, none again before the whole population came: the router is sticky
        per customer, so a customer drawn twice while a split holds would count twice for the
        same predictor and over-disperse the per-row traffic-split check (rows, not units)."""
        out: list[int] = []
        while len(out) < n:
            if not self._deck:
                self._deck = self._rng.permutation(self.population).tolist()
            out.append(self._deck.pop())
        return np.asarray(out, dtype=np.int64)

    def body(self, rows: npt.NDArray[np.int64]) -> dict[str, Any]:
        inputs = [{"name": name, "datatype": datatype, "shape": [len(rows), 1],
                   "data": [values[i] for i in rows]}
                  for name, (datatype, values) in self._columns.items()]
        inputs.append({"name": self.unit_key, "datatype": "BYTES", "shape": [len(rows), 1],
                       "data": [f"c{i}" for i in rows]})
        if self.campaign is None:
            return {"inputs": inputs}
        return {"inputs": inputs, "parameters": {"campaign": self.campaign}}

    # --- the two loops ------------------------------------------------------------------

    def _customers(self) -> None:
        try:
            self._customers_loop()
        except Exception as error:  # recorded; check_alive names it
            self._fatal("customers", error)

    def _customers_loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at = max(next_at + self.batch_interval, time.monotonic() - 1.0)  # no bursts
            if not self.paused:
                n = int(self._rng.poisson(self.rate * self.batch_interval))
                if n:
                    # One customer per request, as a marketing system calling per customer: a
                    # request is routed whole (Seldon splits requests, not rows).
                    rows = self._arrivals(n)
                    list(self._pool.map(self.send, [rows[i:i + 1] for i in range(n)]))
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def send(self, rows: npt.NDArray[np.int64]) -> None:
        """One request for ``rows``; schedules its deliveries and outcomes."""
        with self._tally_lock:
            self.tally.requests += 1
        try:
            self._send(rows)
        except Exception as exc:  # never kill the customer loop
            with self._tally_lock:
                self.tally.errors += 1
                self.tally.last_error = f"{type(exc).__name__}: {exc}"[:200]

    def _send(self, rows: npt.NDArray[np.int64]) -> None:
        response = self._session.post(self.infer_url, json=self.body(rows), timeout=30)
        answer = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {answer.get('error', answer)}")
        out = {o["name"]: o["data"] for o in answer["outputs"]}
        with self._tally_lock:
            self._record(rows, out)

    def _record(self, rows: npt.NDArray[np.int64], out: Mapping[str, Any]) -> None:
        t = self.tally
        now = time.monotonic()
        arms, given, ids = out["arm"], out["treatment"], out["decision_id"]
        served = out.get("predictor", ["?"] * len(rows))
        for i, row in enumerate(rows.tolist()):
            # <id>~<arm>~<treatment>~<version>[~<campaign>~<issued>~<window>]
            version = decision_version(ids[i])
            arm, treatment = arms[i], given[i]
            t.rows += 1
            t.by_predictor[served[i]] += 1
            t.units[(version, arm)] += 1
            probability = float(self.truth.probability(np.array([row]), treatment)[0])
            if arm == "treated" and treatment != "none":
                probability = min(1.0, probability * self.multipliers.get(version, 1.0))
                failed = bool(self._rng.random() < self.delivery_failure)
                self.schedule(now + 0.3, "deliveries", {"decision_id": ids[i],
                                                        "status": "failed" if failed else "ok"})
            converted = bool(self._rng.random() < probability)
            if converted:
                t.conversions[(version, arm)] += 1
                delay = min(float(self._rng.exponential(self.mean_delay)),
                            max(self.window - CONVERSION_SLACK, 0.0))
            else:
                delay = self.window
            self.schedule(now + delay, "outcomes", {"decision_id": ids[i],
                                                    "converted": converted,
                                                    "value": 1.0 if converted else 0.0})

    def schedule(self, due: float, kind: str, item: dict[str, Any], attempts: int = 0) -> None:
        """Queue one report (``kind``: deliveries or outcomes) to be sent at ``due``."""
        with self._lock:
            heapq.heappush(self._queue, (due, next(self._order), kind, item, attempts))

    def _reports(self) -> None:
        try:
            while not self._stop.wait(FLUSH_INTERVAL):
                self.flush(time.monotonic())
        except Exception as error:  # recorded; check_alive names it
            self._fatal("reports", error)

    def flush(self, now: float) -> None:
        """Send every report due by ``now``, batched per kind and attempt; a refused batch is
        scheduled again with back-off until ``REPORT_ATTEMPTS`` sends failed."""
        due: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        with self._lock:
            while self._queue and self._queue[0][0] <= now:
                _, _, kind, item, attempts = heapq.heappop(self._queue)
                due[(kind, attempts)].append(item)
        for (kind, attempts), items in due.items():
            failure = self._post_reports(kind, items)
            with self._tally_lock:
                if failure is None:
                    if kind == "deliveries":
                        self.tally.deliveries += len(items)
                    else:
                        self.tally.outcomes += len(items)
                elif attempts + 1 < REPORT_ATTEMPTS:
                    self.tally.retries += 1
                else:
                    self.tally.errors += 1
                    self.tally.last_error = failure
            if failure is not None and attempts + 1 < REPORT_ATTEMPTS:
                for item in items:
                    self.schedule(now + REPORT_BACKOFF * 2 ** attempts, kind, item, attempts + 1)

    def drain_deliveries(self, campaign: str, timeout: float = 5.0) -> bool:
        """Wait until the delivery reports queued for ``campaign``'s decisions were sent (False
        if ``timeout`` passed first). The runtime counts a report under the campaign its
        decision id names, so a report still in flight when the Campaign is deleted and one of
        the same name applied would be counted in the new one's first step (docs/demo.md)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                queued = any(kind == "deliveries" and _campaign_of(item["decision_id"]) == campaign
                             for _, _, kind, item, _ in self._queue)
            if not queued:
                # The last batch may be on its way: one flush period more.
                time.sleep(FLUSH_INTERVAL + 0.1)
                return True
            time.sleep(0.1)
        return False

    def _post_reports(self, kind: str, items: list[dict[str, Any]]) -> str | None:
        """Send one batch; None when it was accepted, else why not."""
        try:
            response = self._session.post(self.reports_url[kind], json={kind: items}, timeout=30)
        except requests.RequestException as exc:
            return f"{kind}: {exc}"[:200]
        if response.status_code == 200:
            return None
        return f"{kind}: {response.status_code} {response.text[:150]}"

    def conversion_rates(self) -> Mapping[tuple[str, str], float]:
        """Drawn conversion rate per (version, arm) so far (the ground truth, realised)."""
        t = self.tally
        return {k: t.conversions[k] / n for k, n in t.units.items() if n}
