"""Simulated campaign traffic, exported with the runtime's own metric definitions.

``CampaignTraffic`` plays what the uplift runtime counts for one campaign's decisions, deliveries
and outcomes (docs/runtime.md "Campaigns") through ``uplift_operator.runtime.metrics.RuntimeMetrics``
on a registry a test-controlled endpoint serves to a real Prometheus (typically the same registry
as ``tests.support.traffic.RuntimeTraffic``). A background thread adds one tick of decisions per
interval at the exposure the runtime would apply: the campaign's entry in the model's
``<model>-campaigns`` ConfigMap (``exposurePercent`` when ``active``, else nothing), read from the
real API server as the kubelet would project it. Counts are deterministic (fractions carried
between ticks), so the holdout split is exact and a test's rates are the rates the gates see.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from uplift_operator.runtime.metrics import RuntimeMetrics


@dataclass(frozen=True)
class CampaignProfile:
    """Per-second decisions of the campaign at 100 % exposure; ``rps=0``: none at all."""

    rps: int = 2000
    holdout_fraction: float = 0.5
    delivery_rate: float = 1.0
    holdout_conversion: float = 0.10
    treated_conversion: float = 0.30
    cost: float = 0.1
    # conversions of treated units reported after the attribution window (counted as late only)
    late_treated_conversion: float = 0.0


class _Carry:
    """Integer counts out of fractional rates, the remainders carried to the next tick."""

    def __init__(self) -> None:
        self.rest: dict[str, float] = {}

    def take(self, key: str, amount: float) -> int:
        total = self.rest.get(key, 0.0) + amount
        whole = int(total)
        self.rest[key] = total - whole
        return whole


class CampaignTraffic:
    """Counts of campaign ``campaign`` of model ``model``, decided by ``version``."""

    def __init__(self, metrics: RuntimeMetrics, model: str, campaign: str,
                 exposure: Callable[[], float], version: str = "1",
                 treatment: str = "womens_e_mail", tick: float = 0.5) -> None:
        self.metrics, self.model, self.campaign = metrics, model, campaign
        self.exposure, self.version, self.treatment, self.tick = exposure, version, treatment, tick
        self.profile = CampaignProfile(rps=0)
        self.emitted: dict[str, float] = {}  # totals, by what was counted
        self.applied: list[float] = []  # each exposure read from the file that differed
        self.tick_errors: list[str] = []
        self._carry = _Carry()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="campaign-traffic", daemon=True)

    def start(self) -> CampaignTraffic:
        self._export_zero()
        self._thread.start()
        return self

    def follow_version(self, version: str) -> None:
        """Decide by ``version`` from now on (the model promoted it), its series exported at
        zero first as the runtime's are."""
        with self._lock:
            self.version = version
            self._export_zero()

    def _export_zero(self) -> None:
        # Every series at zero before the first decision, as the runtime exports them at load:
        # a series born inside a PromQL range loses its first increments.
        for arm in ("treated", "holdout"):
            for counter in (self.metrics.assignments, self.metrics.windowed_decisions,
                            self.metrics.outcomes,
                            self.metrics.conversions, self.metrics.late_outcomes,
                            self.metrics.outcomes_expected, self.metrics.outcomes_received,
                            self.metrics.outcomes_converted):
                counter.labels(**self._arm(arm))
        for status in ("ok", "failed"):
            self.metrics.deliveries.labels(**self._arm("treated"), status=status)
        self.metrics.campaign_spend.labels(**self._base())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def set(self, profile: CampaignProfile | None = None, **changes: object) -> None:
        with self._lock:
            self.profile = replace(profile or self.profile, **changes)  # type: ignore[arg-type]

    def _base(self) -> dict[str, str]:
        return {"model": self.model, "version": self.version, "campaign": self.campaign}

    def _arm(self, arm: str) -> dict[str, str]:
        return {**self._base(), "arm": arm, "treatment": self.treatment}

    def _count(self, key: str, counter: object, amount: float) -> None:
        n = self._carry.take(key, amount)
        if n > 0:
            counter.inc(n)  # type: ignore[attr-defined]
            self.emitted[key] = self.emitted.get(key, 0) + n

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                percent = self.exposure()
            except Exception:  # the API server restarting: no decisions this tick
                continue
            if not self.applied or self.applied[-1] != percent:
                self.applied.append(percent)
            with self._lock:
                try:
                    self._tick(percent)
                except Exception as error:  # one bad tick must not stop all traffic
                    self.tick_errors.append(repr(error))

    def diagnostics(self) -> str:
        """Exposures followed, what was counted, tick errors and the exposure's read error."""
        with self._lock:
            counted = {k: round(v) for k, v in sorted(self.emitted.items())}
            errors = (f"; tick errors (last 3 of {len(self.tick_errors)}): "
                      f"{self.tick_errors[-3:]}" if self.tick_errors else "")
        read_error = getattr(self.exposure, "last_error", None)
        unread = f"; exposure read error: {read_error}" if read_error else ""
        return (f"campaign traffic: exposures followed {self.applied}, counted {counted}"
                f"{errors}{unread}")

    def _tick(self, percent: float) -> None:
        """One tick of decisions at ``percent`` (under the lock)."""
        p = self.profile
        exposed = p.rps * percent / 100 * self.tick
        if exposed <= 0:
            return
        m = self.metrics
        for arm, share, rate in (("holdout", p.holdout_fraction, p.holdout_conversion),
                                 ("treated", 1 - p.holdout_fraction, p.treated_conversion)):
            units = exposed * share
            labels = self._arm(arm)
            self._count(f"{arm}.units", m.assignments.labels(**labels), units)
            self._count(f"{arm}.windowed", m.windowed_decisions.labels(**labels), units)
            self._count(f"{arm}.outcomes", m.outcomes.labels(**labels), units)
            self._count(f"{arm}.conversions", m.conversions.labels(**labels), units * rate)
            # Every outcome comes at once: each tick's decisions are a closed cohort too.
            self._count(f"{arm}.expected", m.outcomes_expected.labels(**labels), units)
            self._count(f"{arm}.received", m.outcomes_received.labels(**labels), units)
            self._count(f"{arm}.converted", m.outcomes_converted.labels(**labels), units * rate)
        treated = exposed * (1 - p.holdout_fraction)
        self._count("treated.late", m.late_outcomes.labels(**self._arm("treated")),
                    treated * p.late_treated_conversion)
        self._count("delivered", m.deliveries.labels(**self._arm("treated"), status="ok"),
                    treated * p.delivery_rate)
        self._count("failed", m.deliveries.labels(**self._arm("treated"), status="failed"),
                    treated * (1 - p.delivery_rate))
        self._count("spend", m.campaign_spend.labels(**self._base()), treated * p.cost)


class ConfigMapExposure:
    """The exposure the runtime applies for ``campaign``: its entry of ``<model>-campaigns``
    (``exposurePercent`` when ``active``, else 0; no entry: 0), read at most twice a second."""

    def __init__(self, api: object, namespace: str, model: str, campaign: str) -> None:
        self.api, self.namespace, self.model, self.campaign = api, namespace, model, campaign
        self.read_at = 0.0
        self.percent = 0.0
        self.last_error = ""  # the last read's failure, for diagnostics

    def __call__(self) -> float:
        import time

        if time.monotonic() - self.read_at >= 0.5:
            self.read_at = time.monotonic()
            try:
                cm = self.api.read_namespaced_config_map(  # type: ignore[attr-defined]
                    f"{self.model}-campaigns", self.namespace)
                doc = json.loads((cm.data or {}).get("campaigns.json", "{}"))
                entry = doc.get("campaigns", {}).get(self.campaign)
                self.percent = (float(entry.get("exposurePercent", 0))
                                if entry is not None and entry.get("active", True) else 0.0)
                self.last_error = ""
            except Exception as error:  # not written yet, or gone with its model
                self.percent = 0.0
                self.last_error = repr(error)[:300]
        return self.percent
