"""What Prometheus says of its scrape targets, for the message of a wait that timed out: it
tells traffic never sent from traffic sent but never scraped."""

from __future__ import annotations

import json
import urllib.request


def scrape_health(prometheus_url: str) -> str:
    """Each active target: its namespace label, URL, health and last error (never raises)."""
    if not prometheus_url:
        return "prometheus: unknown"
    try:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=5) as response:
            active = json.load(response)["data"]["activeTargets"]
    except Exception as error:  # diagnostics only: never hide the real failure
        return f"prometheus targets unreadable: {error!r}"
    return "prometheus targets: " + "; ".join(
        f"{t.get('labels', {}).get('namespace')} {t.get('scrapeUrl')} {t.get('health')} "
        f"last scrape {t.get('lastScrapeDuration')} s error {t.get('lastError')!r}"
        for t in active)
