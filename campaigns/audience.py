"""Audience policy (C3, C5, C7, S4): who of the candidates gets a message, on which channel, when.

:func:`apply_policy` takes the campaign's candidates (segment members or trigger firings), the
people's profiles and what was already queued, and returns the recipients and one exclusion row
per candidate left out, with its reason. Every candidate ends in exactly one of the two, so the
reason counts add up to the audience size. The rules, in the order they are applied (the first
one that fails is the reason):

1. ``duplicate_person``: a merged duplicate resolves to its survivor (``customers.merged_into``,
   followed to the end of the chain); when the survivor (or another of its duplicates) is a
   candidate too, the person gets one message and the other rows are excluded.
2. ``not_active``: the person has no profile (inactive, deleted, a duplicate without survivor).
   ``already_sent``: an earlier run queued this campaign's message for the same period or
   event (its message key is in the outbox).
3. Reachability on the campaign's channels in preference order: the first channel the person
   can be reached on is chosen. When none works, the reason is the blocker of the most
   preferred channel: ``<channel>_no_address`` (no email / no phone), ``<channel>_invalid``
   (the address failed validation; for SMS: the number is not a valid mobile in E.164),
   ``<channel>_no_consent``, ``email_unsubscribed``, ``email_hard_bounce``,
   ``<channel>_suppressed`` (a suppression in force).
4. ``household_copy``: for a household-level offer one member of each household (relations of
   kind ``household`` or ``maybe_same``, joined transitively) gets it: the one with the lowest stable hash.
5. ``cap_day`` / ``cap_week``: the person already has ``per_day`` messages queued from the
   last 24 hours (or scheduled later), or ``per_week`` from the last 7 days, across campaigns.
6. ``holdout``: a stable hash of campaign and customer below the holdout share; the same
   people on every run and machine (:func:`stable_unit`).

The rest are assigned an A/B variant by a second stable hash and get ``scheduled_for``: the
run's ``as_of``, or, inside the quiet hours of the person's own time zone, the next minute
the quiet hours end (deferred, never dropped). The incentive (discount, bonus points,
multiplier) is priced per person (``incentive_cost``) and never exceeds the personal CRM budget
(``personal_budget``, value × margin × share; a missing budget is 0): it is scaled down to the
budget, or removed (``no_incentive``), as the campaign's ``promo.over_budget`` says.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from campaigns.definitions import Campaign
from crm.asof import as_instant, zone
from crm.columns import CUSTOMER_ID

__all__ = [
    "REASONS",
    "PolicyDefaults",
    "PolicyResult",
    "apply_policy",
    "households",
    "personal_codes",
    "quiet_hours_release",
    "resolve_survivors",
    "stable_unit",
]

#: Every exclusion reason, in the order the rules are applied.
REASONS = (
    "duplicate_person",
    "not_active",
    "already_sent",
    "email_no_address",
    "email_invalid",
    "email_no_consent",
    "email_unsubscribed",
    "email_hard_bounce",
    "email_suppressed",
    "sms_no_address",
    "sms_invalid",
    "sms_no_consent",
    "sms_suppressed",
    "household_copy",
    "cap_day",
    "cap_week",
    "holdout",
)

_HASH_KEY = "crm-campaign-v01"  # 16 bytes: siphash key of pandas.util.hash_array
_CODE = {name: i + 1 for i, name in enumerate(REASONS)}


@dataclass(frozen=True)
class PolicyDefaults:
    """Platform defaults a campaign may override (the flows pass them from the settings)."""

    per_day: int = 1
    per_week: int = 3
    quiet_start: str = "21:00"
    quiet_end: str = "09:00"
    timezone: str = "Europe/Moscow"


@dataclass(frozen=True)
class PolicyResult:
    """What :func:`apply_policy` decided.

    Attributes
    ----------
    recipients : DataFrame
        One row per message: ``customer_id`` (the survivor), ``message_ref``, ``channel``,
        ``address``, ``language``, ``variant``, ``timezone``, ``scheduled_for``,
        ``discount_percent``, ``bonus_points``, ``bonus_multiplier``, ``incentive_cost``,
        ``incentive_capped``, ``no_incentive``, plus the profile columns passed through.
    exclusions : DataFrame
        ``customer_id`` (as the candidate was given), ``reason``, ``variant`` (None).
    counts : Series
        Candidates per outcome: ``sent`` and every reason of :data:`REASONS` (zeros included);
        they add up to ``audience``.
    audience : int
        Distinct candidates.
    """

    recipients: pd.DataFrame
    exclusions: pd.DataFrame
    counts: pd.Series
    audience: int


def stable_unit(campaign_id: str, customer_ids: Any, salt: str = "holdout") -> np.ndarray:
    """A number in ``[0, 1)`` per customer from a stable hash of campaign, salt and customer.

    ``campaign:salt`` is hashed once with a keyed SipHash (``pandas.util.hash_array``); each id
    is XORed with it and mixed by pandas' fixed 64-bit integer hash (the splitmix64
    finaliser). The same on every run, machine and Python process (no global random state, no
    ``PYTHONHASHSEED``): holdout and A/B groups never move between runs.
    """
    ids = np.asarray(customer_ids, dtype="int64").astype(np.uint64)
    seed = pd.util.hash_array(
        np.array([f"{campaign_id}:{salt}"], dtype=object), hash_key=_HASH_KEY, categorize=False
    )[0]
    h = pd.util.hash_array(ids ^ seed, categorize=False)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def resolve_survivors(customers: pd.DataFrame) -> pd.Series:
    """Map every customer id to the survivor it was merged into (itself when not merged).

    Chains (A merged into B merged into C) are followed to the end; the loop runs once per
    chain link (a handful), never per customer.
    """
    ids = customers[CUSTOMER_ID].to_numpy(dtype="int64")
    target = (
        pd.to_numeric(customers["merged_into"], errors="coerce")
        if "merged_into" in customers.columns
        else pd.Series(np.nan, index=customers.index)
    )
    into = pd.Series(np.where(target.notna(), target, ids).astype("int64"), index=ids)
    for _ in range(32):
        nxt = into.reindex(into.to_numpy()).to_numpy()
        nxt = np.where(np.isnan(nxt.astype("float64")), into.to_numpy(), nxt).astype("int64")
        if np.array_equal(nxt, into.to_numpy()):
            break
        into = pd.Series(nxt, index=ids)
    return into


def households(relations: pd.DataFrame | None) -> pd.Series:
    """Household id (the smallest member id) per customer, from ``household`` relations.

    A ``maybe_same`` pair (one person or two of one name at one home, which dedup left for
    a person to decide) counts as one household too: either way it is one home, and a
    once-per-household message must not reach one person twice.

    Connected components by min-label propagation over the pairs: one vectorised pass per
    step of the longest chain, never a loop over people. Customers without a household
    relation are not in the result.
    """
    if relations is None or relations.empty:
        return pd.Series([], dtype="int64")
    rel = relations
    if "kind" in rel.columns:
        rel = rel.loc[rel["kind"].isin(("household", "maybe_same")).to_numpy()]
    a = rel[CUSTOMER_ID].to_numpy(dtype="int64")
    b = rel["related_customer_id"].to_numpy(dtype="int64")
    nodes = np.unique(np.concatenate([a, b]))
    label = pd.Series(nodes, index=nodes)
    for _ in range(64):
        la, lb = label.reindex(a).to_numpy(), label.reindex(b).to_numpy()
        low = np.minimum(la, lb)
        new = (
            pd.concat([label, pd.Series(low, index=a), pd.Series(low, index=b)])
            .groupby(level=0)
            .min()
        )
        if new.equals(label):
            break
        label = new
    return label.astype("int64")


def personal_codes(message_keys: Any, secret: str, prefix: str = "") -> np.ndarray:
    """One promo code per message: ``PREFIX-`` and 10 characters of a keyed SipHash of the key.

    Deterministic (a rerun gives the same code to the same message) and not guessable without
    the secret; the alphabet leaves out 0/O and 1/I so a code read aloud is not mistaken.
    """
    key = hashlib.sha256(f"promo:{secret}".encode()).hexdigest()[:16]
    h = pd.util.hash_array(np.asarray(message_keys, dtype=object), hash_key=key, categorize=False)
    alphabet = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"))
    digits = [
        alphabet[((h >> np.uint64(5 * i)) & np.uint64(31)).astype(np.int64)] for i in range(10)
    ]
    body = pd.Series(digits[0])
    for d in digits[1:]:
        body = body + d
    head = f"{prefix}-" if prefix else ""
    return (head + body).to_numpy(dtype=object)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def quiet_hours_release(
    as_of: pd.Timestamp, timezone: str, start: str = "21:00", end: str = "09:00"
) -> pd.Timestamp:
    """When a message due at ``as_of`` may go out in ``timezone``: ``as_of`` itself, or the end
    of the quiet hours ``start``–``end`` (local wall clock, may wrap midnight) it falls in.

    Examples
    --------
    23:30 in Moscow with 21:00–09:00 quiet hours goes out at 09:00 Moscow the next morning.
    """
    zi = zone(timezone)
    local = as_of.tz_convert(zi)
    m = local.hour * 60 + local.minute
    s, e = _minutes(start), _minutes(end)
    if s == e:
        return as_of
    wraps = s > e
    quiet = (m >= s or m < e) if wraps else (s <= m < e)
    if not quiet:
        return as_of
    day = local.date() + pd.Timedelta(days=1) if (wraps and m >= s) else local.date()
    naive = pd.Timestamp(day) + pd.Timedelta(minutes=e)
    release = naive.tz_localize(zi, nonexistent="shift_forward", ambiguous=False)
    return release.tz_convert("UTC").as_unit("us")


def _col(people: pd.DataFrame, name: str, default: Any) -> pd.Series:
    if name in people.columns:
        return people[name]
    return pd.Series(default, index=people.index)


def _flag(people: pd.DataFrame, name: str) -> np.ndarray:
    return _col(people, name, False).astype("boolean").fillna(False).to_numpy(dtype=bool)


def _channel_blockers(people: pd.DataFrame, channel: str) -> np.ndarray:
    """Per person: the reason code (:data:`_CODE`) ``channel`` cannot be used, or 0 when it can."""
    n = len(people)
    out = np.zeros(n, dtype=np.int16)
    if channel == "email":
        address = _col(people, "email", None).notna().to_numpy()
        valid = _flag(people, "has_email")
        consent = _flag(people, "email_consent")
        unsub = _flag(people, "unsubscribed")
        hard = _flag(people, "hard_bounced")
        reachable = _flag(people, "reachable_email")
        steps = [
            (~address, "email_no_address"),
            (~valid, "email_invalid"),
            (~consent, "email_no_consent"),
            (unsub, "email_unsubscribed"),
            (hard, "email_hard_bounce"),
            (~reachable, "email_suppressed"),
        ]
    else:
        phone = _col(people, "phone", None)
        address = phone.notna().to_numpy()
        # only a valid mobile in E.164 (hygiene's normalised form) can take an SMS
        e164 = phone.astype("string").str.fullmatch(r"\+[1-9]\d{7,14}").fillna(False)
        mobile = _flag(people, "has_mobile") & e164.to_numpy(dtype=bool)
        consent = _flag(people, "sms_consent")
        reachable = _flag(people, "reachable_sms")
        steps = [
            (~address, "sms_no_address"),
            (~mobile, "sms_invalid"),
            (~consent, "sms_no_consent"),
            (~reachable, "sms_suppressed"),
        ]
    for mask, reason in reversed(steps):  # the first failing step wins
        out[mask] = _CODE[reason]
    return out


def _language(people: pd.DataFrame, channel: np.ndarray, campaign: Campaign) -> np.ndarray:
    spoken = _col(people, "language", None).astype("object").to_numpy()
    out = np.empty(len(people), dtype=object)
    for name in campaign.channels:
        langs = list(campaign.templates.for_channel(name))
        on = channel == name
        known = np.isin(spoken, langs)
        out[on] = np.where(known[on], spoken[on], langs[0])
    return out


def _numbers(people: pd.DataFrame, name: str) -> np.ndarray:
    values = pd.to_numeric(_col(people, name, 0.0), errors="coerce").fillna(0.0)
    return values.to_numpy(dtype=float)


def _incentives(people: pd.DataFrame, campaign: Campaign) -> pd.DataFrame:
    n = len(people)
    promo = campaign.promo
    zeros = np.zeros(n)
    if promo is None:
        return pd.DataFrame(
            {
                "discount_percent": np.zeros(n, dtype="int64"),
                "bonus_points": np.zeros(n, dtype="int64"),
                "bonus_multiplier": np.ones(n),
                "incentive_cost": zeros,
                "incentive_capped": np.zeros(n, dtype=bool),
                "no_incentive": np.zeros(n, dtype=bool),
            },
            index=people.index,
        )
    aov = _numbers(people, "avg_order_value")
    budget = np.clip(_numbers(people, "personal_budget"), 0.0, None)
    pct = np.full(n, promo.discount_percent or 0.0)
    points = np.full(n, float(promo.bonus_points or 0))
    mult = np.full(n, promo.bonus_multiplier or 1.0)

    def cost(p: np.ndarray, pts: np.ndarray, mu: np.ndarray) -> np.ndarray:
        extra = (mu - 1.0) * aov * promo.points_per_currency
        return pts * promo.point_value + p / 100.0 * aov + extra * promo.point_value

    pct = np.floor(pct)  # whole percent: what a message can say
    full = cost(pct, points, mult)
    over = full > budget + 1e-9
    if promo.over_budget == "cap":
        factor = np.where(over, np.divide(budget, full, out=np.zeros(n), where=full > 0), 1.0)
        pct = np.where(over, np.floor(pct * factor), pct)
        points = np.where(over, np.floor(points * factor), points)
        mult = np.where(over, 1.0 + np.floor((mult - 1.0) * factor * 100) / 100, mult)
    else:
        pct = np.where(over, 0.0, pct)
        points = np.where(over, 0.0, points)
        mult = np.where(over, 1.0, mult)
    final = cost(pct, points, mult)
    none_left = (pct == 0) & (points == 0) & (mult == 1.0)
    return pd.DataFrame(
        {
            "discount_percent": np.floor(pct).astype("int64"),
            "bonus_points": points.astype("int64"),
            "bonus_multiplier": mult,
            "incentive_cost": np.round(final, 2),
            "incentive_capped": over,
            "no_incentive": none_left,
        },
        index=people.index,
    )


def apply_policy(
    candidates: pd.DataFrame,
    people: pd.DataFrame,
    campaign: Campaign,
    as_of: Any,
    *,
    survivors: pd.Series | None = None,
    history: pd.DataFrame | None = None,
    household_of: pd.Series | None = None,
    already_sent: Any = None,
    defaults: PolicyDefaults | None = None,
) -> PolicyResult:
    """Apply the audience policy (see the module docstring) to one campaign run.

    Parameters
    ----------
    candidates : DataFrame
        ``customer_id`` and ``message_ref`` (the firing's event or the schedule period); the
        first row of a customer id counts, repeats are dropped.
    people : DataFrame
        Profiles indexed by ``customer_id`` (:func:`crm.profiles.build_profiles` columns, plus
        ``personal_budget``): ``email``, ``phone``, ``has_email``, ``has_mobile``,
        ``email_consent``, ``sms_consent``, ``unsubscribed``, ``hard_bounced``,
        ``reachable_email``, ``reachable_sms``, ``timezone``, ``language``,
        ``avg_order_value``.
    campaign : Campaign
    as_of : instant of the run (:func:`crm.asof.as_instant`).
    survivors : Series, optional
        Customer id → survivor id (:func:`resolve_survivors`).
    history : DataFrame, optional
        Messages already queued by other runs: ``customer_id``, ``scheduled_for``.
    household_of : Series, optional
        Customer id → household id (:func:`households`), for household-level offers.
    already_sent : array of int, optional
        Survivor ids whose message (same key) an earlier run queued.
    defaults : PolicyDefaults, optional

    Returns
    -------
    PolicyResult
    """
    defaults = defaults or PolicyDefaults()
    at = as_instant(as_of, defaults.timezone)
    cand = candidates.drop_duplicates(CUSTOMER_ID, ignore_index=True)
    given = cand[CUSTOMER_ID].to_numpy(dtype="int64")
    n = len(cand)
    if survivors is not None and len(survivors):
        person = survivors.reindex(given).to_numpy()
        person = np.where(np.isnan(person.astype("float64")), given, person).astype("int64")
    else:
        person = given.copy()
    reason = np.zeros(n, dtype=np.int16)  # 0: not excluded; k: REASONS[k - 1]

    # 1. one person, one message: the survivor's own row first, then the lowest id
    order = np.lexsort((given, given != person, person))
    first = np.zeros(n, dtype=bool)
    p_sorted = person[order]
    first[order] = np.r_[True, p_sorted[1:] != p_sorted[:-1]]
    reason[~first] = _CODE["duplicate_person"]

    # 2. a profile to send to
    known = np.isin(person, people.index.to_numpy())
    reason[(reason == 0) & ~known] = _CODE["not_active"]
    if already_sent is not None and len(already_sent):
        done = np.isin(person, np.asarray(already_sent, dtype="int64"))
        reason[(reason == 0) & done] = _CODE["already_sent"]
    prof = people.reindex(person)

    # 3. the first reachable channel in preference order
    channel = np.full(n, "", dtype=object)
    blockers = {c: _channel_blockers(prof, c) for c in campaign.channels}
    for c in reversed(campaign.channels):
        channel[blockers[c] == 0] = c
    none = (channel == "") & (reason == 0)
    reason[none] = blockers[campaign.channels[0]][none]

    unit = stable_unit(campaign.id, person, "holdout")
    # 4. one copy per household, for household-level offers
    if campaign.household_level and household_of is not None and len(household_of):
        home = household_of.reindex(person).to_numpy()
        home = np.where(np.isnan(home.astype("float64")), -person - 1, home).astype("int64")
        alive = np.flatnonzero(reason == 0)
        o = alive[np.lexsort((person[alive], unit[alive], home[alive]))]
        h = home[o]
        keep = np.r_[True, h[1:] != h[:-1]] if len(o) else np.zeros(0, dtype=bool)
        reason[o[~keep]] = _CODE["household_copy"]

    # 5. frequency caps across campaigns
    per_day = campaign.frequency.per_day or defaults.per_day
    per_week = campaign.frequency.per_week or defaults.per_week
    if history is not None and len(history):
        hist_ids = history[CUSTOMER_ID].to_numpy(dtype="int64")
        if survivors is not None and len(survivors):
            mapped = survivors.reindex(hist_ids).to_numpy()
            hist_ids = np.where(np.isnan(mapped.astype("float64")), hist_ids, mapped)
        when = pd.to_datetime(history["scheduled_for"], utc=True)
        day_n = pd.Series((when > at - pd.Timedelta(days=1)).to_numpy()).groupby(hist_ids).sum()
        week_n = pd.Series((when > at - pd.Timedelta(days=7)).to_numpy()).groupby(hist_ids).sum()
        d = day_n.reindex(person).fillna(0).to_numpy()
        w = week_n.reindex(person).fillna(0).to_numpy()
        reason[(reason == 0) & (d >= per_day)] = _CODE["cap_day"]
        reason[(reason == 0) & (w >= per_week)] = _CODE["cap_week"]

    # 6. the holdout
    reason[(reason == 0) & (unit < campaign.holdout)] = _CODE["holdout"]

    sent = reason == 0
    names = np.array(["", *REASONS], dtype=object)
    exclusions = pd.DataFrame(
        {
            CUSTOMER_ID: given[~sent],
            "reason": names[reason[~sent]].astype(str),
            "variant": pd.Series([None] * int((~sent).sum()), dtype="object"),
        }
    )
    rec = prof.iloc[np.flatnonzero(sent)].copy()
    rec.index.name = CUSTOMER_ID
    rec = rec.reset_index()
    rec["message_ref"] = cand["message_ref"].to_numpy()[sent]
    rec["channel"] = channel[sent]
    rec["address"] = np.where(
        rec["channel"] == "email", _col(rec, "email", None), _col(rec, "phone", None)
    )
    rec["language"] = _language(rec, rec["channel"].to_numpy(), campaign)
    # A/B: a second hash, so the variant split is independent of the holdout line
    u2 = stable_unit(campaign.id, rec[CUSTOMER_ID].to_numpy(), "variant")
    edges = np.cumsum([v.share for v in campaign.variants])
    names = np.array([v.name for v in campaign.variants], dtype=object)
    rec["variant"] = names[np.minimum(np.searchsorted(edges, u2, side="right"), len(names) - 1)]
    tz = _col(rec, "timezone", None).astype("object")
    rec["timezone"] = tz.where(tz.notna(), campaign.timezone or defaults.timezone)
    quiet = campaign.quiet_hours
    start, end = (
        (quiet.start, quiet.end)
        if quiet is not None
        else (defaults.quiet_start, defaults.quiet_end)
    )
    codes, zones = pd.factorize(rec["timezone"].astype(str))
    release = pd.DatetimeIndex(
        [quiet_hours_release(at, _zone_name(z, defaults.timezone), start, end) for z in zones],
        dtype="datetime64[us, UTC]",
    )  # one per distinct zone, then taken by code
    rec["scheduled_for"] = release.take(codes) if len(codes) else release[:0]
    rec = pd.concat([rec, _incentives(rec, campaign)], axis=1)
    counts = pd.Series(0, index=["sent", *REASONS], dtype="int64")
    counts["sent"] = int(sent.sum())
    per = np.bincount(reason, minlength=len(REASONS) + 1)
    counts.loc[list(REASONS)] = per[1:]
    return PolicyResult(recipients=rec, exclusions=exclusions, counts=counts, audience=n)


def _zone_name(name: str, fallback: str) -> str:
    try:
        zone(name)
    except ValueError:
        return fallback
    return name
