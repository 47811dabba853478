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


def series_values(prometheus_url: str, queries: dict[str, str]) -> str:
    """Each named PromQL query's result as Prometheus answers it now (never raises): tells
    counts Prometheus holds from counts the operator could not read."""
    import urllib.parse

    if not prometheus_url:
        return "prometheus: unknown"
    answers = []
    for name, promql in queries.items():
        url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                result = json.load(response)["data"]["result"]
            values = [(r.get("metric", {}), r.get("value", [None, None])[1]) for r in result]
            answers.append(f"{name}: {values or 'empty'}")
        except Exception as error:  # diagnostics only: never hide the real failure
            answers.append(f"{name}: unreadable ({error!r})")
    return "prometheus now: " + "; ".join(answers)
