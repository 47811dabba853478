"""The campaigns file: every Campaign of one UpliftModel as the runtime reads it, in a ConfigMap.

The one mapping from a Campaign to an entry of the campaigns file (docs/runtime.md, "The
campaigns file"; the runtime's parser is ``runtime.campaigns``, which this module may not
import: the operator never loads the data plane). One document per UpliftModel, one entry per
Campaign whose ``spec.modelRef`` names it, in the ConfigMap ``<model>-campaigns`` (key
``campaigns.json``), owned by the UpliftModel so the garbage collector deletes it with the
model. ``render.seldon`` mounts it as a directory into every predictor and points
``UPLIFT_CAMPAIGNS_FILE`` at the key, so the kubelet's update of the volume reaches the runtime.

Pure and deterministic: the same Campaigns give the same text byte for byte (sorted keys), so
the caller writes the ConfigMap only when the text changed. What the exposure and ``active``
are is decided by the Campaign pass (``domain.exposure``); this module only writes them down.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from uplift_operator.api.v1alpha1.campaign import CampaignSpec, CampaignTreatment, Targeting
from uplift_operator.api.v1alpha1.common import duration_whole_seconds, parse_duration
from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

__all__ = ["CONFIG_MAP_LIMIT_BYTES", "DATA_KEY", "FILE", "FILE_BUDGET_BYTES", "FORMAT",
           "GROWTH_BYTES", "MAX_CAMPAIGNS", "MAX_GRACE_SECONDS", "MAX_NAME", "MAX_TEXT",
           "MAX_WINDOW_SECONDS", "MOUNT_DIR", "NAME", "PROPAGATION_GRACE_SECONDS", "SPLIT_BYTES",
           "TYPICAL_ENTRY_BYTES",
           "CampaignEntry", "Fitted", "SplitChange", "UnrenderableError", "VersionSplit",
           "budget_beside", "carried_split", "config_map", "document", "entries_in", "entry",
           "fitted", "has_room", "name_problem", "names_in", "spare_bytes", "split_in", "text",
           "unfit"]

FORMAT = "uplift-operator/campaigns/v1"  # = runtime.campaigns.FORMAT (a test keeps them equal)
DATA_KEY = "campaigns.json"
MOUNT_DIR = "/etc/uplift/campaigns"  # a directory mount: a subPath mount never sees an update
FILE = f"{MOUNT_DIR}/{DATA_KEY}"
#: The API server refuses a ConfigMap whose values (those of ``data`` and, decoded, of
#: ``binaryData``; not the keys) exceed 1 MiB in all (``ValidateConfigMap``).
CONFIG_MAP_LIMIT_BYTES = 1_048_576
#: A file that grew past that limit would be refused whole, and with it every later change of
#: every Campaign of the model, rollbacks included. The file stays within this, and within
#: what the ConfigMap's other keys leave of the limit (``budget_beside``).
FILE_BUDGET_BYTES = 1_000_000
#: The most entries the runtime takes (= runtime.campaigns.MAX_CAMPAIGNS; a test keeps them
#: equal): it refuses a longer document whole and keeps its last good settings, so one Campaign
#: too many would stop every change of the others reaching the pods. ~1,800 entries of the
#: usual size (the sample Campaign's: about 535 bytes, compact) fill the byte budget first.
MAX_CAMPAIGNS = 4096
#: What an entry may grow by with no change of its spec (exposure 5.0 → 100.0, active true →
#: false, one more digit of generation): kept free for each entry whenever a file near its
#: budget takes a Campaign or a spec edit that grows an entry, so that the Campaigns it holds
#: growing never push the newest of them out (withdrawn, it would shrink, fit again, restart
#: its ramp and grow out again).
GROWTH_BYTES = 16
#: The size of the usual entry (the sample Campaign's, compact: ``runtime.md``): what a
#: restarted operator takes a newcomer to need before the model's first file pass
#: (``has_room``).
TYPICAL_ENTRY_BYTES = 535
#: The longest attribution window the runtime takes (= runtime.campaigns.MAX_WINDOW_SECONDS; a
#: test keeps them equal): an entry never carries a longer one (nor one under 1 s).
MAX_WINDOW_SECONDS = 10 * 366 * 86400
#: The names the runtime serves a campaign under (= runtime.campaigns.NAME and MAX_NAME; a test
#: keeps them equal): a DNS label. Every decision id carries its campaign's name, within a
#: bounded length that report senders store, so the runtime takes neither a longer name nor a
#: dot; the API server took any DNS subdomain of up to 253 characters for a Campaign stored
#: before its CRD said otherwise. The file leaves a Campaign of such a name out.
NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 63
#: The longest salt, unit key or treatment name the runtime takes (= runtime.campaigns.MAX_TEXT).
MAX_TEXT = 128
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_T = TypeVar("_T")


def _utc(time: dt.datetime) -> dt.datetime:
    return time if time.tzinfo is not None else time.replace(tzinfo=dt.UTC)


def _time(time: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (a time without an offset is read as UTC, as the API does)."""
    if time.tzinfo is None:
        time = time.replace(tzinfo=dt.UTC)
    return time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class UnrenderableError(ValueError):
    """A Campaign's entry cannot be rendered as its spec says; the message names the field."""


@dataclass(frozen=True)
class CampaignEntry:
    """One Campaign as the file needs it: identity, spec, and the pass's exposure decision."""

    name: str
    namespace: str
    generation: int
    spec: CampaignSpec
    exposure_percent: float
    active: bool
    created: dt.datetime | None = None  # metadata.creationTimestamp (a budget period's start)
    #: ``status.budgetAnchor``: where the budget periods start once the Campaign exposed with a
    #: budget (None: not recorded yet, ``spec.schedule.start`` else ``created``).
    budget_anchor: dt.datetime | None = None
    #: The operator refused the spec (Ready reason ``InvalidSpec``): the entry tells the runtime
    #: to treat no one (exposure 0, inactive), whatever the spec and the status say.
    refused: bool = False
    #: ``metadata.uid``: the runtime tells a Campaign created again under the name by it (a
    #: creation time has a second's precision only).
    uid: str | None = None
    #: The runtime is to keep its previous settings of the Campaign (Ready reason
    #: ``TreatmentNotServed``: the served version does not score a treatment of its spec, so
    #: every replica rejects the entry as edited): ``fitted`` carries the entry the file held
    #: before the edit (its ``previous``) instead, when one is given, so a replica started
    #: since gets the settings the others keep rather than none.
    keeps_previous: bool = False


def name_problem(name: str) -> str | None:
    """Why the runtime serves no campaign under ``name`` (None: it does). The file leaves such a
    Campaign out: an entry under that name would be rejected by every replica."""
    if len(name) <= MAX_NAME and NAME.fullmatch(name):
        return None
    return (f"its name {name!r} is not one the runtime serves a campaign under (a DNS label: "
            f"[a-z0-9-], a letter or digit first and last, at most {MAX_NAME} characters, as "
            f"every decision id carries it); create the Campaign again under such a name")


def entry(campaign: CampaignEntry) -> dict[str, Any]:
    """The file's entry for ``campaign`` (the table of docs/runtime.md, field by field);
    ``UnrenderableError`` for a Campaign the file leaves out (``unfit`` says why).

    Never one the runtime's parser (``runtime.campaigns.parse_campaign``) rejects, whatever
    spec the API server let through: a rejected entry keeps the runtime's last good settings
    of the Campaign, treating at the exposure it had, and a rollback to 0 % would not reach
    the replicas. A Campaign the operator refused (``refused``), and one whose spec holds a
    value the runtime would reject or that cannot be rendered (a duration past what a
    ``timedelta`` holds, a policy without its parameter, an end before the start, a time out
    of range: ``unfit`` names it), is carried as refused: its entry treats no one (exposure 0,
    inactive), each such value replaced by one the runtime takes (a policy or schedule left
    out, a budget without its period, the longest window), so the runtime takes it and stops
    treating; its holdout, salt, unit key and window stay where the runtime takes them, so the
    reports of decisions made before still count. An error rendering one Campaign is that
    Campaign's alone: the file renders the others. A Campaign whose name the runtime serves
    no campaign under (``name_problem``), or whose entry cannot be rendered even refused, is
    left out. (A treatment the model lacks is the runtime's to judge: it binds the entry to
    the version it loaded and rejects an entry that treats for a treatment that version
    lacks, keeping its last good settings of the Campaign; one that treats no one it takes
    without that treatment, so a rollback reaches every replica. The Campaign's status says
    so: ``InvalidSpec`` when the model's spec lacks it, Ready ``TreatmentNotServed`` when only
    the version that serves does; while it says ``TreatmentNotServed``, ``fitted`` carries the
    entry from before the edit where the caller knows it, ``keeps_previous``, so a replica
    started meanwhile, which has no last good settings, is not left without the Campaign.)"""
    rendered, why = _render(campaign)
    if rendered is None:
        raise UnrenderableError(why or "left out")
    return rendered


def unfit(campaign: CampaignEntry) -> str | None:
    """Why the file does not carry ``campaign`` as its spec and the pass's decision say, None
    when it does: its name (left out), a value the runtime would reject or that cannot be
    rendered (carried as refused), an entry that cannot be rendered even refused (left out).
    A Campaign the operator refused already says so itself: only its name or an entry that
    cannot be rendered at all count."""
    return _render(campaign)[1]


def _render(campaign: CampaignEntry) -> tuple[dict[str, Any] | None, str | None]:
    """The entry (None: left out) and why it is not the one the spec and exposure say."""
    why = name_problem(campaign.name)
    if why is not None:
        return None, why
    cause: str | None = None
    if not campaign.refused:
        try:
            return _checked(_settings(campaign, refused=False)), None
        except Exception as error:  # this Campaign's alone: carried as refused instead
            cause = f"its spec cannot be rendered into an entry the runtime takes: {_say(error)}"
    try:
        return _checked(_settings(campaign, refused=True)), cause
    except Exception as error:  # a bug: the others are rendered all the same
        return None, f"its entry cannot be rendered, not even as refused: {_say(error)}"


def _settings(campaign: CampaignEntry, *, refused: bool) -> dict[str, Any]:
    """The entry's fields. As it is (not ``refused``) a value the runtime would reject raises
    ``UnrenderableError`` naming the field; refused, each such value is replaced by one the
    runtime takes."""

    def kept(render: Callable[[], _T], instead: _T) -> _T:
        if not refused:
            return render()
        try:
            return render()
        except Exception:  # refused: the entry treats no one, a value the runtime takes
            return instead

    spec = campaign.spec
    econ, experiment, targeting = spec.economics, spec.experiment, spec.targeting
    unscheduled: tuple[str | None, str | None] = (None, None)
    start, end = kept(lambda: _schedule(spec), unscheduled)
    created = kept(lambda: _at("metadata.creationTimestamp", campaign.created), None)
    # Recorded once in status, so an edit of schedule.start neither restarts the replicas'
    # period spend nor moves the periods; before that, what the operator's budget gate reads.
    anchor = kept(lambda: _at("status.budgetAnchor", campaign.budget_anchor), None)
    default_salt = f"{campaign.namespace}/{campaign.name}"
    budget: dict[str, Any] | None = None
    amount = econ.budget
    if amount is not None:
        budget = kept(lambda: {
            "amount": _number("spec.economics.budget", amount, lo=0),
            "periodSeconds": kept(lambda: _period_seconds(econ.budget_period), None),
            "periodStart": anchor or start or created or _time(_EPOCH)}, None)

    def terms(treatment: CampaignTreatment) -> dict[str, float]:
        cost = treatment.cost_per_treatment
        value = treatment.value_per_conversion
        return {"cost": kept(lambda: _number(
                    "spec.treatments[].costPerTreatment",
                    econ.cost_per_treatment if cost is None else cost, lo=0), 0.0),
                "value": kept(lambda: _number(
                    "spec.treatments[].valuePerConversion",
                    econ.value_per_conversion if value is None else value, lo=0), 0.0)}

    return {
        "generation": kept(lambda: _count("metadata.generation", campaign.generation, lo=0), 0),
        "salt": kept(lambda: _string("spec.experiment.salt", experiment.salt or default_salt),
                     default_salt),
        "unitKey": kept(lambda: _string("spec.experiment.unitKey", experiment.unit_key),
                        "unit_id"),
        "holdoutFraction": kept(lambda: _number("spec.experiment.holdoutFraction",
                                                experiment.holdout_fraction, lo=0, hi=1,
                                                hi_open=True), 0.0),
        "exposurePercent": 0 if refused else _number("status.exposurePercent",
                                                     campaign.exposure_percent, lo=0, hi=100),
        "treatments": {t.name: terms(t) for t in spec.treatments},
        "policy": kept(lambda: _policy(targeting), {"type": "costAware"}),
        "maxTreatmentsPerUnit": kept(lambda: _count("spec.targeting.maxTreatmentsPerUnit",
                                                    targeting.max_treatments_per_unit, lo=1,
                                                    hi=1_000_000), 1),
        "budget": budget,
        "attributionWindowSeconds": kept(lambda: _window(experiment.attribution_window),
                                         MAX_WINDOW_SECONDS),
        "active": campaign.active and not refused,
        "start": start,
        "end": end,
        # The runtime tells a predecessor's decisions (a Campaign deleted and created again
        # under the name) by their issue time: their reports are not this Campaign's.
        "createdAt": created,
        # And the new Campaign's entry from the predecessor's by this (by ``createdAt`` in the
        # entries of an operator that wrote none): it does not inherit the predecessor's
        # settings, spend or caps, even when this replica rejects the new entry.
        # (One the runtime would not take, which the API server never gives, is left out
        # rather than costing the Campaign its entry.)
        "uid": campaign.uid if campaign.uid and len(campaign.uid) <= MAX_TEXT else None,
    }


def _checked(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` once known to be JSON the runtime reads (no NaN or infinity, which the
    runtime refuses with the whole document), and to name a treatment at least."""
    json.dumps(settings, allow_nan=False)
    if not settings["treatments"] or not all(0 < len(name) <= MAX_TEXT
                                             for name in settings["treatments"]):
        raise UnrenderableError(f"spec.treatments: one at least, each name of 1 to {MAX_TEXT} "
                                "characters")
    return settings


def _schedule(spec: CampaignSpec) -> tuple[str | None, str | None]:
    schedule = spec.schedule
    if schedule is None:
        return None, None
    start = _at("spec.schedule.start", schedule.start)
    end = _at("spec.schedule.end", schedule.end)
    if (schedule.start is not None and schedule.end is not None
            and _utc(schedule.end) <= _utc(schedule.start)):
        raise UnrenderableError("spec.schedule.end must be after spec.schedule.start")
    return start, end


def _policy(targeting: Targeting) -> dict[str, Any]:
    policy: dict[str, Any] = {"type": targeting.policy}
    if targeting.min_uplift is not None:
        policy["minUplift"] = _number("spec.targeting.minUplift", targeting.min_uplift,
                                      lo=-1, hi=1)
    if targeting.top_fraction is not None:
        policy["topFraction"] = _number("spec.targeting.topFraction", targeting.top_fraction,
                                        lo=0, hi=1, lo_open=True)
    needs = {"upliftThreshold": "minUplift", "topFraction": "topFraction"}.get(targeting.policy)
    if needs is not None and needs not in policy:
        raise UnrenderableError(f"spec.targeting.policy {targeting.policy} needs "
                                f"spec.targeting.{needs}")
    return policy


def _period_seconds(period: str | None) -> float | None:
    """A budget period in seconds, at least 1 (the operator refuses a shorter one)."""
    if period is None:
        return None
    return max(1.0, _seconds("spec.economics.budgetPeriod", period))


def _window(window: str) -> int:
    """The attribution window in whole seconds within the runtime's bounds (the operator
    refuses one outside them), a fraction rounded up as an UpliftModel's
    (``services.campaigns_file.attribution_window_seconds``): 1.5s is 2, never 1."""
    _seconds("spec.experiment.attributionWindow", window)  # refused as any duration
    # Counted from the exact sum by the helper an UpliftModel's window is (1.1h is 3960 s for
    # both): the timedelta above rounds to microseconds, a float sum drifts past 3960.
    return min(max(1, duration_whole_seconds(window)), MAX_WINDOW_SECONDS)


def _seconds(field_name: str, duration: str) -> float:
    try:
        return parse_duration(duration).total_seconds()
    except OverflowError:
        raise UnrenderableError(f"{field_name} {duration!r} is longer than a duration can be "
                                "(at most 999,999,999 days)") from None
    except ValueError as error:
        raise UnrenderableError(f"{field_name} {duration!r}: {error}") from None


def _number(field_name: str, value: float, *, lo: float, hi: float = math.inf,
            lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` where the runtime takes it: finite, within the bounds."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value < lo or value > hi
            or (lo_open and value == lo) or (hi_open and value == hi)):
        raise UnrenderableError(f"{field_name} {value!r} is not a number the runtime takes")
    return value


def _count(field_name: str, value: int, *, lo: int, hi: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UnrenderableError(f"{field_name} {value!r} must be an integer in [{lo}, {hi}]")
    return value


def _string(field_name: str, value: str) -> str:
    if not 0 < len(value) <= MAX_TEXT:
        raise UnrenderableError(f"{field_name} must have 1 to {MAX_TEXT} characters, has "
                                f"{len(value)}")
    return value


def _at(field_name: str, time: dt.datetime | None) -> str | None:
    """``time`` as the runtime reads it, None for None."""
    if time is None:
        return None
    try:
        return _time(time)
    except OverflowError:
        raise UnrenderableError(f"{field_name} {time.isoformat()} is out of range in "
                                "UTC") from None


def _say(error: Exception) -> str:
    """An error for a status message: its text, and its kind when it is not ``UnrenderableError``."""
    return str(error) if isinstance(error, UnrenderableError) else f"{type(error).__name__}: {error}"


#: How long after a change of the canary's percent the runtime counts the units between the
#: old and the new percent for neither version, by default (the operator's
#: ``--split-propagation-grace``, written into the split as ``graceSeconds``; = the runtime's
#: fallback ``runtime.campaigns.PROPAGATION_GRACE_SECONDS`` for a split without it; a test keeps
#: them equal): at least how long the kubelet takes to bring every pod the new file (its sync
#: period, 60 s by default, plus the ConfigMap cache's TTL: 60–90 s in all, docs/dataplane.md).
PROPAGATION_GRACE_SECONDS = 120
#: The longest grace (``--split-propagation-grace``'s bound; ``SPLIT_BYTES`` covers it).
MAX_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class SplitChange:
    """The last change of the canary's percent (``carried_split``): the unit positions in
    ``[low, high)`` (percent; between the percent a pod may still hold and the new one) count
    for neither version in decisions made before ``at`` + ``grace`` seconds."""

    low: int
    high: int
    at: dt.datetime
    grace: int = PROPAGATION_GRACE_SECONDS


@dataclass(frozen=True)
class VersionSplit:
    """The model's versions and the canary's traffic percent: the runtime counts a row for the
    version that owns its unit (``runtime.assignment.version_owner``)."""

    stable: str
    canary: str | None
    canary_percent: int
    #: ``spec.experiment.attributionWindow`` in seconds: the model's own decisions carry it
    #: while the canary runs, so the runtime counts them as cohorts (the onlineEffect gate).
    attribution_window_seconds: int = 0
    #: The last change of ``canary_percent`` while the file held these versions (None: none
    #: the file knows of): ``carried_split`` sets it.
    change: SplitChange | None = None


def split_in(content: str | None) -> dict[str, Any] | None:
    """A file's ``split`` as its text has it (None: none, or text that is not such a file)."""
    try:
        document = json.loads(content or "")
    except ValueError:
        return None
    split = document.get("split") if isinstance(document, dict) else None
    return split if isinstance(split, dict) else None


@overload
def carried_split(split: VersionSplit, held: Mapping[str, Any] | None,
                  now: dt.datetime, grace: int = ...) -> VersionSplit: ...
@overload
def carried_split(split: None, held: Mapping[str, Any] | None, now: dt.datetime,
                  grace: int = ...) -> None: ...
def carried_split(split: VersionSplit | None, held: Mapping[str, Any] | None,
                  now: dt.datetime, grace: int = PROPAGATION_GRACE_SECONDS) -> VersionSplit | None:
    """``split`` as the file carries it when the file there holds the split ``held``
    (``split_in``; None: none) at ``now``, the pass's time. Pods read their copy of the file
    up to the kubelet's propagation delay apart, each attributing a unit by its own copy: on a
    step 10 → 30 % a canary pod with the new copy and a stable pod with the old one would both
    count the units at positions 10–30 as theirs. So when the canary's percent changes (same
    versions), the file says which positions lie between the percent the pods may still hold
    and the new one, and since when (``now``, rounded up to the second): decisions made under
    the new copy within ``grace`` seconds of it (``--split-propagation-grace``, written as
    ``graceSeconds``) count those units for neither
    version, while a pod on the old copy attributes them by it, which no pod with the new copy
    contradicts. A change within the grace of the last one widens that one's band (a pod may
    still hold the copy before it). The percent unchanged, the held change is kept as it is, so
    the text stays the same from pass to pass (no clock read here: ``now`` is given)."""
    if split is None or split.canary is None or held is None:
        return split
    old = held.get("canaryPercent")
    if (held.get("stable") != split.stable or held.get("canary") != split.canary
            or isinstance(old, bool) or not isinstance(old, int | float)
            or not math.isfinite(old) or not 0 <= old <= 100):
        return split  # another canary's split, or none the file knows: no pod holds this one's
    before = _held_change(held)
    if old == split.canary_percent:
        return VersionSplit(split.stable, split.canary, split.canary_percent,
                            split.attribution_window_seconds, before)
    low = min(math.floor(old), split.canary_percent)
    high = max(math.ceil(old), split.canary_percent)
    if (before is not None
            and _utc(now) < before.at + dt.timedelta(seconds=before.grace)):
        low, high = min(low, before.low), max(high, before.high)
    at = _utc(now)
    if at.microsecond:
        at = at.replace(microsecond=0) + dt.timedelta(seconds=1)
    return VersionSplit(split.stable, split.canary, split.canary_percent,
                        split.attribution_window_seconds, SplitChange(low, high, at, grace))


def _held_change(held: Mapping[str, Any]) -> SplitChange | None:
    """The change a held split carries (None: none, or not one this module writes)."""
    low, high, at = (held.get("unattributedFrom"), held.get("unattributedTo"),
                     held.get("changedAt"))
    grace = held.get("graceSeconds", PROPAGATION_GRACE_SECONDS)  # absent: an older operator's
    if (not isinstance(low, int) or not isinstance(high, int) or isinstance(low, bool)
            or isinstance(high, bool) or not 0 <= low < high <= 100 or not isinstance(at, str)
            or not isinstance(grace, int) or isinstance(grace, bool)
            or not 0 <= grace <= MAX_GRACE_SECONDS):
        return None
    try:
        when = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    return (SplitChange(low, high, when.astimezone(dt.UTC), grace) if when.tzinfo is not None
            else None)


def document(campaigns: Iterable[CampaignEntry],
             split: VersionSplit | None = None) -> dict[str, Any]:
    """The whole file: one entry per Campaign it carries (not one ``entry`` leaves out), by
    name, and the model's version split."""
    return _document(_entries(campaigns), split)


def text(campaigns: Iterable[CampaignEntry], split: VersionSplit | None = None) -> str:
    """The file's text: the same Campaigns and split give the same bytes (sorted)."""
    return _text(_entries(sorted(campaigns, key=lambda c: c.name)), split)


def _entries(campaigns: Iterable[CampaignEntry]) -> dict[str, dict[str, Any]]:
    rendered = {c.name: _render(c)[0] for c in campaigns}
    return {name: settings for name, settings in rendered.items() if settings is not None}


def _document(entries: Mapping[str, dict[str, Any]], split: VersionSplit | None) -> dict[str, Any]:
    out: dict[str, Any] = {"format": FORMAT, "campaigns": dict(entries)}
    if split is not None:
        out["split"] = {"stable": split.stable, "canary": split.canary,
                        "canaryPercent": split.canary_percent}
        if split.attribution_window_seconds:
            out["split"]["attributionWindowSeconds"] = split.attribution_window_seconds
        if split.change is not None:
            out["split"].update({"changedAt": _time(split.change.at),
                                 "unattributedFrom": split.change.low,
                                 "unattributedTo": split.change.high,
                                 "graceSeconds": split.change.grace})
    return out


def _text(entries: Mapping[str, dict[str, Any]], split: VersionSplit | None) -> str:
    # Compact: a quarter smaller than indent=1, so a quarter more Campaigns fit the budget.
    return json.dumps(_document(entries, split), sort_keys=True, separators=(",", ":")) + "\n"


def _split_bytes(split: VersionSplit | None) -> int:
    """What ``split`` adds to the file (0: none)."""
    return len(_text({}, split)) - len(_text({}, None))


#: What the largest split adds to the file (versions of 16 characters, the UpliftModel status's
#: bound; 100 %; the longest window; a change's band of 100 to 100 at a time of a 4-digit year,
#: whole seconds, with the longest grace): kept free whatever split the file has, so that a
#: model's canary starting (no split before) or its percent changing never pushes a Campaign
#: out.
SPLIT_BYTES = _split_bytes(VersionSplit(
    "9" * 16, "9" * 16, 100, MAX_WINDOW_SECONDS,
    SplitChange(100, 100, dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                MAX_GRACE_SECONDS)))


def spare_bytes(length: int, entries: int, split_bytes: int, budget: int | None = None) -> int:
    """What a file of ``length`` bytes holding ``entries`` entries, whose split takes
    ``split_bytes`` (0: none), leaves of ``budget`` once the room it keeps for what changes
    with no spec edit is taken off: ``GROWTH_BYTES`` for each entry, and the largest split's
    bytes beyond its split's (``SPLIT_BYTES``). Negative: it does not keep that room. The one
    rule by which ``fitted`` admits a Campaign or an edit that grows an entry, and by which
    ``has_room`` judges a stored file before the model's first file pass."""
    budget = FILE_BUDGET_BYTES if budget is None else budget
    return budget - length - GROWTH_BYTES * entries - max(0, SPLIT_BYTES - split_bytes)


def budget_beside(config_map: Mapping[str, Any] | None) -> int:
    """The file's budget in the ConfigMap ``config_map`` (None: not there): ``FILE_BUDGET_BYTES``,
    and no more than what its other keys' values leave of ``CONFIG_MAP_LIMIT_BYTES`` (the API
    server counts every value of ``data`` and, decoded, of ``binaryData``, whoever wrote it;
    the server-side apply keeps a key someone else added, so the whole would be refused)."""
    others = 0
    for key, value in ((config_map or {}).get("data") or {}).items():
        if key != DATA_KEY:
            others += len(str(value).encode())
    for value in ((config_map or {}).get("binaryData") or {}).values():
        try:
            others += len(base64.b64decode(str(value), validate=True))
        except ValueError:
            others += len(str(value))
    return max(0, min(FILE_BUDGET_BYTES, CONFIG_MAP_LIMIT_BYTES - others))


def has_room(content: str | None, size: int = TYPICAL_ENTRY_BYTES,
             budget: int | None = None) -> bool:
    """Whether the file ``content`` (None or not a file: empty) has room for one more entry
    adding ``size`` bytes (its comma included) within ``budget``, as ``fitted`` judges a
    newcomer (``spare_bytes``), and for one more of the runtime's ``MAX_CAMPAIGNS``."""
    held = entries_in(content)
    if len(held) >= MAX_CAMPAIGNS:
        return False
    try:
        document = json.loads(content or "")
    except ValueError:
        document = None
    split = document.get("split") if isinstance(document, dict) else None
    split_bytes = (len(json.dumps({"split": split}, sort_keys=True, separators=(",", ":"))) - 1
                   if split is not None else 0)
    return spare_bytes(len(content or "") + size, len(held) + 1, split_bytes, budget) >= 0


@dataclass(frozen=True)
class Fitted:
    """The file's text within the budget; the Campaigns left out of it for want of room
    (sorted names); why the file does not carry others as their spec says (``unfit``: by
    name, sorted), and which of those it leaves out (``not_carried``; the rest it carries as
    refused); the Campaigns it carries at the entry the file held, for want of room for what
    their spec edit grew it by (``stale``, sorted: see ``fitted``)."""

    text: str
    left_out: tuple[str, ...]
    unfit: tuple[tuple[str, str], ...] = ()
    not_carried: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()


def fitted(campaigns: Sequence[CampaignEntry], split: VersionSplit | None = None, *,
           kept: Callable[[], Collection[str]] = frozenset,
           budget: int | None = None,
           previous: Mapping[str, Any] | None = None) -> Fitted:
    """The file's text with as many Campaigns as fit in ``budget`` bytes (the text is ASCII:
    ``json.dumps`` escapes the rest) and in the runtime's ``MAX_CAMPAIGNS``, keeping free the
    room for what changes with no spec edit (``spare_bytes``: ``GROWTH_BYTES`` for every entry
    and the largest split's bytes), so that a ramp step, a rollback or a model's canary
    starting never pushes a Campaign out. All of them when they fit so; otherwise first those
    ``kept`` names (called only then: the Campaigns the file there holds, so one that treats
    is never pushed out by a newer one), each while it fits in the budget (the room kept is
    theirs to grow into), then the others oldest first (creation time, then name), each while
    it fits with that room kept. When ``kept`` gives the file's entries by name
    (``entries_in``), a held Campaign whose spec edit grew its entry (beyond what its exposure,
    ``active`` and generation change) is carried as edited only while the room stays kept for
    every entry, the least grown first: one that no longer fits so is carried at the file's
    entry (``stale``), at no more exposure than the pass decided nor the entry had, and active
    only if both say so (``_as_before``), so a rollback still reaches the replicas and an
    exposure the edit raised is not carried on the settings from before it; neither the
    Campaign edited nor the newest the file holds is withdrawn (left out, its requests would
    be answered ``404 unknown_campaign``), and the room is never spent. (A held entry that is
    not such an entry, or a recreated Campaign's, counts as a newcomer when its entry grew.)
    Each Campaign is rendered alone (``entry``):
    one that cannot be rendered as its spec says is carried as refused, or left out, and the
    others are as they would be without it. A Campaign whose runtime keeps its previous
    settings (``keeps_previous``: its edit names a treatment the served version does not
    score) is carried at its entry in ``previous`` (the file's from before the edit, by name),
    at no more exposure than the pass decided nor that entry had, and active only if both say
    so (``_as_before``, as for ``stale``: a rollback, an abort or a suspension still reaches
    every replica), when that is an entry of the same Campaign; as rendered otherwise."""
    budget = FILE_BUDGET_BYTES if budget is None else budget
    entries: dict[str, dict[str, Any]] = {}
    unfit: dict[str, str] = {}
    for campaign in sorted(campaigns, key=lambda c: c.name):
        settings, why = _render(campaign)
        if settings is not None and campaign.keeps_previous and previous:
            before = _as_before(settings, previous.get(campaign.name))
            if before is not None:
                settings = before
        if settings is not None:
            entries[campaign.name] = settings
        if why is not None:
            unfit[campaign.name] = why
    not_carried = tuple(sorted({c.name for c in campaigns} - set(entries)))
    reasons = tuple(sorted(unfit.items()))
    whole = _text(entries, split)
    split_bytes = _split_bytes(split)
    if (spare_bytes(len(whole), len(entries), split_bytes, budget) >= 0
            and len(entries) <= MAX_CAMPAIGNS):
        return Fitted(whole, (), reasons, not_carried)
    held = kept()
    there: Mapping[str, Any] = held if isinstance(held, Mapping) else {}
    # What each held Campaign's spec edit grew its entry by since the file's (0: shrank,
    # unchanged, unknown), and the file's entry it may be carried at instead.
    grew = {name: _growth(entries[name], there.get(name)) for name in held if name in entries}
    instead = {name: _as_before(entries[name], there.get(name))
               for name, growth in grew.items() if growth > 0}
    empty = len(_text({}, split))
    carried = {c.name: c for c in campaigns if c.name in entries}

    def age(campaign: CampaignEntry) -> tuple[bool, dt.datetime, str]:
        return campaign.created is None, _utc(campaign.created or _EPOCH), campaign.name

    def size(name: str, settings: dict[str, Any]) -> int:
        # Compact, an entry alone adds '"name":{…}' to the empty document, and each further
        # one ',' + that: k entries take empty − 1 + Σ (alone − empty + 1).
        return len(_text({name: settings}, split)) - empty + 1

    def stays(name: str) -> bool:  # held, at its entry as edited or as the file has it
        return name in held and (grew.get(name, 0) == 0 or instead.get(name) is not None)

    chosen: dict[str, dict[str, Any]] = {}
    used = empty - 1
    # The held ones first, each while it fits (the room kept is theirs), an edit that grew
    # its entry at the file's entry for now; the oldest first should even that overflow.
    for campaign in sorted((c for c in carried.values() if stays(c.name)), key=age):
        settings = instead.get(campaign.name) or entries[campaign.name]
        bytes_ = size(campaign.name, settings)
        if used + bytes_ <= budget and len(chosen) < MAX_CAMPAIGNS:
            chosen[campaign.name] = settings
            used += bytes_
    # Their edits, the least grown first, each while the room stays kept for every entry.
    stale: set[str] = set()
    for name in sorted((n for n in instead if n in chosen), key=lambda n: (grew[n], n)):
        more = size(name, entries[name]) - size(name, chosen[name])
        if spare_bytes(used + more, len(chosen), split_bytes, budget) >= 0:
            chosen[name] = entries[name]
            used += more
        else:
            stale.add(name)
    # Then the others, oldest first, each with its room kept and the others'.
    for campaign in sorted((c for c in carried.values() if not stays(c.name)), key=age):
        bytes_ = size(campaign.name, entries[campaign.name])
        if (spare_bytes(used + bytes_, len(chosen) + 1, split_bytes, budget) >= 0
                and len(chosen) < MAX_CAMPAIGNS):
            chosen[campaign.name] = entries[campaign.name]
            used += bytes_
    content = _text(chosen, split)
    while len(content) > budget and chosen:  # the sum is exact; this only guards it
        stale.discard(chosen.popitem()[0])
        content = _text(chosen, split)
    return Fitted(content, tuple(sorted(set(entries) - set(chosen))), reasons, not_carried,
                  tuple(sorted(stale)))


#: What an entry changes with no spec edit (what ``GROWTH_BYTES`` is kept for).
_VOLATILE = ("exposurePercent", "active", "generation")


def _growth(settings: Mapping[str, Any], before: Any) -> int:
    """How many bytes the entry ``settings`` takes more than ``before`` (the file's entry of
    the Campaign), what changes with no spec edit aside (``_VOLATILE``, which the room kept
    covers); 0 when ``before`` is not an entry, or when it takes no fewer."""
    if not isinstance(before, dict):
        return 0
    try:
        return max(0, _entry_bytes(_steady(settings)) - _entry_bytes(_steady(before)))
    except (TypeError, ValueError):  # not an entry this module wrote: no growth known
        return 0


def _steady(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key not in _VOLATILE}


def _as_before(settings: Mapping[str, Any], before: Any) -> dict[str, Any] | None:
    """The file's entry ``before`` of a Campaign whose entry is now ``settings``, at no more
    exposure than either says, and active only if both are: a rollback, an abort or a
    suspension reaches the replicas, while an exposure the edit itself raised (a first step
    from 5 to 50 %) is not carried on the settings from before it (its Campaign's ramp is held
    meanwhile: ``services.campaign``). None when it is not an entry of the same Campaign (its
    uid and creation time) with the same fields as this module writes, and taken by the
    runtime's checks this module makes (``_checked``)."""
    if (not isinstance(before, dict) or set(before) != set(settings)
            or before.get("uid") != settings.get("uid")
            or before.get("createdAt") != settings.get("createdAt")):
        return None
    try:
        kept = {**before,
                "exposurePercent": min(settings["exposurePercent"], before["exposurePercent"]),
                "active": bool(settings["active"]) and before["active"] is True}
        return _checked(kept)
    except (TypeError, ValueError, AttributeError):
        return None


def _entry_bytes(settings: Mapping[str, Any]) -> int:
    return len(json.dumps(settings, sort_keys=True, separators=(",", ":")))


def names_in(content: str | None) -> frozenset[str]:
    """The Campaigns a file's text holds (none for text that is not such a file)."""
    return frozenset(entries_in(content))


def entries_in(content: str | None) -> dict[str, Any]:
    """A file's entries by Campaign name, as its text has them (none for text that is not
    such a file): what ``fitted``'s ``kept`` gives to judge which held entries grew."""
    try:
        document = json.loads(content or "")
    except ValueError:
        return {}
    found = document.get("campaigns") if isinstance(document, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def config_map(owner: Owner, content: str) -> dict[str, Any]:
    """The ConfigMap holding the campaigns file of ``owner`` (an UpliftModel)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.campaigns_config_map(owner.name),
            "namespace": owner.namespace,
            "labels": naming.labels(owner),
            "ownerReferences": [naming.owner_reference(owner)],
        },
        "data": {DATA_KEY: content},
    }
