"""Simulated serving traffic, exported with the runtime's own metric definitions.

``RuntimeTraffic`` plays what the uplift runtime would count for each model version — requests,
errors, latency, holdout/treated assignments and conversions (outcomes come at once: each tick's
decisions are also a closed cohort), feature bins, predicted uplift —
through ``uplift_operator.runtime.metrics.RuntimeMetrics`` on a registry that a test-controlled
endpoint serves to a real Prometheus. A background thread adds one tick of traffic per interval,
following each version's ``Profile``, which a test changes to make a gate pass, fail or go dark.
Once ``follow`` gives it the serving graph's weights, each version gets its weight's share of
its profile's rate, as a weighted router would send it (the gates check the realised split).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from tests.support.metrics_endpoint import MetricsEndpoint
from uplift_operator.runtime.metrics import RuntimeMetrics


@dataclass(frozen=True)
class Profile:
    """Per-second traffic of one version at 100 % of the traffic; ``rps=0``: none at all."""

    rps: int = 200
    error_rate: float = 0.0
    latency: float = 0.004
    holdout_fraction: float = 0.1
    holdout_conversion: float = 0.10
    treated_conversion: float = 0.16
    # feature -> bin counts shape per tick (drift: shift the mass to other bins)
    feature_bins: dict[str, tuple[int, ...]] = field(default_factory=dict)
    mean_uplift: float = 0.03
    uplift_spread: float = 0.02


class RuntimeTraffic:
    """Counts for ``model`` at each version in ``profiles``, served on ``endpoint``."""

    def __init__(self, model: str, treatment: str = "womens_e_mail", tick: float = 0.5,
                 seed: int = 7) -> None:
        self.endpoint = MetricsEndpoint()
        self.metrics = RuntimeMetrics(self.endpoint.registry)
        self.model = model
        self.treatment = treatment
        self.tick = tick
        self.profiles: dict[str, Profile] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._weights: Callable[[], dict[str, int]] | None = None
        # What a failed test needs to tell "no traffic sent" from "sent but not scraped".
        self.sent: dict[str, int] = {}
        self.last_split: dict[str, int] = {}
        self.tick_errors: list[str] = []

    def follow(self, weights: Callable[[], dict[str, int]]) -> None:
        """Scale each version's rate by its weight in ``weights()`` (version → percent), read
        every tick; a version absent from a non-empty split gets no traffic."""
        self._weights = weights

    def start(self) -> RuntimeTraffic:
        self.endpoint.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.endpoint.stop()

    def set(self, version: str, profile: Profile | None = None, **changes: object) -> None:
        """Set (or change fields of) the profile of ``version``."""
        with self._lock:
            base = profile or self.profiles.get(version, Profile())
            self.profiles[version] = replace(base, **changes)  # type: ignore[arg-type]
            # Export the version's series at zero before its first request, as the runtime does
            # at model load: a series born inside a PromQL range loses its first increments.
            m, labels = self.metrics, (self.model, version)
            m.request_duration.labels(*labels, "infer")
            for arm in ("holdout", "treated"):
                for counter in (m.assignments, m.outcomes, m.conversions, m.outcomes_expected,
                                m.outcomes_received, m.outcomes_converted, m.windowed_decisions):
                    counter.labels(*labels, arm, self.treatment, "")  # campaign: none

    def diagnostics(self) -> str:
        """Rows sent per version, the split the last tick followed, and tick errors."""
        errors = f"; tick errors (last 3 of {len(self.tick_errors)}): {self.tick_errors[-3:]}" \
            if self.tick_errors else ""
        follower = getattr(self._weights, "describe", None)
        followed = f" ({follower()})" if callable(follower) else ""
        return (f"traffic sent (rows per version) {self.sent}, split followed "
                f"{self.last_split}{followed}{errors}")

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self._tick()
            except Exception as error:  # one bad tick must not stop all traffic
                self.tick_errors.append(repr(error))

    def _tick(self) -> None:
        with self._lock:
            profiles = dict(self.profiles)
        split = self._weights() if self._weights is not None else {}
        self.last_split = dict(split)
        for version, profile in profiles.items():
            share = split.get(version, 0) / 100 if split else 1.0
            self._emit(version, profile, share)

    def _emit(self, version: str, p: Profile, share: float = 1.0) -> None:
        n = round(p.rps * share * self.tick)
        if n <= 0:
            return
        self.sent[version] = self.sent.get(version, 0) + n
        m, rng, base = self.metrics, self._rng, (self.model, version)
        errors = sum(rng.random() < p.error_rate for _ in range(n))
        # As the runtime: a refused request is counted as an error and not timed, so the
        # requests a version got are the timed ones plus the refused ones (errorRate's split).
        # Timing all n as well made an erroring canary's share of requests look 1 + error_rate
        # times its weight: a sample ratio mismatch that raced its rollback.
        for _ in range(n - errors):
            m.request_duration.labels(*base, "infer").observe(p.latency * (0.8 + 0.4 * rng.random()))
        if errors:
            m.errors.labels(*base, "infer", "invalid_input").inc(errors)
        m.rows_scored.labels(*base, "").inc(n)
        holdout = sum(rng.random() < p.holdout_fraction for _ in range(n))
        for arm, units, rate in (("holdout", holdout, p.holdout_conversion),
                                 ("treated", n - holdout, p.treated_conversion)):
            if units:
                m.assignments.labels(*base, arm, self.treatment, "").inc(units)
                converted = sum(rng.random() < rate for _ in range(units))
                m.outcomes.labels(*base, arm, self.treatment, "").inc(units)
                if converted:
                    m.conversions.labels(*base, arm, self.treatment, "").inc(converted)
                # Every outcome comes at once, so each decision's attribution window closes
                # with the tick that decided it (the runtime counts cohorts when it closes).
                m.windowed_decisions.labels(*base, arm, self.treatment, "").inc(units)
                m.outcomes_expected.labels(*base, arm, self.treatment, "").inc(units)
                m.outcomes_received.labels(*base, arm, self.treatment, "").inc(units)
                if converted:
                    m.outcomes_converted.labels(*base, arm, self.treatment, "").inc(converted)
        for feature, shape in p.feature_bins.items():
            total = sum(shape)
            for index, weight in enumerate(shape):
                count = round(n * weight / total) if total else 0
                if count:
                    m.feature_bins.labels(*base, feature, str(index)).inc(count)
        m.observe_uplift(self.model, version, self.treatment,
                         [rng.gauss(p.mean_uplift, p.uplift_spread) for _ in range(n)])
