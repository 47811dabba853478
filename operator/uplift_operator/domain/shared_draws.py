"""Campaigns of one UpliftModel that draw the same units: said, never acted on.

The runtime draws a Campaign's exposure and its persistent holdout from the SHA-256 of its salt
and the unit id's value, nothing else (``runtime.assignment``: ``exposed`` and ``assign`` take
the unit id and the salt; ``runtime.engine`` passes them the campaign's salt). Two Campaigns of
one model with the same salt (both copied from the sample, ``salt: spring-2026``) therefore
expose and hold out the same units (with equal ``holdoutFraction``; the smaller holdout inside
the larger otherwise), so each reports the joint effect of both as its own incremental
conversions and ROI, and their sum counts it twice (docs/runtime.md, "Several Campaigns on one
model are not kept apart").

The salt alone decides, whatever the ``unitKey``: the unit key names the request input that
holds the unit id, and the draw hashes the id's value, not the input's name. Two Campaigns that
read the same ids under different inputs (a column renamed, two request formats) draw alike;
two that read ids of different kinds (customers, households) still draw alike for every id
value they have in common, so their draws are not independent either. A Campaign's effective
salt is ``spec.experiment.salt``, else ``<namespace>/<name>`` (``render.campaigns`` writes the
same into the campaigns file): two defaults never collide (a name is unique in its namespace),
but a salt set by hand may equal another Campaign's default.

Only the Campaigns of the same model count: another model's runtime serves other requests.
The condition names the others while they are at most ``NAMES_SHOWN``; past that it names
none and gives no count, so that another Campaign joining (or leaving) a crowd changes nobody
else's status (``others_told``): n Campaigns with one salt, created one by one, cost about n
status writes, not n²/2 (each join rewrote every sharer's count).
The UpliftModel's own holdout (its ``spec.experiment.salt``, else ``<namespace>/<name>``,
``services.upliftmodel``) is drawn by the same hash: a Campaign named like its UpliftModel, with
neither setting a salt, draws its holdout from the same unit positions as the model's own (the
smaller inside the larger). Its treated units are then held in by the model too and its holdout
takes the model's holdout, so its incremental conversions and ROI count the effect of the
treatments the model's own decisions send as the campaign's. As between two Campaigns, the salt
alone decides, whatever the model's and the Campaign's ``unitKey``: the runtime hashes the id's
value, not the name of the input it was read by. Said in the same condition (``model_salt``);
a model not found (deleted: no holdout of its own any more) says nothing of it, and a failed
read of the model fails the Campaign's pass (its status stays as it was). The defaults are
kept (changing one would re-draw every existing holdout).
This is a warning (``HoldoutShared``): nothing holds, pauses or rolls back on it. The fix is a
distinct salt for one of them, which, the salt being immutable, means a new Campaign (a new
holdout draw: its results start from nothing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from uplift_operator.api.v1alpha1.common import Condition
from uplift_operator.domain import conditions as cond

__all__ = ["Draw", "draw", "effective_salt", "holdout_shared", "others_told", "sharing"]

#: How many of the Campaigns sharing a salt the condition names (a copied sample could be
#: hundreds): with more, it names none and counts none (``_shared_message``).
NAMES_SHOWN = 10


@dataclass(frozen=True)
class Draw:
    """What decides which units a Campaign exposes and holds out: its model and effective
    salt (its name only tells it apart)."""

    namespace: str
    model: str
    name: str
    salt: str


def effective_salt(namespace: str, name: str, salt: str | None) -> str:
    """The salt the runtime draws with: the spec's, else ``<namespace>/<name>`` (an empty salt
    is the default, as ``render.campaigns`` reads it)."""
    return salt or f"{namespace}/{name}"


def draw(namespace: str, model: str, name: str, salt: str | None) -> Draw:
    """The draw of the Campaign ``namespace/name`` of ``model`` whose spec says ``salt``."""
    return Draw(namespace, model, name, effective_salt(namespace, name, salt))


def sharing(campaign: Draw, others: Iterable[Draw]) -> tuple[str, ...]:
    """The names of the other Campaigns that expose and hold out the same units as
    ``campaign``: of the same namespace and model, with the same effective salt (sorted, each
    once; ``campaign`` itself never, should ``others`` hold it)."""
    return tuple(sorted({other.name for other in others
                         if other.name != campaign.name and other.namespace == campaign.namespace
                         and other.model == campaign.model and other.salt == campaign.salt}))


def holdout_shared(previous: Sequence[Condition], campaign: Draw, shared_with: Sequence[str],
                   generation: int, now: dt.datetime, *,
                   model_salt: str | None = None) -> list[Condition]:
    """``previous`` with ``HoldoutShared``: True (reason ``SaltShared``) while ``shared_with``
    names Campaigns drawing with this one's salt, or its UpliftModel's own holdout draws with it
    (``model_salt``, the model's effective salt, whatever either's unitKey; None: the model not
    found, with no holdout of its own, so what was said of it goes), the message naming them and
    what it means for the results; False (``SaltNotShared``) once none does any more; absent
    while none ever did (no condition on the Campaigns that never shared, as
    ``SettingsDelivered``). The transition time moves only with the status
    (``cond.set_condition``); a False one is stamped with a new generation once
    (``cond.restamped``)."""
    before = cond.find(previous, cond.HOLDOUT_SHARED)
    with_model = model_salt is not None and model_salt == campaign.salt
    if shared_with or with_model:
        said = [_shared_message(campaign, shared_with)] if shared_with else []
        if with_model:
            said.append(_model_shared_message(campaign))
        return cond.set_condition(previous, type_=cond.HOLDOUT_SHARED, status="True",
                                  reason=cond.SALT_SHARED, message="; ".join(said), now=now,
                                  observed_generation=generation)
    if before is None or before.status != "True":
        return cond.restamped(previous, cond.HOLDOUT_SHARED, generation)
    return cond.set_condition(previous, type_=cond.HOLDOUT_SHARED, status="False",
                              reason=cond.SALT_NOT_SHARED,
                              message=f"neither another Campaign of UpliftModel {campaign.model} "
                                      f"nor its own holdout draws with salt {campaign.salt!r} "
                                      "any more", now=now, observed_generation=generation)


def others_told(others_before: int, others_after: int) -> bool:
    """Whether a Campaign whose sharers went from ``others_before`` to ``others_after`` (another
    Campaign took or left its salt) says anything else in ``HoldoutShared``: its message names
    them while they are at most ``NAMES_SHOWN`` and turns True or False with the first or the
    last; among more, one more or fewer changes nothing, and its pass need not be woken."""
    return min(others_before, others_after) <= NAMES_SHOWN


def _model_shared_message(campaign: Draw) -> str:
    """What drawing with the model's own salt means (``holdout_shared``)."""
    return (f"UpliftModel {campaign.model}'s own holdout draws with the same salt "
            f"{campaign.salt!r} (a Campaign named like its UpliftModel, neither setting a salt, "
            "has the same default namespace/name): the same units are held out of both (the "
            "smaller holdout inside the larger), so this one's incremental conversions and ROI "
            "include the effect of the treatments the model's own decisions send. Nothing is "
            "held for it; to measure the campaign apart, give it a salt of its own (salt is "
            "immutable: a new Campaign, with a new holdout draw), or set the model's "
            "spec.experiment.salt between canaries (a new draw of the model's holdout)")


def _shared_message(campaign: Draw, shared_with: Sequence[str]) -> str:
    """Who shares (named while at most ``NAMES_SHOWN``; past that neither named nor counted:
    the message stays the same while a crowd grows or shrinks) and what it means."""
    who = (f"Campaign(s) {', '.join(shared_with)}" if len(shared_with) <= NAMES_SHOWN
           else f"More than {NAMES_SHOWN} other Campaigns (each says so in its own HoldoutShared "
                "condition)")
    return (f"{who} of UpliftModel {campaign.model} draw with the same salt "
            f"{campaign.salt!r}: they expose and hold out the same units as this one, so its "
            "incremental conversions and ROI are the joint effect of all of them, and summed "
            "across them that effect is counted more than once. Nothing is held for it; to "
            "measure each apart, give each its own salt (salt is immutable: a new Campaign, "
            "with a new holdout draw)")
