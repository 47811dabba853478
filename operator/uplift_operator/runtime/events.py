"""Decision ids and delivery/outcome reports (pure).

A decision id is self-describing and signed, ``<32 hex>.<mac>~<arm>~<treatment key>~<version>``:
any replica — of the stable or the canary predictor, before or after a restart — counts a report
under the arm, treatment and model version that made the decision, without shared state, and
the MAC (HMAC-SHA256 under the deployment's decision key, 128 bits) proves the runtime issued
it. A report for an id that was never issued is refused and creates no metric series, so label
values come only from decisions: arms, the treatment keys of the models that served, the
versions that served. A replica counts a decision of a treatment its own model lacks (a canary's
new treatment reported to a stable replica): the MAC, not its model, says it was issued.

A decision for a campaign carries three more fields,
``…~<version>~<campaign>~<issued at, unix seconds>~<attribution window, seconds>``, all under the
MAC: a report is counted under the campaign that decided, and an outcome that arrives after the
window that applied to the decision is told apart (late) on any replica, whatever the campaigns
file says by then. The model's own decisions (no campaign) take the same form with an empty
campaign while the campaigns file's ``split`` gives the model's attribution window (a canary
runs: the onlineEffect gate counts them as cohorts), and the four-field form otherwise.

Reports are validated whole before anything is counted: each must say what it reports (an
outcome's ``converted``, a delivery's ``status``: no default) and carry no field its kind does
not have, so a misspelt field is refused, never read as a non-conversion or a delivery (the first
report counted wins, so a sender's corrected resend could not undo it). A report for a decision
this replica has already counted (within the last ``dedup_size`` reports of that kind) is
acknowledged but not counted again: the first report counted wins (a counter cannot take back
what it counted); an outcome that says something else than the one counted (another
``converted`` or ``value``) is told apart as a conflict. Reports that give only a unit id are
resolved through a bounded in-memory cache of each unit's last decision per campaign (per
replica; unknown units are rejected, not guessed) — or of its last decision that sent a
treatment, while that one's window is open and the later ones sent nothing (:class:`UnitCache`):
a report may name the campaign (``""``: the
model's own decisions); without one it resolves only a unit known under a single campaign, and
a unit known under several is refused as ambiguous. A campaign's unit key may be another
namespace (a household, not a customer).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import struct
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from uplift_operator.model.keys import MAX_KEY_LENGTH
from uplift_operator.model.keys import NONE as NONE  # re-exported: no treatment's key
from uplift_operator.runtime.assignment import ARMS, UNATTRIBUTED, UNEXPOSED

_SEP = "~"
_KEY = re.compile(rf"[a-z0-9_]{{1,{MAX_KEY_LENGTH}}}")   # a model refuses longer keys (model.keys)
_VERSION = re.compile(r"[A-Za-z0-9._-]{1,64}")
_VERSION_BAD = re.compile(r"[^A-Za-z0-9._-]")
_ID = re.compile(r"([0-9a-f]{32})\.([0-9a-f]{32})")
_CAMPAIGN = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_SECONDS = re.compile(r"[0-9]{1,12}")
CAMPAIGN_ARMS = (*ARMS, UNEXPOSED)
#: A decision without a campaign: its arm, or that arm scored off the unit's owning version.
MODEL_ARMS = (*ARMS, *(arm + UNATTRIBUTED for arm in ARMS))
MAX_DECISION_ID = 320   # longer than any id we issue (32 + 1 + 32, then ~ arm 9, key 64,
                        # version 64, campaign 63, issued at 12, window 12: ≤ 295)
MAX_UNIT_ID = 256
MAX_REPORTS = 10_000    # per body
KEY_MIN_BYTES = 16

Kind = Literal["deliveries", "outcomes"]


class ReportError(ValueError):
    """A report that cannot be counted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, reason: str = "bad_report") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    decision_id: str
    arm: str
    treatment: str   # treatment key the policy chose (for holdout: the withheld choice), or none
    version: str
    campaign: str = ""              # "" when the request named none
    issued_at: int | None = None    # unix seconds (campaign decisions; the model's, in a canary)
    window_seconds: int | None = None

    @property
    def window_closes_at(self) -> int | None:
        """When the decision's attribution window closes (None: it has none)."""
        if self.issued_at is None or self.window_seconds is None:
            return None
        return self.issued_at + self.window_seconds

    def late(self, now: float) -> bool:
        """Whether an outcome reported at ``now`` is past the attribution window."""
        closes = self.window_closes_at
        return closes is not None and now > closes


def safe_version(version: str) -> str:
    """The version as a label value: ``[A-Za-z0-9._-]``, at most 64 characters."""
    return (_VERSION_BAD.sub("_", version) or "unknown")[:64]


def random_key() -> bytes:
    """A fresh decision key: for one process only (replicas would refuse each other's ids)."""
    return secrets.token_bytes(32)


class Signer:
    """Mints and verifies decision ids under one key (the deployment's shared Secret)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_MIN_BYTES:
            raise ValueError(f"decision key must have at least {KEY_MIN_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:  # never the key
        return "Signer(<key>)"

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]

    def mint(self, arm: str, treatment: str, version: str, campaign: str | None = None,
             issued_at: int = 0, window_seconds: int = 0) -> str:
        """A fresh id; with ``campaign`` (``""``: the model's own decision, with a window), also
        when it was issued and its attribution window."""
        nonce = uuid.uuid4().hex
        fields = [arm, treatment, safe_version(version)]
        if campaign is not None:
            fields += [campaign, str(int(issued_at)), str(int(window_seconds))]
        rest = _SEP.join(fields)
        return f"{nonce}.{self._mac(nonce + _SEP + rest)}{_SEP}{rest}"

    def parse(self, decision_id: str) -> Decision:
        """The decision an id names; ``ReportError`` unless this deployment issued it."""
        if len(decision_id) > MAX_DECISION_ID:
            raise ReportError(f"decision_id is longer than {MAX_DECISION_ID} characters",
                              reason="bad_decision_id")
        parts = decision_id.split(_SEP)
        head = _ID.fullmatch(parts[0]) if len(parts) in (4, 7) else None
        windowed = len(parts) == 7
        campaign = windowed and parts[4] != ""  # "": the model's own, with a window
        if head is None or parts[1] not in (CAMPAIGN_ARMS if campaign else MODEL_ARMS) \
                or not _KEY.fullmatch(parts[2]) or not _VERSION.fullmatch(parts[3]) \
                or (campaign and not _CAMPAIGN.fullmatch(parts[4])) \
                or (windowed and not (_SECONDS.fullmatch(parts[5])
                                      and _SECONDS.fullmatch(parts[6]))):
            raise ReportError(f"malformed decision_id {decision_id[:80]!r}",
                              reason="bad_decision_id")
        nonce, mac = head.groups()
        expected = self._mac(nonce + _SEP + _SEP.join(parts[1:]))
        if not hmac.compare_digest(mac, expected):
            raise ReportError(f"decision_id {decision_id[:80]!r} was not issued by this "
                              "deployment", reason="unknown_decision")
        if windowed:
            return Decision(decision_id, parts[1], parts[2], parts[3], parts[4], int(parts[5]),
                            int(parts[6]))
        return Decision(decision_id, parts[1], parts[2], parts[3])


class UnitCache:
    """Bounded LRU: (campaign, unit id) → the decision id a report of the unit under that
    campaign (``""``: the model's own decisions) resolves to, with an index of the campaigns
    each unit is known under, kept as entries come and go: a report that names no campaign
    looks up the unit's own (one lookup per campaign the unit has a decision under), whatever
    the number of campaigns the cache holds.

    That decision is the unit's last one, unless it sent nothing (outside the exposure, the
    policy chose none, the cap or the budget stopped it) and an earlier one sent a treatment
    whose attribution window was still open when it was made: then the one that sent
    (:meth:`put`). The email sent is what its delivery and its conversion report; before, a
    unit treated and then decided again (capped) had its delivery refused (409
    ``nothing_delivered``) and its conversion counted under ``none``, in the later cohort.
    The holdout resolves alike: a holdout decision whose treatment the cap and the budget left
    it (withheld, not sent) is its arm's counterpart of a sent one. Before, a holdout unit
    decided twice within its window resolved to its last decision and a treated one to its
    first, so the same conversions landed in a later cohort in the holdout only.

    A campaign's decisions outside its exposure (arm ``unexposed``: no gate reads their
    outcomes, nothing to deliver) are kept apart, in an LRU of their own of
    ``unexposed_size`` entries (default: a tenth of ``size``), so they never push out an
    exposed decision: at 5 % exposure, 95 % of a shared LRU held unexposed decisions, and only
    a quarter of the exposed ones of the last ``size`` decisions were still reachable by unit
    (the rest 404 ``unknown_unit``, the cohorts incomplete)."""

    def __init__(self, size: int, unexposed_size: int | None = None) -> None:
        self.size = size
        self.unexposed_size = max(0, size // 10 if unexposed_size is None else unexposed_size)
        self._data: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._unexposed: OrderedDict[tuple[str, str], str] = OrderedDict()
        # unit → the campaign it has an entry under, or the set of them when several (most
        # units are under one: a string shared with the entry's key costs no more than its slot)
        self._campaigns: dict[str, str | set[str]] = {}

    def put(self, campaign: str, unit_id: str, decision_id: str, sent: bool = True,
            now: float = 0.0, exposed: bool = True) -> None:
        """Remember ``decision_id``, made at ``now``, for reports of ``unit_id`` under
        ``campaign``; the unit becomes the most recently decided. A decision that ``sent``
        nothing does not replace one that sent a treatment whose attribution window is open at
        ``now`` (a decision without a window: always open): that one stays what a report by
        unit resolves to, until a decision sends again or one comes after its window. In the
        holdout, a decision that withheld a treatment (its id carries one) is a sent one, for
        the caller's ``sent`` and for the decision kept, so both arms resolve alike. One not
        ``exposed`` (a campaign's ``unexposed`` arm) goes to the LRU of those, which evicts
        only its own."""
        if self.size <= 0:
            return
        key = (campaign, unit_id)
        known = self._data.get(key)
        if known is None:
            known = self._unexposed.pop(key, None)
        elif not sent and _sent_and_open(known, now):
            decision_id, exposed = known, True
        elif not exposed:
            del self._data[key]
        store, bound = (self._data, self.size) if exposed else (self._unexposed,
                                                                 self.unexposed_size)
        if bound <= 0:   # nowhere to keep it: not the unit's earlier decision either
            if known is not None:
                self._unindex(campaign, unit_id)
            return
        if known is None:
            self._index(campaign, unit_id)
        store[key] = decision_id
        store.move_to_end(key)
        while len(store) > bound:
            (gone, unit), _ = store.popitem(last=False)
            self._unindex(gone, unit)

    def _index(self, campaign: str, unit_id: str) -> None:
        known = self._campaigns.get(unit_id)
        if known is None:
            self._campaigns[unit_id] = campaign
        elif isinstance(known, str):
            self._campaigns[unit_id] = {known, campaign}
        else:
            known.add(campaign)

    def _unindex(self, campaign: str, unit_id: str) -> None:
        known = self._campaigns[unit_id]
        if isinstance(known, str):
            del self._campaigns[unit_id]
            return
        known.discard(campaign)
        if len(known) == 1:
            (self._campaigns[unit_id],) = known

    def get(self, campaign: str, unit_id: str) -> str | None:
        key = (campaign, unit_id)
        found = self._data.get(key)
        return found if found is not None else self._unexposed.get(key)

    def campaigns(self, unit_id: str) -> tuple[str, ...]:
        """The campaigns the unit has a decision under."""
        known = self._campaigns.get(unit_id)
        if known is None:
            return ()
        return (known,) if isinstance(known, str) else tuple(known)

    def decisions(self, unit_id: str) -> dict[str, str]:
        """The unit's last decision under each campaign it has one under."""
        return {c: found for c in self.campaigns(unit_id)
                if (found := self.get(c, unit_id)) is not None}

    def __len__(self) -> int:
        return len(self._data) + len(self._unexposed)


def _sent_and_open(decision_id: str, now: float) -> bool:
    """Whether ``decision_id`` (one this runtime minted: read, not verified) sent a treatment
    (:func:`sent`), or withheld one in the holdout (the cap and the budget left it its
    treatment: the holdout's counterpart of a sent one), and its attribution window, if it has
    one, is open at ``now``."""
    parts = decision_id.split(_SEP)
    if len(parts) not in (4, 7) or parts[1].removesuffix(UNATTRIBUTED) not in ARMS \
            or parts[2] == NONE:
        return False
    return len(parts) == 4 or now <= int(parts[5]) + int(parts[6])


#: Set apart the key of a late conversion unless a conversion was counted (an id has no "late")
_LATE = _SEP + "late"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())


#: What a report is to the decisions counted lately: counted now, the same report again, or one
#: that says something else than the report counted (another ``converted`` or ``value``).
Seen = Literal["new", "duplicate", "conflict"]


class SeenReports:
    """The decisions whose reports of each kind were counted lately: the last ``size`` per kind
    (first in, first out), each held as a 64-bit digest of its decision id with a fingerprint of
    what the counted report said (~100 bytes an entry, ~130 for an outcome with a value: ~10 MB
    per kind at 100,000; that two of them collide is a 1-in-10^9 chance)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._kinds: dict[str, tuple[deque[int], dict[int, int]]] = {}

    def fresh(self, kind: Kind, decision_ids: Iterable[str]) -> list[bool]:
        """For each id, whether it is counted now (not seen before, nor earlier in the batch);
        marks them seen."""
        return [s == "new" for s in self.classify(kind, ((d, 0) for d in decision_ids))]

    def classify(self, kind: Kind, reports: Iterable[tuple[str, int]]) -> list[Seen]:
        """For each (decision id, fingerprint of what the report says), whether it is counted
        now (``new``: not seen before, nor earlier in the batch; marked seen with its
        fingerprint), a ``duplicate`` of the report counted, or a ``conflict`` with it (the
        same decision, another fingerprint). The first report counted stays the one compared
        with: a counter cannot take back what it counted."""
        order, seen = self._kinds.setdefault(kind, (deque(), {}))
        return [self._mark(order, seen, _digest(decision_id), fingerprint)
                for decision_id, fingerprint in reports]

    def classify_outcomes(self, outcomes: Iterable[Outcome], now: float) -> list[Seen]:
        """:meth:`classify` for outcomes reported at ``now``, but for a late conversion (past
        its decision's attribution window) unless a conversion was counted for its decision:
        it is judged apart from the decision's in-window report, ``new`` the first time (the
        runtime counts it late, not as a conversion of the cohort) and a ``duplicate`` when
        repeated, whichever of it and the ``converted: false`` the sender reports when the
        window closed comes first. That is no conflict with the non-conversion; before, it was
        one: counted in ``uplift_report_conflicts_total`` (which the docs say to alert on),
        never as late, when the non-conversion came first, and when the late conversion came
        first (a sender reporting conversions as they happen and non-conversions in a batch
        at window close) the non-conversion was a conflict, never received, so the cohort's
        completeness stayed short. A late conversion after a conversion counted (a resend of
        an in-window one) is classified as any report: a duplicate, or a conflict."""
        order, seen = self._kinds.setdefault("outcomes", (deque(), {}))
        out: list[Seen] = []
        for outcome in outcomes:
            decision_id = outcome.decision.decision_id
            key = _digest(decision_id)
            if outcome.converted and outcome.decision.late(now):
                counted = seen.get(key)
                if counted is None or not counted & 1:   # no conversion counted in the window
                    key = _digest(decision_id + _LATE)
            out.append(self._mark(order, seen, key, outcome.fingerprint))
        return out

    def _mark(self, order: deque[int], seen: dict[int, int], key: int,
              fingerprint: int) -> Seen:
        counted = seen.get(key)
        if counted is not None:
            return "duplicate" if counted == fingerprint else "conflict"
        if self.size > 0:
            seen[key] = fingerprint
            order.append(key)
            if len(order) > self.size:
                del seen[order.popleft()]
        return "new"

    def __len__(self) -> int:
        return sum(len(seen) for _, seen in self._kinds.values())


@dataclass(frozen=True)
class Delivery:
    decision: Decision
    ok: bool


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    converted: bool
    value: float

    @property
    def fingerprint(self) -> int:
        """What the report says, as an integer ``SeenReports`` compares: 0 / 1 for a bare
        non-conversion / conversion (small integers, shared: no memory per entry), else a
        64-bit digest of the pair with its lowest bit ``converted`` (a counted non-conversion
        is told by it: :meth:`SeenReports.classify_outcomes`) and the next one set."""
        if self.value == 0:
            return int(self.converted)
        raw = struct.pack("<?d", self.converted, self.value)
        digest = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest())
        return (digest & ~3) | 2 | int(self.converted)


def unit_id_problem(value: Any) -> str | None:
    """Why ``value`` cannot identify a unit (``None`` when it can): strings and integers only,
    not empty or blank, at most ``MAX_UNIT_ID`` characters."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"must be a string or an integer, got {_show(value)}"
    text = str(value)
    if not text.strip():
        return "must not be empty or blank"
    if len(text) > MAX_UNIT_ID:
        return f"is longer than {MAX_UNIT_ID} characters"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _items(body: Any, key: str) -> Sequence[Mapping[str, Any]]:
    if isinstance(body, Mapping) and key in body:
        body = body[key]
    elif isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list) or not body:
        raise ReportError(f"expected a JSON object, a list, or {{\"{key}\": [...]}} with at "
                          "least one report")
    if len(body) > MAX_REPORTS:
        raise ReportError(f"{key}: at most {MAX_REPORTS} reports per request, got {len(body)}",
                          status=413, reason="too_large")
    for i, item in enumerate(body):
        if not isinstance(item, Mapping):
            raise ReportError(f"{key}[{i}] must be a JSON object, got {_show(item)}")
    return body


#: The fields a report item may carry, per kind. Any other is refused, naming it: a misspelt
#: field (``conversion``, ``vaule``, ``state``) was dropped, and the report counted as what it
#: did not say, for good (the first report of a decision wins, a corrected resend is a conflict).
_IDENTIFYING = ("decision_id", "unit_id", "campaign", "treatment")
REPORT_FIELDS: dict[Kind, tuple[str, ...]] = {
    "deliveries": (*_IDENTIFYING, "status"),
    "outcomes": (*_IDENTIFYING, "converted", "value"),
}
#: The field each kind must give: what the report says (no default stands in for it).
_REQUIRED: dict[Kind, tuple[str, str]] = {
    "deliveries": ("status", "'ok' or 'failed'"),
    "outcomes": ("converted", "true when the unit converted within the decision's attribution "
                              "window, false once the window closed without a conversion"),
}


def _check_fields(item: Mapping[str, Any], where: str, kind: Kind) -> None:
    """Refuse an item with a field its kind does not have, or without the field that says what
    it reports: a ``ReportError`` (400 ``bad_report``) naming the item and the field."""
    unknown = [key for key in item if key not in REPORT_FIELDS[kind]]
    if unknown:
        shown = ", ".join(_show(key) for key in unknown[:5])
        raise ReportError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {shown}; "
                          f"a report of {kind} has {', '.join(REPORT_FIELDS[kind])}")
    required, meaning = _REQUIRED[kind]
    if required not in item:
        raise ReportError(f"{where}.{required} is required: {meaning}")


def _resolve(item: Mapping[str, Any], where: str, signer: Signer, cache: UnitCache) -> Decision:
    decision_id = item.get("decision_id")
    unit_id = item.get("unit_id")
    if decision_id is None:
        if unit_id is None:
            raise ReportError(f"{where}: give decision_id or unit_id")
        if (problem := unit_id_problem(unit_id)) is not None:
            raise ReportError(f"{where}.unit_id {problem}")
        decision_id = _by_unit(item, where, str(unit_id), cache)
    if not isinstance(decision_id, str):
        raise ReportError(f"{where}.decision_id must be a string, got {_show(decision_id)}",
                          reason="bad_decision_id")
    try:
        decision = signer.parse(decision_id)
    except ReportError as exc:
        raise ReportError(f"{where}.decision_id: {exc}", exc.status, exc.reason) from None
    if "treatment" in item and item["treatment"] not in (sent(decision), decision.treatment):
        raise ReportError(f"{where}.treatment {_show(item['treatment'])} does not match the "
                          f"decision's: its response's treatment {sent(decision)!r} (or its "
                          f"policy_treatment {decision.treatment!r})",
                          reason="unknown_treatment")
    if item.get("campaign") is not None and item["campaign"] != decision.campaign:
        raise ReportError(f"{where}.campaign {_show(item['campaign'])} does not match the "
                          f"decision's {decision.campaign!r}")
    return decision


def sent(decision: Decision) -> str:
    """The response's ``treatment`` column for ``decision``: its treatment in the treated arm,
    ``none`` in any other (the holdout, outside the exposure). The id carries the policy's
    choice after the cap and the budget, so a treated-arm row they stopped carries ``none``."""
    return decision.treatment if decision.arm.removesuffix(UNATTRIBUTED) == "treated" else NONE


def _by_unit(item: Mapping[str, Any], where: str, unit: str, cache: UnitCache) -> str:
    """The unit's decision (:class:`UnitCache`: its last, or the last that sent a treatment
    while its window is open) under the report's ``campaign``, or under the one campaign the
    unit is known under on this replica."""
    campaign = item.get("campaign")
    shown = unit[:80]
    if campaign is not None:
        if not isinstance(campaign, str):
            raise ReportError(f"{where}.campaign must be a campaign name (\"\": none), got "
                              f"{_show(campaign)}")
        found = cache.get(campaign, unit)
        if found is None:
            raise ReportError(f"{where}: no decision known for unit {shown!r} under campaign "
                              f"{campaign[:80]!r} on this replica; report by decision_id",
                              status=404, reason="unknown_unit")
        return found
    known = cache.decisions(unit)   # the unit's own: no pass over every campaign cached
    if not known:
        raise ReportError(f"{where}: no decision known for unit {shown!r} on this replica; "
                          "report by decision_id", status=404, reason="unknown_unit")
    if len(known) > 1:
        raise ReportError(f"{where}: unit {shown!r} has decisions under campaigns "
                          f"{sorted(known)[:10]} on this replica (\"\": none); name one in "
                          "'campaign' or report by decision_id", status=409,
                          reason="ambiguous_unit")
    (found,) = known.values()
    return found


def parse_deliveries(body: Any, signer: Signer, cache: UnitCache) -> list[Delivery]:
    """``{"deliveries": [{"decision_id"|"unit_id", "status": "ok"|"failed"}]}`` → deliveries;
    ``status`` required, no field but ``REPORT_FIELDS["deliveries"]``."""
    out = []
    for i, item in enumerate(_items(body, "deliveries")):
        where = f"deliveries[{i}]"
        _check_fields(item, where, "deliveries")
        decision = _resolve(item, where, signer, cache)
        status = item["status"]
        if status not in ("ok", "failed"):
            raise ReportError(f"{where}.status must be 'ok' or 'failed', got {_show(status)}")
        if decision.arm.removesuffix(UNATTRIBUTED) != "treated" or decision.treatment == NONE:
            raise ReportError(f"{where}: decision {decision.decision_id!r} sent no treatment "
                              f"(arm {decision.arm}, treatment {decision.treatment}); nothing "
                              "to deliver", status=409, reason="nothing_delivered")
        out.append(Delivery(decision, status == "ok"))
    return out


def parse_outcomes(body: Any, signer: Signer, cache: UnitCache,
                   max_value: float = math.inf) -> list[Outcome]:
    """``{"outcomes": [{"decision_id"|"unit_id", "converted": bool, "value": number}]}``;
    ``converted`` required, ``value`` (0 when not given) finite, in [0, ``max_value``]; no
    field but ``REPORT_FIELDS["outcomes"]``."""
    out = []
    for i, item in enumerate(_items(body, "outcomes")):
        where = f"outcomes[{i}]"
        _check_fields(item, where, "outcomes")
        decision = _resolve(item, where, signer, cache)
        converted = item["converted"]
        if not isinstance(converted, bool):
            raise ReportError(f"{where}.converted must be true or false, got {_show(converted)}")
        raw_value: Any = item.get("value", 0.0)
        if isinstance(raw_value, bool) or not isinstance(raw_value, int | float):
            raise ReportError(f"{where}.value must be a number, got {_show(raw_value)}")
        try:
            value = float(raw_value)
        except OverflowError:  # an integer beyond float
            value = math.inf
        if not math.isfinite(value) or not 0 <= value <= max_value:
            raise ReportError(f"{where}.value must be a finite number in [0, {max_value:g}], "
                              f"got {_show(raw_value)}")
        out.append(Outcome(decision, converted, value))
    return out
