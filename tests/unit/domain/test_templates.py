"""The built-in metric templates, rendered as the collectors render them and evaluated by
Prometheus's own engine (``promtool test rules``, from the Debian prometheus package:
``scripts/install-prometheus.sh``) over the series MLServer, Seldon's executor and our runtime
export: what each selects, and what it answers where a series does not exist yet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from uplift_operator.domain import promql
from uplift_operator.domain.templates import BUILTIN_TEMPLATES, render

#: As ``GateContext.variables`` fills them for canary version 4 of UpliftModel hillstrom-uplift.
VARIABLES = {"namespace": "shop", "name": "hillstrom-uplift", "model": "hillstrom-uplift",
             "version": "4", "predictor": "v4", "interval": "5m"}
#: Per minute, over 20 minutes; evaluated at the 10th (rates per second: a sixtieth).
PER_MINUTE = "0+{}x20"


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_every_builtin_template_parses_once_rendered(name: str) -> None:
    assert promql.check(render(BUILTIN_TEMPLATES[name], VARIABLES)) is None


def evaluated(name: str, series: dict[str, int], expected: float | None,
              tmp_path: Path) -> None:
    """Assert that template ``name``, rendered with ``VARIABLES``, evaluates to ``expected``
    (None: no sample) over counters growing by the given amounts a minute."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/install-prometheus.sh installs it"
    case = {"expr": render(BUILTIN_TEMPLATES[name], VARIABLES), "eval_time": "10m",
            "exp_samples": [] if expected is None else [{"labels": "{}", "value": expected}]}
    test = {"tests": [{"interval": "1m", "promql_expr_test": [case], "input_series": [
        {"series": s, "values": PER_MINUTE.format(n)} for s, n in series.items()]}]}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    ran = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr


SELDON = 'namespace="shop", deployment_name="hillstrom-uplift", predictor_version="4", method="POST"'


@pytest.mark.parametrize(("name", "series", "other"), [
    # The runtime times the sender's report batches on the same histogram.
    ("uplift-latency-p95",
     'uplift_request_duration_seconds_bucket{namespace="shop", model="hillstrom-uplift", '
     'version="4", endpoint="infer", le="LE"}',
     'endpoint="outcomes"'),
    # Seldon's executor over REST: inference is service="predictions".
    ("seldon-latency-p95",
     f'seldon_api_executor_server_requests_seconds_bucket{{{SELDON}, predictor_name="v4", '
     'service="predictions", code="200", le="LE"}',
     'service="metadata"'),
    # MLServer's REST histogram: path is the route template; the runtime's report routes are
    # timed on it too.
    ("mlserver-latency-p95",
     'rest_server_request_duration_seconds_bucket{namespace="shop", '
     'seldon_deployment_id="hillstrom-uplift", predictor_name="v4", method="POST", '
     'path="/v2/models/{model_name}/infer", le="LE"}',
     'path="/uplift/v1/outcomes"'),
])
def test_latency_templates_read_inference_requests_only(name: str, series: str, other: str,
                                                        tmp_path: Path) -> None:
    # Inference: every request within 0.05 s (its p95 interpolated at 0.95 × 0.05 s). The other
    # requests, nine times as many: every one slower than 0.1 s (mixed in, the p95 is 0.1 s).
    counts = {series.replace("LE", le): 60 for le in ("0.05", "0.1", "+Inf")}
    slow = series.replace('endpoint="infer"', other).replace('service="predictions"', other)
    slow = slow.replace('path="/v2/models/{model_name}/infer"', other)
    counts |= {slow.replace("LE", "0.05"): 0, slow.replace("LE", "0.1"): 0,
               slow.replace("LE", "+Inf"): 540}
    evaluated(name, counts, 0.95 * 0.05, tmp_path)


def test_seldon_error_rate_of_a_predictor_without_errors_is_zero(tmp_path: Path) -> None:
    # Seldon's executor creates a code's series when it first sees the code: a canary with no
    # error yet has no non-2xx series, and its error rate is 0, not no data.
    ok = f'seldon_api_executor_server_requests_seconds_count{{{SELDON}, predictor_name="v4", ' \
         'service="predictions", code="200"}'
    evaluated("seldon-error-rate", {ok: 60}, 0.0, tmp_path)
    failed = ok.replace('code="200"', 'code="500"')
    evaluated("seldon-error-rate", {ok: 45, failed: 15}, 0.25, tmp_path)


def test_seldon_error_rate_counts_inference_requests_only(tmp_path: Path) -> None:
    ok = f'seldon_api_executor_server_requests_seconds_count{{{SELDON}, predictor_name="v4", ' \
         'service="predictions", code="200"}'
    refused_metadata = ok.replace('service="predictions"', 'service="metadata"').replace(
        'code="200"', 'code="404"')
    evaluated("seldon-error-rate", {ok: 60, refused_metadata: 60}, 0.0, tmp_path)


def test_mlserver_error_rate_is_one_models(tmp_path: Path) -> None:
    # Two UpliftModels in one namespace, both serving a version 4 (predictor v4): the other's
    # failures are not this one's.
    ours = 'namespace="shop", predictor_name="v4", model="hillstrom-uplift", version="4"'
    theirs = ours.replace("hillstrom-uplift", "churn-uplift")
    evaluated("mlserver-error-rate", {
        f"model_infer_request_success_total{{{ours}}}": 60,
        f"model_infer_request_failure_total{{{ours}}}": 0,
        f"model_infer_request_success_total{{{theirs}}}": 0,
        f"model_infer_request_failure_total{{{theirs}}}": 60}, 0.0, tmp_path)


def test_mlserver_error_rate_of_a_canary_failing_every_request_is_one(tmp_path: Path) -> None:
    # MLServer creates the failure series at a request, the success series at its first success.
    ours = 'namespace="shop", predictor_name="v4", model="hillstrom-uplift", version="4"'
    evaluated("mlserver-error-rate", {f"model_infer_request_failure_total{{{ours}}}": 60},
              1.0, tmp_path)
