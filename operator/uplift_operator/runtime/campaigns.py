"""The campaigns file: each Campaign's settings as the runtime applies them (pure).

The operator renders one JSON document per UpliftModel, with an entry per Campaign of that model,
into a ConfigMap mounted into the predictor pods; ``UPLIFT_CAMPAIGNS_FILE`` names the file. The
runtime re-reads it when it changes (``runtime.reloading``), so exposure, budget and economics
change without a restart. Format (``docs/runtime.md``, "Campaigns")::

    {"format": "uplift-operator/campaigns/v1",
     "campaigns": {"spring-email": {
        "generation": 3, "salt": "marketing/spring-email", "unitKey": "customer_id",
        "holdoutFraction": 0.1, "exposurePercent": 25,
        "treatments": {"womens-e-mail": {"cost": 0.1, "value": 110.0}},
        "policy": {"type": "costAware"}, "maxTreatmentsPerUnit": 1,
        "budget": {"amount": 5000, "periodSeconds": 604800,
                   "periodStart": "2026-03-01T00:00:00Z"},
        "attributionWindowSeconds": 1209600, "active": true,
        "start": "2026-03-01T00:00:00Z", "end": null,
        "createdAt": "2026-02-20T09:30:00Z",
        "uid": "5f0c1d2e-7a9b-4c3d-8e1f-2a3b4c5d6e7f"}},
     "split": {"stable": "3", "canary": "4", "canaryPercent": 30,
               "attributionWindowSeconds": 3600, "changedAt": "2026-03-02T10:00:00Z",
               "unattributedFrom": 10, "unattributedTo": 30, "graceSeconds": 120}}

``split`` (optional) is the model's traffic split as the operator last set it: which version owns
which units (``assignment.version_owner``), and the model's attribution window, which its own
decisions carry while a canary runs (the onlineEffect gate's cohorts); a malformed one is
ignored with an error logged. ``changedAt`` and the band ``unattributedFrom``–``unattributedTo``
(optional, together) say when the canary's percent last changed and between which percents:
decisions made within ``graceSeconds`` of it (optional: ``PROPAGATION_GRACE_SECONDS`` when
absent, as an older operator wrote none) count a unit in the band for neither version
(:meth:`VersionSplit.owner`), as pods still on the old copy attribute it by that.

A document that is not that shape (not JSON, another ``format``, ``campaigns`` not an object)
is rejected whole (:class:`CampaignsError`). A malformed *entry* is rejected alone, with a
message naming the field, so one bad campaign does not hold back another's change (a rollback
to exposure 0, say); :func:`merge` keeps the entry's last good version — unless the rejected
entry is another Campaign's than that version's (``uid``, else ``createdAt``, differs: deleted
and created again under the name), whose settings are then dropped (:func:`apply_read`): the
new Campaign never treats on its predecessor's. An entry naming a
treatment the loaded model version lacks is rejected the same way while it treats, and taken
without that treatment while it treats no one (:func:`apply_document`), so a rollback to 0 %
reaches a replica of any version. Unknown keys are ignored, so a newer operator may add fields
an older runtime does not know.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from uplift_operator.model.keys import MAX_KEY_LENGTH, treatment_key
from uplift_operator.runtime.assignment import VERSION_SALT, unit_position, version_owner

FORMAT = "uplift-operator/campaigns/v1"
#: A campaign's name: a DNS label, as every decision id under it carries it (``events``: its
#: grammar, and a length bound report senders store ids within). The operator leaves a Campaign
#: of another name (one the API server took before its CRD said so) out of the file.
NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 63
MAX_TEXT = 128            # salt, unit key, treatment names
MAX_WINDOW_SECONDS = 10 * 366 * 86400
MAX_CAMPAIGNS = 4096     # = render.campaigns.MAX_CAMPAIGNS: the operator never writes more

PolicyType = Literal["costAware", "upliftThreshold", "topFraction"]
POLICY_TYPES: tuple[PolicyType, ...] = ("costAware", "upliftThreshold", "topFraction")
State = Literal["active", "inactive", "not-started", "ended"]

T = TypeVar("T")


class CampaignsError(ValueError):
    """The campaigns document (or one entry of it) cannot be used; the message names the field."""


@dataclass(frozen=True)
class TreatmentTerms:
    """What one treatment of the campaign costs and what one of its conversions is worth."""

    cost: float
    value: float


@dataclass(frozen=True)
class Policy:
    """How scores become treatments: ``costAware`` (uplift × value − cost > 0),
    ``upliftThreshold`` (uplift ≥ ``min_uplift``), ``topFraction`` (the top ``top_fraction`` of
    units by uplift)."""

    type: PolicyType = "costAware"
    min_uplift: float | None = None
    top_fraction: float | None = None


@dataclass(frozen=True)
class Budget:
    """``amount`` per period of ``period_seconds`` counted from ``period_start`` (unix seconds);
    without a period, ``amount`` is the campaign's whole budget."""

    amount: float
    period_start: float
    period_seconds: float | None = None

    def period(self, now: float) -> int:
        """The index of the period holding ``now`` (0 from ``period_start``; negative before it;
        always 0 without a period)."""
        if self.period_seconds is None:
            return 0
        return math.floor((now - self.period_start) / self.period_seconds)

    def period_bounds(self, now: float) -> tuple[float, float | None]:
        """(start, end) of the period holding ``now``; end ``None`` without a period."""
        if self.period_seconds is None:
            return self.period_start, None
        start = self.period_start + self.period(now) * self.period_seconds
        return start, start + self.period_seconds


@dataclass(frozen=True)
class Campaign:
    """One Campaign as the runtime applies it (one entry of the campaigns file)."""

    name: str
    generation: int
    salt: str
    unit_key: str
    holdout_fraction: float
    exposure_percent: float
    treatments: Mapping[str, TreatmentTerms]   # by the name in the Campaign's spec
    attribution_window_seconds: int
    policy: Policy = field(default_factory=Policy)
    max_treatments_per_unit: int = 1
    budget: Budget | None = None
    active: bool = True
    start: float | None = None   # unix seconds
    end: float | None = None
    #: The Campaign's creation (unix seconds): a decision issued before it was made under an
    #: earlier Campaign of the same name, deleted since, and its reports are not this one's.
    created_at: float | None = None
    #: The Campaign's ``metadata.uid`` (None in an older operator's file): tells a Campaign
    #: created again under the name within the second of its predecessor's creation.
    uid: str | None = None

    def predecessor(self, issued_at: int | None) -> bool:
        """Whether a decision issued at ``issued_at`` was an earlier Campaign's of the name."""
        return (self.created_at is not None and issued_at is not None
                and issued_at < math.floor(self.created_at))

    def renews(self, previous: Campaign) -> bool:
        """Whether this entry is another Campaign than ``previous`` of the same name: deleted
        and created again since (:func:`another_campaign`: their ``uid`` differs, or, when one
        of them has none, their creation). A replica that never saw the name leave the file
        must not hand the new Campaign the old one's caps, spend or topFraction history."""
        return another_campaign((self.uid, self.created_at),
                                (previous.uid, previous.created_at))

    def treats_no_one(self) -> bool:
        """Whether no row is treated under it, whatever the time: inactive, or exposure 0."""
        return not self.active or self.exposure_percent <= 0

    def state(self, now: float) -> State:
        """Whether it may treat at ``now``: ``active``, or why not."""
        if not self.active:
            return "inactive"
        if self.start is not None and now < self.start:
            return "not-started"
        if self.end is not None and now >= self.end:
            return "ended"
        return "active"


@dataclass(frozen=True)
class Parsed:
    """A document's campaigns that parsed, and a message per entry that did not."""

    campaigns: Mapping[str, Campaign]
    errors: Mapping[str, str]


def parse(text: str | bytes) -> Parsed:
    """The campaigns of one document; :class:`CampaignsError` when the document is unusable."""
    good: dict[str, Campaign] = {}
    errors: dict[str, str] = {}
    for name, entry in _entries(read_document(text)).items():
        try:
            good[name] = parse_campaign(name, entry)
        except CampaignsError as exc:
            errors[name] = str(exc)
    return Parsed(good, errors)


def read_document(text: str | bytes) -> dict[str, Any]:
    """The document as JSON, once its shape is checked (an object of this ``format`` with a
    ``campaigns`` object of at most ``MAX_CAMPAIGNS`` entries); :class:`CampaignsError`
    otherwise."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CampaignsError(f"not JSON: {exc}") from None
    except RecursionError:
        raise CampaignsError("not JSON: nested too deeply") from None
    if not isinstance(raw, dict):
        raise CampaignsError(f"expected a JSON object, got {_kind(raw)}")
    if raw.get("format") != FORMAT:
        raise CampaignsError(f"format must be {FORMAT!r}, got {_show(raw.get('format'))}")
    entries = raw.get("campaigns")
    if not isinstance(entries, dict):
        raise CampaignsError(f"campaigns must be an object of name → settings, got "
                             f"{_kind(entries)}")
    if len(entries) > MAX_CAMPAIGNS:
        raise CampaignsError(f"at most {MAX_CAMPAIGNS} campaigns, got {len(entries)}")
    return raw


def _entries(document: Mapping[str, Any]) -> dict[str, Any]:
    entries: dict[str, Any] = document["campaigns"]
    return entries


def parse_campaign(name: str, raw: Any) -> Campaign:
    """One entry; :class:`CampaignsError` naming the field (``campaigns.<name>.<field>``)."""
    where = f"campaigns.{name}"
    if len(name) > MAX_NAME or not NAME.fullmatch(name):
        raise CampaignsError(f"{where}: a campaign name must be a Kubernetes name "
                             f"([a-z0-9-], ≤ {MAX_NAME} characters)")
    if not isinstance(raw, dict):
        raise CampaignsError(f"{where} must be an object, got {_kind(raw)}")
    r = _Reader(raw, where)
    treatments = r.get("treatments", dict)
    if not treatments:
        raise CampaignsError(f"{where}.treatments must name at least one treatment")
    terms = {}
    for tname, t in treatments.items():
        tw = f"{where}.treatments.{tname}"
        if not tname or len(tname) > MAX_TEXT:
            raise CampaignsError(f"{tw}: a treatment name has 1 to {MAX_TEXT} characters")
        if not isinstance(t, dict):
            raise CampaignsError(f"{tw} must be an object {{cost, value}}, got {_kind(t)}")
        tr = _Reader(t, tw)
        terms[tname] = TreatmentTerms(cost=tr.number("cost", lo=0),
                                      value=tr.number("value", lo=0))
    budget_raw = raw.get("budget")
    budget = None
    if budget_raw is not None:
        if not isinstance(budget_raw, dict):
            raise CampaignsError(f"{where}.budget must be an object or null, got "
                                 f"{_kind(budget_raw)}")
        b = _Reader(budget_raw, f"{where}.budget")
        budget = Budget(amount=b.number("amount", lo=0),
                        period_start=b.time("periodStart"),
                        period_seconds=b.number("periodSeconds", lo=1, optional=True))
    policy_raw = r.get("policy", dict)
    p = _Reader(policy_raw, f"{where}.policy")
    kind = policy_raw.get("type")
    if kind not in POLICY_TYPES:
        raise CampaignsError(f"{where}.policy.type must be one of {list(POLICY_TYPES)}, got "
                             f"{_show(kind)}")
    policy = Policy(kind,
                    min_uplift=p.number("minUplift", lo=-1, hi=1,
                                        optional=kind != "upliftThreshold"),
                    top_fraction=p.number("topFraction", lo=0, hi=1, lo_open=True,
                                          optional=kind != "topFraction"))
    active = raw.get("active", True)
    if not isinstance(active, bool):
        raise CampaignsError(f"{where}.active must be true or false, got {_show(active)}")
    # Compared as the times written (to the microsecond), as the operator does: as unix
    # seconds in a float, two times a microsecond apart past the year ~2242 are one, and an
    # entry the operator wrote was rejected (its Campaign treating on its last settings).
    start_at, end_at = r.moment("start", optional=True), r.moment("end", optional=True)
    if start_at is not None and end_at is not None and end_at <= start_at:
        raise CampaignsError(f"{where}.end must be after start")
    start = start_at.timestamp() if start_at is not None else None
    end = end_at.timestamp() if end_at is not None else None
    return Campaign(
        name=name,
        generation=r.integer("generation", lo=0),
        # Any salt and unit key the API server took: a blank one hashes and names a request
        # input as well as any (refusing it would leave the Campaign treating on its last
        # settings, or unserved, while its status says otherwise).
        salt=r.text("salt", blank=True),
        unit_key=r.text("unitKey", blank=True),
        holdout_fraction=r.number("holdoutFraction", lo=0, hi=1, hi_open=True),
        exposure_percent=r.number("exposurePercent", lo=0, hi=100),
        treatments=terms,
        attribution_window_seconds=r.integer("attributionWindowSeconds", lo=1,
                                             hi=MAX_WINDOW_SECONDS),
        policy=policy,
        max_treatments_per_unit=r.integer("maxTreatmentsPerUnit", lo=1, hi=1_000_000,
                                          default=1),
        budget=budget,
        active=active,
        start=start,
        end=end,
        created_at=r.time("createdAt", optional=True),
        uid=None if raw.get("uid") is None else r.text("uid", blank=True),
    )


Identity = tuple[str | None, float | None]   # (uid, createdAt in unix seconds)


def another_campaign(new: Identity, old: Identity) -> bool:
    """Whether the Campaigns of two entries of a name, ``(uid, createdAt)`` each, are two: by
    their ``uid`` when both have one (a creation time has a second's precision: a Campaign
    created again within the second has the same), else by their creation when both have one
    (an older operator's entries carry no ``uid``); the same Campaign when neither tells."""
    if new[0] is not None and old[0] is not None:
        return new[0] != old[0]
    return new[1] is not None and old[1] is not None and new[1] != old[1]


def identity(entry: Any) -> Identity:
    """``(uid, createdAt)`` of an entry as JSON, whether it parses or not: what of them is
    well formed (None for the rest)."""
    if not isinstance(entry, dict):
        return None, None
    uid = entry.get("uid")
    try:
        created = _Reader(entry, "").time("createdAt", optional=True)
    except CampaignsError:
        created = None
    return (uid if isinstance(uid, str) and uid else None), created


def merge(previous: Mapping[str, T], current: Mapping[str, T],
          errors: Mapping[str, str]) -> dict[str, T]:
    """The campaigns to apply: every good entry of the new document, and for an entry that did
    not parse its last good version (if there is one). Campaigns the document no longer names
    are gone."""
    out = dict(current)
    for name in errors:
        if name in previous:
            out[name] = previous[name]
    return out


#: How long after the split's ``changedAt`` a decision of a unit between the previous and the
#: new canary percent counts for neither version when the split gives no ``graceSeconds`` (an
#: older operator's; = render.campaigns.PROPAGATION_GRACE_SECONDS, a test keeps them equal):
#: at least the kubelet's delay bringing a ConfigMap's update to every pod (60–90 s,
#: docs/dataplane.md), so that no pod still attributes by the old copy.
PROPAGATION_GRACE_SECONDS = 120
#: The longest ``graceSeconds`` read (= render.campaigns.MAX_GRACE_SECONDS).
MAX_GRACE_SECONDS = 3600


@dataclass(frozen=True)
class VersionSplit:
    """The model's versions and the canary's share of the traffic, as the operator last set them
    (the document's ``split``): which version owns which units (``assignment.version_owner``)."""

    stable: str
    canary: str | None
    canary_percent: float
    #: The UpliftModel's ``spec.experiment.attributionWindow`` in seconds (0: none given): the
    #: model's own decisions carry it, and are counted as a cohort once it closed on them.
    attribution_window_seconds: int = 0
    #: The last change of the canary's percent (unix seconds; None: none said) and the unit
    #: positions (percent, ``[low, high)``) between the percent before it and the new one:
    #: while other pods may still hold the file from before it, a unit there is counted for
    #: neither version (:meth:`owner`).
    changed_at: float | None = None
    unattributed: tuple[float, float] | None = None
    #: Seconds after ``changed_at`` the band counts for neither version (``graceSeconds``).
    grace_seconds: float = PROPAGATION_GRACE_SECONDS

    def owner(self, unit_id: str, now: float) -> str | None:
        """The version a decision of ``unit_id`` made at ``now`` counts for: its
        ``assignment.version_owner``, or None while the split's change propagates
        (``now`` < ``changed_at`` + ``grace_seconds``) for a unit whose position
        lies between the percent before the change and the new one. A pod on the old copy
        attributes such a unit by it, which no pod on this copy then contradicts: no unit is
        counted for both versions, as long as every pod has this copy within the grace."""
        if (self.canary is not None and self.unattributed is not None
                and self.changed_at is not None
                and now < self.changed_at + self.grace_seconds):
            low, high = self.unattributed
            if low <= unit_position(unit_id, VERSION_SALT) * 100 < high:
                return None
        return version_owner(unit_id, self.stable, self.canary, self.canary_percent)


def parse_split(text: str | bytes) -> VersionSplit | None:
    """The document's ``split`` (None when it has none: every row counts for its version).
    :class:`CampaignsError` when the document or its ``split`` is malformed."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CampaignsError(f"not JSON: {exc}") from None
    return split_of(raw)


def split_of(raw: Any) -> VersionSplit | None:
    """:func:`parse_split` of a document already read as JSON."""
    split = raw.get("split") if isinstance(raw, dict) else None
    if split is None:
        return None
    if not isinstance(split, dict):
        raise CampaignsError(f"split must be an object or null, got {_kind(split)}")
    r = _Reader(split, "split")
    canary = split.get("canary")
    if canary is not None and (not isinstance(canary, str) or not canary.strip()
                               or len(canary) > MAX_TEXT):
        raise CampaignsError(f"split.canary must be a version or null, got {_show(canary)}")
    # The change's band (an older operator's file has none): both bounds and the time, or none.
    changed = r.time("changedAt", optional=True)
    low = r.number("unattributedFrom", lo=0, hi=100, optional=True)
    high = r.number("unattributedTo", lo=0, hi=100, optional=True)
    if (changed is None) != (low is None) or (low is None) != (high is None):
        raise CampaignsError("split.changedAt, split.unattributedFrom and split.unattributedTo "
                             "come together or not at all")
    if low is not None and high is not None and low > high:
        raise CampaignsError(f"split.unattributedFrom must be at most unattributedTo, got "
                             f"{low!r} > {high!r}")
    return VersionSplit(stable=r.text("stable"), canary=canary,
                        canary_percent=r.number("canaryPercent", lo=0, hi=100),
                        attribution_window_seconds=r.integer(
                            "attributionWindowSeconds", lo=0, hi=MAX_WINDOW_SECONDS, default=0),
                        changed_at=changed,
                        unattributed=None if low is None or high is None else (low, high),
                        grace_seconds=r.integer("graceSeconds", lo=0, hi=MAX_GRACE_SECONDS,
                                                default=PROPAGATION_GRACE_SECONDS))


def named_treatment_keys(text: str | bytes) -> dict[str, frozenset[str]]:
    """Per entry of the document, the keys of the treatments it names (``treatment_key`` of
    each name: the ``treatment`` label a decision under it carries, whichever version's model
    made it), whether this replica takes the entry or not: a treatment only another version's
    model has shows here, and nowhere else this replica reads. Names without a key, and what
    is not an entry with a ``treatments`` object, name none; a document that is not JSON, none
    at all (:func:`apply_document` says why)."""
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return named_keys_of(raw)


def named_keys_of(raw: Any, names: Collection[str] | None = None
                  ) -> dict[str, frozenset[str]]:
    """:func:`named_treatment_keys` of a document already read as JSON; of its entries
    ``names`` only, when given (those that changed)."""
    entries = raw.get("campaigns") if isinstance(raw, dict) else None
    named: dict[str, frozenset[str]] = {}
    for name, entry in (entries.items() if isinstance(entries, dict) else ()):
        if names is not None and name not in names:
            continue
        treatments = entry.get("treatments") if isinstance(entry, dict) else None
        keys = set()
        for treatment in (treatments if isinstance(treatments, dict) else ()):
            with contextlib.suppress(ValueError):
                key = treatment_key(treatment)
                if len(key) <= MAX_KEY_LENGTH:
                    keys.add(key)
        named[name] = frozenset(keys)
    return named


def apply_document(previous: Mapping[str, T], text: str | bytes,
                   bind: Callable[[Campaign], T],
                   note: Callable[[str, str], None] = lambda name, message: None,
                   ) -> tuple[dict[str, T], dict[str, str]]:
    """The campaigns to apply after a new version of the document, and a message per entry that
    was rejected (it keeps its last good version, :func:`merge`). ``bind`` resolves a campaign
    against the loaded model; a ``ValueError`` from it rejects that entry, unless the entry
    treats no one (:meth:`Campaign.treats_no_one`): that one is bound without the treatments
    ``bind`` refuses (``note`` is told which), so a rollback, an abort or a suspension reaches a
    replica whose version lacks one of the campaign's treatments. Rejected, it would keep its
    last good settings there, treating on. :class:`CampaignsError` when the document is
    unusable as a whole."""
    applied = apply_read(previous, {}, read_document(text), bind, note)
    return applied.campaigns, applied.errors


@dataclass(frozen=True)
class Applied(Generic[T]):
    """A new version of the document, applied (:func:`apply_read`)."""

    campaigns: dict[str, T]        # to apply: as :func:`apply_document` gives them
    errors: dict[str, str]         # a message per entry rejected
    #: The entry (as JSON) each of ``campaigns`` was taken from: the next version's
    #: ``sources``, so an entry that did not change is not parsed and bound again.
    sources: dict[str, Any]
    changed: tuple[str, ...]       # the names parsed and bound anew (new, or their entry changed)
    #: Of ``errors``, those whose rejected entry is another Campaign's than the settings last
    #: applied under the name (created again since): those settings are dropped, not kept.
    renewed: tuple[str, ...] = ()


def apply_read(previous: Mapping[str, T], sources: Mapping[str, Any],
               document: Mapping[str, Any], bind: Callable[[Campaign], T],
               note: Callable[[str, str], None] = lambda name, message: None) -> Applied[T]:
    """:func:`apply_document` of a document :func:`read_document` read, taking over from
    ``previous`` as it is each campaign whose entry is the one it was taken from
    (``sources``, the last :class:`Applied`'s): only entries that changed are parsed and bound
    again, so a new version of a file of thousands of campaigns costs its changes (a campaign
    rejected stays one whose entry is parsed each time, and logged). A rejected entry keeps
    its campaign's last good settings only while it is the same Campaign's as the entry they
    were taken from (:func:`another_campaign` of their :func:`identity`): one deleted and
    created again under the name since (``renewed``) is not served here until an entry of it
    is taken — its predecessor's settings, spend and caps must not treat in its name. (A
    campaign of ``previous`` without its entry in ``sources`` keeps them: nothing tells.)"""
    bound: dict[str, T] = {}
    taken: dict[str, Any] = {}
    errors: dict[str, str] = {}
    changed: list[str] = []
    for name, entry in _entries(document).items():
        # Equal as JSON values (C-speed ``==``, 3 ms for 4,096 entries): ``1`` equals
        # ``1.0`` and ``true``, but an entry that differs from its source only so parses to the
        # same campaign or is rejected, which keeps the same one (its last good settings).
        if name in previous and name in sources and sources[name] == entry:
            bound[name], taken[name] = previous[name], sources[name]
            continue
        changed.append(name)
        try:
            campaign = parse_campaign(name, entry)
        except CampaignsError as exc:
            errors[name] = str(exc)
            continue
        try:
            bound[name] = bind(campaign)
        except ValueError as exc:
            served = _bind_served(campaign, bind) if campaign.treats_no_one() else None
            if served is None:
                errors[name] = str(exc)
                continue
            bound[name] = served[0]
            note(name, f"campaigns.{name} treats no one (inactive or exposure 0): taken without "
                       f"the treatments {served[1]} this version does not serve ({exc})")
        taken[name] = entry
    entries = _entries(document)
    renewed = tuple(name for name in errors if name in previous and name in sources
                    and another_campaign(identity(entries[name]), identity(sources[name])))
    for name in errors:   # kept at its last good settings: from the entry it was taken from
        if name in previous and name in sources and name not in renewed:
            taken[name] = sources[name]
    kept = {name: value for name, value in previous.items() if name not in renewed}
    return Applied(merge(kept, bound, errors), errors, taken, tuple(changed), renewed)


def _bind_served(campaign: Campaign, bind: Callable[[Campaign], T]
                 ) -> tuple[T, list[str]] | None:
    """``campaign`` bound with only the treatments ``bind`` takes, and those it does not; None
    when ``bind`` refuses even that."""
    served: dict[str, TreatmentTerms] = {}
    left_out: list[str] = []
    for name, terms in campaign.treatments.items():
        try:
            bind(dataclasses.replace(campaign, treatments={name: terms}))
        except ValueError:
            left_out.append(name)
        else:
            served[name] = terms
    try:
        return bind(dataclasses.replace(campaign, treatments=served)), left_out
    except ValueError:
        return None


class _Reader:
    """Typed fields of one JSON object, with errors that name the field."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def get(self, key: str, kind: type[T]) -> T:
        value = self.raw.get(key)
        if not isinstance(value, kind):
            name = "an object" if kind is dict else "a string" if kind is str else kind.__name__
            missing = "is required" if value is None else f"got {_show(value)}"
            raise CampaignsError(f"{self.where}.{key} must be {name}; {missing}")
        return value

    def text(self, key: str, *, blank: bool = False) -> str:
        """A string of 1 to ``MAX_TEXT`` characters; not only whitespace unless ``blank``."""
        value = self.get(key, str)
        if not value or len(value) > MAX_TEXT or (not blank and not value.strip()):
            raise CampaignsError(f"{self.where}.{key} must have 1 to {MAX_TEXT} characters"
                                 + ("" if blank else " (not blank)"))
        return value

    def number(self, key: str, *, lo: float, hi: float = math.inf, lo_open: bool = False,
               hi_open: bool = False, optional: bool = False) -> Any:
        value = self.raw.get(key)
        if value is None and optional:
            return None
        number = math.nan
        if not isinstance(value, bool) and isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:   # an integer beyond a float's range: not finite either
                number = math.inf
        if not math.isfinite(number):
            missing = "is required" if value is None else f"got {_show(value)}"
            raise CampaignsError(f"{self.where}.{key} must be a finite number; {missing}")
        if (number < lo or (lo_open and number == lo) or number > hi
                or (hi_open and number == hi)):
            left, right = "(" if lo_open else "[", ")" if hi_open else "]"
            raise CampaignsError(f"{self.where}.{key} must be in {left}{lo:g}, {hi:g}{right}, "
                                 f"got {value!r}")
        return number

    def integer(self, key: str, *, lo: int, hi: int = 2**63 - 1, default: int | None = None
                ) -> int:
        value = self.raw.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            missing = "is required" if value is None else f"got {_show(value)}"
            raise CampaignsError(f"{self.where}.{key} must be an integer; {missing}")
        if not lo <= value <= hi:
            raise CampaignsError(f"{self.where}.{key} must be in [{lo}, {hi}], got {value}")
        return value

    def time(self, key: str, optional: bool = False) -> Any:
        parsed = self.moment(key, optional)
        return None if parsed is None else parsed.timestamp()

    def moment(self, key: str, optional: bool = False) -> dt.datetime | None:
        value = self.raw.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str):
            missing = "is required" if value is None else f"got {_show(value)}"
            raise CampaignsError(f"{self.where}.{key} must be an RFC 3339 time; {missing}")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise CampaignsError(f"{self.where}.{key} must be an RFC 3339 time, got "
                                 f"{_show(value)}") from None
        if parsed.tzinfo is None:
            raise CampaignsError(f"{self.where}.{key} must have a time zone (e.g. Z), got "
                                 f"{_show(value)}")
        return parsed


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null",
            bool: "a boolean"}.get(type(value), "a number")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
