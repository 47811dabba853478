"""PromQL metric templates that gates name with ``templateRef``.

Built-in templates read the metric names and labels that MLServer, Seldon's executor and our
uplift runtime export (``docs/runtime.md``). The operator's configuration may add more. A
template is text with ``{{variable}}`` placeholders; ``render`` fills them, each value escaped
for a double-quoted PromQL string (``label_value``), where the templates put them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["BUILTIN_TEMPLATES", "DEFAULT_LATENCY_TEMPLATE", "LATENCY_NEEDS_BUCKETS",
           "TemplateError", "bucket_selector", "label_value", "render", "source_offset",
           "variables_of"]

_VARIABLE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")

#: ``name`` is the gated resource's own name (a Campaign's gates: the Campaign's); ``model`` is
#: the UpliftModel's, the name its serving graph and runtime metrics carry (the same as ``name``
#: in an UpliftModel's gates). The built-in templates read ``model``, so a Campaign's custom gate
#: that names one measures its model's serving graph, not a graph called after the Campaign.
KNOWN_VARIABLES = frozenset({"namespace", "name", "model", "predictor", "version", "interval"})

BUILTIN_TEMPLATES: Mapping[str, str] = {
    # Seldon executor, one series per predictor; labels per integrations.md §1. Inference over
    # REST is service="predictions" (status, metadata, feedback are the others): the latency of
    # what the model answers, not of a health or metadata call.
    "seldon-latency-p95": (
        'histogram_quantile(0.95, sum by (le) (rate(seldon_api_executor_server_requests_seconds_bucket'
        '{namespace="{{namespace}}", deployment_name="{{model}}", predictor_name="{{predictor}}", '
        'service="predictions"}[{{interval}}])))'),
    # The executor creates a code's series when it first sees the code: a predictor without an
    # error yet has no non-2xx series, so the numerator is 0 then, not no data (which would
    # hold the gate Inconclusive). Inference only, as the latency's. The code is all it sees: a
    # request naming a Campaign a version's pods do not know yet (404 unknown_campaign, not the
    # version's doing, left out of the errorRate gate) counts here (docs/runtime.md "Errors").
    "seldon-error-rate": (
        '(sum(rate(seldon_api_executor_server_requests_seconds_count{namespace="{{namespace}}", '
        'deployment_name="{{model}}", predictor_name="{{predictor}}", service="predictions", '
        'code!~"2.."}[{{interval}}])) or vector(0))'
        ' / sum(rate(seldon_api_executor_server_requests_seconds_count{namespace="{{namespace}}", '
        'deployment_name="{{model}}", predictor_name="{{predictor}}", service="predictions"}'
        "[{{interval}}]))"),
    # MLServer's own REST metrics (no version label: scoped by the predictor's pods). `path` is
    # the route template: inference only (`/v2/models/{model_name}[/versions/…]/infer`), not
    # the runtime's report routes (/uplift/v1/...) nor health and metadata calls.
    "mlserver-latency-p95": (
        "histogram_quantile(0.95, sum by (le) (rate(rest_server_request_duration_seconds_bucket"
        '{namespace="{{namespace}}", seldon_deployment_id="{{model}}", '
        'predictor_name="{{predictor}}", path=~"/v2/models/.+/infer"}[{{interval}}])))'),
    # MLServer's inference counters, labelled `model` (MLSERVER_MODEL_NAME, the UpliftModel's
    # name) and `version` (integrations.md §3): `model` keeps two UpliftModels of a namespace
    # serving the same version number (the same predictor name) apart. MLServer 1.7.1 creates
    # the success series at the first success, so a canary failing every request has none:
    # each sum is 0 where its series does not exist yet (no request at all reads NaN, no data).
    "mlserver-error-rate": (
        '(sum(rate(model_infer_request_failure_total{namespace="{{namespace}}", '
        'predictor_name="{{predictor}}", model="{{model}}"}[{{interval}}])) or vector(0)) / '
        '((sum(rate(model_infer_request_success_total{namespace="{{namespace}}", '
        'predictor_name="{{predictor}}", model="{{model}}"}[{{interval}}])) or vector(0)) + '
        '(sum(rate(model_infer_request_failure_total{namespace="{{namespace}}", '
        'predictor_name="{{predictor}}", model="{{model}}"}[{{interval}}])) or vector(0)))'),
    # Our runtime's request histogram, labelled by model, version and endpoint: inference only
    # (endpoint="infer"), as the latency gate's split; the delivery and outcome reports a
    # sender batches are timed on the same histogram (endpoint="deliveries", "outcomes").
    # A latency template's p95 is the canary's shown; the gate judges, and takes the stable's
    # p95 from, the bucket counts since the step started (``bucket_selector``): over an
    # {{interval}} of fewer than two scrapes rate() has no value.
    "uplift-latency-p95": (
        "histogram_quantile(0.95, sum by (le) (rate(uplift_request_duration_seconds_bucket"
        '{namespace="{{namespace}}", model="{{model}}", version="{{version}}", endpoint="infer"}'
        "[{{interval}}])))"),
}


#: The template a latency gate without ``templateRef`` reads: the runtime's own histogram.
DEFAULT_LATENCY_TEMPLATE = "uplift-latency-p95"

#: A PromQL string literal: double- or single-quoted with backslash escapes, or a raw backtick
#: one. A label value may hold any character, ``}`` included (MLServer's ``path`` is the route
#: template, ``/v2/models/{model_name}/infer``; a regex may say ``[0-9]{2,3}``).
_STRING = r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`"""
#: The classic histogram a latency template reads: ``<name>_bucket{<labels>}[<range>]``, its
#: label matchers' quoted values skipped whole. String literals and comments outside a selector
#: are matched (``skip``) so that a ``_bucket`` inside one is never taken for a selector.
_BUCKET_SELECTOR = re.compile(
    r"(?P<skip>" + _STRING + r"|#[^\n]*)"
    + r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*_bucket)\s*"
    + r"(?P<labels>\{(?:[^}\"'`]|" + _STRING + r")*\})?\s*\[[^\]]+\]")

#: Why a latency template that reads no classic histogram is refused (``domain.validation``).
LATENCY_NEEDS_BUCKETS = (
    "a latency gate is judged on the bucket counts of the classic Prometheus histogram its "
    "template reads, so the template must read one's _bucket series over a range "
    "(<name>_bucket{...}[{{interval}}]); this one reads none (a native histogram, a recording "
    "rule: the gate could not count the requests behind its p95)")


def bucket_selector(rendered: str) -> str | None:
    """The ``<name>_bucket{<labels>}`` series a rendered latency template reads over a range
    (the first one), whose bucket counts the latency gate tests; None when it reads no classic
    histogram's buckets (a native histogram, a recording rule): such a template is refused
    (``LATENCY_NEEDS_BUCKETS``), never judged on another histogram than the p95 it shows."""
    for found in _BUCKET_SELECTOR.finditer(rendered):
        if found.group("name") is not None:
            return found.group("name") + (found.group("labels") or "")
    return None


class TemplateError(ValueError):
    """A template uses a variable the operator cannot fill."""


def variables_of(template: str) -> set[str]:
    return set(_VARIABLE.findall(template))


def label_value(value: str) -> str:
    """``value`` escaped for a double-quoted PromQL string (``name="<here>"``): ``\\``,
    ``"`` and a newline, as Prometheus escapes label values. The operator's values are names
    and versions that hold none of them; one that did (a version read from a hand-edited
    status or graph, which the readers drop: ``services.upliftmodel``, ``render.seldon``) stays
    inside its string, a value matching no series, and never adds a selector or an ``or``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``{{variable}}`` placeholders, each value escaped (``label_value``); unknown ones
    raise ``TemplateError``."""
    missing = variables_of(template) - set(values)
    if missing:
        raise TemplateError(f"template variables without a value: {', '.join(sorted(missing))}")
    return _VARIABLE.sub(lambda m: label_value(values[m.group(1)]), template)


def source_offset(template: str, values: Mapping[str, str], offset: int) -> int:
    """Where ``offset`` in ``render(template, values)`` comes from in ``template`` (the start of
    the placeholder when it falls inside a filled-in value), so problems found in the rendered
    query point at what the user wrote."""
    shift = 0
    for match in _VARIABLE.finditer(template):
        start = match.start() + shift
        if offset < start:
            break
        value = (label_value(values[match.group(1)]) if match.group(1) in values
                 else match.group(0))
        if offset < start + len(value):
            return match.start()
        shift += len(value) - len(match.group(0))
    return offset - shift
