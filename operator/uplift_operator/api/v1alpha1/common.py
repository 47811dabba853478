"""Types shared by UpliftModel and Campaign: durations, references, gates, conditions, status parts.

Every field carries a description: the CRD generator (``api.crdgen``) turns these models into
structural OpenAPI schemas, and the descriptions are what ``kubectl explain`` shows. Defaults live
here, in the models, and never in the CRD schema, so what a user applied stays what Git holds.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

import pydantic
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from uplift_operator.handled_tokens import remembered_as_kept

__all__ = [
    "AT_MOST",
    "CEL_RELATIVE_TOLERANCE",
    "COMPARED_RESOURCES",
    "DURATION_BOUND",
    "DURATION_PATTERN",
    "LIST_MAP_BY_NAME",
    "MAX_ATTRIBUTION_WINDOW_SECONDS",
    "MAX_DURATION_SECONDS",
    "MAX_STATE_COUNTS",
    "REQUEST_OVER_LIMIT",
    "RESOURCE_FIELDS",
    "STEP_PAUSE_SHORT",
    "SUBDOMAIN_PATTERN",
    "WINDOW_BOUND",
    "ApiModel",
    "AttributionWindow",
    "Condition",
    "DecisionRecord",
    "Duration",
    "DurationBound",
    "EstimateStatus",
    "GateStatus",
    "GateVerdict",
    "Phase",
    "RampSpecBase",
    "RampStatus",
    "ResourceList",
    "ResourceRequirements",
    "RollbackMode",
    "RollbackPolicyBase",
    "SecretCredentials",
    "SecretName",
    "SequentialStateStatus",
    "StatusBase",
    "StatusPart",
    "at_least",
    "at_least_a_second_rule",
    "cel_at_least",
    "cel_same_length",
    "cel_seconds",
    "clamp_durations",
    "duration_seconds",
    "duration_whole_seconds",
    "durations",
    "field_rules",
    "name_rule",
    "not_blank_rule",
    "parse_duration",
    "quantity_value",
    "ramp_rules",
    "request_over_limit_rule",
    "step_pause_short",
]

#: Most bins a sequential state keeps counts of (a drift feature with more is not bet on).
MAX_STATE_COUNTS = 256

# Go-style durations plus days ("14d"), the unit attribution windows are naturally written in.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": Fraction(1, 1000), "s": Fraction(1), "m": Fraction(60),
                 "h": Fraction(3600), "d": Fraction(86400)}

#: The longest duration any Duration field takes: a hundred years (of 366 days). The pattern
#: alone let through values a pass could not add to a time ("3000000d", "1000000000d": an
#: OverflowError at every pass, no status, no abort acted on); a hundred years keeps every time
#: the operator computes (a step's start + its pause + the progress deadline) far within
#: datetime's range, and is longer than anything a rollout or a campaign means.
MAX_DURATION_SECONDS = 100 * 366 * 86400
#: The longest attribution window (both kinds): ten years, the runtime's bound
#: (``runtime.campaigns.MAX_WINDOW_SECONDS``, which the API may not import; a test keeps them
#: equal).
MAX_ATTRIBUTION_WINDOW_SECONDS = 10 * 366 * 86400

def cel_seconds(duration: str) -> str:
    """A Duration's length in seconds, in CEL (the API server's rules), of ``duration`` (a CEL
    expression of a Duration string: ``self``, ``s.pause``): its parts ("1h", "30m") found as
    the pattern's, each number times its unit, summed, as ``duration_seconds`` does. CEL
    doubles do not overflow (the longest string the pattern lets through, 32 nines, is about
    1e37 seconds), so the sum compares as is."""
    return (f"{duration}.findAll('[0-9]+([.][0-9]+)?(ms|s|m|h|d)').map(p, "
            "double(p.find('[0-9.]+')) * (p.endsWith('ms') ? 0.001 : p.endsWith('s') ? 1.0 : "
            "p.endsWith('m') ? 60.0 : p.endsWith('h') ? 3600.0 : 86400.0)).sum()")


_CEL_DURATION_SECONDS = cel_seconds("self")

#: How much two Durations' seconds, summed in CEL doubles, may differ and still be one length:
#: a part's ``double`` times its unit rounds (``1.1h`` is 3960.0000000000005 s, ``3960s``
#: 3960.0), so an exact comparison refused a pause equal to its interval. Relative, far above
#: the doubles' error of a sum of at most a few dozen parts (~1e-15) and far below any two
#: lengths meant to differ (1e-12 of 100 years is 3 ms). ``domain.validation`` compares with the
#: same tolerance (``at_least``), so the operator and the API server agree.
CEL_RELATIVE_TOLERANCE = 1e-12
_CEL_SLACK = repr(1.0 - CEL_RELATIVE_TOLERANCE)


def cel_at_least(seconds: str, bound: str) -> str:
    """CEL: the seconds ``seconds`` are at least ``bound`` (both CEL doubles, non-negative), up to
    ``CEL_RELATIVE_TOLERANCE``."""
    return f"{seconds} >= {bound} * {_CEL_SLACK}"


def cel_same_length(left: str, right: str) -> str:
    """CEL: the seconds ``left`` and ``right`` are one length, up to ``CEL_RELATIVE_TOLERANCE``."""
    return f"({cel_at_least(left, right)} && {cel_at_least(right, left)})"


def at_least(seconds: float, bound: float) -> bool:
    """``cel_at_least`` in Python: what the API server's rules take, the operator takes."""
    return seconds >= bound * (1.0 - CEL_RELATIVE_TOLERANCE)


@dataclass(frozen=True)
class DurationBound:
    """The longest value a Duration type takes, and why; part of the type (``Annotated``), so
    the CRD's rule (``rule``), ``domain.validation`` (``durations``: an object stored before the
    rule is InvalidSpec naming the field) and ``clamp_durations`` read the same bound."""

    seconds: int
    why: str

    @property
    def text(self) -> str:
        """The bound as a Duration ("36600d")."""
        return f"{self.seconds // 86400}d"

    def rule(self) -> JsonValue:
        return {"rule": f"{_CEL_DURATION_SECONDS} <= {float(self.seconds)!r}",
                "message": f"must be at most {self.text} ({self.why})"}


DURATION_BOUND = DurationBound(MAX_DURATION_SECONDS, "100 years, the longest the operator takes")
WINDOW_BOUND = DurationBound(MAX_ATTRIBUTION_WINDOW_SECONDS, "10 years, the runtime's bound")
#: The bound as a field description says it.
AT_MOST = f"At most {DURATION_BOUND.text} (100 years)."

Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, max_length=32,
          description=f"A duration such as 30s, 5m, 1h30m or 14d. {AT_MOST}",
          json_schema_extra={"x-kubernetes-validations": [DURATION_BOUND.rule()]}),
    DURATION_BOUND,
]
#: An attribution window: a Duration the runtime bounds closer (``WINDOW_BOUND``).
AttributionWindow = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, max_length=32,
          description=f"A duration such as 1h or 14d, at most {WINDOW_BOUND.text} (10 years).",
          json_schema_extra={"x-kubernetes-validations": [WINDOW_BOUND.rule()]}),
    WINDOW_BOUND,
]

Name = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]

#: A DNS-1123 subdomain (Kubernetes' ``IsDNS1123Subdomain``): lower-case labels joined by dots,
#: at most 253 characters. The names of Secrets and ServiceAccounts (``mlflow.basic-auth`` is a
#: valid Secret name, which ``Name``, a DNS-1123 label, refused).
SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
#: The name of a Secret (a DNS-1123 subdomain).
SecretName = Annotated[str, Field(min_length=1, max_length=253, pattern=SUBDOMAIN_PATTERN)]

#: What ``str.strip`` removes (Python's whitespace: the runtime refuses a text of nothing else),
#: as the ranges of an RE2 character class; a test keeps it equal to ``str.isspace``.
WHITESPACE_CLASS = (r"\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
                    r"\x{2028}-\x{2029}\x{202f}\x{205f}\x{3000}")


def not_blank_rule(what: str, *, empty: bool = False) -> JsonValue:
    """A CEL rule refusing a string of whitespace only (``empty``: "" stays allowed, where it
    means the default); ``domain.validation`` refuses the same of an object stored before."""
    # A character outside the class; its backslashes escaped for a CEL string literal.
    some_text = "self.matches('[^" + WHITESPACE_CLASS.replace("\\", "\\\\") + "]')"
    return {"rule": f"self == '' || {some_text}" if empty else some_text,
            "message": f"{what} must not be blank (whitespace only)"}


def name_rule(pattern: str, message: str) -> JsonValue:
    """A CEL rule at the CRD's root on ``metadata.name`` (the one part of metadata a rule may
    read), checked when the object is created only (``optionalOldSelf``: the name never
    changes; an object created before the rule keeps its status writes, which re-run root
    rules, and is InvalidSpec instead, ``domain.validation``)."""
    return {"rule": f"oldSelf.hasValue() || self.metadata.name.size() <= 63 && "
                    f"self.metadata.name.matches('{pattern}')",
            "optionalOldSelf": True, "message": message}


def _exact_seconds(text: str) -> Fraction:
    """A ``Duration``'s exact length in seconds: each part's decimal number times its unit, as
    a fraction (in floats ``1.1h`` was 3960.0000000000005 s)."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"malformed duration {text!r}")
    return sum((Fraction(n) * _UNIT_SECONDS[u] for n, u in parts), Fraction(0))


def duration_seconds(text: str) -> float:
    """A ``Duration``'s length in seconds, however long (``parse_duration`` refuses one longer
    than ``MAX_DURATION_SECONDS``; this only measures it): the float nearest the exact sum."""
    return float(_exact_seconds(text))


#: How far (relative) a length may be from a whole number of seconds and be read as it:
#: twice ``CEL_RELATIVE_TOLERANCE``, so that what the rules take as one length as a stored
#: whole number of seconds (their doubles' own rounding included) is that number.
_WHOLE_SLACK = 2 * Fraction(str(CEL_RELATIVE_TOLERANCE))


def _as_whole(exact: Fraction) -> Fraction:
    """``exact``, or the whole number of seconds within ``_WHOLE_SLACK`` of it: the rules let an
    "immutable" length (an attribution window, a budget period) change by up to
    ``CEL_RELATIVE_TOLERANCE`` (``cel_same_length``): 14d edited to 1209600.000001s is one
    length to them, so it must be 1209600 s to what counts it, not 1209601."""
    whole = round(exact)
    if whole > 0 and abs(exact - whole) <= whole * _WHOLE_SLACK:
        return Fraction(whole)
    return exact


def duration_whole_seconds(text: str) -> int:
    """A ``Duration``'s length in whole seconds, a fraction rounded up (``1500ms`` is 2), from
    the exact sum: ``1.1h`` is 3960, never 3961 (a float sum's ceiling), and a length the rules
    take as one with a whole number of seconds is that number (``_as_whole``: 3600.0000000001s
    is 3600). An attribution window is counted so for an UpliftModel's version split and a
    Campaign's entry alike."""
    return math.ceil(_as_whole(_exact_seconds(text)))


def parse_duration(text: str) -> dt.timedelta:
    """Parse a ``Duration`` string; the schema has already checked its shape. A ValueError
    past ``MAX_DURATION_SECONDS`` (an object stored before the API server refused it):
    ``domain.validation`` reports such a field first, and ``clamp_durations`` brings a spec
    within the bound for what still acts on it (an abort, an emergency rollback)."""
    seconds = duration_seconds(text)
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {text} is longer than {DURATION_BOUND.text} "
                         f"({DURATION_BOUND.why})")
    # A length the rules take as one with a whole number of seconds is that number
    # (``_as_whole``): a budget period 7d edited to 604800.0000006s keeps its periods' length.
    return dt.timedelta(seconds=float(_as_whole(_exact_seconds(text))))


def _bound_of(annotation: Any, metadata: Sequence[Any] = ()) -> DurationBound | None:
    """The ``DurationBound`` a field's type carries (directly, or in an Optional or a list)."""
    for item in metadata:
        if isinstance(item, DurationBound):
            return item
    if get_origin(annotation) is Annotated:
        return _bound_of(None, get_args(annotation)[1:])
    for arg in get_args(annotation):
        found = _bound_of(arg)
        if found is not None:
            return found
    return None


def durations(model: BaseModel, path: str) -> list[tuple[str, str, DurationBound]]:
    """Every Duration of ``model`` and its parts, defaults included: (its field path as the
    wire spells it, e.g. ``spec.rollout.steps[1].pause``, its value, its type's bound)."""
    found: list[tuple[str, str, DurationBound]] = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{path}.{info.alias or to_camel(name)}"
        bound = _bound_of(info.annotation, info.metadata)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            at = where if index is None else f"{where}[{index}]"
            if isinstance(item, BaseModel):
                found += durations(item, at)
            elif bound is not None and isinstance(item, str):
                found.append((at, item, bound))
    return found


M = TypeVar("M", bound=BaseModel)


def clamp_durations(model: M) -> M:
    """A copy of ``model`` whose every Duration longer than ``parse_duration`` takes is that
    longest (``MAX_DURATION_SECONDS``): what a spec stored before the API server refused such
    a value is read as by the steps that still act on it once it is InvalidSpec (an abort, an
    emergency rollback: a rolled-back canary's scale-down delay, hundreds of years or more, is
    then a hundred years), and by the checks that go on naming its other problems."""
    update: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        bound = _bound_of(info.annotation, info.metadata)
        if isinstance(value, BaseModel):
            clamped: Any = clamp_durations(value)
        elif isinstance(value, list):
            clamped = [clamp_durations(v) if isinstance(v, BaseModel)
                       else _clamped(v) if bound is not None and isinstance(v, str) else v
                       for v in value]
        elif bound is not None and isinstance(value, str):
            clamped = _clamped(value)
        else:
            continue
        if clamped != value:
            update[name] = clamped
    return model.model_copy(update=update) if update else model


def _clamped(text: str) -> str:
    try:
        return DURATION_BOUND.text if duration_seconds(text) > MAX_DURATION_SECONDS else text
    except ValueError:
        return text  # malformed: the schema refuses it, not this


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, snake_case in Python. A validation
    error's text leaves the values out (``hide_input_in_errors``): a spec's value may be a
    credential (a ``trackingUri`` stored with ``user:password@``), and such a text reaches logs
    and status messages; ``errors()`` still holds them for the code that repairs a status."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              use_enum_values=False, hide_input_in_errors=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-able dict as it goes to the API server (aliases, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusPart(ApiModel):
    """Base of the status types that hold times: a time written without an offset (a status
    edited by hand, e.g. ``stepStartedAt: "2026-12-01T12:00:00"``: ``format: date-time`` does
    not require one) is read as UTC, as a spec time is. Left naive it could not be compared
    with the aware times of a pass (a TypeError on every pass: no abort or rollback acted on).
    Reading only: the schema is unchanged, and the next status write carries the offset."""

    @field_validator("*", mode="after")
    @classmethod
    def _time_as_utc(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Phase(StrEnum):
    """Argo CD's health vocabulary, so Argo CD and humans read it the same way."""

    PROGRESSING = "Progressing"
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
    # Campaigns only. Suspended: waiting for spec.schedule.start, exposure 0 (Argo CD's own
    # word). Completed: spec.schedule.end has passed, exposure 0, the final results kept in
    # status; Argo CD reads it as Healthy (argocd/.../health.lua): nothing needs fixing.
    SUSPENDED = "Suspended"
    COMPLETED = "Completed"


class GateVerdict(StrEnum):
    """Outcome of one gate at one analysis; ordered from best to worst by ``domain.gates``."""

    PASS = "Pass"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    FAIL = "Fail"


class SecretCredentials(ApiModel):
    """Where the credentials for an external service live."""

    name: SecretName = Field(description="Name of a Secret in the resource's namespace (a "
                                         "DNS-1123 subdomain).")
    username_key: str | None = Field(
        default=None, max_length=253,
        description="Key holding the basic-auth user name. Set together with passwordKey.")
    password_key: str | None = Field(
        default=None, max_length=253, description="Key holding the basic-auth password.")
    token_key: str | None = Field(
        default=None, max_length=253,
        description="Key holding a bearer token. Exclusive with usernameKey/passwordKey.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        {"rule": "has(self.usernameKey) == has(self.passwordKey)",
         "message": "usernameKey and passwordKey must be set together"},
        {"rule": "!(has(self.tokenKey) && has(self.usernameKey))",
         "message": "tokenKey is exclusive with usernameKey/passwordKey"},
        {"rule": "has(self.tokenKey) || has(self.usernameKey)",
         "message": "set tokenKey, or usernameKey and passwordKey"},
    ]})


#: Kubernetes' quantity grammar (``resource.ParseQuantity``: a decimal number, then a binary
#: suffix Ki..Ei, a decimal suffix n, u, m, k, M..E, or a decimal exponent e3/E-2, an integer:
#: ``1e2.5`` is refused by Kubernetes, and was rendered into every predictor's pod spec), without
#: a sign: a Pod refuses negative resources. ``quantity_value`` reads the same grammar, an
#: exponent from e-64 to e64 (``_EXPONENT_MAX``): the pattern bounds it so (one digit, 10-59 or
#: 60-64, after any leading zeros, which both read: ``1e05``), or an object the API server
#: took would be InvalidSpec.
QUANTITY_PATTERN = (r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                    r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?0*([0-9]|[1-5][0-9]|6[0-4])))?$")
#: What the CRD let through before the exponent was an integer: the model still types such a
#: stored value (``1e2.5``), so ``domain.validation`` calls it InvalidSpec naming the field
#: (``quantity_value`` is None for it) and the spec stays typed, an abort still acted on.
_STORED_QUANTITY_PATTERN = (r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                            r"(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")

#: A Kubernetes quantity, int or string as in a Pod's resources: ``cpu: 2`` is an integer in
#: YAML (and in what Helm's ``toYaml`` emits), and a schema of strings alone refused it. The
#: CRD says ``x-kubernetes-int-or-string`` (the structural form: no ``type``); the pattern and
#: length apply to strings only, the minimum to integers only. A fraction must be a string
#: (``"0.5"`` or ``500m``): an int-or-string field refuses a JSON number that is not an
#: integer, as every CRD embedding a Pod's resources does, so the model refuses it too.
#: ``render.seldon`` writes every quantity as a string.
_QuantityInteger = Annotated[pydantic.StrictInt, Field(ge=0, le=2**63 - 1)]  # an int64
_QuantityText = Annotated[str, Field(max_length=32, pattern=_STORED_QUANTITY_PATTERN)]
Quantity = Annotated[
    _QuantityInteger | _QuantityText,
    pydantic.WithJsonSchema({"x-kubernetes-int-or-string": True, "minimum": 0,
                             "maxLength": 32, "pattern": QUANTITY_PATTERN}),
    Field(description="A Kubernetes quantity, e.g. 500m, 1, 512Mi.")]


class ResourceList(ApiModel):
    """CPU, memory and ephemeral-storage quantities. No other resource: an extended resource
    (``nvidia.com/gpu``) or hugepages would need the list to be a map of name → quantity, which
    a structural schema cannot give beside these fields (``properties`` and
    ``additionalProperties`` exclude each other); the API server prunes such a key."""

    cpu: Quantity | None = Field(
        default=None, description="CPU, an integer or a string, e.g. 2, 500m or \"0.5\": a "
        "fraction is quoted or written in m (the API server refuses a bare 0.5).")
    memory: Quantity | None = Field(
        default=None, description="Memory, an integer (bytes) or a string, e.g. 512Mi or 1e9.")
    ephemeral_storage: Quantity | None = Field(
        default=None, alias="ephemeral-storage",
        description="Local ephemeral storage, an integer (bytes) or a string, e.g. 2Gi. MLflow "
        "downloads the model into the runtime's /tmp, an emptyDir: a limit is also its "
        "sizeLimit. Other resources (an extended resource such as nvidia.com/gpu, hugepages) "
        "are not taken: the API server prunes them.")

    def quantity(self, resource: str) -> int | str | None:
        """The quantity of ``resource`` by its name in a Pod (``cpu``, ``memory``,
        ``ephemeral-storage``), None when unset or not one of those."""
        field = RESOURCE_FIELDS.get(resource)
        value: int | str | None = getattr(self, field) if field else None
        return value


#: Each resource ``ResourceList`` takes, by its name in a Pod → its attribute.
RESOURCE_FIELDS = {"cpu": "cpu", "memory": "memory", "ephemeral-storage": "ephemeral_storage"}


_QUANTITY = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
                       r"(?:(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE])"
                       r"|[eE](?P<exponent>[+-]?[0-9]+))?")
_BINARY: dict[str, int] = {prefix: 1024 ** (n + 1) for n, prefix in enumerate("KMGTPE")}
_DECIMAL: dict[str, Fraction] = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    **{prefix: Fraction(1000 ** (n + 1)) for n, prefix in enumerate("kMGTPE")}}


#: The largest decimal exponent ``quantity_value`` computes (``1e64``: far past any resource).
_EXPONENT_MAX = 64


def quantity_value(quantity: int | str) -> Fraction | None:
    """The exact value of a Kubernetes quantity (``resource.ParseQuantity``: ``500m`` is 1/2,
    ``1Ki`` 1024, ``1e3`` 1000), None for one it does not parse (a fractional exponent, which
    Kubernetes refuses: ``QUANTITY_PATTERN`` lets it through no more, an object stored before
    may hold one) or whose exponent is past ``_EXPONENT_MAX``."""
    if isinstance(quantity, int):
        return Fraction(quantity)
    found = _QUANTITY.fullmatch(quantity)
    if found is None:
        return None
    value = Fraction(found["number"])
    if found["binary"]:
        return value * _BINARY[found["binary"][0]]
    if found["decimal"]:
        return value * _DECIMAL[found["decimal"]]
    if found["exponent"]:
        exponent = int(found["exponent"])
        if abs(exponent) > _EXPONENT_MAX:  # no such resource; and 10**huge would never end
            return None
        return value * (Fraction(10**exponent) if exponent >= 0 else Fraction(1, 10**-exponent))
    return value


#: The resources ``ResourceRequirements`` compares, request to limit (its CEL rules,
#: ``request_over_limit_rule``, and ``requests_over_limits``), by their names in a Pod.
COMPARED_RESOURCES = tuple(RESOURCE_FIELDS)


def request_over_limit_rule(resource: str) -> dict[str, str]:
    """The CEL rule refusing ``requests.<resource>`` above ``limits.<resource>`` (the
    Kubernetes quantity library: ``quantity``, ``compareTo``; an int-or-string value is read as
    a string first, since ``quantity`` takes only strings)."""
    name = resource.replace("-", "__dash__")  # Kubernetes' escaping of a property name
    request, limit = f"self.requests.{name}", f"self.limits.{name}"
    return {"rule": (f"!has(self.requests) || !has(self.limits) || !has({request}) || "
                     f"!has({limit}) || quantity(string({request}))"
                     f".compareTo(quantity(string({limit}))) <= 0"),
            "message": REQUEST_OVER_LIMIT.format(resource=resource),
            "fieldPath": (f".requests.{resource}" if resource.isalnum()
                          else f".requests['{resource}']")}


#: A request above its limit: a Pod with one is refused, so the serving graph's Deployments
#: could not be updated (every predictor's, the stable's included).
REQUEST_OVER_LIMIT = ("requests.{resource} must not exceed limits.{resource}: Kubernetes "
                      "refuses such a Pod, and no predictor of the serving graph, the stable's "
                      "included, could be updated")


class ResourceRequirements(ApiModel):
    """CPU, memory and ephemeral storage for each serving container, as in a Pod's resources.
    A request may not exceed its limit (a Pod with one is refused)."""

    requests: ResourceList | None = Field(default=None, description="Minimum resources.")
    limits: ResourceList | None = Field(default=None, description="Maximum resources.")

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [
        dict(request_over_limit_rule(resource)) for resource in COMPARED_RESOURCES]})

    def requests_over_limits(self) -> list[str]:
        """Each resource (``COMPARED_RESOURCES``) whose request exceeds its limit: what
        ``request_over_limit_rule`` refuses, for an object stored before it."""
        over = []
        for resource in COMPARED_RESOURCES:
            request = self.requests.quantity(resource) if self.requests else None
            limit = self.limits.quantity(resource) if self.limits else None
            if request is None or limit is None:
                continue
            asked, allowed = quantity_value(request), quantity_value(limit)
            if asked is not None and allowed is not None and asked > allowed:
                over.append(resource)
        return over


class Condition(StatusPart):
    """A condition shaped like metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, e.g. Ready, InvalidSpec.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(max_length=1024, description="CamelCase reason for the last transition.")
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: dt.datetime = Field(
        description="When the status last changed; also when the reason changed for an "
                    "UpliftModel's ModelResolved and ServingApplied and a Campaign's "
                    "ModelServing (each reason is a problem of its own, whose grace before the "
                    "phase is Degraded counts from it). Not moved by a new message alone.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="metadata.generation this condition was computed for.")


class SequentialStateStatus(ApiModel):
    """What an anytime-valid test carries between looks (``stats.results.SequentialState``).

    Absent bounds mean unbounded; absent p-values mean 1. Kept in status so a restarted operator
    continues the same test instead of starting a new one (which would inflate the error rate).
    """

    looks: int = Field(default=0, ge=0, description="Looks taken so far for this version.")
    lower: float | None = Field(default=None, description="Running lower confidence bound.")
    upper: float | None = Field(default=None, description="Running upper confidence bound.")
    p_pass: float | None = Field(default=None, description="Running always-valid p-value (pass).")
    p_fail: float | None = Field(default=None, description="Running always-valid p-value (fail).")
    carried_log_pass: float | None = Field(
        default=None, description="Log evidence for passing from earlier ramp steps (count tests).")
    carried_log_fail: float | None = Field(
        default=None, description="Log evidence for failing from earlier ramp steps (count tests).")
    carried_info: float | None = Field(
        default=None, description="Information (Σ 1/variance) of earlier ramp steps (mean tests).")
    carried_score: float | None = Field(
        default=None, description="Σ estimate/variance of earlier ramp steps (mean tests).")
    carried_units: float | None = Field(default=None,
                                        description="Units seen in earlier ramp steps.")
    log_pass: float | None = Field(default=None,
                                   description="Log evidence for passing in the current step.")
    log_fail: float | None = Field(default=None,
                                   description="Log evidence for failing in the current step.")
    info: float | None = Field(default=None, description="Information of the current step.")
    score: float | None = Field(default=None, description="Σ estimate/variance, current step.")
    units: float | None = Field(default=None, description="Units seen in the current step.")
    reference: float | None = Field(
        default=None, description="A parameter frozen at the first look that needed it (a "
                                  "latency threshold in seconds, a design variance), or the "
                                  "tolerance a within-tolerance test is against (it starts "
                                  "afresh when that changes).")
    counts: list[int] | None = Field(
        default=None, max_length=MAX_STATE_COUNTS,
        description="Counts as of the last look, for a test that bets on the rows since (the "
                    "drift gate's live histogram of one feature).")


class GateStatus(StatusPart):
    """The last verdict of one gate and its counters at the current step."""

    name: str = Field(max_length=63, description="Gate name, as in the spec.")
    verdict: GateVerdict = Field(description="Pass, Inconclusive, Error or Fail.")
    value: float | None = Field(default=None, description="Observed value (or estimate).")
    lower: float | None = Field(default=None, description="Lower confidence bound, if any.")
    upper: float | None = Field(default=None, description="Upper confidence bound, if any.")
    threshold: float | None = Field(default=None, description="Threshold the value was judged by.")
    samples: int | None = Field(default=None, ge=0, description="Samples behind the value.")
    message: str = Field(default="", max_length=1024, description="Why this verdict.")
    time: dt.datetime = Field(description="When the gate was evaluated.")
    failures: int = Field(
        default=0, ge=0,
        description="Fail verdicts counted towards failureLimit at this step: zeroed when the "
                    "ramp moves to another step or starts again at its first, and when the "
                    "gate's settings change (a Campaign's also when its model moves to another "
                    "version mid-ramp, but for a deliveryRate gate, which judges the sender, "
                    "not the model, and a gate whose rollback rollback.mode Manual left "
                    "pending, which stands: they keep their failures and consecutive errors); "
                    "kept "
                    "when the step itself starts over (a Campaign's budget renewal, its "
                    "refused spec fixed, its campaigns file written again). A budget gate's "
                    "Fail suspends and is not counted.")
    inconclusives: int = Field(default=0, ge=0, description="Inconclusive verdicts at this step.")
    consecutive_errors: int = Field(default=0, ge=0, description="Error verdicts in a row.")
    design_samples: int | None = Field(
        default=None, ge=0,
        description="Samples (in the unit of samples) at which a decision is expected: the "
                    "fixed-horizon size the margin (or bound), the base rate, alpha and 80 % "
                    "power imply, or expectedSamples when set. incrementalConversions and roi "
                    "state no expected effect: theirs is where their mixture is tuned "
                    "(expectedSamples, default 20000 units in both arms, as treated-arm units). "
                    "Progress is samples/designSamples.")
    sequential_state: dict[str, SequentialStateStatus] = Field(
        default_factory=dict,
        description="State of the gate's sequential tests, by test; kept across the ramp's steps "
                    "and a step started over (evidence is pooled or multiplied, so alpha is "
                    "spent once per version judged), and reset when the gate's settings change; "
                    "an UpliftModel's also when a canary starts (a new canary version, or a "
                    "retry); a Campaign's also "
                    "when its exposure ramp starts (again) at step 1, and when its model "
                    "promotes a new stable version mid-ramp, the version the campaign follows "
                    "(a deliveryRate gate's is kept then: it judges the sender, not the "
                    "model).")
    settings_digest: str | None = Field(
        default=None, max_length=32,
        description="Fingerprint of the gate settings its evidence was gathered under (every "
                    "field but name, dryRun and the limits; a Campaign's roi gate also the cost "
                    "per treatment and value per conversion of the treatments it judges): an "
                    "edit of them (a tighter margin, another alpha, a higher cost) starts the "
                    "gate afresh, since evidence against one hypothesis says nothing about "
                    "another.")


class DecisionRecord(StatusPart):
    """One entry of the audit trail: a promotion, rollback, step or manual action, and why."""

    time: dt.datetime = Field(description="When the decision was taken.")
    action: str = Field(max_length=63, description="What was done, e.g. StepAdvanced, RolledBack.")
    version: str | None = Field(default=None, max_length=63,
                                description="Model version the action concerns.")
    weight: int | None = Field(default=None, ge=0, le=100, description="Canary weight afterwards.")
    percent: float | None = Field(default=None, ge=0, le=100,
                                  description="Campaign exposure percent afterwards.")
    reason: str = Field(default="", max_length=1024, description="Why, in words.")
    actor: str = Field(default="operator", max_length=253,
                       description="operator, or the user/annotation that asked for it.")


class EstimateStatus(ApiModel):
    """A point estimate with confidence bounds, and its rendering for printer columns."""

    estimate: float = Field(description="Point estimate: the nearer bound when the last "
                                        "look's fell outside the bounds.")
    lower: float | None = Field(
        default=None,
        description="Lower bound of the gate's anytime-valid confidence sequence, one-sided at "
                    "the gate's alpha; with upper, a 1 - 2 alpha sequence (90 % at the default "
                    "alpha 0.05).")
    upper: float | None = Field(default=None,
                                description="Upper bound, one-sided at the gate's alpha, as "
                                            "lower.")
    display: str = Field(default="", max_length=64,
                         description="Rendered estimate [lower, upper], for kubectl get; the "
                                     "estimate and \"(bounds crossed)\" when the looks' bounds "
                                     "crossed (lower and upper then absent).")


#: A list of named items as a list-map keyed by ``name`` (kubebuilder's +listType=map): the API
#: server refuses duplicate names natively, server-side apply merges and owns items one by one,
#: and validation ratcheting matches old and new items by name, so a write re-checks only the
#: items it changes (docs/lifecycle.md, "Gates and their defaults").
LIST_MAP_BY_NAME: dict[str, JsonValue] = {"x-kubernetes-list-type": "map",
                                          "x-kubernetes-list-map-keys": ["name"]}
#: Conditions, one per type (Kubernetes API conventions: metav1.Condition lists are maps keyed
#: by ``type``; server-side apply merges them by it).
LIST_MAP_BY_TYPE: dict[str, JsonValue] = {"x-kubernetes-list-type": "map",
                                          "x-kubernetes-list-map-keys": ["type"]}


def gate_rules(numeric_types: list[str]) -> list[JsonValue]:
    """CEL rules shared by both kinds' gates; ``numeric_types`` need a min or a max."""
    numeric = "[" + ", ".join(f"'{t}'" for t in numeric_types) + "]"
    return [
        {"rule": "!has(self.min) || !has(self.max) || self.min <= self.max",
         "message": "min must not exceed max"},
        {"rule": "!(has(self.query) && has(self.templateRef))",
         "message": "set either query or templateRef, not both"},
        {"rule": "self.type != 'custom' || has(self.query) || has(self.templateRef)",
         "message": "a custom gate needs a query or a templateRef"},
        {"rule": f"!(self.type in {numeric}) || has(self.min) || has(self.max)",
         "message": f"gates of type {', '.join(numeric_types)} need a min or a max threshold"},
    ]


def field_rules(applies: dict[str, tuple[str, ...]], kind: str) -> list[JsonValue]:
    """CEL rules refusing a gate field its ``type`` never reads, so a setting that would change
    nothing is an error at apply time rather than a silent no-op.

    ``applies`` maps a field's JSON name to the gate types that read it (the kind's table, kept
    beside its ``type`` literal; ``tests/unit/domain/test_gate_fields.py`` checks it against the
    evaluators); an empty tuple refuses the field on every gate of ``kind``."""
    rules: list[JsonValue] = []
    for name, types in applies.items():
        rule = (f"!has(self.{name}) || self.type in [{', '.join(repr(t) for t in types)}]"
                if types else f"!has(self.{name})")
        rules.append({"rule": rule, "message": _field_message(name, types, kind),
                      "fieldPath": f".{name}"})
    return rules


def _field_message(name: str, types: tuple[str, ...], kind: str) -> str:
    if not types:
        return f"{name} applies to no {kind} gate"
    listed = ", ".join(types[:-1]) + (" and " if len(types) > 1 else "") + types[-1]
    return f"{name} applies to {listed} gates only"


class GateSpecBase(ApiModel):
    """Fields every gate has; each kind narrows ``type`` to the gates it supports."""

    #: The kind's table of which gate types read each optional field (``field_rules``).
    field_readers: ClassVar[dict[str, tuple[str, ...]]] = {}
    kind: ClassVar[str] = ""
    #: What the gate tests that its own fields do not say (a Campaign's roi gate: the
    #: campaign's costs and values), as canonical text, bound for a pass by the domain
    #: (``domain.gates.with_outside_settings``) so that ``settingsDigest`` covers it. Never on
    #: the wire, never in the schema; None: the gate's fields are all it tests.
    _outside_settings: str | None = PrivateAttr(default=None)

    name: Name = Field(description="Gate name, unique within the list; shown in status and events.")
    type: str = Field(max_length=63, description="What the gate measures; each kind lists its own.")
    template_ref: Name | None = Field(
        default=None,
        description="Name of a PromQL metric template (built in, or from the operator's "
                    "configuration). An unknown name makes the resource InvalidSpec, as does a "
                    "latency gate's template that reads no classic histogram's _bucket series "
                    "over a range (the gate tests its bucket counts), or whose _bucket selector "
                    "names neither {{version}} nor {{predictor}} (both versions' counts would "
                    "be the same traffic).")
    query: str | None = Field(
        default=None, max_length=4096,
        description="Inline PromQL; {{namespace}}, {{name}} (this resource's), {{model}} (the "
                    "UpliftModel's: its serving graph's), {{predictor}}, {{version}} and "
                    "{{interval}} (the analysisInterval, but at least 4 of the operator's "
                    "--prometheus-scrape-interval: a rate() needs samples) are substituted. "
                    "Custom gates only.")
    min: float | None = Field(
        default=None,
        description="Lower bound on the gate's value (the types that read it are listed under "
                    "type). A statistical gate passes once its confidence sequence shows the "
                    "value at or above it at level alpha and fails once it shows it below; a "
                    "custom gate compares its value itself.")
    max: float | None = Field(
        default=None,
        description="Upper bound on the gate's value, as min: shown at or below it to pass, "
                    "shown above it to fail (custom: the value itself; qini's only fails, a "
                    "Qini shown above it suggesting leakage).")
    margin: float | None = Field(
        default=None, ge=0,
        description="Comparative gates only (UpliftModel latency, errorRate, qini, onlineEffect). "
                    "Non-inferiority margin against the stable version: the gate passes only "
                    "when the data show, at level alpha, that the canary is no worse than the "
                    "stable by more than this; it fails when they show it worse at all (harm "
                    "beyond zero); otherwise it is Inconclusive. Default: 0.2 for relative "
                    "margins, 0.005 for absolute ones.")
    margin_type: Literal["absolute", "relative"] | None = Field(
        default=None,
        description="Comparative gates only, as margin. Whether margin is absolute or a fraction "
                    "of the stable's value. Default: "
                    "relative for latency, errorRate and qini; absolute for onlineEffect.")
    alpha: float = Field(default=0.05, gt=0, le=0.5,
                         description="Error level of statistical gates, spent once per canary "
                                     "version across all steps and looks: the chance of a wrong "
                                     "pass, and of a wrong fail, are each at most alpha. "
                                     "Refused on a custom gate, which tests nothing (a value "
                                     "against min/max). Default: 0.05.")
    expected_samples: int | None = Field(
        default=None, ge=1,
        description="Samples at which a decision is expected; tunes the anytime-valid test's "
                    "mixture, which is tightest there (status.gates[].designSamples shows the "
                    "figure in use). Default, by gate: onlineEffect, the fixed-horizon size its "
                    "margin, the stable's treated conversion rate, alpha and 80 % power imply, "
                    "tuned at half of it (where a canary better than the margin decides); "
                    "upliftSanity, the same for its band; drift, the live rows at which features "
                    "without drift pass; qini, the evaluation rows its margin needs (shown only: "
                    "the set is fixed); incrementalConversions and roi, 20000 exposed units. "
                    "errorRate, latency and deliveryRate use exact Beta mixtures of a fixed "
                    "concentration and refuse it.")
    min_samples: int = Field(
        default=100, ge=0,
        description="Samples required before the gate may pass, counted in the gate's own "
                    "window: since the step started for the traffic gates (so each step needs "
                    "them again, at its own level), since the canary started for drift and "
                    "upliftSanity, the evaluation set's rows for qini. A custom gate's query "
                    "gives one value and no sample count, so a custom gate never reads it (a "
                    "Warning event IgnoredField says so when it is set). Default: 100.")
    failure_limit: int = Field(default=0, ge=0,
                               description="Fail verdicts tolerated at one step before rolling "
                                           "back. Default: 0 (the first Fail acts).")
    inconclusive_limit: int = Field(
        default=0, ge=0,
        description="Inconclusive verdicts tolerated at one step; one more pauses the ramp for "
                    "a human. Default: 0, never pause: hold the step until the data decides.")
    consecutive_error_limit: int = Field(
        default=4, ge=0, description="Error verdicts in a row tolerated before rolling back. "
                                     "Default: 4.")
    features: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, max_length=256,
        description="Drift gates: the features to check, in the order that decides which bet "
                    "on the rows between looks when the gate's status memory is full (the "
                    "others are judged by their confidence sets alone). Default: every "
                    "feature of the model, by name.")
    treatments: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=32,
        description="Per-treatment gates: the treatments to check. Default: all of them.")
    dry_run: bool = Field(default=False,
                          description="Evaluate and report the gate, but never act on it.")


    def ignored_fields(self) -> list[str]:
        """What the API server's field rules say of each field set here that this gate's type
        never reads: only an object stored before those rules can have one (ratcheting lets it
        stay until the gate is edited), and the operator ignores it, as it did then."""
        set_here = {to_camel(name) for name in self.model_fields_set}
        return [_field_message(name, types, self.kind)
                for name, types in self.field_readers.items()
                if name in set_here and self.type not in types]


class StatusBase(StatusPart):
    """What every kind's status reports, in the same shape (Argo CD, kubectl and dashboards rely
    on it): phase, message, observed generation, conditions, gate verdicts, the audit trail and
    the manual requests already acted on."""

    phase: Phase | None = Field(default=None,
                                description="Progressing, Healthy, Degraded or Paused; a Campaign "
                                            "also Suspended (before spec.schedule.start, or "
                                            "while a spent budget suspends it until the "
                                            "budgetPeriod rolls over) or Completed (past "
                                            "spec.schedule.end). Degraded too (but a Paused "
                                            "ramp) once a condition has said for 5 minutes, or "
                                            "progressDeadline when shorter, that the spec has "
                                            "not taken effect: ServingFailed True, "
                                            "ServingApplied False (ApplyFailed), ModelResolved "
                                            "False (ModelNotFound, VersionFailed, InvalidModel, "
                                            "CredentialsUnreadable, CredentialsRefused); a "
                                            "Campaign's "
                                            "SettingsDelivered False.")
    message: str = Field(default="", max_length=4096, description="Why the phase is what it is.")
    observed_generation: int | None = Field(default=None, ge=0,
                                            description="Last metadata.generation processed.")
    conditions: list[Condition] = Field(default_factory=list, max_length=32,
                                        description="Ready, InvalidSpec, ... as metav1.Condition.",
                                        json_schema_extra=LIST_MAP_BY_TYPE)
    gates: list[GateStatus] = Field(default_factory=list, max_length=16,
                                    description="Last verdict of each gate.")
    history: list[DecisionRecord] = Field(
        default_factory=list, max_length=50,
        description="Audit trail of promotions, rollbacks, steps and manual actions (newest "
                    "last, bounded: the last 20 entries, ignored requests dropped first, and "
                    "the newest entry of each rollback kind kept whatever its age).")
    history_trimmed: int | None = Field(
        default=None, ge=0,
        description="How many history entries were dropped to keep it bounded, in all. Absent "
                    "until the first is dropped.")
    # Bounds: the four request annotations (domain.requests), with room as the earlier ones
    # have, and remembered() (a token longer than 64 characters kept as sha256:<64 hex digits>).
    handled_requests: dict[str, Annotated[str, Field(max_length=71)]] = Field(
        default_factory=dict, max_length=8,
        description="Manual request annotations already acted on, by key, with their token (one "
                    "longer than 64 characters kept as sha256:<hex digest>).")
    # Bounds: domain.requests.HANDLED_TOKENS_KEPT (8 tokens a key, the last one above) and
    # remembered() (a token longer than 64 characters kept as sha256:<64 hex digits>).
    earlier_handled_requests: dict[str, Annotated[
        list[Annotated[str, Field(max_length=71)]], Field(max_length=7)]] | None = Field(
        default=None, max_length=8,
        description="Tokens of each request annotation handled before the one in "
                    "handledRequests, newest first (up to 7 a key; one longer than 64 "
                    "characters kept as sha256:<hex digest>). A value put back (by a GitOps "
                    "sync, Argo CD's or another's, restoring a request annotation committed to "
                    "Git, or by hand) is one of them: "
                    "not acted on again, but said once (a Warning event RequestReplayed and a "
                    "history entry RequestIgnored). Absent until a second token of a key is "
                    "handled, and from a status written before it: the last token alone is "
                    "then remembered.")

    @field_validator("handled_requests", mode="before")
    @classmethod
    def _handled_remembered(cls, value: Any) -> Any:
        """A token an earlier release kept whole (an annotation value may be 256 KiB) read as
        its digest, as ``remembered`` keeps it (the same token to
        ``is_handled``): the pass's next status write stores it so, within the CRD's bound.
        Anything else as it is (a number is the status repair's: ``domain.status``)."""
        if not isinstance(value, dict):
            return value
        return {key: remembered_as_kept(token) if isinstance(token, str) else token
                for key, token in value.items()}


RollbackMode = Literal["Automatic", "Manual"]


class RollbackPolicyBase(ApiModel):
    """The failure policy both kinds share: what a gate beyond its limits does to the ramp.

    One policy per resource rather than an ``onFailure`` per gate: a gate that should only be
    watched is a ``dryRun`` gate, and a human reading the spec finds the rule in one place."""

    mode: RollbackMode = Field(
        default="Automatic",
        description="Automatic: roll back at once (UpliftModel: all traffic to the stable "
                    "version, the canary removed; Campaign: exposure back to 0 %). Manual: "
                    "pause the ramp where it is and wait for an abort or a promote. Default: "
                    "Automatic.")


def step_pause_field() -> Any:
    """``steps[].pause`` of either ramp: the same step machine (``domain.steps``) reads both."""
    return Field(
        default=None,
        description="Least time the step lasts, counted from its start; gates are analysed "
                    "meanwhile, and the step advances once the pause has elapsed and an "
                    f"analysis during the step passed. Absent: until promoted by hand. At least "
                    f"analysisInterval (the step would end before its gates are evaluated). "
                    f"{AT_MOST}")


def at_least_a_second_rule(field: str) -> JsonValue:
    """A CEL rule on the object holding the Duration ``field``: at least 1s when set (its
    default is). ``domain.validation`` refuses the same of an object stored before it: an
    analysis interval, an alias refresh interval, and what the campaigns' runtime counts in
    whole seconds of at least 1 (a budget period, an attribution window)."""
    return {"rule": f"!has(self.{field}) || {cel_at_least(cel_seconds('self.' + field), '1.0')}",
            "message": f"{field} must be at least 1s", "fieldPath": f".{field}"}


#: Why a step's pause may not be shorter than the analysis interval (the API server's rule;
#: ``domain.validation`` says it of an object stored before, naming the step).
STEP_PAUSE_SHORT = ("steps[].pause must be at least analysisInterval{default}: the step would "
                    "end before its gates are evaluated")


def step_pause_short(default_interval: str, kind: str) -> str:
    """``STEP_PAUSE_SHORT`` as the API server says it on ``kind``: with the interval's default,
    which the rule checks against when the spec sets none (absent from the object the user
    applied, it would otherwise be a bound nobody wrote)."""
    article = "an" if kind[:1] in "AEIOU" else "a"
    return STEP_PAUSE_SHORT.format(
        default=f" (analysisInterval defaults to {default_interval} on {article} {kind})")


#: Why a progress deadline may not be shorter than the analysis interval (the API server's rule;
#: ``domain.validation`` says it of an object stored before).
PROGRESS_DEADLINE_SHORT = ("progressDeadline must be at least analysisInterval{default}: it "
                           "counts from the end of a step's pause, so a shorter one would pass "
                           "before the gates are evaluated again (Degraded on one look), and a "
                           "condition saying the spec has not taken effect would turn the phase "
                           "Degraded within less than an interval")


def ramp_rules(default_interval: str, kind: str) -> list[JsonValue]:
    """The CEL rules of either ramp (UpliftModel ``spec.rollout``, Campaign ``spec.exposure``)
    on its durations: ``analysisInterval`` (absent: ``default_interval``) at least 1s, and no
    step's pause nor ``progressDeadline`` shorter than it. ``domain.validation`` checks the
    same of an object stored before them (InvalidSpec, naming the field), except the deadline:
    one stored shorter is read as the interval (``RampSpecBase``) and named in a Warning."""
    interval = f"(has(self.analysisInterval) ? self.analysisInterval : '{default_interval}')"
    article = "an" if kind[:1] in "AEIOU" else "a"
    return [
        at_least_a_second_rule("analysisInterval"),
        {"rule": f"self.steps.all(s, !has(s.pause) || "
                 f"{cel_at_least(cel_seconds('s.pause'), cel_seconds(interval))})",
         "message": step_pause_short(default_interval, kind), "fieldPath": ".steps"},
        {"rule": "!has(self.progressDeadline) || "
                 f"{cel_at_least(cel_seconds('self.progressDeadline'), cel_seconds(interval))}",
         "message": PROGRESS_DEADLINE_SHORT.format(
             default=f" (analysisInterval defaults to {default_interval} on {article} {kind})"),
         "fieldPath": ".progressDeadline"},
    ]


def split_tolerance_field(description: str) -> Any:
    """``splitTolerance`` of either ramp (UpliftModel ``spec.rollout``: the traffic split and the
    canary's holdout; Campaign ``spec.exposure``: the holdout): one default and one range, each
    kind's own description. 0.04 is as far as 52/48 from a 50/50 split."""
    return Field(default=0.04, ge=0.0, le=0.5, description=description)


class RampSpecBase(ApiModel):
    """Fields every ramp has (UpliftModel ``spec.rollout``, Campaign ``spec.exposure``); each
    kind adds its steps (weight or percent), its analysis interval and its gates."""

    paused: bool = Field(default=False,
                         description="Hold the ramp where it is; gates keep being evaluated.")
    progress_deadline: Duration | None = Field(
        default=None,
        description="Longest a step may wait for conclusive gates, past its pause, before the "
                    "resource is marked Degraded (not rolled back); at least analysisInterval. "
                    "Absent: no deadline. When "
                    "shorter than 5 minutes, also how long a condition saying the spec has not "
                    f"taken effect holds before the phase is Degraded (status.phase). {AT_MOST}")

    #: The deadline as stored, when shorter than the analysis interval (an object stored before
    #: the API server's rule, ``ramp_rules``); None otherwise.
    _short_progress_deadline: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _deadline_at_least_interval(self) -> RampSpecBase:
        """A ``progressDeadline`` stored shorter than the analysis interval is read as the
        interval, by every reader of the ramp (its steps' deadline, the not-serving grace, an
        emergency restore's deadline, the phase's grace), rather than refusing the spec: an
        object stored before the rule stays under its ramp after an operator upgrade (an
        InvalidSpec canary was held where it stood, its gates unjudged, a failing one never
        rolled back). ``domain.validation.short_progress_deadline`` names it in a Warning.
        Reading only: written out (``model_dump``, so the spec's digests) it is as stored."""
        interval = getattr(self, "analysis_interval", None)
        deadline = self.progress_deadline
        if deadline is None or not isinstance(interval, str):
            return self
        try:
            interval_s = duration_seconds(interval)
            short = not at_least(duration_seconds(deadline), interval_s)
        except ValueError:  # malformed: the schema refuses it, not this
            return self
        # An interval past its bound is InvalidSpec itself (``domain.validation``), named as
        # the interval, not as a deadline read from it.
        if short and interval_s <= MAX_DURATION_SECONDS:
            self._short_progress_deadline = deadline
            self.progress_deadline = interval
        return self

    @field_serializer("progress_deadline")
    def _deadline_as_stored(self, value: str | None) -> str | None:
        return self._short_progress_deadline or value

    @property
    def short_progress_deadline(self) -> str | None:
        """The ``progressDeadline`` as stored when it is shorter than the analysis interval
        (read as the interval, ``_deadline_at_least_interval``); None otherwise."""
        return self._short_progress_deadline


class RampStatus(StatusBase):
    """The step machine's state, in the same fields for both kinds (``domain.steps``)."""

    current_step: int | None = Field(default=None, ge=0,
                                     description="Index of the current ramp step.")
    step_started_at: dt.datetime | None = Field(default=None,
                                                description="When the current step began.")
    last_analysis_at: dt.datetime | None = Field(default=None,
                                                 description="When gates were last evaluated.")
    resumed_at: dt.datetime | None = Field(
        default=None,
        description="When the ramp last resumed from Paused (the spec's paused, an "
                    "inconclusiveLimit, a Manual rollback) within the current step: "
                    "progressDeadline counts from no earlier, so time spent paused is not "
                    "time failing to progress.")
    paused_at: dt.datetime | None = Field(
        default=None,
        description="Since when the ramp is held Paused (the spec's paused, an "
                    "inconclusiveLimit, a Manual rollback); absent while it is not. The pass "
                    "that resumes it sets resumedAt. Kept by the passes that refuse the spec or "
                    "find the serving graph someone else's, which publish their own phase over "
                    "Paused.")
    passed_while_held_at: dt.datetime | None = Field(
        default=None,
        description="When an analysis made every gate of the current step pass while something "
                    "else held the step (an UpliftModel's model reference not resolving or its "
                    "canary not serving; a Campaign's settings not served or its campaigns "
                    "file not written), so no AnalysisPassed event was said then: it is said "
                    "once the hold lifts with the gates still passing, and this is cleared "
                    "then, or when they stop passing or the step changes.")
