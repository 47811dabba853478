"""``kubectl uplift status|promote|abort|retry|rollback|pause|resume NAME``: manual control.

Every action is declarative: promote, abort, retry and rollback write a request annotation with a
fresh token (``domain.requests.parse_requests`` reads them), which the operator acts on once and
records in ``status.handledRequests``; pause and resume set ``spec.rollout.paused`` (in a GitOps
setup, commit that field to Git instead).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from typing import Any

from uplift_operator.adapters.kube import KubeCluster, KubeError, current_namespace
from uplift_operator.api.v1alpha1 import API_VERSION
from uplift_operator.domain import requests as annotations

__all__ = ["COMMANDS", "main"]

PLURAL = "upliftmodels"
COMMANDS = ("status", "promote", "abort", "retry", "rollback", "pause", "resume")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="kubectl uplift", description=__doc__)
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("name", help="UpliftModel name")
    parser.add_argument("-n", "--namespace", default=None)
    parser.add_argument("--full", action="store_true",
                        help="promote: skip the remaining steps and promote now")
    args = parser.parse_args(list(argv))
    namespace = args.namespace or current_namespace()
    cluster = KubeCluster()
    try:
        if args.command == "status":
            body = cluster.get(API_VERSION, PLURAL, namespace, args.name)
            if body is None:
                print(f"upliftmodel {namespace}/{args.name} not found", file=sys.stderr)
                return 1
            print(render_status(body))
            return 0
        patch = _patch_for(args.command, args.full)
        cluster.merge_patch(API_VERSION, PLURAL, namespace, args.name, patch)
    except KubeError as error:
        print(f"kubectl uplift {args.command}: {error}", file=sys.stderr)
        return 1
    print(f"upliftmodel {namespace}/{args.name}: {args.command} requested")
    return 0


def _patch_for(command: str, full: bool) -> dict[str, Any]:
    if command in ("pause", "resume"):
        return {"spec": {"rollout": {"paused": command == "pause"}}}
    token = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    if command == "promote":
        return {"metadata": {"annotations": {
            annotations.PROMOTE_ANNOTATION: f"{'full' if full else 'step'}:{token}"}}}
    key = {"abort": annotations.ABORT_ANNOTATION, "retry": annotations.RETRY_ANNOTATION,
           "rollback": annotations.EMERGENCY_ROLLBACK_ANNOTATION}[command]
    return {"metadata": {"annotations": {key: token}}}


def render_status(body: dict[str, Any]) -> str:
    """A human summary of an UpliftModel's status: the ramp, the gates and the last decisions."""
    meta, spec, status = body["metadata"], body.get("spec", {}), body.get("status", {})
    steps = spec.get("rollout", {}).get("steps", [])
    step = status.get("currentStep")
    lines = [
        f"Name:      {meta['namespace']}/{meta['name']}",
        f"Phase:     {status.get('phase', '-')}  {status.get('message', '')}".rstrip(),
        f"Stable:    {status.get('stableVersion') or '-'}",
        f"Canary:    {status.get('canaryVersion') or '-'}  weight {status.get('canaryWeight', 0)}%"
        + (f"  step {step + 1}/{len(steps)}" if step is not None and steps else ""),
        f"Paused:    {spec.get('rollout', {}).get('paused', False)}",
    ]
    gates = status.get("gates", [])
    if gates:
        lines.append("Gates:")
        for gate in gates:
            value = gate.get("value")
            threshold = gate.get("threshold")
            lines.append(
                f"  {gate['name']:<16} {gate['verdict']:<12} value={_fmt(value)} "
                f"threshold={_fmt(threshold)} samples={gate.get('samples', '-')}  "
                f"{gate.get('message', '')}".rstrip())
    history = status.get("history", [])
    if history:
        lines.append("History (newest last):")
        lines += [f"  {h['time']}  {h['action']:<18} v{h.get('version', '-')}  "
                  f"{h.get('reason', '')} ({h.get('actor', 'operator')})" for h in history[-10:]]
    conditions = status.get("conditions", [])
    if conditions:
        lines.append("Conditions:")
        lines += [f"  {c['type']:<14} {c['status']:<7} {c['reason']}: {c.get('message', '')}"
                  for c in conditions]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
