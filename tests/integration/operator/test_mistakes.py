"""Acceptance of issue #11 (operator side): realistic mistakes, applied as a careless user would,
each get a clear answer and change nothing.

- Schema-level mistakes are refused by the real API server with the field named: all of them in
  one ``kubectl create --dry-run=server`` (the answers come back in order, one per object).
- Context-level mistakes — what only the operator can judge (the model version the spec
  resolves to in the real MLflow, the credentials Secret, PromQL, the schedule, the referenced
  UpliftModel) — are applied in one batch and waited for together: each ends in its expected
  phase with the problem named in ``status.message``, and nothing is deployed for it (no
  SeldonDeployment, no decision-key Secret; a campaign exposes 0 %).
- The operator's log has no traceback.

One namespace and one apply for all of them, then one poll loop: no per-case sleeps.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.kube import Kubectl, OperatorProcess
from tests.support.mutations import DELETE, Mutation, all_of, set_path
from tests.support.registry import Versions

from uplift_operator.devenv import process
from uplift_operator.devenv.seldon_standin import SeldonStandIn

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"
MODEL: dict[str, Any] = yaml.safe_load((SAMPLES / "upliftmodel.yaml").read_text())
CAMPAIGN: dict[str, Any] = yaml.safe_load((SAMPLES / "campaign.yaml").read_text())
GOOD = "good"  # a valid UpliftModel the campaigns refer to (it serves)


def _all(*mutations: Mutation) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        for m in mutations:
            m(body)
    return mutate


def _gate(gate: dict[str, Any], index: int = 0) -> Mutation:
    return set_path(f"spec.rollout.gates.{index}", gate)


def _campaign_gate(gate: dict[str, Any]) -> Mutation:
    return set_path("spec.exposure.gates.0", gate)


def _annotate(key: str, value: str) -> Mutation:
    return lambda body: body["metadata"].setdefault("annotations", {}).update({key: value})


def _credentials(secret: str, **keys: str) -> Mutation:
    return set_path("spec.model.credentials", {"name": secret, **keys})


# -- schema level: refused by the API server ------------------------------------------------------

# (name, base manifest, mutation, substrings the API server's answer must contain)
SCHEMA: list[tuple[str, dict[str, Any], Mutation, list[str]]] = [
    ("no-rollout", MODEL, set_path("spec.rollout", DELETE), ["spec.rollout: Required value"]),
    ("version-and-alias", MODEL, set_path("spec.model.version", "3"),
     ["spec.model", "set exactly one of version or alias"]),
    ("weights-decreasing", MODEL, set_path("spec.rollout.steps", [{"weight": 50}, {"weight": 25}]),
     ["spec.rollout.steps", "strictly increasing"]),
    ("weight-percent-string", MODEL, set_path("spec.rollout.steps.0.weight", "10%"),
     ["spec.rollout.steps[0].weight", "must be of type integer"]),
    ("weight-over-100", MODEL, set_path("spec.rollout.steps.2.weight", 150),
     ["spec.rollout.steps[2].weight", "less than or equal to 100"]),
    ("holdout-one", MODEL, set_path("spec.experiment.holdoutFraction", 1.0),
     ["spec.experiment.holdoutFraction", "less than 1"]),
    ("duration-in-words", MODEL, set_path("spec.rollout.analysisInterval", "5 minutes"),
     ["spec.rollout.analysisInterval", "should match"]),
    ("unknown-gate-type", MODEL, set_path("spec.rollout.gates.0.type", "accuracy"),
     ["spec.rollout.gates[0].type", "Unsupported value"]),
    ("custom-without-query", MODEL, _gate({"name": "c", "type": "custom", "max": 1}),
     ["spec.rollout.gates[0]", "a custom gate needs a query or a templateRef"]),
    ("query-and-template", MODEL,
     _gate({"name": "c", "type": "custom", "query": "up", "templateRef": "uplift-latency-p95",
            "max": 1}), ["spec.rollout.gates[0]", "set either query or templateRef, not both"]),
    ("min-above-max", MODEL, set_path("spec.rollout.gates.0.min", 1.0),
     ["spec.rollout.gates[0]", "min must not exceed max"]),
    # latency, errorRate and qini judge a margin left without marginType as relative.
    ("relative-margin-150-percent", MODEL, set_path("spec.rollout.gates.1.margin", 1.5),
     ["spec.rollout.gates[1].margin", "a relative margin must be below 1"]),
    ("relative-margin-written-out", MODEL, all_of(
        set_path("spec.rollout.gates.4.margin", 1.0),
        set_path("spec.rollout.gates.4.marginType", "relative")),
     ["spec.rollout.gates[4].margin", "a relative margin must be below 1"]),
    # A field the gate's type never reads is refused rather than silently ignored.
    ("min-on-an-online-effect-gate", MODEL, set_path("spec.rollout.gates.4.min", 0.0),
     ["spec.rollout.gates[4].min", "min applies to qini, upliftSanity and custom gates only"]),
    ("expected-samples-on-an-error-rate-gate", MODEL,
     set_path("spec.rollout.gates.1.expectedSamples", 5000),
     ["spec.rollout.gates[1].expectedSamples",
      "expectedSamples applies to drift, qini, onlineEffect and upliftSanity gates only"]),
    ("margin-on-a-campaign-gate", CAMPAIGN,
     _campaign_gate({"name": "roi-margin", "type": "roi", "margin": 2, "marginType": "relative"}),
     ["spec.exposure.gates[0].margin", "margin applies to no Campaign gate",
      "spec.exposure.gates[0].marginType", "marginType applies to no Campaign gate"]),
    ("duplicate-gate-names", MODEL, set_path("spec.rollout.gates.1.name", "latency"),
     ["spec.rollout.gates", "gates[].name must be unique"]),
    ("duplicate-treatments", MODEL, set_path("spec.treatments.1.name", "mens-e-mail"),
     ["spec.treatments", "treatments[].name must be unique"]),
    ("treatment-display-name", MODEL, set_path("spec.treatments.0.name", "Mens E-Mail"),
     ["spec.treatments[0].name", "should match"]),
    ("duplicate-features", MODEL, set_path("spec.features.1.name", "recency"),
     ["spec.features[1]", "Duplicate value"]),
    ("feature-type-string", MODEL, set_path("spec.features.0.type", "string"),
     ["spec.features[0].type", "Unsupported value"]),
    ("categories-on-numeric", MODEL, set_path("spec.features.0.categories", ["a"]),
     ["spec.features[0]", "categories are only allowed on categorical features"]),
    ("replicas-zero", MODEL, set_path("spec.serving.replicas", 0),
     ["spec.serving.replicas", "greater than or equal to 1"]),
    ("version-latest", MODEL, set_path("spec.model", {"registeredModel": "m", "version": "latest"}),
     ["spec.model.version", "should match"]),
    ("tracking-uri-without-scheme", MODEL, set_path("spec.model.trackingUri", "mlflow:5000"),
     ["spec.model.trackingUri", "should match"]),
    ("half-credentials", MODEL, _credentials("mlflow", usernameKey="user"),
     ["spec.model.credentials", "usernameKey and passwordKey must be set together"]),
    ("promotion-alias-is-followed", MODEL, set_path("spec.model.promotionAlias", "champion"),
     ["spec.model", "promotionAlias must differ from the alias being followed"]),
    ("last-step-100-online-effect", MODEL, set_path("spec.rollout.steps.2.weight", 100),
     ["spec.rollout.steps", "a last step at weight 100 leaves the stable version no traffic"]),
    ("rollout-field-typo", MODEL, set_path("spec.rollout.step", [{"weight": 10}]),
     ['unknown field "spec.rollout.step"']),
    ("negative-cost", CAMPAIGN, set_path("spec.economics.costPerTreatment", -0.1),
     ["spec.economics.costPerTreatment", "greater than or equal to 0"]),
    ("zero-budget", CAMPAIGN, set_path("spec.economics.budget", 0),
     ["spec.economics.budget", "greater than 0"]),
    ("currency-in-words", CAMPAIGN, set_path("spec.economics.currency", "dollars"),
     ["spec.economics.currency", "should match"]),
    ("schedule-reversed", CAMPAIGN,
     set_path("spec.schedule", {"start": "2026-12-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),
     ["spec.schedule", "schedule.end must be after schedule.start"]),
    ("schedule-not-a-time", CAMPAIGN, set_path("spec.schedule.start", "next monday"),
     ["spec.schedule.start", "date-time"]),
    ("schedule-year-zero", CAMPAIGN, set_path("spec.schedule.start", "0000-01-01T00:00:00Z"),
     ["spec.schedule.start", "should match"]),
    ("schedule-before-year-1-in-utc", CAMPAIGN,
     set_path("spec.schedule.start", "0001-01-01T00:30:00+01:00"),
     ["spec.schedule.start", "must lie within the years 0001-9999 in UTC"]),
    ("exposure-decreasing", CAMPAIGN,
     set_path("spec.exposure.steps", [{"percent": 50}, {"percent": 5}]),
     ["spec.exposure.steps", "strictly increasing"]),
    ("exposure-percent-zero", CAMPAIGN, set_path("spec.exposure.steps.0.percent", 0),
     ["spec.exposure.steps[0].percent", "greater than 0"]),
    ("threshold-policy-without-min", CAMPAIGN, set_path("spec.targeting", {"policy": "upliftThreshold"}),
     ["spec.targeting", "policy upliftThreshold needs minUplift"]),
    ("unknown-policy", CAMPAIGN, set_path("spec.targeting.policy", "greedy"),
     ["spec.targeting.policy", "Unsupported value"]),
    ("attribution-in-words", CAMPAIGN, set_path("spec.experiment.attributionWindow", "2 weeks"),
     ["spec.experiment.attributionWindow", "should match"]),
    ("campaign-without-model", CAMPAIGN, set_path("spec.modelRef", DELETE),
     ["spec.modelRef: Required value"]),
    # Once the operator's (InvalidSpec) though they need no context: an edit the API server
    # took stopped a live Campaign. The operator still refuses them of an object stored before
    # the rules (unit tests/unit/domain/test_validation.py).
    ("gate-treatment-unknown", MODEL, set_path("spec.rollout.gates.3.treatments", ["sms"]),
     ["spec.rollout.gates", "a gate's treatments must be treatments of spec.treatments"]),
    ("pause-shorter-than-interval", MODEL, set_path("spec.rollout.steps.0.pause", "10s"),
     ["spec.rollout.steps", "steps[].pause must be at least analysisInterval"]),
    ("interval-below-a-second", MODEL, set_path("spec.rollout.analysisInterval", "500ms"),
     ["spec.rollout.analysisInterval", "analysisInterval must be at least 1s"]),
    ("alias-refresh-below-a-second", MODEL, set_path("spec.model.aliasRefreshInterval", "100ms"),
     ["spec.model.aliasRefreshInterval", "aliasRefreshInterval must be at least 1s"]),
    ("budget-below-one-treatment", CAMPAIGN, set_path("spec.economics.budget", 0.05),
     ["spec.economics.budget", "must pay for one treatment at least"]),
    ("campaign-pause-short", CAMPAIGN, set_path("spec.exposure.steps.0.pause", "1m"),
     ["spec.exposure.steps", "steps[].pause must be at least analysisInterval"]),
    ("campaign-interval-below-a-second", CAMPAIGN,
     set_path("spec.exposure.analysisInterval", "200ms"),
     ["spec.exposure.analysisInterval", "analysisInterval must be at least 1s"]),
]


# -- context level: judged by the operator ---------------------------------------------------------

@dataclass
class Case:
    """A resource with one mistake; ``says`` must be in its status.message once it is in
    ``phase``. ``deploys``: whether something is deployed for it all the same (a valid resource
    with a bad annotation)."""

    name: str
    kind: str
    mutate: Mutation
    says: list[str]
    phase: str = "Degraded"
    deploys: bool = False
    secret: dict[str, str] | None = None  # a Secret <name>-creds with these string values
    event: str = "InvalidSpec"  # a Warning event with this reason must be there


def _model_case(name: str, mutate: Mutation, says: list[str], **kw: Any) -> Case:
    return Case(name, "UpliftModel", mutate, says, **kw)


def _campaign_case(name: str, mutate: Mutation, says: list[str], **kw: Any) -> Case:
    return Case(name, "Campaign", _all(set_path("spec.modelRef.name", GOOD), mutate), says, **kw)


CUSTOM = {"name": "probe", "type": "custom", "max": 1.0}
TOKEN = "uplift-mistakes-token-7c1d"

CONTEXT: list[Case] = [
    _model_case("unknown-template", set_path("spec.rollout.gates.0.templateRef", "p95-latency"),
                ["gates[0] (latency).templateRef: metric template 'p95-latency' does not exist"]),
    _model_case("query-unbalanced-paren", _gate({**CUSTOM, "query": (
        'sum(rate(uplift_outcomes_total{namespace="{{namespace}}"}[{{interval}}])')}),
        ["gates[0] (probe).query: PromQL does not parse at column 4",
         "unclosed left parenthesis"]),
    _model_case("query-empty", _gate({**CUSTOM, "query": ""}),
                ["gates[0] (probe).query is empty"]),
    _model_case("query-unknown-variable", _gate({**CUSTOM, "query": 'up{job="{{job}}"}'}),
                ["gates[0] (probe).query: unknown variables job"]),
    _model_case("query-duration-in-words", _gate({**CUSTOM, "query": "rate(up[5 minutes])"}),
                ["PromQL does not parse at column 11", "unexpected character inside brackets"]),
    _model_case("query-unterminated-string", _gate({**CUSTOM, "query": 'up{job="api}'}),
                ["PromQL does not parse at column 8", "unterminated quoted string"]),
    _model_case("query-rate-of-instant-vector", _gate({**CUSTOM, "query": "rate(up)"}),
                ["expected type matrix in call to function 'rate'"]),
    _model_case("query-unknown-function", _gate({**CUSTOM, "query": "rat(up[1m])"}),
                ["unknown function with name 'rat'"]),
    _model_case("feature-not-in-model", set_path("spec.features.0.name", "shoe_size"),
                ["spec.features[0].name: 'shoe_size' is not an input of version ",
                 " of 'hillstrom-uplift'; its inputs: recency, history"]),
    _model_case("feature-wrong-type", set_path("spec.features.5", {"name": "zip_code",
                                                                "type": "numeric"}),
                ["spec.features[5].type: 'zip_code' is declared numeric but version ",
                 "takes it as string"]),
    _model_case("feature-left-out", set_path("spec.features.0", DELETE),
                ["spec.features: version ", " of 'hillstrom-uplift' requires recency, which "
                 "spec.features does not declare"]),
    _model_case("treatment-not-scored", set_path("spec.treatments.1.name", "sms"),
                ["spec.treatments[1].name: 'sms' (key sms) is not a treatment version ",
                 "scores; it scores: Mens E-Mail (mens_e_mail), Womens E-Mail (womens_e_mail)"]),
    _model_case("treatment-typo", set_path("spec.treatments.0.name", "mens-email"),
                ["'mens-email' (key mens_email) is not a treatment"]),
    _model_case("gate-feature-undeclared", set_path("spec.rollout.gates.2.features", ["shoe_size"]),
                ["gates[2] (drift).features: 'shoe_size' is not in spec.features"]),
    # A gate naming a treatment the model does not score: the API server's now (SCHEMA,
    # "gate-treatment-unknown"); the operator's own check stays for an object stored before.
    # A pause shorter than the analysis interval, an interval under a second, a relative margin
    # of 1 or more: the API server's now (SCHEMA above); the operator's own check, for an
    # object stored before, is unit-tested.
    _model_case("token-with-newline", _credentials("token-with-newline-creds", tokenKey="token"),
                ["Secret 'token-with-newline-creds' key 'token' has a trailing newline"],
                secret={"token": TOKEN + "\n"}),
    _model_case("token-key-missing", _credentials("token-key-missing-creds", tokenKey="token"),
                ["Secret 'token-key-missing-creds' key 'token' does not exist in the Secret"],
                secret={"mlflow-token": TOKEN}),
    _model_case("token-empty", _credentials("token-empty-creds", tokenKey="token"),
                ["Secret 'token-empty-creds' key 'token' is empty"], secret={"token": ""}),
    _model_case("password-with-space",
                _credentials("password-with-space-creds", usernameKey="user",
                             passwordKey="password"),
                ["Secret 'password-with-space-creds' key 'password' has whitespace around"],
                secret={"user": "reader", "password": f" {TOKEN}"}),
    _model_case("credentials-secret-missing", _credentials("not-created", tokenKey="token"),
                ["CredentialsUnreadable: credentials: get secret", "/not-created: 404"],
                phase="Progressing", event="CredentialsUnreadable"),
    _model_case("registered-model-unknown", set_path("spec.model.registeredModel", "hilstrom-uplift"),
                ["ModelNotFound", "hilstrom-uplift"], phase="Progressing", event="ModelNotFound"),
    _model_case("version-not-registered",
                _all(set_path("spec.model.alias", DELETE), set_path("spec.model.version", "99")),
                ["ModelNotFound", "version=99"], phase="Progressing", event="ModelNotFound"),
    _model_case("alias-not-set", set_path("spec.model.alias", "nightly"),
                ["ModelNotFound", "alias nightly not found"], phase="Progressing",
                event="ModelNotFound"),
    _model_case("tracking-uri-nobody-there", lambda b: None,  # trackingUri set in _context_body
                ["RegistryUnavailable", "is unreachable"], phase="Progressing",
                event="RegistryUnavailable"),
    _model_case("promote-true", _annotate("uplift.dev/promote", "true"),
                ["serves all traffic"], phase="Healthy", deploys=True,
                event="UnrecognisedRequest"),
    _campaign_case("treatment-not-in-model", set_path("spec.treatments.1.name", "sms"),
                   ["spec.treatments[1].name: 'sms' is not a treatment of UpliftModel 'good'"]),
    _campaign_case("schedule-ended", set_path("spec.schedule", {"start": "2025-03-01T00:00:00Z",
                                                             "end": "2025-06-01T00:00:00Z"}),
                   ["spec.schedule.end 2025-06-01T00:00:00+00:00 has passed",
                    "the results in status are final"], phase="Completed", event=""),
    _campaign_case("campaign-query-unbalanced", _campaign_gate({**CUSTOM, "query": "sum(spend"}),
                   ["gates[0] (probe).query: PromQL does not parse at column 4"]),
    _campaign_case("campaign-query-empty", _campaign_gate({**CUSTOM, "query": " "}),
                   ["gates[0] (probe).query is empty"]),
    # A gate naming a treatment the campaign does not send: the API server refuses it now
    # (test_api_server.py, "gate-judging-an-unknown-treatment"); the operator's own check stays
    # for an object stored before that rule (unit test_validation_free_roi.py).
    _campaign_case("campaign-unknown-template",
                   _campaign_gate({**CUSTOM, "templateRef": "spend-rate"}),
                   ["templateRef: metric template 'spend-rate' does not exist"]),
    _campaign_case("model-not-found", set_path("spec.modelRef.name", "hillstrom"),
                   ["UpliftModel 'hillstrom' not found"], phase="Progressing", event=""),
    _campaign_case("model-invalid", set_path("spec.modelRef.name", "unknown-template"),
                   ["UpliftModel 'unknown-template' has nothing serving (Degraded: invalid spec"],
                   event=""),
    _campaign_case("promote-yes", _annotate("uplift.dev/promote", "yes"), ["exposure"],
                   phase="", deploys=True, event="UnrecognisedRequest"),
]


def _schema_body(name: str, base: dict[str, Any], mutate: Mutation) -> dict[str, Any]:
    body = copy.deepcopy(base)
    body["metadata"] = {"name": name}
    mutate(body)
    return body


def _context_body(case: Case, unreachable: str) -> dict[str, Any]:
    body = copy.deepcopy(MODEL if case.kind == "UpliftModel" else CAMPAIGN)
    body["metadata"] = {"name": case.name}
    if case.name == "tracking-uri-nobody-there":
        body["spec"]["model"]["trackingUri"] = unreachable
    case.mutate(body)
    return body


def _secret(case: Case) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{case.name}-creds"},
            "type": "Opaque", "stringData": case.secret}


@pytest.fixture(scope="module")
def mistakes_namespace(admin: Kubectl) -> Iterator[str]:
    name = f"mistakes-{int(time.time()) % 100000}"
    admin.run("create", "namespace", name)
    yield name
    admin.run("delete", "namespace", name, "--wait=false", check=False)


def test_at_least_forty_distinct_mistakes_across_both_kinds() -> None:
    names = [n for n, *_ in SCHEMA] + [c.name for c in CONTEXT]
    assert len(names) == len(set(names)) >= 40
    kinds = {(kind, level) for level, kind in
             [("schema", b["kind"]) for _, b, *_ in SCHEMA] + [("context", c.kind) for c in CONTEXT]}
    assert kinds == {("UpliftModel", "schema"), ("Campaign", "schema"),
                     ("UpliftModel", "context"), ("Campaign", "context")}


def test_schema_mistakes_are_refused_by_the_api_server_naming_the_field(
        admin: Kubectl, mistakes_namespace: str) -> None:
    bodies = [_schema_body(name, base, mutate) for name, base, mutate, _ in SCHEMA]
    text = "---\n".join(yaml.safe_dump(b) for b in bodies)
    started = time.monotonic()
    result = admin.run("create", "--dry-run=server", "-n", mistakes_namespace, "-f", "-",
                       input=text, check=False, timeout=120)
    accepted = [name for name, *_ in SCHEMA if re.search(rf"/{name} created", result.stdout)]
    assert accepted == [], f"accepted by the API server: {accepted}"
    answers = _answers(result.stderr)
    assert len(answers) == len(SCHEMA), result.stderr
    for (name, _, _, expected), answer in zip(SCHEMA, answers, strict=True):
        for text_ in expected:
            assert text_ in answer, f"{name}: {text_!r} not in {answer!r}"
    print(f"\n{len(SCHEMA)} schema-level mistakes refused in {time.monotonic() - started:.1f} s")


def _answers(stderr: str) -> list[str]:
    """kubectl's refusals, one per object in order (each may span lines)."""
    answers: list[str] = []
    for line in stderr.splitlines():
        if line.startswith(("The ", "Error from server")) or not answers:
            answers.append(line)
        else:
            answers[-1] += "\n" + line
    return answers


@dataclass
class _Seen:
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def status(self, case: Case) -> dict[str, Any]:
        status: dict[str, Any] = self.items.get((case.kind, case.name), {}).get("status") or {}
        return status


def _settled(case: Case, status: dict[str, Any]) -> bool:
    if case.phase and status.get("phase") != case.phase:
        return False
    if case.name.startswith("promote-"):
        return any(h.get("action") == "UnrecognisedRequest" for h in status.get("history", []))
    return all(text in status.get("message", "") for text in case.says)


def test_context_mistakes_are_named_and_deploy_nothing(
        admin: Kubectl, operator: OperatorProcess, versions: Versions, seldon: SeldonStandIn,
        mistakes_namespace: str) -> None:
    ns = mistakes_namespace
    log_start = len(operator.logs())
    unreachable = f"http://127.0.0.1:{process.free_port()}"
    good = copy.deepcopy(MODEL)
    good["metadata"] = {"name": GOOD}
    docs = [_secret(c) for c in CONTEXT if c.secret is not None] + [good]
    docs += [_context_body(c, unreachable) for c in CONTEXT if c.kind == "UpliftModel"]
    docs += [_context_body(c, unreachable) for c in CONTEXT if c.kind == "Campaign"]
    started = time.monotonic()
    admin.apply(docs, ns)

    seen = _Seen()
    pending = list(CONTEXT)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        listed = json.loads(admin.run("get", "upliftmodels,campaigns", "-n", ns, "-o",
                                      "json").stdout)["items"]
        seen.items = {(i["kind"], i["metadata"]["name"]): i for i in listed}
        pending = [c for c in pending if not _settled(c, seen.status(c))]
        if pending:
            time.sleep(0.5)
    elapsed = time.monotonic() - started
    assert not pending, "\n".join(
        f"{c.kind} {c.name}: want {c.phase} {c.says}, got {seen.status(c).get('phase')}: "
        f"{seen.status(c).get('message')}" for c in pending)

    events: list[dict[str, Any]] = []
    expected = {(c.name, c.event) for c in CONTEXT if c.event}

    def all_posted() -> bool:  # events are posted off the passes: a moment after the statuses
        events[:] = json.loads(admin.run("get", "events", "-n", ns, "-o", "json").stdout)[
            "items"]
        return expected <= {(e["involvedObject"]["name"], e["reason"]) for e in events}

    with contextlib.suppress(TimeoutError):  # the per-case assertions below name what is missing
        admin.wait_for(all_posted, timeout=15, what="every expected event")
    graphs = {i["metadata"]["name"] for i in json.loads(admin.run(
        "get", "seldondeployments.machinelearning.seldon.io", "-n", ns, "-o", "json").stdout)[
        "items"]}
    secrets = {i["metadata"]["name"] for i in json.loads(admin.run(
        "get", "secrets", "-n", ns, "-o", "json").stdout)["items"]}
    for case in CONTEXT:
        status = seen.status(case)
        if case.event:
            warned = [e for e in events if e["involvedObject"]["name"] == case.name
                      and e["reason"] == case.event]
            assert warned and warned[0]["type"] == "Warning", f"{case.name}: no {case.event} event"
            assert warned[0]["source"]["component"] == "uplift-operator"
        if case.kind == "UpliftModel":
            deployed = {case.name in graphs, f"{case.name}-decision-key" in secrets}
            assert deployed == {case.deploys}, f"{case.name}: deployed {deployed}"
        elif not case.deploys:
            assert status.get("exposurePercent", 0) == 0 and status.get("currentStep") is None
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        if case.event == "InvalidSpec":
            assert conditions["InvalidSpec"]["status"] == "True", case.name
        if not case.deploys:
            assert conditions["Ready"]["status"] == "False", case.name
    unrecognised = seen.status(next(c for c in CONTEXT if c.name == "promote-true"))
    assert [h["actor"] for h in unrecognised["history"] if h["action"] == "UnrecognisedRequest"
            ] == ["annotation uplift.dev/promote=true"]
    assert GOOD in graphs and f"{GOOD}-decision-key" in secrets  # the valid one is deployed

    log = operator.logs()[log_start:]
    assert "Traceback" not in log and "failed with an exception" not in log, log[-3000:]
    assert TOKEN not in log
    print(f"\n{len(CONTEXT)} context-level mistakes named in {elapsed:.1f} s")
