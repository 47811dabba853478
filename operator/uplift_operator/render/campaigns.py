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

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from uplift_operator.api.v1alpha1.campaign import CampaignSpec
from uplift_operator.api.v1alpha1.common import parse_duration
from uplift_operator.render import naming
from uplift_operator.render.naming import Owner

__all__ = ["DATA_KEY", "FILE", "FILE_BUDGET_BYTES", "FORMAT", "GROWTH_BYTES", "MAX_CAMPAIGNS",
           "MAX_WINDOW_SECONDS", "MOUNT_DIR",
           "CampaignEntry", "Fitted", "config_map", "document", "entry", "fitted", "names_in", "text"]

FORMAT = "uplift-operator/campaigns/v1"  # = runtime.campaigns.FORMAT (a test keeps them equal)
DATA_KEY = "campaigns.json"
MOUNT_DIR = "/etc/uplift/campaigns"  # a directory mount: a subPath mount never sees an update
FILE = f"{MOUNT_DIR}/{DATA_KEY}"
#: The API server refuses a ConfigMap whose data exceed 1 MiB (1,048,576 bytes): a file that
#: grew past it would be refused whole, and with it every later change of every Campaign of the
#: model, rollbacks included. The file stays within this, which leaves room for the key.
FILE_BUDGET_BYTES = 1_000_000
#: The most entries the runtime takes (= runtime.campaigns.MAX_CAMPAIGNS; a test keeps them
#: equal): it refuses a longer document whole and keeps its last good settings, so one Campaign
#: too many would stop every change of the others reaching the pods. ~1,500–2,000 entries of the
#: usual size fill the byte budget first.
MAX_CAMPAIGNS = 4096
#: What an entry may grow by with no change of its spec (exposure 5.0 → 100.0, active true →
#: false, one more digit of generation): kept free for each entry when a Campaign joins a file
#: near its budget, so that the Campaigns it holds growing never push the newest of them out
#: (withdrawn, it would shrink, fit again, restart its ramp and grow out again).
GROWTH_BYTES = 16
#: The longest attribution window the runtime takes (= runtime.campaigns.MAX_WINDOW_SECONDS; a
#: test keeps them equal): an entry never carries a longer one (nor one under 1 s).
MAX_WINDOW_SECONDS = 10 * 366 * 86400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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
    #: The operator refused the spec (Ready reason ``InvalidSpec``): the entry tells the runtime
    #: to treat no one (exposure 0, inactive), whatever the spec and the status say.
    refused: bool = False


def entry(campaign: CampaignEntry) -> dict[str, Any]:
    """The file's entry for ``campaign`` (the table of docs/runtime.md, field by field).

    Never one the runtime's parser (``runtime.campaigns.parse_campaign``) rejects, whatever
    spec the API server let through: a rejected entry keeps the runtime's last good settings
    of the Campaign, treating at the exposure it had. The operator refuses what the runtime
    would (durations under 1 s, a window past the runtime's bound), and such a Campaign is
    ``refused``: its entry treats no one, its durations brought within the runtime's bounds
    and a policy or schedule the runtime would not read left out, so the runtime takes it and
    stops treating; its holdout, salt, unit key and window stay, so the reports of decisions
    made before still count. (A treatment the model lacks is the runtime's to judge: it binds
    the entry to the version it loaded and rejects it for a treatment that version lacks,
    keeping its last good settings of the Campaign, a refused one's included. The Campaign's
    status says so: ``InvalidSpec`` when the model's spec lacks it, Ready
    ``TreatmentNotServed`` when only the version that serves does.)"""
    spec = campaign.spec
    refused = campaign.refused
    econ, experiment, targeting = spec.economics, spec.experiment, spec.targeting
    schedule_start = spec.schedule.start if spec.schedule is not None else None
    schedule_end = spec.schedule.end if spec.schedule is not None else None
    if (refused and schedule_start is not None and schedule_end is not None
            and _utc(schedule_end) <= _utc(schedule_start)):
        schedule_start = schedule_end = None  # the runtime refuses an end before the start
    budget: dict[str, Any] | None = None
    if econ.budget is not None:
        period = (max(1.0, parse_duration(econ.budget_period).total_seconds())
                  if econ.budget_period is not None else None)
        budget = {"amount": econ.budget, "periodSeconds": period,
                  "periodStart": _time(schedule_start or campaign.created or _EPOCH)}
    policy: dict[str, Any] = {"type": targeting.policy}
    if targeting.min_uplift is not None:
        policy["minUplift"] = targeting.min_uplift
    if targeting.top_fraction is not None:
        policy["topFraction"] = targeting.top_fraction
    if refused and ((targeting.policy == "upliftThreshold" and targeting.min_uplift is None)
                    or (targeting.policy == "topFraction" and targeting.top_fraction is None)):
        policy = {"type": "costAware"}  # what the runtime reads; the entry treats no one
    window = parse_duration(experiment.attribution_window).total_seconds()
    return {
        "generation": campaign.generation,
        "salt": experiment.salt or f"{campaign.namespace}/{campaign.name}",
        "unitKey": experiment.unit_key,
        "holdoutFraction": experiment.holdout_fraction,
        "exposurePercent": 0 if refused else campaign.exposure_percent,
        "treatments": {t.name: {
            "cost": t.cost_per_treatment if t.cost_per_treatment is not None
            else econ.cost_per_treatment,
            "value": t.value_per_conversion if t.value_per_conversion is not None
            else econ.value_per_conversion} for t in spec.treatments},
        "policy": policy,
        "maxTreatmentsPerUnit": targeting.max_treatments_per_unit,
        "budget": budget,
        "attributionWindowSeconds": min(max(1, int(window)), MAX_WINDOW_SECONDS),
        "active": campaign.active and not refused,
        "start": _time(schedule_start) if schedule_start is not None else None,
        "end": _time(schedule_end) if schedule_end is not None else None,
        # The runtime tells a predecessor's decisions (a Campaign deleted and created again
        # under the name) by their issue time: their reports are not this Campaign's.
        "createdAt": _time(campaign.created) if campaign.created is not None else None,
    }


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


def document(campaigns: Iterable[CampaignEntry],
             split: VersionSplit | None = None) -> dict[str, Any]:
    """The whole file: one entry per Campaign, by name, and the model's version split."""
    out: dict[str, Any] = {"format": FORMAT, "campaigns": {c.name: entry(c) for c in campaigns}}
    if split is not None:
        out["split"] = {"stable": split.stable, "canary": split.canary,
                        "canaryPercent": split.canary_percent}
        if split.attribution_window_seconds:
            out["split"]["attributionWindowSeconds"] = split.attribution_window_seconds
    return out


def text(campaigns: Iterable[CampaignEntry], split: VersionSplit | None = None) -> str:
    """The file's text: the same Campaigns and split give the same bytes (sorted)."""
    return json.dumps(document(sorted(campaigns, key=lambda c: c.name), split), indent=1,
                      sort_keys=True) + "\n"


@dataclass(frozen=True)
class Fitted:
    """The file's text within the budget, and the Campaigns left out of it (sorted names)."""

    text: str
    left_out: tuple[str, ...]


def fitted(campaigns: Sequence[CampaignEntry], split: VersionSplit | None = None, *,
           kept: Callable[[], Collection[str]] = frozenset,
           budget: int | None = None) -> Fitted:
    """The file's text with as many Campaigns as fit in ``budget`` bytes (the text is ASCII:
    ``json.dumps`` escapes the rest) and in the runtime's ``MAX_CAMPAIGNS``. All of them when
    they fit; otherwise first those ``kept`` names (called only then: the Campaigns the file
    there holds, so one that treats is never pushed out by a newer one), each while it fits,
    then the others oldest first (creation time, then name), each while it fits with
    ``GROWTH_BYTES`` to spare for every entry: what the held ones may grow by is never given
    to a newcomer."""
    budget = FILE_BUDGET_BYTES if budget is None else budget
    whole = text(campaigns, split)
    if (len(whole) + GROWTH_BYTES * len(campaigns) <= budget
            and len(campaigns) <= MAX_CAMPAIGNS):
        return Fitted(whole, ())
    held = kept()
    empty = len(text((), split))
    ranked = sorted(campaigns, key=lambda c: (c.name not in held, c.created is None,
                                              _time(c.created or _EPOCH), c.name))
    chosen: list[CampaignEntry] = []
    # With indent=1 an entry alone adds "\n  " + entry + "\n " to the empty document, and
    # each further one ",\n  " + entry: k entries take empty + 1 + Σ (alone − empty − 1).
    used = empty + 1
    for campaign in ranked:
        size = len(text((campaign,), split)) - empty - 1
        spare = 0 if campaign.name in held else GROWTH_BYTES * (len(chosen) + 1)
        if used + size + spare <= budget and len(chosen) < MAX_CAMPAIGNS:
            chosen.append(campaign)
            used += size
    content = text(chosen, split)
    while len(content) > budget and chosen:  # the sum is exact; this only guards it
        chosen.pop()
        content = text(chosen, split)
    names = {c.name for c in chosen}
    return Fitted(content, tuple(sorted(c.name for c in campaigns if c.name not in names)))


def names_in(content: str | None) -> frozenset[str]:
    """The Campaigns a file's text holds (none for text that is not such a file)."""
    try:
        document = json.loads(content or "")
    except ValueError:
        return frozenset()
    found = document.get("campaigns") if isinstance(document, dict) else None
    return frozenset(found) if isinstance(found, dict) else frozenset()


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


def _utc(time: dt.datetime) -> dt.datetime:
    return time if time.tzinfo is not None else time.replace(tzinfo=dt.UTC)


def _time(time: dt.datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` (a time without an offset is read as UTC, as the API does)."""
    if time.tzinfo is None:
        time = time.replace(tzinfo=dt.UTC)
    return time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
