"""The decision step between decoded request columns and the response (pure: no MLServer).

Per row: score every treatment, run the cost-aware policy (same policy in both arms), assign
the arm by hash(unit id, salt), withhold the treatment in the holdout, mint a decision id.

With a campaign (:meth:`DecisionEngine.decide` given a :class:`BoundCampaign`), per row, in
this order: the campaign's state (inactive, not started, ended: nothing is treated); its
exposure (``assignment.exposed``: outside it, ``unexposed``); its persistent holdout (salt and
unit key of the campaign); its policy among its treatments with their own costs and values; its
cap of treatments per unit (:class:`TreatedUnits`, per replica); its budget for the current
period (:class:`CampaignLedger`, per replica). Each row gets a campaign arm saying which of
these decided (``CAMPAIGN_ARMS``). The cap and the budget bind the holdout the same way as the
treated arm (a holdout row loses its withheld treatment where a treated row would lose its
treatment), so the two arms stay comparable; only treated rows spend.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from uplift_operator.model.features import FeatureBins, FloatArray
from uplift_operator.model.keys import treatment_key, treatment_keys
from uplift_operator.model.scoring import UpliftModel
from uplift_operator.runtime import policy
from uplift_operator.runtime.assignment import (
    HOLDOUT,
    TREATED,
    UNEXPOSED,
    assign,
    counted_arm,
    exposed,
)
from uplift_operator.runtime.campaigns import Campaign, VersionSplit
from uplift_operator.runtime.config import ConfigError, RuntimeConfig
from uplift_operator.runtime.events import (
    NONE,
    SeenReports,
    Signer,
    UnitCache,
    random_key,
    safe_version,
)

IntArray = npt.NDArray[np.int64]

# What decided a campaign row, as the response's campaign_arm says (bounded: a metric label).
CAMPAIGN_ARMS = ("treated", "holdout", "unexposed", "not-treated-by-policy", "budget-exhausted",
                 "capped", "inactive", "not-started", "ended")
TOP_FRACTION_HISTORY = 10_000   # recent uplifts per campaign the topFraction policy ranks against
_FLOAT32_MAX = float(np.finfo(np.float32).max)


#: The metric-label codes of ``RequestError`` (the runtime counts each from zero).
RequestErrorReason: TypeAlias = Literal["bad_request", "bad_shape", "bad_unit_id",
                                        "out_of_range", "row_mismatch", "too_large",
                                        "unknown_campaign", "unknown_treatment", "wrong_type"]


class RequestError(ValueError):
    """A request the runtime rejects; ``reason`` labels the error metric."""

    def __init__(self, message: str, reason: RequestErrorReason = "bad_request",
                 status: int = 400) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass
class DecisionBatch:
    unit_ids: list[str]
    arms: list[str]
    treatments: list[str]         # what the unit gets: a treatment key, or "none"
    policy_treatments: list[str]  # what the policy chose, whatever the arm
    decision_ids: list[str]
    uplift: FloatArray            # (n, K)
    net_value: FloatArray         # (n,) expected net value of the policy's choice
    bins: dict[str, IntArray]     # feature → bin index per row (drift counters)
    campaign: str = ""            # the campaign that decided, "" for none
    campaign_arms: list[str] | None = None   # per row, with a campaign (CAMPAIGN_ARMS)
    spend: float = 0.0            # cost of the treatments given (campaign decisions)
    issued_at: int = 0            # unix seconds
    window_seconds: int = 0       # the attribution window the ids carry (0: none)
    # The arm each row is counted under (metrics, reports): ``arms``, or, for a row scored by a
    # version that does not own its unit, or of a unit between the old and the new canary
    # percent while the split's change propagates, ``<arm>-unattributed``
    # (assignment.counted_arm, campaigns.VersionSplit.owner).
    counted_arms: list[str] | None = None


@dataclass(frozen=True)
class BoundCampaign:
    """A campaign resolved against the loaded model: its treatments as a mask over the model's,
    with a cost and a value per treatment."""

    campaign: Campaign
    allowed: npt.NDArray[np.bool_]   # (K,)
    costs: FloatArray                # (K,) 0 where not allowed
    values: FloatArray               # (K,)


class RecentUplifts:
    """The last ``size`` uplifts a topFraction campaign ranks against: a ring of float32, each
    rounded down (towards −∞), allocated at its first uplift — 40 KB at 10,000, where a deque
    of Python floats held 316 KiB (1.23 GiB at 4,096 campaigns). Rounding down keeps the
    order of the uplifts, so a quantile of them is the true quantile rounded down to float32
    (7 significant digits): a unit whose uplift reaches the true quantile reaches it."""

    def __init__(self, size: int = TOP_FRACTION_HISTORY) -> None:
        if size < 1:
            raise ValueError(f"the history needs at least one entry, got {size}")
        self.size = size
        self._ring: npt.NDArray[np.float32] | None = None
        self._next = 0    # where the next uplift goes
        self._count = 0   # how many it holds (the first _count slots while it fills)

    def extend(self, uplifts: npt.ArrayLike) -> None:
        """Keep ``uplifts`` (finite), the oldest forgotten beyond ``size``."""
        values = np.asarray(uplifts, dtype=np.float64).reshape(-1)[-self.size:]
        n = len(values)
        if not n:
            return
        if self._ring is None:
            self._ring = np.empty(self.size, dtype=np.float32)
        values = np.clip(values, -_FLOAT32_MAX, _FLOAT32_MAX)
        stored = values.astype(np.float32)
        above = stored.astype(np.float64) > values
        stored[above] = np.nextafter(stored[above], np.float32(-np.inf))
        first = min(n, self.size - self._next)
        self._ring[self._next:self._next + first] = stored[:first]
        self._ring[:n - first] = stored[first:]
        self._next = (self._next + n) % self.size
        self._count = min(self.size, self._count + n)

    def values(self) -> npt.NDArray[np.float32]:
        """The uplifts kept, in no particular order (a quantile needs none); a view."""
        if self._ring is None:
            return np.empty(0, dtype=np.float32)
        return self._ring[:self._count]

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """The bytes its values take (0 until its first uplift)."""
        return 0 if self._ring is None else self._ring.nbytes


@dataclass
class CampaignLedger:
    """What one replica remembers of a campaign between requests: its spend in the current
    budget period and the recent uplifts the topFraction policy ranks against (how many
    treatments each unit got is :class:`TreatedUnits`', shared by every campaign)."""

    # Names this ledger's spend series: a replica that restarts, reloads its model or sees the
    # campaign leave and come back starts a new ledger from zero under a new id, so the budget
    # gate still finds the spend of the ledger it replaced (docs/runtime.md "Budget"). So does a
    # campaign whose entry loses its budget: set again, its spend is counted afresh.
    ledger_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: The budget period counted (period start, length, index); None: none (no budget).
    period: tuple[float, float | None, int] | None = None
    spent: float = 0.0
    recent_uplift: RecentUplifts = field(default_factory=RecentUplifts)

    def remaining(self, campaign: Campaign, now: float) -> float | None:
        """What is left of the current period's budget on this replica (``None``: no budget).
        A new period starts from nothing spent; so does a budget set again after the entry had
        none (``_without_budget``)."""
        budget = campaign.budget
        if budget is None:
            self._without_budget()
            return None
        period = (budget.period_start, budget.period_seconds, budget.period(now))
        if period != self.period:
            self.period, self.spent = period, 0.0
        return budget.amount - self.spent

    def add(self, spend: float) -> None:
        """The cost of treatments given, counted against the period :meth:`remaining` just
        found; without a budget there is none, and nothing is counted (the campaign's spend
        counter, ``uplift_campaign_spend_total``, counts it all the same)."""
        if self.period is not None:
            self.spent += spend

    def period_spend(self, campaign: Campaign, now: float) -> tuple[float, float] | None:
        """(spend, start) of the current budget period on this replica, what it enforces;
        ``None`` without a budget."""
        budget = campaign.budget
        if budget is None:
            self._without_budget()
            return None
        start, _ = budget.period_bounds(now)
        current = (budget.period_start, budget.period_seconds, budget.period(now))
        return (self.spent if current == self.period else 0.0), start

    def _without_budget(self) -> None:
        """The entry has no budget (removed from the Campaign): the ledger forgets its period
        and its spend, and takes a new id, so a budget set again starts from nothing under a
        new series (docs/lifecycle.md: removing ``budget``, then setting it again, counts the
        spend afresh), whatever its period. Before, the spend went on being added while there
        was no budget, and a budget set again with the same period found it all still spent."""
        if self.period is not None or self.spent:
            self.ledger_id = uuid.uuid4().hex[:12]
            self.period, self.spent = None, 0.0


class TreatedUnits:
    """How many treatments each unit got from each campaign on this replica, what
    ``maxTreatmentsPerUnit`` caps: one LRU of (campaign, unit) for every campaign together,
    at most ``size`` entries (``cap_ledger_size``) whatever the number of campaigns, the least
    recently decided forgotten first (a forgotten unit starts again from 0). Its own bound:
    kept per campaign at the unit cache's size, a file of many campaigns multiplied the memory
    (4,096 campaigns × 100,000 units), and a unit cache of 0 (no unit-only reports) switched
    the cap off."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"the cap ledger needs at least one entry, got {size}")
        self.size = size
        self._counts: OrderedDict[tuple[str, str], int] = OrderedDict()

    def count(self, campaign: str, unit: str) -> int:
        return self._counts.get((campaign, unit), 0)

    def touch(self, campaign: str, unit: str) -> None:
        """A decision of ``unit`` that treated it not (capped, out of budget, the policy's):
        a unit the ledger counts is now its most recently decided, so a unit at its cap that
        keeps coming back is not the one forgotten first."""
        key = (campaign, unit)
        if key in self._counts:
            self._counts.move_to_end(key)

    def add(self, campaign: str, unit: str) -> None:
        """One more treatment of ``unit`` by ``campaign``."""
        key = (campaign, unit)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1
        counts.move_to_end(key)
        while len(counts) > self.size:
            counts.popitem(last=False)

    def forget(self, campaigns: Collection[str]) -> None:
        """Drop every entry of ``campaigns`` (no longer configured, or created again: its
        successor caps from nothing). A pass over the ledger, on a change of the file only."""
        gone = set(campaigns)
        if gone:
            for key in [key for key in self._counts if key[0] in gone]:
                del self._counts[key]

    def __len__(self) -> int:
        return len(self._counts)


class DecisionEngine:
    """Scores and decides for one loaded model under one runtime configuration."""

    def __init__(self, model: UpliftModel, config: RuntimeConfig, version: str,
                 signer: Signer | None = None) -> None:
        self.model = model
        self.config = config
        self.version = safe_version(version)
        # Refuses keys that a decision id cannot carry: ids it would mint and then refuse.
        self.keys = treatment_keys(model.treatments)
        self.costs = config.cost_vector(self.keys, model.treatments)
        self.units = UnitCache(config.unit_cache_size)
        self.seen = SeenReports(config.dedup_size)
        self.signer = signer if signer is not None else Signer(random_key())
        binning = model.drift_binning
        self.feature_bins: dict[str, FeatureBins] = dict(binning.features) if binning else {}
        self.ledgers: dict[str, CampaignLedger] = {}
        self.treated = TreatedUnits(config.cap_ledger_size)

    def bind(self, campaign: Campaign) -> BoundCampaign:
        """The campaign over this model's treatments; ``ConfigError`` for a treatment the model
        does not have (by name, key, or the key of the name: ``womens-e-mail`` is
        ``womens_e_mail``)."""
        k = len(self.keys)
        allowed = np.zeros(k, dtype=bool)
        costs, values = np.zeros(k), np.zeros(k)
        for name, terms in campaign.treatments.items():
            try:
                index = self.treatment_index(name)
            except ValueError:
                raise ConfigError(f"campaigns.{campaign.name}.treatments: the model has no "
                                  f"treatment {name!r}; it has {list(self.keys)}") from None
            allowed[index], costs[index], values[index] = True, terms.cost, terms.value
        return BoundCampaign(campaign, allowed, costs, values)

    def treatment_index(self, name: str) -> int:
        """The index of the model's treatment ``name`` names: by name, by key, or by the key of
        the name (a Campaign's ``womens-e-mail`` is the model's ``womens_e_mail``);
        ``ValueError`` when none. One resolution for a campaign's treatments and a request's
        ``parameters.treatments``: the allow-lists intersect whichever way each names them."""
        try:
            return self.model.resolve_treatment(name)
        except ValueError:
            pass
        try:
            return self.keys.index(treatment_key(name))
        except ValueError:
            raise ValueError(f"unknown treatment {name[:80]!r}; known: "
                             f"{list(self.keys)}") from None

    def ledger(self, name: str) -> CampaignLedger:
        """This replica's ledger of campaign ``name``, started empty the first time."""
        found = self.ledgers.get(name)
        if found is None:
            found = self.ledgers[name] = CampaignLedger()
        return found

    def retain_ledgers(self, names: Sequence[str]) -> None:
        """Forget what this replica remembers of campaigns no longer configured."""
        gone = set(self.ledgers) - set(names)
        for name in gone:
            del self.ledgers[name]
        self.treated.forget(gone)

    def drop_ledger(self, name: str) -> None:
        """Forget what this replica remembers of campaign ``name`` (a Campaign deleted and
        created again under its name: its successor starts from nothing, under a new ledger)."""
        self.ledgers.pop(name, None)
        self.treated.forget((name,))

    def _allowed(self, treatments: Any) -> npt.NDArray[np.bool_] | None:
        if treatments is None:
            return None
        if not isinstance(treatments, list) or not all(isinstance(t, str) for t in treatments):
            raise RequestError("parameters.treatments must be a list of treatment names")
        allowed = np.zeros(len(self.keys), dtype=bool)
        for name in treatments:
            try:
                allowed[self.treatment_index(name)] = True
            except ValueError as exc:
                raise RequestError(str(exc), "unknown_treatment") from None
        return allowed

    def _budget(self, raw: Any) -> float | None:
        if raw is None:
            return self.config.budget
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw < 1e300:
            raise RequestError(f"parameters.budget must be a finite number ≥ 0, got {raw!r}")
        return float(raw)

    def decide(self, columns: Mapping[str, Any], unit_ids: Sequence[str] | None,
               parameters: Mapping[str, Any] | None = None,
               campaign: BoundCampaign | None = None, now: float = 0.0,
               split: VersionSplit | None = None) -> DecisionBatch:
        """Score and decide every row; with ``campaign``, under that campaign at ``now`` (unix
        seconds). Without one, ``split`` says which version owns each unit at ``now``
        (``VersionSplit.owner``): a row of a unit this version does not own, or that no version
        owns while the split's change propagates, is served alike and counted apart."""
        if campaign is not None:
            return self._decide_campaign(columns, unit_ids, parameters or {}, campaign, now)
        params = parameters or {}
        allowed = self._allowed(params.get("treatments"))
        budget = self._budget(params.get("budget"))
        pred = self.model.score(columns)  # raises FeatureError on schema problems
        n = len(pred.uplift)
        remember = unit_ids is not None   # a generated id must not push real units out
        if unit_ids is None:
            # No id: a fresh random one per row, so the arm is random but still recorded.
            unit_ids = [uuid.uuid4().hex for _ in range(n)]
        elif len(unit_ids) != n:
            raise RequestError(f"unit_id has {len(unit_ids)} rows, features {n}", "row_mismatch")
        result = policy.choose(pred.uplift, self.config.value_per_conversion, self.costs,
                               budget=budget, allowed=allowed)
        cfg = self.config
        keys = self.keys
        arms: list[str] = []
        given: list[str] = []
        chosen: list[str] = []
        ids: list[str] = []
        counted: list[str] = []
        # In a canary, the model's decisions carry its attribution window: the runtime counts
        # them as cohorts when it closes (the onlineEffect gate), their outcomes after it late.
        window = split.attribution_window_seconds if split is not None else 0
        issued = int(now)
        for unit, c in zip(unit_ids, result.choice.tolist(), strict=True):
            arm = assign(unit, cfg.salt, cfg.holdout_fraction)
            key = keys[c] if c >= 0 else NONE
            # Counted apart while the split's last change propagates for a unit between its
            # old and new percent: a pod on the old copy may attribute it otherwise.
            owned = split is None or split.owner(unit, now) == self.version
            decision_id = (self.signer.mint(counted_arm(arm, owned), key, self.version, "",
                                            issued, window) if window
                           else self.signer.mint(counted_arm(arm, owned), key, self.version))
            if remember:   # the holdout's withheld treatment resolves as a sent one does
                self.units.put("", unit, decision_id, sent=key != NONE, now=issued)
            counted.append(counted_arm(arm, owned))
            arms.append(arm)
            chosen.append(key)
            given.append(NONE if arm == HOLDOUT else key)
            ids.append(decision_id)
        bins = {name: fb.bin_index(np.asarray(columns[name]).reshape(-1))
                for name, fb in self.feature_bins.items()}
        return DecisionBatch(list(unit_ids), arms, given, chosen, ids, pred.uplift,
                             result.net_value, bins, issued_at=issued, window_seconds=window,
                             counted_arms=counted)

    def _decide_campaign(self, columns: Mapping[str, Any], unit_ids: Sequence[str] | None,
                         params: Mapping[str, Any], bound: BoundCampaign,
                         now: float) -> DecisionBatch:
        c = bound.campaign
        if unit_ids is None:
            raise RequestError(f"campaign {c.name!r} identifies units by the input "
                               f"{c.unit_key!r}, which the request does not have",
                               "bad_unit_id")
        allowed = bound.allowed
        requested = self._allowed(params.get("treatments"))
        if requested is not None:
            allowed = allowed & requested
        # The request's cap on its summed cost, else the configured one (``UPLIFT_BUDGET``), as
        # for the model's own requests; the campaign's period budget applies on top of it.
        request_budget = self._budget(params.get("budget"))
        pred = self.model.score(columns)
        n = len(pred.uplift)
        if len(unit_ids) != n:
            raise RequestError(f"{c.unit_key} has {len(unit_ids)} rows, features {n}",
                               "row_mismatch")
        ledger = self.ledger(c.name)
        state = c.state(now)
        live = state == "active"
        is_exposed = np.array([live and exposed(u, c.salt, c.exposure_percent)
                               for u in unit_ids], dtype=bool)
        is_holdout = np.array([assign(u, c.salt, c.holdout_fraction) == HOLDOUT
                               for u in unit_ids], dtype=bool)
        threshold = None
        if c.policy.type == "topFraction" and c.policy.top_fraction is not None:
            best = np.where(allowed[None, :], pred.uplift, -np.inf).max(axis=1, initial=-np.inf)
            ledger.recent_uplift.extend(best[is_exposed & np.isfinite(best)])
            recent: npt.NDArray[np.floating[Any]] = ledger.recent_uplift.values()
            if not len(recent):   # nothing exposed yet: what the policy would choose of these
                recent = best[np.isfinite(best)]
            # +inf (no one treated) while the history holds fewer than 1/topFraction uplifts:
            # after a restart, a model load, on a new replica, it warms up treating no one.
            threshold = policy.top_fraction_threshold(recent, c.policy.top_fraction)
        rule = policy.choose_rule(pred.uplift, bound.values, bound.costs, allowed,
                                  c.policy.type, min_uplift=c.policy.min_uplift,
                                  threshold=threshold)
        wanted = rule.choice  # the policy's choice before the cap and the budget
        choice = np.where(is_exposed, wanted, policy.NO_TREATMENT).astype(np.int64)
        remaining = ledger.remaining(c, now)
        if request_budget is not None:
            remaining = request_budget if remaining is None else min(remaining, request_budget)
        # The cap and the budget in one pass, in the rule's order (best first): a row takes one
        # of its unit's treatments left under the cap only once it also fits the budget, so a
        # unit repeated in a request whose best row is too dear keeps its slot for a row that
        # fits; the ledger counts only after the loop.
        applied = policy.apply_budget(
            choice, rule.score, bound.costs, remaining, is_exposed & ~is_holdout,
            units=unit_ids,
            cap_left=lambda unit: c.max_treatments_per_unit - self.treated.count(c.name, unit))
        choice, capped = applied.choice, applied.capped
        exhausted, spend = applied.exhausted, applied.spend
        ledger.add(spend)
        keys, issued = self.keys, int(now)
        arms: list[str] = []
        given: list[str] = []
        chosen: list[str] = []
        ids: list[str] = []
        campaign_arms: list[str] = []
        for i, unit in enumerate(unit_ids):
            why: str
            if not is_exposed[i]:
                arm, key = UNEXPOSED, keys[wanted[i]] if wanted[i] >= 0 else NONE
                why = state if not live else "unexposed"
            else:
                arm = HOLDOUT if is_holdout[i] else TREATED
                key = keys[choice[i]] if choice[i] >= 0 else NONE
                if key != NONE:
                    self.treated.add(c.name, unit)
                else:
                    self.treated.touch(c.name, unit)
                why = ("holdout" if arm == HOLDOUT else "capped" if capped[i]
                       else "budget-exhausted" if exhausted[i]
                       else "not-treated-by-policy" if key == NONE else "treated")
            decision_id = self.signer.mint(arm, key, self.version, c.name, issued,
                                           c.attribution_window_seconds)
            # A decision that sent nothing leaves the unit's reports to the one that sent its
            # treatment, while its window is open; one outside the exposure is kept apart,
            # never pushing an exposed one out (UnitCache.put). A holdout row whose withheld
            # treatment the cap and the budget left it counts as sent: a report by unit then
            # resolves to the same decision in both arms (the first of a unit decided twice
            # within its window), never to an earlier one in the treated arm only.
            self.units.put(c.name, unit, decision_id,
                           sent=why == "treated" or (arm == HOLDOUT and key != NONE),
                           now=issued, exposed=arm != UNEXPOSED)
            arms.append(arm)
            chosen.append(key)
            given.append(key if why == "treated" else NONE)
            ids.append(decision_id)
            campaign_arms.append(why)
        # The net value of the policy_treatment column: the policy's own choice outside the
        # exposure, what is left of it after the cap and the budget inside.
        net_value = np.where(is_exposed & (choice < 0), 0.0, rule.net_value)
        bins = {name: fb.bin_index(np.asarray(columns[name]).reshape(-1))
                for name, fb in self.feature_bins.items()}
        return DecisionBatch(list(unit_ids), arms, given, chosen, ids, pred.uplift, net_value,
                             bins, campaign=c.name, campaign_arms=campaign_arms, spend=spend,
                             issued_at=issued, window_seconds=c.attribution_window_seconds)
