"""A weighted, sticky HTTP router in front of the predictors: what Istio + Seldon's executor do.

``POST /seldon/<namespace>/<name>/v2/models/<model>/infer`` (Seldon's ingress path) sends a V2
request to one of the SeldonDeployment's ready predictors by their ``traffic`` weights, sticky
per unit: a unit's position in [0, 1) is the runtime's own version-split position
(``assignment.unit_position`` under ``assignment.VERSION_SALT``: the first 64 bits of SHA-256 of
``<VERSION_SALT>\\0<unit id>``, independent of the holdout hash, which the experiment's salt
keys), so a row reaches the version that owns its unit (``assignment.version_owner``) and is
counted for it, as a hash-routed split would. It falls into one predictor's share, canary first,
so raising the canary weight only moves units from stable to canary and a unit never flips back
and forth. Seldon routes requests, not rows, so the simulator sends one customer per request; a
batch whose units fall into different shares is split and merged back in row order. The answer
gets one extra output, ``predictor``, naming who served each row.

``POST /seldon/<namespace>/<name>/uplift/v1/{deliveries,outcomes}`` forwards reports to the
predictor whose version made the decision (read from the decision id), else to the stable one: a
retired version's reports go to the stable predictor, as a Service would send them once the old
pods are gone.

``GET /metrics`` exports ``seldon_api_executor_server_requests_seconds`` with Seldon's executor
labels (``deployment_name``, ``predictor_name``, ``predictor_version``, ``service``, ``method``,
``code``) plus ``namespace``, so the ``seldon-*`` metric templates work on this machine.

``Route.delay`` adds a fixed latency to one predictor (the ``latency`` scenario's slow node).

``Route.down``: a predictor that was ready and is being restarted keeps its route and weight and
its rows are answered 503 (reports for its decisions too), as Istio keeps a route's weight while
the pods behind it are down; the other predictors' shares are not raised meanwhile.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from uplift_operator.devenv import process
from uplift_operator.runtime import assignment

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def unit_position(unit_id: str) -> float:
    """Where a unit falls in [0, 1) for routing: the runtime's version-split position, so each
    row reaches the version that owns its unit (``runtime.assignment.version_owner``)."""
    return assignment.unit_position(unit_id, assignment.VERSION_SALT)


@dataclass(frozen=True)
class Route:
    """One predictor: its name, version, traffic weight and MLServer URL; ``down`` while it is
    restarted (its share answered 503)."""

    predictor: str
    version: str
    weight: int
    url: str
    canary: bool = False
    delay: float = 0.0
    down: bool = False


def decision_version(decision_id: str) -> str:
    """The version that made a decision: the fourth field of ``<id>~<arm>~<treatment>~<version>``
    (a campaign's decision id carries three more fields after it); "" when there is none."""
    fields = str(decision_id).split("~")
    return fields[3] if len(fields) > 3 else ""


def choose(routes: Sequence[Route], position: float) -> Route:
    """The route whose share holds ``position``; canaries first, then by name (stable order)."""
    ordered = sorted(routes, key=lambda r: (not r.canary, r.predictor))
    total = sum(r.weight for r in ordered)
    if total <= 0:
        return ordered[-1]
    edge = 0.0
    for route in ordered:
        edge += route.weight / total
        if position < edge:
            return route
    return ordered[-1]


def split_rows(body: Mapping[str, Any], unit_key: str,
               routes: Sequence[Route]) -> dict[str, tuple[Route, list[int]]]:
    """Row indices of a V2 request per predictor (rows without a unit id go by row number)."""
    inputs = body.get("inputs", [])
    units = next((i for i in inputs if i.get("name") == unit_key), None)
    n = len(_flat(inputs[0]["data"])) if inputs else 0
    ids = [str(v) for v in _flat(units["data"])] if units is not None else [str(i) for i in range(n)]
    groups: dict[str, tuple[Route, list[int]]] = {}
    for index, unit in enumerate(ids):
        route = choose(routes, unit_position(unit))
        groups.setdefault(route.predictor, (route, []))[1].append(index)
    return groups


def _flat(data: Any) -> list[Any]:
    out: list[Any] = []
    for item in data if isinstance(data, list) else [data]:
        out.extend(_flat(item) if isinstance(item, list) else [item])
    return out


def _subset(body: Mapping[str, Any], rows: list[int]) -> dict[str, Any]:
    inputs = []
    for inp in body.get("inputs", []):
        values = _flat(inp["data"])
        inputs.append({**inp, "shape": [len(rows), 1], "data": [values[i] for i in rows]})
    return {**body, "inputs": inputs}


def merge(n: int, answers: Sequence[tuple[Route, list[int], Mapping[str, Any]]]) -> dict[str, Any]:
    """One V2 response from the predictors' answers, rows back in request order."""
    columns: dict[str, tuple[str, list[Any]]] = {}
    served: list[Any] = [None] * n
    first: Mapping[str, Any] = answers[0][2] if answers else {}
    for route, rows, answer in answers:
        for out in answer.get("outputs", []):
            _, values = columns.setdefault(out["name"], (out["datatype"], [None] * n))
            for row, value in zip(rows, _flat(out["data"]), strict=True):
                values[row] = value
        for row in rows:
            served[row] = route.predictor
    outputs = [{"name": name, "datatype": datatype, "shape": [n, 1], "data": values}
               for name, (datatype, values) in columns.items()]
    outputs.append({"name": "predictor", "datatype": "BYTES", "shape": [n, 1], "data": served})
    return {"model_name": first.get("model_name"), "model_version": first.get("model_version"),
            "parameters": first.get("parameters", {}), "outputs": outputs}


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a scrape timing out) is its business, not a traceback on screen."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class WeightedRouter:
    """``with WeightedRouter() as router: router.set_routes(ns, name, routes, unit_key)``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or process.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._routes: dict[tuple[str, str], tuple[tuple[Route, ...], str]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "seldon_api_executor_server_requests_seconds",
            "Requests through the executor, as Seldon's executor counts them.",
            ["namespace", "deployment_name", "predictor_name", "predictor_version", "service",
             "method", "code"], buckets=BUCKETS, registry=self.registry)
        # (namespace, name) → (the weights in force, predictor) → rows served: what the split did.
        self.served: dict[tuple[str, str], Counter[tuple[tuple[tuple[str, int], ...], str]]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def infer_url(self, namespace: str, name: str, model: str) -> str:
        return f"{self.url}/seldon/{namespace}/{name}/v2/models/{model}/infer"

    def reports_url(self, namespace: str, name: str, kind: str) -> str:
        return f"{self.url}/seldon/{namespace}/{name}/uplift/v1/{kind}"

    def set_routes(self, namespace: str, name: str, routes: Sequence[Route],
                   unit_key: str = "unit_id") -> None:
        """Replace the routed predictors of one SeldonDeployment; an empty list removes it."""
        with self._lock:
            if routes:
                self._routes[(namespace, name)] = (tuple(routes), unit_key)
            else:
                self._routes.pop((namespace, name), None)

    def routes(self, namespace: str, name: str) -> tuple[Route, ...]:
        with self._lock:
            return self._routes.get((namespace, name), ((), ""))[0]

    def served_share(self, namespace: str, name: str) -> tuple[dict[str, float], int]:
        """What the split did under the weights in force: each version's share of the rows
        routed since these weights were set (rather than what they declare; a restarting
        predictor's, answered 503, included), and how many."""
        with self._lock:
            routes = self._routes.get((namespace, name), ((), ""))[0]
            served = self.served.get((namespace, name), Counter())
            weights = tuple(sorted((r.predictor, r.weight) for r in routes))
            counts = {r.version: served.get((weights, r.predictor), 0) for r in routes}
        total = sum(counts.values())
        return ({v: n / total for v, n in counts.items()} if total else {}), total

    def start(self) -> WeightedRouter:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._send(200, generate_latest(router.registry), "text/plain; version=0.0.4")
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, payload = router.handle(self.path, raw)
                self._send(status, json.dumps(payload).encode())

            def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="router",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WeightedRouter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- request handling -------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def handle(self, path: str, raw: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "seldon":
            return 404, {"error": f"no route for {path}"}
        namespace, name, rest = parts[1], parts[2], "/".join(parts[3:])
        with self._lock:
            routes, unit_key = self._routes.get((namespace, name), ((), ""))
        if not routes:
            return 503, {"error": f"no ready predictor for {namespace}/{name}"}
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError as exc:
            return 400, {"error": f"body is not JSON: {exc}"}
        if rest.startswith("v2/models/") and rest.endswith("/infer"):
            return self._infer(namespace, name, rest, body, routes, unit_key)
        if rest in ("uplift/v1/deliveries", "uplift/v1/outcomes"):
            return self._reports(rest, body, routes)
        return 404, {"error": f"no route for {path}"}

    def _infer(self, namespace: str, name: str, rest: str, body: Mapping[str, Any],
               routes: Sequence[Route], unit_key: str) -> tuple[int, Any]:
        groups = split_rows(body, unit_key, routes)
        n = sum(len(rows) for _, rows in groups.values())
        weights = tuple(sorted((r.predictor, r.weight) for r in routes))
        with self._lock:
            served = self.served.setdefault((namespace, name), Counter())
            for route, rows in groups.values():
                served[(weights, route.predictor)] += len(rows)
        answers = []
        for route, rows in groups.values():
            if route.down:  # no endpoint behind the route: Istio's 503, the weight unchanged
                return 503, {"error": f"predictor {route.predictor}: no ready process "
                                      "(restarting)"}
            started = time.perf_counter()
            if route.delay:
                time.sleep(route.delay)
            try:
                response = self._session().post(f"{route.url}/{rest}", json=_subset(body, rows),
                                                timeout=30)
                code, answer = response.status_code, response.json()
            except (requests.RequestException, ValueError) as exc:
                code, answer = 503, {"error": f"predictor {route.predictor}: {exc}"}
            self.latency.labels(namespace, name, route.predictor, route.version, "predictions",
                                "POST", str(code)).observe(time.perf_counter() - started)
            if code != 200:
                return code, answer
            answers.append((route, rows, answer))
        return 200, merge(n, answers)

    def _reports(self, rest: str, body: Any, routes: Sequence[Route]) -> tuple[int, Any]:
        kind = rest.rsplit("/", 1)[1]
        items = body.get(kind, []) if isinstance(body, Mapping) else body
        stable = max(routes, key=lambda r: (not r.canary, r.weight))
        by_version = {r.version: r for r in routes}
        groups: dict[str, tuple[Route, list[Any]]] = {}
        for item in items:
            route = by_version.get(decision_version(item.get("decision_id", "")), stable)
            groups.setdefault(route.predictor, (route, []))[1].append(item)
        accepted = 0
        for route, group in groups.values():
            if route.down:
                return 503, {"error": f"predictor {route.predictor}: no ready process "
                                      "(restarting)"}
            try:
                response = self._session().post(f"{route.url}/{rest}", json={kind: group},
                                                timeout=30)
            except requests.RequestException as exc:
                return 503, {"error": f"predictor {route.predictor}: {exc}"}
            if response.status_code != 200:
                return response.status_code, response.json()
            accepted += int(response.json().get("accepted", 0))
        return 200, {"accepted": accepted}
