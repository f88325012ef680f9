"""Flow: the daily loyalty run - earn, bonuses, returns, expiry and tiers - rerun-safe.

Reads orders, customers, referrals, activity events, the ledger and the tier history
through :mod:`crm.store`, computes the day's entries with the pure functions of
:mod:`loyalty`, and writes them in one transaction with ``INSERT … ON CONFLICT DO NOTHING``
on the idempotency key: running the same day twice (after a crash, or by mistake) adds
nothing. The run looks back ``lookback_days`` so late-arriving orders still earn.

Example
-------
>>> run_daily(url, load_rules("loyalty/rules.example.yaml"), as_of=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from crm import store
from crm.asof import as_instant, previous_local_day
from crm.identity.cluster import components
from crm.settings import get_settings
from flows.memory import release_memory
from loyalty import (
    LEDGER_COLUMNS,
    activity_entries,
    balances,
    birthday_entries,
    empty_ledger,
    empty_tier_history,
    expiry_entries,
    load_rules,
    new_entries,
    purchase_entries,
    referral_entries,
    referral_keys,
    return_marks,
    returns_to_book,
    reversal_entries,
    tier_at,
    tier_basis,
    tier_changes,
    welcome_entries,
)
from loyalty.rules import Rules
from loyalty.tiers import TIER_HISTORY_COLUMNS

__all__ = [
    "DEFAULT_RULES",
    "ORDERS_PER_PART",
    "Booking",
    "DayPlan",
    "Inputs",
    "book",
    "booking_parts",
    "day_end",
    "ledger_after",
    "liability",
    "load_inputs",
    "loyalty_daily_flow",
    "loyalty_day",
    "plan_day",
    "read_ledger",
    "read_tier_history",
    "returned_orders",
    "run_daily",
    "split_inputs",
    "write_plan",
]

DEFAULT_RULES = "loyalty/rules.example.yaml"


_EPOCH = pd.Timestamp(0, tz="UTC")
_NO_RETURNS = pd.DataFrame(
    {"order_id": pd.Series([], dtype="int64"), "returned_share": pd.Series([], dtype="float64")}
)


@dataclass
class Inputs:
    """What the daily run reads."""

    orders: pd.DataFrame
    customers: pd.DataFrame
    referrals: pd.DataFrame
    events: pd.DataFrame
    ledger: pd.DataFrame
    tier_history: pd.DataFrame
    #: False when ``ledger`` holds only the customers a day run touches
    whole_ledger: bool = True
    #: the share each return was last booked at (``order_id, share_bp``); None books every
    #: return in ``orders`` again (a full recomputation, which books the same)
    return_marks: pd.DataFrame | None = None


@dataclass
class DayPlan:
    """What the daily run writes: new ledger entries and tier changes, with a count per step."""

    entries: pd.DataFrame
    tier_changes: pd.DataFrame
    steps: dict[str, int] = field(default_factory=dict)
    #: the returns this plan booked, at their shares (:func:`loyalty.return_marks`)
    return_marks: pd.DataFrame = field(default_factory=lambda: return_marks(_NO_RETURNS, _EPOCH))
    #: the ledger once the plan is written (the entries read, then ``entries``), when the plan
    #: kept it: :func:`ledger_after` returns it instead of concatenating the two again
    ledger: pd.DataFrame | None = None


def day_end(day: dt.date, tz: str) -> pd.Timestamp:
    """The end of the local calendar day ``day`` in ``tz``, by :func:`crm.asof.as_instant`."""
    return as_instant(day, tz)


def loyalty_day(
    rules: Rules, run_date: dt.date | None = None, as_of: Any | None = None
) -> tuple[dt.date, pd.Timestamp]:
    """The local day a loyalty run books and the instant it runs up to.

    The one place "yesterday" is computed for loyalty, from one time zone: the program's
    (``rules.program.timezone``). ``run_date`` wins; otherwise the day before the one
    holding ``as_of`` (the flow's caller reads the clock when it passes none).
    """
    tz = rules.program.timezone
    day = run_date or previous_local_day(as_of if as_of is not None else _now(), tz)
    return day, day_end(day, tz)


def _now() -> dt.datetime:
    # the flow is a top-level caller: the clock is read here and passed down as as_of
    return dt.datetime.now(dt.UTC)


def read_ledger(
    url: str, customer_id: int | None = None, customer_ids: Any | None = None
) -> pd.DataFrame:
    """The ledger (or one customer's, or some customers' entries) with :data:`LEDGER_COLUMNS`.

    ``customer_ids`` is read in slices of :data:`_IDS_PER_QUERY` through the customer index.
    """
    if customer_ids is not None:
        ids = np.unique(np.asarray(customer_ids, dtype=np.int64))
        parts = [
            _read_ledger(url, ids[i : i + _IDS_PER_QUERY].tolist())
            for i in range(0, len(ids), _IDS_PER_QUERY)
        ]
        parts = [part for part in parts if len(part)]
        return pd.concat(parts, ignore_index=True) if parts else empty_ledger()
    return _read_ledger(url, None if customer_id is None else [int(customer_id)])


_IDS_PER_QUERY = 5000


def _read_ledger(url: str, ids: list[int] | None) -> pd.DataFrame:
    # Optional text columns are read as '' for NULL: the SQLite ADBC driver infers a column's
    # type from the first rows, and a run of NULLs would make it expect integers.
    cols = ", ".join(
        f"COALESCE({c}, '') AS {c}" if c in _OPTIONAL_TEXT else c for c in LEDGER_COLUMNS
    )
    sql = f"SELECT {cols} FROM loyalty_ledger"
    if ids is not None:
        sql += f" WHERE customer_id IN ({', '.join('?' * len(ids))})"
    frame = store.read_frame(url, sql, params=ids)
    if frame.empty:
        return empty_ledger()
    types: dict[str, Any] = {c: "str" for c in LEDGER_COLUMNS if c not in _NON_TEXT}
    types.update({"customer_id": "int64", "points": "int64"})
    frame = frame.astype(types)
    for c in _OPTIONAL_TEXT:
        frame[c] = frame[c].mask(frame[c] == "")
    return frame


_OPTIONAL_TEXT = ("rule", "operator", "source_id", "ref_key")
_NON_TEXT = {"customer_id", "points", "occurred_at", "available_at", "expires_at"}


def read_tier_history(url: str, where: str | None = None) -> pd.DataFrame:
    """The tier history (:data:`loyalty.tiers.TIER_HISTORY_COLUMNS`), or its rows ``where``."""
    frame = store.read_frame(url, "loyalty_tier_history", columns=TIER_HISTORY_COLUMNS, where=where)
    return empty_tier_history() if frame.empty else frame


_ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "ordered_at",
    "amount",
    "status",
    "channel",
    "category",
    "returned_amount",
]


def load_inputs(
    url: str, as_of: dt.datetime, since: dt.datetime | None = None, rules: Rules | None = None
) -> Inputs:
    """Read what the run needs: everything up to ``as_of``, or only what a day needs.

    Without ``since`` (a history backfill, or a caller that wants it all) every order, event
    and ledger entry up to ``as_of`` is read. With ``since`` and the ``rules`` (a day run
    over ``(since, as_of]``) the windows are in SQL, so a night costs the day, not the
    history: orders placed in the tier window (``rules.tiers.window_days``) or in the run's
    window; every returned order (a return of any age reclaims what its points paid for,
    as in a full recomputation; which of them changed is decided by their marks); every order of a referred customer (their first order
    earns the referral); events of the window; and the ledger of only the customers the
    day touches: those with orders or events in the window, the referrals still open (a
    friend whose referral keys are all booked earns nothing more), customers created or
    born in the window, those with a lot that falls due in the window (found through the
    ledger's expiry index), and those with a return that changed since a day last booked
    it (``loyalty_return_marks``, :func:`loyalty.returns_to_book`).
    """
    at = pd.Timestamp(as_of)
    if since is None or rules is None:
        orders = store.read_frame(url, "orders", columns=_ORDER_COLUMNS)
        orders = orders[(orders["ordered_at"] <= at).to_numpy()]
        events = store.read_frame(
            url, "loyalty_events", columns=["event_id", "customer_id", "kind", "occurred_at"]
        )
        return Inputs(
            orders=orders,
            customers=_customers(url),
            referrals=_referrals(url),
            events=events,
            ledger=read_ledger(url),
            tier_history=read_tier_history(url),
        )
    lo = pd.Timestamp(since)
    tier_lo = min(lo, at - pd.Timedelta(days=rules.tiers.window_days))
    p = [store.instant_param(url, v) for v in (tier_lo, at, at)]
    orders = store.read_frame(
        url,
        "orders",
        columns=_ORDER_COLUMNS,
        where="(ordered_at > ? AND ordered_at <= ?) OR ((status = 'returned' OR "
        "returned_amount > 0) AND ordered_at <= ?) OR customer_id IN "
        "(SELECT customer_id FROM relations WHERE kind = 'referred_by')",
        params=p,
    )
    orders = orders[(orders["ordered_at"] <= at).to_numpy()]
    window = [store.instant_param(url, v) for v in (lo, at)]
    events = store.read_frame(
        url,
        "loyalty_events",
        columns=["event_id", "customer_id", "kind", "occurred_at"],
        where="occurred_at > ? AND occurred_at <= ?",
        params=window,
    )
    customers = _customers(url)
    referrals = _open_referrals(url, _referrals(url), rules)
    marks = store.read_frame(url, "loyalty_return_marks", columns=["order_id", "share_bp"])
    born = _born_in(customers, lo, at, rules.program.timezone)
    created = customers["created_at"].between(lo, at, inclusive="right").to_numpy()
    due = store.read_frame(
        url,
        "SELECT DISTINCT customer_id FROM loyalty_ledger "
        "WHERE points > 0 AND expires_at > ? AND expires_at <= ?",
        params=window,
    )
    # not the tier window: the run's orders and the returns that changed
    changed = returns_to_book(returned_orders(orders), marks)["order_id"]
    booked = (orders["ordered_at"] > lo) | orders["order_id"].isin(changed)
    touched = pd.concat(
        [
            orders.loc[booked.to_numpy(), "customer_id"],
            events["customer_id"],
            referrals["customer_id"],
            referrals["referrer_id"],
            customers.loc[born | created, "customer_id"],
            due["customer_id"],
        ],
        ignore_index=True,
    )
    touched = touched.drop_duplicates()
    # a tier on points needs every customer's entries; and when the window touches most
    # customers (a first night's backfill), one read of the whole ledger is the cheaper one
    whole = rules.tiers.basis == "points" or 2 * len(touched) > len(customers)
    ledger = read_ledger(url) if whole else read_ledger(url, customer_ids=touched)
    return Inputs(
        orders=orders,
        customers=customers,
        referrals=referrals,
        events=events,
        ledger=ledger,
        tier_history=read_tier_history(url),
        whole_ledger=whole,
        return_marks=marks,
    )


def _customers(url: str) -> pd.DataFrame:
    return store.read_frame(
        url,
        "customers",
        columns=["customer_id", "created_at", "birth_date", "is_loyalty_member", "status"],
    )


def _referrals(url: str) -> pd.DataFrame:
    return store.read_frame(
        url,
        "relations",
        columns=["customer_id", "related_customer_id"],
        where="kind = 'referred_by'",
    ).rename(columns={"related_customer_id": "referrer_id"})


def _open_referrals(url: str, referrals: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """The referrals whose friend has a referral key not yet in the ledger."""
    keys = referral_keys(referrals, rules)
    if keys.empty:
        return referrals
    held = _existing_keys(url, keys["key"].tolist())
    done = keys.assign(held=keys["key"].isin(held)).groupby("customer_id")["held"].all()
    return referrals[~referrals["customer_id"].isin(done.index[done.to_numpy()])]


def _existing_keys(url: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the ledger holds (through its unique key index, in slices)."""
    held: set[str] = set()
    for i in range(0, len(keys), _IDS_PER_QUERY):
        part = keys[i : i + _IDS_PER_QUERY]
        found = store.read_frame(
            url,
            "SELECT idempotency_key FROM loyalty_ledger WHERE idempotency_key IN "
            f"({', '.join('?' * len(part))})",
            params=part,
        )
        if len(found):
            held.update(found["idempotency_key"].astype("str").tolist())
    return held


def _born_in(customers: pd.DataFrame, lo: pd.Timestamp, at: pd.Timestamp, tz: str) -> np.ndarray:
    """Customers whose birthday (month and day) falls on a local day of ``[lo, at]``."""
    birth = pd.to_datetime(customers["birth_date"], errors="coerce")
    first = lo.tz_convert(tz).normalize()
    days = pd.date_range(first, at.tz_convert(tz).normalize(), freq="D")
    wanted = np.unique(days.month * 100 + days.day)
    code = (birth.dt.month * 100 + birth.dt.day).to_numpy(dtype="float64", na_value=np.nan)
    return np.isin(code, wanted)


def returned_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """The orders returned in whole or in part, with the share returned so far.

    ``status == 'returned'`` is a whole return (share 1); a ``paid`` order with a
    ``returned_amount`` above 0 is returned in part: ``returned_amount / amount``, at most 1.

    Returns
    -------
    pandas.DataFrame
        ``order_id, returned_share`` (what :func:`loyalty.reversal_entries` takes).
    """
    whole = (orders["status"] == "returned").to_numpy(dtype=bool, na_value=False)
    share = np.where(whole, 1.0, 0.0)
    if "returned_amount" in orders:
        back = orders["returned_amount"].to_numpy(dtype=np.float64, na_value=np.nan)
        amount = orders["amount"].to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where((back > 0) & (amount > 0), np.minimum(back / amount, 1.0), 0.0)
        paid = (orders["status"] == "paid").to_numpy(dtype=bool, na_value=False)
        share = np.where(whole, 1.0, np.where(paid, part, 0.0))
    hit = share > 0
    return pd.DataFrame(
        {
            "order_id": orders["order_id"].to_numpy(dtype=np.int64)[hit],
            "returned_share": share[hit],
        }
    )


def plan_day(inputs: Inputs, rules: Rules, as_of: dt.datetime, lookback_days: int = 3) -> DayPlan:
    """Compute the day's new entries and tier changes (no database, no clock).

    Steps, each appended to the working ledger so the next sees it: purchase points for
    paid orders in ``(as_of - lookback_days, as_of]`` with the tier of their day; welcome,
    birthday, activity and referral bonuses; reversal of returned orders; FIFO expiry; tiers.
    """
    at = pd.Timestamp(as_of).tz_convert("UTC")
    since = at - pd.Timedelta(days=lookback_days)
    read = len(inputs.ledger)
    steps: dict[str, int] = {}
    # the working ledger: what was read, then each step's entries, grown when a step needs it;
    # a backfill's nineteen million entries are concatenated into it, never copied per step
    ledger = inputs.ledger
    pending: list[pd.DataFrame] = []

    def add(name: str, entries: pd.DataFrame) -> None:
        # each step writes its own key prefix: checking against the ledger read is enough
        fresh = new_entries(inputs.ledger, entries)
        if len(fresh):
            pending.append(fresh[LEDGER_COLUMNS])
        steps[name] = len(fresh)

    def working() -> pd.DataFrame:  # the ledger read, with every step so far
        nonlocal ledger
        if pending:
            ledger = pd.concat([ledger, *pending], ignore_index=True)
            pending.clear()
        return ledger

    def planned() -> pd.DataFrame:  # the steps' entries so far, in step order
        return working().iloc[read:]

    o = inputs.orders
    recent = o[((o["ordered_at"] > since) & (o["ordered_at"] <= at)).to_numpy()].copy()
    recent["tier"] = tier_at(recent, inputs.tier_history, rules)
    add("purchase", purchase_entries(recent, rules))
    del recent
    add("welcome", welcome_entries(inputs.customers, rules, since, at))
    add("birthday", birthday_entries(inputs.customers, rules, since, at))
    ev = inputs.events
    add("activity", activity_entries(ev[(ev["occurred_at"] <= at).to_numpy()], rules))
    # a first order inside the run's window earns its referral points at its own date
    add("referral", referral_entries(inputs.referrals, o, rules, at, since=since))
    returned = returned_orders(o)
    if inputs.return_marks is not None:  # only the returns that changed, or got a grant today
        p = planned()
        new = p.loc[((p["kind"] == "earn") & (p["source_kind"] == "order")).to_numpy(), "source_id"]
        returned = returns_to_book(
            returned, inputs.return_marks, new.astype("int64") if len(new) else None
        )
    add(
        "return",
        reversal_entries(working(), returned, at, validity_days=rules.program.validity_days),
    )
    add("expiry", expiry_entries(working(), at))
    # with a points basis a tier counts the expiries just booked
    basis = tier_basis(rules, at, orders=o, ledger=working())
    changes = tier_changes(inputs.tier_history, basis, rules, at)
    steps["tier_changes"] = len(changes)
    done = planned()
    entries = done.reset_index(drop=True) if len(done) else empty_ledger()
    return DayPlan(entries, changes, steps, return_marks(returned, at), ledger=working())


def ledger_after(inputs: Inputs, plan: DayPlan) -> pd.DataFrame:
    """The ledger once ``plan`` is written: the entries read plus the plan's new ones.

    The liability is published from this frame rather than read back: a history backfill
    would otherwise read ten million entries it has just written.
    """
    if plan.ledger is not None:
        return plan.ledger
    if plan.entries.empty:
        return inputs.ledger
    if inputs.ledger.empty:
        return plan.entries[LEDGER_COLUMNS]
    return pd.concat([inputs.ledger, plan.entries[LEDGER_COLUMNS]], ignore_index=True)


def write_plan(url: str, plan: DayPlan, created_at: dt.datetime) -> dict[str, int]:
    """Write the plan: entries and tier changes insert-only on their keys (a rerun adds nothing).

    A plan holds only entries whose keys were not in the ledger it was planned on; the
    returns it booked are marked with their shares last (``loyalty_return_marks``). A day's
    plan is written with ``INSERT … ON CONFLICT DO NOTHING`` on the idempotency key, so
    writing it twice adds nothing. A history backfill (at least ``store.BULK_ROWS`` entries)
    is appended in bulk instead, checked by the same unique index: if another run wrote
    some of its keys meanwhile, the write fails whole and the rerun adds the rest.
    """
    # a new frame on the plan's columns (copy on write): not a copy of ten million entries
    entries = plan.entries[LEDGER_COLUMNS].assign(
        created_at=pd.Timestamp(created_at).tz_convert("UTC")
    )
    tiers = plan.tier_changes
    if len(entries) >= store.BULK_ROWS:
        ledger = store.write_frame(url, entries, "loyalty_ledger", mode="append")
    else:
        ledger = store.write_frame(
            url, entries, "loyalty_ledger", mode="upsert", key=["idempotency_key"], update=[]
        )
    changes = _write_tiers_and_marks(url, tiers, plan.return_marks)
    return {"entries_written": ledger.inserted, "tier_changes_written": changes}


def _write_tiers_and_marks(url: str, tiers: pd.DataFrame, marks: pd.DataFrame) -> int:
    """Write tier changes (insert-only) and then the return marks; returns tiers written."""
    changes = store.write_frame(
        url,
        tiers[TIER_HISTORY_COLUMNS],
        "loyalty_tier_history",
        mode="upsert",
        key=["customer_id", "effective_at"],
        update=[],
    )
    # after the entries: a crash in between leaves a return unmarked, and the next day
    # books it again, which adds nothing (its keys are written)
    if len(marks):
        store.write_frame(url, marks, "loyalty_return_marks", mode="upsert", key=["order_id"])
    return changes.inserted


#: A run that books more orders than this is planned, written and priced in customer parts
#: (:func:`booking_parts`): a history backfill of ten million orders in ten parts, so memory
#: holds a tenth of its nineteen million entries and their lots at a time (measured on a
#: generated 1M base, ``bench/results/loyalty_backfill.md``: 3.3 GB at the step's peak in ten
#: parts, 3.9 GB in five, 7 GB in one; the same time in each)
ORDERS_PER_PART = 1_000_000


def booking_parts(inputs: Inputs, as_of: dt.datetime, lookback_days: int) -> int:
    """How many customer parts a run books in: one per :data:`ORDERS_PER_PART` booked orders.

    The booked orders are those placed in the run's window, ``(as_of - lookback_days,
    as_of]``; a day run books a few thousand and is one part.
    """
    return max(1, math.ceil(_booked(inputs, as_of, lookback_days) / ORDERS_PER_PART))


def split_inputs(inputs: Inputs, parts: int) -> Iterator[Inputs]:
    """``inputs`` split into ``parts`` by customer, each part a run of its own.

    Every rule of :func:`plan_day` books one customer's entries from that customer's
    orders, events, ledger and tiers, except the referral: the friend's first order earns
    both sides, and its return reverses both. So customers joined through referrals (the
    connected components of friend-referrer pairs) stay in one part; components are dealt
    round to the parts. Planning each part and concatenating the plans gives the plan of
    the whole (``tests/flows/test_loyalty_flow.py`` checks it entry by entry). Each part is
    made when it is asked for, so one part's frames are held at a time.
    """
    ids = np.unique(
        np.concatenate(
            [
                inputs.customers["customer_id"].to_numpy(dtype=np.int64),
                inputs.referrals["customer_id"].to_numpy(dtype=np.int64),
                inputs.referrals["referrer_id"].to_numpy(dtype=np.int64),
            ]
        )
    )
    friend = np.searchsorted(ids, inputs.referrals["customer_id"].to_numpy(dtype=np.int64))
    referrer = np.searchsorted(ids, inputs.referrals["referrer_id"].to_numpy(dtype=np.int64))
    part_of = components(len(ids), friend, referrer) % parts

    def part(frame: pd.DataFrame) -> np.ndarray:  # the part of each row's customer
        customer = frame["customer_id"].to_numpy(dtype=np.int64)
        at = np.minimum(np.searchsorted(ids, customer), len(ids) - 1)
        # a customer id no frame above knows (none in a consistent base) is dealt by its id
        return np.where(ids[at] == customer, part_of[at], customer % parts)

    frames = {
        "orders": inputs.orders,
        "customers": inputs.customers,
        "referrals": inputs.referrals,
        "events": inputs.events,
        "ledger": inputs.ledger,
        "tier_history": inputs.tier_history,
    }
    labels = {name: part(frame) for name, frame in frames.items()}
    marks = inputs.return_marks
    if marks is not None:  # a mark is its order's: in that order's part (unread: the first)
        at_mark = pd.Index(marks["order_id"]).get_indexer(inputs.orders["order_id"])
        hit = at_mark >= 0
        mark_part = np.zeros(len(marks), dtype=np.int64)
        mark_part[at_mark[hit]] = labels["orders"][hit]
    for k in range(parts):
        taken = {
            name: frame[labels[name] == k].reset_index(drop=True) for name, frame in frames.items()
        }
        yield Inputs(
            **taken,
            whole_ledger=inputs.whole_ledger,
            return_marks=None if marks is None else marks[mark_part == k].reset_index(drop=True),
        )


@dataclass
class Booking:
    """What :func:`book` did: the plan's counts, what was written, and the liability after."""

    steps: dict[str, int]
    written: dict[str, int]
    #: :func:`loyalty.balances` of every customer the run read, once the run is written
    liability: pd.DataFrame
    #: points of the new entries that grant (earn, bonuses)
    points_granted: int
    parts: int = 1
    #: wall seconds spent planning, writing and computing the liability, summed over parts
    seconds: dict[str, float] = field(default_factory=dict)


def book(
    url: str,
    inputs: Inputs,
    rules: Rules,
    as_of: dt.datetime,
    lookback_days: int = 3,
    created_at: dt.datetime | None = None,
    parts: int | None = None,
) -> Booking:
    """Plan, write and price a run: the one way a loyalty day or a history backfill is booked.

    A run of one part (every day run) is :func:`plan_day`, :func:`write_plan` and
    :func:`liability`. A run that books more than :data:`ORDERS_PER_PART` orders (``parts``
    by default from :func:`booking_parts`) is booked customer part by customer part
    (:func:`split_inputs`): each part is planned and priced, and its entries are ingested
    into one bulk append (:func:`crm.store.append_parts`) before the next part is planned.
    The ledger is written in one transaction either way, so a crash writes nothing and the
    rerun books it all; tier changes and return marks follow, as in :func:`write_plan`.
    """
    created = pd.Timestamp(created_at or _now()).tz_convert("UTC")
    n = parts or booking_parts(inputs, as_of, lookback_days)
    seconds: dict[str, float] = {"plan": 0.0, "write": 0.0, "liability": 0.0}
    if n == 1:
        t = time.perf_counter()
        plan = plan_day(inputs, rules, as_of, lookback_days)
        seconds["plan"] += time.perf_counter() - t
        t = time.perf_counter()
        written = write_plan(url, plan, created)
        seconds["write"] += time.perf_counter() - t
        t = time.perf_counter()
        bal = liability(inputs, plan, rules, as_of)
        seconds["liability"] += time.perf_counter() - t
        return Booking(plan.steps, written, bal, _granted(plan.entries), 1, dict(seconds))

    steps: Counter[str] = Counter()
    tiers: list[pd.DataFrame] = []
    marks: list[pd.DataFrame] = []
    priced: list[pd.DataFrame] = []
    granted = 0

    def entries() -> Iterator[pd.DataFrame]:
        nonlocal granted
        for part in split_inputs(inputs, n):
            release_memory()  # what the part before freed, so the parts' peaks do not add up
            t = time.perf_counter()
            plan = plan_day(part, rules, as_of, lookback_days)
            seconds["plan"] += time.perf_counter() - t
            t = time.perf_counter()
            priced.append(liability(part, plan, rules, as_of))
            seconds["liability"] += time.perf_counter() - t
            steps.update(plan.steps)
            tiers.append(plan.tier_changes)
            marks.append(plan.return_marks)
            granted += _granted(plan.entries)
            new = plan.entries[LEDGER_COLUMNS].assign(created_at=created)
            del plan, part  # the part's working ledger and lots go before the next is made
            yield new
            del new

    t = time.perf_counter()
    # the bulk path's "fewer rows than appended" test, on the orders booked: each earns
    ledger = store.append_parts(
        url, entries(), "loyalty_ledger", rows=_booked(inputs, as_of, lookback_days)
    )
    changes = _write_tiers_and_marks(
        url, pd.concat(tiers, ignore_index=True), pd.concat(marks, ignore_index=True)
    )
    seconds["write"] = time.perf_counter() - t - seconds["plan"] - seconds["liability"]
    written = {"entries_written": ledger.inserted, "tier_changes_written": changes}
    bal = pd.concat(priced).sort_index()
    return Booking(dict(steps), written, bal, granted, n, dict(seconds))


def _booked(inputs: Inputs, as_of: dt.datetime, lookback_days: int) -> int:
    """The orders placed in the run's window, ``(as_of - lookback_days, as_of]``."""
    at = pd.Timestamp(as_of).tz_convert("UTC")
    placed = inputs.orders["ordered_at"]
    return int(((placed > at - pd.Timedelta(days=lookback_days)) & (placed <= at)).sum())


def _granted(entries: pd.DataFrame) -> int:
    points = entries["points"]
    return int(points[points > 0].sum())


def run_daily(url: str, rules: Rules, as_of: dt.datetime, lookback_days: int = 3) -> dict[str, int]:
    """Load, plan and write one day without Prefect (the CLI's ``crm loyalty run``)."""
    since = pd.Timestamp(as_of) - pd.Timedelta(days=lookback_days)
    done = book(url, load_inputs(url, as_of, since, rules), rules, as_of, lookback_days)
    return {**done.steps, **done.written}


@task(name="load loyalty inputs", cache_policy=NO_CACHE)
def _load(url: str, as_of: dt.datetime, rules: Rules, lookback_days: int) -> Inputs:
    since = pd.Timestamp(as_of) - pd.Timedelta(days=lookback_days)
    return load_inputs(url, as_of, since, rules)


@task(name="book the day: plan, write, liability", cache_policy=NO_CACHE)
def _book(
    url: str, inputs: Inputs, rules: Rules, as_of: dt.datetime, lookback_days: int
) -> Booking:
    return book(url, inputs, rules, as_of, lookback_days)


def liability(inputs: Inputs, plan: DayPlan, rules: Rules, as_of: dt.datetime) -> pd.DataFrame:
    """Each customer's :func:`loyalty.balances` once ``plan`` is written (:func:`ledger_after`).

    From the ledger as written (what was read plus the plan: a write only adds the plan's
    keys), so it needs no database: the written ledger is not read back.
    """
    return balances(ledger_after(inputs, plan), as_of, point_value=rules.program.point_value)


@task(name="publish liability", cache_policy=NO_CACHE)
def _publish(
    url: str,
    inputs: Inputs,
    bal: pd.DataFrame,
    rules: Rules,
    as_of: dt.datetime,
    counts: dict[str, int],
) -> None:
    totals = bal[["balance", "pending", "available", "expiring", "liability"]].sum()
    scope = "Members with points"
    if not inputs.whole_ledger:  # a day run read only the customers it booked
        whole = store.read_frame(
            url,
            "SELECT COUNT(DISTINCT customer_id) AS members, COALESCE(SUM(points), 0) AS points "
            "FROM loyalty_ledger",
        ).iloc[0]
        scope = (
            f"Whole ledger: {int(whole['members']):,} members, {int(whole['points']):,} points "
            f"outstanding, liability {int(whole['points']) * rules.program.point_value:,.2f} "
            f"{rules.program.currency}. Customers booked in this run"
        )
    lines = [
        f"# Loyalty daily run, as of {as_of:%Y-%m-%d %H:%M} UTC",
        "",
        "| step | new entries |",
        "|---|---:|",
        *(f"| {k} | {v:,} |" for k, v in counts.items()),
        "",
        f"{scope}: {len(bal):,}. Points outstanding: {int(totals['balance']):,} "
        f"(pending {int(totals['pending']):,}, expiring in 30 days {int(totals['expiring']):,}); "
        f"liability {totals['liability']:,.2f} {rules.program.currency}.",
    ]
    create_markdown_artifact(markdown="\n".join(lines), key="loyalty-daily-run")
    top = bal.sort_values("liability", ascending=False).head(20).reset_index()
    create_table_artifact(
        key="loyalty-top-liability",
        table=[{str(k): v for k, v in r.items()} for r in top.to_dict("records")],
        description="Customers with the largest points liability",
    )


@flow(name="loyalty-daily")
def loyalty_daily_flow(
    run_date: dt.date | None = None,
    rules_path: str = DEFAULT_RULES,
    lookback_days: int = 3,
    url: str | None = None,
    as_of: dt.datetime | None = None,
) -> dict[str, int]:
    """Earn, grant bonuses, reverse returns, expire and re-tier for the local day ``run_date``.

    ``run_date`` defaults to the day before ``as_of`` (default now) in the program's time
    zone (:func:`loyalty_day`); the run covers everything up to the end of that day.
    ``crm loyalty run`` and the nightly job both run this flow. Rerunning a day adds nothing.
    """
    logger = get_run_logger()
    rules = load_rules(rules_path)
    day, end = loyalty_day(rules, run_date, as_of)
    url = url or get_settings().resolved_database_url
    inputs = _load(url, end, rules, lookback_days)
    done = _book(url, inputs, rules, end, lookback_days)
    counts = {**done.steps, **done.written}
    logger.info(
        "loyalty run for %s in %d part(s): %s; seconds %s",
        day,
        done.parts,
        counts,
        {k: round(v, 1) for k, v in done.seconds.items()},
    )
    _publish(url, inputs, done.liability, rules, end, counts)
    return {**counts, "points_granted": done.points_granted}
